//! Statements and blocks: scopes, loops, assignments.

use super::*;

impl Checker<'_> {
    /// A block with its own scope; its type is its tail's.
    pub(super) fn block_in_scope(&mut self, b: &Block) -> Type {
        self.scopes.push(HashMap::new());
        for s in &b.stmts {
            self.stmt(s);
        }
        let t = match &b.tail {
            Some(e) => self.expr(e),
            None => Type::None,
        };
        self.scopes.pop();
        t
    }

    // ---- statements ---------------------------------------------------------

    pub(super) fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Expr(e) | StmtKind::Discard(e) => {
                self.expr(e);
            }
            StmtKind::Assign { target, op, value } => self.assign(target, *op, value),
            StmtKind::Let { name, name_span, ty, value } => {
                if self.scopes.last().is_some_and(|sc| sc.contains_key(name)) {
                    self.error(Diagnostic::error(
                        *name_span,
                        format!("Variable ${} was already declared in this scope", user_var_name(name)),
                    ));
                }
                let declared = ty.as_ref().map(|t| self.resolve_type(t));
                let init = value.as_ref().map(|v| (self.value_expr(v), v.span));
                if let (Some(d), Some((v, span))) = (&declared, &init)
                    && !d.accepts(v)
                {
                    self.error(Diagnostic::error(
                        *span,
                        format!(
                            "Type mismatch for ${}: the declared type is '{d}' but the value is '{v}'",
                            user_var_name(name)
                        ),
                    ));
                }
                self.declare_var(name, declared.or(init.map(|(t, _)| t)));
            }
            StmtKind::While { cond, body } => {
                let t = self.expr(cond);
                self.condition(&t, cond.span, "while condition");
                self.loop_body(body);
            }
            StmtKind::Unroll { count, body } => {
                match functions::int_literal(count, &self.options.params) {
                    Some(n) if n > 100 => self.error(Diagnostic::error(count.span, "unroll maximum value is 100")),
                    Some(n) if n < 1 => self.error(Diagnostic::error(count.span, "unroll minimum value is 1")),
                    Some(_) => {}
                    None => {
                        self.error(Diagnostic::error(count.span, "unroll needs an integer literal, as in unroll(5)"))
                    }
                }
                self.block_in_scope(body);
            }
            StmtKind::For { var, var_span, iter, body } => {
                let elem = match iter {
                    ForIter::Map(m) => self.for_map(m),
                    ForIter::Range { start, end } => {
                        for e in [start, end] {
                            let t = self.expr(e);
                            if !t.is_integral() {
                                self.error(Diagnostic::error(
                                    e.span,
                                    format!("a range bound must be an integer, found '{t}'"),
                                ));
                            }
                        }
                        Type::INT64
                    }
                };
                self.scopes.push(HashMap::new());
                if self.lookup_var(var).is_some() {
                    self.error(Diagnostic::error(
                        *var_span,
                        format!("Loop variable ${} shadows a variable of the same name", user_var_name(var)),
                    ));
                }
                self.declare_var(var, Some(elem));
                self.loop_body(body);
                self.scopes.pop();
            }
            StmtKind::Break | StmtKind::Continue => {
                if self.loop_depth == 0 {
                    let word = if matches!(s.kind, StmtKind::Break) { "break" } else { "continue" };
                    self.error(Diagnostic::error(s.span, format!("'{word}' can only be used inside a loop")));
                }
            }
            StmtKind::Return(v) => {
                if let Some(v) = v {
                    let t = self.expr(v);
                    if !t.is_integral() {
                        self.error(Diagnostic::error(
                            v.span,
                            format!("a probe can only return an integer, found '{t}'"),
                        ));
                    }
                }
            }
            StmtKind::Import(i) => self.error(Diagnostic::error(i.span, "imports are not supported yet")),
        }
    }

    pub(super) fn loop_body(&mut self, body: &Block) {
        self.loop_depth += 1;
        self.block_in_scope(body);
        self.loop_depth -= 1;
    }

    pub(super) fn assign(&mut self, target: &Expr, op: Option<BinOp>, value: &Expr) {
        match &target.kind {
            ExprKind::Map(map) => {
                let agg = match &value.kind {
                    ExprKind::Call(c) if op.is_none() => AggKind::from_function(&c.name).map(|k| (k, c)),
                    _ => None,
                };
                let vt = match agg {
                    Some((kind, call)) if let Some(hint) = crate::registry::not_built_hint(kind.name()) => {
                        self.error(
                            Diagnostic::error(
                                call.name_span,
                                format!("{}() is not available in this version of bpfscope yet", kind.name()),
                            )
                            .with_hint(hint),
                        );
                        Type::Unknown
                    }
                    Some((kind, call)) => {
                        self.aggregation_args(kind, call, value.span);
                        if kind == AggKind::Tseries {
                            self.same_tseries_bounds(&map.name, call, value.span);
                        }
                        Type::Agg(kind)
                    }
                    None => {
                        let vt = self.value_expr(value);
                        if let Type::Agg(k) = vt
                            && op.is_none()
                            && matches!(value.kind, ExprKind::Map(_))
                        {
                            self.refuse_agg_copy(k, target.span.to(value.span));
                        }
                        vt
                    }
                };
                let vt = match op {
                    Some(op) => {
                        // A map entry not yet written reads as an int64 0.
                        let cur = match self.map_value(map, target.span) {
                            Type::Unknown => Type::INT64,
                            t => t,
                        };
                        self.binary_type(op, &cur, &vt, target.span.to(value.span))
                    }
                    None => vt,
                };
                self.map_key(map, target.span);
                self.map_store(&map.name, vt, target.span);
            }
            ExprKind::Var(name) => {
                let vt = self.value_expr(value).read_as_int();
                let vt = match op {
                    Some(op) => {
                        let cur = self.var_type(name, target.span);
                        self.binary_type(op, &cur, &vt, target.span.to(value.span))
                    }
                    None => vt,
                };
                self.var_store(name, vt, target.span);
            }
            _ => self.error(Diagnostic::error(target.span, "can only assign to a scratch variable or a map")),
        }
    }

    /// The type of an expression whose value is kept (assigned, passed):
    /// it must have one.
    pub(super) fn value_expr(&mut self, e: &Expr) -> Type {
        let t = self.expr(e);
        self.refuse_unkeepable(&t, e.span);
        if t == Type::None {
            let what = match &e.kind {
                ExprKind::Call(c) => format!("{}() does not return a value", c.name),
                _ => "this expression has no value".to_string(),
            };
            self.error(Diagnostic::error(e.span, what));
            return Type::Unknown;
        }
        t
    }
}
