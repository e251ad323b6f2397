//! Cross-reading: files written by Courier's programs are read correctly by ours and
//! the reverse, in one maildir used by both (quota sums, message names, keywords, and
//! an imapd session from Debian's imapd on a maildir fed by our deliverquota).

use courier_maildir::uiddb::UidDb;
use e2e::{
    Input, Outcome, Sandbox, Side, counted_usage, courier, is_delivered_name, maildirsize_totals,
    names, size_in_name,
};
use std::fs;
use std::path::Path;

const MSG: &[u8] = b"Subject: cross\n\nbody line\n";

fn ours_run(s: &Sandbox, prog: &str, args: &[&str], input: Input) -> Outcome {
    s.cmd(prog).args(args).input(input).run()
}

fn courier_run(s: &Sandbox, prog: &str, args: &[&str], input: Input) -> Outcome {
    s.courier_cmd(prog).args(args).input(input).run()
}

fn ok(o: Outcome, what: &str) -> Outcome {
    assert_eq!(o.code, Some(0), "{what}: {o:?}");
    o
}

/// Every message name in new/ of `dir` is a delivered name whose `,S=` is the size.
fn assert_names_and_sizes(dir: &Path, expected: usize) {
    let v = names(&dir.join("new"));
    assert_eq!(v.len(), expected, "{}: {v:?}", dir.display());
    for n in v {
        assert!(
            is_delivered_name(&n),
            "{}: not a Courier name: {n}",
            dir.display()
        );
        let len = fs::metadata(dir.join("new").join(&n)).unwrap().len();
        assert_eq!(size_in_name(&n), Some(len), "{n}");
    }
}

/// Deliveries alternating between the two implementations, into INBOX and a folder.
fn feed(s: &Sandbox, first: Side) {
    type Runner = fn(&Sandbox, &str, &[&str], Input) -> Outcome;
    let (a, b): (Runner, Runner) = match first {
        Side::Courier => (courier_run, ours_run),
        Side::Ours => (ours_run, courier_run),
    };
    ok(
        a(s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec())),
        "first, pipe",
    );
    ok(
        a(s, "deliverquota", &["M"], Input::File(MSG.to_vec())),
        "first, file",
    );
    ok(
        b(s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec())),
        "second, pipe",
    );
    ok(
        b(s, "deliverquota", &["M"], Input::File(MSG.to_vec())),
        "second, file",
    );
    ok(
        b(s, "deliverquota", &["M/.Work"], Input::Pipe(MSG.to_vec())),
        "second, folder",
    );
    ok(
        a(s, "deliverquota", &["M/.Work"], Input::File(b"x".to_vec())),
        "first, folder",
    );
    ok(
        a(s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec())),
        "first again",
    );
}

/// After the mixed deliveries: the summed maildirsize equals what is on disk, and a
/// recalculation by either program writes the same single line.
fn check_quota(s: &Sandbox) {
    let m = s.join("M");
    let (spec, bytes, count) = maildirsize_totals(&m.join("maildirsize"));
    assert_eq!(spec, "100000S,100C");
    assert_eq!((bytes, count), counted_usage(&m));
    assert_eq!(count, 7);
    assert_names_and_sizes(&m, 5);
    assert_names_and_sizes(&m.join(".Work"), 2);
    let expected = format!("100000S,100C\n{:>12} {:>12}\n", bytes, count);
    ok(
        ours_run(s, "maildirmake", &["-q", "100000S,100C", "M"], Input::Null),
        "our recalc",
    );
    assert_eq!(
        fs::read_to_string(m.join("maildirsize")).unwrap(),
        expected,
        "our recalc"
    );
    ok(
        courier_run(s, "maildirmake", &["-q", "100000S,100C", "M"], Input::Null),
        "Courier recalc",
    );
    assert_eq!(
        fs::read_to_string(m.join("maildirsize")).unwrap(),
        expected,
        "Courier recalc"
    );
}

fn have_courier(test: &str, progs: &[&str]) -> bool {
    progs.iter().all(|p| courier(p, test).is_some())
}

