//! User binaries: finding the file a uprobe names, and its functions with
//! the file offsets the kernel wants.

use std::path::{Path, PathBuf};

use memmap2::Mmap;
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::ProbeError;

/// A function symbol of a binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The name without a symbol version (`gethostname`, not
    /// `gethostname@@GLIBC_2.2.5`).
    pub name: String,
    pub address: u64,
    pub size: u64,
    /// Where the function's code is in the file: what uprobes attach to.
    pub offset: u64,
}

/// A user binary, mapped into memory; its symbols are read per query, so
/// that a probe on a few functions of a large library costs little.
pub struct Binary {
    pub path: PathBuf,
    data: Mmap,
    /// The separate debug file with the full symbol table, if installed.
    debug: Option<Mmap>,
    /// Loadable segments: (address, size, file offset).
    segments: Vec<(u64, u64, u64)>,
    /// Neither the binary nor a debug file has `.symtab`: only exported
    /// functions are known.
    pub stripped: bool,
    /// Its functions' parameters from DWARF, read when first asked for.
    dwarf: std::sync::OnceLock<DwarfFunctions>,
}

/// What a file's DWARF says of its functions (None: it has none).
type DwarfFunctions = Result<Option<std::collections::HashMap<String, Vec<crate::dwarf::Param>>>, String>;

impl std::fmt::Debug for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binary").field("path", &self.path).field("stripped", &self.stripped).finish()
    }
}

