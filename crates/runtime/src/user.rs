//! `--user-probes`: the tracer's side of user-space probes.
//!
//! The programs are compiled and loaded into the kernel as ever (the
//! verifier checks them; the kernel's maps hold what other probes
//! count). Then the uprobe programs, their sites and every map are
//! written into the region the command's agent maps (see
//! `bpfscope-userspace`). Once the agent reports, sites it could not
//! patch get kernel uprobes, and the command runs. Maps print from both
//! halves: per-CPU values of the kernel and per-thread values of the
//! agent are one list of values to merge, as CPUs are.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bpfscope_compiler::{Compiled, MapId, MapKind as KernelKind, ProgKind};
use bpfscope_userspace::maps::{Map, MapKind};
use bpfscope_userspace::region::{self, MapSpec, Refusal, Region, RegionBuilder, SiteSpec};

use crate::ringbuf::RingReader;
use crate::{Child, RunError};

pub use bpfscope_userspace::region::{memfd as new_memfd, proc_path};

/// One site as written into the region.
struct Placed {
    program: usize,
    site: usize,
}

pub struct UserProbes {
    region: Region,
    ring: Option<RingReader>,
    /// The region's sites: which compiled program, which of its sites.
    placed: Vec<Placed>,
    /// The compiled programs the agent runs (indexes).
    pub programs: Vec<usize>,
    /// In a running process (`-p`), which keeps the region mapped after
    /// the run: its memory is given back when this is dropped.
    in_process: bool,
}

impl Drop for UserProbes {
    fn drop(&mut self) {
        if self.in_process {
            self.detach();
            self.release();
        }
    }
}

/// A site the kernel takes instead, and why.
pub struct Fallback {
    pub program: usize,
    pub site: usize,
    pub why: String,
}

impl UserProbes {
    /// Writes the region for the command's agent.
    pub fn for_child(compiled: &Compiled, child: &Child) -> Result<UserProbes, RunError> {
        let fds = child.agent().ok_or_else(|| RunError::UserProbes("--user-probes needs -c".into()))?;
        let fd = fds.region.try_clone().map_err(setup)?;
        UserProbes::build(compiled, fd, Some(fds.eventfd.as_fd()))
    }

    /// Writes the region for the agent of a running process (`-p`), which
    /// opens it by its path (no eventfd there: its ring is read at each
    /// poll).
    pub fn for_process(compiled: &Compiled) -> Result<(UserProbes, String), RunError> {
        let fd = new_memfd().map_err(setup)?;
        let path = region::proc_path(&fd);
        let mut user = UserProbes::build(compiled, fd, None)?;
        user.in_process = true;
        Ok((user, path))
    }

    fn build(
        compiled: &Compiled,
        fd: OwnedFd,
        eventfd: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> Result<UserProbes, RunError> {
        let io = setup;
        let mut b =
            RegionBuilder { eventfd: eventfd.map(|e| std::os::fd::AsRawFd::as_raw_fd(&e)), ..Default::default() };
        b.maps = compiled.maps.iter().map(map_spec).collect();
        if let Some(m) = compiled.ringbuf {
            b.ring = Some((m.0 as u32, compiled.maps[m.0].max_entries));
        }
        let (mut placed, mut programs) = (Vec::new(), Vec::new());
        for (pi, p) in compiled.programs.iter().enumerate() {
            let ProgKind::Uprobe { binary, ret, sites } = &p.kind else { continue };
            let index = b.programs.len() as u32;
            b.programs.push(program_words(p));
            programs.push(pi);
            let sizes = function_sizes(binary);
            for (si, s) in sites.iter().enumerate() {
                let size = sizes.iter().find(|(start, len)| s.offset >= *start && s.offset < start + len);
                b.sites.push(SiteSpec {
                    path: binary.as_os_str().as_encoded_bytes().to_vec(),
                    file_offset: s.offset,
                    func_size: size.map_or(0, |(start, len)| start + len - s.offset),
                    func_offset: size.map_or(0, |(start, _)| s.offset - start),
                    semaphore: s.semaphore.unwrap_or(0),
                    cookie: s.cookie,
                    program: index,
                    ret: *ret,
                });
                placed.push(Placed { program: pi, site: si });
            }
        }
        let region = b.build(fd).map_err(io)?;
        let ring = match (compiled.ringbuf, region.fd()) {
            (Some(m), Some(fd)) => Some(
                RingReader::from_memfd(
                    fd.as_fd(),
                    region.header().ring_off as usize,
                    compiled.maps[m.0].max_entries,
                    eventfd,
                )
                .map_err(io)?,
            ),
            _ => None,
        };
        Ok(UserProbes { region, ring, placed, programs, in_process: false })
    }

    /// Waits for the command's agent to report; returns the sites the
    /// kernel must take (refused by the agent, or all of them if it
    /// never came).
    pub fn wait_for_agent(&self, child: &mut Child) -> Vec<Fallback> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !child.exited() && !self.reported() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let missing = format!("the agent did not load in {} (a static binary?)", child.program().display());
        self.fallbacks(&missing)
    }

