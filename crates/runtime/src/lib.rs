//! The runtime: loads a compiled program with libbpf, runs BEGIN, attaches
//! the probes, prints events and maps the way bpftrace does, and on
//! `exit()`, Ctrl-C or SIGTERM detaches, runs END and prints the maps.

pub mod attach;
mod btf;
pub mod child;
pub mod data;
pub mod elf;
mod load;
pub mod output;
mod pcap;
mod perf;
pub mod privileges;
mod ringbuf;
mod session;
pub mod signals;
mod skb;
mod unwind;

pub use attach::{Feature, Features};
pub use bpfscope_compiler::Compiled;
pub use child::Child;
pub use data::{Bucket, FromValue, MapValue, Value};
pub use load::{Loaded, load, rejected_instruction};
pub use session::{Buffering, Event, EventRef, MapRef, OnEvent, RunOptions, Session, run};

use bpfscope_lang::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Privileges(privileges::Refusal),
    #[error("cannot create map {name}: {message}")]
    Map { name: String, message: String },
    #[error("{0}")]
    Load(String),
    /// The verifier refused a program; the diagnostic points at the source.
    #[error("{}", diagnostic.message)]
    Verifier { diagnostic: Box<Diagnostic>, log: String },
    /// The kernel does not allow fentry/fexit programs (callers may fall
    /// back to kprobes or tracepoints).
    #[error("{0}")]
    FentryRefused(String),
    #[error("cannot attach {probe}: {message}")]
    Attach { probe: String, message: String },
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
    #[error("--flamegraph: {0}")]
    FlameGraph(#[from] output::flamegraph::FlameGraphError),
}
