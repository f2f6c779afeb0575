#!/usr/bin/env bash
# Compares bpfscope with bpftrace on the same programs, in one run: each
# measurement is taken N times (default 10) for both tools; the table shows
# the medians and the ratio bpftrace / bpfscope (higher is better for us).
#
#   bench/compare.sh            # builds bpfscope (release) first
#   N=20 bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
missing=()
command -v bpftrace >/dev/null 2>&1 || missing+=(bpftrace)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
./scripts/setup.sh
cargo build --release --locked -q
BPFSCOPE=$PWD/target/release/bpfscope
BPFTRACE=$(command -v bpftrace)

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Microseconds from start to exit.
wall_us() {
  local s e
  s=$(date +%s%N)
  $sudo_cmd "$@" >/dev/null 2>&1 || true
  e=$(date +%s%N)
  echo $(((e - s) / 1000))
}

# Microseconds for -l PATTERN (the measure gets "-e PATTERN"; drop the -e).
wall_list_us() {
  local tool=$1 pattern=$3
  wall_us "$tool" -l "$pattern"
}

# Peak resident memory in KB.
rss_kb() {
  $sudo_cmd /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1
}

# Microseconds from start to the first line: bpftrace 0.17's "Attaching N
# probes..." (stdout, before attaching) or bpfscope's "Attached N probes"
# (stderr, after, as bpftrace 0.26).
attach_us() {
  local s
  s=$(date +%s%N)
  $sudo_cmd "$@" 2>&1 | {
    read -r _ || true
    echo $((($(date +%s%N) - s) / 1000))
    cat >/dev/null
  }
}

# Runs a tracer until it reports its probes attached (the environment
# variable bpftrace's own tests use), then interrupts it. Prints the
# microseconds from start to attached, or with "detach", from SIGINT to exit.
attached_or_detach_us() { # attach|detach command...
  local which=$1 s a e
  shift
  s=$(date +%s%N)
  coproc TRACER { exec $sudo_cmd env __BPFTRACE_NOTIFY_PROBES_ATTACHED=1 "$@" 2>&1 >/dev/null; }
  local pid=$TRACER_PID
  # A tracer that never says it attached is stopped after a minute.
  while read -r -t 60 line <&"${TRACER[0]}"; do
    [[ $line == __BPFTRACE_NOTIFY_PROBES_ATTACHED ]] && break
  done
  a=$(date +%s%N)
  $sudo_cmd kill -INT "$pid"
  wait "$pid" 2>/dev/null || true
  e=$(date +%s%N)
  if [ "$which" = attach ]; then echo $(((a - s) / 1000)); else echo $(((e - a) / 1000)); fi
}
attached_us() { attached_or_detach_us attach "$@"; }
detach_us() { attached_or_detach_us detach "$@"; }

# A 300-line program: 30 interval probes that never fire before BEGIN exits.
# Running it measures parsing, checking, compiling and loading 31 programs.
large_program() {
  echo 'BEGIN { exit(); }'
  local i
  for i in $(seq 1 30); do
    printf '%s\n' \
      'interval:s:1000 {' \
      "  \$a = pid + $i; \$b = \$a * 2;" \
      "  @count$i[comm] = count(); @sum$i = sum(\$a);" \
      "  @hist$i = hist(\$b); @lhist$i = lhist(\$a % 100, 0, 100, 10);" \
      "  if (\$a > 100) { @big$i[\$a, comm] = \$b; } else { @small$i = \$b; }" \
      '  printf("%d %s %d\n", $a, comm, $b);' \
      "  @min$i = min(\$a); @max$i = max(\$b); @avg$i = avg(\$a);" \
      '  @last[comm] = nsecs;' \
      '  @pids[pid] = count();' \
      '}'
  done
}

print_row() { # name unit bpftrace bpfscope
  awk -v n="$1" -v u="$2" -v a="$3" -v b="$4" 'BEGIN {
    f = (u == "us") ? 1000 : 1024; s = (u == "us") ? "ms" : "MB";
    printf "%-46s %12.2f %-2s %12.2f %-2s %8.1fx\n", n, a / f, s, b / f, s, (b > 0 ? a / b : 0) }'
}

row() { # name unit measure program
  local name=$1 unit=$2 measure=$3 program=$4 bt bs
  bt=$(for _ in $(seq "$N"); do $measure "$BPFTRACE" -e "$program"; done | median)
  bs=$(for _ in $(seq "$N"); do $measure "$BPFSCOPE" -e "$program"; done | median)
  print_row "$name" "$unit" "$bt" "$bs"
}

