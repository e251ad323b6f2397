//! userdb as a program: edits, listings, messages, exit codes and side files; the same
//! behaviour as Debian's script where it is installed; and files it writes work with
//! Debian's makeuserdb and authdaemond.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const OURS: &str = env!("CARGO_BIN_EXE_userdb");
const DEBIAN_USERDB: &str = "/usr/sbin/userdb";
const DEBIAN_MAKEUSERDB: &str = "/usr/sbin/makeuserdb";

fn run_in(bin: &str, dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut c = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    run_in(OURS, dir, args, "")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
}

#[test]
fn set_creates_a_private_file_and_merges_later_fields_in_place() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(&run(
        d,
        &["-f", "users", "alice", "set", "uid=1", "home=/h"],
    ));
    assert_eq!(
        fs::read_to_string(d.join("users")).unwrap(),
        "alice\tuid=1|home=/h\n"
    );
    assert_eq!(mode(&d.join("users")), 0o600);
    assert_eq!(mode(&d.join(".lock.users")), 0o600);
    assert!(!d.join(".tmp.users").exists());
    fs::set_permissions(d.join("users"), fs::Permissions::from_mode(0o640)).unwrap();
    ok(&run(d, &["-f", "users", "alice", "set", "gid=2", "uid=5"]));
    ok(&run(d, &["-f", "users", "bob", "set", "uid=3"]));
    assert_eq!(
        fs::read_to_string(d.join("users")).unwrap(),
        "alice\tuid=5|home=/h|gid=2\nbob\tuid=3\n"
    );
    assert_eq!(mode(&d.join("users")), 0o640, "mode kept");
    ok(&run(
        d,
        &["-f", "users", "alice", "unset", "home", "nosuch"],
    ));
    ok(&run(d, &["-f", "users", "bob", "del"]));
    assert_eq!(
        fs::read_to_string(d.join("users")).unwrap(),
        "alice\tuid=5|gid=2\n"
    );
}

#[test]
fn values_without_equals_are_read_from_stdin() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(&run_in(
        OURS,
        d,
        &["-f", "u", "a", "set", "systempw", "uid=1", "home"],
        "$1$x$y\n/h\n",
    ));
    assert_eq!(
        fs::read_to_string(d.join("u")).unwrap(),
        "a\tsystempw=$1$x$y|uid=1|home=/h\n"
    );
    // EOF before a value: exit 1, nothing written, no message (as the script).
    let o = run_in(OURS, d, &["-f", "u", "b", "set", "pw"], "");
    assert_eq!(
        (o.status.code(), text(&o.stdout), text(&o.stderr)),
        (Some(1), "".into(), "".into())
    );
    let o = run_in(OURS, d, &["-f", "u", "b", "set", "pw"], "x|y\n");
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(25), "Invalid value.\n".into())
    );
    assert!(!fs::read_to_string(d.join("u")).unwrap().contains("b\t"));
}

#[test]
fn separators_in_arguments_are_refused_with_the_readlink_errno() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let o = run(d, &["-f", "u", "a", "set", "gecos=a|b"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(2), "Invalid field or value.\n".into())
    );
    fs::write(d.join("u"), "").unwrap();
    let o = run(d, &["-f", "u", "a", "set", "gecos=a\nb"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(22), "Invalid field or value.\n".into())
    );
    assert!(!d.join(".lock.u").exists(), "refused before locking");
}

#[test]
fn show_lists_names_or_fields() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    fs::write(
        d.join("u"),
        "# c\n\nnotab\nalice\tuid=1|home=/h\nbob\tuid=2\n",
    )
    .unwrap();
    let o = run(d, &["-show", "-f", "u"]);
    ok(&o);
    assert_eq!(text(&o.stdout), "notab\nalice\nbob\n");
    let o = run(d, &["-show", "-f", "u", "alice"]);
    assert_eq!(text(&o.stdout), "uid=1\nhome=/h\n");
    let o = run(d, &["-show", "-f", "missing", "alice"]);
    assert_eq!((o.status.code(), text(&o.stdout)), (Some(0), "".into()));
    fs::create_dir(d.join("dir")).unwrap();
    let o = run(d, &["-show", "-f", "dir"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(25), "dir: not a file.\n".into())
    );
}

#[test]
fn bad_command_lines_print_usage_on_stdout_and_exit_1() {
    let t = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["alice"],
        &["-f"],
        &["-f", "u"],
        &["-show", "-f"],
        &["-f", "u", "alice", "bogus"],
        &["-f", "u", "alice", "del", "extra"],
    ] {
        let o = run(t.path(), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let out = text(&o.stdout);
        assert!(
            out.starts_with(&format!(
                "Usage: {OURS} [path/.../ | -f file ]name set field=value"
            )),
            "{args:?}: {out}"
        );
        assert_eq!(out.lines().count(), 4);
        assert_eq!(text(&o.stderr), "");
    }
}

