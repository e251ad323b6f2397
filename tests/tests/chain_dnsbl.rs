//! couriertcpd's DNS access lists (-block, -allow, -drop) against a DNS server the
//! test runs itself (root only; no outside network): couriertcpd runs in a private
//! mount namespace whose /etc/resolv.conf names the test's server on
//! 127.53.0.N:53, and its program is report-env, so the test sees the environment
//! couriertcpd built. Connections come from 127.0.0.1, so the list entries are
//! `1.0.0.127.<zone>`.
//!
//! With `E2E_CHAIN_ORACLE=1` the same tests run Debian's couriertcpd, except those
//! marked ours-only (where couriertcpd(8) documents a difference).

use e2e::*;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TYPE_A: u16 = 1;
const TYPE_TXT: u16 = 16;

#[derive(Clone)]
enum Rec {
    A([u8; 4]),
    Txt(&'static str),
}

/// The records every test serves.
fn records() -> Vec<(&'static str, Rec)> {
    vec![
        ("1.0.0.127.bl.test", Rec::A([127, 0, 0, 2])),
        ("1.0.0.127.bl.test", Rec::Txt("listed in bl")),
        ("1.0.0.127.aonly.test", Rec::A([127, 0, 0, 3])),
        ("1.0.0.127.txtonly.test", Rec::Txt("only txt")),
        ("1.0.0.127.multi.test", Rec::A([127, 0, 0, 2])),
        ("1.0.0.127.multi.test", Rec::A([127, 0, 0, 4])),
        ("1.0.0.127.wl.test", Rec::A([127, 0, 0, 10])),
        ("1.0.0.127.wl.test", Rec::Txt("white")),
    ]
}

/// A UDP DNS server on 127.53.0.N:53 answering A and TXT queries from
/// [`records`] (NXDOMAIN for other names), or never answering when `silent`.
struct DnsServer {
    ip: Ipv4Addr,
    queries: Arc<Mutex<Vec<(String, u16)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    fn start(silent: bool) -> Result<DnsServer, String> {
        let mut last = String::new();
        let socket = (1..=60u8)
            .find_map(|n| {
                let ip = Ipv4Addr::new(127, 53, 0, n);
                UdpSocket::bind(SocketAddr::from((ip, 53)))
                    .map_err(|e| last = format!("{ip}:53: {e}"))
                    .ok()
            })
            .ok_or_else(|| format!("no free UDP port 53 on 127.53.0.1-60 ({last})"))?;
        let ip = match socket.local_addr() {
            Ok(SocketAddr::V4(a)) => *a.ip(),
            other => return Err(format!("local_addr: {other:?}")),
        };
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some((name, qtype, question_end)) = parse_query(&buf[..n]) else {
                    continue;
                };
                q.lock().unwrap().push((name.clone(), qtype));
                if !silent {
                    let reply = answer(&buf[..question_end], &name, qtype);
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        Ok(DnsServer {
            ip,
            queries,
            stop,
            thread: Some(thread),
        })
    }

    /// The (name, type) of every query so far.
    fn queries(&self) -> Vec<(String, u16)> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The question of a query: lower-cased name, type, and where the question ends.
fn parse_query(p: &[u8]) -> Option<(String, u16, usize)> {
    if p.len() < 12 || p[2] & 0x80 != 0 || p[4..6] != [0, 1] {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *p.get(i)? as usize;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(p.get(i + 1..i + 1 + len)?).to_lowercase());
        i += 1 + len;
    }
    let qtype = u16::from_be_bytes([*p.get(i + 1)?, *p.get(i + 2)?]);
    p.get(i + 4)?;
    Some((labels.join("."), qtype, i + 5))
}

/// The reply to `query` (header and question only).
fn answer(query: &[u8], name: &str, qtype: u16) -> Vec<u8> {
    let all = records();
    let known: Vec<&Rec> = all
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, r)| r)
        .collect();
    let mut rrs = Vec::new();
    let mut count = 0u16;
    for r in &known {
        let (t, rdata) = match r {
            Rec::A(ip) => (TYPE_A, ip.to_vec()),
            Rec::Txt(t) => {
                let mut d = vec![t.len() as u8];
                d.extend_from_slice(t.as_bytes());
                (TYPE_TXT, d)
            }
        };
        if t != qtype {
            continue;
        }
        count += 1;
        rrs.extend_from_slice(&[0xC0, 12]);
        rrs.extend_from_slice(&t.to_be_bytes());
        rrs.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        rrs.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        rrs.extend_from_slice(&rdata);
    }
    let mut reply = query.to_vec();
    let rcode = if known.is_empty() { 3 } else { 0 };
    reply[2] = 0x81;
    reply[3] = 0x80 | rcode;
    reply[6..8].copy_from_slice(&count.to_be_bytes());
    reply[8..12].fill(0);
    reply.extend_from_slice(&rrs);
    reply
}

