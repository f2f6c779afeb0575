//! Malformed programs are rejected with the right message at the right
//! place, rendered as `file:line:col: error: ...`, the line, and a marker.

mod common;

use common::parse_err;

#[track_caller]
fn assert_err(text: &str, expected: &str) {
    assert_eq!(parse_err(text), expected, "for program {text:?}");
}

#[test]
fn missing_operand() {
    assert_err(
        "BEGIN { $x = 1 +; }",
        "stdin:1:17: error: syntax error: unexpected ';', expected an expression\nBEGIN { $x = 1 +; }\n                ^\n",
    );
}

#[test]
fn missing_semicolon_between_statements() {
    assert_err(
        "BEGIN {\n  $b = \"hello\"\n  $a = 2;\n}",
        "stdin:3:3: error: syntax error: unexpected '$a', expected ';'\n  $a = 2;\n  ~~\n",
    );
}

#[test]
fn assignment_to_a_bare_name() {
    assert_err(
        "BEGIN {\n  x = 1;\n}\n",
        "stdin:2:3: error: can only assign to a scratch variable ($x) or a map (@m, @m[key])\n  x = 1;\n  ^\n",
    );
}

#[test]
fn unclosed_block() {
    assert_err(
        "BEGIN { printf(\"hi\");",
        "stdin:1:22: error: syntax error: unexpected end of file, expected '}'\nBEGIN { printf(\"hi\");\n                     ^\n",
    );
}

#[test]
fn unclosed_call() {
    assert_err(
        "BEGIN { printf(\"%d\", 1 }",
        "stdin:1:24: error: syntax error: unexpected '}', expected ',' or ')'\nBEGIN { printf(\"%d\", 1 }\n                       ^\n",
    );
}

#[test]
fn unknown_provider_with_suggestion() {
    assert_err(
        "kprboe:vfs_read { }",
        "stdin:1:1: error: Invalid provider: 'kprboe'\nkprboe:vfs_read { }\n~~~~~~\nhint: did you mean 'kprobe'?\n",
    );
}

#[test]
fn attach_point_errors_point_at_the_bad_part() {
    assert_err(
        "tracepoint:syscalls { }",
        "stdin:1:1: error: tracepoint probe type requires 2 arguments, found 1\ntracepoint:syscalls { }\n~~~~~~~~~~~~~~~~~~~\nhint: tracepoints look like tracepoint:syscalls:sys_enter_openat\n",
    );
    assert_err(
        "BEGIN { } interval:x:1 { }",
        "stdin:1:20: error: interval: invalid unit 'x'\nBEGIN { } interval:x:1 { }\n                   ^\nhint: units are us, ms, s and hz, as in interval:s:1\n",
    );
    assert_err(
        "software:pagefaults:10 { }",
        "stdin:1:10: error: Unknown software event 'pagefaults'\nsoftware:pagefaults:10 { }\n         ~~~~~~~~~~\nhint: did you mean 'page-faults'?\n",
    );
    assert_err(
        "kprobe:f+xyz { }",
        "stdin:1:8: error: invalid offset 'xyz' in 'f+xyz'\nkprobe:f+xyz { }\n       ~~~~~\nhint: offsets are numbers in bytes, as in func+0x10 or func+16\n",
    );
}

#[test]
fn missing_body() {
    assert_err(
        "kprobe:f",
        "stdin:1:9: error: syntax error: unexpected end of file, expected '{', ',' or a predicate /.../\nkprobe:f\n        ^\n",
    );
    assert_err(
        "kprobe:f /pid/",
        "stdin:1:15: error: syntax error: unexpected end of file, expected '{'\nkprobe:f /pid/\n              ^\n",
    );
}

#[test]
fn unterminated_string_and_comment() {
    assert_err(
        "BEGIN { printf(\"abc); }",
        "stdin:1:16: error: unterminated string\nBEGIN { printf(\"abc); }\n               ~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { } /* never closed",
        "stdin:1:11: error: unterminated comment\nBEGIN { } /* never closed\n          ~~\n",
    );
}

