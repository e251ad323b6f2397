//! Our courierpop3login against Debian's, and into Debian's courierpop3d, inside
//! a private mount namespace with Debian's authdaemond (root and Debian's Courier
//! needed; SKIP otherwise).

#[path = "../../imaplogin/tests/support/mod.rs"]
mod support;

use std::path::Path;
use support::Conversation;
use support::diff::{self, Diff};

const OURS: &str = env!("CARGO_BIN_EXE_courierpop3login");
const DEBIAN: &str = "/usr/lib/courier/courier/courierpop3login";
const POP3D: &str = "/usr/lib/courier/courier/courierpop3d";

const BASE_ENV: &[(&str, &str)] = &[
    ("TCPREMOTEIP", "::ffff:127.0.0.1"),
    ("TCPREMOTEPORT", "4242"),
    ("TCPLOCALPORT", "110"),
];

fn same(d: &Diff, what: &str, extra_env: &[(&str, &str)], input: &[u8]) {
    let env: Vec<(&str, &str)> = BASE_ENV.iter().chain(extra_env).copied().collect();
    let args = ["/bin/false", "Maildir"];
    let ours = diff::dialogue(d, Path::new(OURS), &args, &env, input);
    let debian = diff::dialogue(d, Path::new(DEBIAN), &args, &env, input);
    assert_eq!(ours.2, debian.2, "{what}: log differs");
    assert_eq!(ours, debian, "{what}: client output or exit status differs");
}

#[test]
fn pre_auth_dialogues_match_debian_courierpop3login() {
    let Some(d) = diff::setup("pop3_pre_auth_dialogues", DEBIAN) else {
        return;
    };
    same(
        &d,
        "observed dialogue",
        &[
            ("POP3AUTH", "LOGIN PLAIN"),
            ("POP3_STARTTLS", "YES"),
            ("COURIERTLS", "/bin/true"),
        ],
        b"capa\r\nUSER\r\nPASS x\r\nAUTH\r\nutf8\r\nuser  alice  \r\npass  secret\r\n\
AUTH PLAIN\r\n*\r\nAUTH PLAIN !!!!\r\nAUTH FOO\r\nNOOP\r\n user x\r\nQUIT\r\n",
    );
    same(
        &d,
        "TLS required",
        &[("POP3_TLS_REQUIRED", "1")],
        b"USER alice\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nSTLS\r\nCAPA\r\n",
    );
}

fn live_session(d: &Diff, program: &str, tag: &str) -> (Vec<String>, String) {
    let args = diff::nsenter_args(d, Path::new(program), &[POP3D, "Maildir"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, String)> = BASE_ENV.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let mut c = Conversation::start(
        Path::new("/usr/bin/nsenter"),
        &args,
        &env,
        d.scratch.join(format!("stderr-{tag}")),
    );
    let mut lines = vec![c.line(10)];
    lines.push(c.ask("USER alice\r\n"));
    lines.push(c.ask("PASS secret\r\n"));
    lines.push(c.ask("STAT\r\n"));
    c.send(b"QUIT\r\n");
    let (rest, status, log) = c.finish(20);
    lines.push(rest);
    lines.push(format!("exit {:?}", status.code()));
    (lines, diff::normalise(&log))
}

#[test]
fn our_courierpop3login_hands_over_to_debian_courierpop3d() {
    let Some(d) = diff::setup("pop3_live_session", DEBIAN) else {
        return;
    };
    let ours = live_session(&d, OURS, "ours");
    let debian = live_session(&d, DEBIAN, "debian");
    assert_eq!(ours.0, debian.0);
    assert_eq!(ours.0[2], "+OK logged in.\r\n");
    let strip = |s: &str| {
        s.lines()
            .map(|l| l.split(", rcvd=").next().unwrap_or(l).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&ours.1), strip(&debian.1));
}
