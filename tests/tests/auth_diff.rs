//! Our authdaemond against Debian's, on the same userdb, and our client programs
//! against Debian's on Debian's daemon:
//!
//! 1. Debian's authtest / authenumerate give the same stdout, stderr and exit
//!    code whichever daemon answers (and raw socket replies are identical);
//! 2. our authtest / authenumerate print what Debian's print, on Debian's daemon.
//!
//! Each daemon runs in its own private mount namespace with the fixture userdb
//! compiled by its own makeuserdb (see the testkit). Needs root and Debian's
//! courier-authdaemon + courier-authlib-userdb; skips otherwise.

use e2e::{
    AUTH_FIXTURE_DEFAULTOPTIONS, AuthDaemon, AuthSetup, Outcome, Side, auth_client, auth_exchange,
    auth_fixture_userdb, auth_prereqs,
};
use std::time::Duration;

fn setup() -> AuthSetup {
    AuthSetup::userdb(auth_fixture_userdb(), 2, AUTH_FIXTURE_DEFAULTOPTIONS)
}

/// Debian's daemon and ours, same setup; None (after a SKIP line) when the
/// harness cannot run.
fn pair(test: &str) -> Option<(AuthDaemon, AuthDaemon)> {
    if !auth_prereqs(test, true) {
        return None;
    }
    let s = setup();
    Some((
        AuthDaemon::start(Side::Courier, &s),
        AuthDaemon::start(Side::Ours, &s),
    ))
}

fn debian_only(test: &str) -> Option<AuthDaemon> {
    auth_prereqs(test, true).then(|| AuthDaemon::start(Side::Courier, &setup()))
}

/// Runs Debian's `prog args` against both daemons; asserts identical outcomes
/// and returns Debian's.
fn same_from_both(debian: &AuthDaemon, ours: &AuthDaemon, prog: &str, args: &[&str]) -> Outcome {
    let want = auth_client(debian, Side::Courier, prog, args);
    let got = auth_client(ours, Side::Courier, prog, args);
    assert_eq!(
        got,
        want,
        "Debian's {prog} {args:?}: our daemon (left) vs Debian's (right); our daemon's log:\n{}",
        ours.log()
    );
    want
}

/// Runs our and Debian's `prog args` against Debian's daemon; asserts identical
/// outcomes and returns Debian's.
fn same_clients(debian: &AuthDaemon, prog: &str, args: &[&str]) -> Outcome {
    let want = auth_client(debian, Side::Courier, prog, args);
    let got = auth_client(debian, Side::Ours, prog, args);
    assert_eq!(
        got, want,
        "{prog} {args:?}: our client (left) vs Debian's (right)"
    );
    want
}

const PRE_CASES: &[&[&str]] = &[
    &["alice"],
    &["-s", "imap", "alice"],
    &["-s", "pop3", "carol"],
    &["bob@example.com"],
    &["carol"],
    &["dave"],
    &["toor"],
    &["nosuch"],
    &["ALICE"],
    &["5000="],
];

const LOGIN_CASES: &[&[&str]] = &[
    &["alice", "secret"],
    &["alice", "wrong"],
    &["alice", ""],
    &["-s", "pop3", "alice", "secret"],
    &["bob@example.com", "bobpw"],
    &["bob@example.com", "bobp"],
    &["carol", "carolpw"],
    &["-s", "pop3", "carol", "carolpop"],
    &["-s", "pop3", "carol", "carolpw"],
    &["dave", "x"],
    &["dave", ""],
    &["toor", "secret"],
    &["nosuch", "x"],
];

const IMAPPW_CASES: &[&[&str]] = &[
    &["-s", "imap", "alice", "secret"],
    &["-s", "imap", "alice", "imapsecret"],
    &["-s", "webmail", "alice", "imapsecret"],
];

#[test]
fn pre_lookups_debian_authtest_same_output_from_our_daemon() {
    let Some((debian, ours)) = pair("pre_lookups_debian_authtest_same_output_from_our_daemon")
    else {
        return;
    };
    for args in PRE_CASES {
        same_from_both(&debian, &ours, "authtest", args);
    }
    // DEFAULTOPTIONS is merged after the account's own options.
    let o = same_from_both(&debian, &ours, "authtest", &["alice"]);
    assert!(
        o.stdout
            .contains("Options: disablepop3=0,group=staff,disablewebmail=1,sharedgroup=zz\n"),
        "{o:?}"
    );
    let o = same_from_both(&debian, &ours, "authtest", &["nosuch"]);
    assert_eq!(o.code, Some(1));
}

