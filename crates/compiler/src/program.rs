//! What the compiler produces: maps to create, programs to load and attach,
//! and the tables user space needs to decode events and print maps.

use std::path::PathBuf;

use bpfscope_lang::Span;
use bpfscope_lang::attach::AttachPoint;
use bpfscope_lang::check::Type;
use bpfscope_lang::format::Piece;

use crate::asm::Code;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapId(pub usize);

/// A BPF subprogram (a callback), by index in [`Compiled::subprogs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubprogId(pub usize);

/// A callback that helpers such as `bpf_for_each_map_elem` call.
#[derive(Clone, Debug, PartialEq)]
pub struct SubprogSpec {
    pub name: String,
    pub code: Code,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    Hash,
    PercpuHash,
    RingBuf,
    /// Internal counters and settings, indexed by a `u32`.
    Array,
    /// Per-CPU scratch space, indexed by a `u32`.
    PercpuArray,
    /// Call stacks by id, from `bpf_get_stackid`.
    StackTrace,
    /// The same with each frame as a build-id and an offset in that file
    /// (`BPF_F_STACK_BUILD_ID`): `ustack(build_id)`.
    StackTraceBuildId,
    /// One perf buffer per CPU (`skboutput()`'s packets, which only
    /// `bpf_skb_output` can copy out of a socket buffer).
    PerfEventArray,
}

/// A stack trace map: `ustack`/`kstack` values name one by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackMap {
    pub map: MapId,
    /// Frames kept per stack.
    pub limit: u32,
    pub user: bool,
    /// How its stacks print.
    pub mode: StackMode,
    /// Stacks walked with an unwind table (`dw_ustack`), kept in a hash
    /// map by a hash of their frames, not by `bpf_get_stackid`.
    pub dwarf: bool,
}

/// What `dw_ustack` needs from the run: the unwind table of the target
/// process, loaded into `rows` before the probes attach (its size is set
/// then, from the table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unwind {
    pub rows: MapId,
    pub pid: u32,
}

/// How a stack prints (`ustack(perf)`, the `stack_mode` config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StackMode {
    /// `name+offset` per line, indented.
    #[default]
    Bpftrace,
    /// A tab, the address in hex, the symbol and (user frames) its file.
    Perf,
    /// Addresses in hex.
    Raw,
    /// Each frame as its file's build-id and the offset in that file
    /// (user stacks only).
    BuildId,
}

impl StackMode {
    /// The mode a name gives.
    pub fn from_name(name: &str) -> Option<StackMode> {
        match name {
            "bpftrace" => Some(StackMode::Bpftrace),
            "perf" => Some(StackMode::Perf),
            "raw" => Some(StackMode::Raw),
            "build_id" => Some(StackMode::BuildId),
            _ => None,
        }
    }
}

/// A `ustack`/`kstack` value: the stack id in the low 32 bits, the index
/// of its [`StackMap`] in the next 8, the process id above.
pub fn stack_value_parts(v: u64) -> (u32, usize, u32) {
    (v as u32, ((v >> 32) & 0xff) as usize, (v >> 40) as u32)
}

/// A kernel map to create before loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// The kernel's name for it (at most 15 bytes).
    pub name: String,
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// How a user map's values are kept and printed.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// Assigned values of this type.
    Plain(Type),
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Stats,
    /// Keys carry an extra 8-byte bucket index after the user's key.
    /// Each power of two is split into `2^k` buckets.
    Hist {
        k: u8,
    },
    Lhist {
        min: i64,
        max: i64,
        step: i64,
    },
    /// `tseries(v, interval, n[, agg])`: the key carries the slot
    /// (`epoch % n`, epoch = sw_tai time / interval); each slot's value is
    /// `{ value, meta, epoch }` (meta: the time of a plain series, the
    /// count of an average, whether min/max are set).
    Tseries {
        interval_ns: u64,
        num_intervals: u64,
        agg: TseriesAgg,
        /// The values are signed (else unsigned) 64-bit integers.
        signed: bool,
    },
}

/// How a time series combines the values of one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TseriesAgg {
    /// The last value written.
    Last,
    Sum,
    Avg,
    Min,
    Max,
}

impl TseriesAgg {
    pub fn from_name(name: &str) -> Option<TseriesAgg> {
        Some(match name {
            "sum" => TseriesAgg::Sum,
            "avg" => TseriesAgg::Avg,
            "min" => TseriesAgg::Min,
            "max" => TseriesAgg::Max,
            _ => return None,
        })
    }
}

