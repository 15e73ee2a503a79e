//! Path resolution confined to a root directory: a symlink in the container's rootfs can never
//! lead a lookup (or a mount, or a created directory) outside of it.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, mkdirat, stat, Mode, SFlag};

use crate::error::RootfsError;

/// Set once openat2(2) answered ENOSYS (kernel < 5.6 or a seccomp filter): use the fd walk.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// Most symlinks followed in one lookup, as the kernel's `MAXSYMLINKS`.
pub(crate) const MAX_SYMLINKS: u32 = 40;

/// Opens `path` as if `root` were `/`: absolute symlinks and `..` never leave `root`, magic links
/// (`/proc/self/fd/N`, …) are refused. Returns an `O_PATH` fd (usable for `fstat`, as the dirfd of
/// `*at` calls, or as a mount target through `/proc/self/fd/N`).
///
/// Uses openat2(2) with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`; on kernels without openat2
/// (ENOSYS) it walks the path one component at a time with `O_NOFOLLOW` fds, resolving symlinks
/// itself with the same confinement (there, a magic link is read as an ordinary symlink).
///
/// ```no_run
/// use std::path::Path;
/// // Even if /srv/root/etc is a symlink to /etc, this stays inside /srv/root.
/// let fd = cove_rootfs::open_in_root(Path::new("/srv/root"), Path::new("/etc/passwd"))?;
/// # Ok::<(), cove_rootfs::RootfsError>(())
/// ```
pub fn open_in_root(root: &Path, path: &Path) -> Result<OwnedFd, RootfsError> {
    let root_fd = open_root_dir(root)?;
    open_in_root_at(&root_fd, path)
}

/// Like [`open_in_root`], with the root given as an open directory fd.
pub fn open_in_root_at(root: impl AsFd, path: &Path) -> Result<OwnedFd, RootfsError> {
    open_at_root(root.as_fd(), path).map_err(|source| RootfsError::Resolve {
        path: path.to_owned(),
        source,
    })
}

/// The host path `path` resolves to inside `root` (read back through `/proc/self/fd`), for
/// up-front checks such as "does `/bin/sh` exist in the root".
///
/// ```no_run
/// use std::path::Path;
/// let host = cove_rootfs::resolve_in_root(Path::new("/srv/root"), Path::new("/bin/sh"))?;
/// assert!(host.starts_with("/srv/root"));
/// # Ok::<(), cove_rootfs::RootfsError>(())
/// ```
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, RootfsError> {
    let fd = open_in_root(root, path)?;
    fd_host_path(&fd).map_err(|source| RootfsError::FdPath {
        path: path.to_owned(),
        source,
    })
}

/// Opens a root directory as an `O_PATH` fd.
pub(crate) fn open_root_dir(root: &Path) -> Result<OwnedFd, RootfsError> {
    nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| RootfsError::OpenRoot {
        path: root.to_owned(),
        source,
    })
}

/// `/proc/self/fd/N` for `fd`: a path the kernel resolves to exactly what `fd` refers to.
pub(crate) fn proc_fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The host path `fd` refers to.
pub(crate) fn fd_host_path(fd: &impl AsRawFd) -> Result<PathBuf, Errno> {
    nix::fcntl::readlink(proc_fd_path(fd).as_str()).map(PathBuf::from)
}

/// Resolves `path` inside `root` (see [`open_in_root`]), returning the raw errno.
pub(crate) fn open_at_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    if !OPENAT2_MISSING.load(Ordering::Relaxed) {
        match openat2_in_root(root, path) {
            Err(Errno::ENOSYS) => OPENAT2_MISSING.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    walk_in_root(root, path)
}

fn openat2_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    let path = if path.as_os_str().is_empty() {
        Path::new("/")
    } else {
        path
    };
    let how = || {
        OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
    };
    // RESOLVE_IN_ROOT answers EAGAIN when a rename or mount raced with the lookup: retry.
    let mut result = openat2(root, path, how());
    for _ in 0..16 {
        if !matches!(result, Err(Errno::EAGAIN)) {
            break;
        }
        result = openat2(root, path, how());
    }
    result
}

/// The openat2 fallback: a component-by-component walk with `O_PATH | O_NOFOLLOW` fds. `..` goes
/// back to the previous directory fd and never above `root`; a symlink's target is spliced into
/// the remaining path (an absolute one restarts from `root`).
pub(crate) fn walk_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    let mut pending: VecDeque<OsString> = components(path).collect();
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            dirs.pop();
            continue;
        }
        let cur = dirs.last().map_or(root, |fd| fd.as_fd());
        let fd = openat(
            cur,
            name.as_os_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        if SFlag::from_bits_truncate(fstat(&fd)?.st_mode) & SFlag::S_IFMT != SFlag::S_IFLNK {
            dirs.push(fd);
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(Errno::ELOOP);
        }
        let target = readlinkat(&fd, "")?;
        if Path::new(&target).is_absolute() {
            dirs.clear();
        }
        for c in components(Path::new(&target))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            pending.push_front(c);
        }
    }
    match dirs.pop() {
        Some(fd) => Ok(fd),
        None => openat(
            root,
            ".",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ),
    }
}

