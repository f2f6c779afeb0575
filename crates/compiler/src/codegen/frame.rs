//! Where values live while a probe runs: the 512-byte BPF stack, a per-CPU
//! scratch buffer for byte values (strings, tuples, ...) when the stack
//! cannot hold them, and the callee-saved registers r6-r8, which hold
//! scalar temporaries until they run out, after which temporaries spill to
//! stack slots.
//!
//! A program starts with every byte value on the stack; only when that
//! does not fit is it generated again with byte values in the scratch
//! buffer (see `Builder::probe`), so programs with short strings pay
//! nothing for it.

use crate::insn::{R6, R7, R8, Reg};
use crate::layout::align8;

/// The kernel's limit on a BPF program's stack (the frames of a program
/// and the callbacks it calls, together).
pub const STACK_LIMIT: u32 = 512;

/// The most bytes of scratch memory a program has: the most a per-CPU
/// array's value may hold (the kernel's `PCPU_MIN_UNIT_SIZE`), which is
/// also as far as an instruction's 16-bit offset reaches.
pub const SCRATCH_LIMIT: u32 = 32 * 1024;

/// The register that holds the scratch buffer's address in programs (and
/// callbacks) that use one; it is then no temporary.
pub const SCRATCH_REG: Reg = R8;

/// Which memory bytes are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The BPF stack: negative offsets from the frame pointer.
    Stack,
    /// The per-CPU scratch buffer: offsets from its start, in
    /// [`SCRATCH_REG`].
    Scratch,
}

/// Where some bytes are: an area and an offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub area: Area,
    pub off: i16,
}

impl Place {
    pub fn stack(off: i16) -> Place {
        Place { area: Area::Stack, off }
    }

    /// The place `n` bytes further on (within the same allocation, so the
    /// offset stays in range).
    pub fn at(self, n: u32) -> Place {
        Place { area: self.area, off: self.off + n as i16 }
    }
}

/// How far each area is in use, to give back what a statement took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    stack: u32,
    scratch: u32,
}

/// Stack space, handed out downwards from the frame pointer, and scratch
/// space, handed out upwards from the buffer's start. Temporaries are
/// freed in bulk when the statement that needed them ends.
#[derive(Debug, Default)]
pub struct Frame {
    used: u32,
    /// The most stack bytes in use at once.
    peak: u32,
    /// Slots handed out for spilled scalar temporaries, and those of them
    /// given back, which the next spill reuses.
    spill_slots: Vec<i16>,
    free_spills: Vec<i16>,
    /// Byte values go to the scratch buffer (else to the stack).
    scratch: Option<Scratch>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Scratch {
    used: u32,
    peak: u32,
}

impl Frame {
    /// A frame whose byte values go to the scratch buffer when `scratch`.
    pub fn new(scratch: bool) -> Frame {
        Frame { scratch: scratch.then(Scratch::default), ..Frame::default() }
    }

    /// A callback's frame: its first `stack` bytes hold the variables its
    /// caller hands over; its scratch space starts past what the caller
    /// has in use, which must survive the call.
    pub fn callback(stack: u32, caller: &Frame) -> Frame {
        let scratch = caller.scratch.map(|s| Scratch { used: s.used, peak: s.used });
        Frame { used: stack, peak: stack, scratch, ..Frame::default() }
    }

    /// Whether byte values go to the scratch buffer.
    pub fn has_scratch(&self) -> bool {
        self.scratch.is_some()
    }

    /// Reserves `size` stack bytes (8-aligned); returns their offset from
    /// the frame pointer, or `None` past the kernel's limit.
    pub fn alloc_stack(&mut self, size: u32) -> Option<i16> {
        let size = align8(size.max(1));
        let used = self.used.checked_add(size)?;
        if used > STACK_LIMIT {
            return None;
        }
        self.used = used;
        self.peak = self.peak.max(used);
        Some(-(used as i16))
    }

    /// Reserves `size` bytes (8-aligned) for a byte value: in the scratch
    /// buffer if the frame has one, else on the stack. `None` past the
    /// area's limit.
    pub fn alloc_mem(&mut self, size: u32) -> Option<Place> {
        let Some(s) = &mut self.scratch else { return self.alloc_stack(size).map(Place::stack) };
        let start = s.used;
        let used = start.checked_add(align8(size.max(1)))?;
        if used > SCRATCH_LIMIT {
            return None;
        }
        s.used = used;
        s.peak = s.peak.max(used);
        Some(Place { area: Area::Scratch, off: start as i16 })
    }

