//! The compiler from a checked bpftrace program to eBPF instructions, with
//! no LLVM: types, map layout, code per probe, output formats.
