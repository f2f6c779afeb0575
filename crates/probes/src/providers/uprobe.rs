//! uprobe and uretprobe: functions, offsets, addresses and source lines
//! in user binaries and libraries, with parameters from DWARF.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::ast::Probe;
use bpfscope_lang::attach::{AttachPoint, Provider, Target, UserLocation};

use super::{Resolver, as_is, cast_structs, uses_args};
use crate::glob::Glob;
use crate::resolve::{Detail, Site, UprobeSite, display_path};
use crate::user::{self, Binary};
use crate::{ListOptions, ProbeError};

pub(super) fn resolve(r: &mut Resolver, ap: &AttachPoint, probe: &Probe) -> Result<Vec<Site>, Diagnostic> {
    let Target::User { binary, location, lang } = &ap.target else { return Ok(vec![as_is(ap)]) };
    let mut sites = sites(r, ap, binary.as_deref(), location, lang.as_deref())?;
    if uses_args(probe) {
        sites = with_params(r, ap, sites)?;
    }
    // Structs the probe casts to, as its binary's DWARF has them.
    let casts = cast_structs(probe);
    if let (false, Some(Detail::Uprobe(site))) = (casts.is_empty(), sites.first().map(|c| &c.detail))
        && let Ok(b) = r.open(&site.binary)
    {
        r.cast_declarations.extend(b.struct_declarations(&casts));
    }
    Ok(sites)
}

/// The sites a `uprobe`/`uretprobe` attach point stands for: one per
/// function its name or wildcard matches, or the one address it gives.
fn sites(
    r: &mut Resolver,
    ap: &AttachPoint,
    target: Option<&str>,
    location: &UserLocation,
    lang: Option<&str>,
) -> Result<Vec<Site>, Diagnostic> {
    if let Some(lang) = lang
        && lang != "cpp"
    {
        return Err(Diagnostic::error(ap.span, format!("unknown language '{lang}' (cpp is the one there is)")));
    }
    let path = r.target_path(ap, target)?;
    let binary = r.open(&path).map_err(|e| e.at(ap))?;
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
                Diagnostic::error(ap.span, format!("address 0x{address:x} is not in any loadable segment of {display}"))
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

/// Uprobe sites with their functions' parameters from DWARF, for a
/// probe that reads `args` (as bpftrace: registers only).
fn with_params(r: &mut Resolver, ap: &AttachPoint, mut sites: Vec<Site>) -> Result<Vec<Site>, Diagnostic> {
    for c in &mut sites {
        let Detail::Uprobe(site) = &mut c.detail else { continue };
        let binary = r.open(&site.binary).map_err(|e| e.at(ap))?;
        let shown = c.attach.canonical();
        let Some(function) = site.function.clone() else {
            return Err(Diagnostic::error(ap.span, format!("Could not parse arguments of \"{shown}\": no function")));
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

fn stripped_hint(binary: &Binary) -> Option<&'static str> {
    binary.stripped.then_some(
        "the binary is stripped: only its exported functions are known; probe an address instead (uprobe:BINARY:0x1234)",
    )
}

/// Functions of the binaries `rest` names: `TARGET:FUNC` where TARGET is a
/// path, a glob of paths, a library or a program; with `-p`, the objects
/// the process maps.
pub(super) fn list(provider: &str, rest: &str, options: &ListOptions) -> Result<Vec<String>, ProbeError> {
    let (target, function) = rest.split_once(':').unwrap_or(("", rest));
    let mut out = Vec::new();
    for (binary, shown) in user_binaries(target, options)? {
        for f in binary.matching(function) {
            out.push(format!("{provider}:{shown}:{}", f.name));
        }
    }
    Ok(out)
}

/// A uprobe's parameters as bpftrace 0.26's `-lv` prints them (`int a`,
/// `char* s`), from DWARF; none where the binary has no debug info.
pub(super) fn arguments(
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

/// The binaries a user-probe target names, with the path to show: a path,
/// a glob of paths, a library or a program; with `-p` and no target, the
/// objects the process maps.
pub(super) fn user_binaries(target: &str, options: &ListOptions) -> Result<Vec<(user::Binary, String)>, ProbeError> {
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
            Ok(b) => out.push((b, crate::resolve::display_path(&path))),
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
