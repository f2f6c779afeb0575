//! Semantic errors, each with its exact message and location, and the
//! programs that must pass the same checks.

mod common;

use bpfscope_lang::check::{AggKind, CheckOptions, Type};
use common::*;

#[track_caller]
fn assert_err(text: &str, expected: &str) {
    assert_eq!(check_err(text), expected, "for program {text:?}");
}

#[track_caller]
fn assert_err_with(text: &str, options: &CheckOptions, expected: &str) {
    assert_eq!(check_err_with(text, options), expected, "for program {text:?}");
}

fn params(p: &[&str]) -> CheckOptions {
    CheckOptions { params: p.iter().map(|s| s.to_string()).collect(), ..CheckOptions::default() }
}

// ---- unknown names -----------------------------------------------------------

#[test]
fn unknown_function() {
    assert_err("BEGIN { foo(); }", "stdin:1:9: error: Unknown function: 'foo'\nBEGIN { foo(); }\n        ~~~\n");
    assert_err(
        "BEGIN { pirntf(\"x\"); }",
        "stdin:1:9: error: Unknown function: 'pirntf'\nBEGIN { pirntf(\"x\"); }\n        ~~~~~~\nhint: did you mean 'printf'?\n",
    );
}

#[test]
fn unknown_builtin() {
    assert_err(
        "k:f { @[cmm] = count(); }",
        "stdin:1:9: error: Unknown identifier: 'cmm'\nk:f { @[cmm] = count(); }\n        ~~~\nhint: did you mean 'comm'?\n",
    );
    assert_err(
        "k:f { if (arg0 == TCP_CLOSE) { } }",
        "stdin:1:19: error: Unknown identifier: 'TCP_CLOSE'\nk:f { if (arg0 == TCP_CLOSE) { } }\n                  ~~~~~~~~~\nhint: kernel enum constants are not looked up in BTF yet: define it, as in #define TCP_CLOSE 1\n",
    );
}

// ---- argument counts and kinds --------------------------------------------------

#[test]
fn wrong_argument_counts() {
    assert_err(
        "BEGIN { @ = hist() }",
        "stdin:1:13: error: hist() requires 1 to 2 arguments (0 provided)\nBEGIN { @ = hist() }\n            ~~~~~~\n",
    );
    assert_err(
        "BEGIN { @ = lhist(1, 2) }",
        "stdin:1:13: error: lhist() requires 4 arguments (2 provided)\nBEGIN { @ = lhist(1, 2) }\n            ~~~~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { @ = count(1) }",
        "stdin:1:13: error: count() takes no arguments (1 provided)\nBEGIN { @ = count(1) }\n            ~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { exit(1, 2) }",
        "stdin:1:9: error: exit() takes at most one argument (2 provided)\nBEGIN { exit(1, 2) }\n        ~~~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { $x = bswap() }",
        "stdin:1:14: error: bswap() requires one argument (0 provided)\nBEGIN { $x = bswap() }\n             ~~~~~~~\n",
    );
    assert_err(
        "BEGIN { $x = pid(1, 2) }",
        "stdin:1:14: error: pid() takes at most one argument (2 provided)\nBEGIN { $x = pid(1, 2) }\n             ~~~~~~~~~\n",
    );
}

