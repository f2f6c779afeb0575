//! Attach points: `provider:a:b:c` text, parsed into a provider and a
//! structured target. Wildcards stay in the target's strings; expanding them
//! against the kernel or a binary is the probe catalog's job.

use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::suggest::closest;

pub use crate::provider::Provider;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Nanos,
    Micros,
    Millis,
    Secs,
    Hz,
}

impl TimeUnit {
    fn from_name(s: &str) -> Option<TimeUnit> {
        Some(match s {
            "ns" => TimeUnit::Nanos,
            "us" => TimeUnit::Micros,
            "ms" => TimeUnit::Millis,
            "s" => TimeUnit::Secs,
            "hz" => TimeUnit::Hz,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Nanos => "ns",
            TimeUnit::Micros => "us",
            TimeUnit::Millis => "ms",
            TimeUnit::Secs => "s",
            TimeUnit::Hz => "hz",
        }
    }
}

/// Where a user-space probe goes inside its binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserLocation {
    /// A symbol (possibly a wildcard), with an optional byte offset into it.
    Symbol { name: String, offset: Option<u64> },
    /// A raw address or file offset.
    Address(u64),
    /// `binary@file:line[:col]`, from DWARF line tables.
    SourceLine { file: String, line: u64, col: Option<u64> },
}

/// What an attach point names, by provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `BEGIN`, `END`.
    None,
    /// `test:name`, `bench:name`, `self:signal:SIGUSR1`.
    Named(Vec<String>),
    /// Kernel functions and events: kprobe, kretprobe, fentry, fexit,
    /// rawtracepoint. `module` is `bpf` for `fentry:bpf:...`.
    Kernel {
        module: Option<String>,
        func: String,
        offset: Option<u64>,
    },
    /// `kprobe:0xffffffff81000000`
    KernelAddress(u64),
    /// uprobe/uretprobe. `binary` is `None` for `uprobe:func` with `-p`.
    User {
        binary: Option<String>,
        location: UserLocation,
        lang: Option<String>,
    },
    Tracepoint {
        category: String,
        event: String,
    },
    Usdt {
        binary: Option<String>,
        namespace: Option<String>,
        name: String,
    },
    /// profile, interval: one tick every `value` units (or `value` per
    /// second for `hz`).
    Timer {
        unit: TimeUnit,
        value: u64,
    },
    /// software, hardware: an event and how many of them fire the probe.
    PerfEvent {
        event: String,
        count: Option<u64>,
    },
    Watchpoint {
        address: u64,
        length: u64,
        mode: String,
    },
    Iter {
        object: String,
        pin: Option<String>,
    },
}

/// One attach point of a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachPoint {
    /// The text as written (after positional parameter substitution).
    pub raw: String,
    pub span: Span,
    /// The optional `name=` prefix.
    pub name: Option<String>,
    pub provider: Provider,
    pub target: Target,
}

