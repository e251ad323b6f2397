//! One IMAP session: reading commands, dispatching them, writing responses.

use crate::config::Config;
use crate::folders;
use crate::io::{Conn, Line};
use crate::mailbox::{Changes, Mailbox};
use courier_imap_proto::framer::{literal_at_end, strip_eol};
use courier_imap_proto::parser::{AppendHead, parse_append_head, tag_of};
use courier_imap_proto::{Command, SeqSet, StatusItem, Tagged, parse_command};
use courier_maildir::quota::QuotaFile;
use courier_maildir::{subscribed, uiddb};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Courier's answer to anything it cannot parse or does not know.
pub const GENERIC_NO: &str = "NO Error in IMAP command received by server.";
/// Inactivity limit for an authenticated session (Courier: 30 minutes).
const INACTIVITY_MS: i32 = 30 * 60 * 1000;
/// Consecutive protocol errors before the session is dropped.
const MAX_ERRORS: u32 = 10;

/// Why the session's maildir cannot be used.
pub fn check_maildir(root: &Path, cfg: &Config) -> Result<(), String> {
    let meta = std::fs::metadata(root).map_err(|e| format!("{}: {}", root.display(), e))?;
    if !root.join("cur").is_dir() {
        return Err(format!("{}: not a maildir", root.display()));
    }
    if cfg.sanity_check {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != nix::unistd::geteuid().as_raw()
            || meta.gid() != nix::unistd::getegid().as_raw()
        {
            return Err(
                "Account's mailbox directory is not owned by the correct uid or gid: ".into(),
            );
        }
    }
    Ok(())
}

/// What reading a command produced.
enum Input {
    Command(Vec<u8>),
    Append(AppendHead),
    /// Refused before or while reading; the answer text (tag included).
    Refused(String),
    Eof,
    Timeout,
}

/// The session state.
pub struct Session {
    pub(crate) cfg: Config,
    /// The main maildir.
    pub(crate) root: PathBuf,
    pub(crate) conn: Conn,
    pub(crate) selected: Option<Mailbox>,
    pub(crate) utf8: bool,
    errors: u32,
    started: Instant,
    /// Header bytes sent by FETCH.
    pub(crate) header_bytes: u64,
    /// Body bytes sent by FETCH.
    pub(crate) body_bytes: u64,
}

impl Session {
    /// A new session on `root`.
    pub fn new(cfg: Config, root: PathBuf, conn: Conn) -> Session {
        Session {
            cfg,
            root,
            conn,
            selected: None,
            utf8: false,
            errors: 0,
            started: Instant::now(),
            header_bytes: 0,
            body_bytes: 0,
        }
    }

    fn log_line(&self, what: &str) {
        log!(
            Info,
            "{what}, user={}, ip=[{}], port=[{}], headers={}, body={}, rcvd={}, sent={}, time={}{}",
            self.cfg.user,
            self.cfg.ip,
            self.cfg.port,
            self.header_bytes,
            self.body_bytes,
            self.conn.rcvd,
            self.conn.sent,
            self.started.elapsed().as_secs(),
            if self.cfg.tls { ", starttls=1" } else { "" }
        );
    }

    /// Greets and serves commands until LOGOUT, EOF or a fatal error.
    pub fn run(&mut self) {
        log!(
            Info,
            "LOGIN, user={}, ip=[{}], port=[{}], protocol=IMAP",
            self.cfg.user,
            self.cfg.ip,
            self.cfg.port
        );
        self.empty_trash();
        match self.cfg.login_tag.clone() {
            Some(tag) => self.conn.put(format!("{tag} OK LOGIN Ok.\r\n")),
            None => self.conn.put("* PREAUTH Ready.\r\n"),
        }
        self.conn.flush();
        loop {
            if self.conn.broken {
                self.log_line("DISCONNECTED");
                return;
            }
            let input = self.read_command();
            match input {
                Input::Eof => {
                    self.log_line("DISCONNECTED");
                    return;
                }
                Input::Timeout => {
                    self.conn.put("* BYE Disconnected for inactivity.\r\n");
                    self.conn.flush();
                    self.log_line("TIMEOUT");
                    return;
                }
                Input::Refused(text) => {
                    if self.protocol_error() {
                        return;
                    }
                    self.conn.put(text);
                }
                Input::Append(head) => {
                    self.errors = 0;
                    self.append_streamed(head);
                }
                Input::Command(buf) => match parse_command(&buf) {
                    Ok(Tagged { tag, command }) => {
                        self.errors = 0;
                        let tag = String::from_utf8_lossy(&tag).into_owned();
                        if matches!(command, Command::Logout) {
                            self.empty_trash();
                            self.conn.put("* BYE Courier-IMAP server shutting down\r\n");
                            self.conn.put(format!("{tag} OK LOGOUT completed\r\n"));
                            self.conn.flush();
                            self.log_line("LOGOUT");
                            return;
                        }
                        self.dispatch(&tag, command);
                    }
                    Err(e) => {
                        let tag = e
                            .tag
                            .map(|t| String::from_utf8_lossy(&t).into_owned())
                            .unwrap_or_else(|| "*".into());
                        if self.protocol_error() {
                            return;
                        }
                        if e.bad {
                            self.conn.put(format!("{tag} BAD Invalid command\r\n"));
                        } else {
                            self.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
                        }
                    }
                },
            }
            self.conn.flush();
        }
    }

