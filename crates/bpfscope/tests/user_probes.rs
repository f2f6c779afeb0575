//! `--user-probes`: the command's uprobes run inside it. Each test runs a
//! C target (`targets/userprobed.c`) whose calls it knows, and checks what
//! the probes counted; the differential test runs the same programs in
//! kernel mode on the same target and compares the output.

#[macro_use]
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use support::{Tracer, bpfscope, wait_with_timeout};

fn target() -> PathBuf {
    // -O2 aligns functions to 16 bytes; frame pointers for ustack.
    support::build_target("userprobed", &["-O2", "-fno-omit-frame-pointer", "-pthread"])
}

fn run(args: &[&str], program: &str) -> Output {
    // Without address space randomization (setarch -R, inherited by the
    // command), raw addresses compare between runs.
    let child = std::process::Command::new("setarch")
        .args(["-R", env!("CARGO_BIN_EXE_bpfscope")])
        .args(args)
        .args(["-e", program])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    wait_with_timeout(child, Duration::from_secs(60), program)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The output with the command's pid (printed by BEGIN as `cpid=N`)
/// replaced by `CPID`, and addresses in shared libraries (0x7f...) by
/// `LIB` (the agent, loaded first, moves the others), so two runs compare.
fn normalized(out: &str) -> String {
    let cpid = out.lines().find_map(|l| l.strip_prefix("cpid=")).unwrap_or("no cpid").to_string();
    out.replace(&cpid, "CPID")
        .lines()
        .map(|l| {
            let word = l.trim().trim_start_matches("0x");
            if word.len() == 12 && word.starts_with("7f") && word.bytes().all(|b| b.is_ascii_hexdigit()) {
                "LIB"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The warnings of a run's stderr (what -k reports), without the lines
/// that differ by mode.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with("Attached") && !l.contains("probe at") && !l.starts_with("uprobes:"))
        .collect()
}

#[test]
fn the_same_programs_print_the_same_in_kernel_and_user_space() {
    require_root!();
    let t = target();
    let t = t.to_str().expect("utf-8 path");
    let command = format!("{t} loop 60");
    let programs = [
        // Counts, per probe.
        "uprobe:T:hit, uprobe:T:work, uprobe:T:greet { @[probe] = count(); }",
        // Arguments in registers and on the stack.
        "uprobe:T:work { @[arg0 % 4, arg1, arg5, sarg0, sarg1] = count(); @s = sum(arg0); @m = max(arg0); }",
        // Return values.
        "uretprobe:T:work { @r = stats(retval); } uretprobe:T:greet { @g[retval] = count(); }",
        // Entry and return of one function.
        "uprobe:T:greet { @in = count(); } uretprobe:T:greet { @out[retval] = count(); }",
        // Strings.
        "uprobe:T:greet { @[str(arg0)] = count(); @short[str(arg0, 3)] = count(); }",
        // Maps keyed by the thread.
        "BEGIN { printf(\"cpid=%d\\n\", cpid); } uprobe:T:hit { @[tid] = count(); @p[pid, comm] = count(); }",
        // Histograms.
        "uprobe:T:work { @h = hist(arg0); @l = lhist(arg0, 0, 60, 8); }",
        // printf, in order.
        "BEGIN { printf(\"cpid=%d\\n\", cpid); } uprobe:T:greet { printf(\"%s %d %d\\n\", str(arg0), pid, tid == pid); }",
        // A null pointer read (-k reports it the same way).
        "uprobe:T:deref { @[*(int64 *)arg0] = count(); }",
        // User stacks (symbolized, raw, limited), at entries with and
        // without a frame pointer push, and at a return.
        // (One stack per map: ties print in the order of their stack ids,
        // which are the kernel's hashes in one mode and the agent's in the
        // other.)
        "uprobe:T:hit { @h[ustack] = count(); } uprobe:T:work { @w[ustack] = count(); } \
         uretprobe:T:greet { @r[ustack(3)] = count(); } uprobe:T:greet { @g[ustack(raw)] = count(); }",
        // Assignments, if and variables.
        "uprobe:T:work { $x = arg0 * 2; if ($x > 50) { @big = count(); } else { @small[$x / 10] = count(); } @last = $x; }",
    ];
    for program in programs {
        let program = program.replace("T:", &format!("{t}:"));
        let kernel = run(&["-k", "-c", &command], &program);
        let user = run(&["-k", "-v", "--user-probes", "-c", &command], &program);
        let (k_out, u_out) = (normalized(&text(&kernel.stdout)), normalized(&text(&user.stdout)));
        let u_err = text(&user.stderr);
        assert!(kernel.status.success() && user.status.success(), "{program}: {}\n{u_err}", text(&kernel.stderr));
        assert!(!k_out.trim().is_empty(), "{program}: printed nothing");
        assert_eq!(k_out, u_out, "{program}: kernel and user-space probes differ\n(stderr: {u_err})");
        // Every probe ran in user space: none fell back.
        assert!(u_err.contains("user-space probe at"), "{program}: {u_err}");
        assert!(!u_err.contains("kernel uprobe at"), "{program}: a site fell back:\n{u_err}");
        assert_eq!(warnings(&text(&kernel.stderr)), warnings(&u_err), "{program}: the warnings differ");
    }
}

#[test]
fn eight_threads_count_exactly() {
    require_root!();
    let t = target();
    let t = t.to_str().expect("utf-8 path");
    let out = run(
        &["--user-probes", "-c", &format!("{t} threads 8 50000")],
        &format!("uprobe:{t}:hit {{ @all = count(); @[tid] = count(); }}"),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("@all: 400000\n"), "{stdout}");
    let per_thread: Vec<&str> = stdout.lines().filter(|l| l.starts_with("@[")).collect();
    assert_eq!(per_thread.len(), 8, "{stdout}");
    assert!(per_thread.iter().all(|l| l.ends_with(": 50000")), "{stdout}");
}

#[test]
fn a_bad_pointer_in_a_probe_does_not_crash_the_target() {
    require_root!();
    let t = target();
    let t = t.to_str().expect("utf-8 path");
    // Every call reads through a pointer that is not mapped; the target
    // goes on (all 100 calls of hit() after it are counted) and -k
    // reports the failed reads as in kernel mode.
    let program = format!(
        "uprobe:{t}:work {{ @v[*(int64 *)(arg0 + 0xdead0000)] = count(); @s = count(); }} uprobe:{t}:hit {{ @hits = count(); }}"
    );
    let out = run(&["-k", "--user-probes", "-c", &format!("{t} loop 100")], &program);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("@hits: 100\n") && stdout.contains("@v[0]: 100\n"), "{stdout}");
    assert!(stderr.contains("Bad address") && stderr.contains("probe_read_user, retcode: -14"), "{stderr}");
}

#[test]
fn forks_and_execs_are_traced_as_kernel_uprobes_trace_them() {
    require_root!();
    let t = target();
    let t = t.to_str().expect("utf-8 path");
    let program = format!("uprobe:{t}:hit {{ @[comm] = count(); }}");
    // fork: the child's 2N calls are not counted (kernel uprobes of -c
    // see the command's process); exec: the new program in the same
    // process is traced.
    for (mode, expected) in [("fork 500", "@[userprobed]: 500\n"), ("exec 70", "@[exe]: 70\n")] {
        let command = format!("{t} {mode}");
        let kernel = run(&["-c", &command], &program);
        let user = run(&["-v", "--user-probes", "-c", &command], &program);
        let (k, u) = (text(&kernel.stdout), text(&user.stdout));
        assert_eq!(k, u, "{mode}: kernel and user-space probes differ ({})", text(&user.stderr));
        assert!(u.contains(expected), "{mode}: {u}");
    }
}

/// The process's bytes at the file offset of `symbol` in `binary`.
fn bytes_in_process(pid: u32, binary: &Path, symbol: &str) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let nm = std::process::Command::new("nm").arg(binary).output().ok()?;
    let addr = text(&nm.stdout)
        .lines()
        .find(|l| l.ends_with(&format!(" T {symbol}")))
        .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())?;
    // A PIE's text: the first mapping of the binary maps offset 0, and
    // the symbol's address is its offset from the load address.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let name = binary.to_str()?;
    let base =
        maps.lines().find(|l| l.ends_with(name)).and_then(|l| u64::from_str_radix(l.split('-').next()?, 16).ok())?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    mem.seek(SeekFrom::Start(base + addr)).ok()?;
    let mut b = vec![0u8; 8];
    mem.read_exact(&mut b).ok()?;
    Some(b)
}

/// The command the tracer started (its only child).
fn command_of(tracer: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_killed_tracer_leaves_the_target_running_with_its_bytes_back() {
    require_root!();
    let t = target();
    let original = {
        let file = std::fs::read(&t).expect("reads the target");
        let nm = std::process::Command::new("nm").arg(&t).output().expect("nm");
        let addr = text(&nm.stdout)
            .lines()
            .find(|l| l.ends_with(" T hit"))
            .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
            .expect("hit's address");
        // In these PIEs the text's file offsets are its addresses.
        file[addr as usize..addr as usize + 8].to_vec()
    };
    let ts = t.to_str().expect("utf-8 path");
    let tracer = Tracer::start(&[
        "--user-probes",
        "-c",
        &format!("{ts} spin 3000"),
        "-e",
        &format!("uprobe:{ts}:hit {{ @ = count(); }}"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Some(p) = command_of(tracer.pid()) {
            break p;
        }
        assert!(Instant::now() < deadline, "the command did not start");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Patched while the tracer runs: a jump (0xe9) where hit() begins.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bytes_in_process(pid, &t, "hit").is_none_or(|b| b[0] != 0xe9) {
        assert!(Instant::now() < deadline, "hit() was not patched: {:02x?}", bytes_in_process(pid, &t, "hit"));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::process::Command::new("kill").args(["-KILL", &tracer.pid().to_string()]).status().expect("kill");
    // The agent sees its tracer gone and puts the bytes back; the command
    // goes on to the end and prints hit()'s first bytes as it sees them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while bytes_in_process(pid, &t, "hit").as_deref() != Some(&original[..]) {
        assert!(Instant::now() < deadline, "the bytes did not come back: {:02x?}", bytes_in_process(pid, &t, "hit"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = tracer.wait(Duration::from_secs(20));
    let printed = text(&out.stdout);
    let expected: String = original.iter().map(|b| format!("{b:02x}")).collect();
    assert!(printed.contains(&expected), "the command did not finish with its own bytes: {printed:?}, want {expected}");
}

#[test]
fn user_probes_without_a_command_are_refused_up_front() {
    let out = bpfscope().args(["--user-probes", "-e", "uprobe:/bin/sh:main { }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "--user-probes runs the probes inside one process: a command (-c CMD) or a running process (-p PID)"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn usdt_probes_run_in_user_space() {
    require_root!();
    let t = support::build_target_as("usdted", "usdted_user", &[]);
    let t = t.to_str().expect("utf-8 path");
    // USDT arguments (registers, memory, constants) read from the
    // trampoline's pt_regs as from the kernel's.
    let program = format!("usdt:{t}:usdted:args {{ @[arg0, arg1, arg2, arg3] = count(); }}");
    let command = format!("{t} 7");
    let kernel = run(&["-c", &command], &program);
    let user = run(&["-v", "--user-probes", "-c", &command], &program);
    let (k, u) = (text(&kernel.stdout), text(&user.stdout));
    assert_eq!(k, u, "kernel and user-space probes differ ({})", text(&user.stderr));
    assert!(u.contains("@[6, 1234567890123, -42, -5]: 1\n"), "{u}");
    assert!(
        text(&user.stderr).contains("usdt:") && text(&user.stderr).contains("user-space probe at"),
        "{}",
        text(&user.stderr)
    );
}

/// The target in "hammer" mode: `threads` threads calling tick(0),
/// tick(1), ... until its stdin closes; started and ready.
struct Hammer {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Hammer {
    fn start(target: &Path, threads: u32) -> Hammer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(target)
            .args(["hammer", &threads.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starts the target");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("reads");
        assert_eq!(line, "ready\n");
        Hammer { child, stdout }
    }

    /// Ends the threads; what the target printed and how it exited.
    fn finish(mut self) -> (String, std::process::ExitStatus) {
        use std::io::Read;
        drop(self.child.stdin.take());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("reads");
        (rest, self.child.wait().expect("waits"))
    }
}

/// Each `@name[tid]: n` line's tid and n.
fn per_tid(out: &str, name: &str) -> std::collections::BTreeMap<u64, i64> {
    out.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&format!("@{name}["))?;
            let (tid, n) = rest.split_once("]: ")?;
            Some((tid.parse().ok()?, n.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn attaching_to_a_running_process_and_detaching_leaves_it_running_with_its_own_bytes() {
    require_root!();
    let t = target();
    let ts = t.to_str().expect("utf-8 path");
    let hammer = Hammer::start(&t, 2);
    let pid = hammer.child.id();
    let before = bytes_in_process(pid, &t, "tick").expect("tick's bytes");
    let program = format!("uprobe:{ts}:tick {{ @n = count(); }} interval:ms:100 {{ exit(); }}");
    let out = run(&["-v", "--user-probes", "-p", &pid.to_string()], &program);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("user-space probe at"), "{stderr}");
    let n: u64 = text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("@n: ")?.parse().ok())
        .unwrap_or_else(|| panic!("no count: {}", text(&out.stdout)));
    assert!(n > 1000, "the running threads' calls were not counted: {n}");
    // The bytes are back, as /proc/PID/mem shows them, and the process
    // goes on to the end.
    assert_eq!(bytes_in_process(pid, &t, "tick"), Some(before.clone()));
    let (printed, status) = hammer.finish();
    assert!(status.success(), "the target ended with {status}");
    let expected: String = before.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(printed.trim(), expected);
}

#[test]
fn eight_threads_keep_calling_while_probes_attach_and_detach_100_times() {
    require_root!();
    let t = target();
    let ts = t.to_str().expect("utf-8 path");
    let hammer = Hammer::start(&t, 8);
    let pid = hammer.child.id();
    let before = bytes_in_process(pid, &t, "tick").expect("tick's bytes");
    // Each thread calls tick() with 0, 1, 2...: while attached, a
    // thread's calls are one run of numbers, so its count is exactly
    // max - min + 1.
    let program = format!(
        "uprobe:{ts}:tick {{ @c[tid] = count(); @lo[tid] = min(arg0); @hi[tid] = max(arg0); }} interval:ms:20 {{ exit(); }}"
    );
    let mut threads_seen = std::collections::BTreeSet::new();
    for round in 0..100 {
        let out = run(&["-v", "--user-probes", "-p", &pid.to_string()], &program);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("user-space probe at"), "round {round}: {}", text(&out.stderr));
        let (c, lo, hi) = (per_tid(&stdout, "c"), per_tid(&stdout, "lo"), per_tid(&stdout, "hi"));
        assert!(!c.is_empty(), "round {round}: nothing counted:\n{stdout}");
        for (tid, n) in &c {
            assert_eq!(*n, hi[tid] - lo[tid] + 1, "round {round}, thread {tid}: a call was lost or counted twice");
            threads_seen.insert(*tid);
        }
        assert_eq!(bytes_in_process(pid, &t, "tick"), Some(before.clone()), "round {round}: the bytes are not back");
    }
    assert_eq!(threads_seen.len(), 8, "{threads_seen:?}");
    let (printed, status) = hammer.finish();
    assert!(status.success(), "the target ended with {status}");
    assert_eq!(printed.trim(), before.iter().map(|b| format!("{b:02x}")).collect::<String>());
}

#[test]
fn ctrl_c_detaches_from_a_running_process() {
    require_root!();
    let t = target();
    let ts = t.to_str().expect("utf-8 path");
    let hammer = Hammer::start(&t, 2);
    let pid = hammer.child.id();
    let before = bytes_in_process(pid, &t, "tick").expect("tick's bytes");
    let tracer = Tracer::start(&[
        "--user-probes",
        "-p",
        &pid.to_string(),
        "-e",
        &format!("uprobe:{ts}:tick {{ @n = count(); }}"),
    ]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(bytes_in_process(pid, &t, "tick").map(|b| b[0]), Some(0xe9), "tick() is not patched");
    let out = tracer.interrupt();
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("@n: "), "{}", text(&out.stdout));
    assert_eq!(bytes_in_process(pid, &t, "tick"), Some(before));
    let (_, status) = hammer.finish();
    assert!(status.success(), "the target ended with {status}");
}

#[test]
fn a_process_without_dlopen_is_refused_and_left_alone() {
    require_root!();
    let t = support::build_target_as("userprobed", "userprobed_static", &["-O2", "-static", "-pthread"]);
    let ts = t.to_str().expect("utf-8 path");
    let hammer = Hammer::start(&t, 1);
    let pid = hammer.child.id();
    let out = run(&["--user-probes", "-p", &pid.to_string()], &format!("uprobe:{ts}:tick {{ @n = count(); }}"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("process {pid} has no dlopen in its C library (statically linked?)")), "{stderr}");
    let (_, status) = hammer.finish();
    assert!(status.success(), "the target ended with {status}");
}

#[test]
fn the_probed_code_keeps_its_vector_registers() {
    require_root!();
    let t = target();
    let t = t.to_str().expect("utf-8 path");
    // lanes() takes a vector in all 256 bits of ymm0; each hit's printf
    // copies its event with the C library's memcpy, which uses AVX (and
    // clears upper halves). The command sums what lanes() returned:
    // 10 * (0 + 1 + ... + 99).
    let program = format!(
        "uprobe:{t}:lanes {{ printf(\"%s %s\\n\", comm, \"a string long enough for a vector copy\"); @[comm] = count(); }} \
         uretprobe:{t}:lanes {{ @r = count(); }}"
    );
    let user = run(&["-v", "--user-probes", "-c", &format!("{t} lanes 100")], &program);
    let out = text(&user.stdout);
    assert!(text(&user.stderr).contains("user-space probe at"), "{}", text(&user.stderr));
    assert!(out.contains("lanes 49500\n"), "the command's vector argument was changed:\n{out}");
    assert!(out.contains("@r: 100\n"), "{out}");
}
