//! The state root (`/run/cove`, or `$XDG_RUNTIME_DIR/cove` rootless) and the per-container state directory
//! in it, held under an exclusive lock for the container's lifetime so two containers cannot share one id.
//!
//! Everything here fails closed, as runc does: a state root that is a symlink, belongs to another user or is
//! group- or world-writable is refused; an id whose directory exists is refused, whatever is in it (a stale
//! one is removed with `cove delete --force`); a state directory appears already locked (created under a
//! temporary name and renamed into place); and clean-up never follows a symlink it finds in a state dir.

use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, RenameFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::UnlinkatFlags;

/// The lock file in a state directory.
const LOCK_FILE: &str = "lock";

/// The default state root for the caller.
pub fn default_root(euid: u32) -> PathBuf {
    if euid == 0 {
        return PathBuf::from("/run/cove");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("cove"),
        _ => std::env::temp_dir().join(format!("cove-{euid}")),
    }
}

/// The mode cove creates a state root with: 0711 as root (other users may traverse to a container's files
/// they were given), 0700 for anyone else.
fn root_mode(euid: u32) -> u32 {
    if euid == 0 {
        0o711
    } else {
        0o700
    }
}

/// Creates the state root when missing (its parents as needed), then checks it: a directory, not a
/// symlink, owned by `euid`, not group- or world-writable. Returns it opened (`O_NOFOLLOW`).
pub fn ensure_root(root: &Path, euid: u32) -> Result<OwnedFd> {
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mode = root_mode(euid);
    let created = match fs::DirBuilder::new().mode(mode).create(root) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            return Err(e).with_context(|| format!("creating the state root {}", root.display()))
        }
    };
    let fd = open_root(root)?;
    if created {
        // The exact mode, whatever the umask: through the descriptor's magic link, so it is the directory
        // just opened (an O_PATH descriptor takes no fchmod).
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        fs::set_permissions(&link, fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", root.display()))?;
    }
    check_root_stat(root, &fd, euid)?;
    Ok(fd)
}

/// Checks an existing state root like [`ensure_root`] without creating anything; `None` when it does not
/// exist (commands that only read state have nothing to do then).
pub fn existing_root(root: &Path, euid: u32) -> Result<Option<OwnedFd>> {
    match fs::symlink_metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    let fd = open_root(root)?;
    check_root_stat(root, &fd, euid)?;
    Ok(Some(fd))
}

/// Opens a state root without following a symlink at its last component. `O_PATH`: a directory the caller
/// may not read (another user's) is still inspected, and refused for its owner.
fn open_root(root: &Path) -> Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match nix::fcntl::open(root, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR (or ELOOP): say which it was.
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            let is_link = fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink());
            let what = if is_link {
                "a symlink"
            } else {
                "not a directory"
            };
            bail!("refusing the state root {}: it is {what}", root.display())
        }
        Err(e) => Err(e).with_context(|| format!("opening the state root {}", root.display())),
    }
}

fn check_root_stat(root: &Path, fd: &OwnedFd, euid: u32) -> Result<()> {
    let st = nix::sys::stat::fstat(fd)
        .with_context(|| format!("inspecting the state root {}", root.display()))?;
    check_owner_and_mode(root, st.st_uid, st.st_mode, euid)
}

/// The rule for a state root: owned by the caller, writable by nobody else.
pub fn check_owner_and_mode(root: &Path, uid: u32, mode: u32, euid: u32) -> Result<()> {
    if uid != euid {
        bail!(
            "refusing the state root {}: it is owned by uid {uid}, not by uid {euid} (remove it, or pass \
             --root)",
            root.display()
        );
    }
    if mode & 0o022 != 0 {
        bail!(
            "refusing the state root {}: it is group- or world-writable (mode {:o})",
            root.display(),
            mode & 0o7777
        );
    }
    Ok(())
}

