//! couriertls against real TLS clients (`openssl s_client`): IMAPS shape under a
//! one-connection accept loop, SNI selection, STARTTLS (`-localfd`), start-up
//! errors, garbage and stalled handshakes, `-user`, and Debian's couriertls where
//! the output is deterministic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_couriertls");

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP: openssl CLI not installed");
    }
    ok
}

/// A self-signed RSA certificate and key in one PEM file.
fn make_cert(path: &Path, cn: &str) {
    let key = path.with_extension("key.tmp");
    let crt = path.with_extension("crt.tmp");
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let mut pem = std::fs::read(&crt).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    std::fs::write(path, pem).unwrap();
    let _ = std::fs::remove_file(key);
    let _ = std::fs::remove_file(crt);
}

/// Accepts one connection on 127.0.0.1 and runs couriertls on it as couriertcpd
/// would (socket on fds 0/1, TCP* variables). Returns the port and a handle for
/// couriertls's output.
fn serve_once(args: &[&str], env: &[(&str, String)]) -> (u16, std::thread::JoinHandle<Output>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let handle = std::thread::spawn(move || {
        let (sock, peer) = listener.accept().unwrap();
        let fd = OwnedFd::from(sock);
        Command::new(BIN)
            .args(&args)
            .envs(env)
            .env("TCPREMOTEIP", format!("::ffff:{}", peer.ip()))
            .env("TCPLOCALIP", "::ffff:127.0.0.1")
            .stdin(Stdio::from(fd.try_clone().unwrap()))
            .stdout(Stdio::from(fd))
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    });
    (port, handle)
}

/// Runs `openssl s_client` with `input` on stdin; returns its stdout.
fn s_client(port: u16, extra: &[&str], input: &str) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-quiet",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    // Keep stdin open a moment: s_client -quiet treats EOF as "stop".
    std::thread::sleep(Duration::from_millis(700));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn script(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("prog.sh");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    let _ = Command::new("chmod").arg("755").arg(&p).status();
    p
}

const ECHO_PROGRAM: &str = r#"echo "* OK $TLS_CONNECTED_PROTOCOL"
read line
echo "got: $line""#;

#[test]
fn imaps_program_gets_tls_connected_protocol() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("imapd.pem");
    make_cert(&cert, "imap.test");
    let prog = script(dir.path(), ECHO_PROGRAM);
    for (opts, want) in [
        (&[][..], "* OK TLS1.3,256bits,ECDHE_RSA_AES_256_GCM_SHA384"),
        (
            &["-tls1_2"][..],
            "* OK TLS1.2,256bits,ECDHE_RSA_AES_256_GCM_SHA384",
        ),
        (
            &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"][..],
            "* OK TLS1.3,256bits,ECDHE_RSA_CHACHA20_POLY1305",
        ),
    ] {
        let (port, h) = serve_once(
            &["-server", "-tcpd", prog.to_str().unwrap()],
            &[
                ("TLS_CERTFILE", cert.display().to_string()),
                ("TLS_VERIFYPEER", "NONE".into()),
            ],
        );
        let out = s_client(port, opts, "hello\n");
        let status = h.join().unwrap();
        assert!(out.contains(want), "{opts:?}: {out}");
        assert!(out.contains("got: hello"), "{opts:?}: {out}");
        assert_eq!(status.status.code(), Some(0), "{:?}", status);
    }
}

fn served_subject(port: u16, servername: Option<&str>) -> String {
    let mut args = vec![
        "s_client".to_string(),
        "-connect".into(),
        format!("127.0.0.1:{port}"),
    ];
    match servername {
        Some(n) => args.extend(["-servername".into(), n.to_string()]),
        None => args.push("-noservername".into()),
    }
    let out = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or("")
        .to_string()
}

#[test]
fn sni_selects_certificate_like_courier() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("cert.pem");
    make_cert(&base, "default.test");
    make_cert(&dir.path().join("cert.pem.example.com"), "example.com");
    make_cert(&dir.path().join("cert.pem.127.0.0.1"), "ip.test");
    let prog = script(dir.path(), "echo hi");
    for (sni, want) in [
        (Some("mail.example.com"), "CN = example.com"),
        (Some("example.com"), "CN = example.com"),
        (Some("other.org"), "CN = ip.test"),
        (None, "CN = ip.test"),
    ] {
        let (port, h) = serve_once(
            &["-server", "-tcpd", prog.to_str().unwrap()],
            &[
                ("TLS_CERTFILE", base.display().to_string()),
                ("TLS_VERIFYPEER", "NONE".into()),
            ],
        );
        let subject = served_subject(port, sni);
        let _ = h.join();
        assert_eq!(subject, want, "SNI {sni:?}");
    }
}

