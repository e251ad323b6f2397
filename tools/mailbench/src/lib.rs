//! mailbench: an IMAP and POP3 benchmark and load client that can point at any
//! server (ours, Debian's Courier, Dovecot) on loopback.
//!
//! Owns: the benchmark rows (SELECT cold/warm, FETCH 1:*, COPY/MOVE of
//! scattered messages, APPEND, EXPUNGE, IDLE delivery latency, memory of idle
//! sessions, POP3 download of a whole maildir) and a load generator (`login`,
//! `session`) with a bounded number of clients and a bounded run time.
//!
//! Does not: start or configure servers, or reset their data (the
//! `--before-each` shell command does that, outside the timed part; see
//! scripts/bench-imap and scripts/bench-pop3). Certificates are not verified:
//! it is a loopback benchmarking tool.
//!
//! Output: one JSON line per row on stdout (`row`, `server`, `unit`, `reps`,
//! `median`, `min`, `max`, `p90`, `ops`, `ops_per_s`, `note`, row extras), and
//! one human sentence per row on stderr.

#![forbid(unsafe_code)]

pub mod imap;
pub mod load;
pub mod mem;
pub mod msggen;
pub mod net;
pub mod pop3;
pub mod rows;
pub mod stats;

use imap::Target;
use net::TlsMode;
use std::path::PathBuf;
use std::time::Duration;

