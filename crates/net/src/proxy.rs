//! The PROXY protocol, versions 1 (text) and 2 (binary), receiver side, sans-I/O.
//!
//! Source: the haproxy "PROXY protocol" specification (proxy-protocol.txt), §2.1 (v1)
//! and §2.2 (v2). Courier has no such feature; couriertcpd's `-haproxy` option is this
//! project's addition.
//!
//! [`parse`] is fed the bytes received so far (peeked, not consumed) and says whether
//! they are a complete header, need more bytes, or can never become one. It never
//! looks past the header, so the caller can consume exactly [`Parse::Complete::len`]
//! bytes and leave the client's first protocol bytes in the socket.
//!
//! Accepted:
//! - v1 `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` (at most 107 bytes) and
//!   `PROXY UNKNOWN...\r\n` (the real connection's endpoints are used);
//! - v2 with version 2, command LOCAL (addresses ignored: health checks) or PROXY,
//!   families AF_INET/AF_INET6 over STREAM, or AF_UNSPEC (endpoints unknown); TLVs
//!   after the addresses are skipped.
//!
//! Refused: anything else, including v2 DGRAM and AF_UNIX (this listener is TCP).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12-byte v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest legal v1 header, CRLF included (spec §2.1).
pub const V1_MAX_LEN: usize = 107;
/// The longest v2 header: the 16-byte fixed part plus a 16-bit length.
pub const V2_MAX_LEN: usize = 16 + 65535;

/// What a complete header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The proxy relays a client: `source` is the client, `destination` the address it
    /// connected to on the proxy.
    Proxied {
        /// The original client.
        source: SocketAddr,
        /// The proxy's address the client reached.
        destination: SocketAddr,
    },
    /// No client address (v2 LOCAL, v2 AF_UNSPEC, v1 UNKNOWN): use the connection's own
    /// endpoints.
    Local,
}

/// The result of looking at the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// A prefix of a possible header: read more.
    Incomplete,
    /// A header of `len` bytes.
    Complete {
        /// What it says.
        header: Header,
        /// Its length: consume exactly this many bytes.
        len: usize,
    },
}

/// Why the bytes are not a PROXY header. Always the sending peer's fault (or a client
/// that connected to a `-haproxy` port directly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The first bytes are neither `PROXY ` nor the v2 signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// A v1 line without CRLF within 107 bytes.
    #[error("PROXY v1 header longer than 107 bytes")]
    V1TooLong,
    /// A v1 line that does not follow the grammar; says which part.
    #[error("malformed PROXY v1 header: {0}")]
    V1Syntax(&'static str),
    /// The v2 version nibble is not 2.
    #[error("unsupported PROXY v2 version {0}")]
    V2Version(u8),
    /// The v2 command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("unsupported PROXY v2 command {0}")]
    V2Command(u8),
    /// A v2 family/transport byte this TCP listener cannot use.
    #[error("unsupported PROXY v2 address family/transport 0x{0:02x}")]
    V2Family(u8),
    /// The v2 length is too short for the addresses of the family.
    #[error("PROXY v2 length {len} too short for its addresses ({need} bytes)")]
    V2Length {
        /// The length field.
        len: usize,
        /// What the family needs.
        need: usize,
    },
}

/// Looks at `buf` (the bytes received so far, from the start of the connection).
pub fn parse(buf: &[u8]) -> Result<Parse, ProxyError> {
    const V1_PREFIX: &[u8] = b"PROXY ";
    if buf.is_empty() {
        return Ok(Parse::Incomplete);
    }
    if buf[0] == b'P' {
        let n = buf.len().min(V1_PREFIX.len());
        if buf[..n] != V1_PREFIX[..n] {
            return Err(ProxyError::NotProxy);
        }
        return parse_v1(buf);
    }
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] != V2_SIGNATURE[..n] {
        return Err(ProxyError::NotProxy);
    }
    parse_v2(buf)
}

