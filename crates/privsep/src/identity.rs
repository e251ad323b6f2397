//! Becoming an account, proving it stuck, and starting the next program: the
//! audited privilege drop of the login chain (STYLE.md §3, sketch S3;
//! courier-login-chain(7)).
//!
//! Order, following OpenSMTPD and OpenSSH: supplementary groups
//! (`initgroups` for system accounts, `setgroups({gid})` for virtual ones), then
//! `setresgid`, then `setresuid`, each checked; then the result is verified: the
//! real, effective and saved ids are exactly the account's, the supplementary
//! groups are exactly the expected set, no capability is left, and `setuid(0)`
//! fails. Anything unexpected is an error and the caller must not continue
//! (fail closed).
//!
//! Accounts with uid 0 or primary gid 0 are refused: Courier would happily run
//! imapd as root for such an account; we do not.
//!
//! When the process is not root to begin with (tests, or a login program run by an
//! unprivileged user), supplementary groups cannot be changed and are left alone, as
//! Courier's `libmail_changeuidgid` does; the ids must then already be reachable.

use nix::errno::Errno;
use nix::unistd::{self, Gid, Uid};
use std::ffi::{CStr, CString};

/// Where the supplementary groups come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Groups {
    /// `initgroups(name, gid)`: the account's groups from the group database
    /// (system accounts, authdaemond sent `USERNAME=`).
    Database(CString),
    /// `setgroups({gid})`: the primary group only (virtual accounts, `UID=`).
    PrimaryOnly,
}

/// Who to become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The account's uid (never 0).
    pub uid: Uid,
    /// The account's primary gid (never 0).
    pub gid: Gid,
    /// How to set the supplementary groups.
    pub groups: Groups,
}

/// Why a privilege operation failed. Every variant means "do not go on".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivError {
    /// The account has uid 0 or gid 0: refused by policy (a configuration error in
    /// the account database).
    #[error("refusing to run as {what} 0")]
    RefusedRoot {
        /// `uid` or `gid`.
        what: &'static str,
    },
    /// A system call failed (usually: not started as root, or a bad id).
    #[error("{call}: {source}")]
    Syscall {
        /// The call.
        call: &'static str,
        /// The error.
        #[source]
        source: Errno,
    },
    /// The calls succeeded but the process is not exactly the account: never
    /// expected, so the process must stop here.
    #[error("privilege drop not verified: {what}")]
    Unverified {
        /// What did not match.
        what: String,
    },
}

fn sys(call: &'static str) -> impl FnOnce(Errno) -> PrivError {
    move |source| PrivError::Syscall { call, source }
}

/// Irrevocably becomes `id` and verifies it. Call while single-threaded.
pub fn become_user(id: &Identity) -> Result<(), PrivError> {
    if id.uid.is_root() {
        return Err(PrivError::RefusedRoot { what: "uid" });
    }
    if id.gid.as_raw() == 0 {
        return Err(PrivError::RefusedRoot { what: "gid" });
    }
    let was_root = unistd::geteuid().is_root();
    // The expected supplementary groups, computed while the group database is
    // still readable with our current privileges.
    let expected = if was_root {
        let mut g = match &id.groups {
            Groups::Database(name) => {
                unistd::getgrouplist(name, id.gid).map_err(sys("getgrouplist"))?
            }
            Groups::PrimaryOnly => vec![id.gid],
        };
        match &id.groups {
            Groups::Database(name) => {
                unistd::initgroups(name, id.gid).map_err(sys("initgroups"))?
            }
            Groups::PrimaryOnly => unistd::setgroups(&[id.gid]).map_err(sys("setgroups"))?,
        }
        sort_groups(&mut g);
        Some(g)
    } else {
        None
    };
    unistd::setresgid(id.gid, id.gid, id.gid).map_err(sys("setresgid"))?;
    unistd::setresuid(id.uid, id.uid, id.uid).map_err(sys("setresuid"))?;
    verify(id, expected.as_deref())
}

fn sort_groups(g: &mut Vec<Gid>) {
    g.sort_by_key(|g| g.as_raw());
    g.dedup();
}

/// Checks that the process is exactly `id` (and, when given, has exactly the
/// `groups`), that no capability is left and that root cannot be regained.
pub fn verify(id: &Identity, groups: Option<&[Gid]>) -> Result<(), PrivError> {
    let bad = |what: String| Err(PrivError::Unverified { what });
    let u = unistd::getresuid().map_err(sys("getresuid"))?;
    if (u.real, u.effective, u.saved) != (id.uid, id.uid, id.uid) {
        return bad(format!(
            "uids are {}/{}/{}, not {}",
            u.real, u.effective, u.saved, id.uid
        ));
    }
    let g = unistd::getresgid().map_err(sys("getresgid"))?;
    if (g.real, g.effective, g.saved) != (id.gid, id.gid, id.gid) {
        return bad(format!(
            "gids are {}/{}/{}, not {}",
            g.real, g.effective, g.saved, id.gid
        ));
    }
    if let Some(want) = groups {
        let mut have = unistd::getgroups().map_err(sys("getgroups"))?;
        sort_groups(&mut have);
        if have != want {
            return bad(format!("supplementary groups are {have:?}, not {want:?}"));
        }
    }
    if unistd::setuid(Uid::from_raw(0)).is_ok() || unistd::seteuid(Uid::from_raw(0)).is_ok() {
        return bad("root could be regained".to_string());
    }
    if let Some(caps) = capabilities()
        && caps.iter().any(|&c| c != 0)
    {
        return bad(format!("capabilities left: {caps:x?}"));
    }
    Ok(())
}

