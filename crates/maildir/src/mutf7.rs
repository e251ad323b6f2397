//! IMAP modified UTF-7 (RFC 3501 §5.1.3), the wire form of folder names for clients
//! that have not enabled UTF8=ACCEPT. Since Courier-IMAP 5.0 folder directories are
//! UTF-8 on disk (formats.md §2); the server converts at the edge, and refuses names
//! that are not valid modified UTF-7.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(c: u8) -> Option<u32> {
    B64.iter().position(|&x| x == c).map(|p| p as u32)
}

/// Encodes a UTF-8 name to modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let mut bits = 0u32;
        let mut nbits = 0;
        for unit in pending.drain(..) {
            bits = (bits << 16) | u32::from(unit);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(B64[((bits >> nbits) & 0x3f) as usize] as char);
            }
        }
        if nbits > 0 {
            out.push(B64[((bits << (6 - nbits)) & 0x3f) as usize] as char);
        }
        out.push('-');
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Why a name is not valid modified UTF-7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMutf7;

/// Decodes modified UTF-7 to UTF-8, strictly: raw bytes outside printable ASCII,
/// unterminated or malformed `&...-` runs, non-zero padding bits, invalid UTF-16,
/// and encoded characters that should have been written directly are refused.
pub fn decode(wire: &str) -> Result<String, InvalidMutf7> {
    let bytes = wire.as_bytes();
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if !(0x20..=0x7e).contains(&c) {
            return Err(InvalidMutf7);
        }
        if c != b'&' {
            out.push(c as char);
            i += 1;
            continue;
        }
        i += 1;
        let start = i;
        while i < bytes.len() && bytes[i] != b'-' {
            i += 1;
        }
        if i == bytes.len() {
            return Err(InvalidMutf7);
        }
        let run = &bytes[start..i];
        i += 1; // the '-'
        if run.is_empty() {
            out.push('&');
            continue;
        }
        let mut units = Vec::new();
        let mut bits = 0u32;
        let mut nbits = 0;
        for &b in run {
            bits = (bits << 6) | b64_value(b).ok_or(InvalidMutf7)?;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
        }
        if nbits >= 6 || (bits & ((1 << nbits) - 1)) != 0 || units.is_empty() {
            return Err(InvalidMutf7);
        }
        for ch in char::decode_utf16(units.iter().copied()) {
            let ch = ch.map_err(|_| InvalidMutf7)?;
            if (' '..='~').contains(&ch) {
                return Err(InvalidMutf7);
            }
            out.push(ch);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIRS: &[(&str, &str)] = &[
        ("INBOX.Résumé", "INBOX.R&AOk-sum&AOk-"),
        ("A&B", "A&-B"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("plain", "plain"),
        ("😀", "&2D3eAA-"),
    ];

    #[test]
    fn encodes_and_decodes_known_pairs() {
        for (utf8, wire) in PAIRS {
            assert_eq!(encode(utf8), *wire);
            assert_eq!(decode(wire).as_deref(), Ok(*utf8));
        }
    }

    #[test]
    fn rejects_invalid_wire_forms() {
        for bad in [
            "&AOk",
            "&A-",
            "&AGE-",
            "a\u{e9}",
            "&Jjo!-",
            "tab\there",
            "&2D0-",
            "&AOl-",
        ] {
            assert_eq!(decode(bad), Err(InvalidMutf7), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(s in "\\PC{0,20}") {
            let back = decode(&encode(&s));
            proptest::prop_assert_eq!(back, Ok(s.clone()));
        }
    }
}
