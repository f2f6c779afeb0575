//! Command-line flags, modeled on bpftrace's, and the `tools` and `tool`
//! commands (run before flags are parsed, see `tools::dispatch`; here so
//! that help, completions and man pages show them).

use clap::{CommandFactory, Parser};

#[derive(Debug, Parser)]
#[command(
    name = "bpfscope",
    version,
    about = "A dynamic tracer for Linux: bpftrace programs in one small binary",
    after_help = "EXAMPLES:\n    bpfscope -e 'kprobe:vfs_read { @[comm] = count(); }'\n    bpfscope -l 'uprobe:/lib/x86_64-linux-gnu/libc.so.6:gethost*'\n    bpfscope script.bt arg1 arg2\n    echo 'BEGIN { exit(); }' | bpfscope -",
    disable_version_flag = true
)]
pub struct Cli {
    /// Run PROGRAM instead of reading a program file.
    #[arg(short = 'e', value_name = "PROGRAM")]
    pub program: Option<String>,

    /// The program file ('-' for stdin), or with -l the probe pattern; then
    /// the program's positional parameters ($1, $2, ...) and, after '--',
    /// named parameters (--name=value).
    #[arg(value_name = "FILE | PATTERN")]
    pub args: Vec<String>,

    /// List probes matching the pattern, or those the program attaches to.
    #[arg(short = 'l')]
    pub list: bool,

    /// Parse and check the program, then exit without running it.
    #[arg(long)]
    pub dry_run: bool,

    /// Run the program's bench: probes (after BEGIN, attaching nothing),
    /// print each one's average time per run, and end.
    #[arg(long)]
    pub bench: bool,

    /// Run the command's uprobes, uretprobes and USDT probes inside it
    /// (with -c): its probe sites jump to the programs, with no trap into
    /// the kernel; sites that cannot be patched get kernel uprobes.
    #[arg(long)]
    pub user_probes: bool,

    /// Print debug output of a stage: ast, insns (each probe's eBPF with
    /// its source lines), or all (may be repeated, or comma-separated).
    #[arg(short = 'd', value_name = "STAGE", value_delimiter = ',')]
    pub debug: Vec<String>,

    /// Verbose messages.
    #[arg(short = 'v')]
    pub verbose: bool,

    /// Keep messages quiet.
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Trace only this process (and attach user probes to it).
    #[arg(short = 'p', value_name = "PID")]
    pub pid: Option<u32>,

    /// Run COMMAND as a child process and exit when it exits.
    #[arg(short = 'c', value_name = "COMMAND")]
    pub command: Option<String>,

    /// Output format: text, or json (bpftrace 0.26's JSON lines: one
    /// object per message).
    #[arg(short = 'f', value_name = "FORMAT")]
    pub format: Option<String>,

    /// Write the trace output to FILE (created or truncated) instead of
    /// stdout; messages about the run stay on stderr.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<String>,

    /// At the end, draw the maps keyed by stacks (e.g. @[kstack, ustack,
    /// comm] = count()) as a flame graph in FILE (SVG; kernel frames,
    /// user frames and inlined functions in their own colours).
    #[arg(long = "flamegraph", value_name = "FILE")]
    pub flamegraph: Option<std::path::PathBuf>,

    /// Output buffering: none, line or full (default: line on a terminal,
    /// full otherwise, flushed at least every 100 ms).
    #[arg(short = 'B', value_name = "MODE")]
    pub buffering: Option<String>,

    /// Report, at run time, reads of traced memory that fail and map reads
    /// of keys that are not there (once per place, with a count at the end).
    #[arg(short = 'k')]
    pub runtime_warnings: bool,

    /// Allow unsafe functions (system, signal, override).
    #[arg(long = "unsafe")]
    pub allow_unsafe: bool,

    /// Do not use these kernel features, as if the kernel lacked them:
    /// uprobe_multi, uprobe_pmu, kprobe_multi, kprobe_pmu, kprobe_events, uprobe_events, bpf_loop.
    #[arg(long, value_name = "FEATURE,...", value_delimiter = ',')]
    pub no_feature: Vec<String>,

    /// Where the kernel has no kprobes, use fentry/fexit for kprobe and
    /// kretprobe probes (when the kernel allows fentry).
    #[arg(long)]
    pub fallback: bool,

    /// Suppress warnings.
    #[arg(long)]
    pub no_warnings: bool,

    /// Read a C header before the program, as `#include "FILE"` (may be repeated).
    #[arg(long = "include", value_name = "FILE")]
    pub includes: Vec<String>,

    /// Look for the program's C headers in DIR too (may be repeated).
    #[arg(short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<String>,

