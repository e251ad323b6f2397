//! pw2userdb: Courier's converter from the system account files to userdb text
//! (authdaemon-protocol.md §6.5), option for option.
//!
//! ```text
//! pw2userdb [--passwd=FILE] [--shadow=FILE] [--noshadow] [--nouid] [--domain=DOMAIN] [--vpopuid]
//! ```
//! For every account of the passwd file it prints
//! `NAME[@DOMAIN]<TAB>uid=U|gid=G|home=H[|shell=S][|systempw=P][|gecos=G]` and, unless
//! `--nouid`, the reverse line `U=<TAB>NAME`. Options are parsed as Perl's Getopt::Long does
//! (one or two dashes, any case, unique abbreviations, `--opt VALUE` or `--opt=VALUE`,
//! other words ignored); a bad option prints Getopt's complaint and `Invalid options.` and
//! exits 255.
//!
//! Differences from the Perl script, deliberate: accounts come out in passwd-file order (Perl
//! prints them in hash order, which changes from run to run); a shadow line with no third
//! field does not leave its newline in the password; a file that cannot be opened is named
//! in the message (Perl prints the error text alone). Exit codes are Perl's (the errno).

#![forbid(unsafe_code)]

use courier_common::strerror;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

/// The parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `--passwd=FILE`
    pub passwd: Option<Vec<u8>>,
    /// `--shadow=FILE`
    pub shadow: Option<Vec<u8>>,
    /// `--noshadow`
    pub noshadow: bool,
    /// `--nouid`
    pub nouid: bool,
    /// `--domain=DOMAIN`
    pub domain: Option<Vec<u8>>,
    /// `--vpopuid`
    pub vpopuid: bool,
}

/// Getopt::Long's option table: (name, takes a string).
const SPEC: &[(&str, bool)] = &[
    ("passwd", true),
    ("shadow", true),
    ("noshadow", false),
    ("nouid", false),
    ("domain", true),
    ("vpopuid", false),
];

/// Parses the arguments as `GetOptions("passwd=s", "shadow=s", "noshadow", "nouid",
/// "domain=s", "vpopuid")`. On failure returns Getopt's warnings, one per line.
pub fn parse(args: &[OsString]) -> Result<Options, Vec<String>> {
    let mut o = Options::default();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        i += 1;
        if arg == b"--" {
            break;
        }
        let body = if let Some(b) = arg.strip_prefix(b"--") {
            b
        } else if let Some(b) = arg.strip_prefix(b"-").filter(|b| !b.is_empty()) {
            b
        } else {
            continue; // a non-option word: Getopt::Long leaves it in @ARGV, unused
        };
        let (given, value) = match body.iter().position(|&b| b == b'=') {
            Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
            None => (body, None),
        };
        let given = String::from_utf8_lossy(given).to_lowercase();
        let exact = SPEC.iter().find(|(n, _)| *n == given);
        let candidates: Vec<&(&str, bool)> = match exact {
            Some(e) => vec![e],
            None => SPEC.iter().filter(|(n, _)| n.starts_with(&given)).collect(),
        };
        let (opt, takes_value) = match candidates.as_slice() {
            [one] => **one,
            [] => {
                warnings.push(format!("Unknown option: {given}"));
                continue;
            }
            many => {
                let mut names: Vec<&str> = many.iter().map(|(n, _)| *n).collect();
                names.sort_unstable();
                warnings.push(format!(
                    "Option {given} is ambiguous ({})",
                    names.join(", ")
                ));
                continue;
            }
        };
        if !takes_value {
            if value.is_some() {
                warnings.push(format!("Option {opt} does not take an argument"));
                continue;
            }
            match opt {
                "noshadow" => o.noshadow = true,
                "nouid" => o.nouid = true,
                _ => o.vpopuid = true,
            }
            continue;
        }
        let value = match value {
            Some(v) => Some(v.to_vec()),
            None if i < args.len() => {
                i += 1;
                Some(args[i - 1].as_bytes().to_vec())
            }
            None => None,
        };
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            warnings.push(format!("Option {opt} requires an argument"));
            continue;
        };
        match opt {
            "passwd" => o.passwd = Some(value),
            "shadow" => o.shadow = Some(value),
            _ => o.domain = Some(value),
        }
    }
    if warnings.is_empty() {
        Ok(o)
    } else {
        Err(warnings)
    }
}

/// One passwd account, as the script's hashes hold it.
#[derive(Clone, Debug, Default)]
struct Account {
    uid: Vec<u8>,
    gid: Vec<u8>,
    home: Vec<u8>,
    shell: Vec<u8>,
    gecos: Vec<u8>,
}

/// Perl's `/./`: some character other than a newline.
fn nonempty(s: &[u8]) -> bool {
    s.iter().any(|&b| b != b'\n')
}

