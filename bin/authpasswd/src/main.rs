//! authpasswd: prompt for a password and print its hash. See authpasswd(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "authpasswd".into());
    let args: Vec<std::ffi::OsString> = args.collect();
    ExitCode::from(authpasswd::run(&argv0.to_string_lossy(), &args))
}
