//! The environment: the variable names the login programs read and set, and an
//! explicit environment block that is built up and finally handed to `execve`
//! (nothing here calls `setenv`, which is unsafe in a Rust program).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// `TCPREMOTEIP`: the client's address (couriertcpd).
pub const TCPREMOTEIP: &str = "TCPREMOTEIP";
/// `TCPREMOTEPORT`: the client's port (couriertcpd).
pub const TCPREMOTEPORT: &str = "TCPREMOTEPORT";
/// `TCPLOCALPORT`: the local port, which selects `AUTHSERVICE<port>`.
pub const TCPLOCALPORT: &str = "TCPLOCALPORT";
/// `AUTHSERVICE<port>` prefix: the authentication service for a port.
pub const AUTHSERVICE: &str = "AUTHSERVICE";
/// `AUTHDAEMON_SOCKET`: our addition, the authdaemond socket (default Debian's).
pub const AUTHDAEMON_SOCKET: &str = "AUTHDAEMON_SOCKET";
/// `DEFDOMAIN`: default domain appended to login names.
pub const DEFDOMAIN: &str = "DEFDOMAIN";
/// `DOMAINSEP`: characters that mark a name as already having a domain.
pub const DOMAINSEP: &str = "DOMAINSEP";
/// `LOGIN_DOMAIN_SEPARATORS`: our addition (seed 000's name mapping): characters
/// that stand for `@` in login names. Unset: `%:`; empty: no mapping.
pub const LOGIN_DOMAIN_SEPARATORS: &str = "LOGIN_DOMAIN_SEPARATORS";
/// `DEBUG_LOGIN`: 1 logs commands and user names, 2 also says a password was
/// given (never the password itself).
pub const DEBUG_LOGIN: &str = "DEBUG_LOGIN";
/// `COURIERTLS`: the TLS helper for STARTTLS/STLS.
pub const COURIERTLS: &str = "COURIERTLS";
/// `COURIERTLS_USER` (ours): the account couriertls drops to for STARTTLS/STLS when
/// the login program runs as root (default `courier` when that account exists, as
/// on Debian, else `nobody`), so client TLS bytes are never parsed as root.
pub const COURIERTLS_USER: &str = "COURIERTLS_USER";
/// `TLS_EXTERNAL`: the certificate subject field that names the user for SASL
/// EXTERNAL.
pub const TLS_EXTERNAL: &str = "TLS_EXTERNAL";
/// `AUTH_MKHOMEDIR_SKEL`: skeleton copied into a missing home (as root).
pub const AUTH_MKHOMEDIR_SKEL: &str = "AUTH_MKHOMEDIR_SKEL";
/// `MOD_MAILDIR_CREATOR`: program run (as the user) when the home is missing.
pub const MOD_MAILDIR_CREATOR: &str = "MOD_MAILDIR_CREATOR";
/// `IMAP_MAILDIR_CREATOR`: program run (as the user) when the maildir is missing.
pub const IMAP_MAILDIR_CREATOR: &str = "IMAP_MAILDIR_CREATOR";
/// `POP3_MAILDIR_CREATOR`: program run (as the user) when the maildir is missing.
pub const POP3_MAILDIR_CREATOR: &str = "POP3_MAILDIR_CREATOR";
/// `MAILDIR_CREATOR_TIMEOUT`: our addition, seconds a creator may run (default 30).
pub const MAILDIR_CREATOR_TIMEOUT: &str = "MAILDIR_CREATOR_TIMEOUT";
/// `OPTIONS`: account options, exported to imapd/pop3d.
pub const OPTIONS: &str = "OPTIONS";
/// `AUTHENTICATED`: the account's address, exported to imapd/pop3d.
pub const AUTHENTICATED: &str = "AUTHENTICATED";
/// `IMAPLOGINTAG`: the tag of the successful IMAP login.
pub const IMAPLOGINTAG: &str = "IMAPLOGINTAG";
/// `UTF8`: `1` when the POP3 client sent `UTF8` before logging in, else `0`.
pub const UTF8: &str = "UTF8";
/// `PROTOCOL`: `IMAP` (set by imaplogin).
pub const PROTOCOL: &str = "PROTOCOL";

