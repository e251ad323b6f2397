//! The pre-authentication split (STYLE.md §3, OpenSSH's sshd-auth model): the
//! dialogue with the client, every byte of which is untrusted, runs in a child
//! process that has already dropped to an unprivileged user
//! (`LOGIN_PREAUTH_USER`, default `nobody`); the root parent (the monitor) keeps
//! only what needs root: asking authdaemond, STARTTLS (couriertls must read the
//! key as root would), home creation, the drop to the account and the exec.
//!
//! They speak over a `SOCK_SEQPACKET` socket pair, one request and one reply at a
//! time, in a small length-prefixed format with fixed limits. The monitor treats
//! a malformed request as fatal (it kills the child and exits 1). It computes the
//! service, checks control characters and keeps the TLS state itself, so the
//! child cannot claim anything it could not claim over the network; and it
//! enforces the 5-second delay between failed logins, so a compromised child
//! cannot guess passwords faster than a client could.
//!
//! Without root (tests), or with `LOGIN_PREAUTH_USER` set but empty, there is no
//! split and everything runs in one process, as in Courier.

use crate::capability::{self, Protocol};
use crate::env::Environ;
use crate::finish::Chain;
use crate::names;
use crate::sasl::{AuthRequest, Cram};
use crate::session::{Attempt, AuthResult, Backend, Logger, Outcome, Peer};
use courier_privsep::identity::{self, Identity};
use courier_privsep::{Forked, fork};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// Longest message either side accepts.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Longest field.
pub const MAX_FIELD: usize = 16 * 1024;
/// Minimum time between a rejected attempt and the next one (Courier's sleep).
pub const FAILURE_DELAY: Duration = Duration::from_secs(5);
/// `LOGIN_PREAUTH_USER`: the user the dialogue runs as (default `nobody`).
pub const LOGIN_PREAUTH_USER: &str = "LOGIN_PREAUTH_USER";

/// Child → monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Check these credentials; on success become the account.
    Auth {
        /// The request (name mapping and `DEFDOMAIN` applied by the child; the
        /// monitor re-checks control characters).
        request: AuthRequest,
        /// IMAP: the tag.
        tag: Option<Vec<u8>>,
        /// POP3: UTF8 was enabled.
        utf8: bool,
        /// `user=...` or `method=...` for a `LOGIN FAILED` line the monitor may
        /// have to write after the child is gone.
        label: Vec<u8>,
    },
    /// Start couriertls on the connection.
    StartTls,
}

/// Monitor → child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Wrong credentials (the child waits and answers "Login failed").
    Rejected,
    /// A temporary problem: the child ends the session.
    Temporary(String),
    /// The monitor answered the client; the child exits with this code.
    Ended(i32),
    /// Logged in: the child exits 0 at once, the monitor takes over.
    Success,
    /// couriertls runs; the new client descriptor comes with this message.
    TlsOk(Vec<(String, String)>),
    /// couriertls failed with this text.
    TlsFailed(String),
}

/// A malformed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed pre-authentication message")]
pub struct Malformed;

struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        let b = &b[..b.len().min(MAX_FIELD)];
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }
}

struct In<'a>(&'a [u8]);

impl In<'_> {
    fn u8(&mut self) -> Result<u8, Malformed> {
        let (&b, rest) = self.0.split_first().ok_or(Malformed)?;
        self.0 = rest;
        Ok(b)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, Malformed> {
        if self.0.len() < 4 {
            return Err(Malformed);
        }
        let n = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]) as usize;
        if n > MAX_FIELD || self.0.len() < 4 + n {
            return Err(Malformed);
        }
        let v = self.0[4..4 + n].to_vec();
        self.0 = &self.0[4 + n..];
        Ok(v)
    }
    fn text(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.bytes()?).map_err(|_| Malformed)
    }
    fn end(&self) -> Result<(), Malformed> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

