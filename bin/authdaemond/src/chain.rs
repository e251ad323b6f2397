//! The module chain (authdaemon-protocol.md §5): modules are tried in
//! `authmodulelist` order; the first that accepts answers, a temporary failure
//! stops the chain with no reply, a rejection passes the request on, and when every
//! module rejected the answer is `FAIL`.

use crate::server::Backend;
use courier_auth_modules::{
    self as modules, ChangeOutcome, DebugLog, Module, ModuleSettings, Outcome,
};
use courier_auth_proto::record::{self, AuthInfo};
use courier_auth_proto::request::Framed;
use courier_auth_proto::{Request, options};
use courier_common::{Severity, log};
use courier_config::authdaemon::AuthdaemonSettings;
use std::io::{self, Write};

/// The loaded modules of one worker.
pub struct Chain {
    modules: Vec<Box<dyn Module>>,
    default_options: String,
    debug: u8,
    show_passwords: bool,
}

/// The module settings an authdaemond configuration implies. Password changes run
/// the `userdb` and `makeuserdb` installed next to this daemon when they exist: the
/// database must be rebuilt in our format, whatever `/usr/sbin` holds.
pub fn module_settings(s: &AuthdaemonSettings) -> ModuleSettings {
    let mut m = ModuleSettings::default();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        if dir.join("userdb").is_file() {
            m.userdb_tool = dir.join("userdb");
        }
        if dir.join("makeuserdb").is_file() {
            m.makeuserdb_tool = dir.join("makeuserdb");
        }
    }
    if let Some(p) = &s.userdb_dat {
        m.userdb_dat = p.clone();
    }
    if let Some(p) = &s.userdb_shadow_dat {
        m.userdb_shadow = p.clone();
    }
    if let Some(p) = &s.passwd_file {
        m.passwd_file = p.clone();
    }
    if let Some(p) = &s.shadow_file {
        m.shadow_file = p.clone();
    }
    m
}

/// Loads every module named in the settings. A module that cannot be loaded is
/// reported and left out, as Courier does; the names of those loaded are returned
/// with the chain.
pub fn load(settings: &AuthdaemonSettings, report: bool) -> (Chain, Vec<String>) {
    let ms = module_settings(settings);
    let mut loaded = Vec::new();
    let mut names = Vec::new();
    for name in &settings.modules {
        match modules::load(name, &ms) {
            Ok(m) => {
                names.push(name.clone());
                loaded.push(m);
            }
            Err(e) => {
                if report {
                    log(
                        Severity::Err,
                        format_args!("authdaemond: cannot load module {name}: {e}"),
                    );
                }
            }
        }
    }
    let chain = Chain {
        modules: loaded,
        default_options: settings.default_options.clone(),
        debug: settings.debug_login,
        show_passwords: settings.debug_passwords,
    };
    (chain, names)
}

impl Chain {
    fn debug(&self, line: impl std::fmt::Display) {
        if self.debug > 0 {
            log(Severity::Debug, line);
        }
    }

    /// The level modules see: passwords only when explicitly allowed.
    fn module_level(&self) -> u8 {
        match self.debug {
            2 if self.show_passwords => 2,
            0 => 0,
            _ => 1,
        }
    }

    fn flush(&self, dl: DebugLog) {
        if self.debug > 0 {
            for line in dl.lines {
                log(Severity::Debug, line);
            }
        }
    }

    fn secret(&self, value: Option<&str>) -> String {
        match value {
            None => "<null>".into(),
            Some(v) if self.show_passwords => v.to_string(),
            Some(_) => "<redacted>".into(),
        }
    }

    fn authenticated(&self, info: &AuthInfo) {
        if self.debug == 0 {
            return;
        }
        let n = |v: &Option<String>| v.clone().unwrap_or_else(|| "<null>".into());
        self.debug(format_args!(
            "Authenticated: sysusername={}, sysuserid={}, sysgroupid={}, homedir={}, address={}, fullname={}, maildir={}, quota={}, options={}",
            n(&info.username),
            info.uid.map(|u| u.to_string()).unwrap_or_else(|| "<null>".into()),
            info.gid.map(|g| g.to_string()).unwrap_or_else(|| "<null>".into()),
            info.home,
            n(&info.address),
            n(&info.name),
            n(&info.maildir),
            n(&info.quota),
            n(&info.options),
        ));
        if self.debug >= 2 {
            self.debug(format_args!(
                "Authenticated: clearpasswd={}, passwd={}",
                self.secret(info.passwd2.as_deref()),
                self.secret(info.passwd.as_deref())
            ));
        }
    }

