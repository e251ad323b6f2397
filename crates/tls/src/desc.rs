//! `TLS_CONNECTED_PROTOCOL` in the form Debian's (GnuTLS) couriertls exports:
//! `<version>,<bits>bits,<suite>`, e.g. `TLS1.3,256bits,ECDHE_RSA_AES_256_GCM_SHA384`.
//!
//! GnuTLS names a suite `<kx>_<cipher>_<mac>`; for TLS 1.3 it takes the key
//! exchange from the certificate type (ECDHE_RSA or ECDHE_ECDSA), and names
//! ChaCha20 suites without the MAC (`ECDHE_RSA_CHACHA20_POLY1305`).

use rustls::{CipherSuite, ProtocolVersion, SignatureAlgorithm};

/// Version, key bits and suite name of a negotiated connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// `TLS1.2` or `TLS1.3`.
    pub version: String,
    /// Symmetric key size in bits.
    pub bits: u32,
    /// GnuTLS-style suite name.
    pub cipher: String,
}

impl Description {
    /// Describes a connection from what rustls reports.
    pub fn new(
        version: ProtocolVersion,
        suite: CipherSuite,
        cert_key: Option<SignatureAlgorithm>,
    ) -> Self {
        let version = match version {
            ProtocolVersion::TLSv1_3 => "TLS1.3".to_string(),
            ProtocolVersion::TLSv1_2 => "TLS1.2".to_string(),
            other => format!("{other:?}"),
        };
        let tls13_kx = match cert_key {
            Some(SignatureAlgorithm::ECDSA | SignatureAlgorithm::ED25519) => "ECDHE_ECDSA",
            _ => "ECDHE_RSA",
        };
        let (bits, cipher) = match suite {
            CipherSuite::TLS13_AES_256_GCM_SHA384 => {
                (256, format!("{tls13_kx}_AES_256_GCM_SHA384"))
            }
            CipherSuite::TLS13_AES_128_GCM_SHA256 => {
                (128, format!("{tls13_kx}_AES_128_GCM_SHA256"))
            }
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => {
                (256, format!("{tls13_kx}_CHACHA20_POLY1305"))
            }
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => {
                (256, "ECDHE_RSA_AES_256_GCM_SHA384".into())
            }
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => {
                (128, "ECDHE_RSA_AES_128_GCM_SHA256".into())
            }
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
                (256, "ECDHE_RSA_CHACHA20_POLY1305".into())
            }
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
                (256, "ECDHE_ECDSA_AES_256_GCM_SHA384".into())
            }
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
                (128, "ECDHE_ECDSA_AES_128_GCM_SHA256".into())
            }
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
                (256, "ECDHE_ECDSA_CHACHA20_POLY1305".into())
            }
            other => (0, format!("{other:?}")),
        };
        Description {
            version,
            bits,
            cipher,
        }
    }

    /// The `TLS_CONNECTED_PROTOCOL` value.
    pub fn connected_protocol(&self) -> String {
        format!("{},{}bits,{}", self.version, self.bits, self.cipher)
    }

    /// The tail of the `-printx509` dump.
    pub fn dump(&self) -> String {
        format!(
            "Version: {}\nBits: {}\nCipher: {}\n",
            self.version, self.bits, self.cipher
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values observed from Debian's couriertls with an RSA certificate.
    const CASES: &[(ProtocolVersion, CipherSuite, &str)] = &[
        (
            ProtocolVersion::TLSv1_3,
            CipherSuite::TLS13_AES_256_GCM_SHA384,
            "TLS1.3,256bits,ECDHE_RSA_AES_256_GCM_SHA384",
        ),
        (
            ProtocolVersion::TLSv1_3,
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            "TLS1.3,128bits,ECDHE_RSA_AES_128_GCM_SHA256",
        ),
        (
            ProtocolVersion::TLSv1_3,
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            "TLS1.3,256bits,ECDHE_RSA_CHACHA20_POLY1305",
        ),
        (
            ProtocolVersion::TLSv1_2,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            "TLS1.2,256bits,ECDHE_RSA_AES_256_GCM_SHA384",
        ),
        (
            ProtocolVersion::TLSv1_2,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "TLS1.2,128bits,ECDHE_RSA_AES_128_GCM_SHA256",
        ),
        (
            ProtocolVersion::TLSv1_2,
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            "TLS1.2,256bits,ECDHE_RSA_CHACHA20_POLY1305",
        ),
    ];

    #[test]
    fn matches_debian_gnutls_names() {
        for (v, s, want) in CASES {
            let d = Description::new(*v, *s, Some(SignatureAlgorithm::RSA));
            assert_eq!(d.connected_protocol(), *want);
        }
        let d = Description::new(
            ProtocolVersion::TLSv1_3,
            CipherSuite::TLS13_AES_256_GCM_SHA384,
            Some(SignatureAlgorithm::ECDSA),
        );
        assert_eq!(
            d.connected_protocol(),
            "TLS1.3,256bits,ECDHE_ECDSA_AES_256_GCM_SHA384"
        );
    }
}
