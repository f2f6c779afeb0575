//! Maps: keys, reads, writes, and the aggregations kept per CPU.

use bpfscope_lang::ast::*;
use bpfscope_lang::check::{AggKind, Type};

use super::{GResult, Gen, Place, Val};
use crate::insn::{self, Alu, FP, Helper, Jmp, R0, R1, R2, R3, R4, Reg, Size};
use crate::layout::{self, field_offsets, is_aggregate, size_of};
use crate::program::{MapId, TseriesAgg, ValueKind};

/// The internal array map's slots.
pub const GLOBAL_LOST: i32 = 0;
pub const GLOBAL_START: i32 = 1;
/// `exit(code)` was called: 1 << 32 | code (0 until then).
pub const GLOBAL_EXIT: i32 = 2;
/// Slot `GLOBAL_PROGRAM_LOST + i` counts the losses of program `i`.
pub const GLOBAL_PROGRAM_LOST: i32 = 3;

impl Gen<'_, '_> {
    pub(super) fn user_map(
        &self,
        name: &str,
        span: bpfscope_lang::Span,
    ) -> GResult<(usize, MapId, Option<Type>, ValueKind)> {
        let i = *self.b.user_maps.get(name).ok_or_else(|| self.unsupported(span, &format!("the map @{name}")))?;
        let m = &self.b.out.user_maps[i];
        Ok((i, m.map, m.key.clone(), m.value.clone()))
    }

    /// Builds the key for `@map[keys]` where byte values go; returns its
    /// place. `extra` bytes after the key are left for the caller (a
    /// bucket).
    pub(super) fn build_key(&mut self, key_ty: Option<&Type>, keys: Option<&[Expr]>, extra: u32) -> GResult<Place> {
        let Some(kt) = key_ty else {
            let off = self.alloc(8 + extra)?;
            self.zero(off, 8 + extra);
            return Ok(off);
        };
        let size = size_of(kt);
        let off = self.alloc(size + extra)?;
        self.zero(off, size + extra);
        let keys = keys.unwrap_or(&[]);
        match (kt, keys) {
            (Type::Tuple(fields), keys) if keys.len() > 1 => {
                for ((k, ft), fo) in keys.iter().zip(fields).zip(field_offsets(fields)) {
                    let v = self.expr(k)?;
                    let t = self.ty(k);
                    self.store_typed(v, &t, off.at(fo), ft);
                    self.free(v);
                }
            }
            (_, [k]) => {
                let v = self.expr(k)?;
                let t = self.ty(k);
                self.store_typed(v, &t, off, kt);
                self.free(v);
            }
            _ => {}
        }
        Ok(off)
    }

    /// `R0 = bpf_map_lookup_elem(map, &key)`
    pub(super) fn lookup(&mut self, map: MapId, key: Place) {
        self.asm.load_map(R1, map);
        self.addr(R2, key);
        self.asm.emit(insn::call(Helper::MapLookupElem));
    }

    /// `bpf_map_update_elem(map, &key, &value, BPF_ANY)`; a map without
    /// room for a new key says so at run time, as bpftrace 0.26 does.
    fn update(&mut self, map: MapId, key: Place, value: Place) -> GResult<()> {
        self.asm.load_map(R1, map);
        self.addr(R2, key);
        self.addr(R3, value);
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.emit(insn::call(Helper::MapUpdateElem));
        let stored = self.asm.new_label();
        // -E2BIG: the map has max_entries keys already.
        self.asm.jump_imm(Jmp::Jne, R0, -7, stored);
        let span = self.asm.span();
        self.runtime_warning(crate::program::RuntimeWarningKind::MapFull, span)?;
        self.asm.bind(stored);
        Ok(())
    }

