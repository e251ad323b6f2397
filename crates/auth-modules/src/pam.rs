//! authpam: passwords checked by libpam with the request's service name (authpam.c,
//! preauthpam.c).
//!
//! `AUTH` (`login` only): getpwnam (unknown → reject), then `pam_start(<service>,
//! <userid>)`, `PAM_RHOST` = the client address when known, `pam_authenticate`,
//! `pam_acct_mgmt`; any failure, including `pam_start` (no `/etc/pam.d/<service>` and
//! no `/etc/pam.d/other`), rejects, as in Courier. The conversation answers visible
//! prompts with the userid and hidden ones with the password.
//!
//! Record (§9, observed on Debian 12): `USERNAME`, `GID`, `HOME`, `ADDRESS`, `NAME`
//! (GECOS up to the first comma), `PASSWD` (the shadow hash when the shadow file is
//! readable, else the passwd field), and `PASSWD2` after AUTH.
//!
//! Unlike Courier, PAM runs in the calling process rather than in a forked child: the
//! daemon's worker process is the isolation boundary.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use pam_client::{Context, ConversationHandler, ErrorCode, Flag};

use crate::common::{AUTHTYPE_LOGIN, debug_authinfo, split_authdata};
use crate::sysdb::SystemDb;
use crate::system::{change_system_password, enumerate_system, system_record};
use crate::{ChangeOutcome, DebugLog, EnumEntry, Module, ModuleSettings, Outcome};

/// The authpam module.
#[derive(Debug)]
pub struct AuthPam {
    db: SystemDb,
    syspasswd_tool: PathBuf,
    remote_ip: Option<String>,
}

/// Answers PAM's prompts non-interactively, like authpam.c's `pam_conv`: echoed
/// prompts get the userid, hidden ones the password; messages are kept for the debug
/// log; anything else is a conversation error.
struct Conversation {
    user: CString,
    password: CString,
    messages: Vec<String>,
}

impl ConversationHandler for Conversation {
    fn prompt_echo_on(&mut self, _prompt: &CStr) -> Result<CString, ErrorCode> {
        Ok(self.user.clone())
    }

    fn prompt_echo_off(&mut self, _prompt: &CStr) -> Result<CString, ErrorCode> {
        Ok(self.password.clone())
    }

    fn text_info(&mut self, msg: &CStr) {
        self.messages.push(msg.to_string_lossy().into_owned());
    }

    fn error_msg(&mut self, msg: &CStr) {
        self.messages.push(msg.to_string_lossy().into_owned());
    }

    fn radio_prompt(&mut self, _prompt: &CStr) -> Result<bool, ErrorCode> {
        Err(ErrorCode::CONV_ERR)
    }
}

/// Why PAM said no, for the debug log.
struct PamFailure {
    step: &'static str,
    code: i32,
    message: String,
}

impl AuthPam {
    /// The module, with account lookups per `settings`.
    pub fn new(settings: &ModuleSettings) -> Self {
        Self {
            db: SystemDb::new(settings),
            syspasswd_tool: settings.syspasswd_tool.clone(),
            remote_ip: None,
        }
    }

    /// preauthpam.c: the passwd entry, with the shadow hash as `PASSWD` when readable.
    fn lookup(&self, userid: &str, log: &mut DebugLog) -> Outcome {
        let pw = match self.db.getpwnam(userid) {
            Ok(Some(pw)) => pw,
            Ok(None) => {
                log.log(format!(
                    "authpam: username '{userid}' not found in password file"
                ));
                return Outcome::Reject;
            }
            Err(e) => return Outcome::Temporary(e),
        };
        let mut info = system_record(userid, &pw);
        info.passwd = Some(match self.db.getspnam(userid) {
            Ok(Some(sp)) => sp.pwdp,
            Ok(None) => pw.passwd,
            Err(e) => {
                // Courier ignores a failing getspnam here too: PASSWD is informational.
                log.log(format!("authpam: no shadow entry: {e}"));
                pw.passwd
            }
        });
        debug_authinfo(log, "authpam: ", &info, None);
        Outcome::Accept(info)
    }

    /// authpam.c `dopam`: start, authenticate, check the account.
    fn dopam(
        &self,
        service: &str,
        user: &str,
        pass: &str,
        log: &mut DebugLog,
    ) -> Result<(), PamFailure> {
        log.log(format!("pam_service={service}, pam_username={user}"));
        let fail = |step, e: pam_client::Error| PamFailure {
            step,
            code: e.code() as i32,
            message: e.to_string(),
        };
        let (Ok(c_user), Ok(c_pass)) = (CString::new(user), CString::new(pass)) else {
            return Err(PamFailure {
                step: "pam_start",
                code: ErrorCode::BUF_ERR as i32,
                message: "NUL in username or password".into(),
            });
        };
        let conv = Conversation {
            user: c_user,
            password: c_pass,
            messages: Vec::new(),
        };
        let mut ctx = Context::new(service, Some(user), conv).map_err(|e| fail("pam_start", e))?;
        if let Some(ip) = self.remote_ip.as_deref().filter(|ip| !ip.is_empty())
            && let Err(e) = ctx.set_rhost(Some(ip))
        {
            log.log(format!(
                "pam_set_item(PAM_RHOST) failed, result {}",
                e.code() as i32
            ));
        }
        let result = ctx
            .authenticate(Flag::NONE)
            .map_err(|e| fail("pam_authenticate", e))
            .and_then(|()| {
                ctx.acct_mgmt(Flag::NONE)
                    .map_err(|e| fail("pam_acct_mgmt", e))
            });
        for m in ctx.conversation().messages.iter() {
            log.log(format!("authpam: PAM message: {m}"));
        }
        result
    }
}

impl Module for AuthPam {
    fn name(&self) -> &'static str {
        "authpam"
    }

    fn pre(&mut self, _service: &str, userid: &str, log: &mut DebugLog) -> Outcome {
        self.lookup(userid, log)
    }

    fn auth(
        &mut self,
        service: &str,
        authtype: &str,
        authdata: &[u8],
        log: &mut DebugLog,
    ) -> Outcome {
        if authtype != AUTHTYPE_LOGIN {
            log.log(format!("authpam only handles authtype={AUTHTYPE_LOGIN}"));
            return Outcome::Reject;
        }
        let Some((user, pass)) = split_authdata(authdata) else {
            log.log("incomplete username or missing password");
            return Outcome::Reject;
        };
        let mut info = match self.lookup(user, log) {
            Outcome::Accept(info) => info,
            other => return other,
        };
        match self.dopam(service, user, pass, log) {
            Ok(()) => {
                log.log("dopam successful");
                info.passwd2 = Some(pass.to_string());
                Outcome::Accept(info)
            }
            Err(f) => {
                let hint = if f.step == "pam_start" {
                    " [Hint: bad PAM configuration?]"
                } else {
                    ""
                };
                log.log(format!(
                    "{} failed, result {} ({}){hint}",
                    f.step, f.code, f.message
                ));
                Outcome::Reject
            }
        }
    }

    fn passwd(
        &mut self,
        _service: &str,
        userid: &str,
        old: &str,
        new: &str,
        log: &mut DebugLog,
    ) -> ChangeOutcome {
        change_system_password(&self.db, &self.syspasswd_tool, userid, old, new, log)
    }

    fn enumerate(&mut self, emit: &mut dyn FnMut(EnumEntry)) -> Option<Result<(), String>> {
        Some(enumerate_system(&self.db, emit))
    }

    fn set_remote_ip(&mut self, ip: Option<&str>) {
        self.remote_ip = ip.map(str::to_string);
    }
}
