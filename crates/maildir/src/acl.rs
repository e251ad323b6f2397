//! Access control lists: `courierimapacl` in every folder and `courierimaphieracl/`
//! in the main maildir (formats.md §8), with Courier's defaults, inheritance,
//! rights computation and the IMAP (RFC 2086 / RFC 4314) presentation rules.
//!
//! The model, as in Courier's `maildiraclt.c`:
//!
//! - an [`Acl`] is an *ordered* list of [`AclEntry`]s, one per [`Identifier`];
//!   setting an identifier that is already present replaces its rights in place,
//!   a new one is appended;
//! - [`Rights`] are a set of bytes > 0x20, kept sorted by byte value without
//!   duplicates (`aceilrstwx`); Courier does not interpret letters when storing;
//! - identifiers are any bytes > 0x20 (`owner`, `anyone`, `anonymous`,
//!   `administrators`, `user=<login>`, `group=<name>`); a leading `-` makes a
//!   negative entry.
//!
//! Files are addressed by the folder's internal IMAP name (`INBOX`, `INBOX.A.B`,
//! `INBOX` matched case-insensitively). Reading a folder without its own file falls
//! back to `courierimaphieracl/<name>` and then to the parent's list, which is
//! then *written* for the folder (formats.md §8 "Defaults and inheritance").

use crate::delivery::{CONTROL_MODE, TmpFile};
use crate::error::{MaildirError, Result};
use crate::layout;
use crate::lock::DotLock;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Name of the per-folder ACL file.
pub const ACL_FILE: &str = "courierimapacl";
/// Directory (in the main maildir) holding ACLs of hierarchy names that have no
/// folder directory of their own.
pub const HIER_DIR: &str = "courierimaphieracl";
/// Every right Courier knows, in stored (sorted) form.
pub const ALL_RIGHTS: &str = "aceilrstwx";
/// What `owner` gets when ACLs are disabled (account option `disableshared`):
/// everything except `a` (formats.md §8).
pub const DISABLED_OWNER_RIGHTS: &str = "ceilrstwx";

/// The `owner` identifier.
pub const OWNER: &str = "owner";
/// The `anyone` identifier: applies to every account.
pub const ANYONE: &str = "anyone";
/// `anonymous`, a synonym of [`ANYONE`].
pub const ANONYMOUS: &str = "anonymous";
/// The `administrators` identifier, equivalent to [`GROUP_ADMINISTRATORS`].
pub const ADMINISTRATORS: &str = "administrators";
/// `group=administrators`, equivalent to [`ADMINISTRATORS`].
pub const GROUP_ADMINISTRATORS: &str = "group=administrators";

/// `courierimaphieracl/` entries are only removed by [`reset`] when older than this
/// (Courier: one hour, to avoid racing a concurrent CREATE).
pub const HIER_STALE_AFTER: Duration = Duration::from_secs(3600);

/// Courier reads ACL files with `fgets()` into a `BUFSIZ` (8192) buffer, so a longer
/// line is seen as several lines of at most 8191 bytes.
const FGETS_CHUNK: usize = 8191;

/// A byte that may appear in an identifier or a rights string: anything above space
/// (formats.md §8; Courier's `validacl`).
fn valid_byte(b: u8) -> bool {
    b > b' '
}

// ---------------------------------------------------------------------------------
// Rights
// ---------------------------------------------------------------------------------

/// A set of access rights: bytes > 0x20, sorted by byte value, without duplicates
/// (formats.md §8). Letters are not interpreted here; `d`, `k` or `p` are stored
/// like any other byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rights(Vec<u8>);

impl Rights {
    /// No rights.
    pub fn new() -> Rights {
        Rights(Vec::new())
    }

    /// All ten rights, [`ALL_RIGHTS`].
    pub fn all() -> Rights {
        Rights(ALL_RIGHTS.as_bytes().to_vec())
    }

    /// Parses a rights string the way Courier does: `None` if any byte is a space,
    /// control character or NUL; otherwise the bytes sorted and deduplicated.
    pub fn parse(letters: impl AsRef<[u8]>) -> Option<Rights> {
        let letters = letters.as_ref();
        if !letters.iter().all(|&b| valid_byte(b)) {
            return None;
        }
        let mut v = letters.to_vec();
        v.sort_unstable();
        v.dedup();
        Some(Rights(v))
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `right` is in the set.
    pub fn contains(&self, right: u8) -> bool {
        self.0.contains(&right)
    }

    /// Whether every right of `other` is in the set.
    pub fn contains_all(&self, other: &Rights) -> bool {
        other.0.iter().all(|b| self.0.contains(b))
    }

    /// Adds every right of `other`.
    pub fn add(&mut self, other: &Rights) {
        self.0.extend_from_slice(&other.0);
        self.0.sort_unstable();
        self.0.dedup();
    }

    /// Removes every byte that occurs in `letters` (which is not validated, as in
    /// Courier's `maildir_aclt_del`).
    pub fn remove(&mut self, letters: &[u8]) {
        self.0.retain(|b| !letters.contains(b));
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

// ---------------------------------------------------------------------------------
// Identifier
// ---------------------------------------------------------------------------------

/// An ACL identifier: a non-empty string of bytes > 0x20, optionally starting with
/// `-` for a negative entry (formats.md §8).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identifier(Vec<u8>);

impl Identifier {
    /// Validates an identifier: `None` if empty or if it contains a byte <= 0x20.
    pub fn new(identifier: impl AsRef<[u8]>) -> Option<Identifier> {
        let id = identifier.as_ref();
        if id.is_empty() || !id.iter().all(|&b| valid_byte(b)) {
            return None;
        }
        Some(Identifier(id.to_vec()))
    }

    /// The identifier as stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is a negative-rights entry (`-user=eve`).
    pub fn is_negative(&self) -> bool {
        self.0.first() == Some(&b'-')
    }

    /// The identifier without a leading `-`.
    pub fn subject(&self) -> &[u8] {
        self.0.strip_prefix(b"-").unwrap_or(&self.0)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

// ---------------------------------------------------------------------------------
// Changes and violations
// ---------------------------------------------------------------------------------

/// A change to one identifier's rights, as `maildiracl -set` spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RightsChange {
    /// `rights`: replace the identifier's rights.
    Replace(Rights),
    /// `+rights`: add to the existing rights (none if the identifier is absent).
    Add(Rights),
    /// `-rights`: remove these bytes from the existing rights (not validated).
    Remove(Vec<u8>),
}

impl RightsChange {
    /// Parses `maildiracl`'s `[+|-]RIGHTS` argument. `None` when the rights to set or
    /// add contain a byte <= 0x20 (Courier fails with EINVAL); bytes to remove are
    /// not checked.
    pub fn parse(arg: impl AsRef<[u8]>) -> Option<RightsChange> {
        let arg = arg.as_ref();
        match arg.split_first() {
            Some((b'+', rest)) => Rights::parse(rest).map(RightsChange::Add),
            Some((b'-', rest)) => Some(RightsChange::Remove(rest.to_vec())),
            _ => Rights::parse(arg).map(RightsChange::Replace),
        }
    }
}

/// Why [`Acl::validate`] refused a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclViolation {
    /// The named owner identifier (`owner`, or the folder owner such as
    /// `user=bob`) would lose `l` or `a`. `maildiracl` prints
    /// `Trying to set invalid access rights for <identifier>`.
    Owner(Vec<u8>),
    /// `administrators` would lose one of the ten rights (Courier: plain EINVAL).
    Administrators,
}

impl fmt::Display for AclViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclViolation::Owner(id) => write!(
                f,
                "Trying to set invalid access rights for {}",
                String::from_utf8_lossy(id)
            ),
            AclViolation::Administrators => f.write_str("Invalid argument"),
        }
    }
}

