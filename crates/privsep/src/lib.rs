//! courier-privsep: the process operations that need `unsafe` or privilege, in one
//! audited place (STYLE.md §1.4).
//!
//! Owns: `fork` for single-threaded prefork daemons, taking ownership of
//! descriptors inherited by number ([`inherited_fd`]), the privilege drop of the
//! login programs (`setgroups` → `setresgid` → `setresuid`, verified) and the exec
//! and detached-spawn helpers around it ([`identity`]).
//!
//! Does not: know about IMAP, POP3 or passwords.
//!
//! Invariant: every function documents the state the process must be in (for
//! `fork`: exactly one thread), and callers are single-threaded daemons.
#![warn(missing_docs)]

pub mod identity;

pub use nix::unistd::Pid;

/// Which side of a fork this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The parent, with the child's pid.
    Parent(Pid),
    /// The child.
    Child,
}

/// `fork(2)`.
///
/// The caller must be single-threaded: after a fork only the calling thread exists
/// in the child, so locks held by other threads (allocator, stdio) would never be
/// released. The daemons that use this never start threads.
pub fn fork() -> nix::Result<Forked> {
    #[allow(unsafe_code)] // the one fork of the workspace; see the SAFETY line.
    // SAFETY: callers are single-threaded (documented precondition above), so the
    // child inherits no lock held by another thread and may allocate and run freely.
    let result = unsafe { nix::unistd::fork() }?;
    Ok(match result {
        nix::unistd::ForkResult::Parent { child } => Forked::Parent(child),
        nix::unistd::ForkResult::Child => Forked::Child,
    })
}

/// Takes ownership of a descriptor the process inherited by number, as Courier's
/// chain programs are told on the command line (`couriertls -localfd=5`).
///
/// Fails with `EBADF` when `fd` is negative or not open. Call it at most once per
/// number and before anything else in the process could own that descriptor: two
/// owners of one descriptor would close it twice.
pub fn inherited_fd(fd: std::os::fd::RawFd) -> nix::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(nix::errno::Errno::EBADF);
    }
    // An open descriptor has descriptor flags; a closed one gives EBADF.
    #[allow(unsafe_code)] // SAFETY: fcntl(F_GETFD) only reads flags of any number.
    let flags = unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) };
    if flags < 0 {
        return Err(nix::errno::Errno::last());
    }
    #[allow(unsafe_code)]
    // SAFETY: the descriptor is open (checked above) and, per the documented contract,
    // nothing else in the process owns it, so the OwnedFd is its only owner.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The server's local offset from UTC, in seconds east, at the instant `epoch`
/// (seconds since 1970), from `localtime_r(3)`'s `tm_gmtoff`: the zone is the C
/// library's (`TZ`, else /etc/localtime), daylight saving time included. 0 when the
/// instant cannot be converted.
pub fn local_utc_offset(epoch: i64) -> i32 {
    // time_t is 32 bits on some targets.
    let Ok(t) = nix::libc::time_t::try_from(epoch).map_err(drop) else {
        return 0;
    };
    #[allow(unsafe_code)]
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value;
    // localtime_r only reads `t` and writes into `tm`, both owned by this frame, and is
    // the thread-safe variant (no shared static result buffer).
    let (ok, tm) = unsafe {
        let mut tm: nix::libc::tm = std::mem::zeroed();
        let ok = !nix::libc::localtime_r(&t, &mut tm).is_null();
        (ok, tm)
    };
    if ok {
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_fd_checks_that_the_descriptor_is_open() {
        use std::os::fd::{AsRawFd, IntoRawFd};
        assert_eq!(inherited_fd(-1).unwrap_err(), nix::errno::Errno::EBADF);
        let raw = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
        let owned = inherited_fd(raw).unwrap();
        assert_eq!(owned.as_raw_fd(), raw);
        drop(owned);
        assert_eq!(inherited_fd(raw).unwrap_err(), nix::errno::Errno::EBADF);
    }

    #[test]
    fn fork_returns_in_both_processes() {
        match fork().unwrap() {
            Forked::Child => std::process::exit(7),
            Forked::Parent(pid) => {
                let status = nix::sys::wait::waitpid(pid, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 7));
            }
        }
    }

    /// Offsets agree with date(1) in the test's own zone, and, in a child run with
    /// TZ=Europe/Berlin, follow daylight saving time.
    #[test]
    fn local_utc_offset_follows_tz() {
        let summer = 1_690_000_000; // 2023-07-22, CEST
        let winter = 1_700_000_000; // 2023-11-14, CET
        if std::env::var_os("PRIVSEP_TZ_CHILD").is_some() {
            assert_eq!(local_utc_offset(summer), 7200);
            assert_eq!(local_utc_offset(winter), 3600);
            return;
        }
        for e in [0, summer, winter] {
            let out = std::process::Command::new("date")
                .arg(format!("-d@{e}"))
                .arg("+%z")
                .output();
            let Ok(out) = out else { continue };
            let z = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let n: i32 = z[1..].parse().unwrap();
            let secs = (n / 100 * 3600 + n % 100 * 60) * if z.starts_with('-') { -1 } else { 1 };
            assert_eq!(local_utc_offset(e), secs, "epoch {e}");
        }
        if !std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
            eprintln!("skipped the TZ=Europe/Berlin part: no zoneinfo");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::local_utc_offset_follows_tz"])
            .env("TZ", "Europe/Berlin")
            .env("PRIVSEP_TZ_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
    }
}
