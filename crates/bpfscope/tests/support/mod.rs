//! Shared by the tests that run programs in the kernel: root checks,
//! running bpfscope with a timeout, and building the C target programs in
//! `tests/targets/`.
#![allow(dead_code, unused_macros)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// Says that the running test is skipped, and why, in the test output
/// itself (written past the harness's capture, so a passing run lists its
/// skips). Under `CI=true`, where the machine is set up to run every test
/// here, a skip is a failure instead.
pub fn skip(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{test} was skipped under CI=true, where it can run: {why}");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Says that the running test is skipped, and why, where skipping is
/// right on this machine (the kernel has what the test's subject is a
/// substitute for): never a failure, under CI=true either.
pub fn not_here(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let _ = writeln!(std::io::stderr(), "SKIPPED {}: {why}", thread.name().unwrap_or("this test"));
}

/// Whether this user can load BPF programs; where not, the test is
/// named as skipped (see [`skip`]).
pub fn tracing_allowed() -> bool {
    if is_root() {
        return true;
    }
    skip("loading BPF programs needs root, and this test runs as another user");
    false
}

/// Returns from the test, named as skipped, where this user cannot load
/// BPF programs.
macro_rules! require_root {
    () => {
        if !crate::support::tracing_allowed() {
            return;
        }
    };
}

pub fn bpfscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bpfscope"))
}

/// Runs `bpfscope -e PROGRAM ARGS...` to its end (within `limit`) and
/// returns what it printed; None (the reason printed) where this user
/// cannot load BPF programs.
#[allow(dead_code)]
pub fn run_program(program: &str, args: &[&str], limit: Duration) -> Option<Output> {
    if !tracing_allowed() {
        return None;
    }
    let child = bpfscope()
        .args(["-e", program])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    Some(wait_with_timeout(child, limit, program))
}

/// Waits for a run, killing it (and failing) if it does not end in time.
pub fn wait_with_timeout(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("waits").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().expect("reaps");
            panic!("{what} did not exit within {limit:?}; stdout so far:\n{}", String::from_utf8_lossy(&o.stdout));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collects")
}

/// A bpfscope run in the background, ready once its probes are attached.
pub struct Tracer {
    child: Option<Child>,
    /// What the run printed on stderr before its probes were attached
    /// (warnings, notices), without the notification line.
    pub early_stderr: String,
}

impl Tracer {
    /// Starts `bpfscope args...` and waits until it says its probes are
    /// attached (`__BPFTRACE_NOTIFY_PROBES_ATTACHED` on stderr).
    pub fn start(args: &[&str]) -> Tracer {
        let mut command = bpfscope();
        command.args(args);
        Tracer::start_command(command)
    }