/// A private mount namespace whose /etc/resolv.conf names the test's server.
struct Setup {
    dns: DnsServer,
    ns: AuthDaemon,
}

fn setup(test: &str, silent: bool) -> Option<Setup> {
    if !auth_prereqs(test, false) {
        return None;
    }
    if !std::path::Path::new("/etc/resolv.conf").exists() {
        skip(
            test,
            "/etc/resolv.conf is missing (nothing to bind-mount over)",
        );
        return None;
    }
    let dns = match DnsServer::start(silent) {
        Ok(d) => d,
        Err(e) => {
            skip(test, &e);
            return None;
        }
    };
    let ns = AuthDaemon::namespace_only(
        Side::Ours,
        &AuthSetup {
            authdaemonrc: String::new(),
            userdb: None,
            files: Vec::new(),
            // Never run (no userdb); named so that none needs to be built.
            makeuserdb: Some("/bin/true".into()),
            source_rc: false,
            env: Vec::new(),
        },
    );
    let conf = ns.dir.join("resolv.conf");
    std::fs::write(&conf, format!("nameserver {}\n", dns.ip)).unwrap();
    let o = ns.sh(&format!(
        "mount --bind {} /etc/resolv.conf",
        shell_quote(&conf.to_string_lossy())
    ));
    assert_eq!(o.code, Some(0), "bind-mounting resolv.conf: {o:?}");
    Some(Setup { dns, ns })
}

impl Setup {
    /// couriertcpd (the chain side's) with `opts`, running report-env.
    fn tcpd(&self, opts: &[&str], env: &[(&str, &str)]) -> ChainServer {
        let program = report_env();
        let mut spec = ChainSpec::new(chain_side(), &[], &[program.as_os_str()]);
        for o in opts {
            spec = spec.opt(o);
        }
        for (k, v) in env {
            spec = spec.env(k, v);
        }
        ChainServer::start(&spec, Some(&self.ns))
    }
}

/// Connects and returns report-env's report (panics with the log if none comes).
fn report(srv: &ChainServer) -> Report {
    let mut c = srv.connect();
    let (text, eof) = c.rest(Duration::from_secs(15));
    assert!(eof, "no EOF after the report: {text}\n{}", srv.log());
    Report::parse(&text).unwrap_or_else(|| panic!("no report: {text:?}\nlog:\n{}", srv.log()))
}

