//! `biolatency [interval] [count]`: BCC's biolatency. Block I/O latency
//! histograms from the block tracepoints, printed as BCC prints them.

use bpfscope::{MapValue, Value};
use bpfscope_runtime::Session;
use clap::Parser;

use super::bcc::log2_hist;
use super::{Tool, outln};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "biolatency",
    summary: "Summarize block device I/O latency as a histogram.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/biolatency.bt");

const EXAMPLES: &str = "examples:
    ./biolatency                    # summarize block I/O latency as a histogram
    ./biolatency 1 10               # print 1 second summaries, 10 times
    ./biolatency -mT 1              # 1s summaries, milliseconds, and timestamps
    ./biolatency -Q                 # include OS queued time in I/O time
    ./biolatency -D                 # show each disk device separately
    ./biolatency -F                 # show I/O flags separately
    ./biolatency -e                 # show extension summary(total, average)
    ./biolatency -d sdc             # Trace sdc only";

#[derive(Parser)]
#[command(name = "biolatency", about = "Summarize block device I/O latency as a histogram", after_help = EXAMPLES)]
struct Args {
    /// include timestamp on output
    #[arg(short = 'T', long)]
    timestamp: bool,
    /// include OS queued time in I/O time
    #[arg(short = 'Q', long)]
    queued: bool,
    /// millisecond histogram
    #[arg(short, long)]
    milliseconds: bool,
    /// print a histogram per disk device
    #[arg(short = 'D', long)]
    disks: bool,
    /// print a histogram per set of I/O flags
    #[arg(short = 'F', long)]
    flags: bool,
    /// summarize average/total value
    #[arg(short, long)]
    extension: bool,
    /// Trace this disk only
    #[arg(short, long)]
    disk: Option<String>,
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
    let a: Args = super::parse_args("biolatency", args)?;
    let disks = disk_names();
    let dev = match &a.disk {
        Some(name) => Some(
            disks
                .iter()
                .find(|(_, n)| n == name)
                .map(|(d, _)| *d)
                .ok_or_else(|| Error::Usage(format!("no disk named '{name}'")))?,
        ),
        None => None,
    };
    let unit = if a.milliseconds { 1_000_000 } else { 1000 };
    let settings =
        Settings { params: vec![dev.map_or(0, |d| d + 1).to_string(), unit.to_string()], ..Settings::default() };
    let key = if a.disks {
        "[args.dev]"
    } else if a.flags {
        "[args.rwbs]"
    } else {
        ""
    };
    let start = if a.queued { "block_rq_insert" } else { "block_rq_issue" };
    let program = PROGRAM.replace("__START__", start).replace("__KEY__", key);
    if let Some(addr) = &a.export {
        let label: &[&str] = if a.disks {
            &["dev"]
        } else if a.flags {
            &["flags"]
        } else {
            &[]
        };
        let maps = [("@dist", label), ("@total", &[][..]), ("@count", &[][..])];
        return super::export(addr, "biolatency", || super::start("biolatency", program, &settings), &maps, None);
    }
    let session = super::start("biolatency", program, &settings)?;
    outln!("Tracing block device I/O... Hit Ctrl-C to end.")?;
    let label = if a.milliseconds { "msecs" } else { "usecs" };
    let cleared = ["@dist", "@total", "@count"];
    super::summaries(session, a.interval, a.count, a.timestamp, &cleared, |s| print_dists(s, &a, label, &disks))
}

/// The histogram (or one per disk or per flags), and with -e the average.
fn print_dists(session: &Session, a: &Args, label: &str, disks: &[(u64, String)]) -> Result<(), Error> {
    let entries = session.map("@dist").map(|m| m.entries()).unwrap_or_default();
    for (key, value) in &entries {
        let MapValue::Histogram(buckets) = value else { continue };
        match key {
            Some(Value::Int(dev)) => {
                let name = disks.iter().find(|(d, _)| i128::from(*d) == *dev).map_or("?", |(_, n)| n.as_str());
                outln!("\ndisk = {name}")?;
            }
            Some(Value::Str(rwbs)) => outln!("\nflags = {}", flags_text(rwbs))?,
            _ => {}
        }
        super::outtext(&log2_hist(buckets, label))?;
    }
    if a.extension {
        let number = |name: &str| match session.map(name).and_then(|m| m.entries().pop()) {
            Some((_, MapValue::Int(n))) => n,
            _ => 0,
        };
        let (total, count) = (number("@total"), number("@count"));
        if count > 0 {
            outln!("\navg = {} {label}, total: {total} {label}, count: {count}\n", total / count)?;
        }
    }
    Ok(())
}

/// Disk device numbers (as the block tracepoints write them: major << 20
/// | minor) and names, from /proc/diskstats.
fn disk_names() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let major: u64 = f.next()?.parse().ok()?;
            let minor: u64 = f.next()?.parse().ok()?;
            Some((major << 20 | minor, f.next()?.to_string()))
        })
        .collect()
}

/// The tracepoint's `rwbs` flags as BCC names the request flags:
/// `Sync-Write`, `ReadAhead-Read`, `ForcedUnitAccess-Sync-Write`...
fn flags_text(rwbs: &str) -> String {
    let mut chars = rwbs.chars().peekable();
    // A leading F is a flush before the operation.
    let preflush = rwbs.len() > 1 && chars.next_if_eq(&'F').is_some();
    let op = match chars.next() {
        Some('R') => "Read",
        Some('W') => "Write",
        Some('D') => "Discard",
        Some('E') => "SecureErase",
        Some('F') => "Flush",
        _ if preflush => "Flush",
        _ => "Unknown",
    };
    let rest: String = chars.collect();
    let mut desc = op.to_string();
    for (flag, name) in [('S', "Sync"), ('M', "Metadata"), ('F', "ForcedUnitAccess"), ('A', "ReadAhead")] {
        if rest.contains(flag) {
            desc = format!("{name}-{desc}");
        }
    }
    desc
}

#[cfg(test)]
mod tests {
    use super::flags_text;

    #[test]
    fn flags_as_bcc_names_them() {
        assert_eq!(flags_text("WS"), "Sync-Write");
        assert_eq!(flags_text("R"), "Read");
        assert_eq!(flags_text("RA"), "ReadAhead-Read");
        assert_eq!(flags_text("WFS"), "ForcedUnitAccess-Sync-Write");
        assert_eq!(flags_text("FWS"), "Sync-Write");
        assert_eq!(flags_text("WSM"), "Metadata-Sync-Write");
    }
}
