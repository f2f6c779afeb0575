//! Builds the user-space probe agent (`crates/agent`, a shared library
//! loaded into traced processes) and hands its path to the binary, which
//! carries it inside (`include_bytes!`): bpfscope stays one file.
//!
//! The agent is built by a nested cargo into its own target directory
//! (the outer build's is locked), with the outer build's profile, and
//! without the outer RUSTFLAGS (a static build's `+crt-static` cannot
//! make a shared library).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.join("../..");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out.join("agent");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    for dir in ["crates/agent", "crates/userspace"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    for file in ["Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(file).display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--locked", "-p", "bpfscope-agent", "--target-dir"])
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        // Under `cargo clippy` the agent is linted as a workspace member;
        // its build here is only a build.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CLIPPY_CONF_DIR");
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("runs cargo to build the agent");
    assert!(status.success(), "building the user-space probe agent (crates/agent) failed");
    let so = target_dir.join(if release { "release" } else { "debug" }).join("libbpfscope_agent.so");
    println!("cargo:rustc-env=BPFSCOPE_AGENT_SO={}", so.display());
}
