//! String functions computed in the program: `strlen`, `strstr`,
//! `strcontains`, `memcmp`, `str_concat`. Each is a bounded loop over
//! bytes in memory, indexed by a register the verifier can bound.

use bpfscope_lang::ast::{Call, Expr};
use bpfscope_lang::check::Type;

use super::{GResult, Gen, Place, Val};
use crate::insn::{self, Alu, Jmp, R0, R1, R2, R3, R4, R5, Reg, Size};
use crate::layout::size_of;

impl Gen<'_, '_> {
    /// Where a string-like argument's bytes are, and how many there are.
    fn bytes_arg(&mut self, a: &Expr) -> GResult<(Place, u32)> {
        let t = self.ty(a);
        let cap = match &t {
            Type::Str(_) | Type::Array(..) => size_of(&t),
            _ => return Err(self.unsupported(a.span, "this argument (a string is expected)")),
        };
        match self.expr(a)? {
            Val::Mem(off) => Ok((off, cap)),
            _ => Err(self.unsupported(a.span, "this argument (a string is expected)")),
        }
    }

    /// `dst = byte at p + index` (index a register in `0..cap`).
    pub(super) fn byte_at(&mut self, dst: Reg, p: Place, index: Reg) {
        self.addr(dst, p);
        self.asm.emit(insn::alu_reg(Alu::Add, dst, index));
        self.asm.emit(insn::ldx(Size::B, dst, dst, 0));
    }

    /// `strlen(s)`: bytes before the first NUL (or the whole capacity).
    pub(super) fn strlen(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [s] = c.args.as_slice() else { return Err(self.unsupported(e.span, "strlen() with these arguments")) };
        let mark = self.frame.mark();
        let (off, cap) = self.bytes_arg(s)?;
        let top = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.emit(insn::mov_imm(R3, 0));
        self.asm.bind(top);
        self.asm.jump_imm(Jmp::Jge, R3, cap as i32, done);
        self.byte_at(R0, off, R3);
        self.asm.jump_imm(Jmp::Jeq, R0, 0, done);
        self.asm.emit(insn::alu_imm(Alu::Add, R3, 1));
        self.asm.jump(top);
        self.asm.bind(done);
        // The string is needed no more: its stack space goes back.
        self.frame.release_to(mark);
        self.keep(R3)
    }

    /// `strstr(haystack, needle)`: where the needle first starts, or -1.
    /// `strcontains` is whether that is not -1.
    pub(super) fn strstr(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [h, n] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
        let mark = self.frame.mark();
        let (h_off, h_cap) = self.bytes_arg(h)?;
        let (n_off, n_cap) = self.bytes_arg(n)?;
        let [outer, inner, next, found, missing, end] = [(); 6].map(|_| self.asm.new_label());
        // r3: where in the haystack; r4: how far into the needle.
        self.asm.emit(insn::mov_imm(R3, 0));
        self.asm.bind(outer);
        self.asm.jump_imm(Jmp::Jge, R3, h_cap as i32, missing);
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.bind(inner);
        self.asm.jump_imm(Jmp::Jge, R4, n_cap as i32, found);
        self.byte_at(R5, n_off, R4);
        self.asm.jump_imm(Jmp::Jeq, R5, 0, found);
        self.asm.emit(insn::mov_reg(R1, R3));
        self.asm.emit(insn::alu_reg(Alu::Add, R1, R4));
        self.asm.jump_imm(Jmp::Jge, R1, h_cap as i32, missing);
        self.byte_at(R2, h_off, R1);
        self.asm.jump_imm(Jmp::Jeq, R2, 0, missing);
        self.asm.jump_reg(Jmp::Jne, R2, R5, next);
        self.asm.emit(insn::alu_imm(Alu::Add, R4, 1));
        self.asm.jump(inner);
        self.asm.bind(next);
        self.asm.emit(insn::alu_imm(Alu::Add, R3, 1));
        self.asm.jump(outer);
        self.asm.bind(found);
        self.asm.emit(insn::mov_reg(R0, R3));
        self.asm.jump(end);
        self.asm.bind(missing);
        self.asm.emit(insn::mov_imm(R0, -1));
        self.asm.bind(end);
        if c.name == "strcontains" {
            self.asm.emit(insn::alu_imm(Alu::Add, R0, 1));
            let yes = self.asm.new_label();
            self.asm.jump_imm(Jmp::Jeq, R0, 0, yes);
            self.asm.emit(insn::mov_imm(R0, 1));
            self.asm.bind(yes);
        }
        self.frame.release_to(mark);
        self.keep(R0)
    }

    /// `memcmp(a, b, n)`: 0 when the first `n` bytes agree, else the
    /// difference of the first bytes that do not (as C's, unsigned).
    pub(super) fn memcmp(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [a, b, n] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
        let mark = self.frame.mark();
        let (a_off, a_cap) = self.bytes_arg(a)?;
        let (b_off, b_cap) = self.bytes_arg(b)?;
        let count = self.expr(n)?;
        self.load(count, R5);
        self.free(count);
        let [top, differ, same, end] = [(); 4].map(|_| self.asm.new_label());
        self.asm.emit(insn::mov_imm(R3, 0));
        self.asm.bind(top);
        self.asm.jump_reg(Jmp::Jge, R3, R5, same);
        self.asm.jump_imm(Jmp::Jge, R3, a_cap.min(b_cap) as i32, same);
        self.byte_at(R1, a_off, R3);
        self.byte_at(R2, b_off, R3);
        self.asm.jump_reg(Jmp::Jne, R1, R2, differ);
        self.asm.emit(insn::alu_imm(Alu::Add, R3, 1));
        self.asm.jump(top);
        self.asm.bind(differ);
        self.asm.emit(insn::mov_reg(R0, R1));
        self.asm.emit(insn::alu_reg(Alu::Sub, R0, R2));
        self.asm.jump(end);
        self.asm.bind(same);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.bind(end);
        self.frame.release_to(mark);
        self.keep(R0)
    }

    /// `str_concat(a, b)`: `a` then `b`, cut to the result's size.
    pub(super) fn str_concat(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [a, b] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
        let out_cap = size_of(&self.ty(e));
        let (a_off, a_cap) = self.bytes_arg(a)?;
        let (b_off, b_cap) = self.bytes_arg(b)?;
        let dst = self.alloc(out_cap)?;
        self.zero(dst, out_cap);
        let last = out_cap.saturating_sub(1) as i32;
        // r3: where the next byte goes; r4: where it comes from.
        self.asm.emit(insn::mov_imm(R3, 0));
        for (off, cap) in [(a_off, a_cap), (b_off, b_cap)] {
            let [top, done] = [(); 2].map(|_| self.asm.new_label());
            self.asm.emit(insn::mov_imm(R4, 0));
            self.asm.bind(top);
            self.asm.jump_imm(Jmp::Jge, R4, cap as i32, done);
            self.asm.jump_imm(Jmp::Jge, R3, last, done);
            self.byte_at(R0, off, R4);
            self.asm.jump_imm(Jmp::Jeq, R0, 0, done);
            self.addr(R1, dst);
            self.asm.emit(insn::alu_reg(Alu::Add, R1, R3));
            self.asm.emit(insn::stx(Size::B, R1, 0, R0));
            self.asm.emit(insn::alu_imm(Alu::Add, R3, 1));
            self.asm.emit(insn::alu_imm(Alu::Add, R4, 1));
            self.asm.jump(top);
            self.asm.bind(done);
        }
        Ok(Val::Mem(dst))
    }
}
