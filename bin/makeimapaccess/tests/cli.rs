//! makeimapaccess as a program: reads IMAPACCESSFILE/PIDFILE/SSLPIDFILE from the two
//! configuration files, builds `$IMAPACCESSFILE.dat`, SIGHUPs a running daemon.

use courier_userdb::dat::DatFile;
use std::path::Path;
use std::process::{Command, Output};

const OURS: &str = env!("CARGO_BIN_EXE_makeimapaccess");

fn run(imapd: &Path, ssl: &Path) -> Output {
    Command::new(OURS)
        .env("IMAPD_CONFIG", imapd)
        .env("IMAPD_SSL_CONFIG", ssl)
        .output()
        .unwrap()
}

#[test]
fn builds_the_database_named_in_imapd() {
    let t = tempfile::tempdir().unwrap();
    let access = t.path().join("imapaccess");
    std::fs::create_dir(&access).unwrap();
    std::fs::write(
        access.join("local"),
        "127.0.0.1\tallow,RELAYCLIENT\n10.0.0.0/23\tdeny\n",
    )
    .unwrap();
    let imapd = t.path().join("imapd");
    std::fs::write(
        &imapd,
        format!(
            "##NAME: IMAPACCESSFILE:0\n#\nIMAPACCESSFILE={}\nPIDFILE={}\nTCPDOPTS=\"-nodnslookup -noidentlookup\"\n",
            access.display(),
            t.path().join("imapd.pid").display()
        ),
    )
    .unwrap();
    let ssl = t.path().join("imapd-ssl");
    std::fs::write(
        &ssl,
        format!("SSLPIDFILE={}\n", t.path().join("ssl.pid").display()),
    )
    .unwrap();
    let o = run(&imapd, &ssl);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let db = DatFile::open(&t.path().join("imapaccess.dat")).unwrap();
    assert_eq!(
        db.get(b"127.0.0.1").unwrap(),
        Some(b"allow,RELAYCLIENT".to_vec())
    );
    assert_eq!(db.get(b"10.0.1").unwrap(), Some(b"deny".to_vec()));
    assert!(!t.path().join("imapaccess.tmp").exists());
}

#[test]
fn sighups_the_daemon_holding_the_pid_file() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("imapaccess"), "*\tallow\n").unwrap();
    let pid_file = t.path().join("imapd.pid");
    let imapd = t.path().join("imapd");
    std::fs::write(
        &imapd,
        format!(
            "IMAPACCESSFILE={}\nPIDFILE={}\n",
            t.path().join("imapaccess").display(),
            pid_file.display()
        ),
    )
    .unwrap();
    // A daemon: our couriertcpd is not built by this package's tests, so lock the file
    // the way it does from a helper process (Perl's fcntl, as liblock's F_SETLK).
    let lock = format!("{}.lock", pid_file.display());
    let mut holder = match Command::new("perl")
        .args([
            "-MFcntl",
            "-e",
            "open(my $f, '+>', $ARGV[0]) or die; \
             my $l = pack('s s l l l x20', F_WRLCK, 0, 0, 0, 0); \
             fcntl($f, F_SETLK, $l) or die; $SIG{HUP} = sub { exit 42 }; \
             open(my $p, '>', $ARGV[1]); print $p \"$$\\n\"; close $p; sleep 30; exit 0",
        ])
        .arg(&lock)
        .arg(&pid_file)
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            eprintln!("SKIP: perl not available");
            return;
        }
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !pid_file.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = run(&imapd, &t.path().join("no-imapd-ssl"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(holder.wait().unwrap().code(), Some(42), "no SIGHUP arrived");
}

#[test]
fn missing_imapaccessfile_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let imapd = t.path().join("imapd");
    std::fs::write(&imapd, "PORT=143\n").unwrap();
    let o = run(&imapd, &t.path().join("none"));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "ERROR: No IMAPACCESSFILE specified in {}(-msa)\n",
            imapd.display()
        )
    );
    std::fs::write(
        &imapd,
        format!("IMAPACCESSFILE={}\n", t.path().join("absent").display()),
    )
    .unwrap();
    let o = run(&imapd, &t.path().join("none"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("absent: No such file or directory"));
}

#[test]
fn debians_configuration_files_parse() {
    let (imapd, ssl) = (
        Path::new("/etc/courier/imapd"),
        Path::new("/etc/courier/imapd-ssl"),
    );
    if !imapd.exists() || !ssl.exists() {
        eprintln!("SKIP: Debian's /etc/courier/imapd not installed");
        return;
    }
    // Point IMAPACCESSFILE elsewhere by copying the files: never touch /etc.
    let t = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(imapd).unwrap();
    let src = t.path().join("imapaccess");
    std::fs::write(&src, "127.0.0.1\tallow,RELAYCLIENT\n").unwrap();
    let rewritten: String = text
        .lines()
        .map(|l| {
            if l.starts_with("IMAPACCESSFILE=") {
                format!("IMAPACCESSFILE={}\n", src.display())
            } else if l.starts_with("PIDFILE=") {
                format!("PIDFILE={}\n", t.path().join("imapd.pid").display())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(t.path().join("imapd"), rewritten).unwrap();
    let ssl_text: String = std::fs::read_to_string(ssl)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("SSLPIDFILE=") {
                format!("SSLPIDFILE={}\n", t.path().join("ssl.pid").display())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(t.path().join("imapd-ssl"), ssl_text).unwrap();
    let o = run(&t.path().join("imapd"), &t.path().join("imapd-ssl"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(t.path().join("imapaccess.dat").exists());
}
