//! Code generation: one BPF program per attach point, straight from the
//! checked syntax tree (no intermediate representation, as in ply).

mod callbacks;
mod calls;
mod context;
mod expr;
mod frame;
mod maps;
mod stmt;
mod strings;
mod structs;
mod unwind;

pub use maps::{GLOBAL_EXIT, GLOBAL_LOST, GLOBAL_PROGRAM_LOST, GLOBAL_START};

use std::collections::HashMap;

use bpfscope_lang::ast::{CItem, Expr, ExprKind, Probe, StmtKind};
use bpfscope_lang::attach::{AttachPoint, Provider, Target, TimeUnit};
use bpfscope_lang::check::{AggKind, CheckedProgram, Type};
use bpfscope_lang::{Diagnostic, Diagnostics, Span};
use bpfscope_probes::{Detail, Resolved, Site};
use context::Context;

use crate::asm::{Asm, Label};
use crate::insn::{self, FP, Helper, Jmp, R0, R1, R2, R3, R9, Reg, Size};
use crate::layout::{self, is_aggregate, size_of};
use crate::program::*;
pub use frame::{Area, Frame, Loc, Place, RegPool, Val};

/// Settings that shape the generated code.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Print every map at exit.
    pub print_maps_on_exit: bool,
    /// Positional parameters (`$1` is `params[0]`).
    pub params: Vec<String>,
    /// Named parameters (`-- --name=value`), for `getopt()`.
    pub named_params: Vec<(String, Option<String>)>,
    /// How many entries a map holds unless declared otherwise.
    pub max_map_keys: u32,
    /// Bytes in the event ring buffer (a power of two, a multiple of pages).
    pub ringbuf_size: u32,
    /// Its size for programs whose probes send no stream of events (only
    /// BEGIN/END output, exit, map operations): enough for what BEGIN
    /// prints before the consumer starts, and little memory.
    pub quiet_ringbuf_size: u32,
    /// The number of possible CPUs (`ncpus`).
    pub ncpus: u64,
    /// The pid of `-c CMD` (`cpid`).
    pub cpid: Option<u32>,
    /// The process `dw_ustack` walks stacks of (`-p` or `-c`).
    pub unwind_pid: Option<u32>,
    /// Kernel structs' field offsets (from BTF).
    pub kernel_types: Option<bpfscope_lang::check::KernelTypes>,
    /// Loops run through `bpf_loop` (Linux 5.17), so the verifier checks
    /// their body once whatever the trip count; else they are inline.
    pub bpf_loop: bool,
    /// CLOCK_TAI less CLOCK_BOOTTIME, in nanoseconds (`nsecs(sw_tai)`).
    pub tai_offset_ns: i64,
    /// The device and inode of the tracer's pid namespace
    /// (`pid(curr_ns)`), where it could be read.
    pub pid_namespace: Option<(u64, u64)>,
    /// The kernel lets kprobes call `bpf_override_return` (`override()`).
    pub override_return: bool,
    /// The kernel lets probes call `bpf_probe_write_user` (`write_user()`).
    pub write_user: bool,
    /// Answers `kfunc_allowed()`: whether programs of a type may call a
    /// kfunc (the runtime asks the kernel); without it, none may.
    pub kfunc_allowed: Option<KfuncAllowed>,
    /// A scalar map (`@ts`) whose value tseries() takes as the time, as
    /// 0.26's `BPFTRACE_DUMMY_TS_MAP` test hook does: series made at known
    /// times.
    pub clock_map: Option<String>,
    /// `-k`: failed reads of traced memory and map reads of missing keys
    /// are reported at run time.
    pub read_warnings: bool,
}

/// A question for the kernel, asked while compiling: may a program of
/// this type call this kfunc?
#[derive(Clone)]
pub struct KfuncAllowed(pub std::rc::Rc<KfuncQuestion>);

/// The kernel's answer for a program type and a kfunc name.
pub type KfuncQuestion = dyn Fn(crate::program::ProgType, &str) -> bool;

impl std::fmt::Debug for KfuncAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KfuncAllowed")
    }
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            print_maps_on_exit: true,
            params: Vec::new(),
            named_params: Vec::new(),
            max_map_keys: 4096,
            ringbuf_size: 1 << 20,
            quiet_ringbuf_size: 1 << 20,
            ncpus: 1,
            cpid: None,
            unwind_pid: None,
            kernel_types: None,
            bpf_loop: true,
            tai_offset_ns: 0,
            pid_namespace: None,
            override_return: true,
            write_user: true,
            kfunc_allowed: None,
            clock_map: None,
            read_warnings: false,
        }
    }
}

type GResult<T> = Result<T, Diagnostic>;

