//! `-l`: the probes a pattern matches, in bpftrace's listing format, each
//! provider read only when the pattern can match it.

use bpfscope_lang::attach::Provider;
use bpfscope_lang::provider::Listed;

use crate::ProbeError;
use crate::btf::KernelBtf;
use crate::glob::Glob;
use crate::providers::{self, ArgumentCache};

/// How to list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `-p`: user probes in every object this process maps.
    pub pid: Option<u32>,
    /// `-lv`: arguments under each probe.
    pub verbose: bool,
}

/// The lines `-l PATTERN` prints: for each comma-separated part, every
/// matching probe (sorted, per provider), with its arguments under it in
/// verbose mode.
pub fn list(pattern: &str, options: &ListOptions) -> Result<Listing, ProbeError> {
    let mut out = Listing::default();
    for part in split_top_level_commas(if pattern.is_empty() { "*" } else { pattern }) {
        list_one(part, options, &mut out)?;
    }
    Ok(out)
}

/// What `-l` prints: the lines, and warnings for stderr (a binary whose
/// parameters `-lv` cannot show).
#[derive(Debug, Default)]
pub struct Listing {
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
}

/// Splits `a,b{c,d},e` at the commas outside braces.
fn split_top_level_commas(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in pattern.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

fn list_one(part: &str, options: &ListOptions, listing: &mut Listing) -> Result<(), ProbeError> {
    let (provider_pattern, rest) = part.split_once(':').unwrap_or((part, "*"));
    let mut providers: Vec<Provider> = match Provider::from_name(provider_pattern) {
        Some(p) => vec![p],
        None => {
            let glob = Glob::new(provider_pattern);
            Provider::all()
                .filter(|p| match p.spec().listed {
                    Listed::Always => true,
                    Listed::WithProcess => options.pid.is_some(),
                    Listed::WhenNamed => false,
                })
                .filter(|p| glob.matches(p.name()))
                .collect()
        }
    };
    providers.sort_by_key(|p| p.name());
    let mut cache = ArgumentCache::default();
    for p in providers {
        let glob = Glob::new(&format!("{}:{rest}", p.name()));
        let single = Glob::new(rest);
        if providers::listing_needs_btf(p, options.verbose) && cache.btf.is_none() {
            cache.btf = Some(KernelBtf::load()?);
        }
        let mut found = providers::list(p, rest, options, cache.btf.as_ref())?;
        found.sort();
        found.dedup();
        // User probes are matched by function: the target named the file.
        let by_function = p.is_user();
        for probe in found {
            let matched = if rest.contains(':') { glob.matches(&probe) } else { short_form_matches(&probe, &single) };
            if by_function || matched {
                let args = if options.verbose { providers::arguments(p, &probe, &mut cache) } else { Vec::new() };
                listing.lines.push(probe);
                listing.lines.extend(args.into_iter().map(|a| format!("    {a}")));
            }
        }
    }
    listing.warnings.append(&mut cache.warnings);
    Ok(())
}

/// A pattern part without a colon (`kprobe:vfs_*`, `tracepoint:*open*`,
/// `software:cpu*`) matches the probe's last name alone, as bpftrace's
/// listing does: `tracepoint:s*` is the events whose names start with s.
fn short_form_matches(probe: &str, pattern: &Glob) -> bool {
    let name = probe.trim_end_matches(':');
    let last = name.rsplit(':').next().unwrap_or(name);
    pattern.matches(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_split_outside_braces() {
        assert_eq!(split_top_level_commas("k:a*,t:x:{a,b}"), vec!["k:a*", "t:x:{a,b}"]);
    }
}
