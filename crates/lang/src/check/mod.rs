//! Semantic checks that need no kernel: names, argument counts and kinds,
//! types of maps and variables, aggregation use, probe context (`retval`,
//! `args`, `argN`), format strings, positional parameters, config.
//!
//! The checker walks the program twice: the first walk learns every map's
//! key and value types from all probes (a map may be read in one probe
//! before another assigns it), the second reports what is wrong.

mod config;
mod expand;
pub(crate) mod functions;
pub mod kernel;
pub mod types;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use config::{apply_environment, config_value};
pub use expand::user_var_name;
pub use functions::{function_names, int_literal, named_value};
pub use kernel::{KernelField, KernelStructs, KernelTypes, UserSymbolSizes, UserSymbols};
pub use types::{AggKind, NumberKind, Type};

use crate::ast::*;
use crate::attach::Provider;
use crate::builtins;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::{Source, Span};
use crate::suggest::closest;

/// What the checker needs to know about the run.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Positional parameters (`$1` is `params[0]`).
    pub params: Vec<String>,
    /// Named parameters (`-- --name=value`, `--flag`), for `getopt()`.
    pub named_params: Vec<(String, Option<String>)>,
    /// A child command is started (`-c`), so `cpid` has a value.
    pub has_child: bool,
    /// `--unsafe`: allow `system()`, `signal()`, `override()`.
    pub allow_unsafe: bool,
    /// The default string capacity (`max_strlen`).
    pub max_strlen: u64,
    /// The type of `args` in each probe (by index) whose attach points give
    /// it one (tracepoint formats, BTF): a record of the fields.
    pub probe_args: Vec<Option<Type>>,
    /// Kernel structs' fields (from BTF), where the kernel describes them.
    pub kernel_types: Option<KernelTypes>,
    /// The symbols of the binaries user probes attach to (`uaddr()`).
    pub user_symbols: Option<UserSymbols>,
}

/// The default `max_strlen`: bpftrace 0.26's. (0.17's was 64; strings
/// that do not fit on the 512-byte BPF stack live in a per-CPU scratch
/// buffer.)
pub const DEFAULT_MAX_STRLEN: u64 = 1024;

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            params: Vec::new(),
            named_params: Vec::new(),
            has_child: false,
            allow_unsafe: false,
            max_strlen: DEFAULT_MAX_STRLEN,
            probe_args: Vec::new(),
            kernel_types: None,
            user_symbols: None,
        }
    }
}

/// A map as the whole program uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct MapInfo {
    /// `None` for a map used without keys (`@x`).
    pub key: Option<Type>,
    pub value: Type,
    /// Where the map is first written.
    pub span: Span,
}

/// A program that passed the checks, with what the checker learned.
#[derive(Clone, Debug)]
pub struct CheckedProgram {
    pub program: Program,
    pub maps: BTreeMap<String, MapInfo>,
    pub warnings: Vec<Diagnostic>,
    /// The type of every expression, by [`ExprId`].
    types: Vec<Type>,
    /// Each probe's scratch variables (by probe index) and their types.
    vars: Vec<BTreeMap<String, Type>>,
    /// The functions each probe calls (by probe index).
    calls: Vec<std::collections::BTreeSet<String>>,
    /// What each `typeinfo()` says: its base and full type names.
    typeinfo: HashMap<ExprId, (String, String)>,
}

impl CheckedProgram {
    /// The `base_type` and `full_type` of a `typeinfo()` expression.
    pub fn typeinfo(&self, e: &Expr) -> Option<(&str, &str)> {
        self.typeinfo.get(&e.id).map(|(b, f)| (b.as_str(), f.as_str()))
    }

    /// Whether the probe at `index` calls the function `name`.
    pub fn probe_calls(&self, index: usize, name: &str) -> bool {
        self.calls.get(index).is_some_and(|c| c.contains(name))
    }

    /// The scratch variables of the probe at `index` in `program.probes`,
    /// with the widest type each is given.
    pub fn probe_vars(&self, index: usize) -> impl Iterator<Item = (&str, &Type)> {
        self.vars.get(index).into_iter().flatten().map(|(n, t)| (n.as_str(), t))
    }

    /// The type the checker gave an expression of this program.
    pub fn type_of(&self, e: &Expr) -> &Type {
        self.types.get(e.id.0 as usize).unwrap_or(&Type::Unknown)
    }
}

/// Gives every expression of the program its own number.
struct Numbering(u32);

