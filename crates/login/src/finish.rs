//! The real back end: asks authdaemond, and after a positive answer does what
//! Courier's login callback does, in Courier's order, plus the project's
//! additions (courier-login-chain(7)):
//!
//! 1. no `ADDRESS` → failed login (`WARN: No address!!`);
//! 2. account options: `disableimap` / `disableinsecureimap` (unless `IMAP_TLS`),
//!    `disablepop3` / `disableinsecurepop3` (unless `POP3_TLS`) end the session
//!    with the texts Courier's imapd/pop3d would send;
//! 3. the identity: `USERNAME` → `getpwnam` + `initgroups`, GID forced from the
//!    record; else `UID`/`GID` with `setgroups({GID})`; uid or gid 0 is refused;
//! 4. `AUTH_MKHOMEDIR_SKEL` (root);
//! 5. the alarm is cancelled and the privilege drop done and verified;
//! 6. as the account: `MOD_MAILDIR_CREATOR` if the home is missing, `chdir(HOME)`,
//!    `IMAP_MAILDIR_CREATOR` / `POP3_MAILDIR_CREATOR` if the maildir is missing;
//! 7. `OPTIONS`, `IMAPLOGINTAG` / `UTF8`, `AUTHENTICATED` are exported and the
//!    server is executed with the maildir (record's `MAILDIR`, else the default).
//!
//! Failures before step 5 are ordinary failed logins or temporary problems; from
//! step 5 on every failure ends the process (never back to the dialogue).

use crate::capability::Protocol;
use crate::env::{self, Environ};
use crate::hooks::{self, HookRun};
use crate::sasl::AuthRequest;
use crate::session::{Attempt, AuthResult, Backend, Logger, Peer};
use courier_auth_proto::AuthInfo;
use courier_auth_proto::client::{Client, ClientError};
use courier_auth_proto::options;
use courier_privsep::identity::{self, Groups, Identity, PrivError};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The login chain's fixed parts.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Which login program this is.
    pub protocol: Protocol,
    /// `IMAPD_PATH` / `POP3D_PATH`.
    pub program: OsString,
    /// `DEFAULT_MAILDIR` (argv[2]).
    pub default_maildir: OsString,
    /// The authdaemond socket.
    pub socket: PathBuf,
    /// The delay after a failed login (Courier: 5 s).
    pub delay: Duration,
}

impl Chain {
    /// The chain for `protocol` with the socket from `AUTHDAEMON_SOCKET` (default
    /// Debian's) and Courier's 5 s delay.
    pub fn new(
        protocol: Protocol,
        program: OsString,
        default_maildir: OsString,
        env: &Environ,
    ) -> Chain {
        let socket = env
            .get(env::AUTHDAEMON_SOCKET)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(courier_auth_proto::DEFAULT_SOCKET));
        Chain {
            protocol,
            program,
            default_maildir,
            socket,
            delay: Duration::from_secs(5),
        }
    }
}

/// Writes straight to the client (fd 1); the engines flush before authenticating.
fn to_client(b: &[u8]) {
    use crate::io::Transport;
    let _ = crate::io::Stdio.write_all(b);
}

fn errno_text(e: nix::errno::Errno) -> String {
    e.desc().to_string()
}

impl Backend for Chain {
    fn authenticate(&mut self, a: &Attempt<'_>, log: &mut Logger) -> AuthResult {
        let info = match self.ask(a, log) {
            Ok(info) => info,
            Err(r) => return r,
        };
        match self.prepare(&info, a, log) {
            Ok(plan) => self.execute(plan, a, log),
            Err(r) => r,
        }
    }

    fn starttls(&mut self, env: &Environ) -> Result<Vec<(String, String)>, String> {
        crate::starttls::start(env)
    }

    fn delay(&mut self) {
        std::thread::sleep(self.delay);
    }
}

