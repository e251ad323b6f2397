//! imapd and hostile or broken input: every case gets a clear tagged answer (or
//! works), the process never panics, never hangs, and stays within its memory
//! limit.

use e2e::imapkit::ImapdProcess as Imap;
use e2e::{Scratch, ours};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Our imapd (or `cmd`, a wrapper around it) in `home`, past its greeting.
fn start_cmd(cmd: Command, home: &Path) -> Imap {
    let mut c = Imap::spawn(cmd, home, &[]);
    let g = c.line();
    assert_eq!(g, "* PREAUTH Ready.\r\n");
    c
}

fn start(home: &Path) -> Imap {
    let mut cmd = Command::new(ours("imapd"));
    cmd.arg("Maildir");
    start_cmd(cmd, home)
}

fn last(v: &[String]) -> &str {
    v.last().map(String::as_str).unwrap_or("")
}

fn maildir(tag: &str) -> (Scratch, PathBuf) {
    let s = Scratch::new(tag);
    let m = s.join("Maildir");
    for d in ["", "tmp", "new", "cur"] {
        std::fs::create_dir_all(m.join(d)).unwrap();
    }
    (s, m)
}

#[test]
fn unknown_commands_and_bad_arguments_get_tagged_answers() {
    let (s, _m) = maildir("imapd-bad-cmd");
    let mut c = start(s.path());
    for (tag, text) in [
        ("a1", "FROBNICATE"),
        ("a3", "FETCH 1 (FLAGS"),
        ("a4", "SEARCH (ALL"),
        ("a5", "STORE 1 +FLAGS (\\Seen"),
        ("a6", "FETCH 1 BODY[HEADER.FIELDS ()]"),
    ] {
        let r = c.cmd(tag, text);
        assert_eq!(
            last(&r),
            format!("{tag} NO Error in IMAP command received by server.\r\n"),
            "{text}"
        );
    }
    // A missing or malformed mailbox argument: BAD, as Courier answers.
    for (tag, text) in [
        ("m1", "SELECT"),
        ("m2", "LIST \"unterminated"),
        ("m3", "COPY 1"),
        ("m4", "RENAME INBOX.a"),
    ] {
        let r = c.cmd(tag, text);
        assert_eq!(last(&r), format!("{tag} BAD Invalid command\r\n"), "{text}");
    }
    // No selected folder.
    assert!(last(&c.cmd("b1", "FETCH 1 FLAGS")).starts_with("b1 NO"));
    // An untagged line gets an answer on `*`.
    c.send(b"\r\n");
    assert_eq!(
        c.line(),
        "* NO Error in IMAP command received by server.\r\n"
    );
    assert_eq!(last(&c.cmd("ok", "NOOP")), "ok OK NOOP completed\r\n");
    // Binary garbage.
    c.send(b"\x00\xff\x01 \x7f{}()\"\\\r\n");
    assert!(c.line().contains("NO Error in IMAP command"));
    // Ten protocol errors in a row end the session.
    for i in 0..9 {
        c.send(format!("e{i} BOGUS\r\n").as_bytes());
    }
    let mut lines = Vec::new();
    for _ in 0..10 {
        lines.push(c.line());
        if lines.last().unwrap().starts_with("* BYE") {
            break;
        }
    }
    assert_eq!(
        lines.last().unwrap(),
        "* BYE [ALERT] Fatal error: TOO MANY CONSECUTIVE PROTOCOL VIOLATIONS: \r\n"
    );
    c.finish();
}

#[test]
fn a_one_megabyte_line_of_sequence_numbers_works() {
    let (s, m) = maildir("imapd-bad-longline");
    for i in 0..50 {
        std::fs::write(
            m.join("cur").join(format!("100{i:03}.M1P1.h,S=5:2,")),
            "x: y\n",
        )
        .unwrap();
    }
    let mut c = start(s.path());
    c.cmd("a", "SELECT INBOX");
    let mut line = b"b UID FETCH ".to_vec();
    let mut n = 1u64;
    while line.len() < 1 << 20 {
        line.extend_from_slice(format!("{n},").as_bytes());
        n += 7;
    }
    line.extend_from_slice(b"3 (FLAGS)\r\n");
    c.send(&line);
    let r = c.until("b");
    assert_eq!(last(&r), "b OK FETCH completed.\r\n");
    assert!(r.len() > 5, "{r:?}");
    let mut line = b"c SEARCH UID ".to_vec();
    while line.len() < 1 << 20 {
        line.extend_from_slice(b"1:2,");
    }
    line.extend_from_slice(b"9\r\n");
    c.send(&line);
    let r = c.until("c");
    assert_eq!(r[0], "* SEARCH 1 2 9\r\n");
    c.finish();
}

