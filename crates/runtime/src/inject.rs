//! `--user-probes -p PID`: loading the agent into a running process.
//!
//! Every thread is stopped under ptrace (seized and interrupted), their
//! instruction pointers are handed to the agent (it refuses to patch
//! where a thread stands), then one thread is made to call the process's
//! own `dlopen` on the agent library, and the agent's
//! `bpfscope_agent_attach` on the shared region, each returning to
//! address 0 (a fault we catch); its registers are put back and every
//! thread goes on. While the agent attaches, `progress` runs (it
//! attaches the kernel fallbacks and gives the go).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a process could not be entered.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("cannot trace process {pid} with ptrace: {source} (run as root; a process already traced cannot be)")]
    Seize { pid: i32, source: io::Error },
    #[error(
        "process {0} has no dlopen in its C library (statically linked?): its probes need the kernel (run without --user-probes)"
    )]
    NoDlopen(u32),
    #[error("process {pid}: the call of {what} failed: {why}")]
    Call { pid: u32, what: &'static str, why: String },
    #[error("process {0} exited while the agent was loading")]
    Gone(u32),
}

/// The agent library as the process can open it, and its bytes (to find
/// its entry point).
#[derive(Clone, Debug)]
pub struct AgentLibrary {
    pub path: PathBuf,
    pub bytes: &'static [u8],
    /// Keeps a memfd holding the library open.
    pub file: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

/// The threads of a process, stopped until dropped.
struct Stopped {
    threads: Vec<i32>,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for &tid in &self.threads {
            // SAFETY: detaching our tracee.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, 0, 0) };
        }
    }
}

fn tasks(pid: i32) -> Vec<i32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Seizes and stops every thread (again until no new one appeared).
fn stop_all(pid: i32) -> Result<Stopped, InjectError> {
    let mut stopped = Stopped { threads: Vec::new() };
    loop {
        let new: Vec<i32> = tasks(pid).into_iter().filter(|t| !stopped.threads.contains(t)).collect();
        if new.is_empty() {
            break;
        }
        for tid in new {
            // SAFETY: plain ptrace requests on a thread of the process.
            if unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0) } != 0 {
                let source = io::Error::last_os_error();
                // A thread that just ended is no obstacle.
                if source.raw_os_error() == Some(libc::ESRCH) && tid != pid {
                    continue;
                }
                return Err(InjectError::Seize { pid, source });
            }
            stopped.threads.push(tid);
            // SAFETY: as above.
            unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) };
            let mut status = 0;
            // SAFETY: waits for our tracee.
            unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
        }
    }
    if stopped.threads.is_empty() {
        return Err(InjectError::Gone(pid as u32));
    }
    Ok(stopped)
}

fn get_regs(tid: i32) -> Option<libc::user_regs_struct> {
    // SAFETY: a zeroed register set is valid; the call fills it.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: our stopped tracee.
    (unsafe { libc::ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs) } == 0).then_some(regs)
}

fn set_regs(tid: i32, regs: &libc::user_regs_struct) -> bool {
    // SAFETY: our stopped tracee.
    unsafe { libc::ptrace(libc::PTRACE_SETREGS, tid, 0, regs) == 0 }
}

fn write_mem(pid: i32, addr: u64, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mem = std::fs::OpenOptions::new().write(true).open(format!("/proc/{pid}/mem"))?;
    mem.write_all_at(bytes, addr)
}

/// Calls `func(args)` in the stopped thread `tid` and returns its result;
/// `progress` runs while it is under way.
fn call(
    pid: i32,
    tid: i32,
    func: u64,
    arg: &[u8],
    arg1: u64,
    what: &'static str,
    progress: &mut dyn FnMut(),
) -> Result<u64, InjectError> {
    let fail = |why: String| InjectError::Call { pid: pid as u32, what, why };
    let saved = get_regs(tid).ok_or_else(|| fail("its registers cannot be read".into()))?;
    // Below the red zone: the string, then a return address of 0, the
    // stack aligned as at a call.
    let string_at = (saved.rsp - 1024 - arg.len() as u64) & !15;
    let sp = ((string_at - 64) & !15) - 8;
    write_mem(pid, string_at, arg).map_err(|e| fail(format!("cannot write its argument: {e}")))?;
    write_mem(pid, sp, &0u64.to_le_bytes()).map_err(|e| fail(format!("cannot write its stack: {e}")))?;
    let mut regs = saved;
    regs.rip = func;
    regs.rsp = sp;
    regs.rdi = string_at;
    regs.rsi = arg1;
    regs.rax = 0;
    // Not a system call to restart.
    regs.orig_rax = u64::MAX;
    if !set_regs(tid, &regs) {
        return Err(fail("its registers cannot be set".into()));
    }
    // SAFETY: resumes our tracee.
    unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0, 0) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        progress();
        let mut status = 0;
        // SAFETY: waits for our tracee without blocking.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
        if r == tid {
            if !libc::WIFSTOPPED(status) {
                return Err(InjectError::Gone(pid as u32));
            }
            let sig = libc::WSTOPSIG(status);
            let now = get_regs(tid).ok_or_else(|| fail("its registers cannot be read".into()))?;
            if sig == libc::SIGSEGV && now.rip == 0 {
                break now.rax;
            }
            if sig == libc::SIGSEGV || sig == libc::SIGBUS || sig == libc::SIGILL {
                set_regs(tid, &saved);
                return Err(fail(format!("it faulted (signal {sig}) at {:#x}", now.rip)));
            }
            // Another signal meanwhile: held back (the call goes on).
            // SAFETY: resumes our tracee.
            unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0, 0) };
        } else if r < 0 {
            return Err(InjectError::Gone(pid as u32));
        }
        if Instant::now() > deadline {
            return Err(fail("it did not return within 30 s".into()));
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    set_regs(tid, &saved);
    Ok(result)
}

