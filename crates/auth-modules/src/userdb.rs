//! authuserdb: virtual accounts from makeuserdb's `userdb.dat` / `userdbshadow.dat`
//! (authuserdb.c, preauthuserdbcommon.c, authuserdbpwd.c; authdaemon-protocol.md §6).
//!
//! * `PRE` and `login` AUTH: the record (`uid`, `gid`, `home` required) with
//!   `UID`, `GID`, `HOME`, `ADDRESS` (= the userid), `NAME` (`gecos` up to the first
//!   comma, when set), `MAILDIR` (`mail`), `QUOTA`, `PASSWD`, `OPTIONS`; the password is
//!   `<service>pw` when the account has one, else `systempw` (so an account with
//!   `imappw` cannot use `systempw` for IMAP). AUTH adds `PASSWD2`.
//! * `cram-md5` / `cram-sha1` / `cram-sha256` AUTH: the precomputed secret
//!   `<service>-hmac-<alg>pw`, else `hmac-<alg>pw`; the reply is Courier's reduced
//!   record: `UID`, `GID`, `HOME`, `ADDRESS`, `MAILDIR`, `OPTIONS` only.
//! * `PASSWD`: runs `userdb <location><userid> set <field>=<hash>` for the password
//!   field that matched (a new MD5-crypt hash) and for every CRAM secret that matched
//!   the old password, then `makeuserdb`.
//! * `ENUMERATE`: every valid record.
//!
//! A missing `userdb.dat` rejects (Courier skips the module quietly); a database that
//! cannot be read is a temporary failure whose reason names the file. The open
//! database is kept; courier-userdb reopens a file makeuserdb replaced, as Courier's
//! `userdb_init` does.

use std::path::PathBuf;

use courier_pwcrypt::CramAlg;
use courier_userdb::{Record, UserDb, UserDbError};

use crate::common::{AUTHTYPE_LOGIN, check_password, debug_authinfo, gecos_name, split_authdata};
use crate::{AuthInfo, ChangeOutcome, DebugLog, EnumEntry, Module, ModuleSettings, Outcome};

/// CRAM algorithms in Courier's `hmac_list` order (libhmac: md5, sha1, sha256).
const HMAC_LIST: [CramAlg; 3] = [CramAlg::Md5, CramAlg::Sha1, CramAlg::Sha256];

/// The authuserdb module.
#[derive(Debug)]
pub struct AuthUserdb {
    dat: PathBuf,
    shadow: PathBuf,
    userdb_tool: PathBuf,
    makeuserdb_tool: PathBuf,
    open: Option<UserDb>,
}

/// The parts of a record authuserdb needs (userdb.c `userdb_creates`): `home`, `uid`
/// and `gid` are required, everything else optional.
#[derive(Debug)]
struct Account {
    uid: u32,
    gid: u32,
    home: String,
    mail: Option<String>,
    quota: Option<String>,
    gecos: Option<String>,
    options: Option<String>,
    /// `_`: where makeuserdb found the entry, relative to the userdb directory.
    source: String,
}

impl Account {
    /// `Err(field)` names the first missing or non-numeric required field.
    fn from_record(r: &Record) -> Result<Self, &'static str> {
        let home = r.get("home").ok_or("home")?;
        // Courier uses atol(), which turns garbage into uid 0 (root); refuse instead.
        let num = |f: &'static str| -> Result<u32, &'static str> {
            r.get(f).ok_or(f)?.trim().parse().map_err(|_| f)
        };
        let uid = num("uid")?;
        let gid = num("gid")?;
        let owned = |f: &str| r.get(f).map(str::to_string);
        Ok(Self {
            uid,
            gid,
            home: home.to_string(),
            mail: owned("mail"),
            quota: owned("quota"),
            gecos: owned("gecos"),
            options: owned("options"),
            source: r.get("_").unwrap_or("").to_string(),
        })
    }

    /// The full record of PRE and login AUTH.
    fn info(&self, userid: &str, passwd: Option<String>) -> AuthInfo {
        AuthInfo {
            uid: Some(self.uid),
            gid: Some(self.gid),
            home: self.home.clone(),
            address: Some(userid.to_string()),
            name: self.gecos.as_deref().map(gecos_name),
            maildir: self.mail.clone(),
            quota: self.quota.clone(),
            passwd,
            options: self.options.clone(),
            ..AuthInfo::default()
        }
    }
}

