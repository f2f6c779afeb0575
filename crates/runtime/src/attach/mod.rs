//! Attaching loaded programs: how each kind of probe reaches the kernel,
//! with the fallbacks for kernels that lack a mechanism.

mod features;
pub(crate) mod kprobes;
mod legacy;
mod uprobes;

use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::path::Path;

use bpfscope_compiler::{Compiled, ProgKind, ProgSpec};
use bpfscope_lang::provider::Needs;
use libbpf_rs::{Link, PerfEventOpts, ProgramMut};

pub use features::{
    Feature, Features, bpf_loop_usable, kernel_allows_write_user, kernel_has_override_return, kernel_report,
    kfunc_allowed,
};

use crate::perf::{self, ProbePmu};
use crate::{AttachError, RunError};

/// How uprobe or kprobe sites become kernel events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeMode {
    /// `perf_event_open` on the PMU.
    Pmu(ProbePmu),
    /// Lines written to tracefs's `uprobe_events` or `kprobe_events`.
    Legacy,
    /// Neither: the kernel has no support (kprobes on this kind of kernel).
    Missing,
}

impl ProbeMode {
    /// The best mechanism the kernel has (the PMU unless disabled, else
    /// the text interface if tracefs has it).
    fn detect(pmu: &str, pmu_feature: Feature, events_file: &str, features: &Features) -> ProbeMode {
        if let Some(p) = features.enabled(pmu_feature).then(|| ProbePmu::find(pmu)).flatten() {
            return ProbeMode::Pmu(p);
        }
        let events_feature = if events_file == "kprobe_events" { Feature::KprobeEvents } else { Feature::UprobeEvents };
        let events_allowed = features.enabled(events_feature);
        let has_events = events_allowed && bpfscope_probes::tracefs::root().is_ok_and(|r| r.join(events_file).exists());
        if has_events { ProbeMode::Legacy } else { ProbeMode::Missing }
    }

    fn describe(self, kind: &str, events_file: &str) -> String {
        match self {
            ProbeMode::Pmu(_) => format!("the {kind} PMU (perf_event_open)"),
            ProbeMode::Legacy => format!("tracefs {events_file}"),
            ProbeMode::Missing => "nothing: the kernel has no support".into(),
        }
    }
}

/// Removes the tracefs events (`uprobe_events`, `kprobe_events`) of
/// bpfscope runs that no longer run; returns each with how it went.
pub fn cleanup() -> Result<Vec<(String, std::io::Result<()>)>, String> {
    let root = bpfscope_probes::tracefs::root().map_err(|e| e.to_string())?;
    Ok(legacy::cleanup(&root))
}

/// Whether this kernel has kprobes at all (the PMU or `kprobe_events`),
/// with the disabled features taken as missing.
pub fn kernel_has_kprobes(features: &Features) -> bool {
    ProbeMode::detect("kprobe", Feature::KprobePmu, "kprobe_events", features) != ProbeMode::Missing
}

/// The mechanisms this run uses, decided before loading (multi-attach
/// programs are loaded differently).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub uprobe: ProbeMode,
    pub kprobe: ProbeMode,
    /// One uprobe_multi link per multi-site uprobe program.
    pub uprobe_multi: bool,
    /// One kprobe_multi link per multi-site kprobe program.
    pub kprobe_multi: bool,
    /// Only this process (`-p`, `-c`).
    pub pid: Option<u32>,
}

impl Plan {
    pub fn new(compiled: &Compiled, features: &Features, pid: Option<u32>, verbose: bool) -> Plan {
        let has = |f: fn(&ProgKind) -> bool| compiled.programs.iter().any(|p| f(&p.kind));
        let uprobe = ProbeMode::detect("uprobe", Feature::UprobePmu, "uprobe_events", features);
        let kprobe = ProbeMode::detect("kprobe", Feature::KprobePmu, "kprobe_events", features);
        let uprobe_multi = has(|k| matches!(k, ProgKind::Uprobe { sites, .. } if sites.len() > 1))
            && features.enabled(Feature::UprobeMulti)
            && features::kernel_has_uprobe_multi();
        let kprobe_multi = has(|k| matches!(k, ProgKind::Kprobe { sites, .. } if sites.len() > 1))
            && features.enabled(Feature::KprobeMulti)
            && features::kernel_has_kprobe_multi();
        if verbose {
            let links = |multi: bool, what: &str, per: &str| {
                if multi {
                    format!("one {what}_multi link per {per} for wildcards")
                } else {
                    "one link per site".into()
                }
            };
            if has(|k| matches!(k, ProgKind::Uprobe { .. })) {
                let how = uprobe.describe("uprobe", "uprobe_events");
                eprintln!("uprobes: attached through {how}; {}", links(uprobe_multi, "uprobe", "binary"));
            }
            if has(|k| matches!(k, ProgKind::Kprobe { .. })) {
                let how = kprobe.describe("kprobe", "kprobe_events");
                eprintln!("kprobes: attached through {how}; {}", links(kprobe_multi, "kprobe", "probe"));
            }
        }
        Plan { uprobe, kprobe, uprobe_multi, kprobe_multi, pid }
    }

