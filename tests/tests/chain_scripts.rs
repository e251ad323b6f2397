//! The installation and the start scripts (root only): `scripts/install`
//! into a scratch prefix (layout, directories written into the scripts and
//! units, configuration never overwritten, certificates), then the
//! installed `imapd`, `imapd-ssl`, `pop3d`, `pop3d-ssl` start the four
//! servers under courierlogger the way Debian's scripts do (configuration
//! order, IMAP_STARTTLS / IMAP_TLS / POP3_TLS, -user=courier for couriertls,
//! ulimit -v, makeimapaccess when the .dat is missing), a login works on
//! each, and `stop` ends them.

use e2e::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn install(prefix: &Path, extra: &[&str]) -> Outcome {
    let from = std::env::var_os("COURIER_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug"));
    Run::new(&workspace_root().join("scripts/install"), "install")
        .arg_os(format!("--prefix={}", prefix.display()).as_ref())
        .arg_os(format!("--from={}", from.display()).as_ref())
        .args(extra)
        .timeout(Duration::from_secs(120))
        .run()
}

#[test]
fn install_lays_out_programs_scripts_units_and_keeps_existing_configuration() {
    let t = "install_lays_out_programs_scripts_units_and_keeps_existing_configuration";
    let dir = Scratch::new("install");
    let prefix = dir.join("opt");
    let o = install(&prefix, &["--no-certs"]);
    assert_eq!(o.code, Some(0), "{o:?}");
    let etc = prefix.join("etc/courier");
    // Programs in Debian's places.
    for (p, rel) in [
        ("authdaemond", "sbin/authdaemond"),
        ("makeuserdb", "sbin/makeuserdb"),
        ("maildirmake", "bin/maildirmake"),
        ("couriertls", "bin/couriertls"),
        ("couriertcpd", "sbin/couriertcpd"),
        ("courierlogger", "sbin/courierlogger"),
        ("imaplogin", "lib/courier/courier/imaplogin"),
        ("courierpop3login", "lib/courier/courier/courierpop3login"),
    ] {
        let built = workspace_root().join("target/debug").join(p).exists();
        assert_eq!(prefix.join(rel).exists(), built, "{rel} (built: {built})");
    }
    assert!(!prefix.join("sbin/report-env").exists() && !prefix.join("bin/report-env").exists());
    // Start scripts in lib/courier, symlinked from sbin, directories written in.
    for s in [
        "imapd",
        "imapd-ssl",
        "pop3d",
        "pop3d-ssl",
        "mkimapdcert",
        "mkpop3dcert",
    ] {
        let link = std::fs::read_link(prefix.join("sbin").join(s)).unwrap();
        assert_eq!(link, Path::new("../lib/courier").join(s));
        let text = std::fs::read_to_string(prefix.join("lib/courier").join(s)).unwrap();
        assert!(
            text.contains(&format!(
                "sysconfdir=${{COURIER_SYSCONFDIR:-{}}}",
                etc.display()
            )),
            "{s}"
        );
        let sh = Run::new(Path::new("/bin/sh"), "sh")
            .args(["-n"])
            .arg_os(prefix.join("lib/courier").join(s).as_os_str())
            .run();
        assert_eq!(sh.code, Some(0), "{s}: {sh:?}");
    }
    let imapd = std::fs::read_to_string(prefix.join("lib/courier/imapd")).unwrap();
    assert!(imapd.contains(&format!("prefix=${{COURIER_PREFIX:-{}}}", prefix.display())));
    // Configuration: file and .dist, /etc/courier paths moved to the prefix.
    for f in ["imapd", "imapd-ssl", "pop3d", "pop3d-ssl", "authdaemonrc"] {
        let text = std::fs::read_to_string(etc.join(f)).unwrap();
        assert_eq!(
            text,
            std::fs::read_to_string(etc.join(format!("{f}.dist"))).unwrap()
        );
        assert!(
            !text.contains("=/etc/courier/"),
            "{f} still names /etc/courier"
        );
    }
    assert_eq!(
        std::fs::metadata(etc.join("authdaemonrc")).unwrap().mode() & 0o777,
        0o640
    );
    let ssl = std::fs::read_to_string(etc.join("imapd-ssl")).unwrap();
    assert!(
        ssl.contains(&format!("TLS_CERTFILE={}/imapd.pem", etc.display())),
        "{ssl}"
    );
    // Units: our sbin, and AUTHDAEMONRC because the configuration is not in /etc/courier.
    let unit =
        std::fs::read_to_string(prefix.join("lib/systemd/system/courier-authdaemon.service"))
            .unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart={}/sbin/authdaemond start",
            prefix.display()
        )),
        "{unit}"
    );
    assert!(
        unit.contains(&format!(
            "Environment=AUTHDAEMONRC={}/authdaemonrc",
            etc.display()
        )),
        "{unit}"
    );
    for u in [
        "courier-imap",
        "courier-imap-ssl",
        "courier-pop",
        "courier-pop-ssl",
    ] {
        let text = std::fs::read_to_string(prefix.join(format!("lib/systemd/system/{u}.service")))
            .unwrap();
        assert!(text.contains("Type=forking"), "{u}");
        assert!(text.contains("PIDFile=/run/courier/"), "{u}");
        assert!(text.contains(&format!("{}/sbin/", prefix.display())), "{u}");
    }
    assert!(prefix.join("share/man/man8/authdaemond.8").exists());
    assert!(
        prefix
            .join("share/doc/courier-rs/examples/inetd.conf.example")
            .exists()
    );
    // A second install keeps edited configuration and refreshes the .dist.
    std::fs::write(etc.join("imapd"), "PORT=1143\n").unwrap();
    let o = install(&prefix, &[]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(o.stdout.contains("imapd exists: kept"), "{}", o.stdout);
    assert_eq!(
        std::fs::read_to_string(etc.join("imapd")).unwrap(),
        "PORT=1143\n"
    );
    // ... and makes the missing certificates (mode 0600, owner courier as root).
    for c in ["imapd.pem", "pop3d.pem"] {
        let m = std::fs::metadata(etc.join(c)).unwrap_or_else(|e| panic!("{c}: {e}\n{}", o.stdout));
        assert_eq!(m.mode() & 0o777, 0o600, "{c}");
        if is_root() {
            let courier = std::process::Command::new("id")
                .args(["-u", "courier"])
                .output()
                .unwrap();
            if courier.status.success() {
                let uid: u32 = String::from_utf8_lossy(&courier.stdout)
                    .trim()
                    .parse()
                    .unwrap();
                assert_eq!(m.uid(), uid, "{c} owner");
            }
        }
    }
    let _ = t;
}