# A row bpftrace cannot run: "n/a" in its column, and why.
na_row() { # name unit measure program reason
  local name=$1 unit=$2 measure=$3 program=$4 reason=$5 bs
  bs=$(for _ in $(seq "$N_BIG"); do $measure "$BPFSCOPE" -e "$program"; done | median)
  awk -v n="$name" -v u="$unit" -v b="$bs" -v r="$reason" 'BEGIN {
    f = (u == "us") ? 1000 : 1024; s = (u == "us") ? "ms" : "MB";
    printf "%-46s %15s %12.2f %-2s %9s  (bpftrace: %s)\n", n, "n/a", b / f, s, "-", r }'
}

# Maps of 1,000,000 entries, printed at exit (to /dev/null), each run taking
# seconds: N_BIG runs each (default 3). Both tools fill the map the same way,
# in an interval probe that inserts 5,000 keys a firing, 200 times: bpftrace
# 0.17's verifier walks every iteration of a loop and cannot load one loop
# of 1,000,000. The size comes from BPFTRACE_MAP_KEYS_MAX for bpftrace 0.17
# (it has no config block) and from the config block for bpfscope.
N_BIG=${N_BIG:-3}
big_fill() { # value expression
  echo "interval:ms:1 { \$b = @n * 5000; \$i = 0; while (\$i < 5000) { @[\$b + \$i] = $1; \$i++; } @n++; if (@n == 200) { exit(); } }"
}
big_row() { # name unit measure program
  local name=$1 unit=$2 measure=$3 program=$4 bt bs
  bt=$(for _ in $(seq "$N_BIG"); do $measure env BPFTRACE_MAP_KEYS_MAX=1000000 "$BPFTRACE" -e "$program"; done | median)
  bs=$(for _ in $(seq "$N_BIG"); do $measure "$BPFSCOPE" -e "config = { max_map_keys = 1000000 } $program"; done | median)
  print_row "$name" "$unit" "$bt" "$bs"
}

echo "median of $N runs each; $(uname -r); $($BPFTRACE --version); bpfscope $($BPFSCOPE -V | awk '{print $2}')"
printf "%-46s %15s %15s %9s\n" "measurement" "bpftrace" "bpfscope" "ratio"
row "wall time: BEGIN { exit(); }" us wall_us 'BEGIN { exit(); }'
row "peak RSS: BEGIN { exit(); }" kb rss_kb 'BEGIN { exit(); }'
row "peak RSS: tracepoint one-liner, 300 ms" kb rss_kb 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); } interval:ms:300 { exit(); }'
row "start to attached line: interval program" us attach_us 'interval:ms:100 { exit(); }'
libc_wildcard='uprobe:/lib/x86_64-linux-gnu/libc.so.6:gethost* { @[probe] = count(); }'
row "start to attached: uprobe libc:gethost*" us attached_us "$libc_wildcard"
row "SIGINT to exit: uprobe libc:gethost*" us detach_us "$libc_wildcard"
row "listing: -l 'uprobe:...libc.so.6:*'" us wall_list_us 'uprobe:/lib/x86_64-linux-gnu/libc.so.6:*'
row "listing: -l 'tracepoint:*'" us wall_list_us 'tracepoint:*'
large=$(large_program)
row "wall time: $(echo "$large" | wc -l)-line program, compile+load+run" us wall_us "$large"

big_row "1M-entry map printed at exit: wall time" us wall_us "$(big_fill '$b + $i')"
big_row "1M-entry map printed at exit: peak RSS" kb rss_kb "$(big_fill '$b + $i')"
big_row "1M-entry count() map printed: wall time" us wall_us "$(big_fill 'count()')"
big_row "1M-entry count() map printed: peak RSS" kb rss_kb "$(big_fill 'count()')"
# The same map filled by one loop in BEGIN, as the one-liner would be
# written: bpfscope's loops are bpf_loop callbacks, checked once.
begin_fill='config = { max_map_keys = 1000000 } BEGIN { $i = 0; while ($i < 1000000) { @[$i] = $i; $i++; } exit(); }'
why="its verifier cannot load a loop of 1,000,000"
na_row "1M-entry map filled in BEGIN: wall time" us wall_us "$begin_fill" "$why"
na_row "1M-entry map filled in BEGIN: peak RSS" kb rss_kb "$begin_fill" "$why"

