//! Whole programs in the style of the classic tools pass the parser and the
//! checks. Each one exercises constructs that bpftrace's own tool scripts use.

mod common;

use bpfscope_lang::check::{CheckOptions, check};
use bpfscope_lang::{ParseOptions, Source, parse};

#[track_caller]
fn accepts(name: &str, text: &str) {
    let src = Source::new(name, text);
    let program = parse(&src, &ParseOptions::with_btf(vec![])).unwrap_or_else(|d| panic!("{}", d.render(&src)));
    let options = CheckOptions { allow_unsafe: true, ..CheckOptions::default() };
    if let Err(d) = check(program, &src, &options) {
        panic!("{}", d.render(&src));
    }
}

#[test]
fn header_or_btf_conditional_with_constants() {
    accepts(
        "sched.bt",
        r#"#!/usr/bin/env bpfscope
// Scheduler latency, with constants picked by the preprocessor.
#ifndef BPFTRACE_HAVE_BTF
#include <linux/sched.h>
#else
#define RUNNABLE 0
#endif

BEGIN
{
  printf("Tracing... Hit Ctrl-C to end.\n");
}

tracepoint:sched:sched_wakeup,
tracepoint:sched:sched_wakeup_new
{
  @queued[args.pid] = nsecs;
}

tracepoint:sched:sched_switch
{
  if (args.prev_state == RUNNABLE) {
    @queued[args.prev_pid] = nsecs;
  }
  if (args.next_pid == 0) {
    return;
  }
  $ts = @queued[args.next_pid];
  if $ts {
    @usecs = hist((nsecs - $ts) / 1000);
    $gone = delete(@queued, args.next_pid);
  }
}

END
{
  clear(@queued);
}
"#,
    );
}

#[test]
fn struct_definitions_and_pointer_walks() {
    accepts(
        "lookups.bt",
        r#"struct my_qstr {
  unsigned int hash;
  unsigned int len;
  const unsigned char *name;
};

struct my_nameidata {
  struct path path;
  struct my_qstr last;
  int flags[4];
};

kprobe:lookup_fast,
kprobe:lookup_fast.constprop.*
{
  $nd = (struct my_nameidata *)arg0;
  printf("%-8d %-6d %-16s R %s\n", elapsed / 1e6, pid, comm, str($nd->last.name));
  @flags[$nd->flags[0]] = count();
}

kprobe:d_lookup
{
  $name = (struct my_qstr *)arg1;
  @fname[tid] = $name.name;
}

kretprobe:d_lookup
/@fname[tid]/
{
  printf("%-8d %-6d %-16s M %s\n", elapsed / 1e6, pid, comm, str(@fname[tid]));
  delete(@fname, tid);
}
"#,
    );
}

#[test]
fn macros_with_map_parameters_loops_and_getopt() {
    accepts(
        "paths.bt",
        r#"config = {
  missing_probes = warn;
}

macro depth()
{
  getopt("depth", 8, "Maximum depth")
}

macro verbose()
{
  getopt("verbose", false, "Print more")
}

tracepoint:syscalls:sys_enter_openat
{
  @file[tid] = args.filename;
}

macro collect(@parts)
{
  $dentry = curtask.fs.pwd.dentry;
  for $i : ((uint64)0)..((uint64)depth) {
    @parts[tid, $i] = str($dentry.d_name.name);
    $parent = $dentry.d_parent;
    if ($dentry == $parent) {
      break;
    }
    $dentry = $parent;
  }
}

macro show(@parts)
{
  for $i : ((uint64)0)..((uint64)depth) {
    let $key = (tid, (uint64)((depth() - $i) - 1));
    let $name = @parts[$key];
    if ($name == "/" || $name == "") {
      continue;
    }
    printf("/%s", $name);
    delete(@parts, $key);
  }
}

macro finish(ret, @file, @parts)
{
  $fd = ret >= 0 ? ret : -1;
  $path = str(@file[tid]);
  if verbose {
    printf("%-6d %-16s %4d ", pid, comm, $fd);
  }
  collect(@parts);
  if ($path[0] != "/"[0]) {
    show(@parts);
  }
  printf("%s\n", $path);
  delete(@file, tid);
}

tracepoint:syscalls:sys_exit_openat
/@file[tid]/
{
  finish(args.ret, @file, @parts);
}

END
{
  clear(@file);
  clear(@parts);
}
"#,
    );
}

