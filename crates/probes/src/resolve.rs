//! Turns a program's attach points into concrete ones: wildcards expanded,
//! and each tracepoint's record layout read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::ast::Program;
use bpfscope_lang::attach::{AttachPoint, Provider, Target, UserLocation};
use bpfscope_lang::check::Type;

use crate::ProbeError;
use crate::btf::KernelBtf;
use crate::glob;
use crate::kernel::KernelFunctions;
use crate::tracefs::{self, Field, Format};
use crate::usdt::{self, UsdtProbe};
use crate::user::{self, Binary};

/// An attach point with what the compiler and runtime need to know of it.
#[derive(Clone, Debug)]
pub struct Site {
    /// No wildcards left.
    pub attach: AttachPoint,
    pub detail: Detail,
}

#[derive(Clone, Debug)]
pub enum Detail {
    /// Nothing beyond the attach point (BEGIN, END, interval, profile).
    None,
    Tracepoint {
        category: String,
        event: String,
        format: Arc<Format>,
    },
    /// One location in a user binary.
    Uprobe(UprobeSite),
    /// One USDT probe site.
    Usdt(UsdtSite),
    /// A kernel function (and offset) for a kprobe or kretprobe.
    Kprobe(KprobeSite),
    /// A kernel function for fentry or fexit, with its signature.
    Fentry(FentrySite),
    /// A raw tracepoint; its named arguments from BTF when the probe reads
    /// `args`.
    RawTracepoint {
        args: Option<Arc<Vec<(String, Type)>>>,
    },
}

/// Where a uprobe goes: a file and an offset in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UprobeSite {
    /// The file to attach to (through `/proc/PID/root` for a process's
    /// own view of its files).
    pub binary: Arc<PathBuf>,
    /// The function the site is in, when known (`func`).
    pub function: Option<String>,
    /// The file offset the kernel places the breakpoint at.
    pub offset: u64,
    pub ret: bool,
    /// The function's parameters from DWARF, when the probe reads `args`.
    pub params: Option<Arc<Vec<crate::dwarf::Param>>>,
}

/// Where an fentry or fexit program goes, and what its context holds.
#[derive(Clone, Debug, PartialEq)]
pub struct FentrySite {
    /// `function` or `module:function`.
    pub function: String,
    /// The parameters (BTF's names and types); empty when BTF does not
    /// describe the function (module functions, for now).
    pub params: Arc<Vec<(String, Type)>>,
    pub return_type: Type,
    pub ret: bool,
}

/// Where a kprobe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KprobeSite {
    /// The function's name, without its module.
    pub function: String,
    pub module: Option<String>,
    pub offset: u64,
    pub ret: bool,
}

/// Where a USDT probe goes, and how to read its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtSite {
    pub binary: Arc<PathBuf>,
    pub probe: UsdtProbe,
}

/// What resolving needs beyond the program.
#[derive(Clone, Debug, Default)]
pub struct ResolveOptions {
    /// `-p PID`: libraries are looked up among its mappings, and a uprobe
    /// may omit the binary (its executable is meant).
    pub pid: Option<u32>,
    /// `-c CMD`'s executable: what a uprobe without a binary means.
    pub executable: Option<PathBuf>,
}

/// Every probe's concrete attach points, in program order.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub probes: Vec<Vec<Site>>,
    /// Things worth saying that are not errors (functions a wildcard
    /// matched but the kernel cannot trace).
    pub notes: Vec<String>,
    /// C declarations, from the DWARF of uprobes' binaries, of the structs
    /// their probes cast to.
    pub cast_declarations: Vec<String>,
}