# Loops run as bpf_loop callbacks: the verifier checks the body once, so a
# million iterations load about as fast as ten (bpftrace unrolls loops for
# the verifier and cannot load the larger one). The loop is loaded, not run:
# the verifier cannot tell that pid is never 0.
loop() { echo "BEGIN { if (pid == 0) { \$i = 0; while (\$i < $1) { @s = sum(\$i); \$i++; } } exit(); }"; }
small=$(for _ in $(seq "$N"); do wall_us "$BPFSCOPE" -e "$(loop 10)"; done | median)
big=$(for _ in $(seq "$N"); do wall_us "$BPFSCOPE" -e "$(loop 1000000)"; done | median)
awk -v a="$small" -v b="$big" 'BEGIN {
  printf "bpfscope load time (wall, loop not run), loop of 10: %.2f ms; of 1,000,000: %.2f ms (%.2fx)\n", a / 1000, b / 1000, (a > 0 ? b / a : 0) }'

# A burst: a process makes 500,000 getppid calls at full speed, each printed
# by a one-line printf into a file. How many lines arrive, and what the
# tracing costs the traced process per call (its own measure).
cc -O2 -o /tmp/bench_getppid crates/bpfscope/tests/targets/getppid_loop.c
burst() { # tool -> "lines us_per_call"
  local out=/tmp/bpfscope-bench-burst.txt err=/tmp/bpfscope-bench-burst.err
  $sudo_cmd "$1" -c "/tmp/bench_getppid 500000" \
    -e 'tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%d %s %d\n", tid, comm, 42); }' >"$out" 2>"$err" || true
  echo "$(grep -c ' bench_getppid 42$' "$out") $(grep -o '^[0-9.]* us per call' "$err" | awk '{print $1}')"
}
read -r bt_lines bt_us < <(burst "$BPFTRACE")
read -r bs_lines bs_us < <(burst "$BPFSCOPE")
printf "%-46s %15s %15s\n" "burst of 500,000 events: lines delivered" "$bt_lines" "$bs_lines"
awk -v a="$bt_us" -v b="$bs_us" 'BEGIN {
  printf "%-46s %12.2f us %12.2f us %8.1fx\n", "burst: traced process time per call", a, b, (b > 0 ? a / b : 0) }'

# What a uprobe costs the traced process per hit, over 1,000,000 calls
# of a trivial noinline function, less its own cost untraced; an empty
# program and a per-thread count. Kernel mode (bpftrace and bpfscope): a
# breakpoint trap into the kernel per call. bpfscope --user-probes: a
# jump to a trampoline and the program run in the process (issue 16's
# target: at most 0.2 us per hit empty, 0.3 us with the count).
cc -O2 -o /tmp/bench_uprobe crates/bpfscope/tests/targets/uprobe_loop.c
calls=1000000
per_call() { # command... -> us per call, as the target measures it
  "$@" 2>&1 >/dev/null | grep -o '^[0-9.]* us per call' | awk '{print $1}'
}
untraced=$(for _ in 1 2 3; do per_call /tmp/bench_uprobe $calls; done | median)
uprobe_hit() { # tool program [options] -> us per hit
  $sudo_cmd "$1" $3 -c "/tmp/bench_uprobe $calls" -e "$2" 2>&1 >/dev/null | grep -o '^[0-9.]* us per call' |
    awk -v u="$untraced" '{print $1 - u}'
}
for program in 'uprobe:/tmp/bench_uprobe:hit { }' 'uprobe:/tmp/bench_uprobe:hit { @[tid] = count(); }'; do
  # Kernel mode takes ~20 s a run here: one run each.
  bt=$(uprobe_hit "$BPFTRACE" "$program")
  bs=$(uprobe_hit "$BPFSCOPE" "$program")
  us=$(for _ in 1 2 3; do uprobe_hit "$BPFSCOPE" "$program" --user-probes; done | median)
  awk -v n="uprobe per hit: ${program#*hit }" -v a="$bt" -v b="$bs" 'BEGIN {
    printf "%-46s %12.3f us %12.3f us %8.1fx\n", n, a, b, (b > 0 ? a / b : 0) }'
  awk -v n="  with bpfscope --user-probes" -v a="$bt" -v b="$us" 'BEGIN {
    printf "%-46s %12.3f us %12.3f us %8.1fx\n", n, a, b, (b > 0 ? a / b : 0) }'
done
awk -v u="$untraced" 'BEGIN { printf "(the function itself, untraced: %.3f us per call)\n", u }'

# The consumer alone: one million printf events of the burst's program,
# laid out as its compiled program writes them, formatted into /dev/null.
cargo bench -q --locked -p bpfscope-runtime --bench consumer 2>/dev/null | grep '^consumer:'