    /// Counts a protocol error; true when the session must end.
    /// Counts a protocol error; on the tenth in a row the answer is replaced by
    /// Courier's fatal BYE and the session ends.
    fn protocol_error(&mut self) -> bool {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.conn
                .put("* BYE [ALERT] Fatal error: TOO MANY CONSECUTIVE PROTOCOL VIOLATIONS: \r\n");
            self.conn.flush();
            log!(
                Err,
                "{}: TOO MANY CONSECUTIVE PROTOCOL VIOLATIONS",
                self.cfg.user
            );
            return true;
        }
        false
    }

    /// Reads one command: lines and in-memory literals, or stops at an APPEND
    /// message literal, which the caller streams.
    fn read_command(&mut self) -> Input {
        let limits = self.cfg.limits;
        let mut buf = Vec::new();
        loop {
            let start = buf.len();
            match self
                .conn
                .read_line(&mut buf, limits.max_command, INACTIVITY_MS)
            {
                Line::Ok => {}
                Line::Eof => return Input::Eof,
                Line::Timeout => return Input::Timeout,
                Line::TooLong => {
                    let tag = tag_of(&buf)
                        .map(|t| String::from_utf8_lossy(t).into_owned())
                        .unwrap_or_else(|| "*".into());
                    return Input::Refused(format!("{tag} NO Command line too long.\r\n"));
                }
            }
            let line = strip_eol(&buf[start..]);
            let Some(lit) = literal_at_end(line) else {
                let n = strip_eol(&buf).len();
                buf.truncate(n);
                return Input::Command(buf);
            };
            // Normalise the line end so the parser sees `{n}\r\n`.
            let n = start + line.len();
            buf.truncate(n);
            if (start == 0 || self.append_in_progress(&buf))
                && let Some(head) = parse_append_head(&buf)
            {
                return Input::Append(head);
            }
            let tag = tag_of(&buf)
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_else(|| "*".into());
            let too_big = lit.len > limits.max_literal
                || (lit.nonsync && lit.len > limits.max_nonsync)
                || buf.len() as u64 + lit.len > limits.max_command as u64;
            if too_big {
                if lit.nonsync {
                    // The client sends it anyway: read and drop it, then the rest
                    // of the command line.
                    if let Err(l) = self
                        .conn
                        .read_exact_to(lit.len, INACTIVITY_MS, &mut |_| Ok(()))
                    {
                        return if l == Line::Timeout {
                            Input::Timeout
                        } else {
                            Input::Eof
                        };
                    }
                    let mut rest = Vec::new();
                    let _ = self.conn.read_line(&mut rest, 1, INACTIVITY_MS);
                }
                return Input::Refused(format!("{tag} NO Literal too large.\r\n"));
            }
            buf.extend_from_slice(b"\r\n");
            if !lit.nonsync {
                self.conn.put("+ OK\r\n");
                self.conn.flush();
            }
            let mut data = Vec::with_capacity(lit.len as usize);
            if let Err(l) = self.conn.read_exact_to(lit.len, INACTIVITY_MS, &mut |c| {
                data.extend_from_slice(c);
                Ok(())
            }) {
                return if l == Line::Timeout {
                    Input::Timeout
                } else {
                    Input::Eof
                };
            }
            buf.extend_from_slice(&data);
        }
    }

    /// An APPEND whose mailbox name came as a literal: the head spans lines.
    fn append_in_progress(&self, buf: &[u8]) -> bool {
        let t = tag_of(buf).map_or(0, <[u8]>::len);
        buf.get(t + 1..t + 7)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"APPEND"))
    }

    fn ok(&mut self, tag: &str, text: &str) {
        self.conn.put(format!("{tag} OK {text}\r\n"));
    }

    fn no(&mut self, tag: &str, text: &str) {
        self.conn.put(format!("{tag} NO {text}\r\n"));
    }

    fn dispatch(&mut self, tag: &str, cmd: Command) {
        let needs_selected = matches!(
            cmd,
            Command::Check
                | Command::Close
                | Command::Expunge
                | Command::UidExpunge(_)
                | Command::Unselect
                | Command::Search { .. }
                | Command::Fetch { .. }
                | Command::Store { .. }
                | Command::Copy { .. }
                | Command::Move { .. }
                | Command::Sort { .. }
                | Command::Thread { .. }
        );
        if needs_selected && self.selected.is_none() {
            self.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
            return;
        }
        match cmd {
            Command::Capability => {
                self.conn
                    .put(format!("* CAPABILITY {}\r\n", self.cfg.capability));
                self.ok(tag, "CAPABILITY completed");
            }
            Command::Noop => {
                self.send_updates(true);
                self.ok(tag, "NOOP completed");
            }
            Command::Check => {
                self.send_updates(true);
                self.ok(tag, "CHECK completed");
            }
            Command::Logout => {}
            Command::Idle => crate::idle::idle(self, tag),
            Command::Close => {
                if let Some(mb) = &self.selected
                    && !mb.read_only
                {
                    // CLOSE sends no untagged responses (RFC 3501 6.4.2).
                    let keep = self.conn.out.len();
                    self.expunge_files(None);
                    self.conn.out.truncate(keep);
                }
                self.selected = None;
                self.ok(tag, "mailbox closed.");
            }
            Command::Unselect => {
                self.selected = None;
                self.ok(tag, "UNSELECT completed.");
            }
            Command::Expunge => self.expunge(tag, None),
            Command::UidExpunge(set) => self.expunge(tag, Some(set)),
            Command::Namespace => {
                self.conn.put("* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))\r\n");
                self.ok(tag, "NAMESPACE completed.");
            }
            Command::Select(m) => self.select(tag, &m, false),
            Command::Examine(m) => self.select(tag, &m, true),
            Command::Create(m) => self.create(tag, &m),
            Command::Delete(m) => self.delete(tag, &m),
            Command::Rename(a, b) => self.rename(tag, &a, &b),
            Command::Subscribe(m) => self.subscribe(tag, &m, true),
            Command::Unsubscribe(m) => self.subscribe(tag, &m, false),
            Command::List {
                lsub,
                reference,
                pattern,
            } => self.list(tag, lsub, &reference, &pattern),
            Command::Status(m, items) => self.status(tag, &m, &items),
            Command::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append_memory(tag, &mailbox, &flags, date.as_deref(), &message),
            Command::Search { uid, charset, key } => {
                crate::search::search(self, tag, uid, charset, &key)
            }
            Command::Fetch { uid, set, atts } => crate::fetch::fetch(self, tag, uid, &set, &atts),
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => crate::fetch::store(self, tag, uid, &set, mode, silent, &flags),
            Command::Copy { uid, set, mailbox } => {
                crate::fetch::copy(self, tag, uid, &set, &mailbox, false)
            }
            Command::Move { uid, set, mailbox } => {
                crate::fetch::copy(self, tag, uid, &set, &mailbox, true)
            }
            Command::Enable(caps) => {
                let mut enabled = Vec::new();
                for c in caps {
                    if c.eq_ignore_ascii_case(b"UTF8=ACCEPT") && !self.utf8 {
                        self.utf8 = true;
                        enabled.push("UTF8=ACCEPT");
                    }
                }
                if !enabled.is_empty() {
                    self.conn
                        .put(format!("* ENABLED {}\r\n", enabled.join(" ")));
                } else {
                    self.conn.put("* ENABLED\r\n");
                }
                self.ok(tag, "Options enabled");
            }
            Command::Id(params) => {
                let fields: Vec<String> = params
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(k),
                            v.as_deref()
                                .map(String::from_utf8_lossy)
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                if !fields.is_empty() {
                    log!(
                        Info,
                        "ID, user={}, ip=[{}], port=[{}], {}",
                        self.cfg.user,
                        self.cfg.ip,
                        self.cfg.port,
                        courier_common_escape(&fields.join(", "))
                    );
                }
                let fields = std::env::var("IMAP_ID_FIELDS")
                    .ok()
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .unwrap_or(0);
                let mut s = String::from("* ID (\"name\" \"Courier-IMAP\"");
                if fields & 1 != 0 {
                    s.push_str(" \"version\" \"1.0.16 (Courier-IMAP 5.0.13)\"");
                }
                if fields & 6 != 0
                    && let Ok(u) = nix::sys::utsname::uname()
                {
                    if fields & 2 != 0 {
                        s.push_str(&format!(" \"os\" \"{}\"", u.sysname().to_string_lossy()));
                    }
                    if fields & 4 != 0 {
                        s.push_str(&format!(
                            " \"os-version\" \"{}\"",
                            u.release().to_string_lossy()
                        ));
                    }
                }
                s.push_str(" \"vendor\" \"Double Precision, Inc.\")\r\n");
                self.conn.put(s);
                self.ok(tag, "ID completed");
            }
            Command::GetQuotaRoot(m) => {
                let Ok(name) = folders::decode(&m, self.utf8) else {
                    return self.no(tag, "Invalid mailbox name.");
                };
                // Every folder of the account shares the one quota root, whether
                // it exists yet or not (as Courier answers).
                match folders::resolve(&self.root, &name) {
                    Ok(Some(_)) => {
                        let mut out = Vec::new();
                        out.extend_from_slice(b"* QUOTAROOT ");
                        courier_imap_proto::response::write_string_8bit(
                            &mut out,
                            &folders::encode(&name, self.utf8),
                            self.utf8,
                        );
                        out.extend_from_slice(b" \"ROOT\"\r\n");
                        self.conn.put(out);
                        self.quota_line();
                        self.ok(tag, "GETQUOTAROOT Ok.");
                    }
                    _ => self.no(tag, "Mailbox does not exist, or must be subscribed to."),
                }
            }
            Command::GetQuota(root) => {
                if root.eq_ignore_ascii_case(b"ROOT") {
                    self.quota_line();
                } else {
                    // Any other root has no resources (Courier answers it too).
                    let mut out = b"* QUOTA ".to_vec();
                    courier_imap_proto::response::write_string(&mut out, &root);
                    out.extend_from_slice(b" ()\r\n");
                    self.conn.put(out);
                }
                self.ok(tag, "GETQUOTA Ok.");
            }
            Command::SetQuota => self.no(tag, "SETQUOTA No permission."),
            Command::Sort { .. } | Command::Thread { .. } if self.cfg.disable_thread_sort => {
                self.no(tag, "This command is disabled by the system administrator.");
            }
            Command::Sort {
                uid,
                criteria,
                charset,
                key,
            } => crate::sort::sort(self, tag, uid, &criteria, &charset, &key),
            Command::Thread {
                uid,
                references,
                charset,
                key,
            } => crate::sort::thread(self, tag, uid, references, &charset, &key),
            Command::AlreadyAuthenticated => self.conn.put(format!("{tag} {GENERIC_NO}\r\n")),
        }
    }

    fn quota_line(&mut self) {
        match QuotaFile::open(&self.root) {
            Ok(Some(q)) => {
                let spec = q.spec();
                let usage = q.usage();
                let mut parts = Vec::new();
                if spec.bytes > 0 {
                    let used = (usage.bytes.max(0) as u64).div_ceil(1024);
                    parts.push(format!("STORAGE {} {}", used, spec.bytes.div_ceil(1024)));
                }
                if spec.count > 0 {
                    parts.push(format!("MESSAGE {} {}", usage.count.max(0), spec.count));
                }
                if parts.is_empty() {
                    self.conn.put("* QUOTA \"ROOT\" ()\r\n");
                } else {
                    self.conn
                        .put(format!("* QUOTA \"ROOT\" ({})\r\n", parts.join(" ")));
                }
            }
            _ => self.conn.put("* QUOTA \"ROOT\" ()\r\n"),
        }
    }

    /// Rescans the selected folder and sends what changed.
    pub(crate) fn send_updates(&mut self, allow_expunge: bool) {
        let Some(mb) = self.selected.as_mut() else {
            return;
        };
        let ch = match mb.rescan(allow_expunge) {
            Ok(c) => c,
            Err(e) => {
                log!(Err, "imapd: rescanning {}: {e}", mb.path.display());
                return;
            }
        };
        self.write_changes(&ch);
    }

    pub(crate) fn write_changes(&mut self, ch: &Changes) {
        let Some(mb) = self.selected.as_ref() else {
            return;
        };
        let mut out = std::mem::take(&mut self.conn.out);
        for n in &ch.expunged {
            out.extend_from_slice(format!("* {n} EXPUNGE\r\n").as_bytes());
        }
        if let Some(e) = ch.exists {
            out.extend_from_slice(format!("* {e} EXISTS\r\n").as_bytes());
        }
        if let Some(r) = ch.recent {
            out.extend_from_slice(format!("* {r} RECENT\r\n").as_bytes());
        }
        if ch.new_keywords {
            write_flags_lines(mb, &mut out);
        }
        for &n in &ch.flag_changes {
            let i = n as usize - 1;
            if i < mb.msgs.len() {
                out.extend_from_slice(format!("* {n} FETCH (FLAGS ").as_bytes());
                mb.write_flags(i, &mut out);
                out.extend_from_slice(b")\r\n");
            }
        }
        self.conn.out = out;
    }

    /// Decodes a mailbox argument and finds its directory; answers the error itself.
    pub(crate) fn mailbox_dir(&mut self, tag: &str, raw: &[u8]) -> Option<(String, PathBuf)> {
        let Ok(name) = folders::decode(raw, self.utf8) else {
            self.no(tag, "Mailbox does not exist, or must be subscribed to.");
            return None;
        };
        match folders::resolve(&self.root, &name) {
            Ok(Some(dir)) if folders::is_usable(&self.root, &dir) => Some((name, dir)),
            Ok(_) => {
                self.no(tag, "Mailbox does not exist, or must be subscribed to.");
                None
            }
            Err(_) => {
                self.no(tag, "Mailbox does not exist, or must be subscribed to.");
                None
            }
        }
    }

    fn select(&mut self, tag: &str, raw: &[u8], examine: bool) {
        self.selected = None;
        let Some((name, dir)) = self.mailbox_dir(tag, raw) else {
            return;
        };
        let mb = match Mailbox::open(&dir, &name, examine, self.cfg.keywords, self.cfg.use_locks) {
            Ok(m) => m,
            Err(e) => {
                log!(Err, "imapd: cannot open {}: {e}", dir.display());
                self.no(tag, "Mailbox does not exist, or must be subscribed to.");
                return;
            }
        };
        let mut out = std::mem::take(&mut self.conn.out);
        write_flags_lines_select(&mb, examine, &mut out, self.cfg.keywords);
        out.extend_from_slice(
            format!(
                "* {} EXISTS\r\n* {} RECENT\r\n",
                mb.exists(),
                mb.recent_count()
            )
            .as_bytes(),
        );
        if let Some(first_unseen) = mb
            .all_flags()
            .position(|f| !f.contains(courier_maildir::name::Flag::Seen))
        {
            out.extend_from_slice(
                format!(
                    "* OK [UNSEEN {}] Message {} is first unseen\r\n",
                    first_unseen + 1,
                    first_unseen + 1
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(format!("* OK [UIDVALIDITY {}] Ok\r\n", mb.uidvalidity).as_bytes());
        out.extend_from_slice(
            format!("* OK [UIDNEXT {}] Predicted next UID\r\n", mb.next_uid).as_bytes(),
        );
        out.extend_from_slice(b"* OK [MYRIGHTS \"acdilrsw\"] ACL\r\n");
        let ro = mb.read_only;
        out.extend_from_slice(
            format!(
                "{tag} OK [{}] Ok\r\n",
                if ro { "READ-ONLY" } else { "READ-WRITE" }
            )
            .as_bytes(),
        );
        self.conn.out = out;
        self.selected = Some(mb);
    }

    pub(crate) fn is_trash(&self, name: &str) -> bool {
        name.strip_prefix("INBOX.")
            .is_some_and(|n| n == self.cfg.trash)
    }

    fn create(&mut self, tag: &str, raw: &[u8]) {
        let Ok(name) = folders::decode(raw, self.utf8) else {
            return self.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
        };
        if name == "INBOX" {
            return self.no(tag, "INBOX already exists!");
        }
        // `CREATE a.b.`: a declaration that names will be created below; maildir++
        // needs no directory for that (Courier creates nothing either).
        let declared_parent = name.ends_with('.');
        let real = name.trim_end_matches('.');
        let dir = match folders::resolve(&self.root, real) {
            Ok(Some(d)) if d != self.root => d,
            _ => return self.no(tag, "Invalid mailbox name."),
        };
        let mut out = format!("{tag} OK ").into_bytes();
        courier_imap_proto::response::write_string_8bit(
            &mut out,
            &folders::encode(&name, self.utf8),
            self.utf8,
        );
        out.extend_from_slice(b" created.\r\n");
        if declared_parent {
            return self.conn.put(out);
        }
        if std::fs::symlink_metadata(&dir).is_ok() {
            return self.no(tag, "Cannot create this folder.");
        }
        let rest = &real["INBOX.".len()..];
        match courier_maildir::layout::create_folder(&self.root, rest) {
            Ok(path) => {
                // Fix the UIDVALIDITY at creation, as Courier does.
                let mut db = uiddb::UidDb {
                    uidvalidity: uiddb::uidvalidity_for(std::time::SystemTime::now()),
                    next_uid: 1,
                    entries: Vec::new(),
                };
                let _ = db.write(&path);
                courier_maildir::keywords::prepare_dir(&path);
                self.conn.put(out);
            }
            Err(e) => {
                log!(Err, "imapd: CREATE {}: {e}", dir.display());
                self.no(tag, "Cannot create this folder.");
            }
        }
    }

    fn delete(&mut self, tag: &str, raw: &[u8]) {
        let Ok(name) = folders::decode(raw, self.utf8) else {
            return self.no(tag, "Invalid mailbox name.");
        };
        if name == "INBOX" || self.is_trash(&name) {
            return self.no(tag, "Cannot delete this folder.");
        }
        let dir = match folders::resolve(&self.root, &name) {
            Ok(Some(d)) if folders::is_usable(&self.root, &d) => d,
            Ok(_) => return self.no(tag, "Mailbox does not exist, or must be subscribed to."),
            Err(_) => return self.no(tag, "Invalid mailbox name."),
        };
        if self.selected.as_ref().is_some_and(|m| m.path == dir) {
            return self.no(tag, "Cannot delete currently-open folder.");
        }
        // Rename aside first (atomic: the folder is gone at once), then remove.
        let aside = self.root.join("tmp").join(format!(
            "courier-deleted.{}.{}",
            std::process::id(),
            courier_maildir::delivery::next_uniq()
        ));
        match std::fs::rename(&dir, &aside) {
            Ok(()) => {
                let _ = std::fs::remove_dir_all(&aside);
                // The folder's messages no longer count: recount, as Courier does.
                if let Ok(Some(mut q)) = QuotaFile::open(&self.root) {
                    let _ = q.recalculate();
                }
                self.ok(tag, "Folder deleted.");
            }
            Err(e) => {
                log!(Err, "imapd: DELETE {}: {e}", dir.display());
                self.no(tag, "Cannot delete this folder.");
            }
        }
    }

    fn rename(&mut self, tag: &str, from: &[u8], to: &[u8]) {
        let (Ok(from), Ok(to)) = (
            folders::decode(from, self.utf8),
            folders::decode(to, self.utf8),
        ) else {
            return self.no(tag, "Invalid mailbox name.");
        };
        let to = to.trim_end_matches('.').to_string();
        if to == "INBOX" {
            // Courier's wording: INBOX always exists, so it cannot be created by a rename.
            return self.no(
                tag,
                "Access denied for RENAME on INBOX (ACL \"c\" required)",
            );
        }
        if self.is_trash(&from) || self.is_trash(&to) {
            return self.no(tag, "Reserved folder name - cannot rename.");
        }
        let (src, dst) = match (
            folders::resolve(&self.root, &from),
            folders::resolve(&self.root, &to),
        ) {
            (Ok(Some(s)), Ok(Some(d))) => (s, d),
            (Ok(None), _) | (_, Ok(None)) => {
                return self.no(tag, "Cannot move a folder to a different account.");
            }
            _ => return self.no(tag, "Invalid mailbox name."),
        };
        if !folders::is_usable(&self.root, &src) {
            return self.no(tag, "Mailbox does not exist, or must be subscribed to.");
        }
        if std::fs::symlink_metadata(&dst).is_ok() {
            return self.no(tag, "RENAME failed: File exists");
        }
        if from == "INBOX" {
            return self.rename_inbox(tag, &to, &dst);
        }
        if to.starts_with(&format!("{from}.")) {
            return self.no(tag, "Cannot rename a folder to its own subfolder.");
        }
        if self.selected.as_ref().is_some_and(|m| m.path == src) {
            return self.no(tag, "Can't RENAME the currently-open folder");
        }
        // The folder and every subfolder: `.a` and `.a.*`.
        let old_rest = &from["INBOX.".len()..];
        let new_rest = &to["INBOX.".len()..];
        let mut pairs = vec![(old_rest.to_string(), new_rest.to_string())];
        for f in courier_maildir::layout::list_folders(&self.root, false).unwrap_or_default() {
            if let Some(sub) = f.strip_prefix(&format!("{old_rest}.")) {
                pairs.push((f.clone(), format!("{new_rest}.{sub}")));
            }
        }
        for (a, b) in &pairs {
            let (pa, pb) = (
                self.root.join(format!(".{a}")),
                self.root.join(format!(".{b}")),
            );
            if std::fs::symlink_metadata(&pb).is_ok() {
                continue;
            }
            if let Err(e) = std::fs::rename(&pa, &pb) {
                log!(
                    Err,
                    "imapd: RENAME {} -> {}: {e}",
                    pa.display(),
                    pb.display()
                );
                return self.no(tag, &format!("RENAME failed: {}", strerror(&e)));
            }
            new_uidvalidity(&pb);
        }
        self.ok(tag, "Folder renamed.");
    }

    /// RFC 3501: renaming INBOX moves its messages to a new folder; INBOX stays,
    /// empty. (Courier answers "INBOX rename not implemented.")
    fn rename_inbox(&mut self, tag: &str, to: &str, dst: &Path) {
        let rest = &to["INBOX.".len()..];
        if let Err(e) = courier_maildir::layout::create_folder(&self.root, rest) {
            log!(Err, "imapd: RENAME INBOX -> {}: {e}", dst.display());
            return self.no(tag, "Cannot create this folder.");
        }
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.root.join(sub)) {
                for e in rd.flatten() {
                    let n = e.file_name();
                    if n.to_string_lossy().starts_with('.') {
                        continue;
                    }
                    let _ = std::fs::rename(e.path(), dst.join(sub).join(&n));
                }
            }
        }
        // Keywords travel with the messages.
        if let Ok(src_kw) = courier_maildir::keywords::KeywordStore::open(
            &self.root,
            courier_maildir::keywords::Options::IMAP,
        ) && !src_kw.is_empty()
            && let Ok(mut dst_kw) = courier_maildir::keywords::KeywordStore::open(
                dst,
                courier_maildir::keywords::Options::IMAP,
            )
        {
            for (m, kws) in src_kw.messages() {
                let kws: Vec<&[u8]> = kws.collect();
                if !kws.is_empty() {
                    let _ = dst_kw.set(m, kws);
                }
            }
            let _ = dst_kw.consolidate();
        }
        self.send_updates(true);
        self.ok(tag, "Folder renamed.");
    }

    fn subscribe(&mut self, tag: &str, raw: &[u8], on: bool) {
        let Ok(name) = folders::decode(raw, self.utf8) else {
            return self.no(tag, "Invalid mailbox name.");
        };
        if folders::resolve(&self.root, &name).is_err() {
            return self.no(tag, "Invalid mailbox name.");
        }
        let r = if on {
            subscribed::subscribe(&self.root, &name)
        } else {
            subscribed::unsubscribe(&self.root, &name)
        };
        match r {
            Ok(_) if on => self.ok(tag, "Folder subscribed."),
            Ok(_) => self.ok(tag, "Folder unsubscribed."),
            Err(e) => {
                log!(Err, "imapd: subscriptions of {}: {e}", self.root.display());
                self.no(tag, "Cannot subscribe to this folder.");
            }
        }
    }

    fn list(&mut self, tag: &str, lsub: bool, reference: &[u8], pattern: &[u8]) {
        let what = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() {
            if !lsub {
                self.conn.put("* LIST (\\Noselect) \".\" \"\"\r\n");
            }
            return self.ok(tag, &format!("{what} completed"));
        }
        let mut full = reference.to_vec();
        full.extend_from_slice(pattern);
        if full.len() > 4096 || folders::wildcards(&full) > 10 {
            return self.ok(tag, &format!("{what} completed"));
        }
        // Decode the pattern like a name (wildcards survive modified UTF-7).
        let pat = match std::str::from_utf8(&full) {
            Ok(s) if self.utf8 => folders::canonical_inbox(s),
            Ok(s) => match courier_maildir::mutf7::decode(s) {
                Ok(d) => folders::canonical_inbox(&d),
                Err(_) => return self.ok(tag, &format!("{what} completed")),
            },
            Err(_) => return self.ok(tag, &format!("{what} completed")),
        };
        let pat = upcase_inbox_prefix(&pat);
        let mut out = Vec::new();
        if lsub {
            self.lsub_lines(&pat, &mut out);
        } else {
            let real = folders::all_folders(&self.root);
            let mut all: std::collections::BTreeMap<String, bool> =
                std::collections::BTreeMap::new();
            all.insert("INBOX".into(), true);
            for f in &real {
                all.insert(f.clone(), true);
                let mut p = f.as_str();
                while let Some(i) = p.rfind('.') {
                    p = &p[..i];
                    all.entry(p.to_string()).or_insert(false);
                }
            }
            for (n, exists) in &all {
                if !folders::matches(pat.as_bytes(), n.as_bytes()) {
                    continue;
                }
                let mut attrs = Vec::new();
                if !exists {
                    attrs.push("\\Noselect");
                }
                if *exists && (n == "INBOX" || self.cfg.check_all_folders) {
                    let dir = folders::resolve(&self.root, n)
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| self.root.clone());
                    attrs.push(if folders::marked(&dir) {
                        "\\Marked"
                    } else {
                        "\\Unmarked"
                    });
                }
                attrs.push(if has_children(&all, n) {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
                if let Some(u) = special_use(n, &self.cfg.trash) {
                    attrs.push(u);
                }
                self.list_line(&mut out, "LIST", &attrs, n);
            }
        }
        self.conn.put(out);
        self.ok(tag, &format!("{what} completed"));
    }

    /// LSUB: the subscribed names plus their unsubscribed parents (`\Noselect`);
    /// children are counted among the subscriptions, as Courier does.
    fn lsub_lines(&self, pat: &str, out: &mut Vec<u8>) {
        let subs = subscribed::list(&self.root).unwrap_or_default();
        let mut all: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
        for sname in subs.into_iter().filter(|s| !s.is_empty()) {
            let mut p = sname.as_str();
            while let Some(i) = p.rfind('.') {
                p = &p[..i];
                all.entry(p.to_string()).or_insert(false);
            }
            all.insert(sname, true);
        }
        for (n, subscribed) in &all {
            if !folders::matches(pat.as_bytes(), n.as_bytes()) {
                continue;
            }
            let mut attrs = Vec::new();
            if !subscribed {
                attrs.push("\\Noselect");
            }
            if *subscribed
                && (n == "INBOX" || self.cfg.check_all_folders)
                && let Ok(Some(dir)) = folders::resolve(&self.root, n)
            {
                attrs.push(if folders::marked(&dir) {
                    "\\Marked"
                } else {
                    "\\Unmarked"
                });
            }
            attrs.push(if has_children(&all, n) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            self.list_line(out, "LSUB", &attrs, n);
        }
    }

    fn list_line(&self, out: &mut Vec<u8>, what: &str, attrs: &[&str], name: &str) {
        out.extend_from_slice(format!("* {what} ({}) \".\" ", attrs.join(" ")).as_bytes());
        courier_imap_proto::response::write_string_8bit(
            out,
            &folders::encode(name, self.utf8),
            self.utf8,
        );
        out.extend_from_slice(b"\r\n");
    }

    fn status(&mut self, tag: &str, raw: &[u8], items: &[StatusItem]) {
        let Some((name, dir)) = self.mailbox_dir(tag, raw) else {
            return;
        };
        let (messages, recent, uidnext, uidvalidity, unseen) =
            match self.selected.as_ref().filter(|m| m.path == dir) {
                Some(mb) => (
                    mb.exists(),
                    mb.recent_count(),
                    mb.next_uid,
                    mb.uidvalidity,
                    mb.all_flags()
                        .filter(|f| !f.contains(courier_maildir::name::Flag::Seen))
                        .count() as u32,
                ),
                None => match folder_status(&dir, self.cfg.use_locks) {
                    Some(s) => s,
                    None => {
                        return self.no(tag, "Mailbox does not exist, or must be subscribed to.");
                    }
                },
            };
        let mut parts = Vec::new();
        let has = |i: StatusItem| items.contains(&i);
        if has(StatusItem::Messages) {
            parts.push(format!("MESSAGES {messages}"));
        }
        if has(StatusItem::Recent) {
            parts.push(format!("RECENT {recent}"));
        }
        if has(StatusItem::UidNext) {
            parts.push(format!("UIDNEXT {uidnext}"));
        }
        if has(StatusItem::UidValidity) {
            parts.push(format!("UIDVALIDITY {uidvalidity}"));
        }
        if has(StatusItem::Unseen) {
            parts.push(format!("UNSEEN {unseen}"));
        }
        let mut out = b"* STATUS ".to_vec();
        courier_imap_proto::response::write_string_8bit(
            &mut out,
            &folders::encode(&name, self.utf8),
            self.utf8,
        );
        out.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        self.conn.put(out);
        self.ok(tag, "STATUS Completed.");
    }

    /// Deletes the `\Deleted` messages (all, or those in `uids`) from disk. The
    /// quota does not change: `\Deleted` messages are not counted (formats.md 4.4).
    /// The caller reports the expunges by rescanning.
    pub(crate) fn expunge_files(&mut self, uids: Option<&SeqSet>) -> usize {
        let trash = self.magic_trash();
        let log = self.cfg.log_deletions;
        let user = self.cfg.user.clone();
        let Some(mb) = self.selected.as_mut() else {
            return 0;
        };
        // Pick up renames by other sessions first.
        let pending = mb.rescan(false).ok();
        let set = uids.map(|s| s.resolve(mb.msgs.last().map_or(0, |m| m.uid)));
        let mut removed = 0;
        for i in 0..mb.msgs.len() {
            let m = &mb.msgs[i];
            if !mb.flags(i).contains(courier_maildir::name::Flag::Trashed) {
                continue;
            }
            if let Some(s) = &set
                && !s.contains(m.uid)
            {
                continue;
            }
            let path = mb.file(i);
            if let Some(t) = &trash {
                // IMAP_MOVE_EXPUNGE_TO_TRASH: into Trash without \Deleted and \Draft.
                let mut f = mb.flags(i);
                f.set(courier_maildir::name::Flag::Trashed, false);
                f.set(courier_maildir::name::Flag::Draft, false);
                let target = t.join("cur").join(f.file_name(mb.base(i)));
                match std::fs::rename(&path, &target) {
                    Ok(()) => {
                        removed += 1;
                        if log {
                            log!(
                                Info,
                                "EXPUNGED, user={user}, old_name={}, new_name={}",
                                path.display(),
                                target.display()
                            );
                        }
                    }
                    Err(e) => log!(Err, "imapd: EXPUNGE to {}: {e}", target.display()),
                }
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    removed += 1;
                    if log {
                        log!(Info, "EXPUNGED, user={user}, old_name={}", path.display());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log!(Err, "imapd: EXPUNGE {}: {e}", path.display()),
            }
        }
        if let Some(ch) = pending {
            self.write_changes(&ch);
        }
        removed
    }

    /// The Trash folder EXPUNGE moves into (IMAP_MOVE_EXPUNGE_TO_TRASH), created
    /// when missing; None when expunging deletes.
    fn magic_trash(&self) -> Option<PathBuf> {
        if !self.cfg.expunge_to_trash {
            return None;
        }
        let mb = self.selected.as_ref()?;
        if self.is_trash(&mb.name) {
            return None;
        }
        let dir = self.root.join(format!(".{}", self.cfg.trash));
        if !folders::is_usable(&self.root, &dir) {
            courier_maildir::layout::create_folder(&self.root, &self.cfg.trash).ok()?;
        }
        Some(dir)
    }

    /// IMAP_EMPTYTRASH: deletes messages older than the configured days (by
    /// ctime, which changes when a message is moved in) from each listed folder,
    /// giving their size back to the quota unless the folder is Trash.
    pub(crate) fn empty_trash(&self) {
        use std::os::unix::fs::MetadataExt;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let (mut bytes, mut count) = (0i64, 0i64);
        for (folder, days) in &self.cfg.empty_trash {
            let Ok(dir) = courier_maildir::layout::folder_path(&self.root, folder) else {
                continue;
            };
            if !folders::is_usable(&self.root, &dir) {
                continue;
            }
            let _ = courier_maildir::delivery::move_new_to_cur(&dir);
            let limit = now - (*days as i64).saturating_mul(86400);
            let Ok(rd) = std::fs::read_dir(dir.join("cur")) else {
                continue;
            };
            let counts = folder != &self.cfg.trash;
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let Ok(meta) = e.metadata() else { continue };
                if meta.ctime() >= limit {
                    continue;
                }
                if std::fs::remove_file(e.path()).is_ok()
                    && counts
                    && !courier_maildir::name::Flags::from_file_name(&name)
                        .contains(courier_maildir::name::Flag::Trashed)
                {
                    bytes +=
                        courier_maildir::name::size_from_name(&name).unwrap_or(meta.len()) as i64;
                    count += 1;
                }
            }
        }
        if count > 0
            && let Ok(Some(mut q)) = QuotaFile::open(&self.root)
        {
            let _ = q.add(-bytes, -count);
        }
    }

    fn expunge(&mut self, tag: &str, uids: Option<SeqSet>) {
        if self.selected.as_ref().is_some_and(|m| m.read_only) {
            return self.no(tag, "Cannot expunge read-only mailbox.");
        }
        self.expunge_files(uids.as_ref());
        self.send_updates(true);
        self.ok(tag, "EXPUNGE completed");
    }

    /// Target of APPEND/COPY/MOVE: `Err(text)` is the tagged NO text.
    pub(crate) fn target_dir(&self, raw: &[u8]) -> Result<(String, PathBuf), &'static str> {
        let name = folders::decode(raw, self.utf8).map_err(|_| "Invalid mailbox name.")?;
        match folders::resolve(&self.root, &name) {
            Ok(Some(d)) if folders::is_usable(&self.root, &d) => Ok((name, d)),
            Ok(_) => Err("[TRYCREATE] Mailbox does not exist."),
            Err(_) => Err("Invalid mailbox name."),
        }
    }

    /// Whether adding `bytes`/`count` to `target` fits the quota.
    pub(crate) fn quota_allows(&self, target_name: &str, bytes: u64, count: u64) -> bool {
        if self.is_trash(target_name) {
            return true;
        }
        match QuotaFile::open(&self.root) {
            Ok(Some(mut q)) => q.check(bytes as i64, count as i64).unwrap_or(true),
            _ => true,
        }
    }

    pub(crate) fn quota_add(&self, target_name: &str, bytes: u64, count: u64) {
        if self.is_trash(target_name) {
            return;
        }
        if let Ok(Some(mut q)) = QuotaFile::open(&self.root) {
            let _ = q.add(bytes as i64, count as i64);
        }
    }

    fn append_memory(
        &mut self,
        tag: &str,
        mailbox: &[u8],
        flags: &[Vec<u8>],
        date: Option<&[u8]>,
        message: &[u8],
    ) {
        let (name, dir) = match self.target_dir(mailbox) {
            Ok(t) => t,
            Err(e) => {
                let e = if e.starts_with("[TRYCREATE]") {
                    "[TRYCREATE] Must create mailbox before append"
                } else {
                    e
                };
                return self.no(tag, e);
            }
        };
        let mut w = crate::fetch::AppendWriter::new(&dir);
        let r = w
            .as_mut()
            .map_err(|_| ())
            .and_then(|w| w.write(message).map_err(|_| ()));
        match (w, r) {
            (Ok(w), Ok(())) => self.append_finish(tag, &name, &dir, w, flags, date),
            _ => self.no(
                tag,
                "[ALERT] Cannot create message - no write permission or out of disk space.",
            ),
        }
    }

    fn append_streamed(&mut self, head: AppendHead) {
        let tag = String::from_utf8_lossy(&head.tag).into_owned();
        let refuse = |s: &mut Session, text: &str| {
            if head.nonsync {
                let _ = s
                    .conn
                    .read_exact_to(head.len, INACTIVITY_MS, &mut |_| Ok(()));
                let mut rest = Vec::new();
                let _ = s.conn.read_line(&mut rest, 1 << 16, INACTIVITY_MS);
            }
            s.no(&tag, text);
        };
        let (name, dir) = match self.target_dir(&head.mailbox) {
            Ok(t) => t,
            Err(e) => {
                let e = if e.starts_with("[TRYCREATE]") {
                    "[TRYCREATE] Must create mailbox before append"
                } else {
                    e
                };
                return refuse(self, e);
            }
        };
        if head.len > self.cfg.limits.max_append {
            return refuse(self, "Message too large.");
        }
        // Refuse a bad date or flag list before the client sends the message.
        let date_ok = head
            .date
            .as_deref()
            .is_none_or(|d| courier_rfc2045::date::parse_date_time(d).is_some());
        if !date_ok || crate::fetch::check_flags(&head.flags, self.cfg.keywords).is_none() {
            return refuse(self, GENERIC_NO.trim_start_matches("NO "));
        }
        if !self.quota_allows(&name, head.len, 1) {
            return refuse(self, "[OVERQUOTA] You exceeded your mail quota.");
        }
        let mut w = match crate::fetch::AppendWriter::new(&dir) {
            Ok(w) => w,
            Err(e) => {
                log!(Err, "imapd: APPEND to {}: {e}", dir.display());
                return refuse(
                    self,
                    "[ALERT] Cannot create message - no write permission or out of disk space.",
                );
            }
        };
        if !head.nonsync {
            self.conn.put("+ OK\r\n");
            self.conn.flush();
        }
        let mut failed = None;
        let r = self
            .conn
            .read_exact_to(head.len, INACTIVITY_MS, &mut |chunk| {
                if failed.is_none()
                    && let Err(e) = w.write(chunk)
                {
                    failed = Some(e);
                }
                Ok(())
            });
        if r.is_err() {
            // Connection gone mid-message: the tmp file is removed on drop.
            self.conn.broken = true;
            return;
        }
        let mut rest = Vec::new();
        match self.conn.read_line(&mut rest, 1 << 16, INACTIVITY_MS) {
            Line::Ok => {}
            _ => {
                self.conn.broken = true;
                return;
            }
        }
        if !strip_eol(&rest).iter().all(|&c| c == b' ') {
            // More after the message (MULTIAPPEND is not offered): skip any
            // non-synchronising literals that follow so their bytes are never
            // taken for commands; the message is not stored.
            let mut line = rest;
            for _ in 0..100 {
                match literal_at_end(strip_eol(&line)) {
                    Some(l) if l.nonsync => {
                        if self
                            .conn
                            .read_exact_to(l.len, INACTIVITY_MS, &mut |_| Ok(()))
                            .is_err()
                        {
                            self.conn.broken = true;
                            return;
                        }
                        line = Vec::new();
                        if self.conn.read_line(&mut line, 1 << 16, INACTIVITY_MS) != Line::Ok {
                            self.conn.broken = true;
                            return;
                        }
                    }
                    _ => break,
                }
            }
            return self.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
        }
        if let Some(e) = failed {
            log!(Err, "imapd: APPEND to {}: {e}", dir.display());
            return self.no(
                &tag,
                "[ALERT] Cannot create message - no write permission or out of disk space.",
            );
        }
        self.append_finish(&tag, &name, &dir, w, &head.flags, head.date.as_deref());
    }

    fn append_finish(
        &mut self,
        tag: &str,
        name: &str,
        dir: &Path,
        w: crate::fetch::AppendWriter,
        flags: &[Vec<u8>],
        date: Option<&[u8]>,
    ) {
        let mtime = match date {
            Some(d) => match courier_rfc2045::date::parse_date_time(d) {
                Some((epoch, _)) => Some(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch.max(0) as u64),
                ),
                None => return self.no(tag, GENERIC_NO.trim_start_matches("NO ")),
            },
            None => None,
        };
        let Some((sys, kws)) = crate::fetch::check_flags(flags, self.cfg.keywords) else {
            return self.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
        };
        let size = w.size();
        let path = match w.commit(&sys, mtime) {
            Ok(p) => p,
            Err(e) => {
                log!(Err, "imapd: APPEND to {}: {e}", dir.display());
                return self.no(
                    tag,
                    "[ALERT] Cannot create message - no write permission or out of disk space.",
                );
            }
        };
        // A message stored \Deleted does not count against the quota.
        if !sys.contains(courier_maildir::name::Flag::Trashed) {
            self.quota_add(name, size, 1);
        }
        let fname = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = courier_maildir::name::basename(&fname).to_string();
        if self.cfg.keywords && !kws.is_empty() {
            let opts = crate::fetch::kw_options(&self.cfg);
            if let Ok(mut store) = courier_maildir::keywords::KeywordStore::open(dir, opts) {
                let _ = store.set(base.as_bytes(), kws.iter().map(|k| k.as_slice()));
                let _ = store.consolidate();
            }
        }
        // Numbered now for APPENDUID; a selected mailbox learns about it (EXISTS)
        // at the next command that reports changes, as with Courier.
        let uid = uid_after_add(dir, std::slice::from_ref(&base), self.cfg.use_locks)
            .and_then(|(v, u)| u.first().map(|&u| (v, u)));
        match uid {
            Some((v, u)) => self.ok(tag, &format!("[APPENDUID {v} {u}] APPEND Ok.")),
            None => self.ok(tag, "APPEND Ok."),
        }
    }
}

