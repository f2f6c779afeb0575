//! Creating maps, filling their descriptors into the code, and loading the
//! programs through libbpf, with the verifier's log kept for errors.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use bpfscope_compiler::{Compiled, MapKind, MapSpec, ProgKind, ProgSpec};
use bpfscope_lang::Diagnostic;
use libbpf_rs::{MapHandle, MapType, Object, ObjectBuilder, OpenObject, PrintLevel};

use crate::elf::{self, ElfProgram};
use crate::{LoadError, RunError};

/// Maps and loaded programs.
pub struct Loaded {
    pub object: Object,
    pub maps: Vec<MapHandle>,
}

/// Loads every program; `section` names each one's ELF section, which
/// tells libbpf its program type.
/// The caller has checked the privileges (`Session::load`, first).
pub fn load(compiled: &Compiled, section: impl Fn(&ProgSpec) -> String) -> Result<Loaded, RunError> {
    let maps = compiled.maps.iter().map(create_map).collect::<Result<Vec<_>, _>>()?;
    let patch = |code: &bpfscope_compiler::asm::Code| {
        let mut insns = code.insns.clone();
        for (at, map) in &code.map_refs {
            insns[*at].imm = maps[map.0].as_fd().as_raw_fd();
        }
        insns
    };
    let programs: Vec<_> = compiled.programs.iter().map(|p| patch(&p.code)).collect();
    let sections: Vec<String> = compiled.programs.iter().map(section).collect();
    let callbacks: Vec<_> = compiled.subprogs.iter().map(|s| patch(&s.code)).collect();
    let elf_programs: Vec<ElfProgram<'_>> = compiled
        .programs
        .iter()
        .zip(&programs)
        .zip(&sections)
        .map(|((p, insns), section)| ElfProgram { name: &p.name, section, insns, func_refs: &p.code.func_refs })
        .collect();
    let elf_callbacks: Vec<ElfProgram<'_>> = compiled
        .subprogs
        .iter()
        .zip(&callbacks)
        .map(|(s, insns)| ElfProgram { name: &s.name, section: ".text", insns, func_refs: &s.code.func_refs })
        .collect();
    let bytes = elf::build(&elf_programs, &elf_callbacks).map_err(LoadError::Object)?;
    let mut open = ObjectBuilder::default().open_memory(&bytes).map_err(LoadError::Open)?;
    // Kept open until the programs that trace them are loaded.
    let _targets = point_at_bpf_programs(compiled, &mut open)?;
    let result = with_libbpf_log(|| open.load());
    match result {
        (Ok(object), _) => Ok(Loaded { object, maps }),
        (Err(e), log) => Err(verifier_error(compiled, &log, e)),
    }
}

/// Points each fentry/fexit on a BPF program at that program (by a
/// descriptor from its id) and its function; returns the descriptors.
fn point_at_bpf_programs(compiled: &Compiled, open: &mut OpenObject) -> Result<Vec<OwnedFd>, LoadError> {
    let mut fds = Vec::new();
    for spec in &compiled.programs {
        let ProgKind::Fentry { function, program: Some(id), .. } = &spec.kind else { continue };
        let error = |source| LoadError::BpfTarget { id: *id, function: function.clone(), source };
        let fd = prog_fd_by_id(*id).map_err(error)?;
        if let Some(mut prog) = open.progs_mut().find(|p| p.name().to_str() == Some(spec.name.as_str())) {
            prog.set_attach_target(fd.as_raw_fd(), Some(function.clone())).map_err(error)?;
        }
        fds.push(fd);
    }
    Ok(fds)
}

/// A descriptor of the BPF program `id`.
fn prog_fd_by_id(id: u32) -> Result<OwnedFd, libbpf_rs::Error> {
    // SAFETY: a plain call; a non-negative return is a new descriptor
    // this function then owns.
    let fd = unsafe { libbpf_sys::bpf_prog_get_fd_by_id(id) };
    if fd < 0 {
        return Err(libbpf_rs::Error::from_raw_os_error(-fd));
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn create_map(spec: &MapSpec) -> Result<MapHandle, RunError> {
    let ty = match spec.kind {
        MapKind::Hash => MapType::Hash,
        MapKind::PercpuHash => MapType::PercpuHash,
        MapKind::RingBuf => MapType::RingBuf,
        MapKind::Array => MapType::Array,
        MapKind::PercpuArray => MapType::PercpuArray,
        MapKind::StackTrace | MapKind::StackTraceBuildId => MapType::StackTrace,
        MapKind::PerfEventArray => MapType::PerfEventArray,
    };
    // Hash maps are preallocated, as bpftrace's are. Entries allocated on
    // use come from a per-CPU cache refilled in the background: a probe
    // that runs with interrupts off (interval, profile, sched_switch), or
    // one invocation that inserts many keys (a loop in BEGIN), empties it
    // and its inserts fail.
    // BPF_F_STACK_BUILD_ID: frames as build-ids and offsets.
    let map_flags = if spec.kind == MapKind::StackTraceBuildId { 1 << 5 } else { 0 };
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
        map_flags,
        ..Default::default()
    };
    MapHandle::create(ty, Some(&spec.name), spec.key_size, spec.value_size, spec.max_entries, &opts).map_err(|e| {
        if e.kind() == libbpf_rs::ErrorKind::PermissionDenied {
            RunError::Privileges(crate::privileges::refusal())
        } else {
            RunError::Map { name: spec.name.clone(), message: e.to_string() }
        }
    })
}

/// What libbpf printed while `f` ran.
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());

