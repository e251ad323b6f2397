//! Header fields of a canonical (CRLF) header block.

/// One header field: its name (as written), the raw bytes of all its lines including the
/// final line end, and the value (everything after the colon, still folded).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field<'a> {
    pub name: &'a [u8],
    pub raw: &'a [u8],
    pub value: &'a [u8],
}

/// Iterates over the fields of `header` (which may include the terminating empty line).
/// A line without a colon is a field whose name is the whole line and whose value is empty.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

pub(crate) fn fields(header: &[u8]) -> Fields<'_> {
    Fields { rest: header }
}

fn line_len(s: &[u8]) -> usize {
    match s.iter().position(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => s.len(),
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;
    fn next(&mut self) -> Option<Field<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let first = line_len(self.rest);
        let line = &self.rest[..first];
        if line == b"\r\n" || line == b"\n" {
            self.rest = &[];
            return None;
        }
        let mut len = first;
        while len < self.rest.len() && continues(&self.rest[len..]) {
            len += line_len(&self.rest[len..]);
        }
        let raw = &self.rest[..len];
        self.rest = &self.rest[len..];
        if continues(line) {
            // Continuation lines before any field: a field with an empty name, which no
            // name matches (HEADER.FIELDS.NOT keeps it, as Courier does).
            return Some(Field {
                name: &[],
                raw,
                value: &[],
            });
        }
        // The name is everything before the colon: "Subject :" is not "Subject" (Courier).
        let (name, value) = match raw.iter().position(|&b| b == b':') {
            Some(c) if c < first => (&raw[..c], &raw[c + 1..]),
            _ => (trim_crlf(line), &raw[raw.len()..]),
        };
        Some(Field { name, raw, value })
    }
}

/// Whether a line continues the field before it: it starts with white space as C's
/// isspace() sees it (Courier's test), CR included but not the CR of an empty line.
fn continues(line: &[u8]) -> bool {
    match line {
        [b' ' | b'\t' | 0x0b | 0x0c, ..] => true,
        [b'\r', b'\n', ..] => false,
        [b'\r', ..] => true,
        _ => false,
    }
}

pub(crate) fn trim_crlf(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}

pub(crate) fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r' | b'\n'] = s {
        s = rest;
    }
    s
}

/// Unfolds a field value: CRLF line ends are removed (the whitespace after them stays),
/// any other CR or LF becomes a space (as Courier does); leading and trailing whitespace
/// is trimmed.
pub(crate) fn unfold(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\r' if v.get(i + 1) == Some(&b'\n') => i += 1,
            b'\r' | b'\n' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    trim_wsp(&out).to_vec()
}

/// First field called `name` (case-insensitive).
pub(crate) fn first<'a>(header: &'a [u8], name: &[u8]) -> Option<Field<'a>> {
    fields(header).find(|f| f.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_fields() {
        let h = b" junk\r\nA: 1\r\n 2\r\nB:3\r\nnocolon\r\n\r\nC: body\r\n";
        let f: Vec<_> = fields(h).collect();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].name, b"");
        let f = &f[1..];
        assert_eq!(f[0].name, b"A");
        assert_eq!(f[0].raw, b"A: 1\r\n 2\r\n");
        assert_eq!(unfold(f[0].value), b"1 2");
        assert_eq!(f[1].value, b"3\r\n");
        assert_eq!(f[2].name, b"nocolon");
        assert!(first(h, b"c").is_none());
    }
}
