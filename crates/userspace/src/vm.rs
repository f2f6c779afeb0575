//! An eBPF interpreter for the programs the compiler emits, run in the
//! traced process.
//!
//! The programs are the ones the kernel's verifier accepted (the tracer
//! loads every program into the kernel first), so memory accesses are to
//! the context, the stack and map values the helpers returned; anything
//! else goes through the fault-tolerant `probe_read` helpers. [`check`]
//! refuses, before a program runs, any instruction or helper this
//! interpreter does not have.

/// `BPF_PSEUDO_MAP_FD`: an `ld_imm64` whose immediate names a map.
pub const PSEUDO_MAP_FD: u8 = 1;

const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const JMP32: u8 = 0x06;
const ALU64: u8 = 0x07;

/// The helpers a program calls, by the kernel's numbers.
pub trait Helpers {
    /// Whether `id` exists here (asked once per call site, before running).
    fn has(&self, id: i32) -> bool;
    fn call(&mut self, id: i32, args: [u64; 5]) -> u64;
}

/// Why a program cannot run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    Instruction { at: usize, code: u8 },
    Helper { at: usize, id: i32 },
    JumpOutside { at: usize },
    MapLoad { at: usize, src: u8 },
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsupported::Instruction { at, code } => write!(f, "instruction {at} (opcode {code:#04x})"),
            Unsupported::Helper { at, id } => write!(f, "helper #{id} at instruction {at}"),
            Unsupported::JumpOutside { at } => write!(f, "a jump out of the program at instruction {at}"),
            Unsupported::MapLoad { at, src } => write!(f, "a load of kind {src} at instruction {at}"),
        }
    }
}

#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    dst: usize,
    src: usize,
    off: i16,
    imm: i32,
}

fn decode(w: u64) -> Insn {
    let b = w.to_le_bytes();
    Insn {
        code: b[0],
        dst: usize::from(b[1] & 0x0f),
        src: usize::from(b[1] >> 4),
        off: i16::from_le_bytes([b[2], b[3]]),
        imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    }
}

/// Checks every instruction and helper of `insns` before it runs.
pub fn check(insns: &[u64], helpers: &dyn Helpers) -> Result<(), Unsupported> {
    let mut pc = 0;
    while pc < insns.len() {
        let i = decode(insns[pc]);
        let bad = Unsupported::Instruction { at: pc, code: i.code };
        if i.dst > 10 || i.src > 10 {
            return Err(bad);
        }
        let class = i.code & 7;
        let op = i.code & 0xf0;
        match class {
            LD => {
                if i.code != 0x18 || pc + 1 >= insns.len() {
                    return Err(bad);
                }
                if i.src != 0 && i.src != usize::from(PSEUDO_MAP_FD) {
                    return Err(Unsupported::MapLoad { at: pc, src: i.src as u8 });
                }
                pc += 1;
            }
            LDX if matches!(i.code & 0xe0, 0x60 | 0x80) => {}
            ST | STX if i.code & 0xe0 == 0x60 => {}
            STX if i.code & 0xe0 == 0xc0 && matches!(i.code & 0x18, 0x00 | 0x18) => {
                if !matches!(i.imm, 0x00 | 0x01 | 0x40 | 0x41 | 0x50 | 0x51 | 0xa0 | 0xa1 | 0xe1 | 0xf1) {
                    return Err(bad);
                }
            }
            ALU | ALU64 if op <= 0xd0 => {}
            JMP | JMP32 => match op {
                0x80 if class == JMP => {
                    if i.src != 0 || !helpers.has(i.imm) {
                        return Err(Unsupported::Helper { at: pc, id: i.imm });
                    }
                }
                0x90 if class == JMP => {}
                0xe0 | 0xf0 => return Err(bad),
                _ => {
                    let target = pc as i64 + 1 + i64::from(i.off);
                    if target < 0 || target as usize >= insns.len() {
                        return Err(Unsupported::JumpOutside { at: pc });
                    }
                }
            },
            _ => return Err(bad),
        }
        pc += 1;
    }
    Ok(())
}

