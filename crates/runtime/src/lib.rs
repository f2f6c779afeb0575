//! The runtime: loads a compiled program with libbpf, runs BEGIN, attaches
//! the probes, prints events and maps the way bpftrace does, and on
//! `exit()`, Ctrl-C or SIGTERM detaches, runs END and prints the maps.

pub mod attach;
mod btf;
pub mod child;
pub mod data;
pub mod elf;
pub mod inject;
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
pub mod user;

pub use attach::{Feature, Features};
pub use bpfscope_compiler::Compiled;
pub use child::Child;
pub use data::{Bucket, FromValue, MapValue, Value};
pub use load::{Loaded, load, rejected_instruction};
pub use session::{Buffering, Event, EventRef, MapRef, OnEvent, RunOptions, Session, run};

use bpfscope_lang::Diagnostic;

/// Why a program could not be made ready to attach (its maps and code
/// loaded, its outputs opened), with the error underneath.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot build the BPF object: {0}")]
    Object(#[source] object::write::Error),
    #[error("libbpf cannot open the BPF object: {0}")]
    Open(#[source] libbpf_rs::Error),
    #[error("the kernel refused the BPF programs: {error}\n{log}")]
    Refused { error: libbpf_rs::Error, log: String },
    #[error("cannot load {probe}: {refusal}")]
    NotAllowed { probe: String, refusal: privileges::Refusal },
    #[error("the program has no event buffer")]
    NoEventBuffer,
    #[error("cannot read the event buffer: {0}")]
    EventBuffer(#[source] std::io::Error),
    #[error("cannot create the pcap file {path}: {source}")]
    Pcap { path: String, source: std::io::Error },
    #[error("cannot read skboutput()'s packets: {0}")]
    Packets(#[source] libbpf_rs::Error),
    #[error("dw_ustack: cannot read the unwind tables of process {pid}: {source}")]
    UnwindTables { pid: u32, source: bpfscope_probes::unwind::UnwindError },
    #[error("dw_ustack: cannot load the unwind table: {0}")]
    UnwindMap(#[source] libbpf_rs::Error),
    /// fentry/fexit on a BPF program that is gone, or that libbpf cannot
    /// point the program at.
    #[error("cannot trace BPF program {id} ({function}): {source}")]
    BpfTarget { id: u32, function: String, source: libbpf_rs::Error },
}

/// Why a loaded program could not be attached (or run, for BEGIN, END
/// and the tracer's own events).
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("{0}")]
    Libbpf(#[source] libbpf_rs::Error),
    #[error("perf_event_open: {0}")]
    PerfEvent(#[source] std::io::Error),
    #[error("cannot read the online CPUs: {0}")]
    Cpus(#[source] std::io::Error),
    #[error("this machine has no hardware performance counters (usual in virtual machines); software events work")]
    NoPmu,
    #[error("{source} (an argN past the tracepoint's last argument makes the kernel refuse it)")]
    RawTracepoint { source: libbpf_rs::Error },
    #[error("no hardware breakpoint register is free (x86-64 has four)")]
    NoBreakpointRegister,
    #[error("x86-64 watches reads only together with writes: use the mode rw")]
    ReadOnlyWatchpoint,
    #[error("the kernel refused a watchpoint at 0x{address:x} ({source}): it must be aligned to its length")]
    Watchpoint { address: u64, source: std::io::Error },
    #[error("cannot open the iterator: {0}")]
    Iterator(#[source] libbpf_rs::Error),
    #[error("reading the iterator: {0}")]
    IteratorRead(#[source] std::io::Error),
    #[error("running it: {0}")]
    TestRun(#[source] libbpf_rs::Error),
    /// No kprobe PMU and no `kprobe_events`; the message names what works.
    #[error("{}", attach::kprobes::missing_kprobes_message(function))]
    NoKprobes { function: String },
    #[error("this kernel has no uprobe support (no uprobe PMU and no uprobe_events)")]
    NoUprobes,
    #[error("this kernel has no hardware breakpoints (no breakpoint PMU under /sys/bus/event_source/devices)")]
    NoBreakpoints,
    /// The kernel refused a kprobe on `function` (+`offset`), said in its
    /// terms where they are known.
    #[error("{}", attach::kprobes::refusal(function, *offset, source))]
    Kprobe { function: String, offset: u64, source: std::io::Error },
    #[error("{interface}: {source}")]
    TracefsEvent { interface: &'static str, source: std::io::Error },
    #[error("{0}")]
    Tracefs(#[source] bpfscope_probes::ProbeError),
    #[error("a NUL byte in {0}")]
    Nul(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Privileges(privileges::Refusal),
    #[error("cannot create map {name}: {message}")]
    Map { name: String, message: String },
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The verifier refused a program; the diagnostic points at the source.
    #[error("{}", diagnostic.message)]
    Verifier { diagnostic: Box<Diagnostic>, log: String },
    /// The kernel does not allow fentry/fexit programs (callers may fall
    /// back to kprobes or tracepoints).
    #[error("{0}")]
    FentryRefused(String),
    #[error("cannot attach {probe}: {source}")]
    Attach { probe: String, source: AttachError },
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
    #[error("--flamegraph: {0}")]
    FlameGraph(#[from] output::flamegraph::FlameGraphError),
    /// Only `bench:` probes, and no `--bench` (0.26's words).
    #[error("No probes attached; use --bench to run benchmark probes.")]
    BenchOnly,
    /// `--user-probes` cannot be set up.
    #[error("{0}")]
    UserProbes(String),
}
