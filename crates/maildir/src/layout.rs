//! Maildir and maildir++ folder layout: which directories make a maildir, how IMAP
//! folder names map to `.Folder.Sub` directories, and the exact modes Courier creates
//! them with (formats.md §1, §2).

use crate::error::{IoContext, MaildirError, Result};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Name of the marker file that makes a directory a maildir++ folder.
pub const MAILDIRFOLDER: &str = "maildirfolder";

/// The compile-time Trash folder name Courier's quota code skips (formats.md §4.3).
pub const TRASH: &str = "Trash";

/// Whether `dir` has `tmp/`, `new/` and `cur/`.
pub fn is_maildir(dir: &Path) -> bool {
    ["tmp", "new", "cur"].iter().all(|d| dir.join(d).is_dir())
}

/// Fails with [`MaildirError::NotAMaildir`] (or the I/O error on `dir` itself) unless
/// `dir` is a maildir.
pub fn check_maildir(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).at(dir)?;
    if !meta.is_dir() {
        return Err(MaildirError::io(
            dir,
            io::Error::from_raw_os_error(libc_enotdir()),
        ));
    }
    if is_maildir(dir) {
        Ok(())
    } else {
        Err(MaildirError::NotAMaildir {
            path: dir.to_path_buf(),
        })
    }
}

fn libc_enotdir() -> i32 {
    nix::errno::Errno::ENOTDIR as i32
}

/// Whether `dir` is a maildir++ folder (has a `maildirfolder` file).
pub fn is_folder(dir: &Path) -> bool {
    dir.join(MAILDIRFOLDER).exists()
}

/// The main maildir a directory belongs to: its parent when it is a folder, itself
/// otherwise. `maildirsize`, `quotawarn`, `courierimapsubscribed` live there.
pub fn main_maildir(dir: &Path) -> PathBuf {
    if is_folder(dir) {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => dir.join(".."),
        }
    } else {
        dir.to_path_buf()
    }
}

/// Checks a folder name in Courier's internal form without the `INBOX.` prefix
/// (`Work.Sub`): no empty component, no `/`, no NUL or other control character, and
/// not starting with a dot. Returns the directory name (`.Work.Sub`).
pub fn folder_dir_name(name: &str) -> Result<String> {
    let bad = || MaildirError::InvalidFolderName {
        name: name.to_string(),
    };
    if name.is_empty()
        || name.split('.').any(str::is_empty)
        || name.contains('/')
        || name.chars().any(|c| c.is_control())
    {
        return Err(bad());
    }
    Ok(format!(".{name}"))
}

/// The directory of folder `name` (internal form, no `INBOX.` prefix) in `maildir`.
pub fn folder_path(maildir: &Path, name: &str) -> Result<PathBuf> {
    Ok(maildir.join(folder_dir_name(name)?))
}

/// Maps an IMAP-style name (`INBOX`, `INBOX.Work.Sub`, case-insensitive `INBOX`) to
/// the folder's directory. `None` for names outside the personal namespace.
pub fn imap_folder_path(maildir: &Path, imap_name: &str) -> Result<Option<PathBuf>> {
    if imap_name.eq_ignore_ascii_case("INBOX") {
        return Ok(Some(maildir.to_path_buf()));
    }
    match imap_name.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("INBOX.") => {
            folder_path(maildir, &imap_name[6..]).map(Some)
        }
        _ => Ok(None),
    }
}

/// How a maildir or folder is to be created, mirroring maildirmake's options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Default: private (0700).
    Private,
    /// `-S`: a sharable maildir (0755, subdirectories 0700).
    SharableMaildir,
    /// `-s read[,group]`.
    Read {
        /// `group`: no access for others.
        group: bool,
    },
    /// `-s write[,group]`.
    Write {
        /// `group`: no access for others.
        group: bool,
    },
}

impl Sharing {
    /// `(directory mode, tmp/new/cur mode)` per formats.md §1: requested mode P, the
    /// directory gets `P & !022`, subdirectories get P for folders and 0700 for a main
    /// maildir.
    pub fn modes(self, folder: bool) -> (u32, u32) {
        let p = match self {
            Sharing::Private => 0o700,
            Sharing::SharableMaildir => 0o755,
            Sharing::Read { group: false } => 0o755,
            Sharing::Read { group: true } => 0o750,
            Sharing::Write { group: false } => 0o1777,
            Sharing::Write { group: true } => 0o1770,
        };
        (p & !0o022, if folder { p } else { 0o700 })
    }
}

fn mkdir_exact(path: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .mode(mode & 0o777)
        .create(path)
        .at(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).at(path)
}