/// The variables `NAME` and `NAME_*` of a report, for each of `names`.
fn vars(r: &Report, names: &[&str]) -> Vec<String> {
    r.env
        .iter()
        .filter(|(k, _)| {
            names
                .iter()
                .any(|n| k == n || k.strip_prefix(n).is_some_and(|rest| rest.starts_with('_')))
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[test]
fn block_without_message_takes_the_txt_record_or_a_default_text() {
    let t = "block_without_message_takes_the_txt_record_or_a_default_text";
    if !ours_only(t) {
        return;
    }
    let Some(s) = setup(t, false) else { return };
    let srv = s.tcpd(&["-block=bl.test"], &[]);
    assert_eq!(
        vars(&report(&srv), &["BLOCK", "ALLOW"]),
        [
            "BLOCK=listed in bl",
            "BLOCK_IP=127.0.0.2",
            "BLOCK_TXT=listed in bl",
            "BLOCK_ZONE=bl.test"
        ],
        "{}",
        srv.log()
    );
    let srv = s.tcpd(&["-block=aonly.test=Shown Zone"], &[]);
    assert_eq!(
        vars(&report(&srv), &["BLOCK"]),
        [
            "BLOCK=Blacklisted by aonly.test",
            "BLOCK_IP=127.0.0.3",
            "BLOCK_ZONE=Shown Zone"
        ]
    );
    assert!(
        s.dns
            .queries()
            .contains(&("1.0.0.127.bl.test".to_string(), TYPE_TXT)),
        "{:?}",
        s.dns.queries()
    );
}

#[test]
fn custom_variable_message_and_txt_only_list() {
    let t = "custom_variable_message_and_txt_only_list";
    let Some(s) = setup(t, false) else { return };
    let srv = s.tcpd(
        &["-block=bl.test,X,Go away @", "-block=txtonly.test,T,*"],
        &[],
    );
    let r = report(&srv);
    assert_eq!(
        vars(&r, &["X", "T", "BLOCK"]),
        [
            "T=only txt",
            "T_TXT=only txt",
            "T_ZONE=txtonly.test",
            "X=Go away ::ffff:127.0.0.1",
            "X_IP=127.0.0.2",
            "X_ZONE=bl.test"
        ],
        "{}",
        srv.log()
    );
    // A fixed message needs no TXT record.
    let q = s.dns.queries();
    assert!(
        !q.contains(&("1.0.0.127.bl.test".to_string(), TYPE_TXT)),
        "{q:?}"
    );
}

#[test]
fn ip_filter_and_variables_already_set() {
    let t = "ip_filter_and_variables_already_set";
    let Some(s) = setup(t, false) else { return };
    let srv = s.tcpd(
        &[
            "-block=multi.test,M/127.0.0.4,hit",
            "-block=multi.test,N/127.0.0.5,miss",
            "-block=bl.test,PRESET,m",
        ],
        &[("PRESET", "kept")],
    );
    let r = report(&srv);
    assert_eq!(
        vars(&r, &["M", "N", "PRESET"]),
        [
            "M=hit",
            "M_IP=127.0.0.4",
            "M_ZONE=multi.test",
            "PRESET=kept"
        ],
        "{}",
        srv.log()
    );
    // PRESET was in couriertcpd's environment: bl.test was never asked.
    let q = s.dns.queries();
    assert!(!q.iter().any(|(n, _)| n.ends_with("bl.test")), "{q:?}");
}

#[test]
fn allow_listed_address_skips_later_blocks_and_is_not_dropped() {
    let t = "allow_listed_address_skips_later_blocks_and_is_not_dropped";
    let Some(s) = setup(t, false) else { return };
    let srv = s.tcpd(
        &["-allow=wl.test", "-block=bl.test,BLOCK,blocked", "-drop"],
        &[],
    );
    let r = report(&srv);
    assert_eq!(
        vars(&r, &["BLOCK", "ALLOW"]),
        [
            "ALLOW_0=BLOCK",
            "BLOCK=",
            "BLOCK_IP=127.0.0.10",
            "BLOCK_ZONE=wl.test"
        ],
        "{}",
        srv.log()
    );
    let q = s.dns.queries();
    assert!(!q.iter().any(|(n, _)| n.ends_with("bl.test")), "{q:?}");
    assert!(!srv.log().contains("dropped"), "{}", srv.log());
}

#[test]
fn drop_closes_a_listed_connection_and_serves_an_unlisted_one() {
    let t = "drop_closes_a_listed_connection_and_serves_an_unlisted_one";
    let Some(s) = setup(t, false) else { return };
    let srv = s.tcpd(
        &[
            "-block=bl.test,BLOCK,blocked",
            "-drop",
            "-denymsg=-ERR blocked",
        ],
        &[],
    );
    let mut c = srv.connect();
    assert_eq!(
        c.read_line(Duration::from_secs(10)),
        Got::Line("-ERR blocked".into()),
        "{}",
        srv.log()
    );
    assert_eq!(c.read_line(Duration::from_secs(10)), Got::Eof);
    assert!(
        srv.wait_log(
            "WARN: dropped blocked connection from ::ffff:127.0.0.1",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log()
    );
    if chain_side() == Side::Ours {
        assert!(
            srv.log().contains(
                "WARN: dropped blocked connection from ::ffff:127.0.0.1, var=BLOCK, zone=bl.test"
            ),
            "{}",
            srv.log()
        );
    }
    assert!(!srv.log().contains("REPORT-ENV"), "{}", srv.log());
    drop(srv);
    // An address the list does not know is served, with no list variables.
    let srv = s.tcpd(&["-block=nx.test", "-drop"], &[]);
    let r = report(&srv);
    assert_eq!(vars(&r, &["BLOCK", "ALLOW"]), Vec::<String>::new());
    assert_eq!(r.var("TCPREMOTEIP"), "::ffff:127.0.0.1");
    assert!(
        s.dns
            .queries()
            .contains(&("1.0.0.127.nx.test".to_string(), TYPE_A)),
        "{:?}",
        s.dns.queries()
    );
}

#[test]
fn unanswering_dns_server_counts_as_not_listed() {
    let t = "unanswering_dns_server_counts_as_not_listed";
    if !ours_only(t) {
        return;
    }
    let Some(s) = setup(t, true) else { return };
    let srv = s.tcpd(&["-block=bl.test,X,m", "-drop=X"], &[]);
    let r = report(&srv);
    assert_eq!(vars(&r, &["X"]), Vec::<String>::new());
    let line = format!(
        "WARN: DNS access list bl.test: 1.0.0.127.bl.test: no answer from {}; \
         ::ffff:127.0.0.1 treated as not listed",
        s.dns.ip
    );
    assert!(srv.wait_log(&line, Duration::from_secs(5)), "{}", srv.log());
    // Asked more than once (retried), never answered.
    let q = s.dns.queries();
    assert!(q.len() >= 2, "{q:?}");
}
