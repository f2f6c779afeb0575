//! The agent bpfscope loads into a traced process (`--user-probes`):
//! LD_PRELOAD for `-c`. At load it maps the tracer's shared region (named
//! by `BPFSCOPE_REGION`), patches each probe site with a jump to its
//! trampoline, reports which sites it could not patch (the tracer puts
//! kernel uprobes there) and waits for the tracer's go. Each hit then
//! runs the site's programs in this process, into the shared maps and
//! ring: no trap, no system call.
//!
//! The original bytes come back when the tracer detaches or dies (a
//! thread watches it), and in a forked child (which, as with kernel
//! uprobes of one process, is not traced).

mod helpers;
mod patch;
mod thread;
mod trampoline;

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use bpfscope_userspace::maps::{Map, MapKind};
use bpfscope_userspace::region::{Refusal, Region, SLOTS, agent as agent_state, site_status, state};
use bpfscope_userspace::ring::Producer;
use bpfscope_userspace::vm;

use trampoline::regs;

/// The environment variable naming the shared region (a /proc/PID/fd path).
pub const REGION_ENV: &str = "BPFSCOPE_REGION";

pub struct Agent {
    region: &'static Region,
    maps: Vec<Map<'static>>,
    /// Each program prepared to run here, or None where it cannot.
    programs: Vec<Option<Vec<u64>>>,
    producer: Option<Producer<'static>>,
    /// Boxed: each trampoline holds its site's address, which must not
    /// move as the list grows.
    #[allow(clippy::vec_box)]
    sites: Vec<Box<Site>>,
    /// Set when the tracer detached or died: no program runs after.
    off: AtomicBool,
    /// How trampolines keep the vector registers.
    vectors: trampoline::Vectors,
    /// Per thread slot: a thread is running this agent's programs. The
    /// tracer reads the maps once every slot is quiet.
    active: [Active; SLOTS as usize],
}

/// A flag on a cache line of its own (each thread writes only its own).
#[repr(align(64))]
#[derive(Default)]
struct Active(std::sync::atomic::AtomicU32);

/// One patched address, with the programs it runs.
struct Site {
    agent: *const Agent,
    /// Where the jump is (after an endbr64).
    patch_at: u64,
    original: [u8; patch::JMP_LEN],
    patched: AtomicBool,
    /// The probed instruction is `push %rbp` or `endbr64`: a function's
    /// entry, whose caller a user stack takes from the stack's top.
    at_entry: bool,
    /// (program, cookie) on entry and on return.
    entry: Vec<(usize, u64)>,
    ret: Vec<(usize, u64)>,
    /// USDT semaphores counting this agent.
    semaphores: Vec<u64>,
}

/// The agent of the latest attach (a forked child restores its sites).
// SAFETY: an agent is built before any thread uses it and never
// changes after (its sites' bytes change through atomics), nor is freed.
unsafe impl Sync for Agent {}
// SAFETY: as above.
unsafe impl Send for Agent {}

static CURRENT: AtomicPtr<Agent> = AtomicPtr::new(std::ptr::null_mut());
/// Set in a forked child: its probes are off.
static OFF_HERE: AtomicBool = AtomicBool::new(false);
static RETURN_TRAMPOLINE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static AT_FORK: std::sync::Once = std::sync::Once::new();

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

/// With LD_PRELOAD (`-c`): the region is named in the environment.
extern "C" fn init() {
    if let Some(path) = std::env::var_os(REGION_ENV) {
        attach(std::path::Path::new(&path), true);
    }
}

/// For `-p`: the tracer calls this in the process (through ptrace) once
/// the library is loaded; 0 when the agent is attached.
///
/// # Safety
/// `path` is a NUL-terminated path.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bpfscope_agent_attach(path: *const libc::c_char) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: the caller's.
    let path = unsafe { std::ffi::CStr::from_ptr(path) };
    if attach(std::path::Path::new(std::ffi::OsStr::from_bytes(path.to_bytes())), false) { 0 } else { -1 }
}

