//! Function parameters from DWARF, for uprobe `args` and `-lv`: each
//! parameter's name, its C type as bpftrace 0.26 lists it (`int`,
//! `char*`, `const char*`, `struct Foo*`), and its type in the language
//! where the tracer can read it from a register (integers, enums,
//! pointers). The DWARF is the binary's own or its separate debug file's.

mod decls;

use std::borrow::Cow;
use std::collections::HashMap;

use bpfscope_lang::check::Type;
use gimli::{AttributeValue, DebuggingInformationEntry, EndianSlice, RunTimeEndian, Unit, UnitOffset};
use object::{Object, ObjectSection};

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// One parameter of a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// As `-lv` prints it.
    pub c_type: String,
    /// How `args.NAME` reads and prints it; None where it cannot (a float,
    /// a struct passed by value).
    pub ty: Option<Type>,
    /// The general-purpose register it is passed in (0 for rdi ... 5 for
    /// r9, more for the stack); None where that cannot be told (after a
    /// struct passed by value, whose class decides where it goes).
    pub register: Option<usize>,
    /// C declarations of the structs its type points at (and theirs), for
    /// the program to follow it: `args.foo->a`.
    pub decls: Vec<String>,
}

/// How the x86-64 calling convention passes a parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// In the next general-purpose register (integers, pointers, enums).
    Integer,
    /// In a vector register (float, double): no general one used.
    Sse,
    /// Anything else (structs, unions, long double by value).
    Other,
}

/// Assigns each parameter its register: integers take the next one,
/// floating-point ones none; after any other kind nothing is certain.
fn assign_registers(params: &mut [Param], classes: &[Class]) {
    let mut next = Some(0);
    for (p, class) in params.iter_mut().zip(classes) {
        match class {
            Class::Integer => {
                p.register = next;
                next = next.map(|n| n + 1);
            }
            Class::Sse => {}
            Class::Other => next = None,
        }
    }
}

/// Why a function's parameters are not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DwarfError {
    #[error("no debuginfo found for {0}")]
    NoDebugInfo(String),
    #[error("{binary} has no debug information for function '{function}'")]
    NoFunction { binary: String, function: String },
    #[error("cannot read the DWARF of {binary}: {message}")]
    Bad { binary: String, message: String },
}

/// Every function a file's DWARF defines, with its parameters in order
/// (the first definition of a name); None where the file has no DWARF.
/// `package` is a DWARF package (`dwp`'s output) of its split units.
pub fn functions(data: &[u8], package: Option<&[u8]>) -> Result<Option<HashMap<String, Vec<Param>>>, gimli::Error> {
    let Ok(file) = object::File::parse(data) else { return Ok(None) };
    if file.section_by_name(".debug_info").is_none() {
        return Ok(None);
    }
    let endian = endian_of(&file);
    let sections = sections_of(&file, false)?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
    let package_file = package.and_then(|d| object::File::parse(d).ok());
    let package_sections = package_file.as_ref().map(|f| package_sections_of(f)).transpose()?;
    let package = package_sections
        .as_ref()
        .map(|s| s.borrow(|s| EndianSlice::new(s, endian), EndianSlice::new(&[], endian)))
        .transpose()?;
    let mut out = HashMap::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        match unit.dwo_name()? {
            // Split DWARF (-gsplit-dwarf): the functions are in the unit's
            // .dwo file, beside the objects it was compiled from, or in
            // the package the .dwo files were gathered into.
            Some(name) => {
                if !functions_in_dwo(&dwarf, &unit, name, &mut out)?
                    && let (Some(package), Some(id)) = (&package, unit.dwo_id)
                    && let Some(dwo) = package.find_cu(id, &dwarf)?
                {
                    let mut units = dwo.units();
                    while let Some(header) = units.next()? {
                        functions_in_unit(&dwo, &dwo.unit(header)?, &mut out)?;
                    }
                }
            }
            None => functions_in_unit(&dwarf, &unit, &mut out)?,
        }
    }
    Ok(Some(out))
}

