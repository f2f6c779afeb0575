#!/usr/bin/env bash
# Long fuzzing, for the given number of seconds (default 600): the fuzz
# pass of the test suite (parser, checker, resolution and compiler on
# mutated programs; crates/compiler/tests/fuzz_pass.rs), in a release build;
# then, where the nightly toolchain is, the same pipeline under libFuzzer
# (cargo-fuzz, installed if missing) for as long again.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}

./scripts/setup.sh
BPFSCOPE_FUZZ_SECONDS=$seconds cargo test --release --locked -p bpfscope-compiler --test fuzz_pass -- --nocapture
if ! rustup toolchain list 2>/dev/null | grep -q nightly; then
  echo "fuzz: no nightly toolchain here, so no libFuzzer run (the fuzz pass above covers the whole pipeline)" >&2
  exit 0
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/pipeline
cp -n fuzz/seeds/* fuzz/regressions/*.bt fuzz/corpus/pipeline/ 2>/dev/null || true
cd fuzz
cargo +nightly fuzz run pipeline corpus/pipeline -- -max_total_time="$seconds" -max_len=4096 -timeout=10
