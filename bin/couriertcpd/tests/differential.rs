//! Our couriertcpd next to Debian's: messages and exit codes, the program's environment,
//! access-file results (each built with its own makedat), the per-IP ALERT line, and
//! our -restart/-stop driving Debian's daemon through its pid and lock files.
//! Skipped, saying so, when Debian's couriertcpd is not installed.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn debian() -> bool {
    if Path::new(DEBIAN).exists() {
        true
    } else {
        eprintln!("SKIP: {DEBIAN} not installed (apt-get install courier-base)");
        false
    }
}

#[test]
fn refusals_match_debian() {
    if !debian() {
        return;
    }
    let cases: &[&[&str]] = &[
        &[],
        &["143"],
        &["-restrict", "1", "2"],
        &["-stop"],
        &["-restart"],
        &["-maxprocs=0", "1", "/bin/true"],
        &["-maxperip=0", "127.0.0.1.1", "/bin/true"],
        &["-maxperc=x", "127.0.0.1.1", "/bin/true"],
        &["-address=127.0.0.1", "99999", "/bin/true"],
        &["-", "-x"],
    ];
    for words in cases {
        let run = |bin: &str| {
            Command::new(bin)
                .arg0("couriertcpd")
                .args(*words)
                .output()
                .unwrap()
        };
        let (ours, theirs) = (run(OURS), run(DEBIAN));
        assert_eq!(ours.status.code(), theirs.status.code(), "{words:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "{words:?}"
        );
    }
}

/// The program's environment with the ports replaced by `PORT`.
fn env_of(bin: &str, args: &[&str], source: [u8; 4]) -> Vec<String> {
    let d = Daemon::start(bin, args, &["{port}", "/usr/bin/env"]);
    let s = d.connect_from(source);
    let port = d.port.to_string();
    let peer = s.local_addr().unwrap().port().to_string();
    env_lines(&read_all(&s))
        .into_iter()
        .map(|l| l.replace(&peer, "PEERPORT").replace(&port, "PORT"))
        .collect()
}

#[test]
fn child_environment_matches_debian() {
    if !debian() {
        return;
    }
    for args in [
        &["-address=127.0.0.1", "-nodnslookup", "-noidentlookup"][..],
        &["-nodnslookup", "-noidentlookup"][..],
    ] {
        let ours = env_of(OURS, args, [127, 0, 0, 1]);
        assert_eq!(ours, env_of(DEBIAN, args, [127, 0, 0, 1]), "{args:?}");
        assert!(ours.contains(&"TCPREMOTEIP=::ffff:127.0.0.1".to_string()));
    }
}

#[test]
fn access_results_match_debian() {
    if !debian() {
        return;
    }
    let makedat = Path::new("/usr/lib/courier/makedat");
    if !makedat.exists() {
        eprintln!("SKIP: {} not installed", makedat.display());
        return;
    }
    let source = "127.0.0.1\tallow,FOO=bar,RELAYCLIENT,QUOTED=\"a,b\",SQ='x y'\n\
                  127.0.0.2\tdeny\n\
                  127.0.0.3\tFOO=nodirective\n\
                  127.0.0\tallow,CBLOCK=1\n\
                  127.0.0.5\tdenyX\n";
    let dir = tempfile::tempdir().unwrap();
    let ours_dat = access_db(dir.path(), source);
    let gdbm = dir.path().join("debian.dat");
    let o = Command::new(makedat)
        .arg(format!("-src={}", dir.path().join("access").display()))
        .arg(format!("-file={}", gdbm.display()))
        .arg(format!("-tmp={}", dir.path().join("debian.tmp").display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for source_ip in [
        [127, 0, 0, 1],
        [127, 0, 0, 2],
        [127, 0, 0, 3],
        [127, 0, 0, 4],
        [127, 0, 0, 5],
    ] {
        let run = |bin: &str, dat: &Path| {
            let access = format!("-access={}", dat.display());
            env_of(
                bin,
                &[
                    "-nodnslookup",
                    "-noidentlookup",
                    &access,
                    "-denymsg=Go away",
                ],
                source_ip,
            )
        };
        assert_eq!(run(OURS, &ours_dat), run(DEBIAN, &gdbm), "{source_ip:?}");
    }
}

#[test]
fn per_ip_alert_matches_debian() {
    if !debian() {
        return;
    }
    let mut logs = Vec::new();
    for bin in [OURS, DEBIAN] {
        let d = Daemon::start(
            bin,
            &["-nodnslookup", "-noidentlookup", "-maxperip=1", "-warn=40"],
            &["{port}", "/bin/sh", "-c", "echo hi; read x"],
        );
        let a = d.connect();
        assert_eq!(read_line(&a), "hi");
        assert_eq!(read_all(&d.connect()), "");
        logs.push(d.wait_log("ALERT"));
        drop(a);
    }
    assert_eq!(logs[0], logs[1]);
    assert_eq!(
        logs[0],
        "ALERT: Maximum connection limit reached for ::ffff:127.0.0.1\n"
    );
}

#[test]
fn our_restart_and_stop_drive_debians_daemon() {
    if !debian() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("x.pid");
    let pid_arg = format!("-pid={}", pid_file.display());
    let port = free_port().to_string();
    let o = Command::new(DEBIAN)
        .args([&pid_arg, "-address=127.0.0.1", &port, "/bin/echo", "debian"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let st = Command::new(OURS)
        .args([&pid_arg, "-restart"])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(100));
    assert!(proc_state(pid).is_some_and(|s| s != 'Z'));
    let s = connect(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        port.parse().unwrap(),
    )));
    assert_eq!(read_all(&s), "debian\n");
    let st = Command::new(OURS)
        .args([&pid_arg, "-stop"])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        proc_state(pid).is_none_or(|s| s == 'Z'),
        "Debian's daemon survived our -stop"
    );
}

#[test]
fn debians_restart_and_stop_drive_our_daemon() {
    if !debian() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("x.pid");
    let pid_arg = format!("-pid={}", pid_file.display());
    let port = free_port().to_string();
    let o = Command::new(OURS)
        .args([&pid_arg, "-address=127.0.0.1", &port, "/bin/echo", "ours"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        Command::new(DEBIAN)
            .args([&pid_arg, "-restart"])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(100));
    let s = connect(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        port.parse().unwrap(),
    )));
    assert_eq!(read_all(&s), "ours\n");
    assert!(
        Command::new(DEBIAN)
            .args([&pid_arg, "-stop"])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        proc_state(pid).is_none_or(|s| s == 'Z'),
        "our daemon survived Debian's -stop"
    );
}