fn parse_v1(buf: &[u8]) -> Result<Parse, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX_LEN {
            return Err(ProxyError::V1TooLong);
        }
        // A bare LF or CR followed by something else can never become valid.
        if let Some(p) = window.iter().position(|&b| b == b'\n' || b == b'\r')
            && !(window[p] == b'\r' && p + 1 == window.len())
        {
            return Err(ProxyError::V1Syntax("line not ended by CRLF"));
        }
        return Ok(Parse::Incomplete);
    };
    let len = cr + 2;
    let line =
        std::str::from_utf8(&buf[6..cr]).map_err(|_| ProxyError::V1Syntax("not ASCII text"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    let header = match parts[0] {
        "UNKNOWN" => Header::Local,
        "TCP4" | "TCP6" => {
            if parts.len() != 5 {
                return Err(ProxyError::V1Syntax("expected 4 fields after the protocol"));
            }
            let v4 = parts[0] == "TCP4";
            let ip = |text: &str| -> Result<std::net::IpAddr, ProxyError> {
                if v4 {
                    text.parse::<Ipv4Addr>()
                        .map(Into::into)
                        .map_err(|_| ProxyError::V1Syntax("bad IPv4 address"))
                } else {
                    text.parse::<Ipv6Addr>()
                        .map(Into::into)
                        .map_err(|_| ProxyError::V1Syntax("bad IPv6 address"))
                }
            };
            let port = |text: &str| -> Result<u16, ProxyError> {
                if text.is_empty()
                    || text.len() > 5
                    || !text.bytes().all(|b| b.is_ascii_digit())
                    || (text.len() > 1 && text.starts_with('0'))
                {
                    return Err(ProxyError::V1Syntax("bad port"));
                }
                text.parse().map_err(|_| ProxyError::V1Syntax("bad port"))
            };
            Header::Proxied {
                source: SocketAddr::new(ip(parts[1])?, port(parts[3])?),
                destination: SocketAddr::new(ip(parts[2])?, port(parts[4])?),
            }
        }
        _ => return Err(ProxyError::V1Syntax("unknown protocol")),
    };
    Ok(Parse::Complete { header, len })
}

fn parse_v2(buf: &[u8]) -> Result<Parse, ProxyError> {
    if buf.len() < 16 {
        return Ok(Parse::Incomplete);
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    if version != 2 {
        return Err(ProxyError::V2Version(version));
    }
    if command > 1 {
        return Err(ProxyError::V2Command(command));
    }
    let family = buf[13];
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let need = match family {
        0x00 => 0,
        0x11 => 12,
        0x21 => 36,
        // LOCAL may carry any family: its addresses are ignored.
        _ if command == 0 => 0,
        other => return Err(ProxyError::V2Family(other)),
    };
    if len < need {
        return Err(ProxyError::V2Length { len, need });
    }
    if buf.len() < 16 + len {
        return Ok(Parse::Incomplete);
    }
    let a = &buf[16..16 + len];
    let header = match (command, family) {
        (0, _) | (_, 0x00) => Header::Local,
        (_, 0x11) => {
            let ip = |o: usize| Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]);
            Header::Proxied {
                source: SocketAddr::new(ip(0).into(), u16::from_be_bytes([a[8], a[9]])),
                destination: SocketAddr::new(ip(4).into(), u16::from_be_bytes([a[10], a[11]])),
            }
        }
        _ => {
            let ip = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&a[o..o + 16]);
                Ipv6Addr::from(b)
            };
            Header::Proxied {
                source: SocketAddr::new(ip(0).into(), u16::from_be_bytes([a[32], a[33]])),
                destination: SocketAddr::new(ip(16).into(), u16::from_be_bytes([a[34], a[35]])),
            }
        }
    };
    Ok(Parse::Complete {
        header,
        len: 16 + len,
    })
}

