//! Differential testing of the compiler: random well-typed programs run in
//! the kernel, and what they print must equal what the reference evaluator
//! (`bpfscope_lang::eval`) computes for them in this process.
//!
//! The generator stresses the compiler more than the parser: integers of
//! every width and signedness, casts, every arithmetic, bitwise, shift and
//! comparison operator, short-circuit logic, ternaries, compound
//! assignments, increments, branches, loops with break and continue,
//! strings (of several max_strlen) and tuples, and printf with its integer
//! widths. Each run prints
//! its seed; `BPFSCOPE_DIFF_SEED=N` replays one, `BPFSCOPE_DIFF_PROGRAMS=N`
//! sets how many programs (1000 by default).

#[macro_use]
mod support;

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bpfscope_lang::check::check;
use bpfscope_lang::{ParseOptions, Source, eval, parse};

/// xorshift64*: small, seedable, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const INT_TYPES: &[&str] = &["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"];

/// Numbers that find edge cases: zero, ones, limits of every width.
const INTERESTING: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "-1",
    "-2",
    "100",
    "127",
    "128",
    "255",
    "256",
    "-128",
    "32767",
    "-32768",
    "65535",
    "65536",
    "2147483647",
    "-2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775807",
    "0x7f",
    "0xdeadbeef",
    "0x123456789abcdef",
];

/// Builds one program: a few typed variables, statements that change
/// them, and printf lines that show expressions of them.
struct Gen {
    rng: Rng,
    /// The variables so far, with their types.
    vars: Vec<(String, &'static str)>,
    out: String,
    depth: u32,
}

impl Gen {
    fn literal(&mut self) -> String {
        let n = self.rng.pick(INTERESTING).to_string();
        if n.starts_with('-') { format!("({n})") } else { n }
    }

    /// An integer expression.
    fn expr(&mut self) -> String {
        self.depth += 1;
        let e = if self.depth > 4 { self.leaf() } else { self.compound() };
        self.depth -= 1;
        e
    }

    fn leaf(&mut self) -> String {
        if self.rng.chance(10) {
            let k = self.rng.below(3);
            return format!("@m[{k}]");
        }
        if self.rng.chance(5) {
            // An aggregation read as a number: cast, or as 0.26 reads
            // one in arithmetic (count as uint64, the others as int64).
            let map = *self.rng.pick(&["@count", "@sum", "@avg", "@min", "@max"]);
            let k = self.rng.below(2);
            return if self.rng.chance(50) { format!("(int64){map}[{k}]") } else { format!("({map}[{k}] + 0)") };
        }
        if self.rng.chance(4) {
            let (a, b) = (self.string(), self.string());
            return match self.rng.below(4) {
                0 => format!("(int64)strlen({a})"),
                1 => format!("strstr({a}, {b})"),
                2 => format!("(int64)strcontains({a}, {b})"),
                _ => format!("(int64)({a} == {b})"),
            };
        }
        if !self.vars.is_empty() && self.rng.chance(60) {
            let (name, _) = self.rng.pick(&self.vars).clone();
            return name;
        }
        if self.rng.chance(30) {
            let t = self.rng.pick(INT_TYPES);
            let lit = self.literal();
            return format!("({t}){lit}");
        }
        self.literal()
    }

