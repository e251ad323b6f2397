//! userdb: edit or show records of the userdb text source. See userdb(8).

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    ExitCode::from(userdb::run(
        &args,
        &userdb::Env::real(),
        &mut stdin.lock(),
        tty,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
