//! Values as bpftrace prints them in text mode.

use bpfscope_compiler::StackMode;
use bpfscope_compiler::layout::{field_offsets, size_of};
use bpfscope_lang::check::Type;

/// Stack frames as function names: the run's one symbolizer (files and
/// processes read once, see [`bpfscope_probes::symbols`]).
pub struct Symbolizer {
    symbols: bpfscope_probes::symbols::Symbolizer,
}

impl Default for Symbolizer {
    fn default() -> Self {
        Symbolizer::new(bpfscope_probes::symbols::SymbolOptions::default())
    }
}

impl Symbolizer {
    pub fn new(options: bpfscope_probes::symbols::SymbolOptions) -> Symbolizer {
        Symbolizer { symbols: bpfscope_probes::symbols::Symbolizer::new(options) }
    }

    /// Reads a process's mappings now, while it runs.
    pub fn prepare(&self, pid: u32) {
        self.symbols.prepare(pid);
    }

    /// Reads them again if the last read is older than `every`.
    pub fn refresh(&self, pid: u32, every: std::time::Duration) {
        self.symbols.refresh(pid, every);
    }

    /// A stack's lines in `mode`, innermost frame first; `indent` spaces
    /// before each in bpftrace mode.
    pub fn stack_lines(&self, frames: &[u64], user_pid: Option<u32>, mode: StackMode, indent: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if mode == StackMode::Raw {
            for a in frames {
                let _ = writeln!(out, "{a:x}");
            }
            return out;
        }
        let found = match user_pid {
            Some(pid) => self.symbols.user(pid, frames),
            None => self.symbols.kernel(frames),
        };
        let perf = mode == StackMode::Perf;
        for (&address, found) in frames.iter().zip(found) {
            let texts = match found {
                Some(frames) => frames.iter().map(|f| frame_text(f, perf, user_pid.is_some())).collect(),
                // As bpftrace: the address, and in perf mode "[unknown]"
                // for a user frame's file.
                None if perf && user_pid.is_some() => vec![format!("0x{address:x} ([unknown])")],
                None => vec![format!("0x{address:x}")],
            };
            for text in texts {
                if perf {
                    let _ = writeln!(out, "\t{address:x} {text}");
                } else {
                    let _ = writeln!(out, "{:indent$}{text}", "");
                }
            }
        }
        out
    }

    /// A stack's frames for a flame graph, innermost first: names without
    /// offsets, a function inlined at a frame as a frame of its own
    /// (marked `_[i]`), kernel frames marked `_[k]`, `[unknown]` where no
    /// symbol covers the address.
    pub fn frame_names(&self, frames: &[u64], user_pid: Option<u32>) -> Vec<String> {
        let found = match user_pid {
            Some(pid) => self.symbols.user(pid, frames),
            None => self.symbols.kernel(frames),
        };
        let kernel = if user_pid.is_none() { "_[k]" } else { "" };
        let mut names = Vec::with_capacity(frames.len());
        for found in found {
            match found {
                Some(fs) => names.extend(fs.into_iter().map(|f| {
                    let mark = if f.is_inlined() { "_[i]" } else { kernel };
                    format!("{}{mark}", f.name)
                })),
                None => names.push(format!("[unknown]{kernel}")),
            }
        }
        names
    }

    /// The function an address of a process is in (`usym()`): its name,
    /// or the address in hex.
    pub fn user_name(&self, pid: u32, address: u64) -> String {
        self.symbols.user_function(pid, address).map_or_else(|| format!("0x{address:x}"), |(name, _)| name)
    }

    /// The kernel function or object an address is in (`ksym()`): its
    /// name, or the address in hex.
    pub fn kernel_name(&self, address: u64) -> String {
        self.symbols.kernel_function(address).map_or_else(|| format!("0x{address:x}"), |(name, _)| name)
    }
}

