//! Sequence sets (RFC 3501 `sequence-set`): `1`, `2:4`, `*`, `5:*`, comma lists.
//!
//! `*` is kept symbolic ([`STAR`]) until [`SeqSet::resolve`] replaces it with the
//! largest number in use, so one parsed set serves both message numbers and UIDs.

/// The value `*` stands for until it is resolved.
pub const STAR: u64 = u64::MAX;

/// A parsed sequence set: inclusive ranges as written (unordered, `*` = [`STAR`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqSet {
    /// Ranges as written; each `(a, b)` may have `a > b` (`4:2` means `2:4`).
    /// Numbers are at most `u32::MAX`; `*` is [`STAR`].
    pub ranges: Vec<(u64, u64)>,
}

/// A resolved set: sorted, merged, non-overlapping inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Resolved {
    /// Sorted disjoint ranges.
    pub ranges: Vec<(u32, u32)>,
}

impl SeqSet {
    /// Parses `sequence-set`. Numbers are 0..=4294967294 (`0` is kept so the server
    /// can answer "Invalid message sequence number: 0" like Courier).
    pub fn parse(s: &[u8]) -> Option<SeqSet> {
        if s.is_empty() {
            return None;
        }
        let mut ranges = Vec::new();
        for item in s.split(|&c| c == b',') {
            let mut it = item.splitn(2, |&c| c == b':');
            let a = num(it.next()?)?;
            let b = match it.next() {
                Some(b) => num(b)?,
                None => a,
            };
            ranges.push((a, b));
        }
        Some(SeqSet { ranges })
    }

    /// Whether the set mentions `*`.
    pub fn has_star(&self) -> bool {
        self.ranges.iter().any(|&(a, b)| a == STAR || b == STAR)
    }

    /// Replaces `*` by `max` and sorts and merges the ranges. With `max == 0` (an
    /// empty mailbox) `*` stands for nothing... except as RFC 3501 asks for `N:*`,
    /// which then covers `max..=N`; callers filter against what exists.
    pub fn resolve(&self, max: u32) -> Resolved {
        let max = u64::from(max);
        let mut v: Vec<(u32, u32)> = self
            .ranges
            .iter()
            .filter_map(|&(a, b)| {
                let a = if a == STAR { max } else { a };
                let b = if b == STAR { max } else { b };
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                if hi == 0 {
                    None
                } else {
                    // Both fit: parsed numbers and `max` are at most u32::MAX.
                    Some((lo.max(1) as u32, hi as u32))
                }
            })
            .collect();
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Resolved { ranges: out }
    }
}

impl Resolved {
    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        self.ranges
            .binary_search_by(|&(a, b)| {
                if b < n {
                    std::cmp::Ordering::Less
                } else if a > n {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// The largest member, if any.
    pub fn max(&self) -> Option<u32> {
        self.ranges.last().map(|r| r.1)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

fn num(s: &[u8]) -> Option<u64> {
    if s == b"*" {
        return Some(STAR);
    }
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    if v > u64::from(u32::MAX) {
        return None;
    }
    Some(v)
}

/// Writes `ranges` (sorted) compactly: `1:3,7,9:10`.
pub fn format_ranges(values: &[u32], out: &mut Vec<u8>) {
    let mut i = 0;
    let mut first = true;
    while i < values.len() {
        let start = values[i];
        let mut end = start;
        while i + 1 < values.len() && values[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = values[i];
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(start.to_string().as_bytes());
        if end != start {
            out.push(b':');
            out.extend_from_slice(end.to_string().as_bytes());
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        let s = SeqSet::parse(b"1:3,7,5:*").unwrap();
        let r = s.resolve(10);
        assert_eq!(r.ranges, vec![(1, 3), (5, 10)]);
        assert!(r.contains(2) && !r.contains(4) && r.contains(10) && !r.contains(11));
        let r = SeqSet::parse(b"4:2").unwrap().resolve(10);
        assert_eq!(r.ranges, vec![(2, 4)]);
    }

    #[test]
    fn refuses_bad_sets() {
        for bad in [
            &b""[..],
            b"1:",
            b",",
            b"1,,2",
            b"a",
            b"99999999999",
            b"-1",
            b"4294967296",
        ] {
            assert!(SeqSet::parse(bad).is_none(), "{:?}", bad);
        }
    }

    #[test]
    fn the_largest_number_is_not_star() {
        let r = SeqSet::parse(b"4294967295").unwrap();
        assert!(!r.has_star());
        assert_eq!(r.resolve(10).ranges, vec![(4294967295, 4294967295)]);
        assert_eq!(
            SeqSet::parse(b"1:4294967295").unwrap().resolve(3).ranges,
            vec![(1, 4294967295)]
        );
    }

    #[test]
    fn star_on_empty_mailbox_is_empty() {
        assert!(SeqSet::parse(b"1:*").unwrap().resolve(0).ranges == vec![(1, 1)]);
        assert!(SeqSet::parse(b"*").unwrap().resolve(0).is_empty());
    }

    #[test]
    fn long_sets_are_fine() {
        let mut s = Vec::new();
        for i in 1..200_000u32 {
            if i > 1 {
                s.push(b',');
            }
            s.extend_from_slice((i * 2).to_string().as_bytes());
        }
        let r = SeqSet::parse(&s).unwrap().resolve(1_000_000);
        assert_eq!(r.ranges.len(), 199_999);
        assert!(r.contains(4000) && !r.contains(4001));
    }

    #[test]
    fn formats_compactly() {
        let mut out = Vec::new();
        format_ranges(&[1, 2, 3, 7, 9, 10], &mut out);
        assert_eq!(out, b"1:3,7,9:10");
    }
}
