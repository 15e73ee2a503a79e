//! The input of a mount plan: what the container's root file system should look like.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::mount::MsFlags;

use crate::error::PlanError;

/// Where the container's root directory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// An existing root directory on the host (absolute, canonical). It is bound onto itself
    /// (recursively) so that it is a mount point `pivot_root` can use; the host directory itself
    /// is never modified except for creating missing mount targets.
    Dir(PathBuf),
    /// An empty tmpfs mounted on `staging` (an empty directory the caller owns), into which each of
    /// `host_dirs` is bound read-only at the same path. A host dir that is a symlink (for example
    /// `/bin -> usr/bin` on merged-`/usr` hosts) is reproduced as the same symlink instead of being
    /// bound; a host dir that does not exist is skipped.
    HostTmpfs {
        /// Empty directory the tmpfs is mounted on (absolute).
        staging: PathBuf,
        /// Absolute host directories to expose read-only, e.g. [`RootSource::DEFAULT_HOST_DIRS`].
        host_dirs: Vec<PathBuf>,
    },
}

impl RootSource {
    /// The host directories [`RootSource::host_tmpfs`] exposes.
    pub const DEFAULT_HOST_DIRS: [&'static str; 5] = ["/usr", "/bin", "/sbin", "/lib", "/lib64"];

    /// A [`RootSource::HostTmpfs`] exposing [`RootSource::DEFAULT_HOST_DIRS`] (those that exist).
    ///
    /// ```
    /// use cove_rootfs::RootSource;
    /// let root = RootSource::host_tmpfs("/run/cove/c1/root");
    /// assert_eq!(root.path(), std::path::Path::new("/run/cove/c1/root"));
    /// ```
    pub fn host_tmpfs(staging: impl Into<PathBuf>) -> Self {
        RootSource::HostTmpfs {
            staging: staging.into(),
            host_dirs: Self::DEFAULT_HOST_DIRS.iter().map(PathBuf::from).collect(),
        }
    }

    /// The host path that becomes the container's `/`.
    pub fn path(&self) -> &Path {
        match self {
            RootSource::Dir(p) => p,
            RootSource::HostTmpfs { staging, .. } => staging,
        }
    }
}

/// The kind of a mount: a bind mount or a file system type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountKind {
    /// A bind mount of a host path (`source`), recursive unless the option `bind` is given.
    Bind,
    /// A tmpfs.
    Tmpfs,
    /// A procfs instance (shows the pid namespace of the process applying the plan).
    Proc,
    /// A sysfs instance (shows the network namespace of the process applying the plan).
    Sysfs,
    /// A devpts instance (use the option `newinstance`).
    Devpts,
    /// An mqueue instance (shows the IPC namespace of the process applying the plan).
    Mqueue,
    /// An overlayfs (`lowerdir=` required, `upperdir=` and `workdir=` together or not at all).
    Overlay,
    /// A cgroup v1 hierarchy (file system type `cgroup`). Options that are not mount flags are
    /// passed as the mount data: the controllers (`cpu`, `cpuacct`, …) and `name=…`, `none`, so
    /// `["cpu", "cpuacct", "nosuid", "ro"]` mounts with data `cpu,cpuacct`. Mount it inside a new
    /// cgroup namespace: there the hierarchy's root is the container's own cgroup.
    Cgroup,
    /// The cgroup v2 hierarchy (file system type `cgroup2`). Options that are not mount flags
    /// (`nsdelegate`, `memory_recursiveprot`, …) are passed as the mount data. Mount it inside a
    /// new cgroup namespace: there its root is the container's own cgroup, and its root flags
    /// are ignored (in the initial cgroup namespace they apply system-wide, so a mount without
    /// `nsdelegate` would clear the host's).
    Cgroup2,
}

impl MountKind {
    /// All kinds, in declaration order.
    pub const ALL: [MountKind; 9] = [
        MountKind::Bind,
        MountKind::Tmpfs,
        MountKind::Proc,
        MountKind::Sysfs,
        MountKind::Devpts,
        MountKind::Mqueue,
        MountKind::Overlay,
        MountKind::Cgroup,
        MountKind::Cgroup2,
    ];

    /// The name used by [`FromStr`] and [`Display`](fmt::Display): `"bind"`, `"tmpfs"`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Proc => "proc",
            MountKind::Sysfs => "sysfs",
            MountKind::Devpts => "devpts",
            MountKind::Mqueue => "mqueue",
            MountKind::Overlay => "overlay",
            MountKind::Cgroup => "cgroup",
            MountKind::Cgroup2 => "cgroup2",
        }
    }

    /// The file system type passed to mount(2); `None` for a bind mount.
    pub fn fs_type(self) -> Option<&'static str> {
        match self {
            MountKind::Bind => None,
            other => Some(other.as_str()),
        }
    }
}

impl fmt::Display for MountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MountKind {
    type Err = PlanError;

