//! `courierimapkeywords/`: a folder's custom IMAP keywords, read and written exactly as
//! Courier 5 does (formats.md §7), so that Debian's imapd and maildirkw can share a
//! maildir with us in both directions.
//!
//! On disk a folder's keyword state is `:list` (the consolidated state) plus one small
//! update file per recently changed message: `<basename>` (fresh), `.<N>.<basename>`
//! (already consolidated, kept for a while so that a reader holding an older `:list`
//! still sees the change) and `.tmp.<t>…` (staging of the atomic mode).
//!
//! Cost model. A [`KeywordStore`] reads `:list` once, when it is opened, and keeps every
//! message's keyword set in memory (keyword names interned once, each message holding a
//! small sorted array of ids). After that, reading a message's keywords is a lookup and
//! each [`set`](KeywordStore::set) / [`add`](KeywordStore::add) /
//! [`remove`](KeywordStore::remove) / [`copy_to`](KeywordStore::copy_to) writes exactly
//! one update file, never `:list`. [`consolidate`](KeywordStore::consolidate) then
//! rewrites `:list` at most once for the whole batch. `:list` is read again only when
//! another process has replaced it (checked with one `stat()`). So a COPY of 167
//! messages out of a 6,167-message folder costs 167 small files and one `:list`
//! rewrite, whatever the size of `:list` (see the test
//! `batch_of_updates_costs_one_file_each_and_one_list_rewrite`).
//!
//! Keyword names are bytes, as in Courier: nothing requires them to be UTF-8.

use crate::delivery::{CONTROL_MODE, TmpFile};
use crate::error::{IoContext, MaildirError, Result};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The keyword directory inside every folder.
pub const DIR_NAME: &str = "courierimapkeywords";
/// The consolidated keyword state inside [`DIR_NAME`].
pub const LIST_NAME: &str = ":list";
/// Characters Courier's imapd replaces by `_` in IMAP keywords (imapd.c
/// `KEYWORD_IMAPVERBOTTEN`, formats.md §7 "Keyword names").
pub const IMAP_FORBIDDEN: &[u8] = b" (){%*\"\\]";
/// Characters replaced by `_` in SMAP keywords (imapd.c `KEYWORD_SMAPVERBOTTEN`).
pub const SMAP_FORBIDDEN: &[u8] = b",";
/// Length of one update generation in seconds: T = floor(now / 300) (formats.md §7).
pub const GENERATION_SECS: u64 = 300;
/// `.tmp.<t>…` staging files older than this many seconds are deleted by readers.
pub const STAGING_MAX_AGE_SECS: u64 = 120;
/// Update files of messages that no longer exist are deleted by readers once their
/// mtime is this many seconds old (formats.md §7: the README says ctime, the code
/// uses mtime; so do we).
pub const ORPHAN_MAX_AGE_SECS: u64 = 15 * 60;
/// Courier's keyword hash table has this many buckets; `:list` lists keywords in
/// bucket order, so we need the number to write the same bytes.
const BUCKETS: u32 = 43;
/// A reader restarts when an update file it chose vanished (another reader
/// consolidated it). Courier retries forever; we give up after this many passes.
const MAX_PASSES: u32 = 100;

/// How an update file is put into place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Written in the folder's `tmp/` and renamed to `courierimapkeywords/<basename>`
    /// (`IMAP_KEYWORDS=1`, and `maildirkw` without `-a`/`-r`).
    Direct,
    /// Written in `tmp/`, renamed to `courierimapkeywords/.tmp.<unixtime><tmpname>`,
    /// then renamed into place (`IMAP_KEYWORDS=2`).
    Staged,
    /// Staged as above, then `link()`ed into place: the write fails (and the caller
    /// reloads and retries) when another writer's update for the message is still
    /// pending. `maildirkw -a` / `-r`.
    Exclusive,
}

/// How keyword names are compared and cleaned, and how updates are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Names differing only in ASCII case are distinct keywords (SMAP,
    /// `maildirkw -c`). When false, the first spelling seen is kept.
    pub case_sensitive: bool,
    /// Bytes replaced by `_` in every keyword name before it is used.
    pub forbidden: &'static [u8],
    /// How update files are written.
    pub write_mode: WriteMode,
}

impl Options {
    /// Courier imapd serving IMAP: case-insensitive, [`IMAP_FORBIDDEN`] replaced.
    pub const IMAP: Options = Options {
        case_sensitive: false,
        forbidden: IMAP_FORBIDDEN,
        write_mode: WriteMode::Direct,
    };
    /// Courier imapd serving SMAP: case-sensitive, [`SMAP_FORBIDDEN`] replaced.
    pub const SMAP: Options = Options {
        case_sensitive: true,
        forbidden: SMAP_FORBIDDEN,
        write_mode: WriteMode::Direct,
    };
    /// `maildirkw`: case-insensitive, names taken verbatim.
    pub const MAILDIRKW: Options = Options {
        case_sensitive: false,
        forbidden: b"",
        write_mode: WriteMode::Direct,
    };

    /// The same options with another write mode.
    pub const fn with_write_mode(self, write_mode: WriteMode) -> Options {
        Options { write_mode, ..self }
    }

    /// The same options with another case sensitivity.
    pub const fn with_case_sensitive(self, case_sensitive: bool) -> Options {
        Options {
            case_sensitive,
            ..self
        }
    }
}

/// File work done by a [`KeywordStore`], for callers and tests that want to check
/// the cost of an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Times `:list` was read and parsed.
    pub list_reads: u64,
    /// Times `:list` was rewritten (or deleted because no keyword is left).
    pub list_writes: u64,
    /// Update files installed by this store.
    pub update_writes: u64,
    /// Scans of the `courierimapkeywords/` directory.
    pub dir_scans: u64,
}

/// `folder/courierimapkeywords`.
pub fn keyword_dir(folder: &Path) -> PathBuf {
    folder.join(DIR_NAME)
}

/// Unless `courierimapkeywords/:list` can be opened, creates `courierimapkeywords/`
/// and gives it the folder's permission bits, as every Courier reader does
/// (formats.md §7: "mode = folder mode & 0777"; `maildirkw` without `-a`/`-r` does
/// only this before writing). Failures are ignored, as in Courier: a later read or
/// write reports the real problem with its path.
pub fn prepare_dir(folder: &Path) {
    let dir = keyword_dir(folder);
    if File::open(dir.join(LIST_NAME)).is_ok() {
        return;
    }
    let _ = fs::DirBuilder::new().mode(0o700).create(&dir);
    if let Ok(meta) = fs::metadata(folder) {
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(meta.mode() & 0o777));
    }
}

/// The current update generation T = floor(now / 300) (formats.md §7).
pub fn generation(now: SystemTime) -> u64 {
    secs(now) / GENERATION_SECS
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Replaces every byte of `forbidden` in `name` by `_` (formats.md §7).
pub fn munge<'a>(name: &'a [u8], forbidden: &[u8]) -> Cow<'a, [u8]> {
    if name.iter().any(|b| forbidden.contains(b)) {
        Cow::Owned(
            name.iter()
                .map(|b| if forbidden.contains(b) { b'_' } else { *b })
                .collect(),
        )
    } else {
        Cow::Borrowed(name)
    }
}

/// A keyword set as Courier writes it into an update file: names cleaned with
/// `options.forbidden`, duplicates dropped (case-insensitively unless
/// `options.case_sensitive`, keeping the first spelling), sorted byte-wise.
pub fn normalize<I, S>(keywords: I, options: &Options) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut names = Interner::new(options);
    let ids: Vec<u32> = keywords
        .into_iter()
        .map(|k| names.intern(k.as_ref()))
        .collect();
    let set = names.make_set(ids);
    set.iter().map(|&id| names.name(id).to_vec()).collect()
}

