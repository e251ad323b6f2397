//! Bad input through the whole chain (root only): oversized lines, NUL
//! bytes, bad base64, a client that never speaks, TLS handshakes of
//! garbage. Each gets Courier's answer or a clean close, never a session;
//! afterwards no process is left for the connection, and none runs as root.

use e2e::*;
use std::io::Write;
use std::time::{Duration, Instant};

/// After the client is gone: nothing left below couriertcpd (in particular
/// nothing running as root), within `secs`.
fn assert_cleaned_up(srv: &ChainServer, secs: u64) {
    assert!(
        srv.wait_idle(Duration::from_secs(secs)),
        "processes left for closed connections: {:?}\nlog:\n{}",
        srv.root_processes(),
        srv.log()
    );
}

#[test]
fn imap_100k_login_line_is_refused_without_a_session() {
    let t = "imap_100k_login_line_is_refused_without_a_session";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()));
    let mut c = srv.connect();
    c.line();
    let mut line = b"a LOGIN ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 100_000));
    line.extend_from_slice(format!(" {VUSER_PASSWORD}\r\n").as_bytes());
    c.send(&line);
    let first = c.line();
    assert!(
        first.starts_with("* BYE ") || first.starts_with("a NO ") || first.starts_with("a BAD "),
        "{first}"
    );
    let (rest, _) = c.rest(Duration::from_secs(3));
    assert!(Report::parse(&rest).is_none(), "a session: {rest}");
    drop(c);
    assert_cleaned_up(&srv, 10);
    // The same with a 100 KB tag (no command at all).
    let mut c = srv.connect();
    c.line();
    let mut line = vec![b'T'; 100_000];
    line.extend_from_slice(b" NOOP\r\n");
    c.send(&line);
    let first = c.line();
    assert!(
        first.starts_with("* BYE ") || first.contains(" NO ") || first.contains(" BAD "),
        "{first}"
    );
    drop(c);
    assert_cleaned_up(&srv, 10);
}

#[test]
fn imap_nul_bytes_and_bad_base64_fail_the_login_and_keep_the_connection() {
    let t = "imap_nul_bytes_and_bad_base64_fail_the_login_and_keep_the_connection";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()));
    // The right password, but a NUL inside the user name: not "vuser".
    let mut c = srv.connect();
    c.line();
    c.send(format!("a LOGIN vu\0ser {VUSER_PASSWORD}\r\nb NOOP\r\n").as_bytes());
    assert_eq!(c.line(), "a NO Login failed.");
    assert_eq!(c.line(), "b OK NOOP completed");
    // AUTHENTICATE PLAIN with a continuation that is not base64.
    c.cmd("c AUTHENTICATE PLAIN");
    assert_eq!(c.line(), "+ ");
    c.cmd("!!!not*base64!!!");
    assert_eq!(c.line(), "c NO Login failed.");
    // ... and as an initial response.
    c.cmd("d AUTHENTICATE PLAIN ###");
    assert_eq!(c.line(), "d NO Login failed.");
    // Valid base64 of garbage (no NULs): still no session.
    c.cmd("e AUTHENTICATE PLAIN Z2FyYmFnZQ==");
    let l = c.line();
    assert!(l.starts_with("e NO "), "{l}");
    c.cmd("f LOGOUT");
    let (rest, eof) = c.rest(Duration::from_secs(10));
    assert!(eof, "{rest}");
    assert!(Report::parse(&rest).is_none(), "{rest}");
    assert!(rest.contains("f OK LOGOUT completed"), "{rest}");
    assert_cleaned_up(&srv, 10);
}