fn capture(_level: PrintLevel, msg: String) {
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        log.push_str(&msg);
    }
}

fn with_libbpf_log<T>(f: impl FnOnce() -> T) -> (T, String) {
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        log.clear();
    }
    let previous = libbpf_rs::set_print(Some((PrintLevel::Warn, capture)));
    let out = f();
    libbpf_rs::set_print(previous);
    let log = LIBBPF_LOG.lock().map(|l| l.clone()).unwrap_or_default();
    (out, log)
}

/// Turns a failed load into an error that names the probe and points at the
/// statement whose instruction the verifier rejected.
fn verifier_error(compiled: &Compiled, log: &str, err: libbpf_rs::Error) -> RunError {
    // The program libbpf says failed (other programs are named in its
    // log too, in passing).
    let failed = |p: &&bpfscope_compiler::ProgSpec| {
        log.contains(&format!("prog '{}': BPF program load failed", p.name))
            || log.contains(&format!("prog '{}': failed to load", p.name))
    };
    let program = compiled
        .programs
        .iter()
        .find(failed)
        .or_else(|| compiled.programs.iter().find(|p| log.contains(&format!("prog '{}'", p.name))));
    let Some(program) = program else {
        return LoadError::Refused { error: err, log: log.to_string() }.into();
    };
    // Refused outright, not by the verifier: say why in the kernel's terms.
    if log.contains(&format!("prog '{}': failed to load: -EPERM", program.name)) && extract_prog_log(log).is_none() {
        let probe = program.attach.canonical();
        if let bpfscope_compiler::ProgKind::Fentry { .. } = program.kind {
            return RunError::FentryRefused(format!(
                "the kernel refused to load {probe}: this kernel does not allow fentry/fexit programs (its ftrace \
                 hooks are blocked, e.g. by lockdown); a tracepoint covering the event may work instead (e.g. \
                 tracepoint:syscalls:sys_enter_read for reads)"
            ));
        }
        return LoadError::NotAllowed { probe, refusal: crate::privileges::refusal() }.into();
    }
    let verifier_log = extract_prog_log(log).unwrap_or(log);
    let (insn, reason) = rejected_instruction(verifier_log);
    let span = insn.and_then(|i| program.code.spans.get(i)).copied().unwrap_or(program.attach.span);
    let too_complex = verifier_log.contains("BPF program is too large") || err.to_string().contains("os error 7");
    let reason = match reason {
        Some(r) => r,
        // E2BIG: the verifier walked its limit of instructions.
        None if too_complex => "the program is too complex for the verifier (it walks at most 1,000,000 \
                                instructions across all paths)"
            .to_string(),
        None => err.to_string(),
    };
    let probe = program.attach.canonical();
    let hint = if too_complex {
        "split the probe, or use fewer branches around loops and string searches; -v shows the verifier's log"
    } else {
        "run with -v to see the verifier's full log"
    };
    let diagnostic =
        Diagnostic::error(span, format!("the BPF verifier rejected probe {probe}: {reason}")).with_hint(hint);
    RunError::Verifier { diagnostic: Box::new(diagnostic), log: verifier_log.to_string() }
}

fn extract_prog_log(log: &str) -> Option<&str> {
    let start = log.find("-- BEGIN PROG LOAD LOG --")? + "-- BEGIN PROG LOAD LOG --".len();
    let end = log[start..].find("-- END PROG LOAD LOG --").map_or(log.len(), |e| start + e);
    Some(log[start..end].trim_matches('\n'))
}

/// The index of the instruction the verifier stopped at, and its reason.
pub fn rejected_instruction(log: &str) -> (Option<usize>, Option<String>) {
    let mut insn = None;
    let mut reason = None;
    for line in log.lines() {
        let t = line.trim();
        if t.is_empty()
            || t.starts_with("processed ")
            || t.starts_with("verification time")
            || t.starts_with("stack depth")
        {
            continue;
        }
        match t.split_once(": ") {
            Some((n, rest)) if n.bytes().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                if rest.starts_with('(') {
                    insn = n.parse().ok();
                }
            }
            _ => {
                if !t.starts_with(';')
                    && !t.starts_with("from ")
                    && !t.starts_with("func#")
                    && !t.starts_with("last_idx")
                {
                    reason = Some(t.to_string());
                }
            }
        }
    }
    (insn, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rejected_instruction_in_a_verifier_log() {
        let log = "0: R1=ctx() R10=fp0\n0: (bf) r9 = r1                       ; R1=ctx() R9_w=ctx()\n\
                   4: (85) call bpf_map_lookup_elem#1\n5: (79) r0 = *(u64 *)(r0 +0)\n\
                   R0 invalid mem access 'map_value_or_null'\nprocessed 6 insns (limit 1000000) max_states_per_insn 0\n";
        assert_eq!(rejected_instruction(log), (Some(5), Some("R0 invalid mem access 'map_value_or_null'".to_string())));
    }
}