    pub fn mark(&self) -> Mark {
        Mark { stack: self.used, scratch: self.scratch.map_or(0, |s| s.used) }
    }

    pub fn release_to(&mut self, mark: Mark) {
        self.used = self.used.min(mark.stack);
        if let Some(s) = &mut self.scratch {
            s.used = s.used.min(mark.scratch);
        }
        let live = |off: &i16| u32::from(off.unsigned_abs()) <= self.used;
        self.spill_slots.retain(live);
        self.free_spills.retain(live);
    }

    /// Stack bytes in use now.
    pub fn stack_used(&self) -> u32 {
        self.used
    }

    /// The most stack bytes in use at once so far.
    pub fn stack_peak(&self) -> u32 {
        self.peak
    }

    /// The most scratch bytes in use at once so far (0 without scratch).
    pub fn scratch_peak(&self) -> u32 {
        self.scratch.map_or(0, |s| s.peak)
    }

    /// Counts scratch bytes a callback used (above this frame's).
    pub fn note_scratch_peak(&mut self, peak: u32) {
        if let Some(s) = &mut self.scratch {
            s.peak = s.peak.max(peak);
        }
    }

    /// An 8-byte slot for a scalar temporary: one given back, else new.
    pub fn alloc_spill(&mut self) -> Option<i16> {
        if let Some(off) = self.free_spills.pop() {
            return Some(off);
        }
        let off = self.alloc_stack(8)?;
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
    /// In memory: a spill slot or variable on the stack, or a field of a
    /// tuple wherever the tuple is.
    At(Place),
}

/// The callee-saved registers available for temporaries (r9 keeps the
/// context pointer; r8 the scratch buffer's address, where there is one).
#[derive(Debug)]
pub struct RegPool {
    free: Vec<Reg>,
}

impl Default for RegPool {
    fn default() -> RegPool {
        RegPool::new(false)
    }
}

impl RegPool {
    /// The pool of a program or callback, without [`SCRATCH_REG`] when it
    /// holds the scratch buffer's address.
    pub fn new(scratch: bool) -> RegPool {
        let mut free = vec![R8, R7, R6];
        free.retain(|r| !scratch || *r != SCRATCH_REG);
        RegPool { free }
    }

    pub fn take(&mut self) -> Option<Reg> {
        self.free.pop()
    }

    /// How many registers are free.
    pub fn free_count(&self) -> usize {
        self.free.len()
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
    /// Bytes in memory (strings, tuples, ...).
    Mem(Place),
    /// No value (`printf()`, a block without a tail).
    Nothing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_grows_down_and_stops_at_the_limit() {
        let mut f = Frame::default();
        assert_eq!(f.alloc_stack(3), Some(-8));
        let m = f.mark();
        assert_eq!(f.alloc_stack(16), Some(-24));
        f.release_to(m);
        assert_eq!(f.alloc_stack(8), Some(-16));
        assert_eq!(f.alloc_stack(600), None);
        assert_eq!(f.stack_peak(), 24);
    }

    #[test]
    fn byte_values_go_to_the_stack_without_scratch() {
        let mut f = Frame::new(false);
        assert_eq!(f.alloc_mem(16), Some(Place::stack(-16)));
        assert_eq!(f.alloc_mem(1024), None);
        assert_eq!(f.scratch_peak(), 0);
    }

    #[test]
    fn scratch_grows_up_to_its_limit_and_callbacks_start_past_the_caller() {
        let mut f = Frame::new(true);
        assert_eq!(f.alloc_stack(8), Some(-8));
        let m = f.mark();
        assert_eq!(f.alloc_mem(1000), Some(Place { area: Area::Scratch, off: 0 }));
        assert_eq!(f.alloc_mem(8), Some(Place { area: Area::Scratch, off: 1000 }));
        let mut cb = Frame::callback(8, &f);
        assert_eq!(cb.alloc_mem(8), Some(Place { area: Area::Scratch, off: 1008 }));
        assert_eq!(cb.alloc_stack(8), Some(-16));
        f.note_scratch_peak(cb.scratch_peak());
        f.release_to(m);
        assert_eq!(f.alloc_mem(8), Some(Place { area: Area::Scratch, off: 0 }));
        assert_eq!(f.scratch_peak(), 1016);
        assert_eq!(f.alloc_mem(SCRATCH_LIMIT), None);
        assert_eq!(f.alloc_mem(SCRATCH_LIMIT - 8), Some(Place { area: Area::Scratch, off: 8 }));
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
        let mut p = RegPool::new(true);
        assert_eq!((p.take(), p.take(), p.take()), (Some(R6), Some(R7), None));
    }
}
