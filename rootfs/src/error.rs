//! Errors: [`PlanError`] while building a plan (pure), [`RootfsError`] while applying it.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::spec::MountKind;

/// A [`RootfsSpec`](crate::RootfsSpec) that cannot be turned into a plan. Mount errors name the
/// index in [`RootfsSpec::mounts`](crate::RootfsSpec::mounts) and the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A mount kind string that is not one of `bind`, `tmpfs`, `proc`, `sysfs`, `devpts`,
    /// `mqueue`, `overlay`, `cgroup`, `cgroup2`.
    #[error("unknown mount kind `{kind}` (expected bind, tmpfs, proc, sysfs, devpts, mqueue, overlay, cgroup or cgroup2)")]
    UnknownKind {
        /// The string given.
        kind: String,
    },
    /// A mount target that is not absolute.
    #[error("mounts[{index}] ({target}): the target must be an absolute path")]
    RelativeTarget {
        /// Index in the mount list.
        index: usize,
        /// The target given.
        target: PathBuf,
    },
    /// A mount target with a `..` component.
    #[error("mounts[{index}] ({target}): the target must not contain `..`")]
    DotDotTarget {
        /// Index in the mount list.
        index: usize,
        /// The target given.
        target: PathBuf,
    },
    /// An `idmap` bind mount in a container without a new user namespace: the mapping comes from
    /// the container's user namespace.
    #[error(
        "mounts[{index}] ({target}): the `idmap` option needs a new user namespace with id maps"
    )]
    IdmapWithoutUserNs {
        /// Index in the mount list.
        index: usize,
        /// The target given.
        target: PathBuf,
    },
    /// A mount on `/` itself.
    #[error("mounts[{index}] ({target}): the container's `/` cannot be a mount target")]
    RootTarget {
        /// Index in the mount list.
        index: usize,
        /// The target given.
        target: PathBuf,
    },
    /// An option no mount kind knows.
    #[error("mounts[{index}] ({target}): unknown option `{option}`")]
    UnknownOption {
        /// Index in the mount list.
        index: usize,
        /// The target.
        target: PathBuf,
        /// The option.
        option: String,
    },
    /// An option that exists, but not for this kind of mount.
    #[error("mounts[{index}] ({target}): option `{option}` does not apply to a {kind} mount")]
    OptionNotForKind {
        /// Index in the mount list.
        index: usize,
        /// The target.
        target: PathBuf,
        /// The kind of the mount.
        kind: MountKind,
        /// The option.
        option: String,
    },
    /// An option with a malformed value.
    #[error("mounts[{index}] ({target}): bad option `{option}`: expected {expected}")]
    BadOptionValue {
        /// Index in the mount list.
        index: usize,
        /// The target.
        target: PathBuf,
        /// The option.
        option: String,
        /// What the value should look like.
        expected: &'static str,
    },
    /// A bind mount without a source.
    #[error("mounts[{index}] ({target}): a bind mount needs a source")]
    BindWithoutSource {
        /// Index in the mount list.
        index: usize,
        /// The target.
        target: PathBuf,
    },
    /// A bind source that is not an absolute host path.
    #[error("mounts[{index}] ({target}): the bind source {path} must be an absolute host path")]
    RelativeBindSource {
        /// Index in the mount list.
        index: usize,
        /// The target.
        target: PathBuf,
        /// The source given.
        path: PathBuf,
    },
    /// An overlay without `lowerdir=`.
    #[error("mounts[{index}] ({target}): an overlay mount needs a `lowerdir=` option")]
    OverlayWithoutLowerdir {
        /// Index in the mount list.
        index: usize,
        /// The target.
        target: PathBuf,
    },
    /// An overlay with only one of `upperdir=` and `workdir=`.
    #[error("mounts[{index}] ({target}): overlay options `upperdir=` and `workdir=` go together")]
    OverlayUpperWithoutWork {
        /// Index in the mount list.
        index: usize,
        /// The target.
        target: PathBuf,
    },
    /// The root directory or tmpfs staging directory is not an absolute path without `..`.
    #[error("root directory {path}: must be an absolute path without `..`")]
    BadRoot {
        /// The path given.
        path: PathBuf,
    },
    /// A host dir of [`RootSource::HostTmpfs`](crate::RootSource::HostTmpfs) that is not an
    /// absolute path without `..`, or is `/`.
    #[error("host dir {path}: must be an absolute path below `/` without `..`")]
    BadHostDir {
        /// The path given.
        path: PathBuf,
    },
    /// A masked or read-only path that is not an absolute path below `/` without `..`.
    #[error("{list} {path}: must be an absolute path below `/` without `..`")]
    BadPath {
        /// `"masked path"` or `"read-only path"`.
        list: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// A device node path that is not an absolute path below `/` without `..`, or is `/dev`.
    #[error("devices[{index}] ({path}): must be an absolute path below `/` (not `/dev` itself) without `..`")]
    BadDevicePath {
        /// Index in [`RootfsSpec::devices`](crate::RootfsSpec::devices).
        index: usize,
        /// The path given.
        path: PathBuf,
    },
    /// A device number the kernel cannot hold.
    #[error("devices[{index}] ({path}): device number {major}:{minor} out of range (major at most 4095, minor at most 1048575)")]
    BadDeviceNumber {
        /// Index in [`RootfsSpec::devices`](crate::RootfsSpec::devices).
        index: usize,
        /// The path given.
        path: PathBuf,
        /// The major number given.
        major: u64,
        /// The minor number given.
        minor: u64,
    },
    /// A sysctl key with `/`, an empty component (so also `..`) or a NUL.
    #[error("sysctl `{key}`: the key must be names separated by single dots, without `/`")]
    BadSysctlKey {
        /// The key given.
        key: String,
    },
}

