//! userdb: Courier's userdb editing script, with its command line, messages and exit codes
//! (authdaemon-protocol.md §6.3).
//!
//! ```text
//! userdb [path/]NAME set FIELD[=VALUE]...
//! userdb [path/]NAME unset FIELD...
//! userdb [path/]NAME del
//! userdb -f FILE NAME set|unset|del ...
//! userdb -show [path/ | -f FILE] [NAME]
//! ```
//! It edits the text source only; `makeuserdb` compiles it. The editing rules live in
//! [`courier_userdb::edit`].
//!
//! Exit codes follow the Perl original, whose `die` exits with whatever `errno` was at the
//! time: "Invalid field or value." exits with the errno of the script's last `readlink`
//! (22 when the file exists, 2 when it does not), "Invalid value." and "not a file." with
//! 25 (ENOTTY, left by Perl's tty check), a symlinked `/etc/courier/userdb` with 255, the
//! usage text (on stdout) with 1, EOF while reading a value with 1.

#![forbid(unsafe_code)]

use courier_common::strerror;
use courier_userdb::UserDbError;
use courier_userdb::edit::{self, Edit};
use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// ENOTTY: the errno Perl's dies report after its tty checks.
const ENOTTY_CODE: u8 = 25;

/// What the program needs from outside its arguments.
#[derive(Clone, Debug)]
pub struct Env {
    /// The text source used without `-f` (`/etc/courier/userdb`).
    pub source: PathBuf,
    /// The program name in the usage text (Perl's `$0`: the path it was run by).
    pub program: String,
}

impl Env {
    /// Courier's compiled-in source and this executable's path.
    pub fn real() -> Env {
        let program = std::env::current_exe()
            .ok()
            .map(|p| p.display().to_string())
            .or_else(|| std::env::args().next())
            .unwrap_or_else(|| "userdb".to_string());
        Env {
            source: PathBuf::from(courier_userdb::DEFAULT_SOURCE),
            program,
        }
    }
}

fn usage(env: &Env, out: &mut dyn Write) -> u8 {
    let p = &env.program;
    let _ = write!(
        out,
        "Usage: {p} [path/.../ | -f file ]name set field=value field=value...\n       \
         {p} [path/.../ | -f file ]name unset field field...\n       \
         {p} [path/.../ | -f file ]name del\n       \
         {p} -show [path/... | -f file ] [name]\n"
    );
    1
}

/// Perl's `/./`: at least one character other than a newline.
fn has_char(s: Option<&[u8]>) -> bool {
    s.is_some_and(|s| s.iter().any(|&b| b != b'\n'))
}

/// A die code from an OS error: its errno, or 255.
fn errno_code(e: &io::Error) -> u8 {
    e.raw_os_error()
        .and_then(|n| u8::try_from(n).ok())
        .filter(|&n| n != 0)
        .unwrap_or(255)
}

/// Reads the current text file: `Ok(None)` when it cannot be opened (a new file), an
/// error code when it is not a regular file.
fn read_current(path: &Path, err: &mut dyn Write) -> Result<Option<Vec<u8>>, u8> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let is_file = f.metadata().map(|m| m.is_file()).unwrap_or(false);
    if !is_file {
        let _ = writeln!(err, "{}: not a file.", path.display());
        return Err(ENOTTY_CODE);
    }
    let mut buf = Vec::new();
    if let Err(e) = f.read_to_end(&mut buf) {
        let _ = writeln!(err, "{}: {}", path.display(), strerror(&e));
        return Err(errno_code(&e));
    }
    Ok(Some(buf))
}

