//! `-c CMD`: the command is forked at once, so its pid is known while the
//! program compiles (`cpid`) and probes can be limited to it, but it only
//! execs once every probe is attached, so nothing it does is missed.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a command cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("-c: the command is empty")]
    Empty,
    #[error("-c: command not found: {0}")]
    NotFound(String),
    #[error("-c: the command has a NUL byte")]
    Nul,
    #[error("-c: cannot start the command: {0}")]
    Os(std::io::Error),
}

/// A forked command waiting for the word to exec.
pub struct Child {
    pid: libc::pid_t,
    program: PathBuf,
    /// Writing a byte here lets the child exec; closing it unstarted makes
    /// the child exit.
    go: Option<OwnedFd>,
    /// The child writes a byte here once it is traced (so that it stops
    /// right after its exec); the pipe closes at the exec.
    traced: Option<OwnedFd>,
    reaped: Option<i32>,
    /// Stopped under ptrace, waiting for `start`.
    stopped: bool,
    /// `--user-probes`: the shared region and the ring's eventfd the
    /// agent in the command opens (made before the fork, inherited).
    agent: Option<AgentFds>,
}

/// The descriptors a command started with the agent shares with us.
pub struct AgentFds {
    pub region: OwnedFd,
    pub eventfd: OwnedFd,
    /// The agent library, where it is a memfd (open until the run ends).
    pub library: Option<std::sync::Arc<OwnedFd>>,
}

impl Child {
    /// Forks `command` (split on whitespace, as bpftrace does; the program
    /// is looked up in `$PATH`), stopped before its exec.
    pub fn spawn(command: &str) -> Result<Child, ChildError> {
        Child::spawn_with(command, None)
    }

