//! couriertls's command line, parsed as Courier's `argparse()` does: single-dash
//! `-name` or `-name=value` words in front of PROGRAM; a bare `-` ends the options;
//! the first word not starting with `-` is PROGRAM.

use std::ffi::OsString;

/// The options, each `Some` when given (a bare `-flag` has the value `""`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-host=H`: connect out (debugging).
    pub host: Option<String>,
    /// `-localfd=N`: the cleartext side is descriptor N.
    pub localfd: Option<String>,
    /// `-port=P`: with `-host`.
    pub port: Option<String>,
    /// `-printx509=N`: dump the peer's certificates to descriptor N.
    pub printx509: Option<String>,
    /// `-remotefd=N`: the network is descriptor N.
    pub remotefd: Option<String>,
    /// `-server`: be the TLS server.
    pub server: Option<String>,
    /// `-tcpd`: the network is descriptors 0/1 (couriertcpd).
    pub tcpd: Option<String>,
    /// `-verify=DOMAIN`: require the peer's certificate to match DOMAIN.
    pub verify: Option<String>,
    /// `-statusfd=N`: report the negotiation result on descriptor N.
    pub statusfd: Option<String>,
    /// `-protocol=smtp|imap|pop3`: speak STARTTLS first (client).
    pub protocol: Option<String>,
    /// `-user=USER`: drop to USER after starting PROGRAM.
    pub user: Option<String>,
}

/// Parses options; returns them and PROGRAM ARG... (as `OsString`s), or the word
/// that is not a known option.
pub fn parse(args: &[OsString]) -> Result<(Options, Vec<OsString>), String> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let word = args[i].to_string_lossy().into_owned();
        if !word.starts_with('-') {
            break;
        }
        if word == "-" {
            i += 1;
            break;
        }
        let body = &word[1..];
        let names: [(&str, &mut Option<String>); 11] = [
            ("host", &mut o.host),
            ("localfd", &mut o.localfd),
            ("port", &mut o.port),
            ("printx509", &mut o.printx509),
            ("remotefd", &mut o.remotefd),
            ("server", &mut o.server),
            ("tcpd", &mut o.tcpd),
            ("verify", &mut o.verify),
            ("statusfd", &mut o.statusfd),
            ("protocol", &mut o.protocol),
            ("user", &mut o.user),
        ];
        let mut found = false;
        for (name, slot) in names {
            if let Some(rest) = body.strip_prefix(name)
                && (rest.is_empty() || rest.starts_with('='))
            {
                *slot = Some(rest.strip_prefix('=').unwrap_or(rest).to_string());
                found = true;
                break;
            }
        }
        if !found {
            return Err(word);
        }
        i += 1;
    }
    Ok((o, args[i..].to_vec()))
}

/// C `atoi`: leading blanks, optional sign, leading digits; 0 when there are none.
pub fn atoi(s: &str) -> i32 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = (n * 10 + (b - b'0') as i64).min(i32::MAX as i64 + 1);
    }
    let n = if neg { -n } else { n };
    n.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn courier_argparse_rules() {
        let (o, rest) = parse(&os(&[
            "-server",
            "-tcpd",
            "-user=courier",
            "imaplogin",
            "-x",
        ]))
        .unwrap();
        assert_eq!(o.server.as_deref(), Some(""));
        assert_eq!(o.tcpd.as_deref(), Some(""));
        assert_eq!(o.user.as_deref(), Some("courier"));
        assert_eq!(rest, os(&["imaplogin", "-x"]));

        let (o, rest) = parse(&os(&["-localfd=5", "-", "-notanoption"])).unwrap();
        assert_eq!(o.localfd.as_deref(), Some("5"));
        assert_eq!(rest, os(&["-notanoption"]));

        assert_eq!(parse(&os(&["-foo"])).unwrap_err(), "-foo");
        assert_eq!(parse(&os(&["-serverx"])).unwrap_err(), "-serverx");
        assert_eq!(parse(&os(&["--server"])).unwrap_err(), "--server");
        let (o, _) = parse(&os(&["-server=", "-verify=mail.example"])).unwrap();
        assert_eq!(o.server.as_deref(), Some(""));
        assert_eq!(o.verify.as_deref(), Some("mail.example"));
    }

    #[test]
    fn atoi_like_c() {
        for (s, n) in [("5", 5), (" 12x", 12), ("x", 0), ("", 0), ("-3", -3)] {
            assert_eq!(atoi(s), n, "{s:?}");
        }
    }
}
