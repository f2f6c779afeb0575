//! `--info`: the system, the build and what the kernel offers, in bpftrace
//! 0.26's layout (scripts grep it for `btf: yes`, `kprobe_multi: yes`).

use std::fmt::Write;

/// The report, as 0.26 lays it out: sections of `  name: value` lines,
/// the kernel's in two columns of 35 characters.
pub fn report() -> String {
    let mut out = String::new();
    let (sysname, release, version, machine) = uname();
    let _ = writeln!(out, "System\n  OS: {sysname} {release} {version}\n  Arch: {machine}\n");
    let _ = writeln!(out, "Build\n  version: v{}", env!("CARGO_PKG_VERSION"));
    // No LLVM: bpfscope emits eBPF itself. The other rows say whether the
    // capability is there, as scripts read them: DWARF (through gimli, not
    // libdw), blazesym's symbolization, dw_ustack's unwinding.
    for (name, value) in [
        ("LLVM", "no (eBPF emitted directly)"),
        ("bfd", "no"),
        ("libdw (DWARF support)", "yes"),
        ("libsystemd (systemd notify support)", "no"),
        ("blazesym (advanced symbolization)", "yes"),
        ("dwunwind (DWARF stack unwinding)", "yes"),
    ] {
        let _ = writeln!(out, "  {name}: {value}");
    }
    out.push('\n');
    for (title, rows) in bpfscope_runtime::attach::kernel_report() {
        out.push_str(title);
        out.push('\n');
        for pair in rows.chunks(2) {
            for (i, (name, value)) in pair.iter().enumerate() {
                let indent = if i == 0 { "  " } else { "" };
                let _ = write!(out, "{:<35}", format!("{indent}{name}: {value}"));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

fn uname() -> (String, String, String, String) {
    // SAFETY: uname fills a zeroed struct it is given.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let text = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (text(&u.sysname), text(&u.release), text(&u.version), text(&u.machine))
}
