//! The `TLS_*` environment variables couriertls reads (Courier's names; the
//! `imapd-ssl` and `pop3d-ssl` files set them).
//!
//! As in Courier, an empty value counts as unset.

use std::path::PathBuf;
use std::time::Duration;

/// Server certificate chain and key (PEM); SNI and IP variants are `$TLS_CERTFILE.<name>`.
pub const TLS_CERTFILE: &str = "TLS_CERTFILE";
/// Separate private key (same suffix lookup as the certificate).
pub const TLS_PRIVATE_KEYFILE: &str = "TLS_PRIVATE_KEYFILE";
/// DH parameters: accepted, unused (rustls has no finite-field DH).
pub const TLS_DHPARAMS: &str = "TLS_DHPARAMS";
/// CA certificates (file or directory) for client certificates.
pub const TLS_TRUSTCERTS: &str = "TLS_TRUSTCERTS";
/// `NONE`, `PEER` (default) or `REQUIREPEER`; only the first letter counts.
pub const TLS_VERIFYPEER: &str = "TLS_VERIFYPEER";
/// GnuTLS priority string (default `NORMAL:-CTYPE-OPENPGP`).
pub const TLS_PRIORITY: &str = "TLS_PRIORITY";
/// OpenSSL-build protocol list (`TLSv1.2+`, ...).
pub const TLS_PROTOCOL: &str = "TLS_PROTOCOL";
/// OpenSSL-build cipher list (TLS 1.2 suites).
pub const TLS_CIPHER_LIST: &str = "TLS_CIPHER_LIST";
/// GnuTLS minimum DH prime size: accepted, unused (no finite-field DH).
pub const TLS_MIN_DH_BITS: &str = "TLS_MIN_DH_BITS";
/// Shared session cache file: accepted, unused (one process per connection).
pub const TLS_CACHEFILE: &str = "TLS_CACHEFILE";
/// Size of the session cache file: accepted, unused.
pub const TLS_CACHESIZE: &str = "TLS_CACHESIZE";
/// Application protocols to offer, comma or space separated (`@` options ignored).
pub const TLS_ALPN: &str = "TLS_ALPN";
/// Local address of the connection, set by couriertcpd; selects `$TLS_CERTFILE.<ip>`.
pub const TCPLOCALIP: &str = "TCPLOCALIP";
/// Remote address, set by couriertcpd; used in log lines.
pub const TCPREMOTEIP: &str = "TCPREMOTEIP";
/// Seconds allowed for the TLS handshake (project addition; default 60).
pub const TLS_HANDSHAKE_TIMEOUT: &str = "TLS_HANDSHAKE_TIMEOUT";

/// `TLS_VERIFYPEER`: whether to ask for and check a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyPeer {
    /// `NONE`: never ask.
    None,
    /// `PEER`: ask; verify one if given.
    Peer,
    /// `REQUIREPEER`: a verified client certificate is mandatory.
    Require,
}

/// Every `TLS_*` setting couriertls uses, read once at start.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// `TLS_CERTFILE`.
    pub certfile: Option<PathBuf>,
    /// `TLS_PRIVATE_KEYFILE`.
    pub keyfile: Option<PathBuf>,
    /// `TLS_DHPARAMS` (unused).
    pub dhparams: Option<PathBuf>,
    /// `TLS_TRUSTCERTS`.
    pub trustcerts: Option<PathBuf>,
    /// `TLS_VERIFYPEER` (default `PEER`, as in Courier).
    pub verify_peer: VerifyPeer,
    /// `TLS_PRIORITY`.
    pub priority: Option<String>,
    /// `TLS_PROTOCOL`.
    pub protocol: Option<String>,
    /// `TLS_CIPHER_LIST`.
    pub cipher_list: Option<String>,
    /// `TLS_MIN_DH_BITS` (unused).
    pub min_dh_bits: Option<String>,
    /// `TLS_CACHEFILE` (unused).
    pub cachefile: Option<PathBuf>,
    /// `TLS_CACHESIZE` (unused).
    pub cachesize: Option<String>,
    /// `TLS_ALPN`.
    pub alpn: Option<String>,
    /// `TCPLOCALIP`.
    pub local_ip: Option<String>,
    /// `TCPREMOTEIP`.
    pub remote_ip: Option<String>,
    /// `TLS_HANDSHAKE_TIMEOUT`.
    pub handshake_timeout: Duration,
}

