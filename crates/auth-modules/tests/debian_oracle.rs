//! Differential test: the same accounts and requests against Debian's authdaemond
//! (courier-authlib 0.71.4 with libauthuserdb.so and libauthpam.so) and against our
//! modules; the reply bytes must be identical.
//!
//! Root only, and only where Debian's courier-authdaemon and courier-authlib-userdb are
//! installed. The outer test creates a system account, then runs this binary again in a
//! private mount namespace (`unshare --mount`), where tmpfs hides the host's
//! /etc/courier and /run/courier, Debian's makeuserdb builds its GDBM files from a test
//! source, and Debian's authdaemond answers on its compiled-in socket path.
#![cfg(feature = "pam")]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestAccount, root_test_blocker, sh};
use courier_auth_modules::{DebugLog, EnumEntry, ModuleSettings, Outcome, UserSource, load};

const DEBIAN_AUTHDAEMOND: &str = "/usr/lib/courier/courier-authlib/authdaemond";
const DEBIAN_MAKEUSERDB: &str = "/usr/sbin/makeuserdb";
const SOCKET: &str = "/run/courier/authdaemon/socket";
const SYSTEM_PASSWORD: &str = "Oracle-pw-7";
const INNER_USER_ENV: &str = "COURIER_ORACLE_TEST_INNER_USER";

const SECRET_MD5: &str = "$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1";
const IMAPSECRET_MD5: &str = "$1$tkVQOYjo$MSmQQaQhED.YV6SpNqlsm.";
const HMAC_MD5_SECRET: &str = "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56";
const HMAC_SHA1_SECRET: &str =
    "091e0f4c6cb5277ee2beb639a60d0831b5c8adcdaee172433df3e96ba4f00fb1b6a490c3929d2034";
const HMAC_SHA256_SECRET: &str = "5a84072aab37d22275b139adf7a92564c7f674be98e77d991f6f689d29e0524572804f31b042016804d3dea2f4e991a21b1c8906be161594b202fb74afc8ceb3";

fn userdb_source() -> String {
    format!(
        "alice\tuid=5000|gid=5000|home=/home/vmail/alice|mail=/home/vmail/alice/Maildir|\
         quota=1000000S|gecos=Alice Liddell,Room 1|options=disablepop3=0,group=staff|\
         systempw={SECRET_MD5}|imappw={IMAPSECRET_MD5}|hmac-md5pw={HMAC_MD5_SECRET}|\
         hmac-sha1pw={HMAC_SHA1_SECRET}|hmac-sha256pw={HMAC_SHA256_SECRET}\n\
         5000=\talice\n\
         bob\tuid=5001|gid=5000|home=/home/vmail/bob|systempw={SECRET_MD5}\n\
         nohome\tuid=5003|gid=5000|systempw={SECRET_MD5}\n\
         emptygecos\tuid=5005|gid=5000|home=/h|gecos=|systempw={SECRET_MD5}\n\
         nopw\tuid=5004|gid=5000|home=/home/vmail/nopw\n"
    )
}

fn auth_request(service: &str, authtype: &str, data: &str) -> String {
    let n = service.len() + authtype.len() + data.len() + 2;
    format!("AUTH {n}\n{service}\n{authtype}\n{data}")
}

