//! courierpop3login as a program: over pipes, against our authdaemond, exec'ing a
//! reporting fake pop3d.

#[path = "../../imaplogin/tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

const EXE: &str = env!("CARGO_BIN_EXE_courierpop3login");

struct Fixture {
    dir: tempfile::TempDir,
    daemon: Daemon,
    home: PathBuf,
    server: PathBuf,
}

fn fixture(test: &str) -> Option<Fixture> {
    let dir = scratch();
    let (uid, gid) = account_ids();
    let home = make_home(dir.path(), "alice", uid, gid);
    let server = reporter(dir.path());
    let userdb = userdb_line("alice", uid, gid, &home, "|options=disableimap=1");
    let daemon = Daemon::start(EXE, test, &userdb)?;
    Some(Fixture {
        dir,
        daemon,
        home,
        server,
    })
}

impl Fixture {
    fn start(&self, extra: &[(&'static str, String)]) -> Conversation {
        let mut env = vec![
            ("TCPREMOTEIP", "::ffff:127.0.0.1".to_string()),
            ("TCPREMOTEPORT", "4242".into()),
            ("TCPLOCALPORT", "110".into()),
            (
                "AUTHDAEMON_SOCKET",
                self.daemon.socket.display().to_string(),
            ),
        ];
        env.extend_from_slice(extra);
        let server = self.server.display().to_string();
        let mut c = Conversation::start(
            Path::new(EXE),
            &[&server, "Maildir"],
            &env,
            self.dir.path().join("stderr"),
        );
        assert_eq!(c.line(10), "+OK Hello there.\r\n");
        c
    }
}

#[test]
fn wrong_argument_count_is_refused() {
    let out = std::process::Command::new(EXE).arg("x").output().unwrap();
    assert_eq!(
        out.stdout,
        b"-ERR pop3login requires exactly two arguments.\r\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn user_pass_execs_pop3d_with_courier_environment() {
    let Some(f) = fixture("user_pass") else {
        return;
    };
    let mut c = f.start(&[]);
    assert_eq!(c.ask("USER alice\r\n"), "+OK Password required.\r\n");
    c.send(b"PASS secret\r\n");
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{log}");
    assert_eq!(reported(&out, "ARGV1=").as_deref(), Some("Maildir"));
    assert_eq!(
        reported(&out, "CWD=").map(PathBuf::from),
        Some(fs::canonicalize(&f.home).unwrap())
    );
    let env = reported_env(&out);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("AUTHENTICATED"), Some("alice"));
    assert_eq!(get("OPTIONS"), Some("disableimap=1"));
    assert_eq!(get("UTF8"), Some("0"));
    assert_eq!(get("IMAPLOGINTAG"), None);
    assert_eq!(get("PROTOCOL"), None);
    assert_eq!(
        log,
        "DEBUG: Connection, ip=[::ffff:127.0.0.1], port=[4242]\n"
    );
}

#[test]
fn auth_plain_after_utf8_exports_utf8_1() {
    let Some(f) = fixture("auth_plain") else {
        return;
    };
    let mut c = f.start(&[]);
    assert_eq!(c.ask("UTF8\r\n"), "+OK UTF8 enabled\r\n");
    assert_eq!(c.ask("AUTH PLAIN\r\n"), "+ \r\n");
    c.send(b"AGFsaWNlAHNlY3JldA==\r\n");
    let (out, status, _) = c.finish(20);
    assert!(status.success());
    assert_eq!(reported(&out, "ENV:UTF8=").as_deref(), Some("1"));
}

#[test]
fn wrong_password_is_delayed_and_logged() {
    let Some(f) = fixture("pop3_wrong_password") else {
        return;
    };
    let mut c = f.start(&[]);
    c.ask("USER alice\r\n");
    let t = Instant::now();
    assert_eq!(c.ask("PASS nope\r\n"), "-ERR Login failed.\r\n");
    assert!(t.elapsed() >= Duration::from_millis(4900));
    assert_eq!(c.ask("QUIT\r\n"), "+OK Better luck next time.\r\n");
    let (_, status, log) = c.finish(10);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        log,
        "DEBUG: Connection, ip=[::ffff:127.0.0.1], port=[4242]\n\
INFO: LOGIN FAILED, user=alice, ip=[::ffff:127.0.0.1], port=[4242]\n\
INFO: LOGOUT, ip=[::ffff:127.0.0.1], port=[4242]\n\
DEBUG: Disconnected, ip=[::ffff:127.0.0.1], port=[4242]\n"
    );
}

#[test]
fn tls_required_and_no_stls() {
    let Some(f) = fixture("pop3_tls_required") else {
        return;
    };
    let mut c = f.start(&[("POP3_TLS_REQUIRED", "1".into())]);
    assert_eq!(c.ask("USER alice\r\n"), "-ERR TLS required to log in.\r\n");
    assert_eq!(
        c.ask("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "-ERR TLS required to log in.\r\n"
    );
    assert_eq!(c.ask("STLS\r\n"), "-ERR TLS support not available.\r\n");
    c.finish(10);
}

#[test]
fn maildir_creator_errors_use_seed_texts() {
    let Some(f) = fixture("pop3_creator") else {
        return;
    };
    fs::remove_dir_all(f.home.join("Maildir")).unwrap();
    let fail = script(&f.dir.path().join("fail"), "exit 1");
    for (value, want) in [
        (
            String::new(),
            "-ERR Maildir: non existent maildir and no POP3 environment variable\r\n",
        ),
        (
            fail.display().to_string(),
            "-ERR Maildir (exec): No such file or directory\r\n",
        ),
    ] {
        let mut c = f.start(&[("POP3_MAILDIR_CREATOR", value)]);
        c.ask("USER alice\r\n");
        c.send(b"PASS secret\r\n");
        let (out, status, log) = c.finish(10);
        assert_eq!(out, want, "{log}");
        assert_eq!(status.code(), Some(1));
    }
    // A creator that works: the session goes on.
    let make = script(
        &f.dir.path().join("make"),
        "mkdir -p \"$1/cur\" \"$1/new\" \"$1/tmp\"",
    );
    let mut c = f.start(&[("POP3_MAILDIR_CREATOR", make.display().to_string())]);
    c.ask("USER alice\r\n");
    c.send(b"PASS secret\r\n");
    let (out, status, log) = c.finish(10);
    assert!(status.success(), "{log}");
    assert_eq!(reported(&out, "ARGV1=").as_deref(), Some("Maildir"));
    assert!(f.home.join("Maildir/cur").is_dir());
}

#[test]
fn disabled_pop3_account_gets_courier_text() {
    let dir = scratch();
    let (uid, gid) = account_ids();
    let home = make_home(dir.path(), "bob", uid, gid);
    let userdb = userdb_line("bob", uid, gid, &home, "|options=disablepop3=1");
    let Some(daemon) = Daemon::start(EXE, "disabled_pop3", &userdb) else {
        return;
    };
    let mut c = Conversation::start(
        Path::new(EXE),
        &["/bin/false", "Maildir"],
        &[("AUTHDAEMON_SOCKET", daemon.socket.display().to_string())],
        dir.path().join("stderr"),
    );
    c.line(10);
    c.ask("USER bob\r\n");
    c.send(b"PASS secret\r\n");
    let (out, status, _) = c.finish(10);
    assert_eq!(out, "-ERR POP3 access disabled for this account.\r\n");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn silent_client_is_dropped_after_sixty_seconds() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scratch();
    let mut c = Conversation::start(
        Path::new(EXE),
        &["/bin/false", "Maildir"],
        &[("TCPREMOTEIP", "::ffff:127.0.0.1".into())],
        dir.path().join("stderr"),
    );
    c.line(10);
    let t = Instant::now();
    let (out, status, log) = c.finish_open(75);
    assert_eq!(out, "");
    assert_eq!(status.signal(), Some(14), "{status:?}");
    assert!(t.elapsed() >= Duration::from_secs(58) && t.elapsed() < Duration::from_secs(64));
    assert!(
        log.ends_with("INFO: TIMEOUT, ip=[::ffff:127.0.0.1], port=[N/A]\n"),
        "{log}"
    );
}

#[test]
fn stls_hands_the_connection_over_and_pop3d_sees_tls() {
    let Some(f) = fixture("pop3_stls") else {
        return;
    };
    let tls = script(
        &f.dir.path().join("fake-couriertls"),
        "for a; do case $a in -localfd=*) L=${a#-localfd=};; -statusfd=*) S=${a#-statusfd=};; \
-printx509=*) X=${a#-printx509=};; esac; done\n\
eval \"exec $S>&- $X>&-\"\n\
eval \"cat <&$L &\"\n\
eval \"exec cat >&$L\"",
    );
    let mut c = f.start(&[
        ("POP3_STARTTLS", "YES".into()),
        ("COURIERTLS", tls.display().to_string()),
        ("POP3_TLS_REQUIRED", "1".into()),
    ]);
    assert_eq!(c.ask("STLS\r\n"), "+OK Begin SSL/TLS negotiation now.\r\n");
    assert_eq!(c.ask("USER alice\r\n"), "+OK Password required.\r\n");
    c.send(b"PASS secret\r\n");
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{log}");
    let env = reported_env(&out);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("POP3_TLS"), Some("1"), "{out}");
    assert_eq!(get("POP3_STARTTLS"), Some("NO"));
    assert_eq!(get("POP3_TLS_REQUIRED"), Some("0"));
}
