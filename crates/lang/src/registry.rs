//! Every function, builtin variable and aggregation of the language, one
//! entry each: its signature, a one-line doc, whether this version builds it
//! (and if not, what to do instead), and a statement that uses it, which
//! the compiler's registry test compiles. The checker refuses what is not
//! built from here; `bpfscope --help-builtins` prints this table.

use crate::attach::Provider;

/// What kind of name it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Function,
    /// A builtin read like a variable (`pid`), most also callable (`pid()`).
    Variable,
    /// Assigned to a map: `@m = count()`.
    Aggregation,
}

/// Whether this version compiles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Built,
    /// Built, for arguments known when compiling.
    ConstantArgs,
    /// Refused where the program is checked, with this hint.
    NotBuilt(&'static str),
}

/// One entry of the registry.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    pub status: Status,
    pub signature: &'static str,
    pub doc: &'static str,
    /// A program that uses it (compiled by the registry test); empty where
    /// it needs a probe the test cannot resolve without the kernel (those
    /// run in the kernel tests).
    pub sample: &'static str,
    /// How the checker types a call of it.
    pub rule: Rule,
    /// The probe types it may be used in, where not all (messages list them
    /// from the same predicate).
    pub probes: Option<fn(Provider) -> bool>,
}

/// What an argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A number (or pointer, or boolean).
    Int,
    /// A string value.
    Str,
    /// A string written in the program (resolved when compiling).
    StrLit,
    /// An integer known when compiling: a literal or a positional
    /// parameter given a number.
    IntLit,
    /// A map name without keys: `@m`.
    Map,
    /// Anything with a value.
    Any,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// What a call gives.
pub enum Ret {
    None,
    U64,
    I64,
    Bool,
    Str,
    Bytes,
    Ksym,
    Usym,
    Macaddr,
    CgroupPath,
    Timestamp,
    SameAsFirst,
}

/// How the checker types a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Arguments of these kinds (the first `min` required), this result.
    Simple { min: usize, args: &'static [Arg], ret: Ret },
    /// Checked by its own code (formats, maps, aggregations, modes, ...).
    Custom,
}

impl Builtin {
    const fn new(
        name: &'static str,
        kind: Kind,
        status: Status,
        signature: &'static str,
        doc: &'static str,
        sample: &'static str,
    ) -> Builtin {
        Builtin { name, kind, status, signature, doc, sample, rule: Rule::Custom, probes: None }
    }

    /// Typed by its signature alone.
    const fn simple(self, min: usize, args: &'static [Arg], ret: Ret) -> Builtin {
        Builtin { rule: Rule::Simple { min, args, ret }, ..self }
    }

    /// Only for these probes.
    const fn only_in(self, allowed: fn(Provider) -> bool) -> Builtin {
        Builtin { probes: Some(allowed), ..self }
    }
}

const fn f(name: &'static str, signature: &'static str, doc: &'static str, sample: &'static str) -> Builtin {
    Builtin::new(name, Kind::Function, Status::Built, signature, doc, sample)
}

const fn v(name: &'static str, signature: &'static str, doc: &'static str, sample: &'static str) -> Builtin {
    Builtin::new(name, Kind::Variable, Status::Built, signature, doc, sample)
}

const fn a(name: &'static str, signature: &'static str, doc: &'static str, sample: &'static str) -> Builtin {
    Builtin::new(name, Kind::Aggregation, Status::Built, signature, doc, sample)
}

const fn constant(name: &'static str, signature: &'static str, doc: &'static str, sample: &'static str) -> Builtin {
    Builtin::new(name, Kind::Function, Status::ConstantArgs, signature, doc, sample)
}

const fn not_built(name: &'static str, signature: &'static str, doc: &'static str, hint: &'static str) -> Builtin {
    Builtin::new(name, Kind::Function, Status::NotBuilt(hint), signature, doc, "")
}

