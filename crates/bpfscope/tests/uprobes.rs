//! Uprobes in the kernel: a C target with known functions, called a known
//! number of times, traced through every attach path.

#[macro_use]
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use support::*;

/// Runs that make tracefs events hold this, so that one test's clean-up of
/// dead runs' events never races another's check of them.
static TRACEFS_EVENTS: Mutex<()> = Mutex::new(());

fn lock_events() -> std::sync::MutexGuard<'static, ()> {
    TRACEFS_EVENTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The events of bpfscope process `pid` in `uprobe_events`.
fn legacy_events_of(pid: u32) -> Vec<String> {
    let text = std::fs::read_to_string("/sys/kernel/tracing/uprobe_events").unwrap_or_default();
    text.lines().filter(|l| l.contains(&format!(":bpfscope_{pid}/"))).map(str::to_string).collect()
}

/// The program every attach path must run the same way.
fn probes_program(target: &str) -> String {
    format!(
        r#"uprobe:{t}:add {{ @add_args[arg0, arg1] = count(); }}
uretprobe:{t}:add {{ @add_ret = sum(retval); }}
uprobe:{t}:eight {{ @eight[arg5, arg6, arg7, sarg0, sarg1] = count(); }}
uretprobe:{t}:eight {{ @eight_ret[retval] = count(); }}
uprobe:{t}:greet {{ @greet[str(arg0)] = count(); @greet3[str(arg0, 3)] = count(); }}
uprobe:{t}:step_* {{ @steps[func] = count(); @probes[probe] = count(); }}
uretprobe:{t}:step_* {{ @step_ret[func, retval] = count(); }}
uprobe:{t}:hidden {{ @hidden = count(); }}
"#,
        t = target
    )
}

/// What the program prints for `uprobed 5` (checked against bpftrace
/// 0.17, which prints `func` as an address once the process is gone and
/// has no arg6; `str(arg0, 3)` is 0.26's, which reads 3 bytes with the NUL
/// where max_strlen is 1024 or more, as by default, where 0.17 read 4).
fn expected_output(target: &str) -> String {
    format!(
        "\n\n\
@add_args[0, 100]: 1\n@add_args[1, 100]: 1\n@add_args[2, 100]: 1\n@add_args[3, 100]: 1\n@add_args[4, 100]: 1\n\
@add_ret: 510\n\
@eight[6, 7, 8, 7, 8]: 5\n\
@eight_ret[36]: 5\n\
@greet[world]: 5\n\
@greet3[wo]: 5\n\
@hidden: 5\n\
@probes[uprobe:{target}:step_one]: 5\n@probes[uprobe:{target}:step_three]: 5\n@probes[uprobe:{target}:step_two]: 5\n\
@step_ret[step_one, 1]: 5\n@step_ret[step_three, 3]: 5\n@step_ret[step_two, 2]: 5\n\
@steps[step_one]: 5\n@steps[step_three]: 5\n@steps[step_two]: 5\n"
    )
}

/// Attaches (with extra flags), then starts the target: the probes are on
/// the file, so they cover a process that did not exist at attach time.
fn run_probes(name: &str, flags: &[&str]) -> (String, u32) {
    let target = build_target_as("uprobed", name, &[]);
    let t = target.to_str().expect("utf-8");
    let program = probes_program(t);
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["-e", &program]);
    let tracer = Tracer::start(&args);
    let pid = tracer.pid();
    let status = Command::new(&target).arg("5").status().expect("runs");
    assert!(status.success());
    let out = stdout(&tracer.interrupt());
    assert_eq!(out, expected_output(t), "flags {flags:?}");
    (out, pid)
}

#[test]
fn arguments_return_values_and_strings_through_the_pmu() {
    require_root!();
    run_probes("uprobed_pmu", &[]);
}

#[test]
fn one_link_per_site_without_uprobe_multi() {
    require_root!();
    run_probes("uprobed_single", &["--no-feature", "uprobe_multi"]);
}

