//! Every read of a probe's context, decided by its provider's
//! [`ContextKind`] (lang's provider table) and its resolved site: saved
//! registers (`argN`, `sargN`, `retval`, `reg()`, `usermode`), raw and
//! BTF-typed argument slots, tracepoint records, USDT operands, an
//! iterator's `ctx`, and the attach point's identity (`probe`, `func`).
//! The program keeps the context pointer in R9 (see the prologue).

use bpfscope_lang::Span;
use bpfscope_lang::ast::Expr;
use bpfscope_lang::check::Type;
use bpfscope_lang::provider::{ContextKind, Provider};

use super::{GResult, Gen, Place, ProbeIds, Val, is_aggregate, size_of};

use crate::insn::{self, Alu, FP, Helper, Jmp, R0, R1, R2, R3, R9, Size};
use crate::program::StackMode;
use bpfscope_lang::builtins::pt_regs;
use bpfscope_probes::Detail;

/// What a probe's program is given to read, built once per probe: its
/// provider (whose row in lang's provider table says the context's kind)
/// and the site it was resolved to (a tracepoint's format, a function's
/// BTF signature, a USDT site's operands, a uprobe's DWARF parameters).
#[derive(Clone, Debug)]
pub(super) struct Context {
    pub provider: Provider,
    pub kind: ContextKind,
    pub site: Detail,
}

impl Context {
    pub fn new(provider: Provider, site: Detail) -> Context {
        Context { provider, kind: provider.context(), site }
    }
}

impl Gen<'_, '_> {
    fn context_kind(&self) -> ContextKind {
        self.context.kind
    }

    /// The context is the traced code's saved registers.
    fn has_registers(&self) -> bool {
        self.context_kind().has_registers()
    }

    /// Whether pointers in this probe's context point into user memory:
    /// user probes, and the arguments of system call tracepoints.
    pub(super) fn user_pointers(&self) -> bool {
        self.context.provider.is_user()
            || matches!(&self.context.site, Detail::Tracepoint { category, .. } if category == "syscalls")
    }

    /// What the program does first with its context: keeps it in R9; an
    /// iterator's last call has no object (the kernel wants the check),
    /// and there is nothing to do then.
    pub(super) fn context_prologue(&mut self) {
        self.asm.emit(insn::mov_reg(R9, R1));
        if self.context_kind() == ContextKind::Iterator {
            let go_on = self.asm.new_label();
            self.asm.emit(insn::ldx(Size::DW, R0, R9, 8));
            self.asm.jump_imm(Jmp::Jne, R0, 0, go_on);
            self.asm.emit(insn::mov_imm(R0, 0));
            self.asm.emit(insn::exit());
            self.asm.bind(go_on);
        }
    }

    /// A builtin variable that reads the context: `ctx`, `usermode`,
    /// `func`, `retval`, `argN`, `sargN`.
    pub(super) fn context_builtin(&mut self, name: &str, span: Span) -> GResult<Val> {
        let kind = self.context_kind();
        match name {
            // The iterator's context, whose fields are read as a kernel
            // struct's.
            "ctx" if kind == ContextKind::Iterator => {
                self.ctx(span, "ctx")?;
                self.keep(R9)
            }
            "usermode" if self.has_registers() => self.usermode(span),
            "func" if self.context.provider.has_func() => self.func_id(),
            "retval" => match kind {
                ContextKind::Btf { ret: true } => self.fexit_retval(span),
                ContextKind::ReturnRegisters => self.retval(span),
                _ => Err(self.unsupported(span, "retval here")),
            },
            _ => match (bpfscope_lang::builtins::numbered_arg(name), kind) {
                (Some((false, n)), ContextKind::RawArgs | ContextKind::Btf { .. }) => self.raw_arg(n, span),
                (Some((false, n)), ContextKind::Usdt) => self.usdt_arg(n, span),
                (Some((false, n)), ContextKind::EntryRegisters | ContextKind::ReturnRegisters) => self.arg(n, span),
                (Some((true, n)), ContextKind::EntryRegisters | ContextKind::ReturnRegisters) => {
                    self.stack_arg(n, span)
                }
                _ => Err(self.unsupported(span, &format!("the {name} builtin"))),
            },
        }
    }

