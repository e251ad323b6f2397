//! imapd end to end: sessions on stdin/stdout (PREAUTH and post-login modes) on
//! scratch maildirs, one per command group, plus IDLE seeing a delivery, a flag
//! change and an expunge made by others.

use e2e::imapkit::ImapdProcess as Imap;
use e2e::{Scratch, courier, ours};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One imapd process driven over pipes.
fn last(v: &[String]) -> &str {
    v.last().map(String::as_str).unwrap_or("")
}

fn has(v: &[String], needle: &str) -> bool {
    v.iter().any(|l| l.contains(needle))
}

fn maildir(tag: &str) -> (Scratch, PathBuf) {
    let s = Scratch::new(tag);
    let m = s.join("Maildir");
    for d in ["", "tmp", "new", "cur"] {
        std::fs::create_dir_all(m.join(d)).unwrap();
    }
    (s, m)
}

fn put(m: &Path, sub: &str, name: &str, body: &str) {
    std::fs::write(m.join(sub).join(name), body).unwrap();
}

fn append(c: &mut Imap, tag: &str, mbox: &str, flags: &str, msg: &str) -> Vec<String> {
    c.send(format!("{tag} APPEND {mbox} {flags} {{{}}}\r\n", msg.len()).as_bytes());
    let cont = c.line();
    assert!(cont.starts_with("+ "), "{cont}");
    c.send(msg.as_bytes());
    c.send(b"\r\n");
    c.until(tag)
}

#[test]
fn preauth_greeting_capability_noop_logout() {
    let (s, _m) = maildir("imapd-greet");
    let mut c = Imap::start(s.path());
    assert_eq!(c.line(), "* PREAUTH Ready.\r\n");
    let r = c.cmd("a", "CAPABILITY");
    assert!(r[0].starts_with("* CAPABILITY IMAP4rev1"), "{r:?}");
    for cap in [
        "MOVE",
        "UNSELECT",
        "LITERAL+",
        "ENABLE",
        "UTF8=ACCEPT",
        "ID",
        "SPECIAL-USE",
    ] {
        assert!(
            r[0].split_whitespace().any(|t| t == cap),
            "{cap} missing: {r:?}"
        );
    }
    assert_eq!(last(&r), "a OK CAPABILITY completed\r\n");
    assert_eq!(last(&c.cmd("b", "NOOP")), "b OK NOOP completed\r\n");
    let r = c.cmd("c", "LOGOUT");
    assert_eq!(
        r,
        vec![
            "* BYE Courier-IMAP server shutting down\r\n",
            "c OK LOGOUT completed\r\n"
        ]
    );
}

#[test]
fn login_mode_answers_the_login_tag() {
    let (s, _m) = maildir("imapd-login");
    let mut c = Imap::start_with(
        &ours("imapd"),
        s.path(),
        &[("IMAPLOGINTAG", "x17"), ("AUTHENTICATED", "alice")],
    );
    assert_eq!(c.line(), "x17 OK LOGIN Ok.\r\n");
    assert_eq!(last(&c.cmd("a", "NOOP")), "a OK NOOP completed\r\n");
}

