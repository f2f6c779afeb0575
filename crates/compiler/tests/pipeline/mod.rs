//! The whole pipeline on one input, shared by the fuzz pass
//! (`tests/fuzz_pass.rs`) and the libFuzzer target (`fuzz/`).

use bpfscope_compiler::{CompileOptions, compile};
use bpfscope_lang::check::{CheckOptions, check};
use bpfscope_lang::{ParseOptions, Source, parse};

/// The pipeline on one input; any error is fine, a panic is not. Returns
/// how far the input went: 0 refused by the parser, 1 by the checker, 2 by
/// resolution, 3 reached the compiler.
pub fn run(text: &str) -> usize {
    let source = Source::new("fuzz", text);
    let params = vec!["1".to_string(), "abc".to_string()];
    let program = match parse(&source, &ParseOptions::with_btf(params.clone())) {
        Ok(p) => p,
        Err(d) => {
            let _ = d.render(&source);
            return 0;
        }
    };
    let _ = bpfscope_lang::printer::print_program(&program);
    let checked = match check(program, &source, &CheckOptions { params: params.clone(), ..CheckOptions::default() }) {
        Ok(c) => c,
        Err(ds) => {
            let _ = ds.render(&source);
            return 1;
        }
    };
    let Ok(resolved) = bpfscope_probes::resolve(&checked.program, &Default::default()) else { return 2 };
    if let Err(d) = compile(&checked, &resolved, &CompileOptions { params, ..CompileOptions::default() }) {
        let _ = d.render(&source);
    }
    3
}
