#!/usr/bin/env bash
# The project's test command: sets up what is missing, then checks
# formatting and lints, and runs every test (unit, integration, property).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
# The oracle some tests compare with (bpftrace's own output), nm, and
# sys/sdt.h for the USDT target.
missing=()
command -v bpftrace >/dev/null 2>&1 || missing+=(bpftrace)
command -v nm >/dev/null 2>&1 || missing+=(binutils)
[ -f /usr/include/x86_64-linux-gnu/sys/sdt.h ] || [ -f /usr/include/sys/sdt.h ] || missing+=(systemtap-sdt-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc (the library's API docs, warnings are errors)" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test" >&2
# The bounded fuzz pass (crates/compiler/tests/fuzz_pass.rs) runs 10 s by
# default, a minute in CI; so does the soak of tests/reliability.rs.
if [ "${CI:-}" = true ]; then
  export BPFSCOPE_FUZZ_SECONDS=${BPFSCOPE_FUZZ_SECONDS:-60} BPFSCOPE_SOAK_SECONDS=${BPFSCOPE_SOAK_SECONDS:-60}
fi
cargo test --workspace --locked -- --skip fault_catalogue --skip fuzz_pass --skip the_deb_holds
# The two that print a tally, shown: the fault catalogue and the fuzz pass.
cargo test --locked -p bpfscope --test reliability -- --nocapture fault_catalogue
cargo test --locked -p bpfscope-compiler --test fuzz_pass -- --nocapture
# On its own: it builds the release binary and the .deb (a few minutes of
# both cores, which the tests above should not share).
cargo test --locked -p bpfscope --test package
