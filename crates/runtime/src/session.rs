//! One run of a program: load, BEGIN, attach, print events until `exit()`
//! or a signal, detach, END, then print the maps.

use std::io::Write;
use std::time::Duration;

use bpfscope_compiler::{
    Compiled, EventKind, GLOBAL_EXIT, GLOBAL_LOST, GLOBAL_PROGRAM_LOST, GLOBAL_START, PrintfSeverity, ProgKind,
};

use crate::data::{FromValue, MapValue, Value};
use libbpf_rs::{MapCore, MapFlags, ProgramInput};

use crate::attach::{self, Attached, Features, Plan};
use crate::child::Child;
use crate::load::{self, Loaded};
use crate::output::value::{Resolver, Symbolizer, read_u64, to_text};
use crate::output::{json, maps, printf};
use crate::ringbuf::RingReader;
use crate::{RunError, signals};

/// How a run behaves.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Do not print `Attached N probes`.
    pub quiet: bool,
    /// Say which kernel mechanisms are used.
    pub verbose: bool,
    /// Trace only this process (uprobes), and end when it does.
    pub pid: Option<u32>,
    /// The mechanisms the run may use.
    pub features: Features,
    /// When output reaches its destination.
    pub buffering: Buffering,
    /// Write bpftrace 0.26's JSON lines (`-f json`) instead of text.
    pub json: bool,
    /// Draw the maps keyed by stacks as a flame graph here at the end.
    pub flamegraph: Option<std::path::PathBuf>,
    /// `--bench`: after BEGIN, time each `bench:` probe and end, attaching
    /// nothing; without it, `bench:` probes do not run.
    pub bench: bool,
    /// `--user-probes`: the uprobes of the command (`-c`) or process
    /// (`-p`) run in it (see [`crate::user`]), with this agent library.
    pub user_probes: Option<crate::inject::AgentLibrary>,
}

/// When output is flushed (`-B`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Buffering {
    /// After every write.
    None,
    /// After every event (each ends its lines).
    #[default]
    Line,
    /// When the buffer fills, and after each batch of events (so nothing
    /// waits longer than one poll, 100 ms): the consumer keeps up with the
    /// highest event rates.
    Full,
}

impl std::str::FromStr for Buffering {
    type Err = String;
    fn from_str(s: &str) -> Result<Buffering, String> {
        match s {
            "none" => Ok(Buffering::None),
            "line" => Ok(Buffering::Line),
            "full" => Ok(Buffering::Full),
            _ => Err("-B must be either 'line', 'full', or 'none'".into()),
        }
    }
}

/// Runs a compiled program to its end; returns the exit code (`exit(n)`).
/// With `child`, uprobes see only that process, which starts once the
/// probes are attached; the run ends when it exits.
pub fn run(
    compiled: Compiled,
    options: &RunOptions,
    mut child: Option<&mut Child>,
    out: &mut dyn Write,
) -> Result<i32, RunError> {
    let only = options.pid.or(child.as_ref().map(|c| c.pid()));
    // dw_ustack's tables cover the libraries the command loads before its
    // entry point, where it waits while the probes attach; watchpoints see
    // its own accesses, not the kernel's as it loads the program.
    let watches = compiled.programs.iter().any(|p| matches!(p.kind, ProgKind::Watchpoint { .. }));
    if (compiled.unwind.is_some() || watches)
        && let Some(c) = child.as_deref_mut()
        && !c.run_to_entry()
    {
        eprintln!(
            "bpfscope: warning: -c: ptrace is not allowed here, so the command cannot wait at its entry point \
             while the probes attach: it runs before they are attached"
        );
    }
    let benches = compiled.programs.iter().filter(|p| matches!(p.kind, ProgKind::Bench { .. })).count();
    if benches > 0 && benches == compiled.programs.len() && !options.bench {
        return Err(RunError::BenchOnly);
    }
    let mut session = Session::load(compiled, &RunOptions { pid: only, ..options.clone() })?;
    // The agent's programs are not attached in the kernel by `start`.
    let mut region_path = None;
    if options.user_probes.is_some() {
        match child.as_deref() {
            Some(c) => session.use_agent(c)?,
            None => {
                let (user, path) = crate::user::UserProbes::for_process(&session.compiled)?;
                session.user = Some(user);
                region_path = Some(path);
            }
        }
    }
    // A child ends the run by exiting, not by being gone from the start.
    session.end_with_process = options.pid.is_some();
    // Printing needs the text only: no decoding of arguments per event.
    session.decode_args = false;
    signals::install();
    session.start()?;
    if let (Some(agent), Some(pid), Some(path)) = (&options.user_probes, options.pid, &region_path) {
        session.inject_agent(pid, agent, path, options.verbose)?;
    }
    let read_ahead = session.compiled.symbols.read_ahead();
    // A running process's mappings, read before the run says it is
    // attached (and the process's calls are awaited).
    if let Some(pid) = options.pid
        && read_ahead
    {
        session.symbols.prepare(pid);
    }
    if options.bench {
        // BEGIN's output first; the benchmarks' own is dropped.
        let mut printer = Printer { out: &mut *out, buffering: options.buffering, json: options.json, lost: 0 };
        session.poll(Duration::ZERO, &mut |e| printer.event(e))?;
        session.run_benches(&mut |names, index, result| {
            let text = if options.json {
                crate::output::bench::json_line(result)
            } else {
                crate::output::bench::text_row(names, index, result).into_bytes()
            };
            printer.out.write_all(&text)?;
            printer.out.flush()
        })?;
    } else if !options.quiet {
        // bpftrace 0.26: once attached, on stderr (in JSON, a message).
        let n = session.compiled.probe_names.len() - benches;
        if options.json {
            use crate::output::json::{Field, fields};
            let n = n as i128;
            out.write_all(&fields(&[
                ("type", Field::Str("attached_probes")),
                ("count", Field::Int(n)),
                ("data", Field::Object("probes", n)),
            ]))?;
            out.flush()?;
        } else {
            eprintln!("Attached {n} probe{}", if n == 1 { "" } else { "s" });
        }
    }
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        eprintln!("__BPFTRACE_NOTIFY_PROBES_ATTACHED");
    }
    if let Some(c) = child.as_deref_mut() {
        c.start(|pid| {
            if read_ahead {
                session.symbols.prepare(pid);
            }
        });
        if session.user.is_some() {
            session.start_user(c, options.verbose)?;
        }
    }
    let mut printer = Printer { out, buffering: options.buffering, json: options.json, lost: 0 };
    // Benchmarks are the whole run: it ends once they have.
    while !options.bench && session.poll(Duration::from_millis(100), &mut |e| printer.event(e))? {
        printer.drained()?;
        if child.as_deref_mut().is_some_and(Child::exited) {
            break;
        }
    }
    let code = session.finish(&mut |e| printer.event(e))?;
    let lost = printer.lost;
    session.print_all_maps(out)?;
    out.flush()?;
    if let Some(path) = &options.flamegraph {
        let samples = crate::output::flamegraph::write_svg(path, "Flame Graph", &session.folded_stacks())?;
        if !options.quiet {
            eprintln!("Wrote a flame graph of {samples} samples to {}", path.display());
        }
    }
    if lost > 0 && !options.quiet {
        let by_probe: Vec<String> = session.lost_by_probe().iter().map(|(p, n)| format!("{n} from {p}")).collect();
        let by_probe = if by_probe.is_empty() { String::new() } else { format!(" ({})", by_probe.join(", ")) };
        eprintln!("bpfscope: warning: Total lost event count: {lost}{by_probe}");
    }
    if let Some((reentered, slotless, returns)) = session.user.as_ref().map(crate::user::UserProbes::skipped) {
        // Hits without their program: as loud as lost events.
        for (n, why) in [
            (reentered, "came while the thread was already in a probe"),
            (slotless, "came from threads beyond the 64 the agent counts apart"),
            (returns, "had their return missed (more than 256 calls deep)"),
        ] {
            if n > 0 {
                eprintln!("bpfscope: warning: --user-probes: {n} hits {why}, and ran no program");
            }
        }
    }
    Ok(code)
}

