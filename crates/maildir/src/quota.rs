//! Maildir++ quota: the `maildirsize` file (formats.md §4).
//!
//! The file lives in the main maildir: a spec line (`10000000S,1000C`) followed by
//! signed `bytes count` lines, each written as `%12s %12s\n`. Writers only ever
//! append one line with `O_APPEND` (atomic for 26 bytes), or replace the whole file
//! through `tmp/` + `rename()` after a recalculation, so concurrent writers never
//! corrupt it; at worst a racing recalculation is redone.

use crate::delivery::{self, CONTROL_MODE};
use crate::error::{IoContext, MaildirError, Result};
use crate::layout::TRASH;
use crate::name::{self, Flag, Flags};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// File name of the quota file in the main maildir.
pub const MAILDIRSIZE: &str = "maildirsize";
/// A file this long (or longer) forces a recalculation (Courier reads 5120 bytes).
pub const RECALC_SIZE: u64 = 5120;
/// An over-quota answer from a single-line file younger than this is trusted.
pub const TRUST_FRESH: Duration = Duration::from_secs(15 * 60);
/// How often a recalculation that raced with a delivery is retried.
const RECALC_ATTEMPTS: usize = 5;

/// The limits of a quota; 0 means "no limit" for that component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaSpec {
    /// Maximum total bytes (`S`).
    pub bytes: u64,
    /// Maximum message count (`C`).
    pub count: u64,
}

impl QuotaSpec {
    /// Parses `NNNS`, `NNNC` or both, comma separated, the way Courier does: digit
    /// runs, each followed by `S` or `C`; other characters between items are skipped.
    pub fn parse(spec: &str) -> Result<QuotaSpec> {
        let bad = || MaildirError::BadQuotaSpec {
            spec: spec.to_string(),
        };
        let bytes = spec.as_bytes();
        let mut q = QuotaSpec::default();
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let n: u64 = spec[start..i].parse().map_err(|_| bad())?;
            match bytes.get(i) {
                Some(b'S') => q.bytes = n,
                Some(b'C') => q.count = n,
                _ => return Err(bad()),
            }
            i += 1;
        }
        Ok(q)
    }

    /// Whether neither component limits anything.
    pub fn is_unlimited(&self) -> bool {
        self.bytes == 0 && self.count == 0
    }

    /// The canonical text Courier writes after a rebuild: `<S>S` then `,<C>C`,
    /// omitting a zero component.
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        if self.bytes > 0 {
            parts.push(format!("{}S", self.bytes));
        }
        if self.count > 0 {
            parts.push(format!("{}C", self.count));
        }
        parts.join(",")
    }

    /// Whether `usage` plus an addition of (`bytes`, `count`) exceeds the quota
    /// (strictly greater, per component).
    pub fn exceeded_by(&self, usage: Usage, bytes: i64, count: i64) -> bool {
        (self.bytes > 0 && usage.bytes + bytes > self.bytes as i64)
            || (self.count > 0 && usage.count + count > self.count as i64)
    }

    /// Percentage used, as Courier computes it for quota warnings (formats.md §4.2.6):
    /// per non-zero limit `used*100/limit`, both divided by 1024 first when the limit
    /// exceeds 20,000,000; the larger one; capped at 100 when over quota.
    pub fn percent_used(&self, usage: Usage) -> u32 {
        fn pct(used: i64, limit: u64) -> u64 {
            let (mut used, mut limit) = (used.max(0) as u64, limit);
            if limit > 20_000_000 {
                used /= 1024;
                limit /= 1024;
            }
            used.saturating_mul(100).checked_div(limit).unwrap_or(0)
        }
        let mut p = 0;
        if self.bytes > 0 {
            p = p.max(pct(usage.bytes, self.bytes));
        }
        if self.count > 0 {
            p = p.max(pct(usage.count, self.count));
        }
        p.min(100) as u32
    }
}

/// Bytes and messages counted against a quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Total bytes.
    pub bytes: i64,
    /// Number of messages.
    pub count: i64,
}

/// C `strtoll(s, &end, 10)`: leading blanks, optional sign, digits. Returns the
/// value (0 when there are no digits), the rest, and whether digits were found.
fn strtoll(s: &str) -> (i64, &str, bool) {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-') | Some(b'+')));
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return (0, s, false);
    }
    let v = t[..i]
        .parse::<i64>()
        .unwrap_or(if b[0] == b'-' { i64::MIN } else { i64::MAX });
    (v, &t[i..], true)
}

