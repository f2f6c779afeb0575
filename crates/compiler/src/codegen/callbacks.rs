//! Callbacks for `bpf_for_each_map_elem`: the body of `for ($kv : @map)`,
//! and the counter behind `len(@map)`.
//!
//! A callback has its own stack frame. The variables travel to and from it
//! through a per-CPU scratch map (one entry per nesting level): the caller
//! stores its variables there before the call and loads them back after;
//! the callback loads them on entry and stores them on every way out. The
//! body thus compiles to the same frame-relative code as any statement, and
//! because map contents are unknown to the verifier, each iteration starts
//! from the same state and the verifier converges quickly.
//!
//! Byte values in a scratch buffer are not copied: a callback finds the
//! program's buffer itself, where the variables are at the same places,
//! and takes its own temporaries past those its caller has in use.

use bpfscope_lang::ast::{Block, Expr, MapRef, Stmt};
use bpfscope_lang::{Diagnostic, Span};

use super::{Frame, GResult, Gen, Loc, LoopLabels, MAX_LOOP_NESTING, Place, RegPool, Val, frame_depth};
use crate::asm::Asm;
use crate::insn::{self, FP, Helper, Jmp, R0, R1, R2, R3, R4, Reg, Size};
use crate::layout::{align8, size_of};
use crate::program::{LOOP_LIMIT, RuntimeWarningKind, SubprogId, SubprogSpec, ValueKind};

impl Gen<'_, '_> {
    /// `for ($var : @map) { body }`
    pub(super) fn for_map(&mut self, var: &str, map_expr: &Expr, m: &MapRef, body: &Block) -> GResult<()> {
        let (_, map, key_ty, kind) = self.user_map(&m.name, map_expr.span)?;
        let ValueKind::Plain(value_ty) = kind else {
            return Err(self.unsupported(map_expr.span, "iterating over an aggregation's map"));
        };
        let Some(key_ty) = key_ty else {
            return Err(self.unsupported(map_expr.span, "iterating over a map without keys"));
        };
        let Some((kv, _)) = self.vars.get(var).cloned() else {
            return Err(self.unsupported(map_expr.span, "this loop"));
        };
        let id = self.callback(map_expr.span, |g| {
            // r2: key, r3: value, saved across loading the variables.
            g.asm.emit(insn::mov_reg(crate::insn::R6, R2));
            g.asm.emit(insn::mov_reg(crate::insn::R7, R3));
            g.enter()?;
            g.copy_from(crate::insn::R6, 0, kv, size_of(&key_ty));
            g.copy_from(crate::insn::R7, 0, kv.at(align8(size_of(&key_ty))), size_of(&value_ty));
            let labels = LoopLabels { next: g.asm.new_label(), end: g.asm.new_label() };
            g.loops.push(labels);
            let r = g.block_stmts(body);
            g.loops.pop();
            r?;
            Ok(labels)
        })?;
        self.asm.emit(insn::st_imm(Size::DW, FP, self.return_flag, 0));
        self.store_vars(self.loop_level + 1)?;
        self.for_each(map, id);
        self.load_vars_from(self.loop_level + 1)?;
        self.asm.emit(insn::ldx(Size::DW, R0, FP, self.return_flag));
        let exit = self.exit;
        self.asm.jump_imm(Jmp::Jne, R0, 0, exit);
        Ok(())
    }

    /// `while (cond) { body }` as a `bpf_loop` callback. Returns false,
    /// having emitted nothing, where the body cannot be a callback (it
    /// reads the probe's context, which only the program itself has).
    pub(super) fn callback_loop(&mut self, s: &Stmt, cond: &Expr, body: &Block) -> GResult<bool> {
        let attempt = self.try_callback(s.span, |g| {
            g.enter()?;
            let labels = LoopLabels { next: g.asm.new_label(), end: g.asm.new_label() };
            g.cond_jump_false(cond, labels.end)?;
            g.loops.push(labels);
            let r = g.block_stmts(body);
            g.loops.pop();
            r?;
            Ok(labels)
        });
        let Some(id) = attempt else { return Ok(false) };
        self.run_loop(id, Val::Imm(i64::from(LOOP_LIMIT)), s.span)?;
        Ok(true)
    }