/// Creates `<root>/<id>` (mode 0711) with its lock file already locked by us, or `None` when the id's
/// directory exists. The directory is made under a temporary name and renamed into place without
/// replacing anything, so no other `cove` ever sees it unlocked.
pub fn create_locked(root: &OwnedFd, root_path: &Path, id: &str) -> Result<Option<Flock<File>>> {
    let tmp = format!(".{id}.{}.new", std::process::id());
    let tmp_path = root_path.join(&tmp);
    let make = || nix::sys::stat::mkdirat(root, tmp.as_str(), Mode::from_bits_truncate(0o711));
    let made = match make() {
        // Left by a dead cove that had this pid (a live process's pid is unique): removed, then again.
        Err(Errno::EEXIST) => {
            remove_dir_nofollow(&tmp_path)?;
            make()
        }
        other => other,
    };
    made.with_context(|| format!("creating {}", tmp_path.display()))?;
    let locked = new_lock(&tmp_path).and_then(|lock| {
        match nix::fcntl::renameat2(root, tmp.as_str(), root, id, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => Ok(Some(lock)),
            Err(Errno::EEXIST) => Ok(None),
            // A file system without RENAME_NOREPLACE: an exclusive mkdir, locked right after.
            Err(Errno::EINVAL) => mkdir_then_lock(root, &root_path.join(id), id),
            Err(e) => Err(e).with_context(|| format!("renaming {} into place", tmp_path.display())),
        }
    });
    // Gone after a rename; left when the id was taken or on the fallback path.
    let _ = remove_dir_nofollow(&tmp_path);
    locked
}

fn mkdir_then_lock(root: &OwnedFd, dir: &Path, id: &str) -> Result<Option<Flock<File>>> {
    match nix::sys::stat::mkdirat(root, id, Mode::from_bits_truncate(0o711)) {
        Ok(()) => new_lock(dir).map(Some),
        Err(Errno::EEXIST) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
    }
}

/// Creates `<dir>/lock` (it must not exist) and locks it.
fn new_lock(dir: &Path) -> Result<Flock<File>> {
    let file = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir.join(LOCK_FILE))
        .with_context(|| format!("creating {}/{LOCK_FILE}", dir.display()))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}/{LOCK_FILE}", dir.display()))
}

/// Removes every entry of `dir` and then `dir` itself, never following a symlink: the directory is opened
/// with `O_NOFOLLOW`, each entry is inspected with `AT_SYMLINK_NOFOLLOW` and unlinked relative to that
/// descriptor (a symlink is unlinked, never its target); subdirectories are removed only when empty, so a
/// directory someone filled (or a mount point) stays and the error says so. A missing `dir` is not an error.
pub fn remove_dir_nofollow(dir: &Path) -> Result<()> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match nix::fcntl::open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            // Not a directory (a symlink planted in its place): unlink the name itself.
            return fs::remove_file(dir).with_context(|| format!("removing {}", dir.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", dir.display())),
    };
    let mut handle =
        nix::dir::Dir::from_fd(fd).with_context(|| format!("reading {}", dir.display()))?;
    let names: Vec<std::ffi::CString> = handle
        .iter()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_owned())
        .filter(|name| name.as_bytes() != b"." && name.as_bytes() != b"..")
        .collect();
    for name in &names {
        unlink_entry(handle.as_fd(), name.as_c_str())
            .with_context(|| format!("removing {}/{}", dir.display(), name.to_string_lossy()))?;
    }
    drop(handle);
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

/// Unlinks one entry of the directory `dir`: `rmdir` for a real directory, `unlink` for anything else
/// (symlinks included). An entry already gone is not an error.
fn unlink_entry(dir: std::os::fd::BorrowedFd<'_>, name: &std::ffi::CStr) -> Result<(), Errno> {
    let st = match nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let how = match is_dir {
        true => UnlinkatFlags::RemoveDir,
        false => UnlinkatFlags::NoRemoveDir,
    };
    match nix::unistd::unlinkat(dir, name, how) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A locked state directory; removed again on drop.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    _lock: Flock<File>,
}

impl StateDir {
    /// Creates `<root>/<id>` and locks it; refuses an id whose directory exists (a running or created
    /// container, or one left behind: then `cove delete --force <id>` removes it).
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        let euid = nix::unistd::geteuid().as_raw();
        let root_fd = ensure_root(root, euid)?;
        let path = root.join(id);
        match create_locked(&root_fd, root, id)? {
            Some(lock) => Ok(StateDir { path, _lock: lock }),
            None => Err(already_exists(&path, id)),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An empty directory inside the state dir, created on demand (e.g. the mount point of a tmpfs root);
    /// anything else in its place (a symlink) is refused.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        subdir(&self.path, name)
    }
}

