//! The kernel's BTF: the typed, named arguments of raw tracepoints.

use std::cell::OnceCell;
use std::collections::HashMap;

use libbpf_rs::ReferencesType;
use libbpf_rs::btf::HasSize;
use libbpf_rs::btf::types::{Composite, Func, FuncProto, Int, IntEncoding, MemberAttr, Ptr, Var};
use libbpf_rs::btf::{Btf, BtfKind, BtfType, TypeId};

use bpfscope_lang::check::{KernelField, KernelStructs, Type};

use crate::ProbeError;

/// The kernel's BTF, loaded once per resolution.
pub struct KernelBtf {
    btf: Btf<'static>,
    /// Functions by name, indexed on first use (a name lookup in BTF is a
    /// scan of every type).
    functions: OnceCell<HashMap<String, TypeId>>,
    /// Structs and unions by C name (`struct task_struct`), likewise.
    composites: OnceCell<HashMap<String, TypeId>>,
}

impl KernelBtf {
    pub fn load() -> Result<KernelBtf, ProbeError> {
        Btf::from_vmlinux()
            .map(KernelBtf::of)
            .map_err(|e| ProbeError::Btf(format!("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): {e}")))
    }

    /// BTF from a file (raw BTF, as `/sys/kernel/btf/vmlinux`, or an ELF
    /// file with a `.BTF` section).
    pub fn from_file(path: &std::path::Path) -> Result<KernelBtf, ProbeError> {
        Btf::from_path(path)
            .map(KernelBtf::of)
            .map_err(|e| ProbeError::Btf(format!("cannot read BTF from {}: {e}", path.display())))
    }

    fn of(btf: Btf<'static>) -> KernelBtf {
        KernelBtf { btf, functions: OnceCell::new(), composites: OnceCell::new() }
    }

    /// A field of a kernel struct or union (`struct task_struct`, `pid`):
    /// its type and byte offset, looking into unnamed members as C does.
    pub fn struct_field(&self, name: &str, field: &str) -> KernelField {
        let Some(id) = self.composite(name) else { return KernelField::NoStruct };
        self.member(id, field, 0).unwrap_or_else(|| KernelField::NoField(self.member_names(id, 0)))
    }

    /// The size in bytes of a kernel struct or union (`struct file`).
    pub fn struct_size(&self, name: &str) -> Option<u64> {
        let t = self.btf.type_by_id::<BtfType<'_>>(self.composite(name)?)?.skip_mods_and_typedefs();
        Composite::try_from(t).ok().map(|c| c.size() as u64)
    }

