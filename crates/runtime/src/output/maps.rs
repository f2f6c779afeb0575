//! Reading maps from the kernel and printing them as bpftrace 0.17 does:
//! `@name[key]: value` lines sorted by value, `stats` and `avg` lines, and
//! the hist/lhist bar charts.
//!
//! A map may hold millions of entries (`max_map_keys`): they are read in
//! batches, kept compactly (keys back to back, values in a column), sorted
//! as indices, and each line is written to the output as it is made.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::{self, BufWriter, Write};

use bpfscope_compiler::layout::{field_offsets, size_of};
use bpfscope_compiler::{UserMap, ValueKind};
use bpfscope_lang::check::Type;
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use super::batch::{self, Values};
use super::tseries::Points;
use super::value::{Resolver, c_string, int_value, read_u64, slice, to_text};
use crate::data::{Bucket, MapValue, Value};

/// How much output is gathered before it is written on: lines are small,
/// and a write (a system call, or an event) per line would cost more than
/// making them.
const OUTPUT_BUFFER: usize = 1 << 16;

/// A map's entries as read, one row per user key.
struct Table {
    /// Bytes of each user key (a hist's key in the kernel also holds the
    /// bucket, which is not part of it).
    key_size: usize,
    /// The user keys, back to back: one allocation for the whole map.
    keys: Vec<u8>,
    values: Column,
    rows: usize,
}

/// Every row's value, summed over CPUs where the map is per CPU.
enum Column {
    /// count, sum, min, max, and integer (or bool) values.
    Numbers(Vec<i128>),
    /// avg and stats: (count, total).
    Averages(Vec<(i64, i64)>),
    /// Other values, back to back, `size` bytes each.
    Bytes { size: usize, bytes: Vec<u8> },
    /// hist and lhist: each row's bucket counts.
    Buckets(Vec<Vec<u64>>),
    /// tseries: each row's intervals and their values.
    Series(Vec<Points>),
}

impl Table {
    fn new(map: &UserMap, src: &Source<'_>) -> Table {
        let handle = src.kernel;
        let kernel_key_size = handle.key_size() as usize;
        let key_size = (map.key.as_ref().map_or(8, size_of) as usize).min(kernel_key_size);
        let values = match &map.value {
            ValueKind::Plain(t) if is_number(t) => Column::Numbers(Vec::new()),
            ValueKind::Plain(_) => Column::Bytes { size: handle.value_size() as usize, bytes: Vec::new() },
            ValueKind::Count | ValueKind::Sum | ValueKind::Min | ValueKind::Max => Column::Numbers(Vec::new()),
            ValueKind::Avg | ValueKind::Stats => Column::Averages(Vec::new()),
            ValueKind::Hist { .. } | ValueKind::Lhist { .. } => Column::Buckets(Vec::new()),
            ValueKind::Tseries { .. } => Column::Series(Vec::new()),
        };
        Table { key_size, keys: Vec::new(), values, rows: 0 }
    }

    fn key(&self, row: usize) -> &[u8] {
        &self.keys[row * self.key_size..(row + 1) * self.key_size]
    }

    /// A new row for `key`; its value is pushed by the caller.
    fn push_key(&mut self, key: &[u8]) -> usize {
        self.keys.extend_from_slice(key);
        self.rows += 1;
        self.rows - 1
    }

    /// The number bpftrace sorts lines by: the value, an average's
    /// average, a histogram's total count.
    fn sort_value(&self, row: usize) -> i128 {
        match &self.values {
            Column::Numbers(v) => v[row],
            Column::Averages(v) => i128::from(average(v[row].0, v[row].1)),
            Column::Buckets(b) => b[row].iter().map(|&x| i128::from(x)).sum(),
            Column::Bytes { .. } | Column::Series(_) => 0,
        }
    }

    /// Moves a table of numbers' rows into `order` (a permutation of
    /// them); other tables are left as they are.
    fn reorder(&mut self, order: &[u32]) {
        let Column::Numbers(values) = &mut self.values else { return };
        *values = order.iter().map(|&row| values[row as usize]).collect();
        let mut keys = Vec::with_capacity(self.keys.len());
        for &row in order {
            keys.extend_from_slice(self.key(row as usize));
        }
        self.keys = keys;
    }

    fn bytes(&self, row: usize) -> &[u8] {
        match &self.values {
            Column::Bytes { size, bytes } => &bytes[row * size..(row + 1) * size],
            _ => &[],
        }
    }
}

/// Integer and bool values print and sort as numbers.
fn is_number(t: &Type) -> bool {
    t.is_int() || *t == Type::Bool
}