/// An environment block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environ {
    vars: Vec<(OsString, OsString)>,
}

impl Environ {
    /// The process's environment.
    pub fn from_process() -> Environ {
        Environ {
            vars: std::env::vars_os().collect(),
        }
    }

    /// An environment from pairs (tests).
    pub fn from_pairs<K: AsRef<OsStr>, V: AsRef<OsStr>>(pairs: &[(K, V)]) -> Environ {
        let mut e = Environ::default();
        for (k, v) in pairs {
            e.set(k, v);
        }
        e
    }

    /// The value of `name`.
    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<&OsStr> {
        let name = name.as_ref();
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// The value of `name` as bytes.
    pub fn bytes(&self, name: impl AsRef<OsStr>) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }

    /// The value of `name` as text (lossy).
    pub fn text(&self, name: impl AsRef<OsStr>) -> Option<String> {
        self.get(name).map(|v| v.to_string_lossy().into_owned())
    }

    /// The value of `name` when set and non-empty.
    pub fn non_empty(&self, name: impl AsRef<OsStr>) -> Option<&[u8]> {
        self.bytes(name).filter(|v| !v.is_empty())
    }

    /// C's `atoi(getenv(name))`, 0 when unset.
    pub fn atoi(&self, name: impl AsRef<OsStr>) -> i64 {
        self.bytes(name).map(atoi).unwrap_or(0)
    }

    /// Whether the value starts with `y` or `Y` (Courier's yes/no switches).
    pub fn yes(&self, name: impl AsRef<OsStr>) -> bool {
        self.bytes(name)
            .is_some_and(|v| matches!(v.first(), Some(b'y' | b'Y')))
    }

    /// Sets `name` (replacing an existing value in place).
    pub fn set(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_os_string(),
            None => self.vars.push((name.to_os_string(), value.to_os_string())),
        }
    }

    /// Sets `name` to raw bytes.
    pub fn set_bytes(&mut self, name: impl AsRef<OsStr>, value: &[u8]) {
        self.set(name, OsStr::from_bytes(value));
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: impl AsRef<OsStr>) {
        let name = name.as_ref();
        self.vars.retain(|(k, _)| k != name);
    }

    /// The pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// `NAME=value` strings for `execve` (entries that cannot be C strings are
    /// left out; the kernel never gives us such entries).
    pub fn to_cstrings(&self) -> Vec<CString> {
        self.vars
            .iter()
            .filter_map(|(k, v)| {
                let mut b = k.clone().into_vec();
                b.push(b'=');
                b.extend_from_slice(v.as_bytes());
                CString::new(b).ok()
            })
            .collect()
    }
}

/// C's `atoi`: optional blanks and sign, then digits; 0 otherwise.
pub fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        i += 1;
    }
    if neg { -n } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_remove_removes() {
        let mut e = Environ::from_pairs(&[("A", "1"), ("B", "2")]);
        e.set("A", "3");
        e.set("C", "4");
        e.remove("B");
        let v: Vec<String> = e
            .to_cstrings()
            .into_iter()
            .map(|c| c.into_string().unwrap())
            .collect();
        assert_eq!(v, ["A=3", "C=4"]);
    }

    #[test]
    fn atoi_and_yes_follow_c() {
        assert_eq!(atoi(b" 12x"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b"yes"), 0);
        assert_eq!(atoi(b""), 0);
        let e = Environ::from_pairs(&[("S", "YES"), ("N", "no"), ("T", "1")]);
        assert!(e.yes("S") && !e.yes("N") && !e.yes("X"));
        assert_eq!(e.atoi("T"), 1);
        assert_eq!(e.atoi("missing"), 0);
    }
}