#[test]
fn wrong_argument_kinds() {
    assert_err(
        "BEGIN { exit(\"a\") }",
        "stdin:1:14: error: exit() expects an integer as its first argument, found 'string'\nBEGIN { exit(\"a\") }\n             ~~~\n",
    );
    assert_err(
        "BEGIN { @ = sum(\"x\") }",
        "stdin:1:17: error: sum() expects an integer as its first argument, found 'string'\nBEGIN { @ = sum(\"x\") }\n                ~~~\n",
    );
    assert_err(
        "BEGIN { $a = kaddr(pid) }",
        "stdin:1:20: error: kaddr() expects a string literal as its first argument (uint32 provided)\nBEGIN { $a = kaddr(pid) }\n                   ~~~\n",
    );
    assert_err(
        "BEGIN { clear(1) }",
        "stdin:1:15: error: clear() expects a map argument, as in clear(@m)\nBEGIN { clear(1) }\n              ^\n",
    );
    assert_err(
        "BEGIN { $x = str(\"a\", \"b\") }",
        "stdin:1:23: error: str() expects an integer as its second argument, found 'string'\nBEGIN { $x = str(\"a\", \"b\") }\n                      ~~~\n",
    );
    assert_err(
        "BEGIN { $s = kstack(fast) }",
        "stdin:1:21: error: kstack: invalid stack mode 'fast'\nBEGIN { $s = kstack(fast) }\n                    ~~~~\nhint: the modes are bpftrace, perf, raw and build_id\n",
    );
    assert_err(
        "BEGIN { $x = printf(\"a\") }",
        "stdin:1:14: error: printf() does not return a value\nBEGIN { $x = printf(\"a\") }\n             ~~~~~~~~~~~\n",
    );
}

#[test]
fn aggregation_arguments() {
    assert_err(
        "BEGIN { @ = hist(1, 9) }",
        "stdin:1:21: error: hist: bits 9 must be 0..5\nBEGIN { @ = hist(1, 9) }\n                    ^\n",
    );
    assert_err(
        "BEGIN { @ = lhist(1, 10, 5, 1) }",
        "stdin:1:13: error: lhist() min must be less than max\nBEGIN { @ = lhist(1, 10, 5, 1) }\n            ~~~~~~~~~~~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { @ = lhist(1, 0, 10, 0) }",
        "stdin:1:29: error: lhist() step must be >= 1 (0 provided)\nBEGIN { @ = lhist(1, 0, 10, 0) }\n                            ^\n",
    );
    assert_err(
        "BEGIN { @ = lhist(1, 0, $x, 1) }",
        "stdin:1:25: error: lhist() expects integer literals for min, max and step\nBEGIN { @ = lhist(1, 0, $x, 1) }\n                        ~~\n",
    );
}

// ---- maps and aggregations ------------------------------------------------------

#[test]
fn map_value_types_must_agree() {
    assert_err(
        "BEGIN { @x = 1; @x = \"s\"; }",
        "stdin:1:17: error: Type mismatch for @x: trying to assign value of type 'string' when map already contains a value of type 'int64'\nBEGIN { @x = 1; @x = \"s\"; }\n                ~~\nstdin:1:9: note: @x is first given a value of type 'int64' here\nBEGIN { @x = 1; @x = \"s\"; }\n        ~~\n",
    );
}

#[test]
fn map_keys_must_agree_across_probes() {
    assert_err(
        "k:f { @x[1] = 1; } k:g { @x[\"a\"] = 2; }",
        "stdin:1:26: error: Argument mismatch for @x: trying to access with arguments: 'string' when map expects arguments: 'int64'\nk:f { @x[1] = 1; } k:g { @x[\"a\"] = 2; }\n                         ~~~~~~~\n",
    );
    assert_err(
        "k:f { @x[1, comm] = 1; } k:g { print(@x[2]); }",
        "stdin:1:38: error: Argument mismatch for @x: trying to access with arguments: 'int64' when map expects arguments: '(int64, string)'\nk:f { @x[1, comm] = 1; } k:g { print(@x[2]); }\n                                     ~~~~~\n",
    );
    assert_err(
        "BEGIN { @x = 1; @x[1] = 2; }",
        "stdin:1:17: error: Argument mismatch for @x: trying to access with arguments: 'int64' when map expects no arguments\nBEGIN { @x = 1; @x[1] = 2; }\n                ~~~~~\n",
    );
    assert_err(
        "BEGIN { @s[1] = 1; delete(@s, \"k\"); }",
        "stdin:1:27: error: Argument mismatch for @s: trying to access with arguments: 'string' when map expects arguments: 'int64'\nBEGIN { @s[1] = 1; delete(@s, \"k\"); }\n                          ~~~~~~~\n",
    );
}

