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

/// One message of a [`Scan`]: its UID and where its `cur/` name lies in the
/// scan's name buffer.
#[derive(Clone, Copy, Debug)]
struct Slot {
    uid: u32,
    start: u32,
    len: u32,
    base_len: u32,
}

/// The result of scanning a folder and reconciling its UID database.
///
/// Lean by design (a folder may hold hundreds of thousands of messages): every
/// `cur/` name lives in one buffer, each message costs 16 bytes besides its name.
#[derive(Clone, Debug)]
pub struct Scan {
    /// UIDVALIDITY of the folder.
    pub uidvalidity: u32,
    /// The next UID to hand out.
    pub next_uid: u32,
    names: String,
    slots: Vec<Slot>,
    /// Index in `slots` of the first message numbered by this scan.
    first_assigned: usize,
    /// cur/ names this scan moved from `new/` (they are `\Recent` for the caller).
    pub moved_from_new: Vec<String>,
    /// Whether the file on disk reflects the scan (false for a read-only folder).
    pub persisted: bool,
    /// A repaired tail of the file, for the caller to log.
    pub salvaged: Option<Salvaged>,
}

impl Scan {
    fn name(&self, s: &Slot) -> &str {
        &self.names[s.start as usize..(s.start + s.len) as usize]
    }

    fn base(&self, s: &Slot) -> &str {
        &self.names[s.start as usize..(s.start + s.base_len) as usize]
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the folder is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// `(uid, cur/ file name)` of every message, ascending UID.
    pub fn messages(&self) -> impl ExactSizeIterator<Item = (u32, &str)> + '_ {
        self.slots.iter().map(|s| (s.uid, self.name(s)))
    }

    /// The `cur/` file name of the message with UID `uid`, if present.
    pub fn name_of_uid(&self, uid: u32) -> Option<&str> {
        let i = self.slots.binary_search_by_key(&uid, |s| s.uid).ok()?;
        Some(self.name(&self.slots[i]))
    }

    /// `(uid, basename)` of every message, ascending UID.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (u32, &str)> + '_ {
        self.slots.iter().map(|s| (s.uid, self.base(s)))
    }

    /// `(uid, basename)` of the messages that got their UID in this scan.
    pub fn assigned(&self) -> impl ExactSizeIterator<Item = (u32, &str)> + '_ {
        self.slots[self.first_assigned..]
            .iter()
            .map(|s| (s.uid, self.base(s)))
    }

    /// The lowest UID given out by this scan (`next_uid` when none was).
    pub fn first_assigned_uid(&self) -> u32 {
        self.slots
            .get(self.first_assigned)
            .map_or(self.next_uid, |s| s.uid)
    }

    /// The database as a [`UidDb`] (one allocation per message).
    pub fn db(&self) -> UidDb {
        UidDb {
            uidvalidity: self.uidvalidity,
            next_uid: self.next_uid,
            entries: self.entries().map(|(u, b)| (u, b.to_string())).collect(),
        }
    }
}

/// FxHash (rustc's): basenames are made by delivery agents, not chosen by peers,
/// so a fast non-keyed hash is safe here.
#[derive(Default)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }

    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// A uiddb line as [`UidDb::parse`] accepts it, borrowing from the file.
fn parse_entry(line: &[u8]) -> Option<(u32, &str)> {
    let sp = line.iter().position(|&b| b == b' ')?;
    let uid: u32 = std::str::from_utf8(&line[..sp]).ok()?.parse().ok()?;
    let b = std::str::from_utf8(&line[sp + 1..]).ok()?;
    (uid > 0 && !b.is_empty() && !b.contains('/')).then_some((uid, b))
}

/// The uiddb file, parsed in place: header and `(uid, basename)` lines borrowing
/// from the bytes, with the same salvage rules as [`UidDb::parse`].
struct Parsed<'a> {
    uidvalidity: u32,
    next_uid: u32,
    entries: Vec<(u32, &'a str)>,
    note: Option<String>,
}

