//! The shared region: one memfd that the tracer fills and the agent maps.
//!
//! Layout (every offset from the start, 8-aligned; the ring page-aligned):
//! the [`Header`] in the first page, then the sites, the programs and
//! their instructions, the paths, the maps' descriptors and data, and the
//! ring (consumer page, producer page, data).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::maps::{MapDesc, MapKind};

pub const MAGIC: u64 = u64::from_le_bytes(*b"BPFSCUP1");
pub const PAGE: usize = 4096;
/// Per-thread value slots of a per-CPU map: the user-space "CPUs".
pub const SLOTS: u32 = 64;

/// The tracer's state, read by the agent.
pub mod state {
    /// The region is being written.
    pub const SETUP: u32 = 0;
    /// Probes run.
    pub const RUNNING: u32 = 1;
    /// The tracer is gone or detached: trampolines pass through, sites
    /// are restored.
    pub const DETACHED: u32 = 2;
}

/// The agent's progress, read by the tracer.
pub mod agent {
    pub const NONE: u32 = 0;
    /// Every site is patched or refused (see each site's status).
    pub const REPORTED: u32 = 1;
    /// The agent restored every site's bytes.
    pub const RESTORED: u32 = 2;
}

#[repr(C)]
pub struct Header {
    pub magic: u64,
    pub total_size: u64,
    pub tracer_pid: u32,
    pub n_sites: u32,
    pub n_progs: u32,
    pub n_maps: u32,
    pub sites_off: u64,
    pub progs_off: u64,
    pub maps_off: u64,
    pub strings_off: u64,
    /// The ring's consumer page (then its producer page and data); 0:
    /// no ring.
    pub ring_off: u64,
    pub ring_size: u64,
    /// The ring's map index (its `map[...]` loads), or u32::MAX.
    pub ring_map: u32,
    /// An eventfd the agent writes when the tracer may be asleep on an
    /// empty ring (-1: none).
    pub eventfd: i32,
    pub state: AtomicU32,
    pub agent_state: AtomicU32,
    pub agent_pid: AtomicU32,
    /// Ring producers take this lock to reserve (as the kernel's do).
    pub ring_lock: AtomicU32,
    /// Per-thread slots in use, one bit each.
    pub slots_used: AtomicU64,
    /// Hits skipped because the thread was already in a probe.
    pub reentered: AtomicU64,
    /// Hits skipped because every per-thread slot was taken.
    pub slotless: AtomicU64,
    /// Return probes missed (the thread's return stack was full).
    pub missed_returns: AtomicU64,
    /// Where each thread of a running process stood when the tracer
    /// stopped them to load the agent (`-p`): no site is patched across
    /// one of these.
    pub n_stopped: u32,
    pub stopped: [u64; MAX_STOPPED],
}

/// Stopped threads the header lists (more: no site is patched).
pub const MAX_STOPPED: usize = 256;

/// Why the agent did not patch a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Refusal {
    None = 0,
    /// The binary is not mapped in the process.
    NotMapped = 1,
    /// Fewer than 5 bytes to the end of the function.
    TooShort = 2,
    /// An instruction the patcher cannot move (or cannot decode).
    Unmovable = 3,
    /// A branch in the function lands inside the patched bytes.
    BranchInside = 4,
    /// No free address space within 2 GB for the trampoline.
    NoNearbySpace = 5,
    /// The patch would cross a 16-byte block, so it could not be undone
    /// in one atomic write while threads run.
    Straddles = 6,
    /// The process uses CET shadow stacks: return addresses cannot be
    /// replaced.
    ShadowStack = 7,
    /// The program uses a helper or instruction the interpreter lacks.
    Program = 8,
    /// The memory could not be made writable.
    Protect = 9,
    /// Another probe's jump covers this site, or this one's would cover
    /// another's.
    Overlaps = 10,
    /// A thread of the process stands inside the bytes the jump replaces.
    ThreadInside = 11,
}

