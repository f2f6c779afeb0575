//! Tracepoints, in the kernel: counts and arguments of a workload this test
//! controls.

#[macro_use]
mod support;

use std::process::Command;

use support::*;

#[test]
fn openat_counted_by_comm_with_filenames() {
    require_root!();
    let opener = build_target("opener", &[]);
    let file = std::env::temp_dir().join(format!("bpfscope-opened-{}", std::process::id()));
    std::fs::write(&file, "x").expect("write");
    let file = file.to_str().expect("utf-8").to_string();
    let program = r#"tracepoint:syscalls:sys_enter_openat /comm == "opener"/ { @calls[comm] = count(); @files[str(args.filename)] = count(); }
           tracepoint:syscalls:sys_exit_openat /comm == "opener"/ { @ret[args.ret >= 0] = count(); }"#;
    let tracer = Tracer::start(&["-e", program]);
    let status = Command::new(&opener).args([&file, "7"]).status().expect("runs");
    assert!(status.success());
    let out = stdout(&tracer.interrupt());
    // The loader opens libraries under the same name: count our file exactly.
    assert!(out.contains(&format!("@files[{file}]: 7\n")), "{out}");
    let calls: u64 =
        out.lines().find_map(|l| l.strip_prefix("@calls[opener]: ")).and_then(|n| n.parse().ok()).expect("calls");
    assert!(calls >= 7, "{out}");
    assert!(out.contains("@ret[true]: "), "{out}");
    std::fs::remove_file(&file).ok();
}

#[test]
fn wildcards_make_one_program_per_tracepoint() {
    require_root!();
    let out = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
        .args([
            "-e",
            "tracepoint:syscalls:sys_enter_{openat,close} { @[probe] = count(); } interval:ms:200 { exit(); }",
        ])
        .output()
        .expect("runs");
    let text = stdout(&out);
    assert!(text.starts_with(""), "{text}");
    // bpfscope itself opens and closes files while starting.
    assert!(text.contains("@[tracepoint:syscalls:sys_enter_openat]: "), "{text}");
}

#[test]
fn data_loc_strings_and_char_arrays() {
    require_root!();
    let opener = build_target_as("opener", "execd", &[]);
    let tracer = Tracer::start(&[
        "-e",
        r#"tracepoint:sched:sched_process_exec /str(args.filename) == "OPENER"/ { @exec[str(args.filename)] = count(); }
           tracepoint:sched:sched_process_exec { @execs = count(); }
           tracepoint:sched:sched_switch /args.prev_comm == "execd"/ { @switched[args.prev_comm] = 1; }"#
            .replace("OPENER", opener.to_str().expect("utf-8"))
            .as_str(),
    ]);
    Command::new(&opener).args(["/nonexistent", "1"]).status().expect("runs");
    let out = stdout(&tracer.interrupt());
    assert!(out.contains(&format!("@exec[{}]: 1\n", opener.display())), "{out}");
}

