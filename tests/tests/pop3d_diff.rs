//! Our courierpop3d against Debian's, in its stdin/stdout mode, on identical
//! scratch maildirs: the same scripted sessions must give the same responses,
//! the same log lines and leave the same maildir (`new/`, `cur/`,
//! `courierpop3dsizelist`, `maildirsize`). Only clock-derived numbers (UID
//! validity, MIME boundary, `time=`) are normalised. Then the two servers take
//! turns on one maildir (UIDLs never change), and IMAP (Debian's imapd) sees the
//! same UIDs after either server.

use e2e::pop3kit::*;
use e2e::*;
use std::fs;
use std::path::Path;

/// Runs `script` with both servers on copies of `make()` and asserts identical
/// output, exit code, log and resulting state. Returns our transcript.
fn both(
    test: &str,
    extra: &[(&str, &str)],
    script: &[u8],
    make: impl Fn(&Boxes, &str) -> std::path::PathBuf,
) -> Option<String> {
    let theirs_bin = courier_pop3d(test)?;
    let b = Boxes::new("pop3d-diff");
    let theirs = make(&b, "theirs");
    let mine = make(&b, "mine");
    let t = pop3d(&theirs_bin, &theirs, extra, script);
    let mut o = pop3d(&our_pop3d(), &mine, extra, script);
    let (mp, tp) = (mine.to_string_lossy(), theirs.to_string_lossy());
    o.stdout = o.stdout.replace(&*mp, &tp);
    o.stderr = o.stderr.replace(&*mp, &tp);
    assert_eq!(
        normalise_pop3(&o.stdout),
        normalise_pop3(&t.stdout),
        "responses differ\nours:\n{}\ntheirs:\n{}",
        o.stdout,
        t.stdout
    );
    assert_eq!(o.code, t.code, "exit codes: {o:?} {t:?}");
    assert_eq!(
        normalise_pop3(&o.stderr),
        normalise_pop3(&t.stderr),
        "log lines differ"
    );
    if theirs.exists() {
        assert_eq!(state(&mine), state(&theirs), "maildirs differ");
    }
    Some(o.stdout)
}

const FULL_SESSION: &[&str] = &[
    "STAT",
    "list 0",
    "LIST 8",
    "LIST x",
    "LIST 1x",
    "LIST 1 2",
    "LIST  2",
    "list -1",
    "LIST",
    "UIDL",
    "uidl 2",
    "UIDL 99",
    "TOP 1",
    "TOP x 1",
    "TOP 9 1",
    "TOP 1 1",
    "TOP 1 0",
    "TOP 2 0",
    "TOP 1 x",
    "TOP 1 -1",
    "TOP 5 2",
    "DELE 1",
    "DELE 1",
    "RETR 1",
    "LIST 1",
    "UIDL 1",
    "TOP 1 1",
    "STAT",
    "LIST",
    "UIDL",
    "RSET",
    "RETR",
    "DELE",
    "RETR 0",
    "RETR 2",
    "RETR 3",
    "RETR 4",
    "TOP 4 1",
    "RETR 5",
    "RETR 6",
    "RETR 7",
    "UTF8",
    "RETR 4",
    "CAPA",
    "NOOP x",
    "",
    "   ",
    "APOP x y",
    "LAST",
    "USER x",
    "PASS y",
    "STLS",
    "AUTH PLAIN",
    "DELE 2",
    "DELE 7",
    "STAT",
    "QUIT now",
];

#[test]
fn full_session_matches_debian() {
    let t = "full_session_matches_debian";
    let Some(out) = both(t, &[("UTF8", "0")], &script(FULL_SESSION), sample_maildir) else {
        return;
    };
    assert!(out.starts_with("+OK logged in.\r\n+OK 7 "), "{out}");
    assert!(out.contains("\r\n1 UID1-"), "{out}");
    assert!(
        out.contains("Subject: Cannot display Unicode content"),
        "{out}"
    );
    assert!(out.ends_with("+OK Bye-bye.\r\n"), "{out}");
}

#[test]
fn utf8_enabled_session_and_capa_variants_match_debian() {
    let t = "utf8_enabled_session_and_capa_variants_match_debian";
    let s = script(&["CAPA", "RETR 5", "TOP 5 0", "RETR 4", "QUIT"]);
    let Some(out) = both(t, &[], &s, sample_maildir) else {
        return;
    };
    assert!(out.contains("Subject: caf\u{e9}"), "{out}");
    let envs: &[&[(&str, &str)]] = &[
        &[
            ("POP3AUTH", "LOGIN PLAIN"),
            ("POP3_STARTTLS", "YES"),
            ("COURIERTLS", "/bin/true"),
        ],
        &[
            ("POP3_TLS", "1"),
            ("POP3AUTH", "LOGIN"),
            ("POP3AUTH_TLS", "PLAIN CRAM-MD5"),
        ],
        &[
            ("POP3_TLS", "1"),
            ("POP3AUTH", "LOGIN"),
            ("UTF8", "0"),
            ("MIME_UNICODE_MESSAGE_TYPE", "message/rfc822"),
        ],
    ];
    for env in envs {
        both(t, env, &s, sample_maildir);
    }
}

