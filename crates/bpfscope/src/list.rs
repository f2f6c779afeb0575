//! `-l`: listing probes.

use std::io::Write;

use bpfscope_lang::attach::Provider;
use bpfscope_lang::{Diagnostics, ParseOptions, Source, parse};

use crate::cli::{Cli, ProgramSource};
use crate::load;
use bpfscope::error::Error;

/// `-l`: the probes a pattern matches, or (`-l -e PROGRAM`, `-l FILE`)
/// those a program attaches to.
pub fn list(cli: &Cli) -> Result<(), Error> {
    let program_file = cli.args.first().filter(|a| cli.program.is_none() && std::path::Path::new(a).is_file());
    let lines = match (&cli.program, program_file) {
        (Some(p), _) => program_probes(&load(ProgramSource::Inline(p.clone()))?, cli)?,
        (None, Some(f)) => program_probes(&load(ProgramSource::File(f.clone()))?, cli)?,
        (None, None) => {
            let pattern = cli.args.first().map_or("*", String::as_str);
            let options = bpfscope_probes::list::ListOptions { pid: cli.pid, verbose: cli.verbose };
            let listing = bpfscope_probes::list::list(pattern, &options).map_err(|e| Error::Usage(e.to_string()))?;
            for warning in &listing.warnings {
                eprintln!("bpfscope: warning: {warning}");
            }
            let lines = listing.lines;
            if lines.is_empty() {
                // As bpftrace: no match is not an error.
                eprintln!("bpfscope: no probes match '{pattern}'");
            }
            lines
        }
    };
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}

/// The concrete attach points of a program, as `probe` names them.
fn program_probes(source: &Source, cli: &Cli) -> Result<Vec<String>, Error> {
    let program =
        parse(source, &ParseOptions::with_btf(Vec::new())).map_err(|d| Error::Program(source.clone(), d.into()))?;
    let options = bpfscope_probes::ResolveOptions { pid: cli.pid, executable: None };
    let resolved =
        bpfscope_probes::resolve(&program, &options).map_err(|d| Error::Program(source.clone(), Diagnostics(d)))?;
    Ok(resolved
        .probes
        .iter()
        .flatten()
        .filter(|c| !matches!(c.attach.provider, Provider::Begin | Provider::End))
        .map(|c| c.attach.canonical())
        .collect())
}
