//! The compiled database file (`userdb.dat`, `userdbshadow.dat`): an immutable hash index
//! from key bytes to value bytes, written once and replaced by rename.
//!
//! Courier stores these maps in GDBM; this project uses its own format (Courier's tools
//! never read ours and ours never read theirs, so only the text source is shared).
//!
//! ```text
//! offset  size         content (all integers little-endian)
//! 0       64           header
//!           0   8        magic "\x89UDB\r\n\x1a\n"
//!           8   4        version (1)
//!           12  4        flags (0)
//!           16  4        bucket count B (a power of two)
//!           20  4        record count N
//!           24  8        directory offset (64)
//!           32  8        slot table offset (64 + 16 B)
//!           40  8        data offset (slot table offset + 16 N)
//!           48  8        file length
//!           56  4        CRC-32 of bytes 0..56
//!           60  4        zero
//! 64      16 B         directory: per bucket b: first slot u32, slot count u32,
//!                      CRC-32 of (b u32, first u32, count u32, the count slots), zero u32
//! ..      16 N         slots, grouped by bucket: key hash u64, record offset u64
//! ..      ..           records, in source order: body length L u32, CRC-32 of the body u32,
//!                      body = key length u32, key, value
//! ```
//!
//! A lookup costs three `pread`s (directory entry, the bucket's slots, the record) and
//! never reads the whole file; every byte it relies on is covered by a checksum it
//! verifies, and the key stored in the record is compared, so damage gives an error, never
//! a wrong answer. Opening checks the magic, the version, the header checksum, the layout
//! arithmetic and the file length (truncation). [`DatFile::verify`] checks everything.

use crate::error::UserDbError;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file signature: a high byte and CR/LF/^Z catch text-mode and 7-bit mangling (as PNG).
pub const MAGIC: [u8; 8] = *b"\x89UDB\r\n\x1a\n";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

const HEADER_LEN: u64 = 64;
const DIR_ENTRY_LEN: u64 = 16;
const SLOT_LEN: u64 = 16;
const RECORD_HEAD_LEN: u64 = 8;
/// How much a lookup reads speculatively at a record's offset (most records are smaller).
const RECORD_PROBE: u64 = 4096;

/// CRC-32 (IEEE 802.3, as zlib), table-driven.
mod crc32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };

    /// A running CRC.
    pub struct Crc(u32);

    impl Crc {
        pub fn new() -> Crc {
            Crc(0xFFFF_FFFF)
        }
        pub fn update(&mut self, bytes: &[u8]) {
            let mut c = self.0;
            for &b in bytes {
                c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
            }
            self.0 = c;
        }
        pub fn finish(&self) -> u32 {
            self.0 ^ 0xFFFF_FFFF
        }
    }

    /// The CRC of one buffer.
    pub fn of(bytes: &[u8]) -> u32 {
        let mut c = Crc::new();
        c.update(bytes);
        c.finish()
    }
}

/// The key hash: FNV-1a 64 followed by a SplitMix64 finaliser so the low bits (the bucket
/// index) depend on every input byte.
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn bucket_crc(bucket: u32, first: u32, count: u32, slots: &[u8]) -> u32 {
    let mut c = crc32::Crc::new();
    c.update(&bucket.to_le_bytes());
    c.update(&first.to_le_bytes());
    c.update(&count.to_le_bytes());
    c.update(slots);
    c.finish()
}

