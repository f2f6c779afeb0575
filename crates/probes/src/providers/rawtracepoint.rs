//! rawtracepoint: the kernel's tracepoints without their record, the
//! arguments as the kernel passes them (named from BTF when `args` is
//! read).

use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::ast::Probe;
use bpfscope_lang::attach::{AttachPoint, Target};

use super::{Resolver, as_is, loaded, uses_args};
use crate::btf::KernelBtf;
use crate::resolve::{Detail, Site};
use crate::{ProbeError, tracefs};

pub(super) fn resolve(r: &mut Resolver, ap: &AttachPoint, probe: &Probe) -> Result<Vec<Site>, Diagnostic> {
    let Target::Kernel { module, func, offset: None } = &ap.target else { return Ok(vec![as_is(ap)]) };
    let names = tracefs::matching_raw_tracepoints(func).map_err(|e| e.at(ap))?;
    if names.is_empty() {
        let mut d = Diagnostic::error(ap.span, format!("no tracepoint matches '{func}'"));
        let all = tracefs::matching_raw_tracepoints("*").unwrap_or_default();
        if let Some(c) = bpfscope_lang::suggest::closest(func, all.iter().map(String::as_str)) {
            d = d.with_hint(format!("did you mean '{c}'?"));
        }
        return Err(d);
    }
    // BTF is read only for a probe that names the arguments.
    let btf = if uses_args(probe) { Some(loaded(&mut r.btf, KernelBtf::load, ap)?) } else { None };
    names
        .into_iter()
        .map(|name| {
            let args = match btf {
                Some(btf) => Some(Arc::new(btf.raw_tracepoint_args(&name).ok_or_else(|| {
                    Diagnostic::error(ap.span, format!("the kernel's BTF does not describe the arguments of {name}"))
                        .with_hint("read them as arg0, arg1, ...")
                })?)),
                None => None,
            };
            let target = Target::Kernel { module: module.clone(), func: name, offset: None };
            Ok(Site { attach: AttachPoint { target, ..ap.clone() }, detail: Detail::RawTracepoint { args } })
        })
        .collect()
}

pub(super) fn list() -> Result<Vec<String>, ProbeError> {
    Ok(tracefs::matching_raw_tracepoints("*")?.into_iter().map(|t| format!("rawtracepoint:vmlinux:{t}")).collect())
}

/// The arguments BTF gives the tracepoint.
pub(super) fn arguments(event: &str, btf: Option<&KernelBtf>) -> Vec<String> {
    btf.and_then(|b| b.raw_tracepoint_declarations(event)).unwrap_or_default()
}
