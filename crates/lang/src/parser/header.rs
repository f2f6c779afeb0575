//! C headers read through `#include` and `--include`: struct, union and
//! enum definitions, typedefs and `#define` lines, under the preprocessor's
//! conditionals. Declarations of functions and variables declare nothing a
//! probe can use and are passed over; what cannot be read is an error that
//! names it, in the header's own file and line.

use super::{PResult, Parser};
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::source::{IncludedFile, Span};
use crate::token::Punct;

/// Headers nested deeper than this are taken for a header that includes
/// itself without a guard.
const MAX_INCLUDE_DEPTH: u32 = 32;

/// What bpfscope reads in a header, for error hints.
const READS: &str = "bpfscope reads struct, union and enum definitions, typedefs and #define lines from C headers";

impl Parser<'_> {
    /// Reads header `file` (included at `at`) into the program's C items,
    /// sharing this parser's macros.
    pub(super) fn parse_header(&mut self, file: &IncludedFile, at: Span, prog: &mut Program) -> PResult<()> {
        let Some(source) = self.source else { return Ok(()) };
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(Diagnostic::error(at, format!("#include nested more than {MAX_INCLUDE_DEPTH} deep"))
                .with_hint("does a header include itself without an include guard?"));
        }
        let mut sub = Parser::new(&source.full_text()[..file.end], self.options, file.start);
        sub.source = self.source;
        sub.include_depth = self.include_depth + 1;
        sub.defines = std::mem::take(&mut self.defines);
        let result = sub.parse_file(file.start, prog, true);
        self.defines = std::mem::take(&mut sub.defines);
        result.map_err(|d| if d.hints.iter().any(|h| h == READS) { d } else { d.with_hint(READS) })
    }

    /// One top-level declaration of a header.
    pub(super) fn header_item(&mut self, prog: &mut Program) -> PResult<()> {
        let start = self.tok.span;
        if self.eat(Punct::Semi)? {
            return Ok(());
        }
        match self.tok.ident() {
            Some("typedef") => self.parse_typedef(prog),
            Some("struct" | "union" | "enum") if self.at_type_definition()? => {
                prog.c_items.push(self.parse_c_type_definition()?);
                if !self.eat(Punct::Semi)? {
                    // `struct s { ... } var;` declares a variable too.
                    self.skip_declaration(start.start as usize)?;
                }
                Ok(())
            }
            Some(_) => self.skip_declaration(start.start as usize),
            None => Err(Diagnostic::error(
                start,
                format!("cannot read {} at the top of a C header: a declaration was expected", describe_at(self)),
            )),
        }
    }

    /// At `struct|union|enum [name] {`.
    fn at_type_definition(&self) -> PResult<bool> {
        let next = self.peek(1)?;
        Ok(next.is_punct(Punct::LBrace) || (next.ident().is_some() && self.peek(2)?.is_punct(Punct::LBrace)))
    }

    /// `typedef TYPE DECLARATOR, ...;` where TYPE may be a struct, union or
    /// enum defined in place (named after the typedef when it has no name).
    fn parse_typedef(&mut self, prog: &mut Program) -> PResult<()> {
        let start = self.bump()?.span;
        while self.at_ident("const") || self.at_ident("volatile") {
            self.bump()?;
        }
        let defined = match self.tok.ident() {
            Some("struct" | "union" | "enum") if self.at_type_definition()? => Some(self.parse_c_type_definition()?),
            _ => None,
        };
        let mut base = match &defined {
            Some(CItem::Struct(d)) => composite(d.kind, &d.name, start),
            Some(CItem::Enum(e)) => composite(CompositeKind::Enum, &e.name, start),
            _ => self.parse_c_base_type()?,
        };
        let mut names = Vec::new();
        loop {
            let decl_start = self.tok.span;
            let (name, suffixes) = self.parse_c_declarator("the typedef's name")?;
            if self.at(Punct::LParen) {
                return Err(Diagnostic::error(
                    self.span_from(decl_start),
                    format!("cannot read typedef '{name}': it names a function type"),
                )
                .with_hint("a pointer to it can be declared as: typedef RET (*NAME)(ARGS);"));
            }
            names.push((name, suffixes, self.span_from(start)));
            if !self.eat(Punct::Comma)? {
                break;
            }
        }
        self.skip_attributes()?;
        self.expect(Punct::Semi, " after the typedef")?;
        if let Some(mut item) = defined {
            // `typedef struct { ... } name;`: the struct takes the name.
            match &mut item {
                CItem::Struct(CStruct { name, kind, .. }) if name.is_empty() => {
                    name.clone_from(&names[0].0);
                    base = composite(*kind, name, start);
                }
                CItem::Enum(CEnum { name, .. }) if name.is_empty() => {
                    name.clone_from(&names[0].0);
                    base = composite(CompositeKind::Enum, name, start);
                }
                _ => {}
            }
            prog.c_items.push(item);
        }
        for (name, suffixes, span) in names {
            let mut ty = base.clone();
            ty.suffixes.extend(suffixes);
            prog.c_items.push(CItem::Typedef(CTypedef { name, ty, span }));
        }
        Ok(())
    }

    /// Passes over a declaration of functions or variables: up to its `;`,
    /// or past a function's body. Scanned as characters, not tokens, so
    /// that any C in an inline function's body is passed over too.
    fn skip_declaration(&mut self, start: usize) -> PResult<()> {
        match declaration_end(self.src, start) {
            Some(end) => {
                self.prev_end = end;
                Ok(())
            }
            None => Err(Diagnostic::error(
                Span::new(start, lexer_line_end(self.src, start)),
                "cannot read this declaration: no ';' or '}' ends it",
            )),
        }
    }
}

