//! Mount targets resolved inside the root as (parent directory, name, file), so that the mount
//! made on one can be found again from the parent's fd without resolving its path a second time
//! (a rename between the two lookups could otherwise let the flags land elsewhere).

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use crate::error::RootfsError;
use crate::resolve::{
    create_entry, dangling_link_target, ensure_in_root, open_at_root, Create, CreateFailure,
    MAX_SYMLINKS,
};
use crate::sys;

/// Directories of the rootfs that must never be symlinks when the plan mounts on or below them.
pub(crate) const SYSTEM_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// A target inside the root: `parent/name` is `fd` (never a symlink).
pub(crate) struct Target {
    pub parent: OwnedFd,
    pub name: OsString,
    pub fd: OwnedFd,
}

fn resolve_err(path: &Path, source: Errno) -> RootfsError {
    RootfsError::Resolve {
        path: path.to_owned(),
        source,
    }
}

impl Target {
    /// Opens `path`, whose parent directory is `parent`, never following a symlink at its last
    /// component itself: a symlink there is resolved inside the root and its target opened the
    /// same way (`/proc`, `/sys` and `/dev` as symlinks are refused). A missing target is created
    /// as `create` says, or `None` is returned when `create` is `None`.
    pub(crate) fn open(
        root: BorrowedFd<'_>,
        mut parent: OwnedFd,
        path: &Path,
        create: Option<Create<'_>>,
    ) -> Result<Option<Target>, RootfsError> {
        let mut path = path.to_owned();
        let mut links = 0;
        loop {
            let Some(name) = path.file_name().map(|n| n.to_owned()) else {
                return Err(resolve_err(&path, Errno::EINVAL));
            };
            let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            match openat(parent.as_fd(), name.as_os_str(), flags, Mode::empty()) {
                Ok(fd) if !is_symlink(&fd).map_err(|e| resolve_err(&path, e))? => {
                    return Ok(Some(Target { parent, name, fd }));
                }
                Ok(_) => {}
                Err(Errno::ENOENT) => {
                    let Some(create) = create else {
                        return Ok(None);
                    };
                    match create_entry(parent.as_fd(), &name, create) {
                        Ok(fd) => return Ok(Some(Target { parent, name, fd })),
                        // Created meanwhile: look again.
                        Err(CreateFailure::Errno(Errno::EEXIST)) => continue,
                        Err(CreateFailure::Errno(source)) => {
                            return Err(RootfsError::CreateTarget { path, source })
                        }
                        Err(CreateFailure::Source(e)) => return Err(e),
                    }
                }
                Err(source) => return Err(resolve_err(&path, source)),
            }
            // A symlink: follow it inside the root, one level.
            refuse_system_dir(&path)?;
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(resolve_err(&path, Errno::ELOOP));
            }
            let next = dangling_link_target(root, &parent, &name)
                .map_err(|e| resolve_err(&path, e))?
                .ok_or_else(|| resolve_err(&path, Errno::EAGAIN))?;
            let Some(dir) = next.parent() else {
                return Err(resolve_err(&next, Errno::EISDIR));
            };
            parent = match create {
                Some(_) => ensure_in_root(root, dir, Create::Dir)?,
                None => match open_at_root(root, dir) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT) => return Ok(None),
                    Err(source) => return Err(resolve_err(dir, source)),
                },
            };
            path = next;
        }
    }

    /// The top mount on this target, opened from the parent's fd and the name (no path is
    /// resolved again): it must be the root of a mount other than the one the target was on,
    /// else the place was renamed meanwhile and [`RootfsError::TargetMoved`] is returned.
    pub(crate) fn reopen_mount(&self, target: &Path) -> Result<OwnedFd, RootfsError> {
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let top = openat(
            self.parent.as_fd(),
            self.name.as_os_str(),
            flags,
            Mode::empty(),
        )
        .map_err(|e| resolve_err(target, e))?;
        let moved = || RootfsError::TargetMoved {
            target: target.to_owned(),
            source: Errno::EXDEV,
        };
        match (sys::mount_id(top.as_fd()), sys::mount_id(self.fd.as_fd())) {
            (Ok((top_id, true)), Ok((below_id, _))) if top_id != below_id => Ok(top),
            // statx without STATX_MNT_ID (Linux < 5.8): nothing to compare with.
            (Err(Errno::ENOSYS), _) | (_, Err(Errno::ENOSYS)) => Ok(top),
            (Err(e), _) | (_, Err(e)) => Err(resolve_err(target, e)),
            _ => Err(moved()),
        }
    }
}

fn is_symlink(fd: &OwnedFd) -> Result<bool, Errno> {
    Ok(SFlag::from_bits_truncate(fstat(fd)?.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK)
}

/// Fails when `path` is `/proc`, `/sys` or `/dev` (found to be a symlink).
pub(crate) fn refuse_system_dir(path: &Path) -> Result<(), RootfsError> {
    if SYSTEM_DIRS.iter().any(|d| Path::new(d) == path) {
        return Err(RootfsError::SymlinkedSystemDir {
            path: PathBuf::from(path),
            source: Errno::ELOOP,
        });
    }
    Ok(())
}
