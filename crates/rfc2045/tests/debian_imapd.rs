//! Differential test: every message in tests/corpus/ is put into a scratch maildir, Debian's
//! Courier imapd (/usr/bin/imapd, PREAUTH on stdin/stdout) is asked for ENVELOPE, BODY,
//! BODYSTRUCTURE, RFC822.SIZE, INTERNALDATE and many BODY[section]s of it, and each item is
//! compared with what this crate produces for the same file. Skips with a printed reason
//! when Debian's imapd is not installed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use courier_rfc2045::{Message, Section, SectionText, crlf, date, search};

const IMAPD: &str = "/usr/bin/imapd";
/// Fixed zone for INTERNALDATE: POSIX TZ "IST-5:30" is UTC+05:30.
const TZ: &str = "IST-5:30";
const TZ_OFFSET: i32 = 5 * 3600 + 30 * 60;
const MTIME: u64 = 1_583_381_106;

/// Known differences: (corpus file or "" for any, item name prefix, why). Each one hit is
/// printed. None left: the RFC 3501 group syntax we send is mapped to Courier's form by
/// `courier_groups` before comparing.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    v.sort();
    v
}

fn spec(s: &Section) -> String {
    let mut out: Vec<String> = s.part.iter().map(|n| n.to_string()).collect();
    let list = |v: &Vec<Vec<u8>>| {
        v.iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match &s.text {
        None => {}
        Some(SectionText::Header) => out.push("HEADER".into()),
        Some(SectionText::Text) => out.push("TEXT".into()),
        Some(SectionText::Mime) => out.push("MIME".into()),
        Some(SectionText::HeaderFields(v)) => out.push(format!("HEADER.FIELDS ({})", list(v))),
        Some(SectionText::HeaderFieldsNot(v)) => {
            out.push(format!("HEADER.FIELDS.NOT ({})", list(v)))
        }
    }
    out.join(".")
}

fn names(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn sections(msg: &Message<'_>) -> Vec<Section> {
    let top = |text| Section { part: vec![], text };
    let mut v = vec![
        top(None),
        top(Some(SectionText::Header)),
        top(Some(SectionText::Text)),
        top(Some(SectionText::HeaderFields(names(&[
            "From",
            "subject",
            "TO",
            "Received",
            "x-mixed-case",
            "Content-Type",
            "Subject2",
        ])))),
        top(Some(SectionText::HeaderFieldsNot(names(&[
            "subject",
            "Received",
            "X-Nothing",
        ])))),
    ];
    let paths = msg.part_paths();
    let mut probe = paths.clone();
    let tops = paths.iter().filter(|p| p.len() == 1).count() as u32;
    probe.push(vec![tops + 1]);
    for p in &paths {
        let mut q = p.clone();
        q.push(7);
        probe.push(q);
    }
    for p in probe {
        for text in [
            None,
            Some(SectionText::Mime),
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::HeaderFields(names(&["Subject", "from"]))),
            Some(SectionText::HeaderFieldsNot(names(&["Subject"]))),
        ] {
            v.push(Section {
                part: p.clone(),
                text,
            });
        }
    }
    v
}

/// The day (since 1970) of the first Date field, in the zone it is written in.
fn date_day(header: &[u8]) -> Option<i64> {
    let v = search::header_values(header, b"date").into_iter().next()?;
    let (t, tz) = date::parse_rfc2822(&v)?;
    Some((t + i64::from(tz)).div_euclid(86_400))
}

/// Courier's SENT* days: every Date field of every part, as a day in the server's zone.
fn courier_days(msg: &Message<'_>) -> Vec<i64> {
    search::header_values_all(msg, b"date")
        .iter()
        .filter_map(|v| date::parse_rfc2822(v))
        .map(|(t, _)| (t + i64::from(TZ_OFFSET)).div_euclid(86_400))
        .collect()
}

fn days_of(y: i64, m: u32, d: u32) -> i64 {
    date::days_from_civil(y, m, d)
}

/// `d-Mon-yyyy` for a day number.
fn search_date(day: i64) -> String {
    // format_date_time gives "dd-Mon-yyyy hh:mm:ss +zzzz".
    let s = date::format_date_time(day * 86_400, 0);
    s[..11].to_string()
}

/// Our ENVELOPE group markers, `(NIL NIL "name" NIL)` and `(NIL NIL NIL NIL)`, as
/// Courier writes both: `(NIL NIL "" NIL)`. (An address structure with NIL host is
/// always a group marker: a mailbox without domain has host "".)
fn courier_groups(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let rest = &v[i..];
        if rest.starts_with(b"(NIL NIL NIL NIL)") {
            out.extend_from_slice(b"(NIL NIL \"\" NIL)");
            i += 17;
            continue;
        }
        if rest.starts_with(b"(NIL NIL \"") {
            // Find the end of the quoted string, then check for " NIL)".
            let mut j = 10;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            if rest[j.min(rest.len())..].starts_with(b"\" NIL)") {
                out.extend_from_slice(b"(NIL NIL \"\" NIL)");
                i += j + 6;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// SEARCH queries asked of every message: (search key, needle).
fn searches() -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    for needle in [
        "hello",
        "body",
        "report",
        "inner",
        "text",
        "content-type",
        "grüße",
        "CAFÉ",
        "aGVsbG8",
        "soft line",
    ] {
        v.push(("BODY", needle));
        v.push(("TEXT", needle));
    }
    for needle in ["meeting", "birnen", "äpfel", "first", "subject", "=?utf-8"] {
        v.push(("HEADER SUBJECT", needle));
    }
    for needle in ["müller", "example.com", "john doe"] {
        v.push(("HEADER FROM", needle));
    }
    v
}

#[derive(Debug)]
struct Item {
    name: String,
    raw: Vec<u8>,
    /// The decoded value when it is a string, literal or NIL (None).
    string: Option<Vec<u8>>,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }
    fn literal(&mut self) -> Vec<u8> {
        let close = self.b[self.i..].iter().position(|&c| c == b'}').unwrap() + self.i;
        let n: usize = std::str::from_utf8(&self.b[self.i + 1..close])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(&self.b[close + 1..close + 3], b"\r\n");
        let start = close + 3;
        self.i = start + n;
        self.b[start..start + n].to_vec()
    }
    fn quoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.i += 1;
        while self.peek() != b'"' {
            if self.peek() == b'\\' {
                self.i += 1;
            }
            out.push(self.peek());
            self.i += 1;
        }
        self.i += 1;
        out
    }
    fn value(&mut self) -> (Vec<u8>, Option<Vec<u8>>) {
        let start = self.i;
        match self.peek() {
            b'"' => {
                let s = self.quoted();
                (self.b[start..self.i].to_vec(), Some(s))
            }
            b'{' => {
                let s = self.literal();
                (self.b[start..self.i].to_vec(), Some(s))
            }
            b'(' => {
                let mut depth = 0;
                loop {
                    match self.peek() {
                        b'(' => {
                            depth += 1;
                            self.i += 1;
                        }
                        b')' => {
                            depth -= 1;
                            self.i += 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        b'"' => {
                            self.quoted();
                        }
                        b'{' => {
                            self.literal();
                        }
                        _ => self.i += 1,
                    }
                }
                (self.b[start..self.i].to_vec(), None)
            }
            _ => {
                while !matches!(self.peek(), b' ' | b')' | b'\r') {
                    self.i += 1;
                }
                let raw = self.b[start..self.i].to_vec();
                let s = if raw == b"NIL" {
                    None
                } else {
                    Some(raw.clone())
                };
                (raw, s)
            }
        }
    }
    fn name(&mut self) -> String {
        let start = self.i;
        while !matches!(self.peek(), b' ' | b'[') {
            self.i += 1;
        }
        if self.peek() == b'[' {
            while self.peek() != b']' {
                if self.peek() == b'"' {
                    self.quoted();
                } else {
                    self.i += 1;
                }
            }
            self.i += 1;
        }
        String::from_utf8_lossy(&self.b[start..self.i]).into_owned()
    }
}

/// Items of every `* n FETCH (...)` response in `out`, in order.
fn fetch_items(out: &[u8]) -> Vec<Item> {
    let mut items = Vec::new();
    let mut c = Cursor { b: out, i: 0 };
    while c.i < out.len() {
        let line_start = c.i;
        if out[line_start..].starts_with(b"* ")
            && let Some(p) = out[line_start..]
                .iter()
                .position(|&b| b == b'\n')
                .and_then(|nl| {
                    out[line_start..line_start + nl]
                        .windows(7)
                        .position(|w| w == b"FETCH (")
                })
        {
            c.i = line_start + p + 7;
            while c.peek() != b')' {
                let name = c.name();
                assert_eq!(c.peek(), b' ');
                c.i += 1;
                let (raw, string) = c.value();
                items.push(Item { name, raw, string });
                if c.peek() == b' ' {
                    c.i += 1;
                }
            }
        }
        match out[c.i..].iter().position(|&b| b == b'\n') {
            Some(nl) => c.i += nl + 1,
            None => break,
        }
    }
    items
}

fn run_imapd(home: &Path, commands: &[String]) -> Vec<u8> {
    let mut input = b"a SELECT INBOX\r\n".to_vec();
    for (i, c) in commands.iter().enumerate() {
        input.extend_from_slice(format!("f{i} {c}\r\n").as_bytes());
    }
    input.extend_from_slice(b"z LOGOUT\r\n");
    let mut child = Command::new(IMAPD)
        .arg("Maildir")
        .current_dir(home)
        .env("TZ", TZ)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start imapd");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("imapd output");
    writer.join().expect("writer");
    out.stdout
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 600 {
        format!(
            "{}...({} bytes)",
            s.chars().take(600).collect::<String>(),
            b.len()
        )
    } else {
        s.into_owned()
    }
}

#[test]
fn corpus_matches_debian_imapd() {
    if !Path::new(IMAPD).exists() {
        println!(
            "SKIP corpus_matches_debian_imapd: {IMAPD} not installed (apt-get install courier-imap)"
        );
        return;
    }
    let home = PathBuf::from(format!("/var/tmp/rfc2045-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let mut failures = Vec::new();
    let mut compared = 0usize;
    for path in corpus() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let raw = std::fs::read(&path).expect("read corpus file");
        let canon = crlf::from_maildir(&raw);
        let msg = Message::parse(&canon);

        let md = home.join("Maildir");
        let _ = std::fs::remove_dir_all(&md);
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(d)).expect("mkdir");
        }
        let mfile = md.join("cur/1000000000.M1P1.test:2,S");
        std::fs::write(&mfile, &raw).expect("write message");
        let f = std::fs::File::options()
            .write(true)
            .open(&mfile)
            .expect("open");
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME))
            .expect("mtime");
        drop(f);

        let secs = sections(&msg);
        let mut commands =
            vec!["FETCH 1 (ENVELOPE BODY BODYSTRUCTURE RFC822.SIZE INTERNALDATE)".to_string()];
        for chunk in secs.chunks(6) {
            let items: Vec<String> = chunk
                .iter()
                .map(|s| format!("BODY.PEEK[{}]", spec(s)))
                .collect();
            commands.push(format!("FETCH 1 ({})", items.join(" ")));
        }
        let searches = searches();
        for (kind, needle) in &searches {
            let n = needle.as_bytes();
            if n.is_ascii() {
                commands.push(format!("SEARCH {kind} \"{needle}\""));
            } else {
                commands.push(format!(
                    "SEARCH CHARSET UTF-8 {kind} {{{}}}\r\n{needle}",
                    n.len()
                ));
            }
        }
        // SENTON / SENTBEFORE / SENTSINCE for the day the Date field names in its own zone.
        let sent = date_day(msg.header());
        let day = sent.unwrap_or(days_of(2000, 1, 1));
        for key in ["SENTON", "SENTBEFORE", "SENTSINCE"] {
            commands.push(format!("SEARCH {key} {}", search_date(day)));
        }
        let out = run_imapd(&home, &commands);
        let items = fetch_items(&out);

        // SEARCH: one "* SEARCH" line per query, listing 1 when the message matches.
        let hits: Vec<bool> = out
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"* SEARCH"))
            .map(|l| l.starts_with(b"* SEARCH 1"))
            .collect();
        let (hits, date_hits) = hits.split_at(hits.len().saturating_sub(3));
        for (key, theirs) in ["SENTON", "SENTBEFORE", "SENTSINCE"].iter().zip(date_hits) {
            compared += 1;
            // Courier's reading (not RFC 3501's): the day in the server's zone, of the Date
            // of any part. This checks parse_rfc2822 against Courier's date parser.
            let ours = courier_days(&msg).iter().any(|&d| match *key {
                "SENTON" => d == day,
                "SENTBEFORE" => d < day,
                _ => d >= day,
            });
            if ours != *theirs {
                failures.push(format!(
                    "{file} SEARCH {key} {}: imapd {theirs}, ours {ours}",
                    search_date(day)
                ));
            }
        }
        if hits.len() != searches.len() {
            failures.push(format!(
                "{file}: {} SEARCH answers for {} queries",
                hits.len(),
                searches.len()
            ));
        } else {
            for ((kind, needle), &theirs) in searches.iter().zip(hits) {
                compared += 1;
                let n = needle.as_bytes();
                let ours = match *kind {
                    "BODY" => search::body_contains(&msg, n),
                    "TEXT" => search::text_contains(&msg, n),
                    _ => {
                        let field = kind.trim_start_matches("HEADER ").as_bytes();
                        search::header_values_all(&msg, field)
                            .iter()
                            .any(|v| search::contains_ci(v, n))
                    }
                };
                if ours == theirs {
                    continue;
                }
                let name = format!("SEARCH {kind} {needle}");
                if let Some((_, _, why)) = KNOWN_DIFFERENCES
                    .iter()
                    .find(|(f, n, _)| (f.is_empty() || *f == file) && name.starts_with(n))
                {
                    println!("{file} {name}: known difference: {why}");
                    continue;
                }
                failures.push(format!("{file} {name}: imapd {theirs}, ours {ours}"));
            }
        }

        let mut expect: Vec<(String, Vec<u8>, bool)> = vec![
            ("ENVELOPE".into(), msg.envelope(), false),
            ("BODY".into(), msg.body_structure(false), false),
            ("BODYSTRUCTURE".into(), msg.body_structure(true), false),
            (
                "RFC822.SIZE".into(),
                crlf::from_maildir_len(&raw).to_string().into_bytes(),
                false,
            ),
            (
                "INTERNALDATE".into(),
                date::format_date_time(MTIME as i64, TZ_OFFSET).into_bytes(),
                true,
            ),
        ];
        for s in &secs {
            let v = msg.section(s).map(|c| c.into_owned()).unwrap_or_default();
            expect.push((format!("BODY[{}]", spec(s)), v, true));
        }
        if items.len() != expect.len() {
            failures.push(format!(
                "{file}: imapd sent {} items, expected {}:\n{}",
                items.len(),
                expect.len(),
                show(&out)
            ));
            continue;
        }
        for (got, (name, want, is_string)) in items.iter().zip(&expect) {
            compared += 1;
            // RFC 3501 group syntax (ours) shown the way Courier sends it.
            let want = &if *is_string {
                want.clone()
            } else {
                courier_groups(want)
            };
            let theirs = if *is_string {
                got.string.clone().unwrap_or_default()
            } else {
                got.raw.clone()
            };
            if theirs == *want {
                continue;
            }
            if let Some((_, _, why)) = KNOWN_DIFFERENCES
                .iter()
                .find(|(f, n, _)| (f.is_empty() || *f == file) && name.starts_with(n))
            {
                println!("{file} {name}: known difference: {why}");
                continue;
            }
            let at = theirs
                .iter()
                .zip(want.iter())
                .take_while(|(a, b)| a == b)
                .count();
            let ctx = at.saturating_sub(40);
            failures.push(format!(
                "{file} {name} (imapd calls it {}), first difference at byte {at}: imapd {:?} ours {:?}\n  imapd: {}\n  ours:  {}",
                got.name,
                String::from_utf8_lossy(&theirs[ctx..(at + 40).min(theirs.len())]),
                String::from_utf8_lossy(&want[ctx..(at + 40).min(want.len())]),
                show(&theirs),
                show(want)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&home);
    println!("compared {compared} items, {} differences", failures.len());
    assert!(compared > 1000, "too few items compared: {compared}");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
