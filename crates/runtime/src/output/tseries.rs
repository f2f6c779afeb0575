//! `tseries()` maps: each slot's per-CPU values reduced to one interval's
//! value, and the series drawn as bpftrace 0.26's text output draws it.

use std::collections::BTreeMap;

use bpfscope_compiler::TseriesAgg;

use super::value::read_u64;

/// The points of one key's series: interval number (epoch) to value.
pub type Points = BTreeMap<u64, i128>;

/// One slot's values on every CPU, as `{ value, meta, epoch }`: the latest
/// interval any CPU wrote and its value, combined over the CPUs that wrote
/// it. A slot no CPU wrote (all zero, as after `zero()`) is interval 0.
pub fn reduce<V: AsRef<[u8]>>(values: impl IntoIterator<Item = V>, agg: TseriesAgg, signed: bool) -> (u64, i128) {
    let number = |raw: u64| if signed { i128::from(raw as i64) } else { i128::from(raw) };
    let slots: Vec<(i128, u64, u64)> = values
        .into_iter()
        .map(|v| {
            let v = v.as_ref();
            (number(read_u64(v)), read_u64(v.get(8..).unwrap_or(&[])), read_u64(v.get(16..).unwrap_or(&[])))
        })
        .filter(|&(_, _, epoch)| epoch != 0)
        .collect();
    let Some(latest) = slots.iter().map(|s| s.2).max() else { return (0, 0) };
    let current = slots.into_iter().filter(|s| s.2 == latest);
    let value = match agg {
        // The value written last: the one with the latest time.
        TseriesAgg::Last => current.max_by_key(|s| s.1).map_or(0, |s| s.0),
        TseriesAgg::Sum => current.map(|s| s.0).sum(),
        TseriesAgg::Avg => {
            let (total, count) = current.fold((0i128, 0i128), |(t, c), s| (t + s.0, c + i128::from(s.1)));
            if count == 0 { 0 } else { total / count }
        }
        TseriesAgg::Min => current.map(|s| s.0).min().unwrap_or(0),
        TseriesAgg::Max => current.map(|s| s.0).max().unwrap_or(0),
    };
    (latest, value)
}

/// The rows of every key's series: the window is the `n` intervals up to
/// the latest any key has; each key's rows start at its first interval in
/// the window, and intervals without a value are `None`.
pub fn rows(series: &[Points], interval_ns: u64, n: u64) -> Vec<Vec<(u64, Option<i128>)>> {
    let last = series.iter().filter_map(|p| p.keys().next_back().copied()).max().unwrap_or(0);
    // As 0.26 computes it; a window that wraps (all intervals 0, after
    // zero()) holds nothing.
    let first = last.wrapping_sub(n).wrapping_add(1);
    series
        .iter()
        .map(|points| {
            if first > last {
                return Vec::new();
            }
            let start = points.range(first..).next().map_or(last, |(e, _)| *e);
            (start..=last).map(|e| (e.saturating_mul(interval_ns), points.get(&e).copied())).collect()
        })
        .collect()
}

const GRAPH_WIDTH: usize = 53;
const PADDING: usize = 21;

