//! `syscount`: BCC's syscount. System calls counted (and timed) by call
//! or by process at the raw_syscalls tracepoints; the top ones printed at
//! each interval and at the end.

use std::time::{Duration, Instant};

use bpfscope_runtime::Session;
use clap::Parser;
use syscalls::Sysno;

use super::{Tool, clock, outln};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "syscount",
    summary: "Summarize syscall counts and latencies.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/syscount.bt");

#[derive(Parser)]
#[command(name = "syscount", about = "Summarize syscall counts and latencies.")]
struct Args {
    /// trace only this pid
    #[arg(short, long)]
    pid: Option<u32>,
    /// trace only this tid
    #[arg(short, long)]
    tid: Option<u32>,
    /// print summary at this interval (seconds)
    #[arg(short, long, value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// total duration of trace, in seconds
    #[arg(short, long, value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// print only the top syscalls by count or latency
    #[arg(short = 'T', long, default_value_t = 10)]
    top: usize,
    /// trace only failed syscalls (return < 0)
    #[arg(short = 'x', long)]
    failures: bool,
    /// trace only syscalls that return this error (numeric or EPERM, etc.)
    #[arg(short, long, value_parser = parse_errno)]
    errno: Option<u32>,
    /// collect syscall latency
    #[arg(short = 'L', long)]
    latency: bool,
    /// display latency in milliseconds (default: microseconds)
    #[arg(short, long)]
    milliseconds: bool,
    /// count by process and not by syscall
    #[arg(short = 'P', long)]
    process: bool,
    /// print list of recognized syscalls and exit
    #[arg(short, long)]
    list: bool,
    /// trace this syscall only (use option -l to get all recognized syscalls)
    #[arg(long)]
    syscall: Option<String>,
    /// Serve the results at http://ADDR/metrics for Prometheus, until
    /// stopped, instead of printing them (bpfscope's addition).
    #[arg(long, value_name = "ADDR")]
    export: Option<String>,
}

/// An errno by number or by name (`EPERM`).
fn parse_errno(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    const NAMES: &[(&str, u32)] = &[
        ("EPERM", 1),
        ("ENOENT", 2),
        ("ESRCH", 3),
        ("EINTR", 4),
        ("EIO", 5),
        ("EBADF", 9),
        ("ECHILD", 10),
        ("EAGAIN", 11),
        ("ENOMEM", 12),
        ("EACCES", 13),
        ("EFAULT", 14),
        ("EBUSY", 16),
        ("EEXIST", 17),
        ("ENOTDIR", 20),
        ("EISDIR", 21),
        ("EINVAL", 22),
        ("EMFILE", 24),
        ("ENOTTY", 25),
        ("ENOSPC", 28),
        ("EPIPE", 32),
        ("ERANGE", 34),
        ("ENOSYS", 38),
        ("ENOTEMPTY", 39),
        ("ENOTSOCK", 88),
        ("EOPNOTSUPP", 95),
        ("ECONNREFUSED", 111),
        ("ETIMEDOUT", 110),
        ("EINPROGRESS", 115),
    ];
    NAMES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).ok_or_else(|| format!("couldn't map {s} to an errno"))
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("syscount", args)?;
    if a.list {
        return list();
    }
    let syscall = match &a.syscall {
        Some(name) => Some(
            Sysno::iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| Error::Usage(format!("syscall '{name}' not found")))?,
        ),
        None => None,
    };
    let params = [
        a.pid.unwrap_or(0),
        a.tid.unwrap_or(0),
        u32::from(a.failures),
        a.errno.unwrap_or(0),
        u32::from(a.latency),
        syscall.map_or(0, |s| s.id() as u32 + 1),
    ];
    let settings = Settings { params: params.iter().map(u32::to_string).collect(), ..Settings::default() };
    let key = if a.process { "pid" } else { "args.id" };
    if let Some(addr) = &a.export {
        let label: &[&str] = if a.process { &["pid"] } else { &["syscall"] };
        let words: Option<bpfscope::export::LabelWords> = (!a.process).then_some(syscall_name);
        let maps = [("@counts", label), ("@ns", label)];
        let session = || super::start("syscount", PROGRAM.replace("__KEY__", key), &settings);
        return super::export(addr, "syscount", session, &maps, words);
    }
    let mut session = super::start("syscount", PROGRAM.replace("__KEY__", key), &settings)?;
    let failed = if a.failures { "failed " } else { "" };
    match &a.syscall {
        Some(name) => outln!("Tracing {failed}syscall '{name}'... Ctrl+C to quit.")?,
        None => outln!("Tracing {failed}syscalls, printing top {}... Ctrl+C to quit.", a.top)?,
    }
    // As BCC: with -d alone, the summary comes at the end.
    let interval = Duration::from_secs(a.interval.or(a.duration).unwrap_or(99_999_999));
    let start = Instant::now();
    loop {
        let running = super::poll_for(&mut session, interval)?;
        let done = a.duration.is_some_and(|d| start.elapsed() >= Duration::from_secs(d));
        print_stats(&session, &a)?;
        if !running || done {
            outln!("Detaching...")?;
            break;
        }
    }
    session.finish(&mut |_| Ok(()))?;
    Ok(())
}

