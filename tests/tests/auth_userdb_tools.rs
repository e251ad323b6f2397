//! A userdb written with one implementation's tools (`userdb`, `userdbpw`) is
//! served by the other implementation's daemon (compiled by that daemon's own
//! `makeuserdb`), with the same results as Debian's tools with Debian's daemon:
//!
//! * Debian's userdb/userdbpw → our makeuserdb → our authdaemond;
//! * our userdb/userdbpw → Debian's makeuserdb → Debian's authdaemond.
//!
//! Results are Debian's authtest/authenumerate outputs, with the stored hashes
//! masked (userdbpw salts are random). Needs root and Debian's
//! courier-authdaemon + courier-authlib-userdb; skips otherwise.

use e2e::{
    AUTH_FIXTURE_DEFAULTOPTIONS, AuthDaemon, AuthSetup, Outcome, Side, auth_bin, auth_client,
    auth_prereqs, shell_quote,
};

/// The same edits, made with `tools`' userdb and userdbpw.
fn edit_script(tools: Side) -> String {
    let u = shell_quote(&auth_bin(tools, "userdb").to_string_lossy());
    let p = shell_quote(&auth_bin(tools, "userdbpw").to_string_lossy());
    format!(
        "set -e\nU={u}\nP={p}\n\
         $U alice set uid=5000 gid=5000 home=/home/vmail/alice \
           mail=/home/vmail/alice/Maildir quota=1000000S 'gecos=Alice Liddell,Room 1' \
           options=disablepop3=0,group=staff\n\
         echo secret | $P -md5 | $U alice set systempw\n\
         echo imapsecret | $P -md5 | $U alice set imappw\n\
         echo secret | $P -hmac-md5 | $U alice set hmac-md5pw\n\
         echo secret | $P -hmac-sha1 | $U alice set hmac-sha1pw\n\
         echo secret | $P -hmac-sha256 | $U alice set hmac-sha256pw\n\
         $U bob@example.com set uid=5001 gid=5000 home=/home/vmail/bob options=disableshared=1\n\
         echo bobpw | $P | $U bob@example.com set systempw\n\
         $U carol set uid=5002 gid=5000 home=/home/vmail/carol systempw=x\n\
         $U carol unset systempw\n\
         $U dave set uid=5003 gid=5000 home=/home/vmail/dave\n\
         $U dave del\n"
    )
}

/// A daemon of `daemon_side` whose userdb is written by `tools` and compiled by
/// the daemon side's makeuserdb.
fn served(daemon_side: Side, tools: Side) -> AuthDaemon {
    let setup = AuthSetup {
        userdb: None,
        ..AuthSetup::userdb("", 2, AUTH_FIXTURE_DEFAULTOPTIONS)
    };
    let d = AuthDaemon::start(daemon_side, &setup);
    let o = d.sh(&edit_script(tools));
    assert_eq!(o.code, Some(0), "{tools:?} userdb tools: {o:?}");
    let o = d.inside(&auth_bin(daemon_side, "makeuserdb"), &[]).run();
    assert_eq!(o.code, Some(0), "{daemon_side:?} makeuserdb: {o:?}");
    d
}

const CASES: &[&[&str]] = &[
    &["alice"],
    &["-s", "imap", "alice"],
    &["alice", "secret"],
    &["alice", "wrong"],
    &["-s", "imap", "alice", "imapsecret"],
    &["-s", "imap", "alice", "secret"],
    &["bob@example.com", "bobpw"],
    &["carol"],
    &["carol", "x"],
    &["dave"],
];

/// Debian's authtest for every case, then Debian's `authenumerate -o` (sorted),
/// hashes masked.
fn results(d: &AuthDaemon) -> Vec<Outcome> {
    let mut v: Vec<Outcome> = CASES
        .iter()
        .map(|args| masked(auth_client(d, Side::Courier, "authtest", args)))
        .collect();
    let mut e = auth_client(d, Side::Courier, "authenumerate", &["-o"]);
    let mut lines: Vec<&str> = e.stdout.lines().collect();
    lines.sort();
    e.stdout = lines.join("\n");
    v.push(e);
    v
}

fn masked(mut o: Outcome) -> Outcome {
    o.stdout = o
        .stdout
        .lines()
        .map(|l| {
            if l.starts_with("Encrypted Password: ") {
                "Encrypted Password: <masked>\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    o
}

fn compare(test: &str, daemon_side: Side, tools: Side) {
    if !auth_prereqs(test, true) {
        return;
    }
    let baseline = served(Side::Courier, Side::Courier);
    let d = served(daemon_side, tools);
    let want = results(&baseline);
    let got = results(&d);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let what = CASES.get(i).map_or("authenumerate -o".to_string(), |c| {
            format!("authtest {c:?}")
        });
        assert_eq!(
            g,
            w,
            "{what}: {tools:?} tools + {daemon_side:?} daemon (left) vs Debian + Debian (right); daemon log:\n{}",
            d.log()
        );
    }
    // The baseline itself is what the edits mean.
    let codes: Vec<Option<i32>> = want.iter().map(|o| o.code).collect();
    assert_eq!(
        codes,
        [
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(0),
            Some(1),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(0)
        ]
    );
}

#[test]
fn userdb_written_by_debian_tools_is_served_by_our_daemon() {
    compare(
        "userdb_written_by_debian_tools_is_served_by_our_daemon",
        Side::Ours,
        Side::Courier,
    );
}

#[test]
fn userdb_written_by_our_tools_is_served_by_debian_daemon() {
    compare(
        "userdb_written_by_our_tools_is_served_by_debian_daemon",
        Side::Courier,
        Side::Ours,
    );
}

#[test]
fn userdb_text_written_by_our_tools_has_debian_fields() {
    let test = "userdb_text_written_by_our_tools_has_debian_fields";
    if !auth_prereqs(test, true) {
        return;
    }
    let theirs = served(Side::Courier, Side::Courier);
    let ours = served(Side::Courier, Side::Ours);
    let fields = |d: &AuthDaemon| -> Vec<Vec<String>> {
        let text = d.sh("cat /etc/courier/userdb").stdout;
        let mut recs: Vec<Vec<String>> = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('\t'))
            .map(|l| {
                let (name, rest) = l.split_once('\t').unwrap();
                // Field order is Perl hash order in Debian's script; salted
                // hashes differ run to run: keep their scheme prefix only.
                let mut f: Vec<String> = rest
                    .split('|')
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) if k == "systempw" || k == "imappw" => match v.get(..3) {
                            Some(p) if p.starts_with('$') => format!("{k}={p}"),
                            _ => format!("{k}=<DES, {} chars>", v.len()),
                        },
                        _ => kv.to_string(),
                    })
                    .collect();
                f.sort();
                f.insert(0, name.to_string());
                f
            })
            .collect();
        recs.sort();
        recs
    };
    assert_eq!(
        fields(&ours),
        fields(&theirs),
        "our tools (left) vs Debian's (right)"
    );
}
