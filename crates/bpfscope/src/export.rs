//! `--export ADDR`: the program (or every `*.bt` program of a directory)
//! runs until it is stopped while its maps are served at
//! `http://ADDR/metrics` in the OpenMetrics text format (what Prometheus
//! scrapes), read from the kernel at each scrape.
//!
//! A map becomes a family named `bpfscope_<map>` (`@` alone:
//! `bpfscope_map`; from a directory, `bpfscope_<file>_<map>`), its keys
//! labels named by a `// metrics: @map(label, ...)` comment in the
//! program, else `key0`, `key1`, ...: `count()` a
//! counter; `sum()`, `min()`, `max()`, `avg()` and assigned integers
//! gauges; `stats()` two gauges, `_count` and `_sum`; `hist()` and
//! `lhist()` histograms, each bucket's `le` the largest integer it holds
//! (the map keeps no sum of the values, so `_sum` is NaN, never a made-up
//! number). Maps of other values (strings, time series) are not exported.
//! A map's series beyond `max_series` are dropped, and
//! `bpfscope_dropped_series{map="..."}` says how many.

use std::collections::HashMap;
use std::time::Duration;

use bpfscope_compiler::ValueKind;
use bpfscope_lang::Source;
use bpfscope_runtime::{MapValue, Session, Value};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::error::Error;
use crate::pipeline::{self, Settings};

/// What `/metrics` answers with.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A program served: its session, the prefix of its families, and the
/// label names its `// metrics:` comments give.
pub struct Served {
    session: Session,
    prefix: String,
    labels: HashMap<String, Vec<String>>,
    /// Only these maps (a tool's results, not its bookkeeping); `None`:
    /// every map.
    only: Option<Vec<String>>,
    /// A label's value in words where a tool knows them (a system call's
    /// name for its number): map, key index, key part.
    words: Option<LabelWords>,
}

/// A label's value in words, where a tool knows them (a system call's
/// name for its number), given the map, the key part's index and value.
pub type LabelWords = fn(&str, usize, &Value) -> Option<String>;

/// A tool's session served: `maps` are the maps exported, each with its
/// key's label names.
pub fn tool(session: Session, name: &str, maps: &[(&str, &[&str])], words: Option<LabelWords>) -> Served {
    Served {
        session,
        prefix: format!("bpfscope_{}", clean(name)),
        labels: maps.iter().map(|(m, l)| (m.to_string(), l.iter().map(|s| s.to_string()).collect())).collect(),
        only: Some(maps.iter().map(|(m, _)| m.to_string()).collect()),
        words,
    }
}

/// Compiles, loads and starts a program for serving; `name` (a file's
/// stem, from a directory) goes into its families' names.
pub fn start(source: &Source, settings: &Settings, name: Option<&str>) -> Result<Served, Error> {
    let labels = label_names(source).map_err(Error::Usage)?;
    let session = pipeline::start(source, settings)?;
    for (map, names) in &labels {
        let Some(m) = session.map(map) else {
            return Err(Error::Usage(format!(
                "{}: // metrics: names labels of {map}, which the program does not have",
                source.name()
            )));
        };
        if names.len() != m.key_arity() {
            return Err(Error::Usage(format!(
                "{}: // metrics: names {} labels of {map}, whose keys have {}",
                source.name(),
                names.len(),
                m.key_arity()
            )));
        }
    }
    let prefix = match name {
        Some(n) => format!("bpfscope_{}", clean(n)),
        None => "bpfscope".to_string(),
    };
    Ok(Served { session, prefix, labels, only: None, words: None })
}