impl Binary {
    pub fn open(path: &Path) -> Result<Binary, ProbeError> {
        let shown = || path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ProbeError::NoFile(shown()),
            _ => ProbeError::Io(shown(), e),
        })?;
        // SAFETY: the mapping is read-only; a binary changing underneath a
        // running tracer is as undefined for it as for the loader.
        let data = unsafe { Mmap::map(&file) }.map_err(|e| ProbeError::Io(shown(), e))?;
        if !data.starts_with(b"\x7fELF") {
            return Err(ProbeError::NotElf(shown()));
        }
        let elf = object::File::parse(&*data).map_err(|e| ProbeError::BadElf(shown(), e.to_string()))?;
        let segments = loadable_segments(&elf);
        let debug = debug_file(path, &elf).and_then(|p| std::fs::File::open(p).ok()).and_then(|f| {
            // SAFETY: as above.
            unsafe { Mmap::map(&f) }.ok().filter(|m| object::File::parse(&**m).is_ok())
        });
        let has_symtab = |d: &[u8]| object::File::parse(d).is_ok_and(|f| f.symbol_table().is_some());
        let stripped = !has_symtab(&data) && !debug.as_deref().is_some_and(has_symtab);
        Ok(Binary { path: path.to_path_buf(), data, debug, segments, stripped, dwarf: Default::default() })
    }

    /// Calls `f` with every defined function symbol's unversioned name,
    /// address and size (a name may come more than once). Names stay bytes
    /// until one is kept: libraries have tens of thousands.
    fn each_function(&self, mut f: impl FnMut(&[u8], u64, u64)) {
        let mut visit = |file: &object::File<'_>, dynamic: bool| {
            let symbols = if dynamic { file.dynamic_symbols() } else { file.symbols() };
            for sym in symbols {
                if sym.kind() != SymbolKind::Text || sym.address() == 0 || sym.is_undefined() {
                    continue;
                }
                let Ok(raw) = sym.name_bytes() else { continue };
                let name = raw.split(|&c| c == b'@').next().unwrap_or(raw);
                if !name.is_empty() {
                    f(name, sym.address(), sym.size());
                }
            }
        };
        if let Ok(file) = object::File::parse(&*self.data) {
            visit(&file, false);
            visit(&file, true);
        }
        if let Some(file) = self.debug.as_deref().and_then(|d| object::File::parse(d).ok()) {
            visit(&file, false);
        }
    }

    /// The functions whose names pass `keep`, one per name, sorted.
    fn functions_where(&self, mut keep: impl FnMut(&[u8]) -> bool) -> Vec<Function> {
        let mut out = Vec::new();
        self.each_function(|name, address, size| {
            if keep(name)
                && let Some(offset) = self.offset_of(address)
            {
                out.push(Function { name: String::from_utf8_lossy(name).into_owned(), address, size, offset });
            }
        });
        out.sort_by(|a, b| a.name.cmp(&b.name).then(b.size.cmp(&a.size)));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// The function named `name` (a trailing `@VERSION` is ignored).
    pub fn function(&self, name: &str) -> Option<Function> {
        let name = name.split('@').next().unwrap_or(name);
        self.functions_where(|n| n == name.as_bytes()).into_iter().next()
    }

    /// The functions whose names match a wildcard pattern.
    pub fn matching(&self, pattern: &str) -> Vec<Function> {
        let glob = crate::glob::Glob::new(pattern);
        self.functions_where(|n| glob.matches_bytes(n))
    }

    /// The functions whose demangled names match a pattern (C++'s `cpp:`
    /// attach points): without their parameter lists unless the pattern
    /// has one (`ns::K::work` matches every overload, `ns::K::work(int)`
    /// one), or the mangled name itself.
    pub fn matching_demangled(&self, pattern: &str) -> Vec<Function> {
        let glob = crate::glob::Glob::new(pattern);
        let with_params = pattern.contains('(');
        self.functions_where(|n| {
            let Ok(raw) = std::str::from_utf8(n) else { return false };
            if raw == pattern {
                return true;
            }
            let demangled = crate::symbols::demangle(raw);
            glob.matches(if with_params { &demangled } else { without_params(&demangled) })
        })
    }

    /// The function that contains a virtual address.
    pub fn function_at(&self, address: u64) -> Option<Function> {
        let mut found = None;
        self.each_function(|name, start, size| {
            if found.is_none() && address >= start && address < start + size.max(1) {
                found = Some(Function {
                    name: String::from_utf8_lossy(name).into_owned(),
                    address: start,
                    size,
                    offset: 0,
                });
            }
        });
        found.map(|f| Function { offset: self.offset_of(f.address).unwrap_or(0), ..f })
    }

    /// A defined symbol of any kind (a function or a variable), by name:
    /// its address and size, as `uaddr()` resolves it.
    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        let find = |data: &[u8], dynamic: bool| {
            let file = object::File::parse(data).ok()?;
            let mut symbols = if dynamic { file.dynamic_symbols() } else { file.symbols() };
            symbols
                .find(|s| !s.is_undefined() && s.address() != 0 && s.name_bytes().is_ok_and(|n| n == name.as_bytes()))
                .map(|s| (s.address(), s.size()))
        };
        find(&self.data, false)
            .or_else(|| find(&self.data, true))
            .or_else(|| self.debug.as_deref().and_then(|d| find(d, false)))
    }

    /// Whether the loader places the file at an address of its choosing
    /// (a shared library or a position-independent executable), so that
    /// its symbols' addresses move by a load bias.
    pub fn is_position_independent(&self) -> bool {
        object::File::parse(&*self.data).is_ok_and(|f| f.kind() == object::ObjectKind::Dynamic)
    }

    /// The file's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The file offset of a virtual address.
    pub fn offset_of(&self, address: u64) -> Option<u64> {
        file_offset(&self.segments, address)
    }

    /// The virtual address of a file offset (where a mapping of the file
    /// puts it, before the load bias).
    pub fn address_of(&self, offset: u64) -> Option<u64> {
        address_of(&self.segments, offset)
    }

    /// A function's parameters from the DWARF of this file or of its
    /// separate debug file (read once per file).
    pub fn params(&self, function: &str) -> Result<Vec<crate::dwarf::Param>, crate::dwarf::DwarfError> {
        use crate::dwarf::DwarfError;
        let shown = || self.path.display().to_string();
        let functions = self.dwarf.get_or_init(|| {
            // gdb's place for a DWARF package: beside the binary, named
            // after it.
            let mut package = self.path.clone().into_os_string();
            package.push(".dwp");
            let package = std::fs::read(package).ok();
            let read = |data: &[u8]| crate::dwarf::functions(data, package.as_deref()).map_err(|e| e.to_string());
            match read(&self.data) {
                Ok(None) => self.debug.as_deref().map_or(Ok(None), read),
                found => found,
            }
        });
        match functions {
            Err(message) => Err(DwarfError::Bad { binary: shown(), message: message.clone() }),
            Ok(None) => Err(DwarfError::NoDebugInfo(shown())),
            Ok(Some(all)) => all
                .get(function)
                .cloned()
                .ok_or_else(|| DwarfError::NoFunction { binary: shown(), function: function.to_string() }),
        }
    }

    /// C declarations of the named structs (`struct foo`) from the DWARF
    /// of this file or of its separate debug file; none it cannot write.
    pub fn struct_declarations(&self, wanted: &[String]) -> Vec<String> {
        let found = crate::dwarf::struct_declarations(&self.data, wanted).unwrap_or_default();
        if !found.is_empty() {
            return found;
        }
        self.debug.as_deref().and_then(|d| crate::dwarf::struct_declarations(d, wanted).ok()).unwrap_or_default()
    }

    /// Where the code of a source line starts, from the line tables of
    /// this file or of its separate debug file.
    pub fn line_address(
        &self,
        file: &str,
        line: u64,
        col: Option<u64>,
    ) -> Result<crate::dwarf::LineLookup, gimli::Error> {
        use crate::dwarf::{LineLookup, line_address};
        match line_address(&self.data, file, line, col)? {
            LineLookup::NoDwarf => match self.debug.as_deref() {
                Some(debug) => line_address(debug, file, line, col),
                None => Ok(LineLookup::NoDwarf),
            },
            found => Ok(found),
        }
    }

    /// The name closest to `name`, for "did you mean".
    pub fn closest(&self, name: &str) -> Option<String> {
        let all = self.functions_where(|_| true);
        bpfscope_lang::suggest::closest(name, all.iter().map(|f| f.name.as_str())).map(str::to_string)
    }
}

