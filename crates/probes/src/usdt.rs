//! USDT probes: the `.note.stapsdt` notes `sys/sdt.h` leaves in a binary,
//! and their argument specs (`-4@%esi`, `8@16(%rbp)`, `-8@sym(%rip)`).

use object::{Object, ObjectSection, ObjectSymbol};

use crate::user::Binary;

/// One USDT probe site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtProbe {
    pub provider: String,
    pub name: String,
    /// The probe's virtual address (what `regs->ip` is there, less the
    /// load bias).
    pub address: u64,
    /// Where the uprobe goes in the file.
    pub offset: u64,
    /// The file offset of the semaphore the kernel increments while the
    /// probe is attached, if the probe has one.
    pub semaphore: Option<u64>,
    pub args: Vec<UsdtArg>,
}

/// One argument: how many bytes, signed or not, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    pub size: u8,
    pub signed: bool,
    pub location: UsdtLocation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsdtLocation {
    /// A register, by its offset in `struct pt_regs`.
    Register(i16),
    Constant(i64),
    /// Memory at a register plus a displacement.
    Memory {
        base: i16,
        displacement: i64,
    },
    /// A global: `ip + delta` at the probe.
    IpRelative {
        delta: i64,
    },
    /// An operand form this version does not read; the spec as written.
    Unsupported(String),
}

/// The stapsdt notes of a binary.
pub fn probes(binary: &Binary) -> Vec<UsdtProbe> {
    let Ok(file) = object::File::parse(binary.data()) else { return Vec::new() };
    let Some(notes) = file.section_by_name(".note.stapsdt").and_then(|s| s.data().ok()) else { return Vec::new() };
    let base_now = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let symbols: Vec<(String, u64)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
        .collect();
    let mut out = Vec::new();
    let mut at = 0usize;
    let u32_at = |b: &[u8], i: usize| b.get(i..i + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    while let (Some(namesz), Some(descsz), Some(kind)) =
        (u32_at(notes, at), u32_at(notes, at + 4), u32_at(notes, at + 8))
    {
        let name_start = at + 12;
        let desc_start = name_start + (namesz as usize).next_multiple_of(4);
        let next = desc_start + (descsz as usize).next_multiple_of(4);
        let owner = notes.get(name_start..name_start + namesz as usize).unwrap_or(&[]);
        if kind == 3
            && owner.starts_with(b"stapsdt")
            && let Some(desc) = notes.get(desc_start..desc_start + descsz as usize)
            && let Some(p) = parse_note(desc, base_now, &symbols, binary)
        {
            out.push(p);
        }
        if next <= at {
            break;
        }
        at = next;
    }
    out
}

/// A note's description: pc, base and semaphore addresses, then the
/// provider, name and argument strings.
fn parse_note(desc: &[u8], base_now: Option<u64>, symbols: &[(String, u64)], binary: &Binary) -> Option<UsdtProbe> {
    let word = |i: usize| desc.get(i * 8..i * 8 + 8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
    let (pc, base, semaphore) = (word(0)?, word(1)?, word(2)?);
    let mut strings = desc.get(24..)?.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned());
    let (provider, name, args) = (strings.next()?, strings.next()?, strings.next().unwrap_or_default());
    // Prelinking moves the sections; the base section's move says by how much.
    let bias = base_now.map_or(0, |now| now.wrapping_sub(base));
    let address = pc.wrapping_add(bias);
    let offset = binary.offset_of(address)?;
    let semaphore = (semaphore != 0).then(|| binary.offset_of(semaphore.wrapping_add(bias))).flatten();
    let args = args.split_whitespace().map(|a| parse_arg(a, address, symbols)).collect();
    Some(UsdtProbe { provider, name, address, offset, semaphore, args })
}

/// `SIZE@OPERAND` in GNU assembler syntax.
fn parse_arg(spec: &str, address: u64, symbols: &[(String, u64)]) -> UsdtArg {
    let (size, operand) = spec.split_once('@').unwrap_or(("8", spec));
    let size_n: i32 = size.parse().unwrap_or(8);
    let unsupported = || UsdtLocation::Unsupported(spec.to_string());
    let location = if let Some(reg) = operand.strip_prefix('%') {
        register_offset(reg).map_or_else(unsupported, UsdtLocation::Register)
    } else if let Some(imm) = operand.strip_prefix('$') {
        parse_int(imm).map_or_else(unsupported, UsdtLocation::Constant)
    } else if let Some((disp, rest)) = operand.split_once('(') {
        let reg = rest.trim_end_matches(')');
        match reg.strip_prefix('%') {
            Some("rip") => {
                // `symbol+off(%rip)`: the symbol's address.
                let (sym, extra) = disp.split_once('+').map_or((disp, 0), |(s, o)| (s, parse_int(o).unwrap_or(0)));
                match symbols.iter().find(|(n, _)| n == sym) {
                    Some((_, a)) => {
                        UsdtLocation::IpRelative { delta: (*a as i64).wrapping_add(extra).wrapping_sub(address as i64) }
                    }
                    None => unsupported(),
                }
            }
            Some(r) if !r.contains(',') => {
                match (register_offset(r), if disp.is_empty() { Some(0) } else { parse_int(disp) }) {
                    (Some(base), Some(displacement)) => UsdtLocation::Memory { base, displacement },
                    _ => unsupported(),
                }
            }
            _ => unsupported(),
        }
    } else {
        unsupported()
    };
    UsdtArg { size: size_n.unsigned_abs().clamp(1, 8) as u8, signed: size_n < 0, location }
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
    let v = match digits.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Any x86-64 register name, at any width, to its `pt_regs` slot.
fn register_offset(name: &str) -> Option<i16> {
    let full = match name {
        "rax" | "eax" | "ax" | "al" | "ah" => "ax",
        "rbx" | "ebx" | "bx" | "bl" | "bh" => "bx",
        "rcx" | "ecx" | "cx" | "cl" | "ch" => "cx",
        "rdx" | "edx" | "dx" | "dl" | "dh" => "dx",
        "rsi" | "esi" | "si" | "sil" => "si",
        "rdi" | "edi" | "di" | "dil" => "di",
        "rbp" | "ebp" | "bp" | "bpl" => "bp",
        "rsp" | "esp" | "sp" | "spl" => "sp",
        "rip" => "ip",
        r if r.starts_with('r') => {
            let digits = r[1..].trim_end_matches(['d', 'w', 'b']);
            return bpfscope_lang::builtins::pt_regs_offset(&format!("r{digits}"));
        }
        _ => return None,
    };
    bpfscope_lang::builtins::pt_regs_offset(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_specs() {
        let syms = vec![("counter".to_string(), 0x4000)];
        let arg = |s| parse_arg(s, 0x1000, &syms);
        assert_eq!(arg("-4@%esi"), UsdtArg { size: 4, signed: true, location: UsdtLocation::Register(104) });
        assert_eq!(arg("8@%rax").location, UsdtLocation::Register(80));
        assert_eq!(arg("4@%r12d").location, UsdtLocation::Register(24));
        assert_eq!(arg("-4@$-5").location, UsdtLocation::Constant(-5));
        assert_eq!(arg("-8@(%rdi)").location, UsdtLocation::Memory { base: 112, displacement: 0 });
        assert_eq!(arg("-4@-12(%rbp)").location, UsdtLocation::Memory { base: 32, displacement: -12 });
        assert_eq!(arg("-8@counter(%rip)").location, UsdtLocation::IpRelative { delta: 0x3000 });
        assert!(matches!(arg("8@8(%rax,%rbx,8)").location, UsdtLocation::Unsupported(_)));
    }
}