/// One data line exactly as Courier writes it: `%12s %12s\n`.
pub fn format_line(bytes: i64, count: i64) -> String {
    format!("{bytes:>12} {count:>12}\n")
}

/// An open `maildirsize` of a main maildir.
#[derive(Debug)]
pub struct QuotaFile {
    maildir: PathBuf,
    path: PathBuf,
    file: File,
    spec: QuotaSpec,
    usage: Usage,
    data_lines: usize,
    unreadable_lines: usize,
    bad_spec: Option<String>,
    needs_recalc: bool,
    modified: SystemTime,
}

impl QuotaFile {
    /// Opens the quota of main maildir `maildir`. `Ok(None)` when there is no
    /// `maildirsize` (no quota). An unparseable spec line limits nothing and is
    /// reported by [`QuotaFile::bad_spec`].
    pub fn open(maildir: &Path) -> Result<Option<QuotaFile>> {
        let path = maildir.join(MAILDIRSIZE);
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(MaildirError::io(&path, e)),
        };
        let meta = file.metadata().at(&path)?;
        let mut buf = Vec::with_capacity(RECALC_SIZE as usize);
        (&file).take(RECALC_SIZE).read_to_end(&mut buf).at(&path)?;
        let too_long = buf.len() as u64 >= RECALC_SIZE;
        let text = String::from_utf8_lossy(&buf);
        let mut lines = text.split('\n');
        let spec_line = lines.next().unwrap_or("");
        // Courier: an unparseable spec is warned about and enforces nothing, but the
        // file is still kept up to date.
        let (spec, bad_spec) = match QuotaSpec::parse(spec_line) {
            Ok(spec) => (spec, None),
            Err(_) => (QuotaSpec::default(), Some(spec_line.to_string())),
        };
        let mut usage = Usage::default();
        let mut data_lines = 0;
        let mut unreadable_lines = 0;
        if !too_long {
            for line in lines {
                if line.is_empty() {
                    continue;
                }
                // Courier reads each line with strtoll semantics: whatever is not a
                // number counts as 0. Such lines are reported, not "repaired".
                let (b, rest, ok_b) = strtoll(line);
                let (c, _, ok_c) = strtoll(rest);
                if !(ok_b && ok_c) {
                    unreadable_lines += 1;
                }
                usage.bytes = usage.bytes.saturating_add(b);
                usage.count = usage.count.saturating_add(c);
                data_lines += 1;
            }
        }
        let needs_recalc = too_long || usage.bytes < 0 || usage.count < 0;
        Ok(Some(QuotaFile {
            maildir: maildir.to_path_buf(),
            path,
            file,
            spec,
            usage,
            data_lines,
            unreadable_lines,
            bad_spec,
            needs_recalc,
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        }))
    }

    /// The limits.
    pub fn spec(&self) -> QuotaSpec {
        self.spec
    }

    /// Current usage as last read or recalculated.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The `maildirsize` path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The spec line when it could not be parsed (the quota then limits nothing).
    pub fn bad_spec(&self) -> Option<&str> {
        self.bad_spec.as_deref()
    }

    /// Data lines that were not two numbers (counted as 0, as Courier does); a
    /// caller may warn about them.
    pub fn unreadable_lines(&self) -> usize {
        self.unreadable_lines
    }

    /// Whether the file asked for a recalculation (too long, negative, garbage).
    pub fn needs_recalc(&self) -> bool {
        self.needs_recalc
    }

    /// Decides whether (`bytes`, `count`) may be added, recalculating when Courier
    /// would (formats.md §4.2): at once when the file demands it, and when the
    /// answer is "over" unless the file has one data line and is fresh.
    /// `Ok(true)` means the addition fits.
    pub fn check(&mut self, bytes: i64, count: i64) -> Result<bool> {
        if self.needs_recalc {
            self.recalculate()?;
        }
        if !self.spec.exceeded_by(self.usage, bytes, count) {
            return Ok(true);
        }
        let fresh = SystemTime::now()
            .duration_since(self.modified)
            .map(|age| age < TRUST_FRESH)
            .unwrap_or(true);
        if self.data_lines == 1 && fresh {
            return Ok(false);
        }
        self.recalculate()?;
        Ok(!self.spec.exceeded_by(self.usage, bytes, count))
    }

    /// Appends one `bytes count` line (negative for removals). Never fails because
    /// of the quota: callers check first.
    pub fn add(&mut self, bytes: i64, count: i64) -> Result<()> {
        if bytes == 0 && count == 0 {
            return Ok(());
        }
        self.file
            .write_all(format_line(bytes, count).as_bytes())
            .at(&self.path)?;
        self.usage.bytes += bytes;
        self.usage.count += count;
        self.data_lines += 1;
        Ok(())
    }

    /// Rebuilds the file from the messages on disk (formats.md §4.3) and reopens it.
    pub fn recalculate(&mut self) -> Result<()> {
        let fresh = rebuild(&self.maildir, self.spec)?;
        *self = fresh;
        Ok(())
    }
}

