//! `-f json`: one JSON object per line, as bpftrace 0.26 writes them
//! (`{"type": "printf", "data": "..."}`), with its spacing: `": "` and
//! `", "` in objects, nothing between array elements. Written by
//! serde_json through a formatter that spaces as 0.26 does.

use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::data::{Bucket, MapValue, Value};

/// serde_json's compact writer, with 0.26's spaces in objects.
struct Spacing;

impl serde_json::ser::Formatter for Spacing {
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// One message: `{"type": KIND, "data": DATA}` and a newline.
pub fn message(kind: &str, data: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spacing);
    let mut m = match ser.serialize_map(Some(2)) {
        Ok(m) => m,
        Err(_) => return out,
    };
    let _ = m.serialize_entry("type", kind);
    let _ = m.serialize_entry("data", data);
    let _ = SerializeMap::end(m);
    out.push(b'\n');
    out
}

/// A message whose fields are its own (`attached_probes`, `errorf`, ...).
pub fn fields(entries: &[(&str, Field<'_>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spacing);
    if let Ok(mut m) = ser.serialize_map(Some(entries.len())) {
        for (k, v) in entries {
            let _ = m.serialize_entry(k, v);
        }
        let _ = SerializeMap::end(m);
    }
    out.push(b'\n');
    out
}

/// `{"type": "lost_events", "count": N, "data": {"events": N}}` as 0.26
/// writes it, with (bpfscope's addition) the probes they came from in
/// `data.probes` when known.
pub fn lost_events(count: u64, probes: &[(String, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spacing);
    if let Ok(mut m) = ser.serialize_map(Some(3)) {
        let _ = m.serialize_entry("type", "lost_events");
        let _ = m.serialize_entry("count", &count);
        let _ = m.serialize_entry("data", &LostData { count, probes });
        let _ = SerializeMap::end(m);
    }
    out.push(b'\n');
    out
}

/// `lost_events`' data, its keys in order.
struct LostData<'a> {
    count: u64,
    probes: &'a [(String, u64)],
}

impl Serialize for LostData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("events", &self.count)?;
        if !self.probes.is_empty() {
            m.serialize_entry("probes", &InOrder(self.probes))?;
        }
        m.end()
    }
}

/// Name-value pairs as a JSON object, in their order.
struct InOrder<'a>(&'a [(String, u64)]);

impl Serialize for InOrder<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A field of a message with its own fields.
pub enum Field<'a> {
    Str(&'a str),
    Int(i128),
    /// `{"name": n}`
    Object(&'a str, i128),
    /// `{"a": ..., "b": ...}`
    Map(&'a [(&'a str, Field<'a>)]),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Str(t) => s.serialize_str(t),
            Field::Int(n) => Number(*n).serialize(s),
            Field::Object(k, n) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(k, &Number(*n))?;
                m.end()
            }
            Field::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries.iter() {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

/// An integer: a JSON number where a double holds it exactly, else its
/// digits as a string, as 0.26 writes them (`"18446744073709551615"`).
pub struct Number(pub i128);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let exact = (n as f64) as i128 == n && (n as f64).is_finite();
        match (i64::try_from(n), u64::try_from(n)) {
            (Ok(v), _) if exact => s.serialize_i64(v),
            (_, Ok(v)) if exact => s.serialize_u64(v),
            _ => s.serialize_str(&n.to_string()),
        }
    }
}

/// A value as 0.26 writes it: numbers, strings, arrays for tuples and
/// arrays, objects for records.
pub struct Json<'a>(pub &'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Int(n) => Number(*n).serialize(s),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Str(t) | Value::Text(t) => s.serialize_str(t),
            Value::Bytes(b) => {
                let mut seq = s.serialize_seq(Some(b.len()))?;
                for byte in b {
                    seq.serialize_element(byte)?;
                }
                seq.end()
            }
            Value::Tuple(items) | Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(&Json(i))?;
                }
                seq.end()
            }
            Value::Record(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, &Json(v))?;
                }
                m.end()
            }
            Value::Stack(frames) => {
                let mut seq = s.serialize_seq(Some(frames.len()))?;
                for f in frames {
                    seq.serialize_element(f)?;
                }
                seq.end()
            }
        }
    }
}

