//! CRAM-MD5, CRAM-SHA1 and CRAM-SHA256 against our authdaemond and Debian's, on
//! the shared fixture userdb: the raw replies must be identical byte for byte.
//! The requests come from a tiny client written here: courier-auth-proto frames
//! the AUTH request, courier-pwcrypt computes the HMAC response. Needs root and
//! Debian's courier-authdaemon; skips otherwise.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use courier_auth_proto::Request;
use courier_auth_proto::record::{Reply, parse_reply};
use courier_pwcrypt::{CramAlg, cram_response_hex};
use e2e::{
    AUTH_FIXTURE_DEFAULTOPTIONS, AuthDaemon, AuthSetup, Side, auth_exchange, auth_fixture_userdb,
    auth_prereqs,
};
use std::time::Duration;

/// The challenge a login program would send (`<hex@host>`).
const CHALLENGE: &[u8] = b"<76F87C943A7A1E3DAEB9911C1539B37A@mx1.example.com>";

fn authtype(alg: CramAlg) -> &'static str {
    match alg {
        CramAlg::Md5 => "cram-md5",
        CramAlg::Sha1 => "cram-sha1",
        CramAlg::Sha256 => "cram-sha256",
    }
}

/// `AUTH` bytes for `user` answering CHALLENGE with `password` under `alg`.
fn cram_request(service: &str, alg: CramAlg, user: &str, password: &str) -> Vec<u8> {
    let response = format!("{user} {}", cram_response_hex(alg, password, CHALLENGE));
    raw_cram(service, authtype(alg), CHALLENGE, response.as_bytes())
}

/// `AUTH` bytes with an arbitrary decoded challenge and response.
fn raw_cram(service: &str, authtype: &str, challenge: &[u8], response: &[u8]) -> Vec<u8> {
    let authdata = format!(
        "{}\n{}\n",
        STANDARD.encode(challenge),
        STANDARD.encode(response)
    );
    Request::Auth {
        service: service.into(),
        authtype: authtype.into(),
        authdata: authdata.into_bytes(),
    }
    .encode()
}

fn pair(test: &str) -> Option<(AuthDaemon, AuthDaemon)> {
    if !auth_prereqs(test, true) {
        return None;
    }
    let s = AuthSetup::userdb(auth_fixture_userdb(), 2, AUTH_FIXTURE_DEFAULTOPTIONS);
    Some((
        AuthDaemon::start(Side::Courier, &s),
        AuthDaemon::start(Side::Ours, &s),
    ))
}

/// Sends `req` to both daemons; asserts identical replies; returns Debian's.
fn same(debian: &AuthDaemon, ours: &AuthDaemon, what: &str, req: &[u8]) -> Vec<u8> {
    let wait = Duration::from_secs(5);
    let (want, want_closed) = auth_exchange(&debian.socket(), req, wait);
    let (got, got_closed) = auth_exchange(&ours.socket(), req, wait);
    assert_eq!(
        (String::from_utf8_lossy(&got), got_closed),
        (String::from_utf8_lossy(&want), want_closed),
        "{what}: our daemon (left) vs Debian's (right); our log:\n{}",
        ours.log()
    );
    want
}

fn accepted(reply: &[u8]) -> bool {
    matches!(parse_reply(reply), Reply::Ok(_))
}

#[test]
fn cram_right_and_wrong_secrets_same_replies_from_our_daemon() {
    let Some((debian, ours)) = pair("cram_right_and_wrong_secrets_same_replies_from_our_daemon")
    else {
        return;
    };
    // (service, user, password, accepted by Debian)
    let cases: &[(&str, &str, &str, [bool; 3])] = &[
        ("pop3", "alice", "secret", [true, true, true]),
        ("pop3", "alice", "wrong", [false, false, false]),
        // imap has its own sha256 secret (of imapsecret), which is looked up first.
        ("imap", "alice", "secret", [true, true, false]),
        ("imap", "alice", "imapsecret", [false, false, true]),
        // carol has only an imap-specific md5 secret.
        ("imap", "carol", "carolcram", [true, false, false]),
        ("pop3", "carol", "carolcram", [false, false, false]),
        // bob has no CRAM secret at all; nosuch does not exist.
        ("imap", "bob@example.com", "bobpw", [false, false, false]),
        ("imap", "nosuch", "secret", [false, false, false]),
    ];
    for (service, user, password, want) in cases {
        for (i, alg) in CramAlg::ALL.iter().enumerate() {
            let what = format!("{} {service} {user} {password}", authtype(*alg));
            let reply = same(
                &debian,
                &ours,
                &what,
                &cram_request(service, *alg, user, password),
            );
            assert_eq!(
                accepted(&reply),
                want[i],
                "{what}: Debian replied {reply:?}"
            );
        }
    }
}