/// Where `symbol` of the library mapped from a file matching `is_file`
/// is in the process: its load base plus the symbol's value in `elf`.
fn symbol_in(pid: i32, is_file: impl Fn(&str) -> bool, elf: &[u8], symbol: &str) -> Option<u64> {
    use object::{Object, ObjectSymbol};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let base = maps.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let name = f.get(5)?;
        (f.get(2) == Some(&"00000000") && is_file(name))
            .then(|| u64::from_str_radix(f[0].split('-').next()?, 16).ok())?
    })?;
    let file = object::File::parse(elf).ok()?;
    let value = file.dynamic_symbols().find(|s| s.name() == Ok(symbol))?.address();
    Some(base + value)
}

/// The C library's file as the process maps it.
fn libc_path(pid: i32) -> Option<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| Path::new(p).file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libc.so")))
        .map(str::to_string)
}

/// Whether the process has this very agent loaded (from an earlier run):
/// then it is attached again, not loaded a second time.
fn has_agent(pid: i32, bytes: &[u8]) -> bool {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else { return false };
    maps.lines().filter(|l| l.contains("libbpfscope_agent.so")).any(|l| {
        let range = l.split_whitespace().next().unwrap_or("");
        std::fs::read(format!("/proc/{pid}/map_files/{range}")).is_ok_and(|b| b == bytes)
    })
}

/// Loads the agent into process `pid` and attaches it to the region at
/// `region_path`. `stopped_ips` gets every thread's instruction pointer
/// before the agent patches (it refuses sites where one stands).
pub fn inject(
    pid: u32,
    agent: &AgentLibrary,
    region_path: &str,
    stopped_ips: &mut dyn FnMut(&[u64]),
    progress: &mut dyn FnMut(),
) -> Result<(), InjectError> {
    let pid = pid as i32;
    let stopped = stop_all(pid)?;
    let mut ips = Vec::new();
    for &tid in &stopped.threads {
        if let Some(r) = get_regs(tid) {
            ips.push(r.rip);
            // In a system call, it may be restarted from its instruction.
            if r.orig_rax as i64 >= 0 {
                ips.push(r.rip.wrapping_sub(2));
            }
        }
    }
    stopped_ips(&ips);
    let tid = if stopped.threads.contains(&pid) { pid } else { stopped.threads[0] };
    let is_agent = |name: &str| name.contains("libbpfscope_agent.so");
    if !has_agent(pid, agent.bytes) {
        let libc = libc_path(pid).ok_or(InjectError::NoDlopen(pid as u32))?;
        let libc_bytes =
            std::fs::read(format!("/proc/{pid}/root{libc}")).map_err(|_| InjectError::NoDlopen(pid as u32))?;
        let dlopen = symbol_in(pid, |n| n == libc, &libc_bytes, "dlopen").ok_or(InjectError::NoDlopen(pid as u32))?;
        let mut path = agent.path.as_os_str().as_encoded_bytes().to_vec();
        path.push(0);
        let handle = call(pid, tid, dlopen, &path, libc::RTLD_NOW as u64, "dlopen", &mut || {})?;
        if handle == 0 {
            return Err(InjectError::Call { pid: pid as u32, what: "dlopen", why: "it returned NULL".into() });
        }
    }
    let attach = symbol_in(pid, is_agent, agent.bytes, "bpfscope_agent_attach").ok_or(InjectError::Call {
        pid: pid as u32,
        what: "bpfscope_agent_attach",
        why: "the agent is not mapped".into(),
    })?;
    let mut region = region_path.as_bytes().to_vec();
    region.push(0);
    let r = call(pid, tid, attach, &region, 0, "bpfscope_agent_attach", progress)?;
    if r as i32 != 0 {
        return Err(InjectError::Call {
            pid: pid as u32,
            what: "bpfscope_agent_attach",
            why: "the region did not map".into(),
        });
    }
    drop(stopped);
    Ok(())
}
