//! scripts/demo, end to end: it starts the README's demo server (our
//! authdaemond, couriertcpd, couriertls, login programs, started by our
//! start scripts) in a scratch directory on free ports, as an ordinary user
//! (nobody when the test runs as root); curl and Python log in over IMAP,
//! IMAPS, STARTTLS, POP3 and POP3S and read the sample messages; then
//! `scripts/demo stop` stops everything.

use e2e::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Demo {
    dir: Scratch,
    ports: [u16; 4],
    /// Pids read from the pid files after start, killed on drop if alive.
    pids: Vec<u32>,
}

impl Demo {
    fn demo_dir(&self) -> PathBuf {
        self.dir.join("demo")
    }

    fn run(&self, action: &str) -> Outcome {
        let script = workspace_root().join("scripts/demo");
        let bin = workspace_root().join("target/debug");
        let mut r = if is_root() {
            let mut r = Run::new(Path::new("/usr/bin/setpriv"), "setpriv");
            r.command()
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&script);
            r
        } else {
            Run::new(&script, "demo")
        };
        r = r
            .args([
                action.to_string(),
                "--no-build".to_string(),
                format!("--dir={}", self.demo_dir().display()),
                format!("--imap-port={}", self.ports[0]),
                format!("--imaps-port={}", self.ports[1]),
                format!("--pop3-port={}", self.ports[2]),
                format!("--pop3s-port={}", self.ports[3]),
            ])
            .env(
                "DEMO_BIN",
                std::env::var_os("COURIER_BIN_DIR").unwrap_or_else(|| bin.into_os_string()),
            )
            .env("HOME", self.dir.path())
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .cwd(self.dir.path())
            .timeout(Duration::from_secs(120));
        r.run()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.run("stop");
        for p in &self.pids {
            kill_tree(*p);
        }
    }
}

fn pid_files(dir: &Path) -> Vec<u32> {
    let mut v = Vec::new();
    for f in [
        "run/imapd.pid",
        "run/imapd-ssl.pid",
        "run/pop3d.pid",
        "run/pop3d-ssl.pid",
        "run/authdaemon/pid",
    ] {
        if let Ok(t) = std::fs::read_to_string(dir.join(f))
            && let Ok(p) = t.trim().parse()
        {
            v.push(p);
        }
    }
    v
}

fn curl(args: &[&str]) -> Outcome {
    Run::new(Path::new("/usr/bin/curl"), "curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .run()
}

#[test]
fn demo_starts_a_working_server_for_an_ordinary_user_and_stops_it() {
    let t = "demo_starts_a_working_server_for_an_ordinary_user_and_stops_it";
    if !ours_only(t) {
        return;
    }
    if !Path::new("/usr/bin/curl").exists() {
        skip(t, "curl is not installed");
        return;
    }
    let has_session = |ours: &str, debian: &str| {
        workspace_root().join("target/debug").join(ours).exists() || Path::new(debian).exists()
    };
    if !has_session("imapd", "/usr/bin/imapd")
        || !has_session("courierpop3d", "/usr/lib/courier/courier/courierpop3d")
    {
        skip(
            t,
            "no imapd/courierpop3d to run after login (ours not built, Debian's not installed)",
        );
        return;
    }
    let dir = open_scratch("demo");
    if is_root() {
        chown_tree(dir.path(), 65534, 65534);
    }
    let mut demo = Demo {
        dir,
        ports: [free_port(), free_port(), free_port(), free_port()],
        pids: Vec::new(),
    };
    let o = demo.run("start");
    demo.pids = pid_files(&demo.demo_dir());
    assert_eq!(o.code, Some(0), "scripts/demo start: {o:?}");
    let [imap, imaps, pop3, pop3s] = demo.ports;
    assert!(
        o.stdout
            .contains(&format!("curl 'imap://demo:demo@127.0.0.1:{imap}/INBOX'")),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("scripts/demo stop"), "{}", o.stdout);
    assert_eq!(demo.pids.len(), 5, "pid files: {:?}", demo.pids);

    // The sample deliveries are there, one refused over quota.
    let maildir = demo.demo_dir().join("home/Maildir");
    assert_eq!(names(&maildir.join("new")).len(), 2);
    assert!(o.stdout.contains("exit code 75"), "{}", o.stdout);
    let (quota, _, _) = maildirsize_totals(&maildir.join("maildirsize"));
    assert_eq!(quota, "1000000S,100C");

    let up = "demo:demo@127.0.0.1";
    let list = curl(&[&format!("imap://{up}:{imap}/INBOX")]);
    assert_eq!(list.code, Some(0), "{list:?}");
    assert!(list.stdout.contains("INBOX.Work"), "{list:?}");
    let body = curl(&[&format!("imap://{up}:{imap}/INBOX;UID=1")]);
    assert!(
        body.stdout.contains("Subject: Welcome") || body.stdout.contains("Subject: Lunch?"),
        "{body:?}"
    );
    let work = curl(&["-k", &format!("imaps://{up}:{imaps}/INBOX.Work;UID=1")]);
    assert!(work.stdout.contains("All green."), "{work:?}");
    let pop = curl(&[&format!("pop3://{up}:{pop3}/")]);
    assert_eq!(pop.stdout.lines().count(), 2, "{pop:?}");
    let pops = curl(&["-k", &format!("pop3s://{up}:{pop3s}/1")]);
    assert!(pops.stdout.contains("From: "), "{pops:?}");
    let bad = curl(&[&format!("imap://demo:wrong@127.0.0.1:{imap}/INBOX")]);
    assert_ne!(bad.code, Some(0), "wrong password accepted: {bad:?}");

    let out = py(
        r#"
import imaplib, poplib, ssl, sys
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
imap, imaps, pop3, pop3s = map(int, sys.argv[1:5])
m = imaplib.IMAP4("127.0.0.1", imap); m.starttls(ssl_context=c)
print("STARTTLS", m.login("demo", "demo")[0], m.select("INBOX")[1][0].decode()); m.logout()
m = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=c)
print("IMAPS", m.login("demo", "demo")[0], m.select("INBOX.Work")[1][0].decode()); m.logout()
p = poplib.POP3("127.0.0.1", pop3); p.stls(context=c); p.user("demo")
print("STLS", p.pass_("demo").decode(), p.stat()[0]); p.quit()
p = poplib.POP3_SSL("127.0.0.1", pop3s, context=c); p.user("demo")
print("POP3S", p.pass_("demo").decode(), p.stat()[0]); p.quit()
"#,
        &[
            &imap.to_string(),
            &imaps.to_string(),
            &pop3.to_string(),
            &pop3s.to_string(),
        ],
    );
    assert!(out.contains("STARTTLS OK 2"), "{out}");
    assert!(out.contains("IMAPS OK 1"), "{out}");
    assert!(out.contains("STLS +OK logged in. 2"), "{out}");
    assert!(out.contains("POP3S +OK logged in. 2"), "{out}");
    // The servers logged the logins into the demo's log directory.
    let log = std::fs::read_to_string(demo.demo_dir().join("log/imapd.log")).unwrap_or_default();
    assert!(log.contains("LOGIN, user=demo"), "{log}");

    let o = demo.run("stop");
    assert_eq!(o.code, Some(0), "scripts/demo stop: {o:?}");
    for p in &demo.pids {
        let start = std::time::Instant::now();
        while Path::new(&format!("/proc/{p}")).exists() && start.elapsed() < Duration::from_secs(10)
        {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            if stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "pid {p} still running after stop: {stat}"
        );
    }
    for port in demo.ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "127.0.0.1:{port} still accepts after stop"
        );
    }
}