#[test]
fn pop3_oversized_nul_and_bad_base64_never_log_in() {
    let t = "pop3_oversized_nul_and_bad_base64_never_log_in";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.pop3_spec(&report_env()));
    // 100 KB user name: refused or swallowed, the connection still answers.
    let mut c = srv.connect();
    c.line();
    let mut line = b"USER ".to_vec();
    line.extend(std::iter::repeat_n(b'u', 100_000));
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    c.cmd("QUIT");
    let (rest, eof) = c.rest(Duration::from_secs(20));
    assert!(eof, "{rest}");
    assert!(Report::parse(&rest).is_none(), "{rest}");
    // Courier: the name is too long for an authdaemond request, a temporary
    // error that ends the connection.
    assert!(
        rest.contains("\n-ERR ") && !rest.contains("logged in"),
        "{rest}"
    );
    // NUL bytes in USER and PASS.
    let mut c = srv.connect();
    c.line();
    c.send(format!("USER vu\0ser\r\nPASS {VUSER_PASSWORD}\r\nQUIT\r\n").as_bytes());
    let (rest, eof) = c.rest(Duration::from_secs(20));
    assert!(eof, "{rest}");
    assert!(Report::parse(&rest).is_none(), "{rest}");
    assert!(rest.ends_with("+OK Better luck next time.\n"), "{rest}");
    // AUTH PLAIN with bad base64.
    let mut c = srv.connect();
    c.line();
    c.cmd("AUTH PLAIN");
    assert_eq!(c.line(), "+ ");
    c.cmd("!!!");
    let l = c.line();
    assert!(l.starts_with("-ERR "), "{l}");
    c.cmd("QUIT");
    assert_eq!(c.line(), "+OK Better luck next time.");
    assert_cleaned_up(&srv, 10);
}

#[test]
fn tls_handshake_of_garbage_is_closed_and_logged() {
    let t = "tls_handshake_of_garbage_is_closed_and_logged";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imaps_spec(&report_env()));
    let before = srv.log().lines().count();
    for garbage in [
        b"a LOGIN vuser vsecret\r\n".to_vec(),
        (0..2048u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
        // A TLS record header announcing 16 KB, then nothing more.
        vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01],
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        let _ = s.write_all(&garbage);
        if garbage.len() == 6 {
            // Half a handshake: the client goes away.
            drop(s);
            continue;
        }
        let mut c = Conn::from_stream(s);
        let (rest, eof) = c.rest(Duration::from_secs(15));
        assert!(eof, "not closed after garbage: {rest:?}");
        assert!(
            !rest.contains("OK"),
            "plaintext answer to garbage: {rest:?}"
        );
    }
    assert_cleaned_up(&srv, 15);
    let log = srv.log();
    assert!(
        log.lines().count() > before,
        "no log line for failed handshakes: {log}"
    );
    // STARTTLS, then garbage instead of a handshake.
    let plain = fx.start(&fx.imap_spec(&report_env()));
    let mut c = plain.connect();
    c.line();
    c.cmd("s STARTTLS");
    assert_eq!(c.line(), "s OK Begin SSL/TLS negotiation now.");
    c.send(b"this is not TLS\r\na LOGIN vuser vsecret\r\n");
    let (rest, _) = c.rest(Duration::from_secs(15));
    // Courier answers "s NO STARTTLS failed: <reason>" in clear and goes on
    // in clear; what follows must not be taken for an encrypted session.
    assert!(rest.contains("s NO STARTTLS failed: "), "{rest:?}");
    if let Some(r) = Report::parse(&rest) {
        assert_ne!(r.var("IMAP_TLS"), "1", "a clear session marked TLS: {r:?}");
        assert!(r.var("TLS_CONNECTED_PROTOCOL").is_empty(), "{r:?}");
    }
    drop(c);
    assert_cleaned_up(&plain, 15);
}

#[test]
fn slow_silent_client_is_dropped_by_the_preauth_timeout() {
    let t = "slow_silent_client_is_dropped_by_the_preauth_timeout";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()));
    let pop = fx.start(&fx.pop3_spec(&report_env()));
    let start = Instant::now();
    let mut c = srv.connect();
    let mut p = pop.connect();
    c.line();
    p.line();
    // Courier allows 60 s for the whole pre-authentication phase.
    let (a, eof_a) = c.rest(Duration::from_secs(75));
    let took_a = start.elapsed();
    let (b, eof_b) = p.rest(Duration::from_secs(75).saturating_sub(start.elapsed()));
    let took_b = start.elapsed();
    assert!(eof_a && eof_b, "not dropped: {a:?} {b:?}");
    for took in [took_a, took_b] {
        assert!(
            took >= Duration::from_secs(45) && took <= Duration::from_secs(70),
            "dropped after {took:?}"
        );
    }
    assert!(!a.contains("OK") && !b.contains("OK"), "{a:?} {b:?}");
    assert_cleaned_up(&srv, 5);
    assert_cleaned_up(&pop, 5);
}
