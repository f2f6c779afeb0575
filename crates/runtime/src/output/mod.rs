//! Text output in bpftrace's format.

mod batch;
pub mod bench;
pub mod flamegraph;
pub mod json;
pub mod maps;
pub mod printf;
pub mod tseries;
pub mod value;

/// The current local time formatted by C's strftime.
pub fn local_time(fmt: &str) -> String {
    // SAFETY: time accepts a null pointer.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    format_time(fmt, now, 0)
}

/// A time (seconds since the epoch, and microseconds) in local time, as
/// `strftime(3)` formats it, with bpftrace's `%f` for the microseconds.
pub fn format_time(fmt: &str, secs: i64, micros: u32) -> String {
    let fmt = fmt.replace("%f", &format!("{micros:06}"));
    let Ok(cfmt) = std::ffi::CString::new(fmt) else { return String::new() };
    // SAFETY: localtime_r/strftime get valid pointers; the buffer size is
    // passed along.
    unsafe {
        let now: libc::time_t = secs;
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        let mut buf = vec![0u8; 512];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm);
        buf.truncate(n);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// `strftime(fmt, ns)`'s text: `ns` is on the boot clock (`nsecs`), turned
/// into the wall clock's time now.
pub fn boot_time_text(fmt: &str, boot_ns: u64) -> String {
    let now = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to write.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    let wall = i128::from(boot_ns) + now(libc::CLOCK_REALTIME) - now(libc::CLOCK_BOOTTIME);
    let secs = i64::try_from(wall.div_euclid(1_000_000_000)).unwrap_or(0);
    let micros = (wall.rem_euclid(1_000_000_000) / 1000) as u32;
    format_time(fmt, secs, micros)
}
