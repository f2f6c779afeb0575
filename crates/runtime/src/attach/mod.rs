//! Attaching loaded programs: how each kind of probe reaches the kernel,
//! with the fallbacks for kernels that lack a mechanism.

mod features;
mod legacy;

use std::ffi::CString;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use bpfscope_compiler::{Compiled, ProgKind, ProgSpec, UprobeTarget};
use libbpf_rs::{Link, PerfEventOpts, ProgramMut, UprobeMultiOpts};

pub use features::{Feature, Features};

use crate::RunError;
use crate::perf::{self, UprobePmu};

/// How uprobe sites become kernel events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UprobeMode {
    /// `perf_event_open` on the uprobe PMU.
    Pmu(UprobePmu),
    /// Lines written to tracefs's `uprobe_events`.
    Legacy,
}

/// The mechanisms this run uses, decided before loading (a uprobe_multi
/// program is loaded differently).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub uprobe: UprobeMode,
    /// One uprobe_multi link per multi-site program.
    pub uprobe_multi: bool,
    /// Only this process (`-p`, `-c`).
    pub pid: Option<u32>,
    pub verbose: bool,
}

impl Plan {
    pub fn new(compiled: &Compiled, features: &Features, pid: Option<u32>, verbose: bool) -> Plan {
        let has_uprobes = compiled.programs.iter().any(|p| matches!(p.kind, ProgKind::Uprobe { .. }));
        let has_multi = compiled.programs.iter().any(|p| multi_sites(p).is_some());
        let uprobe = match features.enabled(Feature::UprobePmu).then(UprobePmu::find).flatten() {
            Some(pmu) => UprobeMode::Pmu(pmu),
            None => UprobeMode::Legacy,
        };
        let uprobe_multi = has_multi && features.enabled(Feature::UprobeMulti) && features::kernel_has_uprobe_multi();
        if verbose && has_uprobes {
            let how = match uprobe {
                UprobeMode::Pmu(_) => "the uprobe PMU (perf_event_open)",
                UprobeMode::Legacy => "tracefs uprobe_events",
            };
            let multi =
                if uprobe_multi { "one uprobe_multi link per binary for wildcards" } else { "one link per site" };
            eprintln!("uprobes: attached through {how}; {multi}");
        }
        Plan { uprobe, uprobe_multi, pid, verbose }
    }

    /// The ELF section that sets how libbpf loads a program.
    pub fn section(&self, spec: &ProgSpec) -> &'static str {
        if self.uprobe_multi && multi_sites(spec).is_some() { "uprobe.multi" } else { spec.kind.section() }
    }
}

/// A uprobe program's sites, when it has more than one.
fn multi_sites(spec: &ProgSpec) -> Option<&[UprobeTarget]> {
    match &spec.kind {
        ProgKind::Uprobe { sites, .. } if sites.len() > 1 => Some(sites),
        _ => None,
    }
}

/// Everything attached. Dropping it detaches: the links first, then the
/// tracefs events they used (which the kernel keeps busy until then).
#[derive(Default)]
pub struct Attached {
    links: Vec<Link>,
    legacy: Option<legacy::Events>,
}

impl Attached {
    /// How many kernel attachments are live.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.links.clear();
        self.legacy.take();
    }
}

/// A uprobe made in `uprobe_events`, opened as a perf event.
fn legacy_event(
    attached: &mut Attached,
    binary: &std::path::Path,
    site: &UprobeTarget,
    ret: bool,
    pid: Option<u32>,
) -> Result<OwnedFd, String> {
    let events = match &mut attached.legacy {
        Some(e) => e,
        None => {
            let root = bpfscope_probes::tracefs::root().map_err(|e| e.to_string())?;
            attached.legacy.insert(legacy::Events::new(root))
        }
    };
    let id = events.add(binary, site.offset, site.semaphore, ret).map_err(|e| format!("uprobe_events: {e}"))?;
    perf::tracefs_event(id, pid).map_err(|e| format!("perf_event_open: {e}"))
}

