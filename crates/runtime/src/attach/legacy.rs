//! Uprobes and kprobes made through ftrace's text interface
//! (`uprobe_events`, `kprobe_events`), for kernels without the PMUs. Each
//! event is named after this process so that runs never collide; all are
//! removed when [`Events`] is dropped, and a run removes what a killed run
//! left behind.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The events group of process `pid`.
fn group_of(pid: u32) -> String {
    format!("bpfscope_{pid}")
}

/// Which text interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Uprobe,
    Kprobe,
}

impl Interface {
    fn file(self) -> &'static str {
        match self {
            Interface::Uprobe => "uprobe_events",
            Interface::Kprobe => "kprobe_events",
        }
    }
}

/// The events this run created in one interface.
pub struct Events {
    root: PathBuf,
    interface: Interface,
    group: String,
    names: Vec<String>,
}

impl Events {
    /// Starts a set of events, first removing those of runs that are gone.
    pub fn new(root: PathBuf, interface: Interface) -> Events {
        remove_stale(&root.join(interface.file()));
        Events { root, interface, group: group_of(std::process::id()), names: Vec::new() }
    }

    /// Adds a uprobe (`p:`, or `r:`) at a file offset, with a USDT
    /// semaphore's offset as `(0x...)`; returns its id.
    pub fn add_uprobe(&mut self, path: &Path, offset: u64, semaphore: Option<u64>, ret: bool) -> io::Result<u64> {
        let path_text = path.to_str().filter(|p| !p.contains(char::is_whitespace)).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "uprobe_events cannot name a path with spaces")
        })?;
        let counter = semaphore.map_or(String::new(), |s| format!("(0x{s:x})"));
        self.add(ret, &format!("{path_text}:0x{offset:x}{counter}"))
    }

    /// Adds a kprobe (`p:`, or `r:`) at `function+offset`; returns its id.
    pub fn add_kprobe(&mut self, function: &str, offset: u64, ret: bool) -> io::Result<u64> {
        let at = if offset > 0 { format!("{function}+{offset}") } else { function.to_string() };
        self.add(ret, &at)
    }

    fn add(&mut self, ret: bool, location: &str) -> io::Result<u64> {
        let kind = if ret { 'r' } else { 'p' };
        // Both interfaces share the group: a letter keeps names apart.
        let prefix = if self.interface == Interface::Kprobe { "k" } else { "" };
        let name = format!("{prefix}{kind}{}", self.names.len());
        let line = format!("{kind}:{}/{name} {location}", self.group);
        append(&self.root.join(self.interface.file()), &line)?;
        self.names.push(name.clone());
        let id_file = self.root.join("events").join(&self.group).join(&name).join("id");
        let id = std::fs::read_to_string(&id_file)?;
        id.trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad id in {}", id_file.display())))
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let file = self.root.join(self.interface.file());
        for name in self.names.drain(..).rev() {
            let event = format!("{}/{name}", self.group);
            if let Err(e) = remove(&file, &event) {
                eprintln!(
                    "bpfscope: warning: cannot remove the tracefs event {event} from {}: {e} \
                     (`bpfscope --cleanup` removes what runs left behind)",
                    file.display()
                );
            }
        }
    }
}

/// Removes one event; an event still in use (a perf event on it not yet
/// released by the kernel) is retried for up to half a second.
fn remove(file: &Path, event: &str) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match append(file, &format!("-:{event}")) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            // Already gone (removed by hand, or by another run's cleanup).
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            other => return other,
        }
    }
}

/// Removes the tracefs events that bpfscope runs no longer running left
/// behind (killed, or on a kernel that kept an event busy); returns them.
pub fn cleanup(root: &Path) -> Vec<(String, io::Result<()>)> {
    let mut out = Vec::new();
    for interface in [Interface::Uprobe, Interface::Kprobe] {
        let file = root.join(interface.file());
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for event in stale_events(&text, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
            let result = remove(&file, &event);
            out.push((event, result));
        }
    }
    out
}

fn append(file: &Path, line: &str) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).open(file)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// Removes the events of bpfscope processes that no longer run.
fn remove_stale(file: &Path) {
    let Ok(text) = std::fs::read_to_string(file) else { return };
    for event in stale_events(&text, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
        let _ = remove(file, &event);
    }
}

/// The `group/name` of each listed event whose bpfscope process is dead.
fn stale_events(listing: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| {
            let event = line.split_whitespace().next()?.split_once(':')?.1;
            let pid: u32 = event.split_once('/')?.0.strip_prefix("bpfscope_")?.parse().ok()?;
            (!alive(pid)).then(|| event.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_events_of_dead_runs() {
        let listing = "p:bpfscope_100/p0 /bin/true:0x0000000000001139\n\
                       r:bpfscope_200/r1 /bin/true:0x0000000000001139\n\
                       p:uprobes/other /bin/true:0x0000000000001139\n";
        assert_eq!(stale_events(listing, |pid| pid == 200), vec!["bpfscope_100/p0".to_string()]);
    }
}
