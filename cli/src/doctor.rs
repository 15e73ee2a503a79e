//! `cove doctor`: what this host supports, and why something will not work, each with the fix.
//!
//! [`diagnose`] runs every check and returns a [`Report`]. The checks read files under `/proc`,
//! `/sys` and `/etc`, call `access(2)` (never write to test writability), open and close a pidfd
//! of the caller, and probe syscalls with arguments the kernel rejects before doing anything (the
//! errno tells "exists" from `ENOSYS`). The one probe that changes process state,
//! `unshare(CLONE_NEWUSER)` followed by writing that namespace's own `uid_map`, runs in a forked
//! child that exits at once, so the caller is never changed.
//!
//! The parsers of the files read here are pure functions, tested on fake inputs.
//!
//! ```no_run
//! let report = cove::doctor::diagnose();
//! print!("{}", report.render_text());
//! if !report.ok() {
//!     std::process::exit(1);
//! }
//! ```

use std::fmt;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cove_cgroup::{Hierarchy, Layout, LayoutKind, Version};
use nix::errno::Errno;
use nix::unistd::{access, geteuid, AccessFlags, Uid, User};
use serde::Serialize;

/// Every check name, in the order [`diagnose`] reports them.
pub const CHECK_NAMES: &[&str] = &[
    KERNEL,
    PRIVILEGES,
    CGROUP_LAYOUT,
    CGROUP_CONTROLLERS,
    CGROUP_DELEGATION,
    USER_NAMESPACES,
    UIDMAP_HELPERS,
    SUBID_RANGES,
    SECCOMP,
    LANDLOCK,
    IDMAPPED_MOUNTS,
    PIDFD,
    CLONE3,
    CLONE_INTO_CGROUP,
    TIME_NAMESPACE,
    OPENAT2,
    CLOSE_RANGE,
];

const KERNEL: &str = "kernel";
const PRIVILEGES: &str = "privileges";
const CGROUP_LAYOUT: &str = "cgroup-layout";
const CGROUP_CONTROLLERS: &str = "cgroup-controllers";
const CGROUP_DELEGATION: &str = "cgroup-delegation";
const USER_NAMESPACES: &str = "user-namespaces";
const UIDMAP_HELPERS: &str = "uidmap-helpers";
const SUBID_RANGES: &str = "subid-ranges";
const SECCOMP: &str = "seccomp";
const LANDLOCK: &str = "landlock";
const IDMAPPED_MOUNTS: &str = "idmapped-mounts";
const PIDFD: &str = "pidfd";
const CLONE3: &str = "clone3";
const CLONE_INTO_CGROUP: &str = "clone-into-cgroup";
const TIME_NAMESPACE: &str = "time-namespace";
const OPENAT2: &str = "openat2";
const CLOSE_RANGE: &str = "close-range";

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Supported and usable.
    Ok,
    /// Works with limits, or a feature some manifests use is missing; the fix says how to get it.
    Warn,
    /// Containers will not run (or not safely) until fixed.
    Fail,
    /// The check could not tell (e.g. an unexpected errno).
    Unknown,
}

impl Status {
    /// The word used in text and JSON output: `ok`, `warn`, `fail` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }

    /// The worse of two statuses (`Fail` > `Warn` > `Unknown` > `Ok`).
    pub fn worst(self, other: Status) -> Status {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    fn rank(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Unknown => 1,
            Status::Warn => 2,
            Status::Fail => 3,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable name, one of [`CHECK_NAMES`].
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found, in one line.
    pub detail: String,
    /// What to do about a `Warn` or `Fail` (or `None` when there is nothing to do).
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Ok, detail)
    }

    fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// The result of [`diagnose`]: one [`Check`] per name in [`CHECK_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks, in the order of [`CHECK_NAMES`].
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether no check failed (warnings and unknowns are allowed).
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// The check named `name`, if present.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// One line per check: `status  name  detail` and, when there is one, `  fix: …` on the same line.
    pub fn render_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            let _ = write!(
                out,
                "{:<7} {:<width$}  {}",
                c.status.as_str(),
                c.name,
                one_line(&c.detail)
            );
            if let Some(fix) = &c.fix {
                let _ = write!(out, "  fix: {}", one_line(fix));
            }
            out.push('\n');
        }
        out
    }

    /// The report as JSON: `{"ok": bool, "checks": [{"name", "status", "detail", "fix"}]}`.
    pub fn render_json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            ok: bool,
            checks: &'a [Check],
        }
        serde_json::to_string_pretty(&Json {
            ok: self.ok(),
            checks: &self.checks,
        })
        .expect("a report is plain strings and enums, always serializable")
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// Runs every check on this host, in the order of [`CHECK_NAMES`].
///
/// Never changes the host or the calling process: see the module documentation.
pub fn diagnose() -> Report {
    let release = sys::kernel_release();
    let kernel = release.as_deref().and_then(parse_kernel_version);
    let euid = geteuid();
    let layout = Layout::detect();
    let own_cgroups = read("/proc/self/cgroup")
        .map(|t| parse_proc_cgroup(&t))
        .unwrap_or_default();
    let clone3 = check_clone3();
    let has_clone3 = clone3.status == Status::Ok;
    let checks = vec![
        check_kernel(release.as_deref()),
        check_privileges(euid),
        check_cgroup_layout(&layout),
        check_cgroup_controllers(&layout, &own_cgroups, euid),
        check_cgroup_delegation(&layout, &own_cgroups, euid),
        check_user_namespaces(euid),
        check_uidmap_helpers(euid),
        check_subid_ranges(euid),
        check_seccomp(),
        check_landlock(),
        check_idmapped_mounts(kernel),
        check_pidfd(),
        clone3,
        check_clone_into_cgroup(kernel, has_clone3, &layout),
        check_time_namespace(),
        check_openat2(),
        check_close_range(),
    ];
    Report { checks }
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

// ---------------------------------------------------------------------------------------------
// Pure parsers
// ---------------------------------------------------------------------------------------------

/// A kernel version `major.minor.patch` (patch 0 when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// e.g. 6 in 6.18.44.
    pub major: u32,
    /// e.g. 18 in 6.18.44.
    pub minor: u32,
    /// e.g. 44 in 6.18.44.
    pub patch: u32,
}

