//! Sending messages to the local syslog socket in glibc's format
//! (`<PRI>Mmm dd HH:MM:SS TAG: text`, what `openlog(TAG, LOG_NDELAY, facility)` plus
//! `syslog()` send), without ever blocking the logged program for long.
//!
//! The socket is `/dev/log`, or `$COURIERLOGGER_SYSLOG_SOCKET` (tests). When the
//! syslog daemon's queue is full, a message waits at most [`SEND_WAIT`]; after
//! one such timeout further messages are dropped at once until a send succeeds,
//! and then a warning reports how many were lost. When the socket does not exist
//! or refuses, messages are dropped (as glibc does) and the connection is retried
//! on the next message.

use nix::errno::Errno;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable naming another syslog socket (project addition, for tests).
pub const SOCKET_ENV: &str = "COURIERLOGGER_SYSLOG_SOCKET";
/// The longest a message waits for room in a full syslog queue.
pub const SEND_WAIT: Duration = Duration::from_millis(100);

/// syslog facility codes (already shifted, as in `<syslog.h>`), as Debian's build
/// knows them (no `console`, no `security` on Linux).
pub const FACILITIES: &[(&str, u8)] = &[
    ("auth", 4 << 3),
    ("authpriv", 10 << 3),
    ("cron", 9 << 3),
    ("daemon", 3 << 3),
    ("ftp", 11 << 3),
    ("kern", 0),
    ("lpr", 6 << 3),
    ("mail", 2 << 3),
    ("news", 7 << 3),
    ("user", 1 << 3),
    ("uucp", 8 << 3),
    ("local0", 16 << 3),
    ("local1", 17 << 3),
    ("local2", 18 << 3),
    ("local3", 19 << 3),
    ("local4", 20 << 3),
    ("local5", 21 << 3),
    ("local6", 22 << 3),
    ("local7", 23 << 3),
];

/// The facility code for a name.
pub fn facility(name: &str) -> Option<u8> {
    FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// glibc's header: `<PRI>Mmm dd HH:MM:SS TAG: ` (day space-padded, local time).
pub fn header(pri: u8, now: &jiff::Zoned, tag: &str) -> String {
    format!("<{pri}>{} {tag}: ", now.strftime("%b %e %H:%M:%S"))
}

/// A connection to the syslog socket.
pub struct Syslog {
    path: PathBuf,
    sock: Option<UnixDatagram>,
    tag: String,
    facility: u8,
    congested: bool,
    /// Messages dropped since the last report.
    pub dropped: u64,
    tz: jiff::tz::TimeZone,
}

impl Syslog {
    /// Opens (`LOG_NDELAY`: connects now if it can) the syslog socket.
    pub fn open(tag: &str, facility: u8) -> Self {
        let path = std::env::var_os(SOCKET_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/dev/log"));
        let mut s = Syslog {
            path,
            sock: None,
            tag: tag.to_string(),
            facility,
            congested: false,
            dropped: 0,
            tz: jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC),
        };
        s.connect();
        s
    }

    fn connect(&mut self) {
        let sock = UnixDatagram::unbound().and_then(|s| {
            s.connect(&self.path)?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        self.sock = sock.ok();
    }

    /// Sends one message; never blocks longer than [`SEND_WAIT`]. After losses, the
    /// first successful send is followed by a warning with the count.
    pub fn send(&mut self, severity: u8, text: &[u8]) {
        if self.send_raw(severity, text) && self.dropped > 0 {
            let note = format!(
                "courierlogger: {} messages dropped (syslog socket busy or absent)",
                self.dropped
            );
            if self.send_raw(crate::lines::severity::WARNING, note.as_bytes()) {
                self.dropped = 0;
            }
        }
    }

    fn send_raw(&mut self, severity: u8, text: &[u8]) -> bool {
        let now = jiff::Timestamp::now().to_zoned(self.tz.clone());
        let mut msg = header(self.facility | severity, &now, &self.tag).into_bytes();
        msg.extend_from_slice(text);
        if self.sock.is_none() {
            self.connect();
        }
        let Some(sock) = &self.sock else {
            self.dropped += 1;
            return false;
        };
        let wait = !self.congested;
        match sock.send(&msg) {
            Ok(_) => {
                self.congested = false;
                return true;
            }
            Err(e) if is_full(&e) && wait => {
                let fd = std::os::fd::AsFd::as_fd(sock);
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
                let ms = nix::poll::PollTimeout::try_from(SEND_WAIT.as_millis() as i32)
                    .unwrap_or(nix::poll::PollTimeout::ZERO);
                if matches!(nix::poll::poll(&mut fds, ms), Ok(n) if n > 0)
                    && sock.send(&msg).is_ok()
                {
                    return true;
                }
                self.congested = true;
            }
            Err(e) if is_full(&e) => {}
            // Refused or gone (syslog daemon restarted): reconnect next time.
            Err(_) => self.sock = None,
        }
        self.dropped += 1;
        false
    }
}

fn is_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.raw_os_error() == Some(Errno::ENOBUFS as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_header_format() {
        let t: jiff::Zoned = "2026-11-02T07:05:09[UTC]".parse().unwrap();
        assert_eq!(
            header(2 << 3 | 3, &t, "imapd"),
            "<19>Nov  2 07:05:09 imapd: "
        );
        assert_eq!(facility("local3"), Some(152));
        assert_eq!(facility("console"), None);
        assert_eq!(facility("security"), None);
    }
}