/// The key of a message in the keyword store: its basename (up to the first `:`).
/// Refuses names that would escape or corrupt `courierimapkeywords/`.
fn message_key(message: &[u8]) -> Result<&[u8]> {
    let key = match message.iter().position(|&b| b == b':') {
        Some(i) => &message[..i],
        None => message,
    };
    if key.is_empty() || key.contains(&b'/') || key.contains(&0) {
        return Err(MaildirError::NotFound {
            name: String::from_utf8_lossy(message).into_owned(),
        });
    }
    Ok(key)
}

fn os_path(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(std::ffi::OsStr::from_bytes(name))
}

fn generation_name(gen_n: u64, key: &[u8]) -> Vec<u8> {
    let mut v = format!(".{gen_n}.").into_bytes();
    v.extend_from_slice(key);
    v
}

fn update_body<'a>(names: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for n in names {
        body.extend_from_slice(n);
        body.push(b'\n');
    }
    body
}

/// Writes one message's complete keyword set (already [`normalize`]d) as an update
/// file, `courierimapkeywords/<basename>` (formats.md §7 "Update file"). `message` may
/// be a basename or a full file name with `:2,` flags. Returns `Ok(false)` only in
/// [`WriteMode::Exclusive`] when another writer's update is still pending.
pub fn write_update<S: AsRef<[u8]>>(
    folder: &Path,
    message: &[u8],
    keywords: &[S],
    mode: WriteMode,
) -> Result<bool> {
    let key = message_key(message)?;
    let body = update_body(keywords.iter().map(|k| k.as_ref()));
    install_update(folder, key, &body, mode, secs(SystemTime::now()))
}

fn install_update(
    folder: &Path,
    key: &[u8],
    body: &[u8],
    mode: WriteMode,
    now: u64,
) -> Result<bool> {
    let dir = keyword_dir(folder);
    let target = os_path(&dir, key);
    let mut retried = false;
    loop {
        let mut tmp = TmpFile::create(folder, None, None, CONTROL_MODE)?;
        tmp.write_all(body)?;
        let result = match mode {
            WriteMode::Direct => tmp.rename_to_unsynced(&target).map(|()| true),
            WriteMode::Staged | WriteMode::Exclusive => {
                // formats.md §7: staged as `.tmp.<unixtime><tmpname>`.
                let tmp_name = tmp
                    .path()
                    .file_name()
                    .map(|n| n.as_bytes().to_vec())
                    .unwrap_or_default();
                let mut staged_name = format!(".tmp.{now}").into_bytes();
                staged_name.extend_from_slice(&tmp_name);
                let staged = os_path(&dir, &staged_name);
                tmp.rename_to_unsynced(&staged)
                    .and_then(|()| place_staged(&staged, &target, mode))
            }
        };
        match result {
            // The keyword directory may not exist yet (a folder never scanned):
            // create it as a reader would and try once more.
            Err(e) if !retried && e.raw_os_error() == Some(nix::libc::ENOENT) && !dir.is_dir() => {
                retried = true;
                prepare_dir(folder);
            }
            other => return other,
        }
    }
}

fn place_staged(staged: &Path, target: &Path, mode: WriteMode) -> Result<bool> {
    if mode == WriteMode::Staged {
        return fs::rename(staged, target).at(target).map(|()| true);
    }
    // maildirkw's atomic variant: link(), and on NFS trust it only when the staging
    // file's link count went to 2.
    let linked = fs::hard_link(staged, target);
    let nlink = fs::metadata(staged).map(|m| m.nlink()).unwrap_or(0);
    let _ = fs::remove_file(staged);
    match linked {
        Ok(()) => Ok(nlink == 2),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(MaildirError::io(target, e)),
    }
}

/// Courier's bucket for a keyword (maildirkeywords.c `libmail_kweFind`): a 16-bit
/// shift/xor hash of the (lower-cased unless case-sensitive) bytes, modulo 43.
fn bucket(name: &[u8], case_sensitive: bool) -> u32 {
    let mut h: u32 = 0;
    for &b in name {
        let c = if case_sensitive {
            b
        } else {
            b.to_ascii_lowercase()
        };
        let carry = if h & 0x8000 != 0 { 0x1301 } else { 0 };
        h = ((h << 1) ^ carry ^ u32::from(c)) & 0xFFFF;
    }
    h % BUCKETS
}

/// Order of keywords inside one bucket: `strcmp`, or `strcasecmp` in the C locale.
fn compare_names(a: &[u8], b: &[u8], case_sensitive: bool) -> Ordering {
    if case_sensitive {
        a.cmp(b)
    } else {
        a.iter()
            .map(u8::to_ascii_lowercase)
            .cmp(b.iter().map(u8::to_ascii_lowercase))
    }
}

/// Keyword names, interned once per store. Each id is reference-counted by the
/// message sets that use it; a keyword no set uses is forgotten, so a later spelling
/// becomes the kept one, as in Courier (`libmail_kweClear`).
#[derive(Debug)]
struct Interner {
    spelling: Vec<Box<[u8]>>,
    refs: Vec<u32>,
    by_key: HashMap<Box<[u8]>, u32>,
    free: Vec<u32>,
    case_sensitive: bool,
    forbidden: &'static [u8],
}

impl Interner {
    fn new(options: &Options) -> Self {
        Interner {
            spelling: Vec::new(),
            refs: Vec::new(),
            by_key: HashMap::new(),
            free: Vec::new(),
            case_sensitive: options.case_sensitive,
            forbidden: options.forbidden,
        }
    }

    fn key<'a>(&self, name: &'a [u8]) -> Cow<'a, [u8]> {
        let name = munge(name, self.forbidden);
        if self.case_sensitive || !name.iter().any(u8::is_ascii_uppercase) {
            name
        } else {
            Cow::Owned(name.to_ascii_lowercase())
        }
    }

    fn find(&self, name: &[u8]) -> Option<u32> {
        self.by_key.get(self.key(name).as_ref()).copied()
    }

    /// The id of `name`, creating it with this spelling if new. The caller owns one
    /// reference.
    fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(id) = self.find(name) {
            self.refs[id as usize] += 1;
            return id;
        }
        let spelled: Box<[u8]> = munge(name, self.forbidden).into_owned().into_boxed_slice();
        let key: Box<[u8]> = self.key(name).into_owned().into_boxed_slice();
        let id = match self.free.pop() {
            Some(id) => {
                self.spelling[id as usize] = spelled;
                self.refs[id as usize] = 1;
                id
            }
            None => {
                self.spelling.push(spelled);
                self.refs.push(1);
                (self.spelling.len() - 1) as u32
            }
        };
        self.by_key.insert(key, id);
        id
    }

    fn retain(&mut self, id: u32) {
        self.refs[id as usize] += 1;
    }

    fn release(&mut self, id: u32) {
        let r = &mut self.refs[id as usize];
        *r = r.saturating_sub(1);
        if *r == 0 {
            let key = self.key(&self.spelling[id as usize]).into_owned();
            self.by_key.remove(key.as_slice());
            self.spelling[id as usize] = Box::default();
            self.free.push(id);
        }
    }

    fn release_all(&mut self, ids: &[u32]) {
        for &id in ids {
            self.release(id);
        }
    }

    fn name(&self, id: u32) -> &[u8] {
        &self.spelling[id as usize]
    }

    /// Turns owned ids into a message set: sorted by spelling (`strcmp`, the order of
    /// Courier's `libmail_kwmSet`), duplicates dropped with their references.
    fn make_set(&mut self, mut ids: Vec<u32>) -> Box<[u32]> {
        ids.sort_by(|a, b| self.name(*a).cmp(self.name(*b)));
        let mut out: Vec<u32> = Vec::with_capacity(ids.len());
        for id in ids {
            if out.last() == Some(&id) {
                self.release(id);
            } else {
                out.push(id);
            }
        }
        out.into_boxed_slice()
    }

    /// Every keyword in use, in Courier's `:list` order: by hash bucket, then by
    /// `strcmp`/`strcasecmp` inside a bucket (`libmail_kwEnumerate`).
    fn export_order(&self) -> Vec<u32> {
        let mut ids: Vec<(u32, u32)> = (0..self.spelling.len() as u32)
            .filter(|&id| self.refs[id as usize] > 0)
            .map(|id| (bucket(self.name(id), self.case_sensitive), id))
            .collect();
        ids.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| compare_names(self.name(a.1), self.name(b.1), self.case_sensitive))
        });
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

