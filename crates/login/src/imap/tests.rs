//! The IMAP engine against transcripts observed from Debian's imaplogin 5.0.13.

use super::*;
use crate::io::Script;

#[derive(Default)]
struct Fake {
    answers: Vec<AuthResult>,
    seen: Vec<(String, AuthRequest, Option<Vec<u8>>)>,
    envs: Vec<Environ>,
    delays: usize,
    tls: Option<Result<Vec<(String, String)>, String>>,
}

impl Backend for Fake {
    fn authenticate(&mut self, a: &Attempt<'_>, _log: &mut Logger) -> AuthResult {
        self.seen.push((
            a.service.to_string(),
            a.request.clone(),
            a.tag.map(<[u8]>::to_vec),
        ));
        self.envs.push(a.env.clone());
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

const GREETING: &str = "* OK [CAPABILITY IMAP4rev1 IDLE ENABLE UTF8=ACCEPT] Courier-IMAP ready. \
Copyright 1998-2019 Double Precision, Inc.  See COPYING for distribution information.\r\n";

struct Run {
    out: String,
    log: Vec<String>,
    outcome: Outcome,
    env: Environ,
    rcvd: u64,
    sent: u64,
}

fn run_with(input: &[u8], extra: &[(&str, &str)], fake: &mut Fake) -> Run {
    let mut env = Environ::from_pairs(&[
        ("TCPREMOTEIP", "::ffff:127.0.0.1"),
        ("TCPREMOTEPORT", "4242"),
        ("TCPLOCALPORT", "143"),
        ("IMAP_CAPABILITY", "IMAP4rev1 IDLE"),
    ]);
    for (k, v) in extra {
        env.set(k, v);
    }
    let conn = Conn::new(Script::new(input), None);
    let mut s = ImapLogin::new(conn, env, fake, Logger::memory(), "mx1");
    let outcome = s.run();
    Run {
        out: s.conn.transport().text(),
        log: s.log.lines().to_vec(),
        outcome,
        env: s.env.clone(),
        rcvd: s.conn.rcvd,
        sent: s.conn.sent,
    }
}

fn run(input: &[u8]) -> Run {
    run_with(input, &[], &mut Fake::default())
}

/// The output after the greeting.
fn after_greeting(r: &Run) -> &str {
    r.out
        .strip_prefix(GREETING)
        .unwrap_or_else(|| panic!("greeting: {:?}", r.out))
}

fn login(u: &str, p: &str) -> AuthRequest {
    AuthRequest::Login {
        userid: u.as_bytes().to_vec(),
        password: p.as_bytes().to_vec(),
    }
}

#[test]
fn capability_noop_and_unknown_commands() {
    let r = run(b"a1 CAPABILITY\r\na2 NOOP\r\na3 FOO\r\n");
    assert_eq!(
        after_greeting(&r),
        "* CAPABILITY IMAP4rev1 IDLE ENABLE UTF8=ACCEPT\r\na1 OK CAPABILITY completed\r\n\
a2 OK NOOP completed\r\na3 NO Error in IMAP command received by server.\r\n"
    );
    assert_eq!(r.outcome, Outcome::Exit(0));
    assert_eq!(
        r.log[0],
        "DEBUG: Connection, ip=[::ffff:127.0.0.1], port=[4242]"
    );
    assert!(r.log[1].starts_with("DEBUG: Disconnected, ip=[::ffff:127.0.0.1], port=[4242], time="));
}

/// Each line and Debian's answer (observed).
const MALFORMED: &[(&[u8], &str)] = &[
    (
        b"\r\n",
        "* NO Error in IMAP command received by server.\r\n",
    ),
    (
        b" \r\n",
        "* NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"a1\r\n",
        "a1 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"a2 \r\n",
        "a2 NO Error in IMAP command received by server.\r\n",
    ),
    (b"a3  NOOP\r\n", "a3 OK NOOP completed\r\n"),
    (
        b"a4 NOOP extra\r\n",
        "a4 NO Error in IMAP command received by server.\r\n",
    ),
    (b"a5 noop\r\n", "a5 OK NOOP completed\r\n"),
    (b"+a NOOP\r\n", "+a OK NOOP completed\r\n"),
    (
        b"a{ NOOP\r\n",
        "a NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"a6 LOGIN alice\r\n",
        "a6 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"a7 LOGIN\r\n",
        "a7 NO Error in IMAP command received by server.\r\n",
    ),
    (b"a8 NOOP\n", "a8 OK NOOP completed\r\n"),
    (b"a9\tNOOP\r\n", "a9 OK NOOP completed\r\n"),
    (b"NOOP\r\n", "NOOP OK NOOP completed\r\n"),
    (
        b"noop\r\n",
        "noop NO Error in IMAP command received by server.\r\n",
    ),
    (b"b1 \"NOOP\"\r\n", "b1 OK NOOP completed\r\n"),
    (
        b"b2 {4}\r\nnoop\r\n",
        "+ OK\r\nb2 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"\"x\" NOOP\r\n",
        "* NO Error in IMAP command received by server.\r\n",
    ),
    (b"123 NOOP\r\n", "123 OK NOOP completed\r\n"),
    (b"1a2 NOOP\r\n", "1a2 OK NOOP completed\r\n"),
    (b"\\x NOOP\r\n", "\\x OK NOOP completed\r\n"),
    (
        b"a\xe9 NOOP\r\n",
        "a NO Error in IMAP command received by server.\r\n",
    ),
    (b"b3 NOOP\r\r\n", "b3 OK NOOP completed\r\n"),
    (b"b4 NOOP \r\n", "b4 OK NOOP completed\r\n"),
    (b"b5 NOOP\0\r\n", "b5 OK NOOP completed\r\n"),
    (
        b"b6 NO\0OP\r\n",
        "b6 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"b7 NOOP (\r\n",
        "b7 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"b8 LOGIN x\"y z\r\n",
        "b8 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"b9 LOGIN x y\"\r\n",
        "b9 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"c1 LOGIN NIL secret\r\n",
        "c1 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"c2 LOGIN \"alice\" \"sec\xe9\"\r\n",
        "c2 NO Error in IMAP command received by server.\r\n",
    ),
    (
        b"c3 STARTTLS\r\n",
        "c3 NO Error in IMAP command received by server.\r\n",
    ),
];

#[test]
fn malformed_lines_get_courier_answers() {
    for (line, want) in MALFORMED {
        let r = run(line);
        assert_eq!(
            after_greeting(&r),
            *want,
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(r.outcome, Outcome::Exit(0));
    }
}

#[test]
fn logout_before_login_counts_bytes() {
    let input = b"x1 NOOP\r\nLOGOUT\r\n";
    let r = run(input);
    assert_eq!(
        after_greeting(&r),
        "x1 OK NOOP completed\r\n* BYE Courier-IMAP server shutting down\r\nLOGOUT OK LOGOUT completed\r\n"
    );
    assert_eq!(r.outcome, Outcome::Exit(0));
    assert_eq!((r.rcvd, r.sent), (input.len() as u64, r.out.len() as u64));
    assert_eq!(
        r.log[1],
        format!(
            "INFO: LOGOUT, ip=[::ffff:127.0.0.1], port=[4242], rcvd={}, sent={}",
            input.len(),
            r.out.len()
        )
    );
}

#[test]
fn ten_violations_in_a_row_end_the_session() {
    let mut input = Vec::new();
    for i in 0..11 {
        input.extend_from_slice(format!("x{i} FOO\r\n").as_bytes());
    }
    let r = run(&input);
    let out = after_greeting(&r);
    assert_eq!(out.matches("NO Error in IMAP command").count(), 9);
    assert!(out.ends_with(
        "x8 NO Error in IMAP command received by server.\r\n\
* BYE [ALERT] Fatal error: TOO MANY CONSECUTIVE PROTOCOL VIOLATIONS: \r\n"
    ));
    assert_eq!(r.outcome, Outcome::Exit(1));
    assert_eq!(
        r.log.last().unwrap(),
        "ERR: (null): TOO MANY CONSECUTIVE PROTOCOL VIOLATIONS"
    );
}

#[test]
fn good_commands_reset_the_violation_count() {
    let mut input = Vec::new();
    for _ in 0..3 {
        for i in 0..9 {
            input.extend_from_slice(format!("x{i} FOO\r\n").as_bytes());
        }
        input.extend_from_slice(b"ok NOOP\r\n");
    }
    let r = run(&input);
    assert_eq!(r.outcome, Outcome::Exit(0));
}

#[test]
fn failed_login_is_delayed_logged_and_answered() {
    let mut fake = Fake::default();
    let r = run_with(
        b"a4 LOGIN alice wrong\r\na5 LOGIN \"alice\" \"sec\\\\ret\"\r\n",
        &[],
        &mut fake,
    );
    assert_eq!(
        after_greeting(&r),
        "a4 NO Login failed.\r\na5 NO Login failed.\r\n"
    );
    assert_eq!(fake.delays, 2);
    assert_eq!(
        fake.seen[0],
        ("imap".into(), login("alice", "wrong"), Some(b"a4".to_vec()))
    );
    assert_eq!(fake.seen[1].1, login("alice", "sec\\ret"));
    assert_eq!(
        r.log[1],
        "INFO: LOGIN FAILED, user=alice, ip=[::ffff:127.0.0.1], port=[4242]"
    );
}

#[test]
fn literals_in_login_are_acknowledged_and_read() {
    let mut fake = Fake {
        answers: vec![AuthResult::LoggedIn],
        ..Fake::default()
    };
    let r = run_with(b"a6 login {5}\r\nalice {6}\r\nsecret\r\n", &[], &mut fake);
    assert_eq!(after_greeting(&r), "+ OK\r\n+ OK\r\n");
    assert_eq!(fake.seen[0].1, login("alice", "secret"));
    assert_eq!(fake.seen[0].2.as_deref(), Some(&b"a6"[..]));
    assert_eq!(r.outcome, Outcome::Exit(0));
    assert!(
        !r.log.iter().any(|l| l.contains("LOGIN FAILED")),
        "{:?}",
        r.log
    );
}

#[test]
fn nul_in_a_literal_ends_the_c_string() {
    let mut fake = Fake::default();
    run_with(b"a6 LOGIN {3}\r\na\0b \"\\\\\"\r\n", &[], &mut fake);
    assert_eq!(fake.seen[0].1, login("a", "\\"));
}

#[test]
fn control_characters_fail_without_asking_the_daemon() {
    let mut fake = Fake::default();
    let r = run_with(b"a7 LOGIN \"al\x01ice\" secret\r\n", &[], &mut fake);
    assert!(fake.seen.is_empty());
    assert_eq!(fake.delays, 1);
    assert_eq!(after_greeting(&r), "a7 NO Login failed.\r\n");
    assert_eq!(
        r.log[1],
        "INFO: LOGIN FAILED, user=al.ice, ip=[::ffff:127.0.0.1], port=[4242]"
    );
}

#[test]
fn brackets_turn_special_after_the_first_login() {
    let mut fake = Fake::default();
    let r = run_with(
        b"a1 LOGIN [x] y\r\na2 LOGIN (x) y\r\na3 LOGIN [x] y\r\n",
        &[],
        &mut fake,
    );
    assert_eq!(
        after_greeting(&r),
        "a1 NO Login failed.\r\na2 NO Login failed.\r\na3 NO Error in IMAP command received by server.\r\n"
    );
    assert_eq!(fake.seen[0].1, login("[x]", "y"));
    assert_eq!(fake.seen[1].1, login("(x)", "y"));
}

#[test]
fn authenticate_plain_with_and_without_initial_response() {
    let mut fake = Fake::default();
    let r = run_with(
        b"a1 AUTHENTICATE PLAIN\r\nAGFsaWNlAHdyb25n\r\na2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        &[],
        &mut fake,
    );
    assert_eq!(
        after_greeting(&r),
        "+ \r\na1 NO Login failed.\r\na2 NO Login failed.\r\n"
    );
    assert_eq!(fake.seen[0].1, login("alice", "wrong"));
    assert_eq!(fake.seen[1].1, login("alice", "secret"));
    assert_eq!(
        r.log[1],
        "INFO: LOGIN FAILED, method=PLAIN, ip=[::ffff:127.0.0.1], port=[4242]"
    );
}

#[test]
fn sasl_aborts_and_bad_base64_are_failed_logins() {
    let mut fake = Fake::default();
    let r = run_with(
        b"a3 authenticate plain\r\n*\r\na4 AUTHENTICATE PLAIN\r\n!!!!\r\na7 AUTHENTICATE FOO\r\n",
        &[],
        &mut fake,
    );
    assert_eq!(
        after_greeting(&r),
        "+ \r\na3 NO Login failed.\r\n+ \r\na4 NO Login failed.\r\na7 NO Login failed.\r\n"
    );
    assert!(fake.seen.is_empty());
    assert_eq!(fake.delays, 3);
    assert!(r.log[3].contains("method=FOO"));
}

#[test]
fn authenticate_without_mechanism_leaves_the_line_end() {
    let r = run(b"a8 AUTHENTICATE\r\na9 AUTHENTICATE PLAIN =\r\n");
    assert_eq!(
        after_greeting(&r),
        "a8 NO Login failed.\r\n* NO Error in IMAP command received by server.\r\na9 NO Login failed.\r\n"
    );
    assert_eq!(
        r.log[1],
        "INFO: LOGIN FAILED, method=, ip=[::ffff:127.0.0.1], port=[4242]"
    );
}

#[test]
fn authenticate_login_mechanism_asks_twice() {
    let mut fake = Fake::default();
    let r = run_with(
        b"a5 AUTHENTICATE LOGIN\r\nYWxpY2U=\r\nd3Jvbmc=\r\n",
        &[],
        &mut fake,
    );
    assert_eq!(
        after_greeting(&r),
        "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\na5 NO Login failed.\r\n"
    );
    assert_eq!(fake.seen[0].1, login("alice", "wrong"));
}

#[test]
fn cram_md5_challenge_and_response_reach_the_daemon() {
    let mut fake = Fake::default();
    let r = run_with(
        b"a6 AUTHENTICATE CRAM-MD5\r\nYWxpY2UgMDA=\r\n",
        &[],
        &mut fake,
    );
    let out = after_greeting(&r);
    let challenge = out
        .strip_prefix("+ ")
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap();
    let decoded = String::from_utf8(crate::base64::decode(challenge.as_bytes()).unwrap()).unwrap();
    assert!(
        decoded.starts_with('<') && decoded.ends_with("@mx1>"),
        "{decoded}"
    );
    assert_eq!(decoded.len(), 32 + 6);
    match &fake.seen[0].1 {
        AuthRequest::Cram {
            alg,
            challenge: c,
            response,
        } => {
            assert_eq!(*alg, sasl::Cram::Md5);
            assert_eq!(c, challenge);
            assert_eq!(response, b"YWxpY2UgMDA=");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tls_required_refuses_logins_and_says_logindisabled() {
    let tls = [
        ("IMAP_STARTTLS", "YES"),
        ("COURIERTLS", "/bin/sh"),
        ("IMAP_TLS_REQUIRED", "1"),
    ];
    let mut fake = Fake::default();
    let r = run_with(
        b"a1 LOGIN alice secret\r\na2 AUTHENTICATE PLAIN\r\na3 CAPABILITY\r\n",
        &tls,
        &mut fake,
    );
    let out = r.out.clone();
    assert!(
        out.starts_with(
            "* OK [CAPABILITY IMAP4rev1 IDLE STARTTLS LOGINDISABLED ENABLE UTF8=ACCEPT]"
        )
    );
    assert!(out.ends_with(
        "a1 NO STARTTLS required\r\na2 NO STARTTLS required\r\n\
* CAPABILITY IMAP4rev1 IDLE STARTTLS LOGINDISABLED ENABLE UTF8=ACCEPT\r\na3 OK CAPABILITY completed\r\n"
    ));
    assert!(fake.seen.is_empty());
    assert_eq!(fake.delays, 0);
}

#[test]
fn starttls_switches_state_and_drops_pipelined_input() {
    let tls = [
        ("IMAP_STARTTLS", "YES"),
        ("COURIERTLS", "/bin/sh"),
        ("IMAP_TLS_REQUIRED", "1"),
    ];
    let mut fake = Fake {
        tls: Some(Ok(vec![("TLS_SUBJECT_CN".into(), "alice".into())])),
        ..Fake::default()
    };
    let r = run_with(b"a1 STARTTLS\r\na2 LOGIN injected x\r\n", &tls, &mut fake);
    assert!(
        r.out.ends_with("a1 OK Begin SSL/TLS negotiation now.\r\n"),
        "{}",
        r.out
    );
    assert!(fake.seen.is_empty(), "pipelined clear text was executed");
    assert_eq!(r.env.text("IMAP_TLS").as_deref(), Some("1"));
    assert_eq!(r.env.text("IMAP_STARTTLS").as_deref(), Some("NO"));
    assert_eq!(r.env.text("IMAP_TLS_REQUIRED").as_deref(), Some("0"));
    assert_eq!(r.env.text("TLS_SUBJECT_CN").as_deref(), Some("alice"));
}

#[test]
fn starttls_failure_is_reported_like_courier() {
    let tls = [("IMAP_STARTTLS", "YES"), ("COURIERTLS", "/bin/sh")];
    let mut fake = Fake {
        tls: Some(Err("couriertls: handshake failed".into())),
        ..Fake::default()
    };
    let r = run_with(b"a1 STARTTLS\r\na2 NOOP\r\n", &tls, &mut fake);
    assert_eq!(
        r.out.split_once("\r\n").unwrap().1,
        "a1 OK Begin SSL/TLS negotiation now.\r\na1 NO STARTTLS failed: couriertls: handshake failed\r\n\
* NO Error in IMAP command received by server.\r\na2 OK NOOP completed\r\n"
    );
}

#[test]
fn temporary_failure_ends_the_session() {
    let mut fake = Fake {
        answers: vec![AuthResult::Temporary("No such file or directory".into())],
        ..Fake::default()
    };
    let r = run_with(b"a1 LOGIN alice secret\r\na2 NOOP\r\n", &[], &mut fake);
    assert_eq!(
        after_greeting(&r),
        "* BYE Temporary problem, please try again later\r\n"
    );
    assert_eq!(r.outcome, Outcome::Exit(1));
    assert_eq!(
        &r.log[1..],
        [
            "INFO: LOGIN FAILED, user=alice, ip=[::ffff:127.0.0.1], port=[4242]",
            "ERR: authentication error: No such file or directory"
        ]
    );
    assert_eq!(fake.delays, 0);
}

#[test]
fn service_and_name_mapping_apply() {
    let mut fake = Fake::default();
    run_with(
        b"a1 LOGIN bob%example.org pw\r\na2 LOGIN carol pw\r\n",
        &[
            ("AUTHSERVICE143", "imapx"),
            ("LOGIN_DOMAIN_SEPARATORS", "%"),
            ("DEFDOMAIN", "@example.com"),
        ],
        &mut fake,
    );
    assert_eq!(fake.seen[0].0, "imapx");
    assert_eq!(fake.seen[0].1, login("bob@example.org", "pw"));
    assert_eq!(fake.seen[1].1, login("carol@example.com", "pw"));
}

#[test]
fn oversized_literal_is_refused_before_it_is_sent() {
    let r = run(b"a2 LOGIN {8193}\r\na3 NOOP\r\na4 NOOP\r\n");
    assert_eq!(
        after_greeting(&r),
        "* NO [ALERT] IMAP command too long.\r\na2 NO Error in IMAP command received by server.\r\n\
a4 OK NOOP completed\r\n"
    );
}

#[test]
fn huge_atom_is_a_fatal_error_in_bounded_memory() {
    let mut input = b"a1 LOGIN ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100_000));
    input.extend_from_slice(b" y\r\n");
    let r = run(&input);
    assert_eq!(
        after_greeting(&r),
        "* BYE [ALERT] Fatal error: max atom size too small: \r\n"
    );
    assert_eq!(r.outcome, Outcome::Exit(1));
    assert_eq!(
        r.log.last().unwrap(),
        "ERR: (null): max atom size too small"
    );
}

#[test]
fn huge_quoted_string_is_a_clean_protocol_error() {
    let mut input = b"a5 LOGIN \"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100_000));
    input.extend_from_slice(b"\" y\r\na6 NOOP\r\n");
    let r = run(&input);
    assert_eq!(
        after_greeting(&r),
        "a5 NO Error in IMAP command received by server.\r\na6 OK NOOP completed\r\n"
    );
    assert_eq!(
        r.log[1],
        "ERR: Quoted string literal overflow, ip=[::ffff:127.0.0.1]"
    );
}

#[test]
fn huge_line_of_spaces_and_garbage_is_skipped() {
    let mut input = b"a1 FOO ".to_vec();
    input.extend(std::iter::repeat_n(b' ', 200_000));
    input.extend_from_slice(b"\r\na2 NOOP\r\n");
    let r = run(&input);
    assert_eq!(
        after_greeting(&r),
        "a1 NO Error in IMAP command received by server.\r\na2 OK NOOP completed\r\n"
    );
}

#[test]
fn input_split_into_single_bytes_changes_nothing() {
    let input = b"a1 LOGIN {5}\r\nalice \"x\"\r\na2 AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n";
    let mut fake = Fake::default();
    let mut env = Environ::default();
    env.set("IMAP_CAPABILITY", "IMAP4rev1 IDLE");
    let mut script = Script::new(input);
    script.chunk = 1;
    let mut s = ImapLogin::new(
        Conn::new(script, None),
        env,
        &mut fake,
        Logger::memory(),
        "h",
    );
    s.run();
    assert_eq!(fake.seen[0].1, login("alice", "x"));
    assert_eq!(fake.seen[1].1, login("alice", "secret"));
}

#[test]
fn disabled_or_finished_backend_ends_with_its_code() {
    let mut fake = Fake {
        answers: vec![AuthResult::Ended(0)],
        ..Fake::default()
    };
    let r = run_with(b"a1 LOGIN alice secret\r\na2 NOOP\r\n", &[], &mut fake);
    assert_eq!(r.outcome, Outcome::Exit(0));
    assert_eq!(after_greeting(&r), "");
    assert_eq!(r.log.len(), 1, "{:?}", r.log);
    let mut fake = Fake {
        answers: vec![AuthResult::LoggedIn],
        ..Fake::default()
    };
    let r = run_with(
        b"a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        &[],
        &mut fake,
    );
    assert_eq!(r.outcome, Outcome::Exit(0));
    assert_eq!(r.log.len(), 1, "{:?}", r.log);
}
