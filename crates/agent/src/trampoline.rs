//! The machine code between a patched site and the agent's handlers.
//!
//! An entry trampoline steps over the red zone, saves the flags and every
//! general register in a frame whose first 168 bytes are a `struct
//! pt_regs` (so programs read `argN`, `reg()` and `sargN` as in the
//! kernel), keeps the vector state (XSAVE, see [`Vectors`]), calls the
//! handler on an aligned stack, restores it all,
//! runs the instructions the jump displaced (moved by iced-x86's block
//! encoder, which fixes RIP-relative operands and branches) and jumps
//! back. The return trampoline is where replaced return addresses lead:
//! the same frame, the handler gives the original address, `ret` goes
//! there.

use iced_x86::code_asm::*;
use iced_x86::{IcedError, Instruction};

/// `struct pt_regs` fields (byte offsets), as the kernel lays them out.
pub mod regs {
    pub const R15: usize = 0;
    pub const R14: usize = 8;
    pub const R13: usize = 16;
    pub const R12: usize = 24;
    pub const RBP: usize = 32;
    pub const RBX: usize = 40;
    pub const R11: usize = 48;
    pub const R10: usize = 56;
    pub const R9: usize = 64;
    pub const R8: usize = 72;
    pub const RAX: usize = 80;
    pub const RCX: usize = 88;
    pub const RDX: usize = 96;
    pub const RSI: usize = 104;
    pub const RDI: usize = 112;
    pub const ORIG_RAX: usize = 120;
    pub const RIP: usize = 128;
    pub const CS: usize = 136;
    pub const EFLAGS: usize = 144;
    pub const RSP: usize = 152;
    pub const SS: usize = 160;
    pub const SIZE: usize = 168;
}

const XMM_AT: i32 = regs::SIZE as i32 + 8;
/// pt_regs, a pad word, xmm0-15.
const FRAME: i32 = XMM_AT + 16 * 16;
/// Below the stack pointer, the interrupted code's red zone.
const RED_ZONE: i32 = 128;

fn gprs() -> [(AsmRegister64, usize); 15] {
    [
        (r15, regs::R15),
        (r14, regs::R14),
        (r13, regs::R13),
        (r12, regs::R12),
        (rbp, regs::RBP),
        (rbx, regs::RBX),
        (r11, regs::R11),
        (r10, regs::R10),
        (r9, regs::R9),
        (r8, regs::R8),
        (rax, regs::RAX),
        (rcx, regs::RCX),
        (rdx, regs::RDX),
        (rsi, regs::RSI),
        (rdi, regs::RDI),
    ]
}

fn xmms() -> [AsmRegisterXmm; 16] {
    [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14, xmm15]
}

/// Saves everything into the frame (flags already pushed just above it)
/// and fills pt_regs's other fields; `rsp_above` is how far the
/// interrupted stack pointer is above the frame.
/// How a trampoline keeps the vector registers across the handler, whose
/// C library calls (memcpy, memcmp) may use AVX or AVX-512 and clear
/// upper halves (vzeroupper), where the interrupted code may have values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vectors {
    /// XSAVE (XSAVEC where there is one) of the x87, SSE, AVX and AVX-512
    /// state the OS enabled, into `size` bytes on the stack.
    Xsave { mask: u64, size: i32, compacted: bool },
    /// No XSAVE: SSE is all there is; xmm0-15 are kept.
    Sse,
}

impl Vectors {
    /// What this CPU and kernel have.
    pub fn detect() -> Vectors {
        use std::arch::x86_64::__cpuid_count;
        // CPUID.1:ECX.OSXSAVE: the OS enabled XSAVE (and XGETBV).
        if __cpuid_count(1, 0).ecx & (1 << 27) == 0 {
            return Vectors::Sse;
        }
        let (lo, hi): (u32, u32);
        // SAFETY: XGETBV 0 exists where OSXSAVE is set.
        unsafe { std::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
        // x87, SSE, AVX, AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM): not AMX
        // tiles (8 KiB) nor PKRU.
        let mask = ((u64::from(hi) << 32) | u64::from(lo)) & 0xe7;
        // The standard layout's end for these components bounds both
        // layouts (the legacy area and header are 576 bytes).
        let size = (2..8)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| {
                let c = __cpuid_count(0xd, i);
                c.eax + c.ebx
            })
            .fold(576, u32::max);
        let compacted = __cpuid_count(0xd, 1).eax & (1 << 1) != 0;
        Vectors::Xsave { mask, size: size.next_multiple_of(64) as i32, compacted }
    }
}

