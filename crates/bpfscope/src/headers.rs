//! Finds the C headers a program includes (`#include "x.h"`, `#include
//! <x.h>`, `--include x.h`) and reads them into its source, where the
//! parser reads their declarations. A quoted name is looked for next to
//! the file that includes it, then in the `-I` directories; a name in
//! angle brackets only in the `-I` directories. A header found in neither
//! is the kernel's: its types come from the kernel's BTF, as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bpfscope_lang::{Diagnostic, Source, Span};

use bpfscope::error::Error;

/// Where headers are looked for.
pub struct SearchPath {
    /// The `-I` directories, in order.
    pub dirs: Vec<PathBuf>,
    /// Where the program's own quoted includes are looked for first: its
    /// file's directory, or the current directory for `-e` and stdin.
    pub program_dir: PathBuf,
}

/// Reads every header the program and its headers include, and the
/// `--include` ones, into `source`.
pub fn read(source: &mut Source, search: &SearchPath, forced: &[String]) -> Result<(), Error> {
    let mut loaded: HashMap<PathBuf, usize> = HashMap::new();
    // (where a file's text starts and ends, the directory it is in)
    let mut pending: Vec<(usize, usize, PathBuf)> = vec![(0, source.text().len(), search.program_dir.clone())];
    for name in forced {
        let Some(path) = find(name, true, &search.program_dir, &search.dirs) else { continue };
        let file = load(source, &path, &mut loaded, &mut pending)
            .map_err(|e| Error::Usage(format!("--include {name}: cannot read {}: {e}", path.display())))?;
        source.force_include(file);
    }
    while let Some((start, end, dir)) = pending.pop() {
        for (offset, name, quoted) in include_lines(&source.full_text()[start..end]) {
            let Some(path) = find(&name, quoted, &dir, &search.dirs) else { continue };
            let at = start + offset;
            let file = load(source, &path, &mut loaded, &mut pending).map_err(|e| {
                let span = Span::new(at, at + source.full_text()[at..].find('\n').unwrap_or(0));
                let d = Diagnostic::error(span, format!("cannot read header {}: {e}", path.display()));
                Error::Program(source.clone(), d.into())
            })?;
            source.bind_include(at, file);
        }
    }
    Ok(())
}

/// Reads the header at `path` once, however often it is included.
fn load(
    source: &mut Source,
    path: &Path,
    loaded: &mut HashMap<PathBuf, usize>,
    pending: &mut Vec<(usize, usize, PathBuf)>,
) -> std::io::Result<usize> {
    let key = path.canonicalize()?;
    if let Some(&file) = loaded.get(&key) {
        return Ok(file);
    }
    let text = std::fs::read_to_string(path)?;
    let file = source.add_file(path.display().to_string(), &text);
    let end = source.full_text().len();
    pending.push((end - text.len(), end, path.parent().map(Path::to_path_buf).unwrap_or_default()));
    loaded.insert(key, file);
    Ok(file)
}

/// The header file `name` stands for, if it is one bpfscope was given.
fn find(name: &str, quoted: bool, includer_dir: &Path, dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    let here = quoted.then(|| includer_dir.join(path));
    here.into_iter().chain(dirs.iter().map(|d| d.join(path))).find(|p| p.is_file())
}

/// Each `#include` line of a text: the offset of its `#`, the name, and
/// whether it was quoted (rather than in angle brackets).
fn include_lines(text: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        if let Some(rest) = line.trim_start().strip_prefix('#')
            && let Some(rest) = rest.trim_start().strip_prefix("include")
        {
            let rest = rest.trim();
            let (quoted, close) = match rest.chars().next() {
                Some('"') => (true, '"'),
                Some('<') => (false, '>'),
                _ => {
                    offset += line.len();
                    continue;
                }
            };
            if let Some(end) = rest[1..].find(close) {
                out.push((offset + indent, rest[1..1 + end].to_string(), quoted));
            }
        }
        offset += line.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::include_lines;

    #[test]
    fn include_lines_are_found_with_their_offsets() {
        let text = "#include <linux/sched.h>\n  # include \"my.h\"\n#define X 1\n#include_next <y.h>\n";
        assert_eq!(include_lines(text), [(0, "linux/sched.h".to_string(), false), (27, "my.h".to_string(), true)]);
    }
}
