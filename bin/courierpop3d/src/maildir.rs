//! The session's view of the main maildir: the login scan (tmp/ purge, new/ →
//! cur/, `courierpop3dsizelist`), opening a message, marking it seen after RETR,
//! and the deletions at QUIT with the `maildirsize` update.

use crate::Peer;
use courier_common::{Severity, log, strerror};
use courier_maildir::lock::DotLock;
use courier_maildir::name::{self, Flag, Flags};
use courier_maildir::pop3list::{self, SizeList};
use courier_maildir::quota::QuotaFile;
use courier_maildir::{MaildirError, delivery};
use std::cell::RefCell;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long the login scan waits for `tmp/courier.lock` before going on without it.
const LOCK_WAIT: Duration = Duration::from_secs(15);

/// One message of the session.
#[derive(Clone, Debug)]
pub struct Msg {
    /// The current `cur/` file name.
    pub name: String,
    /// POP3 size (CRLF counted).
    pub size: u64,
    /// The UIDL string.
    pub uidl: String,
    /// Headers with 8-bit bytes (RFC 6856 wrapping when UTF8 is off).
    pub utf8: bool,
    /// DELE'd in this session.
    pub deleted: bool,
}

/// Why the maildir could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// `cur/` cannot be read (Courier: `Maildir invalid (no 'cur' directory)`).
    NoCur(io::Error),
    /// Another failure, naming the file.
    Other(MaildirError),
}

/// The open maildir.
pub struct Mailbox {
    root: PathBuf,
    /// The messages, numbered from 1.
    pub msgs: Vec<Msg>,
}

fn cur_names(root: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in fs::read_dir(root.join("cur"))? {
        let e = e?;
        let n = e.file_name();
        let Some(n) = n.to_str() else {
            log(
                Severity::Warn,
                format!(
                    "{}: file name is not UTF-8, not shown to POP3",
                    root.join("cur").join(&n).display()
                ),
            );
            continue;
        };
        if !n.starts_with('.') {
            names.push(n.to_string());
        }
    }
    Ok(names)
}

impl Mailbox {
    /// The login scan (pop3d-config.md §5).
    pub fn open(root: &Path, peer: &Peer) -> Result<Mailbox, OpenError> {
        if let Err(e) = fs::read_dir(root.join("cur")) {
            return Err(OpenError::NoCur(e));
        }
        let _ = pop3list::purge_tmp(root, pop3list::TMP_PURGE_AGE, SystemTime::now());
        // The lock keeps two sessions (or a session and imapd) from numbering the
        // same new messages differently; Courier's pop3d runs without it, so a
        // lock that cannot be had is not fatal.
        let lock = if root.join("tmp").is_dir() {
            match DotLock::acquire(root, LOCK_WAIT) {
                Ok(l) => Some(l),
                Err(e) => {
                    log(Severity::Warn, format!("{e}, {}", peer.who()));
                    None
                }
            }
        } else {
            None
        };
        if root.join("new").is_dir()
            && let Err(e) = delivery::move_new_to_cur(root)
        {
            log(Severity::Err, format!("{e}, {}", peer.who()));
        }
        // An unreadable list is not replaced: its UIDs come back once it can be
        // read again. Meanwhile the session shows what it would show if the
        // list could not be saved (Courier's end result for a list that is a
        // directory): no message under a UIDL that could change.
        let (mut list, load_error) = match SizeList::load(root) {
            Ok(l) => (l, None),
            Err(e) => (SizeList::new(now_secs()), Some(e)),
        };
        // A message can vanish between listing and measuring (another session
        // deleted it), or be unreadable (not a file): list again without it.
        let mut skip: Vec<String> = Vec::new();
        loop {
            let mut names = cur_names(root)
                .map_err(|e| OpenError::Other(MaildirError::io(root.join("cur"), e)))?;
            names.retain(|n| !skip.contains(n));
            let failed: RefCell<Option<String>> = RefCell::new(None);
            let r = list.reconcile(&names, |n| {
                let path = root.join("cur").join(n);
                let measured = File::open(&path).and_then(|mut f| crate::stream::measure(&mut f));
                measured.map_err(|e| {
                    *failed.borrow_mut() = Some(n.to_string());
                    MaildirError::io(&path, e)
                })
            });
            match (r, failed.into_inner()) {
                (Ok(()), _) => break,
                (Err(e), Some(name)) if !skip.contains(&name) => {
                    log(
                        Severity::Warn,
                        format!("{e}, not shown to POP3, {}", peer.who()),
                    );
                    skip.push(name);
                }
                (Err(e), _) => return Err(OpenError::Other(e)),
            }
        }
        let mut enomem = false;
        let saved = match load_error {
            Some(e) => Err(e),
            None => list.save_if_dirty(root).map(|_| ()),
        };
        if let Err(e) = saved {
            log(
                Severity::Err,
                format!(
                    "Error while saving courierpop3dsizelist, user={} ({e})",
                    peer.user
                ),
            );
            enomem = list.hide_unsaved();
        }
        drop(lock);
        let mut msgs: Vec<Msg> = list
            .entries()
            .iter()
            .map(|e| Msg {
                name: e.filename.clone(),
                size: e.size,
                uidl: e.uidl(),
                utf8: e.utf8,
                deleted: false,
            })
            .collect();
        if enomem
            && let Some(first) = msgs.first_mut()
            && let Ok(meta) = fs::metadata(root.join("cur").join(&first.name))
        {
            first.uidl = pop3list::enomem_uidl(&meta);
        }
        Ok(Mailbox {
            root: root.to_path_buf(),
            msgs,
        })
    }

