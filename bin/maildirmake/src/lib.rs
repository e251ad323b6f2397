//! maildirmake: Courier's maildir creation tool, option for option.
//!
//! ```text
//! maildirmake [-S] [-q QUOTA] [-f FOLDER | -F FOLDER] [-s MODE] MAILDIR
//! maildirmake --add NAME=/ABS/PATH MAILDIR
//! maildirmake --del NAME MAILDIR
//! maildirmake --checkutf8 | --convutf8 MAILDIR [MAILFILTER]
//! ```
//! Messages and exit codes are Debian's `maildirmake.courier` (programs.md).

#![forbid(unsafe_code)]

use courier_maildir::layout::{self, Sharing};
use courier_maildir::quota::{self, QuotaSpec};
use courier_maildir::{MaildirError, mutf7, shared};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

const USAGE: &str = "Usage: maildirmake [ options ] maildir";

/// What the command line asks for.
#[derive(Debug, Default)]
struct Opts {
    sharable: bool,
    quota: Option<String>,
    folder: Option<String>,
    convert_folder: bool,
    share_mode: Option<String>,
    add: Option<String>,
    del: Option<String>,
    utf8: Option<bool>, // Some(false) = check, Some(true) = convert
    operands: Vec<String>,
}

fn parse(args: &[String]) -> Option<Opts> {
    let mut o = Opts::default();
    let mut i = 0;
    // Takes the value of a short option: attached (`-fName`) or the next word.
    let value = |i: &mut usize, attached: &str| -> Option<String> {
        if !attached.is_empty() {
            return Some(attached.to_string());
        }
        *i += 1;
        args.get(*i).cloned()
    };
    while i < args.len() {
        let a = &args[i];
        match a.as_str() {
            "--add" => o.add = Some(args.get(i + 1)?.clone()),
            "--del" => o.del = Some(args.get(i + 1)?.clone()),
            "--checkutf8" => o.utf8 = Some(false),
            "--convutf8" => o.utf8 = Some(true),
            "--" => {
                o.operands.extend(args[i + 1..].iter().cloned());
                break;
            }
            _ if a.starts_with("--") => return None,
            _ if a.starts_with('-') && a.len() > 1 => {
                let (flag, rest) = a[1..].split_at(1);
                match flag {
                    "S" if rest.is_empty() => o.sharable = true,
                    "q" => o.quota = Some(value(&mut i, rest)?),
                    "f" => o.folder = Some(value(&mut i, rest)?),
                    "F" => {
                        o.folder = Some(value(&mut i, rest)?);
                        o.convert_folder = true;
                    }
                    "s" => o.share_mode = Some(value(&mut i, rest)?),
                    _ => return None,
                }
            }
            _ => o.operands.push(a.clone()),
        }
        if matches!(a.as_str(), "--add" | "--del") {
            i += 1;
        }
        i += 1;
    }
    Some(o)
}

fn sharing_for(mode: &str) -> Sharing {
    // Courier reads comma separated words: "write" selects write mode (anything
    // else means read), "group" removes access for others.
    let words: Vec<&str> = mode.split(',').map(str::trim).collect();
    let group = words.contains(&"group");
    if words.contains(&"write") {
        Sharing::Write { group }
    } else {
        Sharing::Read { group }
    }
}

