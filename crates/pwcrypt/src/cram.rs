//! CRAM-MD5 / CRAM-SHA1 / CRAM-SHA256: Courier's precomputed HMAC secrets, the
//! authdaemon `cram-*` authdata, and verification (authdaemon-protocol.md §8).
//!
//! Courier stores, instead of a password, the two HMAC key states (`hmac-md5pw` etc.):
//! `hex(outer) ‖ hex(inner)`, where each is the raw chaining state of the hash after
//! compressing one block of `key ⊕ opad` / `key ⊕ ipad`, serialised in the hash's
//! digest byte order. Verification resumes the hash from those states. The RustCrypto
//! crates expose the compression functions, so the padding and finalisation are done
//! here by hand.

use crate::ct_eq;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The hash under a CRAM mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CramAlg {
    /// CRAM-MD5 (RFC 2195), `hmac-md5pw`.
    Md5,
    /// CRAM-SHA1, `hmac-sha1pw`.
    Sha1,
    /// CRAM-SHA256, `hmac-sha256pw`.
    Sha256,
}

/// The block size of all three hashes.
const BLOCK: usize = 64;

impl CramAlg {
    /// All mechanisms, in Courier's `hmac_list` order.
    pub const ALL: [CramAlg; 3] = [CramAlg::Md5, CramAlg::Sha1, CramAlg::Sha256];

    /// Maps an authdaemon authtype (`cram-md5`, `cram-sha1`, `cram-sha256`) to the
    /// algorithm. Exact, lowercase match, as Courier's `auth_get_cram()` compares.
    pub fn from_authtype(t: &str) -> Option<CramAlg> {
        CramAlg::from_name(t.strip_prefix("cram-")?)
    }

    /// Maps Courier's hash name (`md5`, `sha1`, `sha256`) to the algorithm.
    pub fn from_name(name: &str) -> Option<CramAlg> {
        CramAlg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Courier's name for the hash: `md5`, `sha1` or `sha256`; the userdb field is
    /// `hmac-<name>pw`.
    pub fn name(self) -> &'static str {
        match self {
            CramAlg::Md5 => "md5",
            CramAlg::Sha1 => "sha1",
            CramAlg::Sha256 => "sha256",
        }
    }

    /// The digest length L in bytes (16, 20, 32). A secret is 4·L hex digits, a
    /// response digest 2·L.
    pub fn digest_len(self) -> usize {
        match self {
            CramAlg::Md5 => 16,
            CramAlg::Sha1 => 20,
            CramAlg::Sha256 => 32,
        }
    }

    fn words(self) -> usize {
        self.digest_len() / 4
    }
}

/// A hash's raw chaining state, at most 8 32-bit words.
#[derive(Clone, Copy)]
struct RawState {
    alg: CramAlg,
    h: [u32; 8],
}

