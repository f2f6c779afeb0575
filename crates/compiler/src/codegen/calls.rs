//! Function calls: output through the ring buffer, map functions, strings.

use bpfscope_lang::ast::*;
use bpfscope_lang::check::Type;
use bpfscope_lang::format;

use super::{GResult, Gen, Val};
use crate::insn::{self, Alu, FP, Helper, Jmp, R0, R1, R2, R3, R4, Size};
use crate::layout::{self, is_aggregate, size_of};
use crate::program::{EventKind, PrintfSpec};

impl Gen<'_, '_> {
    pub(super) fn call(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        match c.name.as_str() {
            "printf" => {
                self.formatted(EventKind::Printf, c, e)?;
                Ok(Val::Nothing)
            }
            "cat" => {
                self.formatted(EventKind::Cat, c, e)?;
                Ok(Val::Nothing)
            }
            "exit" => {
                let code = match c.args.first() {
                    Some(a) => self.expr(a)?,
                    None => Val::Imm(0),
                };
                self.event(EventKind::Exit, &[code], &[])?;
                let exit = self.exit;
                self.asm.jump(exit);
                Ok(Val::Nothing)
            }
            "print" => self.print(c, e),
            "clear" | "zero" => {
                let Some(Expr { kind: ExprKind::Map(m), span, .. }) = c.args.first() else {
                    return Err(self.unsupported(e.span, "this argument"));
                };
                let index = self.user_map_index(&m.name, *span)? as i64;
                let kind = if c.name == "clear" { EventKind::ClearMap } else { EventKind::ZeroMap };
                self.event(kind, &[Val::Imm(index)], &[])?;
                Ok(Val::Nothing)
            }
            "time" => {
                let fmt = match c.args.first().map(|a| &a.kind) {
                    Some(ExprKind::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                    _ => "%H:%M:%S\n".to_string(),
                };
                let id = self.b.out.time_formats.len() as i64;
                self.b.out.time_formats.push(fmt);
                self.event(EventKind::Time, &[Val::Imm(id)], &[])?;
                Ok(Val::Nothing)
            }
            "delete" => match c.args.as_slice() {
                [Expr { kind: ExprKind::Map(m), span, .. }] => self.map_delete(&m.name, m.keys.as_deref(), *span),
                [Expr { kind: ExprKind::Map(m), span, .. }, key] => {
                    self.map_delete(&m.name, Some(std::slice::from_ref(key)), *span)
                }
                _ => Err(self.unsupported(e.span, "this form of delete()")),
            },
            "has_key" => match c.args.as_slice() {
                [Expr { kind: ExprKind::Map(m), span, .. }, key] => {
                    self.map_has_key(&m.name, Some(std::slice::from_ref(key)), *span)
                }
                _ => Err(self.unsupported(e.span, "this form of has_key()")),
            },
            "str" => self.str_call(c, e),
            "buf" => self.buf_call(c, e),
            "join" => self.join(c, e),
            "ntop" => self.ntop(c, e),
            "strncmp" => self.strncmp(c, e),
            "signal" | "signal_thread" => {
                let Some(arg) = c.args.first() else { return Err(self.unsupported(e.span, "signal()")) };
                let sig = match &arg.kind {
                    ExprKind::Str(name) => {
                        let name = String::from_utf8_lossy(name);
                        Val::Imm(i64::from(signal_number(&name).ok_or_else(|| {
                            bpfscope_lang::Diagnostic::error(arg.span, format!("'{name}' is not a signal"))
                                .with_hint("use a name such as \"SIGKILL\" or \"KILL\", or a number")
                        })?))
                    }
                    _ => self.expr(arg)?,
                };
                self.load(sig, R1);
                self.free(sig);
                let helper = if c.name == "signal" { Helper::SendSignal } else { Helper::SendSignalThread };
                self.asm.emit(insn::call(helper));
                Ok(Val::Nothing)
            }
            "kaddr" => match c.args.first().map(|a| &a.kind) {
                Some(ExprKind::Str(name)) => {
                    let name = String::from_utf8_lossy(name).into_owned();
                    match bpfscope_probes::symbols::kernel_address(&name) {
                        Some(address) => Ok(Val::Imm(address as i64)),
                        None => Err(bpfscope_lang::Diagnostic::error(
                            e.span,
                            format!("no kernel symbol named '{name}' (or /proc/kallsyms is unreadable)"),
                        )),
                    }
                }
                _ => Err(self.unsupported(e.span, "kaddr() of this")),
            },
            "reg" => match c.args.first().map(|a| &a.kind) {
                Some(ExprKind::Str(r)) => self.register(&String::from_utf8_lossy(r), e.span),
                _ => Err(self.unsupported(e.span, "reg() of this")),
            },
            "ustack" | "kstack" => {
                // The mode (an identifier) only changes how stacks print.
                let limit = c.args.iter().find_map(|a| match a.kind {
                    ExprKind::Int(n) => u32::try_from(n).ok(),
                    _ => None,
                });
                self.stack(c.name == "ustack", limit, e.span)
            }
            // Only the checker cares which address space a pointer is in.
            "uptr" | "kptr" => match c.args.first() {
                Some(a) => self.expr(a),
                None => Err(self.unsupported(e.span, "this call")),
            },
            "len" => match c.args.first() {
                Some(Expr { kind: ExprKind::Map(m), span, .. }) => self.map_len(m, *span),
                _ => Err(self.unsupported(e.span, "len() of this")),
            },
            name if bpfscope_lang::builtins::BUILTIN_VARIABLES.contains(&name) && c.args.is_empty() => {
                let ident = Expr::new(ExprKind::Ident(name.to_string()), e.span);
                self.expr(&Expr { id: e.id, ..ident })
            }
            name => Err(self.unsupported(c.name_span, &format!("{name}()"))),
        }
    }

    /// `strncmp(a, b, n)`: 0 when the strings agree in their first `n`
    /// bytes (or up to where both end), else 1. `n` is a constant.
    fn strncmp(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [sa, sb, n] = c.args.as_slice() else {
            return Err(self.unsupported(e.span, "strncmp() with these arguments"));
        };
        let ExprKind::Int(n) = n.kind else { return Err(self.unsupported(n.span, "a length that is not a constant")) };
        let (na, nb) = (size_of(&self.ty(sa)), size_of(&self.ty(sb)));
        let a = self.expr(sa)?;
        let b = self.expr(sb)?;
        let (Val::Mem(a), Val::Mem(b)) = (a, b) else { return Err(self.unsupported(e.span, "strncmp() of these")) };
        let differ = self.asm.new_label();
        let same = self.asm.new_label();
        let end = self.asm.new_label();
        let limit = u32::try_from(n).unwrap_or(0).min(na.max(nb));
        for i in 0..limit {
            // Past its end, a string reads as its terminating NUL.
            let byte = |g: &mut Self, r, base: i16, len: u32| {
                if i < len {
                    g.asm.emit(insn::ldx(Size::B, r, FP, base + i as i16));
                } else {
                    g.asm.emit(insn::mov_imm(r, 0));
                }
            };
            byte(self, R1, a, na);
            byte(self, R2, b, nb);
            self.asm.jump_reg(Jmp::Jne, R1, R2, differ);
            self.asm.jump_imm(Jmp::Jeq, R1, 0, same);
        }
        self.asm.bind(same);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.jump(end);
        self.asm.bind(differ);
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.bind(end);
        self.keep(R0)
    }

    /// `ntop([family,] address)`: an address to print, kept as bpftrace
    /// keeps it: the family (8 bytes), then 16 bytes of address. The
    /// family, when not given, follows the address: 16 bytes are IPv6,
    /// else IPv4 (an integer in network byte order, or 4 bytes).
    fn ntop(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        const AF_INET: i32 = 2;
        const AF_INET6: i32 = 10;
        let (family, address) = match c.args.as_slice() {
            [a] => (None, a),
            [f, a] => (Some(f), a),
            _ => return Err(self.unsupported(e.span, "ntop() with these arguments")),
        };
        let t = self.ty(address);
        let off = self.alloc(24)?;
        self.zero(off, 24);
        match family {
            Some(f) => {
                let v = self.expr(f)?;
                self.load(v, R0);
                self.free(v);
                self.asm.emit(insn::stx(Size::DW, FP, off, R0));
            }
            None => {
                let v6 = matches!(&t, Type::Array(_, 16));
                self.asm.emit(insn::st_imm(Size::DW, FP, off, if v6 { AF_INET6 } else { AF_INET }));
            }
        }
        let v = self.expr(address)?;
        match v {
            Val::Mem(src) => self.copy_from(FP, src, off + 8, size_of(&t).min(16)),
            other => {
                self.load(other, R0);
                self.asm.emit(insn::stx(Size::W, FP, off + 8, R0));
            }
        }
        self.free(v);
        Ok(Val::Mem(off))
    }

    /// Sends `[kind][words...][payload...]` through the ring buffer.
    /// Returns the payload's offsets within the record.
    pub(super) fn event(&mut self, kind: EventKind, words: &[Val], payload: &[(Val, Type)]) -> GResult<Vec<u32>> {
        let head = 8 + 8 * words.len() as u32;
        let mut offsets = Vec::new();
        let mut size = head;
        for (_, t) in payload {
            offsets.push(size);
            size += layout::align8(size_of(t)).max(8);
        }
        let off = self.alloc(size)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, off, kind as i32));
        for (i, w) in words.iter().enumerate() {
            self.load(*w, R0);
            self.asm.emit(insn::stx(Size::DW, FP, off + 8 + 8 * i as i16, R0));
        }
        for ((v, t), at) in payload.iter().zip(&offsets) {
            let slot = layout::align8(size_of(t)).max(8);
            self.store_val(*v, t, off + *at as i16, slot);
        }
        self.output(off, size)?;
        Ok(offsets)
    }

    /// `join(argv[, sep])`: the strings of a NULL-terminated array of
    /// pointers, gathered in a per-CPU buffer (too big for the stack) and
    /// sent as one event.
    fn join(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        use crate::program::{JOIN_ARG_SIZE, JOIN_ARGS};
        let Some(array) = c.args.first() else { return Err(self.unsupported(e.span, "join()")) };
        let sep = match c.args.get(1).map(|a| &a.kind) {
            Some(ExprKind::Str(s)) => String::from_utf8_lossy(s).into_owned(),
            _ => " ".to_string(),
        };
        let id = self.b.out.join_separators.len() as i32;
        self.b.out.join_separators.push(sep);
        let read_ptr = if self.user_pointers() { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
        let read_str = if self.user_pointers() { Helper::ProbeReadUserStr } else { Helper::ProbeReadKernelStr };
        let argv = self.expr(array)?;
        let argv_slot = self.alloc(8)?;
        self.load(argv, R0);
        self.free(argv);
        self.asm.emit(insn::stx(Size::DW, FP, argv_slot, R0));
        // The buffer: [kind][id][count][strings...].
        let map = self.b.join_buffer();
        let key = self.alloc(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, key, 0));
        self.lookup(map, key);
        let done = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, done);
        let buf_slot = self.alloc(8)?;
        self.asm.emit(insn::stx(Size::DW, FP, buf_slot, R0));
        self.asm.emit(insn::st_imm(Size::DW, R0, 0, EventKind::Join as i32));
        self.asm.emit(insn::st_imm(Size::DW, R0, 8, id));
        self.asm.emit(insn::st_imm(Size::DW, R0, 16, 0));
        let ptr_slot = self.alloc(8)?;
        let send = self.asm.new_label();
        for i in 0..JOIN_ARGS {
            // ptr = argv[i]; stop at NULL.
            self.addr(R1, ptr_slot);
            self.asm.emit(insn::mov_imm(R2, 8));
            self.asm.emit(insn::ldx(Size::DW, R3, FP, argv_slot));
            self.asm.emit(insn::alu_imm(Alu::Add, R3, (8 * i) as i32));
            self.asm.emit(insn::call(read_ptr));
            self.asm.jump_imm(Jmp::Jne, R0, 0, send);
            self.asm.emit(insn::ldx(Size::DW, R3, FP, ptr_slot));
            self.asm.jump_imm(Jmp::Jeq, R3, 0, send);
            self.asm.emit(insn::ldx(Size::DW, R1, FP, buf_slot));
            self.asm.emit(insn::st_imm(Size::DW, R1, 16, i as i32 + 1));
            self.asm.emit(insn::alu_imm(Alu::Add, R1, (24 + i * JOIN_ARG_SIZE) as i32));
            self.asm.emit(insn::mov_imm(R2, JOIN_ARG_SIZE as i32));
            self.asm.emit(insn::call(read_str));
        }
        self.asm.bind(send);
        self.asm.emit(insn::ldx(Size::DW, R2, FP, buf_slot));
        self.ringbuf_output(24 + JOIN_ARGS * JOIN_ARG_SIZE)?;
        self.asm.bind(done);
        Ok(Val::Nothing)
    }

    /// `bpf_ringbuf_output(events, fp + off, size, 0)`, counting a loss.
    fn output(&mut self, off: i16, size: u32) -> GResult<()> {
        self.addr(R2, off);
        self.ringbuf_output(size)
    }

    /// `bpf_ringbuf_output(events, R2, size, 0)`, counting a loss.
    fn ringbuf_output(&mut self, size: u32) -> GResult<()> {
        let rb = self.b.out.ringbuf.ok_or_else(|| self.unsupported(self.asm.span(), "output"))?;
        self.asm.load_map(R1, rb);
        self.asm.emit(insn::mov_imm(R3, size as i32));
        self.asm.emit(insn::mov_imm(R4, 0));
        self.asm.emit(insn::call(Helper::RingbufOutput));
        let ok = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, ok);
        self.count_lost()?;
        self.asm.bind(ok);
        Ok(())
    }

    /// printf and cat: a format and its arguments, sent to user space.
    fn formatted(&mut self, kind: EventKind, c: &Call, e: &Expr) -> GResult<()> {
        let Some(ExprKind::Str(fmt)) = c.args.first().map(|a| &a.kind) else {
            return Err(self.unsupported(e.span, "a printf() format that is not a literal"));
        };
        let pieces = format::parse_format(fmt).map_err(|err| self.unsupported(e.span, &err.message))?;
        let mut payload = Vec::new();
        for a in &c.args[1..] {
            let v = self.expr(a)?;
            let t = self.ty(a);
            payload.push((v, t));
        }
        let table = if kind == EventKind::Cat { &self.b.out.cats } else { &self.b.out.printfs };
        let id = table.len() as i64;
        let offsets = self.event(kind, &[Val::Imm(id)], &payload)?;
        for (v, _) in &payload {
            self.free(*v);
        }
        let args = payload.into_iter().map(|(_, t)| t).zip(offsets).collect();
        let spec = PrintfSpec { pieces, args, span: e.span };
        if kind == EventKind::Cat {
            self.b.out.cats.push(spec);
        } else {
            self.b.out.printfs.push(spec);
        }
        Ok(())
    }

    fn print(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        match c.args.first() {
            Some(Expr { kind: ExprKind::Map(m @ MapRef { keys: None, .. }), span, .. }) => {
                let index = self.user_map_index(&m.name, *span)? as i64;
                let mut words = vec![Val::Imm(index)];
                for a in c.args.iter().skip(1).take(2) {
                    words.push(self.expr(a)?);
                }
                words.resize(3, Val::Imm(0));
                self.event(EventKind::PrintMap, &words, &[])?;
                for w in words {
                    self.free(w);
                }
            }
            Some(a) => {
                let v = self.expr(a)?;
                let t = self.ty(a);
                let id = self.b.out.print_values.len() as i64;
                self.b.out.print_values.push(t.clone());
                self.event(EventKind::PrintValue, &[Val::Imm(id)], &[(v, t)])?;
                self.free(v);
            }
            None => return Err(self.unsupported(e.span, "print() without an argument")),
        }
        Ok(Val::Nothing)
    }

    /// `buf(ptr, n)`, `buf(array)`: `[length: u64][bytes...]`.
    fn buf_call(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Type::Buffer(cap) = self.ty(e) else { return Err(self.unsupported(e.span, "buf() here")) };
        let cap = u32::try_from(cap).unwrap_or(u32::MAX);
        let Some(src) = c.args.first() else { return Err(self.unsupported(e.span, "buf()")) };
        let st = self.ty(src);
        let dst = self.alloc(8 + cap)?;
        self.zero(dst, 8 + cap);
        if is_aggregate(&st) {
            let v = self.expr(src)?;
            let n = size_of(&st).min(cap);
            self.store_val(v, &st, dst + 8, n);
            self.asm.emit(insn::st_imm(Size::DW, FP, dst, n as i32));
            return Ok(Val::Mem(dst));
        }
        let Some(len) = c.args.get(1) else {
            return Err(bpfscope_lang::Diagnostic::error(e.span, "buf() of a pointer needs a length")
                .with_hint("give the number of bytes to read, as in buf(arg0, 16)"));
        };
        let ptr = self.expr(src)?;
        let len = self.expr(len)?;
        self.load(len, R2);
        self.free(len);
        // At most `cap` bytes (compared unsigned, so a negative length reads
        // `cap`): the bound the verifier needs to see.
        let ok = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jle, R2, cap as i32, ok);
        self.asm.emit(insn::mov_imm(R2, cap as i32));
        self.asm.bind(ok);
        self.asm.emit(insn::stx(Size::DW, FP, dst, R2));
        self.load(ptr, R3);
        self.free(ptr);
        self.addr(R1, dst + 8);
        let read = if self.user_pointers() { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
        self.asm.emit(insn::call(read));
        Ok(Val::Mem(dst))
    }

    /// `str(s)`, `str(ptr[, n])`.
    fn str_call(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Type::Str(cap) = self.ty(e) else { return Err(self.unsupported(e.span, "str() here")) };
        let cap = u32::try_from(cap).unwrap_or(u32::MAX);
        let Some(src) = c.args.first() else { return Err(self.unsupported(e.span, "str()")) };
        let st = self.ty(src);
        let v = self.expr(src)?;
        let off = self.alloc(cap)?;
        self.zero(off, cap);
        if is_aggregate(&st) {
            self.store_val(v, &st, off, cap);
            // Keep the result a string: always NUL-terminated.
            self.asm.emit(insn::st_imm(Size::B, FP, off + cap as i16 - 1, 0));
            return Ok(Val::Mem(off));
        }
        self.load(v, R3);
        self.free(v);
        self.addr(R1, off);
        self.asm.emit(insn::mov_imm(R2, cap as i32));
        let helper = if self.user_pointers() { Helper::ProbeReadUserStr } else { Helper::ProbeReadKernelStr };
        self.asm.emit(insn::call(helper));
        Ok(Val::Mem(off))
    }
}

/// A signal's number from its name, with or without `SIG`.
fn signal_number(name: &str) -> Option<i32> {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
        "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF",
        "WINCH", "IO", "PWR", "SYS",
    ];
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    NAMES.iter().position(|n| *n == bare).map(|i| i as i32 + 1)
}
