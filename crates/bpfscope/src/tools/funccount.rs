//! `funccount PATTERN`: BCC's funccount. Counts calls of the kernel
//! functions, user functions, tracepoints or USDT probes a pattern names,
//! printed at each interval and at the end.

use std::time::{Duration, Instant};

use clap::Parser;

use super::{Tool, clock, outln};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "funccount",
    summary: "Count functions, tracepoints and USDT probes.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/funccount.bt");

const EXAMPLES: &str = "examples:
    ./funccount 'vfs_*'             # count kernel fns starting with \"vfs\"
    ./funccount -p 185 'vfs_*'      # count vfs calls for PID 181 only
    ./funccount t:sched:sched_fork  # count calls to the sched_fork tracepoint
    ./funccount -p 185 u:node:gc*   # count all GC USDT probes in node, PID 185
    ./funccount c:malloc            # count all malloc() calls in libc
    ./funccount go:os.*             # count all \"os.*\" calls in libgo
    ./funccount -p 185 go:os.*      # count all \"os.*\" calls in libgo, PID 185
    ./funccount ./test:read*        # count \"read*\" calls in the ./test binary
    ./funccount -c 1 'vfs_*'        # count vfs calls on CPU 1 only";

#[derive(Parser)]
#[command(name = "funccount", about = "Count functions, tracepoints, and USDT probes", after_help = EXAMPLES)]
struct Args {
    /// trace this PID only
    #[arg(short, long)]
    pid: Option<u32>,
    /// summary interval, seconds
    #[arg(short, long, value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// total duration of trace, seconds
    #[arg(short, long, value_parser = clap::value_parser!(u64).range(1..))]
    duration: Option<u64>,
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// use regular expressions (not supported: patterns use * wildcards)
    #[arg(short, long)]
    regexp: bool,
    /// trace this CPU only
    #[arg(short, long)]
    cpu: Option<u32>,
    /// search expression for events
    pattern: String,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("funccount", args)?;
    if a.regexp {
        return Err(Error::Usage("funccount: -r is not supported; write the pattern with * wildcards".into()));
    }
    let probe = attach_point(&a.pattern)?;
    let params = [a.pid.unwrap_or(0), a.cpu.map_or(0, |c| c + 1)];
    // Kernel functions: through fentry where the kernel has no kprobes.
    let settings = Settings {
        params: params.iter().map(u32::to_string).collect(),
        pid: a.pid,
        fallback: true,
        ..Settings::default()
    };
    let mut session = super::start("funccount", PROGRAM.replace("__PROBES__", &probe), &settings)?;
    outln!("Tracing {} functions for \"{}\"... Hit Ctrl-C to end.", session.probe_count(), a.pattern)?;
    let interval = Duration::from_secs(a.interval.or(a.duration).unwrap_or(99_999_999));
    let start = Instant::now();
    loop {
        let running = super::poll_for(&mut session, interval)?;
        let done = !running || a.duration.is_some_and(|d| start.elapsed() >= Duration::from_secs(d));
        outln!()?;
        if a.timestamp {
            outln!("{:<8}", clock())?;
        }
        outln!("{:<36} {:>8}", "FUNC", "COUNT")?;
        let mut counts: Vec<(String, u64)> = session.map("@counts").and_then(|m| m.entries_as()).unwrap_or_default();
        counts.sort_by_key(|c| c.1);
        for (probe, n) in counts.iter().filter(|c| c.1 > 0) {
            outln!("{:<36} {n:>8}", name(probe))?;
        }
        if done {
            outln!("Detaching...")?;
            break;
        }
        if let Some(m) = session.map("@counts") {
            m.clear();
        }
    }
    session.finish(&mut |_| Ok(()))?;
    Ok(())
}

/// BCC's pattern as an attach point: `func` and `p::func` for kernel
/// functions, `lib:func` and `p:lib:func` for user ones, `t:cat:event`,
/// `u:lib:probe`.
fn attach_point(pattern: &str) -> Result<String, Error> {
    let parts: Vec<&str> = pattern.split(':').collect();
    let probe = match parts.as_slice() {
        [func] | ["p", "", func] => format!("kprobe:{func}"),
        [lib, func] | ["p", lib, func] => format!("uprobe:{lib}:{func}"),
        ["t", category, event] => format!("tracepoint:{category}:{event}"),
        ["u", lib, probe] => format!("usdt:{lib}:{probe}"),
        [kind, _, _] => {
            return Err(Error::Usage(format!("Type must be 'p', 't', or 'u', but got {kind}")));
        }
        _ => return Err(Error::Usage(format!("Too many ':'-separated components in pattern {pattern}"))),
    };
    Ok(probe)
}

/// A row's name, as BCC shows it: the function, `category:event`, or the
/// USDT probe.
fn name(probe: &str) -> &str {
    match probe.split_once(':') {
        Some(("tracepoint", rest)) => rest,
        Some((_, rest)) => rest.rsplit(':').next().unwrap_or(rest),
        None => probe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_as_bcc_reads_them() {
        let ap = |p: &str| attach_point(p).unwrap_or_else(|e| e.to_string());
        assert_eq!(ap("vfs_*"), "kprobe:vfs_*");
        assert_eq!(ap("p::vfs_read"), "kprobe:vfs_read");
        assert_eq!(ap("c:malloc"), "uprobe:c:malloc");
        assert_eq!(ap("p:/bin/bash:readline"), "uprobe:/bin/bash:readline");
        assert_eq!(ap("t:sched:sched_fork"), "tracepoint:sched:sched_fork");
        assert_eq!(ap("u:node:gc*"), "usdt:node:gc*");
        assert_eq!(ap("x:a:b"), "Type must be 'p', 't', or 'u', but got x");
        assert_eq!(name("uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc"), "malloc");
        assert_eq!(name("tracepoint:sched:sched_fork"), "sched:sched_fork");
        assert_eq!(name("kprobe:vfs_read"), "vfs_read");
    }
}
