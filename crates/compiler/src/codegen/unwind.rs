//! `dw_ustack`: the user stack walked in the probe with the target
//! process's unwind table (built from `.eh_frame` by
//! [`bpfscope_probes::unwind`] and loaded by the run), one frame per
//! `bpf_loop` iteration, so that programs built without frame pointers
//! give whole stacks. A walked stack is kept in a hash map under a hash of
//! its frames, which makes it a stack value like `ustack`'s: equal stacks
//! are one map key, and they print the same way.

use bpfscope_lang::{Diagnostic, Span};
use bpfscope_probes::unwind as table;

use super::{Builder, GResult, Gen, Place, Val, push_map};
use crate::asm::Asm;
use crate::insn::{self, Alu, FP, Helper, Jmp, R0, R1, R2, R3, R4, R6, R7, R8, R9, Size};
use crate::program::{MapId, MapKind, MapSpec, RuntimeWarningKind, StackMap, StackMode, SubprogId, Unwind};

/// The walk's per-CPU state: the registers of the frame being unwound,
/// the frames so far and the hash of them, then the frames, with a slot
/// past the deepest stack for the hash (stored with the frames, so that
/// a reused id can be told from a collision).
const ST_IP: i16 = 0;
const ST_SP: i16 = 8;
const ST_BP: i16 = 16;
const ST_N: i16 = 24;
const ST_HASH: i16 = 32;
/// The binary search's position, kept in the map (whose contents the
/// verifier does not track) so that every step's two outcomes are one
/// state to it, not 2^20 paths of known positions.
const ST_POS: i16 = 40;
const ST_FRAMES: i16 = 48;
const STATE_SIZE: u32 = ST_FRAMES as u32 + 8 * (super::context::MAX_STACK_FRAMES + 1);
/// FNV-1a's constants, over whole frames.
const FNV_OFFSET: i64 = 0xcbf2_9ce4_8422_2325_u64 as i64;
const FNV_PRIME: i64 = 0x0000_0100_0000_01b3;
/// `-EEXIST`, from an update with `BPF_NOEXIST` of a key already there.
const EEXIST: i32 = -17;

impl Builder<'_> {
    /// The unwind table and the walk's state, made on first use.
    fn unwind_maps(&mut self, pid: u32) -> (MapId, MapId) {
        let state = match self.out.maps.iter().position(|m| m.name == "AT_dwstate") {
            Some(i) => MapId(i),
            None => push_map(
                &mut self.out,
                MapSpec {
                    name: "AT_dwstate".into(),
                    kind: MapKind::PercpuArray,
                    key_size: 4,
                    value_size: STATE_SIZE,
                    max_entries: 1,
                },
            ),
        };
        let rows = match &self.out.unwind {
            Some(u) => u.rows,
            None => {
                // One row until the run knows the table's size.
                let rows = push_map(
                    &mut self.out,
                    MapSpec {
                        name: "AT_dwunwind".into(),
                        kind: MapKind::Array,
                        key_size: 4,
                        value_size: table::ROW_SIZE,
                        max_entries: 1,
                    },
                );
                self.out.unwind = Some(Unwind { rows, pid });
                rows
            }
        };
        (state, rows)
    }

    /// The hash map `dw_ustack` stacks of this depth and mode are kept in:
    /// its index among the stack maps, and its id.
    fn dwarf_stack_map(&mut self, limit: u32, mode: StackMode) -> (usize, MapId) {
        if let Some(i) = self.out.stack_maps.iter().position(|s| s.dwarf && s.limit == limit && s.mode == mode) {
            return (i, self.out.stack_maps[i].map);
        }
        let map = push_map(
            &mut self.out,
            MapSpec {
                name: format!("AT_dwstack{limit}"),
                kind: MapKind::Hash,
                key_size: 4,
                value_size: 8 * (limit + 1),
                max_entries: self.options.max_map_keys.max(1),
            },
        );
        self.out.stack_maps.push(StackMap { map, limit, user: true, mode, dwarf: true });
        (self.out.stack_maps.len() - 1, map)
    }
}

