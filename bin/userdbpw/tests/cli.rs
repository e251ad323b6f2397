//! userdbpw as a program: outputs, messages and exit codes, against Debian's
//! /usr/sbin/userdbpw where the output is deterministic.

mod support {
    pub mod pty;
}

use courier_pwcrypt::{CramAlg, crypt, hmac_secret_bytes, verify, verify_bytes};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::pty::Pty;

const OURS: &str = env!("CARGO_BIN_EXE_userdbpw");
const DEBIAN: &str = "/usr/sbin/userdbpw";

fn debian() -> Option<&'static str> {
    if Path::new(DEBIAN).exists() {
        Some(DEBIAN)
    } else {
        println!("SKIP: {DEBIAN} not installed, differential part skipped");
        None
    }
}

fn run(prog: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The program may stop reading after one line; a broken pipe is fine.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Inputs whose handling must match fgets + C strings: CR kept, NUL cuts, only the
/// first line, at most 8191 bytes, bytes not UTF-8.
fn tricky_inputs() -> Vec<(Vec<u8>, Vec<u8>)> {
    let a = |n: usize| vec![b'a'; n];
    let mut long = a(9000);
    long.push(b'\n');
    let mut exact = a(8191);
    exact.push(b'\n');
    vec![
        (b"secret\n".to_vec(), b"secret".to_vec()),
        (b"secret".to_vec(), b"secret".to_vec()),
        (b"\n".to_vec(), b"".to_vec()),
        (b"secret\r\n".to_vec(), b"secret\r".to_vec()),
        (b"a b\n".to_vec(), b"a b".to_vec()),
        (b"ab\0cd\n".to_vec(), b"ab".to_vec()),
        (b"secret\nother\n".to_vec(), b"secret".to_vec()),
        (b"\xff\xfe\xe9\n".to_vec(), b"\xff\xfe\xe9".to_vec()),
        (exact, a(8191)),
        (long, a(8191)),
    ]
}

#[test]
fn hmac_secrets_are_courier_s_for_tricky_inputs() {
    let theirs = debian();
    for alg in CramAlg::ALL {
        let opt = format!("-hmac-{}", alg.name());
        for (input, password) in tricky_inputs() {
            let o = run(OURS, &[&opt], &input);
            let want = format!("{}\n", hmac_secret_bytes(alg, &password));
            assert_eq!((o.status.code(), text(&o.stdout)), (Some(0), want.clone()));
            assert!(o.stderr.is_empty());
            if let Some(d) = theirs {
                let t = run(d, &[&opt], &input);
                assert_eq!(text(&t.stdout), want, "Debian differs: {opt} {input:?}");
            }
        }
    }
}

#[test]
fn secret_gives_the_documented_secrets() {
    // authdaemon-protocol.md §8.2.
    let o = run(OURS, &["-hmac-md5"], b"secret\n");
    assert_eq!(
        text(&o.stdout),
        "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56\n"
    );
    let o = run(OURS, &["-md5", "-hmac-sha1"], b"secret\n");
    assert_eq!(
        text(&o.stdout),
        "091e0f4c6cb5277ee2beb639a60d0831b5c8adcdaee172433df3e96ba4f00fb1b6a490c3929d2034\n"
    );
}

#[test]
fn option_precedence_matches_debian() {
    let cases: &[&[&str]] = &[
        &["-hmac-md5", "-md5"],
        &["-md5", "-hmac-md5"],
        &["-hmac-md5", "-hmac-sha1"],
        &["-hmac-sha1", "-hmac-md5"],
        &["-hmac-sha256", "-md5", "-md5"],
    ];
    let theirs = debian();
    for args in cases {
        let o = run(OURS, args, b"pw\n");
        assert_eq!(o.status.code(), Some(0));
        if let Some(d) = theirs {
            assert_eq!(
                text(&o.stdout),
                text(&run(d, args, b"pw\n").stdout),
                "{args:?}"
            );
        }
    }
}

#[test]
fn invalid_argument_is_reported_with_argv0_before_reading() {
    let theirs = debian();
    for args in [
        &["-MD5"][..],
        &["md5"],
        &["-sha256"],
        &["-hmac-"],
        &["-hmac-sha512"],
        &["--"],
        &["-"],
        &["-md5", "bogus"],
        &["--help"],
    ] {
        let o = run(OURS, args, b"secret\n");
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&o.stderr), format!("{OURS}: invalid argument.\n"));
        assert!(o.stdout.is_empty());
        if let Some(d) = theirs {
            let t = run(d, args, b"secret\n");
            assert_eq!(t.status.code(), Some(1));
            assert_eq!(text(&t.stderr), format!("{d}: invalid argument.\n"));
        }
    }
}

#[test]
fn eof_before_any_byte_exits_1_silently() {
    let theirs = debian();
    for args in [&[][..], &["-md5"], &["-hmac-sha256"]] {
        let o = run(OURS, args, b"");
        assert_eq!(
            (o.status.code(), o.stdout.len(), o.stderr.len()),
            (Some(1), 0, 0)
        );
        if let Some(d) = theirs {
            let t = run(d, args, b"");
            assert_eq!(
                (t.status.code(), t.stdout.len(), t.stderr.len()),
                (Some(1), 0, 0)
            );
        }
    }
}

fn is_salt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'/'
}

