//! Turning a byte stream into syslog messages: line splitting with a length bound,
//! and Courier's severity prefixes.

/// syslog severities (RFC 5424 numbers).
pub mod severity {
    /// LOG_ALERT
    pub const ALERT: u8 = 1;
    /// LOG_CRIT
    pub const CRIT: u8 = 2;
    /// LOG_ERR
    pub const ERR: u8 = 3;
    /// LOG_WARNING
    pub const WARNING: u8 = 4;
    /// LOG_INFO
    pub const INFO: u8 = 6;
    /// LOG_DEBUG
    pub const DEBUG: u8 = 7;
}

/// Longest message text sent in one datagram. Courier cut lines at 511 bytes and
/// dropped the rest; we keep up to [`MAX_PIECES`] pieces of this size.
pub const MAX_PIECE: usize = 1000;
/// Pieces kept of one over-long line; the rest of that line is dropped (counted).
pub const MAX_PIECES: usize = 8;

/// Courier's prefix table: the priority, and the text with the prefix and leading
/// spaces removed. Lines without a known prefix are LOG_INFO, leading spaces removed.
pub fn classify(line: &[u8]) -> (u8, &[u8]) {
    const PREFIXES: &[(&[u8], u8)] = &[
        (b"ERR:", severity::ERR),
        (b"WARN:", severity::WARNING),
        (b"ALERT:", severity::ALERT),
        (b"CRIT:", severity::CRIT),
        (b"DEBUG:", severity::DEBUG),
        (b"INFO:", severity::INFO),
    ];
    let (pri, rest) = PREFIXES
        .iter()
        .find_map(|(p, pri)| line.strip_prefix(*p).map(|rest| (*pri, rest)))
        .unwrap_or((severity::INFO, line));
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    (pri, &rest[start..])
}

/// One message to send.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    /// syslog severity.
    pub severity: u8,
    /// Text (no newline, at most [`MAX_PIECE`] bytes).
    pub text: Vec<u8>,
}

/// Splits input into lines; a line longer than [`MAX_PIECE`] becomes several
/// messages with the first piece's priority. Memory use is bounded by one piece.
#[derive(Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// Pieces already emitted for the current line.
    pieces: usize,
    /// Priority of the current line (set by its first piece).
    severity: Option<u8>,
    /// Bytes dropped because a line exceeded [`MAX_PIECES`] pieces.
    pub dropped_bytes: u64,
}

impl Splitter {
    /// Feeds bytes; calls `out` for each complete message.
    pub fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(Message)) {
        while !data.is_empty() {
            let nl = data.iter().position(|&b| b == b'\n');
            let take = nl.unwrap_or(data.len());
            let (chunk, rest) = data.split_at(take);
            self.push(chunk, out);
            if nl.is_some() {
                self.end_line(out);
                data = &rest[1..];
            } else {
                data = rest;
            }
        }
    }

    /// Emits a final line that had no newline (end of input).
    pub fn finish(&mut self, out: &mut impl FnMut(Message)) {
        if !self.buf.is_empty() {
            self.end_line(out);
        }
    }

    fn push(&mut self, mut chunk: &[u8], out: &mut impl FnMut(Message)) {
        while !chunk.is_empty() {
            if self.pieces >= MAX_PIECES {
                self.dropped_bytes += chunk.len() as u64;
                return;
            }
            let room = MAX_PIECE - self.buf.len();
            let n = room.min(chunk.len());
            self.buf.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if self.buf.len() == MAX_PIECE {
                self.emit(true, out);
            }
        }
    }

    fn emit(&mut self, full: bool, out: &mut impl FnMut(Message)) {
        let mut piece = std::mem::take(&mut self.buf);
        if full {
            // Do not split a UTF-8 character: carry an incomplete tail over.
            let cut = piece.len() - incomplete_utf8_tail(&piece);
            if cut > 0 && cut < piece.len() {
                self.buf = piece.split_off(cut);
            }
        }
        let (severity, text) = match self.severity {
            Some(s) => (s, piece.as_slice()),
            None => {
                let (s, t) = classify(&piece);
                self.severity = Some(s);
                (s, t)
            }
        };
        out(Message {
            severity,
            text: text.to_vec(),
        });
        self.pieces += 1;
    }

    fn end_line(&mut self, out: &mut impl FnMut(Message)) {
        if self.pieces < MAX_PIECES && (!self.buf.is_empty() || self.pieces == 0) {
            self.emit(false, out);
        }
        self.buf.clear();
        self.pieces = 0;
        self.severity = None;
    }
}

