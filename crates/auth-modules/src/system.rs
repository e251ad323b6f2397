//! authpwd and authshadow: system accounts checked with crypt(3)-style hashes from the
//! passwd or the shadow file (authpwd.c, preauthpwd.c, authshadow.c, preauthshadow.c),
//! and the system modules' password change (authsyschangepwd.c).
//!
//! Record (§9): `USERNAME`, `GID`, `HOME`, `ADDRESS` (= the userid), `NAME` (GECOS up
//! to the first comma, sent even when empty), `PASSWD` (passwd field for authpwd,
//! shadow hash for authshadow), `PASSWD2` after a `login` AUTH. No `UID`, `MAILDIR`,
//! `QUOTA` or `OPTIONS`. Only `login` AUTH is handled; enumeration lists every account
//! with uid ≥ 100.

use std::path::PathBuf;

use crate::common::{AUTHTYPE_LOGIN, check_password, debug_authinfo, gecos_name, split_authdata};
use crate::sysdb::{Expired, PwEntry, SystemDb, today};
use crate::{AuthInfo, ChangeOutcome, DebugLog, EnumEntry, Module, ModuleSettings, Outcome};

/// Which of the two modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pwd,
    Shadow,
}

/// authpwd or authshadow.
#[derive(Debug)]
pub struct SystemModule {
    kind: Kind,
    db: SystemDb,
    syspasswd_tool: PathBuf,
}

/// The record Courier's system modules build from a passwd entry (`PASSWD` unset).
pub(crate) fn system_record(userid: &str, pw: &PwEntry) -> AuthInfo {
    AuthInfo {
        username: Some(userid.to_string()),
        gid: Some(pw.gid),
        home: pw.dir.clone(),
        address: Some(userid.to_string()),
        name: Some(gecos_name(&pw.gecos)),
        ..AuthInfo::default()
    }
}

impl SystemModule {
    /// authpwd: passwords from the passwd file's second field.
    pub fn pwd(settings: &ModuleSettings) -> Self {
        Self {
            kind: Kind::Pwd,
            db: SystemDb::new(settings),
            syspasswd_tool: settings.syspasswd_tool.clone(),
        }
    }

    /// authshadow: passwords from the shadow file; expired accounts are refused.
    pub fn shadow(settings: &ModuleSettings) -> Self {
        Self {
            kind: Kind::Shadow,
            ..Self::pwd(settings)
        }
    }

    fn prefix(&self) -> &'static str {
        match self.kind {
            Kind::Pwd => "authpwd: ",
            Kind::Shadow => "authshadow: ",
        }
    }

    fn lookup(&self, userid: &str, log: &mut DebugLog) -> Outcome {
        let pw = match self.db.getpwnam(userid) {
            Ok(Some(pw)) => pw,
            Ok(None) => {
                log.log(format!(
                    "{}username '{userid}' not found in password file",
                    self.prefix()
                ));
                return Outcome::Reject;
            }
            Err(e) => return Outcome::Temporary(e),
        };
        let mut info = system_record(userid, &pw);
        match self.kind {
            Kind::Pwd => info.passwd = Some(pw.passwd),
            Kind::Shadow => {
                let sp = match self.db.getspnam(userid) {
                    Ok(Some(sp)) => sp,
                    Ok(None) => {
                        log.log(format!("authshadow: {userid} - no shadow entry"));
                        return Outcome::Reject;
                    }
                    Err(e) => return Outcome::Temporary(e),
                };
                match sp.expired(today()) {
                    Some(Expired::Account) => {
                        log.log(format!("authshadow: {userid} - account expired"));
                        return Outcome::Reject;
                    }
                    Some(Expired::Password) => {
                        log.log(format!("authshadow: {userid} - password expired"));
                        return Outcome::Reject;
                    }
                    None => {}
                }
                info.passwd = Some(sp.pwdp);
            }
        }
        debug_authinfo(log, self.prefix(), &info, None);
        Outcome::Accept(info)
    }
}

