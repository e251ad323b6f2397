//! The program's exit codes: 0 after a session, 1 when the maildir cannot be
//! entered (as Courier's).

use std::io::Write;
use std::process::{Command, Stdio};

fn run(dir: &std::path::Path, input: &[u8]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_courierpop3d"))
        .arg(dir)
        .env("AUTHENTICATED", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The program may exit before reading its input (a missing maildir): a broken
    // pipe here is expected, the exit code and output are what the tests check.
    let _ = child.stdin.take().unwrap().write_all(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn session_on_an_empty_maildir_exits_0() {
    let t = tempfile::tempdir().unwrap();
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir(t.path().join(d)).unwrap();
    }
    let (code, out) = run(t.path(), b"STAT\r\nQUIT\r\n");
    assert_eq!(code, Some(0));
    assert_eq!(out, "+OK logged in.\r\n+OK 0 0\r\n+OK Bye-bye.\r\n");
}

#[test]
fn missing_maildir_exits_1() {
    let t = tempfile::tempdir().unwrap();
    let (code, out) = run(&t.path().join("nope"), b"STAT\r\n");
    assert_eq!(code, Some(1));
    assert!(
        out.starts_with("-ERR chdir ") && out.ends_with(" failed\n"),
        "{out}"
    );
}
