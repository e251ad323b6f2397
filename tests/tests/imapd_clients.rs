//! Real IMAP clients against our imapd through the whole login chain
//! (couriertcpd -> imaplogin -> authdaemond -> exec `ours("imapd")`): Python's
//! imaplib (in clear and over STARTTLS), curl, and mbsync (isync) syncing a
//! folder tree both ways.
//!
//! Root only (the chain drops to the account's uid); a client that is not
//! installed is a printed SKIP. Pointing COURIER_BIN_DIR at a directory whose
//! `imapd` is Debian's runs the same tests against Courier's imapd.

use e2e::clientkit::*;
use e2e::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The subjects of the messages in `maildir`/new in Courier's message order
/// (the delivery second, then the name byte-wise: formats.md §3.7), which is the
/// order of sequence numbers and UIDs: two deliveries in one second can come out
/// in either order (`M99999` sorts after `M100000`).
fn imap_order(maildir: &Path) -> Vec<String> {
    let mut v = names(&maildir.join("new"));
    v.sort_by_key(|n| {
        let sec: u64 = n
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (sec, n.clone().into_bytes())
    });
    v.iter()
        .map(|n| {
            let text = std::fs::read_to_string(maildir.join("new").join(n)).unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or_else(|| panic!("{n}: no Subject"))
                .to_string()
        })
        .collect()
}

/// The chain with our imapd after login, and three messages in INBOX
/// (subjects first, second, third).
fn setup(t: &str) -> Option<(Fixture, ChainServer, Vec<String>)> {
    if !chain_prereqs(t) {
        return None;
    }
    let fx = Fixture::new("");
    for s in ["first", "second", "third"] {
        fx.deliver(s);
    }
    let order = imap_order(&fx.home.join("Maildir"));
    // IDLE announces deliveries at once (Debian's default polls every 60 s).
    // More than couriertcpd's default of 4 connections per address (mailbench memory).
    let spec = fx
        .imap_spec(&ours("imapd"))
        .env("IMAP_ENHANCEDIDLE", "1")
        .opt("-maxperip=20");
    let srv = fx.start(&spec);
    Some((fx, srv, order))
}

const IMAPLIB_SESSION: &str = r#"
import imaplib, ssl, sys
port, pw, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
m = imaplib.IMAP4("127.0.0.1", port)
if mode == "starttls":
    c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
    print("STARTTLS", m.starttls(ssl_context=c)[0])
print("LOGIN", m.login("vuser", pw)[0])
typ, boxes = m.list()
print("LIST", typ, " | ".join(b.decode() for b in boxes))
typ, d = m.select("INBOX"); print("SELECT", typ, d[0].decode())
typ, d = m.search(None, "ALL"); print("SEARCH_ALL", d[0].decode())
typ, d = m.search(None, "SUBJECT", "second"); print("SEARCH_SUBJECT", d[0].decode())
typ, d = m.fetch("1", "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("FETCH1", d[0][0].decode(), "|", d[0][1].decode().strip())
typ, d = m.fetch("2", "(BODY.PEEK[TEXT])"); print("BODY2", d[0][1].decode().strip())
typ, d = m.store("1", "+FLAGS", "(\\Flagged)"); print("STORE", typ, d[0].decode())
typ, d = m.fetch("1", "(FLAGS)"); print("FLAGS1", d[0].decode())
msg = b"From: py@example.org\r\nSubject: appended by imaplib\r\nMessage-ID: <py1@e2e>\r\n\r\nAppended body.\r\n"
typ, d = m.append("INBOX", "(\\Seen)", None, msg); print("APPEND", typ, d[0].decode())
m.noop()
typ, d = m.search(None, "SEEN"); print("SEARCH_SEEN", d[0].decode())
typ, d = m.create("INBOX.Work"); print("CREATE", typ)
typ, d = m.copy("1", "INBOX.Work"); print("COPY", typ)
typ, d = m.store("2", "+FLAGS", "(\\Deleted)")
typ, d = m.expunge(); print("EXPUNGE", typ, " ".join(x.decode() for x in d if x))
typ, d = m.search(None, "ALL"); print("SEARCH_AFTER", d[0].decode())
typ, d = m.status("INBOX.Work", "(MESSAGES)"); print("STATUS", d[0].decode())
typ, d = m.list(); print("LIST2", " | ".join(b.decode() for b in d))
print("LOGOUT", m.logout()[0])
"#;

/// The value printed after `key ` by the Python script (first such line).
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} line in:\n{out}"))
}