/// Whose files a created home gets, and who the process becomes.
#[derive(Debug)]
struct Who {
    id: Identity,
    owner: (u32, u32),
}

/// A login that passed every check: what [`Chain::execute`] needs.
#[derive(Debug)]
pub struct Plan {
    who: Who,
    addr: String,
    info: AuthInfo,
}

/// Account-option refusal: (option, text to the client, exit code).
pub fn disabled(
    protocol: Protocol,
    opts: &str,
    env: &Environ,
) -> Option<(&'static str, &'static str, i32)> {
    match protocol {
        Protocol::Imap => {
            if options::is_set(opts, "disableimap") {
                Some((
                    "disableimap",
                    "* BYE IMAP access disabled for this account.\r\n",
                    0,
                ))
            } else if options::is_set(opts, "disableinsecureimap") && env.atoi("IMAP_TLS") == 0 {
                Some((
                    "disableinsecureimap",
                    "* BYE IMAP access disabled via insecure connection.\r\n",
                    0,
                ))
            } else {
                None
            }
        }
        Protocol::Pop3 => {
            if options::is_set(opts, "disablepop3") {
                Some((
                    "disablepop3",
                    "-ERR POP3 access disabled for this account.\r\n",
                    1,
                ))
            } else if options::is_set(opts, "disableinsecurepop3") && env.atoi("POP3_TLS") == 0 {
                Some((
                    "disableinsecurepop3",
                    "-ERR POP3 access disabled via insecure connection.\r\n",
                    1,
                ))
            } else {
                None
            }
        }
    }
}

/// The environment handed to the server: the session's, plus `OPTIONS`,
/// `IMAPLOGINTAG` (IMAP) or `UTF8` (POP3), and `AUTHENTICATED`.
pub fn server_env(
    protocol: Protocol,
    session_env: &Environ,
    info: &AuthInfo,
    tag: Option<&[u8]>,
    utf8: bool,
) -> Environ {
    let mut e = session_env.clone();
    e.set(env::OPTIONS, info.options.as_deref().unwrap_or(""));
    match protocol {
        Protocol::Imap => e.set_bytes(env::IMAPLOGINTAG, tag.unwrap_or_default()),
        Protocol::Pop3 => e.set(env::UTF8, if utf8 { "1" } else { "0" }),
    }
    e.set(env::AUTHENTICATED, info.address.as_deref().unwrap_or(""));
    e
}

