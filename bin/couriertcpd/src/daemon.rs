//! `-pid=FILE`: daemon start, `-stop` and `-restart`, as Courier's liblock does them
//! (courier-libs `liblock/lockdaemon.c`), so our couriertcpd and Debian's can stop and
//! restart each other.
//!
//! - The lock is a POSIX record lock (`fcntl(F_SETLK)`, write lock on the whole file) on
//!   `FILE.lock` (mode 0600), held by the daemon for its lifetime; observed with strace
//!   on Debian's couriertcpd.
//! - Start: fork; the child forks again and exits, so the daemon is nobody's child; the
//!   daemon makes itself a process group leader, takes the lock (already held: another
//!   daemon runs, the start "succeeds" quietly), binds, writes `FILE` (`<pid>\n`) and
//!   only then tells the waiting parent, which exits 0. If the daemon fails before that,
//!   the parent prints `ll_daemon_start: Resource temporarily unavailable` and exits 1.
//! - Stop: if the lock is free nothing runs; else SIGTERM to the pid in `FILE`, SIGKILL
//!   every 10 s after, until the lock is free. Always exit 0.
//! - Restart: SIGHUP to the pid in `FILE` if the lock is held. Always exit 0.

use courier_net::pidfile::{lock_path, open_lock, read_pid, try_lock};
use courier_privsep::{Forked, fork};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid, pipe, read, setpgid, write};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// `-stop`.
pub fn stop(pid_file: &Path) {
    let lock_file = lock_path(pid_file);
    let file = match open_lock(&lock_file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {}", lock_file.display(), courier_common::strerror(&e));
            return;
        }
    };
    let mut signal = Signal::SIGTERM;
    loop {
        if try_lock(&file) {
            return;
        }
        if let Some(pid) = read_pid(pid_file) {
            let _ = kill(pid, signal);
        }
        signal = Signal::SIGKILL;
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            if try_lock(&file) {
                return;
            }
        }
    }
}

/// `-restart`.
pub fn restart(pid_file: &Path) {
    if let Err(e) = courier_net::pidfile::restart(pid_file) {
        eprintln!("{e}");
    }
}

/// A daemon that has forked away but not yet told its starter it is running.
pub struct Starting {
    ready: OwnedFd,
    /// Kept open for the daemon's life: closing it would drop the lock.
    lock: File,
}

/// Forks into the background (see the module docs). Returns in the daemon only; the
/// starting process exits here.
pub fn start(pid_file: &Path) -> Starting {
    let lock_file = lock_path(pid_file);
    let (rd, wr) = match pipe() {
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
            let mut c = [1u8];
            let ok = matches!(read(&rd, &mut c), Ok(1)) && c[0] == 0;
            if ok {
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
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let lock = match open_lock(&lock_file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {}", lock_file.display(), courier_common::strerror(&e));
            std::process::exit(1);
        }
    };
    if !try_lock(&lock) {
        // Already running: pretend success, as Courier does.
        let _ = write(&wr, &[0]);
        std::process::exit(0);
    }
    Starting { ready: wr, lock }
}

impl Starting {
    /// Writes the pid file and releases the waiting starter; returns the lock to keep.
    pub fn started(self, pid_file: &Path) -> File {
        let _ = std::fs::remove_file(pid_file);
        let written = File::create(pid_file)
            .and_then(|mut f| f.write_all(format!("{}\n", getpid()).as_bytes()));
        if let Err(e) = written {
            eprintln!("{}: {}", pid_file.display(), courier_common::strerror(&e));
            std::process::exit(1);
        }
        let _ = write(&self.ready, &[0]);
        self.lock
    }
}

/// stdin, stdout and stderr to /dev/null (Courier's `ll_daemon_resetio`).
pub fn reset_io() -> std::io::Result<()> {
    let null_in = File::open("/dev/null")?;
    let null_out = OpenOptions::new().write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(&null_in)?;
    nix::unistd::dup2_stdout(&null_out)?;
    nix::unistd::dup2_stderr(&null_out)?;
    Ok(())
}
