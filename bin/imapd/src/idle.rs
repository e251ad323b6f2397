//! IDLE (RFC 2177): inotify on the selected folder's `new/`, `cur/` and
//! `courierimapkeywords/`, so deliveries, flag changes and expunges by others are
//! reported within milliseconds; a periodic re-scan every `IMAP_IDLE_TIMEOUT`
//! seconds covers what inotify cannot see (its limits reached, NFS).

use crate::io::Line;
use crate::session::Session;
use inotify::{Inotify, WatchMask};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How long to let a burst of file events settle before re-scanning.
const SETTLE: Duration = Duration::from_millis(15);
/// Longest a client may stay in IDLE without saying anything (30 minutes).
const MAX_IDLE: Duration = Duration::from_secs(30 * 60);

fn watcher(s: &Session) -> Option<Inotify> {
    let mb = s.selected.as_ref()?;
    let ino = Inotify::init().ok()?;
    let mask = WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::MOVED_FROM | WatchMask::DELETE;
    let mut any = false;
    for sub in ["new", "cur"] {
        any |= ino.watches().add(mb.path.join(sub), mask).is_ok();
    }
    let _ = ino
        .watches()
        .add(mb.path.join(courier_maildir::keywords::DIR_NAME), mask);
    any.then_some(ino)
}

/// Drains pending events; true when there were any.
fn drain(ino: &mut Inotify) -> bool {
    let mut buf = [0u8; 4096];
    let mut any = false;
    loop {
        match ino.read_events(&mut buf) {
            Ok(ev) => {
                let n = ev.count();
                if n == 0 {
                    return any;
                }
                any = true;
            }
            Err(_) => return any,
        }
    }
}

/// Runs one IDLE command until `DONE`.
pub fn idle(s: &mut Session, tag: &str) {
    let text = if s.cfg.enhanced_idle {
        "+ entering ENHANCED idle mode"
    } else {
        "+ entering idle mode"
    };
    s.send_updates(true);
    s.conn.put(format!("{text}\r\n"));
    s.conn.flush();
    let mut ino = watcher(s);
    let period = Duration::from_secs(s.cfg.idle_timeout.max(1));
    let started = Instant::now();
    let mut last_scan = Instant::now();
    loop {
        if s.conn.broken {
            return;
        }
        if !s.conn.has_buffered() {
            let wait = period.saturating_sub(last_scan.elapsed());
            let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
            let t = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
            let (input_ready, fs_ready) = {
                let mut fds = vec![PollFd::new(s.conn.input_fd(), PollFlags::POLLIN)];
                if let Some(i) = &ino {
                    fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, t) {
                    Ok(_) => {
                        let r = |f: &PollFd<'_>| f.revents().is_some_and(|e| !e.is_empty());
                        (r(&fds[0]), fds.get(1).is_some_and(r))
                    }
                    Err(nix::errno::Errno::EINTR) => (false, false),
                    Err(_) => (true, false),
                }
            };
            if fs_ready {
                std::thread::sleep(SETTLE);
                if let Some(i) = ino.as_mut() {
                    // Our own rescan moves files and so makes events too: repeat
                    // until quiet, at most a few rounds.
                    for _ in 0..3 {
                        if !drain(i) {
                            break;
                        }
                        s.send_updates(true);
                        s.conn.flush();
                    }
                }
                last_scan = Instant::now();
                continue;
            }
            if !input_ready {
                if started.elapsed() > MAX_IDLE {
                    s.conn.put("* BYE Disconnected for inactivity.\r\n");
                    s.conn.flush();
                    s.conn.broken = true;
                    return;
                }
                s.send_updates(true);
                s.conn.flush();
                last_scan = Instant::now();
                continue;
            }
        }
        let mut line = Vec::new();
        match s.conn.read_line(&mut line, 1024, 30 * 60 * 1000) {
            Line::Ok => {
                let l = courier_imap_proto::framer::strip_eol(&line);
                if l.eq_ignore_ascii_case(b"DONE") {
                    s.send_updates(true);
                    s.conn.put(format!("{tag} OK IDLE completed\r\n"));
                } else {
                    s.conn
                        .put(format!("{tag} {}\r\n", crate::session::GENERIC_NO));
                }
                return;
            }
            Line::TooLong => {
                s.conn
                    .put(format!("{tag} {}\r\n", crate::session::GENERIC_NO));
                return;
            }
            Line::Eof | Line::Timeout => {
                s.conn.broken = true;
                return;
            }
        }
    }
}