#[test]
fn quota_maildir_made_by_courier_fed_by_both_sums_like_a_recalculation() {
    let t = "quota_maildir_made_by_courier_fed_by_both_sums_like_a_recalculation";
    if !have_courier(t, &["maildirmake", "deliverquota"]) {
        return;
    }
    let s = Sandbox::new(Side::Ours);
    ok(
        courier_run(&s, "maildirmake", &["-q", "100000S,100C", "M"], Input::Null),
        "maildirmake",
    );
    ok(
        courier_run(&s, "maildirmake", &["-f", "Work", "M"], Input::Null),
        "maildirmake -f",
    );
    feed(&s, Side::Courier);
    check_quota(&s);
}

#[test]
fn quota_maildir_made_by_ours_fed_by_both_sums_like_a_recalculation() {
    let t = "quota_maildir_made_by_ours_fed_by_both_sums_like_a_recalculation";
    if !have_courier(t, &["maildirmake", "deliverquota"]) {
        return;
    }
    let s = Sandbox::new(Side::Ours);
    ok(
        ours_run(&s, "maildirmake", &["-q", "100000S,100C", "M"], Input::Null),
        "maildirmake",
    );
    ok(
        ours_run(&s, "maildirmake", &["-f", "Work", "M"], Input::Null),
        "maildirmake -f",
    );
    feed(&s, Side::Ours);
    check_quota(&s);
}

#[test]
fn over_quota_after_mixed_deliveries_is_seen_by_both() {
    let t = "over_quota_after_mixed_deliveries_is_seen_by_both";
    if !have_courier(t, &["maildirmake", "deliverquota"]) {
        return;
    }
    let s = Sandbox::new(Side::Ours);
    // 3 messages fit (count quota), the 4th is refused by whoever delivers it.
    ok(
        courier_run(&s, "maildirmake", &["-q", "3C", "M"], Input::Null),
        "maildirmake",
    );
    ok(
        ours_run(&s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec())),
        "ours 1",
    );
    ok(
        courier_run(&s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec())),
        "Courier 2",
    );
    ok(
        ours_run(&s, "deliverquota", &["M"], Input::File(MSG.to_vec())),
        "ours 3",
    );
    let o = courier_run(&s, "deliverquota", &["M"], Input::File(MSG.to_vec()));
    assert_eq!(o.code, Some(77), "Courier 4: {o:?}");
    let o = ours_run(&s, "deliverquota", &["M"], Input::File(MSG.to_vec()));
    assert_eq!(o.code, Some(77), "ours 4: {o:?}");
    assert_eq!(o.stdout, "Mail quota exceeded.\n");
    let o = ours_run(&s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec()));
    assert_eq!(o.code, Some(75), "ours 4 from a pipe: {o:?}");
    e2e::assert_clean(&s.join("M"), 3);
}

const B1: &str = "1795302245.M851834P20907V000000000000FE00I00000000000C0005.vm,S=17";
const B2: &str = "1795302245.M855792P20908V000000000000FE00I00000000000C0006.vm,S=17";

fn kw_maildir(s: &Sandbox) {
    let m = s.join("M");
    e2e::make_maildir(&m);
    fs::write(m.join("new").join(B1), b"Subject: x\n\nbody\n").unwrap();
    fs::write(
        m.join("cur").join(format!("{B2}:2,S")),
        b"Subject: x\n\nbody\n",
    )
    .unwrap();
}

#[test]
fn keywords_written_by_courier_maildirkw_are_listed_by_ours() {
    if !have_courier(
        "keywords_written_by_courier_maildirkw_are_listed_by_ours",
        &["maildirkw"],
    ) {
        return;
    }
    let s = Sandbox::new(Side::Ours);
    kw_maildir(&s);
    ok(
        courier_run(&s, "maildirkw", &["M", B1, "$Label1", "Work"], Input::Null),
        "set",
    );
    // Consolidated state (:list) as well as pending update files.
    ok(
        courier_run(&s, "maildirkw", &["-a", "M", B1, "Extra"], Input::Null),
        "add",
    );
    ok(
        courier_run(&s, "maildirkw", &["M", B2, "Todo"], Input::Null),
        "set 2",
    );
    let theirs = ok(
        courier_run(&s, "maildirkw", &["-L", "M"], Input::Null),
        "Courier -L",
    );
    let mine = ok(
        ours_run(&s, "maildirkw", &["-L", "M"], Input::Null),
        "our -L",
    );
    assert_eq!(mine.stdout, theirs.stdout);
    assert!(
        mine.stdout.contains(&format!("{B1} $Label1 Extra Work\n")),
        "{mine:?}"
    );
}