#[test]
fn starttls_localfd_with_status_fd() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("imapd.pem");
    make_cert(&cert, "imap.test");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-quiet",
        ])
        .args(["-starttls", "imap"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Play imaplogin: plaintext greeting and STARTTLS, then hand the socket over.
    let (sock, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut w = sock.try_clone().unwrap();
    w.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        .unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let tag = line.split_whitespace().next().unwrap_or("").to_string();
        if line.to_ascii_uppercase().contains("STARTTLS") {
            w.write_all(format!("{tag} OK Begin SSL/TLS negotiation now.\r\n").as_bytes())
                .unwrap();
            break;
        }
        w.write_all(format!("* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK done\r\n").as_bytes())
            .unwrap();
    }
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let net = OwnedFd::from(sock);
    let mut tls = Command::new(BIN)
        .args(["-server", "-remotefd=0", "-localfd=1", "-statusfd=2"])
        .env("TLS_CERTFILE", &cert)
        .env("TLS_VERIFYPEER", "NONE")
        .stdin(Stdio::from(net))
        .stdout(Stdio::from(OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The status descriptor: EOF with no text means the handshake succeeded.
    let mut status = String::new();
    tls.stderr
        .take()
        .unwrap()
        .read_to_string(&mut status)
        .unwrap();
    assert_eq!(status, "");

    ours.write_all(b"* OK after TLS\r\n").unwrap();
    let mut cin = client.stdin.take().unwrap();
    cin.write_all(b"a1 NOOP\n").unwrap();
    let mut got = [0u8; 64];
    let n = ours.read(&mut got).unwrap();
    assert!(String::from_utf8_lossy(&got[..n]).starts_with("a1 NOOP"));
    drop(ours); // the login program is done: couriertls closes the TLS session
    let st = tls.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    drop(cin);
    let out = client.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("* OK after TLS"));
}

fn run_with_env(env: &[(&str, String)]) -> Output {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["-server", "-remotefd=0", "/bin/echo", "never"])
        .env_remove("TCPREMOTEIP")
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "must fail at start"
    );
    out
}

/// Regression: data and close_notify arriving together used to leave the
/// close_notify unnoticed until the client gave up.
#[test]
fn client_close_notify_half_close_reaches_program_and_back() {
    if !have_openssl() {
        return;
    }
    if !Command::new("python3")
        .arg("-c")
        .arg("import ssl")
        .status()
        .is_ok_and(|s| s.success())
    {
        println!("SKIP: python3 with ssl not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("imapd.pem");
    make_cert(&cert, "imap.test");
    // The program reads to EOF, then answers: only possible with a real half-close.
    let prog = script(dir.path(), "n=$(wc -l); echo \"lines=$n\"");
    let (port, h) = serve_once(
        &["-server", "-tcpd", prog.to_str().unwrap()],
        &[
            ("TLS_CERTFILE", cert.display().to_string()),
            ("TLS_VERIFYPEER", "NONE".into()),
        ],
    );
    let client = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
sock = socket.create_connection(("127.0.0.1", {port})); sock.settimeout(5)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname="x.test")
def flush():
    d = out.read()
    if d: sock.sendall(d)
def feed():
    d = sock.recv(65536)
    if d: inc.write(d)
    else: inc.write_eof()
    return d
while True:
    try:
        obj.do_handshake(); break
    except ssl.SSLWantReadError:
        flush(); feed()
flush()
obj.write(b"one\ntwo\nthree\n")
try:
    obj.unwrap()  # queue our close_notify right behind the data
except ssl.SSLWantReadError:
    pass
flush()
got = b""
while True:
    try:
        d = obj.read(4096)
        if not d: break
        got += d
    except ssl.SSLWantReadError:
        if not feed(): break
    except ssl.SSLZeroReturnError:
        break
print(got.decode())
"#
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&client)
        .output()
        .unwrap();
    let st = h.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "lines=3",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(st.status.code(), Some(0));
}

