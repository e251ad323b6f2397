//! maildiracl: the command-line side of Courier's maildir ACLs, byte-compatible with
//! Debian's `/usr/bin/maildiracl` (courier-imap 5.0.13): same arguments, same
//! output on stdout, same messages on stderr, same exit codes (0 success, 1 for
//! every failure including usage errors).
//!
//! ```text
//! maildiracl -reset   MAILDIR
//! maildiracl -list    MAILDIR INBOX[.folder]
//! maildiracl -set     MAILDIR INBOX[.folder] [-]IDENTIFIER [+|-]RIGHTS
//! maildiracl -delete  MAILDIR INBOX[.folder] [-]IDENTIFIER
//! maildiracl -compute MAILDIR INBOX[.folder] IDENTIFIER...
//! ```
//!
//! Messages follow Courier's `perror()` calls: `<folder>: Invalid argument` for a
//! folder argument that is not `INBOX` or `INBOX.…`, `<maildir>: <strerror>` when an
//! ACL cannot be read or written, `<argv0>: Invalid argument` for an identifier or
//! rights string with a blank or control byte, and
//! `Trying to set invalid access rights for owner` when a change would take `l` or
//! `a` away from the owner. All file-format logic lives in `courier_maildir::acl`.

use courier_maildir::MaildirError;
use courier_maildir::acl::{self, Acl, AclViolation, Identifier, RightsChange};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The usage line, printed on stdout (exit 1) like Courier's.
pub const USAGE: &str =
    "Usage: maildiracl [ options ] maildir [INBOX[.folder] [identifier rights]]\n";

const EINVAL: i32 = 22;
const EIO: i32 = 5;

/// What went wrong, already in the shape Courier prints it.
enum Failure {
    /// The usage line on stdout.
    Usage,
    /// `perror(prefix)` with an errno.
    Perror(Vec<u8>, i32),
    /// A literal line on stderr.
    Message(String),
}

/// The C library's message for `errno` (what `perror()` prints), without Rust's
/// ` (os error N)` suffix.
fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The errno Courier would have seen for a library error.
fn errno_of(e: &MaildirError) -> i32 {
    match e.raw_os_error() {
        Some(n) => n,
        None if matches!(e, MaildirError::Io { .. }) => EIO,
        None => EINVAL,
    }
}

/// Runs maildiracl with `args` (including `argv[0]`), writing to `out` and `err`.
/// Returns the exit code.
pub fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match execute(args, out) {
        Ok(()) => 0,
        Err(Failure::Usage) => {
            let _ = out.write_all(USAGE.as_bytes());
            1
        }
        Err(Failure::Perror(prefix, errno)) => {
            let mut line = Vec::new();
            // perror() omits the prefix and colon when the prefix is empty.
            if !prefix.is_empty() {
                line.extend_from_slice(&prefix);
                line.extend_from_slice(b": ");
            }
            line.extend_from_slice(strerror(errno).as_bytes());
            line.push(b'\n');
            let _ = err.write_all(&line);
            1
        }
        Err(Failure::Message(m)) => {
            let _ = writeln!(err, "{m}");
            1
        }
    }
}

fn bytes(s: &OsStr) -> &[u8] {
    s.as_bytes()
}

