//! courierlogger: send a program's stderr (or our stdin) to syslog, one message per
//! line, priority from Courier's `ERR:`/`WARN:`/... prefixes; optionally run the
//! program as a daemon with a pid file. See courierlogger(8).
#![forbid(unsafe_code)]

pub mod daemon;
pub mod lines;
pub mod syslog;

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, Uid};
use std::ffi::{CString, OsString};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Seconds between SIGTERM and SIGKILL for the program after `-stop`.
const KILL_AFTER: Duration = Duration::from_secs(8);
/// Delay before `-respawn` restarts the program.
const RESPAWN_DELAY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Opts {
    name: Option<String>,
    pid: Option<PathBuf>,
    user: Option<String>,
    group: Option<String>,
    droproot: bool,
    facility: Option<u8>,
    mode: u8, // 0 foreground, 1 start, 2 stop, 3 restart
    respawn: bool,
}

/// Runs courierlogger with the arguments after argv[0]; returns the exit code.
pub fn run(args: &[OsString]) -> u8 {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if text.len() == 1 && !text[0].starts_with('-') {
        // Legacy: `courierlogger TITLE` logs stdin.
        let _ = redirect_null(&[1, 2]);
        let mut log = syslog::Syslog::open(&text[0], facility_default());
        log_stream(std::io::stdin().as_fd(), &mut log, None);
        return 0;
    }
    if text.is_empty() {
        eprint!(
            "Usage: courierlogger [-name=name] [-pid=pidfile] [-facility=type]\n       [-start|-stop|-restart] [cmd [args...]]\n"
        );
        return 1;
    }
    let mut o = Opts::default();
    let mut i = 0;
    while i < text.len() && text[i].starts_with('-') {
        let a = &text[i];
        if let Some(v) = a.strip_prefix("-pid=").filter(|v| !v.is_empty()) {
            o.pid = Some(PathBuf::from(v));
        } else if let Some(v) = a.strip_prefix("-name=").filter(|v| !v.is_empty()) {
            o.name = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("-user=") {
            o.user = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("-group=") {
            o.group = Some(v.to_string());
        } else if a == "-droproot" {
            o.droproot = true;
        } else if let Some(v) = a.strip_prefix("-facility=") {
            match syslog::facility(v) {
                Some(f) => o.facility = Some(f),
                None => {
                    eprintln!("Unknown facility name '{v}'");
                    return 1;
                }
            }
        } else if a == "-start" {
            o.mode = 1;
        } else if a == "-stop" {
            o.mode = 2;
        } else if a == "-restart" {
            o.mode = 3;
        } else if a == "-respawn" {
            o.respawn = true;
        } else {
            eprintln!("Unknown option '{a}'");
            return 1;
        }
        i += 1;
    }
    let program: Vec<OsString> = args[i..].to_vec();
    if o.mode != 0 && o.pid.is_none() {
        eprintln!("-pid argument required");
        return 1;
    }
    if o.mode == 0 && o.pid.is_some() {
        o.mode = 1;
    }
    let name = match (&o.name, o.mode) {
        (Some(n), _) => n.clone(),
        (None, 2 | 3) => String::new(),
        (None, _) => match text.get(i).filter(|p| !p.is_empty()) {
            Some(p) => p.rsplit('/').next().unwrap_or(p).to_string(),
            None => {
                eprintln!("-name option required for standalone logger");
                return 1;
            }
        },
    };
    let pidfile = o.pid.clone().unwrap_or_default();
    let mut lockname = pidfile.clone().into_os_string();
    lockname.push(".lock");
    let lockfile = PathBuf::from(lockname);
    let facility = o.facility.unwrap_or_else(facility_default);

    // Signals arrive on a descriptor, polled with the input: no handlers.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGHUP);

    let (child_user, child_group) = if o.droproot {
        (o.user.clone(), o.group.clone())
    } else {
        (None, None)
    };
    let mut daemon_lock = None;
    let mut child: Option<(Pid, OwnedFd)> = None;
    match o.mode {
        1 => {
            if program.is_empty() {
                eprintln!("-start must be followed by a command to execute");
                return 1;
            }
            let starting = daemon::start(&lockfile);
            let _ = mask.thread_block();
            child = Some(start_child(
                &program,
                child_user.as_deref(),
                child_group.as_deref(),
            ));
            daemon_lock = Some(starting.started(&pidfile));
        }
        2 => return daemon::stop(&lockfile, &pidfile),
        3 => return daemon::restart(&lockfile, &pidfile),
        _ => {
            if !program.is_empty() {
                let _ = mask.thread_block();
                child = Some(start_child(
                    &program,
                    child_user.as_deref(),
                    child_group.as_deref(),
                ));
            }
        }
    }

    let mut log = syslog::Syslog::open(&name, facility);
    if let Err(e) = set_ids(o.user.as_deref(), o.group.as_deref()) {
        log.send(
            lines::severity::ERR,
            format!("courierlogger: {e}").as_bytes(),
        );
        return 1;
    }
    let Some((pid, input)) = child else {
        log_stream(std::io::stdin().as_fd(), &mut log, None);
        return 0;
    };
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();
    let mut sup = Supervisor {
        pid,
        hup_restart: false,
        respawn: o.respawn,
        kill_at: None,
        sigfd,
    };
    let mut input = input;
    loop {
        log_stream(input.as_fd(), &mut log, Some(&mut sup));
        drop(input);
        sup.reap();
        if sup.hup_restart {
            sup.hup_restart = false;
        } else if sup.respawn {
            if !sup.sleep(RESPAWN_DELAY) {
                break;
            }
        } else {
            break;
        }
        let (pid, fd) = start_child(&program, None, None);
        sup.pid = pid;
        sup.kill_at = None;
        input = fd;
    }
    drop(daemon_lock);
    0
}

fn facility_default() -> u8 {
    syslog::facility("mail").unwrap_or(2 << 3)
}

/// The running program and what the signals asked for.
struct Supervisor {
    pid: Pid,
    hup_restart: bool,
    respawn: bool,
    kill_at: Option<Instant>,
    sigfd: Option<SignalFd>,
}

impl Supervisor {
    /// Handles pending signals; `false` when the logger should stop at once.
    fn signals(&mut self) {
        let Some(fd) = &self.sigfd else { return };
        while let Ok(Some(info)) = fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM) => {
                    self.hup_restart = false;
                    self.respawn = false;
                    let _ = kill(self.pid, Signal::SIGTERM);
                    self.kill_at = Some(Instant::now() + KILL_AFTER);
                }
                Ok(Signal::SIGHUP) => {
                    self.hup_restart = true;
                    let _ = kill(self.pid, Signal::SIGHUP);
                }
                _ => {}
            }
        }
    }

    fn check_kill(&mut self) {
        if self.kill_at.is_some_and(|t| Instant::now() >= t) {
            let _ = kill(self.pid, Signal::SIGKILL);
            self.kill_at = None;
        }
    }

    /// Waits for the program to exit, still honouring signals and the kill timer.
    fn reap(&mut self) {
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                _ => return,
            }
            self.wait_signal(Duration::from_millis(100));
            self.check_kill();
        }
    }

    /// Sleeps (respawn delay); `false` if SIGTERM came meanwhile.
    fn sleep(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.wait_signal(until - Instant::now());
            if !self.respawn {
                return false;
            }
        }
        true
    }

    fn wait_signal(&mut self, d: Duration) {
        match &self.sigfd {
            Some(fd) => {
                let mut fds = [nix::poll::PollFd::new(
                    fd.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, poll_ms(d));
                self.signals();
            }
            None => std::thread::sleep(d),
        }
    }
}

