//! Line-end conversion between maildir files (LF) and IMAP's canonical form (CRLF).

use std::borrow::Cow;

/// Bare LF -> CRLF; existing CRLF kept; a lone CR kept. Borrowed when already canonical.
pub fn canonical(raw: &[u8]) -> Cow<'_, [u8]> {
    let bare = count_bare_lf(raw);
    if bare == 0 {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    let mut prev = 0u8;
    let mut start = 0;
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && prev != b'\r' {
            out.extend_from_slice(&raw[start..i]);
            out.extend_from_slice(b"\r\n");
            start = i + 1;
        }
        prev = b;
    }
    out.extend_from_slice(&raw[start..]);
    Cow::Owned(out)
}

fn count_bare_lf(raw: &[u8]) -> usize {
    let mut n = 0;
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            n += 1;
        }
        prev = b;
    }
    n
}

/// Length `canonical(raw)` would have, without allocating (RFC822.SIZE).
pub fn canonical_len(raw: &[u8]) -> u64 {
    raw.len() as u64 + count_bare_lf(raw) as u64
}

/// A maildir file as Debian's imapd serves it: every LF becomes CRLF, even one that
/// already follows a CR (a file stored with CRLF line ends is sent with CR CR LF, and its
/// RFC822.SIZE counts both CRs). Borrowed when `raw` holds no LF. Use this, not
/// [`canonical`], for message files read from a maildir to match Courier byte for byte.
pub fn from_maildir(raw: &[u8]) -> Cow<'_, [u8]> {
    let lfs = raw.iter().filter(|&&b| b == b'\n').count();
    if lfs == 0 {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + lfs);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        match line.strip_suffix(b"\n") {
            Some(l) => {
                out.extend_from_slice(l);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(line),
        }
    }
    Cow::Owned(out)
}

/// Length [`from_maildir`] would return, without allocating (RFC822.SIZE as Courier
/// computes it).
pub fn from_maildir_len(raw: &[u8]) -> u64 {
    raw.len() as u64 + raw.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Offset just past the header's terminating empty line in raw bytes (LF or CRLF), or
/// None if the header is not terminated within `raw` (read more, or it is header-only).
///
/// A message that starts with an empty line has an empty header: the result is the
/// length of that line.
pub fn header_end(raw: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    while line_start < raw.len() {
        let nl = raw[line_start..].iter().position(|&b| b == b'\n')? + line_start;
        let content = &raw[line_start..nl];
        if content.is_empty() || content == b"\r" {
            return Some(nl + 1);
        }
        line_start = nl + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_converts_only_bare_lf() {
        assert_eq!(&*canonical(b"a\nb\r\nc\rd\n"), b"a\r\nb\r\nc\rd\r\n");
        assert!(matches!(canonical(b"a\r\nb"), Cow::Borrowed(_)));
        assert_eq!(&*canonical(b"\n\n"), b"\r\n\r\n");
        assert_eq!(&*canonical(b""), b"");
    }

    #[test]
    fn canonical_len_matches() {
        for s in [&b"a\nb\r\nc\rd\n"[..], b"", b"\n", b"\r", b"\r\r\n\n"] {
            assert_eq!(canonical_len(s), canonical(s).len() as u64);
        }
    }

    #[test]
    fn maildir_conversion_like_courier() {
        assert_eq!(&*from_maildir(b"a\nb\r\n"), b"a\r\nb\r\r\n");
        assert!(matches!(from_maildir(b"abc"), Cow::Borrowed(_)));
        assert_eq!(from_maildir_len(b"a\nb\r\n"), 7);
    }

    #[test]
    fn header_end_finds_blank_line() {
        assert_eq!(header_end(b"A: b\n\nbody"), Some(6));
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), Some(8));
        assert_eq!(header_end(b"\nbody"), Some(1));
        assert_eq!(header_end(b"A: b\nC: d\n"), None);
        assert_eq!(header_end(b""), None);
    }
}