/// Runs a checked program on `ctx`; returns r0. Map loads hold what the
/// helpers take as a map (see `check`): the agent puts its map pointers
/// in them before running.
///
/// # Safety
/// `insns` passed [`check`] and the kernel's verifier; `ctx` is the
/// context the program was verified for.
pub unsafe fn run(insns: &[u64], ctx: *mut u8, helpers: &mut dyn Helpers) -> u64 {
    let mut stack = [0u64; 64];
    let mut r = [0u64; 11];
    r[1] = ctx as u64;
    r[10] = stack.as_mut_ptr() as u64 + 512;
    let mut pc = 0usize;
    loop {
        let i = decode(insns[pc]);
        pc += 1;
        let class = i.code & 7;
        match class {
            ALU64 | ALU => {
                let src = if i.code & 0x08 != 0 { r[i.src] } else { i.imm as i64 as u64 };
                let wide = class == ALU64;
                let d = r[i.dst];
                let v = alu(i, d, src, wide);
                r[i.dst] = if wide { v } else { v as u32 as u64 };
            }
            LDX => {
                let addr = r[i.src].wrapping_add(i.off as i64 as u64) as *const u8;
                // SAFETY: a verified access (see the function's contract).
                r[i.dst] = unsafe { load(addr, i.code & 0x18, i.code & 0xe0 == 0x80) };
            }
            ST | STX if i.code & 0xe0 == 0x60 => {
                let addr = r[i.dst].wrapping_add(i.off as i64 as u64) as *mut u8;
                let v = if class == ST { i.imm as i64 as u64 } else { r[i.src] };
                // SAFETY: as above.
                unsafe { store(addr, i.code & 0x18, v) };
            }
            STX => {
                let addr = r[i.dst].wrapping_add(i.off as i64 as u64);
                // SAFETY: as above; atomics are on 4- or 8-aligned words.
                unsafe { atomic(addr, i, &mut r) };
            }
            LD => {
                let hi = decode(insns[pc]).imm as u32 as u64;
                r[i.dst] = (i.imm as u32 as u64) | (hi << 32);
                pc += 1;
            }
            _ => {
                let op = i.code & 0xf0;
                match op {
                    0x80 => {
                        r[0] = helpers.call(i.imm, [r[1], r[2], r[3], r[4], r[5]]);
                        continue;
                    }
                    0x90 => return r[0],
                    _ => {}
                }
                let (a, b) = if class == JMP32 {
                    let b = if i.code & 0x08 != 0 { r[i.src] as u32 } else { i.imm as u32 };
                    (r[i.dst] as u32 as i32 as i64 as u64, b as i32 as i64 as u64)
                } else {
                    (r[i.dst], if i.code & 0x08 != 0 { r[i.src] } else { i.imm as i64 as u64 })
                };
                let (a32, b32) = (
                    r[i.dst] as u32 as u64,
                    if i.code & 0x08 != 0 { r[i.src] as u32 as u64 } else { i.imm as u32 as u64 },
                );
                let (ua, ub) = if class == JMP32 { (a32, b32) } else { (a, b) };
                let taken = match op {
                    0x00 => true,
                    0x10 => ua == ub,
                    0x20 => ua > ub,
                    0x30 => ua >= ub,
                    0x40 => ua & ub != 0,
                    0x50 => ua != ub,
                    0x60 => (a as i64) > (b as i64),
                    0x70 => (a as i64) >= (b as i64),
                    0xa0 => ua < ub,
                    0xb0 => ua <= ub,
                    0xc0 => (a as i64) < (b as i64),
                    _ => (a as i64) <= (b as i64),
                };
                if taken {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
        }
    }
}

fn alu(i: Insn, d: u64, s: u64, wide: bool) -> u64 {
    let (d, s) = if wide { (d, s) } else { (d as u32 as u64, s as u32 as u64) };
    let bits = if wide { 64 } else { 32 };
    let signed = i.off == 1;
    match i.code & 0xf0 {
        0x00 => d.wrapping_add(s),
        0x10 => d.wrapping_sub(s),
        0x20 => d.wrapping_mul(s),
        0x30 if s == 0 => 0,
        0x30 if signed && wide => (d as i64).wrapping_div(s as i64) as u64,
        0x30 if signed => (d as i32).wrapping_div(s as i32) as u32 as u64,
        0x30 => d / s,
        0x40 => d | s,
        0x50 => d & s,
        0x60 => d.wrapping_shl(s as u32 & (bits - 1)),
        0x70 => d.wrapping_shr(s as u32 & (bits - 1)),
        0x80 => d.wrapping_neg(),
        0x90 if s == 0 => d,
        0x90 if signed && wide => (d as i64).wrapping_rem(s as i64) as u64,
        0x90 if signed => (d as i32).wrapping_rem(s as i32) as u32 as u64,
        0x90 => d % s,
        0xa0 => d ^ s,
        0xb0 => match i.off {
            8 => s as i8 as i64 as u64,
            16 => s as i16 as i64 as u64,
            32 if wide => s as i32 as i64 as u64,
            _ => s,
        },
        0xc0 if wide => ((d as i64) >> (s as u32 & 63)) as u64,
        0xc0 => ((d as i32) >> (s as u32 & 31)) as u32 as u64,
        // BPF_END: to big-endian (BPF_X) swaps; to little-endian truncates.
        _ => {
            let swap = i.code & 0x08 != 0 || wide;
            match (i.imm, swap) {
                (16, true) => u64::from((d as u16).swap_bytes()),
                (32, true) => u64::from((d as u32).swap_bytes()),
                (64, true) => d.swap_bytes(),
                (16, false) => d as u16 as u64,
                (32, false) => d as u32 as u64,
                _ => d,
            }
        }
    }
}

/// # Safety
/// `addr` is readable for the size.
unsafe fn load(addr: *const u8, size: u8, sign: bool) -> u64 {
    // SAFETY: the caller's.
    unsafe {
        match (size, sign) {
            (0x10, false) => u64::from(addr.read_unaligned()),
            (0x08, false) => u64::from(addr.cast::<u16>().read_unaligned()),
            (0x00, false) => u64::from(addr.cast::<u32>().read_unaligned()),
            (0x10, true) => addr.cast::<i8>().read_unaligned() as i64 as u64,
            (0x08, true) => addr.cast::<i16>().read_unaligned() as i64 as u64,
            (0x00, true) => addr.cast::<i32>().read_unaligned() as i64 as u64,
            _ => addr.cast::<u64>().read_unaligned(),
        }
    }
}

/// # Safety
/// `addr` is writable for the size.
unsafe fn store(addr: *mut u8, size: u8, v: u64) {
    // SAFETY: the caller's.
    unsafe {
        match size {
            0x10 => addr.write_unaligned(v as u8),
            0x08 => addr.cast::<u16>().write_unaligned(v as u16),
            0x00 => addr.cast::<u32>().write_unaligned(v as u32),
            _ => addr.cast::<u64>().write_unaligned(v),
        }
    }
}

/// # Safety
/// `addr` is an aligned, writable word of the instruction's size.
unsafe fn atomic(addr: u64, i: Insn, r: &mut [u64; 11]) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
    // One read-modify-write on a word of either size; the old value.
    macro_rules! rmw {
        ($atomic:ty, $int:ty) => {{
            // SAFETY: the caller's.
            let a = unsafe { &*(addr as *const $atomic) };
            let (v, expected) = (r[i.src] as $int, r[0] as $int);
            u64::from(match i.imm & !1 {
                0x00 => a.fetch_add(v, SeqCst),
                0x40 => a.fetch_or(v, SeqCst),
                0x50 => a.fetch_and(v, SeqCst),
                0xa0 => a.fetch_xor(v, SeqCst),
                0xe0 => a.swap(v, SeqCst),
                _ => a.compare_exchange(expected, v, SeqCst, SeqCst).unwrap_or_else(|x| x),
            })
        }};
    }
    let old = if i.code & 0x18 == 0x18 { rmw!(AtomicU64, u64) } else { rmw!(AtomicU32, u32) };
    match i.imm {
        // cmpxchg: the old value in r0.
        0xf1 => r[0] = old,
        // BPF_FETCH: in the source register.
        x if x & 1 != 0 => r[i.src] = old,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoHelpers;
    impl Helpers for NoHelpers {
        fn has(&self, id: i32) -> bool {
            id == 7
        }
        fn call(&mut self, _id: i32, args: [u64; 5]) -> u64 {
            args[0] * 3
        }
    }

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
        let mut b = [0u8; 8];
        b[0] = code;
        b[1] = dst | (src << 4);
        b[2..4].copy_from_slice(&off.to_le_bytes());
        b[4..8].copy_from_slice(&imm.to_le_bytes());
        u64::from_le_bytes(b)
    }

    fn eval(p: &[u64]) -> u64 {
        check(p, &NoHelpers).expect("checks");
        let mut ctx = [0u8; 8];
        // SAFETY: the test programs touch only their stack.
        unsafe { run(p, ctx.as_mut_ptr(), &mut NoHelpers) }
    }

    #[test]
    fn arithmetic_jumps_stack_and_calls() {
        // r0 = 0; r1 = 10; loop: r0 += r1; r1 -= 1; if r1 != 0 goto loop
        // *(u64 *)(r10 -8) = r0; r6 = *(u32 *)(r10 -8); r1 = r6; call 7; exit
        let p = [
            insn(0xb7, 0, 0, 0, 0),
            insn(0xb7, 1, 0, 0, 10),
            insn(0x0f, 0, 1, 0, 0),
            insn(0x17, 1, 0, 0, 1),
            insn(0x55, 1, 0, -3, 0),
            insn(0x7b, 10, 0, -8, 0),
            insn(0x61, 6, 10, -8, 0),
            insn(0xbf, 1, 6, 0, 0),
            insn(0x85, 0, 0, 0, 7),
            insn(0x95, 0, 0, 0, 0),
        ];
        assert_eq!(eval(&p), 165);
    }

    #[test]
    fn signed_shifts_division_by_zero_and_wide_constants() {
        // r0 = -16; r0 s>>= 2 -> -4; r1 = 0; r0 /= r1 -> 0 (eBPF's rule)
        assert_eq!(eval(&[insn(0xb7, 0, 0, 0, -16), insn(0xc7, 0, 0, 0, 2), insn(0x95, 0, 0, 0, 0)]), (-4i64) as u64);
        assert_eq!(
            eval(&[insn(0xb7, 0, 0, 0, 9), insn(0xb7, 1, 0, 0, 0), insn(0x3f, 0, 1, 0, 0), insn(0x95, 0, 0, 0, 0)]),
            0
        );
        assert_eq!(eval(&[insn(0x18, 0, 0, 0, 2), insn(0, 0, 0, 0, 1), insn(0x95, 0, 0, 0, 0)]), (1 << 32) | 2);
        // Atomic add with fetch on the stack.
        let p = [
            insn(0x7a, 10, 0, -8, 5),
            insn(0xb7, 1, 0, 0, 2),
            insn(0xdb, 10, 1, -8, 0x01),
            insn(0x79, 0, 10, -8, 0),
            insn(0x0f, 0, 1, 0, 0),
            insn(0x95, 0, 0, 0, 0),
        ];
        assert_eq!(eval(&p), 12);
    }

    #[test]
    fn unknown_helpers_and_instructions_are_refused_before_running() {
        assert_eq!(
            check(&[insn(0x85, 0, 0, 0, 35), insn(0x95, 0, 0, 0, 0)], &NoHelpers),
            Err(Unsupported::Helper { at: 0, id: 35 })
        );
        assert_eq!(check(&[insn(0x05, 0, 0, 5, 0)], &NoHelpers), Err(Unsupported::JumpOutside { at: 0 }));
        assert!(check(&[insn(0x8d, 0, 0, 0, 0)], &NoHelpers).is_err());
    }
}
