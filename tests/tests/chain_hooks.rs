//! The MAILDIR_CREATOR hooks through the whole chain (root only; a
//! courier-rs addition, see imapd.dist): MOD_MAILDIR_CREATOR runs when the
//! home is missing, IMAP_MAILDIR_CREATOR / POP3_MAILDIR_CREATOR when the
//! maildir is missing, as the account, with the missing path as argument
//! and the login's environment; the session then goes on in the new home. A
//! hook that fails or hangs is logged (and killed after
//! MAILDIR_CREATOR_TIMEOUT); POP3 then answers `-ERR Maildir (exec): ...`.
//! Nothing is left running afterwards.

use e2e::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const UID: u32 = 5003;
const GID: u32 = 5004;

/// A parent directory owned by the account (so the hooks can create the
/// home in it), a writable output directory for the hooks' records, and the
/// hook scripts. Returns (the homes' scratch directory, fixture, home, out
/// dir); keep the first alive as long as the fixture.
fn setup(hooks: &[(&str, &str)]) -> (Scratch, Fixture, PathBuf, PathBuf) {
    let base = open_scratch("hooks");
    let parent = base.join("homes");
    std::fs::create_dir(&parent).unwrap();
    chown_tree(&parent, UID, GID);
    let home = parent.join("hk");
    let fx = Fixture::new(&userdb_line("hk", UID, GID, &home, VUSER_HASH, ""));
    let out = fx.dir.join("hook-out");
    std::fs::create_dir(&out).unwrap();
    chown_tree(&out, UID, GID);
    for (name, body) in hooks {
        let p = fx.dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        chmod(&p, 0o755);
    }
    (base, fx, home, out)
}

/// The record a hook writes: identity, argument, working directory and the
/// variables the brief documents.
fn record(out: &Path, name: &str) -> String {
    format!(
        "{{ /usr/bin/id -u; /usr/bin/id -g; /usr/bin/id -G; echo \"arg=$1\"; echo \"pwd=$(pwd)\"; \
         echo \"AUTHENTICATED=$AUTHENTICATED\"; echo \"TCPREMOTEIP=$TCPREMOTEIP\"; \
         echo \"HOME=$HOME\"; echo \"MAILDIR=$MAILDIR\"; }} > {}/{name}.out",
        out.display()
    )
}

fn maildirmake() -> String {
    ours("maildirmake").to_string_lossy().into_owned()
}

#[test]
fn creator_hooks_run_as_the_account_and_the_session_continues() {
    let t = "creator_hooks_run_as_the_account_and_the_session_continues";
    if !chain_prereqs(t) || !ours_only(t) {
        return;
    }
    let (_base, fx, home, out) = setup(&[]);
    let mod_hook = fx.dir.join("mod-hook");
    let imap_hook = fx.dir.join("imap-hook");
    std::fs::write(
        &mod_hook,
        format!(
            "#!/bin/sh\n{}\n/bin/mkdir -m 700 \"$1\"\n",
            record(&out, "mod")
        ),
    )
    .unwrap();
    std::fs::write(
        &imap_hook,
        format!(
            "#!/bin/sh\n{}\n{} \"$1\"\n",
            record(&out, "imap"),
            maildirmake()
        ),
    )
    .unwrap();
    chmod(&mod_hook, 0o755);
    chmod(&imap_hook, 0o755);
    let srv = fx.start(
        &fx.imap_spec(&report_env())
            .env("MOD_MAILDIR_CREATOR", &mod_hook)
            .env("IMAP_MAILDIR_CREATOR", &imap_hook),
    );
    assert!(!home.exists());
    let (_, rest) = imap_login_report(srv.port, "hk", VUSER_PASSWORD);
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    r.assert_identity(UID, GID, &[GID]);
    assert_eq!(
        r.cwd,
        home.to_string_lossy(),
        "the session runs in the new home"
    );
    let md = std::fs::metadata(home.join("Maildir/cur")).expect("maildir made by the hook");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((md.uid(), md.gid()), (UID, GID));
    let m = std::fs::read_to_string(out.join("mod.out")).unwrap();
    let i = std::fs::read_to_string(out.join("imap.out")).unwrap();
    for (text, arg) in [
        (&m, home.to_string_lossy().into_owned()),
        (&i, "Maildir".to_string()),
    ] {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[..3],
            &[UID.to_string(), GID.to_string(), GID.to_string()],
            "{text}"
        );
        assert!(text.contains(&format!("arg={arg}\n")), "{text}");
        assert!(text.contains("AUTHENTICATED=hk\n"), "{text}");
        assert!(text.contains("TCPREMOTEIP=::ffff:127.0.0.1\n"), "{text}");
        assert!(
            text.contains(&format!("HOME={}\n", home.display())),
            "{text}"
        );
        assert!(text.contains("MAILDIR=Maildir\n"), "{text}");
    }
    // The maildir hook runs in the home (the argument is relative to it).
    assert!(i.contains(&format!("pwd={}\n", home.display())), "{i}");
    assert!(
        srv.wait_log("INFO: MOD_MAILDIR_CREATOR:", Duration::from_secs(5))
            && srv.wait_log("INFO: IMAP_MAILDIR_CREATOR:", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    // Second login: nothing missing, the hooks don't run again.
    std::fs::remove_file(out.join("mod.out")).unwrap();
    std::fs::remove_file(out.join("imap.out")).unwrap();
    let (_, rest) = imap_login_report(srv.port, "hk", VUSER_PASSWORD);
    assert!(Report::parse(&rest).is_some(), "{rest}");
    assert!(!out.join("mod.out").exists() && !out.join("imap.out").exists());
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
}

#[test]
fn pop3_creator_hook_makes_the_maildir_then_logs_in() {
    let t = "pop3_creator_hook_makes_the_maildir_then_logs_in";
    if !chain_prereqs(t) || !ours_only(t) {
        return;
    }
    let (_base, fx, home, out) = setup(&[]);
    std::fs::create_dir(&home).unwrap();
    chown_tree(&home, UID, GID);
    let hook = fx.dir.join("pop-hook");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n{}\n{} \"$1\"\n",
            record(&out, "pop"),
            maildirmake()
        ),
    )
    .unwrap();
    chmod(&hook, 0o755);
    let srv = fx.start(
        &fx.pop3_spec(&report_env())
            .env("POP3_MAILDIR_CREATOR", &hook),
    );
    let mut c = srv.connect();
    c.line();
    c.cmd("USER hk");
    c.line();
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    let (rest, _) = c.rest(Duration::from_secs(15));
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    r.assert_identity(UID, GID, &[GID]);
    assert!(home.join("Maildir/new").is_dir());
    let p = std::fs::read_to_string(out.join("pop.out")).unwrap();
    assert!(p.starts_with(&format!("{UID}\n{GID}\n")), "{p}");
    assert!(p.contains("arg=Maildir\n"), "{p}");
}

