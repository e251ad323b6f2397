//! deliverquota: Courier's quota-aware maildir delivery agent.
//!
//! ```text
//! deliverquota [-c] [-w PERCENT] [-W MSGFILE] MAILDIR [QUOTA]
//! ```
//! The message on stdin is copied verbatim (constant memory) into `MAILDIR/tmp/`,
//! fsynced, and linked into `new/`. Exit codes are Debian's (programs.md):
//! 0 delivered, 73 usage, 74 I/O error while writing, 75 maildir unusable or over
//! quota with a pipe on stdin, 77 over quota with a regular file on stdin.

#![forbid(unsafe_code)]

use courier_maildir::MaildirError;
use courier_maildir::delivery::{MESSAGE_MODE, TmpFile};
use courier_maildir::layout;
use courier_maildir::quota::{self, QuotaFile, QuotaSpec};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Exit codes of Debian's deliverquota.
pub mod exit {
    /// Delivered.
    pub const OK: u8 = 0;
    /// EX_CANTCREAT: usage error (Courier's choice).
    pub const USAGE: u8 = 73;
    /// EX_IOERR: writing or linking the message failed.
    pub const IOERR: u8 = 74;
    /// EX_TEMPFAIL: the maildir is unusable, or over quota with a pipe on stdin.
    pub const TEMPFAIL: u8 = 75;
    /// EX_NOPERM: over quota with a regular file on stdin.
    pub const NOPERM: u8 = 77;
}

/// Default quota warning template.
pub const DEFAULT_WARN_TEMPLATE: &str = "/etc/courier/quotawarnmsg";
/// A warning is sent at most once in this period (the mtime of `quotawarn`).
pub const WARN_INTERVAL: Duration = Duration::from_secs(24 * 3600);

struct Opts {
    create: bool,
    warn_percent: Option<u32>,
    template: PathBuf,
    maildir: PathBuf,
    quota: Option<String>,
}

/// C `atoi`: leading blanks, optional sign, digits; anything else ends the number.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let v = digits[..end]
        .parse::<i64>()
        .unwrap_or(if end == 0 { 0 } else { i64::MAX });
    if neg { -v } else { v }
}

/// Courier's option loop: whole words only (`-c`, `-w N`, `-W FILE`); the first
/// other word, even one starting with `-`, is the maildir. `-w` takes any `atoi`
/// value from -1 (no warning) to 100.
fn parse(args: &[String]) -> Option<Opts> {
    let mut o = Opts {
        create: false,
        warn_percent: None,
        template: PathBuf::from(DEFAULT_WARN_TEMPLATE),
        maildir: PathBuf::new(),
        quota: None,
    };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-c" => o.create = true,
            "-w" if i + 1 < args.len() => {
                i += 1;
                let p = atoi(&args[i]);
                if !(-1..=100).contains(&p) {
                    return None;
                }
                o.warn_percent = u32::try_from(p).ok();
            }
            "-W" if i + 1 < args.len() => {
                i += 1;
                o.template = PathBuf::from(&args[i]);
            }
            _ => break,
        }
        i += 1;
    }
    o.maildir = PathBuf::from(args.get(i)?);
    o.quota = args.get(i + 1).cloned();
    Some(o)
}

/// Runs deliverquota on this process's stdin; returns the exit code.
pub fn run(argv0: &str, args: &[OsString]) -> u8 {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(opts) = parse(&args) else {
        eprintln!("Usage: {argv0} [-c] [-w percent] maildir");
        return exit::USAGE;
    };
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let known_size = stdin_regular_file_size();
    match deliver(&opts, &mut input, known_size) {
        Ok(()) => exit::OK,
        Err(Failure::OverQuota) => {
            println!("Mail quota exceeded.");
            if known_size.is_some() {
                exit::NOPERM
            } else {
                exit::TEMPFAIL
            }
        }
        Err(Failure::Maildir(e)) => {
            eprintln!("{e}");
            exit::TEMPFAIL
        }
        Err(Failure::Write(e)) => {
            eprintln!("{e}");
            exit::IOERR
        }
    }
}

