//! Reading maps from the kernel and printing them as bpftrace 0.17 does:
//! `@name[key]: value` lines sorted by value, `stats` and `avg` lines, and
//! the hist/lhist bar charts.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bpfscope_compiler::layout::{field_offsets, size_of};
use bpfscope_compiler::{UserMap, ValueKind};
use bpfscope_lang::check::Type;
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use super::value::{Resolver, c_string, int_value, read_u64, slice, to_text};
use crate::data::{Bucket, MapValue, Value};

/// One key's value, summed over CPUs where the map is per CPU.
enum Entry {
    Plain(Vec<u8>),
    /// count, sum, min, max, and plain integers.
    Number(i128),
    /// (count, total)
    Average(i64, i64),
    /// Bucket counts.
    Buckets(Vec<u64>),
    /// A time series: interval number to value.
    Series(super::tseries::Points),
}

/// Reads every entry of a user map, grouped by the user's key.
fn read(map: &UserMap, handle: &MapHandle) -> Vec<(Vec<u8>, Entry)> {
    let user_key_size = map.key.as_ref().map_or(8, size_of) as usize;
    let mut grouped: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    for key in handle.keys() {
        let values: Vec<Vec<u8>> = if map.value.is_per_cpu() {
            match handle.lookup_percpu(&key, MapFlags::ANY) {
                Ok(Some(v)) => v,
                _ => continue,
            }
        } else {
            match handle.lookup(&key, MapFlags::ANY) {
                Ok(Some(v)) => vec![v],
                _ => continue,
            }
        };
        let user_key = key[..user_key_size.min(key.len())].to_vec();
        match &map.value {
            ValueKind::Plain(t) if t.is_int() || *t == Type::Bool => {
                grouped.insert(user_key, Entry::Number(int_value(t, &values[0])));
            }
            ValueKind::Plain(_) => {
                grouped.insert(user_key, Entry::Plain(values[0].clone()));
            }
            ValueKind::Count | ValueKind::Sum => {
                let total: i64 = values.iter().map(|v| read_u64(v) as i64).fold(0, i64::wrapping_add);
                let n =
                    if matches!(map.value, ValueKind::Count) { i128::from(total as u64) } else { i128::from(total) };
                grouped.insert(user_key, Entry::Number(n));
            }
            ValueKind::Min | ValueKind::Max => {
                let set = values.iter().filter(|v| read_u64(&v[8..]) != 0).map(|v| read_u64(v) as i64);
                let v = if matches!(map.value, ValueKind::Min) { set.min() } else { set.max() };
                grouped.insert(user_key, Entry::Number(i128::from(v.unwrap_or(0))));
            }
            ValueKind::Avg | ValueKind::Stats => {
                let total: i64 = values.iter().map(|v| read_u64(v) as i64).fold(0, i64::wrapping_add);
                let count: i64 = values.iter().map(|v| read_u64(&v[8..]) as i64).sum();
                grouped.insert(user_key, Entry::Average(count, total));
            }
            ValueKind::Tseries { agg, signed, .. } => {
                let (epoch, value) = super::tseries::reduce(&values, *agg, *signed);
                let entry = grouped.entry(user_key).or_insert_with(|| Entry::Series(Default::default()));
                if let Entry::Series(points) = entry {
                    points.insert(epoch, value);
                }
            }
            ValueKind::Hist { .. } | ValueKind::Lhist { .. } => {
                let at = bpfscope_compiler::layout::bucket_offset(map.key.as_ref()) as usize;
                let bucket = read_u64(&key[at.min(key.len())..]) as usize;
                let count: u64 = values.iter().map(|v| read_u64(v)).sum();
                let entry =
                    grouped.entry(user_key).or_insert_with(|| Entry::Buckets(vec![0; bucket_count(&map.value)]));
                if let Entry::Buckets(b) = entry
                    && let Some(slot) = b.get_mut(bucket)
                {
                    *slot += count;
                }
            }
        }
    }
    grouped.into_iter().collect()
}

