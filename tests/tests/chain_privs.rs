//! Privileges through the whole chain (root only): a real system account
//! (useradd/chpasswd, PAM) and a userdb virtual account each get a session
//! that runs with exactly the account's uid, gid and supplementary groups,
//! never root; while a session is open no process of that connection is
//! root; couriertls with -user runs its TLS side as that user; an account
//! with uid 0 gets no session.

use e2e::*;
use std::time::Duration;

const IMAPD: &str = "/usr/bin/imapd";

#[test]
fn system_account_session_has_its_uid_gid_and_supplementary_groups() {
    let t = "system_account_session_has_its_uid_gid_and_supplementary_groups";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let home = make_home(&fx.dir.join("sys"), 0, 0);
    let acct = SystemAccount::create(&home, "Sys-pass-1");
    let srv = fx.start(&fx.imap_spec(&report_env()));
    let (_, rest) = imap_login_report(srv.port, &acct.name, "Sys-pass-1");
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    // initgroups(): the account's own group and the one it was added to.
    r.assert_identity(acct.uid, acct.gid, &[acct.gid, acct.extra_gid]);
    assert_eq!(r.cwd, home.to_string_lossy());
    assert_eq!(r.var("AUTHENTICATED"), acct.name);
    // POP3: the same identity.
    let pop = fx.start(&fx.pop3_spec(&report_env()));
    let mut c = pop.connect();
    c.line();
    c.cmd(&format!("USER {}", acct.name));
    c.line();
    c.cmd("PASS Sys-pass-1");
    let (rest, _) = c.rest(Duration::from_secs(15));
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}"));
    r.assert_identity(acct.uid, acct.gid, &[acct.gid, acct.extra_gid]);
    // A wrong password for the system account is refused.
    let (_, rest) = imap_login_report(srv.port, &acct.name, "wrong");
    assert!(rest.starts_with("a NO Login failed."), "{rest}");
}

#[test]
fn virtual_account_session_has_only_its_own_group() {
    let t = "virtual_account_session_has_only_its_own_group";
    if !chain_prereqs(t) {
        return;
    }
    // uid 5001 / gid 5002: different numbers, so a swapped uid/gid shows.
    let fx_dir = open_scratch("virt");
    let home = make_home(&fx_dir.join("v2"), 5001, 5002);
    let fx = Fixture::new(&userdb_line("v2", 5001, 5002, &home, VUSER_HASH, ""));
    for spec in [fx.imap_spec(&report_env()), fx.imaps_spec(&report_env())] {
        let srv = fx.start(&spec);
        let out = if spec.env.iter().any(|(k, v)| k == "IMAP_TLS" && v == "1") {
            py_dialogue(
                srv.port,
                true,
                None,
                &[
                    Step::Read,
                    Step::Send(format!("a LOGIN v2 {VUSER_PASSWORD}")),
                    Step::ReadAll(15),
                ],
            )
        } else {
            imap_login_report(srv.port, "v2", VUSER_PASSWORD).1
        };
        let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}\n{}", srv.log()));
        r.assert_identity(5001, 5002, &[5002]);
        assert!(
            srv.wait_idle(Duration::from_secs(5)),
            "{:?}",
            srv.root_processes()
        );
    }
}