impl AttachPoint {
    /// The canonical `provider:...` name that the `probe` builtin yields.
    pub fn canonical(&self) -> String {
        let p = self.provider.name();
        match &self.target {
            Target::None => p.to_string(),
            Target::Named(parts) => format!("{p}:{}", parts.join(":")),
            Target::Kernel { module, func, offset } => {
                let mut s = format!("{p}:");
                if let Some(m) = module {
                    s.push_str(m);
                    s.push(':');
                }
                s.push_str(func);
                if let Some(o) = offset {
                    s.push_str(&format!("+{o}"));
                }
                s
            }
            Target::KernelAddress(a) => format!("{p}:0x{a:x}"),
            Target::User { binary, location, lang } => {
                let mut s = format!("{p}:");
                if let Some(b) = binary {
                    s.push_str(b);
                }
                match location {
                    UserLocation::SourceLine { file, line, col } => {
                        s.push_str(&format!("@{file}:{line}"));
                        if let Some(c) = col {
                            s.push_str(&format!(":{c}"));
                        }
                        return s;
                    }
                    _ if binary.is_some() => s.push(':'),
                    _ => {}
                }
                if let Some(l) = lang {
                    s.push_str(&format!("{l}:"));
                }
                match location {
                    UserLocation::Symbol { name, offset } => {
                        s.push_str(name);
                        if let Some(o) = offset {
                            s.push_str(&format!("+{o}"));
                        }
                    }
                    UserLocation::Address(a) => s.push_str(&format!("{a}")),
                    UserLocation::SourceLine { .. } => {}
                }
                s
            }
            Target::Tracepoint { category, event } => format!("{p}:{category}:{event}"),
            Target::Usdt { binary, namespace, name } => {
                let mut s = format!("{p}:{}:", binary.as_deref().unwrap_or(""));
                if let Some(ns) = namespace {
                    s.push_str(&format!("{ns}:"));
                }
                s.push_str(name);
                s
            }
            Target::Timer { unit, value } => format!("{p}:{}:{value}", unit.name()),
            Target::PerfEvent { event, count } => match count {
                Some(c) => format!("{p}:{event}:{c}"),
                None => format!("{p}:{event}"),
            },
            Target::Watchpoint { address, length, mode } => format!("{p}:0x{address:x}:{length}:{mode}"),
            Target::Iter { object, pin } => match pin {
                Some(pin) => format!("{p}:{object}:{pin}"),
                None => format!("{p}:{object}"),
            },
        }
    }

    /// Whether the target names more than one thing (`*` or `{a,b}`).
    pub fn has_wildcard(&self) -> bool {
        let wild = |s: &str| s.contains('*') || s.contains('{');
        match &self.target {
            Target::Kernel { module, func, .. } => wild(func) || module.as_deref().is_some_and(wild),
            Target::User { binary, location: UserLocation::Symbol { name, .. }, .. } => {
                wild(name) || binary.as_deref().is_some_and(wild)
            }
            Target::Tracepoint { category, event } => wild(category) || wild(event),
            Target::Usdt { binary, namespace, name } => {
                wild(name) || namespace.as_deref().is_some_and(wild) || binary.as_deref().is_some_and(wild)
            }
            _ => false,
        }
    }
}
/// A perf event `software:` or `hardware:` probes name: its names (the
/// first is canonical), the kernel's `config` number for it, and how many
/// events fire the probe when the attach point gives no count (bpftrace's
/// defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfEventKind {
    pub names: &'static [&'static str],
    pub config: u64,
    pub default_count: u64,
}

const fn perf(names: &'static [&'static str], config: u64, default_count: u64) -> PerfEventKind {
    PerfEventKind { names, config, default_count }
}

/// The software events bpftrace knows (`PERF_COUNT_SW_*`).
pub const SOFTWARE_EVENTS: &[PerfEventKind] = &[
    perf(&["alignment-faults"], 7, 1),
    perf(&["bpf-output"], 10, 1),
    perf(&["context-switches", "cs"], 3, 1000),
    perf(&["cpu-clock", "cpu"], 0, 1_000_000),
    perf(&["cpu-migrations"], 4, 1),
    perf(&["dummy"], 9, 1),
    perf(&["emulation-faults"], 8, 1),
    perf(&["major-faults"], 6, 1),
    perf(&["minor-faults"], 5, 100),
    perf(&["page-faults", "faults"], 2, 100),
    perf(&["task-clock"], 1, 1),
];

/// The hardware events bpftrace knows (`PERF_COUNT_HW_*`).
pub const HARDWARE_EVENTS: &[PerfEventKind] = &[
    perf(&["backend-stalls"], 8, 1_000_000),
    perf(&["branch-instructions", "branches"], 4, 100_000),
    perf(&["branch-misses"], 5, 100_000),
    perf(&["bus-cycles"], 6, 100_000),
    perf(&["cache-misses"], 3, 1_000_000),
    perf(&["cache-references"], 2, 1_000_000),
    perf(&["cpu-cycles", "cycles"], 0, 1_000_000),
    perf(&["frontend-stalls"], 7, 1_000_000),
    perf(&["instructions"], 1, 1_000_000),
    perf(&["ref-cycles"], 9, 1_000_000),
];

