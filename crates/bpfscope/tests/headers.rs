//! `-I DIR` and `--include FILE`: C headers with structs, enums, typedefs
//! and `#define`s, read by bpfscope's own C declaration parser. Sizes,
//! offsets and constants are checked against what gcc makes of the same
//! header; fields are read from a running process.

#[macro_use]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{bpfscope, build_target_as, stdout};

const TYPES_H: &str = "#ifndef TYPES_H
#define TYPES_H
typedef int coord_t;
typedef long wide_t, *wide_ptr_t;
#endif
";

/// A header as C programs have them: a guard, system and nested includes,
/// macros in enum values and array lengths, an anonymous struct named by
/// its typedef, a forward declaration, prototypes and an inline function.
const POINT_H: &str = "/* the layout of uprobed.c's struct point */
#ifndef POINT_H
#define POINT_H
#include <stdint.h>
#include \"types.h\"
#include \"types.h\"

#define NAME_LEN 8
#define SHIFTED (1 << 4)

enum shape { SHAPE_NONE, SHAPE_DOT = 3, SHAPE_BIG = SHIFTED | SHAPE_DOT, SHAPE_NEXT };

typedef struct {
    coord_t x;
    char name[NAME_LEN];
    wide_t y;
} point_t;

struct holder {
    uint8_t tag;
    point_t points[2];
    union { short s; wide_ptr_t p; };
    enum shape shape;
};

struct point;
long point_sum(point_t *p);
static inline int twice(int v) { char c = '}'; return v * 2 + (c == '{'); }
extern const char *names[];
#endif
";

/// A directory holding the headers (and, from `extra`, more files).
fn header_dir(name: &str, extra: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bpfscope-headers-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creates the directory");
    for (file, text) in [("types.h", TYPES_H), ("point.h", POINT_H)].iter().chain(extra) {
        std::fs::write(dir.join(file), text).expect("writes the header");
    }
    dir
}

/// What gcc says of the header: the constants, sizes and offsets the
/// bpfscope program below prints, in the same order.
fn gcc_answer(dir: &Path) -> String {
    let src = dir.join("answer.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stddef.h>\n#include \"point.h\"\n\
         int main(void) { printf(\"%d %d %d %zu %zu %zu %zu %zu %zu\\n\", SHAPE_DOT, SHAPE_BIG, SHAPE_NEXT, \
         sizeof(point_t), offsetof(point_t, y), sizeof(struct holder), offsetof(struct holder, points), \
         offsetof(struct holder, p), offsetof(struct holder, shape)); return 0; }\n",
    )
    .expect("writes");
    let exe = dir.join("answer");
    let built = Command::new("cc").arg("-o").arg(&exe).arg(&src).status().expect("cc runs");
    assert!(built.success());
    stdout(&Command::new(&exe).output().expect("runs"))
}

const SIZES: &str = r#"printf("%d %d %d %d %d %d %d %d %d\n", SHAPE_DOT, SHAPE_BIG, SHAPE_NEXT, sizeof(point_t), offsetof(point_t, y), sizeof(struct holder), offsetof(struct holder, points), offsetof(struct holder, p), offsetof(struct holder, shape));"#;

