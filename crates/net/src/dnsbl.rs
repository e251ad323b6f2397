//! couriertcpd's DNS access lists: `-block=ZONE[=DISPLAY][,VAR[/IP][,MSG]]`,
//! `-allow=...` (the same syntax) and `-drop[=VAR[,VAR...]]` (couriertcpd(1),
//! "DNS ACCESS LISTS"; couriertcpd(8) of this project for the differences).
//!
//! For each list, in command-line order, unless VAR (default `BLOCK`) is already in
//! the environment (inherited, from the access file, or set by an earlier list):
//! look up the A record of `<peer>.<ZONE>`, where `<peer>` is `d.c.b.a` for an IPv4
//! (or IPv4-mapped) address `a.b.c.d` and the 32 reversed hexadecimal nybbles of an
//! IPv6 address. The address is listed when an A record exists (equal to IP when
//! `/IP` is given), or, for lists that ask for TXT records and have no `/IP`, when a
//! TXT record exists. On a hit:
//!
//! | list | VAR | also |
//! |---|---|---|
//! | `-block`, MSG given (not `*`) | MSG, its first `@` replaced by the peer address | `VAR_IP`, `VAR_ZONE` |
//! | `-block`, no MSG, empty MSG or `*` | the TXT record, else `Blacklisted by ZONE` | `VAR_IP`, `VAR_TXT`, `VAR_ZONE` |
//! | `-allow`, no MSG | empty | `VAR_IP`, `VAR_ZONE`, `ALLOW_<n>=VAR` |
//! | `-allow`, MSG given (even empty) | empty | `VAR_IP`, `VAR_TXT`, `VAR_ZONE`, `ALLOW_<n>=VAR` |
//!
//! `VAR_IP` only when an A record matched, `VAR_TXT` only when a TXT record was
//! found, `VAR_ZONE` = DISPLAY or ZONE; `<n>` counts the connection's -allow hits
//! from 0. A lookup that fails (no answer in time, SERVFAIL, garbage) counts as
//! "not listed" and is reported as a log line.
//!
//! Sans I/O: the lookups go through [`Lookup`], the environment through [`Vars`].

use crate::addr::ip_text;
use crate::dns::{self, Answer, Rdata, Resolver};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

/// `-block` or `-allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-block`
    Block,
    /// `-allow`
    Allow,
}

impl Kind {
    /// The option's name.
    pub fn option(self) -> &'static str {
        match self {
            Kind::Block => "block",
            Kind::Allow => "allow",
        }
    }
}

/// One `-block` / `-allow` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsList {
    /// Which option.
    pub kind: Kind,
    /// The zone queried.
    pub zone: String,
    /// `VAR_ZONE`'s value: DISPLAY, or the zone.
    pub display: String,
    /// The variable set (`BLOCK` when not given or empty).
    pub var: String,
    /// `/IP`: only this A record counts.
    pub ip: Option<Ipv4Addr>,
    /// The third component, when present (may be empty).
    pub msg: Option<Vec<u8>>,
}

/// The variable the lists and `-drop` use by default.
pub const DEFAULT_VAR: &str = "BLOCK";

