//! courierlogger: Courier's syslog wrapper. See courierlogger(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(courierlogger::run(&args))
}
