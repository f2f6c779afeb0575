//! Names of numbers: errno values, system calls and signals, for
//! `strerror()`, `syscall_name()` and `signal_name()` (when compiling for
//! constants, and when printing for values known only at run time).

use bpfscope_lang::check::NumberKind;

/// Linux's signals, from 1.
const SIGNALS: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
    "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",
    "PWR", "SYS",
];

/// A signal's number from its name, with or without `SIG`.
pub fn signal_number(name: &str) -> Option<i32> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().position(|n| *n == bare).map(|i| i as i32 + 1)
}

/// The name of a number of this kind; the number itself where it has none.
pub fn number_name(kind: NumberKind, n: i64) -> String {
    let found = match kind {
        NumberKind::Errno => Some(errno_text(n)),
        NumberKind::Syscall => usize::try_from(n).ok().and_then(syscalls::Sysno::new).map(|s| s.name().to_string()),
        NumberKind::Signal => usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| SIGNALS.get(i))
            .map(|s| format!("SIG{s}")),
    };
    found.unwrap_or_else(|| n.to_string())
}

/// The C library's text for an errno value.
fn errno_text(n: i64) -> String {
    let text = std::io::Error::from_raw_os_error(i32::try_from(n).unwrap_or(i32::MAX)).to_string();
    // Rust adds " (os error N)".
    text.rsplit_once(" (os error").map_or(text.clone(), |(t, _)| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_numbers() {
        assert_eq!(number_name(NumberKind::Errno, 2), "No such file or directory");
        assert_eq!(number_name(NumberKind::Syscall, 0), "read");
        assert_eq!(number_name(NumberKind::Signal, 9), "SIGKILL");
        assert_eq!(number_name(NumberKind::Signal, 99), "99");
        assert_eq!(signal_number("SIGTERM"), Some(15));
    }
}
