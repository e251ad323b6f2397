//! [`UserDb`]: lookups in the compiled pair, picking up makeuserdb's replacements live.

use crate::dat::DatFile;
use crate::error::UserDbError;
use crate::record::Record;
use std::io;
use std::path::{Path, PathBuf};

/// Open handles on `userdb.dat` and, when it exists and is readable, `userdbshadow.dat`.
///
/// Every call first checks (one `stat` per file) whether makeuserdb replaced a file since it
/// was opened, and reopens it if so: a new build takes effect without restarting the daemon.
#[derive(Debug)]
pub struct UserDb {
    dat_path: PathBuf,
    shadow_path: Option<PathBuf>,
    dat: DatFile,
    shadow: Option<DatFile>,
}

/// Opens the shadow file; "absent" and "not ours to read" both mean no passwords.
fn open_shadow(path: &Path) -> Result<Option<DatFile>, UserDbError> {
    match DatFile::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(UserDbError::Io { source, .. })
            if matches!(
                source.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl UserDb {
    /// Opens the compiled files; a missing (or unreadable) shadow file is allowed (no
    /// passwords). A missing `dat` is an error for which [`UserDbError::is_missing`] holds.
    pub fn open(dat: &Path, shadow: Option<&Path>) -> Result<UserDb, UserDbError> {
        let dat_file = DatFile::open(dat)?;
        let shadow_file = match shadow {
            Some(p) => open_shadow(p)?,
            None => None,
        };
        Ok(UserDb {
            dat_path: dat.to_path_buf(),
            shadow_path: shadow.map(Path::to_path_buf),
            dat: dat_file,
            shadow: shadow_file,
        })
    }

    /// Reopens whatever was replaced since the last call.
    fn refresh(&mut self) -> Result<(), UserDbError> {
        if self.dat.is_stale() {
            self.dat = DatFile::open(&self.dat_path)?;
        }
        if let Some(path) = &self.shadow_path {
            let stale = match &self.shadow {
                Some(s) => s.is_stale(),
                // Appeared since? A stat is cheaper than an open attempt.
                None => std::fs::metadata(path).is_ok(),
            };
            if stale {
                self.shadow = open_shadow(path)?;
            }
        }
        Ok(())
    }

    /// Looks `name` up (exact, case-sensitive), merging the shadow fields after the others;
    /// reopens files that were replaced since the last call.
    ///
    /// Like Courier's, this is a plain key lookup: a reverse-map entry (`5000=`) or a source
    /// line without a TAB is returned as stored. Neither has a `uid`, which is how the
    /// caller recognises that it is not an account.
    pub fn lookup(&mut self, name: &str) -> Result<Option<Record>, UserDbError> {
        self.refresh()?;
        let Some(value) = self.dat.get(name.as_bytes())? else {
            return Ok(None);
        };
        let mut record = Record::parse(name, &String::from_utf8_lossy(&value));
        if let Some(shadow) = &self.shadow
            && let Some(secret) = shadow.get(name.as_bytes())?
        {
            record.extend_from(&String::from_utf8_lossy(&secret));
        }
        Ok(Some(record))
    }

    /// Every account (non-shadow fields only), in source order, for ENUMERATE; skips
    /// reverse-map entries (every key containing `=`, as Courier's enumeration does).
    pub fn for_each(&mut self, f: &mut dyn FnMut(&Record)) -> Result<(), UserDbError> {
        self.refresh()?;
        self.dat.for_each(&mut |key, value| {
            let name = String::from_utf8_lossy(key);
            if name.contains('=') {
                return;
            }
            f(&Record::parse(name, &String::from_utf8_lossy(value)));
        })
    }

    /// The path of the main database.
    pub fn dat_path(&self) -> &Path {
        &self.dat_path
    }

    /// True when a shadow file is open (passwords available).
    pub fn has_shadow(&self) -> bool {
        self.shadow.is_some()
    }

    /// Checks both files completely (every checksum, every index entry).
    pub fn verify(&mut self) -> Result<(), UserDbError> {
        self.refresh()?;
        self.dat.verify()?;
        if let Some(s) = &self.shadow {
            s.verify()?;
        }
        Ok(())
    }
}