/// Characters Courier refuses in PASSWD fields (authuserdbpwd.c `bad`): they would
/// break the userdb text format or the shell-free argv it builds.
fn bad(s: &str) -> bool {
    s.chars()
        .any(|c| (c as u32) < 0x20 || matches!(c, '|' | '=' | '\'' | '"'))
}

/// What a step of the password change concluded (Courier's -1 / 0 / 1).
enum Step {
    Done,
    Rejected,
    Failed(String),
}

impl AuthUserdb {
    /// The module, reading the databases and running the tools `settings` name.
    pub fn new(settings: &ModuleSettings) -> Self {
        Self {
            dat: settings.userdb_dat.clone(),
            shadow: settings.userdb_shadow.clone(),
            userdb_tool: settings.userdb_tool.clone(),
            makeuserdb_tool: settings.makeuserdb_tool.clone(),
            open: None,
        }
    }

    /// Turns a database error into Courier's answer: a missing `userdb.dat` means the
    /// module has no accounts (`Ok(None)`, reject); anything else is a temporary failure
    /// whose reason names the file. Either way the handle is dropped so the next request
    /// opens the files afresh.
    fn failed<T>(&mut self, e: UserDbError, log: &mut DebugLog) -> Result<Option<T>, String> {
        self.open = None;
        if e.is_missing() {
            log.log(format!("userdb: unable to open: {e}"));
            Ok(None)
        } else {
            Err(format!("userdb: {e}"))
        }
    }

    /// The open database (courier-userdb reopens replaced files by itself). `Ok(None)`:
    /// there is no `userdb.dat`.
    fn db(&mut self, log: &mut DebugLog) -> Result<Option<&mut UserDb>, String> {
        if self.open.is_none() {
            match UserDb::open(&self.dat, Some(&self.shadow)) {
                Ok(db) => {
                    log.log(format!("userdb: opened {}", self.dat.display()));
                    self.open = Some(db);
                }
                Err(e) => return self.failed(e, log),
            }
        }
        Ok(self.open.as_mut())
    }

    /// Looks `userid` up. `Ok(None)`: no such entry (or no database).
    fn record(&mut self, userid: &str, log: &mut DebugLog) -> Result<Option<Record>, String> {
        let Some(db) = self.db(log)? else {
            return Ok(None);
        };
        let found = match db.lookup(userid) {
            Ok(found) => found,
            Err(e) => return self.failed(e, log),
        };
        if found.is_none() {
            log.log("userdb: entry not found");
        }
        Ok(found)
    }

    /// preauthuserdbcommon.c: the full record with the service's password.
    fn lookup(&mut self, service: &str, userid: &str, log: &mut DebugLog) -> Outcome {
        log.log(format!("userdb: looking up '{userid}'"));
        let record = match self.record(userid, log) {
            Ok(Some(r)) => r,
            Ok(None) => return Outcome::Reject,
            Err(e) => return Outcome::Temporary(e),
        };
        let account = match Account::from_record(&record) {
            Ok(a) => a,
            Err(field) => {
                log.log(format!("userdb: required value '{field}' is missing"));
                return Outcome::Reject;
            }
        };
        let service_field = format!("{service}pw");
        let passwd = if let Some(p) = record.get(&service_field) {
            log.log(format!("found {service_field} in userdbshadow"));
            Some(p.to_string())
        } else if let Some(p) = record.get("systempw") {
            log.log("found systempw in userdbshadow");
            Some(p.to_string())
        } else {
            log.log(format!(
                "no {service_field} or systempw value in userdbshadow for {userid}"
            ));
            None
        };
        let info = account.info(userid, passwd);
        debug_authinfo(log, "authuserdb: ", &info, None);
        Outcome::Accept(info)
    }

