//! `bashreadline [-s [LIB]]`: BCC's bashreadline. The lines readline
//! returns in every bash, from a uretprobe.

use std::path::Path;

use clap::Parser;

use super::Tool;
use bpfscope::error::Error;
use bpfscope::pipeline::Settings;

pub const TOOL: Tool = Tool {
    name: "bashreadline",
    summary: "Print entered bash commands from all running shells.",
    main,
    args: <Args as clap::CommandFactory>::command,
};

const PROGRAM: &str = include_str!("../../../../tools/bashreadline.bt");

#[derive(Parser)]
#[command(name = "bashreadline", about = "Print entered bash commands from all running shells")]
struct Args {
    /// specify the location of libreadline.so library. Default is /lib/libreadline.so
    #[arg(short, long, num_args = 0..=1, default_missing_value = "/lib/libreadline.so")]
    shared: Option<String>,
}

fn main(args: &[String]) -> Result<(), Error> {
    let a: Args = super::parse_args("bashreadline", args)?;
    let binary = a.shared.unwrap_or_else(|| "/bin/bash".to_string());
    // As BCC: where bash has it, readline_internal_teardown returns the
    // line after history expansion.
    let teardown = bpfscope_probes::user::Binary::open(Path::new(&binary))
        .is_ok_and(|b| b.function("readline_internal_teardown").is_some());
    let function = if teardown { "readline_internal_teardown" } else { "readline" };
    let program = PROGRAM.replace("__BINARY__", &binary).replace("__FUNCTION__", function);
    super::run("bashreadline", program, Settings::default())
}
