//! fentry and fexit: kernel functions BTF describes, with their
//! signatures (what `args` and fexit's `retval` read).

use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::attach::{AttachPoint, Provider, Target};
use bpfscope_lang::check::Type;

use super::{Resolver, as_is, loaded};
use crate::btf::KernelBtf;
use crate::resolve::{Detail, FentrySite, Site};
use crate::{ProbeError, kernel};

pub(super) fn resolve(r: &mut Resolver, ap: &AttachPoint) -> Result<Vec<Site>, Diagnostic> {
    match &ap.target {
        Target::Kernel { module, func, offset: None } => functions(r, ap, module.as_deref(), func),
        _ => Ok(vec![as_is(ap)]),
    }
}

/// The kernel functions an fentry/fexit attach point names, with their
/// signatures from BTF: one for a name, each traceable one BTF describes
/// for a wildcard.
fn functions(r: &mut Resolver, ap: &AttachPoint, module: Option<&str>, func: &str) -> Result<Vec<Site>, Diagnostic> {
    let btf = loaded(&mut r.btf, KernelBtf::load, ap)?;
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
    let functions = loaded(&mut r.kernel, crate::kernel::functions, ap)?;
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

pub(super) fn list(p: Provider, btf: Option<&KernelBtf>) -> Result<Vec<String>, ProbeError> {
    match btf {
        Some(btf) => traceable_functions(p.name(), btf),
        None => Ok(Vec::new()),
    }
}

/// Kernel functions BTF describes: what fentry/fexit attach to.
fn traceable_functions(provider: &str, btf: &KernelBtf) -> Result<Vec<String>, ProbeError> {
    let kernel = kernel::functions()?.traceable;
    let mut names = btf.function_names();
    names.retain(|n| kernel.contains(n));
    Ok(names.into_iter().map(|n| format!("{provider}:vmlinux:{n}")).collect())
}

/// The function's parameters, and fexit's `retval` after them.
pub(super) fn arguments(p: Provider, function: &str, btf: Option<&KernelBtf>) -> Vec<String> {
    match btf.and_then(|b| b.function_declarations(function)) {
        Some((mut params, retval)) => {
            if p == Provider::Fexit {
                params.push(retval);
            }
            params
        }
        None => Vec::new(),
    }
}