/// Turns the kernel's entries into a table: one row per entry, except
/// that hist, lhist and tseries maps have one entry per bucket or slot,
/// gathered into their key's row.
struct Reader<'m> {
    map: &'m UserMap,
    table: Table,
    /// hist/lhist/tseries: each user key's row.
    grouped: HashMap<Vec<u8>, usize>,
}

impl Reader<'_> {
    fn add(&mut self, key: &[u8], values: Values<'_>) {
        let map = self.map;
        let user_key = &key[..self.table.key_size.min(key.len())];
        // The kernel's key is never shorter than the user's; keep every
        // row's key the same size all the same.
        if user_key.len() != self.table.key_size {
            return;
        }
        match &map.value {
            ValueKind::Tseries { agg, signed, .. } => {
                let (epoch, value) = super::tseries::reduce(values.cpus(), *agg, *signed);
                let row = self.grouped_row(user_key);
                if let Column::Series(s) = &mut self.table.values {
                    s[row].insert(epoch, value);
                }
            }
            ValueKind::Hist { .. } | ValueKind::Lhist { .. } => {
                let at = bpfscope_compiler::layout::bucket_offset(map.key.as_ref()) as usize;
                let bucket = read_u64(&key[at.min(key.len())..]) as usize;
                let count: u64 = values.cpus().map(read_u64).fold(0, u64::wrapping_add);
                let row = self.grouped_row(user_key);
                if let Column::Buckets(b) = &mut self.table.values
                    && let Some(slot) = b[row].get_mut(bucket)
                {
                    *slot = slot.wrapping_add(count);
                }
            }
            kind => {
                self.table.push_key(user_key);
                push_value(&mut self.table.values, kind, values);
            }
        }
    }

    /// The row of a hist, lhist or tseries key, made on first sight.
    fn grouped_row(&mut self, user_key: &[u8]) -> usize {
        if let Some(&row) = self.grouped.get(user_key) {
            return row;
        }
        let row = self.table.push_key(user_key);
        match &mut self.table.values {
            Column::Buckets(b) => b.push(vec![0; bucket_count(&self.map.value)]),
            Column::Series(s) => s.push(Points::default()),
            _ => {}
        }
        self.grouped.insert(user_key.to_vec(), row);
        row
    }
}

/// One entry's value, summed over CPUs, onto the end of its column.
fn push_value(column: &mut Column, kind: &ValueKind, values: Values<'_>) {
    let sum = || values.cpus().map(|v| read_u64(v) as i64).fold(0, i64::wrapping_add);
    match (column, kind) {
        (Column::Numbers(v), ValueKind::Plain(t)) => v.push(int_value(t, values.first())),
        (Column::Numbers(v), ValueKind::Count) => v.push(i128::from(sum() as u64)),
        (Column::Numbers(v), ValueKind::Sum) => v.push(i128::from(sum())),
        (Column::Numbers(v), ValueKind::Min | ValueKind::Max) => {
            // Only CPUs that saw a value (their second word is set) count.
            let set = values.cpus().filter(|v| read_u64(v.get(8..).unwrap_or(&[])) != 0).map(|v| read_u64(v) as i64);
            let n = if matches!(kind, ValueKind::Min) { set.min() } else { set.max() };
            v.push(i128::from(n.unwrap_or(0)));
        }
        (Column::Averages(v), _) => {
            let count = values.cpus().map(|v| read_u64(v.get(8..).unwrap_or(&[])) as i64).fold(0, i64::wrapping_add);
            v.push((count, sum()));
        }
        (Column::Bytes { size, bytes }, _) => {
            let start = bytes.len();
            bytes.extend_from_slice(&values.first()[..(*size).min(values.first().len())]);
            bytes.resize(start + *size, 0);
        }
        // Every column gets a value for every key pushed.
        (Column::Numbers(v), _) => v.push(0),
        (Column::Buckets(_) | Column::Series(_), _) => {}
    }
}

/// Reads every entry of a user map: in batches where the kernel allows,
/// else key by key.
fn read(map: &UserMap, src: &Source<'_>) -> Table {
    let handle = src.kernel;
    let per_cpu = map.value.is_per_cpu();
    let new = || Reader { map, table: Table::new(map, src), grouped: HashMap::new() };
    if let Some(user) = &src.user {
        return read_merged(map, handle, user, new());
    }
    let mut reader = new();
    if batch::for_each_batched(handle, per_cpu, &mut |k, v| reader.add(k, v)).is_err() {
        // Refused for this map or kernel, or failed part-way: read again
        // from the start, key by key.
        reader = new();
        batch::for_each_by_key(handle, per_cpu, &mut |k, v| reader.add(k, v));
    }
    reader.table
}

