//! `profile [duration]`: BCC's profile. Stacks sampled at a frequency and
//! counted, printed at the end multi-line or folded, with kernel and user
//! symbols.

use std::time::Duration;

use bpfscope::{MapValue, Value};
use bpfscope_probes::symbols::Symbolizer;
use clap::Parser;

use super::{Tool, outln};
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "profile",
    summary: "Profile CPU stack traces at a timed interval.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/profile.bt");

const EXAMPLES: &str = "examples:
    ./profile             # profile stack traces at 49 Hertz until Ctrl-C
    ./profile -F 99       # profile stack traces at 99 Hertz
    ./profile 5           # profile at 49 Hertz for 5 seconds only
    ./profile -f 5        # output in folded format for flame graphs
    ./profile -p 185      # only profile process with PID 185
    ./profile -L 185      # only profile thread with TID 185
    ./profile -U          # only show user space stacks (no kernel)
    ./profile -K          # only show kernel space stacks (no user)";

#[derive(Parser)]
#[command(name = "profile", about = "Profile CPU stack traces at a timed interval", after_help = EXAMPLES)]
struct Args {
    /// profile process with this PID only
    #[arg(short, long)]
    pid: Option<u32>,
    /// profile thread with this TID only
    #[arg(short = 'L', long)]
    tid: Option<u32>,
    /// show stacks from user space only (no kernel space stacks)
    #[arg(short = 'U', long = "user-stacks-only", conflicts_with = "kernel_stacks_only")]
    user_stacks_only: bool,
    /// show stacks from kernel space only (no user space stacks)
    #[arg(short = 'K', long = "kernel-stacks-only")]
    kernel_stacks_only: bool,
    /// sample frequency, Hertz
    #[arg(short = 'F', long, default_value_t = 49, value_parser = clap::value_parser!(u64).range(1..))]
    frequency: u64,
    /// insert delimiter between kernel/user stacks
    #[arg(short, long)]
    delimited: bool,
    /// add _[k] annotations to kernel frames
    #[arg(short, long)]
    annotations: bool,
    /// include CPU idle stacks
    #[arg(short = 'I', long)]
    include_idle: bool,
    /// output folded format, one line per stack (for flame graphs)
    #[arg(short, long)]
    folded: bool,
    /// cpu number to run profile on
    #[arg(short = 'C', long)]
    cpu: Option<u32>,
    /// show raw addresses
    #[arg(short = 'A', long)]
    address: bool,
    /// also draw the stacks as a flame graph in FILE (SVG)
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    /// duration of trace, in seconds
    #[arg(default_value_t = 99_999_999, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
}

/// One sampled stack and how often it was seen.
struct Sample {
    pid: u32,
    comm: String,
    kernel: Vec<u64>,
    user: Vec<u64>,
    count: u64,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("profile", args)?;
    if let Some(path) = &a.svg {
        bpfscope_runtime::output::flamegraph::check_writable(path).map_err(|e| Error::Usage(format!("--svg: {e}")))?;
    }
    let params = [a.pid.unwrap_or(0), a.tid.unwrap_or(0), u32::from(a.include_idle), a.cpu.map_or(0, |c| c + 1)];
    let settings = Settings { params: params.iter().map(u32::to_string).collect(), ..Settings::default() };
    let stacks = if a.user_stacks_only {
        "ustack"
    } else if a.kernel_stacks_only {
        "kstack"
    } else {
        "kstack, ustack"
    };
    let program = PROGRAM.replace("__HZ__", &a.frequency.to_string()).replace("__STACKS__", stacks);
    let mut session = super::start("profile", program, &settings)?;
    if !a.folded {
        let threads = match (a.pid, a.tid) {
            (Some(p), _) => format!("PID {p}"),
            (None, Some(t)) => format!("TID {t}"),
            (None, None) => "all threads".to_string(),
        };
        let context = if a.user_stacks_only {
            "user"
        } else if a.kernel_stacks_only {
            "kernel"
        } else {
            "user + kernel"
        };
        let mut banner = format!("Sampling at {} Hertz of {threads} by {context} stack", a.frequency);
        if let Some(c) = a.cpu {
            banner.push_str(&format!(" on CPU#{c}"));
        }
        if a.duration < 99_999_999 {
            banner.push_str(&format!(" for {} secs.", a.duration));
        } else {
            banner.push_str("... Hit Ctrl-C to end.");
        }
        outln!("{banner}")?;
    }
    super::poll_for(&mut session, Duration::from_secs(a.duration))?;
    let mut samples = read_samples(&session, &a);
    // Before anything slower: processes may exit, taking their mappings.
    let symbols = Symbolizer::default();
    for s in &samples {
        symbols.prepare(s.pid);
    }
    session.finish(&mut |_| Ok(()))?;
    samples.sort_by_key(|s| s.count);
    if !a.folded {
        outln!()?;
    }
    for s in &samples {
        print_sample(s, &a, &symbols)?;
    }
    if let Some(path) = &a.svg {
        let stacks: Vec<_> = samples.iter().map(|s| (folded(s, &a, &symbols), s.count)).collect();
        let drawn = bpfscope_runtime::output::flamegraph::write_svg(path, "CPU Flame Graph", &stacks)
            .map_err(bpfscope_runtime::RunError::from)?;
        eprintln!("Wrote a flame graph of {drawn} samples to {}", path.display());
    }
    Ok(())
}

