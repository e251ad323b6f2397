//! Shared helpers for the imapd transcript tests: run a script against our imapd and Debian's.
//!
//! A *script* (`tests/transcripts/*.imap`) is a sequence of client commands, one per line,
//! each starting with its tag. Literals are written as placeholders that the harness turns
//! into real IMAP literals:
//!
//! * `{@FILE}` – the contents of `tests/transcripts/messages/FILE` (LF made CRLF);
//! * `{"TEXT"}` – TEXT, where `\r`, `\n`, `\xHH`, `\\` and `\"` are escapes;
//! * a `+` before the closing brace (`{@FILE+}`, `{"TEXT"+}`) sends a LITERAL+
//!   non-synchronising literal (RFC 7888); otherwise the harness waits for the server's
//!   `+` continuation before sending the data (and stops the command if a tagged
//!   response arrives instead).
//!
//! Other lines: `#` comments; `; text` an annotation shown with the next command;
//! `@env KEY=VALUE` extra environment for both servers; `@maildir` compares the
//! normalised maildir trees left behind; `! deliver|flags|remove|quota ...` changes the
//! maildir the way another program would, before the next command (see [`Action`]). A
//! command whose name is `IDLE` gets `DONE` after the server's `+` line.
//!
//! The *fixture* (`tests/transcripts/fixture.txt`) is built identically in two scratch
//! homes under /var/tmp (same message file names, same `courierimapuiddb`, so UIDs and
//! UIDVALIDITY match); each side runs `imapd Maildir` there with `IMAPLOGINTAG` unset and
//! speaks IMAP on stdin/stdout. Every read has a timeout, so a silent server fails the
//! step instead of hanging the test.
//!
//! The transcripts are normalised (greeting text, UIDVALIDITY values of folders created
//! during the session, INTERNALDATE of messages appended "now", the order of flags in a
//! flag list and of LIST/LSUB lines, IDLE keep-alives) and compared step by step, the
//! servers' log lines (stderr) as a last step `log` and, for `@maildir` scripts, the
//! normalised maildir snapshots as a step `maildir`. `tests/transcripts/DIFFERENCES.md`
//! lists the differences we intend: a row excuses exactly the lines its patterns match
//! (see [`excuse`]).

use crate::{names, snapshot};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long one read may wait for the server (Courier sleeps 2 s in DELETE/RENAME).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory holding scripts, the fixture, messages and DIFFERENCES.md.
pub fn transcripts_dir() -> PathBuf {
    crate::workspace_root().join("tests/transcripts")
}

// ---------------------------------------------------------------------------
// Scripts

/// One piece of a command line as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(Vec<u8>),
    Literal { data: Vec<u8>, plus: bool },
}

/// One tagged command.
#[derive(Clone, Debug)]
pub struct Command1 {
    pub tag: String,
    /// The script line as written (placeholders unexpanded), for reports.
    pub line: String,
    pub parts: Vec<Part>,
    /// `; ...` annotations written before it.
    pub notes: Vec<String>,
    /// `! ...` actions on the maildir, done (on both sides) before the command is sent.
    pub actions: Vec<Action>,
    /// Line number in the script file.
    pub lineno: usize,
}

impl Command1 {
    /// The command name (second word), upper-cased; `UID FETCH` for UID commands.
    pub fn name(&self) -> String {
        let mut w = self.line.split_whitespace().skip(1);
        let first = w.next().unwrap_or("").to_ascii_uppercase();
        if first == "UID" {
            format!("UID {}", w.next().unwrap_or("").to_ascii_uppercase())
        } else {
            first
        }
    }
}

/// A parsed script.
#[derive(Clone, Debug)]
pub struct Script {
    pub name: String,
    pub env: Vec<(String, String)>,
    pub check_maildir: bool,
    /// `@pipeline`: every command is sent at once, before any response is read
    /// (RFC 3501 5.5); no synchronising literal, no IDLE, no action.
    pub pipeline: bool,
    pub commands: Vec<Command1>,
}

/// Parses the script `text` named `name` (messages read from `messages`).
pub fn parse_script(name: &str, text: &str, messages: &Path) -> Result<Script, String> {
    let mut s = Script {
        name: name.to_string(),
        env: Vec::new(),
        check_maildir: false,
        pipeline: false,
        commands: Vec::new(),
    };
    let mut notes = Vec::new();
    let mut actions = Vec::new();
    let mut tags = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(a) = line.strip_prefix('!') {
            actions.push(parse_action(a).map_err(|e| format!("{name}:{lineno}: {e}"))?);
            continue;
        }
        if let Some(n) = line.strip_prefix(';') {
            notes.push(n.trim().to_string());
            continue;
        }
        if let Some(kv) = line.strip_prefix("@env ") {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("{name}:{lineno}: @env needs KEY=VALUE"))?;
            s.env.push((k.trim().to_string(), v.to_string()));
            continue;
        }
        if line == "@maildir" {
            s.check_maildir = true;
            continue;
        }
        if line == "@pipeline" {
            s.pipeline = true;
            continue;
        }
        if line.starts_with('@') {
            return Err(format!("{name}:{lineno}: unknown directive {line}"));
        }
        let tag = line.split_whitespace().next().unwrap_or("").to_string();
        if !tags.insert(tag.clone()) {
            return Err(format!("{name}:{lineno}: tag {tag} used twice"));
        }
        let parts = expand_line(line, messages).map_err(|e| format!("{name}:{lineno}: {e}"))?;
        s.commands.push(Command1 {
            tag,
            line: line.to_string(),
            parts,
            notes: std::mem::take(&mut notes),
            actions: std::mem::take(&mut actions),
            lineno,
        });
    }
    if s.pipeline {
        for c in &s.commands {
            let sync = c
                .parts
                .iter()
                .any(|p| matches!(p, Part::Literal { plus: false, .. }));
            if sync || c.name() == "IDLE" || !c.actions.is_empty() {
                return Err(format!(
                    "{name}:{}: a @pipeline script takes no synchronising literal, IDLE or action",
                    c.lineno
                ));
            }
        }
    }
    Ok(s)
}

/// Something another program does to the maildir between two commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `! deliver FOLDER FILE`: a new message in FOLDER's new/ (as an MDA would).
    Deliver { folder: String, file: String },
    /// `! flags FOLDER FILE FLAGS`: the message of FOLDER whose contents are FILE gets
    /// `:2,FLAGS` (`-` for none), as another client would do.
    Flags {
        folder: String,
        file: String,
        flags: String,
    },
    /// `! remove FOLDER FILE`: that message is deleted by another client.
    Remove { folder: String, file: String },
    /// `! quota SPEC`: the administrator changes the first line of `maildirsize`.
    Quota { spec: String },
}

fn parse_action(a: &str) -> Result<Action, String> {
    let w: Vec<&str> = a.split_whitespace().collect();
    match w.as_slice() {
        ["deliver", folder, file] => Ok(Action::Deliver {
            folder: folder.to_string(),
            file: file.to_string(),
        }),
        ["flags", folder, file, flags] => Ok(Action::Flags {
            folder: folder.to_string(),
            file: file.to_string(),
            flags: if *flags == "-" {
                String::new()
            } else {
                flags.to_string()
            },
        }),
        ["quota", spec] => Ok(Action::Quota {
            spec: spec.to_string(),
        }),
        ["remove", folder, file] => Ok(Action::Remove {
            folder: folder.to_string(),
            file: file.to_string(),
        }),
        _ => Err(format!("unknown action `!{a}`")),
    }
}

