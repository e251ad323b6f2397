//! maildirmake as a program: exit codes, messages and the files it leaves.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maildirmake"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o7777
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn maildir_folder_and_quota_are_created_with_courier_modes() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    assert!(run(d, &["M"]).status.success());
    assert_eq!(mode(&d.join("M")), 0o700);
    assert!(
        run(d, &["-s", "write,group", "-f", "Team", "M"])
            .status
            .success()
    );
    assert_eq!(
        (mode(&d.join("M/.Team")), mode(&d.join("M/.Team/cur"))),
        (0o1750, 0o1770)
    );
    assert_eq!(fs::read(d.join("M/.Team/maildirfolder")).unwrap(), b"");
    fs::write(d.join("M/cur/1.M1P1.h,S=6:2,S"), b"hello\n").unwrap();
    assert!(run(d, &["-q", "1000S,5C", "M"]).status.success());
    assert_eq!(
        fs::read_to_string(d.join("M/maildirsize")).unwrap(),
        "1000S,5C\n           6            1\n"
    );
}

#[test]
fn existing_maildir_is_an_error_naming_the_path() {
    let t = tempfile::tempdir().unwrap();
    assert!(run(t.path(), &["M"]).status.success());
    let o = run(t.path(), &["M"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), "maildirmake: M: File exists\n");
}

#[test]
fn usage_and_invalid_folder_go_to_stdout_with_exit_1() {
    let t = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["-x", "M"],
        &["-s", "read", "M"],
        &["--add", "x=rel", "M"],
    ] {
        let o = run(t.path(), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(
            text(&o.stdout),
            "Usage: maildirmake [ options ] maildir\n",
            "{args:?}"
        );
    }
    run(t.path(), &["M"]);
    let o = run(t.path(), &["-f", ".x", "M"]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(1), "Invalid folder name: .x\n".into())
    );
}

#[test]
fn unparseable_quota_warns_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let o = run(t.path(), &["-q", "100X", "M"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stderr), "WARN: quota string '100X' not parseable\n");
    assert!(!t.path().join("M/maildirsize").exists());
}

#[test]
fn shared_maildir_add_and_del_follow_courier_codes() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    run(d, &["M"]);
    run(d, &["-S", "S"]);
    let s = d.join("S");
    let spec = format!("pub={}", s.display());
    assert!(run(d, &["--add", &spec, "M"]).status.success());
    assert_eq!(
        fs::read_to_string(d.join("M/shared-maildirs")).unwrap(),
        format!("pub\t{}\n", s.display())
    );
    let o = run(d, &["--add", &spec, "M"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        "pub: already defined as a sharable maildir.\n"
    );
    let o = run(d, &["--add", &format!("a.b={}", s.display()), "M"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(1), "a.b: invalid name\n".into())
    );
    assert!(run(d, &["--del", "pub", "M"]).status.success());
    let o = run(d, &["--del", "pub", "M"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(1), "pub: not found.\n".into())
    );
}

#[test]
fn convutf8_renames_modified_utf7_folders_and_subscriptions() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    run(d, &["M"]);
    run(d, &["-f", "R&AOk-sum&AOk-", "M"]);
    fs::write(d.join("M/courierimapsubscribed"), "INBOX.R&AOk-sum&AOk-\n").unwrap();
    let o = run(d, &["--checkutf8", "M"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        d.join("M/.R&AOk-sum&AOk-").exists(),
        "check mode changes nothing"
    );
    let o = run(d, &["--convutf8", "M"]);
    assert_eq!(
        text(&o.stdout),
        "Checking M:\nSubscription to INBOX.R&AOk-sum&AOk- changed to INBOX.Résumé\n\
         Rename INBOX.R&AOk-sum&AOk- to INBOX.Résumé\nUpdating M/courierimapsubscribed\n"
    );
    assert!(d.join("M/.Résumé/cur").is_dir());
    assert_eq!(
        fs::read_to_string(d.join("M/courierimapsubscribed")).unwrap(),
        "INBOX.Résumé\n"
    );
    run(d, &["-f", "Bad&Zz", "M"]);
    let o = run(d, &["--checkutf8", "M"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "Error: INBOX.Bad&Zz: does not appear to be valid modified-UTF7\n"
    );
}