/// A DWARF package's sections (by their `.dwo` names, and its indexes).
fn package_sections_of<'a>(file: &'a object::File<'_>) -> gimli::Result<gimli::DwarfPackageSections<Cow<'a, [u8]>>> {
    gimli::DwarfPackageSections::load(|id| -> Result<Cow<'_, [u8]>, gimli::Error> {
        let name = id.dwo_name().unwrap_or(id.name());
        Ok(file.section_by_name(name).and_then(|s| s.uncompressed_data().ok()).unwrap_or(Cow::Borrowed(&[])))
    })
}

fn endian_of(file: &object::File<'_>) -> RunTimeEndian {
    if file.is_little_endian() { RunTimeEndian::Little } else { RunTimeEndian::Big }
}

/// A file's DWARF sections (a .dwo file's, by their `.dwo` names).
fn sections_of<'a>(file: &'a object::File<'_>, dwo: bool) -> gimli::Result<gimli::DwarfSections<Cow<'a, [u8]>>> {
    gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, gimli::Error> {
        let name = if dwo { id.dwo_name().unwrap_or(id.name()) } else { id.name() };
        Ok(file.section_by_name(name).and_then(|s| s.uncompressed_data().ok()).unwrap_or(Cow::Borrowed(&[])))
    })
}

/// The functions of a skeleton unit's .dwo file; false where it is gone
/// (the build directory cleaned, or the files packaged).
fn functions_in_dwo(
    parent: &gimli::Dwarf<R<'_>>,
    skeleton: &Unit<R<'_>>,
    name: AttributeValue<R<'_>>,
    out: &mut HashMap<String, Vec<Param>>,
) -> gimli::Result<bool> {
    let name = parent.attr_string(skeleton, name)?.to_string_lossy().into_owned();
    let mut path = std::path::PathBuf::new();
    if let Some(dir) = &skeleton.comp_dir {
        path.push(dir.to_string_lossy().as_ref());
    }
    path.push(name);
    let Ok(data) = std::fs::read(&path) else { return Ok(false) };
    let Ok(file) = object::File::parse(&*data) else { return Ok(false) };
    let endian = endian_of(&file);
    let sections = sections_of(&file, true)?;
    let mut dwo = sections.borrow(|s| EndianSlice::new(s, endian));
    dwo.make_dwo(parent);
    let mut units = dwo.units();
    while let Some(header) = units.next()? {
        let unit = dwo.unit(header)?;
        functions_in_unit(&dwo, &unit, out)?;
    }
    Ok(true)
}

/// The functions `unit` defines, added to `out`.
fn functions_in_unit(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &Unit<R<'_>>,
    out: &mut HashMap<String, Vec<Param>>,
) -> gimli::Result<()> {
    // The function being read: its depth, name, parameters so far and
    // their classes.
    let mut current: Option<(isize, String, Vec<Param>, Vec<Class>)> = None;
    let mut declarations = decls::Declarations::default();
    let finish = |(_, name, mut params, classes): (isize, String, Vec<Param>, Vec<Class>),
                  out: &mut HashMap<String, Vec<Param>>| {
        assign_registers(&mut params, &classes);
        out.entry(name).or_insert(params);
    };
    let mut entries = unit.entries();
    while let Some(entry) = entries.next_dfs()? {
        let depth = entry.depth();
        if let Some((at, _, params, classes)) = &mut current {
            if depth == *at + 1 && entry.tag() == gimli::DW_TAG_formal_parameter {
                let ty = type_of(unit, entry)?;
                let mut language = language_type(unit, ty, 0)?;
                let mut decls = Vec::new();
                // A pointer to a struct: typed as one, declared from DWARF.
                if matches!(&language, Some(Type::Pointer(p)) if p.is_unknown())
                    && let Some(name) = declarations.pointee(dwarf, unit, peel_to_pointer(unit, ty)?)?
                {
                    language = Some(Type::Pointer(Box::new(Type::Struct(name))));
                    decls = declarations.texts.clone();
                }
                classes.push(match language {
                    Some(_) => Class::Integer,
                    None if is_floating(unit, ty, 0)? => Class::Sse,
                    None => Class::Other,
                });
                params.push(Param {
                    name: name_of(dwarf, unit, entry)?.unwrap_or_default(),
                    c_type: c_type_name(dwarf, unit, ty, 0)?,
                    ty: language,
                    register: None,
                    decls,
                });
            }
            if depth > *at {
                continue;
            }
            if let Some(done) = current.take() {
                finish(done, out);
            }
        }
        if entry.tag() == gimli::DW_TAG_subprogram
            && entry.attr_value(gimli::DW_AT_declaration).is_none()
            && let Some(name) = name_of(dwarf, unit, entry)?
        {
            current = Some((depth, name, Vec::new(), Vec::new()));
        }
    }
    if let Some(done) = current {
        finish(done, out);
    }
    Ok(())
}

