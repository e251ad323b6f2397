//! The whole IMAP login chain over real sockets: couriertcpd → imaplogin →
//! authdaemond → exec, in clear, with STARTTLS and as IMAPS through
//! `couriertls -server -tcpd`. The per-user program is report-env (which
//! prints its identity and environment), or Debian's imapd for real sessions
//! with Python's imaplib and curl.
//!
//! Root only (authdaemond runs in a private mount namespace, accounts get
//! their own uid). `E2E_CHAIN_ORACLE=1` runs the same tests against Debian's
//! programs.

use e2e::*;
use std::time::{Duration, Instant};

const IMAPD: &str = "/usr/bin/imapd";

#[test]
fn imap_login_execs_the_session_as_the_account_with_courier_environment() {
    let t = "imap_login_execs_the_session_as_the_account_with_courier_environment";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()));
    let (greeting, rest) = imap_login_report(srv.port, "vuser", VUSER_PASSWORD);
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE")
            && greeting.contains(" STARTTLS ")
            && greeting.ends_with("] Courier-IMAP ready. Copyright 1998-2019 Double Precision, Inc.  See COPYING for distribution information."),
        "{greeting}"
    );
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("no session after LOGIN: {rest}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.cwd, fx.home.to_string_lossy(), "{r:?}");
    assert_eq!(r.args, vec!["Maildir".to_string()], "{r:?}");
    assert_eq!(r.var("AUTHENTICATED"), "vuser");
    assert_eq!(r.var("IMAPLOGINTAG"), "a");
    assert_eq!(r.var("PROTOCOL"), "IMAP");
    assert!(r.env.contains_key("OPTIONS"), "{r:?}");
    assert_eq!(r.var("TCPREMOTEIP"), "::ffff:127.0.0.1");
    assert_eq!(r.var("TCPLOCALPORT"), srv.port.to_string());
    assert!(r.var("TCPREMOTEPORT").parse::<u16>().is_ok(), "{r:?}");
    // The configuration reaches the session unchanged.
    assert_eq!(r.var("IMAP_EMPTYTRASH"), "Trash:7");
    assert_eq!(r.var("MAILDIRPATH"), "Maildir");
    // No password anywhere in the environment handed over.
    assert!(!r.env.values().any(|v| v.contains(VUSER_PASSWORD)), "{r:?}");
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn imap_wrong_password_is_refused_after_a_delay_and_logged() {
    let t = "imap_wrong_password_is_refused_after_a_delay_and_logged";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()));
    let mut c = srv.connect();
    c.line();
    let start = Instant::now();
    c.cmd("a1 LOGIN vuser wrong");
    assert_eq!(c.line(), "a1 NO Login failed.");
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "refused after {:?}: no delay against guessing",
        start.elapsed()
    );
    // The connection stays usable.
    c.cmd("a2 NOOP");
    assert_eq!(c.line(), "a2 OK NOOP completed");
    c.cmd("a3 LOGOUT");
    assert_eq!(c.line(), "* BYE Courier-IMAP server shutting down");
    assert_eq!(c.line(), "a3 OK LOGOUT completed");
    assert!(
        srv.wait_log(
            "LOGIN FAILED, user=vuser, ip=[::ffff:127.0.0.1]",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log()
    );
    assert!(
        !srv.log().contains("wrong"),
        "password logged: {}",
        srv.log()
    );
}

