//! makeuserdb's core: the text source becomes `userdb.dat` + `userdbshadow.dat`
//! (authdaemon-protocol.md §6.2).

use crate::dat;
use crate::error::UserDbError;
use crate::source::{self, LineKind};
use nix::fcntl::{Flock, FlockArg};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What one compilation stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileStats {
    /// Source files read.
    pub files: usize,
    /// Records written to the main database (accounts, reverse-map entries, bare lines).
    pub records: usize,
    /// Of those, reverse uid map entries (`<uid>=`).
    pub reverse_entries: usize,
    /// Of those, lines without a TAB stored as `name` → `1` (as Courier does).
    pub bare_lines: usize,
    /// Records written to the shadow database.
    pub shadow_records: usize,
    /// Where a `.` line ended the input (Courier's makedatprog stops there silently).
    pub ended_at: Option<(PathBuf, usize)>,
}

/// True for the items makeuserdb puts in the shadow file: Perl's `/^[^=]*pw=/`, i.e. the
/// field name (up to the first `=`) ends in `pw` and a `=` follows.
pub fn is_shadow_item(item: &str) -> bool {
    item.find('=').is_some_and(|eq| item[..eq].ends_with("pw"))
}

/// The temporary name a database is written under before the rename: Courier's
/// `userdb.tmp` / `userdbshadow.tmp` for `userdb.dat` / `userdbshadow.dat`, otherwise the
/// name with `.tmp` appended.
pub fn tmp_name(db: &Path) -> PathBuf {
    let s = db.as_os_str().to_string_lossy();
    match s.strip_suffix(".dat") {
        Some(stem) => PathBuf::from(format!("{stem}.tmp")),
        None => PathBuf::from(format!("{s}.tmp")),
    }
}

/// makeuserdb's checks before it locks anything, in Courier's order: the source
/// ([`source::check_source`]), then neither database may be a symbolic link.
pub fn check_paths(source: &Path, dat: &Path, shadow: &Path) -> Result<(), UserDbError> {
    source::check_source(source)?;
    for db in [dat, shadow] {
        match std::fs::symlink_metadata(db) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(UserDbError::Symlink {
                    path: db.to_path_buf(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(UserDbError::io(db, e)),
        }
    }
    Ok(())
}

/// An exclusive `flock` held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: Flock<File>,
}

/// Takes makeuserdb's lock: `flock(LOCK_EX)` on `path` (Courier: `/etc/courier/userdb.lock`,
/// i.e. the source path plus `.lock`), creating it 0644, waiting for another holder.
pub fn lock(path: &Path) -> Result<Lock, UserDbError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| UserDbError::io(path, e))?;
    let file = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| UserDbError::io(path, io::Error::from(errno)))?;
    Ok(Lock { _file: file })
}

/// Compiles `source` (file or directory tree) into `dat` (mode 0644) and `shadow`
/// (mode 0600). Both are written under their [`tmp_name`] first and renamed only when
/// both are complete, shadow first, so a reader never sees an account without its
/// passwords and a failed run (duplicate name, full disk) leaves the old pair in place.
/// The caller holds the [`lock`].
pub fn compile(source: &Path, dat: &Path, shadow: &Path) -> Result<CompileStats, UserDbError> {
    check_paths(source, dat, shadow)?;
    let lines = source::read_source(source)?;
    let mut stats = CompileStats::default();
    let mut dat_entries: Vec<(String, String)> = Vec::new();
    let mut shadow_entries: Vec<(String, String)> = Vec::new();
    let mut first_seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    let mut last_file: Option<&Path> = None;
    for line in &lines {
        if last_file != Some(line.file.as_path()) {
            stats.files += 1;
            last_file = Some(&line.file);
        }
        let (name, dat_value, shadow_value) = match &line.kind {
            LineKind::Ignored => continue,
            LineKind::End => {
                stats.ended_at = Some((line.file.clone(), line.line));
                break;
            }
            // makedatprog ignores an empty key.
            LineKind::Account { name, .. } if name.is_empty() => continue,
            LineKind::Account { name, .. } => {
                let mut plain = Vec::new();
                let mut secret = Vec::new();
                for item in line.items() {
                    if is_shadow_item(item) {
                        secret.push(item);
                    } else {
                        plain.push(item);
                    }
                }
                let location = format!("_={}", line.location);
                plain.push(&location);
                let secret = (!secret.is_empty()).then(|| secret.join("|"));
                if name.contains('=') {
                    stats.reverse_entries += 1;
                }
                (name.clone(), plain.join("|"), secret)
            }
            LineKind::Bare(name) => {
                stats.bare_lines += 1;
                (name.clone(), "1".to_string(), Some("1".to_string()))
            }
        };
        if let Some((first_path, first_line)) = first_seen.get(&name) {
            return Err(UserDbError::Duplicate {
                name,
                path: line.file.clone(),
                line: line.line,
                first_path: first_path.clone(),
                first_line: *first_line,
            });
        }
        first_seen.insert(name.clone(), (line.file.clone(), line.line));
        if let Some(secret) = shadow_value {
            shadow_entries.push((name.clone(), secret));
        }
        dat_entries.push((name, dat_value));
    }
    stats.records = dat_entries.len();
    stats.shadow_records = shadow_entries.len();

    let dat_refs = as_refs(&dat_entries);
    let shadow_refs = as_refs(&shadow_entries);

    let dat_tmp = tmp_name(dat);
    let shadow_tmp = tmp_name(shadow);
    dat::write_file(&dat_tmp, 0o644, &dat_refs)?;
    if let Err(e) = dat::write_file(&shadow_tmp, 0o600, &shadow_refs) {
        let _ = std::fs::remove_file(&dat_tmp);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&shadow_tmp, shadow) {
        let _ = std::fs::remove_file(&dat_tmp);
        let _ = std::fs::remove_file(&shadow_tmp);
        return Err(UserDbError::io(shadow, e));
    }
    std::fs::rename(&dat_tmp, dat).map_err(|e| {
        let _ = std::fs::remove_file(&dat_tmp);
        UserDbError::io(dat, e)
    })?;
    sync_parent(dat);
    if shadow.parent() != dat.parent() {
        sync_parent(shadow);
    }
    Ok(stats)
}

fn as_refs(v: &[(String, String)]) -> Vec<(&[u8], &[u8])> {
    v.iter()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect()
}

/// Makes a rename durable. Best effort: the rename has already happened, and a directory
/// that cannot be opened or synced changes nothing for readers.
fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (item, goes to the shadow file)
    const SHADOW_CASES: &[(&str, bool)] = &[
        ("systempw=$1$x", true),
        ("imappw=x", true),
        ("hmac-md5pw=ab", true),
        ("imap-hmac-sha1pw=ab", true),
        ("pw=", true),
        ("zpw=q=r", true),
        ("systempw", false),
        ("uid=1", false),
        ("x=pw=1", false),
        ("pwd=1", false),
        ("gecos=my pw=x", false),
    ];

    #[test]
    fn shadow_items_match_courier_regex() {
        for (item, want) in SHADOW_CASES {
            assert_eq!(is_shadow_item(item), *want, "{item:?}");
        }
    }

    #[test]
    fn tmp_names_are_courier_s() {
        assert_eq!(
            tmp_name(Path::new("/etc/courier/userdb.dat")),
            Path::new("/etc/courier/userdb.tmp")
        );
        assert_eq!(
            tmp_name(Path::new("/etc/courier/userdbshadow.dat")),
            Path::new("/etc/courier/userdbshadow.tmp")
        );
        assert_eq!(tmp_name(Path::new("x.db")), Path::new("x.db.tmp"));
    }
}