/// Every entry of a user map as Rust values, in key order (no key for a
/// map without keys).
pub fn entries(map: &UserMap, handle: &MapHandle, r: &Resolver<'_>) -> Vec<(Option<Value>, MapValue)> {
    let mut raw = read(map, handle);
    if let ValueKind::Tseries { interval_ns, num_intervals, .. } = map.value {
        let points: Vec<_> = raw.iter().map(|(_, e)| series_of(e)).collect();
        let rows = super::tseries::rows(&points, interval_ns, num_intervals);
        return raw
            .into_iter()
            .zip(rows)
            .map(|((key, _), rows)| (map.key.as_ref().map(|t| Value::decode(t, &key, r)), MapValue::TimeSeries(rows)))
            .collect();
    }
    raw.sort_by(|a, b| compare_keys(map.key.as_ref(), &a.0, &b.0));
    raw.into_iter()
        .map(|(key, entry)| {
            let value = match entry {
                Entry::Number(n) => MapValue::Int(n),
                Entry::Average(count, total) => MapValue::Average { count, total },
                Entry::Buckets(b) => MapValue::Histogram(buckets(&map.value, &b)),
                Entry::Series(_) => MapValue::TimeSeries(Vec::new()),
                Entry::Plain(bytes) => match &map.value {
                    ValueKind::Plain(t) => MapValue::Value(Value::decode(t, &bytes, r)),
                    _ => MapValue::Value(Value::Bytes(bytes)),
                },
            };
            (map.key.as_ref().map(|t| Value::decode(t, &key, r)), value)
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

fn series_of(e: &Entry) -> super::tseries::Points {
    match e {
        Entry::Series(p) => p.clone(),
        _ => Default::default(),
    }
}

/// A time series map as 0.26 prints it: keys in the order of their bytes
/// (top and div do not apply), each series followed by an empty line.
fn tseries_text(map: &UserMap, entries: &[(Vec<u8>, Entry)], interval_ns: u64, n: u64, r: &Resolver<'_>) -> String {
    if entries.is_empty() {
        return "\n".to_string();
    }
    let points: Vec<_> = entries.iter().map(|(_, e)| series_of(e)).collect();
    let rows = super::tseries::rows(&points, interval_ns, n);
    entries
        .iter()
        .zip(rows)
        .map(|((key, _), rows)| format!("@{}{}:\n{}\n", map.name, key_text(map, key, r), super::tseries::graph(&rows)))
        .collect()
}

/// `print(@map, top, div)` and the exit-time listing in JSON (0.26's
/// message for the map, in the order text mode prints it); nothing for an
/// empty map.
pub fn map_json(map: &UserMap, handle: &MapHandle, top: u64, div: u64, r: &Resolver<'_>) -> Vec<u8> {
    let div = div.max(1);
    let mut all = entries(map, handle, r);
    let (kind, stats) = match map.value {
        ValueKind::Stats => ("stats", true),
        ValueKind::Avg => ("stats", false),
        ValueKind::Hist { .. } | ValueKind::Lhist { .. } => ("hist", false),
        ValueKind::Tseries { .. } => ("tseries", false),
        _ => ("map", false),
    };
    if !matches!(map.value, ValueKind::Tseries { .. } | ValueKind::Plain(_))
        || matches!(&map.value, ValueKind::Plain(t) if t.is_int() || *t == Type::Bool)
    {
        all.sort_by_key(|(_, v)| v.sort_key());
    }
    if top > 0 && all.len() as u64 > top {
        all.drain(..all.len() - top as usize);
    }
    if div > 1 {
        for (_, v) in &mut all {
            match v {
                MapValue::Int(n) => *n /= i128::from(div),
                MapValue::Average { count, total } if !stats => {
                    let average = if *count == 0 { 0 } else { *total / *count };
                    (*count, *total) = (1, average / div as i64);
                }
                MapValue::Histogram(buckets) if matches!(map.value, ValueKind::Hist { .. }) => {
                    buckets.iter_mut().for_each(|b| b.count /= div);
                }
                _ => {}
            }
        }
    }
    if matches!(&map.value, ValueKind::Plain(Type::Bool)) {
        for (_, v) in &mut all {
            if let MapValue::Int(n) = v {
                *v = MapValue::Value(Value::Bool(*n != 0));
            }
        }
    }
    super::json::map_message(&map.name, kind, stats, &all)
}

/// The text `print(@map, top, div)` and the exit-time listing print.
pub fn map_text(map: &UserMap, handle: &MapHandle, top: u64, div: u64, r: &Resolver<'_>) -> String {
    let div = div.max(1);
    let mut entries = read(map, handle);
    if let ValueKind::Tseries { interval_ns, num_intervals, .. } = map.value {
        return tseries_text(map, &entries, interval_ns, num_intervals, r);
    }
    // Ties keep key order, so output is deterministic.
    entries.sort_by(|a, b| compare_keys(map.key.as_ref(), &a.0, &b.0));
    let sort_value = |e: &Entry| -> i128 {
        match e {
            Entry::Number(n) => *n,
            Entry::Average(c, t) => i128::from(average(*c, *t)),
            Entry::Buckets(b) => b.iter().map(|&x| i128::from(x)).sum(),
            Entry::Plain(_) | Entry::Series(_) => 0,
        }
    };
    if !matches!(map.value, ValueKind::Plain(ref t) if !t.is_int() && *t != Type::Bool) {
        entries.sort_by_key(|e| sort_value(&e.1));
    }
    if top > 0 && entries.len() as u64 > top {
        entries.drain(..entries.len() - top as usize);
    }
    let name = format!("@{}", map.name);
    let lines: Vec<String> = entries
        .iter()
        .map(|(key, entry)| {
            let k = format!("{name}{}", key_text(map, key, r));
            match entry {
                Entry::Number(n) => format!("{k}: {}", n / i128::from(div)),
                Entry::Plain(v) => {
                    let t = match &map.value {
                        ValueKind::Plain(t) => t.clone(),
                        _ => Type::Unknown,
                    };
                    format!("{k}: {}", to_text(&t, v, r))
                }
                Entry::Average(count, total) => match map.value {
                    // bpftrace 0.26 prints stats as a record.
                    ValueKind::Stats => {
                        format!("{k}: {{ .count = {count}, .average = {}, .total = {total} }}", average(*count, *total))
                    }
                    _ => format!("{k}: {}", average(*count, *total) / div as i64),
                },
                Entry::Series(_) => format!("{k}:"),
                Entry::Buckets(b) => {
                    // lhist counts are never divided, as in bpftrace.
                    let div = if matches!(map.value, ValueKind::Hist { .. }) { div } else { 1 };
                    format!("{k}:\n{}", bar_rows(&buckets(&map.value, b), div))
                }
            }
        })
        .collect();
    format!("{}\n", lines.join("\n"))
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
pub fn clear(map: &UserMap, handle: &MapHandle, zero: bool) {
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