/// The `Normal` and `..` components of `path` (`/` and `.` dropped).
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_owned()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// `path` made absolute with `.` and `..` applied lexically, never going above `/`.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// What to create when a mount target is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create<'a> {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644).
    File,
    /// A file if the host path is not a directory, else a directory (bind mounts).
    LikeSource(&'a Path),
}

/// Opens `path` inside the root, creating it (and missing parents, as directories) when absent.
/// A dangling symlink on the way is followed inside the root and its target created there.
pub(crate) fn ensure_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    create: Create<'_>,
) -> Result<OwnedFd, RootfsError> {
    let mut links = 0;
    ensure(root, &normalize(path), create, &mut links)
}

fn ensure(
    root: BorrowedFd<'_>,
    path: &Path,
    create: Create<'_>,
    links: &mut u32,
) -> Result<OwnedFd, RootfsError> {
    match open_at_root(root, path) {
        Err(Errno::ENOENT) => {}
        other => {
            return other.map_err(|source| RootfsError::Resolve {
                path: path.to_owned(),
                source,
            })
        }
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        // `/` itself is missing: the root directory vanished.
        return Err(RootfsError::Resolve {
            path: path.to_owned(),
            source: Errno::ENOENT,
        });
    };
    let parent_fd = ensure(root, parent, Create::Dir, links)?;
    let create_err = |source| RootfsError::CreateTarget {
        path: path.to_owned(),
        source,
    };
    match create_entry(parent_fd.as_fd(), name, create) {
        Ok(fd) => Ok(fd),
        Err(CreateFailure::Source(e)) => Err(e),
        Err(CreateFailure::Errno(Errno::EEXIST)) => {
            let Some(next) = dangling_link_target(root, &parent_fd, name).map_err(create_err)?
            else {
                // Someone else created it meanwhile: open what is there now.
                return open_at_root(root, path).map_err(create_err);
            };
            *links += 1;
            if *links > MAX_SYMLINKS {
                return Err(create_err(Errno::ELOOP));
            }
            ensure(root, &next, create, links)
        }
        Err(CreateFailure::Errno(source)) => Err(create_err(source)),
    }
}

/// Why [`create_entry`] failed.
pub(crate) enum CreateFailure {
    /// The creating call failed (EEXIST: something is there already).
    Errno(Errno),
    /// Inspecting the bind source failed.
    Source(RootfsError),
}

impl From<Errno> for CreateFailure {
    fn from(e: Errno) -> Self {
        CreateFailure::Errno(e)
    }
}

/// Creates `name` in `parent` as `create` says and opens it (never following a symlink).
pub(crate) fn create_entry(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    create: Create<'_>,
) -> Result<OwnedFd, CreateFailure> {
    let as_file = match create {
        Create::Dir => false,
        Create::File => true,
        Create::LikeSource(source) => {
            let st = stat(source).map_err(|e| {
                CreateFailure::Source(RootfsError::InspectSource {
                    path: source.to_owned(),
                    source: e,
                })
            })?;
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR
        }
    };
    if as_file {
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        return Ok(openat(
            parent,
            name,
            flags,
            Mode::from_bits_truncate(0o644),
        )?);
    }
    mkdirat(parent, name, Mode::from_bits_truncate(0o755))?;
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    Ok(openat(parent, name, flags, Mode::empty())?)
}

/// When `parent/name` is a symlink (that did not resolve), the path inside the root it points to.
pub(crate) fn dangling_link_target(
    root: BorrowedFd<'_>,
    parent: &OwnedFd,
    name: &OsStr,
) -> Result<Option<PathBuf>, Errno> {
    let target = match readlinkat(parent, name) {
        Ok(t) => PathBuf::from(t),
        Err(Errno::EINVAL) => return Ok(None),
        Err(e) => return Err(e),
    };
    if target.is_absolute() {
        return Ok(Some(normalize(&target)));
    }
    // Relative: join it to the parent's real place inside the root (the parent path as given may
    // have gone through symlinks, so `..` must be applied to where it really is).
    let root_host = fd_host_path(&root)?;
    let parent_host = fd_host_path(parent)?;
    let parent_in_root = parent_host
        .strip_prefix(&root_host)
        .map_err(|_| Errno::EXDEV)?;
    Ok(Some(normalize(
        &Path::new("/").join(parent_in_root).join(target),
    )))
}

