//! Frames and symbols as bpftrace 0.26 prints them: demangled C++ and Rust
//! names, file and line from DWARF (checked against addr2line), the stack
//! modes, and `func` demangled.

#[macro_use]
mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

/// Runs `program` on `target ARGS` (-c) and returns what it printed.
fn trace(target: &std::path::Path, args: &str, program: &str) -> String {
    let out = bpfscope().args(["-c", &format!("{} {args}", target.display()), "-e", program]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    stdout(&out)
}

/// The lines of the map key of `@` whose count is `count`, trimmed.
fn key_frames(text: &str, map: &str, count: u64) -> Vec<String> {
    let key = text
        .split(&format!("{map}[\n"))
        .nth(1)
        .and_then(|k| k.split(&format!("]: {count}\n")).next())
        .unwrap_or_else(|| panic!("no {map} with count {count} in {text}"));
    key.lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn cpp_frames_and_func_are_demangled() {
    require_root!();
    let target = build_target_as("cxxwork", "cxxwork", &["-fno-omit-frame-pointer"]);
    let t = target.display();
    let program = format!(
        "config = {{ show_debug_info = false }} uprobe:{t}:_ZN2ns1K4workEi {{ @[ustack(2)] = count(); @f[func] = count(); }}"
    );
    let text = trace(&target, "3", &program);
    let frames = key_frames(&text, "@", 3);
    assert_eq!(frames[0], "ns::K::work(int)+0", "{text}");
    assert!(text.contains("@f[ns::K::work(int)]: 3\n"), "{text}");
    // A caller's frame, demangled with its parameters.
    let program = format!("config = {{ show_debug_info = false }} uprobe:{t}:leaf {{ @[ustack(3)] = count(); }}");
    let text = trace(&target, "3", &program);
    let frames = key_frames(&text, "@", 3);
    assert_eq!(frames[0], "leaf+0", "{text}");
    assert!(frames[1].starts_with("drive(ns::K&, int)+"), "{text}");
    assert!(frames[2].starts_with("main+"), "{text}");
    // cpp: names, demangled, without or with the parameter list, and as
    // wildcards.
    for name in ["\"ns::K::work\"", "\"ns::K::work(int)\"", "\"ns::*::work\"", "\"*work\""] {
        let program = format!("uprobe:{t}:cpp:{name} {{ @[func] = count(); }}");
        let text = trace(&target, "3", &program);
        // The target's own line first: the sum of its calls.
        assert_eq!(text, "9\n\n\n@[ns::K::work(int)]: 3\n", "cpp:{name}");
    }
    let out = bpfscope().args(["--dry-run", "-e", &format!("uprobe:{t}:cpp:\"ns::K::nope\" {{ }}")]).output();
    let err = String::from_utf8_lossy(&out.expect("runs").stderr).into_owned();
    assert!(err.contains(&format!("error: no C++ function in {t} matches 'ns::K::nope'")), "{err}");
    // cpp_demangle = false: the names as the symbol table has them.
    let program = format!(
        "config = {{ show_debug_info = false; cpp_demangle = false }} uprobe:{t}:_ZN2ns1K4workEi {{ @[ustack(2)] = count(); @f[func] = count(); }}"
    );
    let text = trace(&target, "2", &program);
    let frames = key_frames(&text, "@", 2);
    assert_eq!(frames[0], "_ZN2ns1K4workEi+0", "{text}");
    assert!(text.contains("@f[_ZN2ns1K4workEi]: 2\n"), "{text}");
    let program = format!(
        "config = {{ show_debug_info = false; cpp_demangle = false }} uprobe:{t}:leaf {{ @[ustack(2)] = count(); }}"
    );
    let text = trace(&target, "2", &program);
    assert!(key_frames(&text, "@", 2)[1].starts_with("_Z5driveRN2ns1KEi+"), "{text}");
}

#[test]
fn rust_frames_are_demangled() {
    require_root!();
    let target = build_target_as("rustwork", "rustwork", &["-C", "force-frame-pointers=yes"]);
    let program = format!(
        "config = {{ show_debug_info = false }} uprobe:{}:*Worker*work* {{ @[ustack(1)] = count(); @f[func] = count(); }}",
        target.display()
    );
    let text = trace(&target, "4", &program);
    assert_eq!(key_frames(&text, "@", 4), ["rustwork::Worker::work+0"], "{text}");
    assert!(text.contains("@f[rustwork::Worker::work]: 4\n"), "{text}");
}

/// What addr2line (binutils, independent of us) says of an address of
/// `exe`: `(function, file:line)`.
fn addr2line(exe: &std::path::Path, address: u64) -> (String, String) {
    let out = Command::new("addr2line").arg("-f").arg("-e").arg(exe).arg(format!("0x{address:x}")).output();
    let text = String::from_utf8_lossy(&out.expect("addr2line runs").stdout).into_owned();
    let mut lines = text.lines();
    (lines.next().unwrap_or("").to_string(), lines.next().unwrap_or("").to_string())
}

/// The address of a function in the symbol table, from nm.
fn nm_address(exe: &std::path::Path, name: &str) -> u64 {
    let out = Command::new("nm").arg(exe).output().expect("nm runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_suffix(&format!(" T {name}")).and_then(|a| u64::from_str_radix(a, 16).ok()))
        .unwrap_or_else(|| panic!("{name} is not in the symbol table"))
}

/// With debug info (bpftrace 0.26's default), a frame ends with
/// `@DIR/FILE:LINE` of its address: the same file and line as addr2line
/// gives for the function's entry. Perf and raw modes as 0.26 prints them.
#[test]
fn frames_carry_file_and_line_and_modes_print_as_bpftrace() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_lines", &["-fno-omit-frame-pointer", "-no-pie"]);
    let t = target.display();
    let entry = nm_address(&target, "step_two");
    let (function, line) = addr2line(&target, entry);
    assert_eq!(function, "step_two");
    let program = format!("uprobe:{t}:step_two {{ @[ustack(1)] = count(); }}");
    let text = trace(&target, "2", &program);
    assert_eq!(key_frames(&text, "@", 2), [format!("step_two+0@{line}")], "{text}");
    // perf: a tab, the address in hex, the symbol and the file mapped;
    // raw: the address alone. The target is not position-independent, so
    // the address is the symbol table's.
    let program = format!("uprobe:{t}:step_two {{ @p[ustack(perf, 1)] = count(); @r[ustack(raw, 1)] = count(); }}");
    let text = trace(&target, "2", &program);
    let canonical = target.canonicalize().expect("canonical path");
    assert!(text.contains(&format!("@p[\n\t{entry:x} step_two+0 ({})\n]: 2\n", canonical.display())), "{text}");
    assert!(text.contains(&format!("@r[\n{entry:x}\n]: 2\n")), "{text}");
    // The stack_mode config, from the environment as bpftrace reads it.
    let out = bpfscope()
        .args(["-c", &format!("{t} 1"), "-e", &format!("uprobe:{t}:step_two {{ @[ustack(1)] = count(); }}")])
        .env("BPFTRACE_STACK_MODE", "raw")
        .output()
        .expect("runs");
    assert!(stdout(&out).contains(&format!("@[\n{entry:x}\n]: 1\n")), "{}", stdout(&out));
}

/// `ustack(build_id)`: each frame as its file's build-id (readelf's) and
/// the offset in the file (the function's address less the non-PIE base),
/// as bpftrace 0.26 prints them; `kstack(build_id)` is refused as in 0.26.
#[test]
fn build_id_stacks_name_the_file_and_offset() {
    let out = bpfscope().args(["--dry-run", "-e", "BEGIN { print(kstack(build_id)); }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "stdin:1:22: error: 'build_id' stack mode can only be used for ustack\n\
         BEGIN { print(kstack(build_id)); }\n                     ~~~~~~~~\n"
    );
    require_root!();
    let target = build_target_as("uprobed", "uprobed_build_id", &["-no-pie", "-Wl,--build-id"]);
    let readelf = Command::new("readelf").arg("-n").arg(&target).output().expect("readelf runs");
    let build_id = String::from_utf8_lossy(&readelf.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_string))
        .expect("a build-id note");
    let offset = nm_address(&target, "step_two") - 0x400000;
    let program = format!("uprobe:{}:step_two {{ @[ustack(build_id, 1)] = count(); }}", target.display());
    let text = trace(&target, "2", &program);
    assert_eq!(text, format!("\n\n@[\n{build_id} 0x{offset:x}\n]: 2\n"));
}

/// `--flamegraph FILE`: the map keyed by stacks drawn as an SVG that an XML
/// parser reads, holding the workload's frames, and the root's sample count
/// equal to the counts the map printed.
#[test]
fn flamegraph_draws_the_stack_map() {
    require_root!();
    let spinner = build_target_as("spinner", "spinner_flame", &["-fno-omit-frame-pointer"]);
    let svg = std::env::temp_dir().join(format!("bpfscope-flame-{}.svg", std::process::id()));
    let out = bpfscope()
        .args(["--flamegraph", svg.to_str().expect("utf-8"), "-c", &format!("{} 400", spinner.display())])
        .args(["-e", "profile:hz:199 /pid == cpid/ { @[kstack, ustack, comm] = count(); }"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: u64 = stdout(&out)
        .lines()
        .filter_map(|l| l.rsplit_once("]: ").map(|(_, n)| n))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    assert!(printed > 0, "{}", stdout(&out));
    let text = std::fs::read_to_string(&svg).expect("the SVG");
    let _ = std::fs::remove_file(&svg);
    let titles = svg_titles(&text);
    let samples = |t: &str| t.split(" (").nth(1).and_then(|r| r.split(' ').next()).map(|n| n.replace(',', ""));
    let all = titles.iter().find(|t| t.starts_with("all (")).expect("the root frame");
    assert_eq!(samples(all), Some(printed.to_string()), "{all}");
    // Root down: the command, its user frames, then the kernel's.
    assert!(titles.iter().any(|t| t.starts_with("spinner_flame (")), "{titles:?}");
    assert!(titles.iter().any(|t| t.starts_with("main (")), "{titles:?}");
    assert!(titles.iter().any(|t| t.starts_with("spin_here (")), "{titles:?}");
    assert!(!titles.iter().any(|t| t.contains("+0x") || t.contains('@')), "no offsets or lines: {titles:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("Wrote a flame graph of {printed} samples to")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A program without a stack map is told so before anything runs.
    let out = bpfscope().args(["--flamegraph", "/tmp/x.svg", "-e", "BEGIN { @ = count(); }"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--flamegraph draws maps keyed by stacks"));
    // Nor is a file that cannot be written left to the end of the run.
    let program = "profile:hz:99 { @[kstack] = count(); }";
    for args in [
        vec!["--flamegraph", "/nonexistent/x.svg", "-e", program],
        vec!["tool", "profile", "--svg", "/nonexistent/x.svg", "1"],
    ] {
        let out = bpfscope().args(&args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("cannot write the flame graph /nonexistent/x.svg: No such file or directory"), "{err}");
        assert!(!err.contains("Attached") && !err.contains("Sampling"), "{err}");
    }
}

/// `args.NAME` in a uprobe, typed from DWARF: integers of each width and
/// sign, a string through its pointer, read from the registers as the
/// target passed them; `-lv` lists the parameters as bpftrace 0.26 does.
#[test]
fn uprobe_args_come_from_dwarf() {
    let target = build_target_as("argsy", "argsy", &[]);
    let t = target.display();
    let out = bpfscope().args(["-lv", &format!("uprobe:{t}:takes")]).output().expect("runs");
    assert_eq!(
        stdout(&out),
        format!(
            "uprobe:{t}:takes\n    int n\n    const char* s\n    struct Foo* foo\n    unsigned char c\n    long int big\n    short int neg\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    require_root!();
    let program = format!("uprobe:{t}:takes {{ @[args.n, str(args.s), args.c, args.big, args.neg] = count(); }}");
    let text = trace(&target, "3", &program);
    assert_eq!(
        text,
        "\n\n@[0, hello, 120, -5000000000, -3]: 1\n@[7, hello, 120, -5000000000, -3]: 1\n\
         @[14, hello, 120, -5000000000, -3]: 1\n"
    );
    // A parameter the language cannot read from a register, and one the
    // function does not have.
    let err = |program: String| {
        let out = bpfscope().args(["--dry-run", "-e", &program]).output().expect("runs");
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let text = err(format!("uprobe:{t}:takes {{ print(args.nope); }}"));
    assert!(text.contains("error: no field named 'nope' here"), "{text}");
    assert!(text.contains("hint: the fields are: n, s, foo, c, big, neg"), "{text}");
    let text = err(format!("uprobe:{t}:floaty {{ print(args.x); }}"));
    assert!(text.contains("hint: the fields are: after"), "{text}");
    // An integer after a double: in the first integer register, not the
    // second (the double went to a vector register).
    let program = format!("uprobe:{t}:floaty {{ @[args.after] = count(); }}");
    assert_eq!(trace(&target, "3", &program), "\n\n@[0]: 1\n@[1]: 1\n@[2]: 1\n");
    // No debug info: said, with where to get it.
    let bare = build_target_as("argsy", "argsy_nodebug", &["-g0"]);
    let text = err(format!("uprobe:{}:takes {{ print(args.n); }}", bare.display()));
    assert!(
        text.contains(&format!(
            "error: Could not parse arguments of \"uprobe:{0}:takes\": no debuginfo found for {0}",
            bare.display()
        )),
        "{text}"
    );
    assert!(text.contains("hint: build it with -g, or install its debug symbols"), "{text}");
    // -lv on it: the functions, and one warning, as bpftrace 0.26.
    let out = bpfscope().args(["-lv", &format!("uprobe:{}:takes", bare.display())]).output().expect("runs");
    assert_eq!(stdout(&out), format!("uprobe:{}:takes\n", bare.display()));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("bpfscope: warning: No DWARF found for \"{}\", cannot show parameter info\n", bare.display())
    );
}

/// `uprobe:BIN@FILE:LINE`: the probe fires at the line's first statement,
/// once per time the line runs; addr2line says the address it fired at is
/// that line.
#[test]
fn source_line_probes_fire_at_the_line() {
    let target = build_target_as("argsy", "argsy_lines", &["-no-pie"]);
    let t = target.display();
    let err = |program: String| {
        let out = bpfscope().args(["--dry-run", "-e", &program]).output().expect("runs");
        assert_eq!(out.status.code(), Some(1), "{program}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let text = err(format!("uprobe:{t}@argsy.c:1 {{ }}"));
    assert!(text.contains("error: DWARF error: Unable to map 'argsy.c:1' to address"), "{text}");
    let text = err(format!("uprobe:{t}@nope.c:3 {{ }}"));
    assert!(text.contains("error: DWARF error: No compilation unit matches nope.c"), "{text}");
    let text = err(format!("uretprobe:{t}@argsy.c:30 {{ }}"));
    assert!(text.contains("error: Source code location not allowed"), "{text}");
    require_root!();
    let program = format!("uprobe:{t}@argsy.c:30 {{ @[reg(\"ip\")] = count(); }}");
    let text = trace(&target, "3", &program);
    let (ip, count) = text.trim().strip_prefix("@[").and_then(|r| r.split_once("]: ")).expect("one key");
    assert_eq!(count, "3", "{text}");
    let (_, line) = addr2line(&target, ip.parse().expect("an address"));
    // (addr2line may add which basic block of the line: "(discriminator 3)".)
    assert!(line.split(" (").next().is_some_and(|l| l.ends_with("argsy.c:30")), "addr2line says {line}");
}

/// A frame in code inlined into a function prints first as `[inlined]
/// NAME@FILE:LINE`, then the function itself, as bpftrace 0.26 prints
/// them; the lines are the ones `addr2line -i` gives for the address.
#[test]
fn inlined_frames_print_before_their_function() {
    require_root!();
    let target = build_target_as("inliner", "inliner", &["-O2", "-fno-omit-frame-pointer", "-no-pie"]);
    let t = target.display();
    let program = format!("uprobe:{t}:probe_me {{ @[ustack(2)] = count(); @raw[ustack(raw, 2)] = count(); }}");
    let text = trace(&target, "3", &program);
    let frames = key_frames(&text, "@", 3);
    // The return address in outer(), from the raw stack.
    let raw = key_frames(&text, "@raw", 3);
    let address = u64::from_str_radix(&raw[1], 16).expect("an address");
    let out = Command::new("addr2line").args(["-f", "-i", "-e"]).arg(&target).arg(format!("0x{address:x}")).output();
    let lines: Vec<String> = String::from_utf8_lossy(&out.expect("addr2line runs").stdout)
        .lines()
        .map(|l| l.split(" (").next().unwrap_or(l).to_string())
        .collect();
    // addr2line: innermost first, a name then its file:line.
    assert_eq!(lines[0], "inlined_helper", "{lines:?}");
    assert_eq!(lines[2], "outer", "{lines:?}");
    assert_eq!(frames.len(), 3, "{text}");
    assert!(frames[0].starts_with("probe_me+0@"), "{text}");
    assert_eq!(frames[1], format!("[inlined] inlined_helper@{}", lines[1]), "{text}");
    assert!(frames[2].starts_with("outer+") && frames[2].ends_with(&format!("@{}", lines[3])), "{text}\n{lines:?}");
}

/// A stripped copy of the argsy target, named `name`, in a directory of
/// its own, and its symbols and DWARF in a separate file (`objcopy
/// --only-keep-debug`): `(directory, binary, debug file)`.
fn stripped_with_debug_file(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let built = build_target_as("argsy", &format!("{name}_built"), &["-no-pie", "-fno-omit-frame-pointer"]);
    let dir = std::env::temp_dir().join(format!("bpfscope-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (exe, debug) = (dir.join(name), dir.join(format!("{name}.debug")));
    std::fs::copy(&built, &exe).expect("copies");
    let run = |args: &[&str]| assert!(Command::new("objcopy").args(args).status().expect("objcopy runs").success());
    let (e, d) = (exe.to_str().expect("utf-8"), debug.to_str().expect("utf-8"));
    run(&["--only-keep-debug", e, d]);
    run(&["--strip-all", e]);
    let nm = Command::new("nm").arg(&exe).output().expect("nm runs");
    assert!(String::from_utf8_lossy(&nm.stderr).contains("no symbols"), "stripped");
    (dir, exe, debug)
}

/// `-lv` parameters, `args` values, named frames and source-line probes
/// of a stripped binary, all from its separate debug file.
fn check_debug_file_is_used(exe: &std::path::Path) {
    let e = exe.display();
    let out = bpfscope().args(["-lv", &format!("uprobe:{e}:takes")]).output().expect("runs");
    assert!(stdout(&out).contains("\n    const char* s\n"), "{}", stdout(&out));
    if tracing_allowed() {
        let program = format!(
            "uprobe:{e}:takes {{ @[args.n, str(args.s)] = count(); @s[ustack(1)] = count(); }} \
             uprobe:{e}@argsy.c:30 {{ @line = count(); }}"
        );
        let text = trace(exe, "2", &program);
        assert!(text.contains("@[0, hello]: 1\n@[7, hello]: 1\n"), "{text}");
        assert!(text.contains("@line: 2\n"), "{text}");
        assert!(text.contains("@s[\n    takes+0@"), "{text}");
    }
}

/// A stripped binary whose DWARF and symbols are in a separate file found
/// by its `.gnu_debuglink` (beside it, as `objcopy --only-keep-debug`
/// leaves it).
#[test]
fn separate_debug_files_are_found_by_debuglink() {
    let (dir, exe, _) = stripped_with_debug_file("argsy_stripped");
    // objcopy records the name, and looks for the file, relative to here.
    let status = Command::new("objcopy")
        .current_dir(&dir)
        .args(["--add-gnu-debuglink=argsy_stripped.debug", "argsy_stripped"])
        .status()
        .expect("objcopy runs");
    assert!(status.success());
    check_debug_file_is_used(&exe);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same with no debuglink: the debug file is found by the binary's
/// build-id under `/usr/lib/debug/.build-id`, where -dbgsym packages put
/// it (the test puts it there and takes it away again).
#[test]
fn separate_debug_files_are_found_by_build_id() {
    if !is_root() {
        skip("writing /usr/lib/debug/.build-id needs root");
        return;
    }
    let (dir, exe, debug) = stripped_with_debug_file("argsy_by_build_id");
    let notes = Command::new("readelf").arg("-n").arg(&exe).output().expect("readelf runs");
    let notes = String::from_utf8_lossy(&notes.stdout).into_owned();
    let id = notes.lines().find_map(|l| l.trim().strip_prefix("Build ID: ")).expect("a build-id").to_string();
    let place = std::path::Path::new("/usr/lib/debug/.build-id").join(&id[..2]);
    std::fs::create_dir_all(&place).expect("the build-id directory");
    let placed = place.join(format!("{}.debug", &id[2..]));
    std::fs::rename(&debug, &placed).or_else(|_| std::fs::copy(&debug, &placed).map(|_| ())).expect("placed");
    // Taken away even where a check fails.
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _placed = Remove(placed);
    check_debug_file_is_used(&exe);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Split DWARF (`-gsplit-dwarf`): the functions' DWARF is in a `.dwo` file
/// the skeleton in the binary names; `-lv`, `args` and frames' lines are
/// read through it.
#[test]
fn split_dwarf_is_read_through_the_dwo_file() {
    let target = build_target_as("argsy", "argsy_split", &["-gsplit-dwarf", "-fno-omit-frame-pointer"]);
    let t = target.display();
    let out = bpfscope().args(["-lv", &format!("uprobe:{t}:takes")]).output().expect("runs");
    assert!(stdout(&out).ends_with("\n    long int big\n    short int neg\n"), "{}", stdout(&out));
    require_root!();
    let program = format!("uprobe:{t}:takes {{ @[args.n, args.neg] = count(); @s[ustack(1)] = count(); }}");
    let text = trace(&target, "2", &program);
    assert!(text.contains("@[0, -3]: 1\n@[7, -3]: 1\n"), "{text}");
    assert!(text.contains("@s[\n    takes+0@") && text.contains("argsy.c:14\n]: 2\n"), "{text}");
}

/// Split DWARF gathered into a package (`dwp`, binutils') beside the
/// binary, the .dwo files gone: parameters are read from the package.
#[test]
fn dwarf_packages_stand_in_for_the_dwo_files() {
    let target = build_target_as("argsy", "argsy_dwp", &["-gdwarf-4", "-gsplit-dwarf", "-fno-omit-frame-pointer"]);
    let dir = target.parent().expect("a directory");
    let t = target.display();
    let package = format!("{t}.dwp");
    let made = Command::new("dwp").args(["-e", &t.to_string(), "-o", &package]).status().expect("dwp runs");
    assert!(made.success());
    for entry in std::fs::read_dir(dir).expect("the targets' directory").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("argsy_dwp") && name.ends_with(".dwo") {
            std::fs::remove_file(entry.path()).expect("removed");
        }
    }
    let out = bpfscope().args(["-lv", &format!("uprobe:{t}:takes")]).output().expect("runs");
    assert!(stdout(&out).ends_with("\n    long int big\n    short int neg\n"), "{}", stdout(&out));
    // Without the package, the skeleton units have no functions.
    std::fs::rename(&package, format!("{package}.away")).expect("moved");
    let out = bpfscope().args(["-lv", &format!("uprobe:{t}:takes")]).output().expect("runs");
    assert!(!stdout(&out).contains("short int neg"), "{}", stdout(&out));
    std::fs::rename(format!("{package}.away"), &package).expect("moved back");
    require_root!();
    let program = format!("uprobe:{t}:takes {{ @[args.n, args.neg] = count(); }}");
    let text = trace(&target, "2", &program);
    assert!(text.contains("@[0, -3]: 1\n@[7, -3]: 1\n"), "{text}");
}

/// Structs a uprobe argument points at come from DWARF: nested structs,
/// char arrays as strings, pointers followed to the next node; a struct
/// the program declares itself wins; one whose layout a declaration
/// cannot give back (bitfields) stays an opaque pointer.
#[test]
fn struct_arguments_are_typed_from_dwarf() {
    require_root!();
    let target = build_target_as("structy", "structy", &[]);
    let t = target.display();
    let program = format!(
        r#"uprobe:{t}:visit {{ printf("%d %s %d %d %d %s %d\n", args.n->id, args.n->name, args.n->inner.s,
             args.n->inner.l, args.n->next->id, args.n->next->name, args.n->flags); }}"#
    );
    assert_eq!(trace(&target, "2", &program), "1 first -1 10 2 second 3\n1 first -1 10 2 second 3\n\n\n");
    // Casts to a struct the program does not declare: the binary's DWARF
    // has it (its size is gcc's, 48).
    let program = format!(
        r#"uprobe:{t}:visit {{ printf("%d %s %d %d\n", ((struct Node *)arg0)->id, ((struct Node *)arg0)->next->name,
             ((struct Inner *)(arg0 + 16))->l, sizeof(struct Node)); }}"#
    );
    assert_eq!(trace(&target, "1", &program), "1 second 10 48\n\n\n");
    let program = format!("struct Node {{ int first; }} uprobe:{t}:visit {{ printf(\"%d\\n\", args.n->first); }}");
    assert_eq!(trace(&target, "1", &program), "1\n\n\n");
    let out = bpfscope()
        .args(["--dry-run", "-e", &format!("uprobe:{t}:visit {{ print(args.bits->a); }}")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "error: args.bits is a struct Bits*, whose layout a declaration cannot give (bitfields, packing or \
             anonymous members)"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The return addresses of the calls to `callee` in `exe` (the address of
/// the instruction after each call), from objdump's disassembly.
fn return_addresses(exe: &std::path::Path, callee: &str) -> Vec<u64> {
    let out = Command::new("objdump").args(["-d", "--no-show-raw-insn"]).arg(exe).output().expect("objdump runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let address = |l: &str| l.split(':').next().and_then(|a| u64::from_str_radix(a.trim(), 16).ok());
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].contains("call") && w[0].ends_with(&format!("<{callee}>")))
        .filter_map(|w| address(w[1]))
        .collect()
}

/// `dw_ustack` in a program built without frame pointers (one function
/// keeps one, so both kinds of CFA rule are walked): every frame of the
/// 4-deep chain, at the addresses objdump gives (the entry, then each
/// call's return address), on through libc to `_start`; named as
/// bpftrace names frames. `ustack`, walking frame pointers, cannot.
#[test]
fn dw_ustack_walks_a_chain_built_without_frame_pointers() {
    require_root!();
    let target = build_target_as("chain", "chain_nofp", &["-O2", "-fomit-frame-pointer", "-no-pie"]);
    let t = target.display();
    let program = format!(
        "config = {{ unstable_dw_ustack = enable }}
         uprobe:{t}:level4 {{ @raw[dw_ustack(raw)] = count(); @named[dw_ustack] = count(); @fp[ustack(raw)] = count(); }}"
    );
    let text = trace(&target, "5", &program);
    let mut expected = vec![nm_address(&target, "level4")];
    for callee in ["level4", "level3", "level2"] {
        let at = return_addresses(&target, callee);
        assert_eq!(at.len(), 1, "one call of {callee}: {at:x?}");
        expected.push(at[0]);
    }
    let from_main = return_addresses(&target, "level1");
    assert!(!from_main.is_empty());
    // Each distinct stack is one key: main may call level1 from two places
    // (a rotated loop).
    let keys: Vec<(Vec<u64>, u64)> = text
        .split("@raw[\n")
        .skip(1)
        .map(|k| {
            let (frames, count) = k.split_once("]: ").expect("a key and a count");
            let frames = frames.lines().map(|l| u64::from_str_radix(l.trim(), 16).expect("hex frame")).collect();
            (frames, count.lines().next().and_then(|c| c.parse().ok()).expect("a count"))
        })
        .collect();
    assert_eq!(keys.iter().map(|k| k.1).sum::<u64>(), 5, "{text}");
    let start = nm_address(&target, "_start");
    for (frames, _) in &keys {
        assert_eq!(frames[..4], expected[..], "{text}");
        assert!(from_main.contains(&frames[4]), "main's frame {:x} is a return from level1: {text}", frames[4]);
        // On through __libc_start_call_main and __libc_start_main to _start.
        assert!(frames.len() >= 7, "{text}");
        assert!((start..start + 64).contains(frames.last().expect("frames")), "ends in _start: {text}");
    }
    let named = key_frames(&text, "@named", 5);
    let functions: Vec<&str> = named.iter().map(|f| f.split('+').next().unwrap_or("")).collect();
    assert_eq!(functions[..5], ["level4", "level3", "level2", "level1", "main"], "{text}");
    assert_eq!(functions.last(), Some(&"_start"), "{text}");
    // Frame pointers give no such stack here.
    let fp = text.split("@fp[\n").nth(1).expect("@fp");
    assert!(!fp.starts_with(&format!("{:x}\n{:x}\n{:x}\n", expected[0], expected[1], expected[2])), "{text}");
}

/// Without a target process there is no table to walk with: an error
/// at the call, as 0.26 refuses to start (it says so without a place).
#[test]
fn dw_ustack_needs_a_target_process() {
    let out = bpfscope().args(["--dry-run", "-e", "profile:hz:99 { @[dw_ustack] = count(); }"]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("stdin:1:19: error: dw_ustack requires a target process. Use -p or -c to specify one."),
        "{err}"
    );
    assert!(err.contains("Script is using an unstable feature: dw_ustack (DWARF stack unwinding)"), "{err}");
}

/// Without root, the reason given is root, not the process's unwind
/// tables it cannot read (privileges are checked before anything else
/// the run reads).
#[test]
fn dw_ustack_without_root_says_root_is_needed() {
    let mut sleeper = std::process::Command::new("sleep").arg("30").spawn().expect("sleep runs");
    let pid = sleeper.id().to_string();
    let out = run_as_nobody(&["-p", &pid, "-e", "profile:hz:99 { @[dw_ustack] = count(); }"]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let Some(out) = out else { return };
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.ends_with(
            "bpfscope: error: loading BPF programs needs root (CAP_BPF and CAP_PERFMON): run bpfscope with sudo\n"
        ),
        "{err}"
    );
    assert!(!err.contains("maps"), "{err}");
}

/// The symbol cache configs of 0.26, honoured: by default a `-p`
/// process's mappings are read at start and kept, so its frames print by
/// name after it exits; with `lazy_symbolication = true` they are read
/// only when a frame prints, and with `cache_user_symbols = NONE` nothing
/// is kept, so frames printed once the process is gone are addresses.
#[test]
fn symbol_cache_configs_decide_what_is_read_ahead() {
    require_root!();
    let target = build_target_as("uprobed", "uprobed_cache", &["-fno-omit-frame-pointer", "-no-pie"]);
    let t = target.display();
    let entry = nm_address(&target, "step_two");
    let run = |config: &str| -> String {
        let mut workload = Lingering::spawn(&target, 2);
        let pid = workload.pid().to_string();
        let program = format!("{config} uprobe:{t}:step_two {{ @[ustack(1)] = count(); }}");
        let tracer = Tracer::start(&["-p", &pid, "-e", &program]);
        workload.calls();
        // The process ends, and with it the run, which prints the map.
        workload.exit();
        stdout(&tracer.wait(std::time::Duration::from_secs(20)))
    };
    let named = run("");
    assert!(named.contains("@[\n    step_two+0@"), "{named}");
    let addressed = format!("@[\n    0x{entry:x}\n]: 2\n");
    let lazy = run("config = { lazy_symbolication = true }");
    assert!(lazy.contains(&addressed), "{lazy}");
    let uncached = run("config = { cache_user_symbols = NONE }");
    assert!(uncached.contains(&addressed), "{uncached}");
}

/// A cast to an enum the program does not declare takes it from the
/// probed binary's DWARF, and prints by the enumerator's name; one the
/// program declares wins.
#[test]
fn enum_casts_come_from_dwarf() {
    require_root!();
    let target = build_target_as("enumy", "enumy", &[]);
    let t = target.display();
    let program = format!(r#"uprobe:{t}:paint {{ printf("%s %d %d\n", (enum color)arg0, (enum color)arg0, arg1); }}"#);
    assert_eq!(trace(&target, "2", &program), "BLUE 9 0\nGREEN 5 1\n\n\n");
    let program = format!(r#"enum color {{ MINE = 9, THEIRS = 5 }}; uprobe:{t}:paint {{ print((enum color)arg0); }}"#);
    assert_eq!(trace(&target, "2", &program), "MINE\nTHEIRS\n\n\n");
}
