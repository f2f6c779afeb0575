//! The syntax tree. Every node carries the span of the text it came from,
//! so that every later stage can point back into the user's program.

use crate::attach::AttachPoint;
use crate::source::Span;

/// A whole program: its sections in the order bpftrace requires them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// The `#!` line, if any.
    pub shebang: Option<Span>,
    /// `#include`, `#define` (after evaluating `#if`/`#ifdef`), and C
    /// `struct`/`union`/`enum` definitions.
    pub c_items: Vec<CItem>,
    pub config: Option<Config>,
    pub imports: Vec<Import>,
    pub map_decls: Vec<MapDecl>,
    pub macros: Vec<MacroDef>,
    pub subprogs: Vec<Subprog>,
    /// Probes in declaration order (BEGIN and END run in this order).
    pub probes: Vec<Probe>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CItem {
    Include { path: String, span: Span },
    Define(Define),
    Struct(CStruct),
    Enum(CEnum),
    Typedef(CTypedef),
}

/// `typedef TYPE NAME;` from a C header.
#[derive(Clone, Debug, PartialEq)]
pub struct CTypedef {
    pub name: String,
    pub ty: TypeSpec,
    pub span: Span,
}

/// What typedef `name` stands for, through chains of typedefs (`None`
/// if the C items do not define it, or its chain loops). The result's
/// base is not a typedef of these items.
pub fn typedef_target(items: &[CItem], name: &str) -> Option<TypeSpec> {
    let find = |n: &str| {
        items.iter().rev().find_map(|i| match i {
            CItem::Typedef(t) if t.name == n => Some(&t.ty),
            _ => None,
        })
    };
    let mut t = find(name)?.clone();
    for _ in 0..32 {
        let BaseType::Named(n) = &t.base else { return Some(t) };
        let Some(next) = find(n) else { return Some(t) };
        let mut deeper = next.clone();
        deeper.suffixes.extend(t.suffixes);
        t = deeper;
    }
    None
}

/// A `#define NAME body` or `#define NAME(a, b) body` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Define {
    pub name: String,
    pub params: Option<Vec<String>>,
    pub body: String,
    pub body_span: Span,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompositeKind {
    Struct,
    Union,
    Enum,
}

impl CompositeKind {
    pub fn keyword(self) -> &'static str {
        match self {
            CompositeKind::Struct => "struct",
            CompositeKind::Union => "union",
            CompositeKind::Enum => "enum",
        }
    }
}

