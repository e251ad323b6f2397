//! authdaemond's settings: `authdaemonrc` plus the environment.

use crate::{ConfigError, Vars, read_courier_vars};
use std::path::PathBuf;

/// Environment variable naming the configuration file (ours; Courier compiles the
/// path in).
pub const ENV_AUTHDAEMONRC: &str = "AUTHDAEMONRC";
/// Debian's configuration file.
pub const DEFAULT_AUTHDAEMONRC: &str = "/etc/courier/authdaemonrc";
/// Debian's run directory (holds `socket` and `pid`).
pub const DEFAULT_AUTHDAEMONVAR: &str = "/run/courier/authdaemon";
/// Environment variable naming the socket directly (clients and daemon; ours).
pub const ENV_SOCKET: &str = "AUTHDAEMON_SOCKET";
/// Module list key.
pub const KEY_MODULES: &str = "authmodulelist";
/// Worker count key.
pub const KEY_DAEMONS: &str = "daemons";
/// Run directory key.
pub const KEY_VAR: &str = "authdaemonvar";
/// Debug level key (0, 1, 2).
pub const KEY_DEBUG_LOGIN: &str = "DEBUG_LOGIN";
/// Ours: with DEBUG_LOGIN=2, print passwords instead of `<redacted>`.
pub const KEY_DEBUG_PASSWORDS: &str = "DEBUG_LOGIN_PASSWORDS";
/// Default account options key.
pub const KEY_DEFAULTOPTIONS: &str = "DEFAULTOPTIONS";
/// Extra courierlogger options for `authdaemond start`.
pub const KEY_LOGGEROPTS: &str = "LOGGEROPTS";
/// Ours: compiled userdb (default /etc/courier/userdb.dat).
pub const KEY_USERDB_DAT: &str = "USERDB_DAT";
/// Ours: compiled userdb shadow (default /etc/courier/userdbshadow.dat).
pub const KEY_USERDB_SHADOW_DAT: &str = "USERDB_SHADOW_DAT";
/// Ours: passwd file for authpwd/authshadow (default /etc/passwd).
pub const KEY_PASSWD_FILE: &str = "PASSWD_FILE";
/// Ours: shadow file for authshadow (default /etc/shadow).
pub const KEY_SHADOW_FILE: &str = "SHADOW_FILE";
/// Ours: seconds one request may take before its worker is replaced (default 60).
pub const KEY_REQUEST_TIMEOUT: &str = "AUTHDAEMOND_REQUEST_TIMEOUT";

/// Everything authdaemond reads at start and on SIGHUP.
#[derive(Clone, Debug)]
pub struct AuthdaemonSettings {
    /// The file read.
    pub config_file: PathBuf,
    /// Modules in chain order.
    pub modules: Vec<String>,
    /// Worker processes.
    pub daemons: usize,
    /// Run directory.
    pub var_dir: PathBuf,
    /// The listening socket.
    pub socket: PathBuf,
    /// 0, 1 or 2.
    pub debug_login: u8,
    /// Print cleartext passwords in level-2 debug lines.
    pub debug_passwords: bool,
    /// Merged into every account's options.
    pub default_options: String,
    /// courierlogger options for `start`.
    pub logger_opts: String,
    /// Overrides for module file paths (None: the module's default).
    pub userdb_dat: Option<PathBuf>,
    /// See [`AuthdaemonSettings::userdb_dat`].
    pub userdb_shadow_dat: Option<PathBuf>,
    /// See [`AuthdaemonSettings::userdb_dat`].
    pub passwd_file: Option<PathBuf>,
    /// See [`AuthdaemonSettings::userdb_dat`].
    pub shadow_file: Option<PathBuf>,
    /// Seconds one request may take in the modules before the worker is killed.
    pub request_timeout: u32,
    /// Problems that do not stop the daemon (Courier logs them and goes on).
    pub warnings: Vec<String>,
    /// The raw variables, for exporting before an exec.
    pub vars: Vars,
}