/// Runs `script` as root in a private mount namespace with an empty tmpfs on
/// /etc/courier; None (after printing SKIP) when that is not possible here.
fn in_courier_namespace(script: &str, envs: &[(&str, &str)]) -> Option<Output> {
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) || !Path::new("/etc/courier").is_dir() {
        println!("SKIP: cannot make a private mount namespace over /etc/courier (not root?)");
        return None;
    }
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs tmpfs /etc/courier && cd /etc/courier && {{\n{script}\n}}"
        ));
    for (k, v) in envs {
        c.env(k, v);
    }
    Some(c.output().unwrap())
}

/// Every command of the scenario, its exit code, stdout and stderr, and the file after it,
/// with field order normalised (the Perl script writes fields in hash order). Perl's
/// "at /usr/sbin/userdb line N." suffix and the empty `.tmp.*` file the script leaves
/// behind when it refuses a directory are not reproduced, so they are filtered out.
const SCENARIO: &str = r#"
show() { for f in userdb f2 userdb/sub; do [ -f $f ] && { echo "  $f:"; perl -ne 'chomp; if (/^([^\t]+)\t(.*)$/) { print "    $1\t", join("|", sort split(/\|/, $2)), "\n" } else { print "    $_\n" }' $f; }; done; ls -la | awk '{print "  " $1 " " $NF}' | grep -v -e ' \.\.*$' -e ' \.tmp\.' -e '^  total '; }
r() { "$@" >o 2>e; rc=$?; echo "[$*] rc=$rc" | sed "s#$U#USERDB#g"; sed 's/^/  out: /' o | sed "s#$U#USERDB#g"; sed 's/^/  err: /' e | sed 's/ at \/usr\/sbin\/userdb line [0-9]*\.$//'; show; }
r $U
r $U alice
r $U alice set "a=b|c"
echo 'x|y' > in; r sh -c "$U alice set a < in"
r $U alice set uid=1 home=/h
r $U alice set gid=3 uid=5
printf 'secret\n' > in; r sh -c "$U bob set uid=2 systempw < in"
: > in; r sh -c "$U carol set pw < in"
r $U alice del extra
r $U nobody del
r $U nobody unset a
r $U alice unset
r $U alice bogus
r $U -show
r sh -c "$U -show alice | sort"
r $U -show nobody
r $U -show -f userdb bob
r $U -show -f nonexist bob
r $U -show -f
r $U -f
r $U -f userdb
chmod 640 userdb
r $U alice unset home
r $U -show sub/
r $U sub/x set a=1
r $U bob del
printf '# c\n\nnotab\n\tlead\nalice\tuid=1\nlast\tx=1' > f2
r $U -f f2 notab set uid=5
r $U -f f2 zed set
r $U -show -f f2 notab
r $U -f f2 last set y=2
rm userdb; mkdir -m 700 userdb
r $U -show
r $U alice set a=1
r $U sub/alice set a=1 b=2
r $U sub/alice unset a
r $U -show sub/alice
mkdir userdb/d; ln -s d userdb/lnk
r $U lnk/alice set z=1
ls -la userdb/d | awk '{print "  d: " $1 " " $NF}' | grep -v ' \.\.*$'
rm -rf userdb; ln -s f2 userdb
r $U -show -f f2
"#;

#[test]
fn scenario_matches_debian_userdb() {
    if !Path::new(DEBIAN_USERDB).exists() || !Path::new("/usr/bin/perl").exists() {
        println!("SKIP: Debian's userdb script is not installed");
        return;
    }
    let Some(deb) = in_courier_namespace(SCENARIO, &[("U", DEBIAN_USERDB)]) else {
        return;
    };
    let ours = in_courier_namespace(SCENARIO, &[("U", OURS)]).unwrap();
    let (deb, ours) = (text(&deb.stdout), text(&ours.stdout));
    assert!(deb.contains("[USERDB -show sub/alice] rc=0"), "{deb}");
    for (i, (d, o)) in deb.lines().zip(ours.lines()).enumerate() {
        assert_eq!(
            o,
            d,
            "line {}\n--- debian:\n{deb}\n--- ours:\n{ours}",
            i + 1
        );
    }
    assert_eq!(deb.lines().count(), ours.lines().count(), "{ours}");
}

fn have(paths: &[&str]) -> bool {
    let missing: Vec<&&str> = paths.iter().filter(|p| !Path::new(p).exists()).collect();
    if !missing.is_empty() {
        println!("SKIP: not installed: {missing:?}");
    }
    missing.is_empty()
}

