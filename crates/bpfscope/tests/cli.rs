//! The command line: where programs come from, what it prints, and its exit
//! codes.

#[macro_use]
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bpfscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(args).output().expect("runs")
}

fn with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("writes");
    child.wait_with_output().expect("waits")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let v = bpfscope(&["-V"]);
    assert_eq!((v.status.code(), stdout(&v)), (Some(0), format!("bpfscope v{}\n", env!("CARGO_PKG_VERSION"))));
    let h = bpfscope(&["--help"]);
    assert_eq!(h.status.code(), Some(0));
    for flag in ["-e <PROGRAM>", "--dry-run", "-d <STAGE>", "-l", "-p <PID>", "-c <COMMAND>"] {
        assert!(stdout(&h).contains(flag), "help lists {flag}:\n{}", stdout(&h));
    }
}

#[test]
fn a_valid_program_checks_quietly() {
    let o = bpfscope(&["--dry-run", "-e", "interval:s:1 { @[comm] = count(); }"]);
    assert_eq!((o.status.code(), stdout(&o), stderr(&o)), (Some(0), String::new(), String::new()));
}

#[test]
fn program_errors_are_rendered_against_the_program() {
    let o = bpfscope(&["--dry-run", "-e", "BEGIN { foo(); }"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "stdin:1:9: error: Unknown function: 'foo'\nBEGIN { foo(); }\n        ~~~\n");
}

#[test]
fn programs_from_files_and_stdin() {
    let dir = std::env::temp_dir().join(format!("bpfscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("bad.bt");
    std::fs::write(&file, "BEGIN {\n  @x = 1\n  @y = 2;\n}\n").expect("write");
    let path = file.to_str().expect("utf-8 path");
    let o = bpfscope(&["--dry-run", path]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("{path}:3:3: error: syntax error: unexpected '@y', expected ';'\n  @y = 2;\n  ~~\n")
    );

    let good = dir.join("good.bt");
    std::fs::write(&good, "#!/usr/bin/env bpfscope\nBEGIN { printf(\"%s\\n\", str($1)); exit(); }\n").expect("write");
    let o = bpfscope(&["--dry-run", good.to_str().expect("utf-8"), "hello"]);
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));

    let o = with_stdin(&["--dry-run", "-"], "BEGIN { exit(); }");
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));
    let o = with_stdin(&["--dry-run", "-"], "BEGIN { exit(\"x\"); }");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("stdin:1:14: error: exit() expects an integer"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let o = bpfscope(&["--dry-run", "/nonexistent/prog.bt"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "bpfscope: error: cannot read program file '/nonexistent/prog.bt': No such file or directory (os error 2)\n"
    );
}

#[test]
fn positional_parameters_reach_the_program() {
    let o = bpfscope(&["--dry-run", "-e", "BEGIN { printf(\"%d\\n\", $1 + 1); }", "abc"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "stdin:1:24: error: $1 used numerically but given \"abc\". Try using str($1).\nBEGIN { printf(\"%d\\n\", $1 + 1); }\n                       ~~\n"
    );
    let o = bpfscope(&["--dry-run", "-e", "BEGIN { printf(\"%d\\n\", $1 + 1); }", "41", "--", "--named=1"]);
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));
}