/// An empty directory `name` inside the state dir `dir`, created on demand (e.g. the mount point of a tmpfs
/// root); anything else in its place (a symlink) is refused.
pub fn subdir(dir: &Path, name: &str) -> Result<PathBuf> {
    let dir = dir.join(name);
    match fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = fs::symlink_metadata(&dir)
                .with_context(|| format!("inspecting {}", dir.display()))?;
            if !meta.file_type().is_dir() {
                bail!("{} exists and is not a directory", dir.display());
            }
            Ok(dir)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
    }
}

/// The refusal for an id that is taken, with a hint when the directory looks left behind: no container
/// recorded in it and no cove process holding its lock.
pub fn already_exists(path: &Path, id: &str) -> anyhow::Error {
    let recorded = fs::symlink_metadata(path.join("state.json")).is_ok();
    if recorded || is_held(path) {
        anyhow::anyhow!("a container named `{id}` already exists")
    } else {
        anyhow::anyhow!(
            "a container named `{id}` already exists: {} was left behind by a cove that did not finish;              `cove delete --force {id}` removes it",
            path.display()
        )
    }
}

/// Whether a cove process holds the lock of the state directory `dir` (probed with a shared lock, released
/// at once; nothing is created).
fn is_held(dir: &Path) -> bool {
    is_locked(dir, LOCK_FILE)
}

/// Whether a cove process holds the lock file `<dir>/<name>` (probed with a shared lock, released at once;
/// nothing is created).
pub fn is_locked(dir: &Path, name: &str) -> bool {
    let Ok(file) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir.join(name))
    else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, Errno::EWOULDBLOCK))
    )
}

/// Opens (creating it, mode 0600) the lock file `<dir>/lock` and takes `how` on it. The outer error is opening
/// the file, the inner one the lock (EWOULDBLOCK for a non-blocking lock that is taken).
pub fn lock(dir: &Path, how: FlockArg) -> Result<Result<Flock<File>, Errno>> {
    lock_file(dir, LOCK_FILE, how)
}

/// Opens (creating it, mode 0600) the lock file `<dir>/<name>` and takes `how` on it, as [`lock`].
pub fn lock_file(dir: &Path, name: &str, how: FlockArg) -> Result<Result<Flock<File>, Errno>> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir.join(name))
        .with_context(|| format!("opening {}/{name}", dir.display()))?;
    Ok(Flock::lock(file, how).map_err(|(_, e)| e))
}

impl Drop for StateDir {
    fn drop(&mut self) {
        // Never recursive and never through a symlink: our own files, planted symlinks (unlinked) and empty
        // directories go; a mount point left behind (which cannot happen: tmpfs roots are mounted only in the
        // container's namespace) would stay.
        let _ = remove_dir_nofollow(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn euid() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    #[test]
    fn an_existing_id_is_refused_and_drop_cleans_up() {
        let root = tempfile::tempdir().unwrap();
        let first = StateDir::create(root.path(), "c1").unwrap();
        let staging = first.subdir("rootfs").unwrap();
        assert!(staging.is_dir());
        let err = StateDir::create(root.path(), "c1").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("a container named `c1` already exists"),
            "{err}"
        );
        drop(first);
        assert!(!root.path().join("c1").exists());
        let again = StateDir::create(root.path(), "c1").unwrap();
        drop(again);
        // Nothing but the root is left (no temporary directories).
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
        // A temporary directory a dead cove with this pid left is replaced.
        let leftover = root.path().join(format!(".c2.{}.new", std::process::id()));
        fs::create_dir(&leftover).unwrap();
        fs::write(leftover.join("lock"), "").unwrap();
        drop(StateDir::create(root.path(), "c2").unwrap());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_left_behind_directory_is_not_taken_over_and_the_error_says_how_to_remove_it() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("c1")).unwrap();
        fs::write(root.path().join("c1/lock"), "").unwrap();
        let err = StateDir::create(root.path(), "c1").unwrap_err().to_string();
        assert!(
            err.starts_with("a container named `c1` already exists: ")
                && err.ends_with("`cove delete --force c1` removes it"),
            "{err}"
        );
        assert!(root.path().join("c1/lock").exists());
    }

