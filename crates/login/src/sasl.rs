//! SASL as courier-authlib's server side does it (`auth_sasl_ex()` and the
//! `authsasl_*` mechanisms), sans I/O: [`Exchange::start`] and
//! [`Exchange::respond`] consume the client's base64 responses and produce either
//! the next base64 challenge, the request for authdaemond, or a failure.
//!
//! Mechanisms: `PLAIN`, `LOGIN`, `CRAM-MD5`, `CRAM-SHA1`, `CRAM-SHA256` (any case;
//! the protocol layers upper-case the name), and `EXTERNAL` when a TLS client
//! certificate names the user. Whether a mechanism is advertised does not matter
//! (Courier accepts all of them, authdaemon-protocol.md §8.1).
//!
//! Failures keep Courier's two kinds: [`SaslFailure::Aborted`]
//! (`AUTHSASL_ABORTED`: `*`, bad base64, a malformed PLAIN message) and
//! [`SaslFailure::Error`] (`AUTHSASL_ERROR`: unknown mechanism, an initial response
//! where none is allowed, no response at all). POP3 answers them differently.

use crate::base64;

/// The hash of a CRAM mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cram {
    /// CRAM-MD5 (RFC 2195).
    Md5,
    /// CRAM-SHA1.
    Sha1,
    /// CRAM-SHA256.
    Sha256,
}

impl Cram {
    /// The authdaemond authtype: `cram-md5`, `cram-sha1`, `cram-sha256`.
    pub fn authtype(self) -> &'static str {
        match self {
            Cram::Md5 => "cram-md5",
            Cram::Sha1 => "cram-sha1",
            Cram::Sha256 => "cram-sha256",
        }
    }
}

/// What a completed exchange asks authdaemond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthRequest {
    /// `AUTH` of type `login`: user id and password (C strings: no NUL).
    Login {
        /// The user id as the client sent it.
        userid: Vec<u8>,
        /// The password.
        password: Vec<u8>,
    },
    /// `AUTH` of type `cram-*`: the challenge and the client's response, both
    /// still base64 (authdaemond decodes them).
    Cram {
        /// Which hash.
        alg: Cram,
        /// The base64 challenge the server sent.
        challenge: String,
        /// The base64 response, as received.
        response: Vec<u8>,
    },
    /// SASL `EXTERNAL`: a `PRE` lookup of the identity from the TLS certificate.
    External {
        /// The identity (`TLS_SUBJECT_<TLS_EXTERNAL>`).
        id: Vec<u8>,
    },
}

/// Why an exchange ended without a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslFailure {
    /// `AUTHSASL_ABORTED`: the client sent `*`, bad base64 or a malformed message.
    Aborted,
    /// `AUTHSASL_ERROR`: unknown mechanism, unexpected initial response, or no
    /// readable response.
    Error,
    /// `AUTHSASL_ERROR` for a CRAM mechanism given an initial response; Courier
    /// logs `authsasl_cram: invalid request.` for it.
    CramInitialResponse,
}

impl SaslFailure {
    /// Whether this is Courier's `AUTHSASL_ABORTED`.
    pub fn is_aborted(self) -> bool {
        self == SaslFailure::Aborted
    }
}

/// What the protocol layer does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this base64 challenge (`+ <challenge>`) and read a response line.
    Challenge(String),
    /// Ask authdaemond.
    Done(AuthRequest),
    /// The exchange failed.
    Failed(SaslFailure),
}

/// Environment of an exchange.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The identity a TLS client certificate vouches for, when `EXTERNAL` is
    /// available (`TLS_EXTERNAL` names a present `TLS_SUBJECT_*`).
    pub external: Option<&'a [u8]>,
    /// The host name in CRAM challenges.
    pub hostname: &'a str,
    /// 32 uppercase hex digits of randomness for CRAM challenges.
    pub random: &'a str,
}

#[derive(Debug)]
enum State {
    Plain,
    LoginUser,
    LoginPassword { user: Vec<u8> },
    Cram { alg: Cram, challenge: String },
    External { id: Vec<u8> },
    Finished,
}

/// One SASL exchange.
#[derive(Debug)]
pub struct Exchange {
    state: State,
}

/// A C string view: the bytes up to the first NUL.
fn cstr(b: &[u8]) -> Vec<u8> {
    crate::cstr(b).to_vec()
}