#[test]
fn legacy_uprobe_events_are_removed_at_exit() {
    require_root!();
    let _events = lock_events();
    for (name, features) in [("uprobed_legacy", "uprobe_pmu"), ("uprobed_legacy1", "uprobe_pmu,uprobe_multi")] {
        let (_, pid) = run_probes(name, &["--no-feature", features]);
        assert_eq!(legacy_events_of(pid), Vec::<String>::new(), "{features}");
    }
}

/// A kernel without uprobes (disabling both interfaces pretends one) is
/// named before anything loads or attaches: one line, exit 1, no
/// program's output and no tracefs event left.
#[test]
fn a_kernel_without_uprobes_is_told_before_anything_loads() {
    require_root!();
    let _events = lock_events();
    let target = build_target_as("uprobed", "uprobed_none", &[]);
    let program = format!("BEGIN {{ printf(\"began\\n\"); }} uprobe:{}:step_one {{ @ = count(); }}", target.display());
    let child = bpfscope()
        .args(["--no-feature", "uprobe_pmu,uprobe_events", "-e", &program])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "bpfscope: error: cannot attach uprobe:{}:step_one: this kernel has no uprobe support \
             (no uprobe PMU and no uprobe_events)\n",
            target.display()
        )
    );
    assert_eq!(legacy_events_of(pid), Vec::<String>::new());
}

#[test]
fn verbose_says_which_interface_attached() {
    require_root!();
    let _events = lock_events();
    let target = build_target_as("uprobed", "uprobed_verbose", &[]);
    let program = format!("uprobe:{}:step_* {{ }} interval:ms:1 {{ exit(); }}", target.display());
    for (flags, says) in [
        (vec![], "the uprobe PMU (perf_event_open); one uprobe_multi link per binary"),
        (vec!["--no-feature", "uprobe_pmu,uprobe_multi"], "tracefs uprobe_events; one link per site"),
    ] {
        let out = bpfscope().arg("-v").args(&flags).args(["-e", &program]).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains(says), "{flags:?}: {err}");
    }
}

