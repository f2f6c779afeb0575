//! The unwind table `dw_ustack` walks stacks with: built from the target
//! process's executable mappings before the maps are made (the table's
//! size is its map's), and loaded into its map before the probes attach.

use bpfscope_compiler::Compiled;
use bpfscope_probes::unwind::{self, MAX_ROWS, ProcessTable};
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use crate::{LoadError, RunError};

/// A table ready to be loaded into its map.
pub struct Table {
    map: usize,
    table: ProcessTable,
}

/// The target process's table, with its map sized to it; `None` where the
/// program has no `dw_ustack`. Files without one are named on stderr
/// (their frames end stacks).
pub fn prepare(compiled: &mut Compiled) -> Result<Option<Table>, RunError> {
    let Some(u) = compiled.unwind.clone() else { return Ok(None) };
    let mut table = unwind::process_table(u.pid).map_err(|source| LoadError::UnwindTables { pid: u.pid, source })?;
    for (path, why) in &table.missing {
        eprintln!(
            "bpfscope: warning: dw_ustack: no unwind table for {} ({why}): stacks end at its frames",
            path.display()
        );
    }
    if table.rows.len() > MAX_ROWS {
        eprintln!(
            "bpfscope: warning: dw_ustack: process {} has {} unwind rows, more than the {MAX_ROWS} a table holds: \
             stacks end at frames in its highest addresses",
            u.pid,
            table.rows.len()
        );
        table.rows.truncate(MAX_ROWS);
    }
    let spec = &mut compiled.maps[u.rows.0];
    spec.max_entries = u32::try_from(table.rows.len()).unwrap_or(u32::MAX).max(1);
    Ok(Some(Table { map: u.rows.0, table }))
}

/// Loads the table into its map, in one batch.
pub fn fill(t: &Table, maps: &[MapHandle]) -> Result<(), RunError> {
    // The map is the compiler's, made with the others.
    let Some(map) = maps.get(t.map) else { return Ok(()) };
    let count = t.table.rows.len();
    let keys: Vec<u8> = (0..count as u32).flat_map(u32::to_le_bytes).collect();
    let values: Vec<u8> = t.table.encoded().flatten().collect();
    map.update_batch(&keys, &values, count as u32, MapFlags::ANY, MapFlags::ANY)
        .map_err(|e| LoadError::UnwindMap(e).into())
}
