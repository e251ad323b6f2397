//! The editing half of Courier's `userdb` script (authdaemon-protocol.md §6.3): change one
//! record of a text source file, list names, show fields.
//!
//! Works on bytes so every line it does not touch is written back exactly as read, and so
//! files written by Courier's script and by ours are interchangeable.
//!
//! Differences from the Perl script, all deliberate: fields of a changed record keep their
//! order (new ones are appended) where Perl writes them in hash order; a field named twice
//! on the command line of a new record is stored once (the last value), as it already is
//! for an existing record.

use crate::error::UserDbError;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What to do to the record.
#[derive(Clone, Copy, Debug)]
pub enum Edit<'a> {
    /// `set field[=value]...`: merge these `field=value` items (values already read).
    Set(&'a [Vec<u8>]),
    /// `unset field...`: remove these fields.
    Unset(&'a [Vec<u8>]),
    /// `del`: remove the record.
    Del,
}

/// Splits an item as Perl's `/^([^=]*)(=.*)?$/`: the field name, and `=value` or nothing.
fn split_item(item: &[u8]) -> (&[u8], &[u8]) {
    match item.iter().position(|&b| b == b'=') {
        Some(eq) => item.split_at(eq),
        None => (item, &[]),
    }
}

/// Perl's `split(/\|/, ...)`: trailing empty items are dropped.
fn split_fields(fields: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = fields.split(|&b| b == b'|').collect();
    while v.last().is_some_and(|i| i.is_empty()) {
        v.pop();
    }
    v
}

/// Matches a line (without `\n`) as the script's `/^([^\t]+)(\t(.*))?$/`: the name and
/// the fields after the first TAB.
fn parse_line(line: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    match line.iter().position(|&b| b == b'\t') {
        Some(0) => None,
        Some(tab) => Some((&line[..tab], Some(&line[tab + 1..]))),
        None if line.is_empty() => None,
        None => Some((line, None)),
    }
}

/// Ordered field map: (name, `=value` or empty), one entry per name, first position kept.
#[derive(Default)]
struct Fields<'a>(Vec<(&'a [u8], &'a [u8])>);

impl<'a> Fields<'a> {
    fn set(&mut self, item: &'a [u8]) {
        let (name, rest) = split_item(item);
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = rest,
            None => self.0.push((name, rest)),
        }
    }

    fn remove(&mut self, name: &[u8]) {
        self.0.retain(|(n, _)| *n != name);
    }

    /// `name\titems` or, with no items, `name` alone (the script `chop`s the TAB).
    fn line(&self, name: &[u8]) -> Vec<u8> {
        let mut out = name.to_vec();
        for (i, (n, rest)) in self.0.iter().enumerate() {
            out.push(if i == 0 { b'\t' } else { b'|' });
            out.extend_from_slice(n);
            out.extend_from_slice(rest);
        }
        out
    }
}

