//! deliverquota, ours vs Debian's `deliverquota.courier`: equal maildirs and messages on
//! both sides; exit codes, outputs and the normalised trees (message names, sizes,
//! `maildirsize`, `quotawarn`, warning messages) must be the same.

use e2e::{Input, Pair, Sandbox, make_folder, make_maildir, names};
use std::fs;
use std::time::{Duration, SystemTime};

const MSG: &[u8] = b"Subject: x\n\nbody\n";
const TEMPLATE: &[u8] = b"From: MAILER-DAEMON\nSubject: quota warning\n\nYou are near quota.\n";

fn pair(test: &str) -> Option<Pair> {
    Pair::new(test, &["deliverquota"])
}

/// `rel` as a maildir with, when given, a fresh `maildirsize` (what `maildirmake -q`
/// writes on an empty maildir).
fn maildir(s: &Sandbox, rel: &str, quota: Option<&str>) {
    let m = s.join(rel);
    make_maildir(&m);
    if let Some(q) = quota {
        fs::write(
            m.join("maildirsize"),
            format!("{q}\n           0            0\n"),
        )
        .unwrap();
    }
}

fn backdate(path: &std::path::Path, by: Duration) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

#[test]
fn deliverquota_pipe_delivery_matches_courier() {
    let Some(p) = pair("deliverquota_pipe_delivery_matches_courier") else {
        return;
    };
    p.each(|s| maildir(s, "M", Some("1000S")));
    p.each(|s| maildir(s, "N", None));
    for _ in 0..2 {
        let out = p.run_same("deliverquota", &["M"], Input::Pipe(MSG.to_vec()));
        assert_eq!(out.code, Some(0));
    }
    p.run_same("deliverquota", &["N"], Input::Pipe(MSG.to_vec()));
    p.assert_same_tree("M");
    p.assert_same_tree("N");
    assert_eq!(
        fs::read_to_string(p.ours.join("M/maildirsize")).unwrap(),
        "1000S\n           0            0\n          17            1\n          17            1\n"
    );
}

#[test]
fn deliverquota_file_delivery_matches_courier() {
    let Some(p) = pair("deliverquota_file_delivery_matches_courier") else {
        return;
    };
    p.each(|s| maildir(s, "M", Some("1000S,10C")));
    let out = p.run_same("deliverquota", &["M"], Input::File(MSG.to_vec()));
    assert_eq!(out.code, Some(0));
    p.assert_same_tree("M");
    let new = names(&p.ours.join("M/new"));
    assert!(new[0].ends_with(",S=17"), "{new:?}");
}

#[test]
fn deliverquota_zero_byte_and_unterminated_messages_match_courier() {
    let Some(p) = pair("deliverquota_zero_byte_and_unterminated_messages_match_courier") else {
        return;
    };
    p.each(|s| maildir(s, "M", Some("1000S")));
    p.run_same("deliverquota", &["M"], Input::Pipe(Vec::new()));
    p.run_same("deliverquota", &["M"], Input::File(Vec::new()));
    p.run_same("deliverquota", &["M"], Input::Pipe(b"no newline".to_vec()));
    p.run_same("deliverquota", &["M"], Input::File(b"no newline".to_vec()));
    p.assert_same_tree("M");
}

#[test]
fn deliverquota_c_creates_missing_parents_like_courier() {
    let Some(p) = pair("deliverquota_c_creates_missing_parents_like_courier") else {
        return;
    };
    let out = p.run_same("deliverquota", &["-c", "a/b/c"], Input::Pipe(MSG.to_vec()));
    assert_eq!(out.code, Some(0));
    p.assert_same_tree("a");
    // Without -c a missing maildir is a temporary failure.
    let out = p.run_same("deliverquota", &["x/y"], Input::Pipe(MSG.to_vec()));
    assert_eq!(out.code, Some(75));
    assert_eq!(out.stderr, "x/y: No such file or directory\n");
}

#[test]
fn deliverquota_over_quota_from_pipe_exits_75_and_from_file_77() {
    let Some(p) = pair("deliverquota_over_quota_from_pipe_exits_75_and_from_file_77") else {
        return;
    };
    p.each(|s| maildir(s, "Q", Some("40S")));
    p.each(|s| maildir(s, "C", Some("2C")));
    for q in ["Q", "C"] {
        p.run_same("deliverquota", &[q], Input::Pipe(MSG.to_vec()));
        p.run_same("deliverquota", &[q], Input::File(MSG.to_vec()));
        let out = p.run_same("deliverquota", &[q], Input::Pipe(MSG.to_vec()));
        assert_eq!(out.code, Some(75), "{q}: {out:?}");
        assert_eq!(out.stdout, "Mail quota exceeded.\n");
        let out = p.run_same("deliverquota", &[q], Input::File(MSG.to_vec()));
        assert_eq!(out.code, Some(77), "{q}: {out:?}");
        assert_eq!(out.stdout, "Mail quota exceeded.\n");
        p.assert_same_tree(q);
        assert_eq!(names(&p.ours.join(q).join("new")).len(), 2);
    }
}

