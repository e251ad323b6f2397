//! makedat: compile a Courier text map (an access file) into a `.dat` database. See makedat(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv0 = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "makedat".into());
    ExitCode::from(makedat::run(
        &argv0,
        &argv[1.min(argv.len())..],
        &mut std::io::stderr(),
    ))
}
