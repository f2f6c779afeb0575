//! Types as written in casts and annotations (`uint32`, `struct task_struct *`,
//! `int8[8]`, `string[64]`, `typeof(...)`), and C struct/union/enum
//! definitions.

use super::{PResult, Parser, grow};
use crate::ast::*;
use crate::builtins;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::token::{Punct, TokenKind};

impl Parser<'_> {
    /// A type, or an error saying one was expected.
    pub(super) fn parse_type(&mut self) -> PResult<TypeSpec> {
        match self.try_parse_type()? {
            Some(t) => Ok(t),
            None => Err(self.unexpected("a type")),
        }
    }

    /// Parses a type if the tokens here form one; `None` (with tokens
    /// possibly consumed: callers restore) if they do not.
    pub(super) fn try_parse_type(&mut self) -> PResult<Option<TypeSpec>> {
        let start = self.tok.span;
        while self.at_ident("const") || self.at_ident("volatile") {
            self.bump()?;
        }
        let Some(word) = self.tok.ident().map(str::to_string) else {
            return Ok(None);
        };
        let base = match word.as_str() {
            w if builtins::KEYWORDS.contains(&w) && w != "typeof" => return Ok(None),
            "typeof" => {
                self.bump()?;
                self.expect(Punct::LParen, " after typeof")?;
                let inner = self.parse_type_or_expr()?;
                self.expect(Punct::RParen, "")?;
                BaseType::Typeof(Box::new(inner))
            }
            "bool" | "_Bool" => {
                self.bump()?;
                BaseType::Bool
            }
            "void" => {
                self.bump()?;
                BaseType::Void
            }
            "string" | "buffer" | "inet" => {
                self.bump()?;
                let size = if self.at(Punct::LBracket) {
                    let TokenKind::Int(n) = self.peek(1)?.kind else { return Ok(None) };
                    self.bump()?;
                    self.bump()?;
                    self.expect(Punct::RBracket, "")?;
                    Some(n)
                } else {
                    None
                };
                match word.as_str() {
                    "string" => BaseType::String(size),
                    "buffer" => BaseType::Buffer(size),
                    _ => BaseType::Inet(size),
                }
            }
            "struct" | "union" | "enum" => {
                let kind = composite_kind(&word);
                self.bump()?;
                let Some(name) = self.tok.ident().map(str::to_string) else { return Ok(None) };
                self.bump()?;
                BaseType::Composite { kind, name }
            }
            w if builtins::C_INT_WORDS.contains(&w) => self.parse_c_int_words()?,
            w => {
                self.bump()?;
                if let Some((bits, signed)) = builtins::int_type(w) {
                    BaseType::Int { bits, signed }
                } else if builtins::BUILTIN_TYPES.contains(&w) {
                    BaseType::Builtin(w.to_string())
                } else {
                    BaseType::Named(w.to_string())
                }
            }
        };
        let mut suffixes = Vec::new();
        loop {
            if self.eat(Punct::Star)? {
                suffixes.push(TypeSuffix::Pointer);
            } else if self.at(Punct::LBracket) {
                let next = self.peek(1)?;
                if next.is_punct(Punct::RBracket) {
                    self.bump()?;
                    self.bump()?;
                    suffixes.push(TypeSuffix::Array(None));
                } else if let TokenKind::Int(n) = next.kind {
                    if !self.peek(2)?.is_punct(Punct::RBracket) {
                        return Ok(None);
                    }
                    self.bump()?;
                    self.bump()?;
                    self.bump()?;
                    suffixes.push(TypeSuffix::Array(Some(n)));
                } else {
                    return Ok(None);
                }
            } else {
                break;
            }
        }
        Ok(Some(TypeSpec { base, suffixes, span: self.span_from(start) }))
    }

    /// `unsigned long long`, `signed char`, `short int`, ...
    fn parse_c_int_words(&mut self) -> PResult<BaseType> {
        let start = self.tok.span;
        let mut words = Vec::new();
        while let Some(w) = self.tok.ident().filter(|w| builtins::C_INT_WORDS.contains(w)) {
            words.push(w.to_string());
            self.bump()?;
        }
        let unsigned = words.iter().any(|w| w == "unsigned");
        let longs = words.iter().filter(|w| *w == "long").count();
        let bits = if words.iter().any(|w| w == "char") {
            8
        } else if words.iter().any(|w| w == "short") {
            16
        } else if longs > 0 {
            64
        } else {
            32
        };
        if longs > 2 || (unsigned && words.iter().any(|w| w == "signed")) {
            return Err(Diagnostic::error(self.span_from(start), format!("invalid C type '{}'", words.join(" "))));
        }
        Ok(BaseType::Int { bits, signed: !unsigned })
    }

    // ---- C definitions ----------------------------------------------------

    pub(super) fn parse_c_definition(&mut self) -> PResult<CItem> {
        let item = self.parse_c_type_definition()?;
        self.eat(Punct::Semi)?;
        Ok(item)
    }

    /// `struct|union|enum [name] { ... }` and its attributes.
    pub(super) fn parse_c_type_definition(&mut self) -> PResult<CItem> {
        let start = self.tok.span;
        let keyword = self.tok.ident().unwrap_or_default().to_string();
        self.bump()?;
        let name = self.eat_ident()?.unwrap_or_default();
        let item = if keyword == "enum" {
            CItem::Enum(self.parse_c_enum_body(name, start)?)
        } else {
            CItem::Struct(self.parse_c_struct_body(composite_kind(&keyword), name, start)?)
        };
        self.skip_attributes()?;
        Ok(item)
    }

    pub(super) fn parse_c_struct_body(&mut self, kind: CompositeKind, name: String, start: Span) -> PResult<CStruct> {
        grow(|| self.parse_c_struct_body_inner(kind, name, start))
    }

    fn parse_c_struct_body_inner(&mut self, kind: CompositeKind, name: String, start: Span) -> PResult<CStruct> {
        self.enter()?;
        self.expect(Punct::LBrace, &format!(" to open the {} definition", kind.keyword()))?;
        let mut fields = Vec::new();
        while !self.at(Punct::RBrace) {
            if self.tok.kind == TokenKind::Eof {
                return Err(self.unexpected("'}'"));
            }
            self.parse_c_field(&mut fields)?;
        }
        self.bump()?;
        self.leave();
        Ok(CStruct { kind, name, fields, span: self.span_from(start) })
    }

    fn parse_c_field(&mut self, fields: &mut Vec<CField>) -> PResult<()> {
        let start = self.tok.span;
        while self.at_ident("const") || self.at_ident("volatile") {
            self.bump()?;
        }
        let nested = matches!(self.tok.ident(), Some("struct" | "union"))
            && (self.peek(1)?.is_punct(Punct::LBrace) || self.peek(2)?.is_punct(Punct::LBrace));
        let base: Result<TypeSpec, CStruct> = if nested {
            let kind = composite_kind(self.tok.ident().unwrap_or_default());
            self.bump()?;
            let name = self.eat_ident()?.unwrap_or_default();
            Err(self.parse_c_struct_body(kind, name, start)?)
        } else {
            Ok(self.parse_c_base_type()?)
        };
        if self.eat(Punct::Semi)? {
            // `struct { ... };` as an anonymous member
            match base {
                Err(inner) => fields.push(CField {
                    ty: CFieldType::Anonymous(Box::new(inner), Vec::new()),
                    name: String::new(),
                    bitfield: None,
                    span: self.span_from(start),
                }),
                Ok(_) => return Err(Diagnostic::error(self.span_from(start), "a struct field needs a name")),
            }
            return Ok(());
        }
        loop {
            let decl_start = self.tok.span;
            let (name, suffixes) = self.parse_c_declarator("a field name")?;
            let bitfield = if self.eat(Punct::Colon)? {
                match self.tok.kind {
                    TokenKind::Int(n) if n <= 64 => {
                        self.bump()?;
                        Some(n as u32)
                    }
                    _ => return Err(self.unexpected("a bit-field width")),
                }
            } else {
                None
            };
            let ty = match &base {
                Ok(t) => {
                    let mut t = t.clone();
                    t.suffixes.extend(suffixes);
                    CFieldType::Type(t)
                }
                Err(s) => CFieldType::Anonymous(Box::new(s.clone()), suffixes),
            };
            fields.push(CField { ty, name, bitfield, span: self.span_from(decl_start) });
            if !self.eat(Punct::Comma)? {
                break;
            }
        }
        self.expect(Punct::Semi, " after the field")?;
        Ok(())
    }

    /// A C declarator: pointers, the name, array sizes (`*name[4]`), or a
    /// function pointer `(*name)(params)`. The suffixes apply in order to
    /// the declaration's base type.
    pub(super) fn parse_c_declarator(&mut self, what: &str) -> PResult<(String, Vec<TypeSuffix>)> {
        let mut suffixes = Vec::new();
        while self.eat(Punct::Star)? {
            suffixes.push(TypeSuffix::Pointer);
            while self.at_ident("const") || self.at_ident("volatile") || self.at_ident("restrict") {
                self.bump()?;
            }
        }
        let name = if self.eat(Punct::LParen)? {
            // A function pointer: `ret (*name)(params)`.
            self.expect(Punct::Star, " in a function pointer")?;
            let (name, _) = self.expect_ident("the function pointer's name")?;
            self.expect(Punct::RParen, "")?;
            self.expect(Punct::LParen, " for the parameter list")?;
            self.skip_balanced_parens()?;
            suffixes = vec![TypeSuffix::Pointer];
            name
        } else {
            self.expect_ident(what)?.0
        };
        let mut dims = Vec::new();
        while self.eat(Punct::LBracket)? {
            dims.push(TypeSuffix::Array(Some(self.array_length(&name)?)));
        }
        // C reads `int a[2][3]` inside out: an array of 2 arrays of 3.
        suffixes.extend(dims.into_iter().rev());
        Ok((name, suffixes))
    }

    /// An array's length up to its `]`: a constant expression (`[16]`,
    /// `[NAME_LEN + 1]`), or 0 for a flexible array (`[]`).
    fn array_length(&mut self, name: &str) -> PResult<u64> {
        let start = self.tok.span.start as usize;
        let mut end = start;
        while !self.at(Punct::RBracket) {
            if self.tok.kind == TokenKind::Eof {
                return Err(self.unexpected("']'"));
            }
            end = self.bump()?.span.end as usize;
        }
        let span = Span::new(start, end);
        self.bump()?;
        let text = self.src[span.range()].trim();
        if text.is_empty() {
            return Ok(0);
        }
        crate::preprocess::eval_constant(text, &self.defines).and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
            Diagnostic::error(span, format!("cannot work out the length of array {name}: '{text}'"))
                .with_hint("an array length may use integers, #define constants and C's integer operators")
        })
    }

    /// The type words of a C declaration, before the declarator.
    pub(super) fn parse_c_base_type(&mut self) -> PResult<TypeSpec> {
        let start = self.tok.span;
        let base = match self.tok.ident() {
            Some("float" | "double") => {
                return Err(Diagnostic::error(self.tok.span, "floating point types are not supported by BPF"));
            }
            Some("struct" | "union" | "enum") => {
                let kind = composite_kind(self.tok.ident().unwrap_or_default());
                self.bump()?;
                let (name, _) = self.expect_ident("a type name")?;
                BaseType::Composite { kind, name }
            }
            Some(w) if builtins::C_INT_WORDS.contains(&w) => self.parse_c_int_words()?,
            Some("bool" | "_Bool") => {
                self.bump()?;
                BaseType::Bool
            }
            Some("void") => {
                self.bump()?;
                BaseType::Void
            }
            Some(w) => {
                let w = w.to_string();
                self.bump()?;
                match builtins::c_fixed_int(&w).or_else(|| builtins::int_type(&w)) {
                    Some((bits, signed)) => BaseType::Int { bits, signed },
                    None => BaseType::Named(w),
                }
            }
            None => return Err(self.unexpected("a field type")),
        };
        while self.at_ident("const") || self.at_ident("volatile") {
            self.bump()?;
        }
        Ok(TypeSpec { base, suffixes: Vec::new(), span: self.span_from(start) })
    }

    fn parse_c_enum_body(&mut self, name: String, start: Span) -> PResult<CEnum> {
        self.expect(Punct::LBrace, " to open the enum definition")?;
        let mut variants = Vec::new();
        let mut next = 0i64;
        while !self.at(Punct::RBrace) {
            let (vname, span) = self.expect_ident("an enumerator name")?;
            if self.eat(Punct::Assign)? {
                next = self.enumerator_value(&vname, &variants)?;
            }
            variants.push(CEnumVariant { name: vname, value: next, span });
            next = next.wrapping_add(1);
            if !self.eat(Punct::Comma)? && !self.at(Punct::RBrace) {
                return Err(self.unexpected("',' or '}'"));
            }
        }
        self.bump()?;
        Ok(CEnum { name, variants, span: self.span_from(start) })
    }

    /// An enumerator's `= value`: a C constant expression over integers,
    /// macros and the enum's earlier enumerators (`1 << 3`, `A | B`).
    fn enumerator_value(&mut self, name: &str, earlier: &[CEnumVariant]) -> PResult<i64> {
        let start = self.tok.span;
        let mut depth = 0u32;
        while depth > 0 || !(self.at(Punct::Comma) || self.at(Punct::RBrace)) {
            match self.tok.kind {
                TokenKind::Eof => return Err(self.unexpected("',' or '}'")),
                TokenKind::Punct(Punct::LParen) => depth += 1,
                TokenKind::Punct(Punct::RParen) => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.bump()?;
        }
        let span = self.span_from(start);
        let text = &self.src[span.range()];
        let mut names = self.defines.clone();
        names.extend(earlier.iter().map(|v| (v.name.clone(), v.value.to_string())));
        crate::preprocess::eval_constant(text, &names).ok_or_else(|| {
            Diagnostic::error(span, format!("cannot work out the value of enumerator {name}: '{text}'"))
                .with_hint("an enumerator's value may use integers, #define constants, earlier enumerators and C's integer operators")
        })
    }

    fn skip_balanced_parens(&mut self) -> PResult<()> {
        let mut depth = 1;
        while depth > 0 {
            match self.tok.kind {
                TokenKind::Eof => return Err(self.unexpected("')'")),
                TokenKind::Punct(Punct::LParen) => depth += 1,
                TokenKind::Punct(Punct::RParen) => depth -= 1,
                _ => {}
            }
            self.bump()?;
        }
        Ok(())
    }

    /// `__attribute__((packed))` after a definition.
    pub(super) fn skip_attributes(&mut self) -> PResult<()> {
        while self.at_ident("__attribute__") {
            self.bump()?;
            self.expect(Punct::LParen, " after __attribute__")?;
            self.skip_balanced_parens()?;
        }
        Ok(())
    }
}

pub(super) fn composite_kind(word: &str) -> CompositeKind {
    match word {
        "union" => CompositeKind::Union,
        "enum" => CompositeKind::Enum,
        _ => CompositeKind::Struct,
    }
}
