//! Calls: every function's argument count and kinds, format strings, map
//! functions and aggregations.

use super::{Checker, Type, types::AggKind};
use crate::ast::*;
use crate::attach::Provider;
use crate::builtins;
use crate::diagnostic::Diagnostic;
use crate::format::{self, Conversion};
use crate::registry::{Arg, Ret, Rule};
use crate::source::Span;
use crate::suggest::closest;

/// Functions checked one by one below (beyond `SIMPLE`).
pub(crate) const SPECIAL: &[&str] = &[
    "printf",
    "errorf",
    "warnf",
    "fail",
    "debugf",
    "system",
    "print",
    "exit",
    "delete",
    "has_key",
    "find",
    "len",
    "str",
    "buf",
    "kstack",
    "ustack",
    "dw_ustack",
    "nsecs",
    "pid",
    "tid",
    "comm",
    "kptr",
    "uptr",
    "ntop",
    "signal",
    "signal_thread",
    "override",
    "getopt",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "stats",
    "hist",
    "lhist",
    "tseries",
    "container_of",
];

/// The names of every function, for suggestions.
pub fn function_names() -> impl Iterator<Item = &'static str> {
    crate::registry::REGISTRY
        .iter()
        .filter(|b| matches!(b.rule, Rule::Simple { .. }))
        .map(|b| b.name)
        .chain(SPECIAL.iter().copied())
        .chain(crate::builtins::BUILTIN_VARIABLES.iter().copied())
}

/// The value of a constant integer argument: a literal, a negated literal,
/// or a positional parameter given a number.
pub fn int_literal(e: &Expr, params: &[String]) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(n) => i64::try_from(*n).ok(),
        ExprKind::Unary { op: UnaryOp::Neg, expr } => int_literal(expr, params).map(|n| -n),
        ExprKind::Param(n) => params.get(usize::try_from(*n).ok()?.checked_sub(1)?)?.parse().ok(),
        ExprKind::Cast { expr, .. } => int_literal(expr, params),
        _ => None,
    }
}

fn count_text(n: usize) -> String {
    match n {
        1 => "one argument".to_string(),
        n => format!("{n} arguments"),
    }
}

