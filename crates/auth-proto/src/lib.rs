//! courier-auth-proto: the authdaemond socket protocol of courier-authlib 0.71,
//! byte for byte (authdaemon-protocol.md §1–§4).
//!
//! Owns: request framing and parsing (`PRE`, `AUTH`, `PASSWD`, `ENUMERATE`, meta
//! lines), the account record ([`AuthInfo`]) and its reply encoding in Courier's
//! fixed key order, `FAIL`, the `ENUMERATE` stream, `DEFAULTOPTIONS` merging and
//! account-option lookup, and a blocking [`client::Client`] for the login programs
//! and the admin tools.
//!
//! Does not: look anything up, check passwords, or log. The parsing half is sans-I/O:
//! [`request::parse`] works on a byte buffer and says how much more it needs.
//!
//! Invariants: a request line is at most [`request::MAX_LINE`] bytes and an `AUTH`
//! payload under [`request::MAX_AUTH`]; nothing a module supplies can break the
//! line framing of a reply (values with `\n` are refused by [`AuthInfo::render`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod options;
pub mod record;
pub mod request;

pub use record::{AuthInfo, EnumEntry};
pub use request::Request;

/// Debian's socket path (compiled into Courier; ours is configurable).
pub const DEFAULT_SOCKET: &str = "/run/courier/authdaemon/socket";