/// An entry's name, its own or its abstract origin's (an out-of-line copy
/// of an inlined function names neither itself nor its parameters).
fn name_of(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &Unit<R<'_>>,
    entry: &DebuggingInformationEntry<R<'_>>,
) -> gimli::Result<Option<String>> {
    if let Some(value) = entry.attr_value(gimli::DW_AT_name) {
        return Ok(Some(dwarf.attr_string(unit, value)?.to_string_lossy().into_owned()));
    }
    match entry.attr_value(gimli::DW_AT_abstract_origin) {
        Some(AttributeValue::UnitRef(origin)) => name_of(dwarf, unit, &unit.entry(origin)?),
        _ => Ok(None),
    }
}

/// The DIE an entry's `DW_AT_type` names (through its abstract origin).
fn type_of(unit: &Unit<R<'_>>, entry: &DebuggingInformationEntry<R<'_>>) -> gimli::Result<Option<UnitOffset>> {
    match entry.attr_value(gimli::DW_AT_type) {
        Some(AttributeValue::UnitRef(t)) => Ok(Some(t)),
        _ => match entry.attr_value(gimli::DW_AT_abstract_origin) {
            Some(AttributeValue::UnitRef(origin)) => type_of(unit, &unit.entry(origin)?),
            _ => Ok(None),
        },
    }
}

/// Through typedefs and qualifiers to the type itself.
fn peel(unit: &Unit<R<'_>>, mut offset: Option<UnitOffset>) -> gimli::Result<Option<UnitOffset>> {
    for _ in 0..MAX_DEPTH {
        let Some(o) = offset else { return Ok(None) };
        let entry = unit.entry(o)?;
        match entry.tag() {
            gimli::DW_TAG_typedef | gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type => {
                offset = type_of(unit, &entry)?;
            }
            _ => return Ok(Some(o)),
        }
    }
    Ok(None)
}

/// Through typedefs and qualifiers to a pointer type.
fn peel_to_pointer(unit: &Unit<R<'_>>, offset: Option<UnitOffset>) -> gimli::Result<Option<UnitOffset>> {
    let Some(o) = peel(unit, offset)? else { return Ok(None) };
    Ok((unit.entry(o)?.tag() == gimli::DW_TAG_pointer_type).then_some(o))
}

/// An entry's size in bytes (`DW_AT_byte_size`).
fn byte_size(entry: &DebuggingInformationEntry<R<'_>>) -> Option<u64> {
    entry.attr_value(gimli::DW_AT_byte_size)?.udata_value()
}

/// Type chains deeper than this are not followed (a malformed file could
/// loop).
const MAX_DEPTH: usize = 16;

/// A type as bpftrace 0.26 names it in `-lv`: `int`, `char*` (no space
/// before the star), `const char*`, `struct Foo*`, `void*`.
fn c_type_name(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &Unit<R<'_>>,
    offset: Option<UnitOffset>,
    depth: usize,
) -> gimli::Result<String> {
    let Some(offset) = offset else { return Ok("void".into()) };
    if depth > MAX_DEPTH {
        return Ok("<unknown type>".into());
    }
    let entry = unit.entry(offset)?;
    let name = name_of(dwarf, unit, &entry)?;
    let inner = || -> gimli::Result<String> { c_type_name(dwarf, unit, type_of(unit, &entry)?, depth + 1) };
    Ok(match entry.tag() {
        gimli::DW_TAG_base_type | gimli::DW_TAG_typedef => name.unwrap_or_else(|| "<unknown type>".into()),
        gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => format!("{}*", inner()?),
        gimli::DW_TAG_const_type => {
            let inner = inner()?;
            if inner.ends_with('*') { format!("{inner} const") } else { format!("const {inner}") }
        }
        gimli::DW_TAG_volatile_type => format!("volatile {}", inner()?),
        gimli::DW_TAG_structure_type | gimli::DW_TAG_class_type => {
            format!("struct {}", name.as_deref().unwrap_or("<anonymous>"))
        }
        gimli::DW_TAG_union_type => format!("union {}", name.as_deref().unwrap_or("<anonymous>")),
        gimli::DW_TAG_enumeration_type => format!("enum {}", name.as_deref().unwrap_or("<anonymous>")),
        gimli::DW_TAG_array_type => format!("{}[]", inner()?),
        _ => "<unknown type>".into(),
    })
}

