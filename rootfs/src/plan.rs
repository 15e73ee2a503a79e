//! Building the mount plan: pure code, no system calls.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

use crate::device::{compile_devices, DeviceOp};
use crate::error::PlanError;
use crate::options::{self, Attrs, OptionError, ATIME_FLAGS, ATTR_FLAGS};
use crate::resolve::normalize;
use crate::spec::{DeviceKind, MountKind, MountSpec, Propagation, RootSource, RootfsSpec};
use crate::sysctl::{compile_sysctls, SysctlOp};

/// The standard devices of the container's `/dev`: (name, major, minor). Without a user namespace
/// they are made with mknod in the `/dev` tmpfs (mode 0666, owner 0:0, as runc does), so nothing
/// the container does to them reaches the host's nodes; in a user namespace (where mknod is not
/// allowed) the host's nodes are bound read-only, nosuid, noexec (see [`device_bind`]).
pub(crate) const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Why a host device node is bound read-only (shown in the step's description).
pub(crate) const HOST_NODE_NOTE: &str =
    "the host's node: read-only so the container cannot chmod or chown it; reads and writes still work";

/// The mount attributes of a bind of a host device node: read-only (a read-only mount refuses
/// chmod, chown and utimes with EROFS, while the kernel exempts device nodes from the read-only
/// check on open for writing), nosuid, noexec. Never nodev: the node must stay usable.
pub(crate) fn host_node_attrs() -> Attrs {
    Attrs {
        set: MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        ..Attrs::default()
    }
}

/// Symlinks created in the container's `/dev`: (link, target).
pub(crate) const DEV_LINKS: [(&str, &str); 4] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// The ordered steps that build a container's root file system, from a [`RootfsSpec`].
///
/// Built without any system call ([`MountPlan::build`]), printable ([`MountPlan::steps`]), then
/// applied in the container's child process ([`MountPlan::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    pub(crate) root: PathBuf,
    pub(crate) steps: Vec<Step>,
}

/// One step of a [`MountPlan`]. Its [`Display`](fmt::Display) is one line describing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub(crate) kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// `mount("", "/", MS_REC | MS_PRIVATE or MS_SLAVE)` first; after pivot_root, the new root's
    /// shared or unbindable propagation (possibly with `MS_REC`).
    RootPropagation(Propagation),
    /// Bind the root directory onto itself, recursively.
    BindRoot(PathBuf),
    /// Mount an empty tmpfs on the staging directory.
    RootTmpfs(PathBuf),
    /// Reproduce a host directory in the tmpfs root: symlink, or read-only recursive bind.
    HostDir(PathBuf),
    /// A mount inside the root.
    Mount(MountOp),
    /// A symlink inside the root.
    Symlink { link: PathBuf, to: PathBuf },
    /// Create a device node (or bind the host's in a user namespace).
    Device(DeviceOp),
    /// Write a sysctl to the container's `/proc/sys`.
    Sysctl(SysctlOp),
    /// Bind a path read-only onto itself (skipped when missing).
    ReadonlyPath(PathBuf),
    /// Make a mount this plan made read-only, recursively, in place (no new mount).
    ReadonlyMount(PathBuf),
    /// Hide a path: read-only tmpfs on a directory, `/dev/null` on anything else (skipped when missing).
    Mask(PathBuf),
    /// pivot_root into the root (chroot fallback).
    PivotRoot(PathBuf),
    /// Make `/` read-only.
    RemountRootReadonly,
}

/// What to create when a mount target is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    Dir,
    File,
    /// A file or a directory, like the bind source.
    LikeSource,
}

/// One mount inside the root, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOp {
    pub kind: MountKind,
    /// Source argument of mount(2): a host path for a bind, a name otherwise.
    pub source: PathBuf,
    /// Target inside the container (absolute, normalised).
    pub target: PathBuf,
    /// Flags of the mount(2) call.
    pub flags: MsFlags,
    /// Data argument of mount(2).
    pub data: Option<String>,
    /// Flags changed after mounting (bind mounts: read-only, nosuid, …), on the top mount only.
    pub attrs: Option<Attrs>,
    /// The recursive options (`rro`, `rnosuid`, …): set after `attrs` on the mount and every mount
    /// below it, with mount_setattr(2) only (an error on kernels without it, never a top-only
    /// remount).
    pub rec_attrs: Option<Attrs>,
    /// Propagation set after mounting.
    pub propagation: Option<MsFlags>,
    /// What to create when the target is missing.
    pub create: TargetKind,
    /// Why this mount differs from what was asked (shown in the step's description).
    pub note: Option<&'static str>,
    /// Bind only: attach the idmapped detached clone of `source` prepared by the runtime
    /// ([`DetachedMounts`](crate::DetachedMounts)) instead of calling mount(2).
    pub idmap: bool,
}

impl MountOp {
    fn fs(kind: MountKind, target: &str, flags: MsFlags, data: Option<&str>) -> Self {
        MountOp {
            kind,
            source: PathBuf::from(kind.as_str()),
            target: PathBuf::from(target),
            flags,
            data: data.map(str::to_owned),
            attrs: None,
            rec_attrs: None,
            propagation: None,
            create: TargetKind::Dir,
            note: None,
            idmap: false,
        }
    }