/// Length of an incomplete UTF-8 sequence at the end of `b` (0 if none).
fn incomplete_utf8_tail(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let byte = b[b.len() - back];
        if byte & 0xc0 == 0x80 {
            continue;
        }
        let need = match byte {
            0xf0.. => 4,
            0xe0.. => 3,
            0xc0.. => 2,
            _ => 1,
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Observed from Debian's courierlogger (priority number, text sent).
    const PREFIX_CASES: &[(&str, u8, &str)] = &[
        ("ERR: bad thing", severity::ERR, "bad thing"),
        ("WARN:   spaced", severity::WARNING, "spaced"),
        ("plain line", severity::INFO, "plain line"),
        ("INFO:info", severity::INFO, "info"),
        ("DEBUG: dbg", severity::DEBUG, "dbg"),
        ("CRIT: c", severity::CRIT, "c"),
        ("ALERT: a", severity::ALERT, "a"),
        ("err: lower", severity::INFO, "err: lower"),
        ("  lead", severity::INFO, "lead"),
        ("ERR:", severity::ERR, ""),
    ];

    #[test]
    fn prefix_to_priority_table() {
        for (line, pri, text) in PREFIX_CASES {
            let (p, t) = classify(line.as_bytes());
            assert_eq!((p, t), (*pri, text.as_bytes()), "{line}");
        }
    }

    fn run(input: &[&[u8]]) -> (Vec<Message>, u64) {
        let mut s = Splitter::default();
        let mut got = Vec::new();
        for chunk in input {
            s.feed(chunk, &mut |m| got.push(m));
        }
        s.finish(&mut |m| got.push(m));
        (got, s.dropped_bytes)
    }

    #[test]
    fn lines_across_reads_and_empty_lines() {
        let (got, _) = run(&[b"ERR: a", b"bc\n\nWARN: x\nlast"]);
        let texts: Vec<(u8, &[u8])> = got
            .iter()
            .map(|m| (m.severity, m.text.as_slice()))
            .collect();
        assert_eq!(
            texts,
            [
                (severity::ERR, &b"abc"[..]),
                (severity::INFO, b""),
                (severity::WARNING, b"x"),
                (severity::INFO, b"last")
            ]
        );
    }

    #[test]
    fn long_lines_are_split_then_cut() {
        let mut line = b"ERR: ".to_vec();
        line.extend(std::iter::repeat_n(b'x', 2500));
        line.push(b'\n');
        let (got, dropped) = run(&[&line]);
        let lens: Vec<usize> = got.iter().map(|m| m.text.len()).collect();
        assert_eq!(lens, [995, 1000, 505]);
        assert!(got.iter().all(|m| m.severity == severity::ERR));
        assert_eq!(dropped, 0);

        let huge = vec![b'y'; MAX_PIECE * (MAX_PIECES + 3)];
        let (got, dropped) = run(&[&huge, b"\nnext\n"]);
        assert_eq!(got.len(), MAX_PIECES + 1);
        assert_eq!(got.last().unwrap().text, b"next");
        assert_eq!(dropped, (MAX_PIECE * 3) as u64);
    }

    #[test]
    fn split_keeps_utf8_characters_whole() {
        let mut line = vec![b'a'; MAX_PIECE - 1];
        line.extend("é".as_bytes()); // straddles the piece boundary
        line.extend(b"z\n");
        let (got, _) = run(&[&line]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].text.len(), MAX_PIECE - 1);
        assert_eq!(got[1].text, "éz".as_bytes());
    }
}
