//! The types the checker infers. Kernel types it cannot see (struct fields
//! from BTF, tracepoint arguments) are `Unknown`: accepted here and resolved
//! by the compiler against the running kernel.

use std::fmt;

/// The aggregations a map value can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggKind {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Stats,
    Hist,
    Lhist,
    Tseries,
}

impl AggKind {
    pub fn from_function(name: &str) -> Option<AggKind> {
        Some(match name {
            "count" => AggKind::Count,
            "sum" => AggKind::Sum,
            "avg" => AggKind::Avg,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "stats" => AggKind::Stats,
            "hist" => AggKind::Hist,
            "lhist" => AggKind::Lhist,
            "tseries" => AggKind::Tseries,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AggKind::Count => "count",
            AggKind::Sum => "sum",
            AggKind::Avg => "avg",
            AggKind::Min => "min",
            AggKind::Max => "max",
            AggKind::Stats => "stats",
            AggKind::Hist => "hist",
            AggKind::Lhist => "lhist",
            AggKind::Tseries => "tseries",
        }
    }

    /// Whether reading the aggregation gives one integer (a cast or a
    /// comparison reads it; histograms have no single value).
    pub fn reads_as_int(self) -> bool {
        !matches!(self, AggKind::Stats | AggKind::Hist | AggKind::Lhist | AggKind::Tseries)
    }
}

impl Type {
    /// The integer a count, sum, min, max or avg map's value reads as in
    /// arithmetic, keys and variables (0.26's castable map types); any
    /// other type as it is.
    pub fn read_as_int(self) -> Type {
        match self {
            Type::Agg(AggKind::Count) => Type::UINT64,
            Type::Agg(k) if k.reads_as_int() => Type::INT64,
            t => t,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// No value: the result of `printf()`, `clear()`, a block without a tail.
    None,
    Int {
        bits: u8,
        signed: bool,
    },
    Bool,
    /// A NUL-terminated string of at most this many bytes.
    Str(u64),
    Buffer(u64),
    Tuple(Vec<Type>),
    Record(Vec<(String, Type)>),
    Pointer(Box<Type>),
    Array(Box<Type>, u64),
    /// `struct name`, `union name`, `enum name` (written with the keyword).
    Struct(String),
    Agg(AggKind),
    Kstack,
    Ustack,
    Ksym,
    Usym,
    Inet,
    Timestamp,
    Username,
    Probe,
    Macaddr,
    /// `usym(addr)`: a user address and the process it is in, named when
    /// printed.
    UserSymbol,
    /// A number known only at run time that prints as its name
    /// (`strerror($e)`, `syscall_name($n)`, `signal_name($s)`).
    NumberName(NumberKind),
    /// A value of a C enum the program defines (`enum E`): an integer that
    /// prints as its variant's name.
    Enum(String),
    CgroupPath,
    /// Decided by the kernel (BTF, tracepoint formats): not checked here.
    Unknown,
}

impl Type {
    pub const INT64: Type = Type::Int { bits: 64, signed: true };
    pub const UINT64: Type = Type::Int { bits: 64, signed: false };
    pub const UINT32: Type = Type::Int { bits: 32, signed: false };

    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int { .. })
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Type::Unknown)
    }

    /// Usable where a number goes: integers, booleans, pointers, and what
    /// the checker cannot see.
    pub fn is_integral(&self) -> bool {
        matches!(self, Type::Int { .. } | Type::Bool | Type::Pointer(_) | Type::Enum(_) | Type::Unknown)
    }

    pub fn is_stringlike(&self) -> bool {
        matches!(self, Type::Str(_) | Type::Unknown)
    }

    /// Usable as a condition (`if`, `?:`, a predicate, `&&`).
    pub fn is_truthy(&self) -> bool {
        self.is_integral() || matches!(self, Type::Agg(k) if k.reads_as_int())
    }

