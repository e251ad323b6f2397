//! authpam against the real libpam and a real system account.
//!
//! Needs root: the test creates a throw-away account with useradd/chpasswd (removed
//! again by a Drop guard) and authenticates it through PAM service `imap` (Debian's
//! courier-imap ships /etc/pam.d/imap; without it a temporary service file is written).
//! The "no PAM configuration at all" case runs this test binary again inside a private
//! mount namespace (`unshare --mount`) with an empty tmpfs over /etc/pam.d, so the host's
//! PAM files are never touched.
#![cfg(feature = "pam")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestAccount, have, root_test_blocker, sh};

use courier_auth_modules::{DebugLog, ModuleSettings, Outcome, load};

const PASSWORD: &str = "pam-Test-pw9";
/// Set in the environment of the re-executed binary: the account to try.
const INNER_USER_ENV: &str = "COURIER_AUTHPAM_TEST_INNER_USER";

/// A PAM service file written for the test when Debian's `imap` is absent.
struct ServiceFile {
    name: String,
    written: Option<std::path::PathBuf>,
}

impl ServiceFile {
    fn imap_or_temporary() -> Self {
        if Path::new("/etc/pam.d/imap").exists() {
            return Self {
                name: "imap".into(),
                written: None,
            };
        }
        let name = format!("courier-modules-test-{}", std::process::id());
        let path = Path::new("/etc/pam.d").join(&name);
        std::fs::write(
            &path,
            "@include common-auth\n@include common-account\n@include common-password\n\
             @include common-session\n",
        )
        .unwrap();
        Self {
            name,
            written: Some(path),
        }
    }
}

