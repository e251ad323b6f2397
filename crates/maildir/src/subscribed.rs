//! `courierimapsubscribed`, the IMAP subscription list of the main maildir
//! (formats.md §9): one folder name per line in the server's internal form
//! (`INBOX.Work`, UTF-8 since Courier-IMAP 5.0), LF-terminated.
//!
//! Every change rewrites the whole file through `tmp/` (unique part
//! `imapsubscribe<n>`) and `rename()`, as imapd does. Observed behaviour of Debian's
//! imapd 5.0.13, which these functions follow:
//!
//! - names are compared byte for byte (`inbox.a` and `INBOX.a` are different);
//! - SUBSCRIBE of a listed name leaves the file untouched; otherwise the name is
//!   appended and the other lines, including empty ones, are kept;
//! - UNSUBSCRIBE drops every line equal to the name and always rewrites the file
//!   (creating an empty one if there was none); a last line without LF gets one;
//! - RENAME does *not* touch the file; [`rename_prefix`] exists for servers that
//!   want to keep subscriptions in step anyway.

use crate::delivery::{next_uniq, write_control_file};
use crate::error::{MaildirError, Result};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Name of the subscription file in the main maildir.
pub const SUBSCRIBED_FILE: &str = "courierimapsubscribed";

/// The subscription file of the main maildir `maildir`.
pub fn path(maildir: &Path) -> PathBuf {
    maildir.join(SUBSCRIBED_FILE)
}

/// The raw lines of the file (without their LF); an absent file has none.
fn read_lines(maildir: &Path) -> Result<Vec<Vec<u8>>> {
    let file = path(maildir);
    let data = match fs::read(&file) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MaildirError::io(&file, e)),
    };
    let mut lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    // The piece after the last LF is empty for a well-formed file.
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    Ok(lines)
}

fn write_lines(maildir: &Path, lines: &[Vec<u8>]) -> Result<()> {
    let mut data = Vec::new();
    for l in lines {
        data.extend_from_slice(l);
        data.push(b'\n');
    }
    let uniq = format!("imapsubscribe{}", next_uniq());
    write_control_file(maildir, &uniq, &path(maildir), &data)
}

