//! The text source: one file or a directory tree of files (authdaemon-protocol.md §6.1),
//! read the way Courier's makeuserdb reads it.

use crate::error::UserDbError;
use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Courier's makeuserdb computes a file's `_=` location by cutting this many bytes (the
/// length of `/etc/courier/userdb`) off the file name, whatever the source path is
/// (`makeuserdb` script, `do_file`).
const LOCATION_CUT: usize = "/etc/courier/userdb".len();

/// One line of the source, classified as makeuserdb classifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    /// The file the line came from (the source path, or a file under it).
    pub file: PathBuf,
    /// 1-based line number in that file.
    pub line: usize,
    /// The value makeuserdb appends as `_=`: the file's place under the source directory
    /// with a trailing `/` (`sub/fileB/`), or empty for a single-file source.
    pub location: String,
    /// What the line is.
    pub kind: LineKind,
}

/// The kinds of source line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineKind {
    /// `name<TAB>fields`: an account, or a reverse-map entry when the name is `<uid>=`.
    /// `fields` is everything after the first TAB.
    Account {
        /// The text before the first TAB (may be empty: then the line stores nothing).
        name: String,
        /// The text after the first TAB.
        fields: String,
    },
    /// A non-comment line without a TAB: Courier's makedatprog stores it as a key with the
    /// value `1` in both databases.
    Bare(String),
    /// A comment (`#...`) or an empty line.
    Ignored,
    /// A line that is exactly `.`: it ends Courier's makedatprog input, so this line and
    /// everything after it (in every later file too) is not stored.
    End,
}

impl SourceLine {
    /// The items of an account line as Perl's `split(/\|/, ...)` gives them: trailing empty
    /// items dropped, inner ones kept. Empty for other kinds.
    pub fn items(&self) -> Vec<&str> {
        match &self.kind {
            LineKind::Account { fields, .. } => {
                let mut v: Vec<&str> = fields.split('|').collect();
                while v.last() == Some(&"") {
                    v.pop();
                }
                v
            }
            _ => Vec::new(),
        }
    }
}

/// Classifies one line (without its `\n`) as makeuserdb's `/^[\n#]/ || ! /^([^\t]*)\t(.*)/`
/// and makedatprog's `.` terminator do.
pub fn classify(line: &str) -> LineKind {
    if line.is_empty() || line.starts_with('#') {
        return LineKind::Ignored;
    }
    match line.split_once('\t') {
        Some((name, fields)) => LineKind::Account {
            name: name.to_string(),
            fields: fields.to_string(),
        },
        None if line == "." => LineKind::End,
        None => LineKind::Bare(line.to_string()),
    }
}

/// The `_=` location makeuserdb records for a source file: the file name minus as many
/// bytes as `/etc/courier/userdb` has, without leading and trailing `/`, plus a `/` when not
/// empty. Under the default path that is the file's place in the tree (`sub/f2/`, or empty
/// for a single file); Courier applies the same cut to any `-f` path, which gives odd but
/// harmless values (`er/userdb/`), and so do we.
pub fn location_of(file: &Path) -> String {
    let s = file.to_string_lossy();
    let rest = s.get(LOCATION_CUT..).unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        String::new()
    } else {
        format!("{rest}/")
    }
}

/// makeuserdb's checks on the source, in Courier's order: it must exist (stat follows
/// links), have no group/world permission bits, and not itself be a symbolic link.
pub fn check_source(source: &Path) -> Result<(), UserDbError> {
    let meta = std::fs::metadata(source).map_err(|e| UserDbError::SourceNotFound {
        path: source.to_path_buf(),
        source: e,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(UserDbError::GroupOrWorldPermissions {
            path: source.to_path_buf(),
        });
    }
    let lmeta = std::fs::symlink_metadata(source).map_err(|e| UserDbError::io(source, e))?;
    if lmeta.file_type().is_symlink() {
        return Err(UserDbError::Symlink {
            path: source.to_path_buf(),
        });
    }
    Ok(())
}

/// The files of a source, in reading order: the source itself, or for a directory every
/// file under it whose name does not start with `.`, breadth first as makeuserdb's walk
/// (sorted by name inside a directory, where Courier uses readdir order). Links are
/// followed, as Courier's `-d` test does; a directory reached twice is read once.
pub fn source_files(source: &Path) -> Result<Vec<PathBuf>, UserDbError> {
    let meta = std::fs::metadata(source).map_err(|e| UserDbError::io(source, e))?;
    if !meta.is_dir() {
        return Ok(vec![source.to_path_buf()]);
    }
    let mut seen = HashSet::new();
    seen.insert((meta.dev(), meta.ino()));
    let mut dirs = std::collections::VecDeque::from([source.to_path_buf()]);
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop_front() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| UserDbError::io(&dir, e))? {
            let entry = entry.map_err(|e| UserDbError::io(&dir, e))?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            // Courier builds "$dir/$filename" by string concatenation.
            let path = PathBuf::from(format!("{}/{}", dir.display(), name.to_string_lossy()));
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    if seen.insert((m.dev(), m.ino())) {
                        dirs.push_back(path);
                    }
                }
                _ => files.push(path),
            }
        }
    }
    Ok(files)
}

/// Splits file content into lines without their `\n`, decoding each as UTF-8 (invalid
/// bytes become U+FFFD: the format is byte-oriented but the API is text).
fn lines_of(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut it = body.split(|&b| b == b'\n');
    let empty = bytes.is_empty();
    std::iter::from_fn(move || if empty { None } else { it.next() })
        .map(|l| String::from_utf8_lossy(l).into_owned())
}