fn missing(p: &Path) -> bool {
    matches!(std::fs::symlink_metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
        && !p.as_os_str().is_empty()
}

impl Chain {
    /// Asks authdaemond. `Err`: rejected or a temporary problem (logged).
    pub fn ask(&self, a: &Attempt<'_>, log: &mut Logger) -> Result<AuthInfo, AuthResult> {
        let ip = a.env.text(env::TCPREMOTEIP);
        let client = Client::new(&self.socket).with_remote_ip(ip);
        let r = match a.request {
            AuthRequest::Login { userid, password } => {
                let mut data = userid.clone();
                data.push(b'\n');
                data.extend_from_slice(password);
                data.push(b'\n');
                client.auth(a.service, "login", &data)
            }
            AuthRequest::Cram {
                alg,
                challenge,
                response,
            } => {
                let mut data = challenge.as_bytes().to_vec();
                data.push(b'\n');
                data.extend_from_slice(response);
                data.push(b'\n');
                client.auth(a.service, alg.authtype(), &data)
            }
            AuthRequest::External { id } => {
                client.pre(".", a.service, &String::from_utf8_lossy(id))
            }
        };
        match r {
            Ok(info) => Ok(info),
            Err(ClientError::Rejected | ClientError::BadValue) => Err(AuthResult::Rejected),
            Err(ClientError::Io { source, .. }) => {
                let text = courier_common::strerror(&source);
                let connect = matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::PermissionDenied
                );
                if connect {
                    log.line(&format!("ERR: authdaemon: s_connect() failed: {text}"));
                } else {
                    log.line(&format!(
                        "ERR: authdaemon: {}: {text}",
                        self.socket.display()
                    ));
                }
                Err(AuthResult::Temporary(text))
            }
            Err(e) => {
                log.safe(format!("ERR: authdaemon: {e}").as_bytes());
                Err(AuthResult::Temporary("Input/output error".into()))
            }
        }
    }

    fn identity(&self, info: &AuthInfo, addr: &str, log: &mut Logger) -> Result<Who, AuthResult> {
        match (&info.username, info.uid) {
            (Some(name), _) => {
                let pw = match nix::unistd::User::from_name(name) {
                    Ok(Some(pw)) => pw,
                    _ => {
                        log.safe(
                            format!("ERR: getpwnam({name}): no such user, user={addr}").as_bytes(),
                        );
                        return Err(AuthResult::Temporary("No such file or directory".into()));
                    }
                };
                let gid = info.gid.map(nix::unistd::Gid::from_raw).unwrap_or(pw.gid);
                let cname = CString::new(name.as_bytes()).map_err(|_| AuthResult::Rejected)?;
                Ok(Who {
                    id: Identity {
                        uid: pw.uid,
                        gid,
                        groups: Groups::Database(cname),
                    },
                    owner: (pw.uid.as_raw(), pw.gid.as_raw()),
                })
            }
            (None, Some(uid)) => {
                let gid = info.gid.unwrap_or(0);
                Ok(Who {
                    id: Identity {
                        uid: nix::unistd::Uid::from_raw(uid),
                        gid: nix::unistd::Gid::from_raw(gid),
                        groups: Groups::PrimaryOnly,
                    },
                    owner: (uid, gid),
                })
            }
            (None, None) => {
                log.safe(format!("WARN: {addr}: No UID/GID!!").as_bytes());
                Err(AuthResult::Rejected)
            }
        }
    }

    /// The checks after a positive answer that can still refuse the login
    /// without side effects (except a disabled account's answer, which is sent):
    /// address, account options, identity, uid/gid 0.
    pub fn prepare(
        &self,
        info: &AuthInfo,
        a: &Attempt<'_>,
        log: &mut Logger,
    ) -> Result<Plan, AuthResult> {
        let peer = Peer::from_env(a.env);
        let Some(addr) = info.address.clone() else {
            log.line("WARN: No address!!");
            return Err(AuthResult::Rejected);
        };
        let opts = info.options.clone().unwrap_or_default();
        if let Some((option, text, code)) = disabled(self.protocol, &opts, a.env) {
            log.safe(
                format!(
                    "INFO: LOGIN DISABLED, user={addr}, ip=[{}], port=[{}], option={option}",
                    peer.ip, peer.port
                )
                .as_bytes(),
            );
            if self.protocol == Protocol::Imap {
                let mut ok = a.tag.unwrap_or(b"*").to_vec();
                ok.extend_from_slice(b" OK LOGIN Ok.\r\n");
                to_client(&ok);
            }
            to_client(text.as_bytes());
            return Err(AuthResult::Ended(code));
        }
        let who = self.identity(info, &addr, log)?;
        if who.id.uid.is_root() || who.id.gid.as_raw() == 0 {
            log.safe(
                format!(
                    "ERR: {addr}: refusing to log in an account with uid {} gid {}",
                    who.id.uid, who.id.gid
                )
                .as_bytes(),
            );
            return Err(AuthResult::Rejected);
        }
        Ok(Plan {
            who,
            addr,
            info: info.clone(),
        })
    }

    /// Home creation, the privilege drop, the creators and the exec. Returns only
    /// on failure, and from the drop on the process must end.
    pub fn execute(&self, plan: Plan, a: &Attempt<'_>, log: &mut Logger) -> AuthResult {
        let Plan { who, addr, info } = plan;
        let info = &info;
        let home = PathBuf::from(&info.home);
        if let Some(skel) = a.env.non_empty(env::AUTH_MKHOMEDIR_SKEL) {
            let skel = Path::new(OsStr::from_bytes(skel));
            if missing(&home) && skel.exists() {
                crate::mkhomedir::make_home(skel, &home, who.owner.0, who.owner.1, log);
            }
        }
        // From here on there is no way back to the dialogue.
        nix::unistd::alarm::cancel();
        if let Err(e) = identity::become_user(&who.id) {
            log.safe(format!("ERR: {addr}: privilege drop failed: {e}").as_bytes());
            return AuthResult::Temporary(match e {
                PrivError::Syscall { source, .. } => errno_text(source),
                _ => "Operation not permitted".into(),
            });
        }
        let server_env = server_env(self.protocol, a.env, info, a.tag, a.utf8);
        let maildir: OsString = match &info.maildir {
            Some(m) => OsString::from(m),
            None => self.default_maildir.clone(),
        };
        let mut hook_env = server_env.clone();
        hook_env.set("HOME", &home);
        hook_env.set("MAILDIR", &maildir);
        let limit = hooks::timeout(a.env);
        if let Some(prog) = a.env.non_empty(env::MOD_MAILDIR_CREATOR)
            && missing(&home)
        {
            run_hook(
                env::MOD_MAILDIR_CREATOR,
                prog,
                home.as_os_str(),
                &hook_env,
                limit,
                &addr,
                log,
            );
        }
        if let Err(e) = nix::unistd::chdir(&home) {
            log.safe(format!("WARN: {addr}: chdir({}) failed!!", info.home).as_bytes());
            log.line(&format!("WARN: error: {}", e.desc()));
            return AuthResult::Temporary(errno_text(e));
        }
        let creator_var = match self.protocol {
            Protocol::Imap => env::IMAP_MAILDIR_CREATOR,
            Protocol::Pop3 => env::POP3_MAILDIR_CREATOR,
        };
        if let Some(prog) = a.env.bytes(creator_var) {
            let md = Path::new(&maildir);
            if missing(md) {
                if prog.is_empty() {
                    log.safe(
                        format!(
                            "ERR: Maildir: non existent maildir and no {} environment variable, user={addr}",
                            self.protocol.name()
                        )
                        .as_bytes(),
                    );
                    if self.protocol == Protocol::Pop3 {
                        to_client(b"-ERR Maildir: non existent maildir and no POP3 environment variable\r\n");
                        return AuthResult::Ended(1);
                    }
                } else {
                    run_hook(creator_var, prog, &maildir, &hook_env, limit, &addr, log);
                    if let Err(e) = std::fs::metadata(md) {
                        let text = courier_common::strerror(&e);
                        log.safe(
                            format!(
                                "ERR: Maildir (exec): {text}, user={addr}, maildir=[{}]",
                                md.display()
                            )
                            .as_bytes(),
                        );
                        if self.protocol == Protocol::Pop3 {
                            to_client(format!("-ERR Maildir (exec): {text}\r\n").as_bytes());
                            return AuthResult::Ended(1);
                        }
                    }
                }
            }
        }
        let path = match CString::new(self.program.as_bytes()) {
            Ok(p) => p,
            Err(_) => return AuthResult::Temporary("Invalid argument".into()),
        };
        let arg = CString::new(maildir.as_bytes()).unwrap_or_default();
        let argv = [path.clone(), arg];
        let err = identity::exec_unprivileged(&path, &argv, &server_env.to_cstrings());
        log.safe(format!("ERR: exec({}) failed!!", self.program.to_string_lossy()).as_bytes());
        log.safe(format!("ERR: {err}").as_bytes());
        AuthResult::Temporary(match err {
            identity::ExecError::Exec { source, .. } => errno_text(source),
            _ => "Operation not permitted".into(),
        })
    }
}

