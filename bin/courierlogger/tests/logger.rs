//! courierlogger against a private syslog socket (`COURIERLOGGER_SYSLOG_SOCKET`):
//! priorities, facility, tag, daemon start/stop/restart with a real child,
//! respawn, a 100k-line flood, and Debian's messages for bad command lines.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_courierlogger");

/// A syslog socket in a temp dir; received datagrams come out of `rx`.
struct Syslog {
    _dir: tempfile::TempDir,
    path: PathBuf,
    rx: mpsc::Receiver<String>,
}

fn syslog() -> Syslog {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let sock = UnixDatagram::bind(&path).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    Syslog {
        _dir: dir,
        path,
        rx,
    }
}

impl Syslog {
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("COURIERLOGGER_SYSLOG_SOCKET", &self.path);
        c
    }
    /// Waits for `n` messages; strips the timestamp: `<PRI>TAG: text`.
    fn take(&self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.rx.recv_timeout(Duration::from_secs(10)) {
                Ok(m) => out.push(strip_time(&m)),
                Err(_) => panic!("only {} of {n} messages: {out:?}", out.len()),
            }
        }
        out
    }
    fn wait_for(&self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if let Ok(m) = self.rx.recv_timeout(Duration::from_millis(200))
                && m.contains(needle)
            {
                return strip_time(&m);
            }
        }
        panic!("no message containing {needle:?}");
    }
}

/// `<22>Nov 22 00:01:17 tag: text` -> `<22>tag: text`.
fn strip_time(m: &str) -> String {
    let close = m.find('>').unwrap();
    let rest = &m[close + 1..];
    // "Mmm dd HH:MM:SS " is 16 bytes.
    assert_eq!(rest.as_bytes()[15], b' ', "{m}");
    format!("{}{}", &m[..=close], &rest[16..])
}

#[test]
fn stdin_mode_priorities_and_tag() {
    let s = syslog();
    let mut c = s
        .cmd()
        .arg("mytitle")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(b"ERR: bad thing\nWARN:   spaced\nplain line\nINFO:info\nDEBUG: dbg\nCRIT: c\nALERT: a\nerr: lower\n  lead\nlast")
        .unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(
        s.take(10),
        [
            "<19>mytitle: bad thing",
            "<20>mytitle: spaced",
            "<22>mytitle: plain line",
            "<22>mytitle: info",
            "<23>mytitle: dbg",
            "<18>mytitle: c",
            "<17>mytitle: a",
            "<22>mytitle: err: lower",
            "<22>mytitle: lead",
            "<22>mytitle: last",
        ]
    );
}

