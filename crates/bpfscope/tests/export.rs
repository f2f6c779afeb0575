//! `--export`: a real Prometheus (Debian's package, installed here if
//! missing) scrapes bpfscope every second while a workload of known size
//! and latency runs; its HTTP API must then hold the workload's count and
//! a median in the bucket of the workload's latency.

#[macro_use]
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Debian's prometheus, installed when missing (the package lists read
/// first where they are not); `None` (said) where it cannot be.
fn prometheus() -> Option<&'static str> {
    const BIN: &str = "/usr/bin/prometheus";
    let apt = |args: &[&str]| Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").output();
    for attempt in 0..2 {
        if Path::new(BIN).exists() {
            return Some(BIN);
        }
        if attempt == 1 {
            let _ = apt(&["update", "-qq"]);
        }
        match apt(&["install", "-y", "-qq", "prometheus"]) {
            Ok(o) if !Path::new(BIN).exists() && attempt == 1 => {
                skip(&format!("apt-get install prometheus failed: {}", String::from_utf8_lossy(&o.stderr)));
            }
            Err(e) => {
                skip(&format!("cannot run apt-get to install prometheus: {e}"));
                return None;
            }
            Ok(_) => {}
        }
    }
    Path::new(BIN).exists().then_some(BIN)
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `GET path` on a loopback port: the body, if the answer was 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