impl Drop for ServiceFile {
    fn drop(&mut self) {
        if let Some(p) = &self.written {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn login(service: &str, user: &str, pass: &str) -> (Outcome, DebugLog) {
    let mut m = load("authpam", &ModuleSettings::default()).unwrap();
    let mut log = DebugLog::new(1);
    let data = format!("{user}\n{pass}\n");
    let out = m.auth(service, "login", data.as_bytes(), &mut log);
    (out, log)
}

#[test]
fn authpam_authenticates_a_real_account_through_libpam() {
    if let Some(why) = root_test_blocker(&["/usr/sbin/usermod"]) {
        println!("SKIP: {why}");
        return;
    }
    let account = TestAccount::create("am", "Pam Tester,Room 7,,", PASSWORD);
    let service = ServiceFile::imap_or_temporary();
    let user = account.name.as_str();
    let pw = nix::unistd::User::from_name(user).unwrap().unwrap();

    // Right password: the system record of §9, PASSWD from /etc/shadow, PASSWD2.
    let (out, log) = login(&service.name, user, PASSWORD);
    let Outcome::Accept(info) = out else {
        panic!("{out:?}: {log:?}");
    };
    assert_eq!(info.username.as_deref(), Some(user));
    assert_eq!(info.uid, None);
    assert_eq!(info.gid, Some(pw.gid.as_raw()));
    assert_eq!(info.home, pw.dir.to_string_lossy());
    assert_eq!(info.address.as_deref(), Some(user));
    assert_eq!(info.name.as_deref(), Some("Pam Tester"));
    assert!(
        info.passwd.as_deref().is_some_and(|p| p.starts_with('$')),
        "{info:?}"
    );
    assert_eq!(info.passwd2.as_deref(), Some(PASSWORD));
    assert_eq!(
        (&info.maildir, &info.quota, &info.options),
        (&None, &None, &None)
    );
    assert!(log.lines.iter().any(|l| l == "dopam successful"), "{log:?}");

    // With the client's address passed on as PAM_RHOST, the same answer.
    let mut m = load("authpam", &ModuleSettings::default()).unwrap();
    m.set_remote_ip(Some("192.0.2.7"));
    let data = format!("{user}\n{PASSWORD}\n");
    let out = m.auth(
        &service.name,
        "login",
        data.as_bytes(),
        &mut DebugLog::new(1),
    );
    assert_eq!(out, Outcome::Accept(info.clone()));

    // PRE: the same record without PASSWD2.
    match m.pre("imap", user, &mut DebugLog::new(0)) {
        Outcome::Accept(pre) => {
            assert_eq!(pre.home, info.home);
            assert_eq!(pre.passwd, info.passwd);
            assert_eq!(pre.passwd2, None);
        }
        other => panic!("{other:?}"),
    }

    // Enumeration lists the account (uid >= 100).
    let mut names = Vec::new();
    assert_eq!(m.enumerate(&mut |e| names.push(e.name)), Some(Ok(())));
    assert!(names.iter().any(|n| n == user));
    assert!(!names.iter().any(|n| n == "root"));

    // Wrong password, unknown user, CRAM: rejected.
    let (out, log) = login(&service.name, user, "wrong-password");
    assert_eq!(out, Outcome::Reject, "{log:?}");
    assert!(
        log.lines
            .iter()
            .any(|l| l.starts_with("pam_authenticate failed")),
        "{log:?}"
    );
    assert!(!log.lines.join("\n").contains("wrong-password"), "{log:?}");
    let (out, _) = login(&service.name, "no-such-user-courier-test", PASSWORD);
    assert_eq!(out, Outcome::Reject);
    let mut log = DebugLog::new(1);
    assert_eq!(
        m.auth("imap", "cram-md5", b"PDE+\nYSBi\n", &mut log),
        Outcome::Reject
    );

    // A service without a PAM file: libpam falls back to /etc/pam.d/other, exactly
    // as for Courier (on Debian "other" includes common-auth, so this logs in).
    let missing = format!("courier-no-such-service-{}", std::process::id());
    assert!(!Path::new("/etc/pam.d").join(&missing).exists());
    let (out, log) = login(&missing, user, PASSWORD);
    if Path::new("/etc/pam.d/other").exists() {
        let other = std::fs::read_to_string("/etc/pam.d/other").unwrap_or_default();
        if other.contains("@include common-auth") && other.contains("@include common-account") {
            assert!(matches!(out, Outcome::Accept(_)), "{out:?}: {log:?}");
        }
    } else {
        assert_eq!(out, Outcome::Reject, "{log:?}");
    }
    let (out, _) = login(&missing, user, "wrong-password");
    assert_eq!(out, Outcome::Reject);

    // No PAM configuration at all (no service file, no "other"): pam_start fails and
    // authpam rejects with a reason in the debug log, in a private mount namespace.
    if have("/usr/bin/unshare") && have("/usr/bin/mount") {
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("/usr/bin/unshare")
            .args(["--mount", "--propagation", "private", "--"])
            .arg(&exe)
            .args([
                "--exact",
                "authpam_without_any_pam_configuration_rejects",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INNER_USER_ENV, user)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("INNER: pam_start failure checked"),
            "inner test failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        println!("SKIP: no unshare/mount, pam_start failure not tested");
    }

    // Account management is consulted: an expired account cannot log in even with
    // the right password (pam_acct_mgmt fails after pam_authenticate succeeds).
    sh("/usr/sbin/usermod", &["-e", "1970-01-02", user], None);
    let (out, log) = login(&service.name, user, PASSWORD);
    assert_eq!(out, Outcome::Reject, "{log:?}");
    assert!(
        log.lines
            .iter()
            .any(|l| l.starts_with("pam_acct_mgmt failed")),
        "{log:?}"
    );
    println!("INNER: pam_start failure checked");
}

/// Runs only inside the private mount namespace set up by the test above.
#[test]
#[ignore = "run by authpam_authenticates_a_real_account_through_libpam in a mount namespace"]
fn authpam_without_any_pam_configuration_rejects() {
    let Ok(user) = std::env::var(INNER_USER_ENV) else {
        println!("SKIP: only meaningful when started by the outer authpam test");
        return;
    };
    // Private namespace: this tmpfs hides the host's /etc/pam.d from this process only.
    sh(
        "/usr/bin/mount",
        &["-t", "tmpfs", "tmpfs", "/etc/pam.d"],
        None,
    );
    assert_eq!(std::fs::read_dir("/etc/pam.d").unwrap().count(), 0);
    let (out, log) = login("imap", &user, PASSWORD);
    assert_eq!(out, Outcome::Reject, "{log:?}");
    assert!(
        log.lines
            .iter()
            .any(|l| l.starts_with("pam_start failed") && l.contains("bad PAM configuration")),
        "{log:?}"
    );
    println!("INNER: pam_start failure checked");
}
