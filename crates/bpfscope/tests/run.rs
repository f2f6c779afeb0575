//! Programs run in the real kernel; the tests assert on what the kernel
//! counted and delivered. Expected outputs marked "bpftrace 0.17" are what
//! bpftrace 0.17 printed for the same program on this machine.

#[macro_use]
mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::wait_with_timeout;

/// Runs a program; `None` (with the reason printed) where loading BPF
/// programs is not allowed.
fn run(program: &str, args: &[&str]) -> Option<Output> {
    support::run_program(program, args, Duration::from_secs(30))
}

#[track_caller]
fn assert_prints(program: &str, expected: &str) {
    let Some(o) = run(program, &[]) else { return };
    support::assert_only_attached(&String::from_utf8_lossy(&o.stderr), program);
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected, "stdout of {program}");
    assert_eq!(o.status.code(), Some(0));
}

fn bar(n: usize) -> String {
    format!("|{}{}|", "@".repeat(n), " ".repeat(52 - n))
}

#[test]
fn printf_with_every_common_specifier() {
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { printf("hello %d %s %5d|%-5d|%05d %x %X %o %c %u\n", 42, "str", 7, 8, 9, 255, 255, 8, 65, -1); exit(); }"#,
        "hello 42 str     7|8    |00009 ff FF 10 A 4294967295\n\n\n",
    );
    // bpftrace 0.17: C's printf reads %d as a 32-bit int, %ld as 64-bit.
    assert_prints(
        r#"BEGIN { printf("%d %ld %hhd %c|%5s|%-5s|%.2s|%p|%x|%08d|%-4d|%lu|%u\n", 4294967297, 4294967297, 257, 65, "ab", "ab", "abcdef", 4096, -1, 7, 3, -1, 4294967297); exit(); }"#,
        "1 4294967297 1 A|   ab|ab   |ab|0x1000|ffffffff|00000007|3   |18446744073709551615|1\n\n\n",
    );
}

#[test]
fn every_aggregation_without_keys() {
    // bpftrace 0.17: maps print by name. bpftrace 0.26 prints stats as a
    // record and no blank line after avg and stats (its tests/runtime/call).
    assert_prints(
        "BEGIN { @c = count(); @s = sum(5); @a = avg(4); @mi = min(3); @ma = max(9); @st = stats(10); @x = 5; exit(); }",
        "\n\n@a: 4\n@c: 1\n@ma: 9\n@mi: 3\n@s: 5\n@st: { .count = 1, .average = 10, .total = 10 }\n@x: 5\n",
    );
    // bpftrace 0.17
    assert_prints("BEGIN { @m = min(5); @m = min(-3); @M = max(5); @M = max(-3); exit(); }", "\n\n@M: 5\n@m: -3\n");
}

#[test]
fn hist_with_negative_zero_and_large_values() {
    // bpftrace 0.17
    let rows = [
        ("(..., 0)", 1),
        ("[0]", 1),
        ("[1]", 1),
        ("[2, 4)", 0),
        ("[4, 8)", 1),
        ("[8, 16)", 0),
        ("[16, 32)", 0),
        ("[32, 64)", 0),
        ("[64, 128)", 0),
        ("[128, 256)", 0),
        ("[256, 512)", 0),
        ("[512, 1K)", 0),
        ("[1K, 2K)", 1),
    ];
    let body: String = rows.iter().map(|(l, n)| format!("{l:<16}{n:>8} {}\n", bar(52 * n))).collect();
    assert_prints(
        "BEGIN { @h = hist(5); @h = hist(0); @h = hist(-1); @h = hist(1); @h = hist(1500); exit(); }",
        &format!("\n\n@h:\n{body}\n"),
    );
    // Large values: 2^40 and 2^62 land in the T and E buckets, labelled as
    // bpftrace 0.26 labels them. (bpftrace 0.17 puts both in [2G, 4G); see
    // the README.)
    let Some(o) = run("BEGIN { @h = hist(1099511627776); @h = hist(4611686018427387904); exit(); }", &[]) else {
        return;
    };
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("[1T, 2T)               1 {}", bar(52))), "{out}");
    assert!(out.contains(&format!("[4E, 8E)               1 {}", bar(52))), "{out}");
}

