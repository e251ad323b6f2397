//! Shared helpers for real-client (imaplib, curl, mbsync, fetchmail) tests and the load tool.
//!
//! Owns: an IMAP session over pipes ([`ImapPipe`]: imapd in PREAUTH mode, lines read
//! by a thread so every wait is bounded), a session's view of a folder kept up to date
//! from untagged responses ([`View`]), small parsers for FETCH lines, finding
//! installed client programs, and reading a folder's `courierimapuiddb`.
//!
//! Does not: start the login chain (see [`crate::Fixture`]) or judge the protocol
//! beyond what the tests assert.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The absolute path of `tool` on $PATH, or None.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// `tool` if installed; otherwise prints `SKIP:` for `test` and returns None.
pub fn client(test: &str, tool: &str) -> Option<PathBuf> {
    let found = which(tool);
    if found.is_none() {
        crate::skip(test, &format!("{tool} is not installed"));
    }
    found
}

/// One IMAP session of `imapd Maildir` in PREAUTH mode over pipes.
pub struct ImapPipe {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<String>,
    next_tag: u32,
    /// Every line sent (`C: `) and received (`S: `), for failure messages.
    pub log: Vec<String>,
    /// Name in messages (`A`, `B`, ...).
    pub name: String,
}

/// The longest any single wait for a server line may take.
pub const LINE_WAIT: Duration = Duration::from_secs(15);

impl ImapPipe {
    /// Starts `imapd Maildir` with `home` as cwd and a clean environment plus
    /// `env`; reads the PREAUTH greeting.
    pub fn start(name: &str, imapd: &Path, home: &Path, env: &[(&str, &str)]) -> ImapPipe {
        let mut cmd = Command::new(imapd);
        cmd.arg("Maildir")
            .current_dir(home)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home)
            .env("TCPREMOTEIP", "127.0.0.1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", imapd.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let s = String::from_utf8_lossy(&buf);
                        if tx
                            .send(s.trim_end_matches(['\r', '\n']).to_string())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        let mut s = ImapPipe {
            child,
            stdin,
            rx,
            next_tag: 1,
            log: Vec::new(),
            name: name.to_string(),
        };
        let g = s.line(LINE_WAIT);
        assert!(
            g.as_deref().is_some_and(|g| g.starts_with("* PREAUTH")),
            "{name}: greeting {g:?}"
        );
        s
    }

