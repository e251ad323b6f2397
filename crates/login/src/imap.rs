//! imaplogin's pre-authentication IMAP dialogue, byte for byte as Courier-IMAP
//! 5.0.13 (Debian 12) speaks it: the same tokenizer (with the quirks of Debian's
//! `--enable-workarounds-for-imap-client-bugs` build), the same replies, the same
//! error counting and log lines (imapd-config.md §3, §8, §9).
//!
//! Commands: `CAPABILITY`, `NOOP`, `LOGOUT`, `STARTTLS`, `LOGIN`, `AUTHENTICATE`
//! (SASL-IR allowed). Anything else: `<tag> NO Error in IMAP command received by
//! server.`; the tenth protocol violation in a row ends the session.
//!
//! Limits: atoms 16384 bytes (then a fatal error, as Courier), quoted strings and
//! literals 8192 bytes (a literal announced larger is refused before it is sent;
//! an over-long quoted string is an error, where Courier 5.0.13 loops), the rest
//! of a bad line is skipped in constant memory. No limit depends on the client.

use crate::capability::{self, Protocol};
use crate::env::{self, Environ};
use crate::io::{Conn, End, Transport};
use crate::sasl::{self, AuthRequest, Exchange, SaslFailure, Step};
use crate::session::{self, Attempt, AuthResult, Backend, Logger, Peer, Refusal};
use std::time::Instant;

/// Courier's `IT_MAX_ATOM_SIZE`.
pub const MAX_ATOM: usize = 16384;
/// Longest quoted string or literal (Courier: 8192).
pub const MAX_STRING: usize = 8192;

/// Token kinds of Courier's `imaptoken.c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An atom (`IT_ATOM`).
    Atom,
    /// Digits only (`IT_NUMBER`).
    Number,
    /// A quoted string or a literal (`IT_QUOTED_STRING`).
    Quoted,
    /// `NIL`.
    Nil,
    /// `[` (only after the first LOGIN, see [`Tokenizer`]).
    LBracket,
    /// `]`.
    RBracket,
    /// End of line (the `\n` stays unread).
    Eol,
    /// A syntax error; sticky until the rest of the line is skipped.
    Error,
}

