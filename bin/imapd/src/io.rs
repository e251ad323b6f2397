//! The connection: a buffered reader on stdin with bounded lines and timeouts, and
//! one output buffer flushed once per command response.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

const BUF: usize = 64 * 1024;
/// How long a client may leave our output unread before the session ends.
const OUTPUT_TIMEOUT_MS: i32 = 30 * 60 * 1000;

/// Result of reading one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line (appended to the caller's buffer, with its LF).
    Ok,
    /// The line exceeded the limit; it was read and thrown away up to its LF.
    TooLong,
    /// End of input.
    Eof,
    /// Nothing arrived in time.
    Timeout,
}

/// Both directions of the connection.
pub struct Conn {
    input: File,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    output: File,
    /// Pending output.
    pub out: Vec<u8>,
    /// Bytes received.
    pub rcvd: u64,
    /// Bytes sent.
    pub sent: u64,
    /// Output failed (peer gone).
    pub broken: bool,
}

impl Conn {
    /// Wraps duplicates of stdin and stdout.
    pub fn stdio() -> io::Result<Conn> {
        let input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
        // Non-blocking output, so that a client that stops reading cannot hold the
        // process forever: flush waits at most OUTPUT_TIMEOUT_MS for room.
        // (Not on a terminal: the flag would outlive us in the shell.)
        if !nix::unistd::isatty(&output).unwrap_or(false)
            && let Ok(fl) = nix::fcntl::fcntl(&output, nix::fcntl::FcntlArg::F_GETFL)
        {
            let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
            let _ = nix::fcntl::fcntl(&output, nix::fcntl::FcntlArg::F_SETFL(fl));
        }
        Ok(Conn {
            input,
            buf: vec![0u8; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            output,
            out: Vec::with_capacity(4096),
            rcvd: 0,
            sent: 0,
            broken: false,
        })
    }

    /// The input descriptor (for poll in IDLE).
    pub fn input_fd(&self) -> BorrowedFd<'_> {
        self.input.as_fd()
    }

    /// Whether input is already buffered.
    pub fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    /// Writes the pending output.
    pub fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if !self.broken {
            let mut rest = &self.out[..];
            while !rest.is_empty() {
                match self.output.write(rest) {
                    Ok(0) => {
                        self.broken = true;
                        break;
                    }
                    Ok(n) => {
                        self.sent += n as u64;
                        rest = &rest[n..];
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let mut fds = [PollFd::new(self.output.as_fd(), PollFlags::POLLOUT)];
                        let t =
                            PollTimeout::try_from(OUTPUT_TIMEOUT_MS).unwrap_or(PollTimeout::MAX);
                        match poll(&mut fds, t) {
                            Ok(0) => {
                                self.broken = true;
                                break;
                            }
                            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                            Err(_) => {
                                self.broken = true;
                                break;
                            }
                        }
                    }
                    Err(_) => {
                        self.broken = true;
                        break;
                    }
                }
            }
        }
        self.out.clear();
        // A big response (FETCH 1:* of a large folder) leaves no big buffer behind
        // in an idle session.
        if self.out.capacity() > 256 << 10 {
            self.out.shrink_to(64 << 10);
        }
    }

    /// Appends text to the output.
    pub fn put(&mut self, s: impl AsRef<[u8]>) {
        self.out.extend_from_slice(s.as_ref());
    }

    /// Refills the buffer, waiting at most `timeout_ms` (-1: forever).
    fn fill(&mut self, timeout_ms: i32) -> Result<bool, Line> {
        if self.start < self.end {
            return Ok(true);
        }
        self.start = 0;
        self.end = 0;
        // Input may share its open file (a socket on fd 0 and 1) with the
        // non-blocking output: always wait with poll, and treat EAGAIN as "wait
        // again".
        let deadline = (timeout_ms >= 0).then(|| {
            std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms as u64)
        });
        loop {
            let wait_ms = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(Line::Timeout);
                    }
                    i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1)
                }
                None => -1,
            };
            let t = if wait_ms < 0 {
                PollTimeout::NONE
            } else {
                PollTimeout::try_from(wait_ms).unwrap_or(PollTimeout::MAX)
            };
            let mut fds = [PollFd::new(self.input.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, t) {
                Ok(0) => return Err(Line::Timeout),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Err(Line::Eof),
            }
            match self.input.read(&mut self.buf) {
                Ok(0) => return Err(Line::Eof),
                Ok(n) => {
                    self.end = n;
                    self.rcvd += n as u64;
                    return Ok(true);
                }
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    continue;
                }
                Err(_) => return Err(Line::Eof),
            }
        }
    }

    /// Reads one line into `dst` (appending) unless that would make `dst` longer than
    /// `max`, in which case the line is consumed and dropped.
    pub fn read_line(&mut self, dst: &mut Vec<u8>, max: usize, timeout_ms: i32) -> Line {
        let mut too_long = false;
        loop {
            if let Err(l) = self.fill(timeout_ms) {
                return l;
            }
            let avail = &self.buf[self.start..self.end];
            let (take, done) = match avail.iter().position(|&c| c == b'\n') {
                Some(p) => (p + 1, true),
                None => (avail.len(), false),
            };
            if !too_long {
                if dst.len() + take > max {
                    too_long = true;
                } else {
                    dst.extend_from_slice(&avail[..take]);
                }
            }
            self.start += take;
            if done {
                return if too_long { Line::TooLong } else { Line::Ok };
            }
        }
    }

    /// Reads exactly `n` bytes, handing them to `sink` in chunks.
    pub fn read_exact_to(
        &mut self,
        mut n: u64,
        timeout_ms: i32,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), Line> {
        let mut sink_err = false;
        while n > 0 {
            self.fill(timeout_ms)?;
            let avail = self.end - self.start;
            let take = avail.min(usize::try_from(n).unwrap_or(usize::MAX));
            if !sink_err && sink(&self.buf[self.start..self.start + take]).is_err() {
                // Keep reading so the literal is consumed; the sink keeps its error.
                sink_err = true;
            }
            self.start += take;
            n -= take as u64;
        }
        Ok(())
    }
}
