//! The selected folder: message sequence numbers, UIDs, file names, `\Recent`,
//! keywords, and reconciling with what other sessions and deliveries did.

use courier_maildir::keywords::{KeywordStore, Options as KwOptions};
use courier_maildir::name::{self, Flag, Flags};
use courier_maildir::uiddb;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One message of the selected folder: 20 bytes, its file name lives in the
/// folder's [`Names`] buffer.
#[derive(Debug, Clone, Copy)]
pub struct Msg {
    /// Its UID.
    pub uid: u32,
    /// RFC822.SIZE once known (CRLF size), 0 = not computed.
    pub size: u32,
    start: u32,
    len: u16,
    base_len: u16,
    /// `\Recent` for this session.
    pub recent: bool,
}

/// The `cur/` file names (with the `:2,` flags) of the selected folder's
/// messages, in one buffer; a rename appends the new name, and the buffer is
/// compacted when more than half of it is old names.
#[derive(Debug, Default)]
pub struct Names {
    buf: String,
    garbage: usize,
}

impl Names {
    /// A message entry for file name `n` (file names are at most 255 bytes).
    fn push(&mut self, uid: u32, n: &str, recent: bool) -> Msg {
        let mut m = Msg {
            uid,
            size: 0,
            start: 0,
            len: 0,
            base_len: 0,
            recent,
        };
        self.put(&mut m, n);
        m
    }

    fn put(&mut self, m: &mut Msg, n: &str) {
        let (Ok(start), Ok(len), Ok(base_len)) = (
            u32::try_from(self.buf.len()),
            u16::try_from(n.len()),
            u16::try_from(name::basename(n).len()),
        ) else {
            return;
        };
        self.buf.push_str(n);
        *m = Msg {
            start,
            len,
            base_len,
            ..*m
        };
    }

    /// The file name of `m`.
    pub fn name(&self, m: &Msg) -> &str {
        let s = m.start as usize;
        self.buf.get(s..s + usize::from(m.len)).unwrap_or("")
    }

    /// The basename of `m`.
    pub fn base(&self, m: &Msg) -> &str {
        let s = m.start as usize;
        self.buf.get(s..s + usize::from(m.base_len)).unwrap_or("")
    }

    /// Gives `m` the file name `n`. When the buffer is full, old names are dropped
    /// first (compaction) and a quarter of the live size is added as headroom, so
    /// the buffer stays near 1.25 times the live names instead of doubling.
    fn rename(&mut self, msgs: &mut [Msg], i: usize, n: &str) {
        self.garbage += usize::from(msgs[i].len);
        if self.buf.len() + n.len() > self.buf.capacity() {
            let live = self.buf.len() - self.garbage.min(self.buf.len());
            let want = live + live / 4 + n.len() + 4096;
            if self.garbage > 0 {
                let old = std::mem::replace(&mut self.buf, String::with_capacity(want));
                self.garbage = 0;
                for (k, m) in msgs.iter_mut().enumerate() {
                    if k == i {
                        continue;
                    }
                    let s = m.start as usize;
                    let n = old.get(s..s + usize::from(m.len)).unwrap_or("");
                    self.put(m, n);
                }
            } else {
                self.buf.reserve_exact(want - self.buf.len());
            }
        }
        self.put(&mut msgs[i], n);
    }
}

/// What changed in a rescan, as untagged responses to send.
#[derive(Debug, Default)]
pub struct Changes {
    /// Sequence numbers expunged, in the order to report them (each relative to the
    /// numbering after the previous ones).
    pub expunged: Vec<u32>,
    /// Messages whose flags changed (sequence numbers after expunges).
    pub flag_changes: Vec<u32>,
    /// New EXISTS count when messages were added.
    pub exists: Option<u32>,
    /// RECENT count when new messages arrived.
    pub recent: Option<u32>,
    /// Whether the keyword set grew (FLAGS must be sent again).
    pub new_keywords: bool,
}