#[test]
fn select_fetch_store_search_expunge() {
    let (s, m) = maildir("imapd-select");
    put(
        &m,
        "cur",
        "1000.M1P1.h,S=40:2,S",
        "From: Alice <a@example.com>\nSubject: one\nDate: Mon, 2 Mar 2020 10:00:00 +0000\n\nfirst body\n",
    );
    put(
        &m,
        "new",
        "1001.M1P1.h,S=30",
        "From: b@example.com\nSubject: two\n\nsecond\n",
    );
    let mut c = Imap::start(s.path());
    c.line();
    let r = c.cmd("a", "SELECT INBOX");
    assert!(has(&r, "* 2 EXISTS"), "{r:?}");
    assert!(has(&r, "* 2 RECENT"), "{r:?}");
    assert!(has(&r, "* OK [UIDVALIDITY "), "{r:?}");
    assert!(has(&r, "* OK [UIDNEXT 3]"), "{r:?}");
    assert!(has(&r, "* OK [UNSEEN 2]"), "{r:?}");
    assert!(
        has(
            &r,
            "[PERMANENTFLAGS (\\* \\Draft \\Answered \\Flagged \\Deleted \\Seen)]"
        ),
        "{r:?}"
    );
    assert_eq!(last(&r), "a OK [READ-WRITE] Ok\r\n");

    let r = c.cmd("b", "FETCH 1:* (UID FLAGS RFC822.SIZE)");
    assert_eq!(
        r[0],
        "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) RFC822.SIZE 95)\r\n"
    );
    assert_eq!(
        r[1],
        "* 2 FETCH (UID 2 FLAGS (\\Recent) RFC822.SIZE 45)\r\n"
    );
    let r = c.cmd("c", "FETCH 1 (ENVELOPE)");
    assert!(
        r[0].contains("\"one\" ((\"Alice\" NIL \"a\" \"example.com\"))"),
        "{r:?}"
    );
    let r = c.cmd("d", "UID FETCH 2 (BODY.PEEK[TEXT])");
    assert_eq!(r[0], "* 2 FETCH (UID 2 BODY[TEXT] {8}\r\n");
    assert_eq!(r[1], "second\r\n");
    let r = c.cmd("e", "FETCH 2 BODY[HEADER.FIELDS (SUBJECT)]");
    assert!(
        r[0].starts_with("* 2 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] {16}"),
        "{r:?}"
    );
    assert!(
        has(&r, "FLAGS (\\Seen \\Recent)"),
        "BODY[] must set \\Seen: {r:?}"
    );

    let r = c.cmd("f", "STORE 1 +FLAGS (\\Deleted $Work)");
    assert!(has(&r, "* FLAGS ($Work \\Draft"), "{r:?}");
    assert!(
        has(&r, "* 1 FETCH (FLAGS (\\Seen \\Deleted \\Recent $Work))"),
        "{r:?}"
    );
    assert!(
        std::fs::read_dir(m.join("cur")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(":2,ST"))
    );
    assert!(m.join("courierimapkeywords").is_dir());
    let r = c.cmd("g", "SEARCH DELETED");
    assert_eq!(r[0], "* SEARCH 1\r\n");
    let r = c.cmd("h", "UID SEARCH OR FROM alice KEYWORD $Work");
    assert_eq!(r[0], "* SEARCH 1\r\n");
    let r = c.cmd("h2", "SEARCH NOT SUBJECT one SENTBEFORE 1-Jan-2030");
    assert_eq!(r[0], "* SEARCH\r\n");
    let r = c.cmd("i", "STORE 2 FLAGS.SILENT (\\Answered)");
    assert_eq!(r, vec!["i OK STORE completed.\r\n"]);
    let r = c.cmd("j", "EXPUNGE");
    assert_eq!(r[0], "* 1 EXPUNGE\r\n");
    assert_eq!(last(&r), "j OK EXPUNGE completed\r\n");
    let r = c.cmd("k", "FETCH 1 (UID FLAGS)");
    assert_eq!(r[0], "* 1 FETCH (UID 2 FLAGS (\\Answered \\Recent))\r\n");
    let r = c.cmd("l", "FETCH 5 FLAGS");
    assert_eq!(r[0], "* NO Invalid message sequence number: 5\r\n");
    let r = c.cmd("m", "CLOSE");
    assert_eq!(last(&r), "m OK mailbox closed.\r\n");
    assert!(c.cmd("n", "FETCH 1 FLAGS")[0].starts_with("n NO"));
    drop(c);

    // UIDs are stable across sessions; \Recent is not given twice.
    let mut c = Imap::start(s.path());
    c.line();
    let r = c.cmd("a", "SELECT INBOX");
    assert!(has(&r, "* 1 EXISTS") && has(&r, "* 0 RECENT"), "{r:?}");
    let r = c.cmd("b", "UID FETCH 1:* FLAGS");
    assert_eq!(r[0], "* 1 FETCH (UID 2 FLAGS (\\Answered))\r\n");
}

