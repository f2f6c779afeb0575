//! The ready-made tools, driven by workloads this test controls, their
//! rows checked against BCC's layouts.

#[macro_use]
mod support;

use std::io::Write;
use std::path::Path;
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

/// A reader (`tests/targets/reader.c`) of a fresh 4 KiB file, waiting to
/// open, read and write `count` times; and the file, to remove.
fn reading(reader: &Path, name: &str, count: u32) -> (Child, std::path::PathBuf) {
    let file = std::env::temp_dir().join(format!("bpfscope-{name}-{}", std::process::id()));
    std::fs::write(&file, vec![b'x'; 4096]).expect("writes");
    (waiting(reader, &[file.to_str().expect("utf-8"), &count.to_string()]), file)
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
    require_root!();
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
    require_root!();
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

/// `opensnoop -p PID -U -e`: BCC's columns, and exactly the workload's
/// opens: /dev/null for writing, then the file five times, read-only.
#[test]
fn opensnoop_shows_each_open() {
    require_root!();
    let reader = build_target("reader", &[]);
    let (mut workload, file) = reading(&reader, "opensnoop", 5);
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "opensnoop", "-p", &pid, "-U", "-e"]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    let text = stdout(&tracer.interrupt());
    std::fs::remove_file(&file).ok();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("UID   PID    COMM               FD ERR FLAGS    MODE PATH"), "{text}");
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let expect_row =
        |fd: i32, flags: &str, path: &str| format!("0     {pid:<6} reader           {fd:>4}   0 {flags} n/a  {path}");
    let mut expected = vec![expect_row(3, "00000001", "/dev/null")];
    expected.extend((0..5).map(|_| expect_row(4, "00000000", file.to_str().unwrap_or(""))));
    assert_eq!(rows, expected, "{text}");
}

/// `opensnoop -x -T -n NAME`: only failed opens, with BCC's timestamp
/// column, of processes whose name contains NAME.
#[test]
fn opensnoop_shows_failures_with_timestamps() {
    require_root!();
    let reader = build_target_as("reader", "rdr-missing", &[]);
    let missing = "/nonexistent/bpfscope-opensnoop";
    let mut workload = waiting(&reader, &[missing, "3"]);
    let tracer = Tracer::start(&["tool", "opensnoop", "-x", "-T", "-n", "missing"]);
    go(&mut workload);
    assert_eq!(workload.wait().expect("waits").code(), Some(1), "the open fails, and the reader stops");
    let text = stdout(&tracer.interrupt());
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("TIME(s)       PID    COMM               FD ERR PATH"), "{text}");
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 1, "{text}");
    let (time, rest) = rows[0].split_at(14);
    assert!(time.trim_end().split_once('.').is_some_and(|(_, ns)| ns.len() == 9), "{text}");
    assert!(rest.ends_with(&format!(" rdr-missing        -1   2 {missing}")), "{text}");
}

/// `killsnoop -T PID`: a row for a kill sent to that process, with BCC's
/// columns (pid columns as wide as pid_max plus one).
#[test]
fn killsnoop_shows_signals_sent() {
    require_root!();
    let mut victim = Command::new("sleep").arg("30").spawn().expect("spawns");
    let target = victim.id().to_string();
    let tracer = Tracer::start(&["tool", "killsnoop", "-T", &target]);
    let mut sender = Command::new("kill").args(["-USR1", &target]).spawn().expect("kill");
    let sender_pid = sender.id();
    assert!(sender.wait().expect("waits").success());
    assert!(victim.wait().is_ok());
    let text = stdout(&tracer.interrupt());
    let width = std::fs::read_to_string("/proc/sys/kernel/pid_max").expect("pid_max").trim().len() + 1;
    let mut lines = text.lines();
    let header = format!("{:<9} {:<width$} {:<16} {:<4} {:<width$} RESULT", "TIME", "PID", "COMM", "SIG", "TPID");
    assert_eq!(lines.next(), Some(header.as_str()), "{text}");
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(&rows[0][2..3], ":", "{text}");
    assert_eq!(&rows[0][10..], format!("{sender_pid:<width$} {:<16} {:<4} {target:<width$} 0", "kill", 10), "{text}");
}

