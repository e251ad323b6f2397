//! Shared helpers for the pop3d end-to-end tests: scratch maildirs with chosen
//! messages, running ours or Debian's courierpop3d in its stdin/stdout mode, an
//! interactive client over its pipes, and normalising what must differ between
//! two runs (UID validities from the clock, MIME boundaries from pid and time).

use crate::{Input, Outcome, Run, Scratch, make_maildir, names, ours, skip};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Debian's per-user POP3 server.
pub const COURIER_POP3D: &str = "/usr/lib/courier/courier/courierpop3d";

/// Debian's courierpop3d, or None after a SKIP line for `test`.
pub fn courier_pop3d(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(COURIER_POP3D);
    if p.exists() {
        Some(p)
    } else {
        skip(
            test,
            "courierpop3d is not installed (apt-get install courier-pop)",
        );
        None
    }
}

/// Our courierpop3d.
pub fn our_pop3d() -> PathBuf {
    ours("courierpop3d")
}

/// A scratch directory holding one or more maildirs.
pub struct Boxes {
    pub dir: Scratch,
}

impl Boxes {
    pub fn new(tag: &str) -> Boxes {
        Boxes {
            dir: Scratch::new(tag),
        }
    }

    /// A new empty maildir `name` in the scratch directory.
    pub fn maildir(&self, name: &str) -> PathBuf {
        let m = self.dir.join(name);
        make_maildir(&m);
        m
    }

    /// A maildir `name` holding `msgs` in `new/` (file name, content).
    pub fn with(&self, name: &str, msgs: &[(&str, &[u8])]) -> PathBuf {
        let m = self.maildir(name);
        for (file, data) in msgs {
            fs::write(m.join("new").join(file), data).unwrap();
        }
        m
    }

    /// A byte-for-byte copy of `from` as `name`.
    pub fn copy(&self, from: &Path, name: &str) -> PathBuf {
        let to = self.dir.join(name);
        copy_tree(from, &to);
        to
    }
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The standard test messages: plain, a `.`-line, no final newline, CRLF stored,
/// an 8-bit header, a long line, an empty body.
pub fn sample_messages() -> Vec<(String, Vec<u8>)> {
    let mut long = b"Subject: long\n\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 5000));
    long.extend(b"\n.\n..\n");
    vec![
        (
            "1700000001.M1P1.host".into(),
            b"Subject: one\nX-A: b\n\nl1\n.dot\nl3\nl4\n".to_vec(),
        ),
        (
            "1700000002.M2P2.host,S=17".into(),
            b"Subject: b\n\nworld".to_vec(),
        ),
        (
            "1700000003.M3P3.host".into(),
            b"Subject: crlf\r\n\r\nbody\r\n".to_vec(),
        ),
        (
            "1700000004.M4P4.host".into(),
            b"Subject: caf\xc3\xa9\n\nbody\n".to_vec(),
        ),
        ("1700000005.M5P5.host".into(), long),
        (
            "1700000006.M6P6.host".into(),
            b"Subject: empty body\n".to_vec(),
        ),
        (
            "1699999999.M9P9.host:2,S".into(),
            b"Subject: old, seen\n\nold\n".to_vec(),
        ),
    ]
}

/// A maildir with [`sample_messages`] in `new/`.
pub fn sample_maildir(boxes: &Boxes, name: &str) -> PathBuf {
    let m = boxes.maildir(name);
    for (file, data) in sample_messages() {
        fs::write(m.join("new").join(file), data).unwrap();
    }
    m
}

/// `program maildir` with the login chain's variables and `script` on stdin;
/// `extra` sets or (empty value) removes more variables.
pub fn pop3d(program: &Path, maildir: &Path, extra: &[(&str, &str)], script: &[u8]) -> Outcome {
    let mut r = Run::new(program, "courierpop3d")
        .arg_os(maildir.as_os_str())
        .env("AUTHENTICATED", "tester")
        .env("TCPREMOTEIP", "127.0.0.1")
        .env("TCPREMOTEPORT", "4711")
        .env("TCPLOCALPORT", "110");
    for v in [
        "UTF8",
        "POP3_TLS",
        "POP3AUTH",
        "POP3AUTH_TLS",
        "POP3_STARTTLS",
        "POP3_LOG_DELETIONS",
        "MIME_UNICODE_MESSAGE_TYPE",
        "COURIERTLS",
    ] {
        r = r.env_remove(v);
    }
    for (k, v) in extra {
        r = if v.is_empty() {
            r.env_remove(k)
        } else {
            r.env(k, v)
        };
    }
    r.input(Input::Pipe(script.to_vec()))
        .timeout(Duration::from_secs(30))
        .run()
}

/// CRLF-joins `lines` into a script.
pub fn script(lines: &[&str]) -> Vec<u8> {
    let mut s = Vec::new();
    for l in lines {
        s.extend_from_slice(l.as_bytes());
        s.extend_from_slice(b"\r\n");
    }
    s
}

/// Replaces what legitimately differs between two runs: numbers of nine or more
/// digits (UID validities, times), MIME boundaries `=_<pid>-<time>`, and
/// `time=<n>` in log lines.
pub fn normalise_pop3(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"=_") {
            let j = i + 2 + b[i + 2..].iter().take_while(|c| c.is_ascii_digit()).count();
            if j > i + 2 && b.get(j) == Some(&b'-') {
                out.push_str("=_PID-");
                i = j + 1;
                continue;
            }
        }
        if b[i..].starts_with(b"ENOMEM-") && b.len() >= i + 7 + 50 {
            // mtime, device and inode of the file: the inode differs per copy.
            out.push_str("ENOMEM-<ID>");
            i += 7 + 50;
            continue;
        }
        if b[i..].starts_with(b"ERR: Error while saving courierpop3dsizelist, user=") {
            // Ours adds the reason in parentheses.
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
            let line = &text[i..end];
            let cut = line.find(" (").unwrap_or(line.len());
            out.push_str(&line[..cut]);
            i = end;
            continue;
        }
        if b[i..].starts_with(b"time=") {
            let j = i + 5 + b[i + 5..].iter().take_while(|c| c.is_ascii_digit()).count();
            out.push_str("time=T");
            i = j;
            continue;
        }
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n >= 9 && !(i > 0 && b[i - 1] == b'.') && !b[i + n..].starts_with(b".M") {
                out.push_str("<T>");
                i += n;
                continue;
            }
        }
        // Copy one whole UTF-8 character (or byte run) at a time.
        let ch_len = text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// A maildir's state for comparison: `new/`, `cur/`, `tmp/` names and the
