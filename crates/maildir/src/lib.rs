//! courier-maildir: everything inside a maildir, byte-compatible with Courier 5.
//!
//! Owns every path and file format below a maildir root: `tmp/ new/ cur/`, maildir++
//! folders (`.Folder.Sub` + `maildirfolder`), unique message names and the `:2,`
//! flags, delivery through `tmp/`, `maildirsize` quota, `courierimapuiddb`,
//! `courierimapkeywords/`, `courierimapacl` / `courierimaphieracl/`,
//! `courierimapsubscribed`, `courierpop3dsizelist`, `shared-maildirs`, and the
//! `tmp/courier.lock` dot-lock.
//!
//! Does not: speak IMAP or POP3 syntax, log, or read configuration. Callers pass in
//! what the environment says (trash folder name, whether keywords are enabled).
//!
//! Invariants:
//! - every write of a message or control file goes to `tmp/` first and is renamed
//!   or linked into place; a reader never sees a half-written file;
//! - a damaged `courierimapuiddb` is never silently regenerated: it is moved aside
//!   and reported, because a UIDVALIDITY change makes clients drop their caches;
//! - every error names the file it is about.
//!
//! Formats: ../shared/reference/formats.md (§ numbers are cited in each module),
//! maildir(5), maildirquota(7), maildirkw(1), maildiracl(1) of Courier.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod acl;
pub mod appenduid;
pub mod delivery;
pub mod error;
pub mod keywords;
pub mod layout;
pub mod lock;
pub mod mutf7;
pub mod name;
pub mod pop3list;
pub mod quota;
pub mod shared;
pub mod subscribed;
pub mod uiddb;

#[cfg(test)]
mod testutil;

pub use error::{MaildirError, Result};