/// `killsnoop -x -s 0`: only the failed kill(pid, 0), with its error.
#[test]
fn killsnoop_shows_failed_kills() {
    require_root!();
    let mut gone = Command::new("true").spawn().expect("spawns");
    let gone_pid = gone.id().to_string();
    assert!(gone.wait().expect("waits").success());
    let alive = std::process::id().to_string();
    let tracer = Tracer::start(&["tool", "killsnoop", "-x", "-s", "0"]);
    assert!(Command::new("kill").args(["-0", &alive]).status().expect("kill").success());
    assert!(!Command::new("kill").args(["-0", &gone_pid]).stderr(Stdio::null()).status().expect("kill").success());
    let text = stdout(&tracer.interrupt());
    // Rows of our two kill commands (other processes may probe with
    // kill(pid, 0) too): only the failed one, with ESRCH.
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .filter(|r: &Vec<&str>| {
            r.get(2) == Some(&"kill") && (r.get(4) == Some(&alive.as_str()) || r.get(4) == Some(&gone_pid.as_str()))
        })
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0][2..], ["kill", "0", gone_pid.as_str(), "-3"], "{text}");
}

/// `bashreadline`: the lines an interactive bash of ours read, with its pid.
#[test]
fn bashreadline_shows_typed_commands() {
    require_root!();
    let tracer = Tracer::start(&["tool", "bashreadline"]);
    let mut shell = Command::new("bash")
        .arg("-i")
        .env("HISTFILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns bash");
    let pid = shell.id();
    shell.stdin.take().expect("stdin").write_all(b"echo bpfscope-marker 1\nexit\n").expect("writes");
    assert!(shell.wait().expect("waits").success());
    let text = stdout(&tracer.interrupt());
    assert_eq!(text.lines().next(), Some("TIME      PID     COMMAND"), "{text}");
    let ours: Vec<&str> =
        text.lines().filter(|l| l.get(10..18).is_some_and(|p| p.trim_end() == pid.to_string())).collect();
    assert_eq!(ours.len(), 2, "{text}");
    assert_eq!(&ours[0][18..], "echo bpfscope-marker 1", "{text}");
    assert_eq!(&ours[1][18..], "exit", "{text}");
    assert_eq!(&ours[0][2..3], ":", "{text}");
}

/// `execsnoop -q -U`: a row for a program we exec, with its pid, our pid
/// as the parent, the return value and the quoted arguments; `-x` adds the
/// failed exec of a missing file.
#[test]
fn execsnoop_shows_each_exec() {
    require_root!();
    let target = build_target_as("opener", "execme", &[]);
    let path = target.to_str().expect("utf-8");
    let tracer = Tracer::start(&["tool", "execsnoop", "-q", "-U", "-x"]);
    let child = Command::new(&target).args(["a \"b\"", "0"]).spawn().expect("runs");
    let pid = child.id();
    assert!(child.wait_with_output().expect("waits").status.success());
    let missing = "/nonexistent/bpfscope-execsnoop";
    assert!(Command::new(missing).spawn().is_err());
    let text = stdout(&tracer.interrupt());
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("UID   COMM             PID     PPID    RET ARGS"), "{text}");
    let expected =
        format!("0     execme           {pid:<7} {:<7}   0 \"{path}\" \"a \\\"b\\\"\" \"0\"", std::process::id());
    assert!(text.lines().any(|l| l == expected), "no line\n{expected}\nin\n{text}");
    assert!(text.lines().any(|l| l.ends_with(&format!(" -2 \"{missing}\""))), "{text}");
}

/// The rows of a syscount summary: first column (trimmed) and the numbers.
fn syscount_rows(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .skip_while(|l| !l.starts_with('['))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .map(|l| (l[..22].trim_end().to_string(), l[22..].split_whitespace().map(str::to_string).collect()))
        .collect()
}

/// `syscount -p PID`: BCC's banner, summary and columns, with exactly the
/// workload's openat, write and close calls counted by name.
#[test]
fn syscount_counts_by_system_call() {
    require_root!();
    let reader = build_target("reader", &[]);
    let (mut workload, file) = reading(&reader, "syscount", 40);
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "syscount", "-p", &pid]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    let text = stdout(&tracer.interrupt());
    std::fs::remove_file(&file).ok();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Tracing syscalls, printing top 10... Ctrl+C to quit."), "{text}");
    assert!(lines.next().is_some_and(|l| l.len() == 10 && l.starts_with('[') && l.ends_with(']')), "{text}");
    assert_eq!(lines.next(), Some("SYSCALL                   COUNT"), "{text}");
    let rows = syscount_rows(&text);
    let count = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| r.1[0].clone());
    // /dev/null and 40 times the file; 40 writes; 40 closes.
    assert_eq!(count("openat").as_deref(), Some("41"), "{text}");
    assert_eq!(count("write").as_deref(), Some("40"), "{text}");
    assert_eq!(count("close").as_deref(), Some("40"), "{text}");
    let counts: Vec<u64> = rows.iter().filter_map(|r| r.1[0].parse().ok()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "sorted by count, largest first:\n{text}");
    assert!(text.ends_with("\nDetaching...\n"), "{text}");
}

