//! A small, strict DNS stub resolver for couriertcpd's DNS access lists: A and TXT
//! queries over UDP (RFC 1035) to the nameservers of `/etc/resolv.conf`.
//!
//! - [`Name`]: a validated domain name (labels of 1..=63 bytes, at most 255 bytes in
//!   wire form), compared without regard to ASCII case.
//! - [`build_query`] / [`parse_reply`]: the packets, sans I/O. The parser trusts
//!   nothing: every length is checked against the end of the message, compression
//!   pointers must point strictly before the label sequence they appear in (so they
//!   cannot loop), counts are never used to size an allocation, and at most
//!   [`MAX_RECORDS`] answer records are looked at.
//! - [`Resolver`]: the I/O. One fresh UDP socket per attempt (random source port,
//!   connected to the server, so only its datagrams and ICMP errors reach us), a
//!   random 16-bit query id, answers checked against the id and the question;
//!   datagrams that do not answer our question are ignored, not believed. Each
//!   server is tried in turn, [`Resolver::rounds`] times, each attempt waiting at
//!   most [`Resolver::attempt_timeout`], and never past the caller's deadline.
//!
//! Does not: recurse, cache, use TCP (a truncated reply is an error), EDNS,
//! DNSSEC, `search`/`domain` suffixes (list names are absolute), or resolv.conf
//! `options` (timeouts are couriertcpd's own, short ones).

use std::fmt;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

/// Query type A (RFC 1035 §3.2.2).
pub const TYPE_A: u16 = 1;
/// Query type CNAME.
pub const TYPE_CNAME: u16 = 5;
/// Query type TXT.
pub const TYPE_TXT: u16 = 16;
const CLASS_IN: u16 = 1;

/// The most answer records a reply may carry before it is refused as garbage.
pub const MAX_RECORDS: usize = 256;
/// The longest CNAME chain followed inside one reply.
const MAX_CNAMES: usize = 8;
/// The most compression pointers followed in one name.
const MAX_POINTERS: usize = 32;
/// The largest datagram read (replies over 512 bytes are accepted, not asked for).
const MAX_DATAGRAM: usize = 4096;
/// resolv.conf's MAXNS: later `nameserver` lines are ignored, as by the C library.
pub const MAX_NAMESERVERS: usize = 3;

/// A malformed name or packet: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn bad(text: impl Into<String>) -> Malformed {
    Malformed(text.into())
}

/// A domain name in wire form, lower-cased (ASCII), without the root label's
/// terminating zero.
#[derive(Clone, PartialEq, Eq)]
pub struct Name(Vec<u8>);

impl Name {
    /// Parses dotted text; one trailing dot is allowed. Every label must be 1..=63
    /// bytes and the whole name at most 255 bytes on the wire.
    pub fn parse(text: &str) -> Result<Name, Malformed> {
        let body = text.strip_suffix('.').unwrap_or(text);
        if body.is_empty() {
            return Err(bad("empty domain name"));
        }
        let mut wire = Vec::with_capacity(body.len() + 1);
        for label in body.split('.') {
            if label.is_empty() {
                return Err(bad(format!("empty label in domain name {text:?}")));
            }
            if label.len() > 63 {
                return Err(bad(format!("label longer than 63 bytes in {text:?}")));
            }
            if label.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(bad(format!(
                    "space or control character in domain name {text:?}"
                )));
            }
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
        if wire.len() + 1 > 255 {
            return Err(bad(format!("domain name longer than 255 bytes: {text:?}")));
        }
        Ok(Name(wire))
    }

    /// The wire form, root label's zero included.
    fn wire(&self) -> Vec<u8> {
        let mut w = self.0.clone();
        w.push(0);
        w
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        let mut first = true;
        while let Some(&len) = self.0.get(i) {
            let label = self.0.get(i + 1..i + 1 + len as usize).unwrap_or_default();
            if !first {
                f.write_str(".")?;
            }
            first = false;
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
            i += 1 + len as usize;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// The query packet: header (id, RD set, one question), question `name`, `qtype`,
/// class IN.
pub fn build_query(id: u16, name: &Name, qtype: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + name.0.len() + 5);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    p.extend_from_slice(&1u16.to_be_bytes());
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&name.wire());
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&CLASS_IN.to_be_bytes());
    p
}

