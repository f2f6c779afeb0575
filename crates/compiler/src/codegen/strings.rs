//! String functions computed in the program: `strlen`, `strstr`,
//! `strcontains`, `memcmp`, `strncmp`, `str_concat`, and comparisons of
//! byte values. Each is a loop over bytes in memory.
//!
//! Over short strings the loop is in the program, indexed by a register
//! the verifier can bound; it walks every iteration, on every path that
//! reaches the loop. Over long ones (max_strlen is 1024 by default) that
//! is too much for it where a program branches a lot, so where the kernel
//! has `bpf_loop` each iteration is a call of a small callback, which the
//! verifier checks once. A callback gets its operands' addresses (stack or
//! scratch buffer) and leaves its result in a context on the caller's
//! stack, and is shared by every use with the same sizes.

use bpfscope_lang::ast::{Call, Expr};
use bpfscope_lang::check::Type;
use bpfscope_lang::{Diagnostic, Span};

use super::{GResult, Gen, Label, Place, Val};
use crate::asm::Asm;
use crate::insn::{self, Alu, FP, Helper, Jmp, R0, R1, R2, R3, R4, R5, R6, R7, Reg, Size};
use crate::layout::size_of;
use crate::program::{SubprogId, SubprogSpec};

/// Loops over more bytes than this run as `bpf_loop` callbacks, where the
/// kernel has it.
pub(super) const INLINE_BYTES: u32 = 64;

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

    /// Whether a loop of `n` iterations runs as a `bpf_loop` callback.
    pub(super) fn looped(&self, n: u32) -> bool {
        self.b.options.bpf_loop && n > INLINE_BYTES
    }

    /// `strlen(s)`: bytes before the first NUL (or the whole capacity).
    pub(super) fn strlen(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [s] = c.args.as_slice() else { return Err(self.unsupported(e.span, "strlen() with these arguments")) };
        let mark = self.frame.mark();
        let (off, cap) = self.bytes_arg(s)?;
        if self.looped(cap) {
            let id = self.asm_callback(format!("strlen_{cap}"), e.span, |a, stop, go_on| {
                a.jump_imm(Jmp::Jge, R1, cap as i32, stop);
                load_byte(a, R3, 0, R1);
                a.jump_imm(Jmp::Jne, R3, 0, go_on);
                a.emit(insn::stx(Size::DW, R2, 8, R1));
                a.jump(stop);
            })?;
            let ctx = self.loop_context(&[off])?;
            self.asm.emit(insn::st_imm(Size::DW, FP, ctx + 8, cap as i32));
            self.run_callback(id, cap, ctx);
            self.asm.emit(insn::ldx(Size::DW, R3, FP, ctx + 8));
            self.clamp(R3, cap);
        } else {
            let top = self.asm.new_label();
            let done = self.asm.new_label();
            self.asm.emit(insn::mov_imm(R3, 0));
            self.asm.bind(top);
            self.asm.jump_imm(Jmp::Jge, R3, cap as i32, done);
            self.byte_at(R0, off, R3);
            self.asm.leave_if(Jmp::Jeq, R0, 0, done);
            self.asm.emit(insn::alu_imm(Alu::Add, R3, 1));
            self.asm.jump(top);
            self.asm.bind(done);
            self.launder(R3, cap)?;
        }
        // The string is needed no more: its space goes back.
        self.frame.release_to(mark);
        self.keep(R3)
    }

    /// Forgets `r`'s exact value, keeping only that it is in `0..=max`. A
    /// loop over bytes ends at a place that depends on them: the verifier
    /// would walk what follows once for each place, where a value used as
    /// an offset or a size must be known exactly; with only a range known,
    /// it walks it once. A one-byte store into the slot `r` is spilled to
    /// turns the slot into plain bytes, which load back as an unknown
    /// number (the byte stored is the top one, zero anyway).
    fn launder(&mut self, r: Reg, max: u32) -> GResult<()> {
        let slot = self.slot(8)?;
        self.asm.emit(insn::stx(Size::DW, FP, slot, r));
        self.asm.emit(insn::st_imm(Size::B, FP, slot + 7, 0));
        self.asm.emit(insn::ldx(Size::DW, r, FP, slot));
        self.clamp(r, max);
        Ok(())
    }

    /// `r = min(r, max)`: over `max` cannot happen, but the verifier needs
    /// the range. The way it follows first keeps the range, so the other
    /// (a constant within it) is pruned.
    fn clamp(&mut self, r: Reg, max: u32) {
        let (fix, ok) = (self.asm.new_label(), self.asm.new_label());
        self.asm.jump_imm(Jmp::Jgt, r, max as i32, fix);
        self.asm.jump(ok);
        self.asm.bind(fix);
        self.asm.emit(insn::mov_imm(r, max as i32));
        self.asm.bind(ok);
    }

    /// `strstr(haystack, needle)`: where the needle first starts, or -1.
    /// `strcontains` is whether that is not -1.
    pub(super) fn strstr(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [h, n] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
        let mark = self.frame.mark();
        let (h_at, h_cap) = self.bytes_arg(h)?;
        let (n_at, n_cap) = self.bytes_arg(n)?;
        // Inline, the verifier walks every pair of positions: past a few
        // hundred, with the branches around it, that is too much for it.
        let pairs = h_cap.saturating_mul(n_cap);
        if self.looped(h_cap.max(n_cap)) || (self.b.options.bpf_loop && pairs > INLINE_BYTES * 4) {
            self.strstr_loop(h_at, h_cap, n_at, n_cap, e.span)?;
        } else {
            self.strstr_inline(h_at, h_cap, n_at, n_cap);
            // -1 or a place: one more is in 0..=h_cap.
            self.asm.emit(insn::alu_imm(Alu::Add, R0, 1));
            self.launder(R0, h_cap)?;
            self.asm.emit(insn::alu_imm(Alu::Sub, R0, 1));
        }
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

    /// `R0 = strstr(h, n)`, both loops in the program: the verifier walks
    /// every pair of positions.
    fn strstr_inline(&mut self, h_at: Place, h_cap: u32, n_at: Place, n_cap: u32) {
        let [outer, inner, next, found, missing, end] = [(); 6].map(|_| self.asm.new_label());
        // r3: where in the haystack; r4: how far into the needle.
        self.asm.emit(insn::mov_imm(R3, 0));
        self.asm.bind(outer);
        self.asm.jump_imm(Jmp::Jge, R3, h_cap as i32, missing);
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.bind(inner);
        self.asm.jump_imm(Jmp::Jge, R4, n_cap as i32, found);
        self.byte_at(R5, n_at, R4);
        self.asm.jump_imm(Jmp::Jeq, R5, 0, found);
        self.asm.emit(insn::mov_reg(R1, R3));
        self.asm.emit(insn::alu_reg(Alu::Add, R1, R4));
        self.asm.jump_imm(Jmp::Jge, R1, h_cap as i32, missing);
        self.byte_at(R2, h_at, R1);
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
    }

    /// `R0 = strstr(h, n)` with the haystack's positions as `bpf_loop`
    /// iterations, each of which compares the needle in a `bpf_loop` of its
    /// own: one loop inside the other would be walked by the verifier
    /// once for each position, too many steps for two long strings.
    fn strstr_loop(&mut self, h_at: Place, h_cap: u32, n_at: Place, n_cap: u32, span: Span) -> GResult<()> {
        // Context of the needle's loop, on the outer callback's stack: the
        // search's context, the position, the verdict (0 while the needle
        // matches, FOUND, NEXT or NONE).
        const FOUND: i32 = 1;
        const NEXT: i32 = 2;
        const NONE: i32 = 3;
        let inner = self.asm_callback(format!("strstr_at_{h_cap}_{n_cap}"), span, |a, stop, go_on| {
            let verdict = |a: &mut Asm, v: i32| {
                a.emit(insn::st_imm(Size::DW, R2, 16, v));
                a.jump(stop);
            };
            let [not_end, in_hay, not_nul, same] = [(); 4].map(|_| a.new_label());
            a.jump_imm(Jmp::Jge, R1, n_cap as i32, stop);
            // r3: the search's context; r5 = n[j]
            a.emit(insn::ldx(Size::DW, R3, R2, 0));
            a.emit(insn::ldx(Size::DW, R5, R3, 8));
            a.emit(insn::alu_reg(Alu::Add, R5, R1));
            a.emit(insn::ldx(Size::B, R5, R5, 0));
            a.jump_imm(Jmp::Jne, R5, 0, not_end);
            verdict(a, FOUND);
            a.bind(not_end);
            // r6 = i + j; r7 = h[i + j]
            a.emit(insn::ldx(Size::DW, R6, R2, 8));
            a.emit(insn::alu_reg(Alu::Add, R6, R1));
            a.jump_imm(Jmp::Jlt, R6, h_cap as i32, in_hay);
            verdict(a, NONE);
            a.bind(in_hay);
            a.emit(insn::ldx(Size::DW, R7, R3, 0));
            a.emit(insn::alu_reg(Alu::Add, R7, R6));
            a.emit(insn::ldx(Size::B, R7, R7, 0));
            a.jump_imm(Jmp::Jne, R7, 0, not_nul);
            verdict(a, NONE);
            a.bind(not_nul);
            a.jump_reg(Jmp::Jeq, R7, R5, same);
            verdict(a, NEXT);
            a.bind(same);
            a.jump(go_on);
        })?;
        let outer = self.asm_callback(format!("strstr_{h_cap}_{n_cap}"), span, |a, stop, go_on| {
            a.jump_imm(Jmp::Jge, R1, h_cap as i32, stop);
            a.emit(insn::stx(Size::DW, FP, -24, R2));
            a.emit(insn::stx(Size::DW, FP, -16, R1));
            a.emit(insn::st_imm(Size::DW, FP, -8, 0));
            a.emit(insn::mov_imm(R1, n_cap as i32));
            a.load_func(R2, inner);
            a.emit(insn::mov_reg(R3, FP));
            a.emit(insn::alu_imm(Alu::Add, R3, -24));
            a.emit(insn::mov_imm(R4, 0));
            a.emit(insn::call(Helper::Loop));
            a.emit(insn::ldx(Size::DW, R0, FP, -8));
            a.jump_imm(Jmp::Jeq, R0, NEXT, go_on);
            a.jump_imm(Jmp::Jeq, R0, NONE, stop);
            // The needle ended (or filled its capacity) matching.
            a.emit(insn::ldx(Size::DW, R2, FP, -24));
            a.emit(insn::ldx(Size::DW, R1, FP, -16));
            a.emit(insn::stx(Size::DW, R2, 16, R1));
            a.jump(stop);
        })?;
        let ctx = self.loop_context(&[h_at, n_at])?;
        self.asm.emit(insn::st_imm(Size::DW, FP, ctx + 16, -1));
        self.run_callback(outer, h_cap, ctx);
        // The outer callback keeps 24 bytes on its stack (32 as counted),
        // under the inner one's.
        self.callee_stack = self.callee_stack.max(2 * super::frame_depth(0));
        self.asm.emit(insn::ldx(Size::DW, R0, FP, ctx + 16));
        Ok(())
    }

    /// `memcmp(a, b, n)`: 0 when the first `n` bytes agree, else the
    /// difference of the first bytes that do not (as C's, unsigned).
    pub(super) fn memcmp(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [a, b, n] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
        let mark = self.frame.mark();
        let (a_off, a_cap) = self.bytes_arg(a)?;
        let (b_off, b_cap) = self.bytes_arg(b)?;
        let count = self.expr(n)?;
        let cap = a_cap.min(b_cap);
        if self.looped(cap) {
            let id = self.asm_callback(format!("memcmp_{cap}"), e.span, |a, stop, go_on| {
                a.jump_imm(Jmp::Jge, R1, cap as i32, stop);
                a.emit(insn::ldx(Size::DW, R5, R2, 16));
                a.jump_reg(Jmp::Jge, R1, R5, stop);
                load_byte(a, R3, 0, R1);
                load_byte(a, R4, 8, R1);
                a.jump_reg(Jmp::Jeq, R3, R4, go_on);
                a.emit(insn::alu_reg(Alu::Sub, R3, R4));
                a.emit(insn::stx(Size::DW, R2, 24, R3));
                a.jump(stop);
            })?;
            let ctx = self.loop_context(&[a_off, b_off])?;
            self.load(count, R1);
            self.free(count);
            self.asm.emit(insn::stx(Size::DW, FP, ctx + 16, R1));
            self.asm.emit(insn::st_imm(Size::DW, FP, ctx + 24, 0));
            self.run_callback(id, cap, ctx);
            self.asm.emit(insn::ldx(Size::DW, R0, FP, ctx + 24));
            self.frame.release_to(mark);
            return self.keep(R0);
        }
        self.load(count, R5);
        self.free(count);
        let [top, differ, same, end] = [(); 4].map(|_| self.asm.new_label());
        self.asm.emit(insn::mov_imm(R3, 0));
        self.asm.bind(top);
        self.asm.leave_if_reg(Jmp::Jge, R3, R5, same);
        self.asm.jump_imm(Jmp::Jge, R3, cap as i32, same);
        self.byte_at(R1, a_off, R3);
        self.byte_at(R2, b_off, R3);
        self.asm.leave_if_reg(Jmp::Jne, R1, R2, differ);
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

    /// Jumps to `differ` or `same` after comparing the first `limit` bytes
    /// of `a` (`na` of them) and `b` (`nb`) in a `bpf_loop` callback: a
    /// string reads as NUL past its end and, as `strings`, ends at its
    /// first NUL; falls through where the bytes agree throughout.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn compare_loop(
        &mut self,
        (a, na): (Place, u32),
        (b, nb): (Place, u32),
        limit: u32,
        strings: bool,
        (differ, same): (Label, Label),
        span: Span,
    ) -> GResult<()> {
        // The result: 0 while the bytes agree, 1 where they differ, 2 where
        // both strings ended.
        let name = format!("compare_{na}_{nb}_{limit}_{strings}");
        let id = self.asm_callback(name, span, |asm, stop, go_on| {
            let [a_read, b_read, agree] = [(); 3].map(|_| asm.new_label());
            asm.jump_imm(Jmp::Jge, R1, limit as i32, stop);
            asm.emit(insn::mov_imm(R3, 0));
            asm.jump_imm(Jmp::Jge, R1, na as i32, a_read);
            load_byte(asm, R3, 0, R1);
            asm.bind(a_read);
            asm.emit(insn::mov_imm(R4, 0));
            asm.jump_imm(Jmp::Jge, R1, nb as i32, b_read);
            load_byte(asm, R4, 8, R1);
            asm.bind(b_read);
            asm.jump_reg(Jmp::Jeq, R3, R4, agree);
            asm.emit(insn::st_imm(Size::DW, R2, 16, 1));
            asm.jump(stop);
            asm.bind(agree);
            if strings {
                asm.jump_imm(Jmp::Jne, R3, 0, go_on);
                asm.emit(insn::st_imm(Size::DW, R2, 16, 2));
                asm.jump(stop);
            }
        })?;
        let ctx = self.loop_context(&[a, b])?;
        self.asm.emit(insn::st_imm(Size::DW, FP, ctx + 16, 0));
        self.run_callback(id, limit, ctx);
        self.asm.emit(insn::ldx(Size::DW, R0, FP, ctx + 16));
        self.asm.jump_imm(Jmp::Jeq, R0, 1, differ);
        self.asm.jump_imm(Jmp::Jeq, R0, 2, same);
        Ok(())
    }

    /// `str_concat(a, b)`: `a` then `b`, cut to the result's size.
    pub(super) fn str_concat(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [a, b] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
        let out_cap = size_of(&self.ty(e));
        let (a_off, a_cap) = self.bytes_arg(a)?;
        let (b_off, b_cap) = self.bytes_arg(b)?;
        let dst = self.alloc(out_cap)?;
        self.zero(dst, out_cap);
        let last = out_cap.saturating_sub(1);
        if self.looped(a_cap.max(b_cap)) {
            self.concat_loop(dst, last, [(a_off, a_cap), (b_off, b_cap)], e.span)?;
            return Ok(Val::Mem(dst));
        }
        // r3: where the next byte goes; r4: where it comes from.
        self.asm.emit(insn::mov_imm(R3, 0));
        for (second, (off, cap)) in [(a_off, a_cap), (b_off, b_cap)].into_iter().enumerate() {
            let [top, done] = [(); 2].map(|_| self.asm.new_label());
            if second == 1 {
                // Where the first string ended depends on its bytes.
                self.launder(R3, last)?;
            }
            self.asm.emit(insn::mov_imm(R4, 0));
            self.asm.bind(top);
            self.asm.jump_imm(Jmp::Jge, R4, cap as i32, done);
            self.asm.leave_if(Jmp::Jge, R3, last as i32, done);
            self.byte_at(R0, off, R4);
            self.asm.leave_if(Jmp::Jeq, R0, 0, done);
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

    /// Appends each source to `dst` in a `bpf_loop` callback: its bytes
    /// before its NUL, while fewer than `last` are there. The context:
    /// the source, `dst`, where this source starts, where it ended.
    fn concat_loop(&mut self, dst: Place, last: u32, sources: [(Place, u32); 2], span: Span) -> GResult<()> {
        let ctx = self.loop_context(&[dst, dst])?;
        self.asm.emit(insn::st_imm(Size::DW, FP, ctx + 16, 0));
        self.asm.emit(insn::st_imm(Size::DW, FP, ctx + 24, 0));
        for (i, (src, cap)) in sources.into_iter().enumerate() {
            let id = self.asm_callback(format!("append_{cap}_{last}"), span, |a, stop, _| {
                a.jump_imm(Jmp::Jge, R1, cap as i32, stop);
                // r5: where the byte goes, below `last` (the verifier knows
                // nothing of where the first source ended).
                a.emit(insn::ldx(Size::DW, R5, R2, 16));
                a.emit(insn::alu_reg(Alu::Add, R5, R1));
                a.jump_imm(Jmp::Jge, R5, last as i32, stop);
                load_byte(a, R3, 0, R1);
                a.jump_imm(Jmp::Jeq, R3, 0, stop);
                a.emit(insn::ldx(Size::DW, R4, R2, 8));
                a.emit(insn::alu_reg(Alu::Add, R4, R5));
                a.emit(insn::stx(Size::B, R4, 0, R3));
                a.emit(insn::alu_imm(Alu::Add, R5, 1));
                a.emit(insn::stx(Size::DW, R2, 24, R5));
            })?;
            if i == 1 {
                self.asm.emit(insn::ldx(Size::DW, R1, FP, ctx + 24));
                self.asm.emit(insn::stx(Size::DW, FP, ctx + 16, R1));
            }
            self.addr(R1, src);
            self.asm.emit(insn::stx(Size::DW, FP, ctx, R1));
            self.run_callback(id, cap, ctx);
        }
        Ok(())
    }

    /// A stack slot of 32 bytes for a callback's context, with the
    /// addresses of `places` in its first words.
    fn loop_context(&mut self, places: &[Place]) -> GResult<i16> {
        let ctx = self.slot(32)?;
        for (i, p) in places.iter().enumerate() {
            self.addr(R1, *p);
            self.asm.emit(insn::stx(Size::DW, FP, ctx + 8 * i as i16, R1));
        }
        Ok(ctx)
    }

    /// `bpf_loop(count, callback, fp + ctx, 0)`.
    fn run_callback(&mut self, id: SubprogId, count: u32, ctx: i16) {
        // The callback keeps nothing on the stack, which the kernel counts
        // as 32 bytes on top of its caller's.
        self.callee_stack = self.callee_stack.max(super::frame_depth(0));
        self.asm.emit(insn::mov_imm(R1, count as i32));
        self.asm.load_func(R2, id);
        self.asm.emit(insn::mov_reg(R3, FP));
        self.asm.emit(insn::alu_imm(Alu::Add, R3, i32::from(ctx)));
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.emit(insn::call(Helper::Loop));
    }

    /// The callback `name` (sizes are in the name, so one callback serves
    /// every use with the same ones), made on first use. `body` gets the
    /// index in r1 and the context in r2, and jumps to the first label to
    /// stop the loop or to the second to go on; falling off its end goes
    /// on.
    pub(super) fn asm_callback(
        &mut self,
        name: String,
        span: Span,
        body: impl FnOnce(&mut Asm, Label, Label),
    ) -> GResult<SubprogId> {
        let name = format!("bpfscope_{name}");
        if let Some(i) = self.b.out.subprogs.iter().position(|p| p.name == name) {
            return Ok(SubprogId(i));
        }
        let mut asm = Asm::default();
        asm.set_span(span);
        let (stop, go_on) = (asm.new_label(), asm.new_label());
        body(&mut asm, stop, go_on);
        asm.bind(go_on);
        asm.emit(insn::mov_imm(R0, 0));
        asm.emit(insn::exit());
        asm.bind(stop);
        asm.emit(insn::mov_imm(R0, 1));
        asm.emit(insn::exit());
        let code = asm.finish().map_err(|err| Diagnostic::error(span, err.to_string()))?;
        self.b.out.subprogs.push(SubprogSpec { name, code });
        Ok(SubprogId(self.b.out.subprogs.len() - 1))
    }
}

/// In a byte-loop callback: `dst = byte at (address in ctx + at) + index`.
fn load_byte(asm: &mut Asm, dst: Reg, at: i16, index: Reg) {
    asm.emit(insn::ldx(Size::DW, dst, R2, at));
    asm.emit(insn::alu_reg(Alu::Add, dst, index));
    asm.emit(insn::ldx(Size::B, dst, dst, 0));
}