impl DnsList {
    /// Parses the option's value (the text after `-block=` / `-allow=`), splitting it
    /// as Courier does: `ZONE[=DISPLAY]` ends at the first `,` or `/`; `/IP` may follow
    /// the zone or the variable; MSG is everything after the next `,` (commas
    /// included). Refuses (with the reason) an invalid zone, a variable name with `=`,
    /// and an IP that is not a dotted IPv4 address.
    pub fn parse(kind: Kind, value: &[u8]) -> Result<DnsList, String> {
        let n = value.len();
        let seg_end = value
            .iter()
            .position(|&c| c == b'/' || c == b',')
            .unwrap_or(n);
        let seg = &value[..seg_end];
        let (zone, display) = match seg.iter().position(|&c| c == b'=') {
            Some(first) => {
                let last = seg.iter().rposition(|&c| c == b'=').unwrap_or(first);
                (&seg[..first], &seg[last + 1..])
            }
            None => (seg, &b""[..]),
        };
        let mut p = seg_end;
        let mut var: &[u8] = b"";
        if value.get(p) == Some(&b',') {
            p += 1;
            let end = value[p..]
                .iter()
                .position(|&c| c == b',' || c == b'/')
                .map_or(n, |k| p + k);
            var = &value[p..end];
            p = end;
        }
        let mut ip = None;
        if value.get(p) == Some(&b'/') {
            p += 1;
            let end = value[p..]
                .iter()
                .position(|&c| c == b',')
                .map_or(n, |k| p + k);
            let text = String::from_utf8_lossy(&value[p..end]);
            ip = Some(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| format!("invalid IPv4 address after '/': {text}"))?,
            );
            p = end;
        }
        let msg = (value.get(p) == Some(&b',')).then(|| value[p + 1..].to_vec());

        let zone = std::str::from_utf8(zone)
            .map_err(|_| "the DNS zone is not valid text".to_string())?
            .to_string();
        if zone.is_empty() {
            return Err("no DNS zone".into());
        }
        // The longest query name (an IPv6 peer) must be a valid domain name.
        dns::Name::parse(&query_name(Ipv6Addr::UNSPECIFIED, &zone))
            .map_err(|e| format!("invalid DNS zone {zone}: {e}"))?;
        let display = match String::from_utf8_lossy(display).into_owned() {
            d if d.is_empty() => zone.clone(),
            d => d,
        };
        let var = match std::str::from_utf8(var) {
            Ok("") => DEFAULT_VAR.to_string(),
            Ok(v) if !v.contains('=') => v.to_string(),
            _ => {
                return Err(format!(
                    "invalid variable name: {}",
                    String::from_utf8_lossy(var)
                ));
            }
        };
        Ok(DnsList {
            kind,
            zone,
            display,
            var,
            ip,
            msg,
        })
    }

    /// The fixed text of a `-block` with a message (`*` and empty ask for TXT).
    fn fixed_message(&self) -> Option<&[u8]> {
        match (&self.kind, &self.msg) {
            (Kind::Block, Some(m)) if !m.is_empty() && m.as_slice() != b"*" => Some(m),
            _ => None,
        }
    }

    /// Whether the TXT record is looked up too.
    fn wants_txt(&self) -> bool {
        match self.kind {
            Kind::Block => self.fixed_message().is_none(),
            Kind::Allow => self.msg.is_some(),
        }
    }
}

/// The name looked up for `peer` in `zone`: `d.c.b.a.ZONE` for IPv4 and IPv4-mapped
/// addresses, the reversed nybbles (`1.0.0.0....ZONE`, RFC 5782) for IPv6.
pub fn query_name(peer: Ipv6Addr, zone: &str) -> String {
    if let Some(v4) = peer.to_ipv4_mapped() {
        let [a, b, c, d] = v4.octets();
        return format!("{d}.{c}.{b}.{a}.{zone}");
    }
    let mut s = String::with_capacity(64 + zone.len());
    for byte in peer.octets().iter().rev() {
        s.push_str(&format!("{:x}.{:x}.", byte & 0x0F, byte >> 4));
    }
    s.push_str(zone);
    s
}

/// The lookups, as the checks see them: an answer or a failure text for the log.
pub trait Lookup {
    /// `qtype` ([`dns::TYPE_A`] or [`dns::TYPE_TXT`]) records of `name`.
    fn lookup(&mut self, name: &str, qtype: u16) -> Result<Answer, String>;
}

/// Real lookups through `resolver`, all finished by `deadline` (one budget for all
/// the lists of a connection).
pub struct DnsLookup {
    /// Where to ask.
    pub resolver: Resolver,
    /// When to stop asking.
    pub deadline: Instant,
}