    /// `for ($i : start..end) { body }` as a `bpf_loop` callback of
    /// `end - start` iterations, each ending with `$i++`.
    pub(super) fn callback_range(
        &mut self,
        s: &Stmt,
        var: &str,
        start: &Expr,
        end: &Expr,
        body: &Block,
    ) -> GResult<bool> {
        let Some((slot, _)) = self.vars.get(var).cloned() else { return Ok(false) };
        let attempt = self.try_callback(s.span, |g| {
            g.enter()?;
            let step = g.asm.new_label();
            let labels = LoopLabels { next: step, end: g.asm.new_label() };
            g.loops.push(labels);
            let r = g.block_stmts(body);
            g.loops.pop();
            r?;
            g.asm.bind(step);
            g.ld(Size::DW, R0, slot);
            g.asm.emit(insn::alu_imm(crate::insn::Alu::Add, R0, 1));
            g.st(Size::DW, slot, R0);
            Ok(LoopLabels { next: g.asm.new_label(), end: labels.end })
        });
        let Some(id) = attempt else { return Ok(false) };
        // The trip count: end - start, none if negative; the bounds are
        // evaluated once.
        let v = self.expr(end)?;
        let count = self.slot(8)?;
        self.load(v, R0);
        self.free(v);
        self.asm.emit(insn::stx(Size::DW, FP, count, R0));
        let v = self.expr(start)?;
        self.load(v, R1);
        self.free(v);
        self.st(Size::DW, slot, R1);
        self.asm.emit(insn::ldx(Size::DW, R0, FP, count));
        self.asm.emit(insn::alu_reg(crate::insn::Alu::Sub, R0, R1));
        let skip = self.asm.new_label();
        let counted = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jsle, R0, 0, skip);
        self.asm.jump_imm(Jmp::Jle, R0, LOOP_LIMIT as i32, counted);
        self.runtime_warning(RuntimeWarningKind::LoopLimit, s.span)?;
        self.load_imm(R0, i64::from(LOOP_LIMIT));
        self.asm.bind(counted);
        self.asm.emit(insn::stx(Size::DW, FP, count, R0));
        self.run_loop(id, Val::Scalar(Loc::At(Place::stack(count))), s.span)?;
        self.asm.bind(skip);
        Ok(true)
    }

    /// Builds a loop callback, or `None` where its body cannot be one (any
    /// error: the inline loop then reports it if it is one there too).
    /// What a failed attempt added to the tables stays unused.
    fn try_callback(
        &mut self,
        span: Span,
        f: impl FnOnce(&mut Gen<'_, '_>) -> GResult<LoopLabels>,
    ) -> Option<SubprogId> {
        self.callback(span, f).ok()
    }

    /// `bpf_loop(count, callback, NULL, 0)` with the variables handed over
    /// through the scratch map; warns where a `while` ran into the limit.
    fn run_loop(&mut self, id: SubprogId, count: Val, span: Span) -> GResult<()> {
        self.asm.emit(insn::st_imm(Size::DW, FP, self.return_flag, 0));
        self.store_vars(self.loop_level + 1)?;
        self.load(count, R1);
        self.asm.load_func(R2, id);
        self.asm.emit(insn::mov_imm(R3, 0));
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.emit(insn::call(Helper::Loop));
        let ran = self.slot(8)?;
        self.asm.emit(insn::stx(Size::DW, FP, ran, R0));
        self.load_vars_from(self.loop_level + 1)?;
        if let Val::Imm(_) = count {
            let within = self.asm.new_label();
            self.asm.emit(insn::ldx(Size::DW, R0, FP, ran));
            self.asm.jump_imm(Jmp::Jlt, R0, LOOP_LIMIT as i32, within);
            self.runtime_warning(RuntimeWarningKind::LoopLimit, span)?;
            self.asm.bind(within);
        }
        self.asm.emit(insn::ldx(Size::DW, R0, FP, self.return_flag));
        let exit = self.exit;
        self.asm.jump_imm(Jmp::Jne, R0, 0, exit);
        Ok(())
    }

    /// `len(@map)`: the number of elements `bpf_for_each_map_elem` visits.
    pub(super) fn map_len(&mut self, m: &MapRef, span: Span) -> GResult<Val> {
        let (_, map, _, kind) = self.user_map(&m.name, span)?;
        if kind.has_bucket() {
            return Err(self.unsupported(span, "len() of a histogram's map"));
        }
        let id = match self.b.counting_callback {
            Some(id) => id,
            None => {
                let mut asm = Asm::default();
                asm.emit(insn::mov_imm(R0, 0));
                asm.emit(insn::exit());
                let code = asm.finish().map_err(|e| Diagnostic::error(span, e.to_string()))?;
                let id = SubprogId(self.b.out.subprogs.len());
                self.b.out.subprogs.push(SubprogSpec { name: format!("bpfscope_cb_{}", id.0), code });
                self.b.counting_callback = Some(id);
                id
            }
        };
        self.for_each(map, id);
        self.keep(R0)
    }

    /// `bpf_for_each_map_elem(map, callback, fp, 0)`
    fn for_each(&mut self, map: crate::program::MapId, id: SubprogId) {
        self.asm.load_map(R1, map);
        self.asm.load_func(R2, id);
        self.asm.emit(insn::mov_reg(R3, FP));
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.emit(insn::call(Helper::ForEachMapElem));
    }

    /// Generates a loop body's callback; `f` emits the body and returns the
    /// labels `continue` and `break` jump to.
    fn callback(&mut self, span: Span, f: impl FnOnce(&mut Gen<'_, '_>) -> GResult<LoopLabels>) -> GResult<SubprogId> {
        if self.loop_level + 1 >= MAX_LOOP_NESTING {
            return Err(Diagnostic::error(span, format!("loops over maps nest at most {} deep", MAX_LOOP_NESTING - 1)));
        }
        // The variables keep their offsets: the same stack region is theirs.
        let frame = Frame::callback(self.var_bytes, &self.frame);
        let mut asm = Asm::default();
        asm.set_span(self.asm.span());
        let exit = asm.new_label();
        let mut g = Gen {
            b: &mut *self.b,
            asm,
            frame,
            // r6 and r7 hold the key and value pointers at first.
            regs: RegPool::new(self.scratch.is_some()),
            vars: self.vars.clone(),
            loops: Vec::new(),
            exit,
            ids: self.ids,
            context: self.context.clone(),
            probe_span: self.probe_span,
            var_bytes: self.var_bytes,
            return_flag: self.return_flag,
            loop_level: self.loop_level + 1,
            scratch: self.scratch,
            callee_stack: 0,
        };
        let labels = f(&mut g)?;
        // Falling off the end of the body is `continue`.
        g.asm.bind(labels.next);
        g.leave(0)?;
        g.asm.bind(labels.end);
        g.leave(1)?;
        g.asm.bind(g.exit);
        g.asm.emit(insn::st_imm(Size::DW, FP, g.return_flag, 1));
        g.leave(1)?;
        let depth = frame_depth(g.frame.stack_peak()) + g.callee_stack;
        let scratch_peak = g.frame.scratch_peak();
        let code = g.asm.finish().map_err(|e| Diagnostic::error(span, e.to_string()))?;
        self.callee_stack = self.callee_stack.max(depth);
        self.frame.note_scratch_peak(scratch_peak);
        let id = SubprogId(self.b.out.subprogs.len());
        self.b.out.subprogs.push(SubprogSpec { name: format!("bpfscope_cb_{}", id.0), code });
        Ok(id)
    }

    /// Hands the variables back to the caller and returns `ret`.
    fn leave(&mut self, ret: i32) -> GResult<()> {
        self.store_vars(self.loop_level)?;
        self.asm.emit(insn::mov_imm(R0, ret));
        self.asm.emit(insn::exit());
        Ok(())
    }

    /// A callback's start: finds the scratch buffer (where the program
    /// has one), then loads the variables from this level's entry.
    fn enter(&mut self) -> GResult<()> {
        // 1 stops the loop, should the lookup fail.
        self.scratch_base(1)?;
        self.load_vars_from(self.loop_level)
    }

    fn load_vars_from(&mut self, level: u32) -> GResult<()> {
        self.scratch_entry(level)?;
        self.copy_region(R0, FP);
        Ok(())
    }

    /// Stores the variables in the scratch entry of `level`.
    fn store_vars(&mut self, level: u32) -> GResult<()> {
        self.scratch_entry(level)?;
        self.copy_region(FP, R0);
        Ok(())
    }

    /// `R0 = &scratch[level]` (the lookup cannot fail for an array, but the
    /// verifier wants the check).
    fn scratch_entry(&mut self, level: u32) -> GResult<()> {
        let map = self.b.loop_scratch_map();
        let key = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, key, level as i32));
        self.asm.load_map(R1, map);
        self.addr(R2, Place::stack(key));
        self.asm.emit(insn::call(Helper::MapLookupElem));
        let ok = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jne, R0, 0, ok);
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.emit(insn::exit());
        self.asm.bind(ok);
        Ok(())
    }

    /// Copies the variables' region between the frame and a scratch entry
    /// (`from`/`to` are the frame pointer or the entry's address; the entry
    /// mirrors the frame's negative offsets at positive ones).
    fn copy_region(&mut self, from: Reg, to: Reg) {
        let n = self.var_bytes as i32;
        let mut off = -n;
        while off < 0 {
            let (src, dst) = if from == FP { (off, off + n) } else { (off + n, off) };
            self.asm.emit(insn::ldx(Size::DW, R1, from, src as i16));
            self.asm.emit(insn::stx(Size::DW, to, dst as i16, R1));
            off += 8;
        }
    }
}
