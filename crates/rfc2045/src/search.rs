//! SEARCH helpers: decoded header values and case-insensitive text matching.
//!
//! Charsets: RFC 2047 encoded words and part bodies in utf-8, us-ascii and iso-8859-1
//! are decoded to UTF-8; other charsets are searched as their raw bytes (encoded words in
//! them are left encoded). Full charset support (SEARCH CHARSET) is not here yet.

use crate::header::{self, unfold};
use crate::message::{Kind, Message, params};

/// Decodes base64, skipping anything that is not in the alphabet; stops at `=`.
pub fn decode_base64(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 3 / 4);
    let mut acc = 0u32;
    let mut n = 0;
    for &b in v {
        let d = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(d);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    if n == 2 {
        out.push((acc >> 4) as u8);
    } else if n == 3 {
        out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes quoted-printable (soft line breaks removed; bad escapes kept as they are).
/// With `underscore` (RFC 2047 Q encoding) `_` is a space.
pub fn decode_qp(v: &[u8], underscore: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if b == b'=' {
            if let (Some(h), Some(l)) = (
                v.get(i + 1).and_then(|&c| hex(c)),
                v.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            let mut j = i + 1;
            while j < v.len() && matches!(v[j], b' ' | b'\t') {
                j += 1;
            }
            if v[j..].starts_with(b"\r\n") {
                i = j + 2;
                continue;
            }
            if v[j..].starts_with(b"\n") {
                i = j + 1;
                continue;
            }
            out.push(b);
        } else if b == b'_' && underscore {
            out.push(b' ');
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

fn latin1_to_utf8(v: &[u8]) -> Vec<u8> {
    let s: String = v.iter().map(|&b| char::from(b)).collect();
    s.into_bytes()
}

/// Text in `charset` as UTF-8, for the charsets we know; None for the others.
fn to_utf8(charset: &[u8], v: Vec<u8>) -> Option<Vec<u8>> {
    let cs = charset.to_ascii_lowercase();
    match &cs[..] {
        b"utf-8" | b"utf8" | b"us-ascii" | b"ascii" | b"" => Some(v),
        b"iso-8859-1" | b"iso8859-1" | b"latin1" | b"latin-1" => Some(latin1_to_utf8(&v)),
        _ => None,
    }
}

fn known_charset(charset: &[u8]) -> bool {
    to_utf8(charset, Vec::new()).is_some()
}

/// One encoded word `=?charset?e?text?=` at the start of `v`: (decoded, length).
fn encoded_word(v: &[u8]) -> Option<(Vec<u8>, usize)> {
    let rest = v.strip_prefix(b"=?")?;
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let charset = &rest[..q1];
    let charset = &charset[..charset
        .iter()
        .position(|&b| b == b'*')
        .unwrap_or(charset.len())];
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let end = rest[text_start..].windows(2).position(|w| w == b"?=")? + text_start;
    let text = &rest[text_start..end];
    if text.iter().any(|&b| b == b' ' || b == b'\t') {
        return None;
    }
    let raw = match enc {
        b'B' | b'b' => decode_base64(text),
        b'Q' | b'q' => decode_qp(text, true),
        _ => return None,
    };
    Some((to_utf8(charset, raw)?, end + 4))
}

/// Decodes RFC 2047 encoded words (whitespace between adjacent words is dropped).
pub fn decode_words(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    let mut pending_ws: Option<(usize, usize)> = None;
    let mut last_was_word = false;
    while i < v.len() {
        if v[i] == b'='
            && v.get(i + 1) == Some(&b'?')
            && let Some((dec, len)) = encoded_word(&v[i..])
        {
            if let Some((s, e)) = pending_ws.take()
                && !last_was_word
            {
                out.extend_from_slice(&v[s..e]);
            }
            out.extend_from_slice(&dec);
            i += len;
            last_was_word = true;
            continue;
        }
        if matches!(v[i], b' ' | b'\t') {
            let s = i;
            while i < v.len() && matches!(v[i], b' ' | b'\t') {
                i += 1;
            }
            if let Some((ps, pe)) = pending_ws.take() {
                out.extend_from_slice(&v[ps..pe]);
            }
            pending_ws = Some((s, i));
            continue;
        }
        if let Some((s, e)) = pending_ws.take() {
            out.extend_from_slice(&v[s..e]);
        }
        out.push(v[i]);
        last_was_word = false;
        i += 1;
    }
    if let Some((s, e)) = pending_ws {
        out.extend_from_slice(&v[s..e]);
    }
    out
}

/// Values of every `name:` field of a header, unfolded, RFC 2047 encoded words decoded to
/// UTF-8 (utf-8, us-ascii, iso-8859-1; other charsets left encoded).
pub fn header_values(canonical_header: &[u8], name: &[u8]) -> Vec<Vec<u8>> {
    header::fields(canonical_header)
        .filter(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| decode_words(&unfold(f.value)))
        .collect()
}

/// Values of every `name:` field in the header of the message and of every part in it
/// (body parts' MIME headers, encapsulated messages' headers), decoded like
/// [`header_values`]. This is what Debian's imapd searches for SEARCH HEADER, FROM, TO,
/// CC, BCC and SUBJECT.
pub fn header_values_all(msg: &Message<'_>, name: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..msg.part_count() {
        let p = msg.part(i);
        out.extend(header_values(&msg.buf()[p.start..p.hend], name));
    }
    out
}

fn fold(v: &[u8]) -> String {
    String::from_utf8_lossy(v).to_lowercase()
}

/// Case-insensitive (ASCII + simple Unicode folding) substring test. An empty needle
/// matches everything.
pub fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle.is_ascii() {
        // Both ASCII: lowercase copies, then std's linear-time substring search.
        let h: String = haystack
            .iter()
            .map(|&b| char::from(b.to_ascii_lowercase()))
            .collect();
        let n: String = needle
            .iter()
            .map(|&b| char::from(b.to_ascii_lowercase()))
            .collect();
        return h.contains(&n);
    }
    fold(haystack).contains(&fold(needle))
}

/// The decoded bytes of a leaf part's body (transfer encoding undone, charset to UTF-8
/// where known).
fn decoded_body<'a>(msg: &Message<'a>, idx: usize) -> Vec<u8> {
    let p = msg.part(idx);
    let buf = msg.buf();
    let hdr = &buf[p.start..p.hend];
    let body = &buf[p.body..p.end];
    let cte = header::first(hdr, b"content-transfer-encoding")
        .map(|f| unfold(f.value).to_ascii_lowercase())
        .unwrap_or_default();
    let raw = match &cte[..] {
        b"base64" => decode_base64(body),
        b"quoted-printable" => decode_qp(body, false),
        _ => body.to_vec(),
    };
    let charset = header::first(hdr, b"content-type")
        .map(|f| params(f.value))
        .and_then(|ps| {
            ps.into_iter()
                .find(|(n, _)| n == b"charset")
                .map(|(_, v)| v)
        })
        .unwrap_or_default();
    if known_charset(&charset) {
        to_utf8(&charset, raw).unwrap_or_default()
    } else {
        raw
    }
}

/// Line ends and runs of white space become one space (Courier's search sees text that
/// way, so a needle matches across a line break).
fn squeeze(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut space = false;
    for &b in v {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(b' ');
            }
            space = false;
            out.push(b);
        }
    }
    if space {
        out.push(b' ');
    }
    out
}

