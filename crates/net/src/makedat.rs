//! `makedat`: the text source of an access file (or any Courier `.dat` map) to the
//! compiled database (programs.md "makedat / makeimapaccess", formats.md §14).
//!
//! Three steps, as Courier's `makedat` script pipes them:
//! 1. [`read_source`]: the source file, or every regular file of a source directory
//!    (symbolic links followed; names ending in `~` or containing `.dpkg-` skipped;
//!    sorted by name here, where Courier takes directory order), concatenated, then a
//!    `.` line.
//! 2. with `-cidr`, [`expand_cidr`]: a line whose key is `a.b.c.d/nn`, an IPv6
//!    `x:y::/nn`, or a range `first-last`, followed by blanks and a value, becomes one
//!    line per octet-aligned (IPv4) or group-aligned (IPv6) prefix covering it, as Perl's
//!    Net::CIDR `cidr2octets` writes them (`10.0.0.0/23` -> `10.0.0` and `10.0.1`; IPv6
//!    gets the leading `:`). Courier needs Perl's Net::CIDR for this and silently skips
//!    it without; we do it ourselves.
//! 3. [`parse_entries`]: `makedatprog`'s reading: lines up to the `.` line; empty lines and
//!    `#` lines skipped; the key ends at the first TAB; no TAB or an empty value stores
//!    `1`; a repeated key is an error; input ending before the `.` line is an error (a
//!    source file without a final newline glues the `.` to its last line, which Courier
//!    also refuses, but silently).
//!
//! The database is this project's checksummed format (`courier_userdb::dat`), not
//! GDBM: written to the temporary name, synced, renamed over the database.

use crate::NetError;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Refuse to expand one source line into more entries than this (a `/0` would be 2^128).
pub const MAX_EXPANSION: u128 = 65536;

/// Reads the source: a file, or the regular files of a directory; then appends `.\n`.
pub fn read_source(src: &Path) -> Result<Vec<u8>, NetError> {
    let io = |path: &Path, source| NetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(src).map_err(|e| io(src, e))?;
    let mut text = Vec::new();
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(src).map_err(|e| io(src, e))? {
            let entry = entry.map_err(|e| io(src, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with('~') || name.contains(".dpkg-") {
                continue;
            }
            let path = entry.path();
            // find -L -type f: follow links, keep regular files only.
            if std::fs::metadata(&path)
                .map(|m| m.is_file())
                .unwrap_or(false)
            {
                files.push(path);
            }
        }
        files.sort();
        for f in files {
            text.extend(std::fs::read(&f).map_err(|e| io(&f, e))?);
        }
    } else {
        text = std::fs::read(src).map_err(|e| io(src, e))?;
    }
    text.extend_from_slice(b".\n");
    Ok(text)
}

/// One address range as `(first, last)`, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    V4(u32, u32),
    V6(u128, u128),
}