/// One frame as bpftrace 0.26 prints it: `name+offset@dir/file:line`, an
/// inlined function as `[inlined] name@dir/file:line`; in perf mode
/// `name+offset (module)` or `name (inlined)`, without file and line.
fn frame_text(f: &bpfscope_probes::symbols::Frame, perf: bool, user: bool) -> String {
    let mut text = String::new();
    if f.is_inlined() && !perf {
        text.push_str("[inlined] ");
    }
    text.push_str(&f.name);
    if let Some(offset) = f.offset {
        text.push_str(&format!("+{offset}"));
    }
    if perf {
        match (&f.module, f.is_inlined()) {
            (Some(m), _) if user => text.push_str(&format!(" ({m})")),
            (_, true) => text.push_str(" (inlined)"),
            _ if user => text.push_str(" ([unknown])"),
            _ => {}
        }
    } else if let Some(at) = &f.location {
        text.push('@');
        text.push_str(at);
    }
    text
}

/// A frame of a build-id stack.
struct BuildIdFrame {
    /// The kernel found the file's build-id (else only the address).
    valid: bool,
    build_id: Vec<u8>,
    offset_or_ip: u64,
}

impl std::fmt::Display for BuildIdFrame {
    /// As bpftrace 0.26: the build-id in hex and the offset (`... 0x1139`),
    /// or the address alone in hex.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.valid {
            return write!(f, "{:x}", self.offset_or_ip);
        }
        for b in &self.build_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, " 0x{:02x}", self.offset_or_ip)
    }
}

/// Below this, a `ksym_t`/`usym_t` value is an index into the program's
/// function names (`func`); at or above it, an address (`ksym(addr)`):
/// no kernel address and no mapped user address is this low.
pub const SYMBOL_INDEX_LIMIT: u64 = 1 << 16;

/// What turning values into text needs from the session.
#[derive(Default)]
pub struct Resolver<'a> {
    pub probe_names: &'a [String],
    /// `func` in user probes.
    pub func_names: &'a [String],
    /// The stack trace maps `ustack`/`kstack` values point into, with the
    /// frames each keeps.
    pub stacks: &'a [bpfscope_compiler::StackMap],
    /// The program's maps, by index (the stack maps among them).
    pub maps: &'a [libbpf_rs::MapHandle],
    /// Names for frames; without it, frames print as addresses.
    pub symbols: Option<&'a Symbolizer>,
    /// `strftime()` formats, by index.
    pub time_formats: &'a [String],
    /// The program's enums, to print their values by name.
    pub enums: &'a [(String, Vec<(String, i64)>)],
    /// `cgroup_path()` filters, by index.
    pub cgroup_filters: &'a [String],
    /// What a string longer than its value ends with, printed.
    pub str_trunc_trailer: &'a str,
    /// `--user-probes`: the agent's stacks.
    pub user: Option<&'a crate::user::UserProbes>,
}