/// The event a `software:`/`hardware:` name (or alias) stands for.
pub fn perf_event_kind(provider: Provider, name: &str) -> Option<&'static PerfEventKind> {
    let table = if provider == Provider::Hardware { HARDWARE_EVENTS } else { SOFTWARE_EVENTS };
    table.iter().find(|k| k.names.contains(&name))
}

/// One `:`-separated part of the raw text, unquoted, with its span.
pub(crate) struct Part {
    text: String,
    span: Span,
    quoted: bool,
}

/// Parses an attach point's raw text, which starts at byte `offset` of the
/// program. `params` are the positional parameters (`$1` is `params[0]`).
pub fn parse_attach_point(raw: &str, offset: usize, params: &[String]) -> Result<AttachPoint, Diagnostic> {
    let whole = Span::new(offset, offset + raw.len());
    let text = substitute_params(raw, whole, params)?;
    // Spans of parts are only exact when no parameter changed the text.
    let exact = text == raw;
    let (name, body_start) = match split_name(&text) {
        Some(n) => (Some(text[..n].to_string()), n + 1),
        None => (None, 0),
    };
    let mut parts = split_parts(&text[body_start..], offset + body_start);
    if !exact {
        for p in &mut parts {
            p.span = whole;
        }
    }
    let Some(first) = parts.first() else {
        return Err(Diagnostic::error(whole, "expected an attach point"));
    };
    let Some(provider) = Provider::from_name(&first.text) else {
        let mut d = Diagnostic::error(first.span, format!("Invalid provider: '{}'", first.text));
        if first.text == "asyncwatchpoint" {
            return Err(d
                .with_hint("bpftrace 0.26 removed asyncwatchpoint (with watchpoint:FUNC+ARG); watchpoint:ADDR:LEN:MODE is what there is"));
        }
        if let Some(s) = closest(&first.text, Provider::all_names()) {
            d = d.with_hint(format!("did you mean '{s}'?"));
        }
        return Err(d);
    };
    let args = &parts[1..];
    let target = (provider.spec().parse)(provider, args, first.span.to(parts[parts.len() - 1].span))?;
    Ok(AttachPoint { raw: text, span: whole, name, provider, target })
}