/// Serialises `entries` (key, value), in order, into the bytes of a database file.
/// Keys must be distinct (the caller checks; a repeated key would be unreachable).
pub fn encode(path: &Path, entries: &[(&[u8], &[u8])]) -> Result<Vec<u8>, UserDbError> {
    let too_large = |detail: String| UserDbError::TooLarge {
        path: path.to_path_buf(),
        detail,
    };
    let n = u32::try_from(entries.len())
        .map_err(|_| too_large(format!("{} records", entries.len())))?;
    let nbuckets = n
        .max(1)
        .checked_next_power_of_two()
        .ok_or_else(|| too_large(format!("{n} records")))?;
    let dir_off = HEADER_LEN;
    let slots_off = dir_off + DIR_ENTRY_LEN * u64::from(nbuckets);
    let data_off = slots_off + SLOT_LEN * u64::from(n);

    // Records, in source order, and each one's (hash, absolute offset).
    let mut data = Vec::new();
    let mut located = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let key_len = u32::try_from(key.len())
            .map_err(|_| too_large(format!("a key of {} bytes", key.len())))?;
        let body_len = u32::try_from(4 + key.len() + value.len())
            .map_err(|_| too_large(format!("a record of {} bytes", value.len())))?;
        let offset = data_off + data.len() as u64;
        let mut crc = crc32::Crc::new();
        crc.update(&key_len.to_le_bytes());
        crc.update(key);
        crc.update(value);
        data.extend_from_slice(&body_len.to_le_bytes());
        data.extend_from_slice(&crc.finish().to_le_bytes());
        data.extend_from_slice(&key_len.to_le_bytes());
        data.extend_from_slice(key);
        data.extend_from_slice(value);
        located.push((key_hash(key), offset));
    }

    // Counting sort of the slots by bucket, keeping source order inside a bucket.
    let mask = u64::from(nbuckets - 1);
    let mut counts = vec![0u32; nbuckets as usize];
    for (hash, _) in &located {
        counts[(hash & mask) as usize] += 1;
    }
    let mut firsts = Vec::with_capacity(counts.len());
    let mut next = 0u32;
    for c in &counts {
        firsts.push(next);
        next += c;
    }
    let mut fill = firsts.clone();
    let mut slots = vec![0u8; (SLOT_LEN * u64::from(n)) as usize];
    for (hash, offset) in &located {
        let b = (hash & mask) as usize;
        let at = (fill[b] as usize) * SLOT_LEN as usize;
        slots[at..at + 8].copy_from_slice(&hash.to_le_bytes());
        slots[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        fill[b] += 1;
    }

    let file_len = data_off + data.len() as u64;
    let mut out = Vec::with_capacity(file_len as usize);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&nbuckets.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&dir_off.to_le_bytes());
    out.extend_from_slice(&slots_off.to_le_bytes());
    out.extend_from_slice(&data_off.to_le_bytes());
    out.extend_from_slice(&file_len.to_le_bytes());
    let header_crc = crc32::of(&out[..56]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for (b, (&first, &count)) in firsts.iter().zip(&counts).enumerate() {
        let run = &slots
            [first as usize * SLOT_LEN as usize..(first + count) as usize * SLOT_LEN as usize];
        // `b` < nbuckets, which is a u32.
        let crc = bucket_crc(b as u32, first, count, run);
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out.extend_from_slice(&slots);
    out.extend_from_slice(&data);
    Ok(out)
}

/// Writes a database file at `tmp` with exactly `mode` (whatever the umask), synced to
/// disk. A stale `tmp` is removed first so its old owner or mode cannot leak through.
/// The caller renames `tmp` over the real name.
pub fn write_file(tmp: &Path, mode: u32, entries: &[(&[u8], &[u8])]) -> Result<(), UserDbError> {
    let bytes = encode(tmp, entries)?;
    match std::fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(UserDbError::io(tmp, e)),
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(|e| UserDbError::io(tmp, e))?;
    let result = (|| {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        let mut w = BufWriter::new(&file);
        w.write_all(&bytes)?;
        w.flush()?;
        drop(w);
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(tmp);
        return Err(UserDbError::io(tmp, e));
    }
    Ok(())
}

/// What identifies one version of a file on disk: a rename gives a new inode, an in-place
/// rewrite a new mtime or size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    size: u64,
}

impl Identity {
    fn of(m: &std::fs::Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            size: m.size(),
        }
    }
}

