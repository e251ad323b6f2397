//! imaplogin as a program: over pipes, against our authdaemond, exec'ing a
//! reporting fake imapd. Tests that need root say `SKIP:` otherwise.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

const EXE: &str = env!("CARGO_BIN_EXE_imaplogin");

struct Fixture {
    dir: tempfile::TempDir,
    daemon: Daemon,
    home: PathBuf,
    server: PathBuf,
    uid: u32,
    gid: u32,
}

fn fixture(test: &str, extra_userdb: &str) -> Option<Fixture> {
    let dir = scratch();
    let (uid, gid) = account_ids();
    let home = make_home(dir.path(), "alice", uid, gid);
    let server = reporter(dir.path());
    let mut userdb = userdb_line("alice", uid, gid, &home, "|options=group=staff");
    userdb.push_str(extra_userdb);
    let daemon = Daemon::start(EXE, test, &userdb)?;
    Some(Fixture {
        dir,
        daemon,
        home,
        server,
        uid,
        gid,
    })
}

impl Fixture {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TCPREMOTEIP", "::ffff:127.0.0.1".into()),
            ("TCPREMOTEPORT", "4242".into()),
            ("TCPLOCALPORT", "143".into()),
            ("IMAP_CAPABILITY", "IMAP4rev1 IDLE".into()),
            (
                "AUTHDAEMON_SOCKET",
                self.daemon.socket.display().to_string(),
            ),
        ]
    }

    fn start(&self, extra: &[(&'static str, String)]) -> Conversation {
        let mut env = self.env();
        env.extend_from_slice(extra);
        let server = self.server.display().to_string();
        let mut c = Conversation::start(
            Path::new(EXE),
            &[&server, "Maildir"],
            &env,
            self.dir.path().join("stderr"),
        );
        let greeting = c.line(10);
        assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
        c
    }
}

const CONNECTION: &str = "DEBUG: Connection, ip=[::ffff:127.0.0.1], port=[4242]\n";

#[test]
fn wrong_argument_count_says_bye_and_exits_1() {
    for args in [&[][..], &["a"][..], &["a", "b", "c"][..]] {
        let out = std::process::Command::new(EXE).args(args).output().unwrap();
        assert_eq!(
            out.stdout,
            b"* BYE imaplogin expected exactly two arguments.\r\n"
        );
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn login_execs_the_server_as_the_account_with_courier_environment() {
    let Some(f) = fixture("login_execs_the_server", "") else {
        return;
    };
    let mut c = f.start(&[]);
    c.send(b"a1 LOGIN alice secret\r\n");
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{out}\n{log}");
    assert_eq!(reported(&out, "ARGV1=").as_deref(), Some("Maildir"));
    let ids = |k: &str, v: u32| format!("{k}: {v} {v} {v} {v}");
    assert!(out.contains(&ids("Uid", f.uid)), "{out}");
    assert!(out.contains(&ids("Gid", f.gid)), "{out}");
    if is_root() {
        assert_eq!(
            reported(&out, "Groups: ").as_deref(),
            Some(f.gid.to_string().as_str())
        );
    }
    assert_eq!(
        reported(&out, "CWD=").map(PathBuf::from),
        Some(fs::canonicalize(&f.home).unwrap())
    );
    let mut env = reported_env(&out);
    env.sort();
    let mut want: Vec<(String, String)> = f
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(
            [
                ("PATH", "/usr/bin:/bin"),
                ("PROTOCOL", "IMAP"),
                ("OPTIONS", "group=staff"),
                ("IMAPLOGINTAG", "a1"),
                ("AUTHENTICATED", "alice"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .collect();
    want.sort();
    assert_eq!(env, want);
    assert_eq!(
        log, CONNECTION,
        "imaplogin logs nothing on success (imapd does)"
    );
}

#[test]
fn wrong_password_waits_five_seconds_and_logs_login_failed() {
    let Some(f) = fixture("wrong_password", "") else {
        return;
    };
    let mut c = f.start(&[]);
    let t = Instant::now();
    assert_eq!(c.ask("a1 LOGIN alice wrong\r\n"), "a1 NO Login failed.\r\n");
    assert!(
        t.elapsed() >= Duration::from_millis(4900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        c.ask("a2 LOGOUT\r\n"),
        "* BYE Courier-IMAP server shutting down\r\n"
    );
    let (rest, status, log) = c.finish(10);
    assert_eq!(rest, "a2 OK LOGOUT completed\r\n");
    assert_eq!(status.code(), Some(0));
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[1],
        "INFO: LOGIN FAILED, user=alice, ip=[::ffff:127.0.0.1], port=[4242]"
    );
    assert!(
        lines[2].starts_with("INFO: LOGOUT, ip=[::ffff:127.0.0.1], port=[4242], rcvd=33, sent=")
    );
    assert!(!log.contains("wrong"), "a password reached the log");
}

#[test]
fn tls_required_refuses_login_before_starttls() {
    let Some(f) = fixture("tls_required", "") else {
        return;
    };
    let tls = [
        ("IMAP_STARTTLS", "YES".to_string()),
        ("COURIERTLS", f.server.display().to_string()),
        ("IMAP_TLS_REQUIRED", "1".to_string()),
    ];
    let mut c = f.start(&tls);
    assert_eq!(
        c.ask("a1 LOGIN alice secret\r\n"),
        "a1 NO STARTTLS required\r\n"
    );
    assert_eq!(
        c.ask("a2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "a2 NO STARTTLS required\r\n"
    );
    assert_eq!(
        c.ask("a3 CAPABILITY\r\n"),
        "* CAPABILITY IMAP4rev1 IDLE STARTTLS LOGINDISABLED ENABLE UTF8=ACCEPT\r\n"
    );
    let (rest, status, _) = c.finish(10);
    assert_eq!(rest, "a3 OK CAPABILITY completed\r\n");
    assert!(status.success());
}

#[test]
fn cram_md5_login_succeeds() {
    let Some(f) = fixture("cram_md5", "") else {
        return;
    };
    let mut c = f.start(&[]);
    let challenge = c.ask("c1 AUTHENTICATE CRAM-MD5\r\n");
    let b64 = challenge.strip_prefix("+ ").unwrap().trim_end();
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let decoded = engine.decode(b64).unwrap();
    let hex = courier_pwcrypt::cram_response_hex(courier_pwcrypt::CramAlg::Md5, "secret", &decoded);
    let resp = engine.encode(format!("alice {hex}"));
    c.send(format!("{resp}\r\n").as_bytes());
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{log}");
    assert_eq!(
        reported(&out, "ENV:IMAPLOGINTAG=").as_deref(),
        Some("c1"),
        "{out}\n{log}"
    );
}

#[test]
fn authenticate_plain_with_initial_response_succeeds() {
    let Some(f) = fixture("plain_ir", "") else {
        return;
    };
    let mut c = f.start(&[]);
    c.send(b"p1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    let (out, status, _) = c.finish(20);
    assert!(status.success());
    assert_eq!(
        reported(&out, "ENV:AUTHENTICATED=").as_deref(),
        Some("alice")
    );
    assert_eq!(reported(&out, "ENV:IMAPLOGINTAG=").as_deref(), Some("p1"));
}

#[test]
fn unreachable_authdaemond_is_a_temporary_failure() {
    let dir = scratch();
    let mut c = Conversation::start(
        Path::new(EXE),
        &["/bin/false", "Maildir"],
        &[
            ("TCPREMOTEIP", "::ffff:127.0.0.1".into()),
            ("TCPREMOTEPORT", "4242".into()),
            (
                "AUTHDAEMON_SOCKET",
                dir.path().join("nosocket").display().to_string(),
            ),
        ],
        dir.path().join("stderr"),
    );
    c.line(10);
    assert_eq!(
        c.ask("a1 LOGIN alice secret\r\n"),
        "* BYE Temporary problem, please try again later\r\n"
    );
    let (_, status, log) = c.finish(10);
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        log,
        format!(
            "{CONNECTION}ERR: authdaemon: s_connect() failed: No such file or directory\n\
INFO: LOGIN FAILED, user=alice, ip=[::ffff:127.0.0.1], port=[4242]\n\
ERR: authentication error: No such file or directory\n"
        )
    );
}

#[test]
fn disabled_account_gets_courier_texts() {
    let (uid, gid) = account_ids();
    let extra = format!(
        "bob\tuid={uid}|gid={gid}|home=/nonexistent|systempw={}|options=disableimap=1\n",
        courier_pwcrypt::hash(courier_pwcrypt::Scheme::Md5Crypt, "pw").unwrap()
    );
    let Some(f) = fixture("disabled_account", &extra) else {
        return;
    };
    let mut c = f.start(&[]);
    c.send(b"a1 LOGIN bob pw\r\n");
    let (out, status, log) = c.finish(10);
    assert_eq!(
        out,
        "a1 OK LOGIN Ok.\r\n* BYE IMAP access disabled for this account.\r\n"
    );
    assert_eq!(status.code(), Some(0));
    assert!(
        log.contains(
            "INFO: LOGIN DISABLED, user=bob, ip=[::ffff:127.0.0.1], port=[4242], option=disableimap"
        ),
        "{log}"
    );
}

#[test]
fn missing_home_is_a_temporary_failure() {
    let (uid, gid) = account_ids();
    let extra = format!(
        "carol\tuid={uid}|gid={gid}|home=/nonexistent/carol|systempw={}\n",
        courier_pwcrypt::hash(courier_pwcrypt::Scheme::Md5Crypt, "pw").unwrap()
    );
    let Some(f) = fixture("missing_home", &extra) else {
        return;
    };
    let mut c = f.start(&[]);
    assert_eq!(
        c.ask("a1 LOGIN carol pw\r\n"),
        "* BYE Temporary problem, please try again later\r\n"
    );
    let (_, status, log) = c.finish(10);
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("WARN: carol: chdir(/nonexistent/carol) failed!!\nWARN: error: No such file or directory\n"), "{log}");
    assert!(
        log.ends_with("ERR: authentication error: No such file or directory\n"),
        "{log}"
    );
}

#[test]
fn uid_zero_account_is_refused_before_anything_runs() {
    let extra = format!(
        "toor\tuid=0|gid=0|home=/|systempw={}\n",
        courier_pwcrypt::hash(courier_pwcrypt::Scheme::Md5Crypt, "pw").unwrap()
    );
    let Some(f) = fixture("uid_zero", &extra) else {
        return;
    };
    let mut c = f.start(&[]);
    assert_eq!(c.ask("a1 LOGIN toor pw\r\n"), "a1 NO Login failed.\r\n");
    let (out, status, log) = c.finish(10);
    assert_eq!(out, "");
    assert_eq!(status.code(), Some(0));
    assert!(
        log.contains("ERR: toor: refusing to log in an account with uid 0 gid 0"),
        "{log}"
    );
}

#[test]
fn creators_run_as_the_account_in_order_and_the_session_continues() {
    let dir = scratch();
    let (uid, gid) = account_ids();
    let homes = dir.path().join("home");
    fs::create_dir(&homes).unwrap();
    if is_root() {
        chown(&homes, uid, gid);
    }
    let home = homes.join("dave");
    let trace = dir.path().join("hooks.log");
    fs::write(&trace, "").unwrap();
    if is_root() {
        chown(&trace, uid, gid);
    }
    let t = trace.display();
    let mod_hook = script(
        &dir.path().join("mod-creator"),
        &format!("mkdir \"$1\" && echo \"MOD $1 $(id -u) $(id -g) $AUTHENTICATED $HOME\" >> {t}"),
    );
    let imap_hook = script(
        &dir.path().join("imap-creator"),
        &format!(
            "mkdir -p \"$1/cur\" \"$1/new\" \"$1/tmp\" && \
             echo \"IMAP $1 $(id -u) $(pwd -P) $IMAPLOGINTAG $MAILDIR\" >> {t}"
        ),
    );
    let server = reporter(dir.path());
    let userdb = userdb_line("dave", uid, gid, &home, "|mail=Maildir");
    let Some(daemon) = Daemon::start(EXE, "creators_run", &userdb) else {
        return;
    };
    let mut c = Conversation::start(
        Path::new(EXE),
        &[&server.display().to_string(), "Default"],
        &[
            ("AUTHDAEMON_SOCKET", daemon.socket.display().to_string()),
            ("MOD_MAILDIR_CREATOR", mod_hook.display().to_string()),
            ("IMAP_MAILDIR_CREATOR", imap_hook.display().to_string()),
        ],
        dir.path().join("stderr"),
    );
    c.line(10);
    c.send(b"h1 LOGIN dave secret\r\n");
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{log}");
    let home_real = fs::canonicalize(&home).unwrap();
    assert_eq!(
        fs::read_to_string(&trace).unwrap(),
        format!(
            "MOD {} {uid} {gid} dave {}\nIMAP Maildir {uid} {} h1 Maildir\n",
            home.display(),
            home.display(),
            home_real.display()
        )
    );
    assert_eq!(
        reported(&out, "ARGV1=").as_deref(),
        Some("Maildir"),
        "{out}"
    );
    assert_eq!(reported(&out, "CWD=").map(PathBuf::from), Some(home_real));
    let env = reported_env(&out);
    assert!(
        !env.iter().any(|(k, _)| k == "HOME" || k == "MAILDIR"),
        "hook-only variables leaked: {env:?}"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&home).unwrap().uid(), uid);
    assert!(log.contains("INFO: MOD_MAILDIR_CREATOR: "), "{log}");
    assert!(log.contains("INFO: IMAP_MAILDIR_CREATOR: "), "{log}");
}

#[test]
fn hanging_or_failing_creator_is_killed_logged_and_the_login_goes_on() {
    let dir = scratch();
    let (uid, gid) = account_ids();
    let home = make_home(dir.path(), "erin", uid, gid);
    fs::remove_dir_all(home.join("Maildir")).unwrap();
    let hang = script(&dir.path().join("hang"), "exec sleep 30");
    let fail = script(&dir.path().join("fail"), "exit 3");
    let server = reporter(dir.path());
    let userdb = userdb_line("erin", uid, gid, &home, "");
    let Some(daemon) = Daemon::start(EXE, "hanging_creator", &userdb) else {
        return;
    };
    for (hook, want) in [(&hang, "killed after 1 s"), (&fail, "exited with 3")] {
        let mut c = Conversation::start(
            Path::new(EXE),
            &[&server.display().to_string(), "Maildir"],
            &[
                ("AUTHDAEMON_SOCKET", daemon.socket.display().to_string()),
                ("IMAP_MAILDIR_CREATOR", hook.display().to_string()),
                ("MAILDIR_CREATOR_TIMEOUT", "1".into()),
            ],
            dir.path().join("stderr"),
        );
        c.line(10);
        let t = Instant::now();
        c.send(b"a1 LOGIN erin secret\r\n");
        let (out, status, log) = c.finish(20);
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(status.success(), "{log}");
        assert!(log.contains(want), "{log}");
        assert!(
            log.contains("ERR: Maildir (exec): No such file or directory, user=erin"),
            "{log}"
        );
        // IMAP prints nothing special (seed 000 §5): imapd gets its chance.
        assert_eq!(reported(&out, "ARGV1=").as_deref(), Some("Maildir"));
    }
}

#[test]
fn skeleton_home_is_created_for_the_account() {
    let dir = scratch();
    let (uid, gid) = account_ids();
    let skel = dir.path().join("skel");
    fs::create_dir_all(skel.join("Maildir/cur")).unwrap();
    fs::write(skel.join(".mailfilter"), "# hi\n").unwrap();
    let home = dir.path().join("newhome");
    let server = reporter(dir.path());
    let userdb = userdb_line("fred", uid, gid, &home, "");
    let Some(daemon) = Daemon::start(EXE, "skeleton_home", &userdb) else {
        return;
    };
    let mut c = Conversation::start(
        Path::new(EXE),
        &[&server.display().to_string(), "Maildir"],
        &[
            ("AUTHDAEMON_SOCKET", daemon.socket.display().to_string()),
            ("AUTH_MKHOMEDIR_SKEL", skel.display().to_string()),
        ],
        dir.path().join("stderr"),
    );
    c.line(10);
    c.send(b"a1 LOGIN fred secret\r\n");
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{log}");
    use std::os::unix::fs::MetadataExt;
    for p in [&home, &home.join(".mailfilter"), &home.join("Maildir/cur")] {
        let m = fs::metadata(p).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", p.display());
    }
    assert_eq!(
        reported(&out, "CWD=").map(PathBuf::from),
        Some(fs::canonicalize(&home).unwrap())
    );
}

/// A fake authdaemond that answers every request with `record`.
fn fake_daemon(socket: &Path, record: &'static str) {
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            use std::io::{Read, Write};
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(record.as_bytes());
        }
    });
}

#[test]
fn system_account_gets_initgroups_and_the_forced_gid() {
    const T: &str = "system_account_gets_initgroups";
    if !is_root() {
        return skip(
            T,
            "needs root (a real drop, private /etc/passwd and /etc/group)",
        );
    }
    if !Path::new("/usr/bin/unshare").exists() {
        return skip(T, "unshare is missing");
    }
    let dir = scratch();
    let home = dir.path().join("sys");
    fs::create_dir(&home).unwrap();
    chown(&home, 4250, 4252);
    let passwd = dir.path().join("passwd");
    fs::write(
        &passwd,
        format!(
            "root:x:0:0:root:/root:/bin/sh\nsysuser:x:4250:4251::{}:/bin/sh\n",
            home.display()
        ),
    )
    .unwrap();
    let group = dir.path().join("group");
    fs::write(
        &group,
        "root:x:0:\nsysgrp:x:4251:\nforced:x:4252:\nextra1:x:4300:sysuser\n\
extra2:x:4301:other,sysuser\nnotmine:x:4302:other\n",
    )
    .unwrap();
    let socket = dir.path().join("socket");
    // USERNAME= records come from authpwd/authshadow/authpam; GID forces the group.
    let record: &'static str = Box::leak(
        format!(
            "USERNAME=sysuser\nGID=4252\nHOME={}\nADDRESS=sysuser\n.\n",
            home.display()
        )
        .into_boxed_str(),
    );
    fake_daemon(&socket, record);
    let server = reporter(dir.path());
    let mount = format!(
        "mount --bind {} /etc/passwd && mount --bind {} /etc/group && exec \"$0\" \"$@\"",
        passwd.display(),
        group.display()
    );
    let mut c = Conversation::start(
        Path::new("/usr/bin/unshare"),
        &[
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &mount,
            EXE,
            &server.display().to_string(),
            "Maildir",
        ],
        &[("AUTHDAEMON_SOCKET", socket.display().to_string())],
        dir.path().join("stderr"),
    );
    c.line(10);
    c.send(b"s1 LOGIN sysuser pw\r\n");
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{out}\n{log}");
    assert_eq!(
        reported(&out, "Uid: ").as_deref(),
        Some("4250 4250 4250 4250"),
        "{out}"
    );
    assert_eq!(
        reported(&out, "Gid: ").as_deref(),
        Some("4252 4252 4252 4252")
    );
    assert_eq!(
        reported(&out, "Groups: ").as_deref(),
        Some("4252 4300 4301")
    );
}

#[test]
fn silent_client_is_dropped_after_sixty_seconds_by_sigalrm() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scratch();
    let mut c = Conversation::start(
        Path::new(EXE),
        &["/bin/false", "Maildir"],
        &[
            ("TCPREMOTEIP", "::ffff:127.0.0.1".into()),
            ("TCPREMOTEPORT", "4242".into()),
        ],
        dir.path().join("stderr"),
    );
    c.line(10);
    assert_eq!(c.ask("a1 NOOP\r\n"), "a1 OK NOOP completed\r\n");
    let t = Instant::now();
    let (out, status, log) = c.finish_open(75);
    assert_eq!(out, "", "Courier says nothing when the alarm fires");
    assert_eq!(status.signal(), Some(14), "{status:?}");
    assert!(t.elapsed() >= Duration::from_secs(58) && t.elapsed() < Duration::from_secs(64));
    assert!(
        log.ends_with("INFO: TIMEOUT, ip=[::ffff:127.0.0.1], port=[4242], time=60\n"),
        "{log}"
    );
}