// ---------------------------------------------------------------------------------
// Acl
// ---------------------------------------------------------------------------------

/// One `identifier rights` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// Who the entry is about.
    pub identifier: Identifier,
    /// What they may (or, for a negative entry, may not) do.
    pub rights: Rights,
}

/// An ordered access control list (formats.md §8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    entries: Vec<AclEntry>,
}

fn is_anyone(id: &[u8]) -> bool {
    id == ANYONE.as_bytes() || id == ANONYMOUS.as_bytes()
}

fn is_admin_identifier(id: &[u8]) -> bool {
    id == ADMINISTRATORS.as_bytes() || id == GROUP_ADMINISTRATORS.as_bytes()
}

fn ident(s: &str) -> Identifier {
    // Only called with the constants of this module, which are valid identifiers.
    Identifier(s.as_bytes().to_vec())
}

impl Acl {
    /// An empty list.
    pub fn new() -> Acl {
        Acl::default()
    }

    /// INBOX without a `courierimapacl`: `owner` and `administrators` with every right.
    pub fn inbox_default() -> Acl {
        let mut acl = Acl::new();
        acl.set(ident(OWNER), Rights::all());
        acl.force_administrators();
        acl
    }

    /// The fixed list used when ACLs are disabled (`disableshared`): `owner` gets
    /// [`DISABLED_OWNER_RIGHTS`], `administrators` everything. Compute with
    /// `owner_gets_admin = false` in that mode.
    pub fn disabled() -> Acl {
        let mut acl = Acl::new();
        acl.set(
            ident(OWNER),
            Rights(DISABLED_OWNER_RIGHTS.as_bytes().to_vec()),
        );
        acl.force_administrators();
        acl
    }

    /// Parses file contents exactly as Courier's reader does, without forcing the
    /// administrators entry (see [`Acl::force_administrators`]):
    ///
    /// - a line is read as by `fgets()` with an 8 KiB buffer and ends at a NUL;
    /// - the identifier runs to the first space, then spaces are skipped and the
    ///   rest is the rights string (none when there is no space);
    /// - an invalid identifier drops the line; invalid rights (a tab, a CR, a
    ///   trailing space...) drop the line too, except that an identifier already
    ///   listed is left with *no* rights (Courier frees the old rights first);
    /// - a repeated identifier replaces the earlier entry's rights in place.
    pub fn parse(data: &[u8]) -> Acl {
        let mut acl = Acl::new();
        for line in fgets_lines(data) {
            let line = match line.iter().position(|&b| b == 0) {
                Some(nul) => &line[..nul],
                None => line,
            };
            let (id, rights) = match line.iter().position(|&b| b == b' ') {
                Some(sp) => {
                    let rest = &line[sp..];
                    let skip = rest.iter().take_while(|&&b| b == b' ').count();
                    (&line[..sp], &rest[skip..])
                }
                None => (line, &line[line.len()..]),
            };
            let Some(id) = Identifier::new(id) else {
                continue;
            };
            match Rights::parse(rights) {
                Some(r) => acl.set(id, r),
                None => {
                    if let Some(e) = acl.entries.iter_mut().find(|e| e.identifier == id) {
                        e.rights = Rights::new();
                    }
                }
            }
        }
        acl
    }