    /// `args.field`: from the tracepoint's record, the raw tracepoint's or
    /// fentry's BTF-named slots, or the uprobe's DWARF-named registers.
    pub(super) fn args_field(&mut self, field: &str, span: Span, e: &Expr) -> GResult<Val> {
        match &self.context.site {
            Detail::RawTracepoint { args: Some(args) } => {
                let args = std::sync::Arc::clone(args);
                self.raw_args_field(&args, field, span)
            }
            Detail::Fentry(site) => {
                let params = std::sync::Arc::clone(&site.params);
                self.raw_args_field(&params, field, span)
            }
            Detail::Uprobe(bpfscope_probes::UprobeSite { params: Some(params), .. }) => {
                let params = std::sync::Arc::clone(params);
                self.uprobe_args_field(&params, field, span)
            }
            Detail::Tracepoint { .. } => self.tracepoint_field(field, span, e),
            _ => Err(self.unsupported(span, "args in this probe")),
        }
    }

    /// `args.field` of a tracepoint: read from the record the context
    /// points at.
    fn tracepoint_field(&mut self, field: &str, span: Span, e: &Expr) -> GResult<Val> {
        let bpfscope_probes::Detail::Tracepoint { format, category, event } = &self.context.site else {
            return Err(self.unsupported(span, "args in this probe"));
        };
        self.ctx(span, "args")?;
        let Some(f) = format.fields.iter().find(|f| f.name == field).cloned() else {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                format!("tracepoint {category}:{event} has no field '{field}'"),
            ));
        };
        let t = self.ty(e);
        let off = i16::try_from(f.offset).map_err(|_| self.unsupported(span, "a field this far into the record"))?;
        if f.is_data_loc() {
            // The low half of the u32 is the string's offset in the record.
            // Read as str() reads (see `str_pad`), so a string longer than
            // max_strlen shows it.
            let cap = size_of(&t);
            let read = cap + self.str_pad();
            let dst = self.alloc(read)?;
            self.zero(dst, read);
            self.asm.emit(insn::ldx(Size::W, R2, R9, off));
            self.asm.emit(insn::alu_imm(Alu::And, R2, 0xffff));
            self.asm.emit(insn::mov_reg(R3, R9));
            self.asm.emit(insn::alu_reg(Alu::Add, R3, R2));
            self.addr(R1, dst);
            self.asm.emit(insn::mov_imm(R2, read as i32));
            self.asm.emit(insn::call(Helper::ProbeReadKernelStr));
            return Ok(Val::Mem(dst));
        }
        if is_aggregate(&t) {
            let size = size_of(&t).min(f.size);
            let dst = self.alloc(size_of(&t))?;
            self.zero(dst, size_of(&t));
            self.copy_from(R9, off, dst, size);
            if matches!(t, Type::Str(_)) {
                self.st_imm(Size::B, dst.at(size_of(&t) - 1), 0);
            }
            return Ok(Val::Mem(dst));
        }
        self.asm.emit(insn::ldx(Size::of(f.size), R0, R9, off));
        if f.signed && f.size < 8 {
            let shift = 64 - 8 * f.size as i32;
            self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
            self.asm.emit(insn::alu_imm(Alu::Arsh, R0, shift));
        }
        self.keep(R0)
    }

    /// The saved code segment's privilege level (x86-64): 1 in user mode.
    fn usermode(&mut self, span: Span) -> GResult<Val> {
        self.ctx(span, "usermode")?;
        let cs = bpfscope_lang::builtins::pt_regs_offset("cs").unwrap_or(136);
        self.asm.emit(insn::ldx(Size::DW, R0, R9, cs));
        self.asm.emit(insn::alu_imm(Alu::And, R0, 3));
        let user = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 3, user);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.jump(done);
        self.asm.bind(user);
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.bind(done);
        self.keep(R0)
    }

    /// The context pointer: only the program itself has it, not the
    /// callbacks of loops over maps.
    pub(super) fn ctx(&self, span: Span, what: &str) -> GResult<()> {
        if self.loop_level > 0 {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                format!("{what} cannot be read inside a loop over a map"),
            )
            .with_hint("copy it into a variable before the loop"));
        }
        Ok(())
    }

    /// `argN`: a register, or past the sixth, the caller's stack.
    pub(super) fn arg(&mut self, n: u32, span: Span) -> GResult<Val> {
        self.ctx(span, &format!("arg{n}"))?;
        match pt_regs::ARGS.get(n as usize) {
            Some(&off) => {
                self.asm.emit(insn::ldx(Size::DW, R0, R9, off));
                self.keep(R0)
            }
            None => self.stack_arg(n - pt_regs::ARGS.len() as u32, span),
        }
    }

    /// `argN` of a raw tracepoint: the Nth 8-byte argument in the context.
    pub(super) fn raw_arg(&mut self, n: u32, span: Span) -> GResult<Val> {
        self.ctx(span, &format!("arg{n}"))?;
        let off = i16::try_from(n * 8).map_err(|_| self.unsupported(span, "an argument this far"))?;
        self.asm.emit(insn::ldx(Size::DW, R0, R9, off));
        self.keep(R0)
    }

    /// `args.name` of a raw tracepoint or fentry/fexit: the named
    /// argument's 8-byte slot, narrowed to its type.
    pub(super) fn raw_args_field(&mut self, args: &[(String, Type)], field: &str, span: Span) -> GResult<Val> {
        self.ctx(span, "args")?;
        let Some(i) = args.iter().position(|(n, _)| n == field) else {
            let names: Vec<&str> = args.iter().map(|(n, _)| n.as_str()).collect();
            return Err(bpfscope_lang::Diagnostic::error(span, format!("this probe has no argument '{field}'"))
                .with_hint(format!("its arguments are: {}", names.join(", "))));
        };
        self.context_slot(i, &args[i].1, span)
    }

    /// fexit's `retval`: the slot after the arguments.
    pub(super) fn fexit_retval(&mut self, span: Span) -> GResult<Val> {
        self.ctx(span, "retval")?;
        let Detail::Fentry(site) = &self.context.site else {
            return Err(self.unsupported(span, "retval here"));
        };
        // A BPF program's return value: where it lies depends on how much
        // of the program's BTF the kernel trusted, so the kernel says
        // (bpf_get_func_ret, Linux 5.17).
        if site.program.is_some() {
            let t = site.return_type.clone();
            let slot = self.slot(8)?;
            self.asm.emit(insn::st_imm(Size::DW, FP, slot, 0));
            self.asm.emit(insn::mov_reg(R1, R9));
            self.addr(R2, Place::stack(slot));
            self.asm.emit(insn::call(Helper::GetFuncRet));
            self.asm.emit(insn::ldx(Size::DW, R0, FP, slot));
            self.narrow_r0(&t);
            return self.keep(R0);
        }
        let Some(n) = site.slots else {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                format!("the return value of {} is not known: its module's BTF is not read", site.function),
            )
            .with_hint("a kretprobe on it reads the return value from its registers"));
        };
        let t = site.return_type.clone();
        self.context_slot(n, &t, span)
    }

    /// `args.name` of a uprobe: the parameter's register (DWARF says which
    /// parameter it is), narrowed to its type.
    pub(super) fn uprobe_args_field(
        &mut self,
        params: &[bpfscope_probes::dwarf::Param],
        field: &str,
        span: Span,
    ) -> GResult<Val> {
        self.ctx(span, "args")?;
        let Some(i) = params.iter().position(|p| p.name == field) else {
            return Err(bpfscope_lang::Diagnostic::error(span, format!("Can't find function parameter {field}")));
        };
        let Some(t) = params[i].ty.clone() else {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                format!("{field} has unsupported type ({})", params[i].c_type),
            ));
        };
        // Its register, counted over the parameters before it that take
        // one (a double before it does not).
        let Some(register) = params[i].register else {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                format!("cannot tell which register holds {field}: a parameter before it is passed by value"),
            ));
        };
        let Some(&off) = pt_regs::ARGS.get(register) else {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                "'args' builtin is not supported for probes with stack-passed arguments.",
            ));
        };
        self.asm.emit(insn::ldx(Size::DW, R0, R9, off));
        self.narrow_r0(&t);
        self.keep(R0)
    }

    /// The `i`th 8-byte slot of a `u64` array context, narrowed to `t`.
    fn context_slot(&mut self, i: usize, t: &Type, span: Span) -> GResult<Val> {
        let off = i16::try_from(i * 8).map_err(|_| self.unsupported(span, "an argument this far"))?;
        self.asm.emit(insn::ldx(Size::DW, R0, R9, off));
        self.narrow_r0(t);
        self.keep(R0)
    }

    /// R0 narrowed to `t`: sign- or zero-extended from its width.
    fn narrow_r0(&mut self, t: &Type) {
        match t {
            Type::Int { bits, signed } if *bits < 64 => {
                let shift = 64 - i32::from(*bits);
                self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
                self.asm.emit(insn::alu_imm(if *signed { Alu::Arsh } else { Alu::Rsh }, R0, shift));
            }
            Type::Bool => {
                self.asm.emit(insn::alu_imm(Alu::And, R0, 0xff));
            }
            _ => {}
        }
    }

    /// `argN` of a USDT probe, where its note says it is, sign- or
    /// zero-extended from its size.
    pub(super) fn usdt_arg(&mut self, n: u32, span: Span) -> GResult<Val> {
        use bpfscope_probes::usdt::UsdtLocation;
        self.ctx(span, &format!("arg{n}"))?;
        let Detail::Usdt(site) = &self.context.site else {
            return Err(self.unsupported(span, "argN here"));
        };
        let probe = &site.probe;
        let Some(arg) = probe.args.get(n as usize).cloned() else {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                format!(
                    "usdt:{}:{} has {} arguments (arg0 to arg{})",
                    probe.provider,
                    probe.name,
                    probe.args.len(),
                    probe.args.len().max(1) - 1
                ),
            ));
        };
        let address = |g: &mut Self, base: i16, add: i64| -> GResult<()> {
            g.asm.emit(insn::ldx(Size::DW, R3, R9, base));
            g.load_imm(R1, add);
            g.asm.emit(insn::alu_reg(Alu::Add, R3, R1));
            Ok(())
        };
        match arg.location {
            UsdtLocation::Constant(v) => return Ok(Val::Imm(v)),
            UsdtLocation::Register(off) => self.asm.emit(insn::ldx(Size::DW, R0, R9, off)),
            UsdtLocation::Memory { base, displacement } => {
                address(self, base, displacement)?;
                self.read_user_scalar(arg.size)?;
            }
            UsdtLocation::IpRelative { delta } => {
                let ip = bpfscope_lang::builtins::pt_regs_offset("ip").unwrap_or(128);
                address(self, ip, delta)?;
                self.read_user_scalar(arg.size)?;
            }
            UsdtLocation::Unsupported(spec) => {
                return Err(bpfscope_lang::Diagnostic::error(
                    span,
                    format!(
                        "arg{n} of usdt:{}:{} is '{spec}', an operand form not supported yet",
                        probe.provider, probe.name
                    ),
                ));
            }
        }
        if arg.size < 8 {
            let shift = 64 - 8 * i32::from(arg.size);
            self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
            self.asm.emit(insn::alu_imm(if arg.signed { Alu::Arsh } else { Alu::Rsh }, R0, shift));
        }
        self.keep(R0)
    }

    /// `R0 = *(R3)`, `size` bytes of user memory (0 if unreadable).
    fn read_user_scalar(&mut self, size: u8) -> GResult<()> {
        let slot = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, slot, 0));
        self.addr(R1, Place::stack(slot));
        self.asm.emit(insn::mov_imm(R2, i32::from(size)));
        self.asm.emit(insn::call(Helper::ProbeReadUser));
        self.asm.emit(insn::ldx(Size::DW, R0, FP, slot));
        Ok(())
    }

    /// `sargN`: the Nth 8-byte slot above the return address.
    pub(super) fn stack_arg(&mut self, n: u32, span: Span) -> GResult<Val> {
        self.ctx(span, &format!("sarg{n}"))?;
        let slot = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, slot, 0));
        self.asm.emit(insn::ldx(Size::DW, R3, R9, pt_regs::SP));
        let at = i32::try_from((u64::from(n) + 1) * 8).unwrap_or(i32::MAX);
        self.asm.emit(insn::alu_imm(Alu::Add, R3, at));
        self.addr(R1, Place::stack(slot));
        self.asm.emit(insn::mov_imm(R2, 8));
        let read = if self.user_pointers() { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
        self.asm.emit(insn::call(read));
        self.asm.emit(insn::ldx(Size::DW, R0, FP, slot));
        self.keep(R0)
    }

    /// `reg("name")`: a saved register.
    pub(super) fn register(&mut self, name: &str, span: Span) -> GResult<Val> {
        self.ctx(span, "reg()")?;
        let off = bpfscope_lang::builtins::pt_regs_offset(name)
            .ok_or_else(|| bpfscope_lang::Diagnostic::error(span, format!("'{name}' is not a register")))?;
        self.asm.emit(insn::ldx(Size::DW, R0, R9, off));
        self.keep(R0)
    }

    /// `retval`: the return value register.
    pub(super) fn retval(&mut self, span: Span) -> GResult<Val> {
        self.ctx(span, "retval")?;
        self.asm.emit(insn::ldx(Size::DW, R0, R9, pt_regs::AX));
        self.keep(R0)
    }

    /// `probe`: an index into the probe names.
    pub(super) fn probe_id(&mut self) -> GResult<Val> {
        match self.ids {
            ProbeIds::Fixed { probe, .. } => Ok(Val::Imm(probe)),
            ProbeIds::Cookie { slot } => {
                self.asm.emit(insn::ldx(Size::DW, R0, FP, slot));
                self.mask32(R0);
                self.keep(R0)
            }
        }
    }

    /// `func` in a user probe: an index into the function names.
    pub(super) fn func_id(&mut self) -> GResult<Val> {
        match self.ids {
            ProbeIds::Fixed { func, .. } => Ok(Val::Imm(func)),
            ProbeIds::Cookie { slot } => {
                self.asm.emit(insn::ldx(Size::DW, R0, FP, slot));
                self.asm.emit(insn::alu_imm(Alu::Rsh, R0, 32));
                self.keep(R0)
            }
        }
    }
}