    /// Refuses, before anything loads, programs the kernel cannot attach:
    /// what each probe type needs (its row of lang's provider table) that
    /// this kernel lacks. Needs found missing only when loading (fentry's
    /// trampolines) are reported there.
    pub fn check(&self, compiled: &Compiled) -> Result<(), RunError> {
        for spec in &compiled.programs {
            if let Some(source) = self.missing(spec) {
                return Err(RunError::Attach { probe: spec.attach.canonical(), source });
            }
        }
        Ok(())
    }

    /// Why `spec`'s probe type cannot run on this kernel, if it cannot.
    fn missing(&self, spec: &ProgSpec) -> Option<AttachError> {
        match spec.attach.provider.spec().needs {
            Needs::Kprobes if self.kprobe == ProbeMode::Missing => {
                let function = match &spec.kind {
                    ProgKind::Kprobe { sites, .. } => sites.first().map_or("", |s| s.function.as_str()),
                    _ => "",
                };
                Some(AttachError::NoKprobes { function: function.to_string() })
            }
            Needs::Uprobes if self.uprobe == ProbeMode::Missing => Some(AttachError::NoUprobes),
            Needs::Breakpoints if !Path::new("/sys/bus/event_source/devices/breakpoint").exists() => {
                Some(AttachError::NoBreakpoints)
            }
            Needs::Kprobes
            | Needs::Uprobes
            | Needs::Breakpoints
            | Needs::Nothing
            | Needs::Tracepoints
            | Needs::RawTracepoints
            | Needs::Trampolines
            | Needs::PerfEvents
            | Needs::Iterators => None,
        }
    }

    /// The ELF section that sets how libbpf loads a program.
    pub fn section(&self, spec: &ProgSpec) -> String {
        match &spec.kind {
            ProgKind::Uprobe { sites, .. } if self.uprobe_multi && sites.len() > 1 => "uprobe.multi".into(),
            ProgKind::Kprobe { sites, .. } if self.kprobe_multi && sites.len() > 1 => "kprobe.multi".into(),
            kind => kind.section(),
        }
    }
}

/// Everything attached. Dropping it detaches: the links first, then the
/// tracefs events they used (which the kernel keeps busy until then).
#[derive(Default)]
pub struct Attached {
    links: Vec<Link>,
    legacy_uprobes: Option<legacy::Events>,
    legacy_kprobes: Option<legacy::Events>,
}