/// Compiles a checked program for its resolved attach points (one program
/// per concrete attach point).
pub fn compile(
    checked: &CheckedProgram,
    resolved: &Resolved,
    options: &CompileOptions,
) -> Result<Compiled, Diagnostics> {
    let options = &with_config(checked, options);
    let mut b = Builder::new(checked, options);
    let mut diags = Vec::new();
    for (index, probe) in checked.program.probes.iter().enumerate() {
        let targets = resolved.probes.get(index).map(Vec::as_slice).unwrap_or_default();
        // uaddr() finds where the binary is loaded from the one site the
        // program is at.
        let one_site_each = checked.probe_calls(index, "uaddr");
        for group in program_groups(targets, one_site_each) {
            // One probe compiles once per group of attach points: report
            // each of its errors once.
            if let Err(d) = b.probe(index, probe, &group)
                && !diags.contains(&d)
            {
                diags.push(d);
            }
        }
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    if !streams_events(checked) {
        let quiet = options.quiet_ringbuf_size;
        if let Some(spec) = b.out.ringbuf.and_then(|m| b.out.maps.get_mut(m.0)) {
            spec.max_entries = quiet;
        }
    }
    Ok(b.out)
}

/// Whether a probe other than BEGIN/END prints (a stream of events that a
/// burst can make large, which the big event buffer is for).
fn streams_events(checked: &CheckedProgram) -> bool {
    const PRINTING: &[&str] = &["printf", "print", "time", "cat", "join", "system", "errorf", "warnf"];
    checked.program.probes.iter().enumerate().any(|(i, p)| {
        !p.attach_points.iter().all(|a| a.provider.is_special()) && PRINTING.iter().any(|f| checked.probe_calls(i, f))
    })
}

/// The options with the program's `config = { ... }` block applied.
fn with_config(checked: &CheckedProgram, options: &CompileOptions) -> CompileOptions {
    use bpfscope_lang::ast::ConfigValue;
    let mut o = options.clone();
    let Some(config) = &checked.program.config else { return o };
    for e in &config.entries {
        let key = e.key.to_ascii_lowercase();
        let key = key.strip_prefix("bpftrace_").unwrap_or(&key);
        match (key, &e.value) {
            ("print_maps_on_exit", v) => {
                o.print_maps_on_exit = matches!(v, ConfigValue::Bool(true) | ConfigValue::Int(1))
            }
            ("max_map_keys", ConfigValue::Int(n)) => o.max_map_keys = u32::try_from(*n).unwrap_or(u32::MAX).max(1),
            ("perf_rb_pages", ConfigValue::Int(n)) if *n > 0 => {
                // The ring buffer's size must be a power of two number of pages.
                let pages = u32::try_from(*n).unwrap_or(1).max(1).next_power_of_two();
                o.ringbuf_size = pages.saturating_mul(4096);
                o.quiet_ringbuf_size = o.ringbuf_size;
            }
            _ => {}
        }
    }
    o
}

/// Program-wide state: the maps and tables shared by all probes.
struct Builder<'a> {
    checked: &'a CheckedProgram,
    options: &'a CompileOptions,
    out: Compiled,
    /// User map name to its index in `out.user_maps`.
    user_maps: HashMap<String, usize>,
    enums: HashMap<String, i64>,
    /// The program's C struct definitions.
    ctypes: crate::ctypes::CTypes<'a>,
    globals: Option<MapId>,
    /// The callback `len()` counts with, made on first use.
    counting_callback: Option<SubprogId>,
    /// Where loops over maps hand the variables to their callbacks.
    loop_scratch: Option<MapId>,
    /// The program being generated ran out of stack with its byte values
    /// there: it is generated again with them in a scratch buffer.
    wants_scratch: bool,
}

/// The builder's state before a program, to go back to when the program
/// is generated again (see [`Builder::probe`]).
struct Checkpoint {
    out: Compiled,
    programs: usize,
    globals: Option<MapId>,
    counting_callback: Option<SubprogId>,
    loop_scratch: Option<MapId>,
}

