//! How fast the consumer turns printf events into text: one million events
//! of the getppid benchmark's program (`printf("%d %s %d\n", tid, comm,
//! 42)`), laid out as its compiled program writes them into the ring buffer
//! (the event kind, the printf's id, each argument at the offset the
//! compiler gave it), replayed through the formatter the command line uses
//! into /dev/null, written in blocks as `-B full` does. Prints events per
//! second on one core (best of five rounds).
//!
//!   cargo bench -p bpfscope-runtime --bench consumer

use std::io::Write;
use std::time::Instant;

use bpfscope_compiler::{CompileOptions, Compiled, compile};
use bpfscope_lang::check::{CheckOptions, check};
use bpfscope_lang::{ParseOptions, Source, parse};
use bpfscope_runtime::output::printf::format_record;
use bpfscope_runtime::output::value::{Resolver, Symbolizer};

const PROGRAM: &str = r#"BEGIN { printf("%d %s %d\n", tid, comm, 42); }"#;
const EVENTS: usize = 1_000_000;

fn compiled() -> Compiled {
    let source = Source::new("bench", PROGRAM);
    let parsed = parse(&source, &ParseOptions::default()).expect("parses");
    let checked = check(parsed, &source, &CheckOptions::default()).expect("checks");
    let resolved = bpfscope_probes::resolve(&checked.program, &Default::default()).expect("resolves");
    compile(&checked, &resolved, &CompileOptions::default()).expect("compiles")
}

/// The records, back to back, each as long as the program writes it.
fn records(c: &Compiled) -> (Vec<u8>, usize) {
    let spec = &c.printfs[0];
    let size = spec.args.iter().map(|(t, off)| *off as usize + bpfscope_compiler::layout::size_of(t) as usize).max();
    let size = size.unwrap_or(16).next_multiple_of(8);
    let comms = [&b"bench_getppid"[..], b"sshd", b"kworker/0:1", b"systemd-journal"];
    let mut all = vec![0u8; size * EVENTS];
    for (i, record) in all.chunks_exact_mut(size).enumerate() {
        record[..8].copy_from_slice(&1u64.to_le_bytes());
        for ((_, off), value) in spec.args.iter().zip(0..) {
            let at = *off as usize;
            match value {
                0 => record[at..at + 8].copy_from_slice(&(1000 + i as u64 % 50_000).to_le_bytes()),
                1 => {
                    let comm = comms[i % comms.len()];
                    record[at..at + comm.len()].copy_from_slice(comm);
                }
                _ => record[at..at + 8].copy_from_slice(&42u64.to_le_bytes()),
            }
        }
    }
    (all, size)
}

fn main() {
    let c = compiled();
    let (records, size) = records(&c);
    let symbols = Symbolizer::default();
    let r = Resolver::of(&c, &[], &symbols);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create("/dev/null").expect("opens"));
    let mut scratch = Vec::with_capacity(4096);
    // What the first records print, checked so that the speed is of the
    // right output.
    let mut sample = Vec::new();
    for record in records.chunks_exact(size).take(2) {
        format_record(&c, &r, record, &mut sample).expect("a printf");
    }
    assert_eq!(String::from_utf8_lossy(&sample), "1000 bench_getppid 42\n1001 sshd 42\n");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for record in records.chunks_exact(size) {
            scratch.clear();
            format_record(&c, &r, record, &mut scratch).expect("a printf");
            out.write_all(&scratch).expect("writes");
        }
        out.flush().expect("flushes");
        best = best.min(start.elapsed().as_secs_f64());
    }
    let rate = EVENTS as f64 / best;
    println!("consumer: {EVENTS} printf events formatted in {:.1} ms: {:.2} million events/s", best * 1e3, rate / 1e6);
}