/// A map's entries: the kernel's, and with `--user-probes` the agent's.
pub struct Source<'a> {
    pub kernel: &'a MapHandle,
    pub user: Option<bpfscope_userspace::maps::Map<'a>>,
}

impl<'a> From<&'a MapHandle> for Source<'a> {
    fn from(kernel: &'a MapHandle) -> Source<'a> {
        Source { kernel, user: None }
    }
}

/// Reads the kernel's entries and the agent's, as one: the agent's
/// per-thread values join the kernel's per-CPU values of the same key
/// (merged as CPUs are), and for values not per CPU the agent's entry
/// stands for the key (the probes it runs are the program's uprobes).
fn read_merged(
    map: &UserMap,
    handle: &MapHandle,
    user: &bpfscope_userspace::maps::Map<'_>,
    mut reader: Reader<'_>,
) -> Table {
    let per_cpu = map.value.is_per_cpu();
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let push = |entries: &mut Vec<(Vec<u8>, Vec<u8>)>, index: &mut HashMap<Vec<u8>, usize>, k: &[u8], v: Values<'_>| {
        index.insert(k.to_vec(), entries.len());
        entries.push((k.to_vec(), v.raw().to_vec()));
    };
    if batch::for_each_batched(handle, per_cpu, &mut |k, v| push(&mut entries, &mut index, k, v)).is_err() {
        entries.clear();
        index.clear();
        batch::for_each_by_key(handle, per_cpu, &mut |k, v| push(&mut entries, &mut index, k, v));
    }
    let size = handle.value_size() as usize;
    let stride = if per_cpu { size.next_multiple_of(8) } else { size };
    user.for_each(|k, v| {
        let v = if per_cpu { v } else { &v[..size.min(v.len())] };
        match index.get(k) {
            Some(&i) if per_cpu => entries[i].1.extend_from_slice(v),
            Some(&i) => entries[i].1 = v.to_vec(),
            None => {
                index.insert(k.to_vec(), entries.len());
                entries.push((k.to_vec(), v.to_vec()));
            }
        }
    });
    for (k, v) in &entries {
        reader.add(k, Values::new(v, stride, size));
    }
    reader.table
}

/// Rows in key order, as bpftrace's sort_by_key orders them; keys that
/// compare equal by their type (strings with different bytes after their
/// NUL) in the order of their bytes, so output never depends on the
/// order the kernel gave them in.
fn key_order(map: &UserMap, table: &Table) -> Vec<u32> {
    if matches!(map.value, ValueKind::Tseries { .. }) {
        // 0.26 prints time series in the order of their keys' bytes.
        return sorted_rows(table, |a, b| table.key(a).cmp(table.key(b)));
    }
    sorted_rows(table, |a, b| compare_rows_by_key(map, table, a, b))
}

/// Rows in the order a listing prints them: by value where values are
/// numbers, ties in key order; else in key order.
fn print_order(map: &UserMap, table: &mut Table) -> Vec<u32> {
    let by_value = match &map.value {
        ValueKind::Plain(t) => is_number(t),
        ValueKind::Tseries { .. } => false,
        _ => true,
    };
    if !by_value {
        return key_order(map, table);
    }
    if let Some(rows) = sort_numeric(map, table) {
        return rows;
    }
    sorted_rows(table, |a, b| {
        table.sort_value(a).cmp(&table.sort_value(b)).then_with(|| compare_rows_by_key(map, table, a, b))
    })
}

/// `print_order` for the usual maps (integer values, an integer key or
/// none), which also moves the rows into that order: printing then reads
/// the table front to back, where reading it in a random order costs a
/// cache miss or two per line (half the time of a million-line listing).
/// `None` for other maps, whose table is left as it is.
fn sort_numeric(map: &UserMap, table: &mut Table) -> Option<Vec<u32>> {
    let mut order = numeric_order(map, table)?;
    table.reorder(&order);
    order.iter_mut().enumerate().for_each(|(i, row)| *row = i as u32);
    Some(order)
}

/// The rows of a table of numbers in order, sorted without reaching into
/// the table on every comparison (a cache miss each, for a million rows):
/// each row's value and key are first made into words that sort as they
/// do, side by side, then sorted.
fn numeric_order(map: &UserMap, table: &Table) -> Option<Vec<u32>> {
    let Column::Numbers(values) = &table.values else { return None };
    let key_type = match &map.key {
        None => None,
        Some(t @ Type::Int { .. }) => Some(t),
        Some(_) => return None,
    };
    let value_words = order_words(values.iter().copied())?;
    let key_words = order_words((0..table.rows).map(|row| key_type.map_or(0, |t| int_value(t, table.key(row)))))?;
    let mut words: Vec<(u64, u64, u32)> = value_words
        .zip(key_words)
        .zip(0..table.rows)
        .filter_map(|((value, key), row)| Some((value, key, u32::try_from(row).ok()?)))
        .collect();
    // Two rows never have the same key, so the order is total.
    words.sort_unstable();
    Some(words.into_iter().map(|(_, _, row)| row).collect())
}