impl Refusal {
    pub fn from_u32(v: u32) -> Refusal {
        match v {
            1 => Refusal::NotMapped,
            2 => Refusal::TooShort,
            3 => Refusal::Unmovable,
            4 => Refusal::BranchInside,
            5 => Refusal::NoNearbySpace,
            6 => Refusal::Straddles,
            7 => Refusal::ShadowStack,
            8 => Refusal::Program,
            9 => Refusal::Protect,
            10 => Refusal::Overlaps,
            11 => Refusal::ThreadInside,
            _ => Refusal::None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Refusal::None => "patched",
            Refusal::NotMapped => "the binary is not mapped in the process",
            Refusal::TooShort => "the function is shorter than the 5-byte jump",
            Refusal::Unmovable => "an instruction in its first bytes cannot be moved",
            Refusal::BranchInside => "a branch in the function lands inside the bytes the jump replaces",
            Refusal::NoNearbySpace => "no free address space within 2 GB for its trampoline",
            Refusal::Straddles => "the jump would cross a 16-byte block, so it could not be undone atomically",
            Refusal::ShadowStack => "the process uses CET shadow stacks, so return addresses cannot be replaced",
            Refusal::Program => "the program uses what the user-space interpreter does not have",
            Refusal::Protect => "its code could not be made writable",
            Refusal::Overlaps => "another probe's site is within the bytes a jump replaces",
            Refusal::ThreadInside => "a thread of the process stood inside the bytes the jump replaces",
        }
    }
}

/// Where a site is.
pub mod site_status {
    pub const PENDING: u32 = 0;
    pub const PATCHED: u32 = 1;
    pub const REFUSED: u32 = 2;
}

/// One probe site: a file offset in a binary, and the program it runs.
#[repr(C)]
pub struct SiteDesc {
    pub path_off: u32,
    pub path_len: u32,
    pub file_offset: u64,
    /// The function's size from the symbol table from the site on (0:
    /// unknown), and the bytes of it before the site: the search for
    /// branches into the patched bytes covers the whole function.
    pub func_size: u64,
    pub func_offset: u64,
    /// A USDT semaphore's file offset (0: none): the agent counts itself
    /// in it, as the kernel does for its uprobes.
    pub semaphore: u64,
    pub cookie: u64,
    pub program: u32,
    /// 1: a return probe.
    pub ret: u32,
    pub status: AtomicU32,
    pub refusal: AtomicU32,
    /// Where the agent found it.
    pub address: AtomicU64,
}

#[repr(C)]
pub struct ProgDesc {
    pub insns_off: u64,
    pub n_insns: u32,
    pub _pad: u32,
}

/// The region as mapped into this process.
pub struct Region {
    base: *mut u8,
    len: usize,
    fd: Option<OwnedFd>,
}

// SAFETY: the region is shared memory accessed through atomics and
// through the maps' own protocol; the pointer is valid for the mapping's
// life.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: our own mapping, not used after this.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

