//! eBPF instructions and their encoding.

/// A register. `R10` is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
pub const FP: Reg = Reg(10);

/// One 8-byte instruction (a 64-bit immediate load takes two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | (self.src << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

// Instruction classes.
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
// Sources.
const K: u8 = 0x00;
const X: u8 = 0x08;
// Modes.
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;

/// Memory access widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    B = 0x10,
    H = 0x08,
    W = 0x00,
    DW = 0x18,
}

impl Size {
    /// The access width for a scalar of `bytes` bytes.
    pub fn of(bytes: u32) -> Size {
        match bytes {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            _ => Size::DW,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    Add = 0x00,
    Sub = 0x10,
    Mul = 0x20,
    Div = 0x30,
    Or = 0x40,
    And = 0x50,
    Lsh = 0x60,
    Rsh = 0x70,
    Neg = 0x80,
    Mod = 0x90,
    Xor = 0xa0,
    Mov = 0xb0,
    Arsh = 0xc0,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jmp {
    Ja = 0x00,
    Jeq = 0x10,
    Jgt = 0x20,
    Jge = 0x30,
    Jset = 0x40,
    Jne = 0x50,
    Jsgt = 0x60,
    Jsge = 0x70,
    Jlt = 0xa0,
    Jle = 0xb0,
    Jslt = 0xc0,
    Jsle = 0xd0,
}

impl Jmp {
    /// The jump taken when this one is not.
    pub fn negate(self) -> Jmp {
        match self {
            Jmp::Ja => Jmp::Ja,
            Jmp::Jeq => Jmp::Jne,
            Jmp::Jne => Jmp::Jeq,
            Jmp::Jgt => Jmp::Jle,
            Jmp::Jle => Jmp::Jgt,
            Jmp::Jge => Jmp::Jlt,
            Jmp::Jlt => Jmp::Jge,
            Jmp::Jsgt => Jmp::Jsle,
            Jmp::Jsle => Jmp::Jsgt,
            Jmp::Jsge => Jmp::Jslt,
            Jmp::Jslt => Jmp::Jsge,
            Jmp::Jset => Jmp::Jset,
        }
    }
}

/// Kernel helper functions, by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    ProbeRead = 4,
    KtimeGetNs = 5,
    TracePrintk = 6,
    GetPrandomU32 = 7,
    GetSmpProcessorId = 8,
    GetCurrentPidTgid = 14,
    GetCurrentUidGid = 15,
    GetCurrentComm = 16,
    GetStackid = 27,
    GetNumaNodeId = 42,
    OverrideReturn = 58,
    GetNsCurrentPidTgid = 120,
    KtimeGetTaiNs = 208,
    DPath = 147,
    GetCurrentTask = 35,
    ProbeWriteUser = 36,
    ProbeReadStr = 45,
    GetCurrentCgroupId = 80,
    SendSignal = 109,
    SendSignalThread = 117,
    ProbeReadUser = 112,
    ProbeReadKernel = 113,
    ProbeReadUserStr = 114,
    ProbeReadKernelStr = 115,
    Jiffies64 = 118,
    RingbufOutput = 130,
    KtimeGetBootNs = 125,
    GetAttachCookie = 174,
    GetSocketCookie = 46,
    SkbOutput = 111,
    PerCpuPtr = 153,
    ThisCpuPtr = 154,
    ForEachMapElem = 164,
    Loop = 181,
    GetFuncRet = 184,
    MapLookupPercpuElem = 195,
    GetCurrentTaskBtf = 158,
    TaskPtRegs = 175,
}

pub fn alu_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
    Insn { code: ALU64 | K | op as u8, dst: dst.0, src: 0, off: 0, imm }
}

pub fn alu_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
    Insn { code: ALU64 | X | op as u8, dst: dst.0, src: src.0, off: 0, imm: 0 }
}

/// `dst = htobe{bits}(dst)`: on a little-endian machine, the low `bits`
/// bits' bytes reversed, the rest cleared.
pub fn to_big_endian(dst: Reg, bits: i32) -> Insn {
    // BPF_ALU | BPF_END | BPF_TO_BE
    Insn { code: 0x04 | 0xd0 | 0x08, dst: dst.0, src: 0, off: 0, imm: bits }
}

pub fn mov_imm(dst: Reg, imm: i32) -> Insn {
    alu_imm(Alu::Mov, dst, imm)
}

pub fn mov_reg(dst: Reg, src: Reg) -> Insn {
    alu_reg(Alu::Mov, dst, src)
}