/// The value of a PromQL instant query with one result, once there is one.
fn query(port: u16, expr: &str) -> Option<f64> {
    let encoded: String = expr
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    let body = get(port, &format!("/api/v1/query?query={encoded}"))?;
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Polls `expr` until `done` holds for its value (or 40 s pass).
fn await_value(port: u16, expr: &str, done: impl Fn(f64) -> bool) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = None;
    while Instant::now() < deadline {
        last = query(port, expr);
        if last.is_some_and(&done) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    last
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_stores_the_counts_and_latencies_it_scrapes() {
    require_root!();
    let Some(prometheus) = prometheus() else { return };
    let target = build_target("napper", &[]);
    let t = target.display();
    let (export_port, prometheus_port) = (free_port(), free_port());
    let program = format!(
        "uprobe:{t}:nap {{ @start[tid] = nsecs; }}
         uretprobe:{t}:nap /@start[tid]/ {{ @naps = count(); @us = hist((nsecs - @start[tid]) / 1000); delete(@start[tid]); }}"
    );
    let addr = format!("127.0.0.1:{export_port}");
    let tracer = Tracer::start(&["--export", &addr, "-e", &program]);
    assert_eq!(get(export_port, "/healthz").as_deref(), Some("ok\n"));

    let dir = std::env::temp_dir().join(format!("bpfscope-prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bpfscope\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("writes the config");
    let server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let _server = Killed(server);

    // 20 naps of 10 ms: the count is exact; each nap's latency, in us,
    // falls in hist()'s bucket [8192, 16384).
    assert!(Command::new(&target).arg("20").status().expect("runs").success());
    let naps = await_value(prometheus_port, "bpfscope_naps_total", |v| v == 20.0);
    assert_eq!(naps, Some(20.0), "Prometheus's stored count");
    let median = await_value(prometheus_port, "histogram_quantile(0.5, bpfscope_us_bucket)", |v| v.is_finite());
    let median = median.expect("a median");
    assert!((8191.0..=16383.0).contains(&median), "median {median} us is not in the bucket [8192, 16384)");

    // What was served is what the run prints at its end.
    let metrics = get(export_port, "/metrics").expect("metrics");
    assert!(metrics.contains("# TYPE bpfscope_naps counter\nbpfscope_naps_total{} 20\n"), "{metrics}");
    assert!(metrics.contains("bpfscope_us_bucket{le=\"16383.0\"} 20\n"), "{metrics}");
    let out = tracer.interrupt();
    assert!(stdout(&out).contains("@naps: 20\n"), "{}", stdout(&out));
    std::fs::remove_dir_all(&dir).ok();
}

/// Past `--max-series`, a map's series are left out and counted.
#[test]
fn series_past_the_limit_are_dropped_and_counted() {
    require_root!();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tracer = Tracer::start(&[
        "--export",
        &addr,
        "--max-series",
        "3",
        "-e",
        "BEGIN { @m[1] = 1; @m[2] = 2; @m[3] = 3; @m[4] = 4; @m[5] = 5; }",
    ]);
    let metrics = get(port, "/metrics").expect("metrics");
    assert_eq!(metrics.matches("\nbpfscope_m{key0=").count(), 3, "{metrics}");
    assert!(metrics.contains("bpfscope_dropped_series{map=\"@m\"} 2\n"), "{metrics}");
    assert_eq!(get(port, "/nothing-here"), None);
    drop(tracer.interrupt());
}

/// `--export ADDR DIR` serves every `*.bt` program of a directory, each
/// family named after its file; `// metrics:` comments name the labels,
/// and must fit the map's keys.
#[test]
fn a_directory_of_programs_is_served_with_named_labels() {
    require_root!();
    let dir = std::env::temp_dir().join(format!("bpfscope-export-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    std::fs::write(dir.join("opens.bt"), "// metrics: @n(who, fd)\nBEGIN { @n[\"sshd\", 3] = 7; }\n").expect("writes");
    std::fs::write(dir.join("twice.bt"), "BEGIN { @c[1] = count(); @c[1] = count(); }\n").expect("writes");
    std::fs::write(dir.join("notes.txt"), "not a program").expect("writes");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tracer = Tracer::start(&["--export", &addr, dir.to_str().expect("utf-8")]);
    let metrics = get(port, "/metrics").expect("metrics");
    assert!(
        metrics.contains("# TYPE bpfscope_opens_n gauge\nbpfscope_opens_n{who=\"sshd\",fd=\"3\"} 7\n"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE bpfscope_twice_c counter\nbpfscope_twice_c_total{key0=\"1\"} 2\n"), "{metrics}");
    let out = tracer.interrupt();
    assert_eq!(stdout(&out), "\n\n@n[sshd, 3]: 7\n\n\n@c[1]: 2\n");

    std::fs::write(dir.join("opens.bt"), "// metrics: @n(who)\nBEGIN { @n[\"sshd\", 3] = 7; }\n").expect("writes");
    let out = bpfscope().args(["--export", &format!("127.0.0.1:{}", free_port()), dir.to_str().unwrap_or("")]).output();
    let out = out.expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).ends_with(&format!(
            "bpfscope: error: {}: // metrics: names 1 labels of @n, whose keys have 2\n",
            dir.join("opens.bt").display()
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Tools serve their results with `--export`: syscount's counts of one
/// process, labelled with the system calls' names.
#[test]
fn tools_export_their_results() {
    require_root!();
    let sleeper = build_target_as("sleeper", "sleeper_syscount", &[]);
    // It waits for a line, so that the tool attaches before its 12 sleeps.
    let mut workload = Command::new(&sleeper).args(["12", "wait"]).stdin(Stdio::piped()).spawn().expect("runs");
    let pid = workload.id().to_string();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tracer = Tracer::start(&["tool", "syscount", "-p", &pid, "--export", &addr]);
    workload.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    assert!(workload.wait().expect("waits").success());
    let metrics = get(port, "/metrics").expect("metrics");
    assert!(metrics.contains("bpfscope_syscount_counts_total{syscall=\"clock_nanosleep\"} 12\n"), "{metrics}");
    assert!(!metrics.contains("bpfscope_syscount_start"), "its bookkeeping is not exported: {metrics}");
    drop(tracer.interrupt());
}

/// Each kind of map value, as it is served (exact text).
#[test]
fn every_kind_of_map_value_is_exported() {
    require_root!();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let program = r#"BEGIN { @c = count(); @c = count(); @s = sum(3); @st = stats(5); @st = stats(7);
        @a = avg(4); @a = avg(8); @h = hist(5); @l = lhist(12, 0, 100, 10); @text = "not a number"; }"#;
    let tracer = Tracer::start(&["--export", &addr, "-e", program]);
    let metrics = get(port, "/metrics").expect("metrics");
    let expected = "\
# HELP bpfscope_a @a: avg()
# TYPE bpfscope_a gauge
bpfscope_a{} 6.0
# HELP bpfscope_c @c: count()
# TYPE bpfscope_c counter
bpfscope_c_total{} 2
# HELP bpfscope_h @h: hist()
# TYPE bpfscope_h histogram
bpfscope_h_sum{} NaN
bpfscope_h_count{} 1
bpfscope_h_bucket{le=\"3.0\"} 0
bpfscope_h_bucket{le=\"7.0\"} 1
bpfscope_h_bucket{le=\"+Inf\"} 1
# HELP bpfscope_l @l: lhist()
# TYPE bpfscope_l histogram
bpfscope_l_sum{} NaN
bpfscope_l_count{} 1
bpfscope_l_bucket{le=\"9.0\"} 0
bpfscope_l_bucket{le=\"19.0\"} 1
bpfscope_l_bucket{le=\"+Inf\"} 1
# HELP bpfscope_s @s: sum()
# TYPE bpfscope_s gauge
bpfscope_s{} 3
# HELP bpfscope_st_count @st: stats() count
# TYPE bpfscope_st_count gauge
bpfscope_st_count{} 2
# HELP bpfscope_st_sum @st: stats() sum
# TYPE bpfscope_st_sum gauge
bpfscope_st_sum{} 12
# EOF
";
    assert_eq!(metrics, expected);
    drop(tracer.interrupt());
}

/// The Grafana dashboard in examples/ is valid JSON, and each panel's
/// query reads a family the README's exporter example or syscount serves.
#[test]
fn the_grafana_example_queries_served_families() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/grafana/bpfscope.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("valid JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert_eq!(exprs.len(), 4);
    let served = ["bpfscope_opens_total", "bpfscope_read_us_bucket", "bpfscope_syscount_counts_total"];
    for e in exprs {
        assert!(served.iter().any(|f| e.contains(f)), "{e}");
    }
}

/// What --export does not do is refused before anything runs.
#[test]
fn export_refuses_what_it_does_not_do() {
    for (flags, message) in [
        (vec!["-c", "true"], "--export serves a program until it is stopped: without -c or --dry-run"),
        (vec!["--dry-run"], "--export serves a program until it is stopped: without -c or --dry-run"),
        (
            vec!["-o", "/tmp/never-written"],
            "--export prints the program's output to stdout: -o is not built for it yet",
        ),
    ] {
        let out = bpfscope()
            .args(["--export", "127.0.0.1:9"])
            .args(&flags)
            .args(["-e", "BEGIN { exit(); }"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("bpfscope: error: {message}\n"), "{flags:?}");
    }
}
