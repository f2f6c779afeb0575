//! What `scripts/package.sh` builds for installing elsewhere: a statically
//! linked binary in a .deb with a link per tool, the man pages and the
//! completions. The package is unpacked into a temporary root and used
//! from there.

#[macro_use]
mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_deb_holds_a_static_binary_with_its_links_pages_and_completions() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (ok, out, err) = run(Command::new("bash").arg(repo.join("scripts/package.sh")));
    assert!(ok, "package.sh failed:\n{err}");
    let deb = repo.join(out.lines().last().unwrap_or("").trim());
    assert!(deb.extension().is_some_and(|e| e == "deb") && deb.exists(), "no .deb in {out:?}");

    let (_, fields, _) =
        run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).args(["Package", "Version", "Architecture"]));
    assert_eq!(fields, format!("Package: bpfscope\nVersion: {}-1\nArchitecture: amd64\n", env!("CARGO_PKG_VERSION")));
    let (_, listing, _) = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for entry in [
        "./usr/bin/bpfscope\n",
        "./usr/bin/vfsstat -> bpfscope\n",
        "./usr/bin/opensnoop -> bpfscope\n",
        "./usr/share/man/man8/bpfscope.8.gz\n",
        "./usr/share/man/man8/bpfscope-vfsstat.8.gz\n",
        "./usr/share/bash-completion/completions/bpfscope\n",
        "./usr/share/zsh/vendor-completions/_bpfscope\n",
        "./usr/share/fish/vendor_completions.d/bpfscope.fish\n",
    ] {
        assert!(listing.contains(entry), "no {entry:?} in:\n{listing}");
    }

    let root = std::env::temp_dir().join(format!("bpfscope-deb-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("a directory");
    assert!(run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root)).0);
    let bin = root.join("usr/bin/bpfscope");
    assert_eq!(run(Command::new(&bin).arg("--version")).1, format!("bpfscope v{}\n", env!("CARGO_PKG_VERSION")));
    // One file, no shared libraries: ldd says so, in its words for static
    // PIE or plain static executables.
    let (_, ldd_out, ldd_err) = run(Command::new("ldd").arg(&bin));
    let ldd = format!("{ldd_out}{ldd_err}");
    assert!(ldd.contains("statically linked") || ldd.contains("not a dynamic executable"), "{ldd}");
    // A tool through its link.
    let (_, help, _) = run(Command::new(root.join("usr/bin/vfsstat")).arg("--help"));
    assert!(help.contains("vfsstat"), "{help}");
    let (ok, page, err) = run(Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(root.join("usr/share/man/man8/bpfscope.8.gz"))
        .env("MANWIDTH", "100"));
    assert!(ok && page.starts_with("BPFSCOPE(8)"), "{err}{page}");
    if is_root() {
        let (ok, out, err) = run(Command::new(&bin).args(["-e", r#"BEGIN { printf("from the package\n"); exit(); }"#]));
        assert!(ok, "{err}");
        assert_eq!(out, "from the package\n\n\n");
    } else {
        skip("running a program needs root");
    }
    std::fs::remove_dir_all(&root).ok();
}
