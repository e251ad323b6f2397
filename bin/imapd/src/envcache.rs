//! The folder's private ENVELOPE cache, `courierimapenvcache`: the ENVELOPE of a
//! message depends only on its header, and a message file never changes, so an
//! entry keyed by the message's basename stays right for as long as the message
//! exists. It turns `FETCH 1:* ENVELOPE` on a big folder from one open and read
//! per message into one read of this file. Courier ignores the file.
//!
//! Format: for each message `<basename> <length>\n<ENVELOPE bytes>\n`. A damaged
//! file is ignored (and rewritten at the next use).

use std::collections::HashMap;
use std::path::Path;

/// File name inside the folder.
pub const FILE: &str = "courierimapenvcache";

/// Largest cache kept (read, held in memory, written): about 80,000 typical
/// envelopes. Bigger folders are served from the files, so that the process stays
/// well within IMAP_ULIMITD.
pub const MAX_FILE: u64 = 24 << 20;

/// Reads the cache; empty when absent or damaged.
pub fn load(folder: &Path) -> HashMap<String, Vec<u8>> {
    let mut map = HashMap::new();
    let path = folder.join(FILE);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() <= MAX_FILE => {}
        _ => return map,
    }
    let Ok(data) = std::fs::read(&path) else {
        return map;
    };
    let mut rest = &data[..];
    while !rest.is_empty() {
        let Some(nl) = rest.iter().position(|&c| c == b'\n') else {
            break;
        };
        let line = &rest[..nl];
        let Some(sp) = line.iter().rposition(|&c| c == b' ') else {
            break;
        };
        let (Ok(base), Some(len)) = (
            std::str::from_utf8(&line[..sp]),
            std::str::from_utf8(&line[sp + 1..])
                .ok()
                .and_then(|s| s.parse::<usize>().ok()),
        ) else {
            break;
        };
        let start = nl + 1;
        let Some(end) = start.checked_add(len) else {
            break;
        };
        if rest.get(end) != Some(&b'\n') {
            break;
        }
        map.insert(base.to_string(), rest[start..end].to_vec());
        rest = &rest[end + 1..];
    }
    map
}

/// Writes the entries of the given basenames (the folder's current messages);
/// failures are ignored (the cache is an optimisation).
pub fn save<'a>(
    folder: &Path,
    map: &HashMap<String, Vec<u8>>,
    bases: impl Iterator<Item = &'a str>,
) {
    let mut out = Vec::new();
    for b in bases {
        if let Some(e) = map.get(b) {
            out.extend_from_slice(b.as_bytes());
            out.extend_from_slice(format!(" {}\n", e.len()).as_bytes());
            out.extend_from_slice(e);
            out.push(b'\n');
        }
    }
    if out.len() as u64 > MAX_FILE {
        return;
    }
    let uniq = format!("imapenv_{}", courier_maildir::delivery::next_uniq());
    if let Ok(mut tmp) = courier_maildir::delivery::TmpFile::create(
        folder,
        Some(&uniq),
        None,
        courier_maildir::delivery::CONTROL_MODE,
    ) && tmp.write_all(&out).is_ok()
    {
        let _ = tmp.rename_to_unsynced(&folder.join(FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("tmp")).unwrap();
        let mut m = HashMap::new();
        m.insert("a.M1".to_string(), b"(NIL \"x\\ny\")".to_vec());
        m.insert("b.M2".to_string(), Vec::new());
        m.insert("gone".to_string(), b"x".to_vec());
        save(t.path(), &m, ["a.M1", "b.M2"].into_iter());
        let back = load(t.path());
        assert_eq!(back.len(), 2);
        assert_eq!(back["a.M1"], m["a.M1"]);
        assert!(back["b.M2"].is_empty());
        std::fs::write(t.path().join(FILE), b"a.M1 999\nshort\n").unwrap();
        assert!(load(t.path()).is_empty());
    }
}
