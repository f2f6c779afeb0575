//! From program text to a finished run: parse, resolve the attach points,
//! check, compile, then load and run. The command line and the tools both
//! come through here.

use std::io::Write;

use bpfscope_compiler::{CompileOptions, compile};
use bpfscope_lang::attach::Provider;
use bpfscope_lang::check::{CheckOptions, KernelTypes, check};
use bpfscope_lang::{Diagnostic, Diagnostics, ParseOptions, Source, parse};
use bpfscope_runtime::{Features, RunError, RunOptions};

use crate::error::Error;

/// How to run a program, besides its text.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Positional parameters (`$1` is the first).
    pub params: Vec<String>,
    /// Named parameters (`-- --name=value`), for `getopt()`.
    pub named_params: Vec<(String, Option<String>)>,
    /// `-p`: only this process.
    pub pid: Option<u32>,
    /// `-c`: a command to start once attached.
    pub command: Option<String>,
    pub features: Features,
    pub quiet: bool,
    pub verbose: bool,
    pub no_warnings: bool,
    /// How warnings look on standard error.
    pub look: bpfscope_lang::Look,
    pub allow_unsafe: bool,
    /// Kprobes become fentry where the kernel has no kprobes.
    pub fallback: bool,
    /// Stop after compiling.
    pub dry_run: bool,
    /// Print the syntax tree (`-d ast`).
    pub print_ast: bool,
    /// `-d insns`: print each program's instructions once compiled.
    pub print_insns: bool,
    /// Where the trace output goes (`-o`), instead of stdout.
    pub output: Option<std::path::PathBuf>,
    /// When output is flushed (`-B`); by default after each event on a
    /// terminal, else in blocks.
    pub buffering: Option<bpfscope_runtime::Buffering>,
    /// bpftrace 0.26's JSON lines (`-f json`).
    pub json: bool,
    /// `-k`: report failed memory reads and map reads of missing keys.
    pub read_warnings: bool,
    /// `--flamegraph FILE`: the maps keyed by stacks drawn at the end.
    pub flamegraph: Option<std::path::PathBuf>,
    /// `--bench`: time the `bench:` probes instead of tracing.
    pub bench: bool,
    /// `--user-probes`: the command's uprobes run inside it.
    pub user_probes: bool,
}

/// Runs a program to its end, printing what it prints as bpftrace does;
/// returns the exit code it asked for.
pub fn run_program(source: &Source, settings: &Settings) -> Result<i32, Error> {
    let Prepared { compiled, mut child, agent } = prepare(source, settings)?;
    if settings.flamegraph.is_some() && !compiled.user_maps.iter().any(bpfscope_runtime::output::maps::keyed_by_stacks)
    {
        return Err(Error::Usage(
            "--flamegraph draws maps keyed by stacks, and this program has none (e.g. @[kstack, ustack, comm] = count())"
                .into(),
        ));
    }
    if let Some(path) = &settings.flamegraph {
        bpfscope_runtime::output::flamegraph::check_writable(path)
            .map_err(|e| Error::Usage(format!("--flamegraph: {e}")))?;
    }
    if settings.dry_run {
        return Ok(0);
    }
    let (mut out, terminal) = output(settings)?;
    let buffering = settings.buffering.unwrap_or(if terminal {
        bpfscope_runtime::Buffering::Line
    } else {
        bpfscope_runtime::Buffering::Full
    });
    let options = RunOptions { buffering, user_probes: agent, ..settings.run_options() };
    bpfscope_runtime::run(compiled, &options, child.as_mut(), &mut out)
        .map_err(|e| load_error(e, source, settings.verbose))
}

/// The trace output's destination (the `-o` file, created or truncated
/// once the program compiled; else stdout), buffered here, and whether it
/// is a terminal.
fn output(settings: &Settings) -> Result<(std::io::BufWriter<std::fs::File>, bool), Error> {
    use std::io::IsTerminal;
    use std::os::fd::AsFd;
    let (file, terminal) = match &settings.output {
        Some(path) => (open_output(path)?, false),
        None => {
            let stdout = std::io::stdout();
            let fd = stdout
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::Usage(format!("cannot write to stdout: {e}")))?;
            (std::fs::File::from(fd), stdout.is_terminal())
        }
    };
    Ok((std::io::BufWriter::with_capacity(1 << 16, file), terminal))
}