/// Whether a type is a float or double (passed in a vector register);
/// long double (16 bytes, passed in memory) is not.
fn is_floating(unit: &Unit<R<'_>>, offset: Option<UnitOffset>, depth: usize) -> gimli::Result<bool> {
    let Some(offset) = offset else { return Ok(false) };
    if depth > MAX_DEPTH {
        return Ok(false);
    }
    let entry = unit.entry(offset)?;
    Ok(match entry.tag() {
        gimli::DW_TAG_base_type => {
            matches!(entry.attr_value(gimli::DW_AT_encoding), Some(AttributeValue::Encoding(gimli::DW_ATE_float)))
                && matches!(byte_size(&entry), Some(4 | 8))
        }
        gimli::DW_TAG_typedef | gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type => {
            is_floating(unit, type_of(unit, &entry)?, depth + 1)?
        }
        _ => false,
    })
}

/// How the language reads a parameter of this type from its register.
fn language_type(unit: &Unit<R<'_>>, offset: Option<UnitOffset>, depth: usize) -> gimli::Result<Option<Type>> {
    let Some(offset) = offset else { return Ok(None) };
    if depth > MAX_DEPTH {
        return Ok(None);
    }
    let entry = unit.entry(offset)?;
    let size = byte_size(&entry);
    let int = |signed: bool| match size {
        Some(n @ (1 | 2 | 4 | 8)) => Some(Type::Int { bits: (n * 8) as u8, signed }),
        _ => None,
    };
    Ok(match entry.tag() {
        gimli::DW_TAG_base_type => match entry.attr_value(gimli::DW_AT_encoding) {
            Some(AttributeValue::Encoding(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char)) => int(true),
            Some(AttributeValue::Encoding(
                gimli::DW_ATE_unsigned | gimli::DW_ATE_unsigned_char | gimli::DW_ATE_boolean,
            )) => int(false),
            _ => None,
        },
        gimli::DW_TAG_enumeration_type => int(false),
        gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => {
            // What it points at, where the language has it (an integer);
            // anything else reads as a pointer to unknown.
            let target = language_type(unit, type_of(unit, &entry)?, depth + 1)?;
            Some(Type::Pointer(Box::new(target.filter(Type::is_int).unwrap_or(Type::Unknown))))
        }
        gimli::DW_TAG_typedef | gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type => {
            language_type(unit, type_of(unit, &entry)?, depth + 1)?
        }
        _ => None,
    })
}

/// C declarations of the structs and unions named (`struct foo`) as the
/// DWARF of `data` defines them, with the structs they need first; those
/// it does not define, or whose layout a declaration cannot give back,
/// are left out.
pub fn struct_declarations(data: &[u8], wanted: &[String]) -> Result<Vec<String>, gimli::Error> {
    let Ok(file) = object::File::parse(data) else { return Ok(Vec::new()) };
    let endian = endian_of(&file);
    let sections = sections_of(&file, false)?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
    let mut missing: Vec<&String> = wanted.iter().collect();
    let mut texts = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        if missing.is_empty() {
            break;
        }
        let unit = dwarf.unit(header)?;
        let mut declarations = decls::Declarations::default();
        let mut entries = unit.entries();
        while let Some(entry) = entries.next_dfs()? {
            let keyword = match entry.tag() {
                gimli::DW_TAG_structure_type => "struct",
                gimli::DW_TAG_union_type => "union",
                gimli::DW_TAG_enumeration_type => "enum",
                _ => continue,
            };
            if entry.attr_value(gimli::DW_AT_declaration).is_some() {
                continue;
            }
            let Some(name) = name_of(&dwarf, &unit, entry)? else { continue };
            let full = format!("{keyword} {name}");
            let Some(i) = missing.iter().position(|w| **w == full) else { continue };
            if keyword == "enum" {
                declarations.texts.push(enum_declaration(&dwarf, &unit, entry.offset(), &full)?);
                missing.remove(i);
            } else if declarations.declare(&dwarf, &unit, entry.offset())? {
                missing.remove(i);
            }
        }
        texts.extend(declarations.texts);
    }
    Ok(texts)
}

