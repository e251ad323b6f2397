//! `-start`, `-stop`, `-restart`: Courier's liblock daemon protocol. The daemon
//! holds a whole-file `fcntl` write lock on `PIDFILE.lock` (the lock Debian's
//! courierlogger takes, so either program can stop the other's daemon) and writes
//! its pid to `PIDFILE`.

use courier_privsep::{Forked, fork};
use nix::sys::signal::{Signal, kill};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

// The pid-file lock is couriertcpd's too: one implementation of Courier's
// fcntl record lock, so either program's -stop works on the other's daemon.
pub use courier_net::pidfile::read_pid;
use courier_net::pidfile::{open_lock, try_lock};

fn strerror(e: &std::io::Error) -> String {
    courier_common::strerror(e)
}

/// Daemonizes: returns in the daemon (grandchild) holding the lock, with the pipe
/// on which [`started`] tells the waiting parent. The parent exits 0 once told
/// (or when another daemon already holds the lock); 1 if the daemon failed.
pub fn start(lockfile: &Path) -> (File, OwnedFd) {
    let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
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
            drop(w);
            let mut byte = [1u8];
            let got = File::from(r).read(&mut byte).unwrap_or(0);
            if got == 1 && byte[0] == 0 {
                std::process::exit(0);
            }
            eprintln!("ll_daemon_start: Resource temporarily unavailable");
            std::process::exit(1);
        }
        Ok(Forked::Child) => {}
    }
    drop(r);
    match fork() {
        Ok(Forked::Child) => {}
        Ok(Forked::Parent(_)) => std::process::exit(0),
        Err(e) => {
            eprintln!("fork: {}", e.desc());
            std::process::exit(0);
        }
    }
    let _ = nix::unistd::setsid();
    let lock = match open_lock(lockfile) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {}", lockfile.display(), strerror(&e));
            std::process::exit(1);
        }
    };
    if !try_lock(&lock) {
        // Already running: pretend success, quietly.
        let _ = File::from(w).write_all(&[0]);
        std::process::exit(0);
    }
    (lock, w)
}

/// Writes the pid file and releases the waiting parent.
pub fn started(pidfile: &Path, pipe: OwnedFd) {
    let _ = std::fs::remove_file(pidfile);
    let pid = format!("{}\n", std::process::id());
    if let Err(e) = std::fs::write(pidfile, pid) {
        eprintln!("{}: {}", pidfile.display(), strerror(&e));
        std::process::exit(1);
    }
    let _ = File::from(pipe).write_all(&[0]);
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
