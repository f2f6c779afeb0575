//! Blocks and statements.

use super::{PResult, Parser, grow};
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::token::{Punct, TokenKind};

impl Parser<'_> {
    /// Parses `{ ... }`. With `allow_tail`, a final expression without `;`
    /// becomes the block's value; otherwise it is a statement.
    pub(super) fn parse_block(&mut self, allow_tail: bool) -> PResult<Block> {
        grow(|| self.parse_block_inner(allow_tail))
    }

    fn parse_block_inner(&mut self, allow_tail: bool) -> PResult<Block> {
        self.enter()?;
        let start = self.expect(Punct::LBrace, "")?;
        let mut stmts = Vec::new();
        let mut tail = None;
        while !self.at(Punct::RBrace) {
            if self.tok.kind == TokenKind::Eof {
                return Err(self.unexpected("'}'"));
            }
            if self.eat(Punct::Semi)? {
                continue;
            }
            let (stmt, needs_semi) = self.parse_stmt()?;
            if self.eat(Punct::Semi)? {
                stmts.push(stmt);
                continue;
            }
            if self.at(Punct::RBrace) {
                match stmt.kind {
                    StmtKind::Expr(e) if allow_tail => tail = Some(Box::new(e)),
                    kind => stmts.push(Stmt { kind, span: stmt.span }),
                }
                break;
            }
            if needs_semi {
                return Err(self.unexpected("';'"));
            }
            stmts.push(stmt);
        }
        self.bump()?;
        self.leave();
        Ok(Block { stmts, tail, span: self.span_from(start) })
    }

    /// Parses one statement; says whether it needs a `;` after it
    /// (statements ending in a block do not).
    fn parse_stmt(&mut self) -> PResult<(Stmt, bool)> {
        let start = self.tok.span;
        let keyword = self.tok.ident().map(str::to_string);
        let (kind, needs_semi) = match keyword.as_deref() {
            Some("if") => (StmtKind::Expr(self.parse_if()?), false),
            Some("while") => {
                self.bump()?;
                let cond = self.parse_expr()?;
                let body = self.parse_block(false)?;
                (StmtKind::While { cond, body }, false)
            }
            Some("unroll") => {
                self.bump()?;
                let count = self.parse_expr()?;
                let body = self.parse_block(false)?;
                (StmtKind::Unroll { count, body }, false)
            }
            Some("for") => (self.parse_for()?, false),
            Some("break") => {
                self.bump()?;
                (StmtKind::Break, true)
            }
            Some("continue") => {
                self.bump()?;
                (StmtKind::Continue, true)
            }
            Some("return") => {
                self.bump()?;
                let value =
                    if self.at(Punct::Semi) || self.at(Punct::RBrace) { None } else { Some(self.parse_expr()?) };
                (StmtKind::Return(value), true)
            }
            Some("let") if matches!(self.peek(1)?.kind, TokenKind::Var(_)) => (self.parse_let()?, true),
            Some("import") if matches!(self.peek(1)?.kind, TokenKind::Str(_)) => {
                self.bump()?;
                let TokenKind::Str(path) = self.bump()?.kind else { unreachable!("peeked a string") };
                let path = String::from_utf8_lossy(&path).into_owned();
                (StmtKind::Import(Import { path, span: self.span_from(start) }), true)
            }
            Some("_") if self.peek(1)?.is_punct(Punct::Assign) => {
                self.bump()?;
                self.bump()?;
                (StmtKind::Discard(self.parse_expr()?), true)
            }
            _ if self.at(Punct::LBrace) => {
                let block = self.parse_block(true)?;
                let span = block.span;
                (StmtKind::Expr(Expr::new(ExprKind::Block(block), span)), false)
            }
            _ => (self.parse_expr_or_assign()?, true),
        };
        Ok((Stmt { kind, span: self.span_from(start) }, needs_semi))
    }

    fn parse_expr_or_assign(&mut self) -> PResult<StmtKind> {
        let lhs = self.parse_expr()?;
        let op = match &self.tok.kind {
            TokenKind::Punct(Punct::Assign) => None,
            TokenKind::Punct(p) => match compound_op(*p) {
                Some(op) => Some(op),
                None => return Ok(StmtKind::Expr(lhs)),
            },
            _ => return Ok(StmtKind::Expr(lhs)),
        };
        if !matches!(lhs.kind, ExprKind::Var(_) | ExprKind::Map(_)) {
            return Err(Diagnostic::error(
                lhs.span,
                "can only assign to a scratch variable ($x) or a map (@m, @m[key])",
            ));
        }
        self.bump()?;
        let value = self.parse_expr()?;
        Ok(StmtKind::Assign { target: lhs, op, value })
    }

    fn parse_let(&mut self) -> PResult<StmtKind> {
        self.bump()?;
        let name_span = self.tok.span;
        let TokenKind::Var(name) = self.bump()?.kind else { unreachable!("peeked a variable") };
        let ty = if self.eat(Punct::Colon)? { Some(self.parse_type()?) } else { None };
        let value = if self.eat(Punct::Assign)? { Some(self.parse_expr()?) } else { None };
        Ok(StmtKind::Let { name, name_span, ty, value })
    }

    fn parse_for(&mut self) -> PResult<StmtKind> {
        self.bump()?;
        let paren = self.eat(Punct::LParen)?;
        let var_span = self.tok.span;
        let var = match &self.tok.kind {
            TokenKind::Var(v) => v.clone(),
            _ => return Err(self.unexpected("a scratch variable ($x)")),
        };
        self.bump()?;
        self.expect(Punct::Colon, " after the loop variable")?;
        let first = self.parse_unary()?;
        let iter = if self.eat(Punct::DotDot)? {
            let end = self.parse_unary()?;
            ForIter::Range { start: first, end }
        } else if matches!(first.kind, ExprKind::Map(MapRef { keys: None, .. })) {
            ForIter::Map(first)
        } else {
            return Err(Diagnostic::error(first.span, "a for loop iterates over a map (@m) or a range (start..end)"));
        };
        if paren {
            self.expect(Punct::RParen, " to close the for header")?;
        }
        let body = self.parse_block(false)?;
        Ok(StmtKind::For { var, var_span, iter, body })
    }
}

fn compound_op(p: Punct) -> Option<BinOp> {
    Some(match p {
        Punct::PlusAssign => BinOp::Add,
        Punct::MinusAssign => BinOp::Sub,
        Punct::StarAssign => BinOp::Mul,
        Punct::SlashAssign => BinOp::Div,
        Punct::PercentAssign => BinOp::Mod,
        Punct::AmpAssign => BinOp::BitAnd,
        Punct::PipeAssign => BinOp::BitOr,
        Punct::CaretAssign => BinOp::BitXor,
        Punct::ShlAssign => BinOp::Shl,
        Punct::ShrAssign => BinOp::Shr,
        _ => return None,
    })
}