/// `syscount -P -L -x -p PID`: failed calls by process, with their time.
#[test]
fn syscount_times_failures_by_process() {
    require_root!();
    let reader = build_target_as("reader", "syscount-fail", &[]);
    let mut workload = waiting(&reader, &["/nonexistent/bpfscope-syscount", "3"]);
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "syscount", "-P", "-L", "-x", "-p", &pid]);
    go(&mut workload);
    assert_eq!(workload.wait().expect("waits").code(), Some(1));
    let text = stdout(&tracer.interrupt());
    assert!(text.starts_with("Tracing failed syscalls, printing top 10... Ctrl+C to quit.\n"), "{text}");
    assert!(text.contains("\nPID    COMM               COUNT        TIME (us)\n"), "{text}");
    let rows = syscount_rows(&text);
    assert_eq!(rows.len(), 1, "{text}");
    // The one failed openat; the process is gone, so its name is unknown.
    assert_eq!(rows[0].0, format!("{pid:<6} [unknown]"), "{text}");
    assert_eq!(rows[0].1[0], "1", "{text}");
    assert!(rows[0].1[1].split_once('.').is_some_and(|(_, us)| us.len() == 3), "{text}");
}

/// The `FUNC COUNT` rows of a funccount summary.
fn funccount_rows(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .skip_while(|l| !l.starts_with("FUNC "))
        .skip(1)
        .take_while(|l| *l != "Detaching...")
        .filter_map(|l| Some((l.get(..36)?.trim_end().to_string(), l.get(37..)?.trim().parse().ok()?)))
        .collect()
}

/// `funccount -p PID BINARY:step_*`: BCC's banner and rows, each function
/// counted as often as the target called it, smallest count first.
#[test]
fn funccount_counts_user_functions() {
    require_root!();
    let target = build_target("uprobed", &[]);
    let mut workload = waiting(&target, &["25"]);
    let pid = workload.id().to_string();
    let pattern = format!("{}:step_*", target.display());
    let tracer = Tracer::start(&["tool", "funccount", "-p", &pid, &pattern]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    // -p: the run ends with the process.
    let text = stdout(&tracer.wait(Duration::from_secs(30)));
    assert!(text.starts_with(&format!("Tracing 3 functions for \"{pattern}\"... Hit Ctrl-C to end.\n\n")), "{text}");
    assert!(text.contains(&format!("\n{:<36} {:>8}\n", "FUNC", "COUNT")), "{text}");
    let mut rows = funccount_rows(&text);
    rows.sort();
    let expected: Vec<(String, u64)> =
        ["step_one", "step_three", "step_two"].iter().map(|f| (f.to_string(), 25)).collect();
    assert_eq!(rows, expected, "{text}");
    assert!(text.ends_with("Detaching...\n"), "{text}");
}

/// `funccount -p PID t:syscalls:sys_enter_openat`: tracepoints by
/// `category:event`.
#[test]
fn funccount_counts_tracepoints() {
    require_root!();
    let reader = build_target("reader", &[]);
    let (mut workload, file) = reading(&reader, "funccount", 12);
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "funccount", "-p", &pid, "t:syscalls:sys_enter_openat"]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    let text = stdout(&tracer.wait(Duration::from_secs(30)));
    std::fs::remove_file(&file).ok();
    assert_eq!(funccount_rows(&text), [("syscalls:sys_enter_openat".to_string(), 13)], "{text}");
}

