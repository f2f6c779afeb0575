//! Kernel structs, whose fields come from outside the program (the
//! kernel's BTF): `curtask->pid`, `args.file->f_pos`. The checker and the
//! compiler ask through this trait; `bpfscope-probes` answers from BTF.

use std::fmt;
use std::rc::Rc;

use super::Type;

/// What a kernel struct's field lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelField {
    /// The field's type and its byte offset in the struct.
    Found(Type, u64),
    /// No struct or union of that name (or no BTF at all).
    NoStruct,
    /// The struct has no such field; these are the fields it has.
    NoField(Vec<String>),
    /// The field is a bitfield, which cannot be read yet.
    Bitfield,
}

/// Answers field lookups in kernel structs (`"struct task_struct"`).
pub trait KernelStructs {
    fn field(&self, name: &str, field: &str) -> KernelField;
    /// The struct's size in bytes (for pointer arithmetic), if known.
    fn size(&self, _name: &str) -> Option<u64> {
        None
    }
    /// Whether the kernel has a function of this name (`kfunc_exist()`).
    fn has_function(&self, _name: &str) -> bool {
        false
    }
}

/// A shared handle on the kernel's structs, for options structs.
#[derive(Clone)]
pub struct KernelTypes(pub Rc<dyn KernelStructs>);

impl KernelTypes {
    pub fn field(&self, name: &str, field: &str) -> KernelField {
        self.0.field(name, field)
    }

    pub fn size(&self, name: &str) -> Option<u64> {
        self.0.size(name)
    }

    pub fn has_function(&self, name: &str) -> bool {
        self.0.has_function(name)
    }
}

impl fmt::Debug for KernelTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KernelTypes")
    }
}

/// Answers `uaddr()`'s question, when checking: the size of a symbol in
/// the binary a probe (by index) attaches to, or the binary's name where
/// it has no such symbol.
pub trait UserSymbolSizes {
    fn symbol_size(&self, probe: usize, name: &str) -> Result<u64, String>;
}

/// A shared handle on the probes' binaries' symbols, for options structs.
#[derive(Clone)]
pub struct UserSymbols(pub Rc<dyn UserSymbolSizes>);

impl fmt::Debug for UserSymbols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserSymbols")
    }
}
