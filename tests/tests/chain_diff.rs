//! Differential tests of the chain against Debian's Courier (root only):
//! the same scripted pre-login dialogues against Debian's chain and ours
//! give the same bytes; our imaplogin works with Debian's authdaemond and
//! Debian's imapd; Debian's couriertcpd works in front of our imaplogin and
//! courierpop3login; our couriertcpd in front of Debian's imaplogin.

use e2e::*;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

const IMAPD: &str = "/usr/bin/imapd";

fn diff_prereqs(t: &str) -> bool {
    chain_prereqs(t)
        && auth_prereqs(t, true)
        && debian_installed(
            t,
            &[
                "couriertcpd",
                "couriertls",
                "imaplogin",
                "courierpop3login",
                "imapd",
            ],
        )
}

/// Commands and every line answered, until each command's final line.
fn imap_transcript(port: u16) -> Vec<String> {
    let mut c = Conn::connect(port);
    let mut t = vec![c.line()];
    for (tag, cmd) in [
        ("a", "CAPABILITY"),
        ("b", "NOOP"),
        ("c", "FOO bar"),
        ("d", "LOGIN"),
        ("e", "LOGIN vuser wrong"),
        ("f", "SELECT INBOX"),
        ("g", "LOGIN \"vuser\" \"also wrong\""),
        ("h", "ENABLE UTF8=ACCEPT"),
        ("i", "LOGOUT"),
    ] {
        let line = format!("{tag} {cmd}");
        c.cmd(&line);
        t.push(format!("C: {line}"));
        t.extend(c.until(&format!("{tag} ")));
    }
    let (rest, eof) = c.rest(Duration::from_secs(5));
    t.push(format!("rest={rest:?} eof={eof}"));
    t
}

fn pop3_transcript(port: u16) -> Vec<String> {
    let mut c = Conn::connect(port);
    let mut t = vec![c.line()];
    for (cmd, multiline) in [
        ("CAPA", true),
        ("STAT", false),
        ("PASS x", false),
        ("USER vuser", false),
        ("PASS wrong", false),
        ("AUTH", false),
        ("APOP vuser 0123456789abcdef0123456789abcdef", false),
        ("UTF8", false),
        ("NOOP", false),
        ("QUIT", false),
    ] {
        c.cmd(cmd);
        t.push(format!("C: {cmd}"));
        if multiline {
            t.extend(c.until("."));
        } else {
            t.push(c.line());
        }
    }
    let (rest, eof) = c.rest(Duration::from_secs(5));
    t.push(format!("rest={rest:?} eof={eof}"));
    t
}

#[test]
fn prelogin_dialogues_are_byte_identical_to_courier() {
    let t = "prelogin_dialogues_are_byte_identical_to_courier";
    if !diff_prereqs(t) {
        return;
    }
    let ours_fx = Fixture::with_auth(chain_side(), "");
    let debian_fx = Fixture::with_auth(Side::Courier, "");
    let servers: Vec<(ChainServer, ChainServer)> = vec![
        (
            ours_fx.start(&ours_fx.imap_spec(&report_env())),
            debian_fx.start(&debian_fx.imap_spec(&report_env())),
        ),
        (
            ours_fx.start(&ours_fx.pop3_spec(&report_env())),
            debian_fx.start(&debian_fx.pop3_spec(&report_env())),
        ),
    ];
    let (imap_o, imap_d, pop_o, pop_d) = (
        servers[0].0.port,
        servers[0].1.port,
        servers[1].0.port,
        servers[1].1.port,
    );
    let h: Vec<_> = [
        (imap_o, true),
        (imap_d, true),
        (pop_o, false),
        (pop_d, false),
    ]
    .into_iter()
    .map(|(p, imap)| {
        std::thread::spawn(move || {
            if imap {
                imap_transcript(p)
            } else {
                pop3_transcript(p)
            }
        })
    })
    .collect();
    let mut r: Vec<Vec<String>> = h.into_iter().map(|h| h.join().unwrap()).collect();
    let pop_d = r.pop().unwrap();
    let pop_o = r.pop().unwrap();
    let imap_d = r.pop().unwrap();
    let imap_o = r.pop().unwrap();
    if std::env::var_os("E2E_SHOW").is_some() {
        println!("{imap_d:#?}\n{pop_d:#?}");
    }
    assert_eq!(imap_o, imap_d, "IMAP: ours (left) vs Courier (right)");
    assert_eq!(pop_o, pop_d, "POP3: ours (left) vs Courier (right)");
}

