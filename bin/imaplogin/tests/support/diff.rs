//! Differential runs: Debian's authdaemond in a private mount namespace (the e2e
//! testkit), and both login programs run inside it.

use e2e::{AuthDaemon, AuthSetup, Input, Side, auth_prereqs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// alice (uid 5000) with password `secret` and a CRAM-MD5 secret; bob disabled.
pub fn userdb(home: &Path) -> String {
    format!(
        "alice\tuid=5000|gid=5000|home={h}|systempw=$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0\
|hmac-md5pw=cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56|options=group=staff\n",
        h = home.display()
    )
}

pub struct Diff {
    pub daemon: AuthDaemon,
    pub scratch: e2e::Scratch,
    pub home: PathBuf,
}

/// `None` (SKIP printed) without root, unshare/nsenter or Debian's Courier.
pub fn setup(test: &str, debian_login: &str) -> Option<Diff> {
    if !auth_prereqs(test, true) {
        return None;
    }
    if !Path::new(debian_login).exists() {
        e2e::skip(test, &format!("{debian_login} is not installed"));
        return None;
    }
    let scratch = e2e::Scratch::new("login-diff");
    e2e::chmod(scratch.path(), 0o755);
    let home = scratch.join("alice");
    e2e::make_maildir(&home.join("Maildir"));
    let status = std::process::Command::new("chown")
        .args(["-R", "5000:5000"])
        .arg(&home)
        .status()
        .unwrap();
    assert!(status.success());
    let daemon = AuthDaemon::start(Side::Courier, &AuthSetup::userdb(&userdb(&home), 2, ""));
    Some(Diff {
        daemon,
        scratch,
        home,
    })
}

/// (exit code, stdout, stderr with `time=N` normalised).
pub type Ran = (Option<i32>, String, String);

/// What a program did with a scripted input.
pub fn dialogue(
    d: &Diff,
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: &[u8],
) -> Ran {
    let mut r = d
        .daemon
        .inside(program, args)
        .input(Input::Pipe(input.to_vec()))
        .timeout(Duration::from_secs(50));
    let c = r.command();
    c.env_clear().env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = r.run();
    (o.code, o.stdout, normalise(&o.stderr))
}

/// `time=<n>` → `time=N`, and drops imapd's FAM artefacts.
pub fn normalise(log: &str) -> String {
    let mut out = String::new();
    for line in log.lines() {
        if line.contains("/tmp/fam-") {
            continue;
        }
        let mut l = line.to_string();
        if let Some(i) = l.find("time=") {
            let end = l[i + 5..]
                .find(|c: char| !c.is_ascii_digit())
                .map(|e| i + 5 + e)
                .unwrap_or(l.len());
            l.replace_range(i + 5..end, "N");
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The conversation program for a live session inside the namespace.
pub fn nsenter_args(d: &Diff, program: &Path, args: &[&str]) -> Vec<String> {
    let mut v = vec![
        "-t".to_string(),
        d.daemon.pid().to_string(),
        "-m".to_string(),
        "--".to_string(),
        program.display().to_string(),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}