fn openssl(args: &[&str], dir: &Path) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl {args:?}");
}

#[test]
fn verified_client_certificate_exports_subject() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = d.join("imapd.pem");
    make_cert(&cert, "imap.test");
    // A CA and a client certificate it signed.
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        d,
    );
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/C=DE/O=Example/CN=alice/emailAddress=alice@example.com",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ],
        d,
    );
    std::fs::write(
        d.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "client.pem",
        ],
        d,
    );
    let prog = script(d, r#"env | grep '^TLS_SUBJECT_' | sort"#);
    let env = [
        ("TLS_CERTFILE", cert.display().to_string()),
        ("TLS_VERIFYPEER", "REQUIREPEER".to_string()),
        ("TLS_TRUSTCERTS", d.join("ca.pem").display().to_string()),
    ];
    let (port, h) = serve_once(
        &["-server", "-tcpd", "-printx509=2", prog.to_str().unwrap()],
        &env,
    );
    let client_cert = d.join("client.pem").display().to_string();
    let client_key = d.join("client.key").display().to_string();
    let out = s_client(port, &["-cert", &client_cert, "-key", &client_key], "");
    let status = h.join().unwrap();
    assert!(out.contains("TLS_SUBJECT_CN=alice\n"), "{out}");
    assert!(
        out.contains("TLS_SUBJECT_EMAILADDRESS=alice@example.com\n"),
        "{out}"
    );
    assert!(out.contains("TLS_SUBJECT_O=Example\n"), "{out}");
    let dump = String::from_utf8_lossy(&status.stderr);
    assert!(
        dump.starts_with("Subject:\n   c=DE\n   o=Example\n   cn=alice\n"),
        "{dump}"
    );
    assert!(
        dump.contains("\nVersion: TLS1.3\nBits: 256\nCipher: ECDHE_RSA_AES_256_GCM_SHA384\n"),
        "{dump}"
    );

    // No client certificate under REQUIREPEER: the handshake fails, PROGRAM never runs.
    let (port, h) = serve_once(&["-server", "-tcpd", prog.to_str().unwrap()], &env);
    let out = s_client(port, &[], "");
    let status = h.join().unwrap();
    assert!(!out.contains("TLS_SUBJECT"), "{out}");
    assert_eq!(status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&status.stderr).starts_with("ERR: ip=["));
}

#[test]
fn bad_configuration_is_an_error_at_start_naming_the_file() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let out = run_with_env(&[("TLS_CERTFILE", missing.display().to_string())]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ERR: couriertls: {}: No such file or directory\n",
            missing.display()
        )
    );
    assert!(out.stdout.is_empty(), "PROGRAM must not run");

    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let out = run_with_env(&[("TLS_CERTFILE", junk.display().to_string())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&junk.display().to_string()) && err.contains("no certificate"),
        "{err}"
    );

    // Certificate with someone else's key.
    let a = dir.path().join("a.pem");
    let b = dir.path().join("b.pem");
    make_cert(&a, "a.test");
    make_cert(&b, "b.test");
    let out = run_with_env(&[
        ("TLS_CERTFILE", a.display().to_string()),
        ("TLS_PRIVATE_KEYFILE", b.display().to_string()),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match the certificate"), "{err}");

    let out = run_with_env(&[
        ("TLS_CERTFILE", a.display().to_string()),
        ("TLS_PROTOCOL", "SSL3".into()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ERR: couriertls: TLS_PROTOCOL=SSL3: "),
        "{err}"
    );

    let out = run_with_env(&[
        ("TLS_CERTFILE", a.display().to_string()),
        ("TLS_VERIFYPEER", "REQUIREPEER".into()),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TLS_VERIFYPEER=REQUIREPEER") && err.contains("TLS_TRUSTCERTS"),
        "{err}"
    );
}

#[test]
fn garbage_and_stalled_handshakes_end_cleanly() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("imapd.pem");
    make_cert(&cert, "imap.test");
    let env = [
        ("TLS_CERTFILE", cert.display().to_string()),
        ("TLS_VERIFYPEER", "NONE".to_string()),
        ("TLS_HANDSHAKE_TIMEOUT", "1".to_string()),
    ];
    let prog = script(dir.path(), "echo must-not-run");

    // Plain HTTP instead of a ClientHello.
    let (port, h) = serve_once(&["-server", "-tcpd", prog.to_str().unwrap()], &env);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("must-not-run"));
    let out = h.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("ERR: ip=[::ffff:127.0.0.1], "), "{err}");

    // Half a record, then silence: the handshake timeout ends it.
    let (port, h) = serve_once(&["-server", "-tcpd", prog.to_str().unwrap()], &env);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"\x16\x03\x01\x00\x05hel").unwrap();
    let start = Instant::now();
    let out = h.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("WARN: ip=[::ffff:127.0.0.1], TLS handshake timed out"),
        "{err}"
    );

    // Connect and hang up: Courier's DEBUG line.
    let (port, h) = serve_once(&["-server", "-tcpd", prog.to_str().unwrap()], &env);
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let out = h.join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "DEBUG: ip=[::ffff:127.0.0.1], Unexpected SSL connection shutdown.\n"
    );
}