/// Gives `folder` a fresh UIDVALIDITY after a rename (Courier deletes the uiddb and
/// sleeps to get a new second; we write one with a strictly larger value).
fn new_uidvalidity(folder: &Path) {
    let now = uiddb::uidvalidity_for(std::time::SystemTime::now());
    let mut db = match uiddb::UidDb::read(folder) {
        Ok(Some((mut db, _))) => {
            // The UID map stays; only UIDVALIDITY moves on.
            db.uidvalidity = now.max(db.uidvalidity.saturating_add(1));
            db
        }
        _ => uiddb::UidDb {
            uidvalidity: now,
            next_uid: 1,
            entries: Vec::new(),
        },
    };
    let _ = db.write(folder);
}

/// Scans `dir` so the given new basenames get UIDs; returns UIDVALIDITY and their
/// UIDs in the same order.
pub(crate) fn uid_after_add(
    dir: &Path,
    bases: &[String],
    locking: bool,
) -> Option<(u32, Vec<u32>)> {
    // A folder without a UID database gets one in which these messages come
    // first (as Courier's COPY numbers them).
    if let Ok(r) = courier_maildir::appenduid::assign_or_create(dir, bases, locking)
        && r.0 != 0
    {
        return Some(r);
    }
    let scan = uiddb::scan(dir, locking).ok()?;
    let map: std::collections::HashMap<&str, u32> = scan.entries().map(|(u, b)| (b, u)).collect();
    let uids: Option<Vec<u32>> = bases.iter().map(|b| map.get(b.as_str()).copied()).collect();
    Some((scan.uidvalidity, uids?))
}