impl Lookup for DnsLookup {
    fn lookup(&mut self, name: &str, qtype: u16) -> Result<Answer, String> {
        let n = dns::Name::parse(name).map_err(|e| format!("{name}: {e}"))?;
        self.resolver
            .lookup(&n, qtype, self.deadline)
            .map_err(|e| e.to_string())
    }
}

/// The environment the checks read and write.
pub trait Vars {
    /// The value of `name`, when set.
    fn get(&self, name: &str) -> Option<&[u8]>;
    /// Sets (or replaces) `name`.
    fn set(&mut self, name: &str, value: &[u8]);
}

/// A TXT record as an environment value: cut at a NUL (as Courier's C strings are),
/// other control characters made spaces.
fn env_text(txt: &[u8]) -> Vec<u8> {
    txt.iter()
        .take_while(|&&b| b != 0)
        .map(|&b| if b < b' ' || b == 0x7f { b' ' } else { b })
        .collect()
}

/// `msg` with its first `@` replaced by `ip`.
fn with_ip(msg: &[u8], ip: &str) -> Vec<u8> {
    match msg.iter().position(|&b| b == b'@') {
        Some(i) => [&msg[..i], ip.as_bytes(), &msg[i + 1..]].concat(),
        None => msg.to_vec(),
    }
}

/// Runs `lists` for `peer` in order, setting variables in `vars`. Returns the log
/// lines (failed lookups), each naming the zone and the peer.
pub fn check(
    lists: &[DnsList],
    peer: Ipv6Addr,
    vars: &mut impl Vars,
    lookup: &mut impl Lookup,
) -> Vec<String> {
    let mut log = Vec::new();
    let mut allows = 0usize;
    let peer_text = ip_text(peer);
    let failed = |zone: &str, e: &str| {
        format!("DNS access list {zone}: {e}; {peer_text} treated as not listed")
    };
    for list in lists {
        if vars.get(&list.var).is_some() {
            continue;
        }
        let name = query_name(peer, &list.zone);
        let a = match lookup.lookup(&name, dns::TYPE_A) {
            Ok(Answer::NxDomain) => continue,
            Ok(Answer::NoData) => None,
            Ok(Answer::Records(rs)) => rs.into_iter().find_map(|r| match r {
                Rdata::A(ip) if list.ip.is_none_or(|want| want == ip) => Some(ip),
                _ => None,
            }),
            Err(e) => {
                log.push(failed(&list.zone, &e));
                continue;
            }
        };
        if a.is_none() && (list.ip.is_some() || !list.wants_txt()) {
            continue;
        }
        let txt = if list.wants_txt() {
            match lookup.lookup(&name, dns::TYPE_TXT) {
                Ok(Answer::Records(rs)) => rs.into_iter().find_map(|r| match r {
                    Rdata::Txt(t) => Some(env_text(&t)),
                    _ => None,
                }),
                Ok(_) => None,
                Err(e) => {
                    log.push(failed(&list.zone, &e));
                    None
                }
            }
        } else {
            None
        };
        if a.is_none() && txt.is_none() {
            continue;
        }
        let value = match (list.kind, list.fixed_message(), &txt) {
            (Kind::Allow, _, _) => Vec::new(),
            (Kind::Block, Some(m), _) => with_ip(m, &peer_text),
            (Kind::Block, None, Some(t)) => t.clone(),
            (Kind::Block, None, None) => format!("Blacklisted by {}", list.zone).into_bytes(),
        };
        let var = &list.var;
        vars.set(var, &value);
        vars.set(&format!("{var}_ZONE"), list.display.as_bytes());
        if let Some(ip) = a {
            vars.set(&format!("{var}_IP"), ip.to_string().as_bytes());
        }
        if let Some(t) = &txt {
            vars.set(&format!("{var}_TXT"), t);
        }
        if list.kind == Kind::Allow {
            vars.set(&format!("ALLOW_{allows}"), var.as_bytes());
            allows += 1;
        }
    }
    log
}