fn execute(args: &[OsString], out: &mut dyn Write) -> Result<(), Failure> {
    if args.len() < 3 {
        return Err(Failure::Usage);
    }
    let cmd = bytes(&args[1]);
    if !matches!(
        cmd,
        b"-reset" | b"-list" | b"-set" | b"-delete" | b"-compute"
    ) {
        return Err(Failure::Usage);
    }
    let maildir_arg = bytes(&args[2]);
    // Courier's ACL functions use "." for an empty maildir argument.
    let maildir = if maildir_arg.is_empty() {
        Path::new(".")
    } else {
        Path::new(args[2].as_os_str())
    };
    let argv0 = args
        .first()
        .map(|a| bytes(a).to_vec())
        .unwrap_or_else(|| b"maildiracl".to_vec());
    let maildir_failure = |e: &MaildirError| Failure::Perror(maildir_arg.to_vec(), errno_of(e));

    if cmd == b"-reset" {
        // Courier ignores every failure here and exits 0.
        let _ = acl::reset(maildir);
        return Ok(());
    }
    if args.len() < 4 {
        return Err(Failure::Usage);
    }
    let folder_arg = bytes(&args[3]);
    let Some(rest) = folder_arg.strip_prefix(b"INBOX") else {
        return Err(Failure::Perror(folder_arg.to_vec(), EINVAL));
    };
    if !rest.is_empty() && rest.first() != Some(&b'.') {
        return Err(Failure::Perror(folder_arg.to_vec(), EINVAL));
    }
    // "INBOX." means INBOX to Courier (the folder path becomes ".").
    let folder = if rest.is_empty() || rest == b"." {
        Some("INBOX".to_string())
    } else {
        std::str::from_utf8(folder_arg).ok().map(str::to_string)
    };
    // A folder name that is not UTF-8 cannot name a Courier 5 folder.
    let read = |folder: &Option<String>| -> Result<Acl, Failure> {
        match folder {
            Some(f) => acl::read(maildir, f).map_err(|e| maildir_failure(&e)),
            None => Err(Failure::Perror(maildir_arg.to_vec(), EINVAL)),
        }
    };
    let save = |folder: &Option<String>, list: &Acl| -> Result<(), Failure> {
        match list.validate(Some(b"owner")) {
            Err(AclViolation::Owner(id)) => {
                return Err(Failure::Message(format!(
                    "Trying to set invalid access rights for {}",
                    String::from_utf8_lossy(&id)
                )));
            }
            Err(AclViolation::Administrators) => {
                return Err(Failure::Perror(maildir_arg.to_vec(), EINVAL));
            }
            Ok(()) => {}
        }
        let Some(f) = folder else {
            return Err(Failure::Perror(maildir_arg.to_vec(), EINVAL));
        };
        acl::write(maildir, f, list, Some(b"owner")).map_err(|e| maildir_failure(&e))
    };

    match cmd {
        b"-list" => {
            let list = read(&folder)?;
            for e in list.entries() {
                let mut line = e.identifier.as_bytes().to_vec();
                line.push(b'\t');
                line.extend_from_slice(e.rights.as_bytes());
                line.push(b'\n');
                let _ = out.write_all(&line);
            }
            Ok(())
        }
        b"-set" => {
            if args.len() < 6 {
                return Err(Failure::Usage);
            }
            let mut list = read(&folder)?;
            let invalid = || Failure::Perror(argv0.clone(), EINVAL);
            let change = RightsChange::parse(bytes(&args[5])).ok_or_else(invalid)?;
            let identifier = Identifier::new(bytes(&args[4])).ok_or_else(invalid)?;
            list.apply(identifier, &change);
            save(&folder, &list)
        }
        b"-delete" => {
            if args.len() < 5 {
                return Err(Failure::Usage);
            }
            let mut list = read(&folder)?;
            list.remove(bytes(&args[4]));
            save(&folder, &list)
        }
        _ => {
            // -compute
            if args.len() < 5 {
                return Err(Failure::Usage);
            }
            let list = read(&folder)?;
            let ids: Vec<&[u8]> = args[4..].iter().map(|a| bytes(a)).collect();
            let mut line = list.compute(&ids, true).as_bytes().to_vec();
            line.push(b'\n');
            let _ = out.write_all(&line);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> (String, String, u8) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&args, &mut out, &mut err);
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            code,
        )
    }

    #[test]
    fn usage_cases_print_usage_and_exit_1() {
        for args in [
            &["maildiracl"][..],
            &["maildiracl", "-list"],
            &["maildiracl", "-bogus", "M", "INBOX"],
            &["maildiracl", "-list", "M"],
            &["maildiracl", "-set", "M", "INBOX", "user=x"],
            &["maildiracl", "-delete", "M", "INBOX"],
            &["maildiracl", "-compute", "M", "INBOX"],
        ] {
            assert_eq!(
                run_args(args),
                (USAGE.to_string(), String::new(), 1),
                "{args:?}"
            );
        }
    }

    #[test]
    fn folder_must_start_with_inbox() {
        for f in ["inbox", "Sent", "INBOXX", ""] {
            let (out, err, code) = run_args(&["maildiracl", "-list", "M", f]);
            assert_eq!((out.as_str(), code), ("", 1));
            if f.is_empty() {
                assert_eq!(err, "Invalid argument\n");
            } else {
                assert_eq!(err, format!("{f}: Invalid argument\n"));
            }
        }
    }

    #[test]
    fn strerror_has_no_rust_suffix() {
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(strerror(EINVAL), "Invalid argument");
    }
}