impl Request {
    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out(Vec::with_capacity(256));
        match self {
            Request::StartTls => {
                o.u8(b'T');
            }
            Request::Auth {
                request,
                tag,
                utf8,
                label,
            } => {
                o.u8(b'A');
                match request {
                    AuthRequest::Login { userid, password } => {
                        o.u8(b'L').bytes(userid).bytes(password);
                    }
                    AuthRequest::Cram {
                        alg,
                        challenge,
                        response,
                    } => {
                        let a = match alg {
                            Cram::Md5 => 0,
                            Cram::Sha1 => 1,
                            Cram::Sha256 => 2,
                        };
                        o.u8(b'C').u8(a).bytes(challenge.as_bytes()).bytes(response);
                    }
                    AuthRequest::External { id } => {
                        o.u8(b'X').bytes(id);
                    }
                }
                match tag {
                    Some(t) => o.u8(1).bytes(t),
                    None => o.u8(0),
                };
                o.u8(u8::from(*utf8)).bytes(label);
            }
        }
        o.0
    }

    /// Parses the wire form, strictly.
    pub fn decode(b: &[u8]) -> Result<Request, Malformed> {
        let mut i = In(b);
        let r = match i.u8()? {
            b'T' => Request::StartTls,
            b'A' => {
                let request = match i.u8()? {
                    b'L' => AuthRequest::Login {
                        userid: i.bytes()?,
                        password: i.bytes()?,
                    },
                    b'C' => {
                        let alg = match i.u8()? {
                            0 => Cram::Md5,
                            1 => Cram::Sha1,
                            2 => Cram::Sha256,
                            _ => return Err(Malformed),
                        };
                        AuthRequest::Cram {
                            alg,
                            challenge: i.text()?,
                            response: i.bytes()?,
                        }
                    }
                    b'X' => AuthRequest::External { id: i.bytes()? },
                    _ => return Err(Malformed),
                };
                let tag = match i.u8()? {
                    0 => None,
                    1 => Some(i.bytes()?),
                    _ => return Err(Malformed),
                };
                let utf8 = match i.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(Malformed),
                };
                Request::Auth {
                    request,
                    tag,
                    utf8,
                    label: i.bytes()?,
                }
            }
            _ => return Err(Malformed),
        };
        i.end()?;
        Ok(r)
    }
}

impl Reply {
    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out(Vec::with_capacity(64));
        match self {
            Reply::Rejected => {
                o.u8(b'R');
            }
            Reply::Temporary(t) => {
                o.u8(b't').bytes(t.as_bytes());
            }
            Reply::Ended(c) => {
                o.u8(b'E').bytes(c.to_string().as_bytes());
            }
            Reply::Success => {
                o.u8(b'S');
            }
            Reply::TlsOk(vars) => {
                o.u8(b'O')
                    .bytes((vars.len().min(255) as u8).to_string().as_bytes());
                for (k, v) in vars.iter().take(255) {
                    o.bytes(k.as_bytes()).bytes(v.as_bytes());
                }
            }
            Reply::TlsFailed(t) => {
                o.u8(b'F').bytes(t.as_bytes());
            }
        }
        o.0
    }

    /// Parses the wire form.
    pub fn decode(b: &[u8]) -> Result<Reply, Malformed> {
        let mut i = In(b);
        let r = match i.u8()? {
            b'R' => Reply::Rejected,
            b't' => Reply::Temporary(i.text()?),
            b'E' => Reply::Ended(i.text()?.parse().map_err(|_| Malformed)?),
            b'S' => Reply::Success,
            b'O' => {
                let n: usize = i.text()?.parse().map_err(|_| Malformed)?;
                let mut v = Vec::with_capacity(n.min(255));
                for _ in 0..n.min(255) {
                    v.push((i.text()?, i.text()?));
                }
                Reply::TlsOk(v)
            }
            b'F' => Reply::TlsFailed(i.text()?),
            _ => return Err(Malformed),
        };
        i.end()?;
        Ok(r)
    }
}

