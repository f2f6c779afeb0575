//! `gethostlatency [-p PID]`: BCC's gethostlatency. The latency of
//! getaddrinfo, gethostbyname and gethostbyname2 calls, from uprobes on
//! libc (found as BCC finds "c").

use clap::Parser;

use super::Tool;
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "gethostlatency",
    summary: "Show latency for getaddrinfo/gethostbyname[2] calls.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/gethostlatency.bt");

#[derive(Parser)]
#[command(
    name = "gethostlatency",
    about = "Show latency for getaddrinfo/gethostbyname[2] calls",
    after_help = "examples:\n    gethostlatency           # time getaddrinfo/gethostbyname[2] calls\n    gethostlatency -p 181    # only trace PID 181"
)]
struct Args {
    /// Trace this PID only.
    #[arg(short, long)]
    pid: Option<u32>,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("gethostlatency", args)?;
    super::run("gethostlatency", PROGRAM.to_string(), Settings { pid: a.pid, ..Settings::default() })
}