/// The registry, by name.
pub const REGISTRY: &[Builtin] = &[
    f(
        "assert",
        "void assert(bool cond, string msg)",
        "Where cond is false: an error with msg, and exit(1).",
        r#"BEGIN { assert(1 == 1, "ok"); }"#,
    )
    .simple(2, &[Arg::Any, Arg::StrLit], Ret::None),
    f(
        "assert_str",
        "void assert_str(expr)",
        "Refuses, when compiling, a value that is not string-like.",
        r#"BEGIN { assert_str("s"); }"#,
    )
    .simple(1, &[Arg::Any], Ret::None),
    f("bswap", "uintN bswap(intN n)", "The bytes of n reversed, at n's width.", "BEGIN { print(bswap((uint32)1)); }")
        .simple(1, &[Arg::Int], Ret::SameAsFirst),
    f(
        "buf",
        "buffer buf(void *data, [int len])",
        "len bytes read from data, printed with %r.",
        r#"BEGIN { $s = "ab"; printf("%r\n", buf($s, 2)); }"#,
    ),
    f(
        "cat",
        "void cat(string fmt, ...)",
        "Prints the file a formatted name names.",
        r#"BEGIN { cat("/proc/%d/comm", pid); }"#,
    )
    .simple(1, &[Arg::StrLit], Ret::None),
    v("cgroup", "uint64 cgroup", "The cgroup v2 id of the current task.", "BEGIN { print(cgroup); }"),
    f(
        "cgroup_path",
        "cgroup_path_t cgroup_path(int id, [string filter])",
        "The path of a cgroup id, found when printed.",
        "BEGIN { print(cgroup_path(cgroup)); }",
    )
    .simple(1, &[Arg::Int, Arg::StrLit], Ret::CgroupPath),
    f(
        "cgroupid",
        "uint64 cgroupid(string path)",
        "The id of the cgroup v2 directory at path, when compiling.",
        r#"BEGIN { print(cgroupid("/sys/fs/cgroup")); }"#,
    )
    .simple(1, &[Arg::StrLit], Ret::U64),
    f("clear", "void clear(map m)", "Deletes every entry of a map.", "BEGIN { @m[1] = 1; clear(@m); }").simple(
        1,
        &[Arg::Map],
        Ret::None,
    ),
    v("comm", "string comm", "The current task's name.", "BEGIN { print(comm); }"),
    f(
        "container_of",
        "T *container_of(ptr, struct T, field)",
        "The struct whose field ptr points to.",
        "struct S { int a; long b; } BEGIN { print(container_of(0, struct S, b)); }",
    ),
    v("cpid", "uint32 cpid", "The pid of the command given with -c.", ""),
    v("cpu", "uint32 cpu", "The CPU running the probe.", "BEGIN { print(cpu); }"),
    v(
        "curtask",
        "struct task_struct *curtask",
        "The current task (fields from the kernel's BTF).",
        "BEGIN { print(curtask->pid); }",
    ),
    f(
        "default_str_length",
        "uint64 default_str_length()",
        "The default string length (max_strlen).",
        "BEGIN { print(default_str_length()); }",
    )
    .simple(0, &[], Ret::U64),
    f("delete", "bool delete(map m, key)", "Deletes one entry of a map.", "BEGIN { @m[1] = 1; delete(@m, 1); }"),
    f(
        "debugf",
        "void debugf(string fmt, ...)",
        "printf to the kernel's trace pipe (bpf_trace_printk, three values at most).",
        r#"BEGIN { debugf("x %d", 1); }"#,
    ),
    v(
        "dw_ustack",
        "ustack_t dw_ustack([mode], [limit])",
        "The user stack walked with the target process's .eh_frame (no frame pointers needed); needs -p or -c.",
        "",
    ),
    v("elapsed", "uint64 elapsed", "Nanoseconds since the program started.", "BEGIN { print(elapsed); }"),
    f(
        "errorf",
        "void errorf(string fmt, ...)",
        "An error message with the call's place, on stderr.",
        r#"BEGIN { errorf("bad %d", 1); }"#,
    ),
    f("exit", "void exit([int code])", "Ends the run (END probes run, maps print).", "BEGIN { exit(); }"),
    f(
        "fail",
        "void fail(string fmt, literals...)",
        "A compile error, where the call is not left out as never run.",
        r#"BEGIN { if (0) { fail("no"); } }"#,
    ),
    f(
        "find",
        "bool find(map m, key, $var)",
        "Whether key is in m; if so $var takes its value.",
        "BEGIN { @m[1] = 2; $v = 0; print(find(@m, 1, $v)); }",
    ),
    v("func", "string func", "The probed function's name.", ""),
    f(
        "getopt",
        "T getopt(string name, [T default])",
        "A named parameter (`-- --name=value`).",
        r#"BEGIN { print(getopt("n", 5)); }"#,
    ),
    v("gid", "uint64 gid", "The current task's group id.", "BEGIN { print(gid); }"),
    v("has_cpid", "bool has_cpid", "Whether a command was given with -c.", "BEGIN { print(has_cpid); }"),
    f(
        "has_key",
        "bool has_key(map m, key)",
        "Whether a map has the key.",
        "BEGIN { @m[1] = 1; print(has_key(@m, 1)); }",
    ),
    f(
        "is_array",
        "bool is_array(expr)",
        "Whether the value is an array (when compiling).",
        "BEGIN { print(is_array(1)); }",
    )
    .simple(1, &[Arg::Any], Ret::Bool),
    f("is_err", "bool is_err(ptr)", "Whether a pointer is an error code (-4095..-1).", "BEGIN { print(is_err(-2)); }")
        .simple(1, &[Arg::Any], Ret::Bool),
    f(
        "is_integer",
        "bool is_integer(expr)",
        "Whether the value is an integer (when compiling).",
        "BEGIN { print(is_integer(1)); }",
    )
    .simple(1, &[Arg::Any], Ret::Bool),
    f(
        "is_literal",
        "bool is_literal(expr)",
        "Whether the argument is written as a literal.",
        "BEGIN { print(is_literal(1)); }",
    )
    .simple(1, &[Arg::Any], Ret::Bool),
    f(
        "is_ptr",
        "bool is_ptr(expr)",
        "Whether the value is a pointer (when compiling).",
        "BEGIN { print(is_ptr(curtask)); }",
    )
    .simple(1, &[Arg::Any], Ret::Bool),
    f(
        "is_str",
        "bool is_str(expr)",
        "Whether the value is a string (when compiling).",
        r#"BEGIN { print(is_str("a")); }"#,
    )
    .simple(1, &[Arg::Any], Ret::Bool),
    f(
        "is_unsigned_integer",
        "bool is_unsigned_integer(expr)",
        "Whether the value is an unsigned integer (when compiling).",
        "BEGIN { print(is_unsigned_integer((uint8)1)); }",
    )
    .simple(1, &[Arg::Any], Ret::Bool),
    v("jiffies", "uint64 jiffies", "The kernel's jiffies.", "BEGIN { print(jiffies); }"),
    f("join", "void join(char *argv[], [string sep])", "Prints a NULL-terminated array of strings on a line.", "")
        .simple(1, &[Arg::Any, Arg::StrLit], Ret::None),
    f("kaddr", "uint64 kaddr(string symbol)", "A kernel symbol's address, when compiling.", "").simple(
        1,
        &[Arg::StrLit],
        Ret::U64,
    ),
    f(
        "kfunc_allowed",
        "bool kfunc_allowed(string kfunc)",
        "Whether this probe's program type may call the kfunc, as the kernel says when compiling.",
        r#"BEGIN { print(kfunc_allowed("bpf_task_from_pid")); }"#,
    )
    .simple(1, &[Arg::StrLit], Ret::Bool),
    constant(
        "kfunc_exist",
        "bool kfunc_exist(string kfunc)",
        "Whether the kernel's BTF has the function.",
        r#"BEGIN { print(kfunc_exist("bpf_task_from_pid")); }"#,
    )
    .simple(1, &[Arg::StrLit], Ret::Bool),
    f("kptr", "T *kptr(T *p)", "Marks a pointer as kernel memory.", "BEGIN { print(kptr(0)); }"),
    v(
        "kstack",
        "kstack_t kstack([mode], [limit])",
        "The kernel stack, symbolized when printed.",
        "BEGIN { print(kstack); }",
    ),
    f(
        "ksym",
        "ksym_t ksym(uint64 addr)",
        "The kernel symbol an address is in, found when printed.",
        "BEGIN { print(ksym(0x10000)); }",
    )
    .simple(1, &[Arg::Int], Ret::Ksym),
    v("leader_comm", "string leader_comm", "The thread group leader's name.", "BEGIN { print(leader_comm); }"),
    v("leader_tid", "uint32 leader_tid", "The thread group leader's thread id.", "BEGIN { print(leader_tid); }"),
    f("len", "int64 len(map m)", "How many entries a map has.", "BEGIN { @m[1] = 1; print(len(@m)); }"),
    f(
        "macaddr",
        "macaddr_t macaddr(char mac[6])",
        "Six bytes printed as a MAC address.",
        r#"BEGIN { print(macaddr(pton("::1"))); }"#,
    )
    .simple(1, &[Arg::Any], Ret::Macaddr),
    f(
        "memcmp",
        "int memcmp(a, b, uint64 n)",
        "Compares n bytes: 0 when equal.",
        r#"BEGIN { print(memcmp("ab", "ac", 2)); }"#,
    )
    .simple(3, &[Arg::Any, Arg::Any, Arg::Int], Ret::I64),
    v("ncpus", "uint64 ncpus", "The number of possible CPUs.", "BEGIN { print(ncpus); }"),
    v(
        "nsecs",
        "uint64 nsecs([monotonic|boot|tai|sw_tai])",
        "A kernel clock in nanoseconds (boot by default).",
        "BEGIN { print(nsecs(tai)); }",
    ),
    f("ntop", "inet_t ntop([int af], addr)", "An IPv4 or IPv6 address as text.", "BEGIN { print(ntop(0x0100007f)); }"),
    v("numaid", "uint32 numaid", "The NUMA node running the probe.", "BEGIN { print(numaid); }"),
    f(
        "offsetof",
        "uint64 offsetof(struct S, field[.field])",
        "A field's offset, when compiling.",
        "struct S { int a; long b; } BEGIN { print(offsetof(struct S, b)); }",
    ),
    f("override", "void override(int rc)", "kprobes (--unsafe): the function returns rc instead of running.", ""),
    f(
        "path",
        "string path(struct path *p, [int size])",
        "The full path of a struct path (bpf_d_path: fentry/fexit on the functions the kernel allows).",
        "",
    )
    .simple(1, &[Arg::Any, Arg::Int], Ret::Str)
    .only_in(Provider::has_btf_context),
    v("pcomm", "string pcomm", "The parent task's name.", "BEGIN { print(pcomm); }"),
    f(
        "percpu_kaddr",
        "uint64 percpu_kaddr(string sym, [int cpu])",
        "A per-CPU kernel variable's address on this CPU, or on cpu (0 past the last).",
        "",
    )
    .simple(1, &[Arg::StrLit, Arg::Int], Ret::U64),
    v(
        "pid",
        "uint32 pid([curr_ns|init])",
        "The process id, in the root or the tracer's pid namespace.",
        "BEGIN { print(pid(curr_ns)); }",
    ),
    v("ppid", "uint32 ppid", "The parent's process id.", "BEGIN { print(ppid); }"),
    f("print", "void print(value | map, [top], [div])", "Prints a value or a map.", "BEGIN { print(1); }"),
    f("printf", "void printf(string fmt, ...)", "Formatted output, as C's printf.", r#"BEGIN { printf("%d\n", 1); }"#),
    v("probe", "probe_t probe", "The probe's full name.", "BEGIN { print(probe); }"),
    v("probetype", "string probetype", "The probe's type (`special` for BEGIN/END).", "BEGIN { print(probetype); }"),
    f(
        "pton",
        "char addr[4|16] pton(string addr)",
        "An IP address's bytes, when compiling.",
        r#"BEGIN { print(pton("127.0.0.1")); }"#,
    )
    .simple(1, &[Arg::StrLit], Ret::Bytes),
    v("rand", "uint32 rand", "A pseudo-random number.", "BEGIN { print(rand); }"),
    f("reg", "uint64 reg(string name)", "A saved register (probes with registers).", "")
        .simple(1, &[Arg::StrLit], Ret::U64)
        .only_in(Provider::has_saved_registers),
    v("retval", "int64 retval", "The return value (kretprobe, uretprobe, fexit).", ""),
    f("signal", "void signal(sig)", "Sends a signal to the current process (--unsafe).", ""),
    f(
        "signal_name",
        "string signal_name(int sig)",
        "A signal's name (named when printed for run-time values).",
        "BEGIN { print(signal_name(9)); }",
    )
    .simple(1, &[Arg::Int], Ret::Str),
    f("signal_thread", "void signal_thread(sig)", "Sends a signal to the current thread (--unsafe).", ""),
    f("sizeof", "uint64 sizeof(TYPE | expr)", "A size in bytes, when compiling.", "BEGIN { print(sizeof(uint32)); }"),
    f(
        "skboutput",
        "int64 skboutput(string path, struct sk_buff *skb, uint64 len, uint64 offset)",
        "Writes len bytes of the packet (from offset on) to a pcap file (fentry/fexit); 0, or a negative error.",
        "",
    )
    .simple(4, &[Arg::StrLit, Arg::Any, Arg::Int, Arg::Int], Ret::I64)
    .only_in(Provider::has_btf_context),
    f(
        "socket_cookie",
        "uint64 socket_cookie(struct sock *sk)",
        "The socket's cookie, stable for its life (fentry/fexit; 0 for a null socket).",
        "",
    )
    .simple(1, &[Arg::Any], Ret::U64)
    .only_in(Provider::has_btf_context),
    f(
        "static_assert",
        "void static_assert(bool cond, string msg)",
        "A compile error with msg where cond is false.",
        r#"BEGIN { static_assert(1, "x"); }"#,
    )
    .simple(2, &[Arg::Any, Arg::StrLit], Ret::None),
    f(
        "str",
        "string str(char *p, [int len])",
        "A NUL-terminated string read from memory.",
        r#"BEGIN { print(str("abc")); }"#,
    ),
    f(
        "str_concat",
        "string str_concat(string a, string b)",
        "Two strings, one after the other.",
        r#"BEGIN { print(str_concat("a", "b")); }"#,
    )
    .simple(2, &[Arg::Str, Arg::Str], Ret::Str),
    f(
        "strcap",
        "int64 strcap(string-like s)",
        "The capacity of a string or array (max_strlen for a pointer), when compiling.",
        r#"BEGIN { print(strcap("abc")); }"#,
    )
    .simple(1, &[Arg::Any], Ret::I64),
    f(
        "strcontains",
        "bool strcontains(string h, string n)",
        "Whether h contains n.",
        r#"BEGIN { print(strcontains("abc", "b")); }"#,
    )
    .simple(2, &[Arg::Str, Arg::Str], Ret::Bool),
    f(
        "strerror",
        "string strerror(int errno)",
        "An errno value's text (named when printed for run-time values).",
        "BEGIN { print(strerror(2)); }",
    )
    .simple(1, &[Arg::Int], Ret::Str),
    f(
        "strftime",
        "timestamp strftime(string fmt, uint64 boot_ns)",
        "A boot-clock time as wall-clock text (%f: microseconds).",
        r#"BEGIN { printf("%s\n", strftime("%H", nsecs)); }"#,
    )
    .simple(2, &[Arg::StrLit, Arg::Int], Ret::Timestamp),
    f("strlen", "uint64 strlen(string s)", "A string's length.", r#"BEGIN { print(strlen("abc")); }"#).simple(
        1,
        &[Arg::Any],
        Ret::U64,
    ),
    f(
        "strncmp",
        "int64 strncmp(a, b, int n)",
        "Compares up to n characters: 0 when equal.",
        r#"BEGIN { print(strncmp("ab", "ac", 1)); }"#,
    )
    .simple(3, &[Arg::Str, Arg::Str, Arg::IntLit], Ret::I64),
    f(
        "strstr",
        "int64 strstr(string h, string n)",
        "Where n first starts in h, or -1.",
        r#"BEGIN { print(strstr("abc", "c")); }"#,
    )
    .simple(2, &[Arg::Str, Arg::Str], Ret::I64),
    f(
        "syscall_name",
        "string syscall_name(int nr)",
        "A system call's name (named when printed for run-time values).",
        "BEGIN { print(syscall_name(0)); }",
    )
    .simple(1, &[Arg::Int], Ret::Str),
    f("system", "void system(string fmt, ...)", "Runs a shell command (--unsafe).", ""),
    v("tid", "uint32 tid([curr_ns|init])", "The thread id.", "BEGIN { print(tid(init)); }"),
    f("time", "void time([string fmt])", "Prints the current time.", "BEGIN { time(); }").simple(
        0,
        &[Arg::StrLit],
        Ret::None,
    ),
    f(
        "typeinfo",
        "record typeinfo(expr | type)",
        "The type, when compiling: (btf_id, base_type, full_type) (0.26's unstable_typeinfo must be enabled).",
        r#"config = { unstable_typeinfo = enable } BEGIN { print(typeinfo((uint8)1)); }"#,
    ),
    f(
        "uaddr",
        "T *uaddr(string symbol)",
        "A symbol's address in the probed binary (uprobe, uretprobe, usdt), where this process loaded it.",
        "",
    )
    .simple(1, &[Arg::StrLit], Ret::U64)
    .only_in(Provider::is_user),
    v("uid", "uint64 uid", "The current task's user id.", "BEGIN { print(uid); }"),
    not_built(
        "unwatch",
        "void unwatch(addr)",
        "Removes a watchpoint.",
        "bpftrace 0.26 dropped unwatch()'s implementation; a watchpoint lasts the run",
    )
    .simple(1, &[Arg::Int], Ret::None),
    f("uptr", "T *uptr(T *p)", "Marks a pointer as user memory.", "BEGIN { print(uptr(0)); }"),
    v("usermode", "uint8 usermode", "Whether the probe interrupted user mode.", ""),
    v("username", "string username", "The current task's user name.", "BEGIN { print(username); }"),
    v(
        "ustack",
        "ustack_t ustack([mode], [limit])",
        "The user stack, symbolized when printed.",
        "BEGIN { print(ustack); }",
    ),
    f(
        "usym",
        "usym_t usym(uint64 addr)",
        "The user symbol an address of the current process is in, found when printed.",
        "BEGIN { print(usym(0x400000)); }",
    )
    .simple(1, &[Arg::Int], Ret::Usym),
    f(
        "warnf",
        "void warnf(string fmt, ...)",
        "A warning with the call's place, on stderr.",
        r#"BEGIN { warnf("careful"); }"#,
    ),
    f(
        "write_user",
        "bool write_user(T *dst, T *src, uint32 len)",
        "Writes len bytes of the program's (a string or buffer) to user memory of the current task (--unsafe).",
        "",
    )
    .simple(3, &[Arg::Int, Arg::Any, Arg::Int], Ret::Bool),
    f("zero", "void zero(map m)", "Sets every entry of a map to zero.", "BEGIN { @m[1] = 1; zero(@m); }").simple(
        1,
        &[Arg::Map],
        Ret::None,
    ),
    a("avg", "avg(int n)", "The average of the values.", "BEGIN { @a = avg(1); }"),
    a("count", "count()", "How many times.", "BEGIN { @c = count(); }"),
    a("hist", "hist(int n, [int k])", "A log2 histogram (2^k buckets per power of two).", "BEGIN { @h = hist(1); }"),
    a("lhist", "lhist(int n, int min, int max, int step)", "A linear histogram.", "BEGIN { @h = lhist(1, 0, 10, 1); }"),
    a("max", "max(int n)", "The largest value.", "BEGIN { @m = max(1); }"),
    a("min", "min(int n)", "The smallest value.", "BEGIN { @m = min(1); }"),
    a("stats", "stats(int n)", "Count, average and total.", "BEGIN { @s = stats(1); }"),
    a("sum", "sum(int n)", "The sum of the values.", "BEGIN { @s = sum(1); }"),
    a(
        "tseries",
        "tseries(int n, duration interval, int count[, string agg])",
        "A time series: the last count intervals' values (or their avg, max, min, sum), drawn as 0.26 draws it.",
        "config = { unstable_tseries = enable } BEGIN { @t = tseries(1, 1s, 5); @u = tseries(2, 100ms, 3, \"sum\"); }",
    ),
];

/// The entry of a name.
pub fn lookup(name: &str) -> Option<&'static Builtin> {
    REGISTRY.iter().find(|b| b.name == name)
}

