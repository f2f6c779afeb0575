//! `-f json`: bpftrace 0.26's JSON lines, one object per message. Every
//! line is parsed with serde_json and its values checked; lines 0.26's own
//! tests expect byte for byte are compared as bytes.

mod support;

use std::time::Duration;

use serde_json::{Value, json};

/// The program's JSON lines (stdout), after checking it exited cleanly.
fn json_lines(program: &str, args: &[&str]) -> Option<Vec<String>> {
    let o = support::run_program(program, &[&["-f", "json"], args].concat(), Duration::from_secs(60))?;
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

/// cat, system (0.26's "syscall"), join, errorf and tseries messages.
#[test]
fn text_producing_calls_are_messages_of_their_type() {
    let file = std::env::temp_dir().join(format!("bpfscope-json-cat-{}", std::process::id()));
    std::fs::write(&file, "line one\n\"quoted\"\n").expect("writes");
    let program = format!(
        r#"config = {{ unstable_tseries = enable }} BEGIN {{ cat("{}"); system("echo hi %d", 5); errorf("bad %d", 7); @t = tseries(5, 1s, 2); exit(); }}"#,
        file.display()
    );
    let Some(lines) = json_lines(&program, &["-q", "--unsafe"]) else { return };
    let _ = std::fs::remove_file(&file);
    let values: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    assert_eq!(values[0], json!({"type": "cat", "data": "line one\n\"quoted\"\n"}));
    assert_eq!(values[1], json!({"type": "syscall", "data": "hi 5\n"}));
    let col = program.find("errorf").expect("there") + 1;
    assert_eq!(values[2], json!({"type": "errorf", "msg": "bad 7", "filename": "stdin", "line": 1, "col": col}));
    assert_eq!(values[3]["type"], "tseries");
    let points = values[3]["data"]["@t"].as_array().expect("a list of points");
    assert_eq!(points.len(), 1, "{lines:#?}");
    assert_eq!(points[0]["value"], 5);
    assert!(points[0]["interval_start"].as_str().is_some_and(|t| t.len() == 29), "{lines:#?}");
    assert_eq!(values.len(), 4, "{lines:#?}");
    // join: the traced command's own argv.
    let Some(lines) = json_lines(
        "tracepoint:syscalls:sys_enter_execve /pid == cpid/ { join(args.argv); join(args.argv, \",\"); }",
        &["-q", "-c", "/bin/true one two"],
    ) else {
        return;
    };
    let values: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    assert_eq!(
        values,
        [json!({"type": "join", "data": "/bin/true one two"}), json!({"type": "join", "data": "/bin/true,one,two"})]
    );
}

/// Run-time errors as 0.26 writes them in JSON: on stdout with the rest,
/// a `runtime_error` with its message or (with -k) a `helper_error` with
/// the helper, its error code and strerror's words; each with its place.
#[test]
fn runtime_and_helper_errors() {
    let program = "BEGIN { $x = 0; @a = 5 / $x; printf(\"%s\", str(0)); @m[1] = 1; $v = @m[2];\n $w = @m[2]; exit(); }";
    let Some(lines) = json_lines(program, &["-q", "-k"]) else { return };
    let values: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    let divide = "Divide or modulo by 0 detected. This can lead to unexpected results. 1 is being used as the result.";
    assert_eq!(values[0], json!({"type": "runtime_error", "msg": divide, "filename": "stdin", "line": 1, "col": 22}));
    // Reading address 0: the kernel's error code, as it gives it.
    assert_eq!(values[1]["type"], "helper_error");
    assert_eq!(values[1]["helper"], "probe_read_kernel_str");
    let rc = values[1]["retcode"].as_i64().expect("a code");
    assert!(rc < 0, "{lines:#?}");
    let words = std::io::Error::from_raw_os_error(-rc as i32).to_string();
    assert_eq!(values[1]["msg"].as_str(), words.split(" (os error").next(), "{lines:#?}");
    let col = |text: &str| program.find(text).expect("there") as i64 + 1;
    assert_eq!((values[1]["line"].as_i64(), values[1]["col"].as_i64()), (Some(1), Some(col("str(0)"))));
    assert_eq!(values[2], json!({"type": "printf", "data": ""}));
    // A missing key: 0.26 reports map_lookup_elem with code 0, once per place.
    let lookup = |line: i64, col: i64| {
        json!({"type": "helper_error", "msg": "Success", "helper": "map_lookup_elem", "retcode": 0,
            "filename": "stdin", "line": line, "col": col})
    };
    assert_eq!(values[3], lookup(1, col("@m[2]")));
    // The second line's `@m[2]`, at column 7 of its line.
    assert_eq!(values[4], lookup(2, 7));
    assert_eq!(values[5], json!({"type": "map", "data": {"@a": 1}}));
    assert_eq!(values.len(), 7, "{lines:#?}");
}

/// Events the kernel could not deliver are counted in a lost_events
/// message; with the lines printed they add up to every event sent.
#[test]
fn lost_events_are_a_message_that_adds_up() {
    let program = r#"config = { perf_rb_pages = 1 } BEGIN { $i = 0; while ($i < 2000) { printf("%s %d\n", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", $i); $i++; } exit(); }"#;
    let Some(lines) = json_lines(program, &["-q"]) else { return };
    let values: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    let printed = values.iter().filter(|v| v["type"] == "printf").count() as u64;
    let lost: Vec<&Value> = values.iter().filter(|v| v["type"] == "lost_events").collect();
    assert!(!lost.is_empty(), "a one-page buffer holds fewer than 2000 events");
    let lost_total: u64 = lost.iter().map(|v| v["count"].as_u64().expect("a count")).sum();
    for v in &lost {
        assert_eq!(v["count"], v["data"]["events"]);
        // bpfscope's addition: the probe they came from.
        assert_eq!(v["count"], v["data"]["probes"]["BEGIN"], "{v}");
    }
    assert_eq!(printed + lost_total, 2000, "{printed} printed, {lost_total} lost");
}
