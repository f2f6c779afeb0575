//! kprobe and kretprobe: kernel functions (and offsets into them), by
//! name or wildcard, from the kernel's list of traceable functions.

use bpfscope_lang::Diagnostic;
use bpfscope_lang::attach::{AttachPoint, Provider, Target};

use super::{Resolver, as_is, loaded};
use crate::resolve::{Detail, KprobeSite, Site};
use crate::{ProbeError, kernel};

pub(super) fn resolve(r: &mut Resolver, ap: &AttachPoint) -> Result<Vec<Site>, Diagnostic> {
    match &ap.target {
        Target::Kernel { module, func, offset } => functions(r, ap, module.as_deref(), func, offset.unwrap_or(0)),
        // An address names itself.
        _ => Ok(vec![as_is(ap)]),
    }
}

/// The kernel functions a kprobe attach point names: each traceable
/// function a wildcard matches (saying how many it had to skip), or the
/// one it names.
fn functions(
    r: &mut Resolver,
    ap: &AttachPoint,
    module: Option<&str>,
    func: &str,
    offset: u64,
) -> Result<Vec<Site>, Diagnostic> {
    let functions = loaded(&mut r.kernel, crate::kernel::functions, ap)?;
    let notes = &mut r.notes;
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

/// Every traceable kernel function (without the compiler's clones).
pub(super) fn list(p: Provider) -> Result<Vec<String>, ProbeError> {
    let functions = kernel::functions()?.traceable.into_iter().filter(|f| !kernel::is_clone(f));
    Ok(functions.map(|f| format!("{}:{f}", p.name())).collect())
}
