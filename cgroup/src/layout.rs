//! Which cgroup hierarchies the host has and where they are mounted.

use std::fmt;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, FsType, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};

use crate::error::{CgroupError, Result};
use crate::mountinfo::{self, MountEntry};

/// The default root of the cgroup mounts.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The default directory of block device nodes in sysfs, used to check device numbers.
pub const DEFAULT_BLOCK_DEVICES: &str = "/sys/dev/block";

/// The controllers a cgroup v1 hierarchy can carry (other mount options are ignored).
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// How the host's cgroup file systems are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayoutKind {
    /// Only cgroup v2 (`cgroup2` mounted, usually at `/sys/fs/cgroup`).
    Unified,
    /// Only cgroup v1 hierarchies (one mount per controller or per group of co-mounted controllers).
    Legacy,
    /// cgroup v1 controller hierarchies plus a `cgroup2` mount (usually `/sys/fs/cgroup/unified`).
    /// Controllers are used through v1; the v2 hierarchy is used for process tracking only.
    Hybrid,
}

/// A cgroup version, as far as file formats are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// cgroup v1 (legacy): controllers in separate hierarchies.
    V1,
    /// cgroup v2 (unified): one hierarchy.
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

/// One cgroup v1 hierarchy: a mount point and the controllers bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where the hierarchy is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The controllers bound to it, e.g. `["cpu", "cpuacct"]` when co-mounted. Empty for a named
    /// hierarchy such as `name=systemd`.
    pub controllers: Vec<String>,
    /// The `name=` option, e.g. `Some("systemd")`.
    pub name: Option<String>,
}

impl Hierarchy {
    /// A hierarchy at `mount_point` carrying `controllers`.
    pub fn new(mount_point: impl Into<PathBuf>, controllers: &[&str]) -> Hierarchy {
        Hierarchy {
            mount_point: mount_point.into(),
            controllers: controllers.iter().map(|c| (*c).to_owned()).collect(),
            name: None,
        }
    }

    /// Whether `controller` is bound to this hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    fn from_entry(e: &MountEntry) -> Hierarchy {
        let opts = e.super_options.split(',');
        Hierarchy {
            mount_point: e.mount_point.clone(),
            controllers: opts
                .clone()
                .filter(|o| V1_CONTROLLERS.contains(o))
                .map(str::to_owned)
                .collect(),
            name: opts
                .filter_map(|o| o.strip_prefix("name="))
                .map(str::to_owned)
                .next(),
        }
    }
}

/// The host's cgroup layout: the v2 mount (if any) and the v1 hierarchies (if any).
///
/// ```
/// use cove_cgroup::{Layout, LayoutKind};
///
/// let text = "\
/// 31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
/// 32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
/// 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
/// 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
/// ";
/// let layout = Layout::from_mountinfo(text).unwrap();
/// assert_eq!(layout.kind(), LayoutKind::Hybrid);
/// assert_eq!(layout.hierarchy("cpuacct").unwrap().controllers, ["cpu", "cpuacct"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    kind: LayoutKind,
    unified: Option<PathBuf>,
    hierarchies: Vec<Hierarchy>,
    block_devices: PathBuf,
}