/// A couriertls stand-in: no TLS, just a clear-text pipe between the client
/// (fds 0/1) and `-localfd`, with the status and certificate pipes closed at once
/// (= handshake succeeded, no client certificate).
fn fake_couriertls(dir: &Path) -> PathBuf {
    script(
        &dir.join("fake-couriertls"),
        "for a; do case $a in -localfd=*) L=${a#-localfd=};; -statusfd=*) S=${a#-statusfd=};; \
-printx509=*) X=${a#-printx509=};; esac; done\n\
eval \"exec $S>&- $X>&-\"\n\
eval \"cat <&$L &\"\n\
eval \"exec cat >&$L\"",
    )
}

/// Processes whose parent is `pid`, with their real uid.
fn children(pid: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|x| x.parse::<u32>().ok())
        };
        if field("PPid:") == Some(pid) {
            v.push((p, field("Uid:").unwrap_or(u32::MAX)));
        }
    }
    v
}

#[test]
fn starttls_hands_the_connection_over_and_the_login_sees_tls() {
    let Some(f) = fixture("starttls_hand_over", "") else {
        return;
    };
    let tls = fake_couriertls(f.dir.path());
    let mut c = f.start(&[
        ("IMAP_STARTTLS", "YES".into()),
        ("COURIERTLS", tls.display().to_string()),
        ("IMAP_TLS_REQUIRED", "1".into()),
    ]);
    assert_eq!(
        c.ask("t1 STARTTLS\r\n"),
        "t1 OK Begin SSL/TLS negotiation now.\r\n"
    );
    assert_eq!(
        c.ask("t2 CAPABILITY\r\n"),
        "* CAPABILITY IMAP4rev1 IDLE ENABLE UTF8=ACCEPT\r\n"
    );
    assert_eq!(c.line(10), "t2 OK CAPABILITY completed\r\n");
    c.send(b"t3 LOGIN alice secret\r\n");
    let (out, status, log) = c.finish(20);
    assert!(status.success(), "{log}");
    let env = reported_env(&out);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("IMAP_TLS"), Some("1"), "{out}");
    assert_eq!(get("IMAP_STARTTLS"), Some("NO"));
    assert_eq!(get("IMAP_TLS_REQUIRED"), Some("0"));
    assert_eq!(get("IMAPLOGINTAG"), Some("t3"));
}