/// The deepest stack the kernel records (`kernel.perf_event_max_stack`).
pub(super) const MAX_STACK_FRAMES: u32 = 127;

impl Gen<'_, '_> {
    /// `ustack`, `kstack` (with an optional frame limit): an id into a
    /// stack trace map, tagged with the map and the process (see
    /// [`crate::program::stack_value_parts`]).
    pub(super) fn stack(
        &mut self,
        user: bool,
        limit: Option<u32>,
        mode: Option<StackMode>,
        span: Span,
    ) -> GResult<Val> {
        self.ctx(span, if user { "ustack" } else { "kstack" })?;
        self.b.out.symbols.user_frames |= user;
        let limit = limit.unwrap_or(MAX_STACK_FRAMES).clamp(1, MAX_STACK_FRAMES);
        // Kernel stacks have no build-ids: raw, as 0.26 (the checker warned).
        let mode = match mode.unwrap_or(self.b.out.stack_mode) {
            StackMode::BuildId if !user => StackMode::Raw,
            m => m,
        };
        let (index, map) = self.b.stack_map(user, limit, mode);
        // User frames are addresses in one process; kernel stacks are the
        // same in every process, and equal ones make one map key.
        if user {
            self.asm.emit(insn::call(Helper::GetCurrentPidTgid));
            self.asm.emit(insn::alu_imm(Alu::Rsh, R0, 32));
            self.asm.emit(insn::alu_imm(Alu::Lsh, R0, 40));
        } else {
            self.asm.emit(insn::mov_imm(R0, 0));
        }
        let tagged = self.keep(R0)?;
        self.asm.emit(insn::mov_reg(R1, R9));
        self.asm.load_map(R2, map);
        const BPF_F_USER_STACK: i32 = 1 << 8;
        self.asm.emit(insn::mov_imm(R3, if user { BPF_F_USER_STACK } else { 0 }));
        self.asm.emit(insn::call(Helper::GetStackid));
        // A failed capture keeps its negative errno as the id, which no
        // stack has: it prints as an empty stack.
        self.mask32(R0);
        self.load(tagged, R1);
        self.free(tagged);
        self.asm.emit(insn::alu_reg(Alu::Or, R0, R1));
        self.load_imm(R1, (index as i64) << 32);
        self.asm.emit(insn::alu_reg(Alu::Or, R0, R1));
        self.keep(R0)
    }
}
