//! Finding a site in this process, deciding whether its first bytes can
//! become a jump, allocating its trampoline within reach, and writing the
//! jump (and the original bytes back) in one atomic store.

use bpfscope_userspace::region::Refusal;
use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction};

/// One line of /proc/self/maps.
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub exec: bool,
    pub write: bool,
    pub path: Vec<u8>,
}

pub fn mappings() -> Vec<Mapping> {
    let Ok(text) = std::fs::read("/proc/self/maps") else { return Vec::new() };
    text.split(|b| *b == b'\n').filter_map(parse_mapping).collect()
}

fn parse_mapping(line: &[u8]) -> Option<Mapping> {
    let line = std::str::from_utf8(line).ok()?;
    let mut f = line.split_ascii_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let perms = f.next()?;
    let offset = u64::from_str_radix(f.next()?, 16).ok()?;
    let _dev = f.next()?;
    let _inode = f.next()?;
    let path = f.next().unwrap_or("").as_bytes().to_vec();
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        offset,
        exec: perms.as_bytes().get(2) == Some(&b'x'),
        write: perms.as_bytes().get(1) == Some(&b'w'),
        path,
    })
}

/// Where the file offset `offset` of `path` is mapped executable.
pub fn address_of(maps: &[Mapping], path: &[u8], offset: u64) -> Option<u64> {
    address_in(maps.iter().filter(|m| m.exec), path, offset)
}

/// Where the file offset `offset` of `path` is mapped writable (a USDT
/// semaphore in the data).
pub fn data_address_of(maps: &[Mapping], path: &[u8], offset: u64) -> Option<u64> {
    address_in(maps.iter().filter(|m| m.write), path, offset)
}

fn address_in<'m>(maps: impl Iterator<Item = &'m Mapping>, path: &[u8], offset: u64) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let canonical = std::fs::canonicalize(std::ffi::OsStr::from_bytes(path)).ok();
    let mut maps = maps.filter(|m| offset >= m.offset && offset < m.offset + (m.end - m.start));
    maps.find(|m| m.path == path || canonical.as_ref().is_some_and(|c| c.as_os_str().as_encoded_bytes() == m.path))
        .map(|m| m.start + offset - m.offset)
}

const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];
pub const JMP_LEN: usize = 5;

/// What a patch replaces.
pub struct Plan {
    /// Where the jump goes (after an endbr64).
    pub at: u64,
    /// The instructions it displaces, decoded at their addresses.
    pub moved: Vec<Instruction>,
    /// The first address after them.
    pub resume: u64,
}

/// Decides how to patch the site at `addr` (`before` bytes into its
/// function, `size` bytes from its end, 0 if unknown): which
/// instructions move, or why it cannot be done.
///
/// # Safety
/// `addr - before` .. `addr + max(size, 32)` is mapped code.
pub unsafe fn plan(addr: u64, before: u64, size: u64) -> Result<Plan, Refusal> {
    let span = size.max(32) as usize;
    // SAFETY: the caller's.
    let code = unsafe { std::slice::from_raw_parts(addr as *const u8, span) };
    // SAFETY: the caller's: the function's bytes before the site.
    let function = unsafe { std::slice::from_raw_parts((addr - before) as *const u8, before as usize + size as usize) };
    let skip = if code.starts_with(&ENDBR64) { 4 } else { 0 };
    let at = addr + skip as u64;
    if size != 0 && skip as u64 + JMP_LEN as u64 > size {
        return Err(Refusal::TooShort);
    }
    if (at % 16) as usize + JMP_LEN > 16 {
        return Err(Refusal::Straddles);
    }
    let mut decoder = Decoder::with_ip(64, &code[skip..], at, DecoderOptions::NONE);
    let mut moved = Vec::new();
    let mut len = 0;
    while len < JMP_LEN {
        let i = decoder.decode();
        if i.is_invalid() {
            return Err(Refusal::Unmovable);
        }
        // A function that ends (returns, or jumps away) before 5 bytes:
        // what follows may be another function or a branch target.
        if matches!(i.flow_control(), FlowControl::UnconditionalBranch | FlowControl::Return) && len + i.len() < JMP_LEN
        {
            return Err(Refusal::TooShort);
        }
        if !matches!(
            i.flow_control(),
            FlowControl::Next
                | FlowControl::ConditionalBranch
                | FlowControl::UnconditionalBranch
                | FlowControl::Call
                | FlowControl::Return
        ) {
            return Err(Refusal::Unmovable);
        }
        len += i.len();
        moved.push(i);
    }
    let resume = at + len as u64;
    if size != 0 && resume > addr + size {
        return Err(Refusal::TooShort);
    }
    if size != 0 && branches_into(function, addr - before, at, resume) {
        return Err(Refusal::BranchInside);
    }
    Ok(Plan { at, moved, resume })
}

