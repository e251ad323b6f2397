//! FETCH ENVELOPE.

use crate::header::{self, unfold};
use crate::imapstr;

/// Writes one ENVELOPE string field (`NIL` when absent).
pub(crate) fn write_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    imapstr::write_nstring(out, v);
}

/// Encodes runs of words holding 8-bit characters as RFC 2047 UTF-8 encoded words, the
/// way Courier's ENVELOPE does: bytes that are not valid UTF-8 are dropped; each run
/// becomes one `=?utf-8?Q?...?=` or `=?utf-8?B?...?=` word, whichever is shorter (B on
/// a tie). Courier also splits long runs into several words; that is not reproduced.
pub(crate) fn encode_8bit(v: &[u8]) -> Vec<u8> {
    if v.is_ascii() {
        return v.to_vec();
    }
    let clean: Vec<u8> = String::from_utf8_lossy(v)
        .replace('\u{fffd}', "")
        .into_bytes();
    let mut out = Vec::with_capacity(clean.len() * 2);
    let words: Vec<&[u8]> = clean.split(|&b| b == b' ').collect();
    let mut i = 0;
    while i < words.len() {
        if i > 0 {
            out.push(b' ');
        }
        if !needs_word(words[i]) {
            out.extend_from_slice(words[i]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < words.len() && needs_word(words[j]) {
            j += 1;
        }
        let run = words[i..j].join(&b' ');
        out.extend_from_slice(&encoded_word(&run));
        i = j;
    }
    out
}

/// In a value that holds 8-bit characters, Courier also encodes the words that hold
/// characters special in encoded words or addresses.
fn needs_word(w: &[u8]) -> bool {
    w.iter()
        .any(|&b| b >= 0x80 || b"\"=?<>@,;:\\[]_".contains(&b))
}

fn encoded_word(run: &[u8]) -> Vec<u8> {
    let mut q = Vec::new();
    for &b in run {
        if b.is_ascii_alphanumeric() {
            q.push(b);
        } else if b == b' ' {
            q.push(b'_');
        } else {
            q.extend_from_slice(format!("={b:02X}").as_bytes());
        }
    }
    let b64 = base64(run);
    let mut out = Vec::with_capacity(run.len() * 3 + 12);
    if q.len() < b64.len() {
        out.extend_from_slice(b"=?utf-8?Q?");
        out.extend_from_slice(&q);
    } else {
        out.extend_from_slice(b"=?utf-8?B?");
        out.extend_from_slice(&b64);
    }
    out.extend_from_slice(b"?=");
    out
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
/// together are cut at 8191 bytes before the value is used.
const FIELD_MAX: usize = 8191;

fn cut_unfold(name: &[u8], value: &[u8]) -> Vec<u8> {
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
