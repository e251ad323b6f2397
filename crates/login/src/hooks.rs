//! The maildir-creation hooks of the maildir-creation patch (seed 000):
//! `MOD_MAILDIR_CREATOR` when the home directory is missing, then
//! `IMAP_MAILDIR_CREATOR` / `POP3_MAILDIR_CREATOR` when the maildir is missing.
//!
//! A hook is run with a plain `execve` (no shell, no `PATH` search: a name without
//! `/` is relative to the current directory), the missing path as its only
//! argument, the login environment, stdin from /dev/null and stdout sent to our
//! stderr (the client connection is never visible to it). It runs as the account
//! (the caller has dropped privileges), in its own process group, and is killed
//! with that group after the time limit. A missing program is not an error (the
//! directory is simply not created); the caller checks the directory again.

use crate::env::Environ;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default limit for one hook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What running a hook did.
#[derive(Debug)]
pub enum HookRun {
    /// The program exited with this code (0: success).
    Exited(i32),
    /// The program was killed by this signal.
    Signalled(i32),
    /// The program does not exist (not an error, seed 000 §4.1).
    NotFound,
    /// It could not be started for another reason.
    SpawnFailed(std::io::Error),
    /// It ran longer than the limit and was killed (with its process group).
    TimedOut,
}

/// The program path as `execve` would resolve it.
fn program_path(program: &[u8]) -> PathBuf {
    let p = PathBuf::from(OsStr::from_bytes(program));
    if program.contains(&b'/') {
        p
    } else {
        PathBuf::from(".").join(p)
    }
}

/// Runs `program missing` with `env` and waits at most `timeout`.
pub fn run(program: &[u8], missing: &[u8], env: &Environ, timeout: Duration) -> HookRun {
    let mut cmd = Command::new(program_path(program));
    cmd.arg0(OsStr::from_bytes(program))
        .arg(OsStr::from_bytes(missing))
        .env_clear()
        .envs(env.iter())
        .stdin(Stdio::null())
        .process_group(0);
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => {
            cmd.stdout(Stdio::from(fd));
        }
        Err(_) => {
            cmd.stdout(Stdio::null());
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HookRun::NotFound,
        Err(e) => return HookRun::SpawnFailed(e),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match (status.code(), status.signal()) {
                    (Some(c), _) => HookRun::Exited(c),
                    (None, Some(s)) => HookRun::Signalled(s),
                    (None, None) => HookRun::Exited(-1),
                };
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                return HookRun::TimedOut;
            }
        }
    }
}

/// The hook limit: `MAILDIR_CREATOR_TIMEOUT` seconds if positive, else 30 s.
pub fn timeout(env: &Environ) -> Duration {
    match env.atoi(crate::env::MAILDIR_CREATOR_TIMEOUT) {
        n if n > 0 => Duration::from_secs(n.unsigned_abs()),
        _ => DEFAULT_TIMEOUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &std::path::Path, name: &str, body: &str) -> Vec<u8> {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.as_os_str().as_bytes().to_vec()
    }

    #[test]
    fn hook_gets_argument_and_environment_only() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let prog = script(
            d.path(),
            "h",
            &format!(
                "echo \"$1 $AUTHENTICATED ${{HOME-unset}}\" > {}",
                out.display()
            ),
        );
        let env = Environ::from_pairs(&[("AUTHENTICATED", "alice"), ("PATH", "/usr/bin:/bin")]);
        let r = run(&prog, b"/home/alice", &env, DEFAULT_TIMEOUT);
        assert!(matches!(r, HookRun::Exited(0)), "{r:?}");
        assert_eq!(
            std::fs::read_to_string(out).unwrap(),
            "/home/alice alice unset\n"
        );
    }

    #[test]
    fn missing_program_is_not_an_error_and_failures_are_reported() {
        let env = Environ::default();
        assert!(matches!(
            run(b"/nonexistent/creator", b"x", &env, DEFAULT_TIMEOUT),
            HookRun::NotFound
        ));
        let d = tempfile::tempdir().unwrap();
        let prog = script(d.path(), "fail", "exit 3");
        assert!(matches!(
            run(&prog, b"x", &env, DEFAULT_TIMEOUT),
            HookRun::Exited(3)
        ));
    }

    #[test]
    fn hanging_hook_is_killed_with_its_children() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let prog = script(
            d.path(),
            "hang",
            &format!("sleep 60 & echo $! > {}; wait", pidfile.display()),
        );
        let start = Instant::now();
        let r = run(&prog, b"x", &Environ::default(), Duration::from_millis(500));
        assert!(matches!(r, HookRun::TimedOut), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "the hook's child survived");
    }

    #[test]
    fn relative_names_are_relative_to_the_current_directory() {
        assert_eq!(program_path(b"creator"), PathBuf::from("./creator"));
        assert_eq!(
            program_path(b"/sbin/creator"),
            PathBuf::from("/sbin/creator")
        );
    }
}
