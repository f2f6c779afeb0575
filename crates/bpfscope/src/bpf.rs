//! BCC's verbs: a program built probe by probe (or given whole), loaded
//! and attached in one step, then polled for events and read through its
//! maps.

use std::time::Duration;

use bpfscope_lang::Source;
use bpfscope_runtime::{Event, MapRef, Session};

use crate::error::Error;
use crate::pipeline::{self, Settings};

/// A program to load: probes added one by one with the `attach_*` verbs,
/// or a whole program given with [`Bpf::text`]. Bodies are a block in
/// bpftrace's language, optionally after a predicate: `"/arg0 != 0/ {
/// @n = count(); }"`.
#[derive(Clone, Debug, Default)]
pub struct Bpf {
    text: String,
    settings: Settings,
}

impl Bpf {
    /// A program without probes yet.
    pub fn new() -> Bpf {
        Bpf::default()
    }

    /// A whole program in bpftrace's language (BCC's `BPF(text=...)`).
    pub fn text(program: &str) -> Bpf {
        Bpf { text: format!("{program}\n"), ..Bpf::default() }
    }

    /// Runs `body` when the kernel function `event` is entered.
    pub fn attach_kprobe(&mut self, event: &str, body: &str) -> &mut Self {
        self.probe(&format!("kprobe:{event}"), None, body)
    }

    /// Runs `body` when the kernel function `event` returns (`retval`).
    pub fn attach_kretprobe(&mut self, event: &str, body: &str) -> &mut Self {
        self.probe(&format!("kretprobe:{event}"), None, body)
    }

    /// Runs `body` when `sym` in `name` is entered: `name` is a path, a
    /// program on `$PATH`, or a library name as the linker knows it (`"c"`
    /// for libc). With `pid`, only in that process.
    pub fn attach_uprobe(&mut self, name: &str, sym: &str, pid: Option<u32>, body: &str) -> &mut Self {
        self.probe(&format!("uprobe:{}:{sym}", quoted(name)), pid, body)
    }

    /// Runs `body` when `sym` in `name` returns (`retval`).
    pub fn attach_uretprobe(&mut self, name: &str, sym: &str, pid: Option<u32>, body: &str) -> &mut Self {
        self.probe(&format!("uretprobe:{}:{sym}", quoted(name)), pid, body)
    }

    /// Runs `body` at the tracepoint `category:name` (fields in `args`).
    pub fn attach_tracepoint(&mut self, tracepoint: &str, body: &str) -> &mut Self {
        self.probe(&format!("tracepoint:{tracepoint}"), None, body)
    }

    /// Adds probes written out in full (`"interval:s:1 { ... }"`).
    pub fn add(&mut self, probes: &str) -> &mut Self {
        self.text.push_str(probes);
        self.text.push('\n');
        self
    }

    /// The positional parameters `$1`, `$2`, ...
    pub fn params<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, params: I) -> &mut Self {
        self.settings.params = params.into_iter().map(Into::into).collect();
        self
    }

    /// The program text built so far.
    pub fn program(&self) -> &str {
        &self.text
    }

    /// Compiles the program, loads it, runs BEGIN and attaches every
    /// probe. Program errors render against the program's text.
    pub fn load(&self) -> Result<Tracer, Error> {
        let source = Source::new("program.bt", self.text.clone());
        Ok(Tracer { session: pipeline::start(&source, &self.settings)? })
    }

    fn probe(&mut self, attach_point: &str, pid: Option<u32>, body: &str) -> &mut Self {
        let (predicate, block) = split_predicate(body);
        let predicate = match (pid, predicate) {
            (None, None) => String::new(),
            (None, Some(p)) => format!("/{p}/ "),
            (Some(pid), None) => format!("/pid == {pid}/ "),
            (Some(pid), Some(p)) => format!("/pid == {pid} && ({p})/ "),
        };
        self.text.push_str(&format!("{attach_point} {predicate}{block}\n"));
        self
    }
}

/// `"/pred/ { ... }"` as `(Some("pred"), "{ ... }")`.
fn split_predicate(body: &str) -> (Option<&str>, &str) {
    let body = body.trim();
    if let Some(rest) = body.strip_prefix('/')
        && let Some(brace) = rest.find('{')
        && let Some(pred) = rest[..brace].trim_end().strip_suffix('/')
    {
        return (Some(pred.trim()), &rest[brace..]);
    }
    (None, body)
}

/// A path with characters the attach-point grammar gives meaning to, in
/// quotes.
fn quoted(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)) {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

/// A loaded, attached program.
pub struct Tracer {
    session: Session,
}

impl Tracer {
    /// Waits up to `timeout` and hands each event that arrived to
    /// `on_event`. Returns whether the run goes on: false once the program
    /// called `exit()` or (after [`stop_on_signals`]) Ctrl-C or SIGTERM
    /// arrived.
    pub fn poll(&mut self, timeout: Duration, mut on_event: impl FnMut(&Event)) -> Result<bool, Error> {
        Ok(self.session.poll(timeout, &mut |e| {
            on_event(&e.to_owned());
            Ok(())
        })?)
    }

    /// Polls until the run ends, handing each event to `on_event`.
    pub fn run(&mut self, mut on_event: impl FnMut(&Event)) -> Result<(), Error> {
        while self.poll(Duration::from_millis(100), &mut on_event)? {}
        Ok(())
    }

    /// A map by name (`"@calls"`; `"@"` for the unnamed one).
    pub fn map(&self, name: &str) -> Option<MapRef<'_>> {
        self.session.map(name)
    }

    /// Detaches every probe, runs END, and hands over the last events.
    /// Returns the exit code the program asked for. Maps stay readable.
    pub fn finish(&mut self, mut on_event: impl FnMut(&Event)) -> Result<i32, Error> {
        Ok(self.session.finish(&mut |e| {
            on_event(&e.to_owned());
            Ok(())
        })?)
    }
}

/// From now on, SIGINT and SIGTERM end [`Tracer::poll`] loops (poll
/// returns false) instead of the process.
pub fn stop_on_signals() {
    bpfscope_runtime::signals::install();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_with_predicates_and_pids() {
        let mut b = Bpf::new();
        b.attach_uprobe("c", "malloc", Some(7), "/arg0 > 10/ { @ = count(); }")
            .attach_kprobe("vfs_read", "{ @r = count(); }")
            .attach_uretprobe("/opt/my app/a.out", "f", None, "/ retval / {}");
        assert_eq!(
            b.program(),
            "uprobe:c:malloc /pid == 7 && (arg0 > 10)/ { @ = count(); }\n\
             kprobe:vfs_read { @r = count(); }\n\
             uretprobe:\"/opt/my app/a.out\":f /retval/ {}\n"
        );
    }
}
