//! `trace -e PROGRAM`: in place of BCC's trace, whose printf-style probe
//! specifications are not supported, a program in bpfscope's language,
//! run as `bpfscope -q -e` runs it.

use clap::Parser;

use super::Tool;
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "trace",
    summary: "Trace probes with a program in the bpftrace language.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const EXAMPLES: &str = "examples:
    trace -e 'uretprobe:c:readline { printf(\"%s\\n\", str(retval)); }'
    trace -p 181 -e 'tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args.filename)); }'
BCC's printf-style probe specifications ('do_sys_open \"%s\", arg2') are not supported.";

#[derive(Parser)]
#[command(name = "trace", about = "Trace probes with a program in the bpftrace language", after_help = EXAMPLES)]
struct Args {
    /// trace only this pid (ends with it)
    #[arg(short, long)]
    pid: Option<u32>,
    /// the program
    #[arg(short = 'e', long = "expression", value_name = "PROGRAM")]
    program: String,
    /// the program's positional parameters ($1, $2, ...)
    params: Vec<String>,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("trace", args)?;
    // As `bpfscope -q -e`: maps print at the end.
    let source = bpfscope_lang::Source::new("trace", a.program);
    let settings = Settings { pid: a.pid, params: a.params, quiet: true, ..Settings::default() };
    match bpfscope::pipeline::run_program(&source, &settings)? {
        0 => Ok(()),
        code => Err(Error::Exit(code)),
    }
}