/// Links a program to a perf event; the link owns the event from then on.
fn link_perf_event(prog: &ProgramMut<'_>, fd: OwnedFd, cookie: u64) -> Result<Link, String> {
    let opts = PerfEventOpts { cookie, ..Default::default() };
    let link = prog.attach_perf_event_with_opts(fd.as_raw_fd(), opts).map_err(|e| e.to_string())?;
    // libbpf closes the event when the link goes.
    let _ = fd.into_raw_fd();
    Ok(link)
}

/// Attaches one program. On error, what `attached` holds still detaches
/// cleanly when dropped.
pub fn attach(prog: &ProgramMut<'_>, spec: &ProgSpec, plan: &Plan, attached: &mut Attached) -> Result<(), RunError> {
    let err = |message: String| RunError::Attach { probe: spec.attach.canonical(), message };
    match &spec.kind {
        ProgKind::Begin | ProgKind::End => {}
        ProgKind::Tracepoint { category, event } => {
            let category = libbpf_rs::TracepointCategory::Custom(category.clone());
            attached.links.push(prog.attach_tracepoint(category, event).map_err(|e| err(e.to_string()))?);
        }
        ProgKind::PerfEvent { hardware, config, period } => {
            for cpu in perf::online_cpus().map_err(|e| err(e.to_string()))? {
                let fd = perf::counter(*hardware, *config, *period, cpu).map_err(|e| {
                    let no_pmu = *hardware && matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EOPNOTSUPP));
                    if no_pmu {
                        err("this machine has no hardware performance counters (usual in virtual machines); software events work".into())
                    } else {
                        err(format!("perf_event_open: {e}"))
                    }
                })?;
                attached.links.push(link_perf_event(prog, fd, 0).map_err(err)?);
            }
        }
        ProgKind::RawTracepoint { name } => {
            let link = prog.attach_raw_tracepoint(name).map_err(|e| {
                err(format!("{e} (an argN past the tracepoint's last argument makes the kernel refuse it)"))
            })?;
            attached.links.push(link);
        }
        ProgKind::Interval { period_ns } => {
            let cpu = perf::online_cpus().map_err(|e| err(e.to_string()))?.first().copied().unwrap_or(0);
            let fd = perf::cpu_clock(cpu, *period_ns, None).map_err(|e| err(format!("perf_event_open: {e}")))?;
            attached.links.push(link_perf_event(prog, fd, 0).map_err(err)?);
        }
        ProgKind::Profile { hz, period_ns } => {
            for cpu in perf::online_cpus().map_err(|e| err(e.to_string()))? {
                let fd = perf::cpu_clock(cpu, *period_ns, *hz).map_err(|e| err(format!("perf_event_open: {e}")))?;
                attached.links.push(link_perf_event(prog, fd, 0).map_err(err)?);
            }
        }
        ProgKind::Uprobe { binary, ret, sites } => {
            let pid = plan.pid.map_or(-1, |p| p as i32);
            if plan.uprobe_multi && sites.len() > 1 {
                let opts = UprobeMultiOpts {
                    offsets: sites.iter().map(|s| s.offset as usize).collect(),
                    ref_ctr_offsets: if sites.iter().any(|s| s.semaphore.is_some()) {
                        sites.iter().map(|s| s.semaphore.unwrap_or(0) as usize).collect()
                    } else {
                        Vec::new()
                    },
                    cookies: sites.iter().map(|s| s.cookie).collect(),
                    retprobe: *ret,
                    ..Default::default()
                };
                let link = prog.attach_uprobe_multi_with_opts(pid, binary, "", opts).map_err(|e| err(e.to_string()))?;
                attached.links.push(link);
                return Ok(());
            }
            let path =
                CString::new(binary.as_os_str().as_bytes()).map_err(|_| err("the path has a NUL byte".into()))?;
            for site in sites {
                let fd = match plan.uprobe {
                    UprobeMode::Pmu(pmu) => pmu
                        .open(&path, site.offset, *ret, site.semaphore, plan.pid)
                        .map_err(|e| err(format!("perf_event_open: {e}")))?,
                    UprobeMode::Legacy => legacy_event(attached, binary, site, *ret, plan.pid).map_err(err)?,
                };
                attached.links.push(link_perf_event(prog, fd, site.cookie).map_err(err)?);
            }
        }
    }
    Ok(())
}
