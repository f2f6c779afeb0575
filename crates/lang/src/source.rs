//! Source text, byte spans into it, and line/column lookup.

use std::fmt;

/// A half-open byte range `[start, end)` into one [`Source`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start: clamp(start), end: clamp(end.max(start)) }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A program text with the name it is reported under (`stdin`, a file path),
/// and the C headers it includes. Each header's text follows the program's
/// in one string, so that a span points into the program or into a header
/// alike, and a diagnostic names the file and line it is in.
#[derive(Clone, Debug)]
pub struct Source {
    name: String,
    text: String,
    line_starts: Vec<usize>,
    /// The program's own text is `text[..program_len]`.
    program_len: usize,
    /// Boxed: most programs include no header, and sources travel in errors.
    headers: Box<Headers>,
}

#[derive(Clone, Debug, Default)]
struct Headers {
    files: Vec<IncludedFile>,
    /// Which header each `#include` line (by the offset of its `#`) reads.
    includes: std::collections::HashMap<u32, usize>,
    /// Headers included before the program (`--include`), in order.
    forced: Vec<usize>,
}

/// A header's place in a [`Source`]'s text.
#[derive(Clone, Debug)]
pub struct IncludedFile {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

/// A 1-based line and column (in characters) of a position in a [`Source`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub col: usize,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let program_len = text.len();
        Source { name: name.into(), text, line_starts, program_len, headers: Box::default() }
    }

    /// The program's name (`stdin`, or its file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program's text (without the headers it includes).
    pub fn text(&self) -> &str {
        &self.text[..self.program_len]
    }

    /// The program and every header, one after the other: what spans index.
    pub fn full_text(&self) -> &str {
        &self.text
    }

    /// Adds a header's text under `name`; returns its index.
    pub fn add_file(&mut self, name: impl Into<String>, contents: &str) -> usize {
        self.text.push('\n');
        self.line_starts.push(self.text.len());
        let start = self.text.len();
        self.text.push_str(contents);
        self.line_starts.extend(contents.match_indices('\n').map(|(i, _)| start + i + 1));
        self.headers.files.push(IncludedFile { name: name.into(), start, end: self.text.len() });
        self.headers.files.len() - 1
    }

    /// Says that the `#include` line starting at `offset` reads header `file`.
    pub fn bind_include(&mut self, offset: usize, file: usize) {
        self.headers.includes.insert(clamp(offset), file);
    }

    /// Adds header `file` to those read before the program (`--include`).
    pub fn force_include(&mut self, file: usize) {
        self.headers.forced.push(file);
    }

    /// The header the `#include` line at `offset` reads, if it was found.
    pub fn included_at(&self, offset: usize) -> Option<&IncludedFile> {
        self.headers.files.get(*self.headers.includes.get(&clamp(offset))?)
    }

    /// The headers read before the program, in order.
    pub fn forced_includes(&self) -> impl Iterator<Item = &IncludedFile> {
        self.headers.forced.iter().filter_map(|&i| self.headers.files.get(i))
    }

    /// The name of the file holding byte `offset`, and where its text starts.
    fn file_at(&self, offset: usize) -> (&str, usize) {
        match self.headers.files.iter().rev().find(|f| f.start <= offset && offset > self.program_len) {
            Some(f) => (&f.name, f.start),
            None => (&self.name, 0),
        }
    }

    /// The name of the file (the program or a header) holding byte `offset`.
    pub fn name_at(&self, offset: usize) -> &str {
        self.file_at(offset).0
    }

    /// The text a span covers (empty if the span is out of range).
    pub fn slice(&self, span: Span) -> &str {
        let len = self.text.len();
        self.text.get((span.start as usize).min(len)..(span.end as usize).min(len)).unwrap_or("")
    }

    /// The 0-based index of the line holding byte `offset`.
    fn line_index(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// Line and column of byte `offset` in its own file.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = self.floor_char_boundary(offset.min(self.text.len()));
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        let first = self.line_index(self.file_at(offset).1);
        LineCol { line: line - first + 1, col }
    }

    /// The text of the line holding byte `offset`, without its newline.
    pub fn line_text_at(&self, offset: usize) -> &str {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let end = self.line_starts.get(line + 1).map_or(self.text.len(), |&e| e - 1);
        self.text[self.line_starts[line]..end].trim_end_matches('\r')
    }

    /// A span as bpftrace names places in its messages: `name:line:col-col`
    /// (the end column just past the span), or `name:line-line` when the
    /// span covers several lines.
    pub fn location(&self, span: Span) -> String {
        let start = self.line_col(span.start as usize);
        let end = self.line_col(span.end as usize);
        let name = self.name_at(span.start as usize);
        if start.line == end.line {
            format!("{name}:{}:{}-{}", start.line, start.col, end.col)
        } else {
            format!("{name}:{}-{}", start.line, end.line)
        }
    }

    /// The text of the program's 1-based line `line`, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self.line_starts.get(line).map_or(self.text.len(), |&e| e - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    fn floor_char_boundary(&self, mut offset: usize) -> usize {
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let s = Source::new("t", "ab\ncd\n\nx");
        assert_eq!(s.line_col(0), LineCol { line: 1, col: 1 });
        assert_eq!(s.line_col(3), LineCol { line: 2, col: 1 });
        assert_eq!(s.line_col(4), LineCol { line: 2, col: 2 });
        assert_eq!(s.line_col(7), LineCol { line: 4, col: 1 });
        assert_eq!(s.line_text(2), "cd");
        assert_eq!(s.line_text(3), "");
        assert_eq!(s.line_text(9), "");
    }

    #[test]
    fn headers_have_their_own_names_and_lines() {
        let mut s = Source::new("prog.bt", "#include \"a.h\"\nBEGIN {}");
        let f = s.add_file("dir/a.h", "struct a {\n  int x;\n};");
        s.bind_include(0, f);
        assert_eq!(s.text(), "#include \"a.h\"\nBEGIN {}");
        assert_eq!(s.included_at(0).map(|f| f.name.as_str()), Some("dir/a.h"));
        let x = s.full_text().find("int x").expect("in the text");
        assert_eq!(s.line_col(x), LineCol { line: 2, col: 3 });
        assert_eq!(s.name_at(x), "dir/a.h");
        assert_eq!(s.line_text_at(x), "  int x;");
        assert_eq!(s.location(Span::new(x, x + 5)), "dir/a.h:2:3-8");
        assert_eq!(s.line_col(17), LineCol { line: 2, col: 3 });
        assert_eq!(s.name_at(17), "prog.bt");
    }

    #[test]
    fn columns_count_characters() {
        let s = Source::new("t", "\"é\" x");
        assert_eq!(s.line_col(5).col, 5);
    }
}