impl TlsSettings {
    /// Reads the settings through `get` (the environment in couriertls, a table in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let val = |name: &str| get(name).filter(|v| !v.is_empty());
        let verify_peer = match val(TLS_VERIFYPEER).and_then(|v| v.chars().next()) {
            Some('n' | 'N') => VerifyPeer::None,
            Some('r' | 'R') => VerifyPeer::Require,
            // Courier: 'P', and anything unrecognised leaves the default, PEER.
            _ => VerifyPeer::Peer,
        };
        let timeout = val(TLS_HANDSHAKE_TIMEOUT)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .unwrap_or(60);
        TlsSettings {
            certfile: val(TLS_CERTFILE).map(PathBuf::from),
            keyfile: val(TLS_PRIVATE_KEYFILE).map(PathBuf::from),
            dhparams: val(TLS_DHPARAMS).map(PathBuf::from),
            trustcerts: val(TLS_TRUSTCERTS).map(PathBuf::from),
            verify_peer,
            priority: val(TLS_PRIORITY),
            protocol: val(TLS_PROTOCOL),
            cipher_list: val(TLS_CIPHER_LIST),
            min_dh_bits: val(TLS_MIN_DH_BITS),
            cachefile: val(TLS_CACHEFILE).map(PathBuf::from),
            cachesize: val(TLS_CACHESIZE),
            alpn: val(TLS_ALPN),
            local_ip: val(TCPLOCALIP),
            remote_ip: val(TCPREMOTEIP),
            handshake_timeout: Duration::from_secs(timeout),
        }
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// `TLS_ALPN` as Courier parses it: names separated by commas or white space; words
/// starting with `@` are GnuTLS flags and are skipped.
pub fn parse_alpn(value: Option<&str>) -> Vec<Vec<u8>> {
    value
        .unwrap_or("")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty() && !w.starts_with('@') && w.len() < 256)
        .map(|w| w.as_bytes().to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> TlsSettings {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TlsSettings::from_lookup(|n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
    }

    #[test]
    fn verifypeer_first_letter_and_default() {
        const CASES: &[(&str, VerifyPeer)] = &[
            ("NONE", VerifyPeer::None),
            ("none", VerifyPeer::None),
            ("PEER", VerifyPeer::Peer),
            ("REQUIREPEER", VerifyPeer::Require),
            ("r", VerifyPeer::Require),
            ("", VerifyPeer::Peer),
            ("bogus", VerifyPeer::Peer),
        ];
        for (value, want) in CASES {
            assert_eq!(
                settings(&[(TLS_VERIFYPEER, value)]).verify_peer,
                *want,
                "{value}"
            );
        }
    }

    #[test]
    fn empty_values_are_unset() {
        let s = settings(&[(TLS_CERTFILE, ""), (TLS_PRIORITY, "")]);
        assert!(s.certfile.is_none() && s.priority.is_none());
        assert_eq!(s.handshake_timeout, Duration::from_secs(60));
        let s = settings(&[(TLS_HANDSHAKE_TIMEOUT, "3")]);
        assert_eq!(s.handshake_timeout, Duration::from_secs(3));
    }

    #[test]
    fn alpn_list() {
        assert_eq!(
            parse_alpn(Some("imap, pop3 @server")),
            vec![b"imap".to_vec(), b"pop3".to_vec()]
        );
        assert!(parse_alpn(None).is_empty());
    }
}