/// `hist(v, k)` splits each power of two into 2^k buckets, numbered and
/// labelled as bpftrace 0.26 does.
#[test]
fn hist_with_sub_buckets() {
    let rows = [("[0]", 1), ("[1]", 1), ("[2]", 1), ("[3]", 1), ("[4, 6)", 2), ("[6, 8)", 2), ("[8, 12)", 2)];
    let body: String = rows.iter().map(|(l, n)| format!("{l:<16}{n:>8} {}\n", bar(26 * n))).collect();
    assert_prints(
        "BEGIN { $i = 0; while ($i < 10) { @h = hist($i, 1); $i++; } @m = hist(1000000, 3); exit(); }",
        &format!("\n\n@h:\n{body}\n@m:\n[960K, 1024K)          1 {}\n\n", bar(52)),
    );
}

/// Keys whose size is not a multiple of 8 (a 3-byte string, a tuple of a
/// 3-byte string and an int8): the bucket index after them stays aligned.
#[test]
fn histograms_keyed_by_odd_sized_keys() {
    let row = |label: &str| format!("{label:<16}{:>8} {}\n", 1, bar(52));
    let program = r#"BEGIN { @h["ab"] = hist(5); @l["ab", (int8)1] = lhist(3, 0, 10, 2); exit(); }"#;
    assert_prints(program, &format!("\n\n@h[ab]:\n{}\n@l[ab, 1]:\n{}\n", row("[4, 8)"), row("[2, 4)")));
}

#[test]
fn lhist_below_inside_and_above() {
    // bpftrace 0.17
    let rows =
        [("(..., 0)", 1), ("[0, 2)", 0), ("[2, 4)", 0), ("[4, 6)", 1), ("[6, 8)", 0), ("[8, 10)", 0), ("[10, ...)", 1)];
    let body: String = rows.iter().map(|(l, n)| format!("{l:<16}{n:>8} {}\n", bar(52 * n))).collect();
    assert_prints(
        "BEGIN { @l = lhist(5, 0, 10, 2); @l = lhist(-3, 0, 10, 2); @l = lhist(100, 0, 10, 2); exit(); }",
        &format!("\n\n@l:\n{body}\n"),
    );
}

#[test]
fn keyed_maps_sort_by_value_or_key() {
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { @m[1] = 2; @m[2] = 1; @str["a"] = 1; @t[1, "x"] = 3; exit(); }"#,
        "\n\n@m[2]: 1\n@m[1]: 2\n@str[a]: 1\n@t[1, x]: 3\n",
    );
    // bpftrace 0.17
    assert_prints(
        "BEGIN { @s[1] = count(); @s[2] = count(); @s[2] = count(); @s[3] = count(); @s[3] = count(); @s[3] = count(); exit(); }",
        "\n\n@s[1]: 1\n@s[2]: 2\n@s[3]: 3\n",
    );
    // bpftrace 0.17: histograms by total count, averages by average.
    assert_prints(
        "BEGIN { @h[1] = hist(10); @h[1] = hist(20); @h[2] = hist(1000); exit(); }",
        &format!(
            "\n\n@h[2]:\n[512, 1K)              1 {b}\n\n@h[1]:\n[8, 16)                1 {b}\n[16, 32)               1 {b}\n\n",
            b = bar(52)
        ),
    );
    // bpftrace 0.17
    assert_prints(
        "BEGIN { @a[1] = avg(10); @a[1] = avg(20); @a[2] = avg(1); @st[1] = stats(5); @st[1] = stats(7); exit(); }",
        "\n\n@a[2]: 1\n@a[1]: 15\n@st[1]: { .count = 2, .average = 6, .total = 12 }\n",
    );
    // Tuple keys (bpftrace 0.26; 0.17 refuses tuple keys).
    assert_prints(
        r#"BEGIN { @[1, 2] = 3; @[3, 4] = 7; @k[(5, "a")] = 1; exit(); }"#,
        "\n\n@[1, 2]: 3\n@[3, 4]: 7\n@k[5, a]: 1\n",
    );
}

#[test]
fn print_maps_and_values() {
    // bpftrace 0.17 (the comm line is bpfscope's own name here)
    assert_prints(
        r#"BEGIN { @a[1] = 5; @a[2] = 3; @s["x"] = "y"; @s["a"] = "z"; print(@a); print(@a, 1); print(@a, 2, 2); print((1, "x")); print(5); print("str"); print(comm); exit(); }"#,
        "@a[2]: 3\n@a[1]: 5\n@a[1]: 5\n@a[2]: 1\n@a[1]: 2\n(1, x)\n5\nstr\nbpfscope\n\n\n@a[2]: 3\n@a[1]: 5\n@s[a]: z\n@s[x]: y\n",
    );
}

