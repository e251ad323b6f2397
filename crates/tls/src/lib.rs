//! courier-tls: the library behind `couriertls`.
//!
//! Owns: reading Courier's `TLS_*` settings ([`settings`]), mapping the protocol and
//! cipher knobs of Courier's GnuTLS and OpenSSL builds onto what rustls offers
//! ([`policy`]), Courier's certificate file naming and SNI selection
//! ([`certs`]), the few X.509 fields couriertls reports ([`x509`]), the
//! `TLS_CONNECTED_PROTOCOL` text ([`desc`]), building the rustls `ServerConfig`
//! ([`server_config`]) and the poll(2) loop that moves bytes between a TLS socket and
//! a cleartext descriptor ([`pump`]).
//!
//! Does not: log (errors are returned; the binary prints them), look at the bytes it
//! carries, fork or change privileges.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod certs;
pub mod desc;
pub mod policy;
pub mod pump;
pub mod settings;
pub mod verify;
pub mod x509;

use std::path::PathBuf;
use std::sync::Arc;

pub use certs::{CertStore, SniResolver};
pub use settings::{TlsSettings, VerifyPeer};

/// Everything that can go wrong while setting up TLS; each variant says whose fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A required setting is missing: the configuration file is incomplete.
    #[error("{0} not set")]
    NotSet(&'static str),
    /// A setting has a value couriertls cannot honour with rustls (administrator).
    #[error("{name}={value}: {reason}")]
    Setting {
        /// The variable, e.g. `TLS_PROTOCOL`.
        name: &'static str,
        /// Its value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read (missing, permissions).
    #[error("{}: {}", path.display(), courier_common_strerror(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file has unusable contents (administrator).
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the assembled configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// `strerror` text without Rust's ` (os error N)` suffix, as Courier prints it.
fn courier_common_strerror(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => err.to_string(),
    }
}

/// The rustls server configuration for one connection, and the resolver that
/// remembers which certificate it served.
pub struct Server {
    /// The configuration to hand to `rustls::ServerConnection::new`.
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate resolver (to ask which certificate was chosen, or why none was).
    pub resolver: Arc<SniResolver>,
}

/// Builds the server configuration: protocol versions and cipher suites from
/// [`policy`], certificates from `store`, client certificate verification from
/// `TLS_VERIFYPEER`/`TLS_TRUSTCERTS`, ALPN from `TLS_ALPN`.
pub fn server_config(settings: &TlsSettings, store: CertStore) -> Result<Server, TlsError> {
    let policy = policy::Policy::from_settings(settings)?;
    let provider = Arc::new(policy.provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&policy.versions)?;
    let builder = match settings.verify_peer {
        VerifyPeer::None => builder.with_no_client_auth(),
        mode => match certs::load_trust(settings)? {
            None if mode == VerifyPeer::Require => {
                return Err(TlsError::Setting {
                    name: settings::TLS_VERIFYPEER,
                    value: "REQUIREPEER".into(),
                    reason: "needs TLS_TRUSTCERTS with at least one CA certificate".into(),
                });
            }
            // Nothing could verify a client certificate: do not ask for one.
            None => builder.with_no_client_auth(),
            Some(roots) => {
                let verifier =
                    rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = if mode == VerifyPeer::Require {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|e| TlsError::Setting {
                    name: settings::TLS_TRUSTCERTS,
                    value: settings
                        .trustcerts
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        },
    };
    let resolver = Arc::new(SniResolver::new(store));
    let mut config = builder.with_cert_resolver(resolver.clone());
    // One process per connection: a session cache or ticket key would die with the
    // process, so offering resumption only costs bytes (TLS_CACHEFILE is accepted
    // and not used; see couriertls(1)).
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.alpn_protocols = settings::parse_alpn(settings.alpn.as_deref());
    Ok(Server {
        config: Arc::new(config),
        resolver,
    })
}