    /// ```
    /// use cove_rootfs::MountKind;
    /// assert_eq!("tmpfs".parse::<MountKind>().unwrap(), MountKind::Tmpfs);
    /// assert_eq!("cgroup2".parse::<MountKind>().unwrap(), MountKind::Cgroup2);
    /// assert!("ext4".parse::<MountKind>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MountKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| PlanError::UnknownKind { kind: s.to_owned() })
    }
}

/// One mount requested by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Bind mount or file system type.
    pub kind: MountKind,
    /// For [`MountKind::Bind`]: the host path to bind (required, absolute). For other kinds: the
    /// source name shown in mountinfo (defaults to the kind's name).
    pub source: Option<PathBuf>,
    /// Absolute path inside the container, without `..`. Missing directories are created inside the
    /// root (an empty file when a bind source is a file); symlinks are resolved inside the root.
    pub target: PathBuf,
    /// mount(8)-style options, one per element (no commas): `ro`, `rw`, `bind`, `rbind`, `nosuid`,
    /// `suid`, `nodev`, `dev`, `noexec`, `exec`, `relatime`, `noatime`, `strictatime`,
    /// `nodiratime`, `sync`, `dirsync`, propagation (`private`, `rprivate`, `slave`, `rslave`,
    /// `shared`, `rshared`, `unbindable`, `runbindable`), and file system data options valid for
    /// the kind (`size=`, `mode=`, `uid=`, `gid=`, `nr_inodes=`, `newinstance`, `ptmxmode=`,
    /// `lowerdir=`, `upperdir=`, `workdir=`, `userxattr`, …). For `cgroup` and `cgroup2` every
    /// option that is not a flag is file system data (controllers, `name=`, `nsdelegate`, …),
    /// checked by the kernel.
    pub options: Vec<String>,
}

impl MountSpec {
    /// A mount of `kind` on `target` with no source and no options.
    pub fn new(kind: MountKind, target: impl Into<PathBuf>) -> Self {
        MountSpec {
            kind,
            source: None,
            target: target.into(),
            options: Vec::new(),
        }
    }

    /// A bind mount of the host path `source` on `target` with `options`.
    ///
    /// ```
    /// use cove_rootfs::{MountKind, MountSpec};
    /// let m = MountSpec::bind("/srv/data", "/data", &["ro", "nosuid"]);
    /// assert_eq!(m.kind, MountKind::Bind);
    /// ```
    pub fn bind(source: impl Into<PathBuf>, target: impl Into<PathBuf>, options: &[&str]) -> Self {
        MountSpec::new(MountKind::Bind, target)
            .with_source(source)
            .with_options(options)
    }

    /// A tmpfs on `target` with `options` (e.g. `["size=16m", "mode=1777"]`).
    pub fn tmpfs(target: impl Into<PathBuf>, options: &[&str]) -> Self {
        MountSpec::new(MountKind::Tmpfs, target).with_options(options)
    }

    /// Sets the source.
    pub fn with_source(mut self, source: impl Into<PathBuf>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Appends options.
    pub fn with_options(mut self, options: &[&str]) -> Self {
        self.options.extend(options.iter().map(|o| (*o).to_owned()));
        self
    }
}

/// How mount events propagate between the host and the container's mount namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// `/` is made recursively private: nothing propagates either way (the default).
    #[default]
    Private,
    /// `/` is made recursively slave: host mounts propagate into the container, never back.
    Slave,
    /// `/` is made recursively private, then, after pivot_root, the new root is made shared
    /// (`recursive`: with every mount below it, OCI `rshared`), as runc does. Its peer group is new
    /// and lives in the container's mount namespace only: mounts made inside never reach the host,
    /// whatever the host's propagation.
    Shared {
        /// `rshared` rather than `shared`.
        recursive: bool,
    },
    /// `/` is made recursively private, then, after pivot_root, the new root is made unbindable
    /// (`recursive`: with every mount below it, OCI `runbindable`): it cannot be bind-mounted.
    Unbindable {
        /// `runbindable` rather than `unbindable`.
        recursive: bool,
    },
}

impl Propagation {
    /// The propagation `/` gets before the root file system is built: shared and unbindable roots
    /// start private (the new root gets its propagation after pivot_root, see [`Self::after_pivot`]).
    pub(crate) fn before_pivot(self) -> Propagation {
        match self {
            Propagation::Slave => Propagation::Slave,
            _ => Propagation::Private,
        }
    }

    /// The propagation the new root gets after pivot_root, if any.
    pub(crate) fn after_pivot(self) -> Option<Propagation> {
        match self {
            Propagation::Private | Propagation::Slave => None,
            other => Some(other),
        }
    }

    /// The flags of `mount("", "/", flags)`.
    pub(crate) fn flags(self) -> MsFlags {
        let (flag, recursive) = match self {
            Propagation::Private => (MsFlags::MS_PRIVATE, true),
            Propagation::Slave => (MsFlags::MS_SLAVE, true),
            Propagation::Shared { recursive } => (MsFlags::MS_SHARED, recursive),
            Propagation::Unbindable { recursive } => (MsFlags::MS_UNBINDABLE, recursive),
        };
        match recursive {
            true => flag | MsFlags::MS_REC,
            false => flag,
        }
    }