#[test]
fn clear_end_and_exit_ordering() {
    // bpftrace 0.17: END runs after exit(), then two blank lines, then the
    // maps; a cleared map prints as an empty line.
    assert_prints(
        r#"BEGIN { @x = 1; @y[1] = 2; @z["a"] = "b"; clear(@y); exit(); } END { printf("end %d\n", @x); }"#,
        "end 1\n\n\n@x: 1\n\n@z[a]: b\n",
    );
    // bpftrace 0.17
    assert_prints(r#"END { printf("only end\n"); } BEGIN { exit(); }"#, "only end\n\n\n");
    // Statements after exit() do not run.
    assert_prints(r#"BEGIN { printf("a\n"); exit(); printf("after\n"); }"#, "a\n\n\n");
    // Several BEGIN probes run in order (bpftrace 0.26; 0.17 allows one).
    assert_prints(
        r#"BEGIN { printf("1\n"); } BEGIN { printf("2\n"); exit(); } END { printf("3\n"); } END { printf("4\n"); }"#,
        "1\n2\n3\n4\n\n\n",
    );
}

#[test]
fn exit_codes() {
    let Some(o) = run("BEGIN { exit(3); }", &[]) else { return };
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn arithmetic_and_bitwise_operators() {
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { $a = 10; $b = 3; printf("%d %d %d %d %d %d %d %d %d\n", $a + $b, $a - $b, $a * $b, $a / $b, $a % $b, $a << 2, $a >> 1, $a & $b, $a | $b); exit(); }"#,
        "13 7 30 3 1 40 5 2 11\n\n\n",
    );
    // Signed division follows C (truncation toward zero). bpftrace 0.17
    // divides as unsigned and prints -4 1 here; see the README.
    assert_prints(
        r#"BEGIN { $a = -7; $b = 2; printf("%d %d %d %d %d\n", $a / $b, $a % $b, -$a, ~$a, $a ^ 3); exit(); }"#,
        "-3 -1 7 6 -6\n\n\n",
    );
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { printf("%s|%d\n", "x", (int8)-1); printf("%d %d\n", (uint8)257, (int16)65535); exit(); }"#,
        "x|-1\n1 -1\n\n\n",
    );
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { printf("%d\n", 1 && 0); printf("%d\n", 1 || 0); printf("%d\n", !5); printf("%d %d\n", 3 == 3, 3 != 3); exit(); }"#,
        "0\n1\n0\n1 0\n\n\n",
    );
}

#[test]
fn control_flow() {
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { $i = 0; while ($i < 5) { $i++; if ($i == 2) { continue; } if ($i == 4) { break; } printf("i=%d\n", $i); } exit(); }"#,
        "i=1\ni=3\n\n\n",
    );
    // bpftrace 0.17
    assert_prints(r#"BEGIN { unroll(3) { @u++; } printf("%d\n", @u); exit(); }"#, "3\n\n\n@u: 3\n");
    assert_prints(
        r#"BEGIN { for ($i : 2..5) { if ($i == 3) { continue; } @s = sum($i); } $x = 5 > 3 ? 10 : 20; $y = 0 ?: 7; printf("%d %d\n", $x, $y); if (1) { if (0) { exit(1); } else if (2 > 1) { printf("elif\n"); } } exit(); }"#,
        "10 7\nelif\n\n\n@s: 6\n",
    );
    // return ends the probe.
    assert_prints(
        r#"BEGIN { @a = 1; if (@a) { printf("x\n"); return; } @b = 2; } BEGIN { exit(); }"#,
        // @b exists but is empty: bpftrace prints an empty map as an empty line.
        "x\n\n\n@a: 1\n\n",
    );
}

#[test]
fn strings_tuples_and_variables() {
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { $t = (1, "two", 3); printf("%d %s %d\n", $t.0, $t.1, $t.2); print($t); exit(); }"#,
        "1 two 3\n(1, two, 3)\n\n\n",
    );
    assert_prints(
        r#"BEGIN { if (comm == "bpfscope") { printf("comm\n"); } if ("abc" != "abd") { printf("ne\n"); } if ("ab" == "abc") { printf("bad\n"); } $s = "x"; $s = "longer"; @k[$s] = 1; $r = (a=1, b="x"); print($r); print($r.b); exit(); }"#,
        "comm\nne\n{ .a = 1, .b = x }\nx\n\n\n@k[longer]: 1\n",
    );
}

