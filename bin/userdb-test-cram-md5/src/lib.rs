//! userdb-test-cram-md5: the interactive CRAM-MD5 calculator Courier ships for testing
//! `hmac-md5pw` setups.
//!
//! Debian's `/usr/sbin/userdb-test-cram-md5` is a Perl script (RFC 2195 example in its
//! comments). Observed on Debian 12, everything on stdout, no terminal tricks:
//!
//! ```text
//! Username? <line>
//! Password? <line>            (echoed: the script does not hide it)
//! Send: AUTH CRAM-MD5 (or for imap, A AUTHENTICATE CRAM-MD5)
//! Paste the challenge here:
//! + <line>
//! Send this response:
//! <base64("<user> <hex HMAC-MD5(password, challenge)>"), 76-column lines>
//! <empty line>
//! ```
//! Lines are Perl `<STDIN>` + `chomp`: any length, one trailing `\n` removed, CR and
//! NUL kept; EOF reads as an empty line and the exit code is still 0 (Perl also prints
//! "Use of uninitialized value" warnings then; we do not). The challenge loses a
//! leading `+` and spaces, then is decoded as `MIME::Base64::decode_base64` does
//! (non-alphabet bytes skipped, stops at `=`, a short tail is padded).

#![forbid(unsafe_code)]

use courier_pwcrypt::{CramAlg, cram_response_hex_bytes};
use std::io::{self, BufRead, Write};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// `index_64` value of `=` in MIME::Base64's XS decoder.
const EQ: u8 = 64;

fn index_64(b: u8) -> Option<u8> {
    if b == b'=' {
        return Some(EQ);
    }
    ALPHABET
        .iter()
        .position(|&a| a == b)
        .and_then(|i| u8::try_from(i).ok())
}

/// `MIME::Base64::decode_base64` (the XS version): skips bytes outside the alphabet,
/// treats `=` as the end, and pads a trailing group of 2 or 3 symbols.
pub fn perl_decode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut it = input.iter().peekable();
    while it.peek().is_some() {
        let mut c = [0u8; 4];
        let mut i = 0;
        while let Some(&b) = it.next() {
            if let Some(v) = index_64(b) {
                c[i] = v;
                i += 1;
            }
            if it.peek().is_none() {
                if i < 4 {
                    if i < 2 {
                        return out;
                    }
                    if i == 2 {
                        c[2] = EQ;
                    }
                    c[3] = EQ;
                }
                break;
            }
            if i == 4 {
                break;
            }
        }
        if c[0] == EQ || c[1] == EQ {
            break;
        }
        out.push((c[0] << 2) | ((c[1] & 0x30) >> 4));
        if c[2] == EQ {
            break;
        }
        out.push(((c[1] & 0x0f) << 4) | ((c[2] & 0x3c) >> 2));
        if c[3] == EQ {
            break;
        }
        out.push(((c[2] & 0x03) << 6) | c[3]);
    }
    out
}

/// `MIME::Base64::encode_base64` with its defaults: padded, lines of 76 characters,
/// each (the last too) ended by `\n`; empty input gives empty output.
pub fn perl_encode_base64(input: &[u8]) -> Vec<u8> {
    let mut enc = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sym = |k: u32| ALPHABET[((n >> k) & 63) as usize];
        enc.push(sym(18));
        enc.push(sym(12));
        enc.push(if chunk.len() > 1 { sym(6) } else { b'=' });
        enc.push(if chunk.len() > 2 { sym(0) } else { b'=' });
    }
    let mut out = Vec::with_capacity(enc.len() + enc.len() / 76 + 1);
    for line in enc.chunks(76) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

/// Perl's `$x = <STDIN>; chomp($x);`, with EOF read as the empty string.
fn read_chomped(input: &mut dyn BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

/// The whole dialogue on the given streams.
pub fn session(input: &mut dyn BufRead, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"Username? ")?;
    out.flush()?;
    let user = read_chomped(input)?;
    out.write_all(b"Password? ")?;
    out.flush()?;
    let password = read_chomped(input)?;
    out.write_all(b"Send: AUTH CRAM-MD5 (or for imap, A AUTHENTICATE CRAM-MD5)\n")?;
    out.write_all(b"Paste the challenge here:\n+ ")?;
    out.flush()?;
    let line = read_chomped(input)?;
    // s/^\+?\ *//
    let rest = line.strip_prefix(b"+").unwrap_or(&line);
    let skip = rest.iter().take_while(|&&b| b == b' ').count();
    let challenge = perl_decode_base64(&rest[skip..]);
    let digest = cram_response_hex_bytes(CramAlg::Md5, &password, &challenge);
    let mut response = user;
    response.push(b' ');
    response.extend_from_slice(digest.as_bytes());
    out.write_all(b"Send this response:\n")?;
    out.write_all(&perl_encode_base64(&response))?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Runs on the process's stdin and stdout; 0 unless stdout cannot be written.
pub fn run() -> u8 {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut out = io::stdout().lock();
    match session(&mut input, &mut out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(io::stderr(), "userdb-test-cram-md5: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_matches_mime_base64_xs() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"YWJj", b"abc"),
            (b"YWJjZA", b"abcd"),
            (b"YWJjZA=", b"abcd"),
            (b"YWJjZA==", b"abcd"),
            (b"YWJjZGU", b"abcde"),
            (b"a", b""),
            (b"!!!", b""),
            (b"=YWJj", b""),
            (b"Y=WJj", b""),
            (b"YW=Jj", b"a"),
            (b"YWJ=jZGVm", b"ab"),
            (b"YWJjZGVm====abc", b"abcdef"),
            (b"Y W\nJ\rj", b"abc"),
            (b"++ + YWJj", b"\xfb\xef\x98\x58\x98"),
        ];
        for (input, want) in cases {
            assert_eq!(perl_decode_base64(input), *want, "{input:?}");
        }
    }

    #[test]
    fn encode_wraps_at_76_columns() {
        assert_eq!(perl_encode_base64(b""), b"");
        assert_eq!(perl_encode_base64(b"a"), b"YQ==\n");
        let long = perl_encode_base64(&[b'x'; 60]);
        let lines: Vec<&[u8]> = long.split(|&b| b == b'\n').collect();
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [76, 4, 0]
        );
    }

    #[test]
    fn rfc2195_example() {
        let mut out = Vec::new();
        let input =
            b"tim\ntanstaaftanstaaf\n+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\n";
        session(&mut &input[..], &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with(
            "Send this response:\ndGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\n\n"
        ));
    }
}
