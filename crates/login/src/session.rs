//! What the protocol engines share: the log sink, the peer, the authentication
//! back end seam, and the preparation of a request (name mapping, `DEFDOMAIN`,
//! control characters) before it reaches authdaemond.

use crate::env::{self, Environ};
use crate::names;
use crate::sasl::{self, AuthRequest};

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit with this status.
    Exit(i32),
    /// The 60 s pre-authentication limit passed: end as Courier does, by SIGALRM.
    Timeout,
}

/// Where log lines go: stderr (one `write` per line), or memory for tests.
#[derive(Debug, Default)]
pub struct Logger {
    memory: Option<Vec<String>>,
}

impl Logger {
    /// Lines go to stderr.
    pub fn stderr() -> Logger {
        Logger { memory: None }
    }

    /// Lines are kept (tests).
    pub fn memory() -> Logger {
        Logger {
            memory: Some(Vec::new()),
        }
    }

    /// Writes one line (a newline is added; the caller has made it safe).
    pub fn line(&mut self, line: &str) {
        match &mut self.memory {
            Some(v) => v.push(line.to_string()),
            None => {
                use std::io::Write;
                let mut b = line.as_bytes().to_vec();
                b.push(b'\n');
                let _ = std::io::stderr().write_all(&b);
            }
        }
    }

    /// A Courier-safe line: every unprintable byte shown as `.`, at most 1023 bytes
    /// (`courier_safe_printf`).
    pub fn safe(&mut self, line: &[u8]) {
        self.line(&names::safe_text(line));
    }

    /// The kept lines.
    pub fn lines(&self) -> &[String] {
        self.memory.as_deref().unwrap_or(&[])
    }
}

/// The client as couriertcpd describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// `TCPREMOTEIP` (default `127.0.0.1`).
    pub ip: String,
    /// `TCPREMOTEPORT` (default `N/A`).
    pub port: String,
}

impl Peer {
    /// From the environment, with Courier's defaults.
    pub fn from_env(env: &Environ) -> Peer {
        Peer {
            ip: env
                .text(env::TCPREMOTEIP)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: env
                .text(env::TCPREMOTEPORT)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "N/A".into()),
        }
    }
}

/// One authentication attempt handed to the back end.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The authdaemond service (`AUTHSERVICE<port>`, else `imap`/`pop3`).
    pub service: &'a str,
    /// The request, name mapping and `DEFDOMAIN` applied.
    pub request: &'a AuthRequest,
    /// The environment as it is now (STARTTLS changes included).
    pub env: &'a Environ,
    /// IMAP: the command's tag (becomes `IMAPLOGINTAG`).
    pub tag: Option<&'a [u8]>,
    /// POP3: the client sent `UTF8` before logging in.
    pub utf8: bool,
}

/// What became of an attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthResult {
    /// Logged in. The real back end never returns this (it execs the server);
    /// test back ends do, and the engine then ends with exit code 0.
    LoggedIn,
    /// Wrong credentials, unknown account, or refused before any privilege
    /// change: the client gets the usual delayed "Login failed".
    Rejected,
    /// A temporary problem (authdaemond unreachable, home missing, ...): the text
    /// is the `strerror` of `ERR: authentication error: <text>`; the session ends.
    Temporary(String),
    /// The back end already answered the client; the session ends with this code.
    Ended(i32),
}

/// The privileged side of a login engine.
pub trait Backend {
    /// Asks authdaemond and, on success, finishes the login (real back end: never
    /// returns then).
    fn authenticate(&mut self, attempt: &Attempt<'_>, log: &mut Logger) -> AuthResult;
    /// Starts couriertls on the connection; returns the variables to export
    /// (`TLS_SUBJECT_*`) or Courier's error text.
    fn starttls(&mut self, env: &Environ) -> Result<Vec<(String, String)>, String>;
    /// The delay after a failed login (5 s).
    fn delay(&mut self);
}

/// Why a request is not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Control characters in a user id or password (`EINVAL`): a failed login,
    /// authdaemond is not asked.
    ControlCharacters,
    /// A CRAM response whose user could not be rewritten (`AUTHSASL_ERROR`).
    BadCramResponse,
}

