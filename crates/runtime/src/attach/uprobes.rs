//! Uprobes: one uprobe_multi link, or a perf event per site from the PMU
//! or from `uprobe_events`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use bpfscope_compiler::UprobeTarget;
use libbpf_rs::{ProgramMut, UprobeMultiOpts};

use super::{Attached, Plan, ProbeMode, legacy, link_perf_event};
use crate::AttachError;
use crate::perf;

pub(super) fn attach(
    prog: &ProgramMut<'_>,
    binary: &Path,
    ret: bool,
    sites: &[UprobeTarget],
    plan: &Plan,
    attached: &mut Attached,
) -> Result<(), AttachError> {
    if plan.uprobe_multi && sites.len() > 1 {
        let opts = UprobeMultiOpts {
            offsets: sites.iter().map(|s| s.offset as usize).collect(),
            ref_ctr_offsets: if sites.iter().any(|s| s.semaphore.is_some()) {
                sites.iter().map(|s| s.semaphore.unwrap_or(0) as usize).collect()
            } else {
                Vec::new()
            },
            cookies: sites.iter().map(|s| s.cookie).collect(),
            retprobe: ret,
            ..Default::default()
        };
        let pid = plan.pid.map_or(-1, |p| p as i32);
        let link = prog.attach_uprobe_multi_with_opts(pid, binary, "", opts).map_err(AttachError::Libbpf)?;
        attached.links.push(link);
        return Ok(());
    }
    let path = CString::new(binary.as_os_str().as_bytes()).map_err(|_| AttachError::Nul("the path"))?;
    for site in sites {
        let fd = match plan.uprobe {
            ProbeMode::Pmu(pmu) => {
                pmu.open_uprobe(&path, site.offset, ret, site.semaphore, plan.pid).map_err(AttachError::PerfEvent)?
            }
            ProbeMode::Legacy | ProbeMode::Missing => {
                let events = attached.legacy(legacy::Interface::Uprobe)?;
                let id = events
                    .add_uprobe(binary, site.offset, site.semaphore, ret)
                    .map_err(|source| AttachError::TracefsEvent { interface: "uprobe_events", source })?;
                perf::tracefs_event(id, plan.pid).map_err(AttachError::PerfEvent)?
            }
        };
        attached.links.push(link_perf_event(prog, fd, site.cookie).map_err(AttachError::Libbpf)?);
    }
    Ok(())
}
