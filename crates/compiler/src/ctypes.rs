//! The C structs and unions a program defines, laid out as the x86-64
//! System V ABI lays them out: each field at the next multiple of its
//! alignment, the whole rounded up to the largest alignment.

use std::collections::HashMap;

use bpfscope_lang::ast::{BaseType, CFieldType, CItem, CStruct, CompositeKind, TypeSpec, TypeSuffix};

/// Why a field's place cannot be known.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("{0} is not defined in the program")]
    Unknown(String),
    #[error("{0} has no field named '{1}'")]
    NoField(String, String),
    #[error("bitfields are not supported yet ({0}.{1})")]
    Bitfield(String, String),
    #[error("the size of {0} cannot be worked out")]
    Unsized(String),
}

/// The program's struct, union and enum definitions by `struct name`.
pub struct CTypes<'a> {
    structs: HashMap<String, &'a CStruct>,
    items: &'a [CItem],
}

/// Struct nesting deeper than this is taken for a definition that
/// contains itself.
const MAX_DEPTH: u32 = 32;

impl<'a> CTypes<'a> {
    pub fn new(items: &'a [CItem]) -> CTypes<'a> {
        let structs = items
            .iter()
            .filter_map(|i| match i {
                CItem::Struct(s) => Some((format!("{} {}", s.kind.keyword(), s.name), s)),
                _ => None,
            })
            .collect();
        CTypes { structs, items }
    }

    /// `struct name` for a written struct, union or enum type, through
    /// typedefs (`point_t` defined as `struct point`).
    pub fn composite_name(&self, ty: &TypeSpec) -> Option<String> {
        let resolved;
        let ty = match &ty.base {
            BaseType::Named(n) => {
                resolved = bpfscope_lang::ast::typedef_target(self.items, n)?;
                &resolved
            }
            _ => ty,
        };
        match &ty.base {
            BaseType::Composite { kind, name } if ty.suffixes.is_empty() => Some(format!("{} {name}", kind.keyword())),
            _ => None,
        }
    }

    /// The byte offset of `field` in `struct name`.
    pub fn offset_of(&self, name: &str, field: &str) -> Result<u64, LayoutError> {
        let def = self.structs.get(name).ok_or_else(|| LayoutError::Unknown(name.to_string()))?;
        self.find(def, field, 0)?.ok_or_else(|| LayoutError::NoField(name.to_string(), field.to_string()))
    }

    /// The size in bytes of `struct name` (or a union).
    pub fn struct_size(&self, name: &str) -> Result<u64, LayoutError> {
        let def = self.structs.get(name).ok_or_else(|| LayoutError::Unknown(name.to_string()))?;
        Ok(self.struct_size_align(def, 0)?.0)
    }

    /// Looks for `field` in `def`, and in its unnamed members.
    fn find(&self, def: &CStruct, field: &str, depth: u32) -> Result<Option<u64>, LayoutError> {
        for (f, offset) in def.fields.iter().zip(self.offsets(def, depth)?) {
            if f.name == field {
                if f.bitfield.is_some() {
                    return Err(LayoutError::Bitfield(def.name.clone(), field.to_string()));
                }
                return Ok(Some(offset));
            }
            if f.name.is_empty()
                && let CFieldType::Anonymous(inner, _) = &f.ty
                && let Some(o) = self.find(inner, field, depth + 1)?
            {
                return Ok(Some(offset + o));
            }
        }
        Ok(None)
    }

    /// Each field's offset.
    fn offsets(&self, def: &CStruct, depth: u32) -> Result<Vec<u64>, LayoutError> {
        let mut out = Vec::with_capacity(def.fields.len());
        let mut end: u64 = 0;
        for f in &def.fields {
            let (size, align) = self.field_size_align(&f.ty, depth)?;
            let at = if def.kind == CompositeKind::Union { 0 } else { end.next_multiple_of(align) };
            out.push(at);
            end = end.max(at + size);
        }
        Ok(out)
    }

    fn struct_size_align(&self, def: &CStruct, depth: u32) -> Result<(u64, u64), LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::Unsized(format!("{} {}", def.kind.keyword(), def.name)));
        }
        let offsets = self.offsets(def, depth)?;
        let mut end: u64 = 0;
        let mut align: u64 = 1;
        for (f, at) in def.fields.iter().zip(offsets) {
            let (size, a) = self.field_size_align(&f.ty, depth)?;
            end = end.max(at + size);
            align = align.max(a);
        }
        Ok((end.next_multiple_of(align), align))
    }

    fn field_size_align(&self, ty: &CFieldType, depth: u32) -> Result<(u64, u64), LayoutError> {
        match ty {
            CFieldType::Type(t) => self.size_align(t, depth),
            CFieldType::Anonymous(inner, suffixes) => {
                let base = self.struct_size_align(inner, depth + 1)?;
                Ok(with_suffixes(base, suffixes))
            }
        }
    }

    /// Size and alignment of a C type.
    pub fn size_align(&self, ty: &TypeSpec, depth: u32) -> Result<(u64, u64), LayoutError> {
        let base = match &ty.base {
            BaseType::Int { bits, .. } => {
                let n = u64::from(*bits / 8).max(1);
                (n, n)
            }
            BaseType::Bool => (1, 1),
            _ if ty.suffixes.first() == Some(&TypeSuffix::Pointer) => (8, 8),
            BaseType::Composite { kind: CompositeKind::Enum, .. } => (4, 4),
            BaseType::Composite { kind, name } => {
                let key = format!("{} {name}", kind.keyword());
                let def = self.structs.get(&key).ok_or(LayoutError::Unknown(key))?;
                self.struct_size_align(def, depth + 1)?
            }
            BaseType::Named(n) => match bpfscope_lang::ast::typedef_target(self.items, n) {
                Some(target) => self.size_align(&target, depth + 1)?,
                None => match bpfscope_lang::builtins::c_fixed_int(n) {
                    Some((bits, _)) => (u64::from(bits / 8), u64::from(bits / 8)),
                    None => return Err(LayoutError::Unknown(n.clone())),
                },
            },
            _ => return Err(LayoutError::Unsized(format!("{:?}", ty.base))),
        };
        Ok(with_suffixes(base, &ty.suffixes))
    }
}