/// Why a session stops.
#[derive(Debug)]
pub enum Stop {
    /// The connection ended (EOF, I/O error) or the deadline passed.
    End(End),
    /// Courier's `write_error_exit(what)`: `* BYE [ALERT] Fatal error: ...`.
    Fatal(&'static str),
    /// Exit with this code.
    Exit(i32),
}

impl From<End> for Stop {
    fn from(e: End) -> Stop {
        Stop::End(e)
    }
}

/// Courier's tokenizer state. The token text lives in one buffer that is only
/// replaced by tokens that have text (Courier compares command names against it
/// whatever the token kind, and so do we).
///
/// Debian's build treats `(` and `)` as ordinary atom characters, and `[` `]` too
/// until the first `LOGIN` reads a password (Courier's `nexttoken_okbracket`
/// restores them then). Reproduced, because it decides which LOGIN lines are
/// syntax errors and which are failed logins.
#[derive(Debug)]
pub struct Tokenizer {
    kind: Kind,
    buf: Vec<u8>,
    brackets: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer {
            kind: Kind::Eol,
            buf: Vec::new(),
            brackets: false,
        }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl Tokenizer {
    /// The current token text as a C string.
    pub fn text(&self) -> &[u8] {
        crate::cstr(&self.buf)
    }

    /// The current kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Reads the next token. `upper` upper-cases atoms; `okbracket` reads brackets
    /// as atom characters (and makes them special afterwards). Literals (`{n}`) are
    /// answered with `+ OK` and read here, as Courier does.
    pub fn next<T: Transport>(
        &mut self,
        c: &mut Conn<T>,
        upper: bool,
        okbracket: bool,
        log: &mut Logger,
        ip: &str,
    ) -> Result<Kind, Stop> {
        let r = self.read(c, upper, okbracket, log, ip);
        if okbracket {
            self.brackets = true;
        }
        r
    }

    fn read<T: Transport>(
        &mut self,
        c: &mut Conn<T>,
        upper: bool,
        okbracket: bool,
        log: &mut Logger,
        ip: &str,
    ) -> Result<Kind, Stop> {
        if self.kind == Kind::Error {
            return Ok(Kind::Error);
        }
        let special_brackets = self.brackets && !okbracket;
        let mut ch = c.read_byte()?;
        while matches!(ch, b'\r' | b' ' | b'\t') {
            ch = c.read_byte()?;
        }
        if ch == b'\n' {
            c.unread();
            return Ok(self.set(Kind::Eol));
        }
        if special_brackets && ch == b'[' {
            return Ok(self.set(Kind::LBracket));
        }
        if special_brackets && ch == b']' {
            return Ok(self.set(Kind::RBracket));
        }
        if ch == b'"' {
            return self.quoted(c, log, ip);
        }
        if ch == b'{' {
            return self.literal(c);
        }
        self.buf.clear();
        let mut kind = Kind::Atom;
        if ch == b'\\' {
            self.buf.push(ch);
            ch = c.read_byte()?;
        } else if ch.is_ascii_digit() {
            kind = Kind::Number;
            while ch.is_ascii_digit() {
                self.buf.push(ch);
                ch = c.read_byte()?;
            }
        }
        let stops = |x: u8| {
            is_space(x)
                || x & 0x80 != 0
                || matches!(x, b'\\' | b'"' | b'{' | b'}')
                || (special_brackets && matches!(x, b'[' | b']'))
        };
        while !stops(ch) {
            kind = Kind::Atom;
            if self.buf.len() >= MAX_ATOM {
                return Err(Stop::Fatal("max atom size too small"));
            }
            self.buf
                .push(if upper { ch.to_ascii_uppercase() } else { ch });
            ch = c.read_byte()?;
        }
        if self.buf.is_empty() {
            return Ok(self.set(Kind::Error));
        }
        c.unread();
        if self.text() == b"NIL" {
            kind = Kind::Nil;
        }
        Ok(self.set(kind))
    }

    fn set(&mut self, k: Kind) -> Kind {
        self.kind = k;
        k
    }

    fn quoted<T: Transport>(
        &mut self,
        c: &mut Conn<T>,
        log: &mut Logger,
        ip: &str,
    ) -> Result<Kind, Stop> {
        self.buf.clear();
        let mut bit8 = false;
        loop {
            let mut ch = c.read_byte()?;
            if ch == b'"' {
                break;
            }
            if ch == b'\\' {
                ch = c.read_byte()?;
            }
            if ch == b'\r' || ch == b'\n' {
                c.unread();
                return Ok(self.set(Kind::Error));
            }
            if self.buf.len() >= MAX_STRING {
                // Courier logs this and (5.0.13) then misbehaves; we stop here and
                // the caller skips the rest of the line.
                log.line(&format!(
                    "ERR: Quoted string literal overflow, ip=[{}]",
                    crate::names::safe_text(ip.as_bytes())
                ));
                return Ok(self.set(Kind::Error));
            }
            bit8 |= ch & 0x80 != 0;
            self.buf.push(ch);
        }
        // Courier: 8-bit strings must be valid UTF-8.
        if bit8 && std::str::from_utf8(self.text()).is_err() {
            return Ok(self.set(Kind::Error));
        }
        Ok(self.set(Kind::Quoted))
    }

    fn literal<T: Transport>(&mut self, c: &mut Conn<T>) -> Result<Kind, Stop> {
        let mut n: u64 = 0;
        loop {
            let ch = c.read_byte()?;
            if ch == b'}' {
                break;
            }
            if !ch.is_ascii_digit() {
                c.unread();
                return Ok(self.set(Kind::Error));
            }
            n = n.saturating_mul(10).saturating_add(u64::from(ch - b'0'));
        }
        let mut ch = c.read_byte()?;
        if ch == b'\r' {
            ch = c.read_byte()?;
        }
        if ch != b'\n' {
            return Ok(self.set(Kind::Error));
        }
        if n > MAX_STRING as u64 {
            c.write(b"* NO [ALERT] IMAP command too long.\r\n");
            return Ok(self.set(Kind::Error));
        }
        c.write(b"+ OK\r\n");
        c.flush()?;
        self.buf.clear();
        for _ in 0..n {
            let b = c.read_byte()?;
            self.buf.push(b);
        }
        Ok(self.set(Kind::Quoted))
    }

    /// Courier's `read_eol()`: skip through `\n`, clearing an error.
    pub fn read_eol<T: Transport>(&mut self, c: &mut Conn<T>) -> Result<(), Stop> {
        c.skip_line()?;
        self.kind = Kind::Eol;
        Ok(())
    }
}

/// What a command handler tells the main loop (Courier's 0 / -1 / -2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rc {
    /// Done: reset the error count, skip the rest of the line.
    Ok,
    /// Protocol violation: count it, skip the line, answer `NO Error ...`.
    Bad,
    /// Done, but leave the input as it is (AUTHENTICATE, failed STARTTLS).
    Skip,
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

/// How AUTHENTICATE ended.
enum Authn {
    Syntax,
    Sasl,
    Result(AuthResult),
}

pub use crate::session::Outcome;

/// One imaplogin session.
pub struct ImapLogin<'b, T: Transport> {
    /// The connection.
    pub conn: Conn<T>,
    /// The environment (updated by STARTTLS; exported on success).
    pub env: Environ,
    /// Log lines.
    pub log: Logger,
    tok: Tokenizer,
    backend: &'b mut dyn Backend,
    peer: Peer,
    start: Instant,
    hostname: String,
    noerr: u32,
}

impl<'b, T: Transport> ImapLogin<'b, T> {
    /// A session; `hostname` goes into CRAM challenges.
    pub fn new(
        conn: Conn<T>,
        env: Environ,
        backend: &'b mut dyn Backend,
        log: Logger,
        hostname: &str,
    ) -> Self {
        let peer = Peer::from_env(&env);
        ImapLogin {
            conn,
            env,
            log,
            tok: Tokenizer::default(),
            backend,
            peer,
            start: Instant::now(),
            hostname: hostname.to_string(),
            noerr: 0,
        }
    }

