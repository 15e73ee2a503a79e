//! Applying a [`MountPlan`] in the container's child process.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root, symlinkat};

use crate::device::{make_node, DeviceOp};
use crate::error::RootfsError;
use crate::idmap::DetachedMounts;
use crate::options::{attrs_to_string, rec_attrs_to_string, Attrs, ATIME_FLAGS, ATTR_FLAGS};
use crate::plan::{MountOp, MountPlan, StepKind, TargetKind};
use crate::resolve::{
    create_entry, ensure_in_root, open_at_root, open_root_dir, parent_in_root, proc_fd_path,
    Create, CreateFailure,
};
use crate::spec::{MountKind, Propagation};
use crate::sys;
use crate::target::Target;

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
    /// Read-only and other flags on bind mounts are set on the top mount (even of a recursive
    /// bind, as runc) with mount_setattr(2); on kernels without it (before 5.12) with a bind
    /// remount, keeping the flags the kernel locks in a user namespace (nosuid, nodev, noexec,
    /// atime). The recursive options (`rro`, …) are set next on the mount and every submount with
    /// mount_setattr(2) `AT_RECURSIVE`, and are an error on kernels without it.
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
            keep: self
                .steps
                .iter()
                .filter_map(|s| match &s.kind {
                    StepKind::ReadonlyMount(p) => Some(p.clone()),
                    _ => None,
                })
                .collect(),
            kept: Vec::new(),
            dev_null: None,
            proc: None,
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
    /// Targets of mounts a later step makes read-only in place: their mount fds are kept.
    keep: Vec<PathBuf>,
    /// The mounts of `keep`, as made.
    kept: Vec<(PathBuf, OwnedFd)>,
    /// The container's `/dev/null`, opened and verified once, the source of file masks.
    dev_null: Option<OwnedFd>,
    /// The container's procfs, opened and verified once, for the sysctls.
    proc: Option<OwnedFd>,
}

/// What binding a mount left: the attached tree (an fd on the new mount itself), and whether
/// its flags were set already (before it was attached); or nothing (a mount(2) in place).
enum Mounted {
    Tree { fd: OwnedFd, attrs_done: bool },
    InPlace,
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
            StepKind::Sysctl(s) => s.write(self.proc()?),
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