/// Integers as words that sort as they do: all of them fit in an i64
/// (shifted to unsigned) or all in a u64, as the values of one column or
/// the keys of one map do; `None` if not.
fn order_words<I: Iterator<Item = i128> + Clone>(numbers: I) -> Option<impl Iterator<Item = u64>> {
    let (min, max) = numbers.clone().fold((0, 0), |(lo, hi), n| (n.min(lo), n.max(hi)));
    let signed = min < 0;
    let fits = if signed { i64::try_from(max).is_ok() } else { u64::try_from(max).is_ok() };
    fits.then(|| numbers.map(move |n| if signed { (n as i64 as u64) ^ (1 << 63) } else { n as u64 }))
}

fn compare_rows_by_key(map: &UserMap, table: &Table, a: usize, b: usize) -> Ordering {
    let (ka, kb) = (table.key(a), table.key(b));
    compare_keys(map.key.as_ref(), ka, kb).then_with(|| ka.cmp(kb))
}

/// Row numbers (4 bytes each, not 8: maps have at most u32::MAX entries)
/// sorted by `cmp`, a total order, so the unstable sort is deterministic.
fn sorted_rows(table: &Table, cmp: impl Fn(usize, usize) -> Ordering) -> Vec<u32> {
    let mut rows: Vec<u32> = (0..table.rows).filter_map(|r| u32::try_from(r).ok()).collect();
    rows.sort_unstable_by(|&a, &b| cmp(a as usize, b as usize));
    rows
}

/// The last `top` rows (all of them for 0).
fn top_rows(rows: &[u32], top: u64) -> &[u32] {
    match usize::try_from(top) {
        Ok(top) if top > 0 && rows.len() > top => &rows[rows.len() - top..],
        _ => rows,
    }
}

/// Each row's time series points, for a tseries map (the window they are
/// shown in depends on every key's latest interval).
fn series_rows(map: &UserMap, table: &Table) -> Vec<Vec<(u64, Option<i128>)>> {
    match (&map.value, &table.values) {
        (ValueKind::Tseries { interval_ns, num_intervals, .. }, Column::Series(points)) => {
            super::tseries::rows(points, *interval_ns, *num_intervals)
        }
        _ => Vec::new(),
    }
}

/// A row's value as Rust data.
fn map_value(
    map: &UserMap,
    table: &Table,
    row: usize,
    series: &[Vec<(u64, Option<i128>)>],
    r: &Resolver<'_>,
) -> MapValue {
    match &table.values {
        Column::Numbers(v) => MapValue::Int(v[row]),
        Column::Averages(v) => MapValue::Average { count: v[row].0, total: v[row].1 },
        Column::Buckets(b) => MapValue::Histogram(buckets(&map.value, &b[row])),
        Column::Series(_) => MapValue::TimeSeries(series.get(row).cloned().unwrap_or_default()),
        Column::Bytes { .. } => match &map.value {
            ValueKind::Plain(t) => MapValue::Value(Value::decode(t, table.bytes(row), r)),
            _ => MapValue::Value(Value::Bytes(table.bytes(row).to_vec())),
        },
    }
}

fn decode_key(map: &UserMap, key: &[u8], r: &Resolver<'_>) -> Option<Value> {
    map.key.as_ref().map(|t| Value::decode(t, key, r))
}

/// Every entry of a user map as Rust values, in key order (no key for a
/// map without keys).
pub fn entries(map: &UserMap, handle: &Source<'_>, r: &Resolver<'_>) -> Vec<(Option<Value>, MapValue)> {
    let table = read(map, handle);
    let series = series_rows(map, &table);
    key_order(map, &table)
        .into_iter()
        .map(|row| (decode_key(map, table.key(row as usize), r), map_value(map, &table, row as usize, &series, r)))
        .collect()
}

/// Whether a map's key holds a stack (a flame graph can be drawn from it).
pub fn keyed_by_stacks(map: &UserMap) -> bool {
    let is_stack = |t: &Type| matches!(t, Type::Ustack | Type::Kstack);
    match &map.key {
        Some(Type::Tuple(items)) => items.iter().any(is_stack),
        Some(t) => is_stack(t),
        None => false,
    }
}