#[test]
fn oversized_literals_are_refused_without_reading_them() {
    let (s, m) = maildir("imapd-bad-literal");
    let mut cmd = Command::new(ours("imapd"));
    cmd.arg("Maildir").env("IMAP_MAXMESSAGESIZE", "1000");
    let mut c = start_cmd(cmd, s.path());
    // A synchronising literal over the limit: no "+", a tagged NO, and the next
    // line is a command again.
    c.send(b"a APPEND INBOX {5000}\r\n");
    let l = c.line();
    assert!(l.starts_with("a NO"), "{l}");
    assert_eq!(last(&c.cmd("b", "NOOP")), "b OK NOOP completed\r\n");
    // A literal in any other command beyond the in-memory limit (1 MiB).
    c.send(b"c SELECT {99999999999}\r\n");
    let l = c.line();
    assert!(l.starts_with("c NO"), "{l}");
    assert_eq!(last(&c.cmd("d", "NOOP")), "d OK NOOP completed\r\n");
    // A non-synchronising literal over the limit: its bytes are skipped, never
    // parsed as commands.
    let mut big = b"e APPEND INBOX {2000+}\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 1990));
    big.extend_from_slice(b"\r\nz NOOP\r\n");
    big.extend_from_slice(b"\r\n");
    c.send(&big);
    let l = c.line();
    assert!(l.starts_with("e NO"), "{l}");
    assert_eq!(last(&c.cmd("f", "NOOP")), "f OK NOOP completed\r\n");
    assert_eq!(std::fs::read_dir(m.join("cur")).unwrap().count(), 0);
    // LITERAL+ within limits works.
    c.send(b"g APPEND INBOX {6+}\r\nab\r\ncd\r\n");
    let r = c.until("g");
    assert!(last(&r).starts_with("g OK [APPENDUID"), "{r:?}");
    // A second message after the first (MULTIAPPEND is not offered): refused,
    // and the bytes of its literal are not taken for a command.
    c.send(b"m APPEND INBOX {3+}\r\nabc (\\Seen) {10+}\r\nz LOGOUT\r\n\r\n");
    assert_eq!(
        last(&c.until("m")),
        "m NO Error in IMAP command received by server.\r\n"
    );
    assert_eq!(last(&c.cmd("m2", "NOOP")), "m2 OK NOOP completed\r\n");
    // A literal mailbox name.
    c.send(b"h CREATE {7+}\r\nINBOX.x\r\n");
    assert_eq!(last(&c.until("h")), "h OK \"INBOX.x\" created.\r\n");
    c.finish();
}

