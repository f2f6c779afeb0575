//! Structs from DWARF written as C declarations, so that a program can
//! follow a uprobe argument's pointer into its fields (`args.foo->a`)
//! without declaring the struct itself (bpftrace 0.26 reads them from
//! DWARF too). A struct is written only where the declaration gives the
//! compiler's layout back: every member's offset is checked against
//! DWARF's; bitfields, packing and anonymous members leave it out.

use std::collections::HashMap;

use gimli::{AttributeValue, DebuggingInformationEntry, Unit, UnitOffset};

use super::{MAX_DEPTH, R, byte_size, name_of, peel, type_of};

#[derive(Clone, Copy)]
enum State {
    Writing,
    Written(u64, u64),
    Failed,
}

/// The declarations written so far, in an order each can be read in.
#[derive(Default)]
pub(super) struct Declarations {
    /// Each struct met: being written, written (size, alignment), or not
    /// writable.
    done: HashMap<String, State>,
    /// The C text of each written struct, dependencies first.
    pub texts: Vec<String>,
}

impl Declarations {
    /// The struct a pointer type points at (through typedefs and
    /// qualifiers), declared: its `struct NAME`.
    pub fn pointee(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &Unit<R<'_>>,
        pointer: Option<UnitOffset>,
    ) -> gimli::Result<Option<String>> {
        let Some(offset) = pointer else { return Ok(None) };
        let entry = unit.entry(offset)?;
        let target = peel(unit, type_of(unit, &entry)?)?;
        let Some(target) = target else { return Ok(None) };
        let entry = unit.entry(target)?;
        if !matches!(entry.tag(), gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type) {
            return Ok(None);
        }
        Ok(self.composite(dwarf, unit, target, 0)?.map(|(name, _, _)| name))
    }

    /// Declares a struct or union; whether it could be.
    pub fn declare(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &Unit<R<'_>>,
        offset: UnitOffset,
    ) -> gimli::Result<bool> {
        Ok(self.composite(dwarf, unit, offset, 0)?.is_some())
    }

    /// Declares a struct or union: its `struct NAME`, size and alignment.
    fn composite(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &Unit<R<'_>>,
        offset: UnitOffset,
        depth: usize,
    ) -> gimli::Result<Option<(String, u64, u64)>> {
        let entry = unit.entry(offset)?;
        let keyword = if entry.tag() == gimli::DW_TAG_union_type { "union" } else { "struct" };
        let Some(name) = name_of(dwarf, unit, &entry)? else { return Ok(None) };
        let full = format!("{keyword} {name}");
        match self.done.get(&full) {
            Some(State::Written(size, align)) => return Ok(Some((full, *size, *align))),
            Some(State::Writing | State::Failed) => return Ok(None),
            None => {}
        }
        if depth > MAX_DEPTH || entry.attr_value(gimli::DW_AT_declaration).is_some() {
            return Ok(None);
        }
        self.done.insert(full.clone(), State::Writing);
        let written = self.members(dwarf, unit, offset, keyword == "union", depth)?;
        let size = byte_size(&entry).unwrap_or(0);
        let Some(((fields, end), align)) = written.filter(|((_, end), align)| size == align_up(*end, *align)) else {
            self.done.insert(full, State::Failed);
            return Ok(None);
        };
        let _ = end;
        self.texts.push(format!("{full} {{\n{fields}}};\n"));
        self.done.insert(full.clone(), State::Written(size, align));
        Ok(Some((full, size, align)))
    }

    /// A composite's members as C lines, and the end of the last one
    /// (the largest for a union); with its alignment. None where the
    /// natural layout is not DWARF's.
    #[allow(clippy::type_complexity)]
    fn members(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &Unit<R<'_>>,
        offset: UnitOffset,
        union: bool,
        depth: usize,
    ) -> gimli::Result<Option<((String, u64), u64)>> {
        let mut tree = unit.entries_tree(Some(offset))?;
        let root = tree.root()?;
        let mut children = root.children();
        let (mut text, mut end, mut align) = (String::new(), 0u64, 1u64);
        while let Some(child) = children.next()? {
            let member = child.entry();
            if member.tag() != gimli::DW_TAG_member {
                continue;
            }
            if member.attr_value(gimli::DW_AT_bit_size).is_some()
                || member.attr_value(gimli::DW_AT_data_bit_offset).is_some()
            {
                return Ok(None);
            }
            let Some(name) = name_of(dwarf, unit, member)? else { return Ok(None) };
            let Some((decl, size, member_align)) =
                self.member_type(dwarf, unit, type_of(unit, member)?, &name, depth)?
            else {
                return Ok(None);
            };
            let at = if union { 0 } else { align_up(end, member_align) };
            let dwarf_at = match member.attr_value(gimli::DW_AT_data_member_location) {
                Some(v) => match v.udata_value() {
                    Some(n) => n,
                    // A location expression: not a plain struct.
                    None => return Ok(None),
                },
                None if union => 0,
                None => return Ok(None),
            };
            if at != dwarf_at {
                return Ok(None);
            }
            text.push_str(&format!("    {decl};\n"));
            end = if union { end.max(size) } else { at + size };
            align = align.max(member_align);
        }
        Ok(Some(((text, end), align)))
    }