/// A map keyed by stacks as folded stacks, one per entry with an integer
/// value (`count()`, `sum()`): the key's other parts first (a `comm`, say),
/// then each stack's frames from the outermost in. Empty for other maps.
pub fn folded(map: &UserMap, handle: &Source<'_>, r: &Resolver<'_>) -> Vec<super::flamegraph::Folded> {
    if !keyed_by_stacks(map) {
        return Vec::new();
    }
    let table = read(map, handle);
    let series = series_rows(map, &table);
    let key_frames = |key: &[u8]| -> Vec<String> {
        let part = |t: &Type, bytes: &[u8]| -> Vec<String> {
            if matches!(t, Type::Ustack | Type::Kstack) {
                let mut names = r.stack_names(read_u64(bytes));
                names.reverse();
                names
            } else {
                vec![key_part(t, bytes, r)]
            }
        };
        match &map.key {
            Some(Type::Tuple(items)) => items
                .iter()
                .zip(field_offsets(items))
                .flat_map(|(t, off)| part(t, slice(key, off, size_of(t))))
                .collect(),
            Some(t) => part(t, key),
            None => Vec::new(),
        }
    };
    key_order(map, &table)
        .into_iter()
        .filter_map(|row| {
            let MapValue::Int(n) = map_value(map, &table, row as usize, &series, r) else { return None };
            Some((key_frames(table.key(row as usize)), u64::try_from(n).ok()?))
        })
        .collect()
}

fn bucket_count(kind: &ValueKind) -> usize {
    match kind {
        ValueKind::Lhist { min, max, step } => ((max - min) / (*step).max(1)) as usize + 2,
        ValueKind::Hist { k } => ((64 - usize::from(*k)) << k) + 1,
        _ => 0,
    }
}

