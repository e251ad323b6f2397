//! A blocking authdaemond client, as libcourierauth behaves: one connection per
//! request, `TCPREMOTEIP` sent as a meta line when set, 10 s to connect, 10 s per
//! write and 30 s in all to read the reply (`TIMEOUT_SOCK`, `TIMEOUT_WRITE`,
//! `TIMEOUT_READ` override them, in seconds).

use crate::record::{self, AuthInfo, EnumEntry, Reply};
use crate::request::Request;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Replies longer than this are refused (Courier truncates at 8 KiB).
pub const MAX_REPLY: usize = 64 * 1024;

/// How a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `FAIL`: wrong password or no such account (Courier: "Login failed").
    #[error("authentication failed")]
    Rejected,
    /// The daemon closed without a complete reply: a temporary failure.
    #[error("authdaemond at {socket}: temporary failure (no reply)")]
    Temporary {
        /// The socket.
        socket: PathBuf,
    },
    /// The socket could not be reached or the exchange broke off.
    #[error("authdaemond at {}: {source}", socket.display())]
    Io {
        /// The socket.
        socket: PathBuf,
        /// What happened.
        #[source]
        source: io::Error,
    },
    /// A meta value the client refuses to send (control characters).
    #[error("refusing to send a value with control characters")]
    BadValue,
}

/// Timeouts of one exchange.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Connecting.
    pub connect: Duration,
    /// Each write.
    pub write: Duration,
    /// The whole reply.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            write: Duration::from_secs(10),
            read: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// Defaults, overridden by `TIMEOUT_SOCK`, `TIMEOUT_WRITE`, `TIMEOUT_READ`.
    pub fn from_env() -> Self {
        let secs = |name: &str, default: Duration| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&n| n > 0)
                .map(Duration::from_secs)
                .unwrap_or(default)
        };
        let d = Timeouts::default();
        Timeouts {
            connect: secs("TIMEOUT_SOCK", d.connect),
            write: secs("TIMEOUT_WRITE", d.write),
            read: secs("TIMEOUT_READ", d.read),
        }
    }
}

/// A client of one authdaemond socket.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
    timeouts: Timeouts,
    remote_ip: Option<String>,
}

impl Client {
    /// A client for `socket` with the environment's timeouts and `TCPREMOTEIP`.
    pub fn new(socket: impl AsRef<Path>) -> Self {
        Client {
            socket: socket.as_ref().to_path_buf(),
            timeouts: Timeouts::from_env(),
            remote_ip: std::env::var("TCPREMOTEIP").ok(),
        }
    }

    /// Replaces the timeouts.
    pub fn with_timeouts(mut self, t: Timeouts) -> Self {
        self.timeouts = t;
        self
    }

