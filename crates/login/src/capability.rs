//! What the greeting, `CAPABILITY` and `CAPA` announce, and the STARTTLS switches
//! (imapd-config.md §3, pop3d-config.md §4). Announcing is cosmetic: every
//! mechanism is accepted whether listed or not.

use crate::env::Environ;

/// The two protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// imaplogin.
    Imap,
    /// courierpop3login.
    Pop3,
}

impl Protocol {
    fn var(self, suffix: &str) -> String {
        match self {
            Protocol::Imap => format!("IMAP_{suffix}"),
            Protocol::Pop3 => format!("POP3_{suffix}"),
        }
    }

    /// `IMAP_TLS` / `POP3_TLS`.
    pub fn tls_var(self) -> String {
        self.var("TLS")
    }

    /// `IMAP_STARTTLS` / `POP3_STARTTLS`.
    pub fn starttls_var(self) -> String {
        self.var("STARTTLS")
    }

    /// `IMAP_TLS_REQUIRED` / `POP3_TLS_REQUIRED`.
    pub fn tls_required_var(self) -> String {
        self.var("TLS_REQUIRED")
    }

    /// `imap` / `pop3`: the default authentication service.
    pub fn service(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }

    /// `IMAP` / `POP3` in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
        }
    }
}

/// The environment changes after a successful STARTTLS/STLS: the certificate
/// variables, then `<P>_STARTTLS=NO`, `<P>_TLS_REQUIRED=0`, `<P>_TLS=1`.
pub fn after_starttls(env: &mut Environ, p: Protocol, vars: Vec<(String, String)>) {
    for (k, v) in vars {
        env.set(k, v);
    }
    env.set(p.starttls_var(), "NO");
    env.set(p.tls_required_var(), "0");
    env.set(p.tls_var(), "1");
}

/// STARTTLS/STLS is offered: `<P>_STARTTLS` starts with y/Y and `COURIERTLS` names
/// an executable file.
pub fn have_starttls(env: &Environ, p: Protocol) -> bool {
    if !env.yes(p.starttls_var()) {
        return false;
    }
    match env.get(crate::env::COURIERTLS).filter(|v| !v.is_empty()) {
        Some(tls) => nix::unistd::access(tls, nix::unistd::AccessFlags::X_OK).is_ok(),
        None => false,
    }
}

/// Logins must wait for STARTTLS. IMAP: `IMAP_TLS_REQUIRED` non-zero and TLS not
/// yet active; POP3: `POP3_TLS_REQUIRED` non-zero (the login programs only look at
/// it together with STLS availability for IMAP, on its own for POP3).
pub fn tls_required(env: &Environ, p: Protocol) -> bool {
    match p {
        Protocol::Imap => env.atoi(p.tls_required_var()) != 0 && env.atoi(p.tls_var()) == 0,
        Protocol::Pop3 => env.atoi(p.tls_required_var()) != 0,
    }
}

/// The identity SASL EXTERNAL would use: `TLS_SUBJECT_<TLS_EXTERNAL>` when TLS is
/// active and both are set.
pub fn external_identity(env: &Environ, p: Protocol) -> Option<Vec<u8>> {
    if env.atoi(p.tls_var()) == 0 {
        return None;
    }
    let field = env.non_empty(crate::env::TLS_EXTERNAL)?;
    let name = format!(
        "TLS_SUBJECT_{}",
        String::from_utf8_lossy(field).to_ascii_uppercase()
    );
    env.non_empty(name).map(<[u8]>::to_vec)
}

/// The IMAP capability list, in Courier's order.
pub fn imap_capability(env: &Environ) -> Vec<u8> {
    let p = Protocol::Imap;
    let mut out = if env.atoi(p.tls_var()) != 0 && env.non_empty("IMAP_CAPABILITY_TLS").is_some() {
        env.bytes("IMAP_CAPABILITY_TLS")
            .unwrap_or_default()
            .to_vec()
    } else if let Some(c) = env.non_empty("IMAP_CAPABILITY") {
        c.to_vec()
    } else {
        b"IMAP4rev1".to_vec()
    };
    if let Some(smap) = env.non_empty("SMAP_CAPABILITY") {
        out.push(b' ');
        out.extend_from_slice(smap);
        if env.atoi("IMAP_KEYWORDS") != 0 {
            out.extend_from_slice(b" KEYWORDS");
        }
    }
    if env.atoi("IMAP_ACL") != 0 {
        out.extend_from_slice(b" ACL ACL2=UNION");
    }
    if env.get("IMAP_ID_FIELDS").is_some() {
        out.extend_from_slice(b" ID");
    }
    if have_starttls(env, p) {
        out.extend_from_slice(b" STARTTLS");
        if tls_required(env, p) {
            out.extend_from_slice(b" LOGINDISABLED");
        }
    } else if external_identity(env, p).is_some() {
        out.extend_from_slice(b" AUTH=EXTERNAL");
    }
    if let Some(outbox) = env.non_empty("OUTBOX") {
        out.extend_from_slice(b" XCOURIEROUTBOX=INBOX");
        out.extend_from_slice(outbox);
    }
    if env.atoi("IMAP_MOVE_EXPUNGE_TO_TRASH") != 0 {
        out.extend_from_slice(b" XMAGICTRASH");
    }
    out.extend_from_slice(b" ENABLE UTF8=ACCEPT");
    out
}

