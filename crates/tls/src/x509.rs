//! The few certificate fields couriertls reports: subject components (for
//! `TLS_SUBJECT_*` and `-printx509`), DNS subject-alternative names, validity.
//!
//! A minimal DER reader: certificates reaching it were already parsed and verified
//! by rustls/webpki, and anything unexpected yields `None` rather than a guess.

/// One DER element: tag and contents.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and the rest.
fn tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((
        Tlv {
            tag,
            body: &rest[..len],
        },
        &rest[len..],
    ))
}

/// All elements of a constructed body.
fn children(mut body: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (t, rest) = tlv(body)?;
        out.push(t);
        body = rest;
    }
    Some(out)
}

/// Dotted text of an OBJECT IDENTIFIER body.
fn oid_text(body: &[u8]) -> Option<String> {
    let (&first, rest) = body.split_first()?;
    let mut parts = vec![(first / 40).min(2) as u64];
    parts.push(first as u64 - parts[0] * 40);
    let mut acc: u64 = 0;
    for &b in rest {
        acc = acc.checked_mul(128)? | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            parts.push(acc);
            acc = 0;
        }
    }
    Some(
        parts
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// GnuTLS's short names for the OIDs it knows (libcouriergnutls's table).
const OID_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "cn"),
    ("2.5.4.4", "sn"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "c"),
    ("2.5.4.7", "l"),
    ("2.5.4.8", "st"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "o"),
    ("2.5.4.11", "ou"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "givenName"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.65", "pseudonym"),
    ("0.9.2342.19200300.100.1.1", "uid"),
    ("0.9.2342.19200300.100.1.3", "mail"),
    ("0.9.2342.19200300.100.1.25", "dc"),
    ("1.2.840.113549.1.9.1", "emailaddress"),
];

/// A directory string's text (UTF8, Printable, IA5, Teletex as Latin-1, BMP).
fn string_value(t: &Tlv<'_>) -> String {
    match t.tag {
        0x1e => {
            let units: Vec<u16> = t
                .body
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        0x14 => t.body.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(t.body).into_owned(),
    }
}

/// `YYMMDDHHMMSSZ` / `YYYYMMDDHHMMSSZ` as `YYYY-MM-DD HH:MM:SS`.
fn time_text(t: &Tlv<'_>) -> Option<String> {
    let s = std::str::from_utf8(t.body).ok()?;
    let full = match t.tag {
        0x17 => {
            let yy: u32 = s.get(0..2)?.parse().ok()?;
            format!("{}{}", if yy < 50 { 20 } else { 19 }, s)
        }
        0x18 => s.to_string(),
        _ => return None,
    };
    let d = full.get(0..14)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{} {}:{}:{}",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[8..10],
        &d[10..12],
        &d[12..14]
    ))
}

/// What couriertls reports about one certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject components as (GnuTLS short name or dotted OID, value), grouped by
    /// attribute in order of first appearance, as GnuTLS lists them.
    pub subject: Vec<(String, String)>,
    /// DNS subject alternative names.
    pub san_dns: Vec<String>,
    /// `notBefore`, `YYYY-MM-DD HH:MM:SS` (UTC).
    pub not_before: String,
    /// `notAfter`, `YYYY-MM-DD HH:MM:SS` (UTC).
    pub not_after: String,
}

/// Reads subject, DNS names and validity from a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Option<CertInfo> {
    let (cert, _) = tlv(der)?;
    let (tbs, _) = tlv(cert.body)?;
    let mut fields = children(tbs.body)?.into_iter().peekable();
    if fields.peek()?.tag == 0xa0 {
        fields.next(); // version
    }
    let _serial = fields.next()?;
    let _sig = fields.next()?;
    let _issuer = fields.next()?;
    let validity = children(fields.next()?.body)?;
    let subject = fields.next()?;
    let mut info = CertInfo {
        not_before: time_text(validity.first()?)?,
        not_after: time_text(validity.get(1)?)?,
        ..CertInfo::default()
    };
    let mut by_oid: Vec<(String, Vec<String>)> = Vec::new();
    for rdn in children(subject.body)? {
        for atv in children(rdn.body)? {
            let parts = children(atv.body)?;
            let oid = oid_text(parts.first()?.body)?;
            let value = string_value(parts.get(1)?);
            match by_oid.iter_mut().find(|(o, _)| *o == oid) {
                Some((_, v)) => v.push(value),
                None => by_oid.push((oid, vec![value])),
            }
        }
    }
    for (oid, values) in by_oid {
        let name = OID_NAMES
            .iter()
            .find(|(o, _)| *o == oid)
            .map_or(oid.clone(), |(_, n)| n.to_string());
        for v in values {
            info.subject.push((name.clone(), v));
        }
    }
    for field in fields {
        if field.tag != 0xa3 {
            continue;
        }
        let (exts, _) = tlv(field.body)?;
        for ext in children(exts.body)? {
            let parts = children(ext.body)?;
            if oid_text(parts.first()?.body)?.as_str() != "2.5.29.17" {
                continue;
            }
            let value = parts.last()?;
            let (names, _) = tlv(value.body)?;
            for name in children(names.body)? {
                if name.tag == 0x82 {
                    info.san_dns
                        .push(String::from_utf8_lossy(name.body).into_owned());
                }
            }
        }
    }
    Some(info)
}

