//! makeuserdb as a program: files, modes, messages and exit codes, and the same results as
//! Debian's makeuserdb where it is installed.

use courier_userdb::UserDb;
use courier_userdb::dat::DatFile;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const OURS: &str = env!("CARGO_BIN_EXE_makeuserdb");
const DEBIAN_MAKEUSERDB: &str = "/usr/sbin/makeuserdb";
const DEBIAN_USERDB: &str = "/usr/sbin/userdb";

fn run(bin: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A temp dir holding `userdb` (mode 0600) with `content`.
fn source(content: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("userdb");
    fs::write(&src, content).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
    (t, src)
}

fn dump(path: &Path) -> Vec<String> {
    let db = DatFile::open(path).unwrap();
    let mut v = Vec::new();
    db.for_each(&mut |k, val| v.push(format!("{} => {}", text(k), text(val))))
        .unwrap();
    v.sort();
    v
}

/// Debian's compiled GDBM file, dumped with Perl's GDBM_File, or None when unavailable.
fn gdbm_dump(path: &Path) -> Option<Vec<String>> {
    let o = Command::new("perl")
        .args([
            "-MGDBM_File",
            "-e",
            "tie my %h, 'GDBM_File', $ARGV[0], &GDBM_READER, 0 or die; \
             print \"$_ => $h{$_}\\n\" for sort keys %h",
        ])
        .arg(path)
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    let mut v: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    v.sort();
    Some(v)
}

fn debian_available() -> bool {
    let ok = Path::new(DEBIAN_MAKEUSERDB).exists()
        && Command::new("perl")
            .args(["-MGDBM_File", "-e", "1"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP: Debian's makeuserdb or Perl's GDBM_File is not installed");
    }
    ok
}

#[test]
fn compiles_with_courier_modes_and_lock_and_no_output() {
    let (t, src) = source("alice\tuid=1|gid=1|home=/a|systempw=x|imappw=y\n1=\talice\n");
    let o = run(OURS, t.path(), &["-f", "userdb"]);
    assert_eq!(
        (o.status.code(), text(&o.stdout), text(&o.stderr)),
        (Some(0), "".into(), "".into())
    );
    let dat = t.path().join("userdb.dat");
    let shadow = t.path().join("userdbshadow.dat");
    assert_eq!(mode(&dat), 0o644);
    assert_eq!(mode(&shadow), 0o600);
    assert!(t.path().join("userdb.lock").exists());
    let mut db = UserDb::open(&dat, Some(&shadow)).unwrap();
    let r = db.lookup("alice").unwrap().unwrap();
    assert_eq!((r.get("uid"), r.get("imappw")), (Some("1"), Some("y")));
    // A trailing slash on -f is dropped, as Courier does.
    let o = run(OURS, t.path(), &["-f", &format!("{}/", src.display())]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn missing_source_says_not_found_with_errno_exit() {
    let t = tempfile::tempdir().unwrap();
    let o = run(OURS, t.path(), &["-f", "nonexist"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr), "nonexist: not found.\n");
    assert!(
        !t.path().join("nonexist.lock").exists(),
        "no lock before the checks"
    );
    let o = run(OURS, t.path(), &["-f"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(2), ": not found.\n".into())
    );
}

#[test]
fn group_readable_or_symlinked_source_is_refused_with_255() {
    let (t, src) = source("a\tuid=1\n");
    fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
    let o = run(OURS, t.path(), &["-f", "userdb"]);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        text(&o.stderr),
        "userdb: MAY NOT HAVE GROUP OR WORLD PERMISSIONS!!\n"
    );
    fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("userdb", t.path().join("ul")).unwrap();
    let o = run(OURS, t.path(), &["-f", "ul"]);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        text(&o.stderr),
        "ERROR: Wrong makeuserdb command.\n       (ul is a symbolic link)\n"
    );
    std::os::unix::fs::symlink("elsewhere", t.path().join("userdbshadow.dat")).unwrap();
    let o = run(OURS, t.path(), &["-f", "userdb"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(text(&o.stderr).contains("(userdbshadow.dat is a symbolic link)"));
}

#[test]
fn duplicate_name_is_refused_and_the_old_database_kept() {
    let (t, src) = source("alice\tuid=1\n");
    assert_eq!(
        run(OURS, t.path(), &["-f", "userdb"]).status.code(),
        Some(0)
    );
    fs::write(&src, "alice\tuid=1\nbob\tuid=2\nalice\tuid=3|systempw=x\n").unwrap();
    let o = run(OURS, t.path(), &["-f", "userdb"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some("Cannot store record for alice - duplicate or out of disk space.")
    );
    assert!(lines.next().unwrap().contains("userdb:3"), "{err}");
    assert_eq!(
        dump(&t.path().join("userdb.dat")).len(),
        1,
        "old build kept"
    );
    assert!(!t.path().join("userdb.tmp").exists());
    assert!(!t.path().join("userdbshadow.tmp").exists());
}

#[test]
fn unreadable_file_in_the_tree_is_reported_on_stdout() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("userdb");
    fs::create_dir(&src).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(src.join("ok"), "a\tuid=1\n").unwrap();
    std::os::unix::fs::symlink("missing", src.join("dangling")).unwrap();
    let o = run(OURS, t.path(), &["-f", "userdb"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stdout),
        "userdb/dangling: No such file or directory\n"
    );
}

#[test]
fn corrupt_database_does_not_stop_a_rebuild() {
    let (t, _src) = source("alice\tuid=1\n");
    fs::write(t.path().join("userdb.dat"), b"garbage").unwrap();
    assert_eq!(
        run(OURS, t.path(), &["-f", "userdb"]).status.code(),
        Some(0)
    );
    assert_eq!(dump(&t.path().join("userdb.dat")), ["alice => uid=1|_="]);
}

/// A source with every odd kind of line, as a directory tree and as one file: our
/// databases hold exactly the key/value pairs Debian's GDBM files hold.
#[test]
fn same_key_values_as_debian_makeuserdb() {
    if !debian_available() {
        return;
    }
    let odd = "# c\n\nnotab\n\tleadtab=1\nbob\t\ncarol\ta=1||b=2|||\n\
dave\tx|y=|systempw|pw=|zpw=q=r|imap-hmac-md5pw=ab\n5000=\tdave\neve\tuid=1\nlast\tuid=9";
    for tree in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let src = d.join("userdb");
        if tree {
            fs::create_dir_all(src.join("sub")).unwrap();
            fs::write(src.join("f1"), odd).unwrap();
            fs::write(src.join("sub/f2"), "zed\tuid=7|systempw=z\n").unwrap();
            fs::write(src.join(".hidden"), "hid\tuid=8\n").unwrap();
            fs::set_permissions(&src, fs::Permissions::from_mode(0o700)).unwrap();
        } else {
            fs::write(&src, odd).unwrap();
            fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
        }
        // The same absolute source path for both, since `_=` is cut from it.
        let o = run(DEBIAN_MAKEUSERDB, d, &["-f", src.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let mut want = Vec::new();
        for f in ["userdb.dat", "userdbshadow.dat"] {
            want.push((gdbm_dump(&d.join(f)).unwrap(), mode(&d.join(f))));
            fs::remove_file(d.join(f)).unwrap();
        }
        let o = run(OURS, d, &["-f", src.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        for (f, (keys, m)) in ["userdb.dat", "userdbshadow.dat"].iter().zip(want) {
            assert!(!keys.is_empty());
            assert_eq!(dump(&d.join(f)), keys, "{f}, tree={tree}");
            assert_eq!(mode(&d.join(f)), m, "{f}");
        }
    }
}

/// The refusals print what Debian's script prints and exit as it does.
#[test]
fn refusals_match_debian_byte_for_byte() {
    if !debian_available() {
        return;
    }
    type Setup<'a> = (&'a str, &'a dyn Fn(&Path));
    let setups: &[Setup] = &[
        ("missing", &|_| {}),
        ("group-readable", &|d| {
            fs::write(d.join("userdb"), "a\tuid=1\n").unwrap();
            fs::set_permissions(d.join("userdb"), fs::Permissions::from_mode(0o644)).unwrap();
        }),
        ("symlink", &|d| {
            fs::write(d.join("real"), "a\tuid=1\n").unwrap();
            fs::set_permissions(d.join("real"), fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::symlink("real", d.join("userdb")).unwrap();
        }),
        ("symlinked dat", &|d| {
            fs::write(d.join("userdb"), "a\tuid=1\n").unwrap();
            fs::set_permissions(d.join("userdb"), fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::symlink("x", d.join("userdb.dat")).unwrap();
        }),
    ];
    for (what, setup) in setups {
        let mut results = Vec::new();
        for bin in [DEBIAN_MAKEUSERDB, OURS] {
            let t = tempfile::tempdir().unwrap();
            setup(t.path());
            let o = run(bin, t.path(), &["-f", "userdb"]);
            results.push((o.status.code(), text(&o.stdout), text(&o.stderr)));
        }
        assert_eq!(results[0], results[1], "{what}");
    }
}

/// Records written by Debian's `userdb` script compile with our makeuserdb and look up.
#[test]
fn records_set_by_debian_userdb_compile_and_look_up() {
    if !Path::new(DEBIAN_USERDB).exists() {
        println!("SKIP: Debian's userdb script is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let userdb = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut c = Command::new(DEBIAN_USERDB)
            .current_dir(d)
            .args(["-f", "userdb"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    };
    userdb(
        &[
            "alice",
            "set",
            "uid=5000",
            "gid=5000",
            "home=/home/alice",
            "gecos=Alice L,Room 1",
            "options=disablepop3=1",
        ],
        "",
    );
    userdb(&["alice", "set", "systempw"], "$1$abc$def\n");
    userdb(
        &[
            "bob",
            "set",
            "uid=5001",
            "gid=5000",
            "home=/home/bob",
            "imappw=x",
        ],
        "",
    );
    userdb(&["bob", "unset", "imappw"], "");
    userdb(&["carol", "set", "uid=1", "gid=1", "home=/c"], "");
    userdb(&["carol", "del"], "");
    let o = run(OURS, d, &["-f", "userdb"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut db = UserDb::open(&d.join("userdb.dat"), Some(&d.join("userdbshadow.dat"))).unwrap();
    let a = db.lookup("alice").unwrap().unwrap();
    assert_eq!(a.get("systempw"), Some("$1$abc$def"));
    assert_eq!(a.get("gecos"), Some("Alice L,Room 1"));
    assert_eq!(a.get("options"), Some("disablepop3=1"));
    let b = db.lookup("bob").unwrap().unwrap();
    assert_eq!((b.get("uid"), b.get("imappw")), (Some("5001"), None));
    assert_eq!(db.lookup("carol").unwrap(), None);
}

/// Runs `script` as root in a private mount namespace with an empty tmpfs on
/// /etc/courier (so the compiled-in default paths can be used safely); None when that is
/// not possible here.
fn in_courier_namespace(script: &str, envs: &[(&str, &Path)]) -> Option<Output> {
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) || !Path::new("/etc/courier").is_dir() {
        println!("SKIP: cannot make a private mount namespace over /etc/courier (not root?)");
        return None;
    }
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-ec"])
        .arg(format!(
            "mount -t tmpfs tmpfs /etc/courier; cd /etc/courier; {script}"
        ));
    for (k, v) in envs {
        c.env(k, v);
    }
    Some(c.output().unwrap())
}

/// Without -f: /etc/courier/userdb as a tree, the `_=` locations relative to it, the lock
/// /etc/courier/userdb.lock; the same pairs as Debian's makeuserdb.
#[test]
fn default_tree_under_etc_courier_matches_debian() {
    if !debian_available() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let script = r#"
        mkdir -m 700 userdb userdb/sub
        printf 'a\tuid=1|systempw=x\n1=\ta\n' > userdb/f1
        printf 'b\tuid=2|home=/b\n' > userdb/sub/f2
        /usr/sbin/makeuserdb
        cp -p userdb.dat "$OUT/deb.dat"; cp -p userdbshadow.dat "$OUT/debshadow.dat"
        rm userdb.dat userdbshadow.dat userdb.lock
        "$OURS"
        test -f userdb.lock
        cp -p userdb.dat "$OUT/ours.dat"; cp -p userdbshadow.dat "$OUT/oursshadow.dat"
    "#;
    let Some(o) = in_courier_namespace(script, &[("OUT", out.path()), ("OURS", Path::new(OURS))])
    else {
        return;
    };
    assert!(o.status.success(), "{}", text(&o.stderr));
    let d = out.path();
    assert_eq!(
        dump(&d.join("ours.dat")),
        gdbm_dump(&d.join("deb.dat")).unwrap()
    );
    assert_eq!(
        dump(&d.join("oursshadow.dat")),
        gdbm_dump(&d.join("debshadow.dat")).unwrap()
    );
    assert_eq!(
        dump(&d.join("ours.dat")),
        [
            "1= => a|_=f1/",
            "a => uid=1|_=f1/",
            "b => uid=2|home=/b|_=sub/f2/"
        ]
    );
}