fn squeezed_contains(haystack: &[u8], needle: &[u8]) -> bool {
    contains_ci(&squeeze(haystack), &squeeze(needle))
}

/// SEARCH BODY: needle in any text/* or message/* body part (Courier searches no other
/// part, nor the headers of encapsulated messages), transfer
/// encoding (QP, base64) decoded; line breaks and runs of white space count as one space.
pub fn body_contains(msg: &Message<'_>, needle: &[u8]) -> bool {
    (0..msg.part_count()).any(|i| {
        let p = msg.part(i);
        matches!(p.kind, Kind::Leaf)
            && (p.ctype == b"text" || p.ctype == b"message")
            && squeezed_contains(&decoded_body(msg, i), needle)
    })
}

fn decoded_header(h: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(h.len());
    for f in header::fields(h) {
        out.extend_from_slice(f.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&decode_words(&unfold(f.value)));
        out.push(b'\n');
    }
    out
}

/// SEARCH TEXT: the header of the message and of every part in it (encapsulated
/// messages' headers and body parts' MIME headers too, as Courier does), or the body.
pub fn text_contains(msg: &Message<'_>, needle: &[u8]) -> bool {
    (0..msg.part_count()).any(|i| {
        let p = msg.part(i);
        squeezed_contains(&decoded_header(&msg.buf()[p.start..p.hend]), needle)
    }) || body_contains(msg, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_values() {
        let h =
            b"Subject: =?utf-8?q?caf=C3=A9?= =?iso-8859-1?b?6Q==?=\r\n x\r\nsubject: two\r\n\r\n";
        assert_eq!(
            header_values(h, b"SUBJECT"),
            vec!["café\u{e9} x".as_bytes().to_vec(), b"two".to_vec()]
        );
        assert_eq!(decode_words(b"a =?koi8-r?q?x?= b"), b"a =?koi8-r?q?x?= b");
    }

    #[test]
    fn matching() {
        assert!(contains_ci(b"Hello World", b"WORLD"));
        assert!(!contains_ci(b"Hello", b"xyz"));
        assert!(contains_ci("CAFÉ".as_bytes(), "café".as_bytes()));
        assert!(contains_ci(b"", b""));
    }

    #[test]
    fn bodies() {
        let m = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak caf=E9\r\n--b--\r\n";
        let msg = Message::parse(m);
        assert!(body_contains(&msg, b"HELLO"));
        assert!(body_contains(&msg, b"softbreak"));
        assert!(!body_contains(&msg, b"multipart"));
        assert!(text_contains(&msg, b"multipart"));
    }
}