/// The `-printx509` text for a peer's chain, in libcouriergnutls's layout (followed
/// by [`crate::desc::Description::dump`]).
pub fn dump(chain: &[CertInfo]) -> String {
    let mut out = String::new();
    for c in chain {
        out.push_str("Subject:\n");
        for (name, value) in &c.subject {
            out.push_str(&format!("   {name}={value}\n"));
        }
        out.push('\n');
        for dns in &c.san_dns {
            out.push_str(&format!("Subject-Alt-Name-DNS: {dns}\n"));
        }
        out.push_str(&format!("Not-Before: {}\n", c.not_before));
        out.push_str(&format!("Not-After: {}\n", c.not_after));
    }
    out
}

/// `TLS_SUBJECT_<NAME>=value` for the peer's own certificate: names upper-cased, a
/// repeated attribute keeps its last value (Courier calls setenv for each).
pub fn subject_env(cert: &CertInfo) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in &cert.subject {
        let mut key = format!("TLS_SUBJECT_{}", name.to_ascii_uppercase());
        key.truncate(62);
        // Environment entries cannot carry NUL or `=` in the name.
        let key: String = key.chars().filter(|&c| c != '=' && c != '\0').collect();
        let value: String = value.chars().filter(|&c| c != '\0').collect();
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed certificate made with:
    // openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1
    //   -subj "/C=DE/O=Example/OU=Mail/OU=IMAP/CN=client.example/emailAddress=u@example.com"
    //   -addext subjectAltName=DNS:client.example,DNS:alt.example,email:x@y
    const PEM: &str = "-----BEGIN CERTIFICATE-----
MIICazCCAhGgAwIBAgIUNQJM7W231UMJpWYdboGEy7bFP4cwCgYIKoZIzj0EAwIw
dDELMAkGA1UEBhMCREUxEDAOBgNVBAoMB0V4YW1wbGUxDTALBgNVBAsMBE1haWwx
DTALBgNVBAsMBElNQVAxFzAVBgNVBAMMDmNsaWVudC5leGFtcGxlMRwwGgYJKoZI
hvcNAQkBFg11QGV4YW1wbGUuY29tMB4XDTI2MTEyMjAwMDYwN1oXDTI2MTEyMzAw
MDYwN1owdDELMAkGA1UEBhMCREUxEDAOBgNVBAoMB0V4YW1wbGUxDTALBgNVBAsM
BE1haWwxDTALBgNVBAsMBElNQVAxFzAVBgNVBAMMDmNsaWVudC5leGFtcGxlMRww
GgYJKoZIhvcNAQkBFg11QGV4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEn7GX7SpmGD1GUeAjvtb/lpb9uNb8LnQDg3K9klbM1fznygu8Ja2r4z07
Z2JIbQ24iTsDqqs/Tm8e/eHCJyxiNKOBgDB+MB0GA1UdDgQWBBT5nbNGBHXTOPGi
V7P6jO89ZRj1wDAfBgNVHSMEGDAWgBT5nbNGBHXTOPGiV7P6jO89ZRj1wDAPBgNV
HRMBAf8EBTADAQH/MCsGA1UdEQQkMCKCDmNsaWVudC5leGFtcGxlggthbHQuZXhh
bXBsZYEDeEB5MAoGCCqGSM49BAMCA0gAMEUCIQDT+CGAtayB47QBinXNV7AvprHP
YH4jL6YxfwjFlU6GUQIger9a13hTXF492MHLoZmiJWpxByqdSZXoXFbLRF0+LHs=
-----END CERTIFICATE-----
";

    #[test]
    fn reads_subject_san_and_validity() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(PEM.as_bytes()).unwrap();
        let info = parse_certificate(&der).unwrap();
        let subject: Vec<String> = info
            .subject
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(
            subject,
            [
                "c=DE",
                "o=Example",
                "ou=Mail",
                "ou=IMAP",
                "cn=client.example",
                "emailaddress=u@example.com"
            ]
        );
        assert_eq!(info.san_dns, ["client.example", "alt.example"]);
        assert_eq!(info.not_before, "2026-11-22 00:06:07");
        assert_eq!(info.not_after, "2026-11-23 00:06:07");
        let env = subject_env(&info);
        assert!(env.contains(&("TLS_SUBJECT_OU".into(), "IMAP".into())));
        assert!(env.contains(&("TLS_SUBJECT_EMAILADDRESS".into(), "u@example.com".into())));
        let text = dump(&[info]);
        assert!(
            text.starts_with("Subject:\n   c=DE\n   o=Example\n"),
            "{text}"
        );
        assert!(text.contains("\nSubject-Alt-Name-DNS: client.example\nSubject-Alt-Name-DNS: alt.example\nNot-Before: 2026-11-22 00:06:07\n"));
    }

    #[test]
    fn garbage_is_none() {
        assert!(parse_certificate(b"").is_none());
        assert!(parse_certificate(&[0x30, 0x82, 0xff]).is_none());
        assert!(parse_certificate(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }
}