impl<'a> Builder<'a> {
    fn new(checked: &'a CheckedProgram, options: &'a CompileOptions) -> Builder<'a> {
        use bpfscope_lang::ast::ConfigValue;
        // The checker lets only a string through.
        let trailer = match bpfscope_lang::check::config_value(&checked.program, "str_trunc_trailer") {
            Some(ConfigValue::Str(s) | ConfigValue::Ident(s)) => s,
            _ => String::new(),
        };
        let config_bool = |name: &str, default: bool| match bpfscope_lang::check::config_value(&checked.program, name) {
            Some(ConfigValue::Bool(b)) => b,
            Some(ConfigValue::Int(n)) => n != 0,
            _ => default,
        };
        let cache = !matches!(bpfscope_lang::check::config_value(&checked.program, "cache_user_symbols"),
            Some(ConfigValue::Str(s) | ConfigValue::Ident(s)) if s.eq_ignore_ascii_case("none"));
        let symbols = bpfscope_probes::symbols::SymbolOptions {
            demangle: config_bool("cpp_demangle", true),
            debug_info: config_bool("show_debug_info", true),
            cache,
            lazy: config_bool("lazy_symbolication", false),
            user_frames: false,
        };
        let stack_mode = match bpfscope_lang::check::config_value(&checked.program, "stack_mode") {
            Some(ConfigValue::Str(s) | ConfigValue::Ident(s)) => StackMode::from_name(&s).unwrap_or_default(),
            _ => StackMode::default(),
        };
        let mut out = Compiled {
            print_maps_on_exit: options.print_maps_on_exit,
            str_trunc_trailer: trailer,
            symbols,
            stack_mode,
            ..Compiled::default()
        };
        out.ringbuf = Some(push_map(
            &mut out,
            MapSpec {
                name: "AT_events".into(),
                kind: MapKind::RingBuf,
                key_size: 0,
                value_size: 0,
                max_entries: options.ringbuf_size,
            },
        ));
        let mut enums = HashMap::new();
        for item in &checked.program.c_items {
            if let CItem::Enum(e) = item {
                for v in &e.variants {
                    enums.insert(v.name.clone(), v.value);
                }
                let variants = e.variants.iter().map(|v| (v.name.clone(), v.value)).collect();
                out.enums.push((format!("enum {}", e.name), variants));
            }
        }
        let mut b = Builder {
            checked,
            options,
            out,
            user_maps: HashMap::new(),
            enums,
            ctypes: crate::ctypes::CTypes::new(&checked.program.c_items),
            globals: None,
            counting_callback: None,
            loop_scratch: None,
            wants_scratch: false,
        };
        b.declare_user_maps();
        b
    }

    /// Creates a kernel map for every map the program uses.
    fn declare_user_maps(&mut self) {
        let lhists = lhist_params(self.checked);
        let hist_bits = hist_params(self.checked);
        let tseries = tseries_params(self.checked, &self.options.params);
        let sizes: HashMap<&str, u64> =
            self.checked.program.map_decls.iter().map(|d| (d.name.as_str(), d.max_entries)).collect();
        for (name, info) in &self.checked.maps {
            let value = match &info.value {
                Type::Agg(AggKind::Count) => ValueKind::Count,
                Type::Agg(AggKind::Sum) => ValueKind::Sum,
                Type::Agg(AggKind::Min) => ValueKind::Min,
                Type::Agg(AggKind::Max) => ValueKind::Max,
                Type::Agg(AggKind::Avg) => ValueKind::Avg,
                Type::Agg(AggKind::Stats) => ValueKind::Stats,
                Type::Agg(AggKind::Hist) => ValueKind::Hist { k: hist_bits.get(name.as_str()).copied().unwrap_or(0) },
                Type::Agg(AggKind::Lhist) => {
                    let (min, max, step) = lhists.get(name.as_str()).copied().unwrap_or((0, 1, 1));
                    ValueKind::Lhist { min, max, step }
                }
                Type::Agg(AggKind::Tseries) => tseries.get(name.as_str()).cloned().unwrap_or(ValueKind::Tseries {
                    interval_ns: 1,
                    num_intervals: 1,
                    agg: TseriesAgg::Last,
                    signed: true,
                }),
                other => ValueKind::Plain(other.clone()),
            };
            let key_size = if value.has_bucket() {
                crate::layout::bucket_offset(info.key.as_ref()) + 8
            } else {
                info.key.as_ref().map_or(8, size_of).max(1)
            };
            let value_size = match &value {
                ValueKind::Plain(t) => layout::align8(size_of(t)).max(8),
                ValueKind::Min | ValueKind::Max | ValueKind::Avg | ValueKind::Stats => 16,
                ValueKind::Tseries { .. } => 24,
                _ => 8,
            };
            let max_entries =
                sizes.get(name.as_str()).map_or(self.options.max_map_keys, |n| u32::try_from(*n).unwrap_or(u32::MAX));
            let kind = if value.is_per_cpu() { MapKind::PercpuHash } else { MapKind::Hash };
            let kname: String = format!("AT_{name}").chars().take(15).collect();
            let map = push_map(&mut self.out, MapSpec { name: kname, kind, key_size, value_size, max_entries });
            self.user_maps.insert(name.clone(), self.out.user_maps.len());
            self.out.user_maps.push(UserMap { name: name.clone(), map, key: info.key.clone(), value });
        }
    }

    /// The internal array of counters and settings (lost events, start
    /// time), made on first use.
    fn globals_map(&mut self) -> MapId {
        if let Some(m) = self.globals {
            return m;
        }
        let m = push_map(
            &mut self.out,
            MapSpec { name: "AT_globals".into(), kind: MapKind::Array, key_size: 4, value_size: 8, max_entries: 2 },
        );
        self.out.globals = Some(m);
        self.globals = Some(m);
        m
    }

    /// The stack trace map for stacks of this kind and depth, made on first
    /// use: its index among the stack maps, and its id.
    fn stack_map(&mut self, user: bool, limit: u32, mode: StackMode) -> (usize, MapId) {
        if let Some(i) =
            self.out.stack_maps.iter().position(|s| s.user == user && s.limit == limit && s.mode == mode && !s.dwarf)
        {
            return (i, self.out.stack_maps[i].map);
        }
        let name = format!("AT_{}stack{limit}", if user { 'u' } else { 'k' });
        let map = push_map(
            &mut self.out,
            // A build-id frame is `struct bpf_stack_build_id`: 32 bytes.
            match mode {
                StackMode::BuildId => MapSpec {
                    name,
                    kind: MapKind::StackTraceBuildId,
                    key_size: 4,
                    value_size: 32 * limit,
                    max_entries: 4096,
                },
                _ => MapSpec { name, kind: MapKind::StackTrace, key_size: 4, value_size: 8 * limit, max_entries: 4096 },
            },
        );
        self.out.stack_maps.push(StackMap { map, limit, user, mode, dwarf: false });
        (self.out.stack_maps.len() - 1, map)
    }

    /// The perf buffer `skboutput()` sends packets through, made on first
    /// use (one per possible CPU).
    fn skb_map(&mut self) -> MapId {
        if let Some(m) = self.out.skb_map {
            return m;
        }
        let cpus = u32::try_from(self.options.ncpus).unwrap_or(u32::MAX).max(1);
        let map = push_map(
            &mut self.out,
            MapSpec {
                name: "AT_skb".into(),
                kind: MapKind::PerfEventArray,
                key_size: 4,
                value_size: 4,
                max_entries: cpus,
            },
        );
        self.out.skb_map = Some(map);
        map
    }

    /// The per-CPU buffer `join()` gathers its strings in, made on first use.
    fn join_buffer(&mut self) -> MapId {
        if let Some(i) = self.out.maps.iter().position(|m| m.name == "AT_join") {
            return MapId(i);
        }
        let value_size = 24 + crate::program::JOIN_ARGS * crate::program::JOIN_ARG_SIZE;
        push_map(
            &mut self.out,
            MapSpec { name: "AT_join".into(), kind: MapKind::PercpuArray, key_size: 4, value_size, max_entries: 1 },
        )
    }

    /// The per-CPU scratch array that carries variables into loop bodies,
    /// one entry per nesting level.
    fn loop_scratch_map(&mut self) -> MapId {
        if let Some(m) = self.loop_scratch {
            return m;
        }
        let m = push_map(
            &mut self.out,
            MapSpec {
                name: "AT_loopvars".into(),
                kind: MapKind::PercpuArray,
                key_size: 4,
                value_size: frame::STACK_LIMIT,
                max_entries: MAX_LOOP_NESTING,
            },
        );
        self.loop_scratch = Some(m);
        m
    }

    /// The index of a `probe` name.
    fn name_id(&mut self, name: String) -> u32 {
        self.out.probe_names.push(name);
        (self.out.probe_names.len() - 1) as u32
    }

    /// The index of a `func` name (one per distinct name).
    fn func_id(&mut self, name: &str) -> u32 {
        // As bpftrace prints `func` of a C++ or Rust function (cpp_demangle).
        let name = if self.out.symbols.demangle { bpfscope_probes::symbols::demangle(name) } else { name.into() };
        let names = &mut self.out.func_names;
        match names.iter().position(|n| *n == name) {
            Some(i) => i as u32,
            None => {
                names.push(name.to_string());
                (names.len() - 1) as u32
            }
        }
    }

    /// Generates the program for a group of attach points (see
    /// [`program_groups`]). Byte values live on the stack, unless they do
    /// not fit there: then the program is generated again with them in a
    /// per-CPU scratch buffer, which costs a map lookup when it starts.
    fn probe(&mut self, index: usize, probe: &'a Probe, group: &[&Site]) -> GResult<()> {
        let saved = self.checkpoint();
        self.wants_scratch = false;
        let on_stack = self.probe_in(index, probe, group, false);
        if !self.wants_scratch {
            return on_stack;
        }
        self.restore(saved);
        self.probe_in(index, probe, group, true)
    }

    fn checkpoint(&mut self) -> Checkpoint {
        // The programs so far stay as they are: only their count is kept.
        let programs = std::mem::take(&mut self.out.programs);
        let out = self.out.clone();
        self.out.programs = programs;
        Checkpoint {
            out,
            programs: self.out.programs.len(),
            globals: self.globals,
            counting_callback: self.counting_callback,
            loop_scratch: self.loop_scratch,
        }
    }

    fn restore(&mut self, saved: Checkpoint) {
        let mut programs = std::mem::take(&mut self.out.programs);
        programs.truncate(saved.programs);
        self.out = saved.out;
        self.out.programs = programs;
        self.globals = saved.globals;
        self.counting_callback = saved.counting_callback;
        self.loop_scratch = saved.loop_scratch;
    }

    /// [`Builder::probe`] with byte values in a scratch buffer or not.
    fn probe_in(&mut self, index: usize, probe: &'a Probe, group: &[&Site], scratch: bool) -> GResult<()> {
        let Some(first) = group.first() else { return Ok(()) };
        let ap = &first.attach;
        let mut cookies = Vec::with_capacity(group.len());
        for c in group {
            let probe_id = self.name_id(c.attach.canonical());
            let func_id = match &c.detail {
                Detail::Uprobe(site) => site.function.as_deref().map_or(0, |f| self.func_id(f)),
                Detail::Kprobe(site) => self.func_id(&site.function),
                Detail::Fentry(site) => {
                    let name = site.function.rsplit(':').next().unwrap_or(&site.function).to_string();
                    self.func_id(&name)
                }
                _ => 0,
            };
            cookies.push((probe_id, func_id));
        }
        let kind = match &first.detail {
            Detail::Uprobe(site) => ProgKind::Uprobe {
                binary: (*site.binary).clone(),
                ret: site.ret,
                sites: group
                    .iter()
                    .zip(&cookies)
                    .filter_map(|(c, &(p, f))| match &c.detail {
                        Detail::Uprobe(s) => {
                            Some(UprobeTarget { offset: s.offset, cookie: site_cookie(p, f), semaphore: None })
                        }
                        _ => None,
                    })
                    .collect(),
            },
            Detail::Fentry(site) => {
                ProgKind::Fentry { function: site.function.clone(), ret: site.ret, program: site.program }
            }
            Detail::Kprobe(first_site) => ProgKind::Kprobe {
                ret: first_site.ret,
                sites: group
                    .iter()
                    .zip(&cookies)
                    .filter_map(|(c, &(p, f))| match &c.detail {
                        Detail::Kprobe(s) => Some(KprobeTarget {
                            function: s.module.as_ref().map_or(s.function.clone(), |m| format!("{m}:{}", s.function)),
                            offset: s.offset,
                            cookie: site_cookie(p, f),
                        }),
                        _ => None,
                    })
                    .collect(),
            },
            Detail::Usdt(usdt) => ProgKind::Uprobe {
                binary: (*usdt.binary).clone(),
                ret: false,
                sites: vec![UprobeTarget {
                    offset: usdt.probe.offset,
                    cookie: site_cookie(cookies[0].0, cookies[0].1),
                    semaphore: usdt.probe.semaphore,
                }],
            },
            _ => prog_kind(ap)?,
        };
        let ids = match cookies[..] {
            [(probe, func)] => ProbeIds::Fixed { probe: i64::from(probe), func: i64::from(func) },
            _ => ProbeIds::Cookie { slot: 0 },
        };
        // One element, sized once the program is generated.
        let scratch = scratch.then(|| {
            push_map(
                &mut self.out,
                MapSpec {
                    name: "AT_scratch".into(),
                    kind: MapKind::PercpuArray,
                    key_size: 4,
                    value_size: 8,
                    max_entries: 1,
                },
            )
        });
        let context = Context::new(ap.provider, first.detail.clone());
        let mut g = Gen::new(self, index, context, ids, probe.span, scratch);
        g.prologue()?;
        if let ProbeIds::Cookie { .. } = g.ids {
            g.read_cookie()?;
        }
        g.declare_vars(index)?;
        if let Some(pred) = &probe.predicate {
            g.asm.set_span(pred.span);
            let skip = g.exit;
            g.cond_jump_false(pred, skip)?;
        }
        g.block_stmts(&probe.body)?;
        g.epilogue();
        g.check_stack_depth()?;
        let scratch_bytes = layout::align8(g.frame.scratch_peak()).max(8);
        let code = g.asm.finish().map_err(|e| Diagnostic::error(probe.span, e.to_string()))?;
        if let Some(m) = scratch {
            self.out.maps[m.0].value_size = scratch_bytes;
        }
        let name = program_name(&ap.canonical(), self.out.programs.len());
        self.out.programs.push(ProgSpec { name, kind, attach: ap.clone(), code });
        Ok(())
    }
}

