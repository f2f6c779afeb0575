//! Semantic checks that need no kernel: names, argument counts and kinds,
//! types of maps and variables, aggregation use, probe context (`retval`,
//! `args`, `argN`), format strings, positional parameters, config.
//!
//! The checker walks the program twice: the first walk learns every map's
//! key and value types from all probes (a map may be read in one probe
//! before another assigns it), the second reports what is wrong.

mod config;
mod expand;
mod expr;
pub(crate) mod functions;
pub mod kernel;
mod maps;
mod stmt;
pub mod types;
mod vars;

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

    /// A benchmark's name says which result is which: each once (0.26).
    fn unique_bench_names(&mut self, aps: &[&crate::attach::AttachPoint]) {
        let mut seen: BTreeMap<&[String], Span> = BTreeMap::new();
        for ap in aps.iter().filter(|ap| ap.provider == Provider::Bench) {
            let crate::attach::Target::Named(name) = &ap.target else { continue };
            match seen.get(name.as_slice()) {
                Some(&first) => self.error(
                    Diagnostic::error(
                        ap.span,
                        format!("\"{}\" was used as the name for more than one BENCH probe", name.join(":")),
                    )
                    .with_note(first, "this is the other instance"),
                ),
                None => {
                    seen.insert(name, ap.span);
                }
            }
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
        self.unique_bench_names(&aps);
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
