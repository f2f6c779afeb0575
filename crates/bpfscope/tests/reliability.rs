//! A catalogue of faults and endings, each counted: what was tried, what
//! was left behind (tracefs events, BPF links), which runs panicked, and
//! which counts came out wrong. It prints its tally as one line:
//! `reliability: N faults tried, L leftovers, P panics, U unreported losses`.

#[macro_use]
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Tracer, assert_links_released, bpfscope, build_target_as, links_of, wait_with_timeout};

/// What the catalogue found.
#[derive(Default)]
struct Tally {
    tried: usize,
    leftovers: Vec<String>,
    panics: Vec<String>,
    losses: Vec<String>,
}

impl Tally {
    fn check_output(&mut self, what: &str, stderr: &[u8]) {
        let err = String::from_utf8_lossy(stderr);
        if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
            self.panics.push(format!("{what}: {err}"));
        }
    }

    /// The tracefs events of bpfscope run `pid`, right now.
    fn check_tracefs(&mut self, what: &str, pid: u32) {
        let events = events_of(pid);
        if !events.is_empty() {
            self.leftovers.push(format!("{what}: {events:?}"));
        }
    }
}

/// The uprobe_events and kprobe_events lines of bpfscope process `pid`.
fn events_of(pid: u32) -> Vec<String> {
    ["uprobe_events", "kprobe_events"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(format!("/sys/kernel/tracing/{f}"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains(&format!(":bpfscope_{pid}/")))
        .collect()
}

/// Counts an ended run and checks what it left: its output for panics,
/// tracefs for its events, the kernel for its links.
fn ended(t: &mut Tally, what: &str, pid: u32, links: &[u32], out: &std::process::Output) {
    t.tried += 1;
    t.check_output(what, &out.stderr);
    t.check_tracefs(what, pid);
    assert_links_released(links, what);
}

/// Runs `process` (stdin piped), traces it with `-p` until it exits after
/// reading `input`, checks the ending; returns what the run printed.
fn trace_process(
    t: &mut Tally,
    what: &str,
    features: &str,
    program: &str,
    mut process: Command,
    input: &[u8],
) -> String {
    let mut traced = process.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().expect("starts the process");
    let traced_pid = traced.id().to_string();
    let tracer = Tracer::start(&with_features(features, &["-p", &traced_pid, "-e", program]));
    let (pid, links) = (tracer.pid(), links_of(tracer.pid()));
    let _ = traced.stdin.take().expect("stdin").write_all(input);
    let _ = traced.wait();
    let out = tracer.wait(Duration::from_secs(30));
    ended(t, what, pid, &links, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The attach paths uprobes can take here.
const PATHS: [(&str, &str); 3] =
    [("uprobe_multi", ""), ("uprobe PMU", "uprobe_multi"), ("uprobe_events", "uprobe_multi,uprobe_pmu")];

fn with_features<'a>(features: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = Vec::new();
    if !features.is_empty() {
        args.extend(["--no-feature", features]);
    }
    args.extend_from_slice(rest);
    args
}

/// Every way a run ends, on every attach path: right after the run is
/// gone, no tracefs event and no link of it remains.
fn endings(t: &mut Tally) {
    let target = build_target_as("uprobed", "uprobed_rel", &[]);
    let target = target.to_str().expect("utf-8");
    // One probe: one link, whose perf event must be closed before its
    // tracefs event can go (the bug this catalogue was started for).
    let program = format!("uprobe:{target}:add {{ @ = count(); }}");
    for (path, features) in PATHS {
        // Signals, and exit() from the program.
        for ending in ["INT", "TERM", "HUP", "exit()"] {
            let what = format!("{ending} on {path}");
            let text = if ending == "exit()" { format!("uprobe:{target}:add {{ exit(); }}") } else { program.clone() };
            let tracer = Tracer::start(&with_features(features, &["-e", &text]));
            let (pid, links) = (tracer.pid(), links_of(tracer.pid()));
            if features.contains("uprobe_pmu") && events_of(pid).is_empty() {
                t.leftovers.push(format!("{what}: no tracefs event while attached (the path was not taken)"));
            }
            let out = if ending == "exit()" {
                // The target's call to add() runs exit().
                let _ = Command::new(target).arg("1").status();
                tracer.wait(Duration::from_secs(30))
            } else {
                tracer.signal(ending)
            };
            ended(t, &what, pid, &links, &out);
        }
        // The traced process (-p) exits.
        let mut traced = Command::new(target);
        traced.args(["1", "wait"]).env("UPROBED_LINGER", "1");
        // Two lines: one to make the calls, one to exit.
        trace_process(t, &format!("traced process exiting on {path}"), features, &program, traced, b"go\ngo\n");
        // A -c child that runs, and one that cannot start.
        for (what, command) in
            [("-c child exiting", format!("{target} 2")), ("-c child failing to start", "/nonexistent/cmd".into())]
        {
            let what = format!("{what} on {path}");
            let child = bpfscope()
                .args(with_features(features, &["-c", &command, "-e", &program]))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawns");
            let pid = child.id();
            let out = wait_with_timeout(child, Duration::from_secs(30), &what);
            t.tried += 1;
            t.check_output(&what, &out.stderr);
            t.check_tracefs(&what, pid);
        }
    }
}

/// SIGKILL at moments spread over start-up (before, during and after
/// attaching): whatever a killed run left, `--cleanup` removes, and its
/// links are gone with it.
fn kills(t: &mut Tally) {
    let target = build_target_as("uprobed", "uprobed_kill_rel", &[]);
    let program = format!("uprobe:{}:step_* {{ @ = count(); }}", target.display());
    let mut killed = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..51 {
        let (_, features) = PATHS[i % PATHS.len()];
        // A moment in the first 60 ms (about as long as attaching takes).
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % 60_000);
        let mut child = bpfscope()
            .args(with_features(features, &["-e", &program]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns");
        std::thread::sleep(delay);
        let links = links_of(child.id());
        let _ = child.kill();
        let _ = child.wait();
        killed.push(child.id());
        assert_links_released(&links, "SIGKILL");
        t.tried += 1;
    }
    let left_by_kills = killed.iter().filter(|&&pid| !events_of(pid).is_empty()).count();
    let o = bpfscope().arg("--cleanup").output().expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    t.check_output("--cleanup", &o.stderr);
    for pid in killed {
        t.check_tracefs("after --cleanup", pid);
    }
    eprintln!("kills: {left_by_kills} of 51 killed runs left tracefs events; --cleanup removed them");
}

/// Eight runs at once on the same function and the same tracepoint, on
/// all attach paths: each counts every call exactly, and none removes
/// another's events as it ends.
fn concurrent_runs(t: &mut Tally) {
    let uprobed = build_target_as("uprobed", "uprobed_conc", &[]);
    let getppid = build_target_as("getppid_loop", "getppid_conc", &[]);
    let program = format!(
        "uprobe:{}:add {{ @calls = count(); }} tracepoint:syscalls:sys_enter_getppid /comm == \"getppid_conc\"/ {{ @getppid = count(); }}",
        uprobed.display()
    );
    let tracers: Vec<Tracer> =
        (0..8).map(|i| Tracer::start(&with_features(PATHS[i % PATHS.len()].1, &["-e", &program]))).collect();
    assert!(Command::new(&uprobed).arg("7").status().expect("runs").success());
    assert!(Command::new(&getppid).arg("1000").stderr(Stdio::null()).status().expect("runs").success());
    // Let the events reach the maps before the first run stops.
    std::thread::sleep(Duration::from_millis(200));
    let pids: Vec<u32> = tracers.iter().map(Tracer::pid).collect();
    for (i, tracer) in tracers.into_iter().enumerate() {
        // The runs still going keep their events while this one removes its own.
        for &other in &pids[i + 1..] {
            if PATHS[(pids.iter().position(|&p| p == other).unwrap_or(0)) % PATHS.len()].1.contains("uprobe_pmu")
                && events_of(other).is_empty()
            {
                t.leftovers.push(format!("run {other} lost its tracefs events when another ended"));
            }
        }
        let out = tracer.interrupt();
        t.tried += 1;
        t.check_output("concurrent run", &out.stderr);
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.contains("@calls: 7\n") || !text.contains("@getppid: 1000\n") {
            t.losses.push(format!("concurrent run {i}: {text:?}"));
        }
        t.check_tracefs("concurrent run", pids[i]);
    }
}

/// The traced binary deleted, replaced by another file, or rewritten in
/// place while probes are on it, on every attach path: the run goes on,
/// ends cleanly and leaves nothing; a process of a new file is not counted
/// as the old, one of the rewritten file is.
fn files_changing(t: &mut Tally) {
    let built = build_target_as("uprobed", "uprobed_changing", &[]);
    for (path, features) in PATHS {
        for change in ["deleted", "replaced", "rewritten"] {
            let what = format!("binary {change} while attached, on {path}");
            let file = std::env::temp_dir().join(format!("bpfscope-changing-{}-{}", std::process::id(), t.tried));
            std::fs::copy(&built, &file).expect("copies");
            let program = format!("uprobe:{}:add {{ @ = count(); }}", file.display());
            let tracer = Tracer::start(&with_features(features, &["-e", &program]));
            let (pid, links) = (tracer.pid(), links_of(tracer.pid()));
            assert!(Command::new(&file).arg("3").status().expect("runs").success());
            // The probe stays on the file itself (its inode): a copy
            // written over it in place keeps it, a new file does not.
            let mut expected = 3;
            if change == "deleted" {
                std::fs::remove_file(&file).expect("deletes");
            } else if change == "rewritten" {
                std::fs::write(&file, std::fs::read(&built).expect("reads")).expect("rewrites in place");
                assert!(Command::new(&file).arg("5").status().expect("runs").success());
                expected += 5;
            } else {
                // A new file under the same name (as a package upgrade does).
                let next = file.with_extension("new");
                std::fs::copy(&built, &next).expect("copies");
                std::fs::rename(&next, &file).expect("renames");
                assert!(Command::new(&file).arg("5").status().expect("runs").success());
            }
            std::thread::sleep(Duration::from_millis(100));
            let out = tracer.interrupt();
            ended(t, &what, pid, &links, &out);
            let text = String::from_utf8_lossy(&out.stdout);
            if text != format!("\n\n@: {expected}\n") {
                t.losses.push(format!("{what}: {text:?} ({expected} calls of the traced file)"));
            }
            let _ = std::fs::remove_file(&file);
        }
    }
}

/// The traced process (-p) exec'ing the traced binary: its calls after
/// the exec are counted (the probes are on the file, filtered by pid), and
/// the run ends cleanly when the process does.
fn exec_of_the_traced_process(t: &mut Tally) {
    let target = build_target_as("uprobed", "uprobed_exec", &[]);
    let program = format!("uprobe:{}:add {{ @ = count(); }}", target.display());
    for (path, features) in PATHS {
        let what = format!("traced process exec'ing on {path}");
        let mut shell = Command::new("sh");
        shell.args(["-c", &format!("read line; exec {} 3", target.display())]);
        let text = trace_process(t, &what, features, &program, shell, b"go\n");
        if text != "\n\n@: 3\n" {
            t.losses.push(format!("{what}: {text:?} (3 calls after the exec)"));
        }
    }
}

/// The value of a USDT semaphore in a running process: `vaddr` from the
/// symbol table, moved by where the file's first page is mapped.
fn semaphore(pid: u32, exe: &std::path::Path, vaddr: u64) -> u16 {
    use std::os::unix::fs::FileExt;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let exe = exe.canonicalize().expect("canonical");
    let base = maps
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6 && f[2] == "00000000" && std::path::Path::new(f[5]) == exe)
                .then(|| u64::from_str_radix(f[0].split('-').next()?, 16).ok())?
        })
        .expect("the executable's first page");
    let mut value = [0u8; 2];
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("mem");
    mem.read_exact_at(&mut value, base + vaddr).expect("reads the semaphore");
    u16::from_le_bytes(value)
}

/// USDT semaphores, on both attach paths and every ending (SIGKILL too):
/// set while a run is attached (the kernel's reference counter), back to
/// 0 in the traced process right after the run is gone.
fn usdt_semaphores(t: &mut Tally) {
    let header = ["/usr/include/sys/sdt.h", "/usr/include/x86_64-linux-gnu/sys/sdt.h"];
    if !header.iter().any(|h| std::path::Path::new(h).exists()) {
        eprintln!("usdt semaphores: not tried: sys/sdt.h is missing (scripts/test.sh installs systemtap-sdt-dev)");
        assert!(std::env::var_os("CI").is_none(), "CI installs sys/sdt.h");
        return;
    }
    let target = build_target_as("usdted", "usdted_sem", &["-fPIE", "-pie"]);
    let nm = Command::new("nm").arg(&target).output().expect("nm runs");
    let vaddr = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find_map(|l| l.strip_suffix(" usdted_guarded_semaphore")?.split(' ').next().map(str::to_string))
        .and_then(|a| u64::from_str_radix(&a, 16).ok())
        .expect("the semaphore's symbol");
    let program = format!("usdt:{}:guarded {{ @ = count(); }}", target.display());
    for (path, features) in [("uprobe PMU", ""), ("uprobe_events", "uprobe_pmu")] {
        for ending in ["INT", "TERM", "HUP", "KILL"] {
            let what = format!("USDT semaphore after SIG{ending} on {path}");
            let mut traced = Command::new(&target)
                .args(["1", "wait"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawns");
            // Let it run to its wait (its mappings in place).
            std::thread::sleep(Duration::from_millis(50));
            let pid = traced.id();
            let tracer = Tracer::start(&with_features(features, &["-e", &program]));
            if semaphore(pid, &target, vaddr) != 1 {
                t.leftovers.push(format!("{what}: the semaphore was not set while attached"));
            }
            let tracer_pid = tracer.pid();
            let out = tracer.signal(ending);
            t.tried += 1;
            if ending != "KILL" {
                t.check_output(&what, &out.stderr);
            }
            // The kernel drops its count as the run's links go (a killed
            // run's, as its files close): allowed a moment.
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut left = semaphore(pid, &target, vaddr);
            while left != 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                left = semaphore(pid, &target, vaddr);
            }
            if left != 0 {
                t.leftovers.push(format!("{what}: the semaphore is {left}"));
            }
            if ending == "KILL" {
                // What a killed run leaves in tracefs, --cleanup removes.
                let _ = bpfscope().arg("--cleanup").output();
            }
            t.check_tracefs(&what, tracer_pid);
            let _ = traced.stdin.take().expect("stdin").write_all(b"go\n");
            let _ = traced.wait();
        }
    }
}

/// A library unloaded (its pages unmapped) and loaded again while probes
/// are on it, on every attach path: the calls of both loads are counted.
fn library_unmapped(t: &mut Tally) {
    let lib = build_target_as("libwork", "libwork_rel.so", &["-shared", "-fPIC"]);
    let loader = build_target_as("dlopener", "dlopener_rel", &["-ldl"]);
    let program = format!("uprobe:{}:lib_work {{ @ = count(); }}", lib.display());
    for (path, features) in PATHS {
        let what = format!("library unmapped and mapped again on {path}");
        let tracer = Tracer::start(&with_features(features, &["-e", &program]));
        let (pid, links) = (tracer.pid(), links_of(tracer.pid()));
        let status = Command::new(&loader).arg(&lib).args(["4", "6"]).status().expect("runs");
        assert!(status.success(), "{what}: the loader failed");
        std::thread::sleep(Duration::from_millis(100));
        let out = tracer.interrupt();
        ended(t, &what, pid, &links, &out);
        let text = String::from_utf8_lossy(&out.stdout);
        if text != "\n\n@: 10\n" {
            t.losses.push(format!("{what}: {text:?} (4 + 6 calls)"));
        }
    }
}

/// Refusals from the system and from the program: each is a message that
/// names the cause and what to do, with exit code 1 (or, where the run can
/// go on, a warning), never a panic and never silence.
fn refusals(t: &mut Tally) {
    let exe = env!("CARGO_BIN_EXE_bpfscope");
    // (what, command, expected exit code, what stderr must say)
    let tracepoint = format!("{exe} -e 'tracepoint:syscalls:sys_enter_openat {{ @ = count(); exit(); }}'");
    let cases: Vec<(&str, Command, i32, &str)> = vec![
        (
            "tracefs not mounted",
            shell(&format!(
                "umount /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; exec {tracepoint}"
            )),
            1,
            "tracefs is not mounted (mount it with: mount -t tracefs nodev /sys/kernel/tracing)",
        ),
        (
            "not root",
            {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", exe, "-e", "BEGIN { exit(); }"]);
                c
            },
            1,
            "loading BPF programs needs root (CAP_BPF and CAP_PERFMON): run bpfscope with sudo",
        ),
        (
            // A container's root: perf_event_paranoid cannot be the cause
            // alone (CAP_PERFMON is what overrides it, and tracing
            // programs need it whatever its value), so the line names the
            // capability.
            "root without CAP_PERFMON",
            {
                let mut c = Command::new("setpriv");
                let drop = "-perfmon,-sys_admin";
                c.args(["--inh-caps", drop, "--bounding-set", drop, "--", exe, "-e", "BEGIN { exit(); }"]);
                c
            },
            1,
            "bpfscope: error: loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and this \
             process, though root, lacks CAP_PERFMON: grant them (in a container: --cap-add BPF --cap-add \
             PERFMON, or --privileged); lowering kernel.perf_event_paranoid",
        ),
        (
            "out of map space",
            {
                let mut c = bpfscope();
                c.args(["-e", "config = { max_map_keys = 2 } BEGIN { @[1] = 1; @[2] = 2; @[3] = 3; exit(); }"]);
                c
            },
            0,
            "Map full; can't update element. Try increasing max_map_keys",
        ),
        (
            "verifier rejection",
            {
                let mut c = bpfscope();
                c.args(["--no-feature", "bpf_loop", "-e", "BEGIN { $i = 0; while ($i < 100000000) { $i++; } }"]);
                c
            },
            1,
            "error: the BPF verifier rejected probe BEGIN",
        ),
        (
            "no such binary",
            {
                let mut c = bpfscope();
                c.args(["-e", "uprobe:/nonexistent/bin:f { }"]);
                c
            },
            1,
            "stdin:1:1: error: /nonexistent/bin: no such file",
        ),
    ];
    for (what, mut command, code, says) in cases {
        let out = command.output().expect("runs");
        t.tried += 1;
        t.check_output(what, &out.stderr);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {err}");
        assert!(err.contains(says), "{what}: {err}");
        // Privileges are refused in one line; the others point into the
        // program (at the probe that needs tracefs, say) under theirs.
        if ["not root", "root without CAP_PERFMON"].contains(&what) {
            assert_eq!(err.lines().count(), 1, "{what}: one line, not {err}");
        }
    }
    // RLIMIT_MEMLOCK: kernels since 5.11 charge BPF memory to the cgroup
    // instead, so a run with none still works.
    let out = Command::new("prlimit").args(["--memlock=0:0", exe, "-q", "-e", "BEGIN { @ = 7; exit(); }"]).output();
    let out = out.expect("runs");
    t.tried += 1;
    t.check_output("RLIMIT_MEMLOCK 0", &out.stderr);
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()), (Some(0), "\n\n@: 7\n"));
    // Lockdown: the kernel refuses write_user()'s helper, said at the call.
    if support::locked_down() {
        let target = build_target_as("uprobed", "uprobed_lockdown", &[]);
        let program =
            format!("uprobe:{}:point_sum {{ $p = (int32 *)arg0; write_user($p, \"abcd\", 4); }}", target.display());
        let out = bpfscope().args(["--unsafe", "-e", &program]).output().expect("runs");
        t.tried += 1;
        t.check_output("lockdown", &out.stderr);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        let refused = "error: write_user() needs the kernel's bpf_probe_write_user helper, which this kernel refuses";
        assert!(err.contains(refused), "{err}");
        assert!(err.contains("hint: kernels in lockdown (see /sys/kernel/security/lockdown) forbid writing"), "{err}");
    } else {
        eprintln!(
            "refusals: lockdown not tried: this kernel is not locked down (kernel_probes' write_user test runs there)"
        );
    }
}

