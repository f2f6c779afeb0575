//! The Rust library: probes attached with BCC's verbs, a workload this test
//! runs, and what the kernel counted read back as typed Rust values; events
//! through the callback; and the example tool built on the API.

#[macro_use]
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use bpfscope::{Bpf, Event, MapValue, Value};
use support::*;

const CALLS: u32 = 7;

/// uprobe and uretprobe on `add(i, 100)`, called 7 times by the target:
/// the count per argument pair, the sum and the returned values.
#[test]
fn uprobes_fill_typed_maps_and_send_events() {
    require_root!();
    let target = build_target("uprobed", &[]);
    let path = target.to_str().expect("utf-8 path");
    let mut bpf = Bpf::new();
    bpf.attach_uprobe(path, "add", None, "/arg1 == 100/ { @calls[arg0, arg1] = count(); @total = sum(arg0); }")
        .attach_uretprobe(path, "add", None, r#"{ printf("%d %s\n", retval, comm); @lat = hist(retval); }"#);
    let mut tracer = bpf.load().expect("loads and attaches");
    let run = Command::new(&target).arg(CALLS.to_string()).status().expect("runs the target");
    assert!(run.success());
    let mut returned = Vec::new();
    let collect = |returned: &mut Vec<i64>, e: &Event| {
        if let Some((value, comm)) = e.args_as::<(i64, String)>() {
            assert_eq!(comm, "uprobed");
            returned.push(value);
        }
    };
    while returned.len() < CALLS as usize {
        assert!(tracer.poll(Duration::from_millis(200), |e| collect(&mut returned, e)).expect("polls"));
    }
    tracer.finish(|e| collect(&mut returned, e)).expect("finishes");
    returned.sort();
    assert_eq!(returned, (0..CALLS as i64).map(|i| i + 100).collect::<Vec<_>>());

    let calls: Vec<((u32, u32), u64)> = tracer.map("@calls").expect("map").entries_as().expect("typed");
    assert_eq!(calls, (0..CALLS).map(|i| ((i, 100), 1)).collect::<Vec<_>>());
    let total = tracer.map("total").expect("map").entries();
    assert_eq!(total, vec![(None, MapValue::Int((0..CALLS as i128).sum()))]);
    let Some((None, MapValue::Histogram(buckets))) = tracer.map("@lat").expect("map").entries().pop() else {
        panic!("no histogram");
    };
    assert_eq!(buckets.len(), 1, "{buckets:?}");
    assert_eq!((buckets[0].label.as_str(), buckets[0].count), ("[64, 128)", u64::from(CALLS)));
    assert!(tracer.map("@missing").is_none());
}

/// A whole program as text, a tracepoint, a string-keyed map, exit() and
/// END.
#[test]
fn tracepoints_and_exit_through_the_library() {
    require_root!();
    let target = build_target("opener", &[]);
    let mut tracer = Bpf::text(
        r#"tracepoint:syscalls:sys_enter_openat /comm == "opener"/ { @opens[str(args.filename)] = count(); }
           tracepoint:sched:sched_process_exit /comm == "opener"/ { exit(3); }
           END { printf("end %d\n", 1); }"#,
    )
    .load()
    .expect("loads");
    let file = std::env::temp_dir().join(format!("bpfscope-library-{}", std::process::id()));
    std::fs::write(&file, "x").expect("writes");
    assert!(Command::new(&target).arg(&file).arg("4").status().expect("runs").success());
    let mut events = Vec::new();
    let mut polls = 0;
    while tracer.poll(Duration::from_millis(100), |e| events.push(e.clone())).expect("polls") {
        polls += 1;
        assert!(polls < 100, "exit() did not end the run");
    }
    let code = tracer.finish(|e| events.push(e.clone())).expect("finishes");
    assert_eq!(code, 3);
    assert!(events.iter().any(|e| e.args_as::<(i64,)>() == Some((1,))), "{events:?}");
    let opens = tracer.map("@opens").expect("map").entries();
    let name = file.to_str().expect("utf-8").to_string();
    assert!(opens.contains(&(Some(Value::Str(name)), MapValue::Int(4))), "{opens:?}");
    std::fs::remove_file(&file).ok();
}

/// Errors come back as values that render against the program.
#[test]
fn program_errors_are_values() {
    let mut bpf = Bpf::new();
    bpf.attach_tracepoint("syscalls:sys_enter_openat", "{ @x = count(); @x = 1; }");
    let Err(e) = bpf.load() else { panic!("loaded a wrong program") };
    let text = e.to_string();
    assert!(text.starts_with("program.bt:1:"), "{text}");
    assert!(text.contains('^') || text.contains('~'), "{text}");
}

/// The example under examples/: gethostlatency on the library, one row
/// for a lookup of a name from /etc/hosts by a process of ours.
#[test]
fn example_gethostlatency_runs() {
    require_root!();
    let example = example_path("gethostlatency");
    let resolver = build_target("resolver", &[]);
    let mut workload =
        Command::new(&resolver).args(["localhost", "1", "wait"]).stdin(Stdio::piped()).spawn().expect("spawns");
    let pid = workload.id();
    let mut example = Command::new(&example)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs the example");
    // The header comes once the probes are attached.
    let mut out = std::io::BufReader::new(example.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("reads the header");
    assert_eq!(line, "TIME      PID     COMM                  LATms HOST\n");
    workload.stdin.take().expect("stdin").write_all(b"go\n").expect("writes");
    assert!(workload.wait().expect("waits").success());
    // getaddrinfo, then gethostbyname.
    let mut rows = Vec::new();
    for _ in 0..2 {
        line.clear();
        std::io::BufRead::read_line(&mut out, &mut line).expect("reads a row");
        rows.push(line.clone());
    }
    Command::new("kill").args(["-INT", &example.id().to_string()]).status().expect("kill");
    let end = wait_with_timeout(example, Duration::from_secs(30), "the example");
    assert!(end.status.success(), "{}", String::from_utf8_lossy(&end.stderr));
    for row in &rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{row}");
        assert_eq!(&f[1..3], [pid.to_string().as_str(), "resolver"], "{row}");
        assert_eq!(f[4], "localhost", "{row}");
        assert!(f[3].parse::<f64>().is_ok_and(|ms| ms >= 0.0), "{row}");
    }
}

/// Examples are built by `cargo test` beside the test binaries' directory.
fn example_path(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} was not built: `cargo test` builds the examples (a filtered run needs `cargo build --examples`)",
        path.display()
    );
    path
}
