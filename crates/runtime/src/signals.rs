//! Ctrl-C, SIGTERM and SIGHUP (the terminal closing) end a run the way
//! `exit()` does: the session notices the flag between polls, detaches,
//! runs END and prints the maps, and nothing is left attached. SIGUSR1
//! runs the program's `self:signal:SIGUSR1` probes (and is otherwise
//! ignored, as in bpftrace, rather than ending the run).

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGUSR1 {
        USR1.store(true, Ordering::SeqCst);
    } else {
        STOP.store(true, Ordering::SeqCst);
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to the stop flag, SIGUSR1 to its own.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the sigaction struct is fully initialised.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks the run to stop, as a signal would (for a child command exiting).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether SIGUSR1 arrived since the last call (taking the news).
pub fn usr1_received() -> bool {
    USR1.swap(false, Ordering::SeqCst)
}
