//! The runtime: loads compiled programs with libbpf, attaches them, polls
//! the ring buffer, reads maps and prints them the way bpftrace does.
