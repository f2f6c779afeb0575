#!/usr/bin/env bash
# Sets up, builds bpfscope, and runs a first real trace: which processes
# were on the CPUs during one second, sampled 99 times a second per CPU.
# Then it shows what an error in a program looks like.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --locked -q
bin=target/release/bpfscope
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

program='profile:hz:99 { @on_cpu[comm] = count(); } interval:s:1 { exit(); }'
echo "\$ bpfscope -e '$program'"
$sudo_cmd "$bin" -e "$program"

bad='interval:s:1 { @[comm] = count(); @[comm] = nsecs; }'
echo "\$ bpfscope -e '$bad'"
if "$bin" --dry-run -e "$bad"; then
  echo "expected an error" >&2
  exit 1
fi