    /// The same for another tracer (bpftrace, as the oracle), which
    /// announces attaching the same way.
    pub fn start_command(mut command: Command) -> Tracer {
        use std::io::Read;
        let mut child = command
            .env("__BPFTRACE_NOTIFY_PROBES_ATTACHED", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let mut stderr = child.stderr.take().expect("stderr");
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        let deadline = Instant::now() + Duration::from_secs(30);
        while !String::from_utf8_lossy(&seen).contains("__BPFTRACE_NOTIFY_PROBES_ATTACHED\n") {
            assert!(Instant::now() < deadline, "bpfscope did not attach: {}", String::from_utf8_lossy(&seen));
            match stderr.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => {
                    let o = child.wait_with_output().expect("exits");
                    panic!(
                        "bpfscope exited before attaching: {}{}",
                        String::from_utf8_lossy(&seen),
                        String::from_utf8_lossy(&o.stdout)
                    );
                }
            }
        }
        // Keep draining stderr so the tracer never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let early_stderr = String::from_utf8_lossy(&seen).replace("__BPFTRACE_NOTIFY_PROBES_ATTACHED\n", "");
        Tracer { child: Some(child), early_stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGINT and returns what the run printed.
    pub fn interrupt(self) -> Output {
        self.signal("INT")
    }

    /// Sends a signal (`INT`, `TERM`) and returns what the run printed.
    pub fn signal(mut self, signal: &str) -> Output {
        let child = self.child.take().expect("running");
        Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
        wait_with_timeout(child, Duration::from_secs(30), "the signalled run")
    }

    /// SIGINT for the oracle: bpftrace 0.17 now and then misses a SIGINT
    /// that comes just after it says it attached (seen once in CI under
    /// load), so it gets another every 5 s. Not for bpfscope, where a
    /// missed signal is a bug.
    pub fn interrupt_oracle(mut self) -> Output {
        let mut child = self.child.take().expect("running");
        for _ in 0..6 {
            Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if child.try_wait().expect("waits").is_some() {
                    return child.wait_with_output().expect("collects");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        wait_with_timeout(child, Duration::from_secs(1), "the interrupted oracle")
    }

    /// Waits for the run to end by itself.
    pub fn wait(mut self, limit: Duration) -> Output {
        let child = self.child.take().expect("running");
        wait_with_timeout(child, limit, "the run")
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Builds `tests/targets/<name>.c` (once per test binary) and returns the
/// executable's path. Extra compiler flags go after the source.
pub fn build_target(name: &str, flags: &[&str]) -> PathBuf {
    build_target_as(name, name, flags)
}

/// Builds `tests/targets/<source>.c` as an executable called `name`: tests
/// running at the same time use different names, so that each sees only
/// its own process.
pub fn build_target_as(source: &str, name: &str, flags: &[&str]) -> PathBuf {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/targets");
    // C, or C++ (`.cpp`, with c++), or Rust (`.rs`, with rustc).
    let (src, compiler) = ["c", "cpp", "rs"]
        .iter()
        .map(|ext| (targets.join(format!("{source}.{ext}")), *ext))
        .find(|(p, _)| p.exists())
        .unwrap_or_else(|| panic!("no target source named {source}"));
    let dir = std::env::temp_dir().join(format!("bpfscope-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("target dir");
    let exe = dir.join(name);
    // One build at a time: a second build renamed over a running target
    // would show in its /proc/PID/maps as deleted.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _building = BUILDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !exe.exists() {
        // Tests run in parallel: build under a private name, then rename
        // into place, so no test ever runs a half-written binary.
        let tmp = dir.join(format!("{name}.{:?}", std::thread::current().id()).replace(['(', ')'], ""));
        let mut command = match compiler {
            "rs" => {
                let mut c = Command::new("rustc");
                c.args(["-g", "-C", "opt-level=1", "--edition", "2021"]);
                c
            }
            "cpp" => {
                let mut c = Command::new("c++");
                c.args(["-O1", "-g"]);
                c
            }
            _ => {
                let mut c = Command::new("cc");
                c.args(["-O1", "-g"]);
                c
            }
        };
        let status = command.arg("-o").arg(&tmp).arg(&src).args(flags).status().expect("the compiler runs");
        assert!(status.success(), "cannot build {}", src.display());
        std::fs::rename(&tmp, &exe).expect("rename");
    }
    exe
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The ids of the BPF links a process holds, from its descriptors.
pub fn links_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.lines().find_map(|l| l.strip_prefix("link_id:")).and_then(|v| v.trim().parse().ok())
        })
        .collect()
}

/// Whether the kernel still has a BPF link with this id.
pub fn link_exists(id: u32) -> bool {
    /// `union bpf_attr` as `BPF_LINK_GET_FD_BY_ID` reads it.
    #[repr(C)]
    struct Attr {
        link_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
    let attr = Attr { link_id: id, next_id: 0, open_flags: 0 };
    // SAFETY: the attribute is valid for the call's duration; a returned
    // descriptor is closed at once.
    unsafe {
        let fd = libc::syscall(libc::SYS_bpf, BPF_LINK_GET_FD_BY_ID, &attr as *const Attr, std::mem::size_of::<Attr>());
        if fd >= 0 {
            libc::close(fd as i32);
        }
        fd >= 0
    }
}

/// Waits (a little: the kernel frees links as their last reference goes)
/// until none of these links exists; fails naming those that remain.
pub fn assert_links_released(ids: &[u32], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<u32> = ids.iter().copied().filter(|&id| link_exists(id)).collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: links {left:?} are still there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The total count in the histogram rows of a run's output.
pub fn hist_total(out: &str) -> u64 {
    out.lines()
        .filter(|l| l.starts_with('[') || l.starts_with("(..."))
        .filter_map(|l| l.split('|').next()?.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// One `HH:MM:SS:` row of vfsstat: its eight counts.
fn vfsstat_row(line: &str) -> Option<[u64; 8]> {
    let (time, rest) = line.split_at_checked(10)?;
    let b = time.as_bytes();
    let ok_time = b[2] == b':' && b[5] == b':' && time.ends_with(": ");
    let fields: Vec<u64> = rest.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // Each column is " %8d": nine characters.
    (ok_time && rest.len() == 72 && fields.len() == 8).then(|| fields.try_into().ok()).flatten()
}

pub const VFSSTAT_HEADER: &str = "TIME         READ/s  WRITE/s  FSYNC/s   OPEN/s CREATE/s UNLINK/s  MKDIR/s  RMDIR/s\n";

/// Runs `vfsstat -p PID 1 3` on a reader that opens, reads and writes 300
/// times; checks BCC's header, three rows and the totals. Returns what the
/// tool said on stderr.
pub fn vfsstat_counts_reader_calls() -> String {
    use std::io::Write;
    let reader = build_target("reader", &[]);
    // On tmpfs: an overlay file system (the VM's root) opens the file below
    // too, a second vfs_open per open().
    let file = std::path::Path::new("/dev/shm").join(format!("bpfscope-vfsstat-{}", std::process::id()));
    std::fs::write(&file, vec![b'x'; 4096]).expect("writes");
    let mut workload =
        Command::new(&reader).arg(&file).args(["300", "wait"]).stdin(Stdio::piped()).spawn().expect("spawns");
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "vfsstat", "-p", &pid, "1", "3"]);
    let notice = tracer.early_stderr.clone();
    workload.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    assert!(workload.wait().expect("waits").success());
    let out = tracer.wait(Duration::from_secs(60));
    std::fs::remove_file(&file).ok();
    let text = stdout(&out);
    assert!(text.starts_with(VFSSTAT_HEADER), "{text}");
    let rows: Vec<[u64; 8]> = text.lines().skip(1).filter_map(vfsstat_row).collect();
    assert_eq!(rows.len(), 3, "{text}");
    let total = |col: usize| rows.iter().map(|r| r[col]).sum::<u64>();
    // 300 reads and writes; 300 opens of the file and one of /dev/null.
    assert_eq!((total(0), total(1), total(3)), (300, 300, 301), "reads, writes, opens:\n{text}");
    notice
}

/// Runs bpfscope as user nobody (a copy anyone can run, outside
/// directories only root may enter); `None`, saying why, where that cannot
/// be done.
pub fn run_as_nobody(args: &[&str]) -> Option<Output> {
    use std::os::unix::fs::PermissionsExt;
    if !is_root() {
        skip("needs root to run bpfscope as another user");
        return None;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip("setpriv (util-linux) is missing");
        return None;
    }
    let dir = std::env::temp_dir()
        .join(format!("bpfscope-nobody-{}-{:?}", std::process::id(), std::thread::current().id()))
        .to_string_lossy()
        .replace(['(', ')'], "");
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let exe = dir.join("bpfscope");
    std::fs::copy(env!("CARGO_BIN_EXE_bpfscope"), &exe).expect("copy");
    for p in [&dir, &exe] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args(args)
        .output()
        .expect("runs");
    std::fs::remove_dir_all(&dir).ok();
    Some(out)
}

/// bpftrace 0.17's output without its first line, `Attaching N probes...`
/// (bpftrace 0.26 and bpfscope say `Attached N probes` on stderr instead).
pub fn without_attaching(out: &str) -> String {
    match out.strip_prefix("Attaching ") {
        Some(rest) => rest.split_once('\n').map_or(String::new(), |(_, after)| after.to_string()),
        None => out.to_string(),
    }
}

/// The number in the `Attached N probes` line of a run's stderr.
pub fn attached_count(stderr: &str) -> Option<usize> {
    stderr.lines().find_map(|l| l.strip_prefix("Attached ")?.split(' ').next()?.parse().ok())
}

/// Checks that a run said nothing on stderr but its `Attached N probes`.
#[track_caller]
pub fn assert_only_attached(stderr: &str, what: &str) {
    let rest = stderr.strip_prefix("Attached ").and_then(|r| r.split_once(' ')).map(|(n, r)| (n.parse::<u32>(), r));
    assert!(
        matches!(rest, Some((Ok(_), "probe\n" | "probes\n"))),
        "stderr of {what}: {stderr:?} (wanted only `Attached N probes`)"
    );
}

/// Whether the kernel is in lockdown (securityfs mounted if it is not).
pub fn locked_down() -> bool {
    let path = "/sys/kernel/security/lockdown";
    if !Path::new(path).exists() {
        let _ = Command::new("mount").args(["-t", "securityfs", "none", "/sys/kernel/security"]).status();
    }
    std::fs::read_to_string(path).is_ok_and(|l| !l.contains("[none]"))
}

/// `write_user()` (--unsafe) writes into the traced process: point_sum(p)
/// returns p->x + p->y (7 + 35), and x becomes 100 first. A kernel in
/// lockdown refuses the helper: then the run must say so at the call.
pub fn check_write_user() {
    let target = build_target_as("uprobed", "uprobed_write", &[]);
    let t = target.display().to_string();
    let program = format!(
        r#"uprobe:{t}:point_sum {{ printf("%d\n", write_user(arg0, "\x64\x00\x00", 4)); }}
           uretprobe:{t}:point_sum {{ printf("%d\n", retval); }}"#
    );
    let o = bpfscope().args(["-q", "--unsafe", "-c", &format!("{t} 1"), "-e", &program]).output().expect("runs");
    let (out, err) = (stdout(&o), String::from_utf8_lossy(&o.stderr).into_owned());
    if locked_down() {
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("write_user() needs the kernel's bpf_probe_write_user helper, which this kernel refuses"),
            "{err}"
        );
        assert!(err.contains("write_user(arg0,") && err.contains("lockdown"), "{err}");
    } else {
        assert_eq!(out, "1\n135\n\n\n", "{err}");
    }
}

/// The `<title>`s of an SVG's elements, read with an XML parser: any
/// malformed XML fails the test.
#[allow(dead_code)]
pub fn svg_titles(svg: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let (mut titles, mut in_title) = (Vec::new(), false);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return titles,
            Ok(Event::Start(e)) => in_title = e.name().as_ref() == b"title",
            Ok(Event::Text(t)) if in_title => {
                titles.push(String::from_utf8_lossy(t.as_ref()).into_owned());
            }
            Ok(Event::End(_)) => in_title = false,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at byte {}: {e}", reader.buffer_position()),
        }
    }
}

/// The uprobed target started lingering (`COUNT wait`, `UPROBED_LINGER`):
/// it waits for a line before its calls and for another before it exits,
/// so a tracer can attach before and print while it still lives.
pub struct Lingering {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Lingering {
    pub fn spawn(target: &Path, count: u32) -> Lingering {
        let mut child = Command::new(target)
            .args([count.to_string().as_str(), "wait"])
            .env("UPROBED_LINGER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawns");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        Lingering { child, stdin, stdout }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it make its calls, and waits until they are made.
    pub fn calls(&mut self) {
        use std::io::{BufRead, Write};
        self.stdin.write_all(b"go\n").expect("writes");
        let mut done = String::new();
        self.stdout.read_line(&mut done).expect("reads");
        assert_eq!(done, "done\n");
    }

    /// Lets it exit, and waits until it has.
    pub fn exit(mut self) {
        use std::io::Write;
        self.stdin.write_all(b"bye\n").expect("writes");
        assert!(self.child.wait().expect("waits").success());
    }
}
