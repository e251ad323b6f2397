//! The MIME tree of a canonical message: part offsets only, no copies of the message.

use std::borrow::Cow;

use crate::header::{self, trim_wsp, unfold};
use crate::imapstr::{write_nstring, write_string};

/// Deeper nesting is not parsed: such a part is an opaque body.
pub const MAX_DEPTH: usize = 50;
/// At most this many parts are parsed; later ones are opaque bodies.
pub const MAX_PARTS: usize = 10_000;

/// What a BODY[...] section asks for after its part number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (...)`
    HeaderFields(Vec<Vec<u8>>),
    /// `HEADER.FIELDS.NOT (...)`
    HeaderFieldsNot(Vec<Vec<u8>>),
    /// `TEXT`
    Text,
    /// `MIME`
    Mime,
}

/// A BODY[...] section: part numbers (empty for the whole message) and an optional text spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Part numbers, 1-based (`BODY[2.1.HEADER]` -> `[2, 1]`).
    pub part: Vec<u32>,
    /// `HEADER`, `TEXT`, ... or None for the part's body.
    pub text: Option<SectionText>,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Leaf,
    Multipart(Vec<usize>),
    Message(usize),
}

/// One entity: its MIME header is `start..body`, its body `body..end`.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub start: usize,
    pub body: usize,
    pub end: usize,
    pub kind: Kind,
    /// Content type and subtype, lowercased.
    pub ctype: Vec<u8>,
    pub csub: Vec<u8>,
}

/// A parsed message. Cheap to build: one pass over the bytes, offsets only.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
    parts: Vec<Part>,
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Eof,
    /// A boundary line starting at `line`, of boundary `level`, continuing at `next`.
    Boundary {
        line: usize,
        level: usize,
        close: bool,
        next: usize,
    },
}

struct Parser<'a> {
    buf: &'a [u8],
    parts: Vec<Part>,
    bounds: Vec<Vec<u8>>,
}

/// Content-Type parameters: `(lowercased name, value)` with quotes removed.
pub(crate) fn params(v: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let v = strip_comments(v);
    let mut items = split_semicolons(&v).into_iter();
    items.next();
    for item in items {
        let item = trim_wsp(item);
        if item.is_empty() {
            continue;
        }
        let (name, value) = match item.iter().position(|&b| b == b'=') {
            Some(e) => (trim_wsp(&item[..e]), trim_wsp(&item[e + 1..])),
            None => (item, &b""[..]),
        };
        out.push((name.to_ascii_lowercase(), unquote(value)));
    }
    out
}

/// The first `;`-separated item of a structured value (the type, the disposition).
pub(crate) fn main_value(v: &[u8]) -> Vec<u8> {
    let v = strip_comments(v);
    let first = split_semicolons(&v).into_iter().next().unwrap_or(&[]);
    trim_wsp(first)
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect()
}

fn strip_comments(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if b == b'\r' || b == b'\n' {
            i += 1;
            continue;
        }
        if quoted {
            out.push(b);
            if b == b'\\' && i + 1 < v.len() {
                out.push(v[i + 1]);
                i += 1;
            } else if b == b'"' {
                quoted = false;
            }
        } else if depth > 0 {
            if b == b'\\' {
                i += 1;
            } else if b == b'(' {
                depth += 1;
            } else if b == b')' {
                depth -= 1;
            }
        } else if b == b'(' {
            depth = 1;
        } else {
            if b == b'"' {
                quoted = true;
            }
            out.push(b);
        }
        i += 1;
    }
    out
}

fn split_semicolons(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b';' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&v[start.min(v.len())..]);
    out
}