    /// Whether a value of type `other` may go where `self` went before (a
    /// map's or a variable's first type). Integers of any width mix, as
    /// do strings of any length; kernel types are not checked.
    pub fn accepts(&self, other: &Type) -> bool {
        use Type::*;
        match (self, other) {
            (Unknown, _) | (_, Unknown) => true,
            (Int { .. } | Pointer(_), Int { .. } | Pointer(_)) => true,
            (Bool, Bool | Int { .. }) | (Int { .. }, Bool) => true,
            (Str(_), Str(_)) | (Buffer(_), Buffer(_)) => true,
            (Array(a, _), Array(b, _)) => a.accepts(b),
            (Tuple(a), Tuple(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.accepts(y)),
            (Record(a), Record(b)) => {
                a.len() == b.len() && a.iter().all(|(n, t)| b.iter().any(|(m, u)| n == m && t.accepts(u)))
            }
            (a, b) => a == b,
        }
    }

    /// The wider of two accepted types (for a variable or map that sees
    /// both): the larger integer, the longer string.
    pub fn widen(&self, other: &Type) -> Type {
        use Type::*;
        match (self, other) {
            (Unknown, t) | (t, Unknown) => t.clone(),
            // A type that holds every value of both: mixing signs takes a
            // signed type wider than the unsigned one (up to 64 bits).
            (Int { bits: a, signed: sa }, Int { bits: b, signed: sb }) if sa == sb => {
                Int { bits: (*a).max(*b), signed: *sa }
            }
            (Int { bits: a, signed: sa }, Int { bits: b, .. }) => {
                let (unsigned, signed) = if *sa { (*b, *a) } else { (*a, *b) };
                Int { bits: (unsigned * 2).max(signed).min(64), signed: true }
            }
            (Str(a), Str(b)) => Str((*a).max(*b)),
            (Buffer(a), Buffer(b)) => Buffer((*a).max(*b)),
            (Tuple(a), Tuple(b)) if a.len() == b.len() => Tuple(a.iter().zip(b).map(|(x, y)| x.widen(y)).collect()),
            (a, _) => a.clone(),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::None => write!(f, "none"),
            Type::Int { bits, signed } => write!(f, "{}int{bits}", if *signed { "" } else { "u" }),
            Type::Bool => write!(f, "bool"),
            Type::Str(_) => write!(f, "string"),
            Type::Buffer(_) => write!(f, "buffer"),
            Type::Tuple(items) => {
                write!(f, "(")?;
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{t}")?;
                }
                if items.len() == 1 {
                    write!(f, ",")?;
                }
                write!(f, ")")
            }
            Type::Record(fields) => {
                write!(f, "record {{ ")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{n}: {t}")?;
                }
                write!(f, " }}")
            }
            Type::Pointer(t) => write!(f, "{t} *"),
            Type::Array(t, n) => write!(f, "{t}[{n}]"),
            Type::Struct(name) => write!(f, "{name}"),
            Type::Agg(k) => write!(f, "{}_t", k.name()),
            Type::Kstack => write!(f, "kstack_t"),
            Type::Ustack => write!(f, "ustack_t"),
            Type::Ksym => write!(f, "ksym_t"),
            Type::Usym => write!(f, "usym_t"),
            Type::Inet => write!(f, "inet"),
            Type::Timestamp => write!(f, "timestamp"),
            Type::Username => write!(f, "username_t"),
            Type::Probe => write!(f, "probe_t"),
            Type::Macaddr => write!(f, "macaddr_t"),
            Type::Enum(name) => write!(f, "{name}"),
            Type::UserSymbol => write!(f, "usym_t"),
            Type::NumberName(k) => write!(f, "{}_t", k.function()),
            Type::CgroupPath => write!(f, "cgroup_path_t"),
            Type::Unknown => write!(f, "unknown"),
        }
    }
}

/// The type `typeinfo()` describes: an integer literal has the smallest
/// signed type that holds it, as in 0.26.
pub fn typeinfo_operand(operand: &crate::ast::TypeOrExpr, t: &Type) -> Type {
    match operand {
        crate::ast::TypeOrExpr::Expr(e) => literal_type(e, t),
        crate::ast::TypeOrExpr::Type(_) => t.clone(),
    }
}

/// An expression's type with its integer literals (also inside tuple and
/// record literals) as narrow as 0.26 types them.
fn literal_type(e: &crate::ast::Expr, t: &Type) -> Type {
    use crate::ast::ExprKind;
    match (&e.kind, t) {
        (ExprKind::Int(n), _) => match n {
            0..=0x7f => Type::Int { bits: 8, signed: true },
            0x80..=0x7fff => Type::Int { bits: 16, signed: true },
            0x8000..=0x7fff_ffff => Type::Int { bits: 32, signed: true },
            0x8000_0000..=0x7fff_ffff_ffff_ffff => Type::INT64,
            _ => Type::UINT64,
        },
        (ExprKind::Unary { op: crate::ast::UnaryOp::Neg, expr }, _) if matches!(expr.kind, ExprKind::Int(_)) => {
            let ExprKind::Int(n) = expr.kind else { return t.clone() };
            match n {
                0..=0x80 => Type::Int { bits: 8, signed: true },
                0x81..=0x8000 => Type::Int { bits: 16, signed: true },
                0x8001..=0x8000_0000 => Type::Int { bits: 32, signed: true },
                _ => Type::INT64,
            }
        }
        (ExprKind::Tuple(items), Type::Tuple(types)) if items.len() == types.len() => {
            Type::Tuple(items.iter().zip(types).map(|(e, t)| literal_type(e, t)).collect())
        }
        (ExprKind::Record(fields), Type::Record(types)) if fields.len() == types.len() => {
            Type::Record(fields.iter().zip(types).map(|(f, (n, t))| (n.clone(), literal_type(&f.value, t))).collect())
        }
        _ => t.clone(),
    }
}

