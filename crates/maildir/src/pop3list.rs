//! `courierpop3dsizelist`, pop3d's cache of message sizes and UIDLs in the main
//! maildir (formats.md §10):
//!
//! ```text
//! /3 <nextuid> <uidv>
//! <cur filename> <size> <uid>:<uidv>:<utf8>
//! ```
//!
//! Use: [`SizeList::load`], then [`SizeList::reconcile`] with the names in `cur/`
//! (after the `new/` → `cur/` move), then [`SizeList::save_if_dirty`]. Entries are
//! matched to messages by basename (the part before `:`), so flag changes keep a
//! message's UIDL and do not cause a rewrite; new messages get `uid = nextuid++`
//! and the list's uidv; a brand-new list has uidv = `time()`.
//!
//! Reading follows Courier's `readpop3dlist` closely, quirks included (all observed
//! with Debian's courierpop3d 1.0.16):
//! - the header must start with `/` and give a version of 3 or 2 and a next UID;
//!   a version 2 list (entries `<uid>:<uidv>`) is read and rewritten as version 3;
//! - numbers the header did give are used even when the version is refused
//!   (`/9 100 200` gives new messages UIDs from 100 with uidv 200), the entries
//!   are then ignored;
//! - a header without a uidv leaves uidv = `time()`;
//! - only LF-terminated lines count; malformed lines are skipped.

use crate::delivery::write_control_file;
use crate::error::{MaildirError, Result};
use crate::name;
use std::cmp::Ordering;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Name of the size list in the main maildir.
pub const SIZELIST_FILE: &str = "courierpop3dsizelist";
/// The list version Courier writes.
pub const LIST_VERSION: u32 = 3;
/// Courier reads the header with `fgets(buf, 2047)`: at most 2046 bytes.
const HEADER_MAX: usize = 2046;
/// Courier keeps at most `sizeof(linebuf) - 20` bytes of an entry line.
const LINE_MAX: usize = 2028;

/// One message as pop3d knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pop3Entry {
    /// The `cur/` file name, including `:2,<flags>`.
    pub filename: String,
    /// The POP3 size (CRLF line ends counted).
    pub size: u64,
    /// The UID; 0 (never written by Courier 5) selects the old filename UIDL.
    pub uid: u64,
    /// The UID validity the UID was assigned under; 0 prints `UID<uid>` alone.
    pub uidv: u64,
    /// Whether the message has 8-bit headers (RFC 6856 handling).
    pub utf8: bool,
    /// Set by [`SizeList::reconcile`] for messages not in the stored list (not
    /// saved in the file).
    pub is_new: bool,
}

impl Pop3Entry {
    /// The UIDL string: `UID<uid>-<uidv>`, `UID<uid>` when uidv is 0, and for uid 0
    /// the basename with bytes outside `!`..`~` and `'`, `"`, `+` written as `+XX`
    /// (formats.md §10; Courier's `print_uidl`).
    pub fn uidl(&self) -> String {
        if self.uid != 0 {
            return if self.uidv != 0 {
                format!("UID{}-{}", self.uid, self.uidv)
            } else {
                format!("UID{}", self.uid)
            };
        }
        let mut out = String::new();
        for &b in name::basename(&self.filename).as_bytes() {
            if !(0x21..=0x7e).contains(&b) || matches!(b, b'\'' | b'"' | b'+') {
                out.push_str(&format!("+{b:02X}"));
            } else {
                out.push(char::from(b));
            }
        }
        out
    }
}

/// The UIDL Courier gives the single message it still shows when the list could not
/// be saved and no message was known: `ENOMEM-<mtime>-<dev>-<ino>`, each as 16
/// upper-case hex digits (formats.md §10).
pub fn enomem_uidl(meta: &fs::Metadata) -> String {
    format!(
        "ENOMEM-{:016X}-{:016X}-{:016X}",
        meta.mtime() as u64,
        meta.dev(),
        meta.ino()
    )
}

/// The contents of `courierpop3dsizelist` plus what a session learned since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeList {
    next_uid: u64,
    uidv: u64,
    entries: Vec<Pop3Entry>,
    dirty: bool,
}