fn parse_in_place(text: &[u8]) -> std::result::Result<Parsed<'_>, String> {
    let Some(nl) = text.iter().position(|&b| b == b'\n') else {
        return Err("no complete header line".into());
    };
    let head = String::from_utf8_lossy(&text[..nl]);
    let (uidvalidity, mut next_uid) =
        parse_header(&head).ok_or_else(|| format!("unreadable header {head:?}"))?;
    let rest = &text[nl + 1..];
    let mut entries: Vec<(u32, &str)> = Vec::with_capacity(rest.len() / 48);
    let mut dropped = Vec::new();
    let mut lines = rest.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if lines.peek().is_none() {
            // Not followed by a line end.
            dropped.push(format!(
                "truncated last line {:?}",
                String::from_utf8_lossy(line)
            ));
            continue;
        }
        match parse_entry(line) {
            Some((uid, b)) if entries.last().is_none_or(|(last, _)| *last < uid) => {
                entries.push((uid, b))
            }
            _ => dropped.push(format!(
                "bad line {}: {:?}",
                i + 2,
                String::from_utf8_lossy(line)
            )),
        }
    }
    if let Some((last, _)) = entries.last()
        && *last >= next_uid
    {
        next_uid = last + 1;
    }
    Ok(Parsed {
        uidvalidity,
        next_uid,
        entries,
        note: (!dropped.is_empty()).then(|| dropped.join("; ")),
    })
}

/// Reads the uiddb bytes; `Ok(None)` when there is none. An unreadable header
/// renames the file aside, as [`UidDb::read`] does.
fn read_bytes(folder: &Path) -> Result<Option<Vec<u8>>> {
    let path = folder.join(UIDDB);
    match fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MaildirError::io(&path, e)),
    }
}

/// Writes `1 <uidv> <next>` and the `(uid, basename)` lines through `tmp/` and
/// rename, like [`UidDb::write`] (UIDVALIDITY from the tmp file when 0).
fn write_lines<'a>(
    folder: &Path,
    uidvalidity: &mut u32,
    next_uid: u32,
    entries: impl ExactSizeIterator<Item = (u32, &'a str)>,
) -> Result<()> {
    use std::fmt::Write as _;
    let uniq = format!("imapuid_{}", next_uniq());
    let mut tmp = TmpFile::create(folder, Some(&uniq), None, CONTROL_MODE)?;
    if *uidvalidity == 0 {
        let mtime = tmp
            .file()
            .metadata()
            .at(tmp.path())?
            .modified()
            .at(tmp.path())?;
        *uidvalidity = uidvalidity_for(mtime);
    }
    let mut text = String::with_capacity(32 + entries.len() * 64);
    let _ = writeln!(text, "1 {uidvalidity} {next_uid}");
    for (uid, b) in entries {
        let _ = writeln!(text, "{uid} {b}");
    }
    tmp.write_all(text.as_bytes())?;
    tmp.rename_to(&folder.join(UIDDB))
}

