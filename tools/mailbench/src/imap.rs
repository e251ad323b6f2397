//! A small blocking IMAP4rev1 client: just enough protocol for the benchmark rows
//! (LOGIN, SELECT, FETCH, COPY/MOVE, STORE, EXPUNGE, APPEND, IDLE).
//!
//! Responses are read as "logical lines": a line plus every literal it announces
//! (`{n}` at the end of a line, RFC 3501 §4.3), so a FETCH with literals is one
//! response. Untagged responses go to a callback; nothing is buffered beyond one
//! response.

use crate::Error;
use crate::net::{Stream, TlsMode};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

/// Largest single response accepted (a whole FETCH BODY[] of a big message fits).
const MAX_RESPONSE: usize = 256 << 20;

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Socket timeout for every read and write.
    pub timeout: Duration,
}

/// The status of a tagged response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// A tagged completion.
#[derive(Clone, Debug)]
pub struct Tagged {
    pub status: Status,
    /// Everything after the status word.
    pub text: String,
}

pub struct Imap {
    r: Option<BufReader<Stream>>,
    host: String,
    next_tag: u64,
    /// CAPABILITY words, upper case (from the last CAPABILITY command).
    pub caps: Vec<String>,
    /// The greeting line.
    pub greeting: String,
}

impl Imap {
    /// Connects, reads the greeting, and performs STARTTLS when asked.
    pub fn connect(t: &Target) -> Result<Imap, Error> {
        let mut s = Stream::connect(&t.host, t.port, t.timeout)?;
        if t.tls == TlsMode::Implicit {
            s = s.into_tls(&t.host)?;
        }
        let mut c = Imap {
            r: Some(BufReader::with_capacity(64 << 10, s)),
            host: t.host.clone(),
            next_tag: 1,
            caps: Vec::new(),
            greeting: String::new(),
        };
        let mut buf = Vec::new();
        c.read_response(&mut buf)?;
        c.greeting = String::from_utf8_lossy(&buf).trim_end().to_string();
        if !c.greeting.starts_with("* OK") && !c.greeting.starts_with("* PREAUTH") {
            return Err(Error::protocol(format!(
                "{}:{}: greeting: {}",
                t.host, t.port, c.greeting
            )));
        }
        if t.tls == TlsMode::StartTls {
            c.simple("STARTTLS")?;
            c.upgrade()?;
        }
        Ok(c)
    }

    fn reader(&mut self) -> Result<&mut BufReader<Stream>, Error> {
        self.r
            .as_mut()
            .ok_or_else(|| Error::protocol("connection lost during STARTTLS"))
    }

    fn upgrade(&mut self) -> Result<(), Error> {
        let r = self
            .r
            .take()
            .ok_or_else(|| Error::protocol("connection lost during STARTTLS"))?;
        if !r.buffer().is_empty() {
            return Err(Error::protocol(
                "server sent data after its STARTTLS reply (injection?)",
            ));
        }
        let s = r.into_inner().into_tls(&self.host)?;
        self.r = Some(BufReader::with_capacity(64 << 10, s));
        Ok(())
    }

    /// The socket, e.g. to change its read timeout.
    pub fn tcp(&self) -> Option<&std::net::TcpStream> {
        self.r.as_ref().map(|r| r.get_ref().tcp())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let w = self.reader()?.get_mut();
        w.write_all(bytes)
            .and_then(|()| w.flush())
            .map_err(|e| Error::io("IMAP write".to_string(), e))
    }

    /// Reads one logical response line (with its literals) into `buf`.
    pub fn read_response(&mut self, buf: &mut Vec<u8>) -> Result<(), Error> {
        buf.clear();
        let r = self.reader()?;
        loop {
            let start = buf.len();
            let n = r
                .read_until(b'\n', buf)
                .map_err(|e| Error::io("IMAP read".to_string(), e))?;
            if n == 0 {
                return Err(Error::protocol("server closed the connection"));
            }
            if buf.len() > MAX_RESPONSE {
                return Err(Error::protocol("response larger than 256 MiB"));
            }
            match literal_len(&buf[start..]) {
                Some(len) if len <= MAX_RESPONSE - buf.len() => {
                    let at = buf.len();
                    buf.resize(at + len, 0);
                    r.read_exact(&mut buf[at..])
                        .map_err(|e| Error::io("IMAP read literal".to_string(), e))?;
                }
                Some(_) => return Err(Error::protocol("literal larger than 256 MiB")),
                None => return Ok(()),
            }
        }
    }

