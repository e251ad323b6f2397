//! Deterministic, realistic test messages (1-50 KiB, MIME, threads) for APPEND
//! and delivery, and direct maildir delivery (tmp/ then rename into new/).

use crate::Error;
use std::io::Write;
use std::path::Path;

/// SplitMix64: small, fast, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "meeting",
    "report",
    "budget",
    "schedule",
    "project",
    "review",
    "update",
    "quarter",
    "release",
    "server",
    "mailbox",
    "invoice",
    "travel",
    "agenda",
    "draft",
    "notes",
    "team",
    "customer",
    "feedback",
    "deadline",
    "migration",
    "backup",
    "network",
    "design",
    "launch",
    "the",
    "and",
    "for",
    "with",
    "this",
    "that",
    "from",
    "will",
    "have",
    "about",
    "please",
];
const NAMES: &[&str] = &[
    "Alice Martin",
    "Bob Schmidt",
    "Carol Dubois",
    "Dave Rossi",
    "Eve Novak",
    "Frank Berg",
    "Grace Lindqvist",
    "Heidi Jansen",
    "Ivan Petrov",
    "Judy Garcia",
];

fn words(rng: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(rng.pick(WORDS));
    }
    s
}

fn addr(name: &str) -> String {
    let local = name.to_ascii_lowercase().replace(' ', ".");
    format!("\"{name}\" <{local}@example.com>")
}

/// Text of about `size` bytes in CRLF lines of ~70 characters.
fn body_text(rng: &mut Rng, size: usize) -> String {
    let mut s = String::with_capacity(size + 80);
    while s.len() < size {
        let n = 8 + rng.below(6) as usize;
        let mut line = words(rng, n);
        line.truncate(76);
        s.push_str(&line);
        s.push_str("\r\n");
    }
    s
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 * 2 + 4);
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out.push_str("\r\n");
    out
}

/// Message number `i` of a stream seeded by `seed`: 1-50 KiB, CRLF line ends,
/// about 45 % MIME (alternative or with an attachment), a third replies with
/// In-Reply-To/References to an earlier message of the same stream.
pub fn message(seed: u64, i: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i));
    // Sizes skewed towards small messages, 1..50 KiB.
    let size = 1024 + (rng.below(49 * 1024) * rng.below(1000) / 1000) as usize;
    let from = rng.pick(NAMES);
    let to = rng.pick(NAMES);
    let n = 3 + rng.below(5) as usize;
    let subject = words(&mut rng, n);
    let day = 1 + rng.below(28);
    let hour = rng.below(24);
    let min = rng.below(60);
    let mut h = format!(
        "Return-Path: <{}>\r\nFrom: {}\r\nTo: {}\r\nDate: Mon, {day:02} Jun 2025 {hour:02}:{min:02}:00 +0000\r\nMessage-ID: <mb{seed}.{i}@bench.example.com>\r\n",
        from.to_ascii_lowercase().replace(' ', "."),
        addr(from),
        addr(to),
    );
    let reply = i > 0 && rng.below(3) == 0;
    if reply {
        let parent = rng.below(i);
        h.push_str(&format!(
            "Subject: Re: {subject}\r\nIn-Reply-To: <mb{seed}.{parent}@bench.example.com>\r\nReferences: <mb{seed}.{parent}@bench.example.com>\r\n"
        ));
    } else {
        h.push_str(&format!("Subject: {subject}\r\n"));
    }
    h.push_str("MIME-Version: 1.0\r\n");
    let kind = rng.below(100);
    // The alternative carries the text twice (plain and HTML).
    let text = body_text(
        &mut rng,
        if (55..80).contains(&kind) {
            size / 2
        } else {
            size
        },
    );
    let b = format!("=_mb{seed}_{i}");
    let msg = if kind < 55 {
        format!(
            "{h}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}"
        )
    } else if kind < 80 {
        let html: String = format!(
            "<html><body><p>{}</p></body></html>\r\n",
            text.replace("\r\n", "<br>\r\n")
        );
        format!(
            "{h}Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\nThis is a MIME message.\r\n\r\n--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--{b}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{b}--\r\n"
        )
    } else {
        let (head, tail) = text.split_at(text.len().min(600));
        let mut blob = Vec::with_capacity(tail.len());
        for _ in 0..tail.len() * 3 / 4 {
            blob.push(rng.below(256) as u8);
        }
        format!(
            "{h}Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\nThis is a MIME message.\r\n\r\n--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{head}\r\n--{b}\r\nContent-Type: application/octet-stream; name=\"data{i}.bin\"\r\nContent-Disposition: attachment; filename=\"data{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{b}--\r\n",
            base64(&blob)
        )
    };
    msg.into_bytes()
}

/// Writes `msg` into `maildir`/new the way an MDA does (tmp/ first, then
/// rename), owned by the owner of `maildir`/new, with LF line ends. Returns
/// the file name.
pub fn deliver(maildir: &Path, msg: &[u8], seq: u64) -> Result<String, Error> {
    use std::os::unix::fs::MetadataExt;
    let new = maildir.join("new");
    let meta = std::fs::metadata(&new).map_err(|e| Error::io(new.display().to_string(), e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "{}.M{}P{}Q{seq}.mailbench,S={}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        msg.iter().filter(|b| **b != b'\r').count()
    );
    let tmp = maildir.join("tmp").join(&name);
    let lf: Vec<u8> = msg.iter().copied().filter(|b| *b != b'\r').collect();
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(tmp.display().to_string(), e))?;
    f.write_all(&lf)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(tmp.display().to_string(), e))?;
    drop(f);
    // Root delivering for the account: hand the file to the maildir's owner.
    if std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid())).is_err() {
        // Not root: the file keeps our owner, which is fine for our own maildirs.
    }
    let dst = new.join(&name);
    std::fs::rename(&tmp, &dst).map_err(|e| Error::io(dst.display().to_string(), e))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_deterministic_and_sized_between_1_and_60_kib() {
        for i in 0..200 {
            let a = message(7, i);
            assert_eq!(a, message(7, i));
            assert!(a.len() >= 1024 && a.len() < 60 * 1024, "{i}: {}", a.len());
            assert!(a.starts_with(b"Return-Path: "));
            // CRLF only.
            assert!(!a.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "{i}");
        }
        assert_ne!(message(7, 1), message(8, 1));
    }

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        assert_eq!(base64(b"foobar"), "Zm9vYmFy\r\n");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=\r\n");
        assert_eq!(base64(b"foob"), "Zm9vYg==\r\n");
    }
}