/// What went wrong, and whose fault it likely is.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Bad command line: the caller's.
    Usage(String),
    /// The server answered something unexpected or refused a command.
    Protocol(String),
    /// A socket or file operation failed; `what` names the peer or file.
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn usage(s: impl Into<String>) -> Error {
        Error::Usage(s.into())
    }
    pub fn protocol(s: impl Into<String>) -> Error {
        Error::Protocol(s.into())
    }
    pub fn io(what: String, source: std::io::Error) -> Error {
        Error::Io { what, source }
    }
    /// 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(s) => write!(f, "usage: {s} (see --help)"),
            Error::Protocol(s) => write!(f, "{s}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {}

pub const HELP: &str = "\
mailbench ROW [options]: IMAP/POP3 benchmark rows and load against any server.

Rows (JSON line per row on stdout, a sentence on stderr):
  select   SELECT --mailbox in a new session: select_first (after --before-each) and
           select_second (a second session right after)
  fetch    FETCH 1:* --items in one session, --reps times
  copy     COPY --count scattered messages of --mailbox to --dest; with --move: MOVE,
           or COPY+STORE \\Deleted+EXPUNGE when the server has no MOVE (noted)
  append   APPEND --count generated messages (1-50 KiB, MIME, threads) to --mailbox
  expunge  EXPUNGE --count messages flagged \\Deleted (fills --mailbox first if needed)
  idle     delivery -> `* n EXISTS` latency in IDLE; delivery into --maildir DIR
           (tmp/ then rename into new/) or by piping to --deliver-cmd CMD
  memory   PSS of the server processes of --sessions logged-in sessions (INBOX
           selected); processes = new descendants of --server-pid and/or processes
           whose environment holds --env-marker KEY=VALUE
  pop3     POP3 STAT + UIDL + RETR of every message
  login    load: --clients threads repeat connect/LOGIN/LOGOUT for --seconds
  session  load: connect/LOGIN/SELECT/FETCH/NOOP/LOGOUT loops (POP3 with --pop3)

Options:
  --host H (127.0.0.1)  --port P (143; 110 for pop3)  --tls none|starttls|tls (none)
  --user U --pass P     ({n} in both is replaced by the user number, see --users)
  --users A-B           user numbers for memory/login/session (default: --user as is)
  --mailbox M (INBOX)   --dest M   --items \"(UID FLAGS RFC822.SIZE)\"   --count N
  --reps N (5)          --before-each CMD (sh -c, untimed, before every repetition)
  --label NAME          who is measured (JSON \"server\")   --row NAME (JSON \"row\")
  --maildir DIR  --deliver-cmd CMD  --wait S (10)  --settle-ms MS (300)
  --sessions N (200)  --server-pid PID (repeatable)  --env-marker K=V
  --clients N (8, at most 2000)  --seconds S (10, at most 3600)  --max-ops N  --pop3
  --seed N (1)  --timeout S (300: socket timeout)  --warmup N (1: untimed FETCHes first)
  --budget S            start no repetition after S seconds (one always runs; pop3
                        stops a repetition there too and reports the partial rate)
  --pipeline N (1)      pop3: RETR commands sent ahead (RFC 2449 PIPELINING)
";

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Opts {
    pub cmd: String,
    pub target: Target,
    pub label: String,
    pub row: Option<String>,
    pub user: String,
    pub pass: String,
    pub users: Option<(u32, u32)>,
    pub mailbox: String,
    pub dest: String,
    pub items: String,
    pub count: usize,
    pub reps: usize,
    pub before: Option<String>,
    pub mv: bool,
    pub maildir: Option<PathBuf>,
    pub deliver_cmd: Option<String>,
    pub wait: f64,
    pub settle_ms: u64,
    pub sessions: usize,
    pub roots: Vec<u32>,
    pub marker: Option<String>,
    pub clients: usize,
    pub seconds: f64,
    pub max_ops: Option<u64>,
    pub pop3: bool,
    pub seed: u64,
    /// Untimed runs before the timed ones (fetch).
    pub warmup: usize,
    /// No new repetition starts after this long (at least one always runs).
    pub budget: Option<Duration>,
    /// POP3 RETR commands in flight at once (RFC 2449 PIPELINING); 1 = none.
    pub pipeline: usize,
}

fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, Error> {
    v.parse()
        .map_err(|_| Error::usage(format!("{k} {v}: not a number")))
}

impl Opts {
    pub fn parse(args: &[String]) -> Result<Opts, Error> {
        let cmd = args
            .first()
            .cloned()
            .ok_or_else(|| Error::usage("no row given"))?;
        let mut o = Opts {
            cmd: cmd.clone(),
            target: Target {
                host: "127.0.0.1".into(),
                port: 0,
                tls: TlsMode::None,
                timeout: Duration::from_secs(300),
            },
            label: "server".into(),
            row: None,
            user: String::new(),
            pass: String::new(),
            users: None,
            mailbox: "INBOX".into(),
            dest: String::new(),
            items: "(UID FLAGS RFC822.SIZE)".into(),
            count: 0,
            reps: 5,
            before: None,
            mv: false,
            maildir: None,
            deliver_cmd: None,
            wait: 10.0,
            settle_ms: 300,
            sessions: 200,
            roots: Vec::new(),
            marker: None,
            clients: 8,
            seconds: 10.0,
            max_ops: None,
            pop3: cmd == "pop3",
            seed: 1,
            warmup: 1,
            budget: None,
            pipeline: 1,
        };
        let mut it = args[1..].iter();
        while let Some(k) = it.next() {
            match k.as_str() {
                "--move" => {
                    o.mv = true;
                    continue;
                }
                "--pop3" => {
                    o.pop3 = true;
                    continue;
                }
                _ => {}
            }
            let v = it
                .next()
                .ok_or_else(|| Error::usage(format!("{k} needs a value")))?
                .clone();
            match k.as_str() {
                "--host" => o.target.host = v,
                "--port" => o.target.port = num(k, &v)?,
                "--tls" => o.target.tls = TlsMode::parse(&v)?,
                "--timeout" => o.target.timeout = Duration::from_secs_f64(num(k, &v)?),
                "--label" => o.label = v,
                "--row" => o.row = Some(v),
                "--user" => o.user = v,
                "--pass" => o.pass = v,
                "--users" => {
                    let (a, b) = v
                        .split_once('-')
                        .ok_or_else(|| Error::usage(format!("--users {v}: expected A-B")))?;
                    let (a, b): (u32, u32) = (num(k, a)?, num(k, b)?);
                    if a > b {
                        return Err(Error::usage(format!("--users {v}: empty range")));
                    }
                    o.users = Some((a, b));
                }
                "--mailbox" => o.mailbox = v,
                "--dest" => o.dest = v,
                "--items" => o.items = v,
                "--count" => o.count = num(k, &v)?,
                "--reps" => o.reps = num(k, &v)?,
                "--before-each" => o.before = Some(v),
                "--maildir" => o.maildir = Some(PathBuf::from(v)),
                "--deliver-cmd" => o.deliver_cmd = Some(v),
                "--wait" => o.wait = num(k, &v)?,
                "--settle-ms" => o.settle_ms = num(k, &v)?,
                "--sessions" => o.sessions = num(k, &v)?,
                "--server-pid" => o.roots.push(num(k, &v)?),
                "--env-marker" => o.marker = Some(v),
                "--clients" => o.clients = num(k, &v)?,
                "--seconds" => o.seconds = num(k, &v)?,
                "--max-ops" => o.max_ops = Some(num(k, &v)?),
                "--seed" => o.seed = num(k, &v)?,
                "--warmup" => o.warmup = num(k, &v)?,
                "--pipeline" => o.pipeline = num(k, &v)?,
                "--budget" => o.budget = Some(Duration::from_secs_f64(num(k, &v)?)),
                _ => return Err(Error::usage(format!("unknown option {k}"))),
            }
        }
        if o.target.port == 0 {
            o.target.port = if o.pop3 { 110 } else { 143 };
        }
        if o.reps == 0 {
            return Err(Error::usage("--reps must be at least 1"));
        }
        if o.clients == 0 || o.clients > 2000 {
            return Err(Error::usage("--clients must be 1..2000"));
        }
        if !(o.seconds > 0.0 && o.seconds <= 3600.0) {
            return Err(Error::usage("--seconds must be in (0, 3600]"));
        }
        if !(o.wait > 0.0 && o.wait <= 600.0) {
            return Err(Error::usage("--wait must be in (0, 600]"));
        }
        if o.sessions == 0 || o.sessions > 5000 {
            return Err(Error::usage("--sessions must be 1..5000"));
        }
        let needs_count = matches!(cmd.as_str(), "copy" | "append" | "expunge");
        if needs_count && o.count == 0 {
            return Err(Error::usage(format!("{cmd} needs --count N")));
        }
        if cmd == "copy" && o.dest.is_empty() {
            return Err(Error::usage("copy needs --dest MAILBOX"));
        }
        Ok(o)
    }

    fn row_or(&self, default: &str) -> String {
        self.row.clone().unwrap_or_else(|| default.to_string())
    }

    /// The second row of a two-row command: `--row` + `_second`.
    fn row_or2(&self, default: &str) -> String {
        match &self.row {
            Some(r) => format!("{r}_second"),
            None => default.to_string(),
        }
    }

    /// User and password number `i` of the `--users` range (cycling), with
    /// `{n}` replaced; `--user`/`--pass` as they are without a range.
    pub fn user_n(&self, i: usize) -> (String, String) {
        match self.users {
            Some((a, b)) => {
                let n = a + (i as u32) % (b - a + 1);
                let s = n.to_string();
                (self.user.replace("{n}", &s), self.pass.replace("{n}", &s))
            }
            None => (self.user.clone(), self.pass.clone()),
        }
    }

    /// Repetition numbers 0..reps, stopping early once `--budget` has passed
    /// (measured from the first call to `next`; one repetition always runs).
    pub fn reps_within_budget(&self) -> impl Iterator<Item = usize> + '_ {
        let mut start: Option<std::time::Instant> = None;
        (0..self.reps).take_while(move |i| {
            let s = *start.get_or_insert_with(std::time::Instant::now);
            *i == 0 || self.budget.is_none_or(|b| s.elapsed() < b)
        })
    }

    /// Runs `--before-each` (untimed); fails when it fails.
    pub fn before_each(&self) -> Result<(), Error> {
        match &self.before {
            Some(cmd) => run_sh(cmd),
            None => Ok(()),
        }
    }
}

fn run_sh(cmd: &str) -> Result<(), Error> {
    let st = std::process::Command::new("/bin/sh")
        .args(["-c", cmd])
        .status()
        .map_err(|e| Error::io(format!("sh -c {cmd}"), e))?;
    if st.success() {
        Ok(())
    } else {
        Err(Error::protocol(format!("{cmd}: {st}")))
    }
}

/// Runs `cmd` (sh -c) with `input` on its stdin; fails when it fails.
pub fn pipe_to(cmd: &str, input: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", cmd])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("sh -c {cmd}"), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        let lf: Vec<u8> = input.iter().copied().filter(|b| *b != b'\r').collect();
        stdin
            .write_all(&lf)
            .map_err(|e| Error::io(format!("{cmd}: stdin"), e))?;
    }
    let st = child
        .wait()
        .map_err(|e| Error::io(format!("sh -c {cmd}"), e))?;
    if st.success() {
        Ok(())
    } else {
        Err(Error::protocol(format!("{cmd}: {st}")))
    }
}

