//! User-space probes (`--user-probes`): the part shared by the tracer and
//! the agent it loads into the traced process.
//!
//! The tracer compiles the program as for the kernel, then writes a
//! [`region`] into a memfd: the probe sites, each probe's eBPF
//! instructions, its maps and a ring buffer laid out as the kernel's
//! `BPF_MAP_TYPE_RINGBUF`. The agent maps the same memfd, patches each
//! site with a jump to a trampoline and runs the programs with the
//! [`vm`] interpreter; the tracer reads the maps ([`maps`]) and the ring
//! in place, beside the kernel's.

pub mod maps;
pub mod region;
pub mod ring;
pub mod vm;

pub use region::{Region, RegionBuilder};