    fn tag(&mut self) -> String {
        let t = format!("b{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Sends `cmd`, passes each untagged response to `on`, returns the tagged one.
    pub fn command(&mut self, cmd: &str, on: &mut dyn FnMut(&[u8])) -> Result<Tagged, Error> {
        let tag = self.tag();
        self.send(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.finish(&tag, on)
    }

    /// Reads until the completion of `tag`.
    fn finish(&mut self, tag: &str, on: &mut dyn FnMut(&[u8])) -> Result<Tagged, Error> {
        let mut buf = Vec::with_capacity(4096);
        loop {
            self.read_response(&mut buf)?;
            if let Some(t) = tagged(&buf, tag) {
                return Ok(t);
            }
            if buf.starts_with(b"+") {
                return Err(Error::protocol(format!(
                    "unexpected continuation: {}",
                    String::from_utf8_lossy(&buf).trim_end()
                )));
            }
            on(&buf);
        }
    }

    /// `cmd`, which must complete with OK.
    pub fn simple(&mut self, cmd: &str) -> Result<Tagged, Error> {
        let t = self.command(cmd, &mut |_| {})?;
        ok(cmd, t)
    }

    /// `cmd`, which must complete with OK; returns the untagged responses too.
    pub fn collect(&mut self, cmd: &str) -> Result<(Tagged, Vec<Vec<u8>>), Error> {
        let mut v = Vec::new();
        let t = self.command(cmd, &mut |l| v.push(l.to_vec()))?;
        Ok((ok(cmd, t)?, v))
    }

    /// LOGIN (skipped when the greeting was PREAUTH).
    pub fn login(&mut self, user: &str, pass: &str) -> Result<(), Error> {
        if self.greeting.starts_with("* PREAUTH") {
            return Ok(());
        }
        let cmd = format!("LOGIN {} {}", quote(user), quote(pass));
        let t = self.command(&cmd, &mut |_| {})?;
        if t.status != Status::Ok {
            return Err(Error::protocol(format!("LOGIN {user}: {}", t.text)));
        }
        Ok(())
    }

    /// CAPABILITY; remembers the words.
    pub fn capability(&mut self) -> Result<&[String], Error> {
        let (_, lines) = self.collect("CAPABILITY")?;
        self.caps = lines
            .iter()
            .filter_map(|l| l.strip_prefix(b"* CAPABILITY "))
            .flat_map(|l| {
                String::from_utf8_lossy(l)
                    .split_whitespace()
                    .map(str::to_ascii_uppercase)
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(&self.caps)
    }

    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    /// SELECT `mailbox`; returns the EXISTS count.
    pub fn select(&mut self, mailbox: &str) -> Result<u32, Error> {
        let mut exists = None;
        let cmd = format!("SELECT {}", quote(mailbox));
        let t = self.command(&cmd, &mut |l| {
            if let Some(n) = untagged_number(l, b"EXISTS") {
                exists = Some(n);
            }
        })?;
        ok(&cmd, t)?;
        exists.ok_or_else(|| Error::protocol(format!("{cmd}: no EXISTS")))
    }

    /// APPEND one message with a synchronizing literal (waits for `+`).
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> Result<Tagged, Error> {
        let tag = self.tag();
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("({flags}) ")
        };
        self.send(
            format!(
                "{tag} APPEND {} {flags}{{{}}}\r\n",
                quote(mailbox),
                msg.len()
            )
            .as_bytes(),
        )?;
        let mut buf = Vec::new();
        loop {
            self.read_response(&mut buf)?;
            if buf.starts_with(b"+") {
                break;
            }
            if let Some(t) = tagged(&buf, &tag) {
                return Err(Error::protocol(format!(
                    "APPEND refused before the literal: {:?} {}",
                    t.status, t.text
                )));
            }
        }
        let mut buf = Vec::with_capacity(msg.len() + 2);
        buf.extend_from_slice(msg);
        buf.extend_from_slice(b"\r\n");
        let w = self.reader()?.get_mut();
        w.write_all(&buf)
            .and_then(|()| w.flush())
            .map_err(|e| Error::io("IMAP write APPEND literal".to_string(), e))?;
        self.finish(&tag, &mut |_| {})
    }

    /// Starts IDLE: returns once the server sent its continuation. Untagged
    /// responses before it are passed to `on`.
    pub fn idle_start(&mut self, on: &mut dyn FnMut(&[u8])) -> Result<String, Error> {
        let tag = self.tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes())?;
        let mut buf = Vec::new();
        loop {
            self.read_response(&mut buf)?;
            if buf.starts_with(b"+") {
                return Ok(tag);
            }
            if let Some(t) = tagged(&buf, &tag) {
                return Err(Error::protocol(format!("IDLE refused: {}", t.text)));
            }
            on(&buf);
        }
    }

    /// Waits up to `wait` for an untagged response for which `pred` is true;
    /// returns it with the time it was read, or None on timeout.
    pub fn wait_for(
        &mut self,
        wait: Duration,
        pred: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Option<(Vec<u8>, Instant)>, Error> {
        let deadline = Instant::now() + wait;
        let mut buf = Vec::new();
        let old = self.tcp().and_then(|t| t.read_timeout().ok().flatten());
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Ok(None);
            }
            if self.reader()?.buffer().is_empty()
                && let Some(t) = self.tcp()
            {
                let _ = t.set_read_timeout(Some(left));
            }
            match self.read_response(&mut buf) {
                Ok(()) => {
                    if pred(&buf) {
                        break Ok(Some((buf.clone(), Instant::now())));
                    }
                }
                Err(Error::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) && buf.is_empty() =>
                {
                    break Ok(None);
                }
                Err(e) => break Err(e),
            }
        };
        if let Some(t) = self.tcp() {
            let _ = t.set_read_timeout(old);
        }
        result
    }

    /// Ends IDLE started with tag `tag`.
    pub fn idle_done(&mut self, tag: &str) -> Result<Tagged, Error> {
        self.send(b"DONE\r\n")?;
        let t = self.finish(tag, &mut |_| {})?;
        ok("IDLE", t)
    }

    /// LOGOUT, ignoring what the server says (it may close at once).
    pub fn logout(mut self) {
        let _ = self.command("LOGOUT", &mut |_| {});
    }
}

/// The tagged completion in `line` if it is the one for `tag`.
pub fn tagged(line: &[u8], tag: &str) -> Option<Tagged> {
    let rest = line.strip_prefix(tag.as_bytes())?.strip_prefix(b" ")?;
    let text = String::from_utf8_lossy(rest).trim_end().to_string();
    let (word, after) = text.split_once(' ').unwrap_or((&text, ""));
    let status = match word.to_ascii_uppercase().as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        _ => Status::Bad,
    };
    Some(Tagged {
        status,
        text: after.to_string(),
    })
}

/// Turns a non-OK completion of `cmd` into an error.
pub fn ok(cmd: &str, t: Tagged) -> Result<Tagged, Error> {
    if t.status == Status::Ok {
        Ok(t)
    } else {
        let shown: String = cmd.chars().take(80).collect();
        Err(Error::protocol(format!(
            "{shown}: {:?} {}",
            t.status, t.text
        )))
    }
}

/// `{n}` or `{n+}` at the end of a line: the length of the literal that follows.
pub fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\n")?;
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|b| *b == b'{')?;
    let digits = &l[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `* <n> <word>` (e.g. EXISTS, EXPUNGE, FETCH): the number.
pub fn untagged_number(line: &[u8], word: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let sp = rest.iter().position(|b| *b == b' ')?;
    let n: u32 = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
    let after = &rest[sp + 1..];
    let w = after
        .split(|b| *b == b' ' || *b == b'\r' || *b == b'\n')
        .next()?;
    w.eq_ignore_ascii_case(word).then_some(n)
}

/// An IMAP quoted string (RFC 3501 §4.3).
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// `UID n` inside a FETCH response.
pub fn fetch_uid(line: &[u8]) -> Option<u32> {
    let i = find(line, b"UID ")?;
    // Not the "UID" inside e.g. a header literal: FETCH items come before literals
    // in the responses we parse (UID is asked first).
    let rest = &line[i + 4..];
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A compact sequence set (`1:5,9,12:13`) of sorted numbers.
pub fn seq_set(nums: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end + 1 {
            i += 1;
            end = nums[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_len_reads_sync_and_nonsync_literals_only_at_line_end() {
        const CASES: &[(&[u8], Option<usize>)] = &[
            (b"* 1 FETCH (BODY[] {12}\r\n", Some(12)),
            (b"* 1 FETCH (BODY[] {12+}\r\n", Some(12)),
            (b"* 1 FETCH (BODY[] {0}\r\n", Some(0)),
            (b"* OK done\r\n", None),
            (b"* OK {x}\r\n", None),
            (b"* OK {}\r\n", None),
            (b"* OK {12} more\r\n", None),
        ];
        for (line, want) in CASES {
            assert_eq!(
                literal_len(line),
                *want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn untagged_number_matches_the_word_case_insensitively() {
        assert_eq!(
            untagged_number(b"* 30000 EXISTS\r\n", b"EXISTS"),
            Some(30000)
        );
        assert_eq!(untagged_number(b"* 3 exists\r\n", b"EXISTS"), Some(3));
        assert_eq!(untagged_number(b"* 3 RECENT\r\n", b"EXISTS"), None);
        assert_eq!(untagged_number(b"* OK [UIDNEXT 3]\r\n", b"EXISTS"), None);
        assert_eq!(untagged_number(b"* 4 FETCH (UID 7)\r\n", b"FETCH"), Some(4));
    }

    #[test]
    fn tagged_parses_status_and_text() {
        let t = tagged(b"b7 OK [READ-WRITE] Ok\r\n", "b7").unwrap();
        assert_eq!(t.status, Status::Ok);
        assert_eq!(t.text, "[READ-WRITE] Ok");
        assert_eq!(tagged(b"b7 NO x\r\n", "b7").unwrap().status, Status::No);
        assert!(tagged(b"b70 OK x\r\n", "b7").is_none());
        assert!(tagged(b"* OK x\r\n", "b7").is_none());
    }

    #[test]
    fn seq_set_compresses_runs() {
        assert_eq!(seq_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(seq_set(&[4]), "4");
        assert_eq!(seq_set(&[]), "");
    }

    #[test]
    fn quote_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    /// A scripted server on 127.0.0.1: writes `script` lines after reading one
    /// client command each (the first is written at once; literals are invited
    /// with `+` and read).
    fn scripted(script: Vec<&'static str>) -> Target {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            for (i, out) in script.iter().enumerate() {
                if i > 0 {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(n) = literal_len(line.as_bytes()) {
                        // A synchronizing literal: invite it, then read it and
                        // the rest of the command line.
                        let _ = w.write_all(b"+ go ahead\r\n");
                        let mut lit = vec![0; n];
                        let _ = r.read_exact(&mut lit);
                        let _ = r.read_line(&mut line);
                    }
                }
                let _ = w.write_all(out.as_bytes());
            }
        });
        Target {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_literal_that_looks_like_a_completion_stays_inside_its_response() {
        let t = scripted(vec![
            "* OK hi\r\n",
            "b1 OK LOGIN Ok.\r\n",
            "* 1 FETCH (UID 7 BODY[] {14}\r\nb2 OK fake\r\n\r\n)\r\n* 2 FETCH (UID 8)\r\nb2 OK done\r\n",
        ]);
        let mut c = Imap::connect(&t).unwrap();
        c.login("u", "p").unwrap();
        let (done, lines) = c.collect("FETCH 1:* (UID BODY[])").unwrap();
        assert_eq!(done.text, "done");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with(b"b2 OK fake\r\n\r\n)\r\n"));
        assert_eq!(fetch_uid(&lines[1]), Some(8));
    }

    #[test]
    fn append_waits_for_the_continuation_and_returns_the_completion() {
        let t = scripted(vec![
            "* PREAUTH hi\r\n",
            "b1 OK [APPENDUID 1 5] done\r\n",
            "b2 NO [OVERQUOTA] full\r\n",
        ]);
        let mut c = Imap::connect(&t).unwrap();
        c.login("ignored", "under PREAUTH").unwrap();
        let done = c
            .append("INBOX", "\\Seen", b"Subject: x\r\n\r\nbody\r\n")
            .unwrap();
        assert_eq!(done.status, Status::Ok);
        // A refusal after the literal is a completion, for the caller to judge.
        assert_eq!(c.append("INBOX", "", b"x").unwrap().status, Status::No);
    }

    #[test]
    fn fetch_uid_finds_the_uid_item() {
        assert_eq!(
            fetch_uid(b"* 3 FETCH (UID 42 FLAGS (\\Seen))\r\n"),
            Some(42)
        );
        assert_eq!(fetch_uid(b"* 3 FETCH (FLAGS ())\r\n"), None);
    }
}