/// `CapInh`, `CapPrm`, `CapEff`, `CapAmb` from /proc/self/status, when readable.
fn capabilities() -> Option<Vec<u64>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mut out = Vec::new();
    for key in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
        let line = status.lines().find_map(|l| l.strip_prefix(key))?;
        out.push(u64::from_str_radix(line.trim(), 16).ok()?);
    }
    Some(out)
}

/// Whether the process could still act as root (any uid 0 or capability left).
pub fn still_privileged() -> bool {
    match unistd::getresuid() {
        Ok(u) if !u.real.is_root() && !u.effective.is_root() && !u.saved.is_root() => {
            capabilities().is_some_and(|c| c.iter().any(|&x| x != 0))
        }
        _ => true,
    }
}

/// Why [`exec_unprivileged`] did not replace the process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The process still has root privileges: nothing is ever executed as root.
    #[error("refusing to execute {path:?} with root privileges")]
    StillPrivileged {
        /// The program.
        path: CString,
    },
    /// `execve` failed.
    #[error("exec({path:?}): {source}")]
    Exec {
        /// The program.
        path: CString,
        /// The error.
        #[source]
        source: Errno,
    },
}

/// `execve(path, argv, env)`, refused while the process could act as root. Only
/// returns on failure.
pub fn exec_unprivileged(path: &CStr, argv: &[CString], env: &[CString]) -> ExecError {
    if still_privileged() {
        return ExecError::StillPrivileged {
            path: path.to_owned(),
        };
    }
    default_sigpipe();
    match unistd::execve(path, argv, env) {
        Err(source) => ExecError::Exec {
            path: path.to_owned(),
            source,
        },
        Ok(never) => match never {},
    }
}

/// Starts `path` with `argv` detached (double fork, so the program is adopted by
/// init and never becomes our zombie), inheriting every descriptor not marked
/// close-on-exec. Waits only for the intermediate child. If `execv` fails in the
/// grandchild, `on_exec_failure` runs there (e.g. to report on a status pipe).
///
/// The caller must be single-threaded (see [`crate::fork`]).
pub fn spawn_detached(
    path: &CStr,
    argv: &[CString],
    on_exec_failure: impl FnOnce(Errno),
) -> Result<(), PrivError> {
    use crate::{Forked, fork};
    match fork().map_err(sys("fork"))? {
        Forked::Parent(pid) => {
            let status = nix::sys::wait::waitpid(pid, None).map_err(sys("waitpid"))?;
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(PrivError::Unverified {
                    what: format!("launcher ended with {other:?}"),
                }),
            }
        }
        Forked::Child => {
            let code = match fork() {
                Ok(Forked::Parent(_)) => 0,
                Ok(Forked::Child) => {
                    default_sigpipe();
                    let Err(e) = unistd::execv(path, argv);
                    on_exec_failure(e);
                    0
                }
                Err(_) => 1,
            };
            exit_now(code)
        }
    }
}

/// Sends one message on a `SOCK_SEQPACKET` socket, with `fds` attached
/// (`SCM_RIGHTS`). The descriptors stay open in the sender.
pub fn send_message(
    sock: &impl std::os::fd::AsRawFd,
    bytes: &[u8],
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> nix::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let raw: Vec<std::os::fd::RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let iov = [std::io::IoSlice::new(bytes)];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None) {
            Err(Errno::EINTR) => continue,
            r => return r.map(drop),
        }
    }
}

/// One received message: its bytes (`None` at end of file) and the descriptors
/// that came with it, owned and close-on-exec. A message longer than `max`
/// bytes, or with more than `max_fds` descriptors, is an error (the peer is not
/// trusted; the extra descriptors are closed).
pub fn recv_message(
    sock: &impl std::os::fd::AsRawFd,
    max: usize,
    max_fds: usize,
) -> nix::Result<Option<(Vec<u8>, Vec<std::os::fd::OwnedFd>)>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut buf = vec![0u8; max + 1];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 8]);
    let (n, truncated, raw) = loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(msg) => {
                let mut raw = Vec::new();
                for c in msg.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        raw.extend(fds);
                    }
                }
                let truncated = msg
                    .flags
                    .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
                break (msg.bytes, truncated, raw);
            }
        }
    };
    #[allow(unsafe_code)] // adopting descriptors the kernel just created for us
    // SAFETY: every RawFd in an SCM_RIGHTS message received by recvmsg is a new
    // descriptor installed in this process for us alone; nothing else owns it.
    let fds: Vec<OwnedFd> = raw
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if truncated || n > max || fds.len() > max_fds {
        return Err(Errno::EMSGSIZE);
    }
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    buf.truncate(n);
    Ok(Some((buf, fds)))
}

