//! Replies: the account record, `FAIL`, and the `ENUMERATE` stream
//! (authdaemon-protocol.md §3.4, §4).

/// A successful lookup: what the daemon tells the login program about an account.
/// Keys are sent in this field order, each only when present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthInfo {
    /// `USERNAME`: a system account name (the client does getpwnam + initgroups).
    pub username: Option<String>,
    /// `UID`: a virtual account's numeric uid.
    pub uid: Option<u32>,
    /// `GID`: the numeric gid (with USERNAME it forces the primary group).
    pub gid: Option<u32>,
    /// `HOME`: home directory (always sent, may be empty).
    pub home: String,
    /// `ADDRESS`: the canonical login id, which becomes `AUTHENTICATED`.
    pub address: Option<String>,
    /// `NAME`: full name (GECOS cut at the first comma).
    pub name: Option<String>,
    /// `MAILDIR`: absolute, or relative to HOME.
    pub maildir: Option<String>,
    /// `QUOTA`: maildir quota spec.
    pub quota: Option<String>,
    /// `PASSWD`: the stored (hashed) password.
    pub passwd: Option<String>,
    /// `PASSWD2`: the cleartext password of a `login` AUTH.
    pub passwd2: Option<String>,
    /// `OPTIONS`: comma-separated account options.
    pub options: Option<String>,
}

/// A value that would break the line framing of a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key} contains a newline or NUL")]
pub struct BadValue {
    /// The offending key.
    pub key: &'static str,
}

impl AuthInfo {
    /// `(KEY, value)` pairs in Courier's order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::with_capacity(11);
        let mut push = |k: &'static str, val: Option<String>| {
            if let Some(val) = val {
                v.push((k, val));
            }
        };
        push("USERNAME", self.username.clone());
        push("UID", self.uid.map(|u| u.to_string()));
        push("GID", self.gid.map(|g| g.to_string()));
        push("HOME", Some(self.home.clone()));
        push("ADDRESS", self.address.clone());
        push("NAME", self.name.clone());
        push("MAILDIR", self.maildir.clone());
        push("QUOTA", self.quota.clone());
        push("PASSWD", self.passwd.clone());
        push("PASSWD2", self.passwd2.clone());
        push("OPTIONS", self.options.clone());
        v
    }

    /// The reply bytes: `KEY=value\n` lines then `.\n`.
    pub fn render(&self) -> Result<Vec<u8>, BadValue> {
        let mut out = Vec::with_capacity(256);
        for (k, v) in self.fields() {
            if v.contains('\n') || v.contains('\0') {
                return Err(BadValue { key: k });
            }
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b".\n");
        Ok(out)
    }
}

/// The 5-byte failure reply.
pub const FAIL: &[u8] = b"FAIL\n";

/// What a client makes of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// An account record ended by `.`.
    Ok(Box<AuthInfo>),
    /// `FAIL`: authentication failed or no such account.
    Fail,
    /// `OK` (PASSWD success).
    PasswdOk,
    /// No terminator before EOF: the daemon signalled a temporary failure.
    Temporary,
}

/// Parses a complete reply as libcourierauth does: `.` ends a record, `FAIL`
/// fails, lines without `=` and unknown keys are ignored, EOF without a
/// terminator is a temporary failure.
pub fn parse_reply(bytes: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(bytes);
    let mut info = AuthInfo::default();
    for line in text.split_inclusive('\n') {
        let Some(line) = line.strip_suffix('\n') else {
            break;
        };
        match line {
            "." => return Reply::Ok(Box::new(info)),
            "FAIL" => return Reply::Fail,
            "OK" => return Reply::PasswdOk,
            _ => {}
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.to_string();
        match k {
            "USERNAME" => info.username = Some(v),
            "UID" => info.uid = v.parse().ok(),
            "GID" => info.gid = v.parse().ok(),
            "HOME" => info.home = v,
            "ADDRESS" => info.address = Some(v),
            "NAME" => info.name = Some(v),
            "MAILDIR" => info.maildir = Some(v),
            "QUOTA" => info.quota = Some(v),
            "PASSWD" => info.passwd = Some(v),
            "PASSWD2" => info.passwd2 = Some(v),
            "OPTIONS" => info.options = Some(v),
            _ => {}
        }
    }
    Reply::Temporary
}

/// Whether `bytes` already hold a complete reply (so a reader can stop).
pub fn reply_complete(bytes: &[u8]) -> bool {
    bytes == FAIL
        || bytes == b"OK\n"
        || bytes.starts_with(b".\n")
        || bytes.windows(3).any(|w| w == b"\n.\n")
}

/// One account in an `ENUMERATE` listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumEntry {
    /// Login name.
    pub name: String,
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Maildir, empty when the account has none.
    pub maildir: String,
    /// Options (merged with DEFAULTOPTIONS), empty when none.
    pub options: String,
}