#[test]
fn aggregation_misuse() {
    assert_err(
        "BEGIN { @x = count(); @x = 1; }",
        "stdin:1:23: error: Type mismatch for @x: trying to assign value of type 'int64' when map already contains a value of type 'count_t'\nBEGIN { @x = count(); @x = 1; }\n                      ~~\nstdin:1:9: note: @x is first given a value of type 'count_t' here\nBEGIN { @x = count(); @x = 1; }\n        ~~\n",
    );
    assert_err(
        "BEGIN { @x = hist(1); @x = lhist(1, 0, 10, 1); }",
        "stdin:1:23: error: Type mismatch for @x: trying to assign value of type 'lhist_t' when map already contains a value of type 'hist_t'\nBEGIN { @x = hist(1); @x = lhist(1, 0, 10, 1); }\n                      ~~\nstdin:1:9: note: @x is first given a value of type 'hist_t' here\nBEGIN { @x = hist(1); @x = lhist(1, 0, 10, 1); }\n        ~~\n",
    );
    assert_err(
        "BEGIN { $x = count(); }",
        "stdin:1:14: error: count() should be directly assigned to a map\nBEGIN { $x = count(); }\n             ~~~~~~~\nhint: as in @x = count()\n",
    );
    // 0.26 reads count, sum, min, max and avg as integers in arithmetic;
    // histograms have no single value.
    check_ok("BEGIN { @x = count(); } END { @y = @x + 1; }");
    assert_err(
        "BEGIN { @x = hist(1); } END { @y = @x + 1; }",
        "stdin:1:36: error: Type mismatch for '+': comparing 'hist_t' with 'int64'\nBEGIN { @x = hist(1); } END { @y = @x + 1; }\n                                   ~~~~~~\nhint: a map of hist() values has no single value: print it with print()\n",
    );
    // Reading an aggregation as an integer is allowed where bpftrace allows it.
    check_ok("BEGIN { @c = count(); @s = sum(3); if (@s == 12) { printf(\"%d %d\\n\", (int64)@c, (int64)@s); } }");
}

#[test]
fn undefined_map() {
    assert_err(
        "BEGIN { print(@nope); }",
        "stdin:1:15: error: Undefined map: @nope\nBEGIN { print(@nope); }\n              ~~~~~\nhint: no probe assigns this map a value\n",
    );
}

// ---- probe context ----------------------------------------------------------------

#[test]
fn retval_outside_return_probes() {
    assert_err(
        "kprobe:vfs_read { @ = hist(retval); }",
        "stdin:1:28: error: The retval builtin can only be used with kretprobe, uretprobe and fexit probes\nkprobe:vfs_read { @ = hist(retval); }\n                           ~~~~~~\nhint: it is used here in a kprobe probe\n",
    );
    assert_err(
        "kretprobe:a, kprobe:b { @ = retval; }",
        "stdin:1:29: error: The retval builtin can only be used with kretprobe, uretprobe and fexit probes\nkretprobe:a, kprobe:b { @ = retval; }\n                            ~~~~~~\nhint: it is used here in a kprobe probe\n",
    );
    check_ok("kretprobe:vfs_read, uretprobe:/bin/sh:main, fexit:vfs_read { @ = hist(retval); }");
}

#[test]
fn args_where_the_probe_has_none() {
    assert_err(
        "kprobe:f { $x = args.foo; }",
        "stdin:1:17: error: The args builtin can only be used with uprobe, tracepoint, rawtracepoint, fentry and fexit probes\nkprobe:f { $x = args.foo; }\n                ~~~~\nhint: it is used here in a kprobe probe\n",
    );
    assert_err(
        "t:a:b { $x = arg0; }",
        "stdin:1:14: error: The arg0 builtin can only be used with kprobe, uprobe, rawtracepoint, fentry, fexit and usdt probes\nt:a:b { $x = arg0; }\n             ~~~~\nhint: it is used here in a tracepoint probe\n",
    );
    assert_err(
        "interval:s:1 { print(func); }",
        "stdin:1:22: error: The func builtin can only be used with kprobe, kretprobe, uprobe, uretprobe, fentry, fexit and usdt probes\ninterval:s:1 { print(func); }\n                     ~~~~\nhint: it is used here in a interval probe\n",
    );
    check_ok(
        "tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args.filename)); } k:f { @[func] = count(); }",
    );
}