/// The record `typeinfo()` gives: `btf_id` (0, as 0.26), `base_type` and
/// `full_type`, each string as long as its text.
pub fn typeinfo_record(t: &Type) -> (Type, String, String) {
    let (base, full) = typeinfo_names(t);
    let record = Type::Record(vec![
        ("btf_id".to_string(), Type::Int { bits: 8, signed: true }),
        ("base_type".to_string(), Type::Str(base.len() as u64 + 1)),
        ("full_type".to_string(), Type::Str(full.len() as u64 + 1)),
    ]);
    (record, base, full)
}

/// `typeinfo(x)`'s `base_type` and `full_type`, spelled as bpftrace 0.26
/// spells them (`int`/`uint8`, `string`/`string[4]`, `tuple`/`(int8,string[2])`).
pub fn typeinfo_names(t: &Type) -> (String, String) {
    (typeinfo_base(t), typeinfo_full(t))
}

fn typeinfo_base(t: &Type) -> String {
    let base = match t {
        Type::Int { .. } | Type::Enum(_) => "int",
        Type::Bool => "bool",
        Type::Str(_) | Type::Probe | Type::NumberName(_) => "string",
        Type::Buffer(_) => "buffer",
        Type::Tuple(_) => "tuple",
        Type::Record(_) => "record",
        Type::Pointer(_) => "pointer",
        Type::Array(..) => "array",
        Type::Struct(_) => "c_type",
        Type::Agg(k) => return format!("{}_t", k.name()),
        Type::Kstack => "kstack",
        Type::Ustack => "ustack",
        Type::Ksym => "ksym_t",
        Type::Usym | Type::UserSymbol => "usym_t",
        Type::Inet => "inet",
        Type::Timestamp => "timestamp",
        Type::Username => "username",
        Type::Macaddr => "mac_address",
        Type::CgroupPath => "cgroup_path_t",
        Type::None => "void",
        Type::Unknown => "none",
    };
    base.to_string()
}

fn typeinfo_full(t: &Type) -> String {
    match t {
        Type::Int { bits, signed } => format!("{}int{bits}", if *signed { "" } else { "u" }),
        Type::Str(n) => format!("string[{n}]"),
        Type::Buffer(n) => format!("buffer[{n}]"),
        Type::Inet => "inet[16]".to_string(),
        Type::Tuple(items) => format!("({})", items.iter().map(typeinfo_full).collect::<Vec<_>>().join(",")),
        Type::Record(fields) => format!(
            "record {{ {} }}",
            fields.iter().map(|(n, t)| format!(".{n} = {}", typeinfo_full(t))).collect::<Vec<_>>().join(", ")
        ),
        Type::Pointer(p) => format!("{} *", typeinfo_full(p)),
        Type::Array(e, n) => format!("{}[{n}]", typeinfo_full(e)),
        Type::Probe | Type::NumberName(_) => "string".to_string(),
        Type::Struct(name) | Type::Enum(name) => name.clone(),
        other => typeinfo_base(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_strings_mix_by_width() {
        assert!(Type::INT64.accepts(&Type::UINT32));
        assert!(Type::Str(16).accepts(&Type::Str(64)));
        assert!(!Type::INT64.accepts(&Type::Str(4)));
        assert!(!Type::Agg(AggKind::Count).accepts(&Type::INT64));
        assert_eq!(
            Type::Int { bits: 8, signed: false }.widen(&Type::Int { bits: 32, signed: true }),
            Type::Int { bits: 32, signed: true }
        );
        assert_eq!(Type::Tuple(vec![Type::INT64, Type::Str(16)]).to_string(), "(int64, string)");
    }
}

/// What kind of number a `NumberName` value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberKind {
    Errno,
    Syscall,
    Signal,
}

impl NumberKind {
    /// The function that names numbers of this kind.
    pub fn function(self) -> &'static str {
        match self {
            NumberKind::Errno => "strerror",
            NumberKind::Syscall => "syscall_name",
            NumberKind::Signal => "signal_name",
        }
    }

    pub fn of_function(name: &str) -> Option<NumberKind> {
        [NumberKind::Errno, NumberKind::Syscall, NumberKind::Signal].into_iter().find(|k| k.function() == name)
    }
}
