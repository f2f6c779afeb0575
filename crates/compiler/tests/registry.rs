//! Every entry of the language's registry that this version builds has
//! code generation: its sample program parses, checks and compiles (no
//! kernel needed: nothing is loaded). Every entry not built is refused by
//! the checker with its hint.

use bpfscope_compiler::{CompileOptions, compile};
use bpfscope_lang::check::{CheckOptions, KernelTypes, check};
use bpfscope_lang::registry::{REGISTRY, Status};
use bpfscope_lang::{ParseOptions, Source, parse};

fn compiles(program: &str) -> Result<(), String> {
    let source = Source::new("sample", program);
    let parsed = parse(&source, &ParseOptions::default()).map_err(|d| d.render(&source))?;
    let resolved = bpfscope_probes::resolve(&parsed, &Default::default())
        .map_err(|d| bpfscope_lang::Diagnostics(d).render(&source))?;
    let kernel = KernelTypes(std::rc::Rc::new(bpfscope_probes::btf::LazyKernelStructs::default()));
    let options = CheckOptions { kernel_types: Some(kernel.clone()), ..CheckOptions::default() };
    let checked = check(parsed, &source, &options).map_err(|d| d.render(&source))?;
    let compile_options =
        CompileOptions { kernel_types: Some(kernel), pid_namespace: Some((0, 0)), ..CompileOptions::default() };
    compile(&checked, &resolved, &compile_options).map(|_| ()).map_err(|d| d.render(&source))
}

#[test]
fn every_built_entry_compiles_its_sample() {
    let mut failures = Vec::new();
    for b in REGISTRY {
        if matches!(b.status, Status::NotBuilt(_)) || b.sample.is_empty() {
            continue;
        }
        if let Err(e) = compiles(b.sample) {
            failures.push(format!("{}: {}\n{e}", b.name, b.sample));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_entry_not_built_is_refused_with_its_hint() {
    for b in REGISTRY {
        let Status::NotBuilt(hint) = b.status else { continue };
        let program = match b.kind {
            bpfscope_lang::registry::Kind::Aggregation => format!("BEGIN {{ @x = {}(1, 1, 1); }}", b.name),
            _ if b.name == "dw_ustack" => "BEGIN { print(dw_ustack); }".to_string(),
            _ => format!("BEGIN {{ {}(0); }}", b.name),
        };
        let err = compiles(&program).expect_err(b.name);
        assert!(err.contains(hint) || err.contains("dw_ustack needs DWARF"), "{}: {err}", b.name);
    }
}
