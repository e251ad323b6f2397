//! The `-pid=FILE` conventions of Courier's daemons (courier-libs
//! `liblock/lockdaemon.c`): `FILE` holds the daemon's pid on its first line, and the
//! running daemon holds a POSIX record lock (`fcntl(F_SETLK)`, write lock, whole file)
//! on `FILE.lock` (mode 0600). The lock type is Debian's (observed with strace), so our
//! tools and Courier's can stop and restart each other's daemons.

use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `FILE.lock`
pub fn lock_path(pid: &Path) -> PathBuf {
    let mut s = pid.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// Opens (creating, 0600) a lock file; on failure removes it and tries once more, as
/// Courier does ("perhaps an upgraded daemon runs under a new uid").
pub fn open_lock(path: &Path) -> std::io::Result<File> {
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
    };
    open().or_else(|_| {
        let _ = std::fs::remove_file(path);
        open()
    })
}

/// Tries to take the write lock without waiting; true when this process now holds it
/// (so no daemon runs).
pub fn try_lock(file: &File) -> bool {
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(file, FcntlArg::F_SETLK(&lock)).is_ok()
}

/// The pid in a pid file: the digits of its first line (other bytes are skipped, as
/// Courier skips them).
pub fn read_pid(pid_file: &Path) -> Option<Pid> {
    let text = std::fs::read(pid_file).ok()?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or(b"");
    let mut n: i32 = 0;
    for &b in line.iter().filter(|b| b.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(i32::from(b - b'0'))?;
    }
    (n > 0).then(|| Pid::from_raw(n))
}

/// `-restart`: SIGHUP to the daemon when one runs (its lock is held). Errors name the
/// lock file; "nothing runs" is success.
pub fn restart(pid_file: &Path) -> Result<(), crate::NetError> {
    let lock_file = lock_path(pid_file);
    let file = open_lock(&lock_file).map_err(|source| crate::NetError::Io {
        path: lock_file,
        source,
    })?;
    if try_lock(&file) {
        return Ok(());
    }
    drop(file);
    if let Some(pid) = read_pid(pid_file) {
        let _ = kill(pid, Signal::SIGHUP);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_digits_of_the_first_line() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x.pid");
        for (text, want) in [
            ("123\n", Some(123)),
            ("4 5x6\n7\n", Some(456)),
            ("\n9", None),
            ("", None),
        ] {
            std::fs::write(&p, text).unwrap();
            assert_eq!(read_pid(&p), want.map(Pid::from_raw), "{text:?}");
        }
        assert_eq!(read_pid(&t.path().join("none")), None);
        assert_eq!(lock_path(&p), t.path().join("x.pid.lock"));
    }

    #[test]
    fn restart_without_a_daemon_is_quiet_success() {
        let t = tempfile::tempdir().unwrap();
        assert!(restart(&t.path().join("x.pid")).is_ok());
        assert!(restart(&t.path().join("missing/x.pid")).is_err());
    }
}
