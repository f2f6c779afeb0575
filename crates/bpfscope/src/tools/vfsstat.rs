//! `vfsstat [-p PID] [interval] [count]`: BCC's vfsstat. Counts VFS calls
//! with fentry where the kernel allows it, else kprobes, else (kernels with
//! neither) the system calls that lead to them, saying so.

use clap::Parser;

use super::Tool;
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "vfsstat",
    summary: "Count some VFS calls, per second.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/vfsstat.bt");

#[derive(Parser)]
#[command(name = "vfsstat", about = "Count some VFS calls.", after_help = EXAMPLES)]
struct Args {
    /// Trace this PID only.
    #[arg(short, long)]
    pid: Option<u32>,
    /// Output interval, in seconds.
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// Number of outputs.
    #[arg(default_value_t = 99_999_999)]
    count: u64,
    /// Print the programs (fentry, kprobe and tracepoint versions) and exit.
    #[arg(long, hide = true)]
    ebpf: bool,
    /// Serve the results at http://ADDR/metrics for Prometheus, until
    /// stopped, instead of printing them (bpfscope's addition).
    #[arg(long, value_name = "ADDR")]
    export: Option<String>,
}

const EXAMPLES: &str = "examples:\n    vfsstat             # count some VFS calls per second\n    vfsstat -p 185      # trace PID 185 only\n    vfsstat 2 5         # print 2 second summaries, 5 times";

/// The columns: their maps, the VFS functions counted in them, and the
/// system calls that stand in for them at tracepoints.
const COLUMNS: &[(&str, &str, &str)] = &[
    ("read", "vfs_read", "{read,readv,pread64,preadv,preadv2}"),
    ("write", "vfs_write", "{write,writev,pwrite64,pwritev,pwritev2}"),
    ("fsync", "vfs_fsync_range", "{fsync,fdatasync,sync_file_range}"),
    ("open", "vfs_open", "{open,openat,openat2,open_by_handle_at}"),
    ("create", "vfs_create", "{creat,mknod,mknodat}"),
    ("unlink", "vfs_unlink", "unlink"),
    ("mkdir", "vfs_mkdir", "{mkdir,mkdirat}"),
    ("rmdir", "vfs_rmdir", "rmdir"),
];

/// What the counters attach to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Fentry,
    Kprobe,
    Syscalls,
}

fn probes(mechanism: Mechanism, traceable: &dyn Fn(&str) -> bool) -> String {
    let filter = "/$3 == 0 || pid == $3/";
    let mut out = String::new();
    for (map, function, syscalls) in COLUMNS {
        let line = match mechanism {
            Mechanism::Fentry | Mechanism::Kprobe if !traceable(function) => continue,
            Mechanism::Fentry => format!("fentry:{function} {filter} {{ @{map} = count(); }}\n"),
            Mechanism::Kprobe => format!("kprobe:{function} {filter} {{ @{map} = count(); }}\n"),
            // unlinkat with AT_REMOVEDIR removes a directory.
            Mechanism::Syscalls if *map == "unlink" => format!(
                "tracepoint:syscalls:sys_enter_unlink {filter} {{ @unlink = count(); }}\n\
                 tracepoint:syscalls:sys_enter_unlinkat {filter} {{ if (args.flag & 0x200) {{ @rmdir = count(); }} else {{ @unlink = count(); }} }}\n"
            ),
            Mechanism::Syscalls => {
                format!("tracepoint:syscalls:sys_enter_{syscalls} {filter} {{ @{map} = count(); }}\n")
            }
        };
        out.push_str(&line);
    }
    out
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("vfsstat", args)?;
    let settings = Settings {
        params: vec![a.interval.to_string(), a.count.to_string(), a.pid.unwrap_or(0).to_string()],
        ..Settings::default()
    };
    let kernel = bpfscope_probes::kernel::functions().unwrap_or_default();
    let traceable = |f: &str| kernel.traceable.contains(f);
    let program = |m: Mechanism| PROGRAM.replace("__PROBES__", &probes(m, &traceable));
    if let Some(addr) = &a.export {
        return export(addr, &settings, &traceable);
    }
    if a.ebpf {
        for m in [Mechanism::Fentry, Mechanism::Kprobe, Mechanism::Syscalls] {
            super::outln!("{}", program(m))?;
        }
        return Ok(());
    }
    match super::run("vfsstat", program(Mechanism::Fentry), settings.clone()) {
        Err(Error::Run(bpfscope_runtime::RunError::FentryRefused(_))) => {}
        other => return other,
    }
    if bpfscope_runtime::attach::kernel_has_kprobes(&settings.features) {
        return super::run("vfsstat", program(Mechanism::Kprobe), settings);
    }
    eprintln!(
        "vfsstat: this kernel allows neither fentry nor kprobes; counting system calls at their tracepoints instead \
         (READ/s counts read, readv and pread calls; reads the kernel makes itself, as for exec, are not counted)"
    );
    super::run("vfsstat", program(Mechanism::Syscalls), settings)
}

/// `--export`: the counting probes alone (the printing program divides
/// and clears its maps each interval, which counters must not do), on
/// fentry, kprobes or tracepoints as the kernel allows.
fn export(addr: &str, settings: &Settings, traceable: &dyn Fn(&str) -> bool) -> Result<(), Error> {
    let maps: Vec<(String, &[&str])> = COLUMNS.iter().map(|(map, _, _)| (format!("@{map}"), &[][..])).collect();
    let maps: Vec<(&str, &[&str])> = maps.iter().map(|(m, l)| (m.as_str(), *l)).collect();
    let program = |m: Mechanism| format!("config = {{ print_maps_on_exit = false }}\n{}", probes(m, traceable));
    let session = || match super::start("vfsstat", program(Mechanism::Fentry), settings) {
        Err(Error::Run(bpfscope_runtime::RunError::FentryRefused(_))) => {
            let kprobes = bpfscope_runtime::attach::kernel_has_kprobes(&settings.features);
            super::start("vfsstat", program(if kprobes { Mechanism::Kprobe } else { Mechanism::Syscalls }), settings)
        }
        other => other,
    };
    super::export(addr, "vfsstat", session, &maps, None)
}
