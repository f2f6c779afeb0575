//! One run of a program: load, BEGIN, attach, print events until `exit()`
//! or a signal, detach, END, then print the maps.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use bpfscope_compiler::layout::{align8, size_of};
use bpfscope_compiler::{Compiled, EventKind, GLOBAL_LOST, GLOBAL_START, ProgKind};
use libbpf_rs::{MapCore, MapFlags, ProgramInput, RingBufferBuilder};

use crate::attach::{self, Attached, Features, Plan};
use crate::child::Child;
use crate::load::{self, Loaded};
use crate::output::value::{Resolver, read_u64, to_text};
use crate::output::{maps, printf};
use crate::{RunError, signals};

/// How a run behaves.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Do not print `Attaching N probes...`.
    pub quiet: bool,
    /// Say which kernel mechanisms are used.
    pub verbose: bool,
    /// Trace only this process (uprobes), and end when it does.
    pub pid: Option<u32>,
    /// The mechanisms the run may use.
    pub features: Features,
}

/// Runs a compiled program to its end; returns the exit code (`exit(n)`).
/// With `child`, uprobes see only that process, which starts once the
/// probes are attached; the run ends when it exits.
pub fn run(
    compiled: &Compiled,
    options: &RunOptions,
    mut child: Option<&mut Child>,
    out: &mut dyn Write,
) -> Result<i32, RunError> {
    let only = options.pid.or(child.as_ref().map(|c| c.pid()));
    let plan = Plan::new(compiled, &options.features, only, options.verbose);
    plan.check(compiled)?;
    let Loaded { mut object, maps } = load::load(compiled, |spec| plan.section(spec))?;
    let mut session =
        Session { compiled, object: &mut object, maps: &maps, out, finalizing: false, exit_code: 0, lost: 0 };
    session.set_start_time();
    let queue: Rc<RefCell<VecDeque<Vec<u8>>>> = Rc::default();
    let ringbuf = {
        let q = Rc::clone(&queue);
        let rb = compiled.ringbuf.map(|m| &maps[m.0]).ok_or_else(|| RunError::Load("no event buffer".into()))?;
        let mut b = RingBufferBuilder::new();
        b.add(rb, move |data: &[u8]| {
            q.borrow_mut().push_back(data.to_vec());
            0
        })
        .map_err(|e| RunError::Load(format!("cannot read the event buffer: {e}")))?;
        b.build().map_err(|e| RunError::Load(format!("cannot read the event buffer: {e}")))?
    };
    signals::install();
    if !options.quiet {
        let n = compiled.probe_names.len();
        writeln!(session.out, "Attaching {n} probe{}...", if n == 1 { "" } else { "s" })?;
        session.out.flush()?;
    }
    session.run_special(&ProgKind::Begin)?;
    let attached = session.attach(&plan)?;
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        eprintln!("__BPFTRACE_NOTIFY_PROBES_ATTACHED");
    }
    if let Some(c) = child.as_deref_mut() {
        c.start();
    }
    while !session.finalizing && !signals::stop_requested() {
        let _ = ringbuf.poll(Duration::from_millis(100));
        session.drain(&queue)?;
        session.report_lost()?;
        if options.pid.is_some_and(|pid| !process_alive(pid)) || child.as_deref_mut().is_some_and(Child::exited) {
            break;
        }
    }
    drop(attached);
    // What arrived before the probes went is printed, unless exit() came
    // first: then nothing after it is.
    let _ = ringbuf.consume();
    session.drain(&queue)?;
    session.finalizing = false;
    session.run_special(&ProgKind::End)?;
    let _ = ringbuf.consume();
    session.drain(&queue)?;
    session.report_lost()?;
    session.print_all_maps()?;
    session.out.flush()?;
    Ok(session.exit_code)
}

struct Session<'a> {
    compiled: &'a Compiled,
    object: &'a mut libbpf_rs::Object,
    maps: &'a [libbpf_rs::MapHandle],
    out: &'a mut dyn Write,
    /// `exit()` was called: later events are dropped until END.
    finalizing: bool,
    exit_code: i32,
    lost: u64,
}

