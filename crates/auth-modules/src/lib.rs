//! courier-auth-modules: the authentication back ends of authdaemond
//! (courier-authlib 0.71 `authuserdb`, `authpwd`, `authshadow`, `authpam`), behind one
//! [`Module`] interface that the daemon drives (authdaemon-protocol.md §3, §5, §9).
//!
//! Owns: looking an account up (`PRE`), checking credentials (`AUTH` with `login` and,
//! for authuserdb, `cram-md5`/`cram-sha1`/`cram-sha256`), changing passwords (`PASSWD`,
//! through Courier's helper programs) and listing accounts (`ENUMERATE`), each module
//! returning exactly the [`AuthInfo`] keys Courier's module returns.
//!
//! Does not: talk to sockets, merge `DEFAULTOPTIONS` (the daemon does, for every module
//! alike), write logs (modules hand back [`DebugLog`] lines; the daemon prints them), or
//! fork to isolate PAM (the daemon's worker process is the isolation boundary).
//!
//! Invariants: a module never puts a cleartext password anywhere except `PASSWD2` of a
//! successful `login` AUTH (§4) and, at debug level 2 only, its [`DebugLog`] lines (the
//! daemon redacts those unless `DEBUG_LOGIN_PASSWORDS=1`). [`Outcome::Reject`] means "not
//! mine or wrong password: try the next module"; [`Outcome::Temporary`] stops the chain
//! with no reply, and its reason names the file or program that failed.
//!
//! Adding a back end (LDAP, SQL, pipe): implement [`Module`] in a new file behind a cargo
//! feature and add one line to the registry in [`load`] and to [`AVAILABLE`]; the daemon
//! does not change.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;

pub use courier_auth_proto::{AuthInfo, EnumEntry};

mod common;
#[cfg(feature = "pam")]
pub mod pam;
pub mod sysdb;
pub mod system;
mod tool;
pub mod userdb;

/// What a module made of a `PRE` or `AUTH` request (Courier's 0 / -1 / >0).
#[derive(Clone, Debug, PartialEq, Eq)]
// The agreed interface carries the record unboxed: one Outcome per request, never
// stored in bulk, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// The account, as this module describes it: the daemon replies with it and stops.
    Accept(AuthInfo),
    /// Not this module's account, or wrong credentials: the daemon tries the next module.
    Reject,
    /// A back end failed (unreadable database, helper program died): the daemon stops
    /// trying modules and closes the connection without a reply; the reason is logged.
    Temporary(String),
}

/// What a module made of a `PASSWD` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The password was changed: the daemon replies `OK`.
    Changed,
    /// Not this module's account or wrong old password: the daemon tries the next module.
    Reject,
    /// The change failed midway: the daemon replies `FAIL` at once; the reason is logged.
    Temporary(String),
}

/// Debug lines a module wants logged (`DEBUG_LOGIN >= 1`), without Courier's `DEBUG: `
/// prefix (the daemon adds it). Lines carrying a cleartext password are only produced at
/// level 2; they contain the password exactly as the request carried it, so the daemon
/// redacts them by replacing that string unless `DEBUG_LOGIN_PASSWORDS=1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugLog {
    /// `DEBUG_LOGIN`: 0 = nothing, 1 = debug, 2 = debug with passwords.
    pub level: u8,
    /// The lines collected so far.
    pub lines: Vec<String>,
}

impl DebugLog {
    /// An empty log at `level`.
    pub fn new(level: u8) -> Self {
        Self {
            level,
            lines: Vec::new(),
        }
    }

    /// Records `line` when debugging is on (level 1 or more).
    pub fn log(&mut self, line: impl Into<String>) {
        if self.level >= 1 {
            self.lines.push(line.into());
        }
    }

    /// Whether any line is recorded (saves formatting work at level 0).
    pub fn enabled(&self) -> bool {
        self.level >= 1
    }

    /// Whether lines may carry passwords (level 2).
    pub fn with_passwords(&self) -> bool {
        self.level >= 2
    }
}

/// One authentication back end, as authdaemond's module list holds it.
pub trait Module: Send {
    /// The authmodulelist name: `"authuserdb"`, `"authpam"`, ...
    fn name(&self) -> &'static str;

    /// `PRE`: look `userid` up without a password (the record carries the stored hash).
    fn pre(&mut self, service: &str, userid: &str, log: &mut DebugLog) -> Outcome;

    /// `AUTH`: check `authdata` of type `authtype` (`login`, `cram-*`) for `service`.
    fn auth(
        &mut self,
        service: &str,
        authtype: &str,
        authdata: &[u8],
        log: &mut DebugLog,
    ) -> Outcome;

    /// `PASSWD`: change `userid`'s password from `old` to `new`.
    fn passwd(
        &mut self,
        _service: &str,
        _userid: &str,
        _old: &str,
        _new: &str,
        _log: &mut DebugLog,
    ) -> ChangeOutcome {
        ChangeOutcome::Reject
    }