#[test]
fn sigterm_and_sigkill_leave_nothing_behind() {
    require_root!();
    let _events = lock_events();
    let target = build_target_as("uprobed", "uprobed_kill", &[]);
    let program = format!("uprobe:{}:step_* {{ @ = count(); }}", target.display());
    let legacy = ["--no-feature", "uprobe_pmu,uprobe_multi", "-e", &program];

    let tracer = Tracer::start(&legacy);
    let pid = tracer.pid();
    assert_eq!(legacy_events_of(pid).len(), 3, "three events while attached");
    let links = links_of(pid);
    assert_eq!(links.len(), 3, "a link per event");
    let out = tracer.signal("TERM");
    assert!(out.status.success(), "SIGTERM ends a run cleanly");
    assert_eq!(legacy_events_of(pid), Vec::<String>::new(), "SIGTERM");
    assert_links_released(&links, "SIGTERM");

    let tracer = Tracer::start(&legacy);
    let killed = tracer.pid();
    let links = links_of(killed);
    Command::new("kill").args(["-KILL", &killed.to_string()]).status().expect("kill");
    drop(tracer);
    assert_links_released(&links, "SIGKILL");
    assert_eq!(legacy_events_of(killed).len(), 3, "a killed run cannot clean up");
    let quick = format!("uprobe:{}:add {{ }} interval:ms:1 {{ exit(); }}", target.display());
    let out = bpfscope().args(&legacy[..2]).args(["-e", &quick]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(legacy_events_of(killed), Vec::<String>::new(), "the next run removes a killed run's events");
}

/// `-p` on both attach paths: only that process is traced, and the run
/// ends when it does, leaving no events behind.
#[test]
fn pid_excludes_other_processes_and_ends_with_the_process() {
    require_root!();
    let _events = lock_events();
    for features in ["", "uprobe_pmu"] {
        trace_one_pid(features);
    }
}

fn trace_one_pid(no_features: &str) {
    let target = build_target_as("uprobed", "uprobed_pid", &[]);
    let spawn = || Command::new(&target).args(["3", "wait"]).stdin(Stdio::piped()).spawn().expect("spawns");
    let (mut traced, mut other) = (spawn(), spawn());
    // `uprobe:add` is the process's executable; `libc` is found among the
    // files it has mapped.
    let program = format!(
        "uprobe:{}:add {{ @[pid] = count(); }} uprobe:add {{ @omitted = count(); }} uprobe:libc:exit {{ @exit[probe] = count(); }}",
        target.display()
    );
    let pid = traced.id().to_string();
    // The process waits on stdin once started; by then it maps libc.
    let mapped_libc = || {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        maps.lines().find_map(|l| l.split_whitespace().nth(5).filter(|p| p.contains("/libc.so")).map(str::to_string))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let libc = loop {
        match mapped_libc() {
            Some(l) => break l,
            None if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            None => panic!("the target never mapped libc"),
        }
    };
    let mut args = vec!["-p", &pid, "-e", &program];
    if !no_features.is_empty() {
        args.extend(["--no-feature", no_features]);
    }
    let tracer = Tracer::start(&args);
    let tracer_pid = tracer.pid();
    let links = links_of(tracer_pid);
    assert!(!links.is_empty());
    for child in [&mut traced, &mut other] {
        child.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    }
    assert!(traced.wait().expect("waits").success());
    assert!(other.wait().expect("waits").success());
    // The run ends by itself once the traced process has.
    let out = stdout(&tracer.wait(Duration::from_secs(10)));
    assert_eq!(out, format!("\n\n@[{pid}]: 3\n@exit[uprobe:{}:exit]: 1\n@omitted: 3\n", libc),);
    assert_eq!(legacy_events_of(tracer_pid), Vec::<String>::new());
    assert_links_released(&links, "the traced process exited");
}

/// Errors in attach points are found before anything loads, point at the
/// attach point, and say what to do.
#[test]
fn attach_point_errors_name_the_problem_and_the_fix() {
    let target = build_target_as("uprobed", "uprobed_errors", &[]);
    let stripped = build_target_as("uprobed", "uprobed_stripped", &["-s"]);
    let t = target.display().to_string();
    let cases = [
        ("uprobe:/nonexistent/x:f {}".to_string(), "error: /nonexistent/x: no such file\n".to_string()),
        ("uprobe:/etc/hostname:f {}".into(), "error: /etc/hostname is not an ELF binary\n".into()),
        (format!("uprobe:{t}:ad {{}}"), format!("error: no function 'ad' in {t}\n")),
        (format!("uprobe:{t}:zz* {{}}"), format!("error: no function in {t} matches 'zz*'\n")),
        (format!("uprobe:{t}:add+4000 {{}}"), "error: offset 4000 is outside 'add', which is ".into()),
        (format!("uprobe:{t}:0x999999 {{}}"), "error: address 0x999999 is not in any loadable segment".into()),
        ("uprobe:libnosuch:f {}".into(), "error: cannot find 'libnosuch': not a path, a library".into()),
        (
            "uprobe:add {}".into(),
            "hint: name one, as in uprobe:/bin/bash:readline, or give a process with -p PID".into(),
        ),
        (
            format!("uprobe:{}:hidden {{}}", stripped.display()),
            "hint: the binary is stripped: only its exported functions are known".into(),
        ),
    ];
    for (program, says) in cases {
        let out = bpfscope().args(["--dry-run", "-e", &program]).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{program}: {err}");
        assert!(err.starts_with("stdin:1:1: "), "{program}: {err}");
        assert!(err.contains(&says), "{program}: {err}");
    }
    let out =
        bpfscope().args(["--dry-run", "-e", &format!("BEGIN {{}}\n  uprobe:{t}:ad {{}}")]).output().expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "stdin:2:3: error: no function 'ad' in {t}\n  uprobe:{t}:ad {{}}\n  {}\nhint: did you mean 'add'?\n",
            "~".repeat(format!("uprobe:{t}:ad").len())
        )
    );
}