impl Gen<'_, '_> {
    /// `dw_ustack`: a stack value (see [`crate::program::stack_value_parts`])
    /// whose id names the walked frames in a hash map. Outside the target
    /// process, or where the walk fails, the stack is empty.
    pub(super) fn dw_stack(&mut self, limit: Option<u32>, mode: Option<StackMode>, span: Span) -> GResult<Val> {
        self.ctx(span, "dw_ustack")?;
        self.b.out.symbols.user_frames = true;
        let Some(pid) = self.b.options.unwind_pid else {
            return Err(Diagnostic::error(span, "dw_ustack requires a target process. Use -p or -c to specify one.")
                .with_hint("dw_ustack walks the stacks of one process, whose unwind tables are read at start"));
        };
        if !self.b.options.bpf_loop {
            return Err(Diagnostic::error(span, "dw_ustack needs the kernel's bpf_loop helper (Linux 5.17 or later)")
                .with_hint("ustack walks frame pointers on any kernel"));
        }
        let limit = limit.unwrap_or(super::context::MAX_STACK_FRAMES).clamp(1, super::context::MAX_STACK_FRAMES);
        let mode = mode.unwrap_or(self.b.out.stack_mode);
        let mode = if mode == StackMode::BuildId { StackMode::Raw } else { mode };
        let (index, map) = self.b.dwarf_stack_map(limit, mode);
        let (state, rows) = self.b.unwind_maps(pid);
        let walk = self.unwind_callback(state, rows, span)?;
        let (failed, done) = (self.asm.new_label(), self.asm.new_label());
        let regs = self.slot(8)?;
        let key = self.slot(8)?;
        let state_ptr = self.slot(8)?;

        let ours = self.asm.new_label();
        self.asm.emit(insn::call(Helper::GetCurrentPidTgid));
        self.asm.emit(insn::alu_imm(Alu::Rsh, R0, 32));
        self.asm.jump_imm(Jmp::Jeq, R0, pid as i32, ours);
        self.runtime_warning(RuntimeWarningKind::NoDwarfUnwind, span)?;
        self.asm.jump(failed);
        self.asm.bind(ours);

        // The state, and the registers the task entered the kernel with
        // (the probed code's, whatever the probe type).
        self.asm.emit(insn::st_imm(Size::W, FP, key, 0));
        self.lookup(state, Place::stack(key));
        self.asm.jump_imm(Jmp::Jeq, R0, 0, failed);
        self.asm.emit(insn::stx(Size::DW, FP, state_ptr, R0));
        self.asm.emit(insn::call(Helper::GetCurrentTaskBtf));
        self.asm.emit(insn::mov_reg(R1, R0));
        self.asm.emit(insn::call(Helper::TaskPtRegs));
        self.asm.emit(insn::stx(Size::DW, FP, regs, R0));
        use bpfscope_lang::builtins::pt_regs;
        for (field, off) in [(ST_IP, pt_regs::IP), (ST_SP, pt_regs::SP), (ST_BP, pt_regs::BP)] {
            self.asm.emit(insn::ldx(Size::DW, R1, FP, state_ptr));
            self.asm.emit(insn::alu_imm(Alu::Add, R1, i32::from(field)));
            self.asm.emit(insn::mov_imm(R2, 8));
            self.asm.emit(insn::ldx(Size::DW, R3, FP, regs));
            self.asm.emit(insn::alu_imm(Alu::Add, R3, i32::from(off)));
            self.asm.emit(insn::call(Helper::ProbeReadKernel));
        }
        self.asm.emit(insn::ldx(Size::DW, R1, FP, state_ptr));
        self.asm.emit(insn::st_imm(Size::DW, R1, ST_N, 0));
        self.asm.emit_all(insn::ld_imm64(R2, FNV_OFFSET));
        self.asm.emit(insn::stx(Size::DW, R1, ST_HASH, R2));

        // The walk: one frame per iteration, at most `limit`.
        self.callee_stack = self.callee_stack.max(super::frame_depth(8));
        self.asm.emit(insn::mov_imm(R1, limit as i32));
        self.asm.load_func(R2, walk);
        self.asm.emit(insn::mov_imm(R3, 0));
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.emit(insn::call(Helper::Loop));

        // A zero after the last frame (where there is room), the hash
        // after the deepest.
        let full = self.asm.new_label();
        self.asm.emit(insn::ldx(Size::DW, R1, FP, state_ptr));
        self.asm.emit(insn::ldx(Size::DW, R2, R1, ST_N));
        self.asm.jump_imm(Jmp::Jeq, R2, 0, failed);
        self.asm.jump_imm(Jmp::Jge, R2, limit as i32, full);
        self.asm.emit(insn::alu_imm(Alu::Lsh, R2, 3));
        self.asm.emit(insn::alu_reg(Alu::Add, R2, R1));
        self.asm.emit(insn::st_imm(Size::DW, R2, ST_FRAMES, 0));
        self.asm.bind(full);
        self.asm.emit(insn::ldx(Size::DW, R3, R1, ST_HASH));
        self.asm.emit(insn::stx(Size::DW, R1, ST_FRAMES + 8 * limit as i16, R3));
        // The id: the hash folded to 32 bits.
        self.asm.emit(insn::mov_reg(R2, R3));
        self.asm.emit(insn::alu_imm(Alu::Rsh, R2, 32));
        self.asm.emit(insn::alu_reg(Alu::Xor, R3, R2));
        self.asm.emit(insn::stx(Size::W, FP, key, R3));
        self.asm.load_map(R1, map);
        self.asm.emit(insn::mov_reg(R2, FP));
        self.asm.emit(insn::alu_imm(Alu::Add, R2, i32::from(key)));
        self.asm.emit(insn::ldx(Size::DW, R3, FP, state_ptr));
        self.asm.emit(insn::alu_imm(Alu::Add, R3, i32::from(ST_FRAMES)));
        self.asm.emit(insn::mov_imm(R4, 1)); // BPF_NOEXIST
        self.asm.emit(insn::call(Helper::MapUpdateElem));
        let stored = self.asm.new_label();
        let full_map = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, stored);
        self.asm.jump_imm(Jmp::Jne, R0, EEXIST, full_map);
        // The id is taken: by this stack (the hashes agree), or another.
        self.lookup(map, Place::stack(key));
        self.asm.jump_imm(Jmp::Jeq, R0, 0, failed);
        self.asm.emit(insn::ldx(Size::DW, R1, R0, 8 * limit as i16));
        self.asm.emit(insn::ldx(Size::DW, R2, FP, state_ptr));
        self.asm.emit(insn::ldx(Size::DW, R2, R2, ST_HASH));
        self.asm.jump_reg(Jmp::Jeq, R1, R2, stored);
        self.runtime_warning(RuntimeWarningKind::StackIdCollision, span)?;
        self.asm.jump(failed);
        self.asm.bind(full_map);
        self.runtime_warning(RuntimeWarningKind::MapFull, span)?;
        self.asm.jump(failed);

