//! Pieces every module shares: authdata splitting, GECOS trimming, password checks and
//! Courier's debug dumps.

use crate::{AuthInfo, DebugLog};

/// The `login` authtype (authdaemon-protocol.md §3.2).
pub(crate) const AUTHTYPE_LOGIN: &str = "login";

/// Splits `login` (or `cram-*`) authdata the way Courier's `strtok(authdata, "\n")`
/// does: the data ends at the first NUL (it is a C string there), empty lines are
/// skipped, and the first two remaining lines are user and password. `None` when there
/// are not two, or they are not UTF-8 (the modules compare text).
pub(crate) fn split_authdata(authdata: &[u8]) -> Option<(&str, &str)> {
    let end = authdata
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(authdata.len());
    let mut tokens = authdata[..end]
        .split(|&b| b == b'\n')
        .filter(|t| !t.is_empty());
    let user = std::str::from_utf8(tokens.next()?).ok()?;
    let pass = std::str::from_utf8(tokens.next()?).ok()?;
    Some((user, pass))
}

/// Courier sends only the first comma-separated field of GECOS as `NAME`
/// (authdaemond.c `printauth`); the modules do the cut so [`AuthInfo::name`] is final.
pub(crate) fn gecos_name(gecos: &str) -> String {
    gecos.split(',').next().unwrap_or("").to_string()
}

/// Checks `password` against a stored hash with Courier's rules (§7.1) and logs the
/// result as `authcheckpassword` does. An empty stored value never matches (crypt(3)
/// with an empty salt fails on Debian, so Courier refuses it too); neither does a
/// locked (`!…`, `*…`) one.
pub(crate) fn check_password(log: &mut DebugLog, password: &str, stored: &str) -> bool {
    let locked = stored.is_empty() || stored.starts_with('!') || stored.starts_with('*');
    let ok = !locked && courier_pwcrypt::verify(password, stored);
    if ok {
        log.log("password matches successfully");
    } else if log.with_passwords() {
        log.log(format!(
            "supplied password '{password}' does not match encrypted password '{stored}'"
        ));
    } else {
        log.log("supplied password does not match encrypted password");
    }
    ok
}

/// Courier's `courier_authdebug_authinfo` dump: `<prefix>sysusername=…, sysuserid=…`,
/// plus `clearpasswd=…, passwd=…` at level 2.
pub(crate) fn debug_authinfo(
    log: &mut DebugLog,
    prefix: &str,
    info: &AuthInfo,
    clear: Option<&str>,
) {
    if !log.enabled() {
        return;
    }
    let or_null = |v: Option<&str>| v.unwrap_or("<null>").to_string();
    log.log(format!(
        "{prefix}sysusername={}, sysuserid={}, sysgroupid={}, homedir={}, address={}, \
         fullname={}, maildir={}, quota={}, options={}",
        or_null(info.username.as_deref()),
        info.uid.map_or("<null>".into(), |u| u.to_string()),
        info.gid.unwrap_or(0),
        info.home,
        or_null(info.address.as_deref()),
        or_null(info.name.as_deref()),
        or_null(info.maildir.as_deref()),
        or_null(info.quota.as_deref()),
        or_null(info.options.as_deref()),
    ));
    if log.with_passwords() {
        log.log(format!(
            "{prefix}clearpasswd={}, passwd={}",
            or_null(clear),
            or_null(info.passwd.as_deref())
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split = Option<(&'static str, &'static str)>;

    #[test]
    fn authdata_splits_like_strtok() {
        const CASES: &[(&[u8], Split)] = &[
            (b"alice\nsecret\n", Some(("alice", "secret"))),
            (b"alice\nsecret", Some(("alice", "secret"))),
            (b"\n\nalice\n\nsecret\nextra\n", Some(("alice", "secret"))),
            (b"alice\n\n", None),
            (b"alice\n", None),
            (b"", None),
            (b"alice\nsec\0ret\n", Some(("alice", "sec"))),
            (b"alice\0\nsecret\n", None),
            (b"al\xffice\nsecret\n", None),
            (
                b"john smith\npass word\n",
                Some(("john smith", "pass word")),
            ),
        ];
        for (data, want) in CASES {
            assert_eq!(
                split_authdata(data),
                *want,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn gecos_is_cut_at_the_first_comma() {
        for (gecos, want) in [
            ("Alice Liddell,Room 1", "Alice Liddell"),
            ("Test User,Room 5,,", "Test User"),
            ("Plain", "Plain"),
            ("", ""),
            (",x", ""),
        ] {
            assert_eq!(gecos_name(gecos), want);
        }
    }

    #[test]
    fn debug_dump_hides_passwords_below_level_two() {
        let info = AuthInfo {
            uid: Some(5000),
            gid: Some(5000),
            home: "/h".into(),
            address: Some("a".into()),
            passwd: Some("$1$x$y".into()),
            ..AuthInfo::default()
        };
        let mut log = DebugLog::new(1);
        debug_authinfo(&mut log, "authuserdb: ", &info, Some("secret"));
        assert_eq!(
            log.lines,
            vec![
                "authuserdb: sysusername=<null>, sysuserid=5000, sysgroupid=5000, homedir=/h, \
                 address=a, fullname=<null>, maildir=<null>, quota=<null>, options=<null>"
                    .to_string()
            ]
        );
        let mut log = DebugLog::new(2);
        debug_authinfo(&mut log, "authuserdb: ", &info, Some("secret"));
        assert_eq!(
            log.lines[1],
            "authuserdb: clearpasswd=secret, passwd=$1$x$y"
        );
    }
}
