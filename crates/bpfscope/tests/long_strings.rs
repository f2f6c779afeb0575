//! Strings longer than the 512-byte BPF stack, up to max_strlen (1024 by
//! default, as in bpftrace 0.26), with 0.26's truncation trailer: read
//! from a traced process's memory (`tests/targets/longstr.c` passes a
//! 1000-byte and a 2000-byte string of known bytes) or built in BEGIN,
//! printed, kept in maps and tuples, compared and searched in the kernel.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{build_target_as, wait_with_timeout};

/// `abc...zabc...`: the bytes `longstr` passes, `n` of them.
fn pattern(n: usize) -> String {
    (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// Runs `PROGRAM` (with `{t}` the target's path) while `longstr 1` runs
/// under `-c`; the output, after checking that nothing went to stderr.
#[track_caller]
fn on_target(name: &str, program: &str) -> Option<String> {
    if !support::tracing_allowed() {
        return None;
    }
    let target = build_target_as("longstr", name, &[]);
    let t = target.to_str().expect("utf-8 path");
    let program = program.replace("{t}", t);
    let child = support::bpfscope()
        .args(["-q", "-c", &format!("{t} 1"), "-e", &program])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let o = wait_with_timeout(child, Duration::from_secs(60), &program);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "stderr of {program}");
    assert_eq!(o.status.code(), Some(0), "exit code of {program}");
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A program that ends by itself (BEGIN ... exit()).
#[track_caller]
fn output_of(program: &str) -> Option<String> {
    if !support::tracing_allowed() {
        return None;
    }
    let child = support::bpfscope()
        .args(["-q", "-e", program])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let o = wait_with_timeout(child, Duration::from_secs(60), program);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "stderr of {program}");
    assert_eq!(o.status.code(), Some(0), "exit code of {program}");
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A 1000-byte string read with str() prints whole (it fits in the
/// default max_strlen), in printf, print(), map keys and values and
/// tuples.
#[test]
fn a_1000_byte_string_from_the_traced_process_prints_whole() {
    let program = r#"uprobe:{t}:take { printf("%s|\n", str(arg0)); print(str(arg0));
        @k[str(arg0)] = count(); @v = str(arg0); @t = (str(arg0), strlen(str(arg0)), 7); }"#;
    let Some(out) = on_target("longstr_whole", program) else { return };
    let s = pattern(1000);
    assert_eq!(out, format!("{s}|\n{s}\n\n\n@k[{s}]: 1\n@t: ({s}, 1000, 7)\n@v: {s}\n"));
}

/// At max_strlen 1024 and above, bpftrace 0.26 reads at most max_strlen - 1
/// bytes and a NUL, so a longer string is cut without a trailer; str(p, n)
/// reads n - 1 bytes. buf() holds max_strlen less 4 bytes.
#[test]
fn at_the_default_max_strlen_a_longer_string_is_cut_without_a_trailer() {
    let program = r#"uprobe:{t}:take { printf("%s|%s|%d|%r\n", str(arg1), str(arg1, 5), str(arg0) == str(arg1), buf(arg1, 2000)); }"#;
    let Some(out) = on_target("longstr_cut", program) else { return };
    assert_eq!(out, format!("{}|abcd|0|{}\n\n\n", pattern(1023), pattern(1020)));
}

/// Below 1024, 0.26 reads one byte more: a string that does not fit
/// leaves no NUL in its value and prints with the trailer ("..", or the
/// str_trunc_trailer config), wherever it is printed; str(p, n) reads n
/// bytes. Cut to the same 100 bytes, the two strings are equal.
#[test]
fn a_string_longer_than_max_strlen_prints_with_the_trailer() {
    let program = r#"config = { max_strlen = 100 }
        uprobe:{t}:take { printf("%s|\n", str(arg1)); print(str(arg1));
        @k[str(arg1)] = count(); @v = str(arg1); @t = (str(arg1), 1);
        @eq = str(arg0) == str(arg1); @short = str(arg1, 5); }"#;
    let Some(out) = on_target("longstr_trailer", program) else { return };
    let cut = format!("{}..", pattern(100));
    assert_eq!(out, format!("{cut}|\n{cut}\n\n\n@eq: 1\n@k[{cut}]: 1\n@short: abcde\n@t: ({cut}, 1)\n@v: {cut}\n"));

    let program = r#"config = { max_strlen = 5; str_trunc_trailer = "_xxx" }
        uprobe:{t}:take { printf("%s %s\n", str(arg0), str(arg0, 3)); }"#;
    let Some(out) = on_target("longstr_trailer_custom", program) else { return };
    assert_eq!(out, "abcde_xxx abc\n\n\n");
}

/// Comparisons and string functions over strings longer than the stack.
#[test]
fn long_strings_compare_and_search_in_the_kernel() {
    let program = r#"uprobe:{t}:take {
        printf("%d %d %d %d\n", str(arg0) == str(arg0), str(arg0) != str(arg1), str(arg1) == str(arg0), strlen(str(arg1)));
        printf("%d %d %d %d\n", strstr(str(arg0), "xyzab"), strstr(str(arg1), str_concat("xyz", "abcd")), strcontains(str(arg1), "zz"), strstr(str(arg1), str(arg0)));
        printf("%d %d %d %d\n", strncmp(str(arg0), str(arg1), 1000), strncmp(str(arg0), str(arg1), 1001), memcmp(str(arg0), str(arg1), 1000), memcmp(str(arg0), str(arg1), 1001)); }"#;
    let Some(out) = on_target("longstr_compare", program) else { return };
    // The 1001st bytes: NUL in the first, 'm' (1000 % 26 = 12) in the second.
    assert_eq!(out, format!("1 1 0 1023\n23 23 0 0\n0 1 0 {}\n\n\n", -(i64::from(b'm'))));
}

/// Several 1 KiB strings live at once (variables, a tuple key and value, a
/// printf record: over 8 KiB, where the stack has 512 bytes), also in
/// loops over a map and in while loops, whose callbacks share them.
#[test]
fn several_long_strings_at_once() {
    let program = r#"BEGIN { $a = str_concat("a", "b"); $b = str_concat($a, "c"); $c = str_concat($b, "d"); $d = str_concat($c, "e");
        @m[$a, $b] = ($c, $d); printf("%s %s %s %s\n", $a, $b, $c, $d); print(($a, $d));
        @n[str_concat("k", "1")] = str_concat("v", "1"); @n[str_concat("k", "2")] = str_concat("v", "2");
        $s = str_concat("x", "");
        for ($kv : @n) { $s = str_concat($s, $kv.1); }
        $i = 0; while ($i < 2) { $s = str_concat($s, "w"); $i++; }
        printf("%d %d %d %s\n", strlen($s), strcontains($s, "v1"), strcontains($s, "v2"), str_concat("", $s) == $s);
        exit(); }"#;
    let Some(out) = output_of(program) else { return };
    assert_eq!(
        out,
        "ab abc abcd abcde\n(ab, abcde)\n7 1 1 true\n\n\n@m[ab, abc]: (abcd, abcde)\n@n[k1]: v1\n@n[k2]: v2\n"
    );

    // Four 1 KiB strings from the traced process in one map entry.
    let program = r#"uprobe:{t}:take { @m[str(arg0), str(arg1)] = (str(arg1), str(arg0)); }"#;
    let Some(out) = on_target("longstr_several", program) else { return };
    let (s, t) = (pattern(1000), pattern(1023));
    assert_eq!(out, format!("\n\n@m[{s}, {t}]: ({t}, {s})\n"));
}