/// Runs the userdb command; returns the exit code.
pub fn run(
    args: &[OsString],
    env: &Env,
    stdin: &mut dyn BufRead,
    stdin_is_tty: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    if std::fs::symlink_metadata(&env.source).is_ok_and(|m| m.file_type().is_symlink()) {
        let _ = writeln!(
            err,
            "ERROR: Wrong userdb command.\n       ({} is a symbolic link)",
            env.source.display()
        );
        return 255;
    }
    let mut args = args.iter().map(|a| a.as_bytes());
    let mut userdb: Option<Vec<u8>> = Some(env.source.as_os_str().as_bytes().to_vec());
    let mut name = args.next();
    let mut show = false;
    if name == Some(b"-show") {
        show = true;
        name = args.next();
    }
    if name == Some(b"-f") {
        userdb = args.next().map(<[u8]>::to_vec);
        name = args.next();
    } else if let Some(n) = name
        && let Some(slash) = n.iter().rposition(|&b| b == b'/')
    {
        let mut path = env.source.as_os_str().as_bytes().to_vec();
        path.push(b'/');
        path.extend_from_slice(&n[..slash]);
        userdb = Some(path);
        name = Some(&n[slash + 1..]);
    }
    let verb = if show { None } else { args.next() };
    if show {
        if !has_char(userdb.as_deref()) {
            return usage(env, out);
        }
    } else if !(has_char(verb) && has_char(name) && has_char(userdb.as_deref())) {
        return usage(env, out);
    }
    let Some(userdb) = userdb else {
        return usage(env, out);
    };
    let (path, readlink_err) = edit::follow_links(Path::new(OsStr::from_bytes(&userdb)));
    let (tmp, lock_path) = edit::side_files(&path);
    let fields: Vec<Vec<u8>> = args.map(<[u8]>::to_vec).collect();
    if fields.iter().any(|f| edit::is_invalid(f)) {
        let _ = writeln!(err, "Invalid field or value.");
        return errno_code(&readlink_err);
    }

    // The script's lock: created under umask 066, held to the end.
    let lock_file = match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "Can't open {}: {}", lock_path.display(), strerror(&e));
            return errno_code(&e);
        }
    };
    let _lock = match nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive) {
        Ok(l) => l,
        Err((_, errno)) => {
            let e = io::Error::from(errno);
            let _ = writeln!(err, "Can't lock {}: {}", lock_path.display(), strerror(&e));
            return errno_code(&e);
        }
    };

    if show {
        let content = match read_current(&path, err) {
            Ok(c) => c.unwrap_or_default(),
            Err(code) => return code,
        };
        let shown = edit::show(&content, name);
        let _ = out.write_all(&shown);
        let _ = out.flush();
        return 0;
    }
    let name = name.unwrap_or(b"");
    let verb = verb.unwrap_or(b"");
    let mut fields = fields;
    let edit = match verb {
        b"set" => {
            for f in fields.iter_mut().filter(|f| !f.contains(&b'=')) {
                if stdin_is_tty {
                    let _ = out.write_all(name);
                    let _ = out.write_all(b".");
                    let _ = out.write_all(f);
                    let _ = out.write_all(b": ");
                    let _ = out.flush();
                }
                let mut value = Vec::new();
                match stdin.read_until(b'\n', &mut value) {
                    Ok(0) | Err(_) => return 1,
                    Ok(_) => {}
                }
                if value.last() == Some(&b'\n') {
                    value.pop();
                }
                if edit::is_invalid(&value) {
                    let _ = writeln!(err, "Invalid value.");
                    return ENOTTY_CODE;
                }
                f.push(b'=');
                f.extend_from_slice(&value);
            }
            Edit::Set(&fields)
        }
        b"unset" => {
            if fields.is_empty() {
                return 0;
            }
            Edit::Unset(&fields)
        }
        b"del" => {
            if !fields.is_empty() {
                return usage(env, out);
            }
            Edit::Del
        }
        _ => return usage(env, out),
    };
    let content = match read_current(&path, err) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(new) = edit::apply(content.as_deref().unwrap_or(b""), name, edit) else {
        return 0;
    };
    match edit::replace_file(&path, &tmp, &new) {
        Ok(()) => 0,
        Err(e) => {
            let code = match &e {
                UserDbError::Io { source, .. } => errno_code(source),
                _ => 1,
            };
            let _ = writeln!(err, "{e}");
            code
        }
    }
}
