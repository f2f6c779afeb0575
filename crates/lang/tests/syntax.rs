//! Every construct of the language parses into the tree it means.

mod common;

use bpfscope_lang::ast::*;
use bpfscope_lang::attach::{Provider, Target, UserLocation};
use bpfscope_lang::{ParseOptions, Source, parse};
use common::*;

#[test]
fn operators_follow_c_precedence_and_associativity() {
    assert_eq!(sx("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(sx("1 - 2 - 3"), "(- (- 1 2) 3)");
    assert_eq!(sx("8 / 4 % 3"), "(% (/ 8 4) 3)");
    assert_eq!(sx("1 << 2 + 3"), "(<< 1 (+ 2 3))");
    assert_eq!(sx("1 < 2 == 3 > 4"), "(== (< 1 2) (> 3 4))");
    assert_eq!(sx("1 <= 2 != 3 >= 4"), "(!= (<= 1 2) (>= 3 4))");
    assert_eq!(sx("1 | 2 ^ 3 & 4"), "(| 1 (^ 2 (& 3 4)))");
    assert_eq!(sx("1 & 2 == 2"), "(& 1 (== 2 2))");
    assert_eq!(sx("1 || 2 && 3 | 4"), "(|| 1 (&& 2 (| 3 4)))");
    assert_eq!(sx("8 >> 1 << 2"), "(<< (>> 8 1) 2)");
    assert_eq!(sx("(1 + 2) * 3"), "(* (+ 1 2) 3)");
}

#[test]
fn unary_operators() {
    assert_eq!(sx("-$x"), "(- $x)");
    assert_eq!(sx("!$x && ~$y"), "(&& (! $x) (~ $y))");
    assert_eq!(sx("*$p + 1"), "(+ (* $p) 1)");
    assert_eq!(sx("&$x"), "(& $x)");
    assert_eq!(sx("- -1"), "(- (- 1))");
    assert_eq!(sx("!!@m[1]"), "(! (! @m[1]))");
}

#[test]
fn ternaries_including_the_short_form() {
    assert_eq!(sx("$a ? 1 : 2"), "(? $a 1 2)");
    assert_eq!(sx("$a ? 1 : $b ? 2 : 3"), "(? $a 1 (? $b 2 3))");
    assert_eq!(sx("$a ?: 5"), "(?: $a 5)");
    assert_eq!(sx("$x = $a > 0 ? $a : -1"), "(= $x (? (> $a 0) $a (- 1)))");
}

#[test]
fn increments_and_decrements() {
    assert_eq!(
        stmts("BEGIN { $x++; ++$x; @m[1]--; --@m; $y = $x--; }"),
        vec!["(++post $x)", "(++pre $x)", "(--post @m[1])", "(--pre @m)", "(= $y (--post $x))"]
    );
}

#[test]
fn every_assignment_operator() {
    let ops = ["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="];
    for op in ops {
        assert_eq!(sx(&format!("@x {op} 2")), format!("({op} @x 2)"));
        assert_eq!(sx(&format!("$x {op} 2")), format!("({op} $x 2)"));
    }
}

#[test]
fn variables_and_let() {
    assert_eq!(
        stmts("BEGIN { let $a; let $b = 1; let $c: uint16 = 2; let $d: string[16]; let $e: struct task_struct *; }"),
        vec![
            "(let $a)",
            "(let $b 1)",
            "(let $c : uint16 2)",
            "(let $d : string[16])",
            "(let $e : struct task_struct *)"
        ]
    );
    assert_eq!(stmts("BEGIN { let $f: typeof($b); }"), vec!["(let $f : typeof(...))"]);
}

#[test]
fn maps_with_and_without_keys() {
    assert_eq!(sx("@ = 1"), "(= @ 1)");
    assert_eq!(sx("@[comm] = 1"), "(= @[comm] 1)");
    assert_eq!(sx("@name = 1"), "(= @name 1)");
    assert_eq!(sx("@name[pid, comm] = count()"), "(= @name[pid, comm] count())");
    assert_eq!(sx("@name[(pid, comm)]++"), "(++post @name[(tuple pid comm)])");
}

#[test]
fn literals_in_every_notation() {
    assert_eq!(sx("$x = 0x1f + 017 + 1_000 + 2e3 + 1e6"), "(= $x (+ (+ (+ (+ 31 15) 1000) 2000) 1000000))");
    assert_eq!(sx("$x = 123UL + 1s + 5ms"), "(= $x (+ (+ 123 1000000000) 5000000))");
    assert_eq!(sx("$c = 'A'"), "(= $c 65)");
    assert_eq!(sx("$s = \"a\\tb\\n\""), "(= $s \"a\\tb\\n\")");
    assert_eq!(sx("$t = true || false"), "(= $t (|| true false))");
}

#[test]
fn positional_parameters() {
    assert_eq!(sx("printf(\"%d %s %d\", $1, str($2), $#)"), "printf(\"%d %s %d\", $1, str($2), $#)");
}

#[test]
fn tuples_records_and_access() {
    assert_eq!(sx("$t = (1, \"a\", (2, 3))"), "(= $t (tuple 1 \"a\" (tuple 2 3)))");
    assert_eq!(sx("$t = (1,)"), "(= $t (tuple 1))");
    assert_eq!(sx("$t = ()"), "(= $t (tuple ))");
    assert_eq!(sx("print($kv.0.1)"), "print((. (. $kv 0) 1))");
    assert_eq!(sx("print($t[1])"), "print(([] $t 1))");
    assert_eq!(sx("$r = (color=\"g\", size=2)"), "(= $r (record color=\"g\" size=2))");
    assert_eq!(sx("print($r.size)"), "print((. $r size))");
}

#[test]
fn fields_and_indexing() {
    assert_eq!(sx("$x = args.filename"), "(= $x (. args filename))");
    assert_eq!(sx("$x = args->filename"), "(= $x (-> args filename))");
    assert_eq!(sx("$x = curtask.fs.pwd.dentry"), "(= $x (. (. (. curtask fs) pwd) dentry))");
    assert_eq!(sx("$x = $s.y[0]"), "(= $x ([] (. $s y) 0))");
    assert_eq!(sx("$c = \"/\"[0]"), "(= $c ([] \"/\" 0))");
}

#[test]
fn casts_to_every_kind_of_type() {
    assert_eq!(sx("$a = (uint16)$x"), "(= $a (cast uint16 $x))");
    assert_eq!(sx("$a = (int8)-1"), "(= $a (cast int8 (- 1)))");
    assert_eq!(sx("$a = (struct sock *)arg0"), "(= $a (cast struct sock * arg0))");
    assert_eq!(sx("$a = (struct sock*)arg0"), "(= $a (cast struct sock * arg0))");
    assert_eq!(sx("$a = (uint8[8])12345"), "(= $a (cast uint8[8] 12345))");
    assert_eq!(sx("$a = (int8[])\"str\""), "(= $a (cast int8[] \"str\"))");
    assert_eq!(sx("$a = (int32*[4])$p"), "(= $a (cast int32 *[4] $p))");
    assert_eq!(sx("$a = (unsigned long long)$p"), "(= $a (cast uint64 $p))");
    assert_eq!(sx("$a = (uint64_t)1"), "(= $a (cast uint64_t 1))");
    assert_eq!(sx("$a = ((struct bio*)arg1).bi_bdev"), "(= $a (. (cast struct bio * arg1) bi_bdev))");
    assert_eq!(sx("$a = (string[64])arg0"), "(= $a (cast string[64] arg0))");
}

#[test]
fn parenthesised_names_are_casts_only_when_they_can_be() {
    assert_eq!(sx("$w = (myident)"), "(= $w myident)");
    assert_eq!(sx("$x = (myident)*$a"), "(= $x (cast myident (* $a)))");
    assert_eq!(sx("$y = (pid)*tid"), "(= $y (* pid tid))");
    assert_eq!(sx("$z = (myident)arg0"), "(= $z (cast myident arg0))");
    assert_eq!(stmts("#define N 3\nBEGIN { $v = (N) - 1; }"), vec!["(= $v (- N 1))"]);
}

#[test]
fn sizeof_offsetof_typeof() {
    assert_eq!(sx("$a = sizeof(uint32)"), "(= $a (sizeof type:uint32))");
    assert_eq!(sx("$a = sizeof(uint32*[10])"), "(= $a (sizeof type:uint32 *[10]))");
    assert_eq!(sx("$a = sizeof($x)"), "(= $a (sizeof $x))");
    assert_eq!(sx("$a = sizeof({ $b = (int8)1; $b })"), "(= $a (sizeof {(= $b (cast int8 1)) (tail $b)}))");
    assert_eq!(sx("$a = offsetof(struct mount, mnt)"), "(= $a (offsetof type:struct mount mnt))");
    assert_eq!(sx("$a = offsetof(struct x, a.b)"), "(= $a (offsetof type:struct x a.b))");
    assert_eq!(sx("$a = (typeof($b))2"), "(= $a (cast typeof(...) 2))");
}

#[test]
fn calls_and_macro_calls() {
    assert_eq!(sx("printf(\"%s %d\\n\", comm, pid)"), "printf(\"%s %d\\n\", comm, pid)");
    assert_eq!(sx("exit()"), "exit()");
    assert_eq!(sx("greet!()"), "greet!()");
    assert_eq!(sx("m(typeof(uint8), -1)"), "m((type typeof(uint8)), (- 1))");
}

#[test]
fn if_else_chains_and_conditions_without_parentheses() {
    assert_eq!(
        sx("if ($a == 1) { $b = 1; } else if ($a == 2) { $b = 2; } else { $b = 3; }"),
        "(if (== $a 1) {(= $b 1)} (if (== $a 2) {(= $b 2)} {(= $b 3)}))"
    );
    assert_eq!(stmts("BEGIN { if $ns { @usecs = 1; } }"), vec!["(if $ns {(= @usecs 1)})"]);
    assert_eq!(stmts("BEGIN { $x = if (1) { 2 } else { 3 }; }"), vec!["(= $x (if 1 {(tail 2)} {(tail 3)}))"]);
}

#[test]
fn loops() {
    assert_eq!(stmts("BEGIN { while ($i < 10) { $i++; } }"), vec!["(while (< $i 10) {(++post $i)})"]);
    assert_eq!(stmts("BEGIN { for ($kv : @map) { print($kv.0); } }"), vec!["(for $kv @map {print((. $kv 0))})"]);
    assert_eq!(stmts("BEGIN { for ($i : 0..ncpus) { continue; } }"), vec!["(for $i (.. 0 ncpus) {continue})"]);
    assert_eq!(
        stmts("BEGIN { for $j : ((uint64)0)..((uint64)5) { break; } }"),
        vec!["(for $j (.. (cast uint64 0) (cast uint64 5)) {break})"]
    );
    assert_eq!(stmts("BEGIN { unroll(3) { @x++; } }"), vec!["(unroll 3 {(++post @x)})"]);
}

#[test]
fn jumps_discards_and_blocks_as_expressions() {
    assert_eq!(stmts("BEGIN { return; }"), vec!["return"]);
    assert_eq!(stmts("k:f { if (pid == 1) { return; } @x = 1; }"), vec!["(if (== pid 1) {return})", "(= @x 1)"]);
    assert_eq!(stmts("BEGIN { _ = has_key(@a, 1); }"), vec!["(_ has_key(@a, 1))"]);
    assert_eq!(stmts("BEGIN { let $a = { let $b = 1; $b }; }"), vec!["(let $a {(let $b 1) (tail $b)})"]);
    assert_eq!(stmts("BEGIN { { $x = 1; } }"), vec!["{(= $x 1)}"]);
    assert_eq!(stmts("BEGIN { ; ; @x = 1;; }"), vec!["(= @x 1)"]);
}

#[test]
fn the_last_statement_needs_no_semicolon() {
    assert_eq!(stmts("BEGIN { @x = 1 }"), vec!["(= @x 1)"]);
    assert_eq!(stmts("BEGIN { print(1) }"), vec!["print(1)"]);
    assert_eq!(stmts("BEGIN { exit() } END { }").len(), 1);
}

#[test]
fn comments_anywhere() {
    let p = parse_ok("// one\ninterval:s:1 { // inline\n/*\n multi\n*/\n  print(/* in */ 1);\n}\n");
    assert_eq!(block(&p.probes[0].body), vec!["print(1)"]);
}

fn provider_of(text: &str) -> (Provider, String) {
    let p = parse_ok(&format!("{text} {{ }}"));
    let ap = &p.probes[0].attach_points[0];
    (ap.provider, ap.canonical())
}

#[test]
fn every_provider_and_alias() {
    let cases = [
        ("BEGIN", Provider::Begin, "BEGIN"),
        ("begin", Provider::Begin, "BEGIN"),
        ("END", Provider::End, "END"),
        ("end", Provider::End, "END"),
        ("kprobe:vfs_read", Provider::Kprobe, "kprobe:vfs_read"),
        ("k:vfs_read", Provider::Kprobe, "kprobe:vfs_read"),
        ("kretprobe:vfs_read", Provider::Kretprobe, "kretprobe:vfs_read"),
        ("kr:vfs_read", Provider::Kretprobe, "kretprobe:vfs_read"),
        ("uprobe:/bin/bash:readline", Provider::Uprobe, "uprobe:/bin/bash:readline"),
        ("u:/bin/bash:readline", Provider::Uprobe, "uprobe:/bin/bash:readline"),
        ("uretprobe:/bin/bash:readline", Provider::Uretprobe, "uretprobe:/bin/bash:readline"),
        ("ur:/bin/bash:readline", Provider::Uretprobe, "uretprobe:/bin/bash:readline"),
        ("tracepoint:sched:sched_switch", Provider::Tracepoint, "tracepoint:sched:sched_switch"),
        ("t:sched:sched_switch", Provider::Tracepoint, "tracepoint:sched:sched_switch"),
        ("rawtracepoint:sched_switch", Provider::RawTracepoint, "rawtracepoint:sched_switch"),
        ("rt:vmlinux:kfree_skb", Provider::RawTracepoint, "rawtracepoint:vmlinux:kfree_skb"),
        ("fentry:vfs_read", Provider::Fentry, "fentry:vfs_read"),
        ("f:vfs_read", Provider::Fentry, "fentry:vfs_read"),
        ("kfunc:vfs_read", Provider::Fentry, "fentry:vfs_read"),
        ("fexit:vfs_read", Provider::Fexit, "fexit:vfs_read"),
        ("fr:vfs_read", Provider::Fexit, "fexit:vfs_read"),
        ("kretfunc:vfs_read", Provider::Fexit, "fexit:vfs_read"),
        ("usdt:/root/tick:loop", Provider::Usdt, "usdt:/root/tick:loop"),
        ("U:/root/tick:prov:loop", Provider::Usdt, "usdt:/root/tick:prov:loop"),
        ("profile:hz:99", Provider::Profile, "profile:hz:99"),
        ("p:ms:10", Provider::Profile, "profile:ms:10"),
        ("interval:s:1", Provider::Interval, "interval:s:1"),
        ("i:1s", Provider::Interval, "interval:s:1"),
        ("software:faults:100", Provider::Software, "software:faults:100"),
        ("s:cs:1", Provider::Software, "software:cs:1"),
        ("hardware:cache-misses:1e6", Provider::Hardware, "hardware:cache-misses:1000000"),
        ("h:cycles", Provider::Hardware, "hardware:cycles"),
        ("watchpoint:0x10000000:8:rw", Provider::Watchpoint, "watchpoint:0x10000000:8:rw"),
        ("w:0x1000:4:w", Provider::Watchpoint, "watchpoint:0x1000:4:w"),
        ("iter:task", Provider::Iter, "iter:task"),
        ("it:task_file:/sys/fs/bpf/files", Provider::Iter, "iter:task_file:/sys/fs/bpf/files"),
        ("self:signal:SIGUSR1", Provider::SelfEvent, "self:signal:SIGUSR1"),
    ];
    for (text, provider, canonical) in cases {
        assert_eq!(provider_of(text), (provider, canonical.to_string()), "{text}");
    }
}

#[test]
fn attach_point_forms() {
    let p = parse_ok(
        "kprobe:vfs_*, kprobe:tcp_{connect,close}, kprobe:do_sys_open+0x10,\n  kprobe:lookup_fast.constprop.*\n/pid != 1/\n{ @[probe] = count(); }",
    );
    let aps = &p.probes[0].attach_points;
    assert_eq!(
        aps.iter().map(|a| a.canonical()).collect::<Vec<_>>(),
        vec!["kprobe:vfs_*", "kprobe:tcp_{connect,close}", "kprobe:do_sys_open+16", "kprobe:lookup_fast.constprop.*"]
    );
    assert!(aps[0].has_wildcard() && aps[1].has_wildcard() && !aps[2].has_wildcard());
    assert_eq!(p.probes[0].predicate.as_ref().map(expr), Some("(!= pid 1)".to_string()));

    let q =
        parse_ok(r#"uprobe:"/opt/my app/bin":"_ZN5MyApp6Server14handle_requestEi", u:/p:cpp:"MyApp::Server::*" { }"#);
    let t: Vec<&Target> = q.probes[0].attach_points.iter().map(|a| &a.target).collect();
    assert_eq!(
        t[0],
        &Target::User {
            binary: Some("/opt/my app/bin".into()),
            location: UserLocation::Symbol { name: "_ZN5MyApp6Server14handle_requestEi".into(), offset: None },
            lang: None,
        }
    );
    assert_eq!(
        t[1],
        &Target::User {
            binary: Some("/p".into()),
            location: UserLocation::Symbol { name: "MyApp::Server::*".into(), offset: None },
            lang: Some("cpp".into()),
        }
    );
}

#[test]
fn predicates_end_at_a_slash_before_the_body() {
    let p = parse_ok("k:f /arg2 / 16 > 1/ { }");
    assert_eq!(p.probes[0].predicate.as_ref().map(expr), Some("(> (/ arg2 16) 1)".to_string()));
    let q = parse_ok("BEGIN/1/{ }");
    assert_eq!(q.probes[0].predicate.as_ref().map(expr), Some("1".to_string()));
}

#[test]
fn positional_parameters_in_attach_points() {
    let src = bpfscope_lang::Source::new("stdin", "uprobe:$1:main { }");
    let p = bpfscope_lang::parse(&src, &bpfscope_lang::ParseOptions::with_btf(vec!["/bin/ls".into()])).expect("parses");
    assert_eq!(p.probes[0].attach_points[0].canonical(), "uprobe:/bin/ls:main");
}

#[test]
fn program_sections() {
    let p = parse_ok(
        r#"#!/usr/bin/env bpftrace
#include <linux/sched.h>
#define RED "\033[31m"
struct S { int x; char name[16]; struct S *next; unsigned long long y : 3; };
union U { int a; long b; }
enum E { A, B = 5, C };
config = { stack_mode = perf; max_map_keys = 2; print_maps_on_exit = false; license = "GPL" }
import "lib.bt";
let @a = lruhash(100);
macro greet { print("hi"); }
macro add($x, @m, e) { $x + e }
fn twice($v: uint64): uint64 { $v * 2 }
kprobe:do_nanosleep { greet!(); }
"#,
    );
    assert!(p.shebang.is_some());
    assert!(matches!(&p.c_items[0], CItem::Include { path, .. } if path == "linux/sched.h"));
    assert!(matches!(&p.c_items[1], CItem::Define(d) if d.name == "RED" && d.body == r#""\033[31m""#));
    let CItem::Struct(s) = &p.c_items[2] else { panic!("struct") };
    assert_eq!(s.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["x", "name", "next", "y"]);
    assert_eq!(s.fields[3].bitfield, Some(3));
    assert!(matches!(&p.c_items[3], CItem::Struct(u) if u.kind == CompositeKind::Union));
    let CItem::Enum(e) = &p.c_items[4] else { panic!("enum") };
    assert_eq!(
        e.variants.iter().map(|v| (v.name.as_str(), v.value)).collect::<Vec<_>>(),
        vec![("A", 0), ("B", 5), ("C", 6)]
    );
    let config = p.config.as_ref().expect("config");
    assert_eq!(config.entries.len(), 4);
    assert_eq!(config.entries[2].value, ConfigValue::Bool(false));
    assert_eq!(p.imports[0].path, "lib.bt");
    assert_eq!(
        (p.map_decls[0].name.as_str(), p.map_decls[0].kind.as_str(), p.map_decls[0].max_entries),
        ("a", "lruhash", 100)
    );
    assert_eq!(p.macros.len(), 2);
    assert_eq!(
        p.macros[1].params.iter().map(|m| m.kind).collect::<Vec<_>>(),
        vec![MacroParamKind::Var, MacroParamKind::Map, MacroParamKind::Expr]
    );
    assert_eq!(p.subprogs[0].name, "twice");
    assert_eq!(p.probes.len(), 1);
}

#[test]
fn preprocessor_conditionals_choose_what_is_parsed() {
    let p = parse_ok(
        "#ifndef BPFTRACE_HAVE_BTF\n#include <linux/sched.h>\nstruct never { int x; }\n#else\n#define TASK_RUNNING 0\n#endif\n\
         #if defined(TASK_RUNNING) && TASK_RUNNING == 0\n#define OK 1\n#elif 1\n#define BAD 1\n#endif\nBEGIN { }",
    );
    let names: Vec<String> = p
        .c_items
        .iter()
        .map(|i| match i {
            CItem::Include { path, .. } => format!("include {path}"),
            CItem::Define(d) => format!("define {}", d.name),
            CItem::Struct(s) => format!("struct {}", s.name),
            CItem::Enum(e) => format!("enum {}", e.name),
            CItem::Typedef(t) => format!("typedef {}", t.name),
        })
        .collect();
    assert_eq!(names, vec!["define TASK_RUNNING", "define OK"]);
}

/// A header's items come where it is included, under the program's
/// macros, and its macros count in the program's `#if` lines after it.
#[test]
fn headers_are_read_where_they_are_included() {
    let program = "#define WANT 1\n#include \"h.h\"\n#if FROM_HEADER == 2\n#define SEEN 1\n#endif\nBEGIN { }";
    let mut source = Source::new("stdin", program);
    let header = "#if WANT\n#define FROM_HEADER 2\ntypedef struct { int a; } pair_t, *pair_ptr;\n\
                  enum flags { F_A = 1 << 2, F_B = F_A | 1, F_C };\nint f(void);\n#endif\n";
    let file = source.add_file("h.h", header);
    source.bind_include(program.find("#include").expect("there"), file);
    let p = parse(&source, &ParseOptions::default()).expect("parses");
    let items: Vec<String> = p
        .c_items
        .iter()
        .map(|i| match i {
            CItem::Define(d) => format!("define {}", d.name),
            CItem::Struct(s) => format!("struct {}", s.name),
            CItem::Enum(e) => {
                let values: Vec<String> = e.variants.iter().map(|v| format!("{}={}", v.name, v.value)).collect();
                format!("enum {} {}", e.name, values.join(","))
            }
            CItem::Typedef(t) => format!("typedef {} {}", bpfscope_lang::printer::type_name(&t.ty), t.name),
            CItem::Include { path, .. } => format!("include {path}"),
        })
        .collect();
    assert_eq!(
        items,
        [
            "define WANT",
            "define FROM_HEADER",
            "struct pair_t",
            "typedef struct pair_t pair_t",
            "typedef struct pair_t * pair_ptr",
            "enum flags F_A=4,F_B=5,F_C=6",
            "define SEEN"
        ]
    );
}

#[test]
fn c_structs_with_nesting_arrays_and_function_pointers() {
    let p = parse_ok(
        "struct nameidata {\n  struct path path;\n  struct qstr last;\n  struct { int a; } anon;\n  union { int b; long c; };\n  \
         int *ptrs[4], grid[2][3];\n  void (*callback)(int, char *);\n  const char *name;\n} __attribute__((packed));\nBEGIN { }",
    );
    let CItem::Struct(s) = &p.c_items[0] else { panic!("struct") };
    let fields: Vec<String> = s
        .fields
        .iter()
        .map(|f| match &f.ty {
            CFieldType::Type(t) => format!("{} {}", bpfscope_lang::printer::type_name(t), f.name),
            CFieldType::Anonymous(inner, _) => format!("{} {{..}} {}", inner.kind.keyword(), f.name),
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            "struct path path",
            "struct qstr last",
            "struct {..} anon",
            "union {..} ",
            "int32 *[4] ptrs",
            "int32[3][2] grid",
            "void * callback",
            "int8 * name"
        ]
    );
}