/// Counts the messages of `maildir` (main maildir and every `.folder` except Trash
/// and symlinks; `T`-flagged messages skipped) and the newest mtime of the `new`
/// and `cur` directories scanned.
pub fn count_usage(maildir: &Path) -> Result<(Usage, SystemTime)> {
    let mut usage = Usage::default();
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut dirs = vec![maildir.to_path_buf()];
    for entry in fs::read_dir(maildir).at(maildir)? {
        let entry = entry.at(maildir)?;
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if name.len() < 2
            || name[0] != b'.'
            || name == b".."
            || name == format!(".{TRASH}").as_bytes()
        {
            continue;
        }
        match entry.file_type() {
            Ok(ft) if ft.is_dir() => dirs.push(entry.path()),
            _ => {}
        }
    }
    for dir in dirs {
        for sub in ["new", "cur"] {
            let d = dir.join(sub);
            let meta = match fs::metadata(&d) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(MaildirError::io(&d, e)),
            };
            newest = newest.max(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
            let rd = match fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(MaildirError::io(&d, e)),
            };
            for entry in rd {
                let entry = entry.at(&d)?;
                let fname = entry.file_name();
                let Some(fname) = fname.to_str() else {
                    // Non-UTF-8 names are still messages; count them by stat.
                    if let Ok(m) = fs::metadata(entry.path()) {
                        usage.bytes += m.len() as i64;
                        usage.count += 1;
                    }
                    continue;
                };
                if fname.starts_with('.') || Flags::from_file_name(fname).contains(Flag::Trashed) {
                    continue;
                }
                let size = match name::size_from_name(fname) {
                    Some(s) => s,
                    None => match fs::metadata(entry.path()) {
                        Ok(m) => m.len(),
                        Err(_) => continue, // vanished meanwhile
                    },
                };
                usage.bytes += size as i64;
                usage.count += 1;
            }
        }
    }
    Ok((usage, newest))
}

fn newest_dir_mtime(maildir: &Path) -> SystemTime {
    count_dirs(maildir)
        .into_iter()
        .filter_map(|d| fs::metadata(d).ok()?.modified().ok())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn count_dirs(maildir: &Path) -> Vec<PathBuf> {
    let mut out = vec![maildir.join("new"), maildir.join("cur")];
    if let Ok(rd) = fs::read_dir(maildir) {
        for e in rd.flatten() {
            let n = e.file_name();
            let n = n.as_encoded_bytes();
            if n.len() >= 2
                && n[0] == b'.'
                && n != b".."
                && n != format!(".{TRASH}").as_bytes()
                && e.file_type().map(|t| t.is_dir()).unwrap_or(false)
            {
                out.push(e.path().join("new"));
                out.push(e.path().join("cur"));
            }
        }
    }
    out
}

/// Writes a fresh `maildirsize` for `spec` from a recalculation and returns it
/// opened. A recalculation that raced with a change in a `new`/`cur` directory is
/// redone, up to 5 times; the last result is kept.
pub fn rebuild(maildir: &Path, spec: QuotaSpec) -> Result<QuotaFile> {
    let target = maildir.join(MAILDIRSIZE);
    for attempt in 0..RECALC_ATTEMPTS {
        let (usage, newest) = count_usage(maildir)?;
        let content = format!(
            "{}\n{}",
            spec.render(),
            format_line(usage.bytes, usage.count)
        );
        write_recalculated(maildir, &target, content.as_bytes())?;
        if newest_dir_mtime(maildir) == newest || attempt + 1 == RECALC_ATTEMPTS {
            break;
        }
    }
    QuotaFile::open(maildir)?.ok_or_else(|| {
        MaildirError::io(
            &target,
            io::Error::new(io::ErrorKind::NotFound, "vanished after rebuild"),
        )
    })
}

/// Courier names the rebuild's tmp file `tmp/<time>.<pid>_NeWmAiLdIrSiZe.<host>`.
fn write_recalculated(maildir: &Path, target: &Path, content: &[u8]) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let tmp = maildir.join("tmp").join(format!(
        "{}.{}_NeWmAiLdIrSiZe.{}",
        now.as_secs(),
        std::process::id(),
        name::sanitize_host(&courier_common::hostname())
    ));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(CONTROL_MODE)
            .open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(MaildirError::io(&tmp, e));
    }
    fs::rename(&tmp, target).at(target)?;
    delivery::sync_dir(maildir)
}

