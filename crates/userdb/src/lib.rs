//! courier-userdb: Courier's userdb account database: the text source, its compiled form,
//! and the logic of `makeuserdb` and the `userdb` editor.
//!
//! Owns:
//! - the text format of `/etc/courier/userdb` (a file or a directory tree; userdb(5),
//!   authdaemon-protocol.md §6.1): [`read_source`], [`SourceLine`], the permission and
//!   symlink checks;
//! - makeuserdb's split into `userdb.dat` and `userdbshadow.dat` (§6.2): [`compile`];
//! - the compiled file format and its reader ([`dat`], [`UserDb`]);
//! - the record editing of the `userdb` script (§6.3): [`edit`].
//!
//! Does not: check passwords, build authdaemond replies (`courier-auth-modules` turns a
//! [`Record`] into one, §4), read GDBM files written by Courier's own makeuserdb (they are
//! recognised and refused with a message saying to rerun ours), or print anything.
//!
//! Invariants:
//! - The text source is the compatibility surface: files written by Courier's `userdb`
//!   compile here, and ours compile with Courier's makeuserdb.
//! - A compiled file is immutable: written to a temporary name, synced, then renamed, so a
//!   reader sees the old file or the new one, never a mixture; shadow 0600, main 0644.
//! - A damaged, truncated or foreign compiled file gives an error naming the file; a lookup
//!   never returns a record it has not verified (checksums plus the stored key).
//! - [`UserDb`] notices a replaced file (inode, mtime, size) and reopens it before the next
//!   lookup.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compile;
pub mod dat;
mod db;
pub mod edit;
mod error;
mod record;
mod source;

pub use compile::{CompileStats, Lock, check_paths, compile, is_shadow_item, lock, tmp_name};
pub use db::UserDb;
pub use error::UserDbError;
pub use record::Record;
pub use source::{
    LineKind, SourceLine, check_source, classify, location_of, read_file, read_source, source_files,
};

/// The text source Courier's tools use when given no path.
pub const DEFAULT_SOURCE: &str = "/etc/courier/userdb";
/// The compiled main database (no passwords), mode 0644.
pub const DEFAULT_DAT: &str = "/etc/courier/userdb.dat";
/// The compiled password database, mode 0600.
pub const DEFAULT_SHADOW: &str = "/etc/courier/userdbshadow.dat";
