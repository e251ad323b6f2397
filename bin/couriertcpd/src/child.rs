//! The forked child of one connection: ident and DNS lookups, the program's
//! environment, fds 0/1 (and 2 with `-stderr=socket`) on the socket, exec.
//!
//! Environment order (Debian's couriertcpd, observed): inherited variables, access-file
//! variables, `TCPREMOTEINFO`, `TCPREMOTEIP`, `TCPREMOTEPORT`, `TCPREMOTEHOST`,
//! `TCPLOCALIP`, `TCPLOCALPORT`, `TCPLOCALHOST`, then the DNS access lists' variables;
//! a variable already present is replaced in place. (std's `Command` passes the
//! environment sorted by name; no program depends on the order.)
//!
//! Order of the work: the DNS access lists (`-block`, `-allow`) and `-drop` come
//! first, right after `TCPREMOTEIP`/`TCPREMOTEPORT`, so that a dropped connection
//! costs no ident or reverse lookup; all the lists of one connection share one time
//! budget ([`DNS_LIST_BUDGET`]).

use courier_common::{Severity, log};
use courier_net::addr::ip_text;
use courier_net::dns::Resolver;
use courier_net::dnsbl::{self, DnsList, DnsLookup, DropVars, Vars};
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the child needs to know.
pub struct Conn {
    /// The client socket.
    pub stream: TcpStream,
    /// The peer (the PROXY header's source under `-haproxy`).
    pub remote: (Ipv6Addr, u16),
    /// Our end (the PROXY header's destination under `-haproxy`).
    pub local: (Ipv6Addr, u16),
    /// The socket's real local address, for the ident query.
    pub socket_local: SocketAddr,
    /// Access-file variables.
    pub vars: Vec<(OsString, OsString)>,
}

/// Settings that shape the child.
pub struct ChildSettings<'a> {
    /// Skip TCPREMOTEHOST / TCPLOCALHOST.
    pub nodnslookup: bool,
    /// Skip TCPREMOTEINFO.
    pub noidentlookup: bool,
    /// `-stderr=socket`.
    pub stderr_socket: bool,
    /// `-block` / `-allow`, in order.
    pub lists: &'a [DnsList],
    /// `-drop`
    pub drop: Option<&'a DropVars>,
    /// `-denymsg`, also written before a `-drop` closes the connection.
    pub denymsg: Option<&'a OsStr>,
    /// PROGRAM
    pub program: &'a OsStr,
    /// argv of PROGRAM.
    pub args: &'a [OsString],
}

/// An environment under construction, in order.
#[derive(Default)]
pub struct Env(Vec<(OsString, OsString)>);

impl Env {
    /// The process's own environment.
    pub fn inherited() -> Env {
        Env(std::env::vars_os().collect())
    }

    /// `putenv`: replaces in place, or appends.
    pub fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        let (name, value) = (name.into(), value.into());
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// The variables, in order.
    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.0
    }
}

impl Vars for Env {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_bytes())
    }

    fn set(&mut self, name: &str, value: &[u8]) {
        Env::set(self, name, OsStr::from_bytes(value));
    }
}

/// The longest all the DNS access list lookups of one connection may take together;
/// what is not answered by then counts as "not listed".
pub const DNS_LIST_BUDGET: Duration = Duration::from_secs(5);

/// Reverse lookup confirmed by a forward one (Courier's `ip2host`): the name, `None`
/// when there is none, `softdnserr` when the resolver failed temporarily.
fn ip2host(ip: Ipv6Addr) -> Option<String> {
    let addr: IpAddr = match ip.to_ipv4_mapped() {
        Some(v4) => v4.into(),
        None => ip.into(),
    };
    let name = match dns_lookup::lookup_addr(&addr) {
        Ok(name) => name,
        Err(e) => {
            return matches!(e.kind(), dns_lookup::LookupErrorKind::Again)
                .then(|| "softdnserr".to_string());
        }
    };
    // getnameinfo returns the address itself when there is no name.
    if name.parse::<IpAddr>().is_ok() {
        return None;
    }
    match dns_lookup::lookup_host(&name) {
        Ok(mut addrs) => addrs.any(|a| a == addr).then_some(name),
        Err(e) if matches!(e.kind(), dns_lookup::LookupErrorKind::Again) => {
            Some("softdnserr".into())
        }
        Err(_) => None,
    }
}

/// RFC 1413 ident query (Courier's `tcpremoteinfo`): the user id the peer's identd
/// reports for this connection, within a few seconds, or nothing.
fn ident(remote: (Ipv6Addr, u16), socket_local: SocketAddr) -> Option<String> {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let ip = match remote.0.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(remote.0),
    };
    let mut s = TcpStream::connect_timeout(&SocketAddr::new(ip, 113), TIMEOUT).ok()?;
    s.set_read_timeout(Some(TIMEOUT)).ok()?;
    s.set_write_timeout(Some(TIMEOUT)).ok()?;
    write!(s, "{} , {}\r\n", remote.1, socket_local.port()).ok()?;
    let mut line = String::new();
    BufReader::new(s.take(1000)).read_line(&mut line).ok()?;
    // "<ports> : USERID : <os>[,charset] : <user>"
    let mut parts = line.trim_end().splitn(4, ':');
    let (_, kind, _, user) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (kind.trim() == "USERID")
        .then(|| user.trim().to_string())
        .filter(|u| !u.is_empty())
}

