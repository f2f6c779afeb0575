//! The attach-point catalog: parsing, wildcard expansion and listing of the
//! probes the kernel and user binaries offer (tracefs, kallsyms, BTF, ELF
//! symbols, USDT notes). Filled in by the probe-listing work.