/// The size of stdin when it is a regular file (read from its current offset).
fn stdin_regular_file_size() -> Option<u64> {
    let meta = fs::metadata("/dev/stdin").ok()?;
    if !meta.file_type().is_file() || meta.file_type().is_fifo() {
        return None;
    }
    Some(meta.len())
}

enum Failure {
    OverQuota,
    /// The maildir cannot be used (missing, not a directory, permissions).
    Maildir(MaildirError),
    /// Writing or linking the message failed (ENOSPC, EIO...).
    Write(MaildirError),
}

fn deliver(opts: &Opts, input: &mut dyn Read, known_size: Option<u64>) -> Result<(), Failure> {
    let dir = &opts.maildir;
    if opts.create {
        layout::create_all(dir).map_err(Failure::Maildir)?;
    }
    usable_maildir(dir)?;
    let main = layout::main_maildir(dir);
    if let Some(spec) = &opts.quota {
        match QuotaSpec::parse(spec) {
            Ok(spec) if !spec.is_unlimited() => {
                quota::install_spec(&main, spec).map_err(Failure::Maildir)?
            }
            Ok(_) => {}
            Err(e) => eprintln!("WARN: {e}"),
        }
    }
    let mut quota = open_quota(&main)?;

    // A regular file's size is known: check before writing anything (exit 77 path).
    if let (Some(size), Some(q)) = (known_size, quota.as_mut())
        && !q.check(size as i64, 1).map_err(Failure::Maildir)?
    {
        return Err(Failure::OverQuota);
    }
    // Courier reports a tmp/ that cannot be created in as the maildir being unusable.
    let mut tmp = TmpFile::create(dir, None, known_size, MESSAGE_MODE).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(nix::libc::EIO);
        Failure::Maildir(MaildirError::io(dir, io::Error::from_raw_os_error(errno)))
    })?;
    tmp.copy_from(input, "stdin").map_err(Failure::Write)?;
    let size = tmp.size() as i64;
    if known_size.is_some() {
        tmp.commit_new().map_err(Failure::Write)?;
        // Courier's order with a file on stdin: the warning is decided and sent
        // before this message's line is appended, through its own handle on
        // maildirsize. If the warning's quota check rebuilt the file, that rebuild
        // already counted this message, and the line below goes to the replaced
        // file, exactly as in Courier, so nothing is counted twice.
        maybe_warn(opts, &main, quota.as_ref());
        if let Some(q) = quota.as_mut() {
            add_message_line(q, size)?;
        }
    } else {
        if let Some(q) = quota.as_mut()
            && !q.check(size, 1).map_err(Failure::Maildir)?
        {
            return Err(Failure::OverQuota); // dropping tmp removes the file
        }
        tmp.commit_new().map_err(Failure::Write)?;
        if let Some(q) = quota.as_mut() {
            add_message_line(q, size)?;
        }
        maybe_warn(opts, &main, quota.as_ref());
    }
    Ok(())
}

/// Courier appends no line for an empty message.
fn add_message_line(q: &mut QuotaFile, size: i64) -> Result<(), Failure> {
    if size == 0 {
        return Ok(());
    }
    q.add(size, 1).map_err(Failure::Write)
}

/// Sends the quota warning when `-w` was given and the quota is used at least
/// that much. The delivery itself has succeeded: a failed warning must not bounce
/// it, so problems are only reported.
fn maybe_warn(opts: &Opts, main: &Path, quota: Option<&QuotaFile>) {
    let (Some(threshold), Some(q)) = (opts.warn_percent, quota) else {
        return;
    };
    if q.spec().percent_used(q.usage()) < threshold {
        return;
    }
    if let Err(e) = send_warning(main, &opts.template) {
        eprintln!("WARN: quota warning not delivered: {e}");
    }
}