/// One series as 0.26 draws it: the value range on top and at the bottom,
/// a row per interval with its local start time, a `*` at the value and a
/// `.` at zero when the range spans it, `-` for an interval without value.
pub fn graph(rows: &[(u64, Option<i128>)]) -> String {
    if rows.is_empty() {
        return "<no data>\n".to_string();
    }
    let values = rows.iter().filter_map(|r| r.1);
    let (mut min, mut max) = match (values.clone().min(), values.max()) {
        (Some(a), Some(b)) => (a, b),
        _ => (0, 0),
    };
    if min == max {
        min -= 1;
        max += 1;
    }
    let span = rows.len().max(2) as u64 - 1;
    let interval = (rows[rows.len() - 1].0 - rows[0].0) / span;
    let (unit, digits): (&str, u32) = match interval {
        i if i >= 1_000_000_000 => ("", 0),
        i if i >= 1_000_000 => ("ms", 3),
        i if i >= 1_000 => ("μs", 6),
        _ => ("ns", 9),
    };
    let time_size = if digits == 0 { 8 } else { 9 + digits as usize };
    let time_fmt = if digits == 0 { "hh:mm:ss".to_string() } else { format!("hh:mm:ss.{unit}") };
    let range = format!("{min:<PADDING$}{max:>width$}\n", width = GRAPH_WIDTH - PADDING);
    let mut out = format!("{}{range}", " ".repeat(time_size + 1));
    // Padded by bytes, as 0.26's iostreams pad (`μ` takes two).
    out.push_str(&time_fmt);
    out.push_str(&" ".repeat((time_size + 1).saturating_sub(time_fmt.len())));
    out.push_str(&format!("|{}|\n", "_".repeat(GRAPH_WIDTH - 2)));
    let offset = |v: i128, width: usize| (width as f32 * (v - min) as f32 / (max - min) as f32) as i64;
    let zero = if min < 0 && max > 0 { offset(0, GRAPH_WIDTH) } else { 0 };
    for &(start_ns, value) in rows {
        let mut line = vec![b' '; GRAPH_WIDTH];
        line[0] = b'|';
        line[GRAPH_WIDTH - 1] = b'|';
        if zero > 0 {
            line[zero as usize] = b'.';
        }
        let tail = match value {
            Some(v) => {
                line[offset(v, GRAPH_WIDTH - 1).clamp(0, GRAPH_WIDTH as i64 - 1) as usize] = b'*';
                format!(" {v}")
            }
            None => " -".to_string(),
        };
        out.push_str(&start_time(start_ns, digits));
        out.push(' ');
        out.push_str(&String::from_utf8_lossy(&line));
        out.push_str(&tail);
        out.push('\n');
    }
    out.push_str(&format!("{} v{}v\n", " ".repeat(time_size), "_".repeat(GRAPH_WIDTH - 2)));
    out.push_str(&format!("{} {range}", " ".repeat(time_size)));
    out
}

/// An interval's start as local time, `HH:MM:SS` and the fraction the unit
/// needs.
fn start_time(ns: u64, digits: u32) -> String {
    let secs = i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX);
    let sub = ns % 1_000_000_000;
    let hms = super::format_time("%H:%M:%S", secs, 0);
    match digits {
        0 => hms,
        d => format!("{hms}.{:0width$}", sub / 10u64.pow(9 - d), width = d as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(value: i64, meta: u64, epoch: u64) -> Vec<u8> {
        [value.to_le_bytes(), meta.to_le_bytes(), epoch.to_le_bytes()].concat()
    }

    /// The CPUs' slots combine as 0.26 combines them: only the latest
    /// interval counts; a plain series takes the value written last.
    #[test]
    fn slots_reduce_to_the_latest_interval() {
        let cpus = [slot(5, 100, 7), slot(9, 200, 7), slot(1, 300, 6), slot(0, 0, 0)];
        assert_eq!(reduce(&cpus, TseriesAgg::Last, true), (7, 9));
        assert_eq!(reduce(&cpus, TseriesAgg::Sum, true), (7, 14));
        assert_eq!(reduce(&[slot(10, 2, 3), slot(5, 1, 3)], TseriesAgg::Avg, true), (3, 5));
        assert_eq!(reduce(&[slot(-4, 1, 3), slot(5, 1, 3)], TseriesAgg::Min, true), (3, -4));
        assert_eq!(reduce(&[slot(-4, 1, 3), slot(5, 1, 3)], TseriesAgg::Max, false), (3, i128::from(u64::MAX - 3)));
        assert_eq!(reduce(&[slot(0, 0, 0)], TseriesAgg::Sum, true), (0, 0));
    }

    /// The window ends at the latest interval of any key; a key's rows
    /// start at its first interval in it; zeroed maps have no rows.
    #[test]
    fn rows_cover_the_window() {
        let a: Points = [(10, 1), (12, 3), (2, 99)].into_iter().collect();
        let b: Points = [(14, 4)].into_iter().collect();
        let r = rows(&[a, b], 100, 5);
        assert_eq!(r[0], vec![(1000, Some(1)), (1100, None), (1200, Some(3)), (1300, None), (1400, None)]);
        assert_eq!(r[1], vec![(1400, Some(4))]);
        let zeroed: Points = [(0, 0)].into_iter().collect();
        assert_eq!(rows(&[zeroed], 100, 5), vec![Vec::<(u64, Option<i128>)>::new()]);
        assert_eq!(graph(&[]), "<no data>\n");
    }
}
