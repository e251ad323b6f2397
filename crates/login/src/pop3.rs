//! courierpop3login's pre-authentication POP3 dialogue as courier-pop 1.0.16
//! (Debian 12) speaks it (pop3d-config.md §3, §4, §7): `USER`/`PASS`, `AUTH`
//! (RFC 5034, initial response allowed, `=` for empty), `CAPA`, `STLS`, `UTF8`,
//! `QUIT`.
//!
//! Lines are read like Courier's `fgets` into an 8 KiB buffer: a longer line is
//! cut, the rest discarded in constant memory; bytes after a NUL are ignored; only
//! the first word is upper-cased; arguments are split on space, tab and CR, except
//! that `USER` and `PASS` take the rest of the line (leading blanks included).

use crate::capability::{self, Protocol};
use crate::env::Environ;
use crate::io::{Conn, End, Transport};
use crate::sasl::{self, AuthRequest, Exchange, SaslFailure, Step};
use crate::session::{self, Attempt, AuthResult, Backend, Logger, Peer, Refusal};

/// The longest line Courier's `fgets(buf, BUFSIZ)` returns.
pub const MAX_LINE: usize = 8191;

pub use crate::session::Outcome;

/// A `strtok` over one line.
struct Tok<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Tok<'a> {
    fn next(&mut self, delims: &[u8]) -> Option<&'a [u8]> {
        while self.at < self.s.len() && delims.contains(&self.s[self.at]) {
            self.at += 1;
        }
        if self.at >= self.s.len() {
            return None;
        }
        let start = self.at;
        while self.at < self.s.len() && !delims.contains(&self.s[self.at]) {
            self.at += 1;
        }
        let tok = &self.s[start..self.at];
        if self.at < self.s.len() {
            self.at += 1; // the delimiter is overwritten with NUL
        }
        Some(tok)
    }
}

/// Courier's line preparation: cut at NUL and `\n`, upper-case the first word
/// (up to the first space or tab).
pub fn prepare_line(raw: &[u8]) -> Vec<u8> {
    let mut line = crate::cstr(raw).to_vec();
    if let Some(nl) = line.iter().position(|&c| c == b'\n') {
        line.truncate(nl);
    }
    for c in line.iter_mut() {
        if *c == b' ' || *c == b'\t' {
            break;
        }
        c.make_ascii_uppercase();
    }
    line
}

enum Stop {
    End(End),
    Exit(i32),
}

impl From<End> for Stop {
    fn from(e: End) -> Stop {
        Stop::End(e)
    }
}

/// One courierpop3login session.
pub struct Pop3Login<'b, T: Transport> {
    /// The connection.
    pub conn: Conn<T>,
    /// The environment (updated by STLS).
    pub env: Environ,
    /// Log lines.
    pub log: Logger,
    backend: &'b mut dyn Backend,
    peer: Peer,
    hostname: String,
    user: Option<Vec<u8>>,
    utf8: bool,
}

impl<'b, T: Transport> Pop3Login<'b, T> {
    /// A session; `hostname` goes into CRAM challenges.
    pub fn new(
        conn: Conn<T>,
        env: Environ,
        backend: &'b mut dyn Backend,
        log: Logger,
        hostname: &str,
    ) -> Self {
        let peer = Peer::from_env(&env);
        Pop3Login {
            conn,
            env,
            log,
            backend,
            peer,
            hostname: hostname.to_string(),
            user: None,
            utf8: false,
        }
    }

    /// Runs the dialogue until it ends.
    pub fn run(&mut self) -> Outcome {
        let line = format!(
            "DEBUG: Connection, ip=[{}], port=[{}]",
            self.peer.ip, self.peer.port
        );
        self.log.line(&line);
        self.conn.write(b"+OK Hello there.\r\n");
        let mut r = self.conn.flush().map_err(Stop::from);
        while r.is_ok() {
            r = self.step();
        }
        let disconnected = format!(
            "DEBUG: Disconnected, ip=[{}], port=[{}]",
            self.peer.ip, self.peer.port
        );
        match r {
            Err(Stop::End(End::Timeout)) => {
                let line = format!(
                    "INFO: TIMEOUT, ip=[{}], port=[{}]",
                    self.peer.ip, self.peer.port
                );
                self.log.line(&line);
                Outcome::Timeout
            }
            Err(Stop::Exit(code)) => Outcome::Exit(code),
            Ok(()) | Err(Stop::End(_)) => {
                self.log.line(&disconnected);
                Outcome::Exit(0)
            }
        }
    }

