//! courier-pwcrypt: password hashes in every form Courier accepts, and CRAM secrets.
//!
//! Owns:
//! * checking a password against a stored value ([`verify`]): `$1$` MD5-crypt (pure
//!   Rust, as Courier's internal implementation), `{MD5}`, `{MD5RAW}`, `{SHA}`,
//!   `{SHA256}`, `{SHA512}`, `{SSHA}`, `{CRYPT}`, and everything else through the
//!   system `crypt(3)` (libxcrypt: `$y$`, `$gy$`, `$7$`, `$6$`, `$5$`, `$2b$`, DES);
//! * making new hashes with fresh random salts ([`hash`], [`Scheme`]);
//! * CRAM-MD5/SHA1/SHA256: Courier's precomputed `hmac-*pw` secrets
//!   ([`hmac_secret`]), the authdaemon `cram-*` authdata ([`parse_cram_authdata`]) and
//!   verification against a secret or a cleartext password;
//! * the new-password dialogue shared by `userdbpw` and `authpasswd` ([`tty`]).
//!
//! Does not: look up accounts, choose which stored field applies (`imappw` vs
//! `systempw`, `imap-hmac-md5pw` vs `hmac-md5pw`: that is the modules' job), log, or
//! keep any state. It never prints or returns a secret except as the hash asked for.
//!
//! Invariants:
//! * [`verify`] never panics and returns `false` for anything malformed, whatever
//!   `stored` holds; comparisons of computed and stored values are constant-time.
//! * `unsafe` is confined to the libxcrypt shim (`ffi`) and the termios echo switch
//!   (`tty`), each block with a `SAFETY:` note (STYLE.md §1.4, CRATES.md decision 4).
//!
//! Formats: authdaemon-protocol.md §7.1 (stored values), §7.2 (`authpasswd`), §6.4
//! (`userdbpw`), §8 (CRAM and the `hmac-*pw` secrets); RFC 2104 (HMAC), RFC 2195
//! (CRAM-MD5).
#![warn(missing_docs)]

mod cram;
mod ffi;
mod md5crypt;
pub mod tty;

pub use cram::{
    CramAlg, cram_response_hex, cram_response_hex_bytes, cram_verify_password, cram_verify_secret,
    hmac_secret, hmac_secret_bytes, parse_cram_authdata,
};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use courier_common::{Disposition, ExitStatus};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// What can go wrong making a hash. (Checking one cannot fail: it just does not match.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PwError {
    /// The system's random source could not be read: an OS problem, not the caller's.
    #[error("cannot read random bytes for a salt: {0}")]
    Random(String),
    /// libxcrypt refused to make a setting or a hash for this scheme: this system's
    /// libcrypt lacks the method, or it was built without it.
    #[error("crypt(3) cannot make a {scheme} hash on this system")]
    Unsupported {
        /// Which scheme.
        scheme: &'static str,
    },
    /// The password cannot go through crypt(3): it holds a NUL byte or is longer than
    /// libxcrypt's 511-byte limit. The caller's input is at fault.
    #[error("password unusable with crypt(3): contains a NUL byte or exceeds 511 bytes")]
    BadPassword,
}

impl ExitStatus for PwError {
    fn disposition(&self) -> Disposition {
        match self {
            PwError::Random(_) => Disposition::Temporary,
            PwError::Unsupported { .. } | PwError::BadPassword => Disposition::Permanent,
        }
    }
}

/// The hash forms [`hash`] can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Traditional DES `crypt(3)`, 13 characters, 2-character salt. Weak: only the
    /// first 8 password bytes count. `userdbpw`'s default in Debian's build.
    Des,
    /// MD5-crypt `$1$<8-char salt>$…` (`userdbpw -md5`).
    Md5Crypt,
    /// SHA-256-crypt `$5$` through libxcrypt.
    Sha256Crypt,
    /// SHA-512-crypt `$6$` through libxcrypt.
    Sha512Crypt,
    /// yescrypt `$y$` through libxcrypt (Debian 12's default for system accounts).
    Yescrypt,
    /// bcrypt `$2b$` through libxcrypt.
    Bcrypt,
    /// `{MD5}` base64(MD5(pw)), unsalted.
    Md5,
    /// `{MD5RAW}` hex(MD5(pw)), unsalted.
    Md5Raw,
    /// `{SHA}` base64(SHA1(pw)), unsalted.
    Sha1,
    /// `{SHA256}` base64(SHA256(pw)), unsalted.
    Sha256,
    /// `{SHA512}` base64(SHA512(pw)), unsalted.
    Sha512,
    /// `{SSHA}` base64(SHA1(pw ‖ salt) ‖ salt), 4-byte salt.
    Ssha,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 12] = [
        Scheme::Des,
        Scheme::Md5Crypt,
        Scheme::Sha256Crypt,
        Scheme::Sha512Crypt,
        Scheme::Yescrypt,
        Scheme::Bcrypt,
        Scheme::Md5,
        Scheme::Md5Raw,
        Scheme::Sha1,
        Scheme::Sha256,
        Scheme::Sha512,
        Scheme::Ssha,
    ];

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Des => "DES crypt",
            Scheme::Md5Crypt => "MD5-crypt",
            Scheme::Sha256Crypt => "SHA-256-crypt",
            Scheme::Sha512Crypt => "SHA-512-crypt",
            Scheme::Yescrypt => "yescrypt",
            Scheme::Bcrypt => "bcrypt",
            Scheme::Md5 => "{MD5}",
            Scheme::Md5Raw => "{MD5RAW}",
            Scheme::Sha1 => "{SHA}",
            Scheme::Sha256 => "{SHA256}",
            Scheme::Sha512 => "{SHA512}",
            Scheme::Ssha => "{SSHA}",
        }
    }
}