fn parse_range(net: &str) -> Option<Range> {
    if let Some((addr, bits)) = net.split_once('/') {
        let bits: u32 = bits.parse().ok()?;
        if let Ok(a) = addr.parse::<Ipv4Addr>() {
            if bits > 32 {
                return None;
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            let first = u32::from(a) & mask;
            return Some(Range::V4(first, first | !mask));
        }
        let a = addr.parse::<Ipv6Addr>().ok()?;
        if bits > 128 {
            return None;
        }
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        let first = u128::from(a) & mask;
        return Some(Range::V6(first, first | !mask));
    }
    let (a, b) = net.split_once('-')?;
    if let (Ok(a), Ok(b)) = (a.parse::<Ipv4Addr>(), b.parse::<Ipv4Addr>()) {
        let (a, b) = (u32::from(a), u32::from(b));
        return (a <= b).then_some(Range::V4(a, b));
    }
    let (a, b) = (a.parse::<Ipv6Addr>().ok()?, b.parse::<Ipv6Addr>().ok()?);
    let (a, b) = (u128::from(a), u128::from(b));
    (a <= b).then_some(Range::V6(a, b))
}

/// The keys covering `[first, last]` in an address space of `width` bits, cut into the
/// largest aligned blocks, each block's prefix rounded up to a multiple of `unit` bits
/// (at least one unit), and written with `fmt(key value, number of units)`.
fn cover(
    first: u128,
    last: u128,
    width: u32,
    unit: u32,
    fmt: &dyn Fn(u128, u32) -> String,
) -> Option<Vec<String>> {
    // The last address of the block of 2^k addresses starting at the aligned `at`.
    let block_end = |at: u128, k: u32| {
        if k >= 128 {
            u128::MAX
        } else {
            at + ((1u128 << k) - 1)
        }
    };
    let mut out = Vec::new();
    let mut at = first;
    loop {
        let mut k = if at == 0 {
            width
        } else {
            at.trailing_zeros().min(width)
        };
        while k > 0 && block_end(at, k) > last {
            k -= 1;
        }
        let prefix_bits = width - k;
        let units = prefix_bits.div_ceil(unit).max(1);
        let key_bits = units * unit;
        let count = 1u128 << (key_bits - prefix_bits);
        if out.len() as u128 + count > MAX_EXPANSION {
            return None;
        }
        let base = at >> (width - key_bits);
        for i in 0..count {
            out.push(fmt(base + i, units));
        }
        let end = block_end(at, k);
        if end >= last {
            return Some(out);
        }
        at = end + 1;
    }
}

/// The keys for one range, as Net::CIDR's `cidr2octets` (plus makedat's `:` for IPv6).
fn range_keys(range: Range) -> Option<Vec<String>> {
    match range {
        Range::V4(a, b) => cover(u128::from(a), u128::from(b), 32, 8, &|v, units| {
            (0..units)
                .map(|i| ((v >> (8 * (units - 1 - i))) & 0xff).to_string())
                .collect::<Vec<_>>()
                .join(".")
        }),
        Range::V6(a, b) => cover(a, b, 128, 16, &|v, units| {
            (0..units)
                .map(|i| format!(":{:04x}", (v >> (16 * (units - 1 - i))) & 0xffff))
                .collect()
        }),
    }
}

/// Expands CIDR and range keys line by line (see the module docs); other lines pass
/// through unchanged. `src` names the source in errors.
pub fn expand_cidr(src: &Path, text: &[u8]) -> Result<Vec<u8>, NetError> {
    let mut out = Vec::with_capacity(text.len());
    for (n, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let key_len = body
            .iter()
            .position(|&b| {
                !(b.is_ascii_hexdigit() || b == b':' || b == b'.' || b == b'-' || b == b'/')
            })
            .unwrap_or(body.len());
        let key = &body[..key_len];
        let rest = &body[key_len..];
        let blanks = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        // Net::CIDR's pattern: address chars, one '-' or '/', address chars, blanks, value.
        let shaped = key.iter().filter(|&&b| b == b'-' || b == b'/').count() == 1
            && !key.starts_with(b"-")
            && !key.starts_with(b"/")
            && !key.ends_with(b"-")
            && !key.ends_with(b"/")
            && blanks > 0;
        if !shaped {
            out.extend_from_slice(line);
            continue;
        }
        let net = String::from_utf8_lossy(key);
        let bad = || NetError::BadRange {
            path: src.to_path_buf(),
            line: n + 1,
            range: net.to_string(),
        };
        let range = parse_range(&net).ok_or_else(bad)?;
        let value = &rest[blanks..];
        for k in range_keys(range).ok_or_else(bad)? {
            out.extend_from_slice(k.as_bytes());
            out.push(b'\t');
            out.extend_from_slice(value);
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// One database record: key and value bytes.
pub type Entry = (Vec<u8>, Vec<u8>);

/// makedatprog's reading of the (expanded) text: `(key, value)` in source order.
pub fn parse_entries(text: &[u8]) -> Result<Vec<Entry>, NetError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut rest = text;
    loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(NetError::UnexpectedEnd);
        };
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        if line == b"." {
            break;
        }
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let (key, value) = match line.iter().position(|&b| b == b'\t') {
            Some(t) => (&line[..t], &line[t + 1..]),
            None => (line, &b""[..]),
        };
        if key.is_empty() {
            continue;
        }
        let value = if value.is_empty() { &b"1"[..] } else { value };
        if !seen.insert(key.to_vec()) {
            return Err(NetError::Duplicate {
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
        entries.push((key.to_vec(), value.to_vec()));
    }
    Ok(entries)
}

/// The whole of `makedat -src=SRC -file=DAT -tmp=TMP [-cidr]`: returns the number of
/// entries written. On error the temporary file is removed and DAT is left as it was.
pub fn build(src: &Path, dat: &Path, tmp: &Path, cidr: bool) -> Result<usize, NetError> {
    let mut text = read_source(src)?;
    if cidr {
        text = expand_cidr(src, &text)?;
    }
    let entries = parse_entries(&text)?;
    let refs: Vec<(&[u8], &[u8])> = entries
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let result = courier_userdb::dat::write_file(tmp, 0o644, &refs)
        .map_err(|e| NetError::from_dat(tmp, e))
        .and_then(|()| {
            std::fs::rename(tmp, dat).map_err(|source| NetError::Io {
                path: dat.to_path_buf(),
                source,
            })
        });
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result.map(|()| entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> String {
        String::from_utf8(expand_cidr(Path::new("src"), text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn cidr_and_ranges_expand_like_net_cidr() {
        let cases: &[(&str, &str)] = &[
            ("10.0.0.0/23\tdeny\n", "10.0.0\tdeny\n10.0.1\tdeny\n"),
            (
                "10.0.0.0/14 allow,X=1\n",
                "10.0\tallow,X=1\n10.1\tallow,X=1\n10.2\tallow,X=1\n10.3\tallow,X=1\n",
            ),
            ("192.168.0.0/24\tdeny\n", "192.168.0\tdeny\n"),
            ("192.168.0.7/32\tdeny\n", "192.168.0.7\tdeny\n"),
            ("10.0.0.0/8\tdeny\n", "10\tdeny\n"),
            (
                "10.0.0.5-10.0.0.9\tdeny\n",
                "10.0.0.5\tdeny\n10.0.0.6\tdeny\n10.0.0.7\tdeny\n10.0.0.8\tdeny\n10.0.0.9\tdeny\n",
            ),
            (
                "10.0.0.0-10.0.1.255\tdeny\n",
                "10.0.0\tdeny\n10.0.1\tdeny\n",
            ),
            (
                "::dead:beef:0:0/110\tdeny\n",
                ":0000:0000:0000:0000:dead:beef:0000\tdeny\n\
                 :0000:0000:0000:0000:dead:beef:0001\tdeny\n\
                 :0000:0000:0000:0000:dead:beef:0002\tdeny\n\
                 :0000:0000:0000:0000:dead:beef:0003\tdeny\n",
            ),
            ("2002:c0a8::/32\tallow\n", ":2002:c0a8\tallow\n"),
            (
                "1.2.3.4\tdeny\n# c\n*\tallow\n.\n",
                "1.2.3.4\tdeny\n# c\n*\tallow\n.\n",
            ),
            // No blank after the key: not Net::CIDR's pattern, passed through.
            ("1.2.3.0/24\n", "1.2.3.0/24\n"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input), *want, "{input}");
        }
    }

    #[test]
    fn whole_space_ranges_are_refused_not_expanded() {
        for bad in [
            "1.2.3.4/33\tdeny\n",
            "10.0.0.9-10.0.0.1\tdeny\n",
            "1.2.3/24\tdeny\n",
        ] {
            let e = expand_cidr(Path::new("/etc/courier/imapaccess"), bad.as_bytes()).unwrap_err();
            assert!(
                matches!(e, NetError::BadRange { line: 1, .. }),
                "{bad}: {e}"
            );
        }
        assert_eq!(expand("0.0.0.0/0\tdeny\n").lines().count(), 256);
        assert_eq!(expand("::/0\tdeny\n").lines().count(), 65536);
        assert!(expand_cidr(Path::new("s"), b"::1-ffff::\tdeny\n").is_err());
    }

    #[test]
    fn makedatprog_reading() {
        let text = b"# comment\n\n1.2.3.4\tdeny\n5.6.7\n8.9\t\n*\tallow,A=1\tB\n.\nignored\tx\n";
        let got = parse_entries(text).unwrap();
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|(k, v)| {
                (
                    std::str::from_utf8(k).unwrap(),
                    std::str::from_utf8(v).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("1.2.3.4", "deny"),
                ("5.6.7", "1"),
                ("8.9", "1"),
                ("*", "allow,A=1\tB")
            ]
        );
        assert!(matches!(
            parse_entries(b"a\tdeny\na\tallow\n.\n"),
            Err(NetError::Duplicate { key }) if key == "a"
        ));
        assert!(matches!(
            parse_entries(b"a\tdeny.\n"),
            Err(NetError::UnexpectedEnd)
        ));
    }
}