    /// A struct's or union's type id by its C name (`struct task_struct`).
    fn composite(&self, name: &str) -> Option<TypeId> {
        let index = self.composites.get_or_init(|| {
            let mut all = HashMap::new();
            for t in self.btf.type_by_kind::<Composite<'_>>() {
                let Some(n) = t.name().map(|n| n.to_string_lossy().into_owned()).filter(|n| !n.is_empty()) else {
                    continue;
                };
                let keyword = if t.is_struct { "struct" } else { "union" };
                // Forward declarations have no members; keep the definition.
                let key = format!("{keyword} {n}");
                if !t.is_empty() || !all.contains_key(&key) {
                    all.insert(key, t.type_id());
                }
            }
            all
        });
        index.get(name).copied()
    }

    /// `field` in the composite `id`, with its offset from the start.
    fn member(&self, id: TypeId, field: &str, depth: u32) -> Option<KernelField> {
        let t = self.btf.type_by_id::<BtfType<'_>>(id)?.skip_mods_and_typedefs();
        let composite = Composite::try_from(t).ok()?;
        for m in composite.iter() {
            let (bits, bitfield) = match m.attr {
                MemberAttr::Normal { offset } => (offset, false),
                MemberAttr::BitField { offset, .. } => (offset, true),
            };
            match m.name.map(|n| n.to_string_lossy()) {
                Some(n) if n == field => {
                    if bitfield || bits % 8 != 0 {
                        return Some(KernelField::Bitfield);
                    }
                    return Some(KernelField::Found(self.member_type(m.ty, 0), u64::from(bits / 8)));
                }
                Some(n) if !n.is_empty() => {}
                _ if depth < 8 => {
                    if let Some(KernelField::Found(t, off)) = self.member(m.ty, field, depth + 1) {
                        return Some(KernelField::Found(t, off + u64::from(bits / 8)));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The names a composite's fields go by (those of unnamed members too).
    fn member_names(&self, id: TypeId, depth: u32) -> Vec<String> {
        let Some(t) = self.btf.type_by_id::<BtfType<'_>>(id) else { return Vec::new() };
        let Ok(composite) = Composite::try_from(t.skip_mods_and_typedefs()) else { return Vec::new() };
        composite
            .iter()
            .flat_map(|m| match m.name.map(|n| n.to_string_lossy().into_owned()).filter(|n| !n.is_empty()) {
                Some(n) => vec![n],
                None if depth < 8 => self.member_names(m.ty, depth + 1),
                None => Vec::new(),
            })
            .collect()
    }

    /// A field's type: as `type_of`, and char arrays as strings (as
    /// bpftrace reads them), other arrays, and structs held by value.
    fn member_type(&self, id: TypeId, depth: u32) -> Type {
        let Some(t) = self.btf.type_by_id::<BtfType<'_>>(id) else { return Type::Unknown };
        let t = t.skip_mods_and_typedefs();
        match t.kind() {
            BtfKind::Array if depth < 8 => {
                let Ok(array) = libbpf_rs::btf::types::Array::try_from(t) else { return Type::Unknown };
                let n = array.capacity() as u64;
                match self.member_type(array.contained_type().type_id(), depth + 1) {
                    Type::Int { bits: 8, .. } => Type::Str(n),
                    Type::Unknown => Type::Unknown,
                    elem => Type::Array(Box::new(elem), n),
                }
            }
            BtfKind::Struct | BtfKind::Union => self.pointee(t.type_id(), depth),
            _ => self.type_of(t.type_id(), depth),
        }
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

    /// The function whose parameters, after a leading context pointer,
    /// are a raw tracepoint's arguments with their names, as bpftrace finds
    /// it: the event's own stub (`__probestub_NAME`, kernels from 6.5),
    /// else its iterator, else the function of its event class (which
    /// events defined from a class, as `sched_wakeup`, lack).
    fn raw_tracepoint_function(&self, name: &str) -> Option<Func<'_>> {
        ["__probestub_", "__traceiter_", "__bpf_trace_"].iter().find_map(|p| self.function(&format!("{p}{name}")))
    }

    /// A raw tracepoint's arguments by name, without the leading context
    /// pointer.
    pub fn raw_tracepoint_args(&self, name: &str) -> Option<Vec<(String, Type)>> {
        let func = self.raw_tracepoint_function(name)?;
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
        let func = self.raw_tracepoint_function(name)?;
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

    /// The BTF type id of a kernel function (a kfunc's, to call it).
    pub fn function_id(&self, name: &str) -> Option<u32> {
        self.function(name).map(|f| u32::from(f.type_id()))
    }

    /// The BTF type id of a kernel variable (vmlinux's BTF describes its
    /// per-CPU variables), as `percpu_kaddr()` hands it to the verifier.
    pub fn variable_id(&self, name: &str) -> Option<u32> {
        self.btf.type_by_name::<Var<'_>>(name).map(|v| u32::from(v.type_id()))
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

/// The kernel's structs for the checker and the compiler, with BTF read
/// only when a program first needs a kernel struct's field.
#[derive(Default)]
pub struct LazyKernelStructs {
    btf: OnceCell<Option<KernelBtf>>,
}

impl KernelStructs for LazyKernelStructs {
    fn field(&self, name: &str, field: &str) -> KernelField {
        match self.btf.get_or_init(|| KernelBtf::load().ok()) {
            Some(btf) => btf.struct_field(name, field),
            None => KernelField::NoStruct,
        }
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.btf.get_or_init(|| KernelBtf::load().ok()).as_ref()?.struct_size(name)
    }

    /// As bpftrace's `kfunc_exist()`: the kernel's BTF has a function so named.
    fn has_function(&self, name: &str) -> bool {
        self.btf.get_or_init(|| KernelBtf::load().ok()).as_ref().is_some_and(|b| b.function(name).is_some())
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
        // An event of a class (sched_wakeup_template) has its names too.
        let wakeup = btf.raw_tracepoint_args("sched_wakeup").expect("sched_wakeup");
        assert_eq!(wakeup, [("p".to_string(), args[1].1.clone())]);
        assert_eq!(
            btf.raw_tracepoint_declarations("sched_switch").expect("sched_switch"),
            ["bool preempt", "struct task_struct * prev", "struct task_struct * next", "unsigned int prev_state"]
        );
        let (params, ret) = btf.function_declarations("vfs_read").expect("vfs_read");
        assert_eq!(params, ["struct file * file", "char * buf", "size_t count", "loff_t * pos"]);
        assert_eq!(ret, "ssize_t retval");
    }

    #[test]
    fn struct_fields() {
        let Ok(btf) = KernelBtf::load() else {
            eprintln!("skipped: this kernel has no BTF");
            return;
        };
        let found = |s: &str, f: &str| match btf.struct_field(s, f) {
            KernelField::Found(t, off) => Some((t, off)),
            _ => None,
        };
        let (pid, _) = found("struct task_struct", "pid").expect("pid");
        assert_eq!(pid, Type::Int { bits: 32, signed: true });
        assert_eq!(found("struct task_struct", "comm").map(|f| f.0), Some(Type::Str(16)));
        let parent = found("struct task_struct", "real_parent").map(|f| f.0);
        assert_eq!(parent, Some(Type::Pointer(Box::new(Type::Struct("struct task_struct".into())))));
        // In an unnamed union of struct file's: f_path is a struct by value.
        assert_eq!(found("struct file", "f_path").map(|f| f.0), Some(Type::Struct("struct path".into())));
        assert!(
            matches!(btf.struct_field("struct task_struct", "pidd"), KernelField::NoField(f) if f.contains(&"pid".to_string()))
        );
        assert_eq!(btf.struct_field("struct no_such_thing", "x"), KernelField::NoStruct);
    }

    /// The kernel's BTF cut short or scribbled on: refused with a message,
    /// or read; what is read answers lookups without panicking.
    #[test]
    fn truncated_or_damaged_btf_is_refused_or_read() {
        let Ok(real) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: this kernel has no /sys/kernel/btf/vmlinux");
            return;
        };
        let dir = std::env::temp_dir().join(format!("bpfscope-bad-btf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creates");
        let mut inputs: Vec<Vec<u8>> =
            [0, 4, 24, 100, 4096, real.len() / 2, real.len() - 1].iter().map(|&n| real[..n].to_vec()).collect();
        let mut seed = 0x5eed_b7f0_u64;
        for _ in 0..20 {
            let mut bytes = real.clone();
            for _ in 0..16 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % bytes.len();
                bytes[at] = (seed >> 40) as u8;
            }
            inputs.push(bytes);
        }
        let mut refused = 0;
        for (i, bytes) in inputs.iter().enumerate() {
            let path = dir.join(format!("btf{i}"));
            std::fs::write(&path, bytes).expect("writes");
            match KernelBtf::from_file(&path) {
                Err(e) => {
                    refused += 1;
                    assert!(e.to_string().starts_with("cannot read BTF from "), "{e}");
                }
                Ok(btf) => {
                    let _ = btf.struct_field("task_struct", "pid");
                    let _ = btf.struct_size("task_struct");
                    let _ = btf.function_signature("vfs_read");
                    let _ = btf.raw_tracepoint_args("sched_switch");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        // Every cut-short copy is refused.
        assert!(refused >= 7, "{refused} refused");
    }
}