/// Writes a run's events as they come: output text to `out` (flushed per
/// event or per batch, as `-B` says), warnings and losses to stderr (in
/// JSON, losses are messages on `out` too).
struct Printer<'o> {
    out: &'o mut dyn Write,
    buffering: Buffering,
    json: bool,
    lost: u64,
}

impl Printer<'_> {
    fn event(&mut self, e: EventRef<'_>) -> std::io::Result<()> {
        match e {
            EventRef::Lost { count, probes } if self.json => {
                self.lost += count;
                self.out.write_all(&json::lost_events(count, probes))?;
            }
            EventRef::Message(_) | EventRef::Lost { .. } => {
                self.out.flush()?;
                if let EventRef::Lost { count, .. } = e {
                    self.lost += count;
                }
                return std::io::stderr().write_all(&e.text());
            }
            EventRef::Printf { text, .. } | EventRef::Text(text) => self.out.write_all(text)?,
        }
        if self.buffering == Buffering::Full { Ok(()) } else { self.out.flush() }
    }

    /// The end of a batch of events: what is buffered goes out.
    fn drained(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// What a running program sends to user space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A `printf()`: which call it came from (0 for the program's first
    /// `printf`, in source order), the formatted text, and the arguments.
    Printf { format: usize, text: Vec<u8>, args: Vec<Value> },
    /// Text from `time()`, `join()`, `print()` or `cat()`.
    Text(Vec<u8>),
    /// The kernel dropped this many events since the last report.
    Lost(u64),
    /// Text for stderr: a check the program made at run time failed
    /// (division by zero), or `errorf()`/`warnf()`; with its place in the
    /// program.
    Message(String),
}

/// An event as a run hands it over: borrowed from the event buffer or the
/// session's scratch space, valid during the call that receives it (no
/// allocation per event). [`EventRef::to_owned`] keeps one.
#[derive(Clone, Copy, Debug)]
pub enum EventRef<'a> {
    /// See [`Event::Printf`]; `args` is empty where the run does not
    /// decode them (printing needs the text only).
    Printf {
        format: usize,
        text: &'a [u8],
        args: &'a [Value],
    },
    Text(&'a [u8]),
    /// Events lost since the last report, in all and by probe (where the
    /// probe is known).
    Lost {
        count: u64,
        probes: &'a [(String, u64)],
    },
    Message(&'a str),
}

impl EventRef<'_> {
    pub fn to_owned(&self) -> Event {
        match *self {
            EventRef::Printf { format, text, args } => {
                Event::Printf { format, text: text.to_vec(), args: args.to_vec() }
            }
            EventRef::Text(t) => Event::Text(t.to_vec()),
            EventRef::Lost { count, .. } => Event::Lost(count),
            EventRef::Message(m) => Event::Message(m.to_string()),
        }
    }

    /// The event as bpftrace prints it.
    pub fn text(&self) -> std::borrow::Cow<'_, [u8]> {
        match *self {
            EventRef::Printf { text, .. } | EventRef::Text(text) => text.into(),
            EventRef::Lost { count, .. } => format!("Lost {count} events\n").into_bytes().into(),
            EventRef::Message(text) => text.as_bytes().into(),
        }
    }
}

impl Event {
    pub fn as_ref(&self) -> EventRef<'_> {
        match self {
            Event::Printf { format, text, args } => EventRef::Printf { format: *format, text, args },
            Event::Text(t) => EventRef::Text(t),
            Event::Lost(n) => EventRef::Lost { count: *n, probes: &[] },
            Event::Message(m) => EventRef::Message(m),
        }
    }

    /// A `printf` event's arguments as Rust types: `(u32, String)` for
    /// `printf("%d %s", pid, comm)`. `None` for other events, or if the
    /// types do not fit.
    pub fn args_as<T: FromValue>(&self) -> Option<T> {
        match self {
            Event::Printf { args, .. } => T::from_value(&Value::Tuple(args.clone())),
            _ => None,
        }
    }

    /// The event as bpftrace prints it.
    pub fn text(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.as_ref() {
            EventRef::Printf { text, .. } | EventRef::Text(text) => text.to_vec().into(),
            other => other.text().into_owned().into(),
        }
    }
}

