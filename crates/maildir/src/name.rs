//! Message file names: Courier's unique names, the `:2,` info part and its flags,
//! the `,S=` size, and the order in which Courier hands out UIDs.
//!
//! Format (formats.md §3.1):
//! `tmp/<SEC>.M<USEC>P<PID>[_<UNIQ>].<HOST>[,S=<SIZE>]`,
//! `new/<SEC>.M<USEC>P<PID>V<DEV>I<INO>[_<UNIQ>].<HOST>[,S=<SIZE>]`,
//! `cur/<same>:2,<FLAGS>`.

use std::cmp::Ordering;
use std::fmt;

/// The part of a message file name before the first `:` (Courier's "basename"): the
/// key under which `courierimapuiddb`, `courierimapkeywords/` and
/// `courierpop3dsizelist` know a message.
pub fn basename(file_name: &str) -> &str {
    match file_name.find(':') {
        Some(i) => &file_name[..i],
        None => file_name,
    }
}

/// The size recorded in a name as `,S=<n>` (the last one before the first `:`), if any
/// (formats.md §3.3). Without it the caller must `stat()` the file.
pub fn size_from_name(file_name: &str) -> Option<u64> {
    let base = basename(file_name);
    let at = base.rfind(",S=")?;
    let digits: &str = &base[at + 3..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    digits[..end].parse().ok()
}

/// Maildir flags as stored after `:2,`. The five letters Courier understands are kept
/// as bits; any other letters (Dovecot's keyword letters, for instance) are preserved
/// verbatim so that rewriting a name never loses information.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    bits: u8,
    other: Vec<u8>,
}

/// One of the five flags Courier maps to IMAP system flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `D`, `\Draft`
    Draft,
    /// `F`, `\Flagged`
    Flagged,
    /// `R`, `\Answered`
    Replied,
    /// `S`, `\Seen`
    Seen,
    /// `T`, `\Deleted`
    Trashed,
}

impl Flag {
    /// Every flag, in the order Courier writes them.
    pub const ALL: [Flag; 5] = [
        Flag::Draft,
        Flag::Flagged,
        Flag::Replied,
        Flag::Seen,
        Flag::Trashed,
    ];

    /// The maildir letter.
    pub fn letter(self) -> u8 {
        match self {
            Flag::Draft => b'D',
            Flag::Flagged => b'F',
            Flag::Replied => b'R',
            Flag::Seen => b'S',
            Flag::Trashed => b'T',
        }
    }

    /// The flag for a letter, if Courier knows it.
    pub fn from_letter(letter: u8) -> Option<Flag> {
        Some(match letter {
            b'D' => Flag::Draft,
            b'F' => Flag::Flagged,
            b'R' => Flag::Replied,
            b'S' => Flag::Seen,
            b'T' => Flag::Trashed,
            _ => return None,
        })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl Flags {
    /// No flags.
    pub fn new() -> Self {
        Flags::default()
    }

    /// Parses the letters after `:2,`. Duplicates are folded; unknown letters kept.
    pub fn parse(letters: &str) -> Self {
        let mut flags = Flags::default();
        for &b in letters.as_bytes() {
            match Flag::from_letter(b) {
                Some(f) => flags.bits |= f.bit(),
                None => {
                    if b.is_ascii_graphic() && b != b',' && !flags.other.contains(&b) {
                        flags.other.push(b);
                    }
                }
            }
        }
        flags.other.sort_unstable();
        flags
    }

    /// The flags of a file name: empty when it has no `:2,` info.
    pub fn from_file_name(file_name: &str) -> Self {
        match file_name.find(":2,") {
            Some(i) => Flags::parse(&file_name[i + 3..]),
            None => Flags::default(),
        }
    }

    /// Whether `flag` is set.
    pub fn contains(&self, flag: Flag) -> bool {
        self.bits & flag.bit() != 0
    }

    /// Sets or clears `flag`.
    pub fn set(&mut self, flag: Flag, on: bool) {
        if on {
            self.bits |= flag.bit();
        } else {
            self.bits &= !flag.bit();
        }
    }

    /// Letters that are not one of Courier's five, in ASCII order.
    pub fn other_letters(&self) -> &[u8] {
        &self.other
    }

    /// The info letters, all in ASCII order (`D F R S T` plus any preserved letters).
    pub fn letters(&self) -> String {
        let mut all: Vec<u8> = Flag::ALL
            .iter()
            .filter(|f| self.contains(**f))
            .map(|f| f.letter())
            .chain(self.other.iter().copied())
            .collect();
        all.sort_unstable();
        // Only ASCII graphic bytes are ever stored.
        String::from_utf8(all).unwrap_or_default()
    }

    /// `basename:2,LETTERS`.
    pub fn file_name(&self, basename: &str) -> String {
        format!("{basename}:2,{}", self.letters())
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.letters())
    }
}

/// The file name a message should have in `cur/` when it is moved there from `new/`
/// (formats.md §3.5): no `:` → append `:2,`; a `:` not followed by `2,` → cut and
/// append `:2,`; `:2,...` kept.
pub fn cur_name_for_new(file_name: &str) -> String {
    match file_name.find(':') {
        None => format!("{file_name}:2,"),
        Some(i) if file_name[i..].starts_with(":2,") => file_name.to_string(),
        Some(i) => format!("{}:2,", &file_name[..i]),
    }
}

/// Courier's message order (formats.md §3.7): by the leading decimal number (the
/// delivery second), then byte-wise up to the first `:`.
pub fn compare(a: &str, b: &str) -> Ordering {
    fn leading(s: &str) -> u64 {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().unwrap_or(0)
    }
    let (ba, bb) = (basename(a), basename(b));
    leading(ba)
        .cmp(&leading(bb))
        .then_with(|| ba.as_bytes().cmp(bb.as_bytes()))
}

/// The host part of a unique name: `/` and `:` would break the name, so they are
/// written as `\057` and `\072` (the maildir(5) convention). Ordinary host names are
/// unchanged, which is all Courier itself ever writes.
pub fn sanitize_host(host: &str) -> String {
    host.replace('/', "\\057").replace(':', "\\072")
}

/// This host's name, sanitised, looked up once per process.
fn local_host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| sanitize_host(&courier_common::hostname()))
}

