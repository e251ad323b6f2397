//! `TLS_PRIORITY`, `TLS_PROTOCOL` and `TLS_CIPHER_LIST` mapped onto rustls.
//!
//! rustls (ring provider) speaks TLS 1.2 and 1.3 with ECDHE key exchange and three
//! AEAD ciphers: AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305. Each setting is
//! read as the Courier build that uses it reads it (GnuTLS priority strings,
//! OpenSSL protocol and cipher lists), restricted to that set. The three settings
//! intersect. Asking for something rustls lacks (SSLv3, TLS 1.0/1.1, CBC, RC4, DHE,
//! static RSA) is harmless alongside something it has; a setting that leaves nothing
//! usable is an error that names the variable.

use crate::TlsError;
use crate::settings::{TLS_CIPHER_LIST, TLS_PRIORITY, TLS_PROTOCOL, TlsSettings};
use rustls::SupportedCipherSuite;
use rustls::SupportedProtocolVersion;
use rustls::crypto::ring::cipher_suite as cs;

/// The protocol versions rustls offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// The bulk ciphers rustls offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    Chacha20,
}

/// TLS 1.2 key exchange / authentication pairs rustls offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kx {
    /// ECDHE with an RSA certificate.
    EcdheRsa,
    /// ECDHE with an ECDSA (or Ed25519) certificate.
    EcdheEcdsa,
}

const ALL_CIPHERS: [Cipher; 3] = [Cipher::Aes256Gcm, Cipher::Aes128Gcm, Cipher::Chacha20];
const ALL_KX: [Kx; 2] = [Kx::EcdheRsa, Kx::EcdheEcdsa];

/// One cipher suite rustls offers, described by its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    /// Protocol version the suite belongs to.
    pub version: Version,
    /// Key exchange (TLS 1.2 only; TLS 1.3 suites do not fix it).
    pub kx: Option<Kx>,
    /// Bulk cipher.
    pub cipher: Cipher,
    /// OpenSSL's name (for `TLS_CIPHER_LIST`).
    pub openssl: &'static str,
}

/// Every suite of the ring provider, strongest first (rustls' own preference order).
pub const SUITES: [Suite; 9] = [
    Suite {
        version: Version::Tls13,
        kx: None,
        cipher: Cipher::Aes256Gcm,
        openssl: "TLS_AES_256_GCM_SHA384",
    },
    Suite {
        version: Version::Tls13,
        kx: None,
        cipher: Cipher::Aes128Gcm,
        openssl: "TLS_AES_128_GCM_SHA256",
    },
    Suite {
        version: Version::Tls13,
        kx: None,
        cipher: Cipher::Chacha20,
        openssl: "TLS_CHACHA20_POLY1305_SHA256",
    },
    Suite {
        version: Version::Tls12,
        kx: Some(Kx::EcdheEcdsa),
        cipher: Cipher::Aes256Gcm,
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
    },
    Suite {
        version: Version::Tls12,
        kx: Some(Kx::EcdheEcdsa),
        cipher: Cipher::Aes128Gcm,
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
    },
    Suite {
        version: Version::Tls12,
        kx: Some(Kx::EcdheEcdsa),
        cipher: Cipher::Chacha20,
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
    },
    Suite {
        version: Version::Tls12,
        kx: Some(Kx::EcdheRsa),
        cipher: Cipher::Aes256Gcm,
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
    },
    Suite {
        version: Version::Tls12,
        kx: Some(Kx::EcdheRsa),
        cipher: Cipher::Aes128Gcm,
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
    },
    Suite {
        version: Version::Tls12,
        kx: Some(Kx::EcdheRsa),
        cipher: Cipher::Chacha20,
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
    },
];