/// A record set by our userdb compiles with Debian's makeuserdb into what Courier expects.
#[test]
fn records_set_by_us_compile_with_debian_makeuserdb() {
    if !have(&[DEBIAN_MAKEUSERDB, "/usr/bin/perl"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(&run(
        d,
        &[
            "-f",
            "userdb",
            "alice",
            "set",
            "uid=5000",
            "gid=5000",
            "home=/h/a",
            "imappw=x",
        ],
    ));
    ok(&run_in(
        OURS,
        d,
        &["-f", "userdb", "alice", "set", "systempw"],
        "$1$s$h\n",
    ));
    ok(&run(d, &["-f", "userdb", "alice", "unset", "imappw"]));
    // The reverse map line is not something `userdb set` can write; add it by hand.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(d.join("userdb"))
        .unwrap();
    f.write_all(b"5000=\talice\n").unwrap();
    let o = run_in(
        DEBIAN_MAKEUSERDB,
        d,
        &["-f", d.join("userdb").to_str().unwrap()],
        "",
    );
    ok(&o);
    let dump = |f: &str| {
        let o = Command::new("perl")
            .args([
                "-MGDBM_File",
                "-e",
                "tie my %h, 'GDBM_File', $ARGV[0], &GDBM_READER, 0 or die; \
                 print \"$_ => $h{$_}\\n\" for sort keys %h",
            ])
            .arg(d.join(f))
            .output()
            .unwrap();
        ok(&o);
        text(&o.stdout)
    };
    let loc = courier_userdb_location(&d.join("userdb"));
    assert_eq!(
        dump("userdb.dat"),
        format!("5000= => alice|_={loc}\nalice => uid=5000|gid=5000|home=/h/a|_={loc}\n")
    );
    assert_eq!(dump("userdbshadow.dat"), "alice => systempw=$1$s$h\n");
}

/// makeuserdb's `_=` value for a single-file source (the file name minus 19 bytes).
fn courier_userdb_location(p: &Path) -> String {
    let s = p.display().to_string();
    let rest = s.get(19..).unwrap_or("").trim_start_matches('/');
    if rest.is_empty() {
        String::new()
    } else {
        format!("{rest}/")
    }
}

/// End to end with Courier itself: our userdb writes the account, Debian's makeuserdb
/// compiles it, Debian's authdaemond serves it, and authtest logs in with the password.
#[test]
fn debian_authdaemond_authenticates_an_account_we_wrote() {
    let daemon = "/usr/lib/courier/courier-authlib/authdaemond";
    if !have(&[
        daemon,
        DEBIAN_MAKEUSERDB,
        "/usr/sbin/authtest",
        "/usr/sbin/authenumerate",
    ]) || !Path::new("/run/courier/authdaemon").is_dir()
    {
        return;
    }
    // $1$ hash of "secret" with salt "saltsalt".
    let script = r#"
        mount -t tmpfs tmpfs /run/courier/authdaemon || exit 90
        printf 'authmodulelist="authuserdb"\ndaemons=1\nauthdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=""\n' > authdaemonrc
        "$U" alice set uid=5000 gid=5000 home=/home/vmail/alice mail=/home/vmail/alice/Maildir 'systempw=$1$saltsalt$9xy1btjgzLYfb7hivXtC//' quota=1000S options=disablepop3=0 || exit 91
        chmod 600 userdb
        /usr/sbin/makeuserdb || exit 92
        "$D" >/dev/null 2>&1 &
        pid=$!
        i=0; while [ ! -S /run/courier/authdaemon/socket ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
        timeout 10 /usr/sbin/authtest -s imap alice secret; echo "rc=$?"
        timeout 10 /usr/sbin/authtest -s imap alice wrong 2>&1; echo "rc=$?"
        timeout 10 /usr/sbin/authenumerate -o; echo "rc=$?"
        kill $pid
        i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    "#;
    let Some(o) = in_courier_namespace(script, &[("U", OURS), ("D", daemon)]) else {
        return;
    };
    let out = text(&o.stdout);
    assert!(
        out.contains("Authenticated: alice  (uid 5000, gid 5000)"),
        "{out}\n{}",
        text(&o.stderr)
    );
    assert!(out.contains("Maildir: /home/vmail/alice/Maildir"), "{out}");
    assert!(out.contains("Options: disablepop3=0"), "{out}");
    assert!(out.contains("Authentication FAILED"), "{out}");
    assert!(
        out.contains(
            "alice\t5000\t5000\t/home/vmail/alice\t/home/vmail/alice/Maildir\tdisablepop3=0\n"
        ),
        "{out}"
    );
}