/// Runs in the child: never returns.
pub fn run(conn: Conn, settings: &ChildSettings<'_>) -> ! {
    // Signals were blocked for the daemon's signalfd: the child takes the defaults back
    // now, so a SIGTERM to the process group ends it even before the exec.
    let _ = nix::sys::signal::SigSet::all().thread_unblock();
    let mut env = Env::inherited();
    for (name, value) in &conn.vars {
        env.set(name.clone(), value.clone());
    }
    env.set("TCPREMOTEIP", ip_text(conn.remote.0));
    env.set("TCPREMOTEPORT", conn.remote.1.to_string());
    if !settings.lists.is_empty() {
        let mut lookup = DnsLookup {
            resolver: Resolver::system(),
            deadline: Instant::now() + DNS_LIST_BUDGET,
        };
        for line in dnsbl::check(settings.lists, conn.remote.0, &mut env, &mut lookup) {
            log(Severity::Warn, line);
        }
    }
    if let Some(var) = settings.drop.and_then(|d| d.triggered(&env)) {
        let mut line = format!(
            "dropped blocked connection from {}, var={var}",
            ip_text(conn.remote.0)
        );
        if let Some(zone) = Vars::get(&env, &format!("{var}_ZONE")) {
            line.push_str(&format!(", zone={}", String::from_utf8_lossy(zone)));
        }
        log(Severity::Warn, line);
        if let Some(msg) = settings.denymsg {
            let mut text = msg.as_bytes().to_vec();
            text.push(b'\n');
            let _ = (&conn.stream).write_all(&text);
        }
        std::process::exit(0);
    }
    if !settings.noidentlookup
        && let Some(user) = ident(conn.remote, conn.socket_local)
    {
        env.set("TCPREMOTEINFO", user);
    }
    if !settings.nodnslookup
        && let Some(host) = ip2host(conn.remote.0)
    {
        env.set("TCPREMOTEHOST", host);
    }
    env.set("TCPLOCALIP", ip_text(conn.local.0));
    env.set("TCPLOCALPORT", conn.local.1.to_string());
    if !settings.nodnslookup
        && let Some(host) = ip2host(conn.local.0)
    {
        env.set("TCPLOCALHOST", host);
    }
    let err = exec(conn.stream, &env, settings);
    eprintln!(
        "{}: {}",
        settings.program.to_string_lossy(),
        courier_common::strerror(&err)
    );
    std::process::exit(1);
}

fn exec(stream: TcpStream, env: &Env, settings: &ChildSettings<'_>) -> std::io::Error {
    let fail = |e: std::io::Error| e;
    let out = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // execv(), not execvp(): a name without '/' is relative to the current directory.
    let program = settings.program;
    let path: OsString = if program.as_bytes().contains(&b'/') {
        program.to_os_string()
    } else {
        let mut p = OsString::from("./");
        p.push(program);
        p
    };
    let mut cmd = Command::new(path);
    cmd.arg0(
        settings
            .args
            .first()
            .map(OsString::as_os_str)
            .unwrap_or(program),
    )
    .args(settings.args.iter().skip(1))
    .env_clear()
    .envs(env.vars().iter().map(|(n, v)| (n, v)));
    if settings.stderr_socket {
        match stream.try_clone() {
            Ok(e) => {
                cmd.stderr(Stdio::from(std::os::fd::OwnedFd::from(e)));
            }
            Err(e) => return fail(e),
        }
    }
    cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(stream)))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(out)));
    // Command::exec resets the signal mask and SIGPIPE to the default (std ignores it).
    cmd.exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_lists_see_and_set_the_environment() {
        let mut e = Env::default();
        e.set("BLOCK", "");
        assert_eq!(Vars::get(&e, "BLOCK"), Some(&b""[..]));
        assert_eq!(Vars::get(&e, "X"), None);
        Vars::set(&mut e, "X", b"m \xff");
        assert_eq!(Vars::get(&e, "X"), Some(&b"m \xff"[..]));
        let drop = DropVars(vec!["BLOCK".into(), "X".into()]);
        assert_eq!(drop.triggered(&e), Some("X"));
    }

    #[test]
    fn putenv_replaces_in_place() {
        let mut e = Env::default();
        e.set("A", "1");
        e.set("B", "2");
        e.set("A", "3");
        assert_eq!(
            e.vars(),
            &[
                (OsString::from("A"), OsString::from("3")),
                (OsString::from("B"), OsString::from("2"))
            ]
        );
    }
}
