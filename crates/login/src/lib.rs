//! courier-login: the pre-authentication half of Courier's `imaplogin` and
//! `courierpop3login`, and the hand-off to `imapd` / `courierpop3d`.
//!
//! Owns: the IMAP and POP3 login dialogues ([`imap`], [`pop3`]) with Courier's
//! exact texts, limits and log lines; SASL PLAIN, LOGIN, CRAM-MD5/SHA1/SHA256 and
//! EXTERNAL with SASL-IR ([`sasl`], Courier's base64 in [`base64`]); login-name
//! mapping and `DEFDOMAIN` ([`names`]); CAPABILITY/CAPA composition
//! ([`capability`]); STARTTLS through `couriertls` ([`starttls`]); the talk with
//! authdaemond and everything after a successful answer ([`finish`]): account
//! options, `AUTH_MKHOMEDIR_SKEL` ([`mkhomedir`]), the privilege drop (through
//! `courier_privsep::identity`), the `*_MAILDIR_CREATOR` hooks ([`hooks`]), the
//! environment handed to the server ([`env`]) and the exec; and, when started
//! as root, the split of the two into an unprivileged dialogue process and a root
//! monitor ([`preauth`]).
//!
//! Does not: implement the IMAP/POP3 servers, the authentication modules, TLS, or
//! IMAP_PROXY/POP3_PROXY. Libraries never log on their own: log lines go through
//! the [`session::Logger`] the binary chooses.
//!
//! Invariants: every buffer that holds client input is bounded (8 KiB lines and
//! strings, 16 KiB atoms); control characters in user ids and passwords never
//! reach authdaemond; no password is ever logged; nothing is executed with root
//! privileges (the drop is verified first, and the exec helper refuses otherwise).
//!
//! The process contract (argv, environment, descriptors, exit codes, what runs as
//! root) is courier-login-chain(7); the texts are imapd-config.md §3, §8, §9 and
//! pop3d-config.md §3, §4, §7 of the project's reference.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod base64;
pub mod capability;
pub mod env;
pub mod finish;
pub mod hooks;
pub mod imap;
pub mod io;
pub mod mkhomedir;
pub mod names;
pub mod pop3;
pub mod preauth;
pub mod programs;
pub mod sasl;
pub mod session;
pub mod starttls;

/// A C string view of `b`: the bytes before the first NUL (Courier compares and
/// copies client data as C strings).
pub fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}
