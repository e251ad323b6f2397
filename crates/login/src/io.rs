//! The client connection: bounded, deadline-aware buffered reading from fd 0 and
//! writing to fd 1 (the socket couriertcpd gave us, or the STARTTLS pipe), with
//! Courier's byte counters. The [`Transport`] seam lets tests drive the protocol
//! engines with byte slices.

use std::io;
use std::os::fd::AsFd;
use std::time::Instant;

/// Why the connection can no longer be used.
#[derive(Debug)]
pub enum End {
    /// The client closed the connection.
    Eof,
    /// The pre-authentication deadline passed.
    Timeout,
    /// A read or write failed.
    Io(io::Error),
}

/// A byte pipe to the client.
pub trait Transport {
    /// Reads some bytes, waiting at most until `deadline`; `Ok(0)` is end of file.
    fn read(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, End>;
    /// Writes everything.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
}

/// The process's fd 0 (read) and fd 1 (write), whatever they currently are.
#[derive(Debug, Default)]
pub struct Stdio;

impl Transport for Stdio {
    fn read(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, End> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let stdin = io::stdin();
        loop {
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(End::Timeout);
                    }
                    PollTimeout::try_from(left.as_millis().max(1)).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => continue, // re-check the deadline
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(End::Io(e.into())),
            }
            match nix::unistd::read(stdin.as_fd(), buf) {
                Ok(n) => return Ok(n),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                Err(e) => return Err(End::Io(e.into())),
            }
        }
    }

    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let stdout = io::stdout();
        while !buf.is_empty() {
            match nix::unistd::write(stdout.as_fd(), buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => {
                    // fd 1 may be non-blocking (Courier leaves it so): wait for room.
                    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
                    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, PollTimeout::from(1000u16));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Courier's read buffer size (`BUFSIZ`).
pub const READ_BUFFER: usize = 8192;

/// A buffered connection.
#[derive(Debug)]
pub struct Conn<T: Transport> {
    t: T,
    inbuf: Box<[u8]>,
    pos: usize,
    len: usize,
    out: Vec<u8>,
    deadline: Option<Instant>,
    /// Bytes received so far.
    pub rcvd: u64,
    /// Bytes sent so far.
    pub sent: u64,
}

impl<T: Transport> Conn<T> {
    /// A connection over `t`; reads give up at `deadline`.
    pub fn new(t: T, deadline: Option<Instant>) -> Self {
        Conn {
            t,
            inbuf: vec![0; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            len: 0,
            out: Vec::with_capacity(512),
            deadline,
            rcvd: 0,
            sent: 0,
        }
    }

    /// The transport (tests).
    pub fn transport(&self) -> &T {
        &self.t
    }

    fn fill(&mut self) -> Result<(), End> {
        let n = self.t.read(&mut self.inbuf, self.deadline)?;
        if n == 0 {
            return Err(End::Eof);
        }
        self.rcvd += n as u64;
        self.pos = 0;
        self.len = n;
        Ok(())
    }

    /// The next byte.
    pub fn read_byte(&mut self) -> Result<u8, End> {
        if self.pos == self.len {
            self.fill()?;
        }
        let b = self.inbuf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// Puts back the byte [`Conn::read_byte`] just returned.
    pub fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    /// Reads up to and including `\n`, keeping at most `max` bytes; the rest of an
    /// over-long line stays unread (Courier's `fgets`). Returns the bytes and
    /// whether they end with `\n`. At end of file a partial line is returned;
    /// end of file with nothing read is [`End::Eof`].
    pub fn read_line(&mut self, max: usize) -> Result<(Vec<u8>, bool), End> {
        let mut line = Vec::with_capacity(64);
        while line.len() < max {
            let b = match self.read_byte() {
                Ok(b) => b,
                Err(End::Eof) if !line.is_empty() => return Ok((line, false)),
                Err(e) => return Err(e),
            };
            line.push(b);
            if b == b'\n' {
                return Ok((line, true));
            }
        }
        Ok((line, false))
    }

    /// Discards input through the next `\n` (bounded memory, however long).
    pub fn skip_line(&mut self) -> Result<(), End> {
        loop {
            if self.pos == self.len {
                self.fill()?;
            }
            let rest = &self.inbuf[self.pos..self.len];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.pos += i + 1;
                    return Ok(());
                }
                None => self.pos = self.len,
            }
        }
    }

    /// Drops whatever input is buffered (after STARTTLS nothing sent in clear
    /// text before the handshake may be taken as a command).
    pub fn discard_input(&mut self) {
        self.pos = 0;
        self.len = 0;
    }

    /// Queues output.
    pub fn write(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Drops queued output that was not flushed.
    pub fn clear_output(&mut self) {
        self.out.clear();
    }

    /// Sends queued output.
    pub fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.t.write_all(&self.out);
        match r {
            Ok(()) => {
                self.sent += self.out.len() as u64;
                self.out.clear();
                Ok(())
            }
            Err(e) => {
                self.out.clear();
                Err(End::Io(e))
            }
        }
    }
}

/// An in-memory transport for tests: scripted input, captured output.
#[derive(Debug, Default)]
pub struct Script {
    input: Vec<u8>,
    at: usize,
    /// At most this many bytes per read (to exercise buffer boundaries).
    pub chunk: usize,
    /// Everything written.
    pub output: Vec<u8>,
}

impl Script {
    /// Input `input`, read in chunks of up to 8 KiB.
    pub fn new(input: &[u8]) -> Script {
        Script {
            input: input.to_vec(),
            at: 0,
            chunk: READ_BUFFER,
            output: Vec::new(),
        }
    }

    /// The output so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

impl Transport for Script {
    fn read(&mut self, buf: &mut [u8], _deadline: Option<Instant>) -> Result<usize, End> {
        let n = (self.input.len() - self.at)
            .min(buf.len())
            .min(self.chunk.max(1));
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.output.extend_from_slice(buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_the_rest_stays_unread() {
        let mut c = Conn::new(Script::new(b"abcdef\nxy\nlast"), None);
        assert_eq!(c.read_line(4).unwrap(), (b"abcd".to_vec(), false));
        assert_eq!(c.read_line(100).unwrap(), (b"ef\n".to_vec(), true));
        assert_eq!(c.read_line(100).unwrap(), (b"xy\n".to_vec(), true));
        assert_eq!(c.read_line(100).unwrap(), (b"last".to_vec(), false));
        assert!(matches!(c.read_line(100), Err(End::Eof)));
    }

    #[test]
    fn skip_line_discards_a_huge_line_in_small_steps() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nnext\n");
        let mut c = Conn::new(Script::new(&input), None);
        c.skip_line().unwrap();
        assert_eq!(c.read_line(100).unwrap().0, b"next\n");
        assert_eq!(c.rcvd, input.len() as u64);
    }

    #[test]
    fn unread_puts_back_across_chunks() {
        let mut s = Script::new(b"ab");
        s.chunk = 1;
        let mut c = Conn::new(s, None);
        assert_eq!(c.read_byte().unwrap(), b'a');
        c.unread();
        assert_eq!(c.read_byte().unwrap(), b'a');
        assert_eq!(c.read_byte().unwrap(), b'b');
    }

    #[test]
    fn output_is_counted_when_flushed() {
        let mut c = Conn::new(Script::new(b""), None);
        c.write(b"* OK\r\n");
        assert_eq!(c.sent, 0);
        c.flush().unwrap();
        assert_eq!(c.sent, 6);
        assert_eq!(c.transport().text(), "* OK\r\n");
    }
}
