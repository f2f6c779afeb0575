//! What programs cost: instructions, and the per-CPU scratch buffer only
//! programs with byte values too big for the stack have (no kernel needed:
//! nothing is loaded; tracepoints are resolved from tracefs where it is).

use bpfscope_compiler::{CompileOptions, Compiled, compile};
use bpfscope_lang::check::{CheckOptions, KernelTypes, check};
use bpfscope_lang::{ParseOptions, Source, parse};

/// Compiles a program; `None` where its attach points cannot be resolved
/// here (no tracefs).
fn compiled(program: &str) -> Option<Compiled> {
    let source = Source::new("sample", program);
    let parsed = parse(&source, &ParseOptions::default()).expect("parses");
    let resolved = bpfscope_probes::resolve(&parsed, &Default::default()).ok()?;
    let kernel = KernelTypes(std::rc::Rc::new(bpfscope_probes::btf::LazyKernelStructs::default()));
    let options = CheckOptions { kernel_types: Some(kernel.clone()), ..CheckOptions::default() };
    let checked = check(parsed, &source, &options).map_err(|d| d.render(&source)).expect("checks");
    let compile_options = CompileOptions { kernel_types: Some(kernel), ..CompileOptions::default() };
    Some(compile(&checked, &resolved, &compile_options).map_err(|d| d.render(&source)).expect("compiles"))
}

/// The size of the program's scratch buffer, if it has one.
fn scratch(c: &Compiled) -> Option<u32> {
    c.maps.iter().find(|m| m.name == "AT_scratch").map(|m| m.value_size)
}

fn instructions(c: &Compiled) -> usize {
    c.programs.iter().map(|p| p.code.insns.len()).sum()
}

/// The common one-liners keep their strings on the stack: no scratch
/// buffer, no lookup, as many instructions as before strings could be
/// longer than the stack.
#[test]
fn short_strings_stay_on_the_stack() {
    let Some(c) = compiled("tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }") else { return };
    assert_eq!(scratch(&c), None);
    // 68 since losses are also counted per program (9 instructions on the
    // path taken when the event buffer is full, never otherwise).
    assert_eq!(instructions(&c), 68);
    let c = compiled(r#"BEGIN { $a = "x"; if ($a == "x") { printf("%s %s\n", $a, comm); } }"#).expect("compiles");
    assert_eq!(scratch(&c), None);
}

/// A 1 KiB string (max_strlen's default) goes to the scratch buffer, sized
/// to what the program uses, and is copied and zeroed with a helper call
/// each rather than instructions per 8 bytes.
#[test]
fn long_strings_go_to_a_scratch_buffer_sized_to_the_program() {
    let program = r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }"#;
    let Some(c) = compiled(program) else { return };
    let size = scratch(&c).expect("a scratch buffer");
    assert!((1024..4096).contains(&size), "{size}");
    assert!(instructions(&c) < 80, "{}", instructions(&c));
    // Five 1 KiB strings at once: far more than the 512-byte stack.
    let c = compiled(
        r#"BEGIN { $a = str_concat("a", "b"); $b = str_concat($a, "c"); @[$a, $b] = (str_concat($b, "d"), $a); printf("%s %s\n", $a, $b); }"#,
    )
    .expect("compiles");
    assert!(scratch(&c).expect("a scratch buffer") > 5 * 1024);
}

/// Where even the scratch buffer is too small, the error says so.
#[test]
fn the_scratch_buffer_has_a_limit_and_says_so() {
    let source =
        Source::new("sample", "config = { max_strlen = 40000 } BEGIN { printf(\"%s\\n\", str_concat(\"a\", \"b\")); }");
    let parsed = parse(&source, &ParseOptions::default()).expect("parses");
    let resolved = bpfscope_probes::resolve(&parsed, &Default::default()).expect("resolves");
    let checked = check(parsed, &source, &CheckOptions::default()).expect("checks");
    let err = compile(&checked, &resolved, &CompileOptions::default()).expect_err("too big").render(&source);
    assert!(err.contains("more than the 32768 bytes of scratch memory"), "{err}");
    assert!(err.contains("max_strlen"), "{err}");
}