impl Region {
    /// Maps the region of `fd` (opened by the agent, or the tracer's own).
    pub fn map(fd: OwnedFd) -> io::Result<Region> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: st has room for a stat.
        if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstat filled it.
        let len = usize::try_from(unsafe { st.assume_init() }.st_size).unwrap_or(0);
        if len < PAGE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the shared region is too small"));
        }
        let base = map_shared(&fd, len)?;
        let region = Region { base, len, fd: Some(fd) };
        if region.header().magic != MAGIC || region.header().total_size as usize != len {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not a bpfscope region"));
        }
        Ok(region)
    }

    pub fn fd(&self) -> Option<&OwnedFd> {
        self.fd.as_ref()
    }

    pub fn base(&self) -> *mut u8 {
        self.base
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the first page holds the header.
        unsafe { &*(self.base as *const Header) }
    }

    fn at<T>(&self, off: u64) -> *mut T {
        // SAFETY: offsets come from the header the tracer wrote, inside the
        // mapping.
        unsafe { self.base.add(off as usize).cast() }
    }

    pub fn sites(&self) -> &[SiteDesc] {
        let h = self.header();
        // SAFETY: n_sites descriptors at sites_off.
        unsafe { std::slice::from_raw_parts(self.at(h.sites_off), h.n_sites as usize) }
    }

    pub fn programs(&self) -> &[ProgDesc] {
        let h = self.header();
        // SAFETY: n_progs descriptors at progs_off.
        unsafe { std::slice::from_raw_parts(self.at(h.progs_off), h.n_progs as usize) }
    }

    pub fn insns(&self, p: &ProgDesc) -> &[u64] {
        // SAFETY: the program's instructions.
        unsafe { std::slice::from_raw_parts(self.at(p.insns_off), p.n_insns as usize) }
    }

    pub fn maps(&self) -> &[MapDesc] {
        let h = self.header();
        // SAFETY: n_maps descriptors at maps_off.
        unsafe { std::slice::from_raw_parts(self.at(h.maps_off), h.n_maps as usize) }
    }

    pub fn path(&self, s: &SiteDesc) -> &[u8] {
        // SAFETY: the site's path in the strings.
        unsafe {
            std::slice::from_raw_parts(self.at(u64::from(s.path_off) + self.header().strings_off), s.path_len as usize)
        }
    }

    /// A map's data (its entries).
    pub fn map_data(&self, m: &MapDesc) -> *mut u8 {
        self.at(m.data_off)
    }

    /// The ring's first byte (its consumer page), if it has one.
    pub fn ring(&self) -> Option<*mut u8> {
        (self.header().ring_off != 0).then(|| self.at(self.header().ring_off))
    }

    /// Where the process's threads stood while stopped (`-p`); None if
    /// there were more than the header holds.
    pub fn stopped_at(&self) -> Option<&[u64]> {
        let h = self.header();
        let n = h.n_stopped as usize;
        (n <= MAX_STOPPED).then(|| &h.stopped[..n])
    }

    /// Lists where the threads stand (the tracer, before the agent loads).
    pub fn set_stopped(&self, ips: &[u64]) {
        let h = self.base as *mut Header;
        // SAFETY: fields of the header, written through the pointer (no
        // reference to them is held) before the agent reads them.
        unsafe {
            std::ptr::addr_of_mut!((*h).n_stopped).write(ips.len() as u32);
            let stopped = std::ptr::addr_of_mut!((*h).stopped).cast::<u64>();
            for (n, ip) in ips.iter().take(MAX_STOPPED).enumerate() {
                stopped.add(n).write(*ip);
            }
        }
    }

    /// Wakes whoever waits on a word of the region (other processes too).
    pub fn wake(word: &AtomicU32) {
        // SAFETY: a futex word in shared memory (not FUTEX_PRIVATE).
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
    }

    /// Waits up to `ms` while `word` holds `expected`.
    pub fn wait(word: &AtomicU32, expected: u32, ms: i64) {
        let ts = libc::timespec { tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000 };
        // SAFETY: as above; the timeout bounds it.
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, &ts) };
    }

    pub fn running(&self) -> bool {
        self.header().state.load(Ordering::Acquire) == state::RUNNING
    }
}

