//! The bpfscope command: parses flags, runs the front end, and reports
//! every error in one place.

mod cli;

use std::io::{Read, Write};
use std::process::ExitCode;

use bpfscope_compiler::{CompileOptions, compile};
use bpfscope_lang::attach::Provider;
use bpfscope_lang::check::{CheckOptions, check};
use bpfscope_lang::{Diagnostic, Diagnostics, ParseOptions, Source, parse};
use bpfscope_runtime::{RunError, RunOptions};
use clap::Parser;

use crate::cli::{Cli, ProgramSource, split_program_args};

/// Everything that can stop a run, reported by `main`.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// Problems in the program, to be shown against its text.
    #[error("the program has errors")]
    Program(Source, Diagnostics),
    #[error("cannot read program file '{path}': {source}")]
    ReadFile { path: String, source: std::io::Error },
    #[error("{0} is not a text file: {1}")]
    NotText(String, std::str::Utf8Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0} is not available yet in this version of bpfscope")]
    NotYet(&'static str),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Child(#[from] bpfscope_runtime::child::ChildError),
    /// The program asked to exit with this code.
    #[error("exit code {0}")]
    Exit(i32),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Program(source, diags)) => {
            eprint!("{}", diags.render(&source));
            ExitCode::from(1)
        }
        Err(Error::Exit(code)) => ExitCode::from(code as u8),
        // The reader went away (`| head`): stop quietly, as a C tool would.
        Err(Error::Run(RunError::Io(e))) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bpfscope: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Error> {
    if cli.version {
        println!("bpfscope v{}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if cli.info {
        return Err(Error::NotYet("--info (kernel feature detection)"));
    }
    if cli.list {
        return list(cli);
    }
    for stage in &cli.debug {
        if stage != "ast" && stage != "all" {
            return Err(Error::Usage(format!("unknown debug stage '{stage}' (available: ast, all)")));
        }
    }
    for flag in cli.unbuilt_flags() {
        eprintln!("bpfscope: warning: {flag} is not available yet in this version of bpfscope and is ignored");
    }
    let Some((program_source, program_args)) = cli.program_source() else {
        return Err(Error::Usage(
            "no program given: use -e 'PROGRAM', a program file, or - for stdin (see --help)".into(),
        ));
    };
    let (params, _named) = split_program_args(program_args);
    let source = load(program_source)?;
    let program = parse(&source, &ParseOptions::with_btf(params.clone()))
        .map_err(|d| Error::Program(source.clone(), d.into()))?;
    if !cli.debug.is_empty() {
        print!("{}", bpfscope_lang::printer::print_program(&program));
        let _ = std::io::stdout().flush();
    }
    if program.probes.is_empty() {
        return Err(Error::Program(
            source,
            Diagnostic::global("the program has no probes")
                .with_hint("a probe looks like: BEGIN { printf(\"hello\\n\"); }")
                .into(),
        ));
    }
    let features = cli
        .no_feature
        .iter()
        .map(|f| f.parse::<bpfscope_runtime::Feature>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Usage)?;
    if let Some(pid) = cli.pid
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        return Err(Error::Usage(format!("-p {pid}: no such process")));
    }
    let features = bpfscope_runtime::Features::without(features);
    let program = if cli.fallback && !bpfscope_runtime::attach::kernel_has_kprobes(&features) {
        kprobes_to_fentry(program, &source)?
    } else {
        program
    };
    let mut child = cli.command.as_deref().map(bpfscope_runtime::Child::spawn).transpose()?;
    let resolve_options =
        bpfscope_probes::ResolveOptions { pid: cli.pid, executable: child.as_ref().map(|c| c.program().to_path_buf()) };
    let resolved = bpfscope_probes::resolve(&program, &resolve_options)
        .map_err(|d| Error::Program(source.clone(), Diagnostics(d)))?;
    if !cli.no_warnings {
        for note in &resolved.notes {
            eprintln!("bpfscope: warning: {note}");
        }
    }
    let defaults = CheckOptions::default();
    let options = CheckOptions {
        params,
        has_child: cli.command.is_some(),
        allow_unsafe: cli.allow_unsafe,
        probe_args: resolved.args_types(defaults.max_strlen),
        ..defaults
    };
    let checked = check(program, &source, &options).map_err(|d| Error::Program(source.clone(), d))?;
    if !cli.no_warnings && !checked.warnings.is_empty() {
        eprint!("{}", Diagnostics(checked.warnings.clone()).render(&source));
    }
    let compile_options = CompileOptions {
        params: options.params.clone(),
        ncpus: possible_cpus(),
        cpid: child.as_ref().map(|c| c.pid()),
        ..CompileOptions::default()
    };
    let compiled = compile(&checked, &resolved, &compile_options).map_err(|d| Error::Program(source.clone(), d))?;
    if cli.dry_run {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    let run_options = RunOptions { quiet: cli.quiet, verbose: cli.verbose, pid: cli.pid, features };
    let code = match bpfscope_runtime::run(&compiled, &run_options, child.as_mut(), &mut stdout) {
        Ok(code) => code,
        Err(RunError::Verifier { diagnostic, log }) => {
            if cli.verbose {
                eprintln!("{log}");
            }
            return Err(Error::Program(source, (*diagnostic).into()));
        }
        Err(e) => return Err(e.into()),
    };
    if code != 0 {
        return Err(Error::Exit(code));
    }
    Ok(())
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

/// `-l`: the probes a pattern matches, or (`-l -e PROGRAM`, `-l FILE`)
/// those a program attaches to.
fn list(cli: &Cli) -> Result<(), Error> {
    let program_file = cli.args.first().filter(|a| cli.program.is_none() && std::path::Path::new(a).is_file());
    let lines = match (&cli.program, program_file) {
        (Some(p), _) => program_probes(&load(ProgramSource::Inline(p.clone()))?, cli)?,
        (None, Some(f)) => program_probes(&load(ProgramSource::File(f.clone()))?, cli)?,
        (None, None) => {
            let pattern = cli.args.first().map_or("*", String::as_str);
            let options = bpfscope_probes::list::ListOptions { pid: cli.pid, verbose: cli.verbose };
            let lines = bpfscope_probes::list::list(pattern, &options).map_err(|e| Error::Usage(e.to_string()))?;
            if lines.is_empty() {
                // As bpftrace: no match is not an error.
                eprintln!("bpfscope: no probes match '{pattern}'");
            }
            lines
        }
    };
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}

/// The concrete attach points of a program, as `probe` names them.
fn program_probes(source: &Source, cli: &Cli) -> Result<Vec<String>, Error> {
    let program =
        parse(source, &ParseOptions::with_btf(Vec::new())).map_err(|d| Error::Program(source.clone(), d.into()))?;
    let options = bpfscope_probes::ResolveOptions { pid: cli.pid, executable: None };
    let resolved =
        bpfscope_probes::resolve(&program, &options).map_err(|d| Error::Program(source.clone(), Diagnostics(d)))?;
    Ok(resolved
        .probes
        .iter()
        .flatten()
        .filter(|c| !matches!(c.attach.provider, Provider::Begin | Provider::End))
        .map(|c| c.attach.canonical())
        .collect())
}

/// The number of CPUs the kernel may bring online (`ncpus`).
fn possible_cpus() -> u64 {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| s.trim().rsplit(['-', ',']).next().and_then(|n| n.parse::<u64>().ok()))
        .map_or(1, |max| max + 1)
}

fn load(src: ProgramSource) -> Result<Source, Error> {
    let (name, bytes) = match src {
        ProgramSource::Inline(text) => return Ok(Source::new("stdin", text)),
        ProgramSource::Stdin => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| Error::ReadFile { path: "stdin".into(), source: e })?;
            ("stdin".to_string(), buf)
        }
        ProgramSource::File(path) => {
            let bytes = std::fs::read(&path).map_err(|e| Error::ReadFile { path: path.clone(), source: e })?;
            (path, bytes)
        }
    };
    let text = String::from_utf8(bytes).map_err(|e| Error::NotText(name.clone(), e.utf8_error()))?;
    Ok(Source::new(name, text))
}