    /// authuserdb.c `auth_cram`.
    fn auth_cram(
        &mut self,
        service: &str,
        authtype: &str,
        authdata: &[u8],
        log: &mut DebugLog,
    ) -> Outcome {
        let Some(alg) = CramAlg::from_authtype(authtype) else {
            log.log(format!("Unsupported authentication type: {authtype}"));
            return Outcome::Reject;
        };
        let Some((challenge, user, response)) = courier_pwcrypt::parse_cram_authdata(authdata)
        else {
            log.log(format!(
                "cram: invalid base64 encoding, or unknown method: {authtype}"
            ));
            return Outcome::Reject;
        };
        log.log(format!(
            "cram: decoded challenge/response, username '{user}'"
        ));
        let record = match self.record(&user, log) {
            Ok(Some(r)) => r,
            Ok(None) => return Outcome::Reject,
            Err(e) => return Outcome::Temporary(e),
        };
        let alg_name = alg.name();
        let service_field = format!("{service}-hmac-{alg_name}pw");
        let generic_field = format!("hmac-{alg_name}pw");
        let Some(secret) = record
            .get(&service_field)
            .or_else(|| record.get(&generic_field))
        else {
            log.log(format!(
                "authcram: no {service_field} or {generic_field} value found"
            ));
            return Outcome::Reject;
        };
        if !courier_pwcrypt::cram_verify_secret(alg, secret, &challenge, &response) {
            log.log("cram validation failed");
            return Outcome::Reject;
        }
        log.log("cram validation succeeded");
        let account = match Account::from_record(&record) {
            Ok(a) => a,
            // Courier returns a temporary failure here (authuserdb.c: userdb_creates
            // failing after a good CRAM response).
            Err(field) => {
                return Outcome::Temporary(format!(
                    "userdb: {}: entry '{user}' has no valid '{field}'",
                    self.dat.display()
                ));
            }
        };
        // Courier's reduced CRAM record: no NAME, QUOTA, PASSWD or PASSWD2.
        let info = AuthInfo {
            uid: Some(account.uid),
            gid: Some(account.gid),
            home: account.home,
            address: Some(user),
            maildir: account.mail,
            options: account.options,
            ..AuthInfo::default()
        };
        Outcome::Accept(info)
    }

    /// authuserdbpwd.c `try_auth_userdb_passwd` + `dochangepwd1/2` for one password
    /// field: `<service>pw` (falling back to `systempw` when `hmac` is `None`) or the
    /// CRAM secret `<service>pw` of algorithm `hmac`.
    fn try_change(
        &mut self,
        hmac: Option<CramAlg>,
        service: &str,
        userid: &str,
        old: &str,
        new: &str,
        log: &mut DebugLog,
    ) -> Step {
        let (old_value, new_value) = match hmac {
            Some(alg) => {
                log.log(format!("Trying to change password for {}", alg.name()));
                (
                    courier_pwcrypt::hmac_secret(alg, old),
                    courier_pwcrypt::hmac_secret(alg, new),
                )
            }
            None => {
                log.log(format!("Trying to change system password for {service}"));
                match courier_pwcrypt::hash(courier_pwcrypt::Scheme::Md5Crypt, new) {
                    Ok(h) => (old.to_string(), h),
                    Err(e) => {
                        return Step::Failed(format!("userdb: hashing the new password: {e}"));
                    }
                }
            }
        };
        if log.with_passwords() {
            log.log(format!("Old password={old}, new password={new}"));
        }
        let record = match self.record(userid, log) {
            Ok(Some(r)) => r,
            Ok(None) => return Step::Rejected,
            Err(e) => return Step::Failed(e),
        };
        let mut field_service = service.to_string();
        let field = format!("{service}pw");
        log.log(format!("Checking for password called \"{field}\""));
        let mut stored = record.get(&field);
        if stored.is_none() && hmac.is_none() {
            log.log("Not found, checking for \"systempw\"");
            stored = record.get("systempw");
            field_service = "system".into();
        }
        let matches = match (stored, hmac) {
            (None, _) => {
                log.log("Password not found.");
                false
            }
            (Some(s), Some(_)) => s == old_value,
            (Some(s), None) => check_password(log, &old_value, s),
        };
        if !matches {
            if stored.is_some() {
                log.log("Password didn't match.");
            }
            return Step::Rejected;
        }
        let account = match Account::from_record(&record) {
            Ok(a) => a,
            Err(field) => {
                return Step::Failed(format!(
                    "userdb: {}: entry '{userid}' has no valid '{field}'",
                    self.dat.display()
                ));
            }
        };
        let target = format!("{}{userid}", account.source);
        let assignment = format!("{field_service}pw={new_value}");
        log.log(format!(
            "Executing {} {target} set {}",
            self.userdb_tool.display(),
            if log.with_passwords() {
                assignment.clone()
            } else {
                format!("{field_service}pw=******")
            }
        ));
        match crate::tool::run(
            &self.userdb_tool,
            &[&target, "set", &assignment],
            None,
            None,
        ) {
            Ok(()) => Step::Done,
            Err(e) => Step::Failed(format!(
                "userdb: changing {field_service}pw of {userid}: {e}"
            )),
        }
    }
}

