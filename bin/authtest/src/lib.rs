//! authtest: ask authdaemond about one account, as courier-authlib 0.71's
//! `authtest` does (authdaemon-protocol.md §6.6).
//!
//! ```text
//! authtest [-s service] [-v] userid [password [newpassword]]
//! ```
//!
//! One word: `PRE . <service> <userid>`; two: `AUTH` of type `login`; three:
//! `PASSWD`. Standard output, standard error and the exit code (0 success, 1
//! failure or usage) are Debian's byte for byte, including libcourierauth's own
//! `ERR: authdaemon: s_connect() failed: ...` lines and its errno quirks
//! (see [`libauth`]). The socket is Debian's compiled-in path unless
//! `AUTHDAEMON_SOCKET` names another.
//!
//! Ours adds `-v`: after Courier's output, stderr lines starting `authtest: `
//! say which module answered, or why the request failed (no module has the
//! account, the password was rejected by the module that has it, a temporary
//! failure, the socket cannot be reached). It asks `PRE <module> ...` of each
//! module of `authmodulelist` (read from `$AUTHDAEMONRC`, default
//! `/etc/courier/authdaemonrc`) to find out.
//!
//! Does not: speak the protocol itself (courier-auth-proto's client does).
#![forbid(unsafe_code)]

pub mod cli;
pub mod libauth;

use courier_auth_proto::AuthInfo;
use courier_auth_proto::client::{Client, ClientError};
use libauth::Kind;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs authtest with `args` (without argv\[0\]) and the process environment;
/// returns the exit code.
pub fn run(args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(cli) = cli::parse(&args) else {
        let _ = writeln!(err, "{}", cli::USAGE);
        return 1;
    };
    let socket = libauth::socket_path();
    let rw_stderr = libauth::stderr_is_read_write();

    if let Some(new) = &cli.new_password {
        let old = cli.password.as_deref().unwrap_or_default();
        // auth_passwd() sends no meta lines.
        let client = Client::new(&socket).with_remote_ip(None);
        let result = client.passwd(&cli.service, &cli.userid, old, new);
        let code = match &result {
            Ok(()) => {
                let _ = writeln!(err, "Password change succeeded.");
                0
            }
            Err(e) => {
                let errno = libauth::report(e, Kind::Passwd, rw_stderr, err);
                libauth::perror_failed(errno, err);
                1
            }
        };
        if cli.verbose {
            explain(&cli, &socket, result.err().as_ref(), None, err);
        }
        return code;
    }

    // setenv("TCPREMOTEIP", "::1", 0): an existing value, even empty, is kept.
    let remote_ip = std::env::var("TCPREMOTEIP").unwrap_or_else(|_| "::1".into());
    let client = Client::new(&socket).with_remote_ip(Some(remote_ip.clone()));
    let result = match &cli.password {
        Some(password) => login(&client, &cli, password, &remote_ip, err),
        None => client.pre(".", &cli.service, &cli.userid),
    };
    let code = match &result {
        Ok(info) => {
            print_record(info, out);
            0
        }
        Err(e) => {
            let errno = libauth::report(e, Kind::Lookup, rw_stderr, err);
            libauth::perror_failed(errno, err);
            1
        }
    };
    if cli.verbose {
        let _ = out.flush();
        explain(
            &cli,
            &socket,
            result.as_ref().err(),
            result.as_ref().ok(),
            err,
        );
    }
    code
}

/// `auth_login_meta()`: control characters refused before anything else, the
/// `DEBUG_LOGIN` lines, `DEFDOMAIN`, then `AUTH`.
fn login(
    client: &Client,
    cli: &cli::Cli,
    password: &str,
    remote_ip: &str,
    err: &mut dyn Write,
) -> Result<AuthInfo, ClientError> {
    let bad = |s: &str| s.bytes().any(|b| b < b' ');
    if bad(&cli.userid) || bad(password) {
        return Err(ClientError::BadValue);
    }
    let level = atoi(&std::env::var("DEBUG_LOGIN").unwrap_or_default());
    if level >= 1 {
        debug_login(remote_ip, &format!("username={}", cli.userid), err);
    }
    if level >= 2 {
        debug_login(remote_ip, &format!("password={password}"), err);
    }
    let userid = with_default_domain(
        &cli.userid,
        std::env::var("DEFDOMAIN").ok().as_deref(),
        std::env::var("DOMAINSEP").ok().as_deref(),
    );
    client.auth_login(&cli.service, &userid, password)
}

/// courier_authdebug_login(): non-printable bytes become dots.
fn debug_login(remote_ip: &str, text: &str, err: &mut dyn Write) {
    let safe: String = text
        .bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    let _ = writeln!(err, "DEBUG: LOGIN: ip=[{remote_ip}], {safe}");
}