/// STATUS numbers of an unselected folder without moving `new/` (so `\Recent`
/// stays for whoever selects it).
fn folder_status(dir: &Path, locking: bool) -> Option<(u32, u32, u32, u32, u32)> {
    let db = match uiddb::UidDb::read(dir) {
        Ok(Some((db, _))) => db,
        _ => uiddb::scan(dir, locking).ok()?.db(),
    };
    let known: std::collections::HashSet<&str> =
        db.entries.iter().map(|(_, b)| b.as_str()).collect();
    let (mut messages, mut recent, mut unseen, mut fresh) = (0u32, 0u32, 0u32, 0u32);
    for sub in ["cur", "new"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with('.') {
                continue;
            }
            messages += 1;
            if sub == "new" {
                recent += 1;
            }
            if sub == "new"
                || !courier_maildir::name::Flags::from_file_name(&n)
                    .contains(courier_maildir::name::Flag::Seen)
            {
                unseen += 1;
            }
            if !known.contains(courier_maildir::name::basename(&n)) {
                fresh += 1;
            }
        }
    }
    Some((
        messages,
        recent,
        db.next_uid + fresh,
        db.uidvalidity,
        unseen,
    ))
}

fn upcase_inbox_prefix(p: &str) -> String {
    match p.get(..5) {
        Some(h)
            if h.eq_ignore_ascii_case("INBOX") && p[5..].starts_with(['.', '%', '*'])
                || p.len() == 5 && p.eq_ignore_ascii_case("INBOX") =>
        {
            format!("INBOX{}", &p[5..])
        }
        _ => p.to_string(),
    }
}

