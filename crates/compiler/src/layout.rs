//! How values are laid out in maps, events and on the BPF stack.
//!
//! Scalars (integers of any width, booleans, pointers, symbols, probe ids,
//! `func` of user probes as an index into its names) take 8 bytes; strings
//! their size; arrays their elements at C's widths. Tuple and record fields are
//! 8-byte aligned. Keys, values and events share this layout, so user space
//! decodes what the kernel wrote with the same rules.

use bpfscope_lang::check::{AggKind, Type};

/// Bytes a value of this type occupies.
pub fn size_of(t: &Type) -> u32 {
    match t {
        Type::None => 0,
        Type::Str(n) => u32::try_from(*n).unwrap_or(u32::MAX),
        // The number of bytes read, then room for the most.
        Type::Buffer(n) => u32::try_from(*n).unwrap_or(u32::MAX).saturating_add(8),
        Type::Array(elem, n) => element_size(elem).saturating_mul(u32::try_from(*n).unwrap_or(u32::MAX)),
        Type::Tuple(items) => items.iter().map(|t| align8(size_of(t))).sum(),
        Type::Record(fields) => fields.iter().map(|(_, t)| align8(size_of(t))).sum(),
        Type::Inet => 24,
        Type::Macaddr => 8,
        // The cgroup id, then which cgroup_path() filter applies.
        Type::CgroupPath => 16,
        // The address, then the process id.
        Type::UserSymbol => 16,
        // The time, then which strftime() format prints it.
        Type::Timestamp => 16,
        Type::Agg(k) => agg_value_size(*k),
        _ => 8,
    }
}

/// Bytes one array element occupies: arrays come from memory laid out as
/// C lays them out (`__u8 daddr[4]` is 4 bytes), so integers take their
/// own width.
pub fn element_size(t: &Type) -> u32 {
    match t {
        Type::Int { bits, .. } => u32::from(*bits / 8).max(1),
        Type::Bool => 1,
        other => size_of(other),
    }
}

/// The offsets of a tuple's or record's fields.
pub fn field_offsets(items: &[Type]) -> Vec<u32> {
    let mut off = 0;
    items
        .iter()
        .map(|t| {
            let here = off;
            off += align8(size_of(t));
            here
        })
        .collect()
}

/// Where a hist/lhist map's 8-byte bucket index sits in its kernel key:
/// after the user's key, 8-byte aligned (the verifier refuses misaligned
/// stack stores).
pub fn bucket_offset(key: Option<&Type>) -> u32 {
    align8(key.map_or(8, size_of))
}

pub fn align8(n: u32) -> u32 {
    n.div_ceil(8) * 8
}

/// Whether values of this type are passed around as bytes in memory rather
/// than in a register.
pub fn is_aggregate(t: &Type) -> bool {
    matches!(
        t,
        Type::Str(_)
            | Type::Buffer(_)
            | Type::Array(..)
            | Type::Tuple(_)
            | Type::Record(_)
            | Type::Inet
            | Type::Timestamp
            | Type::Macaddr
            | Type::CgroupPath
            | Type::UserSymbol
    )
}

/// The per-CPU value an aggregation keeps for each key.
pub fn agg_value_size(k: AggKind) -> u32 {
    match k {
        AggKind::Count | AggKind::Sum | AggKind::Hist | AggKind::Lhist | AggKind::Tseries => 8,
        // [value, set] for min/max; [total, count] for avg/stats.
        AggKind::Min | AggKind::Max | AggKind::Avg | AggKind::Stats => 16,
    }
}

/// Whether the integer is signed (for sign extension, comparisons, shifts).
pub fn is_signed(t: &Type) -> bool {
    match t {
        Type::Int { signed, .. } => *signed,
        Type::Agg(AggKind::Count) => false,
        Type::Agg(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_align_fields_to_eight() {
        let t = Type::Tuple(vec![Type::INT64, Type::Str(16), Type::Str(3), Type::Bool]);
        assert_eq!(size_of(&t), 8 + 16 + 8 + 8);
        assert_eq!(field_offsets(&[Type::INT64, Type::Str(3), Type::Bool]), vec![0, 8, 16]);
    }
}