impl RawState {
    fn initial(alg: CramAlg) -> RawState {
        let mut h = [0u32; 8];
        let iv: &[u32] = match alg {
            // RFC 1321 §3.3
            CramAlg::Md5 => &[0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            // FIPS 180-4 §5.3.1
            CramAlg::Sha1 => &[
                0x6745_2301,
                0xefcd_ab89,
                0x98ba_dcfe,
                0x1032_5476,
                0xc3d2_e1f0,
            ],
            // FIPS 180-4 §5.3.3
            CramAlg::Sha256 => &[
                0x6a09_e667,
                0xbb67_ae85,
                0x3c6e_f372,
                0xa54f_f53a,
                0x510e_527f,
                0x9b05_688c,
                0x1f83_d9ab,
                0x5be0_cd19,
            ],
        };
        h[..iv.len()].copy_from_slice(iv);
        RawState { alg, h }
    }

    fn compress(&mut self, block: &[u8; BLOCK]) {
        let blocks = std::slice::from_ref(block);
        match self.alg {
            CramAlg::Md5 => {
                let mut s = [self.h[0], self.h[1], self.h[2], self.h[3]];
                md5::block_api::compress(&mut s, blocks);
                self.h[..4].copy_from_slice(&s);
            }
            CramAlg::Sha1 => {
                let mut s = [self.h[0], self.h[1], self.h[2], self.h[3], self.h[4]];
                sha1::block_api::compress(&mut s, blocks);
                self.h[..5].copy_from_slice(&s);
            }
            CramAlg::Sha256 => sha2::block_api::compress256(&mut self.h, blocks),
        }
    }

    /// The state in digest byte order: MD5 little-endian words, SHA big-endian.
    fn to_bytes(self) -> Vec<u8> {
        self.h[..self.alg.words()]
            .iter()
            .flat_map(|w| match self.alg {
                CramAlg::Md5 => w.to_le_bytes(),
                CramAlg::Sha1 | CramAlg::Sha256 => w.to_be_bytes(),
            })
            .collect()
    }

    fn from_bytes(alg: CramAlg, bytes: &[u8]) -> Option<RawState> {
        if bytes.len() != alg.digest_len() {
            return None;
        }
        let mut h = [0u32; 8];
        for (w, c) in h.iter_mut().zip(bytes.chunks_exact(4)) {
            let c: [u8; 4] = c.try_into().ok()?;
            *w = match alg {
                CramAlg::Md5 => u32::from_le_bytes(c),
                CramAlg::Sha1 | CramAlg::Sha256 => u32::from_be_bytes(c),
            };
        }
        Some(RawState { alg, h })
    }

    /// Hashes `data` as the continuation of a message of which `prefix` bytes (a whole
    /// number of blocks) were already compressed into this state, and finalises.
    fn finish(mut self, prefix: u64, data: &[u8]) -> Vec<u8> {
        let mut chunks = data.chunks_exact(BLOCK);
        for c in &mut chunks {
            if let Ok(b) = <&[u8; BLOCK]>::try_from(c) {
                self.compress(b);
            }
        }
        let rest = chunks.remainder();
        let bits = (prefix.wrapping_add(data.len() as u64)).wrapping_mul(8);
        let mut tail = [0u8; 2 * BLOCK];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        let total = if rest.len() < BLOCK - 8 {
            BLOCK
        } else {
            2 * BLOCK
        };
        let len = match self.alg {
            CramAlg::Md5 => bits.to_le_bytes(),
            CramAlg::Sha1 | CramAlg::Sha256 => bits.to_be_bytes(),
        };
        tail[total - 8..total].copy_from_slice(&len);
        for c in tail[..total].chunks_exact(BLOCK) {
            if let Ok(b) = <&[u8; BLOCK]>::try_from(c) {
                self.compress(b);
            }
        }
        self.to_bytes()
    }
}

fn digest(alg: CramAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        CramAlg::Md5 => Md5::digest(data).to_vec(),
        CramAlg::Sha1 => Sha1::digest(data).to_vec(),
        CramAlg::Sha256 => Sha256::digest(data).to_vec(),
    }
}

/// The outer and inner key states for `key` (RFC 2104: keys longer than a block are
/// hashed first, then zero-padded to the block size).
fn key_states(alg: CramAlg, key: &[u8]) -> (RawState, RawState) {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        let d = digest(alg, key);
        k[..d.len()].copy_from_slice(&d);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut outer = RawState::initial(alg);
    let mut inner = RawState::initial(alg);
    outer.compress(&k.map(|b| b ^ 0x5c));
    inner.compress(&k.map(|b| b ^ 0x36));
    (outer, inner)
}

/// HMAC from precomputed key states.
fn hmac_from_states(outer: RawState, inner: RawState, msg: &[u8]) -> Vec<u8> {
    let d1 = inner.finish(BLOCK as u64, msg);
    outer.finish(BLOCK as u64, &d1)
}

/// Courier's precomputed secret for `password`, as `userdbpw -hmac-<alg>` prints it and
/// userdb stores it in `hmac-<alg>pw`: lowercase hex of outer state ‖ inner state.
pub fn hmac_secret(alg: CramAlg, password: &str) -> String {
    hmac_secret_bytes(alg, password.as_bytes())
}

/// [`hmac_secret`] for a password that is not UTF-8 (Courier treats it as bytes).
pub fn hmac_secret_bytes(alg: CramAlg, password: &[u8]) -> String {
    let (outer, inner) = key_states(alg, password);
    let mut s = hex(&outer.to_bytes());
    s.push_str(&hex(&inner.to_bytes()));
    s
}

/// Decodes CRAM authdata `base64(challenge)\nbase64(response)\n` into
/// (challenge bytes, userid, hex digest).
///
/// As Courier's `auth_get_cram()`: empty lines are skipped (it tokenises with
/// `strtok`), both parts must be valid base64, and the decoded response is split at its
/// **last** space. A userid containing NUL or not valid UTF-8 is refused, as is a
/// response without a space or with an empty digest.
pub fn parse_cram_authdata(authdata: &[u8]) -> Option<(Vec<u8>, String, String)> {
    let mut lines = authdata.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let challenge = STANDARD.decode(lines.next()?).ok()?;
    let response = STANDARD.decode(lines.next()?).ok()?;
    let sp = response.iter().rposition(|&b| b == b' ')?;
    let (user, digest) = (&response[..sp], &response[sp + 1..]);
    if user.contains(&0) || digest.is_empty() {
        return None;
    }
    let user = String::from_utf8(user.to_vec()).ok()?;
    let digest = String::from_utf8(digest.to_vec()).ok()?;
    Some((challenge, user, digest))
}