fn usable_maildir(dir: &Path) -> Result<(), Failure> {
    let meta = fs::metadata(dir).map_err(|e| Failure::Maildir(MaildirError::io(dir, e)))?;
    if !meta.is_dir() {
        return Err(Failure::Maildir(MaildirError::io(
            dir,
            io::Error::from_raw_os_error(nix::libc::ENOTDIR),
        )));
    }
    for sub in ["tmp", "new"] {
        let p = dir.join(sub);
        fs::metadata(&p).map_err(|e| Failure::Maildir(MaildirError::io(&p, e)))?;
    }
    Ok(())
}

fn open_quota(main: &Path) -> Result<Option<QuotaFile>, Failure> {
    match QuotaFile::open(main) {
        Ok(Some(q)) => {
            if let Some(spec) = q.bad_spec() {
                eprintln!("WARN: quota string '{spec}' not parseable");
            }
            if q.unreadable_lines() > 0 {
                eprintln!(
                    "WARN: {}: {} unreadable line(s) counted as 0",
                    q.path().display(),
                    q.unreadable_lines()
                );
            }
            Ok(Some(q))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(Failure::Maildir(e)),
    }
}

/// Delivers the quota warning to the main maildir at most once per
/// [`WARN_INTERVAL`] (formats.md §5).
fn send_warning(main: &Path, template: &Path) -> Result<(), MaildirError> {
    let mut text = match fs::read(template) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(MaildirError::io(template, e)),
    };
    let stamp = main.join("quotawarn");
    if let Some(age) = quota::age_of(&stamp)
        && age < WARN_INTERVAL
    {
        return Ok(());
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&stamp)
        .map_err(|e| MaildirError::io(&stamp, e))?;
    f.write_all(&[0]).map_err(|e| MaildirError::io(&stamp, e))?;
    drop(f);

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut msg = format!(
        "Date: {}\nMessage-Id: <{}.overquota@{}>\n",
        rfc822_date(now.as_secs()),
        now.as_secs(),
        courier_common::hostname()
    )
    .into_bytes();
    msg.append(&mut text);
    let mut tmp = TmpFile::create(main, Some("warn"), Some(msg.len() as u64), MESSAGE_MODE)?;
    tmp.write_all(&msg)?;
    // Its own handle, as in Courier: counted only when it fits; otherwise it is
    // delivered anyway and left for the next recalculation.
    let mut quota = QuotaFile::open(main)?;
    let fits = match quota.as_mut() {
        Some(q) => q.check(msg.len() as i64, 1)?,
        None => false,
    };
    tmp.commit_new()?;
    if let (true, Some(q)) = (fits, quota.as_mut()) {
        q.add(msg.len() as i64, 1)?;
    }
    Ok(())
}

/// `Sat, 21 Nov 2026 21:37:12 +0000` for a Unix time (always UTC).
pub fn rfc822_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for all u64 day counts here.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc822_dates() {
        assert_eq!(rfc822_date(1795297032), "Sat, 21 Nov 2026 21:37:12 +0000");
        assert_eq!(rfc822_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc822_date(951782400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn options_are_whole_words_like_courier() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(parse(&s(&[])).is_none());
        assert!(parse(&s(&["-c"])).is_none());
        for bad in ["101", "-2", "99999999999"] {
            assert!(parse(&s(&["-w", bad, "M"])).is_none(), "{bad}");
        }
        assert_eq!(
            parse(&s(&["-x", "M"])).unwrap().maildir,
            PathBuf::from("-x")
        );
        assert_eq!(parse(&s(&["-w"])).unwrap().maildir, PathBuf::from("-w"));
        assert_eq!(parse(&s(&["-w", "-1", "M"])).unwrap().warn_percent, None);
        assert_eq!(
            parse(&s(&["-w", "abc", "M"])).unwrap().warn_percent,
            Some(0)
        );
        assert_eq!(parse(&s(&["-w", "3x", "M"])).unwrap().warn_percent, Some(3));
        let o = parse(&s(&["-c", "-w", "90", "-W", "t", "M", "100S"])).unwrap();
        assert!(o.create);
        assert_eq!(o.warn_percent, Some(90));
        assert_eq!(o.template, PathBuf::from("t"));
        assert_eq!(o.quota.as_deref(), Some("100S"));
    }
}
