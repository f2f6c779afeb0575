//! fentry and fexit: kernel functions BTF describes, with their
//! signatures (what `args` and fexit's `retval` read); and running BPF
//! programs (`fentry:bpf:[ID:]NAME`), which the kernel can trace where
//! they carry BTF.

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
        Target::Kernel { module: Some(m), func, offset: None } if m == "bpf" || m.starts_with("bpf:") => {
            let id = m.strip_prefix("bpf:").and_then(|id| id.parse().ok());
            bpf_programs(ap, id, func)
        }
        Target::Kernel { module, func, offset: None } => functions(r, ap, module.as_deref(), func),
        _ => Ok(vec![as_is(ap)]),
    }
}

/// A function of a running BPF program that fentry/fexit can trace: the
/// program's own (its first func_info) or a sub-program's.
#[derive(Clone, Debug)]
struct BpfFunction {
    program: u32,
    name: String,
    return_type: Type,
}

/// The functions of every running BPF program that has BTF (the kernel
/// traces no other), in id order. Needs root; without it the kernel lists
/// none.
fn running_functions() -> Vec<BpfFunction> {
    use libbpf_rs::btf::types::{Func, FuncProto, Int, IntEncoding};
    use libbpf_rs::btf::{Btf, ReferencesType, TypeId};
    use libbpf_rs::query::{ProgInfoIter, ProgInfoQueryOptions};
    let mut out = Vec::new();
    for info in ProgInfoIter::with_query_opts(ProgInfoQueryOptions::default().include_func_info(true)) {
        if info.btf_id == 0 {
            continue;
        }
        let Ok(btf) = Btf::from_prog_id(info.id) else { continue };
        for f in &info.func_info {
            let Some(func) = btf.type_by_id::<Func<'_>>(TypeId::from(f.type_id)) else { continue };
            let Some(name) = func.name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            let Some(proto) = btf.type_by_id::<FuncProto<'_>>(func.referenced_type_id()) else { continue };
            let return_type = match btf.type_by_id::<Int<'_>>(proto.referenced_type_id()) {
                Some(i) if matches!(i.bits, 8 | 16 | 32 | 64) => {
                    Type::Int { bits: i.bits, signed: matches!(i.encoding, IntEncoding::Signed) }
                }
                _ => Type::Int { bits: 64, signed: false },
            };
            out.push(BpfFunction { program: info.id, name, return_type });
        }
    }
    out
}

/// The functions of running BPF programs an attach point names: by name
/// (a wildcard too), in one program (`bpf:ID:NAME`) or in all.
fn bpf_programs(ap: &AttachPoint, id: Option<u32>, func: &str) -> Result<Vec<Site>, Diagnostic> {
    let glob = crate::glob::Glob::new(func);
    let ret = ap.provider == Provider::Fexit;
    let found: Vec<BpfFunction> = running_functions()
        .into_iter()
        .filter(|f| id.is_none_or(|id| f.program == id) && glob.matches(&f.name))
        .collect();
    if found.is_empty() {
        let which = id.map_or(format!("bpf:{func}"), |id| format!("bpf:{id}:{func}"));
        return Err(Diagnostic::error(ap.span, format!("no running BPF program with BTF matches '{which}'"))
            .with_hint(format!("list them with: bpfscope -l '{}:bpf:*'", ap.provider.name())));
    }
    Ok(found
        .into_iter()
        .map(|f| Site {
            attach: AttachPoint {
                target: Target::Kernel {
                    module: Some(format!("bpf:{}", f.program)),
                    func: f.name.clone(),
                    offset: None,
                },
                ..ap.clone()
            },
            detail: Detail::Fentry(FentrySite {
                function: f.name,
                params: Arc::new(Vec::new()),
                // Where the kernel does not trust the program's BTF it
                // assumes five arguments: fexit asks it for the return value.
                slots: None,
                return_type: f.return_type,
                ret,
                program: Some(f.program),
            }),
        })
        .collect())
}

/// The kernel functions an fentry/fexit attach point names, with their
/// signatures from BTF: one for a name, each traceable one BTF describes
/// for a wildcard.
fn functions(r: &mut Resolver, ap: &AttachPoint, module: Option<&str>, func: &str) -> Result<Vec<Site>, Diagnostic> {
    let btf = loaded(&mut r.btf, KernelBtf::load, ap)?;
    let ret = ap.provider == Provider::Fexit;
    let module = module.filter(|m| *m != "vmlinux");
    let site = |name: &str| {
        // A module function's signature is in its module's BTF, not read
        // yet: its arguments are not named, and its return value's slot
        // is not known.
        let (params, slots, return_type) = match module {
            None => match btf.function_signature(name) {
                Some((params, return_type)) => {
                    let n = params.len();
                    (params, Some(n), return_type)
                }
                None => (Vec::new(), None, Type::Unknown),
            },
            Some(_) => (Vec::new(), None, Type::Unknown),
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
            detail: Detail::Fentry(FentrySite {
                function,
                params: Arc::new(params),
                slots,
                return_type,
                ret,
                program: None,
            }),
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

/// Kernel functions, or with `bpf:` running BPF programs' functions
/// (`fentry:bpf:ID:NAME`).
pub(super) fn list(p: Provider, rest: &str, btf: Option<&KernelBtf>) -> Result<Vec<String>, ProbeError> {
    if rest == "bpf" || rest.starts_with("bpf:") {
        let functions = running_functions().into_iter();
        return Ok(functions.map(|f| format!("{}:bpf:{}:{}", p.name(), f.program, f.name)).collect());
    }
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
