//! couriertcpd: Courier's accept-and-fork TCP server. See couriertcpd(8).
//!
//! Contract: PROGRAM runs with the connection on fds 0 and 1 and TCPREMOTEIP,
//! TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT (and the access file's variables) in its
//! environment.

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    ExitCode::from(couriertcpd::run(&argv))
}
