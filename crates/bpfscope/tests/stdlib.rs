//! Every function and builtin of bpftrace 0.26's standard library
//! (`docs/stdlib.md`), and how this suite checks it: a program run here
//! whose output is compared exactly (values worked out by hand, or read
//! from the system the test runs on), another test that covers it (named),
//! or the clear refusal of what this version does not build yet.

#[macro_use]
mod support;

use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use std::time::Duration;

use support::{build_target_as, wait_with_timeout};

/// The names in bpftrace 0.26's `docs/stdlib.md`, in its order.
const STDLIB: &[&str] = &[
    "assert",
    "assert_str",
    "bswap",
    "buf",
    "cat",
    "cgroup",
    "cgroup_path",
    "cgroupid",
    "clear",
    "comm",
    "cpid",
    "cpu",
    "curtask",
    "default_str_length",
    "delete",
    "dw_ustack",
    "elapsed",
    "errorf",
    "exit",
    "fail",
    "find",
    "func",
    "getopt",
    "gid",
    "has_cpid",
    "has_key",
    "is_array",
    "is_err",
    "is_integer",
    "is_literal",
    "is_ptr",
    "is_str",
    "is_unsigned_integer",
    "jiffies",
    "join",
    "kaddr",
    "kfunc_allowed",
    "kfunc_exist",
    "kptr",
    "kstack",
    "ksym",
    "leader_comm",
    "leader_tid",
    "len",
    "macaddr",
    "memcmp",
    "ncpus",
    "nsecs",
    "ntop",
    "numaid",
    "offsetof",
    "override",
    "path",
    "pcomm",
    "percpu_kaddr",
    "pid",
    "ppid",
    "print",
    "printf",
    "probe",
    "probetype",
    "pton",
    "rand",
    "reg",
    "retval",
    "signal",
    "signal_name",
    "signal_thread",
    "sizeof",
    "skboutput",
    "socket_cookie",
    "static_assert",
    "str",
    "strcap",
    "strcontains",
    "strerror",
    "strftime",
    "strlen",
    "strncmp",
    "strstr",
    "syscall_name",
    "system",
    "tid",
    "time",
    "uaddr",
    "uid",
    "unwatch",
    "uptr",
    "usermode",
    "username",
    "ustack",
    "usym",
    "warnf",
    "write_user",
    "zero",
    "avg",
    "count",
    "hist",
    "lhist",
    "max",
    "min",
    "stats",
    "sum",
    "tseries",
];

/// How a name is checked.
enum Check {
    /// `bpfscope -q ARGS -e PROGRAM` prints exactly this on stdout (with
    /// `{pid}`, `{ppid}`, `{ncpus}`, `{cgroup}`, `{target}` filled in) and
    /// this exit code; stderr has these lines (in any order, others may
    /// follow).
    Runs {
        program: &'static str,
        args: &'static [&'static str],
        stdout: &'static str,
        code: i32,
        stderr: &'static [&'static str],
    },
    /// Another test checks it, by running it in the kernel: `file::test`.
    Elsewhere(&'static str),
    /// Refused where the program is checked, with this message.
    Refused { program: &'static str, message: &'static str },
}

use Check::*;

const fn runs(program: &'static str, stdout: &'static str) -> Check {
    Runs { program, args: &[], stdout, code: 0, stderr: &[] }
}