/// Where a run hands its events.
pub type OnEvent<'f> = dyn FnMut(EventRef<'_>) -> std::io::Result<()> + 'f;

/// What takes each benchmark's result: every benchmark's name, the index
/// of the one done, its result.
pub type BenchReport<'f> = dyn FnMut(&[String], usize, &crate::output::bench::BenchResult) -> std::io::Result<()> + 'f;

/// A program loaded into the kernel, then running: polled for events,
/// its maps readable at any time, finished by `finish` (or by dropping it,
/// which detaches without running END).
pub struct Session {
    compiled: Compiled,
    plan: Plan,
    object: libbpf_rs::Object,
    maps: Vec<libbpf_rs::MapHandle>,
    /// The event buffer, read in place (taken while its records are handled).
    ring: Option<RingReader>,
    /// Where a printf event's text is formatted, reused from one to the next.
    scratch: Vec<u8>,
    /// `skboutput()`'s packets, where the program has such calls.
    skb: Option<crate::skb::SkbOutput>,
    attached: Option<Attached>,
    /// The run ends when this process does.
    end_with_process: bool,
    /// `printf` events carry their arguments as values (not needed when
    /// only their text is printed).
    decode_args: bool,
    pid: Option<u32>,
    /// `exit()` was called: later events are dropped until END.
    finalizing: bool,
    /// Events render as JSON lines (`-f json`).
    json: bool,
    /// `--bench`: nothing attaches; the benchmarks run.
    bench: bool,
    /// How often each `-k` warning came (by warning id).
    warned: std::collections::BTreeMap<usize, u64>,
    exit_code: i32,
    lost: u64,
    /// Each program's losses so far (by index in the compiled programs).
    lost_by_program: Vec<u64>,
    symbols: Symbolizer,
    /// `--user-probes`: the agent's side.
    user: Option<crate::user::UserProbes>,
}

impl Session {
    /// Loads the programs and maps into the kernel; nothing runs yet.
    pub fn load(mut compiled: Compiled, options: &RunOptions) -> Result<Session, RunError> {
        // First: without them, nothing else (the kernel's features, a
        // process's unwind tables) says why the run cannot go on.
        if let Some(refusal) = crate::privileges::check() {
            return Err(RunError::Privileges(refusal));
        }
        let plan = Plan::new(&compiled, &options.features, options.pid, options.verbose);
        plan.check(&compiled)?;
        let unwind = crate::unwind::prepare(&mut compiled)?;
        let Loaded { object, maps } = load::load(&compiled, |spec| plan.section(spec))?;
        if let Some(table) = &unwind {
            crate::unwind::fill(table, &maps)?;
        }
        let ring = {
            use std::os::fd::AsFd;
            let rb = compiled.ringbuf.map(|m| &maps[m.0]).ok_or(crate::LoadError::NoEventBuffer)?;
            RingReader::new(rb.as_fd(), rb.max_entries()).map_err(crate::LoadError::EventBuffer)?
        };
        let skb = match compiled.skb_map {
            Some(m) => Some(crate::skb::SkbOutput::open(&maps[m.0], &compiled.skb_outputs)?),
            None => None,
        };
        let symbols = Symbolizer::new(compiled.symbols);
        Ok(Session {
            compiled,
            plan,
            object,
            maps,
            ring: Some(ring),
            scratch: Vec::with_capacity(4096),
            skb,
            attached: None,
            end_with_process: options.pid.is_some(),
            decode_args: true,
            pid: options.pid,
            finalizing: false,
            json: options.json,
            bench: options.bench,
            warned: Default::default(),
            exit_code: 0,
            lost: 0,
            lost_by_program: Vec::new(),
            symbols,
            user: None,
        })
    }

    /// How many probes the program attaches.
    pub fn probe_count(&self) -> usize {
        self.compiled.probe_names.len()
    }

    /// Runs BEGIN, then attaches every probe (none under `--bench`, whose
    /// run is the benchmarks).
    pub fn start(&mut self) -> Result<(), RunError> {
        self.set_start_time();
        self.run_special(&ProgKind::Begin)?;
        if !self.bench {
            self.attached = Some(self.attach()?);
        }
        Ok(())
    }