/// A step of [`MountPlan::apply`](crate::MountPlan::apply) (or a path lookup) that failed. Each
/// variant names the operation and the path; the errno is the [source](std::error::Error::source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RootfsError {
    /// Making `/` recursively private or slave (first), or the new root shared or unbindable
    /// (after pivot_root).
    #[error("make / {mode}")]
    Propagation {
        /// `"recursively private"`, `"recursively slave"`, `"shared"`, `"recursively unbindable"`, …
        mode: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Binding the root directory onto itself.
    #[error("bind the root directory {path} onto itself")]
    BindRoot {
        /// The host root directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Mounting the tmpfs root on the staging directory.
    #[error("mount the root tmpfs on {path}")]
    RootTmpfs {
        /// The staging directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Opening a root directory.
    #[error("open the root directory {path}")]
    OpenRoot {
        /// The root directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Resolving a path inside the root.
    #[error("resolve {path} inside the root")]
    Resolve {
        /// The path inside the root.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Creating a missing mount target (or one of its parents) inside the root.
    #[error("create {path} inside the root")]
    CreateTarget {
        /// The path inside the root being created.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Looking at a bind source on the host (to create a file or a directory as its target).
    #[error("inspect the bind source {path}")]
    InspectSource {
        /// The host path.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Looking at a host dir of a tmpfs root.
    #[error("inspect the host dir {path}")]
    InspectHostDir {
        /// The host path.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A mount(2) call.
    #[error("mount {kind} on {target}")]
    Mount {
        /// The kind of mount.
        kind: MountKind,
        /// The target inside the container.
        target: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Cloning the source of an idmapped bind mount (open_tree(2), in the runtime).
    #[error("clone the mount tree of {source_path} for the idmapped mount on {target} (open_tree; needs Linux 5.2+)")]
    OpenTree {
        /// The host source.
        source_path: PathBuf,
        /// The target inside the container.
        target: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Setting `MOUNT_ATTR_IDMAP` on the cloned source (mount_setattr(2), in the runtime).
    #[error("idmap the bind mount of {source_path} on {target}: {why}")]
    Idmap {
        /// The host source.
        source_path: PathBuf,
        /// The target inside the container.
        target: PathBuf,
        /// What the errno most likely means.
        why: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// An idmapped bind mount whose prepared detached mount was not handed to
    /// [`MountPlan::apply_with`](crate::MountPlan::apply_with).
    #[error(
        "the idmapped bind mount on {target} was not prepared by the runtime (DetachedMounts)"
    )]
    MissingDetached {
        /// The target inside the container.
        target: PathBuf,
        /// Always `EINVAL`.
        #[source]
        source: Errno,
    },
    /// Attaching the idmapped detached mount on its target (move_mount(2), in the child).
    #[error("attach the idmapped bind mount on {target} (move_mount)")]
    MoveMount {
        /// The target inside the container.
        target: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Changing the flags (read-only, nosuid, …) of a mount after creating it.
    #[error("set the flags ({flags}) of the mount on {target}")]
    MountFlags {
        /// The flags being set, mount(8) style.
        flags: String,
        /// The target inside the container.
        target: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Recursive mount options (`rro`, `rnosuid`, …) on a kernel without mount_setattr(2)
    /// (before 5.12): refused, never applied to the top mount only.
    #[error(
        "recursive mount options ({options}) on {target} need mount_setattr(2) (Linux 5.12 or later), which this kernel lacks"
    )]
    RecursiveMountFlags {
        /// The recursive options, as given (`rro,rnosuid`).
        options: String,
        /// The target inside the container.
        target: PathBuf,
        /// Always `ENOSYS`.
        #[source]
        source: Errno,
    },
    /// Changing the propagation of a mount after creating it.
    #[error("set the propagation of the mount on {target}")]
    MountPropagation {
        /// The target inside the container.
        target: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Creating a symlink inside the root.
    #[error("create the symlink {link} -> {to}")]
    Symlink {
        /// The link inside the container.
        link: PathBuf,
        /// What it points to.
        to: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// pivot_root(2) into the new root.
    #[error("pivot_root into {root}")]
    PivotRoot {
        /// The host root directory.
        root: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Detaching the old root after pivot_root.
    #[error("detach the old root after pivot_root")]
    DetachOldRoot {
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The chroot fallback (move the root mount onto `/`, then chroot).
    #[error("move {root} onto / and chroot into it (pivot_root fallback)")]
    Chroot {
        /// The host root directory.
        root: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Changing the working directory.
    #[error("change directory to {path}")]
    Chdir {
        /// The directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Remounting `/` read-only at the end.
    #[error("remount / read-only")]
    RemountRootReadonly {
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Creating a device node (mknod(2)); `EEXIST` when something other than the same node is
    /// there already.
    #[error("create the device node {path} (mknod)")]
    Mknod {
        /// The node inside the container.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Changing the owner of a device node.
    #[error("chown the device node {path} to {uid}:{gid}")]
    DeviceOwner {
        /// The node inside the container.
        path: PathBuf,
        /// The owner asked for.
        uid: u32,
        /// The group asked for.
        gid: u32,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Changing the mode of a device node.
    #[error("chmod the device node {path} to {mode:04o}")]
    DeviceMode {
        /// The node inside the container.
        path: PathBuf,
        /// The permission bits asked for.
        mode: u32,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Writing a sysctl to the container's `/proc/sys` (`ENOENT`: no such parameter, `EINVAL`: a
    /// value the kernel refuses, `EISDIR`: the key names a directory).
    #[error("set the sysctl {key} to {value:?}")]
    Sysctl {
        /// The key, `net.ipv4.ip_forward`.
        key: String,
        /// The value.
        value: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// `/proc`, `/sys` or `/dev` of the rootfs is a symlink: mounting there (or below) would act
    /// on a place the rootfs chose.
    #[error("rootfs {} is a symlink: refused ({} must be mounted on ordinary directory)", path.display(), path.display())]
    SymlinkedSystemDir {
        /// `/proc`, `/sys` or `/dev`.
        path: PathBuf,
        /// Always `ELOOP`.
        #[source]
        source: Errno,
    },
    /// The container's `/dev/null`, the source of the masks of files, is not the char device 1:3
    /// (a symlink, a regular file, missing, …): masking fails closed.
    #[error("the container's /dev/null is {found}, not the char device 1:3: refusing to mask {target} with it")]
    BadDevNull {
        /// What is there instead.
        found: &'static str,
        /// The masked path that needed it.
        target: PathBuf,
        /// The errno (`ENOENT` when missing, else `EINVAL`).
        #[source]
        source: Errno,
    },
    /// The mount just made on `target` is no longer there when its flags are set (its place was
    /// renamed meanwhile): the flags are not set anywhere else.
    #[error("the mount on {target} is no longer at its place (renamed during set-up)")]
    TargetMoved {
        /// The target inside the container.
        target: PathBuf,
        /// Always `EXDEV`.
        #[source]
        source: Errno,
    },
    /// The container's `/proc` is not a procfs where one was mounted (sysctls are written only
    /// through a verified procfs handle).
    #[error("the container's {path} is not procfs")]
    NotProcfs {
        /// `/proc`.
        path: PathBuf,
        /// The errno (`EXDEV` when another file system is there).
        #[source]
        source: Errno,
    },
    /// Reading back the host path of an fd (`/proc/self/fd/N`).
    #[error("read the host path of {path} through /proc/self/fd")]
    FdPath {
        /// The path inside the root that was opened.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
}

impl RootfsError {
    /// The errno of the failed system call.
    pub fn errno(&self) -> Option<i32> {
        Some(self.source_errno() as i32)
    }

    fn source_errno(&self) -> Errno {
        match self {
            RootfsError::Propagation { source, .. }
            | RootfsError::BindRoot { source, .. }
            | RootfsError::RootTmpfs { source, .. }
            | RootfsError::OpenRoot { source, .. }
            | RootfsError::Resolve { source, .. }
            | RootfsError::CreateTarget { source, .. }
            | RootfsError::InspectSource { source, .. }
            | RootfsError::InspectHostDir { source, .. }
            | RootfsError::Mount { source, .. }
            | RootfsError::OpenTree { source, .. }
            | RootfsError::Idmap { source, .. }
            | RootfsError::MissingDetached { source, .. }
            | RootfsError::MoveMount { source, .. }
            | RootfsError::MountFlags { source, .. }
            | RootfsError::RecursiveMountFlags { source, .. }
            | RootfsError::MountPropagation { source, .. }
            | RootfsError::Symlink { source, .. }
            | RootfsError::PivotRoot { source, .. }
            | RootfsError::DetachOldRoot { source }
            | RootfsError::Chroot { source, .. }
            | RootfsError::Chdir { source, .. }
            | RootfsError::RemountRootReadonly { source }
            | RootfsError::FdPath { source, .. }
            | RootfsError::SymlinkedSystemDir { source, .. }
            | RootfsError::BadDevNull { source, .. }
            | RootfsError::TargetMoved { source, .. }
            | RootfsError::NotProcfs { source, .. }
            | RootfsError::Mknod { source, .. }
            | RootfsError::DeviceOwner { source, .. }
            | RootfsError::DeviceMode { source, .. }
            | RootfsError::Sysctl { source, .. } => *source,
        }
    }

    /// A short fixed name of the stage that failed, for the parent's error report
    /// (`"mount"`, `"pivot_root"`, …).
    pub fn stage(&self) -> &'static str {
        match self {
            RootfsError::Propagation { .. } => "root propagation",
            RootfsError::BindRoot { .. } => "bind root",
            RootfsError::RootTmpfs { .. } => "root tmpfs",
            RootfsError::OpenRoot { .. } => "open root",
            RootfsError::Resolve { .. } => "resolve in root",
            RootfsError::CreateTarget { .. } => "create mount target",
            RootfsError::InspectSource { .. } => "inspect bind source",
            RootfsError::InspectHostDir { .. } => "inspect host dir",
            RootfsError::Mount { .. } => "mount",
            RootfsError::OpenTree { .. } => "open_tree",
            RootfsError::Idmap { .. } => "idmap mount",
            RootfsError::MissingDetached { .. } => "idmap mount",
            RootfsError::MoveMount { .. } => "move_mount",
            RootfsError::MountFlags { .. } => "mount flags",
            RootfsError::RecursiveMountFlags { .. } => "mount flags",
            RootfsError::MountPropagation { .. } => "mount propagation",
            RootfsError::Symlink { .. } => "symlink",
            RootfsError::PivotRoot { .. } => "pivot_root",
            RootfsError::DetachOldRoot { .. } => "detach old root",
            RootfsError::Chroot { .. } => "chroot",
            RootfsError::Chdir { .. } => "chdir",
            RootfsError::RemountRootReadonly { .. } => "remount root read-only",
            RootfsError::FdPath { .. } => "fd path",
            RootfsError::SymlinkedSystemDir { .. } => "resolve in root",
            RootfsError::BadDevNull { .. } => "mask",
            RootfsError::TargetMoved { .. } => "mount flags",
            RootfsError::NotProcfs { .. } => "procfs",
            RootfsError::Mknod { .. } => "mknod",
            RootfsError::DeviceOwner { .. } => "device owner",
            RootfsError::DeviceMode { .. } => "device mode",
            RootfsError::Sysctl { .. } => "sysctl",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn rootfs_error_reports_errno_stage_and_source_once() {
        let e = RootfsError::Mount {
            kind: MountKind::Proc,
            target: "/proc".into(),
            source: Errno::EPERM,
        };
        assert_eq!(e.to_string(), "mount proc on /proc");
        assert_eq!(e.errno(), Some(libc::EPERM));
        assert_eq!(e.stage(), "mount");
        assert_eq!(e.source().unwrap().to_string(), Errno::EPERM.to_string());
    }

    #[test]
    fn device_and_sysctl_errors_name_what_failed() {
        let e = RootfsError::Sysctl {
            key: "net.ipv4.ip_forward".into(),
            value: "2".into(),
            source: Errno::EINVAL,
        };
        assert_eq!(e.to_string(), "set the sysctl net.ipv4.ip_forward to \"2\"");
        assert_eq!((e.stage(), e.errno()), ("sysctl", Some(libc::EINVAL)));
        let e = RootfsError::DeviceMode {
            path: "/dev/fuse".into(),
            mode: 0o666,
            source: Errno::EPERM,
        };
        assert_eq!(e.to_string(), "chmod the device node /dev/fuse to 0666");
        assert_eq!((e.stage(), e.errno()), ("device mode", Some(libc::EPERM)));
        let e = RootfsError::Mknod {
            path: "/dev/fuse".into(),
            source: Errno::EEXIST,
        };
        assert_eq!(e.to_string(), "create the device node /dev/fuse (mknod)");
        assert_eq!(e.stage(), "mknod");
    }

    #[test]
    fn plan_error_names_index_target_and_option() {
        let e = PlanError::UnknownOption {
            index: 2,
            target: "/data".into(),
            option: "nosiud".into(),
        };
        assert_eq!(e.to_string(), "mounts[2] (/data): unknown option `nosiud`");
    }
}