/// The selected folder.
pub struct Mailbox {
    /// The folder directory.
    pub path: PathBuf,
    /// The IMAP name it was selected by (UTF-8).
    pub name: String,
    /// EXAMINE or no write permission.
    pub read_only: bool,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// Next UID.
    pub next_uid: u32,
    /// The messages, ascending UID.
    pub msgs: Vec<Msg>,
    /// Their file names.
    pub names: Names,
    /// Keywords: opened when the folder has any (or a STORE sets one), so a
    /// folder without keywords costs no memory for them.
    pub kw: Option<KeywordStore>,
    /// IMAP_KEYWORDS is on.
    pub keywords_enabled: bool,
    /// Keyword names announced in the last FLAGS response.
    pub announced: Vec<Vec<u8>>,
    /// Whether to lock `tmp/courier.lock` when scanning.
    pub locking: bool,
    /// Directory mtimes after the last scan, when they prove nothing changed since.
    stamps: Option<Stamps>,
    /// The size cache file was read.
    sizes_loaded: bool,
    /// Sizes computed since the cache file was last written.
    pub sizes_dirty: usize,
}

/// The folder's RFC822.SIZE cache: `<basename> <size with CRLF line ends>` lines.
/// Message files never change once delivered, so an entry stays right for as long
/// as its file exists; entries of vanished messages are dropped on the next write.
/// Private to this server: Courier ignores unknown files in a folder.
pub const SIZE_CACHE: &str = "courierimapsizecache";

/// mtimes (seconds, nanoseconds) of `new/`, `cur/` and `courierimapkeywords/`.
type Stamps = [(i64, i64); 3];