#[test]
fn network_style_conversions() {
    accepts(
        "connect.bt",
        r#"#define AF_INET   2 /* IPv4 */
#define AF_INET6 10 /* IPv6 */

BEGIN
{
  printf("%-8s %-8s %-16s ", "TIME", "PID", "COMM");
  printf("%-39s %-6s %-39s %-6s\n", "SADDR", "SPORT", "DADDR", "DPORT");
  @state[(uint64)1] = "ESTABLISHED";
  @state[2] = "SYN_SENT";
}

kprobe:tcp_connect
{
  let $daddr;
  let $saddr;
  $sk = (struct sock *)arg0;
  $family = $sk.__sk_common.skc_family;
  if ($family == AF_INET || $family == AF_INET6) {
    if ($family == AF_INET) {
      $daddr = ntop($sk.__sk_common.skc_daddr);
      $saddr = ntop($sk.__sk_common.skc_rcv_saddr);
    } else {
      $daddr = ntop(AF_INET6, $sk.__sk_common.skc_v6_daddr.in6_u.u6_addr8);
      $saddr = ntop(AF_INET6, $sk.__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    }
    $dport = bswap($sk.__sk_common.skc_dport);
    time("%H:%M:%S ");
    printf("%-8d %-16s %-39s %-6d %-39s %-6d\n", pid, comm, $saddr, $sk.__sk_common.skc_num, $daddr, $dport);
  }
}

kretprobe:inet_csk_accept
{
  $sk = (struct sock *)retval;
  $state = $sk.__sk_common.skc_state;
  printf("%s %s\n", strftime("%H:%M:%S.%f", nsecs), @state[$state]);
}

END
{
  clear(@state);
}
"#,
    );
}

#[test]
fn user_probes_counters_and_intervals() {
    accepts(
        "dns.bt",
        r#"config = {
  missing_probes = ignore;
}

BEGIN
{
  printf("%-9s %-6s %-16s %6s %s\n", "TIME", "PID", "COMM", "LATms", "HOST");
}

uprobe:libc:getaddrinfo,
uprobe:libc:gethostbyname,
uprobe:libc:gethostbyname2
{
  @start[tid] = nsecs;
  @name[tid] = arg0;
}

macro report(start, name)
{
  $latms = (nsecs - start) / 1e6;
  time("%H:%M:%S  ");
  printf("%-6d %-16s %6d %s\n", pid, comm, $latms, name);
}

uretprobe:libc:getaddrinfo,
uretprobe:libc:gethostbyname,
uretprobe:libc:gethostbyname2
/@start[tid]/
{
  report(@start[tid], str(@name[tid]));
  delete(@start, tid);
  delete(@name, tid);
}

tracepoint:raw_syscalls:sys_enter
{
  @syscall[args.id] = count();
  @process[comm] = count();
}

interval:s:1
{
  time();
  print(@syscall, 10);
  print(@process, 10, 2);
  clear(@syscall);
}

profile:hz:99
/pid/
{
  @cpu = lhist(cpu, 0, 1000, 1);
  @stacks[kstack, ustack(perf, 8)] = count();
}

hardware:cache-misses:1e6,
software:faults:100
{
  @[comm, pid] = count();
}

END
{
  clear(@name);
  clear(@start);
}
"#,
    );
}

#[test]
fn loads_style_pointer_arithmetic_and_cat() {
    accepts(
        "loads.bt",
        r#"BEGIN
{
  printf("Reading load averages... Hit Ctrl-C to end.\n");
}

interval:s:1
{
  $avenrun = kaddr("avenrun");
  $load1 = *$avenrun;
  $load5 = *($avenrun + 8);
  $load15 = *($avenrun + 16);
  time("%H:%M:%S ");
  printf("load averages: %d.%03d %d.%03d %d.%03d\n",
    $load1 >> 11, (($load1 & ((1 << 11) - 1)) * 1000) >> 11,
    $load5 >> 11, (($load5 & ((1 << 11) - 1)) * 1000) >> 11,
    $load15 >> 11, (($load15 & ((1 << 11) - 1)) * 1000) >> 11);
  cat("/proc/loadavg");
  system("uptime");
}

tracepoint:syscalls:sys_enter_execve
{
  join(args.argv);
  @execs = stats(1);
  @total = sum(1);
  @avg = avg(2);
  @lo = min(3);
  @hi = max(4);
}
"#,
    );
}