impl ValueKind {
    /// Maps whose kernel key has a bucket index appended.
    pub fn has_bucket(&self) -> bool {
        matches!(self, ValueKind::Hist { .. } | ValueKind::Lhist { .. } | ValueKind::Tseries { .. })
    }

    /// Per-CPU maps: user space sums the CPUs' values.
    pub fn is_per_cpu(&self) -> bool {
        !matches!(self, ValueKind::Plain(_))
    }
}

/// A map the program names (`@x`), as user space reads and prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct UserMap {
    /// Without the `@`; empty for `@`.
    pub name: String,
    pub map: MapId,
    /// `None` for a map without keys (stored under an 8-byte zero key).
    pub key: Option<Type>,
    pub value: ValueKind,
}

/// What kind of program, and so how it is loaded and attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgKind {
    /// Run once by the tracer (BEGIN, END) with `BPF_PROG_TEST_RUN`.
    Begin,
    End,
    /// Run by the tracer, the same way, each time SIGUSR1 reaches it
    /// (`self:signal:SIGUSR1`).
    Signal,
    /// `bench:NAME`: run by the tracer under `--bench`, many times in one
    /// `BPF_PROG_TEST_RUN`, which times it. An XDP program, as 0.26's:
    /// the program type whose test runs take a repeat count.
    Bench {
        name: String,
    },
    /// A software clock event on one CPU every `period_ns`.
    Interval {
        period_ns: u64,
    },
    /// A software clock event on every CPU, at `hz` or every `period_ns`.
    Profile {
        hz: Option<u64>,
        period_ns: u64,
    },
    Tracepoint {
        category: String,
        event: String,
    },
    /// A `software:`/`hardware:` perf event on every CPU, firing every
    /// `period` events.
    PerfEvent {
        hardware: bool,
        config: u64,
        period: u64,
    },
    /// A hardware breakpoint on `length` bytes at `address`, firing on
    /// the accesses `access` names (perf's `HW_BREAKPOINT_R`/`W`/`X`
    /// bits), in the target process or on every CPU.
    Watchpoint {
        address: u64,
        length: u64,
        access: u32,
    },
    /// A BPF iterator over kernel objects (`iter:task`): run once per
    /// object as the tracer reads the iterator, then the run ends.
    Iter {
        object: String,
    },
    /// A kernel tracepoint with its raw arguments (`BPF_PROG_TYPE_RAW_TRACEPOINT`).
    RawTracepoint {
        name: String,
    },
    /// Uprobes (or uretprobes) on one binary: one program for all of its
    /// sites, told apart at run time by each site's attach cookie.
    Uprobe {
        binary: PathBuf,
        ret: bool,
        sites: Vec<UprobeTarget>,
    },
    /// fentry (or fexit) on one kernel function, typed by its BTF, or on a
    /// function of a running BPF program.
    Fentry {
        /// `function` or `module:function`, or the BPF program's function.
        function: String,
        ret: bool,
        /// The traced BPF program's id (the loader points the program at
        /// it before loading).
        program: Option<u32>,
    },
    /// Kprobes (or kretprobes): one program for all the functions a probe
    /// names, told apart by each site's attach cookie.
    Kprobe {
        ret: bool,
        sites: Vec<KprobeTarget>,
    },
}

/// One place a uprobe program is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UprobeTarget {
    /// The file offset.
    pub offset: u64,
    /// What `bpf_get_attach_cookie` returns there (see [`site_cookie`]).
    pub cookie: u64,
    /// A USDT semaphore's file offset: the kernel counts the attached
    /// probes in it, so guarded probes fire.
    pub semaphore: Option<u64>,
}

/// One kernel function a kprobe program is attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KprobeTarget {
    /// `function` or `module:function`.
    pub function: String,
    pub offset: u64,
    pub cookie: u64,
}

/// The attach cookie of a site: its `probe` index in the low half, its
/// `func` index in the high half.
pub fn site_cookie(probe: u32, func: u32) -> u64 {
    u64::from(probe) | (u64::from(func) << 32)
}

impl ProgKind {
    /// The ELF section name that tells libbpf the program type.
    pub fn section(&self) -> String {
        match self {
            // libbpf finds the function's BTF id from the section name.
            ProgKind::Fentry { function, ret, .. } => format!("{}/{function}", if *ret { "fexit" } else { "fentry" }),
            // libbpf finds `bpf_iter_OBJECT`'s BTF id from it.
            ProgKind::Iter { object } => format!("iter/{object}"),
            other => other.fixed_section().to_string(),
        }
    }

