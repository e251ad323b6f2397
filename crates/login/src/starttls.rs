//! STARTTLS / STLS: hand the connection to `couriertls`, as Courier's
//! `couriertls_start()` does (tcpd/tlsclient.c).
//!
//! `$COURIERTLS` (else `couriertls`, relative to the current directory: Courier
//! uses `execv`) is started detached (double fork) with
//! `-statusfd=S -printx509=X -localfd=L -tcpd -server`: it takes over fds 0/1 (the
//! network) and speaks clear text with us on one end of a socket pair (`L`).
//! It writes nothing on `S` when the handshake succeeds (an error text
//! otherwise), and the peer certificate on `X`. Then fds 0 and 1 are replaced by
//! our end of the socket pair. Both pipes are read with fixed limits.

use crate::env::{self, Environ};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::pipe;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Longest status text kept (Courier: 1 KiB buffer).
const MAX_STATUS: usize = 1000;
/// Longest certificate dump kept.
const MAX_X509: usize = 64 * 1024;

fn cloexec(fd: &OwnedFd) {
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
}

/// Reads both pipes to their end at once (so couriertls never blocks on one while
/// we wait on the other), keeping at most `max` bytes of each.
fn read_both(a: OwnedFd, b: OwnedFd, max: [usize; 2]) -> [Vec<u8>; 2] {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [Some(a), Some(b)];
    let mut out = [Vec::new(), Vec::new()];
    let mut buf = [0u8; 4096];
    loop {
        let ready: Vec<usize> = {
            let open: Vec<usize> = (0..2).filter(|&i| fds[i].is_some()).collect();
            if open.is_empty() {
                break;
            }
            let mut pfds: Vec<PollFd<'_>> = open
                .iter()
                .filter_map(|&i| fds[i].as_ref())
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut pfds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            open.iter()
                .zip(pfds.iter())
                .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                .map(|(&i, _)| i)
                .collect()
        };
        for i in ready {
            let Some(fd) = fds[i].as_ref() else { continue };
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => fds[i] = None,
                Ok(n) => {
                    let room = max[i].saturating_sub(out[i].len());
                    out[i].extend_from_slice(&buf[..n.min(room)]);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => fds[i] = None,
            }
        }
    }
    out
}

/// Starts couriertls and swaps fds 0/1 to it. `Ok`: the `TLS_SUBJECT_*`
/// variables to export; `Err`: Courier's error text for `STARTTLS failed: `.
pub fn start(environ: &Environ) -> Result<Vec<(String, String)>, String> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::empty(),
    )
    .map_err(|e| format!("Failed: {}", e.desc()))?;
    cloexec(&ours);
    let (status_r, status_w) = pipe().map_err(|e| format!("Failed: {}", e.desc()))?;
    let (x509_r, x509_w) = pipe().map_err(|e| format!("Failed: {}", e.desc()))?;
    cloexec(&status_r);
    cloexec(&x509_r);
    let program = environ
        .non_empty(env::COURIERTLS)
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| b"couriertls".to_vec());
    let arg = |s: String| CString::new(s).unwrap_or_default();
    let mut argv = vec![
        arg("couriertls".into()),
        arg(format!("-statusfd={}", status_w.as_raw_fd())),
        arg(format!("-printx509={}", x509_w.as_raw_fd())),
        arg(format!("-localfd={}", theirs.as_raw_fd())),
        arg("-tcpd".into()),
        arg("-server".into()),
    ];
    // couriertls reads the key first, then drops to this account before the
    // handshake: as root, the TLS session never runs privileged.
    if nix::unistd::geteuid().is_root() {
        argv.push(arg(format!("-user={}", tls_user(environ))));
    }
    let path = CString::new(program).map_err(|_| "500 Error starting couriertls.".to_string())?;
    let spawned = courier_privsep::identity::spawn_detached(&path, &argv, |e| {
        let msg = format!("500 Unable to start couriertls: {}\n", e.desc());
        let _ = nix::unistd::write(&status_w, msg.as_bytes());
    });
    drop(status_w);
    drop(x509_w);
    drop(theirs);
    if spawned.is_err() {
        return Err("500 Error starting couriertls.".into());
    }
    let [status, x509] = read_both(status_r, x509_r, [MAX_STATUS, MAX_X509]);
    let mut msg = String::from_utf8_lossy(&status).into_owned();
    if !msg.is_empty() {
        while msg.ends_with('\n') {
            msg.pop();
        }
        return Err(msg);
    }
    nix::unistd::dup2_stdin(&ours).map_err(|e| format!("dup: {}", e.desc()))?;
    nix::unistd::dup2_stdout(&ours).map_err(|e| format!("dup: {}", e.desc()))?;
    drop(ours);
    Ok(subject_env(&x509))
}

/// The account couriertls runs as when started by root: `$COURIERTLS_USER`, else
/// `courier` when it exists (Debian), else `nobody`.
pub fn tls_user(environ: &crate::env::Environ) -> String {
    if let Some(u) = environ.non_empty(env::COURIERTLS_USER) {
        return String::from_utf8_lossy(u).into_owned();
    }
    match nix::unistd::User::from_name("courier") {
        Ok(Some(_)) => "courier".into(),
        _ => "nobody".into(),
    }
}

/// `TLS_SUBJECT_<FIELD>=value` for each field of the first `Subject:` block of
/// couriertls's certificate dump (field names upper-cased).
pub fn subject_env(dump: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(dump);
    let mut lines = text
        .split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .peekable();
    while let Some(line) = lines.next() {
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if line[name.len()..].starts_with(':') && name == "Subject" {
            let mut out = Vec::new();
            while let Some(item) = lines.peek() {
                if !item.starts_with(|c: char| c.is_ascii_whitespace()) {
                    break;
                }
                let item = item.trim_start();
                let key: String = item
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                if let Some(value) = item[key.len()..].strip_prefix('=') {
                    out.push((
                        format!("TLS_SUBJECT_{}", key.to_ascii_uppercase()),
                        value.to_string(),
                    ));
                }
                lines.next();
            }
            return out;
        }
    }
    Vec::new()
}

/// The program couriertls would be started as (for messages).
pub fn program(environ: &Environ) -> String {
    environ
        .get(env::COURIERTLS)
        .map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned())
        .unwrap_or_else(|| "couriertls".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_fields_become_variables() {
        let dump = b"Subject:\n   C=US\n   CN=alice\n   emailAddress=alice@example.com\n\
Issuer:\n   CN=ca\nSubject:\n   CN=other\n";
        assert_eq!(
            subject_env(dump),
            vec![
                ("TLS_SUBJECT_C".to_string(), "US".to_string()),
                ("TLS_SUBJECT_CN".to_string(), "alice".to_string()),
                (
                    "TLS_SUBJECT_EMAILADDRESS".to_string(),
                    "alice@example.com".to_string()
                ),
            ]
        );
        assert!(subject_env(b"").is_empty());
    }
}
