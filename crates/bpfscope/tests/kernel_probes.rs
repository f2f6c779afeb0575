//! Kernel probes: kprobe and kretprobe on every attach path. They need a
//! kernel with kprobes. Where the host has none (the development machines
//! do not), `run_where_the_kernel_has_kprobes` boots the VM harness
//! (scripts/vm/run-in-vm.sh) and runs this file's other tests inside it,
//! all in one boot; they are marked ignored so that a plain `cargo test`
//! on such a host runs them only that way.

#[macro_use]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

const IN_VM: &str = "BPFSCOPE_IN_VM";

fn kernel_has_kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || Path::new("/sys/kernel/tracing/kprobe_events").exists()
}

#[test]
fn run_where_the_kernel_has_kprobes() {
    if std::env::var_os(IN_VM).is_some() {
        return;
    }
    require_root!();
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = if kernel_has_kprobes() {
        Command::new(&exe)
    } else {
        let mut c = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vm/run-in-vm.sh"));
        c.arg(&exe);
        // Emulated (no KVM), the file's tests take about ten minutes.
        if std::env::var_os("RUN_IN_VM_TIMEOUT").is_none() {
            c.env("RUN_IN_VM_TIMEOUT", "1500");
        }
        c
    };
    // Inside, the tests run one at a time: they count events system-wide.
    cmd.args(["--ignored", "--test-threads=1"]).env(IN_VM, "1");
    let out = cmd.output().expect("runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "the kernel probe tests failed (exit {:?})", out.status.code());
    assert!(stdout.contains("test result: ok"), "no test ran:\n{stdout}");
}

/// A file with enough bytes for the reader's 137-byte reads.
fn data_file() -> PathBuf {
    let p = std::env::temp_dir().join(format!("bpfscope-kprobe-data-{}", std::process::id()));
    std::fs::write(&p, vec![b'x'; 4096]).expect("writes");
    p
}

/// Runs `program` with `flags` while `reader FILE n` runs, and returns
/// what it printed.
fn trace_reader(flags: &[&str], program: &str, n: u32) -> String {
    trace_reader_attached(flags, program, n).0
}

/// `trace_reader`, and how many probes the run said it attached.
fn trace_reader_attached(flags: &[&str], program: &str, n: u32) -> (String, Option<usize>) {
    let reader = build_target("reader", &[]);
    let file = data_file();
    let mut args = flags.to_vec();
    args.extend(["-e", program]);
    let tracer = Tracer::start(&args);
    let attached = support::attached_count(&tracer.early_stderr);
    let status = Command::new(&reader).arg(&file).arg(n.to_string()).status().expect("reader runs");
    assert!(status.success());
    let out = tracer.interrupt();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (stdout(&out), attached)
}

/// Every way kprobes reach the kernel: one kprobe_multi link (where the
/// kernel has it), one perf event per function from the PMU, and
/// kprobe_events.
const PATHS: [&[&str]; 3] = [&[], &["--no-feature", "kprobe_multi"], &["--no-feature", "kprobe_pmu,kprobe_multi"]];

#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn vfs_read_counts_arguments_and_return_values() {
    let program = r#"kprobe:vfs_read /comm == "reader" && arg2 == 137/ { @reads = count(); @[func, probe] = count(); }
        kretprobe:vfs_read /comm == "reader" && retval == 137/ { @ret[retval] = count(); }"#;
    for flags in PATHS {
        let out = trace_reader(flags, program, 7);
        assert_eq!(out, "\n\n@[vfs_read, kprobe:vfs_read]: 7\n@reads: 7\n@ret[137]: 7\n", "{flags:?}");
    }
}

#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn duration_histogram_from_entry_and_return() {
    let program = r#"kprobe:vfs_read /comm == "reader"/ { @start[tid] = nsecs; @calls = count(); }
        kretprobe:vfs_read /@start[tid]/ { @ns = hist(nsecs - @start[tid]); delete(@start[tid]); }"#;
    let out = trace_reader(&[], program, 5);
    let calls: u64 = out.lines().find_map(|l| l.strip_prefix("@calls: ")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let in_hist = hist_total(&out);
    assert!(calls >= 5, "{out}");
    assert_eq!(in_hist, calls, "{out}");
}

