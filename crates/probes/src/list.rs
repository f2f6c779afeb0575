//! `-l`: the probes a pattern matches, in bpftrace's listing format, each
//! provider read only when the pattern can match it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bpfscope_lang::attach::{HARDWARE_EVENTS, PerfEventKind, Provider, SOFTWARE_EVENTS};

use crate::btf::KernelBtf;
use crate::glob::Glob;
use crate::{ProbeError, kernel, tracefs, user};

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

/// Providers listed when the provider part is a wildcard: no return
/// probes (they mirror the entry ones) and no user probes, which need a
/// file.
const KERNEL_LISTED: &[Provider] = &[
    Provider::Begin,
    Provider::End,
    Provider::SelfEvent,
    Provider::Iter,
    Provider::Fentry,
    Provider::Hardware,
    Provider::Interval,
    Provider::Kprobe,
    Provider::Profile,
    Provider::RawTracepoint,
    Provider::Software,
    Provider::Tracepoint,
];

fn list_one(part: &str, options: &ListOptions, listing: &mut Listing) -> Result<(), ProbeError> {
    let out = &mut listing.lines;
    let (provider_pattern, rest) = part.split_once(':').unwrap_or((part, "*"));
    let providers: Vec<Provider> = match Provider::from_name(provider_pattern) {
        Some(p) => vec![p],
        None => {
            let glob = Glob::new(provider_pattern);
            let user_too = options.pid.is_some();
            Provider::all()
                .filter(|p| KERNEL_LISTED.contains(p) || (user_too && matches!(p, Provider::Uprobe | Provider::Usdt)))
                .filter(|p| glob.matches(p.name()))
                .collect()
        }
    };
    let mut sorted: Vec<Provider> = providers;
    sorted.sort_by_key(|p| p.name());
    let mut btf = None;
    // Each binary opened (and its DWARF read) once for all its functions.
    let mut opened = std::collections::HashMap::new();
    for p in sorted {
        let glob = Glob::new(&format!("{}:{rest}", p.name()));
        let single = Glob::new(rest);
        if matches!(p, Provider::Fentry | Provider::Fexit)
            || (options.verbose && matches!(p, Provider::RawTracepoint | Provider::Iter))
        {
            btf.get_or_insert(KernelBtf::load()?);
        }
        let mut found = candidates(p, rest, options, btf.as_ref())?;
        found.sort();
        found.dedup();
        // User probes are matched by function: the target named the file.
        let by_function = matches!(p, Provider::Uprobe | Provider::Uretprobe | Provider::Usdt);
        for probe in found {
            let matched = if rest.contains(':') { glob.matches(&probe) } else { short_form_matches(&probe, &single) };
            if by_function || matched {
                if options.verbose {
                    let args = if matches!(p, Provider::Uprobe) {
                        uprobe_params(&probe, &mut opened, &mut listing.warnings)
                    } else {
                        arguments(p, &probe, btf.as_ref())
                    };
                    out.push(probe);
                    out.extend(args.into_iter().map(|a| format!("    {a}")));
                } else {
                    out.push(probe);
                }
            }
        }
    }
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

/// Every probe of a provider that could match `rest` (narrowed where that
/// saves reading: tracepoint categories, user binaries).
fn candidates(
    p: Provider,
    rest: &str,
    options: &ListOptions,
    btf: Option<&KernelBtf>,
) -> Result<Vec<String>, ProbeError> {
    let name = p.name();
    let plain = |items: Vec<String>| items.into_iter().map(|i| format!("{name}:{i}")).collect();
    Ok(match p {
        Provider::Begin | Provider::End => vec![name.to_string()],
        Provider::SelfEvent => vec!["self:signal:SIGUSR1".to_string()],
        Provider::Iter => plain(["task", "task_file", "task_vma"].iter().map(|o| o.to_string()).collect()),
        Provider::Software => plain(perf_event_names(SOFTWARE_EVENTS)),
        Provider::Hardware => plain(perf_event_names(HARDWARE_EVENTS)),
        Provider::Interval | Provider::Profile => {
            plain(["hz", "s", "ms", "us"].iter().map(|u| format!("{u}:")).collect())
        }
        Provider::Tracepoint => tracepoints(rest)?,
        Provider::RawTracepoint => raw_tracepoints()?,
        Provider::Fentry | Provider::Fexit => match btf {
            Some(btf) => traceable_functions(name, btf)?,
            None => Vec::new(),
        },
        Provider::Kprobe | Provider::Kretprobe => {
            plain(kernel::functions()?.traceable.into_iter().filter(|f| !kernel::is_clone(f)).collect())
        }
        Provider::Uprobe | Provider::Uretprobe => user_functions(name, rest, options)?,
        Provider::Usdt => usdt_probes(rest, options)?,
        _ => Vec::new(),
    })
}

/// Every name and alias of a perf event table, as bpftrace lists them
/// (`cpu-clock:`, `cpu:`).
fn perf_event_names(table: &[PerfEventKind]) -> Vec<String> {
    table.iter().flat_map(|k| k.names.iter()).map(|n| format!("{n}:")).collect()
}

/// Raw tracepoints.
fn raw_tracepoints() -> Result<Vec<String>, ProbeError> {
    Ok(tracefs::matching_raw_tracepoints("*")?.into_iter().map(|t| format!("rawtracepoint:vmlinux:{t}")).collect())
}

/// Kernel functions BTF describes: what fentry/fexit attach to.
fn traceable_functions(provider: &str, btf: &KernelBtf) -> Result<Vec<String>, ProbeError> {
    let kernel = kernel::functions()?.traceable;
    let mut names = btf.function_names();
    names.retain(|n| kernel.contains(n));
    Ok(names.into_iter().map(|n| format!("{provider}:vmlinux:{n}")).collect())
}

/// `-lv`'s lines under a probe: tracepoint fields, BTF arguments (and
/// fexit's `retval`).
fn arguments(p: Provider, probe: &str, btf: Option<&KernelBtf>) -> Vec<String> {
    let last = probe.rsplit(':').next().unwrap_or(probe);
    match p {
        Provider::Tracepoint => {
            let mut parts = probe.splitn(3, ':').skip(1);
            let (Some(c), Some(e)) = (parts.next(), parts.next()) else { return Vec::new() };
            tracefs::read_format(c, e)
                .map(|f| f.fields.into_iter().map(|f| f.declaration).collect())
                .unwrap_or_default()
        }
        Provider::RawTracepoint => btf.and_then(|b| b.raw_tracepoint_declarations(last)).unwrap_or_default(),
        Provider::Fentry | Provider::Fexit => match btf.and_then(|b| b.function_declarations(last)) {
            Some((mut params, retval)) => {
                if p == Provider::Fexit {
                    params.push(retval);
                }
                params
            }
            None => Vec::new(),
        },
        // The fields of `ctx`: the iterator function's parameters but the
        // meta data every iterator has.
        Provider::Iter => btf
            .and_then(|b| b.function_declarations(&format!("bpf_iter_{last}")))
            .map(|(params, _)| params.into_iter().filter(|p| !p.ends_with(" meta")).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A uprobe's parameters as bpftrace 0.26's `-lv` prints them (`int a`,
/// `char* s`), from DWARF; none where the binary has no debug info.
fn uprobe_params(
    probe: &str,
    opened: &mut std::collections::HashMap<String, Option<crate::user::Binary>>,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let Some((path, function)) = probe.strip_prefix("uprobe:").and_then(|r| r.rsplit_once(':')) else {
        return Vec::new();
    };
    let first = !opened.contains_key(path);
    let binary = opened.entry(path.to_string()).or_insert_with(|| crate::user::Binary::open(path.as_ref()).ok());
    let params = match binary.as_ref().map(|b| b.params(function)) {
        Some(Ok(params)) => params,
        // Once per binary, as bpftrace 0.26 says it.
        Some(Err(crate::dwarf::DwarfError::NoDebugInfo(_))) if first => {
            warnings.push(format!("No DWARF found for \"{path}\", cannot show parameter info"));
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    params.into_iter().map(|p| if p.name.is_empty() { p.c_type } else { format!("{} {}", p.c_type, p.name) }).collect()
}

/// Tracepoints of the categories `rest` can match.
fn tracepoints(rest: &str) -> Result<Vec<String>, ProbeError> {
    let category = rest.split(':').next().filter(|_| rest.contains(':')).unwrap_or("*");
    // ftrace's own events record the tracer's output; nothing attaches there.
    Ok(tracefs::matching_events(category, "*")?
        .into_iter()
        .filter(|(c, _)| c != "ftrace")
        .map(|(c, e)| format!("tracepoint:{c}:{e}"))
        .collect())
}

/// Functions of the binaries `rest` names: `TARGET:FUNC` where TARGET is a
/// path, a glob of paths, a library or a program; with `-p`, the objects
/// the process maps.
fn user_functions(provider: &str, rest: &str, options: &ListOptions) -> Result<Vec<String>, ProbeError> {
    let (target, function) = rest.split_once(':').unwrap_or(("", rest));
    let mut out = Vec::new();
    for (binary, shown) in user_binaries(target, options)? {
        for f in binary.matching(function) {
            out.push(format!("{provider}:{shown}:{}", f.name));
        }
    }
    Ok(out)
}

/// USDT probes of the binaries `rest` names: `TARGET:PROVIDER:NAME` or
/// `TARGET:NAME`.
fn usdt_probes(rest: &str, options: &ListOptions) -> Result<Vec<String>, ProbeError> {
    let (target, probe) = rest.split_once(':').unwrap_or(("", rest));
    let (provider, name) = probe.split_once(':').unwrap_or(("*", probe));
    let (provider, name) = (Glob::new(provider), Glob::new(name));
    let mut out = Vec::new();
    for (binary, shown) in user_binaries(target, options)? {
        for p in crate::usdt::probes(&binary) {
            if provider.matches(&p.provider) && name.matches(&p.name) {
                out.push(format!("usdt:{shown}:{}:{}", p.provider, p.name));
            }
        }
    }
    Ok(out)
}

/// The binaries a user-probe target names, with the path to show: a path,
/// a glob of paths, a library or a program; with `-p` and no target, the
/// objects the process maps.
fn user_binaries(target: &str, options: &ListOptions) -> Result<Vec<(user::Binary, String)>, ProbeError> {
    let paths: Vec<PathBuf> = if target.is_empty() || target == "*" {
        match options.pid {
            Some(pid) => mapped_objects(pid)?,
            None => return Ok(Vec::new()),
        }
    } else if crate::glob::is_pattern(target) {
        glob_paths(target)
    } else {
        vec![user::resolve_binary(target, options.pid)?]
    };
    let named_one = paths.len() == 1 && !crate::glob::is_pattern(target);
    let mut out = Vec::new();
    for path in paths {
        // A file named outright must be there; one of many may not be ELF.
        match user::Binary::open(&path) {
            Ok(b) => out.push((b, display(&path))),
            Err(e) if named_one => return Err(e),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// The ELF files a process maps (executable and libraries).
fn mapped_objects(pid: u32) -> Result<Vec<PathBuf>, ProbeError> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|_| ProbeError::NoProcess(pid))?;
    let paths: BTreeSet<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/'))
        .map(str::to_string)
        .collect();
    Ok(paths.into_iter().map(|p| PathBuf::from(format!("/proc/{pid}/root{p}"))).collect())
}

/// Paths matching a glob, one directory level at a time.
fn glob_paths(pattern: &str) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::from("/")];
    for part in pattern.trim_start_matches('/').split('/') {
        let glob = Glob::new(part);
        let mut next = Vec::new();
        for dir in current {
            if !crate::glob::is_pattern(part) {
                let p = dir.join(part);
                if p.exists() {
                    next.push(p);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
            names.sort();
            next.extend(names.into_iter().filter(|n| glob.matches(n)).map(|n| dir.join(n)));
        }
        current = next;
    }
    current.into_iter().filter(|p| p.is_file()).collect()
}

/// A path without the `/proc/PID/root` prefix used to reach it.
fn display(path: &Path) -> String {
    crate::resolve::display_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_split_outside_braces() {
        assert_eq!(split_top_level_commas("k:a*,t:x:{a,b}"), vec!["k:a*", "t:x:{a,b}"]);
    }
}