impl Session<'_> {
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
        for spec in self.compiled.programs.iter().filter(|p| &p.kind == which) {
            let Some(prog) = self.program(&spec.name) else { continue };
            let mut ctx = [0u8; 64];
            prog.test_run(ProgramInput { context_in: Some(&mut ctx), ..Default::default() })
                .map_err(|e| RunError::Attach { probe: spec.attach.canonical(), message: e.to_string() })?;
        }
        Ok(())
    }

    /// Attaches every program; on failure, what was attached is detached
    /// (and its tracefs events removed) as the error returns.
    fn attach(&mut self, plan: &Plan) -> Result<Attached, RunError> {
        let mut attached = Attached::default();
        let compiled = self.compiled;
        for spec in &compiled.programs {
            let Some(prog) = self.program(&spec.name) else { continue };
            attach::attach(&prog, spec, plan, &mut attached)?;
            if signals::stop_requested() {
                break;
            }
        }
        Ok(attached)
    }

    fn drain(&mut self, queue: &Rc<RefCell<VecDeque<Vec<u8>>>>) -> Result<(), RunError> {
        loop {
            let Some(ev) = queue.borrow_mut().pop_front() else { break };
            if !self.finalizing {
                self.event(&ev)?;
            }
        }
        self.out.flush()?;
        Ok(())
    }

    fn event(&mut self, data: &[u8]) -> Result<(), RunError> {
        let word = |i: usize| read_u64(data.get(i * 8..).unwrap_or(&[]));
        let r = Resolver::of(self.compiled, self.maps);
        match EventKind::from_u64(word(0)) {
            Some(kind @ (EventKind::Printf | EventKind::Cat)) => {
                let table = if kind == EventKind::Cat { &self.compiled.cats } else { &self.compiled.printfs };
                let Some(spec) = table.get(word(1) as usize) else { return Ok(()) };
                let args: Vec<(&bpfscope_lang::check::Type, &[u8])> = spec
                    .args
                    .iter()
                    .map(|(t, off)| {
                        let start = (*off as usize).min(data.len());
                        let end = (start + align8(size_of(t)).max(8) as usize).min(data.len());
                        (t, &data[start..end])
                    })
                    .collect();
                let text = printf::format(&spec.pieces, &args, &r);
                if kind == EventKind::Printf {
                    self.out.write_all(&text)?;
                } else {
                    self.cat(&String::from_utf8_lossy(&text))?;
                }
            }
            Some(EventKind::Join) => self.join(data, word(1) as usize, word(2) as usize)?,
            Some(EventKind::Exit) => {
                self.exit_code = word(1) as i32;
                self.finalizing = true;
            }
            Some(EventKind::PrintMap) => {
                if let Some(um) = self.compiled.user_maps.get(word(1) as usize) {
                    let text = maps::map_text(um, &self.maps[um.map.0], word(2), word(3), &r);
                    self.out.write_all(text.as_bytes())?;
                }
            }
            Some(kind @ (EventKind::ClearMap | EventKind::ZeroMap)) => {
                if let Some(um) = self.compiled.user_maps.get(word(1) as usize) {
                    maps::clear(um, &self.maps[um.map.0], kind == EventKind::ZeroMap);
                }
            }
            Some(EventKind::Time) => {
                let fmt = self.compiled.time_formats.get(word(1) as usize).map_or("%H:%M:%S\n", String::as_str);
                self.out.write_all(strftime_now(fmt).as_bytes())?;
            }
            Some(EventKind::PrintValue) => {
                if let Some(t) = self.compiled.print_values.get(word(1) as usize) {
                    let text = to_text(t, data.get(16..).unwrap_or(&[]), &r);
                    writeln!(self.out, "{text}")?;
                }
            }
            None => {}
        }
        Ok(())
    }

    /// `join()`: the strings up to the first empty one, separated, on a
    /// line (as bpftrace prints them).
    fn join(&mut self, data: &[u8], id: usize, count: usize) -> Result<(), RunError> {
        use bpfscope_compiler::JOIN_ARG_SIZE;
        let sep = self.compiled.join_separators.get(id).map_or(" ", String::as_str);
        let strings: Vec<String> = (0..count)
            .map_while(|i| {
                let start = 24 + i * JOIN_ARG_SIZE as usize;
                let s = crate::output::value::c_string(data.get(start..start + JOIN_ARG_SIZE as usize)?);
                (!s.is_empty()).then(|| String::from_utf8_lossy(s).into_owned())
            })
            .collect();
        writeln!(self.out, "{}", strings.join(sep))?;
        Ok(())
    }

    /// `cat()`: the file's first `MAX_CAT_BYTES` bytes, or why it cannot
    /// be read.
    fn cat(&mut self, path: &str) -> Result<(), RunError> {
        const MAX_CAT_BYTES: u64 = 10240;
        let read = std::fs::File::open(path).and_then(|f| {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_CAT_BYTES), &mut buf)?;
            Ok(buf)
        });
        match read {
            Ok(bytes) => self.out.write_all(&bytes)?,
            Err(e) => eprintln!("cat: cannot read '{path}': {e}"),
        }
        Ok(())
    }

    /// Prints `Lost N events` when the kernel counted drops since last time.
    fn report_lost(&mut self) -> Result<(), RunError> {
        let Some(g) = self.compiled.globals else { return Ok(()) };
        let Ok(Some(v)) = self.maps[g.0].lookup(&(GLOBAL_LOST as u32).to_le_bytes(), MapFlags::ANY) else {
            return Ok(());
        };
        let total = read_u64(&v);
        if total > self.lost {
            writeln!(self.out, "Lost {} events", total - self.lost)?;
            self.lost = total;
        }
        Ok(())
    }

    /// At exit: two blank lines, then every map by name.
    fn print_all_maps(&mut self) -> Result<(), RunError> {
        write!(self.out, "\n\n")?;
        if !self.compiled.print_maps_on_exit {
            return Ok(());
        }
        let r = Resolver::of(self.compiled, self.maps);
        let mut order: Vec<&bpfscope_compiler::UserMap> = self.compiled.user_maps.iter().collect();
        order.sort_by(|a, b| a.name.cmp(&b.name));
        for um in order {
            let text = maps::map_text(um, &self.maps[um.map.0], 0, 0, &r);
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }
}

/// Whether a process still runs (a zombie counts as gone).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// The current local time formatted by C's strftime.
fn strftime_now(fmt: &str) -> String {
    let Ok(cfmt) = std::ffi::CString::new(fmt) else { return String::new() };
    // SAFETY: time/localtime_r/strftime get valid pointers; the buffer size
    // is passed along.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        let mut buf = vec![0u8; 512];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm);
        buf.truncate(n);
        String::from_utf8_lossy(&buf).into_owned()
    }
}