/// Checks `password` against a stored value in any form Courier accepts (§7.1):
/// `$1$` (MD5-crypt, pure Rust), `{MD5}`, `{MD5RAW}`, `{SHA}`, `{SHA256}`, `{SHA512}`,
/// `{SSHA}` (tags case-insensitive), `{CRYPT}` prefix, else crypt(3) through libxcrypt
/// (`$y$`, `$gy$`, `$7$`, `$6$`, `$5$`, `$2b$`, `$1$`, DES).
/// Constant-time comparison. Never panics, whatever `stored` holds.
pub fn verify(password: &str, stored: &str) -> bool {
    verify_bytes(password.as_bytes(), stored)
}

/// [`verify`] for a password that is not UTF-8 (Courier passwords are bytes).
pub fn verify_bytes(password: &[u8], stored: &str) -> bool {
    let s = stored.as_bytes();
    if s.starts_with(md5crypt::MAGIC) {
        return ct_eq(&md5crypt::md5_crypt_bytes(password, s), s);
    }
    if let Some(rest) = strip_tag(stored, "{MD5}") {
        return ct_eq(b64_digest::<Md5>(password).as_bytes(), rest.as_bytes());
    }
    if let Some(rest) = strip_tag(stored, "{MD5RAW}") {
        return ct_eq(
            cram::hex(&Md5::digest(password)).as_bytes(),
            rest.as_bytes(),
        );
    }
    if let Some(rest) = strip_tag(stored, "{SHA}") {
        return ct_eq(b64_digest::<Sha1>(password).as_bytes(), rest.as_bytes());
    }
    if let Some(rest) = strip_tag(stored, "{SHA256}") {
        return ct_eq(b64_digest::<Sha256>(password).as_bytes(), rest.as_bytes());
    }
    if let Some(rest) = strip_tag(stored, "{SHA512}") {
        return ct_eq(b64_digest::<Sha512>(password).as_bytes(), rest.as_bytes());
    }
    if let Some(rest) = strip_tag(stored, "{SSHA}") {
        // Courier (checkpasswordsha1.c): decode, take the last 4 bytes as the salt,
        // re-encode ssha(pw, salt) and compare the text. A longer salt never matches.
        let Ok(raw) = STANDARD.decode(rest) else {
            return false;
        };
        let Some(salt) = raw.len().checked_sub(SSHA_SALT).map(|at| &raw[at..]) else {
            return false;
        };
        return ct_eq(ssha(password, salt).as_bytes(), rest.as_bytes());
    }
    let setting = strip_tag(stored, "{CRYPT}").unwrap_or(stored);
    if setting.is_empty() {
        return false;
    }
    match ffi::crypt_rn_safe(password, setting.as_bytes()) {
        Some(out) => ct_eq(out.as_bytes(), setting.as_bytes()),
        None => false,
    }
}

/// Runs the system `crypt(3)` (libxcrypt `crypt_rn`) on `password` with `setting`
/// (a salt/setting string or a whole stored hash). `None` when libxcrypt fails or
/// returns a failure token (`*0`, `*1`), or when `password` cannot be a C string.
pub fn crypt(password: &str, setting: &str) -> Option<String> {
    ffi::crypt_rn_safe(password.as_bytes(), setting.as_bytes())
}

/// MD5-crypt of `password` with `salt` (a bare salt, or `$1$salt$…`; at most 8
/// bytes up to the first `$` are used), in pure Rust.
pub fn md5_crypt(password: &str, salt: &str) -> String {
    md5_crypt_bytes(password.as_bytes(), salt)
}

