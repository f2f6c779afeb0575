//! A hand-written recursive descent parser with precedence climbing.
//!
//! The parser pulls tokens from the position-based lexer one at a time, so
//! it can back up (casts versus parenthesised expressions) and can switch to
//! raw text where the language is not made of tokens: attach points and
//! preprocessor lines. It stops at the first error, which it reports with the
//! span of the offending token.

mod expr;
mod header;
mod items;
mod stmt;
mod types;

use std::collections::HashMap;

use crate::ast::Program;
use crate::diagnostic::Diagnostic;
use crate::lexer;
use crate::source::{Source, Span};
use crate::token::{Punct, Token, TokenKind};

/// How deeply expressions, blocks and types may nest. Deeper input is an
/// error, never a stack overflow.
const MAX_DEPTH: u32 = 128;

pub type PResult<T> = Result<T, Diagnostic>;

/// What the parser needs from outside the program text.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// Positional parameters: `$1` is `params[0]`. Used in attach points.
    pub params: Vec<String>,
    /// Preprocessor macros defined before the program (`BPFTRACE_HAVE_BTF`).
    pub predefined: Vec<(String, String)>,
}

impl ParseOptions {
    /// The macros bpftrace defines for scripts on a kernel with BTF.
    pub fn with_btf(params: Vec<String>) -> ParseOptions {
        ParseOptions { params, predefined: vec![("BPFTRACE_HAVE_BTF".into(), "1".into())] }
    }
}

/// Parses a whole program.
pub fn parse(source: &Source, options: &ParseOptions) -> PResult<Program> {
    let mut p = Parser::new(source.text(), options, 0);
    p.source = Some(source);
    p.parse_program()
}

/// Parses one expression from `span` of the source (used to expand
/// `#define` bodies in place, keeping their spans).
pub fn parse_expr_at(source: &Source, span: Span) -> PResult<crate::ast::Expr> {
    let options = ParseOptions::default();
    let text = &source.text()[..span.end as usize];
    let mut p = Parser::new(text, &options, span.start as usize);
    p.seek(span.start as usize)?;
    let e = p.parse_expr()?;
    if p.tok.kind != TokenKind::Eof {
        return Err(p.unexpected("end of the macro"));
    }
    Ok(e)
}

pub(crate) struct Parser<'s> {
    src: &'s str,
    options: &'s ParseOptions,
    /// The current token.
    tok: Token,
    /// Where the previous token ended: the end of spans being built.
    prev_end: usize,
    depth: u32,
    /// Preprocessor macros seen so far (name to body), for `#if` and for
    /// telling `(NAME)` expressions from casts.
    defines: HashMap<String, String>,
    /// The headers `#include` lines read (none when parsing a fragment).
    source: Option<&'s Source>,
    /// How many headers deep this parser is.
    include_depth: u32,
}

impl<'s> Parser<'s> {
    /// A parser positioned nowhere yet: callers `seek` before reading.
    fn new(src: &'s str, options: &'s ParseOptions, start: usize) -> Parser<'s> {
        let tok = Token { kind: TokenKind::Eof, span: Span::new(start, start) };
        let defines = options.predefined.iter().cloned().collect();
        Parser { src, options, tok, prev_end: start, depth: 0, defines, source: None, include_depth: 0 }
    }

    // ---- token plumbing -------------------------------------------------

    /// Consumes the current token and returns it.
    fn bump(&mut self) -> PResult<Token> {
        let next = lexer::lex(self.src, self.tok.span.end as usize)?;
        self.prev_end = self.tok.span.end as usize;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    /// The token `n` places after the current one (`peek(0)` is current).
    fn peek(&self, n: usize) -> PResult<Token> {
        let mut t = self.tok.clone();
        for _ in 0..n {
            if t.kind == TokenKind::Eof {
                break;
            }
            t = lexer::lex(self.src, t.span.end as usize)?;
        }
        Ok(t)
    }

    /// Moves to `pos` in the text and lexes the token there.
    fn seek(&mut self, pos: usize) -> PResult<()> {
        self.tok = lexer::lex(self.src, pos)?;
        self.prev_end = pos;
        Ok(())
    }

    fn save(&self) -> (Token, usize) {
        (self.tok.clone(), self.prev_end)
    }

    fn restore(&mut self, saved: (Token, usize)) {
        self.tok = saved.0;
        self.prev_end = saved.1;
    }

    fn at(&self, p: Punct) -> bool {
        self.tok.is_punct(p)
    }

    fn at_ident(&self, name: &str) -> bool {
        self.tok.is_ident(name)
    }

    fn eat(&mut self, p: Punct) -> PResult<bool> {
        if self.at(p) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, p: Punct, context: &str) -> PResult<Span> {
        if self.at(p) {
            return Ok(self.bump()?.span);
        }
        Err(self.unexpected(&format!("'{}'{context}", p.as_str())))
    }

    /// Consumes an identifier if there is one here.
    fn eat_ident(&mut self) -> PResult<Option<String>> {
        let Some(name) = self.tok.ident().map(str::to_string) else { return Ok(None) };
        self.bump()?;
        Ok(Some(name))
    }

    fn expect_ident(&mut self, what: &str) -> PResult<(String, Span)> {
        match &self.tok.kind {
            TokenKind::Ident(name) => {
                let name = name.clone();
                let span = self.bump()?.span;
                Ok((name, span))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// A span from `start` to the end of the last consumed token.
    fn span_from(&self, start: Span) -> Span {
        Span::new(start.start as usize, self.prev_end.max(start.end as usize))
    }

    /// The error for an unexpected current token.
    fn unexpected(&self, expected: &str) -> Diagnostic {
        let found = describe(&self.tok.kind);
        Diagnostic::error(self.tok.span, format!("syntax error: unexpected {found}, expected {expected}"))
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                self.tok.span,
                format!("the program is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }
}

/// Runs a recursive step on a stack that grows on demand, so that nesting
/// up to `MAX_DEPTH` fits whatever stack the caller's thread has.
pub(crate) fn grow<T>(f: impl FnOnce() -> T) -> T {
    stacker::maybe_grow(128 * 1024, 4 * 1024 * 1024, f)
}

/// How an unexpected token is named in a syntax error.
fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Ident(s) => format!("identifier '{s}'"),
        TokenKind::Int(n) => format!("integer {n}"),
        TokenKind::Str(_) => "string".to_string(),
        TokenKind::Eof => "end of file".to_string(),
        other => format!("'{other}'"),
    }
}