impl Attached {
    /// How many kernel attachments are live.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The tracefs events of one interface, made on first use.
    fn legacy(&mut self, interface: legacy::Interface) -> Result<&mut legacy::Events, AttachError> {
        let slot = match interface {
            legacy::Interface::Uprobe => &mut self.legacy_uprobes,
            legacy::Interface::Kprobe => &mut self.legacy_kprobes,
        };
        match slot {
            Some(e) => Ok(e),
            None => {
                let root = bpfscope_probes::tracefs::root().map_err(AttachError::Tracefs)?;
                Ok(slot.insert(legacy::Events::new(root, interface)))
            }
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // A detach can wait for an RCU grace period (tracepoints, perf
        // events); detaching from several threads lets them share one.
        const THREADS: usize = 16;
        let links = std::mem::take(&mut self.links);
        if links.len() > 1 {
            let mut buckets: Vec<Vec<Link>> = (0..THREADS.min(links.len())).map(|_| Vec::new()).collect();
            let n = buckets.len();
            for (i, link) in links.into_iter().enumerate() {
                buckets[i % n].push(link);
            }
            std::thread::scope(|s| {
                for bucket in buckets {
                    s.spawn(move || drop(bucket));
                }
            });
        } else {
            drop(links);
        }
        // Only now, with no perf event open on them, can tracefs events go
        // (the kernel refuses to remove an event in use: EBUSY).
        self.legacy_uprobes.take();
        self.legacy_kprobes.take();
    }
}

/// Links a program to a perf event; the link owns the event from then on.
fn link_perf_event(prog: &ProgramMut<'_>, fd: OwnedFd, cookie: u64) -> Result<Link, libbpf_rs::Error> {
    let opts = PerfEventOpts { cookie, ..Default::default() };
    let link = prog.attach_perf_event_with_opts(fd.as_raw_fd(), opts)?;
    // libbpf closes the event when the link goes.
    let _ = fd.into_raw_fd();
    Ok(link)
}

/// Attaches one program. On error, what `attached` holds still detaches
/// cleanly when dropped.
pub fn attach(prog: &ProgramMut<'_>, spec: &ProgSpec, plan: &Plan, attached: &mut Attached) -> Result<(), RunError> {
    let err = |source: AttachError| RunError::Attach { probe: spec.attach.canonical(), source };
    let libbpf = |e| err(AttachError::Libbpf(e));
    let cpus = |e| err(AttachError::Cpus(e));
    let perf_event = |e| err(AttachError::PerfEvent(e));
    match &spec.kind {
        // Run by the tracer (test runs), not attached.
        ProgKind::Begin | ProgKind::End | ProgKind::Signal | ProgKind::Bench { .. } => {}
        ProgKind::Tracepoint { category, event } => {
            let category = libbpf_rs::TracepointCategory::Custom(category.clone());
            attached.links.push(prog.attach_tracepoint(category, event).map_err(libbpf)?);
        }
        ProgKind::PerfEvent { hardware, config, period } => {
            for cpu in perf::online_cpus().map_err(cpus)? {
                let fd = perf::counter(*hardware, *config, *period, cpu).map_err(|e| {
                    let no_pmu = *hardware && matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EOPNOTSUPP));
                    if no_pmu { err(AttachError::NoPmu) } else { perf_event(e) }
                })?;
                attached.links.push(link_perf_event(prog, fd, 0).map_err(libbpf)?);
            }
        }
        ProgKind::Watchpoint { address, length, access } => {
            let refused = |e: std::io::Error| match e.raw_os_error() {
                Some(libc::ENOSPC) => err(AttachError::NoBreakpointRegister),
                Some(libc::EINVAL) if *access == 1 => err(AttachError::ReadOnlyWatchpoint),
                Some(libc::EINVAL) => err(AttachError::Watchpoint { address: *address, source: e }),
                _ => perf_event(e),
            };
            // With a target process, in it; else on every CPU (a kernel
            // address, or one every process shares).
            match plan.pid {
                Some(pid) => {
                    let fd = perf::breakpoint(*address, *length, *access, Some(pid), -1).map_err(refused)?;
                    attached.links.push(link_perf_event(prog, fd, 0).map_err(libbpf)?);
                }
                None => {
                    for cpu in perf::online_cpus().map_err(cpus)? {
                        let fd = perf::breakpoint(*address, *length, *access, None, cpu).map_err(refused)?;
                        attached.links.push(link_perf_event(prog, fd, 0).map_err(libbpf)?);
                    }
                }
            }
        }
        ProgKind::RawTracepoint { name } => {
            let link = prog.attach_raw_tracepoint(name).map_err(|source| err(AttachError::RawTracepoint { source }))?;
            attached.links.push(link);
        }
        ProgKind::Interval { period_ns } => {
            let cpu = perf::online_cpus().map_err(cpus)?.first().copied().unwrap_or(0);
            let fd = perf::cpu_clock(cpu, *period_ns, None).map_err(perf_event)?;
            attached.links.push(link_perf_event(prog, fd, 0).map_err(libbpf)?);
        }
        ProgKind::Profile { hz, period_ns } => {
            for cpu in perf::online_cpus().map_err(cpus)? {
                let fd = perf::cpu_clock(cpu, *period_ns, *hz).map_err(perf_event)?;
                attached.links.push(link_perf_event(prog, fd, 0).map_err(libbpf)?);
            }
        }
        ProgKind::Uprobe { binary, ret, sites } => {
            uprobes::attach(prog, binary, *ret, sites, plan, attached).map_err(err)?
        }
        ProgKind::Kprobe { ret, sites } => kprobes::attach(prog, *ret, sites, plan, attached).map_err(err)?,
        ProgKind::Fentry { .. } => attached.links.push(prog.attach_trace().map_err(libbpf)?),
        ProgKind::Iter { .. } => {
            // Reading the iterator runs the program once per object; what it
            // prints comes through the event buffer. Then the run is over.
            let link = prog.attach().map_err(libbpf)?;
            let mut iter = libbpf_rs::Iter::new(&link).map_err(|e| err(AttachError::Iterator(e)))?;
            std::io::copy(&mut iter, &mut std::io::sink()).map_err(|e| err(AttachError::IteratorRead(e)))?;
            attached.links.push(link);
            crate::signals::request_stop();
        }
    }
    Ok(())
}
