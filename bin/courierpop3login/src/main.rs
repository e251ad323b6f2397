//! courierpop3login: reads the POP3 login, asks authdaemond, drops to the account
//! and becomes courierpop3d. Contract: courierpop3login(8), courier-login-chain(7).
//!
//! argv: `courierpop3login POP3D_PATH DEFAULT_MAILDIR`; the client on fds 0/1, log
//! lines on fd 2. On success this process becomes POP3D_PATH (as the account).
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    courier_login::programs::courierpop3login(&args)
}