/// Whether any direct branch in `code` (at `addr`) lands strictly inside
/// `at .. resume` (landing on `at` itself is fine: the jump is there).
fn branches_into(code: &[u8], addr: u64, at: u64, resume: u64) -> bool {
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    while decoder.can_decode() {
        let i = decoder.decode();
        if matches!(
            i.flow_control(),
            FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch | FlowControl::Call
        ) && i.op0_kind() != iced_x86::OpKind::Register
            && i.op0_kind() != iced_x86::OpKind::Memory
        {
            let target = i.near_branch_target();
            if target > at && target < resume {
                return true;
            }
        }
    }
    false
}

/// Trampoline memory: pages allocated within reach of the sites.
#[derive(Default)]
pub struct Pool {
    chunks: Vec<(u64, usize, usize)>,
}

const CHUNK: usize = 64 * 1024;
const REACH: u64 = (1 << 31) - (CHUNK as u64) * 2;

impl Pool {
    /// `len` bytes of executable memory whose every byte is within a
    /// rel32 jump of `near`.
    pub fn alloc(&mut self, near: u64, len: usize) -> Option<u64> {
        for (base, used, size) in &mut self.chunks {
            if near.abs_diff(*base) < REACH && *used + len <= *size {
                let at = *base + *used as u64;
                *used = (*used + len).next_multiple_of(16);
                return Some(at);
            }
        }
        let base = map_near(near)?;
        self.chunks.push((base, len.next_multiple_of(16), CHUNK));
        Some(base)
    }
}

/// A new read-write-execute chunk within reach of `near`: the free space
/// nearest to it between the process's mappings.
fn map_near(near: u64) -> Option<u64> {
    let maps = mappings();
    // User space ends below 0x7fff_ffff_f000 (the vsyscall page above
    // it is no place for code of ours).
    const TOP: u64 = 0x7fff_ffff_0000;
    let mut gaps = Vec::new();
    let mut prev_end = 0x10000u64;
    for m in maps.iter().filter(|m| m.start < TOP) {
        if m.start > prev_end {
            gaps.push((prev_end, m.start));
        }
        prev_end = prev_end.max(m.end);
    }
    if prev_end < TOP {
        gaps.push((prev_end, TOP));
    }
    let chunk = CHUNK as u64;
    let mut candidates: Vec<u64> = gaps
        .iter()
        .filter(|(s, e)| e - s >= chunk)
        .map(|&(s, e)| {
            if near < s {
                s
            } else if near >= e {
                e - chunk
            } else {
                (near & !0xfff).clamp(s, e - chunk)
            }
        })
        .filter(|c| c.abs_diff(near) < REACH)
        .collect();
    candidates.sort_by_key(|c| c.abs_diff(near));
    for c in candidates {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                c as *mut libc::c_void,
                CHUNK,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED && p as u64 == c {
            return Some(c);
        }
    }
    None
}

/// `push %rbp`: a function's first instruction with frame pointers.
pub fn is_push_rbp(i: &Instruction) -> bool {
    i.code() == iced_x86::Code::Push_r64 && i.op0_register() == iced_x86::Register::RBP
}

