//! Writing files into a maildir the only safe way: into `tmp/` first, then `link()`
//! (or `rename()`) into `new/` or `cur/`, so a reader never sees a half-written
//! message and a crash at any point loses nothing that was acknowledged
//! (formats.md §3.2). Also the housekeeping that goes with it: stale `tmp/` cleanup
//! (§3.6) and the `new/` → `cur/` move (§3.5).

use crate::error::{IoContext, MaildirError, Result};
use crate::name::{self, Flags, UniqueName};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Messages are created `0666 & ~umask`, control files `0644 & ~umask` (formats.md §1).
pub const MESSAGE_MODE: u32 = 0o666;
/// Mode of Courier's control files (`courierimapuiddb`, `maildirsize`, ...).
pub const CONTROL_MODE: u32 = 0o644;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A per-process counter for `_UNIQ` parts (Courier uses `0`, `1`, ... for APPEND).
pub fn next_uniq() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A file being written in a folder's `tmp/`. Dropping it without committing removes
/// it, so a failed delivery (ENOSPC, a reader error) leaves nothing behind.
#[derive(Debug)]
pub struct TmpFile {
    file: File,
    folder: PathBuf,
    path: PathBuf,
    name: UniqueName,
    dev: u64,
    ino: u64,
    written: u64,
    done: bool,
}