/// A demangled C++ name without its parameter list and what follows it
/// (`ns::K::work(int) const` is `ns::K::work`): cut at the parenthesis
/// that matches the last closing one.
fn without_params(name: &str) -> &str {
    let Some(close) = name.rfind(')') else { return name };
    let mut depth = 0usize;
    for (i, c) in name[..=close].char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return &name[..i];
                }
            }
            _ => {}
        }
    }
    name
}

/// Where distributions install separate debug files.
const DEBUG_ROOT: &str = "/usr/lib/debug";

/// The debug file of a binary under `/usr/lib/debug/.build-id`, by its
/// build-id.
fn build_id_debug_file(file: &object::File<'_>) -> Option<PathBuf> {
    let id = file.build_id().ok()??;
    if id.len() < 2 {
        return None;
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let p = PathBuf::from(format!("{DEBUG_ROOT}/.build-id/{}/{}.debug", &hex[..2], &hex[2..]));
    p.is_file().then_some(p)
}

/// The build-id debug file of a binary without symbols of its own and
/// without a `.gnu_debuglink` (through which blazesym would find it).
#[derive(Debug)]
pub struct UnlinkedDebug {
    pub path: PathBuf,
    /// The binary's loadable segments (a debug file's have no contents,
    /// so its offsets are the binary's).
    segments: Vec<(u64, u64, u64)>,
}

impl UnlinkedDebug {
    /// Finds it for the binary at `path`, where there is one.
    pub fn find(path: &Path) -> Option<UnlinkedDebug> {
        let f = std::fs::File::open(path).ok()?;
        // SAFETY: a read-only mapping, only read while it lives.
        let map = unsafe { Mmap::map(&f) }.ok()?;
        let file = object::File::parse(&*map).ok()?;
        if file.section_by_name(".symtab").is_some() || file.section_by_name(".gnu_debuglink").is_some() {
            return None;
        }
        Some(UnlinkedDebug { path: build_id_debug_file(&file)?, segments: loadable_segments(&file) })
    }

    /// The virtual address of an offset in the binary.
    pub fn address_of(&self, offset: u64) -> Option<u64> {
        address_of(&self.segments, offset)
    }
}

/// A file's loadable segments: (address, size, file offset).
fn loadable_segments(elf: &object::File<'_>) -> Vec<(u64, u64, u64)> {
    elf.segments().map(|s| (s.address(), s.size(), s.file_range().0)).filter(|(_, size, _)| *size > 0).collect()
}

/// The virtual address of a file offset (where a mapping of the file puts
/// it, before the load bias).
fn address_of(segments: &[(u64, u64, u64)], offset: u64) -> Option<u64> {
    segments
        .iter()
        .find(|(_, size, file_off)| offset >= *file_off && offset < file_off + size)
        .map(|(address, _, file_off)| address + (offset - file_off))
}

/// The separate debug file of a binary, found as gdb does: by build id
/// under `/usr/lib/debug/.build-id`, else by its `.gnu_debuglink` name.
fn debug_file(path: &Path, file: &object::File<'_>) -> Option<PathBuf> {
    const ROOT: &str = DEBUG_ROOT;
    if let Some(p) = build_id_debug_file(file) {
        return Some(p);
    }
    // By its .gnu_debuglink name, where gdb looks: beside the binary, in
    // .debug beside it, and under /usr/lib/debug at the binary's own
    // directory (its CRC is not checked).
    let (name, _crc) = file.gnu_debuglink().ok()??;
    let name = std::str::from_utf8(name).ok()?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let under_root = PathBuf::from(ROOT).join(dir.strip_prefix("/").unwrap_or(dir));
    [
        dir.join(name),
        dir.join(".debug").join(name),
        under_root.join(name),
        PathBuf::from(ROOT).join(name),
        PathBuf::from(ROOT).join("usr/lib/x86_64-linux-gnu").join(name),
    ]
    .into_iter()
    .find(|p| p.is_file() && p.as_path() != path)
}

fn file_offset(segments: &[(u64, u64, u64)], address: u64) -> Option<u64> {
    segments.iter().find(|(a, size, _)| address >= *a && address < a + size).map(|(a, _, off)| address - a + off)
}

/// Finds the file a uprobe target names: a path, a program on `$PATH`, or a
/// library (`libc`, `c`, `libssl.so.3`) through `/etc/ld.so.cache` — or,
/// with a process, through the files it has mapped.
pub fn resolve_binary(target: &str, pid: Option<u32>) -> Result<PathBuf, ProbeError> {
    if target.contains('/') {
        let path = PathBuf::from(target);
        return match pid {
            Some(pid) if path.is_absolute() => {
                Ok(PathBuf::from(format!("/proc/{pid}/root{target}"))).map(|p| if p.exists() { p } else { path })
            }
            _ => Ok(path),
        };
    }
    if let Some(pid) = pid
        && let Some(p) = mapped_library(pid, target)?
    {
        return Ok(p);
    }
    if let Some(p) = ld_cache_lookup(target) {
        return Ok(p);
    }
    if let Some(p) = path_lookup(target) {
        return Ok(p);
    }
    Err(ProbeError::NoBinary(target.to_string()))
}

/// A process's executable, seen through its root.
pub fn process_executable(pid: u32) -> Result<PathBuf, ProbeError> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|_| ProbeError::NoProcess(pid))?;
    Ok(PathBuf::from(format!("/proc/{pid}/root{}", exe.display())))
}

