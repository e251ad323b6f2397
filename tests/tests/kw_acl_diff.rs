//! maildirkw and maildiracl, ours vs Debian's: a few end-to-end sequences (their own
//! crates have the detailed tests). Outputs, exit codes and the normalised trees
//! (`courierimapkeywords/`, `courierimapacl`, `courierimaphieracl/`) must match.

use e2e::{Input, Pair, Sandbox, make_folder, make_maildir};
use std::fs;

const B1: &str = "1795302245.M851834P20907V000000000000FE00I00000000000C0005.vm,S=17";
const B2: &str = "1795302245.M855792P20908V000000000000FE00I00000000000C0006.vm,S=17";
const B3: &str = "1795302245.M859832P20909V000000000000FE00I00000000000C0007.vm,S=17";

/// A maildir with three messages (one in new/, two in cur/ with flags), equal on both
/// sides.
fn populate(s: &Sandbox) {
    let m = s.join("M");
    make_maildir(&m);
    make_folder(&m, "Sent");
    fs::write(m.join("new").join(B1), b"Subject: x\n\nbody\n").unwrap();
    fs::write(
        m.join("cur").join(format!("{B2}:2,S")),
        b"Subject: x\n\nbody\n",
    )
    .unwrap();
    fs::write(
        m.join("cur").join(format!("{B3}:2,")),
        b"Subject: x\n\nbody\n",
    )
    .unwrap();
}

#[test]
fn maildirkw_set_add_remove_list_match_courier() {
    let Some(p) = Pair::new(
        "maildirkw_set_add_remove_list_match_courier",
        &["maildirkw"],
    ) else {
        return;
    };
    p.each(populate);
    let steps: &[&[&str]] = &[
        &["M", B1, "$Label1", "Work"],
        &["M", B2, "Work"],
        &["-a", "M", B1, "Extra"],
        &["-r", "M", B1, "Work"],
        &["-a", "M", B3, "a(b)c"],
        &["M", B2],
    ];
    for args in steps {
        let out = p.run_same("maildirkw", args, Input::Null);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        let list = p.run_same("maildirkw", &["-L", "M"], Input::Null);
        assert_eq!(list.code, Some(0));
    }
    let list = p.run_same("maildirkw", &["-L", "M"], Input::Null);
    assert!(
        list.stdout.contains(&format!("{B1} $Label1 Extra")),
        "{list:?}"
    );
    // A cleared message is still listed, with no keywords; `(` is not replaced.
    assert!(list.stdout.contains(&format!("{B2}\n")), "{list:?}");
    assert!(list.stdout.contains(&format!("{B3} a(b)c\n")), "{list:?}");
    p.assert_same_tree("M");
}

#[test]
fn maildirkw_first_update_writes_plain_update_file() {
    let Some(p) = Pair::new(
        "maildirkw_first_update_writes_plain_update_file",
        &["maildirkw"],
    ) else {
        return;
    };
    p.each(populate);
    p.run_same("maildirkw", &["M", B1, "$Label1", "Work"], Input::Null);
    p.assert_same_tree("M");
    assert_eq!(
        fs::read_to_string(p.ours.join("M/courierimapkeywords").join(B1)).unwrap(),
        "$Label1\nWork\n"
    );
    // -c (case-sensitive) and -l (dot-lock) variants.
    p.run_same("maildirkw", &["-l", "M", B2, "Foo", "foo"], Input::Null);
    p.run_same("maildirkw", &["-c", "M", B3, "Foo", "foo"], Input::Null);
    p.run_same("maildirkw", &["-L", "M"], Input::Null);
    p.run_same("maildirkw", &["-c", "-L", "M"], Input::Null);
    p.assert_same_tree("M");
}

#[test]
fn maildirkw_errors_match_courier() {
    let Some(p) = Pair::new("maildirkw_errors_match_courier", &["maildirkw"]) else {
        return;
    };
    p.each(populate);
    let out = p.run_same("maildirkw", &[], Input::Null);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stdout,
        "Usage: maildirkw [ options ] maildir [+/-]flag [+/-]flag...\n"
    );
    let out = p.run_same("maildirkw", &["nodir", "x", "y"], Input::Null);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stderr, "nodir: No such file or directory\n");
    p.run_same("maildirkw", &["-L", "nodir"], Input::Null);
    p.run_same("maildirkw", &["M"], Input::Null);
    // Courier does not check that the message exists.
    p.run_same("maildirkw", &["M", "nosuchmsg", "X"], Input::Null);
    p.assert_same_tree("M");
}

#[test]
fn maildiracl_set_list_compute_delete_match_courier() {
    let Some(p) = Pair::new(
        "maildiracl_set_list_compute_delete_match_courier",
        &["maildiracl"],
    ) else {
        return;
    };
    p.each(populate);
    let steps: &[(&[&str], i32)] = &[
        (&["-list", "M", "INBOX"], 0),
        (&["-list", "M", "INBOX.Sent"], 0),
        (&["-set", "M", "INBOX.Sent", "user=bob", "lr"], 0),
        (&["-set", "M", "INBOX.Sent", "anyone", "+lrs"], 0),
        (&["-set", "M", "INBOX.Sent", "-user=eve", "rl"], 0),
        (&["-compute", "M", "INBOX.Sent", "user=eve"], 0),
        (&["-compute", "M", "INBOX.Sent", "user=bob"], 0),
        (&["-list", "M", "INBOX.Sent"], 0),
        (&["-delete", "M", "INBOX.Sent", "user=bob"], 0),
        (&["-list", "M", "INBOX.Sent"], 0),
        (&["-set", "M", "INBOX", "owner", "l"], 1),
        (&["-list", "M", "Foo"], 1),
        (&["-list", "M", "INBOX.Nope"], 0),
        (&["-reset", "M"], 0),
        (&[], 1),
    ];
    for (args, code) in steps {
        let out = p.run_same("maildiracl", args, Input::Null);
        assert_eq!(out.code, Some(*code), "{args:?}: {out:?}");
    }
    p.assert_same_tree("M");
    assert_eq!(
        fs::read_to_string(p.ours.join("M/.Sent/courierimapacl")).unwrap(),
        "owner aceilrstwx\nadministrators aceilrstwx\nanyone lrs\n-user=eve lr\n"
    );
}