impl TmpFile {
    /// Creates `folder/tmp/<unique name>` with `mode` (under the umask). `size`, when
    /// known up front, goes into the tmp name as `,S=`.
    pub fn create(folder: &Path, uniq: Option<&str>, size: Option<u64>, mode: u32) -> Result<Self> {
        let tmpdir = folder.join("tmp");
        let mut attempts = 0u32;
        loop {
            let name = UniqueName::now(uniq, size);
            let path = tmpdir.join(name.tmp_name());
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&path);
            match opened {
                Ok(file) => {
                    // Courier's check: the descriptor and the path must be the same
                    // file, which defeats a symlink or rename race in tmp/.
                    let fmeta = file.metadata().at(&path)?;
                    let lmeta = fs::symlink_metadata(&path).at(&path)?;
                    if fmeta.dev() != lmeta.dev() || fmeta.ino() != lmeta.ino() {
                        return Err(MaildirError::io(
                            &path,
                            io::Error::other("tmp file replaced while opening"),
                        ));
                    }
                    return Ok(TmpFile {
                        file,
                        folder: folder.to_path_buf(),
                        path,
                        name,
                        dev: fmeta.dev(),
                        ino: fmeta.ino(),
                        written: 0,
                        done: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 2000 => {
                    // Same second, microsecond and pid: wait for the clock to move.
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(MaildirError::io(&path, e)),
            }
        }
    }

    /// The tmp path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.written
    }

    /// The open file (for callers that need to read it back or set times).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Appends `buf`.
    pub fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        self.file.write_all(buf).at(&self.path)?;
        self.written += buf.len() as u64;
        Ok(())
    }

    /// Streams `reader` into the file in constant memory; returns the bytes copied.
    /// Errors reading `reader` are reported against `source_name`.
    pub fn copy_from(&mut self, reader: &mut dyn Read, source_name: &str) -> Result<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(MaildirError::io(source_name, e)),
            };
            self.write_all(&buf[..n])?;
            total += n as u64;
        }
        Ok(total)
    }

    fn final_name(&self) -> String {
        self.name.final_name(self.dev, self.ino, Some(self.written))
    }

    /// fdatasync: flushes the data and the size, which is all a reader needs; the
    /// directory entry is made durable by [`sync_dir`] after the link.
    fn sync(&self) -> Result<()> {
        self.file.sync_data().at(&self.path)
    }

    fn place(&mut self, target: &Path) -> Result<()> {
        match fs::hard_link(&self.path, target) {
            Ok(()) => {
                // The message is safe under its final name; the tmp link is garbage.
                let _ = fs::remove_file(&self.path);
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
                fs::rename(&self.path, target).at(target)?;
            }
            Err(e) => return Err(MaildirError::io(target, e)),
        }
        self.done = true;
        if let Some(dir) = target.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// fsyncs the file and links it into `new/` under its final name (with `,S=`).
    /// Returns the new path.
    pub fn commit_new(mut self) -> Result<PathBuf> {
        self.sync()?;
        let target = self.folder.join("new").join(self.final_name());
        self.place(&target)?;
        Ok(target)
    }

    /// fsyncs the file, sets its mtime (the IMAP INTERNALDATE) if given, and links it
    /// straight into `cur/` with `flags`, as IMAP APPEND and COPY do. Returns the path.
    pub fn commit_cur(mut self, flags: &Flags, mtime: Option<SystemTime>) -> Result<PathBuf> {
        if let Some(t) = mtime {
            self.file.set_modified(t).at(&self.path)?;
        }
        self.sync()?;
        let target = self
            .folder
            .join("cur")
            .join(flags.file_name(&self.final_name()));
        self.place(&target)?;
        Ok(target)
    }

    /// Renames the file over `target` durably: the data is synced first and the
    /// target's directory after, so a crash leaves either the old or the new file
    /// (control files whose loss matters: uiddb, maildirsize, ACLs, subscriptions).
    pub fn rename_to(mut self, target: &Path) -> Result<()> {
        self.sync()?;
        fs::rename(&self.path, target).at(target)?;
        self.done = true;
        match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
            _ => Ok(()),
        }
    }

    /// Renames the file over `target` without syncing anything. For high-volume,
    /// recoverable state such as per-message keyword updates, which Courier does
    /// not sync either: a crash may lose the newest update, never corrupt a file.
    pub fn rename_to_unsynced(mut self, target: &Path) -> Result<()> {
        fs::rename(&self.path, target).at(target)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// fsyncs a directory so that a link or rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Atomically replaces `target` with `data`, writing through `folder/tmp/` with
/// `_<uniq>` in the tmp name and [`CONTROL_MODE`].
pub fn write_control_file(folder: &Path, uniq: &str, target: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = TmpFile::create(folder, Some(uniq), None, CONTROL_MODE)?;
    tmp.write_all(data)?;
    tmp.rename_to(target)
}

/// Deletes entries of `folder/tmp/` not starting with `.` whose ctime (libmaildir)
/// is older than `max_age`. Returns how many were removed. Vanished entries are
/// ignored.
pub fn clean_tmp(folder: &Path, max_age: Duration) -> Result<usize> {
    clean_tmp_at(folder, max_age, SystemTime::now())
}

fn clean_tmp_at(folder: &Path, max_age: Duration, now: SystemTime) -> Result<usize> {
    let tmpdir = folder.join("tmp");
    let cutoff = now
        .checked_sub(max_age)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut removed = 0;
    for entry in fs::read_dir(&tmpdir).at(&tmpdir)? {
        let entry = entry.at(&tmpdir)?;
        if entry.file_name().as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_file() && meta.ctime() < cutoff && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Moves every message of `folder/new/` (names not starting with `.`) to `cur/`,
/// giving it a `:2,` info part (formats.md §3.5). Returns the new cur/ names. A
/// message that vanished meanwhile (another session moved it) is skipped.
pub fn move_new_to_cur(folder: &Path) -> Result<Vec<String>> {
    let newdir = folder.join("new");
    let curdir = folder.join("cur");
    let mut moved = Vec::new();
    for entry in fs::read_dir(&newdir).at(&newdir)? {
        let entry = entry.at(&newdir)?;
        let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if fname.starts_with('.') {
            continue;
        }
        let cur = name::cur_name_for_new(&fname);
        match fs::rename(entry.path(), curdir.join(&cur)) {
            Ok(()) => moved.push(cur),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(MaildirError::io(entry.path(), e)),
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{maildir, names};

    #[test]
    fn commit_new_places_message_with_size_and_leaves_tmp_empty() {
        let (_t, m) = maildir();
        let mut f = TmpFile::create(&m, None, None, MESSAGE_MODE).unwrap();
        f.write_all(b"Subject: x\n\nhello\n").unwrap();
        let p = f.commit_new().unwrap();
        assert!(p.file_name().unwrap().to_str().unwrap().ends_with(",S=18"));
        assert_eq!(fs::read(&p).unwrap(), b"Subject: x\n\nhello\n");
        assert!(names(&m.join("tmp")).is_empty());
        assert_eq!(names(&m.join("new")).len(), 1);
    }

    #[test]
    fn dropped_tmpfile_is_removed() {
        let (_t, m) = maildir();
        {
            let mut f = TmpFile::create(&m, None, None, MESSAGE_MODE).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert!(names(&m.join("tmp")).is_empty());
        assert!(names(&m.join("new")).is_empty());
    }

    #[test]
    fn commit_cur_sets_flags_and_mtime() {
        let (_t, m) = maildir();
        let mut f = TmpFile::create(&m, Some("0"), None, MESSAGE_MODE).unwrap();
        f.write_all(b"x\n").unwrap();
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let p = f.commit_cur(&Flags::parse("SF"), Some(when)).unwrap();
        let n = p.file_name().unwrap().to_str().unwrap().to_string();
        assert!(n.ends_with(",S=2:2,FS"), "{n}");
        assert!(n.contains("_0."), "{n}");
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), when);
    }

    #[test]
    fn new_moves_to_cur_with_info() {
        let (_t, m) = maildir();
        fs::write(m.join("new/1.M1P1.h"), b"a").unwrap();
        fs::write(m.join("new/2.M1P1.h:2,S"), b"b").unwrap();
        fs::write(m.join("new/.hidden"), b"c").unwrap();
        let mut moved = move_new_to_cur(&m).unwrap();
        moved.sort();
        assert_eq!(moved, vec!["1.M1P1.h:2,", "2.M1P1.h:2,S"]);
        assert_eq!(names(&m.join("new")), vec![".hidden"]);
    }

    #[test]
    fn control_files_replace_atomically() {
        let (_t, m) = maildir();
        let target = m.join("courierimapsubscribed");
        write_control_file(&m, "imapsubscribe0", &target, b"INBOX.A\n").unwrap();
        write_control_file(&m, "imapsubscribe1", &target, b"INBOX.B\n").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"INBOX.B\n");
        assert!(names(&m.join("tmp")).is_empty());
    }

    #[test]
    fn clean_tmp_keeps_fresh_files() {
        let (_t, m) = maildir();
        fs::write(m.join("tmp/fresh"), b"x").unwrap();
        assert_eq!(clean_tmp(&m, Duration::from_secs(36 * 3600)).unwrap(), 0);
        fs::write(m.join("tmp/.dot"), b"x").unwrap();
        let later = SystemTime::now() + Duration::from_secs(37 * 3600);
        assert_eq!(
            clean_tmp_at(&m, Duration::from_secs(36 * 3600), later).unwrap(),
            1
        );
        assert_eq!(names(&m.join("tmp")), vec![".dot"]);
    }
}
