//! `bench:` probes under `--bench`: each timed by the kernel in test runs
//! of growing repeat counts, as bpftrace 0.26 times them.

#[macro_use]
mod support;

use support::*;

/// One row of the results table: name, average ns, iterations.
fn rows(out: &str) -> Vec<(String, u64, u64)> {
    out.lines()
        .skip_while(|l| !l.starts_with("----"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect()
}

fn map_value(out: &str, name: &str) -> u64 {
    out.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// BEGIN runs first, then each benchmark in order, then END and the maps.
/// What a benchmark prints is dropped; its maps count every run: the last
/// test run's N, plus the earlier ones, each at most half the next (so
/// fewer than N in all).
#[test]
fn benchmarks_are_timed_and_their_runs_counted() {
    require_root!();
    let program = r#"BEGIN { printf("begin\n"); }
        bench:count_one { @n = count(); printf("dropped\n"); }
        bench:sum_two { @m = sum(2); }
        END { printf("end\n"); }"#;
    let out = bpfscope().args(["--bench", "-e", program]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("Attached"), "nothing attaches under --bench: {err}");
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("begin"), "{text}");
    assert_eq!(lines.next(), Some(format!("{:<41}{:<15}Iterations", "Benchmark", "Time(ns)").as_str()));
    assert_eq!(lines.next(), Some("-".repeat(66).as_str()));
    assert!(!text.contains("dropped"), "{text}");
    assert!(text.contains("\nend\n"), "{text}");
    let rows = rows(&text);
    let names: Vec<&str> = rows.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["count_one", "sum_two"], "{text}");
    for (name, average, iterations) in &rows {
        assert!(*average > 0, "{name}: {text}");
        // The last test run took a millisecond in all.
        assert!(average * iterations >= 1_000_000, "{name}: {text}");
    }
    let (n, m) = (map_value(&text, "@n"), map_value(&text, "@m"));
    assert!(n > rows[0].2 && n < 2 * rows[0].2, "@n {n} against {} iterations: {text}", rows[0].2);
    assert_eq!(m % 2, 0, "{text}");
    assert!(m / 2 > rows[1].2 && m / 2 < 2 * rows[1].2, "@m {m} against {} iterations: {text}", rows[1].2);
}

#[test]
fn json_results_are_benchmark_result_messages() {
    require_root!();
    let out = bpfscope().args(["-f", "json", "--bench", "-e", "bench:a { @ = count(); }"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or("")).expect("JSON");
    assert_eq!(first["type"], "benchmark_result", "{text}");
    let a = &first["data"]["a"];
    let (average, iters) = (a["average"].as_u64().unwrap_or(0), a["iters"].as_u64().unwrap_or(0));
    assert!(average > 0 && average * iters >= 1_000_000, "{text}");
    assert!(text.lines().any(|l| l.starts_with(r#"{"type": "map", "data": {"@": "#)), "{text}");
}

/// Without `--bench` the benchmarks do not run: alone, the run is refused
/// as 0.26 refuses it; beside other probes, they are left out.
#[test]
fn without_bench_the_benchmarks_do_not_run() {
    require_root!();
    let out = bpfscope().args(["-e", "bench:a { @a = count(); }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bpfscope: error: No probes attached; use --bench to run benchmark probes.\n"
    );
    let out = bpfscope().args(["-e", "BEGIN { @b = 1; exit(); } bench:a { @a = count(); }"]).output().expect("runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Attached 1 probe\n");
    let text = stdout(&out);
    assert!(text.contains("@b: 1") && !text.contains("@a"), "{text}");
}

#[test]
fn a_benchmark_name_is_used_once() {
    let out = bpfscope().args(["--dry-run", "-e", "bench:a { } bench:a { }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "stdin:1:13: error: \"a\" was used as the name for more than one BENCH probe\n\
         bench:a { } bench:a { }\n            ~~~~~~~\n\
         stdin:1:1: note: this is the other instance\n\
         bench:a { } bench:a { }\n~~~~~~~\n"
    );
}
