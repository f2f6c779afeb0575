//! Instructions as text, in the kernel verifier's syntax (`r1 = *(u64
//! *)(r6 +8)`, `if r0 == 0x0 goto pc+5`, `call bpf_map_lookup_elem#1`),
//! and `-d insns`: each program's instructions with the source lines that
//! produced them in between.

use std::fmt;

use bpfscope_lang::Source;

use crate::asm::Code;
use crate::insn::{Helper, Insn, PSEUDO_BTF_ID, PSEUDO_FUNC, PSEUDO_MAP_FD};

const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const MODE_ATOMIC: u8 = 0xc0;
const SOURCE_REG: u8 = 0x08;

/// The helpers the compiler calls, by number, with the kernel's names.
const HELPERS: &[(Helper, &str)] = &[
    (Helper::MapLookupElem, "map_lookup_elem"),
    (Helper::MapUpdateElem, "map_update_elem"),
    (Helper::MapDeleteElem, "map_delete_elem"),
    (Helper::ProbeRead, "probe_read"),
    (Helper::KtimeGetNs, "ktime_get_ns"),
    (Helper::TracePrintk, "trace_printk"),
    (Helper::GetPrandomU32, "get_prandom_u32"),
    (Helper::GetSmpProcessorId, "get_smp_processor_id"),
    (Helper::GetCurrentPidTgid, "get_current_pid_tgid"),
    (Helper::GetCurrentUidGid, "get_current_uid_gid"),
    (Helper::GetCurrentComm, "get_current_comm"),
    (Helper::GetStackid, "get_stackid"),
    (Helper::GetNumaNodeId, "get_numa_node_id"),
    (Helper::OverrideReturn, "override_return"),
    (Helper::GetNsCurrentPidTgid, "get_ns_current_pid_tgid"),
    (Helper::KtimeGetTaiNs, "ktime_get_tai_ns"),
    (Helper::DPath, "d_path"),
    (Helper::GetCurrentTask, "get_current_task"),
    (Helper::ProbeWriteUser, "probe_write_user"),
    (Helper::ProbeReadStr, "probe_read_str"),
    (Helper::GetCurrentCgroupId, "get_current_cgroup_id"),
    (Helper::SendSignal, "send_signal"),
    (Helper::SendSignalThread, "send_signal_thread"),
    (Helper::ProbeReadUser, "probe_read_user"),
    (Helper::ProbeReadKernel, "probe_read_kernel"),
    (Helper::ProbeReadUserStr, "probe_read_user_str"),
    (Helper::ProbeReadKernelStr, "probe_read_kernel_str"),
    (Helper::Jiffies64, "jiffies64"),
    (Helper::RingbufOutput, "ringbuf_output"),
    (Helper::KtimeGetBootNs, "ktime_get_boot_ns"),
    (Helper::GetAttachCookie, "get_attach_cookie"),
    (Helper::GetSocketCookie, "get_socket_cookie"),
    (Helper::SkbOutput, "skb_output"),
    (Helper::PerCpuPtr, "per_cpu_ptr"),
    (Helper::ThisCpuPtr, "this_cpu_ptr"),
    (Helper::ForEachMapElem, "for_each_map_elem"),
    (Helper::Loop, "loop"),
    (Helper::GetFuncRet, "get_func_ret"),
    (Helper::MapLookupPercpuElem, "map_lookup_percpu_elem"),
    (Helper::GetCurrentTaskBtf, "get_current_task_btf"),
    (Helper::TaskPtRegs, "task_pt_regs"),
];

/// The kernel's name of helper number `id`.
pub fn helper_name(id: i32) -> Option<&'static str> {
    HELPERS.iter().find(|(h, _)| *h as i32 == id).map(|(_, name)| *name)
}

fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        0x10 => "u8",
        0x08 => "u16",
        0x00 => "u32",
        _ => "u64",
    }
}

