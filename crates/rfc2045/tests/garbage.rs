//! Random and mutated input never panics and output stays bounded: every corpus message
//! is mutated a few hundred times by a deterministic xorshift generator, and hand-made
//! pathological messages (deep nesting, many parts, long lines) are run through every
//! public function.

use std::path::Path;

use courier_rfc2045::{Message, Section, SectionText, crlf, date, envelope_from_header, search};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SNIPPETS: &[&[u8]] = &[
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"--",
    b"--XX\n",
    b"--XX--\n",
    b"MIME-Version: 1.0\n",
    b"Content-Type: multipart/mixed; boundary=XX\n",
    b"Content-Type: multipart/digest; boundary=\"\"\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Type: text/plain; charset=\"a\\\"b\n",
    b"Content-Disposition: attachment; filename=(x\n",
    b"From: \"a\\",
    b"To: g: a@b, <c@d>;, (",
    b" \t",
    b"=?utf-8?q?=C3?=",
    b"\xff\xfe\x00",
    b"Subject: ",
    b"(((((",
    b"\"",
    b"<",
];

fn mutate(rng: &mut XorShift, src: &[u8]) -> Vec<u8> {
    let mut v = src.to_vec();
    for _ in 0..1 + rng.below(6) {
        let pos = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 => {
                let s = SNIPPETS[rng.below(SNIPPETS.len())];
                v.splice(pos..pos, s.iter().copied());
            }
            2 => v.truncate(pos),
            3 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(200)).min(v.len());
                let chunk = v[a..b].to_vec();
                v.splice(pos..pos, chunk);
            }
            4 if pos < v.len() => {
                let end = (pos + rng.below(50)).min(v.len());
                v.drain(pos..end);
            }
            _ => v.insert(pos.min(v.len()), b'\n'),
        }
    }
    v
}

/// Runs every public function on `raw` and checks the outputs' sizes.
fn exercise(raw: &[u8]) -> usize {
    let canon = crlf::from_maildir(raw);
    assert_eq!(canon.len() as u64, crlf::from_maildir_len(raw));
    assert_eq!(crlf::canonical(raw).len() as u64, crlf::canonical_len(raw));
    let _ = crlf::header_end(raw);
    let msg = Message::parse(&canon);
    let limit = 16 * canon.len() + 4096;
    let env = msg.envelope();
    assert!(
        env.len() <= limit,
        "envelope of {} bytes for {} bytes",
        env.len(),
        canon.len()
    );
    assert_eq!(env, envelope_from_header(msg.header()));
    for ext in [false, true] {
        let b = msg.body_structure(ext);
        assert!(b.len() <= 64 * canon.len() + 4096, "structure too long");
    }
    let mut paths = msg.part_paths();
    paths.truncate(50);
    paths.push(vec![]);
    paths.push(vec![99]);
    paths.push(vec![1, 1, 1]);
    let mut n = 0;
    for p in paths {
        for text in [
            None,
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::Mime),
            Some(SectionText::HeaderFields(vec![
                b"subject".to_vec(),
                b"FROM".to_vec(),
            ])),
            Some(SectionText::HeaderFieldsNot(vec![b"to".to_vec()])),
        ] {
            if let Some(s) = msg.section(&Section {
                part: p.clone(),
                text,
            }) {
                assert!(s.len() <= canon.len() + 2);
                n += 1;
            }
        }
    }
    let _ = search::header_values(msg.header(), b"subject");
    let _ = search::body_contains(&msg, b"hello");
    let _ = search::text_contains(&msg, "caf\u{e9}".as_bytes());
    let _ = date::parse_rfc2822(raw);
    let _ = date::parse_date_time(raw);
    let _ = date::parse_search_date(raw);
    n
}

#[test]
fn mutated_corpus_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0;
    for f in files {
        let src = std::fs::read(&f).expect("read");
        // Long messages get fewer rounds to keep the test fast.
        // RFC2045_FUZZ_ROUNDS raises the count for a longer local run.
        let scale: usize = std::env::var("RFC2045_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let rounds = scale * if src.len() > 10_000 { 20 } else { 150 };
        for _ in 0..rounds {
            exercise(&mutate(&mut rng, &src));
            runs += 1;
        }
    }
    for _ in 0..500 {
        let len = rng.below(600);
        let v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&v);
        runs += 1;
    }
    println!("{runs} mutated or random messages");
    assert!(runs > 5000);
}

#[test]
fn pathological_messages_are_bounded() {
    // 1,000 levels of nesting: parsed to MAX_DEPTH, the rest opaque.
    let mut deep = b"MIME-Version: 1.0\n".to_vec();
    for i in 0..1000 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"=_{i}_=\"\n\n--=_{i}_=\n")
                .as_bytes(),
        );
    }
    let canon = crlf::from_maildir(&deep);
    let m = Message::parse(&canon);
    assert!(m.part_paths().len() <= courier_rfc2045::MAX_DEPTH + 1);
    exercise(&deep);

    // Nested message/rfc822 all the way down.
    let mut msgs = Vec::new();
    for _ in 0..1000 {
        msgs.extend_from_slice(b"MIME-Version: 1.0\nContent-Type: message/rfc822\n\n");
    }
    exercise(&msgs);

    // 30,000 parts: only MAX_PARTS are parsed.
    let mut many = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n".to_vec();
    for _ in 0..30_000 {
        many.extend_from_slice(b"--b\n\nx\n");
    }
    many.extend_from_slice(b"--b--\n");
    let canon = crlf::from_maildir(&many);
    let m = Message::parse(&canon);
    let paths = m.part_paths();
    assert!(
        paths.len() <= courier_rfc2045::MAX_PARTS,
        "{} parts",
        paths.len()
    );
    assert!(paths.len() > 9_000);

    // One 4 MB line, and a header of 100,000 short fields.
    let mut long = b"Subject: ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 4 << 20));
    long.extend_from_slice(b"\n\nbody\n");
    exercise(&long);
    let mut fields = Vec::new();
    for i in 0..100_000 {
        fields.extend_from_slice(format!("To: a{i}@b\n").as_bytes());
    }
    let env = envelope_from_header(&crlf::from_maildir(&fields));
    assert!(env.starts_with(b"(NIL NIL NIL NIL NIL ((NIL NIL \"a0\" \"b\")"));
}
