//! maildirmake, ours vs Debian's `maildirmake.courier`: same command lines on equal
//! inputs must give the same exit code, stdout, stderr and the same tree (types, modes,
//! control-file contents).

use e2e::{Input, Pair, Sandbox, make_folder, make_maildir};
use std::fs;

fn pair(test: &str) -> Option<Pair> {
    Pair::new(test, &["maildirmake"])
}

/// Runs each command line in order on both sides, asserting equal outcomes step by step.
fn same_steps(p: &Pair, steps: &[&[&str]]) {
    for args in steps {
        p.run_same("maildirmake", args, Input::Null);
    }
}

/// A maildir with messages in INBOX, a folder, Trash, and a `T`-flagged message,
/// written byte-identically on both sides (fixed names, no program involved).
fn populate(s: &Sandbox) {
    let m = s.join("M");
    make_maildir(&m);
    let work = make_folder(&m, "Work");
    let trash = make_folder(&m, "Trash");
    let files: &[(&std::path::Path, &str, &[u8])] = &[
        (&m, "new/1000.M1P1.h,S=4", b"abc\n"),
        (&m, "cur/1001.M1P1.h,S=6:2,S", b"hello\n"),
        (&m, "cur/1002.M1P1.h,S=8:2,ST", b"deleted\n"),
        (&trash, "cur/1003.M1P1.h,S=11:2,S", b"1234567890\n"),
        (&work, "new/1004.M1P1.h", b"w\n"),
        (&work, "cur/1005.M1P1.h,S=3:2,", b"ww\n"),
    ];
    for (dir, name, body) in files {
        fs::write(dir.join(name), body).unwrap();
    }
}

#[test]
fn maildirmake_plain_creates_identical_tree() {
    let Some(p) = pair("maildirmake_plain_creates_identical_tree") else {
        return;
    };
    let out = p.run_same("maildirmake", &["M"], Input::Null);
    assert_eq!(out.code, Some(0));
    p.assert_same_tree("M");
    // Courier's modes are umask-independent (it calls umask(0)): check under 077 too.
    let both = p.each(|s| s.cmd_umask("maildirmake", "077").args(["U"]).run());
    both.assert_same("maildirmake U under umask 077");
    p.assert_same_tree("U");
    let both = p.each(|s| s.cmd_umask("maildirmake", "000").args(["-S", "V"]).run());
    both.assert_same("maildirmake -S V under umask 000");
    p.assert_same_tree("V");
}

#[test]
fn maildirmake_sharable_s_flag_creates_identical_tree() {
    let Some(p) = pair("maildirmake_sharable_s_flag_creates_identical_tree") else {
        return;
    };
    same_steps(&p, &[&["-S", "S"]]);
    p.assert_same_tree("S");
}

#[test]
fn maildirmake_folder_and_sharable_modes_match_courier() {
    let Some(p) = pair("maildirmake_folder_and_sharable_modes_match_courier") else {
        return;
    };
    same_steps(
        &p,
        &[
            &["M"],
            &["-f", "Work"], // usage: no maildir
            &["-f", "Work", "M"],
            &["-fSent", "M"],
            &["-S", "S"],
            &["-s", "read", "-f", "R", "S"],
            &["-s", "write", "-f", "W", "S"],
            &["-s", "read,group", "-f", "RG", "S"],
            &["-s", "write,group", "-f", "WG", "S"],
            &["-S", "-f", "SF", "S"],
        ],
    );
    p.assert_same_tree("M");
    p.assert_same_tree("S");
}

#[test]
fn maildirmake_invalid_or_existing_folder_is_refused_like_courier() {
    let Some(p) = pair("maildirmake_invalid_or_existing_folder_is_refused_like_courier") else {
        return;
    };
    same_steps(&p, &[&["M"], &["-f", "Work", "M"]]);
    let out = p.run_same("maildirmake", &["-f", ".bad", "M"], Input::Null);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "Invalid folder name: .bad\n");
    let out = p.run_same("maildirmake", &["-f", "Work", "M"], Input::Null);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("M/.Work"), "{out:?}");
    // Names Courier does not check (only a leading dot is refused).
    same_steps(
        &p,
        &[
            &["-f", "a..b", "M"],
            &["-f", "x.", "M"],
            &["-f", "", "M"],
            &["-f", "Nope", "nodir"],
        ],
    );
    p.assert_same_tree("M");
}

