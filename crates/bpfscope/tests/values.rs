//! Values the language computes, checked against numbers worked out by hand
//! (C's rules for pointers, bpftrace 0.26's for division by zero): each
//! program runs in the kernel and the test reads what it printed.

mod support;

use std::process::Output;
use std::time::Duration;

/// Runs `bpfscope -e PROGRAM -q ARGS`; `None` (with the reason printed)
/// where loading BPF programs is not allowed.
fn run_with(args: &[&str], program: &str) -> Option<Output> {
    support::run_program(program, &[&["-q"], args].concat(), Duration::from_secs(60))
}

/// The program's output, with the maps printed at exit left off, after
/// checking that it ran without a word on stderr.
#[track_caller]
fn output_of(args: &[&str], program: &str) -> Option<String> {
    let o = run_with(args, program)?;
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "stderr of {program}");
    assert_eq!(o.status.code(), Some(0), "exit code of {program}");
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn pointer_arithmetic_steps_over_whole_elements() {
    // C: p + n adds n * sizeof(*p); p - q counts elements between them.
    let Some(out) = output_of(
        &[],
        r#"BEGIN { $p = (uint32 *)0x1000; printf("%p %p\n", $p + 2, $p - 1);
           $x = (int16 *)0x10; $x++; printf("%p\n", $x); $x--; --$x; printf("%p\n", $x);
           $x += 3; printf("%p\n", $x); $x -= 1; printf("%p\n", $x);
           $q = (int16 *)0x20; printf("%d %d\n", $q - $x, $x - $q);
           printf("%p\n", 3 + (uint64 *)0x100);
           @m = (uint64 *)0x100; @m++; @m += 2; printf("%p\n", @m);
           $b = (uint8 *)0x10; printf("%p\n", $b + 5);
           exit(); }"#,
    ) else {
        return;
    };
    assert_eq!(out, "0x1008 0xffc\n0x12\n0xe\n0x14\n0x12\n7 -7\n0x118\n0x118\n0x15\n\n\n@m: 0x118\n");
}

#[test]
fn pointers_to_structs_step_over_the_struct() {
    // struct s is 16 bytes (an int, padding, a long): two of them are 32.
    let Some(out) = output_of(
        &[],
        r#"struct s { int a; long b; }
           BEGIN { $p = (struct s *)0x1000; printf("%p %p %d\n", $p + 2, $p - 1, ($p + 4) - $p); exit(); }"#,
    ) else {
        return;
    };
    assert_eq!(out, "0x1020 0xff0 4\n\n\n");
}

#[test]
fn reassigned_tuples_keep_every_field() {
    let Some(out) = output_of(
        &[],
        r#"BEGIN { $a = ("x", 10); $a = ("longer string", 20); $a = ("ab", 30); print($a);
           $n = ("x", (1, "y")); $n = ("abcdefghijk", (2, "zzzzzzzzzzzzzzz")); $n = ("q", (3, "w")); print($n);
           $r = (a="x", b=5); $r = (a="xxxxxxxxxxxx", b=6); $r = (a="y", b=7); print($r);
           $t = 1 ? ("a", 1) : ("bbbbbbbbb", 2); print($t);
           exit(); }"#,
    ) else {
        return;
    };
    assert_eq!(out, "(ab, 30)\n(q, (3, w))\n{ .a = y, .b = 7 }\n(a, 1)\n\n\n");
}

#[test]
fn maps_of_tuples_keep_every_field() {
    let Some(out) = output_of(
        &[],
        r#"BEGIN { @v = ("x", 1); @v = ("a much longer one", 2); @v = ("y", 3);
           @k[("a", 1)] = 1; @k[("abcdefghij", 2)] = 2; @k[("b", 3)] = 3; exit(); }"#,
    ) else {
        return;
    };
    assert_eq!(out, "\n\n@k[a, 1]: 1\n@k[abcdefghij, 2]: 2\n@k[b, 3]: 3\n@v: (y, 3)\n");
}