/// A sample's frames from the root down for a flame graph: the command,
/// its user frames, then its kernel frames (marked `_[k]`, so they are
/// coloured apart).
fn folded(s: &Sample, a: &Args, symbols: &Symbolizer) -> Vec<String> {
    let mut frames = vec![s.comm.clone()];
    frames.extend(names(symbols.user(s.pid, &s.user)).into_iter().rev());
    if a.delimited && !s.kernel.is_empty() && !s.user.is_empty() {
        frames.push("-".to_string());
    }
    frames.extend(names(symbols.kernel(&s.kernel)).into_iter().rev().map(|n| format!("{n}_[k]")));
    frames
}

/// The counted stacks, from the map's (pid, comm, stacks...) keys.
fn read_samples(session: &bpfscope_runtime::Session, a: &Args) -> Vec<Sample> {
    let entries = session.map("@counts").map(|m| m.entries()).unwrap_or_default();
    entries
        .into_iter()
        .filter_map(|(key, value)| {
            let (Some(Value::Tuple(k)), MapValue::Int(count)) = (key, value) else { return None };
            let stack = |i: usize| match k.get(i) {
                Some(Value::Stack(frames)) => frames.clone(),
                _ => Vec::new(),
            };
            let (kernel, user) = match (a.user_stacks_only, a.kernel_stacks_only) {
                (true, _) => (Vec::new(), stack(2)),
                (_, true) => (stack(2), Vec::new()),
                _ => (stack(2), stack(3)),
            };
            Some(Sample {
                pid: u32::try_from(k.first()?.as_int()?).ok()?,
                comm: k.get(1)?.as_str()?.to_string(),
                kernel,
                user,
                count: u64::try_from(count).ok()?,
            })
        })
        .collect()
}

/// The names of a stack's frames as BCC's `ksym`/`sym` give them: the
/// function without an offset (so that equal frames merge in a flame
/// graph), demangled, `[unknown]` where no symbol covers the address.
fn names(frames: Vec<Option<Vec<bpfscope_probes::symbols::Frame>>>) -> Vec<String> {
    frames
        .into_iter()
        .map(|f| f.and_then(|mut f| f.pop()).map_or_else(|| "[unknown]".to_string(), |f| f.name))
        .collect()
}

/// One stack, multi-line (BCC's default) or folded.
fn print_sample(s: &Sample, a: &Args, symbols: &Symbolizer) -> Result<(), Error> {
    let knames = names(symbols.kernel(&s.kernel));
    let unames = names(symbols.user(s.pid, &s.user));
    // BCC's aksym(): `_[k]` on kernel frames with -a, in both formats.
    let suffix = if a.annotations { "_[k]" } else { "" };
    let ksym = |i: usize| format!("{}{suffix}", knames[i]);
    let usym = |i: usize| unames[i].clone();
    let delimit = a.delimited && !a.user_stacks_only && !a.kernel_stacks_only;
    if a.folded {
        let mut line = vec![s.comm.clone()];
        line.extend((0..s.user.len()).rev().map(usym));
        if delimit && !s.kernel.is_empty() && !s.user.is_empty() {
            line.push("-".to_string());
        }
        line.extend((0..s.kernel.len()).rev().map(ksym));
        outln!("{} {}", line.join(";"), s.count)?;
        return Ok(());
    }
    for (i, &f) in s.kernel.iter().enumerate() {
        if a.address {
            outln!("    0x{f:<16x} {}", ksym(i))?;
        } else {
            outln!("    {}", ksym(i))?;
        }
    }
    if delimit && !s.kernel.is_empty() && !s.user.is_empty() {
        outln!("    --")?;
    }
    for (i, &f) in s.user.iter().enumerate() {
        if a.address {
            outln!("    0x{f:016x} {}", usym(i))?;
        } else {
            outln!("    {}", usym(i))?;
        }
    }
    outln!("    {:<16} {} ({})", "-", s.comm, s.pid)?;
    outln!("        {}\n", s.count)?;
    Ok(())
}