/// One open compiled database file.
#[derive(Debug)]
pub struct DatFile {
    path: PathBuf,
    file: File,
    identity: Identity,
    nbuckets: u32,
    nrecords: u32,
    dir_off: u64,
    slots_off: u64,
    data_off: u64,
    file_len: u64,
}

impl DatFile {
    /// Opens `path` and checks its header: magic, version, checksum, layout and length.
    pub fn open(path: &Path) -> Result<DatFile, UserDbError> {
        let file = File::open(path).map_err(|e| UserDbError::io(path, e))?;
        let meta = file.metadata().map_err(|e| UserDbError::io(path, e))?;
        if !meta.is_file() {
            return Err(UserDbError::NotRegular {
                path: path.to_path_buf(),
            });
        }
        let actual = meta.len();
        let mut header = [0u8; HEADER_LEN as usize];
        let got = read_up_to(&file, &mut header, 0).map_err(|e| UserDbError::io(path, e))?;
        let header = &header[..got];
        let bad_magic = |detail| UserDbError::BadMagic {
            path: path.to_path_buf(),
            detail,
        };
        if header.len() < MAGIC.len() || header[..MAGIC.len()] != MAGIC {
            if header.is_empty() {
                return Err(bad_magic("empty file"));
            }
            if header.len() < MAGIC.len() && MAGIC.starts_with(header) {
                return Err(UserDbError::Truncated {
                    path: path.to_path_buf(),
                    expected: HEADER_LEN,
                    actual,
                });
            }
            return Err(bad_magic(if looks_like_gdbm(header) {
                "a GDBM file, as Courier's own makeuserdb writes"
            } else {
                "unknown file signature"
            }));
        }
        if header.len() < 12 {
            return Err(UserDbError::Truncated {
                path: path.to_path_buf(),
                expected: HEADER_LEN,
                actual,
            });
        }
        let version = u32_at(header, 8);
        if version != VERSION {
            return Err(UserDbError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
        if header.len() < HEADER_LEN as usize {
            return Err(UserDbError::Truncated {
                path: path.to_path_buf(),
                expected: HEADER_LEN,
                actual,
            });
        }
        let corrupt = |detail: String| UserDbError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        if crc32::of(&header[..56]) != u32_at(header, 56) {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let nbuckets = u32_at(header, 16);
        let nrecords = u32_at(header, 20);
        let dir_off = u64_at(header, 24);
        let slots_off = u64_at(header, 32);
        let data_off = u64_at(header, 40);
        let file_len = u64_at(header, 48);
        let consistent = nbuckets.is_power_of_two()
            && dir_off == HEADER_LEN
            && Some(slots_off) == dir_off.checked_add(DIR_ENTRY_LEN * u64::from(nbuckets))
            && Some(data_off) == slots_off.checked_add(SLOT_LEN * u64::from(nrecords))
            && data_off <= file_len
            && (file_len - data_off) / (RECORD_HEAD_LEN + 4) >= u64::from(nrecords);
        if !consistent {
            return Err(corrupt("inconsistent header".into()));
        }
        if actual < file_len {
            return Err(UserDbError::Truncated {
                path: path.to_path_buf(),
                expected: file_len,
                actual,
            });
        }
        if actual > file_len {
            return Err(corrupt(format!(
                "{} bytes after the end the header gives",
                actual - file_len
            )));
        }
        Ok(DatFile {
            path: path.to_path_buf(),
            file,
            identity: Identity::of(&meta),
            nbuckets,
            nrecords,
            dir_off,
            slots_off,
            data_off,
            file_len,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.nrecords as usize
    }

    /// True when the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.nrecords == 0
    }

    /// True when the path now names another file (replaced by makeuserdb's rename, or
    /// rewritten in place) or nothing at all.
    pub fn is_stale(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(m) => Identity::of(&m) != self.identity,
            Err(_) => true,
        }
    }

    fn corrupt(&self, detail: String) -> UserDbError {
        UserDbError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    /// Reads exactly `buf.len()` bytes at `offset`; a short read means the file shrank
    /// under us, which is reported as truncation.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), UserDbError> {
        let got =
            read_up_to(&self.file, buf, offset).map_err(|e| UserDbError::io(&self.path, e))?;
        if got < buf.len() {
            return Err(UserDbError::Truncated {
                path: self.path.clone(),
                expected: self.file_len,
                actual: offset + got as u64,
            });
        }
        Ok(())
    }

    /// Reads and checks bucket `b`: returns its slots (hash, record offset).
    fn bucket(&self, b: u32) -> Result<Vec<(u64, u64)>, UserDbError> {
        let mut entry = [0u8; DIR_ENTRY_LEN as usize];
        self.read_exact_at(&mut entry, self.dir_off + DIR_ENTRY_LEN * u64::from(b))?;
        let first = u32_at(&entry, 0);
        let count = u32_at(&entry, 4);
        let crc = u32_at(&entry, 8);
        if u64::from(first) + u64::from(count) > u64::from(self.nrecords) {
            return Err(self.corrupt(format!("bucket {b} points outside the slot table")));
        }
        let mut run = vec![0u8; (SLOT_LEN * u64::from(count)) as usize];
        self.read_exact_at(&mut run, self.slots_off + SLOT_LEN * u64::from(first))?;
        if bucket_crc(b, first, count, &run) != crc {
            return Err(self.corrupt(format!("bucket {b} checksum mismatch")));
        }
        let mask = u64::from(self.nbuckets - 1);
        let mut slots = Vec::with_capacity(count as usize);
        for s in run.chunks_exact(SLOT_LEN as usize) {
            let (hash, offset) = (u64_at(s, 0), u64_at(s, 8));
            if hash & mask != u64::from(b) {
                return Err(self.corrupt(format!("bucket {b} holds a misplaced slot")));
            }
            slots.push((hash, offset));
        }
        Ok(slots)
    }

    /// Reads and checks the record at `offset`: returns (key, value, offset of the next).
    fn record_at(&self, offset: u64) -> Result<(Vec<u8>, Vec<u8>, u64), UserDbError> {
        if offset < self.data_off || offset > self.file_len.saturating_sub(RECORD_HEAD_LEN + 4) {
            return Err(self.corrupt(format!("record offset {offset} out of range")));
        }
        let room = self.file_len - offset;
        let mut buf = vec![0u8; room.min(RECORD_PROBE) as usize];
        self.read_exact_at(&mut buf, offset)?;
        let body_len = u64::from(u32_at(&buf, 0));
        let crc = u32_at(&buf, 4);
        if body_len < 4 || RECORD_HEAD_LEN + body_len > room {
            return Err(self.corrupt(format!("record at offset {offset} has a bad length")));
        }
        let total = (RECORD_HEAD_LEN + body_len) as usize;
        if buf.len() < total {
            buf = vec![0u8; total];
            self.read_exact_at(&mut buf, offset)?;
        }
        let body = &buf[RECORD_HEAD_LEN as usize..total];
        if crc32::of(body) != crc {
            return Err(self.corrupt(format!("record at offset {offset} checksum mismatch")));
        }
        let key_len = u32_at(body, 0) as usize;
        if key_len > body.len() - 4 {
            return Err(self.corrupt(format!("record at offset {offset} has a bad key length")));
        }
        let key = body[4..4 + key_len].to_vec();
        let value = body[4 + key_len..].to_vec();
        Ok((key, value, offset + total as u64))
    }

    /// The value stored under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, UserDbError> {
        let hash = key_hash(key);
        let b = (hash & u64::from(self.nbuckets - 1)) as u32;
        for (slot_hash, offset) in self.bucket(b)? {
            if slot_hash != hash {
                continue;
            }
            let (k, v, _) = self.record_at(offset)?;
            if k == key {
                return Ok(Some(v));
            }
            if key_hash(&k) != hash {
                return Err(self.corrupt(format!(
                    "slot in bucket {b} points at a record with another key"
                )));
            }
        }
        Ok(None)
    }

    /// Calls `f(key, value)` for every record, in the order they were written, checking
    /// every record's checksum and that the count matches the header.
    pub fn for_each(&self, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), UserDbError> {
        let mut offset = self.data_off;
        let mut seen = 0u64;
        while offset < self.file_len {
            let (k, v, next) = self.record_at(offset)?;
            f(&k, &v);
            seen += 1;
            offset = next;
        }
        if seen != u64::from(self.nrecords) {
            return Err(self.corrupt(format!(
                "{seen} records in the data area, header says {}",
                self.nrecords
            )));
        }
        Ok(())
    }

    /// Checks the whole file: every bucket, every record, and that every record is reachable
    /// through the index under its own key.
    pub fn verify(&self) -> Result<(), UserDbError> {
        let mut indexed = Vec::with_capacity(self.nrecords as usize);
        for b in 0..self.nbuckets {
            indexed.extend(self.bucket(b)?);
        }
        if indexed.len() != self.nrecords as usize {
            return Err(self.corrupt(format!(
                "{} slots in the index, header says {}",
                indexed.len(),
                self.nrecords
            )));
        }
        let mut offsets: Vec<u64> = Vec::with_capacity(indexed.len());
        let mut keys_ok = Ok(());
        self.for_each(&mut |_, _| {})?;
        for (hash, offset) in &indexed {
            let (k, _, _) = self.record_at(*offset)?;
            if key_hash(&k) != *hash && keys_ok.is_ok() {
                keys_ok = Err(self.corrupt(format!("slot for offset {offset} has a wrong hash")));
            }
            offsets.push(*offset);
        }
        keys_ok?;
        offsets.sort_unstable();
        offsets.dedup();
        if offsets.len() != indexed.len() {
            return Err(self.corrupt("two slots point at one record".into()));
        }
        Ok(())
    }
}

/// Reads into `buf` at `offset` until it is full or the file ends; returns the count.
fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// GDBM's magic numbers (standard, old, 64-bit offsets, numsync), in either byte order.
fn looks_like_gdbm(header: &[u8]) -> bool {
    if header.len() < 4 {
        return false;
    }
    let le = u32_at(header, 0);
    let be = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    [
        0x1357_9ace,
        0x1357_9acd,
        0x1357_9acf,
        0x1357_9ad0,
        0x1357_9ad1,
    ]
    .iter()
    .any(|m| *m == le || *m == be)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_zlib_check_value() {
        assert_eq!(crc32::of(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32::of(b""), 0);
    }

    fn build(entries: &[(&[u8], &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x.dat");
        write_file(&p, 0o644, entries).unwrap();
        (t, p)
    }

    #[test]
    fn every_key_is_found_and_absent_keys_are_not() {
        let keys: Vec<String> = (0..300).map(|i| format!("user{i}")).collect();
        let entries: Vec<(&[u8], &[u8])> =
            keys.iter().map(|k| (k.as_bytes(), k.as_bytes())).collect();
        let (_t, p) = build(&entries);
        let db = DatFile::open(&p).unwrap();
        assert_eq!(db.len(), 300);
        for k in &keys {
            assert_eq!(db.get(k.as_bytes()).unwrap().as_deref(), Some(k.as_bytes()));
        }
        assert_eq!(db.get(b"user300").unwrap(), None);
        assert_eq!(db.get(b"").unwrap(), None);
        db.verify().unwrap();
        let mut seen = Vec::new();
        db.for_each(&mut |k, _| seen.push(String::from_utf8(k.to_vec()).unwrap()))
            .unwrap();
        assert_eq!(seen, keys);
    }

    #[test]
    fn empty_database_opens_and_finds_nothing() {
        let (_t, p) = build(&[]);
        let db = DatFile::open(&p).unwrap();
        assert!(db.is_empty());
        assert_eq!(db.get(b"a").unwrap(), None);
        db.verify().unwrap();
    }

    #[test]
    fn large_record_is_read_past_the_probe() {
        let big = vec![b'x'; 10_000];
        let (_t, p) = build(&[(b"k", &big), (b"j", b"small")]);
        let db = DatFile::open(&p).unwrap();
        assert_eq!(db.get(b"k").unwrap(), Some(big));
        assert_eq!(db.get(b"j").unwrap().as_deref(), Some(&b"small"[..]));
    }

    #[test]
    fn file_mode_is_exact_whatever_the_umask() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s.tmp");
        std::fs::write(&p, b"stale").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_file(&p, 0o600, &[(b"a", b"b")]).unwrap();
        let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(m, 0o600);
    }

    /// Flips every byte of a small database in turn: each result is an error or the exact
    /// right answer, never a panic or a wrong value.
    #[test]
    fn any_single_byte_damage_is_an_error_or_the_right_answer() {
        let (t, p) = build(&[(b"alice", b"uid=1|home=/a"), (b"bob", b"uid=2|home=/b")]);
        let good = std::fs::read(&p).unwrap();
        let q = t.path().join("damaged.dat");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            std::fs::write(&q, &bad).unwrap();
            let Ok(db) = DatFile::open(&q) else { continue };
            for (k, v) in [
                (&b"alice"[..], &b"uid=1|home=/a"[..]),
                (b"bob", b"uid=2|home=/b"),
            ] {
                match db.get(k) {
                    Ok(Some(got)) => assert_eq!(got, v, "byte {i}"),
                    Ok(None) => panic!("byte {i}: {k:?} vanished without an error"),
                    Err(_) => {}
                }
            }
            match db.get(b"carol") {
                Ok(None) | Err(_) => {}
                Ok(Some(_)) => panic!("byte {i}: phantom record"),
            }
            let _ = db.verify();
        }
    }

    #[test]
    fn truncation_at_any_length_is_reported() {
        let (t, p) = build(&[(b"alice", b"uid=1"), (b"bob", b"uid=2")]);
        let good = std::fs::read(&p).unwrap();
        let q = t.path().join("short.dat");
        for len in 0..good.len() {
            std::fs::write(&q, &good[..len]).unwrap();
            let e = DatFile::open(&q).unwrap_err();
            assert!(
                matches!(
                    e,
                    UserDbError::Truncated { .. } | UserDbError::BadMagic { .. }
                ),
                "len {len}: {e}"
            );
            assert!(e.to_string().contains("short.dat"), "{e}");
        }
    }

    #[test]
    fn gdbm_and_foreign_files_are_named_as_such() {
        let t = tempfile::tempdir().unwrap();
        let q = t.path().join("userdb.dat");
        let mut gdbm = 0x1357_9acfu32.to_le_bytes().to_vec();
        gdbm.resize(512, 0);
        std::fs::write(&q, &gdbm).unwrap();
        let e = DatFile::open(&q).unwrap_err().to_string();
        assert!(e.contains("GDBM") && e.contains("userdb.dat"), "{e}");
        std::fs::write(&q, b"alice\tuid=1\n").unwrap();
        let e = DatFile::open(&q).unwrap_err().to_string();
        assert!(e.contains("unknown file signature"), "{e}");
    }

    #[test]
    fn newer_version_is_refused_by_number() {
        let (_t, p) = build(&[(b"a", b"b")]);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[8] = 2;
        std::fs::write(&p, &bytes).unwrap();
        let e = DatFile::open(&p).unwrap_err();
        assert!(
            matches!(e, UserDbError::UnsupportedVersion { version: 2, .. }),
            "{e}"
        );
    }

    #[test]
    fn replacing_the_file_makes_it_stale() {
        let (t, p) = build(&[(b"a", b"b")]);
        let db = DatFile::open(&p).unwrap();
        assert!(!db.is_stale());
        let tmp = t.path().join("x.tmp");
        write_file(&tmp, 0o644, &[(b"a", b"c")]).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(db.is_stale());
        std::fs::remove_file(&p).unwrap();
        assert!(db.is_stale());
    }
}