    /// Times each `bench:` program, in program order, as 0.26 does: test
    /// runs of growing repeat counts until one takes a millisecond in all;
    /// the kernel's average time of a run in that one is the result. What
    /// the programs print is dropped. `report` gets every benchmark's
    /// name, the index of the one done and its result.
    pub fn run_benches(&mut self, report: &mut BenchReport<'_>) -> Result<(), RunError> {
        let benches: Vec<(String, String, String)> = self
            .compiled
            .programs
            .iter()
            .filter_map(|p| match &p.kind {
                ProgKind::Bench { name } => Some((p.name.clone(), name.clone(), p.attach.canonical())),
                _ => None,
            })
            .collect();
        let names: Vec<String> = benches.iter().map(|(_, name, _)| name.clone()).collect();
        for (index, (program, name, probe)) in benches.into_iter().enumerate() {
            let Some(prog) = self.program(&program) else { continue };
            let (average, iterations) =
                time_runs(&prog).map_err(|e| RunError::Attach { probe, source: crate::AttachError::TestRun(e) })?;
            self.drain(&mut |_| Ok(()))?;
            report(&names, index, &crate::output::bench::BenchResult { name, average, iterations })?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for events and hands each to `on_event`.
    /// Returns whether the run goes on: false once the program called
    /// `exit()`, a SIGINT or SIGTERM arrived (after `signals::install`),
    /// or the traced process (`pid`) is gone.
    pub fn poll(&mut self, timeout: Duration, on_event: &mut OnEvent<'_>) -> Result<bool, RunError> {
        if self.finalizing || signals::stop_requested() {
            return Ok(false);
        }
        if let Some(ring) = &self.ring {
            ring.wait(timeout)?;
        }
        if signals::usr1_received() {
            self.run_special(&ProgKind::Signal)?;
        }
        self.drain(on_event)?;
        self.write_packets(on_event)?;
        self.report_lost(on_event)?;
        self.check_exit(on_event)?;
        // The traced process's mappings, kept while it runs, so that its
        // frames print by name after it exits (as the maps do).
        if let Some(pid) = self.pid
            && self.compiled.symbols.read_ahead()
        {
            self.symbols.refresh(pid, Duration::from_millis(100));
        }
        let gone = self.end_with_process && self.pid.is_some_and(|pid| !process_alive(pid));
        Ok(!self.finalizing && !signals::stop_requested() && !gone)
    }

    /// Detaches, delivers what arrived before (unless `exit()` came
    /// first), runs END and delivers its events. Returns the exit code the
    /// program asked for. The maps stay readable.
    pub fn finish(&mut self, on_event: &mut OnEvent<'_>) -> Result<i32, RunError> {
        drop(self.attached.take());
        if let Some(user) = &self.user {
            user.detach();
        }
        if signals::usr1_received() {
            self.run_special(&ProgKind::Signal)?;
        }
        self.drain(on_event)?;
        self.write_packets(on_event)?;
        self.finalizing = false;
        self.run_special(&ProgKind::End)?;
        self.drain(on_event)?;
        self.report_lost(on_event)?;
        // JSON has no message for repeats (0.26 has no such message).
        for (&id, &n) in self.warned.iter().filter(|_| !self.json) {
            let place = self.compiled.runtime_warnings.get(id).and_then(|w| w.text.split(": warning: ").next());
            if let (true, Some(place)) = (n > 1, place) {
                on_event(EventRef::Message(&format!("{place}: warning: the warning above came {n} times in all\n")))?;
            }
        }
        Ok(self.exit_code)
    }

    /// Writes `skboutput()`'s packets to their files; the ones the perf
    /// buffer had no room for count as lost events.
    fn write_packets(&mut self, on_event: &mut OnEvent<'_>) -> Result<(), RunError> {
        if let Some(skb) = &mut self.skb {
            let lost = skb.consume()?;
            if lost > 0 {
                on_event(EventRef::Lost { count: lost, probes: &[] })?;
            }
        }
        Ok(())
    }

    /// A map by name (`"@name"`, `"name"`, or `"@"`), if the program has it.
    pub fn map(&self, name: &str) -> Option<MapRef<'_>> {
        let name = name.strip_prefix('@').unwrap_or(name);
        let map = self.compiled.user_maps.iter().find(|m| m.name == name)?;
        Some(MapRef {
            map,
            handle: self.source(map.map),
            resolver: Resolver::of(&self.compiled, &self.maps, &self.symbols).with_user(self.user.as_ref()),
        })
    }

    /// The maps keyed by stacks, as folded stacks for a flame graph.
    pub fn folded_stacks(&self) -> Vec<crate::output::flamegraph::Folded> {
        let r = Resolver::of(&self.compiled, &self.maps, &self.symbols).with_user(self.user.as_ref());
        self.compiled.user_maps.iter().flat_map(|um| maps::folded(um, &self.source(um.map), &r)).collect()
    }

    /// The names of the program's maps, with their `@`.
    pub fn map_names(&self) -> Vec<String> {
        self.compiled.user_maps.iter().map(|m| format!("@{}", m.name)).collect()
    }

    /// A map's entries: the kernel's, and the agent's (`--user-probes`).
    fn source(&self, id: bpfscope_compiler::MapId) -> maps::Source<'_> {
        maps::Source { kernel: &self.maps[id.0], user: self.user.as_ref().and_then(|u| u.map(id)) }
    }

    /// `--user-probes`: writes the region the command's agent maps.
    fn use_agent(&mut self, child: &Child) -> Result<(), RunError> {
        use std::os::fd::AsFd;
        let user = crate::user::UserProbes::for_child(&self.compiled, child)?;
        if let (Some(ring), Some(fds)) = (self.ring.as_mut(), child.agent()) {
            ring.wake_on(fds.eventfd.as_fd())?;
        }
        self.user = Some(user);
        Ok(())
    }

    /// Once the command exec'd and its agent patched what it could:
    /// kernel uprobes for the sites it could not (said under -v), the
    /// start time copied, and the probes and the command go.
    fn start_user(&mut self, child: &mut Child, verbose: bool) -> Result<(), RunError> {
        let Some(user) = self.user.take() else { return Ok(()) };
        let fallbacks = user.wait_for_agent(child);
        let result = self.attach_fallbacks(&user, &fallbacks, verbose);
        user.go();
        self.user = Some(user);
        result
    }

    /// `--user-probes -p`: loads the agent into the process (every thread
    /// stopped meanwhile); once it reports, the kernel takes the sites it
    /// refused and the probes go.
    fn inject_agent(
        &mut self,
        pid: u32,
        agent: &crate::inject::AgentLibrary,
        path: &str,
        verbose: bool,
    ) -> Result<(), RunError> {
        let Some(user) = self.user.take() else { return Ok(()) };
        let mut result = Ok(());
        let mut done = false;
        let injected = crate::inject::inject(pid, agent, path, &mut |ips| user.set_stopped(ips), &mut || {
            if !done && user.reported() {
                done = true;
                result = self.attach_fallbacks(&user, &user.fallbacks(""), verbose);
                user.go();
            }
        });
        if let Err(e) = injected {
            // The process goes on untraced by us; say why.
            user.detach();
            return Err(RunError::UserProbes(format!("--user-probes: {e}")));
        }
        self.user = Some(user);
        result
    }