/// A map key as 0.26 names it in JSON: its text, the parentheses of a
/// tuple dropped, every space removed (`"bpftrace,2"`).
pub fn key_name(key: &Value) -> String {
    let mut text = key_text(key);
    if text.starts_with('(') && text.ends_with(')') && text.len() >= 2 {
        text = text[1..text.len() - 1].to_string();
    }
    text.retain(|c| c != ' ');
    text
}

fn key_text(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Str(t) | Value::Text(t) => t.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Tuple(items) => format!("({})", items.iter().map(key_text).collect::<Vec<_>>().join(", ")),
        Value::Array(items) => format!("[{}]", items.iter().map(key_text).collect::<Vec<_>>().join(",")),
        Value::Record(fields) => format!(
            "{{ {} }}",
            fields.iter().map(|(k, v)| format!(".{k} = {}", key_text(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::Stack(frames) => frames.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>().join(","),
    }
}

/// A map entry's value, as 0.26 writes it (`stats` a record, `avg` its
/// average, histograms as buckets, time series as points).
pub struct Entry<'a> {
    pub value: &'a MapValue,
    /// `stats()` (a record) rather than `avg()` (the average).
    pub stats: bool,
}

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.value {
            MapValue::Int(n) => Number(*n).serialize(s),
            MapValue::Average { count, total } => {
                let average = if *count == 0 { 0 } else { total / count };
                if !self.stats {
                    return Number(i128::from(average)).serialize(s);
                }
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("count", &Number(i128::from(*count)))?;
                m.serialize_entry("average", &Number(i128::from(average)))?;
                m.serialize_entry("total", &Number(i128::from(*total)))?;
                m.end()
            }
            MapValue::Histogram(buckets) => {
                let mut seq = s.serialize_seq(Some(buckets.len()))?;
                for b in buckets {
                    seq.serialize_element(&BucketJson(b))?;
                }
                seq.end()
            }
            MapValue::TimeSeries(points) => {
                let present: Vec<_> = points.iter().filter_map(|(t, v)| v.map(|v| (*t, v))).collect();
                let mut seq = s.serialize_seq(Some(present.len()))?;
                for (t, v) in present {
                    seq.serialize_element(&Point(t, v))?;
                }
                seq.end()
            }
            MapValue::Value(v) => Json(v).serialize(s),
        }
    }
}

/// `{"min": A, "max": B, "count": C}`: bounds inclusive; a bucket open
/// below has no `min`, one open above no `max`.
struct BucketJson<'a>(&'a Bucket);

impl Serialize for BucketJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.0;
        let mut m = s.serialize_map(None)?;
        if b.low != i64::MIN {
            m.serialize_entry("min", &Number(i128::from(b.low)))?;
        }
        if let Some(high) = b.high {
            m.serialize_entry("max", &Number(i128::from(high) - 1))?;
        }
        m.serialize_entry("count", &b.count)?;
        m.end()
    }
}

