//! FETCH ENVELOPE.

use crate::header::{self, unfold};
use crate::imapstr;

/// Writes one ENVELOPE string field (`NIL` when absent).
pub(crate) fn write_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    imapstr::write_nstring(out, v);
}

/// The header fields ENVELOPE is built from, found in one pass over the header.
#[derive(Default)]
struct Found<'a> {
    date: Option<&'a [u8]>,
    subject: Option<&'a [u8]>,
    from: Option<&'a [u8]>,
    sender: Option<&'a [u8]>,
    reply_to: Option<&'a [u8]>,
    to: Option<&'a [u8]>,
    cc: Option<&'a [u8]>,
    bcc: Option<&'a [u8]>,
    in_reply_to: Option<&'a [u8]>,
    message_id: Option<&'a [u8]>,
}

/// ENVELOPE from a header alone (the body, if any follows, is not looked at).
pub fn envelope_from_header(canonical_header: &[u8]) -> Vec<u8> {
    let mut f = Found::default();
    for field in header::fields(canonical_header) {
        let n = field.name;
        let slot = if n.eq_ignore_ascii_case(b"date") {
            &mut f.date
        } else if n.eq_ignore_ascii_case(b"subject") {
            &mut f.subject
        } else if n.eq_ignore_ascii_case(b"from") {
            &mut f.from
        } else if n.eq_ignore_ascii_case(b"sender") {
            &mut f.sender
        } else if n.eq_ignore_ascii_case(b"reply-to") {
            &mut f.reply_to
        } else if n.eq_ignore_ascii_case(b"to") {
            &mut f.to
        } else if n.eq_ignore_ascii_case(b"cc") {
            &mut f.cc
        } else if n.eq_ignore_ascii_case(b"bcc") {
            &mut f.bcc
        } else if n.eq_ignore_ascii_case(b"in-reply-to") {
            &mut f.in_reply_to
        } else if n.eq_ignore_ascii_case(b"message-id") {
            &mut f.message_id
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = Some(field.value);
        }
    }
    let mut out = Vec::with_capacity(256);
    out.push(b'(');
    let text = |out: &mut Vec<u8>, v: Option<&[u8]>| {
        let u = v.map(unfold);
        write_field(out, u.as_deref());
    };
    text(&mut out, f.date);
    out.push(b' ');
    text(&mut out, f.subject);
    out.push(b' ');
    let from = f.from.map(unfold);
    crate::address::write_list(&mut out, from.as_deref());
    out.push(b' ');
    let or_from = |v: Option<&[u8]>| match v.map(unfold) {
        Some(u) if !crate::address::parse_list(&u).is_empty() => Some(u),
        _ => from.clone(),
    };
    crate::address::write_list(&mut out, or_from(f.sender).as_deref());
    out.push(b' ');
    crate::address::write_list(&mut out, or_from(f.reply_to).as_deref());
    for v in [f.to, f.cc, f.bcc] {
        out.push(b' ');
        let u = v.map(unfold);
        crate::address::write_list(&mut out, u.as_deref());
    }
    out.push(b' ');
    text(&mut out, f.in_reply_to);
    out.push(b' ');
    text(&mut out, f.message_id);
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