/// Maps the region at `path`, patches its sites, reports to the tracer
/// and waits for its go; then watches the tracer.
fn attach(path: &std::path::Path, preloaded: bool) -> bool {
    let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(path) else {
        if preloaded {
            forget_environment();
        }
        return false;
    };
    let Ok(region) = Region::map(file.into()) else { return false };
    // As kernel uprobes of one process: the traced process is traced
    // across its execs (the same pid: the agent loads again into the new
    // program), and its children are not.
    // SAFETY: a plain call.
    let me = unsafe { libc::getpid() } as u32;
    let first = match region.header().agent_pid.load(Ordering::Acquire) {
        0 => true,
        pid if pid == me => false,
        _ => {
            forget_environment();
            return false;
        }
    };
    let region: &'static Region = Box::leak(Box::new(region));
    patch::register_sync_cores();
    // Never freed: trampolines and replaced return addresses may lead
    // here for as long as the process runs.
    let agent: &'static mut Agent = Box::leak(Box::new(Agent::new(region)));
    agent.patch_all();
    let agent: &'static Agent = agent;
    CURRENT.store(agent as *const Agent as *mut Agent, Ordering::Release);
    // The watcher starts before the probes run: its own calls (thread
    // creation allocates) are not the process's.
    let (started, ready) = std::sync::mpsc::sync_channel(0);
    let watcher = std::thread::Builder::new().name("bpfscope-agent".into()).spawn(move || {
        thread::IN_PROBE.with(|c| c.set(true));
        let _ = started.send(());
        watch_tracer(agent)
    });
    if watcher.is_ok() {
        let _ = ready.recv();
    }
    let h = region.header();
    if first {
        h.agent_pid.store(me, Ordering::Release);
        h.agent_state.store(agent_state::REPORTED, Ordering::Release);
        Region::wake(&h.agent_state);
        // The tracer attaches kernel uprobes where patching was refused,
        // then says go; the process goes on after.
        while h.state.load(Ordering::Acquire) == state::SETUP {
            Region::wait(&h.state, state::SETUP, 100);
        }
    }
    AT_FORK.call_once(|| {
        // SAFETY: the handler only touches this library's statics.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork)) };
    });
    true
}

/// Children this process starts do not load the agent again: the
/// command's own LD_PRELOAD comes back.
fn forget_environment() {
    // SAFETY: at load, before the program's threads exist.
    unsafe {
        std::env::remove_var(REGION_ENV);
        match std::env::var_os("BPFSCOPE_LD_PRELOAD") {
            Some(was) if !was.is_empty() => std::env::set_var("LD_PRELOAD", was),
            _ => std::env::remove_var("LD_PRELOAD"),
        }
        std::env::remove_var("BPFSCOPE_LD_PRELOAD");
    }
}

impl Agent {
    fn new(region: &'static Region) -> Agent {
        let maps: Vec<Map<'static>> = region.maps().iter().map(|d| Map { desc: d, data: region.map_data(d) }).collect();
        let mut agent = Agent {
            region,
            maps,
            programs: Vec::new(),
            producer: Producer::of(region),
            sites: Vec::new(),
            off: AtomicBool::new(false),
            vectors: trampoline::Vectors::detect(),
            active: std::array::from_fn(|_| Active::default()),
        };
        agent.programs = region.programs().iter().map(|p| agent.prepare(region.insns(p))).collect();
        agent
    }

    /// The program with its map loads pointing at this agent's maps, if
    /// everything in it runs here.
    fn prepare(&self, insns: &[u64]) -> Option<Vec<u64>> {
        let mut out = insns.to_vec();
        let mut pc = 0;
        while pc + 1 < out.len() {
            let b = out[pc].to_le_bytes();
            if b[0] == 0x18 {
                if b[1] >> 4 == vm::PSEUDO_MAP_FD {
                    let index = i32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
                    let map = self.maps.get(index)?;
                    if map.desc.kind == MapKind::Other {
                        return None;
                    }
                    // The map's address as a plain 64-bit constant.
                    let ptr = map as *const Map<'static> as u64;
                    out[pc] = 0x18 | (u64::from(b[1] & 0x0f) << 8) | ((ptr & 0xffff_ffff) << 32);
                    out[pc + 1] = (ptr >> 32) << 32;
                }
                pc += 1;
            }
            pc += 1;
        }
        let probe = helpers::Hit { agent: self, cookie: 0, slot: 0, regs: std::ptr::null(), at_entry: false };
        vm::check(&out, &probe).ok()?;
        Some(out)
    }