/// Runs one creator and logs what happened.
fn run_hook(
    var: &str,
    program: &[u8],
    missing_path: &OsStr,
    env: &Environ,
    limit: Duration,
    addr: &str,
    log: &mut Logger,
) {
    let prog = String::from_utf8_lossy(program);
    let path = missing_path.to_string_lossy();
    let line = match hooks::run(program, missing_path.as_bytes(), env, limit) {
        HookRun::Exited(0) => {
            format!("INFO: {var}: {prog} created [{path}], user={addr}")
        }
        HookRun::Exited(c) => format!("ERR: {var}: {prog} [{path}] exited with {c}, user={addr}"),
        HookRun::Signalled(s) => {
            format!("ERR: {var}: {prog} [{path}] killed by signal {s}, user={addr}")
        }
        HookRun::NotFound => format!("WARN: {var}: {prog} not found, user={addr}"),
        HookRun::SpawnFailed(e) => format!(
            "ERR: {var}: {prog} [{path}]: {}, user={addr}",
            courier_common::strerror(&e)
        ),
        HookRun::TimedOut => format!(
            "ERR: {var}: {prog} [{path}] killed after {} s, user={addr}",
            limit.as_secs()
        ),
    };
    log.safe(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> AuthInfo {
        AuthInfo {
            uid: Some(5000),
            gid: Some(5000),
            home: "/home/a".into(),
            address: Some("alice".into()),
            options: Some("group=staff".into()),
            ..AuthInfo::default()
        }
    }

    #[test]
    fn server_environment_gets_courier_variables_only() {
        let base = Environ::from_pairs(&[("TCPREMOTEIP", "::1"), ("IMAP_TLS", "1")]);
        let e = server_env(Protocol::Imap, &base, &info(), Some(b"a4"), false);
        let v: Vec<String> = e
            .to_cstrings()
            .into_iter()
            .map(|c| c.into_string().unwrap())
            .collect();
        assert_eq!(
            v,
            [
                "TCPREMOTEIP=::1",
                "IMAP_TLS=1",
                "OPTIONS=group=staff",
                "IMAPLOGINTAG=a4",
                "AUTHENTICATED=alice"
            ]
        );
        let mut i = info();
        i.options = None;
        let e = server_env(Protocol::Pop3, &Environ::default(), &i, None, true);
        assert_eq!(e.text("OPTIONS").unwrap(), "");
        assert_eq!(e.text("UTF8").unwrap(), "1");
        assert!(e.get("IMAPLOGINTAG").is_none());
    }

    const DISABLE_CASES: &[(Protocol, &str, &str, Option<&str>)] = &[
        (Protocol::Imap, "disableimap=1", "", Some("disableimap")),
        (Protocol::Imap, "disableimap=0", "", None),
        (
            Protocol::Imap,
            "disableinsecureimap=1",
            "",
            Some("disableinsecureimap"),
        ),
        (Protocol::Imap, "disableinsecureimap=1", "1", None),
        (Protocol::Imap, "disablepop3=1", "", None),
        (Protocol::Pop3, "disablepop3=yes", "", Some("disablepop3")),
        (
            Protocol::Pop3,
            "disableinsecurepop3=1",
            "",
            Some("disableinsecurepop3"),
        ),
        (Protocol::Pop3, "disableinsecurepop3=1", "1", None),
    ];

    #[test]
    fn account_options_refuse_like_courier_servers() {
        for (p, opts, tls, want) in DISABLE_CASES {
            let env = Environ::from_pairs(&[("IMAP_TLS", tls), ("POP3_TLS", tls)]);
            assert_eq!(
                disabled(*p, opts, &env).map(|d| d.0),
                *want,
                "{p:?} {opts} {tls}"
            );
        }
        let (_, text, code) =
            disabled(Protocol::Pop3, "disablepop3=1", &Environ::default()).unwrap();
        assert_eq!(
            (text, code),
            ("-ERR POP3 access disabled for this account.\r\n", 1)
        );
    }
}
