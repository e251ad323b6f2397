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
#[derive(Clone, Debug, PartialEq, Eq, Default)]
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

/// One entity: its MIME header is `start..hend` (normally `hend == body`), its body
/// `body..end`.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub start: usize,
    pub hend: usize,
    /// The top-level header has no empty line after it (see `entity`).
    pub cut_header: bool,
    /// Courier's BODY[n.HEADER] of this part is one byte short (see `section`).
    pub short_header: bool,
    /// Courier counts one line fewer in this part's body than it holds.
    pub lines_minus: bool,
    pub body: usize,
    pub end: usize,
    pub kind: Kind,
    /// Content type and subtype, lowercased.
    pub ctype: Vec<u8>,
    pub csub: Vec<u8>,
    /// False when MIME headers are ignored (no MIME-Version: Courier's rule).
    pub mime: bool,
}

/// Where an entity sits: decides MIME-ness and default content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parent {
    /// The message itself.
    Root,
    /// A body part of a multipart (`digest`: of a multipart/digest).
    Multipart { digest: bool },
    /// The message inside a message/rfc822 part.
    Encapsulated,
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
    let v: Vec<u8> = v
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let mut items = split_semicolons(&v).into_iter();
    items.next();
    for item in items {
        let item = trim_wsp(item);
        // Courier drops a parameter with a comment in it, and one without a value.
        if has_comment(item) {
            continue;
        }
        let Some(e) = item.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (trim_wsp(&item[..e]), trim_wsp(&item[e + 1..]));
        let name = name.to_ascii_lowercase();
        let value = unquote(value);
        // Courier: a repeated parameter keeps its first place and takes the last value.
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    out
}

fn has_comment(v: &[u8]) -> bool {
    let mut quoted = false;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'(' if !quoted => return true,
            _ => {}
        }
        i += 1;
    }
    false
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