/// The directory of IMAP folder `folder` (`INBOX`, `INBOX.Work`) under `home`.
fn folder_dir(home: &Path, folder: &str) -> PathBuf {
    let md = home.join("Maildir");
    match folder.strip_prefix("INBOX.") {
        Some(f) => md.join(format!(".{f}")),
        None => md,
    }
}

/// Does `a` in `home`; `n` numbers the deliveries of one session (same on both sides).
fn do_action(home: &Path, a: &Action, n: usize) {
    let messages = transcripts_dir().join("messages");
    // The message file of `folder` with the contents of `file`.
    let find = |folder: &str, file: &str| -> Option<PathBuf> {
        let want = fs::read(messages.join(file)).ok()?;
        let dir = folder_dir(home, folder);
        ["cur", "new"].iter().find_map(|sub| {
            names(&dir.join(sub))
                .into_iter()
                .map(|n| dir.join(sub).join(n))
                .find(|p| fs::read(p).is_ok_and(|d| d == want))
        })
    };
    match a {
        Action::Deliver { folder, file } => {
            let data = fs::read(messages.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let name = format!("1768896000.M{n}P4343.external,S={}", data.len());
            let dir = folder_dir(home, folder);
            let tmp = dir.join("tmp").join(&name);
            fs::write(&tmp, &data).unwrap();
            let t = UNIX_EPOCH + Duration::from_secs(1768896000);
            let _ = fs::File::options()
                .write(true)
                .open(&tmp)
                .and_then(|f| f.set_times(fs::FileTimes::new().set_modified(t)));
            fs::rename(&tmp, dir.join("new").join(&name)).unwrap();
        }
        Action::Flags {
            folder,
            file,
            flags,
        } => {
            let p = find(folder, file).unwrap_or_else(|| panic!("! flags: {file} not in {folder}"));
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let base = name.split(':').next().unwrap_or(&name);
            let dir = p.parent().unwrap().parent().unwrap().join("cur");
            fs::rename(&p, dir.join(format!("{base}:2,{flags}"))).unwrap();
        }
        Action::Remove { folder, file } => {
            let p =
                find(folder, file).unwrap_or_else(|| panic!("! remove: {file} not in {folder}"));
            fs::remove_file(p).unwrap();
        }
        Action::Quota { spec } => {
            let p = home.join("Maildir/maildirsize");
            let text = fs::read_to_string(&p).unwrap_or_default();
            let rest = text.split_once('\n').map(|(_, r)| r).unwrap_or("");
            fs::write(&p, format!("{spec}\n{rest}")).unwrap();
        }
    }
}

/// Splits a script line into text and literals.
fn expand_line(line: &str, messages: &Path) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' && matches!(b.get(i + 1), Some(b'@') | Some(b'"')) {
            let (data, next) = if b[i + 1] == b'@' {
                let end = line[i..]
                    .find('}')
                    .map(|e| e + i)
                    .ok_or("unterminated {@")?;
                let name = &line[i + 2..end];
                let (name, _) = name.split_at(name.trim_end_matches('+').len());
                let p = messages.join(name);
                let raw = fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                (crlf(&raw), end)
            } else {
                let mut j = i + 2;
                let mut d = Vec::new();
                loop {
                    match b.get(j) {
                        None => return Err("unterminated {\"".into()),
                        Some(b'\\') => {
                            match b.get(j + 1) {
                                Some(b'r') => d.push(b'\r'),
                                Some(b'n') => d.push(b'\n'),
                                Some(b'x') => {
                                    let hex = line
                                        .get(j + 2..j + 4)
                                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                                        .ok_or("\\x needs two hex digits")?;
                                    d.push(hex);
                                    j += 2;
                                }
                                Some(c) => d.push(*c),
                                None => return Err("dangling \\".into()),
                            }
                            j += 2;
                        }
                        Some(b'"') => break,
                        Some(c) => {
                            d.push(*c);
                            j += 1;
                        }
                    }
                }
                let end = line[j..]
                    .find('}')
                    .map(|e| e + j)
                    .ok_or("unterminated {\"")?;
                (d, end)
            };
            let plus = line[..next].ends_with('+');
            parts.push(Part::Text(std::mem::take(&mut text)));
            parts.push(Part::Literal { data, plus });
            i = next + 1;
        } else {
            text.push(b[i]);
            i += 1;
        }
    }
    parts.push(Part::Text(text));
    Ok(parts)
}