/// Checks a CRAM response digest (hex, either case, exactly 2·L digits) against a
/// stored `hmac-*pw` secret (hex, either case, exactly 4·L digits). Anything malformed
/// is a mismatch. The digest comparison is constant-time.
pub fn cram_verify_secret(
    alg: CramAlg,
    secret: &str,
    challenge: &[u8],
    response_hex: &str,
) -> bool {
    let l = alg.digest_len();
    let (Some(secret), Some(response)) = (unhex(secret), unhex(response_hex)) else {
        return false;
    };
    if secret.len() != 2 * l || response.len() != l {
        return false;
    }
    let (Some(outer), Some(inner)) = (
        RawState::from_bytes(alg, &secret[..l]),
        RawState::from_bytes(alg, &secret[l..]),
    ) else {
        return false;
    };
    ct_eq(&hmac_from_states(outer, inner, challenge), &response)
}

/// Checks a CRAM response against a cleartext password (for modules that store
/// cleartext). Same rules for the digest as [`cram_verify_secret`].
pub fn cram_verify_password(
    alg: CramAlg,
    password: &str,
    challenge: &[u8],
    response_hex: &str,
) -> bool {
    let Some(response) = unhex(response_hex) else {
        return false;
    };
    if response.len() != alg.digest_len() {
        return false;
    }
    ct_eq(&hmac(alg, password.as_bytes(), challenge), &response)
}

/// The client side: the lowercase hex digest HMAC-H(password, challenge) that a client
/// sends after its user name.
pub fn cram_response_hex(alg: CramAlg, password: &str, challenge: &[u8]) -> String {
    hex(&hmac(alg, password.as_bytes(), challenge))
}

/// [`cram_response_hex`] for a key that is not UTF-8.
pub fn cram_response_hex_bytes(alg: CramAlg, key: &[u8], challenge: &[u8]) -> String {
    hex(&hmac(alg, key, challenge))
}

