//! mailbench: IMAP/POP3 benchmark rows and load generation against any server.
//!
//! See `mailbench --help` and the crate documentation (src/lib.rs).

use std::process::ExitCode;

fn main() -> ExitCode {
    match mailbench::run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailbench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