#[test]
fn bad_mailbox_names_are_refused() {
    let (s, m) = maildir("imapd-bad-names");
    let outside = s.join("outside");
    for d in ["", "tmp", "new", "cur"] {
        std::fs::create_dir_all(outside.join(d)).unwrap();
    }
    std::fs::write(
        outside.join("cur/1.M1P1.h:2,"),
        "Subject: secret\n\nsecret\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, m.join(".Evil")).unwrap();
    let mut c = start(s.path());
    for (i, name) in [
        "INBOX..x",
        "INBOX.a/b",
        "INBOX..",
        "INBOX./etc",
        "INBOX.&Jjo",
        "INBOX.&AGE-",
        "../x",
    ]
    .iter()
    .enumerate()
    {
        let tag = format!("c{i}");
        let r = c.cmd(&tag, &format!("CREATE \"{name}\""));
        assert!(last(&r).starts_with(&format!("{tag} NO")), "{name}: {r:?}");
        let r = c.cmd(&tag, &format!("SELECT \"{name}\""));
        assert!(last(&r).starts_with(&format!("{tag} NO")), "{name}: {r:?}");
    }
    // NUL in a literal name.
    c.send(b"n CREATE {9+}\r\nINBOX.a\0b\r\n");
    assert!(last(&c.until("n")).starts_with("n NO"));
    // A symlink out of the maildir is neither listed nor opened.
    let r = c.cmd("l", "LIST \"\" *");
    assert!(!r.iter().any(|l| l.contains("Evil")), "{r:?}");
    assert!(last(&c.cmd("s", "SELECT INBOX.Evil")).starts_with("s NO"));
    assert!(last(&c.cmd("t", "STATUS INBOX.Evil (MESSAGES)")).starts_with("t NO"));
    assert!(last(&c.cmd("u", "DELETE INBOX.Evil")).starts_with("u NO"));
    assert!(outside.join("cur/1.M1P1.h:2,").exists());
    // Nothing was created outside the maildir.
    assert!(!s.join("x").exists() && !s.join("etc").exists());
    c.finish();
}

#[test]
fn a_message_that_vanishes_is_reported_not_fatal() {
    let (s, m) = maildir("imapd-bad-vanish");
    for i in 0..3 {
        std::fs::write(
            m.join("cur").join(format!("10{i}.M1P1.h,S=5:2,")),
            format!("S: {i}\n\nbody\n"),
        )
        .unwrap();
    }
    let mut c = start(s.path());
    c.cmd("a", "SELECT INBOX");
    std::fs::remove_file(m.join("cur/101.M1P1.h,S=5:2,")).unwrap();
    // Renamed by someone else: still found.
    std::fs::rename(
        m.join("cur/102.M1P1.h,S=5:2,"),
        m.join("cur/102.M1P1.h,S=5:2,S"),
    )
    .unwrap();
    let r = c.cmd("b", "FETCH 1:3 (BODY[] ENVELOPE)");
    assert!(
        r.iter()
            .any(|l| l.starts_with("* NO Cannot open message 2")),
        "{r:?}"
    );
    assert!(r.iter().any(|l| l.starts_with("* 3 FETCH")), "{r:?}");
    assert_eq!(last(&r), "b OK FETCH completed.\r\n");
    let r = c.cmd("c", "STORE 2 +FLAGS (\\Flagged)");
    assert!(last(&r).starts_with("c OK"), "{r:?}");
    let r = c.cmd("d", "SEARCH BODY body");
    assert_eq!(r[0], "* SEARCH 1 3\r\n");
    let r = c.cmd("e", "NOOP");
    assert!(r.contains(&"* 2 EXPUNGE\r\n".to_string()), "{r:?}");
    c.finish();
}

/// 200,000 messages: empty files and a prebuilt uiddb, under an address-space
/// limit like IMAP_ULIMITD.
#[test]
fn a_folder_of_200000_messages_within_the_memory_limit() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        e2e::skip(
            "a_folder_of_200000_messages_within_the_memory_limit",
            "prlimit not installed",
        );
        return;
    }
    // tmpfs when there is one: 200,000 files on a loaded disk take tens of seconds.
    let shm = ShmDir::new("imapd-bad-huge");
    let (_keep, home): (Option<Scratch>, PathBuf) = match &shm {
        Some(d) => (None, d.0.clone()),
        None => {
            let s = Scratch::new("imapd-bad-huge");
            let p = s.path().to_path_buf();
            (Some(s), p)
        }
    };
    let m = home.join("Maildir");
    for d in ["", "tmp", "new", "cur"] {
        std::fs::create_dir_all(m.join(d)).unwrap();
    }
    const N: u32 = 200_000;
    let mut db = String::from("1 795000000 200001\n");
    for i in 1..=N {
        let base = format!("1700000000.M{i}P1.h");
        std::fs::File::create(m.join("cur").join(format!("{base}:2,S"))).unwrap();
        db.push_str(&format!("{i} {base}\n"));
    }
    std::fs::write(m.join("courierimapuiddb"), db).unwrap();
    let mut cmd = Command::new("prlimit");
    // Courier's default IMAP_ULIMITD: 131072 KiB.
    cmd.arg(format!("--as={}", 131_072u64 * 1024))
        .arg(ours("imapd"))
        .arg("Maildir");
    let mut c = start_cmd(cmd, &home);
    let r = c.cmd("a", "SELECT INBOX");
    assert!(r.contains(&"* 200000 EXISTS\r\n".to_string()), "{r:?}");
    assert!(
        r.contains(&"* OK [UIDVALIDITY 795000000] Ok\r\n".to_string()),
        "{r:?}"
    );
    let r = c.cmd("b", "FETCH 199999:* (UID FLAGS)");
    assert_eq!(r[0], "* 199999 FETCH (UID 199999 FLAGS (\\Seen))\r\n");
    let r = c.cmd("c", "UID SEARCH UID 150000:150002");
    assert_eq!(r[0], "* SEARCH 150000 150001 150002\r\n");
    let r = c.cmd("d", "STATUS INBOX (MESSAGES UIDNEXT)");
    assert_eq!(
        r[0],
        "* STATUS \"INBOX\" (MESSAGES 200000 UIDNEXT 200001)\r\n"
    );
    assert_eq!(last(&c.cmd("e", "NOOP")), "e OK NOOP completed\r\n");
    c.finish();
}

