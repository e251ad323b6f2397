//! makeuserdb: Courier's userdb compiler, with Courier's command line, messages and exit
//! codes (authdaemon-protocol.md §6.2, programs.md).
//!
//! ```text
//! makeuserdb [-f FILE]
//! ```
//! Compiles `FILE` (default `/etc/courier/userdb`, a file or a directory tree) into
//! `FILE.dat` and `FILEshadow.dat` under the lock `FILE.lock`. Arguments other than a
//! leading `-f FILE` are ignored, as by Courier's script.
//!
//! Exit codes are those of the Perl original: the errno of a failed `stat` for a missing
//! source, 255 for the permission and symlink refusals (Perl's `die`), 1 for everything
//! else.

#![forbid(unsafe_code)]

use courier_common::strerror;
use courier_userdb::{UserDbError, check_paths, compile, lock, tmp_name};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Appends `suffix` to a path as a string, as the Perl script builds its file names.
fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The source named on the command line: `-f FILE` (one trailing `/` removed), else the
/// default. `-f` with no file gives an empty path, which then is "not found", as in Courier.
fn source_from(args: &[OsString]) -> PathBuf {
    if args.first().map(OsString::as_os_str) == Some(OsStr::new("-f")) {
        let file = args.get(1).map(|a| a.as_bytes()).unwrap_or(b"");
        let file = file.strip_suffix(b"/").unwrap_or(file);
        PathBuf::from(OsStr::from_bytes(file))
    } else {
        PathBuf::from(courier_userdb::DEFAULT_SOURCE)
    }
}

/// Runs makeuserdb; returns the exit code.
pub fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let source = source_from(args);
    let dat = with_suffix(&source, ".dat");
    let shadow = with_suffix(&source, "shadow.dat");
    // Courier's script checks before it takes the lock, so a refused run leaves no lock file.
    if let Err(e) = check_paths(&source, &dat, &shadow) {
        return report(&e, &[], out, err);
    }
    let lock_path = with_suffix(&source, ".lock");
    let _lock = match lock(&lock_path) {
        Ok(l) => l,
        Err(e) => {
            let (msg, code) = match &e {
                UserDbError::Io { source, .. } => (strerror(source), errno_code(source)),
                other => (other.to_string(), 1),
            };
            let _ = writeln!(err, "Can't open {}: {msg}", lock_path.display());
            return code;
        }
    };
    match compile(&source, &dat, &shadow) {
        Ok(_) => 0,
        Err(e) => {
            let outputs = [
                dat.clone(),
                shadow.clone(),
                tmp_name(&dat),
                tmp_name(&shadow),
            ];
            report(&e, &outputs, out, err)
        }
    }
}

/// Perl's `die` exit code for an OS error: the errno, or 255 without one.
fn errno_code(e: &std::io::Error) -> u8 {
    e.raw_os_error()
        .and_then(|n| u8::try_from(n).ok())
        .filter(|&n| n != 0)
        .unwrap_or(255)
}

/// Prints an error the way Courier's makeuserdb does and returns its exit code.
/// `outputs` are the database files: failures on them are makedatprog's (stderr), while a
/// source file that cannot be read is reported on stdout, as the Perl script does.
fn report(e: &UserDbError, outputs: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match e {
        UserDbError::SourceNotFound { source, .. } => {
            let _ = writeln!(err, "{e}");
            errno_code(source)
        }
        UserDbError::GroupOrWorldPermissions { .. } => {
            let _ = writeln!(err, "{e}");
            255
        }
        UserDbError::Symlink { path } => {
            let _ = writeln!(
                err,
                "ERROR: Wrong makeuserdb command.\n       ({} is a symbolic link)",
                path.display()
            );
            255
        }
        UserDbError::Duplicate { name, .. } => {
            // Courier's line (makedatprog), then where the two definitions are.
            let _ = writeln!(
                err,
                "Cannot store record for {name} - duplicate or out of disk space."
            );
            let _ = writeln!(err, "makeuserdb: {e}");
            1
        }
        UserDbError::Io { path, .. } | UserDbError::NotRegular { path }
            if !outputs.contains(path) =>
        {
            let _ = writeln!(out, "{e}");
            1
        }
        _ => {
            let _ = writeln!(err, "makeuserdb: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn source_is_the_f_argument_without_one_trailing_slash() {
        assert_eq!(source_from(&os(&[])), Path::new("/etc/courier/userdb"));
        assert_eq!(source_from(&os(&["x"])), Path::new("/etc/courier/userdb"));
        assert_eq!(source_from(&os(&["-f", "a/b/"])), Path::new("a/b"));
        assert_eq!(source_from(&os(&["-f", "a//"])), Path::new("a/"));
        assert_eq!(source_from(&os(&["-f"])), Path::new(""));
    }
}