#[test]
fn pre_lookups_our_authtest_same_output_as_debian_authtest() {
    let Some(debian) = debian_only("pre_lookups_our_authtest_same_output_as_debian_authtest")
    else {
        return;
    };
    for args in PRE_CASES {
        same_clients(&debian, "authtest", args);
    }
}

#[test]
fn login_passwords_debian_authtest_same_output_from_our_daemon() {
    let Some((debian, ours)) = pair("login_passwords_debian_authtest_same_output_from_our_daemon")
    else {
        return;
    };
    for args in LOGIN_CASES {
        same_from_both(&debian, &ours, "authtest", args);
    }
    let ok = same_from_both(&debian, &ours, "authtest", &["bob@example.com", "bobpw"]);
    assert_eq!(ok.code, Some(0), "$6$ password: {ok:?}");
    let ok = same_from_both(&debian, &ours, "authtest", &["carol", "carolpw"]);
    assert_eq!(ok.code, Some(0), "$y$ password: {ok:?}");
}

#[test]
fn login_passwords_our_authtest_same_output_as_debian_authtest() {
    let Some(debian) = debian_only("login_passwords_our_authtest_same_output_as_debian_authtest")
    else {
        return;
    };
    for args in LOGIN_CASES.iter().chain(IMAPPW_CASES) {
        same_clients(&debian, "authtest", args);
    }
}

#[test]
fn imap_service_password_replaces_systempw_on_both_daemons() {
    let Some((debian, ours)) = pair("imap_service_password_replaces_systempw_on_both_daemons")
    else {
        return;
    };
    let codes: Vec<Option<i32>> = IMAPPW_CASES
        .iter()
        .map(|args| same_from_both(&debian, &ours, "authtest", args).code)
        .collect();
    // imappw, not systempw, for imap; webmail has no webmailpw so systempw applies.
    assert_eq!(codes, [Some(1), Some(0), Some(1)]);
}

/// Raw request bytes whose raw replies must be identical.
const RAW_CASES: &[&[u8]] = &[
    b"PRE . imap alice\n",
    b"TCPREMOTEIP=192.0.2.1\nPRE . pop3 carol\n",
    b"PRE authuserdb imap bob@example.com\n",
    b"PRE authpam imap alice\n",
    b"PRE . imap nosuch\n",
    b"AUTH 24\npop3\nlogin\nalice\nsecret\n",
    b"AUTH 28\nimap\nlogin\nalice\nimapsecret\n",
    b"AUTH 23\nimap\nlogin\nalice\nwrong\n",
    b"AUTH 22\nimap\nlogin\ndave\n\n",
    b"PASSWD imap\tnosuch\told\tnew\n",
];

