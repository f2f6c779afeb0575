//! Ready-made tools in the BCC tradition. Each is a program in our
//! language under `tools/` (embedded here), with BCC's options turned into
//! its parameters: `bpfscope tool NAME ARGS`, or `NAME ARGS` through a link
//! that `bpfscope --install-tools DIR` makes.

mod bashreadline;
mod bcc;
mod biolatency;
mod execsnoop;
mod funccount;
mod gethostlatency;
mod killsnoop;
mod opensnoop;
mod profile;
mod runqlat;
mod syscount;
mod tcpconnect;
mod trace;
mod vfsstat;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bpfscope_lang::Source;
use bpfscope_runtime::{EventRef, RunError, Session, Value};

use bpfscope::error::Error;
use bpfscope::pipeline::{self, Settings};

/// `println!` that returns the write's error (a closed pipe ends a tool
/// quietly) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(bpfscope_runtime::RunError::Io)
    }};
}
pub(crate) use outln;

/// A tool: its name, a line about it, its entry point (given the
/// arguments after its name) and its options (for help, completions and
/// its man page).
pub struct Tool {
    pub name: &'static str,
    pub summary: &'static str,
    pub main: fn(&[String]) -> Result<(), Error>,
    pub args: fn() -> clap::Command,
}

pub const TOOLS: &[Tool] = &[
    bashreadline::TOOL,
    biolatency::TOOL,
    execsnoop::TOOL,
    funccount::TOOL,
    gethostlatency::TOOL,
    killsnoop::TOOL,
    opensnoop::TOOL,
    profile::TOOL,
    runqlat::TOOL,
    syscount::TOOL,
    tcpconnect::TOOL,
    trace::TOOL,
    vfsstat::TOOL,
];

/// Runs a tool when the command line asks for one: `bpfscope tool NAME
/// ...`, `bpfscope tools`, or this binary called through a link named
/// after a tool. `None` when it does not.
pub fn dispatch() -> Option<Result<(), Error>> {
    let args: Vec<String> = std::env::args().collect();
    let called = args.first().map(|a| Path::new(a).file_name().map_or(a.as_str(), |n| n.to_str().unwrap_or("")));
    if let Some(tool) = called.and_then(find) {
        return Some((tool.main)(&args[1..]));
    }
    match args.get(1).map(String::as_str) {
        Some("tools") => Some(list()),
        Some("tool") => Some(match args.get(2) {
            Some(name) => match find(name) {
                Some(tool) => (tool.main)(&args[3..]),
                None => Err(unknown(name)),
            },
            None => Err(Error::Usage("usage: bpfscope tool NAME [ARGS]; `bpfscope tools` lists them".into())),
        }),
        _ => None,
    }
}

fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

fn unknown(name: &str) -> Error {
    let mut message = format!("no tool named '{name}'");
    if let Some(c) = bpfscope_lang::suggest::closest(name, TOOLS.iter().map(|t| t.name)) {
        message.push_str(&format!(" (did you mean '{c}'?)"));
    }
    Error::Usage(format!("{message}; `bpfscope tools` lists them"))
}

/// `bpfscope tools`: one line each.
fn list() -> Result<(), Error> {
    for t in TOOLS {
        outln!("{:<16} {}", t.name, t.summary)?;
    }
    Ok(())
}

/// `--install-tools DIR`: a link per tool to this binary.
pub fn install(dir: &Path) -> Result<(), Error> {
    let exe = std::env::current_exe().map_err(|e| Error::Usage(format!("cannot find this program: {e}")))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
    for t in TOOLS {
        let link = dir.join(t.name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link)
            .map_err(|e| Error::Usage(format!("cannot create {}: {e}", link.display())))?;
    }
    outln!("installed {} tools in {}", TOOLS.len(), dir.display())?;
    Ok(())
}

/// Parses a tool's arguments as BCC's argparse would; `--help` prints the
/// usage and ends the run successfully.
fn parse_args<T: clap::Parser>(name: &str, args: &[String]) -> Result<T, Error> {
    T::try_parse_from(std::iter::once(name.to_string()).chain(args.iter().cloned())).map_err(|e| {
        if e.use_stderr() {
            let text = e.to_string();
            Error::Usage(text.strip_prefix("error: ").unwrap_or(&text).trim_end().to_string())
        } else {
            let _ = e.print();
            Error::Exit(0)
        }
    })
}

/// Runs a tool's program text, quietly (no `Attached` line).
fn run(name: &str, text: String, settings: Settings) -> Result<(), Error> {
    run_events(name, text, &settings, None, None, |e| Some(e.text().into_owned()))
}

