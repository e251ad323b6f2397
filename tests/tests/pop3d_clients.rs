//! Real POP3 clients against our courierpop3d through the whole chain:
//! couriertcpd → courierpop3login → authdaemond → our courierpop3d, in clear
//! and over STLS. fetchmail (with and without `keep`, run twice: UIDL
//! tracking must not fetch anything again), curl's POP3 and Python's poplib.
//! Root only (the chain drops to the account's uid).

use e2e::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn prereqs(test: &str) -> bool {
    if !chain_prereqs(test) {
        return false;
    }
    for tool in ["/usr/bin/fetchmail", "/usr/bin/curl"] {
        if !Path::new(tool).exists() {
            skip(test, &format!("{tool} is not installed"));
            return false;
        }
    }
    true
}

fn pop3d() -> PathBuf {
    ours("courierpop3d")
}

fn cur_and_new(fx: &Fixture) -> usize {
    let m = fx.home.join("Maildir");
    names(&m.join("cur")).len() + names(&m.join("new")).len()
}

/// One fetchmail run; returns (exit code, what the MDA received, output).
fn fetchmail(
    fx: &Fixture,
    work: &Path,
    port: u16,
    keep: bool,
    stls: bool,
) -> (Option<i32>, String, String) {
    let out = work.join("delivered");
    let ssl = if stls {
        "sslproto 'tls1.2+' no sslcertck"
    } else {
        "sslproto ''"
    };
    let rc = work.join("fetchmailrc");
    fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll 127.0.0.1 service {port} protocol pop3 uidl timeout 30\n\
             \tuser \"{}\" password \"{}\" is root here\n\
             \t{ssl} {} mda \"/usr/bin/tee -a {}\"\n",
            fx.user,
            fx.password,
            if keep { "keep" } else { "nokeep" },
            out.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
    let o = Run::new(Path::new("/usr/bin/fetchmail"), "fetchmail")
        .args(["-N", "-f"])
        .arg_os(rc.as_os_str())
        .args(["--pidfile"])
        .arg_os(work.join("pid").as_os_str())
        .env("HOME", work)
        .env("FETCHMAILHOME", work)
        .timeout(Duration::from_secs(60))
        .run();
    let got = fs::read_to_string(&out).unwrap_or_default();
    (o.code, got, format!("{}{}", o.stdout, o.stderr))
}

