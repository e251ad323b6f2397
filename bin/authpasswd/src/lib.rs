//! authpasswd: Courier's password generator, as Debian 12's courier-authdaemon ships it.
//!
//! ```text
//! authpasswd [method]
//! ```
//! Behaviour observed on Debian 12 (courier-authlib 0.71.4), authdaemon-protocol.md §7.2:
//! * Only the first argument counts; extra arguments are ignored. There is no usage
//!   message and no invalid-method error.
//! * No argument: MD5-crypt `$1$` with a 5-character salt.
//! * With a method, Courier builds the hint `{method}` and picks the first stored-form
//!   tag it starts with, ignoring case: `{MD5}`, `{MD5RAW}`, `{SHA}`, `{SSHA}`,
//!   `{SHA256}`, `{SHA512}`. So `md5`, `MD5`, `md5}junk` all give `{MD5}`; anything
//!   without a match (`crypt`, `sha1`, `des`, `""`) falls back to `{SSHA}`, whatever
//!   the Courier man page promises for `crypt` and `sha1`.
//! * The password is read by [`courier_pwcrypt::tty`] (one line from a pipe; prompt
//!   twice on a terminal). EOF → exit 1, no message. Result + `\n` on stdout, exit 0.

#![forbid(unsafe_code)]

use courier_pwcrypt::{PwError, Scheme, hash_bytes, md5_crypt_bytes, random_salt, tty};
use std::ffi::OsString;

/// What to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// No argument: MD5-crypt with a 5-character salt, as Courier's
    /// `crypt_md5_wrapper()`.
    DefaultMd5Crypt,
    /// One of the `{TAG}` forms.
    Tagged(Scheme),
}

/// The tags Courier's `authcryptpasswd()` tries, in its order.
const TAGS: &[(&str, Scheme)] = &[
    ("{MD5}", Scheme::Md5),
    ("{MD5RAW}", Scheme::Md5Raw),
    ("{SHA}", Scheme::Sha1),
    ("{SSHA}", Scheme::Ssha),
    ("{SHA256}", Scheme::Sha256),
    ("{SHA512}", Scheme::Sha512),
];

/// Maps the optional method argument to what authpasswd makes.
pub fn method(arg: Option<&OsString>) -> Method {
    let Some(arg) = arg else {
        return Method::DefaultMd5Crypt;
    };
    let mut hint = b"{".to_vec();
    hint.extend_from_slice(arg.as_encoded_bytes());
    hint.push(b'}');
    TAGS.iter()
        .find(|(tag, _)| {
            hint.get(..tag.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(tag.as_bytes()))
        })
        .map_or(Method::Tagged(Scheme::Ssha), |&(_, s)| Method::Tagged(s))
}

/// The line authpasswd prints for `password` (without the newline).
pub fn render(m: Method, password: &[u8]) -> Result<String, PwError> {
    match m {
        Method::DefaultMd5Crypt => Ok(md5_crypt_bytes(password, &random_salt(5)?)),
        Method::Tagged(s) => hash_bytes(s, password),
    }
}

/// Runs authpasswd on the process's stdin, stdout and stderr; returns the exit code.
pub fn run(argv0: &str, args: &[OsString]) -> u8 {
    let m = method(args.first());
    tty::print_new_password_line(argv0, |password| render(m, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_map_like_debian() {
        let m = |s: &str| method(Some(&OsString::from(s)));
        assert_eq!(method(None), Method::DefaultMd5Crypt);
        for (arg, want) in [
            ("md5", Scheme::Md5),
            ("MD5", Scheme::Md5),
            ("md5}x", Scheme::Md5),
            ("md5raw", Scheme::Md5Raw),
            ("Md5Raw", Scheme::Md5Raw),
            ("sha", Scheme::Sha1),
            ("sha}", Scheme::Sha1),
            ("ssha", Scheme::Ssha),
            ("sha256", Scheme::Sha256),
            ("sha256}zz", Scheme::Sha256),
            ("SHA512", Scheme::Sha512),
            ("sha1", Scheme::Ssha),
            ("crypt", Scheme::Ssha),
            ("des", Scheme::Ssha),
            ("", Scheme::Ssha),
            ("$1$", Scheme::Ssha),
            ("{MD5}", Scheme::Ssha),
            ("sha5", Scheme::Ssha),
        ] {
            assert_eq!(m(arg), Method::Tagged(want), "{arg:?}");
        }
    }
}