/// A C `struct` or `union` definition written in the program.
#[derive(Clone, Debug, PartialEq)]
pub struct CStruct {
    pub kind: CompositeKind,
    /// Empty for an anonymous struct nested in another.
    pub name: String,
    pub fields: Vec<CField>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CField {
    /// The field's type, or its anonymous nested struct.
    pub ty: CFieldType,
    /// Empty for an anonymous struct or union member.
    pub name: String,
    pub bitfield: Option<u32>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CFieldType {
    Type(TypeSpec),
    Anonymous(Box<CStruct>, Vec<TypeSuffix>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CEnum {
    pub name: String,
    pub variants: Vec<CEnumVariant>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CEnumVariant {
    pub name: String,
    pub value: i64,
    pub span: Span,
}

/// `config = { key = value; ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub entries: Vec<ConfigEntry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigEntry {
    pub key: String,
    pub key_span: Span,
    pub value: ConfigValue,
    pub value_span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigValue {
    Int(u64),
    Str(String),
    Bool(bool),
    Ident(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub path: String,
    pub span: Span,
}

/// `let @name = hash(100);`
#[derive(Clone, Debug, PartialEq)]
pub struct MapDecl {
    pub name: String,
    pub name_span: Span,
    pub kind: String,
    pub kind_span: Span,
    pub max_entries: u64,
    pub span: Span,
}

/// `macro name($var, @map, expr) { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct MacroDef {
    pub name: String,
    pub name_span: Span,
    pub params: Vec<MacroParam>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MacroParam {
    pub kind: MacroParamKind,
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacroParamKind {
    /// `$a`: the caller passes a scratch variable.
    Var,
    /// `@a`: the caller passes a map.
    Map,
    /// `a`: the caller passes any expression.
    Expr,
}

/// `fn name($a: type, ...): type { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Subprog {
    pub name: String,
    pub name_span: Span,
    pub params: Vec<(String, TypeSpec, Span)>,
    pub ret: Option<TypeSpec>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub attach_points: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Block,
    /// The attach points' text.
    pub span: Span,
}

/// `{ stmt; stmt; tail }`: a block, an expression when it has a tail.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub tail: Option<Box<Expr>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Expr(Expr),
    /// `target = value` or, with `op`, `target op= value`. The target is a
    /// variable or a map (possibly keyed).
    Assign {
        target: Expr,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `let $name[: type] [= value]`
    Let {
        name: String,
        name_span: Span,
        ty: Option<TypeSpec>,
        value: Option<Expr>,
    },
    /// `_ = expr`
    Discard(Expr),
    While {
        cond: Expr,
        body: Block,
    },
    Unroll {
        count: Expr,
        body: Block,
    },
    For {
        var: String,
        var_span: Span,
        iter: ForIter,
        body: Block,
    },
    Break,
    Continue,
    Return(Option<Expr>),
    Import(Import),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ForIter {
    /// `for ($kv : @map)`
    Map(Expr),
    /// `for ($i : start..end)`
    Range { start: Expr, end: Expr },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// Numbers every expression once macros are expanded, so that later
    /// stages can look up what the checker learned about it.
    pub id: ExprId,
}

/// An expression's number in a checked program (0 before checking).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(u64),
    Bool(bool),
    Str(Vec<u8>),
    /// `$1`, `$2`, ...
    Param(u64),
    /// `$#`
    ParamCount,
    /// `$name`
    Var(String),
    /// `@name` or `@name[k1, k2]`
    Map(MapRef),
    /// A bare identifier: a builtin (`pid`), a macro without arguments, a
    /// `#define` or an enum constant. Resolved by the checker.
    Ident(String),
    Call(Call),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `cond ? a : b`, or `cond ?: b` (then `then` is `None`).
    Ternary {
        cond: Box<Expr>,
        then: Option<Box<Expr>>,
        otherwise: Box<Expr>,
    },
    IncDec {
        target: Box<Expr>,
        inc: bool,
        prefix: bool,
    },
    /// `base.field` or `base->field`.
    Field {
        base: Box<Expr>,
        field: String,
        field_span: Span,
        arrow: bool,
    },
    /// `base.0`
    TupleIndex {
        base: Box<Expr>,
        index: u64,
    },
    /// `base[index]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Cast {
        ty: TypeSpec,
        expr: Box<Expr>,
    },
    Tuple(Vec<Expr>),
    /// `(name = expr, ...)`
    Record(Vec<RecordField>),
    Sizeof(Box<TypeOrExpr>),
    Offsetof {
        target: Box<TypeOrExpr>,
        fields: Vec<String>,
    },
    Typeinfo(Box<TypeOrExpr>),
    Block(Block),
    If(IfExpr),
    Comptime(Box<Expr>),
    /// `typeof(...)` where a value goes: a type passed to a macro.
    TypeArg(TypeSpec),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordField {
    pub name: String,
    pub name_span: Span,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapRef {
    pub name: String,
    pub name_span: Span,
    /// `None` for `@name`; `Some` for `@name[...]` (one key, or several
    /// that form a tuple key).
    pub keys: Option<Vec<Expr>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: String,
    pub name_span: Span,
    pub args: Vec<Expr>,
    /// Written `name!(...)` (explicit macro call).
    pub bang: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IfExpr {
    pub cond: Box<Expr>,
    pub then: Block,
    /// A block, or another `if` for `else if`.
    pub otherwise: Option<Box<Expr>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeOrExpr {
    Type(TypeSpec),
    Expr(Expr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
    BitNot,
    Deref,
    AddrOf,
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
            UnaryOp::BitNot => "~",
            UnaryOp::Deref => "*",
            UnaryOp::AddrOf => "&",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "&&",
            Or => "||",
        }
    }

    /// C precedence, higher binds tighter.
    pub fn precedence(self) -> u8 {
        use BinOp::*;
        match self {
            Or => 1,
            And => 2,
            BitOr => 3,
            BitXor => 4,
            BitAnd => 5,
            Eq | Ne => 6,
            Lt | Le | Gt | Ge => 7,
            Shl | Shr => 8,
            Add | Sub => 9,
            Mul | Div | Mod => 10,
        }
    }

    pub fn is_comparison(self) -> bool {
        use BinOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }

    pub fn is_logical(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or)
    }
}

/// A type as written: a base and then `*` and `[N]` suffixes, read left to
/// right (`int32*[4]` is an array of four pointers).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeSpec {
    pub base: BaseType,
    pub suffixes: Vec<TypeSuffix>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BaseType {
    Int {
        bits: u8,
        signed: bool,
    },
    Bool,
    Void,
    String(Option<u64>),
    Buffer(Option<u64>),
    Inet(Option<u64>),
    /// A builtin type name such as `count_t`, `ksym_t`, `timestamp`.
    Builtin(String),
    /// `struct X`, `union X`, `enum X`
    Composite {
        kind: CompositeKind,
        name: String,
    },
    /// Another identifier: a typedef the kernel's BTF may know (`size_t`).
    Named(String),
    Typeof(Box<TypeOrExpr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeSuffix {
    Pointer,
    /// `[N]`, or `[]` with the size taken from the value cast.
    Array(Option<u64>),
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span, id: ExprId::default() }
    }
}

impl Block {
    pub fn empty(span: Span) -> Block {
        Block { stmts: Vec::new(), tail: None, span }
    }
}
