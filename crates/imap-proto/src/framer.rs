//! Where a command ends.
//!
//! A command is one line, or a line ending in a literal announcement `{n}` (or the
//! non-synchronising `{n+}`, RFC 7888), then `n` raw bytes, then more line. The
//! reader in imapd keeps the whole command in one flat buffer: every line with its
//! CRLF, every literal's bytes right after the line announcing it; the parser walks
//! the same grammar and so knows where each literal's bytes are. Literal bytes are
//! never looked at for line ends.

/// Limits the reader enforces before reading anything it would refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest command (all lines and in-memory literals together).
    pub max_command: usize,
    /// Largest literal kept in memory (anything but an APPEND message).
    pub max_literal: u64,
    /// Largest APPEND message.
    pub max_append: u64,
    /// Largest non-synchronising literal (LITERAL- would say 4096; we advertise
    /// LITERAL+ and accept up to `max_literal`).
    pub max_nonsync: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_command: 16 << 20,
            max_literal: 1 << 20,
            max_append: 256 << 20,
            max_nonsync: 1 << 20,
        }
    }
}

/// A literal announcement at the end of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiteralAnnounce {
    /// Announced length.
    pub len: u64,
    /// `{n+}`: the client does not wait for `+`.
    pub nonsync: bool,
}

/// Finds `{n}` or `{n+}` at the end of `line` (CRLF already removed). A number
/// that does not fit in u64 counts as "too large" (`u64::MAX`).
pub fn literal_at_end(line: &[u8]) -> Option<LiteralAnnounce> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&c| c == b'{')?;
    let mut digits = &body[open + 1..];
    let nonsync = if let Some(d) = digits.strip_suffix(b"+") {
        digits = d;
        true
    } else {
        false
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    Some(LiteralAnnounce { len, nonsync })
}

/// Strips one trailing `\n` and an optional `\r` before it.
pub fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literals() {
        assert_eq!(
            literal_at_end(b"a APPEND x {12}"),
            Some(LiteralAnnounce {
                len: 12,
                nonsync: false
            })
        );
        assert_eq!(
            literal_at_end(b"a LOGIN {3+}"),
            Some(LiteralAnnounce {
                len: 3,
                nonsync: true
            })
        );
        assert_eq!(literal_at_end(b"a NOOP"), None);
        assert_eq!(literal_at_end(b"a X {}"), None);
        assert_eq!(literal_at_end(b"a X {1a}"), None);
        assert_eq!(
            literal_at_end(b"a X {99999999999999999999999}").map(|l| l.len),
            Some(u64::MAX)
        );
    }

    #[test]
    fn strips_line_ends() {
        assert_eq!(strip_eol(b"abc\r\n"), b"abc");
        assert_eq!(strip_eol(b"abc\n"), b"abc");
        assert_eq!(strip_eol(b"abc"), b"abc");
    }
}
