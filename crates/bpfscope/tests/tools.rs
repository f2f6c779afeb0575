//! The ready-made tools, driven by workloads this test controls, their
//! rows checked against BCC's layouts.

mod support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::*;

fn tool(name: &str, args: &[&str]) -> Command {
    let mut c = bpfscope();
    c.arg("tool").arg(name).args(args);
    c
}

/// A workload process that waits for a line on stdin before it starts.
fn waiting(target: &std::path::Path, args: &[&str]) -> Child {
    Command::new(target).args(args).arg("wait").stdin(Stdio::piped()).spawn().expect("spawns")
}

fn go(child: &mut Child) {
    child.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
}

#[test]
fn tools_are_listed_and_installed_as_links() {
    let out = bpfscope().arg("tools").output().expect("runs");
    let listed = stdout(&out);
    assert!(listed.lines().any(|l| l.starts_with("vfsstat ")), "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("gethostlatency ")), "{listed}");
    let dir = std::env::temp_dir().join(format!("bpfscope-tools-{}", std::process::id()));
    let out = bpfscope().arg("--install-tools").arg(&dir).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The link runs the tool: BCC's usage line.
    let help = Command::new(dir.join("vfsstat")).arg("--help").output().expect("runs the link");
    assert!(stdout(&help).starts_with("Count some VFS calls."), "{}", stdout(&help));
    let bad = tool("vfstat", &[]).output().expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "bpfscope: error: no tool named 'vfstat' (did you mean 'vfsstat'?); `bpfscope tools` lists them\n"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `vfsstat -p PID 1 3`: BCC's header, three rows, and exactly the reader's
/// opens, reads and writes across them; here through the system call
/// tracepoints (with a notice) or fentry/kprobes where the kernel allows
/// them. The VM run checks the fentry path, with the same layout.
#[test]
fn vfsstat_counts_a_workload() {
    if !can_trace() {
        return;
    }
    let notice = vfsstat_counts_reader_calls();
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        assert!(
            notice.starts_with("vfsstat: this kernel allows neither fentry nor kprobes; counting system calls"),
            "{notice}"
        );
    }
}

/// `gethostlatency -p PID`: a row per lookup, with the pid, the comm and
/// the host name read at entry.
#[test]
fn gethostlatency_shows_each_lookup() {
    if !can_trace() {
        return;
    }
    let resolver = build_target("resolver", &[]);
    let mut workload = waiting(&resolver, &["localhost", "2"]);
    let pid = workload.id();
    let tracer = Tracer::start(&["tool", "gethostlatency", "-p", &pid.to_string()]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    // -p: the run ends with the process.
    let out = tracer.wait(Duration::from_secs(30));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("TIME      PID     COMM                  LATms HOST"), "{text}");
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3, "two getaddrinfo and one gethostbyname:\n{text}");
    for row in rows {
        // %-9s %-7d %-16s %10.2f %s
        assert_eq!(&row[2..3], ":", "{row}");
        assert_eq!(row[10..17].trim_end(), pid.to_string(), "{row}");
        assert_eq!(row[18..34].trim_end(), "resolver", "{row}");
        let latency = row[35..45].trim_start();
        assert!(latency.split_once('.').is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.len() == 2), "{row}");
        assert_eq!(&row[46..], "localhost", "{row}");
    }
}