    fn cur_path(&self, name: &str) -> PathBuf {
        self.root.join("cur").join(name)
    }

    /// Finds message `i` again when its name changed under us (flags set by an IMAP
    /// session): the same basename in `cur/`.
    fn refind(&mut self, i: usize) -> bool {
        let base = name::basename(&self.msgs[i].name).to_string();
        let Ok(names) = cur_names(&self.root) else {
            return false;
        };
        match names.into_iter().find(|n| name::basename(n) == base) {
            Some(n) => {
                self.msgs[i].name = n;
                true
            }
            None => false,
        }
    }

    /// Opens message `i` (0-based) for reading, following a rename.
    pub fn open_msg(&mut self, i: usize) -> io::Result<File> {
        match File::open(self.cur_path(&self.msgs[i].name)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.refind(i) => {
                File::open(self.cur_path(&self.msgs[i].name))
            }
            r => r,
        }
    }

    /// After RETR: appends `S` to the flags when missing (Courier appends, no
    /// re-sorting). Failures are ignored, as Courier ignores them.
    pub fn mark_seen(&mut self, i: usize) {
        let old = self.msgs[i].name.clone();
        let new = match old.find(":2,") {
            Some(at) if Flags::parse(&old[at + 3..]).contains(Flag::Seen) => return,
            Some(_) => format!("{old}S"),
            None => format!("{}:2,S", name::basename(&old)),
        };
        if fs::rename(self.cur_path(&old), self.cur_path(&new)).is_ok() {
            self.msgs[i].name = new;
        }
    }

    /// The UPDATE state: unlinks every DELE'd message, logging each when
    /// `log_deletions`, and writes one `maildirsize` line for the counted ones
    /// (trashed, `T`, messages do not count, formats.md §4).
    pub fn expunge(&mut self, peer: &Peer, log_deletions: bool) {
        let mut bytes: i64 = 0;
        let mut count: i64 = 0;
        for i in 0..self.msgs.len() {
            if !self.msgs[i].deleted {
                continue;
            }
            let mut path = self.cur_path(&self.msgs[i].name);
            let mut meta = fs::metadata(&path);
            if meta.is_err() && self.refind(i) {
                path = self.cur_path(&self.msgs[i].name);
                meta = fs::metadata(&path);
            }
            let name = self.msgs[i].name.clone();
            match fs::remove_file(&path) {
                Ok(()) => {
                    if log_deletions {
                        log(
                            Severity::Info,
                            format!("DELETED, {}, filename=cur/{name}", peer.who()),
                        );
                    }
                    if !Flags::from_file_name(&name).contains(Flag::Trashed) {
                        let size = name::size_from_name(&name)
                            .or_else(|| meta.as_ref().ok().map(|m| m.len()))
                            .unwrap_or(0);
                        bytes += i64::try_from(size).unwrap_or(i64::MAX);
                        count += 1;
                    }
                }
                // Deleted meanwhile by someone else: nothing to count.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => log(
                    Severity::Err,
                    format!(
                        "unlink {}: {}, {}",
                        path.display(),
                        strerror(&e),
                        peer.who()
                    ),
                ),
            }
        }
        if count == 0 {
            return;
        }
        match QuotaFile::open(&self.root) {
            Ok(Some(mut q)) => {
                if let Err(e) = q.add(-bytes, -count) {
                    log(Severity::Err, format!("{e}, {}", peer.who()));
                }
            }
            Ok(None) => {}
            Err(e) => log(Severity::Err, format!("{e}, {}", peer.who())),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
