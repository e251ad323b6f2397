//! Courier's certificate file naming, PEM loading, and SNI selection.
//!
//! For each SNI name N the server tries `$TLS_CERTFILE.N`, then N without its
//! leftmost label, and so on down to the top-level domain (`mail.example.com`,
//! `example.com`, `com`); then `$TLS_CERTFILE.<TCPLOCALIP>` (a leading `::ffff:` of
//! an IPv4-mapped address removed); then `$TLS_CERTFILE`. `TLS_PRIVATE_KEYFILE`, when
//! set, is looked up with the same suffixes; otherwise the key is in the certificate
//! file.
//!
//! couriertls reads every candidate file at start, while it still has the privileges
//! to do so ([`CertStore::load`]): the default (IP or plain) certificate is parsed
//! and checked immediately, so a missing or broken certificate is an error before any
//! client speaks. SNI variants are read as bytes and parsed only when a client asks
//! for that name.

use crate::TlsError;
use crate::settings::TlsSettings;
use rustls::SignatureAlgorithm;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Files larger than this are not certificates; they are skipped (variants) or
/// refused (the default).
pub const MAX_PEM_FILE: u64 = 1 << 20;
/// At most this many `$TLS_CERTFILE.*` variants are read.
pub const MAX_VARIANTS: usize = 10_000;

/// The suffixes tried for one SNI name, in order: the name (`/` replaced by `.`),
/// then each parent domain.
pub fn sni_suffixes(sni: &str) -> Vec<String> {
    let name = sni.replace('/', ".");
    let mut out = Vec::new();
    let mut rest = name.as_str();
    while !rest.is_empty() {
        out.push(rest.to_string());
        match rest.find('.') {
            Some(i) => rest = &rest[i + 1..],
            None => break,
        }
    }
    out
}

/// `TCPLOCALIP` as a file suffix: `::ffff:` removed from IPv4-mapped addresses.
pub fn ip_suffix(local_ip: &str) -> String {
    match local_ip.strip_prefix("::ffff:") {
        Some(v4) if v4.contains('.') => v4.to_string(),
        _ => local_ip.replace('/', "."),
    }
}

/// The full list of certificate files tried, in Courier's order.
pub fn candidate_files(base: &Path, sni: Option<&str>, local_ip: Option<&str>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = sni
        .map(sni_suffixes)
        .unwrap_or_default()
        .iter()
        .map(|s| with_suffix(base, s))
        .collect();
    if let Some(ip) = local_ip.filter(|ip| !ip.is_empty()) {
        out.push(with_suffix(base, &ip_suffix(ip)));
    }
    out.push(base.to_path_buf());
    out
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// Parses a certificate chain and private key. The key comes from `key` when given,
/// else from the certificate file itself. The key must match the first certificate.
pub fn certified_key(
    cert_path: &Path,
    cert_pem: &[u8],
    key: Option<(&Path, &[u8])>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let bad = |path: &Path, reason: String| TlsError::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut chain: Vec<CertificateDer<'static>> = Vec::new();
    let mut key_in_cert: Option<PrivateKeyDer<'static>> = None;
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(cert_pem) {
        let (kind, der) = item.map_err(|e| bad(cert_path, format!("bad PEM: {e}")))?;
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
                if key_in_cert.is_none() =>
            {
                key_in_cert = PrivateKeyDer::from_pem(kind, der);
            }
            _ => {}
        }
    }
    if chain.is_empty() {
        return Err(bad(
            cert_path,
            "no certificate (-----BEGIN CERTIFICATE-----) found".into(),
        ));
    }
    let (key_path, key_der) = match key {
        Some((key_path, key_pem)) => match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(k) => (key_path, k),
            Err(e) => return Err(bad(key_path, format!("no usable private key: {e}"))),
        },
        None => match key_in_cert {
            Some(k) => (cert_path, k),
            None => {
                return Err(bad(
                    cert_path,
                    "no private key found (put it in this file, or set TLS_PRIVATE_KEYFILE)".into(),
                ));
            }
        },
    };
    CertifiedKey::from_der(chain, key_der, provider).map_err(|e| {
        bad(
            key_path,
            match e {
                rustls::Error::InconsistentKeys(_) => {
                    "private key does not match the certificate".to_string()
                }
                other => format!("unusable private key: {other}"),
            },
        )
    })
}

/// One certificate file read at start, parsed on first use.
struct Variant {
    cert_path: PathBuf,
    cert_pem: Vec<u8>,
    key: Option<(PathBuf, Vec<u8>)>,
    parsed: OnceLock<Result<Arc<CertifiedKey>, String>>,
}

