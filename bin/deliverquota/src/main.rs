//! deliverquota: deliver one message from stdin into a maildir, honouring its
//! maildir++ quota. See deliverquota(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().map(|a| a.to_string_lossy().into_owned());
    let rest: Vec<std::ffi::OsString> = args.collect();
    ExitCode::from(deliverquota::run(
        argv0.as_deref().unwrap_or("deliverquota"),
        &rest,
    ))
}
