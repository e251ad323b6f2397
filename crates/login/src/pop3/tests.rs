//! The POP3 engine against transcripts observed from Debian's courierpop3login.

use super::*;
use crate::io::Script;

#[derive(Default)]
struct Fake {
    answers: Vec<AuthResult>,
    seen: Vec<(String, AuthRequest, bool)>,
    delays: usize,
    tls: Option<Result<Vec<(String, String)>, String>>,
}

impl Backend for Fake {
    fn authenticate(&mut self, a: &Attempt<'_>, _log: &mut Logger) -> AuthResult {
        self.seen
            .push((a.service.to_string(), a.request.clone(), a.utf8));
        if self.answers.is_empty() {
            AuthResult::Rejected
        } else {
            self.answers.remove(0)
        }
    }
    fn starttls(&mut self, _env: &Environ) -> Result<Vec<(String, String)>, String> {
        self.tls
            .clone()
            .unwrap_or_else(|| Err("not configured".into()))
    }
    fn delay(&mut self) {
        self.delays += 1;
    }
}

struct Run {
    out: String,
    log: Vec<String>,
    outcome: Outcome,
    env: Environ,
}

fn run_with(input: &[u8], extra: &[(&str, &str)], fake: &mut Fake) -> Run {
    let mut env = Environ::from_pairs(&[
        ("TCPREMOTEIP", "::ffff:127.0.0.1"),
        ("TCPREMOTEPORT", "4242"),
        ("TCPLOCALPORT", "110"),
    ]);
    for (k, v) in extra {
        env.set(k, v);
    }
    let mut s = Pop3Login::new(
        Conn::new(Script::new(input), None),
        env,
        fake,
        Logger::memory(),
        "mx1",
    );
    let outcome = s.run();
    Run {
        out: s.conn.transport().text(),
        log: s.log.lines().to_vec(),
        outcome,
        env: s.env.clone(),
    }
}

fn body(r: &Run) -> &str {
    r.out
        .strip_prefix("+OK Hello there.\r\n")
        .expect("greeting")
}

fn login(u: &str, p: &str) -> AuthRequest {
    AuthRequest::Login {
        userid: u.as_bytes().to_vec(),
        password: p.as_bytes().to_vec(),
    }
}

#[test]
fn observed_debian_dialogue_is_reproduced() {
    let mut fake = Fake::default();
    let r = run_with(
        b"capa\r\nUSER\r\nPASS x\r\nAUTH\r\nutf8\r\nuser  alice  \r\npass  secret\r\n\
AUTH PLAIN\r\n*\r\nAUTH PLAIN !!!!\r\nAUTH CRAM-MD5 abc\r\nAUTH FOO\r\nNOOP\r\nQUIT\r\n",
        &[
            ("POP3AUTH", "LOGIN PLAIN"),
            ("POP3_STARTTLS", "YES"),
            ("COURIERTLS", "/bin/sh"),
        ],
        &mut fake,
    );
    assert_eq!(
        body(&r),
        "+OK Here's what I can do:\r\nSASL LOGIN PLAIN\r\nSTLS\r\nTOP\r\nUSER\r\nLOGIN-DELAY 10\r\n\
PIPELINING\r\nUIDL\r\nUTF8 USER\r\nIMPLEMENTATION Courier Mail Server\r\n.\r\n\
-ERR Invalid command.\r\n-ERR USER/PASS required.\r\n-ERR Invalid command.\r\n+OK UTF8 enabled\r\n\
+OK Password required.\r\n-ERR Login failed.\r\n+ \r\n-ERR Authentication aborted.\r\n\
-ERR Authentication aborted.\r\n-ERR Authentication failed.\r\n-ERR Authentication failed.\r\n\
-ERR Invalid command.\r\n+OK Better luck next time.\r\n"
    );
    assert_eq!(
        fake.seen,
        vec![("pop3".into(), login(" alice  ", " secret"), true)]
    );
    assert_eq!(fake.delays, 3);
    assert_eq!(
        r.log,
        [
            "DEBUG: Connection, ip=[::ffff:127.0.0.1], port=[4242]",
            "INFO: LOGIN FAILED, user= alice  , ip=[::ffff:127.0.0.1], port=[4242]",
            "INFO: LOGIN FAILED, method=PLAIN, ip=[::ffff:127.0.0.1], port=[4242]",
            "INFO: LOGIN FAILED, method=PLAIN, ip=[::ffff:127.0.0.1], port=[4242]",
            "authsasl_cram: invalid request.",
            "INFO: LOGIN FAILED, method=CRAM-MD5, ip=[::ffff:127.0.0.1], port=[4242]",
            "INFO: LOGIN FAILED, method=FOO, ip=[::ffff:127.0.0.1], port=[4242]",
            "INFO: LOGOUT, ip=[::ffff:127.0.0.1], port=[4242]",
            "DEBUG: Disconnected, ip=[::ffff:127.0.0.1], port=[4242]",
        ]
    );
    assert_eq!(r.outcome, Outcome::Exit(0));
}