    /// Runs the dialogue until it ends (a successful login never comes back with
    /// the real back end).
    pub fn run(&mut self) -> Outcome {
        let greeting = capability::imap_greeting(&self.env);
        self.conn.write(&greeting);
        let line = format!(
            "DEBUG: Connection, ip=[{}], port=[{}]",
            self.peer.ip, self.peer.port
        );
        self.log.line(&line);
        let mut r = self.conn.flush().map_err(Stop::from);
        while r.is_ok() {
            r = self.step();
        }
        match r {
            Ok(()) => Outcome::Exit(0),
            Err(stop) => self.stop(stop),
        }
    }

    fn stop(&mut self, stop: Stop) -> Outcome {
        let secs = self.start.elapsed().as_secs();
        match stop {
            Stop::End(End::Timeout) => {
                let line = format!(
                    "INFO: TIMEOUT, ip=[{}], port=[{}], time={secs}",
                    self.peer.ip, self.peer.port
                );
                self.log.line(&line);
                Outcome::Timeout
            }
            Stop::End(_) => {
                let line = format!(
                    "DEBUG: Disconnected, ip=[{}], port=[{}], time={secs}",
                    self.peer.ip, self.peer.port
                );
                self.log.line(&line);
                Outcome::Exit(0)
            }
            Stop::Fatal(what) => {
                self.conn.clear_output();
                self.conn
                    .write(format!("* BYE [ALERT] Fatal error: {what}: \r\n").as_bytes());
                let _ = self.conn.flush();
                // Courier prints getenv("AUTHENTICATED"), unset here: "(null)".
                self.log.line(&format!("ERR: (null): {what}"));
                Outcome::Exit(1)
            }
            Stop::Exit(code) => Outcome::Exit(code),
        }
    }

    fn next(&mut self, upper: bool, okbracket: bool) -> Result<Kind, Stop> {
        let ip = self.peer.ip.clone();
        self.tok
            .next(&mut self.conn, upper, okbracket, &mut self.log, &ip)
    }

    fn step(&mut self) -> Result<(), Stop> {
        let kind = self.next(false, false)?;
        let mut tag = Vec::new();
        if matches!(kind, Kind::Atom | Kind::Number) {
            tag = self.tok.text().to_vec();
            let mut flush_input = false;
            match self.command(&tag, &mut flush_input)? {
                Rc::Ok => {
                    self.noerr = 0;
                    self.conn.flush()?;
                    self.tok.read_eol(&mut self.conn)?;
                    if flush_input {
                        self.conn.discard_input();
                    }
                    return Ok(());
                }
                Rc::Skip => return Ok(()),
                Rc::Bad => {}
            }
        }
        self.noerr += 1;
        if self.noerr > 9 {
            return Err(Stop::Fatal("TOO MANY CONSECUTIVE PROTOCOL VIOLATIONS"));
        }
        self.tok.read_eol(&mut self.conn)?;
        let tag: &[u8] = if tag.is_empty() { b"*" } else { &tag };
        self.conn.write(tag);
        self.conn
            .write(b" NO Error in IMAP command received by server.\r\n");
        self.conn.flush()?;
        Ok(())
    }

    fn reply(&mut self, tag: &[u8], text: &[u8]) {
        self.conn.write(tag);
        self.conn.write(text);
    }

    fn debug_login(&mut self, level: i64, what: &[u8]) {
        if self.env.atoi(env::DEBUG_LOGIN) >= level {
            let mut line = format!("DEBUG: LOGIN: ip=[{}], ", self.peer.ip).into_bytes();
            line.extend_from_slice(what);
            self.log.safe(&line);
        }
    }

