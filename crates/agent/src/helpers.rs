//! The kernel helpers a program calls, done in user space: maps and the
//! ring in shared memory, ids and times without system calls where the
//! kernel offers a cache or the vDSO, memory reads that survive bad
//! pointers (`process_vm_readv` on ourselves: a bad address is an error,
//! never a fault).

use bpfscope_userspace::maps::Map;
use bpfscope_userspace::vm::Helpers;

use crate::thread;

const EFAULT: u64 = -14i64 as u64;
const EINVAL: u64 = -22i64 as u64;

// The kernel's helper numbers.
const MAP_LOOKUP_ELEM: i32 = 1;
const MAP_UPDATE_ELEM: i32 = 2;
const MAP_DELETE_ELEM: i32 = 3;
const PROBE_READ: i32 = 4;
const KTIME_GET_NS: i32 = 5;
const GET_PRANDOM_U32: i32 = 7;
const GET_SMP_PROCESSOR_ID: i32 = 8;
const GET_CURRENT_PID_TGID: i32 = 14;
const GET_CURRENT_UID_GID: i32 = 15;
const GET_CURRENT_COMM: i32 = 16;
const GET_STACKID: i32 = 27;
const PROBE_READ_STR: i32 = 45;
const PROBE_READ_USER: i32 = 112;
const PROBE_READ_KERNEL: i32 = 113;
const PROBE_READ_USER_STR: i32 = 114;
const PROBE_READ_KERNEL_STR: i32 = 115;
const KTIME_GET_BOOT_NS: i32 = 125;
const RINGBUF_OUTPUT: i32 = 130;
const GET_ATTACH_COOKIE: i32 = 174;
const KTIME_GET_TAI_NS: i32 = 208;

pub fn ktime(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is writable; the vDSO answers without a system call.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Reads `len` bytes at `src` into `dst`; false if any is unreadable.
fn read_self(dst: *mut u8, src: u64, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    let local = libc::iovec { iov_base: dst.cast(), iov_len: len };
    let remote = libc::iovec { iov_base: src as *mut libc::c_void, iov_len: len };
    // SAFETY: dst is writable for len (the verifier checked the
    // program's buffer); the kernel checks src.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == len as isize
}

/// `bpf_probe_read_user_str`: up to `size - 1` bytes and a NUL; the
/// length with the NUL, or -EFAULT (and an empty string).
fn read_str(dst: *mut u8, size: usize, src: u64) -> u64 {
    if size == 0 {
        return EINVAL;
    }
    let mut done = 0usize;
    while done < size - 1 {
        // Page by page: a string may end just before an unmapped page.
        let at = src + done as u64;
        let chunk = ((4096 - (at & 4095)) as usize).min(size - 1 - done);
        // SAFETY: dst + done .. + chunk is within the buffer.
        if !read_self(unsafe { dst.add(done) }, at, chunk) {
            if done == 0 {
                // SAFETY: size >= 1.
                unsafe { *dst = 0 };
                return EFAULT;
            }
            break;
        }
        // SAFETY: just written.
        let got = unsafe { std::slice::from_raw_parts(dst.add(done), chunk) };
        if let Some(nul) = got.iter().position(|b| *b == 0) {
            return (done + nul + 1) as u64;
        }
        done += chunk;
    }
    // SAFETY: done <= size - 1.
    unsafe { *dst.add(done) = 0 };
    (done + 1) as u64
}

/// One hit's helpers: the site's cookie and context.
pub struct Hit<'a> {
    pub agent: &'a crate::Agent,
    pub cookie: u64,
    pub slot: u32,
    pub regs: *const u8,
    /// At a function's entry before its frame is made (see [`user_stack`]).
    pub at_entry: bool,
}

impl Hit<'_> {
    fn map(&self, p: u64) -> &Map<'static> {
        // SAFETY: map loads hold pointers to the agent's maps (set when
        // the program was prepared).
        unsafe { &*(p as *const Map<'static>) }
    }

    fn key(&self, m: &Map<'_>, p: u64) -> &[u8] {
        // SAFETY: the verifier checked the key's size on the stack.
        unsafe { std::slice::from_raw_parts(p as *const u8, m.desc.key_size as usize) }
    }
}

