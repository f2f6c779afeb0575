//! The C preprocessor lines bpftrace scripts use at their top: `#include`,
//! `#define`, `#undef`, and conditionals (`#if`, `#ifdef`, `#ifndef`,
//! `#elif`, `#else`, `#endif`) with integer expressions and `defined`.
//!
//! bpftrace hands these to clang; scripts in the wild use them to pick
//! between header and BTF builds (`#ifndef BPFTRACE_HAVE_BTF`) and to name
//! constants (`#define AF_INET 2`). That is what this module supports.

use std::collections::HashMap;

use crate::ast::Define;
use crate::diagnostic::Diagnostic;
use crate::lexer::{ident_end, is_ident_char, is_ident_start};
use crate::source::Span;

#[derive(Debug)]
pub enum Directive {
    If(String),
    Elif(String),
    Else,
    Endif,
    Include(String),
    Define(Define),
    Undef(String),
    Error(String),
    /// `#pragma`, `#warning`, `#line`: accepted and ignored.
    Ignored,
}

/// Parses one directive line (starting at `#`, spanning `span`).
pub fn parse_directive(line: &str, span: Span) -> Result<Directive, Diagnostic> {
    let text = line.replace("\\\n", " ");
    let body = text[1..].trim_start();
    let name_len = ident_end(body.as_bytes(), 0);
    let (name, rest) = body.split_at(name_len);
    let rest_trimmed = strip_comments(rest).trim().to_string();
    let needs_name = |what: &str| -> Result<String, Diagnostic> {
        let n = ident_end(rest_trimmed.as_bytes(), 0);
        if n == 0 || !is_ident_start(rest_trimmed.as_bytes()[0]) {
            return Err(Diagnostic::error(span, format!("#{what} needs a macro name")));
        }
        Ok(rest_trimmed[..n].to_string())
    };
    Ok(match name {
        "include" => {
            let path = rest_trimmed.trim_matches(|c| matches!(c, '<' | '>' | '"')).to_string();
            if path.is_empty() {
                return Err(Diagnostic::error(span, "#include needs a file name, as in #include <linux/sched.h>"));
            }
            Directive::Include(path)
        }
        "define" => Directive::Define(parse_define(line, rest, span)?),
        "undef" => Directive::Undef(needs_name("undef")?),
        "ifdef" => Directive::If(format!("defined({})", needs_name("ifdef")?)),
        "ifndef" => Directive::If(format!("!defined({})", needs_name("ifndef")?)),
        "if" => Directive::If(rest_trimmed),
        "elif" => Directive::Elif(rest_trimmed),
        "else" => Directive::Else,
        "endif" => Directive::Endif,
        "error" => Directive::Error(rest_trimmed),
        "pragma" | "warning" | "line" => Directive::Ignored,
        _ => {
            return Err(Diagnostic::error(span, format!("unknown preprocessor directive '#{name}'")).with_hint(
                "bpfscope understands #include, #define, #undef, #if, #ifdef, #ifndef, #elif, #else and #endif",
            ));
        }
    })
}

fn parse_define(line: &str, rest: &str, span: Span) -> Result<Define, Diagnostic> {
    // Offsets below are into `line`, which starts at span.start.
    let rest_off = line.len() - rest.len();
    let b = line.as_bytes();
    let mut i = rest_off;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let name_end = ident_end(b, i);
    if name_end == i || !is_ident_start(b[i]) {
        return Err(Diagnostic::error(span, "#define needs a macro name"));
    }
    let name = line[i..name_end].to_string();
    let mut j = name_end;
    let params = if b.get(j) == Some(&b'(') {
        let close = line[j..]
            .find(')')
            .map(|k| j + k)
            .ok_or_else(|| Diagnostic::error(span, "unterminated macro parameter list"))?;
        let list: Vec<String> =
            line[j + 1..close].split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        j = close + 1;
        Some(list)
    } else {
        None
    };
    let body_raw = strip_comments(&line[j..]);
    let lead = body_raw.len() - body_raw.trim_start().len();
    let body = body_raw.trim().to_string();
    let body_start = span.start as usize + j + lead;
    Ok(Define { name, params, body_span: Span::new(body_start, body_start + body.len()), body, span })
}

