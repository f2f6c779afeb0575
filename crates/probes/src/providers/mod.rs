//! One module per probe type, or family of types that share their attach
//! points: how an attach point resolves to sites, the probes `-l` lists
//! for it and the lines `-lv` shows under one. The matches here have no
//! catch-all arm, so a new type must say what it does for each.

mod fentry;
mod iter;
mod kprobe;
mod perf;
mod rawtracepoint;
mod tracepoint;
mod tracer;
mod uprobe;
mod usdt;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::ast::Probe;
use bpfscope_lang::attach::{AttachPoint, Provider};
use bpfscope_lang::provider::{ArgsFrom, ContextKind, Needs};

use crate::btf::KernelBtf;
use crate::kernel::KernelFunctions;
use crate::resolve::{Detail, ResolveOptions, Site};
use crate::user::{self, Binary};
use crate::{ListOptions, ProbeError};

/// What resolving a program reads once for all its attach points.
pub(crate) struct Resolver<'o> {
    options: &'o ResolveOptions,
    binaries: HashMap<PathBuf, Arc<Binary>>,
    btf: Option<KernelBtf>,
    kernel: Option<KernelFunctions>,
    /// Things worth saying that are not errors.
    pub notes: Vec<String>,
    /// C declarations of the structs uprobes cast to, from DWARF.
    pub cast_declarations: Vec<String>,
}

impl<'o> Resolver<'o> {
    pub fn new(options: &'o ResolveOptions) -> Self {
        Resolver {
            options,
            binaries: HashMap::new(),
            btf: None,
            kernel: None,
            notes: Vec::new(),
            cast_declarations: Vec::new(),
        }
    }

    /// A binary, each read once.
    fn open(&mut self, path: &Path) -> Result<Arc<Binary>, ProbeError> {
        if let Some(b) = self.binaries.get(path) {
            return Ok(Arc::clone(b));
        }
        let b = Arc::new(Binary::open(path)?);
        self.binaries.insert(path.to_path_buf(), Arc::clone(&b));
        Ok(b)
    }

    /// The file a user probe names: a path, library or program; with `-p`
    /// or `-c` and no target, the process's executable.
    /// The file a user probe names: a path, library or program; with `-p`
    /// or `-c` and no target, the process's executable.
    fn target_path(&self, ap: &AttachPoint, target: Option<&str>) -> Result<PathBuf, Diagnostic> {
        let options = self.options;
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
}

/// What `slot` holds, loaded on first need.
fn loaded<'s, T>(
    slot: &'s mut Option<T>,
    load: fn() -> Result<T, ProbeError>,
    ap: &AttachPoint,
) -> Result<&'s T, Diagnostic> {
    match slot {
        Some(t) => Ok(t),
        None => Ok(slot.insert(load().map_err(|e| e.at(ap))?)),
    }
}

/// An attach point that names one site, itself.
fn as_is(ap: &AttachPoint) -> Site {
    Site { attach: ap.clone(), detail: Detail::None }
}

/// The sites one attach point of `probe` stands for.
pub(crate) fn resolve(r: &mut Resolver, ap: &AttachPoint, probe: &Probe) -> Result<Vec<Site>, Diagnostic> {
    match ap.provider {
        Provider::Kprobe | Provider::Kretprobe => kprobe::resolve(r, ap),
        Provider::Fentry | Provider::Fexit => fentry::resolve(r, ap),
        Provider::RawTracepoint => rawtracepoint::resolve(r, ap, probe),
        Provider::Tracepoint => tracepoint::resolve(ap),
        Provider::Uprobe | Provider::Uretprobe => uprobe::resolve(r, ap, probe),
        Provider::Usdt => usdt::resolve(r, ap),
        Provider::Begin
        | Provider::End
        | Provider::SelfEvent
        | Provider::Test
        | Provider::Bench
        | Provider::Profile
        | Provider::Interval
        | Provider::Software
        | Provider::Hardware
        | Provider::Watchpoint
        | Provider::Iter => Ok(vec![as_is(ap)]),
    }
}

/// Whether listing `p` reads the kernel's BTF: for its probes (fentry),
/// or for their arguments under `-lv`.
pub(crate) fn listing_needs_btf(p: Provider, verbose: bool) -> bool {
    let spec = p.spec();
    spec.needs == Needs::Trampolines
        || (verbose && (spec.args == ArgsFrom::Btf || spec.context == ContextKind::Iterator))
}

/// Every probe of a provider that could match `rest` (narrowed where that
/// saves reading: tracepoint categories, user binaries).
pub(crate) fn list(
    p: Provider,
    rest: &str,
    options: &ListOptions,
    btf: Option<&KernelBtf>,
) -> Result<Vec<String>, ProbeError> {
    Ok(match p {
        Provider::Begin | Provider::End | Provider::SelfEvent | Provider::Test | Provider::Bench => tracer::list(p),
        Provider::Iter => iter::list(),
        Provider::Software | Provider::Hardware | Provider::Interval | Provider::Profile | Provider::Watchpoint => {
            perf::list(p)
        }
        Provider::Tracepoint => tracepoint::list(rest)?,
        Provider::RawTracepoint => rawtracepoint::list()?,
        Provider::Fentry | Provider::Fexit => fentry::list(p, rest, btf)?,
        Provider::Kprobe | Provider::Kretprobe => kprobe::list(p)?,
        Provider::Uprobe | Provider::Uretprobe => uprobe::list(p.name(), rest, options)?,
        Provider::Usdt => usdt::list(rest, options)?,
    })
}

/// What `-lv` reads once for all the probes it lists.
#[derive(Default)]
pub(crate) struct ArgumentCache {
    pub btf: Option<KernelBtf>,
    /// Each binary opened (and its DWARF read) once for all its functions.
    opened: HashMap<String, Option<user::Binary>>,
    /// Said once per binary on stderr (no DWARF).
    pub warnings: Vec<String>,
}

/// `-lv`'s lines under a probe: tracepoint fields, BTF or DWARF
/// arguments (and fexit's `retval`), an iterator's `ctx`.
pub(crate) fn arguments(p: Provider, probe: &str, cache: &mut ArgumentCache) -> Vec<String> {
    let last = probe.rsplit(':').next().unwrap_or(probe);
    let btf = cache.btf.as_ref();
    match p {
        Provider::Tracepoint => tracepoint::arguments(probe),
        Provider::RawTracepoint => rawtracepoint::arguments(last, btf),
        Provider::Fentry | Provider::Fexit => fentry::arguments(p, last, btf),
        Provider::Iter => iter::arguments(last, btf),
        Provider::Uprobe => uprobe::arguments(probe, &mut cache.opened, &mut cache.warnings),
        Provider::Begin
        | Provider::End
        | Provider::SelfEvent
        | Provider::Test
        | Provider::Bench
        | Provider::Kprobe
        | Provider::Kretprobe
        | Provider::Uretprobe
        | Provider::Usdt
        | Provider::Profile
        | Provider::Interval
        | Provider::Software
        | Provider::Hardware
        | Provider::Watchpoint => Vec::new(),
    }
}

/// The structs, unions and enums a probe casts to (`(struct foo *)arg0`,
/// `(enum color)arg1`), as `struct foo`, `enum color`.
pub(super) fn cast_structs(probe: &bpfscope_lang::ast::Probe) -> Vec<String> {
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
pub(super) fn uses_args(probe: &bpfscope_lang::ast::Probe) -> bool {
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
