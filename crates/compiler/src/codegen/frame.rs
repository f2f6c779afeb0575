//! Where values live while a probe runs: the 512-byte BPF stack and the
//! callee-saved registers r6-r8, which hold scalar temporaries until they
//! run out, after which temporaries spill to stack slots.

use crate::insn::{R6, R7, R8, Reg};
use crate::layout::align8;

/// The kernel's limit on a BPF program's stack.
pub const STACK_LIMIT: u32 = 512;

/// Stack space, handed out downwards from the frame pointer. Temporaries
/// are freed in bulk when the statement that needed them ends.
#[derive(Debug, Default)]
pub struct Frame {
    used: u32,
    /// Slots handed out for spilled scalar temporaries, and those of them
    /// given back, which the next spill reuses.
    spill_slots: Vec<i16>,
    free_spills: Vec<i16>,
}

impl Frame {
    /// Reserves `size` bytes (8-aligned); returns their offset from the
    /// frame pointer, or `None` past the kernel's limit.
    pub fn alloc(&mut self, size: u32) -> Option<i16> {
        let size = align8(size.max(1));
        let used = self.used.checked_add(size)?;
        if used > STACK_LIMIT {
            return None;
        }
        self.used = used;
        Some(-(used as i16))
    }

    pub fn mark(&self) -> u32 {
        self.used
    }

    pub fn release_to(&mut self, mark: u32) {
        self.used = self.used.min(mark);
        let live = |off: &i16| u32::from(off.unsigned_abs()) <= self.used;
        self.spill_slots.retain(live);
        self.free_spills.retain(live);
    }

    /// An 8-byte slot for a scalar temporary: one given back, else new.
    pub fn alloc_spill(&mut self) -> Option<i16> {
        if let Some(off) = self.free_spills.pop() {
            return Some(off);
        }
        let off = self.alloc(8)?;
        self.spill_slots.push(off);
        Some(off)
    }

    /// Gives back a temporary's slot (other stack slots are not taken).
    pub fn free_spill(&mut self, off: i16) {
        if self.spill_slots.contains(&off) && !self.free_spills.contains(&off) {
            self.free_spills.push(off);
        }
    }
}

/// Where a scalar temporary lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Reg(Reg),
    Stack(i16),
}

/// The callee-saved registers available for temporaries (r9 keeps the
/// context pointer).
#[derive(Debug)]
pub struct RegPool {
    free: Vec<Reg>,
}

impl Default for RegPool {
    fn default() -> RegPool {
        RegPool { free: vec![R8, R7, R6] }
    }
}

impl RegPool {
    pub fn take(&mut self) -> Option<Reg> {
        self.free.pop()
    }

    pub fn give(&mut self, r: Reg) {
        if !self.free.contains(&r) {
            self.free.push(r);
        }
    }
}

/// The value of an expression during code generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    /// Known when compiling.
    Imm(i64),
    /// An integer, boolean or pointer.
    Scalar(Loc),
    /// Bytes on the stack at this frame offset (strings, tuples, ...).
    Mem(i16),
    /// No value (`printf()`, a block without a tail).
    Nothing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_grows_down_and_stops_at_the_limit() {
        let mut f = Frame::default();
        assert_eq!(f.alloc(3), Some(-8));
        let m = f.mark();
        assert_eq!(f.alloc(16), Some(-24));
        f.release_to(m);
        assert_eq!(f.alloc(8), Some(-16));
        assert_eq!(f.alloc(600), None);
    }

    #[test]
    fn registers_run_out_then_come_back() {
        let mut p = RegPool::default();
        let a = p.take();
        let b = p.take();
        let c = p.take();
        assert_eq!((a, b, c), (Some(R6), Some(R7), Some(R8)));
        assert_eq!(p.take(), None);
        p.give(R7);
        assert_eq!(p.take(), Some(R7));
    }
}