/// One record of the answer, of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    /// An A record.
    A(Ipv4Addr),
    /// A TXT record: its character-strings, concatenated.
    Txt(Vec<u8>),
}

/// What the server said about the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Records of the type asked for (following CNAMEs), in reply order.
    Records(Vec<Rdata>),
    /// The name exists, without records of that type (NOERROR, no data).
    NoData,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
}

/// Why a datagram is not the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// Not a reply to this query (other id or question): ignored, keep waiting.
    NotOurs,
    /// The reply had the TC bit: the answer did not fit in a datagram.
    Truncated,
    /// The server answered with an error code (SERVFAIL = 2, REFUSED = 5, ...).
    Rcode(u8),
    /// Our reply, but broken.
    Malformed(Malformed),
}

impl From<Malformed> for ReplyError {
    fn from(m: Malformed) -> ReplyError {
        ReplyError::Malformed(m)
    }
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, Malformed> {
    match msg.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(bad(format!(
            "message ends at byte {} inside a field",
            msg.len()
        ))),
    }
}

/// Reads the (possibly compressed) name at `start`: its lower-cased wire form
/// (without the final zero) and the offset just after it in the message.
fn read_name(msg: &[u8], start: usize) -> Result<(Vec<u8>, usize), Malformed> {
    let mut out = Vec::new();
    let mut pos = start;
    // Where the label sequence being read began: a pointer must go before it.
    let mut segment = start;
    let mut end = None;
    let mut pointers = 0;
    loop {
        let len = *msg
            .get(pos)
            .ok_or_else(|| bad(format!("name at byte {start} runs past the end")))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                return Ok((out, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + len as usize)
                    .ok_or_else(|| bad(format!("label at byte {pos} runs past the end")))?;
                out.push(len);
                out.extend(label.iter().map(|b| b.to_ascii_lowercase()));
                if out.len() + 1 > 255 {
                    return Err(bad(format!("name at byte {start} longer than 255 bytes")));
                }
                pos += 1 + len as usize;
            }
            0xC0 => {
                let low = *msg
                    .get(pos + 1)
                    .ok_or_else(|| bad(format!("pointer at byte {pos} runs past the end")))?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= segment {
                    return Err(bad(format!(
                        "compression pointer at byte {pos} does not point backwards"
                    )));
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(bad(format!(
                        "too many compression pointers at byte {start}"
                    )));
                }
                end.get_or_insert(pos + 2);
                segment = target;
                pos = target;
            }
            _ => return Err(bad(format!("unknown label type at byte {pos}"))),
        }
    }
}

fn read_txt(rdata: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut text = Vec::new();
    let mut i = 0;
    while i < rdata.len() {
        let len = rdata[i] as usize;
        let s = rdata
            .get(i + 1..i + 1 + len)
            .ok_or_else(|| bad("TXT character-string runs past its record"))?;
        text.extend_from_slice(s);
        i += 1 + len;
    }
    Ok(text)
}

