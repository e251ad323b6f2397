//! `courierimapuiddb`: the IMAP UID map of one folder (formats.md §6).
//!
//! ```text
//! 1 <uidvalidity> <nextuid>\n
//! <uid> <basename>\n ...           (ascending uid)
//! ```
//!
//! Rules kept here:
//! - a new file's UIDVALIDITY is the mtime of the freshly created file − 1,000,000,000;
//! - new messages get UIDs from `nextuid` upwards in Courier's message order
//!   ([`crate::name::compare`]), after every already known message;
//! - the read-modify-write of [`sync`] runs under the folder's `tmp/courier.lock`, the
//!   lock Courier's own imapd takes, so two processes (ours or Courier's) never hand
//!   out the same UID;
//! - a damaged file is never silently regenerated: a truncated tail is salvaged
//!   (the header keeps UIDVALIDITY and `nextuid`, so no UID is reused), and a file
//!   whose header is unreadable is renamed aside and reported with
//!   [`MaildirError::CorruptUidDb`]; only then may a caller start a new one.

use crate::delivery::{CONTROL_MODE, TmpFile, next_uniq};
use crate::error::{IoContext, MaildirError, Result};
use crate::lock::DotLock;
use crate::name;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// File name inside each folder.
pub const UIDDB: &str = "courierimapuiddb";
/// Courier's "IMAP epoch": UIDVALIDITY = time − this.
pub const EPOCH_OFFSET: u64 = 1_000_000_000;
/// How long [`sync`] waits for the folder lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The UID map of one folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UidDb {
    /// UIDVALIDITY of the folder.
    pub uidvalidity: u32,
    /// The next UID to hand out.
    pub next_uid: u32,
    /// `(uid, basename)` in ascending UID order.
    pub entries: Vec<(u32, String)>,
}

/// Something that was repaired while reading, for the caller to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Salvaged {
    /// The file.
    pub path: PathBuf,
    /// What was dropped.
    pub detail: String,
}

/// The header of a uiddb: `1 <uidvalidity> <nextuid>`.
fn parse_header(line: &str) -> Option<(u32, u32)> {
    let mut it = line.split(' ');
    if it.next()? != "1" {
        return None;
    }
    let uidv = it.next()?.parse().ok()?;
    let next = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((uidv, next))
}

impl UidDb {
    /// Parses file contents. `Err(reason)` when the header is unusable; a damaged
    /// line after it is dropped and reported in the second value.
    pub fn parse(text: &[u8]) -> std::result::Result<(UidDb, Option<String>), String> {
        let text = String::from_utf8_lossy(text);
        let (head, rest) = match text.split_once('\n') {
            Some(x) => x,
            None => return Err("no complete header line".into()),
        };
        let (uidvalidity, mut next_uid) =
            parse_header(head).ok_or_else(|| format!("unreadable header {head:?}"))?;
        let mut entries: Vec<(u32, String)> = Vec::new();
        let mut dropped = Vec::new();
        let complete = rest.ends_with('\n') || rest.is_empty();
        let lines: Vec<&str> = rest.split('\n').collect();
        let n = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            if i + 1 == n && !complete {
                dropped.push(format!("truncated last line {line:?}"));
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(u, b)| {
                let uid: u32 = u.parse().ok()?;
                (uid > 0 && !b.is_empty() && !b.contains('/')).then(|| (uid, b.to_string()))
            });
            match parsed {
                Some((uid, b)) if entries.last().is_none_or(|(last, _)| *last < uid) => {
                    entries.push((uid, b))
                }
                _ => dropped.push(format!("bad line {}: {line:?}", i + 2)),
            }
        }
        if let Some((last, _)) = entries.last()
            && *last >= next_uid
        {
            next_uid = last + 1;
        }
        let note = (!dropped.is_empty()).then(|| dropped.join("; "));
        Ok((
            UidDb {
                uidvalidity,
                next_uid,
                entries,
            },
            note,
        ))
    }

    /// Renders the file contents.
    pub fn render(&self) -> String {
        let mut s = format!("1 {} {}\n", self.uidvalidity, self.next_uid);
        for (uid, b) in &self.entries {
            s.push_str(&format!("{uid} {b}\n"));
        }
        s
    }

    /// Reads `folder/courierimapuiddb`. `Ok(None)` when there is none. A header
    /// that cannot be read makes the file be renamed to
    /// `courierimapuiddb.damaged.<unixtime>` and yields
    /// [`MaildirError::CorruptUidDb`].
    pub fn read(folder: &Path) -> Result<Option<(UidDb, Option<Salvaged>)>> {
        let path = folder.join(UIDDB);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(MaildirError::io(&path, e)),
        };
        match UidDb::parse(&bytes) {
            Ok((db, note)) => Ok(Some((
                db,
                note.map(|detail| Salvaged {
                    path: path.clone(),
                    detail,
                }),
            ))),
            Err(reason) => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let saved = folder.join(format!("{UIDDB}.damaged.{now}"));
                fs::rename(&path, &saved).at(&saved)?;
                Err(MaildirError::CorruptUidDb {
                    path,
                    reason,
                    saved,
                })
            }
        }
    }

    /// Writes the file through `tmp/` (uniq `imapuid_<n>`) and rename. When
    /// `uidvalidity` is 0 (a new database) it is set from the tmp file's mtime
    /// minus [`EPOCH_OFFSET`] first.
    pub fn write(&mut self, folder: &Path) -> Result<()> {
        let uniq = format!("imapuid_{}", next_uniq());
        let mut tmp = TmpFile::create(folder, Some(&uniq), None, CONTROL_MODE)?;
        if self.uidvalidity == 0 {
            let mtime = tmp
                .file()
                .metadata()
                .at(tmp.path())?
                .modified()
                .at(tmp.path())?;
            self.uidvalidity = uidvalidity_for(mtime);
        }
        tmp.write_all(self.render().as_bytes())?;
        tmp.rename_to(&folder.join(UIDDB))
    }

    /// The UID of `basename`, if known.
    pub fn uid_of(&self, basename: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|(_, b)| b == basename)
            .map(|(u, _)| *u)
    }
}

