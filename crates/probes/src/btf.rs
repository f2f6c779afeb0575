//! The kernel's BTF: the typed, named arguments of raw tracepoints.

use libbpf_rs::ReferencesType;
use libbpf_rs::btf::types::{Func, FuncProto, Int, IntEncoding, Ptr};
use libbpf_rs::btf::{Btf, BtfKind, BtfType, TypeId};

use bpfscope_lang::check::Type;

use crate::ProbeError;

/// The kernel's BTF, loaded once per resolution.
pub struct KernelBtf {
    btf: Btf<'static>,
}

impl KernelBtf {
    pub fn load() -> Result<KernelBtf, ProbeError> {
        Btf::from_vmlinux()
            .map(|btf| KernelBtf { btf })
            .map_err(|e| ProbeError::Btf(format!("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): {e}")))
    }

    /// A raw tracepoint's arguments by name, from the function the kernel
    /// calls BPF programs through (`__bpf_trace_NAME`), without its
    /// leading context pointer.
    pub fn raw_tracepoint_args(&self, name: &str) -> Option<Vec<(String, Type)>> {
        let func: Func<'_> = self.btf.type_by_name(&format!("__bpf_trace_{name}"))?;
        let proto: FuncProto<'_> = self.btf.type_by_id(func.referenced_type_id())?;
        Some(
            proto
                .iter()
                .skip(1)
                .map(|p| {
                    let name = p.name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    (name, self.type_of(p.ty, 0))
                })
                .collect(),
        )
    }

    /// The bpftrace type of a kernel type: integers, enums, and pointers
    /// (to structs by name); anything else is left to later checks.
    fn type_of(&self, id: TypeId, depth: u32) -> Type {
        let Some(t) = self.btf.type_by_id::<BtfType<'_>>(id) else { return Type::Unknown };
        let t = t.skip_mods_and_typedefs();
        match t.kind() {
            BtfKind::Int => match Int::try_from(t) {
                Ok(i) if matches!(i.encoding, IntEncoding::Bool) => Type::Bool,
                Ok(i) => Type::Int {
                    bits: i.bits.next_power_of_two().clamp(8, 64),
                    signed: matches!(i.encoding, IntEncoding::Signed),
                },
                Err(_) => Type::Unknown,
            },
            BtfKind::Enum | BtfKind::Enum64 => Type::INT64,
            BtfKind::Ptr if depth < 8 => match Ptr::try_from(t) {
                Ok(p) => Type::Pointer(Box::new(self.pointee(p.referenced_type_id(), depth + 1))),
                Err(_) => Type::Unknown,
            },
            _ => Type::Unknown,
        }
    }

    fn pointee(&self, id: TypeId, depth: u32) -> Type {
        let Some(t) = self.btf.type_by_id::<BtfType<'_>>(id) else { return Type::Unknown };
        let t = t.skip_mods_and_typedefs();
        let name = t.name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match t.kind() {
            BtfKind::Struct if !name.is_empty() => Type::Struct(format!("struct {name}")),
            BtfKind::Union if !name.is_empty() => Type::Struct(format!("union {name}")),
            _ => self.type_of(t.type_id(), depth),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_switch_arguments() {
        let Ok(btf) = KernelBtf::load() else {
            eprintln!("skipped: this kernel has no BTF");
            return;
        };
        let args = btf.raw_tracepoint_args("sched_switch").expect("sched_switch");
        let names: Vec<&str> = args.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["preempt", "prev", "next", "prev_state"]);
        assert_eq!(args[0].1, Type::Bool);
        assert_eq!(args[1].1, Type::Pointer(Box::new(Type::Struct("struct task_struct".into()))));
        assert_eq!(args[3].1, Type::Int { bits: 32, signed: false });
        assert!(btf.raw_tracepoint_args("no_such_tracepoint").is_none());
    }
}
