//! authtest as a program, against a scripted daemon on a temporary socket
//! (`AUTHDAEMON_SOCKET`): output, exit codes, and the `-v` explanations.
//! Byte-for-byte comparison with Debian's authtest is in tests/tests/auth_clients.rs.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output};

/// Serves `n` connections, answering each request with `answer(request)`.
fn daemon(
    socket: &Path,
    n: usize,
    answer: fn(&str) -> &'static str,
) -> std::thread::JoinHandle<Vec<String>> {
    let l = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..n {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut got = String::new();
            // Requests here are one line (PRE, PASSWD) or end with the password line.
            while !(got.ends_with('\n')
                && (!got.contains("AUTH ") || got.matches('\n').count() >= 6))
            {
                let k = c.read(&mut buf).unwrap();
                if k == 0 {
                    break;
                }
                got.push_str(&String::from_utf8_lossy(&buf[..k]));
            }
            c.write_all(answer(&got).as_bytes()).unwrap();
            seen.push(got);
        }
        seen
    })
}

fn authtest(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authtest"))
        .args(args)
        .env("AUTHDAEMON_SOCKET", dir.join("socket"))
        .env("AUTHDAEMONRC", dir.join("authdaemonrc"))
        .env_remove("TCPREMOTEIP")
        .env_remove("DEBUG_LOGIN")
        .env_remove("DEFDOMAIN")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ALICE: &str = "UID=5000\nGID=5000\nHOME=/home/alice\nADDRESS=alice\nPASSWD=x\n.\n";

#[test]
fn pre_success_prints_record_and_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let d = daemon(&t.path().join("socket"), 1, |_| ALICE);
    let o = authtest(t.path(), &["-s", "imap", "alice"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&o.stdout),
        "Authentication succeeded.\n\n     Authenticated: alice  (uid 5000, gid 5000)\n    \
         Home Directory: /home/alice\n           Maildir: (none)\n             Quota: (none)\n\
         Encrypted Password: x\nCleartext Password: (none)\n           Options: (none)\n"
    );
    assert_eq!(d.join().unwrap(), ["TCPREMOTEIP=::1\nPRE . imap alice\n"]);
}

#[test]
fn wrong_password_prints_eperm_and_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let d = daemon(&t.path().join("socket"), 1, |_| "FAIL\n");
    let o = authtest(t.path(), &["alice", "bad"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(o.stdout, b"");
    assert_eq!(
        text(&o.stderr),
        "Authentication FAILED: Operation not permitted\n"
    );
    assert_eq!(
        d.join().unwrap(),
        ["TCPREMOTEIP=::1\nAUTH 22\nlogin\nlogin\nalice\nbad\n"]
    );
}

#[test]
fn missing_socket_names_the_error_and_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let o = authtest(t.path(), &["alice"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr)
            .starts_with("ERR: authdaemon: s_connect() failed: No such file or directory\n"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn verbose_wrong_password_names_the_module_that_has_the_account() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("authdaemonrc"),
        "authmodulelist=\"authuserdb authpam\"\n",
    )
    .unwrap();
    let d = daemon(&t.path().join("socket"), 3, |req| {
        if req.contains("PRE authpam ") {
            ALICE
        } else {
            "FAIL\n"
        }
    });
    let o = authtest(t.path(), &["-v", "-s", "imap", "alice", "bad"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("Authentication FAILED: Operation not permitted\nauthtest: "),
        "{err}"
    );
    assert!(
        err.contains("authtest: module authuserdb: does not know the account\n"),
        "{err}"
    );
    assert!(
        err.contains("authtest: module authpam: has the account\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "module authpam: the password does not match the stored hash for service 'imap'\n"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "the account exists in authpam, which rejected the password for service 'imap'"
        ),
        "{err}"
    );
    let seen = d.join().unwrap();
    assert_eq!(seen[1], "TCPREMOTEIP=::1\nPRE authuserdb imap alice\n");
}

#[test]
fn verbose_pre_success_names_the_answering_module() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("authdaemonrc"),
        "authmodulelist=\"authuserdb\"\n",
    )
    .unwrap();
    let d = daemon(&t.path().join("socket"), 2, |_| ALICE);
    let o = authtest(t.path(), &["-v", "alice"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).starts_with("Authentication succeeded.\n"));
    assert!(
        text(&o.stderr).ends_with("authtest: answered by module authuserdb\n"),
        "{}",
        text(&o.stderr)
    );
    d.join().unwrap();
}

#[test]
fn verbose_login_names_the_module_whose_hash_matches() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("authdaemonrc"),
        "authmodulelist=\"authuserdb authpam\"\n",
    )
    .unwrap();
    // Both modules know alice; only authpam's hash is of "secret".
    let d = daemon(&t.path().join("socket"), 3, |req| {
        if req.contains("PRE authpam ") {
            "USERNAME=alice\nGID=100\nHOME=/h\nADDRESS=alice\nPASSWD=$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0\n.\n"
        } else {
            ALICE
        }
    });
    let o = authtest(t.path(), &["-v", "alice", "secret"]);
    assert_eq!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(
        err.ends_with("authtest: password accepted by module authpam\n"),
        "{err}"
    );
    d.join().unwrap();
}