impl Module for AuthUserdb {
    fn name(&self) -> &'static str {
        "authuserdb"
    }

    fn pre(&mut self, service: &str, userid: &str, log: &mut DebugLog) -> Outcome {
        self.lookup(service, userid, log)
    }

    fn auth(
        &mut self,
        service: &str,
        authtype: &str,
        authdata: &[u8],
        log: &mut DebugLog,
    ) -> Outcome {
        // authuserdb.c: anything that is not a complete login goes to the CRAM code,
        // which rejects what is not cram-*.
        let login = if authtype == AUTHTYPE_LOGIN {
            split_authdata(authdata)
        } else {
            None
        };
        let Some((user, pass)) = login else {
            return self.auth_cram(service, authtype, authdata, log);
        };
        let mut info = match self.lookup(service, user, log) {
            Outcome::Accept(info) => info,
            other => return other,
        };
        let Some(stored) = info.passwd.clone() else {
            log.log("no password available to compare");
            return Outcome::Reject;
        };
        if !check_password(log, pass, &stored) {
            return Outcome::Reject;
        }
        info.passwd2 = Some(pass.to_string());
        Outcome::Accept(info)
    }

    fn passwd(
        &mut self,
        service: &str,
        userid: &str,
        old: &str,
        new: &str,
        log: &mut DebugLog,
    ) -> ChangeOutcome {
        if bad(userid) || userid.contains('/') {
            log.log(format!("userdb: {userid} is not a valid userid."));
            return ChangeOutcome::Reject;
        }
        if bad(service) || bad(old) || bad(new) {
            log.log(format!(
                "userdb: Invalid service or password string for {userid}."
            ));
            return ChangeOutcome::Reject;
        }
        let mut changed = match self.try_change(None, service, userid, old, new, log) {
            Step::Failed(e) => return ChangeOutcome::Temporary(e),
            Step::Done => true,
            Step::Rejected => false,
        };
        for alg in HMAC_LIST {
            let fields = [
                format!("{service}-hmac-{}", alg.name()),
                format!("hmac-{}", alg.name()),
            ];
            for field in fields {
                match self.try_change(Some(alg), &field, userid, old, new, log) {
                    Step::Failed(e) => return ChangeOutcome::Temporary(e),
                    Step::Done => changed = true,
                    Step::Rejected => {}
                }
            }
        }
        if !changed {
            return ChangeOutcome::Reject;
        }
        log.log("Executing makeuserdb");
        match crate::tool::run(&self.makeuserdb_tool, &[], None, None) {
            Ok(()) => ChangeOutcome::Changed,
            Err(e) => ChangeOutcome::Temporary(format!("userdb: {e}")),
        }
    }

    fn enumerate(&mut self, emit: &mut dyn FnMut(EnumEntry)) -> Option<Result<(), String>> {
        let mut log = DebugLog::new(0);
        let db = match self.db(&mut log) {
            Ok(Some(db)) => db,
            // No database: an empty but complete listing, as Courier gives.
            Ok(None) => return Some(Ok(())),
            Err(e) => return Some(Err(e)),
        };
        let result = db.for_each(&mut |r: &Record| {
            // Reverse-uid entries (`5000=`) and incomplete records are skipped, as
            // userdb_enum_next skips what userdb_creates refuses.
            if let Ok(a) = Account::from_record(r) {
                emit(EnumEntry {
                    name: r.name().to_string(),
                    uid: a.uid,
                    gid: a.gid,
                    home: a.home,
                    maildir: a.mail.unwrap_or_default(),
                    options: a.options.unwrap_or_default(),
                });
            }
        });
        match result {
            Ok(()) => Some(Ok(())),
            Err(e) => Some(self.failed::<()>(e, &mut log).map(|_| ())),
        }
    }

    fn idle(&mut self) {
        self.open = None;
    }
}
