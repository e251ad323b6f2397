//! couriertcpd's command line (programs.md "couriertcpd"; couriertcpd(8)).
//!
//! Courier's option syntax ([`courier_net::args`]); numeric options read like C `atoi`
//! and are checked with Courier's messages.

use courier_net::args::{self, atoi};
use courier_net::dnsbl::{DnsList, DropVars, Kind};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

/// Every option couriertcpd knows, in Courier's table order (matters for prefixes).
pub const OPTIONS: &[&str] = &[
    "access",
    "accesslocal",
    "denymsg",
    "drop",
    "address",
    "block",
    "allow",
    "group",
    "listen",
    "maxperc",
    "maxperip",
    "maxprocs",
    "warn",
    "nodnslookup",
    "noidentlookup",
    "pid",
    "restart",
    "stderr",
    "stderrlogger",
    "stderrloggername",
    "stop",
    "user",
    "proxy",
    // Ours: expect a PROXY protocol v1/v2 header (optional value: timeout in seconds).
    "haproxy",
];

/// How long `-haproxy` waits for the header by default.
pub const DEFAULT_HAPROXY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `-pid=FILE -stop`
    Stop(PathBuf),
    /// `-pid=FILE -restart`
    Restart(PathBuf),
    /// Serve.
    Serve(Box<Config>),
}

/// The server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `-pid=FILE`: daemonize, lock `FILE.lock`, write the pid.
    pub pid: Option<PathBuf>,
    /// `-address`
    pub address: Option<String>,
    /// `-maxprocs`
    pub maxprocs: usize,
    /// `-warn` when valid (0..=maxprocs).
    pub warn: Option<usize>,
    /// `-maxperip`
    pub maxperip: usize,
    /// `-maxperc`
    pub maxperc: Option<usize>,
    /// `-listen` (backlog)
    pub listen: Option<i32>,
    /// `-access`
    pub access: Option<PathBuf>,
    /// `-accesslocal`
    pub accesslocal: bool,
    /// `-denymsg`
    pub denymsg: Option<OsString>,
    /// `-nodnslookup`
    pub nodnslookup: bool,
    /// `-noidentlookup`
    pub noidentlookup: bool,
    /// `-stderr=socket|FILE`
    pub stderr: Option<OsString>,
    /// `-stderrlogger`
    pub stderrlogger: Option<OsString>,
    /// `-stderrloggername`
    pub stderrloggername: Option<OsString>,
    /// `-user`
    pub user: Option<String>,
    /// `-group`
    pub group: Option<String>,
    /// `-haproxy[=SECONDS]`
    pub haproxy: Option<Duration>,
    /// `-block` and `-allow`, in command-line order.
    pub lists: Vec<DnsList>,
    /// `-drop[=VAR,...]`
    pub drop: Option<DropVars>,
    /// PORTLIST
    pub ports: String,
    /// PROGRAM
    pub program: OsString,
    /// argv of PROGRAM, argv\[0\] included (the program path as given).
    pub args: Vec<OsString>,
}

/// A command line couriertcpd refuses; the text is what goes to stderr (after
/// `argv0: ` where Courier puts it) and the exit code is always 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

fn text(v: &OsStr) -> String {
    v.to_string_lossy().into_owned()
}

fn positive(p: &args::Parsed, name: &str, message: &str) -> Result<Option<usize>, Refused> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => match usize::try_from(atoi(v)) {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(Refused(message.to_string())),
        },
    }
}