    /// `ENUMERATE`: every account, through `emit`. `None`: this module cannot list
    /// accounts (it is left out of the stream). `Some(Err(reason))`: the listing broke
    /// off (the daemon ends the stream without the final `.`).
    fn enumerate(&mut self, _emit: &mut dyn FnMut(EnumEntry)) -> Option<Result<(), String>> {
        None
    }

    /// Called after 300 s without requests: drop cached handles.
    fn idle(&mut self) {}

    /// The client's address (`TCPREMOTEIP` meta line) for the next request, if any.
    /// authpam passes it to PAM as `PAM_RHOST`, as Courier does.
    fn set_remote_ip(&mut self, _ip: Option<&str>) {}
}

/// How system accounts (authpwd, authshadow, authpam) are looked up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserSource {
    /// `getpwnam(3)` through NSS, as Courier does (LDAP/SSSD accounts included);
    /// enumeration runs `getent passwd`. The shadow entry still comes from
    /// [`ModuleSettings::shadow_file`].
    #[default]
    Nss,
    /// Only [`ModuleSettings::passwd_file`] and [`ModuleSettings::shadow_file`].
    Files,
}

/// Where the modules find their databases and helper programs. [`Default`] gives
/// Debian's paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSettings {
    /// authuserdb's compiled database (`/etc/courier/userdb.dat`).
    pub userdb_dat: PathBuf,
    /// authuserdb's compiled password database (`/etc/courier/userdbshadow.dat`).
    pub userdb_shadow: PathBuf,
    /// The passwd file (`/etc/passwd`); used for lookups with [`UserSource::Files`].
    pub passwd_file: PathBuf,
    /// The shadow file (`/etc/shadow`): authshadow's passwords, authpam's `PASSWD`.
    pub shadow_file: PathBuf,
    /// How system accounts are looked up.
    pub user_source: UserSource,
    /// `getent`, for enumerating system accounts with [`UserSource::Nss`].
    pub getent_tool: PathBuf,
    /// The `userdb` script authuserdb's `PASSWD` runs (`/usr/sbin/userdb`).
    pub userdb_tool: PathBuf,
    /// The `makeuserdb` program authuserdb's `PASSWD` runs afterwards.
    pub makeuserdb_tool: PathBuf,
    /// The helper the system modules' `PASSWD` runs as the user, old and new password
    /// on its stdin (`/usr/lib/courier/courier-authlib/authsystem.passwd`).
    pub syspasswd_tool: PathBuf,
}

impl Default for ModuleSettings {
    fn default() -> Self {
        Self {
            userdb_dat: "/etc/courier/userdb.dat".into(),
            userdb_shadow: "/etc/courier/userdbshadow.dat".into(),
            passwd_file: "/etc/passwd".into(),
            shadow_file: "/etc/shadow".into(),
            user_source: UserSource::Nss,
            getent_tool: "/usr/bin/getent".into(),
            userdb_tool: "/usr/sbin/userdb".into(),
            makeuserdb_tool: "/usr/sbin/makeuserdb".into(),
            syspasswd_tool: "/usr/lib/courier/courier-authlib/authsystem.passwd".into(),
        }
    }
}

/// The module names [`load`] knows, in no particular order.
pub const AVAILABLE: &[&str] = &[
    "authuserdb",
    "authpwd",
    "authshadow",
    #[cfg(feature = "pam")]
    "authpam",
];

/// Builds the module called `name` in authmodulelist. An unknown name (or one whose
/// cargo feature is off) gives `Err` with a message for the log; Courier logs and skips
/// such a module.
pub fn load(name: &str, settings: &ModuleSettings) -> Result<Box<dyn Module>, String> {
    let module: Box<dyn Module> = match name {
        "authuserdb" => Box::new(userdb::AuthUserdb::new(settings)),
        "authpwd" => Box::new(system::SystemModule::pwd(settings)),
        "authshadow" => Box::new(system::SystemModule::shadow(settings)),
        #[cfg(feature = "pam")]
        "authpam" => Box::new(pam::AuthPam::new(settings)),
        other => {
            return Err(format!(
                "unknown authentication module {other:?} (available: {})",
                AVAILABLE.join(" ")
            ));
        }
    };
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_builds_every_available_module_under_its_own_name() {
        let settings = ModuleSettings::default();
        for name in AVAILABLE {
            let m = load(name, &settings).unwrap();
            assert_eq!(m.name(), *name);
        }
    }

    #[test]
    fn load_unknown_module_is_an_error_naming_it() {
        let err = load("authldap2", &ModuleSettings::default()).err().unwrap();
        assert!(err.contains("authldap2"), "{err}");
    }

    #[test]
    fn debug_log_is_silent_at_level_zero() {
        let mut log = DebugLog::new(0);
        log.log("x");
        assert!(log.lines.is_empty());
        let mut log = DebugLog::new(1);
        log.log("x");
        assert_eq!(log.lines, vec!["x".to_string()]);
        assert!(!log.with_passwords());
    }
}