/// SPECIAL-USE attribute of a folder by Courier's usual names.
fn special_use(name: &str, trash: &str) -> Option<&'static str> {
    let rest = name.strip_prefix("INBOX.")?;
    if rest == trash {
        return Some("\\Trash");
    }
    Some(match rest {
        "Sent" | "Sent Items" | "Sent Messages" => "\\Sent",
        "Drafts" => "\\Drafts",
        "Trash" | "Deleted Items" => "\\Trash",
        "Junk" | "Spam" => "\\Junk",
        "Archive" | "Archives" => "\\Archive",
        _ => return None,
    })
}

/// `* FLAGS` and `* OK [PERMANENTFLAGS]` after the keyword set grew.
pub(crate) fn write_flags_lines(mb: &Mailbox, out: &mut Vec<u8>) {
    write_flags_lines_select(mb, mb.read_only, out, mb.keywords_enabled);
}

fn write_flags_lines_select(mb: &Mailbox, read_only: bool, out: &mut Vec<u8>, keywords: bool) {
    let mut kw = Vec::new();
    for k in &mb.announced {
        kw.extend_from_slice(k);
        kw.push(b' ');
    }
    out.extend_from_slice(b"* FLAGS (");
    out.extend_from_slice(&kw);
    out.extend_from_slice(b"\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)\r\n");
    if read_only {
        out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n");
    } else {
        out.extend_from_slice(b"* OK [PERMANENTFLAGS (");
        out.extend_from_slice(&kw);
        if keywords {
            out.extend_from_slice(b"\\* ");
        }
        out.extend_from_slice(b"\\Draft \\Answered \\Flagged \\Deleted \\Seen)] Limited\r\n");
    }
}

/// Control characters in client-supplied text for a log line.
fn courier_common_escape(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(512)
        .collect()
}

/// Whether `all` holds a name below `n`.
fn has_children(all: &std::collections::BTreeMap<String, bool>, n: &str) -> bool {
    let prefix = format!("{n}.");
    all.range(prefix.clone()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&prefix))
}

/// `strerror` text of an I/O error.
fn strerror(e: &std::io::Error) -> String {
    courier_common::strerror(e)
}