    fn fixed_section(&self) -> &'static str {
        match self {
            ProgKind::Begin | ProgKind::End | ProgKind::Signal => "raw_tp",
            ProgKind::Bench { .. } => "xdp",
            ProgKind::Interval { .. }
            | ProgKind::Profile { .. }
            | ProgKind::PerfEvent { .. }
            | ProgKind::Watchpoint { .. } => "perf_event",
            ProgKind::Tracepoint { .. } => "tracepoint",
            ProgKind::Uprobe { .. } => "uprobe",
            ProgKind::Kprobe { .. } => "kprobe",
            ProgKind::RawTracepoint { .. } => "raw_tp",
            ProgKind::Fentry { .. } => "fentry",
            ProgKind::Iter { .. } => "iter",
        }
    }
}

/// The kernel's program type a probe loads as, where it decides what the
/// program may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgType {
    Kprobe,
    Tracepoint,
    PerfEvent,
    RawTracepoint,
    Tracing,
    Xdp,
}

impl ProgType {
    /// The type this version loads a provider's probes as (see
    /// `ProgKind::section`).
    pub fn of(provider: bpfscope_lang::attach::Provider) -> ProgType {
        use bpfscope_lang::attach::Provider as P;
        match provider {
            P::Kprobe | P::Kretprobe | P::Uprobe | P::Uretprobe | P::Usdt => ProgType::Kprobe,
            P::Tracepoint => ProgType::Tracepoint,
            P::Profile | P::Interval | P::Software | P::Hardware | P::Watchpoint => ProgType::PerfEvent,
            P::Fentry | P::Fexit | P::Iter => ProgType::Tracing,
            P::Begin | P::End | P::SelfEvent | P::Test | P::RawTracepoint => ProgType::RawTracepoint,
            P::Bench => ProgType::Xdp,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProgSpec {
    /// The program's (symbol) name.
    pub name: String,
    pub kind: ProgKind,
    pub attach: AttachPoint,
    pub code: Code,
}

/// One `printf` (or `errorf`...) call: its format and argument layout.
#[derive(Clone, Debug, PartialEq)]
pub struct PrintfSpec {
    pub pieces: Vec<Piece>,
    /// Each argument's type and offset in the event's payload.
    pub args: Vec<(Type, u32)>,
    pub span: Span,
    /// `printf` (standard output), or `warnf`/`errorf` (standard error,
    /// after the call's place).
    pub severity: PrintfSeverity,
    /// The call's place as bpftrace prints it (`stdin:1:9-30`), set by
    /// [`Compiled::render_warnings`].
    pub location: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrintfSeverity {
    #[default]
    Output,
    Warning,
    Error,
    /// A `warnf` under `--no-warnings`: prints nothing.
    Silenced,
}

impl PrintfSeverity {
    /// The word bpftrace puts before the message.
    pub fn label(self) -> Option<&'static str> {
        match self {
            PrintfSeverity::Output | PrintfSeverity::Silenced => None,
            PrintfSeverity::Warning => Some("WARNING"),
            PrintfSeverity::Error => Some("ERROR"),
        }
    }
}

/// The first 8 bytes of every ring buffer record: what it asks user space
/// to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum EventKind {
    /// `[kind][printf id][args...]`
    Printf = 1,
    /// `[kind][code]`
    Exit = 2,
    /// `[kind][user map index][top][div]`
    PrintMap = 3,
    /// `[kind][user map index]`
    ClearMap = 4,
    /// `[kind][user map index]`
    ZeroMap = 5,
    /// `[kind][time format id]`
    Time = 6,
    /// `[kind][print id][value]`
    PrintValue = 7,
    /// `[kind][cat id][args...]`: print a file whose name is formatted.
    Cat = 8,
    /// `[kind][join id][count][JOIN_ARGS strings of JOIN_ARG_SIZE bytes]`
    Join = 9,
    /// `[kind][runtime warning id]`
    RuntimeWarning = 10,
    /// `[kind][system id][args...]`: run a formatted shell command.
    System = 11,
}

/// A check the program makes as it runs, and what it says when it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeWarningKind {
    /// `x / 0` or `x % 0`: the result is 1.
    DivideByZero,
    /// A loop ran the most iterations `bpf_loop` allows, and stopped.
    LoopLimit,
    /// `a[$i]` with `$i` past the array's end: the value is 0.
    ArrayOutOfBounds,
    /// A map has no room for another key: the update is lost.
    MapFull,
    /// `-k`: a read of traced memory failed (the value is zeros); the
    /// event carries the helper's error code.
    ReadFailed(&'static str),
    /// `-k`: a map read found no entry for its key (the value is zero).
    LookupMissing,
    /// `dw_ustack` in a process without an unwind table: the stack is empty.
    NoDwarfUnwind,
    /// Two `dw_ustack` stacks with one 32-bit id: the second is empty.
    StackIdCollision,
}

impl RuntimeWarningKind {
    /// The message, in bpftrace 0.26's words where it has one.
    pub fn message(self) -> String {
        match self {
            RuntimeWarningKind::DivideByZero => {
                "Divide or modulo by 0 detected. This can lead to unexpected results. 1 is being used as the result."
                    .to_string()
            }
            RuntimeWarningKind::MapFull => "Map full; can't update element. Try increasing max_map_keys config or manually setting the max entries in a map declaration e.g. `let @a = hash(5000)`".to_string(),
            RuntimeWarningKind::ArrayOutOfBounds => {
                "Array access out of bounds. This can lead to unexpected results.".to_string()
            }
            RuntimeWarningKind::LoopLimit => {
                format!("This loop stopped after {LOOP_LIMIT} iterations, the most the kernel's bpf_loop allows.")
            }
            // The error's text is filled in when it happens.
            RuntimeWarningKind::ReadFailed(_) => ERRNO_PLACEHOLDER.to_string(),
            RuntimeWarningKind::LookupMissing => "Can't lookup map element because it does not exist.".to_string(),
            RuntimeWarningKind::NoDwarfUnwind => {
                "No DWARF unwind data available for this process. Use -p or -c to specify the target process."
                    .to_string()
            }
            RuntimeWarningKind::StackIdCollision => {
                "Two different stacks got the same dw_ustack id; this one is left empty.".to_string()
            }
        }
    }

    /// The helper whose failure this is and the error it returned, as
    /// 0.26's JSON `helper_error` names them (`None` for other errors, and
    /// for `-k`'s read errors, whose code comes with the event).
    pub fn json_helper(self) -> Option<(&'static str, i64)> {
        match self {
            RuntimeWarningKind::MapFull => Some(("map_update_elem", -7)),
            RuntimeWarningKind::LookupMissing => Some(("map_lookup_elem", 0)),
            _ => None,
        }
    }

    /// The helper a `-k` warning is about, as 0.26 names it.
    pub fn helper(self) -> Option<&'static str> {
        match self {
            RuntimeWarningKind::ReadFailed(h) => Some(h),
            RuntimeWarningKind::LookupMissing => Some("map_lookup_elem"),
            _ => None,
        }
    }
}

/// Where a failed read's error text goes in its rendered warning.
pub const ERRNO_PLACEHOLDER: &str = "@ERRNO@";
/// Where its error code goes.
pub const RC_PLACEHOLDER: &str = "@RC@";

/// The most iterations one `bpf_loop` call runs (the kernel's limit).
pub const LOOP_LIMIT: u32 = 1 << 23;

/// A place in the program that can warn at run time.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeWarning {
    pub kind: RuntimeWarningKind,
    pub span: Span,
    /// The warning as printed: the message, until whoever holds the
    /// program's source renders it with the place (see
    /// [`Compiled::render_warnings`]).
    pub text: String,
    /// Where it is, as `file:line:col-col` (for JSON's filename, line, col).
    pub location: String,
    /// The attach points of the probe it is in, as written.
    pub probe: Span,
}