impl Variant {
    fn get(&self, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
        self.parsed
            .get_or_init(|| {
                let key = self.key.as_ref().map(|(p, b)| (p.as_path(), b.as_slice()));
                certified_key(&self.cert_path, &self.cert_pem, key, provider)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }
}

/// Every certificate this connection might serve, read while privileged.
pub struct CertStore {
    /// SNI variants by suffix.
    variants: HashMap<String, Variant>,
    /// `$TLS_CERTFILE.<ip>` or `$TLS_CERTFILE`, parsed; `None` when neither exists.
    default: Option<(PathBuf, Arc<CertifiedKey>)>,
    /// The base name, for the error when a name matches nothing and there is no default.
    base: PathBuf,
    provider: Arc<CryptoProvider>,
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_PEM_FILE {
        return Err(std::io::Error::other("larger than 1 MiB"));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_PEM_FILE).read_to_end(&mut buf)?;
    Ok(buf)
}

/// `<dir>/<basename>.*` files: suffix -> path.
fn list_variants(base: &Path) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = base.file_name().and_then(|n| n.to_str()) else {
        return out;
    };
    let prefix = format!("{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        if out.len() >= MAX_VARIANTS {
            break;
        }
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if let Some(suffix) = file_name.strip_prefix(&prefix)
            && !suffix.is_empty()
        {
            out.insert(suffix.to_string(), dir.join(file_name));
        }
    }
    out
}

impl CertStore {
    /// Reads `$TLS_CERTFILE`, its `.<ip>` variant and every `.<name>` variant (and
    /// the matching `TLS_PRIVATE_KEYFILE` files). Fails, naming the file, when the
    /// default certificate is missing (and no variant exists) or unusable.
    pub fn load(settings: &TlsSettings, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let base = settings
            .certfile
            .clone()
            .ok_or(TlsError::NotSet(crate::settings::TLS_CERTFILE))?;
        let key_files = settings
            .keyfile
            .as_deref()
            .map(list_variants)
            .unwrap_or_default();
        let read_key = |suffix: Option<&str>| -> Result<Option<(PathBuf, Vec<u8>)>, TlsError> {
            let Some(keyfile) = settings.keyfile.as_deref() else {
                return Ok(None);
            };
            let path = match suffix {
                Some(s) => match key_files.get(s) {
                    Some(p) => p.clone(),
                    None => keyfile.to_path_buf(),
                },
                None => keyfile.to_path_buf(),
            };
            match read_limited(&path) {
                Ok(b) => Ok(Some((path, b))),
                Err(source) => Err(TlsError::Io { path, source }),
            }
        };

        // The default: the local-IP variant if present, else the plain file.
        let ip = settings.local_ip.as_deref().map(ip_suffix);
        let mut default = None;
        let mut default_err = None;
        let mut tried = Vec::new();
        if let Some(ip) = &ip {
            tried.push((with_suffix(&base, ip), Some(ip.clone())));
        }
        tried.push((base.clone(), None));
        for (path, suffix) in tried {
            match read_limited(&path) {
                Ok(pem) => {
                    let key = read_key(suffix.as_deref())?;
                    let key_ref = key.as_ref().map(|(p, b)| (p.as_path(), b.as_slice()));
                    let ck = certified_key(&path, &pem, key_ref, &provider)?;
                    default = Some((path, Arc::new(ck)));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if default_err.is_none() || suffix.is_none() {
                        default_err = Some(TlsError::Io { path, source: e });
                    }
                }
                Err(source) => return Err(TlsError::Io { path, source }),
            }
        }

        let mut variants = HashMap::new();
        for (suffix, path) in list_variants(&base) {
            if Some(&suffix) == ip.as_ref() {
                continue;
            }
            let Ok(cert_pem) = read_limited(&path) else {
                continue;
            };
            let key = match &settings.keyfile {
                Some(_) => match read_key(Some(&suffix)) {
                    Ok(k) => k,
                    Err(_) => continue,
                },
                None => None,
            };
            variants.insert(
                suffix,
                Variant {
                    cert_path: path,
                    cert_pem,
                    key,
                    parsed: OnceLock::new(),
                },
            );
        }
        if default.is_none() && variants.is_empty() {
            return Err(default_err.unwrap_or(TlsError::NotSet(crate::settings::TLS_CERTFILE)));
        }
        Ok(CertStore {
            variants,
            default,
            base,
            provider,
        })
    }

    /// The certificate for an SNI name (or none): the first variant in Courier's
    /// order, else the default. `Err` says which file failed, or that none matched.
    pub fn select(&self, sni: Option<&str>) -> Result<(PathBuf, Arc<CertifiedKey>), String> {
        if let Some(sni) = sni {
            for suffix in sni_suffixes(sni) {
                if let Some(v) = self.variants.get(&suffix) {
                    return v.get(&self.provider).map(|ck| (v.cert_path.clone(), ck));
                }
            }
        }
        match &self.default {
            Some((path, ck)) => Ok((path.clone(), ck.clone())),
            None => Err(format!(
                "{}: No such file or directory",
                self.base.display()
            )),
        }
    }