fn fetchmail_twice(stls: bool) {
    let t = if stls {
        "fetchmail_over_stls_fetches_each_message_once"
    } else {
        "fetchmail_in_clear_fetches_each_message_once"
    };
    if !prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("first");
    fx.deliver("second");
    let srv = fx.start(&fx.pop3_spec(&pop3d()));
    let work = Scratch::new("fetchmail");

    // keep: everything once, then nothing new, messages stay.
    let (code, got, log) = fetchmail(&fx, work.path(), srv.port, true, stls);
    assert_eq!(code, Some(0), "{log}\n{}", srv.log());
    assert_eq!(got.matches("Subject: first").count(), 1, "{got}");
    assert_eq!(got.matches("Subject: second").count(), 1, "{got}");
    let (code, got2, log) = fetchmail(&fx, work.path(), srv.port, true, stls);
    assert_eq!(code, Some(1), "no new mail expected: {log}");
    assert_eq!(got2, got, "fetched again: {log}");
    assert_eq!(cur_and_new(&fx), 2);
    if stls {
        assert!(
            srv.wait_log(", stls=1", Duration::from_secs(5)),
            "{}",
            srv.log()
        );
    }

    // A new message: only it is fetched; then without keep everything goes.
    fx.deliver("third");
    let (code, got3, log) = fetchmail(&fx, work.path(), srv.port, false, stls);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(got3.matches("Subject: ").count(), 3, "{got3}");
    assert_eq!(got3.matches("Subject: third").count(), 1, "{got3}");
    assert!(
        srv.wait_log("INFO: LOGOUT, user=vuser", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    // nokeep deletes what this run fetched (the two old messages, known by
    // their UIDLs, are neither fetched nor deleted).
    assert!(log.contains("3 messages (2 seen)"), "{log}");
    assert_eq!(cur_and_new(&fx), 2, "{log}");
    let left: String = names(&fx.home.join("Maildir/cur"))
        .iter()
        .map(|n| fs::read_to_string(fx.home.join("Maildir/cur").join(n)).unwrap())
        .collect();
    assert!(!left.contains("Subject: third"), "{left}");
    let (code, got4, log) = fetchmail(&fx, work.path(), srv.port, false, stls);
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(got4, got3);
    assert_eq!(cur_and_new(&fx), 2);
}

#[test]
fn fetchmail_in_clear_fetches_each_message_once() {
    fetchmail_twice(false);
}

#[test]
fn fetchmail_over_stls_fetches_each_message_once() {
    fetchmail_twice(true);
}

fn curl(args: &[&str]) -> Outcome {
    Run::new(Path::new("/usr/bin/curl"), "curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .run()
}

#[test]
fn curl_lists_and_retrieves_in_clear_and_over_stls() {
    let t = "curl_lists_and_retrieves_in_clear_and_over_stls";
    if !prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("curl-one");
    fx.deliver("curl-two");
    let srv = fx.start(&fx.pop3_spec(&pop3d()));
    let base = format!("pop3://{}:{}@127.0.0.1:{}", fx.user, fx.password, srv.port);
    for tls in [&[][..], &["--ssl-reqd", "-k"][..]] {
        let mut a: Vec<&str> = tls.to_vec();
        let list_url = format!("{base}/");
        a.push(&list_url);
        let list = curl(&a);
        assert_eq!(list.code, Some(0), "{list:?}");
        let lines: Vec<&str> = list.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{list:?}");
        assert!(
            lines[0].starts_with("1 ") && lines[1].starts_with("2 "),
            "{list:?}"
        );
        let mut a: Vec<&str> = tls.to_vec();
        let retr_url = format!("{base}/2");
        a.push(&retr_url);
        let retr = curl(&a);
        assert_eq!(retr.code, Some(0), "{retr:?}");
        assert!(retr.stdout.contains("Subject: curl-two"), "{retr:?}");
        assert!(retr.stdout.contains("Body of curl-two."), "{retr:?}");
        // The advertised size is what was sent.
        let size: usize = lines[1].split(' ').nth(1).unwrap().trim().parse().unwrap();
        assert_eq!(retr.stdout.len(), size, "{retr:?}");
        // UIDL through a custom command.
        let mut a: Vec<&str> = tls.to_vec();
        a.extend(["-X", "UIDL", &list_url]);
        let uidl = curl(&a);
        assert_eq!(uidl.code, Some(0), "{uidl:?}");
        assert!(uidl.stdout.contains("1 UID1-"), "{uidl:?}");
    }
    assert!(
        srv.wait_log(", stls=1", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
}

#[test]
fn poplib_session_in_clear_and_over_stls() {
    let t = "poplib_session_in_clear_and_over_stls";
    if !prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("py-one");
    fx.deliver("py-two");
    fx.deliver("py-three");
    let srv = fx.start(&fx.pop3_spec(&pop3d()));
    let prog = r#"
import poplib, ssl, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
if sys.argv[3] == "stls":
    c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
    print(p.stls(c))
print(p.user("vuser")); print(p.pass_(sys.argv[2]))
print("CAPA", sorted(p.capa().keys()))
st = p.stat(); n = st[0]; print("STAT", st)
print("UIDL", p.uidl()[1])
print("TOP", p.top(1, 0)[1])
print("RETR", p.retr(2)[1])
print(p.dele(n)); print(p.rset()); print(p.dele(n))
print(p.noop())
print(p.quit())
"#;
    let mut uidls = Vec::new();
    for mode in ["clear", "stls"] {
        let out = py(prog, &[&srv.port.to_string(), VUSER_PASSWORD, mode]);
        assert!(out.contains("b'+OK logged in.'"), "{out}");
        // STLS stays listed after a login in clear, as Courier's does (the
        // chain passes POP3_STARTTLS=YES on).
        let capa = if mode == "clear" {
            "CAPA ['IMPLEMENTATION', 'LOGIN-DELAY', 'PIPELINING', 'STLS', 'TOP', 'UIDL', 'USER', 'UTF8']"
        } else {
            "CAPA ['IMPLEMENTATION', 'LOGIN-DELAY', 'PIPELINING', 'TOP', 'UIDL', 'USER', 'UTF8']"
        };
        assert!(out.contains(capa), "{out}");
        let top = out.lines().find(|l| l.starts_with("TOP")).unwrap();
        assert!(
            top.contains("b'Subject: py-") && top.ends_with("b'']"),
            "{out}"
        );
        let retr = out.lines().find(|l| l.starts_with("RETR")).unwrap();
        assert!(retr.contains("b'Body of py-"), "{out}");
        assert!(out.contains("b'+OK Resurrected.'"), "{out}");
        assert!(out.contains("b'+OK Bye-bye.'"), "{out}");
        assert!(!out.contains("Traceback"), "{out}");
        let u = out
            .lines()
            .find(|l| l.starts_with("UIDL"))
            .unwrap()
            .to_string();
        uidls.push(u);
        if mode == "clear" {
            assert!(out.contains("STAT (3, "), "{out}");
        } else {
            assert!(
                out.contains("b'+OK Begin SSL/TLS negotiation now.'"),
                "{out}"
            );
            assert!(out.contains("STAT (2, "), "{out}");
        }
    }
    // The message deleted in the first session is gone; the others keep their UIDLs.
    assert!(
        uidls[0].starts_with(&uidls[1][..uidls[1].len() - 1]),
        "{uidls:?}"
    );
    assert_eq!(cur_and_new(&fx), 1);
}

#[test]
fn pop3s_through_couriertls_with_curl_and_poplib() {
    let t = "pop3s_through_couriertls_with_curl_and_poplib";
    if !prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("tls-one");
    let srv = fx.start(&fx.pop3s_spec(&pop3d()));
    let url = format!(
        "pop3s://{}:{}@127.0.0.1:{}/1",
        fx.user, fx.password, srv.port
    );
    let retr = curl(&["-k", &url]);
    assert_eq!(retr.code, Some(0), "{retr:?}");
    assert!(retr.stdout.contains("Body of tls-one."), "{retr:?}");
    let out = py(
        r#"
import poplib, ssl, sys
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
p = poplib.POP3_SSL("127.0.0.1", int(sys.argv[1]), context=c, timeout=20)
p.user("vuser"); print(p.pass_(sys.argv[2])); print("STAT", p.stat())
print(p.dele(1)); print(p.quit())
"#,
        &[&srv.port.to_string(), VUSER_PASSWORD],
    );
    assert!(out.contains("b'+OK logged in.'"), "{out}");
    assert!(out.contains("STAT (1, "), "{out}");
    assert!(out.contains("b'+OK Bye-bye.'"), "{out}");
    assert!(
        srv.wait_log(", stls=1", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    assert_eq!(cur_and_new(&fx), 0);
}
