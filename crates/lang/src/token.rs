//! Tokens of the bpftrace language.

use std::fmt;

use crate::source::Span;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An identifier or keyword; the parser decides which.
    Ident(String),
    Int(u64),
    /// A string literal's bytes, escapes resolved (may be non-UTF-8).
    Str(Vec<u8>),
    /// `'a'`: a character literal, an integer.
    Char(u8),
    /// `$name` (the name without `$`).
    Var(String),
    /// `$1`, `$2`, ...
    Param(u64),
    /// `$#`
    ParamCount,
    /// `@name`, or `@` alone (empty name).
    Map(String),
    Punct(Punct),
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Punct {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Semi,
    Comma,
    Colon,
    Dot,
    DotDot,
    Arrow,
    Question,
    Assign,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Shl,
    Shr,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Bang,
    Tilde,
    AndAnd,
    OrOr,
    PlusPlus,
    MinusMinus,
    PlusAssign,
    MinusAssign,
    StarAssign,
    SlashAssign,
    PercentAssign,
    AmpAssign,
    PipeAssign,
    CaretAssign,
    ShlAssign,
    ShrAssign,
    /// `#`: only valid at the start of a preprocessor line.
    Hash,
}

impl Punct {
    pub fn as_str(self) -> &'static str {
        use Punct::*;
        match self {
            LBrace => "{",
            RBrace => "}",
            LParen => "(",
            RParen => ")",
            LBracket => "[",
            RBracket => "]",
            Semi => ";",
            Comma => ",",
            Colon => ":",
            Dot => ".",
            DotDot => "..",
            Arrow => "->",
            Question => "?",
            Assign => "=",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Shl => "<<",
            Shr => ">>",
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            Percent => "%",
            Amp => "&",
            Pipe => "|",
            Caret => "^",
            Bang => "!",
            Tilde => "~",
            AndAnd => "&&",
            OrOr => "||",
            PlusPlus => "++",
            MinusMinus => "--",
            PlusAssign => "+=",
            MinusAssign => "-=",
            StarAssign => "*=",
            SlashAssign => "/=",
            PercentAssign => "%=",
            AmpAssign => "&=",
            PipeAssign => "|=",
            CaretAssign => "^=",
            ShlAssign => "<<=",
            ShrAssign => ">>=",
            Hash => "#",
        }
    }

    /// Operators ordered longest first, so that matching the first prefix
    /// that fits gives maximal munch.
    pub(crate) const BY_LENGTH: &'static [Punct] = {
        use Punct::*;
        &[
            ShlAssign,
            ShrAssign,
            DotDot,
            Arrow,
            Eq,
            Ne,
            Le,
            Ge,
            Shl,
            Shr,
            AndAnd,
            OrOr,
            PlusPlus,
            MinusMinus,
            PlusAssign,
            MinusAssign,
            StarAssign,
            SlashAssign,
            PercentAssign,
            AmpAssign,
            PipeAssign,
            CaretAssign,
            LBrace,
            RBrace,
            LParen,
            RParen,
            LBracket,
            RBracket,
            Semi,
            Comma,
            Colon,
            Dot,
            Question,
            Assign,
            Lt,
            Gt,
            Plus,
            Minus,
            Star,
            Slash,
            Percent,
            Amp,
            Pipe,
            Caret,
            Bang,
            Tilde,
            Hash,
        ]
    };
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

impl Token {
    pub fn is_punct(&self, p: Punct) -> bool {
        self.kind == TokenKind::Punct(p)
    }

    pub fn is_ident(&self, name: &str) -> bool {
        matches!(&self.kind, TokenKind::Ident(s) if s == name)
    }

    pub fn ident(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Ident(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Ident(s) => write!(f, "{s}"),
            TokenKind::Int(n) => write!(f, "{n}"),
            TokenKind::Str(_) => write!(f, "string"),
            TokenKind::Char(_) => write!(f, "character"),
            TokenKind::Var(s) => write!(f, "${s}"),
            TokenKind::Param(n) => write!(f, "${n}"),
            TokenKind::ParamCount => write!(f, "$#"),
            TokenKind::Map(s) => write!(f, "@{s}"),
            TokenKind::Punct(p) => write!(f, "{}", p.as_str()),
            TokenKind::Eof => write!(f, "end of file"),
        }
    }
}
