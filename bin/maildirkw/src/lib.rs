//! maildirkw: Courier's tool to list and change the custom IMAP keywords of maildir
//! messages (`courierimapkeywords/`, formats.md §7; programs.md `maildirkw`).
//!
//! ```text
//! maildirkw [-c] [-l] [-a | -r] MAILDIR MESSAGE [KEYWORD...]
//! maildirkw [-c] [-l] -L MAILDIR
//! ```
//!
//! All file work is done by `courier_maildir::keywords`; this crate parses argv,
//! takes the optional dot-lock, and prints what Courier prints: the usage line on
//! stdout, `path: error` diagnostics on stderr, exit 0 / 1, and 255 when `-L` fails
//! (Courier's `exit(-1)`).

pub mod cli;

use cli::{Change, Refused};
use courier_maildir::MaildirError;
use courier_maildir::keywords::{self, KeywordStore, Options, WriteMode};
use courier_maildir::lock::DotLock;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The usage line, printed on stdout (maildirkw.c `usage()`).
pub const USAGE: &str = "Usage: maildirkw [ options ] maildir [+/-]flag [+/-]flag...\n";

/// How long `-l` waits for `tmp/courier.lock`. Courier waits forever; a lock older
/// than two minutes is broken anyway, so this only ends a wait on a live holder.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// `-a`/`-r` retry while another writer's update wins the race. Courier retries
/// forever.
const MAX_ATTEMPTS: u32 = 1000;

/// Exit codes (maildirkw.c: `exit(1)` for usage and failed changes, `exit(-1)` from a
/// failed list).
const EXIT_FAIL: u8 = 1;
const EXIT_LIST_FAIL: u8 = 255;

/// Runs maildirkw with `args` (including `argv[0]`); returns the exit code.
pub fn run(
    args: &[OsString],
    posixly_correct: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let cli = match cli::parse(args, posixly_correct) {
        Ok(cli) => cli,
        Err(refused) => {
            if let Refused::InvalidOption(letter) = refused {
                // glibc getopt's message, naming argv[0] as invoked.
                let argv0 = args.first().map(|a| a.as_bytes()).unwrap_or(b"maildirkw");
                let mut line = argv0.to_vec();
                line.extend_from_slice(b": invalid option -- '");
                line.push(letter);
                line.extend_from_slice(b"'\n");
                let _ = err.write_all(&line);
            }
            let _ = out.write_all(USAGE.as_bytes());
            return EXIT_FAIL;
        }
    };
    let maildir = PathBuf::from(&cli.operands[0]);
    let options = Options::MAILDIRKW.with_case_sensitive(cli.case_sensitive);
    if cli.list {
        return list(&maildir, options, cli.lock, out, err);
    }
    let message = cli.operands[1].as_bytes();
    let keywords: Vec<&[u8]> = cli.operands[2..].iter().map(|k| k.as_bytes()).collect();
    let result = match cli.change {
        Change::Set => set(&maildir, options, cli.lock, message, &keywords, err),
        change => change_atomically(&maildir, options, cli.lock, change, message, &keywords, err),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(err, &maildir, message, &e);
            EXIT_FAIL
        }
    }
}

