//! `-f json`: bpftrace 0.26's JSON lines, one object per message. Every
//! line is parsed with serde_json and its values checked; lines 0.26's own
//! tests expect byte for byte are compared as bytes.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::wait_with_timeout;

/// The program's JSON lines (stdout), after checking it exited cleanly.
fn json_lines(program: &str, args: &[&str]) -> Option<Vec<String>> {
    if !support::can_trace() {
        return None;
    }
    let child = support::bpfscope()
        .args(["-f", "json"])
        .args(args)
        .args(["-e", program])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let o = wait_with_timeout(child, Duration::from_secs(60), program);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    Some(String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn every_message_type_parses_with_its_values() {
    let program = r#"BEGIN {
        printf("test %d\n", 5); print((1, "a")); print((a = 1, b = "x")); print(5); time("%Y\n");
        warnf("w %d", 3);
        @c = count(); @c = count(); @m["x", 2] = 3; @k[7] = -4; @h = hist(20); @h = hist(0); @l = lhist(50, 0, 100, 10); @l = lhist(500, 0, 100, 10);
        @s = stats(4); @s = stats(8); @v = avg(6); @big = 18446744073709551615; @str = "a \"q\"\n"; @b = true;
        print(@m); exit(); }"#;
    let Some(lines) = json_lines(program, &[]) else { return };
    let values: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    let expect = [
        json!({"type": "attached_probes", "count": 1, "data": {"probes": 1}}),
        json!({"type": "printf", "data": "test 5\n"}),
        json!({"type": "value", "data": [1, "a"]}),
        json!({"type": "value", "data": {"a": 1, "b": "x"}}),
        json!({"type": "value", "data": 5}),
    ];
    assert_eq!(values[..5], expect, "{lines:#?}");
    assert_eq!(values[5]["type"], "time");
    assert!(values[5]["data"].as_str().is_some_and(|t| t.len() == 5 && t.ends_with('\n')), "{lines:#?}");
    assert_eq!(values[6], json!({"type": "warnf", "msg": "w 3", "filename": "stdin", "line": 3, "col": 9}));
    assert_eq!(values[7], json!({"type": "map", "data": {"@m": {"x,2": 3}}}));
    // The maps at exit, by name; empty ones are left out.
    let rest: Vec<Value> = values[8..].to_vec();
    assert_eq!(
        rest,
        [
            json!({"type": "map", "data": {"@b": true}}),
            json!({"type": "map", "data": {"@big": "18446744073709551615"}}),
            json!({"type": "map", "data": {"@c": 2}}),
            json!({"type": "hist", "data": {"@h": [{"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 0},
                {"min": 2, "max": 3, "count": 0}, {"min": 4, "max": 7, "count": 0}, {"min": 8, "max": 15, "count": 0},
                {"min": 16, "max": 31, "count": 1}]}}),
            json!({"type": "map", "data": {"@k": {"7": -4}}}),
            json!({"type": "hist", "data": {"@l": [{"min": 50, "max": 59, "count": 1}, {"min": 60, "max": 69, "count": 0},
                {"min": 70, "max": 79, "count": 0}, {"min": 80, "max": 89, "count": 0}, {"min": 90, "max": 99, "count": 0},
                {"min": 100, "count": 1}]}}),
            json!({"type": "map", "data": {"@m": {"x,2": 3}}}),
            json!({"type": "stats", "data": {"@s": {"count": 2, "average": 6, "total": 12}}}),
            json!({"type": "map", "data": {"@str": "a \"q\"\n"}}),
            json!({"type": "stats", "data": {"@v": 6}}),
        ],
        "{lines:#?}"
    );
}

/// Lines 0.26's runtime tests (tests/runtime/json-output) expect byte for
/// byte: the spacing of objects and arrays, escapes.
#[test]
fn lines_as_026_writes_them() {
    let Some(lines) = json_lines(
        r#"BEGIN { @ = (1, 2, "string", (4, 5)); @a = (a = 0, b = 1, c = "str", d = (5, 6), e = (x = 1, y = 2)); printf("test \r \n \t \\ \" bar"); exit(); }"#,
        &["-q"],
    ) else {
        return;
    };
    assert_eq!(
        lines,
        [
            r#"{"type": "printf", "data": "test \r \n \t \\ \" bar"}"#,
            r#"{"type": "map", "data": {"@": [1,2,"string",[4,5]]}}"#,
            r#"{"type": "map", "data": {"@a": {"a": 0, "b": 1, "c": "str", "d": [5,6], "e": {"x": 1, "y": 2}}}}"#,
        ]
    );
}

/// `print(@m, top, div)`, lost events, and `-o` with JSON: every message
/// in the file.
#[test]
fn top_div_and_output_file() {
    let Some(lines) = json_lines(
        "BEGIN { @[\"a\"] = 10; @[\"b\"] = 20; @[\"c\"] = 30; print(@, 2, 10); clear(@); exit(); }",
        &["-q"],
    ) else {
        return;
    };
    assert_eq!(lines, [r#"{"type": "map", "data": {"@": {"b": 2, "c": 3}}}"#]);
    let file = std::env::temp_dir().join(format!("bpfscope-json-{}.ndjson", std::process::id()));
    let path = file.display().to_string();
    let Some(lines) = json_lines("BEGIN { printf(\"x\"); exit(); }", &["-o", &path]) else { return };
    assert!(lines.is_empty());
    let text = std::fs::read_to_string(&file).expect("the file");
    let _ = std::fs::remove_file(&file);
    let parsed: Vec<Value> = text.lines().map(parse).collect();
    assert_eq!(
        parsed,
        [json!({"type": "attached_probes", "count": 1, "data": {"probes": 1}}), json!({"type": "printf", "data": "x"})]
    );
}

#[test]
fn an_unknown_format_is_refused() {
    let o = support::bpfscope().args(["-f", "jsonx", "-e", "BEGIN { exit(); }"]).output().expect("runs");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Invalid output format \"jsonx\""));
}