/// The key's part of a line: `[1, str]`, or nothing for a map without keys.
fn key_text(map: &UserMap, key: &[u8], r: &Resolver<'_>) -> String {
    match &map.key {
        None => String::new(),
        Some(Type::Tuple(items)) => {
            let parts: Vec<String> = items
                .iter()
                .zip(field_offsets(items))
                .map(|(t, off)| key_part(t, slice(key, off, size_of(t)), r))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Some(t) => format!("[{}]", key_part(t, key, r)),
    }
}

/// The key's part of a line, as `key_text` makes it.
fn write_key(out: &mut impl Write, map: &UserMap, key: &[u8], r: &Resolver<'_>) -> io::Result<()> {
    match &map.key {
        // The usual key, written without making its text first.
        Some(t @ Type::Int { .. }) => {
            out.write_all(b"[")?;
            write_int(out, int_value(t, key))?;
            out.write_all(b"]")
        }
        _ => out.write_all(key_text(map, key, r).as_bytes()),
    }
}

/// One key value; stacks in keys are indented less than elsewhere.
fn key_part(t: &Type, bytes: &[u8], r: &Resolver<'_>) -> String {
    match t {
        Type::Ustack | Type::Kstack => r.stack_text(read_u64(bytes), 4),
        _ => to_text(t, bytes, r),
    }
}

/// Orders keys as bpftrace's sort_by_key does: numbers numerically,
/// strings bytewise, tuples element by element.
fn compare_keys(t: Option<&Type>, a: &[u8], b: &[u8]) -> Ordering {
    match t {
        None => Ordering::Equal,
        Some(Type::Str(_)) => c_string(a).cmp(c_string(b)),
        Some(Type::Tuple(items)) => {
            for (it, off) in items.iter().zip(field_offsets(items)) {
                let o = compare_keys(Some(it), slice(a, off, size_of(it)), slice(b, off, size_of(it)));
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        }
        Some(t) if t.is_int() => int_value(t, a).cmp(&int_value(t, b)),
        Some(_) => a.cmp(b),
    }
}

fn average(count: i64, total: i64) -> i64 {
    if count == 0 { 0 } else { total / count }
}

/// A time series map as 0.26 prints it: keys in the order of their bytes
/// (top and div do not apply), each series followed by an empty line.
fn write_tseries_text(out: &mut dyn Write, map: &UserMap, table: &Table, r: &Resolver<'_>) -> io::Result<()> {
    if table.rows == 0 {
        return out.write_all(b"\n");
    }
    let series = series_rows(map, table);
    for row in key_order(map, table) {
        let row = row as usize;
        let rows = series.get(row).map_or(&[][..], Vec::as_slice);
        write!(out, "@{}{}:\n{}\n", map.name, key_text(map, table.key(row), r), super::tseries::graph(rows))?;
    }
    Ok(())
}

/// What kind of message a map's JSON is, and whether its averages are
/// `stats` records.
fn json_kind(kind: &ValueKind) -> (&'static str, bool) {
    match kind {
        ValueKind::Stats => ("stats", true),
        ValueKind::Avg => ("stats", false),
        ValueKind::Hist { .. } | ValueKind::Lhist { .. } => ("hist", false),
        ValueKind::Tseries { .. } => ("tseries", false),
        _ => ("map", false),
    }
}

/// A value as JSON shows it after `print(@map, top, div)`: numbers,
/// averages (not stats) and hist counts divided, bools as bools.
fn json_value(kind: &ValueKind, value: MapValue, div: u64, stats: bool) -> MapValue {
    let mut value = value;
    if div > 1 {
        match &mut value {
            MapValue::Int(n) => *n /= i128::from(div),
            MapValue::Average { count, total } if !stats => {
                (*count, *total) = (1, average(*count, *total) / div as i64);
            }
            MapValue::Histogram(buckets) if matches!(kind, ValueKind::Hist { .. }) => {
                buckets.iter_mut().for_each(|b| b.count /= div);
            }
            _ => {}
        }
    }
    match (kind, value) {
        (ValueKind::Plain(Type::Bool), MapValue::Int(n)) => MapValue::Value(Value::Bool(n != 0)),
        (_, value) => value,
    }
}

/// `print(@map, top, div)` and the exit-time listing in JSON (0.26's
/// message for the map, in the order text mode prints it), written to
/// `out` entry by entry; nothing for an empty map.
pub fn write_map_json(
    out: &mut dyn Write,
    map: &UserMap,
    handle: &Source<'_>,
    top: u64,
    div: u64,
    r: &Resolver<'_>,
) -> io::Result<()> {
    let div = div.max(1);
    let mut table = read(map, handle);
    let order = print_order(map, &mut table);
    let series = series_rows(map, &table);
    let (kind, stats) = json_kind(&map.value);
    let shown = top_rows(&order, top);
    let entry = |i: usize| {
        let row = shown[i] as usize;
        let value = map_value(map, &table, row, &series, r);
        (decode_key(map, table.key(row), r), json_value(&map.value, value, div, stats))
    };
    let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, out);
    super::json::write_map_message(&mut out, &map.name, kind, stats, shown.len(), &entry)?;
    out.flush()
}

/// The same as one buffer.
pub fn map_json(map: &UserMap, handle: &Source<'_>, top: u64, div: u64, r: &Resolver<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec fails only where memory runs out, which aborts.
    let _ = write_map_json(&mut out, map, handle, top, div, r);
    out
}

/// The text `print(@map, top, div)` and the exit-time listing print,
/// written to `out` line by line.
pub fn write_map_text(
    out: &mut dyn Write,
    map: &UserMap,
    handle: &Source<'_>,
    top: u64,
    div: u64,
    r: &Resolver<'_>,
) -> io::Result<()> {
    let div = div.max(1);
    let mut table = read(map, handle);
    let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, out);
    if matches!(map.value, ValueKind::Tseries { .. }) {
        write_tseries_text(&mut out, map, &table, r)?;
        return out.flush();
    }
    let order = print_order(map, &mut table);
    let shown = top_rows(&order, top);
    if shown.is_empty() {
        out.write_all(b"\n")?;
    }
    let name = format!("@{}", map.name);
    for &row in shown {
        write_line(&mut out, &name, map, &table, row as usize, div, r)?;
    }
    out.flush()
}