/// Runs the programs, serving their maps at `addr`, until they end
/// (`exit()` in one, Ctrl-C, SIGTERM); then prints each one's maps as a
/// run does. Returns the exit code a program asked for.
pub fn serve(
    server: tiny_http::Server,
    mut programs: Vec<Served>,
    addr: &str,
    quiet: bool,
    max_series: usize,
) -> Result<i32, Error> {
    bpfscope_runtime::signals::install();
    if !quiet {
        eprintln!("Serving the maps at http://{addr}/metrics");
    }
    let mut print = |e: bpfscope_runtime::EventRef<'_>| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(&e.text())?;
        out.flush()
    };
    'run: loop {
        for p in &mut programs {
            if !p.session.poll(Duration::ZERO, &mut print)? {
                break 'run;
            }
        }
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(request)) => answer(&programs, request, max_series),
            Ok(None) => {}
            Err(e) => return Err(Error::Usage(format!("--export {addr}: {e}"))),
        }
    }
    let mut code = 0;
    for p in &mut programs {
        let c = p.session.finish(&mut print)?;
        code = if code == 0 { c } else { code };
        let mut out = std::io::stdout().lock();
        p.session.print_all_maps(&mut out)?;
    }
    Ok(code)
}

/// The address, bound: one in use is refused before anything loads.
pub fn bind(addr: &str) -> Result<tiny_http::Server, Error> {
    tiny_http::Server::http(addr).map_err(|e| Error::Usage(format!("--export {addr}: {e}")))
}

/// Answers one request: `/metrics`, `/healthz`, else 404. A client that
/// went away is no error of the run's.
fn answer(programs: &[Served], request: tiny_http::Request, max_series: usize) {
    let (status, body, content_type) = match request.url() {
        "/metrics" => match metrics(programs, max_series) {
            Ok(text) => (200, text, CONTENT_TYPE),
            Err(e) => (500, format!("cannot encode the maps: {e}\n"), "text/plain"),
        },
        "/healthz" => (200, "ok\n".to_string(), "text/plain"),
        _ => (404, "bpfscope serves /metrics and /healthz\n".to_string(), "text/plain"),
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes());
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Ok(h) = header {
        response = response.with_header(h);
    }
    let _ = request.respond(response);
}

