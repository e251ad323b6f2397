//! `verify` and `hash` against hashes made by other implementations: Debian's Courier
//! tools, OpenSSL, libxcrypt through Python's `crypt`, and the §7.1 examples.

use courier_pwcrypt::{Scheme, crypt, hash, md5_crypt, random_salt, verify, verify_bytes};
use proptest::prelude::*;

/// (password, stored value, where it came from). All must verify.
const GOOD: &[(&str, &str, &str)] = &[
    // authdaemon-protocol.md §7.1 examples.
    ("secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "§7.1"),
    (
        "secret",
        "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
        "§7.1",
    ),
    ("secret", "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "§7.1"),
    ("secret", "{MD5RAW}5ebe2294ecd0e0f08eab7690d2a6ee69", "§7.1"),
    // Debian authpasswd output for `secret`.
    (
        "secret",
        "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==",
        "authpasswd sha512",
    ),
    (
        "secret",
        "{SSHA}SdQrgO65faBg/WnuB+sDVqGbtiUUWQJJ",
        "authpasswd sha1",
    ),
    (
        "secret",
        "{SSHA}6gdtxsfcY3WT2MQs90st/2rht/mHyhFS",
        "authpasswd ssha",
    ),
    ("secret", "$1$hy3Dr$1HjxZgKAUiRlNthWHIHZK0", "authpasswd"),
    // §3.2 observed PASSWD= value (openssl passwd -1 agrees).
    ("secret", "$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0", "§3.2"),
    // Debian userdbpw.
    (
        "secret",
        "$1$36lqq5Q0$.MyTePXS/9LWiXO.Hh5ij/",
        "userdbpw -md5",
    ),
    ("secret", "F42R48Y5vC3qM", "userdbpw (DES)"),
    ("secret", "yTng6Jjvt3ar2", "userdbpw (DES)"),
    ("", "cxCGzY05kQmdI", "userdbpw (DES), empty"),
    (
        "",
        "$1$/1C2J.CS$bnJYCMsFkjHS3qwe0hXGr0",
        "userdbpw -md5, empty",
    ),
    // OpenSSL 3.0 `openssl passwd -5/-6`.
    (
        "secret",
        "$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.",
        "openssl passwd -5",
    ),
    (
        "secret",
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
        "openssl passwd -6",
    ),
    // Debian 12 libxcrypt via Python's crypt module.
    (
        "secret",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0",
        "libxcrypt yescrypt",
    ),
    (
        "secret",
        "$gy$j9T$F5Jx5fExrKuPp53xLKQ..1$uE5FcoxTz78xZpMZkpTmj/0MogyeNUSLIjdCxpQjz.8",
        "libxcrypt gost-yescrypt",
    ),
    (
        "secret",
        "$7$CU..../....F5Jx5fExrKuPp53xLKQ..1$whrYe9Xe1y0TuvX2p7d.1q1OxyBsKCsnXfJ.FlXyXS6",
        "libxcrypt scrypt",
    ),
    (
        "secret",
        "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
        "libxcrypt bcrypt",
    ),
    (
        "secret",
        "$2b$12$x7EJou2QykWyW2Pz3XMzx.brSCUZuPg9zK1TMk2LNwaQD7jkUjjQi",
        "libxcrypt bcrypt cost 12",
    ),
    ("secret", "abNANd1rDfiNc", "libxcrypt DES"),
    (
        "secret",
        "$5$rounds=1000$abcdefgh$XIppta5rT8zJUu4vAOKQXrwq9uY4Ijlz6VjyOmkx5i4",
        "libxcrypt sha256 rounds=1000",
    ),
    // {CRYPT} prefix and case-insensitive tags.
    ("secret", "{CRYPT}abNANd1rDfiNc", "{CRYPT} DES"),
    (
        "secret",
        "{crypt}$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0",
        "{crypt} $1$",
    ),
    (
        "secret",
        "{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=",
        "lowercase tag",
    ),
    (
        "secret",
        "{Md5RaW}5ebe2294ecd0e0f08eab7690d2a6ee69",
        "mixed-case tag",
    ),
];

#[test]
fn hashes_from_other_implementations_verify() {
    for (pw, stored, from) in GOOD {
        assert!(verify(pw, stored), "{from}: {stored}");
        assert!(!verify("Secret", stored), "{from}: wrong password accepted");
        assert!(
            !verify(&format!("{pw}x"), stored) || stored.len() == 13,
            "{from}"
        );
    }
}

#[test]
fn courier_compares_text_so_near_misses_fail() {
    for stored in [
        // MD5RAW is compared as lowercase hex text.
        "{MD5RAW}5EBE2294ECD0E0F08EAB7690D2A6EE69",
        // Missing padding.
        "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ",
        // Trailing garbage after a $1$ hash.
        "$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0x",
        // Trailing space after an {SSHA} value.
        "{SSHA}SdQrgO65faBg/WnuB+sDVqGbtiUUWQJJ ",
    ] {
        assert!(!verify("secret", stored), "{stored}");
    }
}

#[test]
fn ssha_with_an_eight_byte_salt_is_refused_like_courier() {
    // OpenLDAP-style {SSHA} with an 8-byte salt: Courier takes the last 4 bytes as the
    // salt, so the recomputed text never matches.
    use base64::Engine as _;
    use sha1::{Digest, Sha1};
    let salt = b"12345678";
    let mut raw = Sha1::new_with_prefix(b"secret")
        .chain_update(salt)
        .finalize()
        .to_vec();
    raw.extend_from_slice(salt);
    let stored = format!(
        "{{SSHA}}{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    assert!(!verify("secret", &stored));
}

#[test]
fn des_counts_only_eight_bytes() {
    // Weakness of the default userdbpw scheme, kept for compatibility.
    let h = crypt("12345678", "ab").unwrap();
    assert!(verify("12345678-and-more", &h));
}

#[test]
fn hostile_stored_values_never_panic_and_never_match() {
    let huge = "A".repeat(1 << 20);
    let huge_md5 = format!("$1${huge}");
    let huge_ssha = format!("{{SSHA}}{huge}");
    let huge_y = format!("$y${huge}");
    let hostile: Vec<&str> = vec![
        "",
        "$",
        "$$",
        "$1",
        "$1$",
        "$1$$",
        "$5$",
        "$6$",
        "$y$",
        "$y$$",
        "$2b$",
        "$2b$99$abcdefghijklmnopqrstuu",
        "$7$",
        "$gy$",
        "*",
        "*0",
        "*1",
        "!",
        "!!",
        "!$6$saltsalt$x",
        "x",
        "ab",
        "{",
        "{}",
        "{MD5}",
        "{MD5RAW}",
        "{SHA}",
        "{SHA256}",
        "{SHA512}",
        "{SSHA}",
        "{SSHA}AAA",
        "{SSHA}AAAA",
        "{SSHA}AAAAAA==",
        "{SSHA}!!!!",
        "{SSHA}====",
        "{SSHA}\u{e9}\u{e9}\u{e9}\u{e9}",
        "{MD5}not base64 at all",
        "{CRYPT}",
        "{CRYPT}{CRYPT}",
        "{CRYPT}$",
        "\0",
        "ab\0cdefghijk",
        "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        &huge,
        &huge_md5,
        &huge_ssha,
        &huge_y,
    ];
    for stored in hostile {
        for pw in ["", "secret", "\0", "x\0y"] {
            assert!(
                !verify(pw, stored),
                "{pw:?} vs {:?}",
                &stored[..stored.len().min(40)]
            );
        }
    }
    assert!(!verify_bytes(&[0xff, 0xfe], "abNANd1rDfiNc"));
    assert!(!verify(&"p".repeat(100_000), "$6$saltsalt$x"));
}

#[test]
fn crypt_ffi_reports_failure_as_none() {
    assert_eq!(crypt("secret", ""), None);
    assert_eq!(crypt("secret", "*0"), None);
    assert_eq!(crypt("secret", "$99$x"), None);
    assert_eq!(crypt("a\0b", "ab"), None);
    assert_eq!(crypt("secret", "ab").as_deref(), Some("abNANd1rDfiNc"));
    assert_eq!(
        crypt("secret", "$1$w77Ai4nu$").as_deref(),
        Some("$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0")
    );
}

#[test]
fn pure_rust_md5_crypt_agrees_with_libxcrypt() {
    for pw in [
        "",
        "a",
        "secret",
        "0123456789abcdef",
        "é and more than sixteen bytes",
    ] {
        for salt in ["", "a", "hy3Dr", "w77Ai4nu", "./AByz09"] {
            assert_eq!(
                Some(md5_crypt(pw, salt)),
                crypt(pw, &format!("$1${salt}$")),
                "{pw:?} {salt:?}"
            );
        }
    }
}

#[test]
fn every_scheme_hashes_in_its_format_and_verifies() {
    let re: &[(Scheme, &str, usize)] = &[
        (Scheme::Des, "", 13),
        (Scheme::Md5Crypt, "$1$", 34),
        (Scheme::Sha256Crypt, "$5$", 0),
        (Scheme::Sha512Crypt, "$6$", 0),
        (Scheme::Yescrypt, "$y$", 0),
        (Scheme::Bcrypt, "$2b$", 60),
        (Scheme::Md5, "{MD5}", 29),
        (Scheme::Md5Raw, "{MD5RAW}", 40),
        (Scheme::Sha1, "{SHA}", 33),
        (Scheme::Sha256, "{SHA256}", 52),
        (Scheme::Sha512, "{SHA512}", 96),
        (Scheme::Ssha, "{SSHA}", 38),
    ];
    assert_eq!(re.len(), Scheme::ALL.len());
    for &(scheme, prefix, len) in re {
        let h = hash(scheme, "pässwörd").unwrap();
        assert!(h.starts_with(prefix), "{scheme:?}: {h}");
        if len != 0 {
            assert_eq!(h.len(), len, "{scheme:?}: {h}");
        }
        assert!(verify("pässwörd", &h), "{scheme:?}: {h}");
        assert!(!verify("password", &h), "{scheme:?}: {h}");
    }
    // Salted schemes get a fresh salt each time.
    assert_ne!(
        hash(Scheme::Ssha, "x").unwrap(),
        hash(Scheme::Ssha, "x").unwrap()
    );
    assert_ne!(
        hash(Scheme::Yescrypt, "x").unwrap(),
        hash(Scheme::Yescrypt, "x").unwrap()
    );
}

#[test]
fn crypt_schemes_refuse_unusable_passwords() {
    assert!(hash(Scheme::Sha512Crypt, "a\0b").is_err());
    assert!(hash(Scheme::Des, &"x".repeat(600)).is_err());
}

#[test]
fn random_salt_uses_the_crypt_alphabet() {
    let s = random_salt(1000).unwrap();
    assert_eq!(s.len(), 1000);
    assert!(
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn hash_then_verify_round_trips(pw in "[^\0]{0,40}", idx in 0usize..12) {
        let scheme = Scheme::ALL[idx];
        // bcrypt and DES look at a prefix only; the round trip holds all the same.
        let h = hash(scheme, &pw).unwrap();
        prop_assert!(verify(&pw, &h), "{:?} {:?}", scheme, h);
    }

    #[test]
    fn verify_never_panics(pw in ".{0,20}", stored in ".{0,80}") {
        let _ = verify(&pw, &stored);
        let _ = verify(&pw, &format!("{{SSHA}}{stored}"));
        let _ = verify(&pw, &format!("$1${stored}"));
    }
}