/// The unprivileged user for the dialogue, if the split applies: root, and
/// `LOGIN_PREAUTH_USER` (default `nobody`) names a non-root account. `Err` is a
/// warning to log (the split is then skipped).
pub fn preauth_identity(env: &Environ) -> Result<Option<Identity>, String> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let name = match env.get(LOGIN_PREAUTH_USER) {
        Some(v) if v.is_empty() => return Ok(None),
        Some(v) => v.to_string_lossy().into_owned(),
        None => "nobody".to_string(),
    };
    match nix::unistd::User::from_name(&name) {
        Ok(Some(u)) if !u.uid.is_root() && u.gid.as_raw() != 0 => Ok(Some(Identity {
            uid: u.uid,
            gid: u.gid,
            groups: identity::Groups::PrimaryOnly,
        })),
        Ok(Some(_)) => Err(format!(
            "WARN: {LOGIN_PREAUTH_USER}={name} is root; the dialogue runs as root"
        )),
        _ => Err(format!(
            "WARN: {LOGIN_PREAUTH_USER}={name}: no such user; the dialogue runs as root"
        )),
    }
}

/// The child's back end: everything privileged is a request to the monitor.
pub struct Remote {
    sock: OwnedFd,
}

impl Remote {
    fn ask(&mut self, req: &Request) -> Option<(Reply, Vec<OwnedFd>)> {
        identity::send_message(&self.sock, &req.encode(), &[]).ok()?;
        let (bytes, fds) = identity::recv_message(&self.sock, MAX_MESSAGE, 1).ok()??;
        Some((Reply::decode(&bytes).ok()?, fds))
    }
}

impl Backend for Remote {
    fn authenticate(&mut self, a: &Attempt<'_>, _log: &mut Logger) -> AuthResult {
        let label = match a.request {
            AuthRequest::Login { userid, .. } => [&b"user="[..], userid].concat(),
            _ => b"method=".to_vec(),
        };
        let req = Request::Auth {
            request: a.request.clone(),
            tag: a.tag.map(<[u8]>::to_vec),
            utf8: a.utf8,
            label,
        };
        match self.ask(&req) {
            Some((Reply::Rejected, _)) => AuthResult::Rejected,
            Some((Reply::Temporary(t), _)) => AuthResult::Temporary(t),
            Some((Reply::Ended(c), _)) => AuthResult::Ended(c),
            Some((Reply::Success, _)) => AuthResult::LoggedIn,
            _ => AuthResult::Ended(1),
        }
    }

    fn starttls(&mut self, _env: &Environ) -> Result<Vec<(String, String)>, String> {
        match self.ask(&Request::StartTls) {
            Some((Reply::TlsOk(vars), fds)) if fds.len() == 1 => {
                nix::unistd::dup2_stdin(&fds[0]).map_err(|e| e.desc().to_string())?;
                nix::unistd::dup2_stdout(&fds[0]).map_err(|e| e.desc().to_string())?;
                Ok(vars)
            }
            Some((Reply::TlsFailed(msg), _)) => Err(msg),
            _ => Err("500 Error starting couriertls.".into()),
        }
    }

    fn delay(&mut self) {
        // After a rejection the monitor enforces the delay before it answers the
        // next request; the child waits too, so the client sees Courier's timing.
        std::thread::sleep(FAILURE_DELAY);
    }
}

/// Ends the monitor the way the child ended (exit code, or the same signal).
fn mirror(status: WaitStatus) -> ! {
    match status {
        WaitStatus::Exited(_, c) => std::process::exit(c),
        WaitStatus::Signaled(_, sig, _) => {
            let _ = nix::sys::signal::raise(sig);
            std::process::exit(1)
        }
        _ => std::process::exit(1),
    }
}

fn reap(child: Pid, patience: Duration) -> WaitStatus {
    use nix::sys::wait::WaitPidFlag;
    let deadline = Instant::now() + patience;
    // The child is normally exiting already: start with very short pauses so a
    // successful login is not held up (a fixed 10 ms cost ~15 ms per login).
    let mut pause = Duration::from_micros(100);
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            }
            Ok(s) => return s,
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return WaitStatus::Exited(child, 1),
        }
    }
}

/// The root side.
struct Monitor<'a> {
    chain: &'a Chain,
    env: Environ,
    sock: OwnedFd,
    child: Pid,
    log: Logger,
    last_reject: Option<Instant>,
}

