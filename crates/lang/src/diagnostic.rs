//! One diagnostic type for every error and warning the front end reports, and
//! one renderer: `file:line:col: error: message`, the source line, and a
//! caret or `~~~` under the span, then any hints.

use std::fmt::Write as _;

use crate::source::{Source, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Where in the program; `None` for errors about the program as a whole.
    pub span: Option<Span>,
    /// Suggestions printed after the source excerpt, one per line.
    pub hints: Vec<String>,
    /// Other places that explain this one (where a type was first given),
    /// each shown with its own excerpt after the main one.
    pub notes: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            hints: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            span: Some(span),
            hints: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// An error that is not about one place in the program.
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            hints: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A warning about the whole program.
    pub fn global_warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            span: None,
            hints: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds another place to show, with what it has to do with this one.
    pub fn with_note(mut self, span: Span, note: impl Into<String>) -> Diagnostic {
        self.notes.push((span, note.into()));
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hints.push(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders this diagnostic against the source it refers to.
    pub fn render(&self, source: &Source) -> String {
        self.render_as(source, Look::Plain)
    }

    /// Renders it plain, or in colour for a terminal.
    pub fn render_as(&self, source: &Source, look: Look) -> String {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let style = look.style(label);
        let mut out = String::new();
        match self.span {
            Some(span) => excerpt(&mut out, source, span, label, &self.message, style),
            None => {
                let _ = writeln!(out, "{style}{}: {label}: {}{style:#}", source.name(), self.message);
            }
        }
        for (span, note) in &self.notes {
            excerpt(&mut out, source, *span, "note", note, look.style("note"));
        }
        for hint in &self.hints {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}

/// How diagnostics look: plain, or coloured for a terminal as bpftrace
/// 0.26 colours its log (errors red, warnings yellow; notes cyan): the
/// `FILE:LINE:COL: LABEL: MESSAGE` line and the underline, not the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Look {
    #[default]
    Plain,
    Color,
}

impl Look {
    fn style(self, label: &str) -> anstyle::Style {
        use anstyle::AnsiColor;
        let color = match (self, label) {
            (Look::Plain, _) => return anstyle::Style::new(),
            (Look::Color, "error") => AnsiColor::Red,
            (Look::Color, "warning") => AnsiColor::Yellow,
            (Look::Color, _) => AnsiColor::Cyan,
        };
        color.on_default()
    }
}

/// `FILE:LINE:COL: LABEL: MESSAGE`, the line, and the span underlined.
fn excerpt(out: &mut String, source: &Source, span: Span, label: &str, message: &str, style: anstyle::Style) {
    let at = span.start as usize;
    let start = source.line_col(at);
    let _ = writeln!(out, "{style}{}:{}:{}: {label}: {message}{style:#}", source.name_at(at), start.line, start.col);
    let line = source.line_text_at(at);
    let _ = writeln!(out, "{line}");
    let _ = writeln!(out, "{style}{}{style:#}", underline(source, span, line, start.col));
}

/// Spaces up to the span's column, then `^` for a point or `~` per character
/// of the span, stopping at the end of the first line.
fn underline(source: &Source, span: Span, line: &str, col: usize) -> String {
    let indent: String = line.chars().take(col - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let on_line = source.slice(span).split('\n').next().unwrap_or("").chars().count();
    let width = on_line.min(line.chars().count().saturating_sub(col - 1));
    if width <= 1 { format!("{indent}^") } else { format!("{indent}{}", "~".repeat(width)) }
}

/// The diagnostics of one run of the front end, in the order they were found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn render(&self, source: &Source) -> String {
        self.render_as(source, Look::Plain)
    }

    pub fn render_as(&self, source: &Source, look: Look) -> String {
        self.0.iter().map(|d| d.render_as(source, look)).collect()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_bpftrace_with_rustc_position() {
        let src = Source::new("stdin", "BEGIN { foo(); }");
        let d = Diagnostic::error(Span::new(8, 11), "Unknown function: foo").with_hint("did you mean 'for'?");
        assert_eq!(
            d.render(&src),
            "stdin:1:9: error: Unknown function: foo\nBEGIN { foo(); }\n        ~~~\nhint: did you mean 'for'?\n"
        );
    }

    #[test]
    fn point_spans_get_a_caret_and_stop_at_line_end() {
        let src = Source::new("f.bt", "a\n  b {\n");
        assert_eq!(Diagnostic::error(Span::new(8, 8), "x").render(&src), "f.bt:3:1: error: x\n\n^\n");
        assert_eq!(Diagnostic::error(Span::new(4, 9), "y").render(&src), "f.bt:2:3: error: y\n  b {\n  ~~~\n");
    }
}