/// Copies and zeroing of more bytes than this go through a helper call
/// rather than a load and store per 8 bytes.
const BULK: u32 = 128;

/// A frame's stack as the kernel counts it against the limit.
fn frame_depth(bytes: u32) -> u32 {
    bytes.max(1).div_ceil(32) * 32
}

/// The widest access of at most `left` bytes that is naturally aligned at
/// offset `at`.
fn aligned_width(at: i32, left: u32) -> (Size, u32) {
    [(Size::DW, 8u32), (Size::W, 4), (Size::H, 2)]
        .into_iter()
        .find(|&(_, w)| left >= w && at.rem_euclid(w as i32) == 0)
        .unwrap_or((Size::B, 1))
}

fn push_map(out: &mut Compiled, spec: MapSpec) -> MapId {
    out.maps.push(spec);
    MapId(out.maps.len() - 1)
}

/// Splits a probe's attach points into programs: uprobes of one kind on
/// one binary, and kprobes of one kind, share a program (attached at each
/// site with its own cookie); every other attach point has its own, as
/// has every site where the program must know which one it is at.
fn program_groups(targets: &[Site], one_site_each: bool) -> Vec<Vec<&Site>> {
    let mut groups: Vec<Vec<&Site>> = Vec::new();
    for t in targets {
        if one_site_each {
            groups.push(vec![t]);
            continue;
        }
        let same = |g: &&mut Vec<&Site>| match (&g[0].detail, &t.detail) {
            // Sites whose `args` differ read them differently.
            (Detail::Uprobe(a), Detail::Uprobe(b)) => a.binary == b.binary && a.ret == b.ret && a.params == b.params,
            (Detail::Kprobe(a), Detail::Kprobe(b)) => a.ret == b.ret,
            _ => false,
        };
        if let Some(g) = groups.iter_mut().find(same) {
            g.push(t);
            continue;
        }
        groups.push(vec![t]);
    }
    groups
}