fn unquote(v: &[u8]) -> Vec<u8> {
    if v.first() != Some(&b'"') {
        return v.to_vec();
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 1;
    while i < v.len() && v[i] != b'"' {
        if v[i] == b'\\' && i + 1 < v.len() {
            i += 1;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

impl<'a> Parser<'a> {
    /// End of the line content at `pos` (before CRLF/LF) and the start of the next line.
    fn line(&self, pos: usize) -> (usize, usize) {
        match self.buf[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let nl = pos + i;
                let cend = if nl > pos && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (cend, nl + 1)
            }
            None => (self.buf.len(), self.buf.len()),
        }
    }

    fn boundary_at(&self, pos: usize) -> Option<Stop> {
        if self.bounds.is_empty() || !self.buf[pos..].starts_with(b"--") {
            return None;
        }
        let (cend, next) = self.line(pos);
        let rest = &self.buf[pos + 2..cend];
        for level in (0..self.bounds.len()).rev() {
            let b = &self.bounds[level];
            if rest.starts_with(b) {
                let close = rest[b.len()..].starts_with(b"--");
                return Some(Stop::Boundary {
                    line: pos,
                    level,
                    close,
                    next,
                });
            }
        }
        None
    }

    /// Where a body ends that is followed by `stop`: the line end before a boundary
    /// belongs to the boundary.
    fn end_before(&self, body: usize, stop: Stop) -> usize {
        match stop {
            Stop::Eof => self.buf.len(),
            Stop::Boundary { line, .. } => {
                if line <= body {
                    body
                } else if line >= body + 2 && &self.buf[line - 2..line] == b"\r\n" {
                    line - 2
                } else {
                    line - 1
                }
            }
        }
    }

    /// Scans lines from `pos` until a boundary line or the end.
    fn scan(&self, mut pos: usize) -> Stop {
        while pos < self.buf.len() {
            if let Some(s) = self.boundary_at(pos) {
                return s;
            }
            pos = self.line(pos).1;
        }
        Stop::Eof
    }

    fn entity(&mut self, start: usize, depth: usize, digest: bool) -> (usize, Stop) {
        let idx = self.parts.len();
        self.parts.push(Part {
            start,
            body: start,
            end: start,
            kind: Kind::Leaf,
            ctype: Vec::new(),
            csub: Vec::new(),
        });
        // Header.
        let mut pos = start;
        let mut header_stop = None;
        let body;
        loop {
            if pos >= self.buf.len() {
                body = self.buf.len();
                header_stop = Some(Stop::Eof);
                break;
            }
            if let Some(s) = self.boundary_at(pos) {
                body = pos;
                header_stop = Some(s);
                break;
            }
            let (cend, next) = self.line(pos);
            if cend == pos {
                body = next;
                break;
            }
            pos = next;
        }
        let hdr = &self.buf[start..body];
        let (mut ctype, mut csub, boundary) = match header::first(hdr, b"content-type") {
            Some(f) => {
                let mv = main_value(f.value).to_ascii_lowercase();
                match mv.iter().position(|&b| b == b'/') {
                    Some(s) if s > 0 && s + 1 < mv.len() => {
                        let b = params(f.value)
                            .into_iter()
                            .find(|(n, _)| n == b"boundary")
                            .map(|(_, v)| v);
                        (mv[..s].to_vec(), mv[s + 1..].to_vec(), b)
                    }
                    _ => (Vec::new(), Vec::new(), None),
                }
            }
            None => (Vec::new(), Vec::new(), None),
        };
        if ctype.is_empty() {
            if digest {
                ctype = b"message".to_vec();
                csub = b"rfc822".to_vec();
            } else {
                ctype = b"text".to_vec();
                csub = b"plain".to_vec();
            }
        }
        let deep = depth >= MAX_DEPTH || self.parts.len() >= MAX_PARTS;
        let (kind, stop) = if let Some(s) = header_stop {
            (Kind::Leaf, s)
        } else if ctype == b"multipart" && !deep && boundary.as_ref().is_some_and(|b| !b.is_empty())
        {
            let is_digest = csub == b"digest";
            self.bounds.push(boundary.unwrap_or_default());
            let level = self.bounds.len() - 1;
            let mut children = Vec::new();
            let mut stop = self.scan(body);
            loop {
                match stop {
                    Stop::Boundary {
                        level: l,
                        close: false,
                        next,
                        ..
                    } if l == level => {
                        if self.parts.len() >= MAX_PARTS {
                            self.bounds.pop();
                            stop = self.scan(next);
                            break;
                        }
                        let (child, s) = self.entity(next, depth + 1, is_digest);
                        children.push(child);
                        stop = s;
                    }
                    Stop::Boundary {
                        level: l,
                        close: true,
                        next,
                        ..
                    } if l == level => {
                        self.bounds.pop();
                        stop = self.scan(next);
                        break;
                    }
                    _ => {
                        self.bounds.pop();
                        break;
                    }
                }
            }
            (Kind::Multipart(children), stop)
        } else if ctype == b"message" && csub == b"rfc822" && !deep {
            let (child, stop) = self.entity(body, depth + 1, false);
            (Kind::Message(child), stop)
        } else {
            (Kind::Leaf, self.scan(body))
        };
        let end = self.end_before(body, stop);
        let p = &mut self.parts[idx];
        p.body = body;
        p.end = end;
        p.kind = kind;
        p.ctype = ctype;
        p.csub = csub;
        (idx, stop)
    }
}

impl<'a> Message<'a> {
    /// Parses a message in canonical CRLF form. Never fails: anything malformed becomes
    /// an opaque part.
    pub fn parse(canonical: &'a [u8]) -> Message<'a> {
        let mut p = Parser {
            buf: canonical,
            parts: Vec::new(),
            bounds: Vec::new(),
        };
        p.entity(0, 0, false);
        Message {
            buf: canonical,
            parts: p.parts,
        }
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    fn root(&self) -> &Part {
        &self.parts[0]
    }

    /// Top-level header, including its terminating blank line.
    pub fn header(&self) -> &'a [u8] {
        &self.buf[..self.root().body]
    }

    /// Top-level body.
    pub fn text(&self) -> &'a [u8] {
        &self.buf[self.root().body..]
    }

    /// FETCH ENVELOPE value in wire form.
    pub fn envelope(&self) -> Vec<u8> {
        crate::envelope::envelope_from_header(self.header())
    }

    pub(crate) fn part(&self, i: usize) -> &Part {
        &self.parts[i]
    }

    pub(crate) fn part_count(&self) -> usize {
        self.parts.len()
    }

    pub(crate) fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// FETCH BODY (extensible=false) / BODYSTRUCTURE (extensible=true) value, wire form.
    pub fn body_structure(&self, extensible: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_structure(&mut out, 0, extensible);
        out
    }

    fn write_structure(&self, out: &mut Vec<u8>, idx: usize, ext: bool) {
        let p = &self.parts[idx];
        let hdr = &self.buf[p.start..p.body];
        let ct = header::first(hdr, b"content-type").map(|f| f.value);
        let write_params = |out: &mut Vec<u8>| {
            let ps: Vec<_> = ct.map(params).unwrap_or_default();
            if ps.is_empty() {
                out.extend_from_slice(b"NIL");
                return;
            }
            out.push(b'(');
            for (i, (n, v)) in ps.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, n);
                out.push(b' ');
                if n == b"charset" {
                    write_string(out, &v.to_ascii_lowercase());
                } else {
                    write_string(out, v);
                }
            }
            out.push(b')');
        };
        let field = |name: &[u8]| header::first(hdr, name).map(|f| unfold(f.value));
        let write_dsp_lang = |out: &mut Vec<u8>| {
            match header::first(hdr, b"content-disposition") {
                Some(f) => {
                    let d = main_value(f.value);
                    out.push(b'(');
                    write_string(out, &d.to_ascii_lowercase());
                    out.push(b' ');
                    let ps = params(f.value);
                    if ps.is_empty() {
                        out.extend_from_slice(b"NIL");
                    } else {
                        out.push(b'(');
                        for (i, (n, v)) in ps.iter().enumerate() {
                            if i > 0 {
                                out.push(b' ');
                            }
                            write_string(out, n);
                            out.push(b' ');
                            write_string(out, v);
                        }
                        out.push(b')');
                    }
                    out.push(b')');
                }
                None => out.extend_from_slice(b"NIL"),
            }
            out.push(b' ');
            write_nstring(out, field(b"content-language").as_deref());
        };
        match &p.kind {
            Kind::Multipart(children) => {
                out.push(b'(');
                for &c in children {
                    self.write_structure(out, c, ext);
                }
                out.push(b' ');
                write_string(out, &p.csub);
                if ext {
                    out.push(b' ');
                    write_params(out);
                    out.push(b' ');
                    write_dsp_lang(out);
                }
                out.push(b')');
            }
            kind => {
                out.push(b'(');
                write_string(out, &p.ctype);
                out.push(b' ');
                write_string(out, &p.csub);
                out.push(b' ');
                write_params(out);
                out.push(b' ');
                write_nstring(out, field(b"content-id").as_deref());
                out.push(b' ');
                write_nstring(out, field(b"content-description").as_deref());
                out.push(b' ');
                let enc = field(b"content-transfer-encoding")
                    .map(|e| e.to_ascii_lowercase())
                    .unwrap_or_else(|| b"8bit".to_vec());
                write_string(out, &enc);
                out.push(b' ');
                out.extend_from_slice((p.end - p.body).to_string().as_bytes());
                let lines = || {
                    self.buf[p.body..p.end]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        .to_string()
                };
                if let Kind::Message(child) = kind {
                    let c = &self.parts[*child];
                    out.push(b' ');
                    out.extend_from_slice(&crate::envelope::envelope_from_header(
                        &self.buf[c.start..c.body],
                    ));
                    out.push(b' ');
                    self.write_structure(out, *child, ext);
                    out.push(b' ');
                    out.extend_from_slice(lines().as_bytes());
                } else if p.ctype == b"text" {
                    out.push(b' ');
                    out.extend_from_slice(lines().as_bytes());
                }
                if ext {
                    out.push(b' ');
                    write_nstring(out, field(b"content-md5").as_deref());
                    out.push(b' ');
                    write_dsp_lang(out);
                }
                out.push(b')');
            }
        }
    }

    /// Resolves part numbers to a part index. `[]` is the message itself.
    fn resolve(&self, path: &[u32]) -> Option<usize> {
        let mut cur = 0usize;
        for (depth, &n) in path.iter().enumerate() {
            if n == 0 {
                return None;
            }
            // Inside a message/rfc822 part the numbers address the encapsulated message.
            if depth > 0
                && let Kind::Message(c) = self.parts[cur].kind
            {
                cur = c;
            }
            cur = match &self.parts[cur].kind {
                Kind::Multipart(ch) => *ch.get(n as usize - 1)?,
                _ if n == 1 => cur,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// BODY[section] bytes (before any `<partial>`); None when the part does not exist.
    pub fn section(&self, s: &Section) -> Option<Cow<'a, [u8]>> {
        let idx = self.resolve(&s.part)?;
        let p = &self.parts[idx];
        // The message whose HEADER/TEXT is meant: the top level, or an encapsulated one.
        let msg = || -> Option<&Part> {
            if s.part.is_empty() {
                Some(p)
            } else if let Kind::Message(c) = p.kind {
                Some(&self.parts[c])
            } else {
                None
            }
        };
        let b = self.buf;
        Some(match &s.text {
            None if s.part.is_empty() => Cow::Borrowed(b),
            None => Cow::Borrowed(&b[p.body..p.end]),
            Some(SectionText::Mime) => {
                if s.part.is_empty() {
                    return None;
                }
                if idx == 0 {
                    Cow::Borrowed(&b"\r\n"[..])
                } else {
                    Cow::Borrowed(&b[p.start..p.body])
                }
            }
            Some(SectionText::Header) => {
                let m = msg()?;
                Cow::Borrowed(&b[m.start..m.body])
            }
            Some(SectionText::Text) => {
                let m = msg()?;
                Cow::Borrowed(&b[m.body..m.end])
            }
            Some(SectionText::HeaderFields(names)) => {
                let m = msg()?;
                Cow::Owned(filter_fields(&b[m.start..m.body], names, true))
            }
            Some(SectionText::HeaderFieldsNot(names)) => {
                let m = msg()?;
                Cow::Owned(filter_fields(&b[m.start..m.body], names, false))
            }
        })
    }
}

fn filter_fields(hdr: &[u8], names: &[Vec<u8>], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in header::fields(hdr) {
        let hit = names.iter().any(|n| n.eq_ignore_ascii_case(f.name));
        if hit == keep {
            out.extend_from_slice(f.raw);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(part: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }

    const MIXED: &[u8] = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npre\r\n--XX\r\n\r\none\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b\r\n\r\ninner\r\n--XX--\r\nepi\r\n";

    #[test]
    fn sections() {
        let m = Message::parse(MIXED);
        assert_eq!(m.section(&sec(&[1], None)).as_deref(), Some(&b"one"[..]));
        assert_eq!(
            m.section(&sec(&[2], Some(SectionText::Mime))).as_deref(),
            Some(&b"Content-Type: message/rfc822\r\n\r\n"[..])
        );
        assert_eq!(
            m.section(&sec(&[2], Some(SectionText::Header))).as_deref(),
            Some(&b"From: a@b\r\n\r\n"[..])
        );
        assert_eq!(
            m.section(&sec(&[2, 1], None)).as_deref(),
            Some(&b"inner"[..])
        );
        assert_eq!(m.section(&sec(&[3], None)), None);
        assert_eq!(
            m.section(&sec(
                &[],
                Some(SectionText::HeaderFields(vec![b"SUBJECT".to_vec()]))
            ))
            .as_deref(),
            Some(&b"Subject: x\r\n\r\n"[..])
        );
        assert_eq!(m.header(), &MIXED[..58]);
    }

    #[test]
    fn structure() {
        let m = Message::parse(MIXED);
        let b = String::from_utf8(m.body_structure(false)).unwrap();
        assert_eq!(
            b,
            r#"(("text" "plain" NIL NIL NIL "8bit" 3 0)("message" "rfc822" NIL NIL NIL "8bit" 18 (NIL NIL ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL) ("text" "plain" NIL NIL NIL "8bit" 5 0) 2) "mixed")"#
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut s = Vec::new();
        for i in 0..200 {
            s.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"=_{i}_=\"\r\n\r\n--=_{i}_=\r\n")
                    .as_bytes(),
            );
        }
        let m = Message::parse(&s);
        assert!(m.part_count() <= MAX_DEPTH + 2, "{}", m.part_count());
        let _ = m.body_structure(true);
    }
}
