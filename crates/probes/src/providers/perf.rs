//! Probes on perf events: profile and interval (timers), software and
//! hardware (counters), watchpoint (hardware breakpoints). Each attach
//! point is its own site.

use bpfscope_lang::attach::{HARDWARE_EVENTS, PerfEventKind, Provider, SOFTWARE_EVENTS};

/// The events a provider can name, or the units of a timer.
pub(super) fn list(p: Provider) -> Vec<String> {
    let items = match p {
        Provider::Software => perf_event_names(SOFTWARE_EVENTS),
        Provider::Hardware => perf_event_names(HARDWARE_EVENTS),
        Provider::Interval | Provider::Profile => ["hz", "s", "ms", "us"].iter().map(|u| format!("{u}:")).collect(),
        // A watchpoint names an address: there is nothing to list.
        _ => Vec::new(),
    };
    items.into_iter().map(|i| format!("{}:{i}", p.name())).collect()
}

/// Every name and alias of a perf event table, as bpftrace lists them
/// (`cpu-clock:`, `cpu:`).
fn perf_event_names(table: &[PerfEventKind]) -> Vec<String> {
    table.iter().flat_map(|k| k.names.iter()).map(|n| format!("{n}:")).collect()
}