/// Removes the quotes of a quoted parameter value: `\"` is a quote, and (as in Courier)
/// `\\` disappears; any other `\x` is `x`.
fn unquote(v: &[u8]) -> Vec<u8> {
    if v.first() != Some(&b'"') {
        return v.to_vec();
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 1;
    while i < v.len() && v[i] != b'"' {
        if v[i] == b'\\' && i + 1 < v.len() {
            i += 1;
            if v[i] == b'\\' {
                i += 1;
                continue;
            }
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
        // Courier: a boundary line needs its line end (a close delimiter at the very end
        // of a file without one is body text).
        if cend == self.buf.len() {
            return None;
        }
        let rest = &self.buf[pos + 2..cend];
        // Outermost first: a nested multipart reusing an enclosing boundary ends at once.
        for level in 0..self.bounds.len() {
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

    fn entity(&mut self, start: usize, depth: usize, parent: Parent) -> (usize, Stop) {
        let idx = self.parts.len();
        self.parts.push(Part {
            start,
            hend: start,
            cut_header: false,
            short_header: false,
            lines_minus: false,
            body: start,
            end: start,
            kind: Kind::Leaf,
            ctype: Vec::new(),
            csub: Vec::new(),
            mime: true,
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
                // The line end before the boundary belongs to the boundary.
                body = self.end_before(start, s);
                header_stop = Some(s);
                break;
            }
            let (cend, next) = self.line(pos);
            // A line holding only a CR ends the header too (a file stored with CRLF).
            if cend == pos || (cend == pos + 1 && self.buf[pos] == b'\r') {
                body = next;
                break;
            }
            pos = next;
        }
        let hdr = &self.buf[start..body];
        // Courier reads MIME headers only in a message with a MIME-Version field, and in
        // the body parts of a multipart.
        let mime = match parent {
            Parent::Multipart { .. } => true,
            Parent::Root | Parent::Encapsulated => header::first(hdr, b"mime-version").is_some(),
        };
        let ct = if mime {
            header::first(hdr, b"content-type")
        } else {
            None
        };
        let digest = parent == Parent::Multipart { digest: true };
        let (mut ctype, mut csub, boundary) = match ct {
            Some(f) => {
                let mv = main_value(f.value).to_ascii_lowercase();
                match mv.iter().position(|&b| b == b'/') {
                    Some(s) if s > 0 => {
                        let b = params(f.value)
                            .into_iter()
                            .find(|(n, _)| n == b"boundary")
                            .map(|(_, v)| v);
                        (mv[..s].to_vec(), mv[s + 1..].to_vec(), b)
                    }
                    // Courier: a type without a subtype is kept, with subtype "".
                    None if !mv.is_empty() => (mv.clone(), Vec::new(), None),
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
        let header_ok = header_stop.is_none();
        let mut empty_epilogue = false;
        let (kind, stop) = if let Some(s) = header_stop {
            (Kind::Leaf, s)
        } else if ctype == b"multipart" && !deep && boundary.is_some() {
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
                        let (child, s) =
                            self.entity(next, depth + 1, Parent::Multipart { digest: is_digest });
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
                        empty_epilogue =
                            matches!(stop, Stop::Boundary { line, .. } if line == next);
                        break;
                    }
                    _ => {
                        self.bounds.pop();
                        break;
                    }
                }
            }
            (Kind::Multipart(children), stop)
        } else if ctype == b"message" && (csub == b"rfc822" || csub == b"global") && !deep {
            let (child, stop) = self.entity(body, depth + 1, Parent::Encapsulated);
            (Kind::Message(child), stop)
        } else {
            (Kind::Leaf, self.scan(body))
        };
        // Courier counts one line too few in a part that the end of the message cuts off
        // without a final line end: with a line end in the body, the body loses its last
        // byte (and a line); without, the header loses its last byte.
        let unterminated = matches!(stop, Stop::Eof)
            && header_ok
            && !self.buf.ends_with(b"\n")
            && matches!(parent, Parent::Multipart { .. } | Parent::Encapsulated);
        let body_lf = unterminated && self.buf[body.min(self.buf.len())..].contains(&b'\n');
        let eof_short = unterminated && body_lf && matches!(kind, Kind::Leaf);
        let end = match (&kind, stop) {
            _ if parent == Parent::Root => self.buf.len(),
            (Kind::Message(c), _) => self.parts[*c].end,
            // Courier keeps the CR of the last line end in the body of an encapsulated
            // message that is not multipart (before a boundary or at the end).
            (Kind::Leaf, Stop::Boundary { line, .. })
                if parent == Parent::Encapsulated && header_ok && line > body =>
            {
                line - 1
            }
            (Kind::Leaf, Stop::Eof)
                if parent == Parent::Encapsulated
                    && header_ok
                    && self.buf.len() >= body + 2
                    && self.buf.ends_with(b"\r\n") =>
            {
                self.buf.len() - 1
            }
            // A body part cut off by the end of the message loses its last line end.
            (_, Stop::Eof) if matches!(parent, Parent::Multipart { .. }) => {
                let len = self.buf.len();
                if len >= body + 2 && &self.buf[len - 2..] == b"\r\n" {
                    len - 2
                } else if eof_short {
                    len - 1
                } else {
                    len
                }
            }
            (Kind::Leaf, Stop::Eof) if parent == Parent::Encapsulated && eof_short => {
                self.buf.len() - 1
            }
            // A multipart whose close delimiter is followed at once by an enclosing
            // boundary keeps the CR of the delimiter's line end (Courier).
            (Kind::Multipart(_), Stop::Boundary { line, .. }) if empty_epilogue && line > body => {
                line - 1
            }
            _ => self.end_before(body, stop),
        };
        let child_minus = match kind {
            Kind::Message(c) if parent != Parent::Root => self.parts[c].lines_minus,
            _ => false,
        };
        let p = &mut self.parts[idx];
        p.hend = body;
        p.body = body;
        p.end = end;
        p.kind = kind;
        p.ctype = ctype;
        p.csub = csub;
        p.mime = mime;
        // A body part cut off by the end of the message without a final line end.
        p.short_header = unterminated && !body_lf && end > body && parent != Parent::Encapsulated;
        p.lines_minus = eof_short || child_minus;
        if parent == Parent::Root && matches!(header_stop, Some(Stop::Eof)) {
            // A message that is all header, with no empty line: Courier's header is its
            // complete lines without the last line end (BODY[HEADER] adds that line
            // end's CR), and its body runs from that line end to one byte before the end
            // of the message: just `\r` for a header ending in a line end.
            let buf = self.buf;
            let last = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let p = &mut self.parts[idx];
            if last >= 2 {
                p.hend = last - 2;
                p.body = last - 2;
                p.end = buf.len() - 1;
                p.cut_header = true;
            }
        }
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
        p.entity(0, 0, Parent::Root);
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
        &self.buf[..self.root().hend]
    }

    /// Top-level body.
    pub fn text(&self) -> &'a [u8] {
        &self.buf[self.root().body..self.root().end]
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
        let hdr = if p.mime {
            &self.buf[p.start..p.hend]
        } else {
            &b""[..]
        };
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
                    write_string(out, &crate::envelope::encode_8bit(v));
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
                            write_string(out, &crate::envelope::encode_8bit(v));
                        }
                        out.push(b')');
                    }
                    out.push(b')');
                }
                None => out.extend_from_slice(b"NIL"),
            }
            out.push(b' ');
            // Courier sends Content-Language for multiparts only.
            let lang = if matches!(&p.kind, Kind::Multipart(c) if !c.is_empty()) {
                field(b"content-language")
            } else {
                None
            };
            write_nstring(out, lang.as_deref());
        };
        match &p.kind {
            Kind::Multipart(children) if !children.is_empty() => {
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
                let desc = field(b"content-description").map(|d| crate::envelope::encode_8bit(&d));
                write_nstring(out, desc.as_deref());
                out.push(b' ');
                // Courier reads Content-Transfer-Encoding even without MIME-Version.
                let enc = header::first(&self.buf[p.start..p.hend], b"content-transfer-encoding")
                    .map(|f| unfold(f.value))
                    .map(|e| e.to_ascii_lowercase())
                    .unwrap_or_else(|| b"8bit".to_vec());
                write_string(out, &enc);
                out.push(b' ');
                out.extend_from_slice((p.end - p.body).to_string().as_bytes());
                let lines = || {
                    self.buf[(p.body + 2 * usize::from(p.cut_header)).min(p.end)..p.end]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        .saturating_sub(usize::from(p.lines_minus))
                        .to_string()
                };
                if let Kind::Message(child) = kind {
                    let c = &self.parts[*child];
                    out.push(b' ');
                    out.extend_from_slice(&crate::envelope::envelope_from_header(
                        &self.buf[c.start..c.hend],
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

    /// Every part number that addresses a part, depth first (`[1]`, `[2]`, `[2, 1]`, ...).
    /// A non-multipart message has the single part `[1]`.
    pub fn part_paths(&self) -> Vec<Vec<u32>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(0, &mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, msg: usize, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        let children: Vec<usize> = match &self.parts[msg].kind {
            Kind::Multipart(ch) => ch.clone(),
            _ => vec![msg],
        };
        for (i, c) in children.into_iter().enumerate() {
            prefix.push(i as u32 + 1);
            out.push(prefix.clone());
            match &self.parts[c].kind {
                Kind::Multipart(_) => self.collect_paths(c, prefix, out),
                Kind::Message(inner) => self.collect_paths(*inner, prefix, out),
                Kind::Leaf => {}
            }
            prefix.pop();
        }
    }

    /// Courier's part lookup for MIME: in a message that is not multipart every number
    /// names the message itself; in a multipart a number names a body part; a body part
    /// that is neither multipart nor message/rfc822 has no subparts.
    fn resolve_mime(&self, path: &[u32]) -> Option<usize> {
        let mut cur = 0usize;
        let mut is_message = true;
        for (depth, &n) in path.iter().enumerate() {
            if depth > 0 {
                match self.parts[cur].kind {
                    Kind::Message(c) => {
                        cur = c;
                        is_message = true;
                    }
                    Kind::Leaf if !is_message => return None,
                    _ => {}
                }
            }
            match &self.parts[cur].kind {
                Kind::Multipart(ch) => {
                    cur = *(n as usize).checked_sub(1).and_then(|i| ch.get(i))?;
                    is_message = false;
                }
                Kind::Message(c) if depth == 0 => {
                    if n != 1 {
                        return None;
                    }
                    cur = *c;
                }
                _ if is_message => {}
                _ => return None,
            }
        }
        Some(cur)
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
                // Courier: part 1 of a message/rfc822 message is the encapsulated message.
                Kind::Message(c) if depth == 0 && n == 1 => *c,
                Kind::Message(_) if depth == 0 => return None,
                _ if n == 1 => cur,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// BODY\[section\] bytes (before any `<partial>`); None when the part does not exist.
    pub fn section(&self, s: &Section) -> Option<Cow<'a, [u8]>> {
        if s.text == Some(SectionText::Mime) {
            if s.part.is_empty() {
                return None;
            }
            // Courier: of the part's header only the Content-* and MIME-Version fields.
            let p = &self.parts[self.resolve_mime(&s.part)?];
            return Some(Cow::Owned(mime_fields(&self.buf[p.start..p.hend])));
        }
        let idx = self.resolve(&s.part)?;
        let p = &self.parts[idx];
        // The message whose HEADER/TEXT is meant: the top level, or an encapsulated one.
        let msg = || -> Option<&Part> {
            if s.part.is_empty() {
                Some(p)
            } else if let Kind::Message(c) = p.kind {
                Some(&self.parts[c])
            } else {
                // Courier: HEADER and TEXT of a part that is not a message are the
                // part's own MIME header and body.
                Some(p)
            }
        };
        let b = self.buf;
        Some(match &s.text {
            None if s.part.is_empty() => Cow::Borrowed(b),
            None => Cow::Borrowed(&b[p.body..p.end]),
            Some(SectionText::Mime) => return None,
            Some(SectionText::Header) => {
                let m = msg()?;
                let h = &b[m.start..m.hend + usize::from(m.cut_header)];
                // Courier: when a body part's body is empty, the line end before the
                // boundary is the header's empty line, and Courier's header stops one
                // byte short of it (`...\r\n\r`, or a lone `\r`); so does the header of
                // a body part cut off by the end of the message without a line end.
                let empty = m.start > 0 && m.body == m.end && m.body == m.hend;
                if (empty || m.short_header) && h.ends_with(b"\n") {
                    Cow::Borrowed(&h[..h.len() - 1])
                } else {
                    Cow::Borrowed(h)
                }
            }
            Some(SectionText::Text) => {
                let m = msg()?;
                Cow::Borrowed(&b[m.body..m.end])
            }
            Some(SectionText::HeaderFields(names)) => {
                let m = msg()?;
                Cow::Owned(filter_fields(&b[m.start..m.hend], names, true))
            }
            Some(SectionText::HeaderFieldsNot(names)) => {
                let m = msg()?;
                Cow::Owned(filter_fields(&b[m.start..m.hend], names, false))
            }
        })
    }
}

fn mime_fields(hdr: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in header::fields(hdr) {
        let n = f.name;
        if (n.len() >= 8 && n[..8].eq_ignore_ascii_case(b"content-"))
            || n.eq_ignore_ascii_case(b"mime-version")
        {
            out.extend_from_slice(f.raw);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// HEADER.FIELDS (`keep`) / HEADER.FIELDS.NOT: the matching fields with all their lines,
/// as they are in the header, then an empty line. Names match case-insensitively and
/// exactly (`Subject :` is not `Subject`). A header cut off by a boundary lacks the line
/// end of its last line, and Courier sends it so.
fn filter_fields(hdr: &[u8], names: &[Vec<u8>], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut extra = 0;
    for f in header::fields(hdr) {
        let hit = names.iter().any(|n| n.eq_ignore_ascii_case(f.name));
        if hit == keep {
            out.extend_from_slice(f.raw);
        } else if !keep {
            // Courier reads fields in 8 KiB pieces and, at the end, sends a line end for
            // every further piece of a field that HEADER.FIELDS.NOT leaves out.
            let crlfs = f.raw.windows(2).filter(|w| w == b"\r\n").count();
            extra += (f.raw.len() - 2 * crlfs) / 8192;
        }
    }
    for _ in 0..extra {
        out.extend_from_slice(b"\r\n");
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

    const MIXED: &[u8] = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npre\r\n--XX\r\n\r\none\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b\r\n\r\ninner\r\n--XX--\r\nepi\r\n";

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
            Some(&b"inner\r"[..])
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
        assert_eq!(m.header(), &MIXED[..77]);
    }

    #[test]
    fn structure() {
        let m = Message::parse(MIXED);
        let b = String::from_utf8(m.body_structure(false)).unwrap();
        assert_eq!(
            b,
            r#"(("text" "plain" NIL NIL NIL "8bit" 3 0)("message" "rfc822" NIL NIL NIL "8bit" 19 (NIL NIL ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL) ("text" "plain" NIL NIL NIL "8bit" 6 0) 2) "mixed")"#
        );
    }

    fn parse_str(s: &str) -> String {
        String::from_utf8(Message::parse(s.as_bytes()).body_structure(false)).unwrap()
    }

    #[test]
    fn mime_needs_mime_version() {
        let ct = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(parse_str(ct), r#"("text" "plain" NIL NIL NIL "8bit" 17 4)"#);
        assert_eq!(
            parse_str(&format!("MIME-Version: 1.0\r\n{ct}")),
            r#"(("text" "plain" NIL NIL NIL "8bit" 1 0) "mixed")"#
        );
    }

    #[test]
    fn mime_section_lookup() {
        let one = b"MIME-Version: 1.0\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\nbody\r\n";
        let m = Message::parse(one);
        let want = &b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"[..];
        for p in [&[1u32][..], &[2], &[1, 7]] {
            assert_eq!(
                m.section(&sec(p, Some(SectionText::Mime))).as_deref(),
                Some(want)
            );
        }
        let m = Message::parse(MIXED);
        assert_eq!(m.section(&sec(&[3], Some(SectionText::Mime))), None);
        assert_eq!(m.section(&sec(&[1, 7], Some(SectionText::Mime))), None);
        assert_eq!(m.section(&sec(&[], Some(SectionText::Mime))), None);
    }

    #[test]
    fn header_only_message() {
        // No empty line: the unterminated last line is not header, the body is odd.
        let m = Message::parse(b"From: a@b\r\nSubject: cut");
        assert_eq!(m.header(), b"From: a@b");
        assert_eq!(m.text(), b"\r\nSubject: cu");
        assert_eq!(
            m.section(&sec(&[], Some(SectionText::Header))).as_deref(),
            Some(&b"From: a@b\r"[..])
        );
        assert_eq!(m.envelope(), b"(NIL NIL ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)");
        let empty = Message::parse(b"");
        assert_eq!(
            empty.body_structure(true),
            br#"("text" "plain" NIL NIL NIL "8bit" 0 0 NIL NIL NIL)"#
        );
    }

    #[test]
    fn repeated_and_odd_parameters() {
        let ps = params(b"text/plain; a=1; B=\"x\\\\y\"; a=2; (c) d=3; novalue");
        assert_eq!(
            ps,
            vec![
                (b"a".to_vec(), b"2".to_vec()),
                (b"b".to_vec(), b"xy".to_vec())
            ]
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