/// The maps, as they are now, in the OpenMetrics text format.
pub fn metrics(programs: &[Served], max_series: usize) -> Result<String, std::fmt::Error> {
    let mut registry = prometheus_client::registry::Registry::default();
    for p in programs {
        registry.register_collector(Box::new(Snapshot::read(p, max_series)));
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// The maps read at one scrape.
#[derive(Debug, Default)]
struct Snapshot {
    families: Vec<Family>,
    /// Series left out, by map.
    dropped: Vec<(String, u64)>,
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: MetricType,
    series: Vec<(Vec<(String, String)>, Sample)>,
}

#[derive(Debug)]
enum Sample {
    Counter(u64),
    Gauge(i64),
    Ratio(f64),
    /// Per-bucket counts with each bucket's inclusive upper bound
    /// (`f64::MAX` for +Inf).
    Histogram {
        count: u64,
        buckets: Vec<(f64, u64)>,
    },
}

impl Snapshot {
    fn read(program: &Served, max_series: usize) -> Snapshot {
        let session = &program.session;
        let mut snapshot = Snapshot::default();
        for map_name in session.map_names() {
            if program.only.as_ref().is_some_and(|only| !only.contains(&map_name)) {
                continue;
            }
            let Some(map) = session.map(&map_name) else { continue };
            let name = family_name(&program.prefix, &map_name);
            let label_names = program.labels.get(&map_name);
            let words = |i: usize, v: &Value| program.words.and_then(|w| w(&map_name, i, v));
            let (kind, help) = match map.value_kind() {
                ValueKind::Count => (MetricType::Counter, "count()"),
                ValueKind::Sum => (MetricType::Gauge, "sum()"),
                ValueKind::Min => (MetricType::Gauge, "min()"),
                ValueKind::Max => (MetricType::Gauge, "max()"),
                ValueKind::Avg => (MetricType::Gauge, "avg()"),
                ValueKind::Stats => (MetricType::Gauge, "stats()"),
                ValueKind::Hist { .. } => (MetricType::Histogram, "hist()"),
                ValueKind::Lhist { .. } => (MetricType::Histogram, "lhist()"),
                ValueKind::Plain(t) if t.is_integral() => (MetricType::Gauge, "an integer"),
                _ => continue,
            };
            let stats = matches!(map.value_kind(), ValueKind::Stats);
            let help = format!("{map_name}: {help}");
            let entries = map.entries();
            let dropped = entries.len().saturating_sub(max_series);
            if dropped > 0 {
                snapshot.dropped.push((map_name.clone(), dropped as u64));
            }
            let mut counts = Vec::new();
            let mut sums = Vec::new();
            let mut series = Vec::new();
            for (key, value) in entries.into_iter().take(max_series) {
                let labels = key.as_ref().map(|k| labels(k, label_names, &words)).unwrap_or_default();
                match (value, kind) {
                    (MapValue::Int(n), MetricType::Counter) => {
                        series.push((labels, Sample::Counter(u64::try_from(n).unwrap_or(0))));
                    }
                    (MapValue::Int(n), _) => series.push((labels, Sample::Gauge(saturate(n)))),
                    (MapValue::Average { count, total }, _) if stats => {
                        counts.push((labels.clone(), Sample::Gauge(count)));
                        sums.push((labels, Sample::Gauge(total)));
                    }
                    (MapValue::Average { count, total }, _) => {
                        let average = if count == 0 { 0.0 } else { total as f64 / count as f64 };
                        series.push((labels, Sample::Ratio(average)));
                    }
                    (MapValue::Histogram(buckets), _) => series.push((labels, histogram(&buckets))),
                    _ => {}
                }
            }
            if stats {
                let family = |suffix: &str, series| Family {
                    name: format!("{name}_{suffix}"),
                    help: format!("{map_name}: stats() {suffix}"),
                    kind: MetricType::Gauge,
                    series,
                };
                snapshot.families.push(family("count", counts));
                snapshot.families.push(family("sum", sums));
            } else {
                snapshot.families.push(Family { name, help, kind, series });
            }
        }
        snapshot
    }
}

impl prometheus_client::collector::Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            let mut metric = encoder.encode_descriptor(&f.name, &f.help, None, f.kind)?;
            for (labels, sample) in &f.series {
                let mut m = metric.encode_family(labels)?;
                match sample {
                    Sample::Counter(n) => m.encode_counter::<NoLabelSet, _, u64>(n, None)?,
                    Sample::Gauge(n) => m.encode_gauge(n)?,
                    Sample::Ratio(x) => m.encode_gauge(x)?,
                    Sample::Histogram { count, buckets } => {
                        m.encode_histogram::<NoLabelSet>(f64::NAN, *count, buckets, None)?;
                    }
                }
            }
        }
        if !self.dropped.is_empty() {
            let help = "series of a map left out, past --max-series";
            let mut metric = encoder.encode_descriptor("bpfscope_dropped_series", help, None, MetricType::Gauge)?;
            for (map, n) in &self.dropped {
                let labels = vec![("map".to_string(), map.clone())];
                let gauge = prometheus_client::metrics::gauge::ConstGauge::new(*n as i64);
                gauge.encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// `PREFIX_NAME`, with characters a metric name cannot have as `_`.
fn family_name(prefix: &str, map: &str) -> String {
    let bare = map.trim_start_matches('@');
    format!("{prefix}_{}", clean(if bare.is_empty() { "map" } else { bare }))
}

fn clean(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// A key as labels: named as the program's `// metrics:` comment says,
/// else `key0`, or `key0`, `key1`, ... for a tuple.
fn labels(
    key: &Value,
    names: Option<&Vec<String>>,
    words: &dyn Fn(usize, &Value) -> Option<String>,
) -> Vec<(String, String)> {
    let parts: Vec<&Value> = match key {
        Value::Tuple(items) => items.iter().collect(),
        other => vec![other],
    };
    let name = |i: usize| names.and_then(|n| n.get(i)).cloned().unwrap_or_else(|| format!("key{i}"));
    parts.into_iter().enumerate().map(|(i, v)| (name(i), words(i, v).unwrap_or_else(|| label_value(v)))).collect()
}

/// The label names `// metrics: @map(label, ...) @other(label)` comments
/// give, by map.
fn label_names(source: &Source) -> Result<HashMap<String, Vec<String>>, String> {
    let mut out = HashMap::new();
    for (n, line) in source.text().lines().enumerate() {
        let Some((_, spec)) = line.split_once("// metrics:") else { continue };
        let at = |what: &str| format!("{}:{}: // metrics: {what}", source.name(), n + 1);
        let mut rest = spec.trim();
        while !rest.is_empty() {
            let (map, after) = rest.split_once('(').ok_or_else(|| at("expected @map(label, ...)"))?;
            let (list, after) = after.split_once(')').ok_or_else(|| at("a ')' is missing"))?;
            let map = map.trim();
            if !map.starts_with('@') || !map[1..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                return Err(at(&format!("'{map}' is not a map name")));
            }
            let names: Vec<String> = list.split(',').map(|l| l.trim().to_string()).collect();
            for l in &names {
                let valid = l.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !l.starts_with("__");
                if !valid {
                    return Err(at(&format!("'{l}' is not a Prometheus label name")));
                }
            }
            out.insert(map.to_string(), names);
            rest = after.trim();
        }
    }
    Ok(out)
}

fn label_value(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) | Value::Text(s) => s.clone(),
        Value::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Value::Stack(frames) => frames.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>().join(","),
        Value::Tuple(items) | Value::Array(items) => items.iter().map(label_value).collect::<Vec<_>>().join(","),
        Value::Record(fields) => {
            fields.iter().map(|(k, v)| format!("{k}={}", label_value(v))).collect::<Vec<_>>().join(",")
        }
    }
}

fn saturate(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// A hist()/lhist() map value as per-bucket counts: each bucket's upper
/// bound is the largest integer it holds (`[4, 8)` holds up to 7), the
/// last one +Inf (added, empty, where the map's last bucket is bounded).
/// An empty bucket ending below the first one goes first: Prometheus
/// takes a bucket's lower bound from the one before it (0 for the first),
/// and interpolates quantiles inside it.
fn histogram(buckets: &[bpfscope_runtime::Bucket]) -> Sample {
    let below = buckets.first().filter(|b| b.low != i64::MIN).map(|b| (b.low.saturating_sub(1) as f64, 0));
    let mut out: Vec<(f64, u64)> = below
        .into_iter()
        .chain(buckets.iter().map(|b| (b.high.map_or(f64::MAX, |h| (h - 1) as f64), b.count)))
        .collect();
    if out.last().is_none_or(|(upper, _)| *upper != f64::MAX) {
        out.push((f64::MAX, 0));
    }
    Sample::Histogram { count: buckets.iter().map(|b| b.count).sum(), buckets: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert_eq!(family_name("bpfscope", "@calls"), "bpfscope_calls");
        assert_eq!(family_name("bpfscope_opens", "@"), "bpfscope_opens_map");
        let key = Value::Tuple(vec![Value::Str("sshd".into()), Value::Int(-3)]);
        let none = |_: usize, _: &Value| None;
        assert_eq!(
            labels(&key, None, &none),
            vec![("key0".to_string(), "sshd".to_string()), ("key1".to_string(), "-3".to_string())]
        );
        let names = vec!["comm".to_string(), "fd".to_string()];
        assert_eq!(labels(&key, Some(&names), &none)[1], ("fd".to_string(), "-3".to_string()));
    }

    #[test]
    fn metrics_comments_name_labels() {
        let src = Source::new("t.bt", "// metrics: @opens(comm) @lat(disk, op)\nBEGIN { }\n");
        let names = label_names(&src).expect("parses");
        assert_eq!(names["@opens"], ["comm"]);
        assert_eq!(names["@lat"], ["disk", "op"]);
        let bad = Source::new("t.bt", "BEGIN { }\n// metrics: @x(1st)\n");
        assert_eq!(label_names(&bad).expect_err("refused"), "t.bt:2: // metrics: '1st' is not a Prometheus label name");
    }

    #[test]
    fn hist_buckets_hold_integers_up_to_their_bound() {
        let b = |low, high, count| bpfscope_runtime::Bucket { label: String::new(), low, high, count };
        let Sample::Histogram { count, buckets } = histogram(&[b(4, Some(8), 3), b(8, Some(16), 5)]) else {
            panic!("a histogram")
        };
        assert_eq!(count, 8);
        assert_eq!(buckets, vec![(3.0, 0), (7.0, 3), (15.0, 5), (f64::MAX, 0)]);
    }
}