/// Writes a v1 header (the sender side, for tests and tools).
pub fn encode_v1(header: &Header) -> Vec<u8> {
    match header {
        Header::Local => b"PROXY UNKNOWN\r\n".to_vec(),
        Header::Proxied {
            source,
            destination,
        } => {
            let proto = if source.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {proto} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
            .into_bytes()
        }
    }
}

/// Writes a v2 header with `tlvs` appended after the addresses (the sender side).
/// Mixed address families are written as IPv6 (IPv4 ones mapped).
pub fn encode_v2(header: &Header, tlvs: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    let mut body = Vec::new();
    match header {
        Header::Local => {
            out.extend_from_slice(&[0x20, 0x00]);
        }
        Header::Proxied {
            source,
            destination,
        } => match (source, destination) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                out.extend_from_slice(&[0x21, 0x11]);
                body.extend_from_slice(&s.ip().octets());
                body.extend_from_slice(&d.ip().octets());
                body.extend_from_slice(&s.port().to_be_bytes());
                body.extend_from_slice(&d.port().to_be_bytes());
            }
            _ => {
                out.extend_from_slice(&[0x21, 0x21]);
                let (s, sp) = crate::addr::normalize(*source);
                let (d, dp) = crate::addr::normalize(*destination);
                body.extend_from_slice(&s.octets());
                body.extend_from_slice(&d.octets());
                body.extend_from_slice(&sp.to_be_bytes());
                body.extend_from_slice(&dp.to_be_bytes());
            }
        },
    }
    body.extend_from_slice(tlvs);
    let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body[..usize::from(len)]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn proxied(s: &str, d: &str) -> Header {
        Header::Proxied {
            source: sa(s),
            destination: sa(d),
        }
    }

    #[test]
    fn v1_cases() {
        let ok: &[(&[u8], Header, usize)] = &[
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
                proxied("192.0.2.1:56324", "198.51.100.2:143"),
                45,
            ),
            (
                b"PROXY TCP6 2001:db8::1 ::1 65535 993\r\nA001 LOGIN",
                proxied("[2001:db8::1]:65535", "[::1]:993"),
                38,
            ),
            (b"PROXY UNKNOWN\r\n", Header::Local, 15),
            (
                b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
                Header::Local,
                59,
            ),
            (
                b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
                proxied("0.0.0.0:0", "0.0.0.0:0"),
                32,
            ),
        ];
        for (bytes, header, len) in ok {
            assert_eq!(
                parse(bytes),
                Ok(Parse::Complete {
                    header: *header,
                    len: *len
                }),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        let bad: &[(&[u8], ProxyError)] = &[
            (b"GET / HTTP/1.0\r\n", ProxyError::NotProxy),
            (b"PROXZ", ProxyError::NotProxy),
            (b"a001 LOGIN x y\r\n", ProxyError::NotProxy),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
                ProxyError::V1Syntax("expected 4 fields after the protocol"),
            ),
            (
                b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
                ProxyError::V1Syntax("bad IPv4 address"),
            ),
            (
                b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
                ProxyError::V1Syntax("bad IPv6 address"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
                ProxyError::V1Syntax("bad port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
                ProxyError::V1Syntax("bad port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
                ProxyError::V1Syntax("bad port"),
            ),
            (
                b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
                ProxyError::V1Syntax("expected 4 fields after the protocol"),
            ),
            (
                b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
                ProxyError::V1Syntax("unknown protocol"),
            ),
            (
                b"PROXY TCP4 1.2.3.4\n",
                ProxyError::V1Syntax("line not ended by CRLF"),
            ),
            (
                b"PROXY \xff\xfe\r\n",
                ProxyError::V1Syntax("not ASCII text"),
            ),
        ];
        for (bytes, err) in bad {
            assert_eq!(
                parse(bytes),
                Err(err.clone()),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX_LEN, b'x');
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
    }

    #[test]
    fn every_truncation_of_a_valid_header_is_incomplete() {
        let headers = [
            encode_v1(&proxied("192.0.2.1:1", "192.0.2.2:2")),
            encode_v1(&proxied("[2001:db8::1]:1", "[2001:db8::2]:2")),
            encode_v2(&proxied("192.0.2.1:1", "192.0.2.2:2"), b"\x01\x00\x02h2"),
            encode_v2(&proxied("[2001:db8::1]:1", "[::1]:2"), b""),
            encode_v2(&Header::Local, b""),
        ];
        for h in &headers {
            for cut in 0..h.len() {
                assert_eq!(
                    parse(&h[..cut]),
                    Ok(Parse::Incomplete),
                    "{h:?} cut at {cut}"
                );
            }
            assert!(matches!(parse(h), Ok(Parse::Complete { len, .. }) if len == h.len()));
        }
    }

    #[test]
    fn v2_round_trips_and_ignores_trailing_data() {
        for header in [
            proxied("192.0.2.1:56324", "198.51.100.2:143"),
            proxied("[2001:db8::1]:56324", "[2001:db8::2]:993"),
            Header::Local,
        ] {
            for tlvs in [&b""[..], b"\x04\x00\x01\x00"] {
                let mut bytes = encode_v2(&header, tlvs);
                let len = bytes.len();
                bytes.extend_from_slice(b"* OK more");
                assert_eq!(parse(&bytes), Ok(Parse::Complete { header, len }));
                // v1 of the same header parses back to it too.
                let v1 = encode_v1(&header);
                assert_eq!(
                    parse(&v1),
                    Ok(Parse::Complete {
                        header,
                        len: v1.len()
                    })
                );
            }
        }
    }

    #[test]
    fn v2_bad_fields() {
        let with = |ver_cmd: u8, fam: u8, len: u16, body: &[u8]| {
            let mut v = V2_SIGNATURE.to_vec();
            v.extend_from_slice(&[ver_cmd, fam]);
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(body);
            v
        };
        let cases: &[(Vec<u8>, Result<Parse, ProxyError>)] = &[
            (
                with(0x11, 0x11, 12, &[0; 12]),
                Err(ProxyError::V2Version(1)),
            ),
            (
                with(0x22, 0x11, 12, &[0; 12]),
                Err(ProxyError::V2Command(2)),
            ),
            (
                with(0x21, 0x12, 12, &[0; 12]),
                Err(ProxyError::V2Family(0x12)),
            ),
            (
                with(0x21, 0x31, 216, &[0; 216]),
                Err(ProxyError::V2Family(0x31)),
            ),
            (
                with(0x21, 0x21, 12, &[0; 12]),
                Err(ProxyError::V2Length { len: 12, need: 36 }),
            ),
            (
                with(0x21, 0x00, 3, b"abc"),
                Ok(Parse::Complete {
                    header: Header::Local,
                    len: 19,
                }),
            ),
            (
                with(0x20, 0x31, 4, b"abcd"),
                Ok(Parse::Complete {
                    header: Header::Local,
                    len: 20,
                }),
            ),
            (with(0x21, 0x11, 12, &[0; 5]), Ok(Parse::Incomplete)),
            (b"\r\n\r\n\0\r\nQUIX\n".to_vec(), Err(ProxyError::NotProxy)),
            (b"\r\nA".to_vec(), Err(ProxyError::NotProxy)),
        ];
        for (bytes, want) in cases {
            assert_eq!(&parse(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: every prefix of pseudo-random byte strings that start
        // like a header either parses, asks for more, or is refused.
        let mut x: u32 = 0x1234_5678;
        for round in 0..2000 {
            let mut v = if round % 2 == 0 {
                V2_SIGNATURE.to_vec()
            } else {
                b"PROXY ".to_vec()
            };
            for _ in 0..(round % 64) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                v.push((x & 0xff) as u8);
            }
            for cut in 0..=v.len() {
                if let Ok(Parse::Complete { len, .. }) = parse(&v[..cut]) {
                    assert!(len <= cut);
                }
            }
        }
    }
}
