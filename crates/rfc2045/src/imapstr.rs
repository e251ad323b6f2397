//! IMAP strings as Courier-IMAP writes them.

fn quotable(s: &[u8]) -> bool {
    s.iter()
        .all(|&b| b != b'\r' && b != b'\n' && b != 0 && b < 0x80)
}

/// IMAP string: quoted if it can be (no CR, LF, NUL or 8-bit; Courier quotes
/// values of any length), else literal
/// `{n}\r\n<bytes>`. Inside quotes `"` and `\` are escaped with a backslash.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s) {
        write_quoted(out, s);
    } else {
        write_literal(out, s);
    }
}

/// `"<s>"` with `"` and `\` escaped; the caller has checked that `s` may be quoted.
pub fn write_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `{n}\r\n<s>`.
pub fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

/// `NIL` for None, else [`write_string`].
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

fn atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

/// Atom when possible (non-empty, only ATOM-CHARs, not `NIL`), else [`write_string`].
pub fn write_astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty() && s.iter().all(|&b| atom_char(b)) && !s.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(s);
    } else {
        write_string(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: fn(&mut Vec<u8>, &[u8]), v: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        f(&mut o, v);
        o
    }

    #[test]
    fn quoting_and_literals() {
        assert_eq!(s(write_string, b"a \"b\" \\"), b"\"a \\\"b\\\" \\\\\"");
        assert_eq!(s(write_string, b"a\r\nb"), b"{4}\r\na\r\nb");
        assert_eq!(s(write_string, "é".as_bytes()), b"{2}\r\n\xc3\xa9");
        assert_eq!(s(write_string, b""), b"\"\"");
        assert_eq!(s(write_astring, b"INBOX"), b"INBOX");
        assert_eq!(s(write_astring, b"a b"), b"\"a b\"");
        assert_eq!(s(write_astring, b""), b"\"\"");
        let mut o = Vec::new();
        write_nstring(&mut o, None);
        assert_eq!(o, b"NIL");
    }
}
