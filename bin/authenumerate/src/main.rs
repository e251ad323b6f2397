//! authenumerate: list every account authdaemond knows. See authenumerate(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(authenumerate::run(
        &args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