/// UIDVALIDITY for a file with this mtime (never 0).
pub fn uidvalidity_for(mtime: SystemTime) -> u32 {
    let secs = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    (secs.saturating_sub(EPOCH_OFFSET) as u32).max(1)
}

/// The result of scanning a folder and reconciling its UID database.
#[derive(Clone, Debug)]
pub struct Scan {
    /// The database after the scan (only present messages, ascending UIDs).
    pub db: UidDb,
    /// `(uid, cur/ file name)` of every message, ascending UID.
    pub messages: Vec<(u32, String)>,
    /// `(uid, basename)` of the messages that got their UID in this scan.
    pub assigned: Vec<(u32, String)>,
    /// cur/ names this scan moved from `new/` (they are `\Recent` for the caller).
    pub moved_from_new: Vec<String>,
    /// Whether the file on disk reflects `db` (false for a read-only folder).
    pub persisted: bool,
    /// A repaired tail of the file, for the caller to log.
    pub salvaged: Option<Salvaged>,
}

/// Scans `folder` the way Courier's imapd does: under the folder's dot-lock (when
/// `locking`), moves `new/` to `cur/`, lists `cur/`, drops vanished entries, gives
/// new messages UIDs in Courier order and rewrites the file if anything changed.
///
/// Listing inside the lock matters: a listing taken before another session moved
/// and numbered a message would otherwise drop that message's entry and number it
/// again. A read-only folder yields an unsaved database (`persisted == false`)
/// whose UIDVALIDITY is `time() − 1e9` when none existed.
pub fn scan(folder: &Path, locking: bool) -> Result<Scan> {
    let _lock = if locking {
        match DotLock::acquire(folder, LOCK_TIMEOUT) {
            Ok(l) => Some(l),
            Err(e) if is_read_only(&e) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let moved_from_new = match crate::delivery::move_new_to_cur(folder) {
        Ok(m) => m,
        Err(e) if is_read_only(&e) => Vec::new(),
        Err(e) => return Err(e),
    };
    let cur = folder.join("cur");
    let mut files: HashMap<String, String> = HashMap::new();
    for entry in fs::read_dir(&cur).at(&cur)? {
        let entry = entry.at(&cur)?;
        let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if fname.starts_with('.') {
            continue;
        }
        files.insert(name::basename(&fname).to_string(), fname);
    }
    let (mut db, salvaged, existed) = match UidDb::read(folder)? {
        Some((db, s)) => (db, s, true),
        None => (
            UidDb {
                uidvalidity: 0,
                next_uid: 1,
                entries: Vec::new(),
            },
            None,
            false,
        ),
    };
    let before = db.entries.len();
    db.entries.retain(|(_, b)| files.contains_key(b.as_str()));
    let mut changed = db.entries.len() != before || !existed || salvaged.is_some();
    let known: HashMap<&str, ()> = db.entries.iter().map(|(_, b)| (b.as_str(), ())).collect();
    let mut fresh: Vec<&String> = files
        .keys()
        .filter(|b| !known.contains_key(b.as_str()))
        .collect();
    fresh.sort_by(|a, b| name::compare(a, b));
    let mut assigned = Vec::with_capacity(fresh.len());
    for b in fresh {
        let uid = db.next_uid;
        db.next_uid += 1;
        db.entries.push((uid, b.clone()));
        assigned.push((uid, b.clone()));
        changed = true;
    }
    let mut persisted = true;
    if changed {
        match db.write(folder) {
            Ok(()) => {}
            Err(e) if is_read_only(&e) => {
                persisted = false;
                if db.uidvalidity == 0 {
                    db.uidvalidity = uidvalidity_for(SystemTime::now());
                }
            }
            Err(e) => return Err(e),
        }
    }
    let messages = db
        .entries
        .iter()
        .filter_map(|(uid, b)| files.get(b.as_str()).map(|f| (*uid, f.clone())))
        .collect();
    Ok(Scan {
        db,
        messages,
        assigned,
        moved_from_new,
        persisted,
        salvaged,
    })
}

fn is_read_only(e: &MaildirError) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EACCES) | Some(nix::libc::EROFS) | Some(nix::libc::EPERM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::maildir as folder;

    fn put(m: &Path, names: &[&str]) {
        for n in names {
            fs::write(m.join("cur").join(format!("{n}:2,")), b"x").unwrap();
        }
    }

    fn del(m: &Path, name: &str) {
        fs::remove_file(m.join("cur").join(format!("{name}:2,"))).unwrap();
    }

    #[test]
    fn parse_reads_courier_example() {
        let text = b"1 795297052 2\n1 1795297020.M466342P18600V000000000000FE00I000000000098E789.mx1,S=39\n";
        let (db, note) = UidDb::parse(text).unwrap();
        assert_eq!(db.uidvalidity, 795297052);
        assert_eq!(db.next_uid, 2);
        assert_eq!(db.entries.len(), 1);
        assert!(note.is_none());
        assert_eq!(db.render().as_bytes(), text);
    }

    #[test]
    fn truncated_tail_is_salvaged_keeping_uidvalidity_and_nextuid() {
        let (db, note) = UidDb::parse(b"1 77 10\n3 a\n4 b\n5 c").unwrap();
        assert_eq!((db.uidvalidity, db.next_uid), (77, 10));
        assert_eq!(db.entries, vec![(3, "a".into()), (4, "b".into())]);
        assert!(note.unwrap().contains("truncated"));
        let (db, _) = UidDb::parse(b"1 77 2\n3 a\n").unwrap();
        assert_eq!(db.next_uid, 4, "nextuid never below a known uid");
    }

    #[test]
    fn bad_header_is_renamed_aside_not_regenerated() {
        let (_t, m) = folder();
        for bad in [&b"2 77 10\n"[..], b"", b"1 77", b"garbage\n1 a\n"] {
            fs::write(m.join(UIDDB), bad).unwrap();
            match UidDb::read(&m) {
                Err(MaildirError::CorruptUidDb { saved, .. }) => {
                    assert_eq!(fs::read(&saved).unwrap(), bad);
                    fs::remove_file(saved).unwrap();
                }
                other => panic!("{bad:?}: {other:?}"),
            }
            assert!(!m.join(UIDDB).exists());
        }
    }

    #[test]
    fn sync_assigns_in_courier_order_and_keeps_uids() {
        let (_t, m) = folder();
        put(&m, &["20.M1P1.h", "3.M1P1.h", "100.M1P1.h"]);
        let s = scan(&m, true).unwrap();
        assert_eq!(
            s.assigned,
            vec![
                (1, "3.M1P1.h".into()),
                (2, "20.M1P1.h".into()),
                (3, "100.M1P1.h".into())
            ]
        );
        let uidv = s.db.uidvalidity;
        let mtime = fs::metadata(m.join(UIDDB)).unwrap().modified().unwrap();
        assert_eq!(uidv, uidvalidity_for(mtime));
        // One vanished, one new: UIDs never reused, UIDVALIDITY kept.
        del(&m, "3.M1P1.h");
        fs::write(m.join("new/5.M1P1.h"), b"y").unwrap();
        let s = scan(&m, true).unwrap();
        assert_eq!(s.assigned, vec![(4, "5.M1P1.h".into())]);
        assert_eq!(s.moved_from_new, vec!["5.M1P1.h:2,".to_string()]);
        assert_eq!(s.messages[0], (2, "20.M1P1.h:2,".to_string()));
        assert_eq!(s.db.uidvalidity, uidv);
        assert_eq!(s.db.uid_of("20.M1P1.h"), Some(2));
        assert_eq!(
            fs::read_to_string(m.join(UIDDB)).unwrap(),
            format!("1 {uidv} 5\n2 20.M1P1.h\n3 100.M1P1.h\n4 5.M1P1.h\n")
        );
    }

    #[test]
    fn unchanged_folder_does_not_rewrite() {
        let (_t, m) = folder();
        put(&m, &["1.a"]);
        scan(&m, false).unwrap();
        let before = fs::metadata(m.join(UIDDB)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let s = scan(&m, false).unwrap();
        assert!(s.assigned.is_empty());
        let after = fs::metadata(m.join(UIDDB)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino());
    }

    #[test]
    fn concurrent_syncs_never_hand_out_a_uid_twice() {
        let (_t, m) = folder();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..20 {
                        // Delivered to new/; whichever session scans first numbers it.
                        let name = format!("{}.M{}P{}.h", 1000 + i, t, i);
                        fs::write(m.join("new").join(&name), b"x").unwrap();
                        let s = scan(&m, true).unwrap();
                        mine.extend(s.assigned);
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<(u32, String)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        let uids: Vec<u32> = all.iter().map(|(u, _)| *u).collect();
        assert_eq!(
            uids,
            (1..=80).collect::<Vec<_>>(),
            "every UID handed out exactly once"
        );
        let mut basenames: Vec<&String> = all.iter().map(|(_, b)| b).collect();
        basenames.sort();
        basenames.dedup();
        assert_eq!(basenames.len(), 80, "every message got exactly one UID");
    }
}
