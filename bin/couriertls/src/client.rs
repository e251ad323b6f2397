//! Client side (debugging): `-host`/`-port`, `-protocol` STARTTLS dialogues, and
//! the rustls client configuration. Certificates are verified against
//! `TLS_TRUSTCERTS`; `-verify=DOMAIN` also checks the name. Without `-verify` and
//! with `TLS_VERIFYPEER=NONE` (or no trusted CAs) only the handshake signatures are
//! checked, as Courier's client does not verify in that case either.

use crate::cli::Options;
use courier_tls::TlsSettings;
use courier_tls::policy::Policy;
use courier_tls::verify::NoChainCheck;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// Connects to `host:port` (a number or a service name from /etc/services).
pub fn connect(host: &str, port: &str) -> Result<OwnedFd, String> {
    let port_num = match crate::cli::atoi(port) {
        n if n > 0 => n as u16,
        _ => service_port(port).ok_or_else(|| format!("{port}: invalid port."))?,
    };
    let stream = std::net::TcpStream::connect((host, port_num))
        .map_err(|e| format!("connect: {}", courier_common::strerror(&e)))?;
    Ok(OwnedFd::from(stream))
}

fn service_port(name: &str) -> Option<u16> {
    let text = std::fs::read_to_string("/etc/services").ok()?;
    text.lines().find_map(|line| {
        let mut words = line.split('#').next()?.split_whitespace();
        let svc = words.next()?;
        let (num, proto) = words.next()?.split_once('/')?;
        let aliases: Vec<&str> = words.collect();
        (proto == "tcp" && (svc == name || aliases.contains(&name)))
            .then(|| num.parse().ok())
            .flatten()
    })
}

fn read_line(fd: BorrowedFd<'_>) -> Result<String, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fd, &mut byte) {
            Ok(0) | Err(_) => return Err("read: Connection reset by peer".into()),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() < 255 => line.push(byte[0]),
            Ok(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&line)
        .trim_end_matches('\r')
        .to_string();
    println!("{text}");
    Ok(text)
}

fn send(fd: BorrowedFd<'_>, text: &str) -> Result<(), String> {
    print!("{text}");
    let _ = std::io::stdout().flush();
    nix::sys::socket::send(
        fd.as_raw_fd(),
        text.as_bytes(),
        nix::sys::socket::MsgFlags::empty(),
    )
    .map(|_| ())
    .map_err(|e| format!("write: {}", e.desc()))
}

fn imap_ok(line: &str) -> Result<bool, String> {
    let rest = match line.strip_prefix("x ").or_else(|| line.strip_prefix('*')) {
        Some(r) => r.trim_start().to_ascii_uppercase(),
        None => return Ok(false),
    };
    if rest.starts_with("BAD") || rest.starts_with("BYE") || rest.starts_with("NO") {
        return Err(format!("server refused: {line}"));
    }
    Ok(rest.starts_with("OK"))
}

fn smtp_final(fd: BorrowedFd<'_>) -> Result<(), String> {
    loop {
        let l = read_line(fd)?;
        let b = l.as_bytes();
        if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) && (b.len() == 3 || b[3] == b' ') {
            return if b"123".contains(&b[0]) {
                Ok(())
            } else {
                Err(format!("server refused: {l}"))
            };
        }
    }
}

/// Speaks the protocol's plaintext opening and STARTTLS, echoing the server's lines.
pub fn starttls_dialogue(fd: BorrowedFd<'_>, protocol: &str) -> Result<(), String> {
    match protocol {
        "imap" => {
            while !imap_ok(&read_line(fd)?)? {}
            send(fd, "x STARTTLS\r\n")?;
            while !imap_ok(&read_line(fd)?)? {}
        }
        "pop3" => {
            read_line(fd)?;
            send(fd, "STLS\r\n")?;
            read_line(fd)?;
        }
        _ => {
            smtp_final(fd)?;
            send(fd, &format!("EHLO {}\r\n", courier_common::hostname()))?;
            smtp_final(fd)?;
            send(fd, "STARTTLS\r\n")?;
            smtp_final(fd)?;
        }
    }
    Ok(())
}

/// The client connection for `-host`/`-remotefd` without `-server`.
pub fn connection(
    settings: &TlsSettings,
    policy: &Policy,
    opts: &Options,
) -> Result<rustls::Connection, String> {
    let provider = Arc::new(policy.provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&policy.versions)
        .map_err(|e| format!("couriertls: {e}"))?;
    let roots = courier_tls::certs::load_trust(settings).map_err(|e| format!("couriertls: {e}"))?;
    let domain = opts.verify.as_deref().filter(|d| !d.is_empty());
    let builder = match (roots, domain) {
        (Some(roots), _)
            if domain.is_some() || settings.verify_peer != courier_tls::VerifyPeer::None =>
        {
            builder.with_root_certificates(roots)
        }
        (None, Some(_)) => return Err("TLS_TRUSTCERTS not set".into()),
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoChainCheck(provider.clone()))),
    };
    let mut config = match &settings.certfile {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                format!(
                    "couriertls: {}: {}",
                    path.display(),
                    courier_common::strerror(&e)
                )
            })?;
            let key = match &settings.keyfile {
                Some(k) => Some((
                    k.clone(),
                    std::fs::read(k).map_err(|e| {
                        format!(
                            "couriertls: {}: {}",
                            k.display(),
                            courier_common::strerror(&e)
                        )
                    })?,
                )),
                None => None,
            };
            let ck = courier_tls::certs::certified_key(
                path,
                &pem,
                key.as_ref().map(|(p, b)| (p.as_path(), b.as_slice())),
                &provider,
            )
            .map_err(|e| format!("couriertls: {e}"))?;
            let key_pem = key.as_ref().map_or(pem.as_slice(), |(_, b)| b.as_slice());
            let key_der = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|e| format!("couriertls: private key: {e}"))?;
            builder
                .with_client_auth_cert(ck.cert.clone(), key_der)
                .map_err(|e| format!("couriertls: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    // Courier sends SNI only with -verify.
    config.enable_sni = domain.is_some();
    config.alpn_protocols = courier_tls::settings::parse_alpn(settings.alpn.as_deref());
    let name = domain.or(opts.host.as_deref()).unwrap_or("localhost");
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|_| format!("couriertls: {name}: not a valid host name"))?;
    rustls::ClientConnection::new(Arc::new(config), server_name)
        .map(Into::into)
        .map_err(|e| format!("couriertls: {e}"))
}