    /// A slot of the internal array map (lost events, start time).
    pub(super) fn global(&mut self, slot: i32) -> GResult<Val> {
        let map = self.b.globals_map();
        let key = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, key, slot));
        self.lookup(map, Place::stack(key));
        let none = self.asm.new_label();
        let end = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, none);
        self.asm.emit(insn::ldx(Size::DW, R0, R0, 0));
        self.asm.jump(end);
        self.asm.bind(none);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.bind(end);
        self.keep(R0)
    }

    /// Notes `exit(code)` in the globals as well as in an event: when the
    /// event buffer is full and the event is lost, the run still ends,
    /// with its code.
    pub(super) fn note_exit(&mut self, code: Val) -> GResult<()> {
        let map = self.b.globals_map();
        let entries = &mut self.b.out.maps[map.0].max_entries;
        *entries = (*entries).max(GLOBAL_EXIT as u32 + 1);
        let value = self.slot(8)?;
        self.load(code, R1);
        self.asm.emit(insn::alu_imm(Alu::Lsh, R1, 32));
        self.asm.emit(insn::alu_imm(Alu::Rsh, R1, 32));
        self.asm.emit(insn::mov_imm(R2, 1));
        self.asm.emit(insn::alu_imm(Alu::Lsh, R2, 32));
        self.asm.emit(insn::alu_reg(Alu::Or, R1, R2));
        self.asm.emit(insn::stx(Size::DW, FP, value, R1));
        let key = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, key, GLOBAL_EXIT));
        self.lookup(map, Place::stack(key));
        let none = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, none);
        self.asm.emit(insn::ldx(Size::DW, R1, FP, value));
        self.asm.emit(insn::stx(Size::DW, R0, 0, R1));
        self.asm.bind(none);
        Ok(())
    }

    /// Counts an event the ring buffer had no room for: in all, and for
    /// this program (so that the loss can name its probe).
    pub(super) fn count_lost(&mut self) -> GResult<()> {
        let map = self.b.globals_map();
        let program = GLOBAL_PROGRAM_LOST + i32::try_from(self.b.out.programs.len()).unwrap_or(i32::MAX - 2);
        let entries = &mut self.b.out.maps[map.0].max_entries;
        *entries = (*entries).max(u32::try_from(program).unwrap_or(u32::MAX).saturating_add(1));
        let key = self.slot(8)?;
        for slot in [GLOBAL_LOST, program] {
            self.asm.emit(insn::st_imm(Size::DW, FP, key, slot));
            self.lookup(map, Place::stack(key));
            let none = self.asm.new_label();
            self.asm.jump_imm(Jmp::Jeq, R0, 0, none);
            self.asm.emit(insn::mov_imm(R1, 1));
            self.asm.emit(insn::atomic_add(R0, 0, R1));
            self.asm.bind(none);
        }
        Ok(())
    }

    /// `@m` or `@m[k]` as a value.
    pub(super) fn map_read(&mut self, m: &MapRef, e: &Expr) -> GResult<Val> {
        let (_, map, key_ty, value) = self.user_map(&m.name, e.span)?;
        let ValueKind::Plain(vt) = value else {
            return self.aggregation_read(map, key_ty.as_ref(), m.keys.as_deref(), &value, e);
        };
        // The key is needed only for the lookup: a scalar's read gives its
        // space back.
        let mark = self.frame.mark();
        let key = self.build_key(key_ty.as_ref(), m.keys.as_deref(), 0)?;
        self.lookup(map, key);
        let missing = self.asm.new_label();
        let end = self.asm.new_label();
        if is_aggregate(&vt) {
            let size = size_of(&vt);
            let dst = self.alloc(size)?;
            self.asm.jump_imm(Jmp::Jeq, R0, 0, missing);
            self.copy_from(R0, 0, dst, size);
            self.asm.jump(end);
            self.asm.bind(missing);
            self.zero(dst, size);
            self.asm.bind(end);
            return Ok(Val::Mem(dst));
        }
        self.asm.jump_imm(Jmp::Jeq, R0, 0, missing);
        self.asm.emit(insn::ldx(Size::DW, R0, R0, 0));
        self.asm.jump(end);
        self.asm.bind(missing);
        if self.b.options.read_warnings {
            self.runtime_warning(crate::program::RuntimeWarningKind::LookupMissing, e.span)?;
        }
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.bind(end);
        self.frame.release_to(mark);
        self.keep(R0)
    }

    /// An aggregation read as one integer: every CPU's value combined, as
    /// user space prints it (count and sum add up, avg divides the totals,
    /// min and max compare the CPUs that have a value).
    fn aggregation_read(
        &mut self,
        map: MapId,
        key_ty: Option<&Type>,
        keys: Option<&[Expr]>,
        kind: &ValueKind,
        e: &Expr,
    ) -> GResult<Val> {
        if !matches!(kind, ValueKind::Count | ValueKind::Sum | ValueKind::Avg | ValueKind::Min | ValueKind::Max) {
            return Err(self.unsupported(e.span, "reading a histogram or stats map as a number"));
        }
        let mark = self.frame.mark();
        let key = self.build_key(key_ty, keys, 0)?;
        // acc: the sum, total, minimum or maximum; aux: the avg count, or
        // whether min/max has found a value.
        let acc = self.slot(8)?;
        let aux = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, acc, 0));
        self.asm.emit(insn::st_imm(Size::DW, FP, aux, 0));
        for cpu in 0..self.b.options.ncpus.min(i32::MAX as u64) as i32 {
            let skip = self.asm.new_label();
            self.asm.load_map(R1, map);
            self.addr(R2, key);
            self.asm.emit(insn::mov_imm(R3, cpu));
            self.asm.emit(insn::call(Helper::MapLookupPercpuElem));
            self.asm.jump_imm(Jmp::Jeq, R0, 0, skip);
            match kind {
                ValueKind::Min | ValueKind::Max => {
                    let take = self.asm.new_label();
                    self.asm.emit(insn::ldx(Size::DW, R1, R0, 8));
                    self.asm.jump_imm(Jmp::Jeq, R1, 0, skip);
                    self.asm.emit(insn::ldx(Size::DW, R1, R0, 0));
                    self.asm.emit(insn::ldx(Size::DW, R2, FP, aux));
                    self.asm.jump_imm(Jmp::Jeq, R2, 0, take);
                    self.asm.emit(insn::ldx(Size::DW, R2, FP, acc));
                    let keep_old = if matches!(kind, ValueKind::Min) { Jmp::Jsle } else { Jmp::Jsge };
                    self.asm.jump_reg(keep_old, R2, R1, skip);
                    self.asm.bind(take);
                    self.asm.emit(insn::stx(Size::DW, FP, acc, R1));
                    self.asm.emit(insn::st_imm(Size::DW, FP, aux, 1));
                }
                _ => {
                    self.asm.emit(insn::ldx(Size::DW, R1, R0, 0));
                    self.asm.emit(insn::ldx(Size::DW, R2, FP, acc));
                    self.asm.emit(insn::alu_reg(Alu::Add, R2, R1));
                    self.asm.emit(insn::stx(Size::DW, FP, acc, R2));
                    if matches!(kind, ValueKind::Avg) {
                        self.asm.emit(insn::ldx(Size::DW, R1, R0, 8));
                        self.asm.emit(insn::ldx(Size::DW, R2, FP, aux));
                        self.asm.emit(insn::alu_reg(Alu::Add, R2, R1));
                        self.asm.emit(insn::stx(Size::DW, FP, aux, R2));
                    }
                }
            }
            self.asm.bind(skip);
        }
        self.asm.emit(insn::ldx(Size::DW, R0, FP, acc));
        if matches!(kind, ValueKind::Avg) {
            let none = self.asm.new_label();
            let done = self.asm.new_label();
            self.asm.emit(insn::ldx(Size::DW, R1, FP, aux));
            self.asm.jump_imm(Jmp::Jeq, R1, 0, none);
            self.signed_divmod(true);
            self.asm.jump(done);
            self.asm.bind(none);
            self.asm.emit(insn::mov_imm(R0, 0));
            self.asm.bind(done);
        }
        self.frame.release_to(mark);
        self.keep(R0)
    }

    /// `@m[k] = v`, `@m[k] op= v`, and aggregations.
    pub(super) fn assign_map(&mut self, m: &MapRef, target: &Expr, op: Option<BinOp>, value: &Expr) -> GResult<()> {
        let (_, map, key_ty, kind) = self.user_map(&m.name, target.span)?;
        if let (None, ExprKind::Call(c)) = (op, &value.kind)
            && let Some(agg) = AggKind::from_function(&c.name)
        {
            return self.aggregate(agg, &c.args, map, key_ty.as_ref(), m.keys.as_deref(), &kind, value);
        }
        let ValueKind::Plain(vt) = kind else {
            return Err(self.unsupported(target.span, "assigning to an aggregation's map"));
        };
        let v = match op {
            Some(op) => {
                let cur = self.map_read(m, target)?;
                let v = self.compound(op, cur, &vt, value)?;
                self.free(cur);
                v
            }
            None => self.expr(value)?,
        };
        let key = self.build_key(key_ty.as_ref(), m.keys.as_deref(), 0)?;
        let size = layout::align8(size_of(&vt)).max(8);
        let t = self.ty(value);
        let val = if is_aggregate(&vt) {
            let val = self.alloc(size)?;
            self.store_typed(v, &t, val, &vt);
            val
        } else {
            let val = Place::stack(self.slot(8)?);
            self.load(v, R0);
            self.st(Size::DW, val, R0);
            val
        };
        self.free(v);
        self.update(map, key, val)
    }

    /// `@m[k]++` and friends.
    pub(super) fn map_incdec(&mut self, m: &MapRef, target: &Expr, delta: i32, prefix: bool) -> GResult<Val> {
        let (_, map, key_ty, kind) = self.user_map(&m.name, target.span)?;
        if !matches!(kind, ValueKind::Plain(_)) {
            return Err(self.unsupported(target.span, "++ and -- on an aggregation's map"));
        }
        let old = self.map_read(m, target)?;
        self.load(old, R0);
        self.asm.emit(insn::alu_imm(Alu::Add, R0, delta));
        let new = self.keep(R0)?;
        let key = self.build_key(key_ty.as_ref(), m.keys.as_deref(), 0)?;
        let val = self.slot(8)?;
        self.load(new, R0);
        self.asm.emit(insn::stx(Size::DW, FP, val, R0));
        self.update(map, key, Place::stack(val))?;
        if prefix {
            self.free(old);
            Ok(new)
        } else {
            self.free(new);
            Ok(old)
        }
    }

    /// `@m[k] = count()`, `sum(v)`, `hist(v)`, ... in a per-CPU map.
    #[allow(clippy::too_many_arguments)]
    fn aggregate(
        &mut self,
        agg: AggKind,
        args: &[Expr],
        map: MapId,
        key_ty: Option<&Type>,
        keys: Option<&[Expr]>,
        kind: &ValueKind,
        call: &Expr,
    ) -> GResult<()> {
        if agg == AggKind::Tseries {
            return self.tseries(args, map, key_ty, keys, kind, call);
        }
        let v = match args.first() {
            Some(a) if agg != AggKind::Count => {
                let v = self.expr(a)?;
                // Keep it in a register or slot that survives helper calls.
                self.load(v, R0);
                self.free(v);
                self.keep(R0)?
            }
            _ => Val::Imm(1),
        };
        let bucket = match kind {
            ValueKind::Hist { k } => {
                self.load(v, R0);
                self.log2_bucket(*k);
                Some(self.keep(R1)?)
            }
            ValueKind::Lhist { min, max, step } => {
                self.load(v, R0);
                self.linear_bucket(*min, *max, *step);
                Some(self.keep(R0)?)
            }
            _ => None,
        };
        let key = match bucket {
            Some(b) => self.bucketed_key(key_ty, keys, b)?,
            None => self.build_key(key_ty, keys, 0)?,
        };
        let fresh = self.slot(16)?;
        self.lookup(map, key);
        let missing = self.asm.new_label();
        let end = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, missing);
        // R0: this CPU's value.
        let (vr, tmp) = (R2, R1);
        match agg {
            AggKind::Count | AggKind::Sum | AggKind::Hist | AggKind::Lhist => {
                // Counts and buckets add one; a sum adds the value.
                if bucket.is_some() || agg == AggKind::Count {
                    self.asm.emit(insn::mov_imm(vr, 1));
                } else {
                    self.load(v, vr);
                }
                self.add_at(R0, 0, vr, tmp);
            }
            AggKind::Avg | AggKind::Stats => {
                self.load(v, vr);
                self.add_at(R0, 0, vr, tmp);
                self.asm.emit(insn::mov_imm(vr, 1));
                self.add_at(R0, 8, vr, tmp);
            }
            AggKind::Min | AggKind::Max => {
                self.load(v, vr);
                self.keep_min_or_max(agg == AggKind::Min, true, vr, tmp);
            }
            AggKind::Tseries => return Err(self.unsupported(call.span, "tseries()")),
        }
        self.asm.jump(end);
        self.asm.bind(missing);
        // No value on this CPU yet: store the first one.
        self.load(v, R0);
        match agg {
            AggKind::Count | AggKind::Hist | AggKind::Lhist => self.asm.emit(insn::st_imm(Size::DW, FP, fresh, 1)),
            AggKind::Sum => self.asm.emit(insn::stx(Size::DW, FP, fresh, R0)),
            AggKind::Avg | AggKind::Stats => {
                self.asm.emit(insn::stx(Size::DW, FP, fresh, R0));
                self.asm.emit(insn::st_imm(Size::DW, FP, fresh + 8, 1));
            }
            _ => {
                self.asm.emit(insn::stx(Size::DW, FP, fresh, R0));
                self.asm.emit(insn::st_imm(Size::DW, FP, fresh + 8, 1));
            }
        }
        self.update(map, key, Place::stack(fresh))?;
        self.asm.bind(end);
        self.free(v);
        Ok(())
    }

    /// `@m[k] = tseries(v, interval, n[, agg])`: into the slot of this
    /// interval (`epoch % n`), as 0.26 keeps it: a slot holding an older
    /// interval starts over; a plain series keeps the last value and when
    /// it came, the others combine the interval's values.
    fn tseries(
        &mut self,
        args: &[Expr],
        map: MapId,
        key_ty: Option<&Type>,
        keys: Option<&[Expr]>,
        kind: &ValueKind,
        call: &Expr,
    ) -> GResult<()> {
        let (Some(arg), &ValueKind::Tseries { interval_ns, num_intervals, agg, signed }) = (args.first(), kind) else {
            return Err(self.unsupported(call.span, "this tseries()"));
        };
        let v = self.expr(arg)?;
        self.load(v, R0);
        self.free(v);
        let v = self.keep(R0)?;
        let now = match self.b.options.clock_map.as_deref().map(|m| m.trim_start_matches('@')) {
            Some(name) if self.b.checked.maps.contains_key(name) => {
                let m = MapRef { name: name.to_string(), name_span: call.span, keys: None };
                self.map_read(&m, call)?
            }
            _ => self.clock("sw_tai", call.span)?,
        };
        self.load(now, R0);
        self.divide_by(R0, interval_ns, Alu::Div);
        let epoch = self.keep(R0)?;
        self.load(epoch, R0);
        self.divide_by(R0, num_intervals, Alu::Mod);
        let slot = self.keep(R0)?;
        let key = self.bucketed_key(key_ty, keys, slot)?;
        let fresh = self.slot(24)?;
        self.lookup(map, key);
        let missing = self.asm.new_label();
        let end = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, missing);
        // R0: this CPU's slot.
        let (vr, tmp) = (R2, R1);
        if agg != TseriesAgg::Last {
            let same = self.asm.new_label();
            self.asm.emit(insn::ldx(Size::DW, tmp, R0, 16));
            self.load(epoch, vr);
            self.asm.jump_reg(Jmp::Jeq, tmp, vr, same);
            self.asm.emit(insn::st_imm(Size::DW, R0, 0, 0));
            self.asm.emit(insn::st_imm(Size::DW, R0, 8, 0));
            self.asm.bind(same);
        }
        self.load(v, vr);
        match agg {
            TseriesAgg::Last => {
                self.asm.emit(insn::stx(Size::DW, R0, 0, vr));
                self.load(now, tmp);
                self.asm.emit(insn::stx(Size::DW, R0, 8, tmp));
            }
            TseriesAgg::Sum => self.add_at(R0, 0, vr, tmp),
            TseriesAgg::Avg => {
                self.add_at(R0, 0, vr, tmp);
                self.asm.emit(insn::mov_imm(vr, 1));
                self.add_at(R0, 8, vr, tmp);
            }
            TseriesAgg::Min | TseriesAgg::Max => self.keep_min_or_max(agg == TseriesAgg::Min, signed, vr, tmp),
        }
        self.load(epoch, tmp);
        self.asm.emit(insn::stx(Size::DW, R0, 16, tmp));
        self.asm.jump(end);
        self.asm.bind(missing);
        // No slot on this CPU yet: the first value of its interval.
        self.load(v, R0);
        self.asm.emit(insn::stx(Size::DW, FP, fresh, R0));
        match agg {
            TseriesAgg::Last => {
                self.load(now, R0);
                self.asm.emit(insn::stx(Size::DW, FP, fresh + 8, R0));
            }
            TseriesAgg::Sum => self.asm.emit(insn::st_imm(Size::DW, FP, fresh + 8, 0)),
            TseriesAgg::Avg | TseriesAgg::Min | TseriesAgg::Max => {
                self.asm.emit(insn::st_imm(Size::DW, FP, fresh + 8, 1))
            }
        }
        self.load(epoch, R0);
        self.asm.emit(insn::stx(Size::DW, FP, fresh + 16, R0));
        self.update(map, key, Place::stack(fresh))?;
        self.asm.bind(end);
        for x in [v, now, epoch] {
            self.free(x);
        }
        Ok(())
    }

    /// The key of a map whose kernel key has a bucket (hist, lhist) or slot
    /// (tseries) after the user's key: both, the bucket's value given back.
    fn bucketed_key(&mut self, key_ty: Option<&Type>, keys: Option<&[Expr]>, bucket: Val) -> GResult<Place> {
        let key_size = layout::bucket_offset(key_ty);
        let pad = key_size - key_ty.map_or(8, size_of);
        let key = self.build_key(key_ty, keys, pad + 8)?;
        self.load(bucket, R0);
        self.free(bucket);
        self.st(Size::DW, key.at(key_size), R0);
        Ok(key)
    }

    /// `{ value, is_set }` at R0 keeps the smaller (or larger) of itself and
    /// `vr`, compared signed or not; the first value is kept as it is.
    fn keep_min_or_max(&mut self, min: bool, signed: bool, vr: Reg, tmp: Reg) {
        let store = self.asm.new_label();
        let skip = self.asm.new_label();
        self.asm.emit(insn::ldx(Size::DW, tmp, R0, 8));
        self.asm.jump_imm(Jmp::Jeq, tmp, 0, store);
        self.asm.emit(insn::ldx(Size::DW, tmp, R0, 0));
        let keep_old = match (min, signed) {
            (true, true) => Jmp::Jsle,
            (true, false) => Jmp::Jle,
            (false, true) => Jmp::Jsge,
            (false, false) => Jmp::Jge,
        };
        self.asm.jump_reg(keep_old, tmp, vr, skip);
        self.asm.bind(store);
        self.asm.emit(insn::stx(Size::DW, R0, 0, vr));
        self.asm.emit(insn::st_imm(Size::DW, R0, 8, 1));
        self.asm.bind(skip);
    }

    /// `r = r / d` or `r = r % d`, unsigned, for a divisor known when
    /// compiling (clobbers R1 when it does not fit an immediate).
    fn divide_by(&mut self, r: Reg, d: u64, op: Alu) {
        match i32::try_from(d) {
            Ok(imm) => self.asm.emit(insn::alu_imm(op, r, imm)),
            Err(_) => {
                self.asm.emit_all(insn::ld_imm64(R1, d as i64));
                self.asm.emit(insn::alu_reg(op, r, R1));
            }
        }
    }

    /// `*(u64 *)(base + off) += v`
    fn add_at(&mut self, base: Reg, off: i16, v: Reg, tmp: Reg) {
        self.asm.emit(insn::ldx(Size::DW, tmp, base, off));
        self.asm.emit(insn::alu_reg(Alu::Add, tmp, v));
        self.asm.emit(insn::stx(Size::DW, base, off, tmp));
    }

    /// `R1 = hist bucket of R0` with `2^k` buckets per power of two, as
    /// bpftrace numbers them: 0 for negatives; `v + 1` for `v < 2^k`;
    /// else, with `l = floor(log2(v)) - k`, `((l + 1) << k) + x + 1` where
    /// `x` is the `k` bits after the leading one. With `k = 0` that is 1
    /// for 0 and `2 + floor(log2(v))` above. Clobbers R0, R2 and R3.
    fn log2_bucket(&mut self, k: u8) {
        let k = i32::from(k);
        let mask = (1 << k) - 1;
        let done = self.asm.new_label();
        let large = self.asm.new_label();
        self.asm.emit(insn::mov_imm(R1, 0));
        self.asm.jump_imm(Jmp::Jslt, R0, 0, done);
        self.asm.jump_imm(Jmp::Jgt, R0, mask, large);
        self.asm.emit(insn::mov_reg(R1, R0));
        self.asm.emit(insn::alu_imm(Alu::Add, R1, 1));
        self.asm.jump(done);
        self.asm.bind(large);
        // R1 = floor(log2(v)), keeping v in R3.
        self.asm.emit(insn::mov_reg(R3, R0));
        self.asm.emit(insn::mov_imm(R1, 0));
        for shift in [32, 16, 8, 4, 2, 1] {
            let skip = self.asm.new_label();
            self.asm.emit(insn::mov_reg(R2, R0));
            self.asm.emit(insn::alu_imm(Alu::Rsh, R2, shift));
            self.asm.jump_imm(Jmp::Jeq, R2, 0, skip);
            self.asm.emit(insn::mov_reg(R0, R2));
            self.asm.emit(insn::alu_imm(Alu::Add, R1, shift));
            self.asm.bind(skip);
        }
        if k > 0 {
            // x = (v >> (log2 - k)) & mask
            self.asm.emit(insn::alu_imm(Alu::Sub, R1, k));
            self.asm.emit(insn::alu_reg(Alu::Rsh, R3, R1));
            self.asm.emit(insn::alu_imm(Alu::And, R3, mask));
        } else {
            self.asm.emit(insn::mov_imm(R3, 0));
        }
        self.asm.emit(insn::alu_imm(Alu::Add, R1, 1));
        self.asm.emit(insn::alu_imm(Alu::Lsh, R1, k));
        self.asm.emit(insn::alu_reg(Alu::Add, R1, R3));
        self.asm.emit(insn::alu_imm(Alu::Add, R1, 1));
        self.asm.bind(done);
    }

    /// `R0 = lhist bucket of R0`: 0 below `min`, `buckets + 1` at or above
    /// `max`, else `(v - min) / step + 1`.
    fn linear_bucket(&mut self, min: i64, max: i64, step: i64) {
        let buckets = (max - min) / step.max(1);
        let done = self.asm.new_label();
        let below = self.asm.new_label();
        let above = self.asm.new_label();
        self.load_imm(R1, min);
        self.asm.jump_reg(Jmp::Jslt, R0, R1, below);
        self.load_imm(R1, max);
        self.asm.jump_reg(Jmp::Jsge, R0, R1, above);
        self.load_imm(R1, min);
        self.asm.emit(insn::alu_reg(Alu::Sub, R0, R1));
        self.load_imm(R1, step.max(1));
        self.asm.emit(insn::alu_reg(Alu::Div, R0, R1));
        self.asm.emit(insn::alu_imm(Alu::Add, R0, 1));
        self.asm.jump(done);
        self.asm.bind(below);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.jump(done);
        self.asm.bind(above);
        self.load_imm(R0, buckets + 1);
        self.asm.bind(done);
    }

    /// `delete(@m, k)` / `delete(@m[k])`: 1 if the key was there.
    pub(super) fn map_delete(&mut self, name: &str, keys: Option<&[Expr]>, span: bpfscope_lang::Span) -> GResult<Val> {
        let (_, map, key_ty, kind) = self.user_map(name, span)?;
        if kind.has_bucket() {
            return Err(self.unsupported(span, "delete() on a histogram's map"));
        }
        let key = self.build_key(key_ty.as_ref(), keys, 0)?;
        self.asm.load_map(R1, map);
        self.addr(R2, key);
        self.asm.emit(insn::call(Helper::MapDeleteElem));
        self.zero_is_true()
    }

    /// `has_key(@m, k)`
    pub(super) fn map_has_key(&mut self, name: &str, keys: Option<&[Expr]>, span: bpfscope_lang::Span) -> GResult<Val> {
        let (_, map, key_ty, kind) = self.user_map(name, span)?;
        if kind.has_bucket() {
            return Err(self.unsupported(span, "has_key() on a histogram's map"));
        }
        let key = self.build_key(key_ty.as_ref(), keys, 0)?;
        self.lookup(map, key);
        let yes = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, yes);
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.bind(yes);
        self.keep(R0)
    }

    /// `R0 == 0` as a 0/1 value.
    fn zero_is_true(&mut self) -> GResult<Val> {
        self.test_r0(Jmp::Jeq, 0)
    }

    /// `R0 jmp imm` (`Jeq`, `Jlt`, ...) as a 0/1 value.
    pub(super) fn test_r0(&mut self, jmp: Jmp, imm: i32) -> GResult<Val> {
        let t = self.asm.new_label();
        let end = self.asm.new_label();
        self.asm.jump_imm(jmp, R0, imm, t);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.jump(end);
        self.asm.bind(t);
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.bind(end);
        self.keep(R0)
    }

    /// The index of a user map, for events that name it.
    pub(super) fn user_map_index(&self, name: &str, span: bpfscope_lang::Span) -> GResult<usize> {
        Ok(self.user_map(name, span)?.0)
    }
}