/// `strdupdefdomain()`: appends `DEFDOMAIN` unless the user id already holds a
/// character of `DOMAINSEP` (or, without DOMAINSEP, DEFDOMAIN's first character).
pub fn with_default_domain(
    userid: &str,
    defdomain: Option<&str>,
    domainsep: Option<&str>,
) -> String {
    let Some(dom) = defdomain.filter(|d| !d.is_empty()) else {
        return userid.to_string();
    };
    let has_sep = match domainsep {
        Some(seps) => userid.chars().any(|c| seps.contains(c)),
        None => dom.chars().next().is_some_and(|c| userid.contains(c)),
    };
    if has_sep {
        userid.to_string()
    } else {
        format!("{userid}{dom}")
    }
}

/// C's atoi: optional blanks and sign, then digits.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, d) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
    let n: i64 = d[..end].parse().unwrap_or(0);
    if neg { -n } else { n }
}

/// authtest.c's callback_pre(), field by field.
pub fn print_record(a: &AuthInfo, out: &mut dyn Write) {
    let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    let mut s = String::from("Authentication succeeded.\n\n");
    s.push_str(&format!("     Authenticated: {} ", none(&a.address)));
    if let Some(user) = &a.username {
        s.push_str(&format!(" (system username: {user})\n"));
    } else if let Some(uid) = a.uid {
        s.push_str(&format!(" (uid {uid}, gid {})\n", a.gid.unwrap_or(0)));
    } else {
        s.push_str(" (*** UID/GID initialization error***)\n");
    }
    s.push_str(&format!("    Home Directory: {}\n", a.home));
    s.push_str(&format!("           Maildir: {}\n", none(&a.maildir)));
    s.push_str(&format!("             Quota: {}\n", none(&a.quota)));
    s.push_str(&format!("Encrypted Password: {}\n", none(&a.passwd)));
    s.push_str(&format!("Cleartext Password: {}\n", none(&a.passwd2)));
    s.push_str(&format!("           Options: {}\n", none(&a.options)));
    let _ = out.write_all(s.as_bytes());
}

// ---------------------------------------------------------------------------
// -v: which module, and why not

/// The config file authdaemond reads (its `AUTHDAEMONRC` contract).
fn config_path() -> PathBuf {
    std::env::var_os("AUTHDAEMONRC")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/courier/authdaemonrc"))
}

/// `authmodulelist` as authdaemond parses it: cut at `#`, `NAME=value`, a value
/// starting with `"` ends at the next `"`.
pub fn module_list(config: &str) -> Option<Vec<String>> {
    let mut found = None;
    for line in config.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.trim() != "authmodulelist" {
            continue;
        }
        let value = value.trim_start_matches([' ', '\t']);
        let value = match value.strip_prefix('"') {
            Some(v) => v.split('"').next().unwrap_or(""),
            None => value.trim_end(),
        };
        found = Some(value.split_whitespace().map(String::from).collect());
    }
    found
}

/// One module's answer to `PRE <module> ...`.
type ModuleAnswer = (String, Result<AuthInfo, ClientError>);

/// What `PRE <module>` says for each configured module.
fn per_module(socket: &Path, service: &str, userid: &str) -> Result<Vec<ModuleAnswer>, String> {
    let path = config_path();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let modules = module_list(&text)
        .ok_or_else(|| format!("{}: no authmodulelist setting", path.display()))?;
    let client = Client::new(socket).with_remote_ip(Some("::1".into()));
    Ok(modules
        .into_iter()
        .map(|m| {
            let r = client.pre(&m, service, userid);
            (m, r)
        })
        .collect())
}

