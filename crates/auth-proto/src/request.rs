//! Request framing and parsing (authdaemon-protocol.md §2, §3).
//!
//! ```text
//! [NAME=value\n]...             meta lines (only TCPREMOTEIP is kept)
//! PRE <module> <service> <userid>\n
//! AUTH <n>\n<service>\n<authtype>\n<authdata>     (n bytes after the first \n)
//! PASSWD <service>\t<userid>\t<old>\t<new>\n
//! ENUMERATE\n
//! ```

/// Longest request line the daemon accepts (Courier: 8190 bytes); longer → drop.
pub const MAX_LINE: usize = 8190;
/// An AUTH byte count must be below this (Courier: 8192).
pub const MAX_AUTH: usize = 8192;
/// Courier keeps the first 39 bytes of TCPREMOTEIP.
pub const MAX_REMOTE_IP: usize = 39;
/// Meta lines accepted before the command line.
pub const MAX_META_LINES: usize = 16;

/// One parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Look up an account without a password.
    Pre {
        /// `.` for every module, else one module's name.
        module: String,
        /// `imap`, `pop3`, `login`, ...
        service: String,
        /// The rest of the line (may contain spaces).
        userid: String,
    },
    /// Verify credentials.
    Auth {
        /// The service.
        service: String,
        /// `login`, `cram-md5`, `cram-sha1`, `cram-sha256`, ...
        authtype: String,
        /// The raw authdata (for `login`: `userid\npassword\n`).
        authdata: Vec<u8>,
    },
    /// Change a password.
    Passwd {
        /// The service.
        service: String,
        /// The account.
        userid: String,
        /// Old password.
        old: String,
        /// New password.
        new: String,
    },
    /// List every account.
    Enumerate,
}

/// A request with the meta data that came before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framed {
    /// The command.
    pub request: Request,
    /// `TCPREMOTEIP` from a meta line (first 39 bytes), if sent.
    pub remote_ip: Option<String>,
}

/// Why a request was refused. Courier's answer to all of these is to close the
/// connection without a reply, except [`ParseError::BadPasswdArgs`] (`FAIL`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A line longer than [`MAX_LINE`] (client bug or attack).
    #[error("request line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// Too many meta lines before the command.
    #[error("more than {MAX_META_LINES} meta lines")]
    TooManyMetaLines,
    /// A command word the daemon does not know.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// `AUTH` with a byte count that is not a number or not below [`MAX_AUTH`].
    #[error("bad AUTH byte count {0:?}")]
    BadAuthLength(String),
    /// An `AUTH` payload without service, authtype and data lines.
    #[error("malformed AUTH payload")]
    BadAuthPayload,
    /// `PRE` without module, service and userid.
    #[error("malformed PRE request")]
    BadPre,
    /// `PASSWD` with a control character or the wrong number of fields.
    #[error("malformed PASSWD request")]
    BadPasswdArgs,
    /// The request is not UTF-8 where text is required.
    #[error("request is not valid UTF-8")]
    NotUtf8,
}