impl Monitor<'_> {
    fn reply(&self, r: &Reply, fds: &[std::os::fd::BorrowedFd<'_>]) {
        let _ = identity::send_message(&self.sock, &r.encode(), fds);
    }

    fn run(mut self) -> ! {
        loop {
            let msg = match identity::recv_message(&self.sock, MAX_MESSAGE, 0) {
                Ok(Some((bytes, _))) => Request::decode(&bytes),
                Ok(None) => mirror(reap(self.child, Duration::from_secs(3600))),
                Err(_) => Err(Malformed),
            };
            match msg {
                Err(Malformed) => {
                    self.log
                        .line("ERR: pre-authentication process sent a malformed request; ending the session");
                    let _ = nix::sys::signal::kill(self.child, nix::sys::signal::Signal::SIGKILL);
                    let _ = reap(self.child, Duration::from_secs(5));
                    std::process::exit(1)
                }
                Ok(Request::StartTls) => self.starttls(),
                Ok(Request::Auth {
                    request,
                    tag,
                    utf8,
                    label,
                }) => self.auth(request, tag, utf8, label),
            }
        }
    }

    fn starttls(&mut self) {
        let p = self.chain.protocol;
        if !capability::have_starttls(&self.env, p) {
            return self.reply(&Reply::TlsFailed("TLS support not available.".into()), &[]);
        }
        match crate::starttls::start(&self.env) {
            Ok(vars) => {
                capability::after_starttls(&mut self.env, p, vars.clone());
                let stdin = std::io::stdin();
                self.reply(&Reply::TlsOk(vars), &[stdin.as_fd()]);
            }
            Err(msg) => self.reply(&Reply::TlsFailed(msg), &[]),
        }
    }

    fn auth(&mut self, request: AuthRequest, tag: Option<Vec<u8>>, utf8: bool, label: Vec<u8>) {
        if let Some(t) = self.last_reject.take() {
            let wait = (t + FAILURE_DELAY).saturating_duration_since(Instant::now());
            std::thread::sleep(wait);
        }
        let bad_tag = tag
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.len() > crate::imap::MAX_ATOM || t.contains(&0));
        let control = match &request {
            AuthRequest::Login { userid, password } => {
                names::has_control(userid) || names::has_control(password)
            }
            AuthRequest::Cram { response, .. } => names::has_control(response),
            AuthRequest::External { id } => names::has_control(id),
        };
        if bad_tag || control {
            self.last_reject = Some(Instant::now());
            return self.reply(&Reply::Rejected, &[]);
        }
        let p = self.chain.protocol;
        let service = crate::session::service(&self.env, p.service());
        let env = self.env.clone();
        let attempt = Attempt {
            service: &service,
            request: &request,
            env: &env,
            tag: tag.as_deref(),
            utf8,
        };
        let checked = self
            .chain
            .ask(&attempt, &mut self.log)
            .and_then(|info| self.chain.prepare(&info, &attempt, &mut self.log));
        let plan = match checked {
            Ok(plan) => plan,
            Err(AuthResult::Rejected) => {
                self.last_reject = Some(Instant::now());
                return self.reply(&Reply::Rejected, &[]);
            }
            Err(AuthResult::Temporary(t)) => return self.reply(&Reply::Temporary(t), &[]),
            Err(AuthResult::Ended(c)) => return self.reply(&Reply::Ended(c), &[]),
            Err(AuthResult::LoggedIn) => return self.reply(&Reply::Ended(0), &[]),
        };
        // The child lets go of the connection before anything happens as the account.
        self.reply(&Reply::Success, &[]);
        let _ = reap(self.child, Duration::from_secs(5));
        let failure = self.chain.execute(plan, &attempt, &mut self.log);
        let code = match failure {
            AuthResult::Temporary(err) => {
                let peer = Peer::from_env(&env);
                let mut line = b"INFO: LOGIN FAILED, ".to_vec();
                line.extend_from_slice(&label);
                line.extend_from_slice(
                    format!(", ip=[{}], port=[{}]", peer.ip, peer.port).as_bytes(),
                );
                self.log.safe(&line);
                self.log.line(&format!("ERR: authentication error: {err}"));
                let text: &[u8] = match p {
                    Protocol::Imap => b"* BYE Temporary problem, please try again later\r\n",
                    Protocol::Pop3 => b"-ERR Temporary problem, please try again later\r\n",
                };
                use crate::io::Transport;
                let _ = crate::io::Stdio.write_all(text);
                1
            }
            AuthResult::Ended(c) => c,
            AuthResult::Rejected | AuthResult::LoggedIn => 1,
        };
        std::process::exit(code)
    }
}

