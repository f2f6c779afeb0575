//! gethostlatency on bpfscope's library: the latency of host name lookups
//! through libc, one row per lookup, as BCC's gethostlatency prints them.
//!
//!     gethostlatency [-p PID]

use bpfscope::{Bpf, Event};

const FUNCTIONS: [&str; 3] = ["getaddrinfo", "gethostbyname", "gethostbyname2"];

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gethostlatency: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pid = match args.as_slice() {
        [] => None,
        [flag, pid] if flag == "-p" => Some(pid.parse::<u32>()?),
        _ => return Err("usage: gethostlatency [-p PID]".into()),
    };
    let mut bpf = Bpf::new();
    for function in FUNCTIONS {
        bpf.attach_uprobe("c", function, pid, "/arg0 != 0/ { @start[tid] = nsecs; @host[tid] = str(arg0, 80); }");
        bpf.attach_uretprobe(
            "c",
            function,
            pid,
            r#"/@start[tid]/ {
                printf("%d %s %d %s\n", pid, comm, nsecs - @start[tid], @host[tid]);
                delete(@start[tid]);
                delete(@host[tid]);
            }"#,
        );
    }
    let mut tracer = bpf.load()?;
    bpfscope::stop_on_signals();
    println!("{:<9} {:<7} {:<16} {:>10} HOST", "TIME", "PID", "COMM", "LATms");
    let print = |event: &Event| {
        if let Some((pid, comm, ns, host)) = event.args_as::<(u32, String, u64, String)>() {
            println!("{:<9} {:<7} {:<16} {:>10.2} {}", now(), pid, comm, ns as f64 / 1e6, host);
        }
    };
    tracer.run(print)?;
    tracer.finish(print)?;
    Ok(())
}

/// The local time as `HH:MM:SS`.
fn now() -> String {
    // SAFETY: time and localtime_r are given valid pointers.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}