/// The sonames a library name stands for: `libc` and `c` both mean
/// `libc.so...`; a full soname means itself.
fn soname_matches(name: &str, soname: &str) -> bool {
    if name.contains(".so") {
        return soname == name;
    }
    let base = if name.starts_with("lib") { name.to_string() } else { format!("lib{name}") };
    soname.strip_prefix(&base).is_some_and(|rest| rest.starts_with(".so"))
}

/// Looks a library up in `/etc/ld.so.cache`, preferring 64-bit entries.
pub fn ld_cache_lookup(name: &str) -> Option<PathBuf> {
    let data = std::fs::read("/etc/ld.so.cache").ok()?;
    let entries = parse_ld_cache(&data)?;
    const X86_64_LIB64: i32 = 0x0300;
    entries
        .iter()
        .filter(|(flags, soname, _)| {
            soname_matches(name, soname) && (flags & 0x0f00 == X86_64_LIB64 || !cfg!(target_arch = "x86_64"))
        })
        .map(|(_, _, path)| PathBuf::from(path))
        .find(|p| p.exists())
}

/// The entries of a `glibc-ld.so.cache1.1` file: (flags, soname, path).
fn parse_ld_cache(data: &[u8]) -> Option<Vec<(i32, String, String)>> {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    let base = data.windows(MAGIC.len()).position(|w| w == MAGIC)?;
    let u32_at = |at: usize| data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    // Each entry takes 24 bytes: a count the file cannot hold is corrupt.
    let nlibs = u32_at(base + 20)? as usize;
    if nlibs > data.len() / 24 {
        return None;
    }
    let string = |off: u32| -> Option<String> {
        let start = base + off as usize;
        let end = start + data.get(start..)?.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&data[start..end]).into_owned())
    };
    let mut out = Vec::with_capacity(nlibs);
    for i in 0..nlibs {
        let at = base + 48 + 24 * i;
        let flags = u32_at(at)? as i32;
        out.push((flags, string(u32_at(at + 4)?)?, string(u32_at(at + 8)?)?));
    }
    Some(out)
}

