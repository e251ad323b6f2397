//! Bad input for our maildir tools: every failure gives a message naming the path and
//! Courier's exit code, and leaves nothing half-written in tmp/, new/ or cur/; odd but
//! valid messages (empty, no final newline, 100 MB from a pipe) are stored byte-exact.
//! Expected codes are Debian's (checked by running this file with COURIER_BIN_DIR
//! pointing at symlinks to Debian's binaries).

use e2e::{
    Input, Outcome, Run, Sandbox, Side, Tmpfs, as_nobody, assert_clean, chmod, chown_nobody,
    is_root, make_maildir, names, only, skip,
};
use std::fs;
use std::path::Path;
use std::time::Duration;

const MSG: &[u8] = b"Subject: x\n\nbody\n";

fn sandbox() -> Sandbox {
    Sandbox::new(Side::Ours)
}

fn run(s: &Sandbox, prog: &str, args: &[&str], input: Input) -> Outcome {
    s.cmd(prog).args(args).input(input).run()
}

/// `prog` run without root's permission bypass: as nobody through setpriv when we are
/// root (the sandbox is handed to nobody first), directly otherwise.
fn unprivileged(s: &Sandbox, prog: &str) -> Run {
    if is_root() {
        as_nobody(&s.bin(prog)).cwd(s.path())
    } else {
        s.cmd(prog)
    }
}

fn give_away(s: &Sandbox) {
    if is_root() {
        chown_nobody(s.path());
    }
}

#[test]
fn deliverquota_missing_maildir_names_path_and_exits_75() {
    let s = sandbox();
    for input in [Input::Pipe(MSG.to_vec()), Input::File(MSG.to_vec())] {
        let o = run(&s, "deliverquota", &["nodir"], input);
        assert_eq!(o.code, Some(75), "{o:?}");
        assert!(o.stderr.contains("nodir"), "{o:?}");
        assert!(o.stderr.contains("No such file or directory"), "{o:?}");
    }
    assert!(!s.join("nodir").exists());
}

#[test]
fn maildirmake_missing_parent_names_path_and_exits_1() {
    let s = sandbox();
    let o = run(&s, "maildirmake", &["nodir/M"], Input::Null);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stderr,
        "maildirmake: nodir/M: No such file or directory\n"
    );
    let o = run(&s, "maildirmake", &["-f", "Work", "nodir"], Input::Null);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(o.stderr.contains("nodir/.Work"), "{o:?}");
    assert!(
        names(s.path()).iter().all(|n| n.starts_with(".e2e")),
        "{:?}",
        names(s.path())
    );
}

#[test]
fn maildirkw_missing_maildir_names_path_and_exits_1() {
    let s = sandbox();
    let o = run(&s, "maildirkw", &["nodir", "msg", "kw"], Input::Null);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(o.stderr, "nodir: No such file or directory\n");
    assert!(!s.join("nodir").exists());
}

#[test]
fn deliverquota_unwritable_tmp_exits_75_and_leaves_nothing() {
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    give_away(&s);
    chmod(&m.join("tmp"), 0o555);
    for input in [Input::Pipe(MSG.to_vec()), Input::File(MSG.to_vec())] {
        let o = unprivileged(&s, "deliverquota")
            .args(["M"])
            .input(input)
            .run();
        assert_eq!(o.code, Some(75), "{o:?}");
        assert!(o.stderr.contains("M"), "{o:?}");
        assert!(o.stderr.contains("Permission denied"), "{o:?}");
    }
    assert_clean(&m, 0);
}

#[test]
fn deliverquota_unwritable_new_exits_74_and_leaves_nothing() {
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    give_away(&s);
    chmod(&m.join("new"), 0o555);
    for input in [Input::Pipe(MSG.to_vec()), Input::File(MSG.to_vec())] {
        let o = unprivileged(&s, "deliverquota")
            .args(["M"])
            .input(input)
            .run();
        // Courier: the link into new/ fails → 74 with the tmp file's path.
        assert_eq!(o.code, Some(74), "{o:?}");
        assert!(o.stderr.contains("M/"), "{o:?}");
        assert!(o.stderr.contains("Permission denied"), "{o:?}");
    }
    assert_clean(&m, 0);
}

#[test]
fn maildirmake_unwritable_directory_names_path_and_exits_1() {
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    give_away(&s);
    chmod(&m, 0o555);
    let o = unprivileged(&s, "maildirmake").args(["M/x"]).run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(o.stderr, "maildirmake: M/x: Permission denied\n");
    let o = unprivileged(&s, "maildirmake")
        .args(["-f", "Work", "M"])
        .run();
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(o.stderr, "maildirmake: M/.Work: Permission denied\n");
    assert_eq!(names(&m), ["cur", "new", "tmp"]);
}

