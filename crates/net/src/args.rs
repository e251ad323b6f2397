//! Courier's option syntax, shared by couriertcpd, couriertls and courierlogger
//! (courier-libs `tcpd/argparse.c`, programs.md "Common conventions").
//!
//! - Options start with a single `-`: `-name` or `-name=value`. A bare `-name` has the
//!   value `""` (so `-maxprocs` alone is "set, empty").
//! - The first word that does not start with `-` ends the options; a lone `-` ends them
//!   too and is consumed.
//! - A word is matched against the option table in order: it matches `name` when the
//!   text after the dash is exactly `name` or starts with `name=`. Anything else is an
//!   invalid option, reported as `<argv0>: Invalid option: <word>` by the caller.
//! - An option given twice keeps the last value (`-allow`/`-block`, which accumulate in
//!   Courier, are collected in order by [`Parsed::all`]).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The options found and where the operands start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// `(name, value)` in command-line order.
    pub options: Vec<(&'static str, OsString)>,
    /// Index in argv (argv\[0\] included) of the first operand.
    pub operands_at: usize,
}

impl Parsed {
    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// True when `name` was given (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every value given for `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&OsStr> {
        self.options
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_os_str())
            .collect()
    }
}

/// A word that starts with `-` but names no option; it carries the word as typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid option: {}", .0.to_string_lossy())]
pub struct InvalidOption(pub OsString);

/// Parses `argv` (including argv\[0\]) against `names`, Courier style.
pub fn parse(argv: &[OsString], names: &[&'static str]) -> Result<Parsed, InvalidOption> {
    let mut parsed = Parsed::default();
    let mut at = 1;
    while at < argv.len() {
        let word = argv[at].as_bytes();
        if word.first() != Some(&b'-') {
            break;
        }
        if word.len() == 1 {
            at += 1;
            break;
        }
        let body = &word[1..];
        let found = names.iter().find(|name| {
            let n = name.as_bytes();
            body.starts_with(n) && (body.len() == n.len() || body[n.len()] == b'=')
        });
        let Some(name) = found else {
            return Err(InvalidOption(argv[at].clone()));
        };
        let value = body.get(name.len() + 1..).unwrap_or(b"");
        parsed
            .options
            .push((name, OsStr::from_bytes(value).to_os_string()));
        at += 1;
    }
    parsed.operands_at = at;
    Ok(parsed)
}

/// C `atoi`: optional blanks, an optional sign, then digits; anything else stops the
/// number (so `"12x"` is 12 and `"x"` is 0), as Courier reads its numeric options.
pub fn atoi(text: &OsStr) -> i64 {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut negative = false;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        negative = b[i] == b'-';
        i += 1;
    }
    let mut n: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add(i64::from(b[i] - b'0'));
        i += 1;
    }
    if negative { -n } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &[
        "access",
        "accesslocal",
        "stderr",
        "stderrlogger",
        "pid",
        "stop",
    ];

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("couriertcpd")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    type Case = (
        &'static [&'static str],
        Result<(&'static [(&'static str, &'static str)], usize), &'static str>,
    );

    const CASES: &[Case] = &[
        (&["143", "prog"], Ok((&[], 1))),
        (&["-access=/x.dat", "143"], Ok((&[("access", "/x.dat")], 2))),
        (&["-accesslocal", "143"], Ok((&[("accesslocal", "")], 2))),
        (
            &["-stderrlogger=/l", "-stderr=socket", "p"],
            Ok((&[("stderrlogger", "/l"), ("stderr", "socket")], 3)),
        ),
        (
            &["-pid=/run/x.pid", "-stop"],
            Ok((&[("pid", "/run/x.pid"), ("stop", "")], 3)),
        ),
        (&["-", "-access=1"], Ok((&[], 2))),
        (&["-access==a=b", "p"], Ok((&[("access", "=a=b")], 2))),
        (&["-restrict", "143"], Err("-restrict")),
        (&["-accessx", "143"], Err("-accessx")),
        (&["--access=1"], Err("--access=1")),
        (&["-pid=1", "-std", "x"], Err("-std")),
        (&[], Ok((&[], 1))),
    ];

    #[test]
    fn option_table_cases() {
        for (words, expected) in CASES {
            let got = parse(&argv(words), NAMES);
            match expected {
                Ok((opts, at)) => {
                    let got = got.unwrap_or_else(|e| panic!("{words:?}: {e}"));
                    let want: Vec<(&str, OsString)> =
                        opts.iter().map(|(n, v)| (*n, OsString::from(v))).collect();
                    assert_eq!(got.options, want, "{words:?}");
                    assert_eq!(got.operands_at, *at, "{words:?}");
                }
                Err(word) => {
                    assert_eq!(got, Err(InvalidOption(OsString::from(word))), "{words:?}")
                }
            }
        }
    }

    #[test]
    fn later_value_wins_and_all_keeps_order() {
        let p = parse(&argv(&["-pid=a", "-pid=b", "x"]), NAMES).unwrap();
        assert_eq!(p.get("pid"), Some(OsStr::new("b")));
        assert_eq!(p.all("pid"), vec![OsStr::new("a"), OsStr::new("b")]);
        assert!(!p.has("stop"));
    }

    #[test]
    fn atoi_reads_like_c() {
        for (text, n) in [
            ("40", 40),
            (" 7x", 7),
            ("x", 0),
            ("", 0),
            ("-3", -3),
            ("+5", 5),
        ] {
            assert_eq!(atoi(OsStr::new(text)), n, "{text:?}");
        }
    }
}
