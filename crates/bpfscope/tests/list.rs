//! `-l`: listings checked against what the kernel and the binaries hold,
//! and against bpftrace's own listing where bpftrace is installed.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::process::Command;

use support::*;

fn list(args: &[&str]) -> (String, String, Option<i32>) {
    let out = bpfscope().arg("-l").args(args).output().expect("runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// Reading tracefs needs root.
fn can_read_tracefs() -> bool {
    if std::path::Path::new("/sys/kernel/tracing/events/syscalls").is_dir() {
        return true;
    }
    support::skip("/sys/kernel/tracing/events/syscalls is not readable (needs root and tracefs)");
    false
}

#[test]
fn syscall_tracepoints_are_the_tracefs_directory() {
    if !can_read_tracefs() {
        return;
    }
    let (out, _, code) = list(&["tracepoint:syscalls:*"]);
    assert_eq!(code, Some(0));
    let listed: BTreeSet<String> = out.lines().map(str::to_string).collect();
    let dir: BTreeSet<String> = std::fs::read_dir("/sys/kernel/tracing/events/syscalls")
        .expect("reads")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| format!("tracepoint:syscalls:{}", e.file_name().to_string_lossy()))
        .collect();
    assert!(dir.len() > 100);
    assert_eq!(listed, dir);
}

#[test]
fn uprobes_of_a_binary_are_its_functions() {
    let target = build_target_as("uprobed", "uprobed_list", &[]);
    let t = target.display().to_string();
    let (out, _, code) = list(&[&format!("uprobe:{t}:*")]);
    assert_eq!(code, Some(0));
    let listed: BTreeSet<String> = out.lines().map(str::to_string).collect();
    // nm: defined symbols in the text section (T global, t local).
    let nm = Command::new("nm").arg("--defined-only").arg(&target).output().expect("nm runs");
    let functions: BTreeSet<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (_, kind, name) = (w.next()?, w.next()?, w.next()?);
            matches!(kind, "T" | "t").then(|| format!("uprobe:{t}:{name}"))
        })
        .collect();
    assert!(functions.contains(&format!("uprobe:{t}:hidden")), "{functions:?}");
    assert_eq!(listed, functions);
    // A pattern narrows it; a library name is found in ld.so.cache.
    assert_eq!(list(&[&format!("uprobe:{t}:step_*")]).0.lines().count(), 3);
    let (libc, _, _) = list(&["uprobe:libc:gethostname"]);
    assert!(libc.starts_with("uprobe:/") && libc.trim_end().ends_with("libc.so.6:gethostname"), "{libc}");
}

#[test]
fn verbose_listing_shows_tracepoint_fields() {
    if !can_read_tracefs() {
        return;
    }
    let (out, _, _) = list(&["-v", "tracepoint:syscalls:sys_enter_openat"]);
    assert_eq!(
        out,
        "tracepoint:syscalls:sys_enter_openat\n    int __syscall_nr\n    int dfd\n    const char * filename\n    int flags\n    umode_t mode\n"
    );
}

#[test]
fn a_program_lists_what_it_attaches_to() {
    if !can_read_tracefs() {
        return;
    }
    let (out, _, code) = list(&["-e", "BEGIN { } tracepoint:syscalls:sys_enter_open{,at} { } interval:s:1 { }"]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "tracepoint:syscalls:sys_enter_open\ntracepoint:syscalls:sys_enter_openat\ninterval:s:1\n");
}

#[test]
fn kernel_providers_and_comma_lists() {
    if !can_read_tracefs() {
        return;
    }
    let (out, _, _) = list(&["software:cpu*,t:sched:sched_switch,rawtracepoint:sched_switch"]);
    assert_eq!(
        out,
        "software:cpu-clock:\nsoftware:cpu-migrations:\nsoftware:cpu:\ntracepoint:sched:sched_switch\nrawtracepoint:vmlinux:sched_switch\n"
    );
    let (out, _, _) = list(&["kprobe:vfs_read"]);
    assert_eq!(out, "kprobe:vfs_read\n", "from available_filter_functions or /proc/kallsyms");
}