#[test]
fn dialogue_runs_unprivileged_while_the_monitor_keeps_root() {
    const T: &str = "dialogue_runs_unprivileged";
    if !is_root() {
        return skip(
            T,
            "needs root (the split only happens when started as root)",
        );
    }
    let Some(f) = fixture(T, "") else {
        return;
    };
    for (preauth, want_uid) in [(None, Some(65534)), (Some(""), None)] {
        let extra: Vec<(&'static str, String)> = match preauth {
            Some(v) => vec![("LOGIN_PREAUTH_USER", v.to_string())],
            None => Vec::new(),
        };
        let mut c = f.start(&extra);
        let pid = c.pid();
        let kids = children(pid);
        match want_uid {
            Some(uid) => assert_eq!(kids.iter().map(|k| k.1).collect::<Vec<_>>(), [uid]),
            None => assert!(kids.is_empty(), "{kids:?}"),
        }
        assert_eq!(c.ask("a1 NOOP\r\n"), "a1 OK NOOP completed\r\n");
        c.send(b"a2 LOGIN alice secret\r\n");
        let (out, status, log) = c.finish(20);
        assert!(status.success(), "{log}");
        assert_eq!(
            reported(&out, "Uid: ").as_deref(),
            Some("4242 4242 4242 4242")
        );
    }
}