/// The same as one string.
pub fn map_text(map: &UserMap, handle: &Source<'_>, top: u64, div: u64, r: &Resolver<'_>) -> String {
    let mut out = Vec::new();
    // Writing to a Vec fails only where memory runs out, which aborts.
    let _ = write_map_text(&mut out, map, handle, top, div, r);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// One entry's line (a hist's chart and the empty line after it);
/// `name` is the map's, with its `@`.
fn write_line(
    out: &mut impl Write,
    name: &str,
    map: &UserMap,
    table: &Table,
    row: usize,
    div: u64,
    r: &Resolver<'_>,
) -> io::Result<()> {
    out.write_all(name.as_bytes())?;
    write_key(out, map, table.key(row), r)?;
    match &table.values {
        Column::Numbers(v) => {
            out.write_all(b": ")?;
            write_int(out, if div == 1 { v[row] } else { v[row] / i128::from(div) })?;
            out.write_all(b"\n")
        }
        Column::Bytes { .. } => {
            let unknown = Type::Unknown;
            let t = match &map.value {
                ValueKind::Plain(t) => t,
                _ => &unknown,
            };
            writeln!(out, ": {}", to_text(t, table.bytes(row), r))
        }
        Column::Averages(v) => {
            let (count, total) = v[row];
            match map.value {
                // bpftrace 0.26 prints stats as a record.
                ValueKind::Stats => {
                    writeln!(out, ": {{ .count = {count}, .average = {}, .total = {total} }}", average(count, total))
                }
                _ => writeln!(out, ": {}", average(count, total) / div as i64),
            }
        }
        Column::Series(_) => writeln!(out, ":"),
        Column::Buckets(b) => {
            // lhist counts are never divided, as in bpftrace.
            let div = if matches!(map.value, ValueKind::Hist { .. }) { div } else { 1 };
            writeln!(out, ":\n{}", bar_rows(&buckets(&map.value, &b[row]), div))
        }
    }
}

/// An integer in decimal, made without the formatting machinery, which
/// costs more than the rest of a line for a listing of a million lines.
fn write_int(out: &mut impl Write, n: i128) -> io::Result<()> {
    let Ok(mut magnitude) = u64::try_from(n.unsigned_abs()) else { return write!(out, "{n}") };
    let mut digits = [0u8; 21];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    out.write_all(&digits[at..])
}

/// Where hist bucket `index` ends (exclusive), as a number and as bpftrace
/// writes it. The first `2 << k` buckets hold one value each (`index - 1`);
/// after them, each power of two `2^p` is split into `2^k` parts and the
/// label takes a K/M/G/... suffix for each factor of 2^10.
fn hist_bound(index: usize, k: u8) -> (u64, String) {
    let n = 1u64 << k;
    if index as u64 <= n << 1 {
        return (index as u64, index.to_string());
    }
    let part = index as u64 & (n - 1);
    let power = (index as u32 >> k) - 1;
    let value = (1u64 << power).saturating_mul(n + part);
    let decade = power / 10;
    let suffix = ["", "K", "M", "G", "T", "P", "E"].get(decade as usize).copied().unwrap_or("");
    (value, format!("{}{suffix}", (1u64 << (power - 10 * decade)) * (n + part)))
}

fn lhist_label(n: i64) -> String {
    if n == 0 {
        "0".into()
    } else if n % 1_048_576 == 0 {
        format!("{}M", n / 1_048_576)
    } else if n % 1024 == 0 {
        format!("{}K", n / 1024)
    } else {
        n.to_string()
    }
}

fn bar_row(label: &str, count: u64, shown: u64, max: u64) -> String {
    let width = if max == 0 { 0 } else { (count as f32 / max as f32 * 52.0) as usize };
    format!("{label:<16}{shown:>8} |{:<52}|\n", "@".repeat(width))
}

/// The span of buckets from the first non-empty one to the last.
fn filled(values: &[u64]) -> std::ops::RangeInclusive<usize> {
    match values.iter().position(|&v| v > 0) {
        Some(first) => first..=values.iter().rposition(|&v| v > 0).unwrap_or(first),
        #[allow(clippy::reversed_empty_ranges)]
        None => 1..=0,
    }
}

fn hist_buckets(values: &[u64], k: u8) -> Vec<Bucket> {
    filled(values)
        .map(|i| {
            if i == 0 {
                return Bucket { label: "(..., 0)".to_string(), low: i64::MIN, high: Some(0), count: values[i] };
            }
            // Bucket i holds [end of i-1, end of i); bucket 1 starts at 0.
            let (low, low_text) = if i == 1 { (0, "0".to_string()) } else { hist_bound(i - 1, k) };
            let (high, high_text) = hist_bound(i, k);
            let label = if high == low + 1 { format!("[{low_text}]") } else { format!("[{low_text}, {high_text})") };
            Bucket {
                label,
                low: i64::try_from(low).unwrap_or(i64::MAX),
                high: Some(i64::try_from(high).unwrap_or(i64::MAX)),
                count: values[i],
            }
        })
        .collect()
}

fn lhist_buckets(values: &[u64], min: i64, max: i64, step: i64) -> Vec<Bucket> {
    let buckets = ((max - min) / step.max(1)) as usize;
    filled(values)
        .map(|i| {
            let low = (i as i64 - 1) * step + min;
            let (label, low, high) = if i == 0 {
                (format!("(..., {})", lhist_label(min)), i64::MIN, Some(min))
            } else if i == buckets + 1 {
                (format!("[{}, ...)", lhist_label(max)), max, None)
            } else {
                let high = i as i64 * step + min;
                (format!("[{}, {})", lhist_label(low), lhist_label(high)), low, Some(high))
            };
            Bucket { label, low, high, count: values[i] }
        })
        .collect()
}

/// The labelled buckets of a hist or lhist map's entry.
fn buckets(kind: &ValueKind, values: &[u64]) -> Vec<Bucket> {
    match *kind {
        ValueKind::Lhist { min, max, step } => lhist_buckets(values, min, max, step),
        ValueKind::Hist { k } => hist_buckets(values, k),
        _ => Vec::new(),
    }
}

/// The bar chart: counts shown divided by `div`, bars scaled to the
/// largest count.
fn bar_rows(buckets: &[Bucket], div: u64) -> String {
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0);
    buckets.iter().map(|b| bar_row(&b.label, b.count, b.count / div.max(1), max)).collect()
}