/// Whether `courierimapkeywords/` holds anything.
fn has_keyword_files(path: &Path) -> bool {
    std::fs::read_dir(path.join(courier_maildir::keywords::DIR_NAME))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

fn stamps(path: &Path) -> Stamps {
    use std::os::unix::fs::MetadataExt;
    let one = |p: PathBuf| {
        std::fs::metadata(p)
            .map(|m| (m.mtime(), m.mtime_nsec()))
            .unwrap_or((0, 0))
    };
    [
        one(path.join("new")),
        one(path.join("cur")),
        one(path.join(courier_maildir::keywords::DIR_NAME)),
    ]
}

/// The stamps taken after a scan that started at `start`, if they can be trusted:
/// every mtime is clearly older than the scan, so any later change (even with a
/// coarse file-system clock) gives a different mtime.
fn trusted_stamps(path: &Path, start: std::time::SystemTime) -> Option<Stamps> {
    let st = stamps(path);
    let limit = start.checked_sub(std::time::Duration::from_millis(200))?;
    let limit = limit.duration_since(std::time::UNIX_EPOCH).ok()?;
    let limit = (limit.as_secs() as i64, i64::from(limit.subsec_nanos()));
    st.iter().all(|&t| t < limit).then_some(st)
}

impl Mailbox {
    /// Opens and scans `path`.
    pub fn open(
        path: &Path,
        name: &str,
        read_only: bool,
        keywords: bool,
        locking: bool,
    ) -> Result<Mailbox, courier_maildir::MaildirError> {
        let start = std::time::SystemTime::now();
        let scan = uiddb::scan(path, locking)?;
        // Courier's \Recent: the messages this session saw first (numbered them),
        // which are the last ones.
        let first_new = scan.first_assigned_uid();
        let mut names = Names::default();
        names
            .buf
            .reserve(scan.messages().map(|(_, n)| n.len()).sum());
        let msgs: Vec<Msg> = scan
            .messages()
            .map(|(uid, n)| names.push(uid, n, uid >= first_new))
            .collect();
        drop(scan.moved_from_new);
        let kw = if keywords && has_keyword_files(path) {
            KeywordStore::open_for(
                path,
                KwOptions::IMAP,
                msgs.iter().map(|m| names.base(m).as_bytes()),
            )
            .ok()
        } else {
            None
        };
        let read_only = read_only || !scan.persisted;
        let mut mb = Mailbox {
            path: path.to_path_buf(),
            name: name.to_string(),
            read_only,
            uidvalidity: scan.uidvalidity,
            next_uid: scan.next_uid,
            msgs,
            names,
            kw,
            keywords_enabled: keywords,
            announced: Vec::new(),
            locking,
            stamps: None,
            sizes_loaded: false,
            sizes_dirty: 0,
        };
        mb.stamps = trusted_stamps(path, start);
        mb.announced = mb.keyword_names();
        Ok(mb)
    }

    /// Opens the keyword store if keywords are enabled and it is not open yet.
    pub fn ensure_kw(&mut self) {
        if self.keywords_enabled && self.kw.is_none() {
            self.kw = KeywordStore::open_for(
                &self.path,
                KwOptions::IMAP,
                self.msgs.iter().map(|m| self.names.base(m).as_bytes()),
            )
            .ok();
        }
    }

    /// Keyword names in use (for FLAGS / PERMANENTFLAGS), Courier's order.
    pub fn keyword_names(&self) -> Vec<Vec<u8>> {
        match &self.kw {
            Some(k) => {
                let mut v: Vec<Vec<u8>> =
                    k.keyword_names().into_iter().map(<[u8]>::to_vec).collect();
                v.sort();
                v
            }
            None => Vec::new(),
        }
    }

    /// Number of messages.
    pub fn exists(&self) -> u32 {
        self.msgs.len() as u32
    }

    /// Number of `\Recent` messages.
    pub fn recent_count(&self) -> u32 {
        self.msgs.iter().filter(|m| m.recent).count() as u32
    }

    /// The path of message `i` (0-based).
    pub fn file(&self, i: usize) -> PathBuf {
        self.path.join("cur").join(self.name(i))
    }

    /// The `cur/` file name of message `i`.
    pub fn name(&self, i: usize) -> &str {
        self.names.name(&self.msgs[i])
    }

    /// The basename of message `i`.
    pub fn base(&self, i: usize) -> &str {
        self.names.base(&self.msgs[i])
    }

    /// The flags in message `i`'s file name.
    pub fn flags(&self, i: usize) -> Flags {
        Flags::from_file_name(self.name(i))
    }

    /// Every message's basename, in order.
    pub fn bases(&self) -> impl Iterator<Item = &str> + '_ {
        self.msgs.iter().map(|m| self.names.base(m))
    }

    /// Every message's flags, in order.
    pub fn all_flags(&self) -> impl Iterator<Item = Flags> + '_ {
        self.msgs
            .iter()
            .map(|m| Flags::from_file_name(self.names.name(m)))
    }

    /// 0-based index of UID `uid`.
    pub fn index_of_uid(&self, uid: u32) -> Option<usize> {
        self.msgs.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Keywords of message `i`.
    pub fn keywords(&self, i: usize) -> Vec<Vec<u8>> {
        match &self.kw {
            Some(k) => k
                .keywords(self.base(i).as_bytes())
                .map(<[u8]>::to_vec)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Writes `(\Draft \Flagged ... keywords)` for message `i`, Courier's order.
    pub fn write_flags(&self, i: usize, out: &mut Vec<u8>) {
        let m = &self.msgs[i];
        let f = self.flags(i);
        out.push(b'(');
        let mut first = true;
        let mut put = |out: &mut Vec<u8>, s: &[u8]| {
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(s);
        };
        for (flag, text) in [
            (Flag::Draft, &b"\\Draft"[..]),
            (Flag::Flagged, b"\\Flagged"),
            (Flag::Replied, b"\\Answered"),
            (Flag::Seen, b"\\Seen"),
            (Flag::Trashed, b"\\Deleted"),
        ] {
            if f.contains(flag) {
                put(out, text);
            }
        }
        if m.recent {
            put(out, b"\\Recent");
        }
        if let Some(k) = &self.kw {
            for name in k.keywords(self.base(i).as_bytes()) {
                put(out, name);
            }
        }
        out.push(b')');
    }

    /// Re-reads the folder: new messages, vanished ones, flag changes by others.
    /// `allow_expunge` false keeps vanished messages (their numbers stay valid) until
    /// a point where EXPUNGE responses are allowed.
    pub fn rescan(
        &mut self,
        allow_expunge: bool,
    ) -> Result<Changes, courier_maildir::MaildirError> {
        if let Some(old) = self.stamps
            && old == stamps(&self.path)
        {
            return Ok(Changes::default());
        }
        let start = std::time::SystemTime::now();
        let scan = uiddb::scan(&self.path, self.locking)?;
        let mut ch = Changes::default();
        if scan.uidvalidity != self.uidvalidity {
            // The folder was recreated under us; nothing sensible but to report all
            // old messages gone and the new ones present.
            self.uidvalidity = scan.uidvalidity;
        }
        let first_new = scan.first_assigned_uid();
        // Expunges in ascending order, each number valid after the previous ones
        // (Courier's order).
        if allow_expunge && self.msgs.iter().any(|m| scan.name_of_uid(m.uid).is_none()) {
            let mut kept = Vec::with_capacity(self.msgs.len());
            let mut removed = 0u32;
            for (i, m) in std::mem::take(&mut self.msgs).into_iter().enumerate() {
                if scan.name_of_uid(m.uid).is_some() {
                    kept.push(m);
                } else {
                    if let Some(k) = &mut self.kw {
                        k.forget(self.names.base(&m).as_bytes());
                    }
                    self.names.garbage += usize::from(m.len);
                    ch.expunged.push(i as u32 + 1 - removed);
                    removed += 1;
                }
            }
            self.msgs = kept;
        }
        // Flag changes.
        for i in 0..self.msgs.len() {
            if let Some(n) = scan.name_of_uid(self.msgs[i].uid)
                && n != self.name(i)
            {
                if Flags::from_file_name(n) != self.flags(i) {
                    ch.flag_changes.push(i as u32 + 1);
                }
                self.names.rename(&mut self.msgs, i, n);
            }
        }
        // New messages.
        let max = self.msgs.last().map_or(0, |m| m.uid);
        let old_count = self.msgs.len();
        for (uid, n) in scan.messages() {
            if uid > max {
                if let Some(k) = &mut self.kw {
                    let _ = k.insert_message(name::basename(n).as_bytes());
                }
                let m = self.names.push(uid, n, uid >= first_new);
                self.msgs.push(m);
            }
        }
        self.next_uid = scan.next_uid;
        if self.msgs.len() != old_count || !ch.expunged.is_empty() {
            ch.exists = Some(self.exists());
            ch.recent = Some(self.recent_count());
        }
        // Keywords appeared (another session, an APPEND): open the store now; every
        // message with keywords is then news.
        if self.keywords_enabled && self.kw.is_none() && has_keyword_files(&self.path) {
            self.ensure_kw();
            if let Some(k) = &self.kw {
                for (i, m) in self.msgs.iter().enumerate().take(old_count) {
                    if k.keywords(self.names.base(m).as_bytes()).len() > 0
                        && !ch.flag_changes.contains(&(i as u32 + 1))
                    {
                        ch.flag_changes.push(i as u32 + 1);
                    }
                }
                ch.flag_changes.sort_unstable();
            }
        }
        // Keyword changes by others: compare each message's keywords before and
        // after re-reading the files.
        if let Some(k) = &mut self.kw {
            let before: HashMap<Vec<u8>, Vec<Vec<u8>>> = k
                .messages()
                .filter(|(_, kw)| kw.len() > 0)
                .map(|(m, kw)| (m.to_vec(), kw.map(<[u8]>::to_vec).collect()))
                .collect();
            if k.refresh().unwrap_or(false) {
                let seen: HashSet<u32> = ch.flag_changes.iter().copied().collect();
                // Messages new in this scan are not reported: the client fetches
                // their flags anyway.
                for (i, m) in self.msgs.iter().enumerate().take(old_count) {
                    let now_kw: Vec<Vec<u8>> = k
                        .keywords(self.names.base(m).as_bytes())
                        .map(<[u8]>::to_vec)
                        .collect();
                    let old_kw = before
                        .get(self.names.base(m).as_bytes())
                        .cloned()
                        .unwrap_or_default();
                    if now_kw != old_kw && !seen.contains(&(i as u32 + 1)) {
                        ch.flag_changes.push(i as u32 + 1);
                    }
                }
                ch.flag_changes.sort_unstable();
            }
        }
        // The keyword list grew or shrank (new keywords, expunged last users).
        let names = self.keyword_names();
        if names != self.announced {
            ch.new_keywords = true;
            self.announced = names;
        }
        // Vanished messages kept for now must be looked at again next time.
        self.stamps = if allow_expunge || self.msgs.len() == scan.len() {
            trusted_stamps(&self.path, start)
        } else {
            None
        };
        Ok(ch)
    }

    /// Renames message `i` to carry `flags`. Finds the file again when another
    /// session renamed it meanwhile. Returns false when the message is gone.
    pub fn set_flags(&mut self, i: usize, flags: &Flags) -> bool {
        self.stamps = None;
        let base = self.base(i).to_string();
        let new_name = flags.file_name(&base);
        if self.name(i) == new_name {
            return true;
        }
        let cur = self.path.join("cur");
        for _ in 0..3 {
            let from = cur.join(self.name(i));
            match std::fs::rename(&from, cur.join(&new_name)) {
                Ok(()) => {
                    self.names.rename(&mut self.msgs, i, &new_name);
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match find_by_base(&cur, &base) {
                        Some(n) => self.names.rename(&mut self.msgs, i, &n),
                        None => return false,
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Fills in sizes from the cache file (once per selection).
    pub fn load_sizes(&mut self) {
        if self.sizes_loaded {
            return;
        }
        self.sizes_loaded = true;
        let Ok(text) = std::fs::read(self.path.join(SIZE_CACHE)) else {
            return;
        };
        let mut map: HashMap<&[u8], u32> = HashMap::new();
        for line in text.split(|&c| c == b'\n') {
            let mut it = line.rsplitn(2, |&c| c == b' ');
            let (Some(size), Some(base)) = (it.next(), it.next()) else {
                continue;
            };
            if let Some(n) = std::str::from_utf8(size)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            {
                map.insert(base, n);
            }
        }
        for m in &mut self.msgs {
            if m.size == 0
                && let Some(&n) = map.get(self.names.base(m).as_bytes())
            {
                m.size = n;
            }
        }
    }

    /// Writes the size cache when sizes were computed since the last write.
    pub fn save_sizes(&mut self) {
        if self.sizes_dirty == 0 {
            return;
        }
        self.sizes_dirty = 0;
        let mut out = Vec::with_capacity(self.msgs.len() * 64);
        for m in &self.msgs {
            if m.size != 0 {
                out.extend_from_slice(self.names.base(m).as_bytes());
                out.extend_from_slice(format!(" {}\n", m.size).as_bytes());
            }
        }
        let _ = courier_maildir::delivery::write_control_file(
            &self.path,
            "imapsizes",
            &self.path.join(SIZE_CACHE),
            &out,
        );
    }

    /// Finds the current file name of message `i` when its file vanished (renamed
    /// by another session). Updates the entry; false when it is really gone.
    pub fn refind(&mut self, i: usize) -> bool {
        let cur = self.path.join("cur");
        let base = self.base(i).to_string();
        match find_by_base(&cur, &base) {
            Some(n) => {
                self.names.rename(&mut self.msgs, i, &n);
                true
            }
            None => false,
        }
    }
}

/// The `cur/` entry with basename `base`, if any.
pub fn find_by_base(cur: &Path, base: &str) -> Option<String> {
    let rd = std::fs::read_dir(cur).ok()?;
    for e in rd.flatten() {
        let n = e.file_name();
        let Some(n) = n.to_str() else { continue };
        if name::basename(n) == base {
            return Some(n.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        for d in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(m.join(d)).unwrap();
        }
        for i in 1..=5 {
            std::fs::write(m.join("cur").join(format!("10{i}.M1P1.h:2,")), "x\n").unwrap();
        }
        (t, m)
    }

    #[test]
    fn rescan_reports_changes_in_order() {
        let (_t, m) = folder();
        let mut mb = Mailbox::open(&m, "INBOX", false, true, true).unwrap();
        assert_eq!(mb.exists(), 5);
        assert_eq!(mb.recent_count(), 5);
        // Another session: expunges 2 and 4, flags 5, delivers one.
        std::fs::remove_file(m.join("cur/102.M1P1.h:2,")).unwrap();
        std::fs::remove_file(m.join("cur/104.M1P1.h:2,")).unwrap();
        std::fs::rename(m.join("cur/105.M1P1.h:2,"), m.join("cur/105.M1P1.h:2,S")).unwrap();
        std::fs::write(m.join("new/106.M1P1.h"), "y\n").unwrap();
        // Expunges held back where EXPUNGE may not be sent.
        let ch = mb.rescan(false).unwrap();
        assert!(ch.expunged.is_empty());
        assert_eq!(mb.exists(), 6);
        let ch = mb.rescan(true).unwrap();
        assert_eq!(ch.expunged, vec![2, 3]);
        assert_eq!(mb.exists(), 4);
        assert_eq!(
            mb.msgs.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![1, 3, 5, 6]
        );
        let mut out = Vec::new();
        mb.write_flags(2, &mut out);
        assert_eq!(out, b"(\\Seen \\Recent)");
        // Nothing changed: a cheap no-op.
        let ch = mb.rescan(true).unwrap();
        assert!(ch.expunged.is_empty() && ch.exists.is_none() && ch.flag_changes.is_empty());
    }

    #[test]
    fn flags_are_renamed_and_found_again() {
        let (_t, m) = folder();
        let mut mb = Mailbox::open(&m, "INBOX", false, false, true).unwrap();
        let mut f = mb.flags(0);
        f.set(Flag::Flagged, true);
        assert!(mb.set_flags(0, &f));
        assert!(m.join("cur/101.M1P1.h:2,F").exists());
        // Renamed behind our back: found by basename.
        std::fs::rename(m.join("cur/101.M1P1.h:2,F"), m.join("cur/101.M1P1.h:2,FS")).unwrap();
        f.set(Flag::Replied, true);
        assert!(mb.set_flags(0, &f));
        assert!(m.join("cur/101.M1P1.h:2,FR").exists());
        std::fs::remove_file(m.join("cur/101.M1P1.h:2,FR")).unwrap();
        assert!(!mb.set_flags(0, &Flags::new()));
    }

    #[test]
    fn names_buffer_is_compacted_after_many_renames() {
        let mut names = Names::default();
        let mut msgs: Vec<Msg> = (0..3)
            .map(|i| names.push(i + 1, &format!("{i}.M1P1.h:2,"), false))
            .collect();
        for round in 0..20_000 {
            let i = round % 3;
            let flags = if round % 2 == 0 { "S" } else { "FRS" };
            let n = format!("{i}.M1P1.h{}:2,{flags}", "x".repeat(100));
            names.rename(&mut msgs, i, &n);
            assert_eq!(names.name(&msgs[i]), n);
        }
        let live: usize = msgs.iter().map(|m| usize::from(m.len)).sum();
        assert!(
            names.buf.capacity() < 2 * live + 8192,
            "{}",
            names.buf.capacity()
        );
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(names.base(m), format!("{i}.M1P1.h{}", "x".repeat(100)));
            assert_eq!(m.uid, i as u32 + 1);
        }
    }
}