/// Drops `/* ... */` and `// ...` comments from a directive's text.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                out.push_str(&rest[..b]);
                match rest[b + 2..].find("*/") {
                    Some(e) => rest = &rest[b + 2 + e + 2..],
                    None => return out,
                }
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                return out;
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// Evaluates an `#if` expression: integers, `defined`, macro names (their
/// values, or 0), and C's arithmetic, comparison and logical operators.
pub fn eval_condition(text: &str, defines: &HashMap<String, String>, span: Span) -> Result<bool, Diagnostic> {
    let tokens =
        tokenize(text).ok_or_else(|| Diagnostic::error(span, format!("cannot evaluate #if expression '{text}'")))?;
    let mut e = Eval { tokens, pos: 0, defines, depth: 0, strict: false };
    let v = e.expr(0).ok_or_else(|| Diagnostic::error(span, format!("cannot evaluate #if expression '{text}'")))?;
    if e.pos != e.tokens.len() {
        return Err(Diagnostic::error(span, format!("cannot evaluate #if expression '{text}'")));
    }
    Ok(v != 0)
}

/// Evaluates a C integer constant expression (an enumerator's value):
/// integers, macro names and C's operators. `None` if a name is not a
/// macro or the expression is not constant.
pub fn eval_constant(text: &str, defines: &HashMap<String, String>) -> Option<i64> {
    let mut e = Eval { tokens: tokenize(text)?, pos: 0, defines, depth: 0, strict: true };
    let v = e.expr(0)?;
    (e.pos == e.tokens.len()).then_some(v)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "(", ")", "!", "~", "<", ">", "+", "-", "*", "/", "%", "&", "|",
    "^", "?", ":",
];

fn tokenize(text: &str) -> Option<Vec<Tok>> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while j < b.len() && is_ident_char(b[j]) {
                j += 1;
            }
            let lit = text[i..j].trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(h) = lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
                i64::from_str_radix(h, 16).ok()?
            } else if lit.len() > 1 && lit.starts_with('0') {
                i64::from_str_radix(lit, 8).ok()?
            } else {
                lit.parse().ok()?
            };
            out.push(Tok::Num(v));
            i = j;
        } else if is_ident_start(c) {
            let j = ident_end(b, i);
            out.push(Tok::Name(text[i..j].to_string()));
            i = j;
        } else {
            let op = OPS.iter().find(|op| text[i..].starts_with(**op))?;
            out.push(Tok::Op(op));
            i += op.len();
        }
    }
    Some(out)
}

struct Eval<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    defines: &'a HashMap<String, String>,
    depth: u32,
    /// An unknown name is an error (in `#if`, it is 0).
    strict: bool,
}

fn binary_precedence(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 1,
        "&&" => 2,
        "|" => 3,
        "^" => 4,
        "&" => 5,
        "==" | "!=" => 6,
        "<" | ">" | "<=" | ">=" => 7,
        "<<" | ">>" => 8,
        "+" | "-" => 9,
        "*" | "/" | "%" => 10,
        _ => return None,
    })
}