        // The value: the id, the stack map's index and the process.
        let tag = ((index as i64) << 32) | (i64::from(pid) << 40);
        self.asm.bind(stored);
        self.asm.emit(insn::ldx(Size::W, R0, FP, key));
        self.asm.jump(done);
        self.asm.bind(failed);
        // An id no stack has: it prints as an empty stack.
        self.asm.emit(insn::mov_imm(R0, -1));
        self.mask32(R0);
        self.asm.bind(done);
        self.asm.emit_all(insn::ld_imm64(R1, tag));
        self.asm.emit(insn::alu_reg(Alu::Or, R0, R1));
        self.keep(R0)
    }

    /// The `bpf_loop` callback that records one frame and unwinds to its
    /// caller: finds the row for the frame's pc by binary search, computes
    /// the CFA, reads the return address below it and the saved `rbp`.
    /// Returns 1 (stop) where the table has no rule, a read fails or the
    /// stack does not grow towards its base.
    fn unwind_callback(&mut self, state: MapId, rows: MapId, span: Span) -> GResult<SubprogId> {
        self.asm_callback("dwunwind".to_string(), span, |a, stop, _| {
            // fp-8: a map key.
            a.emit(insn::mov_imm(R1, 0));
            lookup_key_in(a, state, R1);
            a.jump_imm(Jmp::Jeq, R0, 0, stop);
            a.emit(insn::mov_reg(R6, R0));
            a.emit(insn::ldx(Size::DW, R7, R6, ST_IP));
            a.jump_imm(Jmp::Jeq, R7, 0, stop);
            a.emit(insn::ldx(Size::DW, R1, R6, ST_N));
            a.jump_imm(Jmp::Jge, R1, super::context::MAX_STACK_FRAMES as i32, stop);
            // Record the frame and hash it in.
            a.emit(insn::mov_reg(R2, R1));
            a.emit(insn::alu_imm(Alu::Lsh, R2, 3));
            a.emit(insn::alu_reg(Alu::Add, R2, R6));
            a.emit(insn::stx(Size::DW, R2, ST_FRAMES, R7));
            a.emit(insn::alu_imm(Alu::Add, R1, 1));
            a.emit(insn::stx(Size::DW, R6, ST_N, R1));
            a.emit(insn::ldx(Size::DW, R2, R6, ST_HASH));
            a.emit(insn::alu_reg(Alu::Xor, R2, R7));
            a.emit_all(insn::ld_imm64(R3, FNV_PRIME));
            a.emit(insn::alu_reg(Alu::Mul, R2, R3));
            a.emit(insn::stx(Size::DW, R6, ST_HASH, R2));
            // The pc to look up: a caller's is its return address less one,
            // inside the call (which may be a function's last instruction).
            let first = a.new_label();
            a.emit(insn::mov_reg(R8, R7));
            a.jump_imm(Jmp::Jeq, R1, 1, first);
            a.emit(insn::alu_imm(Alu::Sub, R8, 1));
            a.bind(first);
            // The last row at or before the pc: rows past the table's end are
            // missing, and count as after it.
            a.emit(insn::st_imm(Size::DW, R6, ST_POS, 0));
            for step in (0..table::SEARCH_STEPS).rev() {
                let next = a.new_label();
                a.emit(insn::ldx(Size::DW, R1, R6, ST_POS));
                a.emit(insn::alu_imm(Alu::Add, R1, 1 << step));
                lookup_key_in(a, rows, R1);
                a.jump_imm(Jmp::Jeq, R0, 0, next);
                a.emit(insn::ldx(Size::DW, R1, R0, table::ROW_PC));
                a.jump_reg(Jmp::Jgt, R1, R8, next);
                a.emit(insn::ldx(Size::W, R1, FP, -8));
                a.emit(insn::stx(Size::DW, R6, ST_POS, R1));
                a.bind(next);
            }
            a.emit(insn::ldx(Size::DW, R1, R6, ST_POS));
            lookup_key_in(a, rows, R1);
            a.jump_imm(Jmp::Jeq, R0, 0, stop);
            a.emit(insn::mov_reg(R9, R0));
            // The CFA: a register plus the row's offset.
            let (plt, base) = (a.new_label(), a.new_label());
            a.emit(insn::ldx(Size::B, R1, R9, table::ROW_CFA));
            a.emit(insn::ldx(Size::DW, R3, R6, ST_SP));
            a.jump_imm(Jmp::Jeq, R1, i32::from(table::CFA_SP), base);
            a.jump_imm(Jmp::Jeq, R1, i32::from(table::CFA_PLT), plt);
            a.jump_imm(Jmp::Jne, R1, i32::from(table::CFA_BP), stop);
            a.emit(insn::ldx(Size::DW, R3, R6, ST_BP));
            a.jump(base);
            a.bind(plt);
            a.emit(insn::mov_reg(R4, R7));
            a.emit(insn::alu_imm(Alu::And, R4, 15));
            a.jump_imm(Jmp::Jlt, R4, 11, base);
            a.emit(insn::alu_imm(Alu::Add, R3, 8));
            a.bind(base);
            a.emit(insn::ldx(Size::W, R1, R9, table::ROW_CFA_OFFSET));
            a.emit(insn::alu_imm(Alu::Lsh, R1, 32));
            a.emit(insn::alu_imm(Alu::Arsh, R1, 32));
            a.emit(insn::alu_reg(Alu::Add, R3, R1));
            // Each caller's frame is above its callee's.
            a.emit(insn::ldx(Size::DW, R2, R6, ST_SP));
            a.jump_reg(Jmp::Jle, R3, R2, stop);
            a.emit(insn::stx(Size::DW, R6, ST_SP, R3));
            // The return address, just below the CFA, is the caller's pc.
            a.emit(insn::mov_reg(R1, R6));
            a.emit(insn::alu_imm(Alu::Add, R1, i32::from(ST_IP)));
            a.emit(insn::mov_imm(R2, 8));
            a.emit(insn::alu_imm(Alu::Sub, R3, 8));
            a.emit(insn::call(Helper::ProbeReadUser));
            a.jump_imm(Jmp::Jne, R0, 0, stop);
            // The caller's rbp, where this frame saved it.
            let go_on = a.new_label();
            a.emit(insn::ldx(Size::B, R1, R9, table::ROW_BP));
            a.jump_imm(Jmp::Jne, R1, i32::from(table::BP_SAVED), go_on);
            a.emit(insn::ldx(Size::DW, R3, R6, ST_SP));
            a.emit(insn::ldx(Size::H, R1, R9, table::ROW_BP_OFFSET));
            a.emit(insn::alu_imm(Alu::Lsh, R1, 48));
            a.emit(insn::alu_imm(Alu::Arsh, R1, 48));
            a.emit(insn::alu_reg(Alu::Add, R3, R1));
            a.emit(insn::mov_reg(R1, R6));
            a.emit(insn::alu_imm(Alu::Add, R1, i32::from(ST_BP)));
            a.emit(insn::mov_imm(R2, 8));
            a.emit(insn::call(Helper::ProbeReadUser));
            a.bind(go_on);
        })
    }
}

/// `r0 = lookup(map, key)`, the key (a `u32`) in `key`, stored at fp-8
/// (where the search reads it back).
fn lookup_key_in(a: &mut Asm, map: MapId, key: crate::insn::Reg) {
    a.emit(insn::stx(Size::W, FP, -8, key));
    a.load_map(R1, map);
    a.emit(insn::mov_reg(R2, FP));
    a.emit(insn::alu_imm(Alu::Add, R2, -8));
    a.emit(insn::call(Helper::MapLookupElem));
}