/// The issue's example, as bpftrace prints it: a wildcard over libc, and
/// `hostname` run twice.
#[test]
fn libc_wildcard_counts_gethostname() {
    require_root!();
    let tracer = Tracer::start(&["-e", "uprobe:/lib/x86_64-linux-gnu/libc.so.6:gethost* { @[probe] = count(); }"]);
    for _ in 0..2 {
        assert!(Command::new("hostname").stdout(Stdio::null()).status().expect("hostname runs").success());
    }
    let attaching = support::attached_count(&tracer.early_stderr).expect("Attached N probes");
    let out = stdout(&tracer.interrupt());
    // gethostbyaddr{,_r}, gethostbyname{,2}{,_r}, gethostent{,_r},
    // gethostid, gethostname are exported; debug symbols add static ones.
    assert!(attaching >= 10, "{attaching}: {out}");
    assert_eq!(out, "\n\n@[uprobe:/lib/x86_64-linux-gnu/libc.so.6:gethostname]: 2\n");
}

/// Latency across entry and return: the mission's idiom, on getaddrinfo.
#[test]
fn getaddrinfo_latency_histogram() {
    require_root!();
    let tracer = Tracer::start(&[
        "-e",
        "uprobe:libc:getaddrinfo { @start[tid] = nsecs; }
         uretprobe:libc:getaddrinfo /@start[tid]/ { @us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); }",
    ]);
    for _ in 0..2 {
        let st = Command::new("getent").args(["ahosts", "localhost"]).stdout(Stdio::null()).status();
        assert!(st.expect("getent runs").success());
    }
    let out = stdout(&tracer.interrupt());
    // @start is empty at the end (printed as a blank line, as bpftrace does).
    assert!(out.starts_with("\n\n\n@us:\n"), "{out}");
    let total = hist_total(&out);
    assert_eq!(total, 2, "{out}");
    assert!(out.ends_with("|\n\n"), "{out}");
}

/// `-c`: the command starts once the probes are attached, `cpid` is its
/// pid, uprobes see only it, and the run ends when it does.
#[test]
fn command_struct_fields_buffers_and_uptr() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_cmd", &[]);
    let t = target.display();
    let program = format!(
        r#"struct point {{ int x; char name[8]; long y; }}
uprobe:add {{ @cpid[pid == cpid] = count(); }}
uprobe:{t}:point_sum {{ $p = (struct point *)arg0; @point[$p->x, $p->name, $p->y] = count(); }}
uprobe:{t}:fill {{ @buf_at[tid] = arg0; }}
uretprobe:{t}:fill {{ @buf[buf(uptr(@buf_at[tid]), retval)] = count(); printf("%rh\n", buf(@buf_at[tid], 3)); delete(@buf_at[tid]); }}
uprobe:{t}:greet {{ @greet = buf(arg0, 5); }}
"#
    );
    // Another instance runs meanwhile: -c limits the probes to the command.
    let mut other = Command::new(&target).args(["2", "wait"]).stdin(Stdio::piped()).spawn().expect("spawns");
    let run = bpfscope().args(["-c", &format!("{t} 3"), "-e", &program]).stdout(Stdio::piped()).spawn().expect("runs");
    other.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    assert!(other.wait().expect("waits").success());
    let out = wait_with_timeout(run, Duration::from_secs(30), "the -c run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout(&out),
        "00 11 22\n00 11 22\n00 11 22\n\n\n\
         @buf[\\x00\\x11\"3]: 3\n\
         \n\
         @cpid[true]: 3\n\
         @greet: world\n\
         @point[7, pointy, 35]: 3\n"
    );
}

