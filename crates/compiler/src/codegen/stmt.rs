//! Statements and blocks. Temporaries live until the end of the statement
//! that made them.

use bpfscope_lang::ast::*;
use bpfscope_lang::check::Type;

use super::{GResult, Gen, Loc, LoopLabels, Val};
use crate::insn::{self, Alu, FP, Jmp, R0, R1, Size};
use crate::layout::is_aggregate;

impl Gen<'_, '_> {
    /// A block's statements (its tail, if any, is the caller's business).
    pub(super) fn block_stmts(&mut self, b: &Block) -> GResult<()> {
        for s in &b.stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    pub(super) fn stmt(&mut self, s: &Stmt) -> GResult<()> {
        self.asm.set_span(s.span);
        let mark = self.frame.mark();
        let free = self.regs.free_count();
        let result = self.stmt_inner(s);
        self.frame.release_to(mark);
        // A statement gives back every register its expressions took.
        debug_assert!(
            result.is_err() || self.regs.free_count() == free,
            "a register is still taken after the statement at {:?}",
            s.span
        );
        result
    }

    fn stmt_inner(&mut self, s: &Stmt) -> GResult<()> {
        match &s.kind {
            StmtKind::Expr(e) | StmtKind::Discard(e) => {
                let v = self.expr(e)?;
                self.free(v);
            }
            StmtKind::Assign { target, op, value } => self.assign(target, *op, value)?,
            StmtKind::Let { name, value, .. } => {
                if let Some(v) = value {
                    self.assign_var(name, None, v)?;
                }
            }
            StmtKind::While { cond, body } if self.b.options.bpf_loop && self.callback_loop(s, cond, body)? => {}
            StmtKind::While { cond, body } => {
                let labels = LoopLabels { next: self.asm.new_label(), end: self.asm.new_label() };
                self.asm.bind(labels.next);
                self.cond_jump_false(cond, labels.end)?;
                self.loop_body(body, labels)?;
                self.asm.jump(labels.next);
                self.asm.bind(labels.end);
            }
            StmtKind::Unroll { count, body } => {
                let n = match count.kind {
                    ExprKind::Int(n) => n,
                    _ => return Err(self.unsupported(count.span, "unroll with a count that is not a literal")),
                };
                for _ in 0..n {
                    let labels = LoopLabels { next: self.asm.new_label(), end: self.asm.new_label() };
                    self.loop_body(body, labels)?;
                    self.asm.bind(labels.next);
                    self.asm.bind(labels.end);
                }
            }
            StmtKind::For { var, iter: ForIter::Range { start, end }, body, .. } => {
                if !(self.b.options.bpf_loop && self.callback_range(s, var, start, end, body)?) {
                    self.for_range(var, start, end, body)?
                }
            }
            StmtKind::For { var, iter: ForIter::Map(m), body, .. } => match &m.kind {
                ExprKind::Map(map) => self.for_map(var, m, map, body)?,
                _ => return Err(self.unsupported(m.span, "iterating over this")),
            },
            StmtKind::Break | StmtKind::Continue => {
                let Some(l) = self.loops.last().copied() else { return Err(self.unsupported(s.span, "this jump")) };
                self.asm.jump(if matches!(s.kind, StmtKind::Break) { l.end } else { l.next });
            }
            StmtKind::Return(v) => {
                if let Some(v) = v {
                    let val = self.expr(v)?;
                    self.free(val);
                }
                let exit = self.exit;
                self.asm.jump(exit);
            }
            StmtKind::Import(i) => return Err(self.unsupported(i.span, "import")),
        }
        Ok(())
    }

    fn loop_body(&mut self, body: &Block, labels: LoopLabels) -> GResult<()> {
        self.loops.push(labels);
        let r = self.block_stmts(body);
        self.loops.pop();
        r
    }

    /// `for ($i : start..end)`: the bounds are evaluated once.
    fn for_range(&mut self, var: &str, start: &Expr, end: &Expr, body: &Block) -> GResult<()> {
        let Some((slot, _)) = self.vars.get(var).cloned() else {
            return Err(self.unsupported(start.span, "this loop"));
        };
        let limit = self.slot(8)?;
        let v = self.expr(end)?;
        self.load(v, R0);
        self.free(v);
        self.asm.emit(insn::stx(Size::DW, FP, limit, R0));
        let v = self.expr(start)?;
        self.load(v, R0);
        self.free(v);
        self.st(Size::DW, slot, R0);
        let top = self.asm.new_label();
        let labels = LoopLabels { next: self.asm.new_label(), end: self.asm.new_label() };
        self.asm.bind(top);
        self.ld(Size::DW, R0, slot);
        self.asm.emit(insn::ldx(Size::DW, R1, FP, limit));
        self.asm.jump_reg(Jmp::Jsge, R0, R1, labels.end);
        self.loop_body(body, labels)?;
        self.asm.bind(labels.next);
        self.ld(Size::DW, R0, slot);
        self.asm.emit(insn::alu_imm(Alu::Add, R0, 1));
        self.st(Size::DW, slot, R0);
        self.asm.jump(top);
        self.asm.bind(labels.end);
        Ok(())
    }

    fn assign(&mut self, target: &Expr, op: Option<BinOp>, value: &Expr) -> GResult<()> {
        match &target.kind {
            ExprKind::Var(name) => self.assign_var(name, op, value),
            ExprKind::Map(m) => self.assign_map(m, target, op, value),
            _ => Err(self.unsupported(target.span, "assigning to this")),
        }
    }

    /// `$x = v` or `$x op= v`.
    fn assign_var(&mut self, name: &str, op: Option<BinOp>, value: &Expr) -> GResult<()> {
        let Some((slot, ty)) = self.vars.get(name).cloned() else {
            return Err(self.unsupported(value.span, "this variable"));
        };
        let v = match op {
            Some(op) => self.compound(op, Val::Scalar(Loc::At(slot)), &ty, value)?,
            None => self.expr(value)?,
        };
        let vt = self.ty(value);
        if is_aggregate(&ty) {
            self.store_typed(v, &vt, slot, &ty);
        } else {
            self.load(v, R0);
            self.fit(R0, &ty);
            self.st(Size::DW, slot, R0);
        }
        self.free(v);
        Ok(())
    }

    /// Makes `r` a value of type `t`: an integer narrower than 64 bits
    /// keeps its low bits, extended by its sign (C's conversion).
    pub(super) fn fit(&mut self, r: crate::insn::Reg, t: &Type) {
        if let Type::Int { bits, signed } = *t
            && bits < 64
        {
            let shift = 64 - i32::from(bits);
            self.asm.emit(insn::alu_imm(Alu::Lsh, r, shift));
            self.asm.emit(insn::alu_imm(if signed { Alu::Arsh } else { Alu::Rsh }, r, shift));
        }
    }

    /// `cur op value`, as the value a compound assignment stores (a
    /// pointer steps over whole elements).
    pub(super) fn compound(&mut self, op: BinOp, cur: Val, cur_ty: &Type, value: &Expr) -> GResult<Val> {
        let signed = super::expr::operation_signed(op, cur_ty, &self.ty(value));
        let stride = match cur_ty {
            Type::Pointer(target) if matches!(op, BinOp::Add | BinOp::Sub) => self.stride(target, value.span)?,
            _ => 1,
        };
        let r = self.expr(value)?;
        self.load(cur, R0);
        self.load(r, R1);
        self.free(r);
        if stride > 1 {
            self.asm.emit(insn::alu_imm(Alu::Mul, R1, stride as i32));
        }
        let span = self.asm.span();
        self.arith(op, signed, span)?;
        self.keep(R0)
    }
}