fn check_imaplib_session(out: &str, fx: &Fixture, order: &[String]) {
    let seq_of = |subject: &str| order.iter().position(|s| s == subject).unwrap() + 1;
    assert_eq!(field(out, "LOGIN"), "OK", "{out}");
    assert!(
        field(out, "LIST").contains("\"INBOX\"") || field(out, "LIST").contains(" INBOX"),
        "{out}"
    );
    assert_eq!(field(out, "SELECT"), "OK 3", "{out}");
    assert_eq!(field(out, "SEARCH_ALL"), "1 2 3", "{out}");
    assert_eq!(
        field(out, "SEARCH_SUBJECT"),
        seq_of("second").to_string(),
        "{out}"
    );
    let f1 = field(out, "FETCH1");
    assert!(f1.contains("UID ") && f1.contains("RFC822.SIZE "), "{out}");
    assert!(f1.ends_with(&format!("| Subject: {}", order[0])), "{out}");
    assert_eq!(
        field(out, "BODY2"),
        format!("Body of {}.", order[1]),
        "{out}"
    );
    assert!(field(out, "STORE").starts_with("OK"), "{out}");
    assert!(field(out, "FLAGS1").contains("\\Flagged"), "{out}");
    assert!(field(out, "APPEND").starts_with("OK"), "{out}");
    assert_eq!(field(out, "SEARCH_SEEN"), "4", "{out}");
    assert_eq!(field(out, "CREATE"), "OK", "{out}");
    assert_eq!(field(out, "COPY"), "OK", "{out}");
    assert_eq!(field(out, "EXPUNGE"), "OK 2", "{out}");
    assert_eq!(field(out, "SEARCH_AFTER"), "1 2 3", "{out}");
    assert!(field(out, "STATUS").contains("(MESSAGES 1)"), "{out}");
    assert!(field(out, "LIST2").contains("INBOX.Work"), "{out}");
    assert_eq!(field(out, "LOGOUT"), "BYE", "{out}");
    // On disk: the folder, the copy (flagged), the appended message (seen), and
    // the expunged one gone.
    let md = fx.home.join("Maildir");
    let work = message_files(&md.join(".Work"));
    assert_eq!(work.len(), 1, "{work:?}");
    assert!(name_flags(&work[0]).contains('F'), "{work:?}");
    let inbox = message_files(&md);
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    let mids: Vec<String> = inbox.iter().filter_map(|f| file_message_id(f)).collect();
    // Message 2 was expunged.
    assert!(!mids.contains(&format!("<{}@e2e>", order[1])), "{mids:?}");
    let appended = inbox
        .iter()
        .find(|f| file_message_id(f).as_deref() == Some("<py1@e2e>"))
        .unwrap_or_else(|| panic!("appended message not on disk: {inbox:?}"));
    assert!(name_flags(appended).contains('S'), "{appended:?}");
}