    /// Replaces the `TCPREMOTEIP` meta value (`None`: send none).
    pub fn with_remote_ip(mut self, ip: Option<String>) -> Self {
        self.remote_ip = ip;
        self
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn io(&self, source: io::Error) -> ClientError {
        ClientError::Io {
            socket: self.socket.clone(),
            source,
        }
    }

    /// Sends `request` and returns the raw reply (up to the terminator or EOF).
    /// With `enumerate`, the reply is a stream ended by a `.` line.
    fn exchange(
        &self,
        request: &Request,
        max: usize,
        enumerate: bool,
    ) -> Result<Vec<u8>, ClientError> {
        let mut bytes = Vec::new();
        if let Some(ip) = &self.remote_ip {
            if ip.bytes().any(|b| b < 0x20) {
                return Err(ClientError::BadValue);
            }
            bytes.extend_from_slice(format!("TCPREMOTEIP={ip}\n").as_bytes());
        }
        bytes.extend_from_slice(&request.encode());
        let mut stream = connect(&self.socket, self.timeouts.connect).map_err(|e| self.io(e))?;
        stream
            .set_write_timeout(Some(self.timeouts.write))
            .map_err(|e| self.io(e))?;
        stream.write_all(&bytes).map_err(|e| self.io(e))?;
        let deadline = Instant::now() + self.timeouts.read;
        let mut reply = Vec::with_capacity(512);
        let mut buf = [0u8; 8192];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.io(io::Error::new(io::ErrorKind::TimedOut, "reply timed out")));
            }
            stream
                .set_read_timeout(Some(left))
                .map_err(|e| self.io(e))?;
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            if n == 0 {
                return Ok(reply);
            }
            reply.extend_from_slice(&buf[..n]);
            if reply.len() > max {
                return Err(self.io(io::Error::new(io::ErrorKind::InvalidData, "reply too long")));
            }
            let done = if enumerate {
                reply.starts_with(b".\n") || reply.ends_with(b"\n.\n")
            } else {
                record::reply_complete(&reply)
            };
            if done {
                return Ok(reply);
            }
        }
    }

    fn lookup(&self, request: &Request) -> Result<AuthInfo, ClientError> {
        match record::parse_reply(&self.exchange(request, MAX_REPLY, false)?) {
            Reply::Ok(info) => Ok(*info),
            Reply::Fail | Reply::PasswdOk => Err(ClientError::Rejected),
            Reply::Temporary => Err(ClientError::Temporary {
                socket: self.socket.clone(),
            }),
        }
    }

    /// `PRE`: looks up `userid` for `service` in `module` (`.` = every module).
    pub fn pre(&self, module: &str, service: &str, userid: &str) -> Result<AuthInfo, ClientError> {
        self.lookup(&Request::Pre {
            module: module.into(),
            service: service.into(),
            userid: userid.into(),
        })
    }

    /// `AUTH` of type `login` with a user id and password.
    pub fn auth_login(
        &self,
        service: &str,
        userid: &str,
        password: &str,
    ) -> Result<AuthInfo, ClientError> {
        if userid.contains('\n') || password.contains('\n') {
            return Err(ClientError::BadValue);
        }
        self.auth(
            service,
            "login",
            format!("{userid}\n{password}\n").as_bytes(),
        )
    }

    /// `AUTH` with any authtype and raw authdata.
    pub fn auth(
        &self,
        service: &str,
        authtype: &str,
        authdata: &[u8],
    ) -> Result<AuthInfo, ClientError> {
        self.lookup(&Request::Auth {
            service: service.into(),
            authtype: authtype.into(),
            authdata: authdata.to_vec(),
        })
    }

    /// `PASSWD`: changes a password. Fields with control characters are refused
    /// before anything is sent.
    pub fn passwd(
        &self,
        service: &str,
        userid: &str,
        old: &str,
        new: &str,
    ) -> Result<(), ClientError> {
        if [service, userid, old, new]
            .iter()
            .any(|f| f.bytes().any(|b| b < 0x20))
        {
            return Err(ClientError::BadValue);
        }
        let req = Request::Passwd {
            service: service.into(),
            userid: userid.into(),
            old: old.into(),
            new: new.into(),
        };
        match record::parse_reply(&self.exchange(&req, MAX_REPLY, false)?) {
            Reply::PasswdOk => Ok(()),
            Reply::Temporary => Err(ClientError::Temporary {
                socket: self.socket.clone(),
            }),
            _ => Err(ClientError::Rejected),
        }
    }

    /// `ENUMERATE`: every account. The bool is false when the stream ended without
    /// the final `.` (a module aborted): the list is then incomplete.
    pub fn enumerate(&self) -> Result<(Vec<EnumEntry>, bool), ClientError> {
        let raw = self.exchange(&Request::Enumerate, usize::MAX, true)?;
        Ok(record::parse_enumeration(&raw))
    }
}

/// Connects with a timeout (a Unix connect rarely blocks, but a full backlog can).
fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let start = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A one-shot fake daemon answering `reply`; returns what it received.
    fn serve(
        reply: &'static [u8],
    ) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let listener = UnixListener::bind(&path).unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = vec![0u8; 4096];
            let n = s.read(&mut got).unwrap();
            got.truncate(n);
            s.write_all(reply).unwrap();
            got
        });
        (dir, path, h)
    }

    #[test]
    fn pre_sends_meta_and_parses_record() {
        let (_d, path, h) = serve(b"UID=5\nGID=6\nHOME=/h\nADDRESS=a\n.\n");
        let c = Client::new(&path).with_remote_ip(Some("::1".into()));
        let info = c.pre(".", "imap", "a").unwrap();
        assert_eq!(
            (info.uid, info.gid, info.home.as_str()),
            (Some(5), Some(6), "/h")
        );
        assert_eq!(h.join().unwrap(), b"TCPREMOTEIP=::1\nPRE . imap a\n");
    }

    #[test]
    fn fail_and_silent_close_are_distinguished() {
        let (_d, path, _h) = serve(b"FAIL\n");
        let c = Client::new(&path).with_remote_ip(None);
        assert!(matches!(
            c.auth_login("imap", "a", "b"),
            Err(ClientError::Rejected)
        ));
        let (_d2, path2, _h2) = serve(b"");
        let c = Client::new(&path2).with_remote_ip(None);
        assert!(matches!(
            c.auth_login("imap", "a", "b"),
            Err(ClientError::Temporary { .. })
        ));
    }

    #[test]
    fn missing_socket_names_the_path() {
        let c = Client::new("/nonexistent/socket");
        let e = c.pre(".", "imap", "a").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/socket"), "{e}");
    }

    #[test]
    fn control_characters_are_never_sent() {
        let c = Client::new("/nonexistent").with_remote_ip(None);
        assert!(matches!(
            c.passwd("imap", "a\tb", "o", "n"),
            Err(ClientError::BadValue)
        ));
        let c = Client::new("/nonexistent").with_remote_ip(Some("1\n2".into()));
        assert!(matches!(
            c.pre(".", "imap", "a"),
            Err(ClientError::BadValue)
        ));
    }
}