/// Takes the dot-lock when asked. Like Courier's `maildir_lock`, a lock that cannot
/// be created at all (no `tmp/`) is fatal, while a failing `link()` is reported and
/// the work goes on unlocked.
fn lock(
    maildir: &Path,
    wanted: bool,
    err: &mut dyn Write,
) -> Result<Option<DotLock>, MaildirError> {
    if !wanted {
        return Ok(None);
    }
    match DotLock::acquire(maildir, LOCK_TIMEOUT) {
        Ok(held) => Ok(Some(held)),
        Err(e @ MaildirError::Io { .. }) if is_lock_link_error(maildir, &e) => {
            report(err, maildir, b"", &e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn is_lock_link_error(maildir: &Path, e: &MaildirError) -> bool {
    matches!(e, MaildirError::Io { path, .. } if *path == DotLock::path_for(maildir))
}

/// Default mode: write the message's new set as one update file (maildirkw.c
/// `doit_locked`, `plusminus == 0`). Courier does not read the store here; it only
/// makes sure `courierimapkeywords/` exists.
fn set(
    maildir: &Path,
    options: Options,
    want_lock: bool,
    message: &[u8],
    keywords: &[&[u8]],
    err: &mut dyn Write,
) -> Result<(), MaildirError> {
    let _lock = lock(maildir, want_lock, err)?;
    keywords::prepare_dir(maildir);
    let set = keywords::normalize(keywords, &options);
    keywords::write_update(maildir, message, &set, WriteMode::Direct).map(|_| ())
}

/// `-a` / `-r`: read the store, change the set, and link the update into place;
/// start over while another writer's update is pending.
fn change_atomically(
    maildir: &Path,
    options: Options,
    want_lock: bool,
    change: Change,
    message: &[u8],
    keywords: &[&[u8]],
    err: &mut dyn Write,
) -> Result<(), MaildirError> {
    let options = options.with_write_mode(WriteMode::Exclusive);
    for _ in 0..MAX_ATTEMPTS {
        let _lock = lock(maildir, want_lock, err)?;
        let mut store = KeywordStore::open(maildir, options)?;
        if let Some(e) = store.take_deferred_error() {
            report(err, maildir, message, &e);
        }
        let placed = match change {
            Change::Remove => store.remove(message, keywords)?,
            _ => store.add(message, keywords)?,
        };
        if placed {
            return Ok(());
        }
    }
    let target = keywords::keyword_dir(maildir).join(std::ffi::OsStr::from_bytes(message));
    Err(MaildirError::Locked { path: target })
}

/// `-L`: one line per message, `basename kw1 kw2...` (maildirkw.c `list_locked`).
fn list(
    maildir: &Path,
    options: Options,
    want_lock: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let result = lock(maildir, want_lock, err).and_then(|held| {
        let store = KeywordStore::open(maildir, options);
        drop(held);
        store
    });
    let mut store = match result {
        Ok(store) => store,
        Err(e) => {
            report(err, maildir, b"", &e);
            return EXIT_LIST_FAIL;
        }
    };
    if let Some(e) = store.take_deferred_error() {
        report(err, maildir, b"", &e);
    }
    let mut buf = io::BufWriter::new(out);
    for (name, kws) in store.messages() {
        let mut line = name.to_vec();
        for k in kws {
            line.push(b' ');
            line.extend_from_slice(k);
        }
        line.push(b'\n');
        if let Err(e) = buf.write_all(&line) {
            return stdout_failed(err, e);
        }
    }
    match buf.flush() {
        Ok(()) => 0,
        Err(e) => stdout_failed(err, e),
    }
}

/// A reader that went away (`maildirkw -L | head`) is not an error, as for a C
/// program killed by SIGPIPE; anything else is.
fn stdout_failed(err: &mut dyn Write, e: io::Error) -> u8 {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return 0;
    }
    let _ = writeln!(err, "stdout: {}", strerror(&e));
    EXIT_LIST_FAIL
}

/// The text of an OS error without Rust's " (os error N)" suffix, as perror(3)
/// prints it.
fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// Prints a diagnostic as Courier's `perror()` calls do: failures to create a file
/// in the maildir's `tmp/` (update, lock) name the maildir, other I/O errors name
/// their file, and a message name that cannot be a file gets the error Courier's
/// `rename()` would have produced.
fn report(err: &mut dyn Write, maildir: &Path, message: &[u8], e: &MaildirError) {
    let mut line: Vec<u8> = match e {
        MaildirError::Io { path, source } => {
            let shown = if path.parent() == Some(&maildir.join("tmp")) {
                maildir
            } else {
                path.as_path()
            };
            let mut l = shown.as_os_str().as_bytes().to_vec();
            l.extend_from_slice(b": ");
            l.extend_from_slice(strerror(source).as_bytes());
            l
        }
        MaildirError::NotFound { .. } => {
            // Courier builds courierimapkeywords/<MESSAGE up to its last ':'> and
            // rename()s onto it: an empty name is the directory itself, a '/' a
            // missing subdirectory.
            let cut = match message.iter().rposition(|&b| b == b':') {
                Some(i) if !message[i..].contains(&b'/') => &message[..i],
                _ => message,
            };
            let mut l = keywords::keyword_dir(maildir)
                .as_os_str()
                .as_bytes()
                .to_vec();
            l.push(b'/');
            l.extend_from_slice(cut);
            let errno = if cut.is_empty() {
                nix::errno::Errno::ENOTDIR
            } else {
                nix::errno::Errno::ENOENT
            };
            l.extend_from_slice(b": ");
            l.extend_from_slice(errno.desc().as_bytes());
            l
        }
        other => other.to_string().into_bytes(),
    };
    line.push(b'\n');
    let _ = err.write_all(&line);
}