#[test]
fn division_by_zero_gives_one_and_a_warning_at_the_operator() {
    // bpftrace 0.26: "1 is being used as the result", warned at run time.
    let program = r#"BEGIN { $z = 0; printf("%d %d\n", 10 / $z, 7 % $z); @a = 5; @a /= $z; printf("%d %d\n", 10 / 3, -7 / 2); exit(); }"#;
    let Some(o) = run_with(&[], program) else { return };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1 1\n3 -3\n\n\n@a: 1\n");
    let err = String::from_utf8_lossy(&o.stderr);
    let message =
        "warning: Divide or modulo by 0 detected. This can lead to unexpected results. 1 is being used as the result.";
    for col in [35, 44, 61] {
        assert!(err.contains(&format!("stdin:1:{col}: {message}")), "no warning at column {col} in:\n{err}");
    }
    assert_eq!(err.matches(message).count(), 3, "{err}");
}

#[test]
fn long_loops_run_through_bpf_loop() {
    // The issue's example: a million iterations load like ten.
    let program = "BEGIN { $i = 0; while ($i < 1000000) { @s = sum($i); $i++; } print(@s); exit(); }";
    let Some(out) = output_of(&[], program) else { return };
    assert_eq!(out, "@s: 499999500000\n\n\n@s: 499999500000\n");
    let Some(out) =
        output_of(&[], "BEGIN { $n = 0; for ($i : 0..300000) { $n += $i; } printf(\"%ld\\n\", $n); exit(); }")
    else {
        return;
    };
    assert_eq!(out, format!("{}\n\n\n", (0..300000u64).sum::<u64>()));
}

#[test]
fn a_loop_past_bpf_loops_limit_stops_and_says_so() {
    let program = r#"BEGIN { $i = 0; while ($i < 10000000) { $i++; } printf("%d\n", $i); exit(); }"#;
    let Some(o) = run_with(&[], program) else { return };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "8388608\n\n\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stdin:1:17: warning: This loop stopped after 8388608 iterations"), "{err}");
}

#[test]
fn loops_agree_with_and_without_bpf_loop() {
    // break, continue, nested loops, ranges and return: both ways of
    // compiling a loop must print the same, and the right, values.
    let program = r#"BEGIN {
        $i = 0; $n = 0;
        while ($i < 100) {
            $i++;
            if ($i % 2 == 0) { continue; }
            if ($i > 50) { break; }
            $j = 0;
            while ($j < 3) { $n += 1; $j++; }
        }
        printf("%d %d\n", $i, $n);
        for ($k : 0..5) { if ($k == 3) { continue; } if ($k == 4) { break; } printf("k=%d\n", $k); }
        for ($k : 5..2) { printf("never\n"); }
        $x = 0;
        while (1) { $x++; if ($x == 7) { printf("return at %d\n", $x); exit(); return; } }
        printf("not reached\n");
    }"#;
    let expected = "51 75\nk=0\nk=1\nk=2\nreturn at 7\n\n\n";
    let Some(with) = output_of(&[], program) else { return };
    assert_eq!(with, expected);
    let Some(without) = output_of(&["--no-feature", "bpf_loop"], program) else { return };
    assert_eq!(without, expected);
}

#[test]
fn arrays_indexed_by_variables_check_their_bounds() {
    let program = r#"BEGIN { $a = pton("1.2.3.4"); $i = 2; print($a[$i]); $j = 9; print($a[$j]); $s = "hello"; $k = 1; printf("%c\n", $s[$k]); exit(); }"#;
    let Some(o) = run_with(&[], program) else { return };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "3\n0\ne\n\n\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: Array access out of bounds. This can lead to unexpected results."), "{err}");
    assert_eq!(err.matches("out of bounds").count(), 1, "{err}");
}

