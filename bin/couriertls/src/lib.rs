//! couriertls: TLS for a program on a socketpair (IMAPS/POP3S) or for a login
//! program's STARTTLS (`-localfd`). See couriertls(1).
//!
//! Process shape (server with PROGRAM): parse settings, create the socketpair and a
//! pipe, fork a *launcher* that keeps the original uid and waits on the pipe; then,
//! in couriertls, read the certificates and keys (still privileged), drop to
//! `-user`, run the handshake, send the launcher `TLS_CONNECTED_PROTOCOL` and
//! `TLS_SUBJECT_*` (which it adds to PROGRAM's environment before exec) and pump
//! bytes. The private keys are read after the fork, so only the couriertls process
//! ever holds them, and untrusted TLS bytes are parsed only after the drop.
#![forbid(unsafe_code)]

pub mod cli;
mod client;

use courier_tls::desc::Description;
use courier_tls::pump::{self, Ends, PumpError};
use courier_tls::{CertStore, TlsSettings, policy::Policy};
use nix::unistd::{Uid, User};
use std::ffi::{CString, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Largest environment message the launcher accepts from couriertls.
const MAX_ENV_MESSAGE: usize = 64 * 1024;

/// Where error lines go: the `-statusfd` descriptor until negotiation ends, then stderr.
pub struct ErrOut {
    status: Option<std::fs::File>,
    remote_ip: Option<String>,
}

impl ErrOut {
    /// Writes one line: `LEVEL: ip=[addr], message` (the `ip=[…]` part when
    /// `TCPREMOTEIP` is set), as Courier's `ssl_errmsg()` does plus the severity word.
    pub fn line(&mut self, level: &str, message: &str) {
        let ip = match &self.remote_ip {
            Some(ip) => format!("ip=[{ip}], "),
            None => String::new(),
        };
        let text = format!("{level}: {ip}{}\n", courier_common::log_text(message));
        let written = match &mut self.status {
            Some(f) => f.write_all(text.as_bytes()).is_ok(),
            None => false,
        };
        if !written {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }

    /// Closes the status descriptor (the caller reads EOF: success).
    pub fn negotiated(&mut self) {
        self.status = None;
    }
}

fn take_fd(spec: &str) -> Result<OwnedFd, String> {
    let n = cli::atoi(spec);
    let fd = courier_privsep::inherited_fd(n).map_err(|e| format!("{n}: {}", e.desc()))?;
    set_cloexec(fd.as_fd());
    Ok(fd)
}

fn set_cloexec(fd: BorrowedFd<'_>) {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
}

/// The network side, always as a descriptor we own (`-tcpd`: a duplicate of fd 0).
struct Net(OwnedFd);

impl Net {
    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Runs couriertls; returns the exit code.
pub fn run(argv0: &str, args: &[OsString]) -> u8 {
    let (opts, program) = match cli::parse(args) {
        Ok(v) => v,
        Err(word) => {
            eprintln!("{argv0}: Invalid option: {word}");
            return 1;
        }
    };
    if let Some(p) = &opts.protocol
        && !matches!(p.as_str(), "smtp" | "imap" | "pop3")
    {
        eprintln!("--protocol={p} - unknown protocol.");
        return 1;
    }
    let settings = TlsSettings::from_env();
    let mut err = ErrOut {
        status: None,
        remote_ip: settings.remote_ip.clone(),
    };
    if let Some(spec) = &opts.statusfd {
        match take_fd(spec) {
            Ok(fd) => err.status = Some(std::fs::File::from(fd)),
            Err(e) => eprintln!("{argv0}: -statusfd={e}"),
        }
    }
    let net = if opts.tcpd.is_some() {
        // Courier: the network is fd 0; fd 1 becomes a copy of stderr.
        let _ = nix::unistd::dup2_stdout(std::io::stderr());
        match nix::unistd::dup(std::io::stdin()) {
            Ok(fd) => {
                set_cloexec(fd.as_fd());
                Net(fd)
            }
            Err(e) => {
                err.line("ERR", &format!("couriertls: dup: {}", e.desc()));
                return 1;
            }
        }
    } else if let Some(spec) = &opts.remotefd {
        match take_fd(spec) {
            Ok(fd) => Net(fd),
            Err(e) => {
                err.line("ERR", &format!("couriertls: -remotefd={e}"));
                return 1;
            }
        }
    } else if let (Some(host), Some(port)) = (&opts.host, &opts.port) {
        match client::connect(host, port) {
            Ok(fd) => Net(fd),
            Err(e) => {
                err.line("ERR", &e);
                return 1;
            }
        }
    } else {
        err.line("ERR", &format!("{argv0}: specify remote location."));
        return 1;
    };
    // TLS writes small records in bursts (handshake flights, short IMAP answers);
    // with Nagle's algorithm each burst waits for the peer's delayed ACK (~40 ms).
    // Not a TCP socket (tests, pipes): nothing to do.
    let _ = nix::sys::socket::setsockopt(&net.0, nix::sys::socket::sockopt::TcpNoDelay, &true);
    let localfd = match &opts.localfd {
        Some(spec) => match take_fd(spec) {
            Ok(fd) => Some(fd),
            Err(e) => {
                err.line("ERR", &format!("couriertls: -localfd={e}"));
                return 1;
            }
        },
        None => None,
    };
    let printx509 = match &opts.printx509 {
        Some(spec) => take_fd(spec).ok().map(std::fs::File::from),
        None => None,
    };
    if let Some(proto) = &opts.protocol
        && let Err(e) = client::starttls_dialogue(net.fd(), proto)
    {
        err.line("ERR", &e);
        return 1;
    }
    // Settings errors that need no secrets are reported before anything forks.
    let policy = match Policy::from_settings(&settings) {
        Ok(p) => p,
        Err(e) => {
            err.line("ERR", &format!("couriertls: {e}"));
            return 1;
        }
    };

    // PROGRAM's launcher, forked before any key is read.
    let mut launcher: Option<(OwnedFd, OwnedFd)> = None; // (our socketpair end, pipe writer)
    if localfd.is_none() && !program.is_empty() {
        match start_launcher(&program, &net) {
            Ok(v) => launcher = Some(v),
            Err(e) => {
                err.line("ERR", &e);
                return 1;
            }
        }
    }

    let conn: Result<(rustls::Connection, Option<Arc<courier_tls::SniResolver>>), String> =
        if opts.server.is_some() {
            let provider = Arc::new(policy.provider());
            CertStore::load(&settings, provider)
                .and_then(|store| courier_tls::server_config(&settings, store))
                .map_err(|e| format!("couriertls: {e}"))
                .and_then(|server| {
                    rustls::ServerConnection::new(server.config.clone())
                        .map(|c| (c.into(), Some(server.resolver.clone())))
                        .map_err(|e| format!("couriertls: {e}"))
                })
        } else {
            client::connection(&settings, &policy, &opts).map(|c| (c, None))
        };
    let (mut conn, resolver) = match conn {
        Ok(v) => v,
        Err(e) => {
            err.line("ERR", &e);
            return 1;
        }
    };
    if let Some(user) = &opts.user
        && let Err(e) = become_user(user)
    {
        err.line("CRIT", &format!("couriertls: {e}"));
        return 1;
    }

    let net_fd = net.fd();
    let _ = nix::sys::socket::setsockopt(&net_fd, nix::sys::socket::sockopt::KeepAlive, &true);
    if let Err(e) = pump::set_nonblocking(net_fd) {
        err.line(
            "ERR",
            &format!("couriertls: fcntl: {}", courier_common::strerror(&e)),
        );
        return 1;
    }
    if let Err(e) = pump::handshake(&mut conn, net_fd, settings.handshake_timeout) {
        let cert_error = resolver.as_ref().and_then(|r| r.chosen().error);
        match (e, cert_error) {
            (_, Some(cert)) => err.line("ERR", &format!("couriertls: {cert}")),
            (PumpError::Eof, _) => err.line("DEBUG", "Unexpected SSL connection shutdown."),
            (e @ PumpError::Timeout(_), _) => err.line("WARN", &e.to_string()),
            (e, _) => err.line("ERR", &e.to_string()),
        }
        return 1;
    }

    // Negotiated: describe it, as Courier's verify_connection() does.
    let key_alg = resolver.as_ref().and_then(|r| r.chosen().algorithm);
    let desc = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
        (Some(v), Some(s)) => Description::new(v, s.suite(), key_alg),
        _ => Description {
            version: "(unknown)".into(),
            bits: 0,
            cipher: "(unknown)".into(),
        },
    };
    let peer: Vec<courier_tls::x509::CertInfo> = conn
        .peer_certificates()
        .unwrap_or(&[])
        .iter()
        .filter_map(|c| courier_tls::x509::parse_certificate(c))
        .collect();
    if let Some(mut f) = printx509 {
        let _ = f.write_all(courier_tls::x509::dump(&peer).as_bytes());
        let _ = f.write_all(desc.dump().as_bytes());
    }
    err.negotiated();
    let mut env = vec![(
        "TLS_CONNECTED_PROTOCOL".to_string(),
        desc.connected_protocol(),
    )];
    // A server only sees a peer certificate that its verifier accepted.
    if opts.server.is_some()
        && let Some(first) = peer.first()
    {
        env.extend(courier_tls::x509::subject_env(first));
    }

    let result = match (launcher, &localfd) {
        (Some((ours, pipe)), _) => {
            // Closing the pipe tells the launcher the message is complete.
            if send_env(pipe, &env).is_err() {
                return 1;
            }
            let _ = pump::set_nonblocking(ours.as_fd());
            pump::pump(
                &mut conn,
                Ends {
                    net: net_fd,
                    plain_in: ours.as_fd(),
                    plain_out: ours.as_fd(),
                },
            )
        }
        (None, Some(local)) => {
            let _ = pump::set_nonblocking(local.as_fd());
            pump::pump(
                &mut conn,
                Ends {
                    net: net_fd,
                    plain_in: local.as_fd(),
                    plain_out: local.as_fd(),
                },
            )
        }
        (None, None) => {
            let (i, o) = (std::io::stdin(), std::io::stdout());
            let _ = pump::set_nonblocking(i.as_fd());
            let _ = pump::set_nonblocking(o.as_fd());
            pump::pump(
                &mut conn,
                Ends {
                    net: net_fd,
                    plain_in: i.as_fd(),
                    plain_out: o.as_fd(),
                },
            )
        }
    };
    match result {
        Ok(()) => {}
        Err(PumpError::Tls(e)) => err.line("ERR", &e.to_string()),
        Err(_) => err.line("DEBUG", "Unexpected SSL connection shutdown."),
    }
    0
}

/// Forks the launcher: it keeps the original uid, waits for the environment
/// message, and execs PROGRAM on the socketpair. Returns our socketpair end and the
/// pipe to the launcher.
fn start_launcher(program: &[OsString], net: &Net) -> Result<(OwnedFd, OwnedFd), String> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| format!("couriertls: socketpair: {}", e.desc()))?;
    let (pipe_r, pipe_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("couriertls: pipe: {}", e.desc()))?;
    // PROGRAM must not inherit the raw network descriptor.
    set_cloexec(net.fd());
    match courier_privsep::fork().map_err(|e| format!("couriertls: fork: {}", e.desc()))? {
        courier_privsep::Forked::Child => {
            drop(ours);
            drop(pipe_w);
            std::process::exit(launch(program, theirs, pipe_r))
        }
        courier_privsep::Forked::Parent(_) => Ok((ours, pipe_w)),
    }
}