#[test]
fn keywords_written_by_our_maildirkw_are_listed_by_courier() {
    if !have_courier(
        "keywords_written_by_our_maildirkw_are_listed_by_courier",
        &["maildirkw"],
    ) {
        return;
    }
    let s = Sandbox::new(Side::Ours);
    kw_maildir(&s);
    ok(
        ours_run(&s, "maildirkw", &["M", B1, "$Label1", "Work"], Input::Null),
        "set",
    );
    ok(
        ours_run(&s, "maildirkw", &["-a", "M", B1, "Extra"], Input::Null),
        "add",
    );
    ok(
        ours_run(&s, "maildirkw", &["-a", "M", B2, "Todo"], Input::Null),
        "add 2",
    );
    ok(
        ours_run(&s, "maildirkw", &["-r", "M", B1, "Work"], Input::Null),
        "remove",
    );
    let theirs = ok(
        courier_run(&s, "maildirkw", &["-L", "M"], Input::Null),
        "Courier -L",
    );
    let mine = ok(
        ours_run(&s, "maildirkw", &["-L", "M"], Input::Null),
        "our -L",
    );
    assert_eq!(theirs.stdout, mine.stdout);
    assert!(
        theirs.stdout.contains(&format!("{B1} $Label1 Extra\n")),
        "{theirs:?}"
    );
    assert!(
        theirs.stdout.contains(&format!("{B2} Todo\n")),
        "{theirs:?}"
    );
}

/// Runs Debian's imapd in PREAUTH mode from `home` on `./Maildir` with `script`.
fn imapd(home: &Sandbox, script: &str) -> Outcome {
    let o = home
        .courier_cmd("imapd")
        .args(["./Maildir"])
        .env_remove("IMAPLOGINTAG")
        .env("IMAP_KEYWORDS", "1")
        .input(Input::Pipe(script.replace('\n', "\r\n").into_bytes()))
        .timeout(std::time::Duration::from_secs(30))
        .run();
    assert_eq!(o.code, Some(0), "imapd: {o:?}");
    assert!(o.stdout.starts_with("* PREAUTH"), "imapd: {o:?}");
    o
}

fn uidvalidity(out: &str) -> String {
    let pos = out.find("[UIDVALIDITY ").expect("UIDVALIDITY in SELECT");
    out[pos + 13..].split(']').next().unwrap().to_string()
}

fn basename(n: &str) -> &str {
    n.split(':').next().unwrap()
}