impl Suite {
    /// The rustls suite.
    pub fn rustls(&self) -> SupportedCipherSuite {
        match (self.version, self.kx, self.cipher) {
            (Version::Tls13, _, Cipher::Aes256Gcm) => cs::TLS13_AES_256_GCM_SHA384,
            (Version::Tls13, _, Cipher::Aes128Gcm) => cs::TLS13_AES_128_GCM_SHA256,
            (Version::Tls13, _, Cipher::Chacha20) => cs::TLS13_CHACHA20_POLY1305_SHA256,
            (_, Some(Kx::EcdheEcdsa), Cipher::Aes256Gcm) => {
                cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            }
            (_, Some(Kx::EcdheEcdsa), Cipher::Aes128Gcm) => {
                cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            }
            (_, Some(Kx::EcdheEcdsa), Cipher::Chacha20) => {
                cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            }
            (_, _, Cipher::Aes256Gcm) => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            (_, _, Cipher::Aes128Gcm) => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            (_, _, Cipher::Chacha20) => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        }
    }
}

/// What the three settings leave enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Enabled versions, oldest first.
    pub versions: Vec<Version>,
    /// Enabled suites, in [`SUITES`] order.
    pub suites: Vec<Suite>,
}

/// The result handed to rustls.
pub struct Policy {
    /// Protocol versions for `with_protocol_versions`.
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// Cipher suites for the crypto provider.
    pub suites: Vec<SupportedCipherSuite>,
}

impl Policy {
    /// Evaluates `TLS_PRIORITY`, `TLS_PROTOCOL` and `TLS_CIPHER_LIST`.
    pub fn from_settings(settings: &TlsSettings) -> Result<Policy, TlsError> {
        let sel = select(
            settings.priority.as_deref(),
            settings.protocol.as_deref(),
            settings.cipher_list.as_deref(),
        )?;
        Ok(Policy {
            versions: sel
                .versions
                .iter()
                .map(|v| match v {
                    Version::Tls12 => &rustls::version::TLS12,
                    Version::Tls13 => &rustls::version::TLS13,
                })
                .collect(),
            suites: sel.suites.iter().map(Suite::rustls).collect(),
        })
    }

    /// The ring provider restricted to the chosen suites.
    pub fn provider(&self) -> rustls::crypto::CryptoProvider {
        rustls::crypto::CryptoProvider {
            cipher_suites: self.suites.clone(),
            ..rustls::crypto::ring::default_provider()
        }
    }
}

