//! A bounded fuzz pass over the whole front end and the compiler: programs
//! from the corpus (`fuzz/seeds`, every builtin's sample, and the inputs
//! of past failures in `fuzz/regressions`), mutated by bytes, by tokens of
//! the language and by splicing programs together, are parsed, checked,
//! resolved and compiled. Any panic fails the pass with the input that
//! caused it. It runs for `BPFSCOPE_FUZZ_SECONDS` (10 by default; CI runs
//! 60), without a nightly toolchain; `scripts/fuzz.sh SECONDS` runs it as
//! long as wanted (and libFuzzer on the front end, where nightly is).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

mod pipeline;

use pipeline::run;

/// Words the mutator inserts: the language's own tokens.
const TOKENS: &[&str] = &[
    "BEGIN",
    "END",
    "begin",
    "kprobe:vfs_read",
    "kretprobe:vfs_read",
    "uprobe:/bin/true:main",
    "tracepoint:syscalls:sys_enter_openat",
    "interval:ms:1",
    "profile:hz:99",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ";",
    ",",
    "@",
    "@m[",
    "$x",
    "$i",
    "=",
    "==",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<<",
    ">>",
    "&&",
    "||",
    "!",
    "~",
    "?",
    ":",
    ".",
    "->",
    "\"",
    "\"a\"",
    "0",
    "1",
    "-1",
    "0xffffffffffffffff",
    "if",
    "else",
    "while",
    "for",
    "unroll(3)",
    "break",
    "continue",
    "return",
    "let",
    "config = { max_strlen = 8 }",
    "macro m($a) { $a + 1 }",
    "fn f($a: int64): int64 { return $a; }",
    "struct s { int a; char b[4]; }",
    "(uint8)",
    "(struct s *)",
    "$1",
    "$#",
    "arg0",
    "retval",
    "args",
    "comm",
    "pid",
    "tid",
    "nsecs",
    "kstack",
    "ustack",
    "probe",
    "func",
    "count()",
    "sum(",
    "hist(",
    "lhist(",
    "stats(",
    "avg(",
    "min(",
    "max(",
    "str(",
    "buf(",
    "printf(\"%d %s\\n\", ",
    "print(",
    "clear(",
    "delete(",
    "exit()",
    "(1, \"a\")",
    "(a = 1, b = 2)",
    ".0",
    ".a",
    "sizeof(",
    "offsetof(",
    "typeof(",
    "#define X 3\n",
    "#include <linux/sched.h>\n",
    "#if 1\n",
    "#endif\n",
    "\n",
    " ",
];

/// Whole statements, put at the start of a block: programs that still
/// parse and check, so that the compiler gets most of the inputs.
const STATEMENTS: &[&str] = &[
    "$x = 1;",
    "$x = (int8)-1;",
    "@m[1] = count();",
    "@m[comm, pid] = sum(2);",
    "@h = hist(pid);",
    "@l = lhist(pid, 0, 100, 10);",
    "printf(\"%d %s\\n\", pid, comm);",
    "if (pid > 1) { @a = 1; } else { @a = 2; }",
    "$i = 0; while ($i < 3) { $i++; }",
    "@s = str(\"abc\");",
    "$t = (1, \"a\"); @t = $t;",
    "@r = (a = 1, b = \"x\");",
    "delete(@m[1]);",
    "clear(@m);",
    "print(@m);",
    "$y = $x / 0;",
    "$z = 18446744073709551615 + 1;",
    "@k = kstack;",
    "@u = ustack(3);",
    "$p = (uint64 *)0; $v = *$p;",
    "@x = @x + 1;",
    "for ($kv : @m) { print($kv.0); }",
    "@b = buf(\"ab\", 2);",
    "$c = sizeof($x);",
    "@j = strncmp(\"a\", \"b\", 1);",
    "unroll(2) { @q = 1; }",
    "@e = nsecs - elapsed;",
    "@st = stats(3); @av = avg(4); @mn = min(5); @mx = max(6);",
];

/// A small, fast, seeded generator (xorshift): runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out: Vec<String> =
        bpfscope_lang::registry::REGISTRY.iter().map(|b| b.sample.to_string()).filter(|s| !s.is_empty()).collect();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "bt")) {
            // As libFuzzer feeds them: bytes, not always UTF-8.
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    out
}

/// One mutation of `input`, on a char boundary.
fn mutate(input: &str, corpus: &[String], rng: &mut Rng) -> String {
    let mut s = input.to_string();
    // Half the time one change, else up to five.
    let changes = if rng.below(2) == 0 { 1 } else { 1 + rng.below(5) };
    for _ in 0..changes {
        let at = floor(&s, rng.below(s.len() + 1));
        match rng.below(7) {
            5 | 6 => {
                // A statement at the start of some block.
                let blocks: Vec<usize> = s.match_indices('{').map(|(i, _)| i + 1).collect();
                if !blocks.is_empty() {
                    let at = blocks[rng.below(blocks.len())];
                    s.insert_str(at, &format!(" {} ", STATEMENTS[rng.below(STATEMENTS.len())]));
                }
            }
            0 => s.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            1 => {
                let end = floor(&s, (at + 1 + rng.below(8)).min(s.len()));
                s.replace_range(at..end, "");
            }
            2 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = floor(other, rng.below(other.len() + 1));
                let to = floor(other, (from + rng.below(40)).min(other.len()));
                s.insert_str(at, &other[from..to]);
            }
            3 => {
                let end = floor(&s, (at + 1).min(s.len()));
                let byte = [b'(', b')', b'{', b'}', b'"', b'\\', b'$', b'@', b'0', b'9', b'\n', b'#'][rng.below(12)];
                s.replace_range(at..end, &(byte as char).to_string());
            }
            _ => {
                // A number at its edges.
                let n = ["0", "-1", "4294967296", "9223372036854775807", "18446744073709551615", "1024"][rng.below(6)];
                s.insert_str(at, n);
            }
        }
    }
    s
}

fn floor(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[test]
fn fuzz_pass() {
    let seconds = std::env::var("BPFSCOPE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let corpus = corpus();
    assert!(corpus.len() > 50, "the corpus: {} programs", corpus.len());
    // Quiet: a panic is reported below, with its input.
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ u64::from(std::process::id()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut crashes, mut reached) = (0u64, Vec::new(), [0u64; 4]);
    let mut one = |text: &str, crashes: &mut Vec<String>| {
        match catch_unwind(AssertUnwindSafe(|| run(text))) {
            Ok(stage) => reached[stage] += 1,
            Err(_) => crashes.push(text.to_string()),
        }
        runs += 1;
    };
    // Every corpus entry as it is first, then mutations until the time is up.
    for text in &corpus {
        one(text, &mut crashes);
    }
    while Instant::now() < deadline && crashes.len() < 5 {
        let text = mutate(&corpus[rng.below(corpus.len())], &corpus, &mut rng);
        one(&text, &mut crashes);
    }
    let _ = std::panic::take_hook();
    eprintln!(
        "fuzz pass: {runs} programs in {seconds} s ({} refused by the parser, {} by the checker, {} by resolution, \
         {} compiled or refused by the compiler), {} panics",
        reached[0],
        reached[1],
        reached[2],
        reached[3],
        crashes.len()
    );
    assert!(crashes.is_empty(), "inputs that panic (add each to fuzz/regressions/ with its fix):\n{crashes:#?}");
}