/// An ELF symbol name for a probe: its name with other characters as `_`.
fn program_name(probe: &str, index: usize) -> String {
    let clean: String = probe.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(40).collect();
    format!("{clean}_{index}")
}

fn prog_kind(ap: &AttachPoint) -> GResult<ProgKind> {
    let period = |unit: TimeUnit, value: u64| -> u64 {
        match unit {
            TimeUnit::Nanos => value,
            TimeUnit::Micros => value.saturating_mul(1_000),
            TimeUnit::Millis => value.saturating_mul(1_000_000),
            TimeUnit::Secs => value.saturating_mul(1_000_000_000),
            TimeUnit::Hz => 1_000_000_000 / value.max(1),
        }
    };
    Ok(match (&ap.provider, &ap.target) {
        (Provider::Begin, _) => ProgKind::Begin,
        (Provider::End, _) => ProgKind::End,
        (Provider::SelfEvent, _) => ProgKind::Signal,
        (Provider::Bench, Target::Named(name)) => ProgKind::Bench { name: name.join(":") },
        (Provider::Iter, Target::Iter { object, pin: None }) => ProgKind::Iter { object: object.clone() },
        (Provider::Iter, Target::Iter { pin: Some(_), .. }) => {
            return Err(Diagnostic::error(ap.span, "pinning an iterator (iter:OBJECT:PIN) is not built yet")
                .with_hint("without the pin the iterator runs once and prints what it finds"));
        }
        (Provider::Interval, Target::Timer { unit, value }) => ProgKind::Interval { period_ns: period(*unit, *value) },
        (Provider::Profile, Target::Timer { unit, value }) => {
            ProgKind::Profile { hz: (*unit == TimeUnit::Hz).then_some(*value), period_ns: period(*unit, *value) }
        }
        (Provider::RawTracepoint, Target::Kernel { func, .. }) => ProgKind::RawTracepoint { name: func.clone() },
        (p @ (Provider::Software | Provider::Hardware), Target::PerfEvent { event, count }) => {
            let kind = bpfscope_lang::attach::perf_event_kind(*p, event)
                .ok_or_else(|| Diagnostic::error(ap.span, format!("Unknown {p} event '{event}'")))?;
            ProgKind::PerfEvent {
                hardware: *p == Provider::Hardware,
                config: kind.config,
                period: count.unwrap_or(kind.default_count).max(1),
            }
        }
        (Provider::Watchpoint, Target::Watchpoint { address, length, mode }) => {
            // perf's HW_BREAKPOINT_R (1), _W (2) and _X (4).
            let access = mode.chars().fold(0, |bits, c| {
                bits | match c {
                    'r' => 1,
                    'w' => 2,
                    _ => 4,
                }
            });
            ProgKind::Watchpoint { address: *address, length: *length, access }
        }
        (Provider::Tracepoint, Target::Tracepoint { category, event }) => {
            ProgKind::Tracepoint { category: category.clone(), event: event.clone() }
        }
        (p, _) => {
            return Err(Diagnostic::error(
                ap.span,
                format!("{p} probes are not supported by this version of bpfscope yet"),
            )
            .with_hint(
                "BEGIN, END, self:signal:SIGUSR1, bench, iter, interval, profile, software, watchpoint, hardware, tracepoint, rawtracepoint, kprobe, kretprobe, fentry, fexit, uprobe, uretprobe and usdt probes run today",
            ));
        }
    })
}

/// `hist(v, k)`'s `k` of each map, from its first use.
fn hist_params(checked: &CheckedProgram) -> HashMap<&str, u8> {
    let mut out = HashMap::new();
    let mut visit = |e: &Expr, target: &'_ str| {
        if let ExprKind::Call(c) = &e.kind
            && c.name == "hist"
            && let [_, Expr { kind: ExprKind::Int(k), .. }] = &c.args[..]
        {
            out.entry(target.to_string()).or_insert(u8::try_from(*k).unwrap_or(0).min(5));
        }
    };
    for_each_map_assignment(&checked.program.probes, &mut visit);
    checked.maps.keys().filter_map(|k| out.get(k).map(|v| (k.as_str(), *v))).collect()
}

/// `lhist(v, min, max, step)` parameters of each map, from its first use.
fn lhist_params(checked: &CheckedProgram) -> HashMap<&str, (i64, i64, i64)> {
    let mut out = HashMap::new();
    let mut visit = |e: &Expr, target: &'_ str| {
        if let ExprKind::Call(c) = &e.kind
            && c.name == "lhist"
            && let [_, a, b, s] = &c.args[..]
        {
            let lit = |e: &Expr| match &e.kind {
                ExprKind::Int(n) => i64::try_from(*n).ok(),
                _ => None,
            };
            if let (Some(a), Some(b), Some(s)) = (lit(a), lit(b), lit(s)) {
                out.entry(target.to_string()).or_insert((a, b, s));
            }
        }
    };
    for_each_map_assignment(&checked.program.probes, &mut visit);
    checked.maps.keys().filter_map(|k| out.get(k).map(|v| (k.as_str(), *v))).collect()
}

