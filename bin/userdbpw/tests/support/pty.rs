//! A pseudo-terminal harness for the password dialogue of userdbpw and authpasswd.
//! Shared by both crates' tests (authpasswd includes this file with `#[path]`).

use nix::pty::openpty;
use nix::sys::termios::{LocalFlags, tcgetattr};
use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(10);

/// A program running with stdin, stdout and stderr on a fresh pty.
pub struct Pty {
    master: File,
    rx: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
    cursor: usize,
    child: Child,
}

impl Pty {
    pub fn spawn(mut cmd: Command) -> Pty {
        let p = openpty(None, None).expect("openpty");
        let slave = p.slave;
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().expect("spawn under pty");
        // The Command holds our copies of the slave; close them so that reading the
        // master ends (EIO) once the child is gone.
        drop(cmd);
        let master = File::from(p.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            master,
            rx,
            seen: Vec::new(),
            cursor: 0,
            child,
        }
    }

    /// Waits until `s` appears after what earlier calls matched.
    pub fn expect(&mut self, s: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(i) = find(&self.seen[self.cursor..], s.as_bytes()) {
                self.cursor += i + s.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(_) => panic!(
                    "timed out waiting for {s:?}; saw {:?}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    /// Types `text` (after a short pause, so a program that switches echo off only
    /// after its prompt is not raced).
    pub fn send(&mut self, text: &[u8]) {
        std::thread::sleep(Duration::from_millis(100));
        self.master.write_all(text).unwrap();
    }

    /// Whether the terminal echoes input.
    fn echo_on(&self) -> bool {
        tcgetattr(&self.master)
            .unwrap()
            .local_flags
            .contains(LocalFlags::ECHO)
    }

    /// Waits for the exit (killing the child after a timeout) and returns everything
    /// the terminal showed, the exit code, and whether echo was on afterwards.
    pub fn finish(mut self) -> (String, Option<i32>, bool) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "child still running; saw {:?}",
                    String::from_utf8_lossy(&self.seen)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout) => break,
            }
        }
        (
            String::from_utf8_lossy(&self.seen).into_owned(),
            status.code(),
            self.echo_on(),
        )
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
