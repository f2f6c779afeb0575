//! Output in BCC's own formats, for the tools that print what BCC's
//! Python side prints: `print_log2_hist`'s histograms.

use bpfscope::Bucket;

/// BCC's `stars_max`: the widest bar.
const STARS_MAX: usize = 40;

/// A power-of-two histogram as BCC's `print_log2_hist` prints it: a
/// header naming the unit, then one row per power of two from `0 -> 1` to
/// the highest non-empty one, empty rows included. Nothing when every
/// bucket is empty. `buckets` come from a `hist()` map.
pub fn log2_hist(buckets: &[Bucket], val_type: &str) -> String {
    // BCC's slot i holds [2^(i-1), 2^i), with 0 in slot 1 too.
    let mut slots = vec![0u64; 66];
    for b in buckets.iter().filter(|b| b.low >= 0 && b.count > 0) {
        let slot = if b.low <= 1 { 1 } else { 64 - b.low.leading_zeros() as usize };
        slots[slot.min(65)] += b.count;
    }
    let Some(top) = slots.iter().rposition(|&c| c > 0) else { return String::new() };
    let max = slots.iter().copied().max().unwrap_or(0);
    let (wide, stars) = if top <= 32 { (false, STARS_MAX) } else { (true, STARS_MAX / 2) };
    let mut out = if wide {
        format!("               {val_type:<29} : count     distribution\n")
    } else {
        format!("     {val_type:<19} : count     distribution\n")
    };
    for (i, &count) in slots.iter().enumerate().take(top + 1).skip(1) {
        let (mut low, high) = ((1u128 << i) >> 1, (1u128 << i) - 1);
        if low == high {
            low -= 1;
        }
        let bar = bar(count, max, stars);
        if wide {
            out.push_str(&format!("{low:>20} -> {high:<20} : {count:<8} |{bar:<stars$}|\n"));
        } else {
            out.push_str(&format!("{low:>10} -> {high:<10} : {count:<8} |{bar:<stars$}|\n"));
        }
    }
    out
}

/// BCC's `_stars`: `width * val / max` stars, at most `width`.
fn bar(val: u64, max: u64, width: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let n = ((width as f64 * val as f64 / max as f64) as usize).min(width);
    "*".repeat(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(low: i64, count: u64) -> Bucket {
        Bucket { label: String::new(), low, high: None, count }
    }

    /// Values 0, 1, 3, 3 and 100 as BCC prints them.
    #[test]
    fn rows_as_bcc_prints_them() {
        let text = log2_hist(&[bucket(0, 1), bucket(1, 1), bucket(2, 2), bucket(64, 1)], "usecs");
        let expected = "     usecs               : count     distribution
         0 -> 1          : 2        |****************************************|
         2 -> 3          : 2        |****************************************|
         4 -> 7          : 0        |                                        |
         8 -> 15         : 0        |                                        |
        16 -> 31         : 0        |                                        |
        32 -> 63         : 0        |                                        |
        64 -> 127        : 1        |********************                    |
";
        assert_eq!(text, expected);
        assert_eq!(log2_hist(&[], "usecs"), "");
    }
}