/// Installs `spec` the way `deliverquota DIR SPEC` and `MAILDIRQUOTA` do: only if
/// it differs from the current spec (or there is no file), by a rebuild.
pub fn install_spec(maildir: &Path, spec: QuotaSpec) -> Result<()> {
    if let Ok(Some(q)) = QuotaFile::open(maildir)
        && q.spec == spec
    {
        return Ok(());
    }
    rebuild(maildir, spec).map(|_| ())
}

/// Age of a file's mtime, zero when in the future or unreadable.
pub fn age_of(path: &Path) -> Option<Duration> {
    let m = fs::metadata(path).ok()?;
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(m.mtime().max(0) as u64);
    Some(SystemTime::now().duration_since(mtime).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{self, Sharing};

    #[test]
    fn spec_parsing_follows_courier() {
        const CASES: &[(&str, Option<(u64, u64)>)] = &[
            ("10000000S,1000C", Some((10_000_000, 1000))),
            ("100S", Some((100, 0))),
            ("5C", Some((0, 5))),
            ("1000C,20S", Some((20, 1000))),
            ("  100S ,x 3C", Some((100, 3))),
            ("100X", None),
            ("100", None),
            ("", Some((0, 0))),
        ];
        for (text, want) in CASES {
            let got = QuotaSpec::parse(text).ok().map(|q| (q.bytes, q.count));
            assert_eq!(got, *want, "{text:?}");
        }
        assert_eq!(QuotaSpec { bytes: 5, count: 0 }.render(), "5S");
        assert_eq!(QuotaSpec { bytes: 5, count: 7 }.render(), "5S,7C");
        assert_eq!(QuotaSpec { bytes: 0, count: 7 }.render(), "7C");
    }

    #[test]
    fn lines_are_26_bytes_right_aligned() {
        assert_eq!(format_line(39, 1), "          39            1\n");
        assert_eq!(format_line(-39, -1).len(), 26);
    }

    #[test]
    fn percent_used_divides_big_limits() {
        let s = QuotaSpec {
            bytes: 1000,
            count: 10,
        };
        assert_eq!(
            s.percent_used(Usage {
                bytes: 500,
                count: 9
            }),
            90
        );
        let big = QuotaSpec {
            bytes: 40_000_000,
            count: 0,
        };
        assert_eq!(
            big.percent_used(Usage {
                bytes: 20_000_000,
                count: 1
            }),
            50
        );
        assert_eq!(
            s.percent_used(Usage {
                bytes: 5000,
                count: 1
            }),
            100
        );
    }

    fn maildir_with_messages() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        layout::create(&m, Sharing::Private, false).unwrap();
        fs::write(m.join("cur/1.M1P1.h,S=6:2,S"), b"hello\n").unwrap();
        fs::write(m.join("cur/2.M1P1.h,S=6:2,ST"), b"hello\n").unwrap();
        layout::create(&m.join(".Trash"), Sharing::Private, true).unwrap();
        fs::write(m.join(".Trash/cur/3.M1P1.h,S=2:2,"), b"x\n").unwrap();
        layout::create(&m.join(".Sub"), Sharing::Private, true).unwrap();
        fs::write(m.join(".Sub/new/4.M1P1.h"), b"abc\n").unwrap();
        (t, m)
    }

    #[test]
    fn recalculation_skips_trash_and_deleted_and_stats_unsized() {
        let (_t, m) = maildir_with_messages();
        let q = rebuild(
            &m,
            QuotaSpec {
                bytes: 2000,
                count: 0,
            },
        )
        .unwrap();
        assert_eq!(
            q.usage(),
            Usage {
                bytes: 10,
                count: 2
            }
        );
        assert_eq!(
            fs::read_to_string(m.join(MAILDIRSIZE)).unwrap(),
            "2000S\n          10            2\n"
        );
        assert!(fs::read_dir(m.join("tmp")).unwrap().next().is_none());
    }

    #[test]
    fn check_trusts_fresh_single_line_but_recalculates_otherwise() {
        let (_t, m) = maildir_with_messages();
        let mut q = rebuild(
            &m,
            QuotaSpec {
                bytes: 20,
                count: 0,
            },
        )
        .unwrap();
        assert!(q.check(10, 1).unwrap());
        assert!(!q.check(11, 1).unwrap());
        q.add(10, 1).unwrap();
        // The 10 bytes were never delivered: with two lines, an over answer is
        // verified by a recalculation, which finds room again.
        assert!(q.check(10, 1).unwrap());
        assert_eq!(
            q.usage(),
            Usage {
                bytes: 10,
                count: 2
            }
        );
    }

    #[test]
    fn long_or_negative_or_garbage_files_force_recalculation() {
        let (_t, m) = maildir_with_messages();
        let mut body = String::from("100S\n");
        while body.len() < RECALC_SIZE as usize {
            body.push_str(&format_line(1, 1));
        }
        fs::write(m.join(MAILDIRSIZE), &body).unwrap();
        let mut q = QuotaFile::open(&m).unwrap().unwrap();
        assert!(q.needs_recalc());
        assert!(q.check(1, 1).unwrap());
        assert_eq!(
            q.usage(),
            Usage {
                bytes: 10,
                count: 2
            }
        );
        fs::write(m.join(MAILDIRSIZE), "100S\n-50 -1\n").unwrap();
        assert!(QuotaFile::open(&m).unwrap().unwrap().needs_recalc());
        // Unreadable lines count as zero (Courier's strtoll), without a recalculation.
        fs::write(m.join(MAILDIRSIZE), "100S\nxx yy\n  50 1 extra\n-5\n").unwrap();
        let q = QuotaFile::open(&m).unwrap().unwrap();
        assert!(!q.needs_recalc());
        assert_eq!(
            q.usage(),
            Usage {
                bytes: 45,
                count: 1
            }
        );
        assert_eq!(q.unreadable_lines(), 2);
        fs::write(m.join(MAILDIRSIZE), "100Q\n").unwrap();
        let q = QuotaFile::open(&m).unwrap().unwrap();
        assert_eq!(q.bad_spec(), Some("100Q"));
        assert!(q.spec().is_unlimited());
    }

    #[test]
    fn no_file_means_no_quota_and_install_is_idempotent() {
        let (_t, m) = maildir_with_messages();
        assert!(QuotaFile::open(&m).unwrap().is_none());
        let spec = QuotaSpec {
            bytes: 100,
            count: 0,
        };
        install_spec(&m, spec).unwrap();
        let mut q = QuotaFile::open(&m).unwrap().unwrap();
        q.add(5, 1).unwrap();
        install_spec(&m, spec).unwrap();
        assert_eq!(
            QuotaFile::open(&m).unwrap().unwrap().usage(),
            Usage {
                bytes: 15,
                count: 3
            }
        );
        install_spec(
            &m,
            QuotaSpec {
                bytes: 200,
                count: 0,
            },
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(m.join(MAILDIRSIZE)).unwrap(),
            "200S\n          10            2\n"
        );
    }

    #[test]
    fn concurrent_appends_all_land() {
        let (_t, m) = maildir_with_messages();
        rebuild(
            &m,
            QuotaSpec {
                bytes: 1_000_000,
                count: 0,
            },
        )
        .unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        QuotaFile::open(&m).unwrap().unwrap().add(1, 1).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let q = QuotaFile::open(&m).unwrap().unwrap();
        assert_eq!(
            q.usage(),
            Usage {
                bytes: 110,
                count: 102
            }
        );
    }
}
