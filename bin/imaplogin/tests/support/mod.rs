//! Shared by the imaplogin and courierpop3login program tests: our authdaemond
//! started on a userdb compiled by our makeuserdb, a fake server that reports who
//! and where it is, and a line-by-line conversation with a login program.
#![allow(dead_code)] // each test file uses a different part of this module

pub mod diff;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A program built next to the one under test (`cargo build --workspace --bins`
/// builds them all; run `cargo build -p authdaemond -p makeuserdb` otherwise).
pub fn sibling(exe: &str, name: &str) -> Option<PathBuf> {
    let p = Path::new(exe).with_file_name(name);
    p.exists().then_some(p)
}

pub fn skip(test: &str, why: &str) {
    println!("SKIP: {test}: {why}");
    eprintln!("SKIP: {test}: {why}");
}

pub fn euid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

pub fn egid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Gid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

pub fn is_root() -> bool {
    euid() == 0
}

/// The ids test accounts get: our own when not root (the "drop" is then to
/// ourselves), an unused non-root pair when root (a real drop).
pub fn account_ids() -> (u32, u32) {
    if is_root() {
        (4242, 4243)
    } else {
        (euid(), egid())
    }
}

/// A scratch directory every account can traverse.
pub fn scratch() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("login-test")
        .tempdir()
        .unwrap();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
    d
}

pub fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// A home directory (with a Maildir) owned by the account.
pub fn make_home(dir: &Path, name: &str, uid: u32, gid: u32) -> PathBuf {
    let home = dir.join("home").join(name);
    fs::create_dir_all(home.join("Maildir/cur")).unwrap();
    fs::create_dir_all(home.join("Maildir/new")).unwrap();
    fs::create_dir_all(home.join("Maildir/tmp")).unwrap();
    fs::set_permissions(dir.join("home"), fs::Permissions::from_mode(0o755)).unwrap();
    for p in [
        &home,
        &home.join("Maildir"),
        &home.join("Maildir/cur"),
        &home.join("Maildir/new"),
        &home.join("Maildir/tmp"),
    ] {
        if is_root() {
            chown(p, uid, gid);
        }
    }
    home
}

/// An executable script.
pub fn script(path: &Path, body: &str) -> PathBuf {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// A fake imapd/pop3d: prints its arguments, ids, groups, working directory and
/// environment (as execve gave it) to the client, then exits.
pub fn reporter(dir: &Path) -> PathBuf {
    script(
        &dir.join("report-server"),
        "echo \"ARGV1=$1\"\n\
         grep -E '^(Uid|Gid|Groups):' /proc/$$/status | tr '\\t' ' ' | sed 's/ *$//'\n\
         echo \"CWD=$(pwd -P)\"\n\
         tr '\\0' '\\n' < /proc/$$/environ | sed 's/^/ENV:/'\n\
         echo END",
    )
}

/// Our authdaemond with authuserdb over `userdb` (text), stopped on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    child: Child,
    pub socket: PathBuf,
}

impl Daemon {
    /// `None` (after printing SKIP) when our authdaemond or makeuserdb is not built.
    pub fn start(exe: &str, test: &str, userdb: &str) -> Option<Daemon> {
        let (Some(authdaemond), Some(makeuserdb)) =
            (sibling(exe, "authdaemond"), sibling(exe, "makeuserdb"))
        else {
            skip(
                test,
                "authdaemond/makeuserdb not built (cargo build --workspace --bins)",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("userdb");
        fs::write(&src, userdb).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
        let out = Command::new(&makeuserdb)
            .arg("-f")
            .arg(&src)
            .output()
            .unwrap();
        assert!(out.status.success(), "makeuserdb: {out:?}");
        let rc = dir.path().join("authdaemonrc");
        fs::write(
            &rc,
            format!(
                "authmodulelist=\"authuserdb\"\ndaemons=2\nauthdaemonvar={d}/run\n\
                 USERDB_DAT={d}/userdb.dat\nUSERDB_SHADOW_DAT={d}/userdbshadow.dat\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(&authdaemond)
            .env_clear()
            .env("AUTHDAEMONRC", &rc)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        let socket = dir.path().join("run/socket");
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "authdaemond did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Daemon { dir, child, socket })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A userdb line.
pub fn userdb_line(name: &str, uid: u32, gid: u32, home: &Path, extra: &str) -> String {
    let hash = courier_pwcrypt::hash(courier_pwcrypt::Scheme::Md5Crypt, "secret").unwrap();
    let cram = courier_pwcrypt::hmac_secret(courier_pwcrypt::CramAlg::Md5, "secret");
    format!(
        "{name}\tuid={uid}|gid={gid}|home={}|systempw={hash}|hmac-md5pw={cram}{extra}\n",
        home.display()
    )
}

/// A running login program and its client side.
pub struct Conversation {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Vec<u8>>,
    pub stderr: PathBuf,
    pub started: Instant,
}

impl Conversation {
    /// Starts `program args` with exactly `env` (plus PATH) in its environment.
    pub fn start(program: &Path, args: &[&str], env: &[(&str, String)], stderr: PathBuf) -> Self {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut line = Vec::new();
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        for &b in &buf[..n] {
                            line.push(b);
                            if b == b'\n' {
                                let _ = tx.send(std::mem::take(&mut line));
                            }
                        }
                    }
                }
            }
            if !line.is_empty() {
                let _ = tx.send(line);
            }
        });
        Conversation {
            child,
            stdin,
            lines: rx,
            stderr,
            started: Instant::now(),
        }
    }

    /// The program's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = s.write_all(bytes);
            let _ = s.flush();
        }
    }

    /// The next line from the program (panics after `secs`).
    pub fn line(&mut self, secs: u64) -> String {
        match self.lines.recv_timeout(Duration::from_secs(secs)) {
            Ok(l) => String::from_utf8_lossy(&l).into_owned(),
            Err(e) => panic!("no line within {secs} s ({e:?}); log:\n{}", self.log()),
        }
    }

    /// Sends `cmd` and returns the next line.
    pub fn ask(&mut self, cmd: &str) -> String {
        self.send(cmd.as_bytes());
        self.line(20)
    }

    /// Closes stdin and collects the rest of the output and the exit status.
    pub fn finish(mut self, secs: u64) -> (String, ExitStatus, String) {
        self.stdin = None;
        self.wait(secs)
    }

    /// Like [`Conversation::finish`] but keeps stdin open (the client stays).
    pub fn finish_open(self, secs: u64) -> (String, ExitStatus, String) {
        self.wait(secs)
    }

    fn wait(mut self, secs: u64) -> (String, ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut rest = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => rest.push_str(&String::from_utf8_lossy(&l)),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "program did not finish; output so far: {rest:?}\nlog:\n{}",
                        self.log()
                    );
                }
            }
        }
        let status = self.child.wait().unwrap();
        let log = self.log();
        (rest, status, log)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `ENV:` lines of the reporter's output as (name, value).
pub fn reported_env(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix("ENV:"))
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

pub fn reported(out: &str, key: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|s| s.trim_end_matches('\r').to_string())
}