#[test]
fn cpid_needs_a_child() {
    assert_err(
        "BEGIN { print(cpid); }",
        "stdin:1:15: error: cpid cannot be used without a child command\nBEGIN { print(cpid); }\n              ~~~~\nhint: start one with -c 'command'\n",
    );
    let opts = CheckOptions { has_child: true, ..CheckOptions::default() };
    check_with("BEGIN { print(cpid); }", &opts).expect("with -c");
}

#[test]
fn unsafe_functions_need_unsafe() {
    assert_err(
        "BEGIN { system(\"ls\"); }",
        "stdin:1:9: error: system() is an unsafe function being used in safe mode\nBEGIN { system(\"ls\"); }\n        ~~~~~~~~~~~~\nhint: run with --unsafe to allow it\n",
    );
    let opts = CheckOptions { allow_unsafe: true, ..CheckOptions::default() };
    check_with("BEGIN { system(\"ls %d\", pid); }", &opts).expect("with --unsafe");
}

// ---- printf and exit ------------------------------------------------------------

#[test]
fn printf_format_against_arguments() {
    assert_err(
        "BEGIN { printf(\"%d %s\\n\", 1); }",
        "stdin:1:9: error: printf: Not enough arguments for format string (1 supplied, 2 expected)\nBEGIN { printf(\"%d %s\\n\", 1); }\n        ~~~~~~~~~~~~~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { printf(\"%s %d\\n\", 1, 2, 3); }",
        "stdin:1:9: error: printf: Too many arguments for format string (3 supplied, 2 expected)\nBEGIN { printf(\"%s %d\\n\", 1, 2, 3); }\n        ~~~~~~~~~~~~~~~~~~~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { printf(\"%d\\n\", comm); }",
        "stdin:1:24: error: printf: %d specifier expects a value of type integer (string supplied)\nBEGIN { printf(\"%d\\n\", comm); }\n                       ~~~~\n",
    );
    assert_err(
        "BEGIN { printf(\"%r\\n\", 1); }",
        "stdin:1:24: error: printf: %r specifier expects a value of type buffer (int64 supplied)\nBEGIN { printf(\"%r\\n\", 1); }\n                       ^\n",
    );
    assert_err(
        "BEGIN { printf(\"%k\\n\", 1); }",
        "stdin:1:16: error: printf: invalid conversion '%k'\nBEGIN { printf(\"%k\\n\", 1); }\n               ~~~~~~\n",
    );
    assert_err(
        "BEGIN { printf(1); }",
        "stdin:1:9: error: printf() expects a string literal (integer provided)\nBEGIN { printf(1); }\n        ~~~~~~~~~\n",
    );
    check_ok(
        r#"BEGIN { printf("%d %i %u %x %X %o %s %c %p %lu %llu %-8s %08d %%\n", 1, 2, 3, 4, 5, 6, "s", 65, 0, 7, 8, comm, 9); }"#,
    );
    check_ok(
        r#"BEGIN { printf("%s %s %s\n", (1, "a"), kstack, probe); printf("%r %rx %rh\n", buf("ab", 2), buf("c", 1), buf("d", 1)); }"#,
    );
}

#[test]
fn exit_takes_an_optional_code() {
    check_ok("BEGIN { exit(); } END { exit(3); }");
}

// ---- positional parameters ---------------------------------------------------------

#[test]
fn positional_parameters() {
    assert_err(
        "BEGIN { print($0); }",
        "stdin:1:15: error: $0 is not a positional parameter: they start at $1\nBEGIN { print($0); }\n              ~~\n",
    );
    assert_err_with(
        "BEGIN { @x = $1 + 1; }",
        &params(&["abc"]),
        "stdin:1:14: error: $1 used numerically but given \"abc\". Try using str($1).\nBEGIN { @x = $1 + 1; }\n             ~~\n",
    );
    assert_err_with(
        "BEGIN { printf(\"%s\\n\", str($1 + 10)); }",
        &params(&["abc"]),
        "stdin:1:28: error: only addition of a single constant less or equal to the length of $1 (which is 3) is allowed inside str()\nBEGIN { printf(\"%s\\n\", str($1 + 10)); }\n                           ~~~~~~~\n",
    );
    check_with(
        "BEGIN { printf(\"%d %s %d %s\\n\", $1, str($2), $#, str($2 + 1)); print($3 + 1); }",
        &params(&["42", "hello"]),
    )
    .expect("params");
}

