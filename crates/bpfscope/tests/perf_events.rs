//! `software:` and `hardware:` probes (perf events on every CPU), and watchpoints (hardware breakpoints).

#[macro_use]
mod support;

use std::process::Command;

use support::*;

#[test]
fn page_faults_fire_a_software_probe() {
    require_root!();
    let faulter = build_target("faulter", &[]);
    let tracer = Tracer::start(&["-e", r#"software:page-faults:1 /comm == "faulter"/ { @[probe] = count(); }"#]);
    assert!(Command::new(&faulter).arg("200").status().expect("runs").success());
    let out = stdout(&tracer.interrupt());
    let n: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("@[software:page-faults:1]: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // 200 pages touched, plus the loader's own faults.
    assert!(n >= 200, "{out}");
}

/// A perf event's context starts with the interrupted code's registers,
/// so `reg()` and `usermode` read them (as in 0.26): the faults of pages
/// the target touches are taken in user mode at a user address.
#[test]
fn registers_of_a_perf_event_are_the_interrupted_codes() {
    require_root!();
    let faulter = build_target("faulter", &[]);
    let tracer = Tracer::start(&[
        "-e",
        r#"software:page-faults:1 /comm == "faulter"/ {
            @[usermode, reg("ip") >= 0x1000 && reg("ip") < 0x800000000000] = count();
        }"#,
    ]);
    assert!(Command::new(&faulter).arg("200").status().expect("runs").success());
    let out = stdout(&tracer.interrupt());
    let count = |key: &str| -> u64 {
        out.lines().find_map(|l| l.strip_prefix(&format!("@[{key}]: "))).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    assert!(count("1, true") >= 200, "{out}");
    assert_eq!(count("1, false"), 0, "a user-mode fault at a kernel address: {out}");
}

#[test]
fn hardware_events_work_or_say_why_not() {
    require_root!();
    let out = bpfscope().args(["-e", "hardware:cycles:100000 { @ = count(); } interval:ms:200 { exit(); }"]).output();
    let out = out.expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    if std::path::Path::new("/sys/bus/event_source/devices/cpu/events").is_dir() {
        assert!(out.status.success(), "{err}");
        assert!(stdout(&out).contains("@: "), "{}", stdout(&out));
    } else {
        // This VM: no hardware PMU.
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            err,
            "bpfscope: error: cannot attach hardware:cycles:100000: this machine has no hardware performance \
             counters (usual in virtual machines); software events work\n"
        );
    }
}

#[test]
fn unknown_events_suggest_the_closest() {
    let out = bpfscope().args(["--dry-run", "-e", "software:page-fault { }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: Unknown software event 'page-fault'"), "{err}");
    assert!(err.contains("hint: did you mean 'page-faults'?"), "{err}");
}

/// A watchpoint on a global of a C target (`-c`, which waits at its entry
/// point while the probes attach, so the kernel's loading of the program
/// does not count): `w` fires once per write, `rw` once per read and once
/// per write (`counter += i` is one of each), each at the instruction
/// after the access; `r` alone, which x86-64 does not have, is refused
/// with the mode that works.
#[test]
fn watchpoints_count_a_globals_reads_and_writes() {
    require_root!();
    let target = build_target_as("watched", "watched", &["-no-pie"]);
    let nm = Command::new("nm").arg(&target).output().expect("nm runs");
    let address = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find_map(|l| l.strip_suffix(" B counter").map(str::to_string))
        .expect("counter in the symbol table");
    let t = target.display();
    let program =
        format!("watchpoint:0x{address}:8:w {{ @w = count(); }} watchpoint:0x{address}:8:rw {{ @rw = count(); }}");
    let out = bpfscope().args(["-c", &format!("{t} 7"), "-e", &program]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out), "\n\n@rw: 14\n@w: 7\n");
    let out =
        bpfscope().args(["-c", &format!("{t} 7"), "-e", &format!("w:0x{address}:8:r {{ }}")]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x86-64 watches reads only together with writes: use the mode rw"), "{err}");
}