#[test]
fn cram_success_record_has_no_name_quota_or_passwd_on_both_daemons() {
    let Some((debian, ours)) =
        pair("cram_success_record_has_no_name_quota_or_passwd_on_both_daemons")
    else {
        return;
    };
    let reply = same(
        &debian,
        &ours,
        "cram-md5 pop3 alice",
        &cram_request("pop3", CramAlg::Md5, "alice", "secret"),
    );
    let Reply::Ok(info) = parse_reply(&reply) else {
        panic!("{reply:?}");
    };
    assert_eq!(
        (info.name, info.quota, info.passwd, info.passwd2),
        (None, None, None, None)
    );
    assert_eq!(info.address.as_deref(), Some("alice"));
}

#[test]
fn cram_malformed_responses_same_replies_from_our_daemon() {
    let Some((debian, ours)) = pair("cram_malformed_responses_same_replies_from_our_daemon") else {
        return;
    };
    let good = cram_response_hex(CramAlg::Md5, "secret", CHALLENGE);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "uppercase hex digest",
            raw_cram(
                "pop3",
                "cram-md5",
                CHALLENGE,
                format!("alice {}", good.to_uppercase()).as_bytes(),
            ),
        ),
        (
            "no space in the response",
            raw_cram(
                "pop3",
                "cram-md5",
                CHALLENGE,
                format!("alice{good}").as_bytes(),
            ),
        ),
        (
            "digest one digit short",
            raw_cram(
                "pop3",
                "cram-md5",
                CHALLENGE,
                format!("alice {}", &good[1..]).as_bytes(),
            ),
        ),
        (
            "non-hex digest",
            raw_cram(
                "pop3",
                "cram-md5",
                CHALLENGE,
                format!("alice {}", "zz".repeat(16)).as_bytes(),
            ),
        ),
        (
            "user id with a space (split at the last space)",
            raw_cram(
                "pop3",
                "cram-md5",
                CHALLENGE,
                format!("x alice {good}").as_bytes(),
            ),
        ),
        (
            "other challenge than the one answered",
            raw_cram(
                "pop3",
                "cram-md5",
                b"<1@x>",
                format!("alice {good}").as_bytes(),
            ),
        ),
        (
            "unknown cram type",
            raw_cram(
                "pop3",
                "cram-md4",
                CHALLENGE,
                format!("alice {good}").as_bytes(),
            ),
        ),
        (
            "upper-case authtype",
            raw_cram(
                "pop3",
                "CRAM-MD5",
                CHALLENGE,
                format!("alice {good}").as_bytes(),
            ),
        ),
        (
            "not base64",
            Request::Auth {
                service: "pop3".into(),
                authtype: "cram-md5".into(),
                authdata: b"!!!\n???\n".to_vec(),
            }
            .encode(),
        ),
        (
            "response line missing",
            Request::Auth {
                service: "pop3".into(),
                authtype: "cram-md5".into(),
                authdata: format!("{}\n", STANDARD.encode(CHALLENGE)).into_bytes(),
            }
            .encode(),
        ),
    ];
    for (what, req) in &cases {
        same(&debian, &ours, what, req);
    }
    assert!(
        accepted(&same(&debian, &ours, "uppercase", &cases[0].1)),
        "Debian accepts an upper-case hex digest"
    );
}