/// One message known to the store.
#[derive(Debug)]
struct Entry {
    name: Arc<[u8]>,
    set: Box<[u32]>,
}

/// The identity of `:list` as last read or written, to notice another writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// What the directory scan found for one message (maildirkeywords2.c
/// `keywordUpdateInfo`).
#[derive(Clone, Copy, Debug, Default)]
struct Found {
    /// Highest generation below T (an old, consolidated update).
    highest_n: u64,
    /// Highest generation at or above T (fresh updates count as T+1).
    highest_t: u64,
    /// Number of update files.
    total: u32,
    /// A fresh `<basename>` exists.
    fresh: bool,
}

/// What one update file name means (formats.md §7, reader step 2).
#[derive(Debug, PartialEq, Eq)]
enum UpdateName<'a> {
    /// Not an update (`:list`, `.`, `..`, names Courier ignores).
    Other,
    /// `.tmp.<t>…`, a staging file written at `t` (0 when unparseable).
    Staging(u64),
    /// `<basename>`.
    Fresh(&'a [u8]),
    /// `.<N>.<basename>`.
    Generation(u64, &'a [u8]),
}

/// Leading decimal digits as Courier's `libmail_atotime_t` reads them (wrapping),
/// and the rest.
fn leading_number(s: &[u8]) -> (u64, &[u8]) {
    let end = s
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let n = s[..end].iter().fold(0u64, |n, d| {
        n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
    });
    (n, &s[end..])
}

fn classify(name: &[u8]) -> UpdateName<'_> {
    match name.first() {
        None | Some(b':') => UpdateName::Other,
        Some(b'.') => {
            let (n, rest) = leading_number(&name[1..]);
            if n == 0 {
                return match name.strip_prefix(b".tmp.") {
                    Some(t) => UpdateName::Staging(leading_number(t).0),
                    None => UpdateName::Other,
                };
            }
            // Courier takes the text after the next '.' whatever precedes it, then
            // cannot open the file it reconstructs and restarts forever; we only accept
            // `.<digits>.<basename>`.
            match rest.strip_prefix(b".") {
                Some(key) if !key.is_empty() && !key.contains(&b':') => {
                    UpdateName::Generation(n, key)
                }
                _ => UpdateName::Other,
            }
        }
        // A ':' cannot be in a basename; Courier chokes on such names, we skip them.
        Some(_) if name.contains(&b':') => UpdateName::Other,
        Some(_) => UpdateName::Fresh(name),
    }
}

/// Lines as Courier's `rl_read` returns them: split on LF, a final unterminated line
/// counts, and each line ends at its first NUL (C strings).
fn c_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let empty = data.is_empty();
    body.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .map(|line| match line.iter().position(|&b| b == 0) {
            Some(i) => &line[..i],
            None => line,
        })
}

/// `atoi()` of one `:list` index; `None` for negative values (which, stored in a
/// `size_t`, are never a valid index).
fn c_atoi(tok: &[u8]) -> Option<usize> {
    let tok = match tok
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        Some(i) => &tok[i..],
        None => return Some(0),
    };
    let (neg, digits) = match tok.first() {
        Some(b'-') => (true, &tok[1..]),
        Some(b'+') => (false, &tok[1..]),
        _ => (false, tok),
    };
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let n = digits[..end].iter().fold(0usize, |n, d| {
        n.saturating_mul(10).saturating_add(usize::from(d - b'0'))
    });
    if neg && n != 0 { None } else { Some(n) }
}

fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

/// One folder's keywords, loaded once and kept in memory (see the module docs for the
/// cost model). Not shared between processes: other writers are seen through the
/// files, at [`refresh`](Self::refresh) and [`consolidate`](Self::consolidate).
#[derive(Debug)]
pub struct KeywordStore {
    folder: PathBuf,
    dir: PathBuf,
    options: Options,
    /// `maildirkw`'s generic reader: every basename met in the files is a message.
    /// Otherwise only registered messages exist (imapd).
    any_message: bool,
    names: Interner,
    entries: Vec<Option<Entry>>,
    index: HashMap<Arc<[u8]>, u32>,
    /// In-memory state differs from `:list`.
    dirty: bool,
    /// Entries whose fresh update file we wrote since the last consolidation.
    pending: Vec<u32>,
    list_id: Option<FileId>,
    deferred: Option<MaildirError>,
    stats: Stats,
    /// Bumped whenever a message's set changes or `:list` is read again.
    changes: u64,
}

impl KeywordStore {
    /// Opens the keywords of `folder` the way `maildirkw` does: every basename found
    /// in `:list` or in an update file counts as a message, in the order first met.
    /// Runs Courier's reader (formats.md §7): applies pending updates, rewrites
    /// `:list` if needed, renames and purges update files.
    pub fn open(folder: impl AsRef<Path>, options: Options) -> Result<Self> {
        let mut store = Self::empty(folder.as_ref(), options, true);
        store.read(SystemTime::now())?;
        Ok(store)
    }

    /// Opens the keywords of `folder` for the given messages (file names or
    /// basenames, in the folder's order), the way imapd does: entries of other
    /// basenames in `:list` are dropped and their update files deleted once 15 minutes
    /// old.
    pub fn open_for<I, S>(folder: impl AsRef<Path>, options: Options, messages: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        Self::open_for_at(folder.as_ref(), options, messages, SystemTime::now())
    }

    fn open_for_at<I, S>(
        folder: &Path,
        options: Options,
        messages: I,
        now: SystemTime,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut store = Self::empty(folder, options, false);
        for m in messages {
            if let Ok(key) = message_key(m.as_ref()) {
                store.entry_index(key, true);
            }
        }
        store.read(now)?;
        Ok(store)
    }

    fn empty(folder: &Path, options: Options, any_message: bool) -> Self {
        KeywordStore {
            folder: folder.to_path_buf(),
            dir: keyword_dir(folder),
            options,
            any_message,
            names: Interner::new(&options),
            entries: Vec::new(),
            index: HashMap::new(),
            dirty: false,
            pending: Vec::new(),
            list_id: None,
            deferred: None,
            stats: Stats::default(),
            changes: 0,
        }
    }

    /// The folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// File work done so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of messages the store knows (with or without keywords).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the store knows no message.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// An error that did not stop reading but should be reported: Courier's reader
    /// keeps going when it cannot rewrite `:list` (a read-only folder, say), and so do
    /// we; the rewrite is retried by the next [`consolidate`](Self::consolidate).
    pub fn take_deferred_error(&mut self) -> Option<MaildirError> {
        self.deferred.take()
    }

    fn entry(&self, message: &[u8]) -> Option<&Entry> {
        let key = message_key(message).ok()?;
        let idx = *self.index.get(key)?;
        self.entries[idx as usize].as_ref()
    }

