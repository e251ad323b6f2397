//! [`Record`]: one account as stored, a name and its ordered `field=value` items.

/// One userdb account: its name and its fields in stored order.
///
/// Field semantics are courier-authlib's `userdb_get()`: items are separated by `|`; an item
/// `field` without `=` has an empty value; when a field occurs twice the first one counts.
/// Empty items (`a=1||b=2`) are skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    name: String,
    fields: Vec<(String, String)>,
}

impl Record {
    /// A record with no fields.
    pub fn new(name: impl Into<String>) -> Record {
        Record {
            name: name.into(),
            fields: Vec::new(),
        }
    }

    /// A record from a stored value `field=value|field=value|...`.
    pub fn parse(name: impl Into<String>, value: &str) -> Record {
        let mut r = Record::new(name);
        r.extend_from(value);
        r
    }

    /// Appends the items of a stored value (as [`Record::parse`] reads them).
    pub fn extend_from(&mut self, value: &str) {
        for item in value.split('|').filter(|i| !i.is_empty()) {
            let (f, v) = item.split_once('=').unwrap_or((item, ""));
            self.fields.push((f.to_string(), v.to_string()));
        }
    }

    /// Appends one field.
    pub fn push(&mut self, field: impl Into<String>, value: impl Into<String>) {
        self.fields.push((field.into(), value.into()));
    }

    /// The account name (the lookup key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of the first `field`, if present (`Some("")` for a bare `field`).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in stored order (the non-shadow ones first after a lookup).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(f, v)| (f.as_str(), v.as_str()))
    }

    /// True for the entries of the reverse uid map (`<uid>=`), which are not accounts:
    /// Courier's enumeration skips every key containing `=`.
    pub fn is_reverse_map(&self) -> bool {
        self.name.contains('=')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (stored value, field, expected get)
    const CASES: &[(&str, &str, Option<&str>)] = &[
        ("uid=1|gid=2", "uid", Some("1")),
        ("uid=1|gid=2", "gid", Some("2")),
        ("uid=1|gid=2", "home", None),
        ("a=1|a=2", "a", Some("1")),
        ("flag|b=2", "flag", Some("")),
        ("b=|c=3", "b", Some("")),
        ("a=1||b=2", "b", Some("2")),
        ("a=1||b=2", "", None),
        ("x=a=b", "x", Some("a=b")),
        ("uidx=1", "uid", None),
        ("", "uid", None),
        ("1", "1", Some("")),
    ];

    #[test]
    fn get_follows_userdb_get() {
        for (value, field, want) in CASES {
            let r = Record::parse("n", value);
            assert_eq!(r.get(field), *want, "{value:?} / {field:?}");
        }
    }

    #[test]
    fn fields_keep_stored_order_and_reverse_entries_are_flagged() {
        let r = Record::parse("5000=", "alice|_=");
        assert!(r.is_reverse_map());
        assert_eq!(r.fields().collect::<Vec<_>>(), [("alice", ""), ("_", "")]);
        assert!(!Record::new("alice").is_reverse_map());
    }
}
