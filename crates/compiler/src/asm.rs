//! An assembler for one program: instructions, labels for jumps, the map
//! references to fill in at load time, and which source span produced each
//! instruction (to point verifier rejections back into the program).

use bpfscope_lang::Span;

use crate::insn::{self, Insn, Jmp, Reg};
use crate::program::{MapId, SubprogId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    spans: Vec<Span>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    map_refs: Vec<(usize, MapId)>,
    func_refs: Vec<(usize, SubprogId)>,
    span: Span,
}

/// A finished program body.
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    pub insns: Vec<Insn>,
    /// The statement each instruction came from.
    pub spans: Vec<Span>,
    /// Instructions that load a map's fd: (instruction index, map).
    pub map_refs: Vec<(usize, MapId)>,
    /// Instructions that load a callback's address: (instruction index,
    /// subprogram), linked by libbpf through a relocation.
    pub func_refs: Vec<(usize, SubprogId)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the probe's code is too large: a jump spans more than 32767 instructions")]
pub struct JumpTooFar;

impl Asm {
    /// Attributes the instructions that follow to `span`.
    pub fn set_span(&mut self, span: Span) {
        self.span = span;
    }

    pub fn span(&self) -> Span {
        self.span
    }

    pub fn emit(&mut self, i: Insn) {
        self.insns.push(i);
        self.spans.push(self.span);
    }

    pub fn emit_all(&mut self, is: impl IntoIterator<Item = Insn>) {
        for i in is {
            self.emit(i);
        }
    }

    /// `dst = map` for a map created at load time.
    pub fn load_map(&mut self, dst: Reg, map: MapId) {
        self.map_refs.push((self.insns.len(), map));
        self.emit_all(insn::ld_map_fd(dst, -1));
    }

    /// `dst = &callback` (a `BPF_PSEUDO_FUNC` load).
    pub fn load_func(&mut self, dst: Reg, f: SubprogId) {
        self.func_refs.push((self.insns.len(), f));
        let [mut lo, hi] = insn::ld_imm64(dst, 0);
        lo.src = insn::PSEUDO_FUNC;
        self.emit_all([lo, hi]);
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    pub fn jump(&mut self, l: Label) {
        self.jump_imm(Jmp::Ja, Reg(0), 0, l);
    }

    pub fn jump_imm(&mut self, op: Jmp, dst: Reg, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.emit(insn::jmp_imm(op, dst, imm, 0));
    }

    /// Jumps to `l` when `dst op imm`, laid out for loops the verifier
    /// walks byte by byte: it follows a branch's fall-through first and
    /// keeps the other side for later, so here the way out of the loop
    /// falls through (and is pruned after its first walk) while the way on
    /// is kept. One state then waits per loop, rather than one per
    /// iteration (the verifier allows 8192 waiting).
    pub fn leave_if(&mut self, op: Jmp, dst: Reg, imm: i32, l: Label) {
        let on = self.new_label();
        self.jump_imm(op.negate(), dst, imm, on);
        self.jump(l);
        self.bind(on);
    }

    /// [`Asm::leave_if`] comparing two registers.
    pub fn leave_if_reg(&mut self, op: Jmp, dst: Reg, src: Reg, l: Label) {
        let on = self.new_label();
        self.jump_reg(op.negate(), dst, src, on);
        self.jump(l);
        self.bind(on);
    }

    pub fn jump_reg(&mut self, op: Jmp, dst: Reg, src: Reg, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.emit(insn::jmp_reg(op, dst, src, 0));
    }

    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Resolves jumps, drops instructions no path reaches (the verifier
    /// rejects them: code after `return`, or under a constant condition),
    /// and returns the program.
    pub fn finish(self) -> Result<Code, JumpTooFar> {
        let n = self.insns.len();
        let mut target: Vec<Option<usize>> = vec![None; n];
        for (at, label) in &self.fixups {
            target[*at] = Some(self.labels[label.0].unwrap_or(n));
        }
        let reachable = reachable(&self.insns, &target);
        let mut new_index = vec![usize::MAX; n + 1];
        let mut next = 0;
        for (i, live) in reachable.iter().enumerate() {
            new_index[i] = next;
            if *live {
                next += 1;
            }
        }
        new_index[n] = next;
        let mut insns = Vec::with_capacity(next);
        let mut spans = Vec::with_capacity(next);
        for i in (0..n).filter(|&i| reachable[i]) {
            let mut ins = self.insns[i];
            if let Some(t) = target[i] {
                let off = new_index[t] as i64 - (new_index[i] as i64 + 1);
                ins.off = i16::try_from(off).map_err(|_| JumpTooFar)?;
            }
            insns.push(ins);
            spans.push(self.spans[i]);
        }
        let map_refs =
            self.map_refs.iter().filter(|(at, _)| reachable[*at]).map(|(at, m)| (new_index[*at], *m)).collect();
        let func_refs =
            self.func_refs.iter().filter(|(at, _)| reachable[*at]).map(|(at, f)| (new_index[*at], *f)).collect();
        Ok(Code { insns, spans, map_refs, func_refs })
    }
}

/// Which instructions some path from the first one reaches.
fn reachable(insns: &[Insn], target: &[Option<usize>]) -> Vec<bool> {
    const LD_IMM64: u8 = 0x18;
    const JA: u8 = 0x05;
    const EXIT: u8 = 0x95;
    let n = insns.len();
    let mut seen = vec![false; n];
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        if i >= n || seen[i] {
            continue;
        }
        seen[i] = true;
        let code = insns[i].code;
        if code == LD_IMM64 {
            if i + 1 < n {
                seen[i + 1] = true;
            }
            work.push(i + 2);
        } else if code == EXIT {
        } else if let Some(t) = target[i] {
            work.push(t);
            if code != JA {
                work.push(i + 1);
            }
        } else {
            work.push(i + 1);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::*;

    #[test]
    fn labels_resolve_forward_and_backward() {
        let mut a = Asm::default();
        let top = a.new_label();
        let end = a.new_label();
        a.bind(top);
        a.jump_imm(Jmp::Jeq, R1, 0, end);
        a.emit(alu_imm(Alu::Sub, R1, 1));
        a.jump(top);
        a.bind(end);
        a.emit(exit());
        let c = a.finish().expect("fits");
        assert_eq!(c.insns[0].off, 2);
        assert_eq!(c.insns[2].off, -3);
    }

    #[test]
    fn unreachable_code_is_dropped_and_jumps_follow() {
        let mut a = Asm::default();
        let end = a.new_label();
        a.jump(end);
        a.emit(mov_imm(R0, 1));
        a.emit(mov_imm(R0, 2));
        a.bind(end);
        a.load_map(R1, crate::program::MapId(3));
        a.emit(exit());
        let c = a.finish().expect("fits");
        assert_eq!(c.insns.len(), 4);
        assert_eq!(c.insns[0].off, 0);
        assert_eq!(c.map_refs, vec![(1, crate::program::MapId(3))]);
        assert_eq!(c.spans.len(), 4);
    }
}
