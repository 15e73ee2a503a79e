//! Applying a [`MountPlan`] in the container's child process.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root, symlinkat};

use crate::device::{make_node, DeviceOp};
use crate::error::RootfsError;
use crate::idmap::DetachedMounts;
use crate::options::{attrs_to_string, Attrs, ATIME_FLAGS, ATTR_FLAGS};
use crate::plan::{MountOp, MountPlan, StepKind, TargetKind};
use crate::resolve::{
    create_entry, ensure_in_root, open_at_root, open_root_dir, parent_in_root, proc_fd_path,
    Create, CreateFailure,
};
use crate::spec::{MountKind, Propagation};
use crate::sys;

/// Set once mount_setattr(2) answered ENOSYS (kernel < 5.12): use bind remounts.
static MOUNT_SETATTR_MISSING: AtomicBool = AtomicBool::new(false);

const NONE: Option<&str> = None;

impl MountPlan {
    /// Builds the root file system and makes it `/`. Run it in the container's child process, in a
    /// new mount namespace (and, when the spec says so, as a member of the new pid, network, IPC and
    /// user namespaces, e.g. the child of `clone(2)` — `unshare(CLONE_NEWPID)` alone does not make
    /// the caller a member). After it returns, `/` is the new root and the working directory is `/`.
    ///
    /// Every mount target is resolved inside the new root ([`open_in_root`](crate::open_in_root))
    /// and mounted through `/proc/self/fd/N` (of the host's `/proc`, which must be mounted), so a
    /// symlink in the rootfs cannot point a mount at the host. Missing targets are created (a
    /// directory, or an empty file for a file bind source). `/proc` is mounted before pivot_root
    /// (a user namespace may not mount procfs once the old root is detached).
    ///
    /// pivot_root(2) is used as `pivot_root(".", ".")` then `umount2(".", MNT_DETACH)`. When it
    /// fails with `EINVAL` — the host root is the initramfs (rootfs), which cannot be pivoted
    /// away from — the root is moved onto `/` (`MS_MOVE`) and chroot(2)ed into instead; the old
    /// root then stays reachable to a process with `CAP_SYS_CHROOT`, so such hosts should boot
    /// with a real root (or `switch_root` out of the initramfs) before running containers.
    ///
    /// Read-only and other flags on bind mounts are set with mount_setattr(2) (recursively for a
    /// recursive bind); on kernels without it (before 5.12) a bind remount of the top mount is
    /// used, keeping the flags the kernel locks in a user namespace (nosuid, nodev, noexec, atime).
    ///
    /// Device nodes are made with mknodat(2) in their parent directory resolved inside the root
    /// (never following a symlink at the node's own path), then chowned and chmodded through an
    /// `O_PATH` fd, so the mode is exact whatever the umask. Sysctls are written to the file
    /// `/proc/sys/…` resolved inside the root (the container's `/proc`): their values belong to the
    /// network / IPC namespaces of the calling process.
    ///
    /// Stops at the first failing step; mounts made until then stay in the (private) mount
    /// namespace, which dies with the child.
    pub fn apply(&self) -> Result<(), RootfsError> {
        self.apply_with(&DetachedMounts::default())
    }

    /// [`apply`](MountPlan::apply), attaching the idmapped bind mounts from `detached` (opened by
    /// [`DetachedMounts::open`] on this plan before the clone and idmapped by
    /// [`DetachedMounts::set_idmap`]) with move_mount(2) instead of calling mount(2).
    pub fn apply_with(&self, detached: &DetachedMounts) -> Result<(), RootfsError> {
        self.apply_with_hook(detached, || Ok(()), |e| e)
    }

    /// [`apply_with`](MountPlan::apply_with), calling `before_pivot` once every mount is in place and before
    /// pivot_root (or at the end when the plan has no pivot), while the host's file system is still visible
    /// at its usual paths: where OCI `createContainer` hooks run. Errors of the plan become `E` through
    /// `map_err`.
    pub fn apply_with_hook<E>(
        &self,
        detached: &DetachedMounts,
        before_pivot: impl FnOnce() -> Result<(), E>,
        map_err: impl Fn(RootfsError) -> E,
    ) -> Result<(), E> {
        let mut ctx = Ctx {
            root_path: self.root.clone(),
            root: None,
            fresh: Vec::new(),
            detached,
        };
        let mut hook = Some(before_pivot);
        for step in &self.steps {
            if matches!(step.kind, StepKind::PivotRoot(_)) {
                if let Some(hook) = hook.take() {
                    hook()?;
                }
            }
            ctx.apply(&step.kind).map_err(&map_err)?;
        }
        match hook.take() {
            Some(hook) => hook(),
            None => Ok(()),
        }
    }
}

