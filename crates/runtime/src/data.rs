//! Values read from the kernel as Rust data: the arguments of `printf`
//! events and the keys and values of maps, for programs that use bpfscope
//! as a library instead of reading its text output.

use bpfscope_compiler::layout::{field_offsets, size_of};
use bpfscope_lang::check::Type;

use crate::output::value::{Resolver, buffer_bytes, c_string, int_value, read_u64, slice, to_text};

/// One value of the program's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Every integer type, signed or not.
    Int(i128),
    Bool(bool),
    /// A string (`str()`, `comm`, string literals), up to its NUL.
    Str(String),
    /// A `buf()` value.
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    /// A struct, field by field.
    Record(Vec<(String, Value)>),
    Array(Vec<Value>),
    /// A `kstack` or `ustack`: frame addresses, innermost first.
    Stack(Vec<u64>),
    /// What has no better Rust form, as bpftrace prints it: `probe`,
    /// `func`, user names, pointers.
    Text(String),
}

impl Value {
    /// The integer, if this is one (booleans count as 0 and 1).
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Bool(b) => Some(i128::from(*b)),
            _ => None,
        }
    }

    /// The text of a string (or of a value that prints as text).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Decodes a value of type `t` from its bytes in an event or a map.
    pub(crate) fn decode(t: &Type, bytes: &[u8], r: &Resolver<'_>) -> Value {
        match t {
            Type::Str(_) => Value::Str(String::from_utf8_lossy(c_string(bytes)).into_owned()),
            Type::Buffer(_) => Value::Bytes(buffer_bytes(bytes).to_vec()),
            Type::Bool => Value::Bool(read_u64(bytes) != 0),
            Type::Tuple(items) => Value::Tuple(
                items
                    .iter()
                    .zip(field_offsets(items))
                    .map(|(it, off)| Value::decode(it, slice(bytes, off, size_of(it)), r))
                    .collect(),
            ),
            Type::Record(fields) => {
                let types: Vec<Type> = fields.iter().map(|(_, t)| t.clone()).collect();
                Value::Record(
                    fields
                        .iter()
                        .zip(field_offsets(&types))
                        .map(|((name, ft), off)| (name.clone(), Value::decode(ft, slice(bytes, off, size_of(ft)), r)))
                        .collect(),
                )
            }
            Type::Array(elem, n) => {
                let es = bpfscope_compiler::layout::element_size(elem);
                Value::Array((0..*n as u32).map(|i| Value::decode(elem, slice(bytes, i * es, es), r)).collect())
            }
            Type::Kstack | Type::Ustack => Value::Stack(r.frames(read_u64(bytes))),
            t if t.is_int() => Value::Int(int_value(t, bytes)),
            _ => Value::Text(to_text(t, bytes, r)),
        }
    }
}

/// A map entry's value, summed over CPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// `count()`, `sum()`, `min()`, `max()`, and assigned integers.
    Int(i128),
    /// `avg()` and `stats()`: how many values and their total.
    Average { count: i64, total: i64 },
    /// `hist()` and `lhist()`: the buckets from the first non-empty one to
    /// the last, labelled as bpftrace labels them.
    Histogram(Vec<Bucket>),
    /// `tseries()`: each interval's start (ns, TAI) and its value, if it
    /// has one.
    TimeSeries(Vec<(u64, Option<i128>)>),
    /// Any other assigned value.
    Value(Value),
}

impl MapValue {
    /// The value bpftrace sorts map lines by: the number, the average, or
    /// a histogram's total.
    pub fn sort_key(&self) -> i128 {
        match self {
            MapValue::Int(n) => *n,
            MapValue::Average { count, total } => i128::from(if *count == 0 { 0 } else { total / count }),
            MapValue::Histogram(b) => b.iter().map(|b| i128::from(b.count)).sum(),
            MapValue::Value(_) | MapValue::TimeSeries(_) => 0,
        }
    }
}

/// One histogram bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// `[4, 8)`, `(..., 0)`, `[1K, 2K)`...
    pub label: String,
    /// The smallest value the bucket holds (`i64::MIN` for the one below
    /// the range).
    pub low: i64,
    /// Where it ends (exclusive); `None` for the one above the range.
    pub high: Option<i64>,
    pub count: u64,
}

/// Rust types that a [`Value`] or [`MapValue`] converts into, for reading
/// maps and events as typed data.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;

    /// From a map's value; numbers come as [`MapValue::Int`].
    fn from_map_value(v: &MapValue) -> Option<Self> {
        match v {
            MapValue::Int(n) => Self::from_value(&Value::Int(*n)),
            MapValue::Value(v) => Self::from_value(v),
            _ => None,
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Int(n) => <$t>::try_from(*n).ok(),
                    Value::Bool(b) => Some(<$t>::from(*b)),
                    _ => None,
                }
            }
        }
    )*};
}
from_int!(u8, u16, u32, u64, i8, i16, i32, i64, i128);

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Int(n) => Some(*n != 0),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Str(s) | Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Value {
    fn from_value(v: &Value) -> Option<Self> {
        Some(v.clone())
    }
}

impl FromValue for MapValue {
    fn from_value(v: &Value) -> Option<Self> {
        Some(MapValue::Value(v.clone()))
    }

    fn from_map_value(v: &MapValue) -> Option<Self> {
        Some(v.clone())
    }
}

macro_rules! from_tuple {
    ($($name:ident),*) => {
        impl<$($name: FromValue),*> FromValue for ($($name,)*) {
            fn from_value(v: &Value) -> Option<Self> {
                let Value::Tuple(items) = v else { return None };
                let mut it = items.iter();
                let out = ($($name::from_value(it.next()?)?,)*);
                it.next().is_none().then_some(out)
            }
        }
    };
}
from_tuple!(A);
from_tuple!(A, B);
from_tuple!(A, B, C);
from_tuple!(A, B, C, D);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_conversions() {
        let t = Value::Tuple(vec![Value::Int(7), Value::Str("ab".into())]);
        assert_eq!(<(u32, String)>::from_value(&t), Some((7, "ab".to_string())));
        assert_eq!(<(u32, String, u8)>::from_value(&t), None);
        assert_eq!(u8::from_value(&Value::Int(300)), None);
        assert_eq!(i64::from_map_value(&MapValue::Int(-3)), Some(-3));
        assert_eq!(u64::from_map_value(&MapValue::Average { count: 1, total: 2 }), None);
    }

    #[test]
    fn decodes_tuples_of_ints_and_strings() {
        let mut bytes = (-2i64).to_le_bytes().to_vec();
        bytes.extend(b"ab\0\0\0\0\0\0");
        let t = Type::Tuple(vec![Type::INT64, Type::Str(3)]);
        let v = Value::decode(&t, &bytes, &Resolver::default());
        assert_eq!(v, Value::Tuple(vec![Value::Int(-2), Value::Str("ab".into())]));
    }
}
