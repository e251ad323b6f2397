//! The command loop: reading lines with the idle limit, Courier's replies, the
//! log lines at LOGOUT, DISCONNECTED and TIMEOUT.

use crate::maildir::Mailbox;
use crate::stream::{self, Part, SendError};
use crate::{Peer, env};
use courier_common::{Severity, log, strerror};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};

/// Idle limit per command (Courier: 300 s), and how long one write may block.
pub const IDLE: Duration = Duration::from_secs(300);
/// Longest command line accepted; longer ones are answered `-ERR` and skipped.
pub const MAX_LINE: usize = 8192;
/// Output buffer: message bodies leave in writes of this size.
const OUT_BUF: usize = 64 * 1024;

fn wait_fd(fd: std::os::fd::BorrowedFd<'_>, flags: PollFlags, limit: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd, flags)];
        match poll(&mut fds, timeout) {
            Ok(0) if left.is_zero() => return Ok(false),
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// stdout with a bound on how long a write may block and a byte count.
struct Out {
    file: File,
    written: u64,
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !wait_fd(self.file.as_fd(), PollFlags::POLLOUT, IDLE)? {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What reading a command produced.
pub enum Input {
    /// A line without its line end.
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`] (skipped up to its LF).
    TooLong,
    /// End of input (the client is gone).
    Eof,
    /// Nothing for [`IDLE`].
    Timeout,
}

/// The client connection: stdin and stdout.
pub struct Io {
    input: File,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: BufWriter<Out>,
    /// Command bytes received.
    pub rcvd: u64,
    /// Bytes of CAPA responses (Courier leaves them out of `sent=`).
    uncounted: u64,
    /// Set when a write failed: the client is gone.
    pub broken: bool,
}

impl Io {
    /// Duplicates descriptors 0 and 1 so that reads and writes bypass the
    /// standard library's line buffering.
    pub fn stdio() -> io::Result<Io> {
        let input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
        Ok(Io {
            input,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
            out: BufWriter::with_capacity(
                OUT_BUF,
                Out {
                    file: output,
                    written: 0,
                },
            ),
            rcvd: 0,
            uncounted: 0,
            broken: false,
        })
    }

    /// Queues `text` CRLF.
    pub fn reply(&mut self, text: &str) {
        self.write(text.as_bytes());
        self.write(b"\r\n");
    }

    /// Queues `bytes` as they are.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.write(bytes);
    }

    fn write(&mut self, bytes: &[u8]) {
        if !self.broken && self.out.write_all(bytes).is_err() {
            self.broken = true;
        }
    }

    /// Sends everything queued.
    pub fn flush(&mut self) {
        if !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
    }

    /// Flushes; the last thing before exiting.
    pub fn finish(&mut self) {
        self.flush();
    }

    /// Bytes sent so far, as Courier counts them.
    pub fn sent(&self) -> u64 {
        self.out.get_ref().written.saturating_sub(self.uncounted)
    }

    /// Reads the next command line. Output is flushed before blocking, so
    /// pipelined commands are answered in one write.
    pub fn read_line(&mut self) -> Input {
        let mut too_long = false;
        loop {
            if let Some(pos) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let line_end = self.start + pos;
                let mut line = self.buf[self.start..line_end].to_vec();
                self.rcvd += (pos + 1) as u64;
                self.start = line_end + 1;
                if too_long || pos > MAX_LINE {
                    return Input::TooLong;
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Input::Line(line);
            }
            if self.end - self.start >= MAX_LINE {
                // Keep nothing of an overlong line but the fact.
                too_long = true;
                self.rcvd += (self.end - self.start) as u64;
                self.start = self.end;
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.start {
                self.flush();
            }
            match wait_fd(self.input.as_fd(), PollFlags::POLLIN, IDLE) {
                Ok(true) => {}
                Ok(false) => return Input::Timeout,
                Err(_) => return Input::Eof,
            }
            let cap = self.buf.len();
            match self.input.read(&mut self.buf[self.end..cap]) {
                // A last line without LF still counts as a command, as in
                // Courier's (`QUIT` then EOF does quit).
                Ok(0) if self.end > self.start || too_long => {
                    let line = self.buf[self.start..self.end].to_vec();
                    self.rcvd += line.len() as u64;
                    self.start = self.end;
                    if too_long {
                        return Input::TooLong;
                    }
                    return Input::Line(line);
                }
                Ok(0) => return Input::Eof,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Input::Eof,
            }
        }
    }
}

/// `atoi()`: leading blanks, a sign, digits; anything else ends the number.
fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(i64::from(s[i] - b'0'));
        i += 1;
    }
    if neg { -v } else { v }
}

/// The session state.
pub struct Session {
    io: Io,
    mb: Mailbox,
    peer: Peer,
    utf8: bool,
    top_bytes: u64,
    retr_bytes: u64,
    started: Instant,
    /// A message file could not be read mid-response.
    io_error: bool,
}

const INVALID_COMMAND: &str = "-ERR Invalid command.";
const INVALID_NUMBER: &str = "-ERR Invalid message number.";

impl Session {
    /// A session on an opened mailbox.
    pub fn new(io: Io, mb: Mailbox, peer: Peer) -> Session {
        let utf8 = match std::env::var(env::UTF8) {
            Ok(v) => atoi(v.as_bytes()) != 0,
            Err(_) => true,
        };
        Session {
            io,
            mb,
            peer,
            utf8,
            top_bytes: 0,
            retr_bytes: 0,
            started: Instant::now(),
            io_error: false,
        }
    }

    fn stats(&self) -> String {
        format!(
            "{}, top={}, retr={}, rcvd={}, sent={}, time={}{}",
            self.peer.who(),
            self.top_bytes,
            self.retr_bytes,
            self.io.rcvd,
            self.io.sent(),
            self.started.elapsed().as_secs(),
            if self.peer.tls { ", stls=1" } else { "" }
        )
    }

    /// Greets and serves commands until QUIT, end of input, a write failure or
    /// the idle limit.
    pub fn serve(mut self) {
        self.io.reply("+OK logged in.");
        loop {
            if self.io_error {
                return self.end("I/O error disconnect");
            }
            if self.io.broken {
                return self.end("DISCONNECTED");
            }
            let line = match self.io.read_line() {
                Input::Line(l) => l,
                Input::TooLong => {
                    self.io.reply(INVALID_COMMAND);
                    continue;
                }
                Input::Eof => return self.end("DISCONNECTED"),
                Input::Timeout => return self.end("TIMEOUT"),
            };
            let mut words = line
                .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
                .filter(|w| !w.is_empty());
            let Some(cmd) = words.next() else {
                self.io.reply(INVALID_COMMAND);
                continue;
            };
            let cmd = cmd.to_ascii_uppercase();
            let arg1 = words.next();
            let arg2 = words.next();
            match cmd.as_slice() {
                b"QUIT" => return self.quit(),
                b"STAT" => {
                    let (n, total) = self
                        .mb
                        .msgs
                        .iter()
                        .filter(|m| !m.deleted)
                        .fold((0u64, 0u64), |(n, t), m| (n + 1, t + m.size));
                    self.io.reply(&format!("+OK {n} {total}"));
                }
                b"LIST" => self.listing(arg1, true),
                b"UIDL" => self.listing(arg1, false),
                b"RETR" => {
                    if let Some(i) = self.msgnum(arg1) {
                        self.send(i, None);
                    }
                }
                b"TOP" => match (arg1, arg2) {
                    (Some(a), Some(b)) => {
                        if let Some(i) = self.msgnum(Some(a)) {
                            let n = atoi(b);
                            self.send(i, Some(u64::try_from(n).ok()));
                        }
                    }
                    _ => self.io.reply(INVALID_COMMAND),
                },
                b"DELE" => {
                    if let Some(i) = self.msgnum(arg1) {
                        self.mb.msgs[i].deleted = true;
                        self.io.reply("+OK Deleted.");
                    }
                }
                b"NOOP" => self.io.reply("+OK Yup."),
                b"RSET" => {
                    for m in &mut self.mb.msgs {
                        m.deleted = false;
                    }
                    self.io.reply("+OK Resurrected.");
                }
                b"UTF8" => {
                    self.utf8 = true;
                    self.io.reply("+OK UTF8 enabled");
                }
                b"CAPA" => self.capa(),
                _ => self.io.reply(INVALID_COMMAND),
            }
        }
    }

    /// The 0-based index of an existing, undeleted message, or `None` after
    /// answering `-ERR Invalid message number.`.
    fn msgnum(&mut self, arg: Option<&[u8]>) -> Option<usize> {
        let n = arg.map(atoi).unwrap_or(0);
        let ok = n >= 1
            && usize::try_from(n)
                .ok()
                .is_some_and(|n| n <= self.mb.msgs.len() && !self.mb.msgs[n - 1].deleted);
        if ok {
            usize::try_from(n - 1).ok()
        } else {
            self.io.reply(INVALID_NUMBER);
            None
        }
    }

    fn listing(&mut self, arg: Option<&[u8]>, sizes: bool) {
        let value = |m: &crate::maildir::Msg| {
            if sizes {
                m.size.to_string()
            } else {
                m.uidl.clone()
            }
        };
        if arg.is_some() {
            if let Some(i) = self.msgnum(arg) {
                let v = value(&self.mb.msgs[i]);
                self.io.reply(&format!("+OK {} {v}", i + 1));
            }
            return;
        }
        self.io.reply(if sizes {
            "+OK POP3 clients that break here, they violate STD53."
        } else {
            "+OK"
        });
        let mut text = String::new();
        for (i, m) in self.mb.msgs.iter().enumerate() {
            if !m.deleted {
                text.push_str(&format!("{} {}\r\n", i + 1, value(m)));
            }
        }
        text.push_str(".\r\n");
        self.io.write(text.as_bytes());
    }

    /// RETR (`top == None`) and TOP (`Some(None)`: all lines; `Some(Some(n))`).
    fn send(&mut self, i: usize, top: Option<Option<u64>>) {
        let mut file = match self.mb.open_msg(i) {
            Ok(f) => f,
            Err(_) => {
                self.io
                    .reply("-ERR Can't open the message file - it's gone!");
                return;
            }
        };
        let wrap = (self.mb.msgs[i].utf8 && !self.utf8).then(unicode_wrapper);
        let size = self.mb.msgs[i].size
            + wrap
                .as_ref()
                .map(|(a, b)| (a.len() + b.len()) as u64)
                .unwrap_or(0);
        self.io.reply(
            match top {
                None => format!("+OK {size} octets follow."),
                Some(_) => "+OK headers follow.".to_string(),
            }
            .as_str(),
        );
        let limit = top.flatten();
        let result = {
            let out = &mut self.io.out;
            match &wrap {
                Some((head, tail)) => stream::send(
                    &mut [Part::Bytes(head), Part::File(&mut file), Part::Bytes(tail)],
                    limit,
                    out,
                ),
                None => stream::send(&mut [Part::File(&mut file)], limit, out),
            }
        };
        match result {
            Ok(raw) => {
                if top.is_some() {
                    self.top_bytes += raw;
                } else {
                    self.retr_bytes += raw;
                    self.mb.mark_seen(i);
                }
            }
            Err(SendError::Write(_)) => self.io.broken = true,
            Err(SendError::Read(e)) => {
                // The advertised size can no longer be met: ending the response
                // would hand the client a truncated message as complete, so the
                // connection is dropped, as Courier's does.
                log(
                    Severity::Err,
                    format!(
                        "I/O error while reading message file cur/{}: {}",
                        self.mb.msgs[i].name,
                        strerror(&e)
                    ),
                );
                self.io_error = true;
            }
        }
    }

    fn capa(&mut self) {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        let mut text = String::from("+OK Here's what I can do:\r\n");
        let mut sasl = var(env::POP3AUTH);
        if self.peer.tls {
            let tls = var(env::POP3AUTH_TLS);
            if !tls.is_empty() {
                sasl = tls;
            }
        }
        if !sasl.is_empty() {
            text.push_str(&format!("SASL {sasl}\r\n"));
        }
        let starttls = var(env::POP3_STARTTLS);
        if starttls.starts_with(['y', 'Y']) && is_executable(&var(env::COURIERTLS)) {
            text.push_str("STLS\r\n");
        }
        text.push_str(
            "TOP\r\nUSER\r\nLOGIN-DELAY 10\r\nPIPELINING\r\nUIDL\r\nUTF8 USER\r\n\
             IMPLEMENTATION Courier Mail Server\r\n.\r\n",
        );
        self.io.uncounted += text.len() as u64;
        self.io.write(text.as_bytes());
    }

    /// The UPDATE state: the deletions are done before the reply (RFC 1939
    /// §6), so a client that has read `+OK Bye-bye.` finds them done.
    fn quit(mut self) {
        let log_deletions = std::env::var(env::POP3_LOG_DELETIONS)
            .is_ok_and(|v| !v.is_empty() && !v.starts_with('0'));
        self.mb.expunge(&self.peer, log_deletions);
        self.io.reply("+OK Bye-bye.");
        self.io.flush();
        log(Severity::Info, format!("LOGOUT, {}", self.stats()));
    }

    fn end(mut self, what: &str) {
        self.io.flush();
        log(Severity::Info, format!("{what}, {}", self.stats()));
    }
}

fn is_executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    !path.is_empty()
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The RFC 6856 wrapper Courier sends instead of a message with 8-bit headers to
/// a client that did not enable UTF8: text before and after the original.
fn unicode_wrapper() -> (Vec<u8>, Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let boundary = format!("=_{}-{now}", std::process::id());
    let ctype = std::env::var(env::MIME_UNICODE_MESSAGE_TYPE)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "message/global".into());
    let head = format!(
        "From: Mail Delivery Subsystem <postmaster>\n\
         Subject: Cannot display Unicode content\n\
         Mime-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\
         \n\
         \n\
         \n\
         --{boundary}\n\
         Content-Type: text/plain\n\
         \n\
         This E-mail message was determined to be Unicode-formatted\n\
         but your E-mail reader does not support Unicode E-mail.\n\
         \n\
         Please use an E-mail reader that supports POP3 with UTF-8\n\
         (see https://tools.ietf.org/html/rfc6856.html).\n\
         \n\
         This can also happen when the sender's E-mail program does not\n\
         correctly format the sent message.\n\
         \n\
         The original message is included as a separate attachment\n\
         so that it can be downloaded manually.\n\
         \n\
         --{boundary}\n\
         Content-Type: {ctype}\n\
         \n"
    );
    let tail = format!("\n--{boundary}--\n");
    (head.into_bytes(), tail.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_c() {
        for (s, v) in [
            ("12", 12),
            ("  7x", 7),
            ("-3", -3),
            ("x", 0),
            ("", 0),
            ("99999999999999999999999", i64::MAX),
        ] {
            assert_eq!(atoi(s.as_bytes()), v, "{s}");
        }
    }

    #[test]
    fn idle_wait_times_out_and_sees_input() {
        let (r, mut w) = std::io::pipe().unwrap();
        let quick = Duration::from_millis(30);
        assert!(!wait_fd(r.as_fd(), PollFlags::POLLIN, quick).unwrap());
        w.write_all(b"x").unwrap();
        assert!(wait_fd(r.as_fd(), PollFlags::POLLIN, quick).unwrap());
    }

    #[test]
    fn wrapper_encloses_the_original() {
        let (head, tail) = unicode_wrapper();
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("From: Mail Delivery Subsystem <postmaster>\n"));
        assert!(head.ends_with("Content-Type: message/global\n\n"));
        assert!(String::from_utf8(tail).unwrap().starts_with("\n--=_"));
    }
}
