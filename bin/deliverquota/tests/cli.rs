//! deliverquota as a program: exit codes, messages, and what ends up on disk.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const MSG: &[u8] = b"Subject: a\n\nhello\n";

fn maildir(dir: &Path, quota: Option<&str>) {
    for sub in ["", "tmp", "new", "cur"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    if let Some(q) = quota {
        fs::write(
            dir.join("maildirsize"),
            format!("{q}\n           0            0\n"),
        )
        .unwrap();
    }
}

/// Feeds `input` through a pipe.
fn pipe(cwd: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_deliverquota"))
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The program may exit before reading everything (usage errors).
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// Gives `input` as a regular file on stdin.
fn file(cwd: &Path, args: &[&str], input: &[u8]) -> Output {
    let p = cwd.join(".stdin");
    fs::write(&p, input).unwrap();
    Command::new(env!("CARGO_BIN_EXE_deliverquota"))
        .current_dir(cwd)
        .args(args)
        .stdin(fs::File::open(&p).unwrap())
        .output()
        .unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn delivery_copies_bytes_verbatim_and_counts_quota() {
    let t = tempfile::tempdir().unwrap();
    maildir(&t.path().join("M"), Some("1000S"));
    let o = pipe(t.path(), &["M"], b"no final newline");
    assert_eq!(o.status.code(), Some(0));
    let new = names(&t.path().join("M/new"));
    assert_eq!(new.len(), 1);
    assert!(new[0].ends_with(",S=16"), "{}", new[0]);
    assert_eq!(
        fs::read(t.path().join("M/new").join(&new[0])).unwrap(),
        b"no final newline"
    );
    assert!(names(&t.path().join("M/tmp")).is_empty());
    assert_eq!(
        fs::read_to_string(t.path().join("M/maildirsize")).unwrap(),
        "1000S\n           0            0\n          16            1\n"
    );
}

#[test]
fn over_quota_is_75_from_a_pipe_and_77_from_a_file_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    maildir(&t.path().join("M"), Some("10S"));
    let o = pipe(t.path(), &["M"], MSG);
    assert_eq!(o.status.code(), Some(75));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Mail quota exceeded.\n");
    let o = file(t.path(), &["M"], MSG);
    assert_eq!(o.status.code(), Some(77));
    assert!(names(&t.path().join("M/new")).is_empty());
    assert!(names(&t.path().join("M/tmp")).is_empty());
}

#[test]
fn usage_errors_exit_73() {
    let t = tempfile::tempdir().unwrap();
    maildir(&t.path().join("M"), None);
    for args in [&[][..], &["-w", "101", "M"], &["-w", "-5", "M"], &["-c"]] {
        let o = pipe(t.path(), args, MSG);
        assert_eq!(o.status.code(), Some(73), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("[-c] [-w percent] maildir"));
    }
}

#[test]
fn missing_maildir_is_75_naming_it_and_c_creates_it() {
    let t = tempfile::tempdir().unwrap();
    let o = pipe(t.path(), &["nonexist"], MSG);
    assert_eq!(o.status.code(), Some(75));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "nonexist: No such file or directory\n"
    );
    let o = pipe(t.path(), &["-c", "a/b/M"], MSG);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(names(&t.path().join("a/b/M/new")).len(), 1);
    fs::write(t.path().join("F"), b"").unwrap();
    let o = pipe(t.path(), &["F"], MSG);
    assert_eq!(
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned()
        ),
        (Some(75), "F: Not a directory\n".into())
    );
}

#[test]
fn quota_warning_is_sent_once_a_day_to_the_main_maildir() {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("M");
    maildir(&m, Some("100S"));
    maildir(&m.join(".Sub"), None);
    fs::write(m.join(".Sub/maildirfolder"), b"").unwrap();
    fs::write(
        t.path().join("tpl"),
        b"From: MAILER-DAEMON\nSubject: quota\n\nNear quota.\n",
    )
    .unwrap();
    let o = pipe(t.path(), &["-w", "10", "-W", "tpl", "M/.Sub"], MSG);
    assert_eq!(o.status.code(), Some(0));
    let warn: Vec<String> = names(&m.join("new"))
        .into_iter()
        .filter(|n| n.contains("_warn."))
        .collect();
    assert_eq!(warn.len(), 1, "one warning in the main maildir");
    let body = fs::read_to_string(m.join("new").join(&warn[0])).unwrap();
    assert!(body.starts_with("Date: "), "{body}");
    assert!(body.contains(".overquota@"), "{body}");
    assert!(body.ends_with("From: MAILER-DAEMON\nSubject: quota\n\nNear quota.\n"));
    assert_eq!(fs::read(m.join("quotawarn")).unwrap(), b"\0");
    pipe(t.path(), &["-w", "10", "-W", "tpl", "M/.Sub"], MSG);
    let warns = names(&m.join("new"))
        .into_iter()
        .filter(|n| n.contains("_warn."))
        .count();
    assert_eq!(warns, 1, "no second warning within 24 hours");
    assert_eq!(names(&m.join(".Sub/new")).len(), 2);
}

#[test]
fn obsolete_quota_argument_installs_the_spec() {
    let t = tempfile::tempdir().unwrap();
    maildir(&t.path().join("M"), None);
    assert_eq!(pipe(t.path(), &["M", "5000S"], MSG).status.code(), Some(0));
    assert_eq!(
        fs::read_to_string(t.path().join("M/maildirsize")).unwrap(),
        "5000S\n           0            0\n          18            1\n"
    );
}

#[test]
fn empty_message_is_delivered_without_size_suffix() {
    let t = tempfile::tempdir().unwrap();
    maildir(&t.path().join("M"), None);
    assert_eq!(pipe(t.path(), &["M"], b"").status.code(), Some(0));
    let new = names(&t.path().join("M/new"));
    assert_eq!(new.len(), 1);
    assert!(!new[0].contains(",S="), "{}", new[0]);
}
