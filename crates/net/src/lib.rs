//! courier-net: the reusable parts of couriertcpd, Courier's accept-and-fork TCP server.
//!
//! Owns:
//! - [`args`]: Courier's `-name=value` option syntax;
//! - [`addr`]: peer address forms (`::ffff:a.b.c.d`, access keys, C blocks) and PORTLIST;
//! - [`listen`]: the listening sockets (dual-stack wildcard, per-address sockets);
//! - [`proxy`]: PROXY protocol v1/v2 headers (sans-I/O; the `-haproxy` addition);
//! - [`access`]: the `-access` lookup order and value syntax, and the compiled database;
//! - [`makedat`]: building that database from Courier's text source (CIDR expansion too);
//! - [`dns`]: a strict UDP stub resolver (A, TXT) reading /etc/resolv.conf;
//! - [`dnsbl`]: the `-block` / `-allow` DNS access lists and `-drop`;
//! - [`limits`]: the `-maxprocs` / `-maxperip` / `-maxperc` accounting;
//! - [`pidfile`]: the `-pid=FILE` pid and lock files, `-restart`.
//!
//! Does not: fork, exec, handle signals or print anything (that is `bin/couriertcpd`),
//! speak TLS, IMAP or POP3.
//!
//! Invariants: the parsers never panic on peer bytes; every error names the file, the
//! peer's bytes or the system call it is about. Formats: formats.md §14 (access files),
//! programs.md "couriertcpd" and "makedat / makeimapaccess", couriertcpd(8).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod addr;
pub mod args;
pub mod dns;
pub mod dnsbl;
pub mod limits;
pub mod listen;
pub mod makedat;
pub mod pidfile;
pub mod proxy;

use courier_common::{Disposition, ExitStatus, strerror};
use courier_userdb::UserDbError;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A PORTLIST port that is neither a service name nor 1..=65535 (admin's command
    /// line). The text is Courier's.
    #[error("Invalid port: {port}")]
    InvalidPort {
        /// The port as written.
        port: String,
    },
    /// A bind address that is not an IP address (admin's command line). Courier's text.
    #[error("Invalid IP address: {address}")]
    InvalidAddress {
        /// The address as written.
        address: String,
    },
    /// A socket call failed (address in use, permission, ...); printed as `perror` does.
    #[error("{call}: {}", errno.desc())]
    Socket {
        /// `socket`, `setsockopt`, `bind` or `listen`.
        call: &'static str,
        /// What the kernel said.
        errno: nix::errno::Errno,
    },
    /// A file could not be read or written.
    #[error("{}: {}", path.display(), strerror(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The compiled access database is not in this project's format: usually a GDBM file
    /// left by Courier's makedat (admin: rerun our makeimapaccess / makedat).
    #[error("{}: not an access database in this project's format ({detail}); rebuild it with makeimapaccess or makedat", path.display())]
    ForeignDatabase {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The compiled database is damaged or unreadable.
    #[error("{}", .0)]
    Database(#[source] UserDbError),
    /// Two source lines with the same key (admin's source). Courier makedatprog's text.
    #[error("Cannot store record for {key} - duplicate or out of disk space.")]
    Duplicate {
        /// The repeated key.
        key: String,
    },
    /// The source ended before the `.` line: a file without a final newline glued the
    /// terminator to its last line (admin's source).
    #[error("unexpected end of input: the last line of a source file has no newline")]
    UnexpectedEnd,
    /// A CIDR or range key that is not a valid address range, or expands to too many
    /// entries (admin's source).
    #[error("{}:{line}: invalid or too large address range: {range}", path.display())]
    BadRange {
        /// The source.
        path: PathBuf,
        /// The 1-based line in the concatenated source.
        line: usize,
        /// The range as written.
        range: String,
    },
}

impl NetError {
    fn from_dat(path: &Path, e: UserDbError) -> NetError {
        match e {
            UserDbError::BadMagic { detail, .. } => NetError::ForeignDatabase {
                path: path.to_path_buf(),
                detail: detail.to_string(),
            },
            UserDbError::Io { path, source } => NetError::Io { path, source },
            other => NetError::Database(other),
        }
    }
}

impl ExitStatus for NetError {
    fn disposition(&self) -> Disposition {
        match self {
            NetError::InvalidPort { .. } | NetError::InvalidAddress { .. } => Disposition::Usage,
            NetError::Socket { .. } | NetError::Io { .. } => Disposition::Temporary,
            _ => Disposition::Permanent,
        }
    }
    /// Courier's tools exit 1 on every failure.
    fn exit_code(&self) -> u8 {
        1
    }
}