impl Resolved {
    /// The `args` of each probe that has them, as a record type, for the
    /// checker: the fields of its first attach point.
    pub fn args_types(&self, max_strlen: u64) -> Vec<Option<Type>> {
        self.probes
            .iter()
            .map(|targets| {
                targets.iter().find_map(|c| match &c.detail {
                    Detail::Tracepoint { format, .. } => Some(Type::Record(
                        format.fields.iter().map(|f| (f.name.clone(), field_type(f, max_strlen))).collect(),
                    )),
                    Detail::RawTracepoint { args: Some(args) } => Some(Type::Record(args.to_vec())),
                    Detail::Fentry(site) => Some(Type::Record(site.params.to_vec())),
                    // Parameters the language cannot read (floats, structs
                    // by value) are left out: naming one is an error.
                    Detail::Uprobe(UprobeSite { params: Some(params), .. }) => Some(Type::Record(
                        params.iter().filter_map(|p| Some((p.name.clone(), p.ty.clone()?))).collect(),
                    )),
                    Detail::None
                    | Detail::Uprobe(_)
                    | Detail::Usdt(_)
                    | Detail::Kprobe(_)
                    | Detail::RawTracepoint { args: None } => None,
                })
            })
            .collect()
    }
}

impl Resolved {
    /// C declarations of the structs uprobes' `args` point at, from DWARF,
    /// each once and in an order they can be read in; without the ones in
    /// `declared` (`struct NAME`s the program declares itself, which win,
    /// as in bpftrace).
    pub fn dwarf_declarations(&self, declared: &std::collections::HashSet<String>) -> String {
        let mut seen = std::collections::HashSet::new();
        let mut out = String::new();
        let params = self.probes.iter().flatten().filter_map(|c| match &c.detail {
            Detail::Uprobe(UprobeSite { params: Some(params), .. }) => Some(params),
            _ => None,
        });
        for text in params.flat_map(|ps| ps.iter()).flat_map(|p| p.decls.iter()).chain(&self.cast_declarations) {
            let name = text.split(" {").next().unwrap_or_default().to_string();
            if !declared.contains(&name) && seen.insert(name) {
                out.push_str(text);
            }
        }
        out
    }

    /// The binary each probe's first user attach point is in, whose
    /// symbols `uaddr()` names.
    pub fn user_symbols(&self) -> ProbeBinaries {
        let binaries = self
            .probes
            .iter()
            .map(|targets| {
                targets.iter().find_map(|c| match &c.detail {
                    Detail::Uprobe(site) => Some(site.binary.clone()),
                    Detail::Usdt(site) => Some(site.binary.clone()),
                    _ => None,
                })
            })
            .collect();
        ProbeBinaries { binaries, opened: Default::default() }
    }
}

/// The probes' binaries, opened when a symbol is first asked for.
pub struct ProbeBinaries {
    binaries: Vec<Option<Arc<PathBuf>>>,
    opened: std::cell::RefCell<std::collections::HashMap<PathBuf, Option<std::rc::Rc<Binary>>>>,
}

impl ProbeBinaries {
    fn binary(&self, probe: usize) -> Option<(&Path, Option<std::rc::Rc<Binary>>)> {
        let path = self.binaries.get(probe)?.as_deref()?;
        let mut opened = self.opened.borrow_mut();
        let binary = opened.entry(path.clone()).or_insert_with(|| Binary::open(path).ok().map(std::rc::Rc::new));
        Some((path, binary.clone()))
    }
}

impl bpfscope_lang::check::UserSymbolSizes for ProbeBinaries {
    fn symbol_size(&self, probe: usize, name: &str) -> Result<u64, String> {
        let Some((path, binary)) = self.binary(probe) else { return Err(String::new()) };
        binary.and_then(|b| b.symbol(name)).map(|(_, size)| size).ok_or_else(|| path.display().to_string())
    }
}

/// The bpftrace type of a tracepoint field.
pub fn field_type(f: &Field, max_strlen: u64) -> Type {
    if f.is_data_loc() {
        return Type::Str(max_strlen);
    }
    if f.is_pointer() {
        // `const char *const *argv`: a pointer per `*`, to char or to a
        // type not known here.
        let base = f.c_type.split('*').next().unwrap_or("");
        let mut t = if base.contains("char") { Type::Int { bits: 8, signed: true } } else { Type::Unknown };
        for _ in 0..f.c_type.matches('*').count() {
            t = Type::Pointer(Box::new(t));
        }
        return t;
    }
    if let Some(n) = f.array_len {
        if f.is_char() {
            return Type::Str(u64::from(n));
        }
        let elem = f.size / n.max(1);
        return match elem {
            1 | 2 | 4 | 8 => {
                Type::Array(Box::new(Type::Int { bits: (elem * 8) as u8, signed: f.signed }), u64::from(n))
            }
            _ => Type::Unknown,
        };
    }
    match f.size {
        1 | 2 | 4 | 8 => Type::Int { bits: (f.size * 8) as u8, signed: f.signed },
        _ => Type::Unknown,
    }
}