/// `ustack` records the user stack: the probed function first, then its
/// callers (the target keeps frame pointers).
#[test]
fn ustack_starts_at_the_probed_function() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_stack", &["-fno-omit-frame-pointer"]);
    let program = format!("uprobe:{}:step_two {{ @[ustack] = count(); printf(\"%s\", ustack(1)); }}", target.display());
    let out = bpfscope()
        .args(["-c", &format!("{} 2", target.display()), "-e", &program])
        .env("UPROBED_PRINT_STEP_TWO", "1")
        .output()
        .expect("runs");
    let text = stdout(&out);
    let addr = text.lines().find_map(|l| l.strip_prefix("step_two=")).expect("the target prints its address");
    // A frame prints as its symbol while the process lives (or was seen
    // living), else, as in bpftrace, as its address: the process may be
    // gone when events print, and is when the maps do.
    let first = |frame: &str| frame == addr || frame.split('@').next() == Some("step_two+0");
    // printf: 8-space frames, and ustack(1) keeps one.
    let printed: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("        ")).collect();
    assert_eq!(printed.len(), 2, "{text}");
    assert!(printed.iter().all(|f| first(f)), "{text}");
    // In a map key: 4-space frames, the probed function's first.
    let key = text.split("@[\n").nth(1).expect("the map").split("]: 2\n").next().expect("count 2");
    let frames: Vec<&str> = key.lines().map(str::trim).collect();
    assert!(frames.first().is_some_and(|f| first(f)), "{text}");
    assert!(frames.len() >= 2, "the callers are there too: {text}");
    assert!(key.lines().all(|l| l.starts_with("    ")), "{text}");
}

/// Stacks print as bpftrace prints them, `function+offset` per frame: the
/// same program on the same workload gives bpftrace 0.17's text.
#[test]
fn stack_symbols_match_bpftrace() {
    require_root!();
    if Command::new("bpftrace").arg("--version").output().is_err() {
        support::skip("bpftrace (the oracle) is not installed; scripts/test.sh installs it");
        return;
    }
    let target = build_target_as("uprobed", "uprobed_symbols", &["-fno-omit-frame-pointer"]);
    let t = target.display().to_string();
    let run = |mut tracer: Command, oracle: bool| -> String {
        let mut workload = Lingering::spawn(&target, 3);
        let pid = workload.pid();
        let program = format!(
            "uprobe:{t}:step_two /pid == {pid}/ {{ @[ustack] = count(); }}
             uprobe:{t}:add /pid == {pid}/ {{ @add[ustack(1)] = count(); }}
             tracepoint:syscalls:sys_enter_write /pid == {pid}/ {{ @k[kstack(2)] = count(); }}"
        );
        tracer.args(["-e", &program]);
        let tracer = Tracer::start_command(tracer);
        workload.calls();
        // The process lives on while the tracer prints its frames.
        let text = stdout(&if oracle { tracer.interrupt_oracle() } else { tracer.interrupt() });
        workload.exit();
        text
    };
    // 0.17 has no file and line in frames (0.26 has, from DWARF, by
    // default): ours without them, to compare.
    let mut ours = bpfscope();
    ours.env("BPFTRACE_SHOW_DEBUG_INFO", "0");
    let ours = run(ours, false);
    let theirs = support::without_attaching(&run(Command::new("bpftrace"), true));
    assert_eq!(ours, theirs);
    assert!(ours.contains("@[\n    step_two+0\n"), "{ours}");
    assert!(ours.contains("@add[\n    add+0\n]: 3\n"), "{ours}");
    // Its one write ("done"), from the kernel's side.
    assert!(ours.contains("@k[\n    ") && ours.ends_with("]: 1\n"), "{ours}");
}

