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
