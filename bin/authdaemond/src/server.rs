//! The process side of authdaemond: the listening socket, the prefork workers that
//! each serve one request per connection, and the parent that restarts crashed
//! workers and handles SIGHUP (reload) and SIGTERM (stop).
//!
//! Shape (authdaemon-protocol.md §1, §5): the parent binds `<socket>.tmp`, makes it
//! 0777 and renames it into place (access control is the 0750 directory), then forks
//! `daemons` workers that all `accept()` on it. The parent never reads a request.

use courier_auth_proto::request::{self, Framed};
use courier_common::{Severity, log};
use courier_config::authdaemon::AuthdaemonSettings;
use courier_privsep::{Forked, Pid, fork};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// Each chunk of a request must arrive within this (Courier: 10 s).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Each write of a reply must complete within this (Courier: 30 s).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle hooks run after this long without traffic (Courier: 300 s).
pub const IDLE_INTERVAL: Duration = Duration::from_secs(300);

/// What a worker does with a parsed request.
pub trait Backend {
    /// Writes the reply to `out` (nothing at all = temporary failure).
    fn handle(&mut self, request: &Framed, out: &mut dyn Write) -> io::Result<()>;
    /// Called after [`IDLE_INTERVAL`] without a request.
    fn idle(&mut self) {}
}

/// Builds a worker's backend after the fork (modules open their files there).
pub type BackendFactory = dyn Fn(&AuthdaemonSettings) -> Result<Box<dyn Backend>, String>;

/// Creates the socket directory (0750 if it is missing) and the socket, Courier's
/// way. A world-accessible directory is reported, since it exposes the socket.
pub fn bind(settings: &AuthdaemonSettings) -> io::Result<UnixListener> {
    let socket = &settings.socket;
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(|e| named(dir, e))?;
    }
    let mode = fs::metadata(dir).map_err(|e| named(dir, e))?.mode();
    if mode & 0o007 != 0 {
        log(
            Severity::Warn,
            format_args!(
                "{}: socket directory is accessible to everyone (mode {:o})",
                dir.display(),
                mode & 0o7777
            ),
        );
    }
    let tmp = socket.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp).map_err(|e| named(&tmp, e))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o777)).map_err(|e| named(&tmp, e))?;
    fs::rename(&tmp, socket).map_err(|e| named(socket, e))?;
    Ok(listener)
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{}: {}", path.display(), courier_common::strerror(&e)),
    )
}

fn parent_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// Runs the daemon until SIGTERM/SIGINT. `reload` re-reads the settings on SIGHUP.
pub fn serve(
    listener: UnixListener,
    mut settings: AuthdaemonSettings,
    reload: &dyn Fn() -> Result<AuthdaemonSettings, String>,
    factory: &BackendFactory,
) -> io::Result<()> {
    let signals = parent_signals();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), None).map_err(io::Error::from)?;
    listener.set_nonblocking(true)?;
    let mut workers: Vec<(Pid, Instant)> = Vec::new();
    spawn_workers(&listener, &settings, factory, &mut workers)?;
    loop {
        let sig = signals.wait().map_err(io::Error::from)?;
        match sig {
            Signal::SIGCHLD => {
                reap(&mut workers, true);
                while workers.len() < settings.daemons {
                    spawn_one(&listener, &settings, factory, &mut workers)?;
                }
            }
            Signal::SIGHUP => {
                log(Severity::Info, "stopping authdaemond children");
                stop_workers(&mut workers);
                match reload() {
                    Ok(s) => settings = s,
                    Err(e) => log(
                        Severity::Err,
                        format_args!("{e}; keeping the previous configuration"),
                    ),
                }
                log(Severity::Info, "restarting authdaemond children");
                spawn_workers(&listener, &settings, factory, &mut workers)?;
            }
            _ => {
                stop_workers(&mut workers);
                return Ok(());
            }
        }
    }
}

fn spawn_workers(
    listener: &UnixListener,
    settings: &AuthdaemonSettings,
    factory: &BackendFactory,
    workers: &mut Vec<(Pid, Instant)>,
) -> io::Result<()> {
    for _ in 0..settings.daemons {
        spawn_one(listener, settings, factory, workers)?;
    }
    Ok(())
}

