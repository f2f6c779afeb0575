#!/usr/bin/env bash
# Sets up, builds bpfscope, and checks a first program: the tree it parses
# into, then what an error looks like. (Running traces comes with the
# compiler and runtime; until then bpfscope parses and checks.)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --locked -q
bin=target/release/bpfscope

program='kprobe:vfs_read /pid > 1/ { @bytes[comm] = hist(arg2); }'
echo "\$ bpfscope --dry-run -d ast -e '$program'"
"$bin" --dry-run -d ast -e "$program"
echo "(checked: no errors)"
echo
bad='kretprobe:vfs_read { @[comm] = count(); @[comm] = retval; }'
echo "\$ bpfscope --dry-run -e '$bad'"
if "$bin" --dry-run -e "$bad"; then
  echo "expected an error" >&2
  exit 1
fi
