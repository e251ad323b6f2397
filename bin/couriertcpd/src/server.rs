//! The accept loop: one single-threaded process polling its listening sockets, a
//! signalfd and the connections still owing a PROXY header.
//!
//! Per accepted connection, in the daemon: SO_KEEPALIVE on, lingering off; under
//! `-haproxy` the header is read without blocking anybody (peeked, then exactly its
//! bytes consumed, so the client's first bytes stay in the socket); the access file
//! (`-accesslocal`: the local address and port first); `MAXCPERIP`, `-maxperip` and
//! `-maxperc`; then fork. The child ([`crate::child`]) does the slow lookups and execs.
//! While every `-maxprocs` slot is busy the listeners are not polled, so new clients
//! wait in the kernel's backlog, as with Courier.
//!
//! Signals (blocked, read from a signalfd): SIGCHLD reaps; SIGHUP marks the access file
//! for re-opening before the next connection's lookup; SIGTERM and SIGINT send SIGTERM
//! to the process group (the children) and exit 0.

use crate::child::{self, ChildSettings, Conn};
use crate::cli::Config;
use courier_common::{Severity, log};
use courier_net::access::{self, Access, AccessDb};
use courier_net::addr::{ip_text, normalize};
use courier_net::limits::{Limits, Refusal, Table};
use courier_net::proxy::{self, Header, Parse};
use courier_privsep::{Forked, fork};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, killpg};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpgrp, getpid};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A connection still owing its PROXY header.
struct Pending {
    stream: TcpStream,
    peer: (Ipv6Addr, u16),
    got: Vec<u8>,
    deadline: Instant,
}

/// The daemon's state.
pub struct Server {
    config: Config,
    listeners: Vec<TcpListener>,
    signals: SignalFd,
    table: Table,
    access: Option<AccessDb>,
    reload: bool,
    pending: Vec<Pending>,
    scratch: Vec<u8>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The signals the daemon handles through its signalfd.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
    ] {
        set.add(s);
    }
    set
}

/// Opens the access file, logging (and carrying on without it) as Courier does.
fn open_access(path: &std::path::Path) -> Option<AccessDb> {
    match AccessDb::open(path) {
        Ok(db) => Some(db),
        Err(e) => {
            // Courier: perror(accessarg), then every connection is allowed.
            log(Severity::Err, e);
            None
        }
    }
}

impl Server {
    /// Takes over the bound listeners; signals must already be blocked.
    pub fn new(config: Config, listeners: Vec<TcpListener>) -> Result<Server, Errno> {
        let signals = SignalFd::with_flags(
            &handled_signals(),
            SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
        )?;
        let mut limits = Limits::with_maxprocs(config.maxprocs);
        limits.maxperip = config.maxperip;
        if let Some(w) = config.warn {
            limits.warn = w;
        }
        if let Some(c) = config.maxperc {
            limits.maxperc = c;
        }
        let access = config.access.as_deref().and_then(open_access);
        if config.accesslocal && config.access.is_none() {
            eprintln!("-accesslocal requires -access");
        }
        Ok(Server {
            config,
            listeners,
            signals,
            table: Table::new(limits),
            access,
            reload: false,
            pending: Vec::new(),
            scratch: vec![0; proxy::V2_MAX_LEN],
        })
    }

    fn busy(&self) -> usize {
        self.table.len() + self.pending.len()
    }