// ---- variables, control flow, types -------------------------------------------------

#[test]
fn variables() {
    assert_err(
        "BEGIN { $x }",
        "stdin:1:9: error: Undefined or undeclared variable: $x\nBEGIN { $x }\n        ~~\nhint: assign it first; a variable assigned inside a block ends with the block (declare it before with 'let')\n",
    );
    assert_err(
        "BEGIN { if (1) { $y = 2; } print($y); }",
        "stdin:1:34: error: Undefined or undeclared variable: $y\nBEGIN { if (1) { $y = 2; } print($y); }\n                                 ~~\nhint: assign it first; a variable assigned inside a block ends with the block (declare it before with 'let')\n",
    );
    assert_err(
        "i:s:1 { $x = \"a\"; $x = 1; }",
        "stdin:1:19: error: Type mismatch for $x: trying to assign value of type 'int64' when variable already contains a value of type 'string'\ni:s:1 { $x = \"a\"; $x = 1; }\n                  ~~\n",
    );
    assert_err(
        "BEGIN { let $a; let $a; }",
        "stdin:1:21: error: Variable $a was already declared in this scope\nBEGIN { let $a; let $a; }\n                    ~~\n",
    );
    check_ok("BEGIN { let $y; if (1) { $y = 2; } print($y); $z = 1; $z += 2; $z <<= 1; $z++; }");
}

#[test]
fn control_flow() {
    assert_err(
        "BEGIN { break; }",
        "stdin:1:9: error: 'break' can only be used inside a loop\nBEGIN { break; }\n        ~~~~~\n",
    );
    assert_err(
        "BEGIN { unroll(101) { } }",
        "stdin:1:16: error: unroll maximum value is 100\nBEGIN { unroll(101) { } }\n               ~~~\n",
    );
    assert_err(
        "BEGIN { unroll(0) { } }",
        "stdin:1:16: error: unroll minimum value is 1\nBEGIN { unroll(0) { } }\n               ^\n",
    );
    assert_err(
        "BEGIN { @x = 1; for ($kv : @x) { } }",
        "stdin:1:28: error: @x has no keys: only maps with keys can be iterated\nBEGIN { @x = 1; for ($kv : @x) { } }\n                           ~~\n",
    );
    assert_err(
        "BEGIN { if (\"s\") { } }",
        "stdin:1:13: error: Invalid if condition: expected an integer, a boolean or a pointer, found 'string'\nBEGIN { if (\"s\") { } }\n            ~~~\n",
    );
    assert_err(
        "BEGIN { $x = 1 ? 2 : \"a\"; }",
        "stdin:1:14: error: Ternary operator must return the same type: have 'int64' and 'string'\nBEGIN { $x = 1 ? 2 : \"a\"; }\n             ~~~~~~~~~~~\n",
    );
    check_ok(
        "BEGIN { @m[1] = 2; for ($kv : @m) { if ($kv.0 == 1) { continue; } print($kv.1); } for ($i : 0..5) { if ($i > 3) { break; } } $j = 0; while ($j < 3) { $j++; } unroll(3) { $j--; } }",
    );
}

