//! authenumerate as a program, against a scripted daemon on a temporary socket
//! (`AUTHDAEMON_SOCKET`). Byte-for-byte comparison with Debian's authenumerate
//! is in tests/tests/auth_clients.rs.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output};

fn daemon(socket: &Path, reply: &'static [u8]) -> std::thread::JoinHandle<Vec<u8>> {
    let l = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf).unwrap();
        c.write_all(reply).unwrap();
        buf[..n].to_vec()
    })
}

fn authenumerate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authenumerate"))
        .args(args)
        .env("AUTHDAEMON_SOCKET", dir.join("socket"))
        .output()
        .unwrap()
}

const LIST: &[u8] = b"# authuserdb\n\nalice\t5000\t5000\t/h/a\t/h/a/Maildir\tdisableshared=1\n\
bob\t5001\t5000\t/h/b\t\t\nroot\t0\t0\t/root\t\t\n.\n";

#[test]
fn complete_list_prints_entries_and_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let d = daemon(&t.path().join("socket"), LIST);
    let o = authenumerate(t.path(), &["-o"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "alice\t5000\t5000\t/h/a\t/h/a/Maildir\tdisableshared=1\nbob\t5001\t5000\t/h/b\t\t\n"
    );
    assert_eq!(d.join().unwrap(), b"ENUMERATE\n");
}

#[test]
fn shared_only_omits_disableshared_accounts() {
    let t = tempfile::tempdir().unwrap();
    let d = daemon(&t.path().join("socket"), LIST);
    let o = authenumerate(t.path(), &["-s"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "bob\t5001\t5000\t/h/b\t\n"
    );
    d.join().unwrap();
}

#[test]
fn list_without_final_dot_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let d = daemon(&t.path().join("socket"), &LIST[..LIST.len() - 2]);
    let o = authenumerate(t.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("alice\t5000"));
    d.join().unwrap();
}

#[test]
fn bad_option_prints_usage_and_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let o = authenumerate(t.path(), &["-x"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(o.stderr, b"Usage: authenumerate [-s] [-o]\n");
}