impl Helpers for Hit<'_> {
    fn has(&self, id: i32) -> bool {
        matches!(
            id,
            MAP_LOOKUP_ELEM
                | MAP_UPDATE_ELEM
                | MAP_DELETE_ELEM
                | PROBE_READ
                | KTIME_GET_NS
                | GET_PRANDOM_U32
                | GET_SMP_PROCESSOR_ID
                | GET_CURRENT_PID_TGID
                | GET_CURRENT_UID_GID
                | GET_CURRENT_COMM
                | GET_STACKID
                | PROBE_READ_STR
                | PROBE_READ_USER
                | PROBE_READ_KERNEL
                | PROBE_READ_USER_STR
                | PROBE_READ_KERNEL_STR
                | KTIME_GET_BOOT_NS
                | RINGBUF_OUTPUT
                | GET_ATTACH_COOKIE
                | KTIME_GET_TAI_NS
        )
    }

    fn call(&mut self, id: i32, a: [u64; 5]) -> u64 {
        match id {
            MAP_LOOKUP_ELEM => {
                let m = self.map(a[0]);
                m.lookup(self.key(m, a[1]), self.slot) as u64
            }
            MAP_UPDATE_ELEM => {
                let m = self.map(a[0]);
                // SAFETY: the verifier checked the value's size.
                let value = unsafe { std::slice::from_raw_parts(a[2] as *const u8, m.desc.value_size as usize) };
                m.update(self.key(m, a[1]), value, a[3], self.slot) as u64
            }
            MAP_DELETE_ELEM => {
                let m = self.map(a[0]);
                m.delete(self.key(m, a[1])) as u64
            }
            // Kernel memory is not here; what the compiler reads as kernel
            // memory in a uprobe is the program's own (map values and
            // stack, copied) or null (a buffer zeroed).
            PROBE_READ | PROBE_READ_USER | PROBE_READ_KERNEL => {
                if a[2] != 0 && read_self(a[0] as *mut u8, a[2], a[1] as usize) {
                    0
                } else {
                    // SAFETY: the verifier checked the buffer's size.
                    unsafe { std::ptr::write_bytes(a[0] as *mut u8, 0, a[1] as usize) };
                    EFAULT
                }
            }
            PROBE_READ_STR | PROBE_READ_USER_STR | PROBE_READ_KERNEL_STR => {
                read_str(a[0] as *mut u8, a[1] as usize, a[2])
            }
            KTIME_GET_NS => ktime(libc::CLOCK_MONOTONIC),
            KTIME_GET_BOOT_NS => ktime(libc::CLOCK_BOOTTIME),
            KTIME_GET_TAI_NS => ktime(libc::CLOCK_TAI),
            GET_PRANDOM_U32 => u64::from(thread::random()),
            // SAFETY: a plain call (the vDSO's getcpu).
            GET_SMP_PROCESSOR_ID => unsafe { libc::sched_getcpu() }.max(0) as u64,
            GET_CURRENT_PID_TGID => thread::pid_tgid(),
            // SAFETY: plain calls.
            GET_CURRENT_UID_GID => unsafe { (u64::from(libc::getgid()) << 32) | u64::from(libc::getuid()) },
            GET_CURRENT_COMM => {
                let comm = thread::comm();
                let n = (a[1] as usize).min(16);
                // SAFETY: the verifier checked the buffer's size.
                unsafe { std::ptr::copy_nonoverlapping(comm.as_ptr(), a[0] as *mut u8, n) };
                0
            }
            GET_STACKID => self.agent.stack_id(self.regs, self.at_entry, self.map(a[1]), a[2]),
            RINGBUF_OUTPUT => match &self.agent.producer {
                Some(p) => {
                    // SAFETY: the verifier checked the record's size.
                    let bytes = unsafe { std::slice::from_raw_parts(a[1] as *const u8, a[2] as usize) };
                    p.output(bytes) as u64
                }
                None => EINVAL,
            },
            GET_ATTACH_COOKIE => self.cookie,
            _ => EINVAL,
        }
    }
}

/// The user stack as the kernel walks it (perf_callchain_user): the
/// interrupted address; at a function's entry whose first instruction is
/// `push %rbp` or `endbr64`, the return address on top of the stack (its
/// caller is not in the frame chain yet); then the return address of each
/// frame along the frame pointers, read fault-tolerantly.
pub fn user_stack(rip: u64, rbp: u64, rsp: u64, at_entry: bool, out: &mut [u64]) -> usize {
    let mut frames = Vec::with_capacity(out.len());
    frames.push(rip);
    let mut word = 0u64;
    if at_entry && read_self((&mut word as *mut u64).cast(), rsp, 8) {
        frames.push(word);
    }
    let mut fp = rbp;
    let mut frame = [0u64; 2];
    while frames.len() < out.len() && read_self(frame.as_mut_ptr().cast(), fp, 16) {
        frames.push(frame[1]);
        fp = frame[0];
    }
    let n = frames.len().min(out.len());
    out[..n].copy_from_slice(&frames[..n]);
    n
}
