//! Sending a message the POP3 way (RFC 1939 §3): every LF becomes CRLF, a line
//! starting with `.` gets another `.`, a last line without LF gets a CRLF, and
//! `.` CRLF ends the response. TOP stops after the headers, the blank line and
//! the requested number of body lines.
//!
//! Works on a sequence of parts (literal bytes and files) so that the RFC 6856
//! wrapper and the original message stream as one text. Files are read in large
//! chunks and every write goes to the caller's buffered writer: no syscall per
//! line.

use std::io::{self, Read, Write};

/// How much of a file is read at once.
pub const CHUNK: usize = 64 * 1024;

/// One piece of the text to send.
pub enum Part<'a> {
    /// Literal bytes (the wrapper's text).
    Bytes(&'a [u8]),
    /// A message file, read to its end.
    File(&'a mut dyn Read),
}

/// A read or write failure while sending, told apart because a read failure still
/// lets the session go on while a write failure means the client is gone.
#[derive(Debug)]
pub enum SendError {
    /// Reading the message file failed.
    Read(io::Error),
    /// Writing to the client failed.
    Write(io::Error),
}

/// The line transformer's state across parts and chunks.
struct Filter {
    at_line_start: bool,
    in_headers: bool,
    /// Body lines still to send; `None` for the whole message.
    lines_left: Option<u64>,
    done: bool,
    /// Whether anything was sent and the last byte sent was not LF.
    open_line: bool,
    /// Message bytes consumed (LF counted once, no dot-stuffing): Courier's
    /// `top=`/`retr=` byte counts.
    raw: u64,
}

impl Filter {
    fn new(top_lines: Option<u64>) -> Filter {
        Filter {
            at_line_start: true,
            in_headers: true,
            lines_left: top_lines,
            done: false,
            open_line: false,
            raw: 0,
        }
    }

    /// Feeds `data`; stops early (sets `done`) when TOP has sent enough.
    fn feed(&mut self, mut data: &[u8], out: &mut dyn Write) -> io::Result<()> {
        while !data.is_empty() && !self.done {
            let nl = data.iter().position(|&b| b == b'\n');
            let seg_end = nl.unwrap_or(data.len());
            let seg = &data[..seg_end];
            if self.at_line_start && seg.first() == Some(&b'.') {
                out.write_all(b".")?;
            }
            out.write_all(seg)?;
            self.raw += seg.len() as u64;
            match nl {
                Some(_) => {
                    out.write_all(b"\r\n")?;
                    self.raw += 1;
                    // Only an empty line ends the headers: Courier does not take
                    // a stored CR LF line for one.
                    let blank = self.at_line_start && seg.is_empty();
                    self.at_line_start = true;
                    self.open_line = false;
                    if self.in_headers {
                        if blank {
                            self.in_headers = false;
                            if self.lines_left == Some(0) {
                                self.done = true;
                            }
                        }
                    } else if let Some(n) = self.lines_left.as_mut() {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.done = true;
                        }
                    }
                    data = &data[seg_end + 1..];
                }
                None => {
                    if !seg.is_empty() {
                        self.at_line_start = false;
                        self.open_line = true;
                    }
                    data = &[];
                }
            }
        }
        Ok(())
    }
}

/// Sends `parts` to `out` as a POP3 multi-line body including the final `.` line;
/// `top_lines` limits the body as TOP does. Returns the raw bytes sent (Courier's
/// log count). Does not flush.
pub fn send(
    parts: &mut [Part<'_>],
    top_lines: Option<u64>,
    out: &mut dyn Write,
) -> Result<u64, SendError> {
    let mut f = Filter::new(top_lines);
    let mut buf = vec![0u8; CHUNK];
    for part in parts.iter_mut() {
        if f.done {
            break;
        }
        match part {
            Part::Bytes(b) => f.feed(b, out).map_err(SendError::Write)?,
            Part::File(r) => loop {
                if f.done {
                    break;
                }
                let n = match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(SendError::Read(e)),
                };
                f.feed(&buf[..n], out).map_err(SendError::Write)?;
            },
        }
    }
    let tail: &[u8] = if f.open_line { b"\r\n.\r\n" } else { b".\r\n" };
    out.write_all(tail).map_err(SendError::Write)?;
    Ok(f.raw)
}

/// A message's POP3 size and whether its headers hold 8-bit bytes (RFC 6856):
/// bytes plus one per LF, as Courier counts.
pub fn measure(r: &mut dyn Read) -> io::Result<(u64, bool)> {
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    let mut in_headers = true;
    let mut at_line_start = true;
    let mut utf8 = false;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        size += n as u64;
        for &b in chunk {
            if b == b'\n' {
                size += 1;
                if in_headers && at_line_start {
                    in_headers = false;
                }
                at_line_start = true;
            } else {
                if in_headers && b >= 0x80 {
                    utf8 = true;
                }
                at_line_start = false;
            }
        }
    }
    Ok((size, utf8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(msg: &[u8], top: Option<u64>) -> (String, u64) {
        let mut out = Vec::new();
        let mut r: &[u8] = msg;
        let raw = send(&mut [Part::File(&mut r)], top, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), raw)
    }

    #[test]
    fn retr_converts_line_ends_and_stuffs_dots() {
        let (s, raw) = run(b"Subject: a\n\n.dot\nx\n..two\n", None);
        assert_eq!(s, "Subject: a\r\n\r\n..dot\r\nx\r\n...two\r\n.\r\n");
        assert_eq!(raw, 25);
    }

    #[test]
    fn missing_final_newline_gets_one() {
        assert_eq!(run(b"S: b\n\nworld", None).0, "S: b\r\n\r\nworld\r\n.\r\n");
        assert_eq!(run(b"", None).0, ".\r\n");
    }

    #[test]
    fn top_sends_headers_blank_and_n_lines() {
        let m = b"A: 1\nB: 2\n\nl1\n.l2\nl3\n";
        assert_eq!(run(m, Some(0)), ("A: 1\r\nB: 2\r\n\r\n.\r\n".into(), 11));
        assert_eq!(run(m, Some(2)).0, "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n");
        assert_eq!(run(m, Some(99)).0, run(m, None).0);
        // No blank line at all: everything is headers.
        assert_eq!(run(b"A: 1\nB", Some(0)).0, "A: 1\r\nB\r\n.\r\n");
    }

    #[test]
    fn lines_split_across_chunks_and_parts() {
        let mut out = Vec::new();
        let mut a: &[u8] = b"x\n.";
        let mut b: &[u8] = b"y\n";
        send(
            &mut [
                Part::Bytes(b"H: 1\n\n."),
                Part::File(&mut a),
                Part::File(&mut b),
            ],
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"H: 1\r\n\r\n..x\r\n..y\r\n.\r\n");
    }

    #[test]
    fn measure_counts_lf_twice_and_finds_8bit_headers() {
        let mut r: &[u8] = b"Subject: caf\xc3\xa9\n\nbody\n";
        assert_eq!(measure(&mut r).unwrap(), (24, true));
        let mut r: &[u8] = b"Subject: a\n\nbod\xc3\xa9\n";
        assert_eq!(measure(&mut r).unwrap(), (21, false));
    }
}