#[test]
fn imaplib_session_lists_selects_fetches_stores_appends_searches_and_expunges() {
    let t = "imaplib_session_lists_selects_fetches_stores_appends_searches_and_expunges";
    let Some((fx, srv, order)) = setup(t) else {
        return;
    };
    let out = py(
        IMAPLIB_SESSION,
        &[&srv.port.to_string(), VUSER_PASSWORD, "clear"],
    );
    check_imaplib_session(&out, &fx, &order);
    assert!(
        srv.wait_log("INFO: LOGIN, user=vuser", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
}

#[test]
fn imaplib_session_over_starttls_works_the_same() {
    let t = "imaplib_session_over_starttls_works_the_same";
    let Some((fx, srv, order)) = setup(t) else {
        return;
    };
    let out = py(
        IMAPLIB_SESSION,
        &[&srv.port.to_string(), VUSER_PASSWORD, "starttls"],
    );
    assert_eq!(field(&out, "STARTTLS"), "OK", "{out}");
    check_imaplib_session(&out, &fx, &order);
    assert!(
        srv.wait_log("starttls=1", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
}

fn curl(args: &[&str]) -> Outcome {
    Run::new(Path::new("/usr/bin/curl"), "curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .timeout(Duration::from_secs(60))
        .run()
}

#[test]
fn curl_lists_fetches_by_uid_searches_appends_and_uses_starttls() {
    let t = "curl_lists_fetches_by_uid_searches_appends_and_uses_starttls";
    let Some(_) = client(t, "curl") else {
        return;
    };
    let Some((fx, srv, order)) = setup(t) else {
        return;
    };
    let base = format!("imap://vuser:{VUSER_PASSWORD}@127.0.0.1:{}", srv.port);
    let list = curl(&[&format!("{base}/")]);
    assert_eq!(list.code, Some(0), "{list:?}");
    assert!(
        list.stdout.contains("* LIST (") && list.stdout.contains("INBOX"),
        "{list:?}"
    );
    let one = curl(&[&format!("{base}/INBOX;UID=1")]);
    assert_eq!(one.code, Some(0), "{one:?}");
    assert!(
        one.stdout.contains(&format!("Subject: {}", order[0])),
        "{one:?}"
    );
    assert!(
        one.stdout.contains(&format!("Body of {}.", order[0])),
        "{one:?}"
    );
    let search = curl(&[&format!("{base}/INBOX?SUBJECT%20third")]);
    assert_eq!(search.code, Some(0), "{search:?}");
    let third = order.iter().position(|s| s == "third").unwrap() + 1;
    assert!(
        search.stdout.contains(&format!("* SEARCH {third}")),
        "{search:?}"
    );
    // STARTTLS required, certificate not checked (self-signed).
    let tls = curl(&["--ssl-reqd", "-k", &format!("{base}/INBOX;UID=2")]);
    assert_eq!(tls.code, Some(0), "{tls:?}");
    assert!(
        tls.stdout.contains(&format!("Body of {}.", order[1])),
        "{tls:?}"
    );
    // APPEND by upload, then fetch it back by its UID.
    let upload = fx.dir.join("upload.eml");
    std::fs::write(
        &upload,
        "From: curl@example.org\r\nSubject: uploaded by curl\r\nMessage-ID: <curl1@e2e>\r\n\r\nUploaded body.\r\n",
    )
    .unwrap();
    let up = curl(&["-T", &upload.to_string_lossy(), &format!("{base}/INBOX")]);
    assert_eq!(up.code, Some(0), "{up:?}");
    let back = curl(&[&format!("{base}/INBOX;UID=4")]);
    assert_eq!(back.code, Some(0), "{back:?}");
    assert!(back.stdout.contains("Uploaded body."), "{back:?}");
    let inbox = message_files(&fx.home.join("Maildir"));
    assert_eq!(inbox.len(), 4, "{inbox:?}");
    assert!(
        srv.wait_log("starttls=1", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
}

/// Message files under a local (Verbatim) or server (Maildir++) tree, by
/// folder, as sorted lists of (flags, contents).
fn tree_messages(folders: &[(&str, PathBuf)]) -> BTreeMap<String, Vec<(String, Vec<u8>)>> {
    let mut m = BTreeMap::new();
    for (name, dir) in folders {
        let mut v: Vec<(String, Vec<u8>)> = message_files(dir)
            .into_iter()
            .map(|f| (name_flags(&f), without_tuid(&std::fs::read(&f).unwrap())))
            .collect();
        v.sort();
        m.insert(name.to_string(), v);
    }
    m
}

/// `msg` without the `X-TUID:` header line mbsync inserts into every message
/// it propagates (its own marker for finding it again, isync's design).
fn without_tuid(msg: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(msg);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let head: Vec<&str> = head
        .lines()
        .filter(|l| !l.starts_with("X-TUID: "))
        .collect();
    format!("{}\n\n{body}", head.join("\n")).into_bytes()
}

/// Names and contents of every message file: to prove a sync changed nothing.
fn file_snapshot(folders: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    folders
        .iter()
        .flat_map(|d| message_files(d))
        .map(|f| {
            let c = std::fs::read(&f).unwrap();
            (f, c)
        })
        .collect()
}

fn local_maildir(dir: &Path) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
}

fn mbsync(conf: &Path, home: &Path) -> Outcome {
    Run::new(
        &which("mbsync").unwrap_or_else(|| "mbsync".into()),
        "mbsync",
    )
    .args(["-c", &conf.to_string_lossy(), "-a"])
    .env("HOME", home)
    .timeout(Duration::from_secs(60))
    .run()
}

#[test]
fn mbsync_syncs_a_folder_tree_both_ways_and_a_second_sync_changes_nothing() {
    let t = "mbsync_syncs_a_folder_tree_both_ways_and_a_second_sync_changes_nothing";
    let Some(_) = client(t, "mbsync") else {
        return;
    };
    let Some((fx, srv, _)) = setup(t) else {
        return;
    };
    // Server side: a folder with a message, made through IMAP.
    let out = py(
        r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("vuser", sys.argv[2])
print("CREATE", m.create("INBOX.Work")[0])
msg = b"From: w@example.org\r\nSubject: work item\r\nMessage-ID: <work1@e2e>\r\n\r\nWork body.\r\n"
print("APPEND", m.append("INBOX.Work", "(\\Seen)", None, msg)[0])
m.logout()
"#,
        &[&srv.port.to_string(), VUSER_PASSWORD],
    );
    assert!(
        out.contains("CREATE OK") && out.contains("APPEND OK"),
        "{out}"
    );
    // Local side: INBOX empty, Projects and Projects/2025 with a message each.
    let local = fx.dir.join("local");
    let ihome = fx.dir.join("mbhome");
    std::fs::create_dir_all(&ihome).unwrap();
    for f in ["INBOX", "Projects", "Projects/2025"] {
        local_maildir(&local.join(f));
    }
    std::fs::write(
        local.join("Projects/cur/1700000000.1_1.local:2,S"),
        "From: l@example.org\nSubject: local project\nMessage-ID: <proj1@e2e>\n\nProject body.\n",
    )
    .unwrap();
    std::fs::write(
        local.join("Projects/2025/new/1700000001.2_1.local"),
        "From: l@example.org\nSubject: nested\nMessage-ID: <nested1@e2e>\n\nNested body.\n",
    )
    .unwrap();
    let conf = fx.dir.join("mbsyncrc");
    std::fs::write(
        &conf,
        format!(
            "IMAPAccount srv\nHost 127.0.0.1\nPort {}\nUser vuser\nPass {VUSER_PASSWORD}\n\
             SSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount srv\n\n\
             MaildirStore local\nPath {}/\nInbox {}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n\
             Expunge Both\nSyncState *\nSync All\n",
            srv.port,
            local.display(),
            local.display()
        ),
    )
    .unwrap();
    let first = mbsync(&conf, &ihome);
    assert_eq!(first.code, Some(0), "first sync: {first:?}");

    let md = fx.home.join("Maildir");
    let server = vec![
        ("INBOX", md.clone()),
        ("Work", md.join(".Work")),
        ("Projects", md.join(".Projects")),
        ("Projects/2025", md.join(".Projects.2025")),
    ];
    let near = vec![
        ("INBOX", local.join("INBOX")),
        ("Work", local.join("Work")),
        ("Projects", local.join("Projects")),
        ("Projects/2025", local.join("Projects/2025")),
    ];
    for (name, dir) in &server {
        assert!(
            dir.join("cur").is_dir(),
            "server folder {name} missing: {}",
            dir.display()
        );
    }
    for (name, dir) in &near {
        assert!(
            dir.join("cur").is_dir(),
            "local folder {name} missing: {}",
            dir.display()
        );
    }
    let counts: Vec<usize> = server.iter().map(|(_, d)| message_files(d).len()).collect();
    assert_eq!(counts, vec![3, 1, 1, 1], "server side after the first sync");
    let counts: Vec<usize> = near.iter().map(|(_, d)| message_files(d).len()).collect();
    assert_eq!(counts, vec![3, 1, 1, 1], "local side after the first sync");
    // The same bytes on both sides, but for mbsync's X-TUID line.
    let s = tree_messages(&server);
    let n = tree_messages(&near);
    for (name, msgs) in &s {
        let ours: Vec<&Vec<u8>> = msgs.iter().map(|(_, c)| c).collect();
        let theirs: Vec<&Vec<u8>> = n[name].iter().map(|(_, c)| c).collect();
        let (mut a, mut b) = (ours.clone(), theirs.clone());
        a.sort();
        b.sort();
        assert!(
            a == b,
            "{name}: contents differ\nserver: {:?}\nlocal: {:?}",
            a.iter()
                .map(|c| String::from_utf8_lossy(c))
                .collect::<Vec<_>>(),
            b.iter()
                .map(|c| String::from_utf8_lossy(c))
                .collect::<Vec<_>>()
        );
    }
    // The \Seen of the local Projects message reached the server.
    assert_eq!(s["Projects"][0].0, "S", "{:?}", s["Projects"]);
    // A second sync right away finds nothing to do.
    let all: Vec<PathBuf> = server
        .iter()
        .chain(near.iter())
        .map(|(_, d)| d.clone())
        .collect();
    let before = file_snapshot(&all);
    let again = mbsync(&conf, &ihome);
    assert_eq!(again.code, Some(0), "second sync: {again:?}");
    assert!(
        before == file_snapshot(&all),
        "a sync with nothing to do changed files"
    );

    // Flag changes both ways: \Flagged locally on the Projects message, \Seen
    // on the server (through IMAP) on INBOX message 1.
    let proj = message_files(&local.join("Projects"));
    let p = &proj[0];
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    let (base, flags) = name.split_once(":2,").unwrap_or((&name, ""));
    let mut f: Vec<char> = flags.chars().chain(['F']).collect();
    f.sort();
    f.dedup();
    let renamed = p.with_file_name(format!("{base}:2,{}", f.iter().collect::<String>()));
    std::fs::rename(p, &renamed).unwrap();
    let out = py(
        r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("vuser", sys.argv[2])
m.select("INBOX")
print("STORE", m.store("1", "+FLAGS", "(\\Seen)")[0])
m.logout()
"#,
        &[&srv.port.to_string(), VUSER_PASSWORD],
    );
    assert!(out.contains("STORE OK"), "{out}");
    let second = mbsync(&conf, &ihome);
    assert_eq!(second.code, Some(0), "flag sync: {second:?}");
    let sp = message_files(&md.join(".Projects"));
    assert!(
        name_flags(&sp[0]).contains('F'),
        "local \\Flagged not on the server: {sp:?}"
    );
    let li = message_files(&local.join("INBOX"));
    assert_eq!(
        li.iter().filter(|f| name_flags(f).contains('S')).count(),
        1,
        "server \\Seen not in the local INBOX: {li:?}"
    );

    // The next sync finds nothing to do: no file on either side changes.
    let before = file_snapshot(&all);
    let third = mbsync(&conf, &ihome);
    assert_eq!(third.code, Some(0), "last sync: {third:?}");
    let after = file_snapshot(&all);
    assert!(
        before == after,
        "a no-op sync changed files:\nbefore {:?}\nafter {:?}",
        before.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        after.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
}

/// The JSON line of `row` in mailbench's output.
fn mailbench_row<'a>(out: &'a str, row: &str) -> &'a str {
    let key = format!("{{\"row\":\"{row}\"");
    out.lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_else(|| panic!("no {row} row in:\n{out}"))
}

/// A numeric field of a mailbench JSON line.
fn json_num(line: &str, key: &str) -> f64 {
    let k = format!("\"{key}\":");
    let i = line
        .find(&k)
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    line[i + k.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {line}"))
}

/// Every mailbench row, small, against our imapd: the load tool itself is tested
/// here. (With Debian's imapd in this fixture the IDLE row times out: its
/// FAM-based IDLE is not active for the fixture's account, so it polls every 60 s.)
#[test]
fn mailbench_rows_run_against_our_imapd_through_the_chain() {
    let t = "mailbench_rows_run_against_our_imapd_through_the_chain";
    let Some((fx, srv, _)) = setup(t) else {
        return;
    };
    let port = srv.port.to_string();
    let bench = |args: &[&str]| -> String {
        let o = Run::new(&ours("mailbench"), "mailbench")
            .args(args)
            .args([
                "--port",
                port.as_str(),
                "--user",
                "vuser",
                "--pass",
                VUSER_PASSWORD,
                "--label",
                "ours",
            ])
            .timeout(Duration::from_secs(120))
            .run();
        assert_eq!(
            o.code,
            Some(0),
            "mailbench {args:?}: {o:?}\nlog:\n{}",
            srv.log()
        );
        o.stdout
    };
    let out = bench(&["fetch", "--reps", "2", "--items", "ENVELOPE"]);
    let row = mailbench_row(&out, "fetch");
    assert_eq!(json_num(row, "messages"), 3.0, "{row}");
    assert_eq!(json_num(row, "reps"), 2.0, "{row}");
    let out = bench(&["select", "--reps", "1", "--tls", "starttls"]);
    mailbench_row(&out, "select_first");
    mailbench_row(&out, "select_second");
    let out = bench(&["append", "--count", "20", "--reps", "1"]);
    assert_eq!(json_num(mailbench_row(&out, "append"), "ops"), 20.0);
    assert_eq!(message_files(&fx.home.join("Maildir")).len(), 23);
    let out = bench(&["expunge", "--count", "10", "--reps", "1"]);
    assert_eq!(json_num(mailbench_row(&out, "expunge"), "ops"), 10.0);
    assert_eq!(message_files(&fx.home.join("Maildir")).len(), 13);
    let out = bench(&[
        "copy", "--count", "5", "--dest", "INBOX", "--reps", "1", "--move",
    ]);
    mailbench_row(&out, "move");
    let maildir = fx.home.join("Maildir");
    let out = bench(&[
        "idle",
        "--reps",
        "3",
        "--maildir",
        &maildir.to_string_lossy(),
        "--wait",
        "5",
    ]);
    let row = mailbench_row(&out, "idle_exists");
    assert_eq!(json_num(row, "timeouts"), 0.0, "{row}");
    let pid = srv.pid().to_string();
    let out = bench(&["memory", "--sessions", "5", "--server-pid", &pid]);
    let row = mailbench_row(&out, "memory");
    assert!(json_num(row, "processes") >= 5.0, "{row}");
    assert!(json_num(row, "median") > 0.0, "{row}");
    let out = bench(&["login", "--clients", "2", "--seconds", "1"]);
    let row = mailbench_row(&out, "login");
    assert!(json_num(row, "completed") >= 1.0, "{row}");
    assert_eq!(json_num(row, "failed"), 0.0, "{row}");
    // TLS from the first byte (couriertls -server -tcpd in front of imaplogin).
    let imaps = fx.start(&fx.imaps_spec(&ours("imapd")));
    let o = Run::new(&ours("mailbench"), "mailbench")
        .args([
            "session",
            "--tls",
            "tls",
            "--clients",
            "1",
            "--max-ops",
            "2",
        ])
        .args(["--port", &imaps.port.to_string(), "--user", "vuser"])
        .args(["--pass", VUSER_PASSWORD])
        .timeout(Duration::from_secs(60))
        .run();
    assert_eq!(o.code, Some(0), "{o:?}");
    let row = mailbench_row(&o.stdout, "session");
    assert_eq!(json_num(row, "completed"), 2.0, "{row}");
    assert_eq!(json_num(row, "failed"), 0.0, "{row}");
}

/// Lines of the log that are not one whole `LEVEL: EVENT, ...` line each.
fn torn_lines(log: &str) -> Vec<&str> {
    const LEVELS: &[&str] = &["DEBUG: ", "INFO: ", "WARN: ", "ERR: ", "ALERT: ", "CRIT: "];
    log.lines()
        .filter(|l| {
            // Debian's imapd (the oracle) lets libfam print this for an account
            // without a passwd entry; not a log line of the chain.
            let starts = LEVELS.iter().any(|p| l.starts_with(p))
                || l.starts_with("Failed to connect to socket /tmp/fam-");
            let inner = LEVELS.iter().any(|p| l[1..].contains(p));
            !starts || inner
        })
        .collect()
}

#[test]
fn log_lines_of_concurrent_sessions_stay_whole() {
    let t = "log_lines_of_concurrent_sessions_stay_whole";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    fx.deliver("first");
    let srv = fx.start(&fx.imap_spec(&ours("imapd")).opt("-maxperip=40"));
    // Many sessions logging at once into couriertcpd's one log (as fail2ban reads it).
    let o = Run::new(&ours("mailbench"), "mailbench")
        .args(["session", "--clients", "12", "--seconds", "3", "--port"])
        .args([srv.port.to_string().as_str(), "--user", "vuser", "--pass"])
        .arg_os(std::ffi::OsStr::new(VUSER_PASSWORD))
        .timeout(Duration::from_secs(60))
        .run();
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(
        srv.wait_idle(Duration::from_secs(10)),
        "{:?}",
        srv.connection_processes_anywhere()
    );
    let log = srv.log();
    let logouts = log
        .lines()
        .filter(|l| l.starts_with("INFO: LOGOUT, "))
        .count();
    assert!(logouts >= 12, "{logouts} LOGOUT lines:\n{log}");
    let torn = torn_lines(&log);
    assert!(
        torn.is_empty(),
        "{} torn log lines (each line must be one write), e.g.:\n{}",
        torn.len(),
        torn.iter().take(5).copied().collect::<Vec<_>>().join("\n")
    );
}