/// Deletes every entry (`clear()`), or sets every value to zero (`zero()`).
pub fn clear(map: &UserMap, src: &Source<'_>, zero: bool) {
    if let Some(user) = &src.user {
        if zero { user.zero() } else { user.clear() }
    }
    let handle = src.kernel;
    let keys: Vec<Vec<u8>> = handle.keys().collect();
    let value_size = handle.value_size() as usize;
    let ncpus = if map.value.is_per_cpu() { libbpf_rs::num_possible_cpus().unwrap_or(1) } else { 1 };
    for key in keys {
        if zero {
            if map.value.is_per_cpu() {
                let _ = handle.update_percpu(&key, &vec![vec![0u8; value_size]; ncpus], MapFlags::EXIST);
            } else {
                let _ = handle.update(&key, &vec![0u8; value_size], MapFlags::EXIST);
            }
        } else {
            let _ = handle.delete(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as bpftrace 0.17 printed them for hist(-1), hist(0), hist(1),
    /// hist(5), hist(1500) on this machine.
    #[test]
    fn hist_rows_match_bpftrace() {
        let mut v = vec![0u64; 65];
        v[0] = 1;
        v[1] = 1;
        v[2] = 1;
        v[4] = 1;
        v[12] = 1;
        let rows = bar_rows(&hist_buckets(&v, 0), 1);
        let bar = "@".repeat(52);
        let empty = " ".repeat(52);
        let expected = format!(
            "(..., 0)               1 |{bar}|\n[0]                    1 |{bar}|\n[1]                    1 |{bar}|\n\
             [2, 4)                 0 |{empty}|\n[4, 8)                 1 |{bar}|\n[8, 16)                0 |{empty}|\n\
             [16, 32)               0 |{empty}|\n[32, 64)               0 |{empty}|\n[64, 128)              0 |{empty}|\n\
             [128, 256)             0 |{empty}|\n[256, 512)             0 |{empty}|\n[512, 1K)              0 |{empty}|\n\
             [1K, 2K)               1 |{bar}|\n"
        );
        assert_eq!(rows, expected);
    }

    /// lhist(5), lhist(-3), lhist(100) with lhist(v, 0, 10, 2), as bpftrace 0.17 printed them.
    #[test]
    fn lhist_rows_match_bpftrace() {
        let mut v = vec![0u64; 7];
        v[0] = 1;
        v[3] = 1;
        v[6] = 1;
        let bar = "@".repeat(52);
        let empty = " ".repeat(52);
        assert_eq!(
            bar_rows(&lhist_buckets(&v, 0, 10, 2), 1),
            format!(
                "(..., 0)               1 |{bar}|\n[0, 2)                 0 |{empty}|\n[2, 4)                 0 |{empty}|\n\
                 [4, 6)                 1 |{bar}|\n[6, 8)                 0 |{empty}|\n[8, 10)                0 |{empty}|\n\
                 [10, ...)              1 |{bar}|\n"
            )
        );
        assert_eq!(lhist_label(2048), "2K");
        assert_eq!(lhist_label(3 * 1_048_576), "3M");
        assert_eq!(hist_bound(22, 0), (1 << 21, "2M".to_string()));
    }

    /// bpftrace's worked example: with k = 2, index 27 ends at 224.
    #[test]
    fn hist_sub_buckets() {
        assert_eq!(hist_bound(27, 2), (224, "224".to_string()));
        // hist(v, 1) of 0..=9, one each: buckets as bpftrace's log2 numbers them.
        let mut v = vec![0u64; bucket_count(&ValueKind::Hist { k: 1 })];
        for (i, n) in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2), (7, 2)] {
            v[i] = n;
        }
        let labels: Vec<String> = bar_rows(&hist_buckets(&v, 1), 1)
            .lines()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        assert_eq!(labels, ["[0]", "[1]", "[2]", "[3]", "[4,", "[6,", "[8,"]);
        assert!(bar_rows(&hist_buckets(&v, 1), 1).contains("[8, 12)                2 |"));
    }
}
