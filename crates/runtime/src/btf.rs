//! The minimal BTF the kernel asks of programs that use callbacks: a FUNC
//! for every function (static for callbacks, global for programs) and, in
//! `.BTF.ext`, the `func_info` saying where each function starts.

const MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const INT_SIGNED: u32 = 1 << 24;

/// A function in some ELF section, starting at `offset` bytes.
pub struct Function<'a> {
    pub name: &'a str,
    pub section: &'a str,
    pub offset: u64,
    pub global: bool,
}

/// The `.BTF` and `.BTF.ext` section contents for these functions.
pub fn encode(functions: &[Function<'_>]) -> (Vec<u8>, Vec<u8>) {
    let mut strings = Strings::default();
    let int_name = strings.add("int");
    let names: Vec<u32> = functions.iter().map(|f| strings.add(f.name)).collect();
    // Sections in order of first appearance, with their names' offsets.
    let mut sections: Vec<(&str, u32)> = Vec::new();
    for f in functions {
        if !sections.iter().any(|(s, _)| *s == f.section) {
            sections.push((f.section, strings.add(f.section)));
        }
    }

    let mut types = Vec::new();
    // [1] int
    push_type(&mut types, int_name, KIND_INT << 24, 4);
    types.extend_from_slice(&(INT_SIGNED | 32).to_le_bytes());
    // [2] int (void)
    push_type(&mut types, 0, KIND_FUNC_PROTO << 24, 1);
    // [3..] a FUNC per function: linkage 1 is global, 0 static.
    const FIRST_FUNC: u32 = 3;
    for (f, name) in functions.iter().zip(&names) {
        push_type(&mut types, *name, (KIND_FUNC << 24) | u32::from(f.global), 2);
    }
    let btf = header_and_body(&types, &strings.bytes);

    let mut info = Vec::new();
    info.extend_from_slice(&8u32.to_le_bytes());
    for (sec, sec_name) in &sections {
        let records: Vec<(u64, u32)> = functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.section == *sec)
            .map(|(i, f)| (f.offset, FIRST_FUNC + i as u32))
            .collect();
        info.extend_from_slice(&sec_name.to_le_bytes());
        info.extend_from_slice(&(records.len() as u32).to_le_bytes());
        for (off, type_id) in records {
            info.extend_from_slice(&(off as u32).to_le_bytes());
            info.extend_from_slice(&type_id.to_le_bytes());
        }
    }
    let mut ext = Vec::new();
    ext.extend_from_slice(&MAGIC.to_le_bytes());
    ext.push(1);
    ext.push(0);
    ext.extend_from_slice(&24u32.to_le_bytes()); // header length
    ext.extend_from_slice(&0u32.to_le_bytes()); // func_info offset
    ext.extend_from_slice(&(info.len() as u32).to_le_bytes());
    ext.extend_from_slice(&(info.len() as u32).to_le_bytes()); // line_info offset
    ext.extend_from_slice(&0u32.to_le_bytes()); // line_info length
    ext.extend_from_slice(&info);
    (btf, ext)
}

fn header_and_body(types: &[u8], strings: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.push(1);
    out.push(0);
    out.extend_from_slice(&24u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(types.len() as u32).to_le_bytes());
    out.extend_from_slice(&(types.len() as u32).to_le_bytes());
    out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    out.extend_from_slice(types);
    out.extend_from_slice(strings);
    out
}

fn push_type(out: &mut Vec<u8>, name_off: u32, info: u32, size_or_type: u32) {
    out.extend_from_slice(&name_off.to_le_bytes());
    out.extend_from_slice(&info.to_le_bytes());
    out.extend_from_slice(&size_or_type.to_le_bytes());
}

/// The string section: offset 0 is the empty string.
struct Strings {
    bytes: Vec<u8>,
}

impl Default for Strings {
    fn default() -> Strings {
        Strings { bytes: vec![0] }
    }
}

impl Strings {
    fn add(&mut self, s: &str) -> u32 {
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_what_the_kernel_reads() {
        let (btf, ext) = encode(&[
            Function { name: "BEGIN_0", section: "raw_tp", offset: 0, global: true },
            Function { name: "cb_0", section: ".text", offset: 0, global: false },
        ]);
        assert_eq!(&btf[..4], &[0x9f, 0xeb, 1, 0]);
        // int, proto, two funcs: 16 + 12 + 12 + 12 bytes of types.
        assert_eq!(u32::from_le_bytes([btf[12], btf[13], btf[14], btf[15]]), 52);
        assert_eq!(&ext[..4], &[0x9f, 0xeb, 1, 0]);
        // rec_size + two sections of one record each.
        assert_eq!(u32::from_le_bytes([ext[12], ext[13], ext[14], ext[15]]), 4 + 2 * (8 + 8));
        let strings = &btf[24 + 52..];
        assert!(strings.windows(7).any(|w| w == b"raw_tp\0"));
    }
}
