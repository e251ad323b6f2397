//! maildirkw: lists and changes the custom IMAP keywords of maildir messages,
//! reading and writing `courierimapkeywords/` exactly as Courier does.
//!
//! Contract: see maildirkw(1). argv as Courier's (`getopt` syntax), the usage line on
//! stdout, diagnostics on stderr, exit 0 on success, 1 on failure, 255 when `-L`
//! cannot list.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // GNU getopt stops at the first operand when POSIXLY_CORRECT is set.
    let posixly_correct = std::env::var_os("POSIXLY_CORRECT").is_some();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = maildirkw::run(&args, posixly_correct, &mut out, &mut err);
    let _ = out.flush();
    ExitCode::from(code)
}