#[test]
fn deletions_quota_and_deletion_log_match_debian() {
    let t = "deletions_quota_and_deletion_log_match_debian";
    let make = |b: &Boxes, n: &str| {
        let m = sample_maildir(b, n);
        fs::write(
            m.join("new/1700000010.M10P1.host:2,T"),
            b"Subject: trashed\n\nx\n",
        )
        .unwrap();
        fs::write(
            m.join("maildirsize"),
            "100000S,100C\n         300            8\n",
        )
        .unwrap();
        m
    };
    let s = script(&["DELE 1", "DELE 2", "DELE 3", "DELE 8", "RETR 4", "QUIT"]);
    both(t, &[("POP3_LOG_DELETIONS", "1")], &s, make);
    let Some(_) = both(t, &[("POP3_LOG_DELETIONS", "0")], &s, make) else {
        return;
    };
    // And what that means: three messages and the trashed one gone, quota
    // lowered by three messages and their sizes (,S=17 from the name, the
    // others' from stat()); the trashed one is not counted.
    let b = Boxes::new("pop3d-quota");
    let m = make(&b, "m");
    let o = pop3d(&our_pop3d(), &m, &[("POP3_LOG_DELETIONS", "1")], &s);
    assert_eq!(o.code, Some(0));
    assert_eq!(
        names(&m.join("cur")).len(),
        4,
        "{:?}",
        names(&m.join("cur"))
    );
    let (_, bytes, count) = maildirsize_totals(&m.join("maildirsize"));
    assert_eq!((bytes, count), (300 - (24 + 35 + 17), 8 - 3));
    assert_eq!(
        o.stderr.matches("INFO: DELETED, user=tester").count(),
        4,
        "{}",
        o.stderr
    );
}

#[test]
fn dropped_connection_deletes_nothing_like_debian() {
    let t = "dropped_connection_deletes_nothing_like_debian";
    let s = script(&["DELE 1", "DELE 2", "RETR 3"]);
    let Some(_) = both(t, &[], &s, sample_maildir) else {
        return;
    };
    // A last command without its line end still counts, also QUIT.
    both(t, &[], b"DELE 1\r\nRETR 2\r\nST", sample_maildir);
    both(
        t,
        &[("POP3_LOG_DELETIONS", "1")],
        b"DELE 1\r\nQUIT",
        sample_maildir,
    );
    let b = Boxes::new("pop3d-drop");
    let m = sample_maildir(&b, "m");
    let o = pop3d(&our_pop3d(), &m, &[], &s);
    assert_eq!(names(&m.join("cur")).len(), 7);
    assert!(
        o.stderr.contains("INFO: DISCONNECTED, user=tester"),
        "{}",
        o.stderr
    );
}

#[test]
fn broken_maildirs_are_reported_like_debian() {
    let t = "broken_maildirs_are_reported_like_debian";
    let s = script(&["STAT", "QUIT"]);
    // No such directory.
    let Some(out) = both(t, &[], &s, |b, n| b.dir.join(format!("{n}-missing"))) else {
        return;
    };
    assert!(out.starts_with("-ERR chdir "), "{out}");
    // A directory without cur/.
    let out = both(t, &[], &s, |b, n| {
        let p = b.dir.join(n);
        fs::create_dir(&p).unwrap();
        p
    })
    .unwrap();
    assert_eq!(out, "-ERR Maildir invalid (no 'cur' directory)\r\n");
    // Only cur/: an empty mailbox.
    let out = both(t, &[], &s, |b, n| {
        let p = b.dir.join(n);
        fs::create_dir_all(p.join("cur")).unwrap();
        p
    })
    .unwrap();
    assert!(out.starts_with("+OK logged in.\r\n+OK 0 0\r\n"), "{out}");
}

#[test]
fn damaged_and_old_size_lists_are_read_like_debian() {
    let t = "damaged_and_old_size_lists_are_read_like_debian";
    let s = script(&["UIDL", "LIST", "QUIT"]);
    for list in [
        "/2 7 1234567890\n1700000001.M1P1.host:2, 40 5:1234567890\n",
        "/3 9 1234567890\n1700000002.M2P2.host,S=17:2, 19 3:1234567890:0\ngarbage\n",
        "/9 100 200\n1700000001.M1P1.host:2, 40 5:1234567890:0\n",
        "nonsense",
    ] {
        let make = |b: &Boxes, n: &str| {
            let m = sample_maildir(b, n);
            fs::write(m.join("courierpop3dsizelist"), list).unwrap();
            m
        };
        both(t, &[], &s, make);
    }
}

