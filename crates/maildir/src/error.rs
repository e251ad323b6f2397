//! The one error type of the maildir crate.

use courier_common::{Disposition, ExitStatus};
use std::path::{Path, PathBuf};

/// Everything that can go wrong inside a maildir. Path-bearing variants always name
/// the file or directory involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaildirError {
    /// An OS-level failure on a named path (permissions, ENOSPC, vanished directory...).
    #[error("{}: {}", path.display(), courier_common::strerror(source))]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
    /// The directory lacks `cur/`, `new/` or `tmp/`: usually a wrong MAILDIR or home.
    #[error("{}: not a maildir (missing cur/, new/ or tmp/)", path.display())]
    NotAMaildir {
        /// The directory that was expected to be a maildir.
        path: PathBuf,
    },
    /// A folder name that Courier refuses (empty component, `/`, leading dot, NUL...).
    #[error("Invalid folder name: {name}")]
    InvalidFolderName {
        /// The name as given.
        name: String,
    },
    /// A delivery or store would exceed the maildir++ quota.
    #[error("Mail quota exceeded.")]
    OverQuota,
    /// A quota specification that is not `NNNS`, `NNNC` or both.
    #[error("quota string '{spec}' not parseable")]
    BadQuotaSpec {
        /// The specification as given.
        spec: String,
    },
    /// The UID database could not be parsed; the damaged copy was kept, not overwritten.
    #[error("{}: damaged UID database ({reason}); kept as {}", path.display(), saved.display())]
    CorruptUidDb {
        /// The damaged `courierimapuiddb`.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
        /// Where the damaged copy was moved.
        saved: PathBuf,
    },
    /// A damaged control file whose contents could not be understood.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// An ACL change that would leave the owner without `l`/`a`, or administrators
    /// without every right.
    #[error("Trying to set invalid access rights for owner")]
    InvalidAcl,
    /// A message or entry that was asked for by name does not exist.
    #[error("{name}: not found")]
    NotFound {
        /// The name that was looked up.
        name: String,
    },
    /// A lock held by another live process could not be obtained in time.
    #[error("{}: locked by another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl MaildirError {
    /// Builds an [`MaildirError::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        MaildirError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The raw OS error number, when the error is an I/O failure.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            MaildirError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl ExitStatus for MaildirError {
    fn disposition(&self) -> Disposition {
        match self {
            MaildirError::Io { .. } | MaildirError::OverQuota | MaildirError::Locked { .. } => {
                Disposition::Temporary
            }
            _ => Disposition::Permanent,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, MaildirError>;

/// Attaches a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| MaildirError::io(path, e))
    }
}
