//! `AUTH_MKHOMEDIR_SKEL`: create a missing home directory from a skeleton, as
//! courier-authlib's `auth_mkhomedir()` does, as root and before the privilege
//! drop (programs.md, imaplogin).
//!
//! Courier's rules: only when the variable is set and non-empty, the account has
//! an address and a uid (or system user name), the home does not exist (ENOENT)
//! and the skeleton exists. The home gets the skeleton directory's mode; entries
//! are copied recursively: directories, regular files (content and mode) and
//! symbolic links (as links); everything is owned by the account (system accounts:
//! `getpwnam`'s uid and primary gid). Problems are warnings, never errors: the
//! login then fails, if at all, when the home cannot be entered.
//!
//! Unlike Courier, every step after `mkdir(home)` works through directory file
//! descriptors opened with `O_NOFOLLOW` and checked to be ours, and ownership is
//! handed over bottom-up, each directory last: while root writes into the tree,
//! no directory of it belongs to the account, so a concurrent session of the same
//! account cannot redirect root's writes with symbolic links.

use crate::session::Logger;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fchmod, fstat, mkdirat};
use nix::unistd::{Gid, Uid, fchown, fchownat};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const DIR_FLAGS: OFlag = OFlag::O_DIRECTORY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_RDONLY)
    .union(OFlag::O_CLOEXEC);

fn warn(log: &mut Logger, what: &Path, e: impl std::fmt::Display) {
    log.safe(format!("WARN: {}: {e}!!", what.display()).as_bytes());
}

/// Creates `home` from `skel` for `uid`/`gid` (the caller checked the
/// conditions). Never fails: problems are logged as Courier's `WARN:` lines.
pub fn make_home(skel: &Path, home: &Path, uid: u32, gid: u32, log: &mut Logger) {
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    let skel_mode = match std::fs::metadata(skel) {
        Ok(m) => Mode::from_bits_truncate(m.mode() & 0o7777),
        Err(e) => return warn(log, skel, courier_common::strerror(&e)),
    };
    if let Err(e) = nix::unistd::mkdir(home, Mode::from_bits_truncate(0o700)) {
        return warn(log, home, e.desc());
    }
    let fd = match nix::fcntl::open(home, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => return warn(log, home, e.desc()),
    };
    if !ours(&fd) {
        return warn(log, home, "replaced while being created");
    }
    copy_dir(skel, &fd, uid, gid, log);
    if let Err(e) = fchmod(&fd, skel_mode).and_then(|()| fchown(&fd, Some(uid), Some(gid))) {
        warn(log, skel, e.desc());
    }
}

/// The directory we just created: owned by us, not by anyone else.
fn ours(fd: &OwnedFd) -> bool {
    fstat(fd).is_ok_and(|st| {
        st.st_uid == nix::unistd::geteuid().as_raw() && st.st_mode & libc_s_ifmt() == 0o040000
    })
}

fn libc_s_ifmt() -> u32 {
    0o170000
}

fn copy_dir(src: &Path, dst: &OwnedFd, uid: Uid, gid: Gid, log: &mut Logger) {
    let entries = match std::fs::read_dir(src) {
        Ok(e) => e,
        Err(e) => return warn(log, src, courier_common::strerror(&e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let from = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        let ft = meta.file_type();
        if ft.is_dir() {
            if let Err(e) = mkdirat(dst, name.as_os_str(), Mode::from_bits_truncate(0o700)) {
                warn(log, &from, e.desc());
                continue;
            }
            let sub = match openat(dst, name.as_os_str(), DIR_FLAGS, Mode::empty()) {
                Ok(fd) if ours(&fd) => fd,
                Ok(_) => continue,
                Err(e) => {
                    warn(log, &from, e.desc());
                    continue;
                }
            };
            copy_dir(&from, &sub, uid, gid, log);
            if let Err(e) = fchmod(&sub, mode).and_then(|()| fchown(&sub, Some(uid), Some(gid))) {
                warn(log, &from, e.desc());
            }
        } else if ft.is_symlink() {
            let target = match std::fs::read_link(&from) {
                Ok(t) => t,
                Err(e) => {
                    warn(log, &from, courier_common::strerror(&e));
                    continue;
                }
            };
            let r =
                nix::unistd::symlinkat(target.as_os_str(), dst, name.as_os_str()).and_then(|()| {
                    fchownat(
                        dst,
                        name.as_os_str(),
                        Some(uid),
                        Some(gid),
                        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                });
            if let Err(e) = r {
                warn(log, &from, e.desc());
            }
        } else if ft.is_file()
            && let Err(e) = copy_file(&from, dst, &name, mode, uid, gid)
        {
            warn(log, &from, e);
        }
    }
}

fn copy_file(
    from: &Path,
    dst: &OwnedFd,
    name: &std::ffi::OsStr,
    mode: Mode,
    uid: Uid,
    gid: Gid,
) -> Result<(), String> {
    let data = std::fs::read(from).map_err(|e| courier_common::strerror(&e))?;
    let fd = openat(
        dst,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| e.desc().to_string())?;
    let mut f = std::fs::File::from(fd);
    f.write_all(&data)
        .map_err(|e| courier_common::strerror(&e))?;
    fchmod(f.as_fd(), mode).map_err(|e| e.desc().to_string())?;
    fchown(f.as_fd(), Some(uid), Some(gid)).map_err(|e| e.desc().to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn skeleton_is_copied_with_modes_and_links() {
        let d = tempfile::tempdir().unwrap();
        let skel = d.path().join("skel");
        std::fs::create_dir_all(skel.join("Maildir/cur")).unwrap();
        std::fs::write(skel.join(".profile"), "hello\n").unwrap();
        std::fs::set_permissions(
            skel.join(".profile"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("Maildir", skel.join("mail")).unwrap();
        std::fs::set_permissions(&skel, std::fs::Permissions::from_mode(0o750)).unwrap();
        let home = d.path().join("home");
        let me = nix::unistd::geteuid().as_raw();
        let my_gid = nix::unistd::getegid().as_raw();
        let mut log = Logger::memory();
        make_home(&skel, &home, me, my_gid, &mut log);
        assert!(log.lines().is_empty(), "{:?}", log.lines());
        let m = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(m(&home), 0o750);
        assert_eq!(m(&home.join(".profile")), 0o640);
        assert_eq!(
            std::fs::read_to_string(home.join(".profile")).unwrap(),
            "hello\n"
        );
        assert!(home.join("Maildir/cur").is_dir());
        assert_eq!(
            std::fs::read_link(home.join("mail")).unwrap(),
            Path::new("Maildir")
        );
    }

    #[test]
    fn problems_are_warnings() {
        let d = tempfile::tempdir().unwrap();
        let mut log = Logger::memory();
        make_home(
            &d.path().join("noskel"),
            &d.path().join("h"),
            1,
            1,
            &mut log,
        );
        assert!(log.lines()[0].starts_with("WARN: "), "{:?}", log.lines());
        assert!(!d.path().join("h").exists());
    }
}