/// Converts the passwd (and shadow) text to userdb lines.
/// `fixed_ids` replaces every uid/gid (`--vpopuid`); `None` inside means "no such user".
pub fn convert(
    passwd: &[u8],
    shadow: Option<&[u8]>,
    domain: &[u8],
    nouid: bool,
    fixed_ids: Option<(Vec<u8>, Vec<u8>)>,
) -> Vec<u8> {
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut accounts: HashMap<Vec<u8>, Account> = HashMap::new();
    let mut passwords: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for line in split_lines(passwd) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.starts_with(b"#") {
            continue;
        }
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        let field = |i: usize| f.get(i).copied().unwrap_or(b"").to_vec();
        let acct = field(0);
        let pw = field(1);
        let (uid, gid) = match &fixed_ids {
            Some((u, g)) => (u.clone(), g.clone()),
            None => (field(2), field(3)),
        };
        if pw != b"x" {
            passwords.insert(acct.clone(), pw);
        }
        // The script replaces `|` in the GECOS field only ("Just in case").
        let gecos = field(4)
            .into_iter()
            .map(|b| if b == b'|' { b'.' } else { b })
            .collect();
        if !accounts.contains_key(&acct) {
            order.push(acct.clone());
        }
        accounts.insert(
            acct,
            Account {
                uid,
                gid,
                home: field(5),
                shell: field(6),
                gecos,
            },
        );
    }
    if let Some(shadow) = shadow {
        for line in split_lines(shadow) {
            if line.starts_with(b"#") {
                continue;
            }
            // Like the script, the line keeps its newline while it is split; unlike it,
            // a newline that ends up in the password is dropped.
            let mut f = line.split(|&b| b == b':');
            let acct = f.next().unwrap_or(b"").to_vec();
            let pw = f.next().unwrap_or(b"");
            let pw = pw.strip_suffix(b"\n").unwrap_or(pw);
            passwords.insert(acct, pw.to_vec());
        }
    }
    let mut out = Vec::new();
    for name in &order {
        let Some(a) = accounts.get(name) else {
            continue;
        };
        let mut push = |parts: &[&[u8]]| {
            for p in parts {
                out.extend_from_slice(p);
            }
        };
        push(&[
            name, domain, b"\tuid=", &a.uid, b"|gid=", &a.gid, b"|home=", &a.home,
        ]);
        if nonempty(&a.shell) {
            push(&[b"|shell=", &a.shell]);
        }
        if let Some(pw) = passwords.get(name).filter(|p| nonempty(p)) {
            push(&[b"|systempw=", pw]);
        }
        if nonempty(&a.gecos) {
            push(&[b"|gecos=", &a.gecos]);
        }
        push(&[b"\n"]);
        if !nouid {
            push(&[&a.uid, b"=\t", name, b"\n"]);
        }
    }
    out
}

/// Lines including their `\n` (the last one may lack it).
fn split_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|&b| b == b'\n')
}

/// Perl's `die "$!\n"` exit code.
fn errno_code(e: &std::io::Error) -> u8 {
    e.raw_os_error()
        .and_then(|n| u8::try_from(n).ok())
        .filter(|&n| n != 0)
        .unwrap_or(255)
}