impl Layout {
    /// Detects the running system's layout from `/proc/self/mountinfo`, and checks with `statfs`
    /// that each mount point really is a cgroup (v1) or cgroup2 file system.
    pub fn detect() -> Result<Layout> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::ReadMountinfo {
            path: path.to_owned(),
            source,
        })?;
        let layout = Layout::from_mountinfo(&text)?;
        layout.check_fs_types()?;
        Ok(layout)
    }

    /// Builds the layout from the text of a mountinfo file (pure: no file system access).
    ///
    /// The first `cgroup2` mount is the v2 hierarchy; each `cgroup` mount is a v1 hierarchy (a
    /// second mount of the same hierarchy, e.g. a bind mount, is ignored). Errors when the text
    /// is malformed or has no cgroup mount at all.
    pub fn from_mountinfo(text: &str) -> Result<Layout> {
        let entries = mountinfo::parse(text)?;
        let unified = entries
            .iter()
            .find(|e| e.fs_type == "cgroup2")
            .map(|e| e.mount_point.clone());
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for h in entries
            .iter()
            .filter(|e| e.fs_type == "cgroup")
            .map(Hierarchy::from_entry)
        {
            if !hierarchies
                .iter()
                .any(|o| o.controllers == h.controllers && o.name == h.name)
            {
                hierarchies.push(h);
            }
        }
        let has_v1_controllers = hierarchies.iter().any(|h| !h.controllers.is_empty());
        let kind = match (&unified, has_v1_controllers, hierarchies.is_empty()) {
            (Some(_), true, _) => LayoutKind::Hybrid,
            (Some(_), false, _) => LayoutKind::Unified,
            (None, _, false) => LayoutKind::Legacy,
            (None, _, true) => return Err(CgroupError::NoCgroupMount),
        };
        Ok(Layout {
            kind,
            unified,
            hierarchies,
            block_devices: PathBuf::from(DEFAULT_BLOCK_DEVICES),
        })
    }

    /// A pure cgroup v2 layout rooted at `root` (normally [`DEFAULT_ROOT`]; a temp dir in tests).
    pub fn unified(root: impl Into<PathBuf>) -> Layout {
        Layout {
            kind: LayoutKind::Unified,
            unified: Some(root.into()),
            hierarchies: Vec::new(),
            block_devices: PathBuf::from(DEFAULT_BLOCK_DEVICES),
        }
    }

    /// A pure cgroup v1 layout with the given hierarchies.
    pub fn legacy(hierarchies: Vec<Hierarchy>) -> Layout {
        Layout {
            kind: LayoutKind::Legacy,
            unified: None,
            hierarchies,
            block_devices: PathBuf::from(DEFAULT_BLOCK_DEVICES),
        }
    }

    /// A hybrid layout: v1 `hierarchies` for the controllers plus a v2 mount at `unified`.
    pub fn hybrid(hierarchies: Vec<Hierarchy>, unified: impl Into<PathBuf>) -> Layout {
        Layout {
            kind: LayoutKind::Hybrid,
            unified: Some(unified.into()),
            hierarchies,
            block_devices: PathBuf::from(DEFAULT_BLOCK_DEVICES),
        }
    }

    /// Replaces the sysfs directory used to check block device numbers (default
    /// [`DEFAULT_BLOCK_DEVICES`]; holds one `MAJ:MIN` entry per block device).
    pub fn with_block_devices(mut self, dir: impl Into<PathBuf>) -> Layout {
        self.block_devices = dir.into();
        self
    }

    /// Unified, legacy or hybrid.
    pub fn kind(&self) -> LayoutKind {
        self.kind
    }

    /// The version whose controllers are used: v2 for [`LayoutKind::Unified`], else v1.
    pub fn version(&self) -> Version {
        match self.kind {
            LayoutKind::Unified => Version::V2,
            LayoutKind::Legacy | LayoutKind::Hybrid => Version::V1,
        }
    }

    /// The cgroup2 mount point, if any (in hybrid mode the tracking-only v2 hierarchy).
    pub fn unified_root(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// All v1 hierarchies, including named ones such as `name=systemd`.
    pub fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }

    /// The v1 hierarchy that carries `controller`, if mounted.
    pub fn hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.has(controller))
    }

    /// The sysfs directory used to check block device numbers.
    pub fn block_devices(&self) -> &Path {
        &self.block_devices
    }

    /// The v1 hierarchies this crate manages: those with at least one controller (named-only
    /// hierarchies such as `name=systemd` are never touched).
    pub(crate) fn controller_hierarchies(&self) -> impl Iterator<Item = &Hierarchy> {
        self.hierarchies
            .iter()
            .filter(|h| !h.controllers.is_empty())
    }

    fn check_fs_types(&self) -> Result<()> {
        if let Some(root) = &self.unified {
            check_magic(root, CGROUP2_SUPER_MAGIC, "cgroup2")?;
        }
        for h in self.controller_hierarchies() {
            check_magic(&h.mount_point, CGROUP_SUPER_MAGIC, "cgroup")?;
        }
        Ok(())
    }
}