fn spawn_one(
    listener: &UnixListener,
    settings: &AuthdaemonSettings,
    factory: &BackendFactory,
    workers: &mut Vec<(Pid, Instant)>,
) -> io::Result<()> {
    // A worker that keeps dying at once (bad module, full disk) must not turn the
    // parent into a fork bomb.
    if workers
        .iter()
        .any(|(_, started)| started.elapsed() < Duration::from_millis(200))
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    match fork().map_err(io::Error::from)? {
        Forked::Parent(pid) => {
            workers.push((pid, Instant::now()));
            Ok(())
        }
        Forked::Child => {
            let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&parent_signals()), None);
            let code = match factory(settings) {
                Ok(mut backend) => {
                    worker_loop(listener, backend.as_mut(), settings);
                    0
                }
                Err(e) => {
                    log(
                        Severity::Err,
                        format_args!("authdaemond: cannot start a worker: {e}"),
                    );
                    1
                }
            };
            std::process::exit(code);
        }
    }
}

fn reap(workers: &mut Vec<(Pid, Instant)>, report: bool) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => {
                let Some(pid) = status.pid() else { return };
                workers.retain(|(p, _)| *p != pid);
                if report {
                    match status {
                        WaitStatus::Signaled(_, Signal::SIGALRM, _) => log(
                            Severity::Err,
                            format_args!(
                                "authdaemond: worker {pid} killed: one request took too long (a module hung); restarting it"
                            ),
                        ),
                        WaitStatus::Signaled(_, sig, _) => log(
                            Severity::Err,
                            format_args!("authdaemond: worker {pid} died of {sig}; restarting it"),
                        ),
                        WaitStatus::Exited(_, code) => log(
                            Severity::Err,
                            format_args!(
                                "authdaemond: worker {pid} exited with status {code}; restarting it"
                            ),
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
}

fn stop_workers(workers: &mut Vec<(Pid, Instant)>) {
    for (pid, _) in workers.iter() {
        let _ = kill(*pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !workers.is_empty() && Instant::now() < deadline {
        reap(workers, false);
        std::thread::sleep(Duration::from_millis(10));
    }
    for (pid, _) in workers.iter() {
        let _ = kill(*pid, Signal::SIGKILL);
    }
    while !workers.is_empty() {
        match waitpid(None, None) {
            Ok(status) => {
                if let Some(pid) = status.pid() {
                    workers.retain(|(p, _)| *p != pid);
                }
            }
            Err(_) => break,
        }
    }
}

/// Who is on the other end of a connection, for log lines.
fn peer(stream: &UnixStream) -> String {
    match nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials) {
        Ok(c) => format!("pid={}, uid={}", c.pid(), c.uid()),
        Err(_) => "unknown peer".into(),
    }
}

fn worker_loop(listener: &UnixListener, backend: &mut dyn Backend, settings: &AuthdaemonSettings) {
    use std::os::fd::AsFd;
    let mut last = Instant::now();
    loop {
        let mut fds = [nix::poll::PollFd::new(
            listener.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let timeout = nix::poll::PollTimeout::try_from(IDLE_INTERVAL.as_millis() as i32)
            .unwrap_or(nix::poll::PollTimeout::NONE);
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => {
                backend.idle();
                last = Instant::now();
                continue;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                log(
                    Severity::Err,
                    format_args!("authdaemond: poll on {}: {e}", settings.socket.display()),
                );
                std::process::exit(1);
            }
        }
        // Every worker wakes for a new connection; the listener is non-blocking, so
        // the ones that lose the race get EAGAIN and go back to poll (and to their
        // idle hooks) instead of sleeping in accept().
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                continue;
            }
            Err(e) => {
                log(
                    Severity::Err,
                    format_args!(
                        "authdaemond: accept on {}: {}",
                        settings.socket.display(),
                        courier_common::strerror(&e)
                    ),
                );
                continue;
            }
        };
        if last.elapsed() >= IDLE_INTERVAL {
            backend.idle();
        }
        serve_connection(stream, backend, settings.request_timeout);
        last = Instant::now();
    }
}

/// Reads one request (each chunk within [`READ_TIMEOUT`]), answers it, closes. A
/// request whose modules take longer than `deadline_secs` kills this worker
/// (SIGALRM); the parent starts a fresh one, so a hung backend never holds a
/// worker for good.
pub fn serve_connection(mut stream: UnixStream, backend: &mut dyn Backend, deadline_secs: u32) {
    let who = peer(&stream);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    let framed = loop {
        match request::parse(&buf) {
            Ok(Some((framed, _))) => break framed,
            Ok(None) => {}
            Err(e) => {
                log(
                    Severity::Err,
                    format_args!("authdaemond: bad request from {who}: {e}; closing"),
                );
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                if !buf.is_empty() {
                    log(
                        Severity::Warn,
                        format_args!(
                            "authdaemond: {who} closed the connection in the middle of a request"
                        ),
                    );
                }
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                log(
                    Severity::Warn,
                    format_args!("authdaemond: timeout reading a request from {who}; closing"),
                );
                return;
            }
            Err(e) => {
                log(
                    Severity::Warn,
                    format_args!(
                        "authdaemond: reading from {who}: {}",
                        courier_common::strerror(&e)
                    ),
                );
                return;
            }
        }
    };
    nix::unistd::alarm::set(deadline_secs);
    let mut reply = Vec::with_capacity(512);
    let result = backend.handle(&framed, &mut reply);
    nix::unistd::alarm::cancel();
    match result {
        Ok(()) => {
            if let Err(e) = stream.write_all(&reply) {
                log(
                    Severity::Warn,
                    format_args!(
                        "authdaemond: writing the reply to {who}: {}",
                        courier_common::strerror(&e)
                    ),
                );
            }
        }
        Err(e) => log(Severity::Err, format_args!("authdaemond: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_auth_proto::Request;

    struct Echo;
    impl Backend for Echo {
        fn handle(&mut self, r: &Framed, out: &mut dyn Write) -> io::Result<()> {
            match &r.request {
                Request::Pre { userid, .. } if userid == "temp" => Ok(()),
                Request::Pre { userid, .. } => write!(out, "ADDRESS={userid}\n.\n"),
                _ => out.write_all(b"FAIL\n"),
            }
        }
    }

    fn exchange(request: &[u8]) -> Vec<u8> {
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(request).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        serve_connection(server, &mut Echo, 60);
        let mut reply = Vec::new();
        // Closing with unread input resets the connection: that is "no reply" too.
        match client.read_to_end(&mut reply) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{e}"),
        }
        reply
    }

    #[test]
    fn one_request_one_reply_then_close() {
        assert_eq!(exchange(b"PRE . imap alice\n"), b"ADDRESS=alice\n.\n");
        assert_eq!(
            exchange(b"AUTH 24\npop3\nlogin\nalice\nsecret\n"),
            b"FAIL\n"
        );
    }

    #[test]
    fn temporary_failure_and_bad_requests_close_without_reply() {
        assert_eq!(exchange(b"PRE . imap temp\n"), b"");
        assert_eq!(exchange(b"BOGUS\n"), b"");
        assert_eq!(exchange(&vec![b'x'; 9000]), b"");
        assert_eq!(
            exchange(b"AUTH 50\nimap\nlogin\n"),
            b"",
            "truncated AUTH, client gone"
        );
    }

    #[test]
    fn socket_is_made_world_writable_in_a_private_directory() {
        let t = tempfile::tempdir().unwrap();
        let rc = courier_config::Vars::with_env(
            vec![(
                "authdaemonvar".into(),
                t.path().join("run").display().to_string(),
            )],
            vec![],
        );
        let settings = AuthdaemonSettings::from_vars("rc".into(), rc);
        let _l = bind(&settings).unwrap();
        let meta = fs::metadata(&settings.socket).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o777);
        assert_eq!(
            fs::metadata(t.path().join("run")).unwrap().mode() & 0o777,
            0o750
        );
        assert!(!settings.socket.with_extension("tmp").exists());
    }
}