impl Exchange {
    /// Starts `method` with an optional initial response (already mapped from
    /// `=` to empty by the protocol layer).
    pub fn start(method: &[u8], initial: Option<&[u8]>, ctx: &Context<'_>) -> (Exchange, Step) {
        let upper = crate::cstr(method).to_ascii_uppercase();
        let finished = |step| {
            (
                Exchange {
                    state: State::Finished,
                },
                step,
            )
        };
        match upper.as_slice() {
            b"EXTERNAL" => {
                let Some(id) = ctx.external.filter(|e| !e.is_empty()) else {
                    return finished(Step::Failed(SaslFailure::Error));
                };
                match initial.filter(|i| !i.is_empty()) {
                    Some(i) => finished(external_check(i, id)),
                    None => (
                        Exchange {
                            state: State::External { id: id.to_vec() },
                        },
                        Step::Challenge(String::new()),
                    ),
                }
            }
            b"PLAIN" => match initial {
                Some(i) => finished(plain(i)),
                None => (
                    Exchange {
                        state: State::Plain,
                    },
                    Step::Challenge(base64::encode(b"")),
                ),
            },
            b"LOGIN" => match initial {
                Some(user) => (
                    Exchange {
                        state: State::LoginPassword { user: cstr(user) },
                    },
                    Step::Challenge(base64::encode(b"Password:")),
                ),
                None => (
                    Exchange {
                        state: State::LoginUser,
                    },
                    Step::Challenge(base64::encode(b"Username:")),
                ),
            },
            b"CRAM-MD5" | b"CRAM-SHA1" | b"CRAM-SHA256" => {
                if initial.is_some_and(|i| !i.is_empty()) {
                    return finished(Step::Failed(SaslFailure::CramInitialResponse));
                }
                let alg = match upper.as_slice() {
                    b"CRAM-MD5" => Cram::Md5,
                    b"CRAM-SHA1" => Cram::Sha1,
                    _ => Cram::Sha256,
                };
                let challenge =
                    base64::encode(format!("<{}@{}>", ctx.random, ctx.hostname).as_bytes());
                (
                    Exchange {
                        state: State::Cram {
                            alg,
                            challenge: challenge.clone(),
                        },
                    },
                    Step::Challenge(challenge),
                )
            }
            _ => finished(Step::Failed(SaslFailure::Error)),
        }
    }

    /// Feeds the client's response line (without CRLF). `None`: the protocol
    /// layer could not read a response (Courier's callback returned NULL).
    pub fn respond(&mut self, response: Option<&[u8]>) -> Step {
        let state = std::mem::replace(&mut self.state, State::Finished);
        let Some(resp) = response.map(cstr) else {
            return Step::Failed(SaslFailure::Error);
        };
        let aborted = resp.first() == Some(&b'*');
        match state {
            State::Finished => Step::Failed(SaslFailure::Error),
            State::Plain => {
                if aborted {
                    return Step::Failed(SaslFailure::Aborted);
                }
                plain(&resp)
            }
            State::LoginUser => {
                if aborted {
                    return Step::Failed(SaslFailure::Aborted);
                }
                self.state = State::LoginPassword { user: resp };
                Step::Challenge(base64::encode(b"Password:"))
            }
            State::LoginPassword { user } => {
                if aborted {
                    return Step::Failed(SaslFailure::Aborted);
                }
                match (base64::decode(&user), base64::decode(&resp)) {
                    (Some(u), Some(p)) => Step::Done(AuthRequest::Login {
                        userid: cstr(&u),
                        password: cstr(&p),
                    }),
                    _ => Step::Failed(SaslFailure::Aborted),
                }
            }
            State::Cram { alg, challenge } => {
                if aborted {
                    return Step::Failed(SaslFailure::Aborted);
                }
                Step::Done(AuthRequest::Cram {
                    alg,
                    challenge,
                    response: resp,
                })
            }
            State::External { id } => {
                if aborted {
                    return Step::Failed(SaslFailure::Aborted);
                }
                external_check(&resp, &id)
            }
        }
    }
}

/// `EXTERNAL` with a response: it must decode, and name the certificate's
/// identity (or be empty).
fn external_check(resp: &[u8], id: &[u8]) -> Step {
    match base64::decode(resp) {
        None => Step::Failed(SaslFailure::Aborted),
        Some(d) if d.is_empty() || crate::cstr(&d) == id => {
            Step::Done(AuthRequest::External { id: id.to_vec() })
        }
        Some(_) => Step::Failed(SaslFailure::Error),
    }
}