#[test]
fn size_list_that_cannot_be_saved_hides_new_messages_like_debian() {
    let t = "size_list_that_cannot_be_saved_hides_new_messages_like_debian";
    let s = script(&["STAT", "UIDL", "RETR 1", "QUIT"]);
    // No list at all: only the first message, under an ENOMEM- UIDL.
    let Some(out) = both(t, &[], &s, |b, n| {
        let m = sample_maildir(b, n);
        fs::remove_dir(m.join("tmp")).unwrap();
        fs::write(m.join("tmp"), "").unwrap();
        m
    }) else {
        return;
    };
    assert!(out.contains("\r\n1 ENOMEM-"), "{out}");
    assert!(out.contains("+OK 1 "), "{out}");
    // A list knowing two messages: only those are shown.
    let out = both(t, &[], &s, |b, n| {
        let m = sample_maildir(b, n);
        fs::write(
            m.join("courierpop3dsizelist"),
            "/3 3 77\n1700000001.M1P1.host:2, 40 1:77:0\n1700000003.M3P3.host:2, 23 2:77:0\n",
        )
        .unwrap();
        fs::remove_dir(m.join("tmp")).unwrap();
        fs::write(m.join("tmp"), "").unwrap();
        m
    })
    .unwrap();
    assert!(
        out.contains("+OK\r\n1 UID1-77\r\n2 UID2-77\r\n.\r\n"),
        "{out}"
    );
    // A list that cannot be read (here: a directory) is neither trusted nor
    // replaced.
    let out = both(t, &[], &s, |b, n| {
        let m = sample_maildir(b, n);
        fs::create_dir(m.join("courierpop3dsizelist")).unwrap();
        m
    })
    .unwrap();
    assert!(out.contains("\r\n1 ENOMEM-"), "{out}");
}

fn uidls(out: &str) -> Vec<String> {
    out.split("\r\n")
        .skip_while(|l| *l != "+OK")
        .skip(1)
        .take_while(|l| *l != ".")
        .map(str::to_string)
        .collect()
}

#[test]
fn debian_then_ours_then_debian_keep_every_uidl() {
    let t = "debian_then_ours_then_debian_keep_every_uidl";
    let Some(courier) = courier_pop3d(t) else {
        return;
    };
    let b = Boxes::new("pop3d-turns");
    let m = sample_maildir(&b, "m");
    let uidl = script(&["UIDL", "QUIT"]);
    let first = uidls(&pop3d(&courier, &m, &[], &uidl).stdout);
    assert_eq!(first.len(), 7);
    // New mail, a flag change by someone else, a deletion.
    fs::write(m.join("new/1700000020.M20P1.host"), "Subject: n\n\nnew\n").unwrap();
    let cur = names(&m.join("cur"));
    let flagged = cur.iter().find(|n| n.starts_with("1700000003")).unwrap();
    fs::rename(
        m.join("cur").join(flagged),
        m.join("cur").join(format!("{flagged}FS")),
    )
    .unwrap();
    let gone = cur.iter().find(|n| n.starts_with("1700000005")).unwrap();
    fs::remove_file(m.join("cur").join(gone)).unwrap();

    let ours_run = pop3d(&our_pop3d(), &m, &[], &script(&["UIDL", "RETR 1", "QUIT"]));
    let second = uidls(&ours_run.stdout);
    let mut expect: Vec<String> = first
        .iter()
        .filter(|l| !l.ends_with(&format!(" {}", first[5].split_once(' ').unwrap().1)))
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    // The deleted message was number 6 (sorted by time: 1699999999 first).
    assert_eq!(expect.len(), 6);
    let uidv = first[0].rsplit_once('-').unwrap().1;
    expect.push(format!("UID8-{uidv}"));
    let got: Vec<String> = second
        .iter()
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    assert_eq!(got, expect, "ours after Debian");

    fs::write(m.join("new/1700000021.M21P1.host"), "Subject: m\n\nmore\n").unwrap();
    let third = uidls(&pop3d(&courier, &m, &[], &uidl).stdout);
    let got3: Vec<String> = third
        .iter()
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    expect.push(format!("UID9-{uidv}"));
    assert_eq!(got3, expect, "Debian after ours");
}

