//! authpasswd as a program: outputs and exit codes, against Debian's
//! /usr/sbin/authpasswd where the output is deterministic.

// One pty harness for both password tools.
#[path = "../../userdbpw/tests/support/pty.rs"]
mod pty;

use courier_pwcrypt::{crypt, verify, verify_bytes};
use pty::Pty;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const OURS: &str = env!("CARGO_BIN_EXE_authpasswd");
const DEBIAN: &str = "/usr/sbin/authpasswd";

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
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stderr.is_empty(), "{o:?}");
    let s = String::from_utf8(o.stdout.clone()).unwrap();
    s.strip_suffix('\n').expect("one line").to_owned()
}

#[test]
fn unsalted_methods_match_debian_exactly() {
    let theirs = debian();
    let methods = [
        "md5",
        "MD5",
        "md5}x",
        "md5raw",
        "Md5Raw",
        "sha",
        "SHA",
        "sha}",
        "sha256",
        "sha256}zz",
        "SHA512",
        "sha512",
    ];
    for m in methods {
        for input in [
            &b"secret\nsecret\n"[..],
            b"\n",
            b"a\0b\n",
            b"secret\r\n",
            b"\xff\n",
        ] {
            let ours = line(&run(OURS, &[m], input));
            if let Some(d) = theirs {
                assert_eq!(ours, line(&run(d, &[m], input)), "{m} {input:?}");
            }
        }
    }
    // authdaemon-protocol.md §7.1 examples.
    for (m, want) in [
        ("sha", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="),
        (
            "sha256",
            "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
        ),
        ("md5", "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ=="),
        ("md5raw", "{MD5RAW}5ebe2294ecd0e0f08eab7690d2a6ee69"),
    ] {
        assert_eq!(line(&run(OURS, &[m], b"secret\n")), want);
    }
}

#[test]
fn unknown_methods_fall_back_to_ssha_like_debian() {
    let theirs = debian();
    for args in [
        &["ssha"][..],
        &["SsHa"],
        &["sha1"],
        &["crypt"],
        &["des"],
        &[""],
        &["$1$"],
        &["{MD5}"],
        &["--help"],
    ] {
        let h = line(&run(OURS, args, b"secret\n"));
        assert!(h.starts_with("{SSHA}") && h.len() == 38, "{args:?}: {h}");
        assert!(verify("secret", &h) && !verify("secreT", &h));
        if let Some(d) = theirs {
            let t = line(&run(d, args, b"secret\n"));
            assert!(
                t.starts_with("{SSHA}") && t.len() == 38,
                "Debian {args:?}: {t}"
            );
            assert!(verify("secret", &t), "Debian's {t}");
        }
    }
}

#[test]
fn only_the_first_argument_counts() {
    assert_eq!(
        line(&run(OURS, &["md5", "sha256", "extra"], b"secret\n")),
        "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ=="
    );
}

#[test]
fn default_is_md5_crypt_with_5_char_salt_verifiable_both_ways() {
    for pw in ["secret", "", "p\u{e4}ss"] {
        let h = line(&run(OURS, &[], format!("{pw}\n").as_bytes()));
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts.len(), 4, "{h}");
        assert_eq!(
            (parts[1], parts[2].len(), parts[3].len()),
            ("1", 5, 22),
            "{h}"
        );
        // libxcrypt's $1$ (Courier-side), independent of our pure-Rust MD5-crypt.
        assert_eq!(crypt(pw, &h).as_deref(), Some(h.as_str()));
        if let Some(d) = debian() {
            let t = line(&run(d, &[], format!("{pw}\n").as_bytes()));
            assert!(t.starts_with("$1$") && verify(pw, &t), "Debian's {t}");
        }
    }
    let h = line(&run(OURS, &[], b"\xfe\xff\n"));
    assert!(verify_bytes(b"\xfe\xff", &h));
}

#[test]
fn eof_before_any_byte_exits_1_silently() {
    for args in [&[][..], &["md5"], &["ssha"]] {
        let o = run(OURS, args, b"");
        assert_eq!(
            (o.status.code(), o.stdout.len(), o.stderr.len()),
            (Some(1), 0, 0)
        );
        if let Some(d) = debian() {
            let t = run(d, args, b"");
            assert_eq!(
                (t.status.code(), t.stdout.len(), t.stderr.len()),
                (Some(1), 0, 0)
            );
        }
    }
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
fn terminal_dialogue_matches_debian() {
    let lines: &[&[u8]] = &[b"secret\n", b"other\n", b"secret\n", b"secret\n"];
    let want = "Password: \r\nReenter password: \r\nPasswords don't match.\r\n\r\n\
                Password: \r\nReenter password: \r\n{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==\r\n";
    let (shown, code, echo) = dialogue(OURS, &["md5"], lines);
    assert_eq!((shown.as_str(), code, echo), (want, Some(0), true));
    if let Some(d) = debian() {
        let (theirs, code, _) = dialogue(d, &["md5"], lines);
        assert_eq!((theirs.as_str(), code), (want, Some(0)));
    }
}

#[test]
fn terminal_eof_at_first_prompt_exits_1() {
    let (shown, code, echo) = dialogue(OURS, &["md5"], &[b"\x04"]);
    assert_eq!((shown.as_str(), code, echo), ("Password: ", Some(1), true));
    if let Some(d) = debian() {
        let (theirs, code, _) = dialogue(d, &["md5"], &[b"\x04"]);
        assert_eq!((theirs.as_str(), code), ("Password: ", Some(1)));
    }
}
