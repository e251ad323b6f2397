//! couriertcpd's access file: which key is looked up for a peer, and what a value means
//! (formats.md §14; courier-libs `tcpd/tcpd.c`, the access check).
//!
//! Lookup order for a peer (first hit wins, most specific first):
//! - IPv4 (and IPv4-mapped) `A.B.C.D`: `A.B.C.D`, `A.B.C`, `A.B`, `A`, then `*`;
//! - IPv6: `:` + eight 4-digit groups, then the same with the last group cut off, down to
//!   one group, then `*`;
//! - with a port (the local address under `-accesslocal`): `A.B.C.D.PORT` first, the
//!   prefixes as above (the port is the first part to go), then `*.PORT`, then `*`.
//!
//! No hit: allowed, no variables. A value starting with `deny` denies. Otherwise the
//! value (after a leading `allow` and one `,`) is a comma-separated list of `NAME=value`
//! items exported to the program: `"` or `'` quote commas (the quotes are removed), a
//! bare `NAME` means `NAME=`, and blanks around each item are trimmed (blanks around the
//! `=` are kept, as Courier keeps them).

use crate::NetError;
use crate::addr::access_key;
use courier_userdb::dat::DatFile;
use std::ffi::OsString;
use std::net::Ipv6Addr;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// What the access file says about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Let it in, with these variables for the program's environment, in order.
    Allow(Vec<(OsString, OsString)>),
    /// Refuse it (`-denymsg` text, then close).
    Deny,
}

/// A decision and the key that produced it (`None`: no entry matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub access: Access,
    /// The key whose entry decided, for log lines.
    pub key: Option<String>,
}

/// The keys tried for `ip` (and `port`, for `-accesslocal`), most specific first.
pub fn lookup_keys(ip: Ipv6Addr, port: Option<u16>) -> Vec<String> {
    let mut buf = access_key(ip);
    if let Some(p) = port {
        buf.push_str(&format!(".{p}"));
    }
    let mut keys = Vec::new();
    loop {
        if !buf.is_empty() {
            keys.push(buf.clone());
        }
        // Courier cuts at the last '.', and only when there is none at the last ':'.
        match buf.rfind('.').or_else(|| buf.rfind(':')) {
            Some(cut) => buf.truncate(cut),
            None => break,
        }
    }
    if let Some(p) = port {
        keys.push(format!("*.{p}"));
    }
    keys.push("*".to_string());
    keys
}

/// Interprets one access-file value.
pub fn parse_action(value: &[u8]) -> Access {
    if value.starts_with(b"deny") {
        return Access::Deny;
    }
    let mut rest = value;
    if let Some(after) = rest.strip_prefix(b"allow") {
        rest = after.strip_prefix(b",").unwrap_or(after);
    }
    let mut vars: Vec<(OsString, OsString)> = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < rest.len() {
        let mut item = Vec::new();
        while i < rest.len() {
            let c = rest[i];
            i += 1;
            match quote {
                None if c == b',' => break,
                None if c == b'"' || c == b'\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ => item.push(c),
            }
        }
        if !item.contains(&b'=') {
            item.push(b'=');
        }
        let item = item.trim_ascii();
        let Some(eq) = item.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (&item[..eq], &item[eq + 1..]);
        // Courier would putenv("=x"); an empty name cannot be a variable.
        if name.is_empty() {
            continue;
        }
        let name = OsString::from_vec(name.to_vec());
        vars.retain(|(n, _)| *n != name);
        vars.push((name, OsString::from_vec(value.to_vec())));
    }
    Access::Allow(vars)
}

/// Something that maps access keys to values.
pub trait Lookup {
    /// The value stored under `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, NetError>;
}

impl Lookup for std::collections::HashMap<String, Vec<u8>> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, NetError> {
        Ok(std::collections::HashMap::get(self, key).cloned())
    }
}

/// Looks `ip` (and `port`) up in `db` in Courier's order.
pub fn check(db: &dyn Lookup, ip: Ipv6Addr, port: Option<u16>) -> Result<Verdict, NetError> {
    for key in lookup_keys(ip, port) {
        if let Some(value) = db.get(&key)? {
            return Ok(Verdict {
                access: parse_action(&value),
                key: Some(key),
            });
        }
    }
    Ok(Verdict {
        access: Access::Allow(Vec::new()),
        key: None,
    })
}

/// The compiled access database (`imapaccess.dat`), written by our makedat/makeimapaccess.
pub struct AccessDb {
    file: DatFile,
}

