//! userdb-test-cram-md5 as a program, byte for byte against Debian's Perl script.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const OURS: &str = env!("CARGO_BIN_EXE_userdb-test-cram-md5");
const DEBIAN: &str = "/usr/sbin/userdb-test-cram-md5";

fn debian() -> Option<&'static str> {
    let ok = Path::new(DEBIAN).exists()
        && Command::new("perl")
            .args(["-MMIME::Base64", "-MDigest::MD5", "-e1"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        Some(DEBIAN)
    } else {
        println!("SKIP: {DEBIAN} or perl with MIME::Base64 not available");
        None
    }
}

fn run(prog: &str, input: &[u8]) -> Output {
    let mut child = Command::new(prog)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

const HEAD: &str = "Username? Password? Send: AUTH CRAM-MD5 (or for imap, A AUTHENTICATE CRAM-MD5)\n\
                    Paste the challenge here:\n+ Send this response:\n";

#[test]
fn rfc2195_example_gives_rfc_response() {
    let o = run(
        OURS,
        b"tim\ntanstaaftanstaaf\nPDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\n",
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty());
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("{HEAD}dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\n\n")
    );
}

#[test]
fn lenient_challenge_decoding_matches_observed_debian_output() {
    // Observed with Debian's script for user "u", password "p".
    for (challenge, response) in [
        ("abc", "dSA4ZjFhNmY0ZjlmNjc5YWM0NTdhMWNmNmIzYzIzOTRlZA=="),
        ("ab=c", "dSA2YjI2NjA2MjUwMDc5MzRiYTc4YjU3YWYxMTA5ZWRjMQ=="),
        ("!!!", "dSA4NDdiMjNjZjlhZjQzYWM1NjU1NmViMDllYWM1ODZhNQ=="),
        ("YW=Jj", "dSBlMTNhNDIyNWVjOWQ5NTEyNWRhNDUwMTNlZjgwZjM1ZA=="),
        (
            "++ + YWJj",
            "dSBhOTU1MjQyNTdkN2FkOTY1NDk2ZDkzNmY3NDViNzBlMA==",
        ),
        ("YWJjZA", "dSBkNGFkMzNkNWI1YWI1MTIzOGM3ZjY0ZDQwYTAxNzU1OA=="),
        (
            "YWJ=jZGVm",
            "dSAzMTA1OGFiYzJiMTAyZjk3ZTUxNGUzYzk2MjM3ZDEyNg==",
        ),
        (
            "YWJjZGVm====abc",
            "dSBlM2UwNmQ1NjA0MDAyNDgwZGRmNzM3MTEwZWY0ZTMxYg==",
        ),
        (
            "+  +YWJj",
            "dSBkMDEzNzcyOWJkMTdjYWU1NDM0OGNjZTFkNGM0YWYwNA==",
        ),
    ] {
        let o = run(OURS, format!("u\np\n{challenge}\n").as_bytes());
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            format!("{HEAD}{response}\n\n"),
            "{challenge:?}"
        );
    }
}

#[test]
fn eof_reads_as_empty_lines_and_still_exits_0() {
    let o = run(OURS, b"");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("{HEAD}IDc0ZTZmNzI5OGE5YzJkMTY4OTM1ZjU4YzAwMWJhZDg4\n\n")
    );
}

#[test]
fn stdout_is_byte_identical_to_debian() {
    let Some(d) = debian() else { return };
    let long_user = "averyveryveryverylongusername@example.com";
    let inputs: Vec<Vec<u8>> = vec![
        b"tim\ntanstaaftanstaaf\n+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\n"
            .to_vec(),
        format!("{long_user}\npw\n+ PDEyMzRBQkNEQHZtPg==\n").into_bytes(),
        format!("{}\npw\nPDEyMzRBQkNEQHZtPg==\n", long_user.repeat(5)).into_bytes(),
        format!("alice\n{}\nPDEyMzRBQkNEQHZtPg==\n", "k".repeat(64)).into_bytes(),
        format!("alice\n{}\nPDEyMzRBQkNEQHZtPg==\n", "k".repeat(65)).into_bytes(),
        format!("alice\n{}\nPDEyMzRBQkNEQHZtPg==\n", "k".repeat(1000)).into_bytes(),
        b"alice\r\nsecret\r\nPDEyMzRBQkNEQHZtPg==\r\n".to_vec(),
        b"al\0ice\nse\0cret\nPDEy\0MzRBQkNEQHZtPg==\n".to_vec(),
        b"\xff\xfe\n\xe9\nPDEyMzRBQkNEQHZtPg==".to_vec(),
        b"alice\nsecret\n".to_vec(),
        b"alice\n".to_vec(),
        b"\n\n\n".to_vec(),
        b"".to_vec(),
    ];
    for input in inputs {
        let (ours, theirs) = (run(OURS, &input), run(d, &input));
        assert_eq!(ours.status.code(), Some(0));
        assert_eq!(ours.status.code(), theirs.status.code(), "{input:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{input:?}"
        );
        assert!(ours.stderr.is_empty());
    }
}
