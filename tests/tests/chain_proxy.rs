//! `couriertcpd -haproxy` (a courier-rs addition) in front of the real login
//! chain (root only): the PROXY v1 and v2 headers set TCPREMOTEIP /
//! TCPREMOTEPORT / TCPLOCALIP / TCPLOCALPORT for the login program and the
//! session, the log lines carry the client's address, the access file and
//! -maxperip apply to it, and a connection without a valid header is dropped
//! with a log line.

use e2e::*;
use std::io::Write;
use std::time::Duration;

fn v1(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    let fam = if src.contains(':') { "TCP6" } else { "TCP4" };
    format!("PROXY {fam} {src} {dst} {sport} {dport}\r\n").into_bytes()
}

/// A v2 PROXY header for TCP over IPv6.
fn v2_tcp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x21); // AF_INET6, STREAM
    h.extend_from_slice(&36u16.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h
}

fn login_via_proxy(port: u16, header: &[u8]) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(header).unwrap();
    let mut c = Conn::from_stream(s);
    let greeting = match c.read_line(Duration::from_secs(10)) {
        Got::Line(l) => l,
        other => return (format!("{other:?}"), String::new()),
    };
    c.cmd(&format!("a LOGIN vuser {VUSER_PASSWORD}"));
    let (rest, _) = c.rest(Duration::from_secs(15));
    (greeting, rest)
}

#[test]
fn proxy_v1_and_v2_headers_set_the_client_address_for_the_whole_chain() {
    let t = "proxy_v1_and_v2_headers_set_the_client_address_for_the_whole_chain";
    if !chain_prereqs(t) || !chain_runs_ours(t, "couriertcpd") {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()).opt("-haproxy"));
    let (g, rest) = login_via_proxy(srv.port, &v1("192.0.2.7", "198.51.100.1", 40001, 143));
    assert!(g.starts_with("* OK [CAPABILITY"), "{g}\n{}", srv.log());
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("TCPREMOTEIP"), "::ffff:192.0.2.7");
    assert_eq!(r.var("TCPREMOTEPORT"), "40001");
    assert_eq!(r.var("TCPLOCALIP"), "::ffff:198.51.100.1");
    assert_eq!(r.var("TCPLOCALPORT"), "143");
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    src[15] = 7;
    let mut dst = src;
    dst[15] = 1;
    let (_, rest) = login_via_proxy(srv.port, &v2_tcp6(src, dst, 50002, 993));
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    assert_eq!(r.var("TCPREMOTEIP"), "2001:db8::7");
    assert_eq!(r.var("TCPREMOTEPORT"), "50002");
    assert_eq!(r.var("TCPLOCALIP"), "2001:db8::1");
    // A failed login is logged with the proxied client's address.
    let (_, rest) = {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        s.write_all(&v1("203.0.113.9", "198.51.100.1", 40003, 143))
            .unwrap();
        let mut c = Conn::from_stream(s);
        c.line();
        c.cmd("a LOGIN vuser wrong");
        (String::new(), c.line())
    };
    assert_eq!(rest, "a NO Login failed.");
    assert!(
        srv.wait_log(
            "LOGIN FAILED, user=vuser, ip=[::ffff:203.0.113.9]",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log()
    );
}

#[test]
fn proxy_listener_drops_connections_without_a_valid_header() {
    let t = "proxy_listener_drops_connections_without_a_valid_header";
    if !chain_prereqs(t) || !chain_runs_ours(t, "couriertcpd") {
        return;
    }
    let fx = Fixture::new("");
    let srv = fx.start(&fx.imap_spec(&report_env()).opt("-haproxy=1"));
    // A client speaking IMAP straight away.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(format!("a LOGIN vuser {VUSER_PASSWORD}\r\n").as_bytes())
        .unwrap();
    let mut c = Conn::from_stream(s);
    let (rest, eof) = c.rest(Duration::from_secs(5));
    assert!(eof && rest.is_empty(), "{rest:?}");
    // A silent client: dropped after the header timeout.
    let mut c = srv.connect();
    let (rest, eof) = c.rest(Duration::from_secs(5));
    assert!(eof && rest.is_empty(), "{rest:?}");
    // A v1 header with garbage addresses.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(b"PROXY TCP4 999.1.1.1 1.2.3.4 1 2\r\n")
        .unwrap();
    let mut c = Conn::from_stream(s);
    let (rest, eof) = c.rest(Duration::from_secs(5));
    assert!(eof && rest.is_empty(), "{rest:?}");
    assert!(
        srv.wait_log("PROXY header", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    assert!(
        srv.wait_idle(Duration::from_secs(5)),
        "{:?}",
        srv.root_processes()
    );
    // The listener still works for a proper header.
    let (g, _) = login_via_proxy(srv.port, &v1("192.0.2.8", "198.51.100.1", 1, 143));
    assert!(g.starts_with("* OK"), "{g}");
}

#[test]
fn access_rules_and_maxperip_apply_to_the_proxied_address() {
    let t = "access_rules_and_maxperip_apply_to_the_proxied_address";
    if !chain_prereqs(t)
        || !chain_runs_ours(t, "couriertcpd")
        || !chain_runs_ours(t, "makeimapaccess")
    {
        return;
    }
    let fx = Fixture::new("");
    let tool = chain_bin(fx.side, "makeimapaccess");
    let o = fx.auth.sh(&format!(
        "set -e\nprintf 'IMAPACCESSFILE=/etc/courier/imapaccess\\n' > /etc/courier/imapd\n\
         printf '192.0.2\\tdeny\\n198.51.100.5\\tallow,PROXIED=yes\\n' > /etc/courier/imapaccess\n\
         {} >/dev/null 2>&1 || true\ntest -f /etc/courier/imapaccess.dat\n",
        shell_quote(&tool.to_string_lossy())
    ));
    assert_eq!(o.code, Some(0), "{o:?}");
    let srv = fx.start(
        &fx.imap_spec(&report_env())
            .opt("-haproxy")
            .opt("-access=/etc/courier/imapaccess.dat")
            .opt("-maxperip=1"),
    );
    let (g, _) = login_via_proxy(srv.port, &v1("192.0.2.44", "198.51.100.1", 1, 143));
    assert!(g.contains("Eof"), "denied source served: {g}");
    let (_, rest) = login_via_proxy(srv.port, &v1("198.51.100.5", "198.51.100.1", 1, 143));
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}\n{}", srv.log()));
    assert_eq!(r.var("PROXIED"), "yes");
    // -maxperip=1 counts the proxied sources, not the proxy (127.0.0.1).
    let open = |src: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        s.write_all(&v1(src, "198.51.100.1", 1, 143)).unwrap();
        let mut c = Conn::from_stream(s);
        let g = c.read_line(Duration::from_secs(5));
        (c, g)
    };
    let (_a, ga) = open("203.0.113.1");
    let (_b, gb) = open("203.0.113.2");
    let (_c, gc) = open("203.0.113.1");
    assert!(
        matches!(ga, Got::Line(ref l) if l.starts_with("* OK")),
        "{ga:?}"
    );
    assert!(
        matches!(gb, Got::Line(ref l) if l.starts_with("* OK")),
        "{gb:?}"
    );
    assert_eq!(gc, Got::Eof, "second connection of one proxied source");
}
