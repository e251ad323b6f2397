//! authtest: ask authdaemond about one account. See authtest(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(authtest::run(
        &args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