/// `-l`: the names, four to a line.
fn list() -> Result<(), Error> {
    let mut names: Vec<&str> = Sysno::iter().map(|s| s.name()).collect();
    names.sort_unstable();
    for row in names.chunks(4) {
        outln!("{}", row.iter().map(|n| format!("{n:<22}")).collect::<Vec<_>>().join("   ").trim_end())?;
    }
    Ok(())
}

/// One summary: the top rows by count (or by time with -L), then the
/// counters start again.
fn print_stats(session: &Session, a: &Args) -> Result<(), Error> {
    // BCC skips the key -1 (a system call number the kernel reports for
    // some exits), as do we.
    let read = |name: &str| -> Vec<(i64, u64)> {
        let all: Vec<(i64, u64)> = session.map(name).and_then(|m| m.entries_as()).unwrap_or_default();
        all.into_iter().filter(|&(k, _)| k != -1).collect()
    };
    let counts = read("@counts");
    let column = if a.process { "PID    COMM" } else { "SYSCALL" };
    outln!("[{}]", clock())?;
    if a.latency {
        let mut times = read("@ns");
        times.sort_by_key(|&(_, ns)| std::cmp::Reverse(ns));
        outln!("{column:<22} {:>8} {:>16}", "COUNT", if a.milliseconds { "TIME (ms)" } else { "TIME (us)" })?;
        for (key, ns) in times.into_iter().take(a.top) {
            let n = counts.iter().find(|(k, _)| *k == key).map_or(0, |c| c.1);
            let time =
                if a.milliseconds { format!("{:16.6}", ns as f64 / 1e6) } else { format!("{:16.3}", ns as f64 / 1e3) };
            outln!("{:<22} {n:>8} {time}", label(key, a.process))?;
        }
    } else {
        let mut counts = counts;
        counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        outln!("{column:<22} {:>8}", "COUNT")?;
        for (key, n) in counts.into_iter().take(a.top) {
            outln!("{:<22} {n:>8}", label(key, a.process))?;
        }
    }
    outln!()?;
    for name in ["@counts", "@ns"] {
        if let Some(m) = session.map(name) {
            m.clear();
        }
    }
    Ok(())
}

/// A row's first column: the system call's name, or the pid and its comm.
fn label(key: i64, process: bool) -> String {
    if process {
        let comm = std::fs::read_to_string(format!("/proc/{key}/comm"));
        return format!("{key:<6} {:<15}", comm.as_deref().map_or("[unknown]", str::trim_end));
    }
    match usize::try_from(key).ok().and_then(Sysno::new) {
        Some(s) => s.name().to_string(),
        None => format!("[unknown: {key}]"),
    }
}

/// A system call's name for its number, as a label's value.
fn syscall_name(_map: &str, _index: usize, id: &bpfscope_runtime::Value) -> Option<String> {
    Sysno::new(usize::try_from(id.as_int()?).ok()?).map(|s| s.name().to_string())
}
