//! What the agent keeps per thread: whether it is in a probe, its value
//! slot, its ids and name (cached), and its stack of replaced return
//! addresses.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

use bpfscope_userspace::region::Header;

/// Return addresses one thread can have replaced at once (deeper
/// recursion is not traced on return: counted as missed).
pub const RETURN_DEPTH: usize = 256;

#[derive(Clone, Copy)]
pub struct Pending {
    /// The address the function would have returned to.
    pub to: u64,
    /// The stack pointer at entry (pointing at that address).
    pub sp: u64,
    /// The site (its address).
    pub site: u64,
}

pub struct Returns {
    pub stack: [Pending; RETURN_DEPTH],
    pub depth: usize,
}

thread_local! {
    pub static IN_PROBE: Cell<bool> = const { Cell::new(false) };
    /// The slot, and the region (its header's address) it is of.
    static SLOT: Cell<(usize, u32)> = const { Cell::new((0, u32::MAX)) };
    static PID_TGID: Cell<u64> = const { Cell::new(0) };
    static COMM: Cell<[u8; 16]> = const { Cell::new([0; 16]) };
    static RANDOM: Cell<u64> = const { Cell::new(0) };
    pub static RETURNS: RefCell<Returns> =
        const { RefCell::new(Returns { stack: [Pending { to: 0, sp: 0, site: 0 }; RETURN_DEPTH], depth: 0 }) };
    /// Gives the slot back when the thread ends.
    static SLOT_OWNER: RefCell<Option<SlotOwner>> = const { RefCell::new(None) };
}

struct SlotOwner {
    header: &'static Header,
    slot: u32,
}

impl Drop for SlotOwner {
    fn drop(&mut self) {
        self.header.slots_used.fetch_and(!(1u64 << self.slot), Ordering::AcqRel);
    }
}

/// This thread's value slot, claimed on first use; None when all are
/// taken.
pub fn slot(header: &'static Header) -> Option<u32> {
    let (region, s) = SLOT.with(Cell::get);
    if s != u32::MAX && region == header as *const Header as usize {
        return Some(s);
    }
    let mut used = header.slots_used.load(Ordering::Acquire);
    loop {
        let free = (!used).trailing_zeros();
        if free >= 64 {
            return None;
        }
        match header.slots_used.compare_exchange(used, used | (1 << free), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                SLOT.with(|c| c.set((header as *const Header as usize, free)));
                SLOT_OWNER.with(|o| *o.borrow_mut() = Some(SlotOwner { header, slot: free }));
                return Some(free);
            }
            Err(now) => used = now,
        }
    }
}

/// The kernel's `bpf_get_current_pid_tgid`: tgid in the high half.
pub fn pid_tgid() -> u64 {
    let v = PID_TGID.with(Cell::get);
    if v != 0 {
        return v;
    }
    // SAFETY: plain calls.
    let (pid, tid) = unsafe { (libc::getpid() as u32, libc::gettid() as u32) };
    let v = (u64::from(pid) << 32) | u64::from(tid);
    PID_TGID.with(|c| c.set(v));
    v
}

pub fn comm() -> [u8; 16] {
    let c = COMM.with(Cell::get);
    if c[0] != 0 {
        return c;
    }
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes.
    unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) };
    COMM.with(|c| c.set(name));
    name
}

pub fn random() -> u32 {
    let mut x = RANDOM.with(Cell::get);
    if x == 0 {
        x = pid_tgid() ^ crate::helpers::ktime(libc::CLOCK_MONOTONIC) | 1;
    }
    // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RANDOM.with(|c| c.set(x));
    (x >> 32) as u32
}

/// In a child after fork: its ids differ, and its slot must not be the
/// parent thread's (both would write it).
pub fn forget_after_fork() {
    PID_TGID.with(|c| c.set(0));
    SLOT.with(|c| c.set((0, u32::MAX)));
    SLOT_OWNER.with(|o| {
        if let Some(owner) = o.borrow_mut().take() {
            // The parent still owns that slot.
            std::mem::forget(owner);
        }
    });
}