/// Restores the default SIGPIPE action before an exec: the Rust runtime ignores
/// SIGPIPE, and an ignored signal stays ignored in the next program (Courier's
/// programs expect the default, as couriertcpd leaves it).
pub fn default_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    #[allow(unsafe_code)] // nix marks signal() unsafe because of handlers; see SAFETY.
    // SAFETY: SIG_DFL installs no handler function, so no code can run in signal
    // context; this only changes the kernel's disposition for SIGPIPE.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// `_exit(2)`: leaves a forked child without running the parent's exit handlers.
fn exit_now(code: i32) -> ! {
    #[allow(unsafe_code)] // _exit has no safe wrapper in nix; see the SAFETY line.
    // SAFETY: `_exit` takes a plain integer and never returns; it touches no Rust
    // state, which is exactly why a forked child uses it instead of `exit`.
    unsafe {
        libc::_exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        unistd::geteuid().is_root()
    }

    #[test]
    fn uid_and_gid_zero_are_refused_before_anything_changes() {
        let id = Identity {
            uid: Uid::from_raw(0),
            gid: Gid::from_raw(5),
            groups: Groups::PrimaryOnly,
        };
        assert!(matches!(
            become_user(&id),
            Err(PrivError::RefusedRoot { what: "uid" })
        ));
        let id = Identity {
            uid: Uid::from_raw(5),
            gid: Gid::from_raw(0),
            groups: Groups::PrimaryOnly,
        };
        assert!(matches!(
            become_user(&id),
            Err(PrivError::RefusedRoot { what: "gid" })
        ));
    }

    /// Runs `f` in a forked child and returns its exit code (the drop is
    /// irrevocable, so it must not happen in the test process itself).
    fn in_child(f: impl FnOnce() -> i32) -> i32 {
        match crate::fork().unwrap() {
            crate::Forked::Child => exit_now(f()),
            crate::Forked::Parent(pid) => match nix::sys::wait::waitpid(pid, None).unwrap() {
                nix::sys::wait::WaitStatus::Exited(_, c) => c,
                other => panic!("{other:?}"),
            },
        }
    }

    #[test]
    fn drop_to_virtual_account_is_exact_and_verified() {
        if !root() {
            println!("SKIP: drop_to_virtual_account_is_exact_and_verified: needs root");
            return;
        }
        let code = in_child(|| {
            let id = Identity {
                uid: Uid::from_raw(5123),
                gid: Gid::from_raw(5124),
                groups: Groups::PrimaryOnly,
            };
            if become_user(&id).is_err() {
                return 2;
            }
            if unistd::getgroups().unwrap() != vec![Gid::from_raw(5124)] {
                return 3;
            }
            if !still_privileged() && unistd::setuid(Uid::from_raw(0)).is_err() {
                0
            } else {
                4
            }
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn exec_is_refused_while_root() {
        if !root() {
            println!("SKIP: exec_is_refused_while_root: needs root");
            return;
        }
        let path = CString::new("/bin/true").unwrap();
        let e = exec_unprivileged(&path, std::slice::from_ref(&path), &[]);
        assert!(matches!(e, ExecError::StillPrivileged { .. }), "{e}");
    }

    #[test]
    fn messages_carry_descriptors_and_oversize_is_refused() {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        use std::os::fd::AsFd;
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (r, w) = unistd::pipe().unwrap();
        send_message(&a, b"hello", &[w.as_fd()]).unwrap();
        let (msg, fds) = recv_message(&b, 64, 2).unwrap().unwrap();
        assert_eq!(msg, b"hello");
        assert_eq!(fds.len(), 1);
        unistd::write(&fds[0], b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(unistd::read(&r, &mut buf).unwrap(), 1);
        send_message(&a, &[0u8; 100], &[]).unwrap();
        assert_eq!(recv_message(&b, 64, 2).unwrap_err(), Errno::EMSGSIZE);
        drop(a);
        assert!(recv_message(&b, 64, 2).unwrap().is_none());
    }

    #[test]
    fn spawn_detached_reports_exec_failure_in_the_grandchild() {
        let (r, w) = unistd::pipe().unwrap();
        let path = CString::new("/nonexistent/program").unwrap();
        spawn_detached(&path, std::slice::from_ref(&path), |e| {
            let _ = unistd::write(&w, format!("{e}").as_bytes());
        })
        .unwrap();
        drop(w);
        let mut buf = [0u8; 128];
        let n = unistd::read(&r, &mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("ENOENT"));
    }
}