#[test]
fn debug_ast_prints_the_tree() {
    let o = bpfscope(&["--dry-run", "-d", "ast", "-e", "i:s:1 /pid > 1/ { @x[comm] = count(); }"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "Program\n interval:s:1\n  pred\n   >\n    builtin: pid\n    int: 1\n  =\n   map: @x\n    builtin: comm\n   call: count\n"
    );
    let o = bpfscope(&["-d", "codegen", "-e", "BEGIN { }"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (Some(1), "bpfscope: error: unknown debug stage 'codegen' (available: ast, insns, all)\n".to_string())
    );
}

#[test]
fn features_not_built_yet_say_so() {
    let o = bpfscope(&["--dry-run", "-e", "test:x { }"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("test probes are not supported by this version of bpfscope yet"), "{}", stderr(&o));
    let o = bpfscope(&["--dry-run", "--no-feature", "uprobe_mult", "-e", "BEGIN { exit(); }"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (
            Some(1),
            "bpfscope: error: unknown feature 'uprobe_mult' (known: uprobe_multi, uprobe_pmu, kprobe_multi, kprobe_pmu, kprobe_events, uprobe_events, bpf_loop)\n"
                .to_string()
        )
    );
}

#[test]
fn usage_errors_exit_1() {
    let o = bpfscope(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no program given"), "{}", stderr(&o));
    let o = bpfscope(&["--frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unexpected argument '--frobnicate'"), "{}", stderr(&o));
    let o = bpfscope(&["--dry-run", "-e", "config = { max_strlen = 1 }"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "stdin: error: the program has no probes\nhint: a probe looks like: BEGIN { printf(\"hello\\n\"); }\n"
    );
}

#[test]
fn binary_garbage_is_an_error_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("bpfscope-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("garbage.bt");
    std::fs::write(&file, [0x7f, b'E', b'L', b'F', 0xff, 0xfe, 0x00]).expect("write");
    let o = bpfscope(&["--dry-run", file.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not a text file"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_builtins_lists_the_registry() {
    let o = bpfscope(&["--help-builtins"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    let names: Vec<&str> =
        text.lines().filter(|l| !l.starts_with(' ')).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names.len(), bpfscope_lang::registry::REGISTRY.len(), "{text}");
    assert!(text.contains("strlen                uint64 strlen(string s)\n"), "{text}");
    assert!(text.contains("unwatch               void unwatch(addr) [not built yet]\n"), "{text}");
}

/// `--info` in 0.26's layout, with what this kernel has: the development
/// machines' kernel has BTF, ring buffers and uprobe_multi, and no kprobes
/// (so no kprobe_multi); the VM's kernel test checks the rest.
#[test]
fn info_reports_this_kernel() {
    require_root!();
    let o = bpfscope(&["--info"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let sections: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ') && !l.is_empty()).collect();
    assert_eq!(sections, ["System", "Build", "Kernel helpers", "Kernel features", "Probe types"], "{text}");
    for expected in [
        "  Arch: x86_64\n",
        "  version: v",
        "btf: yes",
        "ringbuf: yes",
        "uprobe_multi: yes",
        "loop: yes",
        // What this build can do: DWARF, blazesym, dw_ustack's unwinding.
        "  libdw (DWARF support): yes\n",
        "  blazesym (advanced symbolization): yes\n",
        "  dwunwind (DWARF stack unwinding): yes\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    let kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
    assert!(text.contains(if kprobes { "kprobe_multi: yes" } else { "kprobe_multi: no" }), "{text}");
    // Two columns of 35 characters, as 0.26 pads them.
    let row = text.lines().find(|l| l.starts_with("  get_func_ip: ")).expect("a helper row");
    assert_eq!(row.len(), 70, "{row:?}");
    assert!(row[35..].starts_with("lookup_percpu_elem: "), "{row:?}");
}

/// `-d insns` prints each probe's instructions, in the verifier's syntax,
/// under the source line they came from; `-d all` adds the AST; an unknown
/// stage names the ones there are.
#[test]
fn debug_insns_lists_each_probe() {
    let o = bpfscope(&["-d", "insns", "--dry-run", "-e", "BEGIN {\n  @x = 1;\n  exit();\n}"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.starts_with("BEGIN ("), "{out}");
    assert!(out.contains("; BEGIN {\n"), "{out}");
    assert!(out.contains("\n;   @x = 1;\n"), "{out}");
    assert!(out.contains("\n;   exit();\n"), "{out}");
    assert!(out.contains(": call bpf_map_update_elem#2\n") || out.contains(": call bpf_map_lookup_elem#1\n"), "{out}");
    assert!(out.contains(": exit\n"), "{out}");
    let all = bpfscope(&["-d", "all", "--dry-run", "-e", "BEGIN { exit(); }"]);
    let out = String::from_utf8_lossy(&all.stdout);
    assert!(out.contains("BEGIN (") && out.contains("Program"), "{out}");
    let bad = bpfscope(&["-d", "llvm", "-e", "BEGIN { }"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("unknown debug stage 'llvm' (available: ast, insns, all)"), "{}", stderr(&bad));
}

/// `tools` and `tool` are commands in the help (short and long), while a
/// program's parameter spelled `tools` stays a parameter.
#[test]
fn help_shows_the_tool_commands() {
    for flag in ["-h", "--help"] {
        let o = bpfscope(&[flag]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(
                "\nCommands:\n  tools  List the ready-made tools, a line each\n  tool   Run a ready-made tool"
            ),
            "{text}"
        );
    }
}

#[test]
fn a_parameter_named_like_a_command_stays_a_parameter() {
    require_root!();
    let o = bpfscope(&["-e", r#"BEGIN { printf("%s\n", str($1)); exit(); }"#, "tools"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "tools\n\n\n");
}

/// The bash completion script registers itself with bash, and completes
/// the flags and each tool's name (after `tool`) and options; the other
/// shells' scripts are generated from the same definitions.
#[test]
fn completion_scripts_cover_flags_and_tools() {
    let o = bpfscope(&["--completions", "bash"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let script = String::from_utf8_lossy(&o.stdout).into_owned();
    let path = std::env::temp_dir().join(format!("bpfscope-completion-{}.bash", std::process::id()));
    std::fs::write(&path, &script).expect("writes");
    // COMP_WORDS as bash fills them for `bpfscope tool vfs<TAB>` and
    // `bpfscope --be<TAB>`.
    let complete = |words: &str| -> String {
        let line = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _bpfscope bpfscope \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display()
        );
        let out = std::process::Command::new("bash").args(["-c", &line]).output().expect("bash runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let registered = std::process::Command::new("bash")
        .args(["-c", &format!("source {}; complete -p bpfscope", path.display())])
        .output()
        .expect("bash runs");
    assert!(String::from_utf8_lossy(&registered.stdout).contains("_bpfscope"), "{script}");
    assert_eq!(complete("bpfscope --be").trim(), "--bench");
    assert_eq!(complete("bpfscope tool vfs").trim(), "vfsstat");
    let tool_options = complete("bpfscope tool vfsstat -");
    assert!(tool_options.lines().any(|l| l == "-h" || l == "--help"), "{tool_options}");
    std::fs::remove_file(&path).ok();
    for (shell, marker) in [("zsh", "#compdef bpfscope"), ("fish", "complete -c bpfscope")] {
        let o = bpfscope(&["--completions", shell]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && text.contains(marker) && text.contains("vfsstat"), "{shell}: {text}");
    }
}

/// `--man-pages DIR` writes bpfscope.8 and a page per tool, which man
/// renders: the flags, the commands, a tool's own options.
#[test]
fn man_pages_render() {
    let dir = std::env::temp_dir().join(format!("bpfscope-man-{}", std::process::id()));
    let o = bpfscope(&["--man-pages", dir.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .expect("the directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 14, "{pages:?}");
    assert!(
        pages.contains(&"bpfscope.8".to_string()) && pages.contains(&"bpfscope-vfsstat.8".to_string()),
        "{pages:?}"
    );
    let render = |page: &str| -> String {
        let out = std::process::Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(dir.join(page))
            .env("MANWIDTH", "100")
            .output()
            .expect("man runs (scripts/setup.sh installs man-db)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let main = render("bpfscope.8");
    assert!(main.starts_with("BPFSCOPE(8)"), "{main}");
    for expected in ["NAME", "SYNOPSIS", "--bench", "--completions", "bpfscope-tools(8)", "bpfscope-tool(8)"] {
        assert!(main.contains(expected), "no {expected:?} in:\n{main}");
    }
    let tool = render("bpfscope-vfsstat.8");
    assert!(tool.starts_with("BPFSCOPE-VFSSTAT(8)"), "{tool}");
    assert!(tool.contains("vfsstat - Count some VFS calls, per second."), "{tool}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Diagnostics are coloured as bpftrace 0.26 colours its log (errors red,
/// warnings yellow) on a terminal only: never into a pipe, not with
/// NO_COLOR, BPFTRACE_COLOR=never or --color never; --color always and
/// BPFTRACE_COLOR=always force it.
#[test]
fn diagnostics_are_coloured_only_on_a_terminal() {
    const RED: &str = "\x1b[31m";
    const RESET: &str = "\x1b[0m";
    let program = "BEGIN { x }";
    let plain = "stdin:1:9: error: Unknown identifier: 'x'\nBEGIN { x }\n        ^\n";
    let colored =
        format!("{RED}stdin:1:9: error: Unknown identifier: 'x'{RESET}\nBEGIN {{ x }}\n{RED}        ^{RESET}\n");
    // Through a pipe (as every test runs it).
    assert_eq!(stderr(&bpfscope(&["--dry-run", "-e", program])), plain);
    assert_eq!(stderr(&bpfscope(&["--color", "always", "--dry-run", "-e", program])), colored);
    let forced =
        support::bpfscope().env("BPFTRACE_COLOR", "always").args(["--dry-run", "-e", program]).output().expect("runs");
    assert_eq!(stderr(&forced), colored);
    // On a terminal: script(1) gives the command one (and turns its "\n"
    // into "\r\n").
    let on_terminal = |env: &[(&str, &str)], flags: &str| -> String {
        let exe = env!("CARGO_BIN_EXE_bpfscope");
        let line = format!("{exe} {flags} --dry-run -e '{program}'");
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).env_remove("NO_COLOR").env_remove("BPFTRACE_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("script (util-linux) runs");
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
    };
    assert_eq!(on_terminal(&[], ""), colored);
    assert_eq!(on_terminal(&[("NO_COLOR", "1")], ""), plain);
    assert_eq!(on_terminal(&[("BPFTRACE_COLOR", "never")], ""), plain);
    assert_eq!(on_terminal(&[], "--color never"), plain);
    // A warning is yellow.
    let warned = bpfscope(&["--color", "always", "--dry-run", "-e", "profile:hz:99 { @[dw_ustack] = count(); }"]);
    assert!(
        stderr(&warned).contains("\x1b[33mstdin: warning: Script is using an unstable feature"),
        "{}",
        stderr(&warned)
    );
}
