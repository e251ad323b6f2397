//! courierpop3d: the POP3 TRANSACTION and UPDATE states (RFC 1939) on the main
//! maildir of one account, as Courier 5's courierpop3d serves them: the same
//! texts, the same `courierpop3dsizelist` (so UIDLs survive switching between
//! Courier's server and this one), the same log lines. See courierpop3d(8).
//!
//! The login program has already authenticated the client and dropped to the
//! account; this program greets with `+OK logged in.` and talks POP3 on stdin and
//! stdout. Nothing is deleted before QUIT.
#![forbid(unsafe_code)]

pub mod maildir;
pub mod session;
pub mod stream;

use courier_common::{Severity, log};
use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variables courierpop3d reads.
pub mod env {
    /// The account name, for log lines (set by the login program).
    pub const AUTHENTICATED: &str = "AUTHENTICATED";
    /// The client's address and port, for log lines.
    pub const TCPREMOTEIP: &str = "TCPREMOTEIP";
    /// See [`TCPREMOTEIP`].
    pub const TCPREMOTEPORT: &str = "TCPREMOTEPORT";
    /// `1` when the connection is encrypted (`stls=1` in log lines, POP3AUTH_TLS).
    pub const POP3_TLS: &str = "POP3_TLS";
    /// Non-empty and not starting with `0`: log every deleted file.
    pub const POP3_LOG_DELETIONS: &str = "POP3_LOG_DELETIONS";
    /// SASL methods listed by CAPA.
    pub const POP3AUTH: &str = "POP3AUTH";
    /// SASL methods listed by CAPA on an encrypted connection, when non-empty.
    pub const POP3AUTH_TLS: &str = "POP3AUTH_TLS";
    /// `y...` (and an executable COURIERTLS): CAPA lists STLS, as Courier's does.
    pub const POP3_STARTTLS: &str = "POP3_STARTTLS";
    /// The couriertls program.
    pub const COURIERTLS: &str = "COURIERTLS";
    /// `0`: the client did not enable UTF8; messages with 8-bit headers are wrapped.
    pub const UTF8: &str = "UTF8";
    /// Content type of the wrapped original message (default `message/global`).
    pub const MIME_UNICODE_MESSAGE_TYPE: &str = "MIME_UNICODE_MESSAGE_TYPE";
    /// The maildir when no argument is given.
    pub const MAILDIR: &str = "MAILDIR";
}

/// What the log lines say about the connection.
#[derive(Clone, Debug)]
pub struct Peer {
    /// `AUTHENTICATED`.
    pub user: String,
    /// `TCPREMOTEIP`.
    pub ip: String,
    /// `TCPREMOTEPORT`.
    pub port: String,
    /// Whether `POP3_TLS` is set.
    pub tls: bool,
}

impl Peer {
    /// From the environment, with Courier's fallbacks.
    pub fn from_env() -> Peer {
        let var = |k: &str| std::env::var(k).ok();
        Peer {
            user: var(env::AUTHENTICATED).unwrap_or_default(),
            ip: var(env::TCPREMOTEIP).unwrap_or_else(|| "127.0.0.1".into()),
            port: var(env::TCPREMOTEPORT).unwrap_or_else(|| "0".into()),
            tls: var(env::POP3_TLS).is_some_and(|v| !v.is_empty()),
        }
    }

    /// `user=..., ip=[...], port=[...]`.
    pub fn who(&self) -> String {
        format!("user={}, ip=[{}], port=[{}]", self.user, self.ip, self.port)
    }
}

/// Runs the server; `args` are the arguments after the program name (the maildir).
/// Returns the exit code: 0 after a session, 1 when the maildir cannot be entered.
pub fn run(args: &[OsString]) -> u8 {
    let dir: PathBuf = args
        .first()
        .cloned()
        .or_else(|| std::env::var_os(env::MAILDIR).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("./Maildir"));
    let peer = Peer::from_env();
    let mut io = match session::Io::stdio() {
        Ok(io) => io,
        Err(e) => {
            log(
                Severity::Err,
                format!(
                    "courierpop3d: stdin/stdout: {}",
                    courier_common::strerror(&e)
                ),
            );
            return 1;
        }
    };
    // Courier chdirs into the maildir: log lines then name files `cur/...`.
    if let Err(e) = std::env::set_current_dir(&dir) {
        stderr_line(&format!(
            "chdir {}: {}",
            dir.display(),
            courier_common::strerror(&e)
        ));
        // Courier ends this one line with a bare LF.
        io.raw(format!("-ERR chdir {} failed\n", dir.display()).as_bytes());
        io.finish();
        return 1;
    }
    log(Severity::Info, format!("LOGIN, {}", peer.who()));
    let mailbox = match maildir::Mailbox::open(std::path::Path::new("."), &peer) {
        Ok(m) => m,
        Err(maildir::OpenError::NoCur(e)) => {
            stderr_line(&format!(
                "scancur opendir(\"cur\"): {}",
                courier_common::strerror(&e)
            ));
            io.reply("-ERR Maildir invalid (no 'cur' directory)");
            io.finish();
            return 0;
        }
        Err(maildir::OpenError::Other(e)) => {
            log(
                Severity::Err,
                format!("{}: {} ({})", dir.display(), e, peer.who()),
            );
            io.reply("-ERR Maildir invalid (cannot read it)");
            io.finish();
            return 0;
        }
    };
    session::Session::new(io, mailbox, peer).serve();
    0
}

/// Writes one unprefixed line to stderr (Courier's perror-style messages) with a
/// single write, so it never interleaves with other sessions' lines in a shared log.
fn stderr_line(text: &str) {
    use std::io::Write as _;
    let line = format!("{text}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
