//! Whether this process may load tracing programs, and, when it may not,
//! one line that says what it lacks and what to do.
//!
//! Tracing programs (kprobe, uprobe, tracepoint, perf event) need CAP_BPF
//! and CAP_PERFMON, or CAP_SYS_ADMIN, whatever `kernel.perf_event_paranoid`
//! says: CAP_PERFMON is what lifts that setting, and the kernel asks for it
//! at load time. So the check is on the capabilities, read up front rather
//! than learnt from the first EPERM, and the message differs for a user
//! who is not root (sudo) and for root without them (a container).

use std::fmt;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Why this process may not load tracing programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not root, and without the capabilities (the usual case: use sudo).
    NotRoot,
    /// Root, but without these capabilities (a container, a dropped set).
    RootWithout { missing: Vec<&'static str>, paranoid: Option<i32> },
    /// The capabilities are there and the kernel refused anyway.
    Forbidden,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotRoot => {
                write!(f, "loading BPF programs needs root (CAP_BPF and CAP_PERFMON): run bpfscope with sudo")
            }
            Refusal::RootWithout { missing, paranoid } => {
                write!(
                    f,
                    "loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and this process, \
                     though root, lacks {}: grant them (in a container: --cap-add BPF --cap-add PERFMON, or \
                     --privileged)",
                    missing.join(" and ")
                )?;
                if let Some(level) = paranoid {
                    write!(f, "; lowering kernel.perf_event_paranoid (now {level}) does not lift this")?;
                }
                Ok(())
            }
            Refusal::Forbidden => write!(
                f,
                "the kernel refused to load BPF programs (operation not permitted) although this process has \
                 CAP_BPF and CAP_PERFMON: a security module (SELinux, AppArmor) or a seccomp filter forbids bpf()"
            ),
        }
    }
}

/// The effective capability set, from /proc/self/status.
fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn refusal_for(caps: u64, root: bool, paranoid: Option<i32>) -> Option<Refusal> {
    let has = |cap: u32| caps & (1 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return None;
    }
    if !root {
        return Some(Refusal::NotRoot);
    }
    let missing = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|&(cap, _)| !has(cap))
        .map(|(_, name)| name)
        .collect();
    Some(Refusal::RootWithout { missing, paranoid })
}

/// Why this process cannot load tracing programs, or None if it can (as
/// far as capabilities tell; an unreadable set is left to the kernel).
pub fn check() -> Option<Refusal> {
    let caps = effective()?;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let paranoid =
        std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").ok().and_then(|s| s.trim().parse().ok());
    refusal_for(caps, root, paranoid)
}

/// What to say when the kernel answered EPERM.
pub fn refusal() -> Refusal {
    check().unwrap_or(Refusal::Forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_decide() {
        let bit = |c: u32| 1u64 << c;
        assert_eq!(refusal_for(bit(CAP_SYS_ADMIN), false, Some(2)), None);
        assert_eq!(refusal_for(bit(CAP_BPF) | bit(CAP_PERFMON), false, Some(4)), None);
        assert_eq!(refusal_for(0, false, Some(2)), Some(Refusal::NotRoot));
        assert_eq!(
            refusal_for(bit(CAP_BPF), true, Some(2)),
            Some(Refusal::RootWithout { missing: vec!["CAP_PERFMON"], paranoid: Some(2) })
        );
        let both = refusal_for(0, true, None).map(|r| r.to_string()).unwrap_or_default();
        assert!(both.contains("though root, lacks CAP_BPF and CAP_PERFMON: grant them"), "{both}");
        assert!(!both.contains("paranoid"), "{both}");
    }
}
