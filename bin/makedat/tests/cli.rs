//! makedat as a program: usage, the database it writes, errors, -hup; and the same
//! key/value pairs as Debian's makedat (read back from its GDBM file with Perl) where
//! that is installed.

use courier_userdb::dat::DatFile;
use std::path::Path;
use std::process::{Command, Output};

const OURS: &str = env!("CARGO_BIN_EXE_makedat");
const DEBIAN: &str = "/usr/lib/courier/makedat";

fn run(bin: &str, args: &[String]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn args(dir: &Path, src: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        format!("-src={}", dir.join(src).display()),
        format!("-file={}", dir.join("out.dat").display()),
        format!("-tmp={}", dir.join("out.tmp").display()),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn dump(path: &Path) -> Vec<String> {
    let db = DatFile::open(path).unwrap();
    let mut v = Vec::new();
    db.for_each(&mut |k, val| {
        v.push(format!(
            "{} => {}",
            String::from_utf8_lossy(k),
            String::from_utf8_lossy(val)
        ))
    })
    .unwrap();
    v.sort();
    v
}

const SOURCE: &str = "# IMAP access\n\n127.0.0.1\tallow,RELAYCLIENT\n10.1\tdeny\n\
                      192.168.0.0/23\tallow,LAN=1\n*\n:2001:0db8\tallow,V6=1\n";

#[test]
fn usage_without_required_arguments() {
    for words in [
        &[][..],
        &["-src=a", "-file=b"][..],
        &["-bogus"][..],
        &["-src=", "-file=b", "-tmp=c"][..],
    ] {
        let o = Command::new(OURS).args(words).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{words:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("Usage: {OURS} -src=src -file=file -tmp=tmpfile -hup=hupfile [-cidr]\n")
        );
    }
}

#[test]
fn builds_a_file_or_directory_source_with_cidr_expansion() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("src"), SOURCE).unwrap();
    let o = run(OURS, &args(t.path(), "src", &["-cidr"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!t.path().join("out.tmp").exists());
    assert_eq!(
        dump(&t.path().join("out.dat")),
        vec![
            "* => 1",
            "10.1 => deny",
            "127.0.0.1 => allow,RELAYCLIENT",
            "192.168.0 => allow,LAN=1",
            "192.168.1 => allow,LAN=1",
            ":2001:0db8 => allow,V6=1",
        ]
    );
    // A directory: regular files, backups and dpkg leftovers skipped.
    let d = t.path().join("dir");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("a"), "1.2.3.4\tdeny\n").unwrap();
    std::fs::write(d.join("b"), "5.6.7.8\tallow\n").unwrap();
    std::fs::write(d.join("b~"), "9.9.9.9\tdeny\n").unwrap();
    std::fs::write(d.join("c.dpkg-old"), "8.8.8.8\tdeny\n").unwrap();
    let o = run(OURS, &args(t.path(), "dir", &[]));
    assert!(o.status.success());
    assert_eq!(
        dump(&t.path().join("out.dat")),
        vec!["1.2.3.4 => deny", "5.6.7.8 => allow"]
    );
}

#[test]
fn errors_leave_the_old_database_and_exit_1() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("src"), "1.2.3.4\tdeny\n").unwrap();
    assert!(run(OURS, &args(t.path(), "src", &[])).status.success());
    let cases: &[(&str, &str)] = &[
        (
            "1.2.3.4\tdeny\n1.2.3.4\tallow\n",
            "Cannot store record for 1.2.3.4 - duplicate or out of disk space.",
        ),
        ("1.2.3.4\tdeny", "no newline"),
        (
            "10.0.0.0/33\tdeny\n",
            "invalid or too large address range: 10.0.0.0/33",
        ),
    ];
    for (text, message) in cases {
        std::fs::write(t.path().join("bad"), text).unwrap();
        let o = run(OURS, &args(t.path(), "bad", &["-cidr"]));
        assert_eq!(o.status.code(), Some(1), "{text}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(message), "{text}: {err}");
        assert_eq!(dump(&t.path().join("out.dat")), vec!["1.2.3.4 => deny"]);
        assert!(!t.path().join("out.tmp").exists());
    }
    let o = run(OURS, &args(t.path(), "missing", &[]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing: No such file or directory"));
}

#[test]
fn hup_signals_the_pid_in_the_file() {
    use std::os::unix::process::ExitStatusExt;
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("src"), "*\tallow\n").unwrap();
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let pid_file = t.path().join("pid");
    std::fs::write(&pid_file, format!("{}\n", sleeper.id())).unwrap();
    let hup = format!("-hup={}", pid_file.display());
    assert!(run(OURS, &args(t.path(), "src", &[&hup])).status.success());
    let st = sleeper.wait().unwrap();
    assert_eq!(st.signal(), Some(1), "SIGHUP expected");
}

fn debian_makedat(dir: &Path, src: &str, gdbm: &Path) -> Output {
    Command::new(DEBIAN)
        .arg(format!("-src={}", dir.join(src).display()))
        .arg(format!("-file={}", gdbm.display()))
        .arg(format!("-tmp={}", dir.join("debian.tmp").display()))
        .output()
        .unwrap()
}

#[test]
fn same_pairs_as_debian_makedat() {
    if !Path::new(DEBIAN).exists() {
        eprintln!("SKIP: {DEBIAN} not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    // No CIDR lines: Debian's makedat needs Perl's Net::CIDR for those.
    let source =
        "# c\n127.0.0.1\tallow,RELAYCLIENT\n10.1\tdeny\n*\n\n:2001:0db8\tallow,A=\"x,y\"\tz\n";
    std::fs::write(t.path().join("src"), source).unwrap();
    assert!(
        run(OURS, &args(t.path(), "src", &["-cidr"]))
            .status
            .success()
    );
    let ours = dump(&t.path().join("out.dat"));
    let gdbm = t.path().join("debian.dat");
    assert!(debian_makedat(t.path(), "src", &gdbm).status.success());
    let perl = Command::new("perl")
        .args([
            "-MGDBM_File",
            "-e",
            "tie my %h, 'GDBM_File', $ARGV[0], &GDBM_READER, 0 or die; \
             print \"$_ => $h{$_}\\n\" for sort keys %h",
        ])
        .arg(&gdbm)
        .output()
        .unwrap();
    if !perl.status.success() {
        eprintln!("SKIP: Perl's GDBM_File unavailable");
        return;
    }
    let mut theirs: Vec<String> = String::from_utf8_lossy(&perl.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    // Duplicates: same refusal text and exit code.
    std::fs::write(t.path().join("dup"), "a\tx\na\ty\n").unwrap();
    let o = debian_makedat(t.path(), "dup", &gdbm);
    let mine = run(OURS, &args(t.path(), "dup", &[]));
    assert_eq!(o.status.code(), mine.status.code());
    let theirs = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert!(
        String::from_utf8_lossy(&mine.stderr).contains(&theirs),
        "{theirs}"
    );
}