#[test]
fn user_option_drops_couriertls_but_not_program() {
    if !have_openssl() {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP: -user needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("imapd.pem");
    make_cert(&cert, "imap.test");
    let prog = script(
        dir.path(),
        "echo \"uids $(id -u) $(stat -c %u /proc/$PPID)\"",
    );
    let (port, h) = serve_once(
        &["-server", "-tcpd", "-user=nobody", prog.to_str().unwrap()],
        &[
            ("TLS_CERTFILE", cert.display().to_string()),
            ("TLS_VERIFYPEER", "NONE".into()),
        ],
    );
    let out = s_client(port, &[], "");
    let _ = h.join();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
    assert!(out.contains(&format!("uids 0 {nobody}")), "{out}");
}

/// Debian's couriertls, where its output does not depend on timing.
#[test]
fn differential_against_debian_couriertls() {
    let debian = Path::new("/usr/bin/couriertls");
    if !debian.exists() {
        println!("SKIP: Debian's couriertls is not installed");
        return;
    }
    for args in [
        &["-foo"][..],
        &[][..],
        &["-server"][..],
        &["-protocol=xx", "-tcpd"][..],
        &["--server"][..],
    ] {
        let theirs = Command::new("couriertls")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let ours = Command::new(BIN)
            .arg0_couriertls()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        let strip = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .trim_start_matches("ERR: ")
                .to_string()
        };
        assert_eq!(strip(&ours.stderr), strip(&theirs.stderr), "{args:?}");
    }
    if !have_openssl() {
        return;
    }
    // The same client options give the same TLS_CONNECTED_PROTOCOL.
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("imapd.pem");
    make_cert(&cert, "imap.test");
    let prog = script(dir.path(), ECHO_PROGRAM);
    for opts in [&["-tls1_2"][..], &["-tls1_3"][..]] {
        let mut lines = Vec::new();
        for bin in [BIN, "/usr/bin/couriertls"] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let (cert, prog, bin) = (cert.clone(), prog.clone(), bin.to_string());
            let h = std::thread::spawn(move || {
                let (sock, _) = listener.accept().unwrap();
                let fd = OwnedFd::from(sock);
                Command::new(bin)
                    .args(["-server", "-tcpd", prog.to_str().unwrap()])
                    .env("TLS_CERTFILE", &cert)
                    .env("TLS_VERIFYPEER", "NONE")
                    .stdin(Stdio::from(fd.try_clone().unwrap()))
                    .stdout(Stdio::from(fd))
                    .output()
                    .unwrap()
            });
            let out = s_client(port, opts, "x\n");
            let _ = h.join();
            lines.push(
                out.lines()
                    .find(|l| l.starts_with("* OK"))
                    .unwrap_or("")
                    .to_string(),
            );
        }
        assert_eq!(lines[0], lines[1], "{opts:?}");
    }
}

trait Arg0 {
    fn arg0_couriertls(&mut self) -> &mut Self;
}

impl Arg0 for Command {
    /// Debian's messages start with argv[0]; run ours under the same name.
    fn arg0_couriertls(&mut self) -> &mut Self {
        std::os::unix::process::CommandExt::arg0(self, "couriertls")
    }
}