/// `tseries(v, interval, n[, agg])` parameters of each map, from its first
/// use (the checker refuses maps used with different ones).
fn tseries_params<'c>(checked: &'c CheckedProgram, params: &[String]) -> HashMap<&'c str, ValueKind> {
    let mut out = HashMap::new();
    let lit = |e: &Expr| bpfscope_lang::check::int_literal(e, params).and_then(|n| u64::try_from(n).ok());
    let mut visit = |e: &Expr, target: &'_ str| {
        if let ExprKind::Call(c) = &e.kind
            && c.name == "tseries"
            && let [v, interval, n, rest @ ..] = &c.args[..]
            && let (Some(interval_ns), Some(n)) = (lit(interval), lit(n))
        {
            let agg = match rest.first().map(|a| &a.kind) {
                Some(ExprKind::Str(s)) => {
                    TseriesAgg::from_name(&String::from_utf8_lossy(s)).unwrap_or(TseriesAgg::Last)
                }
                _ => TseriesAgg::Last,
            };
            let signed = !matches!(checked.type_of(v), Type::Int { signed: false, .. });
            out.entry(target.to_string()).or_insert(ValueKind::Tseries {
                interval_ns: interval_ns.max(1),
                num_intervals: n.max(1),
                agg,
                signed,
            });
        }
    };
    for_each_map_assignment(&checked.program.probes, &mut visit);
    checked.maps.keys().filter_map(|k| out.get(k).map(|v| (k.as_str(), v.clone()))).collect()
}

fn for_each_map_assignment<'p>(probes: &'p [Probe], f: &mut impl FnMut(&'p Expr, &'p str)) {
    fn block<'p>(b: &'p bpfscope_lang::ast::Block, f: &mut impl FnMut(&'p Expr, &'p str)) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Assign { target: Expr { kind: ExprKind::Map(m), .. }, value, .. } => f(value, &m.name),
                StmtKind::While { body, .. } | StmtKind::Unroll { body, .. } | StmtKind::For { body, .. } => {
                    block(body, f)
                }
                StmtKind::Expr(e) => expr(e, f),
                _ => {}
            }
        }
        if let Some(t) = &b.tail {
            expr(t, f);
        }
    }
    fn expr<'p>(e: &'p Expr, f: &mut impl FnMut(&'p Expr, &'p str)) {
        match &e.kind {
            ExprKind::Block(b) => block(b, f),
            ExprKind::If(i) => {
                block(&i.then, f);
                if let Some(o) = &i.otherwise {
                    expr(o, f);
                }
            }
            _ => {}
        }
    }
    for p in probes {
        block(&p.body, f);
    }
}

/// Loop targets for `break` and `continue`.
#[derive(Clone, Copy)]
struct LoopLabels {
    next: Label,
    end: Label,
}

/// The code generator for one attach point's program.
struct Gen<'a, 'b> {
    b: &'b mut Builder<'a>,
    asm: Asm,
    frame: Frame,
    regs: RegPool,
    /// Scratch variables: where they are and their type (scalars on the
    /// stack, byte values wherever byte values go).
    vars: HashMap<String, (Place, Type)>,
    loops: Vec<LoopLabels>,
    /// Where `return` (and a false predicate) goes.
    exit: Label,
    /// Where `probe` and `func` come from.
    ids: ProbeIds,
    /// What the program is given to read (see `context.rs`).
    context: Context,
    probe_span: Span,
    /// Bytes of the variables' region at the top of the frame (callbacks
    /// copy it in from their caller and back out).
    var_bytes: u32,
    /// A hidden variable a callback sets when the body ran `return`.
    return_flag: i16,
    /// How many loops over maps enclose the code being generated.
    loop_level: u32,
    /// The program's per-CPU scratch buffer, where its byte values live
    /// (its address in [`frame::SCRATCH_REG`]); `None`: on the stack.
    scratch: Option<MapId>,
    /// The most stack the callbacks this code calls take (with theirs),
    /// which the kernel counts with the caller's.
    callee_stack: u32,
}

/// The `probe` and `func` indexes of a program.
#[derive(Clone, Copy, Debug)]
enum ProbeIds {
    /// One attach point: constants.
    Fixed { probe: i64, func: i64 },
    /// Several: the attach cookie (see [`site_cookie`]), read once at entry
    /// into this stack slot, which loop callbacks receive with the variables.
    Cookie { slot: i16 },
}

/// How deeply loops over maps may nest.
const MAX_LOOP_NESTING: u32 = 8;

impl<'a, 'b> Gen<'a, 'b> {
    fn new(
        b: &'b mut Builder<'a>,
        _index: usize,
        context: Context,
        ids: ProbeIds,
        probe_span: Span,
        scratch: Option<MapId>,
    ) -> Gen<'a, 'b> {
        let mut asm = Asm::default();
        let exit = asm.new_label();
        Gen {
            b,
            asm,
            frame: Frame::new(scratch.is_some()),
            regs: RegPool::new(scratch.is_some()),
            vars: HashMap::new(),
            loops: Vec::new(),
            exit,
            ids,
            context,
            probe_span,
            var_bytes: 0,
            return_flag: 0,
            loop_level: 0,
            scratch,
            callee_stack: 0,
        }
    }

    fn prologue(&mut self) -> GResult<()> {
        self.asm.set_span(self.probe_span);
        self.context_prologue();
        self.scratch_base(0)
    }