#[test]
fn our_imaplogin_works_with_debian_authdaemond_and_debian_imapd() {
    let t = "our_imaplogin_works_with_debian_authdaemond_and_debian_imapd";
    if !diff_prereqs(t) {
        return;
    }
    let fx = Fixture::with_auth(Side::Courier, "");
    fx.deliver("diff-one");
    let mut spec = fx.imap_spec(Path::new(IMAPD));
    spec.tcpd = chain_bin(chain_side(), "couriertcpd");
    spec.program[0] = chain_bin(chain_side(), "imaplogin").into_os_string();
    spec = spec.env("COURIERTLS", chain_bin(chain_side(), "couriertls"));
    let srv = fx.start(&spec);
    let out = py(
        r#"
import imaplib, ssl, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
print(m.login("vuser", sys.argv[2]))
print("EXISTS", m.select("INBOX")[1][0].decode())
print(m.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")[1][0][1].decode().strip())
print(m.logout()[0])
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1])); m.starttls(ssl_context=c)
print("TLS", m.login("vuser", sys.argv[2])[0]); m.logout()
"#,
        &[&srv.port.to_string(), VUSER_PASSWORD],
    );
    assert!(
        out.contains("('OK', [b'LOGIN Ok.'])"),
        "{out}\n{}",
        srv.log()
    );
    assert!(out.contains("EXISTS 1"), "{out}");
    assert!(out.contains("Subject: diff-one"), "{out}");
    assert!(out.contains("TLS OK"), "{out}");
    assert!(
        srv.wait_log(
            "INFO: LOGIN, user=vuser, ip=[::ffff:127.0.0.1]",
            Duration::from_secs(5)
        ),
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
fn debian_couriertcpd_in_front_of_our_login_programs() {
    let t = "debian_couriertcpd_in_front_of_our_login_programs";
    if !diff_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let side = chain_side();
    let mut imap = fx.imap_spec(&report_env());
    imap.tcpd = debian_chain_path("couriertcpd");
    let mut pop = fx.pop3_spec(&report_env());
    pop.tcpd = debian_chain_path("couriertcpd");
    let mut imaps = fx.imaps_spec(&report_env());
    imaps.tcpd = debian_chain_path("couriertcpd");
    let (imap, pop, imaps) = (fx.start(&imap), fx.start(&pop), fx.start(&imaps));
    let (_, rest) = imap_login_report(imap.port, "vuser", VUSER_PASSWORD);
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", imap.log()));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("TCPREMOTEIP"), "::ffff:127.0.0.1");
    assert_eq!(r.var("TCPLOCALPORT"), imap.port.to_string());
    let mut c = pop.connect();
    c.line();
    c.cmd("USER vuser");
    c.line();
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    let (rest, _) = c.rest(Duration::from_secs(15));
    Report::parse(&rest)
        .unwrap_or_else(|| panic!("{rest}"))
        .assert_identity(fx.uid, fx.gid, &[fx.gid]);
    let out = py_dialogue(
        imaps.port,
        true,
        None,
        &[
            Step::Read,
            Step::Send(format!("a LOGIN vuser {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("IMAP_TLS"), "1");
    let _ = side;
}

#[test]
fn our_couriertcpd_in_front_of_debian_imaplogin() {
    let t = "our_couriertcpd_in_front_of_debian_imaplogin";
    if !diff_prereqs(t) {
        return;
    }
    // Debian's login programs need Debian's socket path: Debian's daemon.
    let fx = Fixture::with_auth(Side::Courier, "");
    let mut spec = fx.imap_spec(&report_env());
    spec.tcpd = chain_bin(chain_side(), "couriertcpd");
    spec.program[0] = OsString::from(debian_chain_path("imaplogin"));
    let srv = fx.start(&spec.opt("-maxperip=3"));
    let (greeting, rest) = imap_login_report(srv.port, "vuser", VUSER_PASSWORD);
    assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("TCPREMOTEIP"), "::ffff:127.0.0.1");
    assert_eq!(r.var("TCPLOCALIP"), "::ffff:127.0.0.1");
    assert_eq!(r.var("TCPLOCALPORT"), srv.port.to_string());
    assert!(r.var("TCPREMOTEPORT").parse::<u16>().is_ok(), "{r:?}");
    // -nodnslookup / -noidentlookup: neither variable is set.
    assert!(!r.env.contains_key("TCPREMOTEHOST"), "{r:?}");
    assert!(!r.env.contains_key("TCPREMOTEINFO"), "{r:?}");
}
