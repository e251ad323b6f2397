//! makeuserdb: compile /etc/courier/userdb into userdb.dat and userdbshadow.dat. See makeuserdb(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(makeuserdb::run(
        &args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