#[test]
fn unknown_tracepoints_and_fields_are_clear_errors() {
    let o = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
        .args(["--dry-run", "-e", "t:sched:nope { }"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "stdin:1:1: error: no such tracepoint: sched:nope\nt:sched:nope { }\n~~~~~~~~~~~~\nhint: list them with: ls /sys/kernel/tracing/events/<category>\n"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
        .args(["--dry-run", "-e", "t:syscalls:sys_enter_openat { print(args.nope); }"])
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "stdin:1:42: error: no field named 'nope' here\nt:syscalls:sys_enter_openat { print(args.nope); }\n                                         ~~~~\nhint: the fields are: __syscall_nr, dfd, filename, flags, mode\n"
    );
}

/// Raw tracepoints see the same events as the tracepoints built on them:
/// `sys_enter` with the call number in arg1 (or, named from BTF, `args.id`)
/// counts each openat that `syscalls:sys_enter_openat` counts.
#[test]
fn raw_tracepoint_arguments() {
    require_root!();
    let opener = build_target_as("opener", "rawopener", &[]);
    let program = r#"rawtracepoint:sys_enter /comm == "rawopener" && arg1 == 257/ { @raw = count(); }
        rawtracepoint:sys_enter /comm == "rawopener" && args.id == 257/ { @btf = count(); }
        tracepoint:syscalls:sys_enter_openat /comm == "rawopener"/ { @tp = count(); }
        rawtracepoint:sched_process_exe* /comm == "rawopener"/ { @exec[probe] = count(); }"#;
    let tracer = Tracer::start(&["-e", program]);
    let status = Command::new(&opener).args(["/etc/hostname", "9"]).status().expect("runs");
    assert!(status.success());
    let out = stdout(&tracer.interrupt());
    let count = |name: &str| -> u64 {
        out.lines().find_map(|l| l.strip_prefix(&format!("@{name}: "))).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    assert!(count("raw") >= 9, "{out}");
    assert_eq!(count("raw"), count("tp"), "{out}");
    assert_eq!(count("btf"), count("tp"), "{out}");
    assert!(out.contains("@exec[rawtracepoint:sched_process_exec]: 1\n"), "{out}");
    assert!(out.starts_with(""), "{out}");
}

#[test]
fn unknown_raw_tracepoint_suggests_the_closest() {
    require_root!();
    let out = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
        .args(["--dry-run", "-e", "rawtracepoint:sched_swich { }"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "stdin:1:1: error: no tracepoint matches 'sched_swich'\nrawtracepoint:sched_swich { }\n\
         ~~~~~~~~~~~~~~~~~~~~~~~~~\nhint: did you mean 'sched_switch'?\n"
    );
}

/// `join()` prints the strings of a NULL-terminated array (here execve's
/// argv), separated by a space or the given separator, as bpftrace does.
#[test]
fn join_prints_execve_arguments() {
    require_root!();
    let opener = build_target_as("opener", "joined", &[]);
    let path = opener.to_str().expect("utf-8").to_string();
    let program = format!(
        r#"tracepoint:syscalls:sys_enter_execve /str(args.filename) == "{path}"/ {{ join(args.argv); join(args.argv, "--"); }}"#
    );
    let tracer = Tracer::start(&["-e", &program]);
    let status = Command::new(&opener).args(["/nonexistent file", "0"]).status().expect("runs");
    assert!(status.success());
    let out = stdout(&tracer.interrupt());
    assert_eq!(out, format!("{path} /nonexistent file 0\n{path}--/nonexistent file--0\n\n\n"));
}

/// Pointers into the traced process: `argv[$i]` with a variable index and
/// `*argv`, read through execve's `const char *const *argv`.
#[test]
fn pointer_index_and_dereference() {
    require_root!();
    let opener = build_target_as("opener", "indexed", &[]);
    let path = opener.to_str().expect("utf-8").to_string();
    let program = format!(
        r#"tracepoint:syscalls:sys_enter_execve /str(args.filename) == "{path}"/ {{
             $i = 0;
             while ($i < 8) {{
               $p = args.argv[$i];
               if ($p == 0) {{ break; }}
               printf("%d=%s ", $i, str($p));
               $i++;
             }}
             printf("first=%s\n", str(*args.argv) == "{path}" ? "argv[0]" : "wrong");
           }}"#
    );
    let tracer = Tracer::start(&["-e", &program]);
    let status = Command::new(&opener).args(["/nonexistent", "0"]).status().expect("runs");
    assert!(status.success());
    let out = stdout(&tracer.interrupt());
    assert_eq!(out, format!("0={path} 1=/nonexistent 2=0 first=argv[0]\n\n\n"));
}

/// Fields of the kernel's structs come from BTF: `curtask->pid`, a pointer
/// chain to the parent, a char array as a string, read from kernel memory
/// even in a system call tracepoint (where `args` pointers are the user's).
#[test]
fn kernel_struct_fields_from_btf() {
    require_root!();
    let opener = build_target_as("opener", "btfopener", &[]);
    let program = r#"tracepoint:syscalls:sys_enter_openat /comm == "btfopener" && str(args.filename) == "/dev/null"/ {
        printf("%d %d %s %s\n", curtask->pid, curtask->real_parent->tgid, curtask->comm, curtask->real_parent->comm);
    }"#;
    let tracer = Tracer::start(&["-e", program]);
    let child = Command::new(&opener).args(["/dev/null", "2"]).spawn().expect("runs");
    let pid = child.id();
    assert!(child.wait_with_output().expect("waits").status.success());
    let out = stdout(&tracer.interrupt());
    let me = std::process::id();
    // The parent is this test's thread, which forked the child.
    let parent = std::fs::read_to_string("/proc/thread-self/comm").expect("comm").trim_end().to_string();
    let line = format!("{pid} {me} btfopener {parent}\n");
    assert_eq!(out, format!("{line}{line}\n\n"));
}

/// A field the kernel's struct does not have: the closest one as a hint.
#[test]
fn unknown_kernel_struct_fields_are_clear_errors() {
    let out =
        bpfscope().args(["--dry-run", "-e", "BEGIN { printf(\"%d\\n\", curtask->pidd); }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    if std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        assert!(err.contains("error: struct task_struct has no field named 'pidd'"), "{err}");
        assert!(err.contains("hint: did you mean 'pid'?"), "{err}");
    } else {
        assert!(err.contains("struct task_struct"), "{err}");
    }
}

/// `ntop()` prints addresses as bpftrace does: the same program on the same
/// connects (two to 127.0.0.1, one to ::1 where there is IPv6) gives
/// bpftrace 0.17's text.
#[test]
fn ntop_matches_bpftrace() {
    use std::net::{TcpListener, TcpStream};
    require_root!();
    if Command::new("bpftrace").arg("--version").output().is_err() {
        support::skip("bpftrace (the oracle) is not installed; scripts/test.sh installs it");
        return;
    }
    let v4 = TcpListener::bind("127.0.0.1:0").expect("listens");
    let v6 = TcpListener::bind("[::1]:0").ok();
    let me = std::process::id();
    let run = |mut tracer: Command, args: &str| -> String {
        let program = format!(
            r#"tracepoint:sock:inet_sock_set_state /pid == {me} && args{args}newstate == 2/ {{
                 printf("%s %s\n", ntop(args{args}daddr), ntop(args{args}daddr_v6));
                 @[ntop(args{args}daddr_v6)] = count();
                 @v4[ntop(args{args}daddr)] = count();
               }}"#
        );
        tracer.args(["-e", &program]);
        let tracer = Tracer::start_command(tracer);
        for _ in 0..2 {
            TcpStream::connect(v4.local_addr().expect("address")).expect("connects");
        }
        if let Some(l) = &v6 {
            TcpStream::connect(l.local_addr().expect("address")).expect("connects");
        }
        stdout(&tracer.interrupt())
    };
    // bpftrace 0.17 writes `args->field`.
    let ours = run(bpfscope(), ".");
    let theirs = support::without_attaching(&run(Command::new("bpftrace"), "->"));
    // bpftrace 0.17 sometimes loses its printf events when interrupted
    // right after the connects: compare the maps, which it always prints,
    // and our printf lines with what they must be.
    let maps = |s: &str| s.lines().filter(|l| l.starts_with('@')).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(maps(&ours), maps(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    assert!(ours.starts_with("127.0.0.1 ::ffff:127.0.0.1\n127.0.0.1 ::ffff:127.0.0.1\n"), "{ours}");
    assert!(ours.contains("@v4[127.0.0.1]: 2\n"), "{ours}");
}