/// A private directory on /dev/shm, removed on drop.
struct ShmDir(PathBuf);

impl ShmDir {
    fn new(tag: &str) -> Option<ShmDir> {
        use std::os::unix::fs::DirBuilderExt;
        let base = Path::new("/dev/shm");
        if !base.is_dir() {
            return None;
        }
        let p = base.join(format!("e2e-{tag}-{}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&p).ok()?;
        Some(ShmDir(p))
    }
}

impl Drop for ShmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A 60 MB message under the default IMAP_ULIMITD (128 MiB): the whole message,
/// its text and its size are streamed, its structure is refused, nothing aborts.
#[test]
fn a_huge_message_is_streamed_within_the_memory_limit() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        e2e::skip(
            "a_huge_message_is_streamed_within_the_memory_limit",
            "prlimit not installed",
        );
        return;
    }
    let (s, m) = maildir("imapd-bad-bigmsg");
    let mut body = b"From: a@b\nSubject: big\n\n".to_vec();
    let line = [b'x'; 99];
    while body.len() < 60 << 20 {
        body.extend_from_slice(&line);
        body.push(b'\n');
    }
    let lines = body.iter().filter(|&&c| c == b'\n').count();
    std::fs::write(m.join("cur/1.M1P1.h:2,"), &body).unwrap();
    let total = body.len() + body.iter().filter(|&&c| c == b'\n').count();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={}", 131_072u64 * 1024))
        .arg(ours("imapd"))
        .arg("Maildir");
    let mut c = start_cmd(cmd, s.path());
    c.cmd("a", "SELECT INBOX");
    let r = c.cmd(
        "b",
        "FETCH 1 (RFC822.SIZE BODY.PEEK[]<0.20> BODY.PEEK[TEXT]<0.5>)",
    );
    assert_eq!(
        r[0],
        format!("* 1 FETCH (RFC822.SIZE {total} BODY[]<0> {{20}}\r\n")
    );
    assert_eq!(r[1], "From: a@b\r\n");
    assert_eq!(r[2], "Subject:  BODY[TEXT]<0> {5}\r\n");
    let r = c.cmd("c", "FETCH 1 BODY[]");
    assert_eq!(r[0], format!("* 1 FETCH (BODY[] {{{total}}}\r\n"));
    assert_eq!(r.len(), 1 + lines + 3, "{:?}", &r[r.len() - 3..]);
    assert!(
        r.iter()
            .any(|l| l == "* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n")
    );
    let r = c.cmd("d", "FETCH 1 BODYSTRUCTURE");
    assert_eq!(
        r[0],
        "* NO Message 1 is too large to show its structure.\r\n"
    );
    assert_eq!(last(&c.cmd("e", "NOOP")), "e OK NOOP completed\r\n");
    c.finish();
}
