//! Everything that can stop a run: reported in one place by the command
//! (`main`), returned as values by the library.

use bpfscope_lang::{Diagnostics, Source};
use bpfscope_runtime::RunError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Problems in the program, shown against its text.
    #[error("{}", .1.render(.0).trim_end())]
    Program(Source, Diagnostics),
    #[error("cannot read program file '{path}': {source}")]
    ReadFile { path: String, source: std::io::Error },
    #[error("{0} is not a text file: {1}")]
    NotText(String, std::str::Utf8Error),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Child(#[from] bpfscope_runtime::child::ChildError),
    /// The program asked to exit with this code.
    #[error("exit code {0}")]
    Exit(i32),
}

/// When diagnostics are in colour (`--color`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// What `--color` says, else bpftrace's `BPFTRACE_COLOR`, else
    /// `NO_COLOR` (set: never), else auto: colour only when standard error
    /// is a terminal, never into a pipe or file.
    pub fn look(flag: Option<ColorWhen>) -> bpfscope_lang::Look {
        let env = || match std::env::var("BPFTRACE_COLOR").as_deref() {
            Ok("always") => Some(ColorWhen::Always),
            Ok("never") => Some(ColorWhen::Never),
            _ if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => Some(ColorWhen::Never),
            _ => None,
        };
        let on = match flag.or_else(env).unwrap_or(ColorWhen::Auto) {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        if on { bpfscope_lang::Look::Color } else { bpfscope_lang::Look::Plain }
    }
}

impl Error {
    /// The error as the command prints it on standard error: a program's
    /// diagnostics against its text, else one `bpfscope: error:` line.
    pub fn render(&self, look: bpfscope_lang::Look) -> String {
        match self {
            Error::Program(source, diags) => diags.render_as(source, look),
            other => {
                let line = format!("bpfscope: error: {other}");
                match look {
                    bpfscope_lang::Look::Color => {
                        let red = anstyle::AnsiColor::Red.on_default();
                        format!("{red}{line}{red:#}\n")
                    }
                    bpfscope_lang::Look::Plain => format!("{line}\n"),
                }
            }
        }
    }
}