/// The `-v` lines: after Courier's output, on stderr.
fn explain(
    cli: &cli::Cli,
    socket: &Path,
    failure: Option<&ClientError>,
    record: Option<&AuthInfo>,
    err: &mut dyn Write,
) {
    let mut say = |s: String| {
        let _ = writeln!(err, "authtest: {s}");
    };
    let what = match (&cli.new_password, &cli.password) {
        (Some(_), _) => "PASSWD",
        (None, Some(_)) => "AUTH login",
        (None, None) => "PRE",
    };
    say(format!(
        "{what} for '{}', service '{}', via {}",
        cli.userid,
        cli.service,
        socket.display()
    ));
    match failure {
        Some(ClientError::BadValue) => {
            say("a control character in the user id, password, service or TCPREMOTEIP: nothing was sent".into());
            return;
        }
        Some(e @ ClientError::Io { .. }) => {
            say(format!(
                "cannot talk to authdaemond: {e} (is it running? AUTHDAEMON_SOCKET overrides the socket path)"
            ));
            return;
        }
        Some(ClientError::Temporary { .. }) => say(
            "authdaemond closed the connection without a complete reply: a module reported a \
             temporary failure (or the daemon dropped the request); its log names the cause"
                .into(),
        ),
        _ => {}
    }
    let modules = match per_module(socket, &cli.service, &cli.userid) {
        Ok(m) => m,
        Err(e) => {
            say(format!("cannot tell which module: {e}"));
            return;
        }
    };
    let knowing: Vec<&ModuleAnswer> = modules.iter().filter(|(_, r)| r.is_ok()).collect();
    for (m, r) in &modules {
        let status = match r {
            Ok(_) => "has the account".to_string(),
            Err(ClientError::Rejected) => "does not know the account".to_string(),
            Err(ClientError::Temporary { .. }) => "temporary failure (no reply)".to_string(),
            Err(e) => e.to_string(),
        };
        say(format!("module {m}: {status}"));
    }
    let names = |v: &[&ModuleAnswer]| {
        v.iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    // What each module's stored hash says about the password we sent (the old
    // one for PASSWD). PRE returns the hash the module checks for this service.
    let password = cli.password.as_deref().unwrap_or_default();
    let check = |info: &AuthInfo| match info.passwd.as_deref() {
        None | Some("") => Stored::None,
        Some(h) if courier_pwcrypt::verify(password, h) => Stored::Matches,
        Some(_) => Stored::Differs,
    };
    match (failure, record) {
        (None, Some(_)) if what == "PRE" => match knowing.first() {
            Some((m, _)) => say(format!("answered by module {m}")),
            None => say("answered, but no module admits the account on its own".into()),
        },
        (None, _) => {
            let done = if what == "PASSWD" {
                "password changed; old password accepted"
            } else {
                "password accepted"
            };
            let verified = knowing
                .iter()
                .find(|(_, r)| r.as_ref().is_ok_and(|i| check(i) == Stored::Matches));
            match (verified, knowing.as_slice()) {
                (Some((m, _)), _) | (None, [(m, _)]) => say(format!("{done} by module {m}")),
                (None, []) => say(format!(
                    "{done}, but no module admits the account on its own"
                )),
                (None, many) => say(format!(
                    "{done} by one of {} (no stored hash matches: a module that checks \
                     passwords itself, such as authpam)",
                    names(many)
                )),
            }
        }
        (Some(ClientError::Rejected), _) if knowing.is_empty() => say(format!(
            "no module has an account '{}' for service '{}'",
            cli.userid, cli.service
        )),
        (Some(ClientError::Rejected), _) => {
            let pw = if what == "PASSWD" {
                "old password"
            } else {
                "password"
            };
            for (m, r) in &knowing {
                let Ok(info) = r else { continue };
                say(match check(info) {
                    Stored::None => format!(
                        "module {m} stores no password for service '{}' (it may check \
                         passwords itself, as authpam does)",
                        cli.service
                    ),
                    Stored::Differs => format!(
                        "module {m}: the {pw} does not match the stored hash for service '{}'",
                        cli.service
                    ),
                    Stored::Matches if what == "PASSWD" => format!(
                        "module {m}: the old password matches, but the change failed \
                         (see authdaemond's log)"
                    ),
                    Stored::Matches => format!(
                        "module {m}: the password matches the stored hash, but the module \
                         refused the login (see authdaemond's log)"
                    ),
                });
            }
            say(format!(
                "the account exists in {}, which {} for service '{}'",
                names(&knowing),
                if what == "PASSWD" {
                    "refused the password change"
                } else {
                    "rejected the password"
                },
                cli.service
            ));
        }
        _ => {}
    }
}

/// What a module's stored hash says about a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    None,
    Matches,
    Differs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout_is_authtest_c() {
        let a = AuthInfo {
            uid: Some(5000),
            gid: Some(5000),
            home: "/home/vmail/alice".into(),
            address: Some("alice".into()),
            passwd2: Some("secret".into()),
            ..AuthInfo::default()
        };
        let mut out = Vec::new();
        print_record(&a, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Authentication succeeded.\n\n     Authenticated: alice  (uid 5000, gid 5000)\n    \
             Home Directory: /home/vmail/alice\n           Maildir: (none)\n             \
             Quota: (none)\nEncrypted Password: (none)\nCleartext Password: secret\n           \
             Options: (none)\n"
        );
        let b = AuthInfo {
            username: Some("bob".into()),
            ..AuthInfo::default()
        };
        let mut out = Vec::new();
        print_record(&b, &mut out);
        assert!(String::from_utf8(out).unwrap().contains(
            "     Authenticated: (none)  (system username: bob)\n    Home Directory: \n"
        ));
    }

    #[test]
    fn default_domain_follows_strdupdefdomain() {
        assert_eq!(with_default_domain("a", None, None), "a");
        assert_eq!(with_default_domain("a", Some("@x.org"), None), "a@x.org");
        assert_eq!(with_default_domain("a@y", Some("@x.org"), None), "a@y");
        assert_eq!(
            with_default_domain("a%y", Some("@x.org"), Some("%@")),
            "a%y"
        );
        assert_eq!(
            with_default_domain("a", Some("@x.org"), Some("")),
            "a@x.org"
        );
    }

    #[test]
    fn module_list_is_parsed_like_authdaemond() {
        let rc = "# c\nauthmodulelist=\"authuserdb authpam\" # tail\ndaemons=5\n";
        assert_eq!(
            module_list(rc),
            Some(vec!["authuserdb".to_string(), "authpam".to_string()])
        );
        assert_eq!(
            module_list("authmodulelist=  authpwd\n").unwrap(),
            ["authpwd"]
        );
        assert_eq!(module_list("daemons=1\n"), None);
    }

    #[test]
    fn atoi_takes_leading_digits() {
        assert_eq!(
            (atoi("2"), atoi(" 1x"), atoi("x"), atoi("-3")),
            (2, 1, 0, -3)
        );
    }
}
