//! The lexer: turns text at a byte position into the next token.
//!
//! It is position-based rather than a stream, so the parser can look ahead
//! and back up cheaply, and can switch to the raw scans that the language
//! needs in a few places (attach points, preprocessor lines).

use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::token::{Punct, Token, TokenKind};

pub type LexResult<T> = Result<T, Diagnostic>;

pub fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

pub fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Skips white space and comments from `pos`; returns the next position.
pub fn skip_trivia(src: &str, mut pos: usize) -> LexResult<usize> {
    let b = src.as_bytes();
    loop {
        while pos < b.len() && b[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if b[pos..].starts_with(b"//") {
            pos = memchr(b'\n', b, pos).unwrap_or(b.len());
        } else if b[pos..].starts_with(b"/*") {
            match find(b, pos + 2, b"*/") {
                Some(end) => pos = end + 2,
                None => return Err(Diagnostic::error(Span::new(pos, pos + 2), "unterminated comment")),
            }
        } else {
            return Ok(pos);
        }
    }
}

fn memchr(needle: u8, hay: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.iter().position(|&c| c == needle).map(|i| i + from)
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// Lexes the token that starts at `pos` or after trivia following it.
pub fn lex(src: &str, pos: usize) -> LexResult<Token> {
    let start = skip_trivia(src, pos)?;
    let b = src.as_bytes();
    let Some(&c) = b.get(start) else {
        return Ok(Token { kind: TokenKind::Eof, span: Span::new(src.len(), src.len()) });
    };
    let (kind, end) = match c {
        c if is_ident_start(c) => {
            let end = ident_end(b, start);
            (TokenKind::Ident(src[start..end].to_string()), end)
        }
        b'0'..=b'9' => lex_number(src, start)?,
        b'"' => lex_string(src, start)?,
        b'\'' => lex_char(src, start)?,
        b'$' => lex_dollar(src, start)?,
        b'@' => {
            let end =
                if b.get(start + 1).is_some_and(|&c| is_ident_start(c)) { ident_end(b, start + 1) } else { start + 1 };
            (TokenKind::Map(src[start + 1..end].to_string()), end)
        }
        _ => match Punct::BY_LENGTH.iter().find(|p| b[start..].starts_with(p.as_str().as_bytes())) {
            Some(&p) => (TokenKind::Punct(p), start + p.as_str().len()),
            None => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(Diagnostic::error(
                    Span::new(start, start + ch.len_utf8()),
                    format!("invalid character '{ch}'"),
                ));
            }
        },
    };
    Ok(Token { kind, span: Span::new(start, end) })
}

pub fn ident_end(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && is_ident_char(b[pos]) {
        pos += 1;
    }
    pos
}

fn lex_dollar(src: &str, start: usize) -> LexResult<(TokenKind, usize)> {
    let b = src.as_bytes();
    match b.get(start + 1) {
        Some(b'#') => Ok((TokenKind::ParamCount, start + 2)),
        Some(c) if c.is_ascii_digit() => {
            let mut end = start + 1;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            match src[start + 1..end].parse() {
                Ok(n) => Ok((TokenKind::Param(n), end)),
                Err(_) => Err(Diagnostic::error(Span::new(start, end), "positional parameter number is too large")),
            }
        }
        Some(&c) if is_ident_start(c) => {
            let end = ident_end(b, start + 1);
            Ok((TokenKind::Var(src[start + 1..end].to_string()), end))
        }
        _ => Err(Diagnostic::error(Span::new(start, start + 1), "expected a variable name after '$'")
            .with_hint("scratch variables look like $name, positional parameters like $1")),
    }
}

/// The C integer suffixes bpftrace accepts (they do not change the type) and
/// the duration suffixes, with their multiplier to nanoseconds.
const SUFFIXES: &[(&str, u64)] = &[
    ("ull", 1),
    ("llu", 1),
    ("ul", 1),
    ("lu", 1),
    ("ll", 1),
    ("u", 1),
    ("l", 1),
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

fn lex_number(src: &str, start: usize) -> LexResult<(TokenKind, usize)> {
    let b = src.as_bytes();
    let mut pos = start;
    let value: Option<u64>;
    if b[start] == b'0' && matches!(b.get(start + 1), Some(b'x' | b'X')) {
        pos += 2;
        let digits_start = pos;
        while pos < b.len() && b[pos].is_ascii_hexdigit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err(Diagnostic::error(Span::new(start, pos), "hexadecimal literal has no digits"));
        }
        value = u64::from_str_radix(&src[digits_start..pos], 16).ok();
    } else {
        while pos < b.len() && (b[pos].is_ascii_digit() || b[pos] == b'_') {
            pos += 1;
        }
        let mantissa_text = &src[start..pos];
        if mantissa_text.ends_with('_') || mantissa_text.contains("__") {
            return Err(Diagnostic::error(Span::new(start, pos), "misplaced '_' in integer literal")
                .with_hint("'_' may only separate digits, as in 1_000_000"));
        }
        let digits: String = mantissa_text.chars().filter(|&c| c != '_').collect();
        let has_exponent = matches!(b.get(pos), Some(b'e' | b'E')) && b.get(pos + 1).is_some_and(u8::is_ascii_digit);
        if has_exponent {
            let exp_start = pos + 1;
            pos = exp_start;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            let exp: u32 = src[exp_start..pos].parse().unwrap_or(u32::MAX);
            value = digits.parse::<u64>().ok().and_then(|m| 10u64.checked_pow(exp).and_then(|p| m.checked_mul(p)));
        } else if digits.len() > 1 && digits.starts_with('0') {
            if digits.bytes().any(|c| c > b'7') {
                return Err(Diagnostic::error(Span::new(start, pos), format!("invalid octal literal '{digits}'"))
                    .with_hint("integers with a leading 0 are octal; drop the 0 for decimal"));
            }
            value = u64::from_str_radix(&digits, 8).ok();
        } else {
            value = digits.parse().ok();
        }
    }
    let mut multiplier = 1u64;
    let suffix_end = ident_end(b, pos);
    if suffix_end > pos {
        let suffix = src[pos..suffix_end].to_ascii_lowercase();
        match SUFFIXES.iter().find(|(s, _)| *s == suffix) {
            Some(&(_, m)) => multiplier = m,
            None => {
                return Err(Diagnostic::error(
                    Span::new(start, suffix_end),
                    format!("invalid suffix '{}' on integer literal", &src[pos..suffix_end]),
                ));
            }
        }
        pos = suffix_end;
    }
    match value.and_then(|v| v.checked_mul(multiplier)) {
        Some(v) => Ok((TokenKind::Int(v), pos)),
        None => Err(Diagnostic::error(
            Span::new(start, pos),
            "integer literal is too large (the largest is 18446744073709551615)",
        )),
    }
}

/// Reads one (possibly escaped) byte of a string or character literal at
/// `pos`; returns the byte and the position after it.
fn lex_escape(src: &str, pos: usize) -> LexResult<(u8, usize)> {
    let b = src.as_bytes();
    let Some(&c) = b.get(pos + 1) else {
        return Err(Diagnostic::error(Span::new(pos, pos + 1), "unterminated string"));
    };
    let simple = match c {
        b'n' => Some(b'\n'),
        b't' => Some(b'\t'),
        b'r' => Some(b'\r'),
        b'"' => Some(b'"'),
        b'\'' => Some(b'\''),
        b'\\' => Some(b'\\'),
        _ => None,
    };
    if let Some(v) = simple {
        return Ok((v, pos + 2));
    }
    if (b'0'..=b'7').contains(&c) {
        let mut end = pos + 1;
        while end < b.len() && end < pos + 4 && (b'0'..=b'7').contains(&b[end]) {
            end += 1;
        }
        let v = u32::from_str_radix(&src[pos + 1..end], 8).unwrap_or(u32::MAX);
        return match u8::try_from(v) {
            Ok(v) => Ok((v, end)),
            Err(_) => Err(Diagnostic::error(
                Span::new(pos, end),
                format!("octal escape sequence out of range '{}'", &src[pos..end]),
            )),
        };
    }
    if c == b'x' || c == b'X' {
        let mut end = pos + 2;
        while end < b.len() && end < pos + 4 && b[end].is_ascii_hexdigit() {
            end += 1;
        }
        if end == pos + 2 {
            return Err(Diagnostic::error(Span::new(pos, end), "\\x escape sequence has no hexadecimal digits"));
        }
        let v = u8::from_str_radix(&src[pos + 2..end], 16).unwrap_or(0);
        return Ok((v, end));
    }
    let ch = src[pos + 1..].chars().next().unwrap_or('?');
    Err(Diagnostic::error(Span::new(pos, pos + 1 + ch.len_utf8()), format!("invalid escape character '\\{ch}'"))
        .with_hint("the escapes are \\n \\t \\r \\\" \\\\ \\NNN (octal) and \\xNN (hex)"))
}

fn lex_string(src: &str, start: usize) -> LexResult<(TokenKind, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut pos = start + 1;
    loop {
        match b.get(pos) {
            None | Some(b'\n') => return Err(Diagnostic::error(Span::new(start, pos), "unterminated string")),
            Some(b'"') => return Ok((TokenKind::Str(out), pos + 1)),
            Some(b'\\') => {
                let (v, next) = lex_escape(src, pos)?;
                out.push(v);
                pos = next;
            }
            Some(&c) => {
                out.push(c);
                pos += 1;
            }
        }
    }
}

fn lex_char(src: &str, start: usize) -> LexResult<(TokenKind, usize)> {
    let b = src.as_bytes();
    let (value, next) = match b.get(start + 1) {
        Some(b'\\') => lex_escape(src, start + 1)?,
        Some(&c) if c != b'\'' && c != b'\n' && c.is_ascii() => (c, start + 2),
        _ => return Err(Diagnostic::error(Span::new(start, start + 1), "invalid character literal")),
    };
    if b.get(next) != Some(&b'\'') {
        return Err(Diagnostic::error(Span::new(start, next), "unterminated character literal")
            .with_hint("a character literal holds one ASCII character, as in 'a' or '\\n'"));
    }
    Ok((TokenKind::Char(value), next + 1))
}

/// The end of a preprocessor line that starts at `pos` (a `#`), following
/// `\` line continuations. The newline itself is not included.
pub fn scan_line(src: &str, pos: usize) -> usize {
    let b = src.as_bytes();
    let mut end = pos;
    loop {
        match memchr(b'\n', b, end) {
            Some(nl) if nl > 0 && b[nl - 1] == b'\\' => end = nl + 1,
            Some(nl) => return nl,
            None => return b.len(),
        }
    }
}

/// The end of the attach point that starts at `pos`.
///
/// An attach point is raw text (paths, wildcards, `+offset`, quoted names)
/// that ends at white space, at a `,` or `{` that separates it from the next
/// attach point or the body, or at a `/` opening a predicate before any `:`.
/// A `{a,b}` group with no white space in it is a brace expansion and part of
/// the attach point.
pub fn scan_attach_point(src: &str, pos: usize) -> usize {
    let b = src.as_bytes();
    let mut i = pos;
    let mut seen_colon = false;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_whitespace() => break,
            b',' => break,
            b'{' => match brace_expansion_end(b, i) {
                Some(end) => i = end,
                None => break,
            },
            b'/' if matches!(b.get(i + 1), Some(b'/' | b'*')) => break,
            b'/' if !seen_colon && i > pos => break,
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
            }
            c => {
                seen_colon |= c == b':';
                i += 1;
            }
        }
    }
    i.min(b.len())
}

