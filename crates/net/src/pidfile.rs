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

/// How a starting daemon detaches from the process that started it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detach {
    /// `setsid()`: a new session (courierlogger).
    NewSession,
    /// `setpgid(0, 0)`: a new process group, so `-stop` reaches the children
    /// (couriertcpd).
    NewProcessGroup,
}

/// A daemon that holds its lock and has not yet told the starter it is ready.
#[derive(Debug)]
pub struct Starting {
    ready: std::os::fd::OwnedFd,
    lock: File,
}

/// Courier's `ll_daemon_start`: fork; the child forks again and exits, so the
/// daemon is nobody's child; the daemon detaches, takes the lock of `lock_file`
/// (already held: another daemon runs, and the start "succeeds" quietly) and
/// returns. The starter waits until [`Starting::started`] and exits 0, or exits 1
/// with Courier's `ll_daemon_start` message if the daemon died first. Returns only
/// in the daemon. Call while single-threaded.
pub fn daemon_start(lock_file: &Path, detach: Detach) -> Starting {
    use courier_privsep::{Forked, fork};
    use std::io::Read;
    let (rd, wr) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pipe: {}", e.desc());
            std::process::exit(1);
        }
    };
    match fork() {
        Err(e) => {
            eprintln!("fork: {}", e.desc());
            std::process::exit(1);
        }
        Ok(Forked::Parent(_)) => {
            drop(wr);
            let mut byte = [1u8];
            let got = File::from(rd).read(&mut byte).unwrap_or(0);
            if got == 1 && byte[0] == 0 {
                std::process::exit(0);
            }
            eprintln!("ll_daemon_start: Resource temporarily unavailable");
            std::process::exit(1);
        }
        Ok(Forked::Child) => {}
    }
    drop(rd);
    match fork() {
        Ok(Forked::Child) => {}
        Ok(Forked::Parent(_)) => std::process::exit(0),
        Err(e) => {
            eprintln!("fork: {}", e.desc());
            std::process::exit(0);
        }
    }
    let _ = match detach {
        Detach::NewSession => nix::unistd::setsid().map(drop),
        Detach::NewProcessGroup => nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)),
    };
    let lock = match open_lock(lock_file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {}", lock_file.display(), courier_common::strerror(&e));
            std::process::exit(1);
        }
    };
    if !try_lock(&lock) {
        // Already running: pretend success, quietly, as Courier does.
        let _ = nix::unistd::write(&wr, &[0]);
        std::process::exit(0);
    }
    Starting { ready: wr, lock }
}

impl Starting {
    /// Writes `pid_file` (`<pid>\n`) and releases the waiting starter; returns the
    /// lock, which the daemon keeps for its lifetime.
    pub fn started(self, pid_file: &Path) -> File {
        use std::io::Write;
        let _ = std::fs::remove_file(pid_file);
        let written = File::create(pid_file)
            .and_then(|mut f| f.write_all(format!("{}\n", std::process::id()).as_bytes()));
        if let Err(e) = written {
            eprintln!("{}: {}", pid_file.display(), courier_common::strerror(&e));
            std::process::exit(1);
        }
        let _ = nix::unistd::write(&self.ready, &[0]);
        self.lock
    }
}
