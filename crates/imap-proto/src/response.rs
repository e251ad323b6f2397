//! Response helpers: mailbox names and flags on the wire.

/// Writes `s` as a quoted string when it can be one (no CR, LF, NUL, not 8-bit,
/// shorter than 1000 bytes), else as a literal.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() < 1000
        && s.iter()
            .all(|&c| c != 0 && c != b'\r' && c != b'\n' && c < 0x80);
    if quotable {
        out.push(b'"');
        for &c in s {
            if c == b'"' || c == b'\\' {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
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
    }
}
