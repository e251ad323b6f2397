//! userdb-test-cram-md5: compute a CRAM-MD5 response by hand. See userdb-test-cram-md5(8).

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(userdb_test_cram_md5::run())
}
