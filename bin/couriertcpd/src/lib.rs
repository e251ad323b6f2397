//! couriertcpd: Courier's accept-and-fork TCP server, with Courier's command line,
//! messages, child environment and exit codes (programs.md "couriertcpd";
//! couriertcpd(8)).
//!
//! ```text
//! couriertcpd [-pid=FILE] [options] PORTLIST PROGRAM [ARG...]
//! couriertcpd -pid=FILE -stop | -restart
//! ```
//! Process: parse options → (`-pid`) daemonize and lock → bind → (`-pid`) write the pid
//! file → `-group`/`-user` drop → (`-pid`) stdio to /dev/null → `-stderrlogger` /
//! `-stderr=FILE` → become a process group leader → serve ([`server`]).
//! Every failure before serving exits 1, as Courier's does.
#![forbid(unsafe_code)]

pub mod child;
pub mod cli;
pub mod daemon;
pub mod server;

use cli::{Config, Mode};
use nix::unistd::{Gid, Group, Pid, Uid, User, setgid, setgroups, setpgid, setuid};
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}

/// Runs couriertcpd with `argv` (argv\[0\] included). Returns the exit code for
/// `-stop`/`-restart` and refusals; serving never returns.
pub fn run(argv: &[OsString]) -> u8 {
    let config = match cli::parse(argv) {
        Ok(Mode::Stop(pid)) => {
            daemon::stop(&pid);
            return 0;
        }
        Ok(Mode::Restart(pid)) => {
            daemon::restart(&pid);
            return 0;
        }
        Ok(Mode::Serve(config)) => *config,
        Err(cli::Refused(text)) => {
            eprintln!("{text}");
            return 1;
        }
    };
    serve(config)
}

fn serve(config: Config) -> ! {
    let starting = config.pid.as_deref().map(daemon::start);
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    let mut listeners = Vec::new();
    for item in courier_net::addr::parse_portlist(&config.ports, config.address.as_deref()) {
        match courier_net::listen::open(&item, &services, config.listen.unwrap_or(libc::SOMAXCONN))
        {
            Ok(mut l) => listeners.append(&mut l),
            Err(e) => fail(e),
        }
    }
    if listeners.is_empty() {
        fail(format!("Invalid port: {}", config.ports));
    }
    // Held until exit: dropping it would release the -pid lock.
    let _lock = match (starting, config.pid.as_deref()) {
        (Some(s), Some(pid)) => Some(s.started(pid)),
        _ => None,
    };
    drop_privileges(&config);
    if config.pid.is_some()
        && let Err(e) = daemon::reset_io()
    {
        fail(format!(
            "ll_daemon_resetio: {}",
            courier_common::strerror(&e)
        ));
    }
    setup_stderr(&config);
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // A handler (never run: the signals are blocked and read from a signalfd) replaces an
    // inherited SIG_IGN, which would discard the signal, and is reset to the default by
    // exec, so PROGRAM starts with these signals at their defaults, as under Courier.
    for signal in [libc::SIGCHLD, libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal, flag) {
            fail(format!("sigaction: {}", courier_common::strerror(&e)));
        }
    }
    if let Err(e) = server::handled_signals().thread_block() {
        fail(format!("sigprocmask: {}", e.desc()));
    }
    let mut server = match server::Server::new(config, listeners) {
        Ok(s) => s,
        Err(e) => fail(format!("signalfd: {}", e.desc())),
    };
    server.run()
}

fn numeric(text: &str) -> Option<u32> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `-group` then `-user`, as Courier's libmail helpers: supplementary groups, gid, uid.
fn drop_privileges(config: &Config) {
    let sys = |what: &str, e: nix::Error| fail(format!("{what}: {}", e.desc()));
    let mut gid = None;
    if let Some(g) = &config.group {
        let id = match numeric(g) {
            Some(n) => Gid::from_raw(n),
            None => match Group::from_name(g) {
                Ok(Some(gr)) => gr.gid,
                _ => fail(format!("Group not found: {g}")),
            },
        };
        if let Err(e) = setgroups(&[id]) {
            sys("setgroups", e);
        }
        if let Err(e) = setgid(id) {
            sys("setgid", e);
        }
        gid = Some(id);
    }
    if let Some(u) = &config.user {
        match numeric(u) {
            Some(n) => {
                let g = nix::unistd::getgid();
                if let Err(e) = setgroups(&[g]) {
                    sys("setgroups", e);
                }
                if let Err(e) = setuid(Uid::from_raw(n)) {
                    sys("setuid", e);
                }
            }
            None => {
                let Ok(Some(pw)) = User::from_name(u) else {
                    fail(format!("Unknown user: {u}"));
                };
                let g = gid.unwrap_or(pw.gid);
                let Ok(name) = std::ffi::CString::new(u.as_bytes()) else {
                    fail(format!("Unknown user: {u}"));
                };
                if let Err(e) = nix::unistd::initgroups(&name, g) {
                    sys("initgroups", e);
                }
                if let Err(e) = setgid(g) {
                    sys("setgid", e);
                }
                if let Err(e) = setuid(pw.uid) {
                    sys("setuid", e);
                }
            }
        }
    }
}

/// `-stderrlogger=PROG` (one PROG reads every child's stderr; argv\[1\] = the program's
/// base name or `-stderrloggername`) or `-stderr=FILE` (appended, created 0660).
fn setup_stderr(config: &Config) {
    if let Some(logger) = &config.stderrlogger {
        let name = config
            .stderrloggername
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                let p = std::path::Path::new(&config.program);
                p.file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_else(|| config.program.clone())
            });
        let (rd, wr) = match nix::unistd::pipe() {
            Ok(p) => p,
            Err(e) => fail(format!("pipe: {}", e.desc())),
        };
        let spawned = Command::new(logger)
            .arg(name)
            .stdin(Stdio::from(rd))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            fail(format!(
                "{}: {}",
                logger.to_string_lossy(),
                courier_common::strerror(&e)
            ));
        }
        if let Err(e) = nix::unistd::dup2_stderr(&wr) {
            fail(format!("dup: {}", e.desc()));
        }
    } else if let Some(path) = config.stderr.as_ref().filter(|s| *s != "socket") {
        match OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o660)
            .open(path)
        {
            Ok(f) => {
                if let Err(e) = nix::unistd::dup2_stderr(&f) {
                    fail(format!("dup: {}", e.desc()));
                }
            }
            Err(e) => fail(format!(
                "{}: {}",
                path.to_string_lossy(),
                courier_common::strerror(&e)
            )),
        }
    }
}