/// Waits until `pid_file` names a live process; returns its pid.
fn wait_pid(pid_file: &Path) -> Option<u32> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(p) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            && Path::new(&format!("/proc/{p}")).exists()
        {
            return Some(p);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Kills by pid whatever the pid files name, on drop (if a stop failed).
struct Started(Vec<u32>);

impl Drop for Started {
    fn drop(&mut self) {
        for p in &self.0 {
            kill_tree(*p);
        }
    }
}

fn ours_or_debian(side: Side, name: &str) -> PathBuf {
    chain_bin(side, name)
}

#[test]
fn installed_start_scripts_start_and_stop_the_four_servers() {
    let t = "installed_start_scripts_start_and_stop_the_four_servers";
    if !chain_prereqs(t) {
        return;
    }
    let fx = Fixture::new("");
    let dir = open_scratch("scripts");
    let prefix = dir.join("usr");
    let o = install(&prefix, &["--no-certs"]);
    assert_eq!(o.code, Some(0), "{o:?}");
    let side = fx.side;
    // The chain programs of the side under test, the session = report-env.
    let place = |name: &str, rel: &str, target: &Path| {
        let p = prefix.join(rel);
        let _ = std::fs::remove_file(&p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &p).unwrap();
        let _ = name;
    };
    for (name, rel) in [
        ("couriertcpd", "sbin/couriertcpd"),
        ("courierlogger", "sbin/courierlogger"),
        ("makeimapaccess", "sbin/makeimapaccess"),
        ("couriertls", "bin/couriertls"),
        ("imaplogin", "lib/courier/courier/imaplogin"),
        ("courierpop3login", "lib/courier/courier/courierpop3login"),
    ] {
        place(name, rel, &ours_or_debian(side, name));
    }
    place("imapd", "bin/imapd", &report_env());
    place(
        "courierpop3d",
        "lib/courier/courier/courierpop3d",
        &report_env(),
    );
    let etc = prefix.join("etc/courier");
    let run = dir.join("run");
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let cache = dir.join("tlscache");
    let append = |f: &str, text: String| {
        let mut s = std::fs::read_to_string(etc.join(f)).unwrap();
        s.push_str(&text);
        std::fs::write(etc.join(f), s).unwrap();
    };
    append(
        "imapd",
        format!(
            "ADDRESS=127.0.0.1\nPORT={}\nPIDFILE={}/imapd.pid\nTCPDOPTS=\"-nodnslookup -noidentlookup -stderr={}/imapd.log\"\n",
            ports[0],
            run.display(),
            dir.path().display()
        ),
    );
    append(
        "imapd-ssl",
        format!(
            "SSLADDRESS=127.0.0.1\nSSLPORT={}\nSSLPIDFILE={}/imapd-ssl.pid\nTLS_CERTFILE={}\nTLS_DHPARAMS=\nTLS_CACHEFILE={}\nCOURIERTLS={}\n",
            ports[1],
            run.display(),
            fx.cert.display(),
            cache.display(),
            prefix.join("bin/couriertls").display()
        ),
    );
    append(
        "pop3d",
        format!(
            "ADDRESS=127.0.0.1\nPORT={}\nPIDFILE={}/pop3d.pid\n",
            ports[2],
            run.display()
        ),
    );
    append(
        "pop3d-ssl",
        format!(
            "SSLADDRESS=127.0.0.1\nSSLPORT={}\nSSLPIDFILE={}/pop3d-ssl.pid\nTLS_CERTFILE={}\nTLS_DHPARAMS=\nTLS_CACHEFILE=\nCOURIERTLS={}\n",
            ports[3],
            run.display(),
            fx.cert.display(),
            prefix.join("bin/couriertls").display()
        ),
    );
    std::fs::create_dir(etc.join("imapaccess")).unwrap();
    std::fs::write(
        etc.join("imapaccess/local"),
        "127.0.0.1\tallow,FROMACCESS=1\n",
    )
    .unwrap();
    // Debian's makeimapaccess reads /etc/courier/imapd whatever the scripts
    // say: with it (oracle mode) the database is built beforehand.
    let debian_makeimapaccess =
        ours_or_debian(side, "makeimapaccess") == debian_chain_path("makeimapaccess");
    if debian_makeimapaccess {
        let src = etc.join("imapaccess");
        let o = Run::new(&debian_chain_path("makedat"), "makedat")
            .arg_os(format!("-src={}", src.display()).as_ref())
            .arg_os(format!("-file={}.dat", src.display()).as_ref())
            .arg_os(format!("-tmp={}.tmp", src.display()).as_ref())
            .run();
        assert_eq!(o.code, Some(0), "makedat: {o:?}");
    }
    assert_eq!(etc.join("imapaccess.dat").exists(), debian_makeimapaccess);

    let mut started = Started(Vec::new());
    for s in ["imapd", "imapd-ssl", "pop3d", "pop3d-ssl"] {
        let o = fx
            .auth
            .inside(&prefix.join("sbin").join(s), &["start"])
            .run();
        assert_eq!(o.code, Some(0), "{s} start: {o:?}");
        let pid_file = run.join(format!("{s}.pid"));
        let pid = wait_pid(&pid_file).unwrap_or_else(|| panic!("{s}: no pid file"));
        started.0.push(pid);
    }
    // makeimapaccess ran because the .dat was missing; the cache was made for courier.
    assert!(etc.join("imapaccess.dat").exists());
    let cm = std::fs::metadata(&cache).expect("TLS_CACHEFILE recreated");
    assert_eq!((cm.mode() & 0o777, cm.len()), (0o600, 0));
    for p in ports {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Port 143: IMAP_STARTTLS from IMAPDSTARTTLS, the access file's variable.
    let (greeting, rest) = imap_login_report(ports[0], "vuser", VUSER_PASSWORD);
    assert!(greeting.contains(" STARTTLS "), "{greeting}");
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}"));
    r.assert_identity(fx.uid, fx.gid, &[fx.gid]);
    assert_eq!(r.var("IMAP_STARTTLS"), "YES");
    assert_eq!(r.var("FROMACCESS"), "1");
    assert_eq!(r.var("PORT"), ports[0].to_string());
    // Environment built from an empty one: nothing of ours leaks in.
    assert!(!r.env.contains_key("CARGO"), "{r:?}");
    // 993: IMAP_TLS=1, no STARTTLS.
    let out = py_dialogue(
        ports[1],
        true,
        None,
        &[
            Step::Read,
            Step::Send(format!("a LOGIN vuser {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(r.var("IMAP_TLS"), "1");
    let greeting = out
        .lines()
        .find(|l| l.starts_with("S: * OK"))
        .unwrap_or_default();
    assert!(!greeting.contains("STARTTLS"), "{greeting}");
    // 110 and 995.
    let mut c = Conn::connect(ports[2]);
    c.line();
    c.cmd("USER vuser");
    c.line();
    c.cmd(&format!("PASS {VUSER_PASSWORD}"));
    let (rest, _) = c.rest(Duration::from_secs(15));
    let r = Report::parse(&rest).unwrap_or_else(|| panic!("{rest}"));
    assert_eq!(r.var("POP3_STARTTLS"), "YES");
    let out = py_dialogue(
        ports[3],
        true,
        None,
        &[
            Step::Read,
            Step::Send("USER vuser".into()),
            Step::Read,
            Step::Send(format!("PASS {VUSER_PASSWORD}")),
            Step::ReadAll(15),
        ],
    );
    let r = Report::parse(&out).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        (
            r.var("POP3_TLS"),
            r.var("POP3_STARTTLS"),
            r.var("POP3_TLS_REQUIRED")
        ),
        ("1", "NO", "0")
    );
    // The processes: courierlogger -> couriertcpd, ulimit -v on the IMAP side,
    // couriertls -user=courier under 993.
    let tcpd_of = |logger: u32| -> u32 {
        let kids = children_of(logger);
        assert_eq!(kids.len(), 1, "courierlogger {logger} children {kids:?}");
        kids[0]
    };
    let imap_tcpd = tcpd_of(started.0[0]);
    let limits = std::fs::read_to_string(format!("/proc/{imap_tcpd}/limits")).unwrap();
    let vm = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .unwrap();
    assert!(vm.contains(&(131072u64 * 1024).to_string()), "{vm}");
    let ssl_cmd = proc_cmdline(tcpd_of(started.0[1]));
    assert!(
        ssl_cmd.contains(" -server -tcpd -user=courier "),
        "{ssl_cmd}"
    );
    assert!(
        ssl_cmd.contains(&format!("-access={}/imapaccess.dat", etc.display())),
        "{ssl_cmd}"
    );
    let pop_cmd = proc_cmdline(tcpd_of(started.0[2]));
    assert!(!pop_cmd.contains("-access"), "{pop_cmd}");
    assert!(pop_cmd.contains("-maxperip=4"), "{pop_cmd}");

    for s in ["imapd", "imapd-ssl", "pop3d", "pop3d-ssl"] {
        let o = fx
            .auth
            .inside(&prefix.join("sbin").join(s), &["stop"])
            .run();
        assert_eq!(o.code, Some(0), "{s} stop: {o:?}");
    }
    for (i, p) in started.0.iter().enumerate() {
        let start = Instant::now();
        while Path::new(&format!("/proc/{p}")).exists() && start.elapsed() < Duration::from_secs(10)
        {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            if stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = ports[i];
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} open after stop"
        );
    }
}
