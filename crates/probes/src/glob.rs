//! Attach-point wildcards: `*` matches any run of characters and `{a,b}`
//! any of the alternatives.

/// Whether `pattern` contains wildcards.
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains('*') || pattern.contains('{')
}

/// The alternatives of the first `{a,b}` group, expanded recursively.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else { return vec![pattern.to_string()] };
    let Some(close) = pattern[open..].find('}').map(|c| open + c) else { return vec![pattern.to_string()] };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    pattern[open + 1..close].split(',').flat_map(|alt| expand_braces(&format!("{head}{alt}{tail}"))).collect()
}

/// Whether `text` matches `pattern` (`*` wildcards and `{a,b}` groups).
pub fn matches(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

/// A pattern with its braces expanded once, for matching many names.
pub struct Glob {
    alternatives: Vec<String>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob { alternatives: expand_braces(pattern) }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.matches_bytes(text.as_bytes())
    }

    pub fn matches_bytes(&self, text: &[u8]) -> bool {
        self.alternatives.iter().any(|p| star_match(p.as_bytes(), text))
    }
}

fn star_match(p: &[u8], t: &[u8]) -> bool {
    // Iterative matching with backtracking to the last star.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_braces() {
        assert!(matches("vfs_*", "vfs_read"));
        assert!(matches("*read*", "vfs_readv"));
        assert!(!matches("vfs_*", "do_vfs"));
        assert!(matches("sys_enter_{open,openat}", "sys_enter_openat"));
        assert!(!matches("sys_enter_{open,openat}", "sys_enter_openat2"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert_eq!(expand_braces("x{a,b}y{1,2}"), vec!["xay1", "xay2", "xby1", "xby2"]);
    }
}