impl KernelVersion {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> KernelVersion {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    /// Whether this version is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= KernelVersion::new(major, minor, 0)
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses a kernel release as printed by `uname -r` (`6.18.44-fc-v595`, `5.15.0-91-generic`,
/// `6.1`, `4.19.0+`): the leading numeric `major.minor[.patch]`, ignoring any suffix.
///
/// ```
/// use cove::doctor::{parse_kernel_version, KernelVersion};
/// assert_eq!(parse_kernel_version("6.18.44-fc-v595"), Some(KernelVersion::new(6, 18, 44)));
/// assert_eq!(parse_kernel_version("garbage"), None);
/// ```
pub fn parse_kernel_version(release: &str) -> Option<KernelVersion> {
    let mut parts = release.trim().splitn(3, '.');
    let major = leading_number(parts.next()?)?;
    let minor = leading_number(parts.next()?)?;
    let patch = parts.next().and_then(leading_number).unwrap_or(0);
    Some(KernelVersion::new(major, minor, patch))
}

fn leading_number(s: &str) -> Option<u32> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// One subordinate id range from `/etc/subuid` or `/etc/subgid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubIdRange {
    /// The first host id of the range.
    pub start: u64,
    /// How many ids it holds.
    pub count: u64,
}

/// The ranges in a `/etc/subuid`-style text (`owner:start:count` lines) that belong to the user
/// `name` or numeric `uid` (the owner field may be either). Blank, `#` comment and malformed lines
/// are skipped.
///
/// ```
/// use cove::doctor::{parse_subids, SubIdRange};
/// let text = "alice:100000:65536\n1001:165536:65536\nbob:231072:65536\n";
/// assert_eq!(
///     parse_subids(text, Some("alice"), 1001),
///     [SubIdRange { start: 100000, count: 65536 }, SubIdRange { start: 165536, count: 65536 }]
/// );
/// ```
pub fn parse_subids(text: &str, name: Option<&str>, uid: u32) -> Vec<SubIdRange> {
    let uid = uid.to_string();
    text.lines()
        .filter_map(parse_subid_line)
        .filter(|(owner, _)| Some(*owner) == name || *owner == uid)
        .map(|(_, range)| range)
        .collect()
}

fn parse_subid_line(line: &str) -> Option<(&str, SubIdRange)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split(':');
    let owner = fields.next()?;
    let start = fields.next()?.trim().parse().ok()?;
    let count = fields.next()?.trim().parse().ok()?;
    if owner.is_empty() || fields.next().is_some() {
        return None;
    }
    Some((owner, SubIdRange { start, count }))
}

/// One line of `/proc/<pid>/cgroup`: `id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    /// The hierarchy id (0 for cgroup v2).
    pub id: u32,
    /// The controllers (and `name=…` entries) of a v1 hierarchy; empty for cgroup v2.
    pub controllers: Vec<String>,
    /// The cgroup path relative to the hierarchy's root, e.g. `/user.slice/session-1.scope`.
    pub path: String,
}

/// Parses the text of `/proc/<pid>/cgroup`; malformed lines are skipped.
///
/// ```
/// use cove::doctor::parse_proc_cgroup;
/// let entries = parse_proc_cgroup("4:memory:/a\n0::/user.slice\n");
/// assert_eq!(entries[0].controllers, ["memory"]);
/// assert_eq!(entries[1].path, "/user.slice");
/// ```
pub fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let id = fields.next()?.parse().ok()?;
            let controllers = fields
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            let path = fields.next()?.to_owned();
            Some(ProcCgroup {
                id,
                controllers,
                path,
            })
        })
        .collect()
}

/// The value of a `Key:\tvalue` field of `/proc/<pid>/status`, e.g. `Seccomp`.
///
/// ```
/// use cove::doctor::status_field;
/// assert_eq!(status_field("Name:\tbash\nSeccomp:\t2\n", "Seccomp"), Some("2"));
/// ```
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// The first kernel with every feature cove can use (idmapped mounts).
const FULL_FEATURE_KERNEL: (u32, u32) = (5, 12);

fn check_kernel(release: Option<&str>) -> Check {
    let Some(release) = release else {
        return Check::new(KERNEL, Status::Unknown, "uname failed");
    };
    let Some(version) = parse_kernel_version(release) else {
        return Check::new(
            KERNEL,
            Status::Unknown,
            format!("cannot parse kernel release {release:?}"),
        );
    };
    let (major, minor) = FULL_FEATURE_KERNEL;
    if version.at_least(major, minor) {
        Check::ok(KERNEL, format!("Linux {release}"))
    } else {
        Check::new(
            KERNEL,
            Status::Warn,
            format!("Linux {release}: older than {major}.{minor}, some features below are missing"),
        )
        .with_fix(format!("upgrade to Linux {major}.{minor} or newer"))
    }
}

fn check_privileges(euid: Uid) -> Check {
    if !euid.is_root() {
        return Check::ok(
            PRIVILEGES,
            format!(
                "rootless (euid {euid}): containers need user namespaces; more than one id inside \
                 needs newuidmap/newgidmap and subordinate ids; cgroup limits need a delegated \
                 cgroup v2 subtree"
            ),
        );
    }
    match caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_ADMIN) {
        Ok(true) => Check::ok(
            PRIVILEGES,
            "root with CAP_SYS_ADMIN: every namespace, mount and cgroup feature is available",
        ),
        Ok(false) => Check::new(
            PRIVILEGES,
            Status::Warn,
            "euid 0 without CAP_SYS_ADMIN (inside a container?): mounts and most namespaces will be refused",
        )
        .with_fix("run cove on the host, or give its container CAP_SYS_ADMIN (e.g. --privileged)"),
        Err(e) => Check::new(
            PRIVILEGES,
            Status::Unknown,
            format!("euid 0, cannot read capabilities: {e}"),
        ),
    }
}

fn check_cgroup_layout(layout: &Result<Layout, cove_cgroup::CgroupError>) -> Check {
    let layout = match layout {
        Ok(layout) => layout,
        Err(e) => {
            return Check::new(
                CGROUP_LAYOUT,
                Status::Fail,
                format!("cannot detect cgroups: {}", error_chain(e)),
            )
            .with_fix("mount cgroup2 at /sys/fs/cgroup (systemd does this at boot)")
        }
    };
    let v1: Vec<String> = layout
        .hierarchies()
        .iter()
        .map(|h| h.mount_point.display().to_string())
        .collect();
    let v2 = layout.unified_root().map(|p| p.display().to_string());
    let detail = match layout.kind() {
        LayoutKind::Unified => format!("unified (cgroup v2) at {}", v2.unwrap_or_default()),
        LayoutKind::Legacy => format!("legacy (cgroup v1): {}", v1.join(", ")),
        LayoutKind::Hybrid => format!(
            "hybrid: controllers on cgroup v1 ({}), cgroup2 at {} for process tracking only",
            v1.join(", "),
            v2.unwrap_or_default()
        ),
    };
    Check::ok(CGROUP_LAYOUT, detail)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let _ = write!(s, ": {cause}");
        source = cause.source();
    }
    s
}

/// The controllers a container's usual limits need, by cgroup version.
const WANTED_V1: &[&str] = &["cpu", "cpuset", "memory", "pids", "blkio"];
const WANTED_V2: &[&str] = &["cpu", "cpuset", "memory", "pids", "io"];

const DELEGATE_FIX: &str = "delegate a cgroup v2 subtree to the user with systemd: \
    `systemctl edit user@.service` and add `[Service]` `Delegate=cpu cpuset io memory pids`, \
    then `systemctl daemon-reload`, and run cove from `systemd-run --user --scope -p Delegate=yes`";

fn check_cgroup_controllers(
    layout: &Result<Layout, cove_cgroup::CgroupError>,
    own: &[ProcCgroup],
    euid: Uid,
) -> Check {
    let Ok(layout) = layout else {
        return Check::new(
            CGROUP_CONTROLLERS,
            Status::Fail,
            "no cgroup layout (see cgroup-layout)",
        );
    };
    match layout.version() {
        Version::V1 => v1_controllers(layout),
        Version::V2 => v2_controllers(layout, own, euid),
    }
}

