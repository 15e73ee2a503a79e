//! The validated plan of one container: the data every front end lowers its input into and the engine runs.
//!
//! A [`Plan`] is pure data, built before any syscall. The TOML manifest (`cove-manifest`) and the OCI
//! `config.json` (`cove-oci`) each build one; [`run`](crate::run) and the lifecycle operations run it.

use std::path::{Component, Path, PathBuf};

use cove_cgroup::Resources;
use cove_ns::{IdMap, Namespace};
use cove_rootfs::{DeviceNode, MountSpec, Propagation, RootSource, RootfsSpec};

use crate::security::SecurityPlan;

/// The `PATH` a container gets when the manifest sets no environment.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host directories a `rootfs.host = true` root receives, read-only, when they exist.
pub const HOST_ROOT_DIRS: [&str; 5] = ["/usr", "/bin", "/sbin", "/lib", "/lib64"];

/// Everything needed to start one container, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file it came from: the TOML manifest or the bundle's `config.json`.
    pub manifest: PathBuf,
    /// Container id.
    pub id: String,
    /// Hostname to set (only when the UTS namespace is new).
    pub hostname: Option<String>,
    /// NIS domain name to set (only when the UTS namespace is new).
    pub domainname: Option<String>,
    /// The process to run.
    pub process: ProcessPlan,
    /// The root file system.
    pub root: RootPlan,
    /// Namespaces to create and to join.
    pub namespaces: NamespacePlan,
    /// Extra mounts, in order.
    pub mounts: Vec<MountSpec>,
    /// cgroup limits, when any are set. Empty `devices` rules mean the default container device rules.
    pub resources: Option<Resources>,
    /// The container's cgroup, relative to each hierarchy's root (`None`: `cove/<id>`).
    pub cgroup_path: Option<String>,
    /// Root file system details beyond the mounts: propagation, masked and read-only paths, device nodes,
    /// sysctls.
    pub rootfs: RootfsOptions,
    /// Whether cove runs as a non-root user (then a user namespace maps the caller to root).
    pub rootless: bool,
    /// Capabilities and `no_new_privileges`.
    pub security: SecurityPlan,
}

/// The container's process.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    /// argv.
    pub args: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub cwd: PathBuf,
    /// User id inside.
    pub uid: u32,
    /// Group id inside.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// The umask to set before exec (`None`: inherited).
    pub umask: Option<u32>,
    /// Give the process a new pseudo-terminal as stdin/stdout/stderr and controlling terminal (OCI
    /// `process.terminal`; its master goes to the `--console-socket`).
    pub terminal: bool,
    /// Initial terminal size (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// The execution domain to set before exec (OCI `linux.personality`; `None`: inherited).
    pub personality: Option<Personality>,
    /// The I/O priority to set before exec (OCI `process.ioPriority`; `None`: inherited).
    pub io_priority: Option<IoPriority>,
    /// The scheduling policy and parameters to set before exec (OCI `process.scheduler`; `None`: inherited).
    pub scheduler: Option<Scheduler>,
}

/// A scheduling policy with its parameters (`sched_setattr(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduler {
    /// The policy.
    pub policy: SchedPolicy,
    /// The nice value, -20..=19 (`SCHED_OTHER`, `SCHED_BATCH`).
    pub nice: i32,
    /// The static priority (`SCHED_FIFO`, `SCHED_RR`: 1..=99; else 0).
    pub priority: u32,
    /// `SCHED_FLAG_*` bits.
    pub flags: u64,
    /// `SCHED_DEADLINE` runtime, in nanoseconds.
    pub runtime: u64,
    /// `SCHED_DEADLINE` deadline, in nanoseconds.
    pub deadline: u64,
    /// `SCHED_DEADLINE` period, in nanoseconds.
    pub period: u64,
}

/// A scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedPolicy {
    /// `SCHED_OTHER`.
    Other,
    /// `SCHED_FIFO`.
    Fifo,
    /// `SCHED_RR`.
    RoundRobin,
    /// `SCHED_BATCH`.
    Batch,
    /// `SCHED_IDLE`.
    Idle,
    /// `SCHED_DEADLINE`.
    Deadline,
}

impl SchedPolicy {
    /// The kernel's number for the policy.
    pub fn value(self) -> u32 {
        match self {
            SchedPolicy::Other => 0,
            SchedPolicy::Fifo => 1,
            SchedPolicy::RoundRobin => 2,
            SchedPolicy::Batch => 3,
            SchedPolicy::Idle => 5,
            SchedPolicy::Deadline => 6,
        }
    }

    /// The OCI name of the policy.
    pub fn name(self) -> &'static str {
        match self {
            SchedPolicy::Other => "SCHED_OTHER",
            SchedPolicy::Fifo => "SCHED_FIFO",
            SchedPolicy::RoundRobin => "SCHED_RR",
            SchedPolicy::Batch => "SCHED_BATCH",
            SchedPolicy::Idle => "SCHED_IDLE",
            SchedPolicy::Deadline => "SCHED_DEADLINE",
        }
    }
}

/// An I/O scheduling class and level (`ioprio_set(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoPriority {
    /// The class.
    pub class: IoPriorityClass,
    /// The level within the class, 0 (highest) to 7 (lowest).
    pub level: u8,
}

/// An I/O scheduling class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPriorityClass {
    /// `IOPRIO_CLASS_RT`: real time (needs `CAP_SYS_ADMIN` or `CAP_SYS_NICE`).
    RealTime,
    /// `IOPRIO_CLASS_BE`: best effort.
    BestEffort,
    /// `IOPRIO_CLASS_IDLE`: only when no one else uses the disk.
    Idle,
}

