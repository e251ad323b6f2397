//! Folder names: wire form (modified UTF-7 or UTF-8) to directory and back,
//! validation, LIST/LSUB matching.

use courier_maildir::{layout, mutf7};
use std::path::{Path, PathBuf};

/// Why a wire name was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum NameError {
    /// Not valid modified UTF-7 / UTF-8, or contains forbidden parts.
    Invalid,
}

/// Decodes a wire name to the internal UTF-8 form with `INBOX` canonicalised.
pub fn decode(raw: &[u8], utf8: bool) -> Result<String, NameError> {
    if raw.contains(&0) {
        return Err(NameError::Invalid);
    }
    let s = std::str::from_utf8(raw).map_err(|_| NameError::Invalid)?;
    let s = if utf8 && !s.is_ascii() {
        s.to_string()
    } else {
        mutf7::decode(s).map_err(|_| NameError::Invalid)?
    };
    Ok(canonical_inbox(&s))
}

/// `inbox` / `Inbox.x` -> `INBOX` / `INBOX.x`.
pub fn canonical_inbox(s: &str) -> String {
    if s.eq_ignore_ascii_case("INBOX") {
        return "INBOX".to_string();
    }
    match s.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("INBOX.") => format!("INBOX.{}", &s[6..]),
        _ => s.to_string(),
    }
}

/// Encodes an internal name for the wire.
pub fn encode(name: &str, utf8: bool) -> Vec<u8> {
    if utf8 {
        name.as_bytes().to_vec()
    } else {
        mutf7::encode(name).into_bytes()
    }
}

/// The directory of an internal name: `Ok(None)` when the name is outside the
/// personal namespace, `Err` when it is malformed (`..`, `/`, a leading dot,
/// control characters, an empty level).
pub fn resolve(root: &Path, name: &str) -> Result<Option<PathBuf>, NameError> {
    if name == "INBOX" {
        return Ok(Some(root.to_path_buf()));
    }
    match name.strip_prefix("INBOX.") {
        Some(rest) => {
            if rest.starts_with('.') || rest.contains("..") || rest.contains('/') {
                return Err(NameError::Invalid);
            }
            layout::folder_path(root, rest)
                .map(Some)
                .map_err(|_| NameError::Invalid)
        }
        None => Ok(None),
    }
}

/// Whether `dir` is a usable folder: a real directory (not a symlink, so nothing
/// points out of the maildir) with `cur/`.
pub fn is_usable(root: &Path, dir: &Path) -> bool {
    if dir == root {
        return dir.join("cur").is_dir();
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_dir() => {
            matches!(std::fs::symlink_metadata(dir.join("cur")), Ok(c) if c.file_type().is_dir())
        }
        _ => false,
    }
}

/// Every folder (internal names, `INBOX.` prefixed, sorted), symlinks excluded.
pub fn all_folders(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = layout::list_folders(root, false)
        .unwrap_or_default()
        .into_iter()
        .map(|n| format!("INBOX.{n}"))
        .collect();
    v.sort();
    v
}

/// IMAP LIST wildcard match (`*` anything, `%` anything but the delimiter).
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative matcher with backtracking on the last `*`/`%`; `%` may not cross
    // a `.`. Patterns carry at most a few wildcards (checked by the caller).
    fn rec(p: &[u8], n: &[u8], budget: &mut u32) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|k| rec(&p[1..], &n[k..], budget)),
            Some(b'%') => {
                let lim = n.iter().position(|&c| c == b'.').unwrap_or(n.len());
                (0..=lim).any(|k| rec(&p[1..], &n[k..], budget))
            }
            Some(&c) => n.first() == Some(&c) && rec(&p[1..], &n[1..], budget),
        }
    }
    let mut budget = 1_000_000u32;
    rec(pattern, name, &mut budget)
}

/// Number of wildcards in a pattern.
pub fn wildcards(p: &[u8]) -> usize {
    p.iter().filter(|&&c| c == b'*' || c == b'%').count()
}

/// Whether a folder has "marked" content: `new/` non-empty or an unseen message.
pub fn marked(dir: &Path) -> bool {
    if std::fs::read_dir(dir.join("new"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
    {
        return true;
    }
    match std::fs::read_dir(dir.join("cur")) {
        Ok(rd) => rd.flatten().any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.starts_with('.')
                && !courier_maildir::name::Flags::from_file_name(&n)
                    .contains(courier_maildir::name::Flag::Seen)
        }),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        assert!(matches(b"*", b"INBOX.a.b"));
        assert!(matches(b"INBOX.%", b"INBOX.a"));
        assert!(!matches(b"INBOX.%", b"INBOX.a.b"));
        assert!(matches(b"INBOX.*b", b"INBOX.a.b"));
        assert!(!matches(b"INBOX", b"INBOX.a"));
        assert!(matches(b"%", b"INBOX"));
        let hostile = vec![b'*'; 10]
            .into_iter()
            .chain(b"x".iter().copied())
            .collect::<Vec<u8>>();
        assert!(!matches(&hostile, &[b'a'; 200]));
    }

    #[test]
    fn names_are_validated() {
        let root = Path::new("/m");
        assert_eq!(resolve(root, "INBOX").unwrap(), Some(PathBuf::from("/m")));
        assert_eq!(
            resolve(root, "INBOX.a.b").unwrap(),
            Some(PathBuf::from("/m/.a.b"))
        );
        assert_eq!(resolve(root, "other").unwrap(), None);
        for bad in [
            "INBOX..a",
            "INBOX.a/b",
            "INBOX..",
            "INBOX.a.",
            "INBOX.\u{1}",
            "INBOX.",
        ] {
            assert!(resolve(root, bad).is_err(), "{bad}");
        }
        assert!(decode(b"INBOX.&AOk-t&AOk-", false).is_ok());
        assert_eq!(decode(b"inbox.x", false).unwrap(), "INBOX.x");
        assert!(decode(b"INBOX.&Jjo", false).is_err());
        assert!(decode(b"INBOX.a\0b", false).is_err());
        assert_eq!(decode("INBOX.été".as_bytes(), true).unwrap(), "INBOX.été");
    }
}