/// The IMAP greeting line.
pub fn imap_greeting(env: &Environ) -> Vec<u8> {
    let mut g = b"* OK [CAPABILITY ".to_vec();
    g.extend_from_slice(&imap_capability(env));
    g.extend_from_slice(
        b"] Courier-IMAP ready. Copyright 1998-2019 Double Precision, Inc.  \
See COPYING for distribution information.\r\n",
    );
    g
}

/// The POP3 `CAPA` answer, terminating `.` included.
pub fn pop3_capa(env: &Environ) -> Vec<u8> {
    let p = Protocol::Pop3;
    let mut out = b"+OK Here's what I can do:\r\n".to_vec();
    let list = if env.atoi(p.tls_var()) != 0 && env.non_empty("POP3AUTH_TLS").is_some() {
        env.bytes("POP3AUTH_TLS").unwrap_or_default()
    } else {
        env.bytes("POP3AUTH").unwrap_or_default()
    };
    let external = external_identity(env, p);
    if !list.is_empty() || external.is_some() {
        out.extend_from_slice(b"SASL ");
        out.extend_from_slice(list);
        if external.is_some() {
            if !list.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(b"EXTERNAL");
        }
        out.extend_from_slice(b"\r\n");
    }
    if have_starttls(env, p) {
        out.extend_from_slice(b"STLS\r\n");
    }
    out.extend_from_slice(
        b"TOP\r\nUSER\r\nLOGIN-DELAY 10\r\nPIPELINING\r\nUIDL\r\nUTF8 USER\r\n\
IMPLEMENTATION Courier Mail Server\r\n.\r\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian() -> Environ {
        Environ::from_pairs(&[
            (
                "IMAP_CAPABILITY",
                "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE",
            ),
            (
                "IMAP_CAPABILITY_TLS",
                "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE AUTH=PLAIN",
            ),
            ("IMAP_ACL", "1"),
            ("IMAP_STARTTLS", "YES"),
            ("COURIERTLS", "/bin/sh"),
        ])
    }

    fn s(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn debian_defaults_match_observed_capabilities() {
        let mut e = debian();
        assert_eq!(
            s(imap_capability(&e)),
            "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE ACL ACL2=UNION STARTTLS ENABLE UTF8=ACCEPT"
        );
        e.set("IMAP_TLS_REQUIRED", "1");
        assert!(s(imap_capability(&e)).contains("STARTTLS LOGINDISABLED ENABLE"));
        e.set("IMAP_STARTTLS", "NO");
        e.set("IMAP_TLS", "1");
        assert_eq!(
            s(imap_capability(&e)),
            "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE AUTH=PLAIN ACL ACL2=UNION ENABLE UTF8=ACCEPT"
        );
        assert_eq!(
            s(imap_capability(&Environ::default())),
            "IMAP4rev1 ENABLE UTF8=ACCEPT"
        );
    }

    #[test]
    fn starttls_needs_an_executable_helper() {
        let mut e = debian();
        assert!(have_starttls(&e, Protocol::Imap));
        e.set("COURIERTLS", "/nonexistent/couriertls");
        assert!(!have_starttls(&e, Protocol::Imap));
        e.set("COURIERTLS", "/etc/passwd");
        assert!(!have_starttls(&e, Protocol::Imap) || nix::unistd::geteuid().is_root());
    }

    #[test]
    fn optional_capabilities_follow_courier_order() {
        let e = Environ::from_pairs(&[
            ("IMAP_CAPABILITY", "IMAP4rev1"),
            ("SMAP_CAPABILITY", "SMAP1"),
            ("IMAP_KEYWORDS", "1"),
            ("IMAP_ID_FIELDS", "0"),
            ("OUTBOX", ".Outbox"),
            ("IMAP_MOVE_EXPUNGE_TO_TRASH", "1"),
            ("IMAP_TLS", "1"),
            ("TLS_EXTERNAL", "emailaddress"),
            ("TLS_SUBJECT_EMAILADDRESS", "alice@example.com"),
        ]);
        assert_eq!(
            s(imap_capability(&e)),
            "IMAP4rev1 SMAP1 KEYWORDS ID AUTH=EXTERNAL XCOURIEROUTBOX=INBOX.Outbox XMAGICTRASH ENABLE UTF8=ACCEPT"
        );
    }

    #[test]
    fn capa_lists_sasl_and_stls_only_when_configured() {
        let e = Environ::default();
        assert_eq!(
            s(pop3_capa(&e)),
            "+OK Here's what I can do:\r\nTOP\r\nUSER\r\nLOGIN-DELAY 10\r\nPIPELINING\r\nUIDL\r\nUTF8 USER\r\nIMPLEMENTATION Courier Mail Server\r\n.\r\n"
        );
        let e = Environ::from_pairs(&[
            ("POP3AUTH", "LOGIN PLAIN"),
            ("POP3_STARTTLS", "YES"),
            ("COURIERTLS", "/bin/sh"),
        ]);
        assert!(
            s(pop3_capa(&e))
                .starts_with("+OK Here's what I can do:\r\nSASL LOGIN PLAIN\r\nSTLS\r\nTOP\r\n")
        );
    }
}