    /// Whether the agent has patched what it could.
    pub fn reported(&self) -> bool {
        self.region.header().agent_state.load(Ordering::Acquire) != region::agent::NONE
    }

    /// Lists where the process's threads stand (`-p`, before the agent
    /// patches).
    pub fn set_stopped(&self, ips: &[u64]) {
        self.region.set_stopped(ips);
    }

    /// The sites the kernel must take: those the agent refused, or all
    /// (for `missing`) if it has not reported.
    pub fn fallbacks(&self, missing: &str) -> Vec<Fallback> {
        let reported = self.reported();
        let mut out = Vec::new();
        for (d, p) in self.region.sites().iter().zip(&self.placed) {
            let why = if !reported {
                missing.to_string()
            } else if d.status.load(Ordering::Acquire) == region::site_status::PATCHED {
                continue;
            } else {
                Refusal::from_u32(d.refusal.load(Ordering::Acquire)).describe().to_string()
            };
            out.push(Fallback { program: p.program, site: p.site, why });
        }
        out
    }

    /// Lets the agent's probes run (and the command go on).
    pub fn go(&self) {
        let h = self.region.header();
        h.state.store(region::state::RUNNING, Ordering::Release);
        Region::wake(&h.state);
    }

    /// Turns the probes off; the agent puts the bytes back (waited for
    /// a moment, if the command still runs).
    pub fn detach(&self) {
        let h = self.region.header();
        let pid = h.agent_pid.load(Ordering::Acquire);
        // SAFETY: a plain call (signal 0: is it there).
        let child_alive = pid != 0 && unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        h.state.store(region::state::DETACHED, Ordering::Release);
        Region::wake(&h.state);
        let deadline = Instant::now() + Duration::from_secs(5);
        while child_alive
            && h.agent_state.load(Ordering::Acquire) == region::agent::REPORTED
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Frees the maps' and ring's memory of a region a running process
    /// keeps mapped after the run (`-p`): only the header page stays
    /// (its state says detached; the agent's threads may look at it).
    fn release(&self) {
        let Some(fd) = self.region.fd() else { return };
        let page = region::PAGE as libc::off_t;
        let len = self.region.header().total_size as libc::off_t - page;
        // SAFETY: a plain call on our memfd.
        unsafe {
            libc::fallocate(
                std::os::fd::AsRawFd::as_raw_fd(fd),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                page,
                len,
            )
        };
    }

    /// The agent's half of a map.
    pub fn map(&self, id: MapId) -> Option<Map<'_>> {
        let d = self.region.maps().get(id.0)?;
        (d.kind != MapKind::Other && d.kind != MapKind::RingBuf).then(|| Map { desc: d, data: self.region.map_data(d) })
    }

    pub fn ring(&self) -> Option<&RingReader> {
        self.ring.as_ref()
    }