/// The last component of `path` and the fd of its parent directory inside the root (created when
/// missing), for creating symlinks.
pub(crate) fn parent_in_root<'p>(
    root: BorrowedFd<'_>,
    path: &'p Path,
) -> Result<(OwnedFd, &'p OsStr), RootfsError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(RootfsError::Resolve {
            path: path.to_owned(),
            source: Errno::EINVAL,
        });
    };
    Ok((ensure_in_root(root, parent, Create::Dir)?, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// root/ with: etc/passwd, evil -> /outside (absolute), up -> ../../.. (relative escape),
    /// loop -> loop, bin -> usr/bin (relative, inside), usr/bin/sh.
    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::create_dir_all(root.join("outside")).unwrap();
        fs::write(root.join("etc/passwd"), "root").unwrap();
        fs::write(root.join("usr/bin/sh"), "").unwrap();
        symlink("/outside", root.join("evil")).unwrap();
        symlink("../../..", root.join("up")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        (dir, fs::canonicalize(root).unwrap())
    }

    fn both(root: &Path, path: &str) -> (Result<PathBuf, Errno>, Result<PathBuf, Errno>) {
        let root_fd = open_root_dir(root).unwrap();
        let a = openat2_in_root(root_fd.as_fd(), Path::new(path)).and_then(|fd| fd_host_path(&fd));
        let b = walk_in_root(root_fd.as_fd(), Path::new(path)).and_then(|fd| fd_host_path(&fd));
        (a, b)
    }

    #[test]
    fn openat2_and_walk_agree_and_stay_inside() {
        let (_dir, root) = fixture();
        for (path, expect) in [
            ("/etc/passwd", Ok(root.join("etc/passwd"))),
            ("etc/../etc/passwd", Ok(root.join("etc/passwd"))),
            ("/evil", Ok(root.join("outside"))),
            ("/up/etc", Ok(root.join("etc"))),
            ("/../../etc", Ok(root.join("etc"))),
            ("/bin/sh", Ok(root.join("usr/bin/sh"))),
            ("/", Ok(root.clone())),
            ("/missing/x", Err(Errno::ENOENT)),
            ("/loop", Err(Errno::ELOOP)),
            ("/etc/passwd/x", Err(Errno::ENOTDIR)),
        ] {
            let (a, b) = both(&root, path);
            assert_eq!(a, expect, "openat2 {path}");
            assert_eq!(b, expect, "walk {path}");
        }
    }

    #[test]
    fn resolve_in_root_reports_host_path() {
        let (_dir, root) = fixture();
        assert_eq!(
            resolve_in_root(&root, Path::new("/bin/sh")).unwrap(),
            root.join("usr/bin/sh")
        );
        let err = resolve_in_root(&root, Path::new("/nope")).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert_eq!(err.to_string(), "resolve /nope inside the root");
    }

    #[test]
    fn ensure_creates_dirs_and_files_inside_the_root() {
        let (dir, root) = fixture();
        let root_fd = open_root_dir(&root).unwrap();
        // Through an absolute symlink pointing at a host-like path: created inside the root.
        fs::remove_dir(root.join("outside")).unwrap();
        let fd = ensure_in_root(root_fd.as_fd(), Path::new("/evil/x/y"), Create::Dir).unwrap();
        assert_eq!(fd_host_path(&fd).unwrap(), root.join("outside/x/y"));
        assert!(!dir.path().join("outside/x").exists(), "host dir untouched");
        // Through a relative symlink escaping upwards: clamped at the root.
        let fd = ensure_in_root(root_fd.as_fd(), Path::new("/up/new/file"), Create::File).unwrap();
        assert_eq!(fd_host_path(&fd).unwrap(), root.join("new/file"));
        assert!(root.join("new/file").is_file());
        // A dangling relative symlink: its target is created inside the root.
        symlink("../data/store", root.join("etc/store")).unwrap();
        let fd = ensure_in_root(root_fd.as_fd(), Path::new("/etc/store"), Create::Dir).unwrap();
        assert_eq!(fd_host_path(&fd).unwrap(), root.join("data/store"));
        // Like a source: a file source gives a file, a dir source a dir.
        let src = dir.path().join("src-file");
        fs::write(&src, "x").unwrap();
        ensure_in_root(root_fd.as_fd(), Path::new("/f"), Create::LikeSource(&src)).unwrap();
        assert!(root.join("f").is_file());
        ensure_in_root(
            root_fd.as_fd(),
            Path::new("/d"),
            Create::LikeSource(dir.path()),
        )
        .unwrap();
        assert!(root.join("d").is_dir());
        // Existing entries are opened, not recreated.
        let fd = ensure_in_root(root_fd.as_fd(), Path::new("/etc/passwd"), Create::Dir).unwrap();
        assert_eq!(fd_host_path(&fd).unwrap(), root.join("etc/passwd"));
    }

    #[test]
    fn ensure_reports_loops_and_missing_sources() {
        let (dir, root) = fixture();
        let root_fd = open_root_dir(&root).unwrap();
        let err = ensure_in_root(root_fd.as_fd(), Path::new("/loop/x"), Create::Dir).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP));
        let missing = dir.path().join("no-such-source");
        let err = ensure_in_root(
            root_fd.as_fd(),
            Path::new("/m"),
            Create::LikeSource(&missing),
        )
        .unwrap_err();
        assert!(matches!(err, RootfsError::InspectSource { .. }), "{err:?}");
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("a/./b/../c")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("/../..")), Path::new("/"));
    }
}
