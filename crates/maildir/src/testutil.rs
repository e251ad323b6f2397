//! Helpers shared by this crate's unit tests.

use crate::layout::{self, Sharing};
use std::fs;
use std::path::{Path, PathBuf};

/// A fresh private maildir `Maildir` in a temporary directory (kept alive by the
/// returned guard).
pub fn maildir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("Maildir");
    layout::create(&m, Sharing::Private, false).unwrap();
    (t, m)
}

/// The sorted entry names of `dir`; empty when it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