/// Checks a datagram against the query (`id`, `name`, `qtype`) and extracts the
/// records of type `qtype` owned by `name` or by a CNAME chain starting there.
pub fn parse_reply(msg: &[u8], id: u16, name: &Name, qtype: u16) -> Result<Answer, ReplyError> {
    if msg.len() < 12 {
        return Err(ReplyError::NotOurs);
    }
    let flags = u16_at(msg, 2)?;
    if u16_at(msg, 0)? != id || flags & 0x8000 == 0 {
        return Err(ReplyError::NotOurs);
    }
    let rcode = (flags & 0x000F) as u8;
    let qdcount = u16_at(msg, 4)?;
    let ancount = u16_at(msg, 6)?;
    if qdcount != 1 {
        // Servers may leave the question out of an error reply.
        if qdcount == 0 && rcode != 0 && rcode != 3 {
            return Err(ReplyError::Rcode(rcode));
        }
        return Err(bad(format!("{qdcount} questions in the reply")).into());
    }
    let (qname, mut pos) = read_name(msg, 12)?;
    let qt = u16_at(msg, pos)?;
    let qc = u16_at(msg, pos + 2)?;
    pos += 4;
    if qname != name.0 || qt != qtype || qc != CLASS_IN {
        return Err(ReplyError::NotOurs);
    }
    if (flags >> 11) & 0x0F != 0 {
        return Err(bad("reply with a non-zero opcode").into());
    }
    if flags & 0x0200 != 0 {
        return Err(ReplyError::Truncated);
    }
    match rcode {
        0 => {}
        3 => return Ok(Answer::NxDomain),
        other => return Err(ReplyError::Rcode(other)),
    }
    if usize::from(ancount) > MAX_RECORDS {
        return Err(bad(format!("{ancount} answer records")).into());
    }
    // (owner, type, rdata offset, rdata length) of each answer record.
    let mut rrs = Vec::new();
    for _ in 0..ancount {
        let (owner, after) = read_name(msg, pos)?;
        let rtype = u16_at(msg, after)?;
        let class = u16_at(msg, after + 2)?;
        let rdlen = usize::from(u16_at(msg, after + 8)?);
        let rdata_at = after + 10;
        if msg.len() < rdata_at + rdlen {
            return Err(bad(format!("record data at byte {rdata_at} runs past the end")).into());
        }
        pos = rdata_at + rdlen;
        if class == CLASS_IN {
            rrs.push((owner, rtype, rdata_at, rdlen));
        }
    }
    let mut target = name.0.clone();
    let mut records = Vec::new();
    for _ in 0..=MAX_CNAMES {
        for (owner, rtype, at, len) in &rrs {
            if *owner != target || *rtype != qtype {
                continue;
            }
            let rdata = &msg[*at..*at + *len];
            records.push(match qtype {
                TYPE_A => {
                    let b: [u8; 4] = rdata
                        .try_into()
                        .map_err(|_| bad(format!("A record of {len} bytes")))?;
                    Rdata::A(Ipv4Addr::from(b))
                }
                _ => Rdata::Txt(read_txt(rdata)?),
            });
        }
        if !records.is_empty() {
            return Ok(Answer::Records(records));
        }
        let Some((_, _, at, len)) = rrs
            .iter()
            .find(|(owner, rtype, _, _)| *owner == target && *rtype == TYPE_CNAME)
        else {
            return Ok(Answer::NoData);
        };
        let (alias, alias_end) = read_name(msg, *at)?;
        if alias_end > at + len {
            return Err(bad("CNAME target runs past its record").into());
        }
        target = alias;
    }
    Err(bad("CNAME chain too long").into())
}

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No reply within the attempt's time.
    Timeout,
    /// The reply had the TC bit.
    Truncated,
    /// The server's error code.
    Rcode(u8),
    /// A broken reply.
    Malformed(Malformed),
    /// The socket said no (e.g. ECONNREFUSED: nothing listens there).
    Io(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer"),
            Failure::Truncated => f.write_str("truncated answer"),
            Failure::Rcode(2) => f.write_str("SERVFAIL"),
            Failure::Rcode(5) => f.write_str("REFUSED"),
            Failure::Rcode(n) => write!(f, "error code {n}"),
            Failure::Malformed(m) => write!(f, "malformed answer: {m}"),
            Failure::Io(e) => f.write_str(e),
        }
    }
}

