//! Fields of C structs in the traced process's (or the kernel's) memory:
//! `((struct point *)arg0)->x`, `$p->inner.name`.

use bpfscope_lang::ast::{Expr, ExprKind, UnaryOp};
use bpfscope_lang::check::{KernelField, Type};
use bpfscope_lang::{Diagnostic, Span};

use super::{GResult, Gen, Place, Val};
use crate::ctypes::LayoutError;
use crate::insn::{self, Alu, Helper, R0, R1, R2, R3, Size};
use crate::layout::{align8, is_aggregate, size_of};

impl Gen<'_, '_> {
    /// A field's value, read from memory.
    pub(super) fn struct_field(&mut self, base: &Expr, field: &str, e: &Expr) -> GResult<Val> {
        let t = self.ty(e);
        if matches!(t, Type::Struct(_)) {
            return Err(self.unsupported(e.span, "a whole struct as a value (read its fields)"));
        }
        let (addr, kernel) = self.field_address(base, field, e.span)?;
        self.read_memory_from(addr, &t, kernel)
    }

    /// Why a pointer's fields cannot be read: for a uprobe's `args.NAME`,
    /// which struct DWARF gives it and why it was not declared from there.
    fn opaque_pointer(&self, base: &Expr, span: Span) -> Diagnostic {
        let param = match (&base.kind, &self.context.site) {
            (
                bpfscope_lang::ast::ExprKind::Field { base: args, field, .. },
                bpfscope_probes::Detail::Uprobe(bpfscope_probes::UprobeSite { params: Some(params), .. }),
            ) if matches!(&args.kind, bpfscope_lang::ast::ExprKind::Ident(n) if n == "args") => {
                params.iter().find(|p| &p.name == field)
            }
            _ => None,
        };
        match param {
            Some(p) if p.c_type.starts_with("struct ") || p.c_type.starts_with("union ") => Diagnostic::error(
                span,
                format!(
                    "args.{} is a {}, whose layout a declaration cannot give (bitfields, packing or anonymous members)",
                    p.name, p.c_type
                ),
            )
            .with_hint("declare the struct in the program with the fields you read, or cast to one that is declared"),
            _ => self.unsupported(span, "a field of a pointer to a non-struct"),
        }
    }

    /// Where a field is: the struct's address plus the field's offset; and
    /// whether the struct is the kernel's (so in kernel memory).
    pub(super) fn field_address(&mut self, base: &Expr, field: &str, span: Span) -> GResult<(Val, bool)> {
        let name = match self.ty(base) {
            Type::Struct(n) => n,
            Type::Pointer(inner) => match *inner {
                Type::Struct(n) => n,
                _ => return Err(self.opaque_pointer(base, span)),
            },
            _ => return Err(self.unsupported(span, "a field of this value")),
        };
        let (offset, kernel) = match self.b.ctypes.offset_of(&name, field) {
            Ok(offset) => (offset, false),
            Err(LayoutError::Unknown(_)) => (self.kernel_offset(&name, field, span)?, true),
            Err(e) => return Err(Diagnostic::error(span, e.to_string())),
        };
        let addr = self.struct_address(base)?;
        Ok((self.offset_address(addr, offset)?, kernel))
    }

    /// A kernel struct's field offset, from BTF.
    fn kernel_offset(&self, name: &str, field: &str, span: Span) -> GResult<u64> {
        match self.b.options.kernel_types.as_ref().map(|k| k.field(name, field)) {
            Some(KernelField::Found(_, offset)) => Ok(offset),
            _ => Err(Diagnostic::error(span, format!("{name} has no field '{field}' that can be read"))),
        }
    }

    /// The address of a struct: a pointer's value, or where a struct
    /// field or `*ptr` is.
    fn struct_address(&mut self, e: &Expr) -> GResult<Val> {
        match (&e.kind, self.ty(e)) {
            (_, Type::Pointer(_)) => self.expr(e),
            (ExprKind::Field { base, field, .. }, Type::Struct(_)) => Ok(self.field_address(base, field, e.span)?.0),
            (ExprKind::Unary { op: UnaryOp::Deref, expr }, Type::Struct(_)) => self.expr(expr),
            _ => Err(self.unsupported(e.span, "taking the address of this struct")),
        }
    }

    /// Copies a value of type `t` out of traced memory at `addr`: user
    /// memory in user probes, kernel memory elsewhere. A failed read
    /// yields zeros, as in bpftrace.
    pub(super) fn read_memory(&mut self, addr: Val, t: &Type) -> GResult<Val> {
        self.read_memory_from(addr, t, false)
    }

    /// `read_memory`, from kernel memory whatever the probe when `kernel`
    /// (fields of the kernel's structs).
    fn read_memory_from(&mut self, addr: Val, t: &Type, kernel: bool) -> GResult<Val> {
        let size = match t {
            Type::Int { bits, .. } => u32::from(*bits / 8).max(1),
            Type::Bool => 1,
            other => size_of(other),
        };
        // A scalar is read through a stack slot; bytes go where bytes go.
        let room = align8(size).max(8);
        let dst = if is_aggregate(t) { self.alloc(room)? } else { Place::stack(self.slot(room)?) };
        self.zero(dst, room);
        self.load(addr, R3);
        self.free(addr);
        self.addr(R1, dst);
        self.asm.emit(insn::mov_imm(R2, size as i32));
        let read = if self.user_pointers() && !kernel { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
        self.asm.emit(insn::call(read));
        let span = self.asm.span();
        self.check_read(read, span)?;
        if is_aggregate(t) {
            return Ok(Val::Mem(dst));
        }
        self.ld(Size::of(size.min(8)), R0, dst);
        if let Type::Int { bits, signed: true } = t
            && *bits < 64
        {
            let shift = 64 - i32::from(*bits);
            self.asm.emit(insn::alu_imm(Alu::Lsh, R0, shift));
            self.asm.emit(insn::alu_imm(Alu::Arsh, R0, shift));
        }
        self.keep(R0)
    }

    /// A field of the current task reached through pointer fields, as
    /// `curtask->real_parent->pid` reads it (from kernel memory).
    pub(super) fn task_field(&mut self, path: &[&str], t: &Type, span: Span) -> GResult<Val> {
        const TASK: &str = "struct task_struct";
        self.asm.emit(insn::call(Helper::GetCurrentTask));
        let mut addr = self.keep(R0)?;
        let (last, pointers) = path.split_last().ok_or_else(|| self.unsupported(span, "an empty field path"))?;
        for field in pointers {
            let offset = self.kernel_offset(TASK, field, span)?;
            let at = self.offset_address(addr, offset)?;
            addr = self.read_memory_from(at, &Type::UINT64, true)?;
        }
        let offset = self.kernel_offset(TASK, last, span)?;
        let at = self.offset_address(addr, offset)?;
        self.read_memory_from(at, t, true)
    }

    /// `addr + offset` as a value.
    fn offset_address(&mut self, addr: Val, offset: u64) -> GResult<Val> {
        if offset == 0 {
            return Ok(addr);
        }
        if let Val::Imm(a) = addr {
            return Ok(Val::Imm(a.wrapping_add(offset as i64)));
        }
        self.load(addr, R0);
        self.free(addr);
        self.asm.emit(insn::alu_imm(Alu::Add, R0, i32::try_from(offset).unwrap_or(i32::MAX)));
        self.keep(R0)
    }
}