impl Module for SystemModule {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Pwd => "authpwd",
            Kind::Shadow => "authshadow",
        }
    }

    fn pre(&mut self, _service: &str, userid: &str, log: &mut DebugLog) -> Outcome {
        self.lookup(userid, log)
    }

    fn auth(
        &mut self,
        _service: &str,
        authtype: &str,
        authdata: &[u8],
        log: &mut DebugLog,
    ) -> Outcome {
        if authtype != AUTHTYPE_LOGIN {
            log.log(format!(
                "{} only handles authtype={AUTHTYPE_LOGIN}",
                self.name()
            ));
            return Outcome::Reject;
        }
        let Some((user, pass)) = split_authdata(authdata) else {
            log.log("incomplete username or missing password");
            return Outcome::Reject;
        };
        let mut info = match self.lookup(user, log) {
            Outcome::Accept(info) => info,
            other => return other,
        };
        let stored = info.passwd.clone().unwrap_or_default();
        if !check_password(log, pass, &stored) {
            return Outcome::Reject;
        }
        info.passwd2 = Some(pass.to_string());
        Outcome::Accept(info)
    }

    fn passwd(
        &mut self,
        _service: &str,
        userid: &str,
        old: &str,
        new: &str,
        log: &mut DebugLog,
    ) -> ChangeOutcome {
        change_system_password(&self.db, &self.syspasswd_tool, userid, old, new, log)
    }

    fn enumerate(&mut self, emit: &mut dyn FnMut(EnumEntry)) -> Option<Result<(), String>> {
        Some(enumerate_system(&self.db, emit))
    }
}

/// The system accounts for `ENUMERATE`: uid < 100 skipped (authpwdenumerate.c).
pub(crate) fn enumerate_system(
    db: &SystemDb,
    emit: &mut dyn FnMut(EnumEntry),
) -> Result<(), String> {
    for pw in db.entries()? {
        if pw.uid < 100 {
            continue;
        }
        emit(EnumEntry {
            name: pw.name,
            uid: pw.uid,
            gid: pw.gid,
            home: pw.dir,
            maildir: String::new(),
            options: String::new(),
        });
    }
    Ok(())
}