pub fn resolve(program: &Program, options: &ResolveOptions) -> Result<Resolved, Vec<Diagnostic>> {
    let mut probes = Vec::new();
    let mut errors = Vec::new();
    let mut binaries = Binaries::default();
    let mut btf = None;
    let mut kernel = None;
    let mut notes = Vec::new();
    let mut cast_declarations = Vec::new();
    for probe in &program.probes {
        let mut targets = Vec::new();
        for ap in &probe.attach_points {
            let found = match (&ap.provider, &ap.target) {
                (Provider::Uprobe | Provider::Uretprobe, Target::User { binary, location, lang }) => binaries
                    .uprobes(ap, binary.as_deref(), location, lang.as_deref(), options)
                    .and_then(|sites| if uses_args(probe) { binaries.with_params(ap, sites) } else { Ok(sites) })
                    .inspect(|sites| {
                        // Structs the probe casts to, as its binary's DWARF has them.
                        let casts = cast_structs(probe);
                        if let (false, Some(Detail::Uprobe(site))) =
                            (casts.is_empty(), sites.first().map(|c| &c.detail))
                            && let Ok(b) = binaries.open(&site.binary)
                        {
                            cast_declarations.extend(b.struct_declarations(&casts));
                        }
                    }),
                (Provider::Fentry | Provider::Fexit, Target::Kernel { module, func, offset: None }) => {
                    fentries(ap, module.as_deref(), func, &mut btf, &mut kernel)
                }
                (Provider::Kprobe | Provider::Kretprobe, Target::Kernel { module, func, offset }) => {
                    kprobes(ap, module.as_deref(), func, offset.unwrap_or(0), &mut kernel, &mut notes)
                }
                (Provider::Usdt, Target::Usdt { binary, namespace, name }) => {
                    binaries.usdt(ap, binary.as_deref(), namespace.as_deref(), name, options)
                }
                (Provider::RawTracepoint, _) if uses_args(probe) => raw_tracepoints_with_args(ap, &mut btf),
                _ => concrete(ap),
            };
            match found {
                Ok(mut c) => targets.append(&mut c),
                Err(d) => errors.push(d),
            }
        }
        probes.push(targets);
    }
    if errors.is_empty() { Ok(Resolved { probes, notes, cast_declarations }) } else { Err(errors) }
}

fn concrete(ap: &AttachPoint) -> Result<Vec<Site>, Diagnostic> {
    match (&ap.provider, &ap.target) {
        (Provider::Tracepoint, Target::Tracepoint { category, event }) => {
            let matches = if glob::is_pattern(category) || glob::is_pattern(event) {
                tracefs::matching_events(category, event).map_err(|e| e.at(ap))?
            } else {
                vec![(category.clone(), event.clone())]
            };
            if matches.is_empty() {
                return Err(Diagnostic::error(ap.span, format!("no tracepoint matches {}", ap.canonical()))
                    .with_hint("list them with: ls /sys/kernel/tracing/events/<category>"));
            }
            matches
                .into_iter()
                .map(|(category, event)| {
                    let format = Arc::new(tracefs::read_format(&category, &event).map_err(|e| e.at(ap))?);
                    let attach = AttachPoint {
                        target: Target::Tracepoint { category: category.clone(), event: event.clone() },
                        ..ap.clone()
                    };
                    Ok(Site { attach, detail: Detail::Tracepoint { category, event, format } })
                })
                .collect()
        }
        (Provider::RawTracepoint, Target::Kernel { module, func, offset: None }) => {
            let names = tracefs::matching_raw_tracepoints(func).map_err(|e| e.at(ap))?;
            if names.is_empty() {
                let mut d = Diagnostic::error(ap.span, format!("no tracepoint matches '{func}'"));
                let all = tracefs::matching_raw_tracepoints("*").unwrap_or_default();
                if let Some(c) = bpfscope_lang::suggest::closest(func, all.iter().map(String::as_str)) {
                    d = d.with_hint(format!("did you mean '{c}'?"));
                }
                return Err(d);
            }
            Ok(names
                .into_iter()
                .map(|name| Site {
                    attach: AttachPoint {
                        target: Target::Kernel { module: module.clone(), func: name, offset: None },
                        ..ap.clone()
                    },
                    detail: Detail::None,
                })
                .collect())
        }
        _ => Ok(vec![Site { attach: ap.clone(), detail: Detail::None }]),
    }
}

