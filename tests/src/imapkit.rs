//! Shared helpers for the imapd transcript tests: run a script against our imapd and Debian's.