#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn wildcard_counts_every_vfs_function() {
    let listed = bpfscope().args(["-l", "kprobe:vfs_*"]).output().expect("lists");
    let listed = stdout(&listed);
    for f in ["vfs_read", "vfs_write", "vfs_open"] {
        assert!(listed.lines().any(|l| l == format!("kprobe:{f}")), "{f} in:\n{listed}");
    }
    let n = listed.lines().count();
    // Text symbols that match but cannot be traced are left out, and counted.
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("kallsyms");
    let all: std::collections::BTreeSet<&str> = kallsyms
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (_, kind, name) = (w.next()?, w.next()?, w.next()?);
            let module = w.next();
            (matches!(kind, "t" | "T") && module.is_none() && name.starts_with("vfs_") && !name.contains('.'))
                .then_some(name)
        })
        .collect();
    let skipped = all.len() - n;
    let dry = bpfscope().args(["--dry-run", "-e", "kprobe:vfs_* { }"]).output().expect("runs");
    let warning = String::from_utf8_lossy(&dry.stderr);
    if skipped > 0 {
        assert!(warning.contains(&format!("kprobe:vfs_*: skipped {skipped} matching function")), "{warning}");
    } else {
        assert_eq!(warning, "");
    }
    for flags in &PATHS[..2] {
        let (out, attached) =
            trace_reader_attached(flags, r#"kprobe:vfs_* /comm == "reader"/ { @[probe] = count(); }"#, 6);
        assert_eq!(attached, Some(n), "{flags:?}: {out}");
        let count = |f: &str| -> u64 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("@[kprobe:{f}]: ")))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0)
        };
        assert!(count("vfs_read") >= 6 && count("vfs_write") >= 6 && count("vfs_open") >= 6, "{flags:?}: {out}");
        // bpftrace's order: ascending counts.
        let counts: Vec<u64> =
            out.lines().filter_map(|l| l.rsplit_once("]: ").and_then(|(_, c)| c.parse().ok())).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{out}");
    }
}

#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn kernel_stacks_are_symbolized() {
    let out = trace_reader(&[], r#"kprobe:vfs_read /comm == "reader"/ { @[kstack(3)] = count(); }"#, 3);
    // bpftrace's form: `function+offset`, the offset in decimal; each
    // stack (read and pread make two) begins in vfs_read, 3 frames at most.
    let stacks: Vec<Vec<&str>> = out
        .split("@[\n")
        .skip(1)
        .map(|k| k.lines().take_while(|l| l.starts_with("    ")).map(str::trim).collect())
        .collect();
    assert!(!stacks.is_empty(), "{out}");
    let symbol = |f: &&str| f.split_once('+').is_some_and(|(name, off)| !name.is_empty() && off.parse::<u64>().is_ok());
    for frames in &stacks {
        assert!((1..=3).contains(&frames.len()), "{out}");
        assert!(frames[0].starts_with("vfs_read+"), "{out}");
        assert!(frames.iter().all(symbol), "{out}");
    }
}

/// The kprobe_events lines of bpfscope run `pid`.
fn kprobe_events_of(pid: u32) -> usize {
    let text = std::fs::read_to_string("/sys/kernel/tracing/kprobe_events").unwrap_or_default();
    text.lines().filter(|l| l.contains(&format!(":bpfscope_{pid}/"))).count()
}

