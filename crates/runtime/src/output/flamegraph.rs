//! Flame graphs, drawn by inferno from folded stacks: `--flamegraph FILE`
//! for a program's maps keyed by stacks, `profile --svg FILE` for the tool.

use std::io::{self, BufWriter};
use std::path::Path;

use inferno::flamegraph::{self, Options, Palette, color::MultiPalette};

/// One folded stack: frames from the root down, and how often it was seen.
pub type Folded = (Vec<String>, u64);

/// Why no flame graph was drawn.
#[derive(Debug, thiserror::Error)]
pub enum FlameGraphError {
    #[error("no stacks were counted, so there is no flame graph to draw")]
    Empty,
    #[error("cannot write the flame graph {path}: {source}")]
    Write { path: String, source: io::Error },
}

/// Fails now, before a run, where `path` cannot be written (a missing
/// directory, no permission), leaving nothing behind.
pub fn check_writable(path: &Path) -> Result<(), FlameGraphError> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| FlameGraphError::Write { path: path.display().to_string(), source })?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Draws `stacks` into an SVG at `path`; returns the samples drawn. Kernel
/// frames carry `_[k]` and inlined ones `_[i]`, which the palette colours
/// apart from user frames (as flamegraph.pl's `--colors=java`).
pub fn write_svg(path: &Path, title: &str, stacks: &[Folded]) -> Result<u64, FlameGraphError> {
    let lines: Vec<String> = stacks
        .iter()
        .filter(|(frames, n)| *n > 0 && !frames.is_empty())
        // `;` separates frames: one inside a name (rare) would split it.
        .map(|(frames, n)| format!("{} {n}", frames.iter().map(|f| f.replace(';', ":")).collect::<Vec<_>>().join(";")))
        .collect();
    if lines.is_empty() {
        return Err(FlameGraphError::Empty);
    }
    let write_error = |source| FlameGraphError::Write { path: path.display().to_string(), source };
    let file = std::fs::File::create(path).map_err(write_error)?;
    let mut options = Options::default();
    options.title = title.to_string();
    options.colors = Palette::Multi(MultiPalette::Java);
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), BufWriter::new(file))
        .map_err(write_error)?;
    Ok(stacks.iter().map(|(_, n)| n).sum())
}