/// The launcher's body (in the child). Exits 1 without a word when couriertls
/// ended without sending the environment (it has already logged why).
fn launch(program: &[OsString], sock: OwnedFd, pipe: OwnedFd) -> i32 {
    let mut msg = Vec::new();
    let mut reader = std::fs::File::from(pipe).take(MAX_ENV_MESSAGE as u64 + 1);
    if reader.read_to_end(&mut msg).is_err() || msg.len() > MAX_ENV_MESSAGE {
        return 1;
    }
    let Some(env) = parse_env(&msg) else {
        if !msg.is_empty() {
            eprintln!("ERR: couriertls: malformed message from the TLS process");
        }
        return 1;
    };
    let Ok(sock2) = sock.try_clone() else {
        return 1;
    };
    let err = Command::new(&program[0])
        .args(&program[1..])
        .envs(env)
        .stdin(Stdio::from(sock))
        .stdout(Stdio::from(sock2))
        .exec();
    eprintln!(
        "{}: {}",
        program[0].to_string_lossy(),
        courier_common::strerror(&err)
    );
    1
}

/// `NAME=VALUE\0`... then an empty entry; names must be `TLS_*`. `None` when
/// incomplete or malformed: a bad message from the less privileged side is fatal.
pub fn parse_env(msg: &[u8]) -> Option<Vec<(String, String)>> {
    let body = msg
        .strip_suffix(b"\0\0")
        .or_else(|| (msg == b"\0").then_some(&b""[..]))?;
    let mut out = Vec::new();
    if body.is_empty() {
        return Some(out);
    }
    for entry in body.split(|&b| b == 0) {
        let text = std::str::from_utf8(entry).ok()?;
        let (name, value) = text.split_once('=')?;
        let valid_name = name.starts_with("TLS_")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !valid_name {
            return None;
        }
        out.push((name.to_string(), value.to_string()));
    }
    Some(out)
}

