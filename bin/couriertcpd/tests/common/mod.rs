//! Helpers: a couriertcpd on a loopback port, killed by pid when dropped.
#![allow(dead_code)] // each test file uses a subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const OURS: &str = env!("CARGO_BIN_EXE_couriertcpd");
pub const DEBIAN: &str = "/usr/sbin/couriertcpd";

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `bin` with `args` then `PORTSPEC PROGRAM...` where `{port}` in `args` and
    /// `rest` is replaced by a free port; stderr goes to a file.
    pub fn start(bin: &str, args: &[&str], rest: &[&str]) -> Daemon {
        Self::start_env(bin, args, rest, &[])
    }

    pub fn start_env(bin: &str, args: &[&str], rest: &[&str], env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr");
        let port = free_port();
        let sub = |s: &&str| s.replace("{port}", &port.to_string());
        let child = Command::new(bin)
            .args(args.iter().map(sub))
            .args(rest.iter().map(sub))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            port,
            stderr,
            _dir: dir,
        };
        d.wait_listening();
        d
    }

    fn wait_listening(&self) {
        let hex = format!(":{:04X} ", self.port);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            let listening = ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| {
                        let cols: Vec<&str> = l.split_whitespace().collect();
                        cols.len() > 3
                            && format!("{} ", &cols[1][cols[1].len() - 5..]) == hex
                            && cols[3] == "0A"
                    })
            });
            if listening {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nothing listens on {}: {}", self.port, self.log());
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until the log contains `text`.
    pub fn wait_log(&self, text: &str) -> String {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(text) || Instant::now() > until {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> TcpStream {
        connect(SocketAddr::from(([127, 0, 0, 1], self.port)))
    }

    /// Connects from a chosen loopback source address.
    pub fn connect_from(&self, source: [u8; 4]) -> TcpStream {
        let sock = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Stream,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        use std::os::fd::AsRawFd;
        nix::sys::socket::bind(
            sock.as_raw_fd(),
            &nix::sys::socket::SockaddrIn::from(std::net::SocketAddrV4::new(source.into(), 0)),
        )
        .unwrap();
        nix::sys::socket::connect(
            sock.as_raw_fd(),
            &nix::sys::socket::SockaddrIn::from(std::net::SocketAddrV4::new(
                [127, 0, 0, 1].into(),
                self.port,
            )),
        )
        .unwrap();
        let s = TcpStream::from(sock);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// Waits for the daemon to exit; its status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if self.wait_exit(Duration::from_secs(3)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Everything until EOF (or the read timeout).
pub fn read_all(mut s: &TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line (up to '\n'), or what came before EOF/timeout.
pub fn read_line(mut s: &TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = s.read(&mut b) {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn send(mut s: &TcpStream, bytes: &[u8]) {
    s.write_all(bytes).unwrap();
}

/// An access database built from `text` with our makedat logic.
pub fn access_db(dir: &Path, text: &str) -> PathBuf {
    let src = dir.join("access");
    std::fs::write(&src, text).unwrap();
    let dat = dir.join("access.dat");
    courier_net::makedat::build(&src, &dat, &dir.join("access.tmp"), true).unwrap();
    dat
}

/// The `KEY=value` lines of `env` output, sorted, without `PWD`.
pub fn env_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The process-state letter of `pid` (`None` when gone).
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Children of `pid` (from /proc), with their state letter.
pub fn children_of(pid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[1].parse::<i32>().ok() == Some(pid) {
            out.push((p, f[0].chars().next().unwrap_or('?')));
        }
    }
    out
}