/// `authsasl_plain()`: base64 of `authzid NUL authcid NUL passwd`. Courier's scan
/// takes the name after a NUL and the password after the next NUL, and keeps
/// scanning, so with more NULs the last such pair wins.
fn plain(b64: &[u8]) -> Step {
    let Some(p) = base64::decode(b64) else {
        return Step::Failed(SaslFailure::Aborted);
    };
    let n = p.len();
    let (mut uid, mut pw) = (None, None);
    let mut i = 0;
    while i < n {
        if p[i] == 0 {
            i += 1;
            uid = Some(i);
            while i < n {
                if p[i] == 0 {
                    pw = Some(i + 1);
                    break;
                }
                i += 1;
            }
        }
        i += 1;
    }
    match (uid, pw) {
        (Some(u), Some(w)) => Step::Done(AuthRequest::Login {
            userid: cstr(&p[u..]),
            password: cstr(&p[w.min(n)..]),
        }),
        _ => Step::Failed(SaslFailure::Aborted),
    }
}

/// Rewrites the user name inside a base64 CRAM response (`user SP digest`), as
/// courier-authlib does to apply `DEFDOMAIN`. `None` when the response does not
/// decode to a non-empty text with a space (Courier: `AUTHSASL_ERROR`).
pub fn rewrite_cram_user(response: &[u8], f: impl FnOnce(&[u8]) -> Vec<u8>) -> Option<Vec<u8>> {
    let decoded = base64::decode(response)?;
    let decoded = crate::cstr(&decoded);
    if decoded.is_empty() {
        return None;
    }
    let sp = decoded.iter().position(|&c| c == b' ')?;
    let mut text = f(&decoded[..sp]);
    text.extend_from_slice(&decoded[sp..]);
    Some(base64::encode(&text).into_bytes())
}

/// The user name inside a base64 CRAM response, for log lines.
pub fn cram_user(response: &[u8]) -> Option<Vec<u8>> {
    let decoded = base64::decode(response)?;
    let decoded = crate::cstr(&decoded);
    let sp = decoded.iter().rposition(|&c| c == b' ')?;
    Some(decoded[..sp].to_vec())
}

