//! imapd: the per-user IMAP4rev1 server Courier's login chain execs, working
//! directly on a maildir++ through courier-maildir.
//!
//! Contract (imapd(8)): `imapd [MAILDIR]`, the IMAP dialogue on stdin/stdout, log
//! lines on stderr. With `IMAPLOGINTAG` set (by imaplogin) the first line is
//! `<tag> OK LOGIN Ok.`; without it the session greets `* PREAUTH Ready.`.
#![forbid(unsafe_code)]

/// Writes one log line to stderr with a single write(2) (through
/// [`courier_common::log`]), so the lines of concurrent sessions sharing
/// couriertcpd's log never interleave: `log!(Info, "LOGIN, user={}", u)`.
macro_rules! log {
    ($sev:ident, $($arg:tt)*) => {
        courier_common::log(courier_common::Severity::$sev, format_args!($($arg)*))
    };
}

pub mod config;
pub mod envcache;
pub mod fetch;
pub mod folders;
pub mod idle;
pub mod io;
pub mod mailbox;
pub mod search;
pub mod session;
pub mod sort;

use std::path::PathBuf;

/// Runs the server; returns the process exit code.
pub fn run(args: &[std::ffi::OsString]) -> u8 {
    let cfg = config::Config::from_env();
    cfg.apply_process_limits();
    let maildir = match args.get(1) {
        Some(a) if !a.is_empty() => PathBuf::from(a),
        _ => match std::env::var_os("MAILDIR") {
            Some(m) if !m.is_empty() => PathBuf::from(m),
            _ => PathBuf::from("."),
        },
    };
    let root = if maildir.is_absolute() {
        maildir
    } else {
        match std::env::current_dir() {
            Ok(d) => d.join(maildir),
            Err(_) => maildir,
        }
    };
    let mut conn = match io::Conn::stdio() {
        Ok(c) => c,
        Err(e) => {
            log!(Err, "imapd: cannot use stdin/stdout: {e}");
            return 1;
        }
    };
    if let Err(what) = session::check_maildir(&root, &cfg) {
        conn.put(format!("* BYE [ALERT] Fatal error: {what}\r\n"));
        conn.flush();
        log!(Err, "{}: {}", what.trim_end_matches(": "), root.display());
        return 1;
    }
    let mut s = session::Session::new(cfg, root, conn);
    s.run();
    0
}