#[test]
fn no_match_and_missing_files() {
    if !can_read_tracefs() {
        return;
    }
    // As bpftrace: no match is not an error, but bpfscope says so.
    let (out, err, code) = list(&["tracepoint:nosuchcategory:*"]);
    assert_eq!((out.as_str(), code), ("", Some(0)));
    assert_eq!(err, "bpfscope: no probes match 'tracepoint:nosuchcategory:*'\n");
    let (out, err, code) = list(&["uprobe:/nonexistent/binary:*"]);
    assert_eq!((out.as_str(), code), ("", Some(1)));
    assert_eq!(err, "bpfscope: error: /nonexistent/binary: no such file\n");
}

/// Line for line with bpftrace 0.17's own `-l`, for the patterns it
/// supports, when it is installed (the test script installs it).
#[test]
fn same_listing_as_bpftrace() {
    if !can_read_tracefs() {
        return;
    }
    if Command::new("bpftrace").arg("--version").output().is_err() {
        support::skip("bpftrace is not installed (scripts/test.sh installs it as the oracle)");
        return;
    }
    let target = build_target_as("uprobed", "uprobed_oracle", &[]);
    let target_pattern = format!("uprobe:{}:*", target.display());
    // Not all of tracepoint:*: tests running meanwhile add and remove
    // their own event groups (bpfscope_PID) between the two listings.
    for pattern in
        ["tracepoint:s*", "tracepoint:i*", "t:syscalls:*open*", "tracepoint:sched:sched_wak*", &target_pattern]
    {
        let ours = list(&[pattern]).0;
        let theirs = Command::new("bpftrace").args(["-l", pattern]).output().expect("bpftrace runs");
        assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout), "{pattern}");
    }
}

/// fentry/fexit come from the kernel's BTF, with their parameters (and
/// fexit's retval) under `-lv`; raw tracepoints too.
#[test]
fn verbose_listing_of_btf_providers() {
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        support::skip("this kernel has no BTF (/sys/kernel/btf/vmlinux)");
        return;
    }
    if !can_read_tracefs() {
        return;
    }
    let (out, _, code) = list(&["-v", "fentry:vfs_read,fexit:vfs_read,rawtracepoint:sched_switch"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        "fentry:vmlinux:vfs_read\n    struct file * file\n    char * buf\n    size_t count\n    loff_t * pos\n\
         fexit:vmlinux:vfs_read\n    struct file * file\n    char * buf\n    size_t count\n    loff_t * pos\n    ssize_t retval\n\
         rawtracepoint:vmlinux:sched_switch\n    bool preempt\n    struct task_struct * prev\n    struct task_struct * next\n    unsigned int prev_state\n"
    );
    let (out, _, _) = list(&["fentry:vfs_*"]);
    assert!(out.lines().all(|l| l.starts_with("fentry:vmlinux:vfs_")) && out.lines().count() > 10, "{out}");
}

/// Without root, tracefs cannot be read: the message says so (not that it
/// is missing) and the exit code is 1.
#[test]
fn unreadable_tracefs_is_a_clear_error() {
    let Some(out) = run_as_nobody(&["-l", "tracepoint:sched:*"]) else { return };
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    if !std::path::Path::new("/sys/kernel/tracing/events").exists() {
        support::skip("tracefs is not mounted at /sys/kernel/tracing (scripts/setup.sh mounts it)");
        return;
    }
    assert_eq!(
        err,
        "bpfscope: error: cannot read tracefs at /sys/kernel/tracing: permission denied (reading it needs root: run bpfscope with sudo)\n"
    );
}

/// `-l 'fentry:bpf:*'` lists the functions of running BPF programs that
/// carry BTF, as 0.26 does (`fentry:bpf:ID:NAME`): here, another run's
/// interval program; a name no program has is an error at the probe.
#[test]
fn running_bpf_programs_are_listed_for_fentry() {
    require_root!();
    let tracer = Tracer::start(&["-e", "interval:ms:250 { @ = count(); }"]);
    let out = bpfscope().args(["-l", "fentry:bpf:*"]).output().expect("lists");
    let text = stdout(&out);
    let line = text.lines().find(|l| l.ends_with(":interval_ms_250_0")).unwrap_or_else(|| panic!("{text}"));
    let id = line.strip_prefix("fentry:bpf:").and_then(|r| r.split(':').next()).unwrap_or("");
    assert!(id.parse::<u32>().is_ok(), "{line}");
    drop(tracer.interrupt());
    let out = bpfscope().args(["--dry-run", "-e", "fexit:bpf:no_such_program_here { }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("stdin:1:1: error: no running BPF program with BTF matches 'bpf:no_such_program_here'\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
