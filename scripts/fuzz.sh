#!/usr/bin/env bash
# Fuzzes the language front end with cargo-fuzz (libFuzzer) for the given
# number of seconds (default 600). Needs the nightly toolchain; installs
# cargo-fuzz if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}

./scripts/setup.sh
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/parse
cp -n fuzz/seeds/* fuzz/corpus/parse/ 2>/dev/null || true
cd fuzz
cargo +nightly fuzz run parse corpus/parse -- -max_total_time="$seconds" -max_len=4096 -timeout=10
