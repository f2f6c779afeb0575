//! What programs cost: instructions, and the per-CPU scratch buffer only
//! programs with byte values too big for the stack have (no kernel needed:
//! nothing is loaded; tracepoints' formats are the ones saved in
//! `tests/golden`, so no root either).

use bpfscope_compiler::{CompileOptions, Compiled, compile};
use bpfscope_lang::check::{CheckOptions, KernelTypes, check};
use bpfscope_lang::{ParseOptions, Source, parse};

/// Compiles a program (tracepoints' formats from `tests/golden`).
fn compiled(program: &str) -> Compiled {
    compiled_offline(program).0
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
    let c = compiled("tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }");
    assert_eq!(scratch(&c), None);
    // 67: losses are also counted per program (9 instructions on the path
    // taken when the event buffer is full, never otherwise), and a count
    // adds its 1 without loading it twice.
    assert_eq!(instructions(&c), 67);
    let c = compiled(r#"BEGIN { $a = "x"; if ($a == "x") { printf("%s %s\n", $a, comm); } }"#);
    assert_eq!(scratch(&c), None);
}

/// A 1 KiB string (max_strlen's default) goes to the scratch buffer, sized
/// to what the program uses, and is copied and zeroed with a helper call
/// each rather than instructions per 8 bytes.
#[test]
fn long_strings_go_to_a_scratch_buffer_sized_to_the_program() {
    let program = r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }"#;
    let c = compiled(program);
    let size = scratch(&c).expect("a scratch buffer");
    assert!((1024..4096).contains(&size), "{size}");
    assert!(instructions(&c) < 80, "{}", instructions(&c));
    // Five 1 KiB strings at once: far more than the 512-byte stack.
    let c = compiled(
        r#"BEGIN { $a = str_concat("a", "b"); $b = str_concat($a, "c"); @[$a, $b] = (str_concat($b, "d"), $a); printf("%s %s\n", $a, $b); }"#,
    );
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

/// `program` compiled with its tracepoints' formats from the files in
/// `tests/golden` (saved from a 6.18 kernel), and every other attach point
/// resolved here: the listing needs no root and no tracefs.
fn compiled_offline(program: &str) -> (Compiled, Source) {
    use bpfscope_probes::resolve::{Detail, Site};
    let source = Source::new("sample", program);
    let parsed = parse(&source, &ParseOptions::default()).expect("parses");
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut probes = Vec::new();
    for probe in &parsed.probes {
        let mut sites = Vec::new();
        for ap in &probe.attach_points {
            let bpfscope_lang::attach::Target::Tracepoint { category, event } = &ap.target else {
                let one = bpfscope_lang::ast::Program { probes: vec![probe.clone()], ..parsed.clone() };
                let resolved = bpfscope_probes::resolve(&one, &Default::default()).expect("resolves here");
                sites.extend(resolved.probes.into_iter().flatten());
                continue;
            };
            let text = std::fs::read_to_string(golden.join(format!("{event}.format"))).expect("a saved format");
            let format = bpfscope_probes::tracefs::parse_format(&text).expect("a format");
            let detail = Detail::Tracepoint {
                category: category.clone(),
                event: event.clone(),
                format: std::sync::Arc::new(format),
            };
            sites.push(Site { attach: ap.clone(), detail });
        }
        probes.push(sites);
    }
    let resolved = bpfscope_probes::Resolved { probes, ..Default::default() };
    let kernel = KernelTypes(std::rc::Rc::new(bpfscope_probes::btf::LazyKernelStructs::default()));
    let options = CheckOptions {
        kernel_types: Some(kernel.clone()),
        probe_args: resolved.args_types(64),
        ..CheckOptions::default()
    };
    let checked = check(parsed, &source, &options).map_err(|d| d.render(&source)).expect("checks");
    let compile_options = CompileOptions { kernel_types: Some(kernel), ..CompileOptions::default() };
    let c = compile(&checked, &resolved, &compile_options).map_err(|d| d.render(&source)).expect("compiles");
    (c, source)
}

/// `-d insns` of the most common one-liner, pinned: a change in what it
/// compiles to shows here, in review. `BPFSCOPE_BLESS=1` writes the new
/// listing where a change is meant.
#[test]
fn the_openat_one_liners_instructions_are_pinned() {
    let (c, source) = compiled_offline("tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }");
    let listing = c.listing(&source);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/openat_comm_count.insns");
    if std::env::var_os("BPFSCOPE_BLESS").is_some() {
        std::fs::write(&path, &listing).expect("writes");
    }
    let golden = std::fs::read_to_string(&path).expect("the golden listing");
    assert_eq!(listing, golden, "the listing changed (BPFSCOPE_BLESS=1 writes it where that is meant)");
}

/// The instruction counts of five common one-liners, no larger than when
/// they were pinned (lower them here when a change saves instructions).
#[test]
fn common_one_liners_do_not_grow() {
    let pinned = [
        ("tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }", 67),
        ("profile:hz:99 { @[kstack] = count(); }", 72),
        (r#"BEGIN { printf("hello\n"); exit(); }"#, 79),
        ("tracepoint:syscalls:sys_exit_read /args.ret > 0/ { @bytes = hist(args.ret); }", 112),
        ("kretprobe:vfs_read { @ns[comm] = sum(retval); }", 71),
    ];
    let mut report = Vec::new();
    for (program, most) in pinned {
        let (c, _) = compiled_offline(program);
        let n = instructions(&c);
        if n > most {
            report.push(format!("{program}: {n} instructions, pinned at {most}"));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