impl crate::visit::VisitMut for Numbering {
    fn expr(&mut self, e: &mut Expr) {
        self.0 += 1;
        e.id = ExprId(self.0);
        crate::visit::walk_expr(self, e);
    }
}

/// Expands macros and checks the program.
pub fn check(mut program: Program, source: &Source, options: &CheckOptions) -> Result<CheckedProgram, Diagnostics> {
    let mut diags = expand::expand(&mut program, source);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diags));
    }
    let mut numbering = Numbering(0);
    for probe in &mut program.probes {
        if let Some(p) = &mut probe.predicate {
            crate::visit::VisitMut::expr(&mut numbering, p);
        }
        crate::visit::walk_block(&mut numbering, &mut probe.body);
    }
    for sub in &mut program.subprogs {
        crate::visit::walk_block(&mut numbering, &mut sub.body);
    }
    let options = &with_config(&program, options);
    let mut checker = Checker::new(&program, options);
    diags.extend(config::check_config(&program));
    for i in &program.imports {
        diags.push(Diagnostic::error(i.span, "imports are not supported yet"));
    }
    diags.extend(config::check_map_decls(&program));
    checker.walk_program(&program);
    // The second walk knows each variable's widest type from the first: an
    // integer variable has one type throughout its probe, as in bpftrace
    // 0.26, even where a later assignment (in a loop) widens it.
    checker.known_vars = checker.vars.clone();
    checker.reporting = true;
    checker.walk_program(&program);
    diags.extend(checker.diags);
    // As 0.26: a declared map that nothing names.
    let mut unused: Vec<_> =
        program.map_decls.iter().filter(|d| checker.maps.get(&d.name).is_none_or(|m| !m.used)).collect();
    unused.sort_by(|a, b| a.name.cmp(&b.name));
    diags.extend(unused.into_iter().map(|d| Diagnostic::warning(d.span, format!("Unused map: @{}", d.name))));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diags));
    }
    let types = checker.types;
    let vars = checker.vars;
    let calls = checker.calls;
    let typeinfo = checker.typeinfo;
    let maps = checker
        .maps
        .into_iter()
        .filter_map(|(name, m)| {
            Some((name, MapInfo { key: m.key?, value: m.value.unwrap_or(Type::Unknown), span: m.span }))
        })
        .collect();
    Ok(CheckedProgram { program, maps, warnings: diags, types, vars, calls, typeinfo })
}

/// The longest string the program reads (`max_strlen`): its config's, or
/// the default.
pub fn configured_max_strlen(program: &Program) -> u64 {
    with_config(program, &CheckOptions::default()).max_strlen
}

/// The options with the program's `config` block applied.
fn with_config(program: &Program, options: &CheckOptions) -> CheckOptions {
    let mut o = options.clone();
    for e in program.config.iter().flat_map(|c| &c.entries) {
        if let ConfigValue::Int(n) = e.value
            && config::normalize_key(&e.key) == "max_strlen"
        {
            o.max_strlen = n.max(1);
        }
    }
    o
}

#[derive(Clone, Debug)]
struct MapState {
    /// `None` until the first use; then `Some(None)` for `@x`, or the key.
    key: Option<Option<Type>>,
    value: Option<Type>,
    /// Written somewhere (assigned, incremented, declared).
    written: bool,
    /// Named anywhere in a probe (for 0.26's "Unused map" warning).
    used: bool,
    span: Span,
}

/// A scratch variable: its type, unknown for `let $x;` until assigned.
#[derive(Clone, Debug)]
struct Var {
    ty: Option<Type>,
}

pub(crate) struct Checker<'a> {
    options: &'a CheckOptions,
    /// The program being checked (its config block, for `config.NAME`).
    program: &'a Program,
    maps: HashMap<String, MapState>,
    /// Program-defined structs and unions by `struct name`.
    structs: HashMap<String, &'a CStruct>,
    /// Enum constants: their value and their enum (`enum E`).
    enum_values: HashMap<String, (i64, String)>,
    /// Only the second walk reports.
    reporting: bool,
    /// Each probe's variables' widest types, from the first walk.
    known_vars: Vec<BTreeMap<String, Type>>,
    diags: Vec<Diagnostic>,
    /// The providers of the probe being checked (one per attach point).
    providers: Vec<Provider>,
    scopes: Vec<HashMap<String, Var>>,
    loop_depth: u32,
    /// What each expression's type turned out to be, by id.
    types: Vec<Type>,
    /// Scratch variables per probe.
    vars: Vec<BTreeMap<String, Type>>,
    /// The functions each probe calls.
    calls: Vec<std::collections::BTreeSet<String>>,
    /// What each `typeinfo()` says (by expression).
    typeinfo: HashMap<ExprId, (String, String)>,
    /// The unstable features already warned about.
    unstable_warned: Vec<&'static str>,
    /// Each tseries map's interval, count and aggregation, as first used.
    tseries_bounds: HashMap<String, (Option<i64>, Option<i64>, String, bool)>,
    probe_index: usize,
}