/// What the checker accepts compiles: each of these is refused where the
/// program is checked, with its own message, never later as something the
/// compiler cannot do.
#[test]
fn what_is_not_built_is_refused_by_the_checker() {
    let programs = [
        "BEGIN { $t = *curtask; }",
        "BEGIN { print(curtask->se); }",
        "BEGIN { $x = 1; $p = &$x; }",
        "BEGIN { @h = hist(5); $x = @h; }",
        "BEGIN { @h[1] = hist(5); delete(@h, 1); }",
        "BEGIN { @h[1] = hist(5); print(has_key(@h, 1)); }",
        "BEGIN { @h[1] = hist(5); print(len(@h)); }",
        "BEGIN { @c[1] = count(); for ($kv : @c) { print($kv); } }",
        "BEGIN { print(typeinfo(1)); }",
        "import \"foo\"; BEGIN { }",
        "BEGIN { print(len(ustack)); }",
        r#"BEGIN { @t = tseries(1, 1s, 5, "stats"); }"#,
        "BEGIN { print(strlen((int8 *)0)); }",
        r#"BEGIN { debugf("%d %d %d %d", 1, 2, 3, 4); }"#,
    ];
    for program in programs {
        let o = support::bpfscope().args(["--dry-run", "-e", program]).output().expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{program}: {err}");
        assert!(err.starts_with("stdin:1:") && err.contains(": error: "), "{program}: {err}");
        assert!(!err.contains("not supported by the compiler"), "{program}: {err}");
    }
}

/// Values of enum types print as their variant's name, as bpftrace 0.26's
/// runtime tests expect (tests/runtime/call and other): constants,
/// variables, maps, tuples and casts; a value no variant has, as a number.
#[test]
fn enums_print_their_names() {
    let cases = [
        (
            r#"enum Foo { ONE = 1, TWO = 2, OTHER = 99999 }; begin { printf("%d %s %d %s %d %s\n", ONE, ONE, TWO, TWO, OTHER, OTHER); exit() }"#,
            "1 ONE 2 TWO 99999 OTHER\n\n\n",
        ),
        (
            r#"enum Foo { ONE = 1, TWO = 2 }; begin { $one = ONE; @two = TWO; printf("%d %s %d %s\n", $one, $one, @two, @two); exit() }"#,
            "1 ONE 2 TWO\n\n\n@two: TWO\n",
        ),
        (r#"enum Foo { A, B, C, }; begin { printf("%-5s %5s %s\n", A, B, C); exit() }"#, "A         B C\n\n\n"),
        ("enum { FOO = 333, BAR }; begin { $t = (FOO, BAR); print($t); exit() }", "(FOO, BAR)\n\n\n"),
        (
            "enum BAZ { FOO = 333, BAR }; begin { $x = 444; print((enum BAZ)$x); print((enum BAZ)333); @k[BAR] = 1; exit() }",
            "444\nFOO\n\n\n@k[BAR]: 1\n",
        ),
    ];
    for (program, expected) in cases {
        let Some(out) = output_of(&[], program) else { return };
        assert_eq!(out, expected, "{program}");
    }
}

/// `config.NAME` reads the config block, or the default.
#[test]
fn the_config_builtin_reads_config_variables() {
    let program = r#"config = { max_map_keys = 10; stack_mode = perf } BEGIN { printf("%d %d %d %s %s\n", config.max_map_keys, config.max_strlen, config.print_maps_on_exit, config.stack_mode, config.license); exit(); }"#;
    let Some(out) = output_of(&[], program) else { return };
    assert_eq!(out, "10 1024 1 perf GPL\n\n\n");
}

/// A map with no room for another key keeps what it has and says so at
/// the update, as bpftrace 0.26 does ("Map full").
#[test]
fn a_full_map_says_so() {
    let program = "config = { max_map_keys = 2 } BEGIN { @a[1] = 1; @a[2] = 2; @a[3] = 3; @c[1] = count(); @c[2] = count(); @c[3] = count(); exit(); }";
    let Some(o) = run_with(&[], program) else { return };
    assert_eq!(String::from_utf8_lossy(&o.stdout), "\n\n@a[1]: 1\n@a[2]: 2\n@c[1]: 1\n@c[2]: 1\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stdin:1:61: warning: Map full; can't update element."), "{err}");
    assert!(err.contains("stdin:1:106: warning: Map full;"), "{err}");
    assert_eq!(err.matches("Map full").count(), 2, "{err}");
}

