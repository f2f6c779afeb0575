//! The bpfscope command: parses flags, runs a program or a tool, and
//! reports every error in one place.

mod cli;
mod headers;
mod info;
mod list;
mod tools;

use std::io::Read;
use std::process::ExitCode;

use bpfscope_lang::Source;
use bpfscope_runtime::RunError;

use crate::cli::{Cli, ProgramSource, split_program_args};
use bpfscope::error::{ColorWhen, Error};
use bpfscope::export;
use bpfscope::pipeline::{self, Settings};

fn main() -> ExitCode {
    // `bpfscope tool NAME ...`, or called as `vfsstat` through a link.
    if let Some(result) = tools::dispatch() {
        return report(result, ColorWhen::look(None));
    }
    let cli = match cli::parse() {
        Ok(Some(cli)) => cli,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    let look = ColorWhen::look(cli.color_when());
    report(run(&cli, look), look)
}

/// `--man-pages DIR`: bpfscope.8, and bpfscope-TOOL.8 for each tool.
fn man_pages(dir: &std::path::Path) -> Result<(), Error> {
    let write = |name: &str, command: clap::Command| -> Result<(), Error> {
        let path = dir.join(format!("{name}.8"));
        let mut text = Vec::new();
        clap_mangen::Man::new(command)
            .title(name.to_uppercase())
            .section("8")
            .render(&mut text)
            .map_err(RunError::Io)?;
        std::fs::write(&path, text)
            .map_err(|e| Error::Usage(format!("--man-pages: cannot write {}: {e}", path.display())))
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Usage(format!("--man-pages: cannot create {}: {e}", dir.display())))?;
    write("bpfscope", cli::command())?;
    for t in tools::TOOLS {
        let name = format!("bpfscope-{}", t.name);
        write(&name, (t.args)().name(t.name).about(t.summary))?;
    }
    Ok(())
}

/// Exits as the run ended, printing its error if it failed.
fn report(result: Result<(), Error>, look: bpfscope_lang::Look) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Exit(code)) => ExitCode::from(code as u8),
        // (Exit(0) is a tool's `--help`.)
        // The reader went away (`| head`): stop quietly, as a C tool would.
        Err(Error::Run(RunError::Io(e))) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render(look));
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli, look: bpfscope_lang::Look) -> Result<(), Error> {
    if cli.version {
        println!("bpfscope v{}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if let Some(dir) = &cli.install_tools {
        return tools::install(dir);
    }
    if let Some(shell) = cli.completions {
        clap_complete::generate(shell, &mut cli::command(), "bpfscope", &mut std::io::stdout());
        return Ok(());
    }
    if let Some(dir) = &cli.man_pages {
        return man_pages(dir);
    }
    if cli.help_builtins {
        print!("{}", bpfscope_lang::registry::table());
        return Ok(());
    }
    if cli.cleanup {
        return cleanup();
    }
    if cli.info {
        // Asking the kernel means loading programs.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(Error::Usage("--info asks the kernel by loading programs: run bpfscope as root (sudo)".into()));
        }
        print!("{}", info::report());
        return Ok(());
    }
    if cli.list {
        return list::list(cli);
    }
    for stage in &cli.debug {
        if !["ast", "insns", "all"].contains(&stage.as_str()) {
            return Err(Error::Usage(format!("unknown debug stage '{stage}' (available: ast, insns, all)")));
        }
    }
    if cli.user_probes && cli.command.is_none() && cli.pid.is_none() {
        return Err(Error::Usage(
            "--user-probes runs the probes inside one process: a command (-c CMD) or a running process (-p PID)".into(),
        ));
    }
    let Some((program_source, program_args)) = cli.program_source() else {
        return Err(Error::Usage(
            "no program given: use -e 'PROGRAM', a program file, or - for stdin (see --help)".into(),
        ));
    };
    let (params, named_params) = split_program_args(program_args);
    // With --export, a directory stands for its programs.
    let directory = match &program_source {
        ProgramSource::File(path) if cli.export.is_some() && std::path::Path::new(path).is_dir() => Some(path.clone()),
        _ => None,
    };
    let program_dir = match (&program_source, &directory) {
        (_, Some(dir)) => Some(std::path::PathBuf::from(dir)),
        (ProgramSource::File(path), None) => std::path::Path::new(path).parent().map(std::path::Path::to_path_buf),
        _ => None,
    };
    let mut sources = match &directory {
        Some(dir) => programs_in(dir)?,
        None => vec![(load(program_source)?, None)],
    };
    let search = headers::SearchPath {
        dirs: cli.include_dirs.iter().map(std::path::PathBuf::from).collect(),
        program_dir: program_dir.filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| ".".into()),
    };
    for (source, _) in &mut sources {
        headers::read(source, &search, &cli.includes)?;
    }
    let features = cli
        .no_feature
        .iter()
        .map(|f| f.parse::<bpfscope_runtime::Feature>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Usage)?;
    let settings = Settings {
        params,
        named_params,
        pid: cli.pid,
        command: cli.command.clone(),
        features: bpfscope_runtime::Features::without(features),
        quiet: cli.quiet,
        verbose: cli.verbose,
        no_warnings: cli.no_warnings,
        look,
        allow_unsafe: cli.allow_unsafe,
        fallback: cli.fallback,
        dry_run: cli.dry_run,
        print_ast: cli.debug.iter().any(|s| s == "ast" || s == "all"),
        print_insns: cli.debug.iter().any(|s| s == "insns" || s == "all"),
        output: cli.output.as_ref().map(std::path::PathBuf::from),
        flamegraph: cli.flamegraph.clone(),
        bench: cli.bench,
        user_probes: cli.user_probes,
        buffering: cli.buffering.as_deref().map(str::parse).transpose().map_err(Error::Usage)?,
        read_warnings: match (cli.runtime_warnings, cli.no_warnings) {
            (true, true) => return Err(Error::Usage("-k conflicts with --no-warnings".into())),
            (k, _) => k,
        },
        json: match cli.format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(Error::Usage(format!("Invalid output format \"{other}\"; valid formats: 'text', 'json'")));
            }
        },
    };
    if let Some(addr) = &cli.export {
        if cli.command.is_some() || cli.dry_run {
            return Err(Error::Usage("--export serves a program until it is stopped: without -c or --dry-run".into()));
        }
        if cli.output.is_some() {
            return Err(Error::Usage(
                "--export prints the program's output to stdout: -o is not built for it yet".into(),
            ));
        }
        let server = export::bind(addr)?;
        let programs = sources
            .iter()
            .map(|(source, name)| export::start(source, &settings, name.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
            eprintln!("__BPFTRACE_NOTIFY_PROBES_ATTACHED");
        }
        return match export::serve(server, programs, addr, cli.quiet, cli.max_series)? {
            0 => Ok(()),
            code => Err(Error::Exit(code)),
        };
    }
    let source = &sources[0].0;
    match pipeline::run_program(source, &settings)? {
        0 => Ok(()),
        code => Err(Error::Exit(code)),
    }
}

/// The `*.bt` programs of a directory, in name order, each with its
/// file's stem (which names its metric families).
fn programs_in(dir: &str) -> Result<Vec<(Source, Option<String>)>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::ReadFile { path: dir.to_string(), source })?;
    let mut paths: Vec<std::path::PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "bt")).collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::Usage(format!("--export: no *.bt program in {dir}")));
    }
    paths
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
            Ok((load(ProgramSource::File(p.to_string_lossy().into_owned()))?, stem))
        })
        .collect()
}

/// `--cleanup`: removes what killed runs left in tracefs, saying what.
fn cleanup() -> Result<(), Error> {
    let removed = bpfscope_runtime::attach::cleanup().map_err(Error::Usage)?;
    if removed.is_empty() {
        println!("nothing to remove: no bpfscope run left probe events behind");
    }
    let mut failed = 0;
    for (event, result) in removed {
        match result {
            Ok(()) => println!("removed {event}"),
            Err(e) => {
                failed += 1;
                eprintln!("bpfscope: error: cannot remove {event}: {e}");
            }
        }
    }
    if failed > 0 { Err(Error::Exit(1)) } else { Ok(()) }
}

pub(crate) fn load(src: ProgramSource) -> Result<Source, Error> {
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
