//! The whole pipeline on arbitrary input, under libFuzzer: parse, print,
//! check, resolve the probes and compile (the same function the test
//! suite's fuzz pass runs). Any panic, hang or overflow is a bug.
#![no_main]

#[path = "../../crates/compiler/tests/pipeline/mod.rs"]
mod pipeline;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pipeline::run(&String::from_utf8_lossy(data));
});
