//! Helpers shared by the root-only tests: running tools, a throw-away system account.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn have(tool: &str) -> bool {
    Path::new(tool).exists()
}

/// Runs `program args…` with `stdin`, panicking unless it exits 0.
pub fn sh(program: &str, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data.as_bytes()).unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// A system account (useradd -M, password set with chpasswd) that exists for the life
/// of the guard; `userdel` on drop.
pub struct TestAccount {
    pub name: String,
}

impl TestAccount {
    /// `tag` keeps accounts of different test binaries apart.
    pub fn create(tag: &str, gecos: &str, password: &str) -> Self {
        let name = format!("c{tag}{}", std::process::id());
        sh(
            "/usr/sbin/useradd",
            &["-M", "-s", "/usr/sbin/nologin", "-c", gecos, &name],
            None,
        );
        let account = Self { name };
        sh(
            "/usr/sbin/chpasswd",
            &[],
            Some(&format!("{}:{password}\n", account.name)),
        );
        account
    }
}

impl Drop for TestAccount {
    fn drop(&mut self) {
        let _ = Command::new("/usr/sbin/userdel").arg(&self.name).status();
    }
}

/// Why a root-only test cannot run here, if it cannot.
pub fn root_test_blocker(extra_tools: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("needs root (useradd, PAM reading /etc/shadow)".into());
    }
    for tool in [
        "/usr/sbin/useradd",
        "/usr/sbin/chpasswd",
        "/usr/sbin/userdel",
    ]
    .iter()
    .chain(extra_tools)
    {
        if !have(tool) {
            return Some(format!("{tool} not installed"));
        }
    }
    None
}
