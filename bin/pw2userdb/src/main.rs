//! pw2userdb: print /etc/passwd and /etc/shadow as userdb text. See pw2userdb(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(pw2userdb::run(
        &args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