fn poll_ms(d: Duration) -> nix::poll::PollTimeout {
    let ms = d.as_millis().clamp(1, 60_000) as i32;
    nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX)
}

/// Logs lines from `input` until EOF. With a supervisor, signals are handled while
/// waiting for input.
fn log_stream(
    input: std::os::fd::BorrowedFd<'_>,
    log: &mut syslog::Syslog,
    mut sup: Option<&mut Supervisor>,
) {
    let mut splitter = lines::Splitter::default();
    let mut buf = vec![0u8; 8192];
    let mut file = match input.try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(_) => return,
    };
    loop {
        if let Some(s) = sup.as_deref_mut() {
            let timeout = match s.kill_at {
                Some(t) => poll_ms(t.saturating_duration_since(Instant::now())),
                None => nix::poll::PollTimeout::NONE,
            };
            let mut fds = vec![nix::poll::PollFd::new(
                file.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            if let Some(sfd) = &s.sigfd {
                fds.push(nix::poll::PollFd::new(
                    sfd.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                ));
            }
            let ready = nix::poll::poll(&mut fds, timeout);
            let input_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
            drop(fds);
            s.signals();
            s.check_kill();
            if !matches!(ready, Ok(n) if n > 0) || !input_ready {
                continue;
            }
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        splitter.feed(&buf[..n], &mut |m| log.send(m.severity, &m.text));
    }
    splitter.finish(&mut |m| log.send(m.severity, &m.text));
    if splitter.dropped_bytes > 0 {
        let note = format!(
            "courierlogger: {} bytes of over-long lines dropped",
            splitter.dropped_bytes
        );
        log.send(lines::severity::WARNING, note.as_bytes());
    }
}

fn redirect_null(fds: &[i32]) -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in fds {
        match fd {
            0 => nix::unistd::dup2_stdin(&null)?,
            1 => nix::unistd::dup2_stdout(&null)?,
            _ => nix::unistd::dup2_stderr(&null)?,
        }
    }
    Ok(())
}

/// Starts PROGRAM with stdin/stdout on /dev/null and stderr on a pipe to us; our
/// own stdin/stdout/stderr become /dev/null (Courier's `startchild()`). Returns the
/// child's pid and the read end of its stderr pipe.
fn start_child(program: &[OsString], user: Option<&str>, group: Option<&str>) -> (Pid, OwnedFd) {
    let _ = redirect_null(&[0, 1]);
    let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pipe: {}", e.desc());
            std::process::exit(1);
        }
    };
    match courier_privsep::fork() {
        Err(e) => {
            eprintln!("fork: {}", e.desc());
            std::process::exit(1);
        }
        Ok(courier_privsep::Forked::Child) => {
            drop(r);
            let _ = SigSet::all().thread_unblock();
            let _ = nix::unistd::dup2_stderr(&w);
            drop(w);
            if let Err(e) = set_ids(user, group) {
                eprintln!("{e}");
                std::process::exit(1);
            }
            let err = std::process::Command::new(&program[0])
                .args(&program[1..])
                .exec();
            eprintln!("exec: {}", courier_common::strerror(&err));
            std::process::exit(1);
        }
        Ok(courier_privsep::Forked::Parent(pid)) => {
            drop(w);
            let _ = redirect_null(&[2]);
            (pid, r)
        }
    }
}

