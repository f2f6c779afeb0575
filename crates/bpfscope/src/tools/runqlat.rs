//! `runqlat [interval] [count]`: BCC's runqlat. Scheduler run queue
//! latency histograms from the sched raw tracepoints, printed as BCC
//! prints them.

use bpfscope::{Bucket, MapValue, Value};
use clap::Parser;

use super::bcc::log2_hist;
use super::{Tool, outln};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "runqlat",
    summary: "Summarize run queue (scheduler) latency as a histogram.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/runqlat.bt");

const EXAMPLES: &str = "examples:
    ./runqlat            # summarize run queue latency as a histogram
    ./runqlat 1 10       # print 1 second summaries, 10 times
    ./runqlat -mT 1      # 1s summaries, milliseconds, and timestamps
    ./runqlat -P         # show each PID separately
    ./runqlat -p 185     # trace PID 185 only
    ./runqlat -L         # show each TID separately";

#[derive(Parser)]
#[command(name = "runqlat", about = "Summarize run queue (scheduler) latency as a histogram", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// millisecond histogram
    #[arg(short, long)]
    milliseconds: bool,
    /// print a histogram per process ID
    #[arg(short = 'P', long)]
    pids: bool,
    /// print a histogram per thread ID
    #[arg(short = 'L', long, conflicts_with = "pids")]
    tids: bool,
    /// trace this PID only
    #[arg(short, long)]
    pid: Option<u32>,
    /// output interval, in seconds
    #[arg(default_value_t = 99_999_999, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// number of outputs
    #[arg(default_value_t = 99_999_999, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Serve the results at http://ADDR/metrics for Prometheus, until
    /// stopped, instead of printing them (bpfscope's addition).
    #[arg(long, value_name = "ADDR")]
    export: Option<String>,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("runqlat", args)?;
    let unit = if a.milliseconds { 1_000_000 } else { 1000 };
    let settings = Settings { params: vec![a.pid.unwrap_or(0).to_string(), unit.to_string()], ..Settings::default() };
    let key = if a.pids {
        "[args.next->tgid]"
    } else if a.tids {
        "[args.next->pid]"
    } else {
        ""
    };
    if let Some(addr) = &a.export {
        let label: &[&str] = if a.pids {
            &["pid"]
        } else if a.tids {
            &["tid"]
        } else {
            &[]
        };
        let session = || super::start("runqlat", PROGRAM.replace("__KEY__", key), &settings);
        return super::export(addr, "runqlat", session, &[("@dist", label)], None);
    }
    let session = super::start("runqlat", PROGRAM.replace("__KEY__", key), &settings)?;
    outln!("Tracing run queue latency... Hit Ctrl-C to end.")?;
    let label = if a.milliseconds { "msecs" } else { "usecs" };
    super::summaries(session, a.interval, a.count, a.timestamp, &["@dist"], |session| {
        let entries = session.map("@dist").map(|m| m.entries()).unwrap_or_default();
        for (section, buckets) in entries.into_iter().filter_map(section) {
            if let Some(id) = section {
                outln!("\n{} = {id}", if a.pids { "pid" } else { "tid" })?;
            }
            super::outtext(&log2_hist(&buckets, label))?;
        }
        Ok(())
    })
}

/// A histogram and its section's id (none without -P or -L).
fn section((key, value): (Option<Value>, MapValue)) -> Option<(Option<i128>, Vec<Bucket>)> {
    match value {
        MapValue::Histogram(buckets) => Some((key.as_ref().and_then(Value::as_int), buckets)),
        _ => None,
    }
}
