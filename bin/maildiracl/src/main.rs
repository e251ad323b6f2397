//! maildiracl: lists, sets, deletes and computes the IMAP access control lists of a
//! maildir's folders, and removes stale hierarchy ACLs. Contract: see maildiracl(1).
//! argv: `maildiracl -reset|-list|-set|-delete|-compute MAILDIR [FOLDER [ARGS...]]`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let code = maildiracl::run(&args, &mut stdout, &mut stderr);
    // Nothing useful can be done if stdout is gone (Courier ignores it too).
    let _ = stdout.flush();
    ExitCode::from(code)
}
