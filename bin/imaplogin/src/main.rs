//! imaplogin: reads the IMAP login, asks authdaemond, drops to the account and
//! becomes imapd. Contract: imaplogin(8), courier-login-chain(7).
//!
//! argv: `imaplogin IMAPD_PATH DEFAULT_MAILDIR`; the client on fds 0/1, log lines
//! on fd 2, `TCPREMOTEIP` etc. from couriertcpd. On success this process becomes
//! IMAPD_PATH (as the account); otherwise it exits (0, or 1 on errors).
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    courier_login::programs::imaplogin(&args)
}
