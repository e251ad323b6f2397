//! The handshake and the plaintext pump: poll(2) over the network socket and the
//! cleartext descriptor(s), rustls in between.
//!
//! Memory is bounded: at most one [`CHUNK`] of cleartext is read while rustls still
//! has encrypted output queued, and the network is read only once the previous
//! cleartext has been delivered, so a stalled side stops the other instead of
//! filling buffers. Half-close works both ways: a TLS `close_notify` (or TCP EOF)
//! from the peer becomes `shutdown(SHUT_WR)` on the cleartext socket once its data
//! is delivered, and EOF from the program becomes our `close_notify`. After both,
//! or once the program is gone and the peer has had [`LINGER`] to close, the pump
//! returns.

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Cleartext read size, and the most cleartext held in either direction.
pub const CHUNK: usize = 16 * 1024;
/// How long the peer has, after our `close_notify`, to close its side.
pub const LINGER: Duration = Duration::from_secs(60);

/// Why a handshake or pump ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PumpError {
    /// The peer closed the connection before the handshake finished (port scanners,
    /// clients that gave up).
    #[error("Unexpected SSL connection shutdown.")]
    Eof,
    /// The peer did not finish the handshake in time.
    #[error("TLS handshake timed out after {0} seconds.")]
    Timeout(u64),
    /// The peer sent something that is not acceptable TLS (or failed verification).
    #[error("{0}")]
    Tls(#[from] rustls::Error),
    /// A system call on one of the descriptors failed.
    #[error("{what}: {source}")]
    Io {
        /// Which operation.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> PumpError {
    move |source| PumpError::Io { what, source }
}

/// `Read`/`Write` on a borrowed descriptor.
struct Fd<'a>(BorrowedFd<'a>);

impl Read for Fd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match nix::unistd::read(self.0, buf) {
                Err(Errno::EINTR) => continue,
                r => return r.map_err(io::Error::from),
            }
        }
    }
}

impl Write for Fd<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match nix::unistd::write(self.0, buf) {
                Err(Errno::EINTR) => continue,
                r => return r.map_err(io::Error::from),
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Puts a descriptor in non-blocking mode.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Sends whatever rustls has queued, until the socket would block.
fn flush_tls(conn: &mut rustls::Connection, net: BorrowedFd<'_>) -> Result<(), PumpError> {
    while conn.wants_write() {
        match conn.write_tls(&mut Fd(net)) {
            Ok(_) => {}
            Err(e) if would_block(&e) => break,
            Err(e) => return Err(io_err("write")(e)),
        }
    }
    Ok(())
}

fn poll_timeout(left: Option<Duration>) -> PollTimeout {
    match left {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_millis().clamp(1, i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Runs the handshake on non-blocking `net` until it completes, fails, or `timeout`
/// passes. On a TLS error the alert rustls queued is sent before returning.
pub fn handshake(
    conn: &mut rustls::Connection,
    net: BorrowedFd<'_>,
    timeout: Duration,
) -> Result<(), PumpError> {
    let deadline = Instant::now() + timeout;
    loop {
        flush_tls(conn, net)?;
        if !conn.is_handshaking() && !conn.wants_write() {
            return Ok(());
        }
        let mut flags = PollFlags::empty();
        if conn.wants_write() {
            flags |= PollFlags::POLLOUT;
        }
        if conn.is_handshaking() && conn.wants_read() {
            flags |= PollFlags::POLLIN;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PumpError::Timeout(timeout.as_secs()));
        }
        let mut fds = [PollFd::new(net, flags)];
        match poll(&mut fds, poll_timeout(Some(left))) {
            Ok(0) => return Err(PumpError::Timeout(timeout.as_secs())),
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io_err("poll")(e.into())),
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match conn.read_tls(&mut Fd(net)) {
                Ok(0) => return Err(PumpError::Eof),
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        let _ = flush_tls(conn, net);
                        return Err(e.into());
                    }
                }
                Err(e) if would_block(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(PumpError::Eof),
                Err(e) => return Err(io_err("read")(e)),
            }
        }
    }
}

/// The descriptors the pump moves data between.
#[derive(Clone, Copy)]
pub struct Ends<'a> {
    /// The TLS side (a socket).
    pub net: BorrowedFd<'a>,
    /// Cleartext from the program.
    pub plain_in: BorrowedFd<'a>,
    /// Cleartext to the program (may be the same descriptor as `plain_in`).
    pub plain_out: BorrowedFd<'a>,
}

