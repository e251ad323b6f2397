//! courier-rfc2045: message structure for IMAP FETCH and SEARCH, byte-compatible with
//! Debian's Courier-IMAP 5.0.13 imapd.
//!
//! Everything works on messages in canonical CRLF form (what IMAP sends); maildir files
//! hold LF line ends and are converted with [`crlf::canonical`] first. Sizes, offsets and
//! line counts are in CRLF bytes. Nothing here panics on any input, and nesting depth
//! ([`MAX_DEPTH`]) and part count ([`MAX_PARTS`]) are bounded: deeper parts are opaque.
//!
//! Does not: touch files, log, or know about UIDs and flags.
//!
//! # How Debian's Courier-IMAP 5.0.13 behaves, and what we do
//!
//! `tests/debian_imapd.rs` compares every item below with Debian's `imapd` on a corpus of
//! messages (`tests/corpus/`): all agree, but for the deliberate RFC 3501 difference below.
//!
//! - **Line ends.** Courier serves a maildir file with every LF turned into CRLF, even an
//!   LF already preceded by CR ([`crlf::from_maildir`]); RFC822.SIZE counts those bytes
//!   ([`crlf::from_maildir_len`]). A line holding only a CR ends a header, and a line
//!   starting with CR (or any C `isspace` character) continues the field before it.
//! - **MIME-Version.** MIME headers are read only in a message that has a `MIME-Version`
//!   field, and in the body parts of a multipart; otherwise the message is `text/plain`
//!   with no parameters (an encapsulated message/rfc822 needs its own `MIME-Version`).
//!   Content-Transfer-Encoding is read in any case; the default is `8bit`.
//! - **Boundaries** match by prefix (`--XX` also matches `--XXfoo`), outermost first; the
//!   line end before a boundary belongs to the boundary, also for a header cut off by one.
//!   A body part cut off by the end of the message loses its last line end. In a
//!   non-multipart encapsulated message the CR of the last line end stays in the body
//!   (`BODY[2.1]` of `...body\r\n--XX` is `body\r`), as Courier counts it; so does a
//!   multipart whose close delimiter is followed at once by an enclosing boundary.
//!   message/global is encapsulated like message/rfc822.
//! - **Content-Type**: type and subtype lowercased, a type without subtype gives subtype
//!   `""`, a missing or empty type gives `text/plain` (`message/rfc822` in a digest);
//!   parameter names lowercased, values kept except `charset` (lowercased); a parameter
//!   with a comment or without `=` is dropped, a repeated one keeps its first place and
//!   its last value; `\\` in a quoted value disappears. A
//!   multipart without any body part is shown like a single part of type multipart.
//! - **BODYSTRUCTURE extension data**: body parts get MD5, disposition and `NIL` for the
//!   language; multiparts get parameters, disposition and the Content-Language value as
//!   one string (`"en, de"`). Content-Location is never sent.
//! - **ENVELOPE**: repeated fields are joined with `", "`; an empty field is `NIL`;
//!   Sender and Reply-To fall back to From only when absent; a field name is the text
//!   before the colon (`Subject :` is not a Subject); addresses are printed the way
//!   Courier's rfc822 library prints tokens (comments kept in parentheses, a source route
//!   inside the mailbox, `""` as host when there is no `@`, text after `>` an address of
//!   its own); a value with 8-bit text is sent with RFC 2047 UTF-8 encoded words the way
//!   Courier's encoder makes them (which words, Q or B, where long runs split), invalid
//!   UTF-8 dropped; the same for BODYSTRUCTURE descriptions and parameter values.
//! - **BODY\[section\]**: `HEADER`, `TEXT` and `HEADER.FIELDS` of a body part that is not a
//!   message/rfc822 address that part's own header and body; `MIME` sends only the
//!   `Content-*` and `MIME-Version` fields; in a non-multipart message every part number
//!   names the message itself for `MIME`; part 1 of a top-level message/rfc822 is the
//!   encapsulated message. `HEADER.FIELDS` copies the matching fields with all their
//!   lines, then an empty line. A part that does not exist is sent as an empty string.
//!
//! - **SEARCH** ([`search`]): BODY looks in text/* and message/* body parts only,
//!   transfer encoding undone; TEXT adds the header of the message and of every part;
//!   HEADER/FROM/SUBJECT/... look at the fields of every part's header
//!   ([`search::header_values_all`]); line breaks and runs of white space match one
//!   space. Dates: [`date::parse_rfc2822`] accepts what Courier's date parser accepts on
//!   the corpus (no weekday, 2-digit years, obsolete and unknown zones, comments).
//!
//! Where Courier breaks RFC 3501 we follow the RFC:
//!
//! - group syntax in ENVELOPE: Courier sends `(NIL NIL "" NIL)` for both the start and
//!   the end of a group; we send `(NIL NIL "name" NIL)` and `(NIL NIL NIL NIL)`.
//! - SENTON/SENTBEFORE/SENTSINCE: Courier takes the day of the Date field converted to
//!   the server's time zone, and the Date field of any part; RFC 3501 says the date as
//!   written, disregarding time and zone: `(epoch + tz_offset)` of the message's own
//!   Date field, which [`date::parse_rfc2822`] gives.
//!
//! Long fields: Courier reads a field unfolded into an 8 KiB buffer, so ENVELOPE sees
//! only its first 8191 bytes (name and colon included), and HEADER.FIELDS.NOT adds an
//! empty line at the end for each further 8 KiB of a field it leaves out; both are
//! reproduced.
//!
//! A message that is all header with no empty line: Courier's header is its complete
//! lines (an unterminated last line is left out, also from ENVELOPE) and the body runs
//! from the header's last line end to one byte before the end; reproduced.
//!
//! End of file without a final line end: a boundary line needs its line end (a close
//! delimiter at the very end without one is body text), and a body part or encapsulated
//! message cut off there is counted one line short, as Courier does: its body loses its
//! last byte if it holds a line end, else its header does. An empty body part's
//! BODY[n.HEADER] likewise stops one byte short of its empty line.
//!
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
