//! The two programs' `main`: argument check, environment defaults, the 60-second
//! limit, the session, and how it ends.

use crate::capability::Protocol;
use crate::env::{self, Environ};
use crate::finish::Chain;
use crate::io::{Conn, Stdio, Transport};
use crate::session::Logger;
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// The whole pre-authentication phase may last this long (Courier's `alarm(60)`).
pub const PREAUTH_LIMIT: Duration = Duration::from_secs(60);

/// The host name in CRAM challenges (`gethostname`, else `cram`, as Courier).
fn cram_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cram".into())
}

/// Ends the process: an exit code, or death by SIGALRM like Courier's timeout.
fn end(timeout: bool, code: i32) -> ! {
    if timeout {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGALRM);
    }
    std::process::exit(code)
}

fn args_ok(args: &[OsString], usage: &[u8]) -> Option<(OsString, OsString)> {
    if args.len() != 3 {
        let _ = Stdio.write_all(usage);
        return None;
    }
    Some((args[1].clone(), args[2].clone()))
}

/// `imaplogin IMAPD_PATH DEFAULT_MAILDIR`. Never returns.
pub fn imaplogin(args: &[OsString]) -> ! {
    let Some((program, maildir)) =
        args_ok(args, b"* BYE imaplogin expected exactly two arguments.\r\n")
    else {
        std::process::exit(1)
    };
    // The hard backstop; reads give up at PREAUTH_LIMIT and end the same way.
    nix::unistd::alarm::set(PREAUTH_LIMIT.as_secs() as u32 + 2);
    let mut e = Environ::from_process();
    if e.get(env::TCPREMOTEIP).is_none() {
        e.set(env::TCPREMOTEIP, "127.0.0.1");
    }
    if e.get(env::TCPREMOTEPORT).is_none() {
        e.set(env::TCPREMOTEPORT, "N/A");
    }
    if e.get(env::TCPLOCALPORT).is_none() {
        e.set(env::TCPLOCALPORT, "143");
    }
    e.set(env::PROTOCOL, "IMAP");
    let mut chain = Chain::new(Protocol::Imap, program, maildir, &e);
    let conn = Conn::new(Stdio, Some(Instant::now() + PREAUTH_LIMIT));
    let mut s =
        crate::imap::ImapLogin::new(conn, e, &mut chain, Logger::stderr(), &cram_hostname());
    match s.run() {
        crate::imap::Outcome::Exit(c) => end(false, c),
        crate::imap::Outcome::Timeout => end(true, 1),
    }
}

/// `courierpop3login POP3D_PATH DEFAULT_MAILDIR`. Never returns.
pub fn courierpop3login(args: &[OsString]) -> ! {
    let Some((program, maildir)) =
        args_ok(args, b"-ERR pop3login requires exactly two arguments.\r\n")
    else {
        std::process::exit(1)
    };
    nix::unistd::alarm::set(PREAUTH_LIMIT.as_secs() as u32 + 2);
    let e = Environ::from_process();
    let mut chain = Chain::new(Protocol::Pop3, program, maildir, &e);
    let conn = Conn::new(Stdio, Some(Instant::now() + PREAUTH_LIMIT));
    let mut s =
        crate::pop3::Pop3Login::new(conn, e, &mut chain, Logger::stderr(), &cram_hostname());
    match s.run() {
        crate::pop3::Outcome::Exit(c) => end(false, c),
        crate::pop3::Outcome::Timeout => end(true, 1),
    }
}
