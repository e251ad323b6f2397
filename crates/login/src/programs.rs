//! The two programs' `main`: argument check, environment defaults, the 60-second
//! limit, the session (split when started as root, see [`crate::preauth`]), and
//! how it ends.

use crate::capability::Protocol;
use crate::env::{self, Environ};
use crate::finish::Chain;
use crate::io::{Conn, Stdio, Transport};
use crate::session::{Backend, Logger, Outcome};
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
fn end_with(outcome: Outcome) -> ! {
    match outcome {
        Outcome::Exit(c) => std::process::exit(c),
        Outcome::Timeout => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGALRM);
            std::process::exit(1)
        }
    }
}

fn args_ok(args: &[OsString], usage: &[u8]) -> Option<(OsString, OsString)> {
    if args.len() != 3 {
        let _ = Stdio.write_all(usage);
        return None;
    }
    Some((args[1].clone(), args[2].clone()))
}

fn imap_dialogue(backend: &mut dyn Backend, env: Environ) -> Outcome {
    let conn = Conn::new(Stdio, Some(Instant::now() + PREAUTH_LIMIT));
    crate::imap::ImapLogin::new(conn, env, backend, Logger::stderr(), &cram_hostname()).run()
}

fn pop3_dialogue(backend: &mut dyn Backend, env: Environ) -> Outcome {
    let conn = Conn::new(Stdio, Some(Instant::now() + PREAUTH_LIMIT));
    crate::pop3::Pop3Login::new(conn, env, backend, Logger::stderr(), &cram_hostname()).run()
}

/// The dialogue in an unprivileged child when started as root
/// ([`crate::preauth`]), else in this process.
fn run(chain: Chain, env: Environ, dialogue: fn(&mut dyn Backend, Environ) -> Outcome) -> ! {
    // The hard backstop; reads give up at PREAUTH_LIMIT and end the same way.
    nix::unistd::alarm::set(PREAUTH_LIMIT.as_secs() as u32 + 2);
    match crate::preauth::preauth_identity(&env) {
        Ok(Some(id)) => crate::preauth::run(chain, env, id, dialogue, end_with),
        Ok(None) => {
            let mut chain = chain;
            end_with(dialogue(&mut chain, env))
        }
        Err(warning) => {
            Logger::stderr().line(&warning);
            let mut chain = chain;
            end_with(dialogue(&mut chain, env))
        }
    }
}

/// `imaplogin IMAPD_PATH DEFAULT_MAILDIR`. Never returns.
pub fn imaplogin(args: &[OsString]) -> ! {
    let Some((program, maildir)) =
        args_ok(args, b"* BYE imaplogin expected exactly two arguments.\r\n")
    else {
        std::process::exit(1)
    };
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
    let chain = Chain::new(Protocol::Imap, program, maildir, &e);
    run(chain, e, imap_dialogue)
}

/// `courierpop3login POP3D_PATH DEFAULT_MAILDIR`. Never returns.
pub fn courierpop3login(args: &[OsString]) -> ! {
    let Some((program, maildir)) =
        args_ok(args, b"-ERR pop3login requires exactly two arguments.\r\n")
    else {
        std::process::exit(1)
    };
    let e = Environ::from_process();
    let chain = Chain::new(Protocol::Pop3, program, maildir, &e);
    run(chain, e, pop3_dialogue)
}