/// RFC 2104 HMAC through the `hmac` crate: an implementation independent of the
/// state-resuming one above, so the two check each other in tests.
fn hmac(alg: CramAlg, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail; fall back
        // to the state-based path rather than unwrap.
        match <M as KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    let out = match alg {
        CramAlg::Md5 => run::<Hmac<Md5>>(key, msg),
        CramAlg::Sha1 => run::<Hmac<Sha1>>(key, msg),
        CramAlg::Sha256 => run::<Hmac<Sha256>>(key, msg),
    };
    if out.is_empty() {
        let (o, i) = key_states(alg, key);
        return hmac_from_states(o, i, msg);
    }
    out
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Hex of either case to bytes; `None` on odd length or a non-hex character.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// authdaemon-protocol.md §8.2, and Debian's `userdbpw -hmac-*` for `secret`.
    const SECRETS: &[(CramAlg, &str)] = &[
        (
            CramAlg::Md5,
            "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
        ),
        (
            CramAlg::Sha1,
            "091e0f4c6cb5277ee2beb639a60d0831b5c8adcdaee172433df3e96ba4f00fb1b6a490c3929d2034",
        ),
        (
            CramAlg::Sha256,
            "5a84072aab37d22275b139adf7a92564c7f674be98e77d991f6f689d29e05245\
             72804f31b042016804d3dea2f4e991a21b1c8906be161594b202fb74afc8ceb3",
        ),
    ];

    #[test]
    fn hmac_secret_of_secret_matches_courier() {
        for (alg, want) in SECRETS {
            assert_eq!(hmac_secret(*alg, "secret"), *want, "{alg:?}");
        }
    }

    #[test]
    fn state_resume_agrees_with_hmac_crate_for_all_lengths() {
        for alg in CramAlg::ALL {
            for klen in [0usize, 1, 63, 64, 65, 200] {
                let key = vec![b'k'; klen];
                let (o, i) = key_states(alg, &key);
                for mlen in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 200] {
                    let msg: Vec<u8> = (0..mlen).map(|n| n as u8).collect();
                    assert_eq!(
                        hmac_from_states(o, i, &msg),
                        hmac(alg, &key, &msg),
                        "{alg:?} key {klen} msg {mlen}"
                    );
                }
            }
        }
    }

    #[test]
    fn rfc2195_example_response() {
        // RFC 2195 §2: tim / tanstaaftanstaaf.
        let ch = b"<1896.697170952@postoffice.reston.mci.net>";
        assert_eq!(
            cram_response_hex(CramAlg::Md5, "tanstaaftanstaaf", ch),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn observed_auth_request_verifies_against_secret_and_password() {
        // authdaemon-protocol.md §3.2: AUTH … cram-md5 for alice, password "secret".
        let data = b"PDEyMzRBQkNEQHZtPg==\nYWxpY2UgNzRkNTE5OTcwMWFiZmJiNmJlOWJmMTk5YWZhYjk2ODk=\n";
        let (ch, user, dig) = parse_cram_authdata(data).unwrap();
        assert_eq!(
            (ch.as_slice(), user.as_str()),
            (&b"<1234ABCD@vm>"[..], "alice")
        );
        assert_eq!(dig, "74d5199701abfbb6be9bf199afab9689");
        assert!(cram_verify_secret(CramAlg::Md5, SECRETS[0].1, &ch, &dig));
        assert!(cram_verify_secret(
            CramAlg::Md5,
            &SECRETS[0].1.to_uppercase(),
            &ch,
            &dig.to_uppercase()
        ));
        assert!(cram_verify_password(CramAlg::Md5, "secret", &ch, &dig));
        assert!(!cram_verify_password(CramAlg::Md5, "Secret", &ch, &dig));
        assert!(!cram_verify_secret(CramAlg::Sha1, SECRETS[1].1, &ch, &dig));
    }

    #[test]
    fn cram_round_trips_for_every_algorithm() {
        for alg in CramAlg::ALL {
            let secret = hmac_secret(alg, "pässword");
            assert_eq!(secret.len(), 4 * alg.digest_len());
            let r = cram_response_hex(alg, "pässword", b"<X@y>");
            assert!(cram_verify_secret(alg, &secret, b"<X@y>", &r));
            assert!(cram_verify_password(alg, "pässword", b"<X@y>", &r));
            assert!(!cram_verify_secret(alg, &secret, b"<X@z>", &r));
        }
    }

    #[test]
    fn malformed_secrets_and_responses_are_mismatches() {
        let s = SECRETS[0].1;
        let ch = b"<1234ABCD@vm>";
        let good = "74d5199701abfbb6be9bf199afab9689";
        for (secret, resp) in [
            ("", good),
            (&s[1..], good),
            (&s[..62], good),
            ("zz", good),
            (s, ""),
            (s, &good[1..]),
            (s, "74d5199701abfbb6be9bf199afab968g"),
            (s, "74d5199701abfbb6be9bf199afab9689aa"),
            (s, "é4d5199701abfbb6be9bf199afab9689"),
        ] {
            assert!(
                !cram_verify_secret(CramAlg::Md5, secret, ch, resp),
                "{secret} {resp}"
            );
        }
    }

    #[test]
    fn authdata_parsing_follows_auth_get_cram() {
        let enc = |s: &[u8]| STANDARD.encode(s);
        let mk = |c: &[u8], r: &[u8]| format!("{}\n{}\n", enc(c), enc(r)).into_bytes();
        // Split at the last space: user names may contain spaces.
        let (_, u, d) = parse_cram_authdata(&mk(b"c", b"a b c 0011")).unwrap();
        assert_eq!((u.as_str(), d.as_str()), ("a b c", "0011"));
        // strtok: leading and doubled newlines are skipped.
        let mut v = b"\n".to_vec();
        v.extend(mk(b"c", b"u 00").iter().flat_map(|&b| {
            if b == b'\n' {
                vec![b'\n', b'\n']
            } else {
                vec![b]
            }
        }));
        assert!(parse_cram_authdata(&v).is_some());
        for bad in [
            &b""[..],
            b"\n\n",
            b"Y2g=\n",
            b"!!!!\nYSBi\n",
            b"Y2g=\n!!!!\n",
        ] {
            assert!(parse_cram_authdata(bad).is_none(), "{bad:?}");
        }
        assert!(parse_cram_authdata(&mk(b"c", b"nospace")).is_none());
        assert!(parse_cram_authdata(&mk(b"c", b"user ")).is_none());
        assert!(parse_cram_authdata(&mk(b"c", b"u\0x 00")).is_none());
        assert!(parse_cram_authdata(&mk(b"c", b"\xff 00")).is_none());
    }

    #[test]
    fn authtypes_map_exactly() {
        assert_eq!(CramAlg::from_authtype("cram-md5"), Some(CramAlg::Md5));
        assert_eq!(CramAlg::from_authtype("cram-sha1"), Some(CramAlg::Sha1));
        assert_eq!(CramAlg::from_authtype("cram-sha256"), Some(CramAlg::Sha256));
        for t in ["CRAM-MD5", "cram-", "md5", "login", "cram-sha512", ""] {
            assert_eq!(CramAlg::from_authtype(t), None, "{t}");
        }
        assert_eq!(CramAlg::Sha256.name(), "sha256");
    }
}
