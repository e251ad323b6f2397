//! Shared helpers for the pop3d end-to-end tests.