/// A name that can be stored on one line: not empty, no LF, CR or NUL.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['\n', '\r', '\0']) {
        return Err(MaildirError::InvalidFolderName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// The subscribed names in file order, skipping empty lines (an absent file means
/// no subscriptions). Bytes that are not UTF-8 (pre-5.0 files written by other
/// tools) are replaced by U+FFFD.
pub fn list(maildir: &Path) -> Result<Vec<String>> {
    Ok(read_lines(maildir)?
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .collect())
}

/// Whether `name` is subscribed (exact byte comparison).
pub fn is_subscribed(maildir: &Path, name: &str) -> Result<bool> {
    Ok(read_lines(maildir)?.iter().any(|l| l == name.as_bytes()))
}

/// SUBSCRIBE: appends `name` unless it is already listed. Returns whether the file
/// changed.
pub fn subscribe(maildir: &Path, name: &str) -> Result<bool> {
    check_name(name)?;
    let mut lines = read_lines(maildir)?;
    if lines.iter().any(|l| l == name.as_bytes()) {
        return Ok(false);
    }
    lines.push(name.as_bytes().to_vec());
    write_lines(maildir, &lines)?;
    Ok(true)
}

/// UNSUBSCRIBE: removes every line equal to `name`. Like imapd, the file is
/// rewritten even when nothing was removed. Returns whether a line was removed.
pub fn unsubscribe(maildir: &Path, name: &str) -> Result<bool> {
    check_name(name)?;
    let mut lines = read_lines(maildir)?;
    let before = lines.len();
    lines.retain(|l| l != name.as_bytes());
    write_lines(maildir, &lines)?;
    Ok(lines.len() != before)
}

/// Replaces the whole list (in the given order).
pub fn write(maildir: &Path, names: &[String]) -> Result<()> {
    for n in names {
        check_name(n)?;
    }
    let lines: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
    write_lines(maildir, &lines)
}

/// After renaming folder `old` to `new` (internal names such as `INBOX.A`): rewrites
/// every subscription equal to `old` or below it (`old.`…) to the same name under
/// `new`. The file is written only if something changed; returns how many lines
/// were renamed. Debian's imapd does not do this on RENAME (see the module docs).
pub fn rename_prefix(maildir: &Path, old: &str, new: &str) -> Result<usize> {
    check_name(old)?;
    check_name(new)?;
    let mut lines = read_lines(maildir)?;
    let mut renamed = 0;
    for l in lines.iter_mut() {
        let Some(rest) = l.strip_prefix(old.as_bytes()) else {
            continue;
        };
        if rest.is_empty() || rest.first() == Some(&b'.') {
            let mut n = new.as_bytes().to_vec();
            n.extend_from_slice(rest);
            *l = n;
            renamed += 1;
        }
    }
    if renamed > 0 {
        write_lines(maildir, &lines)?;
    }
    Ok(renamed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::maildir;
    use std::process::{Command, Stdio};

    fn contents(m: &Path) -> String {
        fs::read_to_string(path(m)).unwrap()
    }

    fn tmp_is_empty(m: &Path) -> bool {
        fs::read_dir(m.join("tmp")).unwrap().next().is_none()
    }

    /// Expected file contents after a sequence of operations, as observed with
    /// Debian's imapd (`S` = SUBSCRIBE, `U` = UNSUBSCRIBE).
    type Case = (
        Option<&'static str>,
        &'static [(char, &'static str)],
        &'static str,
    );
    const CASES: &[Case] = &[
        (None, &[('S', "INBOX.A")], "INBOX.A\n"),
        (None, &[('U', "INBOX.A")], ""),
        (
            Some("INBOX.A\n\nINBOX.B"),
            &[('S', "INBOX.C"), ('S', "INBOX.A"), ('S', "inbox.a")],
            "INBOX.A\n\nINBOX.B\nINBOX.C\ninbox.a\n",
        ),
        (
            Some("INBOX.B\nINBOX.Sub\n\nINBOX.Sub\nINBOX.Sub.X\ninbox.sub\nINBOX.A"),
            &[('U', "INBOX.Sub")],
            "INBOX.B\n\nINBOX.Sub.X\ninbox.sub\nINBOX.A\n",
        ),
        (Some("INBOX.A"), &[('U', "INBOX.Zork")], "INBOX.A\n"),
    ];

    #[test]
    fn subscribe_and_unsubscribe_match_imapd() {
        for (initial, ops, want) in CASES {
            let (_t, m) = maildir();
            if let Some(init) = initial {
                fs::write(path(&m), init).unwrap();
            }
            for (op, name) in ops.iter() {
                match op {
                    'S' => subscribe(&m, name).unwrap(),
                    _ => unsubscribe(&m, name).unwrap(),
                };
            }
            assert_eq!(contents(&m), *want, "{initial:?} {ops:?}");
            assert!(tmp_is_empty(&m));
        }
    }

    #[test]
    fn subscribe_reports_changes_and_lists_names() {
        let (_t, m) = maildir();
        assert_eq!(list(&m).unwrap(), Vec::<String>::new());
        assert!(subscribe(&m, "INBOX.Résumé").unwrap());
        assert!(!subscribe(&m, "INBOX.Résumé").unwrap());
        assert!(subscribe(&m, "INBOX").unwrap());
        assert!(is_subscribed(&m, "INBOX").unwrap());
        assert!(!is_subscribed(&m, "inbox").unwrap());
        assert_eq!(list(&m).unwrap(), vec!["INBOX.Résumé", "INBOX"]);
        assert!(unsubscribe(&m, "INBOX").unwrap());
        assert!(!unsubscribe(&m, "INBOX").unwrap());
        for bad in ["", "a\nb", "a\rb", "a\0b"] {
            assert!(subscribe(&m, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rename_prefix_moves_folder_and_children_only() {
        let (_t, m) = maildir();
        fs::write(path(&m), "INBOX.A\nINBOX.AB\nINBOX.A.x\nINBOX.B\n").unwrap();
        assert_eq!(rename_prefix(&m, "INBOX.A", "INBOX.Z").unwrap(), 2);
        assert_eq!(contents(&m), "INBOX.Z\nINBOX.AB\nINBOX.Z.x\nINBOX.B\n");
        let before = fs::metadata(path(&m)).unwrap().modified().unwrap();
        assert_eq!(rename_prefix(&m, "INBOX.Q", "INBOX.R").unwrap(), 0);
        assert_eq!(fs::metadata(path(&m)).unwrap().modified().unwrap(), before);
        write(&m, &["INBOX".to_string()]).unwrap();
        assert_eq!(contents(&m), "INBOX\n");
    }

    /// Runs the same SUBSCRIBE/UNSUBSCRIBE commands through Debian's imapd (PREAUTH
    /// mode on stdin) and through this module, and compares the files.
    #[test]
    fn differential_against_debian_imapd() {
        let imapd = Path::new("/usr/bin/imapd");
        if !imapd.exists() {
            eprintln!("skipped: {} not installed", imapd.display());
            return;
        }
        let initial = "INBOX.B\n\nINBOX.Sub\nINBOX.Sub.X";
        let ops = [
            ('S', "INBOX.C"),
            ('S', "INBOX.B"),
            ('U', "INBOX.Sub"),
            ('S', "INBOX.Sub"),
            ('U', "INBOX.Nope"),
        ];
        let (_t1, theirs) = maildir();
        let (_t2, ours) = maildir();
        fs::write(path(&theirs), initial).unwrap();
        fs::write(path(&ours), initial).unwrap();
        let mut script = String::new();
        for (i, (op, name)) in ops.iter().enumerate() {
            let cmd = if *op == 'S' {
                "SUBSCRIBE"
            } else {
                "UNSUBSCRIBE"
            };
            script.push_str(&format!("a{i} {cmd} {name}\r\n"));
            if *op == 'S' {
                subscribe(&ours, name).unwrap();
            } else {
                unsubscribe(&ours, name).unwrap();
            }
        }
        script.push_str("z LOGOUT\r\n");
        let mut child = Command::new(imapd)
            .arg(&theirs)
            .env("AUTHENTICATED", "tester")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let transcript = String::from_utf8_lossy(&out.stdout);
        assert!(transcript.contains("z OK LOGOUT"), "{transcript}");
        assert_eq!(contents(&ours), contents(&theirs));
    }
}