/// 32 uppercase hex digits from the OS random source, as Courier's `random128()`
/// formats them. Falls back to time and pid if the random source fails.
pub fn random128() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mixed = t ^ (u128::from(std::process::id()) << 64);
        b = mixed.to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            external: None,
            hostname: "mx1",
            random: "76F87C943A7A1E3DAEB9911C1539B37A",
        }
    }

    fn b64(s: &[u8]) -> Vec<u8> {
        base64::encode(s).into_bytes()
    }

    fn login(u: &[u8], p: &[u8]) -> Step {
        Step::Done(AuthRequest::Login {
            userid: u.to_vec(),
            password: p.to_vec(),
        })
    }

    #[test]
    fn plain_with_initial_response_finishes_at_once() {
        let (_, step) = Exchange::start(b"plain", Some(&b64(b"\0alice\0secret")), &ctx());
        assert_eq!(step, login(b"alice", b"secret"));
        let (_, step) = Exchange::start(b"PLAIN", Some(&b64(b"admin\0alice\0secret")), &ctx());
        assert_eq!(step, login(b"alice", b"secret"));
    }

    #[test]
    fn plain_without_initial_response_sends_empty_challenge() {
        let (mut x, step) = Exchange::start(b"PLAIN", None, &ctx());
        assert_eq!(step, Step::Challenge(String::new()));
        assert_eq!(x.respond(Some(&b64(b"\0bob\0pw"))), login(b"bob", b"pw"));
    }

    const PLAIN_FAILURES: &[(&[u8], SaslFailure)] = &[
        (b"*", SaslFailure::Aborted),
        (b"!!!!", SaslFailure::Aborted),
        (b"", SaslFailure::Aborted),
        // one NUL only: no password
        (b"YWxpY2UAc2VjcmV0", SaslFailure::Aborted),
    ];

    #[test]
    fn plain_failures_are_aborts() {
        for (resp, want) in PLAIN_FAILURES {
            let (mut x, _) = Exchange::start(b"PLAIN", None, &ctx());
            assert_eq!(x.respond(Some(resp)), Step::Failed(*want), "{resp:?}");
            let (_, step) = Exchange::start(b"PLAIN", Some(resp), &ctx());
            if *resp != b"*" {
                assert_eq!(step, Step::Failed(*want), "IR {resp:?}");
            }
        }
    }

    #[test]
    fn plain_scan_keeps_courier_quirks() {
        // Extra NULs: the last (name, password) pair wins; the password ends at NUL.
        let (_, s) = Exchange::start(b"PLAIN", Some(&b64(b"a\0b\0c\0d\0e")), &ctx());
        assert_eq!(s, login(b"d", b"e"));
        // A trailing NUL starts a new (empty) name: Courier then has user "".
        let (_, s) = Exchange::start(b"PLAIN", Some(&b64(b"\0u\0p\0")), &ctx());
        assert_eq!(s, login(b"", b"p"));
        let (_, s) = Exchange::start(b"PLAIN", Some(&b64(b"\0u\0")), &ctx());
        assert_eq!(s, login(b"u", b""));
    }

    #[test]
    fn login_mechanism_asks_username_then_password() {
        let (mut x, s) = Exchange::start(b"LOGIN", None, &ctx());
        assert_eq!(s, Step::Challenge("VXNlcm5hbWU6".into()));
        assert_eq!(
            x.respond(Some(b"YWxpY2U=")),
            Step::Challenge("UGFzc3dvcmQ6".into())
        );
        assert_eq!(x.respond(Some(b"c2VjcmV0")), login(b"alice", b"secret"));
        // initial response = the user name
        let (mut x, s) = Exchange::start(b"login", Some(b"YWxpY2U="), &ctx());
        assert_eq!(s, Step::Challenge("UGFzc3dvcmQ6".into()));
        assert_eq!(x.respond(Some(b"*")), Step::Failed(SaslFailure::Aborted));
        let (mut x, _) = Exchange::start(b"LOGIN", None, &ctx());
        x.respond(Some(b"!!!!"));
        assert_eq!(
            x.respond(Some(b"c2VjcmV0")),
            Step::Failed(SaslFailure::Aborted)
        );
    }

    #[test]
    fn cram_challenge_has_courier_shape_and_response_passes_through() {
        let (mut x, s) = Exchange::start(b"CRAM-MD5", None, &ctx());
        let want = base64::encode(b"<76F87C943A7A1E3DAEB9911C1539B37A@mx1>");
        assert_eq!(s, Step::Challenge(want.clone()));
        assert_eq!(
            x.respond(Some(b"YWxpY2UgYWJj")),
            Step::Done(AuthRequest::Cram {
                alg: Cram::Md5,
                challenge: want,
                response: b"YWxpY2UgYWJj".to_vec(),
            })
        );
        let (_, s) = Exchange::start(b"cram-sha256", Some(b"abc"), &ctx());
        assert_eq!(s, Step::Failed(SaslFailure::CramInitialResponse));
        let (_, s) = Exchange::start(b"CRAM-SHA1", Some(b""), &ctx());
        assert!(matches!(s, Step::Challenge(_)));
    }

    #[test]
    fn unknown_mechanism_and_missing_response_are_errors() {
        assert_eq!(
            Exchange::start(b"FOO", None, &ctx()).1,
            Step::Failed(SaslFailure::Error)
        );
        assert_eq!(
            Exchange::start(b"", None, &ctx()).1,
            Step::Failed(SaslFailure::Error)
        );
        let (mut x, _) = Exchange::start(b"PLAIN", None, &ctx());
        assert_eq!(x.respond(None), Step::Failed(SaslFailure::Error));
    }

    #[test]
    fn external_needs_a_certificate_identity() {
        assert_eq!(
            Exchange::start(b"EXTERNAL", None, &ctx()).1,
            Step::Failed(SaslFailure::Error)
        );
        let c = Context {
            external: Some(b"alice@example.com"),
            ..ctx()
        };
        let done = Step::Done(AuthRequest::External {
            id: b"alice@example.com".to_vec(),
        });
        assert_eq!(
            Exchange::start(b"EXTERNAL", Some(b""), &c).1,
            Step::Challenge(String::new())
        );
        assert_eq!(
            Exchange::start(b"EXTERNAL", Some(&b64(b"alice@example.com")), &c).1,
            done
        );
        assert_eq!(
            Exchange::start(b"EXTERNAL", Some(&b64(b"bob")), &c).1,
            Step::Failed(SaslFailure::Error)
        );
        let (mut x, _) = Exchange::start(b"EXTERNAL", None, &c);
        assert_eq!(x.respond(Some(b"")), done);
    }

    #[test]
    fn cram_user_rewrite_reencodes() {
        let r = base64::encode(b"alice 0123abcd");
        let out = rewrite_cram_user(r.as_bytes(), |u| [u, b"@example.com"].concat()).unwrap();
        assert_eq!(base64::decode(&out).unwrap(), b"alice@example.com 0123abcd");
        assert_eq!(rewrite_cram_user(b"YWxpY2U=", |u| u.to_vec()), None);
        assert_eq!(cram_user(r.as_bytes()).unwrap(), b"alice");
    }

    #[test]
    fn random128_is_32_uppercase_hex_digits() {
        let r = random128();
        assert_eq!(r.len(), 32);
        assert!(
            r.bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
        );
        assert_ne!(r, random128());
    }
}
