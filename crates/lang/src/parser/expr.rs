//! Expressions: precedence climbing over C's binary operators, then unary,
//! postfix and primary forms.

use super::{PResult, Parser, grow};
use crate::ast::*;
use crate::builtins;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::token::{Punct, TokenKind};

fn binop(p: Punct) -> Option<BinOp> {
    Some(match p {
        Punct::OrOr => BinOp::Or,
        Punct::AndAnd => BinOp::And,
        Punct::Pipe => BinOp::BitOr,
        Punct::Caret => BinOp::BitXor,
        Punct::Amp => BinOp::BitAnd,
        Punct::Eq => BinOp::Eq,
        Punct::Ne => BinOp::Ne,
        Punct::Lt => BinOp::Lt,
        Punct::Le => BinOp::Le,
        Punct::Gt => BinOp::Gt,
        Punct::Ge => BinOp::Ge,
        Punct::Shl => BinOp::Shl,
        Punct::Shr => BinOp::Shr,
        Punct::Plus => BinOp::Add,
        Punct::Minus => BinOp::Sub,
        Punct::Star => BinOp::Mul,
        Punct::Slash => BinOp::Div,
        Punct::Percent => BinOp::Mod,
        _ => return None,
    })
}

impl Parser<'_> {
    pub(super) fn parse_expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = grow(|| self.parse_ternary(false));
        self.leave();
        e
    }

    /// A predicate's expression: a `/` followed by `{` closes it rather
    /// than dividing.
    pub(super) fn parse_predicate(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.parse_ternary(true);
        self.leave();
        e
    }

    fn parse_ternary(&mut self, pred: bool) -> PResult<Expr> {
        let cond = self.parse_binary(1, pred)?;
        if !self.eat(Punct::Question)? {
            return Ok(cond);
        }
        self.enter()?;
        let then = if self.eat(Punct::Colon)? {
            None
        } else {
            let t = self.parse_ternary(pred)?;
            self.expect(Punct::Colon, " in the conditional expression")?;
            Some(Box::new(t))
        };
        let otherwise = self.parse_ternary(pred)?;
        self.leave();
        let span = cond.span.to(otherwise.span);
        Ok(Expr::new(ExprKind::Ternary { cond: Box::new(cond), then, otherwise: Box::new(otherwise) }, span))
    }

    fn parse_binary(&mut self, min_prec: u8, pred: bool) -> PResult<Expr> {
        let mut lhs = self.parse_unary()?;
        while let TokenKind::Punct(p) = self.tok.kind {
            let Some(op) = binop(p) else { break };
            if op.precedence() < min_prec {
                break;
            }
            if pred
                && op == BinOp::Div
                && matches!(self.peek(1)?.kind, TokenKind::Punct(Punct::LBrace) | TokenKind::Eof)
            {
                break;
            }
            self.bump()?;
            self.enter()?;
            let rhs = self.parse_binary(op.precedence() + 1, pred)?;
            self.leave();
            let span = lhs.span.to(rhs.span);
            lhs = Expr::new(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span);
        }
        Ok(lhs)
    }

    pub(super) fn parse_unary(&mut self) -> PResult<Expr> {
        grow(|| self.parse_unary_inner())
    }

    fn parse_unary_inner(&mut self) -> PResult<Expr> {
        let start = self.tok.span;
        let op = match self.tok.kind {
            TokenKind::Punct(Punct::Minus) => Some(UnaryOp::Neg),
            TokenKind::Punct(Punct::Bang) => Some(UnaryOp::Not),
            TokenKind::Punct(Punct::Tilde) => Some(UnaryOp::BitNot),
            TokenKind::Punct(Punct::Star) => Some(UnaryOp::Deref),
            TokenKind::Punct(Punct::Amp) => Some(UnaryOp::AddrOf),
            TokenKind::Punct(p @ (Punct::PlusPlus | Punct::MinusMinus)) => {
                self.bump()?;
                self.enter()?;
                let target = self.parse_unary()?;
                self.leave();
                let span = start.to(target.span);
                return Ok(Expr::new(
                    ExprKind::IncDec { target: Box::new(target), inc: p == Punct::PlusPlus, prefix: true },
                    span,
                ));
            }
            _ => None,
        };
        let Some(op) = op else {
            return self.parse_postfix();
        };
        self.bump()?;
        self.enter()?;
        let expr = self.parse_unary()?;
        self.leave();
        let span = start.to(expr.span);
        Ok(Expr::new(ExprKind::Unary { op, expr: Box::new(expr) }, span))
    }

    fn parse_postfix(&mut self) -> PResult<Expr> {
        let mut e = self.parse_primary()?;
        loop {
            match self.tok.kind {
                TokenKind::Punct(p @ (Punct::Dot | Punct::Arrow)) => {
                    self.bump()?;
                    let field_span = self.tok.span;
                    match self.tok.kind.clone() {
                        TokenKind::Ident(field) => {
                            self.bump()?;
                            let span = e.span.to(field_span);
                            e = Expr::new(
                                ExprKind::Field { base: Box::new(e), field, field_span, arrow: p == Punct::Arrow },
                                span,
                            );
                        }
                        TokenKind::Int(index) if p == Punct::Dot => {
                            self.bump()?;
                            let span = e.span.to(field_span);
                            e = Expr::new(ExprKind::TupleIndex { base: Box::new(e), index }, span);
                        }
                        _ => return Err(self.unexpected("a field name")),
                    }
                }
                TokenKind::Punct(Punct::LBracket) => {
                    self.bump()?;
                    let index = self.parse_expr()?;
                    let end = self.expect(Punct::RBracket, " to close the index")?;
                    let span = e.span.to(end);
                    e = Expr::new(ExprKind::Index { base: Box::new(e), index: Box::new(index) }, span);
                }
                TokenKind::Punct(p @ (Punct::PlusPlus | Punct::MinusMinus)) => {
                    let end = self.bump()?.span;
                    let span = e.span.to(end);
                    e = Expr::new(
                        ExprKind::IncDec { target: Box::new(e), inc: p == Punct::PlusPlus, prefix: false },
                        span,
                    );
                }
                _ => return Ok(e),
            }
        }
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let start = self.tok.span;
        let kind = match self.tok.kind.clone() {
            TokenKind::Int(n) => {
                self.bump()?;
                ExprKind::Int(n)
            }
            TokenKind::Char(c) => {
                self.bump()?;
                ExprKind::Int(u64::from(c))
            }
            TokenKind::Str(s) => {
                self.bump()?;
                ExprKind::Str(s)
            }
            TokenKind::Var(v) => {
                self.bump()?;
                ExprKind::Var(v)
            }
            TokenKind::Param(n) => {
                self.bump()?;
                ExprKind::Param(n)
            }
            TokenKind::ParamCount => {
                self.bump()?;
                ExprKind::ParamCount
            }
            TokenKind::Map(name) => {
                self.bump()?;
                let keys = if self.eat(Punct::LBracket)? {
                    if self.at(Punct::RBracket) {
                        return Err(self.unexpected("a map key"));
                    }
                    let keys = self.parse_expr_list(Punct::RBracket)?;
                    self.bump()?;
                    Some(keys)
                } else {
                    None
                };
                ExprKind::Map(MapRef { name, name_span: start, keys })
            }
            TokenKind::Punct(Punct::LParen) => return self.parse_paren(),
            TokenKind::Punct(Punct::LBrace) => ExprKind::Block(self.parse_block(true)?),
            TokenKind::Ident(name) => return self.parse_ident_expr(name),
            _ => return Err(self.unexpected("an expression")),
        };
        Ok(Expr::new(kind, self.span_from(start)))
    }

    /// Comma-separated expressions up to (not including) `close`.
    fn parse_expr_list(&mut self, close: Punct) -> PResult<Vec<Expr>> {
        let mut items = Vec::new();
        while !self.at(close) {
            items.push(self.parse_expr()?);
            if !self.eat(Punct::Comma)? && !self.at(close) {
                return Err(self.unexpected(&format!("',' or '{}'", close.as_str())));
            }
        }
        Ok(items)
    }

    fn parse_ident_expr(&mut self, name: String) -> PResult<Expr> {
        let start = self.tok.span;
        match name.as_str() {
            "if" => return self.parse_if(),
            "true" | "false" => {
                self.bump()?;
                return Ok(Expr::new(ExprKind::Bool(name == "true"), start));
            }
            "sizeof" | "typeinfo" => {
                self.bump()?;
                self.expect(Punct::LParen, &format!(" after {name}"))?;
                let arg = Box::new(self.parse_type_or_expr()?);
                self.expect(Punct::RParen, "")?;
                let kind = if name == "sizeof" { ExprKind::Sizeof(arg) } else { ExprKind::Typeinfo(arg) };
                return Ok(Expr::new(kind, self.span_from(start)));
            }
            "offsetof" => return self.parse_offsetof(),
            // A type where a value goes: `typeof(...)`, and `struct S` as
            // container_of()'s argument.
            "typeof" | "struct" | "union" => {
                let ty = self.parse_type()?;
                return Ok(Expr::new(ExprKind::TypeArg(ty), self.span_from(start)));
            }
            "comptime" => {
                self.bump()?;
                let e = self.parse_unary()?;
                return Ok(Expr::new(ExprKind::Comptime(Box::new(e)), self.span_from(start)));
            }
            // `config.NAME` reads a config variable.
            "config" if self.peek(1)?.is_punct(Punct::Dot) => {}
            kw if builtins::KEYWORDS.contains(&kw) => {
                return Err(Diagnostic::error(
                    start,
                    format!("syntax error: unexpected keyword '{kw}', expected an expression"),
                ));
            }
            _ => {}
        }
        self.bump()?;
        let bang = self.at(Punct::Bang) && self.peek(1)?.is_punct(Punct::LParen);
        if bang {
            self.bump()?;
        }
        if self.eat(Punct::LParen)? {
            let args = self.parse_expr_list(Punct::RParen)?;
            self.bump()?;
            let call = Call { name, name_span: start, args, bang };
            return Ok(Expr::new(ExprKind::Call(call), self.span_from(start)));
        }
        Ok(Expr::new(ExprKind::Ident(name), start))
    }

    pub(super) fn parse_if(&mut self) -> PResult<Expr> {
        let start = self.bump()?.span;
        self.enter()?;
        let cond = self.parse_expr()?;
        if !self.at(Punct::LBrace) {
            return Err(self.unexpected("'{' after the if condition"));
        }
        let then = self.parse_block(true)?;
        let otherwise = if self.at_ident("else") {
            self.bump()?;
            if self.at_ident("if") {
                Some(Box::new(self.parse_if()?))
            } else if self.at(Punct::LBrace) {
                let b = self.parse_block(true)?;
                let span = b.span;
                Some(Box::new(Expr::new(ExprKind::Block(b), span)))
            } else {
                return Err(self.unexpected("'{' or 'if' after else"));
            }
        } else {
            None
        };
        self.leave();
        Ok(Expr::new(ExprKind::If(IfExpr { cond: Box::new(cond), then, otherwise }), self.span_from(start)))
    }

    fn parse_offsetof(&mut self) -> PResult<Expr> {
        let start = self.bump()?.span;
        self.expect(Punct::LParen, " after offsetof")?;
        let target = Box::new(self.parse_type_or_expr()?);
        self.expect(Punct::Comma, " and a field name")?;
        let mut fields = vec![self.expect_ident("a field name")?.0];
        while self.eat(Punct::Dot)? {
            fields.push(self.expect_ident("a field name")?.0);
        }
        self.expect(Punct::RParen, "")?;
        Ok(Expr::new(ExprKind::Offsetof { target, fields }, self.span_from(start)))
    }

    /// `(`: an empty tuple, a record, a cast, a tuple or a parenthesised
    /// expression.
    fn parse_paren(&mut self) -> PResult<Expr> {
        let start = self.bump()?.span;
        self.enter()?;
        let result = grow(|| self.parse_paren_inner(start));
        self.leave();
        result
    }

    fn parse_paren_inner(&mut self, start: Span) -> PResult<Expr> {
        if self.eat(Punct::RParen)? {
            return Ok(Expr::new(ExprKind::Tuple(Vec::new()), self.span_from(start)));
        }
        if self.tok.ident().is_some() && self.peek(1)?.is_punct(Punct::Assign) {
            return self.parse_record(start);
        }
        let saved = self.save();
        if let Some(ty) = self.try_parse_type()?
            && self.at(Punct::RParen)
        {
            let after = self.peek(1)?;
            if self.is_definite_type(&ty) || (!self.names_a_value(&ty) && starts_operand(&after.kind)) {
                self.bump()?;
                let operand = self.parse_unary()?;
                let span = start.to(operand.span);
                return Ok(Expr::new(ExprKind::Cast { ty, expr: Box::new(operand) }, span));
            }
        }
        self.restore(saved);
        let first = self.parse_expr()?;
        if self.eat(Punct::RParen)? {
            return Ok(first);
        }
        if !self.at(Punct::Comma) {
            return Err(self.unexpected("')' or ','"));
        }
        let mut items = vec![first];
        while self.eat(Punct::Comma)? {
            if self.at(Punct::RParen) {
                break;
            }
            items.push(self.parse_expr()?);
        }
        self.expect(Punct::RParen, " to close the tuple")?;
        Ok(Expr::new(ExprKind::Tuple(items), self.span_from(start)))
    }

    fn parse_record(&mut self, start: Span) -> PResult<Expr> {
        let mut fields = Vec::new();
        loop {
            let (name, name_span) = self.expect_ident("a record field name")?;
            self.expect(Punct::Assign, " after the record field name")?;
            let value = self.parse_expr()?;
            fields.push(RecordField { name, name_span, value });
            if !self.eat(Punct::Comma)? || self.at(Punct::RParen) {
                break;
            }
        }
        self.expect(Punct::RParen, " to close the record")?;
        Ok(Expr::new(ExprKind::Record(fields), self.span_from(start)))
    }

    /// A type written with a keyword, or with a pointer, is certainly a type.
    fn is_definite_type(&self, ty: &TypeSpec) -> bool {
        !matches!(ty.base, BaseType::Named(_)) || ty.suffixes.contains(&TypeSuffix::Pointer)
    }

    /// `(pid)`, `(MY_DEFINE)`: a bare name that is a value, not a type.
    fn names_a_value(&self, ty: &TypeSpec) -> bool {
        match &ty.base {
            BaseType::Named(n) => builtins::is_builtin_variable(n) || self.defines.contains_key(n),
            _ => false,
        }
    }

    /// In `sizeof`, `offsetof`, `typeinfo`: a type if it parses as one (a
    /// bare name is a type), otherwise an expression.
    pub(super) fn parse_type_or_expr(&mut self) -> PResult<TypeOrExpr> {
        let saved = self.save();
        if let Some(ty) = self.try_parse_type()?
            && (self.at(Punct::RParen) || self.at(Punct::Comma))
            && !self.names_a_value(&ty)
        {
            return Ok(TypeOrExpr::Type(ty));
        }
        self.restore(saved);
        Ok(TypeOrExpr::Expr(self.parse_expr()?))
    }
}

/// Tokens that can begin the operand of a cast: `(name)` followed by one of
/// these is a cast to `name`.
fn starts_operand(kind: &TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Ident(_)
            | TokenKind::Int(_)
            | TokenKind::Str(_)
            | TokenKind::Char(_)
            | TokenKind::Var(_)
            | TokenKind::Param(_)
            | TokenKind::ParamCount
            | TokenKind::Map(_)
            | TokenKind::Punct(
                Punct::LParen | Punct::Bang | Punct::Tilde | Punct::Star | Punct::PlusPlus | Punct::MinusMinus
            )
    )
}
