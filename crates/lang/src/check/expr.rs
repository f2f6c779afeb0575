//! Expressions: identifiers and builtins, operators, fields, indexing and casts.

use super::*;

impl Checker<'_> {
    pub(super) fn condition(&mut self, t: &Type, span: Span, what: &str) {
        if !t.is_truthy() {
            self.error(Diagnostic::error(
                span,
                format!("Invalid {what}: expected an integer, a boolean or a pointer, found '{t}'"),
            ));
        }
    }

    pub(super) fn expr_inner(&mut self, e: &Expr) -> Type {
        match &e.kind {
            ExprKind::Int(n) => {
                if *n > i64::MAX as u64 {
                    Type::UINT64
                } else {
                    Type::INT64
                }
            }
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Str(s) => Type::Str(s.len() as u64 + 1),
            ExprKind::Param(n) => self.param(*n, e.span),
            ExprKind::ParamCount => Type::INT64,
            ExprKind::Var(name) => self.var_type(name, e.span),
            ExprKind::Map(map) => self.map_value(map, e.span),
            ExprKind::Ident(name) => self.ident(name, e.span),
            ExprKind::Call(c) => self.call(c, e.span),
            ExprKind::Unary { op, expr } => self.unary(*op, expr, e.span),
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs);
                let r = self.expr(rhs);
                if let Some(d) =
                    numeric_param_misuse(*op, [(lhs.as_ref(), &l), (rhs.as_ref(), &r)], &self.options.params)
                {
                    self.error(d);
                    return Type::Unknown;
                }
                self.binary_type(*op, &l, &r, e.span)
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                let c = self.expr(cond);
                self.condition(&c, cond.span, "condition");
                let a = match then {
                    Some(t) => self.expr(t),
                    None => c,
                };
                let b = self.expr(otherwise);
                if !a.accepts(&b) {
                    self.error(Diagnostic::error(
                        e.span,
                        format!("Ternary operator must return the same type: have '{a}' and '{b}'"),
                    ));
                    return Type::Unknown;
                }
                a.widen(&b)
            }
            ExprKind::IncDec { target, inc, .. } => self.incdec(target, *inc, e.span),
            ExprKind::Field { base, field, field_span, .. } if matches!(&base.kind, ExprKind::Ident(n) if n == "config") =>
            {
                self.types_note(base, &Type::Unknown);
                match config::config_value(self.program, field) {
                    Some(ConfigValue::Int(_)) => Type::UINT64,
                    Some(ConfigValue::Bool(_)) => Type::Bool,
                    Some(ConfigValue::Str(s) | ConfigValue::Ident(s)) => Type::Str(s.len() as u64 + 1),
                    None => {
                        let mut d = Diagnostic::error(*field_span, format!("config has no variable '{field}'"));
                        if let Some(s) = closest(field, config::config_names()) {
                            d = d.with_hint(format!("did you mean '{s}'?"));
                        }
                        self.error(d);
                        Type::Unknown
                    }
                }
            }
            ExprKind::Field { base, field, field_span, .. } => {
                let t = self.expr(base);
                self.field(&t, field, *field_span, e.span)
            }
            ExprKind::TupleIndex { base, index } => {
                let t = self.expr(base);
                self.tuple_index(&t, *index, e.span)
            }
            ExprKind::Index { base, index } => {
                let t = self.expr(base);
                let i = self.expr(index);
                if !i.is_integral() {
                    self.error(Diagnostic::error(index.span, format!("an index must be an integer, found '{i}'")));
                }
                self.index(&t, index, e.span)
            }
            ExprKind::Cast { ty, expr } => {
                let from = self.expr(expr);
                let to = self.resolve_type(ty);
                self.cast(&from, to, e.span)
            }
            ExprKind::Tuple(items) => Type::Tuple(items.iter().map(|i| self.value_expr(i)).collect()),
            ExprKind::Record(fields) => {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for f in fields {
                    if !seen.insert(&f.name) {
                        self.error(Diagnostic::error(f.name_span, format!("record field '{}' appears twice", f.name)));
                    }
                    let t = self.value_expr(&f.value);
                    out.push((f.name.clone(), t));
                }
                Type::Record(out)
            }
            ExprKind::Sizeof(t) => {
                self.type_or_expr(t);
                Type::UINT64
            }
            ExprKind::Typeinfo(t) => {
                let operand = self.type_or_expr(t);
                // An unstable feature in 0.26, refused unless enabled.
                let mode = match config::config_value(self.program, "unstable_typeinfo") {
                    Some(ConfigValue::Ident(v) | ConfigValue::Str(v)) => v.to_ascii_lowercase(),
                    _ => "error".to_string(),
                };
                match mode.as_str() {
                    "enable" => {}
                    "warn" => self.error(Diagnostic::warning(
                        e.span,
                        "Script is using an unstable feature: typeinfo. To prevent this warning you must explicitly enable it in the config e.g. unstable_typeinfo=enable",
                    )),
                    _ => self.error(Diagnostic::error(
                        e.span,
                        "typeinfo feature is not enabled by default. To enable this unstable feature, set the config flag to enable. unstable_typeinfo=enable",
                    ).with_hint("add config = { unstable_typeinfo = enable } at the top of the program")),
                }
                if operand == Type::Unknown {
                    return Type::Unknown;
                }
                let (record, base, full) = types::typeinfo_record(&types::typeinfo_operand(t, &operand));
                self.typeinfo.insert(e.id, (base, full));
                record
            }
            ExprKind::Offsetof { target, fields } => {
                let t = self.type_or_expr(target);
                let mut cur = t;
                for f in fields {
                    cur = self.field(&cur, f, e.span, e.span);
                }
                Type::UINT64
            }
            ExprKind::Block(b) => self.block_in_scope(b),
            ExprKind::If(i) => {
                let c = self.expr(&i.cond);
                self.condition(&c, i.cond.span, "if condition");
                let a = self.block_in_scope(&i.then);
                let b = match &i.otherwise {
                    Some(o) => self.expr(o),
                    None => Type::None,
                };
                if a != Type::None && b != Type::None && a.accepts(&b) { a.widen(&b) } else { Type::None }
            }
            ExprKind::Comptime(inner) => self.expr(inner),
            ExprKind::TypeArg(_) => {
                self.error(Diagnostic::error(
                    e.span,
                    "typeof(...) is a type: use it in a cast, a declaration or as a macro argument",
                ));
                Type::Unknown
            }
        }
    }

    pub(super) fn type_or_expr(&mut self, t: &TypeOrExpr) -> Type {
        match t {
            TypeOrExpr::Type(ty) => self.resolve_type(ty),
            TypeOrExpr::Expr(e) => {
                // Evaluated only for its type: nothing it does happens.
                let saved = self.scopes.clone();
                let t = self.expr(e);
                self.scopes = saved;
                t
            }
        }
    }

    pub(super) fn param(&mut self, n: u64, span: Span) -> Type {
        if n == 0 {
            self.error(Diagnostic::error(span, "$0 is not a positional parameter: they start at $1"));
            return Type::Unknown;
        }
        match usize::try_from(n - 1).ok().and_then(|i| self.options.params.get(i)) {
            Some(v) if v.parse::<i64>().is_ok() || crate::attach::parse_u64(v).is_some() => Type::INT64,
            Some(v) => Type::Str(v.len() as u64 + 1),
            None => Type::INT64,
        }
    }

    pub(super) fn ident(&mut self, name: &str, span: Span) -> Type {
        if let Some(t) = self.builtin(name, span) {
            return t;
        }
        if let Some((_, enum_name)) = self.enum_values.get(name) {
            return Type::Enum(enum_name.clone());
        }
        let candidates: Vec<&str> =
            builtins::BUILTIN_VARIABLES.iter().copied().chain(self.enum_values.keys().map(String::as_str)).collect();
        let mut d = Diagnostic::error(span, format!("Unknown identifier: '{name}'"));
        if let Some(s) = closest(name, candidates) {
            d = d.with_hint(format!("did you mean '{s}'?"));
        } else if name.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_') {
            d = d.with_hint(format!(
                "kernel enum constants are not looked up in BTF yet: define it, as in #define {name} 1"
            ));
        }
        self.error(d);
        Type::Unknown
    }

    /// The type of a builtin variable, checking it fits the probe.
    pub(super) fn builtin(&mut self, name: &str, span: Span) -> Option<Type> {
        let uint = |bits| Type::Int { bits, signed: false };
        let t = match name {
            "pid" | "tid" | "cpu" | "rand" | "numaid" | "ppid" | "leader_tid" => uint(32),
            "uid" | "gid" | "nsecs" | "elapsed" | "ncpus" | "cgroup" | "jiffies" => uint(64),
            "usermode" => {
                self.require(span, "usermode", Provider::has_saved_registers);
                uint(8)
            }
            "comm" | "pcomm" | "leader_comm" => Type::Str(16),
            "probetype" => Type::Str(16),
            "username" => Type::Username,
            "probe" => Type::Probe,
            "kstack" => {
                let build_id = matches!(config::config_value(self.program, "stack_mode"),
                    Some(ConfigValue::Ident(m) | ConfigValue::Str(m)) if m.eq_ignore_ascii_case("build_id"));
                if build_id {
                    self.error(Diagnostic::warning(
                        span,
                        "'build_id' stack mode can only be used for ustack. Falling back to 'raw' mode.",
                    ));
                }
                Type::Kstack
            }
            "ustack" => Type::Ustack,
            "dw_ustack" => {
                self.unstable(span, "dw_ustack", "dw_ustack (DWARF stack unwinding)");
                Type::Ustack
            }
            "curtask" => Type::Pointer(Box::new(Type::Struct("struct task_struct".into()))),
            "has_cpid" => Type::Bool,
            // An iterator's context: `struct bpf_iter__OBJECT *` from BTF.
            "ctx" if self.providers.contains(&Provider::Iter) => self
                .program
                .probes
                .get(self.probe_index)
                .and_then(|p| {
                    p.attach_points.iter().find_map(|ap| match &ap.target {
                        crate::attach::Target::Iter { object, .. } => Some(object.clone()),
                        _ => None,
                    })
                })
                .map_or(Type::Unknown, |o| Type::Pointer(Box::new(Type::Struct(format!("struct bpf_iter__{o}"))))),
            "ctx" | "config" => Type::Unknown,
            "cpid" => {
                if !self.options.has_child {
                    self.error(
                        Diagnostic::error(span, "cpid cannot be used without a child command")
                            .with_hint("start one with -c 'command'"),
                    );
                }
                uint(32)
            }
            "retval" => {
                self.require(span, "retval", Provider::has_retval);
                Type::INT64
            }
            "args" => {
                self.require(span, "args", Provider::has_args);
                self.options.probe_args.get(self.probe_index).cloned().flatten().unwrap_or(Type::Unknown)
            }
            "func" => {
                self.require(span, "func", Provider::has_func);
                if self.providers.iter().all(|p| p.is_user()) && !self.providers.is_empty() {
                    Type::Usym
                } else {
                    Type::Ksym
                }
            }
            _ => match builtins::numbered_arg(name) {
                Some((false, _)) => {
                    self.require(span, name, Provider::has_argn);
                    // USDT arguments carry their signedness (and print as
                    // bpftrace prints them, -5 not 18446744073709551611).
                    if !self.providers.is_empty() && self.providers.iter().all(|p| *p == Provider::Usdt) {
                        Type::INT64
                    } else {
                        uint(64)
                    }
                }
                Some((true, _)) => {
                    self.require(span, name, Provider::has_stack_args);
                    uint(64)
                }
                None => return None,
            },
        };
        Some(t)
    }

    pub(super) fn require(&mut self, span: Span, name: &str, ok: fn(Provider) -> bool) {
        if let Some(p) = self.providers.iter().copied().find(|&p| !ok(p)) {
            let which = Provider::names_where(ok);
            self.error(
                Diagnostic::error(span, format!("The {name} builtin can only be used with {which} probes"))
                    .with_hint(format!("it is used here in a {} probe", p.name())),
            );
        }
    }

    pub(super) fn unary(&mut self, op: UnaryOp, operand: &Expr, span: Span) -> Type {
        let t = self.expr(operand);
        match op {
            UnaryOp::Not => {
                self.condition(&t, operand.span, "operand of '!'");
                Type::Bool
            }
            UnaryOp::Neg | UnaryOp::BitNot => {
                if !t.is_integral() {
                    self.error(Diagnostic::error(
                        span,
                        format!("The '{}' operator needs an integer, found '{t}'", op.symbol()),
                    ));
                    return Type::Unknown;
                }
                // bpftrace 0.26: 64 bits, signed as the operand.
                match t {
                    Type::Int { signed: false, .. } => Type::UINT64,
                    Type::Int { .. } | Type::Bool => Type::INT64,
                    other => other,
                }
            }
            UnaryOp::Deref => match t {
                Type::Pointer(inner) => *inner,
                Type::Int { .. } | Type::Unknown => Type::Unknown,
                other => {
                    self.error(Diagnostic::error(span, format!("Can not dereference a value of type '{other}'")));
                    Type::Unknown
                }
            },
            UnaryOp::AddrOf => {
                match &operand.kind {
                    ExprKind::Field { base, .. } if !matches!(&base.kind, ExprKind::Ident(n) if n == "args") => {}
                    ExprKind::Var(_) | ExprKind::Map(_) => self.error(
                        Diagnostic::error(span, "the address of a variable or a map is not supported yet")
                            .with_hint("'&' takes the address of a struct's field, as in &p->field"),
                    ),
                    _ => {
                        self.error(Diagnostic::error(span, "The '&' operator needs a struct's field, as in &p->field"))
                    }
                }
                Type::Pointer(Box::new(t))
            }
        }
    }

    /// The result type of `l op r`, or an error at `span`.
    pub(super) fn binary_type(&mut self, op: BinOp, l: &Type, r: &Type, span: Span) -> Type {
        use Type::*;
        let (l, r) = (&l.clone().read_as_int(), &r.clone().read_as_int());
        if op.is_logical() {
            self.condition(l, span, &format!("operand of '{}'", op.symbol()));
            self.condition(r, span, &format!("operand of '{}'", op.symbol()));
            return Bool;
        }
        let int_like = |t: &Type| t.is_integral() || matches!(t, Agg(k) if k.reads_as_int());
        if op.is_comparison() {
            let ok = match (l, r) {
                (Unknown, _) | (_, Unknown) => true,
                (Str(_), Str(_)) | (Tuple(_), Tuple(_)) | (Array(..), Array(..)) | (Record(_), Record(_)) => {
                    if !matches!(op, BinOp::Eq | BinOp::Ne) {
                        self.error(
                            Diagnostic::error(
                                span,
                                format!("The '{}' operator can not compare values of type '{l}'", op.symbol()),
                            )
                            .with_hint("strings, tuples and arrays compare with == and != only"),
                        );
                        return Bool;
                    }
                    l.accepts(r)
                }
                (Array(..), Str(_)) | (Str(_), Array(..)) => true,
                _ => int_like(l) && int_like(r),
            };
            if !ok {
                self.error(Diagnostic::error(
                    span,
                    format!("Type mismatch for '{}': comparing '{l}' with '{r}'", op.symbol()),
                ));
            }
            return Bool;
        }
        if l.is_integral() && r.is_integral() {
            return match (l, r) {
                (Pointer(_), Int { .. }) if matches!(op, BinOp::Add | BinOp::Sub) => l.clone(),
                (Int { .. }, Pointer(_)) if op == BinOp::Add => r.clone(),
                (Unknown, _) | (_, Unknown) => Unknown,
                // bpftrace 0.26: 64 bits; signed if either operand is (the
                // left one alone for shifts), and always for a difference.
                (Int { signed: a, .. }, Int { signed: b, .. }) => {
                    let signed = match op {
                        BinOp::Sub => true,
                        BinOp::Shl | BinOp::Shr => *a,
                        _ => *a || *b,
                    };
                    if signed { Type::INT64 } else { Type::UINT64 }
                }
                _ => Type::INT64,
            };
        }
        let mut d = Diagnostic::error(span, format!("Type mismatch for '{}': comparing '{l}' with '{r}'", op.symbol()));
        if let Some(Agg(k)) = [l, r].into_iter().find(|t| matches!(t, Agg(_))) {
            d = d.with_hint(format!("a map of {}() values has no single value: print it with print()", k.name()));
        }
        self.error(d);
        Unknown
    }

    pub(super) fn incdec(&mut self, target: &Expr, inc: bool, span: Span) -> Type {
        let op = if inc { "++" } else { "--" };
        let t = match &target.kind {
            ExprKind::Var(name) => {
                let cur = self.var_type(name, target.span);
                // bpftrace 0.26: the result is 64 bits (signed for --, or
                // as the variable), and the variable takes that type.
                let t = match cur.clone() {
                    Type::Int { signed, .. } if signed || !inc => Type::INT64,
                    Type::Int { .. } => Type::UINT64,
                    other => other,
                };
                if t != cur {
                    self.var_store(name, t.clone(), target.span);
                }
                t
            }
            ExprKind::Map(map) => {
                self.map_key(map, target.span);
                let state = self.map_state(&map.name, target.span);
                let cur = state.value.clone();
                self.map_store(&map.name, cur.clone().unwrap_or(Type::INT64), target.span);
                cur.unwrap_or(Type::INT64)
            }
            _ => {
                self.error(Diagnostic::error(
                    span,
                    format!("The {op} operator can only be applied to scratch variables and maps"),
                ));
                return Type::Unknown;
            }
        };
        if !t.is_integral() {
            self.error(Diagnostic::error(
                span,
                format!("The {op} operator needs an integer or a pointer, found '{t}'"),
            ));
        }
        t
    }

    pub(super) fn field(&mut self, base: &Type, field: &str, field_span: Span, span: Span) -> Type {
        match base {
            Type::Unknown => Type::Unknown,
            Type::Pointer(inner) if matches!(**inner, Type::Struct(_) | Type::Unknown) => {
                self.field(inner, field, field_span, span)
            }
            Type::Struct(name) => {
                let Some(def) = self.structs.get(name).copied() else {
                    return self.kernel_field(name, field, field_span);
                };
                if let Some(t) = self.struct_field(def, field) {
                    return t;
                }
                let names: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
                let mut d = Diagnostic::error(field_span, format!("{name} has no field named '{field}'"));
                if let Some(s) = closest(field, names) {
                    d = d.with_hint(format!("did you mean '{s}'?"));
                }
                self.error(d);
                Type::Unknown
            }
            Type::Record(fields) => match fields.iter().find(|(n, _)| n == field) {
                Some((_, t)) => t.clone(),
                None => {
                    let mut d = Diagnostic::error(field_span, format!("no field named '{field}' here"));
                    if let Some(s) = closest(field, fields.iter().map(|(n, _)| n.as_str())) {
                        d = d.with_hint(format!("did you mean '{s}'?"));
                    } else {
                        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                        d = d.with_hint(format!("the fields are: {}", names.join(", ")));
                    }
                    self.error(d);
                    Type::Unknown
                }
            },
            other => {
                let mut d =
                    Diagnostic::error(span, format!("Can not access field '{field}' on a value of type '{other}'"));
                if other.is_int() {
                    d = d.with_hint("cast it to a struct pointer first, as in ((struct task_struct *)arg0).pid");
                }
                self.error(d);
                Type::Unknown
            }
        }
    }

    /// A field of a struct the program does not define: the kernel's.
    pub(super) fn kernel_field(&mut self, name: &str, field: &str, span: Span) -> Type {
        // Without the kernel's types (checking a program on its own), the
        // field stays unknown; the compiler says so if it is used.
        let Some(kernel) = &self.options.kernel_types else { return Type::Unknown };
        match kernel.field(name, field) {
            KernelField::Found(t, _) => t,
            KernelField::NoStruct => {
                self.error(Diagnostic::error(
                    span,
                    format!("{name} is neither defined in the program nor described by the kernel's BTF"),
                ));
                Type::Unknown
            }
            KernelField::NoField(fields) => {
                let mut d = Diagnostic::error(span, format!("{name} has no field named '{field}'"));
                if let Some(s) = closest(field, fields.iter().map(String::as_str)) {
                    d = d.with_hint(format!("did you mean '{s}'?"));
                }
                self.error(d);
                Type::Unknown
            }
            KernelField::Bitfield => {
                self.error(Diagnostic::error(span, format!("{name}.{field} is a bitfield, which cannot be read yet")));
                Type::Unknown
            }
        }
    }

    pub(super) fn struct_field(&mut self, def: &CStruct, field: &str) -> Option<Type> {
        for f in &def.fields {
            if f.name == field {
                return Some(match &f.ty {
                    // bpftrace reads char arrays in structs as strings.
                    CFieldType::Type(t) => match self.resolve_type(t) {
                        Type::Array(elem, n) if *elem == (Type::Int { bits: 8, signed: true }) => Type::Str(n),
                        other => other,
                    },
                    CFieldType::Anonymous(..) => Type::Unknown,
                });
            }
            if f.name.is_empty()
                && let CFieldType::Anonymous(inner, _) = &f.ty
                && let Some(t) = self.struct_field(inner, field)
            {
                return Some(t);
            }
        }
        None
    }

    /// The type of element `index` of a tuple (`t.1`, or `t[1]` with a
    /// constant index).
    pub(super) fn tuple_index(&mut self, base: &Type, index: impl Into<i128>, span: Span) -> Type {
        let index: i128 = index.into();
        match base {
            Type::Unknown => Type::Unknown,
            Type::Tuple(items) => match usize::try_from(index).ok().and_then(|i| items.get(i)) {
                Some(t) => t.clone(),
                None => {
                    self.error(Diagnostic::error(
                        span,
                        format!("Invalid tuple index: {index} (the tuple has {} elements)", items.len()),
                    ));
                    Type::Unknown
                }
            },
            other => {
                self.error(Diagnostic::error(
                    span,
                    format!("Can not access index {index} on a value of type '{other}'"),
                ));
                Type::Unknown
            }
        }
    }

    pub(super) fn index(&mut self, base: &Type, index: &Expr, span: Span) -> Type {
        match base {
            Type::Unknown => Type::Unknown,
            Type::Array(inner, _) | Type::Pointer(inner) => (**inner).clone(),
            Type::Str(_) => Type::Int { bits: 8, signed: true },
            Type::Int { .. } => Type::Unknown,
            Type::Tuple(_) => match functions::int_literal(index, &self.options.params) {
                Some(i) => self.tuple_index(base, i, span),
                None => {
                    self.error(Diagnostic::error(index.span, "a tuple index must be a constant"));
                    Type::Unknown
                }
            },
            other => {
                self.error(Diagnostic::error(span, format!("Can not index a value of type '{other}'")));
                Type::Unknown
            }
        }
    }

    pub(super) fn cast(&mut self, from: &Type, to: Type, span: Span) -> Type {
        let ok = match (&to, from) {
            (_, Type::Unknown) | (Type::Unknown, _) => true,
            (Type::Int { .. } | Type::Bool | Type::Pointer(_) | Type::Enum(_), t) => {
                t.is_integral() || matches!(t, Type::Agg(k) if k.reads_as_int()) || matches!(t, Type::Array(..))
            }
            (Type::Array(..), t) => t.is_integral() || matches!(t, Type::Array(..) | Type::Str(_)),
            (Type::Str(_), Type::Str(_)) => true,
            (Type::Buffer(_), Type::Buffer(_) | Type::Str(_)) => true,
            (Type::Struct(name), _) => {
                self.error(
                    Diagnostic::error(span, format!("Cannot cast to '{name}'"))
                        .with_hint(format!("did you mean a pointer, ({name} *)?")),
                );
                return Type::Unknown;
            }
            _ => false,
        };
        if !ok {
            self.error(Diagnostic::error(span, format!("Cannot cast from '{from}' to '{to}'")));
            return Type::Unknown;
        }
        to
    }
}