/// Runs maildirmake with `args` (without argv[0]); returns the exit code.
pub fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let usage = |out: &mut dyn Write| {
        let _ = writeln!(out, "{USAGE}");
        1
    };
    let Some(o) = parse(&args) else {
        return usage(out);
    };
    let Some(maildir) = o.operands.first().map(PathBuf::from) else {
        return usage(out);
    };

    if let Some(convert) = o.utf8 {
        return convert_utf8(
            &maildir,
            o.operands.get(1).map(Path::new),
            convert,
            out,
            err,
        );
    }
    if let Some(spec) = &o.add {
        return add_shared(&maildir, spec, out, err);
    }
    if let Some(nick) = &o.del {
        return match shared::remove(&maildir, nick) {
            Ok(()) => 0,
            Err(MaildirError::NotFound { .. }) => {
                let _ = writeln!(err, "{nick}: not found.");
                1
            }
            Err(e) => fail(err, &e),
        };
    }
    if o.share_mode.is_some() && o.folder.is_none() {
        return usage(out);
    }
    if let Some(spec) = &o.quota {
        return set_quota(&maildir, o.folder.as_deref(), spec, err);
    }
    if let Some(folder) = &o.folder {
        if folder.starts_with('.') {
            let _ = writeln!(out, "Invalid folder name: {folder}");
            return 1;
        }
        if o.convert_folder && folder.contains('\u{fffd}') {
            let _ = writeln!(err, "Cannot convert {folder} to maildir encoding");
            return 1;
        }
        let sharing = match (&o.share_mode, o.sharable) {
            (Some(mode), _) => sharing_for(mode),
            (None, true) => Sharing::Read { group: false },
            (None, false) => Sharing::Private,
        };
        let path = maildir.join(format!(".{folder}"));
        return match layout::create(&path, sharing, true) {
            Ok(()) => 0,
            Err(e) => creation_failed(err, &e),
        };
    }
    let sharing = if o.sharable {
        Sharing::SharableMaildir
    } else {
        Sharing::Private
    };
    match layout::create(&maildir, sharing, false) {
        Ok(()) => 0,
        Err(e) => creation_failed(err, &e),
    }
}

fn creation_failed(err: &mut dyn Write, e: &MaildirError) -> u8 {
    let _ = writeln!(err, "maildirmake: {e}");
    1
}

fn fail(err: &mut dyn Write, e: &MaildirError) -> u8 {
    let _ = writeln!(err, "{e}");
    1
}

fn set_quota(maildir: &Path, folder: Option<&str>, spec: &str, err: &mut dyn Write) -> u8 {
    let path = match folder {
        Some(f) => maildir.join(format!(".{f}")),
        None => maildir.to_path_buf(),
    };
    // Courier: create the directory if missing (0700 under the umask), no
    // maildirfolder marker even for -f.
    if !path.exists()
        && let Err(e) = layout::create_all(&path)
    {
        return creation_failed(err, &e);
    }
    let spec = match QuotaSpec::parse(spec) {
        Ok(s) => s,
        Err(_) => {
            let _ = writeln!(err, "WARN: quota string '{spec}' not parseable");
            return 0;
        }
    };
    if spec.is_unlimited() {
        return 0;
    }
    match quota::rebuild(&path, spec) {
        Ok(_) => 0,
        Err(e) => creation_failed(err, &e),
    }
}

fn add_shared(maildir: &Path, spec: &str, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some((nick, path)) = spec.split_once('=') else {
        let _ = writeln!(out, "{USAGE}");
        return 1;
    };
    if !path.starts_with('/') {
        let _ = writeln!(out, "{USAGE}");
        return 1;
    }
    if let Err(e) = std::fs::metadata(maildir) {
        let _ = writeln!(err, "{}", MaildirError::io(maildir, e));
        return 1;
    }
    match shared::add(
        maildir,
        nick,
        Path::new(path),
        Path::new(shared::GLOBAL_MAILDIRSHARED),
    ) {
        Ok(()) => 0,
        Err(shared::AddError::InvalidName) => {
            let _ = writeln!(err, "{nick}: invalid name");
            1
        }
        Err(shared::AddError::AlreadyDefined) => {
            let _ = writeln!(err, "{nick}: already defined as a sharable maildir.");
            2
        }
        Err(shared::AddError::Other(e)) => fail(err, &e),
    }
}