/// A free TCP port on 127.0.0.1 (bound and released: a small race, fine here).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn starttls_through_debian_couriertcpd_and_couriertls() {
    const T: &str = "starttls_through_debian_couriertls";
    for p in [
        "/usr/sbin/couriertcpd",
        "/usr/bin/couriertls",
        "/usr/bin/openssl",
    ] {
        if !Path::new(p).exists() {
            return skip(T, &format!("{p} is not installed"));
        }
    }
    let Some(f) = fixture(T, "") else {
        return;
    };
    let cert = f.dir.path().join("cert.pem");
    let out = std::process::Command::new("/usr/bin/openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&cert)
        .arg("-out")
        .arg(f.dir.path().join("crt.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut pem = fs::read(&cert).unwrap();
    pem.extend(fs::read(f.dir.path().join("crt.pem")).unwrap());
    fs::write(&cert, pem).unwrap();
    // Debian's couriertls reads the key after dropping to `courier`.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&cert, fs::Permissions::from_mode(0o644)).unwrap();
    let port = free_port();
    let mut tcpd = std::process::Command::new("/usr/sbin/couriertcpd")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("IMAP_STARTTLS", "YES")
        .env("COURIERTLS", "/usr/bin/couriertls")
        .env("TLS_CERTFILE", &cert)
        .env("TLS_VERIFYPEER", "NONE")
        .env("IMAP_TLS_REQUIRED", "1")
        .env("IMAP_CAPABILITY", "IMAP4rev1")
        .env("AUTHDAEMON_SOCKET", &f.daemon.socket)
        .args(["-address=127.0.0.1", "-nodnslookup", "-noidentlookup"])
        .arg(format!(
            "-stderr={}",
            f.dir.path().join("tcpd.log").display()
        ))
        .arg(port.to_string())
        .arg(EXE)
        .arg(&f.server)
        .arg("Maildir")
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "couriertcpd did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut client = Conversation::start(
        Path::new("/usr/bin/openssl"),
        &[
            "s_client",
            "-quiet",
            "-starttls",
            "imap",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ],
        &[],
        f.dir.path().join("client.log"),
    );
    std::thread::sleep(Duration::from_secs(2));
    client.send(b"a3 LOGIN alice secret\r\n");
    let mut out = String::new();
    while !out.contains("END") {
        out.push_str(&client.line(20));
    }
    let _ = tcpd.kill();
    let _ = tcpd.wait();
    let env = reported_env(&out);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("IMAP_TLS"), Some("1"), "{out}");
    assert_eq!(get("IMAP_STARTTLS"), Some("NO"));
    assert_eq!(get("IMAP_TLS_REQUIRED"), Some("0"));
    assert_eq!(get("IMAPLOGINTAG"), Some("a3"));
    assert_eq!(get("AUTHENTICATED"), Some("alice"));
}