#[test]
fn map_updates_and_functions() {
    // bpftrace 0.17
    assert_prints(
        r#"BEGIN { @x++; @x++; @y += 5; @y -= 2; @z[1]++; printf("%d %d\n", @x, @y); exit(); }"#,
        "2 3\n\n\n@x: 2\n@y: 3\n@z[1]: 1\n",
    );
    assert_prints(
        r#"BEGIN { @a[1] = 1; @a[2] = 2; delete(@a[1]); $d = delete(@a, 2); @b[1] = 1; printf("%d %d %d\n", has_key(@b, 1), has_key(@b, 2), $d); zero(@b); exit(); }"#,
        "1 0 1\n\n\n\n@b[1]: 0\n",
    );
}

#[test]
fn builtins_have_values_from_the_kernel() {
    let Some(o) = run(
        r#"BEGIN { printf("%d %d %d %d %d %d\n", pid > 1, tid == pid, nsecs > 0, elapsed < 1000000000, cpu < ncpus, uid == 0); printf("%s %s %d\n", probe, username, $#); exit(); }"#,
        &["a", "b"],
    ) else {
        return;
    };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1 1 1 1 1 1\nBEGIN root 2\n\n\n");
    let Some(o) = run(r#"BEGIN { printf("%d %d\n", pid, $1 + 1); exit(); }"#, &["41"]) else { return };
    let child = o.status.code();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let pid: u32 =
        text.lines().next().and_then(|l| l.split_whitespace().next()).and_then(|p| p.parse().ok()).expect("a pid");
    assert!(pid > 1 && child == Some(0) && text.contains(" 42\n"), "{text}");
}

#[test]
fn interval_probes_fire_until_exit() {
    // bpftrace 0.17
    let Some(o) = run(r#"i:ms:100 { @c++; if (@c == 3) { exit(); } } END { print(@c); }"#, &[]) else { return };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "@c: 3\n\n\n@c: 3\n");
}

#[test]
fn profile_probes_fire_on_every_cpu() {
    let Some(o) = run("profile:hz:99 { @[cpu] = count(); } interval:s:1 { exit(); }", &[]) else { return };
    let text = String::from_utf8_lossy(&o.stdout);
    let samples: u64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("@["))
        .filter_map(|l| l.split(": ").nth(1)?.parse::<u64>().ok())
        .sum();
    // 99 Hz for a second on at least one busy CPU (this test's own).
    assert!((50..=250).contains(&samples), "{text}");
}

#[test]
fn sigint_and_sigterm_run_end_and_print_maps() {
    require_root!();
    for sig in [libc_signal::SIGINT, libc_signal::SIGTERM] {
        let child = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
            .args(["-e", r#"i:ms:20 { @ticks = count(); } END { printf("end\n"); }"#])
            .env("__BPFTRACE_NOTIFY_PROBES_ATTACHED", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawns");
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY-free: kill(1) from procps sends the signal.
        Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]).status().expect("kill");
        let o = wait_with_timeout(child, Duration::from_secs(30), "the signalled run");
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{text}");
        assert!(text.starts_with("end\n\n\n@ticks: "), "{text}");
        let ticks: u64 = text.trim().rsplit(": ").next().and_then(|n| n.parse().ok()).expect("a count");
        assert!(ticks >= 5, "{text}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "Attached 2 probes\n__BPFTRACE_NOTIFY_PROBES_ATTACHED\n");
    }
}

mod libc_signal {
    pub const SIGINT: &str = "INT";
    pub const SIGTERM: &str = "TERM";
}

#[test]
fn lost_events_are_counted() {
    let Some(o) = run(
        r#"config = { perf_rb_pages = 1 } BEGIN { $i = 0; while ($i < 200) { printf("%s %d\n", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", $i); $i++; } exit(); }"#,
        &[],
    ) else {
        return;
    };
    let text = String::from_utf8_lossy(&o.stdout);
    let delivered = text.lines().filter(|l| l.starts_with("xxx")).count();
    // On stderr, as bpftrace 0.26 reports them, and a total at the end.
    let err = String::from_utf8_lossy(&o.stderr);
    let lost: usize =
        err.lines().find_map(|l| l.strip_prefix("Lost ")?.strip_suffix(" events")?.parse().ok()).expect("a Lost line");
    // The total names the probe they came from.
    assert!(err.contains(&format!("bpfscope: warning: Total lost event count: {lost} ({lost} from BEGIN)\n")), "{err}");
    assert_eq!(delivered + lost, 200, "{text}");
    assert!(lost > 0 && delivered > 0);
}

/// A buffer too full for exit()'s own event: the run still ends, with
/// exit()'s code, and every event is printed or counted as lost.
#[test]
fn exit_ends_the_run_when_its_event_is_lost() {
    // Each printf takes 40 bytes of the 4096-byte buffer (with its
    // header): 102 fit, and the 16 bytes left cannot hold exit()'s 24.
    let program = r#"config = { perf_rb_pages = 1 } BEGIN { $i = 0; while ($i < 2000) { printf("%d %d\n", $i, $i); $i++; } exit(3); }"#;
    let Some(o) = run(program, &["-q"]) else { return };
    assert_eq!(o.status.code(), Some(3));
    let printed = String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.is_empty()).count();
    let err = String::from_utf8_lossy(&o.stderr);
    let lost: usize =
        err.lines().find_map(|l| l.strip_prefix("Lost ")?.strip_suffix(" events")?.parse().ok()).expect("a Lost line");
    // 2000 printfs and the exit event.
    assert_eq!(printed + lost, 2001, "{err}");
}

/// Config variables from the environment, over the config block, as 0.26:
/// BPFTRACE_PERF_RB_PAGES=1 makes the buffer lose events the program's own
/// 64 pages would hold; a value the variable cannot take is refused.
#[test]
fn config_from_the_environment() {
    require_root!();
    let program = r#"config = { perf_rb_pages = 64; max_strlen = 100 } BEGIN { $i = 0; while ($i < 200) { printf("%s %d\n", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", $i); $i++; } printf("%s\n", str("abcdefghij")); exit(); }"#;
    let run_with = |env: &[(&str, &str)]| {
        let o = support::bpfscope().envs(env.iter().copied()).args(["-q", "-e", program]).output().expect("runs");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = run_with(&[]);
    assert_eq!((code, out.lines().filter(|l| l.starts_with("xxx")).count()), (Some(0), 200), "{err}");
    assert!(out.contains("\nabcdefghij\n"));
    let (code, out, err) = run_with(&[("BPFTRACE_PERF_RB_PAGES", "1"), ("BPFTRACE_MAX_STRLEN", "5")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.lines().filter(|l| l.starts_with("xxx")).count() < 200, "{out}");
    assert!(err.contains("Lost "), "{err}");
    assert!(out.contains("\nabcde..\n"), "{out}");
    let (code, _, err) = run_with(&[("BPFTRACE_PERF_RB_PAGES", "many")]);
    assert_eq!(code, Some(1));
    assert_eq!(err, "bpfscope: error: BPFTRACE_PERF_RB_PAGES=many: not a value perf_rb_pages can take (an integer)\n");
}

#[test]
fn verifier_rejections_name_the_probe_and_the_statement() {
    // Inline, the verifier walks every iteration and gives up (through
    // bpf_loop the same loop loads).
    let program = "BEGIN { @a = 1; $i = 0;\n  while ($i < 100000000) { $i++; }\n}";
    let Some(o) = run(program, &["--no-feature", "bpf_loop"]) else { return };
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    // The statement in the loop where the verifier gave up.
    assert!(err.starts_with("stdin:2:") && err.contains(": error: the BPF verifier rejected probe BEGIN: "), "{err}");
    assert!(err.contains("\n  while ($i < 100000000) { $i++; }\n  "), "{err}");
    assert!(!err.contains("errno") && !err.contains("os error"), "{err}");
}

#[test]
fn loops_over_maps_and_len() {
    assert_prints(
        r#"BEGIN { @m[1] = 10; @m[2] = 20; @m[3] = 30; $sum = 0; for ($kv : @m) { if ($kv.0 == 2) { continue; } $sum += $kv.1; } printf("sum %d len %d\n", $sum, len(@m)); exit(); }"#,
        "sum 40 len 3\n\n\n@m[1]: 10\n@m[2]: 20\n@m[3]: 30\n",
    );
    // break stops the loop; nested loops see both elements.
    assert_prints(
        r#"BEGIN { @m["a"] = 1; @m["b"] = 2; @m["c"] = 3; $n = 0; for ($kv : @m) { $n++; if ($n == 2) { break; } } printf("n=%d\n", $n); clear(@m); @o[1] = 1; @o[2] = 2; for ($x : @o) { for ($y : @o) { @p[$x.0, $y.0] = $x.1 * $y.1; } } exit(); }"#,
        "n=2\n\n\n\n@o[1]: 1\n@o[2]: 2\n@p[1, 1]: 1\n@p[1, 2]: 2\n@p[2, 1]: 2\n@p[2, 2]: 4\n",
    );
    // return inside the loop ends the probe.
    assert_prints(
        r#"BEGIN { @m[1] = 1; for ($kv : @m) { printf("in\n"); return; } printf("not here\n"); } BEGIN { exit(); }"#,
        "in\n\n\n@m[1]: 1\n",
    );
}

#[test]
fn aggregations_read_as_numbers_inside_probes() {
    assert_prints(
        r#"BEGIN { @c = count(); @c = count(); @s = sum(3); @s = sum(9); @a = avg(10); @a = avg(20); @mn = min(7); @mn = min(-2); @mx = max(4); if (@s == 12) { printf("%d %d %d %d %d\n", (int64)@c, (int64)@s, (int64)@a, (int64)@mn, (int64)@mx); } clear(@c); clear(@s); clear(@a); clear(@mn); clear(@mx); exit(); }"#,
        "2 12 15 -2 4\n\n\n\n\n\n\n\n",
    );
    // The counts of every CPU add up: profile fires on both.
    let Some(o) = run(
        "profile:hz:99 { @n = count(); if (@n >= 20) { exit(); } } END { printf(\"%d\\n\", (int64)@n >= 20); clear(@n); }",
        &[],
    ) else {
        return;
    };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1\n\n\n\n");
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    require_root!();
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("{} -e 'interval:ms:10 {{ printf(\"tick\\n\"); }}' | head -n 3", env!("CARGO_BIN_EXE_bpfscope")),
        ])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tick\ntick\ntick\n");
    support::assert_only_attached(&String::from_utf8_lossy(&out.stderr), "a run into `head`");
}

#[test]
fn cat_prints_a_file_named_by_a_format() {
    let dir = std::env::temp_dir().join(format!("bpfscope-cat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("f7.txt"), "seven\n").expect("write");
    let program = format!(r#"BEGIN {{ cat("{}/f%d.txt", 7); exit(); }}"#, dir.display());
    let Some(o) = run(&program, &[]) else { return };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "seven\n\n\n");
    std::fs::remove_dir_all(&dir).ok();
}

/// `strncmp()` answers as bpftrace 0.17 does: 0 where the first n bytes
/// agree (or both strings end first), else 1.
#[test]
fn strncmp_matches_bpftrace() {
    let program = r#"BEGIN { printf("%d %d %d %d %d %d\n", strncmp(comm, "bpf", 3), strncmp(comm, "bpx", 3),
        strncmp("ab", "abc", 2), strncmp("ab", "abc", 3), strncmp("ab", "ab", 10), strncmp("", "a", 1)); exit(); }"#;
    let Some(ours) = run(program, &[]) else { return };
    let expected = "0 1 0 1 0 1\n\n\n";
    assert_eq!(String::from_utf8_lossy(&ours.stdout), expected);
    if let Ok(theirs) = Command::new("bpftrace").args(["-e", program]).output() {
        assert_eq!(support::without_attaching(&String::from_utf8_lossy(&theirs.stdout)), expected, "bpftrace 0.17");
    }
}

/// `kaddr()` resolves kernel symbols, code and data, as bpftrace 0.17
/// does; an unknown one is a compile error pointing at the call.
#[test]
fn kaddr_matches_bpftrace() {
    let program = r#"BEGIN { printf("%lx %lx\n", kaddr("vfs_read"), kaddr("__start_rodata")); exit(); }"#;
    let Some(ours) = run(program, &[]) else { return };
    let text = String::from_utf8_lossy(&ours.stdout).into_owned();
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("kallsyms");
    let address = |name: &str| {
        kallsyms
            .lines()
            .find_map(|l| l.strip_suffix(&format!(" {name}")).map(|l| l[..16].trim_start_matches('0').to_string()))
    };
    let expected = format!(
        "{} {}\n\n\n",
        address("T vfs_read").expect("vfs_read"),
        address("D __start_rodata").expect("__start_rodata")
    );
    assert_eq!(text, expected);
    if let Ok(theirs) = Command::new("bpftrace").args(["-e", program]).output() {
        assert_eq!(support::without_attaching(&String::from_utf8_lossy(&theirs.stdout)), expected, "bpftrace 0.17");
    }
    let bad = run(r#"BEGIN { printf("%lx\n", kaddr("no_such_symbol_here")); }"#, &[]).expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error: no kernel symbol named 'no_such_symbol_here'"));
}

/// `-o FILE`: the trace output (printf, maps at exit) goes to the file,
/// created or truncated; messages about the run stay on stderr.
#[test]
fn output_file_gets_the_trace_output() {
    let file = std::env::temp_dir().join(format!("bpfscope-o-{}.txt", std::process::id()));
    std::fs::write(&file, "old content that must go\n".repeat(10)).expect("writes");
    let path = file.display().to_string();
    let Some(o) = run(r#"BEGIN { printf("hello %d\n", 42); @x = 7; exit(); }"#, &["-o", &path, "-B", "full"]) else {
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "Attached 1 probe\n");
    assert_eq!(std::fs::read_to_string(&file).expect("the file"), "hello 42\n\n\n@x: 7\n");
    let _ = std::fs::remove_file(&file);
    let Some(o) = run("BEGIN { exit(); }", &["-B", "sometimes"]) else { return };
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("-B must be either 'line', 'full', or 'none'"));
    let Some(o) = run("BEGIN { exit(); }", &["-o", "/nonexistent-dir/x"]) else { return };
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Failed to open output file: \"/nonexistent-dir/x\""));
}

