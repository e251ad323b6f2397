//! The command line, parsed as courier-authlib's `authtest.c` does:
//! options come first and each starts with `-`; a lone `-` ends them; `-s`
//! takes its value attached (`-simap`) or from the next word (when there is
//! one); any other option is a usage error. Ours adds `-v` (explain the result
//! on stderr, after Courier's output).

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cli {
    /// `-s`: the service name (default `login`).
    pub service: String,
    /// `-v` (ours): explain which module answered or why the lookup failed.
    pub verbose: bool,
    /// The account.
    pub userid: String,
    /// With a password: AUTH; without: PRE.
    pub password: Option<String>,
    /// With a new password: PASSWD.
    pub new_password: Option<String>,
}

/// Courier's usage line (stderr, exit 1).
pub const USAGE: &str = "Usage: authtest [-s service] userid [ password [ newpassword ] ]";

/// Parses `args` (without argv\[0\]); `None` is a usage error. Words after the
/// new password are ignored, as Courier does.
pub fn parse(args: &[String]) -> Option<Cli> {
    let mut service = "login".to_string();
    let mut verbose = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with('-') {
            break;
        }
        if a == "-" {
            i += 1;
            break;
        }
        let rest = &a[1..];
        let flag = rest.chars().next()?;
        let attached = &rest[flag.len_utf8()..];
        match flag {
            's' => {
                service = if attached.is_empty() && i + 1 < args.len() {
                    i += 1;
                    args[i].clone()
                } else {
                    attached.to_string()
                };
            }
            'v' if attached.is_empty() => verbose = true,
            _ => return None,
        }
        i += 1;
    }
    let mut operands = args[i..].iter().cloned();
    let userid = operands.next()?;
    Some(Cli {
        service,
        verbose,
        userid,
        password: operands.next(),
        new_password: operands.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Option<Cli> {
        parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_follow_authtest_c() {
        let c = p(&["alice"]).unwrap();
        assert_eq!((c.service.as_str(), c.password), ("login", None));
        assert_eq!(p(&["-simap", "alice"]).unwrap().service, "imap");
        assert_eq!(p(&["-s", "pop3", "alice", "pw"]).unwrap().service, "pop3");
        assert_eq!(p(&["-", "-alice"]).unwrap().userid, "-alice");
        assert!(p(&["-v", "alice"]).unwrap().verbose);
        let c = p(&["alice", "old", "new", "ignored"]).unwrap();
        assert_eq!(c.new_password.as_deref(), Some("new"));
        // `-s` as the last word takes an empty service and leaves no userid.
        for bad in [
            &[][..],
            &["-s"],
            &["-s", "imap"],
            &["-x", "alice"],
            &["--", "alice"],
            &["-vv", "alice"],
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
        assert_eq!(p(&["-s", "", "alice"]).unwrap().service, "");
    }
}