    /// A member's declaration (`int a`, `char b[8]`, `struct Foo *next`),
    /// size and alignment.
    fn member_type(
        &mut self,
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &Unit<R<'_>>,
        offset: Option<UnitOffset>,
        name: &str,
        depth: usize,
    ) -> gimli::Result<Option<(String, u64, u64)>> {
        let Some(offset) = peel(unit, offset)? else { return Ok(None) };
        let entry = unit.entry(offset)?;
        Ok(match entry.tag() {
            gimli::DW_TAG_base_type | gimli::DW_TAG_enumeration_type => {
                integer(&entry).map(|(c, size)| (format!("{c} {name}"), size, size))
            }
            gimli::DW_TAG_pointer_type => {
                // To a struct: declared too (a list's `next` is itself).
                let target = peel(unit, type_of(unit, &entry)?)?;
                let pointee = match target.map(|t| unit.entry(t)).transpose()? {
                    Some(t) if matches!(t.tag(), gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type) => {
                        let keyword = if t.tag() == gimli::DW_TAG_union_type { "union" } else { "struct" };
                        // Itself (being written) or one written: by name;
                        // one that cannot be: an opaque pointer.
                        let written = self.composite(dwarf, unit, t.offset(), depth + 1)?.is_some();
                        match name_of(dwarf, unit, &t)? {
                            Some(n)
                                if written
                                    || matches!(self.done.get(&format!("{keyword} {n}")), Some(State::Writing)) =>
                            {
                                format!("{keyword} {n}")
                            }
                            _ => "void".into(),
                        }
                    }
                    Some(t) => integer(&t).map_or("void".into(), |(c, _)| c.to_string()),
                    None => "void".into(),
                };
                Some((format!("{pointee} *{name}"), 8, 8))
            }
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => self
                .composite(dwarf, unit, offset, depth + 1)?
                .map(|(full, size, align)| (format!("{full} {name}"), size, align)),
            gimli::DW_TAG_array_type => {
                let Some(count) = array_count(unit, offset)? else { return Ok(None) };
                let element = self.member_type(dwarf, unit, type_of(unit, &entry)?, name, depth + 1)?;
                element.map(|(decl, size, align)| (format!("{decl}[{count}]"), size * count, align))
            }
            _ => None,
        })
    }
}

/// An integer type (or enum) as the C the declarations are read with
/// spells it, by size and sign; with its size.
fn integer(entry: &DebuggingInformationEntry<R<'_>>) -> Option<(&'static str, u64)> {
    let size = byte_size(entry)?;
    let signed = match entry.attr_value(gimli::DW_AT_encoding) {
        Some(AttributeValue::Encoding(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char)) => true,
        Some(AttributeValue::Encoding(
            gimli::DW_ATE_unsigned | gimli::DW_ATE_unsigned_char | gimli::DW_ATE_boolean,
        )) => false,
        // Enums: their size, unsigned.
        None if entry.tag() == gimli::DW_TAG_enumeration_type => false,
        _ => return None,
    };
    let name = match (size, signed) {
        (1, true) => "char",
        (1, false) => "unsigned char",
        (2, true) => "short",
        (2, false) => "unsigned short",
        (4, true) => "int",
        (4, false) => "unsigned int",
        (8, true) => "long",
        (8, false) => "unsigned long",
        _ => return None,
    };
    Some((name, size))
}

/// The element count of a one-dimensional array type.
fn array_count(unit: &Unit<R<'_>>, offset: UnitOffset) -> gimli::Result<Option<u64>> {
    let mut tree = unit.entries_tree(Some(offset))?;
    let root = tree.root()?;
    let mut children = root.children();
    let mut counts = Vec::new();
    while let Some(child) = children.next()? {
        let e = child.entry();
        if e.tag() != gimli::DW_TAG_subrange_type {
            continue;
        }
        let count = match (e.attr_value(gimli::DW_AT_count), e.attr_value(gimli::DW_AT_upper_bound)) {
            (Some(c), _) => c.udata_value(),
            (None, Some(u)) => u.udata_value().map(|u| u + 1),
            _ => None,
        };
        counts.push(count);
    }
    Ok(match counts.as_slice() {
        [Some(n)] => Some(*n),
        _ => None,
    })
}

fn align_up(n: u64, align: u64) -> u64 {
    n.div_ceil(align.max(1)) * align.max(1)
}
