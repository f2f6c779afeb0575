//! The probe types. Each has one row in [`PROVIDERS`]: its spellings, how
//! its attach point parses, what its programs' context holds (and so which
//! builtins it allows), how `-l` lists it and what the kernel must have for
//! it to run. The checker's rules and messages, the listing and the
//! compiler's context reads are made from these rows, so they cannot
//! disagree about a type.
//!
//! Adding a probe type: a [`Provider`] variant and its row here, its
//! provider module in the `probes` crate (resolve, list, arguments), its
//! arm in the compiler's `codegen/context.rs` if its context is new, and
//! its `ProgKind` (program section and attach) in the compiler and runtime.

use std::fmt;

use crate::attach::{self, Part, Target};
use crate::diagnostic::Diagnostic;
use crate::source::Span;

/// The kinds of probe, one per provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Begin,
    End,
    SelfEvent,
    Test,
    Bench,
    Kprobe,
    Kretprobe,
    Uprobe,
    Uretprobe,
    Tracepoint,
    RawTracepoint,
    Fentry,
    Fexit,
    Usdt,
    Profile,
    Interval,
    Software,
    Hardware,
    Watchpoint,
    Iter,
}

/// What a probe's program is given as its context, which decides the
/// builtins that read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextKind {
    /// Run by the tracer itself (BEGIN, END, self, test, bench): no event
    /// and nothing to read.
    Tracer,
    /// The traced function's registers at its entry (`pt_regs`): `argN`,
    /// `sargN`, `reg()`.
    EntryRegisters,
    /// The registers at the function's return: `retval`.
    ReturnRegisters,
    /// The registers at a USDT site, read through the note's argument
    /// specs.
    Usdt,
    /// A raw tracepoint's arguments, 8 bytes each (named from BTF).
    RawArgs,
    /// fentry/fexit: the arguments 8 bytes each, typed by BTF; fexit's
    /// return value after them.
    Btf { ret: bool },
    /// A tracepoint's record, laid out as its format file says.
    TracepointRecord,
    /// A perf event's sample, the interrupted code's registers first.
    PerfSample,
    /// A BPF iterator's `struct bpf_iter__OBJ` (`ctx`).
    Iterator,
}

impl ContextKind {
    /// The context holds the traced code's saved registers.
    pub fn has_registers(self) -> bool {
        matches!(
            self,
            ContextKind::EntryRegisters | ContextKind::ReturnRegisters | ContextKind::Usdt | ContextKind::PerfSample
        )
    }
}

/// Where `args` gets its names and types, for the types that have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgsFrom {
    None,
    /// The tracepoint's format file.
    Format,
    /// Kernel BTF.
    Btf,
    /// The binary's DWARF.
    Dwarf,
}

/// Which probes of a type `-l` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    /// Also when the provider part of the pattern is a wildcard.
    Always,
    /// When the provider part is a wildcard only with `-p` (user probes
    /// need a file).
    WithProcess,
    /// Only when the pattern names the type: return probes mirror the
    /// entry ones; some types have nothing to list.
    WhenNamed,
}

/// What the kernel must have for a probe type to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Runs in the tracer, or on what every BPF kernel has.
    Nothing,
    Kprobes,
    Uprobes,
    Tracepoints,
    RawTracepoints,
    /// BPF trampolines (fentry/fexit) and kernel BTF.
    Trampolines,
    PerfEvents,
    /// Hardware breakpoints through perf events.
    Breakpoints,
    /// BPF iterators and the BTF that describes them.
    Iterators,
}

/// How a provider's attach point parses: the parts after the provider's
/// name, and the span of them all for messages about their number.
pub(crate) type ParseFn = fn(Provider, &[Part], Span) -> Result<Target, Diagnostic>;

/// One probe type.
pub struct ProviderSpec {
    pub provider: Provider,
    /// Every spelling, the canonical one first.
    pub names: &'static [&'static str],
    pub(crate) parse: ParseFn,
    pub context: ContextKind,
    pub args: ArgsFrom,
    /// Runs in a process's user space (user stacks and memory).
    pub user: bool,
    pub listed: Listed,
    pub needs: Needs,
}

#[allow(clippy::too_many_arguments)]
const fn row(
    provider: Provider,
    names: &'static [&'static str],
    parse: ParseFn,
    context: ContextKind,
    args: ArgsFrom,
    user: bool,
    listed: Listed,
    needs: Needs,
) -> ProviderSpec {
    ProviderSpec { provider, names, parse, context, args, user, listed, needs }
}