#[test]
fn no_process_of_a_logged_in_connection_runs_as_root() {
    let t = "no_process_of_a_logged_in_connection_runs_as_root";
    if !chain_prereqs(t) || !debian_installed(t, &["imapd"]) {
        return;
    }
    let fx = Fixture::new("");
    // report-env writes its report to a file, then becomes Debian's imapd, so
    // the session stays open while the processes are inspected.
    let report = fx.dir.join("report.txt");
    std::fs::write(&report, "").unwrap();
    chown_tree(&report, fx.uid, fx.gid);
    // Plain, IMAPS (couriertls -user=courier, as Debian's script runs it) and
    // STARTTLS (the login program starts couriertls itself).
    for (mode, spec) in [
        ("plain", fx.imap_spec(&report_env())),
        ("imaps", fx.imaps_spec(&report_env())),
        ("starttls", fx.imap_spec(&report_env())),
    ] {
        let tls = mode == "imaps";
        let spec = spec
            .env("REPORT_ENV_FILE", &report)
            .env("REPORT_ENV_EXEC", IMAPD);
        let spec = if tls {
            let mut s = spec;
            s.program.insert(3, "-user=courier".into());
            s
        } else {
            spec
        };
        let srv = fx.start(&spec);
        let mut steps = vec![Step::Read];
        if mode == "starttls" {
            steps.extend([Step::Send("s STARTTLS".into()), Step::Read, Step::Tls(None)]);
        }
        steps.extend([
            Step::Send(format!("a LOGIN vuser {VUSER_PASSWORD}")),
            Step::Read,
            Step::Send("b SELECT INBOX".into()),
            Step::ReadAll(2),
            Step::ReadAll(4),
        ]);
        // Keep the session open in a background client while we look.
        let port = srv.port;
        let client = std::thread::spawn(move || py_dialogue(port, tls, None, &steps));
        std::thread::sleep(Duration::from_millis(2500));
        let procs = srv.connection_processes_anywhere();
        let roots = srv.root_processes();
        let seen: Vec<(u32, Vec<u32>, String)> = procs
            .iter()
            .filter_map(|p| proc_uids(*p).map(|u| (*p, u, proc_cmdline(*p))))
            .collect();
        let out = client.join().unwrap();
        assert!(out.contains("S: a OK LOGIN Ok."), "{out}\n{}", srv.log());
        assert!(!procs.is_empty(), "no session process seen: {out}");
        assert!(
            roots.is_empty(),
            "{mode}: root processes during a session: {roots:?}"
        );
        if tls {
            // couriertls (TLS side) runs as courier, imapd as the account.
            let uids: Vec<u32> = seen.iter().map(|(_, u, _)| u[0]).collect();
            let courier = std::process::Command::new("id")
                .args(["-u", "courier"])
                .output()
                .ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .trim()
                        .parse::<u32>()
                        .ok()
                });
            if let Some(cu) = courier {
                assert!(uids.contains(&cu), "no couriertls as courier: {seen:?}");
            }
            assert!(
                uids.contains(&fx.uid),
                "no session as the account: {uids:?}"
            );
        }
        let text = std::fs::read_to_string(&report).unwrap();
        Report::parse(&text)
            .unwrap_or_else(|| panic!("{text}"))
            .assert_identity(fx.uid, fx.gid, &[fx.gid]);
        std::fs::write(&report, "").unwrap();
        assert!(
            srv.wait_idle(Duration::from_secs(10)),
            "{mode}: left after the session: {:?}",
            srv.connection_processes_anywhere()
                .iter()
                .map(|p| format!("{p} {:?} {}", proc_uids(*p), proc_cmdline(*p)))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn account_with_uid_0_gets_no_session() {
    let t = "account_with_uid_0_gets_no_session";
    if !chain_prereqs(t) || !ours_only(t) {
        return;
    }
    let fx_dir = open_scratch("root");
    let home = make_home(&fx_dir.join("toor"), 0, 0);
    let fx = Fixture::new(&userdb_line("toor", 0, 0, &home, VUSER_HASH, ""));
    let srv = fx.start(&fx.imap_spec(&report_env()));
    let (_, rest) = imap_login_report(srv.port, "toor", VUSER_PASSWORD);
    assert!(Report::parse(&rest).is_none(), "root session: {rest}");
    assert!(
        rest.starts_with("a NO ") || rest.starts_with("* BYE "),
        "no Courier answer: {rest}"
    );
    assert!(
        srv.wait_idle(Duration::from_secs(10)),
        "{:?}",
        srv.root_processes()
    );
    let pop = fx.start(&fx.pop3_spec(&report_env()));
    let mut c = pop.connect();
    c.line();
    c.cmd("USER toor");
    c.line();
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    let (rest, _) = c.rest(Duration::from_secs(15));
    assert!(Report::parse(&rest).is_none(), "root session: {rest}");
    assert!(rest.starts_with("-ERR"), "{rest}");
}

#[test]
fn preauth_dialogue_runs_unprivileged_beside_a_root_monitor() {
    let t = "preauth_dialogue_runs_unprivileged_beside_a_root_monitor";
    // Courier's imaplogin reads the client as root; ours splits (courier-login-chain(7)).
    if !chain_prereqs(t) || !chain_runs_ours(t, "imaplogin") {
        return;
    }
    let fx = Fixture::new("");
    for spec in [fx.imap_spec(&report_env()), fx.pop3_spec(&report_env())] {
        let srv = fx.start(&spec);
        let mut c = srv.connect();
        c.line();
        let procs = srv.connection_processes();
        let uids: Vec<(u32, u32)> = procs
            .iter()
            .filter_map(|p| proc_uids(*p).map(|u| (*p, *u.iter().max().unwrap())))
            .collect();
        let roots: Vec<_> = uids.iter().filter(|(_, u)| *u == 0).collect();
        let others: Vec<_> = uids.iter().filter(|(_, u)| *u != 0).collect();
        assert_eq!(roots.len(), 1, "one root monitor: {uids:?}");
        assert!(
            others.iter().any(|(_, u)| *u == 65534),
            "no dialogue process as nobody: {uids:?}"
        );
        // The root monitor is couriertcpd's child; the dialogue runs below it.
        assert_eq!(children_of(srv.pid()), vec![roots[0].0], "{uids:?}");
        drop(c);
        assert!(
            srv.wait_idle(Duration::from_secs(5)),
            "{:?}",
            srv.root_processes()
        );
    }
}
