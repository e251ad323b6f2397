//! authdaemond: courier-authlib's authentication daemon. See authdaemond(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(authdaemond::run(&args))
}