/// `auth_syspasswd`: runs the `authsystem.passwd` helper as the user with
/// `old\nnew\n` on its stdin. Userids with `@` and unknown users are rejected; a
/// failing helper (including a wrong old password) is a temporary failure, as in
/// Courier, so the daemon answers `FAIL` without trying further modules.
pub(crate) fn change_system_password(
    db: &SystemDb,
    tool: &std::path::Path,
    userid: &str,
    old: &str,
    new: &str,
    log: &mut DebugLog,
) -> ChangeOutcome {
    if userid.contains('@') {
        return ChangeOutcome::Reject;
    }
    let pw = match db.getpwnam(userid) {
        Ok(Some(pw)) => pw,
        Ok(None) => return ChangeOutcome::Reject,
        Err(e) => return ChangeOutcome::Temporary(e),
    };
    let as_user = (pw.uid != nix::unistd::getuid().as_raw()).then_some((pw.uid, pw.gid));
    let input = format!("{old}\n{new}\n");
    log.log(format!("Executing {} for {userid}", tool.display()));
    match crate::tool::run(tool, &[], Some(input.as_bytes()), as_user) {
        Ok(()) => ChangeOutcome::Changed,
        Err(e) => ChangeOutcome::Temporary(format!("password change for {userid}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserSource;

    /// `secret` in every stored form Courier checks (§7.1).
    const SECRET_HASHES: &[&str] = &[
        "abNANd1rDfiNc",
        "$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1",
        "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA",
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0",
        "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
        "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
        "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
        "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==",
        "{SSHA}uJDd0BIdJ9Z7yDCZNWdgYeb33+cBAgME",
        "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
        "{MD5RAW}5ebe2294ecd0e0f08eab7690d2a6ee69",
        "{CRYPT}abNANd1rDfiNc",
    ];

    struct Files {
        _dir: tempfile::TempDir,
        settings: ModuleSettings,
    }

    fn files(passwd: &str, shadow: Option<&str>) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let passwd_file = dir.path().join("passwd");
        std::fs::write(&passwd_file, passwd).unwrap();
        let shadow_file = dir.path().join("shadow");
        if let Some(shadow) = shadow {
            std::fs::write(&shadow_file, shadow).unwrap();
        }
        let settings = ModuleSettings {
            passwd_file,
            shadow_file,
            user_source: UserSource::Files,
            syspasswd_tool: dir.path().join("authsystem.passwd"),
            ..ModuleSettings::default()
        };
        Files {
            _dir: dir,
            settings,
        }
    }

    fn login(m: &mut dyn Module, user: &str, pass: &str) -> Outcome {
        let data = format!("{user}\n{pass}\n");
        m.auth("imap", "login", data.as_bytes(), &mut DebugLog::new(2))
    }

    #[test]
    fn authpwd_accepts_every_hash_form_and_returns_the_system_record() {
        for hash in SECRET_HASHES {
            let f = files(
                &format!("bob:{hash}:1001:100:Bob Builder,Room 2,,:/home/bob:/bin/sh\n"),
                None,
            );
            let mut m = SystemModule::pwd(&f.settings);
            let want = AuthInfo {
                username: Some("bob".into()),
                gid: Some(100),
                home: "/home/bob".into(),
                address: Some("bob".into()),
                name: Some("Bob Builder".into()),
                passwd: Some(hash.to_string()),
                passwd2: Some("secret".into()),
                ..AuthInfo::default()
            };
            assert_eq!(
                login(&mut m, "bob", "secret"),
                Outcome::Accept(want),
                "{hash}"
            );
            assert_eq!(login(&mut m, "bob", "Secret"), Outcome::Reject, "{hash}");
        }
    }

    #[test]
    fn authpwd_rejects_unknown_users_other_authtypes_and_empty_hashes() {
        let f = files(
            "bob:abNANd1rDfiNc:1001:100::/home/bob:/bin/sh\nnopw::1002:100::/h:/bin/sh\n\
             locked:!abNANd1rDfiNc:1003:100::/h:/bin/sh\n",
            None,
        );
        let mut m = SystemModule::pwd(&f.settings);
        assert_eq!(login(&mut m, "alice", "secret"), Outcome::Reject);
        assert_eq!(login(&mut m, "nopw", "secret"), Outcome::Reject);
        assert_eq!(login(&mut m, "nopw", ""), Outcome::Reject);
        assert_eq!(login(&mut m, "locked", "secret"), Outcome::Reject);
        let mut log = DebugLog::new(1);
        assert_eq!(
            m.auth("imap", "cram-md5", b"x\ny\n", &mut log),
            Outcome::Reject
        );
        assert_eq!(m.auth("imap", "login", b"bob\n", &mut log), Outcome::Reject);
        // An empty GECOS still gives NAME= (Courier sends pw_gecos as it is).
        match m.pre("imap", "bob", &mut log) {
            Outcome::Accept(info) => {
                assert_eq!(info.name.as_deref(), Some(""));
                assert_eq!(info.passwd.as_deref(), Some("abNANd1rDfiNc"));
                assert_eq!(info.passwd2, None);
                assert_eq!(info.uid, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn authshadow_checks_the_shadow_hash_and_refuses_expired_accounts() {
        let today = today();
        let shadow = format!(
            "bob:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1:{}:0:99999:7:::\n\
             gone:abNANd1rDfiNc:{}:0:99999:7::{}:\n\
             stale:abNANd1rDfiNc:{}:0:30:7:::\n\
             locked:!abNANd1rDfiNc:{}:0:99999:7:::\n",
            today - 10,
            today - 10,
            today - 1,
            today - 31,
            today - 10,
        );
        let passwd = "bob:x:1001:100:Bob:/home/bob:/bin/sh\ngone:x:1002:100::/h:/bin/sh\n\
                      stale:x:1003:100::/h:/bin/sh\nlocked:x:1004:100::/h:/bin/sh\n\
                      noshadow:x:1005:100::/h:/bin/sh\n";
        let f = files(passwd, Some(&shadow));
        let mut m = SystemModule::shadow(&f.settings);
        match login(&mut m, "bob", "secret") {
            Outcome::Accept(info) => {
                assert!(info.passwd.unwrap().starts_with("$6$saltsalt$"));
                assert_eq!(info.passwd2.as_deref(), Some("secret"));
                assert_eq!(info.username.as_deref(), Some("bob"));
            }
            other => panic!("{other:?}"),
        }
        for user in ["gone", "stale", "locked", "noshadow"] {
            assert_eq!(login(&mut m, user, "secret"), Outcome::Reject, "{user}");
        }
        let mut log = DebugLog::new(1);
        assert_eq!(m.pre("imap", "gone", &mut log), Outcome::Reject);
        assert!(
            log.lines.iter().any(|l| l.contains("account expired")),
            "{log:?}"
        );
        assert_eq!(m.pre("imap", "stale", &mut log), Outcome::Reject);
        assert!(
            log.lines.iter().any(|l| l.contains("password expired")),
            "{log:?}"
        );
        // authpwd sees the "x" placeholder and never matches.
        let mut pwd = SystemModule::pwd(&f.settings);
        assert_eq!(login(&mut pwd, "bob", "secret"), Outcome::Reject);
    }

    #[test]
    fn authshadow_unreadable_shadow_file_is_temporary_naming_it() {
        let f = files("bob:x:1001:100:Bob:/home/bob:/bin/sh\n", None);
        let mut m = SystemModule::shadow(&f.settings);
        match login(&mut m, "bob", "secret") {
            Outcome::Temporary(reason) => {
                assert!(
                    reason.contains(&*f.settings.shadow_file.to_string_lossy()),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn debug_lines_carry_passwords_only_at_level_two() {
        let f = files("bob:abNANd1rDfiNc:1001:100::/home/bob:/bin/sh\n", None);
        let mut m = SystemModule::pwd(&f.settings);
        for level in [0u8, 1, 2] {
            let mut log = DebugLog::new(level);
            m.auth("imap", "login", b"bob\nwrongpw\n", &mut log);
            let text = log.lines.join("\n");
            assert_eq!(
                text.contains("wrongpw"),
                level == 2,
                "level {level}: {text}"
            );
            assert_eq!(log.lines.is_empty(), level == 0);
        }
    }

    #[test]
    fn system_enumeration_skips_uids_below_100() {
        let f = files(
            "root:x:0:0:root:/root:/bin/bash\nmessagebus:x:100:102::/nonexistent:/usr/sbin/nologin\n\
             daemon:x:99:1::/:/bin/sh\nbob:x:1001:100:Bob:/home/bob:/bin/sh\n",
            None,
        );
        for mut m in [
            SystemModule::pwd(&f.settings),
            SystemModule::shadow(&f.settings),
        ] {
            let mut got = Vec::new();
            assert_eq!(m.enumerate(&mut |e| got.push(e)), Some(Ok(())));
            let lines: Vec<String> = got.iter().filter_map(EnumEntry::render).collect();
            assert_eq!(
                lines,
                vec![
                    "messagebus\t100\t102\t/nonexistent\t\t\n".to_string(),
                    "bob\t1001\t100\t/home/bob\t\t\n".to_string()
                ]
            );
        }
    }

    #[test]
    fn system_password_change_runs_the_helper_with_old_and_new_on_stdin() {
        let me = nix::unistd::getuid().as_raw();
        let f = files(
            &format!(
                "bob:x:{me}:{}:Bob:/home/bob:/bin/sh\n",
                nix::unistd::getgid()
            ),
            None,
        );
        let got = f.settings.syspasswd_tool.with_extension("got");
        let tool = &f.settings.syspasswd_tool;
        let write_tool = |exit: u8| {
            std::fs::write(
                tool,
                format!("#!/bin/sh\ncat > '{}'\nexit {exit}\n", got.display()),
            )
            .unwrap();
            std::fs::set_permissions(tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        };
        let mut m = SystemModule::shadow(&f.settings);
        let mut log = DebugLog::new(0);
        write_tool(0);
        assert_eq!(
            m.passwd("imap", "bob", "old pw", "new pw", &mut log),
            ChangeOutcome::Changed
        );
        assert_eq!(std::fs::read_to_string(&got).unwrap(), "old pw\nnew pw\n");
        write_tool(1);
        match m.passwd("imap", "bob", "bad", "new", &mut log) {
            ChangeOutcome::Temporary(reason) => {
                assert!(reason.contains("authsystem.passwd"), "{reason}");
                assert!(!reason.contains("bad"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            m.passwd("imap", "nobody-such", "a", "b", &mut log),
            ChangeOutcome::Reject
        );
        assert_eq!(
            m.passwd("imap", "bob@example.com", "a", "b", &mut log),
            ChangeOutcome::Reject
        );
    }
}