    /// How many SNI variants were read.
    pub fn variant_count(&self) -> usize {
        self.variants.len()
    }
}

/// What the resolver did for this connection.
#[derive(Clone, Debug, Default)]
pub struct Chosen {
    /// The certificate file served.
    pub path: Option<PathBuf>,
    /// Its key type (for `TLS_CONNECTED_PROTOCOL`).
    pub algorithm: Option<SignatureAlgorithm>,
    /// Why no certificate could be served.
    pub error: Option<String>,
}

/// The rustls certificate resolver implementing Courier's selection.
pub struct SniResolver {
    store: CertStore,
    chosen: Mutex<Chosen>,
}

impl SniResolver {
    /// Wraps a loaded store.
    pub fn new(store: CertStore) -> Self {
        SniResolver {
            store,
            chosen: Mutex::new(Chosen::default()),
        }
    }

    /// What was chosen (or why nothing was) during the handshake.
    pub fn chosen(&self) -> Chosen {
        self.chosen.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("base", &self.store.base)
            .field("variants", &self.store.variants.len())
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let result = self.store.select(client_hello.server_name());
        let mut chosen = Chosen::default();
        let out = match result {
            Ok((path, ck)) => {
                chosen.path = Some(path);
                chosen.algorithm = Some(ck.key.algorithm());
                Some(ck)
            }
            Err(e) => {
                chosen.error = Some(e);
                None
            }
        };
        if let Ok(mut c) = self.chosen.lock() {
            *c = chosen;
        }
        out
    }
}

/// The CA certificates of `TLS_TRUSTCERTS` (a PEM file, or a directory of them;
/// names starting with `.` skipped), or `None` when unset or empty.
pub fn load_trust(settings: &TlsSettings) -> Result<Option<Arc<rustls::RootCertStore>>, TlsError> {
    let Some(path) = settings.trustcerts.as_deref() else {
        return Ok(None);
    };
    let meta = std::fs::metadata(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| TlsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().starts_with('.') {
                files.push(e.path());
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut roots = rustls::RootCertStore::empty();
    for file in files {
        let Ok(pem) = std::fs::read(&file) else {
            continue;
        };
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            // Certificates webpki cannot use as anchors are skipped, as GnuTLS does.
            let _ = roots.add(cert);
        }
    }
    Ok((!roots.is_empty()).then(|| Arc::new(roots)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (SNI, TCPLOCALIP) -> files tried, for TLS_CERTFILE=/c/cert.pem.
    const CASES: &[(Option<&str>, Option<&str>, &[&str])] = &[
        (
            Some("mail.example.com"),
            Some("::ffff:127.0.0.1"),
            &[
                "/c/cert.pem.mail.example.com",
                "/c/cert.pem.example.com",
                "/c/cert.pem.com",
                "/c/cert.pem.127.0.0.1",
                "/c/cert.pem",
            ],
        ),
        (
            Some("example.com"),
            None,
            &["/c/cert.pem.example.com", "/c/cert.pem.com", "/c/cert.pem"],
        ),
        (
            Some("localhost"),
            Some("::1"),
            &["/c/cert.pem.localhost", "/c/cert.pem.::1", "/c/cert.pem"],
        ),
        (
            None,
            Some("192.0.2.7"),
            &["/c/cert.pem.192.0.2.7", "/c/cert.pem"],
        ),
        (
            None,
            Some("::ffff:abcd"),
            &["/c/cert.pem.::ffff:abcd", "/c/cert.pem"],
        ),
        (None, None, &["/c/cert.pem"]),
        (
            Some("a/b.example"),
            None,
            &[
                "/c/cert.pem.a.b.example",
                "/c/cert.pem.b.example",
                "/c/cert.pem.example",
                "/c/cert.pem",
            ],
        ),
    ];

    #[test]
    fn sni_name_to_candidate_files() {
        for (sni, ip, want) in CASES {
            let got = candidate_files(Path::new("/c/cert.pem"), *sni, *ip);
            let got: Vec<String> = got.iter().map(|p| p.display().to_string()).collect();
            assert_eq!(got, *want, "{sni:?} {ip:?}");
        }
    }

    #[test]
    fn missing_certificate_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("imapd.pem");
        let settings =
            TlsSettings::from_lookup(|n| (n == "TLS_CERTFILE").then(|| base.display().to_string()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let err = CertStore::load(&settings, provider.clone())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            format!("{}: No such file or directory", base.display())
        );

        std::fs::write(&base, "not a certificate\n").unwrap();
        let err = CertStore::load(&settings, provider)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with(&base.display().to_string()), "{err}");
        assert!(err.contains("no certificate"), "{err}");
    }
}
