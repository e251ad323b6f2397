//! `shared-maildirs` (per maildir) and `/etc/courier/maildirshared` (global): the
//! list of sharable maildirs a user can subscribe to (formats.md §12).
//!
//! ```text
//! <nick><whitespace><absolute path of a sharable maildir>\n      (# starts a comment)
//! ```

use crate::delivery::write_control_file;
use crate::error::{IoContext, MaildirError, Result};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The per-maildir file.
pub const SHARED_MAILDIRS: &str = "shared-maildirs";
/// Debian's global file.
pub const GLOBAL_MAILDIRSHARED: &str = "/etc/courier/maildirshared";

/// One `nick path` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedEntry {
    /// The nick (no `.` or `/`).
    pub nick: String,
    /// Absolute path of the sharable maildir.
    pub path: PathBuf,
}

/// Parses a shared-maildirs file; comments and blank lines are skipped.
pub fn parse(text: &str) -> Vec<SharedEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let line = line.trim_end();
            let mut it = line.splitn(2, [' ', '\t']);
            let nick = it.next()?;
            let path = it.next()?.trim_start();
            (!path.is_empty()).then(|| SharedEntry {
                nick: nick.into(),
                path: path.into(),
            })
        })
        .collect()
}

/// Reads a shared-maildirs file; a missing file is an empty list.
pub fn read(file: &Path) -> Result<Vec<SharedEntry>> {
    match fs::read(file) {
        Ok(b) => Ok(parse(&String::from_utf8_lossy(&b))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(MaildirError::io(file, e)),
    }
}

/// Why `--add` was refused.
#[derive(Debug)]
pub enum AddError {
    /// The nick contains `.` or `/`.
    InvalidName,
    /// The nick is already listed (here or in the global file).
    AlreadyDefined,
    /// Anything else, with the path.
    Other(MaildirError),
}

/// Appends `nick<TAB>path` to `maildir/shared-maildirs`, as `maildirmake --add`.
/// `path` must be readable; the nick must not already exist in this file or in
/// `global`.
pub fn add(
    maildir: &Path,
    nick: &str,
    path: &Path,
    global: &Path,
) -> std::result::Result<(), AddError> {
    if nick.contains('.') || nick.contains('/') {
        return Err(AddError::InvalidName);
    }
    fs::read_dir(path).map_err(|e| AddError::Other(MaildirError::io(path, e)))?;
    let file = maildir.join(SHARED_MAILDIRS);
    for list in [global, file.as_path()] {
        if read(list)
            .map_err(AddError::Other)?
            .iter()
            .any(|e| e.nick == nick)
        {
            return Err(AddError::AlreadyDefined);
        }
    }
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&file)
        .map_err(|e| AddError::Other(MaildirError::io(maildir, e)))?;
    let line = format!("{nick}\t{}\n", path.display());
    f.write_all(line.as_bytes())
        .map_err(|e| AddError::Other(MaildirError::io(&file, e)))
}

/// Removes `nick` from `maildir/shared-maildirs` (rewritten through `tmp/`), as
/// `maildirmake --del`. Lines that are not the nick (comments included) are kept.
pub fn remove(maildir: &Path, nick: &str) -> Result<()> {
    let file = maildir.join(SHARED_MAILDIRS);
    let text = match fs::read(&file) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(MaildirError::io(&file, e)),
    };
    let mut found = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let is_it = parse(line).first().is_some_and(|e| e.nick == nick);
        if is_it {
            found = true;
        } else {
            out.push_str(line);
        }
    }
    if !found {
        return Err(MaildirError::NotFound {
            name: nick.to_string(),
        });
    }
    write_control_file(maildir, "shared", &file, out.as_bytes())?;
    fs::metadata(&file).at(&file).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{self, Sharing};

    #[test]
    fn parse_skips_comments_and_accepts_any_whitespace() {
        let v = parse("# header\npub\t/srv/pub\nteam   /srv/team # trailing\n\nbad\n");
        assert_eq!(
            v,
            vec![
                SharedEntry {
                    nick: "pub".into(),
                    path: "/srv/pub".into()
                },
                SharedEntry {
                    nick: "team".into(),
                    path: "/srv/team".into()
                },
            ]
        );
    }

    #[test]
    fn add_and_remove_follow_maildirmake() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        let s = t.path().join("S");
        layout::create(&m, Sharing::Private, false).unwrap();
        layout::create(&s, Sharing::SharableMaildir, false).unwrap();
        let global = t.path().join("global");
        add(&m, "pub", &s, &global).unwrap();
        assert_eq!(
            fs::read_to_string(m.join(SHARED_MAILDIRS)).unwrap(),
            format!("pub\t{}\n", s.display())
        );
        assert!(matches!(
            add(&m, "pub", &s, &global),
            Err(AddError::AlreadyDefined)
        ));
        assert!(matches!(
            add(&m, "a.b", &s, &global),
            Err(AddError::InvalidName)
        ));
        assert!(matches!(
            add(&m, "x", &t.path().join("none"), &global),
            Err(AddError::Other(_))
        ));
        fs::write(&global, "g /srv\n").unwrap();
        assert!(matches!(
            add(&m, "g", &s, &global),
            Err(AddError::AlreadyDefined)
        ));
        remove(&m, "pub").unwrap();
        assert_eq!(fs::read_to_string(m.join(SHARED_MAILDIRS)).unwrap(), "");
        assert!(matches!(
            remove(&m, "pub"),
            Err(MaildirError::NotFound { .. })
        ));
    }
}
