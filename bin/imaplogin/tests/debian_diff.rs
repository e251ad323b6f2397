//! Our imaplogin against Debian's, and against Debian's authdaemond and imapd,
//! inside a private mount namespace (root and Debian's Courier needed; SKIP
//! otherwise).

mod support;

use std::path::Path;
use support::Conversation;
use support::diff::{self, Diff};

const OURS: &str = env!("CARGO_BIN_EXE_imaplogin");
const DEBIAN: &str = "/usr/lib/courier/courier/imaplogin";

const BASE_ENV: &[(&str, &str)] = &[
    ("TCPREMOTEIP", "::ffff:127.0.0.1"),
    ("TCPREMOTEPORT", "4242"),
    ("TCPLOCALPORT", "143"),
    (
        "IMAP_CAPABILITY",
        "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE IDLE",
    ),
    ("IMAP_ACL", "1"),
];

/// Runs the same input through both programs and requires identical output,
/// log and exit status.
fn same(d: &Diff, what: &str, extra_env: &[(&str, &str)], input: &[u8]) {
    let (ours, debian) = both(d, extra_env, input);
    assert_eq!(ours.2, debian.2, "{what}: log differs");
    assert_eq!(ours, debian, "{what}: client output or exit status differs");
}

fn both(d: &Diff, extra_env: &[(&str, &str)], input: &[u8]) -> (diff::Ran, diff::Ran) {
    let env: Vec<(&str, &str)> = BASE_ENV.iter().chain(extra_env).copied().collect();
    let args = ["/bin/false", "Maildir"];
    (
        diff::dialogue(d, Path::new(OURS), &args, &env, input),
        diff::dialogue(d, Path::new(DEBIAN), &args, &env, input),
    )
}

#[test]
fn pre_auth_dialogues_match_debian_imaplogin() {
    let Some(d) = diff::setup("pre_auth_dialogues_match_debian_imaplogin", DEBIAN) else {
        return;
    };
    same(
        &d,
        "basic and malformed commands",
        &[],
        b"a1 CAPABILITY\r\na2 NOOP\r\na3 FOO\r\n\r\n \r\nb1\r\nb2 \r\nb3  NOOP\r\n\
b4 NOOP extra\r\nb5 noop\r\n+a NOOP\r\na{ NOOP\r\nb6 LOGIN alice\r\nb7 LOGIN\r\nb8 NOOP\n\
b9\tNOOP\r\nNOOP\r\nnoop\r\nc1 \"NOOP\"\r\nc2 {4}\r\nnoop\r\n\"x\" NOOP\r\n123 NOOP\r\n\
1a2 NOOP\r\n\\x NOOP\r\na\xe9 NOOP\r\nc3 NOOP\r\r\nc4 NOOP \r\nc5 NOOP\0\r\nc6 NO\0OP\r\n\
c7 NOOP (\r\nc8 LOGIN x\"y z\r\nc9 LOGIN NIL secret\r\nd1 STARTTLS\r\nd2 LOGIN {8193}\r\n\
d3 NOOP\r\nd4 NOOP\r\nLOGOUT\r\n",
    );
    let mut ten = Vec::new();
    for i in 0..11 {
        ten.extend_from_slice(format!("x{i} FOO\r\n").as_bytes());
    }
    same(&d, "ten violations", &[], &ten);
    same(
        &d,
        "TLS required",
        &[
            ("IMAP_STARTTLS", "YES"),
            ("COURIERTLS", "/bin/true"),
            ("IMAP_TLS_REQUIRED", "1"),
        ],
        b"a1 LOGIN alice secret\r\na2 AUTHENTICATE PLAIN\r\na3 CAPABILITY\r\na4 LOGOUT\r\n",
    );
}

#[test]
fn failed_logins_match_debian_imaplogin() {
    let Some(d) = diff::setup("failed_logins_match_debian_imaplogin", DEBIAN) else {
        return;
    };
    same(
        &d,
        "failed LOGIN, AUTHENTICATE without mechanism, bracket quirk",
        &[],
        b"a1 LOGIN alice wrong\r\na3 LOGIN [x] y\r\na4 LOGIN [x] y\r\n\
a5 LOGIN \"al\x01ice\" secret\r\na6 LOGOUT\r\n",
    );
    // Debian logs uninitialised stack bytes as the method here (observed
    // `method=<`); ours logs `method=`. The client sees the same.
    let (ours, debian) = both(&d, &[], b"a2 AUTHENTICATE\r\na3 NOOP\r\n");
    assert_eq!((ours.0, &ours.1), (debian.0, &debian.1));
    assert!(
        ours.2.contains("INFO: LOGIN FAILED, method=, ip="),
        "{}",
        ours.2
    );
    same(
        &d,
        "failed SASL",
        &[],
        b"a1 AUTHENTICATE PLAIN AGFsaWNlAHdyb25n\r\na2 AUTHENTICATE LOGIN\r\nYWxpY2U=\r\n*\r\n\
a3 AUTHENTICATE FOO\r\na4 LOGOUT\r\n",
    );
}

/// A live login through each imaplogin into Debian's imapd, against Debian's
/// authdaemond: both sessions must look the same to the client.
fn live_session(d: &Diff, program: &str, tag: &str) -> (Vec<String>, String) {
    let args = diff::nsenter_args(d, Path::new(program), &["/usr/bin/imapd", "Maildir"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, String)> = BASE_ENV.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let mut c = Conversation::start(
        Path::new("/usr/bin/nsenter"),
        &args,
        &env,
        d.scratch.join(format!("stderr-{tag}")),
    );
    let mut lines = vec![c.line(10)];
    c.send(b"a1 LOGIN alice secret\r\n");
    loop {
        let l = c.line(20);
        let done = l.starts_with("a1 ");
        if !l.contains("Filesystem notification initialization error") {
            lines.push(l);
        }
        if done {
            break;
        }
    }
    c.send(b"a2 LOGOUT\r\n");
    let (rest, status, log) = c.finish(20);
    lines.extend(rest.lines().map(|l| format!("{l}\n")));
    lines.push(format!("exit {:?}", status.code()));
    (lines, diff::normalise(&log))
}

#[test]
fn our_imaplogin_hands_over_to_debian_imapd_like_debian_imaplogin() {
    let Some(d) = diff::setup("our_imaplogin_hands_over_to_debian_imapd", DEBIAN) else {
        return;
    };
    if !Path::new("/usr/bin/imapd").exists() {
        support::skip(
            "our_imaplogin_hands_over_to_debian_imapd",
            "/usr/bin/imapd missing",
        );
        return;
    }
    let ours = live_session(&d, OURS, "ours");
    let debian = live_session(&d, DEBIAN, "debian");
    assert_eq!(ours.0, debian.0);
    assert!(
        ours.0.iter().any(|l| l == "a1 OK LOGIN Ok.\r\n"),
        "{:?}",
        ours.0
    );
    // imapd's own LOGIN/LOGOUT lines carry the byte counts: equal too.
    let strip = |s: &str| {
        s.lines()
            .map(|l| l.split(", rcvd=").next().unwrap_or(l).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&ours.1), strip(&debian.1));
}