/// Parses argv (argv\[0\] included).
pub fn parse(argv: &[OsString]) -> Result<Mode, Refused> {
    let argv0 = argv
        .first()
        .map(|a| text(a))
        .unwrap_or_else(|| "couriertcpd".into());
    let p = args::parse(argv, OPTIONS).map_err(|e| Refused(format!("{argv0}: {e}")))?;
    let pid = p.get("pid").map(PathBuf::from);
    if p.has("stop") || p.has("restart") {
        let Some(pid) = pid else {
            return Err(Refused(format!("{argv0}: -pid argument is required.")));
        };
        return Ok(if p.has("stop") {
            Mode::Stop(pid)
        } else {
            Mode::Restart(pid)
        });
    }
    let operands = &argv[p.operands_at.min(argv.len())..];
    if operands.len() < 2 {
        return Err(Refused(format!(
            "Usage: {argv0} [options] port prog arg1 arg2..."
        )));
    }
    let mut lists = Vec::new();
    for (name, value) in &p.options {
        let kind = match *name {
            "block" => Kind::Block,
            "allow" => Kind::Allow,
            _ => continue,
        };
        let list = DnsList::parse(kind, value.as_bytes()).map_err(|e| {
            Refused(format!(
                "{argv0}: -{}={}: {e}",
                kind.option(),
                value.to_string_lossy()
            ))
        })?;
        lists.push(list);
    }
    let drop = p.get("drop").map(|v| DropVars::parse(v.as_bytes()));
    let maxprocs = positive(&p, "maxprocs", "Invalid -maxprocsarg option.")?.unwrap_or(40);
    let warn = p
        .get("warn")
        .map(atoi)
        .and_then(|w| usize::try_from(w).ok())
        .filter(|w| *w <= maxprocs);
    let maxperc = positive(&p, "maxperc", "Invalid -maxperc option.")?;
    let maxperip = positive(&p, "maxperip", "Invalid -maxperip option.")?.unwrap_or(4);
    let listen = positive(&p, "listen", "Invalid -listen option.")?
        .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let haproxy = p.get("haproxy").map(|v| match atoi(v) {
        n if n > 0 => Duration::from_secs(n.unsigned_abs()),
        _ => DEFAULT_HAPROXY_TIMEOUT,
    });
    Ok(Mode::Serve(Box::new(Config {
        pid,
        address: p.get("address").map(text),
        maxprocs,
        warn,
        maxperip,
        maxperc,
        listen,
        access: p.get("access").map(PathBuf::from),
        accesslocal: p.has("accesslocal"),
        denymsg: p.get("denymsg").map(OsStr::to_os_string),
        nodnslookup: p.has("nodnslookup"),
        noidentlookup: p.has("noidentlookup"),
        stderr: p.get("stderr").map(OsStr::to_os_string),
        stderrlogger: p.get("stderrlogger").map(OsStr::to_os_string),
        stderrloggername: p.get("stderrloggername").map(OsStr::to_os_string),
        user: p.get("user").map(text),
        group: p.get("group").map(text),
        haproxy,
        lists,
        drop,
        ports: text(&operands[0]),
        program: operands[1].clone(),
        args: operands[1..].to_vec(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &str) -> Vec<OsString> {
        words.split(' ').map(OsString::from).collect()
    }

    fn serve(words: &str) -> Config {
        match parse(&argv(words)) {
            Ok(Mode::Serve(c)) => *c,
            other => panic!("{words}: {other:?}"),
        }
    }

    #[test]
    fn refusals_with_courier_texts() {
        let cases: &[(&str, &str)] = &[
            (
                "couriertcpd",
                "Usage: couriertcpd [options] port prog arg1 arg2...",
            ),
            (
                "/usr/sbin/couriertcpd 143",
                "Usage: /usr/sbin/couriertcpd [options] port prog arg1 arg2...",
            ),
            (
                "couriertcpd -restrict 1 2",
                "couriertcpd: Invalid option: -restrict",
            ),
            (
                "couriertcpd -stop",
                "couriertcpd: -pid argument is required.",
            ),
            (
                "couriertcpd -restart 1 2",
                "couriertcpd: -pid argument is required.",
            ),
            (
                "couriertcpd -maxprocs=0 1 p",
                "Invalid -maxprocsarg option.",
            ),
            ("couriertcpd -maxprocs 1 p", "Invalid -maxprocsarg option."),
            ("couriertcpd -maxperip=x 1 p", "Invalid -maxperip option."),
            ("couriertcpd -maxperc=-1 1 p", "Invalid -maxperc option."),
            ("couriertcpd -listen=0 1 p", "Invalid -listen option."),
            (
                "couriertcpd -block=bl.test,X/1.2.3 1 p",
                "couriertcpd: -block=bl.test,X/1.2.3: invalid IPv4 address after '/': 1.2.3",
            ),
            (
                "couriertcpd -allow=,X 1 p",
                "couriertcpd: -allow=,X: no DNS zone",
            ),
        ];
        for (words, want) in cases {
            assert_eq!(
                parse(&argv(words)),
                Err(Refused(want.to_string())),
                "{words}"
            );
        }
    }

    #[test]
    fn defaults_and_values() {
        let c = serve("couriertcpd 143 /bin/prog a b");
        assert_eq!(
            (c.maxprocs, c.maxperip, c.warn, c.maxperc),
            (40, 4, None, None)
        );
        assert_eq!(c.ports, "143");
        assert_eq!(c.program, "/bin/prog");
        assert_eq!(c.args, argv("/bin/prog a b"));
        assert_eq!(c.haproxy, None);
        let c = serve(
            "couriertcpd -address=0 -maxprocs=10 -warn=11 -maxperip=20 -access=/a.dat -nodnslookup \
             -noidentlookup -haproxy -proxy -denymsg=go 143 p",
        );
        assert_eq!(c.address.as_deref(), Some("0"));
        assert_eq!((c.maxprocs, c.maxperip, c.warn), (10, 20, None));
        assert_eq!(c.access, Some(PathBuf::from("/a.dat")));
        assert!(c.nodnslookup && c.noidentlookup && !c.accesslocal);
        assert_eq!(c.haproxy, Some(DEFAULT_HAPROXY_TIMEOUT));
        assert_eq!(c.denymsg, Some(OsString::from("go")));
        assert_eq!(serve("couriertcpd -haproxy=2 -warn=3 1 p").warn, Some(3));
        assert_eq!(
            serve("couriertcpd -haproxy=2 1 p").haproxy,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse(&argv("couriertcpd -pid=/run/x.pid -stop")),
            Ok(Mode::Stop(PathBuf::from("/run/x.pid")))
        );
        assert_eq!(
            parse(&argv("couriertcpd -pid=/run/x.pid -restart")),
            Ok(Mode::Restart(PathBuf::from("/run/x.pid")))
        );
        // DNS lists in command-line order, -block and -allow interleaved.
        let c = serve("couriertcpd -block=a.test -allow=b.test,W, -block=c.test,X,m -drop 1 p");
        let zones: Vec<(Kind, &str)> = c.lists.iter().map(|l| (l.kind, l.zone.as_str())).collect();
        assert_eq!(
            zones,
            [
                (Kind::Block, "a.test"),
                (Kind::Allow, "b.test"),
                (Kind::Block, "c.test")
            ]
        );
        assert_eq!(c.drop, Some(DropVars(vec!["BLOCK".into()])));
        assert_eq!(
            serve("couriertcpd -drop=A,B 1 p").drop,
            Some(DropVars(vec!["A".into(), "B".into()]))
        );
        assert_eq!(serve("couriertcpd 1 p").drop, None);
        // A lone '-' ends the options.
        assert_eq!(serve("couriertcpd - -143 p").ports, "-143");
    }
}