impl EnumEntry {
    /// `name\tuid\tgid\thome\tmaildir\toptions\n`; `None` when a field holds a tab or
    /// newline (such an entry cannot be listed).
    pub fn render(&self) -> Option<String> {
        let fields = [&self.name, &self.home, &self.maildir, &self.options];
        if fields.iter().any(|f| f.contains(['\t', '\n'])) {
            return None;
        }
        Some(format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            self.name, self.uid, self.gid, self.home, self.maildir, self.options
        ))
    }
}

/// The header that starts one module's part of an `ENUMERATE` stream.
pub fn enum_module_header(module: &str) -> String {
    format!("# {module}\n\n")
}

/// The end of a complete `ENUMERATE` stream.
pub const ENUM_END: &[u8] = b".\n";

/// Parses an `ENUMERATE` stream as authenumerate does: `#` lines are comments,
/// lines with fewer than 4 tab fields are skipped, uid 0 or gid 0 entries are
/// dropped. Returns the entries and whether the final `.` arrived.
pub fn parse_enumeration(bytes: &[u8]) -> (Vec<EnumEntry>, bool) {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        let Some(line) = line.strip_suffix('\n') else {
            break;
        };
        if line == "." {
            return (out, true);
        }
        if line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[1].parse::<u32>(), f[2].parse::<u32>()) else {
            continue;
        };
        if uid == 0 || gid == 0 {
            continue;
        }
        out.push(EnumEntry {
            name: f[0].into(),
            uid,
            gid,
            home: f[3].into(),
            maildir: f.get(4).copied().unwrap_or("").into(),
            options: f.get(5).copied().unwrap_or("").into(),
        });
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> AuthInfo {
        AuthInfo {
            uid: Some(5000),
            gid: Some(5000),
            home: "/home/vmail/alice".into(),
            address: Some("alice".into()),
            name: Some("Alice Liddell".into()),
            maildir: Some("/home/vmail/alice/Maildir".into()),
            quota: Some("1000000S".into()),
            passwd: Some("$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0".into()),
            passwd2: Some("secret".into()),
            options: Some("disablepop3=0,group=staff".into()),
            ..AuthInfo::default()
        }
    }

    #[test]
    fn record_matches_courier_byte_for_byte() {
        let want = "UID=5000\nGID=5000\nHOME=/home/vmail/alice\nADDRESS=alice\n\
NAME=Alice Liddell\nMAILDIR=/home/vmail/alice/Maildir\nQUOTA=1000000S\n\
PASSWD=$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0\nPASSWD2=secret\n\
OPTIONS=disablepop3=0,group=staff\n.\n";
        assert_eq!(String::from_utf8(alice().render().unwrap()).unwrap(), want);
        assert_eq!(parse_reply(want.as_bytes()), Reply::Ok(Box::new(alice())));
    }

    #[test]
    fn system_account_sends_username_and_empty_home() {
        let a = AuthInfo {
            username: Some("bob".into()),
            gid: Some(100),
            address: Some("bob".into()),
            ..AuthInfo::default()
        };
        assert_eq!(
            a.render().unwrap(),
            b"USERNAME=bob\nGID=100\nHOME=\nADDRESS=bob\n.\n"
        );
    }

    #[test]
    fn replies_are_classified_like_libcourierauth() {
        assert_eq!(parse_reply(b"FAIL\n"), Reply::Fail);
        assert_eq!(parse_reply(b""), Reply::Temporary);
        assert_eq!(parse_reply(b"UID=1\nGID=1\n"), Reply::Temporary);
        assert_eq!(parse_reply(b"OK\n"), Reply::PasswdOk);
        match parse_reply(b"junk line\nXYZ=1\nHOME=/h\n.\n") {
            Reply::Ok(a) => assert_eq!(a.home, "/h"),
            other => panic!("{other:?}"),
        }
        assert!(reply_complete(b"UID=1\n.\n"));
        assert!(!reply_complete(b"UID=1\n"));
    }

    #[test]
    fn newline_in_a_value_is_refused() {
        let mut a = alice();
        a.name = Some("evil\nUID=0".into());
        assert_eq!(a.render(), Err(BadValue { key: "NAME" }));
    }

    #[test]
    fn enumeration_roundtrip_drops_root_and_short_lines() {
        let mut s = enum_module_header("authuserdb");
        let e = EnumEntry {
            name: "alice".into(),
            uid: 5000,
            gid: 5000,
            home: "/home/vmail/alice".into(),
            maildir: "/home/vmail/alice/Maildir".into(),
            options: "disablepop3=0".into(),
        };
        s.push_str(&e.render().unwrap());
        s.push_str("root\t0\t0\t/root\t\t\n");
        s.push_str("short\t1\n");
        let (entries, complete) = parse_enumeration(s.as_bytes());
        assert_eq!(entries, vec![e.clone()]);
        assert!(!complete);
        s.push_str(".\n");
        assert!(parse_enumeration(s.as_bytes()).1);
        assert_eq!(
            e.render().unwrap(),
            "alice\t5000\t5000\t/home/vmail/alice\t/home/vmail/alice/Maildir\tdisablepop3=0\n"
        );
    }
}