/// [`md5_crypt`] for a password that is not UTF-8.
pub fn md5_crypt_bytes(password: &[u8], salt: &str) -> String {
    String::from_utf8_lossy(&md5crypt::md5_crypt_bytes(password, salt.as_bytes())).into_owned()
}

/// `len` random characters from the crypt(3) salt alphabet `[./0-9A-Za-z]`.
pub fn random_salt(len: usize) -> Result<String, PwError> {
    let mut raw = vec![0u8; len];
    fill_random(&mut raw)?;
    Ok(raw
        .iter()
        .map(|&b| char::from(md5crypt::ITOA64[usize::from(b & 63)]))
        .collect())
}

/// A new hash of `password` in `scheme` with a fresh random salt (from getrandom(2)).
pub fn hash(scheme: Scheme, password: &str) -> Result<String, PwError> {
    hash_bytes(scheme, password.as_bytes())
}

/// [`hash`] for a password that is not UTF-8 (what `userdbpw` reads is bytes).
pub fn hash_bytes(scheme: Scheme, pw: &[u8]) -> Result<String, PwError> {
    let via_crypt = |setting: String| -> Result<String, PwError> {
        if pw.contains(&0) || pw.len() >= ffi::CRYPT_MAX_PASSPHRASE_SIZE {
            return Err(PwError::BadPassword);
        }
        ffi::crypt_rn_safe(pw, setting.as_bytes()).ok_or(PwError::Unsupported {
            scheme: scheme.name(),
        })
    };
    let gensalt = |prefix: &str, nrbytes: usize| -> Result<String, PwError> {
        let mut r = vec![0u8; nrbytes];
        fill_random(&mut r)?;
        ffi::gensalt(prefix, 0, &r).ok_or(PwError::Unsupported {
            scheme: scheme.name(),
        })
    };
    Ok(match scheme {
        Scheme::Des => via_crypt(random_salt(2)?)?,
        Scheme::Md5Crypt => md5_crypt_bytes(pw, &random_salt(8)?),
        Scheme::Sha256Crypt => via_crypt(gensalt("$5$", 16)?)?,
        Scheme::Sha512Crypt => via_crypt(gensalt("$6$", 16)?)?,
        Scheme::Yescrypt => via_crypt(gensalt("$y$", 16)?)?,
        Scheme::Bcrypt => via_crypt(gensalt("$2b$", 16)?)?,
        Scheme::Md5 => format!("{{MD5}}{}", b64_digest::<Md5>(pw)),
        Scheme::Md5Raw => format!("{{MD5RAW}}{}", cram::hex(&Md5::digest(pw))),
        Scheme::Sha1 => format!("{{SHA}}{}", b64_digest::<Sha1>(pw)),
        Scheme::Sha256 => format!("{{SHA256}}{}", b64_digest::<Sha256>(pw)),
        Scheme::Sha512 => format!("{{SHA512}}{}", b64_digest::<Sha512>(pw)),
        Scheme::Ssha => {
            let mut salt = [0u8; SSHA_SALT];
            fill_random(&mut salt)?;
            format!("{{SSHA}}{}", ssha(pw, &salt))
        }
    })
}

/// Courier's `{SSHA}` salt length (sha1/sha1.c `SSHA_RAND`).
const SSHA_SALT: usize = 4;

/// base64(SHA1(pw ‖ salt) ‖ salt), without the tag.
fn ssha(password: &[u8], salt: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(password);
    h.update(salt);
    let mut raw = h.finalize().to_vec();
    raw.extend_from_slice(salt);
    STANDARD.encode(raw)
}

fn b64_digest<D: Digest>(data: &[u8]) -> String {
    STANDARD.encode(D::digest(data))
}

/// `stored` minus `tag` if it starts with it, ASCII case-insensitively (Courier uses
/// `strncasecmp`).
fn strip_tag<'a>(stored: &'a str, tag: &str) -> Option<&'a str> {
    let head = stored.as_bytes().get(..tag.len())?;
    if head.eq_ignore_ascii_case(tag.as_bytes()) {
        stored.get(tag.len()..)
    } else {
        None
    }
}

fn fill_random(buf: &mut [u8]) -> Result<(), PwError> {
    getrandom::fill(buf).map_err(|e| PwError::Random(e.to_string()))
}

/// Compares two byte strings in time independent of where they differ (the length
/// is not secret: every format here has a fixed length).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_tag_is_case_insensitive_and_utf8_safe() {
        assert_eq!(strip_tag("{md5}abc", "{MD5}"), Some("abc"));
        assert_eq!(strip_tag("{MD5", "{MD5}"), None);
        assert_eq!(strip_tag("{MD\u{e9}xx", "{MD5}"), None);
        assert_eq!(strip_tag("\u{e9}\u{e9}\u{e9}", "{MD5}"), None);
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
