//! pw2userdb as a program: output, option errors, exit codes, and the same lines as
//! Debian's script (which prints them in hash order, so both are compared sorted).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const OURS: &str = env!("CARGO_BIN_EXE_pw2userdb");
const DEBIAN: &str = "/usr/sbin/pw2userdb";

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

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n#comment\n\
bob:hash1:1000:100:Bob B,Room|1,,:/home/bob:\n\
nosh:x:1001:100::/home/nosh\nsh1:x:1002:100:::/bin/sh\n";
const SHADOW: &str = "root:$6$r$abc:19000:0:99999:7:::\nbob::19000::::::\n\
nosh:!:19000::::::\nsh1:*:19000::::::\nghost:h:1::::::\n";

fn fixtures() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("passwd"), PASSWD).unwrap();
    fs::write(t.path().join("shadow"), SHADOW).unwrap();
    t
}

#[test]
fn prints_accounts_in_passwd_order_with_reverse_lines() {
    let t = fixtures();
    let o = run(OURS, t.path(), &["--passwd=passwd", "--shadow=shadow"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "root\tuid=0|gid=0|home=/root|shell=/bin/bash|systempw=$6$r$abc|gecos=root\n0=\troot\n\
bob\tuid=1000|gid=100|home=/home/bob|gecos=Bob B,Room.1,,\n1000=\tbob\n\
nosh\tuid=1001|gid=100|home=/home/nosh|systempw=!\n1001=\tnosh\n\
sh1\tuid=1002|gid=100|home=|shell=/bin/sh|systempw=*\n1002=\tsh1\n"
    );
    let o = run(
        OURS,
        t.path(),
        &[
            "--passwd",
            "passwd",
            "--noshadow",
            "--nouid",
            "--domain=example.com",
        ],
    );
    assert_eq!(
        text(&o.stdout),
        "root@example.com\tuid=0|gid=0|home=/root|shell=/bin/bash|gecos=root\n\
bob@example.com\tuid=1000|gid=100|home=/home/bob|systempw=hash1|gecos=Bob B,Room.1,,\n\
nosh@example.com\tuid=1001|gid=100|home=/home/nosh\n\
sh1@example.com\tuid=1002|gid=100|home=|shell=/bin/sh\n"
    );
}

#[test]
fn bad_options_print_getopt_complaints_and_exit_255() {
    let t = fixtures();
    let o = run(OURS, t.path(), &["--bogus", "--no"]);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        text(&o.stderr),
        "Unknown option: bogus\nOption no is ambiguous (noshadow, nouid)\nInvalid options.\n"
    );
    assert_eq!(text(&o.stdout), "");
}

#[test]
fn unreadable_passwd_exits_with_errno() {
    let t = fixtures();
    let o = run(OURS, t.path(), &["--passwd=missing"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr), "missing: No such file or directory\n");
}

#[test]
fn same_lines_and_exit_codes_as_debian() {
    if !Path::new(DEBIAN).exists() {
        println!("SKIP: Debian's pw2userdb is not installed");
        return;
    }
    let t = fixtures();
    let sorted = |o: &Output| {
        let mut v: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
        v.sort();
        (o.status.code(), v, text(&o.stderr))
    };
    for args in [
        &["--passwd=passwd", "--shadow=shadow"][..],
        &[
            "--passwd=passwd",
            "--shadow=shadow",
            "--nouid",
            "--domain=d.example",
        ],
        &["-pass", "passwd", "--sh=shadow", "--NOSHADOW"],
        &["--passwd=passwd", "--shadow=none"],
        &["--passwd=passwd", "--vpopuid", "--noshadow"],
        &["--passwd=passwd", "--shadow=shadow", "--", "--nouid"],
        &["--passwd=passwd", "--domain="],
        &["--nosh=1", "--x"],
        &["--passwd"],
    ] {
        let (deb, ours) = (run(DEBIAN, t.path(), args), run(OURS, t.path(), args));
        assert_eq!(sorted(&ours), sorted(&deb), "{args:?}");
    }
    // Message texts differ on purpose (ours names the file); the exit code does not.
    let (deb, ours) = (
        run(DEBIAN, t.path(), &["--passwd=missing"]),
        run(OURS, t.path(), &["--passwd=missing"]),
    );
    assert_eq!(ours.status.code(), deb.status.code());
}
