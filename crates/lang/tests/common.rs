//! Helpers shared by the front end's integration tests.
#![allow(dead_code)]

use bpfscope_lang::ast::*;
use bpfscope_lang::check::{CheckOptions, CheckedProgram, check};
use bpfscope_lang::printer::type_name;
use bpfscope_lang::{Diagnostics, ParseOptions, Source, parse};

pub fn parse_ok(text: &str) -> Program {
    let src = Source::new("stdin", text);
    parse(&src, &ParseOptions::with_btf(vec![])).unwrap_or_else(|d| panic!("parse failed:\n{}", d.render(&src)))
}

/// The rendered error for a program that must not parse.
pub fn parse_err(text: &str) -> String {
    let src = Source::new("stdin", text);
    match parse(&src, &ParseOptions::with_btf(vec![])) {
        Ok(_) => panic!("parsed but should not have: {text}"),
        Err(d) => d.render(&src),
    }
}

pub fn check_with(text: &str, options: &CheckOptions) -> Result<CheckedProgram, String> {
    let src = Source::new("stdin", text);
    let program = parse(&src, &ParseOptions::with_btf(options.params.clone())).map_err(|d| d.render(&src))?;
    check(program, &src, options).map_err(|d: Diagnostics| d.render(&src))
}

pub fn check_ok(text: &str) -> CheckedProgram {
    check_with(text, &CheckOptions::default()).unwrap_or_else(|e| panic!("check failed:\n{e}"))
}

/// The rendered errors of a program that must not pass the checks.
pub fn check_err(text: &str) -> String {
    check_err_with(text, &CheckOptions::default())
}

pub fn check_err_with(text: &str, options: &CheckOptions) -> String {
    match check_with(text, options) {
        Ok(_) => panic!("checked but should not have: {text}"),
        Err(e) => e,
    }
}

/// The first probe's statements as s-expressions, one per statement.
pub fn stmts(text: &str) -> Vec<String> {
    let p = parse_ok(text);
    block(&p.probes[0].body)
}

/// The expression of `BEGIN { EXPR; }` as an s-expression.
pub fn sx(expr: &str) -> String {
    let v = stmts(&format!("BEGIN {{ {expr}; }}"));
    assert_eq!(v.len(), 1, "one statement in {expr}");
    v[0].clone()
}

pub fn block(b: &Block) -> Vec<String> {
    let mut v: Vec<String> = b.stmts.iter().map(stmt).collect();
    if let Some(t) = &b.tail {
        v.push(format!("(tail {})", expr(t)));
    }
    v
}

fn block_sx(b: &Block) -> String {
    format!("{{{}}}", block(b).join(" "))
}

pub fn stmt(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Expr(e) => expr(e),
        StmtKind::Assign { target, op: None, value } => format!("(= {} {})", expr(target), expr(value)),
        StmtKind::Assign { target, op: Some(op), value } => {
            format!("({}= {} {})", op.symbol(), expr(target), expr(value))
        }
        StmtKind::Let { name, ty, value, .. } => {
            let mut s = format!("(let ${name}");
            if let Some(t) = ty {
                s.push_str(&format!(" : {}", type_name(t)));
            }
            if let Some(v) = value {
                s.push_str(&format!(" {}", expr(v)));
            }
            s + ")"
        }
        StmtKind::Discard(e) => format!("(_ {})", expr(e)),
        StmtKind::While { cond, body } => format!("(while {} {})", expr(cond), block_sx(body)),
        StmtKind::Unroll { count, body } => format!("(unroll {} {})", expr(count), block_sx(body)),
        StmtKind::For { var, iter: ForIter::Map(m), body, .. } => {
            format!("(for ${var} {} {})", expr(m), block_sx(body))
        }
        StmtKind::For { var, iter: ForIter::Range { start, end }, body, .. } => {
            format!("(for ${var} (.. {} {}) {})", expr(start), expr(end), block_sx(body))
        }
        StmtKind::Break => "break".into(),
        StmtKind::Continue => "continue".into(),
        StmtKind::Return(None) => "return".into(),
        StmtKind::Return(Some(e)) => format!("(return {})", expr(e)),
        StmtKind::Import(i) => format!("(import {:?})", i.path),
    }
}

pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{:?}", String::from_utf8_lossy(s)),
        ExprKind::Param(n) => format!("${n}"),
        ExprKind::ParamCount => "$#".into(),
        ExprKind::Var(v) => format!("${v}"),
        ExprKind::Map(m) => match &m.keys {
            None => format!("@{}", m.name),
            Some(k) => format!("@{}[{}]", m.name, k.iter().map(expr).collect::<Vec<_>>().join(", ")),
        },
        ExprKind::Ident(i) => i.clone(),
        ExprKind::Call(c) => {
            let args: Vec<String> = c.args.iter().map(expr).collect();
            format!("{}{}({})", c.name, if c.bang { "!" } else { "" }, args.join(", "))
        }
        ExprKind::Unary { op, expr: x } => format!("({} {})", op.symbol(), expr(x)),
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), expr(lhs), expr(rhs)),
        ExprKind::Ternary { cond, then: Some(t), otherwise } => {
            format!("(? {} {} {})", expr(cond), expr(t), expr(otherwise))
        }
        ExprKind::Ternary { cond, then: None, otherwise } => format!("(?: {} {})", expr(cond), expr(otherwise)),
        ExprKind::IncDec { target, inc, prefix } => {
            let op = if *inc { "++" } else { "--" };
            if *prefix { format!("({op}pre {})", expr(target)) } else { format!("({op}post {})", expr(target)) }
        }
        ExprKind::Field { base, field, arrow, .. } => {
            format!("({} {} {field})", if *arrow { "->" } else { "." }, expr(base))
        }
        ExprKind::TupleIndex { base, index } => format!("(. {} {index})", expr(base)),
        ExprKind::Index { base, index } => format!("([] {} {})", expr(base), expr(index)),
        ExprKind::Cast { ty, expr: x } => format!("(cast {} {})", type_name(ty), expr(x)),
        ExprKind::Tuple(items) => format!("(tuple {})", items.iter().map(expr).collect::<Vec<_>>().join(" ")),
        ExprKind::Record(fields) => {
            format!(
                "(record {})",
                fields.iter().map(|f| format!("{}={}", f.name, expr(&f.value))).collect::<Vec<_>>().join(" ")
            )
        }
        ExprKind::Sizeof(t) => format!("(sizeof {})", type_or_expr(t)),
        ExprKind::Typeinfo(t) => format!("(typeinfo {})", type_or_expr(t)),
        ExprKind::Offsetof { target, fields } => format!("(offsetof {} {})", type_or_expr(target), fields.join(".")),
        ExprKind::Block(b) => block_sx(b),
        ExprKind::If(i) => match &i.otherwise {
            None => format!("(if {} {})", expr(&i.cond), block_sx(&i.then)),
            Some(o) => format!("(if {} {} {})", expr(&i.cond), block_sx(&i.then), expr(o)),
        },
        ExprKind::Comptime(x) => format!("(comptime {})", expr(x)),
        ExprKind::TypeArg(t) => format!("(type {})", type_name(t)),
    }
}

fn type_or_expr(t: &TypeOrExpr) -> String {
    match t {
        TypeOrExpr::Type(ty) => format!("type:{}", type_name(ty)),
        TypeOrExpr::Expr(e) => expr(e),
    }
}
