//! `--bench`'s results, as bpftrace 0.26 prints them: a table in text
//! (one row as each benchmark ends), a `benchmark_result` message each in
//! JSON.

use std::time::Duration;

use super::json::{Field, fields};

/// One `bench:NAME` probe's timing: the kernel's average time of a run,
/// over `iterations` runs in one test run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchResult {
    pub name: String,
    pub average: Duration,
    pub iterations: u64,
}

/// The text of result `index` of the benchmarks `names`: the header
/// before the first, then its row. The name column is as wide as the
/// longest name, and at least 40.
pub fn text_row(names: &[String], index: usize, r: &BenchResult) -> String {
    const BENCHMARK: &str = "Benchmark";
    const TIME: &str = "Time(ns)";
    const ITERATIONS: &str = "Iterations";
    const TIME_WIDTH: usize = 15;
    let name_width = names.iter().map(String::len).fold(40, usize::max) + 1;
    let mut out = String::new();
    if index == 0 {
        out.push_str(&format!("{BENCHMARK:<name_width$}{TIME:<TIME_WIDTH$}{ITERATIONS}\n"));
        out.push_str(&"-".repeat(name_width + TIME_WIDTH + ITERATIONS.len()));
        out.push('\n');
    }
    let average = r.average.as_nanos().to_string();
    out.push_str(&format!("{:<name_width$}{average:<TIME_WIDTH$}{}\n", r.name, r.iterations));
    out
}

/// `{"type": "benchmark_result", "data": {"NAME": {"average": N, "iters": N}}}`
pub fn json_line(r: &BenchResult) -> Vec<u8> {
    let timing =
        [("average", Field::Int(r.average.as_nanos() as i128)), ("iters", Field::Int(i128::from(r.iterations)))];
    let data = [(r.name.as_str(), Field::Map(&timing))];
    fields(&[("type", Field::Str("benchmark_result")), ("data", Field::Map(&data))])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, ns: u64, iterations: u64) -> BenchResult {
        BenchResult { name: name.into(), average: Duration::from_nanos(ns), iterations }
    }

    /// The layout of bpftrace 0.26's `TextOutput::benchmark_result`.
    #[test]
    fn text_is_a_table_with_a_header() {
        let names = vec!["a".to_string(), "b".to_string()];
        let first = text_row(&names, 0, &result("a", 35, 32000));
        assert_eq!(
            first,
            format!(
                "{:<41}{:<15}Iterations\n{}\n{:<41}{:<15}32000\n",
                "Benchmark",
                "Time(ns)",
                "-".repeat(66),
                "a",
                "35"
            )
        );
        assert_eq!(text_row(&names, 1, &result("b", 7, 2000)), format!("{:<41}{:<15}2000\n", "b", "7"));
    }

    #[test]
    fn json_is_a_benchmark_result_message() {
        assert_eq!(
            String::from_utf8_lossy(&json_line(&result("a", 35, 32000))),
            "{\"type\": \"benchmark_result\", \"data\": {\"a\": {\"average\": 35, \"iters\": 32000}}}\n"
        );
    }
}
