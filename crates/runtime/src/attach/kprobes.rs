//! Kprobes: one kprobe_multi link, or a perf event per function from the
//! PMU or from `kprobe_events`; on kernels with neither, an honest answer.

use std::ffi::CString;

use bpfscope_compiler::KprobeTarget;
use libbpf_rs::{KprobeMultiOpts, ProgramMut};

use super::{Attached, Plan, ProbeMode, legacy, link_perf_event};
use crate::AttachError;
use crate::perf;

/// What to say on a kernel without kprobes, naming what would work.
pub fn missing_kprobes_message(function: &str) -> String {
    let name = function.rsplit(':').next().unwrap_or(function);
    format!(
        "this kernel has no kprobe support (no kprobe PMU and no kprobe_events); \
         try fentry:{name} (where fentry loads; --fallback uses it automatically) or a tracepoint covering \
         the same event (e.g. tracepoint:syscalls:sys_enter_read for reads)"
    )
}

/// Why the kernel refused a kprobe, in its terms where they are known.
pub fn refusal(function: &str, offset: u64, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EILSEQ) => format!(
            "offset {offset} is not at an instruction boundary in {function} (the kernel checks; try the offset of an instruction from objdump -d)"
        ),
        Some(libc::ENOENT) | Some(libc::EINVAL) if offset == 0 => {
            format!("the kernel cannot probe {function} ({e})")
        }
        _ => format!("{e}"),
    }
}

pub(super) fn attach(
    prog: &ProgramMut<'_>,
    ret: bool,
    sites: &[KprobeTarget],
    plan: &Plan,
    attached: &mut Attached,
) -> Result<(), AttachError> {
    if plan.kprobe == ProbeMode::Missing {
        return Err(AttachError::NoKprobes { function: sites.first().map_or("", |s| s.function.as_str()).to_string() });
    }
    if plan.kprobe_multi && sites.len() > 1 {
        let opts = KprobeMultiOpts {
            symbols: sites.iter().map(|s| s.function.clone()).collect(),
            cookies: sites.iter().map(|s| s.cookie).collect(),
            retprobe: ret,
            ..Default::default()
        };
        attached.links.push(prog.attach_kprobe_multi_with_opts(opts).map_err(AttachError::Libbpf)?);
        return Ok(());
    }
    for site in sites {
        let refused = |source: std::io::Error| AttachError::Kprobe {
            function: site.function.clone(),
            offset: site.offset,
            source,
        };
        let fd = match plan.kprobe {
            ProbeMode::Pmu(pmu) => {
                let function = CString::new(site.function.as_str()).map_err(|_| AttachError::Nul("a name"))?;
                pmu.open_kprobe(&function, site.offset, ret).map_err(refused)?
            }
            ProbeMode::Legacy | ProbeMode::Missing => {
                let events = attached.legacy(legacy::Interface::Kprobe)?;
                let id = events.add_kprobe(&site.function, site.offset, ret).map_err(refused)?;
                perf::tracefs_event(id, None).map_err(refused)?
            }
        };
        attached.links.push(link_perf_event(prog, fd, site.cookie).map_err(AttachError::Libbpf)?);
    }
    Ok(())
}