#[test]
fn imapd_session_on_maildir_fed_by_our_deliverquota_works() {
    let t = "imapd_session_on_maildir_fed_by_our_deliverquota_works";
    if !have_courier(t, &["imapd"]) {
        return;
    }
    let home = Sandbox::new(Side::Ours);
    ok(
        ours_run(&home, "maildirmake", &["Maildir"], Input::Null),
        "maildirmake",
    );
    ok(
        ours_run(
            &home,
            "deliverquota",
            &["Maildir"],
            Input::Pipe(b"Subject: one\n\n1\n".to_vec()),
        ),
        "d1",
    );
    ok(
        ours_run(
            &home,
            "deliverquota",
            &["Maildir"],
            Input::File(b"Subject: two\n\n2\n".to_vec()),
        ),
        "d2",
    );
    let o = imapd(
        &home,
        "a1 SELECT INBOX\na2 FETCH 1:* (UID FLAGS RFC822.SIZE)\na3 STORE 2 +FLAGS (\\Seen)\n\
         a4 FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]\na5 LOGOUT\n",
    );
    let out = &o.stdout;
    assert!(out.contains("* 2 EXISTS\r\n"), "{out}");
    assert!(
        out.contains("* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE 19)\r\n"),
        "{out}"
    );
    assert!(
        out.contains("* 2 FETCH (UID 2 FLAGS (\\Recent) RFC822.SIZE 19)\r\n"),
        "{out}"
    );
    assert!(out.contains("a3 OK"), "{out}");
    assert!(out.contains("Subject: one"), "{out}");
    assert!(out.contains("a5 OK LOGOUT"), "{out}");
    let uidv = uidvalidity(out);

    // imapd moved the messages to cur/ and wrote the uiddb: our library reads it.
    let md = home.join("Maildir");
    let cur = names(&md.join("cur"));
    assert_eq!(cur.len(), 2, "{cur:?}");
    let (db, salvaged) = UidDb::read(&md).expect("read uiddb").expect("uiddb exists");
    assert!(salvaged.is_none(), "{salvaged:?}");
    assert_eq!(db.uidvalidity.to_string(), uidv);
    assert_eq!(db.next_uid, 3);
    let mut by_uid: Vec<&str> = cur.iter().map(|n| basename(n)).collect();
    by_uid.sort_by_key(|b| db.uid_of(b));
    assert_eq!(db.uid_of(by_uid[0]), Some(1));
    assert_eq!(db.uid_of(by_uid[1]), Some(2));
    assert!(cur.iter().any(|n| n.ends_with(":2,S")), "{cur:?}");

    // Our deliverquota adds a third message; the next session gives it UID 3 under the
    // same UIDVALIDITY, and the quota recalculation by our maildirmake counts cur/.
    ok(
        ours_run(
            &home,
            "deliverquota",
            &["Maildir"],
            Input::Pipe(b"Subject: three\n\n3\n".to_vec()),
        ),
        "d3",
    );
    let o = imapd(
        &home,
        "b1 SELECT INBOX\nb2 UID FETCH 1:* (FLAGS)\nb3 LOGOUT\n",
    );
    assert_eq!(uidvalidity(&o.stdout), uidv);
    assert!(o.stdout.contains("* 3 EXISTS\r\n"), "{}", o.stdout);
    assert!(
        o.stdout.contains("(UID 3 FLAGS (\\Recent))"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("(UID 2 FLAGS (\\Seen))"), "{}", o.stdout);
    ok(
        ours_run(
            &home,
            "maildirmake",
            &["-q", "1000S", "Maildir"],
            Input::Null,
        ),
        "-q",
    );
    assert_eq!(
        fs::read_to_string(md.join("maildirsize")).unwrap(),
        "1000S\n          50            3\n"
    );
}

#[test]
fn imapd_keywords_are_read_by_our_maildirkw_and_ours_by_imapd() {
    let t = "imapd_keywords_are_read_by_our_maildirkw_and_ours_by_imapd";
    if !have_courier(t, &["imapd"]) {
        return;
    }
    let home = Sandbox::new(Side::Ours);
    ok(
        ours_run(&home, "maildirmake", &["Maildir"], Input::Null),
        "maildirmake",
    );
    for i in 0..2 {
        let m = format!("Subject: m{i}\n\nbody\n").into_bytes();
        ok(
            ours_run(&home, "deliverquota", &["Maildir"], Input::Pipe(m)),
            "deliver",
        );
    }
    let o = imapd(
        &home,
        "a1 SELECT INBOX\na2 STORE 1 +FLAGS (Work $Label1)\na3 STORE 2 +FLAGS (\\Seen)\na4 LOGOUT\n",
    );
    assert!(o.stdout.contains("a2 OK"), "{}", o.stdout);
    let md = home.join("Maildir");
    let (db, _) = UidDb::read(&md).unwrap().unwrap();
    let b1 = db.entries.iter().find(|(u, _)| *u == 1).unwrap().1.clone();
    let b2 = db.entries.iter().find(|(u, _)| *u == 2).unwrap().1.clone();
    let list = ok(
        ours_run(&home, "maildirkw", &["-L", "Maildir"], Input::Null),
        "-L",
    );
    assert!(
        list.stdout.contains(&format!("{b1} $Label1 Work\n")),
        "{list:?}"
    );
    // Our maildirkw changes keywords of a message in cur/ with flags; imapd sees them.
    ok(
        ours_run(
            &home,
            "maildirkw",
            &["-a", "Maildir", &b2, "Later"],
            Input::Null,
        ),
        "-a",
    );
    ok(
        ours_run(
            &home,
            "maildirkw",
            &["-r", "Maildir", &b1, "Work"],
            Input::Null,
        ),
        "-r",
    );
    let o = imapd(
        &home,
        "b1 SELECT INBOX\nb2 FETCH 1:* (UID FLAGS)\nb3 LOGOUT\n",
    );
    let l1 = o
        .stdout
        .lines()
        .find(|l| l.starts_with("* 1 FETCH"))
        .unwrap_or("");
    let l2 = o
        .stdout
        .lines()
        .find(|l| l.starts_with("* 2 FETCH"))
        .unwrap_or("");
    assert!(
        l1.contains("$Label1") && !l1.contains("Work"),
        "{}",
        o.stdout
    );
    assert!(
        l2.contains("Later") && l2.contains("\\Seen"),
        "{}",
        o.stdout
    );
}
