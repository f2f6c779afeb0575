//! Addresses as function names, for stacks, `ksym`/`usym`, `func` and the
//! tools: one symbolizer on blazesym. Kernel addresses go through
//! `/proc/kallsyms` (as bpftrace 0.26: no vmlinux); user addresses through
//! the process's mappings and each mapped file's symbols, with DWARF where
//! the file (or its separate debug file, by build-id or debuglink) has it:
//! demangled C++ and Rust names, file and line, inlined frames.
//!
//! Files are opened and indexed once per symbolizer and looked up by binary
//! search; a process's mappings are read once (`prepare`), so its frames
//! still resolve after it exits, and read again when an address falls
//! outside them (a library loaded since).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use blazesym::helper::ElfResolver;
use blazesym::symbolize::cache::{self, Cache};
use blazesym::symbolize::source::{Kernel, Process, Source};
use blazesym::symbolize::{
    CodeInfo, FindSymOpts, Input, ProcessMemberInfo, ProcessMemberType, Reason, Resolve, ResolvedSym, Sym, Symbolize,
    Symbolized, Symbolizer as Blaze, TranslateFileOffset,
};

use crate::user::UnlinkedDebug;
use blazesym::{MaybeDefault, Pid};

/// How frames are symbolized (bpftrace's `cpp_demangle`,
/// `show_debug_info`, `cache_user_symbols` and `lazy_symbolication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolOptions {
    /// C++ and Rust names demangled.
    pub demangle: bool,
    /// File and line, and inlined functions, from DWARF.
    pub debug_info: bool,
    /// Files and processes' mappings are kept once read (every
    /// `cache_user_symbols` but `NONE`: the cache is per file and per
    /// process, right under ASLR whichever is asked for).
    pub cache: bool,
    /// The target process's mappings are read only when a frame is
    /// printed, not at start and while it runs (`lazy_symbolication`):
    /// frames of a process gone by then print as addresses.
    pub lazy: bool,
    /// The program prints user addresses (`ustack`, `dw_ustack`, `usym`).
    pub user_frames: bool,
}

impl Default for SymbolOptions {
    fn default() -> Self {
        SymbolOptions { demangle: true, debug_info: true, cache: true, lazy: false, user_frames: false }
    }
}

impl SymbolOptions {
    /// Whether the target process's mappings are read at start and kept
    /// fresh while it runs.
    pub fn read_ahead(&self) -> bool {
        self.user_frames && self.cache && !self.lazy
    }
}

/// One printed frame: a function, or a function inlined into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub name: String,
    /// Bytes into the function; None for an inlined frame.
    pub offset: Option<u64>,
    /// The file the function is in (user frames).
    pub module: Option<String>,
    /// `dir/file:line`, with debug info.
    pub location: Option<String>,
}

impl Frame {
    pub fn is_inlined(&self) -> bool {
        self.offset.is_none()
    }
}

/// How long a process's mappings are trusted before an address outside
/// them makes them read again.
const REFRESH_AFTER: Duration = Duration::from_millis(200);

/// The symbolizer of a run: files and processes cached for its lifetime.
pub struct Symbolizer {
    blaze: Blaze,
    options: SymbolOptions,
    /// When each process's mappings were last read.
    prepared: RefCell<HashMap<u32, Instant>>,
}

impl Default for Symbolizer {
    fn default() -> Self {
        Symbolizer::new(SymbolOptions::default())
    }
}

impl Symbolizer {
    pub fn new(options: SymbolOptions) -> Symbolizer {
        Symbolizer { blaze: blaze(options), options, prepared: RefCell::default() }
    }

    /// Reads a process's mappings now, so that its addresses still resolve
    /// after it exits.
    pub fn prepare(&self, pid: u32) {
        if self.prepared.borrow().contains_key(&pid) {
            return;
        }
        self.cache_process(pid);
    }

    /// Reads a process's mappings again if the last read is older than
    /// `every` (a traced process: libraries it loads later resolve too,
    /// and its frames after it exits). A process gone keeps what was read.
    pub fn refresh(&self, pid: u32, every: Duration) {
        if self.prepared.borrow().get(&pid).is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.cache_process(pid);
    }

    fn cache_process(&self, pid: u32) {
        // An exited process not yet reaped has a maps file with nothing
        // in it: reading that would drop what was read while it ran.
        if !alive(pid) {
            return;
        }
        let request = cache::Process { cache_vmas: true, ..cache::Process::new(Pid::from(pid)) };
        // A process gone before we looked: its addresses print as numbers.
        let _ = self.blaze.cache(&Cache::Process(request));
        self.prepared.borrow_mut().insert(pid, Instant::now());
    }