/// Creates a maildir (or, with `folder`, a maildir++ folder with its `maildirfolder`
/// file) exactly as maildirmake does: the directory, then `tmp`, `new`, `cur`, with
/// explicit modes independent of the umask. Fails if `path` exists; does not create
/// parents.
pub fn create(path: &Path, sharing: Sharing, folder: bool) -> Result<()> {
    let (dir_mode, sub_mode) = sharing.modes(folder);
    mkdir_exact(path, dir_mode)?;
    for sub in ["tmp", "new", "cur"] {
        mkdir_exact(&path.join(sub), sub_mode)?;
    }
    if folder {
        let marker = path.join(MAILDIRFOLDER);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .at(&marker)?;
        fs::set_permissions(&marker, fs::Permissions::from_mode(0o600)).at(&marker)?;
    }
    Ok(())
}

/// Creates a missing maildir and its parents like `deliverquota -c` (each 0700 under
/// the umask), then `cur`, `new` and last `tmp`, whose existence marks the maildir as
/// complete. Existing parts are left alone.
pub fn create_all(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .at(path)?;
    for sub in ["cur", "new", "tmp"] {
        let p = path.join(sub);
        match fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(MaildirError::io(&p, e)),
        }
    }
    Ok(())
}

/// Creates folder `name` (internal form) under `maildir` the way IMAP CREATE does:
/// 0700 directories under the process umask and an empty 0600 `maildirfolder`.
pub fn create_folder(maildir: &Path, name: &str) -> Result<PathBuf> {
    let path = folder_path(maildir, name)?;
    fs::DirBuilder::new().mode(0o700).create(&path).at(&path)?;
    for sub in ["tmp", "new", "cur"] {
        let p = path.join(sub);
        fs::DirBuilder::new().mode(0o700).create(&p).at(&p)?;
    }
    let marker = path.join(MAILDIRFOLDER);
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&marker)
        .at(&marker)?;
    fs::set_permissions(&marker, fs::Permissions::from_mode(0o600)).at(&marker)?;
    Ok(path)
}

/// The folders of a maildir (internal names without the leading dot, e.g.
/// `Work.Sub`), sorted. Symlinked entries are included only if `follow_links`.
pub fn list_folders(maildir: &Path, follow_links: bool) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(maildir).at(maildir)? {
        let entry = entry.at(maildir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() < 2 || !name.starts_with('.') || name == ".." {
            continue;
        }
        let ft = entry.file_type().at(entry.path())?;
        let is_dir = if ft.is_symlink() {
            follow_links && entry.path().is_dir()
        } else {
            ft.is_dir()
        };
        if is_dir && folder_dir_name(&name[1..]).is_ok() {
            out.push(name[1..].to_string());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn folder_names_are_validated() {
        assert_eq!(folder_dir_name("Work.Sub").unwrap(), ".Work.Sub");
        assert_eq!(folder_dir_name("x~y:z").unwrap(), ".x~y:z");
        for bad in ["", ".a", "a.", "a..b", "a/b", "a\0b", "a\nb"] {
            assert!(folder_dir_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn imap_names_map_to_directories() {
        let m = Path::new("/m");
        assert_eq!(
            imap_folder_path(m, "inbox").unwrap(),
            Some(PathBuf::from("/m"))
        );
        assert_eq!(
            imap_folder_path(m, "INBOX.A.B").unwrap(),
            Some(PathBuf::from("/m/.A.B"))
        );
        assert_eq!(imap_folder_path(m, "Other").unwrap(), None);
        assert!(imap_folder_path(m, "INBOX.").is_err());
    }

    #[test]
    fn create_uses_courier_modes() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        create(&m, Sharing::Private, false).unwrap();
        assert_eq!(mode(&m), 0o700);
        assert_eq!(mode(&m.join("cur")), 0o700);
        assert!(
            create(&m, Sharing::Private, false).is_err(),
            "existing maildir must fail"
        );

        let w = m.join(".Pub");
        create(&w, Sharing::Write { group: false }, true).unwrap();
        assert_eq!(mode(&w), 0o1755);
        assert_eq!(mode(&w.join("tmp")), 0o1777);
        assert_eq!(mode(&w.join(MAILDIRFOLDER)), 0o600);
        let g = m.join(".G");
        create(&g, Sharing::Read { group: true }, true).unwrap();
        assert_eq!(mode(&g), 0o750);
        assert_eq!(mode(&g.join("new")), 0o750);
        let s = t.path().join("S");
        create(&s, Sharing::SharableMaildir, false).unwrap();
        assert_eq!((mode(&s), mode(&s.join("new"))), (0o755, 0o700));
        assert_eq!(list_folders(&m, false).unwrap(), vec!["G", "Pub"]);
        assert_eq!(main_maildir(&w), m);
        assert_eq!(main_maildir(&m), m);
    }

    #[test]
    fn create_all_makes_parents_and_is_idempotent() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("a/b/Maildir");
        create_all(&m).unwrap();
        create_all(&m).unwrap();
        assert!(is_maildir(&m));
        assert!(check_maildir(&m).is_ok());
        assert!(matches!(
            check_maildir(&t.path().join("a")),
            Err(MaildirError::NotAMaildir { .. })
        ));
    }
}
