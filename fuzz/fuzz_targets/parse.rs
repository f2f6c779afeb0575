//! The whole front end on arbitrary input: parse, print, expand, check and
//! render the diagnostics. Any panic, hang or overflow is a bug.
#![no_main]

use bpfscope_lang::check::{CheckOptions, check};
use bpfscope_lang::{ParseOptions, Source, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let src = Source::new("fuzz", text.as_ref());
    let params = vec!["1".to_string(), "abc".to_string()];
    match parse(&src, &ParseOptions::with_btf(params.clone())) {
        Err(d) => {
            let _ = d.render(&src);
        }
        Ok(program) => {
            let _ = bpfscope_lang::printer::print_program(&program);
            let options = CheckOptions { params, ..CheckOptions::default() };
            if let Err(ds) = check(program, &src, &options) {
                let _ = ds.render(&src);
            }
        }
    }
});
