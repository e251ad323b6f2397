//! makeimapaccess: rebuild $IMAPACCESSFILE.dat and SIGHUP the IMAP couriertcpds. See makeimapaccess(8).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let imapd = path(
        makeimapaccess::ENV_IMAPD_CONFIG,
        makeimapaccess::DEFAULT_IMAPD,
    );
    let ssl = path(
        makeimapaccess::ENV_IMAPD_SSL_CONFIG,
        makeimapaccess::DEFAULT_IMAPD_SSL,
    );
    ExitCode::from(makeimapaccess::run(&imapd, &ssl, &mut std::io::stderr()))
}