fn alu_op(code: u8) -> &'static str {
    match code & 0xf0 {
        0x00 => "+=",
        0x10 => "-=",
        0x20 => "*=",
        0x30 => "/=",
        0x40 => "|=",
        0x50 => "&=",
        0x60 => "<<=",
        0x70 => ">>=",
        0x90 => "%=",
        0xa0 => "^=",
        0xb0 => "=",
        0xc0 => "s>>=",
        _ => "?=",
    }
}

fn jmp_op(code: u8) -> &'static str {
    match code & 0xf0 {
        0x10 => "==",
        0x20 => ">",
        0x30 => ">=",
        0x40 => "&",
        0x50 => "!=",
        0x60 => "s>",
        0x70 => "s>=",
        0xa0 => "<",
        0xb0 => "<=",
        0xc0 => "s<",
        0xd0 => "s<=",
        _ => "?",
    }
}

/// `+8`, `-16`: an offset as the verifier prints one.
fn signed(off: i16) -> String {
    if off < 0 { format!("{off}") } else { format!("+{off}") }
}

impl fmt::Display for Insn {
    /// One instruction; the first half of a 64-bit load shows its low
    /// word (see [`Code::listing`] for the whole value).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dst, src, off, imm) = (self.dst, self.src, self.off, self.imm);
        let by_reg = self.code & SOURCE_REG != 0;
        let operand = if by_reg { format!("r{src}") } else { format!("{imm}") };
        match self.code & 0x07 {
            CLASS_ALU64 | CLASS_ALU => {
                let w = if self.code & 0x07 == CLASS_ALU { "w" } else { "r" };
                match self.code & 0xf0 {
                    0x80 => write!(f, "{w}{dst} = -{w}{dst}"),
                    0xd0 => write!(f, "r{dst} = be{imm} r{dst}"),
                    _ => write!(f, "{w}{dst} {} {operand}", alu_op(self.code)),
                }
            }
            CLASS_LDX => write!(f, "r{dst} = *({} *)(r{src} {})", size_name(self.code), signed(off)),
            CLASS_ST => write!(f, "*({} *)(r{dst} {}) = {imm}", size_name(self.code), signed(off)),
            CLASS_STX if self.code & 0xe0 == MODE_ATOMIC => {
                write!(f, "lock *({} *)(r{dst} {}) += r{src}", size_name(self.code), signed(off))
            }
            CLASS_STX => write!(f, "*({} *)(r{dst} {}) = r{src}", size_name(self.code), signed(off)),
            CLASS_LD => match src {
                PSEUDO_MAP_FD => write!(f, "r{dst} = map[fd:{imm}]"),
                PSEUDO_BTF_ID => write!(f, "r{dst} = btf_id[{imm}]"),
                PSEUDO_FUNC => write!(f, "r{dst} = func[{imm}]"),
                _ => write!(f, "r{dst} = {imm:#x} ll"),
            },
            CLASS_JMP => match self.code & 0xf0 {
                0x00 => write!(f, "goto pc{}", signed(off)),
                0x80 if src == 2 => write!(f, "call kfunc#{imm}"),
                0x80 if src == 1 => write!(f, "call pc{}", signed(imm as i16)),
                0x80 => match helper_name(imm) {
                    Some(name) => write!(f, "call bpf_{name}#{imm}"),
                    None => write!(f, "call #{imm}"),
                },
                0x90 => f.write_str("exit"),
                _ => {
                    let rhs = if by_reg { format!("r{src}") } else { format!("{imm:#x}") };
                    write!(f, "if r{dst} {} {rhs} goto pc{}", jmp_op(self.code), signed(off))
                }
            },
            _ => write!(f, "(code {:#04x})", self.code),
        }
    }
}

/// What a listing names maps and callbacks by.
pub struct Names<'a> {
    pub maps: &'a [String],
    pub subprogs: &'a [String],
}