    /// Attaches kernel uprobes at the sites the agent did not take (said
    /// under -v, with where each one is).
    fn attach_fallbacks(
        &mut self,
        user: &crate::user::UserProbes,
        fallbacks: &[crate::user::Fallback],
        verbose: bool,
    ) -> Result<(), RunError> {
        let mut attached = self.attached.take().unwrap_or_default();
        let mut result = Ok(());
        let mut programs: Vec<usize> = fallbacks.iter().map(|f| f.program).collect();
        programs.dedup();
        for pi in programs {
            let mut spec = self.compiled.programs[pi].clone();
            if let ProgKind::Uprobe { sites, .. } = &mut spec.kind {
                let keep: Vec<usize> = fallbacks.iter().filter(|f| f.program == pi).map(|f| f.site).collect();
                *sites = sites.iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, s)| s.clone()).collect();
            }
            let Some(prog) = self.object.progs_mut().find(|p| p.name().to_str() == Some(spec.name.as_str())) else {
                continue;
            };
            if let Err(e) = attach::attach(&prog, &spec, &self.plan, &mut attached) {
                result = Err(e);
                break;
            }
        }
        self.attached = Some(attached);
        if verbose {
            // A site's cookie names its probe (see site_cookie).
            let probe =
                |cookie: u64| self.compiled.probe_names.get(cookie as u32 as usize).cloned().unwrap_or_default();
            for (cookie, addr) in user.patched() {
                eprintln!("{}: user-space probe at {addr:#x}", probe(cookie));
            }
            for f in fallbacks {
                let site = match &self.compiled.programs[f.program].kind {
                    ProgKind::Uprobe { sites, .. } => sites.get(f.site),
                    _ => None,
                };
                let (offset, cookie) = site.map_or((0, 0), |s| (s.offset, s.cookie));
                eprintln!("{}: kernel uprobe at file offset {offset:#x} instead: {}", probe(cookie), f.why);
            }
        }
        if let Some(g) = self.compiled.globals
            && let Ok(Some(v)) = self.maps[g.0].lookup(&(GLOBAL_START as u32).to_le_bytes(), MapFlags::ANY)
        {
            user.set_global(g, GLOBAL_START as u32, read_u64(&v));
        }
        result
    }

    /// `elapsed` counts from here (CLOCK_BOOTTIME, as the kernel side reads).
    fn set_start_time(&self) {
        let Some(g) = self.compiled.globals else { return };
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        let ns = (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64);
        let _ = self.maps[g.0].update(&(GLOBAL_START as u32).to_le_bytes(), &ns.to_le_bytes(), MapFlags::ANY);
    }

    fn program(&mut self, name: &str) -> Option<libbpf_rs::ProgramMut<'_>> {
        self.object.progs_mut().find(|p| p.name().to_str() == Some(name))
    }

    /// Runs every BEGIN (or END) program once, in order.
    fn run_special(&mut self, which: &ProgKind) -> Result<(), RunError> {
        let names: Vec<(String, String)> = self
            .compiled
            .programs
            .iter()
            .filter(|p| &p.kind == which)
            .map(|p| (p.name.clone(), p.attach.canonical()))
            .collect();
        for (name, probe) in names {
            let Some(prog) = self.program(&name) else { continue };
            let mut ctx = [0u8; 64];
            prog.test_run(ProgramInput { context_in: Some(&mut ctx), ..Default::default() })
                .map_err(|e| RunError::Attach { probe, source: crate::AttachError::TestRun(e) })?;
        }
        Ok(())
    }

    /// Attaches every program; on failure, what was attached is detached
    /// (and its tracefs events removed) as the error returns.
    fn attach(&mut self) -> Result<Attached, RunError> {
        let mut attached = Attached::default();
        for (i, spec) in self.compiled.programs.iter().enumerate() {
            // The agent runs these (their fallbacks attach later).
            if self.user.as_ref().is_some_and(|u| u.programs.contains(&i)) {
                continue;
            }
            let Some(prog) = self.object.progs_mut().find(|p| p.name().to_str() == Some(spec.name.as_str())) else {
                continue;
            };
            attach::attach(&prog, spec, &self.plan, &mut attached)?;
            if signals::stop_requested() {
                break;
            }
        }
        Ok(attached)
    }

    /// Hands over the records the event buffer holds, each where it lies.
    fn drain(&mut self, on_event: &mut OnEvent<'_>) -> Result<(), RunError> {
        if let Some(ring) = self.ring.take() {
            let result = self.deliver_all(&ring, on_event);
            self.ring = Some(ring);
            result?;
        }
        // The agent's events (they come on their own ring).
        if let Some(user) = self.user.take() {
            let result = user.ring().map_or(Ok(()), |ring| self.deliver_all(ring, on_event));
            self.user = Some(user);
            result?;
        }
        Ok(())
    }

    /// Hands over every record `ring` holds (none after exit(): dropped
    /// until END).
    fn deliver_all(&mut self, ring: &RingReader, on_event: &mut OnEvent<'_>) -> std::io::Result<()> {
        let mut result = Ok(());
        ring.consume(|record| {
            if self.finalizing {
                return true;
            }
            result = self.deliver(record, on_event);
            result.is_ok()
        });
        result
    }

    /// Hands one record over: printf's text formatted into the scratch
    /// buffer (the common case, with no allocation), others decoded.
    fn deliver(&mut self, data: &[u8], on_event: &mut OnEvent<'_>) -> std::io::Result<()> {
        if !self.json && !self.decode_args {
            let r = Resolver::of(&self.compiled, &self.maps, &self.symbols).with_user(self.user.as_ref());
            self.scratch.clear();
            if let Some(format) = printf::format_record(&self.compiled, &r, data, &mut self.scratch) {
                return on_event(EventRef::Printf { format, text: &self.scratch, args: &[] });
            }
        }
        if EventKind::from_u64(read_u64(data)) == Some(EventKind::PrintMap) {
            return self.print_map(data, on_event);
        }
        match self.event(data) {
            Some(e) => on_event(e.as_ref()),
            None => Ok(()),
        }
    }

    /// Decodes one record of the event buffer; acts on those that are
    /// orders (exit, clear) rather than output.
    fn event(&mut self, data: &[u8]) -> Option<Event> {
        let word = |i: usize| read_u64(data.get(i * 8..).unwrap_or(&[]));
        let r = Resolver::of(&self.compiled, &self.maps, &self.symbols).with_user(self.user.as_ref());
        match EventKind::from_u64(word(0))? {
            kind @ (EventKind::Printf | EventKind::Cat | EventKind::System) => {
                let table = match kind {
                    EventKind::Cat => &self.compiled.cats,
                    EventKind::System => &self.compiled.systems,
                    _ => &self.compiled.printfs,
                };
                let spec = table.get(word(1) as usize)?;
                let args: Vec<(&bpfscope_lang::check::Type, &[u8])> =
                    spec.args.iter().map(|(t, off)| (t, printf::arg_bytes(data, t, *off))).collect();
                let text = printf::format(&spec.pieces, &args, &r);
                if kind == EventKind::Cat {
                    return Some(self.text_event("cat", cat(&String::from_utf8_lossy(&text))));
                }
                if kind == EventKind::System {
                    return Some(self.text_event("syscall", system(&String::from_utf8_lossy(&text))));
                }
                let values = if self.decode_args {
                    args.iter().map(|(t, bytes)| Value::decode(t, bytes, &r)).collect()
                } else {
                    Vec::new()
                };
                if spec.severity == PrintfSeverity::Silenced {
                    return None;
                }
                if let Some(label) = spec.severity.label() {
                    let text = String::from_utf8_lossy(&text);
                    if self.json {
                        return Some(Event::Text(json_located(label, &text, &spec.location)));
                    }
                    return Some(Event::Message(format!("{}: {label}: {text}\n", spec.location)));
                }
                if self.json {
                    let text = json::message("printf", &String::from_utf8_lossy(&text).as_ref());
                    return Some(Event::Printf { format: word(1) as usize, text, args: values });
                }
                Some(Event::Printf { format: word(1) as usize, text, args: values })
            }
            EventKind::Join => {
                let mut text = self.join(data, word(1) as usize, word(2) as usize);
                if self.json {
                    // 0.26's join message has no newline.
                    text.pop();
                }
                Some(self.text_event("join", text))
            }
            EventKind::Exit => {
                self.exit_code = word(1) as i32;
                self.finalizing = true;
                None
            }
            // Written as it is made, by print_map (see drain).
            EventKind::PrintMap => None,
            kind @ (EventKind::ClearMap | EventKind::ZeroMap) => {
                let um = self.compiled.user_maps.get(word(1) as usize)?;
                maps::clear(um, &self.source(um.map), kind == EventKind::ZeroMap);
                None
            }
            EventKind::Time => {
                let fmt = self.compiled.time_formats.get(word(1) as usize).map_or("%H:%M:%S\n", String::as_str);
                Some(self.text_event("time", crate::output::local_time(fmt).into_bytes()))
            }
            EventKind::RuntimeWarning => {
                let id = word(1) as usize;
                let w = self.compiled.runtime_warnings.get(id)?;
                if w.text.is_empty() {
                    return None;
                }
                // -k's warnings: once per place, the rest counted.
                if w.kind.helper().is_some() {
                    let seen = self.warned.entry(id).or_insert(0);
                    *seen += 1;
                    if *seen > 1 {
                        return None;
                    }
                }
                let rc = word(2) as i64;
                let rc = if w.kind == bpfscope_compiler::RuntimeWarningKind::LookupMissing { 0 } else { rc };
                let errno = strerror(rc);
                if self.json {
                    return Some(Event::Text(json_runtime_error(w, rc)));
                }
                Some(Event::Message(
                    w.text
                        .replace(bpfscope_compiler::ERRNO_PLACEHOLDER, &errno)
                        .replace(bpfscope_compiler::RC_PLACEHOLDER, &rc.to_string()),
                ))
            }
            EventKind::PrintValue => {
                let t = self.compiled.print_values.get(word(1) as usize)?;
                let bytes = data.get(16..).unwrap_or(&[]);
                if self.json {
                    return Some(Event::Text(json::message("value", &json::Json(&Value::decode(t, bytes, &r)))));
                }
                Some(Event::Text(format!("{}\n", to_text(t, bytes, &r)).into_bytes()))
            }
        }
    }

    /// `print(@map, top, div)`: the listing goes out as it is made, in
    /// events of up to `MapEvents::CHUNK` bytes (a small map is one event),
    /// so a map of millions of entries is never held whole as text.
    fn print_map(&self, data: &[u8], on_event: &mut OnEvent<'_>) -> std::io::Result<()> {
        let word = |i: usize| read_u64(data.get(i * 8..).unwrap_or(&[]));
        let Some(um) = self.compiled.user_maps.get(word(1) as usize) else { return Ok(()) };
        let r = Resolver::of(&self.compiled, &self.maps, &self.symbols).with_user(self.user.as_ref());
        let mut out = MapEvents { text: Vec::new(), on_event };
        let handle = &self.source(um.map);
        if self.json {
            maps::write_map_json(&mut out, um, handle, word(2), word(3), &r)?;
        } else {
            maps::write_map_text(&mut out, um, handle, word(2), word(3), &r)?;
        }
        out.flush()?;
        Ok(())
    }

    /// Text output of a kind (`time`, `cat`, `join`, `syscall`): as it is,
    /// or in JSON, a message of that type.
    fn text_event(&self, kind: &str, text: Vec<u8>) -> Event {
        if self.json {
            Event::Text(json::message(kind, &String::from_utf8_lossy(&text).as_ref()))
        } else {
            Event::Text(text)
        }
    }

    /// `join()`: the strings up to the first empty one, separated, on a
    /// line (as bpftrace prints them).
    fn join(&self, data: &[u8], id: usize, count: usize) -> Vec<u8> {
        use bpfscope_compiler::JOIN_ARG_SIZE;
        let sep = self.compiled.join_separators.get(id).map_or(" ", String::as_str);
        let strings: Vec<String> = (0..count)
            .map_while(|i| {
                let start = 24 + i * JOIN_ARG_SIZE as usize;
                let s = crate::output::value::c_string(data.get(start..start + JOIN_ARG_SIZE as usize)?);
                (!s.is_empty()).then(|| String::from_utf8_lossy(s).into_owned())
            })
            .collect();
        format!("{}\n", strings.join(sep)).into_bytes()
    }

    /// Reports `Lost N events` when the kernel counted drops since last time.
    fn report_lost(&mut self, on_event: &mut OnEvent<'_>) -> Result<(), RunError> {
        let Some(g) = self.compiled.globals else { return Ok(()) };
        let Ok(Some(v)) = self.maps[g.0].lookup(&(GLOBAL_LOST as u32).to_le_bytes(), MapFlags::ANY) else {
            return Ok(());
        };
        let total = read_u64(&v) + self.user.as_ref().map_or(0, |u| u.global(g, GLOBAL_LOST as u32));
        if total <= self.lost {
            return Ok(());
        }
        let count = total - self.lost;
        self.lost = total;
        // Which probes they came from: each program's own counter.
        let mut probes: Vec<(String, u64)> = Vec::new();
        for (i, p) in self.compiled.programs.iter().enumerate() {
            let slot = (GLOBAL_PROGRAM_LOST as u32).saturating_add(i as u32);
            let Ok(Some(v)) = self.maps[g.0].lookup(&slot.to_le_bytes(), MapFlags::ANY) else { continue };
            let seen = self.lost_by_program.get(i).copied().unwrap_or(0);
            let now = read_u64(&v) + self.user.as_ref().map_or(0, |u| u.global(g, slot));
            if now > seen {
                self.lost_by_program.resize(self.lost_by_program.len().max(i + 1), 0);
                self.lost_by_program[i] = now;
                let probe = p.attach.canonical();
                match probes.iter_mut().find(|(name, _)| *name == probe) {
                    Some((_, n)) => *n += now - seen,
                    None => probes.push((probe, now - seen)),
                }
            }
        }
        on_event(EventRef::Lost { count, probes: &probes })?;
        Ok(())
    }

    /// An `exit()` whose event a full buffer lost still ends the run: the
    /// program notes the call in its globals too.
    fn check_exit(&mut self, on_event: &mut OnEvent<'_>) -> Result<(), RunError> {
        let Some(g) = self.compiled.globals else { return Ok(()) };
        if self.finalizing {
            return Ok(());
        }
        let Ok(Some(v)) = self.maps[g.0].lookup(&(GLOBAL_EXIT as u32).to_le_bytes(), MapFlags::ANY) else {
            return Ok(());
        };
        let mut noted = read_u64(&v);
        if noted >> 32 == 0
            && let Some(user) = &self.user
        {
            noted = user.global(g, GLOBAL_EXIT as u32);
        }
        if noted >> 32 == 0 {
            return Ok(());
        }
        // Its event, if it was written, is handled in order with the rest.
        self.drain(on_event)?;
        if !self.finalizing {
            self.finalizing = true;
            self.exit_code = noted as u32 as i32;
        }
        Ok(())
    }

    /// Every event lost so far, by the probe that sent it.
    pub fn lost_by_probe(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        for (p, &n) in self.compiled.programs.iter().zip(&self.lost_by_program).filter(|(_, n)| **n > 0) {
            let probe = p.attach.canonical();
            match out.iter_mut().find(|(name, _)| *name == probe) {
                Some((_, total)) => *total += n,
                None => out.push((probe, n)),
            }
        }
        out
    }

    /// At exit: two blank lines, then every map by name (in JSON, a
    /// message per map that has entries).
    pub fn print_all_maps(&self, out: &mut dyn Write) -> Result<(), RunError> {
        if !self.json {
            write!(out, "\n\n")?;
        }
        if !self.compiled.print_maps_on_exit {
            return Ok(());
        }
        let r = Resolver::of(&self.compiled, &self.maps, &self.symbols).with_user(self.user.as_ref());
        let mut order: Vec<&bpfscope_compiler::UserMap> = self.compiled.user_maps.iter().collect();
        order.sort_by(|a, b| a.name.cmp(&b.name));
        for um in order {
            let handle = &self.source(um.map);
            if self.json {
                maps::write_map_json(out, um, handle, 0, 1, &r)?;
            } else {
                maps::write_map_text(out, um, handle, 0, 0, &r)?;
            }
        }
        Ok(())
    }
}

