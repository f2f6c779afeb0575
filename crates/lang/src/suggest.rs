//! "Did you mean ...?" suggestions by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo. Cheap on long lists (the kernel's 60k functions) and long words:
/// a candidate whose length alone puts it too far is skipped, and the
/// table stops as soon as a row passes the limit.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word: Vec<char> = word.chars().collect();
    let limit = (word.len() / 3).max(1);
    let mut other = Vec::new();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        other.clear();
        other.extend(c.chars());
        // Each edit changes the length by one at most.
        if other.len().abs_diff(word.len()) > limit || other == word {
            continue;
        }
        let Some(d) = bounded_distance(&word, &other, limit) else { continue };
        if best.is_none_or(|(bd, bc)| (d, c.len()) < (bd, bc.len())) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent swap as one edit.
pub fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    bounded_distance(&a, &b, usize::MAX).unwrap_or(usize::MAX)
}

/// The distance if it is at most `limit`. Three rows of the table are kept
/// (a swap looks two back); a row's smallest cell never shrinks further
/// down, so once it passes the limit the answer is known to be None.
fn bounded_distance(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut last: Vec<usize> = (0..width).collect();
    let mut row: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        if row.iter().min().is_some_and(|&m| m > limit) {
            return None;
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    Some(last[b.len()]).filter(|&d| d <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_only() {
        assert_eq!(closest("kprboe", ["kprobe", "uprobe", "k"]), Some("kprobe"));
        assert_eq!(closest("pirntf", ["printf", "print"]), Some("printf"));
        assert_eq!(closest("xyz", ["kprobe", "uprobe"]), None);
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("ca", "abc"), 3);
        // The nearest, and of equals the shorter.
        assert_eq!(closest("vfs_reed", ["vfs_read", "vfs_readv", "vfs_write"]), Some("vfs_read"));
        assert_eq!(closest("vfs_rea", ["vfs_readv", "vfs_read"]), Some("vfs_read"));
    }

    /// A long word against many candidates stays quick: the fuzzer found a
    /// 200-character kprobe name that took seconds against the kernel's
    /// function list (the input is in fuzz/regressions).
    #[test]
    fn long_words_against_many_candidates() {
        let word = "x".repeat(200);
        let candidates: Vec<String> = (0..100_000).map(|i| format!("function_{i}")).collect();
        assert_eq!(closest(&word, candidates.iter().map(String::as_str)), None);
        let near = format!("{}y", "x".repeat(199));
        assert_eq!(closest(&word, [near.as_str()]), Some(near.as_str()));
    }
}