fn check_magic(path: &Path, magic: FsType, expected: &'static str) -> Result<()> {
    let st = statfs(path).map_err(|source| CgroupError::Statfs {
        path: path.to_owned(),
        source,
    })?;
    if st.filesystem_type() != magic {
        return Err(CgroupError::NotCgroupFs {
            path: path.to_owned(),
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/self/mountinfo` of the development machine (v1 controllers plus cgroup2 at
    /// `/sys/fs/cgroup/unified`, cpu and cpuacct mounted separately).
    const HYBRID: &str = include_str!("../testdata/mountinfo-hybrid.txt");
    /// A systemd host booted with `systemd.unified_cgroup_hierarchy=1` (v2 only).
    const UNIFIED: &str = include_str!("../testdata/mountinfo-unified.txt");
    /// An older host with cgroup v1 only, cpu and cpuacct co-mounted, net_cls,net_prio co-mounted.
    const LEGACY: &str = include_str!("../testdata/mountinfo-legacy.txt");

    #[test]
    fn hybrid_sample() {
        let l = Layout::from_mountinfo(HYBRID).unwrap();
        assert_eq!(l.kind(), LayoutKind::Hybrid);
        assert_eq!(l.version(), Version::V1);
        assert_eq!(l.unified_root(), Some(Path::new("/sys/fs/cgroup/unified")));
        let cpu = l.hierarchy("cpu").unwrap();
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(cpu.controllers, ["cpu"]);
        assert_eq!(l.hierarchy("cpuacct").unwrap().controllers, ["cpuacct"]);
        assert_eq!(
            l.hierarchy("memory").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert!(l.hierarchy("hugetlb").is_none());
        let systemd = l.hierarchies().iter().find(|h| h.name.is_some()).unwrap();
        assert_eq!(systemd.name.as_deref(), Some("systemd"));
        assert!(systemd.controllers.is_empty());
        assert_eq!(l.controller_hierarchies().count(), 8);
    }

    #[test]
    fn unified_sample() {
        let l = Layout::from_mountinfo(UNIFIED).unwrap();
        assert_eq!(l.kind(), LayoutKind::Unified);
        assert_eq!(l.version(), Version::V2);
        assert_eq!(l.unified_root(), Some(Path::new("/sys/fs/cgroup")));
        assert!(l.hierarchies().is_empty());
    }

    #[test]
    fn legacy_sample_with_comounts() {
        let l = Layout::from_mountinfo(LEGACY).unwrap();
        assert_eq!(l.kind(), LayoutKind::Legacy);
        assert_eq!(l.unified_root(), None);
        let cpu = l.hierarchy("cpu").unwrap();
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cpu.controllers, ["cpu", "cpuacct"]);
        assert_eq!(l.hierarchy("cpuacct"), Some(cpu));
        assert_eq!(
            l.hierarchy("net_prio").unwrap().controllers,
            ["net_cls", "net_prio"]
        );
        assert_eq!(
            l.hierarchy("hugetlb").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/hugetlb")
        );
        // `xattr` and `release_agent=` are options, not controllers.
        assert_eq!(
            l.hierarchies()
                .iter()
                .find(|h| h.name.is_some())
                .unwrap()
                .controllers
                .len(),
            0
        );
        assert_eq!(l.hierarchy("blkio").unwrap().controllers, ["blkio"]);
    }

    #[test]
    fn bind_mount_of_a_hierarchy_is_ignored() {
        let text = "\
32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
90 80 0:29 /docker/abc /container/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let l = Layout::from_mountinfo(text).unwrap();
        assert_eq!(l.hierarchies().len(), 1);
        assert_eq!(l.kind(), LayoutKind::Legacy);
    }

    #[test]
    fn no_cgroup_mount_is_an_error() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        assert!(matches!(
            Layout::from_mountinfo(text),
            Err(CgroupError::NoCgroupMount)
        ));
    }

    #[test]
    fn detect_matches_this_host() {
        let l = Layout::detect().unwrap();
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let has_v2 = text.lines().any(|l| l.contains(" - cgroup2 "));
        assert_eq!(l.unified_root().is_some(), has_v2);
        let has_v1 = text
            .lines()
            .any(|l| l.contains(" - cgroup cgroup ") && !l.ends_with("name=systemd"));
        assert_eq!(l.kind() != LayoutKind::Unified, has_v1);
    }
}