/// Line buffering (`-B line`, the default on a terminal) delivers each
/// event as it comes, before the run ends.
#[test]
fn line_buffering_delivers_each_event_at_once() {
    require_root!();
    use std::io::BufRead;
    let mut child = support::bpfscope()
        .args(["-B", "line", "-e", r#"BEGIN { printf("first\n"); } interval:s:30 { exit(); }"#])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("reads");
    assert_eq!(line, "first\n", "the line arrived while the run goes on");
    let _ = child.kill();
    let _ = child.wait();
}

/// A burst of 500,000 events, one printf each, as fast as a process can
/// make system calls: every line arrives on a pipe, none is lost (the
/// event buffer is sized as 0.26 sizes it, and the consumer writes in
/// blocks when the output is not a terminal).
#[test]
fn a_burst_of_events_loses_nothing() {
    require_root!();
    let target = support::build_target_as("getppid_loop", "getppid_loop", &[]);
    let command = format!("{} 500000", target.display());
    // Into a file, as into a pipe a reader keeps empty.
    let path = std::env::temp_dir().join(format!("bpfscope-burst-{}.txt", std::process::id()));
    let file = std::fs::File::create(&path).expect("creates");
    let child = support::bpfscope()
        .args([
            "-c",
            &command,
            "-e",
            r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%d %s %d\n", tid, comm, 42); }"#,
        ])
        .stdout(file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let o = wait_with_timeout(child, Duration::from_secs(120), "the burst");
    let out = std::fs::read_to_string(&path).expect("the output");
    let _ = std::fs::remove_file(&path);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("Lost"), "{err}");
    let lines = out.lines().filter(|l| l.ends_with(" getppid_loop 42")).count();
    assert_eq!(lines, 500_000, "{err}");
    // The traced process's own measure, for the record.
    eprintln!("{}", err.lines().find(|l| l.ends_with("us per call")).unwrap_or("no timing"));
}

/// `-k`: a map read of a missing key and a failed read of memory are
/// reported at their place, once per place with a count at the end, with
/// 0.26's messages; the values read are zeros; nothing without `-k`.
#[test]
fn k_reports_failed_reads_once_per_place() {
    let program = r#"i:ms:10 { @[1] = 1; printf("%d\n", @[2]); $p = (uint64 *)8; printf("%d\n", *$p); @n = count(); if (@n >= 3) { exit(); } }"#;
    let Some(o) = run(program, &["-k"]) else { return };
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.starts_with("0\n0\n0\n0\n0\n0\n"), "{out}");
    assert_eq!(err.matches("warning: Can't lookup map element because it does not exist.").count(), 1, "{err}");
    assert!(err.contains("stdin:1:36: warning: Can't lookup map element because it does not exist.\n"), "{err}");
    assert!(err.contains("hint: helper: map_lookup_elem, retcode: 0, in probe i:ms:10\n"), "{err}");
    // Address 8 is below where the kernel lets anything be read.
    assert!(err.contains("hint: helper: probe_read_kernel, retcode: -34, in probe i:ms:10\n"), "{err}");
    assert!(err.contains("warning: Numerical result out of range\n"), "{err}");
    assert!(err.contains("stdin:1:36: warning: the warning above came 3 times in all\n"), "{err}");
    let Some(o) = run(program, &[]) else { return };
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"), "{}", String::from_utf8_lossy(&o.stderr));
    let Some(o) = run(program, &["-k", "--no-warnings"]) else { return };
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("-k conflicts with --no-warnings"));
}