/// Scans `folder` the way Courier's imapd does: under the folder's dot-lock (when
/// `locking`), moves `new/` to `cur/`, lists `cur/`, drops vanished entries, gives
/// new messages UIDs in Courier order and rewrites the file if anything changed.
///
/// Listing inside the lock matters: a listing taken before another session moved
/// and numbered a message would otherwise drop that message's entry and number it
/// again. A read-only folder yields an unsaved database (`persisted == false`)
/// whose UIDVALIDITY is `time() − 1e9` when none existed. A basename listed twice
/// in the file keeps its first (lowest) UID.
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
    // Every cur/ name in one buffer: (start, len, base_len) per file.
    let cur = folder.join("cur");
    let mut names = String::new();
    let mut files: Vec<(u32, u32, u32)> = Vec::new();
    for entry in fs::read_dir(&cur).at(&cur)? {
        let entry = entry.at(&cur)?;
        let fname = entry.file_name();
        let Some(fname) = fname.to_str() else {
            continue;
        };
        if fname.starts_with('.') {
            continue;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(names.len()), u32::try_from(fname.len())) else {
            continue;
        };
        let base_len = name::basename(fname).len() as u32;
        names.push_str(fname);
        files.push((start, len, base_len));
    }
    names.shrink_to_fit();
    let base_of = |f: &(u32, u32, u32)| &names[f.0 as usize..(f.0 + f.2) as usize];
    // basename -> index in `files`.
    let mut index: std::collections::HashMap<&str, u32, FxBuild> =
        std::collections::HashMap::with_capacity_and_hasher(files.len(), FxBuild::default());
    for (i, f) in files.iter().enumerate() {
        index.insert(base_of(f), i as u32);
    }
    let bytes = read_bytes(folder)?;
    let existed = bytes.is_some();
    let parsed = match bytes.as_deref().map(parse_in_place) {
        Some(Ok(p)) => Some(p),
        Some(Err(reason)) => {
            // Rename aside and report, as UidDb::read does.
            let path = folder.join(UIDDB);
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let saved = folder.join(format!("{UIDDB}.damaged.{now}"));
            fs::rename(&path, &saved).at(&saved)?;
            return Err(MaildirError::CorruptUidDb {
                path,
                reason,
                saved,
            });
        }
        None => None,
    };
    let (mut uidvalidity, mut next_uid) = parsed
        .as_ref()
        .map_or((0, 1), |p| (p.uidvalidity, p.next_uid));
    let salvaged = parsed.as_ref().and_then(|p| {
        p.note.clone().map(|detail| Salvaged {
            path: folder.join(UIDDB),
            detail,
        })
    });
    let mut claimed = vec![false; files.len()];
    let mut slots: Vec<Slot> = Vec::with_capacity(files.len());
    let mut dropped = false;
    for &(uid, b) in parsed.as_ref().map_or(&[][..], |p| &p.entries[..]) {
        match index.get(b) {
            Some(&i) if !claimed[i as usize] => {
                claimed[i as usize] = true;
                let f = files[i as usize];
                slots.push(Slot {
                    uid,
                    start: f.0,
                    len: f.1,
                    base_len: f.2,
                });
            }
            _ => dropped = true,
        }
    }
    drop(index);
    let first_assigned = slots.len();
    // Courier's order (name::compare), with each name's leading number parsed once.
    let leading = |s: &str| -> u64 {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().unwrap_or(0)
    };
    let mut fresh: Vec<(u64, u32)> = (0..files.len() as u32)
        .filter(|&i| !claimed[i as usize])
        .map(|i| (leading(base_of(&files[i as usize])), i))
        .collect();
    fresh.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            base_of(&files[a.1 as usize])
                .as_bytes()
                .cmp(base_of(&files[b.1 as usize]).as_bytes())
        })
    });
    for (_, i) in fresh {
        let f = files[i as usize];
        slots.push(Slot {
            uid: next_uid,
            start: f.0,
            len: f.1,
            base_len: f.2,
        });
        next_uid = next_uid.saturating_add(1);
    }
    drop(files);
    drop(claimed);
    let changed = dropped || !existed || salvaged.is_some() || slots.len() > first_assigned;
    let mut persisted = true;
    if changed {
        let entries = slots.iter().map(|s| {
            (
                s.uid,
                &names[s.start as usize..(s.start + s.base_len) as usize],
            )
        });
        match write_lines(folder, &mut uidvalidity, next_uid, entries) {
            Ok(()) => {}
            Err(e) if is_read_only(&e) => {
                persisted = false;
                if uidvalidity == 0 {
                    uidvalidity = uidvalidity_for(SystemTime::now());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Scan {
        uidvalidity,
        next_uid,
        names,
        slots,
        first_assigned,
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
            s.assigned().collect::<Vec<_>>(),
            vec![(1, "3.M1P1.h"), (2, "20.M1P1.h"), (3, "100.M1P1.h")]
        );
        let uidv = s.uidvalidity;
        let mtime = fs::metadata(m.join(UIDDB)).unwrap().modified().unwrap();
        assert_eq!(uidv, uidvalidity_for(mtime));
        // One vanished, one new: UIDs never reused, UIDVALIDITY kept.
        del(&m, "3.M1P1.h");
        fs::write(m.join("new/5.M1P1.h"), b"y").unwrap();
        let s = scan(&m, true).unwrap();
        assert_eq!(s.assigned().collect::<Vec<_>>(), vec![(4, "5.M1P1.h")]);
        assert_eq!(s.moved_from_new, vec!["5.M1P1.h:2,".to_string()]);
        assert_eq!(s.messages().next(), Some((2, "20.M1P1.h:2,")));
        assert_eq!(s.uidvalidity, uidv);
        assert_eq!(s.db().uid_of("20.M1P1.h"), Some(2));
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
        assert_eq!(s.assigned().len(), 0);
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
                        mine.extend(s.assigned().map(|(u, b)| (u, b.to_string())));
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

    #[test]
    fn scan_drops_vanished_duplicate_and_bad_lines_and_salvages() {
        let (_t, m) = folder();
        put(&m, &["1.a", "2.b", "3.c"]);
        // 2.b listed twice, a vanished entry, a bad line and a truncated tail.
        fs::write(
            m.join(UIDDB),
            b"1 77 9\n2 1.a\n4 2.b\n5 gone\nxx\n6 2.b\n7 3.",
        )
        .unwrap();
        let s = scan(&m, true).unwrap();
        assert_eq!((s.uidvalidity, s.next_uid), (77, 10));
        assert_eq!(
            s.messages().collect::<Vec<_>>(),
            vec![(2, "1.a:2,"), (4, "2.b:2,"), (9, "3.c:2,")]
        );
        assert_eq!(s.assigned().collect::<Vec<_>>(), vec![(9, "3.c")]);
        assert_eq!(s.first_assigned_uid(), 9);
        assert_eq!(s.name_of_uid(4), Some("2.b:2,"));
        assert_eq!(s.name_of_uid(9), Some("3.c:2,"));
        assert_eq!(s.name_of_uid(5), None);
        assert!(s.salvaged.as_ref().unwrap().detail.contains("truncated"));
        assert_eq!(
            fs::read_to_string(m.join(UIDDB)).unwrap(),
            "1 77 10\n2 1.a\n4 2.b\n9 3.c\n"
        );
        // A header that cannot be read is set aside, never silently regenerated.
        fs::write(m.join(UIDDB), b"garbage\n").unwrap();
        assert!(matches!(
            scan(&m, true),
            Err(MaildirError::CorruptUidDb { .. })
        ));
        assert!(!m.join(UIDDB).exists());
    }

    #[test]
    fn scan_agrees_with_uiddb_parse_on_many_messages() {
        let (_t, m) = folder();
        let mut names: Vec<String> = (0..500)
            .map(|i| format!("{}.M{i}P1.h,S=1", 1000 + i % 7))
            .collect();
        names.extend(["x.M1", "99999999999999999999999.M2", "007.M3", "7.M3"].map(String::from));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        put(&m, &refs);
        let s = scan(&m, false).unwrap();
        let (db, note) = UidDb::parse(&fs::read(m.join(UIDDB)).unwrap()).unwrap();
        assert!(note.is_none());
        assert_eq!(db, s.db());
        let mut sorted = refs.clone();
        sorted.sort_by(|a, b| name::compare(a, b));
        assert_eq!(
            s.entries().map(|(_, b)| b).collect::<Vec<_>>(),
            sorted,
            "numbered in Courier order"
        );
        assert_eq!(scan(&m, false).unwrap().assigned().len(), 0);
    }
}
