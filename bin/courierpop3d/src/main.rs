//! courierpop3d: the per-user POP3 server started by courierpop3login after a
//! successful login, with the maildir as its argument. See courierpop3d(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(courierpop3d::run(&args))
}