/// Entry point: parses `args` (without argv[0]), runs the row, prints reports.
pub fn run(args: Vec<String>) -> Result<(), Error> {
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return Ok(());
    }
    let o = Opts::parse(&args)?;
    let reports = match o.cmd.as_str() {
        "select" => rows::select(&o)?,
        "fetch" => rows::fetch(&o)?,
        "copy" => rows::copy(&o)?,
        "append" => rows::append(&o)?,
        "expunge" => rows::expunge(&o)?,
        "idle" => rows::idle(&o)?,
        "memory" => rows::memory(&o)?,
        "pop3" => rows::pop3(&o)?,
        "login" => load::run(&o, load::Kind::Login)?,
        "session" => load::run(&o, load::Kind::Session)?,
        other => return Err(Error::usage(format!("unknown row {other}"))),
    };
    for r in &reports {
        r.print();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parse_defaults_ports_by_protocol_and_checks_bounds() {
        let o = Opts::parse(&args("fetch --user u --pass p")).unwrap();
        assert_eq!(o.target.port, 143);
        let o = Opts::parse(&args("pop3 --user u --pass p")).unwrap();
        assert_eq!(o.target.port, 110);
        assert!(Opts::parse(&args("login --clients 0")).is_err());
        assert!(Opts::parse(&args("login --clients 3000")).is_err());
        assert!(Opts::parse(&args("login --seconds 5000")).is_err());
        assert!(Opts::parse(&args("copy --count 3")).is_err(), "no --dest");
        assert!(Opts::parse(&args("append")).is_err(), "no --count");
        assert!(Opts::parse(&args("fetch --port")).is_err());
        assert!(Opts::parse(&args("fetch --bogus 1")).is_err());
    }

    #[test]
    fn user_n_cycles_through_the_range() {
        let o = Opts::parse(&args("login --user user{n} --pass pass{n} --users 5-7")).unwrap();
        assert_eq!(o.user_n(0), ("user5".into(), "pass5".into()));
        assert_eq!(o.user_n(2), ("user7".into(), "pass7".into()));
        assert_eq!(o.user_n(3), ("user5".into(), "pass5".into()));
    }

    #[test]
    fn budget_stops_repetitions_but_always_runs_one() {
        let o = Opts::parse(&args("fetch --reps 4 --budget 0")).unwrap();
        assert_eq!(o.reps_within_budget().count(), 1);
        let o = Opts::parse(&args("fetch --reps 4")).unwrap();
        assert_eq!(o.reps_within_budget().count(), 4);
    }

    #[test]
    fn usage_errors_exit_2() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::protocol("x").exit_code(), 1);
    }
}