/// A lookup that got no usable answer from any nameserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    /// What was asked.
    pub name: String,
    /// The last failure of each server tried, in order; empty when the deadline had
    /// already passed.
    pub failures: Vec<(SocketAddr, Failure)>,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        if self.failures.is_empty() {
            return f.write_str("not asked (no time left, or no nameserver)");
        }
        for (i, (server, failure)) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{failure} from {}", server.ip())?;
        }
        Ok(())
    }
}

impl std::error::Error for LookupError {}

/// The nameservers of a resolv.conf text: `nameserver ADDR` lines (IPv4, or IPv6 with
/// an optional `%scope`), at most [`MAX_NAMESERVERS`]; 127.0.0.1 when there is none,
/// as the C library does.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        let (ip, scope) = match addr.split_once('%') {
            Some((ip, scope)) => (ip, Some(scope)),
            None => (addr, None),
        };
        let server = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => {
                let scope_id = match scope {
                    None => 0,
                    Some(s) => s
                        .parse::<u32>()
                        .ok()
                        .or_else(|| nix::net::if_::if_nametoindex(s).ok())
                        .unwrap_or(0),
                };
                SocketAddr::V6(SocketAddrV6::new(v6, 53, 0, scope_id))
            }
            Ok(ip) => SocketAddr::new(ip, 53),
            Err(_) => continue,
        };
        if out.len() < MAX_NAMESERVERS {
            out.push(server);
        }
    }
    if out.is_empty() {
        out.push(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 53));
    }
    out
}

/// Sixteen unpredictable bits for a query id: from the kernel, or (should
/// /dev/urandom be unreadable) from the clock and the process id.
fn random_id() -> u16 {
    let mut b = [0u8; 2];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u16::from_ne_bytes(b);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ std::process::id().rotate_left(16) ^ (nanos >> 16)) as u16
}

/// A stub resolver: where to ask and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    /// The nameservers, in order.
    pub servers: Vec<SocketAddr>,
    /// How long one attempt at one server waits for the reply.
    pub attempt_timeout: Duration,
    /// How many times the list of servers is gone through.
    pub rounds: u32,
}

impl Resolver {
    /// The default attempt time.
    pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
    /// The default number of rounds.
    pub const ROUNDS: u32 = 2;

    /// Asks `servers` with the default timing.
    pub fn new(servers: Vec<SocketAddr>) -> Resolver {
        Resolver {
            servers,
            attempt_timeout: Resolver::ATTEMPT_TIMEOUT,
            rounds: Resolver::ROUNDS,
        }
    }

    /// The nameservers of `/etc/resolv.conf` (127.0.0.1 when it names none or cannot
    /// be read).
    pub fn system() -> Resolver {
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Resolver::new(nameservers(&text))
    }

    /// Looks up `qtype` records of `name`, giving up at `deadline`.
    pub fn lookup(
        &self,
        name: &Name,
        qtype: u16,
        deadline: Instant,
    ) -> Result<Answer, LookupError> {
        let mut failures: Vec<(SocketAddr, Failure)> = Vec::new();
        'rounds: for _ in 0..self.rounds.max(1) {
            for server in &self.servers {
                let now = Instant::now();
                if now >= deadline {
                    break 'rounds;
                }
                let wait = self.attempt_timeout.min(deadline - now);
                match attempt(*server, name, qtype, wait) {
                    Ok(answer) => return Ok(answer),
                    Err(f) => match failures.iter_mut().find(|(s, _)| s == server) {
                        Some(slot) => slot.1 = f,
                        None => failures.push((*server, f)),
                    },
                }
            }
        }
        Err(LookupError {
            name: name.to_string(),
            failures,
        })
    }
}