/// Parses a request from the start of `buf`. `Ok(None)`: incomplete, read more.
/// `Ok(Some((request, used)))`: complete, `used` bytes consumed.
pub fn parse(buf: &[u8]) -> Result<Option<(Framed, usize)>, ParseError> {
    let mut pos = 0;
    let mut remote_ip = None;
    let mut metas = 0;
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            if buf.len() - pos > MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            return Ok(None);
        };
        if nl > MAX_LINE {
            return Err(ParseError::LineTooLong);
        }
        let line = &buf[pos..pos + nl];
        let next = pos + nl + 1;
        // §2: the first space or '=' decides: '=' first → meta line.
        let first = line.iter().position(|&b| b == b' ' || b == b'=');
        if let Some(i) = first
            && line[i] == b'='
        {
            metas += 1;
            if metas > MAX_META_LINES {
                return Err(ParseError::TooManyMetaLines);
            }
            if &line[..i] == b"TCPREMOTEIP" {
                let v = &line[i + 1..];
                let v = &v[..v.len().min(MAX_REMOTE_IP)];
                remote_ip = Some(String::from_utf8_lossy(v).into_owned());
            }
            pos = next;
            continue;
        }
        let (cmd, args) = match first {
            Some(i) => {
                let rest = &line[i + 1..];
                let skip = rest.iter().take_while(|&&b| b == b' ').count();
                (&line[..i], &rest[skip..])
            }
            None => (line, &line[line.len()..]),
        };
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| ParseError::NotUtf8);
        let request = match cmd {
            b"PRE" => {
                let args = text(args)?;
                let mut it = args.splitn(3, ' ');
                match (it.next(), it.next(), it.next()) {
                    (Some(m), Some(s), Some(u)) if !m.is_empty() && !s.is_empty() => Request::Pre {
                        module: m.into(),
                        service: s.into(),
                        userid: u.into(),
                    },
                    _ => return Err(ParseError::BadPre),
                }
            }
            b"AUTH" => {
                let n_text = text(args)?;
                let n: usize = n_text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&n| n < MAX_AUTH)
                    .ok_or(ParseError::BadAuthLength(n_text.clone()))?;
                if buf.len() < next + n {
                    return Ok(None);
                }
                let payload = &buf[next..next + n];
                let request = parse_auth_payload(payload)?;
                return Ok(Some((Framed { request, remote_ip }, next + n)));
            }
            b"PASSWD" => {
                if args.iter().any(|&b| b < 0x20 && b != b'\t') {
                    return Err(ParseError::BadPasswdArgs);
                }
                let args = text(args)?;
                let f: Vec<&str> = args.split('\t').collect();
                if f.len() != 4 {
                    return Err(ParseError::BadPasswdArgs);
                }
                Request::Passwd {
                    service: f[0].into(),
                    userid: f[1].into(),
                    old: f[2].into(),
                    new: f[3].into(),
                }
            }
            b"ENUMERATE" => Request::Enumerate,
            other => {
                // Only a prefix: the word is the client's, and it goes into a log line.
                let shown = &other[..other.len().min(32)];
                return Err(ParseError::UnknownCommand(
                    String::from_utf8_lossy(shown).into(),
                ));
            }
        };
        return Ok(Some((Framed { request, remote_ip }, next)));
    }
}

fn parse_auth_payload(payload: &[u8]) -> Result<Request, ParseError> {
    let mut parts = payload.splitn(3, |&b| b == b'\n');
    let service = parts.next().ok_or(ParseError::BadAuthPayload)?;
    let authtype = parts.next().ok_or(ParseError::BadAuthPayload)?;
    let authdata = parts.next().ok_or(ParseError::BadAuthPayload)?;
    let s = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| ParseError::NotUtf8);
    Ok(Request::Auth {
        service: s(service)?,
        authtype: s(authtype)?,
        authdata: authdata.to_vec(),
    })
}

impl Request {
    /// Encodes the request as a client sends it (without meta lines).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Pre {
                module,
                service,
                userid,
            } => format!("PRE {module} {service} {userid}\n").into_bytes(),
            Request::Auth {
                service,
                authtype,
                authdata,
            } => {
                let n = service.len() + authtype.len() + authdata.len() + 2;
                let mut v = format!("AUTH {n}\n{service}\n{authtype}\n").into_bytes();
                v.extend_from_slice(authdata);
                v
            }
            Request::Passwd {
                service,
                userid,
                old,
                new,
            } => format!("PASSWD {service}\t{userid}\t{old}\t{new}\n").into_bytes(),
            Request::Enumerate => b"ENUMERATE\n".to_vec(),
        }
    }
}

/// Splits `login` authdata (`userid\npassword\n`) into its two fields.
pub fn split_login(authdata: &[u8]) -> Option<(String, String)> {
    let mut it = authdata.split(|&b| b == b'\n');
    let user = String::from_utf8(it.next()?.to_vec()).ok()?;
    let pass = String::from_utf8(it.next()?.to_vec()).ok()?;
    Some((user, pass))
}