/// A tiny `sscanf` for the two formats Courier uses: numeric conversions skip
/// leading white space and accept a sign; a space in the format skips any amount of
/// white space; other characters must match exactly.
struct Scan<'a> {
    s: &'a [u8],
}

impl Scan<'_> {
    fn skip_ws(&mut self) {
        while let Some((b, rest)) = self.s.split_first() {
            if !b.is_ascii_whitespace() && *b != 0x0b {
                break;
            }
            self.s = rest;
        }
    }

    fn literal(&mut self, c: u8) -> bool {
        match self.s.split_first() {
            Some((&b, rest)) if b == c => {
                self.s = rest;
                true
            }
            _ => false,
        }
    }

    /// `%lu` (strtoul: overflow saturates, a minus sign negates modulo 2^64) or,
    /// with `signed`, `%d`.
    fn number(&mut self) -> Option<(bool, u64)> {
        self.skip_ws();
        let mut neg = false;
        if let Some((&b, rest)) = self.s.split_first()
            && (b == b'+' || b == b'-')
        {
            neg = b == b'-';
            self.s = rest;
        }
        let digits = self.s.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let mut v: u64 = 0;
        let mut overflow = false;
        for &d in &self.s[..digits] {
            match v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            {
                Some(n) => v = n,
                None => overflow = true,
            }
        }
        self.s = &self.s[digits..];
        Some((neg, if overflow { u64::MAX } else { v }))
    }

    fn ulong(&mut self) -> Option<u64> {
        self.number()
            .map(|(neg, v)| if neg { v.wrapping_neg() } else { v })
    }

    fn int(&mut self) -> Option<i64> {
        self.number().map(|(neg, v)| {
            let v = v.min(i64::MAX as u64) as i64;
            if neg { -v } else { v }
        })
    }
}

/// Parses an entry line; `None` for lines Courier skips.
fn parse_entry(line: &[u8]) -> Option<Pop3Entry> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let last = line.iter().rposition(|&b| b == b' ')?;
    let q = line[..last].iter().rposition(|&b| b == b' ')?;
    let filename = &line[..q];
    if filename.is_empty() {
        return None;
    }
    // Courier appends ":0" so that a version 2 entry (no utf8 field) parses too.
    let mut fields = line[q + 1..].to_vec();
    fields.extend_from_slice(b":0");
    let mut sc = Scan { s: &fields };
    let size = sc.ulong()?;
    sc.skip_ws();
    let uid = sc.ulong()?;
    if !sc.literal(b':') {
        return None;
    }
    let uidv = sc.ulong()?;
    if !sc.literal(b':') {
        return None;
    }
    let utf8 = sc.int()?;
    Some(Pop3Entry {
        filename: String::from_utf8_lossy(filename).into_owned(),
        size,
        uid,
        uidv,
        utf8: utf8 != 0,
        is_new: false,
    })
}

fn by_name(a: &str, b: &str) -> Ordering {
    name::compare(a, b)
}

impl SizeList {
    /// An empty list as for a maildir without the file: next UID 1, uidv `now`.
    pub fn new(now: u64) -> SizeList {
        SizeList {
            next_uid: 1,
            uidv: now,
            entries: Vec::new(),
            dirty: false,
        }
    }

