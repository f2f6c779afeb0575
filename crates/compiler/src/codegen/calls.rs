//! Function calls: output through the ring buffer, map functions, strings.

use bpfscope_lang::ast::*;
use bpfscope_lang::check::{NumberKind, Type};
use bpfscope_lang::format;

use super::{GResult, Gen, Place, Val};
use crate::insn::{self, Alu, FP, Helper, Jmp, R0, R1, R2, R3, R4, R5, Size};
use crate::layout::{self, is_aggregate, size_of};
use crate::program::{EventKind, PrintfSeverity, PrintfSpec, RuntimeWarning, RuntimeWarningKind};

impl Gen<'_, '_> {
    pub(super) fn call(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        match c.name.as_str() {
            "printf" | "errorf" | "warnf" => {
                self.formatted(EventKind::Printf, c, e)?;
                Ok(Val::Nothing)
            }
            "fail" => Err(self.fail(c, e)),
            "cat" => {
                self.formatted(EventKind::Cat, c, e)?;
                Ok(Val::Nothing)
            }
            "system" => {
                self.formatted(EventKind::System, c, e)?;
                Ok(Val::Nothing)
            }
            "exit" => {
                let code = match c.args.first() {
                    Some(a) => self.expr(a)?,
                    None => Val::Imm(0),
                };
                self.event(EventKind::Exit, &[code], &[])?;
                self.note_exit(code)?;
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
            "find" => self.find(c, e),
            // The probed kernel function returns this instead of running
            // (bpf_override_return: functions open to error injection).
            "override" => {
                let Some(a) = c.args.first() else { return Err(self.unsupported(e.span, "override()")) };
                if !self.b.options.override_return {
                    return Err(bpfscope_lang::Diagnostic::error(
                        e.span,
                        "override() needs the kernel's bpf_override_return helper, which this kernel does not have",
                    )
                    .with_hint(
                        "the kernel must be built with CONFIG_BPF_KPROBE_OVERRIDE (and function error injection)",
                    ));
                }
                self.ctx(e.span, "override()")?;
                let v = self.expr(a)?;
                self.load(v, R2);
                self.free(v);
                self.asm.emit(insn::mov_reg(R1, crate::insn::R9));
                self.asm.emit(insn::call(Helper::OverrideReturn));
                Ok(Val::Nothing)
            }
            "assert_str" => Ok(Val::Nothing),
            "default_str_length" => {
                Ok(Val::Imm(bpfscope_lang::check::configured_max_strlen(&self.b.checked.program) as i64))
            }
            "debugf" => self.debugf(c, e),
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
                        Val::Imm(i64::from(crate::names::signal_number(&name).ok_or_else(|| {
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
                    match bpfscope_probes::kernel::kernel_address(&name) {
                        Some(address) => Ok(Val::Imm(address as i64)),
                        None => Err(bpfscope_lang::Diagnostic::error(
                            e.span,
                            format!("no kernel symbol named '{name}' (or /proc/kallsyms is unreadable)"),
                        )),
                    }
                }
                _ => Err(self.unsupported(e.span, "kaddr() of this")),
            },
            "percpu_kaddr" => self.percpu_kaddr(c, e),
            "skboutput" => self.skboutput(c, e),
            "uaddr" => self.uaddr(c, e),
            // bpf_get_socket_cookie(sk): 0 for a null socket.
            "socket_cookie" => {
                let Some(sk) = c.args.first() else { return Err(self.unsupported(e.span, "socket_cookie()")) };
                let v = self.expr(sk)?;
                self.load(v, R1);
                self.free(v);
                self.asm.emit(insn::call(Helper::GetSocketCookie));
                self.keep(R0)
            }
            "reg" => match c.args.first().map(|a| &a.kind) {
                Some(ExprKind::Str(r)) => self.register(&String::from_utf8_lossy(r), e.span),
                _ => Err(self.unsupported(e.span, "reg() of this")),
            },
            "ustack" | "kstack" | "dw_ustack" => {
                // The mode (an identifier) only changes how stacks print.
                let limit = c.args.iter().find_map(|a| match a.kind {
                    ExprKind::Int(n) => u32::try_from(n).ok(),
                    _ => None,
                });
                let mode = c.args.iter().find_map(|a| match &a.kind {
                    ExprKind::Ident(m) => crate::program::StackMode::from_name(m),
                    _ => None,
                });
                match c.name.as_str() {
                    "dw_ustack" => self.dw_stack(limit, mode, e.span),
                    name => self.stack(name == "ustack", limit, mode, e.span),
                }
            }
            // Only the checker cares which address space a pointer is in.
            "uptr" | "kptr" => match c.args.first() {
                Some(a) => self.expr(a),
                None => Err(self.unsupported(e.span, "this call")),
            },
            "comm" if !c.args.is_empty() => self.comm_of(c, e),
            "nsecs" | "pid" | "tid" => {
                let Some(ExprKind::Ident(mode)) = c.args.first().map(|a| &a.kind) else {
                    let ident = Expr::new(ExprKind::Ident(c.name.clone()), e.span);
                    return self.expr(&Expr { id: e.id, ..ident });
                };
                match c.name.as_str() {
                    "nsecs" => self.clock(mode, e.span),
                    name => self.pid_in(name == "tid", mode, e.span),
                }
            }
            "bswap" => self.bswap(c, e),
            "getopt" => self.getopt(c, e),
            // bpf_d_path(path, buf, size): the kernel refuses it outside the
            // functions it allows, which the load says.
            "path" => {
                let Some(p) = c.args.first() else { return Err(self.unsupported(e.span, "path()")) };
                let size = size_of(&self.ty(e));
                let v = self.expr(p)?;
                let dst = self.alloc(size)?;
                self.zero(dst, size);
                self.load(v, R1);
                self.free(v);
                self.addr(R2, dst);
                // path(p, n): at most n bytes (a constant, as in bpftrace).
                let n = match c.args.get(1).map(|a| &a.kind) {
                    Some(ExprKind::Int(n)) => (*n as u32).clamp(1, size),
                    _ => size,
                };
                self.asm.emit(insn::mov_imm(R3, n as i32));
                self.asm.emit(insn::call(Helper::DPath));
                Ok(Val::Mem(dst))
            }
            "strcap" => match c.args.first().map(|a| self.ty(a)) {
                Some(t @ (Type::Str(_) | Type::Array(..))) => Ok(Val::Imm(i64::from(size_of(&t)))),
                _ => Err(self.unsupported(e.span, "strcap() of this")),
            },
            // bpf_probe_write_user(dst, src, len): true where it wrote.
            "write_user" => {
                let [dst, src, len] = c.args.as_slice() else { return Err(self.unsupported(e.span, "write_user()")) };
                if !self.b.options.write_user {
                    return Err(bpfscope_lang::Diagnostic::error(
                        e.span,
                        "write_user() needs the kernel's bpf_probe_write_user helper, which this kernel refuses",
                    )
                    .with_hint(
                        "kernels in lockdown (see /sys/kernel/security/lockdown) forbid writing to user memory",
                    ));
                }
                let Val::Mem(from) = self.expr(src)? else { return Err(self.unsupported(src.span, "this source")) };
                let to = self.expr(dst)?;
                let n = self.expr(len)?;
                self.load(to, R1);
                self.load(n, R3);
                self.free(to);
                self.free(n);
                // The kernel needs a length it can bound: at most the source's size.
                let cap = size_of(&self.ty(src)) as i32;
                let ok = self.asm.new_label();
                self.asm.jump_imm(Jmp::Jle, R3, cap, ok);
                self.asm.emit(insn::mov_imm(R3, cap));
                self.asm.bind(ok);
                self.addr(R2, from);
                self.asm.emit(insn::call(Helper::ProbeWriteUser));
                self.test_r0(Jmp::Jeq, 0)
            }
            "container_of" => {
                let [p, Expr { kind: ExprKind::TypeArg(ts), .. }, Expr { kind: ExprKind::Ident(field), .. }] =
                    c.args.as_slice()
                else {
                    return Err(self.unsupported(e.span, "this container_of()"));
                };
                let BaseType::Composite { kind, name } = &ts.base else {
                    return Err(self.unsupported(e.span, "container_of() of this type"));
                };
                let offset =
                    self.offset_of_path(&format!("{} {name}", kind.keyword()), std::slice::from_ref(field), e.span)?;
                let v = self.expr(p)?;
                if let Val::Imm(a) = v {
                    return Ok(Val::Imm(a.wrapping_sub(offset as i64)));
                }
                self.load(v, R0);
                self.free(v);
                self.asm.emit(insn::alu_imm(crate::insn::Alu::Sub, R0, i32::try_from(offset).unwrap_or(i32::MAX)));
                self.keep(R0)
            }
            // Six bytes, from an array on the stack or from traced memory.
            "macaddr" => {
                let Some(a) = c.args.first() else { return Err(self.unsupported(e.span, "macaddr()")) };
                let dst = self.alloc(8)?;
                self.zero(dst, 8);
                match (self.ty(a), self.expr(a)?) {
                    (Type::Array(..), Val::Mem(src)) => self.copy_mem(src, dst, 6),
                    (Type::Pointer(_), p) => {
                        let v = self.read_memory(p, &Type::Array(Box::new(Type::Int { bits: 8, signed: false }), 6))?;
                        let Val::Mem(src) = v else { return Err(self.unsupported(a.span, "macaddr() of this")) };
                        self.copy_mem(src, dst, 6);
                    }
                    _ => return Err(self.unsupported(a.span, "macaddr() of this")),
                }
                Ok(Val::Mem(dst))
            }
            // The id, and which hierarchies to name; user space finds the path.
            "cgroup_path" => {
                let Some(a) = c.args.first() else { return Err(self.unsupported(e.span, "cgroup_path()")) };
                let filter = match c.args.get(1).map(|f| &f.kind) {
                    Some(ExprKind::Str(f)) => String::from_utf8_lossy(f).into_owned(),
                    _ => "*".to_string(),
                };
                let id = self.b.out.cgroup_filters.len() as i32;
                self.b.out.cgroup_filters.push(filter);
                let v = self.expr(a)?;
                let off = self.alloc(16)?;
                self.load(v, R0);
                self.free(v);
                self.st(Size::DW, off, R0);
                self.st_imm(Size::DW, off.at(8), id);
                Ok(Val::Mem(off))
            }
            // The address and the process; user space names it when printing.
            "usym" => {
                let Some(a) = c.args.first() else { return Err(self.unsupported(e.span, "usym()")) };
                self.b.out.symbols.user_frames = true;
                let v = self.expr(a)?;
                let off = self.alloc(16)?;
                self.load(v, R0);
                self.free(v);
                self.st(Size::DW, off, R0);
                self.asm.emit(insn::call(Helper::GetCurrentPidTgid));
                self.asm.emit(insn::alu_imm(crate::insn::Alu::Rsh, R0, 32));
                self.st(Size::DW, off.at(8), R0);
                Ok(Val::Mem(off))
            }
            // The address; user space names it when printing.
            "ksym" => match c.args.first() {
                Some(a) => self.expr(a),
                None => Err(self.unsupported(e.span, "ksym()")),
            },
            "strftime" => {
                let [fmt, ns] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
                let ExprKind::Str(fmt) = &fmt.kind else {
                    return Err(self.unsupported(fmt.span, "a format that is not a literal"));
                };
                let id = self.b.out.strftime_formats.len() as i32;
                self.b.out.strftime_formats.push(String::from_utf8_lossy(fmt).into_owned());
                let v = self.expr(ns)?;
                let off = self.alloc(16)?;
                self.load(v, R0);
                self.free(v);
                self.st(Size::DW, off, R0);
                self.st_imm(Size::DW, off.at(8), id);
                Ok(Val::Mem(off))
            }
            // A number known only at run time: user space names it.
            "strerror" | "syscall_name" | "signal_name" if matches!(self.ty(e), Type::NumberName(_)) => {
                let Some(a) = c.args.first() else { return Err(self.unsupported(e.span, "this call")) };
                self.expr(a)
            }
            "strerror" | "syscall_name" | "signal_name" => {
                let Some(n) = c.args.first().and_then(|a| self.const_value(a)) else {
                    return Err(self.unsupported(e.span, "this argument"));
                };
                let text = crate::names::number_name(NumberKind::of_function(&c.name).unwrap_or(NumberKind::Errno), n);
                let size = size_of(&self.ty(e));
                self.string_literal(text.as_bytes(), size)
            }
            "kfunc_allowed" => {
                let Some(ExprKind::Str(name)) = c.args.first().map(|a| &a.kind) else {
                    return Err(self.unsupported(e.span, "this argument"));
                };
                let name = String::from_utf8_lossy(name);
                let prog_type = crate::program::ProgType::of(self.context.provider);
                Ok(Val::Imm(i64::from(self.b.options.kfunc_allowed.as_ref().is_some_and(|k| (k.0)(prog_type, &name)))))
            }
            "kfunc_exist" => {
                let Some(ExprKind::Str(name)) = c.args.first().map(|a| &a.kind) else {
                    return Err(self.unsupported(e.span, "this argument"));
                };
                let name = String::from_utf8_lossy(name);
                Ok(Val::Imm(i64::from(self.b.options.kernel_types.as_ref().is_some_and(|k| k.has_function(&name)))))
            }
            // bpftrace 0.26: an error pointer is in -4095..-1.
            "is_err" => {
                let Some(a) = c.args.first() else { return Err(self.unsupported(e.span, "this call")) };
                let v = self.expr(a)?;
                self.load(v, R0);
                self.free(v);
                self.asm.emit(insn::alu_imm(crate::insn::Alu::Add, R0, 4095));
                self.test_r0(Jmp::Jlt, 4095)
            }
            "assert" => self.assert(c, e),
            "static_assert" => {
                let [cond, msg] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
                match (self.const_value(cond), &msg.kind) {
                    (Some(0), ExprKind::Str(m)) => {
                        Err(bpfscope_lang::Diagnostic::error(e.span, String::from_utf8_lossy(m).into_owned()))
                    }
                    (Some(_), _) => Ok(Val::Nothing),
                    (None, _) => Err(bpfscope_lang::Diagnostic::error(
                        cond.span,
                        "static_assert() needs a condition known when compiling",
                    )),
                }
            }
            "is_ptr" | "is_str" | "is_integer" | "is_unsigned_integer" | "is_array" | "is_literal" => {
                let Some(a) = c.args.first() else { return Err(self.unsupported(e.span, "this call")) };
                let t = self.ty(a);
                let yes = match c.name.as_str() {
                    "is_ptr" => matches!(t, Type::Pointer(_)),
                    "is_str" => matches!(t, Type::Str(_)),
                    "is_integer" => t.is_int(),
                    "is_unsigned_integer" => matches!(t, Type::Int { signed: false, .. }),
                    "is_array" => matches!(t, Type::Array(..)),
                    _ => is_literal(a),
                };
                Ok(Val::Imm(i64::from(yes)))
            }
            "pton" => {
                let Some(ExprKind::Str(text)) = c.args.first().map(|a| &a.kind) else {
                    return Err(self.unsupported(e.span, "pton() of this"));
                };
                let text = String::from_utf8_lossy(text).into_owned();
                let bytes = match text.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(a)) => a.octets().to_vec(),
                    Ok(std::net::IpAddr::V6(a)) => a.octets().to_vec(),
                    Err(_) => {
                        return Err(bpfscope_lang::Diagnostic::error(e.span, format!("'{text}' is not an IP address")));
                    }
                };
                let size = size_of(&self.ty(e));
                let off = self.alloc(size)?;
                self.store_bytes(off, &bytes, size);
                Ok(Val::Mem(off))
            }
            "cgroupid" => {
                let Some(ExprKind::Str(path)) = c.args.first().map(|a| &a.kind) else {
                    return Err(self.unsupported(e.span, "cgroupid() of this"));
                };
                let path = String::from_utf8_lossy(path).into_owned();
                // A cgroup v2 directory's id is its inode number.
                match std::fs::metadata(&path) {
                    Ok(m) => Ok(Val::Imm(std::os::unix::fs::MetadataExt::ino(&m) as i64)),
                    Err(err) => Err(bpfscope_lang::Diagnostic::error(e.span, format!("cgroupid(\"{path}\"): {err}"))),
                }
            }
            "strlen" => self.strlen(c, e),
            "strstr" | "strcontains" => self.strstr(c, e),
            "memcmp" => self.memcmp(c, e),
            "str_concat" => self.str_concat(c, e),
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

    /// `assert(cond, msg)`: where `cond` is false, bpftrace 0.26's
    /// `errorf("assert failed: %s", msg)` and `exit(1)`.
    fn assert(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [cond, msg] = c.args.as_slice() else { return Err(self.unsupported(e.span, "this call")) };
        let ExprKind::Str(msg) = &msg.kind else {
            return Err(self.unsupported(msg.span, "a message that is not a literal"));
        };
        let holds = self.asm.new_label();
        self.cond_jump(cond, holds, true)?;
        let id = self.b.out.printfs.len() as i64;
        self.event(EventKind::Printf, &[Val::Imm(id)], &[])?;
        let text = format!("assert failed: {}", String::from_utf8_lossy(msg));
        self.b.out.printfs.push(PrintfSpec {
            pieces: vec![format::Piece::Literal(text.into_bytes())],
            args: Vec::new(),
            span: e.span,
            severity: PrintfSeverity::Error,
            location: String::new(),
        });
        self.event(EventKind::Exit, &[Val::Imm(1)], &[])?;
        self.note_exit(Val::Imm(1))?;
        let exit = self.exit;
        self.asm.jump(exit);
        self.asm.bind(holds);
        Ok(Val::Nothing)
    }

    /// `fail(fmt, literals...)`: an error when compiling, for code that is
    /// not left out as never run (`if` on a constant false).
    fn fail(&mut self, c: &Call, e: &Expr) -> bpfscope_lang::Diagnostic {
        let Some(ExprKind::Str(fmt)) = c.args.first().map(|a| &a.kind) else {
            return bpfscope_lang::Diagnostic::error(e.span, "fail() needs a format string");
        };
        let text = String::from_utf8_lossy(fmt).into_owned();
        let mut args = c.args[1..].iter();
        let mut out = String::new();
        let mut rest = text.as_str();
        // Each conversion takes the next literal, as printf would print it.
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let tail = &rest[at + 1..];
            if let Some(after) = tail.strip_prefix('%') {
                out.push('%');
                rest = after;
                continue;
            }
            let end =
                tail.find(|ch: char| ch.is_ascii_alphabetic() && !"hlzjt".contains(ch)).map_or(tail.len(), |i| i + 1);
            match args.next().map(|a| &a.kind) {
                Some(ExprKind::Str(s)) => out.push_str(&String::from_utf8_lossy(s)),
                Some(ExprKind::Int(n)) => out.push_str(&n.to_string()),
                Some(ExprKind::Bool(b)) => out.push_str(&b.to_string()),
                Some(ExprKind::Param(n)) => {
                    let value = usize::try_from(*n).ok().and_then(|n| self.b.options.params.get(n.checked_sub(1)?));
                    out.push_str(value.map_or("", String::as_str));
                }
                _ => out.push_str(&tail[..end]),
            }
            rest = &tail[end..];
        }
        out.push_str(rest);
        bpfscope_lang::Diagnostic::error(e.span, out)
    }

    /// `getopt(name[, default])`: the named parameter's value, of the
    /// default's type, known when compiling.
    fn getopt(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Some(ExprKind::Str(name)) = c.args.first().map(|a| &a.kind) else {
            return Err(self.unsupported(e.span, "getopt() of this"));
        };
        let given = bpfscope_lang::check::named_value(&self.b.options.named_params, name);
        let shown = String::from_utf8_lossy(name).into_owned();
        let bad =
            |what: &str, v: &str| bpfscope_lang::Diagnostic::error(e.span, format!("--{shown}={v}: expected {what}"));
        match (c.args.get(1).map(|d| &d.kind), given) {
            (Some(ExprKind::Str(default)), value) => {
                let text = value.flatten().map_or_else(|| default.clone(), |v| v.as_bytes().to_vec());
                let size = size_of(&self.ty(e));
                self.string_literal(&text, size)
            }
            (None | Some(ExprKind::Bool(_)), Some(v)) => match v {
                None | Some("true" | "1") => Ok(Val::Imm(1)),
                Some("false" | "0") => Ok(Val::Imm(0)),
                Some(v) => Err(bad("true or false", v)),
            },
            (Some(ExprKind::Bool(b)), None) => Ok(Val::Imm(i64::from(*b))),
            (None, None) => Ok(Val::Imm(0)),
            (Some(_), Some(Some(v))) => match parse_number(v) {
                Some(n) => Ok(Val::Imm(n)),
                None => Err(bad("an integer", v)),
            },
            (Some(_), Some(None)) => Err(bad("an integer", "")),
            (Some(_), None) => {
                let d = c.args.get(1).and_then(|d| self.const_value(d)).unwrap_or(0);
                Ok(Val::Imm(d))
            }
        }
    }

    /// `find(@map, key, $var)`: 1 and the value in `$var` where the key is
    /// in the map, else 0 and `$var` as it was.
    fn find(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [Expr { kind: ExprKind::Map(m), span, .. }, key, Expr { kind: ExprKind::Var(var), .. }] = c.args.as_slice()
        else {
            return Err(self.unsupported(e.span, "this form of find()"));
        };
        let (_, map, key_ty, kind) = self.user_map(&m.name, *span)?;
        let crate::program::ValueKind::Plain(vt) = kind else {
            return Err(self.unsupported(*span, "find() in an aggregation's map"));
        };
        let Some((slot, var_ty)) = self.vars.get(var).cloned() else {
            return Err(self.unsupported(e.span, "this variable"));
        };
        let key = self.build_key(key_ty.as_ref(), Some(std::slice::from_ref(key)), 0)?;
        self.lookup(map, key);
        let missing = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, missing);
        if layout::is_aggregate(&vt) {
            self.copy_from(R0, 0, slot, size_of(&vt).min(size_of(&var_ty)));
        } else {
            self.asm.emit(insn::ldx(Size::DW, R1, R0, 0));
            self.st(Size::DW, slot, R1);
        }
        self.asm.emit(insn::mov_imm(R0, 1));
        self.asm.jump(done);
        self.asm.bind(missing);
        self.asm.emit(insn::mov_imm(R0, 0));
        self.asm.bind(done);
        self.keep(R0)
    }

    /// `debugf(fmt, a, b, c)`: `bpf_trace_printk()`, which the kernel
    /// writes to its trace pipe (`/sys/kernel/tracing/trace_pipe`).
    fn debugf(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Some(ExprKind::Str(fmt)) = c.args.first().map(|a| &a.kind) else {
            return Err(self.unsupported(e.span, "a format that is not a literal"));
        };
        let mut values = Vec::new();
        for a in &c.args[1..] {
            values.push(self.expr(a)?);
        }
        let mut text = fmt.clone();
        text.push(0);
        let size = text.len() as u32;
        let off = self.alloc(size)?;
        self.store_bytes(off, &text, size);
        for (v, r) in values.iter().zip([R3, R4, crate::insn::R5]) {
            self.load(*v, r);
        }
        for v in values {
            self.free(v);
        }
        self.addr(R1, off);
        self.asm.emit(insn::mov_imm(R2, size as i32));
        self.asm.emit(insn::call(Helper::TracePrintk));
        Ok(Val::Nothing)
    }

    /// `bswap(n)`: the bytes of an integer of n's width, reversed.
    fn bswap(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Some(arg) = c.args.first() else { return Err(self.unsupported(e.span, "bswap()")) };
        let bits = match self.ty(arg) {
            Type::Int { bits, .. } => bits,
            _ => 64,
        };
        let v = self.expr(arg)?;
        self.load(v, R0);
        self.free(v);
        if bits > 8 {
            self.asm.emit(insn::to_big_endian(R0, i32::from(bits)));
        }
        self.keep(R0)
    }

    /// `strncmp(a, b, n)`: 0 when the strings agree in their first `n`
    /// bytes (or up to where both end), else 1. `n` is a constant.
    fn strncmp(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [sa, sb, n] = c.args.as_slice() else {
            return Err(self.unsupported(e.span, "strncmp() with these arguments"));
        };
        let Some(n) = bpfscope_lang::check::int_literal(n, &self.b.options.params) else {
            return Err(self.unsupported(n.span, "a length that is not a constant"));
        };
        let (na, nb) = (size_of(&self.ty(sa)), size_of(&self.ty(sb)));
        let a = self.expr(sa)?;
        let b = self.expr(sb)?;
        let (Val::Mem(a), Val::Mem(b)) = (a, b) else { return Err(self.unsupported(e.span, "strncmp() of these")) };
        let differ = self.asm.new_label();
        let same = self.asm.new_label();
        let end = self.asm.new_label();
        let limit = u32::try_from(n).unwrap_or(0).min(na.max(nb));
        if self.looped(limit) {
            self.compare_loop((a, na), (b, nb), limit, true, (differ, same), e.span)?;
        } else if limit > super::expr::UNROLLED_COMPARE {
            // A loop, as for long comparisons; r3 is known at each step, so
            // the tests of the strings' ends are decided when verifying.
            let (top, a_end, b_read) = (self.asm.new_label(), self.asm.new_label(), self.asm.new_label());
            self.asm.emit(insn::mov_imm(R3, 0));
            self.asm.bind(top);
            self.asm.jump_imm(Jmp::Jge, R3, limit as i32, same);
            self.asm.emit(insn::mov_imm(R1, 0));
            self.asm.jump_imm(Jmp::Jge, R3, na as i32, a_end);
            self.byte_at(R1, a, R3);
            self.asm.bind(a_end);
            self.asm.emit(insn::mov_imm(R2, 0));
            self.asm.jump_imm(Jmp::Jge, R3, nb as i32, b_read);
            self.byte_at(R2, b, R3);
            self.asm.bind(b_read);
            self.asm.leave_if_reg(Jmp::Jne, R1, R2, differ);
            self.asm.leave_if(Jmp::Jeq, R1, 0, same);
            self.asm.emit(insn::alu_imm(Alu::Add, R3, 1));
            self.asm.jump(top);
        }
        let unrolled = if limit > super::expr::UNROLLED_COMPARE { 0 } else { limit };
        for i in 0..unrolled {
            // Past its end, a string reads as its terminating NUL.
            let byte = |g: &mut Self, r, base: Place, len: u32| {
                if i < len {
                    g.ld(Size::B, r, base.at(i));
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
                self.st(Size::DW, off, R0);
            }
            None => {
                let v6 = matches!(&t, Type::Array(_, 16));
                self.st_imm(Size::DW, off, if v6 { AF_INET6 } else { AF_INET });
            }
        }
        let v = self.expr(address)?;
        match v {
            Val::Mem(src) => self.copy_mem(src, off.at(8), size_of(&t).min(16)),
            other => {
                self.load(other, R0);
                self.st(Size::W, off.at(8), R0);
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
        self.st_imm(Size::DW, off, kind as i32);
        for (i, w) in words.iter().enumerate() {
            self.load(*w, R0);
            self.st(Size::DW, off.at(8 + 8 * i as u32), R0);
        }
        for ((v, t), at) in payload.iter().zip(&offsets) {
            let slot = layout::align8(size_of(t)).max(8);
            self.store_val(*v, t, off.at(*at), slot);
        }
        self.output(off, size)?;
        Ok(offsets)
    }

    /// `-k`: after a read of traced memory, a failure (R0 < 0) is
    /// reported with its error code; R0 is kept.
    pub(super) fn check_read(&mut self, helper: Helper, span: bpfscope_lang::Span) -> GResult<()> {
        if !self.b.options.read_warnings {
            return Ok(());
        }
        let name = match helper {
            Helper::ProbeReadUser => "probe_read_user",
            Helper::ProbeReadUserStr => "probe_read_user_str",
            Helper::ProbeReadKernelStr => "probe_read_kernel_str",
            _ => "probe_read_kernel",
        };
        let ok = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jsge, R0, 0, ok);
        let rc = self.slot(8)?;
        self.asm.emit(insn::stx(Size::DW, FP, rc, R0));
        self.runtime_warning_with(
            RuntimeWarningKind::ReadFailed(name),
            span,
            &[Val::Scalar(super::Loc::At(super::Place::stack(rc)))],
        )?;
        self.asm.emit(insn::ldx(Size::DW, R0, FP, rc));
        self.asm.bind(ok);
        Ok(())
    }

    /// Sends a run-time warning about the code at `span` (no registers
    /// survive).
    pub(super) fn runtime_warning(&mut self, kind: RuntimeWarningKind, span: bpfscope_lang::Span) -> GResult<()> {
        self.runtime_warning_with(kind, span, &[])
    }

    /// `runtime_warning`, with more words in the event (an error code).
    pub(super) fn runtime_warning_with(
        &mut self,
        kind: RuntimeWarningKind,
        span: bpfscope_lang::Span,
        extra: &[Val],
    ) -> GResult<()> {
        let warnings = &mut self.b.out.runtime_warnings;
        let id = match warnings.iter().position(|w| w.kind == kind && w.span == span) {
            Some(i) => i,
            None => {
                let probe = self.probe_span;
                warnings.push(RuntimeWarning { kind, span, text: kind.message(), location: String::new(), probe });
                warnings.len() - 1
            }
        };
        // The record's stack space is needed only while it is sent.
        let mark = self.frame.mark();
        let mut words = vec![Val::Imm(id as i64)];
        words.extend_from_slice(extra);
        self.event(EventKind::RuntimeWarning, &words, &[])?;
        self.frame.release_to(mark);
        Ok(())
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
        let argv_slot = self.slot(8)?;
        self.load(argv, R0);
        self.free(argv);
        self.asm.emit(insn::stx(Size::DW, FP, argv_slot, R0));
        // The buffer: [kind][id][count][strings...].
        let map = self.b.join_buffer();
        let key = self.slot(8)?;
        self.asm.emit(insn::st_imm(Size::DW, FP, key, 0));
        self.lookup(map, Place::stack(key));
        let done = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, done);
        // A pointer: the verifier follows it only in a stack slot.
        let buf_slot = self.slot(8)?;
        self.asm.emit(insn::stx(Size::DW, FP, buf_slot, R0));
        self.asm.emit(insn::st_imm(Size::DW, R0, 0, EventKind::Join as i32));
        self.asm.emit(insn::st_imm(Size::DW, R0, 8, id));
        self.asm.emit(insn::st_imm(Size::DW, R0, 16, 0));
        let ptr_slot = self.slot(8)?;
        let send = self.asm.new_label();
        for i in 0..JOIN_ARGS {
            // ptr = argv[i]; stop at NULL.
            self.addr(R1, Place::stack(ptr_slot));
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

    /// `bpf_ringbuf_output(events, &off, size, 0)`, counting a loss.
    fn output(&mut self, off: Place, size: u32) -> GResult<()> {
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
        let id = self.b.out.format_table(kind).len() as i64;
        let offsets = self.event(kind, &[Val::Imm(id)], &payload)?;
        for (v, _) in &payload {
            self.free(*v);
        }
        let args = payload.into_iter().map(|(_, t)| t).zip(offsets).collect();
        let severity = match c.name.as_str() {
            "errorf" => PrintfSeverity::Error,
            "warnf" => PrintfSeverity::Warning,
            _ => PrintfSeverity::Output,
        };
        let spec = PrintfSpec { pieces, args, span: e.span, severity, location: String::new() };
        self.b.out.format_table(kind).push(spec);
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
            self.store_val(v, &st, dst.at(8), n);
            self.st_imm(Size::DW, dst, n as i32);
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
        self.st(Size::DW, dst, R2);
        self.load(ptr, R3);
        self.free(ptr);
        self.addr(R1, dst.at(8));
        let read = if self.user_pointers() { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
        self.asm.emit(insn::call(read));
        self.check_read(read, e.span)?;
        Ok(Val::Mem(dst))
    }

    /// `str(s)`, `str(ptr[, n])`, read as bpftrace 0.26 reads strings: at
    /// most `min(n, max_strlen)` bytes with the NUL, one more where
    /// max_strlen is under 1024 (see [`Gen::str_pad`]). A string that did
    /// not fit then leaves no NUL in the value (of its type's size), which
    /// is how it prints with the truncation trailer.
    fn str_call(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Type::Str(cap) = self.ty(e) else { return Err(self.unsupported(e.span, "str() here")) };
        let cap = u32::try_from(cap).unwrap_or(u32::MAX);
        let Some(src) = c.args.first() else { return Err(self.unsupported(e.span, "str()")) };
        let (max, pad) = (self.max_strlen(), self.str_pad());
        // The buffer holds the longest read.
        let size = cap.saturating_add(pad);
        let st = self.ty(src);
        let v = self.expr(src)?;
        let buf = self.alloc(size)?;
        self.zero(buf, size);
        let limit = match c.args.get(1) {
            None => Some(size),
            Some(n) => self.const_value(n).map(|n| {
                let n = u64::try_from(n).unwrap_or(u64::MAX).min(u64::from(max)) as u32;
                n.saturating_add(pad).min(size)
            }),
        };
        if is_aggregate(&st) {
            // As a read of the value's bytes would copy them; a length known
            // only at run time reads as many as fit.
            let read = limit.unwrap_or(size).max(1);
            self.store_val(v, &st, buf, size_of(&st).min(read));
            self.st_imm(Size::B, buf.at(read - 1), 0);
            return Ok(Val::Mem(buf));
        }
        match (limit, c.args.get(1)) {
            (Some(n), _) => self.asm.emit(insn::mov_imm(R2, n as i32)),
            (None, Some(n)) => {
                // min(n, max_strlen) + pad, compared unsigned as bpftrace
                // does: also the bound the verifier needs.
                let n = self.expr(n)?;
                self.load(n, R2);
                self.free(n);
                let ok = self.asm.new_label();
                self.asm.jump_imm(Jmp::Jle, R2, max as i32, ok);
                self.asm.emit(insn::mov_imm(R2, max as i32));
                self.asm.bind(ok);
                if pad > 0 {
                    self.asm.emit(insn::alu_imm(Alu::Add, R2, pad as i32));
                }
            }
            (None, None) => self.asm.emit(insn::mov_imm(R2, size as i32)),
        }
        self.load(v, R3);
        self.free(v);
        self.addr(R1, buf);
        let helper = if self.user_pointers() { Helper::ProbeReadUserStr } else { Helper::ProbeReadKernelStr };
        self.asm.emit(insn::call(helper));
        self.check_read(helper, e.span)?;
        Ok(Val::Mem(buf))
    }

    /// `max_strlen`: the program's config, else the default.
    pub(super) fn max_strlen(&self) -> u32 {
        let n = bpfscope_lang::check::configured_max_strlen(&self.b.checked.program);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The byte bpftrace 0.26 reads past a string's capacity where
    /// max_strlen is under 1024: the NUL of a string that just fits lands
    /// there, outside the value, so a value without a NUL tells a string
    /// cut short. (At 1024 and above it reads no further, and a string
    /// never shows as cut.)
    pub(super) fn str_pad(&self) -> u32 {
        u32::from(self.max_strlen() < 1024)
    }
}

/// A value written in the program: a number, string or boolean.
fn is_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Str(_) | ExprKind::Bool(_) => true,
        ExprKind::Unary { op: UnaryOp::Neg, expr } => is_literal(expr),
        _ => false,
    }
}

/// A decimal or `0x` integer.
fn parse_number(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().or_else(|| i64::from_str_radix(v.strip_prefix("0x")?, 16).ok())
}

impl Gen<'_, '_> {
    /// `percpu_kaddr(sym[, cpu])`: the variable's address on this CPU
    /// (bpf_this_cpu_ptr) or on `cpu` (bpf_per_cpu_ptr, 0 past the last
    /// CPU). The verifier knows the variable by its BTF id in vmlinux.
    fn percpu_kaddr(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Some(ExprKind::Str(name)) = c.args.first().map(|a| &a.kind) else {
            return Err(self.unsupported(e.span, "percpu_kaddr() of this"));
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let btf = bpfscope_probes::btf::KernelBtf::load().map_err(|err| {
            bpfscope_lang::Diagnostic::error(e.span, format!("percpu_kaddr() needs the kernel's BTF: {err}"))
        })?;
        let Some(id) = btf.variable_id(&name) else {
            return Err(bpfscope_lang::Diagnostic::error(
                e.span,
                format!("Could not resolve variable \"{name}\" from BTF"),
            )
            .with_hint("percpu_kaddr() takes the name of a per-CPU kernel variable, such as \"runqueues\""));
        };
        // The verifier finds the variable through kallsyms, which lists
        // data only in kernels built with CONFIG_KALLSYMS_ALL.
        if bpfscope_probes::kernel::kernel_address(&name).is_none() {
            return Err(bpfscope_lang::Diagnostic::error(
                e.span,
                format!("percpu_kaddr(): this kernel does not list '{name}' in /proc/kallsyms, so BPF cannot find it"),
            )
            .with_hint("the kernel must be built with CONFIG_KALLSYMS_ALL (most distribution kernels are)"));
        }
        match c.args.get(1) {
            Some(cpu) => {
                let cpu = self.expr(cpu)?;
                self.load(cpu, R2);
                self.free(cpu);
                self.asm.emit_all(insn::ld_btf_id(R1, id));
                self.asm.emit(insn::call(Helper::PerCpuPtr));
            }
            None => {
                self.asm.emit_all(insn::ld_btf_id(R1, id));
                self.asm.emit(insn::call(Helper::ThisCpuPtr));
            }
        }
        // The verifier types the result as a pointer that may be null, on
        // which it refuses arithmetic; the program uses it as a number.
        // Copied through bpf_probe_read_kernel, its bytes are a number.
        let slot = self.slot(8)?;
        self.asm.emit(insn::stx(Size::DW, FP, slot, R0));
        self.addr(R1, Place::stack(slot));
        self.asm.emit(insn::mov_imm(R2, 8));
        self.addr(R3, Place::stack(slot));
        self.asm.emit(insn::call(Helper::ProbeReadKernel));
        self.asm.emit(insn::ldx(Size::DW, R0, FP, slot));
        self.keep(R0)
    }
}

impl Gen<'_, '_> {
    /// `uaddr("sym")`: the symbol's address in this process. A file the
    /// loader places anywhere (PIE, library) moves by its load bias, which
    /// the probe's own address tells: the instruction pointer at the probe
    /// less the site's address in the file.
    fn uaddr(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let Some(ExprKind::Str(name)) = c.args.first().map(|a| &a.kind) else {
            return Err(self.unsupported(e.span, "uaddr() of this"));
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let (path, site, ret) = match &self.context.site {
            bpfscope_probes::Detail::Uprobe(s) => (s.binary.clone(), UserLocation::Offset(s.offset), s.ret),
            bpfscope_probes::Detail::Usdt(s) => (s.binary.clone(), UserLocation::Address(s.probe.address), false),
            _ => return Err(self.unsupported(e.span, "uaddr() outside user probes")),
        };
        let unresolved =
            || bpfscope_lang::Diagnostic::error(e.span, format!("Could not resolve symbol: {}:{name}", path.display()));
        let binary = bpfscope_probes::user::Binary::open(&path).map_err(|_| unresolved())?;
        let (address, _) = binary.symbol(&name).ok_or_else(unresolved)?;
        if !binary.is_position_independent() {
            return Ok(Val::Imm(address as i64));
        }
        if ret {
            return Err(bpfscope_lang::Diagnostic::error(
                e.span,
                format!(
                    "uaddr() in a uretprobe of {}: the file is position-independent, and where it is loaded is known only at a uprobe",
                    path.display()
                ),
            )
            .with_hint("take the address in a uprobe on the same function and keep it in a map keyed by tid"));
        }
        let site_address = match site {
            UserLocation::Offset(off) => binary.address_of(off),
            UserLocation::Address(a) => Some(a),
        }
        .ok_or_else(unresolved)?;
        self.ctx(e.span, "uaddr()")?;
        let ip = bpfscope_lang::builtins::pt_regs_offset("ip").unwrap_or(128);
        self.asm.emit(insn::ldx(Size::DW, R0, crate::insn::R9, ip as i16));
        self.asm.emit_all(insn::ld_imm64(R1, address.wrapping_sub(site_address) as i64));
        self.asm.emit(insn::alu_reg(Alu::Add, R0, R1));
        self.keep(R0)
    }
}

/// Where a user probe is in its file.
enum UserLocation {
    Offset(u64),
    Address(u64),
}

impl Gen<'_, '_> {
    /// `skboutput(path, skb, len, offset)`: `len` bytes of the packet,
    /// after a header naming the call and the time, to user space, which
    /// writes them (from `offset` on) to the call's pcap file. The result is
    /// the helper's: 0, or a negative error.
    fn skboutput(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let [Expr { kind: ExprKind::Str(path), .. }, skb, len, Expr { kind: ExprKind::Int(offset), .. }] =
            c.args.as_slice()
        else {
            return Err(self.unsupported(e.span, "this form of skboutput()"));
        };
        let id = self.b.out.skb_outputs.len();
        self.b.out.skb_outputs.push((String::from_utf8_lossy(path).into_owned(), *offset));
        let map = self.b.skb_map();
        // The header: the bytes asked for (the perf buffer pads samples to
        // 8 bytes), the call, the time.
        let hdr = self.alloc(24)?;
        let len = self.expr(len)?;
        self.load(len, R0);
        self.free(len);
        self.st(Size::DW, hdr, R0);
        let flags = self.keep(R0)?;
        self.st_imm(Size::DW, hdr.at(8), id as i32);
        self.asm.emit(insn::call(Helper::KtimeGetBootNs));
        self.st(Size::DW, hdr.at(16), R0);
        let skb = self.expr(skb)?;
        self.load(skb, R1);
        self.free(skb);
        self.load(flags, R3);
        self.free(flags);
        // flags: the bytes to copy in the upper half, BPF_F_CURRENT_CPU below.
        self.asm.emit(insn::alu_imm(Alu::Lsh, R3, 32));
        self.asm.emit_all(insn::ld_imm64(R4, 0xffff_ffff));
        self.asm.emit(insn::alu_reg(Alu::Or, R3, R4));
        self.asm.load_map(R2, map);
        self.addr(R4, hdr);
        self.asm.emit(insn::mov_imm(R5, 24));
        self.asm.emit(insn::call(Helper::SkbOutput));
        self.keep(R0)
    }
}

impl Gen<'_, '_> {
    /// `comm(pid)`: another task's name, as 0.26 reads it: the task found
    /// by `bpf_task_from_pid`, its `comm` copied, the task released. Empty
    /// where no task has the pid. Only where the kernel lets the probe's
    /// program type call those kfuncs.
    fn comm_of(&mut self, c: &Call, e: &Expr) -> GResult<Val> {
        let prog_type = crate::program::ProgType::of(self.context.provider);
        let allowed = self.b.options.kfunc_allowed.as_ref().is_some_and(|k| (k.0)(prog_type, "bpf_task_from_pid"));
        let btf = bpfscope_probes::btf::KernelBtf::load().ok();
        let ids =
            btf.as_ref().and_then(|b| Some((b.function_id("bpf_task_from_pid")?, b.function_id("bpf_task_release")?)));
        let offset = match self.b.options.kernel_types.as_ref().map(|k| k.field("struct task_struct", "comm")) {
            Some(bpfscope_lang::check::KernelField::Found(_, offset)) => Some(offset),
            _ => None,
        };
        let (Some((from_pid, release)), Some(offset), true) = (ids, offset, allowed) else {
            return Err(bpfscope_lang::Diagnostic::error(
                e.span,
                format!(
                    "Syntax comm(PID) is not supported in this probe type yet. Type: {}",
                    self.context.provider.name()
                ),
            )
            .with_hint(
                "the kernel must let this probe's program type call bpf_task_from_pid (fentry, kprobes, timers do)",
            ));
        };
        let pid = self.expr(&c.args[0])?;
        let dst = self.alloc(16)?;
        self.zero(dst, 16);
        self.load(pid, R1);
        self.free(pid);
        self.asm.emit(insn::call_kfunc(from_pid));
        let none = self.asm.new_label();
        self.asm.jump_imm(Jmp::Jeq, R0, 0, none);
        let task = self.keep(R0)?;
        self.addr(R1, dst);
        self.asm.emit(insn::mov_imm(R2, 16));
        self.load(task, R3);
        self.asm.emit(insn::alu_imm(Alu::Add, R3, offset as i32));
        self.asm.emit(insn::call(Helper::ProbeReadKernelStr));
        self.load(task, R1);
        self.free(task);
        self.asm.emit(insn::call_kfunc(release));
        self.asm.bind(none);
        Ok(Val::Mem(dst))
    }
}
