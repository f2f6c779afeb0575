#!/usr/bin/env bash
# Builds bpfscope for installing elsewhere: one statically linked binary
# (glibc's static libraries; libelf and zlib are linked from their
# archives already), and a .deb holding it with a link per tool, the man
# pages and the bash, zsh and fish completions. Prints the .deb's path.
#
#   bash scripts/package.sh            # -> target/debian/bpfscope_*.deb
#
# It builds in its own target directory (target/package-build), so that it
# can run while another cargo command holds target/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
export CARGO_TARGET_DIR="$PWD/target/package-build"
triple=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p bpfscope --target "$triple" >&2
bin="$CARGO_TARGET_DIR/$triple/release/bpfscope"

# What the package holds besides the binary, made by the binary itself.
stage="$CARGO_TARGET_DIR/$triple/release/stage"
rm -rf "$stage"
mkdir -p "$stage/man" "$stage/completions" "$stage/links"
"$bin" --man-pages "$stage/man"
gzip -9n "$stage"/man/*.8
"$bin" --completions bash > "$stage/completions/bpfscope"
"$bin" --completions zsh > "$stage/completions/_bpfscope"
"$bin" --completions fish > "$stage/completions/bpfscope.fish"
for tool in $("$bin" tools | cut -d' ' -f1); do
  ln -s bpfscope "$stage/links/$tool"
done

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "package: installing cargo-deb" >&2
  cargo install cargo-deb --locked --quiet >&2
fi
cargo deb -p bpfscope --no-build --target "$triple" --output target/debian/ 2>&1 | tail -1