/// Applies the login-name mapping (`LOGIN_DOMAIN_SEPARATORS`) and `DEFDOMAIN` to
/// the user name, and refuses control characters.
pub fn prepare(req: &AuthRequest, env: &Environ) -> Result<AuthRequest, Refusal> {
    // The default: `user%domain` and `user:domain` log in as `user@domain`;
    // LOGIN_DOMAIN_SEPARATORS="" turns the mapping off (stock Courier).
    let seps = env
        .bytes(env::LOGIN_DOMAIN_SEPARATORS)
        .unwrap_or(names::DEFAULT_DOMAIN_SEPARATORS);
    let defdomain = env.bytes(env::DEFDOMAIN);
    let domainsep = env.bytes(env::DOMAINSEP);
    let fix = |user: &[u8]| {
        let mapped = names::map_domain_separator(user, seps);
        names::with_default_domain(&mapped, defdomain, domainsep)
    };
    match req {
        AuthRequest::Login { userid, password } => {
            if names::has_control(userid) || names::has_control(password) {
                return Err(Refusal::ControlCharacters);
            }
            Ok(AuthRequest::Login {
                userid: fix(userid),
                password: password.clone(),
            })
        }
        AuthRequest::Cram {
            alg,
            challenge,
            response,
        } => {
            let rewrite = !seps.is_empty() || defdomain.is_some_and(|d| !d.is_empty());
            let response = if rewrite {
                sasl::rewrite_cram_user(response, fix).ok_or(Refusal::BadCramResponse)?
            } else {
                response.clone()
            };
            Ok(AuthRequest::Cram {
                alg: *alg,
                challenge: challenge.clone(),
                response,
            })
        }
        AuthRequest::External { id } => Ok(AuthRequest::External { id: id.clone() }),
    }
}

/// The authentication service: `AUTHSERVICE<TCPLOCALPORT>` if set and non-empty,
/// else the protocol's default.
pub fn service(env: &Environ, default: &str) -> String {
    let port = env.text(env::TCPLOCALPORT).unwrap_or_default();
    env.non_empty(format!("{}{port}", env::AUTHSERVICE))
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_maps_and_appends_domains() {
        let env = Environ::from_pairs(&[
            ("LOGIN_DOMAIN_SEPARATORS", "%:"),
            ("DEFDOMAIN", "@example.com"),
        ]);
        let req = AuthRequest::Login {
            userid: b"bob%example.org".to_vec(),
            password: b"pw".to_vec(),
        };
        assert_eq!(
            prepare(&req, &env).unwrap(),
            AuthRequest::Login {
                userid: b"bob@example.org".to_vec(),
                password: b"pw".to_vec()
            }
        );
        let req = AuthRequest::Login {
            userid: b"alice".to_vec(),
            password: b"pw".to_vec(),
        };
        assert_eq!(
            prepare(&req, &env).unwrap(),
            AuthRequest::Login {
                userid: b"alice@example.com".to_vec(),
                password: b"pw".to_vec()
            }
        );
    }

    #[test]
    fn percent_and_colon_map_to_at_by_default_and_can_be_turned_off() {
        let login = |u: &[u8]| AuthRequest::Login {
            userid: u.to_vec(),
            password: b"pw".to_vec(),
        };
        let default = Environ::default();
        assert_eq!(
            prepare(&login(b"u%example.org"), &default).unwrap(),
            login(b"u@example.org")
        );
        assert_eq!(
            prepare(&login(b"u:example.org"), &default).unwrap(),
            login(b"u@example.org")
        );
        let off = Environ::from_pairs(&[("LOGIN_DOMAIN_SEPARATORS", "")]);
        assert_eq!(
            prepare(&login(b"u%example.org"), &off).unwrap(),
            login(b"u%example.org")
        );
    }

    #[test]
    fn control_characters_never_reach_the_daemon() {
        let env = Environ::default();
        for (u, p) in [(&b"a\nb"[..], &b"pw"[..]), (b"alice", b"pw\n\x01")] {
            let req = AuthRequest::Login {
                userid: u.to_vec(),
                password: p.to_vec(),
            };
            assert_eq!(prepare(&req, &env), Err(Refusal::ControlCharacters));
        }
    }

    #[test]
    fn service_follows_authservice_port() {
        let env = Environ::from_pairs(&[("TCPLOCALPORT", "993"), ("AUTHSERVICE993", "imaps")]);
        assert_eq!(service(&env, "imap"), "imaps");
        let env = Environ::from_pairs(&[("TCPLOCALPORT", "143"), ("AUTHSERVICE993", "imaps")]);
        assert_eq!(service(&env, "imap"), "imap");
        assert_eq!(service(&Environ::default(), "pop3"), "pop3");
    }
}