#[test]
fn deliverquota_usage_errors_exit_73_like_courier() {
    let Some(p) = pair("deliverquota_usage_errors_exit_73_like_courier") else {
        return;
    };
    p.each(|s| maildir(s, "M", None));
    for args in [
        &[][..],
        &["-c"][..],
        &["-w", "101", "M"][..],
        &["-w", "-5", "M"][..],
        &["-w", "M"][..],
        &["-W", "M"][..],
    ] {
        let out = p.run_same("deliverquota", args, Input::Pipe(MSG.to_vec()));
        assert_eq!(out.code, Some(73), "{args:?}: {out:?}");
        assert_eq!(
            out.stderr,
            "Usage: deliverquota [-c] [-w percent] maildir\n"
        );
    }
    assert!(names(&p.ours.join("M/new")).is_empty());
}

#[test]
fn deliverquota_odd_option_words_are_handled_like_courier() {
    let Some(p) = pair("deliverquota_odd_option_words_are_handled_like_courier") else {
        return;
    };
    p.each(|s| maildir(s, "M", None));
    // Courier parses options word by word, without getopt: glued or unknown options
    // are taken as the maildir; `-w -1` and `-w abc` are accepted.
    for args in [
        &["-x", "M"][..],
        &["-w50", "M"][..],
        &["--", "M"][..],
        &["-w", "-1", "M"][..],
        &["-w", "abc", "M"][..],
        &["-w", "100", "M"][..],
        &["M", "a", "b"][..],
    ] {
        p.run_same("deliverquota", args, Input::Pipe(MSG.to_vec()));
    }
    p.assert_same_tree("M");
}

#[test]
fn deliverquota_warning_is_sent_once_a_day_like_courier() {
    let Some(p) = pair("deliverquota_warning_is_sent_once_a_day_like_courier") else {
        return;
    };
    p.each(|s| {
        maildir(s, "W", Some("1000S"));
        fs::write(s.join("tpl"), TEMPLATE).unwrap();
    });
    let args = ["-w", "1", "-W", "tpl", "W"];
    // From a file the threshold is checked before this message counts: 0% → no warning.
    p.run_same("deliverquota", &args, Input::File(MSG.to_vec()));
    p.assert_same_tree("W");
    assert!(!p.ours.join("W/quotawarn").exists());
    // 17/1000 = 1% ≥ 1: warning.
    p.run_same("deliverquota", &args, Input::File(MSG.to_vec()));
    p.assert_same_tree("W");
    assert_eq!(fs::read(p.ours.join("W/quotawarn")).unwrap(), b"\0");
    let warn: Vec<_> = names(&p.ours.join("W/new"))
        .into_iter()
        .filter(|n| n.contains("_warn."))
        .collect();
    assert_eq!(warn.len(), 1, "{warn:?}");
    let text = fs::read_to_string(p.ours.join("W/new").join(&warn[0])).unwrap();
    assert!(text.starts_with("Date: "), "{text}");
    assert!(text.contains(".overquota@"), "{text}");
    assert!(text.ends_with("\n\nYou are near quota.\n"), "{text}");
    // Within 24 h: no second warning.
    p.run_same("deliverquota", &args, Input::Pipe(MSG.to_vec()));
    p.assert_same_tree("W");
    // quotawarn older than 24 h: warned again.
    p.each(|s| backdate(&s.join("W/quotawarn"), Duration::from_secs(25 * 3600)));
    p.run_same("deliverquota", &args, Input::Pipe(MSG.to_vec()));
    p.assert_same_tree("W");
    let count = names(&p.ours.join("W/new"))
        .iter()
        .filter(|n| n.contains("_warn."))
        .count();
    assert_eq!(count, 2);
}

#[test]
fn deliverquota_warning_for_folder_goes_to_main_maildir_like_courier() {
    let Some(p) = pair("deliverquota_warning_for_folder_goes_to_main_maildir_like_courier") else {
        return;
    };
    p.each(|s| {
        maildir(s, "W", Some("1000S"));
        make_folder(&s.join("W"), "Sub");
        fs::write(s.join("tpl"), TEMPLATE).unwrap();
    });
    let out = p.run_same(
        "deliverquota",
        &["-w", "1", "-W", "tpl", "W/.Sub"],
        Input::Pipe(MSG.to_vec()),
    );
    assert_eq!(out.code, Some(0));
    p.assert_same_tree("W");
    assert!(p.ours.join("W/quotawarn").exists());
    assert_eq!(names(&p.ours.join("W/.Sub/new")).len(), 1);
}

