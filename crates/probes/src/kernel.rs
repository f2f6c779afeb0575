//! Kernel functions: which exist, and which kprobes may attach to.

use std::collections::BTreeSet;

use crate::{ProbeError, tracefs};

/// The kernel's functions. Names of module functions are `module:function`.
#[derive(Clone, Debug, Default)]
pub struct KernelFunctions {
    /// What kprobes can attach to: `available_filter_functions` where it
    /// can be read, else the text symbols of `/proc/kallsyms`; without the
    /// kprobe blacklist and the functions known to hang a kernel when
    /// traced (bpftrace's list).
    pub traceable: BTreeSet<String>,
    /// Every text symbol, traceable or not (from `/proc/kallsyms`).
    pub all: BTreeSet<String>,
}

/// Compiler-made copies of functions (`vfs_statfs.part.0.isra.0`): they
/// can be probed by name, but wildcards and listings leave them out, as
/// bpftrace does.
pub fn is_clone(name: &str) -> bool {
    name.contains('.')
}

/// One line of `/proc/kallsyms`: `address kind name [module]`.
struct KallsymsLine<'a> {
    address: u64,
    kind: &'a str,
    name: &'a str,
    module: Option<&'a str>,
}

/// The lines of `/proc/kallsyms`, read once per call (the one reader of it
/// here; frames are symbolized from it by blazesym).
fn kallsyms(mut each: impl FnMut(KallsymsLine<'_>)) -> Result<(), ProbeError> {
    let text = std::fs::read_to_string("/proc/kallsyms").map_err(|e| ProbeError::Io("/proc/kallsyms".into(), e))?;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(address), Some(kind), Some(name)) = (words.next(), words.next(), words.next()) else { continue };
        let Ok(address) = u64::from_str_radix(address, 16) else { continue };
        let module = words.next().map(|m| m.trim_matches(|c| c == '[' || c == ']'));
        each(KallsymsLine { address, kind, name, module });
    }
    Ok(())
}

/// The address of a kernel symbol of any kind, by name (`kaddr("jiffies")`);
/// None where it is not listed or the addresses are hidden (not root).
pub fn kernel_address(name: &str) -> Option<u64> {
    let mut found = None;
    kallsyms(|l| {
        if found.is_none() && l.name == name && l.address != 0 {
            found = Some(l.address);
        }
    })
    .ok()?;
    found
}

pub fn functions() -> Result<KernelFunctions, ProbeError> {
    let mut all = BTreeSet::new();
    kallsyms(|l| {
        if l.kind == "t" || l.kind == "T" {
            all.insert(qualified(l.name, l.module));
        }
    })?;
    let filter = tracefs::root().ok().and_then(|r| std::fs::read_to_string(r.join("available_filter_functions")).ok());
    let candidates: BTreeSet<String> = match filter {
        Some(text) => text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let func = words.next()?;
                let module = words.next().map(|m| m.trim_matches(|c| c == '[' || c == ']'));
                Some(qualified(func, module))
            })
            .collect(),
        None => all.clone(),
    };
    let blacklist = kprobe_blacklist();
    let traceable = candidates.into_iter().filter(|n| !is_bad_function(n) && !blacklist.contains(n)).collect();
    Ok(KernelFunctions { traceable, all })
}

fn qualified(func: &str, module: Option<&str>) -> String {
    match module {
        Some(m) if m != "vmlinux" => format!("{m}:{func}"),
        _ => func.to_string(),
    }
}

/// Functions the kernel refuses kprobes on.
fn kprobe_blacklist() -> BTreeSet<String> {
    let text = std::fs::read_to_string("/sys/kernel/debug/kprobes/blacklist").unwrap_or_default();
    text.lines().filter_map(|l| l.split_whitespace().nth(1)).map(str::to_string).collect()
}

/// Functions that can hang the machine when traced though not marked
/// notrace (the list bpftrace takes from the kernel's selftests).
fn is_bad_function(name: &str) -> bool {
    let func = name.rsplit(':').next().unwrap_or(name);
    ["arch_cpu_idle", "default_idle", "bpf_dispatcher_xdp_func"].contains(&func)
        || func.starts_with("__ftrace_invalid_address__")
        || func.starts_with("rcu_")
}