fn bad(name: &'static str, value: &str, reason: impl Into<String>) -> TlsError {
    TlsError::Setting {
        name,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The pure mapping: settings text in, enabled versions and suites out.
pub fn select(
    priority: Option<&str>,
    protocol: Option<&str>,
    cipher_list: Option<&str>,
) -> Result<Selection, TlsError> {
    let prio = gnutls_priority(priority.unwrap_or("NORMAL:-CTYPE-OPENPGP"))?;
    let mut versions = prio.versions.clone();
    let mut suites: Vec<Suite> = SUITES
        .iter()
        .copied()
        .filter(|s| prio.ciphers.contains(&s.cipher))
        .filter(|s| s.kx.is_none_or(|k| prio.kx.contains(&k)))
        .collect();
    if let Some(value) = protocol {
        let allowed = openssl_protocol(value)?;
        versions.retain(|v| allowed.contains(v));
        if versions.is_empty() {
            return Err(bad(
                TLS_PROTOCOL,
                value,
                "leaves no protocol rustls speaks (TLS1.2, TLS1.3) enabled",
            ));
        }
    }
    if let Some(value) = cipher_list {
        // OpenSSL's cipher list governs TLS 1.2 suites only (1.3 has its own list).
        let allowed = openssl_cipher_list(value);
        suites.retain(|s| s.version == Version::Tls13 || allowed.contains(&s.openssl));
        if !suites.iter().any(|s| versions.contains(&s.version)) {
            return Err(bad(
                TLS_CIPHER_LIST,
                value,
                "leaves no cipher suite rustls offers (ECDHE with AES-GCM or CHACHA20-POLY1305) enabled",
            ));
        }
    }
    versions.retain(|v| suites.iter().any(|s| s.version == *v));
    suites.retain(|s| versions.contains(&s.version));
    if versions.is_empty() {
        let value = priority.unwrap_or("");
        let reason = if prio.unsupported_version {
            "enables only protocol versions rustls does not speak (it speaks TLS1.2 and TLS1.3)"
        } else {
            "enables no protocol version and cipher suite that rustls offers"
        };
        return Err(bad(TLS_PRIORITY, value, reason));
    }
    Ok(Selection { versions, suites })
}

struct Prio {
    versions: Vec<Version>,
    ciphers: Vec<Cipher>,
    kx: Vec<Kx>,
    unsupported_version: bool,
}

fn set<T: PartialEq + Copy>(list: &mut Vec<T>, items: &[T], add: bool) {
    for item in items {
        list.retain(|x| x != item);
        if add {
            list.push(*item);
        }
    }
}

/// A GnuTLS priority string (`NORMAL:-VERS-ALL:+VERS-TLS1.2:...`).
fn gnutls_priority(value: &str) -> Result<Prio, TlsError> {
    let all_versions = [Version::Tls12, Version::Tls13];
    let mut p = Prio {
        versions: Vec::new(),
        ciphers: Vec::new(),
        kx: Vec::new(),
        unsupported_version: false,
    };
    for word in value.split(':').map(str::trim).filter(|w| !w.is_empty()) {
        let (add, name) = match word.as_bytes()[0] {
            b'+' => (Some(true), &word[1..]),
            b'-' | b'!' => (Some(false), &word[1..]),
            // %COMPAT, %SERVER_PRECEDENCE, ...: behaviour flags, nothing to map.
            b'%' => continue,
            _ => (None, word),
        };
        let upper = name.to_ascii_uppercase();
        let Some(add) = add else {
            // A base keyword: sets every list afresh.
            let base = upper.trim_start_matches('@');
            let (ciphers, kx): (&[Cipher], &[Kx]) = match base {
                "NORMAL" | "PFS" | "SECURE" | "SECURE128" | "PERFORMANCE" | "LEGACY" | "SYSTEM" => {
                    (&ALL_CIPHERS, &ALL_KX)
                }
                "SECURE192" | "SECURE256" => (&[Cipher::Aes256Gcm, Cipher::Chacha20], &ALL_KX),
                "SUITEB128" => (&[Cipher::Aes256Gcm, Cipher::Aes128Gcm], &[Kx::EcdheEcdsa]),
                "SUITEB192" => (&[Cipher::Aes256Gcm], &[Kx::EcdheEcdsa]),
                "NONE" => (&[], &[]),
                _ => {
                    return Err(bad(
                        TLS_PRIORITY,
                        value,
                        format!("unknown keyword '{word}'"),
                    ));
                }
            };
            p.versions = if base == "NONE" {
                Vec::new()
            } else {
                all_versions.to_vec()
            };
            p.ciphers = ciphers.to_vec();
            p.kx = kx.to_vec();
            continue;
        };
        match upper.as_str() {
            "VERS-ALL" | "VERS-TLS-ALL" => set(&mut p.versions, &all_versions, add),
            "VERS-TLS1.2" => set(&mut p.versions, &[Version::Tls12], add),
            "VERS-TLS1.3" => set(&mut p.versions, &[Version::Tls13], add),
            "VERS-TLS1.0" | "VERS-TLS1.1" | "VERS-SSL3.0" => {
                p.unsupported_version |= add;
            }
            v if v.starts_with("VERS-DTLS") => {}
            "CIPHER-ALL" => set(&mut p.ciphers, &ALL_CIPHERS, add),
            "AES-256-GCM" => set(&mut p.ciphers, &[Cipher::Aes256Gcm], add),
            "AES-128-GCM" => set(&mut p.ciphers, &[Cipher::Aes128Gcm], add),
            "CHACHA20-POLY1305" => set(&mut p.ciphers, &[Cipher::Chacha20], add),
            c if [
                "AES-",
                "CAMELLIA-",
                "3DES-",
                "ARCFOUR",
                "DES-",
                "RC2-",
                "GOST",
                "NULL",
            ]
            .iter()
            .any(|f| c.starts_with(f)) => {}
            "KX-ALL" => set(&mut p.kx, &ALL_KX, add),
            "ECDHE-RSA" => set(&mut p.kx, &[Kx::EcdheRsa], add),
            "ECDHE-ECDSA" => set(&mut p.kx, &[Kx::EcdheEcdsa], add),
            "RSA" | "DHE-RSA" | "DHE-DSS" | "PSK" | "DHE-PSK" | "ECDHE-PSK" | "RSA-PSK" | "SRP"
            | "SRP-RSA" | "SRP-DSS" | "ANON-DH" | "ANON-ECDH" | "RSA-EXPORT" | "VKO-GOST-12" => {}
            // MACs (AEAD is all rustls has), compression, signature algorithms, curves
            // and certificate types: rustls' own choices stand.
            m if [
                "MAC-ALL", "SHA", "MD5", "AEAD", "UMAC", "COMP-", "SIGN-", "CURVE-", "GROUP-",
                "CTYPE-",
            ]
            .iter()
            .any(|f| m.starts_with(f)) => {}
            _ => {
                return Err(bad(
                    TLS_PRIORITY,
                    value,
                    format!("unknown keyword '{word}'"),
                ));
            }
        }
    }
    p.versions.sort();
    Ok(p)
}

/// The OpenSSL build's `TLS_PROTOCOL`: words such as `TLSv1.2+`, `TLSv1.3`, `SSL23`,
/// separated by `:` or `,`; the versions they allow, joined.
fn openssl_protocol(value: &str) -> Result<Vec<Version>, TlsError> {
    let mut out = Vec::new();
    for word in value
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        let (w, plus) = match word.strip_suffix('+') {
            Some(w) => (w, true),
            None => (word, false),
        };
        let level = match w.to_ascii_uppercase().replace('_', ".").as_str() {
            "SSL2" | "SSLV2" => 0,
            "SSL3" | "SSLV3" => 1,
            "TLSV1" | "TLSV1.0" | "TLS1" | "TLS1.0" => 2,
            "TLSV1.1" | "TLS1.1" => 3,
            "TLSV1.2" | "TLS1.2" => 4,
            "TLSV1.3" | "TLS1.3" => 5,
            // SSL23: "any version the library has".
            "SSL23" | "TLS" | "ALL" => {
                out.extend([Version::Tls12, Version::Tls13]);
                continue;
            }
            _ => {
                return Err(bad(
                    TLS_PROTOCOL,
                    value,
                    format!("unknown protocol '{word}'"),
                ));
            }
        };
        if (plus && level <= 4) || level == 4 {
            out.push(Version::Tls12);
        }
        if plus || level == 5 {
            out.push(Version::Tls13);
        }
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(bad(
            TLS_PROTOCOL,
            value,
            "names only protocols rustls does not speak (it speaks TLS1.2 and TLS1.3)",
        ));
    }
    Ok(out)
}

/// Whether OpenSSL cipher-string word `word` (one `+`-joined part) selects `s`.
fn openssl_matches(word: &str, s: &Suite) -> bool {
    if word.eq_ignore_ascii_case(s.openssl) {
        return true;
    }
    let rsa = s.kx == Some(Kx::EcdheRsa);
    let ecdsa = s.kx == Some(Kx::EcdheEcdsa);
    match word {
        "ALL" | "DEFAULT" | "HIGH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "AEAD"
        | "TLSv1.2" | "FIPS" => true,
        "aRSA" | "RSA" => rsa,
        "aECDSA" | "ECDSA" => ecdsa,
        "AESGCM" | "AES" => s.cipher != Cipher::Chacha20,
        "AES256" => s.cipher == Cipher::Aes256Gcm,
        "AES128" => s.cipher == Cipher::Aes128Gcm,
        "CHACHA20" => s.cipher == Cipher::Chacha20,
        "SHA384" => s.cipher == Cipher::Aes256Gcm,
        "SHA256" => s.cipher != Cipher::Aes256Gcm,
        // Everything else (MEDIUM, LOW, EXP, aNULL, RC4, 3DES, kRSA, DHE, PSK, SSLv3,
        // unknown names) selects no suite rustls has, as OpenSSL ignores unknown words.
        _ => false,
    }
}

/// The TLS 1.2 suites (OpenSSL names) an OpenSSL cipher string selects.
fn openssl_cipher_list(value: &str) -> Vec<&'static str> {
    let tls12: Vec<&Suite> = SUITES
        .iter()
        .filter(|s| s.version == Version::Tls12)
        .collect();
    let mut selected: Vec<&'static str> = Vec::new();
    let mut banned: Vec<&'static str> = Vec::new();
    for word in value
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        let (op, body) = match word.as_bytes()[0] {
            b'!' => ('!', &word[1..]),
            b'-' => ('-', &word[1..]),
            // "+X" only reorders; "@STRENGTH", "@SECLEVEL=n" only sort or filter.
            b'+' | b'@' => continue,
            _ => (' ', word),
        };
        for s in &tls12 {
            if !body.split('+').all(|part| openssl_matches(part, s)) {
                continue;
            }
            match op {
                '!' => {
                    banned.push(s.openssl);
                    selected.retain(|n| *n != s.openssl);
                }
                '-' => selected.retain(|n| *n != s.openssl),
                _ => {
                    if !banned.contains(&s.openssl) && !selected.contains(&s.openssl) {
                        selected.push(s.openssl);
                    }
                }
            }
        }
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sel: &Selection) -> String {
        let v: Vec<&str> = sel
            .versions
            .iter()
            .map(|v| match v {
                Version::Tls12 => "1.2",
                Version::Tls13 => "1.3",
            })
            .collect();
        let s: Vec<&str> = sel.suites.iter().map(|s| s.openssl).collect();
        format!("{} | {}", v.join(","), s.join(","))
    }

    const ALL: &str = "1.2,1.3 | TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256,ECDHE-ECDSA-AES256-GCM-SHA384,ECDHE-ECDSA-AES128-GCM-SHA256,ECDHE-ECDSA-CHACHA20-POLY1305,ECDHE-RSA-AES256-GCM-SHA384,ECDHE-RSA-AES128-GCM-SHA256,ECDHE-RSA-CHACHA20-POLY1305";

    /// (TLS_PRIORITY, TLS_PROTOCOL, TLS_CIPHER_LIST) -> versions | suites, or Err(variable).
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Result<&'static str, &'static str>,
    );
    const CASES: &[Case] = &[
        (None, None, None, Ok(ALL)),
        (Some("NORMAL:-CTYPE-OPENPGP"), None, None, Ok(ALL)),
        (
            Some("NORMAL:%SERVER_PRECEDENCE:-VERS-TLS1.0:-VERS-TLS1.1"),
            None,
            None,
            Ok(ALL),
        ),
        (
            Some("NORMAL:-VERS-ALL:+VERS-TLS1.3"),
            None,
            None,
            Ok("1.3 | TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256"),
        ),
        (
            Some("SECURE256:-VERS-TLS1.3"),
            None,
            None,
            Ok(
                "1.2 | ECDHE-ECDSA-AES256-GCM-SHA384,ECDHE-ECDSA-CHACHA20-POLY1305,ECDHE-RSA-AES256-GCM-SHA384,ECDHE-RSA-CHACHA20-POLY1305",
            ),
        ),
        (
            Some("NONE:+VERS-TLS1.2:+AES-128-GCM:+ECDHE-RSA:+AEAD:+SIGN-ALL:+COMP-NULL:+GROUP-ALL"),
            None,
            None,
            Ok("1.2 | ECDHE-RSA-AES128-GCM-SHA256"),
        ),
        // Old versions alongside new ones: fine; only old ones: an error.
        (
            Some("NORMAL:+VERS-TLS1.0:+VERS-SSL3.0:+ARCFOUR-128"),
            None,
            None,
            Ok(ALL),
        ),
        (
            Some("NONE:+VERS-TLS1.0:+AES-128-CBC:+RSA:+SHA1"),
            None,
            None,
            Err("TLS_PRIORITY"),
        ),
        (
            Some("NORMAL:-VERS-ALL:+VERS-SSL3.0"),
            None,
            None,
            Err("TLS_PRIORITY"),
        ),
        (Some("NORMAL:+BOGUS"), None, None, Err("TLS_PRIORITY")),
        (Some("FANCY"), None, None, Err("TLS_PRIORITY")),
        (None, Some("TLSv1.2+"), None, Ok(ALL)),
        (None, Some("TLSv1+"), None, Ok(ALL)),
        (None, Some("SSL23"), None, Ok(ALL)),
        (
            None,
            Some("TLSv1.3"),
            None,
            Ok("1.3 | TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256"),
        ),
        (
            None,
            Some("TLSv1.2"),
            Some("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"),
            Ok("1.2 | ECDHE-RSA-AES256-GCM-SHA384,ECDHE-RSA-AES128-GCM-SHA256"),
        ),
        (None, Some("SSL3"), None, Err("TLS_PROTOCOL")),
        (None, Some("TLSv1"), None, Err("TLS_PROTOCOL")),
        (None, Some("TLSv1.1"), None, Err("TLS_PROTOCOL")),
        (None, Some("TLSv9"), None, Err("TLS_PROTOCOL")),
        (
            Some("NORMAL:-VERS-TLS1.2"),
            Some("TLSv1.2"),
            None,
            Err("TLS_PROTOCOL"),
        ),
        (
            None,
            None,
            Some("HIGH:MEDIUM:!SSLv2:!LOW:!EXP:!aNULL:@STRENGTH"),
            Ok(ALL),
        ),
        (
            None,
            None,
            Some("ECDHE+AESGCM:!aECDSA"),
            Ok(
                "1.2,1.3 | TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256,ECDHE-RSA-AES256-GCM-SHA384,ECDHE-RSA-AES128-GCM-SHA256",
            ),
        ),
        // Only suites rustls lacks: TLS 1.2 goes, TLS 1.3 stays.
        (
            None,
            None,
            Some("AES256-SHA:DHE-RSA-AES256-SHA"),
            Ok("1.3 | TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256"),
        ),
        (
            None,
            Some("TLSv1.2"),
            Some("RC4-SHA"),
            Err("TLS_CIPHER_LIST"),
        ),
    ];

    #[test]
    fn tls_setting_mapping_table() {
        for (prio, proto, list, want) in CASES {
            let got = select(*prio, *proto, *list);
            match (got, want) {
                (Ok(sel), Ok(w)) => assert_eq!(names(&sel), *w, "{prio:?} {proto:?} {list:?}"),
                (Err(TlsError::Setting { name, .. }), Err(w)) => {
                    assert_eq!(name, *w, "{prio:?} {proto:?} {list:?}")
                }
                (got, want) => panic!("{prio:?} {proto:?} {list:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn error_text_names_the_setting() {
        let err = select(None, Some("SSL3"), None).unwrap_err().to_string();
        assert!(err.starts_with("TLS_PROTOCOL=SSL3: "), "{err}");
        assert!(err.contains("TLS1.2"), "{err}");
    }
}
