//! `tmp/courier.lock`, the per-folder dot-lock Courier takes around scans and keyword
//! updates when `IMAP_USELOCKS` is on (formats.md §13). Works over NFS because it only
//! relies on `link()` and the link count.

use crate::delivery::{CONTROL_MODE, TmpFile};
use crate::error::{IoContext, MaildirError, Result};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// A lock older than this is broken (Courier: 120 s).
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// A held `tmp/courier.lock`; released on drop.
#[derive(Debug)]
pub struct DotLock {
    path: PathBuf,
}

impl DotLock {
    /// The lock file of `folder`.
    pub fn path_for(folder: &Path) -> PathBuf {
        folder.join("tmp").join("courier.lock")
    }

    /// Takes the lock of `folder`, breaking a stale one, waiting up to `timeout`.
    pub fn acquire(folder: &Path, timeout: Duration) -> Result<DotLock> {
        let lock = Self::path_for(folder);
        let start = Instant::now();
        let content = format!("{}:{}", std::process::id(), courier_common::hostname());
        loop {
            let mut tmp = TmpFile::create(folder, Some("courierlock"), None, CONTROL_MODE)?;
            tmp.write_all(content.as_bytes())?;
            let linked = fs::hard_link(tmp.path(), &lock);
            let mine = fs::metadata(tmp.path()).at(tmp.path())?;
            drop(tmp); // removes the tmp name either way
            match linked {
                Ok(()) => {
                    // NFS may answer a link() that did succeed with an error, or
                    // report a stale count: the lock is ours iff it is our inode.
                    if mine.nlink() == 2 || is_same_file(&lock, &mine) {
                        return Ok(DotLock { path: lock });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if is_same_file(&lock, &mine) {
                        return Ok(DotLock { path: lock });
                    }
                }
                Err(e) => return Err(MaildirError::io(&lock, e)),
            }
            if is_stale(&lock) {
                let _ = fs::remove_file(&lock);
                continue;
            }
            if start.elapsed() >= timeout {
                return Err(MaildirError::Locked { path: lock });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn is_same_file(path: &Path, meta: &fs::Metadata) -> bool {
    fs::metadata(path).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
}

/// A lock is stale when older than [`STALE_AFTER`], or when it names a process of
/// this host that no longer exists.
fn is_stale(lock: &Path) -> bool {
    let Ok(meta) = fs::metadata(lock) else {
        return false;
    };
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if age > STALE_AFTER {
        return true;
    }
    let Ok(content) = fs::read_to_string(lock) else {
        return false;
    };
    let Some((pid, host)) = content.split_once(':') else {
        return false;
    };
    if host != courier_common::hostname() {
        return false;
    }
    match pid.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout;

    #[test]
    fn lock_is_exclusive_and_released() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        layout::create(&m, layout::Sharing::Private, false).unwrap();
        let held = DotLock::acquire(&m, Duration::from_secs(1)).unwrap();
        let content = fs::read_to_string(DotLock::path_for(&m)).unwrap();
        assert!(content.starts_with(&format!("{}:", std::process::id())));
        assert!(matches!(
            DotLock::acquire(&m, Duration::from_millis(50)),
            Err(MaildirError::Locked { .. })
        ));
        drop(held);
        let again = DotLock::acquire(&m, Duration::from_secs(1)).unwrap();
        drop(again);
        assert!(!DotLock::path_for(&m).exists());
    }

    #[test]
    fn lock_of_dead_process_is_broken() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        layout::create(&m, layout::Sharing::Private, false).unwrap();
        // pid 0x7ffffffe does not exist.
        fs::write(
            DotLock::path_for(&m),
            format!("2147483646:{}", courier_common::hostname()),
        )
        .unwrap();
        assert!(DotLock::acquire(&m, Duration::from_millis(200)).is_ok());
    }
}