    /// `"recursively private"`, `"shared"`, … (what `/` is made).
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Propagation::Private => "recursively private",
            Propagation::Slave => "recursively slave",
            Propagation::Shared { recursive: true } => "recursively shared",
            Propagation::Shared { recursive: false } => "shared",
            Propagation::Unbindable { recursive: true } => "recursively unbindable",
            Propagation::Unbindable { recursive: false } => "unbindable",
        }
    }
}

/// Everything needed to build the container's root file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsSpec {
    /// Where `/` comes from.
    pub root: RootSource,
    /// Remount `/` read-only at the end (other mounts keep their own flags).
    pub readonly: bool,
    /// Extra mounts, applied in order after the standard ones (`/proc`, `/sys`, `/dev`, …). A mount
    /// whose target is one of the standard targets replaces that standard mount in place.
    pub mounts: Vec<MountSpec>,
    /// The process applying the plan is in a new pid namespace (`/proc` is a fresh procfs; without
    /// it, in a user namespace, the host `/proc` is bound instead).
    pub new_pid_ns: bool,
    /// The process applying the plan is in a new network namespace (`/sys` is a fresh sysfs;
    /// without it, in a user namespace, the host `/sys` is bound read-only instead).
    pub new_net_ns: bool,
    /// The process applying the plan is in a new IPC namespace: `/dev/mqueue` is mounted only then.
    pub new_ipc_ns: bool,
    /// The process applying the plan is in a user namespace (devpts gets no `gid=5`, sysfs and
    /// procfs are bound from the host when their namespace is not new).
    pub in_user_ns: bool,
    /// Propagation applied to `/` first.
    pub propagation: Propagation,
    /// Paths inside the container to hide: a directory gets a read-only empty tmpfs, anything else
    /// `/dev/null` bound over it; missing paths are skipped. See [`RootfsSpec::DEFAULT_MASKED_PATHS`].
    pub masked_paths: Vec<PathBuf>,
    /// Paths inside the container bound read-only onto themselves (recursively); missing paths are
    /// skipped. See [`RootfsSpec::DEFAULT_READONLY_PATHS`].
    pub readonly_paths: Vec<PathBuf>,
    /// Device nodes to create in the container (OCI `linux.devices`), after the standard `/dev`
    /// and the caller's mounts; a node at a standard device's (or link's) path replaces it. Made
    /// with mknod, then chown and chmod; in a user namespace a char or block device is a bind of
    /// the host's node at the same path instead (FIFOs are still made). Nodes under `/dev` are
    /// left out when `/dev` is a caller's mount other than a tmpfs (e.g. the host's `/dev`).
    pub devices: Vec<DeviceNode>,
    /// Namespaced kernel parameters (OCI `linux.sysctl`), as `("net.ipv4.ip_forward", "1")`: written
    /// to `/proc/sys/…` of the container after the mounts and device nodes, before the read-only
    /// and masked paths. They take effect in the namespaces of the process applying the plan: the
    /// caller must check that each key belongs to a namespace of the container's own (`net.*`: a
    /// new network namespace; `kernel.shm*`, `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`: a new
    /// IPC namespace), or it changes the host's value.
    pub sysctl: Vec<(String, String)>,
}

/// The type of a device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A character device (`c`, also `u`).
    Char,
    /// A block device (`b`).
    Block,
    /// A FIFO (`p`).
    Fifo,
}

/// A device node in the container's `/dev` (OCI `linux.devices` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute path inside the container, e.g. `/dev/fuse`.
    pub path: PathBuf,
    /// Node type.
    pub kind: DeviceKind,
    /// Major number (ignored for FIFOs).
    pub major: u64,
    /// Minor number (ignored for FIFOs).
    pub minor: u64,
    /// Permission bits (`0o666` when the config gives none); bits outside `0o7777` (a file type)
    /// are ignored. Not used for a host bind in a user namespace (the host node's mode stays).
    pub mode: u32,
    /// Owner inside the container.
    pub uid: u32,
    /// Group inside the container.
    pub gid: u32,
}

impl RootfsSpec {
    /// The masked paths Docker and runc use by default.
    pub const DEFAULT_MASKED_PATHS: [&'static str; 11] = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];

    /// The read-only paths Docker and runc use by default.
    pub const DEFAULT_READONLY_PATHS: [&'static str; 5] = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ];

    /// A spec for `root` with no extra mounts, no new namespaces, not in a user namespace,
    /// writable, private propagation, nothing masked.
    pub fn new(root: RootSource) -> Self {
        RootfsSpec {
            root,
            readonly: false,
            mounts: Vec::new(),
            new_pid_ns: false,
            new_net_ns: false,
            new_ipc_ns: false,
            in_user_ns: false,
            propagation: Propagation::Private,
            masked_paths: Vec::new(),
            readonly_paths: Vec::new(),
            devices: Vec::new(),
            sysctl: Vec::new(),
        }
    }
}