    /// Parses the file contents (see the module docs for the rules). `now` is the
    /// uidv used when the header does not supply one.
    pub fn parse(data: &[u8], now: u64) -> SizeList {
        let mut list = SizeList::new(now);
        let header_len = data
            .iter()
            .take(HEADER_MAX)
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(data.len().min(HEADER_MAX));
        let (header, body) = data.split_at(header_len);
        let Some(fields) = header.strip_prefix(b"/") else {
            return list;
        };
        // sscanf("%d %lu %lu"): values are stored as they are matched.
        let mut sc = Scan { s: fields };
        let Some(version) = sc.int() else {
            return list;
        };
        sc.skip_ws();
        let Some(next_uid) = sc.ulong() else {
            return list;
        };
        list.next_uid = next_uid;
        sc.skip_ws();
        if let Some(uidv) = sc.ulong() {
            list.uidv = uidv;
        }
        if version != i64::from(LIST_VERSION) && version != i64::from(LIST_VERSION) - 1 {
            return list;
        }
        list.dirty = version != i64::from(LIST_VERSION);
        let mut rest = body;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..nl.min(LINE_MAX)];
            rest = &rest[nl + 1..];
            if let Some(e) = parse_entry(line) {
                list.entries.push(e);
            }
        }
        list.entries
            .sort_by(|a, b| by_name(&a.filename, &b.filename));
        list
    }

    /// Reads `<maildir>/courierpop3dsizelist`; an absent file gives
    /// [`SizeList::new`] with the current time. Other read errors are returned
    /// (Courier would log them and rebuild every UIDL; a caller wanting exactly that
    /// can fall back to [`SizeList::new`]).
    pub fn load(maildir: &Path) -> Result<SizeList> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self::load_at(maildir, now)
    }

    /// [`SizeList::load`] with an explicit clock.
    pub fn load_at(maildir: &Path, now: u64) -> Result<SizeList> {
        let file = Self::path(maildir);
        match fs::read(&file) {
            Ok(data) => Ok(Self::parse(&data, now)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::new(now)),
            Err(e) => Err(MaildirError::io(&file, e)),
        }
    }

    /// The list file of the main maildir `maildir`.
    pub fn path(maildir: &Path) -> PathBuf {
        maildir.join(SIZELIST_FILE)
    }

    /// The file contents: header and one line per entry, in order.
    pub fn render(&self) -> Vec<u8> {
        let mut out = format!("/{} {} {}\n", LIST_VERSION, self.next_uid, self.uidv);
        for e in &self.entries {
            out.push_str(&format!(
                "{} {} {}:{}:{}\n",
                e.filename,
                e.size,
                e.uid,
                e.uidv,
                u8::from(e.utf8)
            ));
        }
        out.into_bytes()
    }

    /// The UID the next new message will get.
    pub fn next_uid(&self) -> u64 {
        self.next_uid
    }

    /// The list's UID validity (given to new messages).
    pub fn uidv(&self) -> u64 {
        self.uidv
    }

    /// The entries in Courier order (formats.md §3.7); after
    /// [`SizeList::reconcile`], exactly the session's messages, numbered from 1.
    pub fn entries(&self) -> &[Pop3Entry] {
        &self.entries
    }

    /// Whether the file needs to be rewritten.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Matches the stored entries with `cur_names` (the file names in `cur/`, in any
    /// order; they are sorted here the way Courier sorts them). Known messages keep
    /// their size, UID, uidv and utf8 flag and take their current name; unknown ones
    /// get the next UID, the list's uidv, and the size and utf8 flag returned by
    /// `measure` (called only for them). Entries whose message is gone are dropped.
    /// The list becomes dirty if anything but flags changed. On error the list is
    /// left as it was.
    pub fn reconcile<F>(&mut self, cur_names: &[String], mut measure: F) -> Result<()>
    where
        F: FnMut(&str) -> Result<(u64, bool)>,
    {
        let mut names: Vec<&String> = cur_names.iter().collect();
        names.sort_by(|a, b| by_name(a, b));
        let prev = &self.entries;
        let mut next_uid = self.next_uid;
        let mut dirty = self.dirty;
        let mut out = Vec::with_capacity(names.len());
        let mut n = 0;
        for name in names {
            while n < prev.len() && by_name(&prev[n].filename, name) == Ordering::Less {
                n += 1;
                dirty = true;
            }
            if n < prev.len() && by_name(&prev[n].filename, name) == Ordering::Equal {
                out.push(Pop3Entry {
                    filename: name.clone(),
                    is_new: false,
                    ..prev[n].clone()
                });
                n += 1;
            } else {
                let (size, utf8) = measure(name)?;
                out.push(Pop3Entry {
                    filename: name.clone(),
                    size,
                    uid: next_uid,
                    uidv: self.uidv,
                    utf8,
                    is_new: true,
                });
                next_uid += 1;
                dirty = true;
            }
        }
        if n < prev.len() {
            dirty = true;
        }
        self.entries = out;
        self.next_uid = next_uid;
        self.dirty = dirty;
        Ok(())
    }

    /// Writes the file through `tmp/` (unique part `pop3`) and `rename()`.
    pub fn save(&mut self, maildir: &Path) -> Result<()> {
        write_control_file(maildir, "pop3", &Self::path(maildir), &self.render())?;
        self.dirty = false;
        Ok(())
    }

    /// [`SizeList::save`] if [`SizeList::is_dirty`]; returns whether it wrote.
    pub fn save_if_dirty(&mut self, maildir: &Path) -> Result<bool> {
        if !self.dirty {
            return Ok(false);
        }
        self.save(maildir)?;
        Ok(true)
    }

    /// Courier's recovery when the list could not be saved: new messages are hidden
    /// for the session. If that would leave nothing although there are messages, the
    /// first message alone is kept and `true` is returned: it must then be shown with
    /// [`enomem_uidl`].
    pub fn hide_unsaved(&mut self) -> bool {
        let first = self.entries.first().cloned();
        self.entries.retain(|e| !e.is_new);
        match first {
            Some(first) if self.entries.is_empty() => {
                self.entries.push(first);
                true
            }
            _ => false,
        }
    }
}

