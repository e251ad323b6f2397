//! Throughput of the FETCH paths on big messages: `cargo bench -p courier-rfc2045`.
//! Prints MB/s; asserts nothing about time (a benchmark, not a test).

use std::hint::black_box;
use std::time::{Duration, Instant};

use courier_rfc2045::{Message, Section, SectionText, crlf, envelope_from_header, search};

fn message(parts: usize, part_len: usize) -> Vec<u8> {
    let mut m = b"MIME-Version: 1.0\nFrom: A <a@example.com>\nTo: b@example.com\nSubject: bench\nContent-Type: multipart/mixed; boundary=\"=_b\"\n\n".to_vec();
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\n";
    for i in 0..parts {
        m.extend_from_slice(b"--=_b\n");
        if i % 3 == 2 {
            m.extend_from_slice(
                b"Content-Type: message/rfc822\n\nFrom: c@example.com\nSubject: inner\n\n",
            );
        } else {
            m.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\n\n");
        }
        let mut n = 0;
        while n < part_len {
            m.extend_from_slice(line);
            n += line.len();
        }
    }
    m.extend_from_slice(b"--=_b--\n");
    m
}

fn bench(name: &str, bytes: usize, mut f: impl FnMut()) {
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < Duration::from_millis(700) {
        f();
        runs += 1;
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(runs);
    println!(
        "{name:<40} {:>9.1} MB/s  ({:.3} ms/run)",
        bytes as f64 / secs / 1e6,
        secs * 1e3
    );
}

fn main() {
    for (parts, len) in [(3, 4_000_000), (3_000, 3_000)] {
        let raw = message(parts, len);
        let canon = crlf::from_maildir(&raw).into_owned();
        let n = canon.len();
        println!("-- {parts} parts, {:.1} MB", n as f64 / 1e6);
        bench("crlf::from_maildir", raw.len(), || {
            black_box(crlf::from_maildir(black_box(&raw)));
        });
        bench("Message::parse", n, || {
            black_box(Message::parse(black_box(&canon)));
        });
        bench("parse + BODYSTRUCTURE", n, || {
            black_box(Message::parse(&canon).body_structure(true));
        });
        let end = crlf::header_end(&canon).unwrap_or(canon.len());
        bench("envelope_from_header (header only)", end, || {
            black_box(envelope_from_header(&canon[..end]));
        });
        let sec = Section {
            part: vec![2],
            text: Some(SectionText::Mime),
        };
        bench("parse + BODY[2.MIME]", n, || {
            black_box(Message::parse(&canon).section(&sec));
        });
        bench("parse + SEARCH BODY (miss)", n, || {
            black_box(search::body_contains(&Message::parse(&canon), b"zebra"));
        });
    }
}