impl Eval<'_> {
    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some(Tok::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn expr(&mut self, min: u8) -> Option<i64> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.peek_op() {
            if op == "?" && min == 0 {
                self.pos += 1;
                let a = self.expr(0)?;
                if self.peek_op() != Some(":") {
                    return None;
                }
                self.pos += 1;
                let b = self.expr(0)?;
                lhs = if lhs != 0 { a } else { b };
                continue;
            }
            let Some(prec) = binary_precedence(op) else { break };
            if prec < min.max(1) {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(prec + 1)?;
            lhs = match op {
                "||" => i64::from(lhs != 0 || rhs != 0),
                "&&" => i64::from(lhs != 0 && rhs != 0),
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => i64::from(lhs == rhs),
                "!=" => i64::from(lhs != rhs),
                "<" => i64::from(lhs < rhs),
                ">" => i64::from(lhs > rhs),
                "<=" => i64::from(lhs <= rhs),
                ">=" => i64::from(lhs >= rhs),
                "<<" => lhs.checked_shl(u32::try_from(rhs).ok()?)?,
                ">>" => lhs.checked_shr(u32::try_from(rhs).ok()?)?,
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                "/" => lhs.checked_div(rhs)?,
                "%" => lhs.checked_rem(rhs)?,
                _ => return None,
            };
        }
        Some(lhs)
    }

    fn unary(&mut self) -> Option<i64> {
        let tok = self.tokens.get(self.pos)?.clone();
        self.pos += 1;
        match tok {
            Tok::Num(n) => Some(n),
            Tok::Op("!") => Some(i64::from(self.unary()? == 0)),
            Tok::Op("~") => Some(!self.unary()?),
            Tok::Op("-") => Some(self.unary()?.wrapping_neg()),
            Tok::Op("+") => self.unary(),
            Tok::Op("(") => {
                let v = self.expr(0)?;
                (self.tokens.get(self.pos) == Some(&Tok::Op(")"))).then(|| self.pos += 1)?;
                Some(v)
            }
            Tok::Name(n) if n == "defined" => {
                let paren = self.tokens.get(self.pos) == Some(&Tok::Op("("));
                self.pos += usize::from(paren);
                let Some(Tok::Name(name)) = self.tokens.get(self.pos).cloned() else { return None };
                self.pos += 1;
                if paren {
                    (self.tokens.get(self.pos) == Some(&Tok::Op(")"))).then(|| self.pos += 1)?;
                }
                Some(i64::from(self.defines.contains_key(&name)))
            }
            Tok::Name(n) => {
                let Some(body) = self.defines.get(&n) else { return (!self.strict).then_some(0) };
                if self.depth > 16 || body.trim().is_empty() {
                    return (!self.strict).then_some(0);
                }
                let tokens = tokenize(body)?;
                let mut inner =
                    Eval { tokens, pos: 0, defines: self.defines, depth: self.depth + 1, strict: self.strict };
                let v = inner.expr(0)?;
                (inner.pos == inner.tokens.len()).then_some(v)
            }
            Tok::Op(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, defs: &[(&str, &str)]) -> bool {
        let defines = defs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        eval_condition(text, &defines, Span::default()).expect("evaluates")
    }

    #[test]
    fn conditions() {
        assert!(eval("defined(X)", &[("X", "")]));
        assert!(!eval("defined X && 0", &[("X", "")]));
        assert!(eval("VERSION >= 3 || 0", &[("VERSION", "0x3")]));
        assert!(eval("!UNDEFINED", &[]));
        assert!(eval("(1 + 2) * 3 == 9 ? 1 : 0", &[]));
    }

    #[test]
    fn directives() {
        let d = parse_directive("#define AF_INET   2 /* IPv4 */", Span::new(10, 40)).expect("parses");
        let Directive::Define(def) = d else { panic!("not a define") };
        assert_eq!((def.name.as_str(), def.body.as_str()), ("AF_INET", "2"));
        assert_eq!(def.body_span, Span::new(28, 29));
        assert!(
            matches!(parse_directive("#include <linux/sched.h>", Span::default()), Ok(Directive::Include(p)) if p == "linux/sched.h")
        );
        assert!(
            matches!(parse_directive("#ifndef BPFTRACE_HAVE_BTF", Span::default()), Ok(Directive::If(c)) if c == "!defined(BPFTRACE_HAVE_BTF)")
        );
        let e = parse_directive("#frobnicate", Span::default()).expect_err("unknown");
        assert_eq!(e.message, "unknown preprocessor directive '#frobnicate'");
    }
}
