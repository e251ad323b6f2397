//! couriertcpd's limits and access rules in front of the real login chain
//! (root only): -maxperip closes the next connection from the same
//! address, -maxprocs holds the next one until a slot frees, the access
//! file (built by the side's makeimapaccess) sets variables or denies, and
//! is re-read after SIGHUP; a bounded connection flood leaves a working
//! server and no process behind.

use e2e::*;
use std::time::{Duration, Instant};

fn greeting(c: &mut Conn) -> Got {
    c.read_line(Duration::from_secs(5))
}

#[test]
fn maxperip_closes_the_next_connection_from_the_same_address() {
    let t = "maxperip_closes_the_next_connection_from_the_same_address";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(
        &fx.imap_spec(&report_env())
            .opt("-maxprocs=10")
            .opt("-maxperip=2"),
    );
    let mut a = srv.connect();
    let mut b = srv.connect();
    assert!(matches!(greeting(&mut a), Got::Line(l) if l.starts_with("* OK")));
    assert!(matches!(greeting(&mut b), Got::Line(l) if l.starts_with("* OK")));
    let mut c = srv.connect();
    assert_eq!(
        greeting(&mut c),
        Got::Eof,
        "third connection from one address"
    );
    assert!(
        srv.wait_log(
            "Maximum connection limit reached for ::ffff:127.0.0.1",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log()
    );
    // When one ends, the address may connect again.
    a.cmd("x LOGOUT");
    let _ = a.rest(Duration::from_secs(5));
    let start = Instant::now();
    let mut ok = false;
    while start.elapsed() < Duration::from_secs(5) && !ok {
        let mut d = srv.connect();
        ok = matches!(greeting(&mut d), Got::Line(l) if l.starts_with("* OK"));
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(ok, "no slot after a connection ended: {}", srv.log());
    drop(b);
}

#[test]
fn maxprocs_holds_the_next_connection_until_a_slot_frees() {
    let t = "maxprocs_holds_the_next_connection_until_a_slot_frees";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(
        &fx.pop3_spec(&report_env())
            .opt("-maxprocs=2")
            .opt("-maxperip=10"),
    );
    let mut a = srv.connect();
    let mut b = srv.connect();
    assert_eq!(greeting(&mut a), Got::Line("+OK Hello there.".into()));
    assert_eq!(greeting(&mut b), Got::Line("+OK Hello there.".into()));
    let mut c = srv.connect();
    assert_eq!(
        c.read_line(Duration::from_secs(2)),
        Got::Timeout,
        "a third connection was served with -maxprocs=2"
    );
    // couriertcpd's own children: one per served connection (each may have
    // helpers of its own below it).
    assert_eq!(
        children_of(srv.pid()).len(),
        2,
        "{:?}",
        srv.connection_processes()
    );
    a.cmd("QUIT");
    assert_eq!(a.line(), "+OK Better luck next time.");
    assert_eq!(
        c.read_line(Duration::from_secs(5)),
        Got::Line("+OK Hello there.".into()),
        "the waiting connection was not served when a slot freed"
    );
    drop(b);
}

/// Writes the access rules, then runs the side's makeimapaccess inside the
/// fixture's namespace (it reads IMAPACCESSFILE from /etc/courier/imapd).
fn build_access(fx: &Fixture, rules: &str) {
    let tool = chain_bin(fx.side, "makeimapaccess");
    let script = format!(
        "set -e\n\
         printf 'IMAPACCESSFILE=/etc/courier/imapaccess\\nPIDFILE=/nonexistent/imapd.pid\\n' > /etc/courier/imapd\n\
         printf 'SSLPIDFILE=/nonexistent/imapd-ssl.pid\\n' > /etc/courier/imapd-ssl\n\
         mkdir -p /etc/courier/imapaccess\n\
         printf '%s' {} > /etc/courier/imapaccess/rules\n\
         {} >/dev/null 2>&1 || true\n\
         test -f /etc/courier/imapaccess.dat\n",
        shell_quote(rules),
        shell_quote(&tool.to_string_lossy())
    );
    let o = fx.auth.sh(&script);
    assert_eq!(o.code, Some(0), "makeimapaccess: {o:?}");
}

#[test]
fn access_file_sets_variables_denies_and_is_reread_after_sighup() {
    let t = "access_file_sets_variables_denies_and_is_reread_after_sighup";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    build_access(
        &fx,
        "127.0.0.1\tallow,FOO=bar,RELAYCLIENT,QUOTED=\"a,b\"\n10\tdeny\n",
    );
    let srv = fx.start(
        &fx.imap_spec(&report_env())
            .opt("-access=/etc/courier/imapaccess.dat"),
    );
    let (_, rest) = imap_login_report(srv.port, "vuser", VUSER_PASSWORD);
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    assert_eq!(r.var("FOO"), "bar");
    assert!(r.env.contains_key("RELAYCLIENT"), "{r:?}");
    assert_eq!(r.var("RELAYCLIENT"), "");
    assert_eq!(r.var("QUOTED"), "a,b");
    // Now deny 127.0.0.1 and tell couriertcpd to re-read the file.
    build_access(&fx, "127\tdeny\n");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let start = Instant::now();
    let mut denied = false;
    while start.elapsed() < Duration::from_secs(5) && !denied {
        let mut c = srv.connect();
        denied = greeting(&mut c) == Got::Eof;
        if !denied {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(
        denied,
        "127.0.0.1 still served after deny + SIGHUP: {}",
        srv.log()
    );
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn access_file_deny_with_denymsg_answers_then_closes() {
    let t = "access_file_deny_with_denymsg_answers_then_closes";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    build_access(&fx, "*\tdeny\n");
    let srv = fx.start(
        &fx.pop3_spec(&report_env())
            .opt("-access=/etc/courier/imapaccess.dat")
            .opt("-denymsg=-ERR Go away"),
    );
    let mut c = srv.connect();
    assert_eq!(
        c.read_line(Duration::from_secs(5)),
        Got::Line("-ERR Go away".into())
    );
    assert_eq!(c.read_line(Duration::from_secs(5)), Got::Eof);
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn connection_flood_is_bounded_and_leaves_a_working_server() {
    let t = "connection_flood_is_bounded_and_leaves_a_working_server";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(
        &fx.imap_spec(&report_env())
            .opt("-maxprocs=8")
            .opt("-maxperip=200"),
    );
    let port = srv.port;
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (peak, stop) = (peak.clone(), stop.clone());
        let pid = srv.pid();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // couriertcpd's direct children: one per connection.
                let n = children_of(pid).len();
                peak.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // 16 threads x 10 connections: connect, read the greeting, LOGOUT or drop.
    let start = Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let mut served = 0;
                for j in 0..10 {
                    let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    let mut c = Conn::from_stream(s);
                    if let Got::Line(_) = c.read_line(Duration::from_secs(20)) {
                        served += 1;
                    }
                    if (i + j) % 2 == 0 {
                        c.cmd("z LOGOUT");
                        let _ = c.rest(Duration::from_secs(5));
                    }
                }
                served
            })
        })
        .collect();
    let served: usize = threads.into_iter().map(|h| h.join().unwrap()).sum();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(served, 160, "every connection is served in turn");
    assert!(
        peak.load(std::sync::atomic::Ordering::Relaxed) <= 8,
        "more than -maxprocs=8 children at once: {}",
        peak.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(
        srv.wait_idle(Duration::from_secs(15)),
        "{:?}",
        srv.root_processes()
    );
    let (_, rest) = imap_login_report(srv.port, "vuser", VUSER_PASSWORD);
    Report::parse(&rest)
        .unwrap_or_else(|| panic!("server unusable after the flood: {rest}"))
        .assert_identity(fx.uid, fx.gid, &[fx.gid]);
}