impl IoPriority {
    /// The `ioprio_set(2)` value: the class in the top bits, the level below.
    pub fn ioprio(self) -> i32 {
        const IOPRIO_CLASS_SHIFT: i32 = 13;
        let class = match self.class {
            IoPriorityClass::RealTime => 1,
            IoPriorityClass::BestEffort => 2,
            IoPriorityClass::Idle => 3,
        };
        class << IOPRIO_CLASS_SHIFT | i32::from(self.level)
    }

    /// The OCI name of the class.
    pub fn class_name(self) -> &'static str {
        match self.class {
            IoPriorityClass::RealTime => "IOPRIO_CLASS_RT",
            IoPriorityClass::BestEffort => "IOPRIO_CLASS_BE",
            IoPriorityClass::Idle => "IOPRIO_CLASS_IDLE",
        }
    }
}

/// An execution domain (`personality(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// `PER_LINUX`: the native domain.
    Linux,
    /// `PER_LINUX32`: `uname -m` reports the 32-bit machine (`i686` on x86_64).
    Linux32,
}

impl Personality {
    /// The `personality(2)` value.
    pub fn persona(self) -> u64 {
        match self {
            Personality::Linux => 0x0000,
            Personality::Linux32 => 0x0008,
        }
    }

    /// The OCI name of the domain.
    pub fn name(self) -> &'static str {
        match self {
            Personality::Linux => "LINUX",
            Personality::Linux32 => "LINUX32",
        }
    }
}

/// Root file system settings beyond the mounts.
#[derive(Debug, Clone)]
pub struct RootfsOptions {
    /// Propagation of `/` in the container's mount namespace.
    pub propagation: Propagation,
    /// Paths hidden from the container.
    pub masked_paths: Vec<PathBuf>,
    /// Paths made read-only.
    pub readonly_paths: Vec<PathBuf>,
    /// Extra device nodes.
    pub devices: Vec<DeviceNode>,
    /// Namespaced sysctls, `(key, value)`.
    pub sysctl: Vec<(String, String)>,
}

impl Default for RootfsOptions {
    /// Private propagation, Docker's masked and read-only paths, no extra devices, no sysctls.
    fn default() -> Self {
        RootfsOptions {
            propagation: Propagation::Private,
            masked_paths: RootfsSpec::DEFAULT_MASKED_PATHS
                .iter()
                .map(PathBuf::from)
                .collect(),
            readonly_paths: RootfsSpec::DEFAULT_READONLY_PATHS
                .iter()
                .map(PathBuf::from)
                .collect(),
            devices: Vec::new(),
            sysctl: Vec::new(),
        }
    }
}

/// Where the root file system comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootChoice {
    /// A directory on the host (absolute, canonical).
    Dir(PathBuf),
    /// An empty tmpfs with these host directories bound read-only.
    Host(Vec<PathBuf>),
}

/// The root file system and how it is mounted.
#[derive(Debug, Clone)]
pub struct RootPlan {
    /// Its source.
    pub choice: RootChoice,
    /// Mounted read-only.
    pub readonly: bool,
}

/// Namespaces: new ones and ones to join.
#[derive(Debug, Clone, Default)]
pub struct NamespacePlan {
    /// Created for the container.
    pub new: Vec<Namespace>,
    /// Joined by path.
    pub join: Vec<(Namespace, PathBuf)>,
    /// uid map of a new user namespace (empty: the caller's uid as 0).
    pub uid_map: Vec<IdMap>,
    /// gid map of a new user namespace (empty: the caller's gid as 0).
    pub gid_map: Vec<IdMap>,
    /// Write the maps with `newuidmap`/`newgidmap` (a non-root caller mapping more than its own ids).
    pub id_map_helpers: bool,
    /// Clock offsets `(monotonic, boottime)` of a new time namespace (OCI `linux.timeOffsets`).
    pub time_offsets: Option<(cove_ns::TimeOffset, cove_ns::TimeOffset)>,
}

impl NamespacePlan {
    /// Whether `kind` is new.
    pub fn is_new(&self, kind: Namespace) -> bool {
        self.new.contains(&kind)
    }
}

impl Plan {
    /// Whether the container runs in a user namespace (new or joined).
    pub fn in_user_ns(&self) -> bool {
        let ns = &self.namespaces;
        ns.is_new(Namespace::User) || ns.join.iter().any(|(k, _)| *k == Namespace::User)
    }

    /// What the rootfs crate needs to build the mount plan, with the root taken from `root`.
    pub fn rootfs_spec(&self, root: RootSource) -> RootfsSpec {
        let ns = &self.namespaces;
        RootfsSpec {
            root,
            readonly: self.root.readonly,
            mounts: self.mounts.clone(),
            new_pid_ns: ns.is_new(Namespace::Pid),
            new_net_ns: ns.is_new(Namespace::Net),
            new_ipc_ns: ns.is_new(Namespace::Ipc),
            in_user_ns: self.in_user_ns(),
            propagation: self.rootfs.propagation,
            masked_paths: self.rootfs.masked_paths.clone(),
            readonly_paths: self.rootfs.readonly_paths.clone(),
            devices: self.rootfs.devices.clone(),
            sysctl: self.rootfs.sysctl.clone(),
        }
    }
}

/// Whether `id` is a valid container id (and state directory name): 1–128 of `[A-Za-z0-9._-]`, not starting
/// with `.`. The manifest's `name` and the OCI commands' ids follow the same rule.
pub fn valid_container_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'))
}

/// A path inside the container: absolute, normalised, never climbing above `/`.
pub fn inside_path(path: &str) -> Result<PathBuf, String> {
    if !path.starts_with('/') {
        return Err(format!(
            "`{path}` is not an absolute path inside the container"
        ));
    }
    let mut out = PathBuf::from("/");
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                return Err(format!("`{path}` leaves the container's root (`..`)"))
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}