    /// Forgets the fresh tmpfs a mount on `target` covers; remembers a new tmpfs (`top`: the
    /// fd of its root, when known).
    fn note_mount(&mut self, target: &Path, kind: MountKind, top: Option<OwnedFd>) {
        self.fresh.retain(|f| !f.path.starts_with(target));
        if kind == MountKind::Tmpfs {
            self.fresh.push(FreshDir {
                path: target.to_owned(),
                fd: top,
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

    /// Opens the mount target `path` inside the root (see [`Target::open`]), creating it when
    /// missing and `create` says what to create; `None` when missing and `create` is `None`.
    fn target(
        &mut self,
        path: &Path,
        create: Option<Create<'_>>,
    ) -> Result<Option<Target>, RootfsError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(RootfsError::Resolve {
                path: path.to_owned(),
                source: Errno::EINVAL,
            });
        };
        if let (Some(dir), Some(create)) = (self.fresh_dir(parent)?, create) {
            let owned = dir.try_clone_to_owned().map_err(|e| RootfsError::Resolve {
                path: parent.to_owned(),
                source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
            })?;
            match create_entry(dir, name, create) {
                Ok(fd) => {
                    let name = name.to_owned();
                    return Ok(Some(Target {
                        parent: owned,
                        name,
                        fd,
                    }));
                }
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
        let root = self.root()?;
        let parent_fd = match create {
            Some(_) => ensure_in_root(root, parent, Create::Dir)?,
            None => match open_at_root(root, parent) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(None),
                Err(source) => {
                    return Err(RootfsError::Resolve {
                        path: parent.to_owned(),
                        source,
                    })
                }
            },
        };
        Target::open(root, parent_fd, path, create)
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
            rec_attrs: None,
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
        let t = self.target(&m.target, Some(create))?.expect("created");
        let mounted = if m.idmap {
            self.attach_detached(&t.fd, &m.target)?;
            Mounted::InPlace
        } else if m.kind == MountKind::Bind {
            bind_tree(
                BindFrom::Path(&m.source),
                m.flags,
                m.attrs.as_ref(),
                &t,
                &m.target,
            )?
        } else {
            mount_fs(m, &t)?;
            Mounted::InPlace
        };
        let (top, attrs_done) = match mounted {
            Mounted::Tree { fd, attrs_done } => (Some(fd), attrs_done),
            Mounted::InPlace => (None, false),
        };
        let attrs = m.attrs.as_ref().filter(|_| !attrs_done);
        let keep = self.keep.contains(&m.target);
        let need_top = attrs.is_some() || m.rec_attrs.is_some() || m.propagation.is_some() || keep;
        let need_top = need_top || m.kind == MountKind::Tmpfs;
        let top = match top {
            Some(fd) => Some(fd),
            None if need_top => Some(t.reopen_mount(&m.target)?),
            None => None,
        };
        drop(t);
        if let (Some(top), Some(attrs)) = (&top, attrs) {
            set_attrs(top.as_fd(), attrs)
                .map_err(|source| mount_flags_error(attrs, &m.target, source))?;
        }
        if let (Some(top), Some(rec)) = (&top, &m.rec_attrs) {
            set_rec_attrs(top.as_fd(), rec, &m.target)?;
        }
        if let (Some(top), Some(p)) = (&top, m.propagation) {
            mount(NONE, proc_fd_path(top).as_str(), NONE, p, NONE).map_err(|source| {
                RootfsError::MountPropagation {
                    target: m.target.clone(),
                    source,
                }
            })?;
        }
        let top = match (top, keep) {
            (Some(fd), true) => {
                let dup = fd.try_clone().map_err(|e| io_error(&m.target, e))?;
                self.kept.push((m.target.clone(), dup));
                Some(fd)
            }
            (top, _) => top,
        };
        self.note_mount(
            &m.target,
            m.kind,
            top.filter(|_| m.kind == MountKind::Tmpfs),
        );
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

    /// Binds `path` read-only onto itself, recursively (skipped when missing): a clone of the
    /// mount at the resolved target, made read-only before it is attached on that same target.
    fn readonly_path(&mut self, path: &Path) -> Result<(), RootfsError> {
        let Some(t) = self.target(path, None)? else {
            return Ok(());
        };
        let attrs = Attrs::readonly(MsFlags::empty(), true);
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        let mounted = bind_tree(BindFrom::Fd(t.fd.as_fd()), flags, Some(&attrs), &t, path)?;
        finish_bind(mounted, &t, &attrs, path)?;
        self.note_mount(path, MountKind::Bind, None);
        Ok(())
    }

    /// A mount of this plan made read-only where it is: its root is the path itself, so no bind
    /// is needed. The mount is the one kept when it was made (its path is not resolved again).
    fn readonly_mount(&mut self, path: &Path) -> Result<(), RootfsError> {
        let attrs = Attrs::readonly(MsFlags::empty(), true);
        let Some((_, top)) = self.kept.iter().rev().find(|(p, _)| p == path) else {
            return Err(RootfsError::TargetMoved {
                target: path.to_owned(),
                source: Errno::ENOENT,
            });
        };
        set_attrs(top.as_fd(), &attrs).map_err(|source| mount_flags_error(&attrs, path, source))
    }

    /// Hides `path` (skipped when missing): a read-only tmpfs on a directory, else a read-only,
    /// nosuid, noexec bind of the container's own verified `/dev/null` (see [`Ctx::dev_null`]).
    fn mask(&mut self, path: &Path) -> Result<(), RootfsError> {
        let Some(t) = self.target(path, None)? else {
            return Ok(());
        };
        let st = fstat(&t.fd).map_err(|source| RootfsError::Resolve {
            path: path.to_owned(),
            source,
        })?;
        let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
        if is_dir {
            let flags =
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            let target = proc_fd_path(&t.fd);
            mount(
                Some("tmpfs"),
                target.as_str(),
                Some("tmpfs"),
                flags,
                Some("mode=555"),
            )
            .map_err(|source| RootfsError::Mount {
                kind: MountKind::Tmpfs,
                target: path.to_owned(),
                source,
            })?;
        } else {
            let null = self.dev_null(path)?;
            let attrs = Attrs {
                set: MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                ..Attrs::default()
            };
            let from = BindFrom::Fd(null.as_fd());
            let mounted = bind_tree(from, MsFlags::MS_BIND, Some(&attrs), &t, path)?;
            finish_bind(mounted, &t, &attrs, path)?;
            self.dev_null = Some(null);
        }
        // A masking tmpfs is read-only: never a place to create targets in.
        self.note_mount(path, MountKind::Bind, None);
        Ok(())
    }

    /// The container's `/dev/null`, opened once through the root (`/dev/null` itself never
    /// followed) and verified to be the char device 1:3: a symlink, a regular file or anything
    /// else the rootfs put there is refused ([`RootfsError::BadDevNull`]).
    fn dev_null(&mut self, masking: &Path) -> Result<OwnedFd, RootfsError> {
        if let Some(fd) = self.dev_null.take() {
            return Ok(fd);
        }
        let bad = |found, source| RootfsError::BadDevNull {
            found,
            target: masking.to_owned(),
            source,
        };
        let dev = match open_at_root(self.root()?, Path::new("/dev")) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Err(bad("missing", Errno::ENOENT)),
            Err(source) => {
                return Err(RootfsError::Resolve {
                    path: "/dev".into(),
                    source,
                })
            }
        };
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let null = match openat(dev.as_fd(), "null", flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Err(bad("missing", Errno::ENOENT)),
            Err(source) => {
                return Err(RootfsError::Resolve {
                    path: "/dev/null".into(),
                    source,
                })
            }
        };
        verify_dev_null(&null).map_err(|(found, e)| bad(found, e))?;
        Ok(null)
    }

    /// The container's procfs (`/proc` opened through the root, never through a symlink), verified
    /// with fstatfs to be procfs; opened once.
    fn proc(&mut self) -> Result<BorrowedFd<'_>, RootfsError> {
        if self.proc.is_none() {
            let root = self.root()?;
            let proc = open_procfs(root)?;
            self.proc = Some(proc);
        }
        Ok(self.proc.as_ref().map(AsFd::as_fd).expect("opened above"))
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

/// Where a bind comes from: a host path (resolved in the runtime's mount namespace, as mount(2)
/// would), or an open file (no path resolved).
#[derive(Clone, Copy)]
enum BindFrom<'a> {
    Path(&'a Path),
    Fd(BorrowedFd<'a>),
}

/// Binds `from` on the target `t`: a detached clone (open_tree), its flags set before it is
/// attached (mount_setattr), attached on the target's fd (move_mount). On kernels without
/// open_tree (before 5.2), mount(2) through `/proc/self/fd/N` instead.
fn bind_tree(
    from: BindFrom<'_>,
    flags: MsFlags,
    attrs: Option<&Attrs>,
    t: &Target,
    target: &Path,
) -> Result<Mounted, RootfsError> {
    let recursive = flags.contains(MsFlags::MS_REC);
    let err = |source| RootfsError::Mount {
        kind: MountKind::Bind,
        target: target.to_owned(),
        source,
    };
    let tree = match from {
        BindFrom::Path(p) => sys::open_tree_clone(p, recursive),
        BindFrom::Fd(fd) => sys::open_tree_clone_fd(fd, recursive),
    };
    let tree = match tree {
        Ok(tree) => tree,
        Err(Errno::ENOSYS) => {
            let source = match from {
                BindFrom::Path(p) => p.to_string_lossy().into_owned(),
                BindFrom::Fd(fd) => proc_fd_path(&fd),
            };
            let on = proc_fd_path(&t.fd);
            mount(Some(source.as_str()), on.as_str(), NONE, flags, NONE).map_err(err)?;
            return Ok(Mounted::InPlace);
        }
        Err(source) => return Err(err(source)),
    };
    let attrs_done = match attrs {
        Some(a) => set_attrs_detached(tree.as_fd(), a)
            .map_err(|source| mount_flags_error(a, target, source))?,
        None => true,
    };
    sys::move_mount_fds(tree.as_fd(), t.fd.as_fd()).map_err(err)?;
    Ok(Mounted::Tree {
        fd: tree,
        attrs_done,
    })
}

/// Sets `attrs` on a bind [`bind_tree`] made when they are not set yet.
fn finish_bind(
    mounted: Mounted,
    t: &Target,
    attrs: &Attrs,
    target: &Path,
) -> Result<(), RootfsError> {
    let top = match mounted {
        Mounted::Tree {
            attrs_done: true, ..
        } => return Ok(()),
        Mounted::Tree { fd, .. } => fd,
        Mounted::InPlace => t.reopen_mount(target)?,
    };
    set_attrs(top.as_fd(), attrs).map_err(|source| mount_flags_error(attrs, target, source))
}

/// A mount other than a bind, on the target's fd.
fn mount_fs(m: &MountOp, t: &Target) -> Result<(), RootfsError> {
    mount(
        Some(&m.source),
        proc_fd_path(&t.fd).as_str(),
        m.kind.fs_type(),
        m.flags,
        m.data.as_deref(),
    )
    .map_err(|source| RootfsError::Mount {
        kind: m.kind,
        target: m.target.clone(),
        source,
    })
}

/// Whether `fd` is the char device 1:3; else what it is.
fn verify_dev_null(fd: &OwnedFd) -> Result<(), (&'static str, Errno)> {
    let st = fstat(fd).map_err(|e| ("unreadable", e))?;
    let found = match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFCHR if st.st_rdev == nix::sys::stat::makedev(1, 3) => return Ok(()),
        SFlag::S_IFCHR => "another char device",
        SFlag::S_IFLNK => "a symlink",
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a directory",
        _ => "not a char device",
    };
    Err((found, Errno::EINVAL))
}

/// Opens `proc` in `root` (O_NOFOLLOW: a symlink is refused) and checks it is procfs.
fn open_procfs(root: BorrowedFd<'_>) -> Result<OwnedFd, RootfsError> {
    let path = Path::new("/proc");
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let proc = match openat(root, "proc", flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOTDIR) if is_symlink_at(root, "proc") => {
            return Err(RootfsError::SymlinkedSystemDir {
                path: path.to_owned(),
                source: Errno::ELOOP,
            })
        }
        Err(source) => {
            return Err(RootfsError::Resolve {
                path: path.to_owned(),
                source,
            })
        }
    };
    crate::sysctl::check_procfs(proc.as_fd()).map_err(|source| RootfsError::NotProcfs {
        path: path.to_owned(),
        source,
    })?;
    Ok(proc)
}

fn is_symlink_at(dir: BorrowedFd<'_>, name: &str) -> bool {
    nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK)
}

fn io_error(path: &Path, e: std::io::Error) -> RootfsError {
    RootfsError::Resolve {
        path: path.to_owned(),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// Sets `attrs` on a detached mount with mount_setattr(2); `false` when the kernel lacks it
/// (the caller sets them once the mount is attached, with a bind remount).
fn set_attrs_detached(fd: BorrowedFd<'_>, attrs: &Attrs) -> Result<bool, Errno> {
    if MOUNT_SETATTR_MISSING.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let (set, clear) = mount_attr_bits(attrs);
    match sys::mount_setattr(fd, attrs.recursive, set, clear) {
        Ok(()) => Ok(true),
        Err(Errno::ENOSYS) => {
            MOUNT_SETATTR_MISSING.store(true, Ordering::Relaxed);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn make_root_propagation(p: Propagation) -> Result<(), RootfsError> {
    mount(NONE, "/", NONE, p.flags(), NONE).map_err(|source| RootfsError::Propagation {
        mode: p.describe(),
        source,
    })
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

/// Sets the recursive options on the mount `fd` is the root of and every mount below it, with
/// mount_setattr(2) `AT_RECURSIVE`. Without it (kernel < 5.12) that is an error naming the options:
/// a bind remount would change the top mount only.
fn set_rec_attrs(fd: BorrowedFd<'_>, attrs: &Attrs, target: &Path) -> Result<(), RootfsError> {
    let (set, clear) = mount_attr_bits(attrs);
    sys::mount_setattr(fd, true, set, clear)
        .map_err(|source| rec_attrs_error(attrs, target, source))
}

fn rec_attrs_error(attrs: &Attrs, target: &Path, source: Errno) -> RootfsError {
    let options = rec_attrs_to_string(attrs);
    match source {
        Errno::ENOSYS => RootfsError::RecursiveMountFlags {
            options,
            target: target.to_owned(),
            source,
        },
        source => RootfsError::MountFlags {
            flags: options,
            target: target.to_owned(),
            source,
        },
    }
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
    match attrs.nosymfollow {
        Some(true) => set |= sys::MOUNT_ATTR_NOSYMFOLLOW,
        Some(false) => clear |= sys::MOUNT_ATTR_NOSYMFOLLOW,
        None => {}
    }
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
            ..Attrs::default()
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
            ..Attrs::default()
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

    #[test]
    fn nosymfollow_bits() {
        let on = Attrs {
            nosymfollow: Some(true),
            ..Attrs::default()
        };
        assert_eq!(mount_attr_bits(&on), (sys::MOUNT_ATTR_NOSYMFOLLOW, 0));
        let off = Attrs {
            nosymfollow: Some(false),
            ..on
        };
        assert_eq!(mount_attr_bits(&off), (0, sys::MOUNT_ATTR_NOSYMFOLLOW));
    }

    /// On a kernel without mount_setattr (ENOSYS) the recursive options are refused by name,
    /// never applied to the top mount only.
    #[test]
    fn recursive_options_without_mount_setattr_are_an_error_naming_them() {
        let rec = Attrs {
            set: MsFlags::MS_RDONLY,
            clear: MsFlags::MS_NOSUID,
            recursive: true,
            ..Attrs::default()
        };
        let e = rec_attrs_error(&rec, Path::new("/data"), Errno::ENOSYS);
        assert!(
            matches!(e, RootfsError::RecursiveMountFlags { .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "recursive mount options (rro,rsuid) on /data need mount_setattr(2) (Linux 5.12 or \
             later), which this kernel lacks"
        );
        assert_eq!(e.errno(), Some(libc::ENOSYS));
        let e = rec_attrs_error(&rec, Path::new("/data"), Errno::EPERM);
        assert_eq!(
            e.to_string(),
            "set the flags (rro,rsuid) of the mount on /data"
        );
    }
}