#[test]
fn bad_literals() {
    assert_err(
        "BEGIN { $x = 08; }",
        "stdin:1:14: error: invalid octal literal '08'\nBEGIN { $x = 08; }\n             ~~\nhint: integers with a leading 0 are octal; drop the 0 for decimal\n",
    );
    assert_err(
        "BEGIN { $x = 99999999999999999999; }",
        "stdin:1:14: error: integer literal is too large (the largest is 18446744073709551615)\nBEGIN { $x = 99999999999999999999; }\n             ~~~~~~~~~~~~~~~~~~~~\n",
    );
    assert_err(
        "BEGIN { $x = \"\\q\"; }",
        "stdin:1:15: error: invalid escape character '\\q'\nBEGIN { $x = \"\\q\"; }\n              ~~\nhint: the escapes are \\n \\t \\r \\\" \\\\ \\NNN (octal) and \\xNN (hex)\n",
    );
    assert_err(
        "BEGIN { $ = 1; }",
        "stdin:1:9: error: expected a variable name after '$'\nBEGIN { $ = 1; }\n        ^\nhint: scratch variables look like $name, positional parameters like $1\n",
    );
}

#[test]
fn keywords_where_expressions_go() {
    assert_err(
        "BEGIN { $x = while; }",
        "stdin:1:14: error: syntax error: unexpected keyword 'while', expected an expression\nBEGIN { $x = while; }\n             ~~~~~\n",
    );
}

#[test]
fn for_loop_needs_a_map_or_a_range() {
    assert_err(
        "BEGIN { for ($i : 5) { } }",
        "stdin:1:19: error: a for loop iterates over a map (@m) or a range (start..end)\nBEGIN { for ($i : 5) { } }\n                  ^\n",
    );
}

#[test]
fn section_order_is_enforced() {
    assert_err(
        "BEGIN { } config = { max_strlen = 1 }",
        "stdin:1:11: error: the config block must come before probes, macros and map declarations\nBEGIN { } config = { max_strlen = 1 }\n          ~~~~~~\n",
    );
    assert_err(
        "BEGIN { }\n#include <a.h>\n",
        "stdin:2:1: error: preprocessor directives must come before the config block, probes and macros\n#include <a.h>\n~~~~~~~~~~~~~~\nhint: move it to the top of the program\n",
    );
    assert_err(
        "BEGIN { }\nstruct S { int a; }\n",
        "stdin:2:1: error: C definitions must come before the config block, probes and macros\nstruct S { int a; }\n~~~~~~\nhint: move the definition to the top of the program\n",
    );
}

#[test]
fn preprocessor_errors() {
    assert_err(
        "#if 1\nBEGIN { }",
        "stdin:1:1: error: unterminated conditional directive\n#if 1\n~~~~~\nhint: add a matching #endif\n",
    );
    assert_err("#endif\nBEGIN { }", "stdin:1:1: error: #endif without #if\n#endif\n~~~~~~\n");
    assert_err(
        "#pragm once\nBEGIN { }",
        "stdin:1:1: error: unknown preprocessor directive '#pragm'\n#pragm once\n~~~~~~~~~~~\nhint: bpfscope understands #include, #define, #undef, #if, #ifdef, #ifndef, #elif, #else and #endif\n",
    );
}

#[test]
fn junk_at_top_level() {
    assert_err("}", "stdin:1:1: error: syntax error: unexpected '}', expected a probe\n}\n^\n");
    assert_err(
        "BEGIN { } 42",
        "stdin:1:11: error: syntax error: unexpected integer 42, expected a probe\nBEGIN { } 42\n          ~~\n",
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("BEGIN {{ $x = {}1{}; }}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse_err(&deep).contains("error: the program is nested too deeply (more than 128 levels)"));
    let unary = format!("BEGIN {{ $x = {}1; }}", "!".repeat(100_000));
    assert!(parse_err(&unary).contains("nested too deeply"));
    let blocks = format!("BEGIN {{ {} }}", "{".repeat(10_000));
    assert!(parse_err(&blocks).contains("nested too deeply"));
}

#[test]
fn errors_name_the_file_and_the_line() {
    let src = bpfscope_lang::Source::new("/tmp/t.bt", "BEGIN {\n  @x = 1\n  @y = 2;\n}\n");
    let d = bpfscope_lang::parse(&src, &bpfscope_lang::ParseOptions::default()).expect_err("missing ;");
    assert_eq!(d.render(&src), "/tmp/t.bt:3:3: error: syntax error: unexpected '@y', expected ';'\n  @y = 2;\n  ~~\n");
}
