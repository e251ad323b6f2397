//! couriertls: TLS wrapper for Courier's IMAP and POP3 servers. See couriertls(1).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "couriertls".into());
    let rest: Vec<std::ffi::OsString> = args.collect();
    ExitCode::from(couriertls::run(&argv0, &rest))
}
