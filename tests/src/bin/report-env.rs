//! report-env: a stand-in for imapd/pop3d at the end of the login chain.
//!
//! It prints who it runs as and what it was given, so that end-to-end tests can
//! check the privilege drop and the environment handed over by the login
//! programs:
//!
//! ```text
//! REPORT-ENV BEGIN
//! uid=<real> <effective> <saved> <fs>        (the Uid: line of /proc/self/status)
//! gid=<real> <effective> <saved> <fs>
//! groups=<supplementary groups, space separated, as /proc lists them>
//! capeff=<CapEff of /proc/self/status>
//! cwd=<current directory>
//! arg=<argv[1]>                              (one line per argument)
//! env=<NAME>=<value>                         (one line per variable, sorted)
//! REPORT-ENV END
//! ```
//!
//! Control characters in values are printed as `\xNN`. The report goes to
//! stdout (the client's connection), or is appended to the file named by
//! `REPORT_ENV_FILE` when that is set. When `REPORT_ENV_EXEC` names a
//! program, report-env then execs it with its own arguments, so a test can
//! both check the identity and go on with a real imapd/pop3d session.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::process::CommandExt;

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn report() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = String::from("REPORT-ENV BEGIN\n");
    for (name, key) in [
        ("uid", "Uid:"),
        ("gid", "Gid:"),
        ("groups", "Groups:"),
        ("capeff", "CapEff:"),
    ] {
        let _ = writeln!(out, "{name}={}", status_field(&status, key));
    }
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("<{e}>"));
    let _ = writeln!(out, "cwd={}", escape(&cwd));
    for a in std::env::args_os().skip(1) {
        let _ = writeln!(out, "arg={}", escape(&a.to_string_lossy()));
    }
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    vars.sort();
    for (k, v) in vars {
        let _ = writeln!(out, "env={}={}", escape(&k), escape(&v));
    }
    out.push_str("REPORT-ENV END\n");
    out
}

fn main() {
    let text = report();
    match std::env::var_os("REPORT_ENV_FILE") {
        Some(path) => {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = written {
                eprintln!(
                    "ERR: report-env: {}: {e}",
                    std::path::Path::new(&path).display()
                );
            }
        }
        None => {
            // The client may already have gone: nothing to do about it.
            let _ = std::io::stdout().write_all(text.as_bytes());
            let _ = std::io::stdout().flush();
        }
    }
    if let Some(next) = std::env::var_os("REPORT_ENV_EXEC") {
        let err = std::process::Command::new(&next)
            .args(std::env::args_os().skip(1))
            .arg0(&next)
            .exec();
        eprintln!(
            "ERR: report-env: cannot run {}: {err}",
            std::path::Path::new(&next).display()
        );
        std::process::exit(1);
    }
}