#[test]
fn maildirmake_quota_in_unwritable_maildir_fails_naming_path() {
    // Debian's maildirmake -q retries forever (every 3 s) when tmp/ is not writable;
    // ours must fail with a message instead. Bounded: 20 s.
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    give_away(&s);
    chmod(&m.join("tmp"), 0o555);
    chmod(&m, 0o555);
    let o = unprivileged(&s, "maildirmake")
        .args(["-q", "10S", "M"])
        .timeout(Duration::from_secs(20))
        .run();
    assert_ne!(o.code, Some(0), "{o:?}");
    assert!(o.stderr.contains("M/"), "{o:?}");
    assert!(o.stderr.contains("Permission denied"), "{o:?}");
    assert!(!m.join("maildirsize").exists());
    assert_clean(&m, 0);
}

#[test]
fn deliverquota_file_instead_of_directory_is_refused_naming_path() {
    let s = sandbox();
    fs::write(s.join("F"), b"not a dir").unwrap();
    let o = run(&s, "deliverquota", &["F"], Input::Pipe(MSG.to_vec()));
    assert_eq!(o.code, Some(75), "{o:?}");
    assert_eq!(o.stderr, "F: Not a directory\n");
    let o = run(
        &s,
        "deliverquota",
        &["-c", "F/sub"],
        Input::Pipe(MSG.to_vec()),
    );
    assert_eq!(o.code, Some(75), "{o:?}");
    assert_eq!(o.stderr, "F/sub: Not a directory\n");
    assert_eq!(fs::read(s.join("F")).unwrap(), b"not a dir");

    // tmp/ is a file: the maildir is unusable (75).
    let m = s.join("T");
    make_maildir(&m);
    fs::remove_dir(m.join("tmp")).unwrap();
    fs::write(m.join("tmp"), b"").unwrap();
    let o = run(&s, "deliverquota", &["T"], Input::Pipe(MSG.to_vec()));
    assert_eq!(o.code, Some(75), "{o:?}");
    assert!(o.stderr.contains("T"), "{o:?}");
    assert!(o.stderr.contains("Not a directory"), "{o:?}");
    assert!(names(&m.join("new")).is_empty());

    // new/ is a file: the link fails (74) and the tmp file is removed.
    let m = s.join("N");
    make_maildir(&m);
    fs::remove_dir(m.join("new")).unwrap();
    fs::write(m.join("new"), b"").unwrap();
    for input in [Input::Pipe(MSG.to_vec()), Input::File(MSG.to_vec())] {
        let o = run(&s, "deliverquota", &["N"], input);
        assert_eq!(o.code, Some(74), "{o:?}");
        assert!(o.stderr.contains("N/"), "{o:?}");
        assert!(o.stderr.contains("Not a directory"), "{o:?}");
    }
    assert!(
        names(&m.join("tmp")).is_empty(),
        "{:?}",
        names(&m.join("tmp"))
    );
    assert!(names(&m.join("cur")).is_empty());
}

#[test]
fn maildirmake_file_instead_of_directory_is_refused_naming_path() {
    let s = sandbox();
    fs::write(s.join("F"), b"").unwrap();
    let o = run(&s, "maildirmake", &["F/x"], Input::Null);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(o.stderr, "maildirmake: F/x: Not a directory\n");
    let o = run(&s, "maildirmake", &["-f", "X", "F"], Input::Null);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(o.stderr, "maildirmake: F/.X: Not a directory\n");
    let o = run(&s, "maildirmake", &["F"], Input::Null);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(o.stderr, "maildirmake: F: File exists\n");
}

#[test]
fn deliverquota_garbage_maildirsize_still_delivers_and_keeps_file() {
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    fs::write(m.join("maildirsize"), b"garbage\nxx yy\n\x01zz\n").unwrap();
    let o = run(&s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec()));
    // No parsable limit means no quota: the message is delivered and counted.
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(o.stdout, "");
    assert_eq!(
        fs::read(m.join("maildirsize")).unwrap(),
        b"garbage\nxx yy\n\x01zz\n          17            1\n"
    );
    assert_clean(&m, 1);
}

#[test]
fn deliverquota_unparsable_quota_spec_warns_naming_it() {
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    fs::write(m.join("maildirsize"), b"10X\n").unwrap();
    let o = run(&s, "deliverquota", &["M"], Input::Pipe(MSG.to_vec()));
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(o.stderr, "WARN: quota string '10X' not parseable\n");
    assert_clean(&m, 1);
}

#[test]
fn deliverquota_zero_byte_message_is_stored_empty() {
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    fs::write(m.join("maildirsize"), b"1000S\n           0            0\n").unwrap();
    for input in [Input::Pipe(Vec::new()), Input::File(Vec::new())] {
        let o = run(&s, "deliverquota", &["M"], input);
        assert_eq!(o.code, Some(0), "{o:?}");
    }
    let v = names(&m.join("new"));
    assert_eq!(v.len(), 2);
    for n in &v {
        assert_eq!(fs::metadata(m.join("new").join(n)).unwrap().len(), 0);
        // Courier writes no ",S=" for an empty message, and counts nothing for it.
        assert!(!n.contains(",S="), "{n}");
    }
    assert_eq!(
        fs::read_to_string(m.join("maildirsize")).unwrap(),
        "1000S\n           0            0\n"
    );
    assert_clean(&m, 2);
}

