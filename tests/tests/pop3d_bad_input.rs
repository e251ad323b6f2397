//! Our courierpop3d under bad input and bad luck: wrong arguments, overlong
//! lines, NUL bytes, messages that vanish or change name under the session, a
//! client that disappears in the middle of a large RETR, SIGKILL, two sessions on
//! one maildir. Every case must end with a clear `-ERR` (or a clean exit) and
//! nothing lost: deletions happen only at QUIT.

use e2e::pop3kit::*;
use e2e::*;
use std::fs;
use std::path::Path;

fn cur_count(m: &Path) -> usize {
    names(&m.join("cur")).len()
}

#[test]
fn wrong_arguments_get_clear_errors_and_the_session_goes_on() {
    let b = Boxes::new("pop3d-args");
    let m = sample_maildir(&b, "m");
    let o = pop3d(
        &our_pop3d(),
        &m,
        &[],
        &script(&[
            "RETR 0",
            "RETR 99",
            "RETR -1",
            "RETR 99999999999999999999999",
            "DELE x",
            "TOP 1",
            "TOP",
            "LIST 8",
            "UIDL 0",
            "DELE 1",
            "RETR 1",
            "DELE 1",
            "TOP 1 1",
            "FOO",
            "STAT",
            "RSET",
            "STAT",
            "QUIT",
        ]),
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let lines: Vec<&str> = o.stdout.split("\r\n").collect();
    assert_eq!(
        &lines[1..14],
        &[
            "-ERR Invalid message number.",
            "-ERR Invalid message number.",
            "-ERR Invalid message number.",
            "-ERR Invalid message number.",
            "-ERR Invalid message number.",
            "-ERR Invalid command.",
            "-ERR Invalid command.",
            "-ERR Invalid message number.",
            "-ERR Invalid message number.",
            "+OK Deleted.",
            "-ERR Invalid message number.",
            "-ERR Invalid message number.",
            "-ERR Invalid message number.",
        ]
    );
    assert_eq!(lines[14], "-ERR Invalid command.");
    assert!(lines[15].starts_with("+OK 6 "), "{}", o.stdout);
    assert_eq!(lines[16], "+OK Resurrected.");
    assert!(lines[17].starts_with("+OK 7 "), "{}", o.stdout);
    assert_eq!(cur_count(&m), 7);
}

#[test]
fn a_100_kb_line_and_nul_bytes_are_refused_without_losing_the_session() {
    let b = Boxes::new("pop3d-long");
    let m = sample_maildir(&b, "m");
    let mut input = b"DELE 1\r\nNOOP ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100 * 1024));
    input.extend_from_slice(b"\r\nSTAT\r\nLIST\0 1\r\n\0\r\nUIDL 2\r\nNOOP ");
    // Just over the limit, arriving in one read with its line end.
    input.extend(std::iter::repeat_n(b'y', 8200));
    input.extend_from_slice(b"\r\nQUIT\r\n");
    let o = pop3d(&our_pop3d(), &m, &[], &input);
    assert_eq!(o.code, Some(0), "{o:?}");
    let lines: Vec<&str> = o.stdout.split("\r\n").collect();
    assert_eq!(lines[1], "+OK Deleted.");
    assert_eq!(lines[2], "-ERR Invalid command.", "{}", o.stdout);
    assert!(lines[3].starts_with("+OK 6 "), "{}", o.stdout);
    assert_eq!(lines[4], "-ERR Invalid command.");
    assert_eq!(lines[5], "-ERR Invalid command.");
    assert!(lines[6].starts_with("+OK 2 UID"), "{}", o.stdout);
    assert_eq!(lines[7], "-ERR Invalid command.");
    assert_eq!(lines[8], "+OK Bye-bye.");
    // The DELE before the long line still took effect at QUIT.
    assert_eq!(cur_count(&m), 6);
    assert!(o.stderr.contains(", rcvd="), "{}", o.stderr);
}

#[test]
fn sigkill_mid_session_deletes_nothing() {
    let b = Boxes::new("pop3d-kill");
    let m = sample_maildir(&b, "m");
    let mut s = Session::start(&our_pop3d(), &m, &[]);
    assert_eq!(s.line().as_deref(), Some("+OK logged in."));
    for n in 1..=7 {
        s.cmd(&format!("DELE {n}"));
        assert_eq!(s.line().as_deref(), Some("+OK Deleted."));
    }
    s.cmd("STAT");
    assert_eq!(s.line().as_deref(), Some("+OK 0 0"));
    let list = fs::read_to_string(m.join("courierpop3dsizelist")).unwrap();
    s.kill();
    assert_eq!(cur_count(&m), 7);
    assert_eq!(
        fs::read_to_string(m.join("courierpop3dsizelist")).unwrap(),
        list
    );
    // The next session sees every message under the same UIDL.
    let o = pop3d(&our_pop3d(), &m, &[], &script(&["STAT", "QUIT"]));
    assert!(o.stdout.contains("+OK 7 "), "{}", o.stdout);
}

fn big_message(lines: usize) -> Vec<u8> {
    let mut msg = b"Subject: big\n\n".to_vec();
    for i in 0..lines {
        if i % 7 == 0 {
            msg.extend_from_slice(b".leading dot\n");
        } else {
            msg.extend_from_slice(
                format!("line {i} of a large message, padded to a typical width......\n")
                    .as_bytes(),
            );
        }
    }
    msg
}

#[test]
fn client_vanishing_mid_retr_of_a_large_message_loses_nothing() {
    let b = Boxes::new("pop3d-vanish");
    let m = sample_maildir(&b, "m");
    fs::write(m.join("new/1700000100.M1P1.host"), big_message(200_000)).unwrap();
    let mut s = Session::start(&our_pop3d(), &m, &[]);
    assert_eq!(s.line().as_deref(), Some("+OK logged in."));
    s.cmd("DELE 1");
    assert_eq!(s.line().as_deref(), Some("+OK Deleted."));
    s.cmd("RETR 8");
    let first = s.line().unwrap();
    assert!(first.ends_with(" octets follow."), "{first}");
    assert_eq!(s.line().as_deref(), Some("Subject: big"));
    // Gone without reading the rest (about 12 MB) or sending QUIT.
    let code = s.vanish();
    assert_eq!(code, Some(0));
    assert_eq!(cur_count(&m), 8);
    // Not marked seen either: the retrieval did not complete.
    assert!(
        names(&m.join("cur"))
            .iter()
            .all(|n| !n.starts_with("1700000100") || n.ends_with(":2,"))
    );
}

#[test]
fn large_retr_is_exact() {
    let b = Boxes::new("pop3d-big");
    let m = b.maildir("m");
    let msg = big_message(50_000);
    fs::write(m.join("new/1700000100.M1P1.host"), &msg).unwrap();
    let o = pop3d(
        &our_pop3d(),
        &m,
        &[],
        &script(&["LIST 1", "RETR 1", "QUIT"]),
    );
    let mut expect = String::new();
    for l in String::from_utf8(msg.clone()).unwrap().lines() {
        if l.starts_with('.') {
            expect.push('.');
        }
        expect.push_str(l);
        expect.push_str("\r\n");
    }
    let size = msg.len() + msg.iter().filter(|&&c| c == b'\n').count();
    let want = format!(
        "+OK logged in.\r\n+OK 1 {size}\r\n+OK {size} octets follow.\r\n{expect}.\r\n+OK Bye-bye.\r\n"
    );
    assert!(
        o.stdout == want,
        "RETR of a large message differs (len {} vs {})",
        o.stdout.len(),
        want.len()
    );
    assert!(
        o.stderr.contains(&format!("retr={}", msg.len())),
        "{}",
        o.stderr
    );
}

#[test]
fn message_gone_or_renamed_under_the_session() {
    let b = Boxes::new("pop3d-gone");
    let m = sample_maildir(&b, "m");
    let mut s = Session::start(&our_pop3d(), &m, &[]);
    assert_eq!(s.line().as_deref(), Some("+OK logged in."));
    let cur = names(&m.join("cur"));
    // Message 2 deleted by someone else, message 3 flagged by an IMAP client.
    let two = cur.iter().find(|n| n.starts_with("1700000001")).unwrap();
    fs::remove_file(m.join("cur").join(two)).unwrap();
    let three = cur.iter().find(|n| n.starts_with("1700000002")).unwrap();
    fs::rename(
        m.join("cur").join(three),
        m.join("cur").join(format!("{three}F")),
    )
    .unwrap();
    s.cmd("RETR 2");
    assert_eq!(
        s.line().as_deref(),
        Some("-ERR Can't open the message file - it's gone!")
    );
    s.cmd("RETR 3");
    assert_eq!(s.line().as_deref(), Some("+OK 19 octets follow."));
    let body = s.multiline();
    assert_eq!(body, vec!["Subject: b", "", "world", "."]);
    s.cmd("DELE 2");
    assert_eq!(s.line().as_deref(), Some("+OK Deleted."));
    s.cmd("DELE 3");
    assert_eq!(s.line().as_deref(), Some("+OK Deleted."));
    s.cmd("QUIT");
    assert_eq!(s.line().as_deref(), Some("+OK Bye-bye."));
    assert_eq!(s.hang_up(), Some(0));
    let left = names(&m.join("cur"));
    assert_eq!(left.len(), 5, "{left:?}");
    assert!(
        left.iter().all(|n| !n.starts_with("1700000002")),
        "{left:?}"
    );
}

#[test]
fn two_sessions_on_one_maildir_delete_once_and_count_quota_once() {
    let b = Boxes::new("pop3d-two");
    let m = sample_maildir(&b, "m");
    fs::write(
        m.join("maildirsize"),
        "100000S,100C\n         500           10\n",
    )
    .unwrap();
    let mut a = Session::start(&our_pop3d(), &m, &[]);
    let mut c = Session::start(&our_pop3d(), &m, &[]);
    assert_eq!(a.line().as_deref(), Some("+OK logged in."));
    assert_eq!(c.line().as_deref(), Some("+OK logged in."));
    for s in [&mut a, &mut c] {
        s.cmd("UIDL 1");
    }
    let (ua, uc) = (a.line().unwrap(), c.line().unwrap());
    assert_eq!(ua, uc, "both sessions number messages alike");
    for s in [&mut a, &mut c] {
        s.cmd("DELE 1");
        assert_eq!(s.line().as_deref(), Some("+OK Deleted."));
        s.cmd("QUIT");
        assert_eq!(s.line().as_deref(), Some("+OK Bye-bye."));
    }
    assert_eq!(a.hang_up(), Some(0));
    assert_eq!(c.hang_up(), Some(0));
    assert_eq!(cur_count(&m), 6);
    let (_, bytes, count) = maildirsize_totals(&m.join("maildirsize"));
    assert_eq!((bytes, count), (500 - 24, 9));
    assert!(
        names(&m.join("tmp")).is_empty(),
        "{:?}",
        names(&m.join("tmp"))
    );
}

#[test]
fn vanished_client_without_quit_logs_disconnected() {
    let b = Boxes::new("pop3d-eof");
    let m = sample_maildir(&b, "m");
    let o = pop3d(
        &our_pop3d(),
        &m,
        &[("POP3_TLS", "1")],
        b"DELE 1\r\nRETR 2\r\nST",
    );
    assert_eq!(o.code, Some(0));
    assert!(
        o.stderr.contains("INFO: DISCONNECTED, user=tester, ip=[127.0.0.1], port=[4711], top=0, retr=35, rcvd=18, "),
        "{}",
        o.stderr
    );
    assert!(o.stderr.trim_end().ends_with(", stls=1"), "{}", o.stderr);
    assert_eq!(cur_count(&m), 7);
}

#[test]
fn unreadable_entries_are_left_out_and_read_errors_end_the_connection() {
    let b = Boxes::new("pop3d-ioerr");
    let m = sample_maildir(&b, "m");
    // A directory where a message should be: not shown (Courier's lists it
    // with size 0 and fails on RETR).
    fs::create_dir(m.join("cur/1690000000.M0P0.host:2,")).unwrap();
    let o = pop3d(&our_pop3d(), &m, &[], &script(&["STAT", "QUIT"]));
    assert!(o.stdout.contains("+OK 7 "), "{}", o.stdout);
    assert!(o.stderr.contains("not shown to POP3"), "{}", o.stderr);
    let list = fs::read_to_string(m.join("courierpop3dsizelist")).unwrap();
    assert!(!list.contains("1690000000"), "{list}");

    // A message replaced by something unreadable during the session: the
    // advertised size cannot be met, so the connection ends (no "." that would
    // pass a truncated message off as complete), and nothing is deleted.
    let mut s = Session::start(&our_pop3d(), &m, &[]);
    assert_eq!(s.line().as_deref(), Some("+OK logged in."));
    s.cmd("DELE 1");
    assert_eq!(s.line().as_deref(), Some("+OK Deleted."));
    let victim = names(&m.join("cur"))
        .into_iter()
        .find(|n| n.starts_with("1700000001"))
        .unwrap();
    fs::remove_file(m.join("cur").join(&victim)).unwrap();
    fs::create_dir(m.join("cur").join(&victim)).unwrap();
    s.cmd("RETR 2");
    assert!(s.line().unwrap().ends_with(" octets follow."));
    assert_eq!(s.line(), None, "the connection must end");
    assert_eq!(s.hang_up(), Some(0));
    assert_eq!(cur_count(&m), 8);
}
