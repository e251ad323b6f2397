//! courier-privsep: the process operations that need `unsafe` or privilege, in one
//! audited place (STYLE.md §1.4).
//!
//! Owns: `fork` for single-threaded prefork daemons; the privilege drop of the login
//! programs (`setgroups` → `setresgid` → `setresuid`, verified) and the exec and
//! detached-spawn helpers around it ([`identity`]); taking ownership of descriptors
//! inherited by number ([`inherited_fd`]).
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
}