impl<'a> Resolver<'a> {
    pub fn of(
        compiled: &'a bpfscope_compiler::Compiled,
        maps: &'a [libbpf_rs::MapHandle],
        symbols: &'a Symbolizer,
    ) -> Resolver<'a> {
        Resolver {
            probe_names: &compiled.probe_names,
            func_names: &compiled.func_names,
            stacks: &compiled.stack_maps,
            maps,
            symbols: Some(symbols),
            time_formats: &compiled.strftime_formats,
            enums: &compiled.enums,
            cgroup_filters: &compiled.cgroup_filters,
            str_trunc_trailer: &compiled.str_trunc_trailer,
            user: None,
        }
    }

    /// The same, reading the agent's stacks too (`--user-probes`).
    pub fn with_user(self, user: Option<&'a crate::user::UserProbes>) -> Resolver<'a> {
        Resolver { user, ..self }
    }

    /// A stack as bpftrace prints it: a newline, then one line per frame
    /// in the stack's mode (indented by 4 in map keys, 8 elsewhere, in
    /// bpftrace mode).
    pub fn stack_text(&self, value: u64, indent: usize) -> String {
        let (_, map, pid) = bpfscope_compiler::stack_value_parts(value);
        let Some(stack) = self.stacks.get(map) else { return "\n".to_string() };
        if stack.mode == StackMode::BuildId {
            return self.build_id_frames(value).iter().fold("\n".to_string(), |out, f| out + &f.to_string() + "\n");
        }
        let frames = self.frames(value);
        let lines = match self.symbols {
            Some(s) => s.stack_lines(&frames, stack.user.then_some(pid), stack.mode, indent),
            None => frames.iter().map(|a| format!("{:indent$}0x{a:x}\n", "")).collect(),
        };
        format!("\n{lines}")
    }

    /// A stack's frames for a flame graph (see [`Symbolizer::frame_names`]).
    pub fn stack_names(&self, value: u64) -> Vec<String> {
        let (_, map, pid) = bpfscope_compiler::stack_value_parts(value);
        if self.stacks.get(map).is_some_and(|s| s.mode == StackMode::BuildId) {
            return self.build_id_frames(value).iter().map(BuildIdFrame::to_string).collect();
        }
        let user = self.stacks.get(map).is_some_and(|s| s.user);
        let frames = self.frames(value);
        match self.symbols {
            Some(s) => s.frame_names(&frames, user.then_some(pid)),
            None => frames.iter().map(|a| format!("0x{a:x}")).collect(),
        }
    }

    /// A stack's frame addresses, innermost first (of a build-id stack,
    /// each frame's offset in its file, or its address where the kernel
    /// had no build-id).
    pub fn frames(&self, value: u64) -> Vec<u64> {
        let (_, map, _) = bpfscope_compiler::stack_value_parts(value);
        if self.stacks.get(map).is_some_and(|s| s.mode == StackMode::BuildId) {
            return self.build_id_frames(value).iter().map(|f| f.offset_or_ip).collect();
        }
        let Some((frames, limit)) = self.stack_bytes(value) else { return Vec::new() };
        frames.chunks_exact(8).map(read_u64).take(limit).take_while(|&a| a != 0).collect()
    }

    /// A build-id stack's frames (`struct bpf_stack_build_id`: a status,
    /// 20 bytes of build-id, the offset or address), innermost first.
    fn build_id_frames(&self, value: u64) -> Vec<BuildIdFrame> {
        let Some((frames, limit)) = self.stack_bytes(value) else { return Vec::new() };
        frames
            .chunks_exact(32)
            .take(limit)
            .map(|f| BuildIdFrame {
                valid: read_u64(f) as u32 == 1,
                build_id: f[4..24].to_vec(),
                offset_or_ip: read_u64(&f[24..]),
            })
            // Status 0: no frame there.
            .take_while(|f| f.valid || f.offset_or_ip != 0)
            .collect()
    }

    /// The stack map's value for a stack, and how many frames it keeps.
    fn stack_bytes(&self, value: u64) -> Option<(Vec<u8>, usize)> {
        use libbpf_rs::MapCore;
        let (id, map, _pid) = bpfscope_compiler::stack_value_parts(value);
        let stack = self.stacks.get(map)?;
        if let Some(user) = self.user
            && u64::from(id) & bpfscope_userspace::maps::AGENT_STACK != 0
        {
            let id = (u64::from(id) & !bpfscope_userspace::maps::AGENT_STACK) as u32;
            return Some((user.stack(stack.map, id)?, stack.limit as usize));
        }
        let handle = self.maps.get(stack.map.0)?;
        let frames = handle.lookup(&id.to_le_bytes(), libbpf_rs::MapFlags::ANY).ok()??;
        Some((frames, stack.limit as usize))
    }
}

/// The 8-byte scalar at the start of `bytes` (missing bytes read as 0).
pub fn read_u64(bytes: &[u8]) -> u64 {
    // The usual case, without a copy of a variable length (sorting a
    // million keys reads them twenty million times).
    if let Some(word) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(*word);
    }
    let mut w = [0u8; 8];
    let n = bytes.len().min(8);
    w[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(w)
}

/// A scalar as the signed or unsigned integer its type says.
pub fn int_value(t: &Type, bytes: &[u8]) -> i128 {
    let raw = read_u64(bytes);
    match t {
        Type::Int { bits, signed: true } => {
            let shift = 64 - u32::from(*bits);
            i128::from(((raw as i64) << shift) >> shift)
        }
        Type::Int { bits, signed: false } => {
            let shift = 64 - u32::from(*bits);
            i128::from((raw << shift) >> shift)
        }
        _ => i128::from(raw as i64),
    }
}