    /// The frames of kernel addresses, innermost first; an address no
    /// symbol covers gives no frame (None).
    pub fn kernel(&self, addresses: &[u64]) -> Vec<Option<Vec<Frame>>> {
        let source = Source::Kernel(Kernel {
            kallsyms: MaybeDefault::Default,
            vmlinux: MaybeDefault::None,
            debug_syms: false,
            ..Kernel::default()
        });
        self.symbolize(&source, addresses)
    }

    /// The frames of addresses in process `pid`.
    pub fn user(&self, pid: u32, addresses: &[u64]) -> Vec<Option<Vec<Frame>>> {
        if !self.options.cache {
            // Everything read again, and dropped after.
            let fresh = Symbolizer { blaze: blaze(self.options), options: self.options, prepared: RefCell::default() };
            return fresh.symbolize(&fresh.process_source(pid), addresses);
        }
        self.prepare(pid);
        let mut source = self.process_source(pid);
        let mut out = match self.try_symbolize(&source, addresses) {
            Ok(out) => out,
            // The process died after we looked: its map_files went with it.
            Err(_) => {
                source = self.process_source(pid);
                self.symbolize(&source, addresses)
            }
        };
        // Mapped since we looked (dlopen), or a new process with an old pid.
        let stale = self.prepared.borrow().get(&pid).is_some_and(|t| t.elapsed() > REFRESH_AFTER);
        if stale && out.iter().any(Option::is_none) && alive(pid) {
            self.cache_process(pid);
            let missing: Vec<usize> = (0..out.len()).filter(|&i| out[i].is_none()).collect();
            let again = self.symbolize(&source, &missing.iter().map(|&i| addresses[i]).collect::<Vec<_>>());
            for (i, frames) in missing.into_iter().zip(again) {
                out[i] = frames;
            }
        }
        out
    }

    fn process_source(&self, pid: u32) -> Source<'static> {
        Source::Process(Process {
            // Separate debug files too (a distribution's libc keeps its
            // local symbols there), even where lines are not shown.
            debug_syms: true,
            // Symbols of JIT-compiled code, where a runtime writes them.
            perf_map: true,
            // While the process lives, its files through
            // /proc/PID/map_files (right in other mount namespaces, and
            // for files deleted since); once it is gone, those are too,
            // and the paths its mappings named are what is left.
            map_files: alive(pid),
            ..Process::new(Pid::from(pid))
        })
    }

    fn symbolize(&self, source: &Source<'_>, addresses: &[u64]) -> Vec<Option<Vec<Frame>>> {
        if addresses.is_empty() {
            return Vec::new();
        }
        self.try_symbolize(source, addresses).unwrap_or_else(|_| vec![None; addresses.len()])
    }

    fn try_symbolize(
        &self,
        source: &Source<'_>,
        addresses: &[u64],
    ) -> Result<Vec<Option<Vec<Frame>>>, blazesym::Error> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.blaze.symbolize(source, Input::AbsAddr(addresses))?.into_iter().map(frames_of).collect())
    }

    /// The function an address is in, with the offset into it (the
    /// outermost function where others are inlined into it).
    pub fn kernel_function(&self, address: u64) -> Option<(String, u64)> {
        function(self.kernel(&[address]).pop().flatten())
    }

    /// The same for an address in process `pid`.
    pub fn user_function(&self, pid: u32, address: u64) -> Option<(String, u64)> {
        function(self.user(pid, &[address]).pop().flatten())
    }
}

fn blaze(options: SymbolOptions) -> Blaze {
    Blaze::builder()
        .enable_demangling(options.demangle)
        .enable_code_info(options.debug_info)
        .enable_inlined_fns(options.debug_info)
        .set_process_dispatcher(by_build_id)
        .build()
}

/// blazesym looks a separate debug file up by build-id only for a binary
/// that also has a debuglink; one without (stripped by a build system that
/// adds none) is symbolized here from the debug file its build-id names,
/// as gdb finds it. Every other mapping is left to blazesym.
fn by_build_id(member: ProcessMemberInfo<'_>) -> blazesym::Result<Option<Box<dyn Resolve>>> {
    let ProcessMemberType::Path(entry) = member.member_entry else { return Ok(None) };
    // The process's view of the file while it lives, else the path its
    // mapping named.
    let found = UnlinkedDebug::find(&entry.maps_file).or_else(|| UnlinkedDebug::find(&entry.symbolic_path));
    let Some(found) = found else { return Ok(None) };
    Ok(Some(Box::new(SplitDebug { symbols: ElfResolver::open(&found.path)?, binary: found })))
}