/// `$1`..`$N` in attach points stand for the positional parameters.
fn substitute_params(raw: &str, span: Span, params: &[String]) -> Result<String, Diagnostic> {
    if !raw.contains('$') {
        return Ok(raw.to_string());
    }
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let digits: String = rest[i + 1..].chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            if rest[i + 1..].starts_with('#') {
                out.push_str(&params.len().to_string());
                rest = &rest[i + 2..];
                continue;
            }
            out.push('$');
            rest = &rest[i + 1..];
            continue;
        }
        let n: usize = digits.parse().unwrap_or(usize::MAX);
        match n.checked_sub(1).and_then(|k| params.get(k)) {
            Some(p) => out.push_str(p),
            None => {
                return Err(Diagnostic::error(
                    span,
                    format!("positional parameter ${digits} is used in an attach point but was not given"),
                )
                .with_hint(format!(
                    "pass it after the program: bpfscope -e '...' {}",
                    "value ".repeat(n.min(9)).trim_end()
                )));
            }
        }
        rest = &rest[i + 1 + digits.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The length of a `name=` prefix (before any `:`), if there is one.
fn split_name(text: &str) -> Option<usize> {
    let eq = text.find('=')?;
    let colon = text.find(':').unwrap_or(text.len());
    let name = &text[..eq];
    (eq < colon && !name.is_empty() && name.bytes().all(crate::lexer::is_ident_char)).then_some(eq)
}

fn split_parts(text: &str, offset: usize) -> Vec<Part> {
    let b = text.as_bytes();
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                quoted = true;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = text[i..].chars().next().unwrap_or('?');
                    cur.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
            }
            b':' => {
                parts.push(Part {
                    text: std::mem::take(&mut cur),
                    span: Span::new(offset + start, offset + i),
                    quoted,
                });
                quoted = false;
                i += 1;
                start = i;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                cur.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    parts.push(Part { text: cur, span: Span::new(offset + start, offset + b.len().min(i)), quoted });
    parts
}

fn arity_error(provider: Provider, span: Span, expected: &str, found: usize) -> Diagnostic {
    Diagnostic::error(span, format!("{provider} probe type requires {expected} arguments, found {found}"))
}

/// The texts of the parts, for matching on.
fn texts(args: &[Part]) -> Vec<&str> {
    args.iter().map(|p| p.text.as_str()).collect()
}

/// `BEGIN`, `END`: nothing after the name.
pub(crate) fn parse_bare(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    match args {
        [] => Ok(Target::None),
        _ => Err(arity_error(provider, span, "0", args.len())),
    }
}

/// `test:NAME`, `bench:NAME`.
pub(crate) fn parse_named(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    match texts(args).as_slice() {
        [name] if !name.is_empty() => Ok(Target::Named(vec![name.to_string()])),
        _ => Err(arity_error(provider, span, "1", args.len())),
    }
}

/// The tracer's own events; 0.26 has one, SIGUSR1 reaching it.
pub(crate) fn parse_self(_: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    match texts(args).as_slice() {
        ["signal", "SIGUSR1"] => Ok(Target::Named(vec!["signal".into(), "SIGUSR1".into()])),
        ["signal", sig] => Err(Diagnostic::error(span, format!("{sig} is not a supported signal"))
            .with_hint("self:signal:SIGUSR1 is the one there is")),
        [trigger, ..] if *trigger != "signal" => {
            Err(Diagnostic::error(span, format!("{trigger} is not a supported trigger"))
                .with_hint("self:signal:SIGUSR1 is the one there is"))
        }
        _ => Err(Diagnostic::error(span, "self probes look like self:signal:SIGUSR1")),
    }
}

/// `kprobe:[MODULE:]FUNC[+OFFSET]`, `kprobe:ADDRESS`.
pub(crate) fn parse_kprobe(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    parse_kernel_function(provider, args, span, true)
}

/// `fentry:[MODULE:]FUNC`, and on running BPF programs `fentry:bpf:NAME`
/// (every program with that name) or `fentry:bpf:ID:NAME` (that one).
pub(crate) fn parse_fentry(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    match texts(args).as_slice() {
        ["bpf", id, func] => {
            if id.parse::<u32>().is_err() {
                return Err(Diagnostic::error(args[1].span, format!("invalid BPF program id '{id}'"))
                    .with_hint(format!("{provider}:bpf:ID:NAME takes the id bpfscope -l '{provider}:bpf:*' lists")));
            }
            Ok(Target::Kernel { module: Some(format!("bpf:{id}")), func: func.to_string(), offset: None })
        }
        ["bpf", func] if !func.is_empty() => {
            Ok(Target::Kernel { module: Some("bpf".into()), func: func.to_string(), offset: None })
        }
        _ => parse_kernel_function(provider, args, span, false),
    }
}

/// `rawtracepoint:[MODULE:]EVENT`.
pub(crate) fn parse_raw_tracepoint(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    parse_kernel_function(provider, args, span, false)
}

/// `tracepoint:CATEGORY:EVENT`.
pub(crate) fn parse_tracepoint(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    match args {
        [cat, event] if !cat.text.is_empty() && !event.text.is_empty() => {
            Ok(Target::Tracepoint { category: cat.text.clone(), event: event.text.clone() })
        }
        _ => Err(arity_error(provider, span, "2", args.len())
            .with_hint("tracepoints look like tracepoint:syscalls:sys_enter_openat")),
    }
}

/// `usdt:[BINARY:][NAMESPACE:]NAME`.
pub(crate) fn parse_usdt(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    match texts(args).as_slice() {
        [name] => Ok(Target::Usdt { binary: None, namespace: None, name: name.to_string() }),
        [bin, name] => Ok(Target::Usdt { binary: Some(bin.to_string()), namespace: None, name: name.to_string() }),
        [bin, ns, name] => {
            Ok(Target::Usdt { binary: Some(bin.to_string()), namespace: Some(ns.to_string()), name: name.to_string() })
        }
        _ => Err(arity_error(provider, span, "1 to 3", args.len())),
    }
}

/// `watchpoint:ADDRESS:LENGTH:MODE`.
pub(crate) fn parse_watchpoint(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    let [addr, len, mode] = args else {
        return Err(arity_error(provider, span, "3", args.len()));
    };
    let address = parse_u64(&addr.text)
        .ok_or_else(|| Diagnostic::error(addr.span, format!("invalid watchpoint address '{}'", addr.text)))?;
    let length = parse_u64(&len.text)
        .filter(|l| [1, 2, 4, 8].contains(l))
        .ok_or_else(|| Diagnostic::error(len.span, "watchpoint length must be 1, 2, 4 or 8"))?;
    let ok_mode = !mode.text.is_empty()
        && mode.text.chars().all(|c| "rwx".contains(c))
        && !(mode.text.contains('x') && mode.text.len() > 1);
    if !ok_mode {
        return Err(Diagnostic::error(mode.span, format!("invalid watchpoint mode '{}'", mode.text))
            .with_hint("the mode is a combination of r and w, or x alone"));
    }
    Ok(Target::Watchpoint { address, length, mode: mode.text.clone() })
}

/// The iterators 0.26 has.
pub const ITERATORS: [&str; 3] = ["task", "task_file", "task_vma"];

/// `iter:OBJECT[:PIN]`.
pub(crate) fn parse_iter(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    let (object, pin) = match texts(args).as_slice() {
        [object] => (object.to_string(), None),
        [object, pin] => (object.to_string(), Some(pin.to_string())),
        _ => return Err(arity_error(provider, span, "1 or 2", args.len())),
    };
    if !ITERATORS.contains(&object.as_str()) {
        let mut d = Diagnostic::error(args[0].span, format!("'{object}' is not an iterator"))
            .with_hint("the iterators are iter:task, iter:task_file and iter:task_vma");
        if let Some(s) = closest(&object, ITERATORS.iter().copied()) {
            d = d.with_hint(format!("did you mean '{s}'?"));
        }
        return Err(d);
    }
    Ok(Target::Iter { object, pin })
}

fn parse_kernel_function(
    provider: Provider,
    args: &[Part],
    span: Span,
    allow_offset: bool,
) -> Result<Target, Diagnostic> {
    let (module, func) = match args {
        [func] => (None, func),
        [module, func] => (Some(module.text.clone()), func),
        _ => return Err(arity_error(provider, span, "1 or 2", args.len())),
    };
    if func.text.is_empty() {
        return Err(Diagnostic::error(func.span, format!("{provider} probe needs a function name")));
    }
    if module.is_none() && !func.quoted && func.text.starts_with("0x") && !func.text.contains('*') {
        if provider != Provider::Kprobe && provider != Provider::Kretprobe {
            return Err(Diagnostic::error(func.span, format!("{provider} probes attach by name, not by address")));
        }
        let a = parse_u64(&func.text)
            .ok_or_else(|| Diagnostic::error(func.span, format!("invalid address '{}'", func.text)))?;
        return Ok(Target::KernelAddress(a));
    }
    let (name, offset) = split_offset(func)?;
    if offset.is_some() && !(allow_offset && provider == Provider::Kprobe) {
        return Err(Diagnostic::error(func.span, format!("{provider} probes do not take an offset")));
    }
    Ok(Target::Kernel { module, func: name, offset })
}

/// Splits `func+0x10` into the name and the offset.
fn split_offset(part: &Part) -> Result<(String, Option<u64>), Diagnostic> {
    if part.quoted {
        return Ok((part.text.clone(), None));
    }
    match part.text.rsplit_once('+') {
        Some((name, off)) if !name.is_empty() => match parse_u64(off) {
            Some(o) => Ok((name.to_string(), Some(o))),
            None => Err(Diagnostic::error(part.span, format!("invalid offset '{off}' in '{}'", part.text))
                .with_hint("offsets are numbers in bytes, as in func+0x10 or func+16")),
        },
        _ => Ok((part.text.clone(), None)),
    }
}

pub(crate) fn parse_user(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    let (binary, lang, loc) = match args {
        [loc] => (None, None, loc),
        [bin, loc] => {
            if let Some((file_bin, src)) = bin.text.split_once('@') {
                // uprobe:/bin/x@file.c:LINE
                let line = parse_u64(&loc.text)
                    .ok_or_else(|| Diagnostic::error(loc.span, format!("invalid line number '{}'", loc.text)))?;
                return Ok(Target::User {
                    binary: Some(file_bin.to_string()),
                    location: UserLocation::SourceLine { file: src.to_string(), line, col: None },
                    lang: None,
                });
            }
            (Some(bin), None, loc)
        }
        [bin, third, fourth] if bin.text.contains('@') => {
            let (file_bin, src) = bin.text.split_once('@').unwrap_or_default();
            let line = parse_u64(&third.text)
                .ok_or_else(|| Diagnostic::error(third.span, format!("invalid line number '{}'", third.text)))?;
            let col = parse_u64(&fourth.text)
                .ok_or_else(|| Diagnostic::error(fourth.span, format!("invalid column number '{}'", fourth.text)))?;
            return Ok(Target::User {
                binary: Some(file_bin.to_string()),
                location: UserLocation::SourceLine { file: src.to_string(), line, col: Some(col) },
                lang: None,
            });
        }
        [bin, lang, loc] => (Some(bin), Some(lang.text.clone()), loc),
        _ => return Err(arity_error(provider, span, "1 to 3", args.len())),
    };
    if let Some(l) = &lang
        && l != "cpp"
    {
        return Err(Diagnostic::error(args[1].span, format!("unknown language '{l}' in {provider} probe"))
            .with_hint("the only language qualifier is cpp, for demangled C++ names"));
    }
    if loc.text.is_empty() {
        return Err(Diagnostic::error(loc.span, format!("{provider} probe needs a function name or an address")));
    }
    let binary = binary.map(|b| b.text.clone());
    if binary.as_deref() == Some("") {
        return Err(Diagnostic::error(args[0].span, format!("{provider} probe needs a binary or library")));
    }
    let location = if !loc.quoted
        && loc.text.bytes().all(|c| c.is_ascii_hexdigit() || c == b'x')
        && loc.text.as_bytes()[0].is_ascii_digit()
    {
        let a = parse_u64(&loc.text)
            .ok_or_else(|| Diagnostic::error(loc.span, format!("invalid address '{}'", loc.text)))?;
        UserLocation::Address(a)
    } else {
        let (name, offset) = split_offset(loc)?;
        if offset.is_some() && provider == Provider::Uretprobe {
            return Err(Diagnostic::error(loc.span, "uretprobe probes do not take an offset"));
        }
        UserLocation::Symbol { name, offset }
    };
    Ok(Target::User { binary, location, lang })
}

pub(crate) fn parse_timer(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    let (unit, value) = match args {
        [v] => {
            // interval:1s, interval:100ms, interval:1000000 (nanoseconds)
            let digits_end = v.text.find(|c: char| !c.is_ascii_digit() && c != '_' && c != 'e').unwrap_or(v.text.len());
            let (num, suffix) = v.text.split_at(digits_end);
            if num.is_empty() {
                return Err(Diagnostic::error(v.span, format!("{provider}: missing count in '{}'", v.text))
                    .with_hint(format!("write {provider}:s:1 or {provider}:1s")));
            }
            let unit = if suffix.is_empty() { Some(TimeUnit::Nanos) } else { TimeUnit::from_name(suffix) };
            let Some(unit) = unit else {
                return Err(Diagnostic::error(v.span, format!("{provider}: invalid unit '{suffix}'"))
                    .with_hint("units are ns, us, ms, s and hz, as in interval:1s or interval:s:1"));
            };
            (unit, parse_count(provider, num, v.span)?)
        }
        [u, v] => {
            let Some(unit) = TimeUnit::from_name(&u.text).filter(|u| *u != TimeUnit::Nanos) else {
                return Err(Diagnostic::error(u.span, format!("{provider}: invalid unit '{}'", u.text))
                    .with_hint("units are us, ms, s and hz, as in interval:s:1"));
            };
            (unit, parse_count(provider, &v.text, v.span)?)
        }
        _ => return Err(arity_error(provider, span, "1 or 2", args.len())),
    };
    Ok(Target::Timer { unit, value })
}

fn parse_count(provider: Provider, text: &str, span: Span) -> Result<u64, Diagnostic> {
    match parse_u64(text) {
        Some(0) => Err(Diagnostic::error(span, format!("{provider}: the count or rate must be positive"))),
        Some(n) => Ok(n),
        None => Err(Diagnostic::error(span, format!("{provider}: invalid count '{text}'"))),
    }
}

pub(crate) fn parse_perf_event(provider: Provider, args: &[Part], span: Span) -> Result<Target, Diagnostic> {
    let (event, count) = match args {
        [e] => (e, None),
        [e, c] if c.text.is_empty() => (e, None),
        [e, c] => (e, Some(parse_count(provider, &c.text, c.span)?)),
        _ => return Err(arity_error(provider, span, "1 or 2", args.len())),
    };
    let table = if provider == Provider::Software { SOFTWARE_EVENTS } else { HARDWARE_EVENTS };
    if !event.text.contains('*') && perf_event_kind(provider, &event.text).is_none() {
        let mut d = Diagnostic::error(event.span, format!("Unknown {provider} event '{}'", event.text));
        if let Some(s) = closest(&event.text, table.iter().flat_map(|k| k.names.iter().copied())) {
            d = d.with_hint(format!("did you mean '{s}'?"));
        }
        return Err(d);
    }
    Ok(Target::PerfEvent { event: event.text.clone(), count })
}

/// Parses a number the way attach points write them: decimal, `0x` hex,
/// `1e6`, with `_` separators.
pub fn parse_u64(text: &str) -> Option<u64> {
    let t: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if let Some((m, e)) = t.split_once(['e', 'E']) {
        let m: u64 = m.parse().ok()?;
        let e: u32 = e.parse().ok()?;
        return m.checked_mul(10u64.checked_pow(e)?);
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(raw: &str) -> AttachPoint {
        parse_attach_point(raw, 0, &[]).unwrap_or_else(|d| panic!("{raw}: {}", d.message))
    }

    fn err(raw: &str) -> String {
        parse_attach_point(raw, 0, &[]).expect_err(raw).message
    }

    #[test]
    fn every_alias_names_its_provider() {
        for (alias, p) in [
            ("k:f", Provider::Kprobe),
            ("kr:f", Provider::Kretprobe),
            ("u:/b:f", Provider::Uprobe),
            ("ur:/b:f", Provider::Uretprobe),
            ("t:a:b", Provider::Tracepoint),
            ("rt:b", Provider::RawTracepoint),
            ("f:f", Provider::Fentry),
            ("kfunc:f", Provider::Fentry),
            ("fr:f", Provider::Fexit),
            ("kretfunc:f", Provider::Fexit),
            ("U:/b:p", Provider::Usdt),
            ("p:hz:99", Provider::Profile),
            ("i:s:1", Provider::Interval),
            ("s:faults:100", Provider::Software),
            ("h:cycles:1e6", Provider::Hardware),
            ("w:0x1000:8:rw", Provider::Watchpoint),
            ("it:task", Provider::Iter),
            ("begin", Provider::Begin),
            ("end", Provider::End),
            ("self:signal:SIGUSR1", Provider::SelfEvent),
        ] {
            assert_eq!(ap(alias).provider, p, "{alias}");
        }
    }

    #[test]
    fn canonical_names() {
        assert_eq!(ap("k:vfs_read").canonical(), "kprobe:vfs_read");
        assert_eq!(ap("kprobe:f+0x10").canonical(), "kprobe:f+16");
        assert_eq!(ap("u:/lib/libc.so.6:malloc").canonical(), "uprobe:/lib/libc.so.6:malloc");
        assert_eq!(ap("interval:1s").canonical(), "interval:s:1");
        assert_eq!(ap("i:ms:100").canonical(), "interval:ms:100");
        assert_eq!(ap("BEGIN").canonical(), "BEGIN");
        assert_eq!(ap("t:syscalls:sys_enter_*").canonical(), "tracepoint:syscalls:sys_enter_*");
    }

    #[test]
    fn targets() {
        assert_eq!(
            ap("kprobe:mod:fn").target,
            Target::Kernel { module: Some("mod".into()), func: "fn".into(), offset: None }
        );
        assert_eq!(ap("kprobe:0xffff0000").target, Target::KernelAddress(0xffff0000));
        assert_eq!(
            ap("uprobe:/bin/x:0x1234").target,
            Target::User { binary: Some("/bin/x".into()), location: UserLocation::Address(0x1234), lang: None }
        );
        assert_eq!(
            ap(r#"uprobe:/p:cpp:"A::B::*""#).target,
            Target::User {
                binary: Some("/p".into()),
                location: UserLocation::Symbol { name: "A::B::*".into(), offset: None },
                lang: Some("cpp".into())
            }
        );
        assert_eq!(
            ap("uprobe:/bin/bash@readline.c:362").target,
            Target::User {
                binary: Some("/bin/bash".into()),
                location: UserLocation::SourceLine { file: "readline.c".into(), line: 362, col: None },
                lang: None
            }
        );
        assert_eq!(
            ap("uprobe:malloc").target,
            Target::User {
                binary: None,
                location: UserLocation::Symbol { name: "malloc".into(), offset: None },
                lang: None
            }
        );
        assert_eq!(
            ap("hardware:cache-misses:1e6").target,
            Target::PerfEvent { event: "cache-misses".into(), count: Some(1_000_000) }
        );
        assert_eq!(ap("profile:hz:99").target, Target::Timer { unit: TimeUnit::Hz, value: 99 });
        assert_eq!(ap("interval:100ms").target, Target::Timer { unit: TimeUnit::Millis, value: 100 });
        assert_eq!(ap("interval:1000000000").target, Target::Timer { unit: TimeUnit::Nanos, value: 1_000_000_000 });
        assert_eq!(
            ap("usdt:/b:ns:name").target,
            Target::Usdt { binary: Some("/b".into()), namespace: Some("ns".into()), name: "name".into() }
        );
        assert_eq!(
            ap("fentry:bpf:123:prog").target,
            Target::Kernel { module: Some("bpf:123".into()), func: "prog".into(), offset: None }
        );
        assert_eq!(ap("myname=kprobe:f").name.as_deref(), Some("myname"));
        assert!(ap("kprobe:vfs_*").has_wildcard());
        assert!(ap("t:syscalls:sys_enter_{open,openat}").has_wildcard());
    }

    #[test]
    fn errors() {
        assert_eq!(err("foo:bar"), "Invalid provider: 'foo'");
        let removed = parse_attach_point("asyncwatchpoint:0x10:8:w", 0, &[]).expect_err("removed");
        assert!(removed.hints.iter().any(|h| h.contains("0.26 removed asyncwatchpoint")), "{:?}", removed.hints);
        assert_eq!(err("tracepoint:a"), "tracepoint probe type requires 2 arguments, found 1");
        assert_eq!(err("interval:s"), "interval: missing count in 's'");
        assert_eq!(err("interval:x:1"), "interval: invalid unit 'x'");
        assert_eq!(err("interval:s:0"), "interval: the count or rate must be positive");
        assert_eq!(err("software:nope:1"), "Unknown software event 'nope'");
        assert_eq!(err("kretprobe:f+4"), "kretprobe probes do not take an offset");
        assert_eq!(err("kprobe:f+zz"), "invalid offset 'zz' in 'f+zz'");
        assert_eq!(err("BEGIN:x"), "BEGIN probe type requires 0 arguments, found 1");
        assert_eq!(err("watchpoint:0x10:3:rw"), "watchpoint length must be 1, 2, 4 or 8");
    }

    #[test]
    fn positional_parameters_substitute() {
        let p = parse_attach_point("uprobe:$1:main", 0, &["/bin/ls".into()]).expect("parses");
        assert_eq!(p.canonical(), "uprobe:/bin/ls:main");
        let e = parse_attach_point("uprobe:$2:main", 0, &["/bin/ls".into()]).expect_err("missing");
        assert_eq!(e.message, "positional parameter $2 is used in an attach point but was not given");
    }
}
