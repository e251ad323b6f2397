//! maildirmake: create maildirs, folders and quotas. See maildirmake(1).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(maildirmake::run(
        &args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