    /// The file contents: `identifier SP rights LF` per entry, in order.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            out.extend_from_slice(e.identifier.as_bytes());
            out.push(b' ');
            out.extend_from_slice(e.rights.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[AclEntry] {
        &self.entries
    }

    /// The rights of `identifier` (compared byte for byte), if listed.
    pub fn get(&self, identifier: impl AsRef<[u8]>) -> Option<&Rights> {
        let id = identifier.as_ref();
        self.entries
            .iter()
            .find(|e| e.identifier.as_bytes() == id)
            .map(|e| &e.rights)
    }

    /// Sets `identifier`'s rights: replaced in place if listed, appended otherwise.
    /// An empty set is kept as an entry with no rights.
    pub fn set(&mut self, identifier: Identifier, rights: Rights) {
        match self.entries.iter_mut().find(|e| e.identifier == identifier) {
            Some(e) => e.rights = rights,
            None => self.entries.push(AclEntry { identifier, rights }),
        }
    }

    /// Removes `identifier`'s entry; returns whether there was one.
    pub fn remove(&mut self, identifier: impl AsRef<[u8]>) -> bool {
        let id = identifier.as_ref();
        let before = self.entries.len();
        self.entries.retain(|e| e.identifier.as_bytes() != id);
        self.entries.len() != before
    }

    /// Applies a `maildiracl -set` change. The entry is kept even when it ends up
    /// with no rights (unlike IMAP SETACL, see [`imap::setacl`]).
    pub fn apply(&mut self, identifier: Identifier, change: &RightsChange) {
        let mut rights = match change {
            RightsChange::Replace(r) => r.clone(),
            RightsChange::Add(_) | RightsChange::Remove(_) => {
                self.get(identifier.as_bytes()).cloned().unwrap_or_default()
            }
        };
        match change {
            RightsChange::Replace(_) => {}
            RightsChange::Add(r) => rights.add(r),
            RightsChange::Remove(letters) => rights.remove(letters),
        }
        self.set(identifier, rights);
    }

    /// What Courier does after every read: the `group=administrators` entry if there
    /// is one, else the `administrators` entry (appended if missing), gets all ten
    /// rights on top of its own; `-administrators` and `-group=administrators`
    /// entries are dropped (formats.md §8).
    pub fn force_administrators(&mut self) {
        let target = if self.get(GROUP_ADMINISTRATORS).is_some() {
            GROUP_ADMINISTRATORS
        } else {
            ADMINISTRATORS
        };
        let mut rights = Rights::all();
        if let Some(old) = self.get(target) {
            rights.add(old);
        }
        self.set(ident(target), rights);
        self.remove(b"-administrators");
        self.remove(b"-group=administrators");
    }

    /// The rights of someone to whom `identifiers` apply (formats.md §8 "Computing a
    /// user's rights"): the union of the rights of every matching positive entry,
    /// minus the union of every matching negative entry. `anyone`/`anonymous`
    /// always match; an `administrators` or `group=administrators` entry matches if
    /// either name is in `identifiers`. With `owner_gets_admin` (normal operation;
    /// false when ACLs are disabled) `owner` among `identifiers` always gets `a`.
    pub fn compute<S: AsRef<[u8]>>(&self, identifiers: &[S], owner_gets_admin: bool) -> Rights {
        let is_me = |id: &[u8]| identifiers.iter().any(|s| s.as_ref() == id);
        self.compute_with(&is_me, owner_gets_admin)
    }

    fn compute_with(&self, is_me: &dyn Fn(&[u8]) -> bool, owner_bonus: bool) -> Rights {
        let matches = |id: &[u8]| {
            if is_anyone(id) {
                true
            } else if is_admin_identifier(id) {
                is_me(ADMINISTRATORS.as_bytes()) || is_me(GROUP_ADMINISTRATORS.as_bytes())
            } else {
                is_me(id)
            }
        };
        let mut rights = Rights::new();
        for e in self.entries.iter().filter(|e| !e.identifier.is_negative()) {
            if matches(e.identifier.as_bytes()) {
                rights.add(&e.rights);
            }
        }
        for e in self.entries.iter().filter(|e| e.identifier.is_negative()) {
            if matches(e.identifier.subject()) {
                rights.remove(e.rights.as_bytes());
            }
        }
        // Courier compat: "in our scheme, the owner always gets admin rights".
        if owner_bonus && is_me(OWNER.as_bytes()) {
            rights.add(&Rights(vec![b'a']));
        }
        rights
    }

    /// The checks Courier makes before every write (formats.md §8): `owner` (and,
    /// when given, the folder's owner identifier such as `user=bob`) must keep `l`
    /// and `a` without the automatic `a`, and `administrators` must keep all ten
    /// rights.
    pub fn validate(&self, owner: Option<&[u8]>) -> std::result::Result<(), AclViolation> {
        let has_l_and_a = |r: &Rights| r.contains(b'l') && r.contains(b'a');
        let owner_only = |id: &[u8]| id == OWNER.as_bytes();
        if !has_l_and_a(&self.compute_with(&owner_only, false)) {
            return Err(AclViolation::Owner(OWNER.as_bytes().to_vec()));
        }
        if let Some(o) = owner {
            let owner_or_named = |id: &[u8]| id == OWNER.as_bytes() || id == o;
            if !has_l_and_a(&self.compute_with(&owner_or_named, false)) {
                return Err(AclViolation::Owner(o.to_vec()));
            }
        }
        let admin = |id: &[u8]| id == ADMINISTRATORS.as_bytes();
        if !self.compute_with(&admin, true).contains_all(&Rights::all()) {
            return Err(AclViolation::Administrators);
        }
        Ok(())
    }
}

/// Splits `data` the way repeated `fgets(buf, 8192)` calls do: at each LF (which is
/// removed) and every 8191 bytes; a final line without LF counts.
fn fgets_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let take = rest
            .iter()
            .take(FGETS_CHUNK)
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(rest.len().min(FGETS_CHUNK));
        let (chunk, tail) = rest.split_at(take);
        out.push(chunk.strip_suffix(b"\n").unwrap_or(chunk));
        rest = tail;
    }
    out
}

/// The identifiers that apply to account `authenticated` on a folder owned by
/// `folder_owner` (Courier's `get_owner_list`): `user=<authenticated>`, `owner` if
/// that equals `folder_owner`, and every `group=<g>` item of the comma-separated
/// `OPTIONS` value. `anyone`/`anonymous` are implied by [`Acl::compute`].
pub fn identifiers_for(
    authenticated: &str,
    folder_owner: &str,
    options: Option<&str>,
) -> Vec<String> {
    let me = format!("user={authenticated}");
    let mut ids = vec![me.clone()];
    if me == folder_owner {
        ids.push(OWNER.to_string());
    }
    for item in options.unwrap_or("").split(',') {
        if item.starts_with("group=") {
            ids.push(item.to_string());
        }
    }
    ids
}

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

/// A folder as the ACL code addresses it: INBOX or a name below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target<'a> {
    Inbox,
    Folder(&'a str),
}

impl<'a> Target<'a> {
    /// `INBOX` (any case) or `INBOX.<name>` with a name layout accepts.
    fn parse(folder: &'a str) -> Result<Target<'a>> {
        if folder.eq_ignore_ascii_case("INBOX") {
            return Ok(Target::Inbox);
        }
        match folder.get(..6) {
            Some(p) if p.eq_ignore_ascii_case("INBOX.") => {
                let name = &folder[6..];
                layout::folder_dir_name(name)?;
                Ok(Target::Folder(name))
            }
            _ => Err(MaildirError::InvalidFolderName {
                name: folder.to_string(),
            }),
        }
    }

    fn dir(self, maildir: &Path) -> Result<PathBuf> {
        match self {
            Target::Inbox => Ok(maildir.to_path_buf()),
            Target::Folder(name) => layout::folder_path(maildir, name),
        }
    }

    /// The parent: `A.B` → `A`, `A` → INBOX.
    fn parent(self) -> Target<'a> {
        match self {
            Target::Folder(name) => match name.rfind('.') {
                Some(i) => Target::Folder(&name[..i]),
                None => Target::Inbox,
            },
            Target::Inbox => Target::Inbox,
        }
    }
}

fn hier_dir(maildir: &Path) -> PathBuf {
    maildir.join(HIER_DIR)
}

/// Opens and reads a file; `Ok(None)` if it could not be opened (with the error),
/// `Err` if it opened but could not be read (Courier: `fgets` failing on a
/// directory gives EISDIR).
fn open_read(path: &Path) -> std::result::Result<Vec<u8>, (bool, io::Error)> {
    let mut f = File::open(path).map_err(|e| (false, e))?;
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(|e| (true, e))?;
    Ok(data)
}

