//! authdaemond as a running daemon: real socket, real worker processes, real
//! userdb files. Signals, crashes, slow clients and broken backends.

use courier_auth_proto::client::{Client, ClientError, Timeouts};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_userdb(dir: &Path, password: &str) {
    let hash = courier_pwcrypt::hash(courier_pwcrypt::Scheme::Sha512Crypt, password).unwrap();
    let src = dir.join("userdb");
    fs::write(
        &src,
        format!(
            "alice\tuid=5000|gid=5000|home=/home/alice|mail=/home/alice/Maildir|systempw={hash}|gecos=Alice Liddell,Room 1|options=disablepop3=0\n\
             bob\tuid=5001|gid=5000|home=/home/bob|systempw={hash}\n"
        ),
    )
    .unwrap();
    // makeuserdb refuses a source others can read, as Courier does.
    fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    courier_userdb::compile(&src, &dir.join("userdb.dat"), &dir.join("userdbshadow.dat")).unwrap();
}

fn start(extra: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    write_userdb(dir.path(), "secret");
    let rc = dir.path().join("authdaemonrc");
    fs::write(
        &rc,
        format!(
            "authmodulelist=\"authuserdb\"\ndaemons=2\nauthdaemonvar={run}\nDEFAULTOPTIONS=\"disablewebmail=1\"\n\
             USERDB_DAT={d}/userdb.dat\nUSERDB_SHADOW_DAT={d}/userdbshadow.dat\n{extra}",
            run = dir.path().join("run").display(),
            d = dir.path().display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("log");
    let child = Command::new(env!("CARGO_BIN_EXE_authdaemond"))
        .env("AUTHDAEMONRC", &rc)
        .env_remove("DEBUG_LOGIN")
        .env_remove("DEFAULTOPTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let d = Daemon { dir, child, log };
    wait_for(|| d.socket().exists(), "socket");
    wait_for(|| workers(&d).len() == 2, "two workers");
    d
}

impl Daemon {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/socket")
    }
    fn client(&self) -> Client {
        Client::new(self.socket())
            .with_remote_ip(None)
            .with_timeouts(Timeouts {
                connect: Duration::from_secs(5),
                write: Duration::from_secs(5),
                read: Duration::from_secs(20),
            })
    }
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The daemon's worker pids, from /proc.
fn workers(d: &Daemon) -> Vec<i32> {
    let parent = d.child.id().to_string();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        if rest.split_whitespace().nth(1) == Some(parent.as_str()) {
            out.push(e.file_name().to_string_lossy().parse().unwrap());
        }
    }
    out
}

#[test]
fn lookups_and_logins_are_answered_with_default_options_merged() {
    let d = start("");
    let info = d.client().pre(".", "imap", "alice").unwrap();
    assert_eq!(info.uid, Some(5000));
    assert_eq!(info.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(
        info.options.as_deref(),
        Some("disablepop3=0,disablewebmail=1")
    );
    let info = d.client().auth_login("imap", "alice", "secret").unwrap();
    assert_eq!(info.passwd2.as_deref(), Some("secret"));
    assert!(matches!(
        d.client().auth_login("imap", "alice", "wrong"),
        Err(ClientError::Rejected)
    ));
    assert!(matches!(
        d.client().pre(".", "imap", "nobody-here"),
        Err(ClientError::Rejected)
    ));
    let (entries, complete) = d.client().enumerate().unwrap();
    assert!(complete);
    assert_eq!(entries.len(), 2);
    let log = d.log();
    assert!(
        log.contains("INFO: modules=\"authuserdb\", daemons=2"),
        "{log}"
    );
    assert!(!log.contains("secret"), "a password reached the log: {log}");
}

#[test]
fn a_userdb_rebuilt_by_makeuserdb_is_used_without_restart() {
    let d = start("");
    d.client().auth_login("imap", "alice", "secret").unwrap();
    write_userdb(d.dir.path(), "changed");
    d.client().auth_login("imap", "alice", "changed").unwrap();
    assert!(matches!(
        d.client().auth_login("imap", "alice", "secret"),
        Err(ClientError::Rejected)
    ));
}

#[test]
fn a_killed_worker_is_replaced_and_service_goes_on() {
    let d = start("");
    let before = workers(&d);
    kill(Pid::from_raw(before[0]), Signal::SIGKILL).unwrap();
    wait_for(
        || workers(&d).len() == 2 && !workers(&d).contains(&before[0]),
        "replacement worker",
    );
    for _ in 0..4 {
        d.client().auth_login("imap", "alice", "secret").unwrap();
    }
    let log = d.log();
    assert!(
        log.contains(&format!(
            "worker {} died of SIGKILL; restarting it",
            before[0]
        )),
        "{log}"
    );
}

#[test]
fn a_silent_client_does_not_stall_the_others() {
    let d = start("");
    let mut silent = UnixStream::connect(d.socket()).unwrap();
    let mut half = UnixStream::connect(d.socket()).unwrap();
    half.write_all(b"AUTH 24\nimap\nlo").unwrap();
    // Both workers may now be busy with those two; the third client is served as
    // soon as one of them times out (10 s), never later.
    let start = Instant::now();
    d.client().auth_login("imap", "alice", "secret").unwrap();
    assert!(start.elapsed() < Duration::from_secs(15));
    let mut buf = Vec::new();
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = silent.read_to_end(&mut buf);
    assert!(buf.is_empty(), "a client that never asked got {buf:?}");
    wait_for(
        || d.log().contains("timeout reading a request"),
        "timeout log line",
    );
}

#[test]
fn sighup_rereads_the_configuration() {
    let d = start("");
    d.client().pre(".", "imap", "alice").unwrap();
    let rc = d.dir.path().join("authdaemonrc");
    let text = fs::read_to_string(&rc)
        .unwrap()
        .replace("authmodulelist=\"authuserdb\"", "authmodulelist=\"\"");
    fs::write(&rc, text).unwrap();
    let old = workers(&d);
    kill(Pid::from_raw(d.child.id() as i32), Signal::SIGHUP).unwrap();
    wait_for(
        || d.log().contains("INFO: restarting authdaemond children"),
        "restart log",
    );
    wait_for(
        || workers(&d).len() == 2 && workers(&d).iter().all(|w| !old.contains(w)),
        "new workers",
    );
    assert!(matches!(
        d.client().pre(".", "imap", "alice"),
        Err(ClientError::Rejected)
    ));
    assert!(d.log().contains("INFO: stopping authdaemond children"));
}

#[test]
fn a_corrupt_userdb_is_a_temporary_failure_naming_the_file() {
    let d = start("");
    let dat = d.dir.path().join("userdb.dat");
    let mut bytes = fs::read(&dat).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    let tmp = d.dir.path().join("userdb.dat.new");
    fs::write(&tmp, &bytes).unwrap();
    fs::rename(&tmp, &dat).unwrap();
    assert!(matches!(
        d.client().pre(".", "imap", "alice"),
        Err(ClientError::Temporary { .. })
    ));
    let log = d.log();
    assert!(
        log.contains("temporary failure") && log.contains("userdb.dat"),
        "{log}"
    );
    // The daemon is still there for the next request.
    assert!(workers(&d).len() == 2);
}

#[test]
fn sigterm_stops_daemon_and_workers_and_keeps_the_socket() {
    let mut d = start("");
    let ws = workers(&d);
    kill(Pid::from_raw(d.child.id() as i32), Signal::SIGTERM).unwrap();
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    for w in ws {
        assert!(
            !Path::new(&format!("/proc/{w}")).exists(),
            "worker {w} survived"
        );
    }
    assert!(
        d.socket().exists(),
        "Courier leaves the socket file in place"
    );
}

#[test]
fn a_module_that_hangs_costs_one_worker_not_the_service() {
    // A real hang in a real module: PAM running `sleep` through pam_exec.
    if !nix::unistd::geteuid().is_root() {
        println!(
            "SKIP: a_module_that_hangs_costs_one_worker_not_the_service needs root (PAM service file)"
        );
        return;
    }
    if !Path::new("/lib/x86_64-linux-gnu/security/pam_exec.so").exists()
        && !Path::new("/usr/lib/x86_64-linux-gnu/security/pam_exec.so").exists()
    {
        println!("SKIP: pam_exec.so not installed");
        return;
    }
    let service = format!("courier-rs-hang-{}", std::process::id());
    let pamfile = PathBuf::from("/etc/pam.d").join(&service);
    fs::write(
        &pamfile,
        "auth required pam_exec.so /bin/sleep 30\naccount required pam_permit.so\n",
    )
    .unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }
    let _guard = Remove(pamfile);
    let d = start("authmodulelist=\"authpam authuserdb\"\nAUTHDAEMOND_REQUEST_TIMEOUT=2\n");
    let c = d.client();
    let start_t = Instant::now();
    let hung = c.auth_login(&service, "root", "x");
    assert!(
        matches!(hung, Err(ClientError::Temporary { .. })),
        "{hung:?}"
    );
    assert!(start_t.elapsed() < Duration::from_secs(10));
    wait_for(
        || d.log().contains("one request took too long"),
        "deadline log line",
    );
    wait_for(|| workers(&d).len() == 2, "replacement worker");
    d.client().pre(".", "imap", "alice").unwrap();
}

#[test]
fn start_and_stop_go_through_courierlogger_with_a_pid_file() {
    let logger = Path::new("/usr/sbin/courierlogger");
    if !logger.exists() {
        println!(
            "SKIP: start_and_stop_go_through_courierlogger_with_a_pid_file: no courierlogger installed"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_userdb(dir.path(), "secret");
    let rc = dir.path().join("authdaemonrc");
    let run = dir.path().join("run");
    fs::write(
        &rc,
        format!(
            "authmodulelist=\"authuserdb\"\ndaemons=1\nauthdaemonvar={}\nUSERDB_DAT={d}/userdb.dat\nUSERDB_SHADOW_DAT={d}/userdbshadow.dat\n",
            run.display(),
            d = dir.path().display()
        ),
    )
    .unwrap();
    let ctl = |action: &str| {
        Command::new(env!("CARGO_BIN_EXE_authdaemond"))
            .arg(action)
            .env("AUTHDAEMONRC", &rc)
            .env("COURIERLOGGER", logger)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    };
    assert!(ctl("start").success());
    wait_for(
        || run.join("pid").exists() && run.join("socket").exists(),
        "pid file and socket",
    );
    let pid: i32 = fs::read_to_string(run.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let client = Client::new(run.join("socket")).with_remote_ip(None);
    wait_for(
        || client.pre(".", "imap", "alice").is_ok(),
        "an answer from the started daemon",
    );
    assert!(ctl("stop").success());
    wait_for(
        || {
            !Path::new(&format!("/proc/{pid}")).exists()
                || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
        },
        "the logger to exit",
    );
    assert!(
        client.pre(".", "imap", "alice").is_err(),
        "still answering after stop"
    );
}
