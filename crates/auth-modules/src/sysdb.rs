//! System accounts: `getpwnam`, the shadow file and `getpwent`-style enumeration,
//! without FFI (passwd(5), shadow(5)).
//!
//! Lookups go through NSS (`nix::unistd::User`, i.e. `getpwnam_r`) or straight to a
//! passwd file, per [`UserSource`]. Shadow entries always come from the shadow file:
//! glibc's `getspnam` has no safe wrapper, and Debian's NSS `shadow:` source is `files`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{ModuleSettings, UserSource};

/// One passwd(5) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PwEntry {
    /// Login name.
    pub name: String,
    /// The password field (`x` when the hash is in the shadow file).
    pub passwd: String,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// GECOS (full name, then comma-separated extras).
    pub gecos: String,
    /// Home directory.
    pub dir: String,
    /// Login shell.
    pub shell: String,
}

/// One shadow(5) entry; empty numeric fields are -1, as glibc's `getspnam` gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpEntry {
    /// Login name.
    pub name: String,
    /// The password hash (`!`/`*` prefixed when locked).
    pub pwdp: String,
    /// Day of the last change, counted from 1970-01-01 (0 = must change).
    pub lstchg: i64,
    /// Maximum password age in days.
    pub max: i64,
    /// Day the account expires.
    pub expire: i64,
}

/// Why a shadow entry must not be used (authshadow refuses the login).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// `sp_expire` lies in the past.
    Account,
    /// `sp_lstchg + sp_max` lies in the past.
    Password,
}

impl SpEntry {
    /// Courier's checks (preauthshadow.c) for day `today` (days since the epoch).
    pub fn expired(&self, today: i64) -> Option<Expired> {
        if self.expire > 0 && today > self.expire {
            return Some(Expired::Account);
        }
        if self.lstchg != -1 && self.max != -1 && self.lstchg + self.max < today {
            return Some(Expired::Password);
        }
        None
    }
}

/// Parses one passwd line; `None` for comments, NIS `+`/`-` lines and malformed lines
/// (which `fgetpwent` skips too).
pub fn parse_passwd_line(line: &str) -> Option<PwEntry> {
    if line.starts_with(['#', '+', '-']) {
        return None;
    }
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 7 || f[0].is_empty() {
        return None;
    }
    Some(PwEntry {
        name: f[0].into(),
        passwd: f[1].into(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        gecos: f[4].into(),
        dir: f[5].into(),
        shell: f[6].into(),
    })
}

/// Parses one shadow line; `None` for comments and malformed lines.
pub fn parse_shadow_line(line: &str) -> Option<SpEntry> {
    if line.starts_with(['#', '+', '-']) {
        return None;
    }
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 9 || f[0].is_empty() {
        return None;
    }
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() {
            Some(-1)
        } else {
            s.parse().ok()
        }
    };
    Some(SpEntry {
        name: f[0].into(),
        pwdp: f[1].into(),
        lstchg: num(f[2])?,
        max: num(f[4])?,
        expire: num(f[7])?,
    })
}

/// Where system accounts come from, per [`ModuleSettings`].
#[derive(Clone, Debug)]
pub struct SystemDb {
    source: UserSource,
    passwd_file: PathBuf,
    shadow_file: PathBuf,
    getent_tool: PathBuf,
}

/// errno values getpwnam(3) documents as "the name was not found".
const NOT_FOUND: &[nix::errno::Errno] = &[
    nix::errno::Errno::ENOENT,
    nix::errno::Errno::ESRCH,
    nix::errno::Errno::EBADF,
    nix::errno::Errno::EPERM,
];

impl SystemDb {
    /// The database `settings` describe.
    pub fn new(settings: &ModuleSettings) -> Self {
        Self {
            source: settings.user_source,
            passwd_file: settings.passwd_file.clone(),
            shadow_file: settings.shadow_file.clone(),
            getent_tool: settings.getent_tool.clone(),
        }
    }

    /// `getpwnam(name)`. `Err` (a temporary failure) names the file or NSS call.
    pub fn getpwnam(&self, name: &str) -> Result<Option<PwEntry>, String> {
        if name.is_empty() || name.contains(['\0', ':', '\n']) {
            return Ok(None);
        }
        match self.source {
            UserSource::Files => {
                let text = read(&self.passwd_file)?;
                Ok(text
                    .lines()
                    .filter_map(parse_passwd_line)
                    .find(|e| e.name == name))
            }
            UserSource::Nss => match nix::unistd::User::from_name(name) {
                Ok(None) => Ok(None),
                Ok(Some(u)) => Ok(Some(PwEntry {
                    name: u.name,
                    passwd: u.passwd.to_string_lossy().into_owned(),
                    uid: u.uid.as_raw(),
                    gid: u.gid.as_raw(),
                    gecos: u.gecos.to_string_lossy().into_owned(),
                    dir: u.dir.to_string_lossy().into_owned(),
                    shell: u.shell.to_string_lossy().into_owned(),
                })),
                Err(e) if NOT_FOUND.contains(&e) => Ok(None),
                Err(e) => Err(format!("getpwnam({name}): {e}")),
            },
        }
    }