/// `-o` does not follow a symlink in a directory anyone can write to (one
/// another user may have planted for a root run to overwrite their
/// target); in a private directory a symlink is followed as usual.
#[test]
fn o_does_not_follow_a_planted_symlink() {
    use std::os::unix::fs::PermissionsExt;
    require_root!();
    let dir = std::env::temp_dir().join(format!("bpfscope-o-link-{}", std::process::id()));
    let victim = std::env::temp_dir().join(format!("bpfscope-o-victim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creates");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    std::fs::write(&victim, "precious\n").expect("writes");
    let link = dir.join("out");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&victim, &link).expect("links");
    let path = link.to_str().expect("utf-8");
    let Some(o) = run(r#"BEGIN { printf("x\n"); exit(); }"#, &["-o", path]) else { return };
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("it is a symbolic link in") && err.contains("does not follow it"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).expect("reads"), "precious\n");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let Some(o) = run(r#"BEGIN { printf("x\n"); exit(); }"#, &["-q", "-o", path]) else { return };
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&victim).expect("reads"), "x\n\n\n");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&victim);
}

/// `self:signal:SIGUSR1` runs each time the tracer gets SIGUSR1, in the
/// tracer's own context (its pid), as 0.26; without such a probe SIGUSR1
/// does not end the run.
#[test]
fn sigusr1_runs_self_signal_probes() {
    require_root!();
    let tracer = support::Tracer::start(&[
        "-e",
        r#"self:signal:SIGUSR1 { @n = count(); printf("usr1 %d\n", pid); } interval:s:60 { exit(); }"#,
    ]);
    let pid = tracer.pid();
    for _ in 0..3 {
        // Signals of one kind do not queue: each is handled before the next.
        // SAFETY: kill(2) on the tracer this test started.
        unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
        std::thread::sleep(Duration::from_millis(400));
    }
    let out = tracer.interrupt();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(support::stdout(&out), format!("usr1 {pid}\nusr1 {pid}\nusr1 {pid}\n\n\n@n: 3\n"));
    let tracer = support::Tracer::start(&["-e", "interval:s:60 { exit(); } END { printf(\"end\\n\"); }"]);
    // SAFETY: kill(2) on the tracer this test started.
    unsafe { libc::kill(tracer.pid() as i32, libc::SIGUSR1) };
    std::thread::sleep(Duration::from_millis(300));
    let out = tracer.interrupt();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(support::stdout(&out), "end\n\n\n");
}

