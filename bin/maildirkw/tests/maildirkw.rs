//! Program tests for maildirkw: stdout, stderr and exit codes, and differential runs
//! against Debian's `/usr/bin/maildirkw` when it is installed.

use courier_maildir::layout::{self, Sharing};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEBIAN: &str = "/usr/bin/maildirkw";
const USAGE: &str = "Usage: maildirkw [ options ] maildir [+/-]flag [+/-]flag...\n";

#[derive(Debug, PartialEq, Eq)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `program` as `maildirkw` (argv[0] matters for getopt's messages) in `cwd`.
fn run_prog(program: &str, cwd: &Path, args: &[&str]) -> Out {
    let out = Command::new(program)
        .arg0("maildirkw")
        .args(args)
        .current_dir(cwd)
        .env_remove("POSIXLY_CORRECT")
        .output()
        .expect("spawn");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ours(cwd: &Path, args: &[&str]) -> Out {
    run_prog(env!("CARGO_BIN_EXE_maildirkw"), cwd, args)
}

fn debian_available(test: &str) -> bool {
    if Path::new(DEBIAN).exists() {
        true
    } else {
        println!("{test}: skipped, {DEBIAN} (Debian's courier-imap) is not installed");
        false
    }
}

fn ok(stdout: &str) -> Out {
    Out {
        code: 0,
        stdout: stdout.into(),
        stderr: String::new(),
    }
}

fn fail(code: i32, stdout: &str, stderr: &str) -> Out {
    Out {
        code,
        stdout: stdout.into(),
        stderr: stderr.into(),
    }
}

/// A temp dir holding a maildir `M` with two messages.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("M");
    layout::create(&m, Sharing::Private, false).unwrap();
    fs::write(m.join("cur/1000.M1P1.host,S=3:2,S"), "hi\n").unwrap();
    fs::write(m.join("new/1001.M2P2.host,S=3"), "ho\n").unwrap();
    (t, m)
}

