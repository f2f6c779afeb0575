//! USDT probes of a target built with `sys/sdt.h`: arguments in registers,
//! memory, constants and globals, and a semaphore-guarded probe.

#[macro_use]
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// `sys/sdt.h` comes with systemtap-sdt-dev (the test script installs it).
fn target(name: &str) -> Option<std::path::PathBuf> {
    let header = ["/usr/include/sys/sdt.h", "/usr/include/x86_64-linux-gnu/sys/sdt.h"];
    if !header.iter().any(|h| std::path::Path::new(h).exists()) {
        support::skip("sys/sdt.h is missing (install systemtap-sdt-dev; scripts/test.sh does)");
        return None;
    }
    Some(build_target_as("usdted", name, &[]))
}

fn program(t: &str) -> String {
    format!(
        "usdt:{t}:usdted:args {{ @[arg0, arg1, arg2, arg3] = count(); }}
         usdt:{t}:usdted:strings {{ @s[str(arg0), arg1] = count(); }}
         usdt:{t}:guarded {{ @g[arg0, probe] = count(); }}"
    )
}

/// The values the target passes: `i`, a long and an int read through a
/// pointer, the constant -5, a string on the stack, a global (77), and
/// `i * 10` in the probe that fires only when its semaphore is set.
fn expected(t: &str) -> String {
    format!(
        "\n\n\
         @[0, 1234567890123, -42, -5]: 1\n@[1, 1234567890123, -42, -5]: 1\n@[2, 1234567890123, -42, -5]: 1\n\
         @g[0, usdt:{t}:usdted:guarded]: 1\n@g[10, usdt:{t}:usdted:guarded]: 1\n@g[20, usdt:{t}:usdted:guarded]: 1\n\
         @s[hello, 77]: 3\n"
    )
}

#[test]
fn arguments_and_semaphores_on_both_attach_paths() {
    require_root!();
    let Some(target) = target("usdted") else { return };
    let t = target.display().to_string();
    for flags in [vec![], vec!["--no-feature", "uprobe_pmu"]] {
        let mut args = flags.clone();
        let cmd = format!("{t} 3");
        let prog = program(&t);
        args.extend(["-c", cmd.as_str(), "-e", prog.as_str()]);
        let out = bpfscope().args(&args).output().expect("runs");
        assert_eq!(stdout(&out), expected(&t), "{flags:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // (The guarded probe only fires when its semaphore is set: the @g
    // counts above come from the kernel counting the tracer in it.)
    let out = bpfscope().args(["-l", &format!("usdt:{t}:*")]).output().expect("runs");
    let listed = stdout(&out);
    assert_eq!(listed, format!("usdt:{t}:usdted:args\nusdt:{t}:usdted:guarded\nusdt:{t}:usdted:strings\n"));
    if let Ok(theirs) = Command::new("bpftrace").args(["-l", &format!("usdt:{t}:*")]).output() {
        assert_eq!(listed, String::from_utf8_lossy(&theirs.stdout), "bpftrace's listing");
    }
}

#[test]
fn pid_limits_usdt_probes_to_one_process() {
    require_root!();
    let Some(target) = target("usdted_pid") else { return };
    let spawn = || Command::new(&target).args(["2", "wait"]).stdin(Stdio::piped()).spawn().expect("spawns");
    let (mut traced, mut other) = (spawn(), spawn());
    let pid = traced.id().to_string();
    // No binary: the process's own executable.
    let tracer = Tracer::start(&["-p", &pid, "-e", "usdt:args { @[pid] = count(); }"]);
    for child in [&mut traced, &mut other] {
        child.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    }
    assert!(traced.wait().expect("waits").success());
    assert!(other.wait().expect("waits").success());
    let out = stdout(&tracer.wait(Duration::from_secs(10)));
    assert_eq!(out, format!("\n\n@[{pid}]: 2\n"));
}

#[test]
fn unknown_usdt_probes_are_clear_errors() {
    let Some(target) = target("usdted_errors") else { return };
    let t = target.display().to_string();
    let out = bpfscope().args(["--dry-run", "-e", &format!("usdt:{t}:usdted:nope {{ }}")]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("error: no USDT probe in {t} matches 'usdted:nope'")), "{err}");
    assert!(err.contains(&format!("hint: list them with: bpfscope -l 'usdt:{t}:*'")), "{err}");
    let out = bpfscope().args(["--dry-run", "-e", &format!("usdt:{t}:guarded {{ print(arg1); }}")]).output();
    let err = String::from_utf8_lossy(&out.expect("runs").stderr).into_owned();
    assert!(err.contains("error: usdt:usdted:guarded has 1 arguments (arg0 to arg0)"), "{err}");
}

/// `uaddr()` in a USDT probe of a position-independent executable: the
/// global where this process has it (77, as the probe's own argument says).
#[test]
fn uaddr_in_usdt_reads_the_global() {
    require_root!();
    let Some(target) = target("usdted_uaddr") else { return };
    let t = target.display().to_string();
    let program = format!(r#"usdt:{t}:usdted:strings {{ @[*uaddr("global_value"), arg1] = count(); }}"#);
    let out = bpfscope().args(["-c", &format!("{t} 3"), "-e", &program]).output().expect("runs");
    assert_eq!(stdout(&out), "\n\n@[77, 77]: 3\n", "{}", String::from_utf8_lossy(&out.stderr));
}

/// `--usdt-file-activation`: semaphores are set in every process that maps
/// the file, already running or started later (the kernel's uprobe
/// reference counters do it), so the guarded probe fires in processes the
/// run was not told about; the flag asks for what is always so.
#[test]
fn semaphores_are_set_in_every_process_mapping_the_file() {
    require_root!();
    let Some(target) = target("usdted_file") else { return };
    let t = target.display().to_string();
    let spawn = || Command::new(&target).args(["2", "wait"]).stdin(Stdio::piped()).spawn().expect("spawns");
    let mut before = spawn();
    let tracer = Tracer::start(&["--usdt-file-activation", "-e", &format!("usdt:{t}:guarded {{ @[pid] = count(); }}")]);
    let mut after = spawn();
    for child in [&mut before, &mut after] {
        child.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    }
    assert!(before.wait().expect("waits").success() && after.wait().expect("waits").success());
    std::thread::sleep(Duration::from_millis(200));
    let out = stdout(&tracer.interrupt());
    let mut lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    let mut expected = [format!("@[{}]: 2", before.id()), format!("@[{}]: 2", after.id())];
    expected.sort_unstable();
    assert_eq!(lines, expected, "{out}");
}
