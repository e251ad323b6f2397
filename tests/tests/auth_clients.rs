//! Our authtest and authenumerate against Debian's, byte for byte: the same
//! argv, environment and daemon reply must give the same stdout, stderr, exit
//! code, and the same request bytes on the socket.
//!
//! The daemon here is a scripted fake bound at Debian's compiled-in socket path
//! inside a private mount namespace (so any reply, including broken ones, can
//! be served), or no daemon at all. Runs against the real daemons are in
//! auth_diff.rs. Needs root and Debian's courier-authdaemon; skips otherwise.

use courier_auth_proto::request;
use e2e::{AuthDaemon, AuthSetup, Outcome, Side, auth_bin, auth_client_env, auth_prereqs};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fake authdaemond: answers every connection with `reply` and keeps the
/// request bytes it received.
struct Fake {
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(socket: &Path, reply: &[u8]) -> Fake {
        let _ = std::fs::remove_file(socket);
        let listener =
            UnixListener::bind(socket).unwrap_or_else(|e| panic!("bind {}: {e}", socket.display()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stopping, reply) = (requests.clone(), stop.clone(), reply.to_vec());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut c) = conn else { continue };
                let got = read_request(&mut c);
                reqs.lock().unwrap().push(got);
                let _ = c.write_all(&reply);
            }
        });
        Fake {
            socket: socket.to_path_buf(),
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Requests received since the last call.
    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::os::unix::net::UnixStream::connect(&self.socket);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Reads one request (as far as the protocol frames it) or until 2 s pass.
fn read_request(c: &mut std::os::unix::net::UnixStream) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match request::parse(&got) {
            Ok(None) => {}
            _ => return got,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        c.set_read_timeout(Some(left)).unwrap();
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn namespace(test: &str) -> Option<AuthDaemon> {
    if !auth_prereqs(test, true) {
        return None;
    }
    let setup = AuthSetup {
        userdb: None,
        ..AuthSetup::userdb("", 1, "")
    };
    Some(AuthDaemon::namespace_only(Side::Courier, &setup))
}

/// Runs `prog args` (Debian's, then ours) inside `ns` with `env`; asserts the
/// outcomes are identical and returns Debian's.
fn same(ns: &AuthDaemon, prog: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let run = |side: Side| {
        let mut r = auth_client_env(ns.inside(&auth_bin(side, prog), args));
        for (k, v) in env {
            r = r.env(k, v);
        }
        r.run()
    };
    let debian = run(Side::Courier);
    let ours = run(Side::Ours);
    assert_eq!(
        ours, debian,
        "{prog} {args:?} {env:?}: ours (left) differs from Debian's (right)"
    );
    debian
}

/// Like [`same`], with a fake daemon answering `reply`; also asserts that both
/// clients sent the same request bytes, and returns them.
fn same_with_reply(
    ns: &AuthDaemon,
    reply: &[u8],
    prog: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Outcome, Vec<Vec<u8>>) {
    let fake = Fake::start(&ns.socket(), reply);
    let run = |side: Side| {
        let mut r = auth_client_env(ns.inside(&auth_bin(side, prog), args));
        for (k, v) in env {
            r = r.env(k, v);
        }
        let o = r.run();
        (o, fake.take())
    };
    let (debian, debian_req) = run(Side::Courier);
    let (ours, ours_req) = run(Side::Ours);
    assert_eq!(
        ours,
        debian,
        "{prog} {args:?} {env:?} reply {:?}: ours (left) differs from Debian's (right)",
        String::from_utf8_lossy(reply)
    );
    assert_eq!(
        ours_req, debian_req,
        "{prog} {args:?}: request bytes differ (ours left)"
    );
    (debian, debian_req)
}

const RECORD: &[u8] = b"UID=5000\nGID=5000\nHOME=/home/vmail/alice\nADDRESS=alice\n\
NAME=Alice Liddell\nMAILDIR=/home/vmail/alice/Maildir\nQUOTA=1000000S\n\
PASSWD=$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0\nPASSWD2=secret\n\
OPTIONS=disablepop3=0,group=staff\n.\n";

#[test]
fn authtest_bad_argv_prints_usage_and_exits_1() {
    let Some(ns) = namespace("authtest_bad_argv_prints_usage_and_exits_1") else {
        return;
    };
    for args in [
        &[][..],
        &["-s"],
        &["-s", "imap"],
        &["-x", "alice"],
        &["--", "alice"],
        &["-simap"],
    ] {
        let o = same(&ns, "authtest", args, &[]);
        assert_eq!(o.code, Some(1), "{args:?}");
        assert_eq!(
            o.stderr,
            "Usage: authtest [-s service] userid [ password [ newpassword ] ]\n"
        );
    }
}

#[test]
fn authenumerate_bad_argv_prints_usage_and_exits_1() {
    let Some(ns) = namespace("authenumerate_bad_argv_prints_usage_and_exits_1") else {
        return;
    };
    for args in [&["-x"][..], &["-so"], &["-o", "extra"], &["--"]] {
        let o = same(&ns, "authenumerate", args, &[]);
        assert_eq!(
            (o.code, o.stderr.as_str()),
            (Some(1), "Usage: authenumerate [-s] [-o]\n")
        );
    }
}

#[test]
fn authtest_no_daemon_prints_connect_error_and_exits_1() {
    let Some(ns) = namespace("authtest_no_daemon_prints_connect_error_and_exits_1") else {
        return;
    };
    // stderr is a pipe here: glibc's perror() overwrites errno with EINVAL.
    for args in [&["alice"][..], &["alice", "pw"], &["alice", "pw", "new"]] {
        let o = same(&ns, "authtest", args, &[]);
        assert_eq!(o.code, Some(1));
        assert_eq!(
            o.stderr,
            "ERR: authdaemon: s_connect() failed: No such file or directory\n\
             Authentication FAILED: Invalid argument\n"
        );
    }
    let o = same(&ns, "authenumerate", &[], &[]);
    assert_eq!((o.code, o.stdout.as_str()), (Some(1), ""), "{o:?}");
}

#[test]
fn authtest_refused_socket_on_read_write_stderr_prints_hint() {
    let Some(ns) = namespace("authtest_refused_socket_on_read_write_stderr_prints_hint") else {
        return;
    };
    // A socket file nobody listens on: ECONNREFUSED.
    drop(UnixListener::bind(ns.socket()).unwrap());
    let log = ns.dir.join("stderr.txt");
    for prog in ["authtest", "authenumerate"] {
        let mut seen = Vec::new();
        for side in [Side::Courier, Side::Ours] {
            let args = if prog == "authtest" { "alice" } else { "" };
            // `2<>file`: stderr open read-write, so errno survives perror().
            let script = format!(
                "{} {args} 2<>{}; echo rc=$?; cat {}; rm -f {}",
                auth_bin(side, prog).display(),
                log.display(),
                log.display(),
                log.display()
            );
            seen.push(ns.sh(&script));
        }
        assert_eq!(seen[1], seen[0], "{prog}: ours (left) vs Debian's");
        assert!(
            seen[0]
                .stdout
                .contains("ERR: [Hint: perhaps authdaemond is not running?]\n"),
            "{:?}",
            seen[0]
        );
    }
    assert!(
        ns.sh(&format!(
            "{} alice 2<>{}; cat {}",
            auth_bin(Side::Ours, "authtest").display(),
            log.display(),
            log.display()
        ))
        .stdout
        .ends_with("Authentication FAILED: Connection refused\n")
    );
}

#[test]
fn authtest_replies_print_like_debian_for_every_record_shape() {
    let Some(ns) = namespace("authtest_replies_print_like_debian_for_every_record_shape") else {
        return;
    };
    let cases: &[(&[u8], i32)] = &[
        (RECORD, 0),
        (
            b"USERNAME=bob\nGID=100\nHOME=/home/bob\nADDRESS=bob\nNAME=Bob\n.\n",
            0,
        ),
        (b"GID=100\n.\n", 0),
        (b"junk\nUID=7\nXYZ=1\n.\n", 0),
        (b"FAIL\n", 1),
        (b"", 1),
        (b"UID=5000\nGID=5000\n", 1),
    ];
    for (reply, code) in cases {
        for args in [&["alice"][..], &["-s", "imap", "alice", "secret"]] {
            let (o, _) = same_with_reply(&ns, reply, "authtest", args, &[]);
            assert_eq!(o.code, Some(*code), "{args:?} {o:?}");
        }
    }
    let (o, req) = same_with_reply(
        &ns,
        RECORD,
        "authtest",
        &["-s", "pop3", "alice", "secret"],
        &[],
    );
    assert!(o.stdout.contains("Cleartext Password: secret\n"), "{o:?}");
    assert_eq!(
        req,
        vec![b"TCPREMOTEIP=::1\nAUTH 24\npop3\nlogin\nalice\nsecret\n".to_vec()]
    );
    let (o, _) = same_with_reply(&ns, b"", "authtest", &["alice"], &[]);
    assert_eq!(o.stderr, "Authentication FAILED: Input/output error\n");
    let (o, _) = same_with_reply(&ns, b"FAIL\n", "authtest", &["alice"], &[]);
    assert_eq!(o.stderr, "Authentication FAILED: Operation not permitted\n");
}

#[test]
fn authtest_environment_changes_request_like_debian() {
    let Some(ns) = namespace("authtest_environment_changes_request_like_debian") else {
        return;
    };
    let args: &[&str] = &["alice", "secret"];
    let (_, req) = same_with_reply(
        &ns,
        RECORD,
        "authtest",
        args,
        &[("TCPREMOTEIP", "192.0.2.7")],
    );
    assert!(
        req[0].starts_with(b"TCPREMOTEIP=192.0.2.7\nAUTH "),
        "{req:?}"
    );
    let (_, req) = same_with_reply(
        &ns,
        RECORD,
        "authtest",
        args,
        &[("DEFDOMAIN", "@example.com")],
    );
    assert!(
        req[0].ends_with(b"\nlogin\nalice@example.com\nsecret\n"),
        "{:?}",
        String::from_utf8_lossy(&req[0])
    );
    same_with_reply(
        &ns,
        RECORD,
        "authtest",
        &["a%b", "secret"],
        &[("DEFDOMAIN", "@example.com"), ("DOMAINSEP", "%")],
    );
    // PRE gets no default domain.
    let (_, req) = same_with_reply(&ns, RECORD, "authtest", &["alice"], &[("DEFDOMAIN", "@x")]);
    assert_eq!(req[0], b"TCPREMOTEIP=::1\nPRE . login alice\n");
    let (o, _) = same_with_reply(&ns, RECORD, "authtest", args, &[("DEBUG_LOGIN", "2")]);
    assert!(
        o.stderr.starts_with(
            "DEBUG: LOGIN: ip=[::1], username=alice\nDEBUG: LOGIN: ip=[::1], password=secret\n"
        ),
        "{o:?}"
    );
}

#[test]
fn authtest_control_character_in_password_sends_nothing_and_exits_1() {
    let Some(ns) = namespace("authtest_control_character_in_password_sends_nothing_and_exits_1")
    else {
        return;
    };
    for args in [&["alice", "a\tb"][..], &["alice", "old", "n\x01w"]] {
        let (o, req) = same_with_reply(&ns, RECORD, "authtest", args, &[]);
        assert_eq!(
            (o.code, o.stderr.as_str()),
            (Some(1), "Authentication FAILED: Invalid argument\n")
        );
        assert!(req.is_empty(), "{req:?}");
    }
}

#[test]
fn authtest_passwd_reply_decides_success_like_debian() {
    let Some(ns) = namespace("authtest_passwd_reply_decides_success_like_debian") else {
        return;
    };
    let args: &[&str] = &["-s", "imap", "alice", "old", "new"];
    let (o, req) = same_with_reply(
        &ns,
        b"OK\n",
        "authtest",
        args,
        &[("TCPREMOTEIP", "1.2.3.4")],
    );
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (Some(0), "Password change succeeded.\n")
    );
    // PASSWD carries no meta line, whatever TCPREMOTEIP says.
    assert_eq!(req, vec![b"PASSWD imap\talice\told\tnew\n".to_vec()]);
    for reply in [&b"FAIL\n"[..], b"", b"OK"] {
        let (o, _) = same_with_reply(&ns, reply, "authtest", args, &[]);
        assert_eq!(
            (o.code, o.stderr.as_str()),
            (Some(1), "Authentication FAILED: Operation not permitted\n")
        );
    }
}

#[test]
fn authenumerate_stream_is_filtered_like_debian() {
    let Some(ns) = namespace("authenumerate_stream_is_filtered_like_debian") else {
        return;
    };
    let stream = b"# authuserdb\n\n\
alice\t5000\t5000\t/home/alice\t/home/alice/Maildir\tdisablepop3=0,group=staff\n\
bob\t5001\t5000\t/home/bob\t\tdisableshared=1\n\
carol\t5002\t5000\t/home/carol\t\tdisableshared=yes\n\
dave\t5003\t5000\t/home/dave#comment\t/m\tx=1\n\
erin\t5004\t5000\t/home/erin\t/m\tsharedgroup=a#b\n\
root\t0\t0\t/root\t\t\n\
short\t5005\t5000\n\
four\t5006\t5000\t/home/four\n\
# authpam\n\n\
nobody\t65534\t65534\t/nonexistent\t\t\n\
.\n";
    for args in [
        &[][..],
        &["-o"],
        &["-s"],
        &["-s", "-o"],
        &["-o", "-s", "-o"],
    ] {
        let (o, req) = same_with_reply(
            &ns,
            stream,
            "authenumerate",
            args,
            &[("TCPREMOTEIP", "1.2.3.4")],
        );
        assert_eq!(o.code, Some(0), "{o:?}");
        assert_eq!(req, vec![b"ENUMERATE\n".to_vec()]);
    }
    let (o, _) = same_with_reply(&ns, stream, "authenumerate", &["-s", "-o"], &[]);
    assert_eq!(
        o.stdout,
        "alice\t5000\t5000\t/home/alice\t/home/alice/Maildir\tdisablepop3=0,group=staff\n\
carol\t5002\t5000\t/home/carol\t\tdisableshared=yes\n\
dave\t5003\t5000\t/home/dave\t\t\n\
erin\t5004\t5000\t/home/erin\t/m\tsharedgroup=a\n\
four\t5006\t5000\t/home/four\t\t\n\
nobody\t65534\t65534\t/nonexistent\t\t\n"
    );
    // Without the final ".", the entries are printed and the exit code is 1.
    let cut = &stream[..stream.len() - 2];
    let (o, _) = same_with_reply(&ns, cut, "authenumerate", &[], &[]);
    assert_eq!(o.code, Some(1));
    assert!(o.stdout.starts_with("alice\t5000"), "{o:?}");
    let (o, _) = same_with_reply(&ns, b"", "authenumerate", &[], &[]);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (Some(1), "", "")
    );
}