/// Creates or truncates the `-o` file. In a directory anyone may write
/// to (`/tmp`), a symlink there may have been planted by another user to
/// make a root run overwrite a file of their choosing: it is not followed.
fn open_output(path: &std::path::Path) -> Result<std::fs::File, Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let shared = std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if shared {
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|e| {
        if shared && e.raw_os_error() == Some(libc::ELOOP) {
            Error::Usage(format!(
                "Failed to open output file: \"{}\": it is a symbolic link in {}, a directory anyone can write to; \
                 bpfscope does not follow it (another user may have planted it): remove it or write elsewhere",
                path.display(),
                dir.display()
            ))
        } else {
            Error::Usage(format!("Failed to open output file: \"{}\": {e}", path.display()))
        }
    })
}

/// Compiles a program, loads it, runs BEGIN and attaches its probes: a
/// session for callers that handle events and maps themselves (the tools,
/// the library).
pub fn start(source: &Source, settings: &Settings) -> Result<bpfscope_runtime::Session, Error> {
    let prepared = prepare(source, settings)?;
    let load_error = |e| load_error(e, source, settings.verbose);
    let mut session =
        bpfscope_runtime::Session::load(prepared.compiled, &settings.run_options()).map_err(load_error)?;
    session.start().map_err(load_error)?;
    Ok(session)
}

/// The source and program with the declarations of the structs that
/// uprobes' `args` point at (from DWARF) included, where there are any;
/// structs the program declares itself are its own.
fn with_dwarf_structs(
    source: &Source,
    program: bpfscope_lang::ast::Program,
    resolved: &bpfscope_probes::Resolved,
    settings: &Settings,
) -> Result<(Option<Source>, bpfscope_lang::ast::Program), Error> {
    use bpfscope_lang::ast::{CItem, CompositeKind};
    let declared = program
        .c_items
        .iter()
        .filter_map(|item| match item {
            CItem::Struct(s) if s.kind == CompositeKind::Union => Some(format!("union {}", s.name)),
            CItem::Struct(s) => Some(format!("struct {}", s.name)),
            CItem::Enum(e) => Some(format!("enum {}", e.name)),
            _ => None,
        })
        .collect();
    let declarations = resolved.dwarf_declarations(&declared);
    if declarations.is_empty() {
        return Ok((None, program));
    }
    let mut extended = source.clone();
    let file = extended.add_file("<structs from DWARF>", &declarations);
    extended.force_include(file);
    let mut program = parse(&extended, &ParseOptions::with_btf(settings.params.clone()))
        .map_err(|d| Error::Program(extended.clone(), d.into()))?;
    bpfscope_lang::check::apply_environment(&mut program, |var| std::env::var(var).ok()).map_err(Error::Usage)?;
    let program = if settings.fallback && !bpfscope_runtime::attach::kernel_has_kprobes(&settings.features) {
        kprobes_to_fentry(program, &extended)?
    } else {
        program
    };
    Ok((Some(extended), program))
}

/// A compiled program, and the command (`-c`) it traces, not yet started.
pub struct Prepared {
    pub compiled: bpfscope_runtime::Compiled,
    pub child: Option<bpfscope_runtime::Child>,
    /// `--user-probes`: the agent library the process loads.
    pub agent: Option<bpfscope_runtime::inject::AgentLibrary>,
}

impl Settings {
    /// The runtime's part of the settings.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            quiet: self.quiet,
            verbose: self.verbose,
            pid: self.pid,
            features: self.features.clone(),
            buffering: self.buffering.unwrap_or_default(),
            json: self.json,
            flamegraph: self.flamegraph.clone(),
            bench: self.bench,
            user_probes: None,
        }
    }
}

/// A verifier rejection points into the program; `-v` adds the log.
pub fn load_error(e: RunError, source: &Source, verbose: bool) -> Error {
    match e {
        RunError::Verifier { diagnostic, log } => {
            if verbose {
                eprintln!("{log}");
            }
            Error::Program(source.clone(), (*diagnostic).into())
        }
        e => e.into(),
    }
}

