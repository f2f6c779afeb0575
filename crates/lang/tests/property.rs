//! No input, however malformed, makes the front end panic or hang: random
//! bytes, random tokens, and valid programs with bytes changed, removed or
//! repeated all end in a tree or in diagnostics whose spans lie inside the
//! text and render.

use bpfscope_lang::check::{CheckOptions, check};
use bpfscope_lang::{ParseOptions, Source, parse};
use proptest::prelude::*;

/// Runs the whole front end; panics only if it does something wrong.
fn front_end(text: &str) {
    let src = Source::new("fuzz", text);
    match parse(&src, &ParseOptions::with_btf(vec!["1".into(), "abc".into()])) {
        Err(d) => {
            let span = d.span.expect("parse errors have a place");
            assert!(
                span.end as usize <= text.len() && span.start <= span.end,
                "span {span:?} outside {} bytes",
                text.len()
            );
            assert!(!d.render(&src).is_empty());
        }
        Ok(program) => {
            let printed = bpfscope_lang::printer::print_program(&program);
            assert!(printed.starts_with("Program"));
            let options = CheckOptions { params: vec!["1".into(), "abc".into()], ..CheckOptions::default() };
            if let Err(ds) = check(program, &src, &options) {
                for d in &ds.0 {
                    if let Some(span) = d.span {
                        assert!(span.end as usize <= text.len(), "span {span:?} outside {} bytes", text.len());
                    }
                }
                assert!(!ds.render(&src).is_empty());
            }
        }
    }
}

/// Programs that exercise most of the grammar, to mutate.
const SEEDS: &[&str] = &[
    "kprobe:vfs_read /pid > 100/ { @[comm] = count(); @bytes = hist(arg2); }",
    "BEGIN { printf(\"%-8s %d\\n\", comm, pid); $x = (1, \"a\"); print($x.0); exit(); }",
    "#define N 4\nstruct S { int a; char b[8]; }\nk:f { $s = (struct S *)arg0; if ($s->a > N) { @x[$s->a, comm] = sum(1); } else if ($s->a) { @y++; } else { return; } }",
    "config = { max_strlen = 64 }\nmacro m($v, @m, e) { $v += e; @m[$v] = 1; }\nBEGIN { $a = 1; m($a, @q, 2); for ($kv : @q) { print($kv); } for ($i : 0..3) { unroll(2) { $a--; } } }",
    "t:syscalls:sys_enter_openat { @[str(args.filename)] = count(); } interval:s:1 { print(@, 10); clear(@); }",
    "u:/bin/bash:readline { $s = sizeof(uint64) + offsetof(struct x, a.b); $t = $1 ? (uint8)$s : ~$s; $r = (a=1, b=\"x\"); let $z: uint32 = { 5 }; }",
];

fn mutate(seed: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for &(pos, op, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = pos % bytes.len();
        match op % 4 {
            0 => bytes[i] = byte,
            1 => {
                bytes.remove(i);
            }
            2 => bytes.insert(i, byte),
            _ => {
                let end = (i + usize::from(byte % 16)).min(bytes.len());
                let chunk = bytes[i..end].to_vec();
                bytes.splice(i..i, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

const TOKENS: &[&str] = &[
    "BEGIN", "END", "kprobe:f", "u:/b:f", "{", "}", "(", ")", "[", "]", ";", ",", ":", ".", "..", "->", "?", "=", "==",
    "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<<", ">>=", "++", "--", "&&", "||", "$x", "$1", "$#", "@", "@m",
    "if", "else", "for", "while", "unroll", "let", "return", "break", "macro", "config", "struct", "sizeof",
    "offsetof", "typeof", "count()", "printf", "\"s\"", "'c'", "0x10", "1e3", "7", "#define", "#if", "\n", " ", "//",
    "/*", "*/", "pid", "comm", "args", "retval",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        front_end(&text);
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        front_end(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..60)) {
        front_end(&tokens.join(" "));
    }

    #[test]
    fn mutated_programs(seed in proptest::sample::select(SEEDS), edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        front_end(&mutate(seed, &edits));
    }
}

#[test]
fn seeds_are_valid_programs() {
    for seed in SEEDS {
        let src = Source::new("seed", *seed);
        let program =
            parse(&src, &ParseOptions::with_btf(vec!["1".into()])).unwrap_or_else(|d| panic!("{}", d.render(&src)));
        let options = CheckOptions { params: vec!["1".into()], ..CheckOptions::default() };
        check(program, &src, &options).unwrap_or_else(|d| panic!("{}", d.render(&src)));
    }
}