/// LF line ends made CRLF (CRLF kept).
pub fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for (k, &c) in raw.iter().enumerate() {
        if c == b'\n' && (k == 0 || raw[k - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}

/// Every `*.imap` script in the transcripts directory, sorted by name.
pub fn load_scripts() -> Vec<Script> {
    let dir = transcripts_dir();
    let messages = dir.join("messages");
    let mut out = Vec::new();
    for n in names(&dir) {
        if let Some(stem) = n.strip_suffix(".imap") {
            let text = fs::read_to_string(dir.join(&n)).unwrap();
            match parse_script(stem, &text, &messages) {
                Ok(s) => out.push(s),
                Err(e) => panic!("{e}"),
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Fixture

/// One message of the fixture.
#[derive(Clone, Debug)]
pub struct FixtureMsg {
    pub file: String,
    pub in_new: bool,
    pub flags: String,
    pub mtime: i64,
    pub keywords: Vec<String>,
    pub uid: Option<u32>,
}

/// One folder (`INBOX` is the main maildir; others are maildir++ names without the dot).
#[derive(Clone, Debug, Default)]
pub struct FixtureFolder {
    pub name: String,
    pub uidvalidity: u32,
    pub messages: Vec<FixtureMsg>,
}

/// What every script starts from.
#[derive(Clone, Debug, Default)]
pub struct Fixture {
    pub quota: Option<String>,
    pub folders: Vec<FixtureFolder>,
    pub subscribed: Vec<String>,
}

impl Fixture {
    /// The UIDVALIDITY values the fixture writes (left as they are by normalisation).
    pub fn uidvalidities(&self) -> Vec<u32> {
        self.folders.iter().map(|f| f.uidvalidity).collect()
    }
}

/// Parses `fixture.txt`:
/// `quota SPEC`, `folder NAME UIDVALIDITY`, `msg cur|new FILE FLAGS|- YYYY-MM-DD HH:MM:SS
/// [uid=N] [kw=a,b]`, `subscribe NAME`.
pub fn parse_fixture(text: &str) -> Result<Fixture, String> {
    let mut f = Fixture::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let err = |m: &str| format!("fixture.txt:{}: {m}", i + 1);
        match w[0] {
            "quota" => f.quota = Some(w.get(1).ok_or_else(|| err("quota SPEC"))?.to_string()),
            "subscribe" => f
                .subscribed
                .push(w.get(1).ok_or_else(|| err("subscribe NAME"))?.to_string()),
            "folder" => {
                if w.len() != 3 {
                    return Err(err("folder NAME UIDVALIDITY"));
                }
                f.folders.push(FixtureFolder {
                    name: w[1].to_string(),
                    uidvalidity: w[2].parse().map_err(|_| err("bad UIDVALIDITY"))?,
                    messages: Vec::new(),
                });
            }
            "msg" => {
                if w.len() < 6 {
                    return Err(err("msg cur|new FILE FLAGS DATE TIME [uid=N] [kw=..]"));
                }
                let mut m = FixtureMsg {
                    file: w[2].to_string(),
                    in_new: w[1] == "new",
                    flags: if w[3] == "-" {
                        String::new()
                    } else {
                        w[3].to_string()
                    },
                    mtime: parse_datetime(w[4], w[5]).ok_or_else(|| err("bad date"))?,
                    keywords: Vec::new(),
                    uid: None,
                };
                for extra in &w[6..] {
                    if let Some(u) = extra.strip_prefix("uid=") {
                        m.uid = Some(u.parse().map_err(|_| err("bad uid"))?);
                    } else if let Some(k) = extra.strip_prefix("kw=") {
                        m.keywords = k.split(',').map(str::to_string).collect();
                    } else {
                        return Err(err(&format!("unknown field {extra}")));
                    }
                }
                f.folders
                    .last_mut()
                    .ok_or_else(|| err("msg before folder"))?
                    .messages
                    .push(m);
            }
            other => return Err(err(&format!("unknown keyword {other}"))),
        }
    }
    Ok(f)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) as a Unix time.
pub fn parse_datetime(date: &str, time: &str) -> Option<i64> {
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    Some(days_from_civil(d[0], d[1], d[2]) * 86400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The fixture shipped with the suite.
pub fn load_fixture() -> Fixture {
    let p = transcripts_dir().join("fixture.txt");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    parse_fixture(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// The file name a fixture message gets (the same in both homes): a Courier-style
/// unique name `SEC.M<n>P4242.fixture,S=<size>` (host `fixture`, so it never collides
/// with names the servers make).
pub fn fixture_name(m: &FixtureMsg, n: usize, size: usize) -> String {
    format!("{}.M{n}P4242.fixture,S={size}", m.mtime)
}

/// Builds the fixture's `Maildir` inside `home` (which must exist, mode 0700).
pub fn build_maildir(home: &Path, fx: &Fixture) {
    let messages = transcripts_dir().join("messages");
    let md = home.join("Maildir");
    let mut quota_bytes = 0u64;
    let mut quota_count = 0u64;
    let mut n = 0usize;
    for folder in &fx.folders {
        let dir = if folder.name == "INBOX" {
            md.clone()
        } else {
            md.join(format!(".{}", folder.name))
        };
        for sub in ["", "tmp", "new", "cur", "courierimapkeywords"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
        }
        if folder.name != "INBOX" {
            fs::write(dir.join("maildirfolder"), b"").unwrap();
            fs::set_permissions(dir.join("maildirfolder"), fs::Permissions::from_mode(0o600))
                .unwrap();
        }
        let mut uiddb = Vec::new();
        let mut next_uid = 1u32;
        let mut kwlist: Vec<String> = Vec::new();
        let mut kwlines = String::new();
        for m in &folder.messages {
            n += 1;
            let p = messages.join(&m.file);
            let data = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let base = fixture_name(m, n, data.len());
            let path = if m.in_new {
                dir.join("new").join(&base)
            } else {
                dir.join("cur").join(format!("{base}:2,{}", m.flags))
            };
            fs::write(&path, &data).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let t = UNIX_EPOCH + Duration::from_secs(m.mtime as u64);
            fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t)))
                .unwrap();
            if folder.name != "Trash" && !m.flags.contains('T') {
                quota_bytes += data.len() as u64;
                quota_count += 1;
            }
            if !m.in_new {
                let uid = m.uid.unwrap_or(next_uid);
                assert!(uid >= next_uid, "fixture: UIDs must increase ({})", m.file);
                uiddb.push(format!("{uid} {base}\n"));
                next_uid = uid + 1;
            }
            if !m.keywords.is_empty() {
                let mut idx = Vec::new();
                for k in &m.keywords {
                    let pos = match kwlist.iter().position(|x| x == k) {
                        Some(p) => p,
                        None => {
                            kwlist.push(k.clone());
                            kwlist.len() - 1
                        }
                    };
                    idx.push(pos.to_string());
                }
                let _ = writeln!(kwlines, "{base}:{}", idx.join(" "));
            }
        }
        let mut db = format!("1 {} {next_uid}\n", folder.uidvalidity);
        for l in uiddb {
            db.push_str(&l);
        }
        fs::write(dir.join("courierimapuiddb"), db).unwrap();
        if !kwlist.is_empty() {
            let mut list = String::new();
            for k in &kwlist {
                list.push_str(k);
                list.push('\n');
            }
            list.push('\n');
            list.push_str(&kwlines);
            fs::write(dir.join("courierimapkeywords/:list"), list).unwrap();
        }
    }
    if let Some(q) = &fx.quota {
        fs::write(
            md.join("maildirsize"),
            format!("{q}\n{quota_bytes:>12} {quota_count:>12}\n"),
        )
        .unwrap();
    }
    if !fx.subscribed.is_empty() {
        let mut s = String::new();
        for f in &fx.subscribed {
            s.push_str(f);
            s.push('\n');
        }
        fs::write(md.join("courierimapsubscribed"), s).unwrap();
    }
}

static HOME_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A scratch home under /var/tmp (never sticky, unlike /tmp: Courier refuses a sticky
/// home), mode 0700, removed on drop.
pub struct Home {
    path: PathBuf,
}

impl Home {
    pub fn new(tag: &str) -> Home {
        let n = HOME_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = PathBuf::from("/var/tmp")
            .join(format!("imapkit-{tag}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        Home { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if std::env::var_os("IMAPKIT_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// Running a script

/// The environment both servers get (Debian's /etc/courier/imapd values), on top of an
/// empty one.
pub fn base_env() -> Vec<(String, String)> {
    [
        ("PATH", "/usr/bin:/bin"),
        ("TZ", "UTC"),
        ("LANG", "C"),
        ("AUTHENTICATED", "bob"),
        (
            "IMAP_CAPABILITY",
            "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE",
        ),
        ("IMAP_KEYWORDS", "1"),
        ("IMAP_ACL", "1"),
        ("IMAP_IDLE_TIMEOUT", "60"),
        ("IMAP_MAILBOX_SANITY_CHECK", "1"),
        ("IMAP_DISABLETHREADSORT", "0"),
        ("IMAP_CHECK_ALL_FOLDERS", "0"),
        ("IMAP_OBSOLETE_CLIENT", "0"),
        ("IMAP_USELOCKS", "1"),
        ("IMAP_SHAREDINDEXFILE", "/etc/courier/shared/index"),
        ("IMAP_ENHANCEDIDLE", "0"),
        ("IMAP_TRASHFOLDERNAME", "Trash"),
        ("IMAP_EMPTYTRASH", "Trash:7"),
        ("IMAP_MOVE_EXPUNGE_TO_TRASH", "0"),
        ("SENDMAIL", "/usr/sbin/sendmail"),
        ("HEADERFROM", "X-IMAP-Sender"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// What the server said in answer to one command (or the greeting, or after EOF).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepOut {
    /// `greeting`, a command tag, or `eof`.
    pub tag: String,
    /// Display lines: one per response line; literal contents as `|`-prefixed lines.
    pub lines: Vec<String>,
}

/// A whole session.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    pub steps: Vec<StepOut>,
    /// The server's stderr (log lines), for reports.
    pub stderr: String,
}

/// A logical response line: the text and the literal data in order.
enum Msg {
    Resp(Vec<String>, String),
    Eof,
}

/// Reads logical response lines (literals included) from the server.
fn reader(out: impl Read + Send + 'static) -> Receiver<Msg> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        loop {
            let mut disp = Vec::new();
            let mut first = String::new();
            let mut cur = String::new();
            loop {
                let mut buf = Vec::new();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => {
                        if !cur.is_empty() || !disp.is_empty() {
                            disp.push(format!("{cur}<no CRLF before EOF>"));
                            let _ = tx.send(Msg::Resp(disp, first));
                        }
                        let _ = tx.send(Msg::Eof);
                        return;
                    }
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&buf);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                cur.push_str(text);
                if first.is_empty() {
                    first = cur.clone();
                }
                // A literal announced at the end of the line?
                let lit = literal_len(&cur);
                disp.push(std::mem::take(&mut cur));
                match lit {
                    Some(n) if n <= 64 * 1024 * 1024 => {
                        let mut data = vec![0u8; n];
                        if r.read_exact(&mut data).is_err() {
                            disp.push("<EOF inside a literal>".into());
                            let _ = tx.send(Msg::Resp(disp, first));
                            let _ = tx.send(Msg::Eof);
                            return;
                        }
                        let s = String::from_utf8_lossy(&data);
                        for l in s.split_inclusive('\n') {
                            let shown = l.strip_suffix('\n').unwrap_or(l);
                            let shown = shown.strip_suffix('\r').unwrap_or(shown);
                            let mark = if l.ends_with("\r\n") {
                                ""
                            } else if l.ends_with('\n') {
                                "<bare LF>"
                            } else {
                                "<no line end>"
                            };
                            disp.push(format!("|{shown}{mark}"));
                        }
                        cur.push_str("  ");
                    }
                    _ => break,
                }
            }
            if tx.send(Msg::Resp(disp, first)).is_err() {
                return;
            }
        }
    });
    rx
}

/// `N` when `line` ends with `{N}` (or `{N+}`).
fn literal_len(line: &str) -> Option<usize> {
    let l = line.strip_suffix('}')?;
    let l = l.strip_suffix('+').unwrap_or(l);
    let open = l.rfind('{')?;
    let digits = &l[open + 1..];
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Msg>,
    eof: bool,
    stderr: std::thread::JoinHandle<String>,
}

impl Session {
    fn start(bin: &Path, home: &Path, env: &[(String, String)]) -> Session {
        let mut cmd = Command::new(bin);
        cmd.arg("Maildir")
            .current_dir(home)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            cmd.arg0("imapd");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let stdin = child.stdin.take();
        let rx = reader(child.stdout.take().expect("stdout piped"));
        let mut err = child.stderr.take().expect("stderr piped");
        let stderr = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        });
        Session {
            child,
            stdin,
            rx,
            eof: false,
            stderr,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> bool {
        match self.stdin.as_mut() {
            Some(s) => s.write_all(bytes).and_then(|_| s.flush()).is_ok(),
            None => false,
        }
    }

    /// Next logical response; None on EOF or timeout (recorded in `out`).
    fn next(&mut self, out: &mut Vec<String>) -> Option<(Vec<String>, String)> {
        if self.eof {
            return None;
        }
        match self.rx.recv_timeout(READ_TIMEOUT) {
            Ok(Msg::Resp(d, first)) => Some((d, first)),
            Ok(Msg::Eof) | Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                out.push("<EOF>".into());
                None
            }
            Err(RecvTimeoutError::Timeout) => {
                self.eof = true;
                out.push(format!("<no response within {READ_TIMEOUT:?}>"));
                let _ = self.child.kill();
                None
            }
        }
    }

    fn finish(mut self) -> (Vec<String>, String) {
        drop(self.stdin.take());
        let mut rest = Vec::new();
        if !self.eof {
            while let Some((d, _)) = self.next(&mut rest) {
                rest.extend(d);
            }
        }
        // The server should exit on EOF; give it the read timeout, then kill it.
        let start = std::time::Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() < READ_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    rest.push("<still running after EOF; killed>".into());
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        let stderr = self.stderr.join().unwrap_or_default();
        (rest, stderr)
    }
}

/// Runs `script` against `bin` in `home`; returns the raw transcript.
pub fn run_script(bin: &Path, home: &Path, script: &Script) -> Transcript {
    let mut env = base_env();
    for (k, v) in &script.env {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    let mut s = Session::start(bin, home, &env);
    let mut t = Transcript::default();
    let mut greeting = Vec::new();
    if let Some((d, _)) = s.next(&mut greeting) {
        greeting.extend(d);
    }
    t.steps.push(StepOut {
        tag: "greeting".into(),
        lines: greeting,
    });
    if script.pipeline {
        let mut all = Vec::new();
        for c in &script.commands {
            all.extend(wire_bytes(c));
        }
        s.send(&all);
        for c in &script.commands {
            let mut lines = Vec::new();
            while let Some((d, first)) = s.next(&mut lines) {
                lines.extend(d);
                if is_tagged(&first, &c.tag) {
                    break;
                }
            }
            t.steps.push(StepOut {
                tag: c.tag.clone(),
                lines,
            });
        }
    }
    let mut deliveries = 0;
    for c in script.commands.iter().filter(|_| !script.pipeline) {
        for a in &c.actions {
            deliveries += 1;
            do_action(home, a, deliveries);
        }
        let mut lines = Vec::new();
        if !s.eof {
            run_command(&mut s, c, &mut lines);
        } else {
            lines.push("<not sent: the server had closed the connection>".into());
        }
        t.steps.push(StepOut {
            tag: c.tag.clone(),
            lines,
        });
    }
    let (rest, stderr) = s.finish();
    t.steps.push(StepOut {
        tag: "eof".into(),
        lines: rest,
    });
    t.stderr = stderr;
    t
}

/// A command as sent when nothing is waited for (LITERAL+ literals only).
fn wire_bytes(c: &Command1) -> Vec<u8> {
    let mut out = Vec::new();
    for p in &c.parts {
        match p {
            Part::Text(t) => out.extend_from_slice(t),
            Part::Literal { data, .. } => {
                out.extend_from_slice(format!("{{{}+}}\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn is_tagged(first: &str, tag: &str) -> bool {
    first
        .strip_prefix(tag)
        .is_some_and(|r| r.starts_with(' ') || r.is_empty())
}

fn run_command(s: &mut Session, c: &Command1, lines: &mut Vec<String>) {
    let idle = c.name() == "IDLE";
    let n = c.parts.len();
    for (k, p) in c.parts.iter().enumerate() {
        match p {
            Part::Text(t) => {
                let mut bytes = t.clone();
                if k + 1 == n {
                    bytes.extend_from_slice(b"\r\n");
                }
                if !s.send(&bytes) {
                    lines.push("<server closed its input>".into());
                }
            }
            Part::Literal { data, plus } => {
                let head = if *plus {
                    format!("{{{}+}}\r\n", data.len())
                } else {
                    format!("{{{}}}\r\n", data.len())
                };
                s.send(head.as_bytes());
                if !*plus {
                    // Wait for the continuation request.
                    loop {
                        let Some((d, first)) = s.next(lines) else {
                            return;
                        };
                        lines.extend(d);
                        if first.starts_with('+') {
                            break;
                        }
                        if is_tagged(&first, &c.tag) {
                            return;
                        }
                    }
                }
                s.send(data);
            }
        }
    }
    let mut done_sent = false;
    loop {
        let Some((d, first)) = s.next(lines) else {
            return;
        };
        lines.extend(d);
        if is_tagged(&first, &c.tag) {
            return;
        }
        if idle && !done_sent && first.starts_with('+') {
            s.send(b"DONE\r\n");
            done_sent = true;
        }
    }
}

// ---------------------------------------------------------------------------
// Normalisation

/// What normalisation needs to know: the fixture's UIDVALIDITY values and the time the
/// run started (INTERNALDATEs near it are "now").
pub struct Norm {
    pub known_uidv: Vec<u32>,
    pub now: i64,
}

impl Norm {
    pub fn new(fx: &Fixture) -> Norm {
        Norm {
            known_uidv: fx.uidvalidities(),
            now: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        }
    }

    /// The normalised copy of `t`, with the server's log lines (stderr) as a last step
    /// named `log`.
    pub fn transcript(&self, t: &Transcript) -> Vec<StepOut> {
        let mut steps = self.steps(t);
        steps.push(StepOut {
            tag: "log".into(),
            lines: t.stderr.lines().map(normalise_log_line).collect(),
        });
        steps
    }

    fn steps(&self, t: &Transcript) -> Vec<StepOut> {
        t.steps
            .iter()
            .map(|s| StepOut {
                tag: s.tag.clone(),
                lines: sort_list_runs(
                    s.lines
                        .iter()
                        .filter(|l| !is_timing_line(l))
                        .map(|l| self.line(&s.tag, l))
                        .collect(),
                ),
            })
            .collect()
    }

    /// One display line.
    pub fn line(&self, tag: &str, l: &str) -> String {
        let mut l = l.to_string();
        if tag == "greeting"
            && let Some(rest) = l.strip_prefix("* PREAUTH ")
            && !rest.is_empty()
        {
            l = "* PREAUTH <greeting text>".into();
        }
        for key in ["UIDVALIDITY ", "[APPENDUID ", "[COPYUID "] {
            l = self.uidv_after(&l, key);
        }
        sort_flag_lists(&self.internaldate(&l))
    }

    fn uidv_after(&self, l: &str, key: &str) -> String {
        let mut out = String::new();
        let mut rest = l;
        while let Some(pos) = rest.find(key) {
            let start = pos + key.len();
            out.push_str(&rest[..start]);
            let digits: String = rest[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            match digits.parse::<u32>() {
                Ok(v) if !self.known_uidv.contains(&v) => out.push_str("<new-uidvalidity>"),
                _ => out.push_str(&digits),
            }
            rest = &rest[start + digits.len()..];
        }
        out.push_str(rest);
        out
    }

    fn internaldate(&self, l: &str) -> String {
        let key = "INTERNALDATE \"";
        let Some(pos) = l.find(key) else {
            return l.to_string();
        };
        let start = pos + key.len();
        let Some(len) = l[start..].find('"') else {
            return l.to_string();
        };
        let date = &l[start..start + len];
        match parse_imap_date(date) {
            Some(t) if (t - self.now).abs() < 6 * 3600 => {
                format!("{}<now>{}", &l[..start], &l[start + len..])
            }
            _ => l.to_string(),
        }
    }
}

/// Sorts the flags inside every `FLAGS (...)` / `PERMANENTFLAGS (...)` list: a flag list
/// is a set (RFC 3501 9, `flag-list`), and Courier prints keywords in the order of its
/// internal table.
pub fn sort_flag_lists(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut rest = l;
    while let Some(pos) = rest.find("FLAGS (") {
        let start = pos + "FLAGS (".len();
        let Some(len) = rest[start..].find(')') else {
            break;
        };
        out.push_str(&rest[..start]);
        let mut flags: Vec<&str> = rest[start..start + len].split_whitespace().collect();
        flags.sort_unstable();
        out.push_str(&flags.join(" "));
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// Sorts each run of consecutive `* LIST` / `* LSUB` lines: RFC 3501 leaves their order
/// open, and Courier's is directory order.
fn sort_list_runs(mut lines: Vec<String>) -> Vec<String> {
    let is_list = |l: &String| l.starts_with("* LIST ") || l.starts_with("* LSUB ");
    let mut k = 0;
    while k < lines.len() {
        if is_list(&lines[k]) {
            let start = k;
            while k < lines.len() && is_list(&lines[k]) {
                k += 1;
            }
            lines[start..k].sort();
        } else {
            k += 1;
        }
    }
    lines
}

/// A log line with its timing-dependent and derived counters replaced: `time=` (seconds),
/// `rcvd=` and `sent=` (bytes read and written, which follow from the transcript already
/// compared: a literal the server refuses is never sent).
pub fn normalise_log_line(l: &str) -> String {
    let mut out = l.to_string();
    for key in ["time=", "rcvd=", "sent="] {
        if let Some(pos) = out.find(key) {
            let start = pos + key.len();
            let len = out[start..].bytes().take_while(u8::is_ascii_digit).count();
            out.replace_range(start..start + len, "N");
        }
    }
    out
}

/// Untagged lines whose presence depends on timing (IDLE keep-alives).
fn is_timing_line(l: &str) -> bool {
    l.starts_with("* OK Still here")
}

/// `dd-Mon-yyyy hh:mm:ss +zzzz` as a Unix time.
pub fn parse_imap_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(d[1]))? as i64 + 1;
    let iso = format!("{}-{m}-{}", d[2], d[0]);
    let t = parse_datetime(&iso, time)?;
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let z: i64 = zone.get(1..5)?.parse().ok()?;
    Some(t - sign * ((z / 100) * 3600 + (z % 100) * 60))
}

// ---------------------------------------------------------------------------
// Maildir snapshots

/// The normalised snapshot of the `Maildir` of `home` (stale uiddb lines dropped,
/// `maildirsize` summed, keywords made canonical: see the helpers below), without the
/// contents of `tmp/` directories (transient by definition) and without the ACL files
/// Courier writes with the default rights the first time it looks at a folder
/// (`courierimapacl`, `courierimaphieracl/`: they hold no state a session changed).
pub fn maildir_snapshot(home: &Path) -> Vec<String> {
    prune_uiddbs(&home.join("Maildir"));
    sum_maildirsize(&home.join("Maildir"));
    canonical_keywords(&home.join("Maildir"));
    snapshot(&home.join("Maildir"))
        .lines()
        .filter(|l| {
            let path = l.splitn(3, ' ').nth(2).unwrap_or("");
            let path = path.split(" = ").next().unwrap_or(path);
            !path.contains("/tmp/")
                && !path.contains("courierimapacl")
                && !path.contains("courierimaphieracl")
        })
        .map(|l| sort_keyword_lines(&strip_uniq(&name_placeholders(l))))
        .collect()
}

/// Sorts the message lines of a rendered `courierimapkeywords/:list` once the message
/// names are normalised: `canonical_keywords` orders them by the real names, which hold
/// each server's own time and inode, so that order says nothing (the file maps names to
/// keywords; readers load it into a table).
fn sort_keyword_lines(line: &str) -> String {
    let Some((head, value)) = line.split_once(" = \"") else {
        return line.to_string();
    };
    let Some(inner) = value.strip_suffix('"') else {
        return line.to_string();
    };
    if !head.ends_with("courierimapkeywords/:list") {
        return line.to_string();
    }
    let Some((names, msgs)) = inner.split_once("\\n\\n") else {
        return line.to_string();
    };
    let mut msgs: Vec<&str> = msgs.split("\\n").filter(|m| !m.is_empty()).collect();
    msgs.sort_unstable();
    let mut out = format!("{head} = \"{names}\\n\\n");
    for m in msgs {
        out.push_str(m);
        out.push_str("\\n");
    }
    out.push('"');
    out
}

/// Removes, in every folder of `maildir`, the `courierimapuiddb` lines of messages that
/// are gone: Courier rewrites the file lazily (at its next scan), so a stale line says
/// nothing about the UIDs a client sees. The header (UIDVALIDITY, next UID) is kept.
fn prune_uiddbs(maildir: &Path) {
    for d in folder_dirs(maildir) {
        let db = d.join("courierimapuiddb");
        let Ok(text) = fs::read_to_string(&db) else {
            continue;
        };
        let mut present = std::collections::HashSet::new();
        for sub in ["cur", "new"] {
            for n in names(&d.join(sub)) {
                present.insert(n.split(':').next().unwrap_or(&n).to_string());
            }
        }
        let mut out = String::new();
        for (k, line) in text.lines().enumerate() {
            let keep = k == 0
                || line
                    .split_once(' ')
                    .is_some_and(|(_, name)| present.contains(name));
            if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        if out != text {
            let _ = fs::write(&db, out);
        }
    }
}

/// The folders of `maildir` (itself included).
fn folder_dirs(maildir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![maildir.to_path_buf()];
    for n in names(maildir) {
        if n.starts_with('.') && n != "." && n != ".." && maildir.join(&n).is_dir() {
            dirs.push(maildir.join(n));
        }
    }
    dirs
}

/// Replaces each folder's `courierimapkeywords/` by one canonical `:list` holding the
/// keywords every message has once the pending updates are applied (formats.md 7: an
/// update file `<name>` is newer than any `.<N>.<name>`, a higher N is newer, every
/// update is newer than `:list`). When a server consolidates its updates is its own
/// business; what a reader gets is what matters.
fn canonical_keywords(maildir: &Path) {
    for d in folder_dirs(maildir) {
        let kw = d.join("courierimapkeywords");
        if !kw.is_dir() {
            continue;
        }
        let mut state: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Ok(text) = fs::read_to_string(kw.join(":list")) {
            let (names_part, msgs) = text.split_once("\n\n").unwrap_or((&text, ""));
            let list: Vec<&str> = names_part.lines().collect();
            for l in msgs.lines() {
                if let Some((base, idx)) = l.rsplit_once(':') {
                    let words = idx
                        .split_whitespace()
                        .filter_map(|i| i.parse::<usize>().ok())
                        .filter_map(|i| list.get(i).map(|w| w.to_string()))
                        .collect();
                    state.insert(base.to_string(), words);
                }
            }
        }
        // Newest update per message: (generation, contents); a fresh file is u64::MAX.
        let mut updates: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for n in names(&kw) {
            if n.starts_with(':') || n.starts_with(".tmp.") {
                continue;
            }
            let (generation, base) = match n.strip_prefix('.').and_then(|r| r.split_once('.')) {
                Some((g, b)) => match g.parse::<u64>() {
                    Ok(g) => (g, b.to_string()),
                    Err(_) => continue,
                },
                None => (u64::MAX, n.clone()),
            };
            let text = fs::read_to_string(kw.join(&n)).unwrap_or_default();
            if updates.get(&base).is_none_or(|(g, _)| generation >= *g) {
                updates.insert(base, (generation, text));
            }
        }
        for (base, (_, text)) in updates {
            state.insert(base, text.lines().map(str::to_string).collect());
        }
        state.retain(|_, v| !v.is_empty());
        for n in names(&kw) {
            let _ = fs::remove_file(kw.join(n));
        }
        if state.is_empty() {
            continue;
        }
        let mut all: Vec<String> = state.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        let mut out = String::new();
        for w in &all {
            out.push_str(w);
            out.push('\n');
        }
        out.push('\n');
        for (base, words) in &state {
            let mut idx: Vec<usize> = words
                .iter()
                .filter_map(|w| all.iter().position(|a| a == w))
                .collect();
            idx.sort_unstable();
            idx.dedup();
            let idx: Vec<String> = idx.iter().map(usize::to_string).collect();
            let _ = writeln!(out, "{base}:{}", idx.join(" "));
        }
        let _ = fs::write(kw.join(":list"), out);
    }
}

/// Rewrites `maildirsize` as its quota line and one line with the totals, the way a
/// recalculation leaves it: whether a server appended lines or recalculated (Courier does
/// after DELETE and RENAME) says nothing; the totals and the quota do.
fn sum_maildirsize(maildir: &Path) {
    let p = maildir.join("maildirsize");
    let Ok(text) = fs::read_to_string(&p) else {
        return;
    };
    let mut lines = text.lines();
    let spec = lines.next().unwrap_or("").to_string();
    let (mut b, mut c) = (0i64, 0i64);
    for l in lines {
        let mut it = l.split_whitespace();
        b += it.next().and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
        c += it.next().and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
    }
    let _ = fs::write(&p, format!("{spec}\n{b:>12} {c:>12}\n"));
}

/// Drops the `_<n>` UNIQ part of normalised message names (`MSG3VI_2,S=…` → `MSG3VI,S=…`,
/// `NAME_2,S=…` → `NAME,S=…`): the per-process counter a server appends to the names it
/// makes is part of the unique name, which may differ.
fn strip_uniq(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        let next = ["VI_", "NAME_"]
            .iter()
            .filter_map(|k| rest.find(k).map(|p| (p, k.len())))
            .min();
        let Some((pos, klen)) = next else { break };
        let uniq_start = pos + klen - 1;
        let digits = rest[uniq_start + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        out.push_str(&rest[..uniq_start]);
        if digits > 0 && rest[uniq_start + 1 + digits..].starts_with(",S=") {
            rest = &rest[uniq_start + 1 + digits..];
        } else {
            out.push('_');
            rest = &rest[uniq_start + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Message names that `normalise` leaves alone because they follow an escape (`\n1795…`
/// inside a rendered `:list`) become `NAME<_uniq>,S=<n>`.
fn name_placeholders(line: &str) -> String {
    let host = crate::hostname();
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            // SEC.M<USEC>P<PID>V..I..[_UNIQ].HOST
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if line[j..].starts_with(".M") {
                let rest = &line[j..];
                if let Some(h) = rest.find(&format!(".{host}")) {
                    let body = &rest[..h];
                    if body.len() < 80 && body.contains('P') && !body.contains(['/', ' ', '"']) {
                        let uniq = body.rfind('_').map(|u| &body[u..]).unwrap_or("");
                        out.push_str(&line[last..i]);
                        out.push_str("NAME");
                        out.push_str(uniq);
                        i = j + h + 1 + host.len();
                        last = i;
                        continue;
                    }
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&line[last..]);
    out
}

// ---------------------------------------------------------------------------
// Intended differences

/// One row of DIFFERENCES.md.
#[derive(Clone, Debug)]
pub struct Difference {
    pub script: String,
    pub step: String,
    /// Glob (`*` = anything) that one of Courier's lines of the step matches.
    pub courier: String,
    /// Glob that one of our lines of the step matches.
    pub ours: String,
    pub why: String,
}

/// Parses the table rows of DIFFERENCES.md: `| script | step | `courier` | `ours` | why |`.
pub fn parse_differences(text: &str) -> Result<Vec<Difference>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if !l.starts_with('|') || l.starts_with("|--") || l.starts_with("| script") {
            continue;
        }
        if l.chars().all(|c| matches!(c, '|' | '-' | ' ' | ':')) {
            continue;
        }
        let cells = split_row(l);
        if cells.len() < 5 {
            return Err(format!("DIFFERENCES.md:{}: expected 5 cells", i + 1));
        }
        let unquote = |c: &str| -> Result<String, String> {
            let c = c.trim();
            c.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .map(|c| c.replace("\\|", "|"))
                .ok_or_else(|| format!("DIFFERENCES.md:{}: pattern not in backticks: {c}", i + 1))
        };
        out.push(Difference {
            script: cells[0].trim().to_string(),
            step: cells[1].trim().to_string(),
            courier: unquote(&cells[2])?,
            ours: unquote(&cells[3])?,
            why: cells[4].trim().to_string(),
        });
    }
    Ok(out)
}

/// Splits a markdown table row on `|` not escaped as `\|`.
fn split_row(l: &str) -> Vec<String> {
    let inner = l.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut prev = ' ';
    for c in inner.chars() {
        if c == '|' && prev != '\\' {
            cells.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
        prev = c;
    }
    cells.push(cur);
    cells
}

/// The table shipped with the suite.
pub fn load_differences() -> Vec<Difference> {
    let p = transcripts_dir().join("DIFFERENCES.md");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    parse_differences(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// `*`-glob match of a whole line.
pub fn glob(pat: &str, s: &str) -> bool {
    let (p, t) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

// ---------------------------------------------------------------------------
// Comparing

/// A step where the two servers disagree.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub script: String,
    pub step: String,
    /// The command as written in the script (empty for greeting/eof/maildir).
    pub command: String,
    pub notes: Vec<String>,
    pub courier: Vec<String>,
    pub ours: Vec<String>,
    /// True when the listed differences account for every differing line.
    pub intended: bool,
    /// The rows of the differences table that applied to this step.
    pub rows: Vec<usize>,
}

impl Mismatch {
    /// A readable report: command, then a line diff (`-` Courier only, `+` ours only).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "=== {} step {}: {}",
            self.script, self.step, self.command
        );
        for n in &self.notes {
            let _ = writeln!(s, "    ; {n}");
        }
        for l in line_diff(&self.courier, &self.ours) {
            let _ = writeln!(s, "  {l}");
        }
        s
    }
}

/// A minimal LCS diff: ` ` common, `-` only in `a` (Courier), `+` only in `b` (ours).
/// Long literal bodies are elided around the differences.
pub fn line_diff(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    if n * m > 4_000_000 {
        let mut out: Vec<String> = a.iter().map(|l| format!("- {l}")).collect();
        out.extend(b.iter().map(|l| format!("+ {l}")));
        return out;
    }
    let mut dp = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            dp[i][j] = if a[i] == b[j] {
                dp[i + 1][j + 1] + 1
            } else {
                dp[i + 1][j].max(dp[i][j + 1])
            };
        }
    }
    let mut raw = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            raw.push((' ', a[i].clone()));
            i += 1;
            j += 1;
        } else if j < m && (i == n || dp[i][j + 1] >= dp[i + 1][j]) {
            raw.push(('+', b[j].clone()));
            j += 1;
        } else {
            raw.push(('-', a[i].clone()));
            i += 1;
        }
    }
    // Keep 3 lines of context around changes.
    let changed: Vec<usize> = raw
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| *c != ' ')
        .map(|(k, _)| k)
        .collect();
    let mut out = Vec::new();
    let mut skipped = 0;
    for (k, (c, l)) in raw.iter().enumerate() {
        let near = changed.iter().any(|&x| x.abs_diff(k) <= 3);
        if near || raw.len() <= 20 {
            if skipped > 0 {
                out.push(format!("  ... {skipped} common lines"));
                skipped = 0;
            }
            out.push(format!("{c} {l}"));
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        out.push(format!("  ... {skipped} common lines"));
    }
    out
}

/// Applies the rows of the differences table that name `script` and `step` (globs): each
/// row whose "Courier says" pattern matches at least one of Courier's lines and whose "we
/// say" pattern matches at least one of ours removes every line matching it on each side
/// (a pattern `(none)` matches no line and is always satisfied). Returns the rows that
/// applied and whether what remains is equal.
pub fn excuse(
    script: &str,
    step: &str,
    courier: &[String],
    ours: &[String],
    diffs: &[Difference],
) -> (Vec<usize>, bool) {
    let mut c: Vec<&String> = courier.iter().collect();
    let mut o: Vec<&String> = ours.iter().collect();
    let mut used = Vec::new();
    let hit = |pat: &str, lines: &[&String]| pat == "(none)" || lines.iter().any(|l| glob(pat, l));
    for (k, d) in diffs.iter().enumerate() {
        if !glob(&d.script, script) || !glob(&d.step, step) {
            continue;
        }
        if hit(&d.courier, &c) && hit(&d.ours, &o) {
            c.retain(|l| !glob(&d.courier, l));
            o.retain(|l| !glob(&d.ours, l));
            used.push(k);
        }
    }
    let equal = !used.is_empty() && c == o;
    (used, equal)
}

/// Compares the normalised transcripts (and maildirs, when given) of one script and
/// returns every disagreeing step, each marked with the difference row that excuses it.
pub fn compare(
    script: &Script,
    courier: &[StepOut],
    ours: &[StepOut],
    maildirs: Option<(&[String], &[String])>,
    diffs: &[Difference],
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let by_tag: BTreeMap<&str, &Command1> = script
        .commands
        .iter()
        .map(|c| (c.tag.as_str(), c))
        .collect();
    let mut push = |step: &str, c: &[String], o: &[String]| {
        if c == o {
            return;
        }
        let (used, excused) = excuse(&script.name, step, c, o, diffs);
        let cmd = by_tag.get(step);
        out.push(Mismatch {
            script: script.name.clone(),
            step: step.to_string(),
            command: cmd.map(|c| c.line.clone()).unwrap_or_default(),
            notes: cmd.map(|c| c.notes.clone()).unwrap_or_default(),
            courier: c.to_vec(),
            ours: o.to_vec(),
            intended: excused,
            rows: used,
        });
    };
    for k in 0..courier.len().max(ours.len()) {
        let empty = StepOut::default();
        let c = courier.get(k).unwrap_or(&empty);
        let o = ours.get(k).unwrap_or(&empty);
        let step = if c.tag.is_empty() { &o.tag } else { &c.tag };
        push(step, &c.lines, &o.lines);
    }
    if let Some((c, o)) = maildirs {
        push("maildir", c, o);
    }
    out
}

/// Result of running one script on both sides.
pub struct ScriptResult {
    pub script: Script,
    pub courier: Transcript,
    pub ours: Transcript,
    pub mismatches: Vec<Mismatch>,
}

/// Runs `script` on both binaries (in parallel, each in its own fixture home) and
/// compares.
pub fn run_both(
    script: &Script,
    fx: &Fixture,
    courier_bin: &Path,
    our_bin: &Path,
    diffs: &[Difference],
) -> ScriptResult {
    let norm = Norm::new(fx);
    let hc = Home::new("courier");
    let ho = Home::new("ours");
    build_maildir(hc.path(), fx);
    build_maildir(ho.path(), fx);
    let (ct, ot) = std::thread::scope(|sc| {
        let c = sc.spawn(|| run_script(courier_bin, hc.path(), script));
        let o = sc.spawn(|| run_script(our_bin, ho.path(), script));
        (
            c.join().expect("courier side panicked"),
            o.join().expect("our side panicked"),
        )
    });
    let (cm, om);
    let maildirs = if script.check_maildir {
        cm = maildir_snapshot(hc.path());
        om = maildir_snapshot(ho.path());
        Some((cm.as_slice(), om.as_slice()))
    } else {
        None
    };
    let mismatches = compare(
        script,
        &norm.transcript(&ct),
        &norm.transcript(&ot),
        maildirs,
        diffs,
    );
    ScriptResult {
        script: script.clone(),
        courier: ct,
        ours: ot,
        mismatches,
    }
}

/// Renders a whole normalised transcript (client lines `C:`, server lines `S:`), for
/// debugging a script: `IMAPKIT_SHOW=<script>` prints it.
pub fn render_transcript(script: &Script, steps: &[StepOut]) -> String {
    let mut s = String::new();
    for st in steps {
        if let Some(c) = script.commands.iter().find(|c| c.tag == st.tag) {
            let _ = writeln!(s, "C: {}", c.line);
        }
        for l in &st.lines {
            let _ = writeln!(s, "S: {l}");
        }
    }
    s
}

/// One imapd (ours or Debian's) in PREAUTH mode over pipes, for tests that drive
/// it command by command: every read is bounded in time, and the process is killed
/// when the value is dropped.
pub struct ImapdProcess {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    rx: std::sync::mpsc::Receiver<String>,
}

impl ImapdProcess {
    /// Starts `cmd` (imapd with its arguments, or a wrapper such as prlimit) in
    /// `home` with keywords on and no login tag, then `env` on top.
    pub fn spawn(mut cmd: Command, home: &Path, env: &[(&str, &str)]) -> ImapdProcess {
        cmd.current_dir(home)
            .env_remove("IMAPLOGINTAG")
            .env("IMAP_KEYWORDS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if tx
                            .send(String::from_utf8_lossy(&line).into_owned())
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        ImapdProcess { child, stdin, rx }
    }

    /// `bin Maildir` in `home`, with `env`.
    pub fn start_with(bin: &Path, home: &Path, env: &[(&str, &str)]) -> ImapdProcess {
        let mut cmd = Command::new(bin);
        cmd.arg("Maildir");
        ImapdProcess::spawn(cmd, home, env)
    }

    /// Our imapd in `home`.
    pub fn start(home: &Path) -> ImapdProcess {
        ImapdProcess::start_with(&crate::ours("imapd"), home, &[])
    }

    /// The next line; panics when imapd says nothing for 30 s or closes its output.
    pub fn line(&mut self) -> String {
        use std::sync::mpsc::RecvTimeoutError;
        match self.rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => panic!("imapd did not answer in time"),
            Err(RecvTimeoutError::Disconnected) => panic!("imapd closed its output"),
        }
    }

    /// The next line if one comes within `wait`.
    pub fn try_line(&mut self, wait: Duration) -> Option<String> {
        self.rx.recv_timeout(wait).ok()
    }

    pub fn send(&mut self, data: &[u8]) {
        let s = self.stdin.as_mut().expect("stdin still open");
        s.write_all(data).unwrap();
        s.flush().unwrap();
    }

    /// Sends `tag text` and returns every line up to and including the tagged one.
    pub fn cmd(&mut self, tag: &str, text: &str) -> Vec<String> {
        self.send(format!("{tag} {text}\r\n").as_bytes());
        self.until(tag)
    }

    /// Every line up to and including the one tagged `tag`.
    pub fn until(&mut self, tag: &str) -> Vec<String> {
        let mut v = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(&format!("{tag} "));
            v.push(l);
            if done {
                return v;
            }
        }
    }

    /// Closes stdin and checks a clean, signal-free exit.
    pub fn finish(mut self) {
        self.stdin = None;
        let st = crate::wait_timeout(&mut self.child, Duration::from_secs(20), "imapd");
        assert!(st.code().is_some(), "imapd died by a signal: {st:?}");
    }
}

impl Drop for ImapdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("a* NO *", "a1 NO Error in IMAP command"));
        assert!(!glob("a* NO *", "a1 OK done"));
        assert!(glob("*", ""));
        assert!(glob(
            "* CAPABILITY * MOVE *",
            "* CAPABILITY IMAP4rev1 MOVE IDLE"
        ));
    }

    #[test]
    fn literals_expand() {
        let p = expand_line(r#"a APPEND INBOX {"x\r\ny"+} rest"#, Path::new("/")).unwrap();
        assert_eq!(
            p,
            vec![
                Part::Text(b"a APPEND INBOX ".to_vec()),
                Part::Literal {
                    data: b"x\r\ny".to_vec(),
                    plus: true
                },
                Part::Text(b" rest".to_vec()),
            ]
        );
        assert_eq!(literal_len("* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(literal_len("* OK {x}"), None);
    }

    #[test]
    fn flag_lists_sorted() {
        assert_eq!(
            sort_flag_lists("* 1 FETCH (UID 4 FLAGS (\\Seen Work $Label1) RFC822.SIZE 3)"),
            "* 1 FETCH (UID 4 FLAGS ($Label1 Work \\Seen) RFC822.SIZE 3)"
        );
        assert_eq!(sort_flag_lists("* FLAGS ()"), "* FLAGS ()");
    }

    #[test]
    fn uniq_stripped() {
        assert_eq!(
            strip_uniq("a MSG3VI_2,S=5 b NAME_12,S=7:1 MSG4VI,S=1 x_1"),
            "a MSG3VI,S=5 b NAME,S=7:1 MSG4VI,S=1 x_1"
        );
    }

    #[test]
    fn keyword_lines_sorted() {
        let l = r#"f 0644 Maildir/courierimapkeywords/:list = "a\nb\n\nNAME,S=9:1\nA,S=1:0\n""#;
        assert_eq!(
            sort_keyword_lines(l),
            r#"f 0644 Maildir/courierimapkeywords/:list = "a\nb\n\nA,S=1:0\nNAME,S=9:1\n""#
        );
        let other = r#"f 0644 Maildir/cur/x = "b\n\na\n""#;
        assert_eq!(sort_keyword_lines(other), other);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_datetime("1970-01-02", "00:00:00"), Some(86400));
        assert_eq!(
            parse_imap_date("05-Jan-2026 10:58:00 +0100"),
            parse_datetime("2026-01-05", "09:58:00")
        );
    }

    #[test]
    fn rows_excuse_only_their_lines() {
        let d = |c: &str, o: &str| Difference {
            script: "s".into(),
            step: "*".into(),
            courier: c.into(),
            ours: o.into(),
            why: String::new(),
        };
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let courier = lines(&["* 1 EXISTS", "t OK done"]);
        let ours = lines(&[
            "* 1 EXISTS",
            "* OK [UIDNEXT 5] Predicted next UID",
            "t OK done",
        ]);
        let rows = [d("(none)", "* OK [UIDNEXT *] Predicted next UID")];
        assert_eq!(excuse("s", "t", &courier, &ours, &rows), (vec![0], true));
        // Another script: the row does not apply.
        assert_eq!(excuse("x", "t", &courier, &ours, &rows), (vec![], false));
        // A second, unlisted difference is not excused.
        let ours2 = lines(&[
            "* 2 EXISTS",
            "* OK [UIDNEXT 5] Predicted next UID",
            "t OK done",
        ]);
        assert_eq!(excuse("s", "t", &courier, &ours2, &rows), (vec![0], false));
    }

    #[test]
    fn differences_table() {
        let d = parse_differences(
            "| script | step | Courier says | we say | why |\n|---|---|---|---|---|\n\
             | move | m1 | `m1 NO *` | `m1 OK*` | RFC 6851 |\n",
        )
        .unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].courier, "m1 NO *");
    }
}
