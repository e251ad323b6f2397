//! courier-privsep: the process operations that need `unsafe` or privilege, in one
//! audited place (STYLE.md §1.4).
//!
//! Owns: `fork` for single-threaded prefork daemons; the privilege drop of the login
//! programs (`setgroups` → `setresgid` → `setresuid`, verified) and the exec and
//! detached-spawn helpers around it ([`identity`]).
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

#[cfg(test)]
mod tests {
    use super::*;

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