#[test]
fn constants_sizes_and_offsets_are_gccs() {
    require_root!();
    let dir = header_dir("sizes", &[]);
    let expected = gcc_answer(&dir);
    assert_eq!(expected, "3 19 20 24 16 72 8 56 64\n");
    let d = dir.to_str().expect("utf-8");
    // Through -I and #include, and through --include.
    let program = format!("#include \"point.h\"\nBEGIN {{ {SIZES} exit(); }}");
    let o = bpfscope().args(["-q", "-I", d, "-e", &program]).output().expect("runs");
    assert_eq!(stdout(&o), format!("{expected}\n\n"), "{}", String::from_utf8_lossy(&o.stderr));
    let point_h = dir.join("point.h");
    let program = format!("BEGIN {{ {SIZES} exit(); }}");
    let o =
        bpfscope().args(["-q", "--include", point_h.to_str().expect("utf-8"), "-e", &program]).output().expect("runs");
    assert_eq!(stdout(&o), format!("{expected}\n\n"), "{}", String::from_utf8_lossy(&o.stderr));
    // A program file's quoted includes are looked for next to it.
    let file = dir.join("prog.bt");
    std::fs::write(&file, format!("#include \"point.h\"\nBEGIN {{ {SIZES} exit(); }}")).expect("writes");
    let o = bpfscope().args(["-q", file.to_str().expect("utf-8")]).output().expect("runs");
    assert_eq!(stdout(&o), format!("{expected}\n\n"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A struct declared in a header, read from a live process's memory:
/// uprobed calls point_sum(&{7, "pointy", 35}) three times.
#[test]
fn a_headers_struct_reads_a_process_memory() {
    require_root!();
    let dir = header_dir("uprobe", &[]);
    let target = build_target_as("uprobed", "uprobed_headers", &[]);
    let t = target.to_str().expect("utf-8");
    let program = format!(
        "#include <point.h>\nuprobe:{t}:point_sum {{ $p = (point_t *)arg0; printf(\"%d %s %d %d\\n\", $p->x, $p->name, $p->y, SHAPE_BIG); }}"
    );
    let o = bpfscope()
        .args(["-q", "-I", dir.to_str().expect("utf-8"), "-c", &format!("{t} 3"), "-e", &program])
        .output()
        .expect("runs");
    assert_eq!(stdout(&o), "7 pointy 35 19\n".repeat(3) + "\n\n", "{}", String::from_utf8_lossy(&o.stderr));
}

/// What bpfscope cannot read is an error in the header's own file and
/// line, naming the construct, and nothing runs.
#[test]
fn what_cannot_be_read_is_named_where_it_is() {
    let dir = header_dir(
        "errors",
        &[
            ("fn.h", "#define A 1\ntypedef int handler_t(int);\n"),
            ("enum.h", "enum e {\n  E_A = sizeof(int),\n};\n"),
            ("array.h", "struct s { char name[LEN]; };\n"),
            ("unterminated.h", "#ifdef X\nstruct s { int a; };\n"),
            ("loop.h", "#include \"loop.h\"\n"),
            ("bytes.h", "\u{0}\u{ff}"),
        ],
    );
    std::fs::write(dir.join("bytes.h"), [b'/', b'*', 0xff, b'*', b'/']).expect("writes");
    let d = dir.to_str().expect("utf-8");
    let run = |header: &str| {
        let o = bpfscope()
            .args(["--dry-run", "-I", d, "-e", &format!("#include \"{header}\"\nBEGIN {{ exit(); }}")])
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(1), "{header}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let fn_h = dir.join("fn.h").display().to_string();
    assert_eq!(
        run("fn.h"),
        format!(
            "{fn_h}:2:13: error: cannot read typedef 'handler_t': it names a function type\n\
             typedef int handler_t(int);\n            ~~~~~~~~~\n\
             hint: a pointer to it can be declared as: typedef RET (*NAME)(ARGS);\n\
             hint: bpfscope reads struct, union and enum definitions, typedefs and #define lines from C headers\n"
        )
    );
    let enum_h = dir.join("enum.h").display().to_string();
    assert!(
        run("enum.h")
            .starts_with(&format!("{enum_h}:2:9: error: cannot work out the value of enumerator E_A: 'sizeof(int)'\n")),
        "{}",
        run("enum.h")
    );
    assert!(run("array.h").contains("array.h:1:22: error: cannot work out the length of array name: 'LEN'"));
    assert!(run("unterminated.h").contains("unterminated.h:1:1: error: unterminated conditional directive"));
    assert!(run("loop.h").contains("error: #include nested more than 32 deep"), "{}", run("loop.h"));
    let bytes = run("bytes.h");
    assert!(bytes.starts_with("stdin:1:1: error: cannot read header ") && bytes.contains("UTF-8"), "{bytes}");
}

/// A header bpfscope was not given (not next to the program, not in a -I
/// directory) is the kernel's: its types come from BTF, as without -I.
#[test]
fn headers_not_given_are_left_to_btf() {
    require_root!();
    let dir = header_dir("btf", &[]);
    let o = bpfscope()
        .args([
            "-q",
            "-I",
            dir.to_str().expect("utf-8"),
            "-e",
            "#include <linux/sched.h>\nBEGIN { printf(\"%d\\n\", sizeof(struct task_struct) > 1000); exit(); }",
        ])
        .output()
        .expect("runs");
    assert_eq!(stdout(&o), "1\n\n\n", "{}", String::from_utf8_lossy(&o.stderr));
}
