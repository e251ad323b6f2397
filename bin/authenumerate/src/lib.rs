//! authenumerate: list every account authdaemond knows, as courier-authlib
//! 0.71's `authenumerate` does (authdaemon-protocol.md §3.4, §6.6).
//!
//! ```text
//! authenumerate [-s] [-o]
//! ```
//!
//! Prints `name\tuid\tgid\thome\tmaildir` per account (`-o` adds `\toptions`,
//! `-s` leaves out accounts whose `disableshared` option is non-zero by C's
//! `atoi`, so `disableshared=yes` does *not* count). Exit 0 only when the
//! daemon's list ended with its final `.`. Entries are parsed as
//! libcourierauth's `_auth_enumerate()` does: a `#` anywhere in a line starts
//! a comment, uid 0 or gid 0 lines are dropped. The socket is Debian's
//! compiled-in path unless `AUTHDAEMON_SOCKET` names another.
//!
//! Does not: speak the protocol itself (courier-auth-proto's client does).
#![forbid(unsafe_code)]

// The libcourierauth error texts are shared with authtest (one file, two programs).
#[path = "../../authtest/src/libauth.rs"]
pub mod libauth;

use courier_auth_proto::EnumEntry;
use courier_auth_proto::client::{Client, Timeouts};
use courier_auth_proto::options;
use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

/// Courier's usage line (stderr, exit 1).
pub const USAGE: &str = "Usage: authenumerate [-s] [-o]";

/// How long the whole listing may take. libcourierauth waits up to 60 s for
/// each chunk with no bound on the total; our client bounds the total instead,
/// generously, so that a large directory still lists.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs authenumerate with `args` (without argv\[0\]); returns the exit code.
pub fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut shared_only = false;
    let mut with_options = false;
    for a in args {
        match a.to_str() {
            Some("-s") => shared_only = true,
            Some("-o") => with_options = true,
            _ => {
                let _ = writeln!(err, "{USAGE}");
                return 1;
            }
        }
    }
    let timeouts = Timeouts {
        read: READ_TIMEOUT,
        ..Timeouts::from_env()
    };
    // _auth_enumerate() sends the bare command, without meta lines.
    let client = Client::new(libauth::socket_path())
        .with_remote_ip(None)
        .with_timeouts(timeouts);
    let (entries, complete) = match client.enumerate() {
        Ok(r) => r,
        Err(e) => {
            libauth::report(
                &e,
                libauth::Kind::Enumerate,
                libauth::stderr_is_read_write(),
                err,
            );
            return 1;
        }
    };
    let mut text = String::new();
    for e in entries.iter().filter_map(courier_view) {
        if shared_only && options::lookup(&e.options, "disableshared").is_some_and(|v| atoi(v) != 0)
        {
            continue;
        }
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}",
            e.name, e.uid, e.gid, e.home, e.maildir
        ));
        if with_options {
            text.push('\t');
            text.push_str(&e.options);
        }
        text.push('\n');
    }
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    if complete { 0 } else { 1 }
}

/// The entry as libcourierauth sees its line: everything from the first `#` on
/// is a comment, and the line must still have name, uid, gid and home with a
/// non-zero uid and gid.
pub fn courier_view(e: &EnumEntry) -> Option<EnumEntry> {
    let line = format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        e.name, e.uid, e.gid, e.home, e.maildir, e.options
    );
    let Some(cut) = line.find('#') else {
        return Some(e.clone());
    };
    let f: Vec<&str> = line[..cut].split('\t').collect();
    if f.len() < 4 {
        return None;
    }
    let uid = atoi(f[1]);
    let gid = atoi(f[2]);
    if uid <= 0 || gid <= 0 {
        return None;
    }
    Some(EnumEntry {
        name: f[0].into(),
        uid: u32::try_from(uid).ok()?,
        gid: u32::try_from(gid).ok()?,
        home: f[3].into(),
        maildir: f.get(4).copied().unwrap_or("").into(),
        options: f.get(5).copied().unwrap_or("").into(),
    })
}

/// C's atoi: optional blanks and sign, then digits.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, d) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
    let n: i64 = d[..end].parse().unwrap_or(0);
    if neg { -n } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(home: &str, options: &str) -> EnumEntry {
        EnumEntry {
            name: "alice".into(),
            uid: 5000,
            gid: 5000,
            home: home.into(),
            maildir: "/m".into(),
            options: options.into(),
        }
    }

    #[test]
    fn hash_starts_a_comment_anywhere_in_the_line() {
        assert_eq!(courier_view(&entry("/h", "a=1")), Some(entry("/h", "a=1")));
        let cut = courier_view(&entry("/h", "a=1#x")).unwrap();
        assert_eq!(cut.options, "a=1");
        let cut = courier_view(&entry("/h#x", "a=1")).unwrap();
        assert_eq!((cut.home.as_str(), cut.maildir.as_str()), ("/h", ""));
    }

    #[test]
    fn disableshared_uses_atoi() {
        assert_eq!(atoi("1"), 1);
        assert_eq!(atoi("yes"), 0);
        assert_eq!(atoi(""), 0);
    }
}