use ArgsFrom as A;
use ContextKind as C;
use Listed as L;
use Needs as N;
use Provider as P;

/// Every probe type, in the order messages list them.
pub static PROVIDERS: &[ProviderSpec] = &[
    row(P::Begin, &["BEGIN", "begin"], attach::parse_bare, C::Tracer, A::None, false, L::Always, N::Nothing),
    row(P::End, &["END", "end"], attach::parse_bare, C::Tracer, A::None, false, L::Always, N::Nothing),
    row(P::SelfEvent, &["self"], attach::parse_self, C::Tracer, A::None, false, L::Always, N::Nothing),
    row(P::Test, &["test"], attach::parse_named, C::Tracer, A::None, false, L::WhenNamed, N::Nothing),
    row(P::Bench, &["bench"], attach::parse_named, C::Tracer, A::None, false, L::WhenNamed, N::Nothing),
    row(P::Kprobe, &["kprobe", "k"], attach::parse_kprobe, C::EntryRegisters, A::None, false, L::Always, N::Kprobes),
    row(
        P::Kretprobe,
        &["kretprobe", "kr"],
        attach::parse_kprobe,
        C::ReturnRegisters,
        A::None,
        false,
        L::WhenNamed,
        N::Kprobes,
    ),
    row(P::Uprobe, &["uprobe", "u"], attach::parse_user, C::EntryRegisters, A::Dwarf, true, L::WithProcess, N::Uprobes),
    row(
        P::Uretprobe,
        &["uretprobe", "ur"],
        attach::parse_user,
        C::ReturnRegisters,
        A::None,
        true,
        L::WhenNamed,
        N::Uprobes,
    ),
    row(
        P::Tracepoint,
        &["tracepoint", "t"],
        attach::parse_tracepoint,
        C::TracepointRecord,
        A::Format,
        false,
        L::Always,
        N::Tracepoints,
    ),
    row(
        P::RawTracepoint,
        &["rawtracepoint", "rt"],
        attach::parse_raw_tracepoint,
        C::RawArgs,
        A::Btf,
        false,
        L::Always,
        N::RawTracepoints,
    ),
    row(
        P::Fentry,
        &["fentry", "f", "kfunc"],
        attach::parse_fentry,
        C::Btf { ret: false },
        A::Btf,
        false,
        L::Always,
        N::Trampolines,
    ),
    row(
        P::Fexit,
        &["fexit", "fr", "kretfunc"],
        attach::parse_fentry,
        C::Btf { ret: true },
        A::Btf,
        false,
        L::WhenNamed,
        N::Trampolines,
    ),
    row(P::Usdt, &["usdt", "U"], attach::parse_usdt, C::Usdt, A::None, true, L::WithProcess, N::Uprobes),
    row(P::Profile, &["profile", "p"], attach::parse_timer, C::PerfSample, A::None, false, L::Always, N::PerfEvents),
    row(P::Interval, &["interval", "i"], attach::parse_timer, C::PerfSample, A::None, false, L::Always, N::PerfEvents),
    row(
        P::Software,
        &["software", "s"],
        attach::parse_perf_event,
        C::PerfSample,
        A::None,
        false,
        L::Always,
        N::PerfEvents,
    ),
    row(
        P::Hardware,
        &["hardware", "h"],
        attach::parse_perf_event,
        C::PerfSample,
        A::None,
        false,
        L::Always,
        N::PerfEvents,
    ),
    row(
        P::Watchpoint,
        &["watchpoint", "w"],
        attach::parse_watchpoint,
        C::PerfSample,
        A::None,
        false,
        L::WhenNamed,
        N::Breakpoints,
    ),
    row(P::Iter, &["iter", "it"], attach::parse_iter, C::Iterator, A::None, false, L::Always, N::Iterators),
];