/// `container_of(ptr, struct S, field)`: back from a field's address to its
/// struct, for the program's structs and the kernel's.
#[test]
fn container_of_finds_the_struct() {
    let program = "struct S { int a; long b; } BEGIN { $p = (struct S *)0x1000; print(container_of(&$p->b, struct S, b)); print(container_of(&curtask->se, struct task_struct, se) == curtask); exit(); }";
    let Some(out) = output_of(&[], program) else { return };
    assert_eq!(out, "0x1000\ntrue\n\n\n");
}

/// `debugf()` writes through `bpf_trace_printk` to the kernel's trace
/// buffer, where the line can be read back.
#[test]
fn debugf_writes_to_the_trace_buffer() {
    let marker = format!("bpfscope-debugf-{}", std::process::id());
    let program = format!(r#"BEGIN {{ debugf("{marker} %d %s", 4242, "x"); exit(); }}"#);
    let Some(out) = output_of(&[], &program) else { return };
    assert_eq!(out, "\n\n");
    let trace = std::fs::read_to_string("/sys/kernel/tracing/trace").expect("the trace buffer");
    assert!(trace.contains(&format!("{marker} 4242 x")), "no '{marker} 4242 x' in the trace buffer");
}

/// `--no-warnings` silences `warnf()` and the run-time warnings, not
/// `errorf()` or the output.
#[test]
fn no_warnings_silences_warnings_only() {
    let program = r#"BEGIN { warnf("careful"); errorf("bad"); $z = 0; printf("%d\n", 5 / $z); exit(); }"#;
    let Some(loud) = run_with(&[], program) else { return };
    let loud_err = String::from_utf8_lossy(&loud.stderr);
    assert!(loud_err.contains("WARNING: careful") && loud_err.contains("Divide or modulo by 0"), "{loud_err}");
    let Some(quiet) = run_with(&["--no-warnings"], program) else { return };
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), "1\n\n\n");
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "stdin:1:27-40: ERROR: bad\n");
}

/// `nsecs(sw_tai)` is boot time plus the TAI offset user space measured: it
/// agrees with the kernel's `nsecs(tai)` to well within a millisecond.
#[test]
fn sw_tai_agrees_with_tai() {
    let program = r#"BEGIN { $d = (int64)nsecs(sw_tai) - (int64)nsecs(tai); printf("%d %d\n", $d < 1000000, $d > -1000000); exit(); }"#;
    let Some(out) = output_of(&[], program) else { return };
    assert_eq!(out, "1 1\n\n\n");
}

/// `sizeof` of a value is its C size: an `int8` variable or the target of
/// an `int8 *` is 1 byte, as in bpftrace 0.17 (checked there), though it
/// takes 8 while the program holds it.
#[test]
fn sizeof_a_value_is_its_c_size() {
    let Some(out) = output_of(
        &[],
        r#"BEGIN { $p = (int8 *)0; $c = (int8)1; $s = (int16)2;
           printf("%d %d %d %d %d %d %d\n", sizeof(*$p), sizeof($c), sizeof($s), sizeof((uint32)1), sizeof($p), sizeof("abc"), sizeof($s + $s));
           exit(); }"#,
    ) else {
        return;
    };
    assert_eq!(out, "1 1 2 4 8 4 8\n\n\n");
}

