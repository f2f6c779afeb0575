//! The compiler from a checked bpftrace program to eBPF, with no LLVM.
//!
//! [`compile`] walks the checked syntax tree and emits instructions per
//! attach point, with the maps and output tables the runtime needs
//! ([`Compiled`]). Values are 8-byte scalars in registers r6-r8 (spilling to
//! the stack when those run out) or bytes on the BPF stack; see [`layout`].

pub mod asm;
mod codegen;
pub mod ctypes;
pub mod disasm;
pub mod insn;
pub mod layout;
pub mod names;
pub mod program;

pub use codegen::{CompileOptions, GLOBAL_EXIT, GLOBAL_LOST, GLOBAL_PROGRAM_LOST, GLOBAL_START, KfuncAllowed, compile};
pub use program::*;
