//! couriertcpd over real loopback sockets: the child's environment, limits, the access
//! file, -haproxy, signals, -pid/-stop, and a bounded connection flood.

mod common;

use common::*;
use courier_net::proxy::{Header, encode_v1, encode_v2};
use nix::sys::signal::Signal;
use std::process::Command;
use std::time::{Duration, Instant};

const QUIET: &[&str] = &["-nodnslookup", "-noidentlookup"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    QUIET.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn refusals_print_courier_texts_and_exit_1() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage: {0} [options] port prog arg1 arg2...\n"),
        (&["143"], "Usage: {0} [options] port prog arg1 arg2...\n"),
        (&["-restrict", "1", "2"], "{0}: Invalid option: -restrict\n"),
        (&["-stop"], "{0}: -pid argument is required.\n"),
        (&["-maxprocs=0", "1", "p"], "Invalid -maxprocsarg option.\n"),
        (&["-maxperip=x", "1", "p"], "Invalid -maxperip option.\n"),
        (
            &["-listen=0", "127.0.0.1.1", "/bin/true"],
            "Invalid -listen option.\n",
        ),
        (
            &["-address=127.0.0.1", "99999", "/bin/true"],
            "Invalid port: 99999\n",
        ),
    ];
    for (words, want) in cases {
        let o = Command::new(OURS).args(*words).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{words:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            want.replace("{0}", OURS),
            "{words:?}"
        );
    }
}

#[test]
fn child_environment_ipv4_on_ipv4_listener() {
    let d = Daemon::start(
        OURS,
        &args(&["-address=127.0.0.1"]),
        &["{port}", "/usr/bin/env"],
    );
    let s = d.connect();
    let local_port = s.peer_addr().unwrap().port();
    let peer_port = s.local_addr().unwrap().port();
    let env = env_lines(&read_all(&s));
    assert_eq!(
        env,
        vec![
            "PATH=/usr/bin:/bin".to_string(),
            format!("TCPLOCALIP=::ffff:127.0.0.1"),
            format!("TCPLOCALPORT={local_port}"),
            format!("TCPREMOTEIP=::ffff:127.0.0.1"),
            format!("TCPREMOTEPORT={peer_port}"),
        ]
    );
}

#[test]
fn child_environment_ipv6_on_the_wildcard_listener() {
    let d = Daemon::start(OURS, QUIET, &["{port}", "/usr/bin/env"]);
    let Ok(s) = std::net::TcpStream::connect(("::1", d.port)) else {
        eprintln!("SKIP: no IPv6 loopback");
        return;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let env = read_all(&s);
    assert!(env.contains("TCPREMOTEIP=::1\n"), "{env}");
    assert!(env.contains("TCPLOCALIP=::1\n"), "{env}");
    // IPv4 on the dual-stack socket: mapped.
    let env = read_all(&d.connect());
    assert!(env.contains("TCPREMOTEIP=::ffff:127.0.0.1\n"), "{env}");
}

#[test]
fn program_gets_default_signals_and_stderr_socket() {
    let d = Daemon::start(
        OURS,
        &args(&["-stderr=socket"]),
        &[
            "{port}",
            "/bin/sh",
            "-c",
            "grep -E '^Sig(Blk|Ign)' /proc/self/status; echo oops >&2",
        ],
    );
    let out = read_all(&d.connect());
    // Blocked for the daemon's signalfd, but nothing blocked or ignored in the program
    // (SIGPIPE in particular, which Rust ignores by default).
    assert!(out.contains("SigBlk:\t0000000000000000\n"), "{out}");
    let ignored = out
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t"))
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap();
    // Standard signals only (glibc's internal real-time ones come from the test runner).
    assert_eq!(ignored & 0x7fff_ffff, 0, "{out}");
    assert!(out.contains("oops\n"), "{out}");
}

#[test]
fn maxperip_closes_the_excess_connection_with_an_alert() {
    let d = Daemon::start(
        OURS,
        &args(&["-maxperip=2"]),
        &["{port}", "/bin/sh", "-c", "echo hi; read x"],
    );
    let a = d.connect();
    assert_eq!(read_line(&a), "hi");
    let b = d.connect();
    assert_eq!(read_line(&b), "hi");
    let c = d.connect();
    assert_eq!(read_all(&c), "");
    let log = d.wait_log("ALERT: Maximum connection limit reached for ::ffff:127.0.0.1\n");
    assert!(
        log.contains("ALERT: Maximum connection limit reached for ::ffff:127.0.0.1\n"),
        "{log}"
    );
    // Another address is not affected.
    let other = d.connect_from([127, 0, 0, 2]);
    assert_eq!(read_line(&other), "hi");
    drop((a, b, other));
}

#[test]
fn maxprocs_holds_the_next_connection_until_a_slot_frees() {
    let d = Daemon::start(
        OURS,
        &args(&["-maxprocs=2", "-maxperip=10"]),
        &["{port}", "/bin/sh", "-c", "echo hi; read x"],
    );
    let a = d.connect();
    assert_eq!(read_line(&a), "hi");
    let b = d.connect();
    assert_eq!(read_line(&b), "hi");
    let c = d.connect();
    c.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    assert_eq!(
        read_line(&c),
        "",
        "third connection served while two slots are busy"
    );
    let log = d.wait_log("ALERT: 2 maximum active connections.\n");
    assert!(
        log.contains("ALERT: 2 maximum active connections.\n"),
        "{log}"
    );
    send(&a, b"bye\n");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_line(&c), "hi");
    drop(b);
}