#[test]
fn maildirmake_usage_errors_match_courier() {
    let Some(p) = pair("maildirmake_usage_errors_match_courier") else {
        return;
    };
    for args in [
        &[][..],
        &["-s", "read", "M"][..],
        &["-x", "M"][..],
        &["-q"][..],
        &["-q", "10S"][..],
        &["--add"][..],
        &["--del"][..],
        &["-s", "write", "M3"][..],
    ] {
        let out = p.run_same("maildirmake", args, Input::Null);
        assert_eq!(out.code, Some(1), "{args:?}");
        assert_eq!(
            out.stdout, "Usage: maildirmake [ options ] maildir\n",
            "{args:?}"
        );
    }
    assert!(!p.ours.join("M").exists() && !p.ours.join("M3").exists());
}

#[test]
fn maildirmake_existing_target_fails_with_file_exists() {
    let Some(p) = pair("maildirmake_existing_target_fails_with_file_exists") else {
        return;
    };
    same_steps(&p, &[&["M"]]);
    let out = p.run_same("maildirmake", &["M"], Input::Null);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stderr, "maildirmake: M: File exists\n");
    let out = p.run_same("maildirmake", &["nodir/M"], Input::Null);
    assert_eq!(
        out.stderr,
        "maildirmake: nodir/M: No such file or directory\n"
    );
    p.assert_same_tree("M");
}

#[test]
fn maildirmake_quota_on_new_maildir_writes_identical_maildirsize() {
    let Some(p) = pair("maildirmake_quota_on_new_maildir_writes_identical_maildirsize") else {
        return;
    };
    same_steps(&p, &[&["-q", "10000S,5C", "Q"]]);
    p.assert_same_tree("Q");
    assert_eq!(
        fs::read_to_string(p.ours.join("Q/maildirsize")).unwrap(),
        "10000S,5C\n           0            0\n"
    );
    // -q does not reset the umask: the file mode follows it.
    let both = p.each(|s| {
        s.cmd_umask("maildirmake", "077")
            .args(["-q", "7S", "Q2"])
            .run()
    });
    both.assert_same("maildirmake -q 7S Q2 under umask 077");
    p.assert_same_tree("Q2");
}

#[test]
fn maildirmake_quota_on_existing_maildir_recalculates_like_courier() {
    let Some(p) = pair("maildirmake_quota_on_existing_maildir_recalculates_like_courier") else {
        return;
    };
    p.each(populate);
    same_steps(&p, &[&["-q", "100S,10C", "M"]]);
    p.assert_same_tree("M");
    // INBOX 4+6 (T skipped), Work 2+3, Trash skipped.
    assert_eq!(
        fs::read_to_string(p.ours.join("M/maildirsize")).unwrap(),
        "100S,10C\n          15            4\n"
    );
    // Replacing the spec recalculates again; invalid specs leave the file alone.
    same_steps(
        &p,
        &[
            &["-q", "5S", "M"],
            &["-q", "0S", "M"],
            &["-q", "junk", "M"],
            &["-q", "10X", "M"],
        ],
    );
    p.assert_same_tree("M");
    // On a folder: -q targets the folder path.
    same_steps(&p, &[&["-q", "10S", "-f", "Z", "M"]]);
    p.assert_same_tree("M");
}

#[test]
fn maildirmake_add_del_shared_maildirs_match_courier() {
    let Some(p) = pair("maildirmake_add_del_shared_maildirs_match_courier") else {
        return;
    };
    same_steps(&p, &[&["M"]]);
    // Absolute paths must be equal on both sides: use system directories.
    let steps: &[(&[&str], i32)] = &[
        (&["--add", "a=/usr/share", "M"], 0),
        (&["--add", "a=/usr/share", "M"], 2), // duplicate
        (&["--add", "b.c=/usr", "M"], 1),     // invalid name
        (&["--add", "b/c=/usr", "M"], 1),     // invalid name
        (&["--add", "b=relative", "M"], 1),   // not absolute
        (&["--add", "b=/nonexistent-e2e", "M"], 1),
        (&["--add", "b", "M"], 1),
        (&["--add", "c=/usr/lib", "M"], 0),
        (&["--del", "zz", "M"], 1),
        (&["--del", "a", "M"], 0),
        (&["--del", "a", "M"], 1),
    ];
    for (args, code) in steps {
        let out = p.run_same("maildirmake", args, Input::Null);
        assert_eq!(out.code, Some(*code), "{args:?}: {out:?}");
    }
    p.assert_same_tree("M");
    assert_eq!(
        fs::read_to_string(p.ours.join("M/shared-maildirs")).unwrap(),
        "c\t/usr/lib\n"
    );
}