/// The kernel functions a kprobe attach point names: each traceable
/// function a wildcard matches (saying how many it had to skip), or the
/// one it names.
fn kprobes(
    ap: &AttachPoint,
    module: Option<&str>,
    func: &str,
    offset: u64,
    kernel: &mut Option<KernelFunctions>,
    notes: &mut Vec<String>,
) -> Result<Vec<Site>, Diagnostic> {
    let functions = match kernel {
        Some(k) => k,
        None => kernel.insert(crate::kernel::functions().map_err(|e| e.at(ap))?),
    };
    let ret = ap.provider == Provider::Kretprobe;
    let site = |qualified: &str| {
        let (module, function) = match qualified.split_once(':') {
            Some((m, f)) => (Some(m.to_string()), f.to_string()),
            None => (None, qualified.to_string()),
        };
        let attach = AttachPoint {
            target: Target::Kernel {
                module: module.clone(),
                func: function.clone(),
                offset: (offset > 0).then_some(offset),
            },
            ..ap.clone()
        };
        Site { attach, detail: Detail::Kprobe(KprobeSite { function, module, offset, ret }) }
    };
    let glob = crate::glob::Glob::new(func);
    // `kprobe:vfs_*` matches functions by name, in the kernel or a module;
    // `kprobe:mod:f*` only that module's.
    let matches = |name: &str| match (module, name.split_once(':')) {
        (Some(m), Some((nm, f))) => crate::glob::Glob::new(m).matches(nm) && glob.matches(f),
        (Some(_), None) => false,
        (None, Some((_, f))) => glob.matches(f),
        (None, None) => glob.matches(name),
    };
    let shown = module.map_or(func.to_string(), |m| format!("{m}:{func}"));
    if crate::glob::is_pattern(func) || module.is_some_and(crate::glob::is_pattern) {
        let wanted = |n: &&String| matches(n) && !crate::kernel::is_clone(n);
        let traceable: Vec<&String> = functions.traceable.iter().filter(wanted).collect();
        let skipped = functions.all.iter().filter(wanted).filter(|n| !functions.traceable.contains(*n)).count();
        if skipped > 0 {
            notes.push(format!(
                "{}: skipped {skipped} matching function{} the kernel cannot trace (not in available_filter_functions, or blacklisted)",
                ap.canonical(),
                if skipped == 1 { "" } else { "s" }
            ));
        }
        if traceable.is_empty() {
            return Err(Diagnostic::error(ap.span, format!("no traceable kernel function matches '{shown}'"))
                .with_hint("list them with: bpfscope -l 'kprobe:*'"));
        }
        return Ok(traceable.into_iter().map(|n| site(n)).collect());
    }
    if functions.traceable.contains(&shown) {
        return Ok(vec![site(&shown)]);
    }
    if functions.all.contains(&shown) {
        return Err(Diagnostic::error(ap.span, format!("the kernel cannot trace '{shown}'")).with_hint(
            "it is not in available_filter_functions (notrace or inlined), or kprobes are blacklisted on it",
        ));
    }
    let mut d = Diagnostic::error(ap.span, format!("no kernel function named '{shown}'"));
    if let Some(c) = bpfscope_lang::suggest::closest(&shown, functions.traceable.iter().map(String::as_str)) {
        d = d.with_hint(format!("did you mean '{c}'?"));
    }
    Err(d)
}

