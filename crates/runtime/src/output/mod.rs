//! Text output in bpftrace's format.

pub mod maps;
pub mod printf;
pub mod value;