#[test]
fn folders_list_status_subscribe_rename_delete() {
    let (s, _m) = maildir("imapd-folders");
    let mut c = Imap::start(s.path());
    c.line();
    assert_eq!(
        last(&c.cmd("a", "CREATE INBOX.Work")),
        "a OK \"INBOX.Work\" created.\r\n"
    );
    assert_eq!(
        last(&c.cmd("b", "CREATE INBOX.Work.Old")),
        "b OK \"INBOX.Work.Old\" created.\r\n"
    );
    assert_eq!(
        last(&c.cmd("b2", "CREATE INBOX.Sent")),
        "b2 OK \"INBOX.Sent\" created.\r\n"
    );
    assert!(c.cmd("c", "CREATE INBOX")[0].starts_with("c NO"));
    let r = c.cmd("d", "LIST \"\" *");
    assert!(
        has(&r, "* LIST (\\Unmarked \\HasChildren) \".\" \"INBOX\""),
        "{r:?}"
    );
    assert!(
        has(&r, "* LIST (\\HasChildren) \".\" \"INBOX.Work\""),
        "{r:?}"
    );
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \".\" \"INBOX.Work.Old\""),
        "{r:?}"
    );
    assert!(
        has(&r, "* LIST (\\HasNoChildren \\Sent) \".\" \"INBOX.Sent\""),
        "{r:?}"
    );
    let r = c.cmd("e", "LIST INBOX. %");
    assert!(
        has(&r, "\"INBOX.Work\"") && !has(&r, "INBOX.Work.Old"),
        "{r:?}"
    );
    let r = c.cmd("f", "LIST \"\" \"\"");
    assert_eq!(r[0], "* LIST (\\Noselect) \".\" \"\"\r\n");
    assert_eq!(
        last(&c.cmd("g", "SUBSCRIBE INBOX.Work.Old")),
        "g OK Folder subscribed.\r\n"
    );
    let r = c.cmd("h", "LSUB \"\" INBOX.%");
    assert!(
        has(&r, "* LSUB (\\Noselect \\HasChildren) \".\" \"INBOX.Work\""),
        "{r:?}"
    );
    let r = c.cmd("i", "LSUB \"\" *");
    assert!(
        has(&r, "* LSUB (\\HasNoChildren) \".\" \"INBOX.Work.Old\""),
        "{r:?}"
    );
    assert!(
        has(&r, "* LSUB (\\Noselect \\HasChildren) \".\" \"INBOX.Work\""),
        "{r:?}"
    );
    let r = append(
        &mut c,
        "j",
        "INBOX.Work",
        "(\\Seen)",
        "Subject: x\r\n\r\nhello\r\n",
    );
    assert!(last(&r).starts_with("j OK [APPENDUID "), "{r:?}");
    let r = c.cmd("k", "STATUS INBOX.Work (MESSAGES RECENT UIDNEXT UNSEEN)");
    assert_eq!(
        r[0],
        "* STATUS \"INBOX.Work\" (MESSAGES 1 RECENT 0 UIDNEXT 2 UNSEEN 0)\r\n"
    );
    assert_eq!(
        last(&c.cmd("l", "RENAME INBOX.Work INBOX.Play")),
        "l OK Folder renamed.\r\n"
    );
    let r = c.cmd("m", "LIST \"\" INBOX.*");
    assert!(
        has(&r, "\"INBOX.Play.Old\"") && !has(&r, "INBOX.Work"),
        "{r:?}"
    );
    assert!(c.cmd("n", "SELECT INBOX.Work")[0].starts_with("n NO Mailbox does not exist"));
    assert_eq!(
        last(&c.cmd("o", "DELETE INBOX.Play.Old")),
        "o OK Folder deleted.\r\n"
    );
    assert!(c.cmd("p", "DELETE INBOX")[0].starts_with("p NO"));
    // Names on the wire are modified UTF-7, UTF-8 on disk.
    assert_eq!(
        last(&c.cmd("q", "CREATE INBOX.&AOk-t&AOk-")),
        "q OK \"INBOX.&AOk-t&AOk-\" created.\r\n"
    );
    assert!(s.join("Maildir/.été").is_dir());
    let r = c.cmd("r", "ENABLE UTF8=ACCEPT");
    assert_eq!(r[0], "* ENABLED UTF8=ACCEPT\r\n");
    let r = c.cmd("s", "LIST \"\" INBOX.%t%");
    assert!(has(&r, "\"INBOX.été\""), "{r:?}");
    let r = c.cmd("t", "NAMESPACE");
    assert_eq!(
        r[0],
        "* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))\r\n"
    );
}

