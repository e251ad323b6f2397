//! Bad input for authdaemond: oversized lines, truncated AUTH, binary garbage,
//! silent clients, unknown commands, a corrupt userdb.dat and a killed worker.
//! Every probe runs against our daemon and, when installed, Debian's: the reply
//! bytes and whether the connection was closed must be the same, and the daemon
//! must go on serving other clients. Needs root (private mount namespace);
//! skips otherwise.

use e2e::{
    AUTH_FIXTURE_DEFAULTOPTIONS, AuthDaemon, AuthSetup, Side, auth_exchange, auth_fixture_userdb,
    auth_prereqs,
};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn setup() -> AuthSetup {
    AuthSetup::userdb(auth_fixture_userdb(), 2, AUTH_FIXTURE_DEFAULTOPTIONS)
}

/// Ours, then Debian's when installed.
fn daemons(test: &str) -> Vec<AuthDaemon> {
    if !auth_prereqs(test, false) {
        return Vec::new();
    }
    let mut v = vec![AuthDaemon::start(Side::Ours, &setup())];
    if Path::new(e2e::COURIER_AUTHDAEMOND).exists() {
        v.push(AuthDaemon::start(Side::Courier, &setup()));
    } else {
        println!("{test}: Debian's authdaemond is not installed; checking ours alone");
    }
    v
}

const SHORT: Duration = Duration::from_secs(3);

/// The daemon answers a normal lookup promptly.
fn assert_serves(d: &AuthDaemon, what: &str) {
    let t = Instant::now();
    let (reply, closed) = auth_exchange(&d.socket(), b"PRE . imap alice\n", SHORT);
    assert!(
        reply.starts_with(b"UID=5000\n") && reply.ends_with(b"\n.\n") && closed,
        "{:?} daemon, {what}: no record for alice ({:?}); log:\n{}",
        d.side,
        String::from_utf8_lossy(&reply),
        d.log()
    );
    assert!(
        t.elapsed() < SHORT,
        "{:?}: answered only after {:?}",
        d.side,
        t.elapsed()
    );
}

/// Sends each request; expects (reply, closed) as given, on every daemon.
fn expect_replies(ds: &[AuthDaemon], cases: &[(&[u8], &[u8])]) {
    for d in ds {
        for (req, want) in cases {
            let (reply, closed) = auth_exchange(&d.socket(), req, SHORT);
            assert_eq!(
                (String::from_utf8_lossy(&reply), closed),
                (String::from_utf8_lossy(want), true),
                "{:?} daemon, request {:?}…: (reply, closed); log:\n{}",
                d.side,
                String::from_utf8_lossy(&req[..req.len().min(40)]),
                d.log()
            );
        }
        assert_serves(d, "after the bad requests");
    }
}

#[test]
fn request_line_over_8190_bytes_is_dropped_without_reply() {
    let ds = daemons("request_line_over_8190_bytes_is_dropped_without_reply");
    let mut no_newline = vec![b'A'; 9000];
    no_newline.extend_from_slice(b"PRE . imap alice\n");
    let long_pre = [b"PRE . imap ".as_slice(), &[b'a'; 8185], b"\n"].concat();
    let under_limit_pre = [b"PRE . imap ".as_slice(), &[b'a'; 8170], b"\n"].concat();
    expect_replies(
        &ds,
        &[
            (&no_newline, b""),
            (&long_pre, b""),
            // Just under the limit: a valid (unknown) user id gets FAIL.
            (&under_limit_pre, b"FAIL\n"),
        ],
    );
    for d in &ds {
        assert_our_log(d, "request line longer than 8190 bytes");
    }
}

#[test]
fn unknown_or_malformed_command_closes_without_reply() {
    let ds = daemons("unknown_or_malformed_command_closes_without_reply");
    expect_replies(
        &ds,
        &[
            (b"FOO bar\n", b""),
            (b"pre . imap alice\n", b""),
            (b"PRE\n", b""),
            (b"PRE . imap\n", b""),
            (b"AUTH x\nimap\n", b""),
            (b"AUTH 99999\nimap\n", b""),
            (b"PASSWD imap\talice\n", b""),
            // Meta lines before a valid command are ignored.
            (b"X=1\n=\nPRE . imap nosuch\n", b"FAIL\n"),
            // A command word of 8000 bytes: still one line, still unknown.
            (&[&[b'Q'; 8000][..], b" x\n"].concat(), b""),
        ],
    );
    for d in &ds {
        assert_our_log(d, "unknown command \"FOO\"");
    }
}

