//! `killsnoop`: BCC's killsnoop. One row per kill() call, from the system
//! call tracepoints.

use clap::Parser;

use super::{Tool, clock, int, text};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "killsnoop",
    summary: "Trace signals issued by the kill() syscall.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/killsnoop.bt");

const EXAMPLES: &str = "examples:
    ./killsnoop           # trace all kill() signals
    ./killsnoop -x        # only show failed kills
    ./killsnoop -p 181    # only trace PID 181
    ./killsnoop -T 189    # only trace target PID 189
    ./killsnoop -s 9      # only trace signal 9";

#[derive(Parser)]
#[command(name = "killsnoop", about = "Trace signals issued by the kill() syscall", after_help = EXAMPLES)]
struct Args {
    /// only show failed kill syscalls
    #[arg(short = 'x', long)]
    failed: bool,
    /// trace this PID only which is the sender of signal
    #[arg(short, long)]
    pid: Option<u32>,
    /// trace this target PID only which is the receiver of signal
    #[arg(short = 'T', long)]
    tpid: Option<u32>,
    /// trace this signal only
    #[arg(short, long)]
    signal: Option<u32>,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("killsnoop", args)?;
    let params = [a.pid, a.tpid, a.signal].map(|p| p.unwrap_or(0).to_string());
    let settings = Settings { params: params.to_vec(), ..Settings::default() };
    // BCC sizes the pid columns to the largest pid, plus one.
    let width = std::fs::read_to_string("/proc/sys/kernel/pid_max").map_or(6, |s| s.trim().len() + 1);
    let header = format!("{:<9} {:<width$} {:<16} {:<4} {:<width$} RESULT", "TIME", "PID", "COMM", "SIG", "TPID");
    let row = |e: &[bpfscope::Value]| {
        let (pid, comm, sig, tpid, ret) = (int(e, 0), text(e, 1), int(e, 2), int(e, 3), int(e, 4));
        (!a.failed || ret < 0).then(|| format!("{:<9} {pid:<width$} {comm:<16} {sig:<4} {tpid:<width$} {ret}", clock()))
    };
    super::run_rows("killsnoop", PROGRAM.to_string(), &settings, &header, None, row)
}
