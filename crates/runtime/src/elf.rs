//! The in-memory ELF object libbpf loads: a `license` section, one section
//! per program, each with a global function symbol, and callbacks as static
//! functions in `.text`. An instruction that takes a callback's address
//! carries the callback's byte offset in `.text` and an `R_BPF_64_64`
//! relocation against the `.text` section symbol, the way clang emits calls
//! to static functions; libbpf then appends the callbacks to each program.

use bpfscope_compiler::SubprogId;

use crate::btf;
use bpfscope_compiler::insn::Insn;
use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope, elf,
};

/// A program or callback ready for the object.
pub struct ElfProgram<'a> {
    pub name: &'a str,
    pub section: &'a str,
    pub insns: &'a [Insn],
    /// (instruction index, callback) for each callback address load.
    pub func_refs: &'a [(usize, SubprogId)],
}

pub fn build(programs: &[ElfProgram<'_>], subprogs: &[ElfProgram<'_>]) -> Result<Vec<u8>, object::write::Error> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    obj.append_section_data(license, b"GPL\0", 1);

    // Callbacks' offsets in .text, known before any code is written.
    let mut offsets = Vec::new();
    let mut at = 0u64;
    for s in subprogs {
        offsets.push(at);
        at += s.insns.len() as u64 * 8;
    }
    let text = (!subprogs.is_empty()).then(|| obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text));
    let text_symbol = text.map(|t| obj.section_symbol(t));
    let mut functions = Vec::new();
    if let Some(text) = text {
        for s in subprogs {
            let bytes = encode(s.insns, s.func_refs, &offsets);
            let offset = obj.append_section_data(text, &bytes, 8);
            add_function(&mut obj, text, s.name, offset, bytes.len(), SymbolScope::Compilation);
            link(&mut obj, text, offset, s.func_refs, text_symbol)?;
            functions.push(btf::Function { name: s.name, section: ".text", offset, global: false });
        }
    }
    // Programs of one type share a section, as clang lays them out: libbpf
    // finds a program's func_info by section name and offset.
    let mut sections: Vec<(&str, SectionId)> = Vec::new();
    for p in programs {
        let section = match sections.iter().find(|(name, _)| *name == p.section) {
            Some((_, id)) => *id,
            None => {
                let id = obj.add_section(Vec::new(), p.section.as_bytes().to_vec(), SectionKind::Text);
                sections.push((p.section, id));
                id
            }
        };
        let bytes = encode(p.insns, p.func_refs, &offsets);
        let offset = obj.append_section_data(section, &bytes, 8);
        add_function(&mut obj, section, p.name, offset, bytes.len(), SymbolScope::Dynamic);
        link(&mut obj, section, offset, p.func_refs, text_symbol)?;
        functions.push(btf::Function { name: p.name, section: p.section, offset, global: true });
    }
    let (btf, ext) = btf::encode(&functions);
    let btf_section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Metadata);
    obj.append_section_data(btf_section, &btf, 4);
    let ext_section = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Metadata);
    obj.append_section_data(ext_section, &ext, 4);
    obj.write()
}

/// The instructions' bytes, with each callback address load holding the
/// callback's offset in `.text`.
fn encode(insns: &[Insn], refs: &[(usize, SubprogId)], offsets: &[u64]) -> Vec<u8> {
    let mut insns = insns.to_vec();
    for (at, f) in refs {
        if let (Some(i), Some(off)) = (insns.get_mut(*at), offsets.get(f.0)) {
            i.imm = *off as i32;
        }
    }
    insns.iter().flat_map(Insn::encode).collect()
}

fn add_function(obj: &mut Object<'_>, section: SectionId, name: &str, value: u64, size: usize, scope: SymbolScope) {
    obj.add_symbol(Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size: size as u64,
        kind: SymbolKind::Text,
        scope,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    });
}

/// Relocations against `.text` for each callback address load.
fn link(
    obj: &mut Object<'_>,
    section: SectionId,
    base: u64,
    refs: &[(usize, SubprogId)],
    text: Option<SymbolId>,
) -> Result<(), object::write::Error> {
    let Some(symbol) = text else { return Ok(()) };
    for (at, _) in refs {
        obj.add_relocation(
            section,
            Relocation {
                offset: base + (*at as u64) * 8,
                symbol,
                addend: 0,
                flags: RelocationFlags::Elf { r_type: elf::R_BPF_64_64 },
            },
        )?;
    }
    Ok(())
}
