//! The whole POP3 login chain over real sockets: couriertcpd →
//! courierpop3login → authdaemond → exec, in clear, with STLS and on the
//! TLS port through `couriertls -server -tcpd`. The per-user program is
//! report-env, or Debian's courierpop3d for real sessions with Python's
//! poplib and curl. Root only; `E2E_CHAIN_ORACLE=1` runs against Debian's
//! programs.

use e2e::*;
use std::path::Path;
use std::time::{Duration, Instant};

const POP3D: &str = "/usr/lib/courier/courier/courierpop3d";

#[test]
fn pop3_login_execs_the_session_as_the_account() {
    let t = "pop3_login_execs_the_session_as_the_account";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.pop3_spec(&report_env()));
    let mut c = srv.connect();
    assert_eq!(c.line(), "+OK Hello there.");
    c.cmd("CAPA");
    let capa = c.until(".");
    assert_eq!(capa[0], "+OK Here's what I can do:");
    assert!(capa.contains(&"STLS".to_string()), "{capa:?}");
    assert!(capa.contains(&"USER".to_string()), "{capa:?}");
    assert!(
        capa.contains(&"IMPLEMENTATION Courier Mail Server".to_string()),
        "{capa:?}"
    );
    // Debian's POP3AUTH is empty: no SASL line.
    assert!(!capa.iter().any(|l| l.starts_with("SASL")), "{capa:?}");
    c.cmd("USER vuser");
    assert_eq!(c.line(), "+OK Password required.");
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    let (rest, eof) = c.rest(Duration::from_secs(15));
    assert!(eof, "{rest}");
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.cwd, fx.home.to_string_lossy());
    assert_eq!(r.args, vec!["Maildir".to_string()]);
    assert_eq!(r.var("AUTHENTICATED"), "vuser");
    assert_eq!(r.var("UTF8"), "0");
    assert_eq!(r.var("TCPREMOTEIP"), "::ffff:127.0.0.1");
    assert_eq!(r.var("POP3AUTH"), "");
    assert!(r.env.contains_key("OPTIONS"), "{r:?}");
    assert!(!r.env.contains_key("IMAPLOGINTAG"), "{r:?}");
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn pop3_wrong_password_and_bad_commands_get_courier_answers() {
    let t = "pop3_wrong_password_and_bad_commands_get_courier_answers";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.pop3_spec(&report_env()));
    let mut c = srv.connect();
    c.line();
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    assert_eq!(c.line(), "-ERR USER/PASS required.");
    c.cmd("STAT");
    assert_eq!(c.line(), "-ERR Invalid command.");
    c.cmd("USER vuser");
    c.line();
    let start = Instant::now();
    c.cmd("PASS nope");
    assert_eq!(c.line(), "-ERR Login failed.");
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    c.cmd("QUIT");
    assert_eq!(c.line(), "+OK Better luck next time.");
    assert_eq!(c.read_line(Duration::from_secs(5)), Got::Eof);
    assert!(
        srv.wait_log("LOGIN FAILED, user=vuser", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    assert!(!srv.log().contains("nope"), "{}", srv.log());
}

#[test]
fn pop3_session_works_with_poplib_and_curl() {
    let t = "pop3_session_works_with_poplib_and_curl";
    if !chain_prereqs(t) || !debian_installed(t, &["courierpop3d"]) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("hello-poplib");
    fx.deliver("second");
    let srv = fx.start(&fx.pop3_spec(Path::new(POP3D)));
    let out = py(
        r#"
import poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]))
p.user("vuser")
print(p.pass_(sys.argv[2]))
print("STAT", p.stat())
print(b"\n".join(p.retr(1)[1]).decode())
print(p.quit())
"#,
        &[&srv.port.to_string(), VUSER_PASSWORD],
    );
    assert!(out.contains("b'+OK logged in.'"), "{out}");
    assert!(out.contains("STAT (2, "), "{out}");
    assert!(out.contains("Subject: hello-poplib"), "{out}");
    let curl = Run::new(Path::new("/usr/bin/curl"), "curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            &format!("pop3://vuser:{VUSER_PASSWORD}@127.0.0.1:{}/2", srv.port),
        ])
        .run();
    assert_eq!(curl.code, Some(0), "{curl:?}");
    assert!(curl.stdout.contains("Body of second."), "{curl:?}");
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn pop3_stls_then_login_hands_tls_state_to_the_session() {
    let t = "pop3_stls_then_login_hands_tls_state_to_the_session";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.pop3_spec(&report_env()));
    let out = py_dialogue(
        srv.port,
        false,
        None,
        &[
            Step::Read,
            Step::Send("STLS".into()),
            Step::Read,
            Step::Tls(Some("localhost".into())),
            Step::Send("CAPA".into()),
            Step::ReadAll(2),
        ],
    );
    assert!(
        out.contains("S: +OK Begin SSL/TLS negotiation now."),
        "{out}"
    );
    assert!(
        out.contains(&format!("CERT: {}", cert_sha256(&fx.cert))),
        "{out}"
    );
    assert!(
        out.contains("S: IMPLEMENTATION Courier Mail Server"),
        "{out}"
    );
    assert!(!out.contains("S: STLS"), "STLS offered twice: {out}");
    let out = py_dialogue(
        srv.port,
        false,
        None,
        &[
            Step::Read,
            Step::Send("STLS".into()),
            Step::Read,
            Step::Tls(None),
            Step::Send("USER vuser".into()),
            Step::Read,
            Step::Send(format!("PASS {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("POP3_TLS"), "1", "{r:?}");
    assert_eq!(r.var("POP3_STARTTLS"), "NO", "{r:?}");
    assert_eq!(r.var("POP3_TLS_REQUIRED"), "0", "{r:?}");
}

#[test]
fn pop3s_through_couriertls_tcpd_and_poplib() {
    let t = "pop3s_through_couriertls_tcpd_and_poplib";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.pop3s_spec(&report_env()));
    let out = py_dialogue(
        srv.port,
        true,
        None,
        &[Step::Read, Step::Send("CAPA".into()), Step::ReadAll(2)],
    );
    assert!(out.contains("S: +OK Hello there."), "{out}");
    assert!(!out.contains("S: STLS"), "STLS on the TLS port: {out}");
    let out = py_dialogue(
        srv.port,
        true,
        None,
        &[
            Step::Read,
            Step::Send("USER vuser".into()),
            Step::Read,
            Step::Send(format!("PASS {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("POP3_TLS"), "1");
    assert!(
        r.var("TLS_CONNECTED_PROTOCOL").starts_with("TLS1."),
        "{r:?}"
    );
    if !debian_installed(t, &["courierpop3d"]) {
        return;
    }
    fx.deliver("over-tls");
    let real = fx.start(&fx.pop3s_spec(Path::new(POP3D)));
    let out = py(
        r#"
import poplib, ssl, sys
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
p = poplib.POP3_SSL("127.0.0.1", int(sys.argv[1]), context=c)
p.user("vuser"); print(p.pass_(sys.argv[2])); print("STAT", p.stat()); print(p.quit())
"#,
        &[&real.port.to_string(), VUSER_PASSWORD],
    );
    assert!(out.contains("+OK logged in."), "{out}");
    assert!(out.contains("STAT (1, "), "{out}");
    let curl = Run::new(Path::new("/usr/bin/curl"), "curl")
        .args([
            "-sSk",
            "--max-time",
            "20",
            &format!("pop3s://vuser:{VUSER_PASSWORD}@127.0.0.1:{}/1", real.port),
        ])
        .run();
    assert_eq!(curl.code, Some(0), "{curl:?}");
    assert!(curl.stdout.contains("Body of over-tls."), "{curl:?}");
}

#[test]
fn pop3_tls_required_refuses_user_and_auth_in_clear() {
    let t = "pop3_tls_required_refuses_user_and_auth_in_clear";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.pop3_spec(&report_env()).env("POP3_TLS_REQUIRED", "1"));
    let mut c = srv.connect();
    c.line();
    c.cmd("USER vuser");
    assert_eq!(c.line(), "-ERR TLS required to log in.");
    c.cmd("AUTH PLAIN");
    assert_eq!(c.line(), "-ERR TLS required to log in.");
    c.cmd("QUIT");
    c.line();
    let out = py_dialogue(
        srv.port,
        false,
        None,
        &[
            Step::Read,
            Step::Send("STLS".into()),
            Step::Read,
            Step::Tls(None),
            Step::Send("USER vuser".into()),
            Step::Read,
            Step::Send(format!("PASS {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
}