/// A debug file's symbols, at the binary's file offsets.
#[derive(Debug)]
struct SplitDebug {
    symbols: ElfResolver,
    binary: UnlinkedDebug,
}

impl Symbolize for SplitDebug {
    fn find_sym(&self, addr: u64, opts: &FindSymOpts) -> blazesym::Result<Result<ResolvedSym<'_>, Reason>> {
        self.symbols.find_sym(addr, opts)
    }
}

impl TranslateFileOffset for SplitDebug {
    fn file_offset_to_virt_offset(&self, file_offset: u64) -> blazesym::Result<Option<u64>> {
        Ok(self.binary.address_of(file_offset))
    }
}

/// A symbol name demangled as frames are (Rust first, then C++; a name
/// neither takes, such as a C function's, unchanged).
pub fn demangle(name: &str) -> Cow<'_, str> {
    if let Ok(rust) = rustc_demangle::try_demangle(name) {
        return Cow::Owned(format!("{rust:#}"));
    }
    // Only names that look mangled: cpp_demangle also takes plain words
    // as types.
    if name.starts_with("_Z")
        && let Ok(symbol) = cpp_demangle::Symbol::new(name)
        && let Ok(text) = symbol.demangle()
    {
        return Cow::Owned(text);
    }
    Cow::Borrowed(name)
}

/// Whether a process has mappings (is running, not gone or a zombie).
fn alive(pid: u32) -> bool {
    std::fs::File::open(format!("/proc/{pid}/maps"))
        .and_then(|mut f| std::io::Read::read(&mut f, &mut [0u8; 1]))
        .is_ok_and(|n| n > 0)
}

fn function(frames: Option<Vec<Frame>>) -> Option<(String, u64)> {
    let frame = frames?.pop()?;
    Some((frame.name, frame.offset.unwrap_or(0)))
}

/// A symbolized address as the frames bpftrace prints: the functions
/// inlined at it, innermost first, then the function it is in.
fn frames_of(found: Symbolized<'_>) -> Option<Vec<Frame>> {
    let sym = match found {
        Symbolized::Sym(sym) => sym,
        Symbolized::Unknown(_) => return None,
    };
    let Sym { name, module, offset, code_info, inlined, .. } = sym;
    let module = module.map(|m| m.to_string_lossy().into_owned());
    let mut frames: Vec<Frame> = inlined
        .iter()
        .rev()
        .map(|f| Frame {
            name: f.name.to_string(),
            offset: None,
            module: None,
            location: f.code_info.as_ref().map(location),
        })
        .collect();
    frames.push(Frame {
        name: name.into_owned(),
        offset: Some(offset as u64),
        module,
        location: code_info.as_deref().map(location),
    });
    Some(frames)
}

/// `dir/file:line`, or `file:line` without a directory.
fn location(info: &CodeInfo<'_>) -> String {
    let file: Cow<'_, str> = info.file.to_string_lossy();
    let line = info.line.unwrap_or(0);
    match &info.dir {
        Some(dir) => format!("{}/{file}:{line}", dir.display()),
        None => format!("{file}:{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test's own function, found through its mappings.
    #[inline(never)]
    fn marker() -> u64 {
        marker as *const () as u64
    }

    #[test]
    fn own_functions_resolve() {
        let symbols = Symbolizer::default();
        let (name, offset) = symbols.user_function(std::process::id(), marker() + 1).unwrap_or_default();
        // Demangled, with the module path: `bpfscope_probes::symbols::tests::marker`.
        assert!(name.ends_with("tests::marker"), "{name}");
        assert_eq!(offset, 1);
    }

    #[test]
    fn demangles_rust_and_cpp_only() {
        assert_eq!(demangle("_ZN2ns1K4workEi"), "ns::K::work(int)");
        assert_eq!(demangle("_ZN8rustwork6Worker4work17h0123456789abcdefE"), "rustwork::Worker::work");
        assert_eq!(demangle("vfs_read"), "vfs_read");
        assert_eq!(demangle("i"), "i");
    }

    #[test]
    fn unmapped_addresses_give_no_frame() {
        let symbols = Symbolizer::default();
        assert_eq!(symbols.user(std::process::id(), &[8]), vec![None]);
    }
}