/// The 5 bytes of `jmp to` placed at `at`.
pub fn jump(at: u64, to: u64) -> [u8; JMP_LEN] {
    let rel = to.wrapping_sub(at + JMP_LEN as u64) as i64 as i32;
    let mut b = [0xe9, 0, 0, 0, 0];
    b[1..].copy_from_slice(&rel.to_le_bytes());
    b
}

/// Writes `bytes` at `at` in one 16-byte atomic store (the patch lies in
/// one 16-byte block, checked by `plan`), so a thread running the code
/// sees the old bytes or the new, never a mix; returns the bytes replaced.
///
/// # Safety
/// `at` is mapped code of this process, readable and executable.
pub unsafe fn write(at: u64, bytes: &[u8; JMP_LEN]) -> Result<[u8; JMP_LEN], Refusal> {
    let block = at & !15;
    let page = block & !0xfff;
    // SAFETY: the page holds the block; it stays executable throughout,
    // so running threads are not disturbed.
    if unsafe { libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) }
        != 0
    {
        return Err(Refusal::Protect);
    }
    let offset = (at - block) as usize;
    let mut old = [0u8; JMP_LEN];
    // SAFETY: a 16-aligned block of mapped, now writable memory.
    unsafe {
        let mut current = std::ptr::read_volatile(block as *const [u8; 16]);
        loop {
            let mut new = current;
            new[offset..offset + JMP_LEN].copy_from_slice(bytes);
            match cmpxchg16(block, current, new) {
                Ok(()) => break,
                Err(seen) => current = seen,
            }
        }
        old.copy_from_slice(&current[offset..offset + JMP_LEN]);
        libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_EXEC);
    }
    Ok(old)
}

/// `lock cmpxchg16b` on the 16-byte block at `at`.
///
/// # Safety
/// `at` is 16-aligned and writable.
unsafe fn cmpxchg16(at: u64, old: [u8; 16], new: [u8; 16]) -> Result<(), [u8; 16]> {
    let (old_lo, old_hi) = split(old);
    let (new_lo, new_hi) = split(new);
    let (seen_lo, seen_hi): (u64, u64);
    let ok: u8;
    // SAFETY: the caller's; rbx is saved around the instruction (LLVM
    // reserves it).
    unsafe {
        std::arch::asm!(
            "xchg rbx, {nlo}",
            "lock cmpxchg16b [{at}]",
            "sete {ok}",
            "xchg rbx, {nlo}",
            at = in(reg) at,
            nlo = inout(reg) new_lo => _,
            ok = out(reg_byte) ok,
            in("rcx") new_hi,
            inout("rax") old_lo => seen_lo,
            inout("rdx") old_hi => seen_hi,
        );
    }
    if ok != 0 {
        return Ok(());
    }
    let mut seen = [0u8; 16];
    seen[..8].copy_from_slice(&seen_lo.to_le_bytes());
    seen[8..].copy_from_slice(&seen_hi.to_le_bytes());
    Err(seen)
}

fn split(b: [u8; 16]) -> (u64, u64) {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..]);
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// Makes every thread of the process see modified code before its next
/// instruction (after restoring bytes while threads run).
pub fn sync_cores() {
    const SYNC_CORE: libc::c_long = 1 << 5;
    // SAFETY: a plain system call; failing (not registered, old kernel),
    // the context switches that follow serialize each thread anyway.
    unsafe { libc::syscall(libc::SYS_membarrier, SYNC_CORE, 0, 0) };
}