/// Each case: the names it checks, and how.
const CASES: &[(&[&str], Check)] = &[
    (
        &["assert", "errorf"],
        Runs {
            program: r#"BEGIN { assert(1 == 1, "fine"); printf("a\n"); $x = 0; assert($x == 1, "x is one"); printf("b\n"); }"#,
            args: &[],
            stdout: "a\n\n\n",
            code: 1,
            stderr: &["stdin:1:56-83: ERROR: assert failed: x is one"],
        },
    ),
    (
        &["assert_str", "default_str_length"],
        runs(r#"BEGIN { assert_str("s"); assert_str(comm); print(default_str_length()); exit(); }"#, "1024\n\n\n"),
    ),
    (
        &["bswap"],
        runs(
            r#"BEGIN { printf("%x %x %lx %x\n", bswap((uint16)0x1122), bswap((uint32)0x11223344), bswap((uint64)0x1122334455667788), bswap((uint8)0x12)); exit(); }"#,
            "2211 44332211 8877665544332211 12\n\n\n",
        ),
    ),
    (
        &["buf"],
        runs(
            r#"BEGIN { $s = "ab\x01c"; printf("%r|%rx|%rh\n", buf($s, 4), buf($s, 2), buf($s, 2)); exit(); }"#,
            "ab\\x01c|\\x61\\x62|61 62\n\n\n",
        ),
    ),
    (&["cat"], runs(r#"BEGIN { cat("/proc/%d/comm", pid); exit(); }"#, "bpfscope\n\n\n")),
    (&["cgroup", "cgroupid"], runs(r#"BEGIN { print(cgroup); exit(); }"#, "{cgroup}\n\n\n")),
    (
        &["cgroup_path"],
        runs(
            r#"BEGIN { print(cgroup_path(cgroup)); print(cgroup_path(cgroup, "unified")); printf("[%s]\n", cgroup_path(cgroup, "cpuset")); exit(); }"#,
            "unified:{cgroup_path}\nunified:{cgroup_path}\n[]\n\n\n",
        ),
    ),
    (
        &["clear", "zero"],
        runs(r#"BEGIN { @a[1] = 1; @a[2] = 2; clear(@a); @z[1] = 5; zero(@z); exit(); }"#, "\n\n\n@z[1]: 0\n"),
    ),
    (
        &["comm", "username", "uid", "gid"],
        runs(r#"BEGIN { printf("%s %s %d %d\n", comm, username, uid, gid); exit(); }"#, "bpfscope root 0 0\n\n\n"),
    ),
    (
        &["cpid", "has_cpid"],
        Runs {
            program: r#"BEGIN { printf("%d %d\n", cpid > 0, has_cpid); exit(); }"#,
            args: &["-c", "/bin/true"],
            stdout: "1 1\n\n\n",
            code: 0,
            stderr: &[],
        },
    ),
    (
        &["cpu", "ncpus", "numaid"],
        runs(r#"BEGIN { printf("%d %d %d\n", cpu < ncpus, ncpus, numaid); exit(); }"#, "1 {ncpus} 0\n\n\n"),
    ),
    (
        &["curtask", "pid", "tid", "leader_tid"],
        runs(
            r#"BEGIN { printf("%d %d %d %d %d %d\n", curtask->tgid, pid, tid, pid(curr_ns), tid(init), leader_tid); exit(); }"#,
            "{pid} {pid} {pid} {pid} {pid} {pid}\n\n\n",
        ),
    ),
    (
        &["ppid", "pcomm", "leader_comm"],
        runs(r#"BEGIN { printf("%d %s\n", ppid, leader_comm); exit(); }"#, "{ppid} bpfscope\n\n\n"),
    ),
    (
        &["delete", "has_key", "find", "len"],
        runs(
            r#"BEGIN { @a[1] = 10; @a[2] = 20; @a[3] = 30; delete(@a, 1); delete(@a[2]); $v = 0;
           printf("%d %d %d %d %d\n", has_key(@a, 1), has_key(@a, 3), find(@a, 3, $v), $v, len(@a)); exit(); }"#,
            "0 1 1 30 1\n\n\n@a[3]: 30\n",
        ),
    ),
    (&["dw_ustack"], Elsewhere("symbols::dw_ustack_walks_a_chain_built_without_frame_pointers")),
    (
        &["elapsed", "jiffies", "nsecs", "rand"],
        runs(
            r#"BEGIN { printf("%d %d %d %d %d\n", elapsed < 10000000000, jiffies > 0, nsecs(boot) > 0, nsecs(tai) > nsecs(monotonic), rand >= 0); exit(); }"#,
            "1 1 1 1 1\n\n\n",
        ),
    ),
    (&["exit"], Runs { program: "BEGIN { exit(3); }", args: &[], stdout: "\n\n", code: 3, stderr: &[] }),
    (
        &["fail"],
        Runs {
            program: r#"BEGIN { if ($1 < 2) { fail("need more than %d", 1); } printf("ok\n"); exit(); }"#,
            args: &["5"],
            stdout: "ok\n\n\n",
            code: 0,
            stderr: &[],
        },
    ),
    (
        &["func", "probe", "probetype", "reg", "retval", "usermode"],
        Runs {
            program: r#"uprobe:{target}:add { printf("%s %s %s %d %d %d\n", func, probe, probetype, arg1, reg("ip") != 0, usermode); }
                    uretprobe:{target}:add { printf("%d\n", retval); }"#,
            args: &["-c", "{target} 1"],
            stdout: "add uprobe:{target}:add uprobe 100 1 1\n100\n\n\n",
            code: 0,
            stderr: &[],
        },
    ),
    (
        &["getopt"],
        Runs {
            program: r#"BEGIN { printf("%d %d %s\n", getopt("n", 5), getopt("v", false), getopt("s", "x")); exit(); }"#,
            args: &["--", "--n=42", "--v", "--s=long value"],
            stdout: "42 1 long value\n\n\n",
            code: 0,
            stderr: &[],
        },
    ),
    (
        &["is_array", "is_err", "is_integer", "is_literal", "is_ptr", "is_str", "is_unsigned_integer"],
        runs(
            r#"BEGIN { printf("%d %d %d %d %d %d %d %d %d\n", is_array(pton("1.2.3.4")), is_err(-2), is_err(0), is_integer(1), is_literal(5), is_literal(pid), is_ptr(curtask), is_str("a"), is_unsigned_integer((uint8)1)); exit(); }"#,
            "1 1 0 1 1 0 1 1 1\n\n\n",
        ),
    ),
    (
        &["join"],
        Runs {
            program: r#"tracepoint:syscalls:sys_enter_execve /pid == cpid/ { join(args.argv); }"#,
            args: &["-c", "/bin/true x yz"],
            stdout: "/bin/true x yz\n\n\n",
            code: 0,
            stderr: &[],
        },
    ),
    (
        &["kaddr", "ksym"],
        runs(
            r#"BEGIN { printf("%s %s\n", ksym(kaddr("vfs_read")), ksym(kaddr("vfs_read") + 1)); exit(); }"#,
            "vfs_read vfs_read\n\n\n",
        ),
    ),
    (
        &["kfunc_allowed"],
        // The kernel's answer for each probe's program type: the RCU lock
        // kfuncs are open to every type, bpf_get_task_exe_file only to LSM
        // programs, and a kfunc that does not exist to none.
        runs(
            r#"BEGIN { printf("%d %d %d\n", kfunc_allowed("bpf_rcu_read_lock"), kfunc_allowed("bpf_get_task_exe_file"), kfunc_allowed("no_such_kfunc")); } interval:ms:1 { printf("%d %d %d\n", kfunc_allowed("bpf_rcu_read_lock"), kfunc_allowed("bpf_get_task_exe_file"), kfunc_allowed("no_such_kfunc")); exit(); }"#,
            "1 0 0\n1 0 0\n\n\n",
        ),
    ),
    (
        &["kfunc_exist"],
        runs(
            r#"BEGIN { printf("%d %d\n", kfunc_exist("bpf_task_from_pid"), kfunc_exist("no_such_kfunc")); exit(); }"#,
            "1 0\n\n\n",
        ),
    ),
    (&["kptr", "uptr"], runs(r#"BEGIN { printf("%d %d\n", kptr(5), uptr(6)); exit(); }"#, "5 6\n\n\n")),
    (&["kstack", "ustack"], Elsewhere("uprobes::stack_symbols_match_bpftrace")),
    (
        &["macaddr"],
        runs(
            r#"BEGIN { print(macaddr(pton("::a0b:c0d:e0f:ff00"))); printf("%s\n", macaddr(pton("1:203:405:6ff::"))); exit(); }"#,
            "00:00:00:00:00:00\n00:01:02:03:04:05\n\n\n",
        ),
    ),
    (
        &["memcmp", "strcontains", "strlen", "strncmp", "strstr"],
        runs(
            r#"BEGIN { printf("%d %d %d %d %d %d\n", memcmp("abc", "abd", 2), memcmp("abc", "abd", 3) < 0, strcontains("hello", "ll"), strlen("hello"), strncmp("abc", "abd", 2), strstr("hello", "lo")); exit(); }"#,
            "0 1 1 5 0 3\n\n\n",
        ),
    ),
    (&["ntop"], Elsewhere("tracepoints::ntop_matches_bpftrace")),
    (
        &["offsetof", "sizeof"],
        runs(
            r#"struct S { int a; long b; char c[3]; } BEGIN { printf("%d %d %d %d\n", sizeof(struct S), offsetof(struct S, b), offsetof(struct S, c), sizeof(uint16)); exit(); }"#,
            "24 8 16 2\n\n\n",
        ),
    ),
    (&["override"], Elsewhere("kernel_probes::override_changes_the_return_value")),
    (&["path"], Elsewhere("kernel_probes::path_names_the_closed_file")),
    (&["percpu_kaddr"], Elsewhere("kernel_probes::percpu_kaddr_finds_each_cpus_variable")),
    (
        &["print", "printf"],
        runs(
            r#"BEGIN { @a[1] = 5; @a[2] = 7; print(@a, 1); print((1, "x")); printf("%5d|%-3s|\n", 42, "a"); exit(); }"#,
            "@a[2]: 7\n(1, x)\n   42|a  |\n\n\n@a[1]: 5\n@a[2]: 7\n",
        ),
    ),
    (
        &["pton"],
        runs(
            r#"BEGIN { print(pton("127.0.0.1")); print(pton("::1")); exit(); }"#,
            "[127,0,0,1]\n[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]\n\n\n",
        ),
    ),
    (&["signal", "signal_thread"], Elsewhere("uprobes::signal_reaches_the_traced_process")),
    (
        &["signal_name", "strerror", "syscall_name"],
        runs(
            r#"BEGIN { printf("%s|%s|%s\n", signal_name(9), strerror(2), syscall_name(0)); $s = 15; $e = 13; $n = 1; printf("%s|%s|%s\n", signal_name($s), strerror($e), syscall_name($n)); print(strerror($e + 1000)); exit(); }"#,
            "SIGKILL|No such file or directory|read\nSIGTERM|Permission denied|write\nUnknown error 1013\n\n\n",
        ),
    ),
    (&["skboutput"], Elsewhere("kernel_probes::skboutput_writes_a_pcap_file")),
    (&["socket_cookie"], Elsewhere("kernel_probes::socket_cookie_is_the_kernels")),
    (
        &["static_assert"],
        Refused {
            program: r#"BEGIN { static_assert(1 > 2, "one is not more than two"); }"#,
            message: "one is not more than two",
        },
    ),
    // 0.26: "only `length - 1` bytes are copied and a NULL byte is appended".
    (&["str"], runs(r#"BEGIN { print(str("abcdef", 3)); exit(); }"#, "ab\n\n\n")),
    (&["strcap"], runs(r#"BEGIN { printf("%d %d\n", strcap("abc"), strcap(comm)); exit(); }"#, "4 16\n\n\n")),
    (&["strftime", "time"], Elsewhere("stdlib::strftime_formats_the_wall_clock")),
    (
        &["system"],
        Runs {
            program: r#"BEGIN { system("echo hi %d", 5); exit(); }"#,
            args: &["--unsafe"],
            stdout: "hi 5\n\n\n",
            code: 0,
            stderr: &[],
        },
    ),
    (&["uaddr"], Elsewhere("uprobes::uaddr_reads_the_binarys_variables")),
    (&["unwatch"], Refused { program: "BEGIN { unwatch(0); }", message: "unwatch() is not available" }),
    (&["usym"], Elsewhere("uprobes::usym_names_the_function")),
    (
        &["warnf"],
        Runs {
            program: r#"BEGIN { warnf("careful %d", 2); exit(); }"#,
            args: &[],
            stdout: "\n\n",
            code: 0,
            stderr: &["stdin:1:9-31: WARNING: careful 2"],
        },
    ),
    (&["write_user"], Elsewhere("uprobes::write_user_changes_the_traced_process")),
    (
        &["avg", "count", "max", "min", "stats", "sum"],
        runs(
            "BEGIN { @a = avg(4); @a = avg(6); @c = count(); @c = count(); @mx = max(3); @mx = max(9); @mn = min(3); @mn = min(-1); @st = stats(10); @st = stats(20); @s = sum(5); @s = sum(-2); exit(); }",
            "\n\n@a: 5\n@c: 2\n@mn: -1\n@mx: 9\n@s: 3\n@st: { .count = 2, .average = 15, .total = 30 }\n",
        ),
    ),
    (&["hist", "lhist"], Elsewhere("run::histograms_keyed_by_odd_sized_keys")),
    (&["tseries"], Elsewhere("values::tseries_draws_as_026")),
];

#[test]
fn every_stdlib_name_has_a_check() {
    let covered: Vec<&str> = CASES.iter().flat_map(|(names, _)| names.iter().copied()).collect();
    let missing: Vec<&&str> = STDLIB.iter().filter(|n| !covered.contains(n)).collect();
    assert!(missing.is_empty(), "no check for {missing:?}");
    // A test named as covering a name exists.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for (_, check) in CASES {
        if let Elsewhere(test) = check {
            let (file, name) = test.split_once("::").expect("file::test");
            let text = std::fs::read_to_string(dir.join(format!("{file}.rs"))).expect("test file");
            assert!(text.contains(&format!("fn {name}(")), "{test} does not exist");
        }
    }
}

/// The values a case's expected output names.
fn fill(text: &str, pid: u32, target: &str) -> String {
    let cgroup_path = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| c.lines().find_map(|l| l.strip_prefix("0::").map(str::to_string)))
        .unwrap_or_default();
    let cgroup = std::fs::metadata(format!("/sys/fs/cgroup{cgroup_path}")).map_or(0, |m| m.ino());
    let ncpus = std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| s.trim().rsplit(['-', ',']).next()?.parse::<u64>().ok())
        .map_or(1, |max| max + 1);
    text.replace("{pid}", &pid.to_string())
        // The parent the kernel records is the thread that forked: this one.
        .replace("{ppid}", &unsafe { libc::gettid() }.to_string())
        .replace("{ncpus}", &ncpus.to_string())
        .replace("{cgroup}", &cgroup.to_string())
        .replace("{cgroup_path}", &cgroup_path)
        .replace("{target}", target)
}

#[test]
fn every_stdlib_case_prints_its_values() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_stdlib", &[]);
    let target = target.to_str().expect("utf-8 path");
    let mut failures = Vec::new();
    for (names, check) in CASES {
        match check {
            Runs { program, args, stdout, code, stderr } => {
                let program = fill(program, 0, target);
                let args: Vec<String> = args.iter().map(|a| fill(a, 0, target)).collect();
                let child = support::bpfscope()
                    .arg("-q")
                    .args(args.iter().take_while(|a| *a != "--"))
                    .args(["-e", &program])
                    .args(args.iter().skip_while(|a| *a != "--"))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawns");
                let pid = child.id();
                let o = wait_with_timeout(child, Duration::from_secs(30), &program);
                let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                let want = fill(stdout, pid, target);
                let lines_ok = stderr.iter().all(|l| err.lines().any(|e| e == *l));
                if out != want || o.status.code() != Some(*code) || !lines_ok {
                    failures.push(format!(
                        "{names:?}: {program}\n  stdout {out:?}\n  wanted {want:?}\n  exit {:?} (wanted {code})\n  stderr {err}",
                        o.status.code()
                    ));
                }
            }
            Refused { program, message } => {
                let o = support::bpfscope().args(["-e", program]).output().expect("runs");
                let err = String::from_utf8_lossy(&o.stderr);
                if o.status.code() != Some(1)
                    || !err.contains(message)
                    || err.contains("panicked")
                    || err.contains("not supported by the compiler")
                {
                    failures.push(format!("{names:?}: {program}\n  exit {:?}\n  stderr {err}", o.status.code()));
                }
            }
            Elsewhere(_) => {}
        }
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// `strftime()` formats boot-clock nanoseconds as the wall clock's time,
/// with `%f` for microseconds (as bpftrace 0.17 prints it too); `time()`
/// prints the current time.
#[test]
fn strftime_formats_the_wall_clock() {
    require_root!();
    let program = r#"BEGIN { printf("%s\n", strftime("%Y-%m-%d %H:%M", nsecs)); printf("[%s]\n", strftime("%f", 1500)); time("%Y\n"); exit(); }"#;
    let o = support::bpfscope().args(["-q", "-e", program]).output().expect("runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let now = std::process::Command::new("date").arg("+%Y-%m-%d %H:%M").output().expect("date");
    let now = String::from_utf8_lossy(&now.stdout).trim().to_string();
    let year = &now[..4];
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(now.as_str()), "{out}");
    // 1500 ns after boot: the microseconds are those of the boot time plus 1.
    let micros = lines.next().unwrap_or_default();
    assert!(micros.len() == 8 && micros.starts_with('[') && micros[1..7].bytes().all(|b| b.is_ascii_digit()), "{out}");
    assert_eq!(lines.next(), Some(year), "{out}");
}