/// `-drop[=VAR[,VAR...]]`: the variables that, when non-empty, close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropVars(pub Vec<String>);

impl DropVars {
    /// Parses the option's value: empty means `BLOCK`; empty items are skipped.
    pub fn parse(value: &[u8]) -> DropVars {
        if value.is_empty() {
            return DropVars(vec![DEFAULT_VAR.to_string()]);
        }
        DropVars(
            value
                .split(|&b| b == b',')
                .filter(|v| !v.is_empty())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect(),
        )
    }

    /// The first variable that is set and not empty.
    pub fn triggered(&self, vars: &impl Vars) -> Option<&str> {
        self.0
            .iter()
            .find(|v| vars.get(v).is_some_and(|value| !value.is_empty()))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Env(BTreeMap<String, Vec<u8>>);

    impl Vars for Env {
        fn get(&self, name: &str) -> Option<&[u8]> {
            self.0.get(name).map(Vec::as_slice)
        }
        fn set(&mut self, name: &str, value: &[u8]) {
            self.0.insert(name.to_string(), value.to_vec());
        }
    }

    impl Env {
        fn text(&self) -> Vec<String> {
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
                .collect()
        }
    }

    /// Answers from a table; names not in it do not exist; "dead" zones fail.
    #[derive(Default)]
    struct Table {
        records: BTreeMap<String, Vec<Rdata>>,
        asked: Vec<(String, u16)>,
    }

    impl Table {
        fn with(mut self, name: &str, rs: Vec<Rdata>) -> Table {
            self.records.insert(name.to_string(), rs);
            self
        }
    }

    impl Lookup for Table {
        fn lookup(&mut self, name: &str, qtype: u16) -> Result<Answer, String> {
            self.asked.push((name.to_string(), qtype));
            if name.ends_with(".dead.test") {
                return Err(format!("{name}: no answer from 127.0.0.1"));
            }
            let Some(rs) = self.records.get(name) else {
                return Ok(Answer::NxDomain);
            };
            let rs: Vec<Rdata> = rs
                .iter()
                .filter(|r| match r {
                    Rdata::A(_) => qtype == dns::TYPE_A,
                    Rdata::Txt(_) => qtype == dns::TYPE_TXT,
                })
                .cloned()
                .collect();
            Ok(if rs.is_empty() {
                Answer::NoData
            } else {
                Answer::Records(rs)
            })
        }
    }

    fn a(s: &str) -> Rdata {
        Rdata::A(s.parse().unwrap())
    }
    fn txt(s: &str) -> Rdata {
        Rdata::Txt(s.as_bytes().to_vec())
    }

    const LOCAL: &str = "::ffff:127.0.0.1";

    fn table() -> Table {
        Table::default()
            .with(
                "1.0.0.127.bl.test",
                vec![a("127.0.0.2"), txt("listed in bl")],
            )
            .with("1.0.0.127.aonly.test", vec![a("127.0.0.3")])
            .with("1.0.0.127.txtonly.test", vec![txt("only txt")])
            .with("1.0.0.127.wl.test", vec![a("127.0.0.10"), txt("white")])
            .with("1.0.0.127.multi.test", vec![a("127.0.0.2"), a("127.0.0.4")])
    }

    fn run(options: &[&str], env: &mut Env, t: &mut Table) -> Vec<String> {
        let lists: Vec<DnsList> = options
            .iter()
            .map(|o| {
                let (k, v) = o.split_once('=').unwrap();
                let kind = if k == "-block" {
                    Kind::Block
                } else {
                    Kind::Allow
                };
                DnsList::parse(kind, v.as_bytes()).unwrap()
            })
            .collect();
        check(&lists, LOCAL.parse().unwrap(), env, t)
    }

    fn vars(options: &[&str]) -> Vec<String> {
        let mut env = Env::default();
        let log = run(options, &mut env, &mut table());
        assert_eq!(log, Vec::<String>::new());
        env.text()
    }

    #[test]
    fn option_syntax() {
        let p = |v: &str| DnsList::parse(Kind::Block, v.as_bytes());
        let l = p("bl.test").unwrap();
        assert_eq!(
            (
                l.zone.as_str(),
                l.display.as_str(),
                l.var.as_str(),
                l.ip,
                l.msg
            ),
            ("bl.test", "bl.test", "BLOCK", None, None)
        );
        let l = p("bl.test=Shown,X/127.0.0.2,Go away, now / later").unwrap();
        assert_eq!(
            (l.zone.as_str(), l.display.as_str(), l.var.as_str()),
            ("bl.test", "Shown", "X")
        );
        assert_eq!(l.ip, Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(l.msg.as_deref(), Some(&b"Go away, now / later"[..]));
        // "/IP" right after the zone; then MSG.
        let l = p("bl.test/127.0.0.4,msg").unwrap();
        assert_eq!(
            (l.var.as_str(), l.ip),
            ("BLOCK", Some(Ipv4Addr::new(127, 0, 0, 4)))
        );
        assert_eq!(l.msg.as_deref(), Some(&b"msg"[..]));
        // Empty VAR is BLOCK; a trailing comma is an empty MSG.
        let l = p("bl.test,,").unwrap();
        assert_eq!(
            (l.var.as_str(), l.msg.as_deref()),
            ("BLOCK", Some(&b""[..]))
        );
        assert_eq!(p("bl.test,X").unwrap().msg, None);
        for bad in [
            "",
            ",X",
            "=D",
            "bl..test",
            "bl.test,X/1.2.3",
            "bl.test,X/x,m",
            "b l,X",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        assert!(
            p(&format!("{}.test", "a.".repeat(95))).is_err(),
            "too long for IPv6"
        );
    }

    #[test]
    fn query_names() {
        assert_eq!(
            query_name("::ffff:192.0.2.99".parse().unwrap(), "bl.test"),
            "99.2.0.192.bl.test"
        );
        assert_eq!(
            query_name("2001:db8:1:2::ab".parse().unwrap(), "bl.test"),
            "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test"
        );
    }

    #[test]
    fn block_without_message_uses_txt_or_the_default_text() {
        assert_eq!(
            vars(&["-block=bl.test"]),
            [
                "BLOCK=listed in bl",
                "BLOCK_IP=127.0.0.2",
                "BLOCK_TXT=listed in bl",
                "BLOCK_ZONE=bl.test"
            ]
        );
        assert_eq!(
            vars(&["-block=aonly.test=Shown"]),
            [
                "BLOCK=Blacklisted by aonly.test",
                "BLOCK_IP=127.0.0.3",
                "BLOCK_ZONE=Shown"
            ]
        );
        // A TXT record alone lists the address, unless an A record is required.
        assert_eq!(
            vars(&["-block=txtonly.test,X,*"]),
            ["X=only txt", "X_TXT=only txt", "X_ZONE=txtonly.test"]
        );
        assert_eq!(
            vars(&["-block=txtonly.test,X/127.0.0.2"]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn block_with_message_and_ip_filter() {
        assert_eq!(
            vars(&["-block=bl.test,X,Go @ away @"]),
            [
                "X=Go ::ffff:127.0.0.1 away @",
                "X_IP=127.0.0.2",
                "X_ZONE=bl.test"
            ]
        );
        assert_eq!(
            vars(&["-block=multi.test,X/127.0.0.4,m"]),
            ["X=m", "X_IP=127.0.0.4", "X_ZONE=multi.test"]
        );
        assert_eq!(
            vars(&["-block=multi.test,X/127.0.0.5,m"]),
            Vec::<String>::new()
        );
        // A fixed message needs no TXT lookup.
        let mut t = table();
        run(&["-block=bl.test,X,m"], &mut Env::default(), &mut t);
        assert_eq!(t.asked, [("1.0.0.127.bl.test".to_string(), dns::TYPE_A)]);
    }

    #[test]
    fn allow_sets_an_empty_variable_and_stops_later_checks_of_it() {
        let mut t = table();
        let mut env = Env::default();
        let log = run(
            &["-allow=wl.test", "-block=bl.test", "-block=bl.test,OTHER,m"],
            &mut env,
            &mut t,
        );
        assert!(log.is_empty());
        assert_eq!(
            env.text(),
            [
                "ALLOW_0=BLOCK",
                "BLOCK=",
                "BLOCK_IP=127.0.0.10",
                "BLOCK_ZONE=wl.test",
                "OTHER=m",
                "OTHER_IP=127.0.0.2",
                "OTHER_ZONE=bl.test"
            ]
        );
        // bl.test was asked once, for OTHER only; wl.test's TXT was not asked.
        assert_eq!(t.asked.len(), 2, "{:?}", t.asked);
        // With a (dummy) message, -allow fetches the TXT record too.
        assert_eq!(
            vars(&["-allow=wl.test,W,", "-allow=txtonly.test,T,x"]),
            [
                "ALLOW_0=W",
                "ALLOW_1=T",
                "T=",
                "T_TXT=only txt",
                "T_ZONE=txtonly.test",
                "W=",
                "W_IP=127.0.0.10",
                "W_TXT=white",
                "W_ZONE=wl.test"
            ]
        );
    }

    #[test]
    fn variables_already_set_skip_the_lookup() {
        let mut t = table();
        let mut env = Env::default();
        env.set("BLOCK", b"");
        run(&["-block=bl.test"], &mut env, &mut t);
        assert!(t.asked.is_empty());
        assert_eq!(env.text(), ["BLOCK="]);
    }

    #[test]
    fn unlisted_and_failed_lookups_set_nothing() {
        assert_eq!(
            vars(&["-block=nx.test", "-allow=nx2.test"]),
            Vec::<String>::new()
        );
        let mut env = Env::default();
        let log = run(
            &["-block=dead.test", "-block=bl.test,X,m"],
            &mut env,
            &mut table(),
        );
        assert_eq!(
            log,
            [
                "DNS access list dead.test: 1.0.0.127.dead.test: no answer from 127.0.0.1; \
              ::ffff:127.0.0.1 treated as not listed"
            ]
        );
        assert_eq!(env.text(), ["X=m", "X_IP=127.0.0.2", "X_ZONE=bl.test"]);
    }

    #[test]
    fn ipv6_peers_use_nybble_names() {
        let peer: Ipv6Addr = "::1".parse().unwrap();
        let name = query_name(peer, "bl6.test");
        let mut t = Table::default().with(&name, vec![a("127.0.0.2")]);
        let mut env = Env::default();
        let lists = [DnsList::parse(Kind::Block, b"bl6.test,X,m @").unwrap()];
        check(&lists, peer, &mut env, &mut t);
        assert_eq!(env.text(), ["X=m ::1", "X_IP=127.0.0.2", "X_ZONE=bl6.test"]);
    }

    #[test]
    fn txt_values_are_safe_environment_text() {
        assert_eq!(env_text(b"a\r\nb\tc\x7f"), b"a  b c ");
        assert_eq!(env_text(b"cut\0here"), b"cut");
    }

    #[test]
    fn drop_variables() {
        let mut env = Env::default();
        assert_eq!(DropVars::parse(b""), DropVars(vec!["BLOCK".into()]));
        assert_eq!(
            DropVars::parse(b"A,,B"),
            DropVars(vec!["A".into(), "B".into()])
        );
        assert_eq!(DropVars::parse(b","), DropVars(vec![]));
        let d = DropVars::parse(b"A,B");
        assert_eq!(d.triggered(&env), None);
        env.set("A", b"");
        assert_eq!(d.triggered(&env), None, "empty does not drop");
        env.set("B", b"go away");
        assert_eq!(d.triggered(&env), Some("B"));
    }
}
