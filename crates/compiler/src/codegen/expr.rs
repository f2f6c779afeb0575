//! Expressions: each yields a [`Val`] — a constant, a scalar temporary, or
//! bytes on the stack.

use bpfscope_lang::ast::*;
use bpfscope_lang::attach::Provider;
use bpfscope_lang::check::Type;

use super::{GResult, Gen, Loc, Val};
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
                Some((off, t)) if is_aggregate(t) => Ok(Val::Mem(*off)),
                Some((off, _)) => Ok(Val::Scalar(Loc::Stack(*off))),
                None => Err(self.unsupported(e.span, "this variable")),
            },
            ExprKind::Map(m) => self.map_read(m, e),
            ExprKind::Ident(name) => self.ident(name, e),
            ExprKind::Call(c) => self.call(c, e),
            ExprKind::Unary { op, expr } => self.unary(*op, expr, e),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e),
            ExprKind::Ternary { cond, then, otherwise } => self.ternary(cond, then.as_deref(), otherwise, e),
            ExprKind::IncDec { target, inc, prefix } => self.incdec(target, *inc, *prefix),
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
                TypeOrExpr::Expr(inner) => Ok(Val::Imm(i64::from(size_of(&self.ty(inner))))),
                TypeOrExpr::Type(ts) => {
                    sizeof_spec(ts).map(Val::Imm).ok_or_else(|| self.unsupported(e.span, "sizeof of this type"))
                }
            },
            ExprKind::Block(b) => self.block_expr(b),
            ExprKind::If(i) => self.if_expr(i, e),
            ExprKind::Comptime(inner) => self.expr(inner),
            ExprKind::Offsetof { .. } | ExprKind::Typeinfo(_) | ExprKind::TypeArg(_) => {
                Err(self.unsupported(e.span, "this type expression"))
            }
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
            "nsecs" => {
                call(self, Helper::KtimeGetNs);
                self.keep(R0)
            }
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
            "ustack" | "kstack" => self.stack(name == "ustack", None, e.span),
            "func"
                if self.provider.is_user()
                    || matches!(
                        self.provider,
                        Provider::Kprobe | Provider::Kretprobe | Provider::Fentry | Provider::Fexit
                    ) =>
            {
                self.func_id()
            }
            "retval" if matches!(self.detail, bpfscope_probes::Detail::Fentry(_)) => self.fexit_retval(e.span),
            "retval" => self.retval(e.span),
            _ => match bpfscope_lang::builtins::numbered_arg(name) {
                Some((false, n))
                    if matches!(self.provider, Provider::RawTracepoint | Provider::Fentry | Provider::Fexit) =>
                {
                    self.raw_arg(n, e.span)
                }
                Some((false, n)) if self.provider == Provider::Usdt => self.usdt_arg(n, e.span),
                Some((false, n)) if self.has_registers() => self.arg(n, e.span),
                Some((true, n)) if self.has_registers() => self.stack_arg(n, e.span),
                _ => Err(self.unsupported(e.span, &format!("the {name} builtin"))),
            },
        }
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
        let signed = is_signed(&self.ty(lhs)) || is_signed(&self.ty(rhs));
        let l = self.expr(lhs)?;
        let r = self.expr(rhs)?;
        if let (Val::Imm(a), Val::Imm(b)) = (l, r)
            && let Some(v) = fold(op, a, b, signed)
        {
            return Ok(Val::Imm(v));
        }
        self.load(l, R0);
        let imm = match r {
            // Shift counts wrap at 64, as BPF does for counts in registers
            // (the verifier refuses larger constant counts).
            Val::Imm(n) if matches!(op, BinOp::Shl | BinOp::Shr) => Some((n & 63) as i32),
            Val::Imm(n) => i32::try_from(n).ok().filter(|_| !(signed && matches!(op, BinOp::Div | BinOp::Mod))),
            _ => None,
        };
        if imm.is_none() {
            self.load(r, R1);
        }
        self.free(l);
        self.free(r);
        if signed && matches!(op, BinOp::Div | BinOp::Mod) {
            self.signed_divmod(op == BinOp::Div);
            return self.keep(R0);
        }
        let alu = match op {
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
            _ => return Err(self.unsupported(e.span, "this operator")),
        };
        match imm {
            Some(n) => self.asm.emit(insn::alu_imm(alu, R0, n)),
            None => self.asm.emit(insn::alu_reg(alu, R0, R1)),
        }
        self.keep(R0)
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
    fn cond_jump(&mut self, e: &Expr, target: Label, when: bool) -> GResult<()> {
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
        for i in 0..n as i16 {
            self.asm.emit(insn::ldx(Size::B, R1, FP, a + i));
            self.asm.emit(insn::ldx(Size::B, R2, FP, b + i));
            self.asm.jump_reg(Jmp::Jne, R1, R2, differ);
            if strings {
                self.asm.jump_imm(Jmp::Jeq, R1, 0, same);
            }
        }
        // Equal so far: a longer string must end where the shorter one did.
        if strings && na != nb {
            let (longer, at) = if na > nb { (a, n) } else { (b, n) };
            self.asm.emit(insn::ldx(Size::B, R1, FP, longer + at as i16));
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
            Val::Mem(off) => self.store_val(v, vt, off, size_of(t)),
            Val::Scalar(loc) => {
                self.load(v, R0);
                self.store_loc(loc, R0);
            }
            _ => {}
        }
        self.free(v);
    }

    fn incdec(&mut self, target: &Expr, inc: bool, prefix: bool) -> GResult<Val> {
        let delta = if inc { 1 } else { -1 };
        match &target.kind {
            ExprKind::Var(name) => {
                let Some((off, _)) = self.vars.get(name).cloned() else {
                    return Err(self.unsupported(target.span, "this variable"));
                };
                self.asm.emit(insn::ldx(Size::DW, R0, FP, off));
                let old = if prefix { None } else { Some(self.keep(R0)?) };
                if let Some(o) = old {
                    self.load(o, R0);
                }
                self.asm.emit(insn::alu_imm(Alu::Add, R0, delta));
                self.asm.emit(insn::stx(Size::DW, FP, off, R0));
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
        let off = base + field_offsets(items).get(i).copied().unwrap_or(0) as i16;
        match items.get(i) {
            Some(t) if is_aggregate(t) => Ok(Val::Mem(off)),
            _ => Ok(Val::Scalar(Loc::Stack(off))),
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
                let at = off + (i as u32 * elem) as i16;
                self.asm.emit(insn::ldx(Size::of(elem), R0, FP, at));
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
                self.asm.emit(insn::stx(Size::DW, FP, off, R0));
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
            self.store_val(v, &it, off + fo as i16, layout::align8(size_of(ft)));
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

fn parse_int(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().or_else(|| bpfscope_lang::attach::parse_u64(v).map(|n| n as i64))
}

/// Folds an operation on two constants, as the kernel would compute it.
fn fold(op: BinOp, a: i64, b: i64, signed: bool) -> Option<i64> {
    Some(match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div if b == 0 => 0,
        BinOp::Mod if b == 0 => a,
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
    /// `args.field` of a tracepoint: read from the record the context
    /// points at.
    fn args_field(&mut self, field: &str, span: bpfscope_lang::Span, e: &Expr) -> GResult<Val> {
        if let bpfscope_probes::Detail::RawTracepoint { args: Some(args) } = &self.detail {
            let args = std::sync::Arc::clone(args);
            return self.raw_args_field(&args, field, span);
        }
        if let bpfscope_probes::Detail::Fentry(site) = &self.detail {
            let params = std::sync::Arc::clone(&site.params);
            return self.raw_args_field(&params, field, span);
        }
        let bpfscope_probes::Detail::Tracepoint { format, category, event } = &self.detail else {
            return Err(self.unsupported(span, "args in this probe"));
        };
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
            let cap = size_of(&t);
            let dst = self.alloc(cap)?;
            self.zero(dst, cap);
            self.asm.emit(insn::ldx(Size::W, R2, crate::insn::R9, off));
            self.asm.emit(insn::alu_imm(Alu::And, R2, 0xffff));
            self.asm.emit(insn::mov_reg(crate::insn::R3, crate::insn::R9));
            self.asm.emit(insn::alu_reg(Alu::Add, crate::insn::R3, R2));
            self.addr(R1, dst);
            self.asm.emit(insn::mov_imm(R2, cap as i32));
            self.asm.emit(insn::call(Helper::ProbeReadKernelStr));
            return Ok(Val::Mem(dst));
        }
        if is_aggregate(&t) {
            let size = size_of(&t).min(f.size);
            let dst = self.alloc(size_of(&t))?;
            self.zero(dst, size_of(&t));
            self.copy_from(crate::insn::R9, off, dst, size);
            if matches!(t, Type::Str(_)) {
                self.asm.emit(insn::st_imm(Size::B, FP, dst + size_of(&t) as i16 - 1, 0));
            }
            return Ok(Val::Mem(dst));
        }
        self.asm.emit(insn::ldx(Size::of(f.size), R0, crate::insn::R9, off));
        if f.signed && f.size < 8 {
            let shift = 64 - 8 * f.size as i32;
            self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
            self.asm.emit(insn::alu_imm(Alu::Arsh, R0, shift));
        }
        self.keep(R0)
    }
}
