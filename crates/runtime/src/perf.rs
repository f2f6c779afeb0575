//! Perf events: the software clocks that drive `interval` and `profile`
//! probes, and the uprobe and tracepoint events programs attach to.

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// From linux/perf_event.h.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// Opens a CPU-clock event on `cpu` for every process, firing every
/// `period_ns` nanoseconds, or `hz` times a second.
pub fn cpu_clock(cpu: i32, period_ns: u64, hz: Option<u64>) -> io::Result<OwnedFd> {
    let mut attr = attr_of(libbpf_sys::PERF_TYPE_SOFTWARE, u64::from(libbpf_sys::PERF_COUNT_SW_CPU_CLOCK));
    match hz {
        Some(hz) => {
            attr.__bindgen_anon_1.sample_freq = hz;
            attr.set_freq(1);
        }
        None => attr.__bindgen_anon_1.sample_period = period_ns.max(1),
    }
    open(&attr, None, cpu)
}

/// A zeroed attribute of a type, sized for this build.
fn attr_of(type_: u32, config: u64) -> libbpf_sys::perf_event_attr {
    // SAFETY: an all-zero perf_event_attr is the documented starting point.
    let mut attr: libbpf_sys::perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = type_;
    attr.config = config;
    attr.size = std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32;
    attr
}

/// `perf_event_open` for one process (`pid`) or every process on `cpu`.
fn open(attr: &libbpf_sys::perf_event_attr, pid: Option<u32>, cpu: i32) -> io::Result<OwnedFd> {
    let pid = pid.map_or(-1, |p| p as libc::pid_t);
    // SAFETY: the attribute lives across the call; the kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *const libbpf_sys::perf_event_attr,
            pid,
            cpu,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The uprobe or kprobe PMU: its perf type and the `config` bit that asks
/// for a return probe, from sysfs; `None` on kernels without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePmu {
    type_: u32,
    retprobe_bit: u32,
}

impl ProbePmu {
    /// `name` is `uprobe` or `kprobe`.
    pub fn find(name: &str) -> Option<ProbePmu> {
        let dir = std::path::Path::new("/sys/bus/event_source/devices").join(name);
        let type_ = std::fs::read_to_string(dir.join("type")).ok()?.trim().parse().ok()?;
        let bit = std::fs::read_to_string(dir.join("format/retprobe")).ok()?;
        let retprobe_bit = bit.trim().strip_prefix("config:")?.parse().ok()?;
        Some(ProbePmu { type_, retprobe_bit })
    }

    /// A kprobe at `function+offset`, on every CPU.
    pub fn open_kprobe(&self, function: &CStr, offset: u64, ret: bool) -> io::Result<OwnedFd> {
        let mut attr = attr_of(self.type_, if ret { 1 << self.retprobe_bit } else { 0 });
        attr.__bindgen_anon_3.kprobe_func = function.as_ptr() as u64;
        attr.__bindgen_anon_4.probe_offset = offset;
        open(&attr, None, 0)
    }

    /// A uprobe at `offset` in the file `path`, for `pid` or everyone;
    /// with a USDT semaphore's file offset, the kernel counts in it.
    pub fn open_uprobe(
        &self,
        path: &CStr,
        offset: u64,
        ret: bool,
        semaphore: Option<u64>,
        pid: Option<u32>,
    ) -> io::Result<OwnedFd> {
        /// `PERF_UPROBE_REF_CTR_OFFSET_SHIFT`: where `config` holds it.
        const REF_CTR_SHIFT: u32 = 32;
        let config = if ret { 1 << self.retprobe_bit } else { 0 } | semaphore.map_or(0, |s| s << REF_CTR_SHIFT);
        let mut attr = attr_of(self.type_, config);
        attr.__bindgen_anon_3.uprobe_path = path.as_ptr() as u64;
        attr.__bindgen_anon_4.probe_offset = offset;
        // A process-wide event has a CPU, a per-process one has none; the
        // probe fires on every CPU either way.
        open(&attr, pid, if pid.is_some() { -1 } else { 0 })
    }
}

/// A software or hardware event on `cpu`, every `period` occurrences.
pub fn counter(hardware: bool, config: u64, period: u64, cpu: i32) -> io::Result<OwnedFd> {
    let type_ = if hardware { libbpf_sys::PERF_TYPE_HARDWARE } else { libbpf_sys::PERF_TYPE_SOFTWARE };
    let mut attr = attr_of(type_, config);
    attr.__bindgen_anon_1.sample_period = period;
    open(&attr, None, cpu)
}

/// A hardware breakpoint on `length` bytes at `address` for the accesses
/// in `access` (perf's `HW_BREAKPOINT_*` bits), in process `pid` (on any
/// CPU) or on `cpu` for every process; every hit is a sample.
pub fn breakpoint(address: u64, length: u64, access: u32, pid: Option<u32>, cpu: i32) -> io::Result<OwnedFd> {
    let mut attr = attr_of(libbpf_sys::PERF_TYPE_BREAKPOINT, 0);
    attr.bp_type = access;
    attr.__bindgen_anon_3.bp_addr = address;
    // An execute breakpoint covers an instruction: the kernel wants a long.
    attr.__bindgen_anon_4.bp_len = if access == 4 { std::mem::size_of::<libc::c_long>() as u64 } else { length };
    attr.__bindgen_anon_1.sample_period = 1;
    attr.__bindgen_anon_2.wakeup_events = 1;
    open(&attr, pid, if pid.is_some() { -1 } else { cpu })
}

/// A tracefs event (a tracepoint, or a probe made in `uprobe_events`) by id.
pub fn tracefs_event(id: u64, pid: Option<u32>) -> io::Result<OwnedFd> {
    let mut attr = attr_of(libbpf_sys::PERF_TYPE_TRACEPOINT, id);
    attr.__bindgen_anon_1.sample_period = 1;
    attr.__bindgen_anon_2.wakeup_events = 1;
    open(&attr, pid, if pid.is_some() { -1 } else { 0 })
}

/// The CPUs that are online now (from `/sys/devices/system/cpu/online`).
pub fn online_cpus() -> io::Result<Vec<i32>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    parse_cpu_list(text.trim()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse the online CPU list '{}'", text.trim()))
    })
}

/// Parses `0-3,5,7-8`.
fn parse_cpu_list(text: &str) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<i32>().ok()?..=b.parse::<i32>().ok()?),
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5,7-8"), Some(vec![0, 1, 2, 3, 5, 7, 8]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