    /// Print the kernel features and build information.
    #[arg(long)]
    pub info: bool,

    /// List the language's functions and builtins: signature, what each
    /// does, and which are not built yet.
    #[arg(long)]
    pub help_builtins: bool,

    /// Activate USDT semaphores in every process that maps the file. Always
    /// so: the kernel's uprobe reference counters set them (accepted for
    /// bpftrace's command lines).
    #[arg(long)]
    pub usdt_file_activation: bool,

    /// Remove the tracefs probe events that bpfscope runs no longer
    /// running left behind (a run killed with SIGKILL), then exit.
    #[arg(long)]
    pub cleanup: bool,

    /// Make a link named after each tool in DIR (calling the link runs
    /// the tool), then exit.
    #[arg(long, value_name = "DIR")]
    pub install_tools: Option<std::path::PathBuf>,

    /// Diagnostics in colour: auto (when standard error is a terminal and
    /// neither NO_COLOR nor BPFTRACE_COLOR=never is set), always, never.
    #[arg(long, value_name = "WHEN", value_parser = ["auto", "always", "never"])]
    pub color: Option<String>,

    /// Run the program until it is stopped, serving its maps at
    /// http://ADDR/metrics for Prometheus (read at each scrape), and
    /// /healthz.
    #[arg(long, value_name = "ADDR")]
    pub export: Option<String>,

    /// With --export: at most N series per map (the rest are counted in
    /// bpfscope_dropped_series).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_series: usize,

    /// Print a completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell), then exit: bpfscope --completions bash >
    /// /etc/bash_completion.d/bpfscope
    #[arg(long, value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,

    /// Write the man pages, bpfscope.8 and bpfscope-TOOL.8 for each tool,
    /// into DIR, then exit.
    #[arg(long, value_name = "DIR")]
    pub man_pages: Option<std::path::PathBuf>,

    /// Print the version.
    #[arg(short = 'V', long)]
    pub version: bool,
}

impl Cli {
    /// `--color` as a choice.
    pub fn color_when(&self) -> Option<bpfscope::error::ColorWhen> {
        use bpfscope::error::ColorWhen;
        self.color.as_deref().map(|w| match w {
            "always" => ColorWhen::Always,
            "never" => ColorWhen::Never,
            _ => ColorWhen::Auto,
        })
    }
}

/// The whole command line: the flags, `tools`, and `tool NAME` with each
/// tool's own options.
pub fn command() -> clap::Command {
    let tools = crate::tools::TOOLS.iter().map(|t| (t.args)().name(t.name).about(t.summary));
    Cli::command()
        .disable_help_subcommand(true)
        .subcommand(clap::Command::new("tools").about("List the ready-made tools, a line each"))
        .subcommand(
            clap::Command::new("tool")
                .about("Run a ready-made tool (also: a link named after it, see --install-tools)")
                .subcommand_required(true)
                .subcommands(tools),
        )
}

/// The flags of this command line, or `None` once help was asked for
/// and printed. Parsing leaves `tools` and `tool` to `tools::dispatch`
/// (a program's parameter may be spelled `tools`); help shows them.
pub fn parse() -> Result<Option<Cli>, clap::Error> {
    match Cli::try_parse() {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            let mut command = command();
            let long = std::env::args().any(|a| a == "--help");
            let printed = if long { command.print_long_help() } else { command.print_help() };
            printed.map_err(|e| clap::Error::raw(clap::error::ErrorKind::Io, e))?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The program text and the name errors call it by.
pub enum ProgramSource {
    Inline(String),
    File(String),
    Stdin,
}

impl Cli {
    /// Where the program comes from and which arguments are its own.
    pub fn program_source(&self) -> Option<(ProgramSource, &[String])> {
        if let Some(p) = &self.program {
            return Some((ProgramSource::Inline(p.clone()), &self.args));
        }
        let (first, rest) = self.args.split_first()?;
        let src = if first == "-" { ProgramSource::Stdin } else { ProgramSource::File(first.clone()) };
        Some((src, rest))
    }
}

/// Splits program arguments into positional ones and `--name[=value]` ones.
pub fn split_program_args(args: &[String]) -> (Vec<String>, Vec<(String, Option<String>)>) {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for a in args {
        if a == "--" {
            continue;
        }
        match a.strip_prefix("--") {
            Some(n) => match n.split_once('=') {
                Some((k, v)) => named.push((k.to_string(), Some(v.to_string()))),
                None => named.push((n.to_string(), None)),
            },
            None => positional.push(a.clone()),
        }
    }
    (positional, named)
}