/// Splits `cram-*` authdata (`base64 challenge\nbase64 response\n`).
pub fn split_cram(authdata: &[u8]) -> Option<(String, String)> {
    split_login(authdata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(b: &[u8]) -> Framed {
        let (f, used) = parse(b).unwrap().unwrap();
        assert_eq!(used, b.len(), "{:?}", String::from_utf8_lossy(b));
        f
    }

    #[test]
    fn parses_courier_examples() {
        assert_eq!(
            req(b"PRE . imap alice\n").request,
            Request::Pre {
                module: ".".into(),
                service: "imap".into(),
                userid: "alice".into()
            }
        );
        let f = req(b"TCPREMOTEIP=::1\nAUTH 24\npop3\nlogin\nalice\nsecret\n");
        assert_eq!(f.remote_ip.as_deref(), Some("::1"));
        assert_eq!(
            f.request,
            Request::Auth {
                service: "pop3".into(),
                authtype: "login".into(),
                authdata: b"alice\nsecret\n".to_vec()
            }
        );
        assert_eq!(
            req(b"PASSWD pop3\talice\tsecret\tnewsecret\n").request,
            Request::Passwd {
                service: "pop3".into(),
                userid: "alice".into(),
                old: "secret".into(),
                new: "newsecret".into()
            }
        );
        assert_eq!(req(b"ENUMERATE\n").request, Request::Enumerate);
        assert_eq!(
            req(b"PRE authuserdb login john smith\n").request,
            Request::Pre {
                module: "authuserdb".into(),
                service: "login".into(),
                userid: "john smith".into()
            }
        );
    }

    #[test]
    fn incomplete_requests_ask_for_more() {
        for partial in [
            &b""[..],
            b"PRE . imap",
            b"AUTH 24\npop3\nlogin\nal",
            b"TCPREMOTEIP=x\n",
        ] {
            assert_eq!(
                parse(partial),
                Ok(None),
                "{:?}",
                String::from_utf8_lossy(partial)
            );
        }
    }

    #[test]
    fn hostile_requests_are_refused() {
        let long = vec![b'A'; MAX_LINE + 2];
        assert_eq!(parse(&long), Err(ParseError::LineTooLong));
        assert!(matches!(
            parse(b"HELLO x\n"),
            Err(ParseError::UnknownCommand(_))
        ));
        let mut huge = vec![b'Z'; 8000];
        huge.push(b'\n');
        match parse(&huge) {
            Err(ParseError::UnknownCommand(w)) => assert_eq!(w.len(), 32),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"AUTH 9999\n"),
            Err(ParseError::BadAuthLength(_))
        ));
        assert!(matches!(
            parse(b"AUTH x\n"),
            Err(ParseError::BadAuthLength(_))
        ));
        assert_eq!(parse(b"AUTH 3\nab\n"), Err(ParseError::BadAuthPayload));
        assert_eq!(parse(b"PRE .\n"), Err(ParseError::BadPre));
        assert_eq!(
            parse(b"PASSWD a\tb\x01\tc\td\n"),
            Err(ParseError::BadPasswdArgs)
        );
        assert_eq!(parse(b"PASSWD a\tb\tc\n"), Err(ParseError::BadPasswdArgs));
        let metas: Vec<u8> = b"X=1\n".repeat(MAX_META_LINES + 1);
        assert_eq!(parse(&metas), Err(ParseError::TooManyMetaLines));
    }

    #[test]
    fn encode_roundtrips_and_counts_auth_bytes() {
        let r = Request::Auth {
            service: "pop3".into(),
            authtype: "login".into(),
            authdata: b"alice\nsecret\n".to_vec(),
        };
        assert_eq!(r.encode(), b"AUTH 24\npop3\nlogin\nalice\nsecret\n");
        for r in [
            r,
            Request::Pre {
                module: ".".into(),
                service: "imap".into(),
                userid: "a b".into(),
            },
            Request::Passwd {
                service: "imap".into(),
                userid: "u".into(),
                old: "o".into(),
                new: "n".into(),
            },
            Request::Enumerate,
        ] {
            assert_eq!(req(&r.encode()).request, r);
        }
        assert_eq!(
            split_login(b"alice\nsecret\n"),
            Some(("alice".into(), "secret".into()))
        );
    }
}