#[test]
fn types_of_expressions() {
    assert_err(
        "BEGIN { $a = (1, \"x\"); print($a.2); }",
        "stdin:1:30: error: Invalid tuple index: 2 (the tuple has 2 elements)\nBEGIN { $a = (1, \"x\"); print($a.2); }\n                             ~~~~\n",
    );
    assert_err(
        "BEGIN { $x = \"a\" < \"b\"; }",
        "stdin:1:14: error: The '<' operator can not compare values of type 'string'\nBEGIN { $x = \"a\" < \"b\"; }\n             ~~~~~~~~~\nhint: strings, tuples and arrays compare with == and != only\n",
    );
    assert_err(
        "BEGIN { $x = comm + 1; }",
        "stdin:1:14: error: Type mismatch for '+': comparing 'string' with 'int64'\nBEGIN { $x = comm + 1; }\n             ~~~~~~~~\n",
    );
    assert_err(
        "k:f { $x = arg0.pid; }",
        "stdin:1:12: error: Can not access field 'pid' on a value of type 'uint64'\nk:f { $x = arg0.pid; }\n           ~~~~~~~~\nhint: cast it to a struct pointer first, as in ((struct task_struct *)arg0).pid\n",
    );
    assert_err(
        "struct S { int a; char b[8]; } k:f { $s = (struct S *)arg0; print($s->c); }",
        "stdin:1:71: error: struct S has no field named 'c'\nstruct S { int a; char b[8]; } k:f { $s = (struct S *)arg0; print($s->c); }\n                                                                      ^\nhint: did you mean 'a'?\n",
    );
    assert_err(
        "BEGIN { $x = (uint64)\"s\"; }",
        "stdin:1:14: error: Cannot cast from 'string' to 'uint64'\nBEGIN { $x = (uint64)\"s\"; }\n             ~~~~~~~~~~~\n",
    );
}

#[test]
fn macros_are_hygienic() {
    assert_err(
        "macro add(x) { x + 1 } BEGIN { print(add(1, 2)); }",
        "stdin:1:38: error: macro 'add' takes 1 argument, 2 given\nmacro add(x) { x + 1 } BEGIN { print(add(1, 2)); }\n                                     ~~~\n",
    );
    assert_err(
        "macro bad() { @x++ } BEGIN { @x = 1; bad(); }",
        "stdin:1:15: error: macro 'bad' uses map @x, which is not one of its parameters\nmacro bad() { @x++ } BEGIN { @x = 1; bad(); }\n              ~~\nhint: macros only see the maps passed to them: add @x to the parameters\n",
    );
    assert_err(
        "macro m($a) { $a++ } BEGIN { @x = 1; m(@x); }",
        "stdin:1:40: error: macro 'm' expects a scratch variable for $a\nmacro m($a) { $a++ } BEGIN { @x = 1; m(@x); }\n                                       ~~\nhint: pass a variable such as $x, or change the parameter to 'a' to accept any expression\n",
    );
    assert_err(
        "macro m() { $b } BEGIN { $b = 1; m(); }",
        "stdin:1:13: error: Undefined or undeclared variable: $b\nmacro m() { $b } BEGIN { $b = 1; m(); }\n            ~~\nhint: a macro only sees the scratch variables passed to it as $parameters\n",
    );
    let ok = check_ok(
        "macro one() { 1 } macro add_one(x) { x + 1 } macro inc($a, @b) { $a += 1; @b += 1; } macro twice(x) { add_one(x) + 1 }\n\
         BEGIN { $a = 10; @b = 5; inc($a, @b); @r = add_one($a) + one + twice(1); let $x = 3; @y = add_one({ let $x = 1; $x }); }",
    );
    assert_eq!(ok.maps["r"].value, Type::INT64);
}

#[test]
fn defines_and_enums_are_constants() {
    check_ok(
        "#define AF_INET 2\n#define AF_INET6 10 /* IPv6 */\nenum state { OPEN = 1, CLOSED };\nk:f { if (arg0 == AF_INET || arg0 == AF_INET6 || arg1 == CLOSED) { @ = count(); } }",
    );
    assert_err(
        "#define LOOP LOOP\nBEGIN { $x = LOOP; }",
        "stdin:2:14: error: 'LOOP' is defined in terms of itself\nBEGIN { $x = LOOP; }\n             ~~~~\n",
    );
    assert_err(
        "#define MAX(a, b) a\nBEGIN { $x = MAX; }",
        "stdin:2:14: error: 'MAX' is a function-like C macro, which bpfscope cannot expand\nBEGIN { $x = MAX; }\n             ~~~\nhint: define it as a bpftrace macro instead: macro name(a, b) { ... }\n",
    );
}

