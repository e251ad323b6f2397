//! The environment imapd honours (imapd-config: Courier's `/etc/courier/imapd`
//! variables, exported by the start script and the login chain).

use courier_imap_proto::framer::Limits;

/// Environment variable names read here.
pub mod vars {
    /// Tag of the successful login (set by imaplogin).
    pub const IMAPLOGINTAG: &str = "IMAPLOGINTAG";
    /// Account name (set by imaplogin).
    pub const AUTHENTICATED: &str = "AUTHENTICATED";
    /// Base capability list.
    pub const IMAP_CAPABILITY: &str = "IMAP_CAPABILITY";
    /// Capability list when TLS is on.
    pub const IMAP_CAPABILITY_TLS: &str = "IMAP_CAPABILITY_TLS";
    /// TLS is on.
    pub const IMAP_TLS: &str = "IMAP_TLS";
    /// Keywords mode 0/1/2.
    pub const IMAP_KEYWORDS: &str = "IMAP_KEYWORDS";
    /// IDLE re-scan period (seconds).
    pub const IMAP_IDLE_TIMEOUT: &str = "IMAP_IDLE_TIMEOUT";
    /// `+ entering ENHANCED idle mode`.
    pub const IMAP_ENHANCEDIDLE: &str = "IMAP_ENHANCEDIDLE";
    /// Dot-locking.
    pub const IMAP_USELOCKS: &str = "IMAP_USELOCKS";
    /// Address-space limit in KiB.
    pub const IMAP_ULIMITD: &str = "IMAP_ULIMITD";
    /// Maildir ownership check.
    pub const IMAP_MAILBOX_SANITY_CHECK: &str = "IMAP_MAILBOX_SANITY_CHECK";
    /// `\Marked` for every folder.
    pub const IMAP_CHECK_ALL_FOLDERS: &str = "IMAP_CHECK_ALL_FOLDERS";
    /// umask (octal).
    pub const IMAP_UMASK: &str = "IMAP_UMASK";
    /// ACL capability.
    pub const IMAP_ACL: &str = "IMAP_ACL";
    /// ID fields.
    pub const IMAP_ID_FIELDS: &str = "IMAP_ID_FIELDS";
    /// Trash folder name.
    pub const IMAP_TRASHFOLDERNAME: &str = "IMAP_TRASHFOLDERNAME";
    /// Largest APPEND message in bytes (ours; default 256 MiB).
    pub const IMAP_MAXMESSAGESIZE: &str = "IMAP_MAXMESSAGESIZE";
    /// EXPUNGE moves to Trash.
    pub const IMAP_MOVE_EXPUNGE_TO_TRASH: &str = "IMAP_MOVE_EXPUNGE_TO_TRASH";
    /// Folders purged of old messages at login and logout.
    pub const IMAP_EMPTYTRASH: &str = "IMAP_EMPTYTRASH";
    /// Log every expunged message.
    pub const IMAP_LOG_DELETIONS: &str = "IMAP_LOG_DELETIONS";
    /// SORT/THREAD disabled.
    pub const IMAP_DISABLETHREADSORT: &str = "IMAP_DISABLETHREADSORT";
    /// Remote address for log lines.
    pub const TCPREMOTEIP: &str = "TCPREMOTEIP";
    /// Remote port for log lines.
    pub const TCPREMOTEPORT: &str = "TCPREMOTEPORT";
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn truthy(name: &str, default: bool) -> bool {
    match env(name) {
        Some(v) if !v.is_empty() => !v.starts_with('0'),
        _ => default,
    }
}

/// Settings of one session.
#[derive(Clone, Debug)]
pub struct Config {
    /// The login tag, when started by imaplogin.
    pub login_tag: Option<String>,
    /// Account name for log lines.
    pub user: String,
    /// CAPABILITY tokens (without `IMAP4rev1`'s position changed).
    pub capability: String,
    /// Keywords enabled.
    pub keywords: bool,
    /// Keyword write mode 2.
    pub keywords_staged: bool,
    /// IDLE re-scan period.
    pub idle_timeout: u64,
    /// ENHANCED idle text.
    pub enhanced_idle: bool,
    /// Use `tmp/courier.lock`.
    pub use_locks: bool,
    /// Address-space limit in KiB.
    pub ulimitd: Option<u64>,
    /// Check maildir ownership.
    pub sanity_check: bool,
    /// `\Marked`/`\Unmarked` on every folder.
    pub check_all_folders: bool,
    /// umask.
    pub umask: Option<u32>,
    /// Trash folder (maildir name without dot).
    pub trash: String,
    /// Reader limits.
    pub limits: Limits,
    /// SORT/THREAD disabled by the administrator.
    pub disable_thread_sort: bool,
    /// Remote ip for logs.
    pub ip: String,
    /// Remote port for logs.
    pub port: String,
    /// The session runs over TLS (`IMAP_TLS`).
    pub tls: bool,
    /// EXPUNGE moves `\Deleted` messages into the Trash folder.
    pub expunge_to_trash: bool,
    /// `INFO: EXPUNGED` per message (IMAP_LOG_DELETIONS set, not starting with 0).
    pub log_deletions: bool,
    /// `(folder, days)` purged at login and LOGOUT (`IMAP_EMPTYTRASH`).
    pub empty_trash: Vec<(String, u64)>,
}

/// Parses `IMAP_EMPTYTRASH`: a bare number of days for the Trash folder, or
/// `folder:days` items separated by commas; days not a positive number count as 1.
pub fn parse_empty_trash(v: &str, trash: &str) -> Vec<(String, u64)> {
    let v = v.trim();
    if v.is_empty() {
        return Vec::new();
    }
    let days = |d: &str| d.trim().parse::<i64>().ok().filter(|&n| n > 0).unwrap_or(1) as u64;
    if !v.contains(':') {
        return vec![(trash.to_string(), days(v))];
    }
    v.split(',')
        .filter_map(|item| {
            let (f, d) = item.split_once(':')?;
            let f = f.trim();
            (!f.is_empty()).then(|| (f.to_string(), days(d)))
        })
        .collect()
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Config {
        let tls = truthy(vars::IMAP_TLS, false);
        let base = match (
            tls,
            env(vars::IMAP_CAPABILITY_TLS),
            env(vars::IMAP_CAPABILITY),
        ) {
            (true, Some(c), _) if !c.trim().is_empty() => c,
            (_, _, Some(c)) if !c.trim().is_empty() => c,
            _ => "IMAP4rev1".to_string(),
        };
        let mut caps: Vec<String> = base
            .split_whitespace()
            // Authentication belongs to imaplogin.
            .filter(|t| {
                !t.to_ascii_uppercase().starts_with("AUTH=") && !t.eq_ignore_ascii_case("STARTTLS")
            })
            .map(str::to_string)
            .collect();
        // IMAP_ACL would add `ACL ACL2=UNION`; the ACL commands come with the
        // shared-folder work, so they are not advertised yet.
        let _ = vars::IMAP_ACL;
        let expunge_to_trash = truthy(vars::IMAP_MOVE_EXPUNGE_TO_TRASH, false);
        if expunge_to_trash {
            caps.push("XMAGICTRASH".into());
        }
        for extra in [
            "LITERAL+",
            "MOVE",
            "UNSELECT",
            "SPECIAL-USE",
            "ID",
            "ENABLE",
            "UTF8=ACCEPT",
        ] {
            if !caps.iter().any(|c| c.eq_ignore_ascii_case(extra)) {
                caps.push(extra.into());
            }
        }
        let kw = env(vars::IMAP_KEYWORDS).unwrap_or_default();
        let keywords = !kw.starts_with('0');
        let user = env(vars::AUTHENTICATED)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .unwrap_or_default();
        let mut limits = Limits::default();
        if let Some(n) = env(vars::IMAP_MAXMESSAGESIZE).and_then(|v| v.trim().parse::<u64>().ok())
            && n > 0
        {
            limits.max_append = n;
        }
        let mut cfg = Config {
            login_tag: env(vars::IMAPLOGINTAG).filter(|t| !t.is_empty()),
            user,
            capability: caps.join(" "),
            keywords,
            keywords_staged: kw.starts_with('2'),
            idle_timeout: env(vars::IMAP_IDLE_TIMEOUT)
                .and_then(|v| v.trim().parse().ok())
                .filter(|&n: &u64| n > 0)
                .unwrap_or(60),
            enhanced_idle: truthy(vars::IMAP_ENHANCEDIDLE, false),
            use_locks: match env(vars::IMAP_USELOCKS) {
                None => true,
                Some(v) => v.is_empty() || v.starts_with('1'),
            },
            ulimitd: env(vars::IMAP_ULIMITD)
                .and_then(|v| v.trim().parse().ok())
                .filter(|&n: &u64| n > 0),
            sanity_check: truthy(vars::IMAP_MAILBOX_SANITY_CHECK, true),
            check_all_folders: truthy(vars::IMAP_CHECK_ALL_FOLDERS, false),
            umask: env(vars::IMAP_UMASK).and_then(|v| u32::from_str_radix(v.trim(), 8).ok()),
            trash: env(vars::IMAP_TRASHFOLDERNAME)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "Trash".into()),
            limits,
            disable_thread_sort: truthy(vars::IMAP_DISABLETHREADSORT, false),
            ip: env(vars::TCPREMOTEIP).unwrap_or_else(|| "127.0.0.1".into()),
            port: env(vars::TCPREMOTEPORT).unwrap_or_else(|| "0".into()),
            tls,
            expunge_to_trash,
            log_deletions: env(vars::IMAP_LOG_DELETIONS).is_some_and(|v| !v.starts_with('0')),
            empty_trash: Vec::new(),
        };
        cfg.empty_trash =
            parse_empty_trash(&env(vars::IMAP_EMPTYTRASH).unwrap_or_default(), &cfg.trash);
        cfg
    }

    /// umask and the address-space limit, as Courier's start script applies them.
    pub fn apply_process_limits(&self) {
        if let Some(m) = self.umask {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m & 0o777));
        }
        if let Some(kib) = self.ulimitd {
            let bytes = kib.saturating_mul(1024);
            use nix::sys::resource::{Resource, getrlimit, setrlimit};
            if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_AS) {
                let soft = bytes.min(hard);
                let _ = setrlimit(Resource::RLIMIT_AS, soft, hard);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_trash_grammar() {
        assert_eq!(
            parse_empty_trash("7", "Trash"),
            vec![("Trash".to_string(), 7)]
        );
        assert_eq!(
            parse_empty_trash("Trash:7,Sent:30,bogus,Lists.Foo:x", "Trash"),
            vec![
                ("Trash".to_string(), 7),
                ("Sent".to_string(), 30),
                ("Lists.Foo".to_string(), 1)
            ]
        );
        assert!(parse_empty_trash("", "Trash").is_empty());
    }
}