fn lookup_gid(group: &str) -> Result<Gid, String> {
    if !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()) {
        return group
            .parse()
            .map(Gid::from_raw)
            .map_err(|_| format!("Group not found: {group}"));
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid),
        _ => Err(format!("Group not found: {group}")),
    }
}

/// `-group` then `-user` (Courier's `setuidgid()`): a numeric user keeps the
/// current gid; a user name brings its own groups (its gid, or `-group`'s).
fn set_ids(user: Option<&str>, group: Option<&str>) -> Result<(), String> {
    let sys = |what: &str, r: nix::Result<()>| r.map_err(|e| format!("{what}: {}", e.desc()));
    let mut gid = None;
    if let Some(g) = group {
        let g = lookup_gid(g)?;
        sys("setgroups", nix::unistd::setgroups(&[g]))?;
        sys("setgid", nix::unistd::setresgid(g, g, g))?;
        gid = Some(g);
    }
    let Some(user) = user else { return Ok(()) };
    if !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit()) {
        let uid = Uid::from_raw(user.parse().map_err(|_| format!("{user}: bad uid"))?);
        return sys("setuid", nix::unistd::setresuid(uid, uid, uid));
    }
    let pw = match nix::unistd::User::from_name(user) {
        Ok(Some(pw)) => pw,
        _ => return Err(format!("User not found: {user}")),
    };
    let g = gid.unwrap_or(pw.gid);
    let cname = CString::new(user).map_err(|_| format!("User not found: {user}"))?;
    sys("initgroups", nix::unistd::initgroups(&cname, g))?;
    sys("setgid", nix::unistd::setresgid(g, g, g))?;
    sys("setuid", nix::unistd::setresuid(pw.uid, pw.uid, pw.uid))
}
