//! The names the language predefines: builtin variables and the type names
//! that casts and annotations may use.

/// Builtins that read like variables (`pid`, `comm`, `arg0`, ...).
pub const BUILTIN_VARIABLES: &[&str] = &[
    "pid",
    "tid",
    "uid",
    "gid",
    "nsecs",
    "elapsed",
    "cpu",
    "ncpus",
    "comm",
    "kstack",
    "ustack",
    "dw_ustack",
    "retval",
    "func",
    "probe",
    "curtask",
    "rand",
    "cgroup",
    "cpid",
    "username",
    "args",
    "ctx",
    "jiffies",
    "usermode",
    "numaid",
    "probetype",
    "pcomm",
    "ppid",
    "has_cpid",
    "leader_comm",
    "leader_tid",
    "config",
];

/// `arg0`, `arg12`, `sarg0`: numbered argument builtins.
pub fn numbered_arg(name: &str) -> Option<(bool, u32)> {
    let (stack, digits) = match name.strip_prefix("sarg") {
        Some(d) => (true, d),
        None => (false, name.strip_prefix("arg")?),
    };
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(|n| (stack, n))
}

pub fn is_builtin_variable(name: &str) -> bool {
    BUILTIN_VARIABLES.contains(&name) || numbered_arg(name).is_some() || name.starts_with("__builtin_")
}

/// Type names of bpftrace's own values (`count_t`, `ksym_t`, ...).
pub const BUILTIN_TYPES: &[&str] = &[
    "min_t",
    "max_t",
    "sum_t",
    "avg_t",
    "stats_t",
    "umin_t",
    "umax_t",
    "usum_t",
    "uavg_t",
    "ustats_t",
    "count_t",
    "probe_t",
    "username_t",
    "lhist_t",
    "hist_t",
    "usym_t",
    "ksym_t",
    "timestamp",
    "macaddr_t",
    "cgroup_path_t",
    "kstack_t",
    "ustack_t",
    "tseries_t",
];

/// bpftrace's integer type keywords: `(bits, signed)`.
pub fn int_type(name: &str) -> Option<(u8, bool)> {
    Some(match name {
        "int8" => (8, true),
        "int16" => (16, true),
        "int32" => (32, true),
        "int64" => (64, true),
        "uint8" => (8, false),
        "uint16" => (16, false),
        "uint32" => (32, false),
        "uint64" => (64, false),
        _ => return None,
    })
}

/// C typedef names with a fixed width, as kernel and libc headers spell them.
pub fn c_fixed_int(name: &str) -> Option<(u8, bool)> {
    let n = name.trim_start_matches('_');
    Some(match n {
        "u8" | "uint8_t" | "u_int8_t" => (8, false),
        "s8" | "int8_t" => (8, true),
        "u16" | "uint16_t" | "u_int16_t" | "be16" | "le16" => (16, false),
        "s16" | "int16_t" => (16, true),
        "u32" | "uint32_t" | "u_int32_t" | "be32" | "le32" | "uid_t" | "gid_t" | "mode_t" | "umode_t" | "dev_t" => {
            (32, false)
        }
        "s32" | "int32_t" | "pid_t" => (32, true),
        "u64" | "uint64_t" | "u_int64_t" | "be64" | "le64" | "size_t" | "uintptr_t" | "ino_t" => (64, false),
        "s64" | "int64_t" | "ssize_t" | "loff_t" | "off_t" | "intptr_t" | "ptrdiff_t" | "time_t" => (64, true),
        _ => return None,
    })
}

/// Words that start a C integer type (`unsigned long long`, `char`, ...).
pub const C_INT_WORDS: &[&str] = &["unsigned", "signed", "char", "short", "int", "long"];

/// Words reserved by the language; never type or variable names.
pub const KEYWORDS: &[&str] = &[
    "if", "else", "while", "for", "unroll", "break", "continue", "return", "let", "config", "import", "macro",
    "sizeof", "offsetof", "typeof", "typeinfo", "comptime", "true", "false",
];

/// Offsets in x86-64's `struct pt_regs` of the registers the compiler
/// reads itself; [`PT_REGS`] names them with the rest.
pub mod pt_regs {
    pub const BP: i16 = 32;
    pub const AX: i16 = 80;
    pub const IP: i16 = 128;
    pub const SP: i16 = 152;
    /// `di, si, dx, cx, r8, r9`: the System V argument registers.
    pub const ARGS: [i16; 6] = [112, 104, 96, 88, 72, 64];
}

/// x86-64's saved registers (`struct pt_regs`) by the names `reg()`
/// takes, with their byte offsets: the one register table.
pub const PT_REGS: &[(&str, i16)] = &[
    ("r15", 0),
    ("r14", 8),
    ("r13", 16),
    ("r12", 24),
    ("bp", pt_regs::BP),
    ("bx", 40),
    ("r11", 48),
    ("r10", 56),
    ("r9", pt_regs::ARGS[5]),
    ("r8", pt_regs::ARGS[4]),
    ("ax", pt_regs::AX),
    ("cx", pt_regs::ARGS[3]),
    ("dx", pt_regs::ARGS[2]),
    ("si", pt_regs::ARGS[1]),
    ("di", pt_regs::ARGS[0]),
    ("orig_ax", 120),
    ("ip", pt_regs::IP),
    ("cs", 136),
    ("flags", 144),
    ("sp", pt_regs::SP),
    ("ss", 160),
];

/// The offset of a register in `struct pt_regs`.
pub fn pt_regs_offset(name: &str) -> Option<i16> {
    PT_REGS.iter().find(|(n, _)| *n == name).map(|&(_, off)| off)
}