    /// The keywords of `message` (a basename or file name), in Courier's order
    /// (byte-wise); empty for an unknown message.
    pub fn keywords(&self, message: impl AsRef<[u8]>) -> Keywords<'_> {
        let set: &[u32] = self
            .entry(message.as_ref())
            .map(|e| &e.set[..])
            .unwrap_or(&[]);
        Keywords {
            ids: set.iter(),
            names: &self.names,
        }
    }

    /// Whether `message` has `keyword` (compared as the store's options say).
    pub fn contains(&self, message: impl AsRef<[u8]>, keyword: impl AsRef<[u8]>) -> bool {
        match (
            self.entry(message.as_ref()),
            self.names.find(keyword.as_ref()),
        ) {
            (Some(e), Some(id)) => e.set.contains(&id),
            _ => false,
        }
    }

    /// Every known message with its keywords, in store order (the folder's order, or
    /// for [`open`](Self::open) the order in which Courier's reader met them, which is
    /// what `maildirkw -L` prints).
    pub fn messages(&self) -> impl Iterator<Item = (&[u8], Keywords<'_>)> {
        self.entries.iter().flatten().map(|e| {
            (
                &e.name[..],
                Keywords {
                    ids: e.set.iter(),
                    names: &self.names,
                },
            )
        })
    }

    /// Every keyword some message has, in `:list` order (for IMAP FLAGS and
    /// PERMANENTFLAGS).
    pub fn keyword_names(&self) -> Vec<&[u8]> {
        self.names
            .export_order()
            .into_iter()
            .map(|id| self.names.name(id))
            .collect()
    }

    /// Registers a message that appeared in the folder (new mail, APPEND) with no
    /// keywords. Its update files, if any, are read at the next
    /// [`refresh`](Self::refresh).
    pub fn insert_message(&mut self, message: impl AsRef<[u8]>) -> Result<()> {
        let key = message_key(message.as_ref())?;
        self.entry_index(key, true);
        Ok(())
    }

    /// Forgets a message that left the folder (EXPUNGE, a move). No file is touched:
    /// the next `:list` rewrite omits it and readers delete its stale update files.
    pub fn forget(&mut self, message: impl AsRef<[u8]>) {
        let Ok(key) = message_key(message.as_ref()) else {
            return;
        };
        if let Some(idx) = self.index.remove(key)
            && let Some(entry) = self.entries[idx as usize].take()
        {
            if !entry.set.is_empty() {
                self.dirty = true;
            }
            self.names.release_all(&entry.set);
        }
    }

    /// Replaces the keywords of `message` with `keywords` (one update file). Returns
    /// `Ok(false)` only in [`WriteMode::Exclusive`], when another writer's update is
    /// pending: reopen and retry.
    pub fn set<I, S>(&mut self, message: impl AsRef<[u8]>, keywords: I) -> Result<bool>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let key = message_key(message.as_ref())?.to_vec();
        let ids: Vec<u32> = keywords
            .into_iter()
            .map(|k| self.names.intern(k.as_ref()))
            .collect();
        self.commit(&key, ids)
    }

    /// Adds `keywords` to those of `message` (one update file, written even if
    /// nothing changes, as Courier does). A keyword already known in this folder keeps
    /// its spelling. `Ok(false)` as for [`set`](Self::set).
    pub fn add<I, S>(&mut self, message: impl AsRef<[u8]>, keywords: I) -> Result<bool>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let key = message_key(message.as_ref())?.to_vec();
        let mut ids = self.current_ids(&key);
        ids.extend(keywords.into_iter().map(|k| self.names.intern(k.as_ref())));
        self.commit(&key, ids)
    }

    /// Removes `keywords` from those of `message` (one update file, written even if
    /// nothing changes). `Ok(false)` as for [`set`](Self::set).
    pub fn remove<I, S>(&mut self, message: impl AsRef<[u8]>, keywords: I) -> Result<bool>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let key = message_key(message.as_ref())?.to_vec();
        let gone: Vec<u32> = keywords
            .into_iter()
            .filter_map(|k| self.names.find(k.as_ref()))
            .collect();
        let mut ids = self.current_ids_no_ref(&key);
        ids.retain(|id| !gone.contains(id));
        for &id in &ids {
            self.names.retain(id);
        }
        self.commit(&key, ids)
    }

    /// Gives `dest_message` in `dest` the keywords `message` has here, as IMAP COPY
    /// does: one update file in the destination, nothing when the message has no
    /// keywords. Returns whether a file was written.
    pub fn copy_to(
        &self,
        message: impl AsRef<[u8]>,
        dest: &mut KeywordStore,
        dest_message: impl AsRef<[u8]>,
    ) -> Result<bool> {
        let names: Vec<&[u8]> = self.keywords(message).collect();
        if names.is_empty() {
            return Ok(false);
        }
        dest.set(dest_message, names)
    }

    /// Ids of the current set of `key`, each with a new reference.
    fn current_ids(&mut self, key: &[u8]) -> Vec<u32> {
        let ids = self.current_ids_no_ref(key);
        for &id in &ids {
            self.names.retain(id);
        }
        ids
    }

    fn current_ids_no_ref(&self, key: &[u8]) -> Vec<u32> {
        self.index
            .get(key)
            .and_then(|&i| self.entries[i as usize].as_ref())
            .map(|e| e.set.to_vec())
            .unwrap_or_default()
    }

    /// Writes the update file for `key` with the owned ids `ids`, then makes it the
    /// in-memory state.
    fn commit(&mut self, key: &[u8], ids: Vec<u32>) -> Result<bool> {
        let set = self.names.make_set(ids);
        let body = update_body(set.iter().map(|&id| self.names.name(id)));
        let now = secs(SystemTime::now());
        match install_update(&self.folder, key, &body, self.options.write_mode, now) {
            Ok(true) => {
                self.stats.update_writes += 1;
                // With `create` set, entry_index always returns an index.
                let idx = self.entry_index(key, true).unwrap_or_default();
                self.replace_set(idx, set);
                self.pending.push(idx);
                Ok(true)
            }
            other => {
                self.names.release_all(&set);
                other
            }
        }
    }

    /// Replaces an entry's set; returns whether it changed. Marks `:list` stale.
    fn replace_set(&mut self, idx: u32, set: Box<[u32]>) -> bool {
        let Some(entry) = self.entries.get_mut(idx as usize).and_then(Option::as_mut) else {
            self.names.release_all(&set);
            return false;
        };
        if entry.set == set {
            self.names.release_all(&set);
            return false;
        }
        let old = std::mem::replace(&mut entry.set, set);
        self.names.release_all(&old);
        self.dirty = true;
        self.changes += 1;
        true
    }

    /// The index of the message `key`, created when `create` (or in maildirkw mode).
    fn entry_index(&mut self, key: &[u8], create: bool) -> Option<u32> {
        if let Some(&i) = self.index.get(key) {
            return Some(i);
        }
        if !create && !self.any_message {
            return None;
        }
        let name: Arc<[u8]> = Arc::from(key);
        let idx = self.entries.len() as u32;
        self.entries.push(Some(Entry {
            name: Arc::clone(&name),
            set: Box::default(),
        }));
        self.index.insert(name, idx);
        Some(idx)
    }

    /// Looks for changes made by other processes: re-reads `:list` only if another
    /// process replaced it, scans `courierimapkeywords/` for update files, and does
    /// the reader's housekeeping (formats.md §7 steps 2-5), which also consolidates
    /// this store's own pending updates. Returns whether any keyword may have changed
    /// (always true when `:list` had to be read again).
    pub fn refresh(&mut self) -> Result<bool> {
        self.refresh_at(SystemTime::now())
    }

    fn refresh_at(&mut self, now: SystemTime) -> Result<bool> {
        let reread = self.list_changed();
        let before = self.changes;
        self.run_reader(now, reread)?;
        Ok(self.changes != before)
    }

    /// Rewrites `:list` once if this store changed anything, then renames this
    /// store's fresh update files to `.<T+1>.<basename>` (formats.md §7 steps 4-5).
    /// Costs one `stat()`, one `:list` write and one rename per update written since
    /// the last consolidation. If another process replaced `:list` meanwhile, the
    /// full reader runs instead so that its changes are not overwritten.
    pub fn consolidate(&mut self) -> Result<()> {
        self.consolidate_at(SystemTime::now())
    }

    fn consolidate_at(&mut self, now: SystemTime) -> Result<()> {
        if self.list_changed() {
            self.run_reader(now, true)?;
            return match self.deferred.take() {
                Some(e) => Err(e),
                None => Ok(()),
            };
        }
        if self.dirty {
            self.write_list()?;
        }
        let next = generation(now) + 1;
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable();
        pending.dedup();
        for idx in pending {
            if let Some(Some(e)) = self.entries.get(idx as usize) {
                let from = os_path(&self.dir, &e.name);
                let to = os_path(&self.dir, &generation_name(next, &e.name));
                // Gone already: another reader consolidated it.
                let _ = fs::rename(from, to);
            }
        }
        Ok(())
    }

    fn list_changed(&self) -> bool {
        let now = match fs::metadata(self.dir.join(LIST_NAME)) {
            Ok(m) => Some(FileId::of(&m)),
            Err(_) => None,
        };
        now != self.list_id
    }

    fn read(&mut self, now: SystemTime) -> Result<()> {
        self.run_reader(now, true)
    }

    /// Courier's reader, restarted while an update file vanishes under it.
    fn run_reader(&mut self, now: SystemTime, mut reread: bool) -> Result<()> {
        let mut passes = 0;
        loop {
            match self.reader_pass(now, reread)? {
                None => return Ok(()),
                Some(vanished) => {
                    passes += 1;
                    if passes >= MAX_PASSES {
                        return Err(MaildirError::io(
                            vanished,
                            io::Error::from(io::ErrorKind::NotFound),
                        ));
                    }
                    reread = true;
                }
            }
        }
    }

    /// Drops the in-memory state before `:list` is read again.
    fn clear_for_reread(&mut self) {
        if self.any_message {
            for e in self.entries.drain(..).flatten() {
                self.names.release_all(&e.set);
            }
            self.index.clear();
        } else {
            for e in self.entries.iter_mut().flatten() {
                let old = std::mem::take(&mut e.set);
                self.names.release_all(&old);
            }
        }
        self.pending.clear();
        self.dirty = false;
        self.changes += 1;
    }

    /// Step 1: read `:list`. Returns whether it must be rewritten.
    fn read_list(&mut self) -> Result<bool> {
        let path = self.dir.join(LIST_NAME);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => {
                self.list_id = None;
                prepare_dir(&self.folder);
                return Ok(false);
            }
            Err(e) => return Err(MaildirError::io(&path, e)),
        };
        let meta = file.metadata().at(&path)?;
        let mut data = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut data).at(&path)?;
        self.stats.list_reads += 1;
        self.list_id = Some(FileId::of(&meta));
        Ok(self.import(&data))
    }

    /// Parses `:list` (formats.md §7 "`:list` syntax", maildirkeywords2.c
    /// `maildir_kwImport`). Returns whether the file needs rewriting (junk lines,
    /// unknown messages).
    fn import(&mut self, data: &[u8]) -> bool {
        let mut lines = c_lines(data);
        let mut header: Vec<u32> = Vec::new();
        let mut ended = false;
        for line in lines.by_ref() {
            if line.is_empty() {
                ended = true;
                break;
            }
            header.push(self.names.intern(line));
        }
        let mut rewrite = false;
        if ended {
            for line in lines {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    rewrite = true;
                    continue;
                };
                let (key, rest) = (&line[..colon], &line[colon + 1..]);
                let Some(idx) = self.entry_index(key, false) else {
                    rewrite = true;
                    continue;
                };
                let ids: Vec<u32> = rest
                    .split(|&b| b == b' ')
                    .filter(|t| !t.is_empty())
                    .filter_map(c_atoi)
                    .filter_map(|i| header.get(i).copied())
                    .collect();
                for &id in &ids {
                    self.names.retain(id);
                }
                let set = self.names.make_set(ids);
                // A repeated line replaces the earlier one, as in Courier.
                if let Some(Some(e)) = self.entries.get_mut(idx as usize) {
                    let old = std::mem::replace(&mut e.set, set);
                    self.names.release_all(&old);
                }
            }
        }
        // The header's own references kept first spellings alive while reading.
        self.names.release_all(&header);
        rewrite
    }

    /// One pass of the reader (formats.md §7). Returns the path of an update file
    /// that vanished, in which case the caller restarts from `:list`.
    fn reader_pass(&mut self, now: SystemTime, reread: bool) -> Result<Option<PathBuf>> {
        let t = secs(now);
        let tn = t / GENERATION_SECS;
        let mut update_needed = false;
        if reread {
            self.clear_for_reread();
            update_needed = self.read_list()?;
        }

        // Step 2: scan the directory.
        let mut found: HashMap<u32, Found> = HashMap::new();
        self.stats.dir_scans += 1;
        let entries = match fs::read_dir(&self.dir) {
            Ok(rd) => Some(rd),
            Err(e) if is_absent(&e) => None,
            Err(e) => return Err(MaildirError::io(&self.dir, e)),
        };
        for dirent in entries.into_iter().flatten() {
            let dirent = dirent.at(&self.dir)?;
            let file_name = dirent.file_name();
            let name = file_name.as_bytes();
            let (gen_x, key) = match classify(name) {
                UpdateName::Other => continue,
                UpdateName::Staging(x) => {
                    if x == 0 || x < t.saturating_sub(STAGING_MAX_AGE_SECS) {
                        let _ = fs::remove_file(dirent.path());
                    }
                    continue;
                }
                UpdateName::Fresh(key) => (None, key),
                UpdateName::Generation(n, key) => (Some(n), key),
            };
            let Some(idx) = self.entry_index(key, false) else {
                // An update for a message that is gone: delete it once 15 minutes old.
                if let Ok(meta) = fs::metadata(dirent.path())
                    && meta.mtime() < t as i64 - ORPHAN_MAX_AGE_SECS as i64
                {
                    let _ = fs::remove_file(dirent.path());
                }
                continue;
            };
            let f = found.entry(idx).or_default();
            let x = match gen_x {
                None => {
                    f.fresh = true;
                    tn + 1
                }
                Some(n) => n,
            };
            f.total += 1;
            if x >= tn {
                f.highest_t = f.highest_t.max(x);
            } else if f.highest_n < x {
                // An older consolidated update is superseded: delete it.
                if f.highest_n > 0 {
                    let _ = fs::remove_file(os_path(&self.dir, &generation_name(f.highest_n, key)));
                }
                f.highest_n = x;
            } else if x < f.highest_n {
                // Courier only deletes when the newer file comes later in readdir
                // order, so a pair met the other way round lingers forever; we delete
                // the older one either way.
                let _ = fs::remove_file(dirent.path());
            }
        }

        // Step 3: apply the newest update of every message, in message order (the
        // order decides which spelling of a keyword is kept).
        let mut order: Vec<u32> = found.keys().copied().collect();
        order.sort_unstable();
        for &idx in &order {
            let f = found[&idx];
            let n = f.highest_n.max(f.highest_t);
            let Some(Some(entry)) = self.entries.get(idx as usize) else {
                continue;
            };
            let path = if f.fresh {
                os_path(&self.dir, &entry.name)
            } else {
                os_path(&self.dir, &generation_name(n, &entry.name))
            };
            let data = match fs::read(&path) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(path)),
                // Courier skips an update it cannot read.
                Err(_) => continue,
            };
            let ids: Vec<u32> = c_lines(&data)
                .take_while(|l| !l.is_empty())
                .map(|l| self.names.intern(l))
                .collect();
            let set = self.names.make_set(ids);
            if self.replace_set(idx, set) {
                update_needed = true;
            }
        }

        // Step 4: rewrite `:list` if anything changed.
        if (update_needed || self.dirty)
            && let Err(e) = self.write_list()
        {
            // Courier reports and goes on without purging; the state in memory is
            // right and the next consolidation retries the write.
            self.dirty = true;
            self.deferred = Some(e);
            return Ok(None);
        }

        // Step 5: age fresh updates to `.<T+1>.`, drop lone consolidated ones.
        for &idx in &order {
            let f = found[&idx];
            let Some(Some(entry)) = self.entries.get(idx as usize) else {
                continue;
            };
            if f.fresh {
                let _ = fs::rename(
                    os_path(&self.dir, &entry.name),
                    os_path(&self.dir, &generation_name(tn + 1, &entry.name)),
                );
            } else if f.total == 1 && f.highest_n > 0 {
                let _ = fs::remove_file(os_path(
                    &self.dir,
                    &generation_name(f.highest_n, &entry.name),
                ));
            }
        }
        self.pending.clear();
        Ok(None)
    }

    /// The bytes of `:list` for the current state (maildirkeywords2.c
    /// `maildir_kwExport`), or `None` when no message has a keyword.
    fn export(&self) -> Option<Vec<u8>> {
        let order = self.names.export_order();
        if order.is_empty() {
            return None;
        }
        let mut position = vec![0u32; self.names.spelling.len()];
        let mut out = Vec::new();
        for (pos, &id) in order.iter().enumerate() {
            position[id as usize] = pos as u32;
            out.extend_from_slice(self.names.name(id));
            out.push(b'\n');
        }
        out.push(b'\n');
        for e in self.entries.iter().flatten() {
            if e.set.is_empty() {
                continue;
            }
            out.extend_from_slice(&e.name);
            out.push(b':');
            for (i, &id) in e.set.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(position[id as usize].to_string().as_bytes());
            }
            out.push(b'\n');
        }
        Some(out)
    }

    /// Step 4: writes `:list` through `tmp/` and a rename, or deletes it when no
    /// keyword is left.
    fn write_list(&mut self) -> Result<()> {
        let path = self.dir.join(LIST_NAME);
        match self.export() {
            None => {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if is_absent(&e) => {}
                    Err(e) => return Err(MaildirError::io(&path, e)),
                }
                self.list_id = None;
            }
            Some(data) => {
                let mut tmp = TmpFile::create(&self.folder, None, None, CONTROL_MODE)?;
                tmp.write_all(&data)?;
                let meta = tmp.file().metadata().at(tmp.path())?;
                tmp.rename_to(&path)?;
                self.list_id = Some(FileId::of(&meta));
            }
        }
        self.stats.list_writes += 1;
        self.dirty = false;
        Ok(())
    }
}