    /// The frames of a stack the agent stored (its id without the
    /// [`AGENT_STACK`](bpfscope_userspace::maps::AGENT_STACK) tag).
    pub fn stack(&self, map: MapId, id: u32) -> Option<Vec<u8>> {
        let d = self.region.maps().get(map.0)?;
        Map { desc: d, data: self.region.map_data(d) }.stack(id)
    }

    /// A word of the agent's globals array.
    pub fn global(&self, globals: MapId, slot: u32) -> u64 {
        let Some(m) = self.map(globals) else { return 0 };
        let v = m.lookup(&slot.to_le_bytes(), 0);
        if v.is_null() {
            return 0;
        }
        // SAFETY: an 8-byte value of the array.
        unsafe { (v as *const u64).read_unaligned() }
    }

    pub fn set_global(&self, globals: MapId, slot: u32, value: u64) {
        if let Some(m) = self.map(globals) {
            m.update(&slot.to_le_bytes(), &value.to_le_bytes(), 0, 0);
        }
    }

    /// Hits the agent did not run a program for: in a probe already
    /// (re-entered), no free thread slot, return stack full.
    pub fn skipped(&self) -> (u64, u64, u64) {
        let h = self.region.header();
        (
            h.reentered.load(Ordering::Relaxed),
            h.slotless.load(Ordering::Relaxed),
            h.missed_returns.load(Ordering::Relaxed),
        )
    }

    /// Where the agent patched each site: its cookie (which names its
    /// probe) and address (for -v).
    pub fn patched(&self) -> Vec<(u64, u64)> {
        self.region
            .sites()
            .iter()
            .filter(|d| d.status.load(Ordering::Acquire) == region::site_status::PATCHED)
            .map(|d| (d.cookie, d.address.load(Ordering::Relaxed)))
            .collect()
    }
}

fn map_spec(m: &bpfscope_compiler::MapSpec) -> MapSpec {
    let kind = match m.kind {
        KernelKind::Hash => MapKind::Hash,
        KernelKind::PercpuHash => MapKind::PercpuHash,
        KernelKind::Array => MapKind::Array,
        KernelKind::PercpuArray => MapKind::PercpuArray,
        KernelKind::RingBuf => MapKind::RingBuf,
        // Frames as addresses; build-id stacks are left to the kernel.
        KernelKind::StackTrace => MapKind::StackTrace,
        _ => MapKind::Other,
    };
    // Stack maps and the like are not made in user space.
    let max_entries = if kind == MapKind::Other || kind == MapKind::RingBuf { 0 } else { m.max_entries };
    MapSpec { kind, key_size: m.key_size, value_size: m.value_size, max_entries }
}

/// A program's instructions with each map load naming its map's index.
fn program_words(p: &bpfscope_compiler::ProgSpec) -> Vec<u64> {
    let mut insns = p.code.insns.clone();
    for (at, map) in &p.code.map_refs {
        insns[*at].imm = map.0 as i32;
    }
    insns.iter().map(|i| u64::from_le_bytes(i.encode())).collect()
}

/// Each function's (file offset, size) in `binary`, from its symbols.
fn function_sizes(binary: &Path) -> Vec<(u64, u64)> {
    use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
    let Ok(data) = std::fs::read(binary) else { return Vec::new() };
    let Ok(file) = object::File::parse(&*data) else { return Vec::new() };
    let segments: Vec<(u64, u64, u64)> = file
        .segments()
        .map(|s| {
            let (off, _) = s.file_range();
            (s.address(), s.size(), off)
        })
        .collect();
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| {
            let (vaddr, _, off) = segments.iter().find(|(a, len, _)| s.address() >= *a && s.address() < a + len)?;
            Some((s.address() - vaddr + off, s.size()))
        })
        .collect()
}

fn setup(e: std::io::Error) -> RunError {
    RunError::UserProbes(format!("cannot set up the shared memory: {e}"))
}