/// Compiles, loads and attaches a tool's program; from then on SIGINT and
/// SIGTERM end its run.
fn start(name: &str, text: String, settings: &Settings) -> Result<Session, Error> {
    // As BCC's tools: root first, with one line saying so, rather than an
    // error per probe of a program the user did not write.
    if let Some(refusal) = bpfscope_runtime::privileges::check() {
        return Err(RunError::Privileges(refusal).into());
    }
    bpfscope_runtime::signals::install();
    let session = pipeline::start(&Source::new(format!("{name}.bt"), text), settings)?;
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        eprintln!("__BPFTRACE_NOTIFY_PROBES_ATTACHED");
    }
    Ok(session)
}

/// `--export ADDR`: serves a tool's result maps (each with its labels)
/// until it is stopped, in place of its printed summaries. The address is
/// bound before `session` loads the program.
fn export(
    addr: &str,
    name: &str,
    session: impl FnOnce() -> Result<Session, Error>,
    maps: &[(&str, &[&str])],
    words: Option<bpfscope::export::LabelWords>,
) -> Result<(), Error> {
    let server = bpfscope::export::bind(addr)?;
    let served = bpfscope::export::tool(session()?, name, maps, words);
    match bpfscope::export::serve(server, vec![served], addr, false, 10_000)? {
        0 => Ok(()),
        code => Err(Error::Exit(code)),
    }
}

/// Runs a tool whose program sends one `printf` event per row, as BCC's
/// tools send one perf event: `row` makes each event's arguments into the
/// tool's line (or skips it, as BCC's user-side filters do). Prints
/// `header` once the probes are attached; ends at Ctrl-C, SIGTERM,
/// `exit()`, or after `duration`.
fn run_rows(
    name: &str,
    text: String,
    settings: &Settings,
    header: &str,
    duration: Option<Duration>,
    mut row: impl FnMut(&[Value]) -> Option<String>,
) -> Result<(), Error> {
    run_events(name, text, settings, Some(header), duration, |e| match e {
        EventRef::Printf { args, .. } => row(args).map(|line| format!("{line}\n").into_bytes()),
        other => Some(other.text().into_owned()),
    })
}

/// Runs a tool's program, printing what `output` makes of each event,
/// until Ctrl-C, SIGTERM, `exit()` (whose code it returns as
/// `Error::Exit`), the traced process's end, or `duration`. Unlike the
/// command line, it prints no map at the end.
fn run_events(
    name: &str,
    text: String,
    settings: &Settings,
    header: Option<&str>,
    duration: Option<Duration>,
    mut output: impl FnMut(EventRef<'_>) -> Option<Vec<u8>>,
) -> Result<(), Error> {
    let mut session = start(name, text, settings)?;
    let deadline = duration.map(|d| Instant::now() + d);
    let mut out = std::io::stdout().lock();
    if let Some(h) = header {
        writeln!(out, "{h}").and_then(|()| out.flush()).map_err(RunError::Io)?;
    }
    let mut print = |e: EventRef<'_>| -> std::io::Result<()> {
        match output(e) {
            Some(bytes) => {
                out.write_all(&bytes)?;
                out.flush()
            }
            None => Ok(()),
        }
    };
    while session.poll(Duration::from_millis(100), &mut print)? {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    match session.finish(&mut print)? {
        0 => Ok(()),
        code => Err(Error::Exit(code)),
    }
}

/// Waits up to `limit` for the run to end (events are the program's
/// business: these tools read maps). Returns whether it goes on.
fn poll_for(session: &mut Session, limit: Duration) -> Result<bool, Error> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if !session.poll(Duration::from_millis(100), &mut |_| Ok(()))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The loop of BCC's summarizing tools: every `interval` seconds (and at
/// the end of the run), a blank line, the time with `timestamp`, then
/// `summary`; the `cleared` maps start again; `count` times at most.
/// Finishes the run.
fn summaries(
    mut session: Session,
    interval: u64,
    count: u64,
    timestamp: bool,
    cleared: &[&str],
    mut summary: impl FnMut(&Session) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut left = count;
    loop {
        let running = poll_for(&mut session, Duration::from_secs(interval))?;
        outln!()?;
        if timestamp {
            outln!("{:<8}", clock())?;
        }
        summary(&session)?;
        for map in cleared {
            if let Some(m) = session.map(map) {
                m.clear();
            }
        }
        left -= 1;
        if !running || left == 0 {
            break;
        }
    }
    session.finish(&mut |_| Ok(()))?;
    Ok(())
}

/// `print!` that returns the write's error.
fn outtext(text: &str) -> Result<(), RunError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(RunError::Io)
}

/// The integer argument `i` of an event (0 if missing).
fn int(args: &[Value], i: usize) -> i128 {
    args.get(i).and_then(Value::as_int).unwrap_or(0)
}

/// The string argument `i` of an event ("" if missing).
fn text(args: &[Value], i: usize) -> &str {
    args.get(i).and_then(Value::as_str).unwrap_or("")
}

/// The local time as `HH:MM:SS`, as BCC's `strftime("%H:%M:%S")`.
fn clock() -> String {
    bpfscope_runtime::output::local_time("%H:%M:%S")
}