    /// Points [`frame::SCRATCH_REG`] at this CPU's scratch buffer, in code
    /// that has one; `fail` is what the code returns in the case the
    /// lookup fails (it cannot: the array has its element).
    fn scratch_base(&mut self, fail: i32) -> GResult<()> {
        let Some(map) = self.scratch else { return Ok(()) };
        let mark = self.frame.mark();
        let key = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, key, 0));
        self.asm.load_map(R1, map);
        self.addr(R2, Place::stack(key));
        self.asm.emit(insn::call(Helper::MapLookupElem));
        let ok = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jne, R0, 0, ok);
        self.asm.emit(insn::mov_imm(R0, fail));
        self.asm.emit(insn::exit());
        self.asm.bind(ok);
        self.asm.emit(insn::mov_reg(frame::SCRATCH_REG, R0));
        self.frame.release_to(mark);
        Ok(())
    }

    /// Saves the attach cookie for `probe` and `func`.
    fn read_cookie(&mut self) -> GResult<()> {
        let slot = self.slot(8)?;
        self.asm.emit(insn::mov_reg(R1, R9));
        self.asm.emit(insn::call(insn::Helper::GetAttachCookie));
        self.asm.emit(insn::stx(Size::DW, FP, slot, R0));
        self.ids = ProbeIds::Cookie { slot };
        Ok(())
    }

    fn epilogue(&mut self) {
        self.asm.bind(self.exit);
        self.asm.set_span(self.probe_span);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.emit(insn::exit());
    }

    /// The kernel limits the stack of a program and the callbacks it calls
    /// together, each frame rounded up to 32 bytes.
    fn check_stack_depth(&mut self) -> GResult<()> {
        let depth = frame_depth(self.frame.stack_peak()) + self.callee_stack;
        if depth <= frame::STACK_LIMIT {
            return Ok(());
        }
        Err(self.out_of_memory(false))
    }

    /// Gives every scratch variable of the probe its place, zeroed:
    /// scalars on the stack (where the verifier follows their values, as
    /// loops need), byte values where byte values go.
    fn declare_vars(&mut self, index: usize) -> GResult<()> {
        self.return_flag = self.slot(8)?;
        self.zero(Place::stack(self.return_flag), 8);
        let vars: Vec<(String, Type)> =
            self.b.checked.probe_vars(index).map(|(n, t)| (n.to_string(), t.clone())).collect();
        for (name, ty) in vars {
            let (place, size) = if is_aggregate(&ty) {
                (self.alloc(size_of(&ty))?, size_of(&ty))
            } else {
                (Place::stack(self.slot(8)?), 8)
            };
            self.zero(place, size);
            self.vars.insert(name, (place, ty));
        }
        self.var_bytes = self.frame.stack_used();
        Ok(())
    }

    fn ty(&self, e: &Expr) -> Type {
        self.b.checked.type_of(e).clone()
    }

    /// Space for a byte value, for the current statement (or for good,
    /// before any): in the scratch buffer if the program has one, else on
    /// the stack.
    fn alloc(&mut self, size: u32) -> GResult<Place> {
        match self.frame.alloc_mem(size) {
            Some(p) => Ok(p),
            None => Err(self.out_of_memory(self.frame.has_scratch())),
        }
    }

    /// A stack slot, for the current statement: scalars, and the keys and
    /// pointers helpers need on the stack.
    fn slot(&mut self, size: u32) -> GResult<i16> {
        match self.frame.alloc_stack(size) {
            Some(off) => Ok(off),
            None => Err(self.out_of_memory(false)),
        }
    }

    /// The error where the stack (or the scratch buffer) is full. A
    /// program with its byte values on the stack is generated again with
    /// them in a scratch buffer, so users see this only where that too
    /// runs out.
    fn out_of_memory(&mut self, scratch: bool) -> Diagnostic {
        if !self.frame.has_scratch() {
            self.b.wants_scratch = true;
        }
        let span = self.asm.span();
        if scratch {
            return Diagnostic::error(
                span,
                format!(
                    "this needs more than the {} bytes of scratch memory a probe has for strings, tuples and other values",
                    frame::SCRATCH_LIMIT
                ),
            )
            .with_hint(
                "use fewer or shorter strings at once (a smaller max_strlen, as in config = { max_strlen = 256 }), or split the work over several probes",
            );
        }
        Diagnostic::error(
            span,
            format!("this needs more than the {} bytes of stack a BPF program has", frame::STACK_LIMIT),
        )
        .with_hint("split the expression into statements that keep parts in variables, or the work over several probes")
    }

    fn unsupported(&self, span: Span, what: &str) -> Diagnostic {
        Diagnostic::error(span, format!("{what} is not supported by the compiler yet"))
    }

    // ---- scalar temporaries ------------------------------------------------

    /// A new place for a scalar: a free register, else a stack slot.
    fn temp(&mut self) -> GResult<Loc> {
        match self.regs.take() {
            Some(r) => Ok(Loc::Reg(r)),
            None => match self.frame.alloc_spill() {
                Some(off) => Ok(Loc::At(Place::stack(off))),
                None => Ok(Loc::At(Place::stack(self.slot(8)?))),
            },
        }
    }

    /// Moves `r` into a new scalar temporary.
    fn keep(&mut self, r: Reg) -> GResult<Val> {
        let loc = self.temp()?;
        self.store_loc(loc, r);
        Ok(Val::Scalar(loc))
    }

    fn store_loc(&mut self, loc: Loc, r: Reg) {
        match loc {
            Loc::Reg(t) => {
                if t != r {
                    self.asm.emit(insn::mov_reg(t, r));
                }
            }
            Loc::At(p) => self.st(Size::DW, p, r),
        }
    }

    /// Loads a scalar value into `r` (the address, for bytes in memory).
    fn load(&mut self, v: Val, r: Reg) {
        match v {
            Val::Imm(n) => self.load_imm(r, n),
            Val::Scalar(Loc::Reg(t)) => {
                if t != r {
                    self.asm.emit(insn::mov_reg(r, t));
                }
            }
            Val::Scalar(Loc::At(p)) => self.ld(Size::DW, r, p),
            Val::Mem(p) => self.addr(r, p),
            Val::Nothing => self.asm.emit(insn::mov_imm(r, 0)),
        }
    }

    fn load_imm(&mut self, r: Reg, n: i64) {
        match i32::try_from(n) {
            Ok(small) => self.asm.emit(insn::mov_imm(r, small)),
            Err(_) => self.asm.emit_all(insn::ld_imm64(r, n)),
        }
    }

    /// The register an area's offsets are from.
    fn base(&self, area: Area) -> Reg {
        match area {
            Area::Stack => FP,
            Area::Scratch => frame::SCRATCH_REG,
        }
    }

    /// `r = &p`
    fn addr(&mut self, r: Reg, p: Place) {
        self.asm.emit(insn::mov_reg(r, self.base(p.area)));
        self.asm.emit(insn::alu_imm(insn::Alu::Add, r, i32::from(p.off)));
    }

    /// `dst = *(size *)&p`
    fn ld(&mut self, size: Size, dst: Reg, p: Place) {
        self.asm.emit(insn::ldx(size, dst, self.base(p.area), p.off));
    }

    /// `*(size *)&p = src`
    fn st(&mut self, size: Size, p: Place, src: Reg) {
        self.asm.emit(insn::stx(size, self.base(p.area), p.off, src));
    }

    /// `*(size *)&p = imm`
    fn st_imm(&mut self, size: Size, p: Place, imm: i32) {
        self.asm.emit(insn::st_imm(size, self.base(p.area), p.off, imm));
    }

    /// Lets go of a value's register.
    fn free(&mut self, v: Val) {
        match v {
            Val::Scalar(Loc::Reg(r)) => self.regs.give(r),
            Val::Scalar(Loc::At(Place { area: Area::Stack, off })) => self.frame.free_spill(off),
            _ => {}
        }
    }

    // ---- memory -----------------------------------------------------------

    /// Zeroes `size` bytes at `p`. Clobbers r0-r5 when `size` is over
    /// [`BULK`].
    fn zero(&mut self, p: Place, size: u32) {
        if size > BULK {
            // bpf_probe_read_kernel(p, size, NULL): reading address 0 fails,
            // and a failed read zeroes its destination; a few instructions
            // whatever the size, where stores take one per 8 bytes.
            self.addr(R1, p);
            self.asm.emit(insn::mov_imm(R2, size as i32));
            self.asm.emit(insn::mov_imm(R3, 0));
            self.asm.emit(insn::call(Helper::ProbeReadKernel));
            return;
        }
        let mut done = 0u32;
        while done < size {
            // The verifier refuses misaligned stack stores.
            let (step, width) = aligned_width(i32::from(p.off) + done as i32, size - done);
            self.st_imm(step, p.at(done), 0);
            done += width;
        }
    }

    /// Copies `size` bytes from `src + src_off` to `dst` through `R1` (any
    /// register may be the source, r1 excepted); over [`BULK`] bytes,
    /// through bpf_probe_read_kernel, which clobbers r0-r5.
    fn copy_from(&mut self, src: Reg, src_off: i16, dst: Place, size: u32) {
        if size > BULK {
            self.asm.emit(insn::mov_reg(R3, src));
            if src_off != 0 {
                self.asm.emit(insn::alu_imm(insn::Alu::Add, R3, i32::from(src_off)));
            }
            self.addr(R1, dst);
            self.asm.emit(insn::mov_imm(R2, size as i32));
            self.asm.emit(insn::call(Helper::ProbeReadKernel));
            return;
        }
        let mut done = 0u32;
        while done < size {
            // Naturally aligned loads and stores: a tracepoint's record and
            // the stack refuse others.
            let (from, to) = (i32::from(src_off) + done as i32, i32::from(dst.off) + done as i32);
            let (a, b) = (aligned_width(from, size - done), aligned_width(to, size - done));
            let (sz, width) = if a.1 <= b.1 { a } else { b };
            self.asm.emit(insn::ldx(sz, R1, src, src_off + done as i16));
            self.st(sz, dst.at(done), R1);
            done += width;
        }
    }

    /// Copies `size` bytes from one place to another (see [`Gen::copy_from`]).
    fn copy_mem(&mut self, src: Place, dst: Place, size: u32) {
        self.copy_from(self.base(src.area), src.off, dst, size);
    }

    /// Stores a value of type `t` at `dst`, using `size` bytes there
    /// (strings shorter than the slot are zero-padded).
    fn store_val(&mut self, v: Val, t: &Type, dst: Place, size: u32) {
        match v {
            Val::Mem(src) => {
                let n = size_of(t).min(size);
                self.copy_mem(src, dst, n);
                if n < size {
                    self.zero(dst.at(n), size - n);
                }
            }
            other => {
                self.load(other, R0);
                self.st(Size::DW, dst, R0);
            }
        }
    }

    /// Stores a value of type `vt` at `dst` as a value of type `dt`:
    /// tuples and records whose fields differ in size (a shorter string
    /// than the variable held before) are laid out field by field.
    fn store_typed(&mut self, v: Val, vt: &Type, dst: Place, dt: &Type) {
        fn fields(t: &Type) -> Option<Vec<Type>> {
            match t {
                Type::Tuple(items) => Some(items.clone()),
                Type::Record(fields) => Some(fields.iter().map(|(_, t)| t.clone()).collect()),
                _ => None,
            }
        }
        if let (Some(from), Some(to), Val::Mem(base)) = (fields(vt), fields(dt), v)
            && from.len() == to.len()
            && from != to
        {
            let places = layout::field_offsets(&from).into_iter().zip(layout::field_offsets(&to));
            for ((ft, tt), (fo, to_off)) in from.iter().zip(&to).zip(places) {
                let at = base.at(fo);
                let field = if is_aggregate(ft) { Val::Mem(at) } else { Val::Scalar(Loc::At(at)) };
                self.store_typed(field, ft, dst.at(to_off), tt);
            }
            return;
        }
        let size = if is_aggregate(dt) { size_of(dt) } else { 8 };
        self.store_val(v, vt, dst, size);
    }

    /// Writes bytes known at compile time to `p`, zero-padded to `size`.
    fn store_bytes(&mut self, p: Place, bytes: &[u8], size: u32) {
        let total = layout::align8(size.max(bytes.len() as u32));
        let written = layout::align8(bytes.len() as u32);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            let v = i64::from_le_bytes(w);
            let at = p.at(8 * i as u32);
            match i32::try_from(v) {
                Ok(small) => self.st_imm(Size::DW, at, small),
                Err(_) => {
                    self.asm.emit_all(insn::ld_imm64(R0, v));
                    self.st(Size::DW, at, R0);
                }
            }
        }
        if written < total {
            self.zero(p.at(written), total - written);
        }
    }
}
