//! Walks over the syntax tree: a visitor overrides the hooks it needs and
//! calls the `walk_*` functions to descend. [`VisitMut`] may change what
//! it visits; [`read::Visit`] only reads it (no copy of a probe needed).
//! Both are made from one definition, so they descend alike.

use crate::ast::*;
use crate::source::Span;

macro_rules! visitor {
    ($Visit:ident $(, $m:tt)?) => {
        pub trait $Visit {
            fn expr(&mut self, e: &$($m)? Expr) {
                walk_expr(self, e);
            }

            fn stmt(&mut self, s: &$($m)? Stmt) {
                walk_stmt(self, s);
            }

            /// A scratch variable's name where it is used or declared.
            fn var_name(&mut self, _name: &$($m)? String, _span: Span) {}

            /// A map's name where it is used.
            fn map_name(&mut self, _name: &$($m)? String, _span: Span) {}
        }

        pub fn walk_block<V: $Visit + ?Sized>(v: &mut V, b: &$($m)? Block) {
            for s in &$($m)? b.stmts {
                v.stmt(s);
            }
            if let Some(t) = &$($m)? b.tail {
                v.expr(t);
            }
        }

        pub fn walk_stmt<V: $Visit + ?Sized>(v: &mut V, s: &$($m)? Stmt) {
            match &$($m)? s.kind {
                StmtKind::Expr(e) | StmtKind::Discard(e) => v.expr(e),
                StmtKind::Return(e) => {
                    if let Some(e) = e {
                        v.expr(e);
                    }
                }
                StmtKind::Assign { target, value, .. } => {
                    v.expr(target);
                    v.expr(value);
                }
                StmtKind::Let { name, name_span, value, .. } => {
                    v.var_name(name, *name_span);
                    if let Some(e) = value {
                        v.expr(e);
                    }
                }
                StmtKind::While { cond, body } => {
                    v.expr(cond);
                    walk_block(v, body);
                }
                StmtKind::Unroll { count, body } => {
                    v.expr(count);
                    walk_block(v, body);
                }
                StmtKind::For { var, var_span, iter, body } => {
                    match iter {
                        ForIter::Map(m) => v.expr(m),
                        ForIter::Range { start, end } => {
                            v.expr(start);
                            v.expr(end);
                        }
                    }
                    v.var_name(var, *var_span);
                    walk_block(v, body);
                }
                StmtKind::Break | StmtKind::Continue | StmtKind::Import(_) => {}
            }
        }

        pub fn walk_expr<V: $Visit + ?Sized>(v: &mut V, e: &$($m)? Expr) {
            let span = e.span;
            match &$($m)? e.kind {
                ExprKind::Int(_)
                | ExprKind::Bool(_)
                | ExprKind::Str(_)
                | ExprKind::Param(_)
                | ExprKind::ParamCount
                | ExprKind::Ident(_)
                | ExprKind::TypeArg(_) => {}
                ExprKind::Var(name) => v.var_name(name, span),
                ExprKind::Map(m) => {
                    v.map_name(&$($m)? m.name, m.name_span);
                    for k in (&$($m)? m.keys).into_iter().flatten() {
                        v.expr(k);
                    }
                }
                ExprKind::Call(c) => {
                    for a in &$($m)? c.args {
                        v.expr(a);
                    }
                }
                ExprKind::Unary { expr, .. } | ExprKind::Comptime(expr) => v.expr(expr),
                ExprKind::Binary { lhs, rhs, .. } => {
                    v.expr(lhs);
                    v.expr(rhs);
                }
                ExprKind::Ternary { cond, then, otherwise } => {
                    v.expr(cond);
                    if let Some(t) = then {
                        v.expr(t);
                    }
                    v.expr(otherwise);
                }
                ExprKind::IncDec { target, .. } => v.expr(target),
                ExprKind::Field { base, .. } | ExprKind::TupleIndex { base, .. } => v.expr(base),
                ExprKind::Index { base, index } => {
                    v.expr(base);
                    v.expr(index);
                }
                ExprKind::Cast { expr, .. } => v.expr(expr),
                ExprKind::Tuple(items) => {
                    for i in items {
                        v.expr(i);
                    }
                }
                ExprKind::Record(fields) => {
                    for f in fields {
                        v.expr(&$($m)? f.value);
                    }
                }
                ExprKind::Sizeof(t) | ExprKind::Typeinfo(t) | ExprKind::Offsetof { target: t, .. } => {
                    if let TypeOrExpr::Expr(e) = &$($m)? **t {
                        v.expr(e);
                    }
                }
                ExprKind::Block(b) => walk_block(v, b),
                ExprKind::If(i) => {
                    v.expr(&$($m)? i.cond);
                    walk_block(v, &$($m)? i.then);
                    if let Some(o) = &$($m)? i.otherwise {
                        v.expr(o);
                    }
                }
            }
        }
    };
}

visitor!(VisitMut, mut);

/// The read-only visitor.
pub mod read {
    use super::*;

    visitor!(Visit);
}