/// `enum NAME { A = 1, B = 5 };` from an enumeration's enumerators.
fn enum_declaration(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &Unit<R<'_>>,
    offset: UnitOffset,
    full: &str,
) -> gimli::Result<String> {
    let mut tree = unit.entries_tree(Some(offset))?;
    let root = tree.root()?;
    let mut variants = Vec::new();
    let mut children = root.children();
    while let Some(child) = children.next()? {
        let e = child.entry();
        if e.tag() != gimli::DW_TAG_enumerator {
            continue;
        }
        let Some(name) = name_of(dwarf, unit, e)? else { continue };
        let value = match e.attr_value(gimli::DW_AT_const_value) {
            Some(AttributeValue::Sdata(v)) => v,
            Some(AttributeValue::Udata(v)) => v as i64,
            Some(AttributeValue::Data1(v)) => i64::from(v),
            Some(AttributeValue::Data2(v)) => i64::from(v),
            Some(AttributeValue::Data4(v)) => i64::from(v),
            Some(AttributeValue::Data8(v)) => v as i64,
            _ => continue,
        };
        variants.push(format!("{name} = {value}"));
    }
    Ok(format!("{full} {{ {} }};\n", variants.join(", ")))
}

/// Where a source line's code starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineLookup {
    /// The file has no DWARF.
    NoDwarf,
    /// No compiled file's path ends with the name given.
    NoFile,
    /// More than one does (their paths).
    Ambiguous(Vec<String>),
    /// The file is there, but no code is at that line (and column).
    NoCode,
    /// The address of the line's first statement.
    Found(u64),
}

/// The address of the first statement at `line` (and `col`, where given)
/// of the compiled source file whose path ends with `file`, from the
/// line tables: rows of other files (headers included into it) do not
/// count, as in bpftrace.
pub fn line_address(data: &[u8], file: &str, line: u64, col: Option<u64>) -> Result<LineLookup, gimli::Error> {
    let Ok(object) = object::File::parse(data) else { return Ok(LineLookup::NoDwarf) };
    if object.section_by_name(".debug_line").is_none() {
        return Ok(LineLookup::NoDwarf);
    }
    let endian = endian_of(&object);
    let sections = sections_of(&object, false)?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
    let wanted = std::path::Path::new(file);
    let mut paths = std::collections::BTreeSet::new();
    let mut best: Option<u64> = None;
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let Some(program) = unit.line_program.clone() else { continue };
        let mut rows = program.rows();
        while let Some((header, row)) = rows.next_row()? {
            let Some(entry) = row.file(header) else { continue };
            let mut path = std::path::PathBuf::new();
            if let Some(dir) = entry.directory(header) {
                path.push(dwarf.attr_string(&unit, dir)?.to_string_lossy().as_ref());
            }
            path.push(dwarf.attr_string(&unit, entry.path_name())?.to_string_lossy().as_ref());
            if !path.ends_with(wanted) {
                continue;
            }
            paths.insert(path.display().to_string());
            let column_ok = match (col, row.column()) {
                (None | Some(0), _) => true,
                (Some(c), gimli::ColumnType::Column(n)) => n.get() == c,
                (Some(_), gimli::ColumnType::LeftEdge) => false,
            };
            if row.is_stmt() && !row.end_sequence() && row.line().map(|l| l.get()) == Some(line) && column_ok {
                best = Some(best.map_or(row.address(), |b| b.min(row.address())));
            }
        }
    }
    Ok(match (paths.len(), best) {
        (0, _) => LineLookup::NoFile,
        (1, Some(address)) => LineLookup::Found(address),
        (1, None) => LineLookup::NoCode,
        _ => LineLookup::Ambiguous(paths.into_iter().collect()),
    })
}
