//! imapd: the per-user IMAP server (see imapd(8)).

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::ExitCode::from(imapd::run(&args))
}
