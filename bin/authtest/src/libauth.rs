//! What libcourierauth prints and which `errno` it leaves when a request fails,
//! so that our messages are Debian's byte for byte (courier-authlib 0.71
//! `authdaemonlib.c`, observed on Debian 12).
//!
//! The request itself goes through [`courier_auth_proto::client::Client`]; this
//! module only turns its errors into Courier's texts.

use courier_auth_proto::client::ClientError;
use std::io::{self, Write};
use std::path::PathBuf;

/// The socket: `$AUTHDAEMON_SOCKET` (ours), else the path Debian compiles in.
pub fn socket_path() -> PathBuf {
    std::env::var_os("AUTHDAEMON_SOCKET")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(courier_auth_proto::DEFAULT_SOCKET))
}

const EPERM: i32 = 1;
const EIO: i32 = 5;
const EINVAL: i32 = 22;
const ECONNREFUSED: i32 = 111;
const ETIMEDOUT: i32 = 110;

/// `strerror(errno)` as glibc words it (Rust's io::Error asks the same libc).
pub fn strerror(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Whether fd 2 is open read-write. glibc's `perror()` duplicates stderr with
/// `fdopen(fd, "w+")`, which fails with EINVAL on a write-only descriptor (a pipe,
/// `2>file`) and thereby overwrites `errno`: Courier's "Hint" line and the
/// errno in the final `perror()` depend on it.
pub fn stderr_is_read_write() -> bool {
    let info = std::fs::read_to_string("/proc/self/fdinfo/2").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 3 == 2)
}

/// The OS error of a failed connect, when `e` is one (our client connects with
/// a blocking connect, so these errors can only come from that step).
fn connect_errno(e: &ClientError) -> Option<i32> {
    let ClientError::Io { source, .. } = e else {
        return None;
    };
    match source.raw_os_error() {
        // EPERM ENOENT EACCES ENOTDIR ENAMETOOLONG ELOOP ENOTSOCK EPROTOTYPE ECONNREFUSED
        Some(n @ (1 | 2 | 13 | 20 | 36 | 40 | 88 | 91 | 111)) => Some(n),
        None if source.kind() == io::ErrorKind::InvalidInput => Some(EINVAL),
        _ => None,
    }
}

/// The request kind, because libcourierauth reads PASSWD replies differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// PRE or AUTH: `_authdaemondo()`.
    Lookup,
    /// PASSWD: `authdaemondopasswd()`.
    Passwd,
    /// ENUMERATE.
    Enumerate,
}

/// Prints what libcourierauth prints on its own when `e` happens (the
/// `s_connect()` lines) and returns the `errno` it leaves for the caller's
/// `perror()`.
pub fn report(e: &ClientError, kind: Kind, rw_stderr: bool, err: &mut dyn Write) -> i32 {
    if let Some(errno) = connect_errno(e) {
        // opensock(): perror() then, if errno survived perror(), the hint.
        let _ = writeln!(
            err,
            "ERR: authdaemon: s_connect() failed: {}",
            strerror(errno)
        );
        if !rw_stderr {
            return EINVAL;
        }
        if errno == ETIMEDOUT || errno == ECONNREFUSED {
            let _ = writeln!(err, "ERR: [Hint: perhaps authdaemond is not running?]");
        }
        return errno;
    }
    match (e, kind) {
        (ClientError::BadValue, _) => EINVAL,
        // A PASSWD reply other than "OK\n", including none at all.
        (_, Kind::Passwd) => EPERM,
        (ClientError::Rejected, _) => EPERM,
        // No terminator before EOF or the read timeout: _authdaemondo() sets EIO.
        _ => EIO,
    }
}

/// Courier's final `perror("Authentication FAILED")`: the errno text when it
/// survived, else EINVAL's (see [`stderr_is_read_write`]).
pub fn perror_failed(errno: i32, err: &mut dyn Write) {
    let _ = writeln!(err, "Authentication FAILED: {}", strerror(errno));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(errno: i32) -> ClientError {
        ClientError::Io {
            socket: "/s".into(),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn errors_map_to_courier_errno_and_lines() {
        let mut buf = Vec::new();
        assert_eq!(report(&io(2), Kind::Lookup, false, &mut buf), EINVAL);
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "ERR: authdaemon: s_connect() failed: No such file or directory\n"
        );
        buf.clear();
        assert_eq!(report(&io(111), Kind::Enumerate, true, &mut buf), 111);
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "ERR: authdaemon: s_connect() failed: Connection refused\n\
             ERR: [Hint: perhaps authdaemond is not running?]\n"
        );
        buf.clear();
        assert_eq!(
            report(&ClientError::Rejected, Kind::Lookup, false, &mut buf),
            EPERM
        );
        let temp = ClientError::Temporary {
            socket: "/s".into(),
        };
        assert_eq!(report(&temp, Kind::Lookup, false, &mut buf), EIO);
        assert_eq!(report(&temp, Kind::Passwd, false, &mut buf), EPERM);
        assert_eq!(report(&io(11), Kind::Lookup, false, &mut buf), EIO);
        assert!(buf.is_empty());
        assert_eq!(strerror(EIO), "Input/output error");
        assert_eq!(strerror(EPERM), "Operation not permitted");
    }
}