/// Parses, resolves, checks and compiles a program (and spawns `-c`'s
/// command, stopped until the probes are attached).
pub fn prepare(source: &Source, settings: &Settings) -> Result<Prepared, Error> {
    let params = settings.params.clone();
    let mut program =
        parse(source, &ParseOptions::with_btf(params.clone())).map_err(|d| Error::Program(source.clone(), d.into()))?;
    // BPFTRACE_MAX_STRLEN=100 and the like, over the config block (as 0.26).
    bpfscope_lang::check::apply_environment(&mut program, |var| std::env::var(var).ok()).map_err(Error::Usage)?;
    if settings.print_ast {
        print!("{}", bpfscope_lang::printer::print_program(&program));
        let _ = std::io::stdout().flush();
    }
    if program.probes.is_empty() {
        return Err(Error::Program(
            source.clone(),
            Diagnostic::global("the program has no probes")
                .with_hint("a probe looks like: BEGIN { printf(\"hello\\n\"); }")
                .into(),
        ));
    }
    if let Some(pid) = settings.pid
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        return Err(Error::Usage(format!("-p {pid}: no such process")));
    }
    let program = if settings.fallback && !bpfscope_runtime::attach::kernel_has_kprobes(&settings.features) {
        kprobes_to_fentry(program, source)?
    } else {
        program
    };
    let agent = if settings.user_probes { Some(crate::agent::library()?) } else { None };
    let child = match (settings.command.as_deref(), &agent) {
        (Some(command), Some(agent)) => Some(bpfscope_runtime::Child::spawn_with_agent(command, agent)?),
        (Some(command), None) => Some(bpfscope_runtime::Child::spawn(command)?),
        (None, _) => None,
    };
    let resolve_options = bpfscope_probes::ResolveOptions {
        pid: settings.pid,
        executable: child.as_ref().map(|c| c.program().to_path_buf()),
    };
    let resolved = bpfscope_probes::resolve(&program, &resolve_options)
        .map_err(|d| Error::Program(source.clone(), Diagnostics(d)))?;
    if !settings.no_warnings {
        for note in &resolved.notes {
            eprintln!("bpfscope: warning: {note}");
        }
    }
    // Structs uprobes' `args` point at, from DWARF: the program is read
    // again with their declarations included (its probes are the same).
    let (extended, program) = with_dwarf_structs(source, program, &resolved, settings)?;
    let source = extended.as_ref().unwrap_or(source);
    let defaults = CheckOptions::default();
    let kernel_types = KernelTypes(std::rc::Rc::new(bpfscope_probes::btf::LazyKernelStructs::default()));
    let options = CheckOptions {
        params,
        named_params: settings.named_params.clone(),
        has_child: settings.command.is_some(),
        allow_unsafe: settings.allow_unsafe,
        probe_args: resolved.args_types(bpfscope_lang::check::configured_max_strlen(&program)),
        kernel_types: Some(kernel_types.clone()),
        user_symbols: Some(bpfscope_lang::check::UserSymbols(std::rc::Rc::new(resolved.user_symbols()))),
        ..defaults
    };
    let checked = check(program, source, &options).map_err(|d| Error::Program(source.clone(), d))?;
    if !settings.no_warnings && !checked.warnings.is_empty() {
        eprint!("{}", Diagnostics(checked.warnings.clone()).render_as(source, settings.look));
    }
    let compile_options = CompileOptions {
        params: options.params.clone(),
        named_params: settings.named_params.clone(),
        ncpus: possible_cpus(),
        ringbuf_size: default_ringbuf_size(),
        cpid: child.as_ref().map(|c| c.pid()),
        unwind_pid: settings.pid.or(child.as_ref().map(|c| c.pid())),
        kernel_types: Some(kernel_types),
        // The kernel is asked (a program loaded) only for programs that may
        // need the answer, to keep start-up short; a wrong guess costs only
        // speed (an inline loop) or gives the kernel's own refusal.
        // (Loops over the bytes of long strings, in string functions and
        // comparisons, are bpf_loop callbacks too.)
        bpf_loop: ["while", "for", "str", "memcmp", "==", "!=", "dw_ustack"].iter().any(|w| mentions(source, w))
            && bpfscope_runtime::attach::bpf_loop_usable(&settings.features),
        tai_offset_ns: tai_offset_ns(),
        pid_namespace: pid_namespace(),
        override_return: !mentions(source, "override") || bpfscope_runtime::attach::kernel_has_override_return(),
        write_user: !mentions(source, "write_user") || bpfscope_runtime::attach::kernel_allows_write_user(),
        clock_map: std::env::var("BPFTRACE_DUMMY_TS_MAP").ok(),
        read_warnings: settings.read_warnings,
        kfunc_allowed: Some(bpfscope_compiler::KfuncAllowed(std::rc::Rc::new(bpfscope_runtime::attach::kfunc_allowed))),
        ..CompileOptions::default()
    };
    let mut compiled = compile(&checked, &resolved, &compile_options).map_err(|d| Error::Program(source.clone(), d))?;
    compiled.render_warnings(source, settings.no_warnings);
    if settings.print_insns {
        print!("{}", compiled.listing(source));
        let _ = std::io::stdout().flush();
    }
    Ok(Prepared { compiled, child, agent })
}

