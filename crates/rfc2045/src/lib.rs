//! courier-rfc2045: message structure for IMAP FETCH and SEARCH, byte-compatible with
//! Debian's Courier-IMAP 5.0.13 imapd.
//!
//! Everything works on messages in canonical CRLF form (what IMAP sends); maildir files
//! hold LF line ends and are converted with [`crlf::canonical`] first. Sizes, offsets and
//! line counts are in CRLF bytes. Nothing here panics on any input, and nesting depth
//! ([`MAX_DEPTH`]) and part count ([`MAX_PARTS`]) are bounded: deeper parts are opaque.
//!
//! Does not: touch files, log, or know about UIDs and flags.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod address;
pub mod crlf;
pub mod date;
mod envelope;
mod header;
pub mod imapstr;
mod message;
pub mod search;

pub use envelope::envelope_from_header;
pub use message::{MAX_DEPTH, MAX_PARTS, Message, Section, SectionText};
