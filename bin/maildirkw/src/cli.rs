//! maildirkw's command line, parsed the way Courier's `getopt(argc, argv, "arLlhc")`
//! does under glibc: options may follow operands (argv is permuted) unless
//! `POSIXLY_CORRECT` is set, `--` ends the options, a lone `-` is an operand, and
//! letters may be bundled (`-La`). A keyword that starts with `-` must come after
//! `--`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// What to do with the message's keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Replace the set with the keywords given (default).
    Set,
    /// `-a`: add them, atomically.
    Add,
    /// `-r`: remove them, atomically.
    Remove,
}

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cli {
    /// `-c`: keywords are case-sensitive.
    pub case_sensitive: bool,
    /// `-l`: take `tmp/courier.lock`.
    pub lock: bool,
    /// `-L`: list instead of change.
    pub list: bool,
    /// `-a` / `-r` (the last one given wins, as in Courier).
    pub change: Change,
    /// The operands, in order: MAILDIR, MESSAGE, KEYWORD...
    pub operands: Vec<OsString>,
}

/// Why the command line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// An option letter Courier does not know; getopt complains on stderr first.
    InvalidOption(u8),
    /// `-h`, or missing operands: only the usage line.
    Usage,
}

/// Parses `args` (including `argv[0]`).
pub fn parse(args: &[OsString], posixly_correct: bool) -> Result<Cli, Refused> {
    let mut cli = Cli {
        case_sensitive: false,
        lock: false,
        list: false,
        change: Change::Set,
        operands: Vec::new(),
    };
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            cli.operands.extend(rest.cloned());
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            cli.operands.push(arg.clone());
            if posixly_correct {
                cli.operands.extend(rest.cloned());
                break;
            }
            continue;
        }
        for &letter in &bytes[1..] {
            match letter {
                b'a' => cli.change = Change::Add,
                b'r' => cli.change = Change::Remove,
                b'L' => cli.list = true,
                b'l' => cli.lock = true,
                b'c' => cli.case_sensitive = true,
                b'h' => return Err(Refused::Usage),
                other => return Err(Refused::InvalidOption(other)),
            }
        }
    }
    // maildirkw.c: MAILDIR is required; MESSAGE too unless listing.
    if cli.operands.is_empty() || (!cli.list && cli.operands.len() < 2) {
        return Err(Refused::Usage);
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        std::iter::once("maildirkw")
            .chain(v.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn ops(c: &Cli) -> Vec<String> {
        c.operands
            .iter()
            .map(|o| o.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn getopt_rules() {
        // (argv, POSIXLY_CORRECT, list, change, case, lock, operands)
        type Case = (
            &'static [&'static str],
            bool,
            bool,
            Change,
            bool,
            bool,
            &'static [&'static str],
        );
        const CASES: &[Case] = &[
            (
                &["M", "m", "A"],
                false,
                false,
                Change::Set,
                false,
                false,
                &["M", "m", "A"],
            ),
            (&["-L", "M"], false, true, Change::Set, false, false, &["M"]),
            (
                &["M", "m", "-L"],
                false,
                true,
                Change::Set,
                false,
                false,
                &["M", "m"],
            ),
            (
                &["-La", "M"],
                false,
                true,
                Change::Add,
                false,
                false,
                &["M"],
            ),
            (
                &["-ar", "M", "m"],
                false,
                false,
                Change::Remove,
                false,
                false,
                &["M", "m"],
            ),
            (
                &["-ra", "M", "m"],
                false,
                false,
                Change::Add,
                false,
                false,
                &["M", "m"],
            ),
            (
                &["-cl", "M", "m"],
                false,
                false,
                Change::Set,
                true,
                true,
                &["M", "m"],
            ),
            (
                &["M", "m", "--", "-x"],
                false,
                false,
                Change::Set,
                false,
                false,
                &["M", "m", "-x"],
            ),
            (
                &["--", "M", "-L"],
                false,
                false,
                Change::Set,
                false,
                false,
                &["M", "-L"],
            ),
            (
                &["M", "-", "K"],
                false,
                false,
                Change::Set,
                false,
                false,
                &["M", "-", "K"],
            ),
            (
                &["M", "m6", "-L"],
                true,
                false,
                Change::Set,
                false,
                false,
                &["M", "m6", "-L"],
            ),
        ];
        for &(argv, posix, list, change, cs, lock, want) in CASES {
            let c = parse(&args(argv), posix).unwrap();
            assert_eq!(
                (c.list, c.change, c.case_sensitive, c.lock, ops(&c)),
                (
                    list,
                    change,
                    cs,
                    lock,
                    want.iter().map(|s| s.to_string()).collect()
                ),
                "{argv:?}"
            );
        }
    }

    #[test]
    fn refusals() {
        const CASES: &[(&[&str], Refused)] = &[
            (&[], Refused::Usage),
            (&["-L"], Refused::Usage),
            (&["M"], Refused::Usage),
            (&["--", "M"], Refused::Usage),
            (&["-h", "-x"], Refused::Usage),
            (&["-x", "-h"], Refused::InvalidOption(b'x')),
            (&["--foo"], Refused::InvalidOption(b'-')),
            (&["M", "m", "-Foo"], Refused::InvalidOption(b'F')),
        ];
        for (argv, want) in CASES {
            assert_eq!(parse(&args(argv), false), Err(want.clone()), "{argv:?}");
        }
    }
}