/// One of a running program's maps.
pub struct MapRef<'s> {
    map: &'s bpfscope_compiler::UserMap,
    handle: maps::Source<'s>,
    resolver: Resolver<'s>,
}

impl MapRef<'_> {
    /// What the map's values are (`count()`, `hist()`, assigned values...).
    pub fn value_kind(&self) -> &bpfscope_compiler::ValueKind {
        &self.map.value
    }

    /// How many values a key has: 0 without keys, a tuple's length, else 1.
    pub fn key_arity(&self) -> usize {
        match &self.map.key {
            None => 0,
            Some(bpfscope_lang::check::Type::Tuple(items)) => items.len(),
            Some(_) => 1,
        }
    }

    /// Every entry, in key order; the key is `None` in a map without keys.
    pub fn entries(&self) -> Vec<(Option<Value>, MapValue)> {
        maps::entries(self.map, &self.handle, &self.resolver)
    }

    /// Every entry as Rust types, or `None` if one does not convert.
    pub fn entries_as<K: FromValue, V: FromValue>(&self) -> Option<Vec<(K, V)>> {
        self.entries().iter().map(|(k, v)| Some((K::from_value(k.as_ref()?)?, V::from_map_value(v)?))).collect()
    }

    /// The map as `print(@map)` prints it.
    pub fn text(&self) -> String {
        maps::map_text(self.map, &self.handle, 0, 0, &self.resolver)
    }

    /// Deletes every entry, as `clear(@map)`.
    pub fn clear(&self) {
        maps::clear(self.map, &self.handle, false);
    }
}