#[test]
fn default_is_des_crypt_verifiable_both_ways() {
    for pw in ["secret", "", "longer than eight", "p\u{e4}ss"] {
        let o = run(OURS, &[], format!("{pw}\n").as_bytes());
        assert_eq!(o.status.code(), Some(0));
        let h = text(&o.stdout);
        let h = h.trim_end_matches('\n');
        assert_eq!(h.len(), 13, "{h}");
        assert!(h.bytes().all(is_salt_char), "{h}");
        // libxcrypt, which Debian's Courier calls, agrees.
        assert_eq!(crypt(pw, h).as_deref(), Some(h));
        assert!(verify(pw, h));
        if let Some(d) = debian() {
            let t = text(&run(d, &[], format!("{pw}\n").as_bytes()).stdout);
            assert!(verify(pw, t.trim_end()), "Debian's {t}");
        }
    }
}

#[test]
fn md5_is_md5_crypt_with_8_char_salt_verifiable_both_ways() {
    for pw in ["secret", "", "p\u{e4}ss"] {
        let o = run(OURS, &["-md5"], format!("{pw}\n").as_bytes());
        let h = text(&o.stdout);
        let h = h.trim_end_matches('\n');
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts.len(), 4, "{h}");
        assert_eq!((parts[0], parts[1]), ("", "1"));
        assert_eq!((parts[2].len(), parts[3].len()), (8, 22), "{h}");
        assert!(parts[2].bytes().chain(parts[3].bytes()).all(is_salt_char));
        // Our output through libxcrypt's $1$ (not our pure-Rust MD5-crypt).
        assert_eq!(crypt(pw, h).as_deref(), Some(h));
        if let Some(d) = debian() {
            let t = text(&run(d, &["-md5"], format!("{pw}\n").as_bytes()).stdout);
            assert!(verify(pw, t.trim_end()), "Debian's {t}");
        }
    }
    // Bytes that are not UTF-8 go through unchanged.
    let o = run(OURS, &["-md5"], b"\xff\xfe\n");
    assert!(verify_bytes(b"\xff\xfe", text(&o.stdout).trim_end()));
}

fn dialogue(prog: &str, args: &[&str], lines: &[&[u8]]) -> (String, Option<i32>, bool) {
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let mut t = Pty::spawn(cmd);
    let mut prompts = ["Password: ", "Reenter password: "].iter().cycle();
    for line in lines {
        t.expect(prompts.next().unwrap());
        t.send(line);
    }
    t.finish()
}

#[test]
fn terminal_dialogue_prompts_twice_without_echo() {
    let (shown, code, _) = dialogue(OURS, &["-hmac-md5"], &[b"secret\n", b"secret\n"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        shown,
        "Password: \r\nReenter password: \r\n\
         cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56\r\n"
    );
    if let Some(d) = debian() {
        let (theirs, code, _) = dialogue(d, &["-hmac-md5"], &[b"secret\n", b"secret\n"]);
        assert_eq!((theirs, code), (shown, Some(0)));
    }
}

#[test]
fn terminal_mismatch_asks_again() {
    let lines: &[&[u8]] = &[b"secret\n", b"other\n", b"x\n", b"x\n"];
    let (shown, code, _) = dialogue(OURS, &["-hmac-sha1"], lines);
    assert_eq!(code, Some(0));
    let want = format!(
        "Password: \r\nReenter password: \r\nPasswords don't match.\r\n\r\n\
         Password: \r\nReenter password: \r\n{}\r\n",
        hmac_secret_bytes(CramAlg::Sha1, b"x")
    );
    assert_eq!(shown, want);
    if let Some(d) = debian() {
        assert_eq!(dialogue(d, &["-hmac-sha1"], lines).0, want);
    }
}

#[test]
fn terminal_eof_at_second_prompt_exits_1_and_restores_echo() {
    // ^D on an empty line is EOF for a canonical-mode terminal.
    let (shown, code, echo) = dialogue(OURS, &[], &[b"abc\n", b"\x04"]);
    assert_eq!(
        (shown.as_str(), code),
        ("Password: \r\nReenter password: ", Some(1))
    );
    assert!(echo, "echo left off");
    if let Some(d) = debian() {
        let (theirs, code, _) = dialogue(d, &[], &[b"abc\n", b"\x04"]);
        assert_eq!((theirs, code), (shown, Some(1)));
    }
}

#[test]
fn des_of_an_over_long_password_is_an_error_not_a_locked_hash() {
    // libxcrypt refuses passphrases of 512 bytes or more. Debian's userdbpw then
    // prints crypt's failure token "*0" and exits 0; we say so and exit 1.
    let input = format!("{}\n", "a".repeat(600));
    let o = run(OURS, &[], input.as_bytes());
    assert_eq!((o.status.code(), o.stdout.len()), (Some(1), 0));
    assert!(text(&o.stderr).starts_with(&format!("{OURS}: password unusable")));
    if let Some(d) = debian() {
        let t = run(d, &[], input.as_bytes());
        assert_eq!((t.status.code(), text(&t.stdout)), (Some(0), "*0\n".into()));
    }
    // MD5-crypt has no such limit.
    let o = run(OURS, &["-md5"], input.as_bytes());
    assert!(verify(&"a".repeat(600), text(&o.stdout).trim_end()));
}