/// The kernel functions an fentry/fexit attach point names, with their
/// signatures from BTF: one for a name, each traceable one BTF describes
/// for a wildcard.
fn fentries(
    ap: &AttachPoint,
    module: Option<&str>,
    func: &str,
    btf: &mut Option<KernelBtf>,
    kernel: &mut Option<KernelFunctions>,
) -> Result<Vec<Site>, Diagnostic> {
    let btf = match btf {
        Some(b) => b,
        None => btf.insert(KernelBtf::load().map_err(|e| e.at(ap))?),
    };
    if let Some(id) = module.and_then(|m| m.strip_prefix("bpf:")) {
        return Err(Diagnostic::error(
            ap.span,
            format!("fentry/fexit on BPF programs ({}:bpf:{id}:{func}) is not built yet", ap.provider.name()),
        )
        .with_hint("the kernel needs the target program's BTF, and attaching to it through its id is not done yet"));
    }
    let ret = ap.provider == Provider::Fexit;
    let module = module.filter(|m| *m != "vmlinux");
    let site = |name: &str| {
        let (params, return_type) = match module {
            None => btf.function_signature(name).unwrap_or((Vec::new(), Type::Unknown)),
            Some(_) => (Vec::new(), Type::Unknown),
        };
        let function = module.map_or(name.to_string(), |m| format!("{m}:{name}"));
        Site {
            attach: AttachPoint {
                target: Target::Kernel {
                    module: Some(module.unwrap_or("vmlinux").to_string()),
                    func: name.to_string(),
                    offset: None,
                },
                ..ap.clone()
            },
            detail: Detail::Fentry(FentrySite { function, params: Arc::new(params), return_type, ret }),
        }
    };
    if !crate::glob::is_pattern(func) {
        if module.is_none() && btf.function_signature(func).is_none() {
            let names = btf.function_names();
            let mut d = Diagnostic::error(ap.span, format!("the kernel's BTF has no function '{func}'"));
            if let Some(c) = bpfscope_lang::suggest::closest(func, names.iter().map(String::as_str)) {
                d = d.with_hint(format!("did you mean '{c}'?"));
            }
            return Err(d);
        }
        return Ok(vec![site(func)]);
    }
    if module.is_some() {
        return Err(Diagnostic::error(ap.span, "wildcards over a module's functions are not supported yet for fentry"));
    }
    let functions = match kernel {
        Some(k) => k,
        None => kernel.insert(crate::kernel::functions().map_err(|e| e.at(ap))?),
    };
    let glob = crate::glob::Glob::new(func);
    let mut names: Vec<String> = btf
        .function_names()
        .into_iter()
        .filter(|n| glob.matches(n) && functions.traceable.contains(n) && !crate::kernel::is_clone(n))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Diagnostic::error(ap.span, format!("no traceable kernel function in BTF matches '{func}'")));
    }
    Ok(names.iter().map(|n| site(n)).collect())
}

/// The structs, unions and enums a probe casts to (`(struct foo *)arg0`,
/// `(enum color)arg1`), as `struct foo`, `enum color`.
fn cast_structs(probe: &bpfscope_lang::ast::Probe) -> Vec<String> {
    use bpfscope_lang::ast::{BaseType, CompositeKind, ExprKind};
    let mut found = Vec::new();
    each_expr(probe, &mut |e| {
        if let ExprKind::Cast { ty, .. } = &e.kind
            && let BaseType::Composite { kind, name } = &ty.base
        {
            let keyword = match kind {
                CompositeKind::Union => "union",
                CompositeKind::Enum => "enum",
                _ => "struct",
            };
            found.push(format!("{keyword} {name}"));
        }
    });
    found.sort();
    found.dedup();
    found
}

/// Whether a probe reads `args` (raw tracepoints only load BTF then).
fn uses_args(probe: &bpfscope_lang::ast::Probe) -> bool {
    use bpfscope_lang::ast::ExprKind;
    let mut reads = false;
    each_expr(probe, &mut |e| reads |= matches!(&e.kind, ExprKind::Ident(n) if n == "args"));
    reads
}