fn v1_controllers(layout: &Layout) -> Check {
    let available: Vec<&str> = layout
        .hierarchies()
        .iter()
        .flat_map(|h| h.controllers.iter().map(String::as_str))
        .collect();
    controllers_check(&available, WANTED_V1, "cgroup v1 mounts", || {
        "mount the missing v1 controllers (e.g. `mount -t cgroup -o memory cgroup \
         /sys/fs/cgroup/memory`) or enable them in the kernel (cgroup_enable=memory)"
            .to_owned()
    })
}

fn v2_controllers(layout: &Layout, own: &[ProcCgroup], euid: Uid) -> Check {
    let Some(dir) = own_v2_dir(layout, own) else {
        return Check::new(
            CGROUP_CONTROLLERS,
            Status::Unknown,
            "no cgroup v2 entry in /proc/self/cgroup",
        );
    };
    let file = dir.join("cgroup.controllers");
    let Some(text) = read(&file) else {
        return Check::new(
            CGROUP_CONTROLLERS,
            Status::Unknown,
            format!("cannot read {}", file.display()),
        );
    };
    let available: Vec<&str> = text.split_whitespace().collect();
    let place = format!("{}", file.display());
    controllers_check(&available, WANTED_V2, &place, || {
        if euid.is_root() {
            "enable them in the parent's cgroup.subtree_control (`echo +memory > \
             <parent>/cgroup.subtree_control`) or boot with the controller enabled"
                .to_owned()
        } else {
            DELEGATE_FIX.to_owned()
        }
    })
}

fn controllers_check(
    available: &[&str],
    wanted: &[&str],
    place: &str,
    fix: impl FnOnce() -> String,
) -> Check {
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !available.contains(w))
        .collect();
    let listed = if available.is_empty() {
        "none".to_owned()
    } else {
        available.join(" ")
    };
    if missing.is_empty() {
        Check::ok(CGROUP_CONTROLLERS, format!("{listed} (from {place})"))
    } else {
        Check::new(
            CGROUP_CONTROLLERS,
            Status::Warn,
            format!(
                "{listed} (from {place}); missing {}: limits on them will fail",
                missing.join(" ")
            ),
        )
        .with_fix(fix())
    }
}

/// The caller's own cgroup v2 directory: the unified mount joined with the `0::` path.
fn own_v2_dir(layout: &Layout, own: &[ProcCgroup]) -> Option<PathBuf> {
    let root = layout.unified_root()?;
    let entry = own.iter().find(|e| e.id == 0 && e.controllers.is_empty())?;
    Some(join_cgroup(root, &entry.path))
}

/// The caller's own cgroup directory in the v1 hierarchy `h`.
fn own_v1_dir(h: &Hierarchy, own: &[ProcCgroup]) -> Option<PathBuf> {
    let entry = own.iter().find(|e| {
        !h.controllers.is_empty() && h.controllers.iter().all(|c| e.controllers.contains(c))
    })?;
    Some(join_cgroup(&h.mount_point, &entry.path))
}

fn join_cgroup(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn writable(path: &Path) -> bool {
    access(path, AccessFlags::W_OK).is_ok()
}

fn check_cgroup_delegation(
    layout: &Result<Layout, cove_cgroup::CgroupError>,
    own: &[ProcCgroup],
    euid: Uid,
) -> Check {
    let Ok(layout) = layout else {
        return Check::new(
            CGROUP_DELEGATION,
            Status::Fail,
            "no cgroup layout (see cgroup-layout)",
        );
    };
    match layout.version() {
        Version::V2 => v2_delegation(layout, own, euid),
        Version::V1 => v1_delegation(layout, own, euid),
    }
}

fn v2_delegation(layout: &Layout, own: &[ProcCgroup], euid: Uid) -> Check {
    let Some(dir) = own_v2_dir(layout, own) else {
        return Check::new(
            CGROUP_DELEGATION,
            Status::Unknown,
            "no cgroup v2 entry in /proc/self/cgroup",
        );
    };
    let procs = dir.join("cgroup.procs");
    if writable(&dir) && writable(&procs) {
        return Check::ok(
            CGROUP_DELEGATION,
            format!(
                "{} is writable: cove can create child cgroups and move processes there",
                dir.display()
            ),
        );
    }
    let detail = format!(
        "cannot create a cgroup in or write cgroup.procs of {} (euid {euid}): cgroup limits will fail",
        dir.display()
    );
    let fix = if euid.is_root() {
        "cgroupfs is read-only here (inside a container?): mount it read-write or run on the host"
    } else {
        DELEGATE_FIX
    };
    Check::new(CGROUP_DELEGATION, Status::Warn, detail).with_fix(fix)
}

fn v1_delegation(layout: &Layout, own: &[ProcCgroup], euid: Uid) -> Check {
    let (mut ok, mut denied) = (Vec::new(), Vec::new());
    for h in layout
        .hierarchies()
        .iter()
        .filter(|h| !h.controllers.is_empty())
    {
        let name = h.controllers.join(",");
        match own_v1_dir(h, own) {
            Some(dir) if writable(&dir) && writable(&dir.join("cgroup.procs")) => ok.push(name),
            _ => denied.push(name),
        }
    }
    if denied.is_empty() {
        return Check::ok(
            CGROUP_DELEGATION,
            format!(
                "own cgroup writable in every v1 hierarchy ({}): cove can create cgroups and apply limits",
                ok.join(" ")
            ),
        );
    }
    let detail = format!(
        "own cgroup not writable in v1 hierarchies {} (euid {euid}): cgroup limits will fail",
        denied.join(" ")
    );
    let fix = if euid.is_root() {
        "cgroupfs is read-only here (inside a container?): mount it read-write or run on the host"
    } else {
        "cgroup v1 cannot be delegated safely: run cove as root for limits, or boot with \
         `systemd.unified_cgroup_hierarchy=1` (cgroup v2) and delegate a subtree with systemd \
         (`Delegate=yes`)"
    };
    Check::new(CGROUP_DELEGATION, Status::Warn, detail).with_fix(fix)
}

fn read_sysctl(path: &str) -> Option<i64> {
    read(path)?.trim().parse().ok()
}

fn check_user_namespaces(euid: Uid) -> Check {
    let facts = UsernsFacts {
        max: read_sysctl("/proc/sys/user/max_user_namespaces"),
        debian_clone: read_sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
        apparmor_restrict: read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        probe: sys::probe_unshare_user(),
        root: euid.is_root(),
    };
    facts.judge()
}

/// What is known about user namespaces, judged by [`UsernsFacts::judge`].
struct UsernsFacts {
    max: Option<i64>,
    debian_clone: Option<i64>,
    apparmor_restrict: Option<i64>,
    probe: Result<(), ProbeError>,
    root: bool,
}

const APPARMOR_FIX: &str = "sysctl kernel.apparmor_restrict_unprivileged_userns=0 (persist it in \
    /etc/sysctl.d/), or install an AppArmor profile for cove that allows `userns,` (like the ones \
    in /etc/apparmor.d/ for other runtimes)";

impl UsernsFacts {
    fn judge(&self) -> Check {
        if self.max == Some(0) {
            return Check::new(
                USER_NAMESPACES,
                Status::Fail,
                "user.max_user_namespaces is 0: user namespaces are disabled",
            )
            .with_fix("sysctl user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)");
        }
        if self.debian_clone == Some(0) && !self.root {
            return Check::new(
                USER_NAMESPACES,
                Status::Fail,
                "kernel.unprivileged_userns_clone is 0: unprivileged users cannot create user namespaces",
            )
            .with_fix("sysctl kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)");
        }
        let apparmor = self.apparmor_restrict == Some(1) && !self.root;
        match &self.probe {
            Err(e @ ProbeError::Fork(_)) => {
                Check::new(USER_NAMESPACES, Status::Unknown, e.to_string())
            }
            Err(e @ ProbeError::UidMap(_)) if apparmor => Check::new(
                USER_NAMESPACES,
                Status::Warn,
                format!("{e}: AppArmor restricts unprivileged user namespaces, rootless containers will fail"),
            )
            .with_fix(APPARMOR_FIX),
            Err(e) => Check::new(USER_NAMESPACES, Status::Fail, e.to_string()).with_fix(
                "enable CONFIG_USER_NS, raise user.max_user_namespaces, or allow unshare and \
                 uid_map writes in the seccomp/LSM policy that confines cove",
            ),
            Ok(()) if apparmor => Check::new(
                USER_NAMESPACES,
                Status::Warn,
                format!(
                    "{} but kernel.apparmor_restrict_unprivileged_userns is 1: rootless \
                     containers may get no capabilities inside",
                    self.works()
                ),
            )
            .with_fix(APPARMOR_FIX),
            Ok(()) => Check::ok(USER_NAMESPACES, self.works()),
        }
    }

    fn works(&self) -> String {
        let max = self
            .max
            .map_or_else(|| "unknown".to_owned(), |m| m.to_string());
        format!(
            "unshare(CLONE_NEWUSER) and writing its own uid_map work in a child \
             (max_user_namespaces {max})"
        )
    }
}

/// Why the user-namespace probe in a forked child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeError {
    /// fork or waitpid failed: the probe could not run.
    Fork(Errno),
    /// `unshare(CLONE_NEWUSER)` failed with this errno.
    Unshare(Errno),
    /// The namespace was created but writing its own `uid_map` failed (e.g. AppArmor's restriction).
    UidMap(Errno),
    /// The child was killed by this signal number (e.g. by a seccomp filter).
    Signal(i32),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Fork(e) => write!(f, "fork/wait for the probe failed: {e}"),
            ProbeError::Unshare(e) => write!(f, "unshare(CLONE_NEWUSER) in a child failed: {e}"),
            ProbeError::UidMap(e) => write!(
                f,
                "unshare(CLONE_NEWUSER) worked but writing the child's own uid_map failed: {e}"
            ),
            ProbeError::Signal(s) => write!(f, "the probe child was killed by signal {s}"),
        }
    }
}