    fn command(&mut self, tag: &[u8], flush_input: &mut bool) -> Result<Rc, Stop> {
        self.next(true, false)?;
        let cmd = self.tok.text().to_vec();
        self.debug_login(1, &[b"command=", &cmd[..]].concat());
        match cmd.as_slice() {
            b"LOGOUT" => {
                if self.next(true, false)? != Kind::Eol {
                    return Ok(Rc::Bad);
                }
                self.conn
                    .write(b"* BYE Courier-IMAP server shutting down\r\n");
                self.reply(tag, b" OK LOGOUT completed\r\n");
                self.conn.flush()?;
                let line = format!(
                    "INFO: LOGOUT, ip=[{}], port=[{}], rcvd={}, sent={}",
                    self.peer.ip, self.peer.port, self.conn.rcvd, self.conn.sent
                );
                self.log.line(&line);
                Err(Stop::Exit(0))
            }
            b"NOOP" => {
                if self.next(true, false)? != Kind::Eol {
                    return Ok(Rc::Bad);
                }
                self.reply(tag, b" OK NOOP completed\r\n");
                Ok(Rc::Ok)
            }
            b"CAPABILITY" => {
                if self.next(true, false)? != Kind::Eol {
                    return Ok(Rc::Bad);
                }
                self.conn.write(b"* CAPABILITY ");
                let caps = capability::imap_capability(&self.env);
                self.conn.write(&caps);
                self.conn.write(b"\r\n");
                self.reply(tag, b" OK CAPABILITY completed\r\n");
                Ok(Rc::Ok)
            }
            b"STARTTLS" => {
                if !capability::have_starttls(&self.env, Protocol::Imap) {
                    return Ok(Rc::Bad);
                }
                self.reply(tag, b" OK Begin SSL/TLS negotiation now.\r\n");
                self.conn.flush()?;
                match self.backend.starttls(&self.env) {
                    Ok(vars) => {
                        capability::after_starttls(&mut self.env, Protocol::Imap, vars);
                        *flush_input = true;
                        Ok(Rc::Ok)
                    }
                    Err(msg) => {
                        self.reply(tag, b" NO STARTTLS failed: ");
                        self.conn.write(msg.as_bytes());
                        self.conn.write(b"\r\n");
                        Ok(Rc::Skip)
                    }
                }
            }
            b"LOGIN" => self.login(tag),
            b"AUTHENTICATE" => {
                if self.tls_first() {
                    self.reply(tag, b" NO STARTTLS required\r\n");
                    return Ok(Rc::Ok);
                }
                let mut method = Vec::new();
                let r = self.authenticate(tag, &mut method)?;
                if let Authn::Result(r) = &r {
                    finished(r)?;
                }
                let mut line = b"INFO: LOGIN FAILED, method=".to_vec();
                line.extend_from_slice(&method);
                line.extend_from_slice(
                    format!(", ip=[{}], port=[{}]", self.peer.ip, self.peer.port).as_bytes(),
                );
                self.log.safe(&line);
                self.failed(tag, r)?;
                self.conn.flush()?;
                Ok(Rc::Skip)
            }
            _ => Ok(Rc::Bad),
        }
    }

    fn tls_first(&self) -> bool {
        capability::have_starttls(&self.env, Protocol::Imap)
            && capability::tls_required(&self.env, Protocol::Imap)
    }

    fn login(&mut self, tag: &[u8]) -> Result<Rc, Stop> {
        let k = self.next(false, false)?;
        if self.tls_first() {
            self.reply(tag, b" NO STARTTLS required\r\n");
            return Ok(Rc::Ok);
        }
        if !matches!(k, Kind::Atom | Kind::Number | Kind::Quoted) {
            return Ok(Rc::Bad);
        }
        let userid = self.tok.text().to_vec();
        let k = self.next(false, true)?;
        if !matches!(k, Kind::Atom | Kind::Number | Kind::Quoted) {
            return Ok(Rc::Bad);
        }
        let password = self.tok.text().to_vec();
        if self.next(true, false)? != Kind::Eol {
            return Ok(Rc::Bad);
        }
        self.debug_login(1, &[b"username=", &userid[..]].concat());
        self.debug_login(2, b"password=<redacted>");
        let req = AuthRequest::Login {
            userid: userid.clone(),
            password,
        };
        let r = self.attempt(&req, tag)?;
        finished(&r)?;
        let mut line = b"INFO: LOGIN FAILED, user=".to_vec();
        line.extend_from_slice(&userid);
        line.extend_from_slice(
            format!(", ip=[{}], port=[{}]", self.peer.ip, self.peer.port).as_bytes(),
        );
        self.log.safe(&line);
        self.failed(tag, Authn::Result(r))?;
        Ok(Rc::Ok)
    }