/// `T *` is a pointer; `T[n]` is n of them (innermost suffix first).
fn with_suffixes(base: (u64, u64), suffixes: &[TypeSuffix]) -> (u64, u64) {
    suffixes.iter().fold(base, |(size, align), s| match s {
        TypeSuffix::Pointer => (8, 8),
        TypeSuffix::Array(n) => (size.saturating_mul(n.unwrap_or(0)), align),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(src: &str) -> Vec<CItem> {
        let source = bpfscope_lang::Source::new("t", src);
        let program = bpfscope_lang::parse(&source, &Default::default()).expect("parses");
        program.c_items
    }

    #[test]
    fn fields_sit_at_their_alignment() {
        let items = types(
            "struct point { int x; char name[8]; long y; }
             struct wrap { char c; struct point p; union { short s; long l; }; int tail; }
             BEGIN {}",
        );
        let t = CTypes::new(&items);
        assert_eq!(t.offset_of("struct point", "x"), Ok(0));
        assert_eq!(t.offset_of("struct point", "name"), Ok(4));
        assert_eq!(t.offset_of("struct point", "y"), Ok(16));
        assert_eq!(t.offset_of("struct wrap", "p"), Ok(8));
        // After p (24 bytes at 8): the union, 8-aligned, then tail.
        assert_eq!(t.offset_of("struct wrap", "l"), Ok(32));
        assert_eq!(t.offset_of("struct wrap", "s"), Ok(32));
        assert_eq!(t.offset_of("struct wrap", "tail"), Ok(40));
        assert!(matches!(t.offset_of("struct wrap", "nope"), Err(LayoutError::NoField(..))));
        assert!(matches!(t.offset_of("struct task_struct", "pid"), Err(LayoutError::Unknown(_))));
    }
}
