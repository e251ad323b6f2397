//! authdaemond: courier-authlib's authentication daemon, compatible with its socket
//! protocol, configuration and log lines.
//!
//! `authdaemond` (no arguments) runs in the foreground, as Debian's real binary does
//! under courierlogger; `authdaemond start|stop|restart` does what Debian's wrapper
//! script does: exports the configuration and hands over to
//! `courierlogger -pid=$authdaemonvar/pid $LOGGEROPTS -start|-stop|-restart`.

#![forbid(unsafe_code)]

pub mod chain;
pub mod server;

use courier_common::{Severity, log};
use courier_config::authdaemon::AuthdaemonSettings;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// Runs the program; returns the exit code (the daemon itself returns only on stop).
pub fn run(args: &[String]) -> u8 {
    match args.first().map(String::as_str) {
        None => foreground(),
        Some(action @ ("start" | "stop" | "restart")) if args.len() == 1 => logger(action),
        Some(_) => {
            eprintln!("Usage: authdaemond [start | stop | restart]");
            1
        }
    }
}

fn load_settings() -> Result<AuthdaemonSettings, String> {
    AuthdaemonSettings::load().map_err(|e| e.to_string())
}

fn foreground() -> u8 {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(e) => {
            log(Severity::Err, e);
            return 1;
        }
    };
    for w in &settings.warnings {
        log(Severity::Err, w);
    }
    let (_, loaded) = chain::load(&settings, true);
    log(
        Severity::Info,
        format_args!(
            "modules=\"{}\", daemons={}",
            settings.modules.join(" "),
            settings.daemons
        ),
    );
    for name in &loaded {
        log(
            Severity::Info,
            format_args!("Installation complete: {name}"),
        );
    }
    let listener = match server::bind(&settings) {
        Ok(l) => l,
        Err(e) => {
            log(
                Severity::Err,
                format_args!("authdaemond: cannot create the socket: {e}"),
            );
            return 1;
        }
    };
    let reload = || load_settings();
    let factory = |s: &AuthdaemonSettings| -> Result<Box<dyn server::Backend>, String> {
        Ok(Box::new(chain::load(s, false).0))
    };
    match server::serve(listener, settings, &reload, &factory) {
        Ok(()) => 0,
        Err(e) => {
            log(Severity::Err, format_args!("authdaemond: {e}"));
            1
        }
    }
}

/// The courierlogger to hand over to: `$COURIERLOGGER`, ours next to this program,
/// or Debian's.
fn courierlogger() -> PathBuf {
    if let Some(p) = std::env::var_os("COURIERLOGGER") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
        && dir.join("courierlogger").is_file()
    {
        return dir.join("courierlogger");
    }
    PathBuf::from("/usr/sbin/courierlogger")
}

fn logger(action: &str) -> u8 {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("authdaemond: cannot find myself: {e}");
            return 1;
        }
    };
    if action == "start" {
        // courierlogger takes its lock next to the pid file; Debian's tmpfiles.d
        // makes this directory, a fresh installation may not have it yet.
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&settings.var_dir)
        {
            eprintln!("authdaemond: {}: {e}", settings.var_dir.display());
            return 1;
        }
    }
    let logger = courierlogger();
    let mut cmd = std::process::Command::new(&logger);
    // Debian's wrapper runs `set -a; . authdaemonrc`: every variable is exported.
    for (k, v) in settings.vars.file_vars() {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    cmd.env(
        courier_config::authdaemon::ENV_AUTHDAEMONRC,
        &settings.config_file,
    );
    cmd.arg(format!("-pid={}", settings.var_dir.join("pid").display()));
    cmd.args(settings.logger_opts.split_whitespace());
    cmd.arg(format!("-{action}"));
    if action == "start" {
        cmd.arg(&exe);
    }
    let err = cmd.exec();
    eprintln!("authdaemond: cannot run {}: {err}", logger.display());
    1
}