/// Debian's imapd on `maildir`: `UID FETCH 1:* (FLAGS)` lines and UIDVALIDITY.
fn imap_uids(maildir: &Path) -> Option<String> {
    let imapd = Path::new("/usr/bin/imapd");
    if !imapd.exists() {
        return None;
    }
    let o = Run::new(imapd, "imapd")
        .arg_os(maildir.as_os_str())
        .env("AUTHENTICATED", "tester")
        .env("TCPREMOTEIP", "127.0.0.1")
        .input(Input::Pipe(
            b"a SELECT INBOX\r\nb UID FETCH 1:* (FLAGS)\r\nc LOGOUT\r\n".to_vec(),
        ))
        .run();
    Some(
        o.stdout
            .lines()
            .filter(|l| l.contains("UIDVALIDITY") || l.contains("FETCH ("))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[test]
fn imap_uids_survive_pop3_sessions_of_either_server() {
    let t = "imap_uids_survive_pop3_sessions_of_either_server";
    let Some(courier) = courier_pop3d(t) else {
        return;
    };
    let b = Boxes::new("pop3d-imap");
    let theirs = sample_maildir(&b, "theirs");
    let Some(before) = imap_uids(&theirs) else {
        skip(t, "Debian's imapd is not installed");
        return;
    };
    let mine = b.copy(&theirs, "mine");
    assert!(before.contains("UID 7"), "{before}");
    let s = script(&["RETR 2", "DELE 3", "QUIT"]);
    pop3d(&courier, &theirs, &[], &s);
    pop3d(&our_pop3d(), &mine, &[], &s);
    let after_theirs = imap_uids(&theirs).unwrap();
    let after_mine = imap_uids(&mine).unwrap();
    assert_eq!(after_mine, after_theirs);
    // The same UIDVALIDITY as before, one UID fewer, \Seen on the retrieved one.
    assert_eq!(before.lines().next(), after_mine.lines().next());
    assert_eq!(
        after_mine.lines().count(),
        before.lines().count() - 1,
        "{after_mine}"
    );
    assert!(after_mine.contains("\\Seen"), "{after_mine}");
    assert_eq!(
        fs::read(mine.join("courierimapuiddb")).unwrap().len(),
        fs::read(theirs.join("courierimapuiddb")).unwrap().len()
    );
}

/// Logs in through `srv` and runs `script` (pipelined); returns everything the
/// server sent after the greeting of the session.
fn chain_session(srv: &ChainServer, fx: &Fixture, script_lines: &[&str]) -> String {
    let mut c = srv.connect();
    assert_eq!(c.line(), "+OK Hello there.");
    c.cmd(&format!("USER {}", fx.user));
    assert_eq!(c.line(), "+OK Password required.");
    c.cmd(&format!("PASS {}", fx.password));
    assert_eq!(c.line(), "+OK logged in.");
    c.send(&script(script_lines));
    let (rest, eof) = c.rest(std::time::Duration::from_secs(20));
    assert!(eof, "{rest}");
    rest
}

#[test]
fn through_the_chain_debian_then_ours_answer_alike() {
    let t = "through_the_chain_debian_then_ours_answer_alike";
    if !chain_prereqs(t) {
        return;
    }
    let Some(courier) = courier_pop3d(t) else {
        return;
    };
    let fx = Fixture::new("");
    fx.deliver("first");
    fx.deliver("caf\u{e9}");
    fx.deliver(".dotted");
    // The login program exports UTF8=0: the 8-bit message is wrapped until the
    // client sends UTF8.
    let session = [
        "STAT", "LIST", "UIDL", "TOP 2 0", "RETR 1", "RETR 2", "RETR 3", "UTF8", "RETR 2", "CAPA",
        "DELE 9", "QUIT",
    ];
    let theirs_srv = fx.start(&fx.pop3_spec(&courier));
    let theirs = chain_session(&theirs_srv, &fx, &session);
    let list = fs::read_to_string(fx.home.join("Maildir/courierpop3dsizelist")).unwrap();
    let ours_srv = fx.start(&fx.pop3_spec(&our_pop3d()));
    let ours = chain_session(&ours_srv, &fx, &session);
    assert_eq!(normalise_pop3(&ours), normalise_pop3(&theirs));
    // Same UIDLs (not only after normalising): the list Debian's wrote was used
    // as it is, and nothing in it needed rewriting.
    assert_eq!(ours.matches(" UID").count(), 3, "{ours}");
    assert_eq!(
        fs::read_to_string(fx.home.join("Maildir/courierpop3dsizelist")).unwrap(),
        list
    );
    assert!(
        ours.contains("Subject: Cannot display Unicode content"),
        "{ours}"
    );
    assert!(ours.contains("+OK UTF8 enabled"), "{ours}");
    assert!(
        ours_srv.wait_log(
            "INFO: LOGOUT, user=vuser",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        ours_srv.log()
    );
}
