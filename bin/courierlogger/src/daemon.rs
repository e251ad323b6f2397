//! `-start`, `-stop`, `-restart`: Courier's liblock daemon protocol. The daemon
//! holds a whole-file `fcntl` write lock on `PIDFILE.lock` (the lock Debian's
//! courierlogger takes, so either program can stop the other's daemon) and writes
//! its pid to `PIDFILE`.

use nix::sys::signal::{Signal, kill};
use std::path::Path;
use std::time::{Duration, Instant};

// The pid-file lock is couriertcpd's too: one implementation of Courier's
// fcntl record lock, so either program's -stop works on the other's daemon.
pub use courier_net::pidfile::read_pid;
use courier_net::pidfile::{Detach, Starting, daemon_start, open_lock, try_lock};

fn strerror(e: &std::io::Error) -> String {
    courier_common::strerror(e)
}

/// Daemonizes in a new session: returns in the daemon holding the lock; the
/// starting process exits 0 once [`Starting::started`] is called (or when another
/// daemon already holds the lock), 1 if the daemon failed first.
pub fn start(lockfile: &Path) -> Starting {
    daemon_start(lockfile, Detach::NewSession)
}

/// `-stop`: SIGTERM to the daemon, SIGKILL every 10 s after, until its lock is free.
pub fn stop(lockfile: &Path, pidfile: &Path) -> u8 {
    let lock = match open_lock(lockfile) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {}", lockfile.display(), strerror(&e));
            return 1;
        }
    };
    let mut signal = Signal::SIGTERM;
    loop {
        if try_lock(&lock) {
            return 0;
        }
        if let Some(pid) = read_pid(pidfile) {
            let _ = kill(pid, signal);
        }
        signal = Signal::SIGKILL;
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
            if try_lock(&lock) {
                return 0;
            }
        }
    }
}

/// `-restart`: SIGHUP to the daemon, if one runs.
pub fn restart(lockfile: &Path, pidfile: &Path) -> u8 {
    let lock = match open_lock(lockfile) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {}", lockfile.display(), strerror(&e));
            return 1;
        }
    };
    if try_lock(&lock) {
        return 0;
    }
    drop(lock);
    if let Some(pid) = read_pid(pidfile) {
        let _ = kill(pid, Signal::SIGHUP);
    }
    0
}