impl AuthdaemonSettings {
    /// Reads the file named by `$AUTHDAEMONRC` (default Debian's) and the
    /// environment.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var_os(ENV_AUTHDAEMONRC)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_AUTHDAEMONRC));
        let vars = Vars::new(read_courier_vars(&file)?);
        Ok(Self::from_vars(file, vars))
    }

    /// Builds the settings from already-read variables.
    pub fn from_vars(config_file: PathBuf, vars: Vars) -> Self {
        let mut warnings = Vec::new();
        let modules: Vec<String> = vars
            .get(KEY_MODULES)
            .unwrap_or("authpam")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let daemons = match vars.get(KEY_DAEMONS).map(|d| d.trim().parse::<i64>()) {
            None => 5,
            Some(Ok(n)) if n > 0 => n.min(1024) as usize,
            Some(_) => {
                warnings.push(format!(
                    "{}: daemons={} is not a positive number; using 1",
                    config_file.display(),
                    vars.get(KEY_DAEMONS).unwrap_or("")
                ));
                1
            }
        };
        let var_dir = PathBuf::from(vars.get(KEY_VAR).unwrap_or(DEFAULT_AUTHDAEMONVAR));
        let socket = vars
            .get(ENV_SOCKET)
            .map(PathBuf::from)
            .unwrap_or_else(|| var_dir.join("socket"));
        let debug_login = match vars.get(KEY_DEBUG_LOGIN).map(str::trim) {
            Some("1") => 1,
            Some("2") => 2,
            _ => 0,
        };
        let path = |k: &str| vars.get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        AuthdaemonSettings {
            modules,
            daemons,
            socket,
            var_dir,
            debug_login,
            debug_passwords: vars
                .get(KEY_DEBUG_PASSWORDS)
                .is_some_and(|v| v.trim() == "1"),
            default_options: vars.get(KEY_DEFAULTOPTIONS).unwrap_or("").to_string(),
            logger_opts: vars.get(KEY_LOGGEROPTS).unwrap_or("").to_string(),
            userdb_dat: path(KEY_USERDB_DAT),
            userdb_shadow_dat: path(KEY_USERDB_SHADOW_DAT),
            passwd_file: path(KEY_PASSWD_FILE),
            shadow_file: path(KEY_SHADOW_FILE),
            request_timeout: vars
                .get(KEY_REQUEST_TIMEOUT)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(60),
            warnings,
            config_file,
            vars,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(file: &[(&str, &str)], env: &[(&str, &str)]) -> AuthdaemonSettings {
        let own = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        AuthdaemonSettings::from_vars("rc".into(), Vars::with_env(own(file), own(env)))
    }

    #[test]
    fn defaults_are_debians() {
        let s = settings(&[], &[]);
        assert_eq!(s.modules, vec!["authpam"]);
        assert_eq!(s.daemons, 5);
        assert_eq!(s.socket, PathBuf::from("/run/courier/authdaemon/socket"));
        assert_eq!(s.debug_login, 0);
    }

    #[test]
    fn file_and_environment_are_combined() {
        let s = settings(
            &[
                ("authmodulelist", "authuserdb authpam"),
                ("daemons", "0"),
                ("authdaemonvar", "/x"),
            ],
            &[("DEBUG_LOGIN", "2"), ("DEFAULTOPTIONS", "disablewebmail=1")],
        );
        assert_eq!(s.modules, vec!["authuserdb", "authpam"]);
        assert_eq!(s.daemons, 1);
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(s.socket, PathBuf::from("/x/socket"));
        assert_eq!(s.debug_login, 2);
        assert_eq!(s.default_options, "disablewebmail=1");
        let s = settings(&[], &[("AUTHDAEMON_SOCKET", "/tmp/s")]);
        assert_eq!(s.socket, PathBuf::from("/tmp/s"));
    }
}