    /// Runs `call` on each selected module until one decides.
    fn lookup(
        &mut self,
        only: Option<&str>,
        out: &mut dyn Write,
        mut call: impl FnMut(&mut dyn Module, &mut DebugLog) -> Outcome,
    ) -> io::Result<()> {
        let level = self.module_level();
        for i in 0..self.modules.len() {
            let name = self.modules[i].name();
            if only.is_some_and(|o| o != name) {
                continue;
            }
            self.debug(format_args!("{name}: trying this module"));
            let mut dl = DebugLog::new(level);
            let outcome = call(self.modules[i].as_mut(), &mut dl);
            self.flush(dl);
            match outcome {
                Outcome::Accept(mut info) => {
                    info.options =
                        options::merge_defaults(info.options.as_deref(), &self.default_options);
                    return match info.render() {
                        Ok(bytes) => {
                            self.debug(format_args!("{name}: ACCEPT"));
                            self.authenticated(&info);
                            out.write_all(&bytes)
                        }
                        Err(e) => {
                            log(
                                Severity::Err,
                                format_args!("authdaemond: {name}: unusable account record: {e}"),
                            );
                            Ok(())
                        }
                    };
                }
                Outcome::Reject => self.debug(format_args!("{name}: REJECT - try next module")),
                Outcome::Temporary(reason) => {
                    log(
                        Severity::Err,
                        format_args!("authdaemond: {name}: temporary failure: {reason}"),
                    );
                    self.debug(format_args!(
                        "{name}: TEMPFAIL - no more modules will be tried"
                    ));
                    return Ok(());
                }
            }
        }
        self.debug("FAIL, all modules rejected");
        out.write_all(record::FAIL)
    }
}

impl Backend for Chain {
    fn handle(&mut self, framed: &Framed, out: &mut dyn Write) -> io::Result<()> {
        // authpam hands the client's address to PAM (PAM_RHOST), as Courier does.
        for m in &mut self.modules {
            m.set_remote_ip(framed.remote_ip.as_deref());
        }
        match &framed.request {
            Request::Pre {
                module,
                service,
                userid,
            } => {
                self.debug(format_args!("received userid lookup request: {userid}"));
                let only = (module != ".").then_some(module.as_str());
                self.lookup(only, out, |m, dl| m.pre(service, userid, dl))
            }
            Request::Auth {
                service,
                authtype,
                authdata,
            } => {
                self.debug(format_args!(
                    "received auth request, service={service}, authtype={authtype}"
                ));
                self.lookup(None, out, |m, dl| m.auth(service, authtype, authdata, dl))
            }
            Request::Passwd {
                service,
                userid,
                old,
                new,
            } => {
                self.debug(format_args!(
                    "received password change request, service={service}, userid={userid}"
                ));
                let level = self.module_level();
                for i in 0..self.modules.len() {
                    let name = self.modules[i].name();
                    let mut dl = DebugLog::new(level);
                    let outcome = self.modules[i].passwd(service, userid, old, new, &mut dl);
                    self.flush(dl);
                    match outcome {
                        ChangeOutcome::Changed => {
                            log(
                                Severity::Info,
                                format_args!(
                                    "authdaemond: password changed for {userid} by {name}"
                                ),
                            );
                            return out.write_all(b"OK\n");
                        }
                        ChangeOutcome::Temporary(reason) => {
                            log(
                                Severity::Err,
                                format_args!(
                                    "authdaemond: {name}: password change failed: {reason}"
                                ),
                            );
                            return out.write_all(record::FAIL);
                        }
                        ChangeOutcome::Reject => {}
                    }
                }
                out.write_all(record::FAIL)
            }
            Request::Enumerate => {
                for i in 0..self.modules.len() {
                    let name = self.modules[i].name();
                    let mut entries = Vec::new();
                    let result = self.modules[i].enumerate(&mut |e| entries.push(e));
                    match result {
                        None => continue,
                        Some(r) => {
                            out.write_all(record::enum_module_header(name).as_bytes())?;
                            for mut e in entries {
                                e.options = options::merge_defaults(
                                    Some(&e.options),
                                    &self.default_options,
                                )
                                .unwrap_or_default();
                                if let Some(line) = e.render() {
                                    out.write_all(line.as_bytes())?;
                                }
                            }
                            if let Err(reason) = r {
                                // Courier: an aborted module ends the stream without the
                                // final '.', so the client knows the list is incomplete.
                                log(
                                    Severity::Err,
                                    format_args!(
                                        "authdaemond: {name}: enumeration failed: {reason}"
                                    ),
                                );
                                return Ok(());
                            }
                        }
                    }
                }
                out.write_all(record::ENUM_END)
            }
        }
    }

    fn idle(&mut self) {
        for m in &mut self.modules {
            m.idle();
        }
    }
}