/// Calls `f` on every expression of a probe, its predicate's too.
fn each_expr(probe: &bpfscope_lang::ast::Probe, f: &mut dyn FnMut(&bpfscope_lang::ast::Expr)) {
    use bpfscope_lang::ast::Expr;
    use bpfscope_lang::visit::read::{Visit, walk_block, walk_expr};
    struct Each<'f>(&'f mut dyn FnMut(&Expr));
    impl Visit for Each<'_> {
        fn expr(&mut self, e: &Expr) {
            (self.0)(e);
            walk_expr(self, e);
        }
    }
    let mut each = Each(f);
    walk_block(&mut each, &probe.body);
    if let Some(p) = &probe.predicate {
        each.expr(p);
    }
}

/// Raw tracepoints with their named arguments from the kernel's BTF
/// (loaded on first need).
fn raw_tracepoints_with_args(ap: &AttachPoint, btf: &mut Option<KernelBtf>) -> Result<Vec<Site>, Diagnostic> {
    let btf = match btf {
        Some(b) => b,
        None => btf.insert(KernelBtf::load().map_err(|e| e.at(ap))?),
    };
    let mut out = concrete(ap)?;
    for c in &mut out {
        let Target::Kernel { func, .. } = &c.attach.target else { continue };
        let args = btf.raw_tracepoint_args(func).ok_or_else(|| {
            Diagnostic::error(ap.span, format!("the kernel's BTF does not describe the arguments of {func}"))
                .with_hint("read them as arg0, arg1, ...")
        })?;
        c.detail = Detail::RawTracepoint { args: Some(Arc::new(args)) };
    }
    Ok(out)
}

/// The binaries uprobes name, each read once.
#[derive(Default)]
struct Binaries {
    by_path: HashMap<PathBuf, Arc<Binary>>,
}

impl Binaries {
    fn open(&mut self, path: &Path) -> Result<Arc<Binary>, ProbeError> {
        if let Some(b) = self.by_path.get(path) {
            return Ok(Arc::clone(b));
        }
        let b = Arc::new(Binary::open(path)?);
        self.by_path.insert(path.to_path_buf(), Arc::clone(&b));
        Ok(b)
    }

    /// Uprobe sites with their functions' parameters from DWARF, for a
    /// probe that reads `args` (as bpftrace: registers only).
    fn with_params(&mut self, ap: &AttachPoint, mut sites: Vec<Site>) -> Result<Vec<Site>, Diagnostic> {
        for c in &mut sites {
            let Detail::Uprobe(site) = &mut c.detail else { continue };
            let binary = self.open(&site.binary).map_err(|e| e.at(ap))?;
            let shown = c.attach.canonical();
            let Some(function) = site.function.clone() else {
                return Err(Diagnostic::error(
                    ap.span,
                    format!("Could not parse arguments of \"{shown}\": no function"),
                ));
            };
            let params = binary.params(&function).map_err(|e| {
                let d = Diagnostic::error(ap.span, format!("Could not parse arguments of \"{shown}\": {e}"));
                match e {
                    crate::dwarf::DwarfError::NoDebugInfo(_) => {
                        d.with_hint("build it with -g, or install its debug symbols (the -dbgsym or -dbg package)")
                    }
                    _ => d,
                }
            })?;
            site.params = Some(Arc::new(params));
        }
        Ok(sites)
    }

