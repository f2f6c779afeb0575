#!/usr/bin/env bash
# Installs what building and testing bpfscope needs on a Debian machine,
# skipping what is already there. Safe to run again.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# The man page test renders the pages with man -l.
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
# libbpf is built from source and linked statically with these archives.
[ -f /usr/lib/x86_64-linux-gnu/libelf.a ] || need_apt+=(libelf-dev)
[ -f /usr/lib/x86_64-linux-gnu/libz.a ] || need_apt+=(zlib1g-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust 1.95 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi
# The tracer's tests load BPF programs and read trace events.
if [ ! -d /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "setup: adding the $component component" >&2
    rustup component add "$component"
  fi
done