#[test]
fn user_pass_and_auth_plain_reach_the_daemon() {
    let mut fake = Fake {
        answers: vec![
            AuthResult::Rejected,
            AuthResult::Rejected,
            AuthResult::LoggedIn,
        ],
        ..Fake::default()
    };
    let r = run_with(
        b"USER alice\r\nPASS secret\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n",
        &[],
        &mut fake,
    );
    assert_eq!(
        body(&r),
        "+OK Password required.\r\n-ERR Login failed.\r\n-ERR Authentication failed.\r\n\
+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n"
    );
    assert_eq!(fake.seen.len(), 3);
    for (_, req, utf8) in &fake.seen {
        assert_eq!(*req, login("alice", "secret"));
        assert!(!utf8);
    }
    assert_eq!(r.outcome, Outcome::Exit(0));
    assert_eq!(
        r.log.iter().filter(|l| l.contains("LOGIN FAILED")).count(),
        2
    );
}

#[test]
fn equals_sign_is_an_empty_initial_response() {
    let r = run_with(b"AUTH PLAIN =\r\n", &[], &mut Fake::default());
    assert_eq!(body(&r), "-ERR Authentication aborted.\r\n");
}

#[test]
fn tls_required_refuses_user_and_auth() {
    let r = run_with(
        b"USER alice\r\nAUTH\r\nAUTH PLAIN\r\nSTLS\r\n",
        &[("POP3_TLS_REQUIRED", "1")],
        &mut Fake::default(),
    );
    assert_eq!(
        body(&r),
        "-ERR TLS required to log in.\r\n-ERR TLS required to log in.\r\n\
-ERR TLS required to log in.\r\n-ERR TLS support not available.\r\n"
    );
}

#[test]
fn stls_switches_state_and_discards_pipelined_commands() {
    let mut fake = Fake {
        tls: Some(Ok(Vec::new())),
        ..Fake::default()
    };
    let r = run_with(
        b"STLS\r\nUSER injected\r\nPASS x\r\n",
        &[
            ("POP3_STARTTLS", "YES"),
            ("COURIERTLS", "/bin/sh"),
            ("POP3_TLS_REQUIRED", "1"),
        ],
        &mut fake,
    );
    assert_eq!(body(&r), "+OK Begin SSL/TLS negotiation now.\r\n");
    assert!(fake.seen.is_empty());
    assert_eq!(r.env.text("POP3_TLS").as_deref(), Some("1"));
    assert_eq!(r.env.text("POP3_STARTTLS").as_deref(), Some("NO"));
    assert_eq!(r.env.text("POP3_TLS_REQUIRED").as_deref(), Some("0"));
}

#[test]
fn stls_failure_text() {
    let mut fake = Fake {
        tls: Some(Err("oops".into())),
        ..Fake::default()
    };
    let r = run_with(
        b"STLS\r\n",
        &[("POP3_STARTTLS", "YES"), ("COURIERTLS", "/bin/sh")],
        &mut fake,
    );
    assert_eq!(
        body(&r),
        "+OK Begin SSL/TLS negotiation now.\r\n-ERR STARTTLS failed: oops\r\n"
    );
}

#[test]
fn long_lines_are_cut_like_fgets_and_nul_ends_the_line() {
    let mut fake = Fake::default();
    let mut input = b"USER ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100_000));
    input.extend_from_slice(b"\r\nPASS a\0b\r\nQUIT\r\n");
    let r = run_with(&input, &[], &mut fake);
    assert_eq!(
        body(&r),
        "+OK Password required.\r\n-ERR Login failed.\r\n+OK Better luck next time.\r\n"
    );
    match &fake.seen[0].1 {
        AuthRequest::Login { userid, password } => {
            assert_eq!(userid.len(), MAX_LINE - 5);
            assert_eq!(password, b"a");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn temporary_failure_ends_with_err() {
    let mut fake = Fake {
        answers: vec![AuthResult::Temporary("Connection refused".into())],
        ..Fake::default()
    };
    let r = run_with(b"USER a\r\nPASS b\r\nQUIT\r\n", &[], &mut fake);
    assert_eq!(
        body(&r),
        "+OK Password required.\r\n-ERR Temporary problem, please try again later\r\n"
    );
    assert_eq!(r.outcome, Outcome::Exit(1));
    assert_eq!(
        r.log.last().unwrap(),
        "ERR: authentication error: Connection refused"
    );
}

#[test]
fn control_characters_in_pass_are_refused_locally() {
    let mut fake = Fake::default();
    let r = run_with(b"USER alice\r\nPASS se\x01cret\r\n", &[], &mut fake);
    assert!(fake.seen.is_empty());
    assert_eq!(fake.delays, 1);
    assert!(body(&r).ends_with("-ERR Login failed.\r\n"));
}

#[test]
fn eof_during_sasl_is_a_failure_then_disconnect() {
    let mut fake = Fake::default();
    let r = run_with(b"AUTH PLAIN\r\n", &[], &mut fake);
    assert_eq!(body(&r), "+ \r\n-ERR Authentication failed.\r\n");
    assert_eq!(
        r.log.last().unwrap(),
        "DEBUG: Disconnected, ip=[::ffff:127.0.0.1], port=[4242]"
    );
}

#[test]
fn line_preparation_uppercases_only_the_first_word() {
    assert_eq!(prepare_line(b"user Alice\r\n"), b"USER Alice\r");
    assert_eq!(prepare_line(b" user x\n"), b" user x");
    assert_eq!(prepare_line(b"pass\tSecret"), b"PASS\tSecret");
    assert_eq!(prepare_line(b"us\0er\n"), b"US");
}