/// If `{` at `open` starts a brace expansion like `{open,openat}`, the
/// position after its `}`.
fn brace_expansion_end(b: &[u8], open: usize) -> Option<usize> {
    let close = memchr(b'}', b, open)?;
    let inner = &b[open + 1..close];
    let plain = inner.iter().all(|&c| is_ident_char(c) || matches!(c, b',' | b'*' | b'.' | b'-' | b'+'));
    (plain && inner.contains(&b',')).then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            let t = lex(src, pos).expect("lexes");
            if t.kind == TokenKind::Eof {
                return out;
            }
            pos = t.span.end as usize;
            out.push(t.kind);
        }
    }

    fn err(src: &str) -> String {
        let mut pos = 0;
        loop {
            match lex(src, pos) {
                Ok(t) if t.kind == TokenKind::Eof => panic!("no error in {src:?}"),
                Ok(t) => pos = t.span.end as usize,
                Err(d) => return d.message,
            }
        }
    }

    #[test]
    fn integers_in_every_notation() {
        use TokenKind::Int;
        assert_eq!(
            kinds("10 0x1F 0X10 017 1_000_000 2e3 1e6 123UL 5u 7LL"),
            vec![
                Int(10),
                Int(31),
                Int(16),
                Int(15),
                Int(1_000_000),
                Int(2000),
                Int(1_000_000),
                Int(123),
                Int(5),
                Int(7)
            ]
        );
        assert_eq!(
            kinds("1ns 2us 3ms 1s 1m 1h 1d"),
            vec![
                Int(1),
                Int(2_000),
                Int(3_000_000),
                Int(1_000_000_000),
                Int(60_000_000_000),
                Int(3_600_000_000_000),
                Int(86_400_000_000_000)
            ]
        );
        assert_eq!(kinds("18446744073709551615"), vec![Int(u64::MAX)]);
    }

    #[test]
    fn bad_integers_are_errors() {
        assert_eq!(err("18446744073709551616"), "integer literal is too large (the largest is 18446744073709551615)");
        assert_eq!(err("09"), "invalid octal literal '09'");
        assert_eq!(err("1_"), "misplaced '_' in integer literal");
        assert_eq!(err("12abc"), "invalid suffix 'abc' on integer literal");
        assert_eq!(err("0x"), "hexadecimal literal has no digits");
        assert_eq!(err("1e30"), "integer literal is too large (the largest is 18446744073709551615)");
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(kinds(r#""a\n\t\"\\\101\x41\0""#), vec![TokenKind::Str(b"a\n\t\"\\AA\0".to_vec())]);
        assert_eq!(kinds(r"'a' '\n'"), vec![TokenKind::Char(b'a'), TokenKind::Char(b'\n')]);
        assert_eq!(err(r#""abc"#), "unterminated string");
        assert_eq!(err("\"ab\ncd\""), "unterminated string");
        assert_eq!(err(r#""\q""#), "invalid escape character '\\q'");
        assert_eq!(err(r#""\777""#), "octal escape sequence out of range '\\777'");
    }

    #[test]
    fn sigils_and_operators() {
        use crate::token::Punct::*;
        use TokenKind::*;
        assert_eq!(
            kinds("$x $1 $# @ @m <<= >> .. -> ++ != ?"),
            vec![
                Var("x".into()),
                Param(1),
                ParamCount,
                Map(String::new()),
                Map("m".into()),
                TokenKind::Punct(ShlAssign),
                TokenKind::Punct(Shr),
                TokenKind::Punct(DotDot),
                TokenKind::Punct(Arrow),
                TokenKind::Punct(PlusPlus),
                TokenKind::Punct(Ne),
                TokenKind::Punct(Question)
            ]
        );
        assert_eq!(err("$ x"), "expected a variable name after '$'");
        assert_eq!(err("`"), "invalid character '`'");
    }

    #[test]
    fn comments_are_trivia() {
        assert_eq!(kinds("a // b\n/* c \n d */ e"), vec![TokenKind::Ident("a".into()), TokenKind::Ident("e".into())]);
        assert_eq!(err("a /* b"), "unterminated comment");
    }

    #[test]
    fn attach_points_end_where_bpftrace_ends_them() {
        fn ap(s: &str) -> &str {
            &s[..scan_attach_point(s, 0)]
        }
        assert_eq!(ap("kprobe:vfs_read{"), "kprobe:vfs_read");
        assert_eq!(ap("uprobe:/bin/bash:readline /arg0/ {"), "uprobe:/bin/bash:readline");
        assert_eq!(ap("t:syscalls:sys_enter_{open,openat} {"), "t:syscalls:sys_enter_{open,openat}");
        assert_eq!(ap("k:f{ @[probe] = count(); }"), "k:f");
        assert_eq!(ap("BEGIN/1/{"), "BEGIN");
        assert_eq!(ap("k:a,k:b"), "k:a");
        assert_eq!(ap(r#"u:"/a b/c":"f(char const*)" {"#), r#"u:"/a b/c":"f(char const*)""#);
        assert_eq!(ap("kprobe:lookup_fast.constprop.*\n{"), "kprobe:lookup_fast.constprop.*");
    }
}
