//! Login names: what is refused, mapped and appended before a name reaches
//! authdaemond, and how a name is shown in a log line.

/// Whether `b` holds a byte below 0x20 (courier-authlib's `badstr()`): such user
/// ids and passwords are refused without asking authdaemond, so nothing can break
/// the line framing of the `AUTH` request.
pub fn has_control(b: &[u8]) -> bool {
    b.iter().any(|&c| c < 0x20)
}

/// courier-authlib's `strdupdefdomain()`: appends `DEFDOMAIN` unless the name
/// already holds one of the `DOMAINSEP` characters (or, without `DOMAINSEP`,
/// `DEFDOMAIN`'s first character).
pub fn with_default_domain(
    user: &[u8],
    defdomain: Option<&[u8]>,
    domainsep: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = user.to_vec();
    let Some(dom) = defdomain.filter(|d| !d.is_empty()) else {
        return out;
    };
    let has_sep = match domainsep {
        Some(seps) => user.iter().any(|c| seps.contains(c)),
        None => user.contains(&dom[0]),
    };
    if !has_sep {
        out.extend_from_slice(dom);
    }
    out
}

/// Separators mapped to `@` when `LOGIN_DOMAIN_SEPARATORS` is unset.
pub const DEFAULT_DOMAIN_SEPARATORS: &[u8] = b"%:";

/// The login-name mapping of the maildir-creation patch (seed 000): users of
/// virtual domains may type `user%domain` or `user:domain` for `user@domain`.
/// With `separators` (from `LOGIN_DOMAIN_SEPARATORS`, e.g. `%:`), the first
/// occurrence of any of them becomes `@`, unless the name already has an `@`.
/// Empty `separators`: no mapping (stock Courier).
pub fn map_domain_separator(user: &[u8], separators: &[u8]) -> Vec<u8> {
    let mut out = user.to_vec();
    if separators.is_empty() || user.contains(&b'@') {
        return out;
    }
    if let Some(i) = out
        .iter()
        .position(|c| separators.contains(c) && *c != b'@')
    {
        out[i] = b'@';
    }
    out
}

/// `courier_safe_printf()`: every byte that is not printable ASCII becomes `.`,
/// and the message is cut at 1023 bytes (Courier's 1 KiB buffer).
pub fn safe_text(b: &[u8]) -> String {
    b.iter()
        .take(1023)
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_detected() {
        assert!(has_control(b"al\x01ice"));
        assert!(has_control(b"a\tb"));
        assert!(has_control(b"a\0b"));
        assert!(!has_control(b"alice@example.com \x7f\xff"));
    }

    type Case = (
        &'static [u8],
        Option<&'static [u8]>,
        Option<&'static [u8]>,
        &'static [u8],
    );
    const DEFDOMAIN_CASES: &[Case] = &[
        (b"alice", None, None, b"alice"),
        (b"alice", Some(b""), None, b"alice"),
        (b"alice", Some(b"@example.com"), None, b"alice@example.com"),
        (b"alice@x", Some(b"@example.com"), None, b"alice@x"),
        (b"alice%x", Some(b"@example.com"), Some(b"%@"), b"alice%x"),
        (
            b"alice",
            Some(b"@example.com"),
            Some(b"%"),
            b"alice@example.com",
        ),
        (
            b"alice@x",
            Some(b"@example.com"),
            Some(b"%"),
            b"alice@x@example.com",
        ),
    ];

    #[test]
    fn default_domain_follows_strdupdefdomain() {
        for (user, dom, sep, want) in DEFDOMAIN_CASES {
            assert_eq!(with_default_domain(user, *dom, *sep), *want);
        }
    }

    #[test]
    fn percent_and_colon_map_to_at_when_configured() {
        assert_eq!(
            map_domain_separator(b"user%example.com", b"%:"),
            b"user@example.com"
        );
        assert_eq!(
            map_domain_separator(b"user:example.com", b"%:"),
            b"user@example.com"
        );
        assert_eq!(map_domain_separator(b"a%b%c", b"%"), b"a@b%c");
        assert_eq!(map_domain_separator(b"a%b@c", b"%"), b"a%b@c");
        assert_eq!(
            map_domain_separator(b"user%example.com", b""),
            b"user%example.com"
        );
        assert_eq!(map_domain_separator(b"user:x", b"%"), b"user:x");
    }

    #[test]
    fn log_text_replaces_unprintables_with_dots() {
        assert_eq!(safe_text(b"al\x01ice"), "al.ice");
        assert_eq!(safe_text("é".as_bytes()), "..");
        assert_eq!(safe_text(&[b'x'; 5000]).len(), 1023);
    }
}