/// Every ending on every kprobe attach path (kprobe_multi, the kprobe PMU,
/// kprobe_events), with one probe and with two: right after the run is
/// gone, none of its tracefs events and none of its links remain. Then
/// SIGKILLs at moments spread over start-up: what they leave, `--cleanup`
/// removes.
#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn kprobe_endings_leave_nothing_on_any_path() {
    let reader = build_target("reader", &[]);
    let file = data_file();
    let read = || assert!(Command::new(&reader).arg(&file).arg("3").status().expect("runs").success());
    let mut tried = 0;
    for flags in PATHS {
        let legacy = flags.last().is_some_and(|f| f.contains("kprobe_pmu"));
        let with = |program: &str| -> Vec<String> {
            flags.iter().map(|s| s.to_string()).chain(["-e".to_string(), program.to_string()]).collect()
        };
        for (ending, program) in [
            ("INT", "kprobe:vfs_read { @ = count(); }"),
            ("TERM", "kprobe:vfs_read,kretprobe:vfs_write { @ = count(); }"),
            ("HUP", "kprobe:vfs_read { @ = count(); }"),
            ("exit()", "kprobe:vfs_read /comm == \"reader\"/ { exit(); }"),
        ] {
            let what = format!("{ending} on {flags:?} with {program}");
            let args = with(program);
            let tracer = Tracer::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
            let (pid, links) = (tracer.pid(), links_of(tracer.pid()));
            let probes = program.matches("probe:").count();
            assert_eq!(kprobe_events_of(pid), if legacy { probes } else { 0 }, "{what}: events while attached");
            assert!(!links.is_empty(), "{what}: no link while attached");
            let out = if ending == "exit()" {
                read();
                tracer.wait(Duration::from_secs(30))
            } else {
                tracer.signal(ending)
            };
            assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(kprobe_events_of(pid), 0, "{what}: events left");
            assert_links_released(&links, &what);
            tried += 1;
        }
        // A -c child that runs, and one that cannot start.
        let command = format!("{} {} 3", reader.display(), file.display());
        for (what, command) in [("-c child exiting", command.as_str()), ("-c child failing", "/nonexistent/cmd")] {
            let mut args = with("kprobe:vfs_read { @ = count(); }");
            args.splice(0..0, ["-c".to_string(), command.to_string()]);
            let child = bpfscope()
                .args(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawns");
            let pid = child.id();
            let out = wait_with_timeout(child, Duration::from_secs(30), what);
            assert_eq!(out.status.success(), what == "-c child exiting", "{what}: {}", stdout(&out));
            assert_eq!(kprobe_events_of(pid), 0, "{what} on {flags:?}: events left");
            tried += 1;
        }
        // SIGKILL at three moments over start-up (0 to 120 ms).
        let mut killed = Vec::new();
        for i in 0..3u64 {
            let mut child = bpfscope()
                .args(with("kprobe:vfs_read,kretprobe:vfs_write { @ = count(); }"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawns");
            std::thread::sleep(Duration::from_millis(i * 60));
            let links = links_of(child.id());
            let _ = child.kill();
            let _ = child.wait();
            assert_links_released(&links, "SIGKILL");
            killed.push(child.id());
            tried += 1;
        }
        let out = bpfscope().arg("--cleanup").output().expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for pid in killed {
            assert_eq!(kprobe_events_of(pid), 0, "--cleanup after SIGKILL on {flags:?}");
        }
    }
    eprintln!("kprobe endings: {tried} tried on {} paths, nothing left", PATHS.len());
}

#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn legacy_kprobe_events_never_outlive_the_run() {
    let events_of = kprobe_events_of;
    let one = ["--no-feature", "kprobe_pmu,kprobe_multi", "-e", "kprobe:vfs_read { @ = count(); }"];
    let legacy =
        ["--no-feature", "kprobe_pmu,kprobe_multi", "-e", "kprobe:vfs_read,kretprobe:vfs_write { @ = count(); }"];
    let tracer = Tracer::start(&one);
    let killed = tracer.pid();
    Command::new("kill").args(["-KILL", &killed.to_string()]).status().expect("kill");
    drop(tracer);
    assert_eq!(events_of(killed), 1, "a killed run cannot clean up");
    let out = bpfscope().arg("--cleanup").output().expect("runs");
    assert_eq!(stdout(&out), format!("removed bpfscope_{killed}/kp0\n"));
    assert_eq!(events_of(killed), 0, "--cleanup");
    let tracer = Tracer::start(&legacy);
    let killed = tracer.pid();
    Command::new("kill").args(["-KILL", &killed.to_string()]).status().expect("kill");
    drop(tracer);
    assert_eq!(events_of(killed), 2, "a killed run cannot clean up");
    let quick = ["--no-feature", "kprobe_pmu", "-e", "kprobe:vfs_read { } interval:ms:1 { exit(); }"];
    let out = bpfscope().args(quick).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(events_of(killed), 0, "the next run removes what the killed one left");
}

#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn same_number_of_probes_as_bpftrace() {
    if Command::new("bpftrace").arg("--version").output().is_err() {
        support::skip("bpftrace is not installed (scripts/test.sh installs it as the oracle)");
        return;
    }
    // bpftrace 0.17 says `Attaching N probes...` on stdout; bpfscope, as
    // bpftrace 0.26, `Attached N probes` on stderr.
    let attaching = |mut cmd: Command| -> Option<usize> {
        let child = cmd
            .args(["-e", "kprobe:vfs_* { @[probe] = count(); } interval:s:1 { exit(); }"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawns");
        let out = wait_with_timeout(child, Duration::from_secs(120), "vfs_* run");
        let first = stdout(&out).lines().next().unwrap_or_default().to_string();
        let theirs = first.strip_prefix("Attaching ").and_then(|s| s.split(' ').next()?.parse().ok());
        theirs.or_else(|| support::attached_count(&String::from_utf8_lossy(&out.stderr)))
    };
    let ours = attaching(bpfscope());
    let theirs = attaching(Command::new("bpftrace"));
    assert_eq!(ours, theirs);
}

/// `override()` (with --unsafe) makes a kernel function open to error
/// injection return a value of the program's instead of running: here
/// `getppid()` of one process returns 4242. Debian's kernel is built
/// without error injection, so there the run must say so at the call.
#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn override_changes_the_return_value() {
    let has_override = std::fs::read_to_string("/sys/kernel/debug/error_injection/list").is_ok();
    let functions = std::fs::read_to_string("/sys/kernel/tracing/available_filter_functions").unwrap_or_default();
    let target = ["__x64_sys_getppid", "__do_sys_getppid"]
        .into_iter()
        .find(|f| functions.lines().any(|l| l.split_whitespace().next() == Some(f)))
        .expect("a traceable getppid");
    let program = format!(r#"kprobe:{target} /comm == "python3"/ {{ override(4242); @ = count(); }}"#);
    if !has_override {
        let o = bpfscope().args(["--unsafe", "-e", &program]).output().expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("error: override() needs the kernel's bpf_override_return helper"), "{err}");
        assert!(err.contains("override(4242)") && err.contains("CONFIG_BPF_KPROBE_OVERRIDE"), "{err}");
        return;
    }
    let tracer = Tracer::start(&["--unsafe", "-e", &program]);
    let py = Command::new("python3").args(["-c", "import os; print(os.getppid())"]).output().expect("python3 runs");
    let out = stdout(&tracer.interrupt());
    assert_eq!(String::from_utf8_lossy(&py.stdout), "4242\n", "{out}");
    assert!(out.contains("@: 1\n"), "{out}");
}

/// `path()` (bpf_d_path) names the file a `struct path` is, in a function
/// the kernel allows it in (filp_close: the files a process holds when it
/// exits), cut at the front to the size asked for.
#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn path_names_the_closed_file() {
    let file = data_file();
    let program = r#"fentry:filp_close /comm == "path_holder"/ { printf("%s|%s\n", path(&args.filp->f_path), path(&args.filp->f_path, 5)); }"#;
    let tracer = Tracer::start(&["-e", program]);
    // A shell named path_holder opens the file as fd 3 and exits holding it.
    let holder = std::env::temp_dir().join("path_holder");
    let _ = std::fs::remove_file(&holder);
    std::os::unix::fs::symlink("/bin/sh", &holder).expect("symlink");
    let status = Command::new(&holder)
        .args(["-c", &format!("exec 3< {}", file.display())])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the shell runs");
    assert!(status.success());
    let out = stdout(&tracer.interrupt());
    let name = file.display().to_string();
    let want = format!("{name}|{}\n", &name[name.len() - 4..]);
    assert!(out.lines().any(|l| format!("{l}\n") == want), "no line {want:?} in:\n{out}");
}