/// Reads one ACL without inheritance: `Ok(None)` if neither the folder's file nor
/// the hierarchy file exists.
fn read_check(maildir: &Path, target: Target<'_>) -> Result<Option<Acl>> {
    let dir = target.dir(maildir)?;
    let file = dir.join(ACL_FILE);
    let data = match (target, open_read(&file)) {
        (_, Ok(data)) => data,
        (_, Err((true, e))) => return Err(MaildirError::io(&file, e)),
        // INBOX: any failure to open means "use the default" (formats.md §8).
        (Target::Inbox, Err((false, _))) => return Ok(Some(Acl::inbox_default())),
        (Target::Folder(name), Err((false, _))) => {
            let hier = hier_dir(maildir).join(name);
            match open_read(&hier) {
                Ok(data) => data,
                Err((false, e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err((_, e)) => return Err(MaildirError::io(&hier, e)),
            }
        }
    };
    let mut acl = Acl::parse(&data);
    acl.force_administrators();
    Ok(Some(acl))
}

fn read_target(maildir: &Path, target: Target<'_>) -> Result<Acl> {
    if let Some(acl) = read_check(maildir, target)? {
        return Ok(acl);
    }
    // formats.md §8: inherit the parent's list and save it for this folder. A list
    // that fails validation cannot be saved, and then the read fails (EINVAL).
    let acl = read_target(maildir, target.parent())?;
    write_target(maildir, target, &acl, None)?;
    Ok(acl)
}

/// Reads the ACL of `folder` (`INBOX` or `INBOX.<name>`) in the main maildir
/// `maildir`, applying Courier's defaults (formats.md §8):
///
/// 1. `<folder dir>/courierimapacl`; for INBOX, if it cannot be opened, the default
///    ([`Acl::inbox_default`], not written);
/// 2. for other folders `courierimaphieracl/<name>` (a hierarchy name without a
///    directory, or a folder created after its ACL was set);
/// 3. otherwise the parent's ACL, recursively, which is then written for this folder
///    (into its directory if it has a usable `tmp/`, else `courierimaphieracl/`).
///
/// Every list read is passed through [`Acl::force_administrators`].
pub fn read(maildir: &Path, folder: &str) -> Result<Acl> {
    read_target(maildir, Target::parse(folder)?)
}

fn write_target(maildir: &Path, target: Target<'_>, acl: &Acl, owner: Option<&[u8]>) -> Result<()> {
    acl.validate(owner).map_err(|_| MaildirError::InvalidAcl)?;
    let data = acl.render();
    let dir = target.dir(maildir)?;
    let (mut tmp, dest) = match (
        TmpFile::create(&dir, Some("acl"), None, CONTROL_MODE),
        target,
    ) {
        (Ok(tmp), _) => (tmp, dir.join(ACL_FILE)),
        // No usable folder directory: a hierarchy-only name (formats.md §8).
        (Err(_), Target::Folder(name)) => {
            let tmp = TmpFile::create(maildir, Some("acl"), None, CONTROL_MODE)?;
            let hier = hier_dir(maildir);
            if !hier.is_dir() {
                // Courier creates it 0755 (under the umask) on demand; a failure shows
                // up as the rename error.
                let _ = fs::DirBuilder::new().mode(0o755).create(&hier);
            }
            (tmp, hier.join(name))
        }
        (Err(e), Target::Inbox) => return Err(e),
    };
    tmp.write_all(&data)?;
    tmp.rename_to(&dest)
}

/// Writes the ACL of `folder` after [`Acl::validate`] (with `owner`, the folder
/// owner's identifier such as `user=bob`, if known; `maildiracl` passes `owner`):
/// a refused list gives [`MaildirError::InvalidAcl`]. The file goes through a tmp
/// file (`_acl` in its name) and `rename()`, into the folder directory, or into
/// `courierimaphieracl/<name>` when the folder has no usable `tmp/`.
pub fn write(maildir: &Path, folder: &str, acl: &Acl, owner: Option<&[u8]>) -> Result<()> {
    write_target(maildir, Target::parse(folder)?, acl, owner)
}

/// [`write`] while holding the main maildir's `tmp/courier.lock` (formats.md §8,
/// §13: imapd does this when `IMAP_USELOCKS` is on).
pub fn write_locked(
    maildir: &Path,
    folder: &str,
    acl: &Acl,
    owner: Option<&[u8]>,
    timeout: Duration,
) -> Result<()> {
    let _lock = DotLock::acquire(maildir, timeout)?;
    write(maildir, folder, acl, owner)
}

/// Removes `folder`'s ACL file and its `courierimaphieracl/` entry, ignoring files
/// that are already gone (Courier's `maildir_acl_delete`, used around CREATE and
/// DELETE). INBOX has no hierarchy entry.
pub fn delete(maildir: &Path, folder: &str) -> Result<()> {
    let target = Target::parse(folder)?;
    let _ = fs::remove_file(target.dir(maildir)?.join(ACL_FILE));
    if let Target::Folder(name) = target {
        let _ = fs::remove_file(hier_dir(maildir).join(name));
    }
    Ok(())
}

/// Removes stale `courierimaphieracl/` entries (`maildiracl -reset`, also run by
/// imapd at login): an entry `X` is kept while some folder `.X.<something>` with a
/// `cur/` exists; otherwise it is removed once its mtime is more than
/// [`HIER_STALE_AFTER`] old. The directory is created (0755) if missing. Like
/// Courier, individual failures are ignored. Returns how many entries were removed.
pub fn reset(maildir: &Path) -> Result<usize> {
    reset_at(maildir, SystemTime::now())
}

fn reset_at(maildir: &Path, now: SystemTime) -> Result<usize> {
    let hier = hier_dir(maildir);
    let entries = match fs::read_dir(&hier) {
        Ok(rd) => rd,
        Err(_) => {
            let _ = fs::DirBuilder::new().mode(0o755).create(&hier);
            match fs::read_dir(&hier) {
                Ok(rd) => rd,
                Err(_) => return Ok(0),
            }
        }
    };
    let mut candidates: Vec<Vec<u8>> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().as_bytes().to_vec())
        .filter(|n| n.first() != Some(&b'.'))
        .collect();
    let folders = layout::list_folders(maildir, true).unwrap_or_default();
    for f in folders {
        if !maildir.join(format!(".{f}")).join("cur").is_dir() {
            continue;
        }
        candidates.retain(|c| {
            let f = f.as_bytes();
            !(f.len() > c.len() && f.starts_with(c) && f[c.len()] == b'.')
        });
    }
    let cutoff = now
        .checked_sub(HIER_STALE_AFTER)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(i64::MIN);
    let mut removed = 0;
    for c in candidates {
        let path = hier.join(OsStr::from_bytes(&c));
        if let Ok(meta) = fs::metadata(&path)
            && meta.mtime() < cutoff
            && fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Reads, modifies and writes an ACL under the main maildir's dot-lock, as imapd's
/// SETACL/DELETEACL do. `change` returns `false` to abandon the write (for example
/// when the requested rights were invalid); the result says whether it was written.
pub fn modify_locked(
    maildir: &Path,
    folder: &str,
    owner: Option<&[u8]>,
    timeout: Duration,
    change: impl FnOnce(&mut Acl) -> bool,
) -> Result<bool> {
    let _lock = DotLock::acquire(maildir, timeout)?;
    let mut acl = read(maildir, folder)?;
    if !change(&mut acl) {
        return Ok(false);
    }
    write(maildir, folder, &acl, owner)?;
    Ok(true)
}

/// The path a folder's own ACL file would have (for diagnostics and tests).
pub fn acl_file_path(maildir: &Path, folder: &str) -> Result<PathBuf> {
    Ok(Target::parse(folder)?.dir(maildir)?.join(ACL_FILE))
}

// ---------------------------------------------------------------------------------
// IMAP presentation
// ---------------------------------------------------------------------------------

/// How imapd shows and accepts ACLs (formats.md §8 "IMAP presentation"): the legacy
/// RFC 2086 `d` right stands for Courier's `e t x`. These functions return raw
/// strings; quoting belongs to the IMAP layer.
pub mod imap {
    use super::{Acl, Identifier, Rights, is_anyone};

    fn has_etx(r: &[u8]) -> bool {
        r.contains(&b'e') && r.contains(&b't') && r.contains(&b'x')
    }

    fn d_for_etx(r: &[u8], all_three: bool) -> Vec<u8> {
        let mut v = r.to_vec();
        if all_three && let Some(i) = v.iter().position(|&b| b == b'e') {
            v[i] = b'd';
        }
        v.retain(|b| !matches!(b, b'e' | b't' | b'x'));
        v
    }

    /// `* OK [MYRIGHTS "…"]` after SELECT and the LIST-extension rights (Courier's
    /// `writeacl`): as stored, except that when `e`, `t` and `x` are all present the
    /// `e` becomes `d` and `t`, `x` go (`aceilrstwx` → `acdilrsw`).
    pub fn myrights_select(rights: &Rights) -> Vec<u8> {
        let r = rights.as_bytes();
        if has_etx(r) {
            d_for_etx(r, true)
        } else {
            r.to_vec()
        }
    }

    /// GETACL and MYRIGHTS rights (Courier's `writeacl1`): `e`, `t`, `x` are always
    /// removed; `d` appears in place of `e` only if all three were present.
    pub fn getacl_rights(rights: &Rights) -> Vec<u8> {
        let r = rights.as_bytes();
        d_for_etx(r, has_etx(r))
    }

    /// How GETACL shows an identifier: `None` for identifiers with a `=` other than
    /// `user=` (e.g. `group=…`, never shown); `user=` is stripped, a leading `-` kept
    /// (`-user=eve` → `-eve`).
    pub fn getacl_identifier(identifier: &Identifier) -> Option<Vec<u8>> {
        let subject = identifier.subject();
        let shown = if subject.contains(&b'=') {
            subject.strip_prefix(b"user=")?
        } else {
            subject
        };
        let mut out = Vec::with_capacity(shown.len() + 1);
        if identifier.is_negative() {
            out.push(b'-');
        }
        out.extend_from_slice(shown);
        Some(out)
    }

    /// The `* ACL` response pairs, in list order.
    pub fn getacl_entries(acl: &Acl) -> Vec<(Vec<u8>, Vec<u8>)> {
        acl.entries()
            .iter()
            .filter_map(|e| Some((getacl_identifier(&e.identifier)?, getacl_rights(&e.rights))))
            .collect()
    }

    /// Maps a SETACL/DELETEACL identifier to the stored one (Courier's
    /// `acl2_identifier`): `anyone`, `anonymous`, `authuser`, `owner`,
    /// `administrators`, optionally `-`-prefixed, are kept; any other identifier
    /// containing `=` is refused (`None`: `NO Invalid ACL identifier.`); everything
    /// else becomes `[-]user=<id>`.
    pub fn setacl_identifier(identifier: &str) -> Option<String> {
        let (neg, subject) = match identifier.strip_prefix('-') {
            Some(s) => ("-", s),
            None => ("", identifier),
        };
        if matches!(
            subject,
            "anyone" | "anonymous" | "authuser" | "owner" | "administrators"
        ) {
            return Some(identifier.to_string());
        }
        if subject.contains('=') {
            return None;
        }
        Some(format!("{neg}user={subject}"))
    }

    /// Expands the legacy `d` in requested rights (Courier's `fix_acl_delete`): if
    /// any `d` is present, all are removed and `xte` appended.
    pub fn expand_d(rights: &[u8]) -> Vec<u8> {
        if !rights.contains(&b'd') {
            return rights.to_vec();
        }
        let mut v: Vec<u8> = rights.iter().copied().filter(|&b| b != b'd').collect();
        v.extend_from_slice(b"xte");
        v
    }

    /// Applies SETACL (`request` as sent) or DELETEACL (`request` empty) to `acl` for
    /// an identifier already mapped by [`setacl_identifier`], as imapd's
    /// `do_acl_mod` does: `+r` adds, `-r` removes (the entry is deleted when nothing
    /// is left), an empty request deletes, anything else replaces; `d` is expanded
    /// first. `None` if the identifier or the rights contain a byte <= 0x20
    /// (`NO Cannot modify ACLs on this mailbox.`). The caller then writes with the
    /// folder owner for validation.
    pub fn setacl(acl: &mut Acl, identifier: &str, request: &[u8]) -> Option<()> {
        let id = Identifier::new(identifier)?;
        match request.split_first() {
            None => {
                acl.remove(id.as_bytes());
            }
            Some((b'+', rest)) => {
                let mut rights = Rights::parse(expand_d(rest))?;
                if let Some(old) = acl.get(id.as_bytes()) {
                    rights.add(old);
                }
                acl.set(id, rights);
            }
            Some((b'-', rest)) => {
                let mut rights = acl.get(id.as_bytes()).cloned().unwrap_or_default();
                rights.remove(&expand_d(rest));
                if rights.is_empty() {
                    acl.remove(id.as_bytes());
                } else {
                    acl.set(id, rights);
                }
            }
            Some(_) => {
                let rights = Rights::parse(expand_d(request))?;
                acl.set(id, rights);
            }
        }
        Some(())
    }

    /// LISTRIGHTS for `identifier` on a folder owned by `folder_owner` (e.g.
    /// `user=bob`): the required rights and the optional ones, as Courier lists them
    /// (`* LISTRIGHTS "INBOX" "bob" "" a c d i l p r s w`).
    pub fn listrights(
        identifier: &[u8],
        folder_owner: &[u8],
    ) -> (&'static str, &'static [&'static str]) {
        const NO_ADMIN: &[&str] = &["c", "d", "i", "p", "r", "s", "w"];
        const ALL: &[&str] = &["a", "c", "d", "i", "l", "p", "r", "s", "w"];
        let owner_login = folder_owner.strip_prefix(b"user=");
        if let Some(rest) = identifier.strip_prefix(b"-")
            && (is_anyone(rest) || owner_login == Some(rest))
        {
            return ("", NO_ADMIN);
        }
        if owner_login == Some(identifier) {
            return ("al", NO_ADMIN);
        }
        ("", ALL)
    }

    /// Whether `rights` allow MYRIGHTS/LISTRIGHTS at all (Courier's
    /// `maildir_acl_canlistrights`): one of `l r i c x e a`.
    pub fn can_list_rights(rights: &Rights) -> bool {
        rights.as_bytes().iter().any(|b| b"lricxea".contains(b))
    }

    /// Whether SELECT with `rights` ends `[READ-ONLY]`: none of `i e s w t`.
    pub fn select_is_read_only(rights: &Rights) -> bool {
        !rights.as_bytes().iter().any(|b| b"iestw".contains(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn r(s: &str) -> Rights {
        Rights::parse(s).unwrap()
    }

    fn id(s: &str) -> Identifier {
        Identifier::new(s).unwrap()
    }

    fn text(acl: &Acl) -> String {
        String::from_utf8(acl.render()).unwrap()
    }

    const RIGHTS_CASES: &[(&[u8], Option<&[u8]>)] = &[
        (b"aceilrstwx", Some(b"aceilrstwx")),
        (b"xwtsrlieca", Some(b"aceilrstwx")),
        (b"lrdd", Some(b"dlr")),
        (b"", Some(b"")),
        (b"+k-", Some(b"+-k")),
        (b"\xe9la\xffA", Some(b"Aal\xe9\xff")),
        (b"l r", None),
        (b"lr ", None),
        (b"l\tr", None),
        (b"l\rr", None),
        (b"l\x01", None),
        (b"l\0", None),
    ];

    #[test]
    fn rights_parse_sorts_dedups_and_rejects_blanks() {
        for (input, want) in RIGHTS_CASES {
            let got = Rights::parse(input).map(|r| r.as_bytes().to_vec());
            assert_eq!(got.as_deref(), *want, "{input:?}");
        }
    }

    #[test]
    fn identifiers_reject_empty_and_blanks() {
        for ok in ["owner", "-user=eve", "group=x", "\u{e9}x=1", "-"] {
            assert!(Identifier::new(ok).is_some(), "{ok:?}");
        }
        for bad in ["", "user=a b", "a\tb", "a\nb", "a\0"] {
            assert!(Identifier::new(bad).is_none(), "{bad:?}");
        }
        assert!(id("-user=eve").is_negative());
        assert_eq!(id("-user=eve").subject(), b"user=eve");
        assert_eq!(id("owner").subject(), b"owner");
    }

    /// (file contents, rendered list after parsing, without forced administrators)
    /// Each case was checked against Debian's maildiracl -list.
    const PARSE_CASES: &[(&[u8], &str)] = &[
        (b"owner aceilrstwx\n", "owner aceilrstwx\n"),
        (b"owner   xwtsrlieca", "owner aceilrstwx\n"),
        (b"owner lr \n", ""),
        (b"user=b\nuser=c \n", "user=b \nuser=c \n"),
        (b"\n \n", ""),
        (b"user=d l\tr\nuser=e l\rr\nuser=f zy\x01\n", ""),
        (b"owner aceilrstwx\nowner xx\n", "owner x\n"),
        (b"user=a lr\nuser=a l\tr\n", "user=a \n"),
        (b"user=a lr\0junk\nuser=b\0 lr\n", "user=a lr\nuser=b \n"),
        (
            b"owner aceilrstwx\nuser=g \xe9la\xffA\n",
            "owner aceilrstwx\nuser=g Aal\u{fffd}\u{fffd}\n",
        ),
    ];

    #[test]
    fn parse_matches_courier_reader() {
        for (input, want) in PARSE_CASES {
            let got = String::from_utf8_lossy(&Acl::parse(input).render()).into_owned();
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn long_lines_are_split_like_fgets() {
        let mut data = b"user=".to_vec();
        data.resize(FGETS_CHUNK, b'x');
        data.extend_from_slice(b"\nowner lr\n");
        // The 8191-byte chunk is an identifier without rights; the LF that follows
        // becomes an empty (dropped) line.
        let acl = Acl::parse(&data);
        assert_eq!(acl.entries().len(), 2);
        assert_eq!(acl.entries()[0].identifier.as_bytes().len(), FGETS_CHUNK);
        assert_eq!(acl.get("owner"), Some(&r("lr")));
    }

    #[test]
    fn render_round_trips_canonical_files() {
        let file = b"owner aceilrstwx\nadministrators aceilrstwx\nuser=bob lr\nanyone lrs\n-user=eve lr\nuser=c \n";
        assert_eq!(Acl::parse(file).render(), file.to_vec());
    }

    #[test]
    fn administrators_are_forced_on_every_read() {
        let cases: &[(&str, &str)] = &[
            ("owner lr\n", "owner lr\nadministrators aceilrstwx\n"),
            (
                "administrators l\nowner lr\n",
                "administrators aceilrstwx\nowner lr\n",
            ),
            ("administrators k\n", "administrators aceiklrstwx\n"),
            (
                "administrators l\ngroup=administrators lr\n-administrators a\n-group=administrators l\n",
                "administrators l\ngroup=administrators aceilrstwx\n",
            ),
        ];
        for (input, want) in cases {
            let mut acl = Acl::parse(input.as_bytes());
            acl.force_administrators();
            assert_eq!(text(&acl), *want, "{input:?}");
        }
    }

    /// (file, identifiers, owner bonus, expected); observed with maildiracl -compute.
    const COMPUTE_CASES: &[(&str, &[&str], bool, &str)] = &[
        (
            "owner aceilrstwx\nuser=a \nanyone l\n-anyone l\n-user=a r\nadministrators aceilrstwx\n",
            &["user=a", "owner"],
            true,
            "aceistwx",
        ),
        (
            "owner aceilrstwx\nuser=a \nanyone l\n-anyone l\n-user=a r\n",
            &["anyone"],
            true,
            "",
        ),
        (
            "owner x\nuser=b \nanyone lx\ngroup=administrators aceilrstwx\n",
            &["owner"],
            true,
            "alx",
        ),
        (
            "owner x\nanyone lx\ngroup=administrators aceilrstwx\n",
            &["administrators"],
            true,
            "aceilrstwx",
        ),
        (
            "owner aceilrstwx\nuser=bob lr\nanyone +lrs\n-user=eve rl\n",
            &["user=eve"],
            true,
            "+s",
        ),
        (
            "owner aceilrstwx\nuser=bob lr\nanyone lrs\n-user=eve lr\n",
            &["user=eve"],
            true,
            "s",
        ),
        ("owner ceilrstwx\n", &["owner"], false, "ceilrstwx"),
        ("owner ceilrstwx\n", &["owner"], true, "aceilrstwx"),
        (
            "anonymous l\nadministrators a\n",
            &["group=administrators"],
            true,
            "al",
        ),
    ];

    #[test]
    fn compute_is_union_minus_negatives() {
        for (file, ids, bonus, want) in COMPUTE_CASES {
            let acl = Acl::parse(file.as_bytes());
            assert_eq!(acl.compute(ids, *bonus), r(want), "{file:?} {ids:?}");
        }
    }

    #[test]
    fn validate_protects_owner_and_administrators() {
        let ok = Acl::inbox_default();
        assert_eq!(ok.validate(None), Ok(()));
        assert_eq!(ok.validate(Some(b"user=bob")), Ok(()));

        let mut a = Acl::inbox_default();
        a.set(id("owner"), r("lr"));
        assert_eq!(
            a.validate(None),
            Err(AclViolation::Owner(b"owner".to_vec()))
        );

        let mut a = Acl::inbox_default();
        a.set(id("-anyone"), r("l"));
        assert_eq!(
            a.validate(None),
            Err(AclViolation::Owner(b"owner".to_vec()))
        );

        let mut a = Acl::inbox_default();
        a.set(id("-user=bob"), r("a"));
        assert_eq!(a.validate(None), Ok(()));
        assert_eq!(
            a.validate(Some(b"user=bob")),
            Err(AclViolation::Owner(b"user=bob".to_vec()))
        );

        let mut a = Acl::inbox_default();
        a.set(id("administrators"), r("lr"));
        assert_eq!(a.validate(None), Err(AclViolation::Administrators));
        a.set(id("group=administrators"), Rights::all());
        assert_eq!(a.validate(None), Ok(()));

        let mut a = Acl::inbox_default();
        a.remove("administrators");
        assert_eq!(a.validate(None), Err(AclViolation::Administrators));
        assert_eq!(
            AclViolation::Owner(b"owner".to_vec()).to_string(),
            "Trying to set invalid access rights for owner"
        );
    }

    #[test]
    fn maildiracl_changes_keep_empty_entries() {
        let mut acl = Acl::inbox_default();
        let change = |s: &str| RightsChange::parse(s).unwrap();
        acl.apply(id("user=c"), &change(""));
        acl.apply(id("user=d"), &change("-"));
        acl.apply(id("user=e"), &change("+"));
        acl.apply(id("anyone"), &change("+lrs"));
        acl.apply(id("anyone"), &change("-s\x01"));
        acl.apply(id("user=x"), &change("lrdd"));
        assert_eq!(
            text(&acl),
            "owner aceilrstwx\nadministrators aceilrstwx\nuser=c \nuser=d \nuser=e \nanyone lr\nuser=x dlr\n"
        );
        assert!(RightsChange::parse("+\x01").is_none());
        assert!(RightsChange::parse("l r").is_none());
        assert_eq!(
            RightsChange::parse("-l r"),
            Some(RightsChange::Remove(b"l r".to_vec()))
        );
    }

    #[test]
    fn identifiers_for_login_owner_and_groups() {
        assert_eq!(
            identifiers_for(
                "bob",
                "user=bob",
                Some("disableshared=0,group=staff,,group=x")
            ),
            vec!["user=bob", "owner", "group=staff", "group=x"]
        );
        assert_eq!(identifiers_for("eve", "user=bob", None), vec!["user=eve"]);
        let acl = Acl::inbox_default();
        let ids = identifiers_for("bob", "user=bob", None);
        assert_eq!(acl.compute(&ids, true), Rights::all());
        assert_eq!(Acl::disabled().compute(&ids, false), r("ceilrstwx"));
    }

    // ---- IMAP presentation ----

    const MYRIGHTS_SELECT: &[(&str, &str)] = &[
        ("aceilrstwx", "acdilrsw"),
        ("elrtx", "dlr"),
        ("elr", "elr"),
        ("lrtx", "lrtx"),
        ("delrtx", "ddlr"),
        ("", ""),
    ];

    const GETACL_RIGHTS: &[(&str, &str)] = &[
        ("aceilrstwx", "acdilrsw"),
        ("elrtx", "dlr"),
        ("elr", "lr"),
        ("ltx", "l"),
        ("lrs", "lrs"),
    ];

    #[test]
    fn legacy_d_presentation() {
        for (stored, shown) in MYRIGHTS_SELECT {
            assert_eq!(
                imap::myrights_select(&r(stored)),
                shown.as_bytes(),
                "{stored}"
            );
        }
        for (stored, shown) in GETACL_RIGHTS {
            assert_eq!(
                imap::getacl_rights(&r(stored)),
                shown.as_bytes(),
                "{stored}"
            );
        }
    }

    #[test]
    fn getacl_hides_groups_and_strips_user() {
        let cases: &[(&str, Option<&str>)] = &[
            ("owner", Some("owner")),
            ("administrators", Some("administrators")),
            ("group=administrators", None),
            ("-group=x", None),
            ("user=bob", Some("bob")),
            ("-user=eve", Some("-eve")),
            ("anyone", Some("anyone")),
        ];
        for (stored, shown) in cases {
            assert_eq!(
                imap::getacl_identifier(&id(stored)).as_deref(),
                shown.map(str::as_bytes),
                "{stored}"
            );
        }
    }

    #[test]
    fn setacl_identifier_mapping() {
        let cases: &[(&str, Option<&str>)] = &[
            ("bob", Some("user=bob")),
            ("-eve", Some("-user=eve")),
            ("anyone", Some("anyone")),
            ("-anonymous", Some("-anonymous")),
            ("authuser", Some("authuser")),
            ("owner", Some("owner")),
            ("administrators", Some("administrators")),
            ("group=x", None),
            ("user=bob", None),
            ("-group=x", None),
        ];
        for (given, want) in cases {
            assert_eq!(imap::setacl_identifier(given).as_deref(), *want, "{given}");
        }
        assert_eq!(imap::expand_d(b"lrd"), b"lrxte");
        assert_eq!(imap::expand_d(b"dd"), b"xte");
        assert_eq!(imap::expand_d(b"lr"), b"lr");
    }

    /// Replays the SETACL steps of a Debian imapd session and compares the file and
    /// GETACL output it produced.
    #[test]
    fn setacl_sequence_matches_debian_imapd() {
        let mut acl = Acl::inbox_default();
        let step = |acl: &mut Acl, who: &str, req: &str| {
            let who = imap::setacl_identifier(who).unwrap();
            imap::setacl(acl, &who, req.as_bytes()).unwrap();
        };
        step(&mut acl, "bob", "lrd");
        assert_eq!(acl.get("user=bob"), Some(&r("elrtx")));
        step(&mut acl, "bob", "-d");
        assert_eq!(acl.get("user=bob"), Some(&r("lr")));
        step(&mut acl, "bob", "-lr");
        assert_eq!(acl.get("user=bob"), None);
        step(&mut acl, "-eve", "+ltx");
        step(&mut acl, "anyone", "");
        assert_eq!(acl.get("anyone"), None);
        step(&mut acl, "anyone", "+");
        assert_eq!(
            text(&acl),
            "owner aceilrstwx\nadministrators aceilrstwx\n-user=eve ltx\nanyone \n"
        );
        let shown: Vec<(String, String)> = imap::getacl_entries(&acl)
            .into_iter()
            .map(|(a, b)| (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("owner".into(), "acdilrsw".into()),
                ("administrators".into(), "acdilrsw".into()),
                ("-eve".into(), "l".into()),
                ("anyone".into(), "".into()),
            ]
        );
        assert!(imap::setacl(&mut acl, "user=x", b"l r").is_none());
        let mut bad = acl.clone();
        imap::setacl(&mut bad, "owner", b"lr").unwrap();
        assert!(bad.validate(Some(b"user=root")).is_err());
    }

    #[test]
    fn listrights_forms() {
        assert_eq!(
            imap::listrights(b"bob", b"user=root"),
            ("", &["a", "c", "d", "i", "l", "p", "r", "s", "w"][..])
        );
        assert_eq!(
            imap::listrights(b"root", b"user=root"),
            ("al", &["c", "d", "i", "p", "r", "s", "w"][..])
        );
        assert_eq!(
            imap::listrights(b"-anyone", b"user=root"),
            ("", &["c", "d", "i", "p", "r", "s", "w"][..])
        );
        assert_eq!(imap::listrights(b"-root", b"user=root").0, "");
        assert!(imap::can_list_rights(&r("x")));
        assert!(!imap::can_list_rights(&r("stw")));
        assert!(imap::select_is_read_only(&r("lr")));
        assert!(!imap::select_is_read_only(&r("lrs")));
    }

    // ---- files ----

    fn maildir(folders: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("Maildir");
        layout::create(&m, layout::Sharing::Private, false).unwrap();
        for f in folders {
            layout::create(&m.join(format!(".{f}")), layout::Sharing::Private, true).unwrap();
        }
        (t, m)
    }

    fn tmp_is_empty(dir: &Path) -> bool {
        fs::read_dir(dir.join("tmp")).unwrap().next().is_none()
    }

    #[test]
    fn inbox_default_is_not_written() {
        let (_t, m) = maildir(&[]);
        assert_eq!(read(&m, "INBOX").unwrap(), Acl::inbox_default());
        assert_eq!(read(&m, "inbox").unwrap(), Acl::inbox_default());
        assert!(!m.join(ACL_FILE).exists());
    }

    #[test]
    fn folder_inherits_and_saves_parent_list() {
        let (_t, m) = maildir(&["A.B.C"]);
        let mut inbox = Acl::inbox_default();
        inbox.set(id("user=bob"), r("lr"));
        write(&m, "INBOX", &inbox, Some(b"owner")).unwrap();
        assert_eq!(
            fs::read_to_string(m.join(ACL_FILE)).unwrap(),
            "owner aceilrstwx\nadministrators aceilrstwx\nuser=bob lr\n"
        );
        let got = read(&m, "INBOX.A.B.C").unwrap();
        assert_eq!(got, inbox);
        // Every level was saved: the folder in its directory, the hierarchy-only
        // names under courierimaphieracl/.
        assert_eq!(
            fs::read(m.join(".A.B.C").join(ACL_FILE)).unwrap(),
            inbox.render()
        );
        assert_eq!(
            fs::read(m.join(HIER_DIR).join("A.B")).unwrap(),
            inbox.render()
        );
        assert_eq!(
            fs::read(m.join(HIER_DIR).join("A")).unwrap(),
            inbox.render()
        );
        let mode = fs::metadata(m.join(HIER_DIR)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o700, 0o700);
        assert!(tmp_is_empty(&m) && tmp_is_empty(&m.join(".A.B.C")));
    }

    #[test]
    fn hierarchy_file_is_read_when_folder_has_none() {
        let (_t, m) = maildir(&[]);
        let mut acl = Acl::inbox_default();
        acl.set(id("anyone"), r("lrs"));
        write(&m, "INBOX.X", &acl, None).unwrap();
        assert!(m.join(HIER_DIR).join("X").is_file());
        layout::create(&m.join(".X"), layout::Sharing::Private, true).unwrap();
        assert_eq!(read(&m, "INBOX.X").unwrap(), acl);
        // Once the folder exists, a write goes into its directory.
        acl.set(id("anyone"), r("l"));
        write(&m, "INBOX.X", &acl, None).unwrap();
        assert_eq!(read(&m, "INBOX.X").unwrap(), acl);
        assert!(m.join(".X").join(ACL_FILE).is_file());
        delete(&m, "INBOX.X").unwrap();
        assert!(!m.join(".X").join(ACL_FILE).exists());
        assert!(!m.join(HIER_DIR).join("X").exists());
    }

    #[test]
    fn invalid_inherited_list_makes_read_fail() {
        let (_t, m) = maildir(&["Sub"]);
        fs::write(m.join(ACL_FILE), "owner aceilrstwx\nanyone l\n-anyone l\n").unwrap();
        assert!(read(&m, "INBOX").is_ok());
        assert!(matches!(
            read(&m, "INBOX.Sub"),
            Err(MaildirError::InvalidAcl)
        ));
        assert!(!m.join(".Sub").join(ACL_FILE).exists());
    }

    #[test]
    fn write_refuses_invalid_lists_and_bad_names() {
        let (_t, m) = maildir(&[]);
        let mut acl = Acl::inbox_default();
        acl.set(id("owner"), r("lr"));
        assert!(matches!(
            write(&m, "INBOX", &acl, None),
            Err(MaildirError::InvalidAcl)
        ));
        for bad in ["INBOX.", "INBOX..x", "INBOX.a/b", "Other", "INBOX.x."] {
            assert!(
                matches!(read(&m, bad), Err(MaildirError::InvalidFolderName { .. })),
                "{bad}"
            );
        }
        assert!(!m.join(ACL_FILE).exists());
    }

    #[test]
    fn unreadable_acl_file_is_an_error() {
        let (_t, m) = maildir(&[]);
        fs::create_dir(m.join(ACL_FILE)).unwrap();
        let err = read(&m, "INBOX").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::EISDIR));
    }

    #[test]
    fn locked_modification_round_trip() {
        let (_t, m) = maildir(&["Work"]);
        let wrote = modify_locked(
            &m,
            "INBOX.Work",
            Some(b"user=me"),
            Duration::from_secs(1),
            |acl| imap::setacl(acl, "user=bob", b"lrd").is_some(),
        )
        .unwrap();
        assert!(wrote);
        assert_eq!(
            read(&m, "INBOX.Work").unwrap().get("user=bob"),
            Some(&r("elrtx"))
        );
        assert!(!DotLock::path_for(&m).exists());
        let acl = read(&m, "INBOX").unwrap();
        write_locked(&m, "INBOX", &acl, None, Duration::from_secs(1)).unwrap();
        assert_eq!(
            acl_file_path(&m, "INBOX.Work").unwrap(),
            m.join(".Work").join(ACL_FILE)
        );
    }

    #[test]
    fn reset_removes_only_old_entries_without_subfolders() {
        let (_t, m) = maildir(&["A.B", "Flat"]);
        let hier = m.join(HIER_DIR);
        fs::create_dir(&hier).unwrap();
        for name in ["A", "A.B", "Flat", "Gone", ".hidden"] {
            fs::write(hier.join(name), "owner aceilrstwx\n").unwrap();
        }
        fs::write(hier.join("Fresh"), "owner aceilrstwx\n").unwrap();
        let old = SystemTime::now() - Duration::from_secs(7200);
        for name in ["A", "A.B", "Flat", "Gone", ".hidden"] {
            File::options()
                .write(true)
                .open(hier.join(name))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        assert_eq!(reset(&m).unwrap(), 3);
        let mut left: Vec<_> = fs::read_dir(&hier)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        // A is kept because .A.B exists; A.B and Flat have no folder below them.
        assert_eq!(left, vec![".hidden", "A", "Fresh"]);
    }

    #[test]
    fn reset_creates_missing_directory_and_tolerates_missing_maildir() {
        let (t, m) = maildir(&[]);
        assert_eq!(reset(&m).unwrap(), 0);
        assert!(m.join(HIER_DIR).is_dir());
        assert_eq!(reset(&t.path().join("nope")).unwrap(), 0);
    }
}
