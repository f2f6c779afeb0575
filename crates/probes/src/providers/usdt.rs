//! usdt: statically defined probes in user binaries (their ELF notes),
//! by provider and name.

use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::attach::{AttachPoint, Target};

use super::{Resolver, as_is};
use crate::glob::Glob;
use crate::resolve::{Detail, Site, UsdtSite, display_path};
use crate::usdt::{self, UsdtProbe};
use crate::{ListOptions, ProbeError};

pub(super) fn resolve(r: &mut Resolver, ap: &AttachPoint) -> Result<Vec<Site>, Diagnostic> {
    let Target::Usdt { binary, namespace, name } = &ap.target else { return Ok(vec![as_is(ap)]) };
    sites(r, ap, binary.as_deref(), namespace.as_deref(), name)
}

/// The USDT probes an attach point names (wildcards allowed in the
/// provider and name).
fn sites(
    r: &mut Resolver,
    ap: &AttachPoint,
    target: Option<&str>,
    provider: Option<&str>,
    name: &str,
) -> Result<Vec<Site>, Diagnostic> {
    let path = r.target_path(ap, target)?;
    let binary = r.open(&path).map_err(|e| e.at(ap))?;
    let display = display_path(&binary.path);
    let (provider_glob, name_glob) = (crate::glob::Glob::new(provider.unwrap_or("*")), crate::glob::Glob::new(name));
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

/// USDT probes of the binaries `rest` names: `TARGET:PROVIDER:NAME` or
/// `TARGET:NAME`.
pub(super) fn list(rest: &str, options: &ListOptions) -> Result<Vec<String>, ProbeError> {
    let (target, probe) = rest.split_once(':').unwrap_or(("", rest));
    let (provider, name) = probe.split_once(':').unwrap_or(("*", probe));
    let (provider, name) = (Glob::new(provider), Glob::new(name));
    let mut out = Vec::new();
    for (binary, shown) in super::uprobe::user_binaries(target, options)? {
        for p in crate::usdt::probes(&binary) {
            if provider.matches(&p.provider) && name.matches(&p.name) {
                out.push(format!("usdt:{shown}:{}:{}", p.provider, p.name));
            }
        }
    }
    Ok(out)
}