fn save(a: &mut CodeAssembler, rsp_above: i32, rip: u64, vectors: Vectors) -> Result<(), IcedError> {
    a.sub(rsp, FRAME)?;
    for (r, at) in gprs() {
        a.mov(qword_ptr(rsp + at as i32), r)?;
    }
    if vectors == Vectors::Sse {
        for (n, x) in xmms().into_iter().enumerate() {
            a.movdqu(xmmword_ptr(rsp + XMM_AT + 16 * n as i32), x)?;
        }
    }
    a.lea(rax, qword_ptr(rsp + (FRAME + rsp_above)))?;
    a.mov(qword_ptr(rsp + regs::RSP as i32), rax)?;
    a.mov(rax, qword_ptr(rsp + FRAME))?;
    a.mov(qword_ptr(rsp + regs::EFLAGS as i32), rax)?;
    a.mov(rax, rip)?;
    a.mov(qword_ptr(rsp + regs::RIP as i32), rax)?;
    a.mov(qword_ptr(rsp + regs::ORIG_RAX as i32), -1)?;
    a.mov(qword_ptr(rsp + regs::CS as i32), 0x33)?;
    a.mov(qword_ptr(rsp + regs::SS as i32), 0x2b)?;
    Ok(())
}

/// Calls `handler(frame, arg)` on an aligned stack, the vector state
/// kept around it; rbx keeps the frame (it is saved, and callee-saved in
/// the handler), r12 the handler's result.
fn call(a: &mut CodeAssembler, handler: u64, arg: u64, vectors: Vectors) -> Result<(), IcedError> {
    a.mov(rbx, rsp)?;
    match vectors {
        Vectors::Xsave { mask, size, compacted } => {
            a.sub(rsp, size)?;
            a.and(rsp, -64)?;
            // The XSAVE header's reserved bytes must be zero for XRSTOR.
            a.xor(eax, eax)?;
            for word in 0..8 {
                a.mov(qword_ptr(rsp + (512 + 8 * word)), rax)?;
            }
            a.mov(eax, mask as u32)?;
            a.mov(edx, (mask >> 32) as u32)?;
            if compacted {
                a.xsavec64(ptr(rsp))?;
            } else {
                a.xsave64(ptr(rsp))?;
            }
        }
        Vectors::Sse => a.and(rsp, -16)?,
    }
    a.mov(rdi, rbx)?;
    a.mov(rsi, arg)?;
    a.mov(rax, handler)?;
    a.call(rax)?;
    a.mov(r12, rax)?;
    if let Vectors::Xsave { mask, .. } = vectors {
        a.mov(eax, mask as u32)?;
        a.mov(edx, (mask >> 32) as u32)?;
        a.xrstor64(ptr(rsp))?;
    }
    a.mov(rsp, rbx)?;
    Ok(())
}

fn restore(a: &mut CodeAssembler, vectors: Vectors) -> Result<(), IcedError> {
    if vectors == Vectors::Sse {
        for (n, x) in xmms().into_iter().enumerate() {
            a.movdqu(x, xmmword_ptr(rsp + XMM_AT + 16 * n as i32))?;
        }
    }
    for (r, at) in gprs() {
        a.mov(r, qword_ptr(rsp + at as i32))?;
    }
    a.add(rsp, FRAME)?;
    a.popfq()?;
    Ok(())
}

/// The entry trampoline of a site at `site` (the probed address), whose
/// jump displaced `moved` (decoded at their own addresses) and returns to
/// `resume`; assembled to run at `at`.
pub fn entry(
    at: u64,
    site: u64,
    handler: u64,
    arg: u64,
    moved: &[Instruction],
    resume: u64,
    vectors: Vectors,
) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    a.lea(rsp, qword_ptr(rsp - RED_ZONE))?;
    a.pushfq()?;
    save(&mut a, 8 + RED_ZONE, site, vectors)?;
    call(&mut a, handler, arg, vectors)?;
    restore(&mut a, vectors)?;
    a.lea(rsp, qword_ptr(rsp + RED_ZONE))?;
    for i in moved {
        a.add_instruction(*i)?;
    }
    a.jmp(resume)?;
    a.assemble(at)
}

/// The return trampoline: `handler(frame, 0)` returns the original return
/// address, which `ret` then takes.
pub fn ret(at: u64, handler: u64, vectors: Vectors) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    // A slot for the original return address (lea keeps the flags).
    a.lea(rsp, qword_ptr(rsp - 8))?;
    a.pushfq()?;
    save(&mut a, 16, 0, vectors)?;
    call(&mut a, handler, 0, vectors)?;
    a.mov(qword_ptr(rsp + (FRAME + 8)), r12)?;
    restore(&mut a, vectors)?;
    a.ret()?;
    a.assemble(at)
}