#[test]
fn access_file_denies_with_denymsg_and_exports_variables() {
    let dir = tempfile::tempdir().unwrap();
    let dat = access_db(
        dir.path(),
        "127.0.0.1\tallow,FOO=bar,RELAYCLIENT,QUOTED=\"a,b\"\n\
         127.0.0.2\tdeny\n\
         127.0.0\tallow,CBLOCK=1\n\
         127.0.0.8/29\tallow,RANGE=1\n",
    );
    let access = format!("-access={}", dat.display());
    let d = Daemon::start(
        OURS,
        &args(&[&access, "-denymsg=Go away"]),
        &["{port}", "/usr/bin/env"],
    );
    let env = read_all(&d.connect_from([127, 0, 0, 1]));
    for want in ["FOO=bar\n", "RELAYCLIENT=\n", "QUOTED=a,b\n"] {
        assert!(env.contains(want), "{want} in {env}");
    }
    assert_eq!(read_all(&d.connect_from([127, 0, 0, 2])), "Go away\n");
    assert!(read_all(&d.connect_from([127, 0, 0, 3])).contains("CBLOCK=1\n"));
    assert!(read_all(&d.connect_from([127, 0, 0, 12])).contains("RANGE=1\n"));
    let log = d.wait_log("denied");
    assert!(log.contains("ip=[::ffff:127.0.0.2]"), "{log}");
}

#[test]
fn access_deny_without_denymsg_closes_silently_and_sighup_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let dat = access_db(dir.path(), "*\tdeny\n");
    let access = format!("-access={}", dat.display());
    let d = Daemon::start(OURS, &args(&[&access]), &["{port}", "/bin/echo", "served"]);
    assert_eq!(read_all(&d.connect()), "");
    access_db(dir.path(), "*\tallow,RELOADED=1\n");
    d.signal(Signal::SIGHUP);
    // The re-open happens before the next connection's lookup.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(read_all(&d.connect()), "served\n");
}

#[test]
fn maxcperip_from_the_access_file_overrides_maxperip() {
    let dir = tempfile::tempdir().unwrap();
    let dat = access_db(dir.path(), "127.0.0.1\tallow,MAXCPERIP=1\n");
    let access = format!("-access={}", dat.display());
    let d = Daemon::start(
        OURS,
        &args(&[&access, "-maxperip=5"]),
        &["{port}", "/bin/sh", "-c", "echo hi; read x"],
    );
    let a = d.connect();
    assert_eq!(read_line(&a), "hi");
    assert_eq!(read_all(&d.connect()), "");
    assert_eq!(read_line(&d.connect_from([127, 0, 0, 2])), "hi");
}