impl Checker<'_> {
    pub(crate) fn call(&mut self, c: &Call, span: Span) -> Type {
        if let Some(calls) = self.calls.get_mut(self.probe_index) {
            calls.insert(c.name.clone());
        }
        for a in &c.args {
            if let ExprKind::Map(m) = &a.kind
                && let Some(state) = self.maps.get_mut(&m.name)
            {
                state.used = true;
            }
        }
        if let Some(kind) = AggKind::from_function(&c.name) {
            let example = if kind == AggKind::Count { "count()".to_string() } else { format!("{}(...)", c.name) };
            self.error(
                Diagnostic::error(span, format!("{}() should be directly assigned to a map", c.name))
                    .with_hint(format!("as in @x = {example}")),
            );
            self.aggregation_args(kind, c, span);
            return Type::Unknown;
        }
        if let Some(why) = crate::registry::not_built_hint(&c.name) {
            self.error(
                Diagnostic::error(
                    c.name_span,
                    format!("{}() is not available in this version of bpfscope yet", c.name),
                )
                .with_hint(why),
            );
            for a in &c.args {
                self.expr(a);
            }
            return Type::Unknown;
        }
        if matches!(c.name.as_str(), "delete" | "has_key" | "len" | "find") {
            self.refuse_bucket_map(c);
        }
        let entry = crate::registry::lookup(&c.name);
        if let Some(allowed) = entry.and_then(|b| b.probes) {
            self.require_provider(c, c.name_span, allowed);
        }
        if let Some(Rule::Simple { min, args, ret }) = entry.map(|b| b.rule) {
            let name = c.name.as_str();
            let t = self.simple_call(name, min, args, ret, c, span);
            self.compile_time_args(c);
            if name == "uaddr" && t != Type::Unknown {
                return self.uaddr(c, span);
            }
            // strerror() and kin of a value known only at run time: the
            // number, named when printed.
            if let Some(kind) = super::types::NumberKind::of_function(name)
                && let Some(a) = c.args.first()
                && int_literal(a, &self.options.params).is_none()
            {
                return Type::NumberName(kind);
            }
            return t;
        }
        // Builtins may also be called: `uid()` is `uid`.
        if crate::builtins::BUILTIN_VARIABLES.contains(&c.name.as_str()) && !SPECIAL.contains(&c.name.as_str()) {
            if !self.arity(c, span, 0, 0) {
                return Type::Unknown;
            }
            return self.builtin(&c.name, span).unwrap_or(Type::Unknown);
        }
        match c.name.as_str() {
            "printf" | "errorf" | "warnf" | "fail" | "debugf" => {
                self.format_call(c, span);
                if c.name == "debugf" && c.args.len() > 4 {
                    self.error(
                        Diagnostic::error(c.name_span, "debugf() takes at most three values after its format")
                            .with_hint("the kernel's bpf_trace_printk() prints three at most; use printf() for more"),
                    );
                }
                Type::None
            }
            "system" => {
                self.require_unsafe(c, span);
                self.format_call(c, span);
                Type::None
            }
            "print" => self.print_call(c, span),
            "exit" => {
                if self.arity(c, span, 0, 1)
                    && let Some(a) = c.args.first()
                {
                    self.arg(c, 0, a, Arg::Int);
                }
                Type::None
            }
            "delete" => self.delete_call(c, span),
            "has_key" => {
                if self.arity(c, span, 2, 2) {
                    self.map_with_key(c, &c.args[0], Some(&c.args[1]));
                }
                Type::Bool
            }
            // find(@map, key, $var): whether the key is there; if so, $var
            // takes its value.
            "find" => {
                if self.arity(c, span, 3, 3) {
                    self.map_with_key(c, &c.args[0], Some(&c.args[1]));
                    let value = match &c.args[0].kind {
                        ExprKind::Map(m) => self.maps.get(&m.name).and_then(|s| s.value.clone()),
                        _ => None,
                    };
                    match &c.args[2].kind {
                        ExprKind::Var(name) => {
                            let t = value.unwrap_or(Type::INT64);
                            self.types_note(&c.args[2], &t);
                            self.var_store(name, t, c.args[2].span);
                        }
                        _ => self.error(
                            Diagnostic::error(c.args[2].span, "find() puts the value in a scratch variable")
                                .with_hint("pass a variable, as in find(@m, key, $value)"),
                        ),
                    }
                }
                Type::Bool
            }
            "len" => {
                if self.arity(c, span, 1, 1) {
                    match &c.args[0].kind {
                        ExprKind::Map(MapRef { keys: None, .. }) => {
                            self.map_arg(c, &c.args[0]);
                        }
                        _ => {
                            let t = self.expr(&c.args[0]);
                            if matches!(t, Type::Kstack | Type::Ustack) {
                                self.error(
                                    Diagnostic::error(c.args[0].span, "len() of a stack is not supported yet")
                                        .with_hint("print the stack, or count its frames in user space"),
                                );
                            } else if !t.is_unknown() {
                                self.error(Diagnostic::error(
                                    c.args[0].span,
                                    format!("len() expects a map or a stack, found '{t}'"),
                                ));
                            }
                        }
                    }
                }
                Type::INT64
            }
            "str" => {
                if self.arity(c, span, 1, 2) {
                    self.str_source(&c.args[0]);
                    if let Some(n) = c.args.get(1) {
                        self.arg(c, 1, n, Arg::Int);
                    }
                }
                let size =
                    c.args.get(1).and_then(|n| int_literal(n, &self.options.params)).map(|n| n.max(0) as u64 + 1);
                Type::Str(size.unwrap_or(self.options.max_strlen))
            }
            "buf" => {
                let mut first = Type::Unknown;
                if self.arity(c, span, 1, 2) {
                    first = self.arg(c, 0, &c.args[0], Arg::Any);
                    if let Some(n) = c.args.get(1) {
                        self.arg(c, 1, n, Arg::Int);
                    }
                }
                // bpftrace 0.26: at most max_strlen less the length's 4
                // bytes; a literal length, or an array's size, if smaller.
                let most = self.options.max_strlen.saturating_sub(4);
                let size = match (c.args.get(1), &first) {
                    (Some(n), _) => int_literal(n, &self.options.params).map(|n| n.max(0) as u64),
                    (None, Type::Array(elem, n)) => match **elem {
                        Type::Int { bits, .. } => Some(u64::from(bits / 8).max(1) * n),
                        _ => None,
                    },
                    (None, _) => None,
                };
                Type::Buffer(size.unwrap_or(most).min(most))
            }
            "kstack" | "ustack" | "dw_ustack" => {
                self.stack_call(c, span);
                if c.name == "dw_ustack" {
                    self.unstable(c.name_span, "dw_ustack", "dw_ustack (DWARF stack unwinding)");
                }
                if c.name == "kstack" { Type::Kstack } else { Type::Ustack }
            }
            "nsecs" | "pid" | "tid" => {
                if self.arity(c, span, 0, 1)
                    && let Some(a) = c.args.first()
                {
                    let allowed: &[&str] =
                        if c.name == "nsecs" { &["monotonic", "boot", "tai", "sw_tai"] } else { &["curr_ns", "init"] };
                    self.mode_arg(c, a, allowed);
                }
                self.builtin(&c.name, span).unwrap_or(Type::UINT64)
            }
            "comm" => {
                if self.arity(c, span, 0, 1)
                    && let Some(a) = c.args.first()
                {
                    self.arg(c, 0, a, Arg::Int);
                }
                Type::Str(16)
            }
            "kptr" | "uptr" => {
                if !self.arity(c, span, 1, 1) {
                    return Type::Unknown;
                }
                let t = self.expr(&c.args[0]);
                if !t.is_integral() {
                    self.error(Diagnostic::error(
                        c.args[0].span,
                        format!("{}() expects a pointer or an integer, found '{t}'", c.name),
                    ));
                }
                t
            }
            "ntop" => {
                if self.arity(c, span, 1, 2) {
                    for (i, a) in c.args.iter().enumerate() {
                        let t = self.expr(a);
                        let ok = if i + 1 == c.args.len() {
                            t.is_integral() || matches!(t, Type::Array(..))
                        } else {
                            t.is_integral()
                        };
                        if !ok {
                            self.error(Diagnostic::error(
                                a.span,
                                format!("ntop() expects an integer or a byte array, found '{t}'"),
                            ));
                        }
                    }
                }
                Type::Inet
            }
            "signal" | "signal_thread" => {
                self.require_unsafe(c, span);
                if self.arity(c, span, 1, 1) {
                    let t = self.expr(&c.args[0]);
                    if !(t.is_integral() || matches!(c.args[0].kind, ExprKind::Str(_))) {
                        self.error(Diagnostic::error(
                            c.args[0].span,
                            format!("{}() expects a signal name or number", c.name),
                        ));
                    }
                }
                Type::None
            }
            "override" => {
                self.require_unsafe(c, span);
                self.require_provider(c, span, |p| p == Provider::Kprobe);
                if self.arity(c, span, 1, 1) {
                    self.arg(c, 0, &c.args[0], Arg::Int);
                }
                Type::None
            }
            "getopt" => self.getopt_call(c, span),
            // container_of(ptr, struct S, field): the struct a field's
            // address is in.
            "container_of" => {
                if !self.arity(c, span, 3, 3) {
                    return Type::Unknown;
                }
                let p = self.expr(&c.args[0]);
                if !p.is_integral() {
                    self.error(Diagnostic::error(
                        c.args[0].span,
                        format!("container_of() needs a pointer, found '{p}'"),
                    ));
                }
                let ExprKind::TypeArg(ty) = &c.args[1].kind else {
                    self.error(Diagnostic::error(c.args[1].span, "container_of() needs a struct type, as in struct S"));
                    return Type::Unknown;
                };
                let t = self.resolve_type(ty);
                self.types_note(&c.args[1], &t);
                match &c.args[2].kind {
                    ExprKind::Ident(field) => {
                        let _ = self.field(&t, field, c.args[2].span, c.args[2].span);
                        self.types_note(&c.args[2], &Type::Unknown);
                    }
                    _ => self.error(Diagnostic::error(c.args[2].span, "container_of() needs a field name")),
                }
                Type::Pointer(Box::new(t))
            }
            _ => {
                let mut d = Diagnostic::error(c.name_span, format!("Unknown function: '{}'", c.name));
                if let Some(s) = closest(&c.name, function_names()) {
                    d = d.with_hint(format!("did you mean '{s}'?"));
                }
                self.error(d);
                for a in &c.args {
                    self.expr(a);
                }
                Type::Unknown
            }
        }
    }

    /// Arguments that must be constants here, and strings that must be
    /// read before a string function sees them.
    fn compile_time_args(&mut self, c: &Call) {
        if crate::registry::lookup(&c.name).is_some_and(|b| b.status == crate::registry::Status::ConstantArgs)
            && let Some(a) = c.args.first()
            && int_literal(a, &self.options.params).is_none()
            && !matches!(a.kind, ExprKind::Str(_))
        {
            self.error(
                Diagnostic::error(a.span, format!("{}() needs a value known when compiling", c.name)).with_hint(
                    "pass a number or a named constant; values known only at run time are not supported yet",
                ),
            );
        }
        if c.name == "assert_str"
            && let Some(a) = c.args.first()
            && let Some(t) = self.types.get(a.id.0 as usize).cloned()
            && !matches!(t, Type::Str(_) | Type::Array(..) | Type::Pointer(_) | Type::Unknown)
        {
            self.error(Diagnostic::error(a.span, "string-like values must be either strings, arrays or pointers"));
        }
        if c.name == "macaddr"
            && let Some(a) = c.args.first()
            && let Some(t) = self.types.get(a.id.0 as usize).cloned()
            && !matches!(t, Type::Array(_, 6..) | Type::Pointer(_) | Type::Unknown)
        {
            self.error(
                Diagnostic::error(a.span, format!("macaddr() takes six bytes: an array or a pointer, found '{t}'"))
                    .with_hint("as in macaddr(args.addr) or macaddr((uint8 *)p)"),
            );
        }
        if c.name == "skboutput" {
            if let Some(skb) = c.args.get(1)
                && let Some(t) = self.types.get(skb.id.0 as usize).cloned()
                && !matches!(t, Type::Pointer(_) | Type::Unknown)
            {
                self.error(Diagnostic::error(
                    skb.span,
                    format!("skboutput() only supports pointer arguments ({t} provided)"),
                ));
            }
            if let Some(offset) = c.args.get(3)
                && int_literal(offset, &self.options.params).is_none_or(|n| n < 0)
            {
                self.error(Diagnostic::error(offset.span, "skboutput() expects a non-negative integer literal offset"));
            }
        }
        if c.name == "socket_cookie"
            && let Some(a) = c.args.first()
            && let Some(t) = self.types.get(a.id.0 as usize).cloned()
            && !matches!(&t, Type::Pointer(p) if matches!(p.as_ref(), Type::Struct(n) if n == "struct sock"))
            && t != Type::Unknown
        {
            let provided = match &t {
                Type::Pointer(_) => format!("'{t}'"),
                _ => t.to_string(),
            };
            self.error(Diagnostic::error(
                a.span,
                format!("socket_cookie() only supports 'struct sock *' as the argument ({provided} provided)"),
            ));
        }
        if c.name == "write_user" {
            self.require_unsafe(c, c.name_span);
            if let Some(src) = c.args.get(1)
                && let Some(t) = self.types.get(src.id.0 as usize).cloned()
                && !matches!(t, Type::Str(_) | Type::Array(..) | Type::Buffer(_) | Type::Unknown)
            {
                self.error(
                    Diagnostic::error(
                        src.span,
                        format!("write_user() writes the program's bytes: a string or an array, found '{t}'"),
                    )
                    .with_hint("as in write_user(p, \"text\", 4)"),
                );
            }
        }
        if matches!(c.name.as_str(), "strlen" | "strcontains" | "strstr" | "str_concat" | "memcmp" | "strcap") {
            for a in &c.args[..c.args.len().min(2)] {
                if let Some(t) = self.types.get(a.id.0 as usize).cloned()
                    && !matches!(t, Type::Str(_) | Type::Array(..) | Type::Unknown)
                {
                    self.error(
                        Diagnostic::error(a.span, format!("{}() takes strings, found '{t}'", c.name))
                            .with_hint("read a string from a pointer with str(p) first"),
                    );
                }
            }
        }
    }

    /// Checks the argument count; says whether it was right.
    fn arity(&mut self, c: &Call, span: Span, min: usize, max: usize) -> bool {
        let n = c.args.len();
        if n >= min && n <= max {
            return true;
        }
        let msg = if min == max {
            if min == 0 {
                format!("{}() takes no arguments ({n} provided)", c.name)
            } else {
                format!("{}() requires {} ({n} provided)", c.name, count_text(min))
            }
        } else if max == usize::MAX {
            format!("{}() requires at least {} ({n} provided)", c.name, count_text(min))
        } else if min == 0 {
            format!("{}() takes at most {} ({n} provided)", c.name, count_text(max))
        } else {
            format!("{}() requires {min} to {max} arguments ({n} provided)", c.name)
        };
        self.error(Diagnostic::error(span, msg));
        for a in &c.args {
            self.expr(a);
        }
        false
    }

    /// Checks one argument against what it must be; returns its type.
    fn arg(&mut self, c: &Call, index: usize, a: &Expr, want: Arg) -> Type {
        let ordinal = match index {
            0 => "first",
            1 => "second",
            2 => "third",
            3 => "fourth",
            _ => "next",
        };
        match want {
            Arg::Map => {
                self.map_arg(c, a);
                Type::Unknown
            }
            Arg::StrLit => {
                if !matches!(a.kind, ExprKind::Str(_)) {
                    let t = self.expr(a);
                    self.error(Diagnostic::error(
                        a.span,
                        format!("{}() expects a string literal as its {ordinal} argument ({t} provided)", c.name),
                    ));
                }
                Type::Str(0)
            }
            Arg::IntLit => {
                let t = self.value_expr(a);
                if int_literal(a, &self.options.params).is_none() {
                    self.error(Diagnostic::error(
                        a.span,
                        format!("{}() expects an integer literal as its {ordinal} argument ({t} provided)", c.name),
                    ));
                }
                t
            }
            Arg::Int | Arg::Str | Arg::Any => {
                let t = self.value_expr(a);
                let ok = match want {
                    Arg::Int => t.is_integral(),
                    Arg::Str => t.is_stringlike() || matches!(t, Type::Array(..) | Type::Pointer(_)),
                    _ => true,
                };
                if !ok {
                    let kind = if want == Arg::Int { "an integer" } else { "a string" };
                    self.error(Diagnostic::error(
                        a.span,
                        format!("{}() expects {kind} as its {ordinal} argument, found '{t}'", c.name),
                    ));
                }
                t
            }
        }
    }

    fn simple_call(&mut self, name: &str, min: usize, args: &[Arg], ret: Ret, c: &Call, span: Span) -> Type {
        let variadic = name == "cat";
        let max = if variadic { usize::MAX } else { args.len() };
        if !self.arity(c, span, min, max) {
            return Type::Unknown;
        }
        if variadic {
            self.format_call(c, span);
            return Type::None;
        }
        let mut first = Type::Unknown;
        for (i, (a, want)) in c.args.iter().zip(args).enumerate() {
            let t = self.arg(c, i, a, *want);
            if i == 0 {
                first = t;
            }
        }
        if name == "reg"
            && let Some(Expr { kind: ExprKind::Str(r), span, .. }) = c.args.first()
        {
            let r = String::from_utf8_lossy(r);
            if builtins::pt_regs_offset(&r).is_none() {
                let names = builtins::PT_REGS.iter().map(|(n, _)| *n);
                let mut d = Diagnostic::error(*span, format!("'{r}' is not a register"));
                if let Some(s) = closest(&r, names.clone()) {
                    d = d.with_hint(format!("did you mean '{s}'?"));
                } else {
                    d = d.with_hint(format!("the registers are: {}", names.collect::<Vec<_>>().join(", ")));
                }
                self.error(d);
            }
        }
        match ret {
            Ret::None => Type::None,
            Ret::U64 => Type::UINT64,
            Ret::I64 => Type::INT64,
            Ret::Bool => Type::Bool,
            Ret::Str => Type::Str(self.options.max_strlen),
            // pton(): four bytes for an IPv4 address, sixteen for IPv6.
            Ret::Bytes => {
                let v6 = matches!(c.args.first().map(|a| &a.kind), Some(ExprKind::Str(s)) if s.contains(&b':'));
                Type::Array(Box::new(Type::Int { bits: 8, signed: false }), if v6 { 16 } else { 4 })
            }
            Ret::Ksym => Type::Ksym,
            Ret::Usym => Type::UserSymbol,
            Ret::Macaddr => Type::Macaddr,
            Ret::CgroupPath => Type::CgroupPath,
            Ret::Timestamp => Type::Timestamp,
            Ret::SameAsFirst => first,
        }
    }

    /// `uaddr("sym")`: a pointer to the symbol in the probe's binary, to
    /// an integer as wide as the symbol where that is 1, 2 or 4 bytes (as
    /// 0.26: signed, ELF has no types), else 8.
    fn uaddr(&mut self, c: &Call, span: Span) -> Type {
        let fallback = Type::Pointer(Box::new(Type::Int { bits: 64, signed: true }));
        let Some(Expr { kind: ExprKind::Str(name), span: name_span, .. }) = c.args.first() else { return fallback };
        let name = String::from_utf8_lossy(name).into_owned();
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"./_-".contains(&b));
        if !valid {
            self.error(Diagnostic::error(
                *name_span,
                format!("uaddr() expects a string that is a valid symbol (^[a-zA-Z0-9./_-]+$) as input (\"{name}\" provided)"),
            ));
            return fallback;
        }
        let Some(symbols) = self.options.user_symbols.clone() else { return fallback };
        match symbols.0.symbol_size(self.probe_index, &name) {
            Ok(size) => {
                let bits = match size {
                    1 | 2 | 4 => size as u8 * 8,
                    _ => 64,
                };
                Type::Pointer(Box::new(Type::Int { bits, signed: true }))
            }
            // No binary: the probe is not a user probe, which is said already.
            Err(target) if target.is_empty() => fallback,
            Err(target) => {
                self.error(Diagnostic::error(span, format!("Could not resolve symbol: {target}:{name}")));
                fallback
            }
        }
    }

    fn require_unsafe(&mut self, c: &Call, span: Span) {
        if !self.options.allow_unsafe {
            self.error(
                Diagnostic::error(span, format!("{}() is an unsafe function being used in safe mode", c.name))
                    .with_hint("run with --unsafe to allow it"),
            );
        }
    }

    /// `allowed` says which probe types may call `c`; the message lists
    /// them from the same predicate.
    fn require_provider(&mut self, c: &Call, span: Span, allowed: fn(Provider) -> bool) {
        if let Some(p) = self.providers.iter().find(|&&p| !allowed(p)) {
            let which = Provider::names_where(allowed);
            self.error(
                Diagnostic::error(span, format!("{}() can only be used in {which} probes", c.name))
                    .with_hint(format!("it is used here in a {} probe", p.name())),
            );
        }
    }

    /// printf and friends: a literal format and arguments that fit it.
    fn format_call(&mut self, c: &Call, span: Span) {
        let Some(first) = c.args.first() else {
            self.error(Diagnostic::error(span, format!("{}() requires at least one argument (0 provided)", c.name)));
            return;
        };
        let arg_types: Vec<Type> = c.args[1..].iter().map(|a| self.value_expr(a)).collect();
        let ExprKind::Str(fmt) = &first.kind else {
            let t = self.expr(first);
            let kind = if t.is_int() { "integer".to_string() } else { t.to_string() };
            self.error(Diagnostic::error(span, format!("{}() expects a string literal ({kind} provided)", c.name)));
            return;
        };
        let pieces = match format::parse_format(fmt) {
            Ok(p) => p,
            Err(e) => {
                self.error(Diagnostic::error(first.span, format!("{}: {}", c.name, e.message)));
                return;
            }
        };
        let specs: Vec<&format::Spec> = format::specs(&pieces).collect();
        let (supplied, expected) = (arg_types.len(), specs.len());
        if supplied < expected {
            self.error(Diagnostic::error(
                span,
                format!(
                    "{}: Not enough arguments for format string ({supplied} supplied, {expected} expected)",
                    c.name
                ),
            ));
            return;
        }
        if supplied > expected {
            self.error(Diagnostic::error(
                span,
                format!("{}: Too many arguments for format string ({supplied} supplied, {expected} expected)", c.name),
            ));
            return;
        }
        for ((spec, t), a) in specs.iter().zip(&arg_types).zip(&c.args[1..]) {
            let ok = match spec.conversion {
                Conversion::Str => true,
                Conversion::Buffer | Conversion::BufferHex | Conversion::BufferEscaped => {
                    matches!(t, Type::Buffer(_) | Type::Str(_) | Type::Unknown)
                }
                _ => t.is_integral() || matches!(t, Type::Agg(k) if k.reads_as_int()),
            };
            if !ok && let ExprKind::Param(n) = a.kind {
                let given = usize::try_from(n)
                    .ok()
                    .and_then(|n| self.options.params.get(n.checked_sub(1)?))
                    .cloned()
                    .unwrap_or_default();
                self.error(Diagnostic::error(
                    a.span,
                    format!("${n} used numerically but given \"{given}\". Try using str(${n})."),
                ));
            } else if !ok {
                let kind = spec.conversion.expects();
                self.error(Diagnostic::error(
                    a.span,
                    format!("{}: {} specifier expects a value of type {kind} ({t} supplied)", c.name, spec.text),
                ));
            }
        }
    }

    fn print_call(&mut self, c: &Call, span: Span) -> Type {
        if !self.arity(c, span, 1, 3) {
            return Type::None;
        }
        match &c.args[0].kind {
            ExprKind::Map(MapRef { keys: None, .. }) => {
                self.map_arg(c, &c.args[0]);
                for (i, a) in c.args.iter().enumerate().skip(1) {
                    self.arg(c, i, a, Arg::Int);
                }
            }
            _ if c.args.len() > 1 => {
                self.error(Diagnostic::error(
                    span,
                    "print() takes a top count and a divisor only for a map, as in print(@m, 10)",
                ));
            }
            _ => {
                self.value_expr(&c.args[0]);
            }
        }
        Type::None
    }

    fn delete_call(&mut self, c: &Call, span: Span) -> Type {
        match c.args.as_slice() {
            [m @ Expr { kind: ExprKind::Map(MapRef { keys: Some(_), .. }), .. }] => {
                self.expr(m);
            }
            [m, key] => self.map_with_key(c, m, Some(key)),
            [_] => {
                self.error(Diagnostic::error(
                    span,
                    "delete() needs a map and a key: delete(@m, key) or delete(@m[key])",
                ));
            }
            _ => {
                self.arity(c, span, 1, 2);
            }
        }
        Type::Bool
    }

    /// `delete`, `has_key`, `len` and `find` on a map of histograms, which
    /// keeps one entry per bucket: not supported yet.
    fn refuse_bucket_map(&mut self, c: &Call) {
        let name = match c.args.first().map(|a| &a.kind) {
            Some(ExprKind::Map(m)) => &m.name,
            _ => return,
        };
        if let Some(Type::Agg(kind @ (AggKind::Hist | AggKind::Lhist))) =
            self.maps.get(name).and_then(|s| s.value.clone())
        {
            self.error(
                Diagnostic::error(
                    c.name_span,
                    format!("{}() of a map of {}() values is not supported yet", c.name, kind.name()),
                )
                .with_hint("clear() empties the whole map"),
            );
        }
    }

    /// `@m` as a whole-map argument; says whether it is one.
    fn map_arg(&mut self, c: &Call, a: &Expr) -> bool {
        match &a.kind {
            ExprKind::Map(m @ MapRef { keys: None, .. }) => {
                let written = self.maps.get(&m.name).is_some_and(|s| s.written);
                if !written {
                    self.error(
                        Diagnostic::error(a.span, format!("Undefined map: @{}", m.name))
                            .with_hint("no probe assigns this map a value"),
                    );
                }
                true
            }
            _ => {
                self.error(Diagnostic::error(
                    a.span,
                    format!("{}() expects a map argument, as in {}(@m)", c.name, c.name),
                ));
                self.expr(a);
                false
            }
        }
    }

    /// `f(@m, key)`: the key must match the map's key.
    fn map_with_key(&mut self, c: &Call, m: &Expr, key: Option<&Expr>) {
        if !self.map_arg(c, m) {
            return;
        }
        let ExprKind::Map(map) = &m.kind else { return };
        let keyed = MapRef {
            name: map.name.clone(),
            name_span: map.name_span,
            keys: key.map(|k| match &k.kind {
                ExprKind::Tuple(items) => items.clone(),
                _ => vec![k.clone()],
            }),
        };
        self.map_key(&keyed, m.span.to(key.map_or(m.span, |k| k.span)));
    }

    /// Checks the arguments of an aggregation being assigned to a map.
    pub(crate) fn aggregation_args(&mut self, kind: AggKind, c: &Call, span: Span) {
        let (min, max) = match kind {
            AggKind::Count => (0, 0),
            AggKind::Sum | AggKind::Avg | AggKind::Min | AggKind::Max | AggKind::Stats => (1, 1),
            AggKind::Hist => (1, 2),
            AggKind::Lhist => (4, 4),
            AggKind::Tseries => (3, 4),
        };
        if !self.arity(c, span, min, max) {
            return;
        }
        if let Some(v) = c.args.first() {
            self.arg(c, 0, v, Arg::Int);
        }
        let params = self.options.params.clone();
        match kind {
            AggKind::Hist => {
                if let Some(k) = c.args.get(1) {
                    match int_literal(k, &params) {
                        Some(bits) if (0..=5).contains(&bits) => {}
                        Some(bits) => self.error(Diagnostic::error(k.span, format!("hist: bits {bits} must be 0..5"))),
                        None => self.error(Diagnostic::error(
                            k.span,
                            "hist() expects an integer literal for its bits argument",
                        )),
                    }
                }
            }
            AggKind::Lhist => {
                let vals: Vec<Option<i64>> = c.args[1..].iter().map(|a| int_literal(a, &params)).collect();
                for (a, v) in c.args[1..].iter().zip(&vals) {
                    if v.is_none() {
                        self.error(Diagnostic::error(a.span, "lhist() expects integer literals for min, max and step"));
                    }
                }
                if let [Some(min), Some(max), Some(step)] = vals[..] {
                    if step <= 0 {
                        self.error(Diagnostic::error(
                            c.args[3].span,
                            format!("lhist() step must be >= 1 ({step} provided)"),
                        ));
                    } else if min >= max {
                        self.error(Diagnostic::error(span, "lhist() min must be less than max"));
                    } else if min < 0 {
                        self.error(Diagnostic::error(c.args[1].span, "lhist() min must be non-negative"));
                    } else if (max - min) / step > 1000 {
                        self.error(Diagnostic::error(span, "lhist() too many buckets, must be <= 1000 (max-min)/step"));
                    }
                }
            }
            AggKind::Tseries => self.tseries_args(c, &params),
            _ => {}
        }
    }

    /// `tseries(v, interval, n[, agg])`: 0.26's checks and messages.
    fn tseries_args(&mut self, c: &Call, params: &[String]) {
        let (interval, n) = (&c.args[1], &c.args[2]);
        match int_literal(interval, params) {
            Some(0) => {
                return self.error(Diagnostic::error(interval.span, "tseries() interval_ns must be >= 1 (0 provided)"));
            }
            Some(v) if v > 0 => {}
            _ => {
                return self.error(Diagnostic::error(
                    interval.span,
                    "tseries: invalid interval_ns value (must be non-negative literal)",
                ));
            }
        }
        match int_literal(n, params) {
            Some(0) => self.error(Diagnostic::error(n.span, "tseries() num_intervals must be >= 1 (0 provided)")),
            Some(v) if v > 1_000_000 => self
                .error(Diagnostic::error(n.span, format!("tseries() num_intervals must be < 1000000 ({v} provided)"))),
            Some(v) if v > 0 => {}
            _ => self.error(Diagnostic::error(
                n.span,
                "tseries: invalid num_intervals value (must be non-negative literal)",
            )),
        }
        if let Some(agg) = c.args.get(3) {
            let name = match &agg.kind {
                ExprKind::Str(s) => String::from_utf8_lossy(s).into_owned(),
                _ => self.expr(agg).to_string(),
            };
            if !["avg", "max", "min", "sum"].contains(&name.as_str()) {
                self.error(Diagnostic::error(
                    agg.span,
                    format!(
                        "tseries() expects one of the following aggregation functions: avg, max, min, sum (\"{name}\" provided)"
                    ),
                ));
            }
        }
        self.unstable(c.name_span, "tseries", "tseries");
    }

    /// An unstable feature of 0.26 (`unstable_KEY` in the config): a
    /// warning once unless enabled, an error where the config says so.
    pub(super) fn unstable(&mut self, span: Span, key: &'static str, feature: &str) {
        let mode = match super::config::config_value(self.program, &format!("unstable_{key}")) {
            Some(ConfigValue::Ident(v) | ConfigValue::Str(v)) => v.to_ascii_lowercase(),
            _ => "warn".to_string(),
        };
        match mode.as_str() {
            "enable" => {}
            "error" => self.error(Diagnostic::error(
                span,
                format!("{feature} feature is not enabled by default. To enable this unstable feature, set the config flag to enable. unstable_{key}=enable"),
            )),
            _ if !self.unstable_warned.contains(&key) => {
                if self.reporting {
                    self.unstable_warned.push(key);
                }
                self.error(Diagnostic::global_warning(format!(
                    "Script is using an unstable feature: {feature}. To prevent this warning you must explicitly enable it in the config e.g. unstable_{key}=enable"
                )));
            }
            _ => {}
        }
    }

    fn stack_call(&mut self, c: &Call, span: Span) {
        if !self.arity(c, span, 0, 2) {
            return;
        }
        for (i, a) in c.args.iter().enumerate() {
            match &a.kind {
                ExprKind::Ident(mode) if i == 0 => {
                    if mode == "build_id" && c.name != "ustack" {
                        self.error(Diagnostic::error(a.span, "'build_id' stack mode can only be used for ustack"));
                    } else if !["bpftrace", "perf", "raw", "build_id"].contains(&mode.as_str()) {
                        self.error(
                            Diagnostic::error(a.span, format!("{}: invalid stack mode '{mode}'", c.name))
                                .with_hint("the modes are bpftrace, perf, raw and build_id"),
                        );
                    }
                }
                _ => match int_literal(a, &self.options.params) {
                    Some(n) if (1..=1024).contains(&n) => {}
                    Some(n) => self.error(Diagnostic::error(
                        a.span,
                        format!("{}: the stack limit must be 1 to 1024 ({n} given)", c.name),
                    )),
                    None => self.error(Diagnostic::error(
                        a.span,
                        format!("{}() expects a stack mode and an integer limit", c.name),
                    )),
                },
            }
        }
    }

    fn mode_arg(&mut self, c: &Call, a: &Expr, allowed: &[&str]) {
        let ok = matches!(&a.kind, ExprKind::Ident(m) if allowed.contains(&m.as_str()));
        if !ok {
            self.error(Diagnostic::error(a.span, format!("{}() takes one of: {}", c.name, allowed.join(", "))));
        }
    }

    /// Evaluates the first argument of `str()`: a pointer, an integer, or a
    /// positional parameter plus a constant no longer than its value.
    fn str_source(&mut self, a: &Expr) {
        if let ExprKind::Binary { op: BinOp::Add, lhs, rhs } = &a.kind
            && let ExprKind::Param(n) = lhs.kind
            && let Some(v) = usize::try_from(n).ok().and_then(|n| self.options.params.get(n.checked_sub(1)?)).cloned()
            && v.parse::<i64>().is_err()
        {
            let ok = int_literal(rhs, &self.options.params).is_some_and(|k| k >= 0 && k as usize <= v.len());
            if !ok {
                self.error(Diagnostic::error(
                    a.span,
                    format!("only addition of a single constant less or equal to the length of ${n} (which is {}) is allowed inside str()", v.len()),
                ));
            }
            return;
        }
        let t = self.expr(a);
        if !(t.is_integral() || matches!(t, Type::Str(_) | Type::Array(..))) {
            self.error(Diagnostic::error(a.span, format!("str() expects a pointer or an integer, found '{t}'")));
        }
    }

    fn getopt_call(&mut self, c: &Call, span: Span) -> Type {
        if !self.arity(c, span, 1, 3) {
            return Type::Unknown;
        }
        self.arg(c, 0, &c.args[0], Arg::StrLit);
        if let Some(d) = c.args.get(2) {
            self.arg(c, 2, d, Arg::StrLit);
        }
        match c.args.get(1).map(|d| (&d.kind, self.expr(d))) {
            None => Type::Bool,
            Some((ExprKind::Bool(_), _)) => Type::Bool,
            // Room for the default or the value given, whichever is longer.
            Some((ExprKind::Str(s), _)) => {
                let given = match &c.args[0].kind {
                    ExprKind::Str(name) => named_value(&self.options.named_params, name).flatten().map_or(0, str::len),
                    _ => 0,
                };
                Type::Str(s.len().max(given) as u64 + 1)
            }
            Some((_, t)) if t.is_int() => Type::INT64,
            Some((_, t)) => {
                self.error(Diagnostic::error(
                    c.args[1].span,
                    format!("getopt() defaults must be a boolean, an integer or a string literal, found '{t}'"),
                ));
                Type::Unknown
            }
        }
    }
}

/// The value given for a named parameter: `None` if it was not given,
/// `Some(None)` for a bare `--flag`.
pub fn named_value<'a>(named: &'a [(String, Option<String>)], name: &[u8]) -> Option<Option<&'a str>> {
    named.iter().rev().find(|(n, _)| n.as_bytes() == name).map(|(_, v)| v.as_deref())
}