#[test]
fn failing_hook_is_logged_imap_goes_on_pop3_refuses() {
    let t = "failing_hook_is_logged_imap_goes_on_pop3_refuses";
    if !chain_prereqs(t) || !ours_only(t) {
        return;
    }
    let (_base, fx, home, _out) = setup(&[("fail-hook", "echo creator failing >&2\nexit 3")]);
    std::fs::create_dir(&home).unwrap();
    chown_tree(&home, UID, GID);
    let hook = fx.dir.join("fail-hook");
    let imap = fx.start(
        &fx.imap_spec(&report_env())
            .env("IMAP_MAILDIR_CREATOR", &hook),
    );
    let (_, rest) = imap_login_report(imap.port, "hk", VUSER_PASSWORD);
    // IMAP: the session starts anyway (imapd reports the missing maildir).
    Report::parse(&rest)
        .unwrap_or_else(|| panic!("{rest}\n{}", imap.log()))
        .assert_identity(UID, GID, &[GID]);
    assert!(
        imap.wait_log("exited with 3", Duration::from_secs(5)),
        "{}",
        imap.log()
    );
    let pop = fx.start(
        &fx.pop3_spec(&report_env())
            .env("POP3_MAILDIR_CREATOR", &hook),
    );
    let mut c = pop.connect();
    c.line();
    c.cmd("USER hk");
    c.line();
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    assert_eq!(c.line(), "-ERR Maildir (exec): No such file or directory");
    assert_eq!(c.read_line(Duration::from_secs(5)), Got::Eof);
    assert!(
        pop.wait_idle(Duration::from_secs(5)),
        "{:?}",
        pop.root_processes()
    );
    assert!(
        imap.wait_idle(Duration::from_secs(5)),
        "{:?}",
        imap.root_processes()
    );
}

#[test]
fn hanging_hook_is_killed_after_the_limit_and_nothing_is_left() {
    let t = "hanging_hook_is_killed_after_the_limit_and_nothing_is_left";
    if !chain_prereqs(t) || !ours_only(t) {
        return;
    }
    let (_base, fx, home, out) = setup(&[]);
    std::fs::create_dir(&home).unwrap();
    chown_tree(&home, UID, GID);
    let hook = fx.dir.join("hang-hook");
    // The hook leaves a marker with its pid, then hangs.
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho $$ > {}/hang.pid\nexec /bin/sleep 300\n",
            out.display()
        ),
    )
    .unwrap();
    chmod(&hook, 0o755);
    let pop = fx.start(
        &fx.pop3_spec(&report_env())
            .env("POP3_MAILDIR_CREATOR", &hook)
            .env("MAILDIR_CREATOR_TIMEOUT", "2"),
    );
    let mut c = pop.connect();
    c.line();
    c.cmd("USER hk");
    c.line();
    let start = Instant::now();
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    let l = c.line();
    let took = start.elapsed();
    assert!(l.starts_with("-ERR Maildir (exec): "), "{l}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "answered after {took:?}"
    );
    assert!(
        pop.wait_log("killed after 2 s", Duration::from_secs(5)),
        "{}",
        pop.log()
    );
    let hook_pid: u32 = std::fs::read_to_string(out.join("hang.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{hook_pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "hook still running: {stat}"
    );
    assert!(
        pop.wait_idle(Duration::from_secs(5)),
        "{:?}",
        pop.root_processes()
    );
}
