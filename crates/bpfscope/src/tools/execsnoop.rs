//! `execsnoop`: BCC's execsnoop. One row per execve(), with its
//! arguments, from the system call tracepoints.

use std::collections::HashMap;
use std::time::Instant;

use clap::Parser;

use super::{Tool, clock, int, text};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool =
    Tool { name: "execsnoop", summary: "Trace exec() syscalls.", main, args: <Args as clap::CommandFactory>::command };

const PROGRAM: &str = include_str!("../../../../tools/execsnoop.bt");

const EXAMPLES: &str = "examples:
    ./execsnoop           # trace all exec() syscalls
    ./execsnoop -x        # include failed exec()s
    ./execsnoop -T        # include time (HH:MM:SS)
    ./execsnoop -P 181    # only trace new processes whose parent PID is 181
    ./execsnoop -U        # include UID
    ./execsnoop -u 1000   # only trace UID 1000
    ./execsnoop -u user   # get user UID and trace only them
    ./execsnoop -t        # include timestamps
    ./execsnoop -q        # add \"quotemarks\" around arguments
    ./execsnoop -n main   # only print command lines containing \"main\"
    ./execsnoop -l tpkg   # only print command where arguments contains \"tpkg\"";

#[derive(Parser)]
#[command(name = "execsnoop", about = "Trace exec() syscalls", after_help = EXAMPLES)]
struct Args {
    /// include time column on output (HH:MM:SS)
    #[arg(short = 'T', long)]
    time: bool,
    /// include timestamp on output
    #[arg(short = 't', long)]
    timestamp: bool,
    /// include failed exec()s
    #[arg(short = 'x', long)]
    fails: bool,
    /// trace this UID only (a number or a user name)
    #[arg(short, long, value_parser = parse_uid)]
    uid: Option<u32>,
    /// Add quotemarks (") around arguments.
    #[arg(short, long)]
    quote: bool,
    /// only print commands whose name contains this
    #[arg(short, long)]
    name: Option<String>,
    /// only print commands whose arguments contain this
    #[arg(short, long)]
    line: Option<String>,
    /// print UID column
    #[arg(short = 'U', long)]
    print_uid: bool,
    /// print CPU column
    #[arg(short = 'C', long)]
    print_cpu: bool,
    /// print parent process comm
    #[arg(short = 'M', long)]
    print_pcomm: bool,
    /// maximum number of arguments parsed and displayed
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=64))]
    max_args: u32,
    /// trace this parent PID only
    #[arg(short = 'P', long)]
    ppid: Option<u32>,
}

/// A uid, or a user name looked up in /etc/passwd.
fn parse_uid(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&s)).then(|| f.get(2)?.parse().ok()).flatten()
            })
        })
        .ok_or_else(|| format!("no user named '{s}'"))
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("execsnoop", args)?;
    let params = [a.max_args, a.uid.map_or(0, |u| u + 1)];
    let settings = Settings { params: params.iter().map(u32::to_string).collect(), ..Settings::default() };
    let start = Instant::now();
    let mut argv: HashMap<i128, Vec<String>> = HashMap::new();
    let row = |e: &[bpfscope::Value]| {
        let pid = int(e, 1);
        if int(e, 0) == 0 {
            argv.entry(pid).or_default().push(text(e, 2).to_string());
            return None;
        }
        let args = argv.remove(&pid).unwrap_or_default();
        let (ret, comm, cpu, uid) = (int(e, 2), text(e, 3), int(e, 4), int(e, 5));
        let ppid = u32::try_from(int(e, 6)).ok().filter(|&p| p > 0).or_else(|| parent_of(pid));
        let joined = args.join(" ");
        let skip = (ret != 0 && !a.fails)
            || a.name.as_ref().is_some_and(|n| !comm.contains(n.as_str()))
            || a.line.as_ref().is_some_and(|l| !joined.contains(l.as_str()))
            || a.ppid.is_some_and(|p| ppid != Some(p));
        if skip {
            return None;
        }
        let args: Vec<String> =
            if a.quote { args.iter().map(|s| format!("\"{}\"", s.replace('"', "\\\""))).collect() } else { args };
        let mut line = String::new();
        if a.time {
            line.push_str(&format!("{:<9}", clock()));
        }
        if a.timestamp {
            line.push_str(&format!("{:<8.3}", start.elapsed().as_secs_f64()));
        }
        if a.print_uid {
            line.push_str(&format!("{uid:<6}"));
        }
        line.push_str(&format!("{comm:<16} {pid:<7} "));
        if a.print_pcomm {
            let pcomm = ppid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok()).unwrap_or_default();
            line.push_str(&format!("{:<16} ", pcomm.trim_end()));
        }
        line.push_str(&format!("{:<7} ", ppid.map_or("?".to_string(), |p| p.to_string())));
        if a.print_cpu {
            line.push_str(&format!("{cpu:<4} "));
        }
        line.push_str(&format!("{ret:>3} {}", args.join(" ").replace('\n', "\\n")));
        Some(line)
    };
    super::run_rows("execsnoop", PROGRAM.to_string(), &settings, &header(&a), None, row)
}

/// The parent of a process, while it lives (as BCC's fallback reads it).
fn parent_of(pid: i128) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|p| p.trim().parse().ok()).filter(|&p| p > 0)
}

fn header(a: &Args) -> String {
    let mut h = String::new();
    if a.time {
        h.push_str(&format!("{:<9}", "TIME"));
    }
    if a.timestamp {
        h.push_str(&format!("{:<8}", "TIME(s)"));
    }
    if a.print_uid {
        h.push_str(&format!("{:<6}", "UID"));
    }
    h.push_str(&format!("{:<16} {:<7} ", "COMM", "PID"));
    if a.print_pcomm {
        h.push_str(&format!("{:<16} ", "PCOMM"));
    }
    h.push_str(&format!("{:<7} ", "PPID"));
    if a.print_cpu {
        h.push_str(&format!("{:<4} ", "CPU"));
    }
    h.push_str(&format!("{:>3} {}", "RET", "ARGS"));
    h
}