/// How many strings `join()` reads, and how long each may be (bpftrace's
/// `join_argnum` and `join_argsize`).
pub const JOIN_ARGS: u32 = 16;
pub const JOIN_ARG_SIZE: u32 = 1024;

impl EventKind {
    pub fn from_u64(v: u64) -> Option<EventKind> {
        Some(match v {
            1 => EventKind::Printf,
            2 => EventKind::Exit,
            3 => EventKind::PrintMap,
            4 => EventKind::ClearMap,
            5 => EventKind::ZeroMap,
            6 => EventKind::Time,
            7 => EventKind::PrintValue,
            8 => EventKind::Cat,
            9 => EventKind::Join,
            10 => EventKind::RuntimeWarning,
            11 => EventKind::System,
            _ => return None,
        })
    }
}

/// A compiled program: everything the runtime needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compiled {
    pub maps: Vec<MapSpec>,
    pub user_maps: Vec<UserMap>,
    pub programs: Vec<ProgSpec>,
    /// Callbacks, placed in `.text` and linked into the programs using them.
    pub subprogs: Vec<SubprogSpec>,
    pub printfs: Vec<PrintfSpec>,
    /// `cat()` calls: the file name's format and arguments.
    pub cats: Vec<PrintfSpec>,
    /// `system()` calls: the command's format and arguments.
    pub systems: Vec<PrintfSpec>,
    pub time_formats: Vec<String>,
    /// The format of each `strftime()`.
    pub strftime_formats: Vec<String>,
    /// The hierarchy filter of each `cgroup_path()` (`*` for all).
    pub cgroup_filters: Vec<String>,
    /// The separator of each `join()`.
    pub join_separators: Vec<String>,
    /// The type of each `print(value)`.
    pub print_values: Vec<Type>,
    /// `probe` values: index to the probe's name.
    pub probe_names: Vec<String>,
    /// `func` values in user probes: index to the function's name.
    pub func_names: Vec<String>,
    /// Where `ustack` and `kstack` values are kept.
    pub stack_maps: Vec<StackMap>,
    /// The unwind table `dw_ustack` walks stacks with.
    pub unwind: Option<Unwind>,
    /// The ring buffer all events go through.
    pub ringbuf: Option<MapId>,
    /// The pcap file and packet offset of each `skboutput()` call, by call
    /// id, and the perf buffer their packets come through.
    pub skb_outputs: Vec<(String, u64)>,
    pub skb_map: Option<MapId>,
    /// The internal array: slot `GLOBAL_LOST` counts events the ring buffer
    /// had no room for (and `GLOBAL_PROGRAM_LOST + i` those of program i);
    /// `GLOBAL_EXIT` notes `exit()`; user space writes its start time to
    /// `GLOBAL_START`.
    pub globals: Option<MapId>,
    /// Print every map with content at exit (the `print_maps_on_exit` config).
    pub print_maps_on_exit: bool,
    /// The places that can warn at run time.
    pub runtime_warnings: Vec<RuntimeWarning>,
    /// The program's enums (`enum E`) and their variants, to print values
    /// of enum types by name.
    pub enums: Vec<(String, Vec<(String, i64)>)>,
    /// What a string printed as text ends with where it was longer than
    /// its value holds (the `str_trunc_trailer` config, `..` by default).
    pub str_trunc_trailer: String,
    /// Demangling and debug info for frames (`cpp_demangle`,
    /// `show_debug_info`).
    pub symbols: bpfscope_probes::symbols::SymbolOptions,
    /// The `stack_mode` config: how stacks print unless the call says.
    pub stack_mode: StackMode,
}

