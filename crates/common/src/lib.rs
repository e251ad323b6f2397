//! courier-common: the small amount of process plumbing every program shares.
//!
//! Owns: the [`Disposition`] / [`ExitStatus`] contract that maps an error to an exit
//! code, Courier's stderr log-line prefixes (`ERR:`, `WARN:`, ...), which courierlogger
//! turns into syslog priorities, and the host name used in maildir file names.
//!
//! Does not: parse protocols, touch maildirs, or log on its own initiative. Libraries
//! return errors; binaries decide what to print.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

/// How the process that started us should treat a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Retrying will not help: bad data, refused, invalid request.
    Permanent,
    /// The command line or environment was wrong.
    Usage,
    /// Retrying later may succeed: I/O error, backend down, over quota for an MTA.
    Temporary,
}

/// An error that knows which exit code it deserves.
pub trait ExitStatus: std::error::Error {
    /// The kind of failure.
    fn disposition(&self) -> Disposition;
    /// The exit code; override where a Courier program is known to use another one.
    fn exit_code(&self) -> u8 {
        match self.disposition() {
            Disposition::Permanent => 1,
            Disposition::Usage => 2,
            Disposition::Temporary => 111,
        }
    }
}

/// Courier's stderr severity prefixes, mapped to syslog priorities by courierlogger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// `ERR:` (LOG_ERR)
    Err,
    /// `WARN:` (LOG_WARNING)
    Warn,
    /// `ALERT:` (LOG_ALERT)
    Alert,
    /// `CRIT:` (LOG_CRIT)
    Crit,
    /// `INFO:` (LOG_INFO)
    Info,
    /// `DEBUG:` (LOG_DEBUG)
    Debug,
}

impl Severity {
    /// The prefix word Courier writes, including the colon.
    pub fn prefix(self) -> &'static str {
        match self {
            Severity::Err => "ERR:",
            Severity::Warn => "WARN:",
            Severity::Alert => "ALERT:",
            Severity::Crit => "CRIT:",
            Severity::Info => "INFO:",
            Severity::Debug => "DEBUG:",
        }
    }
}

/// Escapes control characters so one event is always exactly one log line.
pub fn escape_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Longest message [`log`] writes; longer ones are cut (syslog's classic limit is
/// 1024 bytes per line, RFC 3164).
pub const MAX_LOG_LINE: usize = 960;

/// Writes one `SEVERITY: message` line to stderr, escaped and at most
/// [`MAX_LOG_LINE`] bytes of message.
pub fn log(severity: Severity, message: impl Display) {
    let line = format!("{} {}\n", severity.prefix(), log_text(&message.to_string()));
    // Nothing sensible can be done when stderr itself is gone.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A message as [`log`] writes it: control characters escaped, cut to
/// [`MAX_LOG_LINE`] bytes (on a character boundary) with `...` appended.
pub fn log_text(message: &str) -> String {
    let mut text = escape_log(message);
    if text.len() > MAX_LOG_LINE {
        let mut cut = MAX_LOG_LINE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// The C library's text for an I/O error, without Rust's `(os error N)` suffix,
/// so messages read exactly like Courier's `perror()` output.
pub fn strerror(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => err.to_string(),
    }
}

/// Prints `program: error` on stderr and converts the error to an exit code.
pub fn report<E: ExitStatus>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "{program}: {}",
                escape_log(&e.to_string())
            );
            ExitCode::from(e.exit_code())
        }
    }
}

/// The host name as Courier uses it in maildir file names: `$HOSTNAME` is *not*
/// consulted here (only imapd prefers it); `gethostname()` otherwise, `localhost` if
/// that fails.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_log_replaces_newlines_and_nul() {
        assert_eq!(escape_log("a\nb\0c"), "a\\x0ab\\x00c");
        assert_eq!(escape_log("plain, text=[x]"), "plain, text=[x]");
    }

    #[derive(Debug)]
    struct E(Disposition);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "e")
        }
    }
    impl std::error::Error for E {}
    impl ExitStatus for E {
        fn disposition(&self) -> Disposition {
            self.0
        }
    }

    #[test]
    fn default_exit_codes_follow_the_house_table() {
        assert_eq!(E(Disposition::Permanent).exit_code(), 1);
        assert_eq!(E(Disposition::Usage).exit_code(), 2);
        assert_eq!(E(Disposition::Temporary).exit_code(), 111);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let cut = log_text(&"é".repeat(MAX_LOG_LINE));
        assert!(cut.len() <= MAX_LOG_LINE + 3, "{}", cut.len());
        assert!(cut.ends_with("..."));
        assert_eq!(log_text("short\nline"), "short\\x0aline");
    }

    #[test]
    fn strerror_matches_libc_text() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(strerror(&e), "No such file or directory");
        assert_eq!(strerror(&std::io::Error::other("custom")), "custom");
    }

    #[test]
    fn hostname_is_never_empty() {
        assert!(!hostname().is_empty());
    }
}