    /// Forks `command` as [`Child::spawn`] does, with the user-space probe
    /// agent preloaded (`--user-probes`): LD_PRELOAD names the library,
    /// and the agent finds the shared region through its descriptor in
    /// /proc.
    pub fn spawn_with_agent(command: &str, library: &crate::inject::AgentLibrary) -> Result<Child, ChildError> {
        let agent = library.path.as_path();
        let os = |e| ChildError::Os(e);
        let region = crate::user::new_memfd().map_err(os)?;
        // SAFETY: a plain call; not close-on-exec, so the command has it.
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(os(std::io::Error::last_os_error()));
        }
        // SAFETY: the kernel just made it.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut preload = agent.as_os_str().to_owned();
        // The agent puts the command's own LD_PRELOAD back for its children.
        let was = std::env::var_os("LD_PRELOAD").unwrap_or_default();
        if !was.is_empty() {
            preload.push(":");
            preload.push(&was);
        }
        let path = bpfscope_userspace::region::proc_path(&region);
        let env = [
            ("LD_PRELOAD".into(), preload),
            ("BPFSCOPE_LD_PRELOAD".into(), was),
            ("BPFSCOPE_REGION".into(), path.into()),
        ];
        let mut child = Child::spawn_with(command, Some(&env))?;
        child.agent = Some(AgentFds { region, eventfd, library: library.file.clone() });
        Ok(child)
    }

    /// The agent's descriptors (`--user-probes`).
    pub fn agent(&self) -> Option<&AgentFds> {
        self.agent.as_ref()
    }

    fn spawn_with(
        command: &str,
        extra_env: Option<&[(std::ffi::OsString, std::ffi::OsString)]>,
    ) -> Result<Child, ChildError> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let program = words.first().ok_or(ChildError::Empty)?;
        let path = find_program(program).ok_or_else(|| ChildError::NotFound(program.to_string()))?;
        // Everything the child needs is built before the fork: after it,
        // only async-signal-safe calls are allowed.
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| ChildError::Nul)?;
        let args: Vec<CString> =
            words.iter().map(|w| CString::new(*w)).collect::<Result<_, _>>().map_err(|_| ChildError::Nul)?;
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let extra = extra_env.unwrap_or(&[]);
        let env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .chain(extra.iter().cloned())
            .filter_map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect();
        let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(ChildError::Os(std::io::Error::last_os_error()));
        }
        // SAFETY: the kernel just made these descriptors.
        let (wait_end, go) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fds has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(ChildError::Os(std::io::Error::last_os_error()));
        }
        // SAFETY: the kernel just made these descriptors.
        let (traced, tell) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the child only calls read, execve and _exit, which are
        // async-signal-safe, on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(ChildError::Os(std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: see above (ptrace and write are async-signal-safe).
            unsafe {
                let mut byte = 0u8;
                if libc::read(wait_end.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) == 1 {
                    // Traced, the exec stops the child before its first
                    // instruction, so that its mappings can be read (see
                    // `start`). Not traced (already traced, or ptrace not
                    // allowed here), it just runs.
                    if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == 0 {
                        libc::write(tell.as_raw_fd(), [1u8].as_ptr().cast(), 1);
                    }
                    libc::execve(cpath.as_ptr(), argv.as_ptr(), envp.as_ptr());
                }
                libc::_exit(127);
            }
        }
        drop(wait_end);
        drop(tell);
        Ok(Child { pid, program: path, go: Some(go), traced: Some(traced), reaped: None, stopped: false, agent: None })
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The executable the command runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Lets the command exec and run. `at_exec` runs while the new
    /// program is stopped (at its first instruction, or at its entry point
    /// after [`Child::run_to_entry`]) where ptrace allows it: the run
    /// reads its mappings then, so that its frames print by name even
    /// once it has exited.
    pub fn start(&mut self, at_exec: impl FnOnce(u32)) {
        if self.go.is_some() {
            self.stopped = self.exec_and_stop();
        }
        if !std::mem::take(&mut self.stopped) {
            return;
        }
        at_exec(self.pid as u32);
        // SAFETY: lets our stopped tracee go, with no signal.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, self.pid, 0, 0) };
    }

    /// Lets the command exec and run up to its entry point, where the
    /// dynamic loader has mapped its libraries, and keeps it stopped there
    /// (or, where that fails, at its first instruction) until
    /// [`Child::start`]. Returns false where ptrace is not allowed: then
    /// nothing holds it, and it runs from here on.
    pub fn run_to_entry(&mut self) -> bool {
        if self.go.is_none() {
            return self.stopped;
        }
        self.stopped = self.exec_and_stop();
        if !self.stopped {
            return false;
        }
        if let Some(entry) = auxv_entry(self.pid)
            && !self.run_to(entry)
        {
            self.stopped = self.reaped.is_none();
        }
        true
    }

    /// Lets the child exec and waits for it to stop right after (traced),
    /// handing on signals that came before. Whether it is stopped.
    fn exec_and_stop(&mut self) -> bool {
        let Some(go) = self.go.take() else { return false };
        // SAFETY: writes one byte from a valid buffer to our pipe.
        unsafe { libc::write(go.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        let Some(traced) = self.traced.take() else { return false };
        let mut byte = 0u8;
        // SAFETY: reads one byte into a valid buffer from our pipe; EOF
        // means the child exec'd (or failed to) without being traced.
        if unsafe { libc::read(traced.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) } != 1 {
            return false;
        }
        self.wait_for_trap()
    }

    /// Waits for the traced child's next SIGTRAP stop, handing on other
    /// signals. Whether it stopped (else it exited, and is reaped).
    fn wait_for_trap(&mut self) -> bool {
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child.
            if unsafe { libc::waitpid(self.pid, &mut status, 0) } != self.pid {
                return false;
            }
            if !libc::WIFSTOPPED(status) {
                self.reaped = Some(status);
                return false;
            }
            if libc::WSTOPSIG(status) == libc::SIGTRAP {
                return true;
            }
            // SAFETY: resumes our stopped tracee with its signal.
            unsafe { libc::ptrace(libc::PTRACE_CONT, self.pid, 0, libc::WSTOPSIG(status)) };
        }
    }

    /// Runs the stopped child to `addr` with a breakpoint there, which is
    /// then taken out again. Whether it stopped there.
    fn run_to(&mut self, addr: u64) -> bool {
        let pid = self.pid;
        // SAFETY: ptrace on our own stopped tracee; errno tells a word of
        // -1 from a failure.
        let word = unsafe {
            *libc::__errno_location() = 0;
            libc::ptrace(libc::PTRACE_PEEKTEXT, pid, addr, 0)
        };
        // SAFETY: reads this thread's errno.
        if word == -1 && unsafe { *libc::__errno_location() } != 0 {
            return false;
        }
        let trap = (word & !0xff) | 0xcc;
        // SAFETY: writes a word of our stopped tracee's code, then resumes it.
        if unsafe { libc::ptrace(libc::PTRACE_POKETEXT, pid, addr, trap) } != 0
            || unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, 0) } != 0
        {
            return false;
        }
        if !self.wait_for_trap() {
            return false;
        }
        // SAFETY: a zeroed user_regs_struct is valid; the calls read and
        // write our stopped tracee's registers and restore its code.
        unsafe {
            let mut regs: libc::user_regs_struct = std::mem::zeroed();
            libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs);
            if regs.rip == addr + 1 {
                regs.rip = addr;
                libc::ptrace(libc::PTRACE_SETREGS, pid, 0, &regs);
            }
            libc::ptrace(libc::PTRACE_POKETEXT, pid, addr, word);
        }
        true
    }

    /// Whether the command has ended (reaping it if so).
    pub fn exited(&mut self) -> bool {
        if self.reaped.is_some() {
            return true;
        }
        let mut status = 0;
        // SAFETY: waits without blocking for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r == self.pid || r < 0 {
            self.reaped = Some(status);
            return true;
        }
        false
    }
}

impl Drop for Child {
    /// A command still running when the run ends is killed, as bpftrace
    /// does; one never started just exits.
    fn drop(&mut self) {
        self.go.take();
        self.traced.take();
        if !self.exited() {
            // SAFETY: signals and reaps our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// A program name as `execvp` would find it.
fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program's entry point (`AT_ENTRY` in its auxiliary vector).
fn auxv_entry(pid: libc::pid_t) -> Option<u64> {
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).ok()?;
    auxv.chunks_exact(16).find_map(|pair| {
        let (key, value) = pair.split_at(8);
        let value = u64::from_ne_bytes(value.try_into().ok()?);
        (u64::from_ne_bytes(key.try_into().ok()?) == libc::AT_ENTRY).then_some(value)
    })
}