/// The keywords of one message, in Courier's order (byte-wise).
#[derive(Clone, Debug)]
pub struct Keywords<'a> {
    ids: std::slice::Iter<'a, u32>,
    names: &'a Interner,
}

impl<'a> Iterator for Keywords<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.ids.next().map(|&id| self.names.name(id))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }
}

impl ExactSizeIterator for Keywords<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout;
    use crate::testutil::{maildir, names};
    use std::time::Duration;

    fn kw(store: &KeywordStore, m: &str) -> Vec<String> {
        store
            .keywords(m)
            .map(|k| String::from_utf8(k.to_vec()).unwrap())
            .collect()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn list(m: &Path) -> String {
        fs::read_to_string(keyword_dir(m).join(LIST_NAME)).unwrap_or_default()
    }

    #[test]
    fn bucket_matches_courier_hash() {
        // Buckets computed by hand from maildirkeywords.c; the :list orders observed
        // with Debian's maildirkw follow them.
        const CASES: &[(&[u8], bool, u32)] = &[
            (b"Work", false, 6),
            (b"Extra", false, 17),
            (b"zeta", false, 29),
            (b"Another", false, 37),
            (b"$Label1", false, 38),
            (b"Foo", false, 39),
            (b"q,r", true, 21),
            (b"Zed", true, 24),
            (b"zed", true, 25),
            (b"x(y", true, 27),
            (b"ZED", true, 35),
            (b"a b", true, 35),
            (b"alpha", true, 36),
        ];
        for &(name, cs, b) in CASES {
            assert_eq!(bucket(name, cs), b, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn update_names_are_classified_like_courier() {
        const CASES: &[(&[u8], UpdateName<'static>)] = &[
            (b":list", UpdateName::Other),
            (b".", UpdateName::Other),
            (b"..", UpdateName::Other),
            (b"1.M2P3.h,S=4", UpdateName::Fresh(b"1.M2P3.h,S=4")),
            (
                b".5984339.1.M2P3.h",
                UpdateName::Generation(5984339, b"1.M2P3.h"),
            ),
            (b".tmp.17953017001.M1P2.h", UpdateName::Staging(17953017001)),
            (b".tmp.x", UpdateName::Staging(0)),
            (b".0.foo", UpdateName::Other),
            (b".foo", UpdateName::Other),
            (b".5abc.foo", UpdateName::Other),
            (b".5.", UpdateName::Other),
            (b"a:b", UpdateName::Other),
        ];
        for (name, want) in CASES {
            assert_eq!(&classify(name), want, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn c_helpers_behave_like_libc() {
        assert_eq!(c_atoi(b"12"), Some(12));
        assert_eq!(c_atoi(b"3x"), Some(3));
        assert_eq!(c_atoi(b"abc"), Some(0));
        assert_eq!(c_atoi(b"+4"), Some(4));
        assert_eq!(c_atoi(b"-1"), None);
        assert_eq!(c_atoi(b"-0"), Some(0));
        assert_eq!(c_atoi(b"\t7"), Some(7));
        assert_eq!(c_atoi(b"99999999999999999999999"), Some(usize::MAX));
        let lines: Vec<&[u8]> = c_lines(b"a\n\nb\0c\nd").collect();
        assert_eq!(lines, vec![&b"a"[..], b"", b"b", b"d"]);
        assert_eq!(c_lines(b"").count(), 0);
        assert_eq!(c_lines(b"\n").collect::<Vec<_>>(), vec![&b""[..]]);
        assert_eq!(leading_number(b"123.x"), (123, &b".x"[..]));
    }

    #[test]
    fn names_are_munged_and_deduplicated() {
        const CASES: &[(&[&str], Options, &[&str])] = &[
            (
                &["Work", "$Label1", "work", "zeta"],
                Options::MAILDIRKW,
                &["$Label1", "Work", "zeta"],
            ),
            (&["Zed", "zed", "ZED"], Options::MAILDIRKW, &["Zed"]),
            (
                &["Zed", "zed", "ZED", "alpha"],
                Options::SMAP,
                &["ZED", "Zed", "alpha", "zed"],
            ),
            (
                &["a b", "x(y", "q,r"],
                Options::MAILDIRKW,
                &["a b", "q,r", "x(y"],
            ),
            (
                &["a b", "x(y)", "q%*\"\\]"],
                Options::IMAP,
                &["a_b", "q_____", "x_y_"],
            ),
            (&["q,r", "a b"], Options::SMAP, &["a b", "q_r"]),
            (&["A_B", "a b"], Options::IMAP, &["A_B"]),
            (&[], Options::IMAP, &[]),
        ];
        for (input, opts, want) in CASES {
            let got: Vec<String> = normalize(input.iter(), opts)
                .into_iter()
                .map(|v| String::from_utf8(v).unwrap())
                .collect();
            assert_eq!(&got, want, "{input:?}");
        }
    }

    #[test]
    fn list_is_parsed_with_courier_quirks() {
        // (contents of :list, expected (message, keywords) in order, rewrite needed)
        type Case = (
            &'static str,
            &'static [(&'static str, &'static [&'static str])],
            bool,
        );
        const CASES: &[Case] = &[
            (
                "Work\n$Label1\n\nm1:1 0\n",
                &[("m1", &["$Label1", "Work"])],
                false,
            ),
            ("A\nB\n\nm1:0\nm1:1\n", &[("m1", &["B"])], false),
            ("A\nB\n\nm1:0  7 -1 x 1\n", &[("m1", &["A", "B"])], false),
            ("A\n\ngarbage\nm2:0\n", &[("m2", &["A"])], true),
            ("A\nB\n", &[], false),
            ("A\na\n\nm1:1\nm2:\n", &[("m1", &["A"]), ("m2", &[])], false),
            ("", &[], false),
            ("\n\n\n", &[], true),
            ("A\0junk\n\nm\0x:0\n", &[], true),
        ];
        for (data, want, rewrite) in CASES {
            let mut s = KeywordStore::empty(Path::new("/nonexistent"), Options::MAILDIRKW, true);
            let r = s.import(data.as_bytes());
            let got: Vec<(String, Vec<String>)> = s
                .messages()
                .map(|(m, k)| {
                    (
                        String::from_utf8(m.to_vec()).unwrap(),
                        k.map(|k| String::from_utf8(k.to_vec()).unwrap()).collect(),
                    )
                })
                .collect();
            let want: Vec<(String, Vec<String>)> = want
                .iter()
                .map(|(m, k)| (m.to_string(), k.iter().map(|s| s.to_string()).collect()))
                .collect();
            assert_eq!(got, want, "{data:?}");
            assert_eq!(r, *rewrite, "{data:?}");
        }
    }

    #[test]
    fn export_matches_debian_maildirkw_bytes() {
        // Observed with Debian's maildirkw after `maildirkw M m 'Work' '$Label1' work
        // zeta` and `-L`: `Work zeta $Label1` (bucket order), message indices in
        // byte order of the names.
        let (_t, m) = maildir();
        let mut s = KeywordStore::open(&m, Options::MAILDIRKW).unwrap();
        s.set(
            "1000.M1P1.host,S=3:2,S",
            ["Work", "$Label1", "work", "zeta"],
        )
        .unwrap();
        s.set("nosuchmsg", ["Foo"]).unwrap();
        s.consolidate().unwrap();
        assert_eq!(
            list(&m),
            "Work\nzeta\n$Label1\nFoo\n\n1000.M1P1.host,S=3:2 0 1\nnosuchmsg:3\n"
        );
        s.add("1000.M1P1.host,S=3", ["Extra"]).unwrap();
        s.add("1000.M1P1.host,S=3", ["Another"]).unwrap();
        s.consolidate().unwrap();
        assert_eq!(
            list(&m),
            "Work\nExtra\nzeta\nAnother\n$Label1\nFoo\n\n1000.M1P1.host,S=3:4 3 1 0 2\nnosuchmsg:5\n"
        );
    }

    #[test]
    fn reader_applies_generations_and_cleans_up() {
        let (_t, m) = maildir();
        let dir = keyword_dir(&m);
        prepare_dir(&m);
        let now = 1_795_301_700u64; // T = 5984339
        let tn = now / 300;
        fs::write(dir.join(LIST_NAME), "Old\n\na:0\nb:0\nghost:0\n").unwrap();
        // a: fresh update wins over an old generation.
        fs::write(dir.join(format!(".{}.a", tn - 3)), "Older\n").unwrap();
        fs::write(dir.join("a"), "New\n").unwrap();
        // b: a lone old generation is applied then deleted.
        fs::write(dir.join(format!(".{}.b", tn - 2)), "Mid\n").unwrap();
        // c: a current generation is applied and kept.
        fs::write(dir.join(format!(".{}.c", tn + 1)), "Cur\n").unwrap();
        // staging files: stale and bad ones go, recent ones stay.
        fs::write(dir.join(format!(".tmp.{}x", now - 10)), "").unwrap();
        fs::write(dir.join(format!(".tmp.{}x", now - 500)), "").unwrap();
        fs::write(dir.join(".tmp.junk"), "").unwrap();
        // orphans: old one deleted, young one kept.
        fs::write(dir.join("gone-old"), "X\n").unwrap();
        let old = File::options()
            .write(true)
            .open(dir.join("gone-old"))
            .unwrap();
        old.set_modified(at(now - 16 * 60)).unwrap();
        fs::write(dir.join("gone-young"), "X\n").unwrap();
        let young = File::options()
            .write(true)
            .open(dir.join("gone-young"))
            .unwrap();
        young.set_modified(at(now - 60)).unwrap();

        let s = KeywordStore::open_for_at(&m, Options::IMAP, ["a:2,S", "b", "c"], at(now)).unwrap();
        assert_eq!(kw(&s, "a"), ["New"]);
        assert_eq!(kw(&s, "b:2,"), ["Mid"]);
        assert_eq!(kw(&s, "c"), ["Cur"]);
        assert_eq!(list(&m), "Mid\nNew\nCur\n\na:1\nb:0\nc:2\n");
        assert_eq!(
            names(&dir),
            [
                format!(".{}.a", tn - 3),
                format!(".{}.a", tn + 1),
                format!(".{}.c", tn + 1),
                format!(".tmp.{}x", now - 10),
                ":list".to_string(),
                "gone-young".to_string(),
            ]
        );
        assert_eq!(s.stats().list_reads, 1);
        assert_eq!(s.stats().list_writes, 1);

        // Three generations later: of the two old `.a` files the older is deleted
        // (whatever the readdir order), the lone `.c` is dropped, the young orphan is
        // now old; once alone, the newer `.a` goes too.
        let later = at(now + 900);
        let s2 = KeywordStore::open_for_at(&m, Options::IMAP, ["a", "b", "c"], later).unwrap();
        assert_eq!(kw(&s2, "a"), ["New"]);
        assert_eq!(s2.stats().list_writes, 0);
        assert_eq!(names(&dir), [format!(".{}.a", tn + 1), ":list".to_string()]);
        let _ = KeywordStore::open_for_at(&m, Options::IMAP, ["a", "b", "c"], later).unwrap();
        assert_eq!(names(&dir), [":list".to_string()]);
        assert_eq!(list(&m), "Mid\nNew\nCur\n\na:1\nb:0\nc:2\n");
    }

    #[test]
    fn no_keywords_left_deletes_list() {
        let (_t, m) = maildir();
        let mut s = KeywordStore::open_for(&m, Options::IMAP, ["a"]).unwrap();
        s.set("a", ["X"]).unwrap();
        s.consolidate().unwrap();
        assert!(keyword_dir(&m).join(LIST_NAME).exists());
        s.set("a", Vec::<&str>::new()).unwrap();
        s.consolidate().unwrap();
        assert!(!keyword_dir(&m).join(LIST_NAME).exists());
        let s = KeywordStore::open_for(&m, Options::IMAP, ["a"]).unwrap();
        assert_eq!(s.keywords("a").count(), 0);
    }

    #[test]
    fn first_spelling_is_kept_until_unused() {
        let (_t, m) = maildir();
        let mut s = KeywordStore::open_for(&m, Options::IMAP, ["a", "b"]).unwrap();
        s.set("a", ["Work"]).unwrap();
        s.add("b", ["WORK"]).unwrap();
        assert_eq!(kw(&s, "b"), ["Work"]);
        assert!(s.contains("b", "work"));
        s.remove("a", ["work"]).unwrap();
        s.remove("b", ["wOrK"]).unwrap();
        assert!(s.keyword_names().is_empty());
        s.add("a", ["WORK"]).unwrap();
        assert_eq!(kw(&s, "a"), ["WORK"]);
        // Case-sensitive stores keep both.
        let mut c = KeywordStore::open_for(&m, Options::SMAP, ["a"]).unwrap();
        c.add("a", ["Work", "work"]).unwrap();
        assert_eq!(kw(&c, "a"), ["WORK", "Work", "work"]);
    }

    #[test]
    fn staged_and_exclusive_writes() {
        let (_t, m) = maildir();
        let dir = keyword_dir(&m);
        let mut s =
            KeywordStore::open_for(&m, Options::IMAP.with_write_mode(WriteMode::Staged), ["a"])
                .unwrap();
        assert!(s.set("a", ["X"]).unwrap());
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "X\n");
        assert_eq!(names(&dir), ["a"]);
        assert!(names(&m.join("tmp")).is_empty());

        let mut e =
            KeywordStore::open(&m, Options::MAILDIRKW.with_write_mode(WriteMode::Exclusive))
                .unwrap();
        assert_eq!(kw(&e, "a"), ["X"]);
        // Another writer's update arrives after our read: the link must fail.
        fs::write(dir.join("a"), "Theirs\n").unwrap();
        assert!(!e.add("a", ["Mine"]).unwrap());
        assert_eq!(kw(&e, "a"), ["X"]);
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "Theirs\n");
        let mut e =
            KeywordStore::open(&m, Options::MAILDIRKW.with_write_mode(WriteMode::Exclusive))
                .unwrap();
        assert!(e.add("a", ["Mine"]).unwrap());
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "Mine\nTheirs\n");
        assert!(!names(&dir).iter().any(|n| n.starts_with(".tmp.")));
    }

    #[test]
    fn writes_create_missing_keyword_dir_and_reject_bad_names() {
        let (_t, m) = maildir();
        assert!(write_update(&m, b"x:2,S", &["B", "A"], WriteMode::Direct).unwrap());
        assert_eq!(
            fs::read_to_string(keyword_dir(&m).join("x")).unwrap(),
            "B\nA\n"
        );
        for bad in [&b""[..], b":2,S", b"cur/x", b"../x"] {
            assert!(matches!(
                write_update(&m, bad, &["A"], WriteMode::Direct),
                Err(MaildirError::NotFound { .. })
            ));
        }
    }

    #[test]
    fn copy_and_forget() {
        let (t, m) = maildir();
        let d = t.path().join("Dest");
        layout::create(&d, layout::Sharing::Private, false).unwrap();
        let mut src = KeywordStore::open_for(&m, Options::IMAP, ["a", "b"]).unwrap();
        src.set("a", ["K1", "K2"]).unwrap();
        let mut dst = KeywordStore::open_for(&d, Options::IMAP, Vec::<&str>::new()).unwrap();
        assert!(src.copy_to("a", &mut dst, "new1:2,S").unwrap());
        assert!(!src.copy_to("b", &mut dst, "new2").unwrap());
        assert_eq!(kw(&dst, "new1"), ["K1", "K2"]);
        dst.consolidate().unwrap();
        assert_eq!(list(&d), "K2\nK1\n\nnew1:1 0\n");
        src.consolidate().unwrap();
        src.forget("a");
        src.consolidate().unwrap();
        assert_eq!(list(&m), "");
        assert_eq!(src.len(), 1);
    }

    #[test]
    fn refresh_sees_other_writers_and_consolidate_does_not_clobber_them() {
        let (_t, m) = maildir();
        let mut ours = KeywordStore::open_for(&m, Options::IMAP, ["a", "b"]).unwrap();
        ours.set("a", ["Ours"]).unwrap();
        ours.consolidate().unwrap();
        // Another process updates b and consolidates (rewrites :list).
        let mut theirs = KeywordStore::open_for(&m, Options::IMAP, ["a", "b"]).unwrap();
        theirs.set("b", ["Theirs"]).unwrap();
        theirs.consolidate().unwrap();
        // Our next consolidation notices the new :list and merges.
        ours.set("a", ["Ours2"]).unwrap();
        ours.consolidate().unwrap();
        assert_eq!(kw(&ours, "b"), ["Theirs"]);
        let check = KeywordStore::open_for(&m, Options::IMAP, ["a", "b"]).unwrap();
        assert_eq!(kw(&check, "a"), ["Ours2"]);
        assert_eq!(kw(&check, "b"), ["Theirs"]);
        // A fresh update by someone else is seen by refresh.
        write_update(&m, b"a", &["Other"], WriteMode::Direct).unwrap();
        assert!(ours.refresh().unwrap());
        assert_eq!(kw(&ours, "a"), ["Other"]);
        assert!(!ours.refresh().unwrap());
    }

    #[test]
    fn unwritable_list_is_deferred_not_fatal() {
        let (_t, m) = maildir();
        prepare_dir(&m);
        fs::write(keyword_dir(&m).join("a"), "X\n").unwrap();
        fs::remove_dir(m.join("tmp")).unwrap();
        let mut s = KeywordStore::open(&m, Options::MAILDIRKW).unwrap();
        assert_eq!(kw(&s, "a"), ["X"]);
        assert!(s.take_deferred_error().is_some());
        // The update was not aged because :list could not be written.
        assert_eq!(names(&keyword_dir(&m)), ["a"]);
    }

    #[test]
    fn keyword_dir_gets_folder_mode() {
        let (_t, m) = maildir();
        fs::set_permissions(&m, fs::Permissions::from_mode(0o750)).unwrap();
        let _ = KeywordStore::open(&m, Options::MAILDIRKW).unwrap();
        let mode = fs::metadata(keyword_dir(&m)).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o750);
    }

    /// The issue: COPY of 167 messages out of a 6,167-message folder took minutes
    /// because every keyword operation re-read and rewrote a 450 KB `:list`. Here the
    /// file work is one update file per message touched plus one `:list` rewrite per
    /// batch, whatever the size of `:list`.
    #[test]
    fn batch_of_updates_costs_one_file_each_and_one_list_rewrite() {
        let (t, m) = maildir();
        let names: Vec<String> = (0..6167)
            .map(|i| format!("17953{i:05}.M{i}P1V000000000000FE00I0000000000{i:06}.mx1,S=1234"))
            .collect();
        // A big :list as Courier leaves it: 3 keywords on every message.
        let mut text = String::new();
        let header: Vec<String> = (0..5)
            .map(|i| format!("$Label{i}"))
            .chain(std::iter::once("Work".to_string()))
            .chain((0..37).map(|i| format!("Proj{i}")))
            .collect();
        for h in &header {
            text.push_str(h);
            text.push('\n');
        }
        text.push('\n');
        for (i, n) in names.iter().enumerate() {
            text.push_str(&format!("{n}:{} 5 {}\n", i % 5, 6 + i % 37));
        }
        prepare_dir(&m);
        fs::write(keyword_dir(&m).join(LIST_NAME), text).unwrap();
        let size = fs::metadata(keyword_dir(&m).join(LIST_NAME)).unwrap().len();
        assert!(size > 150_000, "list is {size} bytes");

        let mut src = KeywordStore::open_for(&m, Options::IMAP, &names).unwrap();
        let d = t.path().join("Dest");
        layout::create(&d, layout::Sharing::Private, false).unwrap();
        let mut dst = KeywordStore::open_for(&d, Options::IMAP, Vec::<&str>::new()).unwrap();
        assert_eq!(src.stats().list_reads, 1);
        for (i, n) in names.iter().take(167).enumerate() {
            src.add(n, ["Copied"]).unwrap();
            src.copy_to(n, &mut dst, format!("new{i}")).unwrap();
            assert_eq!(src.stats().list_reads, 1, "no :list re-read per message");
            assert_eq!(src.stats().list_writes, 0, "no :list rewrite per message");
            assert_eq!(dst.stats().list_writes, 0);
        }
        assert_eq!(src.stats().update_writes, 167);
        assert_eq!(dst.stats().update_writes, 167);
        assert_eq!(src.stats().dir_scans, 1);
        src.consolidate().unwrap();
        dst.consolidate().unwrap();
        let st = src.stats();
        assert_eq!((st.list_reads, st.list_writes, st.dir_scans), (1, 1, 1));
        assert_eq!(dst.stats().list_writes, 1);
        // And the result reads back right.
        let again = KeywordStore::open_for(&m, Options::IMAP, &names).unwrap();
        assert!(again.contains(&names[100], "copied"));
        assert!(!again.contains(&names[200], "copied"));
        assert_eq!(again.keywords(&names[3]).count(), 4);
    }
}
