//! Program-level items: the preprocessor section, C definitions, the config
//! block, imports, map declarations, macros, functions and probes.

use super::{PResult, Parser};
use crate::ast::*;
use crate::attach;
use crate::diagnostic::Diagnostic;
use crate::lexer;
use crate::preprocess::{self, Directive};
use crate::source::{Source, Span};
use crate::token::{Punct, TokenKind};

/// The sections of a program, in the order they must come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    CDefinitions,
    Preamble,
    Main,
}

/// One open `#if`/`#ifdef` group.
pub(super) struct Conditional {
    /// This branch's lines are part of the program.
    active: bool,
    /// Some branch of the group was taken already (so `#else` is not).
    taken: bool,
    span: Span,
}

impl Parser<'_> {
    pub(super) fn parse_program(&mut self) -> PResult<Program> {
        let mut prog = Program::default();
        let mut pos = 0;
        if self.src.starts_with("#!") {
            let end = lexer::scan_line(self.src, 0);
            prog.shebang = Some(Span::new(0, end));
            pos = end;
        }
        // `--include` headers come before the program, as clang reads them.
        for file in self.source.map(Source::forced_includes).into_iter().flatten() {
            self.parse_header(file, Span::new(0, 0), &mut prog)?;
        }
        self.parse_file(pos, &mut prog, false)?;
        Ok(prog)
    }

    /// Reads a file from `pos` to its end: its preprocessor lines, and its
    /// items (a program's, or with `header`, a C header's declarations).
    pub(super) fn parse_file(&mut self, mut pos: usize, prog: &mut Program, header: bool) -> PResult<()> {
        let src = self.src;
        let mut conds: Vec<Conditional> = Vec::new();
        let mut section = Section::CDefinitions;
        loop {
            let active = conds.iter().all(|c| c.active);
            pos = if active { lexer::skip_trivia(src, pos)? } else { skip_space(src, pos) };
            if pos >= src.len() {
                break;
            }
            if src.as_bytes()[pos] == b'#' {
                let end = lexer::scan_line(src, pos);
                if section > Section::CDefinitions && active {
                    return Err(Diagnostic::error(
                        Span::new(pos, end),
                        "preprocessor directives must come before the config block, probes and macros",
                    )
                    .with_hint("move it to the top of the program"));
                }
                self.directive(prog, &mut conds, Span::new(pos, end))?;
                pos = end;
                continue;
            }
            if !active {
                pos = src[pos..].find('\n').map_or(src.len(), |i| pos + i + 1);
                continue;
            }
            self.seek(pos)?;
            if header {
                self.header_item(prog)?;
            } else {
                self.parse_item(prog, &mut section)?;
            }
            pos = self.prev_end;
        }
        end_of_conditionals(&conds)
    }

    fn parse_item(&mut self, prog: &mut Program, section: &mut Section) -> PResult<()> {
        let next = self.peek(1)?;
        let start = self.tok.span;
        let keyword = self.tok.ident().map(str::to_string);
        match keyword.as_deref() {
            Some("struct" | "union" | "enum") if next.ident().is_some() || (next.is_punct(Punct::LBrace)) => {
                if *section > Section::CDefinitions {
                    return Err(Diagnostic::error(
                        start,
                        "C definitions must come before the config block, probes and macros",
                    )
                    .with_hint("move the definition to the top of the program"));
                }
                let item = self.parse_c_definition()?;
                prog.c_items.push(item);
            }
            Some("config") if next.is_punct(Punct::Assign) => {
                if *section > Section::Preamble {
                    return Err(Diagnostic::error(
                        start,
                        "the config block must come before probes, macros and map declarations",
                    ));
                }
                if prog.config.is_some() {
                    return Err(Diagnostic::error(start, "only one config block is allowed"));
                }
                *section = Section::Preamble;
                prog.config = Some(self.parse_config()?);
            }
            Some("import") if matches!(next.kind, TokenKind::Str(_)) => {
                if *section > Section::Preamble {
                    return Err(Diagnostic::error(
                        start,
                        "imports must come before probes, macros and map declarations",
                    ));
                }
                *section = Section::Preamble;
                prog.imports.push(self.parse_import()?);
            }
            Some("macro") if next.ident().is_some() => {
                *section = Section::Main;
                prog.macros.push(self.parse_macro()?);
            }
            Some("fn") if next.ident().is_some() => {
                *section = Section::Main;
                prog.subprogs.push(self.parse_subprog()?);
            }
            Some("let") if matches!(next.kind, TokenKind::Map(_)) => {
                *section = Section::Main;
                prog.map_decls.push(self.parse_map_decl()?);
            }
            _ => {
                *section = Section::Main;
                prog.probes.push(self.parse_probe()?);
            }
        }
        Ok(())
    }

    // ---- preprocessor ---------------------------------------------------

    pub(super) fn directive(&mut self, prog: &mut Program, conds: &mut Vec<Conditional>, span: Span) -> PResult<()> {
        let active = conds.iter().all(|c| c.active);
        let line = &self.src[span.range()];
        let directive = preprocess::parse_directive(line, span)?;
        match directive {
            Directive::If(cond) => {
                let on = active && preprocess::eval_condition(&cond, &self.defines, span)?;
                conds.push(Conditional { active: on, taken: on, span });
            }
            Directive::Elif(cond) => {
                let Some(top) = conds.pop() else {
                    return Err(Diagnostic::error(span, "#elif without #if"));
                };
                let outer = conds.iter().all(|c| c.active);
                let on = outer && !top.taken && preprocess::eval_condition(&cond, &self.defines, span)?;
                conds.push(Conditional { active: on, taken: top.taken || on, span: top.span });
            }
            Directive::Else => {
                let Some(top) = conds.pop() else {
                    return Err(Diagnostic::error(span, "#else without #if"));
                };
                let outer = conds.iter().all(|c| c.active);
                conds.push(Conditional { active: outer && !top.taken, taken: true, span: top.span });
            }
            Directive::Endif => {
                if conds.pop().is_none() {
                    return Err(Diagnostic::error(span, "#endif without #if"));
                }
            }
            _ if !active => {}
            Directive::Include(path) => match self.source.and_then(|s| s.included_at(span.start as usize)) {
                Some(file) => self.parse_header(file, span, prog)?,
                // Not a header given to bpfscope: the kernel's BTF has its types.
                None => prog.c_items.push(CItem::Include { path, span }),
            },
            Directive::Define(def) => {
                self.defines.insert(def.name.clone(), def.body.clone());
                prog.c_items.push(CItem::Define(def));
            }
            Directive::Undef(name) => {
                self.defines.remove(&name);
            }
            Directive::Error(msg) => return Err(Diagnostic::error(span, format!("#error {msg}"))),
            Directive::Ignored => {}
        }
        Ok(())
    }

    // ---- config, imports, declarations ----------------------------------

    fn parse_config(&mut self) -> PResult<Config> {
        let start = self.bump()?.span;
        self.expect(Punct::Assign, " after config")?;
        self.expect(Punct::LBrace, " to open the config block")?;
        let mut entries = Vec::new();
        while !self.at(Punct::RBrace) {
            let (key, key_span) = self.expect_ident("a config variable name")?;
            self.expect(Punct::Assign, " after the config variable name")?;
            let value_span = self.tok.span;
            let value = match &self.tok.kind {
                TokenKind::Int(n) => ConfigValue::Int(*n),
                TokenKind::Str(s) => ConfigValue::Str(String::from_utf8_lossy(s).into_owned()),
                TokenKind::Ident(s) if s == "true" => ConfigValue::Bool(true),
                TokenKind::Ident(s) if s == "false" => ConfigValue::Bool(false),
                TokenKind::Ident(s) => ConfigValue::Ident(s.clone()),
                _ => return Err(self.unexpected("a config value (a number, a string or a name)")),
            };
            self.bump()?;
            entries.push(ConfigEntry { key, key_span, value, value_span });
            if !self.eat(Punct::Semi)? && !self.at(Punct::RBrace) {
                return Err(self.unexpected("';' or '}'"));
            }
        }
        self.bump()?;
        self.eat(Punct::Semi)?;
        Ok(Config { entries, span: self.span_from(start) })
    }

    fn parse_import(&mut self) -> PResult<Import> {
        let start = self.bump()?.span;
        let path = match &self.tok.kind {
            TokenKind::Str(s) => String::from_utf8_lossy(s).into_owned(),
            _ => return Err(self.unexpected("a path string")),
        };
        self.bump()?;
        self.expect(Punct::Semi, " after import")?;
        Ok(Import { path, span: self.span_from(start) })
    }

    fn parse_map_decl(&mut self) -> PResult<MapDecl> {
        let start = self.bump()?.span;
        let (name, name_span) = match &self.tok.kind {
            TokenKind::Map(n) => (n.clone(), self.tok.span),
            _ => return Err(self.unexpected("a map name")),
        };
        self.bump()?;
        self.expect(Punct::Assign, " in the map declaration")?;
        let (kind, kind_span) = self.expect_ident("a map type such as hash(100)")?;
        self.expect(Punct::LParen, " after the map type")?;
        let max_entries = match self.tok.kind {
            TokenKind::Int(n) => n,
            _ => return Err(self.unexpected("the maximum number of entries")),
        };
        self.bump()?;
        self.expect(Punct::RParen, "")?;
        self.expect(Punct::Semi, " after the map declaration")?;
        Ok(MapDecl { name, name_span, kind, kind_span, max_entries, span: self.span_from(start) })
    }

    fn parse_macro(&mut self) -> PResult<MacroDef> {
        let start = self.bump()?.span;
        let (name, name_span) = self.expect_ident("a macro name")?;
        let mut params = Vec::new();
        if self.eat(Punct::LParen)? {
            while !self.at(Punct::RParen) {
                let span = self.tok.span;
                let (kind, pname) = match &self.tok.kind {
                    TokenKind::Var(v) => (MacroParamKind::Var, v.clone()),
                    TokenKind::Map(m) => (MacroParamKind::Map, m.clone()),
                    TokenKind::Ident(i) => (MacroParamKind::Expr, i.clone()),
                    _ => return Err(self.unexpected("a macro parameter ($var, @map or name)")),
                };
                self.bump()?;
                params.push(MacroParam { kind, name: pname, span });
                if !self.eat(Punct::Comma)? && !self.at(Punct::RParen) {
                    return Err(self.unexpected("',' or ')'"));
                }
            }
            self.bump()?;
        }
        let body = self.parse_block(true)?;
        Ok(MacroDef { name, name_span, params, body, span: self.span_from(start) })
    }

    fn parse_subprog(&mut self) -> PResult<Subprog> {
        let start = self.bump()?.span;
        let (name, name_span) = self.expect_ident("a function name")?;
        self.expect(Punct::LParen, " after the function name")?;
        let mut params = Vec::new();
        while !self.at(Punct::RParen) {
            let span = self.tok.span;
            let pname = match &self.tok.kind {
                TokenKind::Var(v) => v.clone(),
                _ => return Err(self.unexpected("a parameter ($name: type)")),
            };
            self.bump()?;
            self.expect(Punct::Colon, " and a type after the parameter")?;
            let ty = self.parse_type()?;
            params.push((pname, ty, self.span_from(span)));
            if !self.eat(Punct::Comma)? && !self.at(Punct::RParen) {
                return Err(self.unexpected("',' or ')'"));
            }
        }
        self.bump()?;
        let ret = if self.eat(Punct::Colon)? { Some(self.parse_type()?) } else { None };
        let body = self.parse_block(true)?;
        Ok(Subprog { name, name_span, params, ret, body, span: self.span_from(start) })
    }

    // ---- probes ---------------------------------------------------------

    fn parse_probe(&mut self) -> PResult<Probe> {
        let src = self.src;
        let mut pos = self.tok.span.start as usize;
        let mut attach_points = Vec::new();
        loop {
            let first = src.as_bytes().get(pos).copied().unwrap_or(0);
            if !(lexer::is_ident_start(first) || first == b'"') {
                self.seek(pos)?;
                return Err(self.unexpected(if attach_points.is_empty() { "a probe" } else { "an attach point" }));
            }
            let end = lexer::scan_attach_point(src, pos);
            attach_points.push(attach::parse_attach_point(&src[pos..end], pos, &self.options.params)?);
            let next = lexer::skip_trivia(src, end)?;
            if src.as_bytes().get(next) == Some(&b',') {
                pos = lexer::skip_trivia(src, next + 1)?;
                continue;
            }
            self.seek(end)?;
            break;
        }
        let span = attach_points[0].span.to(attach_points[attach_points.len() - 1].span);
        let predicate = if self.at(Punct::Slash) {
            self.bump()?;
            if self.at(Punct::Slash) {
                return Err(self.unexpected("a predicate expression"));
            }
            let e = self.parse_predicate()?;
            self.expect(Punct::Slash, " to close the predicate")?;
            Some(e)
        } else {
            None
        };
        if !self.at(Punct::LBrace) {
            return Err(self.unexpected(if predicate.is_some() { "'{'" } else { "'{', ',' or a predicate /.../" }));
        }
        let body = self.parse_block(false)?;
        Ok(Probe { attach_points, predicate, body, span })
    }
}

/// Skips white space only (comments inside excluded `#if` regions need not
/// be well formed).
pub(super) fn skip_space(src: &str, mut pos: usize) -> usize {
    let b = src.as_bytes();
    while pos < b.len() && b[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
}

/// Every `#if` group of a file must end in it.
pub(super) fn end_of_conditionals(conds: &[Conditional]) -> PResult<()> {
    match conds.last() {
        Some(c) => {
            Err(Diagnostic::error(c.span, "unterminated conditional directive").with_hint("add a matching #endif"))
        }
        None => Ok(()),
    }
}