    /// The same mount's flags applied to a recursive bind of the host's `host` instead, for
    /// procfs/sysfs in a user namespace that does not own the pid/net namespace.
    fn into_host_bind(self, host: &str, note: &'static str) -> Self {
        let attrs = Attrs {
            set: self.flags & ATTR_FLAGS,
            atime: Some(self.flags & ATIME_FLAGS).filter(|a| !a.is_empty()),
            recursive: true,
            ..Attrs::default()
        };
        MountOp {
            kind: MountKind::Bind,
            source: PathBuf::from(host),
            flags: MsFlags::MS_BIND | MsFlags::MS_REC,
            data: None,
            attrs: (!attrs.is_empty()).then_some(attrs),
            note: Some(note),
            ..self
        }
    }
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

impl MountPlan {
    /// Validates `spec` and turns it into ordered steps. Pure: no system call.
    ///
    /// The order:
    /// 1. make `/` recursively private (or slave);
    /// 2. the root (bind onto itself, or tmpfs plus read-only host dirs);
    /// 3. `/proc`, `/sys`;
    /// 4. `/dev`: tmpfs with host devices bound in, `/dev/pts`, `/dev/ptmx`, `/dev/shm`,
    ///    `/dev/mqueue` with a new IPC namespace, `/dev/fd` and `/dev/std*` links (a standard
    ///    device or link whose path is one of [`RootfsSpec::devices`] is left out);
    /// 5. the caller's mounts in order (one targeting a standard path replaces the standard mount
    ///    in place);
    /// 6. the device nodes of [`RootfsSpec::devices`] in order: mknod, chown, chmod — or, for a char
    ///    or block device in a user namespace, a bind of the host's node onto an empty file (nodes
    ///    under `/dev` only when `/dev` is the plan's tmpfs, never into a `/dev` bound from the
    ///    host);
    /// 7. the sysctls of [`RootfsSpec::sysctl`], written to the container's `/proc/sys`;
    /// 8. read-only paths, then masked paths (`/proc/sys` typically becomes read-only here);
    /// 9. pivot_root; read-only `/`.
    ///
    /// ```
    /// use cove_rootfs::{MountPlan, MountSpec, RootSource, RootfsSpec};
    /// let mut spec = RootfsSpec::new(RootSource::Dir("/srv/root".into()));
    /// spec.mounts.push(MountSpec::tmpfs("/tmp", &["size=16m", "nosuid"]));
    /// spec.mounts.push(MountSpec::tmpfs("/run", &["nosiud"]));
    /// let err = MountPlan::build(&spec).unwrap_err();
    /// assert_eq!(err.to_string(), "mounts[1] (/run): unknown option `nosiud`");
    /// ```
    pub fn build(spec: &RootfsSpec) -> Result<MountPlan, PlanError> {
        let root = check_root(&spec.root)?;
        let mut caller: Vec<Option<MountOp>> = spec
            .mounts
            .iter()
            .enumerate()
            .map(|(index, m)| compile_mount(index, m).map(Some))
            .collect::<Result<_, _>>()?;
        check_idmap(spec, &caller)?;
        let devices = compile_devices(&spec.devices, spec.in_user_ns)?;
        let sysctls = compile_sysctls(&spec.sysctl)?;
        let mut take = |target: &str| {
            caller
                .iter_mut()
                .find(|m| m.as_ref().is_some_and(|m| m.target == Path::new(target)))?
                .take()
        };
        let mut steps = vec![StepKind::RootPropagation(spec.propagation.before_pivot())];
        push_root_steps(&spec.root, &mut steps);
        steps.push(StepKind::Mount(proc_mount(spec, take("/proc"))));
        steps.push(StepKind::Mount(sys_mount(spec, take("/sys"))));
        let replaced: Vec<&Path> = devices.iter().map(|d| d.path.as_path()).collect();
        let dev_is_ours = push_dev_steps(spec, &replaced, &mut take, &mut steps);
        steps.extend(caller.into_iter().flatten().map(StepKind::Mount));
        steps.extend(
            devices
                .into_iter()
                .filter(|d| dev_is_ours || !d.path.starts_with("/dev"))
                .map(StepKind::Device),
        );
        steps.extend(sysctls.into_iter().map(StepKind::Sysctl));
        for p in &spec.readonly_paths {
            let p = check_path("read-only path", p)?;
            let mounted_here = steps
                .iter()
                .any(|s| matches!(s, StepKind::Mount(m) if m.target == p));
            steps.push(match mounted_here {
                true => StepKind::ReadonlyMount(p),
                false => StepKind::ReadonlyPath(p),
            });
        }
        for p in &spec.masked_paths {
            steps.push(StepKind::Mask(check_path("masked path", p)?));
        }
        steps.push(StepKind::PivotRoot(root.clone()));
        steps.extend(
            spec.propagation
                .after_pivot()
                .map(StepKind::RootPropagation),
        );
        if spec.readonly {
            steps.push(StepKind::RemountRootReadonly);
        }
        Ok(MountPlan {
            root,
            steps: steps.into_iter().map(|kind| Step { kind }).collect(),
        })
    }