impl<'a> Checker<'a> {
    fn new(program: &'a Program, options: &'a CheckOptions) -> Checker<'a> {
        let mut structs = HashMap::new();
        let mut enum_values = HashMap::new();
        for item in &program.c_items {
            match item {
                CItem::Struct(s) => {
                    structs.insert(format!("{} {}", s.kind.keyword(), s.name), s);
                }
                CItem::Enum(e) => {
                    for v in &e.variants {
                        enum_values.insert(v.name.clone(), (v.value, format!("enum {}", e.name)));
                    }
                }
                _ => {}
            }
        }
        let mut maps = HashMap::new();
        for d in &program.map_decls {
            maps.insert(
                d.name.clone(),
                MapState { key: None, value: None, written: true, used: false, span: d.name_span },
            );
        }
        Checker {
            options,
            program,
            maps,
            structs,
            enum_values,
            reporting: false,
            known_vars: Vec::new(),
            diags: Vec::new(),
            providers: Vec::new(),
            scopes: Vec::new(),
            loop_depth: 0,
            types: Vec::new(),
            vars: Vec::new(),
            calls: Vec::new(),
            typeinfo: HashMap::new(),
            unstable_warned: Vec::new(),
            tseries_bounds: HashMap::new(),
            probe_index: 0,
        }
    }

    pub(crate) fn error(&mut self, d: Diagnostic) {
        if self.reporting {
            self.diags.push(d);
        }
    }

    fn walk_program(&mut self, program: &Program) {
        // An iterator's run is the iteration: nothing else can run with it.
        let aps: Vec<_> = program.probes.iter().flat_map(|p| &p.attach_points).collect();
        if aps.len() > 1
            && let Some(iter) = aps.iter().find(|ap| ap.provider == Provider::Iter)
        {
            self.error(
                Diagnostic::error(iter.span, "an iter probe must be the only probe in the program")
                    .with_hint("the run is the iteration: put other probes in a program of their own"),
            );
        }
        self.vars = vec![BTreeMap::new(); program.probes.len()];
        self.calls = vec![Default::default(); program.probes.len()];
        for (index, probe) in program.probes.iter().enumerate() {
            self.probe_index = index;
            self.providers = probe.attach_points.iter().map(|a| a.provider).collect();
            self.scopes = vec![HashMap::new()];
            self.loop_depth = 0;
            if let Some(pred) = &probe.predicate {
                let t = self.expr(pred);
                self.condition(&t, pred.span, "predicate");
            }
            self.block_in_scope(&probe.body);
        }
        self.probe_index = usize::MAX;
        for sub in &program.subprogs {
            self.providers = Vec::new();
            let mut scope = HashMap::new();
            for (name, ty, _) in &sub.params {
                let t = self.resolve_type(ty);
                scope.insert(name.clone(), Var { ty: Some(t) });
            }
            self.scopes = vec![scope];
            self.block_in_scope(&sub.body);
        }
    }

    // ---- scopes -----------------------------------------------------------

    fn lookup_var(&self, name: &str) -> Option<&Var> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    fn lookup_var_mut(&mut self, name: &str) -> Option<&mut Var> {
        self.scopes.iter_mut().rev().find_map(|s| s.get_mut(name))
    }

    fn declare_var(&mut self, name: &str, ty: Option<Type>) {
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
    fn settled_type(&self, name: &str, t: Type) -> Type {
        match (self.known_vars.get(self.probe_index).and_then(|v| v.get(name)), &t) {
            (Some(known @ Type::Int { .. }), Type::Int { .. }) => known.widen(&t),
            _ => t,
        }
    }

    /// Remembers the widest type a probe's variable takes.
    fn note_var(&mut self, name: &str, t: &Type) {
        if let Some(vars) = self.vars.get_mut(self.probe_index) {
            let entry = vars.entry(name.to_string()).or_insert_with(|| t.clone());
            *entry = entry.widen(t);
        }
    }

    /// A block with its own scope; its type is its tail's.
    fn block_in_scope(&mut self, b: &Block) -> Type {
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

    fn stmt(&mut self, s: &Stmt) {
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

    fn loop_body(&mut self, body: &Block) {
        self.loop_depth += 1;
        self.block_in_scope(body);
        self.loop_depth -= 1;
    }

    fn for_map(&mut self, m: &Expr) -> Type {
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
    fn refuse_agg_copy(&mut self, k: AggKind, span: Span) {
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
    fn same_tseries_bounds(&mut self, map: &str, call: &Call, span: Span) {
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

    fn assign(&mut self, target: &Expr, op: Option<BinOp>, value: &Expr) {
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
    fn value_expr(&mut self, e: &Expr) -> Type {
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

    /// Values that cannot be kept or printed yet: a whole struct, and the
    /// value of a histogram or stats map.
    pub(crate) fn refuse_unkeepable(&mut self, t: &Type, span: Span) {
        match t {
            Type::Struct(name) => self.error(
                Diagnostic::error(span, format!("a whole {name} cannot be kept or printed yet"))
                    .with_hint("read the fields you need, as in s->field"),
            ),
            Type::Agg(k) if !k.reads_as_int() => self.error(
                Diagnostic::error(span, format!("a map of {}() values cannot be read as one value", k.name()))
                    .with_hint("print the map with print(@map)"),
            ),
            _ => {}
        }
    }

    fn var_type(&mut self, name: &str, span: Span) -> Type {
        match self.lookup_var(name) {
            Some(v) => v.ty.clone().unwrap_or(Type::Unknown),
            None => {
                self.undefined_var(name, span);
                Type::Unknown
            }
        }
    }

    fn undefined_var(&mut self, name: &str, span: Span) {
        let shown = user_var_name(name);
        let mut d = Diagnostic::error(span, format!("Undefined or undeclared variable: ${shown}"));
        if name.contains(expand::HYGIENE_MARK) {
            d = d.with_hint("a macro only sees the scratch variables passed to it as $parameters");
        } else {
            d = d.with_hint("assign it first; a variable assigned inside a block ends with the block (declare it before with 'let')");
        }
        self.error(d);
    }

    fn var_store(&mut self, name: &str, vt: Type, span: Span) {
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

    // ---- maps ---------------------------------------------------------------

    /// Checks and records the key a map is used with.
    fn map_key(&mut self, map: &MapRef, span: Span) {
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

    fn map_state(&mut self, name: &str, span: Span) -> &mut MapState {
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
    fn map_value(&mut self, map: &MapRef, span: Span) -> Type {
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

    fn map_store(&mut self, name: &str, vt: Type, span: Span) {
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

    fn condition(&mut self, t: &Type, span: Span, what: &str) {
        if !t.is_truthy() {
            self.error(Diagnostic::error(
                span,
                format!("Invalid {what}: expected an integer, a boolean or a pointer, found '{t}'"),
            ));
        }
    }

    // ---- expressions ------------------------------------------------------

    /// Records an expression's type without checking it (an out-parameter).
    pub(crate) fn types_note(&mut self, e: &Expr, t: &Type) {
        let i = e.id.0 as usize;
        if self.types.len() <= i {
            self.types.resize(i + 1, Type::Unknown);
        }
        self.types[i] = t.clone();
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> Type {
        let t = crate::parser::grow(|| self.expr_inner(e));
        let i = e.id.0 as usize;
        if self.types.len() <= i {
            self.types.resize(i + 1, Type::Unknown);
        }
        self.types[i] = t.clone();
        t
    }

    fn expr_inner(&mut self, e: &Expr) -> Type {
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

    fn type_or_expr(&mut self, t: &TypeOrExpr) -> Type {
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

    fn param(&mut self, n: u64, span: Span) -> Type {
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

    fn ident(&mut self, name: &str, span: Span) -> Type {
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
    fn builtin(&mut self, name: &str, span: Span) -> Option<Type> {
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

    fn require(&mut self, span: Span, name: &str, ok: fn(Provider) -> bool) {
        if let Some(p) = self.providers.iter().copied().find(|&p| !ok(p)) {
            let which = Provider::names_where(ok);
            self.error(
                Diagnostic::error(span, format!("The {name} builtin can only be used with {which} probes"))
                    .with_hint(format!("it is used here in a {} probe", p.name())),
            );
        }
    }

    fn unary(&mut self, op: UnaryOp, operand: &Expr, span: Span) -> Type {
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
    fn binary_type(&mut self, op: BinOp, l: &Type, r: &Type, span: Span) -> Type {
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

    fn incdec(&mut self, target: &Expr, inc: bool, span: Span) -> Type {
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

    fn field(&mut self, base: &Type, field: &str, field_span: Span, span: Span) -> Type {
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
    fn kernel_field(&mut self, name: &str, field: &str, span: Span) -> Type {
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

    fn struct_field(&mut self, def: &CStruct, field: &str) -> Option<Type> {
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

    fn tuple_index(&mut self, base: &Type, index: u64, span: Span) -> Type {
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

    fn index(&mut self, base: &Type, index: &Expr, span: Span) -> Type {
        match base {
            Type::Unknown => Type::Unknown,
            Type::Array(inner, _) | Type::Pointer(inner) => (**inner).clone(),
            Type::Str(_) => Type::Int { bits: 8, signed: true },
            Type::Int { .. } => Type::Unknown,
            Type::Tuple(items) => match functions::int_literal(index, &self.options.params) {
                Some(i) => match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                    Some(t) => t.clone(),
                    None => {
                        self.error(Diagnostic::error(
                            span,
                            format!("Invalid tuple index: {i} (the tuple has {} elements)", items.len()),
                        ));
                        Type::Unknown
                    }
                },
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

    fn cast(&mut self, from: &Type, to: Type, span: Span) -> Type {
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

    /// The type a written type stands for.
    pub(crate) fn resolve_type(&mut self, ty: &TypeSpec) -> Type {
        let mut t = match &ty.base {
            BaseType::Int { bits, signed } => Type::Int { bits: *bits, signed: *signed },
            BaseType::Bool => Type::Bool,
            BaseType::Void => Type::None,
            BaseType::String(n) => Type::Str(n.unwrap_or(self.options.max_strlen)),
            BaseType::Buffer(n) => Type::Buffer(n.unwrap_or(64)),
            BaseType::Inet(_) => Type::Inet,
            BaseType::Builtin(name) => builtin_type(name),
            BaseType::Composite { kind: CompositeKind::Enum, name }
                if self.program.c_items.iter().any(|i| matches!(i, CItem::Enum(e) if e.name == *name)) =>
            {
                Type::Enum(format!("enum {name}"))
            }
            BaseType::Composite { kind, name } => Type::Struct(format!("{} {name}", kind.keyword())),
            BaseType::Named(name) => match crate::ast::typedef_target(&self.program.c_items, name) {
                Some(target) => {
                    let mut target = target;
                    target.suffixes.extend(ty.suffixes.iter().copied());
                    return self.resolve_type(&target);
                }
                None => match builtins::c_fixed_int(name) {
                    Some((bits, signed)) => Type::Int { bits, signed },
                    None => Type::Unknown,
                },
            },
            BaseType::Typeof(inner) => self.type_or_expr(inner),
        };
        for s in &ty.suffixes {
            t = match s {
                TypeSuffix::Pointer => Type::Pointer(Box::new(t)),
                TypeSuffix::Array(n) => Type::Array(Box::new(t), n.unwrap_or(0)),
            };
        }
        t
    }
}

fn builtin_type(name: &str) -> Type {
    let agg = name.trim_start_matches('u').trim_end_matches("_t");
    if let Some(k) = AggKind::from_function(agg) {
        return Type::Agg(k);
    }
    match name {
        "ksym_t" => Type::Ksym,
        "usym_t" => Type::Usym,
        "kstack_t" => Type::Kstack,
        "ustack_t" => Type::Ustack,
        "timestamp" => Type::Timestamp,
        "username_t" => Type::Username,
        "probe_t" => Type::Probe,
        "macaddr_t" => Type::Macaddr,
        "cgroup_path_t" => Type::CgroupPath,
        _ => Type::Unknown,
    }
}

/// `$1 + 1` where `$1` was given a string: bpftrace's own message.
fn numeric_param_misuse(op: BinOp, sides: [(&Expr, &Type); 2], params: &[String]) -> Option<Diagnostic> {
    if op.is_logical() {
        return None;
    }
    let [(a, ta), (b, tb)] = sides;
    for (e, t, other) in [(a, ta, tb), (b, tb, ta)] {
        if let (ExprKind::Param(n), Type::Str(_)) = (&e.kind, t)
            && !other.is_stringlike()
        {
            let given = usize::try_from(*n).ok().and_then(|n| params.get(n.checked_sub(1)?)).map_or("", String::as_str);
            return Some(Diagnostic::error(
                e.span,
                format!("${n} used numerically but given \"{given}\". Try using str(${n})."),
            ));
        }
    }
    None
}