/// The counts of BCC-style log2 histogram rows (`  0 -> 1  : 5  |***|`).
fn log2_hist_total(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.contains(" -> ") && l.contains(" : "))
        .filter_map(|l| l.split(" : ").nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// `biolatency -D`: a histogram per disk in BCC's layout, counting at
/// least the direct writes a workload made to a file on a block device.
#[test]
fn biolatency_histograms_block_io() {
    use std::os::unix::fs::MetadataExt;
    require_root!();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("bpfscope-biolatency-{}", std::process::id()));
    std::fs::write(&file, b"").expect("writes");
    if libc::major(std::fs::metadata(&file).expect("stat").dev()) == 0 {
        support::not_here(&format!("{} is not on a block device, so no block I/O to see", dir.display()));
        return;
    }
    let tracer = Tracer::start(&["tool", "biolatency", "-D"]);
    let dd = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .args(["bs=4k", "count=64", "oflag=direct", "conv=fsync"])
        .stderr(Stdio::null())
        .status()
        .expect("dd");
    assert!(dd.success());
    let text = stdout(&tracer.interrupt());
    std::fs::remove_file(&file).ok();
    assert!(text.starts_with("Tracing block device I/O... Hit Ctrl-C to end.\n\n"), "{text}");
    assert!(text.contains("\ndisk = "), "{text}");
    assert!(
        text.contains("\n     usecs               : count     distribution\n         0 -> 1          : "),
        "{text}"
    );
    assert!(log2_hist_total(&text) >= 64, "{text}");
}

/// `runqlat -p PID`: one histogram in BCC's layout with one entry per time
/// the workload woke from its 2 ms sleeps.
#[test]
fn runqlat_histograms_wakeups() {
    require_root!();
    let sleeper = build_target("sleeper", &[]);
    let mut workload = waiting(&sleeper, &["50"]);
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "runqlat", "-p", &pid]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    let text = stdout(&tracer.interrupt());
    assert!(text.starts_with("Tracing run queue latency... Hit Ctrl-C to end.\n\n"), "{text}");
    assert!(text.contains("\n     usecs               : count     distribution\n"), "{text}");
    // 50 sleeps and the read of "go": about one run-queue wait each (a
    // wakeup that finds the task still running makes none; a preemption
    // adds one).
    let total = log2_hist_total(&text);
    assert!((45..=80).contains(&total), "{total} wakeups:\n{text}");
}

/// `runqlat -L -p PID`: one section, for the workload's thread.
#[test]
fn runqlat_by_thread() {
    require_root!();
    let sleeper = build_target("sleeper", &[]);
    let mut workload = waiting(&sleeper, &["20"]);
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "runqlat", "-L", "-p", &pid]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    let text = stdout(&tracer.interrupt());
    assert_eq!(text.matches("\ntid = ").count(), 1, "{text}");
    assert!(text.contains(&format!("\ntid = {pid}\n     usecs ")), "{text}");
    assert!(log2_hist_total(&text) >= 15, "about one per sleep:\n{text}");
}

/// `tcpconnect -L -P PORT`: a row for a connect() a shell of ours makes to
/// a listener of ours, with both ends' addresses and ports; other ports
/// are left out.
#[test]
fn tcpconnect_shows_connects() {
    require_root!();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listens");
    let port = listener.local_addr().expect("address").port();
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("listens");
    let tracer = Tracer::start(&["tool", "tcpconnect", "-L", "-P", &port.to_string()]);
    let connect =
        |p: u16| Command::new("bash").arg("-c").arg(format!("exec 3<>/dev/tcp/127.0.0.1/{p}")).spawn().expect("bash");
    let mut shell = connect(port);
    let pid = shell.id();
    let (_, peer) = listener.accept().expect("accepts");
    assert!(shell.wait().expect("waits").success());
    let mut elsewhere = connect(other.local_addr().expect("address").port());
    let _ = other.accept().expect("accepts");
    assert!(elsewhere.wait().expect("waits").success());
    let text = stdout(&tracer.interrupt());
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Tracing connect ... Hit Ctrl-C to end"), "{text}");
    assert_eq!(lines.next(), Some("PID     COMM         IP SADDR            LPORT  DADDR            DPORT "), "{text}");
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let expected =
        format!("{pid:<7} {:<12} 4  {:<16} {:<6} {:<16} {port:<6} ", "bash", "127.0.0.1", peer.port(), "127.0.0.1");
    assert_eq!(rows, [expected.as_str()], "{text}");
}