impl Code {
    /// The instructions, numbered, each 64-bit load as one line with its
    /// whole value (a map or callback by name), and before each run of
    /// instructions from one statement, that statement's source line(s)
    /// as `; ` comments.
    pub fn listing(&self, source: &Source, names: &Names<'_>) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut shown: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < self.insns.len() {
            if let Some(span) = self.spans.get(i).filter(|s| !s.is_empty()) {
                let first = source.line_col(span.start as usize).line;
                let last = source.line_col(span.end.saturating_sub(1).max(span.start) as usize).line;
                if shown != Some((first, last)) {
                    for line in first..=last.min(first + 2) {
                        let _ = writeln!(out, "; {}", source.line_text(line).trim_end());
                    }
                    shown = Some((first, last));
                }
            }
            let insn = self.insns[i];
            let text =
                match (self.map_refs.iter().find(|(at, _)| *at == i), self.func_refs.iter().find(|(at, _)| *at == i)) {
                    (Some((_, map)), _) => {
                        format!("r{} = map[{}]", insn.dst, names.maps.get(map.0).map_or("?", String::as_str))
                    }
                    (_, Some((_, f))) => {
                        format!("r{} = func[{}]", insn.dst, names.subprogs.get(f.0).map_or("?", String::as_str))
                    }
                    _ if insn.code == 0x18 && insn.src == 0 => {
                        let hi = self.insns.get(i + 1).map_or(0, |h| h.imm);
                        let value = (u64::from(hi as u32) << 32) | u64::from(insn.imm as u32);
                        format!("r{} = {value:#x} ll", insn.dst)
                    }
                    _ => insn.to_string(),
                };
            let _ = writeln!(out, "{i:5}: {text}");
            // A 64-bit load's second half is part of the line above.
            i += if insn.code == 0x18 { 2 } else { 1 };
        }
        out
    }
}

impl crate::program::Compiled {
    /// Every program's listing (`-d insns`), then the callbacks'.
    pub fn listing(&self, source: &Source) -> String {
        let maps: Vec<String> = self.maps.iter().map(|m| m.name.clone()).collect();
        let subprogs: Vec<String> = self.subprogs.iter().map(|s| s.name.clone()).collect();
        let names = Names { maps: &maps, subprogs: &subprogs };
        let mut out = String::new();
        for p in &self.programs {
            out.push_str(&format!("{} ({} instructions):\n", p.attach.canonical(), p.code.insns.len()));
            out.push_str(&p.code.listing(source, &names));
            out.push('\n');
        }
        for s in &self.subprogs {
            out.push_str(&format!("{} ({} instructions):\n", s.name, s.code.insns.len()));
            out.push_str(&s.code.listing(source, &names));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::insn::*;

    #[test]
    fn instructions_read_as_the_verifier_prints_them() {
        let cases = [
            (mov_reg(R1, R6), "r1 = r6"),
            (mov_imm(R0, -1), "r0 = -1"),
            (alu_imm(Alu::Add, R2, -8), "r2 += -8"),
            (alu_imm(Alu::Arsh, R1, 32), "r1 s>>= 32"),
            (ldx(Size::DW, R0, R1, 8), "r0 = *(u64 *)(r1 +8)"),
            (stx(Size::W, FP, -4, R3), "*(u32 *)(r10 -4) = r3"),
            (st_imm(Size::B, FP, -1, 7), "*(u8 *)(r10 -1) = 7"),
            (atomic_add(R0, 0, R1), "lock *(u64 *)(r0 +0) += r1"),
            (jmp_imm(Jmp::Jeq, R0, 0, 5), "if r0 == 0x0 goto pc+5"),
            (jmp_reg(Jmp::Jsgt, R1, R2, -3), "if r1 s> r2 goto pc-3"),
            (call(Helper::MapLookupElem), "call bpf_map_lookup_elem#1"),
            (exit(), "exit"),
            (to_big_endian(R1, 16), "r1 = be16 r1"),
        ];
        for (insn, text) in cases {
            assert_eq!(insn.to_string(), text);
        }
    }
}