/// The parts of a unique name that are known before the file exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UniqueName {
    /// Seconds since the epoch.
    pub sec: u64,
    /// Microseconds, not zero-padded.
    pub usec: u32,
    /// The writer's pid.
    pub pid: u32,
    /// Optional `_UNIQ` part.
    pub uniq: Option<String>,
    /// Host name (already sanitised).
    pub host: String,
    /// `,S=` size when known.
    pub size: Option<u64>,
}

impl UniqueName {
    /// A name for now, this process and this host.
    pub fn now(uniq: Option<&str>, size: Option<u64>) -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UniqueName {
            sec: t.as_secs(),
            usec: t.subsec_micros(),
            pid: std::process::id(),
            uniq: uniq.map(str::to_string),
            host: local_host().to_string(),
            size,
        }
    }

    /// The `tmp/` name: `SEC.MusecPpid[_UNIQ].HOST[,S=size]`.
    pub fn tmp_name(&self) -> String {
        let mut s = format!("{}.M{}P{}", self.sec, self.usec, self.pid);
        if let Some(u) = &self.uniq {
            s.push('_');
            s.push_str(u);
        }
        s.push('.');
        s.push_str(&self.host);
        if let Some(size) = self.size {
            s.push_str(&format!(",S={size}"));
        }
        s
    }

    /// The final name once the tmp file's device and inode are known:
    /// `SEC.MusecPpidVDEVIINO[_UNIQ].HOST[,S=size]`, DEV and INO in upper-case hex
    /// zero-padded to 16 digits.
    pub fn final_name(&self, dev: u64, ino: u64, size: Option<u64>) -> String {
        let mut s = format!(
            "{}.M{}P{}V{:016X}I{:016X}",
            self.sec, self.usec, self.pid, dev, ino
        );
        if let Some(u) = &self.uniq {
            s.push('_');
            s.push_str(u);
        }
        s.push('.');
        s.push_str(&self.host);
        // Courier writes no `,S=` for an empty message.
        if let Some(size) = size.or(self.size).filter(|&n| n > 0) {
            s.push_str(&format!(",S={size}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_and_size_follow_courier_rules() {
        let n = "1795297247.M440598P3285V000000000000FE00I0000000000994001.mx1,S=54:2,S";
        assert_eq!(
            basename(n),
            "1795297247.M440598P3285V000000000000FE00I0000000000994001.mx1,S=54"
        );
        assert_eq!(size_from_name(n), Some(54));
        assert_eq!(size_from_name("1.M1P1.host"), None);
        assert_eq!(size_from_name("1.M1P1.host,S=12,W=14:2,"), Some(12));
        assert_eq!(size_from_name("1.M1P1.host,S=:2,S"), None);
    }

    #[test]
    fn flags_render_in_ascii_order_and_keep_unknown_letters() {
        let f = Flags::parse("TSaRDF");
        assert_eq!(f.letters(), "DFRSTa");
        assert!(f.contains(Flag::Trashed));
        let mut g = Flags::from_file_name("x:2,Sb");
        g.set(Flag::Seen, false);
        g.set(Flag::Draft, true);
        assert_eq!(g.file_name("x"), "x:2,Db");
        assert_eq!(Flags::from_file_name("x").letters(), "");
        assert_eq!(Flags::parse("SS").letters(), "S");
    }

    #[test]
    fn new_to_cur_names() {
        assert_eq!(cur_name_for_new("a.b.c"), "a.b.c:2,");
        assert_eq!(cur_name_for_new("a.b.c:2,S"), "a.b.c:2,S");
        assert_eq!(cur_name_for_new("a.b.c:1,xyz"), "a.b.c:2,");
    }

    #[test]
    fn ordering_is_numeric_then_bytewise() {
        let mut v = vec!["10.M1P1.h", "9.M5P1.h:2,S", "9.M10P1.h", "100.A"];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(v, vec!["9.M10P1.h", "9.M5P1.h:2,S", "10.M1P1.h", "100.A"]);
    }

    #[test]
    fn unique_names_have_courier_shape() {
        let n = UniqueName {
            sec: 1795297020,
            usec: 466342,
            pid: 18600,
            uniq: None,
            host: "mx1".into(),
            size: None,
        };
        assert_eq!(n.tmp_name(), "1795297020.M466342P18600.mx1");
        assert_eq!(
            n.final_name(0xFE00, 0x98E789, Some(39)),
            "1795297020.M466342P18600V000000000000FE00I000000000098E789.mx1,S=39"
        );
        let w = UniqueName {
            uniq: Some("warn".into()),
            ..n
        };
        assert_eq!(
            w.final_name(0xFE00, 0x98E906, Some(140)),
            "1795297020.M466342P18600V000000000000FE00I000000000098E906_warn.mx1,S=140"
        );
        assert_eq!(sanitize_host("a/b:c"), "a\\057b\\072c");
    }

    proptest::proptest! {
        #[test]
        fn flags_roundtrip(letters in "[A-Za-z]{0,12}") {
            let f = Flags::parse(&letters);
            let again = Flags::parse(&f.letters());
            proptest::prop_assert_eq!(f, again);
        }
    }
}