    fn compound(&mut self) -> String {
        match self.rng.below(10) {
            0..=3 => {
                let op = *self.rng.pick(&["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]);
                let (a, b) = (self.expr(), self.expr());
                // Shift counts stay in range (the kernel leaves larger ones undefined).
                if op == "<<" || op == ">>" {
                    let n = self.rng.below(64);
                    return format!("({a} {op} {n})");
                }
                format!("({a} {op} {b})")
            }
            4 => {
                let op = *self.rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
                let (a, b) = (self.expr(), self.expr());
                format!("(int64)({a} {op} {b})")
            }
            5 => {
                let op = *self.rng.pick(&["&&", "||"]);
                let (a, b) = (self.expr(), self.expr());
                format!("(int64)({a} {op} {b})")
            }
            6 => {
                let t = self.rng.pick(INT_TYPES);
                let a = self.expr();
                format!("(({t}){a})")
            }
            7 => {
                let op = *self.rng.pick(&["-", "~", "!"]);
                let a = self.expr();
                if op == "!" { format!("(int64)(!{a})") } else { format!("({op}{a})") }
            }
            8 => {
                let (c, a, b) = (self.expr(), self.expr(), self.expr());
                format!("({c} ? {a} : {b})")
            }
            _ => self.leaf(),
        }
    }

    /// A string expression: a literal, two joined, or one read with str()
    /// (cut as bpftrace 0.26 cuts it, to max_strlen or a length).
    fn string(&mut self) -> String {
        let lit = |g: &mut Gen| g.rng.pick(&["\"\"", "\"a\"", "\"ab\"", "\"hello\"", "\"lo\"", "\"x\""]).to_string();
        if self.rng.chance(20) {
            let (a, b) = (lit(self), lit(self));
            return format!("str_concat({a}, {b})");
        }
        if self.rng.chance(15) {
            let a = lit(self);
            return match self.rng.below(3) {
                0 => format!("str({a})"),
                _ => format!("str({a}, {})", self.rng.below(8)),
            };
        }
        lit(self)
    }

    fn line(&mut self, indent: usize, text: &str) {
        self.out.push_str(&"  ".repeat(indent));
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Assigns a new value to a variable, cast to its type.
    fn assignment(&mut self, indent: usize) {
        let (name, t) = self.rng.pick(&self.vars).clone();
        let e = self.expr();
        match self.rng.below(6) {
            0 => {
                let op = *self.rng.pick(&["+=", "-=", "*=", "&=", "|=", "^=", "/=", "%=", "<<=", ">>="]);
                if op.len() == 3 {
                    let n = self.rng.below(64);
                    self.line(indent, &format!("{name} {op} {n};"));
                } else {
                    self.line(indent, &format!("{name} {op} ({e});"));
                }
            }
            1 => self.line(indent, &format!("{name}++;")),
            2 => self.line(indent, &format!("{name}--;")),
            _ => self.line(indent, &format!("{name} = ({t})({e});")),
        }
    }

    fn printf(&mut self, indent: usize) {
        let n = 1 + self.rng.below(3);
        let mut fmt = String::new();
        let mut args = Vec::new();
        for _ in 0..n {
            let conv = *self.rng.pick(&["%d", "%ld", "%u", "%lu", "%x", "%lx", "%5d", "%-6ld|", "%08lx"]);
            fmt.push_str(conv);
            fmt.push(' ');
            args.push(self.expr());
        }
        self.line(indent, &format!("printf(\"{}\\n\", {});", fmt.trim_end(), args.join(", ")));
    }

    fn statement(&mut self, indent: usize, in_loop: bool) {
        if self.rng.chance(15) {
            // A map of int64 values under small keys, emptied before exit.
            let (k, e) = (self.rng.below(3), self.expr());
            match self.rng.below(3) {
                0 => self.line(indent, &format!("@m[{k}] = (int64)({e});")),
                1 => self.line(indent, &format!("@m[{k}] += (int64)({e});")),
                _ => self.line(indent, &format!("@m[{k}]++;")),
            }
            return;
        }
        if self.rng.chance(12) {
            let k = self.rng.below(2);
            let e = self.expr();
            match self.rng.below(5) {
                0 => self.line(indent, &format!("@count[{k}] = count();")),
                1 => self.line(indent, &format!("@sum[{k}] = sum((int64)({e}));")),
                2 => self.line(indent, &format!("@avg[{k}] = avg((int64)({e}));")),
                3 => self.line(indent, &format!("@min[{k}] = min((int64)({e}));")),
                _ => self.line(indent, &format!("@max[{k}] = max((int64)({e}));")),
            }
            return;
        }
        if self.rng.chance(5) {
            let s = self.string();
            self.line(indent, &format!("printf(\"%s|\\n\", {s});"));
            return;
        }
        if self.rng.chance(10) && !self.vars.is_empty() {
            let (name, _) = self.rng.pick(&self.vars).clone();
            self.line(indent, &format!("print({name});"));
            return;
        }
        match self.rng.below(9) {
            0..=2 => self.assignment(indent),
            3 | 4 => self.printf(indent),
            5 if indent < 3 => {
                let c = self.expr();
                self.line(indent, &format!("if ({c}) {{"));
                self.statement(indent + 1, in_loop);
                self.statement(indent + 1, in_loop);
                if self.rng.chance(50) {
                    self.line(indent, "} else {");
                    self.statement(indent + 1, in_loop);
                }
                self.line(indent, "}");
            }
            6 if indent < 2 => {
                // A counted loop, with its own counter.
                let i = format!("$i{}", self.out.len());
                let n = self.rng.below(6);
                self.line(indent, &format!("{i} = 0;"));
                self.line(indent, &format!("while ({i} < {n}) {{"));
                self.line(indent + 1, &format!("{i}++;"));
                self.statement(indent + 1, true);
                self.statement(indent + 1, true);
                self.line(indent, "}");
            }
            7 if indent < 2 => {
                let k = format!("$k{}", self.out.len());
                let (a, b) = (self.rng.below(3), self.rng.below(6));
                self.line(indent, &format!("for ({k} : {a}..{b}) {{"));
                self.statement(indent + 1, true);
                self.line(indent + 1, &format!("printf(\"k %ld\\n\", {k});"));
                self.line(indent, "}");
            }
            8 if in_loop => {
                let c = self.expr();
                let jump = *self.rng.pick(&["break", "continue"]);
                self.line(indent, &format!("if ({c}) {{ {jump}; }}"));
            }
            _ => self.printf(indent),
        }
    }

    fn program(seed: u64) -> String {
        let mut g = Gen { rng: Rng(seed | 1), vars: Vec::new(), out: String::new(), depth: 0 };
        // Maps are not printed at exit: the output is the program's alone.
        // Strings are sometimes tiny, short or longer than the default
        // (their values on the stack, or in the scratch buffer).
        let config = match *g.rng.pick(&[0, 0, 4, 64, 2000]) {
            0 => "config = { print_maps_on_exit = false }".to_string(),
            n => format!("config = {{ print_maps_on_exit = false; max_strlen = {n} }}"),
        };
        g.line(0, &config);
        // Every aggregation is used, so that reads of one never written
        // still find its map.
        g.line(0, "BEGIN {");
        g.line(1, "@count[9] = count(); @sum[9] = sum(0); @avg[9] = avg(0); @min[9] = min(0); @max[9] = max(0);");
        let nvars = 1 + g.rng.below(4);
        for i in 0..nvars {
            let t = *g.rng.pick(INT_TYPES);
            let e = g.expr();
            g.line(1, &format!("$v{i} = ({t})({e});"));
            g.vars.push((format!("$v{i}"), t));
        }
        if g.rng.chance(30) {
            let s = *g.rng.pick(&["\"\"", "\"a\"", "\"hello\""]);
            let n = g.expr();
            g.line(1, &format!("$t = ({s}, {n});"));
            g.line(1, "print($t);");
            g.line(1, "printf(\"%s|%ld\\n\", $t.0, $t.1);");
        }
        for _ in 0..2 + g.rng.below(5) {
            g.statement(1, false);
        }
        g.line(1, "@m[0] = 0;");
        g.line(1, "exit();");
        g.line(0, "}");
        g.out
    }
}

/// What the evaluator says the program prints (`None` for a program it
/// cannot evaluate, which the generator should not make).
fn expected(program: &str) -> Result<eval::Outcome, String> {
    let source = Source::new("stdin", program);
    let parsed = parse(&source, &ParseOptions::default()).map_err(|d| format!("parse: {d:?}"))?;
    let checked = check(parsed, &source, &Default::default()).map_err(|d| d.render(&source))?;
    eval::eval_begin(&checked, &[]).map_err(|e| e.to_string())
}

fn run(program: &str) -> (String, String, Option<i32>) {
    let child = support::bpfscope()
        .args(["-q", "-e", program])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let o = support::wait_with_timeout(child, Duration::from_secs(60), program);
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned(), o.status.code())
}

/// Checks one program; the failure says how to replay it.
fn check_one(seed: u64) -> Result<(), String> {
    let program = Gen::program(seed);
    let want = expected(&program).map_err(|e| format!("seed {seed}: the evaluator refused:\n{e}\n{program}"))?;
    let (out, err, code) = run(&program);
    // At exit: two blank lines (the maps are not printed).
    let got = out.strip_suffix("\n\n").unwrap_or(&out);
    let warned = err.matches("Divide or modulo by 0").count();
    if got != want.output || code != Some(0) || (warned > 0) != (want.warnings > 0) {
        return Err(format!(
            "seed {seed} (replay with BPFSCOPE_DIFF_SEED={seed}):\n{program}\n--- kernel (exit {code:?}):\n{got}\n--- stderr:\n{err}\n--- evaluator:\n{}",
            want.output
        ));
    }
    Ok(())
}

#[test]
fn kernel_agrees_with_the_reference_evaluator() {
    require_root!();
    let count: usize = std::env::var("BPFSCOPE_DIFF_PROGRAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let base: u64 = match std::env::var("BPFSCOPE_DIFF_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(seed) => {
            // One program: the one that seed makes.
            check_one(seed).unwrap_or_else(|e| panic!("{e}"));
            return;
        }
        None => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
    };
    eprintln!("differential: {count} programs from base seed {base}");
    let next = AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let seed = base.wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    if let Err(e) = check_one(seed) {
                        failures.lock().expect("lock").push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    assert!(failures.is_empty(), "{} of {count} programs differ; the first:\n{}", failures.len(), failures[0]);
}
