//! courier-imap-proto: the IMAP4rev1 command grammar used by imapd, without I/O.
//!
//! - [`framer`]: where a command ends: lines, `{n}` / `{n+}` literals, limits;
//! - [`parser`]: one command (a flat buffer holding the line and its literals) into a
//!   typed [`Command`];
//! - [`seqset`]: sequence sets (`1:*,5,7:9`) and their resolution;
//! - [`response`]: quoting helpers for the response writer.
//!
//! Nothing here panics on any input; every size is bounded by the caller's limits.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod command;
pub mod framer;
pub mod parser;
pub mod response;
pub mod seqset;

pub use command::*;
pub use parser::{ParseError, parse_command};
pub use seqset::SeqSet;