#[test]
fn program_stderr_with_facility_and_default_name() {
    let s = syslog();
    let st = s
        .cmd()
        .args(["-facility=local3", "/bin/sh", "-c"])
        .arg("echo 'ERR: from child' >&2; echo to-stdout; exit 3")
        .status()
        .unwrap();
    // Courier's logger exits 0 whatever the program did.
    assert_eq!(st.code(), Some(0));
    assert_eq!(s.take(1), ["<155>sh: from child"]);

    let st = s
        .cmd()
        .args(["-name=x", "/nonexistent/prog"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(s.take(1), ["<22>x: exec: No such file or directory"]);
}

const CHILD: &str = r#"trap 'echo "WARN: got HUP" >&2' HUP
trap 'echo "INFO: got TERM" >&2; exit 0' TERM
echo "INFO: started $$" >&2
while true; do sleep 0.1; done"#;

fn pid_alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn daemon_start_restart_stop_with_real_child() {
    let s = syslog();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("d.pid");
    let pidarg = format!("-pid={}", pidfile.display());
    let st = s
        .cmd()
        .args([&pidarg, "-start", "-name=dtest", "/bin/sh", "-c", CHILD])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let started = s.wait_for("started");
    assert!(started.starts_with("<22>dtest: started "), "{started}");
    let daemon_pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(daemon_pid.ends_with('\n'));
    let daemon_pid = daemon_pid.trim().to_string();
    assert!(pid_alive(&daemon_pid));
    assert!(dir.path().join("d.pid.lock").exists());

    // A second instance with the same pid file quietly does nothing.
    let st = s
        .cmd()
        .args([
            &pidarg,
            "-start",
            "-name=dtest",
            "/bin/sh",
            "-c",
            "echo 'ERR: second' >&2",
        ])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        daemon_pid
    );

    let st = s.cmd().args([&pidarg, "-restart"]).status().unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(s.wait_for("got HUP"), "<20>dtest: got HUP");

    let st = s.cmd().args([&pidarg, "-stop"]).status().unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(s.wait_for("got TERM"), "<22>dtest: got TERM");
    // -stop returns once the daemon released its lock.
    let until = Instant::now() + Duration::from_secs(5);
    while pid_alive(&daemon_pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stat = std::fs::read_to_string(format!("/proc/{daemon_pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "daemon still running: {stat}"
    );
    // Stopping again: nothing runs, success.
    let st = s.cmd().args([&pidarg, "-stop"]).status().unwrap();
    assert_eq!(st.code(), Some(0));
}

#[test]
fn stop_kills_a_program_that_ignores_sigterm() {
    let s = syslog();
    let dir = tempfile::tempdir().unwrap();
    let pidarg = format!("-pid={}", dir.path().join("k.pid").display());
    let child = r#"trap '' TERM; echo "INFO: stubborn" >&2; while true; do sleep 0.1; done"#;
    s.cmd()
        .args([&pidarg, "-name=k", "/bin/sh", "-c", child])
        .status()
        .unwrap();
    s.wait_for("stubborn");
    let start = Instant::now();
    let st = s.cmd().args([&pidarg, "-stop"]).status().unwrap();
    assert_eq!(st.code(), Some(0));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(7) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

#[test]
fn respawn_restarts_after_five_seconds() {
    let s = syslog();
    let dir = tempfile::tempdir().unwrap();
    let pidarg = format!("-pid={}", dir.path().join("r.pid").display());
    s.cmd()
        .args([
            &pidarg,
            "-respawn",
            "-name=r",
            "/bin/sh",
            "-c",
            "echo 'INFO: run' >&2",
        ])
        .status()
        .unwrap();
    s.wait_for("run");
    let t = Instant::now();
    s.wait_for("run");
    let gap = t.elapsed();
    assert!(
        gap >= Duration::from_secs(4) && gap < Duration::from_secs(9),
        "{gap:?}"
    );
    s.cmd().args([&pidarg, "-stop"]).status().unwrap();
}

#[test]
fn flood_of_100k_lines_and_a_huge_line_with_bounded_memory() {
    let s = syslog();
    let start = Instant::now();
    let st = s
        .cmd()
        .args(["-name=flood", "/bin/sh", "-c"])
        .arg("head -c 3000000 /dev/zero | tr '\\0' x >&2; echo >&2; i=0; yes 'ERR: flood line' | head -n 100000 >&2")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(start.elapsed() < Duration::from_secs(60));
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    // ru_maxrss is in KiB: the largest child (courierlogger or its program).
    assert!(
        usage.max_rss() < 64 * 1024,
        "max RSS {} KiB",
        usage.max_rss()
    );
    // Everything that arrived is a bounded piece or a flood line or a drop report.
    let mut n = 0;
    while let Ok(m) = s.rx.recv_timeout(Duration::from_millis(500)) {
        assert!(m.len() < 1100, "{}", m.len());
        n += 1;
    }
    assert!(n > 1000, "{n}");
}

#[test]
fn command_line_errors_match_debian() {
    let cases: &[&[&str]] = &[
        &[],
        &["-foo"],
        &["-start"],
        &["-stop"],
        &["-pid=/nonexistent-dir/x.pid"],
        &["-facility=console", "x"],
        &["-facility=security", "x"],
        &["-pid=", "x"],
        &["-name=n", "-pid=/tmp/courierlogger-test-none.pid", "-start"],
    ];
    let debian = Path::new("/usr/sbin/courierlogger").exists();
    if !debian {
        println!("SKIP: Debian's courierlogger is not installed (checking our codes only)");
    }
    for args in cases {
        let ours = Command::new(BIN)
            .args(*args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), Some(1), "{args:?}");
        if debian {
            let theirs = Command::new("/usr/sbin/courierlogger")
                .args(*args)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
            assert_eq!(
                String::from_utf8_lossy(&ours.stderr),
                String::from_utf8_lossy(&theirs.stderr),
                "{args:?}"
            );
        }
    }
}
