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

/// A program text with the name it is reported under (`stdin`, a file path).
#[derive(Clone, Debug)]
pub struct Source {
    name: String,
    text: String,
    line_starts: Vec<usize>,
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
        Source { name: name.into(), text, line_starts }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
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

    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = self.floor_char_boundary(offset.min(self.text.len()));
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        LineCol { line: line + 1, col }
    }

    /// A span as bpftrace names places in its messages: `name:line:col-col`
    /// (the end column just past the span), or `name:line-line` when the
    /// span covers several lines.
    pub fn location(&self, span: Span) -> String {
        let start = self.line_col(span.start as usize);
        let end = self.line_col(span.end as usize);
        if start.line == end.line {
            format!("{}:{}:{}-{}", self.name, start.line, start.col, end.col)
        } else {
            format!("{}:{}-{}", self.name, start.line, end.line)
        }
    }

    /// The text of 1-based line `line`, without its newline.
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
    fn columns_count_characters() {
        let s = Source::new("t", "\"é\" x");
        assert_eq!(s.line_col(5).col, 5);
    }
}