#[test]
fn binary_garbage_is_dropped_without_reply() {
    let ds = daemons("binary_garbage_is_dropped_without_reply");
    // Deterministic pseudo-random bytes, newlines included.
    let mut x: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..6000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    let mut with_nl = noise.clone();
    with_nl.push(b'\n');
    expect_replies(
        &ds,
        &[
            (b"\x00\x01\xff\xfe garbage\n\x00\x00", b""),
            (b"\x80\x81\x82\n", b""),
            (b"\x00\n", b""),
            (&with_nl, b""),
        ],
    );
    for d in &ds {
        assert_our_log(d, "bad request");
    }
}

#[test]
fn truncated_auth_gets_no_reply_while_others_are_served() {
    for d in daemons("truncated_auth_gets_no_reply_while_others_are_served") {
        // The count says 100 bytes, 24 follow: the worker waits for the rest.
        let mut stuck = UnixStream::connect(d.socket()).unwrap();
        stuck
            .write_all(b"AUTH 100\nimap\nlogin\nalice\nsecret\n")
            .unwrap();
        for _ in 0..3 {
            assert_serves(&d, "while a truncated AUTH is pending");
        }
        let (reply, closed) = auth_exchange_on(&mut stuck, Duration::from_millis(500));
        assert_eq!(
            (reply.as_slice(), closed),
            (&b""[..], false),
            "{:?}: the truncated AUTH must get no reply (the daemon waits for the rest)",
            d.side
        );
        drop(stuck);
        assert_our_log(&d, "closed the connection in the middle of a request");
    }
}