/// `print(@map)`'s output as text events: each holds at least `CHUNK`
/// bytes, and what is left goes out on `flush`, so that the consumer
/// (which may flush its output after every event) sees few, large writes.
struct MapEvents<'a, 'f> {
    text: Vec<u8>,
    on_event: &'a mut OnEvent<'f>,
}

impl MapEvents<'_, '_> {
    const CHUNK: usize = 1 << 16;

    fn send(&mut self) -> std::io::Result<()> {
        if self.text.is_empty() {
            return Ok(());
        }
        (self.on_event)(EventRef::Text(&self.text))?;
        self.text.clear();
        Ok(())
    }
}

impl Write for MapEvents<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        if self.text.len() >= Self::CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Runs an XDP program in test runs of growing repeat counts (1, then
/// times 1000, 100, 10 or 2 as the last run was shorter than 1 us, 10 us,
/// 100 us or 1 ms in all: 0.26's steps) until one takes a millisecond;
/// returns that run's average time and repeat count.
fn time_runs(prog: &libbpf_rs::ProgramMut<'_>) -> Result<(Duration, u64), libbpf_rs::Error> {
    // XDP's test runs need a packet at least an Ethernet header long.
    let packet = [0u8; 14];
    let mut repeat: u32 = 1;
    loop {
        let input = ProgramInput { data_in: Some(&packet), repeat, ..Default::default() };
        let output = prog.test_run(input)?;
        let total = output.duration.saturating_mul(repeat);
        let factor = match total {
            t if t < Duration::from_micros(1) => 1000,
            t if t < Duration::from_micros(10) => 100,
            t if t < Duration::from_micros(100) => 10,
            t if t < Duration::from_millis(1) => 2,
            _ => return Ok((output.duration, u64::from(repeat))),
        };
        match repeat.checked_mul(factor) {
            Some(r) => repeat = r,
            None => return Ok((output.duration, u64::from(repeat))),
        }
    }
}

/// `cat()`: the file's first `MAX_CAT_BYTES` bytes, or (on stderr) why it
/// cannot be read.
fn cat(path: &str) -> Vec<u8> {
    const MAX_CAT_BYTES: u64 = 10240;
    let read = std::fs::File::open(path).and_then(|f| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_CAT_BYTES), &mut buf)?;
        Ok(buf)
    });
    read.unwrap_or_else(|e| {
        eprintln!("cat: cannot read '{path}': {e}");
        Vec::new()
    })
}

