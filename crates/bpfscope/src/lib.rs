//! bpfscope as a library: write tracing tools in Rust with BCC's verbs.
//!
//! Probe bodies are written in bpftrace's language (bpfscope compiles them
//! to eBPF itself; no LLVM, no kernel headers). Attach them with the verbs
//! BCC's Python API has, load, then read what the kernel counted from the
//! maps as Rust values, and receive `printf` events through a callback.
//!
//! ```no_run
//! use std::time::Duration;
//! use bpfscope::{Bpf, Event};
//!
//! # fn main() -> Result<(), bpfscope::Error> {
//! let mut bpf = Bpf::new();
//! bpf.attach_uprobe("c", "getaddrinfo", None, "{ @calls[comm] = count(); }")
//!     .attach_tracepoint("syscalls:sys_enter_openat", "{ printf(\"%s %s\\n\", comm, str(args.filename)); }");
//! let mut tracer = bpf.load()?;
//! for _ in 0..10 {
//!     tracer.poll(Duration::from_millis(100), |event| {
//!         if let Event::Printf { args, .. } = event {
//!             println!("{args:?}");
//!         }
//!     })?;
//! }
//! let calls: Vec<(String, u64)> = tracer.map("@calls").and_then(|m| m.entries_as()).unwrap_or_default();
//! println!("{calls:?}");
//! # Ok(()) }
//! ```
//!
//! The `bpfscope` command is built on the same pieces: [`pipeline`] runs
//! a whole program as the command line does.

pub mod agent;
mod bpf;
pub mod error;
pub mod export;
pub mod pipeline;

pub use bpf::{Bpf, Tracer, stop_on_signals};
pub use bpfscope_runtime::{Bucket, Event, FromValue, MapRef, MapValue, Value};
pub use error::Error;