    /// The shadow entry of `name`. `Err` names the shadow file (e.g. not readable).
    pub fn getspnam(&self, name: &str) -> Result<Option<SpEntry>, String> {
        if name.is_empty() || name.contains(['\0', ':', '\n']) {
            return Ok(None);
        }
        let text = read(&self.shadow_file)?;
        Ok(text
            .lines()
            .filter_map(parse_shadow_line)
            .find(|e| e.name == name))
    }

    /// Every account, as `getpwent` would list them.
    pub fn entries(&self) -> Result<Vec<PwEntry>, String> {
        let text = match self.source {
            UserSource::Files => read(&self.passwd_file)?,
            UserSource::Nss => {
                let out = Command::new(&self.getent_tool)
                    .arg("passwd")
                    .output()
                    .map_err(|e| format!("{}: {e}", self.getent_tool.display()))?;
                if !out.status.success() {
                    return Err(format!(
                        "{} passwd: {}",
                        self.getent_tool.display(),
                        out.status
                    ));
                }
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        };
        Ok(text.lines().filter_map(parse_passwd_line).collect())
    }
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Days since 1970-01-01, as shadow(5) counts them.
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_like_fgetpwent() {
        let e = parse_passwd_line("bob:x:1001:100:Bob B,Room 2,,:/home/bob:/bin/sh").unwrap();
        assert_eq!(
            (
                e.name.as_str(),
                e.uid,
                e.gid,
                e.gecos.as_str(),
                e.dir.as_str()
            ),
            ("bob", 1001, 100, "Bob B,Room 2,,", "/home/bob")
        );
        for bad in [
            "",
            "# comment",
            "+nis",
            "-nis",
            "bob:x:abc:1:g:/h:/s",
            "bob:x:1:1:g:/h",
            ":x:1:1:g:/h:/s",
        ] {
            assert_eq!(parse_passwd_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn shadow_empty_numbers_are_minus_one() {
        let e = parse_shadow_line("bob:$6$s$h:19000:0:99999:7:::").unwrap();
        assert_eq!((e.lstchg, e.max, e.expire), (19000, 99999, -1));
        let e = parse_shadow_line("bob:!:::::::").unwrap();
        assert_eq!(
            (e.pwdp.as_str(), e.lstchg, e.max, e.expire),
            ("!", -1, -1, -1)
        );
        assert_eq!(parse_shadow_line("bob:x:1:2:3"), None);
    }

    #[test]
    fn shadow_expiry_follows_courier() {
        let e = |lstchg, max, expire| SpEntry {
            name: "u".into(),
            pwdp: "h".into(),
            lstchg,
            max,
            expire,
        };
        const TODAY: i64 = 20_000;
        let cases = [
            (e(19_990, 99_999, -1), None),
            (e(-1, -1, -1), None),
            (e(19_990, -1, 19_999), Some(Expired::Account)),
            (e(19_990, -1, 20_000), None),
            (e(19_000, 999, -1), Some(Expired::Password)),
            (e(19_000, 1000, -1), None),
            // Day 0 means "change at next login"; without a maximum age Courier lets
            // it pass, with one it has long expired.
            (e(0, -1, -1), None),
            (e(0, 90, -1), Some(Expired::Password)),
            // sp_expire 0 is not "expired" for Courier (only > 0 counts).
            (e(-1, -1, 0), None),
        ];
        for (entry, want) in cases {
            assert_eq!(entry.expired(TODAY), want, "{entry:?}");
        }
    }

    #[test]
    fn file_lookups_find_the_first_match_and_name_the_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:100:Bob:/home/bob:/bin/sh\n\
             bob:x:1002:100:Second:/x:/bin/sh\n",
        )
        .unwrap();
        let settings = ModuleSettings {
            passwd_file: passwd,
            shadow_file: dir.path().join("missing-shadow"),
            user_source: UserSource::Files,
            ..ModuleSettings::default()
        };
        let db = SystemDb::new(&settings);
        assert_eq!(db.getpwnam("bob").unwrap().unwrap().uid, 1001);
        assert_eq!(db.getpwnam("nobody-here").unwrap(), None);
        assert_eq!(db.getpwnam("").unwrap(), None);
        assert_eq!(db.entries().unwrap().len(), 3);
        let err = db.getspnam("bob").unwrap_err();
        assert!(err.contains("missing-shadow"), "{err}");
    }

    #[test]
    fn nss_lookup_finds_root() {
        let db = SystemDb::new(&ModuleSettings::default());
        let root = db.getpwnam("root").unwrap().unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(db.entries().unwrap().iter().any(|e| e.name == "root"));
    }
}