/// `profile -p PID -f -U -F 199 1`: folded user stacks of a spinning
/// workload, symbolized: its samples land in spin_here, called by main.
#[test]
fn profile_folds_symbolized_user_stacks() {
    require_root!();
    let spinner = build_target("spinner", &["-fno-omit-frame-pointer"]);
    let mut workload = waiting(&spinner, &["3000"]);
    let pid = workload.id().to_string();
    let svg = std::env::temp_dir().join(format!("bpfscope-profile-{}.svg", std::process::id()));
    let svg_arg = svg.to_str().expect("utf-8");
    let tracer = Tracer::start(&["tool", "profile", "-p", &pid, "-f", "-U", "-F", "199", "--svg", svg_arg, "1"]);
    go(&mut workload);
    let text = stdout(&tracer.wait(Duration::from_secs(30)));
    assert!(workload.wait().expect("waits").success());
    let lines: Vec<(&str, u64)> =
        text.lines().filter_map(|l| l.rsplit_once(' ')).filter_map(|(s, n)| Some((s, n.parse().ok()?))).collect();
    assert!(!lines.is_empty(), "{text}");
    assert!(lines.iter().all(|(s, _)| s.starts_with("spinner;")), "only the workload's samples:\n{text}");
    // As BCC's: names without offsets, so that samples at different
    // places in one function fold to the same stack in a flame graph.
    assert!(!text.contains("+0x"), "{text}");
    let in_spin: u64 = lines.iter().filter(|(s, _)| s.contains(";main;spin_here")).map(|l| l.1).sum();
    assert!(in_spin > 0, "no sample in main -> spin_here:\n{text}");
    // --svg: the same stacks drawn, as many samples as folded.
    let drawn = std::fs::read_to_string(&svg).expect("the SVG");
    let _ = std::fs::remove_file(&svg);
    let titles = svg_titles(&drawn);
    let total: u64 = lines.iter().map(|l| l.1).sum();
    assert!(titles.iter().any(|t| t.starts_with(&format!("all ({total} samples"))), "{titles:?}");
    assert!(titles.iter().any(|t| t.starts_with("spin_here (")), "{titles:?}");
}

/// `profile -p PID 1`: BCC's banner and multi-line layout, ending each
/// stack with the comm, pid and count.
#[test]
fn profile_prints_stacks_as_bcc() {
    require_root!();
    let spinner = build_target_as("spinner", "spinner-ml", &["-fno-omit-frame-pointer"]);
    let mut workload = waiting(&spinner, &["3000"]);
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "profile", "-p", &pid, "1"]);
    go(&mut workload);
    let text = stdout(&tracer.wait(Duration::from_secs(30)));
    assert!(workload.wait().expect("waits").success());
    assert!(
        text.starts_with(&format!("Sampling at 49 Hertz of PID {pid} by user + kernel stack for 1 secs.\n\n")),
        "{text}"
    );
    let ends = format!("    -                spinner-ml ({pid})");
    assert!(text.lines().any(|l| l == ends), "{text}");
    assert!(text.lines().any(|l| l == "    spin_here"), "{text}");
}

/// `trace -p PID -e PROGRAM ARG`: a program of ours, its parameter, one
/// process: one line per open of the workload, and the run ends with it.
#[test]
fn trace_runs_a_program() {
    require_root!();
    let reader = build_target_as("reader", "traced", &[]);
    let (mut workload, file) = reading(&reader, "trace", 3);
    let pid = workload.id().to_string();
    let program =
        r#"tracepoint:syscalls:sys_enter_openat /pid == $1/ { printf("%s %s\n", comm, str(args.filename)); }"#;
    let tracer = Tracer::start(&["tool", "trace", "-p", &pid, "-e", program, &pid]);
    go(&mut workload);
    assert!(workload.wait().expect("waits").success());
    let text = stdout(&tracer.wait(Duration::from_secs(30)));
    std::fs::remove_file(&file).ok();
    let f = file.display();
    assert_eq!(text, format!("traced /dev/null\ntraced {f}\ntraced {f}\ntraced {f}\n\n\n"), "{text}");
}

/// `runqlat -m 1 2`: two one-second summaries in milliseconds, then the
/// tool ends by itself, as BCC's does.
#[test]
fn runqlat_prints_count_summaries_then_ends() {
    require_root!();
    let tracer = Tracer::start(&["tool", "runqlat", "-m", "1", "2"]);
    let out = tracer.wait(Duration::from_secs(30));
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.matches("\n     msecs               : count     distribution\n").count(), 2, "{text}");
}

/// Without root, a tool says so in one line (not an error per probe of its
/// program) and exits 1; `--help` still works.
#[test]
fn tools_need_root_and_say_so() {
    let Some(out) = run_as_nobody(&["tool", "opensnoop"]) else { return };
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bpfscope: error: loading BPF programs needs root (CAP_BPF and CAP_PERFMON): run bpfscope with sudo\n"
    );
    let Some(help) = run_as_nobody(&["tool", "opensnoop", "--help"]) else { return };
    assert!(help.status.success());
    assert!(stdout(&help).starts_with("Trace open() syscalls"), "{}", stdout(&help));
}
