//! Maps: keys and values agreeing across probes, loops over maps, aggregations kept in maps.

use super::*;

impl Checker<'_> {
    pub(super) fn for_map(&mut self, m: &Expr) -> Type {
        let ExprKind::Map(map) = &m.kind else { return Type::Unknown };
        let state = self.map_state(&map.name, m.span);
        let (written, key, value) = (state.written, state.key.clone(), state.value.clone().unwrap_or(Type::Unknown));
        if !written {
            self.error(
                Diagnostic::error(m.span, format!("Undefined map: @{}", map.name))
                    .with_hint("no probe assigns this map a value"),
            );
        }
        if let Type::Agg(k) = &value {
            self.error(
                Diagnostic::error(
                    m.span,
                    format!("iterating over a map of {}() values is not supported yet", k.name()),
                )
                .with_hint("copy the values into a map of plain integers to iterate over it"),
            );
        }
        match key {
            Some(Some(key)) => Type::Tuple(vec![key, value]),
            Some(None) => {
                self.error(Diagnostic::error(
                    m.span,
                    format!("@{} has no keys: only maps with keys can be iterated", map.name),
                ));
                Type::Unknown
            }
            None => Type::Tuple(vec![Type::Unknown, value]),
        }
    }

    /// `@x = @y` of an aggregation: 0.26's error and hint.
    pub(super) fn refuse_agg_copy(&mut self, k: AggKind, span: Span) {
        let example = match k {
            AggKind::Count => "count()".to_string(),
            AggKind::Hist | AggKind::Stats | AggKind::Avg | AggKind::Sum | AggKind::Min | AggKind::Max => {
                format!("{}(retval)", k.name())
            }
            AggKind::Lhist => "lhist(retval, 0, 10, 1)".to_string(),
            AggKind::Tseries => "tseries(rand % 10, 10s, 1)".to_string(),
        };
        let mut d = Diagnostic::error(
            span,
            format!(
                "Map value '{}_t' cannot be assigned from one map to another. The function that returns this type must be called directly e.g. `@x = {example};`.",
                k.name()
            ),
        );
        if k.reads_as_int() {
            d = d.with_hint("Add a cast to integer if you want the value of the aggregate, e.g. `@x = (int64)@y;`.");
        }
        self.error(d);
    }

    /// One map, one kind of series (0.26's rule).
    pub(super) fn same_tseries_bounds(&mut self, map: &str, call: &Call, span: Span) {
        let params = &self.options.params;
        let lit = |i: usize| call.args.get(i).and_then(|a| functions::int_literal(a, params));
        let agg = match call.args.get(3).map(|a| &a.kind) {
            Some(ExprKind::Str(s)) => String::from_utf8_lossy(s).into_owned(),
            _ => String::new(),
        };
        let signed = call
            .args
            .first()
            .and_then(|v| self.types.get(v.id.0 as usize))
            .is_none_or(|t| !matches!(t, Type::Int { signed: false, .. }));
        let bounds = (lit(1), lit(2), agg, signed);
        match self.tseries_bounds.get(map) {
            Some(first) if *first != bounds => {
                self.error(Diagnostic::error(span, "Different tseries bounds in a single map unsupported"))
            }
            Some(_) => {}
            None => {
                self.tseries_bounds.insert(map.to_string(), bounds);
            }
        }
    }

    // ---- maps ---------------------------------------------------------------

    /// Checks and records the key a map is used with.
    pub(super) fn map_key(&mut self, map: &MapRef, span: Span) {
        let key = match &map.keys {
            None => None,
            Some(keys) => {
                let mut types = Vec::new();
                for k in keys {
                    let t = self.value_expr(k).read_as_int();
                    if let Type::Agg(a) = t {
                        self.error(Diagnostic::error(
                            k.span,
                            format!("Value '{}_t' cannot be used as a map key.", a.name()),
                        ));
                    }
                    types.push(t);
                }
                Some(if types.len() == 1 { types.remove(0) } else { Type::Tuple(types) })
            }
        };
        let state = self.map_state(&map.name, span);
        match state.key.clone() {
            None => state.key = Some(key),
            Some(prev) => {
                let msg = match (&prev, &key) {
                    (None, Some(k)) => {
                        Some(format!("trying to access with arguments: '{k}' when map expects no arguments"))
                    }
                    (Some(p), None) => {
                        Some(format!("trying to access with no arguments when map expects arguments: '{p}'"))
                    }
                    (Some(p), Some(k)) if !p.accepts(k) => {
                        Some(format!("trying to access with arguments: '{k}' when map expects arguments: '{p}'"))
                    }
                    (Some(p), Some(k)) => {
                        let w = p.widen(k);
                        state.key = Some(Some(w));
                        None
                    }
                    (None, None) => None,
                };
                if let Some(m) = msg {
                    self.error(Diagnostic::error(span, format!("Argument mismatch for @{}: {m}", map.name)));
                }
            }
        }
    }

    pub(super) fn map_state(&mut self, name: &str, span: Span) -> &mut MapState {
        let state = self.maps.entry(name.to_string()).or_insert(MapState {
            key: None,
            value: None,
            written: false,
            used: false,
            span,
        });
        state.used = true;
        state
    }

    /// Reads a map: checks its key and returns its value type.
    pub(super) fn map_value(&mut self, map: &MapRef, span: Span) -> Type {
        self.map_key(map, span);
        let state = self.map_state(&map.name, span);
        let (written, value) = (state.written, state.value.clone());
        if !written {
            self.error(
                Diagnostic::error(span, format!("Undefined map: @{}", map.name))
                    .with_hint("no probe assigns this map a value"),
            );
        }
        value.unwrap_or(Type::Unknown)
    }

    pub(super) fn map_store(&mut self, name: &str, vt: Type, span: Span) {
        let reporting = self.reporting;
        let state = self.map_state(name, span);
        state.written = true;
        match &state.value {
            Some(cur) if !cur.accepts(&vt) => {
                let msg = format!(
                    "Type mismatch for @{name}: trying to assign value of type '{vt}' when map already contains a value of type '{cur}'"
                );
                let first = format!("@{name} is first given a value of type '{cur}' here");
                let first_span = state.span;
                if reporting {
                    self.diags.push(Diagnostic::error(span, msg).with_note(first_span, first));
                }
            }
            Some(cur) => state.value = Some(cur.widen(&vt)),
            None => {
                state.value = Some(vt);
                state.span = span;
            }
        }
    }
}
