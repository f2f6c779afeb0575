//! `opensnoop`: BCC's opensnoop. One row per open(), openat() or
//! openat2() call, from the system call tracepoints.

use std::time::Duration;

use clap::Parser;

use super::{Tool, int, text};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool =
    Tool { name: "opensnoop", summary: "Trace open() syscalls.", main, args: <Args as clap::CommandFactory>::command };

const PROGRAM: &str = include_str!("../../../../tools/opensnoop.bt");

const EXAMPLES: &str = "examples:
    ./opensnoop                        # trace all open() syscalls
    ./opensnoop -T                     # include timestamps
    ./opensnoop -U                     # include UID
    ./opensnoop -x                     # only show failed opens
    ./opensnoop -p 181                 # only trace PID 181
    ./opensnoop -t 123                 # only trace TID 123
    ./opensnoop -u 1000                # only trace UID 1000
    ./opensnoop -d 10                  # trace for 10 seconds only
    ./opensnoop -n main                # only print process names containing \"main\"
    ./opensnoop -e                     # show extended fields";

#[derive(Parser)]
#[command(name = "opensnoop", about = "Trace open() syscalls", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// print UID column
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// only show failed opens
    #[arg(short = 'x', long)]
    failed: bool,
    /// trace this PID only
    #[arg(short, long)]
    pid: Option<u32>,
    /// trace this TID only
    #[arg(short, long)]
    tid: Option<u32>,
    /// trace this UID only
    #[arg(short, long)]
    uid: Option<u32>,
    /// total duration of trace in seconds
    #[arg(short, long)]
    duration: Option<u64>,
    /// only print process names containing this name
    #[arg(short, long)]
    name: Option<String>,
    /// show extended fields
    #[arg(short, long = "extended_fields")]
    extended_fields: bool,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("opensnoop", args)?;
    let params = [a.pid.unwrap_or(0), a.tid.unwrap_or(0), a.uid.map_or(0, |u| u + 1)];
    let settings = Settings { params: params.iter().map(u32::to_string).collect(), ..Settings::default() };
    let mut first_ts = None;
    let row = |e: &[bpfscope::Value]| {
        let (ts, uid, pid, tid, comm, ret) = (int(e, 0), int(e, 1), int(e, 2), int(e, 3), text(e, 4), int(e, 5));
        if (a.failed && ret >= 0) || a.name.as_ref().is_some_and(|n| !comm.contains(n.as_str())) {
            return None;
        }
        let mut line = String::new();
        if a.timestamp {
            let delta = ts - *first_ts.get_or_insert(ts);
            line.push_str(&format!("{:<14.9}", delta as f64 / 1e9));
        }
        if a.print_uid {
            line.push_str(&format!("{uid:<6}"));
        }
        let (fd, err) = if ret >= 0 { (ret, 0) } else { (-1, -ret) };
        let id = if a.tid.is_some() { tid } else { pid };
        line.push_str(&format!("{id:<6} {comm:<16} {fd:>4} {err:>3} "));
        if a.extended_fields {
            let (flags, mode) = (int(e, 6), int(e, 7));
            // Without O_CREAT or O_TMPFILE, open(2) ignores the mode.
            if mode == 0 && flags & 0o100 == 0 && flags & 0o20200000 != 0o20200000 {
                line.push_str(&format!("{flags:08o} n/a  "));
            } else {
                line.push_str(&format!("{flags:08o} {mode:04o} "));
            }
        }
        line.push_str(text(e, 8));
        Some(line)
    };
    super::run_rows("opensnoop", PROGRAM.to_string(), &settings, &header(&a), a.duration.map(Duration::from_secs), row)
}

/// BCC's header for the columns chosen.
fn header(a: &Args) -> String {
    let mut h = String::new();
    if a.timestamp {
        h.push_str(&format!("{:<14}", "TIME(s)"));
    }
    if a.print_uid {
        h.push_str(&format!("{:<6}", "UID"));
    }
    h.push_str(&format!("{:<6} {:<16} {:>4} {:>3} ", if a.tid.is_some() { "TID" } else { "PID" }, "COMM", "FD", "ERR"));
    if a.extended_fields {
        h.push_str(&format!("{:<8} {:<4} ", "FLAGS", "MODE"));
    }
    h.push_str("PATH");
    h
}
