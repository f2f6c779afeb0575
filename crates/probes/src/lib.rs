//! The attach-point catalog: what the kernel and user binaries offer, and
//! the concrete attach points a program's wildcards stand for.

pub mod btf;
pub mod dwarf;
pub mod glob;
pub mod kernel;
pub mod list;
mod providers;
pub mod resolve;
pub mod symbols;
pub mod tracefs;
pub mod unwind;
pub mod usdt;
pub mod user;

pub use list::ListOptions;
pub use resolve::{Detail, FentrySite, KprobeSite, ResolveOptions, Resolved, Site, UprobeSite, UsdtSite, resolve};

use bpfscope_lang::Diagnostic;
use bpfscope_lang::attach::AttachPoint;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("tracefs is not mounted (mount it with: mount -t tracefs nodev /sys/kernel/tracing)")]
    NoTracefs,
    #[error("cannot read tracefs at {0}: permission denied (reading it needs root: run bpfscope with sudo)")]
    TracefsUnreadable(String),
    #[error("no such tracepoint: {0}")]
    NoTracepoint(String),
    #[error("cannot parse the tracepoint format {0}")]
    BadFormat(String),
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: no such file")]
    NoFile(String),
    #[error("{0} is not an ELF binary")]
    NotElf(String),
    #[error("{0} is not a valid ELF file: {1}")]
    BadElf(String, String),
    #[error("cannot find '{0}': not a path, a library in /etc/ld.so.cache, or a program on $PATH")]
    NoBinary(String),
    #[error("{0}")]
    Btf(String),
    #[error("process {0} does not exist")]
    NoProcess(u32),
}

impl ProbeError {
    /// This error as a diagnostic at an attach point.
    pub fn at(&self, ap: &AttachPoint) -> Diagnostic {
        let d = Diagnostic::error(ap.span, self.to_string());
        match self {
            ProbeError::NoTracepoint(_) => d.with_hint("list them with: ls /sys/kernel/tracing/events/<category>"),
            _ => d,
        }
    }
}