    /// Patches every site it can; marks each patched or refused (why).
    fn patch_all(&mut self) {
        let maps = patch::mappings();
        let shadow_stack = uses_shadow_stack();
        let mut pool = patch::Pool::default();
        let ret_tramp = pool.alloc(maps.first().map_or(0, |m| m.start), 1024).and_then(|at| {
            let code = trampoline::ret(at, on_return as *const () as u64, self.vectors).ok()?;
            // SAFETY: fresh executable memory of the pool, 1024 bytes.
            unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len().min(1024)) };
            Some(at)
        });
        RETURN_TRAMPOLINE.store(ret_tramp.unwrap_or(0), Ordering::Release);
        // Sites by address: entry and return probes of one function share
        // a jump.
        let descs = self.region.sites();
        let mut by_address: Vec<(u64, Vec<usize>)> = Vec::new();
        for (i, d) in descs.iter().enumerate() {
            let refuse = |why: Refusal| {
                d.refusal.store(why as u32, Ordering::Relaxed);
                d.status.store(site_status::REFUSED, Ordering::Release);
            };
            if self.programs.get(d.program as usize).is_none_or(Option::is_none) {
                refuse(Refusal::Program);
                continue;
            }
            if d.ret != 0 && (shadow_stack || ret_tramp.is_none()) {
                refuse(Refusal::ShadowStack);
                continue;
            }
            let Some(addr) = patch::address_of(&maps, self.region.path(d), d.file_offset) else {
                refuse(Refusal::NotMapped);
                continue;
            };
            d.address.store(addr, Ordering::Relaxed);
            match by_address.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, v)) => v.push(i),
                None => by_address.push((addr, vec![i])),
            }
        }
        by_address.sort_by_key(|(a, _)| *a);
        let plans: Vec<Result<patch::Plan, Refusal>> = by_address
            .iter()
            .map(|(addr, members)| {
                let d = &descs[members[0]];
                // SAFETY: the address is in an executable mapping of the
                // binary, inside its function (from the symbol table).
                unsafe { patch::plan(*addr, d.func_offset, d.func_size) }
            })
            .collect();
        let stopped = self.region.stopped_at();
        let mut covered_to = 0;
        for (n, ((addr, members), plan)) in by_address.iter().zip(plans).enumerate() {
            // No jump may cover another site, nor start inside another's.
            let next = by_address.get(n + 1).map_or(u64::MAX, |(a, _)| *a);
            let plan =
                plan.and_then(|p| if *addr < covered_to || p.resume > next { Err(Refusal::Overlaps) } else { Ok(p) });
            // A thread stopped inside the bytes would resume in the jump.
            let plan = plan.and_then(|p| match stopped {
                Some(ips) if !ips.iter().any(|ip| *ip > p.at && *ip < p.resume) => Ok(p),
                _ => Err(Refusal::ThreadInside),
            });
            let result = plan.and_then(|p| {
                let resume = p.resume;
                self.patch_one(&mut pool, *addr, p, members, &maps).map(|()| resume)
            });
            if let Ok(resume) = result {
                covered_to = resume;
            }
            for &i in members {
                match result {
                    Ok(_) => descs[i].status.store(site_status::PATCHED, Ordering::Release),
                    Err(why) => {
                        descs[i].refusal.store(why as u32, Ordering::Relaxed);
                        descs[i].status.store(site_status::REFUSED, Ordering::Release);
                    }
                }
            }
        }
    }

    /// Builds the trampoline of one address, writes its jump, and counts
    /// the agent in its USDT semaphores.
    fn patch_one(
        &mut self,
        pool: &mut patch::Pool,
        addr: u64,
        plan: patch::Plan,
        members: &[usize],
        maps: &[patch::Mapping],
    ) -> Result<(), Refusal> {
        let descs = self.region.sites();
        let at = pool.alloc(plan.at, 1024).ok_or(Refusal::NoNearbySpace)?;
        let mut site = Box::new(Site {
            agent: self as *const Agent,
            patch_at: plan.at,
            original: [0; patch::JMP_LEN],
            patched: AtomicBool::new(false),
            at_entry: plan.at != addr || plan.moved.first().is_some_and(patch::is_push_rbp),
            entry: Vec::new(),
            ret: Vec::new(),
            semaphores: Vec::new(),
        });
        let code = trampoline::entry(
            at,
            addr,
            on_entry as *const () as u64,
            &*site as *const Site as u64,
            &plan.moved,
            plan.resume,
            self.vectors,
        )
        .map_err(|_| Refusal::Unmovable)?;
        if code.len() > 1024 {
            return Err(Refusal::Unmovable);
        }
        // SAFETY: 1024 bytes of the pool's executable memory.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len()) };
        for &i in members {
            let d = &descs[i];
            let to = if d.ret != 0 { &mut site.ret } else { &mut site.entry };
            to.push((d.program as usize, d.cookie));
            if d.semaphore != 0
                && let Some(a) = patch::data_address_of(maps, self.region.path(d), d.semaphore)
            {
                site.semaphores.push(a);
            }
        }
        // SAFETY: plan.at is the function's code, checked by plan.
        site.original = unsafe { patch::write(plan.at, &patch::jump(plan.at, at))? };
        site.patched.store(true, Ordering::Release);
        for &a in &site.semaphores {
            // SAFETY: a USDT semaphore: a 2-byte counter in the binary's
            // writable data.
            unsafe { &*(a as *const std::sync::atomic::AtomicU16) }.fetch_add(1, Ordering::AcqRel);
        }
        self.sites.push(site);
        Ok(())
    }

    /// Puts every site's original bytes back.
    fn restore_all(&self, running_threads: bool) {
        for s in &self.sites {
            if s.patched.swap(false, Ordering::AcqRel) {
                // SAFETY: the bytes this agent replaced, at the same place.
                let _ = unsafe { patch::write(s.patch_at, &s.original) };
                for &a in &s.semaphores {
                    // SAFETY: as when counted in.
                    unsafe { &*(a as *const std::sync::atomic::AtomicU16) }.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        if running_threads {
            patch::sync_cores();
        }
    }

    /// `bpf_get_stackid` of the user stack (BPF_F_USER_STACK; kernel
    /// stacks are not here: -EFAULT), tagged as the agent's.
    fn stack_id(&self, regs: *const u8, at_entry: bool, map: &Map<'static>, flags: u64) -> u64 {
        const USER_STACK: u64 = 1 << 8;
        if flags & USER_STACK == 0 {
            return -14i64 as u64;
        }
        let mut frames = [0u64; 127];
        let depth = (map.desc.value_size as usize / 8).min(frames.len());
        let n = helpers::user_stack(
            read_reg(regs, regs::RIP),
            read_reg(regs, regs::RBP),
            read_reg(regs, regs::RSP),
            at_entry,
            &mut frames[..depth],
        );
        match map.stack_id(&frames[..n]) {
            id if id < 0 => id as u64,
            id => id as u64 | bpfscope_userspace::maps::AGENT_STACK,
        }
    }

    /// Whether probes run now.
    fn on(&self) -> bool {
        !OFF_HERE.load(Ordering::Relaxed) && !self.off.load(Ordering::Relaxed) && self.region.running()
    }

    /// Runs `f` with the thread's slot marked active, unless the agent
    /// turned off meanwhile (checked after marking: see `quiesce`).
    fn while_active(&self, slot: u32, f: impl FnOnce()) {
        let Some(active) = self.active.get(slot as usize) else { return };
        active.0.store(1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.on() {
            f();
        }
        active.0.store(0, Ordering::Release);
    }

    /// Turns the probes off and waits (up to 5 s) until no thread runs a
    /// program: what the maps hold is final.
    fn quiesce(&self) {
        self.off.store(true, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::SeqCst);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.active.iter().any(|a| a.0.load(Ordering::Acquire) != 0) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }

    fn run(&self, program: usize, cookie: u64, slot: u32, regs: *mut u8, at_entry: bool) {
        let Some(Some(insns)) = self.programs.get(program) else { return };
        let mut hit = helpers::Hit { agent: self, cookie, slot, regs, at_entry };
        // SAFETY: a program the kernel verified and `check` accepted, on
        // the pt_regs its type is verified for.
        unsafe { vm::run(insns, regs, &mut hit) };
    }
}

fn read_reg(regs: *const u8, at: usize) -> u64 {
    // SAFETY: regs is a trampoline's frame of pt_regs.
    unsafe { regs.add(at).cast::<u64>().read() }
}

fn write_reg(regs: *mut u8, at: usize, v: u64) {
    // SAFETY: as above.
    unsafe { regs.add(at).cast::<u64>().write(v) }
}

/// Called by an entry trampoline with its frame and its site.
extern "C" fn on_entry(regs: *mut u8, site: u64) {
    // SAFETY: trampolines pass their site, which lives as long as the
    // process, as does its agent.
    let s = unsafe { &*(site as *const Site) };
    // SAFETY: as above.
    let agent = unsafe { &*s.agent };
    if !agent.on() {
        return;
    }
    let h = agent.region.header();
    if thread::IN_PROBE.with(|c| c.replace(true)) {
        h.reentered.fetch_add(1, Ordering::Relaxed);
        return;
    }
    match thread::slot(h) {
        Some(slot) => {
            agent.while_active(slot, || {
                for &(p, cookie) in &s.entry {
                    agent.run(p, cookie, slot, regs, s.at_entry);
                }
                if !s.ret.is_empty() {
                    replace_return(regs, site, h);
                }
            });
        }
        None => {
            h.slotless.fetch_add(1, Ordering::Relaxed);
        }
    }
    thread::IN_PROBE.with(|c| c.set(false));
}

/// Points the function's return at the return trampoline, keeping where
/// it would have gone.
fn replace_return(regs: *mut u8, site: u64, h: &bpfscope_userspace::region::Header) {
    let tramp = RETURN_TRAMPOLINE.load(Ordering::Relaxed);
    let sp = read_reg(regs, regs::RSP);
    thread::RETURNS.with(|r| {
        let mut r = r.borrow_mut();
        if r.depth == thread::RETURN_DEPTH {
            h.missed_returns.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: at a function's entry, the stack pointer points at its
        // return address.
        let to = unsafe { std::ptr::replace(sp as *mut u64, tramp) };
        let depth = r.depth;
        r.stack[depth] = thread::Pending { to, sp, site };
        r.depth += 1;
    });
}

/// Called by the return trampoline; returns where the function would
/// have returned.
extern "C" fn on_return(regs: *mut u8, _arg: u64) -> u64 {
    // The function's `ret` popped the trampoline's address.
    let sp = read_reg(regs, regs::RSP) - 8;
    let pending = thread::RETURNS.with(|r| {
        let mut r = r.borrow_mut();
        // Frames left by longjmp or an exception lie above: drop them.
        while r.depth > 0 && r.stack[r.depth - 1].sp < sp {
            r.depth -= 1;
        }
        if r.depth == 0 {
            return None;
        }
        r.depth -= 1;
        Some(r.stack[r.depth])
    });
    let Some(pending) = pending else {
        // Nowhere known to return to: nothing sane can follow.
        std::process::abort();
    };
    write_reg(regs, regs::RIP, pending.to);
    // SAFETY: as in on_entry.
    let s = unsafe { &*(pending.site as *const Site) };
    // SAFETY: as above.
    let agent = unsafe { &*s.agent };
    if agent.on() && !thread::IN_PROBE.with(|c| c.replace(true)) {
        if let Some(slot) = thread::slot(agent.region.header()) {
            agent.while_active(slot, || {
                for &(p, cookie) in &s.ret {
                    agent.run(p, cookie, slot, regs, false);
                }
            });
        }
        thread::IN_PROBE.with(|c| c.set(false));
    }
    pending.to
}

extern "C" fn after_fork() {
    // As kernel uprobes of one process: the child is not traced (nor
    // what it execs). It has one thread now, so the bytes go back
    // without care.
    OFF_HERE.store(true, Ordering::Release);
    forget_environment();
    thread::forget_after_fork();
    let agent = CURRENT.load(Ordering::Acquire);
    if !agent.is_null() {
        // SAFETY: agents are never freed.
        unsafe { &*agent }.restore_all(false);
    }
}

/// Restores the sites when the tracer detaches or dies.
fn watch_tracer(agent: &'static Agent) {
    let h = agent.region.header();
    // SAFETY: a plain system call.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, h.tracer_pid as libc::pid_t, 0) } as i32;
    loop {
        let gone = if pidfd >= 0 {
            let mut p = libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one pollfd.
            unsafe { libc::poll(&mut p, 1, 100) };
            p.revents != 0
        } else {
            std::thread::sleep(std::time::Duration::from_millis(100));
            // SAFETY: a plain call.
            unsafe { libc::kill(h.tracer_pid as libc::pid_t, 0) != 0 }
        };
        if gone || h.state.load(Ordering::Acquire) == state::DETACHED {
            if !OFF_HERE.load(Ordering::Acquire) {
                agent.restore_all(true);
            }
            agent.quiesce();
            h.agent_state.store(agent_state::RESTORED, Ordering::Release);
            Region::wake(&h.agent_state);
            return;
        }
    }
}

/// Whether this process runs with CET shadow stacks (return addresses
/// cannot be replaced).
fn uses_shadow_stack() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("x86_Thread_features:") && l.contains("shstk")))
}