/// `sh -c SCRIPT` in a mount namespace of its own (what it unmounts stays
/// mounted for everyone else).
fn shell(script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "sh", "-c", script]);
    c
}

/// The resident memory of a process, in KiB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// A soak at the highest event rate this machine allows (a process calling
/// getppid() without pause, every call printed) for `BPFSCOPE_SOAK_SECONDS`
/// (10 by default, a minute in CI): the resident memory, sampled every
/// second after the first few, grows less than 5 %, and every call is
/// either printed or counted as lost.
fn soak(t: &mut Tally) {
    use std::io::Read;
    let seconds: u64 = std::env::var("BPFSCOPE_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let target = build_target_as("getppid_for", "getppid_soak", &[]);
    let mut child = bpfscope()
        .args(["-c", &format!("{} {seconds}", target.display())])
        .args(["-e", "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf(\"%d %d\\n\", tid, 42); }"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout");
    // Count the lines as they come, keeping none of them.
    let lines = std::thread::spawn(move || {
        let (mut buf, mut n) = (vec![0u8; 1 << 16], 0u64);
        while let Ok(got) = stdout.read(&mut buf) {
            if got == 0 {
                break;
            }
            n += buf[..got].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        n
    });
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds + 60);
    while child.try_wait().expect("waits").is_none() {
        assert!(Instant::now() < deadline, "the soak did not end");
        std::thread::sleep(Duration::from_secs(1));
        samples.extend(rss_kb(pid));
    }
    let out = child.wait_with_output().expect("collects");
    let printed = lines.join().expect("counts");
    let err = String::from_utf8_lossy(&out.stderr);
    t.tried += 1;
    t.check_output("soak", &out.stderr);
    let calls: u64 = err.lines().find_map(|l| l.strip_suffix(" calls")?.parse().ok()).expect("the target's count");
    let lost: u64 =
        err.lines().filter_map(|l| l.strip_prefix("Lost ")?.strip_suffix(" events")?.parse::<u64>().ok()).sum();
    // Two blank lines end the output (the maps at exit).
    let delivered = printed.saturating_sub(2);
    if delivered + lost != calls {
        t.losses.push(format!("soak: {calls} calls, {delivered} printed, {lost} counted as lost"));
    }
    // After the first 3 s (buffers filled, caches warm), flat.
    let settled = samples.get(3..).unwrap_or(&[]);
    if let (Some(&first), Some(&most)) = (settled.first(), settled.iter().max())
        && most * 100 > first * 105
    {
        t.leftovers.push(format!("soak: resident memory grew from {first} KiB to {most} KiB"));
    }
    eprintln!(
        "soak: {seconds} s, {calls} calls ({:.1} million a second), {delivered} printed, {lost} lost, RSS {:?} KiB",
        calls as f64 / seconds as f64 / 1e6,
        settled.first().zip(settled.iter().max())
    );
}

#[test]
fn fault_catalogue() {
    require_root!();
    let start = Instant::now();
    let mut t = Tally::default();
    endings(&mut t);
    kills(&mut t);
    concurrent_runs(&mut t);
    refusals(&mut t);
    files_changing(&mut t);
    exec_of_the_traced_process(&mut t);
    library_unmapped(&mut t);
    usdt_semaphores(&mut t);
    soak(&mut t);
    eprintln!(
        "reliability: {} faults tried, {} leftovers, {} panics, {} unreported losses ({:.1} s)",
        t.tried,
        t.leftovers.len(),
        t.panics.len(),
        t.losses.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(t.leftovers.is_empty(), "left behind: {:#?}", t.leftovers);
    assert!(t.panics.is_empty(), "panicked: {:#?}", t.panics);
    assert!(t.losses.is_empty(), "wrong counts: {:#?}", t.losses);
}