    #[test]
    fn a_recorded_container_is_not_taken_over() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("c1")).unwrap();
        fs::write(root.path().join("c1/state.json"), "{}").unwrap();
        let err = StateDir::create(root.path(), "c1").unwrap_err();
        assert_eq!(err.to_string(), "a container named `c1` already exists");
        assert!(root.path().join("c1/state.json").exists());
        assert!(!root.path().join("c1/lock").exists(), "no lock was added");
    }

    #[test]
    fn a_missing_root_is_created_private_and_owned_by_the_caller() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("a/cove");
        ensure_root(&root, euid()).unwrap();
        let meta = fs::symlink_metadata(&root).unwrap();
        assert_eq!(meta.mode() & 0o7777, root_mode(euid()));
        assert_eq!(meta.uid(), euid());
    }

    #[test]
    fn a_symlinked_root_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        let elsewhere = parent.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o700)).unwrap();
        let root = parent.path().join("cove");
        symlink(&elsewhere, &root).unwrap();
        let err = StateDir::create(&root, "c1").unwrap_err();
        assert!(err.to_string().contains("it is a symlink"), "{err}");
        assert!(existing_root(&root, euid()).is_err());
        assert_eq!(
            fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing was written through it"
        );
    }

    #[test]
    fn a_group_or_world_writable_root_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("cove");
        for mode in [0o777, 0o1777, 0o770, 0o702] {
            let _ = fs::create_dir(&root);
            fs::set_permissions(&root, fs::Permissions::from_mode(mode)).unwrap();
            let err = StateDir::create(&root, "c1").unwrap_err();
            assert!(
                err.to_string().contains("group- or world-writable"),
                "{mode:o}: {err}"
            );
            assert!(!root.join("c1").exists());
        }
    }

    #[test]
    fn a_root_owned_by_another_user_is_refused() {
        // Needs root to give the directory away; as another user the rule is tested directly.
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("cove");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
        let other = euid().wrapping_add(4242);
        if euid() == 0 {
            std::os::unix::fs::chown(&root, Some(other), None).unwrap();
            let err = StateDir::create(&root, "c1").unwrap_err();
            assert!(
                err.to_string().contains(&format!("owned by uid {other}")),
                "{err}"
            );
            assert!(!root.join("c1").exists());
        }
        let err = check_owner_and_mode(&root, other, 0o40700, euid()).unwrap_err();
        assert!(err.to_string().contains("owned by uid"), "{err}");
        check_owner_and_mode(&root, euid(), 0o40711, euid()).unwrap();
    }

    #[test]
    fn clean_up_unlinks_symlinks_and_never_their_targets() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), "x").unwrap();
        fs::create_dir(outside.path().join("dir")).unwrap();
        fs::write(outside.path().join("dir/keep"), "y").unwrap();
        let state = StateDir::create(root.path(), "c1").unwrap();
        symlink(
            outside.path().join("precious"),
            state.path().join("file-link"),
        )
        .unwrap();
        symlink(outside.path().join("dir"), state.path().join("rootfs")).unwrap();
        assert!(
            state.subdir("rootfs").is_err(),
            "a symlinked subdir is refused"
        );
        drop(state);
        assert!(!root.path().join("c1").exists());
        assert_eq!(
            fs::read_to_string(outside.path().join("precious")).unwrap(),
            "x"
        );
        assert_eq!(
            fs::read_to_string(outside.path().join("dir/keep")).unwrap(),
            "y"
        );
    }

    #[test]
    fn a_symlink_in_place_of_the_directory_is_unlinked() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep"), "y").unwrap();
        let link = root.path().join("c1");
        symlink(outside.path(), &link).unwrap();
        remove_dir_nofollow(&link).unwrap();
        assert!(fs::symlink_metadata(&link).is_err());
        assert!(outside.path().join("keep").exists());
    }
}