#[test]
fn replies_match_debian_authdaemond_byte_for_byte() {
    if let Some(why) = root_test_blocker(&[
        DEBIAN_AUTHDAEMOND,
        DEBIAN_MAKEUSERDB,
        "/usr/lib/courier-authlib/libauthuserdb.so.0",
        "/usr/lib/courier-authlib/libauthpam.so.0",
        "/usr/bin/unshare",
        "/usr/bin/mount",
    ]) {
        println!("SKIP: {why}");
        return;
    }
    if !Path::new("/etc/pam.d/imap").exists() {
        println!("SKIP: /etc/pam.d/imap (courier-imap) not installed");
        return;
    }
    let account = TestAccount::create("or", "Oracle Account,Room 3,,", SYSTEM_PASSWORD);
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("/usr/bin/unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(&exe)
        .args([
            "--exact",
            "inner_compare_with_debian",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_USER_ENV, &account.name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("INNER: compared"),
        "inner test failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in stdout
        .lines()
        .filter_map(|l| l.find("INNER:").map(|at| &l[at..]))
    {
        println!("{line}");
    }
}

/// Debian's authdaemond, stopped by PID when dropped: SIGTERM (on which it stops its
/// workers too), then SIGKILL if it is still there after 5 s.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ask_debian(request: &str) -> Vec<u8> {
    let mut s = UnixStream::connect(SOCKET).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    // The daemon closes the connection after its answer (or without one).
    let _ = s.read_to_end(&mut out);
    out
}

/// Our chain for one request, rendered as the daemon would answer it.
fn ask_ours(settings: &ModuleSettings, request: &str) -> Vec<u8> {
    let (framed, _) = courier_auth_proto::request::parse(request.as_bytes())
        .unwrap()
        .unwrap();
    let mut modules: Vec<_> = ["authuserdb", "authpam"]
        .iter()
        .map(|n| load(n, settings).unwrap())
        .collect();
    let mut log = DebugLog::new(0);
    match framed.request {
        courier_auth_proto::Request::Enumerate => {
            let mut out = String::new();
            for m in &mut modules {
                let mut entries: Vec<EnumEntry> = Vec::new();
                match m.enumerate(&mut |e| entries.push(e)) {
                    None => continue,
                    Some(Err(e)) => panic!("{e}"),
                    Some(Ok(())) => {}
                }
                out.push_str(&courier_auth_proto::record::enum_module_header(m.name()));
                for e in entries {
                    out.push_str(&e.render().unwrap());
                }
            }
            out.push_str(".\n");
            out.into_bytes()
        }
        request => {
            for m in &mut modules {
                let outcome = match &request {
                    courier_auth_proto::Request::Pre {
                        module,
                        service,
                        userid,
                    } => {
                        if module != "." && module != m.name() {
                            continue;
                        }
                        m.pre(service, userid, &mut log)
                    }
                    courier_auth_proto::Request::Auth {
                        service,
                        authtype,
                        authdata,
                    } => m.auth(service, authtype, authdata, &mut log),
                    other => panic!("not compared: {other:?}"),
                };
                match outcome {
                    Outcome::Accept(info) => return info.render().unwrap(),
                    Outcome::Reject => continue,
                    Outcome::Temporary(_) => return Vec::new(),
                }
            }
            b"FAIL\n".to_vec()
        }
    }
}

/// Sorts the entry lines inside each module section (GDBM and our database list
/// accounts in different orders; Courier promises none).
fn normalise_enumeration(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut section: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() || line == "." {
            section.sort();
            out.append(&mut section);
            out.push(line.to_string());
        } else {
            section.push(line.to_string());
        }
    }
    section.sort();
    out.append(&mut section);
    out
}

#[test]
#[ignore = "run by replies_match_debian_authdaemond_byte_for_byte in a mount namespace"]
fn inner_compare_with_debian() {
    let Ok(sysuser) = std::env::var(INNER_USER_ENV) else {
        println!("SKIP: only meaningful when started by the outer oracle test");
        return;
    };
    // Private namespace: these mounts hide the host's directories from this process only.
    sh(
        "/usr/bin/mount",
        &["-t", "tmpfs", "tmpfs", "/etc/courier"],
        None,
    );
    sh(
        "/usr/bin/mount",
        &["-t", "tmpfs", "tmpfs", "/run/courier"],
        None,
    );
    std::fs::create_dir_all("/run/courier/authdaemon").unwrap();
    std::fs::write(
        "/etc/courier/authdaemonrc",
        "authmodulelist=\"authuserdb authpam\"\ndaemons=1\n",
    )
    .unwrap();
    let source = Path::new("/etc/courier/userdb");
    std::fs::write(source, userdb_source()).unwrap();
    std::fs::set_permissions(source, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    sh(DEBIAN_MAKEUSERDB, &[], None);

    // Ours, from the same source, next to it.
    let ours = tempfile::tempdir().unwrap();
    let settings = ModuleSettings {
        userdb_dat: ours.path().join("userdb.dat"),
        userdb_shadow: ours.path().join("userdbshadow.dat"),
        user_source: UserSource::Nss,
        ..ModuleSettings::default()
    };
    courier_userdb::compile(source, &settings.userdb_dat, &settings.userdb_shadow).unwrap();

    let daemon = Daemon(
        Command::new(DEBIAN_AUTHDAEMOND)
            .env_remove("DEFAULTOPTIONS")
            .env_remove("DEBUG_LOGIN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(SOCKET).is_err() {
        assert!(
            Instant::now() < deadline,
            "Debian authdaemond did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let cram = |data: &str| data.replace("\\n", "\n");
    let requests = vec![
        "PRE . imap alice\n".to_string(),
        "PRE . pop3 alice\n".to_string(),
        "PRE . imap bob\n".to_string(),
        "PRE . imap nohome\n".to_string(),
        "PRE . imap emptygecos\n".to_string(),
        "PRE . imap nopw\n".to_string(),
        "PRE . imap nosuchuser\n".to_string(),
        format!("PRE . imap {sysuser}\n"),
        format!("PRE authpam imap {sysuser}\n"),
        "PRE authpam imap alice\n".to_string(),
        auth_request("pop3", "login", "alice\nsecret\n"),
        auth_request("imap", "login", "alice\nsecret\n"),
        auth_request("imap", "login", "alice\nimapsecret\n"),
        auth_request("imap", "login", "nopw\nsecret\n"),
        auth_request("imap", "login", "alice\n"),
        auth_request(
            "imap",
            "cram-md5",
            &cram("PDEyMzRBQkNEQHZtPg==\\nYWxpY2UgNzRkNTE5OTcwMWFiZmJiNmJlOWJmMTk5YWZhYjk2ODk=\\n"),
        ),
        auth_request(
            "imap",
            "cram-sha1",
            &cram(
                "PDEyMzRBQkNEQHZtPg==\\nYWxpY2UgNTRmYjk5NTU0NDNmNjMwMDJkYzkzNzhlMWE1NmNmMTFmYjUxN2NhZA==\\n",
            ),
        ),
        auth_request(
            "imap",
            "cram-sha256",
            &cram(
                "PDEyMzRBQkNEQHZtPg==\\nYWxpY2UgZGMyYzZkOGEzODc1MDljNDYxOTg1MWYxNTQ3ZDU1MzExNDUwYmEwNzgzN2RiZGMwYjJhMDJlYWExOTQzNzkwOQ==\\n",
            ),
        ),
        auth_request(
            "imap",
            "cram-md5",
            &cram("PDEyMzRBQkNEQHZtPg==\\nYWxpY2UgMjg5OTA2NmU3Y2YyZGU1OTkzZWU4MTY3MjRiMDY0NTc=\\n"),
        ),
        auth_request("imap", "login", &format!("{sysuser}\n{SYSTEM_PASSWORD}\n")),
        auth_request("pop3", "login", &format!("{sysuser}\n{SYSTEM_PASSWORD}\n")),
        auth_request("imap", "login", &format!("{sysuser}\nwrong\n")),
    ];
    for request in &requests {
        let debian = ask_debian(request);
        let mine = ask_ours(&settings, request);
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&debian),
            "request {request:?}"
        );
    }
    let debian = ask_debian("ENUMERATE\n");
    let mine = ask_ours(&settings, "ENUMERATE\n");
    assert_eq!(normalise_enumeration(&mine), normalise_enumeration(&debian));
    drop(daemon);
    println!("INNER: compared {} requests and ENUMERATE", requests.len());
}