    /// The next line, or None after `wait` (or at EOF).
    pub fn line(&mut self, wait: Duration) -> Option<String> {
        match self.rx.recv_timeout(wait) {
            Ok(l) => {
                self.log.push(format!("S: {l}"));
                Some(l)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Every line that arrives within `wait` of the previous one.
    pub fn drain(&mut self, wait: Duration) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = self.line(wait) {
            v.push(l);
        }
        v
    }

    /// Sends `text` + CRLF.
    pub fn send(&mut self, text: &str) {
        self.log.push(format!("C: {text}"));
        if let Some(w) = self.stdin.as_mut() {
            let _ = w.write_all(format!("{text}\r\n").as_bytes());
            let _ = w.flush();
        }
    }

    /// Sends `text` with a fresh tag; returns the lines up to and including the
    /// tagged completion (panics, with the transcript, after [`LINE_WAIT`]).
    pub fn cmd(&mut self, text: &str) -> Vec<String> {
        let tag = format!("{}{}", self.name.to_ascii_lowercase(), self.next_tag);
        self.next_tag += 1;
        self.send(&format!("{tag} {text}"));
        let mut v = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            match self.line(LINE_WAIT) {
                Some(l) => {
                    let done = l.starts_with(&prefix);
                    v.push(l);
                    if done {
                        return v;
                    }
                }
                None => panic!(
                    "{}: no completion of `{text}` within {LINE_WAIT:?}; transcript tail:\n{}",
                    self.name,
                    self.tail(40)
                ),
            }
        }
    }

    /// Like [`ImapPipe::cmd`], asserting that the completion is OK.
    pub fn ok(&mut self, text: &str) -> Vec<String> {
        let v = self.cmd(text);
        let last = v.last().cloned().unwrap_or_default();
        assert!(
            last.split(' ').nth(1) == Some("OK"),
            "{}: `{text}` -> {last}\n{}",
            self.name,
            self.tail(40)
        );
        v
    }

    /// The last `n` transcript lines.
    pub fn tail(&self, n: usize) -> String {
        let start = self.log.len().saturating_sub(n);
        self.log[start..].join("\n")
    }

    /// Closes stdin and waits (bounded) for the process to end.
    pub fn close(mut self) {
        self.stdin.take();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ImapPipe {
    fn drop(&mut self) {
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// `* <n> <word>` (EXISTS, EXPUNGE, FETCH, RECENT): the number.
pub fn untagged_num(line: &str, word: &str) -> Option<u32> {
    let rest = line.strip_prefix("* ")?;
    let (n, after) = rest.split_once(' ')?;
    let w = after.split([' ', '(']).next()?;
    if w.eq_ignore_ascii_case(word) {
        n.parse().ok()
    } else {
        None
    }
}

/// The value of `UID n` in a FETCH line.
pub fn fetch_uid(line: &str) -> Option<u32> {
    let i = line.find("UID ")?;
    let digits: String = line[i + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The FLAGS list of a FETCH line, sorted, without the parentheses.
pub fn fetch_flags(line: &str) -> Option<Vec<String>> {
    let i = line.find("FLAGS (")?;
    let rest = &line[i + 7..];
    let end = rest.find(')')?;
    let mut v: Vec<String> = rest[..end].split_whitespace().map(String::from).collect();
    v.sort();
    Some(v)
}

/// `<id>` of a `Message-ID:` header line (any case), if `line` is one.
pub fn message_id(line: &str) -> Option<String> {
    let (name, value) = line.split_once(':')?;
    if !name.trim().eq_ignore_ascii_case("message-id") {
        return None;
    }
    Some(value.trim().to_string())
}

/// A session's picture of the selected folder: sequence number -> UID, and the
/// flags of each UID, maintained from untagged responses.
#[derive(Debug, Default)]
pub struct View {
    /// UID of sequence number i+1 (0 while unknown: announced by EXISTS, not yet fetched).
    pub uids: Vec<u32>,
    pub flags: BTreeMap<u32, Vec<String>>,
    /// Message-ID of each UID this session fetched.
    pub mids: BTreeMap<u32, String>,
}

/// What [`View::apply`] found in one batch of lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub expunges: u32,
    pub flag_fetches: u32,
    pub grew: bool,
}

impl View {
    /// Applies untagged EXISTS / EXPUNGE / FETCH lines (in order) and the
    /// header-literal lines that follow a FETCH with BODY[HEADER.FIELDS].
    pub fn apply(&mut self, lines: &[String]) -> Seen {
        let mut seen = Seen::default();
        let mut pending_uid: Option<u32> = None;
        for l in lines {
            if let Some(n) = untagged_num(l, "EXISTS") {
                let n = n as usize;
                if n > self.uids.len() {
                    seen.grew = true;
                }
                self.uids.resize(n.max(self.uids.len()), 0);
                // EXISTS never shrinks a folder (RFC 3501 §7.3.1).
                continue;
            }
            if let Some(n) = untagged_num(l, "EXPUNGE") {
                let i = n as usize;
                assert!(
                    i >= 1 && i <= self.uids.len(),
                    "EXPUNGE {n} outside 1..={}: {l}",
                    self.uids.len()
                );
                let uid = self.uids.remove(i - 1);
                self.flags.remove(&uid);
                seen.expunges += 1;
                continue;
            }
            if let Some(n) = untagged_num(l, "FETCH") {
                let i = n as usize;
                assert!(
                    i >= 1 && i <= self.uids.len(),
                    "FETCH {n} outside 1..={}: {l}",
                    self.uids.len()
                );
                if let Some(uid) = fetch_uid(l) {
                    let known = self.uids[i - 1];
                    assert!(
                        known == 0 || known == uid,
                        "sequence {n} was UID {known}, now FETCH says UID {uid}: {l}"
                    );
                    self.uids[i - 1] = uid;
                }
                let uid = self.uids[i - 1];
                if let Some(f) = fetch_flags(l) {
                    if uid != 0 {
                        self.flags.insert(uid, f);
                    }
                    seen.flag_fetches += 1;
                }
                pending_uid = (l.ends_with('}') && uid != 0).then_some(uid);
                continue;
            }
            if let (Some(uid), Some(mid)) = (pending_uid, message_id(l)) {
                self.mids.insert(uid, mid);
                pending_uid = None;
            }
        }
        seen
    }

    /// Sequence numbers whose UID is not known yet.
    pub fn unknown(&self) -> Option<u32> {
        self.uids.iter().position(|u| *u == 0).map(|i| i as u32 + 1)
    }
}

/// `(nextuid, uids)` from a folder's `courierimapuiddb` (formats.md §6), or
/// None when there is none.
pub fn read_uiddb(folder: &Path) -> Option<(u32, Vec<(u32, String)>)> {
    let text = std::fs::read_to_string(folder.join("courierimapuiddb")).ok()?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next()?.split_whitespace().collect();
    let next = head.get(2)?.parse().ok()?;
    let v = lines
        .filter_map(|l| {
            let (u, name) = l.split_once(' ')?;
            Some((u.parse().ok()?, name.to_string()))
        })
        .collect();
    Some((next, v))
}

/// The Message-ID of a message file.
pub fn file_message_id(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    String::from_utf8_lossy(&text)
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(message_id)
}

/// Every message file in `folder`/new and `folder`/cur.
pub fn message_files(folder: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(folder.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.path().is_file() {
                v.push(e.path());
            }
        }
    }
    v.sort();
    v
}

/// The `:2,` flags of a maildir file name ("" when none).
pub fn name_flags(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split_once(":2,")
        .map(|(_, f)| f.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &[&str]) -> Vec<String> {
        s.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn view_tracks_exists_fetch_and_expunge() {
        let mut v = View::default();
        let s = v.apply(&lines(&[
            "* 3 EXISTS",
            "* 1 FETCH (UID 10 FLAGS (\\Seen))",
            "* 2 FETCH (UID 11 FLAGS ())",
            "* 3 FETCH (UID 12 BODY[HEADER.FIELDS (MESSAGE-ID)] {20}",
            "Message-ID: <m12@x>",
            "",
            ")",
        ]));
        assert!(s.grew);
        assert_eq!(v.uids, vec![10, 11, 12]);
        assert_eq!(v.mids.get(&12).map(String::as_str), Some("<m12@x>"));
        let s = v.apply(&lines(&["* 2 EXPUNGE", "* 2 FETCH (FLAGS (\\Flagged))"]));
        assert_eq!(s.expunges, 1);
        assert_eq!(s.flag_fetches, 1);
        assert_eq!(v.uids, vec![10, 12]);
        assert_eq!(v.flags[&12], vec!["\\Flagged".to_string()]);
        assert_eq!(v.unknown(), None);
    }

    #[test]
    #[should_panic(expected = "now FETCH says UID")]
    fn view_refuses_a_sequence_number_changing_uid() {
        let mut v = View::default();
        v.apply(&lines(&[
            "* 1 EXISTS",
            "* 1 FETCH (UID 4)",
            "* 1 FETCH (UID 5)",
        ]));
    }

    #[test]
    fn parsers_read_untagged_numbers_uids_and_flags() {
        assert_eq!(untagged_num("* 4 EXISTS", "EXISTS"), Some(4));
        assert_eq!(untagged_num("* 4 FETCH (UID 1)", "FETCH"), Some(4));
        assert_eq!(untagged_num("* OK [UIDNEXT 4] x", "EXISTS"), None);
        assert_eq!(fetch_uid("* 1 FETCH (FLAGS () UID 77)"), Some(77));
        assert_eq!(
            fetch_flags("* 1 FETCH (UID 1 FLAGS (\\Seen \\Answered))"),
            Some(vec!["\\Answered".to_string(), "\\Seen".to_string()])
        );
        assert_eq!(message_id("message-id: <a@b>"), Some("<a@b>".into()));
        assert_eq!(name_flags(Path::new("/x/cur/1.2.h:2,FS")), "FS");
    }
}