/// Why a name is not built yet (the hint), if it is not.
pub fn not_built_hint(name: &str) -> Option<&'static str> {
    match lookup(name)?.status {
        Status::NotBuilt(hint) => Some(hint),
        _ => None,
    }
}

/// The registry as `--help-builtins` prints it.
pub fn table() -> String {
    let mut out = String::new();
    for b in REGISTRY {
        let state = match b.status {
            Status::Built => "",
            Status::ConstantArgs => " [constant arguments]",
            Status::NotBuilt(_) => " [not built yet]",
        };
        out.push_str(&format!("{:<22}{}{state}\n{:22}{}\n", b.name, b.signature, "", b.doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_a_doc_and_is_named_once() {
        for b in REGISTRY {
            assert!(!b.doc.is_empty() && !b.signature.is_empty(), "{}", b.name);
            assert_eq!(REGISTRY.iter().filter(|o| o.name == b.name).count(), 1, "{}", b.name);
            if let Status::NotBuilt(hint) = b.status {
                assert!(!hint.is_empty(), "{}", b.name);
            }
        }
    }

    /// Each function's type rule is its registry entry's, or the checker's
    /// own code for it (formats, maps, aggregations, modes), or it is a
    /// builtin variable called as a function.
    #[test]
    fn every_function_has_a_type_rule() {
        for b in REGISTRY.iter().filter(|b| b.kind != Kind::Variable && !matches!(b.status, Status::NotBuilt(_))) {
            let custom = crate::check::functions::SPECIAL.contains(&b.name)
                || crate::builtins::BUILTIN_VARIABLES.contains(&b.name)
                || matches!(b.name, "sizeof" | "offsetof" | "typeof" | "typeinfo");
            assert!(matches!(b.rule, Rule::Simple { .. }) || custom, "{} has no type rule", b.name);
        }
    }

    #[test]
    fn every_name_the_checker_knows_is_registered() {
        let skip = ["args", "ctx", "config", "cpid", "retval", "func"];
        for name in crate::check::function_names().chain(crate::builtins::BUILTIN_VARIABLES.iter().copied()) {
            if skip.contains(&name) {
                continue;
            }
            assert!(lookup(name).is_some(), "{name} is not in the registry");
        }
    }
}