#[test]
fn silent_clients_do_not_stop_other_clients_being_served() {
    for d in daemons("silent_clients_do_not_stop_other_clients_being_served") {
        // One connection that never sends anything (daemons=2: one worker left).
        let silent = UnixStream::connect(d.socket()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..5 {
            assert_serves(&d, &format!("request {i} while a client stays silent"));
        }
        drop(silent);
    }
}

#[test]
fn corrupt_userdb_dat_fails_lookups_logs_the_file_and_recovers() {
    if !auth_prereqs(
        "corrupt_userdb_dat_fails_lookups_logs_the_file_and_recovers",
        false,
    ) {
        return;
    }
    let d = AuthDaemon::start(Side::Ours, &setup());
    assert_serves(&d, "before the corruption");
    // Overwrite the compiled files in place with garbage of the same size (a new
    // inode and mtime, as after a botched copy).
    let o = d.sh("for f in userdb.dat userdbshadow.dat; do \
           head -c \"$(stat -c %s /etc/courier/$f)\" /dev/urandom > /etc/courier/$f.bad && \
           mv /etc/courier/$f.bad /etc/courier/$f; done");
    assert_eq!(o.code, Some(0), "{o:?}");
    let (reply, closed) = auth_exchange(&d.socket(), b"PRE . imap alice\n", SHORT);
    assert!(
        closed && (reply.is_empty() || reply == b"FAIL\n"),
        "corrupt userdb.dat: expected FAIL or a silent close, got {:?}",
        String::from_utf8_lossy(&reply)
    );
    let (reply, _) = auth_exchange(&d.socket(), b"AUTH 24\npop3\nlogin\nalice\nsecret\n", SHORT);
    assert!(
        reply.is_empty() || reply == b"FAIL\n",
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let log = wait_for_log(&d, "userdb.dat");
    assert!(
        log.lines()
            .any(|l| l.contains("/etc/courier/userdb.dat") || l.contains("userdbshadow.dat")),
        "no log line names the corrupt file:\n{log}"
    );
    // Recompiling the text file repairs it without a restart.
    let o = d.inside(&e2e::auth_bin(d.side, "makeuserdb"), &[]).run();
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_serves(&d, "after makeuserdb rebuilt the files");
}

#[test]
fn corrupt_userdb_dat_at_startup_fails_lookups_and_logs_the_file() {
    if !auth_prereqs(
        "corrupt_userdb_dat_at_startup_fails_lookups_and_logs_the_file",
        false,
    ) {
        return;
    }
    let garbage: Vec<u8> = (0..16384u32).map(|i| (i * 7 + 3) as u8).collect();
    let s = AuthSetup {
        userdb: None,
        files: vec![
            ("userdb.dat".into(), garbage.clone(), 0o644),
            ("userdbshadow.dat".into(), garbage, 0o600),
        ],
        ..setup()
    };
    let d = AuthDaemon::start(Side::Ours, &s);
    let (reply, closed) = auth_exchange(&d.socket(), b"PRE . imap alice\n", SHORT);
    assert!(
        closed && (reply.is_empty() || reply == b"FAIL\n"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let log = wait_for_log(&d, "userdb.dat");
    assert!(
        log.contains("userdb.dat"),
        "no log line names the file:\n{log}"
    );
}

#[test]
fn killed_worker_leaves_the_daemon_serving() {
    for d in daemons("killed_worker_leaves_the_daemon_serving") {
        // setup() asks for 2 workers; let the parent finish forking them.
        let t = Instant::now();
        while d.workers().len() < 2 && t.elapsed() < SHORT {
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = d.workers();
        if let Some(victim) = before.first() {
            let st = std::process::Command::new("kill")
                .args(["-KILL", &victim.to_string()])
                .status()
                .unwrap();
            assert!(st.success());
        } else {
            println!(
                "{:?} daemon has no worker processes; killing nothing",
                d.side
            );
        }
        // Courier's parent forks a replacement; the pool is full again.
        let t = Instant::now();
        while !replaced(&d.workers(), &before) && t.elapsed() < SHORT {
            std::thread::sleep(Duration::from_millis(50));
        }
        let after = d.workers();
        assert_eq!(
            after.len(),
            before.len(),
            "{:?}: workers before {before:?}, after {after:?}",
            d.side
        );
        assert!(
            before.first().is_none_or(|v| !after.contains(v)),
            "{:?}: the killed worker is still there",
            d.side
        );
        for i in 0..6 {
            assert_serves(&d, &format!("request {i} after a worker was killed"));
        }
        if let Some(victim) = before.first() {
            assert_our_log(&d, &format!("worker {victim} died of SIGKILL"));
        }
        assert!(
            Path::new(&format!("/proc/{}", d.pid())).exists(),
            "{:?}: the daemon itself died; log:\n{}",
            d.side,
            d.log()
        );
    }
}

/// Our daemon's log, once it has a line containing `needle`; asserts that it does
/// and that no line is longer than 1024 bytes (RFC 3164 §4.1: syslog, where
/// courierlogger sends these lines, caps a message there, and a client must not
/// be able to flood the log with its own bytes).
fn assert_our_log(d: &AuthDaemon, needle: &str) {
    if d.side != Side::Ours {
        return;
    }
    let log = wait_for_log(d, needle);
    assert!(log.contains(needle), "our log lacks {needle:?}:\n{log}");
    for line in log.lines() {
        assert!(
            line.len() <= 1024,
            "our log has a {}-byte line: {}…",
            line.len(),
            line.chars().take(200).collect::<String>()
        );
    }
}

/// The pool is as large as `before` again and no longer holds the first of it.
fn replaced(now: &[u32], before: &[u32]) -> bool {
    now.len() == before.len() && before.first().is_none_or(|v| !now.contains(v))
}

/// Reads from an open connection until EOF or `wait`.
fn auth_exchange_on(s: &mut UnixStream, wait: Duration) -> (Vec<u8>, bool) {
    use std::io::Read;
    s.set_read_timeout(Some(wait)).unwrap();
    let mut v = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (v, true),
            Ok(n) => v.extend_from_slice(&buf[..n]),
            Err(_) => return (v, false),
        }
    }
}

/// The daemon's log once it mentions `needle` (or after 3 s).
fn wait_for_log(d: &AuthDaemon, needle: &str) -> String {
    let t = Instant::now();
    loop {
        let log = d.log();
        if log.contains(needle) || t.elapsed() > SHORT {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