/// `write_user()` where the kernel is not in lockdown, as in the VM.
#[test]
#[ignore = "needs a kernel without lockdown: run_where_the_kernel_has_kprobes runs it in the VM"]
fn write_user_where_there_is_no_lockdown() {
    assert!(!support::locked_down(), "the VM's kernel is not in lockdown");
    support::check_write_user();
}

/// On a kernel without kprobes (the development machines): one line that
/// says so and what would work instead, before anything is attached.
#[test]
fn no_kprobes_says_what_works_instead() {
    if std::env::var_os(IN_VM).is_some() {
        return;
    }
    require_root!();
    if kernel_has_kprobes() {
        support::not_here("this kernel has kprobes; the message is for kernels without them");
        return;
    }
    let out = bpfscope().args(["-e", "kprobe:vfs_read { @ = count(); }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "", "nothing attached, nothing printed");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bpfscope: error: cannot attach kprobe:vfs_read: this kernel has no kprobe support (no kprobe PMU and no \
         kprobe_events); try fentry:vfs_read (where fentry loads; --fallback uses it automatically) or a tracepoint \
         covering the same event (e.g. tracepoint:syscalls:sys_enter_read for reads)\n"
    );
}

#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn fentry_and_fexit_read_typed_arguments() {
    let program = r#"fentry:vfs_read /comm == "reader" && args.count == 137/ { @count[args.count] = count(); @n[func, probe] = count(); }
        kretfunc:vfs_read /comm == "reader" && retval == 137/ { @ret[retval] = count(); }"#;
    let out = trace_reader(&[], program, 5);
    assert_eq!(out, "\n\n@count[137]: 5\n@n[vfs_read, fentry:vmlinux:vfs_read]: 5\n@ret[137]: 5\n");
}

