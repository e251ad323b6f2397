//! Connections: plain TCP, TLS from the first byte, or TLS after STARTTLS/STLS.
//!
//! Certificates are not verified (loopback benchmarking against self-signed
//! test certificates); handshake signatures still are, so the TLS work the
//! server does is the real one.

use crate::Error;
use courier_tls::verify::NoChainCheck;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// How a client protects its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Clear text.
    None,
    /// STARTTLS (IMAP) / STLS (POP3) after the greeting.
    StartTls,
    /// TLS from the first byte (IMAPS, POP3S).
    Implicit,
}

impl TlsMode {
    pub fn parse(s: &str) -> Result<TlsMode, Error> {
        match s {
            "none" | "clear" => Ok(TlsMode::None),
            "starttls" | "stls" => Ok(TlsMode::StartTls),
            "imaps" | "pop3s" | "tls" | "implicit" => Ok(TlsMode::Implicit),
            _ => Err(Error::usage(format!(
                "--tls {s}: expected none, starttls or tls"
            ))),
        }
    }
}

/// A connected byte stream, clear or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// Connects to `host:port` with a read/write timeout of `timeout`.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Stream, Error> {
        let tcp = TcpStream::connect((host, port))
            .map_err(|e| Error::io(format!("connect {host}:{port}"), e))?;
        tcp.set_read_timeout(Some(timeout))
            .and_then(|()| tcp.set_write_timeout(Some(timeout)))
            .and_then(|()| tcp.set_nodelay(true))
            .map_err(|e| Error::io(format!("socket options {host}:{port}"), e))?;
        Ok(Stream::Plain(tcp))
    }

    /// Wraps a clear stream in TLS and completes the handshake.
    pub fn into_tls(self, host: &str) -> Result<Stream, Error> {
        let tcp = match self {
            Stream::Plain(t) => t,
            Stream::Tls(_) => return Err(Error::protocol("TLS requested twice")),
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| Error::usage(format!("TLS server name {host}: {e}")))?;
        let conn = ClientConnection::new(client_config(), name)
            .map_err(|e| Error::protocol(format!("TLS setup: {e}")))?;
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| Error::io("TLS handshake".to_string(), e))?;
        }
        Ok(Stream::Tls(Box::new(s)))
    }

    /// The underlying socket (for timeouts).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(t) => t,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(t) => t.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(t) => t.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn client_config() -> Arc<ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            // The default protocol versions are always valid for the ring provider;
            // fall back to TLS 1.3 only (never reached) rather than panic.
            let builder = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap_or_else(|_| {
                    ClientConfig::builder_with_provider(provider.clone())
                        .with_protocol_versions(&[&rustls::version::TLS13])
                        .unwrap_or_else(|_| unreachable!("TLS 1.3 is supported by ring"))
                });
            Arc::new(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoChainCheck(provider)))
                    .with_no_client_auth(),
            )
        })
        .clone()
}
