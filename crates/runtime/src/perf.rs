//! Software clock events that drive `interval` and `profile` probes.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// From linux/perf_event.h.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// Opens a CPU-clock event on `cpu` for every process, firing every
/// `period_ns` nanoseconds, or `hz` times a second.
pub fn cpu_clock(cpu: i32, period_ns: u64, hz: Option<u64>) -> io::Result<OwnedFd> {
    // SAFETY: an all-zero perf_event_attr is the documented starting point.
    let mut attr: libbpf_sys::perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = libbpf_sys::PERF_TYPE_SOFTWARE;
    attr.config = u64::from(libbpf_sys::PERF_COUNT_SW_CPU_CLOCK);
    attr.size = std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32;
    match hz {
        Some(hz) => {
            attr.__bindgen_anon_1.sample_freq = hz;
            attr.set_freq(1);
        }
        None => attr.__bindgen_anon_1.sample_period = period_ns.max(1),
    }
    // SAFETY: the attribute lives across the call; the kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const libbpf_sys::perf_event_attr,
            -1 as libc::pid_t,
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