/// `courierimapkeywords/` as (name, contents), sorted, with generation numbers
/// (`.<N>.`, time-dependent) replaced by `.N.`.
fn snapshot(m: &Path) -> Vec<(String, String)> {
    let dir = m.join("courierimapkeywords");
    let mut v: Vec<(String, String)> = match fs::read_dir(&dir) {
        Ok(rd) => rd
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let contents = fs::read_to_string(e.path()).unwrap();
                (normalize_generation(&name), contents)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn normalize_generation(name: &str) -> String {
    if let Some(rest) = name.strip_prefix('.') {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with('.') {
            return format!(".N{}", &rest[digits..]);
        }
    }
    name.to_string()
}

fn tmp_is_empty(m: &Path) -> bool {
    fs::read_dir(m.join("tmp")).unwrap().next().is_none()
}

#[test]
fn missing_operands_print_usage_on_stdout_and_exit_1() {
    let (t, _m) = setup();
    for args in [
        &[][..],
        &["-L"],
        &["M"],
        &["-h"],
        &["--", "M"],
        &["-c", "-l"],
    ] {
        assert_eq!(ours(t.path(), args), fail(1, USAGE, ""), "{args:?}");
    }
}

#[test]
fn invalid_option_is_reported_like_getopt() {
    let (t, _m) = setup();
    const CASES: &[(&[&str], &str)] = &[
        (&["-x", "M", "m"], "maildirkw: invalid option -- 'x'\n"),
        (&["--foo"], "maildirkw: invalid option -- '-'\n"),
        (&["M", "m", "-Foo"], "maildirkw: invalid option -- 'F'\n"),
    ];
    for (args, stderr) in CASES {
        assert_eq!(ours(t.path(), args), fail(1, USAGE, stderr), "{args:?}");
    }
}

#[test]
fn set_writes_one_sorted_deduplicated_update_file() {
    let (t, m) = setup();
    let r = ours(
        t.path(),
        &[
            "M",
            "1000.M1P1.host,S=3:2,S",
            "Work",
            "$Label1",
            "work",
            "zeta",
        ],
    );
    assert_eq!(r, ok(""));
    assert_eq!(
        snapshot(&m),
        [("1000.M1P1.host,S=3".into(), "$Label1\nWork\nzeta\n".into())]
    );
    assert!(tmp_is_empty(&m));
    assert_eq!(
        ours(t.path(), &["-L", "M"]),
        ok("1000.M1P1.host,S=3 $Label1 Work zeta\n")
    );
    // The reader consolidated: :list written, the update aged to `.<T+1>.`.
    assert_eq!(
        snapshot(&m),
        [
            (
                ".N.1000.M1P1.host,S=3".into(),
                "$Label1\nWork\nzeta\n".into()
            ),
            (
                ":list".into(),
                "Work\nzeta\n$Label1\n\n1000.M1P1.host,S=3:2 0 1\n".into()
            ),
        ]
    );
    // No keywords: an empty update, and the message is still listed until it ages.
    assert_eq!(ours(t.path(), &["M", "1000.M1P1.host,S=3"]), ok(""));
    assert_eq!(ours(t.path(), &["-L", "M"]), ok("1000.M1P1.host,S=3\n"));
    assert!(!m.join("courierimapkeywords/:list").exists());
}

#[test]
fn add_and_remove_follow_case_rules() {
    let (t, _m) = setup();
    assert_eq!(ours(t.path(), &["M", "m", "Work"]), ok(""));
    assert_eq!(
        ours(t.path(), &["-a", "M", "m:2,S", "WORK", "Extra"]),
        ok("")
    );
    assert_eq!(ours(t.path(), &["-L", "M"]), ok("m Extra Work\n"));
    assert_eq!(ours(t.path(), &["-r", "M", "m", "work", "absent"]), ok(""));
    assert_eq!(ours(t.path(), &["-L", "M"]), ok("m Extra\n"));
    assert_eq!(ours(t.path(), &["-c", "-a", "M", "m", "extra"]), ok(""));
    assert_eq!(ours(t.path(), &["-c", "-L", "M"]), ok("m Extra extra\n"));
    assert_eq!(ours(t.path(), &["-c", "-r", "M", "m", "EXTRA"]), ok(""));
    assert_eq!(ours(t.path(), &["-c", "-L", "M"]), ok("m Extra extra\n"));
    // The last of -a / -r wins, options may follow operands. Read case-insensitively,
    // `Extra` and `extra` are one keyword, so both go (Debian agrees).
    assert_eq!(ours(t.path(), &["-ar", "M", "m", "Extra"]), ok(""));
    assert_eq!(ours(t.path(), &["M", "-L", "-c"]), ok("m\n"));
}

#[test]
fn missing_or_bad_maildir() {
    let (t, _m) = setup();
    fs::write(t.path().join("F"), "not a dir\n").unwrap();
    let cases: &[(&[&str], Out)] = &[
        (&["-L", "nonexist"], ok("")),
        (&["-L", "F"], ok("")),
        (
            &["nonexist", "m", "A"],
            fail(1, "", "nonexist: No such file or directory\n"),
        ),
        (&["F", "m", "A"], fail(1, "", "F: Not a directory\n")),
        (
            &["-l", "-L", "nonexist"],
            fail(255, "", "nonexist: No such file or directory\n"),
        ),
        (
            &["-l", "nonexist", "m", "A"],
            fail(1, "", "nonexist: No such file or directory\n"),
        ),
        // Debian exits 1 silently here; we say why.
        (
            &["-a", "nonexist", "m", "A"],
            fail(1, "", "nonexist: No such file or directory\n"),
        ),
        (&["-r", "F", "m", "A"], fail(1, "", "F: Not a directory\n")),
    ];
    for (args, want) in cases {
        assert_eq!(&ours(t.path(), args), want, "{args:?}");
    }
    assert!(!t.path().join("nonexist").exists());
}

#[test]
fn message_names_that_cannot_be_files() {
    let (t, m) = setup();
    let cases: &[(&[&str], &str)] = &[
        (
            &["M", "cur/x:2,S", "A"],
            "M/courierimapkeywords/cur/x: No such file or directory\n",
        ),
        (&["M", "", "A"], "M/courierimapkeywords/: Not a directory\n"),
        (
            &["M", ":list", "A"],
            "M/courierimapkeywords/: Not a directory\n",
        ),
        // Debian loops forever on this one.
        (
            &["-a", "M", "", "A"],
            "M/courierimapkeywords/: Not a directory\n",
        ),
    ];
    for (args, stderr) in cases {
        assert_eq!(ours(t.path(), args), fail(1, "", stderr), "{args:?}");
    }
    assert!(tmp_is_empty(&m));
}

#[test]
fn garbage_list_is_survived_and_repaired() {
    let (t, m) = setup();
    let dir = m.join("courierimapkeywords");
    fs::create_dir(&dir).unwrap();
    fs::write(
        dir.join(":list"),
        "A\0x\nB\n\nno colon here\nm1:1 99 -3 junk\n\u{1}\u{2}:\n",
    )
    .unwrap();
    fs::write(dir.join(".tmp.1junk"), "").unwrap();
    fs::write(dir.join(".7abc.m1"), "Z\n").unwrap();
    let r = ours(t.path(), &["-L", "M"]);
    assert_eq!(r, ok("m1 A B\n\u{1}\u{2}\n"));
    assert_eq!(
        fs::read_to_string(dir.join(":list")).unwrap(),
        "A\nB\n\nm1:0 1\n"
    );
    assert!(!dir.join(".tmp.1junk").exists());
}

#[test]
fn lock_is_released() {
    let (t, m) = setup();
    assert_eq!(ours(t.path(), &["-l", "M", "m", "K"]), ok(""));
    assert_eq!(ours(t.path(), &["-l", "-a", "M", "m", "J"]), ok(""));
    assert_eq!(ours(t.path(), &["-l", "-L", "M"]), ok("m J K\n"));
    assert!(tmp_is_empty(&m));
}

/// The same command sequence against Debian's maildirkw and ours, on two identical
/// maildirs: every step must print the same and exit the same, and
/// `courierimapkeywords/` must end up byte-identical (generation numbers aside).
#[test]
fn differential_sequence_matches_debian() {
    if !debian_available("differential_sequence_matches_debian") {
        return;
    }
    let (deb, deb_m) = setup();
    let (our, our_m) = setup();
    let steps: &[&[&str]] = &[
        &[],
        &["-x", "M", "m"],
        &["M"],
        &["M", "1000.M1P1.host,S=3", "Work", "$Label1", "work", "zeta"],
        &["M", "nosuch", "Foo"],
        &["-L", "M"],
        &["-a", "M", "1000.M1P1.host,S=3:2,S", "Extra"],
        &["-a", "M", "1000.M1P1.host,S=3", "Another"],
        &["-r", "M", "1000.M1P1.host,S=3", "WORK", "nothere"],
        &["-L", "M"],
        &["-c", "M", "m2", "Zed", "zed", "ZED", "alpha"],
        &["-L", "M"],
        &["-c", "-L", "M"],
        &["-L", "M"],
        &["M", "m3"],
        &["-L", "M"],
        &["-ar", "M", "m7", "X"],
        &["-ra", "M", "m7", "Y"],
        &["-l", "-L", "M"],
        &["M", "m5", "--", "-Foo", "a b", "x(y"],
        &["M", "-", "K"],
        &["M", "m6", "-L"],
        &["-L", "M"],
        &["nonexist", "m", "A"],
        &["-L", "nonexist"],
        &["-l", "-L", "nonexist"],
        &["M", "cur/x:2,S", "A"],
        &["M", "", "A"],
    ];
    for args in steps {
        let d = run_prog(DEBIAN, deb.path(), args);
        let o = ours(our.path(), args);
        assert_eq!(o, d, "step {args:?}");
        assert_eq!(snapshot(&our_m), snapshot(&deb_m), "after {args:?}");
    }
    assert!(tmp_is_empty(&our_m));
}

/// Each implementation reads what the other wrote.
#[test]
fn each_reads_what_the_other_wrote() {
    if !debian_available("each_reads_what_the_other_wrote") {
        return;
    }
    let writes: &[&[&str]] = &[
        &["M", "1000.M1P1.host,S=3", "Work", "$Label1"],
        &["-L", "M"],
        &["-a", "M", "1001.M2P2.host,S=3", "Zed", "alpha"],
        &["M", "1002.M3P3.host", "Fresh"],
    ];
    for (writer, reader) in [
        (DEBIAN, env!("CARGO_BIN_EXE_maildirkw")),
        (env!("CARGO_BIN_EXE_maildirkw"), DEBIAN),
    ] {
        let (t, m) = setup();
        for args in writes {
            assert_eq!(
                run_prog(writer, t.path(), args).code,
                0,
                "{writer} {args:?}"
            );
        }
        // Two copies of the written maildir, one per reader.
        let copy = tempfile::tempdir().unwrap();
        let status = Command::new("cp")
            .arg("-a")
            .arg(&m)
            .arg(copy.path().join("M"))
            .status()
            .unwrap();
        assert!(status.success());
        let by_reader = run_prog(reader, t.path(), &["-L", "M"]);
        let by_writer = run_prog(writer, copy.path(), &["-L", "M"]);
        // `cp` may change the directory order, and with it the order of the lines.
        let sorted = |o: &Out| {
            let mut l: Vec<String> = o.stdout.lines().map(str::to_string).collect();
            l.sort();
            (o.code, l, o.stderr.clone())
        };
        assert_eq!(
            sorted(&by_reader),
            sorted(&by_writer),
            "{reader} reading {writer}'s files"
        );
        assert_eq!(
            sorted(&by_reader).1,
            [
                "1000.M1P1.host,S=3 $Label1 Work",
                "1001.M2P2.host,S=3 Zed alpha",
                "1002.M3P3.host Fresh"
            ]
        );
        assert_eq!(snapshot(&m), snapshot(&copy.path().join("M")));
    }
}
