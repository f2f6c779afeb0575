//! The attach-point catalog: what the kernel and user binaries offer, and
//! the concrete attach points a program's wildcards stand for.

pub mod glob;
pub mod resolve;
pub mod tracefs;

pub use resolve::{Concrete, Detail, Resolved, resolve};

use bpfscope_lang::Diagnostic;
use bpfscope_lang::attach::AttachPoint;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("tracefs is not mounted (mount it with: mount -t tracefs nodev /sys/kernel/tracing)")]
    NoTracefs,
    #[error("no such tracepoint: {0}")]
    NoTracepoint(String),
    #[error("cannot parse the tracepoint format {0}")]
    BadFormat(String),
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
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