fn map_shared(fd: &OwnedFd, len: usize) -> io::Result<*mut u8> {
    // SAFETY: a new shared mapping of the whole file.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0)
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// A site as the tracer describes it.
pub struct SiteSpec {
    pub path: Vec<u8>,
    pub file_offset: u64,
    pub func_size: u64,
    pub func_offset: u64,
    pub semaphore: u64,
    pub cookie: u64,
    pub program: u32,
    pub ret: bool,
}

/// A map as the tracer describes it.
#[derive(Clone, Copy)]
pub struct MapSpec {
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// Writes a region into a new memfd.
#[derive(Default)]
pub struct RegionBuilder {
    pub sites: Vec<SiteSpec>,
    /// Each program's instructions, their map loads already holding map
    /// indexes (the agent puts its own map addresses there).
    pub programs: Vec<Vec<u64>>,
    pub maps: Vec<MapSpec>,
    /// The ring buffer's map index and size (a power of two of pages).
    pub ring: Option<(u32, u32)>,
    pub eventfd: Option<i32>,
}

impl RegionBuilder {
    /// Lays the region out in `fd` (a [`memfd`], empty so far) and maps it.
    pub fn build(&self, fd: OwnedFd) -> io::Result<Region> {
        let mut off = PAGE as u64;
        let mut take = |bytes: u64| {
            let at = off;
            off = (off + bytes).next_multiple_of(8);
            at
        };
        let sites_off = take((self.sites.len() * size_of::<SiteDesc>()) as u64);
        let progs_off = take((self.programs.len() * size_of::<ProgDesc>()) as u64);
        let insns_offs: Vec<u64> = self.programs.iter().map(|p| take(p.len() as u64 * 8)).collect();
        let strings_len: usize = self.sites.iter().map(|s| s.path.len()).sum();
        let strings_off = take(strings_len as u64);
        let maps_off = take((self.maps.len() * size_of::<MapDesc>()) as u64);
        let descs: Vec<MapDesc> = self.maps.iter().map(|m| MapDesc::new(m, SLOTS)).collect();
        let data_offs: Vec<u64> = descs.iter().map(|d| take(d.data_size)).collect();
        let mut total = off.next_multiple_of(PAGE as u64);
        let ring_off = match self.ring {
            Some((_, size)) => {
                let at = total;
                total += 2 * PAGE as u64 + u64::from(size);
                at
            }
            None => 0,
        };
        // SAFETY: a plain call.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), total as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let base = map_shared(&fd, total as usize)?;
        let region = Region { base, len: total as usize, fd: Some(fd) };
        // SAFETY: every write below is inside the new, zeroed mapping, at
        // the offsets just laid out.
        unsafe {
            let h = &mut *(base as *mut Header);
            h.total_size = total;
            h.tracer_pid = std::process::id();
            h.n_sites = self.sites.len() as u32;
            h.n_progs = self.programs.len() as u32;
            h.n_maps = self.maps.len() as u32;
            h.sites_off = sites_off;
            h.progs_off = progs_off;
            h.maps_off = maps_off;
            h.strings_off = strings_off;
            h.ring_off = ring_off;
            h.ring_size = self.ring.map_or(0, |(_, s)| u64::from(s));
            h.ring_map = self.ring.map_or(u32::MAX, |(m, _)| m);
            h.eventfd = self.eventfd.unwrap_or(-1);
            let mut string_at = 0u32;
            for (i, s) in self.sites.iter().enumerate() {
                let d = &mut *region.at::<SiteDesc>(sites_off + (i * size_of::<SiteDesc>()) as u64);
                d.path_off = string_at;
                d.path_len = s.path.len() as u32;
                std::ptr::copy_nonoverlapping(
                    s.path.as_ptr(),
                    region.at(strings_off + u64::from(string_at)),
                    s.path.len(),
                );
                string_at += s.path.len() as u32;
                d.file_offset = s.file_offset;
                d.func_size = s.func_size;
                d.func_offset = s.func_offset;
                d.semaphore = s.semaphore;
                d.cookie = s.cookie;
                d.program = s.program;
                d.ret = u32::from(s.ret);
            }
            for (i, (p, at)) in self.programs.iter().zip(&insns_offs).enumerate() {
                let d = &mut *region.at::<ProgDesc>(progs_off + (i * size_of::<ProgDesc>()) as u64);
                d.insns_off = *at;
                d.n_insns = p.len() as u32;
                std::ptr::copy_nonoverlapping(p.as_ptr(), region.at(*at), p.len());
            }
            for (i, (mut d, at)) in descs.into_iter().zip(&data_offs).enumerate() {
                d.data_off = *at;
                std::ptr::write(region.at(maps_off + (i * size_of::<MapDesc>()) as u64), d);
            }
            // Written last: a region whose magic is right is complete.
            h.magic = MAGIC;
        }
        Ok(region)
    }
}

/// The path by which another process opens this process's descriptor
/// `fd` (as root: the agent opens the region, a process loads the
/// agent library).
pub fn proc_path(fd: &impl AsRawFd) -> String {
    format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd())
}

/// A new, empty memfd for a region.
pub fn memfd() -> io::Result<OwnedFd> {
    // Not close-on-exec: the command started with the agent inherits it.
    // SAFETY: a plain call with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"bpfscope-user-probes".as_ptr(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just made it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