/// A time series point: its interval's start (UTC, as 0.26 writes it) and
/// value.
struct Point(u64, i128);

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let secs = i64::try_from(self.0 / 1_000_000_000).unwrap_or(i64::MAX);
        let start = format!("{}.{:09}", utc(secs), self.0 % 1_000_000_000);
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("interval_start", &start)?;
        m.serialize_entry("value", &Number(self.1))?;
        m.end()
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
fn utc(secs: i64) -> String {
    let Ok(fmt) = std::ffi::CString::new("%Y-%m-%d %H:%M:%S") else { return String::new() };
    // SAFETY: gmtime_r/strftime get valid pointers; the buffer size is
    // passed along.
    unsafe {
        let t: libc::time_t = secs;
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&t, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// A whole map's message: `{"type": "map", "data": {"@name": ...}}` (`hist`,
/// `stats`, `tseries` by its values); nothing for an empty map.
pub fn map_message(name: &str, kind: &'static str, stats: bool, entries: &[(Option<Value>, MapValue)]) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec fails only where memory runs out, which aborts.
    let _ = write_map_message(&mut out, name, kind, stats, entries.len(), &|i| entries[i].clone());
    out
}

/// The same message written to `out` as it is made, from `n` entries that
/// `entry(i)` makes one at a time: a map of millions of entries is never
/// held whole as values or as text.
pub fn write_map_message(
    out: &mut dyn Write,
    name: &str,
    kind: &str,
    stats: bool,
    n: usize,
    entry: &dyn Fn(usize) -> (Option<Value>, MapValue),
) -> io::Result<()> {
    if n == 0 {
        return Ok(());
    }
    let name = format!("@{name}");
    let payload = MapPayload { name: &name, stats, n, entry };
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, Spacing);
    let mut m = ser.serialize_map(Some(2))?;
    m.serialize_entry("type", kind)?;
    m.serialize_entry("data", &payload)?;
    SerializeMap::end(m)?;
    out.write_all(b"\n")
}

/// `{"@name": VALUE}` for a map without keys, else `{"@name": {KEY: VALUE, ...}}`.
struct MapPayload<'a> {
    name: &'a str,
    stats: bool,
    n: usize,
    entry: &'a dyn Fn(usize) -> (Option<Value>, MapValue),
}

impl Serialize for MapPayload<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        if self.n == 1
            && let (None, v) = (self.entry)(0)
        {
            m.serialize_entry(self.name, &Entry { value: &v, stats: self.stats })?;
        } else {
            m.serialize_entry(self.name, &Keyed(self))?;
        }
        m.end()
    }
}

/// The entries of a map with keys, made one at a time as they are written.
struct Keyed<'a>(&'a MapPayload<'a>);

impl Serialize for Keyed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.n))?;
        for i in 0..self.0.n {
            let (k, v) = (self.0.entry)(i);
            let key = k.as_ref().map(key_name).unwrap_or_default();
            m.serialize_entry(&key, &Entry { value: &v, stats: self.0.stats })?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spacing and number forms of 0.26's own expected lines.
    #[test]
    fn lines_as_026_writes_them() {
        let v = Value::Tuple(vec![
            Value::Int(1),
            Value::Int(2),
            Value::Str("string".into()),
            Value::Tuple(vec![Value::Int(4), Value::Int(5)]),
        ]);
        let entries = [(None, MapValue::Value(v))];
        assert_eq!(
            String::from_utf8_lossy(&map_message("", "map", false, &entries)),
            "{\"type\": \"map\", \"data\": {\"@\": [1,2,\"string\",[4,5]]}}\n"
        );
        let rec = Value::Record(vec![("m".into(), Value::Int(2)), ("n".into(), Value::Int(3))]);
        assert_eq!(
            String::from_utf8_lossy(&message("value", &Json(&rec))),
            "{\"type\": \"value\", \"data\": {\"m\": 2, \"n\": 3}}\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&message("printf", &"test \r \n \t \\ \" bar")),
            "{\"type\": \"printf\", \"data\": \"test \\r \\n \\t \\\\ \\\" bar\"}\n"
        );
        let big = serde_json::to_string(&Number(i128::from(u64::MAX))).expect("serializes");
        assert_eq!(
            (big.as_str(), serde_json::to_string(&Number(-14)).expect("ok").as_str()),
            ("\"18446744073709551615\"", "-14")
        );
        assert_eq!(key_name(&Value::Tuple(vec![Value::Str("bpftrace".into()), Value::Int(2)])), "bpftrace,2");
        assert_eq!(
            String::from_utf8_lossy(&fields(&[
                ("type", Field::Str("attached_probes")),
                ("count", Field::Int(1)),
                ("data", Field::Object("probes", 1))
            ])),
            "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}}\n"
        );
    }
}
