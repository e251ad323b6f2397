//! Account options: `DEFAULTOPTIONS` merging and lookup (authdaemon-protocol.md §4).

/// Courier's merge: the account's own options, then each `key[=value]` item of
/// `defaults` whose key the account does not already have. `None` when both are
/// empty.
pub fn merge_defaults(account: Option<&str>, defaults: &str) -> Option<String> {
    let mut out = account.unwrap_or("").to_string();
    for item in defaults.split(',').filter(|i| !i.is_empty()) {
        let key = item.split('=').next().unwrap_or(item);
        if lookup(&out, key).is_none() {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(item);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The value of option `key` (first occurrence): `Some("")` for `key` or `key=`.
pub fn lookup<'a>(options: &'a str, key: &str) -> Option<&'a str> {
    options.split(',').find_map(|item| {
        let rest = item.strip_prefix(key)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('=')
        }
    })
}

/// Every value of a repeatable option (`group=a,group=b`).
pub fn lookup_all<'a>(options: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    options
        .split(',')
        .filter_map(move |item| item.strip_prefix(key)?.strip_prefix('='))
}

/// Courier's numeric test of an option: `atoi(value)`, except that a value starting
/// with `t`, `T`, `y` or `Y` counts as 1. An absent option is 0.
pub fn is_set(options: &str, key: &str) -> bool {
    match lookup(options, key) {
        None => false,
        Some(v) => {
            if v.starts_with(['t', 'T', 'y', 'Y']) {
                return true;
            }
            let t = v.trim_start();
            let (neg, d) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            };
            let end = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
            let n: i64 = d[..end].parse().unwrap_or(0);
            (if neg { -n } else { n }) != 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_account_values_first() {
        assert_eq!(
            merge_defaults(
                Some("disablepop3=0,group=staff"),
                "disablewebmail=1,sharedgroup=zz"
            )
            .as_deref(),
            Some("disablepop3=0,group=staff,disablewebmail=1,sharedgroup=zz")
        );
        assert_eq!(
            merge_defaults(Some("disablepop3=0"), "disablepop3=1,x").as_deref(),
            Some("disablepop3=0,x")
        );
        assert_eq!(merge_defaults(None, "a=1").as_deref(), Some("a=1"));
        assert_eq!(merge_defaults(None, ""), None);
        assert_eq!(merge_defaults(Some(""), ""), None);
    }

    #[test]
    fn lookup_and_flags() {
        let o = "disableimap=1,disablepop3=0,group=a,group=b,mailhost=h1,x,y=,t=yes";
        assert_eq!(lookup(o, "mailhost"), Some("h1"));
        assert_eq!(lookup(o, "x"), Some(""));
        assert_eq!(lookup(o, "y"), Some(""));
        assert_eq!(lookup(o, "disable"), None);
        assert!(is_set(o, "disableimap"));
        assert!(!is_set(o, "disablepop3"));
        assert!(is_set(o, "t"));
        assert!(!is_set(o, "absent"));
        assert_eq!(lookup_all(o, "group").collect::<Vec<_>>(), vec!["a", "b"]);
    }
}