/// `--fallback` on a kernel without kprobes: kprobes become fentry and
/// kretprobes fexit (the program still fails to load, saying why, where
/// the kernel refuses fentry too).
fn kprobes_to_fentry(
    mut program: bpfscope_lang::ast::Program,
    source: &Source,
) -> Result<bpfscope_lang::ast::Program, Error> {
    use bpfscope_lang::attach::Target;
    let mut moved = Vec::new();
    for ap in program.probes.iter_mut().flat_map(|p| p.attach_points.iter_mut()) {
        let to = match ap.provider {
            Provider::Kprobe => Provider::Fentry,
            Provider::Kretprobe => Provider::Fexit,
            _ => continue,
        };
        if let Target::Kernel { offset: Some(_), .. } = ap.target {
            return Err(Error::Program(
                source.clone(),
                Diagnostic::error(ap.span, "this kernel has no kprobes, and fentry cannot probe at an offset").into(),
            ));
        }
        let from = ap.canonical();
        ap.provider = to;
        moved.push(format!("{from} as {}", ap.canonical()));
    }
    if !moved.is_empty() {
        eprintln!("bpfscope: this kernel has no kprobes; --fallback traces {}", moved.join(", "));
    }
    Ok(program)
}

/// Whether the program's text has this word anywhere (a cheap, safe
/// over-approximation of "uses it").
fn mentions(source: &Source, word: &str) -> bool {
    source.text().contains(word)
}

/// CLOCK_TAI less CLOCK_BOOTTIME now (`nsecs(sw_tai)` adds it to boot time).
fn tai_offset_ns() -> i64 {
    let now = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to write.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec.wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec)
    };
    let before = now(libc::CLOCK_BOOTTIME);
    let tai = now(libc::CLOCK_TAI);
    let after = now(libc::CLOCK_BOOTTIME);
    tai - (before + (after - before) / 2)
}

/// The device and inode of this process's pid namespace (`pid(curr_ns)`).
fn pid_namespace() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self/ns/pid").ok()?;
    Some((m.dev(), m.ino()))
}

/// The number of CPUs the kernel may bring online (`ncpus`).
fn possible_cpus() -> u64 {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| s.trim().rsplit(['-', ',']).next().and_then(|n| n.parse::<u64>().ok()))
        .map_or(1, |max| max + 1)
}

/// The event buffer's size unless `perf_rb_pages` sets it, as bpftrace
/// 0.26 sizes it: the memory available, at least 256 KiB and at most about
/// 16 MiB (16 MiB on all but the smallest machines), rounded to the closest
/// power of two of pages. Room for bursts of hundreds of thousands of
/// events while the consumer catches up.
fn default_ringbuf_size() -> u32 {
    let available_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        })
        .unwrap_or(16_544);
    let pages = (available_kb.clamp(256, 16_544) * 1024 / 4096).max(1);
    let (low, high) = (1u64 << (63 - pages.leading_zeros()), pages.next_power_of_two());
    let pages = if pages - low <= high - pages { low } else { high };
    u32::try_from(pages * 4096).unwrap_or(1 << 24)
}