/// Runs `dialogue` split: the child drops to `preauth` and speaks with the client,
/// this process stays root and answers. Falls back to one process if the socket
/// pair or the fork cannot be made.
pub fn run(
    chain: Chain,
    env: Environ,
    preauth: Identity,
    dialogue: impl FnOnce(&mut dyn Backend, Environ) -> Outcome,
    end: fn(Outcome) -> !,
) -> ! {
    let mut log = Logger::stderr();
    let pair = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    );
    let (mon, child_sock) = match pair {
        Ok(p) => p,
        Err(e) => {
            log.line(&format!(
                "ERR: socketpair: {}; the dialogue runs as root",
                e.desc()
            ));
            let mut chain = chain;
            end(dialogue(&mut chain, env))
        }
    };
    match fork() {
        Ok(Forked::Child) => {
            drop(mon);
            // alarm() is not inherited across fork: the child sets its own.
            nix::unistd::alarm::set(crate::programs::PREAUTH_LIMIT.as_secs() as u32 + 2);
            if let Err(e) = identity::become_user(&preauth) {
                log.line(&format!(
                    "ERR: pre-authentication privilege drop failed: {e}"
                ));
                std::process::exit(1);
            }
            let _ = nix::unistd::chdir("/");
            let mut remote = Remote { sock: child_sock };
            end(dialogue(&mut remote, env))
        }
        Ok(Forked::Parent(child)) => {
            drop(child_sock);
            Monitor {
                chain: &chain,
                env,
                sock: mon,
                child,
                log,
                last_reject: None,
            }
            .run()
        }
        Err(e) => {
            log.line(&format!(
                "ERR: fork: {}; the dialogue runs as root",
                e.desc()
            ));
            drop(mon);
            drop(child_sock);
            let mut chain = chain;
            end(dialogue(&mut chain, env))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let reqs = [
            Request::StartTls,
            Request::Auth {
                request: AuthRequest::Login {
                    userid: b"alice".to_vec(),
                    password: b"p\xffw".to_vec(),
                },
                tag: Some(b"a1".to_vec()),
                utf8: false,
                label: b"user=alice".to_vec(),
            },
            Request::Auth {
                request: AuthRequest::Cram {
                    alg: Cram::Sha256,
                    challenge: "PDEyMzRAaD4=".into(),
                    response: b"YWxpY2UgMDA=".to_vec(),
                },
                tag: None,
                utf8: true,
                label: b"method=CRAM-SHA256".to_vec(),
            },
            Request::Auth {
                request: AuthRequest::External {
                    id: b"x@y".to_vec(),
                },
                tag: None,
                utf8: false,
                label: Vec::new(),
            },
        ];
        for r in reqs {
            assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
        let replies = [
            Reply::Rejected,
            Reply::Temporary("No such file or directory".into()),
            Reply::Ended(-3),
            Reply::Success,
            Reply::TlsOk(vec![("TLS_SUBJECT_CN".into(), "alice".into())]),
            Reply::TlsFailed("oops".into()),
        ];
        for r in replies {
            assert_eq!(Reply::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn malformed_requests_are_refused() {
        let good = Request::Auth {
            request: AuthRequest::Login {
                userid: b"a".to_vec(),
                password: b"b".to_vec(),
            },
            tag: Some(b"t".to_vec()),
            utf8: false,
            label: b"user=a".to_vec(),
        }
        .encode();
        assert_eq!(Request::decode(&[]), Err(Malformed));
        assert_eq!(Request::decode(b"Z"), Err(Malformed));
        for cut in 1..good.len() {
            assert_eq!(
                Request::decode(&good[..cut]),
                Err(Malformed),
                "cut at {cut}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Request::decode(&trailing), Err(Malformed));
        // A length that points past the end, or over the field limit.
        let mut huge = vec![b'A', b'L'];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Request::decode(&huge), Err(Malformed));
    }
}
