//! FETCH ENVELOPE.

use crate::header::{self, unfold};
use crate::imapstr;

/// Writes one ENVELOPE string field (`NIL` when absent).
pub(crate) fn write_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    imapstr::write_nstring(out, v);
}

/// RFC 2047 encoding of a value holding 8-bit text, the way Courier's ENVELOPE and
/// BODYSTRUCTURE send it. Bytes that are not valid UTF-8 are dropped. Words (split at
/// space, tab, CR, LF) that hold a control or 8-bit character, `"`, `_`, `=` or `?` are
/// encoded; a run of such words (with the white space between them) becomes encoded
/// words of at most 38 characters each (the first run of the value: 24, as if after a
/// 27-column header name), all `Q` or all `B`, whichever is shorter (`B` on a tie, and
/// when `Q` would have to start with an escape). ASCII values are sent as they are.
pub(crate) fn encode_8bit(v: &[u8]) -> Vec<u8> {
    if v.is_ascii() {
        return v.to_vec();
    }
    let chars: Vec<char> = String::from_utf8_lossy(v)
        .chars()
        .filter(|&c| c != '\u{fffd}')
        .collect();
    let space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let needs =
        |c: char| (c as u32) < 0x20 || (c as u32) > 0x7f || matches!(c, '"' | '_' | '=' | '?');
    // End of the word starting at `i`, and whether it needs encoding.
    let word = |i: usize| {
        let mut k = i;
        let mut flag = false;
        while k < chars.len() && !space(chars[k]) {
            flag |= needs(chars[k]);
            k += 1;
        }
        (k, flag)
    };
    let mut out = String::with_capacity(v.len() * 2);
    let mut offset = 27;
    let mut i = 0;
    while i < chars.len() {
        if space(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let (mut end, flag) = word(i);
        if !flag {
            out.extend(&chars[i..end]);
        } else {
            let mut j = end;
            while j < chars.len() {
                if space(chars[j]) {
                    j += 1;
                    continue;
                }
                let (k, f) = word(j);
                if !f {
                    break;
                }
                end = k;
                j = k;
            }
            out.push_str(&encode_run(&chars[i..end], offset));
        }
        offset = 0;
        i = end;
    }
    out.into_bytes()
}

/// One run of words as encoded words, split into chunks of characters.
fn encode_run(run: &[char], offset: usize) -> String {
    let mut chunks: Vec<String> = Vec::new();
    let mut rest = run;
    let mut width = (76 - offset) / 2;
    while !rest.is_empty() {
        let mut j = width.min(rest.len());
        // Never split before a combining mark (a grapheme continues there).
        while j > 1 && j < rest.len() && ('\u{300}'..='\u{36f}').contains(&rest[j]) {
            j -= 1;
        }
        chunks.push(rest[..j].iter().collect());
        rest = &rest[j..];
        width = 38;
    }
    let mut q_ok = true;
    let q: Vec<String> = chunks
        .iter()
        .map(|c| {
            let mut w = String::from("=?utf-8?Q?");
            for (pos, &b) in c.as_bytes().iter().enumerate() {
                if b == b' ' {
                    w.push('_');
                } else if !(0x20..=0x7f).contains(&b) || matches!(b, b'"' | b'_' | b'=' | b'?') {
                    q_ok &= pos != 0;
                    w.push_str(&format!("={b:02X}"));
                } else {
                    w.push(char::from(b));
                }
            }
            w.push_str("?=");
            w
        })
        .collect();
    let b: Vec<String> = chunks
        .iter()
        .map(|c| {
            format!(
                "=?utf-8?B?{}?=",
                String::from_utf8_lossy(&base64(c.as_bytes()))
            )
        })
        .collect();
    let qlen: usize = q.iter().map(String::len).sum();
    let blen: usize = b.iter().map(String::len).sum();
    if q_ok && qlen < blen {
        q.join(" ")
    } else {
        b.join(" ")
    }
}

fn base64(v: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(v.len().div_ceil(3) * 4);
    for c in v.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63]);
        out.push(A[(n >> 12) as usize & 63]);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