#[test]
fn imap_session_works_with_imaplib_and_curl() {
    let t = "imap_session_works_with_imaplib_and_curl";
    if !chain_prereqs(t) || !debian_installed(t, &["imapd"]) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("hello-imaplib");
    let srv = fx.start(&fx.imap_spec(std::path::Path::new(IMAPD)));
    let out = py(
        r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
print(m.login("vuser", sys.argv[2]))
typ, n = m.select("INBOX")
print("EXISTS", n[0].decode())
typ, d = m.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
print(d[0][1].decode().strip())
print(m.logout()[0])
"#,
        &[&srv.port.to_string(), VUSER_PASSWORD],
    );
    assert!(out.contains("('OK', [b'LOGIN Ok.'])"), "{out}");
    assert!(out.contains("EXISTS 1"), "{out}");
    assert!(out.contains("Subject: hello-imaplib"), "{out}");
    assert!(out.contains("BYE"), "{out}");
    let curl = Run::new(std::path::Path::new("/usr/bin/curl"), "curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            &format!(
                "imap://vuser:{VUSER_PASSWORD}@127.0.0.1:{}/INBOX;UID=1",
                srv.port
            ),
        ])
        .run();
    assert_eq!(curl.code, Some(0), "{curl:?}");
    assert!(curl.stdout.contains("Body of hello-imaplib."), "{curl:?}");
    assert!(
        srv.wait_log("INFO: LOGIN, user=vuser", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn imap_starttls_then_login_hands_tls_state_to_the_session() {
    let t = "imap_starttls_then_login_hands_tls_state_to_the_session";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()));
    let out = py_dialogue(
        srv.port,
        false,
        None,
        &[
            Step::Read,
            Step::Send("s1 STARTTLS".into()),
            Step::Read,
            Step::Tls(Some("localhost".into())),
            Step::Send("s2 CAPABILITY".into()),
            Step::Read,
            Step::Read,
            Step::Send(format!("s3 LOGIN vuser {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    assert!(
        out.contains("S: s1 OK Begin SSL/TLS negotiation now."),
        "{out}"
    );
    assert!(
        out.contains(&format!("CERT: {}", cert_sha256(&fx.cert))),
        "{out}"
    );
    // After STARTTLS: the TLS capability list, no second STARTTLS.
    let caps = out
        .lines()
        .find(|l| l.starts_with("S: * CAPABILITY"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(caps.contains(" AUTH=PLAIN"), "{caps}");
    assert!(!caps.contains("STARTTLS"), "{caps}");
    assert!(out.contains("S: s2 OK CAPABILITY completed"), "{out}");
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("IMAP_TLS"), "1", "{r:?}");
    assert_eq!(r.var("IMAP_STARTTLS"), "NO", "{r:?}");
    assert_eq!(r.var("IMAP_TLS_REQUIRED"), "0", "{r:?}");
    assert_eq!(r.var("IMAPLOGINTAG"), "s3");
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn imaps_through_couriertls_tcpd_logs_in_over_tls() {
    let t = "imaps_through_couriertls_tcpd_logs_in_over_tls";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imaps_spec(&report_env()));
    let out = py_dialogue(
        srv.port,
        true,
        Some("localhost"),
        &[
            Step::Read,
            Step::Send(format!("x LOGIN vuser {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    assert!(
        out.contains(&format!("CERT: {}", cert_sha256(&fx.cert))),
        "{out}"
    );
    let greeting = out
        .lines()
        .find(|l| l.starts_with("S: * OK [CAPABILITY"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(greeting.contains(" AUTH=PLAIN"), "{greeting}");
    assert!(!greeting.contains("STARTTLS"), "{greeting}");
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("IMAP_TLS"), "1");
    assert!(
        r.var("TLS_CONNECTED_PROTOCOL").starts_with("TLS1."),
        "{r:?}"
    );
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn imaps_session_works_with_imaplib_and_curl() {
    let t = "imaps_session_works_with_imaplib_and_curl";
    if !chain_prereqs(t) || !debian_installed(t, &["imapd"]) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("hello-imaps");
    let srv = fx.start(&fx.imaps_spec(std::path::Path::new(IMAPD)));
    let out = py(
        r#"
import imaplib, ssl, sys
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=c)
print(m.login("vuser", sys.argv[2]))
print("EXISTS", m.select("INBOX")[1][0].decode())
print(m.logout()[0])
"#,
        &[&srv.port.to_string(), VUSER_PASSWORD],
    );
    assert!(out.contains("LOGIN Ok."), "{out}");
    assert!(out.contains("EXISTS 1"), "{out}");
    let curl = Run::new(std::path::Path::new("/usr/bin/curl"), "curl")
        .args([
            "-sSk",
            "--max-time",
            "20",
            &format!(
                "imaps://vuser:{VUSER_PASSWORD}@127.0.0.1:{}/INBOX;UID=1",
                srv.port
            ),
        ])
        .run();
    assert_eq!(curl.code, Some(0), "{curl:?}");
    assert!(curl.stdout.contains("Body of hello-imaps."), "{curl:?}");
    // STARTTLS on the plain port with imaplib too.
    let plain = fx.start(&fx.imap_spec(std::path::Path::new(IMAPD)));
    let out = py(
        r#"
import imaplib, ssl, sys
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
print(m.starttls(ssl_context=c))
print(m.login("vuser", sys.argv[2]))
print(m.logout()[0])
"#,
        &[&plain.port.to_string(), VUSER_PASSWORD],
    );
    assert!(out.starts_with("('OK'"), "STARTTLS: {out}");
    assert!(out.contains("LOGIN Ok."), "{out}");
    assert!(
        plain.wait_log("starttls=1", Duration::from_secs(5)),
        "{}",
        plain.log()
    );
}

#[test]
fn imap_tls_required_refuses_login_in_clear_until_starttls() {
    let t = "imap_tls_required_refuses_login_in_clear_until_starttls";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()).env("IMAP_TLS_REQUIRED", "1"));
    let mut c = srv.connect();
    let greeting = c.line();
    assert!(greeting.contains(" STARTTLS LOGINDISABLED "), "{greeting}");
    c.cmd(&format!("a LOGIN vuser {VUSER_PASSWORD}"));
    assert_eq!(c.line(), "a NO STARTTLS required");
    c.cmd("b AUTHENTICATE PLAIN");
    assert_eq!(c.line(), "b NO STARTTLS required");
    c.cmd("c LOGOUT");
    c.until("c ");
    // After STARTTLS the same login goes through.
    let out = py_dialogue(
        srv.port,
        false,
        None,
        &[
            Step::Read,
            Step::Send("s1 STARTTLS".into()),
            Step::Read,
            Step::Tls(None),
            Step::Send(format!("s2 LOGIN vuser {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("IMAP_TLS_REQUIRED"), "0", "{r:?}");
}

#[test]
fn imap_sni_picks_the_certificate_by_name_then_by_local_address() {
    let t = "imap_sni_picks_the_certificate_by_name_then_by_local_address";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let dir = fx.dir.join("sni");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let base = make_cert(&dir.join("cert"), "default.test");
    let by_name = make_cert(&dir.join("cert.pem.example.com"), "example.com");
    let by_ip = make_cert(&dir.join("cert.pem.127.0.0.1"), "127.0.0.1");
    // make_cert appends .pem: rename to the exact names couriertls looks up.
    let named = dir.join("cert.pem.example.com");
    std::fs::rename(&by_name, &named).unwrap();
    let ip = dir.join("cert.pem.127.0.0.1");
    std::fs::rename(&by_ip, &ip).unwrap();
    for p in [&base, &named, &ip] {
        Fixture::share_with_courier(p);
    }
    let srv = fx.start(&fx.imaps_spec(&report_env()).env("TLS_CERTFILE", &base));
    let cert_for = |sni: Option<&str>| -> String {
        let out = py_dialogue(srv.port, true, sni, &[Step::Read]);
        out.lines()
            .find_map(|l| l.strip_prefix("CERT: "))
            .unwrap_or_else(|| panic!("sni {sni:?}: {out}"))
            .to_string()
    };
    let (name_fp, ip_fp) = (cert_sha256(&named), cert_sha256(&ip));
    assert_eq!(cert_for(Some("mail.example.com")), name_fp, "parent domain");
    assert_eq!(cert_for(Some("example.com")), name_fp, "exact name");
    assert_eq!(
        cert_for(Some("other.org")),
        ip_fp,
        "unknown name: by address"
    );
    assert_eq!(cert_for(None), ip_fp, "no SNI: by address");
    // Without the per-address file, the base certificate answers.
    std::fs::remove_file(&ip).unwrap();
    assert_eq!(cert_for(Some("other.org")), cert_sha256(&base));
}
