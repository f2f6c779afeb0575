//! Turns a program's attach points into concrete ones: wildcards expanded,
//! and each tracepoint's record layout read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::ast::Program;
use bpfscope_lang::attach::AttachPoint;
use bpfscope_lang::check::Type;

use crate::providers::{self, Resolver};
use crate::tracefs::{Field, Format};
use crate::usdt::UsdtProbe;
use crate::user::Binary;

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
    /// `function` or `module:function`; for a BPF program, its function's
    /// name.
    pub function: String,
    /// The parameters (BTF's names and types); empty when BTF does not
    /// describe them (module functions, for now, and BPF programs, whose
    /// `args` 0.26 does not offer either).
    pub params: Arc<Vec<(String, Type)>>,
    /// How many 8-byte argument slots come before fexit's return value;
    /// `None` where that is not known (no `retval` then).
    pub slots: Option<usize>,
    pub return_type: Type,
    pub ret: bool,
    /// The running BPF program traced (`fentry:bpf:ID:NAME`), by id.
    pub program: Option<u32>,
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

pub fn resolve(program: &Program, options: &ResolveOptions) -> Result<Resolved, Vec<Diagnostic>> {
    let mut resolver = Resolver::new(options);
    let mut probes = Vec::new();
    let mut errors = Vec::new();
    for probe in &program.probes {
        let mut sites = Vec::new();
        for ap in &probe.attach_points {
            match providers::resolve(&mut resolver, ap, probe) {
                Ok(mut found) => sites.append(&mut found),
                Err(d) => errors.push(d),
            }
        }
        probes.push(sites);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Resolved { probes, notes: resolver.notes, cast_declarations: resolver.cast_declarations })
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