/// Courier reads a header field, unfolded, into an 8 KiB buffer: name, colon and value
/// together are cut at 8191 bytes (and at a NUL) before the value is used.
const FIELD_MAX: usize = 8191;

fn cut_unfold(name: &[u8], value: &[u8]) -> Vec<u8> {
    // Courier's field is a C string: it ends at a NUL.
    let value = &value[..value.iter().position(|&b| b == 0).unwrap_or(value.len())];
    let room = FIELD_MAX.saturating_sub(name.len() + 1);
    let mut out = Vec::with_capacity(value.len().min(room));
    let mut i = 0;
    while i < value.len() && out.len() < room {
        match value[i] {
            b'\r' if value.get(i + 1) == Some(&b'\n') => i += 1,
            b'\r' | b'\n' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    unfold(&out)
}

/// The header fields ENVELOPE is built from, found in one pass over the header. Courier
/// joins repeated fields with ", ".
#[derive(Default)]
struct Found {
    slots: [Option<Vec<u8>>; 10],
}

const NAMES: [&[u8]; 10] = [
    b"date",
    b"subject",
    b"from",
    b"sender",
    b"reply-to",
    b"to",
    b"cc",
    b"bcc",
    b"in-reply-to",
    b"message-id",
];

/// ENVELOPE from a header alone (the body, if any follows, is not looked at).
pub fn envelope_from_header(canonical_header: &[u8]) -> Vec<u8> {
    let mut f = Found::default();
    for field in header::fields(canonical_header) {
        let Some(i) = NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(field.name))
        else {
            continue;
        };
        let v = cut_unfold(field.name, field.value);
        match &mut f.slots[i] {
            Some(prev) => {
                prev.extend_from_slice(b", ");
                prev.extend_from_slice(&v);
            }
            slot => *slot = Some(v),
        }
    }
    let [
        date,
        subject,
        from,
        sender,
        reply_to,
        to,
        cc,
        bcc,
        in_reply_to,
        message_id,
    ] = f.slots;
    let mut out = Vec::with_capacity(256);
    out.push(b'(');
    // An empty field is NIL, like an absent one.
    let text = |out: &mut Vec<u8>, v: &Option<Vec<u8>>| {
        let v = v.as_deref().filter(|v| !v.is_empty()).map(encode_8bit);
        write_field(out, v.as_deref());
    };
    text(&mut out, &date);
    out.push(b' ');
    text(&mut out, &subject);
    out.push(b' ');
    crate::address::write_list(&mut out, from.as_deref());
    // Sender and Reply-To default to From only when the field is absent.
    for v in [
        sender.as_ref().or(from.as_ref()),
        reply_to.as_ref().or(from.as_ref()),
    ] {
        out.push(b' ');
        crate::address::write_list(&mut out, v.map(|v| &v[..]));
    }
    for v in [&to, &cc, &bcc] {
        out.push(b' ');
        crate::address::write_list(&mut out, v.as_deref());
    }
    out.push(b' ');
    text(&mut out, &in_reply_to);
    out.push(b' ');
    text(&mut out, &message_id);
    out.push(b')');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        let h = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nFrom: Terry Gray <gray@cac.washington.edu>\r\nSubject: IMAP4rev1 WG mtg summary and minutes\r\nTo: imap@cac.washington.edu\r\nMessage-Id: <B27397-0100000@cac.washington.edu>\r\n\r\n";
        let e = String::from_utf8(envelope_from_header(h)).unwrap();
        assert_eq!(
            e,
            r#"("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) NIL NIL NIL "<B27397-0100000@cac.washington.edu>")"#
        );
        assert_eq!(
            envelope_from_header(b""),
            b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
        );
    }
}