    fn send(&mut self, text: &[u8]) -> Result<(), Stop> {
        self.conn.write(text);
        self.conn.flush()?;
        Ok(())
    }

    fn step(&mut self) -> Result<(), Stop> {
        let (raw, newline) = self.conn.read_line(MAX_LINE)?;
        if !newline {
            // fgets stopped short: Courier throws the rest of the line away.
            match self.conn.skip_line() {
                Ok(()) | Err(End::Eof) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let line = prepare_line(&raw);
        let mut tok = Tok { s: &line, at: 0 };
        let Some(cmd) = tok.next(b" \t\r") else {
            return self.send(b"-ERR Invalid command.\r\n");
        };
        if self.env.atoi(crate::env::DEBUG_LOGIN) >= 1 {
            let mut l = format!("DEBUG: LOGIN: ip=[{}], command=", self.peer.ip).into_bytes();
            l.extend_from_slice(cmd);
            self.log.safe(&l);
        }
        match cmd {
            b"QUIT" => {
                let l = format!(
                    "INFO: LOGOUT, ip=[{}], port=[{}]",
                    self.peer.ip, self.peer.port
                );
                self.log.line(&l);
                self.send(b"+OK Better luck next time.\r\n")?;
                Err(Stop::End(End::Eof))
            }
            b"UTF8" => {
                self.utf8 = true;
                self.send(b"+OK UTF8 enabled\r\n")
            }
            b"USER" => {
                if capability::tls_required(&self.env, Protocol::Pop3) {
                    return self.send(b"-ERR TLS required to log in.\r\n");
                }
                match tok.next(b"\r\n") {
                    Some(u) => {
                        self.user = Some(u.to_vec());
                        self.send(b"+OK Password required.\r\n")
                    }
                    None => self.send(b"-ERR Invalid command.\r\n"),
                }
            }
            b"CAPA" => {
                let capa = capability::pop3_capa(&self.env);
                self.send(&capa)
            }
            b"STLS" => {
                if !capability::have_starttls(&self.env, Protocol::Pop3) {
                    return self.send(b"-ERR TLS support not available.\r\n");
                }
                self.send(b"+OK Begin SSL/TLS negotiation now.\r\n")?;
                self.conn.discard_input();
                match self.backend.starttls(&self.env) {
                    Ok(vars) => {
                        capability::after_starttls(&mut self.env, Protocol::Pop3, vars);
                        Ok(())
                    }
                    Err(msg) => {
                        let mut l = b"-ERR STARTTLS failed: ".to_vec();
                        l.extend_from_slice(msg.as_bytes());
                        l.extend_from_slice(b"\r\n");
                        self.send(&l)
                    }
                }
            }
            b"AUTH" => {
                let method = tok.next(b" \t\r").map(<[u8]>::to_ascii_uppercase);
                if capability::tls_required(&self.env, Protocol::Pop3) {
                    return self.send(b"-ERR TLS required to log in.\r\n");
                }
                let Some(method) = method else {
                    return self.send(b"-ERR Invalid command.\r\n");
                };
                let initial = tok
                    .next(b" \t\r")
                    .map(|i| if i == b"=" { Vec::new() } else { i.to_vec() });
                self.auth(&method, initial)
            }
            b"PASS" => {
                let pass = tok.next(b"\r\n").map(<[u8]>::to_vec);
                let (Some(user), Some(pass)) = (self.user.clone(), pass) else {
                    return self.send(b"-ERR USER/PASS required.\r\n");
                };
                if self.env.atoi(crate::env::DEBUG_LOGIN) >= 1 {
                    let mut l =
                        format!("DEBUG: LOGIN: ip=[{}], username=", self.peer.ip).into_bytes();
                    l.extend_from_slice(&user);
                    self.log.safe(&l);
                }
                let req = AuthRequest::Login {
                    userid: user.clone(),
                    password: pass,
                };
                let r = self.attempt(&req)?;
                Self::finished(&r)?;
                let mut l = b"INFO: LOGIN FAILED, user=".to_vec();
                l.extend_from_slice(&user);
                l.extend_from_slice(
                    format!(", ip=[{}], port=[{}]", self.peer.ip, self.peer.port).as_bytes(),
                );
                self.log.safe(&l);
                self.end_attempt(r)?;
                self.backend.delay();
                self.send(b"-ERR Login failed.\r\n")
            }
            _ => self.send(b"-ERR Invalid command.\r\n"),
        }
    }

    /// A login that succeeded (or was answered by the back end) is no failure:
    /// nothing is logged, the session ends.
    fn finished(r: &AuthResult) -> Result<(), Stop> {
        match r {
            AuthResult::LoggedIn => Err(Stop::Exit(0)),
            AuthResult::Ended(code) => Err(Stop::Exit(*code)),
            _ => Ok(()),
        }
    }

    /// Temporary problems and finished sessions end here.
    fn end_attempt(&mut self, r: AuthResult) -> Result<(), Stop> {
        match r {
            AuthResult::Temporary(err) => {
                self.log.line(&format!("ERR: authentication error: {err}"));
                self.send(b"-ERR Temporary problem, please try again later\r\n")?;
                Err(Stop::Exit(1))
            }
            AuthResult::Ended(code) => Err(Stop::Exit(code)),
            AuthResult::LoggedIn => Err(Stop::Exit(0)),
            AuthResult::Rejected => Ok(()),
        }
    }

    fn attempt(&mut self, req: &AuthRequest) -> Result<AuthResult, Stop> {
        let req = match session::prepare(req, &self.env) {
            Ok(r) => r,
            Err(Refusal::ControlCharacters | Refusal::BadCramResponse) => {
                return Ok(AuthResult::Rejected);
            }
        };
        self.conn.flush()?;
        let service = session::service(&self.env, Protocol::Pop3.service());
        let attempt = Attempt {
            service: &service,
            request: &req,
            env: &self.env,
            tag: None,
            utf8: self.utf8,
        };
        Ok(self.backend.authenticate(&attempt, &mut self.log))
    }

    fn auth(&mut self, method: &[u8], initial: Option<Vec<u8>>) -> Result<(), Stop> {
        let external = capability::external_identity(&self.env, Protocol::Pop3);
        let random = sasl::random128();
        let ctx = sasl::Context {
            external: external.as_deref(),
            hostname: &self.hostname,
            random: &random,
        };
        let (mut x, mut step) = Exchange::start(method, initial.as_deref(), &ctx);
        let outcome = loop {
            match step {
                Step::Challenge(c) => {
                    let resp = self.sasl_response(&c)?;
                    step = x.respond(resp.as_deref());
                }
                Step::Done(req) => break Ok(req),
                Step::Failed(f) => break Err(f),
            }
        };
        let result = match outcome {
            Ok(req) => {
                let r = self.attempt(&req)?;
                Self::finished(&r)?;
                Ok(r)
            }
            Err(f) => {
                if f == SaslFailure::CramInitialResponse {
                    self.log.line("authsasl_cram: invalid request.");
                }
                Err(f)
            }
        };
        let mut l = b"INFO: LOGIN FAILED, method=".to_vec();
        l.extend_from_slice(method);
        l.extend_from_slice(
            format!(", ip=[{}], port=[{}]", self.peer.ip, self.peer.port).as_bytes(),
        );
        self.log.safe(&l);
        match result {
            Err(f) if f.is_aborted() => self.send(b"-ERR Authentication aborted.\r\n"),
            Ok(r) => {
                self.end_attempt(r)?;
                self.backend.delay();
                self.send(b"-ERR Authentication failed.\r\n")
            }
            Err(_) => {
                self.backend.delay();
                self.send(b"-ERR Authentication failed.\r\n")
            }
        }
    }

    /// Courier's `authresp()`: `+ <challenge>`, then one line; `None` when no
    /// complete line arrives.
    fn sasl_response(&mut self, challenge: &str) -> Result<Option<Vec<u8>>, Stop> {
        let mut l = b"+ ".to_vec();
        l.extend_from_slice(challenge.as_bytes());
        l.extend_from_slice(b"\r\n");
        self.send(&l)?;
        match self.conn.read_line(MAX_LINE) {
            Ok((mut line, true)) => {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(crate::cstr(&line).to_vec()))
            }
            Ok((_, false)) | Err(End::Eof) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests;