/// fentry/fexit on a running BPF program: another run's uprobe program
/// (which carries BTF, as every program bpfscope loads), traced by name
/// with a wildcard; it runs once per call of the probed function, and
/// returns 0.
#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn fentry_and_fexit_trace_a_running_bpf_program() {
    let target = build_target_as("uprobed", "uprobed_bpf", &[]);
    let traced = Tracer::start(&["-e", &format!("uprobe:{}:step_one {{ @calls = count(); }}", target.display())]);
    let listed = bpfscope().args(["-l", "fentry:bpf:*"]).output().expect("lists");
    let listed = stdout(&listed);
    let probe = listed.lines().find(|l| l.contains(":uprobe_")).unwrap_or_else(|| panic!("{listed}")).to_string();
    let tracer = Tracer::start(&[
        "-e",
        "fentry:bpf:uprobe_* { @entries[probe] = count(); } fexit:bpf:uprobe_* { @exits[retval] = count(); }",
    ]);
    assert!(Command::new(&target).arg("7").status().expect("runs").success());
    let out = tracer.interrupt();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out), format!("\n\n@entries[{probe}]: 7\n@exits[0]: 7\n"));
    assert_eq!(stdout(&traced.interrupt()), "\n\n@calls: 7\n");
}

/// `--fallback` where the kernel has no kprobes (pretended here by
/// disabling both interfaces): kprobes become fentry, kretprobes fexit.
#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn fallback_uses_fentry_without_kprobes() {
    let program = r#"kprobe:vfs_read /comm == "reader" && arg2 == 137/ { @calls = count(); }
        kretprobe:vfs_read /comm == "reader" && retval == 137/ { @ret[retval] = count(); }"#;
    let out = trace_reader(&["--fallback", "--no-feature", "kprobe_pmu,kprobe_events"], program, 4);
    assert_eq!(out, "\n\n@calls: 4\n@ret[137]: 4\n");
}

/// On this kind of host, `--fallback` tries fentry and says why it cannot.
#[test]
fn fallback_says_when_fentry_is_refused_too() {
    if std::env::var_os(IN_VM).is_some() {
        return;
    }
    require_root!();
    if kernel_has_kprobes() {
        support::not_here("this kernel has kprobes; --fallback changes nothing here");
        return;
    }
    let out = bpfscope().args(["--fallback", "-e", "kprobe:vfs_read { @ = count(); }"]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bpfscope: this kernel has no kprobes; --fallback traces kprobe:vfs_read as fentry:vfs_read\n"),
        "{err}"
    );
    if out.status.success() {
        return; // fentry works on this kernel
    }
    assert!(err.contains("bpfscope: error: the kernel refused to load fentry:vmlinux:vfs_read: this kernel does not allow fentry/fexit programs"), "{err}");
}

