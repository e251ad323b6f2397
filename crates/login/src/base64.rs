//! Base64 exactly as courier-authlib's SASL layer reads and writes it
//! (`authsasl_frombase64` / `authsasl_tobase64`).
//!
//! Decoding is Courier's, not RFC 4648's: the leading run of alphabet characters
//! is taken, then at most two more characters may follow (normally `=` padding);
//! after skipping `=` the length must be a multiple of four. So `YWJj!` decodes
//! (to `abc`, the `!` ignored) while `YQ` and `YWJj!!!` do not. Non-zero trailing
//! bits are ignored. Input is a C string: it ends at the first NUL.

use base64::Engine;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn value(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Decodes `input` as Courier does; `None` where Courier returns -1.
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let input = crate::cstr(input);
    let mut j = input.iter().take_while(|&&c| value(c).is_some()).count();
    if input.len() - j >= 3 {
        return None;
    }
    while input.get(j) == Some(&b'=') {
        j += 1;
    }
    if j % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(j / 4 * 3);
    for g in input[..j].chunks_exact(4) {
        // '=' only ever appears in the last two places of the last group.
        let v = |i: usize| u32::from(value(g[i]).unwrap_or(0));
        let n = (v(0) << 18) | (v(1) << 12) | (v(2) << 6) | v(3);
        out.push((n >> 16) as u8);
        if g[2] != b'=' {
            out.push((n >> 8) as u8);
        }
        if g[3] != b'=' {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// Standard padded base64 (what Courier sends in challenges).
pub fn encode(input: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&[u8], Option<&[u8]>)] = &[
        (b"", Some(b"")),
        (b"YWJj", Some(b"abc")),
        (b"YWI=", Some(b"ab")),
        (b"YQ==", Some(b"a")),
        (b"AGFsaWNlAHNlY3JldA==", Some(b"\0alice\0secret")),
        // Courier's leniency: up to two junk characters after complete groups.
        (b"YWJj!", Some(b"abc")),
        (b"YWJj!!", Some(b"abc")),
        (b"YWJj\r", Some(b"abc")),
        // ...but not three, and no short groups.
        (b"YWJj!!!", None),
        (b"!!!!", None),
        (b"YQ", None),
        (b"YQ=", None),
        (b"YWI=x", Some(b"ab")),
        (b"YWI==x", None),
        (b"YWI=xyz", None),
        (b"Y===", None),
        (b"YWJj YWJj", None),
        // A C string ends at NUL.
        (b"YWJj\0garbage!!!", Some(b"abc")),
    ];

    #[test]
    fn decode_matches_courier_authsasl_frombase64() {
        for (input, want) in CASES {
            assert_eq!(
                decode(input).as_deref(),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn encode_round_trips_through_decode() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"Username:", b"\xff\x00\x10"] {
            assert_eq!(decode(encode(s).as_bytes()).as_deref(), Some(s));
        }
        assert_eq!(encode(b"Username:"), "VXNlcm5hbWU6");
        assert_eq!(encode(b"Password:"), "UGFzc3dvcmQ6");
    }
}
