//! Maps of 100,000 entries, printed at exit and by `print()`: every line
//! there, in bpftrace's order (by value, ties by key), every value right.
//! The expected listings are worked out here from the same formulas the
//! programs use.

mod support;

use std::time::Duration;

use support::wait_with_timeout;

const ENTRIES: i64 = 100_000;

/// Runs `bpfscope -q ARGS -e PROGRAM` and gives its stdout, after checking
/// that it ran cleanly; `None` (with the reason printed) where loading BPF
/// programs is not allowed.
fn stdout_of(args: &[&str], program: &str) -> Option<String> {
    if !support::tracing_allowed() {
        return None;
    }
    let mut child = support::bpfscope()
        .arg("-q")
        .args(args)
        .arg("-e")
        .arg(program)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    // Megabytes of output: read as it comes, or the run blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).map(|_| text)
    });
    let o = wait_with_timeout(child, Duration::from_secs(120), program);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "stderr of {program}");
    assert_eq!(o.status.code(), Some(0), "exit code of {program}");
    let text = reader.join().expect("the reader ends").expect("reads stdout");
    Some(String::from_utf8(text).expect("UTF-8 output"))
}

/// `(key, value)` pairs in the order bpftrace prints a map: by value,
/// ties by key.
fn sorted(mut entries: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    entries.sort_by_key(|&(k, v)| (v, k));
    entries
}

/// The text listing: `@[key]: value` lines.
fn text_listing(entries: &[(i64, i64)]) -> String {
    entries.iter().map(|(k, v)| format!("@[{k}]: {v}\n")).collect()
}

/// The JSON message: `{"type": "map", "data": {"@": {"key": value, ...}}}`.
fn json_listing(entries: &[(i64, i64)]) -> String {
    let items: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    format!("{{\"type\": \"map\", \"data\": {{\"@\": {{{}}}}}}}\n", items.join(", "))
}

/// `@[$i] = ($i * 7919) % 1000 - 500` for 100,000 keys: values repeat, so
/// the order of ties (by key) is checked as well as the order by value.
const PLAIN: &str = "config = { max_map_keys = 100000 } BEGIN { $i = 0; while ($i < 100000) { @[$i] = ($i * 7919) % 1000 \
                     - 500; $i++; } print(@); exit(); }";

fn plain_entries() -> Vec<(i64, i64)> {
    sorted((0..ENTRIES).map(|i| (i, (i * 7919) % 1000 - 500)).collect())
}

/// `count()` (a per-CPU map) of 100,000 keys, every third one counted
/// twice, all in one run of BEGIN: every insert is kept (maps are
/// preallocated; allocated on use, most of them were lost, silently).
const COUNTS: &str = "config = { max_map_keys = 100000 } BEGIN { $i = 0; while ($i < 100000) { @[$i] = count(); \
                      if ($i % 3 == 0) { @[$i] = count(); } $i++; } exit(); }";

fn count_entries() -> Vec<(i64, i64)> {
    sorted((0..ENTRIES).map(|i| (i, if i % 3 == 0 { 2 } else { 1 })).collect())
}

/// A big map is printed whole and in order by `print()` (as events, in
/// parts) and again at exit.
#[test]
fn big_map_prints_sorted_in_text() {
    let Some(out) = stdout_of(&[], PLAIN) else { return };
    let listing = text_listing(&plain_entries());
    assert_eq!(listing.lines().next(), Some("@[0]: -500"), "the smallest value, of the smallest key with it");
    let expected = format!("{listing}\n\n{listing}");
    // The first difference, not 4 MB of text, where they differ.
    let at = out.lines().zip(expected.lines()).position(|(a, b)| a != b);
    assert_eq!(at, None, "line {} differs", at.unwrap_or(0) + 1);
    assert!(out == expected, "{} bytes printed, {} expected", out.len(), expected.len());
}

#[test]
fn big_map_prints_sorted_in_json() {
    let Some(out) = stdout_of(&["-f", "json"], PLAIN) else { return };
    let message = json_listing(&plain_entries());
    assert!(out == format!("{message}{message}"), "{} bytes printed, {} expected", out.len(), 2 * message.len());
}

#[test]
fn big_count_map_prints_sorted_in_text() {
    let Some(out) = stdout_of(&[], COUNTS) else { return };
    let expected = format!("\n\n{}", text_listing(&count_entries()));
    let at = out.lines().zip(expected.lines()).position(|(a, b)| a != b);
    assert_eq!(at, None, "line {} differs", at.unwrap_or(0) + 1);
    assert!(out == expected, "{} bytes printed, {} expected", out.len(), expected.len());
}

#[test]
fn big_count_map_prints_sorted_in_json() {
    let Some(out) = stdout_of(&["-f", "json"], COUNTS) else { return };
    let expected = json_listing(&count_entries());
    assert!(out == expected, "{} bytes printed, {} expected", out.len(), expected.len());
}