/// `typeinfo()`: the record 0.26 gives, with its type names (literals as
/// narrow as 0.26 types them), usable in comparisons; refused unless the
/// unstable feature is enabled, with 0.26's message.
#[test]
fn typeinfo_names_types_as_026() {
    let program = r#"config = { unstable_typeinfo = enable }
BEGIN { $x = (uint8)3; print(typeinfo($x)); print(typeinfo("abc")); print(typeinfo(curtask)); print(typeinfo((1, "a")));
  print(typeinfo((a = -1, b = "hello"))); print(typeinfo(int16)); print(typeinfo(@m)); print(typeinfo(kstack) == typeinfo(kstack));
  if (typeinfo($x).full_type == "uint8") { printf("%s %d\n", typeinfo($x).base_type, typeinfo($x).btf_id); } @m = 1; exit(); }"#;
    let Some(out) = output_of(&[], program) else { return };
    assert_eq!(
        out,
        "{ .btf_id = 0, .base_type = int, .full_type = uint8 }\n\
         { .btf_id = 0, .base_type = string, .full_type = string[4] }\n\
         { .btf_id = 0, .base_type = pointer, .full_type = struct task_struct * }\n\
         { .btf_id = 0, .base_type = tuple, .full_type = (int8,string[2]) }\n\
         { .btf_id = 0, .base_type = record, .full_type = record { .a = int8, .b = string[6] } }\n\
         { .btf_id = 0, .base_type = int, .full_type = int16 }\n\
         { .btf_id = 0, .base_type = int, .full_type = int64 }\n\
         true\nint 0\n\n\n@m: 1\n"
    );
    let Some(o) = run_with(&[], "BEGIN { print(typeinfo(1)); }") else { return };
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with(
            "stdin:1:15: error: typeinfo feature is not enabled by default. To enable this unstable feature, set the config flag to enable. unstable_typeinfo=enable\n"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs a program with tseries() reading its time from `@ts` (0.26's
/// BPFTRACE_DUMMY_TS_MAP test hook) in UTC, and returns what it printed.
fn tseries_output(program: &str) -> Option<String> {
    if !support::tracing_allowed() {
        return None;
    }
    let child = support::bpfscope()
        .args(["-q", "-e", program])
        .env("TZ", "UTC")
        .env("BPFTRACE_DUMMY_TS_MAP", "@ts")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let o = support::wait_with_timeout(child, Duration::from_secs(60), program);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// tseries() keeps and draws what bpftrace 0.26's own runtime tests expect
/// (tests/runtime/call: tseries, tseries_avg, tseries multiple, tseries
/// zigzag; their expected files with the hour of UTC), run once in BEGIN.
#[test]
fn tseries_draws_as_026() {
    let prelude = "config = { unstable_tseries = enable } BEGIN { @ts = (uint64)0; $us = (uint64)1000; $ms = 1000*$us; $i = (uint64)0; ";
    let last_nine = |agg: &str| {
        format!(
            "{prelude}while ($i < 100) {{ @a = tseries($i % 10, 100ms, 5{agg}); @ts += 10 * $ms; $i++; }} clear(@ts); exit(); }}"
        )
    };
    let flat = |v: i64| {
        let rows: String = (5..10)
            .map(|t| format!("00:00:00.{t}00 |                         *                         | {v}\n"))
            .collect();
        format!(
            // (The cleared @ts prints as an empty line.)
            "\n\n@a:\n             {:<21}{:>32}\nhh:mm:ss.ms  |{}|\n{rows}             v{}v\n             {:<21}{:>32}\n\n\n",
            v - 1,
            v + 1,
            "_".repeat(51),
            "_".repeat(51),
            v - 1,
            v + 1
        )
    };
    let Some(out) = tseries_output(&last_nine("")) else { return };
    assert_eq!(out, flat(9), "the last value of each interval");
    let Some(out) = tseries_output(&last_nine(", \"avg\"")) else { return };
    assert_eq!(out, flat(4), "the average of 0..9 in each interval");
    let Some(out) = tseries_output(&last_nine(", \"max\"")) else { return };
    assert_eq!(out, flat(9));
    let Some(out) = tseries_output(&last_nine(", \"min\"")) else { return };
    assert_eq!(out, flat(0));
    let Some(out) = tseries_output(&last_nine(", \"sum\"")) else { return };
    assert_eq!(out, flat(45));

    let multiple = format!(
        "{prelude}while ($i < 5) {{ @a[\"one\"] = tseries(5, 100ms, 10); @ts += 100 * $ms; $i++; }} $i = 0; while ($i < 5) {{ @a[\"two\"] = tseries(4, 100ms, 10); @ts += 100 * $ms; $i++; }} clear(@ts); exit(); }}"
    );
    let Some(out) = tseries_output(&multiple) else { return };
    let one: String = (0..10)
        .map(|t| match t {
            0 => "00:00:00.000 *                                                   | 0\n".to_string(),
            1..=4 => format!("00:00:00.{t}00 |                                                   * 5\n"),
            _ => format!("00:00:00.{t}00 |                                                   | -\n"),
        })
        .collect();
    let two: String =
        (5..10).map(|t| format!("00:00:00.{t}00 |                         *                         | 4\n")).collect();
    let (bar, bottom) = (format!("|{}|", "_".repeat(51)), format!("v{}v", "_".repeat(51)));
    assert_eq!(
        out,
        format!(
            "\n\n@a[one]:\n             0                                                   5\nhh:mm:ss.ms  {bar}\n{one}             {bottom}\n             0                                                   5\n\n\
             @a[two]:\n             3                                                   5\nhh:mm:ss.ms  {bar}\n{two}             {bottom}\n             3                                                   5\n\n\n"
        )
    );

    let zigzag = "config = { unstable_tseries = enable } BEGIN { @dir = 1; @c = -5; @ts = (uint64)100ms; $i = 0; while ($i < 20) { @ = tseries(@c, 100ms, 20); @ts += 100ms; @c += @dir; $i++; if (@c > 5) { @dir = -1; @c = 4 } else if (@c < -5) { @dir = 1; @c = -4; } } clear(@ts); clear(@c); clear(@dir); exit(); }";
    let Some(out) = tseries_output(zigzag) else { return };
    let expected = "\
@:
             -5                                                  5
hh:mm:ss.ms  |___________________________________________________|
00:00:00.100 *                         .                         | -5
00:00:00.200 |    *                    .                         | -4
00:00:00.300 |         *               .                         | -3
00:00:00.400 |              *          .                         | -2
00:00:00.500 |                   *     .                         | -1
00:00:00.600 |                         *                         | 0
00:00:00.700 |                         .    *                    | 1
00:00:00.800 |                         .         *               | 2
00:00:00.900 |                         .              *          | 3
00:00:01.000 |                         .                   *     | 4
00:00:01.100 |                         .                         * 5
00:00:01.200 |                         .                   *     | 4
00:00:01.300 |                         .              *          | 3
00:00:01.400 |                         .         *               | 2
00:00:01.500 |                         .    *                    | 1
00:00:01.600 |                         *                         | 0
00:00:01.700 |                   *     .                         | -1
00:00:01.800 |              *          .                         | -2
00:00:01.900 |         *               .                         | -3
00:00:02.000 |    *                    .                         | -4
             v___________________________________________________v
             -5                                                  5
";
    assert!(out.contains(expected), "{out}");
}

/// tseries() on the real clock: the interval the value was written in,
/// starting at the right time of day; and 0.26's checks of its arguments.
#[test]
fn tseries_on_the_clock_and_its_errors() {
    let Some(out) = output_of(&["--no-warnings"], "BEGIN { @s = tseries(7, 1s, 3); exit(); }") else { return };
    let lines: Vec<&str> = out.lines().collect();
    // A single row: its unit is ns, as in 0.26.
    assert_eq!(
        &lines[2..4],
        ["@s:", "                   6                                                   8"],
        "{out}"
    );
    let row = lines[5];
    assert!(
        row.ends_with(" |                         *                         | 7") && row.contains(".000000000 "),
        "{out}"
    );
    let Some(o) = run_with(
        &[],
        "BEGIN { @a = tseries(1, 0, 5); @b = tseries(1, 1s, 2000000); @c = tseries(1, 1s, 5, \"stats\"); @d = tseries(1, 1s, 5); @d = tseries(1, 2s, 5); }",
    ) else {
        return;
    };
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    for message in [
        "error: tseries() interval_ns must be >= 1 (0 provided)",
        "error: tseries() num_intervals must be < 1000000 (2000000 provided)",
        "error: tseries() expects one of the following aggregation functions: avg, max, min, sum (\"stats\" provided)",
        "error: Different tseries bounds in a single map unsupported",
        "stdin: warning: Script is using an unstable feature: tseries. To prevent this warning you must explicitly enable it in the config e.g. unstable_tseries=enable",
    ] {
        assert!(err.contains(message), "no {message:?} in:\n{err}");
    }
}

/// A probe running with interrupts off (an interval timer) keeps every key
/// it inserts: maps are preallocated, as bpftrace's are (entries allocated
/// on use came from a cache that only refills with interrupts on, and all
/// but the first few inserts were lost without a word).
#[test]
fn maps_keep_every_insert_with_interrupts_off() {
    let program = "i:ms:1 { $i = 0; while ($i < 300) { @b[$i] = $i; @c[$i] = count(); $i++; } exit(); } END { printf(\"%d %d\\n\", len(@b), len(@c)); clear(@b); clear(@c); }";
    let Some(out) = output_of(&[], program) else { return };
    assert_eq!(out, "300 300\n\n\n\n\n", "the two cleared maps print as empty lines");
}

/// count, sum, min, max and avg maps read as integers in arithmetic, as
/// map keys and in variables, as 0.26 allows (its castable map types);
/// copying one to another map is refused with 0.26's message.
#[test]
fn aggregations_read_as_integers() {
    let program = "BEGIN { @c = count(); @c = count(); @s = sum(5); @a = avg(4); @mx = max(9); @mn = min(-3); $x = @c + 1; @m[@c] = @s * 2; @n[@a, @mx] = (int64)@c; $y = @mn; printf(\"%d %d %d %d %d\\n\", $x, @s + @mx, @a, $y, @mn * 2 - @c); exit(); }";
    let Some(out) = output_of(&[], program) else { return };
    assert_eq!(out, "3 14 4 -3 -8\n\n\n@a: 4\n@c: 2\n@m[2]: 10\n@mn: -3\n@mx: 9\n@n[4, 9]: 2\n@s: 5\n");
    let Some(o) = run_with(&[], "BEGIN { @y = count(); @x = @y; @h = hist(1); @k[@h] = 1; }") else { return };
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stdin:1:23: error: Map value 'count_t' cannot be assigned from one map to another. The function that returns this type must be called directly e.g. `@x = count();`.\n"), "{err}");
    assert!(
        err.contains("hint: Add a cast to integer if you want the value of the aggregate, e.g. `@x = (int64)@y;`."),
        "{err}"
    );
    assert!(err.contains("error: Value 'hist_t' cannot be used as a map key."), "{err}");
}

/// strncmp()'s length may be a positional parameter, as any literal.
#[test]
fn strncmp_length_from_a_parameter() {
    let Some(out) = output_of(
        &["1", "2"],
        r#"BEGIN { printf("%d %d\n", strncmp("ab", "ac", $1), strncmp("ab", "ac", $2)); exit(); }"#,
    ) else {
        return;
    };
    assert_eq!(out, "0 1\n\n\n");
}