#[test]
fn append_copy_move_uidplus_and_quota() {
    let (s, m) = maildir("imapd-copy");
    std::fs::write(m.join("maildirsize"), "1000000S,5C\n0 0\n").unwrap();
    let mut c = Imap::start(s.path());
    c.line();
    c.cmd("a", "CREATE INBOX.Dst");
    for i in 0..3 {
        let r = append(
            &mut c,
            &format!("ap{i}"),
            "INBOX",
            "(\\Flagged $K) \" 2-Mar-2020 10:00:00 +0000\"",
            &format!("Subject: m{i}\r\n\r\nbody {i}\r\n"),
        );
        assert_eq!(
            last(&r),
            format!("ap{i} OK [APPENDUID {} {}] APPEND Ok.\r\n", uidv(&m), i + 1)
        );
    }
    // Stored with LF line ends, the date as mtime.
    let f = std::fs::read_dir(m.join("cur"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(!std::fs::read(f.path()).unwrap().contains(&b'\r'));
    c.cmd("b", "SELECT INBOX");
    let r = c.cmd("c", "FETCH 1 (INTERNALDATE FLAGS)");
    assert_eq!(
        r[0],
        "* 1 FETCH (INTERNALDATE \"02-Mar-2020 10:00:00 +0000\" FLAGS (\\Flagged $K))\r\n"
    );
    let r = c.cmd("d", "UID COPY 1:2 INBOX.Dst");
    assert!(
        last(&r).starts_with("d OK [COPYUID ") && last(&r).contains(" 1:2 1:2] COPY completed."),
        "{r:?}"
    );
    let r = c.cmd("e", "UID MOVE 3 INBOX.Dst");
    assert!(has(&r, "* OK [COPYUID ") && has(&r, " 3 3] "), "{r:?}");
    assert!(has(&r, "* 3 EXPUNGE"), "{r:?}");
    assert_eq!(last(&r), "e OK MOVE completed.\r\n");
    assert_eq!(std::fs::read_dir(m.join("cur")).unwrap().count(), 2);
    assert_eq!(std::fs::read_dir(m.join(".Dst/cur")).unwrap().count(), 3);
    let r = c.cmd("f", "SELECT INBOX.Dst");
    assert!(has(&r, "* 3 EXISTS"), "{r:?}");
    let r = c.cmd("g", "FETCH 1:* FLAGS");
    assert!(
        r[..3]
            .iter()
            .all(|l| l.contains("\\Flagged") && l.contains("$K")),
        "{r:?}"
    );
    let r = c.cmd("h", "GETQUOTAROOT INBOX");
    assert_eq!(r[0], "* QUOTAROOT \"INBOX\" \"ROOT\"\r\n");
    assert!(
        r[1].starts_with("* QUOTA \"ROOT\" (STORAGE ") && r[1].contains(" MESSAGE 5 5)"),
        "{r:?}"
    );
    // Over the message quota: refused with the response code, nothing stored.
    let r = c.cmd("i", "COPY 1 INBOX");
    assert!(last(&r).starts_with("i NO [OVERQUOTA]"), "{r:?}");
    c.send(b"j APPEND INBOX {5}\r\n");
    let r = c.until("j");
    assert!(last(&r).starts_with("j NO [OVERQUOTA]"), "{r:?}");
    assert_eq!(std::fs::read_dir(m.join("cur")).unwrap().count(), 2);
    let r = c.cmd("k", "UID EXPUNGE 1");
    assert!(last(&r).starts_with("k OK"), "{r:?}");
    assert_eq!(
        last(&c.cmd("l", "UNSELECT")),
        "l OK UNSELECT completed.\r\n"
    );
    let r = c.cmd("m", "COPY 1 INBOX.Nope");
    assert!(r[0].starts_with("m NO"), "{r:?}");
}

fn uidv(m: &Path) -> String {
    let t = std::fs::read_to_string(m.join("courierimapuiddb")).unwrap();
    t.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn idle_reports_delivery_flag_change_and_expunge() {
    let (s, m) = maildir("imapd-idle");
    put(&m, "cur", "1000.M1P1.h,S=10:2,", "Subject: a\n\nx\n");
    let mut a = Imap::start(s.path());
    a.line();
    a.cmd("a", "SELECT INBOX");
    a.send(b"b IDLE\r\n");
    assert_eq!(a.line(), "+ entering idle mode\r\n");

    // A delivery by deliverquota.
    let mut dq = Command::new(ours("deliverquota"))
        .arg(&m)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("deliverquota (cargo build -p deliverquota)");
    dq.stdin
        .take()
        .unwrap()
        .write_all(b"Subject: new\n\nhi\n")
        .unwrap();
    assert!(dq.wait().unwrap().success());
    let l = a.line();
    assert_eq!(l, "* 2 EXISTS\r\n");
    assert_eq!(a.line(), "* 2 RECENT\r\n");

    // A flag change by another session.
    let mut b = Imap::start(s.path());
    b.line();
    b.cmd("a", "SELECT INBOX");
    b.cmd("b", "STORE 1 +FLAGS (\\Flagged)");
    assert_eq!(a.line(), "* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n");
    // An expunge by the other session.
    b.cmd("c", "STORE 1 +FLAGS (\\Deleted)");
    assert!(
        a.line()
            .starts_with("* 1 FETCH (FLAGS (\\Flagged \\Deleted")
    );
    b.cmd("d", "EXPUNGE");
    assert_eq!(a.line(), "* 1 EXPUNGE\r\n");
    a.send(b"DONE\r\n");
    let r = a.until("b");
    assert_eq!(last(&r), "b OK IDLE completed\r\n");
    assert!(a.try_line(Duration::from_millis(100)).is_none());
}

#[test]
fn uids_agree_with_courier_on_the_same_maildir() {
    let Some(courier) = courier("imapd", "uids_agree_with_courier_on_the_same_maildir") else {
        return;
    };
    let (s, m) = maildir("imapd-cross");
    for i in 0..5 {
        put(
            &m,
            "new",
            &format!("100{i}.M1P1.h,S=10"),
            &format!("Subject: {i}\n\nx\n"),
        );
    }
    let mut deb = Imap::start_with(&courier, s.path(), &[]);
    deb.line();
    let d = deb.cmd("a", "SELECT INBOX");
    let dl = deb.cmd("b", "FETCH 1:* UID");
    deb.cmd("c", "LOGOUT");
    drop(deb);
    put(&m, "new", "2000.M1P1.h,S=10", "Subject: late\n\nx\n");
    let mut our = Imap::start(s.path());
    our.line();
    let o = our.cmd("a", "SELECT INBOX");
    let uv = |v: &[String]| v.iter().find(|l| l.contains("UIDVALIDITY")).cloned();
    assert_eq!(uv(&d), uv(&o));
    let ol = our.cmd("b", "FETCH 1:* UID");
    assert_eq!(&ol[..5], &dl[..5]);
    assert_eq!(ol[5], "* 6 FETCH (UID 6)\r\n");
    our.cmd("c", "LOGOUT");
    drop(our);
    // And back: Courier keeps our numbering.
    let mut deb = Imap::start_with(&courier, s.path(), &[]);
    deb.line();
    deb.cmd("a", "SELECT INBOX");
    let dl2 = deb.cmd("b", "FETCH 1:* UID");
    assert_eq!(dl2, ol);
}

#[test]
fn sort_and_thread() {
    let (s, m) = maildir("imapd-sort");
    let msgs = [
        (
            "Alice <a@x>",
            "Hello",
            "Mon, 2 Mar 2020 10:00:00 +0000",
            "m1@x",
            "",
        ),
        (
            "Bob <b@x>",
            "Re: Hello",
            "Mon, 2 Mar 2020 11:00:00 +0000",
            "m2@x",
            "<m1@x>",
        ),
        (
            "carl@x",
            "Other",
            "Sun, 1 Mar 2020 10:00:00 +0000",
            "m3@x",
            "",
        ),
        (
            "dan@x",
            "Re: Re: Hello",
            "Tue, 3 Mar 2020 10:00:00 +0000",
            "m4@x",
            "<m1@x> <m2@x>",
        ),
    ];
    for (i, (from, subj, date, id, refs)) in msgs.iter().enumerate() {
        let refs = if refs.is_empty() {
            String::new()
        } else {
            format!("References: {refs}\n")
        };
        put(
            &m,
            "cur",
            &format!("100{i}.M1P1.h:2,S"),
            &format!(
                "From: {from}\nSubject: {subj}\nDate: {date}\nMessage-ID: <{id}>\n{refs}\nbody\n"
            ),
        );
    }
    let mut c = Imap::start(s.path());
    c.line();
    c.cmd("a", "SELECT INBOX");
    assert_eq!(
        c.cmd("b", "SORT (SUBJECT) UTF-8 ALL")[0],
        "* SORT 1 2 4 3\r\n"
    );
    assert_eq!(
        c.cmd("c", "SORT (REVERSE DATE) UTF-8 ALL")[0],
        "* SORT 4 2 1 3\r\n"
    );
    assert_eq!(
        c.cmd("d", "UID SORT (FROM) UTF-8 NOT 1")[0],
        "* SORT 2 3 4\r\n"
    );
    assert_eq!(
        c.cmd("e", "THREAD REFERENCES UTF-8 ALL")[0],
        "* THREAD (3)(1 2 4)\r\n"
    );
    assert_eq!(
        c.cmd("f", "THREAD ORDEREDSUBJECT UTF-8 ALL")[0],
        "* THREAD (3)(1 (2)(4))\r\n"
    );
    assert!(last(&c.cmd("g", "SORT (DATE) KOI9 ALL")).starts_with("g NO [BADCHARSET"));
}

#[test]
fn envelope_and_size_caches_give_the_same_answers() {
    let (s, m) = maildir("imapd-caches");
    for i in 0..80 {
        put(
            &m,
            "cur",
            &format!("1{i:03}.M1P1.h:2,S"),
            &format!("From: User {i} <u{i}@x.org>\nSubject: number {i}\n\nbody {i}\nline\n"),
        );
    }
    let run = || {
        let mut c = Imap::start(s.path());
        c.line();
        c.cmd("a", "SELECT INBOX");
        let r = c.cmd("b", "FETCH 1:* (UID RFC822.SIZE ENVELOPE)");
        c.cmd("c", "LOGOUT");
        r
    };
    let first = run();
    assert!(m.join("courierimapenvcache").is_file());
    assert!(m.join("courierimapsizecache").is_file());
    let second = run();
    assert_eq!(first, second);
    assert_eq!(first.len(), 81);
    assert!(
        first[5].contains(
            "RFC822.SIZE 60 ENVELOPE (NIL \"number 5\" ((\"User 5\" NIL \"u5\" \"x.org\"))"
        ),
        "{}",
        first[5]
    );
    // A damaged cache is ignored.
    std::fs::write(m.join("courierimapenvcache"), "garbage 99999\nxx").unwrap();
    assert_eq!(run(), first);
}

/// INTERNALDATE is printed in the server's zone (TZ, with daylight saving time) and
/// BEFORE/ON/SINCE compare the local day, as Courier does.
#[test]
fn internaldate_in_the_local_time_zone() {
    if !Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
        eprintln!("skipped: no zoneinfo for Europe/Berlin");
        return;
    }
    let (s, m) = maildir("imapd-tz");
    put(&m, "cur", "1.M1P1.h,S=15:2,", "Subject: a\n\nx\n");
    put(&m, "cur", "2.M1P1.h,S=15:2,", "Subject: b\n\nx\n");
    // 2023-07-21 22:30:00 UTC (summer, +0200) and 2023-11-14 22:13:20 UTC (+0100).
    let times = [1_689_978_600, 1_700_000_000];
    for (n, t) in times.iter().enumerate() {
        let f = std::fs::File::options()
            .write(true)
            .open(m.join("cur").join(format!("{}.M1P1.h,S=15:2,", n + 1)))
            .unwrap();
        let t = std::time::UNIX_EPOCH + Duration::from_secs(*t);
        f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
            .unwrap();
    }
    let script = [
        ("a", "SELECT INBOX"),
        ("b", "FETCH 1:* INTERNALDATE"),
        ("c", "SEARCH ON 22-Jul-2023"),
        ("d", "SEARCH ON 21-Jul-2023"),
        ("e", "SEARCH SINCE 14-Nov-2023"),
        ("f", "SEARCH BEFORE 15-Nov-2023"),
    ];
    let run = |bin: &Path| {
        let mut c = Imap::start_with(bin, s.path(), &[("TZ", "Europe/Berlin")]);
        c.line();
        let v: Vec<Vec<String>> = script.iter().map(|(t, x)| c.cmd(t, x)).collect();
        c.cmd("z", "LOGOUT");
        v
    };
    let ours_v = run(&ours("imapd"));
    assert!(has(
        &ours_v[1],
        "* 1 FETCH (INTERNALDATE \"22-Jul-2023 00:30:00 +0200\")"
    ));
    assert!(has(
        &ours_v[1],
        "* 2 FETCH (INTERNALDATE \"14-Nov-2023 23:13:20 +0100\")"
    ));
    assert_eq!(ours_v[2][0], "* SEARCH 1\r\n");
    assert_eq!(ours_v[3][0], "* SEARCH\r\n");
    assert_eq!(ours_v[4][0], "* SEARCH 2\r\n");
    assert_eq!(ours_v[5][0], "* SEARCH 1 2\r\n");
    let Some(courier) = courier("imapd", "internaldate_in_the_local_time_zone") else {
        return;
    };
    let deb = run(&courier);
    assert_eq!(deb[1..], ours_v[1..]);
}

/// SEARCH FROM/SUBJECT/HEADER look at the header of every MIME part, as Courier's do
/// (a MIME message's parts and attached messages), and only the top header otherwise.
#[test]
fn header_search_covers_every_mime_part() {
    let (s, m) = maildir("imapd-hdrsearch");
    put(
        &m,
        "cur",
        "1.M1P1.h:2,S",
        "MIME-Version: 1.0\nFrom: alice@a\nSubject: outer\n\
         Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\
         X-Part: inner-part\n\nhello\n--XX\nContent-Type: message/rfc822\n\n\
         From: bob@b\nSubject: nested zebra\n\nbody\n--XX--\n",
    );
    put(
        &m,
        "cur",
        "2.M1P1.h:2,S",
        "From: carol@c\nSubject: plain zebra\n\nx\n",
    );
    put(
        &m,
        "cur",
        "3.M1P1.h:2,S",
        "From: dan@d\nContent-Type: message/rfc822\n\nFrom: erin@e\nSubject: fwd\n\nx\n",
    );
    let script = [
        ("a", "SELECT INBOX"),
        ("b", "SEARCH FROM bob"),
        ("c", "SEARCH SUBJECT zebra"),
        ("d", "SEARCH HEADER X-Part inner"),
        ("e", "SEARCH FROM erin"),
        ("f", "SEARCH NOT FROM alice"),
    ];
    let run = |bin: &Path| {
        let mut c = Imap::start_with(bin, s.path(), &[]);
        c.line();
        let v: Vec<Vec<String>> = script.iter().map(|(t, x)| c.cmd(t, x)).collect();
        c.cmd("z", "LOGOUT");
        v
    };
    let o = run(&ours("imapd"));
    let firsts: Vec<&str> = o[1..].iter().map(|v| v[0].trim_end()).collect();
    assert_eq!(
        firsts,
        [
            "* SEARCH 1",
            "* SEARCH 1 2",
            "* SEARCH 1",
            "* SEARCH",
            "* SEARCH 2 3"
        ]
    );
    let Some(courier) = courier("imapd", "header_search_covers_every_mime_part") else {
        return;
    };
    assert_eq!(run(&courier)[1..], o[1..]);
}

/// LIST attributes of the folders, by name.
fn list_attrs(c: &mut Imap) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = c
        .cmd("l", "LIST \"\" \"*\"")
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("* LIST (")?;
            let (attrs, tail) = rest.split_once(')')?;
            let name = tail.trim_end().rsplit(' ').next()?.trim_matches('"');
            Some((name.to_string(), attrs.to_string()))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn check_all_folders_marks_every_folder_as_courier_does() {
    let t = "check_all_folders_marks_every_folder_as_courier_does";
    let (s, m) = maildir("imapd-checkall");
    for f in [".A", ".B"] {
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(m.join(f).join(d)).unwrap();
        }
        std::fs::write(m.join(f).join("maildirfolder"), "").unwrap();
    }
    put(&m, ".A/new", "1.M1P1.h", "Subject: x\n\nhi\n");
    put(&m, "new", "2.M1P1.h", "Subject: y\n\nhi\n");
    let mut bins = vec![ours("imapd")];
    bins.extend(courier("imapd", t));
    let mut answers = Vec::new();
    for bin in &bins {
        let mut per = Vec::new();
        for v in ["0", "1"] {
            let mut c = Imap::start_with(bin, s.path(), &[("IMAP_CHECK_ALL_FOLDERS", v)]);
            c.line();
            per.push(list_attrs(&mut c));
        }
        answers.push(per);
    }
    let ours_ = &answers[0];
    let attrs = |set: &Vec<(String, String)>, name: &str| {
        set.iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    };
    // INBOX is always marked; other folders only when asked for.
    assert!(attrs(&ours_[0], "INBOX").contains("\\Marked"), "{ours_:?}");
    assert!(!attrs(&ours_[0], "INBOX.A").contains("Marked"), "{ours_:?}");
    assert!(
        attrs(&ours_[1], "INBOX.A").contains("\\Marked"),
        "{ours_:?}"
    );
    assert!(
        attrs(&ours_[1], "INBOX.B").contains("\\Unmarked"),
        "{ours_:?}"
    );
    if let Some(deb) = answers.get(1) {
        assert_eq!(ours_, deb, "ours vs Debian's imapd");
    }
}

#[test]
fn mailbox_sanity_check_refuses_a_maildir_of_another_owner() {
    let t = "mailbox_sanity_check_refuses_a_maildir_of_another_owner";
    if !e2e::is_root() {
        e2e::skip(t, "needs root to give the maildir to another user");
        return;
    }
    let (s, m) = maildir("imapd-sanity");
    put(&m, "cur", "1.M1P1.h:2,", "Subject: x\n\nhi\n");
    e2e::chown_nobody(s.path());
    for (v, refused) in [("1", true), ("", true), ("0", false)] {
        let mut c = Imap::start_with(
            &ours("imapd"),
            s.path(),
            &[("IMAP_MAILBOX_SANITY_CHECK", v)],
        );
        let greeting = c.line();
        if refused {
            assert!(
                greeting.starts_with("* BYE [ALERT] Fatal error: Account's mailbox directory is not owned by the correct uid or gid"),
                "IMAP_MAILBOX_SANITY_CHECK={v:?}: {greeting}"
            );
        } else {
            assert_eq!(
                greeting, "* PREAUTH Ready.\r\n",
                "IMAP_MAILBOX_SANITY_CHECK=0"
            );
            assert!(last(&c.cmd("a", "SELECT INBOX")).starts_with("a OK"));
        }
    }
}