/// Bytes up to the first NUL.
pub fn c_string(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// A string value as bpftrace 0.26 prints it: the bytes before the first
/// NUL, then `trailer` where its bytes have no NUL at all, which is how a
/// string longer than the value could hold is left (see `str()`).
pub fn string_text(t: &Type, bytes: &[u8], trailer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_string_text(t, bytes, trailer, &mut out);
    out
}

/// [`string_text`], onto the end of `out`.
pub fn write_string_text(t: &Type, bytes: &[u8], trailer: &str, out: &mut Vec<u8>) {
    let size = size_of(t) as usize;
    let text = c_string(&bytes[..size.min(bytes.len())]);
    out.extend_from_slice(text);
    if size > 0 && text.len() == size {
        out.extend_from_slice(trailer.as_bytes());
    }
}

/// The bytes a `buf()` value holds (after its 8-byte length).
pub fn buffer_bytes(bytes: &[u8]) -> &[u8] {
    let data = bytes.get(8..).unwrap_or(&[]);
    let len = (read_u64(bytes) as usize).min(data.len());
    &data[..len]
}

/// Printable ASCII as is, other bytes as `\xNN`: how bpftrace shows buffers.
pub fn hex_escaped(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if b.is_ascii_graphic() || b == b' ' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

pub fn to_text(t: &Type, bytes: &[u8], r: &Resolver<'_>) -> String {
    match t {
        Type::Str(_) => String::from_utf8_lossy(&string_text(t, bytes, r.str_trunc_trailer)).into_owned(),
        Type::Buffer(_) => hex_escaped(buffer_bytes(bytes)),
        Type::Bool => (read_u64(bytes) != 0).to_string(),
        Type::Probe => r.probe_names.get(read_u64(bytes) as usize).cloned().unwrap_or_default(),
        Type::Ustack | Type::Kstack => r.stack_text(read_u64(bytes), 8),
        Type::Ksym if read_u64(bytes) >= SYMBOL_INDEX_LIMIT => match r.symbols {
            Some(s) => s.kernel_name(read_u64(bytes)),
            None => format!("0x{:x}", read_u64(bytes)),
        },
        Type::Usym | Type::Ksym => r.func_names.get(read_u64(bytes) as usize).cloned().unwrap_or_default(),
        Type::Username => username(read_u64(bytes) as u32),
        Type::Tuple(items) => {
            let parts: Vec<String> = items
                .iter()
                .zip(field_offsets(items))
                .map(|(it, off)| to_text(it, slice(bytes, off, size_of(it)), r))
                .collect();
            format!("({})", parts.join(", "))
        }
        Type::Record(fields) => {
            let types: Vec<Type> = fields.iter().map(|(_, t)| t.clone()).collect();
            let parts: Vec<String> = fields
                .iter()
                .zip(field_offsets(&types))
                .map(|((name, ft), off)| format!(".{name} = {}", to_text(ft, slice(bytes, off, size_of(ft)), r)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Type::Array(elem, n) => {
            let es = bpfscope_compiler::layout::element_size(elem);
            let parts: Vec<String> = (0..*n as u32).map(|i| to_text(elem, slice(bytes, i * es, es), r)).collect();
            format!("[{}]", parts.join(","))
        }
        Type::Pointer(_) => format!("0x{:x}", read_u64(bytes)),
        Type::Inet => inet_text(bytes),
        Type::NumberName(kind) => bpfscope_compiler::names::number_name(*kind, read_u64(bytes) as i64),
        // [address][pid]
        Type::UserSymbol => {
            let (address, pid) = (read_u64(bytes), read_u64(slice(bytes, 8, 8)) as u32);
            match r.symbols {
                Some(s) => s.user_name(pid, address),
                None => format!("0x{address:x}"),
            }
        }
        Type::Macaddr => slice(bytes, 0, 6).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"),
        // [cgroup id][filter index]
        Type::CgroupPath => {
            let filter = r.cgroup_filters.get(read_u64(slice(bytes, 8, 8)) as usize).map_or("*", String::as_str);
            cgroup_path(read_u64(bytes), filter)
        }
        // The variant's name; a value no variant has prints as a number.
        Type::Enum(name) => {
            let v = read_u64(bytes) as i64;
            let variants = r.enums.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice()).unwrap_or_default();
            variants.iter().find(|(_, x)| *x == v).map_or_else(|| v.to_string(), |(n, _)| n.clone())
        }
        // [boot-clock nanoseconds][format index]
        Type::Timestamp => {
            let fmt = r.time_formats.get(read_u64(slice(bytes, 8, 8)) as usize).map_or("", String::as_str);
            super::boot_time_text(fmt, read_u64(bytes))
        }
        _ => int_value(t, bytes).to_string(),
    }
}

/// `cgroup_path(id)` as bpftrace prints it: `unified:/path` for the cgroup
/// v2 directory whose inode is the id (the only hierarchy named `unified`),
/// where the filter (a glob on hierarchy names) lets it through; empty when
/// no directory has that id.
fn cgroup_path(id: u64, filter: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    const ROOT: &str = "/sys/fs/cgroup";
    if !glob_matches(filter, "unified") {
        return String::new();
    }
    let mut dirs = vec![std::path::PathBuf::from(ROOT)];
    while let Some(dir) = dirs.pop() {
        if std::fs::metadata(&dir).is_ok_and(|m| m.ino() == id) {
            let rel = dir.strip_prefix(ROOT).map(|p| p.display().to_string()).unwrap_or_default();
            return format!("unified:/{rel}");
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        dirs.extend(entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
    }
    String::new()
}

/// A `*`-and-`?` glob against a whole name.
fn glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// An `ntop()` value: the family, then the address; as `inet_ntop` writes
/// it (nothing for a family that is neither IPv4 nor IPv6).
fn inet_text(bytes: &[u8]) -> String {
    let address = slice(bytes, 8, 16);
    match read_u64(bytes) {
        2 => <[u8; 4]>::try_from(slice(address, 0, 4))
            .map(|a| std::net::Ipv4Addr::from(a).to_string())
            .unwrap_or_default(),
        10 => <[u8; 16]>::try_from(address).map(|a| std::net::Ipv6Addr::from(a).to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

/// `len` bytes at `off`, or fewer if the buffer is short.
pub fn slice(bytes: &[u8], off: u32, len: u32) -> &[u8] {
    let start = (off as usize).min(bytes.len());
    let end = (off as usize + len as usize).min(bytes.len());
    &bytes[start..end]
}

/// The user name of a uid, from the password database.
fn username(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?;
                (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_by_width_and_sign() {
        let b = (-1i64).to_le_bytes();
        assert_eq!(int_value(&Type::INT64, &b), -1);
        assert_eq!(int_value(&Type::Int { bits: 32, signed: false }, &b), 4294967295);
        assert_eq!(int_value(&Type::Int { bits: 8, signed: true }, &255u64.to_le_bytes()), -1);
    }

    #[test]
    fn addresses_as_inet_ntop_writes_them() {
        let mut v4 = 2u64.to_le_bytes().to_vec();
        v4.extend([127, 0, 0, 1]);
        v4.resize(24, 0);
        assert_eq!(inet_text(&v4), "127.0.0.1");
        let mut v6 = 10u64.to_le_bytes().to_vec();
        v6.extend([0u8; 15]);
        v6.push(1);
        assert_eq!(inet_text(&v6), "::1");
    }

    #[test]
    fn tuples_and_records() {
        let r = Resolver::default();
        let mut bytes = 7u64.to_le_bytes().to_vec();
        bytes.extend(b"ab\0\0\0\0\0\0");
        let t = Type::Tuple(vec![Type::INT64, Type::Str(3)]);
        assert_eq!(to_text(&t, &bytes, &r), "(7, ab)");
        let rec = Type::Record(vec![("n".into(), Type::INT64), ("s".into(), Type::Str(3))]);
        assert_eq!(to_text(&rec, &bytes, &r), "{ .n = 7, .s = ab }");
        assert_eq!(username(0), "root");
    }
}