impl AccessDb {
    /// Opens and checks the header of the compiled file.
    pub fn open(path: &Path) -> Result<AccessDb, NetError> {
        DatFile::open(path)
            .map(|file| AccessDb { file })
            .map_err(|e| NetError::from_dat(path, e))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Lookup for AccessDb {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, NetError> {
        self.file
            .get(key.as_bytes())
            .map_err(|e| NetError::from_dat(&PathBuf::from(self.file.path()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv6Addr {
        Ipv4Addr::new(a, b, c, d).to_ipv6_mapped()
    }

    #[test]
    fn keys_for_ipv4_ipv6_and_ports() {
        let cases: &[(Ipv6Addr, Option<u16>, &[&str])] = &[
            (
                v4(192, 168, 0, 10),
                None,
                &["192.168.0.10", "192.168.0", "192.168", "192", "*"],
            ),
            (
                v4(127, 0, 0, 1),
                Some(143),
                &[
                    "127.0.0.1.143",
                    "127.0.0.1",
                    "127.0.0",
                    "127.0",
                    "127",
                    "*.143",
                    "*",
                ],
            ),
            (
                "2002:c0a8::1".parse().unwrap(),
                None,
                &[
                    ":2002:c0a8:0000:0000:0000:0000:0000:0001",
                    ":2002:c0a8:0000:0000:0000:0000:0000",
                    ":2002:c0a8:0000:0000:0000:0000",
                    ":2002:c0a8:0000:0000:0000",
                    ":2002:c0a8:0000:0000",
                    ":2002:c0a8:0000",
                    ":2002:c0a8",
                    ":2002",
                    "*",
                ],
            ),
            (
                Ipv6Addr::LOCALHOST,
                Some(993),
                &[
                    ":0000:0000:0000:0000:0000:0000:0000:0001.993",
                    ":0000:0000:0000:0000:0000:0000:0000:0001",
                    ":0000:0000:0000:0000:0000:0000:0000",
                    ":0000:0000:0000:0000:0000:0000",
                    ":0000:0000:0000:0000:0000",
                    ":0000:0000:0000:0000",
                    ":0000:0000:0000",
                    ":0000:0000",
                    ":0000",
                    "*.993",
                    "*",
                ],
            ),
        ];
        for (ip, port, want) in cases {
            assert_eq!(lookup_keys(*ip, *port), *want, "{ip} {port:?}");
        }
    }

    fn allow(vars: &[(&str, &str)]) -> Access {
        Access::Allow(
            vars.iter()
                .map(|(n, v)| (OsString::from(n), OsString::from(v)))
                .collect(),
        )
    }

    #[test]
    fn action_values() {
        let cases: &[(&[u8], Access)] = &[
            (b"deny", Access::Deny),
            (b"denyX", Access::Deny),
            (b"allow", allow(&[])),
            (b"1", allow(&[("1", "")])),
            (
                b"allow,FOO=bar,RELAYCLIENT,QUOTED=\"a,b\"",
                allow(&[("FOO", "bar"), ("RELAYCLIENT", ""), ("QUOTED", "a,b")]),
            ),
            // Observed on Debian's couriertcpd: blanks around '=' survive, outer ones go.
            (b"allow, SP = x y ,", allow(&[("SP ", " x y")])),
            (b"FOO=nodirective", allow(&[("FOO", "nodirective")])),
            (b"allowFOO=1", allow(&[("FOO", "1")])),
            (b"allow,A='x,\"y',B=2", allow(&[("A", "x,\"y"), ("B", "2")])),
            (b"allow,,=x,MAXCPERIP=3", allow(&[("MAXCPERIP", "3")])),
            (b"allow,A=1,A=2", allow(&[("A", "2")])),
        ];
        for (value, want) in cases {
            assert_eq!(
                &parse_action(value),
                want,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn most_specific_entry_wins() {
        let db: HashMap<String, Vec<u8>> = [
            ("*", "deny"),
            ("10", "allow,LEVEL=a"),
            ("10.1", "allow,LEVEL=ab"),
            ("10.1.2", "allow,LEVEL=abc"),
            ("10.1.2.3", "deny"),
            (":2001:0db8", "allow,LEVEL=v6"),
            ("127.0.0.1.143", "deny"),
            ("*.993", "allow,TLSPORT=1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
        let cases: &[(Ipv6Addr, Option<u16>, Access, Option<&str>)] = &[
            (v4(10, 1, 2, 3), None, Access::Deny, Some("10.1.2.3")),
            (
                v4(10, 1, 2, 4),
                None,
                allow(&[("LEVEL", "abc")]),
                Some("10.1.2"),
            ),
            (
                v4(10, 1, 3, 4),
                None,
                allow(&[("LEVEL", "ab")]),
                Some("10.1"),
            ),
            (v4(10, 9, 3, 4), None, allow(&[("LEVEL", "a")]), Some("10")),
            (v4(11, 9, 3, 4), None, Access::Deny, Some("*")),
            (
                "2001:db8::5".parse().unwrap(),
                None,
                allow(&[("LEVEL", "v6")]),
                Some(":2001:0db8"),
            ),
            (
                v4(127, 0, 0, 1),
                Some(143),
                Access::Deny,
                Some("127.0.0.1.143"),
            ),
            (
                v4(127, 0, 0, 1),
                Some(993),
                allow(&[("TLSPORT", "1")]),
                Some("*.993"),
            ),
        ];
        for (ip, port, access, key) in cases {
            let v = check(&db, *ip, *port).unwrap();
            assert_eq!(&v.access, access, "{ip}");
            assert_eq!(v.key.as_deref(), *key, "{ip}");
        }
        let empty: HashMap<String, Vec<u8>> = HashMap::new();
        assert_eq!(
            check(&empty, v4(1, 2, 3, 4), None).unwrap(),
            Verdict {
                access: allow(&[]),
                key: None
            }
        );
    }
}