    /// The USDT probes an attach point names (wildcards allowed in the
    /// provider and name).
    fn usdt(
        &mut self,
        ap: &AttachPoint,
        target: Option<&str>,
        provider: Option<&str>,
        name: &str,
        options: &ResolveOptions,
    ) -> Result<Vec<Site>, Diagnostic> {
        let path = self.target_path(ap, target, options)?;
        let binary = self.open(&path).map_err(|e| e.at(ap))?;
        let display = display_path(&binary.path);
        let (provider_glob, name_glob) =
            (crate::glob::Glob::new(provider.unwrap_or("*")), crate::glob::Glob::new(name));
        let mut found: Vec<UsdtProbe> = usdt::probes(&binary)
            .into_iter()
            .filter(|p| provider_glob.matches(&p.provider) && name_glob.matches(&p.name))
            .collect();
        if found.is_empty() {
            let what = provider.map_or(name.to_string(), |p| format!("{p}:{name}"));
            return Err(Diagnostic::error(ap.span, format!("no USDT probe in {display} matches '{what}'"))
                .with_hint(format!("list them with: bpfscope -l 'usdt:{display}:*'")));
        }
        found.sort_by(|a, b| (&a.provider, &a.name, a.address).cmp(&(&b.provider, &b.name, b.address)));
        let binary_path = Arc::new(binary.path.clone());
        Ok(found
            .into_iter()
            .map(|p| Site {
                attach: AttachPoint {
                    target: Target::Usdt {
                        binary: Some(display.clone()),
                        namespace: Some(p.provider.clone()),
                        name: p.name.clone(),
                    },
                    ..ap.clone()
                },
                detail: Detail::Usdt(UsdtSite { binary: Arc::clone(&binary_path), probe: p }),
            })
            .collect())
    }

    /// The file a user probe names: a path, library or program; with `-p`
    /// or `-c` and no target, the process's executable.
    fn target_path(
        &self,
        ap: &AttachPoint,
        target: Option<&str>,
        options: &ResolveOptions,
    ) -> Result<PathBuf, Diagnostic> {
        match (target, options.pid) {
            (Some(t), pid) => user::resolve_binary(t, pid).map_err(|e| e.at(ap)),
            (None, Some(pid)) => user::process_executable(pid).map_err(|e| e.at(ap)),
            (None, None) if options.executable.is_some() => Ok(options.executable.clone().unwrap_or_default()),
            (None, None) => Err(Diagnostic::error(ap.span, format!("{} needs a binary or library", ap.canonical()))
                .with_hint(format!(
                    "name one, as in {}:/bin/bash:readline, or give a process with -p PID or -c CMD",
                    ap.provider.name()
                ))),
        }
    }

