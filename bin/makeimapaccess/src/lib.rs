//! makeimapaccess: rebuild the IMAP access database and tell the running couriertcpds,
//! as Debian's script does (programs.md "makedat / makeimapaccess"; makeimapaccess(8)).
//!
//! 1. Read `IMAPACCESSFILE`, `PIDFILE` and `SSLPIDFILE` from `/etc/courier/imapd` and
//!    `/etc/courier/imapd-ssl` (the script sources both, imapd-ssl last; the paths can
//!    be changed with `$IMAPD_CONFIG` and `$IMAPD_SSL_CONFIG`). A file that is missing
//!    is skipped; one that cannot be parsed is an error.
//! 2. No `IMAPACCESSFILE`: `ERROR: No IMAPACCESSFILE specified in /etc/courier/imapd(-msa)`,
//!    exit 1.
//! 3. `makedat -src=$IMAPACCESSFILE -file=$IMAPACCESSFILE.dat -tmp=$IMAPACCESSFILE.tmp
//!    -cidr` (in-process; umask 022, so the database is 0644).
//! 4. `couriertcpd -pid=$PIDFILE -restart`, then the same for `$SSLPIDFILE`
//!    (in-process: SIGHUP to the daemon holding the pid file's lock).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Overrides the path of `/etc/courier/imapd`.
pub const ENV_IMAPD_CONFIG: &str = "IMAPD_CONFIG";
/// Overrides the path of `/etc/courier/imapd-ssl`.
pub const ENV_IMAPD_SSL_CONFIG: &str = "IMAPD_SSL_CONFIG";
/// Debian's path of the IMAP configuration.
pub const DEFAULT_IMAPD: &str = "/etc/courier/imapd";
/// Debian's path of the IMAP-over-TLS configuration.
pub const DEFAULT_IMAPD_SSL: &str = "/etc/courier/imapd-ssl";

fn with_suffix(p: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{p}{suffix}"))
}

/// The variables the script would see after sourcing both files, later file winning.
fn read_vars(files: &[PathBuf]) -> Result<Vec<(String, String)>, courier_config::ConfigError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for f in files {
        if !f.exists() {
            continue;
        }
        for (k, v) in courier_config::read_courier_vars(f)? {
            vars.retain(|(n, _)| *n != k);
            vars.push((k, v));
        }
    }
    Ok(vars)
}

/// Runs makeimapaccess with the given configuration files; returns the exit code.
pub fn run(imapd: &Path, imapd_ssl: &Path, err: &mut dyn Write) -> u8 {
    let vars = match read_vars(&[imapd.to_path_buf(), imapd_ssl.to_path_buf()]) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(err, "makeimapaccess: {e}");
            return 1;
        }
    };
    let get = |name: &str| {
        vars.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(access) = get("IMAPACCESSFILE") else {
        let _ = writeln!(
            err,
            "ERROR: No IMAPACCESSFILE specified in {}(-msa)",
            imapd.display()
        );
        return 1;
    };
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let built = courier_net::makedat::build(
        Path::new(access),
        &with_suffix(access, ".dat"),
        &with_suffix(access, ".tmp"),
        true,
    );
    nix::sys::stat::umask(old);
    if let Err(e) = built {
        let _ = writeln!(err, "makeimapaccess: {e}");
        return 1;
    }
    for pidfile in [get("PIDFILE"), get("SSLPIDFILE")].into_iter().flatten() {
        if let Err(e) = courier_net::pidfile::restart(Path::new(pidfile)) {
            let _ = writeln!(err, "{e}");
        }
    }
    0
}