const SHOW: &str = "echo $TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT; head -c 5";

#[test]
fn haproxy_v1_and_v2_headers_set_the_peer_and_keep_the_first_bytes() {
    let d = Daemon::start(
        OURS,
        &args(&["-haproxy"]),
        &["{port}", "/bin/sh", "-c", SHOW],
    );
    let h4 = Header::Proxied {
        source: "192.0.2.7:40000".parse().unwrap(),
        destination: "198.51.100.1:143".parse().unwrap(),
    };
    let h6 = Header::Proxied {
        source: "[2001:db8::7]:40001".parse().unwrap(),
        destination: "[2001:db8::1]:993".parse().unwrap(),
    };
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            encode_v1(&h4),
            "::ffff:192.0.2.7 40000 ::ffff:198.51.100.1 143".into(),
        ),
        (
            encode_v2(&h4, b"\x04\x00\x01x"),
            "::ffff:192.0.2.7 40000 ::ffff:198.51.100.1 143".into(),
        ),
        (encode_v1(&h6), "2001:db8::7 40001 2001:db8::1 993".into()),
        (
            encode_v2(&h6, b""),
            "2001:db8::7 40001 2001:db8::1 993".into(),
        ),
    ];
    for (header, want) in cases {
        let s = d.connect();
        let mut bytes = header.clone();
        bytes.extend_from_slice(b"hello");
        send(&s, &bytes);
        let out = read_all(&s);
        assert_eq!(out, format!("{want}\nhello"), "{header:?}");
    }
    // Sent in two pieces, the second after a pause: still one header.
    let s = d.connect();
    let bytes = encode_v1(&h4);
    send(&s, &bytes[..10]);
    std::thread::sleep(Duration::from_millis(200));
    send(&s, &bytes[10..]);
    send(&s, b"world");
    assert!(read_all(&s).starts_with("::ffff:192.0.2.7 40000"));
    // LOCAL (a health check): the socket's own addresses.
    let s = d.connect();
    send(&s, &encode_v2(&Header::Local, b""));
    send(&s, b"12345");
    let out = read_all(&s);
    assert!(out.starts_with("::ffff:127.0.0.1 "), "{out}");
}

#[test]
fn haproxy_limits_and_access_apply_to_the_proxied_source() {
    let dir = tempfile::tempdir().unwrap();
    let dat = access_db(dir.path(), "192.0.2.66\tdeny\n192.0.2\tallow,NET=doc\n");
    let access = format!("-access={}", dat.display());
    let d = Daemon::start(
        OURS,
        &args(&["-haproxy", &access, "-denymsg=no", "-maxperip=1"]),
        &["{port}", "/bin/sh", "-c", "echo $NET; read x"],
    );
    let from = |ip: &str| {
        let s = d.connect();
        let h = Header::Proxied {
            source: format!("{ip}:1000").parse().unwrap(),
            destination: "127.0.0.1:143".parse().unwrap(),
        };
        send(&s, &encode_v1(&h));
        s
    };
    assert_eq!(read_all(&from("192.0.2.66")), "no\n");
    let a = from("192.0.2.5");
    assert_eq!(read_line(&a), "doc");
    // Same proxy, same real client: over the per-IP limit.
    assert_eq!(read_all(&from("192.0.2.5")), "");
    let log = d.wait_log("limit reached for ::ffff:192.0.2.5");
    assert!(
        log.contains("ALERT: Maximum connection limit reached for ::ffff:192.0.2.5\n"),
        "{log}"
    );
    // A different real client through the same proxy still gets in.
    assert_eq!(read_line(&from("192.0.2.6")), "doc");
    drop(a);
}