/// `func+offset` and raw addresses land where asked: the target's
/// `marked` is four nops, `mov $42, %eax`, `ret`.
#[test]
fn offsets_and_addresses() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_offsets", &[]);
    let t = target.display().to_string();
    let nm = Command::new("nm").arg(&target).output().expect("nm runs");
    let marked = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find_map(|l| l.strip_suffix(" T marked").and_then(|a| u64::from_str_radix(a, 16).ok()))
        .expect("marked in the symbol table");
    let at_nop = marked + 2;
    let program = format!(
        r#"uprobe:{t}:marked+9 {{ @mov[probe, func, reg("ax")] = count(); }}
uprobe:{t}:0x{at_nop:x} {{ @nop[probe, func] = count(); }}
uretprobe:{t}:marked {{ @ret[reg("ax"), retval] = count(); }}"#
    );
    let out = bpfscope().args(["-c", &format!("{t} 3"), "-e", &program]).output().expect("runs");
    assert_eq!(
        stdout(&out),
        format!(
            "\n\n\
             @mov[uprobe:{t}:marked+9, marked, 42]: 3\n\
             @nop[uprobe:{t}:{at_nop}, marked]: 3\n\
             @ret[42, 42]: 3\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Links go with the run however it ends, on the uprobe_multi and PMU
/// paths (the legacy path is covered with its tracefs events above).
#[test]
fn links_are_released_however_the_run_ends() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_links", &[]);
    let program = format!("uprobe:{t}:step_* {{ @ = count(); }} uretprobe:{t}:add {{ }}", t = target.display());
    for features in ["", "uprobe_multi"] {
        for signal in ["INT", "TERM", "KILL"] {
            let mut args = vec!["-e", program.as_str()];
            if !features.is_empty() {
                args.extend(["--no-feature", features]);
            }
            let tracer = Tracer::start(&args);
            let links = links_of(tracer.pid());
            // uprobe_multi: one link for the three steps, one for add.
            let expected = if features.is_empty() { 2 } else { 4 };
            assert_eq!(links.len(), expected, "--no-feature {features:?}");
            let out = tracer.signal(signal);
            if signal != "KILL" {
                assert!(out.status.success(), "SIG{signal}");
            }
            assert_links_released(&links, &format!("SIG{signal} with --no-feature {features:?}"));
        }
    }
    // exit() from the program.
    let quick = format!("uprobe:{}:step_* {{ }} interval:ms:500 {{ exit(); }}", target.display());
    let tracer = Tracer::start(&["-e", &quick]);
    let links = links_of(tracer.pid());
    assert_eq!(links.len(), 2, "the multi link and the timer's");
    let out = tracer.wait(Duration::from_secs(10));
    assert!(out.status.success());
    assert_links_released(&links, "exit()");
}

/// `signal()` (with --unsafe) signals the traced process from the probe:
/// the target dies of SIGUSR1 at its first call of step_one.
#[test]
fn signal_reaches_the_traced_process() {
    use std::os::unix::process::ExitStatusExt;
    require_root!();
    let target = build_target_as("uprobed", "uprobed_signal", &[]);
    let mut workload = Command::new(&target).args(["3", "wait"]).stdin(Stdio::piped()).spawn().expect("spawns");
    let pid = workload.id();
    let program =
        format!(r#"uprobe:{}:step_one /pid == {pid}/ {{ signal("SIGUSR1"); @calls = count(); }}"#, target.display());
    let tracer = Tracer::start(&["--unsafe", "-p", &pid.to_string(), "-e", &program]);
    workload.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    let status = workload.wait().expect("waits");
    assert_eq!(status.signal(), Some(libc::SIGUSR1), "{status:?}");
    // -p: the run ends with the process; the signal came at the first call.
    let out = stdout(&tracer.wait(Duration::from_secs(30)));
    assert_eq!(out, "\n\n@calls: 1\n");
}

/// `usym(addr)` names the function of the traced process an address is in
/// (an address inside it too), and `ksym()` the kernel's; the process
/// lives on while the names are printed.
#[test]
fn usym_names_the_function() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_usym", &[]);
    let t = target.display().to_string();
    let mut workload = Lingering::spawn(&target, 2);
    let pid = workload.pid();
    let program = format!(
        r#"uprobe:{t}:add /pid == {pid}/ {{ @[usym(reg("ip")), usym(reg("ip") + 3)] = count(); }}
           uprobe:{t}:step_two /pid == {pid}/ {{ printf("%s\n", usym(reg("ip"))); }}"#
    );
    let tracer = Tracer::start(&["-e", &program]);
    workload.calls();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let text = stdout(&tracer.interrupt());
    workload.exit();
    assert_eq!(text, "step_two\nstep_two\n\n\n@[add, add]: 2\n");
}

/// `write_user()` (--unsafe) writes into the traced process; a kernel in
/// lockdown refuses it, saying so at the call (the VM's kernel, which is
/// not in lockdown, runs the same check).
#[test]
fn write_user_changes_the_traced_process() {
    require_root!();
    support::check_write_user();
}

/// `uaddr()` points at the probed binary's variables where the process
/// has them, in a position-independent executable (moved by its load bias)
/// and a fixed one alike, typed by the symbol's size as 0.26 does; a
/// wildcard probe resolves it at each of its functions.
#[test]
fn uaddr_reads_the_binarys_variables() {
    require_root!();
    for (name, flags) in
        [("uprobed_uaddr_pie", &["-pie", "-fPIE"][..]), ("uprobed_uaddr_fixed", &["-no-pie", "-fno-PIE"][..])]
    {
        let target = build_target_as("uprobed", name, flags);
        let t = target.display();
        let program = format!(
            r#"uprobe:{t}:add {{ printf("%d %d %ld %d\n", *uaddr("uaddr_byte"), *uaddr("uaddr_int"), *uaddr("uaddr_long"), sizeof(*uaddr("uaddr_int"))); }}
uprobe:{t}:step_* {{ @[probe, *uaddr("uaddr_int")] = count(); }}"#
        );
        let out = bpfscope().args(["-c", &format!("{t} 2"), "-e", &program]).output().expect("runs");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            stdout(&out),
            format!(
                "100 -7 1234567890123 4\n100 -7 1234567890123 4\n\n\n\
                 @[uprobe:{t}:step_one, -7]: 2\n@[uprobe:{t}:step_three, -7]: 2\n@[uprobe:{t}:step_two, -7]: 2\n"
            ),
            "{name}"
        );
    }
}

/// `uaddr()`'s errors: a symbol the binary lacks (0.26's message), and a
/// return probe of a position-independent file, where the load bias is
/// not known.
#[test]
fn uaddr_errors_name_the_symbol_and_the_way_out() {
    let target = build_target_as("uprobed", "uprobed_uaddr_errors", &["-pie", "-fPIE"]);
    let t = target.display();
    let out = bpfscope()
        .args(["-e", &format!(r#"uprobe:{t}:add {{ print(*uaddr("no_such_var")); }}"#)])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("error: Could not resolve symbol: {t}:no_such_var")), "{err}");
    let out = bpfscope()
        .args(["-e", &format!(r#"uretprobe:{t}:add {{ print(*uaddr("uaddr_int")); }}"#)])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("uaddr() in a uretprobe of") && err.contains("keep it in a map keyed by tid"), "{err}");
    let out = bpfscope().args(["-e", r#"BEGIN { print(uaddr("x y")); }"#]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: uaddr() can only be used in uprobe, uretprobe and usdt probes"), "{err}");
    assert!(
        err.contains(
            r#"uaddr() expects a string that is a valid symbol (^[a-zA-Z0-9./_-]+$) as input ("x y" provided)"#
        ),
        "{err}"
    );
}