/// Runs pw2userdb; returns the exit code.
pub fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(warnings) => {
            for w in warnings {
                let _ = writeln!(err, "{w}");
            }
            let _ = writeln!(err, "Invalid options.");
            return 255;
        }
    };
    let fixed_ids = o
        .vpopuid
        .then(|| match nix::unistd::User::from_name("vpopmail") {
            Ok(Some(u)) => (
                u.uid.to_string().into_bytes(),
                u.gid.to_string().into_bytes(),
            ),
            _ => (Vec::new(), Vec::new()),
        });
    let os = |v: &Option<Vec<u8>>, default: &str| -> std::path::PathBuf {
        match v {
            Some(p) => std::ffi::OsStr::from_bytes(p).into(),
            None => default.into(),
        }
    };
    let passwd_path = os(&o.passwd, "/etc/passwd");
    let shadow_path = os(&o.shadow, "/etc/shadow");
    let passwd = match std::fs::read(&passwd_path) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "{}: {}", passwd_path.display(), strerror(&e));
            return errno_code(&e);
        }
    };
    let shadow = if !o.noshadow && shadow_path.is_file() {
        match std::fs::read(&shadow_path) {
            Ok(b) => Some(b),
            Err(e) => {
                let _ = writeln!(err, "{}: {}", shadow_path.display(), strerror(&e));
                return errno_code(&e);
            }
        }
    } else {
        None
    };
    let domain = match &o.domain {
        Some(d) if nonempty(d) => [b"@", d.as_slice()].concat(),
        _ => Vec::new(),
    };
    let text = convert(&passwd, shadow.as_deref(), &domain, o.nouid, fixed_ids);
    match out.write_all(&text).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "pw2userdb: {}", strerror(&e));
            errno_code(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, Vec<String>> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    fn opts(f: impl FnOnce(&mut Options)) -> Result<Options, Vec<String>> {
        let mut o = Options::default();
        f(&mut o);
        Ok(o)
    }

    #[test]
    fn options_parse_like_getopt_long() {
        type Case<'a> = (&'a [&'a str], Result<Options, Vec<String>>);
        let cases: Vec<Case> = vec![
            (&[], Ok(Options::default())),
            (
                &["--passwd=pw", "--nouid"],
                opts(|o| {
                    o.passwd = Some(b"pw".to_vec());
                    o.nouid = true;
                }),
            ),
            (
                &["-passwd=pw", "-NOUID", "word"],
                opts(|o| {
                    o.passwd = Some(b"pw".to_vec());
                    o.nouid = true;
                }),
            ),
            (
                &["--pass", "pw", "--sh=s", "--nou"],
                opts(|o| {
                    o.passwd = Some(b"pw".to_vec());
                    o.shadow = Some(b"s".to_vec());
                    o.nouid = true;
                }),
            ),
            (
                &["--passwd", "--nouid"],
                opts(|o| o.passwd = Some(b"--nouid".to_vec())),
            ),
            (
                &["--domain=a", "--domain=b"],
                opts(|o| o.domain = Some(b"b".to_vec())),
            ),
            (&["--", "--nouid"], Ok(Options::default())),
            (&["-", "--vpop"], opts(|o| o.vpopuid = true)),
            (&["--BOGUS"], Err(vec!["Unknown option: bogus".into()])),
            (
                &["---passwd=x"],
                Err(vec!["Unknown option: -passwd".into()]),
            ),
            (
                &["--no"],
                Err(vec!["Option no is ambiguous (noshadow, nouid)".into()]),
            ),
            (
                &["-n"],
                Err(vec!["Option n is ambiguous (noshadow, nouid)".into()]),
            ),
            (
                &["--nosh=1"],
                Err(vec!["Option noshadow does not take an argument".into()]),
            ),
            (
                &["--PASS"],
                Err(vec!["Option passwd requires an argument".into()]),
            ),
            (
                &["--dom="],
                Err(vec!["Option domain requires an argument".into()]),
            ),
            (
                &["--x", "--y"],
                Err(vec!["Unknown option: x".into(), "Unknown option: y".into()]),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(p(args), want, "{args:?}");
        }
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n#c\nbob:hash1:1000:100:Bob B,Room|1,,:/home/bob:\n\
nosh:x:1001:100::/home/nosh\nsh1:x:1002:100:::/bin/sh\n\n";
    const SHADOW: &str = "root:$6$r:1:2\nbob::1\nnosh:!\nsh1:*:19000::::::\nghost:h:1\n";

    #[test]
    fn conversion_matches_courier_line_for_line() {
        let got = convert(PASSWD.as_bytes(), Some(SHADOW.as_bytes()), b"", false, None);
        // Debian's pw2userdb on the same files, put in passwd order (it prints hash order),
        // minus the blank line its unchopped shadow line leaves after `systempw=!`.
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "root\tuid=0|gid=0|home=/root|shell=/bin/bash|systempw=$6$r|gecos=root\n0=\troot\n\
bob\tuid=1000|gid=100|home=/home/bob|gecos=Bob B,Room.1,,\n1000=\tbob\n\
nosh\tuid=1001|gid=100|home=/home/nosh|systempw=!\n1001=\tnosh\n\
sh1\tuid=1002|gid=100|home=|shell=/bin/sh|systempw=*\n1002=\tsh1\n\
\tuid=|gid=|home=\n=\t\n"
        );
        let got = convert(PASSWD.as_bytes(), None, b"@ex.com", true, None);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "root@ex.com\tuid=0|gid=0|home=/root|shell=/bin/bash|gecos=root\n\
bob@ex.com\tuid=1000|gid=100|home=/home/bob|systempw=hash1|gecos=Bob B,Room.1,,\n\
nosh@ex.com\tuid=1001|gid=100|home=/home/nosh\n\
sh1@ex.com\tuid=1002|gid=100|home=|shell=/bin/sh\n\
@ex.com\tuid=|gid=|home=\n"
        );
        let got = convert(
            b"a:x:1:2::/h:\n",
            None,
            b"",
            false,
            Some((b"89".to_vec(), b"89".to_vec())),
        );
        assert_eq!(got, b"a\tuid=89|gid=89|home=/h\n89=\ta\n");
    }

    #[test]
    fn repeated_account_is_printed_once_with_its_last_values() {
        let got = convert(
            b"a:x:1:1::/one:\nb:x:2:2::/b:\na:x:3:3::/two:\n",
            None,
            b"",
            true,
            None,
        );
        assert_eq!(got, b"a\tuid=3|gid=3|home=/two\nb\tuid=2|gid=2|home=/b\n");
    }
}
