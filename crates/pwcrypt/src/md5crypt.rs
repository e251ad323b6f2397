//! MD5-crypt (`$1$`), in pure Rust, as Courier's own `md5_crypt_redhat()` does it.
//!
//! authdaemon-protocol.md §7.1: a stored value starting with `$1$` is checked by
//! Courier's internal implementation, not by `crypt(3)`. The algorithm is
//! Poul-Henning Kamp's FreeBSD MD5-crypt; the salt is the text after `$1$` up to the
//! first `$`, at most 8 bytes.

use md5::{Digest, Md5};

/// The `$1$` magic.
pub(crate) const MAGIC: &[u8] = b"$1$";

/// The crypt(3) alphabet used for the hash text and for salts.
pub(crate) const ITOA64: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Extracts the salt the way Courier does: skip `$1$` if present, then take bytes up
/// to the first `$`, at most 8.
pub(crate) fn salt_of(setting: &[u8]) -> &[u8] {
    let s = setting.strip_prefix(MAGIC).unwrap_or(setting);
    let end = s
        .iter()
        .take(8)
        .position(|&b| b == b'$')
        .unwrap_or(s.len().min(8));
    &s[..end]
}

/// Computes `$1$<salt>$<22 chars>` for `password` and the salt found in `setting`
/// (either a bare salt or a whole stored hash).
pub(crate) fn md5_crypt_bytes(password: &[u8], setting: &[u8]) -> Vec<u8> {
    let salt = salt_of(setting);

    let mut alt = Md5::new();
    alt.update(password);
    alt.update(salt);
    alt.update(password);
    let alt = alt.finalize();

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC);
    ctx.update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    // The famous oddity of the original: a NUL for each set bit, the first password
    // byte for each clear bit.
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin: [u8; 16] = ctx.finalize().into();

    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize().into();
    }

    let mut out = Vec::with_capacity(3 + salt.len() + 1 + 22);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(salt);
    out.push(b'$');
    let f = |i: usize| u32::from(fin[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(&mut out, (f(a) << 16) | (f(b) << 8) | f(c), 4);
    }
    to64(&mut out, f(11), 2);
    out
}

/// Appends the low `6 * n` bits of `v`, least significant group first.
fn to64(out: &mut Vec<u8>, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(ITOA64[(v & 0x3f) as usize]);
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, &str, &str)] = &[
        // authdaemon-protocol.md §3.2 (openssl passwd -1 agrees).
        ("secret", "w77Ai4nu", "$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0"),
        // Debian authpasswd's 5-character salt.
        ("secret", "hy3Dr", "$1$hy3Dr$1HjxZgKAUiRlNthWHIHZK0"),
        // Debian userdbpw -md5, empty password.
        ("", "$1$/1C2J.CS$", "$1$/1C2J.CS$bnJYCMsFkjHS3qwe0hXGr0"),
        // Salt longer than 8 is cut at 8.
        (
            "secret",
            "w77Ai4nuXYZ",
            "$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0",
        ),
    ];

    #[test]
    fn md5_crypt_matches_known_hashes() {
        for (pw, setting, want) in CASES {
            let got = md5_crypt_bytes(pw.as_bytes(), setting.as_bytes());
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{pw:?} {setting:?}");
        }
    }

    #[test]
    fn salt_stops_at_dollar_and_eight_bytes() {
        assert_eq!(salt_of(b"$1$ab$cd"), b"ab");
        assert_eq!(salt_of(b"$1$"), b"");
        assert_eq!(salt_of(b"$1$123456789"), b"12345678");
        assert_eq!(salt_of(b"xyz"), b"xyz");
    }
}
