//! userdbpw: Courier's password hasher for userdb, option for option.
//!
//! ```text
//! userdbpw [-md5 | -hmac-md5 | -hmac-sha1 | -hmac-sha256] ...
//! ```
//! Behaviour observed on Debian 12 (courier-authlib-userdb 0.71.4), authdaemon-protocol.md
//! §6.4:
//! * Options may repeat; any `-hmac-*` wins over `-md5`, the last `-hmac-*` wins.
//!   Anything else: `<argv0>: invalid argument.` on stderr, exit 1, before any input.
//! * No option: traditional DES `crypt(3)` with a random 2-character salt.
//! * The password is read by [`courier_pwcrypt::tty`]: one line from a pipe, or the
//!   prompt-twice dialogue on a terminal. No password (EOF) → exit 1, no message.
//! * The result and `\n` go to stdout, exit 0.

#![forbid(unsafe_code)]

use courier_pwcrypt::{CramAlg, PwError, Scheme, hash_bytes, hmac_secret_bytes, tty};
use std::ffi::OsString;
use std::io::Write;

/// What to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Traditional DES crypt (the default of Debian's build).
    Des,
    /// `-md5`: MD5-crypt with an 8-character salt.
    Md5Crypt,
    /// `-hmac-<alg>`: Courier's precomputed CRAM secret.
    Hmac(CramAlg),
}

/// Parses the options; `None` means `invalid argument.`.
pub fn parse(args: &[OsString]) -> Option<Mode> {
    let mut md5 = false;
    let mut hmac = None;
    for a in args {
        let a = a.to_str()?;
        if a == "-md5" {
            md5 = true;
        } else if let Some(alg) = a.strip_prefix("-hmac-").and_then(CramAlg::from_name) {
            hmac = Some(alg);
        } else {
            return None;
        }
    }
    Some(match (hmac, md5) {
        (Some(alg), _) => Mode::Hmac(alg),
        (None, true) => Mode::Md5Crypt,
        (None, false) => Mode::Des,
    })
}

/// The line userdbpw prints for `password` (without the newline).
pub fn render(mode: Mode, password: &[u8]) -> Result<String, PwError> {
    match mode {
        Mode::Des => hash_bytes(Scheme::Des, password),
        Mode::Md5Crypt => hash_bytes(Scheme::Md5Crypt, password),
        Mode::Hmac(alg) => Ok(hmac_secret_bytes(alg, password)),
    }
}

/// Runs userdbpw on the process's stdin, stdout and stderr; returns the exit code.
pub fn run(argv0: &str, args: &[OsString]) -> u8 {
    let mut err = std::io::stderr();
    let Some(mode) = parse(args) else {
        let _ = writeln!(err, "{argv0}: invalid argument.");
        return 1;
    };
    tty::print_new_password_line(argv0, |password| render(mode, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Option<Mode> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn options_combine_like_debian() {
        assert_eq!(p(&[]), Some(Mode::Des));
        assert_eq!(p(&["-md5"]), Some(Mode::Md5Crypt));
        assert_eq!(p(&["-md5", "-md5"]), Some(Mode::Md5Crypt));
        assert_eq!(p(&["-hmac-md5", "-md5"]), Some(Mode::Hmac(CramAlg::Md5)));
        assert_eq!(p(&["-md5", "-hmac-sha1"]), Some(Mode::Hmac(CramAlg::Sha1)));
        assert_eq!(
            p(&["-hmac-sha1", "-hmac-sha256"]),
            Some(Mode::Hmac(CramAlg::Sha256))
        );
        for bad in [
            &["-MD5"][..],
            &["md5"],
            &["-hmac-"],
            &["-hmac-sha512"],
            &["-hmac-MD5"],
            &["--"],
            &["-"],
            &["-md5", "bogus"],
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }
}
