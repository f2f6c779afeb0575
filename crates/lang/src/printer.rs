//! `-d ast`: the syntax tree as an indented outline, in the shape bpftrace's
//! own `-d` output has (one node per line, one space of indent per level).

use std::fmt::Write as _;

use crate::ast::*;
use crate::builtins;

pub fn print_program(p: &Program) -> String {
    let mut w = Printer { out: String::new() };
    w.line(0, "Program");
    for item in &p.c_items {
        match item {
            CItem::Include { path, .. } => w.line(1, &format!("#include <{path}>")),
            CItem::Define(d) => w.line(1, &format!("#define {} {}", d.name, d.body)),
            CItem::Struct(s) => w.c_struct(1, s),
            CItem::Enum(e) => {
                w.line(1, &format!("enum {}", e.name));
                for v in &e.variants {
                    w.line(2, &format!("{} = {}", v.name, v.value));
                }
            }
            CItem::Typedef(t) => w.line(1, &format!("typedef {} {}", type_name(&t.ty), t.name)),
        }
    }
    if let Some(c) = &p.config {
        w.line(1, "config");
        for e in &c.entries {
            let v = match &e.value {
                ConfigValue::Int(n) => n.to_string(),
                ConfigValue::Str(s) => format!("{s:?}"),
                ConfigValue::Bool(b) => b.to_string(),
                ConfigValue::Ident(i) => i.clone(),
            };
            w.line(2, &format!("{} = {v}", e.key));
        }
    }
    for i in &p.imports {
        w.line(1, &format!("import {:?}", i.path));
    }
    for d in &p.map_decls {
        w.line(1, &format!("map decl: @{} = {}({})", d.name, d.kind, d.max_entries));
    }
    for m in &p.macros {
        let params: Vec<String> = m
            .params
            .iter()
            .map(|p| match p.kind {
                MacroParamKind::Var => format!("${}", p.name),
                MacroParamKind::Map => format!("@{}", p.name),
                MacroParamKind::Expr => p.name.clone(),
            })
            .collect();
        w.line(1, &format!("macro: {}({})", m.name, params.join(", ")));
        w.block(2, &m.body);
    }
    for s in &p.subprogs {
        w.line(1, &format!("fn: {}", s.name));
        for (name, ty, _) in &s.params {
            w.line(2, &format!("${name}: {}", type_name(ty)));
        }
        w.block(2, &s.body);
    }
    for probe in &p.probes {
        let names: Vec<String> = probe.attach_points.iter().map(|a| a.canonical()).collect();
        w.line(1, &names.join(","));
        if let Some(pred) = &probe.predicate {
            w.line(2, "pred");
            w.expr(3, pred);
        }
        w.block(2, &probe.body);
    }
    w.out
}

pub fn type_name(t: &TypeSpec) -> String {
    let mut s = match &t.base {
        BaseType::Int { bits, signed } => format!("{}int{bits}", if *signed { "" } else { "u" }),
        BaseType::Bool => "bool".into(),
        BaseType::Void => "void".into(),
        BaseType::String(n) => sized("string", *n),
        BaseType::Buffer(n) => sized("buffer", *n),
        BaseType::Inet(n) => sized("inet", *n),
        BaseType::Builtin(n) | BaseType::Named(n) => n.clone(),
        BaseType::Composite { kind, name } => format!("{} {name}", kind.keyword()),
        BaseType::Typeof(inner) => match inner.as_ref() {
            TypeOrExpr::Type(t) => format!("typeof({})", type_name(t)),
            TypeOrExpr::Expr(_) => "typeof(...)".into(),
        },
    };
    for suffix in &t.suffixes {
        match suffix {
            TypeSuffix::Pointer => s.push_str(" *"),
            TypeSuffix::Array(Some(n)) => {
                let _ = write!(s, "[{n}]");
            }
            TypeSuffix::Array(None) => s.push_str("[]"),
        }
    }
    s
}

fn sized(name: &str, n: Option<u64>) -> String {
    n.map_or_else(|| name.to_string(), |n| format!("{name}[{n}]"))
}

struct Printer {
    out: String,
}

