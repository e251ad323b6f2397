//! Response helpers: mailbox names and flags on the wire.

/// Writes `s` as a quoted string when it can be one (no CR, LF, NUL, not 8-bit,
/// shorter than 1000 bytes), else as a literal.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_string_8bit(out, s, false);
}

/// As [`write_string`]; with `utf8` (after `ENABLE UTF8=ACCEPT`, RFC 6855) valid
/// UTF-8 may be quoted too.
pub fn write_string_8bit(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let eight_ok = utf8 && std::str::from_utf8(s).is_ok();
    let quotable = s.len() < 1000
        && s.iter()
            .all(|&c| c != 0 && c != b'\r' && c != b'\n' && (c < 0x80 || eight_ok));
    if quotable {
        courier_rfc2045::imapstr::write_quoted(out, s);
    } else {
        courier_rfc2045::imapstr::write_literal(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_literals() {
        let mut o = Vec::new();
        write_string(&mut o, b"a\"b\\c");
        assert_eq!(o, b"\"a\\\"b\\\\c\"");
        o.clear();
        write_string(&mut o, b"a\r\nb");
        assert_eq!(o, b"{4}\r\na\r\nb");
        o.clear();
        write_string(&mut o, "é".as_bytes());
        assert_eq!(o, b"{2}\r\n\xc3\xa9");
        o.clear();
        write_string_8bit(&mut o, "é".as_bytes(), true);
        assert_eq!(o, "\"é\"".as_bytes());
    }
}