impl Compiled {
    /// The formats of the calls that send events of this kind: `cat()`,
    /// `system()`, else `printf()` and its kin.
    pub fn format_table(&mut self, kind: EventKind) -> &mut Vec<PrintfSpec> {
        match kind {
            EventKind::Cat => &mut self.cats,
            EventKind::System => &mut self.systems,
            _ => &mut self.printfs,
        }
    }

    /// Gives each run-time warning its text: the message at its place in
    /// `source`, as compile-time diagnostics print; or none at all, with
    /// `silence` (`--no-warnings`). `warnf`/`errorf` learn their place.
    pub fn render_warnings(&mut self, source: &bpfscope_lang::Source, silence: bool) {
        for w in &mut self.runtime_warnings {
            w.location = source.location(w.span);
            w.text = match silence {
                true => String::new(),
                false => {
                    let mut d = bpfscope_lang::Diagnostic::warning(w.span, w.kind.message());
                    if let Some(helper) = w.kind.helper() {
                        let probe = source.slice(w.probe);
                        d = d.with_hint(format!("helper: {helper}, retcode: {RC_PLACEHOLDER}, in probe {probe}"));
                    }
                    d.render(source)
                }
            };
        }
        for p in &mut self.printfs {
            p.location = source.location(p.span);
            if silence && p.severity == PrintfSeverity::Warning {
                p.severity = PrintfSeverity::Silenced;
            }
        }
    }
}