fn composite(kind: CompositeKind, name: &str, span: Span) -> TypeSpec {
    TypeSpec { base: BaseType::Composite { kind, name: name.to_string() }, suffixes: Vec::new(), span }
}

/// What the current token is, for a message.
fn describe_at(p: &Parser<'_>) -> String {
    format!("'{}'", &p.src[p.tok.span.range()])
}

fn lexer_line_end(src: &str, pos: usize) -> usize {
    src[pos..].find('\n').map_or(src.len(), |i| pos + i)
}

/// Where the C declaration starting at `pos` ends: just past its `;` at
/// nesting depth 0, or past the `}` of a function body. `None` if the text
/// ends first.
fn declaration_end(src: &str, pos: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut i = pos;
    let mut depth = 0i32;
    let mut last = 0u8;
    let mut body = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' => {
                i = quoted_end(b, i)?;
                last = c;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = lexer_line_end(src, i);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = src[i + 2..].find("*/").map(|j| i + 2 + j + 2)?;
                continue;
            }
            b'#' if src[..i].trim_end_matches([' ', '\t']).ends_with('\n') => {
                // A directive inside a function body: its line is passed over.
                i = crate::lexer::scan_line(src, i);
                continue;
            }
            b'{' if depth == 0 && last == b')' => {
                body = true;
                depth += 1;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 && body && c == b'}' {
                    return Some(i + 1);
                }
                if depth < 0 {
                    return None;
                }
            }
            b';' if depth == 0 => return Some(i + 1),
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            last = c;
        }
        i += 1;
    }
    None
}

/// Just past the string or character literal starting at `i`.
fn quoted_end(b: &[u8], i: usize) -> Option<usize> {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == q => return Some(j + 1),
            b'\n' => return None,
            _ => j += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::declaration_end;

    #[test]
    fn declarations_end_at_their_semicolon_or_body() {
        fn ends(s: &str) -> Option<&str> {
            declaration_end(s, 0).map(|e| &s[..e])
        }
        assert_eq!(ends("int f(int a, char *b); struct x"), Some("int f(int a, char *b);"));
        assert_eq!(
            ends("static inline int g(void) { char c = '}'; if (c) { return 1; } return 0; } int y;"),
            Some("static inline int g(void) { char c = '}'; if (c) { return 1; } return 0; }")
        );
        assert_eq!(ends("int a[] = { 1, 2 }; x"), Some("int a[] = { 1, 2 };"));
        assert_eq!(ends("extern const char *names[] /* ; */;"), Some("extern const char *names[] /* ; */;"));
        assert_eq!(ends("int f(void) {"), None);
    }
}
