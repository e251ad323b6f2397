//! [`UserDbError`]: every failure names the file it happened on.

use courier_common::{Disposition, ExitStatus, strerror};
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong reading the source, compiling it, or reading a compiled file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserDbError {
    /// The userdb source cannot be stat()ed, usually because it does not exist (admin's path).
    /// The text is Courier makeuserdb's.
    #[error("{}: not found.", path.display())]
    SourceNotFound {
        /// The source path as given.
        path: PathBuf,
        /// Why stat() failed.
        #[source]
        source: io::Error,
    },
    /// The source has group or world permission bits: Courier refuses it because the file
    /// holds password hashes (admin's fault). The text is Courier makeuserdb's.
    #[error("{}: MAY NOT HAVE GROUP OR WORLD PERMISSIONS!!", path.display())]
    GroupOrWorldPermissions {
        /// The source path.
        path: PathBuf,
    },
    /// A path that makeuserdb must not follow (the source, `userdb.dat`, `userdbshadow.dat`)
    /// is a symbolic link (admin's fault).
    #[error("{} is a symbolic link", path.display())]
    Symlink {
        /// The offending link.
        path: PathBuf,
    },
    /// A file in the source tree is neither a regular file nor a directory (a FIFO, a
    /// socket, a device): reading it could block or make no sense (admin's fault).
    #[error("{}: not a regular file", path.display())]
    NotRegular {
        /// The offending path.
        path: PathBuf,
    },
    /// An operating-system failure on `path`.
    #[error("{}: {}", path.display(), strerror(source))]
    Io {
        /// The file the operation was on.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Two source lines define the same name; nothing was installed (admin's fault).
    #[error(
        "{}:{line}: duplicate name \"{name}\" (first defined at {}:{first_line})",
        path.display(),
        first_path.display()
    )]
    Duplicate {
        /// The name defined twice.
        name: String,
        /// The file of the second definition.
        path: PathBuf,
        /// Its 1-based line.
        line: usize,
        /// The file of the first definition.
        first_path: PathBuf,
        /// Its 1-based line.
        first_line: usize,
    },
    /// The compiled file is not in this project's format: often a GDBM file left by
    /// Courier's own makeuserdb (rerun ours), or a wrong path.
    #[error("{}: not a userdb database ({detail}); rebuild it with makeuserdb", path.display())]
    BadMagic {
        /// The compiled file.
        path: PathBuf,
        /// What was found instead.
        detail: &'static str,
    },
    /// The compiled file was written by a newer (or unknown) version of makeuserdb.
    #[error(
        "{}: unsupported userdb database version {version} (this build reads version {}); rebuild it with makeuserdb",
        path.display(),
        crate::dat::VERSION
    )]
    UnsupportedVersion {
        /// The compiled file.
        path: PathBuf,
        /// The version in its header.
        version: u32,
    },
    /// The compiled file is shorter than its header says: an interrupted copy, a full disk,
    /// or a file truncated by hand. No answer is given from it.
    #[error(
        "{}: truncated userdb database ({actual} bytes, header says {expected}); rebuild it with makeuserdb",
        path.display()
    )]
    Truncated {
        /// The compiled file.
        path: PathBuf,
        /// The length the header promises.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// A checksum or a structural check failed: the file was damaged after makeuserdb wrote
    /// it. No answer is given from it.
    #[error("{}: corrupt userdb database: {detail}; rebuild it with makeuserdb", path.display())]
    Corrupt {
        /// The compiled file.
        path: PathBuf,
        /// Which check failed, and where.
        detail: String,
    },
    /// The input exceeds the format's limits (2^32 records, 4 GiB per record).
    #[error("{}: too large for the userdb database format: {detail}", path.display())]
    TooLarge {
        /// The file being written.
        path: PathBuf,
        /// Which limit.
        detail: String,
    },
}

impl UserDbError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        UserDbError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// True when the error means "the file does not exist" (for a compiled file: userdb is
    /// not built, so a lookup module should answer "no such user", not "try later").
    pub fn is_missing(&self) -> bool {
        match self {
            UserDbError::Io { source, .. } | UserDbError::SourceNotFound { source, .. } => {
                source.kind() == io::ErrorKind::NotFound
            }
            _ => false,
        }
    }

    /// The errno behind the error, when there is one (Courier's Perl tools exit with it).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            UserDbError::Io { source, .. } | UserDbError::SourceNotFound { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            UserDbError::SourceNotFound { path, .. }
            | UserDbError::GroupOrWorldPermissions { path }
            | UserDbError::Symlink { path }
            | UserDbError::NotRegular { path }
            | UserDbError::Io { path, .. }
            | UserDbError::Duplicate { path, .. }
            | UserDbError::BadMagic { path, .. }
            | UserDbError::UnsupportedVersion { path, .. }
            | UserDbError::Truncated { path, .. }
            | UserDbError::Corrupt { path, .. }
            | UserDbError::TooLarge { path, .. } => path,
        }
    }
}

impl ExitStatus for UserDbError {
    fn disposition(&self) -> Disposition {
        match self {
            UserDbError::Io { .. } => Disposition::Temporary,
            _ => Disposition::Permanent,
        }
    }
}