    /// Serves until SIGTERM/SIGINT.
    pub fn run(&mut self) -> ! {
        loop {
            let accepting = self.busy() < self.config.maxprocs;
            let now = Instant::now();
            let timeout = self
                .pending
                .iter()
                .map(|p| p.deadline.saturating_duration_since(now))
                .min()
                .map(|d| {
                    PollTimeout::try_from(d.as_millis().saturating_add(1).min(60_000) as i32)
                        .unwrap_or(PollTimeout::MAX)
                })
                .unwrap_or(PollTimeout::NONE);
            let (sig_ready, ready_listeners, ready_pending) = {
                let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
                if accepting {
                    fds.extend(
                        self.listeners
                            .iter()
                            .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN)),
                    );
                }
                fds.extend(
                    self.pending
                        .iter()
                        .map(|p| PollFd::new(p.stream.as_fd(), PollFlags::POLLIN)),
                );
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        log(Severity::Err, format!("poll: {}", e.desc()));
                        continue;
                    }
                }
                let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
                let sig = ready(&fds[0]);
                let nl = if accepting { self.listeners.len() } else { 0 };
                let listeners: Vec<usize> = (0..nl).filter(|i| ready(&fds[1 + i])).collect();
                let pending: Vec<usize> = (0..self.pending.len())
                    .filter(|i| ready(&fds[1 + nl + i]))
                    .collect();
                (sig, listeners, pending)
            };
            if sig_ready {
                self.signals_ready();
            }
            self.pending_ready(&ready_pending);
            for i in ready_listeners {
                if self.busy() >= self.config.maxprocs {
                    break;
                }
                self.accept(i);
            }
        }
    }

    fn signals_ready(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => self.reap(),
                Ok(Signal::SIGHUP) => self.reload = true,
                Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => self.terminate(),
                _ => {}
            }
        }
    }

    /// SIGTERM to our process group (Courier's `kill(-getpid(), SIGTERM)`), or, if we
    /// could not become a group leader, to each child we know; then exit 0.
    fn terminate(&self) -> ! {
        if getpgrp() == getpid() {
            let _ = killpg(getpgrp(), Signal::SIGTERM);
        } else {
            for pid in self.table.pids() {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        std::process::exit(0);
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => {
                    if let Some(pid) = status.pid() {
                        self.table.remove(pid.as_raw());
                    }
                }
            }
        }
    }

    fn accept(&mut self, i: usize) {
        let (stream, peer) = match self.listeners[i].accept() {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                return;
            }
            Err(e) => {
                log(
                    Severity::Err,
                    format!("accept: {}", courier_common::strerror(&e)),
                );
                return;
            }
        };
        let _ = setsockopt(&stream, sockopt::KeepAlive, &true);
        // Mail protocols are request/response with small writes, often from two
        // processes in turn (login program, then server): without TCP_NODELAY each
        // short answer can wait for the client's delayed ACK (~40 ms).
        let _ = setsockopt(&stream, sockopt::TcpNoDelay, &true);
        let _ = setsockopt(
            &stream,
            sockopt::Linger,
            &libc::linger {
                l_onoff: 0,
                l_linger: 0,
            },
        );
        let peer = normalize(peer);
        match self.config.haproxy {
            Some(timeout) => {
                if stream.set_nonblocking(true).is_ok() {
                    self.pending.push(Pending {
                        stream,
                        peer,
                        got: Vec::new(),
                        deadline: Instant::now() + timeout,
                    });
                }
            }
            None => {
                let local = match stream.local_addr() {
                    Ok(a) => a,
                    Err(_) => return,
                };
                self.dispatch(stream, peer, normalize(local), local);
            }
        }
    }

    /// Advances the PROXY header of ready connections; drops expired ones.
    fn pending_ready(&mut self, ready: &[usize]) {
        let mut done: Vec<(usize, Option<(Header, usize)>)> = Vec::new();
        for &i in ready {
            let p = &mut self.pending[i];
            let want = proxy::V2_MAX_LEN - p.got.len();
            let n = match p.stream.peek(&mut self.scratch[..want]) {
                Ok(0) => {
                    log(
                        Severity::Warn,
                        format!(
                            "PROXY header missing (connection closed), ip=[{}]",
                            ip_text(p.peer.0)
                        ),
                    );
                    done.push((i, None));
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(_) => {
                    done.push((i, None));
                    continue;
                }
            };
            let mut seen = p.got.clone();
            seen.extend_from_slice(&self.scratch[..n]);
            match proxy::parse(&seen) {
                Ok(Parse::Complete { header, len }) => {
                    done.push((i, Some((header, len))));
                }
                Ok(Parse::Incomplete) => {
                    // Every byte so far belongs to the header: consume them.
                    let mut buf = vec![0; n];
                    if p.stream.read_exact(&mut buf).is_err() {
                        done.push((i, None));
                        continue;
                    }
                    p.got.extend_from_slice(&buf);
                }
                Err(e) => {
                    log(
                        Severity::Warn,
                        format!("bad PROXY header, ip=[{}], error=[{e}]", ip_text(p.peer.0)),
                    );
                    done.push((i, None));
                }
            }
        }
        let now = Instant::now();
        for (i, p) in self.pending.iter().enumerate() {
            if p.deadline <= now && !done.iter().any(|(j, _)| *j == i) {
                log(
                    Severity::Warn,
                    format!("PROXY header timeout, ip=[{}]", ip_text(p.peer.0)),
                );
                done.push((i, None));
            }
        }
        done.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        for (i, outcome) in done {
            let p = self.pending.swap_remove(i);
            let Some((header, len)) = outcome else {
                continue;
            };
            // The rest of the header is in the socket (peeked): take exactly it.
            let mut rest = vec![0; len - p.got.len()];
            if p.stream.set_nonblocking(false).is_err()
                || (&p.stream).read_exact(&mut rest).is_err()
            {
                continue;
            }
            let Ok(socket_local) = p.stream.local_addr() else {
                continue;
            };
            let (remote, local) = match header {
                Header::Proxied {
                    source,
                    destination,
                } => (normalize(source), normalize(destination)),
                Header::Local => (p.peer, normalize(socket_local)),
            };
            self.dispatch(p.stream, remote, local, socket_local);
        }
    }

    /// Access rules, limits, fork.
    fn dispatch(
        &mut self,
        mut stream: TcpStream,
        remote: (Ipv6Addr, u16),
        local: (Ipv6Addr, u16),
        socket_local: SocketAddr,
    ) {
        if self.reload {
            self.reload = false;
            if let Some(path) = self.config.access.clone() {
                self.access = open_access(&path);
            }
        }
        let mut vars = Vec::new();
        if let Some(db) = &self.access {
            if self.config.accesslocal {
                match access::check(db, local.0, Some(local.1)) {
                    Ok(v) if v.access == Access::Deny => {
                        log(
                            Severity::Warn,
                            format!(
                                "Connection to {}.{} denied by the access file, ip=[{}]",
                                ip_text(local.0),
                                local.1,
                                ip_text(remote.0)
                            ),
                        );
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => log(Severity::Err, e),
                }
            }
            match access::check(db, remote.0, None) {
                Ok(v) => match v.access {
                    Access::Deny => {
                        log(
                            Severity::Warn,
                            format!(
                                "Connection denied by the access file, ip=[{}], key=[{}]",
                                ip_text(remote.0),
                                v.key.unwrap_or_default()
                            ),
                        );
                        if let Some(msg) = &self.config.denymsg {
                            use std::os::unix::ffi::OsStrExt;
                            let mut text = msg.as_bytes().to_vec();
                            text.push(b'\n');
                            // A fresh socket's send buffer takes a short text at once.
                            let _ = stream.set_nonblocking(true);
                            let _ = stream.write_all(&text);
                        }
                        return;
                    }
                    Access::Allow(v) => vars = v,
                },
                Err(e) => log(Severity::Err, e),
            }
        }
        let maxcperip = vars
            .iter()
            .find(|(n, _)| n == "MAXCPERIP")
            .map(|(_, v)| courier_net::args::atoi(v))
            .and_then(|n| usize::try_from(n).ok());
        match self.table.admit(remote.0, maxcperip) {
            Ok(()) => {}
            Err(Refusal::PerIp) => {
                log(
                    Severity::Alert,
                    format!("Maximum connection limit reached for {}", ip_text(remote.0)),
                );
                return;
            }
            Err(Refusal::PerCBlock) => {
                log(
                    Severity::Warn,
                    format!(
                        "Maximum connection limit per C block reached for {}",
                        ip_text(remote.0)
                    ),
                );
                return;
            }
        }
        match fork() {
            Err(e) => log(Severity::Err, format!("fork: {}", e.desc())),
            Ok(Forked::Child) => {
                let settings = ChildSettings {
                    nodnslookup: self.config.nodnslookup,
                    noidentlookup: self.config.noidentlookup,
                    stderr_socket: self.config.stderr.as_deref()
                        == Some(std::ffi::OsStr::new("socket")),
                    lists: &self.config.lists,
                    drop: self.config.drop.as_ref(),
                    denymsg: self.config.denymsg.as_deref(),
                    program: &self.config.program,
                    args: &self.config.args,
                };
                child::run(
                    Conn {
                        stream,
                        remote,
                        local,
                        socket_local,
                        vars,
                    },
                    &settings,
                );
            }
            Ok(Forked::Parent(pid)) => {
                if let Some(line) = self.table.add(pid.as_raw(), remote.0, now_secs()) {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
    }
}
