//! Expressions: each yields a [`Val`] — a constant, a scalar temporary, or
//! bytes on the stack.

use bpfscope_lang::ast::*;
use bpfscope_lang::attach::Provider;
use bpfscope_lang::check::Type;

use super::{GResult, Gen, Loc, Place, Val};
use crate::asm::Label;
use crate::insn::{self, Alu, FP, Helper, Jmp, R0, R1, R2, Size};
use crate::layout::{self, field_offsets, is_aggregate, is_signed, size_of};

impl Gen<'_, '_> {
    pub(super) fn expr(&mut self, e: &Expr) -> GResult<Val> {
        match &e.kind {
            ExprKind::Int(n) => Ok(Val::Imm(*n as i64)),
            ExprKind::Bool(b) => Ok(Val::Imm(i64::from(*b))),
            ExprKind::Str(s) => {
                let size = size_of(&self.ty(e));
                self.string_literal(s, size)
            }
            ExprKind::Param(n) => self.param(*n, e),
            ExprKind::ParamCount => Ok(Val::Imm(self.b.options.params.len() as i64)),
            ExprKind::Var(name) => match self.vars.get(name) {
                Some((p, t)) if is_aggregate(t) => Ok(Val::Mem(*p)),
                Some((p, _)) => Ok(Val::Scalar(Loc::At(*p))),
                None => Err(self.unsupported(e.span, "this variable")),
            },
            ExprKind::Map(m) => self.map_read(m, e),
            ExprKind::Ident(name) => self.ident(name, e),
            ExprKind::Call(c) => self.call(c, e),
            ExprKind::Unary { op, expr } => self.unary(*op, expr, e),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e),
            ExprKind::Ternary { cond, then, otherwise } => self.ternary(cond, then.as_deref(), otherwise, e),
            ExprKind::IncDec { target, inc, prefix } => self.incdec(target, *inc, *prefix),
            ExprKind::Field { base, field, .. } if matches!(&base.kind, ExprKind::Ident(n) if n == "config") => {
                use bpfscope_lang::ast::ConfigValue;
                match bpfscope_lang::check::config_value(&self.b.checked.program, field) {
                    Some(ConfigValue::Int(n)) => Ok(Val::Imm(n as i64)),
                    Some(ConfigValue::Bool(b)) => Ok(Val::Imm(i64::from(b))),
                    Some(ConfigValue::Str(s) | ConfigValue::Ident(s)) => {
                        let size = size_of(&self.ty(e));
                        self.string_literal(s.as_bytes(), size)
                    }
                    None => Err(self.unsupported(e.span, "this config variable")),
                }
            }
            ExprKind::Field { base, field, field_span, .. } if matches!(&base.kind, ExprKind::Ident(n) if n == "args") => {
                self.args_field(field, *field_span, e)
            }
            ExprKind::Field { base, field, .. } => {
                let bt = self.ty(base);
                match &bt {
                    Type::Record(fields) => {
                        let i = fields.iter().position(|(n, _)| n == field).unwrap_or(0);
                        let types: Vec<Type> = fields.iter().map(|(_, t)| t.clone()).collect();
                        let v = self.expr(base)?;
                        self.member(v, &types, i)
                    }
                    Type::Struct(_) | Type::Pointer(_) => self.struct_field(base, field, e),
                    _ => Err(self.unsupported(e.span, "reading fields of this value")),
                }
            }
            ExprKind::TupleIndex { base, index } => {
                let Type::Tuple(items) = self.ty(base) else { return Err(self.unsupported(e.span, "this index")) };
                let v = self.expr(base)?;
                self.member(v, &items, *index as usize)
            }
            ExprKind::Index { base, index } => self.index(base, index, e),
            ExprKind::Cast { expr, .. } => self.cast(expr, e),
            ExprKind::Tuple(items) => self.tuple(items, e),
            ExprKind::Record(fields) => {
                let items: Vec<&Expr> = fields.iter().map(|f| &f.value).collect();
                self.tuple_of(&items, e)
            }
            ExprKind::Sizeof(t) => match t.as_ref() {
                TypeOrExpr::Expr(inner) => match self.ty(inner) {
                    Type::Struct(name) => self.struct_bytes(&name, e.span).map(Val::Imm),
                    // Its C size (`int8` is 1), not the 8 bytes it takes here.
                    t => Ok(Val::Imm(i64::from(crate::layout::element_size(&t)))),
                },
                TypeOrExpr::Type(ts) => match sizeof_spec(ts) {
                    Some(n) => Ok(Val::Imm(n)),
                    None => self.spec_bytes(ts, e.span).map(Val::Imm),
                },
            },
            ExprKind::Offsetof { target, fields } => {
                let name = match target.as_ref() {
                    TypeOrExpr::Type(ts) if let Some(name) = self.b.ctypes.composite_name(ts) => name,
                    TypeOrExpr::Expr(inner) => match self.ty(inner) {
                        Type::Struct(name) => name,
                        _ => return Err(self.unsupported(e.span, "offsetof() of this")),
                    },
                    _ => return Err(self.unsupported(e.span, "offsetof() of this")),
                };
                self.offset_of_path(&name, fields, e.span).map(|n| Val::Imm(n as i64))
            }
            ExprKind::Block(b) => self.block_expr(b),
            ExprKind::If(i) => self.if_expr(i, e),
            ExprKind::Comptime(inner) => self.expr(inner),
            ExprKind::Typeinfo(t) => self.typeinfo(t, e),
            ExprKind::TypeArg(_) => Err(self.unsupported(e.span, "this type expression")),
        }
    }

    /// A scalar expression's value in a register-or-constant form.
    pub(super) fn string_literal(&mut self, s: &[u8], size: u32) -> GResult<Val> {
        let off = self.alloc(size)?;
        let mut bytes = s.to_vec();
        bytes.push(0);
        bytes.truncate(size as usize);
        self.store_bytes(off, &bytes, size);
        Ok(Val::Mem(off))
    }

    fn param(&mut self, n: u64, e: &Expr) -> GResult<Val> {
        let value = usize::try_from(n).ok().and_then(|n| self.b.options.params.get(n.checked_sub(1)?)).cloned();
        match self.ty(e) {
            Type::Str(size) => {
                let text = value.unwrap_or_default();
                self.string_literal(text.as_bytes(), u32::try_from(size).unwrap_or(1))
            }
            _ => Ok(Val::Imm(value.and_then(|v| parse_int(&v)).unwrap_or(0))),
        }
    }

    /// A builtin variable or a constant.
    fn ident(&mut self, name: &str, e: &Expr) -> GResult<Val> {
        if let Some(v) = self.b.enums.get(name) {
            return Ok(Val::Imm(*v));
        }
        let call = |g: &mut Self, h: Helper| g.asm.emit(insn::call(h));
        match name {
            "pid" | "tid" => {
                call(self, Helper::GetCurrentPidTgid);
                if name == "pid" {
                    self.asm.emit(insn::alu_imm(Alu::Rsh, R0, 32));
                } else {
                    self.mask32(R0);
                }
                self.keep(R0)
            }
            "uid" | "gid" | "username" => {
                call(self, Helper::GetCurrentUidGid);
                if name == "gid" {
                    self.asm.emit(insn::alu_imm(Alu::Rsh, R0, 32));
                } else {
                    self.mask32(R0);
                }
                self.keep(R0)
            }
            // bpftrace 0.26: nsecs is CLOCK_BOOTTIME unless told otherwise.
            "nsecs" => self.clock("boot", e.span),
            "numaid" => {
                call(self, Helper::GetNumaNodeId);
                self.keep(R0)
            }
            "probetype" => {
                let name = match self.context.provider {
                    Provider::Begin | Provider::End => "special",
                    Provider::Bench => "benchmark",
                    p => p.name(),
                };
                let size = size_of(&self.ty(e));
                self.string_literal(name.as_bytes(), size)
            }
            // As bpftrace 0.26 defines them: fields of the task's parent and
            // thread group leader.
            "ppid" => self.task_field(&["real_parent", "pid"], &self.ty(e), e.span),
            "pcomm" => self.task_field(&["real_parent", "comm"], &self.ty(e), e.span),
            "leader_tid" => self.task_field(&["group_leader", "pid"], &self.ty(e), e.span),
            "leader_comm" => self.task_field(&["group_leader", "comm"], &self.ty(e), e.span),
            "elapsed" => {
                let start = self.global(super::GLOBAL_START)?;
                call(self, Helper::KtimeGetBootNs);
                self.load(start, R1);
                self.free(start);
                self.asm.emit(insn::alu_reg(Alu::Sub, R0, R1));
                self.keep(R0)
            }
            "cpu" => {
                call(self, Helper::GetSmpProcessorId);
                self.keep(R0)
            }
            "ncpus" => Ok(Val::Imm(self.b.options.ncpus as i64)),
            "cpid" => Ok(Val::Imm(self.b.options.cpid.map_or(0, i64::from))),
            "has_cpid" => Ok(Val::Imm(i64::from(self.b.options.cpid.is_some()))),
            "rand" => {
                call(self, Helper::GetPrandomU32);
                self.keep(R0)
            }
            "cgroup" => {
                call(self, Helper::GetCurrentCgroupId);
                self.keep(R0)
            }
            "jiffies" => {
                call(self, Helper::Jiffies64);
                self.keep(R0)
            }
            "curtask" => {
                call(self, Helper::GetCurrentTask);
                self.keep(R0)
            }
            "comm" => {
                let off = self.alloc(16)?;
                self.zero(off, 16);
                self.addr(R1, off);
                self.asm.emit(insn::mov_imm(R2, 16));
                call(self, Helper::GetCurrentComm);
                Ok(Val::Mem(off))
            }
            "probe" => self.probe_id(),
            "ustack" | "kstack" => self.stack(name == "ustack", None, None, e.span),
            "dw_ustack" => self.dw_stack(None, None, e.span),
            // What the probe's context holds: context.rs reads it.
            _ => self.context_builtin(name, e.span),
        }
    }

    /// The size of a struct of the program's or the kernel's.
    fn struct_bytes(&self, name: &str, span: bpfscope_lang::Span) -> GResult<i64> {
        let size = match self.b.ctypes.struct_size(name) {
            Ok(n) => Some(n),
            Err(crate::ctypes::LayoutError::Unknown(_)) => {
                self.b.options.kernel_types.as_ref().and_then(|k| k.size(name))
            }
            Err(err) => return Err(bpfscope_lang::Diagnostic::error(span, err.to_string())),
        };
        size.and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| bpfscope_lang::Diagnostic::error(span, format!("the size of '{name}' is not known")))
    }

    /// The size of a written type: C's rules, with structs from the
    /// program or the kernel.
    fn spec_bytes(&self, ts: &TypeSpec, span: bpfscope_lang::Span) -> GResult<i64> {
        match self.b.ctypes.size_align(ts, 0) {
            Ok((n, _)) => Ok(n as i64),
            Err(crate::ctypes::LayoutError::Unknown(name)) if ts.suffixes.is_empty() => self.struct_bytes(&name, span),
            Err(err) => Err(bpfscope_lang::Diagnostic::error(span, err.to_string())),
        }
    }

    /// `offsetof(struct S, a.b)`: where a field, or a field of a field, is.
    pub(super) fn offset_of_path(&self, name: &str, fields: &[String], span: bpfscope_lang::Span) -> GResult<u64> {
        let [field, rest @ ..] = fields else { return Ok(0) };
        match self.b.ctypes.offset_of(name, field) {
            Ok(offset) if rest.is_empty() => return Ok(offset),
            Ok(_) => {
                return Err(bpfscope_lang::Diagnostic::error(
                    span,
                    "offsetof() into a field of a program's struct is not supported yet",
                )
                .with_hint("add the offsets of each level with offsetof() of each struct"));
            }
            Err(crate::ctypes::LayoutError::Unknown(_)) => {}
            Err(err) => return Err(bpfscope_lang::Diagnostic::error(span, err.to_string())),
        }
        match self.b.options.kernel_types.as_ref().map(|k| k.field(name, field)) {
            Some(bpfscope_lang::check::KernelField::Found(t, offset)) => match (rest, t) {
                ([], _) => Ok(offset),
                (_, Type::Struct(inner)) => Ok(offset + self.offset_of_path(&inner, rest, span)?),
                _ => Err(bpfscope_lang::Diagnostic::error(span, format!("'{field}' of {name} is not a struct"))),
            },
            _ => Err(bpfscope_lang::Diagnostic::error(span, format!("{name} has no field '{field}'"))),
        }
    }

    /// `nsecs(mode)`: a kernel clock's time.
    pub(super) fn clock(&mut self, mode: &str, span: bpfscope_lang::Span) -> GResult<Val> {
        let helper = match mode {
            "monotonic" => Helper::KtimeGetNs,
            "boot" | "sw_tai" => Helper::KtimeGetBootNs,
            "tai" => Helper::KtimeGetTaiNs,
            other => {
                return Err(bpfscope_lang::Diagnostic::error(span, format!("'{other}' is not a clock"))
                    .with_hint("nsecs() takes monotonic, boot, tai or sw_tai"));
            }
        };
        self.asm.emit(insn::call(helper));
        if mode == "sw_tai" {
            // TAI as boot time plus the offset user space measured.
            self.load_imm(R1, self.b.options.tai_offset_ns);
            self.asm.emit(insn::alu_reg(Alu::Add, R0, R1));
        }
        self.keep(R0)
    }

    /// `pid(ns)` / `tid(ns)`: in the root namespace (`init`), or in the
    /// tracer's own (`curr_ns`).
    pub(super) fn pid_in(&mut self, tid: bool, ns: &str, span: bpfscope_lang::Span) -> GResult<Val> {
        if ns == "init" {
            self.asm.emit(insn::call(Helper::GetCurrentPidTgid));
            if tid {
                self.mask32(R0);
            } else {
                self.asm.emit(insn::alu_imm(Alu::Rsh, R0, 32));
            }
            return self.keep(R0);
        }
        let Some((dev, ino)) = self.b.options.pid_namespace else {
            return Err(bpfscope_lang::Diagnostic::error(
                span,
                "cannot read this process's pid namespace (/proc/self/ns/pid)",
            ));
        };
        // struct bpf_pidns_info { u32 pid; u32 tgid; }
        let info = self.slot(8)?;
        self.zero(Place::stack(info), 8);
        self.load_imm(R1, dev as i64);
        self.load_imm(R2, ino as i64);
        self.addr(crate::insn::R3, Place::stack(info));
        self.asm.emit(insn::mov_imm(crate::insn::R4, 8));
        self.asm.emit(insn::call(Helper::GetNsCurrentPidTgid));
        self.asm.emit(insn::ldx(Size::W, R0, FP, info + if tid { 0 } else { 4 }));
        self.keep(R0)
    }

    /// Keeps the low 32 bits of `r`.
    pub(super) fn mask32(&mut self, r: crate::insn::Reg) {
        self.asm.emit(insn::alu_imm(Alu::Lsh, r, 32));
        self.asm.emit(insn::alu_imm(Alu::Rsh, r, 32));
    }

    fn unary(&mut self, op: UnaryOp, inner: &Expr, e: &Expr) -> GResult<Val> {
        match op {
            UnaryOp::Not => self.bool_of(e),
            UnaryOp::Neg | UnaryOp::BitNot => {
                let v = self.expr(inner)?;
                if let Val::Imm(n) = v {
                    return Ok(Val::Imm(if op == UnaryOp::Neg { n.wrapping_neg() } else { !n }));
                }
                self.load(v, R0);
                self.free(v);
                if op == UnaryOp::Neg {
                    self.asm.emit(insn::neg(R0));
                } else {
                    self.asm.emit(insn::alu_imm(Alu::Xor, R0, -1));
                }
                self.keep(R0)
            }
            // `*p`: what a pointer points to, read from traced memory.
            UnaryOp::Deref if matches!(self.ty(inner), Type::Pointer(_)) && !is_aggregate(&self.ty(e)) => {
                let t = self.ty(e);
                let addr = self.expr(inner)?;
                self.read_memory(addr, &t)
            }
            // `&s->field`: the field's address, nothing read.
            UnaryOp::AddrOf if matches!(&inner.kind, ExprKind::Field { base, .. } if !matches!(&base.kind, ExprKind::Ident(n) if n == "args")) =>
            {
                let ExprKind::Field { base, field, .. } = &inner.kind else {
                    return Err(self.unsupported(e.span, "&"));
                };
                Ok(self.field_address(base, field, e.span)?.0)
            }
            UnaryOp::Deref | UnaryOp::AddrOf => {
                Err(self.unsupported(e.span, &format!("the unary '{}' operator here", op.symbol())))
            }
        }
    }

    /// A condition's truth as 0 or 1.
    fn bool_of(&mut self, e: &Expr) -> GResult<Val> {
        let f = self.asm.new_label();
        let end = self.asm.new_label();
        self.cond_jump_false(e, f)?;
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.jump(end);
        self.asm.bind(f);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.bind(end);
        self.keep(R0)
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, e: &Expr) -> GResult<Val> {
        if op.is_logical() || op.is_comparison() {
            return self.bool_of(e);
        }
        let (lt, rt) = (self.ty(lhs), self.ty(rhs));
        let signed = operation_signed(op, &lt, &rt);
        let scale = self.pointer_scale(op, &lt, &rt, e.span)?;
        let l = self.expr(lhs)?;
        let r = self.expr(rhs)?;
        if let (Val::Imm(a), Val::Imm(b)) = (l, r)
            && let Some(v) = fold(op, a.wrapping_mul(scale.lhs), b.wrapping_mul(scale.rhs), signed)
        {
            return Ok(Val::Imm(if scale.quotient > 1 { v / scale.quotient } else { v }));
        }
        self.load(l, R0);
        self.free(l);
        if scale.lhs > 1 {
            self.asm.emit(insn::alu_imm(Alu::Mul, R0, scale.lhs as i32));
        }
        let imm = match r {
            // Shift counts wrap at 64, as BPF does for counts in registers
            // (the verifier refuses larger constant counts).
            Val::Imm(n) if matches!(op, BinOp::Shl | BinOp::Shr) => Some((n & 63) as i32),
            // A zero divisor takes the checked path below.
            Val::Imm(0) if matches!(op, BinOp::Div | BinOp::Mod) => None,
            Val::Imm(n) => i32::try_from(n.wrapping_mul(scale.rhs))
                .ok()
                .filter(|_| !(signed && matches!(op, BinOp::Div | BinOp::Mod))),
            _ => None,
        };
        match imm {
            Some(n) => {
                let alu = self.alu(op, signed, e.span)?;
                self.asm.emit(insn::alu_imm(alu, R0, n));
            }
            None => {
                self.load(r, R1);
                if scale.rhs > 1 {
                    self.asm.emit(insn::alu_imm(Alu::Mul, R1, scale.rhs as i32));
                }
                let may_be_zero = !matches!(r, Val::Imm(n) if n != 0);
                self.arith_checked(op, signed, may_be_zero, e.span)?;
            }
        }
        self.free(r);
        if scale.quotient > 1 {
            // A pointer difference counts elements, C's way.
            self.asm.emit(insn::mov_imm(R1, scale.quotient as i32));
            self.signed_divmod(true);
        }
        self.keep(R0)
    }

    /// The ALU operation of `op`, or the error that it has none.
    fn alu(&self, op: BinOp, signed: bool, span: bpfscope_lang::Span) -> GResult<Alu> {
        alu_of(op, signed).ok_or_else(|| self.unsupported(span, &format!("'{}' as arithmetic", op.symbol())))
    }

    /// `R0 = R0 op R1`. Division and modulo by zero give 1 and a warning
    /// at run time, as in bpftrace 0.26.
    pub(super) fn arith(&mut self, op: BinOp, signed: bool, span: bpfscope_lang::Span) -> GResult<()> {
        self.arith_checked(op, signed, true, span)
    }

    /// `arith`, with the check for a zero divisor only where it `may_be_zero`.
    fn arith_checked(&mut self, op: BinOp, signed: bool, may_be_zero: bool, span: bpfscope_lang::Span) -> GResult<()> {
        let alu = self.alu(op, signed, span)?;
        if matches!(op, BinOp::Div | BinOp::Mod) && !may_be_zero {
            if signed {
                self.signed_divmod(op == BinOp::Div);
            } else {
                self.asm.emit(insn::alu_reg(alu, R0, R1));
            }
            return Ok(());
        }
        if !matches!(op, BinOp::Div | BinOp::Mod) {
            self.asm.emit(insn::alu_reg(alu, R0, R1));
            return Ok(());
        }
        let nonzero = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jne, R1, 0, nonzero);
        self.runtime_warning(crate::program::RuntimeWarningKind::DivideByZero, span)?;
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.jump(done);
        self.asm.bind(nonzero);
        if signed {
            self.signed_divmod(op == BinOp::Div);
        } else {
            self.asm.emit(insn::alu_reg(alu, R0, R1));
        }
        self.asm.bind(done);
        Ok(())
    }

    /// How `l op r` scales its operands when pointers take part: `p + n`
    /// steps over `n` elements of `p`'s type, `p - q` counts them.
    fn pointer_scale(&self, op: BinOp, lt: &Type, rt: &Type, span: bpfscope_lang::Span) -> GResult<Scale> {
        let one = Scale { lhs: 1, rhs: 1, quotient: 1 };
        Ok(match (lt, rt, op) {
            (Type::Pointer(p), Type::Pointer(_), BinOp::Sub) => Scale { quotient: self.stride(p, span)?, ..one },
            (Type::Pointer(p), t, BinOp::Add | BinOp::Sub) if t.is_int() => Scale { rhs: self.stride(p, span)?, ..one },
            (t, Type::Pointer(p), BinOp::Add) if t.is_int() => Scale { lhs: self.stride(p, span)?, ..one },
            _ => one,
        })
    }

    /// The bytes one element of a pointer's target takes (1 for `void *`
    /// and what is unknown, as GCC does).
    pub(super) fn stride(&self, target: &Type, span: bpfscope_lang::Span) -> GResult<i64> {
        let size = match target {
            Type::Struct(name) => match self.b.ctypes.struct_size(name) {
                Ok(n) => Some(n),
                Err(crate::ctypes::LayoutError::Unknown(_)) => {
                    self.b.options.kernel_types.as_ref().and_then(|k| k.size(name))
                }
                Err(err) => return Err(bpfscope_lang::Diagnostic::error(span, err.to_string())),
            },
            Type::Unknown | Type::None => Some(1),
            t => Some(u64::from(layout::element_size(t))),
        };
        let size = size.ok_or_else(|| {
            bpfscope_lang::Diagnostic::error(
                span,
                format!("the size of '{target}' is not known, so pointers to it cannot step"),
            )
            .with_hint("cast the pointer to an integer type, or to a pointer of a known type")
        })?;
        i64::try_from(size).ok().filter(|n| (1..=i64::from(i32::MAX)).contains(n)).ok_or_else(|| {
            bpfscope_lang::Diagnostic::error(span, format!("pointers to '{target}' ({size} bytes) cannot step"))
        })
    }

    /// `R0 = R0 / R1` (or `%`) with C's signed semantics: truncation toward
    /// zero, and the remainder taking the dividend's sign.
    pub(super) fn signed_divmod(&mut self, div: bool) {
        let a_pos = self.asm.new_label();
        let b_pos = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.emit(insn::mov_imm(R2, 0));
        self.asm.jump_imm(Jmp::Jsge, R0, 0, a_pos);
        self.asm.emit(insn::neg(R0));
        self.asm.emit(insn::mov_imm(R2, 1));
        self.asm.bind(a_pos);
        self.asm.jump_imm(Jmp::Jsge, R1, 0, b_pos);
        self.asm.emit(insn::neg(R1));
        if div {
            self.asm.emit(insn::alu_imm(Alu::Xor, R2, 1));
        }
        self.asm.bind(b_pos);
        self.asm.emit(insn::alu_reg(if div { Alu::Div } else { Alu::Mod }, R0, R1));
        self.asm.jump_imm(Jmp::Jeq, R2, 0, done);
        self.asm.emit(insn::neg(R0));
        self.asm.bind(done);
    }

    /// Jumps to `target` when `e` is false; falls through when true.
    pub(super) fn cond_jump_false(&mut self, e: &Expr, target: Label) -> GResult<()> {
        self.cond_jump(e, target, false)
    }

    /// Jumps to `target` when `e`'s truth equals `when`.
    pub(super) fn cond_jump(&mut self, e: &Expr, target: Label, when: bool) -> GResult<()> {
        match &e.kind {
            ExprKind::Unary { op: UnaryOp::Not, expr } => return self.cond_jump(expr, target, !when),
            ExprKind::Binary { op: op @ (BinOp::And | BinOp::Or), lhs, rhs } => {
                // (a && b) false if a false or b false; (a || b) true if a true or b true.
                let short = (*op == BinOp::Or) == when;
                if short {
                    self.cond_jump(lhs, target, when)?;
                    return self.cond_jump(rhs, target, when);
                }
                let skip = self.asm.new_label();
                self.cond_jump(lhs, skip, !when)?;
                self.cond_jump(rhs, target, when)?;
                self.asm.bind(skip);
                return Ok(());
            }
            ExprKind::Binary { op, lhs, rhs } if op.is_comparison() => {
                let (lt, rt) = (self.ty(lhs), self.ty(rhs));
                if is_aggregate(&lt) || is_aggregate(&rt) {
                    let v = self.compare_bytes(*op, lhs, rhs)?;
                    return self.jump_on(v, target, when);
                }
                let signed = is_signed(&lt) || is_signed(&rt);
                let l = self.expr(lhs)?;
                let r = self.expr(rhs)?;
                if let (Val::Imm(a), Val::Imm(b)) = (l, r) {
                    if compare(*op, a, b, signed) == when {
                        self.asm.jump(target);
                    }
                    return Ok(());
                }
                self.load(l, R0);
                self.free(l);
                let mut jop = jump_for(*op, signed);
                if !when {
                    jop = jop.negate();
                }
                match r {
                    Val::Imm(n) if i32::try_from(n).is_ok() => {
                        self.free(r);
                        self.asm.jump_imm(jop, R0, n as i32, target);
                    }
                    _ => {
                        self.load(r, R1);
                        self.free(r);
                        self.asm.jump_reg(jop, R0, R1, target);
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        let v = self.expr(e)?;
        self.jump_on(v, target, when)
    }

    /// Jumps to `target` when the scalar `v`'s truth equals `when`.
    fn jump_on(&mut self, v: Val, target: Label, when: bool) -> GResult<()> {
        if let Val::Imm(n) = v {
            if (n != 0) == when {
                self.asm.jump(target);
            }
            return Ok(());
        }
        self.load(v, R0);
        self.free(v);
        self.asm.jump_imm(if when { Jmp::Jne } else { Jmp::Jeq }, R0, 0, target);
        Ok(())
    }

    /// `a == b` / `a != b` for strings, tuples and arrays: 1 or 0.
    fn compare_bytes(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> GResult<Val> {
        let (lt, rt) = (self.ty(lhs), self.ty(rhs));
        // The operands are needed only for the comparison.
        let mark = self.frame.mark();
        let l = self.expr(lhs)?;
        let r = self.expr(rhs)?;
        let (Val::Mem(a), Val::Mem(b)) = (l, r) else {
            return Err(self.unsupported(lhs.span.to(rhs.span), "this comparison"));
        };
        let strings = matches!(lt, Type::Str(_)) && matches!(rt, Type::Str(_));
        let (na, nb) = (size_of(&lt), size_of(&rt));
        let n = na.min(nb);
        let differ = self.asm.new_label();
        let same = self.asm.new_label();
        let end = self.asm.new_label();
        if self.looped(n) {
            self.compare_loop((a, na), (b, nb), n, strings, (differ, same), lhs.span.to(rhs.span))?;
        } else if n > UNROLLED_COMPARE {
            // A loop: long strings would take four instructions a byte.
            let (top, tail) = (self.asm.new_label(), self.asm.new_label());
            self.asm.emit(insn::mov_imm(crate::insn::R3, 0));
            self.asm.bind(top);
            self.asm.jump_imm(Jmp::Jge, crate::insn::R3, n as i32, tail);
            self.byte_at(R1, a, crate::insn::R3);
            self.byte_at(R2, b, crate::insn::R3);
            self.asm.leave_if_reg(Jmp::Jne, R1, R2, differ);
            if strings {
                self.asm.leave_if(Jmp::Jeq, R1, 0, same);
            }
            self.asm.emit(insn::alu_imm(Alu::Add, crate::insn::R3, 1));
            self.asm.jump(top);
            self.asm.bind(tail);
        } else {
            for i in 0..n {
                self.ld(Size::B, R1, a.at(i));
                self.ld(Size::B, R2, b.at(i));
                self.asm.jump_reg(Jmp::Jne, R1, R2, differ);
                if strings {
                    self.asm.jump_imm(Jmp::Jeq, R1, 0, same);
                }
            }
        }
        // Equal so far: a longer string must end where the shorter one did.
        if strings && na != nb {
            let longer = if na > nb { a } else { b };
            self.ld(Size::B, R1, longer.at(n));
            self.asm.jump_imm(Jmp::Jne, R1, 0, differ);
        } else if !strings && na != nb {
            self.asm.jump(differ);
        }
        self.asm.bind(same);
        self.asm.emit(insn::mov_imm(R0, i32::from(op == BinOp::Eq)));
        self.asm.jump(end);
        self.asm.bind(differ);
        self.asm.emit(insn::mov_imm(R0, i32::from(op != BinOp::Eq)));
        self.asm.bind(end);
        self.frame.release_to(mark);
        self.keep(R0)
    }

    fn ternary(&mut self, cond: &Expr, then: Option<&Expr>, otherwise: &Expr, e: &Expr) -> GResult<Val> {
        let t = self.ty(e);
        let dst = self.result_slot(&t)?;
        let else_l = self.asm.new_label();
        let end = self.asm.new_label();
        match then {
            Some(then) => {
                self.cond_jump_false(cond, else_l)?;
                let v = self.expr(then)?;
                self.store_result(dst, v, &self.ty(then), &t);
            }
            None => {
                let c = self.expr(cond)?;
                self.store_result(dst, c, &self.ty(cond), &t);
                self.load(dst, R0);
                self.asm.jump_imm(Jmp::Jeq, R0, 0, else_l);
            }
        }
        self.asm.jump(end);
        self.asm.bind(else_l);
        let v = self.expr(otherwise)?;
        self.store_result(dst, v, &self.ty(otherwise), &t);
        self.asm.bind(end);
        Ok(dst)
    }

    /// Where both arms of a conditional put their value.
    fn result_slot(&mut self, t: &Type) -> GResult<Val> {
        if is_aggregate(t) {
            Ok(Val::Mem(self.alloc(size_of(t))?))
        } else if *t == Type::None {
            Ok(Val::Nothing)
        } else {
            Ok(Val::Scalar(self.temp()?))
        }
    }

    fn store_result(&mut self, dst: Val, v: Val, vt: &Type, t: &Type) {
        match dst {
            Val::Mem(p) => self.store_typed(v, vt, p, t),
            Val::Scalar(loc) => {
                self.load(v, R0);
                self.store_loc(loc, R0);
            }
            _ => {}
        }
        self.free(v);
    }

    fn incdec(&mut self, target: &Expr, inc: bool, prefix: bool) -> GResult<Val> {
        // A pointer steps over one element.
        let ty = match &target.kind {
            ExprKind::Var(name) => self.vars.get(name).map(|(_, t)| t.clone()),
            ExprKind::Map(m) => self.b.checked.maps.get(&m.name).map(|info| info.value.clone()),
            _ => None,
        };
        let step = match ty.unwrap_or_else(|| self.ty(target)) {
            Type::Pointer(t) => self.stride(&t, target.span)?,
            _ => 1,
        };
        let delta = if inc { step as i32 } else { -(step as i32) };
        match &target.kind {
            ExprKind::Var(name) => {
                let Some((off, var_ty)) = self.vars.get(name).cloned() else {
                    return Err(self.unsupported(target.span, "this variable"));
                };
                self.ld(Size::DW, R0, off);
                let old = if prefix { None } else { Some(self.keep(R0)?) };
                if let Some(o) = old {
                    self.load(o, R0);
                }
                self.asm.emit(insn::alu_imm(Alu::Add, R0, delta));
                // A uint8 at 255 goes to 0.
                self.fit(R0, &var_ty);
                self.st(Size::DW, off, R0);
                match old {
                    Some(o) => Ok(o),
                    None => self.keep(R0),
                }
            }
            ExprKind::Map(m) => self.map_incdec(m, target, delta, prefix),
            _ => Err(self.unsupported(target.span, "++ and -- on this")),
        }
    }

    /// A field of a tuple or record value.
    fn member(&mut self, v: Val, items: &[Type], i: usize) -> GResult<Val> {
        let Val::Mem(base) = v else { return Ok(Val::Imm(0)) };
        let at = base.at(field_offsets(items).get(i).copied().unwrap_or(0));
        match items.get(i) {
            Some(t) if is_aggregate(t) => Ok(Val::Mem(at)),
            _ => Ok(Val::Scalar(Loc::At(at))),
        }
    }

    fn index(&mut self, base: &Expr, index: &Expr, e: &Expr) -> GResult<Val> {
        let bt = self.ty(base);
        if let Type::Pointer(elem) = &bt
            && !is_aggregate(elem)
        {
            return self.pointer_index(base, index, elem);
        }
        let i = match &index.kind {
            ExprKind::Int(n) => *n,
            _ if matches!(bt, Type::Str(_) | Type::Array(..)) => return self.variable_index(base, index, &bt, e),
            _ => return Err(self.unsupported(index.span, "an index that is not a constant")),
        };
        match bt {
            Type::Str(n) | Type::Array(_, n) if i < n => {
                let Val::Mem(off) = self.expr(base)? else { return Err(self.unsupported(e.span, "this index")) };
                let (elem, signed) = match &bt {
                    Type::Array(t, _) => (layout::element_size(t), is_signed(t)),
                    // char is signed.
                    _ => (1, true),
                };
                let at = off.at(i as u32 * elem);
                self.ld(Size::of(elem), R0, at);
                if signed && elem < 8 {
                    let shift = 64 - 8 * elem as i32;
                    self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
                    self.asm.emit(insn::alu_imm(Alu::Arsh, R0, shift));
                }
                self.keep(R0)
            }
            Type::Tuple(items) => {
                let v = self.expr(base)?;
                self.member(v, &items, i as usize)
            }
            _ => Err(self.unsupported(e.span, "this index")),
        }
    }

    /// `a[$i]` of an array or string on the stack: the element, or 0 and a
    /// warning (as bpftrace 0.26) where `$i` is past the end.
    fn variable_index(&mut self, base: &Expr, index: &Expr, bt: &Type, e: &Expr) -> GResult<Val> {
        let (elem, signed, n) = match bt {
            Type::Array(t, n) if !is_aggregate(t) => (layout::element_size(t), is_signed(t), *n),
            Type::Str(n) => (1, true, *n),
            _ => return Err(self.unsupported(e.span, "this index")),
        };
        let Val::Mem(off) = self.expr(base)? else { return Err(self.unsupported(e.span, "this index")) };
        let i = self.expr(index)?;
        self.load(i, R2);
        self.free(i);
        let inside = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jlt, R2, i32::try_from(n).unwrap_or(i32::MAX), inside);
        self.runtime_warning(crate::program::RuntimeWarningKind::ArrayOutOfBounds, e.span)?;
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.jump(done);
        self.asm.bind(inside);
        if elem > 1 {
            self.asm.emit(insn::alu_imm(Alu::Mul, R2, elem as i32));
        }
        self.addr(R1, off);
        self.asm.emit(insn::alu_reg(Alu::Add, R1, R2));
        self.asm.emit(insn::ldx(Size::of(elem), R0, R1, 0));
        if signed && elem < 8 {
            let shift = 64 - 8 * elem as i32;
            self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
            self.asm.emit(insn::alu_imm(Alu::Arsh, R0, shift));
        }
        self.asm.bind(done);
        self.keep(R0)
    }

    /// `p[i]`: the element `i` places after where `p` points, read from
    /// traced memory.
    fn pointer_index(&mut self, base: &Expr, index: &Expr, elem: &Type) -> GResult<Val> {
        let stride = i64::from(match elem {
            Type::Int { bits, .. } => u32::from(*bits / 8).max(1),
            other => size_of(other).max(1),
        });
        let p = self.expr(base)?;
        let i = self.expr(index)?;
        let addr = match (p, i) {
            (Val::Imm(a), Val::Imm(n)) => Val::Imm(a.wrapping_add(n.wrapping_mul(stride))),
            _ => {
                self.load(i, R0);
                self.free(i);
                self.asm.emit(insn::alu_imm(Alu::Mul, R0, stride as i32));
                self.load(p, R1);
                self.free(p);
                self.asm.emit(insn::alu_reg(Alu::Add, R0, R1));
                self.keep(R0)?
            }
        };
        self.read_memory(addr, elem)
    }

    fn cast(&mut self, inner: &Expr, e: &Expr) -> GResult<Val> {
        let to = self.ty(e);
        let from = self.ty(inner);
        let v = self.expr(inner)?;
        match &to {
            Type::Int { bits, signed } if *bits < 64 => {
                if let Val::Imm(n) = v {
                    return Ok(Val::Imm(truncate(n, *bits, *signed)));
                }
                self.load(v, R0);
                self.free(v);
                let shift = 64 - i32::from(*bits);
                self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
                self.asm.emit(insn::alu_imm(if *signed { Alu::Arsh } else { Alu::Rsh }, R0, shift));
                self.keep(R0)
            }
            Type::Array(..) if !is_aggregate(&from) => {
                let size = size_of(&to);
                let off = self.alloc(size.max(8))?;
                self.load(v, R0);
                self.free(v);
                self.st(Size::DW, off, R0);
                Ok(Val::Mem(off))
            }
            _ => Ok(v),
        }
    }

    fn tuple(&mut self, items: &[Expr], e: &Expr) -> GResult<Val> {
        let refs: Vec<&Expr> = items.iter().collect();
        self.tuple_of(&refs, e)
    }

    /// Builds a tuple or record value from its elements.
    fn tuple_of(&mut self, items: &[&Expr], e: &Expr) -> GResult<Val> {
        let t = self.ty(e);
        let types: Vec<Type> = match &t {
            Type::Tuple(items) => items.clone(),
            Type::Record(fields) => fields.iter().map(|(_, t)| t.clone()).collect(),
            _ => return Err(self.unsupported(e.span, "this tuple")),
        };
        let size = size_of(&t);
        let off = self.alloc(size)?;
        self.zero(off, size);
        for ((item, ft), fo) in items.iter().zip(&types).zip(field_offsets(&types)) {
            let v = self.expr(item)?;
            let it = self.ty(item);
            self.store_typed(v, &it, off.at(fo), ft);
            self.free(v);
        }
        Ok(Val::Mem(off))
    }

    fn block_expr(&mut self, b: &Block) -> GResult<Val> {
        self.block_stmts(b)?;
        match &b.tail {
            Some(t) => self.expr(t),
            None => Ok(Val::Nothing),
        }
    }

    fn if_expr(&mut self, i: &IfExpr, e: &Expr) -> GResult<Val> {
        let t = self.ty(e);
        let dst = self.result_slot(&t)?;
        // A condition known when compiling leaves the other branch out
        // (so a `fail()` there is never reached).
        if let Some(truth) = self.const_value(&i.cond).map(|v| v != 0) {
            let (v, vt) = match (truth, &i.otherwise) {
                (true, _) => (self.block_expr(&i.then)?, i.then.tail.as_ref().map(|tail| self.ty(tail))),
                (false, Some(o)) => (self.expr(o)?, Some(self.ty(o))),
                (false, None) => return Ok(dst),
            };
            if let Some(vt) = vt {
                self.store_result(dst, v, &vt, &t);
            }
            return Ok(dst);
        }
        let else_l = self.asm.new_label();
        let end = self.asm.new_label();
        self.cond_jump_false(&i.cond, else_l)?;
        let v = self.block_expr(&i.then)?;
        if let Some(tail) = &i.then.tail {
            self.store_result(dst, v, &self.ty(tail), &t);
        }
        self.asm.jump(end);
        self.asm.bind(else_l);
        if let Some(o) = &i.otherwise {
            let v = self.expr(o)?;
            self.store_result(dst, v, &self.ty(o), &t);
        }
        self.asm.bind(end);
        Ok(dst)
    }
}

impl Gen<'_, '_> {
    /// The value of an expression made of literals and positional
    /// parameters, known when compiling.
    pub(super) fn const_value(&self, e: &Expr) -> Option<i64> {
        match &e.kind {
            ExprKind::Int(n) => Some(*n as i64),
            ExprKind::Bool(b) => Some(i64::from(*b)),
            ExprKind::Param(n) => match self.ty(e) {
                Type::Str(_) => None,
                _ => {
                    let v = usize::try_from(*n).ok().and_then(|n| self.b.options.params.get(n.checked_sub(1)?));
                    Some(v.and_then(|v| parse_int(v)).unwrap_or(0))
                }
            },
            ExprKind::ParamCount => Some(self.b.options.params.len() as i64),
            ExprKind::Unary { op: UnaryOp::Not, expr } => Some(i64::from(self.const_value(expr)? == 0)),
            ExprKind::Unary { op: UnaryOp::Neg, expr } => Some(self.const_value(expr)?.wrapping_neg()),
            ExprKind::Unary { op: UnaryOp::BitNot, expr } => Some(!self.const_value(expr)?),
            ExprKind::Binary { op: BinOp::And, lhs, rhs } => {
                Some(i64::from(self.const_value(lhs)? != 0 && self.const_value(rhs)? != 0))
            }
            ExprKind::Binary { op: BinOp::Or, lhs, rhs } => {
                Some(i64::from(self.const_value(lhs)? != 0 || self.const_value(rhs)? != 0))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (lt, rt) = (self.ty(lhs), self.ty(rhs));
                if !lt.is_int() && !matches!(lt, Type::Bool) || !rt.is_int() && !matches!(rt, Type::Bool) {
                    return None;
                }
                let signed = is_signed(&lt) || is_signed(&rt);
                let (a, b) = (self.const_value(lhs)?, self.const_value(rhs)?);
                if op.is_comparison() { Some(i64::from(compare(*op, a, b, signed))) } else { fold(*op, a, b, signed) }
            }
            _ => None,
        }
    }
}

fn parse_int(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().or_else(|| bpfscope_lang::attach::parse_u64(v).map(|n| n as i64))
}

/// Folds an operation on two constants, as the kernel would compute it.
fn fold(op: BinOp, a: i64, b: i64, signed: bool) -> Option<i64> {
    Some(match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        // Left to run time, which warns (as bpftrace does).
        BinOp::Div | BinOp::Mod if b == 0 => return None,
        BinOp::Div if signed => a.wrapping_div(b),
        BinOp::Mod if signed => a.wrapping_rem(b),
        BinOp::Div => ((a as u64) / (b as u64)) as i64,
        BinOp::Mod => ((a as u64) % (b as u64)) as i64,
        BinOp::BitAnd => a & b,
        BinOp::BitOr => a | b,
        BinOp::BitXor => a ^ b,
        BinOp::Shl => a.wrapping_shl(b as u32),
        BinOp::Shr if signed => a.wrapping_shr(b as u32),
        BinOp::Shr => ((a as u64).wrapping_shr(b as u32)) as i64,
        _ => return None,
    })
}

fn compare(op: BinOp, a: i64, b: i64, signed: bool) -> bool {
    let ord = if signed { a.cmp(&b) } else { (a as u64).cmp(&(b as u64)) };
    match op {
        BinOp::Eq => ord.is_eq(),
        BinOp::Ne => ord.is_ne(),
        BinOp::Lt => ord.is_lt(),
        BinOp::Le => ord.is_le(),
        BinOp::Gt => ord.is_gt(),
        BinOp::Ge => ord.is_ge(),
        _ => false,
    }
}

fn jump_for(op: BinOp, signed: bool) -> Jmp {
    match (op, signed) {
        (BinOp::Eq, _) => Jmp::Jeq,
        (BinOp::Ne, _) => Jmp::Jne,
        (BinOp::Lt, true) => Jmp::Jslt,
        (BinOp::Le, true) => Jmp::Jsle,
        (BinOp::Gt, true) => Jmp::Jsgt,
        (BinOp::Ge, true) => Jmp::Jsge,
        (BinOp::Lt, false) => Jmp::Jlt,
        (BinOp::Le, false) => Jmp::Jle,
        (BinOp::Gt, false) => Jmp::Jgt,
        _ => Jmp::Jge,
    }
}

/// Byte comparisons of at most this many bytes are unrolled; longer ones
/// loop.
pub(super) const UNROLLED_COMPARE: u32 = 64;

/// Multipliers of a binary operation's operands, and the divisor of its
/// result (see [`Gen::pointer_scale`]).
#[derive(Clone, Copy)]
struct Scale {
    lhs: i64,
    rhs: i64,
    quotient: i64,
}

/// Whether `l op r` works on signed numbers: when either operand is, but
/// for shifts only the left one decides (as in C).
pub(super) fn operation_signed(op: BinOp, l: &Type, r: &Type) -> bool {
    match op {
        BinOp::Shl | BinOp::Shr => is_signed(l),
        _ => is_signed(l) || is_signed(r),
    }
}

/// The ALU operation of an arithmetic or bitwise operator; none for a
/// comparison or a logical operator, which are jumps.
pub(super) fn alu_of(op: BinOp, signed: bool) -> Option<Alu> {
    Some(match op {
        BinOp::Add => Alu::Add,
        BinOp::Sub => Alu::Sub,
        BinOp::Mul => Alu::Mul,
        BinOp::Div => Alu::Div,
        BinOp::Mod => Alu::Mod,
        BinOp::BitAnd => Alu::And,
        BinOp::BitOr => Alu::Or,
        BinOp::BitXor => Alu::Xor,
        BinOp::Shl => Alu::Lsh,
        BinOp::Shr if signed => Alu::Arsh,
        BinOp::Shr => Alu::Rsh,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::And | BinOp::Or => {
            return None;
        }
    })
}

fn truncate(n: i64, bits: u8, signed: bool) -> i64 {
    let shift = 64 - u32::from(bits);
    if signed { (n << shift) >> shift } else { ((n as u64) << shift >> shift) as i64 }
}

/// The size of a written type, for the types that have a fixed one.
fn sizeof_spec(t: &TypeSpec) -> Option<i64> {
    let mut size: i64 = match &t.base {
        BaseType::Int { bits, .. } => i64::from(*bits / 8),
        BaseType::Bool => 1,
        BaseType::String(Some(n)) | BaseType::Buffer(Some(n)) => i64::try_from(*n).ok()?,
        BaseType::Named(n) => i64::from(bpfscope_lang::builtins::c_fixed_int(n)?.0 / 8),
        _ if t.suffixes.first() == Some(&TypeSuffix::Pointer) => 8,
        _ => return None,
    };
    for s in &t.suffixes {
        size = match s {
            TypeSuffix::Pointer => 8,
            TypeSuffix::Array(n) => size.checked_mul(i64::try_from((*n)?).ok()?)?,
        };
    }
    Some(size)
}

impl Gen<'_, '_> {
    /// `typeinfo(x)`: a record known when compiling, written out.
    fn typeinfo(&mut self, _t: &TypeOrExpr, e: &Expr) -> GResult<Val> {
        let record = self.ty(e);
        let Some((base, full)) = self.b.checked.typeinfo(e) else {
            return Err(self.unsupported(e.span, "typeinfo() of this"));
        };
        let (base, full) = (base.to_string(), full.to_string());
        let Type::Record(fields) = &record else { return Err(self.unsupported(e.span, "typeinfo() of this")) };
        let types: Vec<Type> = fields.iter().map(|(_, t)| t.clone()).collect();
        let offsets = crate::layout::field_offsets(&types);
        let dst = self.alloc(size_of(&record))?;
        self.store_bytes(dst.at(offsets[0]), &[0; 8], 8);
        self.store_bytes(dst.at(offsets[1]), base.as_bytes(), size_of(&types[1]));
        self.store_bytes(dst.at(offsets[2]), full.as_bytes(), size_of(&types[2]));
        Ok(Val::Mem(dst))
    }
}