    /// The steps in the order [`MountPlan::apply`] runs them.
    ///
    /// ```
    /// use cove_rootfs::{MountPlan, RootSource, RootfsSpec};
    /// let plan = MountPlan::build(&RootfsSpec::new(RootSource::Dir("/srv/root".into()))).unwrap();
    /// for step in plan.steps() {
    ///     println!("{step}");
    /// }
    /// assert!(plan.steps().last().unwrap().to_string().starts_with("pivot_root into /srv/root"));
    /// ```
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The host directory that becomes `/`.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn push_root_steps(root: &RootSource, steps: &mut Vec<StepKind>) {
    match root {
        RootSource::Dir(path) => steps.push(StepKind::BindRoot(normalize(path))),
        RootSource::HostTmpfs { staging, host_dirs } => {
            steps.push(StepKind::RootTmpfs(normalize(staging)));
            steps.extend(host_dirs.iter().map(|d| StepKind::HostDir(normalize(d))));
        }
    }
}

fn proc_mount(spec: &RootfsSpec, caller: Option<MountOp>) -> MountOp {
    let m =
        caller.unwrap_or_else(|| MountOp::fs(MountKind::Proc, "/proc", NOSUID_NODEV_NOEXEC, None));
    if m.kind == MountKind::Proc && spec.in_user_ns && !spec.new_pid_ns {
        return m.into_host_bind(
            "/proc",
            "host /proc: a user namespace cannot mount procfs without a new pid namespace",
        );
    }
    m
}

fn sys_mount(spec: &RootfsSpec, caller: Option<MountOp>) -> MountOp {
    let flags = MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC;
    let m = caller.unwrap_or_else(|| MountOp::fs(MountKind::Sysfs, "/sys", flags, None));
    if m.kind == MountKind::Sysfs && spec.in_user_ns && !spec.new_net_ns {
        return m.into_host_bind(
            "/sys",
            "host /sys: a user namespace cannot mount sysfs without a new network namespace",
        );
    }
    m
}

/// The `/dev` steps; standard devices and links at a path in `replaced` are left out. Returns
/// whether `/dev` is the plan's tmpfs (populated), not a caller's mount from the host.
fn push_dev_steps(
    spec: &RootfsSpec,
    replaced: &[&Path],
    take: &mut impl FnMut(&str) -> Option<MountOp>,
    steps: &mut Vec<StepKind>,
) -> bool {
    let kept = |path: &Path| !replaced.contains(&path);
    let dev = take("/dev").unwrap_or_else(|| {
        MountOp::fs(
            MountKind::Tmpfs,
            "/dev",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("mode=755,size=64k"),
        )
    });
    // Devices and links go only into a tmpfs /dev, never into a directory bound from the host.
    let populate = dev.kind == MountKind::Tmpfs;
    steps.push(StepKind::Mount(dev));
    if populate {
        steps.extend(
            DEVICES
                .iter()
                .map(|d| standard_device(*d, spec.in_user_ns))
                .filter(|s| s.target().is_some_and(&kept)),
        );
    }
    let pts_data = if spec.in_user_ns {
        "newinstance,ptmxmode=0666,mode=0620"
    } else {
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    };
    let pts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let pts = take("/dev/pts")
        .unwrap_or_else(|| MountOp::fs(MountKind::Devpts, "/dev/pts", pts_flags, Some(pts_data)));
    steps.push(StepKind::Mount(pts));
    if populate && kept(Path::new("/dev/ptmx")) {
        steps.push(StepKind::Symlink {
            link: "/dev/ptmx".into(),
            to: "pts/ptmx".into(),
        });
    }
    let shm = take("/dev/shm").unwrap_or_else(|| {
        MountOp::fs(
            MountKind::Tmpfs,
            "/dev/shm",
            NOSUID_NODEV_NOEXEC,
            Some("mode=1777,size=65536k"),
        )
    });
    steps.push(StepKind::Mount(shm));
    let mqueue = take("/dev/mqueue").or_else(|| {
        spec.new_ipc_ns
            .then(|| MountOp::fs(MountKind::Mqueue, "/dev/mqueue", NOSUID_NODEV_NOEXEC, None))
    });
    steps.extend(mqueue.map(StepKind::Mount));
    if populate {
        steps.extend(
            DEV_LINKS
                .iter()
                .filter(|(link, _)| kept(Path::new(link)))
                .map(|(link, to)| StepKind::Symlink {
                    link: link.into(),
                    to: to.into(),
                }),
        );
    }
    populate
}

/// A standard device: mknod in the `/dev` tmpfs, or (in a user namespace) a read-only bind of
/// the host's node.
fn standard_device((name, major, minor): (&str, u64, u64), in_user_ns: bool) -> StepKind {
    let path = PathBuf::from("/dev").join(name);
    if in_user_ns {
        return StepKind::Mount(device_bind(path));
    }
    StepKind::Device(DeviceOp {
        path,
        kind: DeviceKind::Char,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
        bind_host: false,
    })
}

/// The bind of the host's device node `path` onto an empty file at the same path, read-only,
/// nosuid, noexec ([`host_node_attrs`]).
pub(crate) fn device_bind(path: PathBuf) -> MountOp {
    MountOp {
        kind: MountKind::Bind,
        source: path.clone(),
        target: path,
        flags: MsFlags::MS_BIND,
        data: None,
        attrs: Some(host_node_attrs()),
        rec_attrs: None,
        propagation: None,
        create: TargetKind::File,
        note: Some(HOST_NODE_NOTE),
        idmap: false,
    }
}

fn check_root(root: &RootSource) -> Result<PathBuf, PlanError> {
    let path = root.path();
    if !is_clean_absolute(path) {
        return Err(PlanError::BadRoot {
            path: path.to_owned(),
        });
    }
    if let RootSource::HostTmpfs { host_dirs, .. } = root {
        if let Some(d) = host_dirs
            .iter()
            .find(|d| !is_clean_absolute(d) || normalize(d) == Path::new("/"))
        {
            return Err(PlanError::BadHostDir { path: d.clone() });
        }
    }
    Ok(normalize(path))
}

fn check_path(list: &'static str, path: &Path) -> Result<PathBuf, PlanError> {
    if !is_clean_absolute(path) || normalize(path) == Path::new("/") {
        return Err(PlanError::BadPath {
            list,
            path: path.to_owned(),
        });
    }
    Ok(normalize(path))
}

/// An idmapped mount maps ids through the container's user namespace: there must be one.
fn check_idmap(spec: &RootfsSpec, ops: &[Option<MountOp>]) -> Result<(), PlanError> {
    if spec.in_user_ns {
        return Ok(());
    }
    let found = ops
        .iter()
        .enumerate()
        .find(|(_, m)| m.as_ref().is_some_and(|m| m.idmap));
    match found {
        Some((index, Some(m))) => Err(PlanError::IdmapWithoutUserNs {
            index,
            target: m.target.clone(),
        }),
        _ => Ok(()),
    }
}

/// Absolute and without `..`.
pub(crate) fn is_clean_absolute(path: &Path) -> bool {
    path.is_absolute() && !path.components().any(|c| c == Component::ParentDir)
}

fn check_target(index: usize, target: &Path) -> Result<PathBuf, PlanError> {
    let err_target = target.to_owned();
    if !target.is_absolute() {
        return Err(PlanError::RelativeTarget {
            index,
            target: err_target,
        });
    }
    if target.components().any(|c| c == Component::ParentDir) {
        return Err(PlanError::DotDotTarget {
            index,
            target: err_target,
        });
    }
    let target = normalize(target);
    if target == Path::new("/") {
        return Err(PlanError::RootTarget {
            index,
            target: err_target,
        });
    }
    Ok(target)
}

/// Validates one caller mount and resolves its options.
fn compile_mount(index: usize, m: &MountSpec) -> Result<MountOp, PlanError> {
    let target = check_target(index, &m.target)?;
    let parsed = options::parse_options(m.kind, m.options.iter().map(String::as_str)).map_err(
        |(option, e)| {
            let (target, option) = (m.target.clone(), option.to_owned());
            match e {
                OptionError::Unknown => PlanError::UnknownOption {
                    index,
                    target,
                    option,
                },
                OptionError::NotForKind => PlanError::OptionNotForKind {
                    index,
                    target,
                    kind: m.kind,
                    option,
                },
                OptionError::BadValue(expected) => PlanError::BadOptionValue {
                    index,
                    target,
                    option,
                    expected,
                },
            }
        },
    )?;
    let mut op = MountOp {
        kind: m.kind,
        source: m
            .source
            .clone()
            .unwrap_or_else(|| PathBuf::from(m.kind.as_str())),
        target,
        flags: parsed.set | parsed.atime.unwrap_or(MsFlags::empty()),
        data: (!parsed.data.is_empty()).then(|| parsed.data.join(",")),
        attrs: None,
        rec_attrs: (!parsed.rec.is_empty()).then_some(parsed.rec),
        propagation: parsed.propagation,
        create: TargetKind::Dir,
        note: None,
        idmap: parsed.idmap,
    };
    match m.kind {
        MountKind::Bind => {
            let Some(source) = &m.source else {
                return Err(PlanError::BindWithoutSource {
                    index,
                    target: m.target.clone(),
                });
            };
            if !is_clean_absolute(source) {
                return Err(PlanError::RelativeBindSource {
                    index,
                    target: m.target.clone(),
                    path: source.clone(),
                });
            }
            let recursive = parsed.bind.unwrap_or(true);
            // Plain flags change the top mount only, even of an `rbind` (runc's rule); the
            // recursive options (`rro`, …) reach the submounts.
            let attrs = Attrs {
                set: parsed.set & ATTR_FLAGS,
                clear: parsed.clear & ATTR_FLAGS,
                atime: parsed.atime,
                ..Attrs::default()
            };
            op.flags = if recursive {
                MsFlags::MS_BIND | MsFlags::MS_REC
            } else {
                MsFlags::MS_BIND
            };
            op.attrs = (!attrs.is_empty()).then_some(attrs);
            op.create = TargetKind::LikeSource;
        }
        MountKind::Overlay => {
            if options::data_value(&parsed.data, "lowerdir").is_none() {
                return Err(PlanError::OverlayWithoutLowerdir {
                    index,
                    target: m.target.clone(),
                });
            }
            let upper = options::data_value(&parsed.data, "upperdir").is_some();
            if upper != options::data_value(&parsed.data, "workdir").is_some() {
                return Err(PlanError::OverlayUpperWithoutWork {
                    index,
                    target: m.target.clone(),
                });
            }
        }
        MountKind::Tmpfs
        | MountKind::Proc
        | MountKind::Sysfs
        | MountKind::Devpts
        | MountKind::Mqueue
        | MountKind::Cgroup
        | MountKind::Cgroup2 => {}
    }
    Ok(op)
}

impl Step {
    /// The path inside the container this step mounts on or creates, if any.
    pub fn target(&self) -> Option<&Path> {
        self.kind.target()
    }
}

impl StepKind {
    /// See [`Step::target`].
    pub(crate) fn target(&self) -> Option<&Path> {
        match self {
            StepKind::Mount(m) => Some(&m.target),
            StepKind::Symlink { link, .. } => Some(link),
            StepKind::HostDir(p)
            | StepKind::ReadonlyPath(p)
            | StepKind::ReadonlyMount(p)
            | StepKind::Mask(p) => Some(p),
            StepKind::Device(d) => Some(&d.path),
            StepKind::Sysctl(_)
            | StepKind::RootPropagation(_)
            | StepKind::BindRoot(_)
            | StepKind::RootTmpfs(_)
            | StepKind::PivotRoot(_)
            | StepKind::RemountRootReadonly => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StepKind::RootPropagation(p) => write!(f, "make / {}", p.describe()),
            StepKind::BindRoot(p) => write!(f, "bind {} onto itself (recursive) as the new root", p.display()),
            StepKind::RootTmpfs(p) => write!(f, "mount tmpfs on {} as the new root (mode=755)", p.display()),
            StepKind::HostDir(p) => write!(
                f,
                "host dir {}: bind read-only (recursive), or the same symlink if it is one, skipped if missing",
                p.display()
            ),
            StepKind::Mount(m) => fmt_mount(m, f),
            StepKind::Symlink { link, to } => write!(f, "symlink {} -> {}", link.display(), to.display()),
            StepKind::Device(d) => fmt::Display::fmt(d, f),
            StepKind::Sysctl(s) => fmt::Display::fmt(s, f),
            StepKind::ReadonlyMount(p) => {
                write!(f, "make the mount on {} read-only (recursive, in place)", p.display())
            }
            StepKind::ReadonlyPath(p) => {
                write!(f, "bind {} read-only onto itself (recursive), skipped if missing", p.display())
            }
            StepKind::Mask(p) => write!(
                f,
                "mask {}: read-only tmpfs on a directory, /dev/null on a file, skipped if missing",
                p.display()
            ),
            StepKind::PivotRoot(p) => write!(
                f,
                "pivot_root into {}, detach the old root, chdir / (chroot if pivot_root is impossible)",
                p.display()
            ),
            StepKind::RemountRootReadonly => f.write_str("remount / read-only"),
        }
    }
}

fn fmt_mount(m: &MountOp, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if m.kind == MountKind::Bind {
        write!(f, "bind {} on {}", m.source.display(), m.target.display())?;
        let extra = options::flags_to_string(m.flags - MsFlags::MS_BIND);
        if extra == "rec" {
            f.write_str(" (recursive)")?;
        }
        if m.idmap {
            f.write_str(" (idmapped by the container's user namespace)")?;
        }
    } else {
        write!(f, "mount {} on {}", m.kind, m.target.display())?;
        if m.source != Path::new(m.kind.as_str()) {
            write!(f, " (source {})", m.source.display())?;
        }
        let flags = options::flags_to_string(m.flags);
        let opts: Vec<&str> = [flags.as_str(), m.data.as_deref().unwrap_or("")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if !opts.is_empty() {
            write!(f, " with {}", opts.join(","))?;
        }
    }
    if let Some(a) = &m.attrs {
        write!(f, ", then set {}", options::attrs_to_string(a))?;
    }
    if let Some(a) = &m.rec_attrs {
        write!(
            f,
            ", then set {} on it and every submount",
            options::rec_attrs_to_string(a)
        )?;
    }
    if let Some(p) = m.propagation {
        write!(
            f,
            ", then make {}",
            options::flags_to_string(p).replace("rec,", "recursively ")
        )?;
    }
    if let Some(note) = m.note {
        write!(f, " [{note}]")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tests::node;
    use crate::spec::DeviceKind;

    fn spec() -> RootfsSpec {
        RootfsSpec::new(RootSource::Dir("/srv/root".into()))
    }

    fn lines(plan: &MountPlan) -> Vec<String> {
        plan.steps().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_read_only_path_on_a_mount_of_the_plan_is_made_read_only_in_place() {
        let mut spec = spec();
        spec.mounts
            .push(MountSpec::tmpfs("/sys/fs/cgroup", &["mode=755"]));
        spec.readonly_paths = vec!["/sys/fs/cgroup".into(), "/proc/sys".into()];
        let plan = MountPlan::build(&spec).unwrap();
        let lines = lines(&plan);
        assert!(lines.contains(
            &"make the mount on /sys/fs/cgroup read-only (recursive, in place)".to_string()
        ));
        assert!(lines.contains(
            &"bind /proc/sys read-only onto itself (recursive), skipped if missing".to_string()
        ));
    }

    #[test]
    fn default_plan_order_and_display() {
        let plan = MountPlan::build(&spec()).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "make / recursively private",
                "bind /srv/root onto itself (recursive) as the new root",
                "mount proc on /proc with nosuid,nodev,noexec",
                "mount sysfs on /sys with ro,nosuid,nodev,noexec",
                "mount tmpfs on /dev with nosuid,noexec,mode=755,size=64k",
                "mknod /dev/null c 1:3 (char device), chown 0:0, chmod 0666",
                "mknod /dev/zero c 1:5 (char device), chown 0:0, chmod 0666",
                "mknod /dev/full c 1:7 (char device), chown 0:0, chmod 0666",
                "mknod /dev/random c 1:8 (char device), chown 0:0, chmod 0666",
                "mknod /dev/urandom c 1:9 (char device), chown 0:0, chmod 0666",
                "mknod /dev/tty c 5:0 (char device), chown 0:0, chmod 0666",
                "mount devpts on /dev/pts with nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
                "symlink /dev/ptmx -> pts/ptmx",
                "mount tmpfs on /dev/shm with nosuid,nodev,noexec,mode=1777,size=65536k",
                "symlink /dev/fd -> /proc/self/fd",
                "symlink /dev/stdin -> /proc/self/fd/0",
                "symlink /dev/stdout -> /proc/self/fd/1",
                "symlink /dev/stderr -> /proc/self/fd/2",
                "pivot_root into /srv/root, detach the old root, chdir / (chroot if pivot_root is impossible)",
            ]
        );
        assert_eq!(plan.root(), Path::new("/srv/root"));
    }

    #[test]
    fn user_namespace_variants() {
        let mut s = spec();
        s.in_user_ns = true;
        s.new_ipc_ns = true;
        s.readonly = true;
        let l = lines(&MountPlan::build(&s).unwrap());
        assert!(l[2].starts_with("bind /proc on /proc (recursive), then set nosuid,nodev,noexec,recursive [host /proc"), "{}", l[2]);
        assert!(l[3].starts_with("bind /sys on /sys (recursive), then set ro,nosuid,nodev,noexec,recursive [host /sys"), "{}", l[3]);
        assert!(l.iter().any(|x| x
            == "mount devpts on /dev/pts with nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"));
        assert!(l
            .iter()
            .any(|x| x == "mount mqueue on /dev/mqueue with nosuid,nodev,noexec"));
        assert_eq!(l.last().unwrap(), "remount / read-only");
        // No mknod in a user namespace: the host's nodes, bound read-only, nosuid, noexec.
        for (name, ..) in DEVICES {
            let want = format!(
                "bind /dev/{name} on /dev/{name}, then set ro,nosuid,noexec [{HOST_NODE_NOTE}]"
            );
            assert!(l.contains(&want), "{want} not in {l:#?}");
        }
        assert!(!l.iter().any(|x| x.starts_with("mknod")), "{l:#?}");

        s.new_pid_ns = true;
        s.new_net_ns = true;
        let l = lines(&MountPlan::build(&s).unwrap());
        assert_eq!(l[2], "mount proc on /proc with nosuid,nodev,noexec");
        assert_eq!(l[3], "mount sysfs on /sys with ro,nosuid,nodev,noexec");
    }

    #[test]
    fn host_tmpfs_root() {
        let mut s = spec();
        s.root = RootSource::host_tmpfs("/run/c1/root");
        s.propagation = Propagation::Slave;
        let l = lines(&MountPlan::build(&s).unwrap());
        assert_eq!(l[0], "make / recursively slave");
        assert_eq!(
            l[1],
            "mount tmpfs on /run/c1/root as the new root (mode=755)"
        );
        assert!(l[2].starts_with("host dir /usr: bind read-only"));
        assert!(l[6].starts_with("host dir /lib64: "));
        assert!(l
            .last()
            .unwrap()
            .starts_with("pivot_root into /run/c1/root"));
    }

    #[test]
    fn shared_and_unbindable_roots_start_private_and_are_set_after_pivot_root() {
        for (propagation, last) in [
            (Propagation::Shared { recursive: false }, "make / shared"),
            (
                Propagation::Shared { recursive: true },
                "make / recursively shared",
            ),
            (
                Propagation::Unbindable { recursive: false },
                "make / unbindable",
            ),
            (
                Propagation::Unbindable { recursive: true },
                "make / recursively unbindable",
            ),
        ] {
            let mut s = spec();
            s.propagation = propagation;
            s.readonly = true;
            let l = lines(&MountPlan::build(&s).unwrap());
            // Never shared before pivot_root: nothing mounted for the root can reach the host.
            assert_eq!(l[0], "make / recursively private", "{propagation:?}");
            assert_eq!(
                l.iter().filter(|x| x.starts_with("make / ")).count(),
                2,
                "{l:#?}"
            );
            let n = l.len();
            assert!(l[n - 3].starts_with("pivot_root into /srv/root"), "{l:#?}");
            assert_eq!(l[n - 2], last);
            assert_eq!(l[n - 1], "remount / read-only");
        }
    }

    #[test]
    fn propagation_flags() {
        use nix::mount::MsFlags as F;
        let cases = [
            (Propagation::Private, F::MS_PRIVATE | F::MS_REC),
            (Propagation::Slave, F::MS_SLAVE | F::MS_REC),
            (Propagation::Shared { recursive: false }, F::MS_SHARED),
            (
                Propagation::Shared { recursive: true },
                F::MS_SHARED | F::MS_REC,
            ),
            (
                Propagation::Unbindable { recursive: false },
                F::MS_UNBINDABLE,
            ),
            (
                Propagation::Unbindable { recursive: true },
                F::MS_UNBINDABLE | F::MS_REC,
            ),
        ];
        for (p, flags) in cases {
            assert_eq!(p.flags(), flags, "{p:?}");
        }
        // Private and slave roots keep a single step, before the rootfs work.
        for p in [Propagation::Private, Propagation::Slave] {
            let mut s = spec();
            s.propagation = p;
            let l = lines(&MountPlan::build(&s).unwrap());
            assert_eq!(l.iter().filter(|x| x.starts_with("make / ")).count(), 1);
            assert!(l.last().unwrap().starts_with("pivot_root into"), "{l:#?}");
        }
    }

    #[test]
    fn caller_mounts_come_after_standard_ones_in_order() {
        let mut s = spec();
        s.mounts = vec![
            MountSpec::bind("/srv/data", "/data/", &["ro", "nosuid", "bind", "rprivate"]),
            MountSpec::tmpfs("/tmp", &["size=16m", "mode=1777", "noatime"]),
            MountSpec::new(MountKind::Overlay, "/merged").with_options(&[
                "lowerdir=/l1:/l2",
                "upperdir=/u",
                "workdir=/w",
            ]),
            MountSpec::bind("/etc/resolv.conf", "/etc/resolv.conf", &[]),
        ];
        s.readonly_paths = vec!["/proc/sys".into()];
        s.masked_paths = vec!["/proc/kcore".into()];
        let l = lines(&MountPlan::build(&s).unwrap());
        let n = l.len();
        assert_eq!(
            &l[n - 7..],
            [
                "bind /srv/data on /data, then set ro,nosuid, then make recursively private",
                "mount tmpfs on /tmp with noatime,size=16m,mode=1777",
                "mount overlay on /merged with lowerdir=/l1:/l2,upperdir=/u,workdir=/w",
                "bind /etc/resolv.conf on /etc/resolv.conf (recursive)",
                "bind /proc/sys read-only onto itself (recursive), skipped if missing",
                "mask /proc/kcore: read-only tmpfs on a directory, /dev/null on a file, skipped if missing",
                "pivot_root into /srv/root, detach the old root, chdir / (chroot if pivot_root is impossible)",
            ]
        );
        let plan = MountPlan::build(&s).unwrap();
        let StepKind::Mount(m) = &plan.steps()[n - 7].kind else {
            panic!()
        };
        assert_eq!(m.flags, MsFlags::MS_BIND);
        assert_eq!(
            m.attrs.unwrap().set,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID
        );
        assert!(!m.attrs.unwrap().recursive);
        assert_eq!(m.target, Path::new("/data"));
        assert_eq!(m.create, TargetKind::LikeSource);
        assert_eq!(plan.steps()[n - 7].target(), Some(Path::new("/data")));
    }

    #[test]
    fn plain_flags_on_an_rbind_are_top_only_and_recursive_options_reach_submounts() {
        let mut s = spec();
        s.mounts = vec![
            MountSpec::bind("/srv/data", "/data", &["rbind", "ro", "nosuid"]),
            MountSpec::bind(
                "/srv/data",
                "/all",
                &["rbind", "rro", "rnosuid", "rnoatime"],
            ),
            MountSpec::tmpfs("/t", &["rnoexec"]),
        ];
        let plan = MountPlan::build(&s).unwrap();
        let ops: Vec<&MountOp> = plan
            .steps()
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Mount(m)
                    if ["/data", "/all", "/t"]
                        .iter()
                        .any(|t| m.target == Path::new(t)) =>
                {
                    Some(m)
                }
                _ => None,
            })
            .collect();
        let [data, all, t] = ops[..] else {
            panic!("{ops:?}")
        };
        assert_eq!(data.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        let top = data.attrs.unwrap();
        assert_eq!(top.set, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert!(
            !top.recursive,
            "plain ro on an rbind is the top mount's only"
        );
        assert_eq!(data.rec_attrs, None);
        assert_eq!(all.attrs, None);
        let rec = all.rec_attrs.unwrap();
        assert!(rec.recursive);
        assert_eq!(rec.set, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(rec.atime, Some(MsFlags::MS_NOATIME));
        assert_eq!(t.rec_attrs.unwrap().set, MsFlags::MS_NOEXEC);
        let l = lines(&plan);
        assert!(
            l.contains(&"bind /srv/data on /data (recursive), then set ro,nosuid".to_string()),
            "{l:#?}"
        );
        assert!(l.contains(&"bind /srv/data on /all (recursive), then set rro,rnosuid,rnoatime on it and every submount".to_string()), "{l:#?}");
        assert!(
            l.contains(&"mount tmpfs on /t, then set rnoexec on it and every submount".to_string()),
            "{l:#?}"
        );
    }

    #[test]
    fn caller_mount_replaces_standard_mount_in_place() {
        let mut s = spec();
        s.mounts = vec![
            MountSpec::tmpfs("/dev/shm", &["size=1m"]),
            MountSpec::new(MountKind::Proc, "/proc").with_options(&["hidepid=2"]),
        ];
        let l = lines(&MountPlan::build(&s).unwrap());
        assert_eq!(l[2], "mount proc on /proc with hidepid=2");
        assert!(l.contains(&"mount tmpfs on /dev/shm with size=1m".to_owned()));
        assert_eq!(l.iter().filter(|x| x.contains("/dev/shm")).count(), 1);
        assert_eq!(l.iter().filter(|x| x.contains("on /proc")).count(), 1);
        // A /dev bound from the host is not populated.
        s.mounts = vec![MountSpec::bind("/dev", "/dev", &[])];
        let l = lines(&MountPlan::build(&s).unwrap());
        assert!(
            !l.iter()
                .any(|x| x.contains("/dev/null") || x.contains("symlink")),
            "{l:#?}"
        );
    }

    #[test]
    fn validation_errors_name_index_target_and_option() {
        let cases: Vec<(MountSpec, &str)> = vec![
            (MountSpec::tmpfs("tmp", &[]), "mounts[0] (tmp): the target must be an absolute path"),
            (MountSpec::tmpfs("/a/../etc", &[]), "mounts[0] (/a/../etc): the target must not contain `..`"),
            (MountSpec::tmpfs("/.", &[]), "mounts[0] (/.): the container's `/` cannot be a mount target"),
            (MountSpec::tmpfs("/t", &["ro", "bogus"]), "mounts[0] (/t): unknown option `bogus`"),
            (MountSpec::tmpfs("/t", &["rbind"]), "mounts[0] (/t): option `rbind` does not apply to a tmpfs mount"),
            (
                MountSpec::tmpfs("/t", &["size=big"]),
                "mounts[0] (/t): bad option `size=big`: expected a size such as 65536, 64k, 16m, 1g or 50%",
            ),
            (MountSpec::new(MountKind::Bind, "/b"), "mounts[0] (/b): a bind mount needs a source"),
            (
                MountSpec::bind("data", "/b", &[]),
                "mounts[0] (/b): the bind source data must be an absolute host path",
            ),
            (
                MountSpec::new(MountKind::Overlay, "/o").with_options(&["upperdir=/u"]),
                "mounts[0] (/o): an overlay mount needs a `lowerdir=` option",
            ),
            (
                MountSpec::new(MountKind::Overlay, "/o").with_options(&["lowerdir=/l", "upperdir=/u"]),
                "mounts[0] (/o): overlay options `upperdir=` and `workdir=` go together",
            ),
        ];
        for (m, expect) in cases {
            let mut s = spec();
            s.mounts = vec![m];
            assert_eq!(MountPlan::build(&s).unwrap_err().to_string(), expect);
        }
        let mut s = spec();
        s.mounts = vec![
            MountSpec::tmpfs("/ok", &[]),
            MountSpec::tmpfs("/bad", &["mode=rwx"]),
        ];
        assert!(matches!(
            MountPlan::build(&s).unwrap_err(),
            PlanError::BadOptionValue { index: 1, ref option, .. } if option == "mode=rwx"
        ));
    }

    #[test]
    fn root_and_path_validation() {
        let mut s = spec();
        s.root = RootSource::Dir("srv/root".into());
        assert_eq!(
            MountPlan::build(&s).unwrap_err(),
            PlanError::BadRoot {
                path: "srv/root".into()
            }
        );
        s.root = RootSource::HostTmpfs {
            staging: "/st".into(),
            host_dirs: vec!["/usr".into(), "/".into()],
        };
        assert_eq!(
            MountPlan::build(&s).unwrap_err(),
            PlanError::BadHostDir { path: "/".into() }
        );
        s.root = RootSource::Dir("/r".into());
        s.masked_paths = vec!["proc/kcore".into()];
        assert_eq!(
            MountPlan::build(&s).unwrap_err().to_string(),
            "masked path proc/kcore: must be an absolute path below `/` without `..`"
        );
    }

    #[test]
    fn cgroup_mounts_pass_controllers_as_data() {
        let mut s = spec();
        s.mounts = vec![
            MountSpec::tmpfs("/sys/fs/cgroup", &["mode=755"]),
            MountSpec::new(MountKind::Cgroup, "/sys/fs/cgroup/cpu,cpuacct")
                .with_options(&["cpu", "cpuacct", "nosuid", "noexec", "nodev", "ro"]),
            MountSpec::new(MountKind::Cgroup, "/sys/fs/cgroup/systemd").with_options(&[
                "none",
                "name=systemd",
                "nosuid",
                "nodev",
                "noexec",
            ]),
            MountSpec::new(MountKind::Cgroup2, "/sys/fs/cgroup/unified").with_options(&[
                "nsdelegate",
                "nosuid",
                "nodev",
                "noexec",
                "relatime",
                "ro",
            ]),
        ];
        let plan = MountPlan::build(&s).unwrap();
        let l = lines(&plan);
        let n = l.len();
        assert_eq!(
            &l[n - 4..n - 1],
            [
                "mount cgroup on /sys/fs/cgroup/cpu,cpuacct with ro,nosuid,nodev,noexec,cpu,cpuacct",
                "mount cgroup on /sys/fs/cgroup/systemd with nosuid,nodev,noexec,none,name=systemd",
                "mount cgroup2 on /sys/fs/cgroup/unified with ro,nosuid,nodev,noexec,relatime,nsdelegate",
            ]
        );
        let StepKind::Mount(m) = &plan.steps()[n - 4].kind else {
            panic!()
        };
        assert_eq!(m.kind.fs_type(), Some("cgroup"));
        assert_eq!(m.source, Path::new("cgroup"));
        assert_eq!(m.data.as_deref(), Some("cpu,cpuacct"));
        assert_eq!(
            m.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(m.attrs, None);
        let StepKind::Mount(m) = &plan.steps()[n - 2].kind else {
            panic!()
        };
        assert_eq!(m.kind.fs_type(), Some("cgroup2"));
        assert_eq!(m.data.as_deref(), Some("nsdelegate"));
        s.mounts =
            vec![MountSpec::new(MountKind::Cgroup2, "/sys/fs/cgroup").with_options(&["bind"])];
        assert_eq!(
            MountPlan::build(&s).unwrap_err().to_string(),
            "mounts[0] (/sys/fs/cgroup): option `bind` does not apply to a cgroup2 mount"
        );
    }

    #[test]
    fn devices_and_sysctls_come_after_mounts_before_readonly_paths() {
        let mut s = spec();
        s.new_ipc_ns = true;
        s.mounts = vec![MountSpec::tmpfs("/tmp", &[])];
        s.devices = vec![
            node("/dev/mynull", DeviceKind::Char, 1, 3),
            node("/dev/null", DeviceKind::Char, 1, 3),
            node("/dev/ptmx", DeviceKind::Char, 5, 2),
            node("/dev/fd", DeviceKind::Char, 10, 1),
            node("/run/fifo", DeviceKind::Fifo, 0, 0),
        ];
        s.sysctl = vec![
            ("kernel.shmmax".into(), "67108864".into()),
            ("net.ipv4.ip_forward".into(), "1".into()),
        ];
        s.readonly_paths = vec!["/proc/sys".into()];
        s.masked_paths = vec!["/proc/kcore".into()];
        let l = lines(&MountPlan::build(&s).unwrap());
        let n = l.len();
        assert_eq!(
            &l[n - 11..],
            [
                "mount tmpfs on /tmp",
                "mknod /dev/mynull c 1:3 (char device), chown 1:2, chmod 0620",
                "mknod /dev/null c 1:3 (char device), chown 1:2, chmod 0620",
                "mknod /dev/ptmx c 5:2 (char device), chown 1:2, chmod 0620",
                "mknod /dev/fd c 10:1 (char device), chown 1:2, chmod 0620",
                "mknod /run/fifo p (FIFO), chown 1:2, chmod 0620",
                "sysctl kernel.shmmax = \"67108864\": write it to /proc/sys/kernel/shmmax",
                "sysctl net.ipv4.ip_forward = \"1\": write it to /proc/sys/net/ipv4/ip_forward",
                "bind /proc/sys read-only onto itself (recursive), skipped if missing",
                "mask /proc/kcore: read-only tmpfs on a directory, /dev/null on a file, skipped if missing",
                "pivot_root into /srv/root, detach the old root, chdir / (chroot if pivot_root is impossible)",
            ]
        );
        // The standard /dev/null node and the /dev/ptmx and /dev/fd links are replaced.
        for gone in [
            "mknod /dev/null c 1:3 (char device), chown 0:0, chmod 0666",
            "symlink /dev/ptmx -> pts/ptmx",
            "symlink /dev/fd -> /proc/self/fd",
        ] {
            assert!(!l.iter().any(|x| x == gone), "{gone} still planned");
        }
        assert!(l
            .iter()
            .any(|x| x == "mknod /dev/zero c 1:5 (char device), chown 0:0, chmod 0666"));
        assert!(l
            .iter()
            .any(|x| x == "symlink /dev/stdin -> /proc/self/fd/0"));
        let plan = MountPlan::build(&s).unwrap();
        assert_eq!(
            plan.steps()[n - 10].target(),
            Some(Path::new("/dev/mynull"))
        );
        assert_eq!(plan.steps()[n - 5].target(), None);
    }

    #[test]
    fn devices_in_a_user_namespace_bind_the_host_node() {
        let mut s = spec();
        s.in_user_ns = true;
        s.devices = vec![
            node("/dev/fuse", DeviceKind::Char, 10, 229),
            node("/dev/p", DeviceKind::Fifo, 0, 0),
        ];
        let l = lines(&MountPlan::build(&s).unwrap());
        let n = l.len();
        assert_eq!(
            &l[n - 3..n - 1],
            [
                "bind the host's /dev/fuse (c 10:229) on /dev/fuse, an empty file, then set \
                 ro,nosuid,noexec [a user namespace cannot mknod; the host node's owner and mode \
                 stay, and the read-only mount keeps the container from changing them]",
                "mknod /dev/p p (FIFO), chown 1:2, chmod 0620",
            ]
        );
    }

    #[test]
    fn no_device_nodes_into_a_dev_bound_from_the_host() {
        let mut s = spec();
        s.mounts = vec![MountSpec::bind("/dev", "/dev", &[])];
        s.devices = vec![
            node("/dev/mynull", DeviceKind::Char, 1, 3),
            node("/opt/dev/mynull", DeviceKind::Char, 1, 3),
        ];
        let l = lines(&MountPlan::build(&s).unwrap());
        assert!(!l.iter().any(|x| x.starts_with("mknod /dev/")), "{l:#?}");
        assert!(l
            .iter()
            .any(|x| x.starts_with("mknod /opt/dev/mynull c 1:3")));
    }

    #[test]
    fn device_and_sysctl_errors() {
        let mut s = spec();
        s.devices = vec![
            node("/dev/ok", DeviceKind::Char, 1, 3),
            node("dev/x", DeviceKind::Char, 1, 3),
        ];
        assert_eq!(
            MountPlan::build(&s).unwrap_err(),
            PlanError::BadDevicePath {
                index: 1,
                path: "dev/x".into()
            }
        );
        s.devices = vec![node("/dev/x", DeviceKind::Char, 1, 1 << 20)];
        assert!(matches!(
            MountPlan::build(&s).unwrap_err(),
            PlanError::BadDeviceNumber {
                index: 0,
                major: 1,
                minor: 0x10_0000,
                ..
            }
        ));
        s.devices.clear();
        for bad in ["net/ipv4/ip_forward", "net..ipv4", "", "kernel.", "../x"] {
            s.sysctl = vec![
                ("kernel.msgmax".into(), "1".into()),
                (bad.into(), "1".into()),
            ];
            assert_eq!(
                MountPlan::build(&s).unwrap_err(),
                PlanError::BadSysctlKey { key: bad.into() }
            );
        }
    }

    #[test]
    fn mount_kind_round_trips() {
        for k in MountKind::ALL {
            assert_eq!(k.to_string().parse::<MountKind>().unwrap(), k);
        }
        assert_eq!(
            "nfs".parse::<MountKind>().unwrap_err().to_string(),
            "unknown mount kind `nfs` (expected bind, tmpfs, proc, sysfs, devpts, mqueue, overlay, cgroup or cgroup2)"
        );
    }
}