#[test]
fn haproxy_garbage_or_silence_closes_with_a_log_line() {
    let d = Daemon::start(
        OURS,
        &args(&["-haproxy=1"]),
        &["{port}", "/bin/echo", "served"],
    );
    let s = d.connect();
    send(&s, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(read_all(&s), "");
    let s = d.connect();
    send(&s, b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n");
    assert_eq!(read_all(&s), "");
    let s = d.connect();
    let started = Instant::now();
    assert_eq!(read_all(&s), "");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let log = d.wait_log("timeout");
    assert!(
        log.contains(
            "WARN: bad PROXY header, ip=[::ffff:127.0.0.1], error=[not a PROXY protocol header]"
        ),
        "{log}"
    );
    assert!(
        log.contains("error=[malformed PROXY v1 header: bad port]"),
        "{log}"
    );
    assert!(
        log.contains("WARN: PROXY header timeout, ip=[::ffff:127.0.0.1]"),
        "{log}"
    );
    // Still serving.
    let s = d.connect();
    send(&s, &encode_v1(&Header::Local));
    assert_eq!(read_all(&s), "served\n");
}

#[test]
fn sigterm_stops_the_daemon_and_its_children() {
    let mut d = Daemon::start(
        OURS,
        QUIET,
        &["{port}", "/bin/sh", "-c", "echo $$; exec sleep 30"],
    );
    let a = d.connect();
    let child: i32 = read_line(&a).trim().parse().unwrap();
    assert!(proc_state(child).is_some());
    d.signal(Signal::SIGTERM);
    let st = d
        .wait_exit(Duration::from_secs(5))
        .expect("daemon still running");
    assert_eq!(st.code(), Some(0));
    let until = Instant::now() + Duration::from_secs(5);
    while proc_state(child).is_some_and(|s| s != 'Z') && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        proc_state(child).is_none_or(|s| s == 'Z'),
        "child {child} survived"
    );
}

#[test]
fn pid_file_daemon_stop_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("tcpd.pid");
    let pid_arg = format!("-pid={}", pid_file.display());
    let port = free_port().to_string();
    let start = || {
        Command::new(OURS)
            .args([
                &pid_arg,
                "-nodnslookup",
                "-noidentlookup",
                "-address=127.0.0.1",
            ])
            .args([&port, "/bin/echo", "served"])
            .output()
            .unwrap()
    };
    let o = start();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let pid: i32 = text.trim_end().parse().unwrap();
    assert_eq!(text, format!("{pid}\n"));
    assert!(dir.path().join("tcpd.pid.lock").exists());
    let s = connect(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        port.parse().unwrap(),
    )));
    assert_eq!(read_all(&s), "served\n");
    // A second start with the same pid file quietly succeeds and changes nothing.
    assert_eq!(start().status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), text);
    let restart = Command::new(OURS)
        .args([&pid_arg, "-restart"])
        .output()
        .unwrap();
    assert_eq!(restart.status.code(), Some(0));
    assert_eq!(
        proc_state(pid).map(|s| s != 'Z'),
        Some(true),
        "SIGHUP killed the daemon"
    );
    let stop = Command::new(OURS)
        .args([&pid_arg, "-stop"])
        .output()
        .unwrap();
    assert_eq!(stop.status.code(), Some(0));
    assert!(proc_state(pid).is_none_or(|s| s == 'Z'));
    // Nothing running: -stop and -restart are quiet no-ops.
    for word in ["-stop", "-restart"] {
        let o = Command::new(OURS).args([&pid_arg, word]).output().unwrap();
        assert_eq!((o.status.code(), o.stderr.len()), (Some(0), 0));
    }
}

#[test]
fn connection_flood_leaves_no_zombies_and_keeps_serving() {
    let d = Daemon::start(
        OURS,
        &args(&["-maxprocs=20", "-maxperip=20"]),
        &["{port}", "/bin/echo", "ok"],
    );
    // 200 connections, at most 20 open at once, half of them closed without reading.
    for round in 0..10 {
        let batch: Vec<_> = (0..20).map(|_| d.connect()).collect();
        for (i, s) in batch.iter().enumerate() {
            if (i + round) % 2 == 0 {
                assert_eq!(read_all(s), "ok\n");
            }
        }
    }
    assert_eq!(read_all(&d.connect()), "ok\n");
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let kids = children_of(d.pid());
        if kids.is_empty() {
            break;
        }
        assert!(Instant::now() < until, "children left: {kids:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