/// `system()`: runs the command with `sh -c`, as bpftrace does, and
/// gives what it wrote on stdout (its stderr goes to ours).
fn system(command: &str) -> Vec<u8> {
    match std::process::Command::new("/bin/sh").args(["-c", command]).stderr(std::process::Stdio::inherit()).output() {
        Ok(o) => o.stdout,
        Err(e) => {
            eprintln!("system: cannot run '{command}': {e}");
            Vec::new()
        }
    }
}

/// Whether a process still runs (a zombie counts as gone).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// `errorf`/`warnf` in JSON: the message and where the call is
/// (`stdin:1:9-30` gives file `stdin`, line 1, column 9).
fn json_located(label: &str, text: &str, location: &str) -> Vec<u8> {
    use crate::output::json::{Field, fields};
    let (file, line, col) = split_location(location);
    let kind = if label == "ERROR" { "errorf" } else { "warnf" };
    fields(&[
        ("type", Field::Str(kind)),
        ("msg", Field::Str(text)),
        ("filename", Field::Str(file)),
        ("line", Field::Int(line)),
        ("col", Field::Int(col)),
    ])
}

/// A helper's error code as C's strerror words it (`-14`: "Bad address").
fn strerror(rc: i64) -> String {
    let text = std::io::Error::from_raw_os_error(i32::try_from(-rc).unwrap_or(0)).to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
}

/// A run-time error in JSON, as 0.26 writes it: a `helper_error` with the
/// helper's name and error code, or a `runtime_error` with the message;
/// both with where in the program it happened.
fn json_runtime_error(w: &bpfscope_compiler::RuntimeWarning, rc: i64) -> Vec<u8> {
    use crate::output::json::{Field, fields};
    let (file, line, col) = split_location(&w.location);
    let helper = w.kind.helper().map(|h| (h, rc)).or(w.kind.json_helper());
    let msg = match helper {
        Some((_, rc)) => strerror(rc),
        None => w.kind.message(),
    };
    let mut all = match helper {
        Some((h, rc)) => vec![
            ("type", Field::Str("helper_error")),
            ("msg", Field::Str(&msg)),
            ("helper", Field::Str(h)),
            ("retcode", Field::Int(rc.into())),
        ],
        None => vec![("type", Field::Str("runtime_error")), ("msg", Field::Str(&msg))],
    };
    all.extend([("filename", Field::Str(file)), ("line", Field::Int(line)), ("col", Field::Int(col))]);
    fields(&all)
}

/// `stdin:1:9-30` as file `stdin`, line 1, column 9.
fn split_location(location: &str) -> (&str, i128, i128) {
    let mut parts = location.rsplitn(3, ':');
    let col = parts.next().and_then(|c| c.split('-').next()?.parse().ok()).unwrap_or(0);
    let line = parts.next().and_then(|l| l.split('-').next()?.parse().ok()).unwrap_or(0);
    (parts.next().unwrap_or(""), line, col)
}