impl Printer {
    fn line(&mut self, depth: usize, text: &str) {
        self.out.push_str(&" ".repeat(depth));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn c_struct(&mut self, depth: usize, s: &CStruct) {
        self.line(depth, &format!("{} {}", s.kind.keyword(), s.name));
        for f in &s.fields {
            match &f.ty {
                CFieldType::Type(t) => self.line(depth + 1, &format!("{} {}", type_name(t), f.name)),
                CFieldType::Anonymous(inner, _) => {
                    self.c_struct(depth + 1, inner);
                    if !f.name.is_empty() {
                        self.line(depth + 2, &format!("as {}", f.name));
                    }
                }
            }
        }
    }

    fn block(&mut self, depth: usize, b: &Block) {
        for s in &b.stmts {
            self.stmt(depth, s);
        }
        if let Some(t) = &b.tail {
            self.expr(depth, t);
        }
    }

    fn stmt(&mut self, d: usize, s: &Stmt) {
        match &s.kind {
            StmtKind::Expr(e) => self.expr(d, e),
            StmtKind::Assign { target, op, value } => {
                self.line(d, &op.map_or_else(|| "=".to_string(), |op| format!("{}=", op.symbol())));
                self.expr(d + 1, target);
                self.expr(d + 1, value);
            }
            StmtKind::Let { name, ty, value, .. } => {
                let ty = ty.as_ref().map(|t| format!(" : {}", type_name(t))).unwrap_or_default();
                self.line(d, &format!("let ${name}{ty}"));
                if let Some(v) = value {
                    self.expr(d + 1, v);
                }
            }
            StmtKind::Discard(e) => {
                self.line(d, "_ =");
                self.expr(d + 1, e);
            }
            StmtKind::While { cond, body } => {
                self.line(d, "while");
                self.expr(d + 1, cond);
                self.line(d + 1, "do");
                self.block(d + 2, body);
            }
            StmtKind::Unroll { count, body } => {
                self.line(d, "unroll");
                self.expr(d + 1, count);
                self.line(d + 1, "do");
                self.block(d + 2, body);
            }
            StmtKind::For { var, iter, body, .. } => {
                self.line(d, "for");
                self.line(d + 1, &format!("variable: ${var}"));
                match iter {
                    ForIter::Map(m) => self.expr(d + 1, m),
                    ForIter::Range { start, end } => {
                        self.line(d + 1, "range");
                        self.expr(d + 2, start);
                        self.expr(d + 2, end);
                    }
                }
                self.line(d + 1, "stmts");
                self.block(d + 2, body);
            }
            StmtKind::Break => self.line(d, "break"),
            StmtKind::Continue => self.line(d, "continue"),
            StmtKind::Return(v) => {
                self.line(d, "return");
                if let Some(v) = v {
                    self.expr(d + 1, v);
                }
            }
            StmtKind::Import(i) => self.line(d, &format!("import {:?}", i.path)),
        }
    }

    fn expr(&mut self, d: usize, e: &Expr) {
        crate::parser::grow(|| self.expr_inner(d, e));
    }

    fn expr_inner(&mut self, d: usize, e: &Expr) {
        match &e.kind {
            ExprKind::Int(n) => self.line(d, &format!("int: {n}")),
            ExprKind::Bool(b) => self.line(d, &format!("bool: {b}")),
            ExprKind::Str(s) => self.line(d, &format!("string: {}", escape(s))),
            ExprKind::Param(n) => self.line(d, &format!("param: ${n}")),
            ExprKind::ParamCount => self.line(d, "param: $#"),
            ExprKind::Var(v) => self.line(d, &format!("variable: ${v}")),
            ExprKind::Map(m) => {
                self.line(d, &format!("map: @{}", m.name));
                for k in m.keys.iter().flatten() {
                    self.expr(d + 1, k);
                }
            }
            ExprKind::Ident(n) if builtins::is_builtin_variable(n) => self.line(d, &format!("builtin: {n}")),
            ExprKind::Ident(n) => self.line(d, &format!("identifier: {n}")),
            ExprKind::Call(c) => {
                self.line(d, &format!("call: {}{}", c.name, if c.bang { "!" } else { "" }));
                for a in &c.args {
                    self.expr(d + 1, a);
                }
            }
            ExprKind::Unary { op, expr } => {
                self.line(d, op.symbol());
                self.expr(d + 1, expr);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.line(d, op.symbol());
                self.expr(d + 1, lhs);
                self.expr(d + 1, rhs);
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                self.line(d, "?:");
                self.expr(d + 1, cond);
                if let Some(t) = then {
                    self.expr(d + 1, t);
                }
                self.expr(d + 1, otherwise);
            }
            ExprKind::IncDec { target, inc, prefix } => {
                let op = if *inc { "++" } else { "--" };
                self.line(d, &if *prefix { format!("{op} (pre)") } else { format!("{op} (post)") });
                self.expr(d + 1, target);
            }
            ExprKind::Field { base, field, arrow, .. } => {
                self.line(d, if *arrow { "->" } else { "." });
                self.expr(d + 1, base);
                self.line(d + 1, field);
            }
            ExprKind::TupleIndex { base, index } => {
                self.line(d, ".");
                self.expr(d + 1, base);
                self.line(d + 1, &index.to_string());
            }
            ExprKind::Index { base, index } => {
                self.line(d, "[]");
                self.expr(d + 1, base);
                self.expr(d + 1, index);
            }
            ExprKind::Cast { ty, expr } => {
                self.line(d, &format!("({})", type_name(ty)));
                self.expr(d + 1, expr);
            }
            ExprKind::Tuple(items) => {
                self.line(d, "tuple:");
                for i in items {
                    self.expr(d + 1, i);
                }
            }
            ExprKind::Record(fields) => {
                self.line(d, "record:");
                for f in fields {
                    self.line(d + 1, &format!("{} =", f.name));
                    self.expr(d + 2, &f.value);
                }
            }
            ExprKind::Sizeof(t) => self.type_or_expr(d, "sizeof", t),
            ExprKind::Typeinfo(t) => self.type_or_expr(d, "typeinfo", t),
            ExprKind::Offsetof { target, fields } => {
                self.type_or_expr(d, "offsetof", target);
                self.line(d + 1, &fields.join("."));
            }
            ExprKind::Block(b) => {
                self.line(d, "block");
                self.block(d + 1, b);
            }
            ExprKind::If(i) => {
                self.line(d, "if");
                self.expr(d + 1, &i.cond);
                self.line(d + 1, "then");
                self.block(d + 2, &i.then);
                if let Some(o) = &i.otherwise {
                    self.line(d + 1, "else");
                    match &o.kind {
                        ExprKind::Block(b) => self.block(d + 2, b),
                        _ => self.expr(d + 2, o),
                    }
                }
            }
            ExprKind::Comptime(e) => {
                self.line(d, "comptime");
                self.expr(d + 1, e);
            }
            ExprKind::TypeArg(t) => self.line(d, &format!("type: {}", type_name(t))),
        }
    }

    fn type_or_expr(&mut self, d: usize, name: &str, t: &TypeOrExpr) {
        match t {
            TypeOrExpr::Type(ty) => self.line(d, &format!("{name}: {}", type_name(ty))),
            TypeOrExpr::Expr(e) => {
                self.line(d, &format!("{name}:"));
                self.expr(d + 1, e);
            }
        }
    }
}

/// A string literal the way it would be written in the program.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}
