//! Numbering messages a writer has just placed in `cur/`, without listing the folder.
//!
//! IMAP APPEND and COPY must answer with the new messages' UIDs (UIDPLUS). A full
//! [`crate::uiddb::scan`] lists the whole folder; for a writer that knows exactly
//! which files it added, [`assign`] takes the same `tmp/courier.lock`, reads
//! `courierimapuiddb`, appends the given basenames with the next UIDs (in the order
//! given) and rewrites the file. Messages other writers added meanwhile are left for
//! the next scan, which numbers them after these, exactly as if the scan had found
//! ours first.
//!
//! The rewrite is not synced: a crash may lose the newest lines of the file, and
//! with them `nextuid`; the next scan then numbers the same messages again from the
//! same `nextuid`, so a UID is never given to two different messages and
//! UIDVALIDITY never changes.

use crate::delivery::{CONTROL_MODE, TmpFile, next_uniq};
use crate::error::Result;
use crate::lock::DotLock;
use crate::uiddb::{LOCK_TIMEOUT, UIDDB, UidDb, uidvalidity_for};
use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

/// Gives `basenames` (files this process placed in `folder/cur/`) UIDs. Returns
/// `Ok(None)` when the folder has no `courierimapuiddb` yet (the caller scans).
/// Basenames already in the file keep their UIDs.
pub fn assign(
    folder: &Path,
    basenames: &[String],
    locking: bool,
) -> Result<Option<(u32, Vec<u32>)>> {
    assign_inner(folder, basenames, locking, false)
}

/// As [`assign`], but a folder without `courierimapuiddb` gets a new one (a fresh
/// UIDVALIDITY) in which these messages come first, as Courier's COPY does; the
/// folder's other messages are numbered by the next scan.
pub fn assign_or_create(
    folder: &Path,
    basenames: &[String],
    locking: bool,
) -> Result<(u32, Vec<u32>)> {
    // `create` always yields a database.
    Ok(assign_inner(folder, basenames, locking, true)?.unwrap_or((0, Vec::new())))
}

fn assign_inner(
    folder: &Path,
    basenames: &[String],
    locking: bool,
    create: bool,
) -> Result<Option<(u32, Vec<u32>)>> {
    let _lock = if locking {
        Some(DotLock::acquire(folder, LOCK_TIMEOUT)?)
    } else {
        None
    };
    let (mut db, fresh) = match UidDb::read(folder)? {
        Some((db, _salvaged)) => (db, false),
        None if create => (
            UidDb {
                uidvalidity: uidvalidity_for(SystemTime::now()),
                next_uid: 1,
                entries: Vec::new(),
            },
            true,
        ),
        None => return Ok(None),
    };
    let known: HashMap<String, u32> = db.entries.iter().map(|(u, b)| (b.clone(), *u)).collect();
    let mut uids = Vec::with_capacity(basenames.len());
    let mut changed = false;
    for b in basenames {
        match known.get(b) {
            Some(&u) => uids.push(u),
            None => {
                let u = db.next_uid;
                db.next_uid = db.next_uid.saturating_add(1);
                db.entries.push((u, b.clone()));
                uids.push(u);
                changed = true;
            }
        }
    }
    if fresh {
        // A new UIDVALIDITY must survive a crash: synced like the scan's write.
        db.write(folder)?;
    } else if changed {
        let uniq = format!("imapuid_{}", next_uniq());
        let mut tmp = TmpFile::create(folder, Some(&uniq), None, CONTROL_MODE)?;
        tmp.write_all(db.render().as_bytes())?;
        tmp.rename_to_unsynced(&folder.join(UIDDB))?;
    }
    Ok(Some((db.uidvalidity, uids)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::maildir as folder;
    use crate::uiddb::scan;
    use std::fs;

    #[test]
    fn assigns_after_known_and_scan_agrees() {
        let (_t, m) = folder();
        fs::write(m.join("cur/100.M1P1.h:2,"), b"x").unwrap();
        let first = scan(&m, true).unwrap();
        assert_eq!(first.next_uid, 2);
        fs::write(m.join("cur/200.M1P1.h:2,S"), b"y").unwrap();
        fs::write(m.join("cur/150.M1P1.h:2,"), b"z").unwrap();
        let (v, uids) = assign(&m, &["200.M1P1.h".to_string()], true)
            .unwrap()
            .unwrap();
        assert_eq!((v, uids), (first.uidvalidity, vec![2]));
        // Again: same UID.
        let (_, uids) = assign(&m, &["200.M1P1.h".to_string()], true)
            .unwrap()
            .unwrap();
        assert_eq!(uids, vec![2]);
        // The other new file is numbered by the next scan, after ours.
        let s = scan(&m, true).unwrap();
        assert_eq!(
            s.messages().collect::<Vec<_>>(),
            vec![
                (1, "100.M1P1.h:2,"),
                (2, "200.M1P1.h:2,S"),
                (3, "150.M1P1.h:2,")
            ]
        );
    }

    #[test]
    fn a_new_database_numbers_the_given_messages_first() {
        let (_t, m) = folder();
        fs::write(m.join("cur/100.M1P1.h:2,"), b"x").unwrap();
        fs::write(m.join("cur/200.M1P1.h:2,"), b"y").unwrap();
        let (v, uids) = assign_or_create(&m, &["200.M1P1.h".to_string()], true).unwrap();
        assert_eq!(uids, vec![1]);
        let s = scan(&m, true).unwrap();
        assert_eq!(s.uidvalidity, v);
        assert_eq!(
            s.messages().collect::<Vec<_>>(),
            vec![(1, "200.M1P1.h:2,"), (2, "100.M1P1.h:2,")]
        );
    }

    #[test]
    fn no_database_means_scan() {
        let (_t, m) = folder();
        assert!(
            assign(&m, &["1.M1P1.h".to_string()], true)
                .unwrap()
                .is_none()
        );
    }
}