pub fn neg(dst: Reg) -> Insn {
    alu_imm(Alu::Neg, dst, 0)
}

/// `dst = imm` for any 64-bit value (two instructions).
pub fn ld_imm64(dst: Reg, imm: i64) -> [Insn; 2] {
    [
        Insn { code: LD | Size::DW as u8 | IMM, dst: dst.0, src: 0, off: 0, imm: imm as i32 },
        Insn { code: 0, dst: 0, src: 0, off: 0, imm: (imm >> 32) as i32 },
    ]
}

/// The source register value that marks a map file descriptor load.
pub const PSEUDO_MAP_FD: u8 = 1;

/// The source register value that marks a kernel variable's BTF id load.
pub const PSEUDO_BTF_ID: u8 = 3;

/// `dst = &kernel variable` (vmlinux's BTF type id of the variable).
pub fn ld_btf_id(dst: Reg, id: u32) -> [Insn; 2] {
    [
        Insn { code: LD | Size::DW as u8 | IMM, dst: dst.0, src: PSEUDO_BTF_ID, off: 0, imm: id as i32 },
        Insn { code: 0, dst: 0, src: 0, off: 0, imm: 0 },
    ]
}

/// The source register value that marks a subprogram address load.
pub const PSEUDO_FUNC: u8 = 4;

/// `dst = map` (the fd is filled in when the map exists).
pub fn ld_map_fd(dst: Reg, fd: i32) -> [Insn; 2] {
    [
        Insn { code: LD | Size::DW as u8 | IMM, dst: dst.0, src: PSEUDO_MAP_FD, off: 0, imm: fd },
        Insn { code: 0, dst: 0, src: 0, off: 0, imm: 0 },
    ]
}

/// `dst = *(size *)(src + off)`
pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn { code: LDX | MEM | size as u8, dst: dst.0, src: src.0, off, imm: 0 }
}

/// `*(size *)(dst + off) = src`
pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
    Insn { code: STX | MEM | size as u8, dst: dst.0, src: src.0, off, imm: 0 }
}

/// `*(size *)(dst + off) = imm`
pub fn st_imm(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
    Insn { code: ST | MEM | size as u8, dst: dst.0, src: 0, off, imm }
}

/// `lock *(u64 *)(dst + off) += src`
pub fn atomic_add(dst: Reg, off: i16, src: Reg) -> Insn {
    Insn { code: STX | ATOMIC | Size::DW as u8, dst: dst.0, src: src.0, off, imm: 0 }
}

pub fn jmp_imm(op: Jmp, dst: Reg, imm: i32, off: i16) -> Insn {
    Insn { code: JMP | K | op as u8, dst: dst.0, src: 0, off, imm }
}

pub fn jmp_reg(op: Jmp, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn { code: JMP | X | op as u8, dst: dst.0, src: src.0, off, imm: 0 }
}

pub fn call(h: Helper) -> Insn {
    Insn { code: JMP | 0x80, dst: 0, src: 0, off: 0, imm: h as i32 }
}

/// A call of a kernel function by its BTF id in vmlinux (a kfunc).
pub fn call_kfunc(btf_id: u32) -> Insn {
    Insn { code: JMP | 0x80, dst: 0, src: 2, off: 0, imm: btf_id as i32 }
}

pub fn exit() -> Insn {
    Insn { code: JMP | 0x90, dst: 0, src: 0, off: 0, imm: 0 }
}

/// Whether an instruction is a jump with an offset to patch.
pub fn is_jump(i: &Insn) -> bool {
    i.code & 0x07 == JMP && !matches!(i.code & 0xf0, 0x80 | 0x90)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_kernel_abi() {
        assert_eq!(mov_imm(R0, 0).encode(), [0xb7, 0x00, 0, 0, 0, 0, 0, 0]);
        assert_eq!(exit().encode(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(stx(Size::DW, FP, -8, R0).encode(), [0x7b, 0x0a, 0xf8, 0xff, 0, 0, 0, 0]);
        assert_eq!(ld_map_fd(R1, 5)[0].encode(), [0x18, 0x11, 0, 0, 5, 0, 0, 0]);
        assert_eq!(call(Helper::RingbufOutput).encode(), [0x85, 0, 0, 0, 130, 0, 0, 0]);
        assert_eq!(jmp_imm(Jmp::Jeq, R0, 0, 3).encode(), [0x15, 0x00, 3, 0, 0, 0, 0, 0]);
        let [lo, hi] = ld_imm64(R2, 0x1_0000_0002);
        assert_eq!((lo.imm, hi.imm), (2, 1));
    }
}