#[test]
fn deliverquota_warning_over_quota_recalculates_like_courier() {
    let Some(p) = pair("deliverquota_warning_over_quota_recalculates_like_courier") else {
        return;
    };
    p.each(|s| {
        maildir(s, "W", Some("100S"));
        fs::write(s.join("tpl"), TEMPLATE).unwrap();
    });
    let args = ["-w", "10", "-W", "tpl", "W"];
    for _ in 0..2 {
        p.run_same("deliverquota", &args, Input::File(MSG.to_vec()));
        p.assert_same_tree("W");
    }
    p.each(|s| backdate(&s.join("W/quotawarn"), Duration::from_secs(25 * 3600)));
    p.run_same("deliverquota", &args, Input::File(MSG.to_vec()));
    p.assert_same_tree("W");
}

#[test]
fn deliverquota_obsolete_quota_argument_installs_spec_like_courier() {
    let Some(p) = pair("deliverquota_obsolete_quota_argument_installs_spec_like_courier") else {
        return;
    };
    p.each(|s| {
        maildir(s, "M", None);
        make_folder(&s.join("M"), "F");
    });
    for args in [
        &["M", "1000S"][..],
        &["M", "1000S"][..],
        &["M", "2000S,10C"][..],
        &["M/.F", "3000S"][..],
        &["M", "0S"][..],
        &["M", "junk"][..],
        &["M", "10X"][..],
        &["M", "3000S,5C"][..],
    ] {
        p.run_same("deliverquota", args, Input::File(MSG.to_vec()));
        p.assert_same_tree("M");
    }
    let (spec, ..) = e2e::maildirsize_totals(&p.ours.join("M/maildirsize"));
    assert_eq!(spec, "3000S,5C");
}

#[test]
fn deliverquota_into_folder_updates_parent_maildirsize() {
    let Some(p) = pair("deliverquota_into_folder_updates_parent_maildirsize") else {
        return;
    };
    p.each(|s| {
        maildir(s, "M", Some("1000S"));
        make_folder(&s.join("M"), "Work");
    });
    p.run_same("deliverquota", &["M/.Work"], Input::Pipe(MSG.to_vec()));
    p.run_same("deliverquota", &["M/.Work"], Input::File(MSG.to_vec()));
    p.assert_same_tree("M");
    assert!(!p.ours.join("M/.Work/maildirsize").exists());
    assert_eq!(
        e2e::maildirsize_totals(&p.ours.join("M/maildirsize")),
        ("1000S".into(), 34, 2)
    );
}

#[test]
fn deliverquota_long_or_garbage_maildirsize_is_handled_like_courier() {
    let Some(p) = pair("deliverquota_long_or_garbage_maildirsize_is_handled_like_courier") else {
        return;
    };
    // > 5120 bytes: only the first line is used and a recalculation is forced.
    let mut long = String::from("100000S\n");
    for _ in 0..250 {
        long.push_str(&format!("{:>12} {:>12}\n", 17, 1));
    }
    let cases: &[(&str, &str)] = &[
        ("L", &long),
        ("G", "garbage\nxx yy\n\u{1}zz\n"),
        ("N", "10S\nnot numbers\n"),
        ("E", ""),
        ("X", "10X\n"),
        ("Neg", "1000S\n         -50           -3\n"),
    ];
    p.each(|s| {
        for (dir, content) in cases {
            maildir(s, dir, None);
            fs::write(s.join(dir).join("maildirsize"), content).unwrap();
        }
    });
    for (dir, _) in cases {
        for input in [Input::Pipe(MSG.to_vec()), Input::File(MSG.to_vec())] {
            let mut both = p.each(|s| s.run("deliverquota", &[dir], input.clone()));
            // Intended difference (deliverquota(8)): lines that are not numbers are
            // counted as 0 like Courier does, and also reported, naming the file.
            if matches!(*dir, "G" | "N") {
                let warn = format!("WARN: {dir}/maildirsize: ");
                assert!(
                    both.ours.stderr.starts_with(&warn),
                    "{:?}",
                    both.ours.stderr
                );
                assert!(both.ours.stderr.contains("unreadable line(s) counted as 0"));
                both.ours.stderr.clear();
            }
            // Courier opens maildirsize twice with a file on stdin and so repeats
            // the "not parseable" warning; once is enough.
            for side in [&mut both.ours, &mut both.courier] {
                let mut lines: Vec<&str> = side.stderr.lines().collect();
                lines.dedup();
                side.stderr = lines.iter().map(|l| format!("{l}\n")).collect();
            }
            both.assert_same(&format!("deliverquota {dir}"));
        }
        p.assert_same_tree(dir);
    }
}