/// `func+offset` (past the 4-byte endbr64 every function starts with on
/// this kernel) and a module's function for kprobe and fentry (overlayfs,
/// which the VM's root is), its frames and addresses named; an offset
/// inside an instruction is refused with the reason.
#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn offsets_and_module_functions() {
    let program = r#"kprobe:vfs_read+4 /comm == "reader" && arg2 == 137/ { @at[probe] = count(); }
        kprobe:overlay:ovl_read_iter /comm == "reader"/ {
            @ovl[probe, func] = count(); @ks[kstack(1)] = count(); @sym[ksym(reg("ip"))] = count(); }
        fentry:overlay:ovl_read_iter /comm == "reader"/ { @fovl[probe] = count(); }"#;
    let out = trace_reader(&[], program, 3);
    assert!(out.contains("@at[kprobe:vfs_read+4]: 3\n"), "{out}");
    assert!(out.contains("@ovl[kprobe:overlay:ovl_read_iter, ovl_read_iter]: "), "{out}");
    // A module's frames and addresses are named from its symbols.
    assert!(out.contains("@ks[\n    ovl_read_iter+"), "{out}");
    assert!(out.contains("@sym[ovl_read_iter]: "), "{out}");
    assert!(out.contains("@fovl[fentry:overlay:ovl_read_iter]: "), "{out}");
    let bad = bpfscope().args(["-e", "kprobe:vfs_read+5 { }"]).output().expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("offset 5 is not at an instruction boundary in vfs_read"), "{err}");
}

/// vfsstat on a kernel with fentry: no notice, the same layout and totals
/// as on the host (which counts at tracepoints).
#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn vfsstat_through_fentry() {
    let notice = vfsstat_counts_reader_calls();
    assert_eq!(notice, "", "fentry needs no notice");
}

