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

pub use courier_net::pidfile::Starting;
use courier_net::pidfile::{Detach, daemon_start, lock_path, open_lock, read_pid, try_lock};
use nix::sys::signal::{Signal, kill};
use std::fs::{File, OpenOptions};
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

/// Forks into the background (see the module docs). Returns in the daemon only; the
/// starting process exits here.
pub fn start(pid_file: &Path) -> Starting {
    daemon_start(&lock_path(pid_file), Detach::NewProcessGroup)
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
