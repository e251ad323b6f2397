//! Shared helpers for real-client (imaplib, curl, mbsync, fetchmail) tests and the load tool.