    /// The sites a `uprobe`/`uretprobe` attach point stands for: one per
    /// function its name or wildcard matches, or the one address it gives.
    fn uprobes(
        &mut self,
        ap: &AttachPoint,
        target: Option<&str>,
        location: &UserLocation,
        lang: Option<&str>,
        options: &ResolveOptions,
    ) -> Result<Vec<Site>, Diagnostic> {
        if let Some(lang) = lang
            && lang != "cpp"
        {
            return Err(Diagnostic::error(ap.span, format!("unknown language '{lang}' (cpp is the one there is)")));
        }
        let path = self.target_path(ap, target, options)?;
        let binary = self.open(&path).map_err(|e| e.at(ap))?;
        let display = display_path(&binary.path);
        let ret = ap.provider == Provider::Uretprobe;
        let site = |function: Option<&str>, offset: u64, location: UserLocation| Site {
            attach: AttachPoint {
                target: Target::User { binary: Some(display.clone()), location, lang: None },
                ..ap.clone()
            },
            detail: Detail::Uprobe(UprobeSite {
                binary: Arc::new(binary.path.clone()),
                function: function.map(str::to_string),
                offset,
                ret,
                params: None,
            }),
        };
        match location {
            UserLocation::Address(address) => {
                let offset = binary.offset_of(*address).ok_or_else(|| {
                    Diagnostic::error(
                        ap.span,
                        format!("address 0x{address:x} is not in any loadable segment of {display}"),
                    )
                    .with_hint("give a virtual address from the binary's symbol table (nm, objdump -d)")
                })?;
                let function = binary.function_at(*address).map(|f| f.name);
                Ok(vec![site(function.as_deref(), offset, location.clone())])
            }
            // A wildcard, or a C++ name (`cpp:`, demangled: every overload,
            // as bpftrace's): every function that matches.
            UserLocation::Symbol { name, offset } if lang.is_some() || crate::glob::is_pattern(name) => {
                let (matches, what) = if lang.is_some() {
                    (binary.matching_demangled(name), "C++ function")
                } else {
                    (binary.matching(name), "function")
                };
                if matches.is_empty() {
                    return Err(Diagnostic::error(ap.span, format!("no {what} in {display} matches '{name}'"))
                        .with_hint(stripped_hint(&binary).unwrap_or("list them with: bpfscope -l 'uprobe:BINARY:*'")));
                }
                Ok(matches
                    .into_iter()
                    .map(|f| {
                        let loc = UserLocation::Symbol { name: f.name.clone(), offset: *offset };
                        site(Some(&f.name), f.offset + offset.unwrap_or(0), loc)
                    })
                    .collect())
            }
            UserLocation::Symbol { name, offset } => {
                let Some(f) = binary.function(name) else {
                    let mut d = Diagnostic::error(ap.span, format!("no function '{name}' in {display}"));
                    if let Some(c) = binary.closest(name) {
                        d = d.with_hint(format!("did you mean '{c}'?"));
                    }
                    if let Some(h) = stripped_hint(&binary) {
                        d = d.with_hint(h);
                    }
                    return Err(d);
                };
                if let Some(o) = offset
                    && f.size > 0
                    && *o >= f.size
                {
                    return Err(Diagnostic::error(
                        ap.span,
                        format!("offset {o} is outside '{}', which is {} bytes long", f.name, f.size),
                    ));
                }
                let loc = UserLocation::Symbol { name: f.name.clone(), offset: *offset };
                Ok(vec![site(Some(&f.name), f.offset + offset.unwrap_or(0), loc)])
            }
            UserLocation::SourceLine { file, line, col } => {
                use crate::dwarf::LineLookup;
                if ret {
                    return Err(Diagnostic::error(ap.span, "Source code location not allowed")
                        .with_hint("a uretprobe fires where a function returns: name the function"));
                }
                let at = match col {
                    Some(c) => format!("{file}:{line}:{c}"),
                    None => format!("{file}:{line}"),
                };
                let error = |message: String| Diagnostic::error(ap.span, message);
                let found = binary
                    .line_address(file, *line, *col)
                    .map_err(|e| error(format!("DWARF error: cannot read the line tables of {display}: {e}")))?;
                let address = match found {
                    LineLookup::Found(address) => address,
                    LineLookup::NoDwarf => {
                        return Err(error(format!(
                            "No DWARF debug info found for '{display}', cannot attach by source code location."
                        ))
                        .with_hint("build it with -g, or install its debug symbols (the -dbgsym or -dbg package)"));
                    }
                    LineLookup::NoFile => {
                        return Err(error(format!("DWARF error: No compilation unit matches {file}")));
                    }
                    LineLookup::Ambiguous(paths) => {
                        return Err(error(format!(
                            "DWARF error: Ambiguous source path, matches multiple files: {}",
                            paths.join(", ")
                        ))
                        .with_hint("give more of the path, as in dir/file.c"));
                    }
                    LineLookup::NoCode => {
                        return Err(error(format!("DWARF error: Unable to map '{at}' to address"))
                            .with_hint("no code starts at that line (a comment, a declaration, or optimized away)"));
                    }
                };
                let offset = binary.offset_of(address).ok_or_else(|| {
                    error(format!("{at} is at 0x{address:x}, outside every loadable segment of {display}"))
                })?;
                let function = binary.function_at(address).map(|f| f.name);
                Ok(vec![site(function.as_deref(), offset, location.clone())])
            }
        }
    }
}

fn stripped_hint(binary: &Binary) -> Option<&'static str> {
    binary.stripped.then_some(
        "the binary is stripped: only its exported functions are known; probe an address instead (uprobe:BINARY:0x1234)",
    )
}

/// A path as the user knows it: without the `/proc/PID/root` prefix used to
/// reach another mount namespace's files.
pub(crate) fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    if let Some(rest) = s.strip_prefix("/proc/")
        && let Some((pid, tail)) = rest.split_once('/')
        && pid.bytes().all(|c| c.is_ascii_digit())
        && let Some(inner) = tail.strip_prefix("root")
        && inner.starts_with('/')
    {
        return inner.to_string();
    }
    s.into_owned()
}
