//! Addresses as function names: kernel ones from `/proc/kallsyms`, user
//! ones through the process's mappings and the mapped files' symbol
//! tables. For stacks printed by the tools.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::user::Binary;

/// The kernel's text symbols, sorted by address.
#[derive(Default)]
pub struct KernelSymbols {
    symbols: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms` (all zeros without privileges: then nothing
    /// resolves).
    pub fn load() -> KernelSymbols {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let mut symbols: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let address = u64::from_str_radix(f.next()?, 16).ok()?;
                let kind = f.next()?;
                let name = f.next()?;
                (address != 0 && matches!(kind, "t" | "T" | "w" | "W")).then(|| (address, name.to_string()))
            })
            .collect();
        symbols.sort_unstable();
        KernelSymbols { symbols }
    }

    /// The function an address is in, and the offset into it.
    pub fn find(&self, address: u64) -> Option<(&str, u64)> {
        let i = self.symbols.partition_point(|(a, _)| *a <= address).checked_sub(1)?;
        let (start, name) = &self.symbols[i];
        Some((name, address - start))
    }

    /// `name+0xoffset`, as BCC's `ksym(addr, show_offset=True)` writes it.
    pub fn name(&self, address: u64) -> Option<String> {
        self.find(address).map(|(name, off)| format!("{name}+0x{off:x}"))
    }
}

/// The address of a kernel symbol of any kind, by name (`kaddr("jiffies")`).
pub fn kernel_address(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let address = u64::from_str_radix(f.next()?, 16).ok()?;
        (f.nth(1)? == name && address != 0).then_some(address)
    })
}

/// User symbols, per process: its mappings, and each mapped file opened
/// once.
#[derive(Default)]
pub struct UserSymbols {
    mappings: HashMap<u32, Vec<Mapping>>,
    binaries: HashMap<PathBuf, Option<Binary>>,
}

/// One file-backed executable mapping of a process.
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: PathBuf,
}

impl UserSymbols {
    /// Reads a process's mappings and opens its files now, so that its
    /// addresses still resolve after it exits.
    pub fn prepare(&mut self, pid: u32) {
        let mappings = self.mappings.entry(pid).or_insert_with(|| mappings_of(pid));
        for m in mappings.iter() {
            self.binaries.entry(m.path.clone()).or_insert_with(|| Binary::open(&m.path).ok());
        }
    }

    /// The function an address of process `pid` is in, and the offset
    /// into it, if its file has symbols (and the process lives, or was
    /// prepared).
    pub fn find(&mut self, pid: u32, address: u64) -> Option<(String, u64)> {
        self.prepare(pid);
        if self.mapping(pid, address).is_none() {
            // Mapped since we looked (dlopen), or a new process with an old pid.
            self.mappings.remove(&pid);
            self.prepare(pid);
        }
        let m = self.mapping(pid, address)?;
        let file_offset = address - m.start + m.offset;
        let binary = self.binaries.get(&m.path)?.as_ref()?;
        let vaddr = binary.address_of(file_offset)?;
        let f = binary.function_at(vaddr)?;
        Some((f.name, vaddr - f.address))
    }

    fn mapping(&self, pid: u32, address: u64) -> Option<&Mapping> {
        self.mappings.get(&pid)?.iter().find(|m| address >= m.start && address < m.end)
    }

    /// `name+0xoffset`, as BCC's `sym(addr, pid, show_offset=True)`.
    pub fn name(&mut self, pid: u32, address: u64) -> Option<String> {
        self.find(pid, address).map(|(name, off)| format!("{name}+0x{off:x}"))
    }
}

/// The executable, file-backed mappings in `/proc/PID/maps`.
fn mappings_of(pid: u32) -> Vec<Mapping> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (start, end) = f.next()?.split_once('-')?;
            let perms = f.next()?;
            let offset = u64::from_str_radix(f.next()?, 16).ok()?;
            let path = f.nth(2)?;
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset,
                path: format!("/proc/{pid}/root{path}").into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test's own `main`-side function, found through its mappings.
    #[inline(never)]
    fn marker() -> u64 {
        marker as *const () as u64
    }

    #[test]
    fn own_functions_resolve() {
        let mut user = UserSymbols::default();
        let name = user.name(std::process::id(), marker() + 1).unwrap_or_default();
        assert!(name.contains("marker") && name.ends_with("+0x1"), "{name}");
    }
}
