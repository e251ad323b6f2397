//! Addresses as couriertcpd sees and prints them.
//!
//! - Every peer is kept as an IPv6 address; IPv4 peers become IPv4-mapped
//!   (`::ffff:a.b.c.d`), which is how Debian's couriertcpd prints them even on an
//!   AF_INET listener (programs.md "Common conventions", [obs]).
//! - Access-file keys use another spelling (formats.md §14): dotted quad for IPv4
//!   (mapped) peers, `:` + eight 4-digit lowercase hex groups for real IPv6 ones.
//! - PORTLIST items are `port` or `ADDR.port` (the text after the last `.` is the
//!   port or a service name from /etc/services).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// A peer or local address in couriertcpd's normal form.
pub fn normalize(addr: SocketAddr) -> (Ipv6Addr, u16) {
    match addr {
        SocketAddr::V4(a) => (a.ip().to_ipv6_mapped(), a.port()),
        SocketAddr::V6(a) => (*a.ip(), a.port()),
    }
}

/// The text Courier puts in `TCPREMOTEIP`/`TCPLOCALIP` and log lines
/// (`::ffff:127.0.0.1`, `::1`, `2001:db8::1`).
pub fn ip_text(ip: Ipv6Addr) -> String {
    ip.to_string()
}

/// The access-file spelling of an address, before any prefix is cut off.
pub fn access_key(ip: Ipv6Addr) -> String {
    match ip.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => ip.segments().iter().map(|g| format!(":{g:04x}")).collect(),
    }
}

/// True when both addresses are in the same "C block": all bytes but the last equal
/// (a /24 for IPv4 peers, a /120 for IPv6 ones), as Courier's `-maxperc` counts.
pub fn same_c_block(a: Ipv6Addr, b: Ipv6Addr) -> bool {
    a.octets()[..15] == b.octets()[..15]
}

/// One item of the PORTLIST argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortItem {
    /// The address to bind, `None` for the wildcard (no address, `0`, or `-address=0`).
    pub address: Option<String>,
    /// The port or service name as written.
    pub service: String,
}

/// Splits PORTLIST (`143`, `127.0.0.1.143,::1.143`, `imap`) into items; items with no
/// address or address `0` get `default_address` (the `-address` option) instead.
pub fn parse_portlist(list: &str, default_address: Option<&str>) -> Vec<PortItem> {
    list.split(',')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (address, service) = match item.rsplit_once('.') {
                Some((a, s)) => (Some(a.to_string()), s.to_string()),
                None => (None, item.to_string()),
            };
            let address = match address {
                Some(a) if a != "0" => Some(a),
                _ => default_address.map(str::to_string),
            };
            PortItem {
                address: address.filter(|a| a != "0"),
                service,
            }
        })
        .collect()
}

/// Resolves a port or service name: a name in `services` (the text of /etc/services,
/// `tcp` entries, aliases included) first, else the leading decimal digits as C's `atoi`
/// reads them. `None` when the result is not 1..=65535 (Courier: `Invalid port: <s>`).
pub fn resolve_service(service: &str, services: &str) -> Option<u16> {
    if !service.is_empty() {
        for line in services.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            if proto == "tcp" && (name == service || words.any(|alias| alias == service)) {
                return port.parse().ok().filter(|p| *p != 0);
            }
        }
    }
    let n = crate::args::atoi(std::ffi::OsStr::new(service));
    u16::try_from(n).ok().filter(|p| *p != 0)
}

/// Parses an address to bind (IPv4 or IPv6 text).
pub fn parse_bind_address(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    #[test]
    fn ipv4_peers_print_as_mapped_ipv6() {
        let (ip, port) = normalize(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(127, 0, 0, 1),
            143,
        )));
        assert_eq!((ip_text(ip), port), ("::ffff:127.0.0.1".to_string(), 143));
        assert_eq!(ip_text(Ipv6Addr::LOCALHOST), "::1");
    }

    #[test]
    fn access_keys_use_dotted_quads_and_padded_groups() {
        let v4 = Ipv4Addr::new(192, 168, 0, 10).to_ipv6_mapped();
        assert_eq!(access_key(v4), "192.168.0.10");
        let v6: Ipv6Addr = "2002:c0a8::1".parse().unwrap();
        assert_eq!(access_key(v6), ":2002:c0a8:0000:0000:0000:0000:0000:0001");
    }

    #[test]
    fn c_block_is_all_but_the_last_byte() {
        let a = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped();
        let b = Ipv4Addr::new(10, 1, 2, 200).to_ipv6_mapped();
        let c = Ipv4Addr::new(10, 1, 3, 3).to_ipv6_mapped();
        assert!(same_c_block(a, b));
        assert!(!same_c_block(a, c));
    }

    #[test]
    fn portlist_items() {
        type Case<'a> = (&'a str, Option<&'a str>, &'a [(Option<&'a str>, &'a str)]);
        let cases: &[Case] = &[
            ("143", None, &[(None, "143")]),
            ("143", Some("127.0.0.1"), &[(Some("127.0.0.1"), "143")]),
            ("143", Some("0"), &[(None, "143")]),
            ("127.0.0.1.14999", None, &[(Some("127.0.0.1"), "14999")]),
            ("0.143", Some("::1"), &[(Some("::1"), "143")]),
            (
                "::1.143,10.0.0.1.993,imap",
                Some("127.0.0.2"),
                &[
                    (Some("::1"), "143"),
                    (Some("10.0.0.1"), "993"),
                    (Some("127.0.0.2"), "imap"),
                ],
            ),
        ];
        for (list, def, want) in cases {
            let got = parse_portlist(list, *def);
            let want: Vec<PortItem> = want
                .iter()
                .map(|(a, s)| PortItem {
                    address: a.map(str::to_string),
                    service: s.to_string(),
                })
                .collect();
            assert_eq!(got, want, "{list}");
        }
    }

    #[test]
    fn services_by_name_then_atoi() {
        let services = "imap2\t\t143/tcp\t\timap\t# Interim Mail Access P 2 and 4\n\
                        pop3\t\t110/tcp\t\tpop-3\nfoo\t\t7/udp\n";
        assert_eq!(resolve_service("imap", services), Some(143));
        assert_eq!(resolve_service("imap2", services), Some(143));
        assert_eq!(resolve_service("pop-3", services), Some(110));
        assert_eq!(resolve_service("foo", services), None);
        assert_eq!(resolve_service("993", services), Some(993));
        assert_eq!(resolve_service("99999", services), None);
        assert_eq!(resolve_service("0", services), None);
        assert_eq!(resolve_service("143x", services), Some(143));
    }
}
