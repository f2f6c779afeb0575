//! The in-memory ELF object libbpf loads: a `license` section and one
//! section per program, each with a global function symbol.

use bpfscope_compiler::insn::Insn;
use object::write::{Object, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

/// A program ready for the object: its name, section and instructions.
pub struct ElfProgram<'a> {
    pub name: &'a str,
    pub section: &'a str,
    pub insns: &'a [Insn],
}

pub fn build(programs: &[ElfProgram<'_>]) -> Result<Vec<u8>, object::write::Error> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    obj.append_section_data(license, b"GPL\0", 1);
    for p in programs {
        let bytes: Vec<u8> = p.insns.iter().flat_map(Insn::encode).collect();
        let section = obj.add_section(Vec::new(), p.section.as_bytes().to_vec(), SectionKind::Text);
        obj.append_section_data(section, &bytes, 8);
        obj.add_symbol(Symbol {
            name: p.name.as_bytes().to_vec(),
            value: 0,
            size: bytes.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
    }
    obj.write()
}