pub fn register_sync_cores() {
    const REGISTER_SYNC_CORE: libc::c_long = 1 << 6;
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_SYNC_CORE, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// `code` copied into fresh executable memory at `offset` from a
    /// 16-byte boundary; its address.
    fn place(code: &[u8], offset: usize) -> u64 {
        // SAFETY: a new private mapping.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED);
        let at = page as u64 + 64 + offset as u64;
        // SAFETY: inside the page.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len()) };
        at
    }

    static HITS: AtomicU64 = AtomicU64::new(0);
    static ARG0: AtomicU64 = AtomicU64::new(0);

    extern "C" fn count(regs: *mut u8, tag: u64) {
        assert_eq!(tag, 0x5eed);
        HITS.fetch_add(1, Ordering::SeqCst);
        // pt_regs's rdi, where the kernel keeps it.
        // SAFETY: the trampoline's frame.
        ARG0.store(unsafe { regs.add(crate::trampoline::regs::RDI).cast::<u64>().read() }, Ordering::SeqCst);
    }

    /// Patches the function at `f` and returns it callable.
    fn patch(f: u64, size: u64) -> extern "C" fn(u64) -> u64 {
        // SAFETY: f is the code just placed, `size` bytes.
        let plan = unsafe { plan(f, 0, size) }.expect("patchable");
        let mut pool = Pool::default();
        let at = pool.alloc(plan.at, 1024).expect("trampoline memory");
        let vectors = crate::trampoline::Vectors::detect();
        let code =
            crate::trampoline::entry(at, f, count as *const () as u64, 0x5eed, &plan.moved, plan.resume, vectors)
                .expect("assembles");
        // SAFETY: the pool's executable memory; then the function's code.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len());
            write(plan.at, &jump(plan.at, at)).expect("writes");
            std::mem::transmute::<u64, extern "C" fn(u64) -> u64>(f)
        }
    }

    #[test]
    fn moved_instructions_run_as_before_with_rip_relative_operands_and_branches() {
        // push rbp; mov rbp,rsp; lea rax,[rip+0x100]; pop rbp; ret: the lea
        // moves to the trampoline and must still give its old address.
        let lea = [0x55, 0x48, 0x89, 0xe5, 0x48, 0x8d, 0x05, 0x00, 0x01, 0x00, 0x00, 0x5d, 0xc3];
        let f = place(&lea, 0);
        let expected = f + 11 + 0x100;
        let before = HITS.load(Ordering::SeqCst);
        let patched = patch(f, lea.len() as u64);
        assert_eq!(patched(7), expected);
        assert_eq!(HITS.load(Ordering::SeqCst), before + 1);
        // test edi,edi; je +6; mov eax,1; ret; mov eax,2; ret: the short
        // conditional jump moves and still lands on the original code.
        let branchy = [0x85, 0xff, 0x74, 0x06, 0xb8, 0x01, 0, 0, 0, 0xc3, 0xb8, 0x02, 0, 0, 0, 0xc3];
        let g = patch(place(&branchy, 0), branchy.len() as u64);
        assert_eq!((g(0), g(1)), (2, 1));
        assert_eq!(ARG0.load(Ordering::SeqCst), 1, "arg0 as pt_regs holds it");
    }

    #[test]
    fn unsafe_sites_are_refused() {
        // SAFETY (each): the code just placed.
        let refused = |code: &[u8], offset: usize| unsafe { plan(place(code, offset), 0, code.len() as u64) }.err();
        // ret alone: shorter than the jump.
        assert_eq!(refused(&[0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc], 0), Some(Refusal::TooShort));
        // A loop back to offset 2, inside the first 5 bytes.
        let looped = [0x31, 0xc0, 0xff, 0xc0, 0x83, 0xf8, 0x0a, 0x75, 0xf9, 0xc3];
        assert_eq!(refused(&looped, 0), Some(Refusal::BranchInside));
        // Across a 16-byte boundary.
        assert_eq!(refused(&[0x90; 16], 13), Some(Refusal::Straddles));
        // int3 cannot move.
        assert_eq!(refused(&[0xcc, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3], 0), Some(Refusal::Unmovable));
        // The bytes are restored in one store: the original comes back.
        let f = place(&[0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3], 0);
        // SAFETY: the code just placed.
        let old = unsafe { write(f, &jump(f, f + 100)) }.expect("writes");
        assert_eq!(old, [0x90; 5]);
        // SAFETY: as above.
        unsafe { write(f, &old) }.expect("writes");
        // SAFETY: as above.
        assert_eq!(
            unsafe { std::slice::from_raw_parts(f as *const u8, 7) },
            [0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3]
        );
    }
}