#[test]
fn deliverquota_message_without_final_newline_is_stored_byte_exact() {
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    let body = b"Subject: x\r\n\r\nline one\rno final newline \x00\xff".to_vec();
    let o = run(&s, "deliverquota", &["M"], Input::Pipe(body.clone()));
    assert_eq!(o.code, Some(0), "{o:?}");
    let p = only(&m.join("new"));
    assert_eq!(fs::read(&p).unwrap(), body);
    assert!(
        p.to_string_lossy().ends_with(&format!(",S={}", body.len())),
        "{}",
        p.display()
    );
    fs::remove_file(&p).unwrap();
    let o = run(&s, "deliverquota", &["M"], Input::File(body.clone()));
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(fs::read(only(&m.join("new"))).unwrap(), body);
    assert_clean(&m, 1);
}

/// "Maximum resident set size (kbytes): N" from /usr/bin/time -v.
fn max_rss_kb(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS in: {stderr}"))
}

#[test]
fn deliverquota_100mb_message_from_pipe_streams_with_small_rss() {
    if !Path::new("/usr/bin/time").exists() {
        skip(
            "deliverquota_100mb_message_from_pipe_streams_with_small_rss",
            "/usr/bin/time is not installed (apt-get install time)",
        );
        return;
    }
    const LEN: u64 = 100 * 1024 * 1024;
    let s = sandbox();
    let m = s.join("M");
    make_maildir(&m);
    fs::write(
        m.join("maildirsize"),
        b"1000000000S\n           0            0\n",
    )
    .unwrap();
    let line =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n".to_vec();
    let o = Run::new(Path::new("/usr/bin/time"), "time")
        .args([
            Path::new("-v").as_os_str(),
            s.bin("deliverquota").as_os_str(),
        ])
        .args(["M"])
        .cwd(s.path())
        .input(Input::Stream { len: LEN, line })
        .timeout(Duration::from_secs(120))
        .run();
    assert_eq!(o.code, Some(0), "{o:?}");
    let rss = max_rss_kb(&o.stderr);
    assert!(
        rss < 32 * 1024,
        "deliverquota used {rss} KiB for a 100 MiB message"
    );
    let p = only(&m.join("new"));
    assert_eq!(fs::metadata(&p).unwrap().len(), LEN);
    assert!(
        p.to_string_lossy().ends_with(&format!(",S={LEN}")),
        "{}",
        p.display()
    );
    assert_eq!(
        e2e::maildirsize_totals(&m.join("maildirsize")),
        ("1000000000S".to_string(), LEN as i64, 1)
    );
    assert_clean(&m, 1);
}

#[test]
fn deliverquota_enospc_mid_delivery_exits_74_and_leaves_nothing() {
    let t = "deliverquota_enospc_mid_delivery_exits_74_and_leaves_nothing";
    let fs_ = match Tmpfs::mount("1m") {
        Ok(f) => f,
        Err(reason) => {
            skip(t, &reason);
            return;
        }
    };
    let m = fs_.path().join("M");
    make_maildir(&m);
    let line = b"ENOSPC filler line for a message bigger than the filesystem\n".to_vec();
    let big_file = s_big_file(&line);
    for input in [
        Input::Stream {
            len: 2 * 1024 * 1024,
            line: line.clone(),
        },
        Input::Path(big_file.join("big")),
    ] {
        let o = Run::new(&e2e::ours("deliverquota"), "deliverquota")
            .args(["M"])
            .cwd(fs_.path())
            .input(input)
            .run();
        // Courier: a failed write of the message is an I/O error, 74, naming the file.
        assert_eq!(o.code, Some(74), "{o:?}");
        assert!(o.stderr.contains("M/tmp/"), "{o:?}");
        assert!(o.stderr.contains("No space left on device"), "{o:?}");
        assert_clean(&m, 0);
    }
    // The space was given back: a small message fits again.
    let o = Run::new(&e2e::ours("deliverquota"), "deliverquota")
        .args(["M"])
        .cwd(fs_.path())
        .input(Input::Pipe(MSG.to_vec()))
        .run();
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_clean(&m, 1);
}

/// A scratch dir holding a 2 MiB regular file named `big`.
fn s_big_file(line: &[u8]) -> e2e::Scratch {
    let d = e2e::Scratch::new("big");
    let mut v = Vec::with_capacity(2 * 1024 * 1024 + line.len());
    while v.len() < 2 * 1024 * 1024 {
        v.extend_from_slice(line);
    }
    fs::write(d.join("big"), v).unwrap();
    d
}