    /// After a failed attempt: a temporary problem ends the session, anything else
    /// waits 5 s and answers `NO Login failed.`.
    fn failed(&mut self, tag: &[u8], r: Authn) -> Result<(), Stop> {
        match r {
            Authn::Result(AuthResult::Temporary(err)) => {
                self.log.line(&format!("ERR: authentication error: {err}"));
                self.conn
                    .write(b"* BYE Temporary problem, please try again later\r\n");
                self.conn.flush()?;
                Err(Stop::Exit(1))
            }
            Authn::Result(AuthResult::Ended(code)) => Err(Stop::Exit(code)),
            Authn::Result(AuthResult::LoggedIn) => Err(Stop::Exit(0)),
            Authn::Result(AuthResult::Rejected) | Authn::Syntax | Authn::Sasl => {
                self.backend.delay();
                self.reply(tag, b" NO Login failed.\r\n");
                Ok(())
            }
        }
    }

    fn attempt(&mut self, req: &AuthRequest, tag: &[u8]) -> Result<AuthResult, Stop> {
        let req = match session::prepare(req, &self.env) {
            Ok(r) => r,
            Err(Refusal::ControlCharacters | Refusal::BadCramResponse) => {
                return Ok(AuthResult::Rejected);
            }
        };
        self.conn.flush()?;
        let service = session::service(&self.env, Protocol::Imap.service());
        let attempt = Attempt {
            service: &service,
            request: &req,
            env: &self.env,
            tag: Some(tag),
            utf8: false,
        };
        Ok(self.backend.authenticate(&attempt, &mut self.log))
    }

    /// Courier's `authenticate()`: returns "syntax error" without consuming the
    /// rest of the line, exactly where Courier returns 0.
    fn authenticate(&mut self, tag: &[u8], method_out: &mut Vec<u8>) -> Result<Authn, Stop> {
        let k = self.next(true, false)?;
        if !matches!(k, Kind::Atom | Kind::Quoted) {
            return Ok(Authn::Syntax);
        }
        let method = self.tok.text().to_vec();
        *method_out = method.iter().copied().take(31).collect();
        let mut k = self.next(false, false)?;
        let mut initial = None;
        if k != Kind::Eol {
            if !matches!(k, Kind::Atom | Kind::Number) {
                return Ok(Authn::Syntax);
            }
            let t = self.tok.text().to_vec();
            initial = Some(if t == b"=" { Vec::new() } else { t });
            k = self.next(false, false)?;
        }
        if k != Kind::Eol {
            return Ok(Authn::Syntax);
        }
        self.tok.read_eol(&mut self.conn)?;
        let external = capability::external_identity(&self.env, Protocol::Imap);
        let random = sasl::random128();
        let ctx = sasl::Context {
            external: external.as_deref(),
            hostname: &self.hostname,
            random: &random,
        };
        let (mut x, mut step) = Exchange::start(&method, initial.as_deref(), &ctx);
        let req = loop {
            match step {
                Step::Challenge(c) => {
                    let resp = self.sasl_response(&c)?;
                    step = x.respond(resp.as_deref());
                }
                Step::Done(req) => break req,
                Step::Failed(f) => {
                    if f == SaslFailure::CramInitialResponse {
                        self.log.line("authsasl_cram: invalid request.");
                    }
                    return Ok(Authn::Sasl);
                }
            }
        };
        Ok(Authn::Result(self.attempt(&req, tag)?))
    }

    /// Courier's `send_auth_reply()`: `+ <challenge>`, then one atom (or nothing)
    /// on a line.
    fn sasl_response(&mut self, challenge: &str) -> Result<Option<Vec<u8>>, Stop> {
        self.conn.write(b"+ ");
        self.conn.write(challenge.as_bytes());
        self.conn.write(b"\r\n");
        self.conn.flush()?;
        let k = self.next(false, false)?;
        let resp = match k {
            Kind::Atom | Kind::Number => self.tok.text().to_vec(),
            Kind::Eol => Vec::new(),
            _ => return Ok(None),
        };
        if self.next(true, false)? != Kind::Eol {
            self.log.line("Invalid SASL response");
            return Ok(None);
        }
        self.tok.read_eol(&mut self.conn)?;
        Ok(Some(resp))
    }
}

#[cfg(test)]
mod tests;