/// How old a `tmp/` file must be before pop3d's login purge removes it (Courier:
/// 48 hours, by mtime; formats.md §3.6).
pub const TMP_PURGE_AGE: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

/// pop3d's `tmp/` purge at login: removes regular files of `<maildir>/tmp` whose
/// names do not start with `.` and whose **mtime** is older than `max_age` before
/// `now` (libmaildir's own cleanup uses ctime, see
/// [`crate::delivery::clean_tmp`]). Returns how many were removed; entries that
/// vanish meanwhile are ignored.
pub fn purge_tmp(
    maildir: &Path,
    max_age: std::time::Duration,
    now: std::time::SystemTime,
) -> Result<usize> {
    let tmpdir = maildir.join("tmp");
    let cutoff = now
        .checked_sub(max_age)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut removed = 0;
    let dir = fs::read_dir(&tmpdir).map_err(|e| MaildirError::io(&tmpdir, e))?;
    for entry in dir {
        let entry = entry.map_err(|e| MaildirError::io(&tmpdir, e))?;
        if entry.file_name().as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_file() && meta.mtime() < cutoff && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout;
    use std::io::Write;
    use std::process::{Command, Stdio};

    const NOW: u64 = 1_795_300_000;

    fn entry(filename: &str, size: u64, uid: u64, uidv: u64) -> Pop3Entry {
        Pop3Entry {
            filename: filename.to_string(),
            size,
            uid,
            uidv,
            utf8: false,
            is_new: false,
        }
    }

    /// (file, next uid, uidv, entries as "name size uid:uidv:utf8", dirty);
    /// the quirky ones were observed with Debian's courierpop3d.
    const PARSE_CASES: &[(&str, u64, u64, &[&str], bool)] = &[
        (
            "/3 3 1795297249\na:2, 61 1:1795297249:0\nb:2,S 57 2:1795297249:1\n",
            3,
            1795297249,
            &["a:2, 61 1:1795297249:0", "b:2,S 57 2:1795297249:1"],
            false,
        ),
        ("/9 100 200\na:2, 21 1:5:0\n", 100, 200, &[], false),
        (
            "/2 7\na:2, 21 5:44\nb:2, 19 6:44",
            7,
            NOW,
            &["a:2, 21 5:44:0"],
            true,
        ),
        ("garbage\n", 1, NOW, &[], false),
        ("/x 5 6\n", 1, NOW, &[], false),
        ("/3\n", 1, NOW, &[], false),
        (
            "/3 4 9\nno-fields\na b:2, 1 2:3:0\n 5 1:2:0\nbad 1 x:2:0\nc 1 2:3\nd  1  2:3:0\n",
            4,
            9,
            &["a b:2, 1 2:3:0", "c 1 2:3:0"],
            false,
        ),
        (
            "/3 4 9\nz 1 -1:2:0\n",
            4,
            9,
            &["z 1 18446744073709551615:2:0"],
            false,
        ),
    ];

    fn show(e: &Pop3Entry) -> String {
        format!(
            "{} {} {}:{}:{}",
            e.filename,
            e.size,
            e.uid,
            e.uidv,
            u8::from(e.utf8)
        )
    }

    #[test]
    fn parse_follows_readpop3dlist() {
        for (file, next, uidv, entries, dirty) in PARSE_CASES {
            let l = SizeList::parse(file.as_bytes(), NOW);
            let shown: Vec<String> = l.entries().iter().map(show).collect();
            assert_eq!(shown, *entries, "{file:?}");
            assert_eq!(
                (l.next_uid(), l.uidv(), l.is_dirty()),
                (*next, *uidv, *dirty),
                "{file:?}"
            );
        }
    }

    #[test]
    fn render_round_trips_a_version_3_file() {
        let file = "/3 3 1795297249\n1795297247.M440598P3285V000000000000FE00I0000000000994001.mx1,S=54:2, 61 1:1795297249:0\n1795297247.M443333P3287V000000000000FE00I0000000000994015.mx1,S=53:2, 57 2:1795297249:1\n";
        assert_eq!(
            SizeList::parse(file.as_bytes(), NOW).render(),
            file.as_bytes()
        );
    }

    const UIDL_CASES: &[(u64, u64, &str, &str)] = &[
        (1, 1795297249, "x:2,", "UID1-1795297249"),
        (4, 0, "x:2,", "UID4"),
        (0, 0, "1700000000.M1P1.host:2,S", "1700000000.M1P1.host"),
        (0, 7, "a+b'c\"d e\u{e9}:2,", "a+2Bb+27c+22d+20e+C3+A9"),
    ];

    #[test]
    fn uidl_forms() {
        for (uid, uidv, name, want) in UIDL_CASES {
            assert_eq!(entry(name, 1, *uid, *uidv).uidl(), *want);
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reconcile_matches_by_basename_and_numbers_new_messages() {
        let file = "/3 3 500\n100.a:2, 10 1:500:0\n200.b:2, 20 2:400:1\n";
        let mut l = SizeList::parse(file.as_bytes(), NOW);
        // Flags changed on 100.a: still the same message, nothing to save.
        l.reconcile(&names(&["200.b:2,", "100.a:2,S"]), |_| panic!("not new"))
            .unwrap();
        assert!(!l.is_dirty());
        assert_eq!(l.entries()[0].filename, "100.a:2,S");
        assert_eq!(l.entries()[1].uidl(), "UID2-400");
        assert!(l.entries()[1].utf8);

        // 100.a deleted, two new messages (one sorting before the old one).
        let mut measured = Vec::new();
        l.reconcile(&names(&["300.c:2,", "200.b:2,", "150.z:2,"]), |n| {
            measured.push(n.to_string());
            Ok((n.len() as u64, false))
        })
        .unwrap();
        assert!(l.is_dirty());
        assert_eq!(measured, vec!["150.z:2,", "300.c:2,"]);
        let shown: Vec<String> = l.entries().iter().map(show).collect();
        assert_eq!(
            shown,
            vec![
                "150.z:2, 8 3:500:0",
                "200.b:2, 20 2:400:1",
                "300.c:2, 8 4:500:0"
            ]
        );
        assert_eq!(l.next_uid(), 5);
        assert_eq!(
            l.entries().iter().map(|e| e.is_new).collect::<Vec<_>>(),
            vec![true, false, true]
        );
    }

    #[test]
    fn reconcile_error_leaves_list_unchanged() {
        let mut l = SizeList::parse(b"/3 2 9\n1.a:2, 5 1:9:0\n", NOW);
        let before = l.clone();
        let err = l.reconcile(&names(&["2.b:2,"]), |n| {
            Err(MaildirError::NotFound {
                name: n.to_string(),
            })
        });
        assert!(err.is_err());
        assert_eq!(l, before);
    }

    #[test]
    fn save_only_when_dirty_and_load_back() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        layout::create(&m, layout::Sharing::Private, false).unwrap();
        let mut l = SizeList::load_at(&m, NOW).unwrap();
        assert_eq!(l, SizeList::new(NOW));
        l.reconcile(&names(&["1.a:2,"]), |_| Ok((7, true))).unwrap();
        assert!(l.save_if_dirty(&m).unwrap());
        assert!(!l.save_if_dirty(&m).unwrap());
        assert_eq!(
            fs::read_to_string(SizeList::path(&m)).unwrap(),
            format!("/3 2 {NOW}\n1.a:2, 7 1:{NOW}:1\n")
        );
        let again = SizeList::load_at(&m, NOW + 5).unwrap();
        assert_eq!(again.entries()[0].uidl(), format!("UID1-{NOW}"));
        assert!(fs::read_dir(m.join("tmp")).unwrap().next().is_none());
    }

    #[test]
    fn hide_unsaved_keeps_known_or_first_message() {
        let mut l = SizeList::parse(b"/3 2 9\n2.b:2, 5 1:9:0\n", NOW);
        l.reconcile(&names(&["1.a:2,", "2.b:2,"]), |_| Ok((1, false)))
            .unwrap();
        assert!(!l.hide_unsaved());
        assert_eq!(l.entries().len(), 1);
        assert_eq!(l.entries()[0].filename, "2.b:2,");

        let mut l = SizeList::new(NOW);
        l.reconcile(&names(&["1.a:2,", "2.b:2,"]), |_| Ok((1, false)))
            .unwrap();
        assert!(l.hide_unsaved());
        assert_eq!(l.entries().len(), 1);
        assert_eq!(l.entries()[0].filename, "1.a:2,");
        let meta = fs::metadata("/").unwrap();
        let u = enomem_uidl(&meta);
        assert!(u.starts_with("ENOMEM-") && u.len() == 7 + 3 * 16 + 2, "{u}");
    }

    // ---- differential: Debian's courierpop3d ----

    const COURIERPOP3D: &str = "/usr/lib/courier/courier/courierpop3d";

    /// Runs courierpop3d on `maildir` with `commands`; returns its stdout.
    fn courierpop3d(maildir: &Path, commands: &str) -> String {
        let mut child = Command::new(COURIERPOP3D)
            .arg(maildir)
            .env("TCPREMOTEIP", "127.0.0.1")
            .env("TCPREMOTEPORT", "1")
            .env("AUTHENTICATED", "tester")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(commands.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The values of a multi-line response (`n value` lines up to `.`) whose status
    /// line is the first one satisfying `status`.
    fn listing(transcript: &str, status: impl Fn(&str) -> bool) -> Vec<String> {
        transcript
            .split("\r\n")
            .skip_while(|l| !status(l))
            .skip(1)
            .take_while(|l| *l != ".")
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect()
    }

    fn uidl_listing(transcript: &str) -> Vec<String> {
        listing(transcript, |l| l == "+OK")
    }

    fn cur_names(m: &Path) -> Vec<String> {
        fs::read_dir(m.join("cur"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    fn copy_tree(from: &Path, to: &Path) {
        fs::create_dir(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_tree(&e.path(), &dest);
            } else {
                fs::copy(e.path(), &dest).unwrap();
            }
        }
    }

    /// Courier's POP3 size for these simple test messages: bytes plus one CR per LF.
    fn pop3_size(m: &Path, cur: &str) -> Result<(u64, bool)> {
        let data = fs::read(m.join("cur").join(cur)).unwrap();
        let lf = data.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok((data.len() as u64 + lf, false))
    }

    #[test]
    fn differential_against_debian_courierpop3d() {
        if !Path::new(COURIERPOP3D).exists() {
            eprintln!("skipped: {COURIERPOP3D} not installed");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let theirs = t.path().join("theirs");
        layout::create(&theirs, layout::Sharing::Private, false).unwrap();
        fs::write(
            theirs.join("new/1700000000.M1P1.host"),
            "Subject: a\n\nhello\n",
        )
        .unwrap();
        fs::write(
            theirs.join("new/1700000001.M2P2.host,S=17"),
            "Subject: b\n\nworld",
        )
        .unwrap();
        fs::write(
            theirs.join("new/1700000002.M3P3.host"),
            "Subject: caf\u{e9}\n\nbody\n",
        )
        .unwrap();
        let first = courierpop3d(&theirs, "UIDL\r\nLIST\r\nQUIT\r\n");
        let written = fs::read(SizeList::path(&theirs)).unwrap();

        // 1. Read what Courier wrote: same UIDLs and sizes, byte-exact re-rendering,
        //    nothing to measure or save.
        let mut ours = SizeList::load(&theirs).unwrap();
        assert_eq!(ours.render(), written);
        ours.reconcile(&cur_names(&theirs), |n| panic!("{n} should be known"))
            .unwrap();
        assert!(!ours.is_dirty());
        let uidls: Vec<String> = ours.entries().iter().map(Pop3Entry::uidl).collect();
        let sizes: Vec<String> = ours.entries().iter().map(|e| e.size.to_string()).collect();
        assert_eq!(uidls.len(), 3);
        assert_eq!(uidls, uidl_listing(&first), "{first}");
        assert_eq!(
            sizes,
            listing(&first, |l| l.starts_with("+OK POP3 clients")),
            "{first}"
        );
        assert!(
            ours.entries()[2].utf8,
            "8-bit header flag read from Courier's file"
        );

        // 2. Same change on two copies: one message deleted, one delivered, one
        //    flagged. Courier and we must assign the same UIDs and write the same file.
        let mine = t.path().join("mine");
        copy_tree(&theirs, &mine);
        for m in [&theirs, &mine] {
            fs::remove_file(m.join("cur/1700000001.M2P2.host,S=17:2,")).unwrap();
            fs::write(m.join("cur/1700000005.M5P5.host:2,"), "Subject: n\n\nnew\n").unwrap();
            fs::rename(
                m.join("cur/1700000000.M1P1.host:2,"),
                m.join("cur/1700000000.M1P1.host:2,S"),
            )
            .unwrap();
        }
        let second = courierpop3d(&theirs, "UIDL\r\nQUIT\r\n");
        let mut ours = SizeList::load(&mine).unwrap();
        ours.reconcile(&cur_names(&mine), |n| pop3_size(&mine, n))
            .unwrap();
        assert!(ours.save_if_dirty(&mine).unwrap());
        let uidls: Vec<String> = ours.entries().iter().map(Pop3Entry::uidl).collect();
        assert_eq!(uidls.len(), 3);
        assert!(uidls[2].starts_with("UID4-"), "{uidls:?}");
        assert_eq!(uidls, uidl_listing(&second), "{second}");
        assert_eq!(
            fs::read_to_string(SizeList::path(&mine)).unwrap(),
            fs::read_to_string(SizeList::path(&theirs)).unwrap()
        );

        // 3. Courier reads what we wrote.
        let third = courierpop3d(&mine, "UIDL\r\nQUIT\r\n");
        assert_eq!(uidl_listing(&third), uidls);
    }

    #[test]
    fn purge_tmp_removes_old_files_by_mtime_only() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        layout::create(&m, layout::Sharing::Private, false).unwrap();
        fs::write(m.join("tmp/old"), "x").unwrap();
        fs::write(m.join("tmp/.hidden"), "x").unwrap();
        fs::write(m.join("tmp/fresh"), "x").unwrap();
        let now = std::time::SystemTime::now();
        let later = now + TMP_PURGE_AGE + std::time::Duration::from_secs(10);
        // Make "fresh" look young at `later` by pushing its mtime forward.
        fs::File::options()
            .write(true)
            .open(m.join("tmp/fresh"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(purge_tmp(&m, TMP_PURGE_AGE, later).unwrap(), 1);
        let mut left: Vec<String> = fs::read_dir(m.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec![".hidden", "fresh"]);
    }
}