#[test]
fn config_block() {
    assert_err(
        "config = { max_strlen = 64; stack_mod = perf } BEGIN { }",
        "stdin:1:29: error: Unrecognized config variable: stack_mod\nconfig = { max_strlen = 64; stack_mod = perf } BEGIN { }\n                            ~~~~~~~~~\nhint: did you mean 'stack_mode'?\n",
    );
    assert_err(
        "config = { missing_probes = sometimes } BEGIN { }",
        "stdin:1:29: error: Invalid value for missing_probes: expected one of error, warn, ignore\nconfig = { missing_probes = sometimes } BEGIN { }\n                            ~~~~~~~~~\n",
    );
    check_ok(
        "config = { BPFTRACE_STACK_MODE = perf; max_map_keys = 2; print_maps_on_exit = 0; license = \"GPL\"; unstable_map_decl = enable } BEGIN { }",
    );
}

#[test]
fn map_declarations() {
    assert_err(
        "let @a = hsh(10); BEGIN { @a[1] = 1; }",
        "stdin:1:10: error: Invalid map type 'hsh'\nlet @a = hsh(10); BEGIN { @a[1] = 1; }\n         ~~~\nhint: did you mean 'hash'?\n",
    );
    let c = check_ok("let @a = lruhash(100); BEGIN { @a[1] = 1; }");
    assert_eq!(c.maps["a"].key, Some(Type::INT64));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // As 0.26: a declared map nothing names is worth a warning; one named
    // anywhere, even only cleared, is not.
    let c = check_ok("let @b = hash(2); let @a = percpuhash(1); let @c = hash(3); BEGIN { clear(@c); }");
    let text: Vec<String> = c.warnings.iter().map(|w| w.message.clone()).collect();
    assert_eq!(text, ["Unused map: @a", "Unused map: @b"]);
    let span = c.warnings[0].span.expect("a span");
    assert_eq!((span.start, span.end), (18, 41), "the whole declaration, as 0.26");
}

#[test]
fn the_checker_records_map_types() {
    let c = check_ok(
        "k:f { @start[tid] = nsecs; @[comm, pid] = count(); @h = hist(1); } kr:f /@start[tid]/ { @us = lhist((nsecs - @start[tid]) / 1000, 0, 100, 10); delete(@start, tid); }",
    );
    assert_eq!(c.maps["start"].key, Some(Type::Int { bits: 32, signed: false }));
    assert_eq!(c.maps["start"].value, Type::UINT64);
    assert_eq!(c.maps[""].key, Some(Type::Tuple(vec![Type::Str(16), Type::Int { bits: 32, signed: false }])));
    assert_eq!(c.maps[""].value, Type::Agg(AggKind::Count));
    assert_eq!(c.maps["h"].value, Type::Agg(AggKind::Hist));
    assert_eq!(c.maps["us"].value, Type::Agg(AggKind::Lhist));
}

#[test]
fn socket_cookie_takes_a_socket_in_fentry() {
    assert_err(
        "kprobe:f { print(socket_cookie(0)); }",
        "stdin:1:18: error: socket_cookie() can only be used in fentry and fexit probes\nkprobe:f { print(socket_cookie(0)); }\n                 ~~~~~~~~~~~~~\nhint: it is used here in a kprobe probe\nstdin:1:32: error: socket_cookie() only supports 'struct sock *' as the argument (int64 provided)\nkprobe:f { print(socket_cookie(0)); }\n                               ^\n",
    );
}

#[test]
fn strncmp_takes_a_literal_length() {
    assert_err(
        "BEGIN { $n = 2; print(strncmp(\"a\", \"b\", $n)); }",
        "stdin:1:41: error: strncmp() expects an integer literal as its third argument (int64 provided)\nBEGIN { $n = 2; print(strncmp(\"a\", \"b\", $n)); }\n                                        ~~\n",
    );
    assert!(check_with("BEGIN { print(strncmp(\"a\", \"b\", $1)); }", &params(&["1"])).is_ok());
}