/// normalised size list and `maildirsize`.
pub fn state(maildir: &Path) -> String {
    let mut s = String::new();
    for d in ["new", "cur", "tmp"] {
        s.push_str(&format!("{d}: {:?}\n", names(&maildir.join(d))));
    }
    for f in ["courierpop3dsizelist", "maildirsize"] {
        if let Ok(t) = fs::read_to_string(maildir.join(f)) {
            s.push_str(&format!("{f}:\n{}", normalise_pop3(&t)));
        }
    }
    s
}

/// An interactive session with a courierpop3d over its pipes.
pub struct Session {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Vec<u8>>,
}

impl Session {
    /// Starts `program maildir` with the chain's variables.
    pub fn start(program: &Path, maildir: &Path, extra: &[(&str, &str)]) -> Session {
        let mut cmd = Command::new(program);
        cmd.arg(maildir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AUTHENTICATED", "tester")
            .env("TCPREMOTEIP", "127.0.0.1")
            .env("TCPREMOTEPORT", "4711")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut l = Vec::new();
                match r.read_until(b'\n', &mut l) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Session {
            child,
            stdin,
            lines: rx,
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = s.write_all(bytes);
            let _ = s.flush();
        }
    }

    /// Sends one command line.
    pub fn cmd(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes());
    }

    /// The next line (without CRLF), or None at EOF / after 20 s.
    pub fn line(&mut self) -> Option<String> {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .map(|l| {
                String::from_utf8_lossy(&l)
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            })
    }

    /// Lines up to and including the `.` terminator.
    pub fn multiline(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = self.line() {
            let end = l == ".";
            v.push(l);
            if end {
                break;
            }
        }
        v
    }

    /// Closes stdin (the client vanishes) and waits for the exit.
    pub fn hang_up(mut self) -> Option<i32> {
        self.stdin = None;
        let st = crate::wait_timeout(&mut self.child, Duration::from_secs(20), "courierpop3d");
        st.code()
    }

    /// Drops the read end of stdout too: the client vanishes without reading.
    pub fn vanish(mut self) -> Option<i32> {
        self.stdin = None;
        drop(std::mem::replace(&mut self.lines, mpsc::channel().1));
        let st = crate::wait_timeout(&mut self.child, Duration::from_secs(20), "courierpop3d");
        st.code()
    }

    /// SIGKILL and wait.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_keeps_message_names_and_hides_clock_numbers() {
        assert_eq!(
            normalise_pop3(
                "1 UID1-1795311480\r\n1700000001.M1P1.host:2, 27 1:1795311480:0 time=12 =_8459-1795311501--"
            ),
            "1 UID1-<T>\r\n1700000001.M1P1.host:2, 27 1:<T>:0 time=T =_PID-<T>--"
        );
    }
}
