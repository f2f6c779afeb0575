//! The kernel's BTF: the typed, named arguments of raw tracepoints.

use std::collections::HashMap;

use libbpf_rs::ReferencesType;
use libbpf_rs::btf::types::{Func, FuncProto, Int, IntEncoding, Ptr};
use libbpf_rs::btf::{Btf, BtfKind, BtfType, TypeId};

use bpfscope_lang::check::Type;

use crate::ProbeError;

/// The kernel's BTF, loaded once per resolution.
pub struct KernelBtf {
    btf: Btf<'static>,
    /// Functions by name, indexed on first use (a name lookup in BTF is a
    /// scan of every type).
    functions: std::cell::OnceCell<HashMap<String, TypeId>>,
}

impl KernelBtf {
    pub fn load() -> Result<KernelBtf, ProbeError> {
        Btf::from_vmlinux()
            .map(|btf| KernelBtf { btf, functions: std::cell::OnceCell::new() })
            .map_err(|e| ProbeError::Btf(format!("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): {e}")))
    }

    /// The function named `name`.
    fn function(&self, name: &str) -> Option<Func<'_>> {
        let index = self.functions.get_or_init(|| {
            self.btf
                .type_by_kind::<Func<'_>>()
                .filter_map(|f| Some((f.name()?.to_string_lossy().into_owned(), f.type_id())))
                .collect()
        });
        self.btf.type_by_id(*index.get(name)?)
    }

    /// A raw tracepoint's arguments by name, from the function the kernel
    /// calls BPF programs through (`__bpf_trace_NAME`), without its
    /// leading context pointer.
    pub fn raw_tracepoint_args(&self, name: &str) -> Option<Vec<(String, Type)>> {
        let func = self.function(&format!("__bpf_trace_{name}"))?;
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

    /// A kernel function's parameters by name and its return type, as
    /// fentry and fexit read them.
    pub fn function_signature(&self, name: &str) -> Option<(Vec<(String, Type)>, Type)> {
        let func = self.function(name)?;
        let proto: FuncProto<'_> = self.btf.type_by_id(func.referenced_type_id())?;
        let params = proto
            .iter()
            .map(|p| {
                let name = p.name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (name, self.type_of(p.ty, 0))
            })
            .collect();
        Some((params, self.type_of(proto.referenced_type_id(), 0)))
    }

    /// A raw tracepoint's arguments as C declarations (`struct task_struct
    /// * prev`), for `-lv`.
    pub fn raw_tracepoint_declarations(&self, name: &str) -> Option<Vec<String>> {
        let func = self.function(&format!("__bpf_trace_{name}"))?;
        Some(self.params(func, 1))
    }

    /// A kernel function's parameters as C declarations, and its return
    /// type, for `-lv` of fentry/fexit.
    pub fn function_declarations(&self, name: &str) -> Option<(Vec<String>, String)> {
        let func = self.function(name)?;
        let proto: FuncProto<'_> = self.btf.type_by_id(func.referenced_type_id())?;
        let ret = self.c_declaration(proto.referenced_type_id(), "retval", 0);
        Some((self.params(func, 0), ret))
    }

    /// The functions the kernel's BTF describes.
    pub fn function_names(&self) -> Vec<String> {
        self.function("");
        self.functions.get().map(|f| f.keys().cloned().collect()).unwrap_or_default()
    }

    fn params(&self, func: Func<'_>, skip: usize) -> Vec<String> {
        let Some(proto) = self.btf.type_by_id::<FuncProto<'_>>(func.referenced_type_id()) else { return Vec::new() };
        proto
            .iter()
            .skip(skip)
            .map(|p| {
                let name = p.name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                self.c_declaration(p.ty, &name, 0)
            })
            .collect()
    }

    /// `TYPE name` as C writes it, for the types kernel arguments have.
    fn c_declaration(&self, id: TypeId, name: &str, depth: u32) -> String {
        let base = self.c_type(id, depth);
        if name.is_empty() { base } else { format!("{base} {name}") }
    }

    fn c_type(&self, id: TypeId, depth: u32) -> String {
        let Some(t) = self.btf.type_by_id::<BtfType<'_>>(id) else { return "void".into() };
        let name = t.name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let next = |t: &BtfType<'_>| t.next_type().map(|n| n.type_id());
        if depth > 16 {
            return "void".into();
        }
        match t.kind() {
            BtfKind::Void => "void".into(),
            BtfKind::Int | BtfKind::Float | BtfKind::Typedef => name,
            BtfKind::Struct => format!("struct {name}"),
            BtfKind::Union => format!("union {name}"),
            BtfKind::Enum | BtfKind::Enum64 => format!("enum {name}"),
            BtfKind::Fwd => format!("struct {name}"),
            BtfKind::Const => format!("const {}", next(&t).map_or("void".into(), |n| self.c_type(n, depth + 1))),
            BtfKind::Volatile => format!("volatile {}", next(&t).map_or("void".into(), |n| self.c_type(n, depth + 1))),
            BtfKind::Ptr => match t.next_type() {
                Some(n) if n.kind() == BtfKind::FuncProto => "void *".into(),
                Some(n) => format!("{} *", self.c_type(n.type_id(), depth + 1)),
                None => "void *".into(),
            },
            _ => next(&t).map_or("void".into(), |n| self.c_type(n, depth + 1)),
        }
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
        assert_eq!(
            btf.raw_tracepoint_declarations("sched_switch").expect("sched_switch"),
            ["bool preempt", "struct task_struct * prev", "struct task_struct * next", "unsigned int prev_state"]
        );
        let (params, ret) = btf.function_declarations("vfs_read").expect("vfs_read");
        assert_eq!(params, ["struct file * file", "char * buf", "size_t count", "loff_t * pos"]);
        assert_eq!(ret, "ssize_t retval");
    }
}