/// Moves data until both directions are closed. All three descriptors must be
/// non-blocking ([`set_nonblocking`]). Returns `Ok` on an orderly or abrupt close
/// by either side, `Err` when the peer sends bad TLS or the network fails.
pub fn pump(conn: &mut rustls::Connection, ends: Ends<'_>) -> Result<(), PumpError> {
    let mut to_plain: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut to_plain_pos = 0usize;
    let mut buf = vec![0u8; CHUNK];
    let mut net_read_closed = false; // TCP EOF seen
    let mut tls_eof = false; // no more cleartext will come from the peer
    let mut plain_out_shut = false; // the program was told (or cannot be told any more)
    let mut plain_eof = false; // no more cleartext from the program
    let mut close_sent = false;
    let mut linger_until: Option<Instant> = None;

    loop {
        flush_tls(conn, ends.net)?;

        // Decrypted data waiting in rustls, one chunk at a time, for as long as the
        // program takes it (the close_notify may sit right behind the data).
        loop {
            if to_plain_pos == to_plain.len() && !tls_eof {
                to_plain.clear();
                to_plain_pos = 0;
                match conn.reader().read(&mut buf) {
                    Ok(0) => tls_eof = true,
                    Ok(n) => to_plain.extend_from_slice(&buf[..n]),
                    Err(e) if would_block(&e) => {}
                    // TCP closed without close_notify: treat as the end of the stream.
                    Err(_) => tls_eof = true,
                }
            }
            while to_plain_pos < to_plain.len() && !plain_out_shut {
                match Fd(ends.plain_out).write(&to_plain[to_plain_pos..]) {
                    Ok(n) => to_plain_pos += n,
                    Err(e) if would_block(&e) => break,
                    // The program is gone: drop what it can no longer read.
                    Err(_) => {
                        to_plain_pos = to_plain.len();
                        plain_out_shut = true;
                    }
                }
            }
            if to_plain.is_empty() || to_plain_pos < to_plain.len() || tls_eof {
                break;
            }
        }
        if tls_eof && to_plain_pos == to_plain.len() && !plain_out_shut {
            // Tell the program, keeping the other direction open (ENOTSOCK for a
            // pipe or terminal is harmless: it sees EOF when we exit).
            let _ = nix::sys::socket::shutdown(
                ends.plain_out.as_raw_fd(),
                nix::sys::socket::Shutdown::Write,
            );
            plain_out_shut = true;
        }
        if plain_eof && !close_sent {
            conn.send_close_notify();
            close_sent = true;
            flush_tls(conn, ends.net)?;
        }
        let flushed = !conn.wants_write();
        if close_sent && flushed && (tls_eof || net_read_closed) && plain_out_shut {
            return Ok(());
        }
        if close_sent && flushed && linger_until.is_none() {
            linger_until = Some(Instant::now() + LINGER);
        }

        let want_net_in = !net_read_closed && !tls_eof && to_plain_pos == to_plain.len();
        let mut net_flags = PollFlags::empty();
        if want_net_in {
            net_flags |= PollFlags::POLLIN;
        }
        if conn.wants_write() {
            net_flags |= PollFlags::POLLOUT;
        }
        let want_plain_in = !plain_eof && !conn.wants_write();
        let want_plain_out = to_plain_pos < to_plain.len() && !plain_out_shut;
        let same = ends.plain_in.as_raw_fd() == ends.plain_out.as_raw_fd();

        let mut fds = vec![PollFd::new(ends.net, net_flags)];
        let mut plain_flags = PollFlags::empty();
        if want_plain_in {
            plain_flags |= PollFlags::POLLIN;
        }
        if same && want_plain_out {
            plain_flags |= PollFlags::POLLOUT;
        }
        fds.push(PollFd::new(ends.plain_in, plain_flags));
        if !same {
            let out_flags = if want_plain_out {
                PollFlags::POLLOUT
            } else {
                PollFlags::empty()
            };
            fds.push(PollFd::new(ends.plain_out, out_flags));
        }
        if net_flags.is_empty() && plain_flags.is_empty() && !want_plain_out {
            // Nothing can make progress any more.
            return Ok(());
        }
        let left = linger_until.map(|t| t.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Ok(());
        }
        match poll(&mut fds, poll_timeout(left)) {
            Ok(0) => return Ok(()), // linger expired
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io_err("poll")(e.into())),
        }
        let hup = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        let net_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let plain_ev = fds[1].revents().unwrap_or(PollFlags::empty());

        if want_net_in && net_ev.intersects(hup) {
            match conn.read_tls(&mut Fd(ends.net)) {
                Ok(0) => net_read_closed = true,
                Ok(_) => {}
                Err(e) if would_block(&e) => {}
                Err(_) => net_read_closed = true,
            }
            if let Err(e) = conn.process_new_packets() {
                let _ = flush_tls(conn, ends.net);
                return Err(e.into());
            }
            // After TCP EOF the reader reports close_notify (Ok(0)) or an abrupt
            // end (UnexpectedEof) at the top of the loop, once pending data is out.
        }
        if want_plain_in && plain_ev.intersects(hup) {
            match Fd(ends.plain_in).read(&mut buf) {
                Ok(0) => plain_eof = true,
                Ok(n) => {
                    let mut rest = &buf[..n];
                    while !rest.is_empty() {
                        match conn.writer().write(rest) {
                            Ok(0) => {
                                // rustls' buffer limit (64 KiB) is above CHUNK; cannot happen.
                                return Err(io_err("write")(io::ErrorKind::WriteZero.into()));
                            }
                            Ok(w) => rest = &rest[w..],
                            Err(e) => return Err(io_err("write")(e)),
                        }
                    }
                }
                Err(e) if would_block(&e) => {}
                Err(_) => plain_eof = true,
            }
        }
    }
}
