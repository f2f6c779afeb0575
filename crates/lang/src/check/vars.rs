//! Scratch variables: scopes, declarations, and the types they settle on.

use super::*;

impl Checker<'_> {
    // ---- scopes -----------------------------------------------------------

    pub(super) fn lookup_var(&self, name: &str) -> Option<&Var> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    pub(super) fn lookup_var_mut(&mut self, name: &str) -> Option<&mut Var> {
        self.scopes.iter_mut().rev().find_map(|s| s.get_mut(name))
    }

    pub(super) fn declare_var(&mut self, name: &str, ty: Option<Type>) {
        let ty = ty.map(|t| self.settled_type(name, t));
        if let Some(t) = &ty {
            self.note_var(name, t);
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_string(), Var { ty });
        }
    }

    /// An integer variable's type: the widest it takes in the probe, once
    /// the first walk has found it.
    pub(super) fn settled_type(&self, name: &str, t: Type) -> Type {
        match (self.known_vars.get(self.probe_index).and_then(|v| v.get(name)), &t) {
            (Some(known @ Type::Int { .. }), Type::Int { .. }) => known.widen(&t),
            _ => t,
        }
    }

    /// Remembers the widest type a probe's variable takes.
    pub(super) fn note_var(&mut self, name: &str, t: &Type) {
        if let Some(vars) = self.vars.get_mut(self.probe_index) {
            let entry = vars.entry(name.to_string()).or_insert_with(|| t.clone());
            *entry = entry.widen(t);
        }
    }

    pub(super) fn var_type(&mut self, name: &str, span: Span) -> Type {
        match self.lookup_var(name) {
            Some(v) => v.ty.clone().unwrap_or(Type::Unknown),
            None => {
                self.undefined_var(name, span);
                Type::Unknown
            }
        }
    }

    pub(super) fn undefined_var(&mut self, name: &str, span: Span) {
        let shown = user_var_name(name);
        let mut d = Diagnostic::error(span, format!("Undefined or undeclared variable: ${shown}"));
        if name.contains(expand::HYGIENE_MARK) {
            d = d.with_hint("a macro only sees the scratch variables passed to it as $parameters");
        } else {
            d = d.with_hint("assign it first; a variable assigned inside a block ends with the block (declare it before with 'let')");
        }
        self.error(d);
    }

    pub(super) fn var_store(&mut self, name: &str, vt: Type, span: Span) {
        self.note_var(name, &vt);
        let reporting = self.reporting;
        match self.lookup_var_mut(name) {
            Some(var) => match &var.ty {
                Some(cur) if !cur.accepts(&vt) => {
                    let msg = format!(
                        "Type mismatch for ${}: trying to assign value of type '{vt}' when variable already contains a value of type '{cur}'",
                        user_var_name(name)
                    );
                    if reporting {
                        self.diags.push(Diagnostic::error(span, msg));
                    }
                }
                Some(cur) => var.ty = Some(cur.widen(&vt)),
                None => var.ty = Some(vt),
            },
            None => self.declare_var(name, Some(vt)),
        }
    }
}