impl Provider {
    /// This type's row of [`PROVIDERS`].
    pub fn spec(self) -> &'static ProviderSpec {
        // Every variant has a row (a test checks it); the first row stands
        // in were one ever missing, rather than a panic.
        PROVIDERS.iter().find(|s| s.provider == self).unwrap_or(&PROVIDERS[0])
    }

    pub fn from_name(name: &str) -> Option<Provider> {
        PROVIDERS.iter().find(|s| s.names.contains(&name)).map(|s| s.provider)
    }

    /// The canonical name, as `probe` prints it.
    pub fn name(self) -> &'static str {
        self.spec().names[0]
    }

    pub fn all() -> impl Iterator<Item = Provider> {
        PROVIDERS.iter().map(|s| s.provider)
    }

    pub fn all_names() -> impl Iterator<Item = &'static str> {
        PROVIDERS.iter().flat_map(|s| s.names.iter().copied())
    }

    /// The canonical names of the providers `has` holds for, as a list in
    /// words (`kprobe, uprobe and usdt`): messages are made from the same
    /// predicates the checks use, so they cannot disagree.
    pub fn names_where(has: fn(Provider) -> bool) -> String {
        let names: Vec<&str> = Provider::all().filter(|p| has(*p)).map(Provider::name).collect();
        match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    pub fn context(self) -> ContextKind {
        self.spec().context
    }

    /// `sargN` reads the traced function's stack arguments.
    pub fn has_stack_args(self) -> bool {
        self.context() == ContextKind::EntryRegisters
    }

    /// `retval` holds the traced function's return value.
    pub fn has_retval(self) -> bool {
        matches!(self.context(), ContextKind::ReturnRegisters | ContextKind::Btf { ret: true })
    }

    /// The context starts with the interrupted code's saved registers
    /// (`reg()`, `usermode`): probes on functions and perf events.
    pub fn has_saved_registers(self) -> bool {
        self.context().has_registers()
    }

    /// `args` holds typed arguments (from a tracepoint format, BTF or DWARF).
    pub fn has_args(self) -> bool {
        self.spec().args != ArgsFrom::None
    }

    /// `arg0`..`argN` read the traced function's arguments.
    pub fn has_argn(self) -> bool {
        matches!(
            self.context(),
            ContextKind::EntryRegisters | ContextKind::Usdt | ContextKind::RawArgs | ContextKind::Btf { .. }
        )
    }

    /// `func` names the traced function.
    pub fn has_func(self) -> bool {
        matches!(
            self.context(),
            ContextKind::EntryRegisters | ContextKind::ReturnRegisters | ContextKind::Usdt | ContextKind::Btf { .. }
        )
    }

    /// The context is BTF-typed arguments (fentry, fexit).
    pub fn has_btf_context(self) -> bool {
        matches!(self.context(), ContextKind::Btf { .. })
    }

    /// Runs in user space context (user stacks, user memory).
    pub fn is_user(self) -> bool {
        self.spec().user
    }

    /// Runs once in the tracer rather than on a kernel event.
    pub fn is_special(self) -> bool {
        self.context() == ContextKind::Tracer
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_one_row() {
        let all = [
            P::Begin,
            P::End,
            P::SelfEvent,
            P::Test,
            P::Bench,
            P::Kprobe,
            P::Kretprobe,
            P::Uprobe,
            P::Uretprobe,
            P::Tracepoint,
            P::RawTracepoint,
            P::Fentry,
            P::Fexit,
            P::Usdt,
            P::Profile,
            P::Interval,
            P::Software,
            P::Hardware,
            P::Watchpoint,
            P::Iter,
        ];
        assert_eq!(PROVIDERS.len(), all.len());
        for p in all {
            assert_eq!(PROVIDERS.iter().filter(|s| s.provider == p).count(), 1, "{p:?}");
        }
        let mut names: Vec<&str> = Provider::all_names().collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a spelling names two providers");
    }

    /// The builtins each type allows, as bpftrace 0.26 has them: a change
    /// to a row that moves one shows here.
    #[test]
    fn builtins_by_type() {
        let list = |has: fn(Provider) -> bool| Provider::names_where(has);
        assert_eq!(list(Provider::has_argn), "kprobe, uprobe, rawtracepoint, fentry, fexit and usdt");
        assert_eq!(list(Provider::has_stack_args), "kprobe and uprobe");
        assert_eq!(list(Provider::has_retval), "kretprobe, uretprobe and fexit");
        assert_eq!(list(Provider::has_args), "uprobe, tracepoint, rawtracepoint, fentry and fexit");
        assert_eq!(list(Provider::has_func), "kprobe, kretprobe, uprobe, uretprobe, fentry, fexit and usdt");
        assert_eq!(
            list(Provider::has_saved_registers),
            "kprobe, kretprobe, uprobe, uretprobe, usdt, profile, interval, software, hardware and watchpoint"
        );
        assert_eq!(list(Provider::is_special), "BEGIN, END, self, test and bench");
        assert_eq!(list(Provider::is_user), "uprobe, uretprobe and usdt");
    }
}