#[test]
fn raw_replies_our_daemon_same_bytes_as_debian() {
    let Some((debian, ours)) = pair("raw_replies_our_daemon_same_bytes_as_debian") else {
        return;
    };
    for req in RAW_CASES {
        let want = auth_exchange(&debian.socket(), req, Duration::from_secs(5));
        let got = auth_exchange(&ours.socket(), req, Duration::from_secs(5));
        assert_eq!(
            String::from_utf8_lossy(&got.0),
            String::from_utf8_lossy(&want.0),
            "{:?}: our reply (left) vs Debian's (right)",
            String::from_utf8_lossy(req)
        );
        assert_eq!(
            got.1,
            want.1,
            "{:?}: closed after reply",
            String::from_utf8_lossy(req)
        );
    }
    // The record carries NAME (GECOS cut at the comma), which authtest never shows.
    let (reply, _) = auth_exchange(&ours.socket(), RAW_CASES[0], Duration::from_secs(5));
    assert!(
        String::from_utf8_lossy(&reply).contains("\nNAME=Alice Liddell\n"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn enumerate_debian_authenumerate_same_accounts_from_our_daemon() {
    let Some((debian, ours)) = pair("enumerate_debian_authenumerate_same_accounts_from_our_daemon")
    else {
        return;
    };
    for args in [&[][..], &["-o"], &["-s"], &["-s", "-o"]] {
        let want = auth_client(&debian, Side::Courier, "authenumerate", args);
        let got = auth_client(&ours, Side::Courier, "authenumerate", args);
        // The order is the database's hash order, which differs between the two
        // database files and which nothing relies on: compare sorted lines.
        assert_eq!(
            (got.code, sorted(&got.stdout), got.stderr.as_str()),
            (want.code, sorted(&want.stdout), want.stderr.as_str()),
            "authenumerate {args:?}: our daemon (left) vs Debian's (right)"
        );
        assert_eq!(want.code, Some(0));
    }
    let o = auth_client(&ours, Side::Courier, "authenumerate", &["-s", "-o"]);
    let lines = sorted(&o.stdout);
    assert_eq!(
        lines,
        [
            "alice\t5000\t5000\t/home/vmail/alice\t/home/vmail/alice/Maildir\t\
             disablepop3=0,group=staff,disablewebmail=1,sharedgroup=zz",
            "carol\t5002\t5001\t/home/vmail/carol\tMaildir\t\
             disableshared=yes,disablewebmail=1,sharedgroup=zz",
            "dave\t5003\t5000\t/home/vmail/dave\t\tdisablewebmail=1,sharedgroup=zz",
        ]
    );
    // The raw stream: same module header and end, same lines in some order.
    let want = auth_exchange(&debian.socket(), b"ENUMERATE\n", Duration::from_secs(5)).0;
    let got = auth_exchange(&ours.socket(), b"ENUMERATE\n", Duration::from_secs(5)).0;
    let (want, got) = (
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(&got),
    );
    assert!(
        got.starts_with("# authuserdb\n\n") && got.ends_with("\n.\n"),
        "{got}"
    );
    assert_eq!(sorted(&got), sorted(&want));
}

#[test]
fn enumerate_our_authenumerate_same_output_as_debian_authenumerate() {
    let Some(debian) =
        debian_only("enumerate_our_authenumerate_same_output_as_debian_authenumerate")
    else {
        return;
    };
    for args in [&[][..], &["-o"], &["-s"], &["-o", "-s"]] {
        let o = same_clients(&debian, "authenumerate", args);
        assert_eq!(o.code, Some(0));
    }
}

#[test]
fn defaultoptions_from_config_file_reach_our_daemon_without_environment() {
    if !auth_prereqs(
        "defaultoptions_from_config_file_reach_our_daemon_without_environment",
        false,
    ) {
        return;
    }
    // Not sourced into the environment: our daemon must read the file itself.
    let s = AuthSetup {
        source_rc: false,
        ..setup()
    };
    let ours = AuthDaemon::start(Side::Ours, &s);
    let (reply, _) = auth_exchange(&ours.socket(), b"PRE . imap dave\n", Duration::from_secs(5));
    assert!(
        String::from_utf8_lossy(&reply).contains("\nOPTIONS=disablewebmail=1,sharedgroup=zz\n"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn passwd_change_same_result_on_both_daemons() {
    let Some((debian, ours)) = pair("passwd_change_same_result_on_both_daemons") else {
        return;
    };
    // authuserdb's PASSWD runs /usr/sbin/userdb and /usr/sbin/makeuserdb: in our
    // daemon's namespace those are ours, as after a drop-in installation.
    ours.install_ours_over_debian(&["userdb", "makeuserdb"]);
    let steps: &[(&[&str], i32)] = &[
        (&["alice", "wrong", "x"], 1),
        (&["nosuch", "x", "y"], 1),
        (&["alice", "secret", "newsecret"], 0),
        (&["alice", "newsecret"], 0),
        (&["alice", "secret"], 1),
        (&["-s", "imap", "alice", "imapsecret", "newimap"], 0),
        (&["-s", "imap", "alice", "newimap"], 0),
        (&["-s", "imap", "alice", "imapsecret"], 1),
        (&["-s", "pop3", "alice", "newsecret"], 0),
    ];
    for (args, code) in steps {
        let want = masked(auth_client(&debian, Side::Courier, "authtest", args));
        let got = masked(auth_client(&ours, Side::Courier, "authtest", args));
        assert_eq!(
            got, want,
            "authtest {args:?}: our daemon (left) vs Debian's (right)"
        );
        assert_eq!(want.code, Some(*code), "authtest {args:?}: {want:?}");
    }
    // The new hash is stored as MD5-crypt in the text file too.
    for d in [&debian, &ours] {
        let text = d.sh("cat /etc/courier/userdb").stdout;
        let alice = text.lines().find(|l| l.starts_with("alice\t")).unwrap();
        assert!(alice.contains("systempw=$1$"), "{:?}: {alice}", d.side);
        assert!(alice.contains("imappw=$1$"), "{:?}: {alice}", d.side);
    }
}

/// The salt of a freshly set password is random: mask the hash.
fn masked(mut o: Outcome) -> Outcome {
    o.stdout = o
        .stdout
        .lines()
        .map(|l| match l.strip_prefix("Encrypted Password: $1$") {
            Some(_) => "Encrypted Password: $1$<masked>\n".to_string(),
            None => format!("{l}\n"),
        })
        .collect();
    o
}

fn sorted(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(String::from).collect();
    v.sort();
    v
}
