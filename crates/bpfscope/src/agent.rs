//! The user-space probe agent this binary carries (built by build.rs):
//! written to a memfd at run time, whose /proc path the command preloads.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use bpfscope_runtime::inject::AgentLibrary;

use crate::Error;

static AGENT: &[u8] = include_bytes!(env!("BPFSCOPE_AGENT_SO"));

/// The agent library as a file a process can load: `BPFSCOPE_AGENT` (a
/// path) where set, else the carried copy in a memfd (kept open while the
/// run lasts).
pub fn library() -> Result<AgentLibrary, Error> {
    let fail = |e: std::io::Error| Error::Usage(format!("--user-probes: cannot write the agent library: {e}"));
    if let Some(p) = std::env::var_os("BPFSCOPE_AGENT") {
        let bytes: &'static [u8] = Vec::leak(std::fs::read(&p).map_err(fail)?);
        return Ok(AgentLibrary { path: PathBuf::from(p), bytes, file: None });
    }
    // SAFETY: a plain call with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"libbpfscope_agent.so".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    // SAFETY: the kernel just made it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd.try_clone().map_err(fail)?);
    std::io::Write::write_all(&mut file, AGENT).map_err(fail)?;
    let path = PathBuf::from(bpfscope_runtime::user::proc_path(&fd));
    Ok(AgentLibrary { path, bytes: AGENT, file: Some(std::sync::Arc::new(fd)) })
}