fn path_lookup(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// A library the process has mapped whose file name matches `name`, seen
/// through `/proc/PID/root` (the process may be in another mount namespace).
fn mapped_library(pid: u32, name: &str) -> Result<Option<PathBuf>, ProbeError> {
    let maps_path = format!("/proc/{pid}/maps");
    let maps = std::fs::read_to_string(&maps_path).map_err(|_| ProbeError::NoProcess(pid))?;
    for line in maps.lines() {
        let Some(path) = line.split_whitespace().nth(5) else { continue };
        let file = path.rsplit('/').next().unwrap_or(path);
        if path.starts_with('/') && (soname_matches(name, file) || file == name) {
            return Ok(Some(PathBuf::from(format!("/proc/{pid}/root{path}"))));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names() {
        assert!(soname_matches("libc", "libc.so.6"));
        assert!(soname_matches("c", "libc.so.6"));
        assert!(!soname_matches("libc", "libcrypt.so.1"));
        assert!(soname_matches("libssl.so.3", "libssl.so.3"));
        assert!(!soname_matches("libssl.so.3", "libssl.so.1.1"));
    }

    /// A corrupt `/etc/ld.so.cache` (cut short, a huge count, offsets out
    /// of the file, random bytes) is no cache, never a panic.
    #[test]
    fn corrupt_ld_caches_are_refused() {
        let real = std::fs::read("/etc/ld.so.cache").unwrap_or_default();
        let mut inputs: Vec<Vec<u8>> = (0..real.len().min(4096)).step_by(7).map(|n| real[..n].to_vec()).collect();
        let mut huge = b"glibc-ld.so.cache1.1".to_vec();
        huge.extend([0u8; 28]);
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        inputs.push(huge.clone());
        let mut offsets = huge;
        offsets[20..24].copy_from_slice(&1u32.to_le_bytes());
        offsets.extend([0xffu8; 24]);
        inputs.push(offsets);
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..200 {
            let mut bytes = b"glibc-ld.so.cache1.1".to_vec();
            bytes.extend((0..64).map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            }));
            inputs.push(bytes);
        }
        for input in &inputs {
            let _ = parse_ld_cache(input);
        }
        assert!(parse_ld_cache(&inputs[inputs.len() - 202]).is_none(), "a count of 2^32 entries in 48 bytes");
    }

    /// Files that are not ELF, or ELF cut short or scribbled on, give an
    /// error or a binary with fewer symbols, never a panic.
    #[test]
    fn malformed_elf_files_are_errors() {
        let real = std::fs::read("/bin/true").expect("reads /bin/true");
        let dir = std::env::temp_dir().join(format!("bpfscope-bad-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creates");
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), b"#!/bin/sh\n".to_vec(), b"\x7fELF".to_vec()];
        inputs.extend([16, 64, 100, 512, 4096, real.len() / 2].iter().map(|&n| real[..n.min(real.len())].to_vec()));
        let mut seed = 0x0bad_5eed_u64;
        for _ in 0..60 {
            let mut bytes = real.clone();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % bytes.len().min(8192);
                bytes[at] = (seed >> 32) as u8;
            }
            inputs.push(bytes);
        }
        for (i, bytes) in inputs.iter().enumerate() {
            let path = dir.join(format!("bad{i}"));
            std::fs::write(&path, bytes).expect("writes");
            if let Ok(bin) = Binary::open(&path) {
                let _ = bin.function("main");
                let _ = bin.matching("*");
                let _ = bin.function_at(0x1000);
                let _ = bin.is_position_independent();
                let _ = crate::usdt::probes(&bin);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(Binary::open(Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn this_machines_libc_is_in_the_cache() {
        let p = ld_cache_lookup("libc").expect("libc in ld.so.cache");
        assert!(p.to_string_lossy().ends_with("libc.so.6"), "{}", p.display());
        let bin = Binary::open(&p).expect("reads libc");
        let f = bin.function("gethostname@@GLIBC_2.2.5").expect("gethostname");
        assert_eq!(bin.offset_of(f.address), Some(f.offset));
        assert!(!bin.matching("gethost*").is_empty());
    }

    #[test]
    fn errors_for_missing_and_non_elf_files() {
        assert!(matches!(Binary::open(Path::new("/nonexistent/x")), Err(ProbeError::NoFile(_))));
        assert!(matches!(Binary::open(Path::new("/etc/hostname")), Err(ProbeError::NotElf(_))));
    }
}