fn find_helper(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into(), "/bin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// How a helper gets the privilege to write maps: `setuid root`, `file capabilities` or `None`.
fn helper_privilege(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    if meta.mode() & 0o4000 != 0 && meta.uid() == 0 {
        Some("setuid root")
    } else if sys::has_file_caps(path) {
        Some("file capabilities")
    } else {
        None
    }
}

fn check_uidmap_helpers(euid: Uid) -> Check {
    let helpers: Vec<Helper> = ["newuidmap", "newgidmap"]
        .into_iter()
        .map(|name| {
            let path = find_helper(name);
            let privilege = path.as_deref().and_then(helper_privilege);
            Helper {
                name,
                path,
                privilege,
            }
        })
        .collect();
    helpers_judge(&helpers, euid.is_root())
}

/// What was found of one id-map helper.
struct Helper {
    name: &'static str,
    path: Option<PathBuf>,
    /// `setuid root` or `file capabilities`; `None` when the binary has neither.
    privilege: Option<&'static str>,
}

fn helpers_judge(helpers: &[Helper], root: bool) -> Check {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for h in helpers {
        match (&h.path, h.privilege) {
            (None, _) => problems.push(format!("{} not found", h.name)),
            (Some(path), Some(how)) => found.push(format!("{} ({how})", path.display())),
            (Some(path), None) => problems.push(format!(
                "{} is neither setuid root nor has file capabilities",
                path.display()
            )),
        }
    }
    if problems.is_empty() {
        return Check::ok(UIDMAP_HELPERS, found.join(", "));
    }
    let why = if root {
        "not needed while running as root (root writes id maps itself); rootless containers \
         with more than one id need them"
    } else {
        "rootless containers can map only your own uid and gid"
    };
    let fix = if helpers.iter().any(|h| h.path.is_none()) {
        "apt-get install uidmap (Debian/Ubuntu) or dnf install shadow-utils (Fedora)"
    } else {
        "reinstall the uidmap package, or `chmod u+s` newuidmap and newgidmap"
    };
    Check::new(
        UIDMAP_HELPERS,
        Status::Warn,
        format!("{}: {why}", problems.join("; ")),
    )
    .with_fix(fix)
}

fn check_subid_ranges(euid: Uid) -> Check {
    let name = User::from_uid(euid).ok().flatten().map(|u| u.name);
    let subuid = read("/etc/subuid");
    let subgid = read("/etc/subgid");
    subid_check(
        name.as_deref(),
        euid.as_raw(),
        subuid.as_deref(),
        subgid.as_deref(),
    )
}

/// The smallest range that maps a full 16-bit id space (what most images expect).
const FULL_RANGE: u64 = 65536;

/// Judges the subordinate id ranges of user `name`/`uid` given the texts of `/etc/subuid` and
/// `/etc/subgid` (`None`: the file is missing).
fn subid_check(name: Option<&str>, uid: u32, subuid: Option<&str>, subgid: Option<&str>) -> Check {
    let who = name.map_or_else(|| uid.to_string(), str::to_owned);
    let uids = subuid
        .map(|t| parse_subids(t, name, uid))
        .unwrap_or_default();
    let gids = subgid
        .map(|t| parse_subids(t, name, uid))
        .unwrap_or_default();
    let total = |r: &[SubIdRange]| r.iter().map(|r| r.count).sum::<u64>();
    let describe = |r: &[SubIdRange]| {
        r.iter()
            .map(|r| format!("{}+{}", r.start, r.count))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (nu, ng) = (total(&uids), total(&gids));
    let fix = format!("usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}");
    let root_note = if uid == 0 {
        " (not needed while running as root; rootless users need their own)"
    } else {
        ""
    };
    if nu == 0 || ng == 0 {
        let mut missing = Vec::new();
        if nu == 0 {
            missing.push(file_state("/etc/subuid", subuid.is_some()));
        }
        if ng == 0 {
            missing.push(file_state("/etc/subgid", subgid.is_some()));
        }
        return Check::new(
            SUBID_RANGES,
            Status::Warn,
            format!(
                "no subordinate ids for {who} (uid {uid}) in {}: only one id can be mapped{root_note}",
                missing.join(" and ")
            ),
        )
        .with_fix(fix);
    }
    let detail = format!(
        "{who}: subuid {} ({nu} ids), subgid {} ({ng} ids)",
        describe(&uids),
        describe(&gids)
    );
    if nu < FULL_RANGE || ng < FULL_RANGE {
        Check::new(
            SUBID_RANGES,
            Status::Warn,
            format!("{detail}: fewer than {FULL_RANGE}, images with high ids will fail"),
        )
        .with_fix(fix)
    } else {
        Check::ok(SUBID_RANGES, detail)
    }
}

fn file_state(path: &str, exists: bool) -> String {
    if exists {
        path.to_owned()
    } else {
        format!("{path} (missing)")
    }
}

fn check_seccomp() -> Check {
    let mode = read("/proc/self/status")
        .as_deref()
        .and_then(|s| status_field(s, "Seccomp").map(str::to_owned));
    let Some(mode) = mode else {
        return Check::new(
            SECCOMP,
            Status::Fail,
            "no Seccomp field in /proc/self/status: kernel built without CONFIG_SECCOMP",
        )
        .with_fix("use a kernel with CONFIG_SECCOMP=y and CONFIG_SECCOMP_FILTER=y");
    };
    if let Err(e) = sys::get_seccomp() {
        return Check::new(
            SECCOMP,
            Status::Fail,
            format!("prctl(PR_GET_SECCOMP) failed: {e}"),
        )
        .with_fix("use a kernel with CONFIG_SECCOMP=y and CONFIG_SECCOMP_FILTER=y");
    }
    let actions = read("/proc/sys/kernel/seccomp/actions_avail");
    seccomp_judge(&mode, actions.as_deref())
}

/// Judges seccomp support from the `Seccomp:` status value and the text of `actions_avail`.
fn seccomp_judge(mode: &str, actions: Option<&str>) -> Check {
    let Some(actions) = actions else {
        return Check::new(
            SECCOMP,
            Status::Warn,
            "no /proc/sys/kernel/seccomp/actions_avail (kernel < 4.14?): filter actions unknown",
        )
        .with_fix("upgrade the kernel to 4.14 or newer");
    };
    let list: Vec<&str> = actions.split_whitespace().collect();
    let missing: Vec<&str> = ["errno", "allow", "kill_process"]
        .into_iter()
        .filter(|a| !list.contains(a))
        .collect();
    let notif = if list.contains(&"user_notif") {
        "user_notif available"
    } else {
        "no user_notif"
    };
    let own = match mode {
        "0" => String::new(),
        "2" => "; cove itself runs under a seccomp filter (nested filters stack)".to_owned(),
        m => format!("; own seccomp mode {m}"),
    };
    let detail = format!("filter mode, actions: {}; {notif}{own}", list.join(" "));
    if missing.is_empty() {
        Check::ok(SECCOMP, detail)
    } else {
        Check::new(
            SECCOMP,
            Status::Warn,
            format!("{detail}; missing {}", missing.join(" ")),
        )
        .with_fix("use a kernel with CONFIG_SECCOMP_FILTER=y (4.14 or newer)")
    }
}

fn check_landlock() -> Check {
    match sys::landlock_abi_version() {
        Ok(v) => Check::ok(LANDLOCK, format!("Landlock ABI v{v}")),
        Err(Errno::ENOSYS) => Check::new(
            LANDLOCK,
            Status::Warn,
            "landlock_create_ruleset: ENOSYS (kernel older than 5.13 or built without CONFIG_SECURITY_LANDLOCK)",
        )
        .with_fix("upgrade to Linux 5.13 or newer with CONFIG_SECURITY_LANDLOCK=y"),
        Err(Errno::EOPNOTSUPP) => Check::new(
            LANDLOCK,
            Status::Warn,
            "landlock_create_ruleset: EOPNOTSUPP (Landlock is disabled at boot)",
        )
        .with_fix("add `landlock` to the `lsm=` kernel parameter (keep the other LSMs listed in /sys/kernel/security/lsm)"),
        Err(e) => errno_unknown(LANDLOCK, "landlock_create_ruleset", e),
    }
}

fn errno_unknown(name: &'static str, call: &str, e: Errno) -> Check {
    if e == Errno::EPERM {
        return Check::new(
            name,
            Status::Warn,
            format!("{call}: EPERM (blocked by a seccomp filter or LSM policy around cove)"),
        )
        .with_fix(format!(
            "allow {call} in the seccomp profile of the container or service that runs cove"
        ));
    }
    Check::new(name, Status::Unknown, format!("{call}: unexpected {e}"))
}

/// Judges a syscall probe whose arguments are invalid on purpose: any errno other than `ENOSYS`
/// (or `EPERM`, a filter) means the syscall exists.
fn syscall_exists(name: &'static str, call: &str, since: &str, r: Errno) -> Result<String, Check> {
    match r {
        Errno::ENOSYS => Err(Check::new(
            name,
            Status::Warn,
            format!("{call}: ENOSYS (needs Linux {since}, or a seccomp filter hides it)"),
        )
        .with_fix(format!("upgrade to Linux {since} or newer"))),
        Errno::EPERM => Err(errno_unknown(name, call, r)),
        e => Ok(format!("{call} exists (probe gave {e})")),
    }
}

fn check_idmapped_mounts(kernel: Option<KernelVersion>) -> Check {
    let probe = sys::probe_mount_setattr();
    let exists = match syscall_exists(IDMAPPED_MOUNTS, "mount_setattr", "5.12", probe) {
        Ok(s) => s,
        Err(check) => return check,
    };
    match kernel {
        Some(k) if k.at_least(5, 12) => Check::ok(
            IDMAPPED_MOUNTS,
            format!(
                "{exists}, kernel {k}: idmapped mounts usable where the file system supports them"
            ),
        ),
        Some(k) => Check::new(
            IDMAPPED_MOUNTS,
            Status::Warn,
            format!("{exists} but kernel {k} is older than 5.12"),
        )
        .with_fix("upgrade to Linux 5.12 or newer"),
        None => Check::new(
            IDMAPPED_MOUNTS,
            Status::Unknown,
            format!("{exists}; kernel version unknown"),
        ),
    }
}

fn check_pidfd() -> Check {
    match sys::probe_pidfd_open() {
        Ok(()) => Check::ok(
            PIDFD,
            "pidfd_open(getpid()) works: race-free signals and waits",
        ),
        Err(e) => match syscall_exists(PIDFD, "pidfd_open", "5.3", e) {
            Ok(s) => Check::new(PIDFD, Status::Unknown, s),
            Err(check) => check,
        },
    }
}

fn check_clone3() -> Check {
    match syscall_exists(CLONE3, "clone3", "5.3", sys::probe_clone3()) {
        Ok(s) if s.contains("EINVAL") => Check::ok(CLONE3, s),
        Ok(s) => Check::new(CLONE3, Status::Unknown, s),
        Err(check) => check,
    }
}

fn check_clone_into_cgroup(
    kernel: Option<KernelVersion>,
    clone3: bool,
    layout: &Result<Layout, cove_cgroup::CgroupError>,
) -> Check {
    let cgroup2 = layout.as_ref().ok().and_then(Layout::unified_root);
    let kind = layout.as_ref().ok().map(Layout::kind);
    let Some(k) = kernel else {
        return Check::new(CLONE_INTO_CGROUP, Status::Unknown, "kernel version unknown");
    };
    if !k.at_least(5, 7) {
        return Check::new(
            CLONE_INTO_CGROUP,
            Status::Warn,
            format!("kernel {k} is older than 5.7: cove attaches the pid after clone"),
        )
        .with_fix("upgrade to Linux 5.7 or newer");
    }
    if !clone3 {
        return Check::new(
            CLONE_INTO_CGROUP,
            Status::Warn,
            "no clone3 (see clone3): cove attaches the pid after clone",
        )
        .with_fix("allow clone3 in the seccomp filter around cove, or upgrade the kernel");
    }
    let Some(root) = cgroup2 else {
        return Check::new(
            CLONE_INTO_CGROUP,
            Status::Warn,
            "no cgroup2 mount: cove attaches the pid after clone",
        )
        .with_fix("mount cgroup2 (systemd does so at boot)");
    };
    let detail = if kind == Some(LayoutKind::Unified) {
        format!(
            "kernel {k}, clone3 and cgroup2 at {}: the container starts in its cgroup",
            root.display()
        )
    } else {
        format!(
            "kernel {k}, clone3 and cgroup2 at {} are there (used for the cgroup2 part); the controllers \
             are on cgroup v1, which the new process enters itself before exec",
            root.display()
        )
    };
    Check::ok(CLONE_INTO_CGROUP, detail)
}

fn check_time_namespace() -> Check {
    if Path::new("/proc/self/ns/time").exists() {
        Check::ok(
            TIME_NAMESPACE,
            "/proc/self/ns/time exists: clock offsets work",
        )
    } else {
        Check::new(
            TIME_NAMESPACE,
            Status::Warn,
            "no /proc/self/ns/time: manifests with time offsets will fail",
        )
        .with_fix("upgrade to Linux 5.6 or newer with CONFIG_TIME_NS=y")
    }
}

fn check_openat2() -> Check {
    match syscall_exists(OPENAT2, "openat2", "5.6", sys::probe_openat2()) {
        Ok(s) => Check::ok(OPENAT2, format!("{s}: RESOLVE_IN_ROOT path resolution")),
        Err(check) => check,
    }
}

fn check_close_range() -> Check {
    match syscall_exists(CLOSE_RANGE, "close_range", "5.9", sys::probe_close_range()) {
        Ok(s) => Check::ok(CLOSE_RANGE, s),
        Err(check) => check,
    }
}

// ---------------------------------------------------------------------------------------------
// sys: the raw syscalls nix has no wrapper for
// ---------------------------------------------------------------------------------------------

mod sys {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use nix::errno::Errno;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    use super::ProbeError;

    /// `LANDLOCK_CREATE_RULESET_VERSION` from `<linux/landlock.h>`.
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1 << 0;

    /// `uname(2)`'s release field, e.g. `6.18.44-fc-v595`.
    pub(super) fn kernel_release() -> Option<String> {
        let mut uts = std::mem::MaybeUninit::<libc::utsname>::zeroed();
        // SAFETY: `uts` is a zeroed, properly sized and aligned `utsname` the kernel fills in.
        let rc = unsafe { libc::uname(uts.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: uname returned 0, so the kernel wrote every field.
        let uts = unsafe { uts.assume_init() };
        let bytes: Vec<u8> = uts
            .release
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Whether `unshare(CLONE_NEWUSER)` works for the caller, tried in a forked child that exits.
    pub(super) fn probe_unshare_user() -> Result<(), ProbeError> {
        let map = uid_map_line(nix::unistd::geteuid().as_raw());
        // SAFETY: the child only calls `unshare`, `open`, `write`, `close` (raw syscalls, no
        // allocation, no locks: `map` was formatted before the fork) and `_exit`, all
        // async-signal-safe, so forking a multi-threaded caller is sound.
        match unsafe { fork() }.map_err(ProbeError::Fork)? {
            ForkResult::Child => {
                let code = match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
                    Ok(()) => write_own_uid_map(&map).map_or_else(map_code, |()| 0),
                    Err(e) => unshare_code(e),
                };
                // SAFETY: `_exit` ends the child without running the parent's atexit handlers
                // or destructors, which the forked copy must not run.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => wait_probe(child),
        }
    }

    /// `0 <euid> 1\n`: the map an unprivileged process may write for itself.
    fn uid_map_line(euid: u32) -> Vec<u8> {
        format!("0 {euid} 1\n").into_bytes()
    }

    /// Writes `map` to the calling child's own `/proc/self/uid_map` (only raw syscalls).
    fn write_own_uid_map(map: &[u8]) -> Result<(), Errno> {
        // SAFETY: the path is a static NUL-terminated string; open has no other pointer argument.
        let fd = unsafe {
            libc::open(
                c"/proc/self/uid_map".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: `map` is a live buffer of `map.len()` bytes; `fd` was just opened by us.
        let n = unsafe { libc::write(fd, map.as_ptr().cast(), map.len()) };
        let result = if n < 0 { Err(Errno::last()) } else { Ok(()) };
        // SAFETY: `fd` is ours and not used after this.
        unsafe { libc::close(fd) };
        result
    }

    /// Exit codes of the probe child: 0 ok, 1..=127 unshare's errno, 128 + errno for the map write.
    fn unshare_code(e: Errno) -> i32 {
        (e as i32).clamp(1, 127)
    }

    fn map_code(e: Errno) -> i32 {
        128 + (e as i32).clamp(1, 127)
    }

    fn wait_probe(child: nix::unistd::Pid) -> Result<(), ProbeError> {
        loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
                Ok(WaitStatus::Exited(_, code)) if code >= 128 => {
                    return Err(ProbeError::UidMap(Errno::from_raw(code - 128)))
                }
                Ok(WaitStatus::Exited(_, code)) => {
                    return Err(ProbeError::Unshare(Errno::from_raw(code)))
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => return Err(ProbeError::Signal(sig as i32)),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(ProbeError::Fork(e)),
            }
        }
    }

    /// Whether `path` carries a `security.capability` extended attribute (file capabilities).
    pub(super) fn has_file_caps(path: &Path) -> bool {
        let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: both strings are NUL-terminated CStrings that outlive the call; a NULL buffer
        // with size 0 asks only for the attribute's size, so the kernel writes nothing.
        let n = unsafe {
            libc::getxattr(
                path.as_ptr(),
                c"security.capability".as_ptr(),
                std::ptr::null_mut(),
                0,
            )
        };
        n > 0
    }

    /// `prctl(PR_GET_SECCOMP)`: the caller's seccomp mode (0 none, 2 filter).
    pub(super) fn get_seccomp() -> Result<i32, Errno> {
        // SAFETY: PR_GET_SECCOMP takes no pointer arguments and only reads the caller's mode.
        let rc = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
        Errno::result(rc)
    }

    /// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the ABI version.
    pub(super) fn landlock_abi_version() -> Result<i64, Errno> {
        // SAFETY: with the VERSION flag, a NULL attr and size 0 the kernel creates no ruleset and
        // returns the ABI version; it reads no memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        Errno::result(rc)
    }

    /// The errno of `mount_setattr(-1, "", 0, NULL, 0)`: the size 0 is below the first
    /// `struct mount_attr` version, so a kernel that has the syscall answers EINVAL.
    pub(super) fn probe_mount_setattr() -> Errno {
        // SAFETY: the path is a static NUL-terminated string, the attr pointer is NULL with size
        // 0; the kernel rejects the size before touching any mount.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                -1,
                c"".as_ptr(),
                0u32,
                std::ptr::null::<libc::c_void>(),
                0usize,
            )
        };
        errno_of(rc)
    }

    /// `pidfd_open(getpid(), 0)`; the pidfd is closed at once.
    pub(super) fn probe_pidfd_open() -> Result<(), Errno> {
        // SAFETY: pidfd_open takes a pid and flags, no pointers.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0u32) };
        let fd = Errno::result(rc)?;
        let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
        // SAFETY: the kernel just returned this fd to us and nothing else owns it.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(())
    }

    /// The errno of `clone3(NULL, 0)`: a kernel with clone3 rejects the size with EINVAL before
    /// creating anything; ENOSYS means no clone3.
    pub(super) fn probe_clone3() -> Errno {
        // SAFETY: size 0 is below CLONE_ARGS_SIZE_VER0, so the kernel returns EINVAL without
        // reading the NULL args or creating a process.
        let rc =
            unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<libc::c_void>(), 0usize) };
        errno_of(rc)
    }

    /// The errno of `openat2(AT_FDCWD, "/", &how, 0)`: size 0 is below `OPEN_HOW_SIZE_VER0`, so
    /// a kernel with openat2 answers EINVAL and opens nothing.
    pub(super) fn probe_openat2() -> Errno {
        let how = [0u64; 3];
        // SAFETY: the path is a static NUL-terminated string and `how` a live buffer; with size 0
        // the kernel reads neither beyond the size check and opens no file.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                c"/".as_ptr(),
                how.as_ptr(),
                0usize,
            )
        };
        if let Ok(fd) = i32::try_from(rc) {
            if fd >= 0 {
                // SAFETY: should the kernel ever open it anyway, we own the fd and close it.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        errno_of(rc)
    }

    /// The errno of `close_range(u32::MAX, 0, 0)`: first > last is EINVAL before any fd is touched.
    pub(super) fn probe_close_range() -> Errno {
        // SAFETY: with first > last the kernel rejects the range and closes no descriptor.
        let rc = unsafe { libc::syscall(libc::SYS_close_range, u32::MAX, 0u32, 0u32) };
        errno_of(rc)
    }

    /// The errno of a probe that is expected to fail (a success reads as errno 0, `UnknownErrno`).
    fn errno_of(rc: libc::c_long) -> Errno {
        if rc == -1 {
            Errno::last()
        } else {
            Errno::UnknownErrno
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(
            parse_kernel_version("6.18.44-fc-v595"),
            Some(KernelVersion::new(6, 18, 44))
        );
        assert_eq!(
            parse_kernel_version("5.15.0-91-generic"),
            Some(KernelVersion::new(5, 15, 0))
        );
        assert_eq!(
            parse_kernel_version("6.1"),
            Some(KernelVersion::new(6, 1, 0))
        );
        assert_eq!(
            parse_kernel_version("4.19.0+\n"),
            Some(KernelVersion::new(4, 19, 0))
        );
        assert_eq!(
            parse_kernel_version("6.8-rc1"),
            Some(KernelVersion::new(6, 8, 0))
        );
        assert_eq!(parse_kernel_version("6"), None);
        assert_eq!(parse_kernel_version("x.y.z"), None);
        assert_eq!(parse_kernel_version(""), None);
    }

    #[test]
    fn kernel_versions_compare() {
        let k = KernelVersion::new(5, 11, 22);
        assert!(k.at_least(5, 11));
        assert!(k.at_least(4, 20));
        assert!(!k.at_least(5, 12));
        assert!(!k.at_least(6, 0));
        assert_eq!(k.to_string(), "5.11.22");
    }

    #[test]
    fn kernel_check_warns_on_old_kernels() {
        assert_eq!(check_kernel(Some("6.18.44-fc-v595")).status, Status::Ok);
        let old = check_kernel(Some("5.4.0-150-generic"));
        assert_eq!(old.status, Status::Warn);
        assert!(old.fix.unwrap().contains("5.12"));
        assert_eq!(check_kernel(Some("weird")).status, Status::Unknown);
        assert_eq!(check_kernel(None).status, Status::Unknown);
    }

    const SUBUID: &str = "\
# comment line
alice:100000:65536

bob:165536:65536
1002:231072:65536
alice:300000:1000
broken:line
carol:x:10
dave:1:2:3
";

    #[test]
    fn subids_by_name() {
        assert_eq!(
            parse_subids(SUBUID, Some("alice"), 1001),
            [
                SubIdRange {
                    start: 100000,
                    count: 65536
                },
                SubIdRange {
                    start: 300000,
                    count: 1000
                }
            ]
        );
        assert_eq!(
            parse_subids(SUBUID, Some("bob"), 7),
            [SubIdRange {
                start: 165536,
                count: 65536
            }]
        );
    }

    #[test]
    fn subids_by_uid() {
        assert_eq!(
            parse_subids(SUBUID, None, 1002),
            [SubIdRange {
                start: 231072,
                count: 65536
            }]
        );
        assert_eq!(
            parse_subids(SUBUID, Some("erin"), 1002),
            [SubIdRange {
                start: 231072,
                count: 65536
            }]
        );
    }

    #[test]
    fn subids_skip_malformed_and_unknown() {
        assert!(parse_subids(SUBUID, Some("carol"), 5).is_empty());
        assert!(parse_subids(SUBUID, Some("dave"), 5).is_empty());
        assert!(parse_subids(SUBUID, Some("broken"), 5).is_empty());
        assert!(parse_subids(SUBUID, Some("nobody"), 4242).is_empty());
        assert!(parse_subids("", Some("alice"), 0).is_empty());
    }

    #[test]
    fn subid_check_judges_ranges() {
        let ok = subid_check(Some("bob"), 1000, Some(SUBUID), Some(SUBUID));
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert!(ok.detail.contains("165536+65536"), "{}", ok.detail);

        let missing = subid_check(Some("erin"), 4242, Some(SUBUID), None);
        assert_eq!(missing.status, Status::Warn);
        assert!(
            missing.detail.contains("/etc/subgid (missing)"),
            "{}",
            missing.detail
        );
        assert!(missing
            .fix
            .as_deref()
            .unwrap()
            .contains("usermod --add-subuids 100000-165535"));
        assert!(missing.fix.as_deref().unwrap().ends_with(" erin"));

        let small = subid_check(Some("x"), 9, Some("x:1000:10\n"), Some("9:1000:10\n"));
        assert_eq!(small.status, Status::Warn);
        assert!(
            small.detail.contains("fewer than 65536"),
            "{}",
            small.detail
        );
    }

    #[test]
    fn proc_cgroup_parses_v1_and_v2_lines() {
        let text = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/user.slice/a.scope\nbad\n";
        let e = parse_proc_cgroup(text);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].controllers, ["name=systemd"]);
        assert_eq!(e[1].path, "/process_api/abc");
        assert_eq!(e[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(e[3].id, 0);
        assert!(e[3].controllers.is_empty());
        assert_eq!(e[3].path, "/user.slice/a.scope");
    }

    #[test]
    fn own_cgroup_dirs_join_mount_and_path() {
        let own = parse_proc_cgroup("4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/u/v\n");
        let layout = Layout::hybrid(
            vec![
                Hierarchy::new("/sys/fs/cgroup/memory", &["memory"]),
                Hierarchy::new("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"]),
            ],
            "/sys/fs/cgroup/unified",
        );
        assert_eq!(
            own_v2_dir(&layout, &own).unwrap(),
            Path::new("/sys/fs/cgroup/unified/u/v")
        );
        assert_eq!(
            own_v1_dir(&layout.hierarchies()[0], &own).unwrap(),
            Path::new("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            own_v1_dir(&layout.hierarchies()[1], &own).unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/c")
        );
    }

    #[test]
    fn v2_controllers_from_a_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("user.slice")).unwrap();
        std::fs::write(
            dir.path().join("user.slice/cgroup.controllers"),
            "cpu memory pids\n",
        )
        .unwrap();
        let layout = Layout::unified(dir.path());
        let own = parse_proc_cgroup("0::/user.slice\n");
        let c = v2_controllers(&layout, &own, Uid::from_raw(1000));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.detail.contains("missing cpuset io"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("Delegate="));
    }

    #[test]
    fn status_fields_parse() {
        let status = "Name:\tcat\nSeccomp:\t0\nSeccomp_filters:\t0\n";
        assert_eq!(status_field(status, "Seccomp"), Some("0"));
        assert_eq!(status_field(status, "Seccomp_filters"), Some("0"));
        assert_eq!(status_field(status, "NoSuch"), None);
    }

    #[test]
    fn seccomp_actions_judged() {
        let all = "kill_process kill_thread trap errno user_notif trace log allow\n";
        let c = seccomp_judge("0", Some(all));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("user_notif available"));
        let c = seccomp_judge("2", Some("kill_thread trap errno trace allow"));
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("missing kill_process"), "{}", c.detail);
        assert!(c.detail.contains("no user_notif"));
        assert!(c.detail.contains("runs under a seccomp filter"));
        assert_eq!(seccomp_judge("0", None).status, Status::Warn);
    }

    #[test]
    fn userns_facts_judged() {
        let base = UsernsFacts {
            max: Some(1000),
            debian_clone: None,
            apparmor_restrict: None,
            probe: Ok(()),
            root: false,
        };
        assert_eq!(base.judge().status, Status::Ok);
        let apparmor = UsernsFacts {
            apparmor_restrict: Some(1),
            ..base
        };
        let c = apparmor.judge();
        assert_eq!(c.status, Status::Warn);
        assert!(c
            .fix
            .unwrap()
            .contains("sysctl kernel.apparmor_restrict_unprivileged_userns=0"));
        let disabled = UsernsFacts {
            max: Some(0),
            ..apparmor
        };
        assert_eq!(disabled.judge().status, Status::Fail);
        let probe_failed = UsernsFacts {
            max: Some(10),
            apparmor_restrict: None,
            probe: Err(ProbeError::Unshare(Errno::EPERM)),
            ..disabled
        };
        let c = probe_failed.judge();
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("EPERM"), "{}", c.detail);
        let debian = UsernsFacts {
            debian_clone: Some(0),
            probe: Ok(()),
            ..probe_failed
        };
        assert_eq!(debian.judge().status, Status::Fail);
        let map_denied = UsernsFacts {
            debian_clone: None,
            apparmor_restrict: Some(1),
            probe: Err(ProbeError::UidMap(Errno::EPERM)),
            ..probe_failed
        };
        let c = map_denied.judge();
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.detail.contains("uid_map"), "{}", c.detail);
        assert!(c
            .fix
            .unwrap()
            .contains("apparmor_restrict_unprivileged_userns=0"));
        let map_denied_no_apparmor = UsernsFacts {
            apparmor_restrict: None,
            ..map_denied
        };
        assert_eq!(map_denied_no_apparmor.judge().status, Status::Fail);
        let no_fork = UsernsFacts {
            probe: Err(ProbeError::Fork(Errno::EAGAIN)),
            ..map_denied_no_apparmor
        };
        assert_eq!(no_fork.judge().status, Status::Unknown);
        let debian_root = UsernsFacts {
            root: true,
            ..debian
        };
        assert_eq!(debian_root.judge().status, Status::Ok);
    }

    #[test]
    fn syscall_probe_errnos_judged() {
        assert!(syscall_exists(OPENAT2, "openat2", "5.6", Errno::EINVAL).is_ok());
        assert!(syscall_exists(OPENAT2, "openat2", "5.6", Errno::E2BIG).is_ok());
        let nosys = syscall_exists(OPENAT2, "openat2", "5.6", Errno::ENOSYS).unwrap_err();
        assert_eq!(nosys.status, Status::Warn);
        assert!(nosys.fix.unwrap().contains("5.6"));
        let perm = syscall_exists(OPENAT2, "openat2", "5.6", Errno::EPERM).unwrap_err();
        assert_eq!(perm.status, Status::Warn);
        assert!(perm.detail.contains("seccomp"));
    }

    #[test]
    fn clone_into_cgroup_needs_all_three() {
        let v2 = Ok(Layout::unified("/sys/fs/cgroup"));
        let k = Some(KernelVersion::new(6, 1, 0));
        assert_eq!(check_clone_into_cgroup(k, true, &v2).status, Status::Ok);
        assert_eq!(check_clone_into_cgroup(k, false, &v2).status, Status::Warn);
        let old = Some(KernelVersion::new(5, 4, 0));
        assert_eq!(check_clone_into_cgroup(old, true, &v2).status, Status::Warn);
        let v1 = Ok(Layout::legacy(vec![Hierarchy::new(
            "/sys/fs/cgroup/memory",
            &["memory"],
        )]));
        let c = check_clone_into_cgroup(k, true, &v1);
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("no cgroup2"));
    }

    #[test]
    fn uidmap_helpers_judged() {
        let helper = |name, path: Option<&str>, privilege| Helper {
            name,
            path: path.map(PathBuf::from),
            privilege,
        };
        let good = [
            helper("newuidmap", Some("/usr/bin/newuidmap"), Some("setuid root")),
            helper(
                "newgidmap",
                Some("/usr/bin/newgidmap"),
                Some("file capabilities"),
            ),
        ];
        let c = helpers_judge(&good, false);
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("/usr/bin/newgidmap (file capabilities)"));

        let missing = [
            helper("newuidmap", None, None),
            helper("newgidmap", Some("/usr/bin/newgidmap"), None),
        ];
        let c = helpers_judge(&missing, false);
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("newuidmap not found"), "{}", c.detail);
        assert!(c.detail.contains("neither setuid root"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("apt-get install uidmap"));

        let unprivileged = [helper("newuidmap", Some("/x/newuidmap"), None)];
        let c = helpers_judge(&unprivileged, true);
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("not needed while running as root"));
        assert!(c.fix.unwrap().contains("chmod u+s"));
    }

    #[test]
    fn helper_privilege_reads_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("newuidmap");
        std::fs::write(&plain, "").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(helper_privilege(&plain), None);
        assert_eq!(helper_privilege(&dir.path().join("absent")), None);
    }

    #[test]
    fn worst_status_orders() {
        assert_eq!(Status::Ok.worst(Status::Warn), Status::Warn);
        assert_eq!(Status::Fail.worst(Status::Warn), Status::Fail);
        assert_eq!(Status::Unknown.worst(Status::Ok), Status::Unknown);
    }
}