/// One query to one server, waiting at most `wait`.
fn attempt(server: SocketAddr, name: &Name, qtype: u16, wait: Duration) -> Result<Answer, Failure> {
    let io = |e: std::io::Error| Failure::Io(courier_common::strerror(&e));
    let deadline = Instant::now() + wait;
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(io)?;
    socket.connect(server).map_err(io)?;
    let id = random_id();
    socket.send(&build_query(id, name, qtype)).map_err(io)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::Timeout);
        }
        // A zero timeout would mean "block forever".
        socket
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .map_err(io)?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(Failure::Timeout);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        match parse_reply(&buf[..n], id, name, qtype) {
            Ok(answer) => return Ok(answer),
            Err(ReplyError::NotOurs) => continue,
            Err(ReplyError::Truncated) => return Err(Failure::Truncated),
            Err(ReplyError::Rcode(r)) => return Err(Failure::Rcode(r)),
            Err(ReplyError::Malformed(m)) => return Err(Failure::Malformed(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    /// A reply to `query` (as built by build_query) with `flags` and raw answer
    /// records appended.
    fn reply(query: &[u8], flags: u16, ancount: u16, answers: &[u8]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2..4].copy_from_slice(&flags.to_be_bytes());
        r[6..8].copy_from_slice(&ancount.to_be_bytes());
        r.extend_from_slice(answers);
        r
    }

    /// An answer record owned by the question's name (pointer to byte 12).
    fn rr(rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut v = vec![0xC0, 12];
        v.extend_from_slice(&rtype.to_be_bytes());
        v.extend_from_slice(&CLASS_IN.to_be_bytes());
        v.extend_from_slice(&300u32.to_be_bytes());
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
        v
    }

    #[test]
    fn names_are_validated_and_case_folded() {
        let n = name("1.0.0.127.Bl.Example.ORG.");
        assert_eq!(n.to_string(), "1.0.0.127.bl.example.org");
        assert_eq!(n, name("1.0.0.127.bl.example.org"));
        for bad in ["", ".", "a..b", ".a", "a b.c", &"x".repeat(64)] {
            assert!(Name::parse(bad).is_err(), "{bad:?}");
        }
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(Name::parse(&long).is_err(), "260 bytes");
        assert!(Name::parse(&vec!["abcdefghi"; 25].join(".")).is_ok());
    }

    #[test]
    fn query_packet_layout() {
        let q = build_query(0xBEEF, &name("a.Bc"), TYPE_TXT);
        assert_eq!(
            q,
            [
                0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 16,
                0, 1
            ]
        );
    }

    #[test]
    fn a_and_txt_answers() {
        let n = name("1.0.0.127.bl.test");
        let q = build_query(7, &n, TYPE_A);
        let mut answers = rr(TYPE_A, &[127, 0, 0, 2]);
        answers.extend(rr(TYPE_A, &[127, 0, 0, 4]));
        answers.extend(rr(TYPE_TXT, b"\x03abc")); // another type: ignored
        let r = reply(&q, 0x8180, 3, &answers);
        assert_eq!(
            parse_reply(&r, 7, &n, TYPE_A),
            Ok(Answer::Records(vec![
                Rdata::A(Ipv4Addr::new(127, 0, 0, 2)),
                Rdata::A(Ipv4Addr::new(127, 0, 0, 4))
            ]))
        );
        let q = build_query(8, &n, TYPE_TXT);
        let r = reply(&q, 0x8180, 1, &rr(TYPE_TXT, b"\x05part \x03two\x00"));
        assert_eq!(
            parse_reply(&r, 8, &n, TYPE_TXT),
            Ok(Answer::Records(vec![Rdata::Txt(b"part two".to_vec())]))
        );
        // NOERROR without records; NXDOMAIN; SERVFAIL; truncated.
        assert_eq!(
            parse_reply(&reply(&q, 0x8180, 0, &[]), 8, &n, TYPE_TXT),
            Ok(Answer::NoData)
        );
        assert_eq!(
            parse_reply(&reply(&q, 0x8183, 0, &[]), 8, &n, TYPE_TXT),
            Ok(Answer::NxDomain)
        );
        assert_eq!(
            parse_reply(&reply(&q, 0x8182, 0, &[]), 8, &n, TYPE_TXT),
            Err(ReplyError::Rcode(2))
        );
        assert_eq!(
            parse_reply(&reply(&q, 0x8380, 0, &[]), 8, &n, TYPE_TXT),
            Err(ReplyError::Truncated)
        );
    }

    #[test]
    fn replies_to_other_queries_are_not_believed() {
        let n = name("1.0.0.127.bl.test");
        let q = build_query(9, &n, TYPE_A);
        let r = reply(&q, 0x8180, 1, &rr(TYPE_A, &[127, 0, 0, 2]));
        assert_eq!(
            parse_reply(&r, 10, &n, TYPE_A),
            Err(ReplyError::NotOurs),
            "id"
        );
        assert_eq!(
            parse_reply(&r, 9, &name("2.0.0.127.bl.test"), TYPE_A),
            Err(ReplyError::NotOurs),
            "question name"
        );
        assert_eq!(
            parse_reply(&r, 9, &n, TYPE_TXT),
            Err(ReplyError::NotOurs),
            "type"
        );
        let mut query_echo = r.clone();
        query_echo[2] &= 0x7F;
        assert_eq!(
            parse_reply(&query_echo, 9, &n, TYPE_A),
            Err(ReplyError::NotOurs)
        );
        assert_eq!(
            parse_reply(&r[..11], 9, &n, TYPE_A),
            Err(ReplyError::NotOurs)
        );
        // Records owned by another name are not answers.
        let mut other = vec![1, b'x', 0xC0, 12];
        other.extend_from_slice(&rr(TYPE_A, &[127, 0, 0, 2])[2..]);
        let r = reply(&q, 0x8180, 1, &other);
        assert_eq!(parse_reply(&r, 9, &n, TYPE_A), Ok(Answer::NoData));
        // The question in upper case is still ours.
        let mut upper = reply(&q, 0x8180, 0, &[]);
        upper[23] = b'B';
        assert_eq!(parse_reply(&upper, 9, &n, TYPE_A), Ok(Answer::NoData));
    }

    #[test]
    fn cname_chains_are_followed_a_bounded_number_of_times() {
        let n = name("1.0.0.127.bl.test");
        let q = build_query(1, &n, TYPE_A);
        // CNAME to "t" + pointer to the question name ("t.1.0.0.127.bl.test"), then
        // the A record of the target.
        let mut answers = rr(TYPE_CNAME, &[1, b't', 0xC0, 12]);
        let target_at = q.len() + 12; // where the CNAME's rdata starts
        answers.extend_from_slice(&[0xC0, target_at as u8]);
        answers.extend_from_slice(&rr(TYPE_A, &[127, 0, 0, 9])[2..]);
        let r = reply(&q, 0x8180, 2, &answers);
        assert_eq!(
            parse_reply(&r, 1, &n, TYPE_A),
            Ok(Answer::Records(vec![Rdata::A(Ipv4Addr::new(127, 0, 0, 9))]))
        );
        // A CNAME to itself: refused after a bounded number of steps.
        let r = reply(&q, 0x8180, 1, &rr(TYPE_CNAME, &[0xC0, 12]));
        assert!(matches!(
            parse_reply(&r, 1, &n, TYPE_A),
            Err(ReplyError::Malformed(_))
        ));
    }

    #[test]
    fn hostile_replies_are_errors_not_panics_or_hangs() {
        let n = name("1.0.0.127.bl.test");
        let q = build_query(3, &n, TYPE_A);
        let malformed =
            |r: &[u8]| matches!(parse_reply(r, 3, &n, TYPE_A), Err(ReplyError::Malformed(_)));
        // Answer owner is a pointer to itself, and a pointer forward.
        let mut self_ptr = reply(&q, 0x8180, 1, &[]);
        let at = self_ptr.len();
        self_ptr.extend_from_slice(&[0xC0 | (at >> 8) as u8, at as u8]);
        assert!(malformed(&self_ptr));
        let mut fwd = reply(&q, 0x8180, 1, &[]);
        let at = fwd.len();
        fwd.extend_from_slice(&[0xC0, (at + 2) as u8, 0]);
        assert!(malformed(&fwd));
        // Two labels pointing at each other through a backward pointer: the second
        // jump would go forward again.
        let mut pair = reply(&q, 0x8180, 1, &[]);
        let a = pair.len();
        pair.extend_from_slice(&[1, b'a', 0xC0, (a + 4) as u8, 1, b'b', 0xC0, a as u8]);
        assert!(malformed(&pair));
        // Record data longer than the message; label past the end; bad label type.
        let mut long = reply(&q, 0x8180, 1, &rr(TYPE_A, &[127, 0, 0, 2]));
        let l = long.len();
        long[l - 6..l - 4].copy_from_slice(&200u16.to_be_bytes());
        assert!(malformed(&long));
        assert!(malformed(&reply(&q, 0x8180, 1, &[9, b'a'])));
        assert!(malformed(&reply(&q, 0x8180, 1, &[0x40, 1])));
        // Huge counts with nothing behind them, and too many records.
        assert!(malformed(&reply(
            &q,
            0x8180,
            200,
            &rr(TYPE_A, &[1, 2, 3, 4])
        )));
        assert!(malformed(&reply(&q, 0x8180, 0xFFFF, &[])));
        let mut many = Vec::new();
        for _ in 0..300 {
            many.extend(rr(TYPE_A, &[127, 0, 0, 2]));
        }
        assert!(malformed(&reply(&q, 0x8180, 300, &many)));
        // An A record of 5 bytes; a TXT string past its record.
        assert!(malformed(&reply(
            &q,
            0x8180,
            1,
            &rr(TYPE_A, &[1, 2, 3, 4, 5])
        )));
        let qt = build_query(3, &n, TYPE_TXT);
        assert!(matches!(
            parse_reply(
                &reply(&qt, 0x8180, 1, &rr(TYPE_TXT, b"\x09abc")),
                3,
                &n,
                TYPE_TXT
            ),
            Err(ReplyError::Malformed(_))
        ));
        // Two questions; the question cut short.
        let mut two = reply(&q, 0x8180, 0, &[]);
        two[5] = 2;
        assert!(malformed(&two));
        assert!(malformed(&reply(&q, 0x8180, 0, &[])[..q.len() - 2]));
        // A 1300-byte name built from pointers hopping backwards through labels.
        let mut chain = vec![0u8; 12];
        chain.extend_from_slice(&[1, b'z', 0]);
        let mut prev = 12usize;
        for _ in 0..20 {
            let at = chain.len();
            chain.push(63);
            chain.extend_from_slice(&[b'x'; 63]);
            chain.extend_from_slice(&[0xC0 | (prev >> 8) as u8, prev as u8]);
            prev = at;
        }
        let end = chain.len();
        chain.extend_from_slice(&[0xC0 | (prev >> 8) as u8, prev as u8]);
        assert!(read_name(&chain, end).is_err());
        // The same hops through empty names only: a chain of pointers, each going
        // further back, ends at the root; more than MAX_POINTERS of them is refused.
        let mut ptrs = vec![0u8; 12];
        ptrs.push(0);
        for i in 0..40usize {
            let target = if i == 0 { 12 } else { 13 + 2 * (i - 1) };
            ptrs.extend_from_slice(&[0xC0 | (target >> 8) as u8, target as u8]);
        }
        assert_eq!(read_name(&ptrs, 13 + 2 * 5), Ok((vec![], 13 + 2 * 5 + 2)));
        assert!(read_name(&ptrs, 13 + 2 * 39).is_err());
    }

    #[test]
    fn every_truncation_of_a_reply_is_handled() {
        let n = name("1.0.0.127.bl.test");
        let q = build_query(4, &n, TYPE_TXT);
        let mut answers = rr(TYPE_CNAME, &[1, b't', 0xC0, 12]);
        answers.extend(rr(TYPE_TXT, b"\x04text\x02ab"));
        let r = reply(&q, 0x8180, 2, &answers);
        for len in 0..r.len() {
            let _ = parse_reply(&r[..len], 4, &n, TYPE_TXT);
        }
        // Every single-byte corruption, too.
        for i in 0..r.len() {
            for v in [0u8, 0x3F, 0xC0, 0xFF] {
                let mut c = r.clone();
                c[i] = v;
                let _ = parse_reply(&c, 4, &n, TYPE_TXT);
            }
        }
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# comment\nsearch example.org\nnameserver 192.0.2.1\n\
                    nameserver   2001:db8::1\nnameserver fe80::1%1\nnameserver bogus\n\
                    nameserver 192.0.2.9\n";
        let s = nameservers(text);
        assert_eq!(
            s,
            vec![
                "192.0.2.1:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:53".parse().unwrap(),
                SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 1)),
            ]
        );
        assert_eq!(nameservers(""), vec!["127.0.0.1:53".parse().unwrap()]);
        assert_eq!(
            nameservers("nameserver\n"),
            vec!["127.0.0.1:53".parse().unwrap()]
        );
    }

    /// A server thread on 127.0.0.1 answering each query with `respond`.
    fn server(
        respond: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = s.recv_from(&mut buf) {
                for d in respond(&buf[..n]) {
                    let _ = s.send_to(&d, peer);
                }
                if buf[..n].ends_with(&[0, 16, 0, 1]) && n > 12 && buf[12] == 4 {
                    return; // "stop" query
                }
            }
        });
        (addr, h)
    }

    #[test]
    fn resolver_ignores_spoofed_datagrams_and_times_out() {
        let (addr, h) = server(|q| {
            // First a datagram with the wrong id, then the real answer.
            let mut wrong = q.to_vec();
            wrong[0] ^= 0xFF;
            wrong[2] = 0x81;
            wrong[3] = 0x80;
            let mut right = q.to_vec();
            right[2] = 0x81;
            right[3] = 0x80;
            right[7] = 1;
            right.extend(rr(TYPE_A, &[127, 0, 0, 2]));
            if q[13..].starts_with(b"silent") {
                return vec![];
            }
            vec![wrong, right]
        });
        let r = Resolver {
            servers: vec![addr],
            attempt_timeout: Duration::from_millis(300),
            rounds: 2,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            r.lookup(&name("x.test"), TYPE_A, deadline),
            Ok(Answer::Records(vec![Rdata::A(Ipv4Addr::new(127, 0, 0, 2))]))
        );
        let start = Instant::now();
        let e = r
            .lookup(&name("silent.test"), TYPE_A, deadline)
            .unwrap_err();
        assert_eq!(e.failures, vec![(addr, Failure::Timeout)]);
        assert!(start.elapsed() >= Duration::from_millis(600), "two rounds");
        assert!(
            e.to_string()
                .contains("silent.test: no answer from 127.0.0.1"),
            "{e}"
        );
        // The caller's deadline wins over the attempt time.
        let e = r
            .lookup(
                &name("silent.test"),
                TYPE_A,
                Instant::now() + Duration::from_millis(100),
            )
            .unwrap_err();
        assert_eq!(e.failures, vec![(addr, Failure::Timeout)]);
        let _ = r.lookup(&name("stop"), TYPE_TXT, deadline);
        h.join().unwrap();
    }

    #[test]
    fn resolver_moves_on_from_a_refusing_server() {
        // Nothing listens on the first server's port: ECONNREFUSED, then the second.
        let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let (addr, h) = server(|q| {
            let mut r = q.to_vec();
            r[2] = 0x81;
            r[3] = 0x83;
            vec![r]
        });
        let r = Resolver::new(vec![dead_addr, addr]);
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            r.lookup(&name("nx.test"), TYPE_A, deadline),
            Ok(Answer::NxDomain)
        );
        let _ = r.lookup(&name("stop"), TYPE_TXT, deadline);
        h.join().unwrap();
    }
}