/// Applies `edit` to the record `name` in `content` (the whole text file). Returns the new
/// content, or `None` when there is nothing to write (unset/del of an absent record, or
/// unset with no field).
///
/// Lines before the record are rewritten with a `\n` each; the lines after it are copied
/// byte for byte. A record that is not found is appended by `set`.
pub fn apply(content: &[u8], name: &[u8], edit: Edit<'_>) -> Option<Vec<u8>> {
    if let Edit::Unset(fields) = edit
        && fields.is_empty()
    {
        return None;
    }
    let mut out = Vec::with_capacity(content.len() + 64);
    let mut rest = content;
    while !rest.is_empty() {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => (&rest[..nl], &rest[nl + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        if let Some((n, existing)) = parse_line(line)
            && n == name
        {
            let mut fields = Fields::default();
            for item in split_fields(existing.unwrap_or(b"")) {
                fields.set(item);
            }
            match edit {
                Edit::Set(args) => {
                    for a in args {
                        fields.set(a);
                    }
                }
                Edit::Unset(args) => {
                    for a in args {
                        fields.remove(a);
                    }
                }
                Edit::Del => {
                    out.extend_from_slice(after);
                    return Some(out);
                }
            }
            out.extend_from_slice(&fields.line(name));
            out.push(b'\n');
            out.extend_from_slice(after);
            return Some(out);
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        rest = after;
    }
    match edit {
        Edit::Set(args) => {
            let mut fields = Fields::default();
            for a in args {
                fields.set(a);
            }
            out.extend_from_slice(&fields.line(name));
            out.push(b'\n');
            Some(out)
        }
        Edit::Unset(_) | Edit::Del => None,
    }
}

/// `userdb -show`: with no name, every record name (one per line); with a name, that
/// record's fields one per line (the first record of that name only; nothing if absent).
/// Comment lines are skipped.
pub fn show(content: &[u8], name: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in content.split(|&b| b == b'\n') {
        if line.starts_with(b"#") {
            continue;
        }
        let Some((n, fields)) = parse_line(line) else {
            continue;
        };
        match name {
            Some(want) if want == n => {
                let fields = fields.unwrap_or(b"");
                out.extend(fields.iter().map(|&b| if b == b'|' { b'\n' } else { b }));
                out.push(b'\n');
                break;
            }
            Some(_) => {}
            None => {
                out.extend_from_slice(n);
                out.push(b'\n');
            }
        }
    }
    out
}

/// True when a field or value may not be stored: `|` and newline are the separators.
pub fn is_invalid(text: &[u8]) -> bool {
    text.iter().any(|&b| b == b'|' || b == b'\n')
}

/// The script's manual link walk: while `path` is a symbolic link, append `/` and its
/// target (or, for an absolute target, replace the path with it). A relative target is
/// thus looked for *inside* the link, as in Courier. Returns the final path and the error
/// of the last `readlink` (the script exits with that errno on a later `die`).
pub fn follow_links(path: &Path) -> (PathBuf, io::Error) {
    let mut path = path.as_os_str().to_os_string();
    for _ in 0..40 {
        match std::fs::read_link(&path) {
            Ok(target) => {
                if target.is_absolute() {
                    path = target.into_os_string();
                } else {
                    path.push("/");
                    path.push(target.as_os_str());
                }
            }
            Err(e) => return (PathBuf::from(path), e),
        }
    }
    (
        PathBuf::from(path),
        io::Error::from_raw_os_error(nix::errno::Errno::ELOOP as i32),
    )
}

/// The script's side files for `path`: `(.tmp.<name>, .lock.<name>)` in the same directory.
pub fn side_files(path: &Path) -> (PathBuf, PathBuf) {
    let s = path.as_os_str().to_string_lossy();
    let (dir, file) = match s.rfind('/') {
        Some(i) => (format!("{}/", &s[..i]), &s[i + 1..]),
        None => (String::new(), &s[..]),
    };
    (
        PathBuf::from(format!("{dir}.tmp.{file}")),
        PathBuf::from(format!("{dir}.lock.{file}")),
    )
}

/// Writes `content` to `tmp` (created 0600, as under the script's `umask 066`), gives it
/// the mode of the existing `path` if there is one, and renames it over `path`.
pub fn replace_file(path: &Path, tmp: &Path, content: &[u8]) -> Result<(), UserDbError> {
    let _ = std::fs::remove_file(tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(content)?;
        f.sync_all()?;
        if let Ok(m) = std::fs::metadata(path) {
            f.set_permissions(std::fs::Permissions::from_mode(
                m.permissions().mode() & 0o777,
            ))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(tmp);
        return Err(UserDbError::io(tmp, e));
    }
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        UserDbError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn run(content: &str, name: &str, edit: Edit<'_>) -> Option<String> {
        apply(content.as_bytes(), name.as_bytes(), edit).map(|b| String::from_utf8(b).unwrap())
    }

    const FILE: &str =
        "# comment\n\nnotab\nalice\tuid=1|home=/h|systempw=x\nbob\tuid=2\nalice\tuid=9";

    /// (file, name, verb, fields, expected file or None for "nothing written")
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
        Option<&'static str>,
    );

    const CASES: &[Case] = &[
        (
            "",
            "a",
            "set",
            &["uid=1", "home=/h"],
            Some("a\tuid=1|home=/h\n"),
        ),
        ("", "a", "set", &[], Some("a\n")),
        ("", "a", "set", &["x=1", "x=2"], Some("a\tx=2\n")),
        (
            "b\tuid=2",
            "a",
            "set",
            &["uid=1"],
            Some("b\tuid=2\na\tuid=1\n"),
        ),
        (
            FILE,
            "alice",
            "set",
            &["home=/new", "gid=5"],
            Some(
                "# comment\n\nnotab\nalice\tuid=1|home=/new|systempw=x|gid=5\nbob\tuid=2\nalice\tuid=9",
            ),
        ),
        (
            FILE,
            "alice",
            "unset",
            &["home", "systempw"],
            Some("# comment\n\nnotab\nalice\tuid=1\nbob\tuid=2\nalice\tuid=9"),
        ),
        (
            FILE,
            "alice",
            "unset",
            &["uid", "home", "systempw"],
            Some("# comment\n\nnotab\nalice\nbob\tuid=2\nalice\tuid=9"),
        ),
        (
            FILE,
            "alice",
            "unset",
            &["home=/h"],
            Some("# comment\n\nnotab\nalice\tuid=1|home=/h|systempw=x\nbob\tuid=2\nalice\tuid=9"),
        ),
        (FILE, "alice", "unset", &[], None),
        (
            FILE,
            "alice",
            "del",
            &[],
            Some("# comment\n\nnotab\nbob\tuid=2\nalice\tuid=9"),
        ),
        (FILE, "nobody", "del", &[], None),
        (FILE, "nobody", "unset", &["x"], None),
        (
            FILE,
            "notab",
            "set",
            &["uid=3"],
            Some(
                "# comment\n\nnotab\tuid=3\nalice\tuid=1|home=/h|systempw=x\nbob\tuid=2\nalice\tuid=9",
            ),
        ),
        ("a\tx|y=|x=2||z\n", "a", "set", &[], Some("a\tx=2|y=||z\n")),
        ("a\tuid=1\n\tuid=2\n", "", "del", &[], None),
        ("#a\tuid=1\n", "#a", "del", &[], Some("")),
    ];

    #[test]
    fn edits_follow_the_userdb_script() {
        for (file, name, verb, fields, want) in CASES {
            let f = v(fields);
            let edit = match *verb {
                "set" => Edit::Set(&f),
                "unset" => Edit::Unset(&f),
                _ => Edit::Del,
            };
            assert_eq!(
                run(file, name, edit).as_deref(),
                *want,
                "{verb} {name} {fields:?} on {file:?}"
            );
        }
    }

    #[test]
    fn show_lists_names_or_one_record() {
        let s = |name: Option<&str>| {
            String::from_utf8(show(FILE.as_bytes(), name.map(str::as_bytes))).unwrap()
        };
        assert_eq!(s(None), "notab\nalice\nbob\nalice\n");
        assert_eq!(s(Some("alice")), "uid=1\nhome=/h\nsystempw=x\n");
        assert_eq!(s(Some("notab")), "\n");
        assert_eq!(s(Some("nobody")), "");
        assert_eq!(s(Some("")), "");
    }

    #[test]
    fn side_files_sit_beside_the_target() {
        assert_eq!(
            side_files(Path::new("/etc/courier/userdb")),
            (
                PathBuf::from("/etc/courier/.tmp.userdb"),
                PathBuf::from("/etc/courier/.lock.userdb")
            )
        );
        assert_eq!(
            side_files(Path::new("f")),
            (PathBuf::from(".tmp.f"), PathBuf::from(".lock.f"))
        );
    }

    #[test]
    fn relative_links_are_followed_inside_the_link_as_courier_does() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir(d.join("dir")).unwrap();
        std::os::unix::fs::symlink("dir", d.join("lnk")).unwrap();
        std::os::unix::fs::symlink(d.join("dir/f"), d.join("abs")).unwrap();
        let (p, e) = follow_links(&d.join("lnk"));
        assert_eq!(p, d.join("lnk/dir"));
        assert_eq!(e.raw_os_error(), Some(nix::libc::ENOENT));
        let (p, _) = follow_links(&d.join("abs"));
        assert_eq!(p, d.join("dir/f"));
        let (p, e) = follow_links(&d.join("dir"));
        assert_eq!(p, d.join("dir"));
        assert_eq!(e.raw_os_error(), Some(nix::libc::EINVAL));
    }

    #[test]
    fn replace_file_keeps_the_old_mode_and_new_files_are_private() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("userdb");
        let (tmp, _) = side_files(&p);
        replace_file(&p, &tmp, b"a\tuid=1\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&p, &tmp, b"a\tuid=2\n").unwrap();
        assert_eq!(mode(&p), 0o640);
        assert_eq!(std::fs::read(&p).unwrap(), b"a\tuid=2\n");
        assert!(!tmp.exists());
    }
}
