//! A delivery killed at any moment never leaves a partial message where a reader
//! looks (new/, cur/), and never half-updates maildirsize: the maildir stays usable
//! and later deliveries work.

use e2e::{Sandbox, Side, make_maildir, names, ours};
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for_tmp_file(dir: &std::path::Path) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if !names(dir).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn deliverquota_killed_mid_message_leaves_nothing_in_new_or_cur() {
    let s = Sandbox::new(Side::Ours);
    let m = s.join("M");
    make_maildir(&m);
    fs::write(
        m.join("maildirsize"),
        "100000000S\n           0            0\n",
    )
    .unwrap();
    for round in 0..3 {
        let mut child = Command::new(ours("deliverquota"))
            .arg(&m)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"Subject: partial\n\n").unwrap();
        stdin.write_all(&vec![b'x'; 256 * 1024]).unwrap();
        stdin.flush().unwrap();
        assert!(
            wait_for_tmp_file(&m.join("tmp")),
            "round {round}: no tmp file appeared"
        );
        // The message is half written: kill the delivery agent outright.
        child.kill().unwrap();
        child.wait().unwrap();
        drop(stdin);
        assert!(
            names(&m.join("new")).is_empty(),
            "round {round}: partial message in new/"
        );
        assert!(
            names(&m.join("cur")).is_empty(),
            "round {round}: partial message in cur/"
        );
        assert_eq!(
            fs::read_to_string(m.join("maildirsize")).unwrap(),
            "100000000S\n           0            0\n",
            "round {round}: maildirsize changed by a killed delivery"
        );
    }
    // The leftovers are only in tmp/ (cleaned by folder scans after 36 h), and the
    // maildir still takes mail.
    let out = Command::new(ours("deliverquota"))
        .arg(&m)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"Subject: ok\n\nfine\n")?;
            c.wait()
        })
        .unwrap();
    assert_eq!(out.code(), Some(0));
    let new = names(&m.join("new"));
    assert_eq!(new.len(), 1);
    assert_eq!(
        fs::read(m.join("new").join(&new[0])).unwrap(),
        b"Subject: ok\n\nfine\n"
    );
}