/// State while applying: the root directory, opened lazily (and reopened after it was mounted on).
struct Ctx<'a> {
    root_path: PathBuf,
    root: Option<OwnedFd>,
    fresh: Vec<FreshDir>,
    detached: &'a DetachedMounts,
}

/// A tmpfs mounted by this plan (inside the root) and not covered since. It started empty and only
/// this process has written to it, so a missing target directly in it can be created straight away
/// (O_EXCL / mkdirat, never following a symlink), saving the lookups of [`ensure_in_root`]. Any
/// collision (EEXIST) falls back to the full resolution.
struct FreshDir {
    path: PathBuf,
    fd: Option<OwnedFd>,
}

impl Ctx<'_> {
    fn root(&mut self) -> Result<BorrowedFd<'_>, RootfsError> {
        if self.root.is_none() {
            self.root = Some(open_root_dir(&self.root_path)?);
        }
        Ok(self.root.as_ref().map(AsFd::as_fd).expect("opened above"))
    }

    fn apply(&mut self, step: &StepKind) -> Result<(), RootfsError> {
        match step {
            StepKind::RootPropagation(p) => make_root_propagation(*p),
            StepKind::BindRoot(path) => self.bind_root(path),
            StepKind::RootTmpfs(path) => self.root_tmpfs(path),
            StepKind::HostDir(path) => self.host_dir(path),
            StepKind::Mount(m) => self.mount(m),
            StepKind::Symlink { link, to } => self.symlink(link, to),
            StepKind::ReadonlyPath(path) => self.readonly_path(path),
            StepKind::ReadonlyMount(path) => self.readonly_mount(path),
            StepKind::Mask(path) => self.mask(path),
            StepKind::Device(d) => self.device(d),
            StepKind::Sysctl(s) => s.write(self.root()?),
            StepKind::PivotRoot(path) => self.pivot_root(path),
            StepKind::RemountRootReadonly => remount_root_readonly(),
        }
    }

    fn bind_root(&mut self, path: &Path) -> Result<(), RootfsError> {
        mount(
            Some(path),
            path,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .map_err(|source| RootfsError::BindRoot {
            path: path.to_owned(),
            source,
        })?;
        self.root = None;
        Ok(())
    }

    fn root_tmpfs(&mut self, path: &Path) -> Result<(), RootfsError> {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mount(Some("tmpfs"), path, Some("tmpfs"), flags, Some("mode=755")).map_err(|source| {
            RootfsError::RootTmpfs {
                path: path.to_owned(),
                source,
            }
        })?;
        self.root = None;
        self.fresh = vec![FreshDir {
            path: PathBuf::from("/"),
            fd: None,
        }];
        Ok(())
    }

    /// Forgets the fresh tmpfs a mount on `target` covers; remembers a new tmpfs.
    fn note_mount(&mut self, target: &Path, kind: MountKind) {
        self.fresh.retain(|f| !f.path.starts_with(target));
        if kind == MountKind::Tmpfs {
            self.fresh.push(FreshDir {
                path: target.to_owned(),
                fd: None,
            });
        }
    }

    /// The fd of the fresh tmpfs mounted on `dir`, if there is one.
    fn fresh_dir(&mut self, dir: &Path) -> Result<Option<BorrowedFd<'_>>, RootfsError> {
        let Some(i) = self.fresh.iter().position(|f| f.path == dir) else {
            return Ok(None);
        };
        if self.fresh[i].fd.is_none() {
            let fd = self.reopen(dir)?;
            self.fresh[i].fd = Some(fd);
        }
        Ok(self.fresh[i].fd.as_ref().map(AsFd::as_fd))
    }

    /// Opens the mount target `path` inside the root, creating it when missing.
    fn target(&mut self, path: &Path, create: Create<'_>) -> Result<OwnedFd, RootfsError> {
        if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
            if let Some(dir) = self.fresh_dir(parent)? {
                match create_entry(dir, name, create) {
                    Ok(fd) => return Ok(fd),
                    Err(CreateFailure::Errno(Errno::EEXIST)) => {}
                    Err(CreateFailure::Errno(source)) => {
                        return Err(RootfsError::CreateTarget {
                            path: path.to_owned(),
                            source,
                        })
                    }
                    Err(CreateFailure::Source(e)) => return Err(e),
                }
            }
        }
        ensure_in_root(self.root()?, path, create)
    }

    /// A host dir in a tmpfs root: the same symlink, or a recursive read-only bind.
    fn host_dir(&mut self, path: &Path) -> Result<(), RootfsError> {
        match nix::fcntl::readlink(path) {
            Ok(to) => return self.symlink(path, Path::new(&to)),
            Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::EINVAL) => {}
            Err(source) => {
                return Err(RootfsError::InspectHostDir {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        let op = MountOp {
            kind: MountKind::Bind,
            source: path.to_owned(),
            target: path.to_owned(),
            flags: MsFlags::MS_BIND | MsFlags::MS_REC,
            data: None,
            attrs: Some(Attrs::readonly(MsFlags::empty(), true)),
            propagation: None,
            create: TargetKind::Dir,
            note: None,
            idmap: false,
        };
        self.mount(&op)
    }

    fn mount(&mut self, m: &MountOp) -> Result<(), RootfsError> {
        let create = match m.create {
            TargetKind::Dir => Create::Dir,
            TargetKind::File => Create::File,
            TargetKind::LikeSource => Create::LikeSource(&m.source),
        };
        let target = self.target(&m.target, create)?;
        if m.idmap {
            self.attach_detached(&target, &m.target)?;
        } else {
            mount(
                Some(&m.source),
                proc_fd_path(&target).as_str(),
                m.kind.fs_type(),
                m.flags,
                m.data.as_deref(),
            )
            .map_err(|source| RootfsError::Mount {
                kind: m.kind,
                target: m.target.clone(),
                source,
            })?;
        }
        drop(target);
        self.note_mount(&m.target, m.kind);
        if m.attrs.is_none() && m.propagation.is_none() {
            return Ok(());
        }
        // The fd above is the directory under the new mount: reopen to get the mount itself.
        let top = self.reopen(&m.target)?;
        if let Some(attrs) = &m.attrs {
            set_attrs(top.as_fd(), attrs)
                .map_err(|source| mount_flags_error(attrs, &m.target, source))?;
        }
        if let Some(p) = m.propagation {
            mount(NONE, proc_fd_path(&top).as_str(), NONE, p, NONE).map_err(|source| {
                RootfsError::MountPropagation {
                    target: m.target.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// Attaches the prepared idmapped clone for `target` on the resolved `on`.
    fn attach_detached(&self, on: &OwnedFd, target: &Path) -> Result<(), RootfsError> {
        let from = self
            .detached
            .get(target)
            .ok_or_else(|| RootfsError::MissingDetached {
                target: target.to_owned(),
                source: Errno::EINVAL,
            })?;
        sys::move_mount_fds(from, on.as_fd()).map_err(|source| RootfsError::MoveMount {
            target: target.to_owned(),
            source,
        })
    }

    fn reopen(&mut self, path: &Path) -> Result<OwnedFd, RootfsError> {
        open_at_root(self.root()?, path).map_err(|source| RootfsError::Resolve {
            path: path.to_owned(),
            source,
        })
    }

    /// Opens `path` inside the root, or `None` when it does not exist.
    fn open_existing(&mut self, path: &Path) -> Result<Option<OwnedFd>, RootfsError> {
        match open_at_root(self.root()?, path) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::ENOENT) => Ok(None),
            Err(source) => Err(RootfsError::Resolve {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn symlink(&mut self, link: &Path, to: &Path) -> Result<(), RootfsError> {
        let err = |source| RootfsError::Symlink {
            link: link.to_owned(),
            to: to.to_owned(),
            source,
        };
        let result = match (link.parent(), link.file_name()) {
            (Some(parent), Some(name)) if self.fresh.iter().any(|f| f.path == parent) => {
                let dir = self.fresh_dir(parent)?.ok_or_else(|| err(Errno::ENOENT))?;
                symlinkat(to, dir, name)
            }
            _ => {
                let (parent, name) = parent_in_root(self.root()?, link)?;
                symlinkat(to, parent.as_fd(), name)
            }
        };
        match result {
            Ok(()) | Err(Errno::EEXIST) => Ok(()),
            Err(source) => Err(err(source)),
        }
    }

    /// A device node: mknod (in the fresh `/dev` tmpfs directly when it is the parent), or a bind
    /// of the host's node.
    fn device(&mut self, d: &DeviceOp) -> Result<(), RootfsError> {
        if d.bind_host {
            return self.mount(&d.host_bind());
        }
        let (Some(parent), Some(name)) = (d.path.parent(), d.path.file_name()) else {
            // The plan never holds `/` as a device path.
            return Err(RootfsError::Mknod {
                path: d.path.clone(),
                source: Errno::EINVAL,
            });
        };
        if let Some(dir) = self.fresh_dir(parent)? {
            return make_node(dir, name, d);
        }
        let dir = ensure_in_root(self.root()?, parent, Create::Dir)?;
        make_node(dir.as_fd(), name, d)
    }

    fn readonly_path(&mut self, path: &Path) -> Result<(), RootfsError> {
        let Some(fd) = self.open_existing(path)? else {
            return Ok(());
        };
        let fd_path = proc_fd_path(&fd);
        mount(
            Some(fd_path.as_str()),
            fd_path.as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .map_err(|source| RootfsError::Mount {
            kind: MountKind::Bind,
            target: path.to_owned(),
            source,
        })?;
        drop(fd);
        self.note_mount(path, MountKind::Bind);
        let top = self.reopen(path)?;
        let attrs = Attrs::readonly(MsFlags::empty(), true);
        set_attrs(top.as_fd(), &attrs).map_err(|source| mount_flags_error(&attrs, path, source))
    }

    /// A mount of this plan made read-only where it is: its root is the path itself, so no bind is needed.
    fn readonly_mount(&mut self, path: &Path) -> Result<(), RootfsError> {
        let top = self.reopen(path)?;
        let attrs = Attrs::readonly(MsFlags::empty(), true);
        set_attrs(top.as_fd(), &attrs).map_err(|source| mount_flags_error(&attrs, path, source))
    }

    fn mask(&mut self, path: &Path) -> Result<(), RootfsError> {
        let Some(fd) = self.open_existing(path)? else {
            return Ok(());
        };
        let st = fstat(&fd).map_err(|source| RootfsError::Resolve {
            path: path.to_owned(),
            source,
        })?;
        let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
        let target = proc_fd_path(&fd);
        let (kind, result) = if is_dir {
            let flags =
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            (
                MountKind::Tmpfs,
                mount(
                    Some("tmpfs"),
                    target.as_str(),
                    Some("tmpfs"),
                    flags,
                    Some("mode=555"),
                ),
            )
        } else {
            (
                MountKind::Bind,
                mount(
                    Some("/dev/null"),
                    target.as_str(),
                    NONE,
                    MsFlags::MS_BIND,
                    NONE,
                ),
            )
        };
        result.map_err(|source| RootfsError::Mount {
            kind,
            target: path.to_owned(),
            source,
        })?;
        // A masking tmpfs is read-only: never a place to create targets in.
        self.note_mount(path, MountKind::Bind);
        Ok(())
    }

    fn pivot_root(&mut self, path: &Path) -> Result<(), RootfsError> {
        let root = self.root()?;
        fchdir(root).map_err(|source| RootfsError::Chdir {
            path: path.to_owned(),
            source,
        })?;
        self.root = None;
        self.fresh.clear();
        match pivot_root(".", ".") {
            Ok(()) => umount2(".", MntFlags::MNT_DETACH)
                .map_err(|source| RootfsError::DetachOldRoot { source })?,
            // The host root is the initramfs: pivot_root cannot work, chroot instead.
            Err(Errno::EINVAL) => move_and_chroot().map_err(|source| RootfsError::Chroot {
                root: path.to_owned(),
                source,
            })?,
            Err(source) => {
                return Err(RootfsError::PivotRoot {
                    root: path.to_owned(),
                    source,
                })
            }
        }
        chdir("/").map_err(|source| RootfsError::Chdir {
            path: "/".into(),
            source,
        })
    }
}

fn make_root_propagation(p: Propagation) -> Result<(), RootfsError> {
    let (flag, mode) = match p {
        Propagation::Private => (MsFlags::MS_PRIVATE, "private"),
        Propagation::Slave => (MsFlags::MS_SLAVE, "slave"),
    };
    mount(NONE, "/", NONE, flag | MsFlags::MS_REC, NONE)
        .map_err(|source| RootfsError::Propagation { mode, source })
}

/// The pivot_root fallback: with the cwd at the new root, move it onto `/` and chroot into it.
fn move_and_chroot() -> Result<(), Errno> {
    mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE)?;
    chroot(".")
}

fn remount_root_readonly() -> Result<(), RootfsError> {
    let err = |source| RootfsError::RemountRootReadonly { source };
    let root = open_root_dir(Path::new("/"))?;
    set_attrs(root.as_fd(), &Attrs::readonly(MsFlags::empty(), false)).map_err(err)
}

fn mount_flags_error(attrs: &Attrs, target: &Path, source: Errno) -> RootfsError {
    RootfsError::MountFlags {
        flags: attrs_to_string(attrs),
        target: target.to_owned(),
        source,
    }
}

/// Sets per-mount flags on the mount `fd` is the root of: mount_setattr(2), else a bind remount.
fn set_attrs(fd: BorrowedFd<'_>, attrs: &Attrs) -> Result<(), Errno> {
    if !MOUNT_SETATTR_MISSING.load(Ordering::Relaxed) {
        let (set, clear) = mount_attr_bits(attrs);
        match sys::mount_setattr(fd, attrs.recursive, set, clear) {
            Err(Errno::ENOSYS) => MOUNT_SETATTR_MISSING.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    bind_remount(fd, attrs)
}

/// `MOUNT_ATTR_*` bits to set and to clear for `attrs`.
fn mount_attr_bits(attrs: &Attrs) -> (u64, u64) {
    const BITS: [(MsFlags, u64); 5] = [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ];
    let to_bits = |flags: MsFlags| {
        BITS.iter()
            .filter(|(f, _)| flags.contains(*f))
            .fold(0, |acc, (_, b)| acc | b)
    };
    let (mut set, mut clear) = (to_bits(attrs.set), to_bits(attrs.clear));
    if let Some(atime) = attrs.atime {
        clear |= libc::MOUNT_ATTR__ATIME;
        set |= if atime == MsFlags::MS_NOATIME {
            libc::MOUNT_ATTR_NOATIME
        } else if atime == MsFlags::MS_STRICTATIME {
            libc::MOUNT_ATTR_STRICTATIME
        } else {
            libc::MOUNT_ATTR_RELATIME
        };
    }
    (set, clear)
}

/// `mount(MS_REMOUNT | MS_BIND)` of the top mount only, keeping the flags the mount already has
/// (the kernel refuses to clear flags locked in a user namespace) unless explicitly cleared.
fn bind_remount(fd: BorrowedFd<'_>, attrs: &Attrs) -> Result<(), Errno> {
    let flags = remount_flags(fstatvfs(fd)?.flags(), attrs);
    mount(
        NONE,
        proc_fd_path(&fd).as_str(),
        NONE,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
        NONE,
    )
}

/// The flags of a bind remount: the current ones (from statvfs), minus `attrs.clear`, plus
/// `attrs.set`, with an explicit atime mode.
pub(crate) fn remount_flags(current: FsFlags, attrs: &Attrs) -> MsFlags {
    const ST: [(FsFlags, MsFlags); 7] = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    let mut flags = ST
        .iter()
        .filter(|(st, _)| current.contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms);
    flags = (flags - attrs.clear) | (attrs.set & ATTR_FLAGS);
    if let Some(atime) = attrs.atime {
        flags = (flags - ATIME_FLAGS) | atime;
    } else if !flags.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
        flags |= MsFlags::MS_STRICTATIME;
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remount_keeps_current_flags_unless_cleared() {
        let current = FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_RELATIME;
        let ro = Attrs::readonly(MsFlags::empty(), false);
        assert_eq!(
            remount_flags(current, &ro),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME
        );
        let a = Attrs {
            set: MsFlags::MS_NOEXEC,
            clear: MsFlags::MS_NOSUID,
            atime: Some(MsFlags::MS_NOATIME),
            recursive: false,
        };
        assert_eq!(
            remount_flags(current, &a),
            MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_NOATIME
        );
        // Neither relatime nor noatime: the mount is strictatime, say so (the atime mode is locked).
        assert_eq!(
            remount_flags(FsFlags::empty(), &ro),
            MsFlags::MS_RDONLY | MsFlags::MS_STRICTATIME
        );
    }

    #[test]
    fn mount_attr_bits_from_attrs() {
        let a = Attrs {
            set: MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC,
            clear: MsFlags::MS_NOSUID,
            atime: Some(MsFlags::MS_NOATIME),
            recursive: true,
        };
        assert_eq!(
            mount_attr_bits(&a),
            (
                libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC | libc::MOUNT_ATTR_NOATIME,
                libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR__ATIME
            )
        );
        assert_eq!(
            mount_attr_bits(&Attrs::readonly(MsFlags::empty(), false)),
            (libc::MOUNT_ATTR_RDONLY, 0)
        );
    }
}
