//! makedat: build a `.dat` map from Courier's text source, with Courier's command line
//! (programs.md "makedat / makeimapaccess"; makedat(8)).
//!
//! ```text
//! makedat -src=SRC -file=DAT -tmp=TMP [-hup=PIDFILE] [-cidr]
//! ```
//! The database is this project's format (read by our couriertcpd), not GDBM; see
//! [`courier_net::makedat`] for the source rules. `-hup`: after a successful build, the
//! process whose pid is in PIDFILE gets SIGHUP (when the file exists). Exit 0 on
//! success, 1 on any error (usage included), as Courier's script.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// Parsed arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `-src=`
    pub src: Option<PathBuf>,
    /// `-file=`
    pub file: Option<PathBuf>,
    /// `-tmp=`
    pub tmp: Option<PathBuf>,
    /// `-hup=`
    pub hup: Option<PathBuf>,
    /// `-cidr`
    pub cidr: bool,
}

/// Parses the words after argv\[0\]; `None` means "print the usage".
pub fn parse(words: &[OsString]) -> Option<Args> {
    let mut a = Args::default();
    for w in words {
        let s = w.to_str()?;
        if s == "-cidr" {
            a.cidr = true;
        } else if let Some(v) = s.strip_prefix("-src=") {
            a.src = Some(v.into());
        } else if let Some(v) = s.strip_prefix("-file=") {
            a.file = Some(v.into());
        } else if let Some(v) = s.strip_prefix("-tmp=") {
            a.tmp = Some(v.into());
        } else if let Some(v) = s.strip_prefix("-hup=") {
            a.hup = Some(v.into());
        } else {
            return None;
        }
    }
    // The script's `test "$x" = ""` checks: an empty value counts as missing.
    let given = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| !p.as_os_str().is_empty());
    (given(&a.src) && given(&a.file) && given(&a.tmp)).then_some(a)
}

/// Runs makedat; returns the exit code.
pub fn run(argv0: &str, words: &[OsString], err: &mut dyn Write) -> u8 {
    let Some(args) = parse(words) else {
        let _ = writeln!(
            err,
            "Usage: {argv0} -src=src -file=file -tmp=tmpfile -hup=hupfile [-cidr]"
        );
        return 1;
    };
    let (Some(src), Some(file), Some(tmp)) = (&args.src, &args.file, &args.tmp) else {
        return 1;
    };
    if let Err(e) = courier_net::makedat::build(src, file, tmp, args.cidr) {
        let _ = writeln!(err, "{argv0}: {e}");
        return 1;
    }
    if let Some(hup) = args.hup.as_deref().filter(|p| p.is_file())
        && let Some(pid) = courier_net::pidfile::read_pid(hup)
    {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
    }
    0
}