/// `--checkutf8` / `--convutf8`: folders of a pre-5.0 maildir were named in
/// modified UTF-7; rename them to UTF-8 and fix the subscription list.
fn convert_utf8(
    maildir: &Path,
    mailfilter: Option<&Path>,
    convert: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let _ = writeln!(out, "Checking {}:", maildir.display());
    let folders = match layout::list_folders(maildir, false) {
        Ok(f) => f,
        Err(e) => return fail(err, &e),
    };
    let mut renames = Vec::new();
    for f in &folders {
        match mutf7::decode(f) {
            Ok(utf8) if utf8 != *f => renames.push((f.clone(), utf8)),
            Ok(_) => {}
            Err(_) => {
                let _ = writeln!(
                    err,
                    "Error: INBOX.{f}: does not appear to be valid modified-UTF7"
                );
                return 1;
            }
        }
    }
    let subs = match subscribed_compat::convert_subscriptions(maildir) {
        Ok(s) => s,
        Err(e) => return fail(err, &e),
    };
    for (old, new) in &subs.changes {
        let _ = writeln!(out, "Subscription to {old} changed to {new}");
    }
    for (old, new) in &renames {
        let _ = writeln!(out, "Rename INBOX.{old} to INBOX.{new}");
    }
    let file = maildir.join(subscribed_compat::SUBSCRIBED);
    if subs.present {
        let verb = if convert { "Updating" } else { "Verified" };
        let _ = writeln!(out, "{verb} {}", file.display());
    }
    if let Some(mf) = mailfilter {
        let verb = if convert { "Updating" } else { "Verified" };
        let _ = writeln!(out, "{verb} {}", mf.display());
    }
    if !convert {
        return 0;
    }
    for (old, new) in &renames {
        let (from, to) = (
            maildir.join(format!(".{old}")),
            maildir.join(format!(".{new}")),
        );
        if let Err(e) = std::fs::rename(&from, &to) {
            return fail(err, &MaildirError::io(&from, e));
        }
    }
    if subs.present
        && let Err(e) = subscribed_compat::write_subscriptions(maildir, &subs.lines)
    {
        return fail(err, &e);
    }
    if let Some(mf) = mailfilter
        && let Err(e) = convert_mailfilter(mf, &renames)
    {
        return fail(err, &e);
    }
    0
}

/// Rewrites folder paths (`.<old>` directory names) in a SqWebMail-generated
/// mail filter.
fn convert_mailfilter(file: &Path, renames: &[(String, String)]) -> Result<(), MaildirError> {
    let text = std::fs::read_to_string(file).map_err(|e| MaildirError::io(file, e))?;
    let mut text = text;
    // Longest names first so a parent's rename never clobbers a child's.
    let mut sorted = renames.to_vec();
    sorted.sort_by_key(|(old, _)| std::cmp::Reverse(old.len()));
    for (old, new) in sorted {
        text = text.replace(&format!("/.{old}/"), &format!("/.{new}/"));
        text = text.replace(&format!("/.{old}\""), &format!("/.{new}\""));
    }
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, text).map_err(|e| MaildirError::io(&tmp, e))?;
    std::fs::rename(&tmp, file).map_err(|e| MaildirError::io(file, e))
}

/// The subscription list part of `--convutf8`: each modified-UTF-7 name decoded
/// (names that are not valid modified UTF-7 are kept as they are).
mod subscribed_compat {
    use courier_maildir::{MaildirError, mutf7, subscribed};
    use std::path::Path;

    pub use subscribed::SUBSCRIBED_FILE as SUBSCRIBED;

    pub struct Converted {
        pub present: bool,
        pub lines: Vec<String>,
        pub changes: Vec<(String, String)>,
    }

    pub fn convert_subscriptions(maildir: &Path) -> Result<Converted, MaildirError> {
        let present = subscribed::path(maildir).exists();
        let mut lines = Vec::new();
        let mut changes = Vec::new();
        for line in subscribed::list(maildir)? {
            match mutf7::decode(&line) {
                Ok(utf8) if utf8 != line => {
                    changes.push((line, utf8.clone()));
                    lines.push(utf8);
                }
                _ => lines.push(line),
            }
        }
        Ok(Converted {
            present,
            lines,
            changes,
        })
    }

    pub fn write_subscriptions(maildir: &Path, lines: &[String]) -> Result<(), MaildirError> {
        subscribed::write(maildir, lines)
    }
}
