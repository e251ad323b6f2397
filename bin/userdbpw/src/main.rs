//! userdbpw: hash a password read from standard input. See userdbpw(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "userdbpw".into());
    let args: Vec<std::ffi::OsString> = args.collect();
    ExitCode::from(userdbpw::run(&argv0.to_string_lossy(), &args))
}
