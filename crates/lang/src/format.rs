//! printf-style format strings: the checker validates them against their
//! arguments; the runtime formats events with the same parsed pieces.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// `%d`, `%i`
    Signed,
    /// `%u`
    Unsigned,
    /// `%o`
    Octal,
    /// `%x`
    Hex,
    /// `%X`
    HexUpper,
    /// `%c`
    Char,
    /// `%s`
    Str,
    /// `%p`
    Pointer,
    /// `%r`: a buffer, non-printable bytes as `\xNN`
    Buffer,
    /// `%rh`: a buffer as hex bytes separated by spaces
    BufferHex,
    /// `%rx`: a buffer as `\xNN` for every byte
    BufferEscaped,
    /// `%gr`: GFP flags by name
    GfpFlags,
}

impl Conversion {
    /// What an argument of this conversion must be, for messages.
    pub fn expects(self) -> &'static str {
        match self {
            Conversion::Str => "any value",
            Conversion::Buffer | Conversion::BufferHex | Conversion::BufferEscaped => "buffer",
            _ => "integer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The conversion as written, for messages (`%-8s`).
    pub text: String,
    pub left_align: bool,
    pub zero_pad: bool,
    pub plus: bool,
    pub space: bool,
    pub alternate: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// The integer width the length modifier gives, as C's printf reads
    /// the argument: 8 (`hh`), 16 (`h`), 32 (none) or 64 (`l`, `ll`, `j`,
    /// `z`, `t`).
    pub int_bits: u8,
    pub conversion: Conversion,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Literal(Vec<u8>),
    Spec(Spec),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub message: String,
}

/// Splits a format string into literal text and conversions.
pub fn parse_format(fmt: &[u8]) -> Result<Vec<Piece>, FormatError> {
    let mut pieces = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            lit.push(fmt[i]);
            i += 1;
            continue;
        }
        if fmt.get(i + 1) == Some(&b'%') {
            lit.push(b'%');
            i += 2;
            continue;
        }
        let start = i;
        i += 1;
        let mut spec = Spec {
            text: String::new(),
            left_align: false,
            zero_pad: false,
            plus: false,
            space: false,
            alternate: false,
            width: None,
            precision: None,
            int_bits: 32,
            conversion: Conversion::Str,
        };
        while let Some(&c) = fmt.get(i) {
            match c {
                b'-' => spec.left_align = true,
                b'0' => spec.zero_pad = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'#' => spec.alternate = true,
                _ => break,
            }
            i += 1;
        }
        spec.width = digits(fmt, &mut i);
        if fmt.get(i) == Some(&b'.') {
            i += 1;
            spec.precision = Some(digits(fmt, &mut i).unwrap_or(0));
        }
        let mods_start = i;
        while matches!(fmt.get(i), Some(b'h' | b'l' | b'j' | b'z' | b't' | b'L')) {
            i += 1;
        }
        spec.int_bits = match &fmt[mods_start..i] {
            b"" => 32,
            b"h" => 16,
            b"hh" => 8,
            _ => 64,
        };
        let conv = match (fmt.get(i), fmt.get(i + 1)) {
            (Some(b'r'), Some(b'h')) => (Conversion::BufferHex, 2),
            (Some(b'r'), Some(b'x')) => (Conversion::BufferEscaped, 2),
            (Some(b'g'), Some(b'r')) => (Conversion::GfpFlags, 2),
            (Some(b'r'), _) => (Conversion::Buffer, 1),
            (Some(b'd' | b'i'), _) => (Conversion::Signed, 1),
            (Some(b'u'), _) => (Conversion::Unsigned, 1),
            (Some(b'o'), _) => (Conversion::Octal, 1),
            (Some(b'x'), _) => (Conversion::Hex, 1),
            (Some(b'X'), _) => (Conversion::HexUpper, 1),
            (Some(b'c'), _) => (Conversion::Char, 1),
            (Some(b's'), _) => (Conversion::Str, 1),
            (Some(b'p'), _) => (Conversion::Pointer, 1),
            (None, _) => {
                return Err(FormatError {
                    message: format!("incomplete conversion '{}' at the end", String::from_utf8_lossy(&fmt[start..])),
                });
            }
            (Some(_), _) => {
                let end = (i + 1).min(fmt.len());
                return Err(FormatError {
                    message: format!("invalid conversion '{}'", String::from_utf8_lossy(&fmt[start..end])),
                });
            }
        };
        spec.conversion = conv.0;
        i += conv.1;
        spec.text = String::from_utf8_lossy(&fmt[start..i]).into_owned();
        if !lit.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut lit)));
        }
        pieces.push(Piece::Spec(spec));
    }
    if !lit.is_empty() {
        pieces.push(Piece::Literal(lit));
    }
    Ok(pieces)
}

fn digits(fmt: &[u8], i: &mut usize) -> Option<usize> {
    let start = *i;
    while fmt.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    std::str::from_utf8(&fmt[start..*i]).ok()?.parse().ok()
}

/// The conversions of a parsed format, in order.
pub fn specs(pieces: &[Piece]) -> impl Iterator<Item = &Spec> {
    pieces.iter().filter_map(|p| match p {
        Piece::Spec(s) => Some(s),
        Piece::Literal(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convs(f: &str) -> Vec<(String, Conversion)> {
        specs(&parse_format(f.as_bytes()).expect("parses")).map(|s| (s.text.clone(), s.conversion)).collect()
    }

    #[test]
    fn every_specifier() {
        use Conversion::*;
        assert_eq!(
            convs("%d %i %u %x %X %o %s %c %p %lu %llu %-8s %08d %r %rh %rx %gr %5.2s"),
            vec![
                ("%d".to_string(), Signed),
                ("%i".to_string(), Signed),
                ("%u".to_string(), Unsigned),
                ("%x".to_string(), Hex),
                ("%X".to_string(), HexUpper),
                ("%o".to_string(), Octal),
                ("%s".to_string(), Str),
                ("%c".to_string(), Char),
                ("%p".to_string(), Pointer),
                ("%lu".to_string(), Unsigned),
                ("%llu".to_string(), Unsigned),
                ("%-8s".to_string(), Str),
                ("%08d".to_string(), Signed),
                ("%r".to_string(), Buffer),
                ("%rh".to_string(), BufferHex),
                ("%rx".to_string(), BufferEscaped),
                ("%gr".to_string(), GfpFlags),
                ("%5.2s".to_string(), Str),
            ]
        );
        let p = parse_format(b"%-8s|%08d").expect("parses");
        let Piece::Spec(s) = &p[0] else { panic!() };
        assert!(s.left_align && s.width == Some(8));
        let Piece::Spec(d) = &p[2] else { panic!() };
        assert!(d.zero_pad && d.width == Some(8));
        let bits: Vec<u8> =
            specs(&parse_format(b"%d %hd %hhu %ld %llx %zu").expect("parses")).map(|s| s.int_bits).collect();
        assert_eq!(bits, vec![32, 16, 8, 64, 64, 64]);
    }

    #[test]
    fn literals_and_errors() {
        assert_eq!(parse_format(b"100%% done").expect("parses"), vec![Piece::Literal(b"100% done".to_vec())]);
        assert_eq!(parse_format(b"%q").expect_err("bad").message, "invalid conversion '%q'");
        assert_eq!(parse_format(b"abc %").expect_err("bad").message, "incomplete conversion '%' at the end");
    }
}