/// Encodes the environment message for [`parse_env`].
pub fn encode_env(env: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in env {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend(v.bytes().filter(|&b| b != 0));
        out.push(0);
    }
    out.push(0);
    out
}

fn send_env(pipe: OwnedFd, env: &[(String, String)]) -> std::io::Result<()> {
    std::fs::File::from(pipe).write_all(&encode_env(env))
}

/// Drops couriertls to USER: supplementary groups, gid, uid, then proves root
/// cannot be regained.
fn become_user(name: &str) -> Result<(), String> {
    let user = User::from_name(name)
        .map_err(|e| format!("getpwnam({name}): {}", e.desc()))?
        .ok_or_else(|| format!("getpwnam({name}): no such user"))?;
    let cname = CString::new(name).map_err(|_| format!("{name}: bad user name"))?;
    let step = |what: &str, r: nix::Result<()>| r.map_err(|e| format!("{what}: {}", e.desc()));
    step("initgroups", nix::unistd::initgroups(&cname, user.gid))?;
    step(
        "setresgid",
        nix::unistd::setresgid(user.gid, user.gid, user.gid),
    )?;
    step(
        "setresuid",
        nix::unistd::setresuid(user.uid, user.uid, user.uid),
    )?;
    if !user.uid.is_root()
        && (nix::unistd::setuid(Uid::from_raw(0)).is_ok()
            || nix::unistd::geteuid() != user.uid
            || nix::unistd::getegid() != user.gid)
    {
        return Err(format!("{name}: privileges not dropped"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_message_round_trip_and_strictness() {
        let env = vec![
            (
                "TLS_CONNECTED_PROTOCOL".to_string(),
                "TLS1.3,256bits,X".to_string(),
            ),
            ("TLS_SUBJECT_CN".to_string(), "a=b c".to_string()),
        ];
        assert_eq!(parse_env(&encode_env(&env)), Some(env));
        assert_eq!(parse_env(&encode_env(&[])), Some(vec![]));
        // Incomplete (couriertls died mid-write), foreign names, junk: refused.
        assert_eq!(parse_env(b""), None);
        assert_eq!(parse_env(b"TLS_X=1\0"), None);
        assert_eq!(parse_env(b"PATH=/tmp\0\0"), None);
        assert_eq!(parse_env(b"TLS_X\0\0"), None);
        assert_eq!(parse_env(b"TLS_A=1\0\0TLS_B=2\0\0"), None);
    }
}