/// Reads one source file into classified lines.
pub fn read_file(file: &Path) -> Result<Vec<SourceLine>, UserDbError> {
    let meta = std::fs::metadata(file).map_err(|e| UserDbError::io(file, e))?;
    if !meta.is_file() {
        return Err(UserDbError::NotRegular {
            path: file.to_path_buf(),
        });
    }
    let bytes = std::fs::read(file).map_err(|e| UserDbError::io(file, e))?;
    let location = location_of(file);
    Ok(lines_of(&bytes)
        .enumerate()
        .map(|(i, text)| SourceLine {
            file: file.to_path_buf(),
            line: i + 1,
            location: location.clone(),
            kind: classify(&text),
        })
        .collect())
}

/// Parses the text source (file or directory tree), after the permission and symlink
/// checks of §6.1 ([`check_source`]). Lines after a `.` line are dropped, as Courier's
/// makedatprog stops there.
pub fn read_source(source: &Path) -> Result<Vec<SourceLine>, UserDbError> {
    check_source(source)?;
    let mut out = Vec::new();
    for file in source_files(source)? {
        for line in read_file(&file)? {
            let end = line.kind == LineKind::End;
            out.push(line);
            if end {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn acct(name: &str, fields: &str) -> LineKind {
        LineKind::Account {
            name: name.into(),
            fields: fields.into(),
        }
    }

    #[test]
    fn lines_are_classified_like_makeuserdb() {
        let cases: Vec<(&str, LineKind)> = vec![
            ("alice\tuid=1|gid=2", acct("alice", "uid=1|gid=2")),
            ("5000=\talice", acct("5000=", "alice")),
            ("bob\t", acct("bob", "")),
            ("\tuid=1", acct("", "uid=1")),
            ("a\tb\tc", acct("a", "b\tc")),
            ("# comment\twith tab", LineKind::Ignored),
            ("", LineKind::Ignored),
            ("notab", LineKind::Bare("notab".into())),
            (" ", LineKind::Bare(" ".into())),
            (".", LineKind::End),
            (".\tx", acct(".", "x")),
            ("..", LineKind::Bare("..".into())),
        ];
        for (line, want) in cases {
            assert_eq!(classify(line), want, "{line:?}");
        }
    }

    #[test]
    fn items_drop_trailing_empties_like_perl_split() {
        let l = |f: &str| SourceLine {
            file: PathBuf::new(),
            line: 1,
            location: String::new(),
            kind: acct("n", f),
        };
        assert_eq!(l("a=1||b=2|||").items(), ["a=1", "", "b=2"]);
        assert_eq!(l("").items(), Vec::<&str>::new());
        assert_eq!(l("|a").items(), ["", "a"]);
    }

    #[test]
    fn location_cuts_the_length_of_the_default_path() {
        for (file, want) in [
            ("/etc/courier/userdb", ""),
            ("/etc/courier/userdb/f1", "f1/"),
            ("/etc/courier/userdb/sub/f2", "sub/f2/"),
            ("x/userdb/f1", ""),
            ("/srv/mail/userdb.d/sub/f", "sub/f/"),
            ("/srv/mail/userdb/sub/f", "b/f/"),
        ] {
            assert_eq!(location_of(Path::new(file)), want, "{file}");
        }
    }

    #[test]
    fn lines_keep_a_missing_final_newline_and_empty_files_have_none() {
        assert_eq!(lines_of(b"a\nb").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(lines_of(b"a\n\n").collect::<Vec<_>>(), ["a", ""]);
        assert_eq!(lines_of(b"").count(), 0);
        assert_eq!(lines_of(b"\n").collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn source_checks_refuse_group_bits_and_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("userdb");
        fs::write(&src, "a\tuid=1\n").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_source(&src).unwrap_err();
        assert!(
            matches!(e, UserDbError::GroupOrWorldPermissions { .. }),
            "{e}"
        );
        fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&src, &link).unwrap();
        assert!(matches!(
            read_source(&link),
            Err(UserDbError::Symlink { .. })
        ));
        let e = read_source(&t.path().join("none")).unwrap_err();
        assert!(e.is_missing());
        assert!(e.to_string().ends_with("none: not found."), "{e}");
        assert_eq!(read_source(&src).unwrap().len(), 1);
    }

    #[test]
    fn directory_tree_skips_dot_names_and_reads_breadth_first() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("userdb");
        fs::create_dir_all(src.join("sub/deeper")).unwrap();
        fs::create_dir_all(src.join(".hidden")).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(src.join("b"), "b\tuid=2\n").unwrap();
        fs::write(src.join("a"), "a\tuid=1\n").unwrap();
        fs::write(src.join(".x"), "x\tuid=9\n").unwrap();
        fs::write(src.join(".hidden/y"), "y\tuid=9\n").unwrap();
        fs::write(src.join("sub/c"), "c\tuid=3\n").unwrap();
        fs::write(src.join("sub/deeper/d"), "d\tuid=4\n").unwrap();
        // A link back up the tree is followed once, not forever.
        std::os::unix::fs::symlink(&src, src.join("sub/loop")).unwrap();
        let files = source_files(&src).unwrap();
        let rel: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
            .collect();
        assert_eq!(rel, ["a", "b", "sub/c", "sub/deeper/d"]);
        let lines = read_source(&src).unwrap();
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn dot_line_ends_the_source_even_across_files() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("userdb");
        fs::create_dir(&src).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(src.join("a"), "a\tuid=1\n.\nb\tuid=2\n").unwrap();
        fs::write(src.join("c"), "c\tuid=3\n").unwrap();
        let lines = read_source(&src).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].kind, LineKind::End);
    }

    #[test]
    fn fifo_in_the_tree_is_refused_not_read() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("userdb");
        fs::create_dir(&src).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::mkfifo(&src.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            read_source(&src),
            Err(UserDbError::NotRegular { .. })
        ));
    }
}