/// `iter:task` runs once per task as the iterator is read, then the run
/// ends: it finds a process the test started (by its tgid, with its comm)
/// and the tracer itself (`pid` is the reader's); `iter:task_file` sees
/// the files of that process; an iterator with other probes, and one that
/// does not exist, are refused as 0.26 refuses them; `-lv` lists `ctx`'s
/// fields from BTF.
#[test]
fn iter_probes_walk_the_kernels_tasks() {
    require_root!();
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep runs");
    let s = sleeper.id();
    let program = format!(
        r#"iter:task /ctx.task.tgid == {s} || ctx.task.pid == pid/ {{ printf("%s %d\n", ctx.task.comm, ctx.task.tgid == {s}); }}"#
    );
    let out = Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(["-q", "-e", &program]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = support::stdout(&out).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["", "", "bpfscope 0", "sleep 1"]);
    // sleep's descriptors 0, 1 and 2 at least.
    let program = format!(r#"iter:task_file /ctx.task.tgid == {s} && ctx.fd < 3/ {{ @fds = count(); }}"#);
    let out = Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(["-q", "-e", &program]).output().expect("runs");
    assert_eq!(support::stdout(&out), "\n\n@fds: 3\n");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let mixed =
        Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(["-e", "BEGIN { } iter:task { }"]).output().expect("runs");
    assert_eq!(mixed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("an iter probe must be the only probe in the program"));
    let unknown = Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(["-e", "iter:tsk { }"]).output().expect("runs");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("hint: did you mean 'task'?"));
    let listed = Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(["-lv", "iter:task_file"]).output().expect("runs");
    assert_eq!(
        support::stdout(&listed),
        "iter:task_file\n    struct task_struct * task\n    u32 fd\n    struct file * file\n"
    );
}