/// `funccount -p PID 'vfs_*'`: kernel functions counted for one process,
/// exactly the reader's reads and writes.
#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn funccount_counts_kernel_functions() {
    use std::io::Write;
    let reader = build_target("reader", &[]);
    let file = data_file();
    let mut workload = Command::new(&reader)
        .arg(&file)
        .args(["300", "wait"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let pid = workload.id().to_string();
    let tracer = Tracer::start(&["tool", "funccount", "-p", &pid, "vfs_*"]);
    workload.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    assert!(workload.wait().expect("waits").success());
    let text = stdout(&tracer.wait(Duration::from_secs(60)));
    std::fs::remove_file(&file).ok();
    assert!(text.starts_with("Tracing "), "{text}");
    let count = |f: &str| {
        text.lines().find(|l| l.split_whitespace().next() == Some(f)).and_then(|l| l.split_whitespace().nth(1))
    };
    assert_eq!(count("vfs_read"), Some("300"), "{text}");
    assert_eq!(count("vfs_write"), Some("300"), "{text}");
}

/// The library's kernel verbs: `attach_kprobe` and `attach_kretprobe` on
/// vfs_read, read back as typed maps after a workload of 9 reads.
#[test]
#[ignore = "needs kprobes: run_where_the_kernel_has_kprobes runs it in the VM"]
fn library_attaches_kprobes() {
    use bpfscope::{Bpf, MapValue};
    let reader = build_target_as("reader", "libreader", &[]);
    let file = data_file();
    let mut bpf = Bpf::new();
    bpf.attach_kprobe("vfs_read", r#"/comm == "libreader"/ { @sizes[arg2] = count(); }"#)
        .attach_kretprobe("vfs_read", r#"/comm == "libreader"/ { @bytes = sum(retval); @ret = hist(retval); }"#);
    let mut tracer = bpf.load().expect("loads and attaches");
    let status = Command::new(&reader).arg(&file).arg("9").status().expect("reader runs");
    assert!(status.success());
    tracer.poll(Duration::from_millis(100), |_| {}).expect("polls");
    tracer.finish(|_| {}).expect("finishes");
    std::fs::remove_file(&file).ok();
    let sizes: Vec<(u64, u64)> = tracer.map("@sizes").and_then(|m| m.entries_as()).expect("typed");
    assert!(sizes.contains(&(137, 9)), "{sizes:?}");
    let bytes = tracer.map("@bytes").map(|m| m.entries()).expect("map");
    // The 9 reads of 137 bytes, and whatever the loader read.
    assert!(matches!(bytes.as_slice(), [(None, MapValue::Int(n))] if *n >= 9 * 137), "{bytes:?}");
}

/// Kernel struct fields through fentry's typed arguments, by value and
/// through pointers: the name of the file each read is from.
#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn fentry_reads_kernel_struct_fields() {
    let program = r#"fentry:vfs_read /comm == "reader"/ { @[str(args.file->f_path.dentry->d_name.name)] = count(); }"#;
    let out = trace_reader(&[], program, 4);
    let name = format!("bpfscope-kprobe-data-{}", std::process::id());
    assert!(out.lines().any(|l| l == format!("@[{name}]: 4")), "{out}");
}

/// Whether the kernel lists its data symbols (CONFIG_KALLSYMS_ALL), which
/// the verifier needs to find a per-CPU variable.
fn kallsyms_lists(symbol: &str) -> bool {
    std::fs::read_to_string("/proc/kallsyms")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some(symbol))
}

/// `percpu_kaddr()` gives each CPU's copy of a per-CPU variable: checked
/// against the kernel's own record of it (`struct rq`'s `cpu` field of
/// the run queue it returns), this CPU's against `cpu`, and 0 past the
/// last CPU.
#[test]
#[ignore = "needs a kernel with CONFIG_KALLSYMS_ALL: run_where_the_kernel_has_kprobes runs it in the VM"]
fn percpu_kaddr_finds_each_cpus_variable() {
    let program = r#"BEGIN { $last = ncpus - 1; printf("%d %d %d %d %d\n", ((struct rq *)percpu_kaddr("runqueues", 0))->cpu, ((struct rq *)percpu_kaddr("runqueues", $last))->cpu == $last, ((struct rq *)percpu_kaddr("runqueues"))->cpu == cpu, percpu_kaddr("runqueues") == percpu_kaddr("runqueues", cpu), percpu_kaddr("runqueues", 100000)); exit(); }"#;
    let out = bpfscope().args(["-e", program]).output().expect("runs");
    assert_eq!(stdout(&out), "0 1 1 1 0\n\n\n", "{}", String::from_utf8_lossy(&out.stderr));
}

/// Where the kernel does not list data symbols (this development
/// machine's), `percpu_kaddr()` says so at the call instead of failing in
/// the verifier.
#[test]
fn percpu_kaddr_without_kallsyms_all_says_why() {
    require_root!();
    if kallsyms_lists("runqueues") {
        support::not_here("this kernel lists its data symbols; percpu_kaddr_finds_each_cpus_variable covers it");
        return;
    }
    let out = bpfscope().args(["-e", r#"BEGIN { print(percpu_kaddr("runqueues")); }"#]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("stdin:1:15: error: percpu_kaddr(): this kernel does not list 'runqueues' in /proc/kallsyms"),
        "{err}"
    );
    assert!(err.contains("CONFIG_KALLSYMS_ALL"), "{err}");
    let out = bpfscope().args(["-e", r#"BEGIN { print(percpu_kaddr("no_such_variable")); }"#]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: Could not resolve variable \"no_such_variable\" from BTF"), "{err}");
}

/// `socket_cookie()` of a socket is the cookie the kernel gives user space
/// for it (`getsockopt(SO_COOKIE)`): a process named cookie_sender sends
/// on a loopback TCP connection and prints its socket's cookie.
#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn socket_cookie_is_the_kernels() {
    let program = r#"fentry:tcp_sendmsg /comm == "cookie_sender"/ { printf("cookie %d\n", socket_cookie(args.sk)); }"#;
    let tracer = Tracer::start(&["-e", program]);
    let script = "import socket, struct, ctypes\n\
        ctypes.CDLL(None).prctl(15, b'cookie_sender', 0, 0, 0)\n\
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
        c = socket.create_connection(s.getsockname()); a, _ = s.accept()\n\
        c.send(b'x'); a.recv(1)\n\
        print('cookie %d' % struct.unpack('Q', c.getsockopt(socket.SOL_SOCKET, 57, 8))[0])\n";
    let py = Command::new("python3").args(["-c", script]).output().expect("python3 runs");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let want = String::from_utf8_lossy(&py.stdout).into_owned();
    let out = stdout(&tracer.interrupt());
    assert_ne!(want, "cookie 0\n");
    assert!(out.lines().any(|l| format!("{l}\n") == want), "no line {want:?} in:\n{out}");
}

/// `skboutput()` writes the packets a process sends to a pcap file that
/// reads back as libpcap's format: a UDP datagram over loopback, from its
/// IP header on (offset 14 skips the Ethernet header), with its payload.
#[test]
#[ignore = "needs fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn skboutput_writes_a_pcap_file() {
    let pcap = std::env::temp_dir().join(format!("bpfscope-skb-{}.pcap", std::process::id()));
    let program = format!(
        r#"fentry:__dev_queue_xmit /comm == "skb_sender"/ {{ $r = skboutput("{}", args.skb, args.skb->len, 14); printf("ret %d\n", $r); }}"#,
        pcap.display()
    );
    let tracer = Tracer::start(&["-e", &program]);
    let script = "import socket, ctypes\n\
        ctypes.CDLL(None).prctl(15, b'skb_sender', 0, 0, 0)\n\
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.sendto(b'bpfscope-skb-payload', r.getsockname()); r.recv(64)\n";
    let py = Command::new("python3").args(["-c", script]).output().expect("python3 runs");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let out = stdout(&tracer.interrupt());
    assert!(out.contains("ret 0\n"), "{out}");
    let bytes = std::fs::read(&pcap).expect("the pcap file");
    let _ = std::fs::remove_file(&pcap);
    let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((word(0), word(20)), (0xa1b2_c3d4, 101), "pcap magic and LINKTYPE_RAW");
    let caplen = word(32) as usize;
    let packet = &bytes[40..40 + caplen];
    assert_eq!(packet[0] >> 4, 4, "an IPv4 header first");
    assert_eq!(usize::from(u16::from_be_bytes([packet[2], packet[3]])), caplen, "the whole IP packet");
    assert_eq!(packet[9], 17, "UDP");
    assert!(packet.ends_with(b"bpfscope-skb-payload"), "{packet:?}");
    let secs = u64::from(word(24));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    assert!(now.abs_diff(secs) < 60, "stamped with the wall clock: {secs} vs {now}");
}

/// `comm(pid)` names any task (bpf_task_from_pid, as 0.26): the running
/// thread's, init's (as /proc says), and none for a pid no task has. BEGIN's
/// program type may not call the kfunc: 0.26's error.
#[test]
#[ignore = "checks a task the VM's init owns: run_where_the_kernel_has_kprobes runs it in the VM"]
fn comm_of_a_pid_names_that_task() {
    let init = std::fs::read_to_string("/proc/1/comm").expect("init's name");
    // The timer interrupts whatever runs: a busy shell keeps a task other
    // than the idle one (tid 0, no pid to find) there; the interrupted
    // thread's own name is `comm`.
    let mut busy = Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh runs");
    let program =
        r#"interval:ms:1 /tid != 0/ { printf("%s|%d|%s\n", comm(1), comm(tid) == comm, comm(99999999)); exit(); }"#;
    let out = bpfscope().args(["-e", program]).output().expect("runs");
    let _ = busy.kill();
    let _ = busy.wait();
    assert_eq!(stdout(&out), format!("{}|1|\n\n\n", init.trim_end()), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bpfscope().args(["-e", "BEGIN { print(comm(1)); }"]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: Syntax comm(PID) is not supported in this probe type yet. Type: BEGIN"), "{err}");
}

/// `--info` on a kernel with kprobes and fentry (the VM's Debian kernel):
/// it says so, as the attach paths the other tests use show.
#[test]
#[ignore = "needs kprobes and fentry: run_where_the_kernel_has_kprobes runs it in the VM"]
fn info_reports_kprobes_and_fentry() {
    let out = bpfscope().arg("--info").output().expect("runs");
    let text = stdout(&out);
    for expected in ["kprobe_multi: yes", "fentry: yes", "dpath: yes", "btf: yes", "get_socket_cookie: yes"] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}
