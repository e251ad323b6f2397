//! A small blocking POP3 client (RFC 1939, STLS from RFC 2595).

use crate::Error;
use crate::imap::Target;
use crate::net::{Stream, TlsMode};
use std::io::{BufRead, BufReader, Write};

pub struct Pop3 {
    r: Option<BufReader<Stream>>,
    host: String,
}

/// What a multi-line response carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// Lines after the status line, before the terminating dot.
    pub lines: u64,
    /// Bytes of those lines (CR LF included, dot-stuffing as sent).
    pub bytes: u64,
}

impl Pop3 {
    /// Connects, reads the greeting, and performs STLS when asked.
    pub fn connect(t: &Target) -> Result<Pop3, Error> {
        let mut s = Stream::connect(&t.host, t.port, t.timeout)?;
        if t.tls == TlsMode::Implicit {
            s = s.into_tls(&t.host)?;
        }
        let mut c = Pop3 {
            r: Some(BufReader::with_capacity(64 << 10, s)),
            host: t.host.clone(),
        };
        let g = c.status_line()?;
        if !g.starts_with("+OK") {
            return Err(Error::protocol(format!(
                "{}:{}: greeting: {g}",
                t.host, t.port
            )));
        }
        if t.tls == TlsMode::StartTls {
            c.cmd("STLS")?;
            let r =
                c.r.take()
                    .ok_or_else(|| Error::protocol("connection lost during STLS"))?;
            if !r.buffer().is_empty() {
                return Err(Error::protocol("server sent data after +OK to STLS"));
            }
            let s = r.into_inner().into_tls(&c.host)?;
            c.r = Some(BufReader::with_capacity(64 << 10, s));
        }
        Ok(c)
    }

    fn reader(&mut self) -> Result<&mut BufReader<Stream>, Error> {
        self.r
            .as_mut()
            .ok_or_else(|| Error::protocol("connection lost during STLS"))
    }

    fn status_line(&mut self) -> Result<String, Error> {
        let mut buf = Vec::new();
        let n = self
            .reader()?
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io("POP3 read".to_string(), e))?;
        if n == 0 {
            return Err(Error::protocol("server closed the connection"));
        }
        Ok(String::from_utf8_lossy(&buf).trim_end().to_string())
    }

    fn send(&mut self, line: &str) -> Result<(), Error> {
        // One write per command: a command split over two segments costs a
        // round trip on some servers.
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        let w = self.reader()?.get_mut();
        w.write_all(&buf)
            .and_then(|()| w.flush())
            .map_err(|e| Error::io("POP3 write".to_string(), e))
    }

    /// A single-line command that must answer +OK; returns the line.
    pub fn cmd(&mut self, line: &str) -> Result<String, Error> {
        self.send(line)?;
        let s = self.status_line()?;
        if s.starts_with("+OK") {
            Ok(s)
        } else {
            let shown = if line.starts_with("PASS ") {
                "PASS"
            } else {
                line
            };
            Err(Error::protocol(format!("{shown}: {s}")))
        }
    }

    /// USER + PASS.
    pub fn login(&mut self, user: &str, pass: &str) -> Result<(), Error> {
        self.cmd(&format!("USER {user}"))?;
        self.cmd(&format!("PASS {pass}"))?;
        Ok(())
    }

    /// STAT: (messages, octets).
    pub fn stat(&mut self) -> Result<(u32, u64), Error> {
        let s = self.cmd("STAT")?;
        let mut w = s.split_whitespace().skip(1);
        let n = w.next().and_then(|x| x.parse().ok());
        let o = w.next().and_then(|x| x.parse().ok());
        match (n, o) {
            (Some(n), Some(o)) => Ok((n, o)),
            _ => Err(Error::protocol(format!("STAT: {s}"))),
        }
    }

    /// A multi-line command; each body line (without CR LF) goes to `on`.
    pub fn multi(&mut self, line: &str, on: &mut dyn FnMut(&[u8])) -> Result<Body, Error> {
        self.send(line)?;
        self.read_multi(line, on)
    }

    /// Sends several commands at once (RFC 2449 PIPELINING) without reading.
    pub fn send_batch(&mut self, lines: &[String]) -> Result<(), Error> {
        let mut buf = Vec::new();
        for l in lines {
            buf.extend_from_slice(l.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        let w = self.reader()?.get_mut();
        w.write_all(&buf)
            .and_then(|()| w.flush())
            .map_err(|e| Error::io("POP3 write".to_string(), e))
    }

    /// Reads the reply to an already sent multi-line command `line`.
    pub fn read_multi(&mut self, line: &str, on: &mut dyn FnMut(&[u8])) -> Result<Body, Error> {
        let s = self.status_line()?;
        if !s.starts_with("+OK") {
            return Err(Error::protocol(format!("{line}: {s}")));
        }
        let mut body = Body::default();
        let mut buf = Vec::with_capacity(1024);
        let r = self.reader()?;
        loop {
            buf.clear();
            let n = r
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io("POP3 read".to_string(), e))?;
            if n == 0 {
                return Err(Error::protocol(format!(
                    "{line}: closed before the final dot"
                )));
            }
            if buf == b".\r\n" || buf == b".\n" {
                return Ok(body);
            }
            body.lines += 1;
            body.bytes += n as u64;
            on(&buf);
        }
    }

    /// QUIT (answer ignored).
    pub fn quit(mut self) {
        let _ = self.cmd("QUIT");
    }
}
