//! The cgroup handle: create, attach, apply, stats, freeze, kill, remove.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cpuset::parse_list;
use crate::device::unusable_reason;
use crate::error::{CgroupError, Result};
use crate::fsutil::{self, write};
use crate::layout::{Layout, LayoutKind, Version};
use crate::resources::{CpuResources, MemoryResources, Resources};
use crate::stats::Stats;
use crate::{devfilter, devices, v1, v2, validate};

/// How long [`Cgroup::freeze`] waits for the kernel to report the cgroup frozen (or thawed).
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Cgroup::kill`] keeps signalling before it gives up.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Cgroup::remove`] retries `rmdir` while it fails with EBUSY.
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A cgroup directory in one v1 hierarchy.
#[derive(Debug, Clone)]
struct V1Dir {
    controllers: Vec<String>,
    root: PathBuf,
    dir: PathBuf,
}

/// One cgroup, present in every hierarchy the layout manages.
///
/// - **Unified** (v2 only): one directory under the cgroup2 mount; controllers are enabled in
///   each ancestor's `cgroup.subtree_control`.
/// - **Legacy** (v1 only): one directory in every v1 hierarchy that carries a controller
///   (named hierarchies such as `name=systemd` are never touched).
/// - **Hybrid**: the v1 directories for the controllers, *plus* a directory in the cgroup2
///   hierarchy, used for tracking only (no controllers are enabled there): [`add_pid`] puts the
///   process in it too, so [`kill`] can use `cgroup.kill`, [`freeze`] can fall back to
///   `cgroup.freeze` when no v1 freezer is mounted, and [`stats`] reports PSI. This is what runc
///   does.
///
/// [`add_pid`]: Cgroup::add_pid
/// [`kill`]: Cgroup::kill
/// [`freeze`]: Cgroup::freeze
/// [`stats`]: Cgroup::stats
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    kind: LayoutKind,
    /// (hierarchy root, directory) in the cgroup2 hierarchy.
    v2: Option<(PathBuf, PathBuf)>,
    v1: Vec<V1Dir>,
    block_devices: PathBuf,
}

/// Which directory and format a controller is driven through.
enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Cgroup {
    /// Validates `res`, creates the cgroup at `path` (relative to the hierarchy roots, e.g.
    /// `"cove/web"`, creating missing ancestors) in every managed hierarchy, and applies `res`.
    ///
    /// Nothing is half-applied: when creating or applying fails, every directory this call
    /// created is removed again before the error is returned (on v2, controllers it enabled in
    /// ancestors' `cgroup.subtree_control` stay enabled). An existing cgroup is reused.
    pub fn create(layout: &Layout, path: &str, res: &Resources) -> Result<Cgroup> {
        Cgroup::create_inner(layout, path, res, true)
    }

    /// Like [`create`](Cgroup::create) but skips validation: the kernel is the only judge of
    /// the values. A failure still removes what was created.
    pub fn create_unvalidated(layout: &Layout, path: &str, res: &Resources) -> Result<Cgroup> {
        Cgroup::create_inner(layout, path, res, false)
    }

    fn create_inner(layout: &Layout, path: &str, res: &Resources, check: bool) -> Result<Cgroup> {
        let cg = Cgroup::new(layout, path)?;
        if check {
            cg.validate(res)?;
        }
        let mut created = Vec::new();
        let result = cg.make_dirs(&mut created).and_then(|()| cg.apply(res));
        if let Err(e) = result {
            rollback(&created);
            return Err(e);
        }
        Ok(cg)
    }

    /// Opens an existing cgroup; fails with [`CgroupError::NotFound`] when its directory is
    /// missing from any managed hierarchy.
    pub fn open(layout: &Layout, path: &str) -> Result<Cgroup> {
        let cg = Cgroup::new(layout, path)?;
        if let Some(missing) = cg.dirs().into_iter().find(|d| !d.is_dir()) {
            return Err(CgroupError::NotFound {
                path: missing.to_owned(),
            });
        }
        Ok(cg)
    }

    fn new(layout: &Layout, path: &str) -> Result<Cgroup> {
        let path = normalize(path)?;
        let v2 = layout.unified_root().map(|r| (r.to_owned(), r.join(&path)));
        let v1 = match layout.kind() {
            LayoutKind::Unified => Vec::new(),
            LayoutKind::Legacy | LayoutKind::Hybrid => layout
                .controller_hierarchies()
                .map(|h| V1Dir {
                    controllers: h.controllers.clone(),
                    root: h.mount_point.clone(),
                    dir: h.mount_point.join(&path),
                })
                .collect(),
        };
        Ok(Cgroup {
            path,
            kind: layout.kind(),
            v2,
            v1,
            block_devices: layout.block_devices().to_owned(),
        })
    }

    /// The cgroup's path relative to the hierarchy roots, without leading or trailing `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The version whose controllers this cgroup uses (v1 in hybrid mode).
    pub fn version(&self) -> Version {
        match self.kind {
            LayoutKind::Unified => Version::V2,
            LayoutKind::Legacy | LayoutKind::Hybrid => Version::V1,
        }
    }

    /// The layout kind the cgroup was made for.
    pub fn kind(&self) -> LayoutKind {
        self.kind
    }

    /// Every directory of this cgroup: the v2 one (if any) first, then one per v1 hierarchy.
    pub fn dirs(&self) -> Vec<&Path> {
        let v2 = self.v2.iter().map(|(_, d)| d.as_path());
        v2.chain(self.v1.iter().map(|h| h.dir.as_path())).collect()
    }

    /// The cgroup's directories in the v1 hierarchies (none on a unified layout).
    pub(crate) fn v1_dirs(&self) -> impl Iterator<Item = &Path> {
        self.v1.iter().map(|h| h.dir.as_path())
    }

    /// The directory in the v1 hierarchy that carries `controller`, if that hierarchy is managed.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    /// The directory in the cgroup2 hierarchy (unified, or tracking-only in hybrid mode).
    pub fn v2_dir(&self) -> Option<&Path> {
        self.v2.as_ref().map(|(_, d)| d.as_path())
    }

    /// Opens the v2 directory `O_RDONLY | O_DIRECTORY | O_CLOEXEC`, for `clone3`'s
    /// `CLONE_INTO_CGROUP`. Only on a unified layout: in legacy and hybrid mode the child must be
    /// attached with [`add_pid`](Cgroup::add_pid) instead ([`CgroupError::Unsupported`]).
    pub fn dir_fd(&self) -> Result<OwnedFd> {
        let dir = match (&self.v2, self.kind) {
            (Some((_, dir)), LayoutKind::Unified) => dir,
            _ => {
                return Err(CgroupError::Unsupported {
                    operation: "CLONE_INTO_CGROUP (dir_fd)",
                    version: self.version(),
                })
            }
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)
            .map_err(|source| CgroupError::OpenDir {
                path: dir.clone(),
                source,
            })?;
        Ok(OwnedFd::from(file))
    }

    /// Moves process `pid` (all its threads) into the cgroup: writes it to `cgroup.procs` in
    /// every hierarchy (in hybrid mode also the tracking v2 directory).
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            write(dir, "cgroup.procs", "cgroup", &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the cgroup: the union of `cgroup.procs` over all its directories,
    /// sorted. Exited processes (zombies included) are not listed.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut all = BTreeSet::new();
        for dir in self.dirs() {
            all.extend(fsutil::read_pids(dir)?);
        }
        Ok(all.into_iter().collect())
    }

    /// Validates `res` and applies it to the live cgroup. Only the fields that are set are
    /// written. Values are checked before the first write; a value the kernel still refuses
    /// leaves the fields before it applied (there is no rollback of a live cgroup).
    ///
    /// Non-empty `devices` replace the device rules: on v1 the whole list is written again (the
    /// processes briefly see the deny-all alone, and the kernel refuses `a` rules while the
    /// cgroup has child cgroups); on v2 the new eBPF filter is attached before the old one is
    /// detached.
    pub fn update(&self, res: &Resources) -> Result<()> {
        self.validate(res)?;
        self.apply(res)
    }

    /// Reads the statistics of every available controller; what is not available is `None`.
    pub fn stats(&self) -> Result<Stats> {
        match self.kind {
            LayoutKind::Unified => self.v2_stats(),
            LayoutKind::Legacy | LayoutKind::Hybrid => self.v1_stats(),
        }
    }

    /// Freezes every process of the cgroup and waits (up to [`FREEZE_TIMEOUT`]) until the kernel
    /// reports it frozen. Uses the v1 freezer where mounted, else v2 `cgroup.freeze`.
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true, FREEZE_TIMEOUT)
    }

    /// Whether the cgroup is frozen, or being frozen, by [`freeze`](Cgroup::freeze) (the same freezer: v1
    /// `freezer.state` FROZEN or FREEZING where mounted, else v2 `cgroup.freeze` = 1).
    pub fn is_frozen(&self) -> Result<bool> {
        Ok(match self.freezer()? {
            Target::V1(dir) => matches!(
                fsutil::read(dir, "freezer.state", "freezer")?.trim(),
                "FROZEN" | "FREEZING"
            ),
            Target::V2(dir) => fsutil::read(dir, "cgroup.freeze", "cgroup")?.trim() == "1",
        })
    }

    /// Thaws the cgroup and waits until the kernel reports it thawed.
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false, FREEZE_TIMEOUT)
    }

    /// Kills every process in the cgroup and waits (up to [`KILL_TIMEOUT`]) until none is left.
    ///
    /// Writes `cgroup.kill` where the kernel has it (v2, also the tracking directory in hybrid
    /// mode, kernel ≥ 5.14); otherwise, or if processes remain, repeats freeze → SIGKILL every
    /// listed process → thaw until the cgroup is empty (without a freezer: SIGKILL only).
    /// The caller still has to reap its own children.
    pub fn kill(&self) -> Result<()> {
        let deadline = Instant::now() + KILL_TIMEOUT;
        if let Some(dir) = self.v2_dir().filter(|d| fsutil::exists(d, "cgroup.kill")) {
            write(dir, "cgroup.kill", "cgroup", "1")?;
            if self.wait_empty(Instant::now() + Duration::from_millis(500))? {
                return Ok(());
            }
        }
        while !self.pids()?.is_empty() {
            if Instant::now() > deadline {
                return Err(self.timeout("kill", KILL_TIMEOUT));
            }
            self.signal_round(Signal::SIGKILL)?;
            self.wait_empty(Instant::now() + Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// Removes the cgroup's directory from every hierarchy (ancestors are left in place).
    /// While `rmdir` fails with EBUSY (processes still leaving) it retries, for up to
    /// [`REMOVE_TIMEOUT`]. A directory that is already gone is not an error. Kill the
    /// processes first ([`kill`](Cgroup::kill)): this does not.
    pub fn remove(self) -> Result<()> {
        let deadline = Instant::now() + REMOVE_TIMEOUT;
        let mut first_err = None;
        for dir in self.dirs().into_iter().rev() {
            if let Err(e) = remove_dir_retrying(dir, deadline) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    // ---- creation ----

    fn make_dirs(&self, created: &mut Vec<PathBuf>) -> Result<()> {
        if let Some((root, _)) = &self.v2 {
            let enable = self.kind == LayoutKind::Unified;
            make_path(root, &self.path, created, |parent, _| {
                if enable {
                    v2::enable_controllers(parent)
                } else {
                    Ok(())
                }
            })?;
        }
        for h in &self.v1 {
            let cpuset = h.controllers.iter().any(|c| c == "cpuset");
            make_path(&h.root, &self.path, created, |parent, dir| {
                if cpuset {
                    v1::init_cpuset(parent, dir)
                } else {
                    Ok(())
                }
            })?;
        }
        Ok(())
    }

    // ---- validation ----

    fn validate(&self, res: &Resources) -> Result<()> {
        validate::values(res, self.version())?;
        self.check_controllers(res)?;
        self.check_cpuset(&res.cpu)?;
        self.check_devices(res)
    }

    /// The controllers each requested resource needs, as (field, v1 name, v2 name).
    fn needed_controllers(res: &Resources) -> Vec<(&'static str, &'static str, &'static str)> {
        let mut need = Vec::new();
        if res.memory != MemoryResources::default() {
            need.push(("memory", "memory", "memory"));
        }
        let c = &res.cpu;
        if c.weight.is_some() || c.quota_and_period().is_some() {
            need.push(("cpu", "cpu", "cpu"));
        }
        if c.cpuset_cpus.is_some() || c.cpuset_mems.is_some() {
            need.push(("cpuset", "cpuset", "cpuset"));
        }
        if res.pids.max.is_some() {
            need.push(("pids", "pids", "pids"));
        }
        if res.io.weight.is_some() || !res.io.devices.is_empty() {
            need.push(("io", "blkio", "io"));
        }
        if !res.hugetlb.is_empty() {
            need.push(("hugetlb", "hugetlb", "hugetlb"));
        }
        if res.net_cls_classid.is_some() {
            need.push(("net_cls_classid", "net_cls", "net_cls"));
        }
        if !res.net_prio.is_empty() {
            need.push(("net_prio", "net_prio", "net_prio"));
        }
        need
    }

    fn check_controllers(&self, res: &Resources) -> Result<()> {
        if !res.devices.is_empty() {
            self.devices_target()?;
        }
        let need = Cgroup::needed_controllers(res);
        if need.is_empty() {
            return Ok(());
        }
        match &self.v2 {
            Some((root, _)) if self.kind == LayoutKind::Unified => {
                // Creation enables controllers all the way down from the hierarchy root, so
                // what the root offers is what the cgroup can get.
                let offered = v2::read_controller_list(root, "cgroup.controllers")?;
                for (field, _, controller) in need {
                    if !offered.iter().any(|o| o == controller) {
                        let path = root.clone();
                        return Err(CgroupError::ControllerUnavailable {
                            field,
                            controller,
                            path,
                        });
                    }
                }
            }
            _ => {
                for (field, controller, _) in need {
                    if self.v1_dir(controller).is_none() {
                        let path = self.v1.first().map(|h| h.root.clone()).unwrap_or_default();
                        return Err(CgroupError::ControllerUnavailable {
                            field,
                            controller,
                            path,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The cpuset root and directory, and the names of the effective-cpus/mems files.
    fn cpuset_place(&self) -> Option<(&Path, &Path, [&'static str; 2])> {
        match (&self.v2, self.kind) {
            (Some((root, dir)), LayoutKind::Unified) => Some((
                root,
                dir,
                ["cpuset.cpus.effective", "cpuset.mems.effective"],
            )),
            _ => {
                let h = self
                    .v1
                    .iter()
                    .find(|h| h.controllers.iter().any(|c| c == "cpuset"))?;
                Some((
                    &h.root,
                    &h.dir,
                    ["cpuset.effective_cpus", "cpuset.effective_mems"],
                ))
            }
        }
    }

    /// Checks that cpuset_cpus/mems lie within the CPUs/nodes the parent has.
    fn check_cpuset(&self, c: &CpuResources) -> Result<()> {
        let wanted = [
            ("cpu.cpuset_cpus", &c.cpuset_cpus),
            ("cpu.cpuset_mems", &c.cpuset_mems),
        ];
        if wanted.iter().all(|(_, w)| w.is_none()) {
            return Ok(());
        }
        let Some((root, dir, files)) = self.cpuset_place() else {
            return Err(CgroupError::ControllerUnavailable {
                field: "cpuset",
                controller: "cpuset",
                path: PathBuf::new(),
            });
        };
        for ((field, list), file) in wanted.into_iter().zip(files) {
            let Some(list) = list else { continue };
            let ancestor = nearest_ancestor_with(root, dir, file).ok_or_else(|| {
                CgroupError::ControllerUnavailable {
                    field,
                    controller: "cpuset",
                    path: root.to_owned(),
                }
            })?;
            let allowed_text = fsutil::read(&ancestor, file, "cpuset")?;
            let allowed = parse_list(&allowed_text).map_err(|reason| CgroupError::Parse {
                file: ancestor.join(file),
                reason,
                text: allowed_text.clone(),
            })?;
            let set = parse_list(list).map_err(|reason| invalid(field, list, reason))?;
            if let Some(bad) = set.iter().find(|n| !allowed.contains(n)) {
                let reason = format!(
                    "{bad} is outside the parent's {} ({})",
                    file,
                    allowed_text.trim()
                );
                return Err(invalid(field, list, reason));
            }
        }
        Ok(())
    }

    fn check_devices(&self, res: &Resources) -> Result<()> {
        for d in &res.io.devices {
            if let Some(reason) = unusable_reason(&self.block_devices, d.major, d.minor) {
                return Err(invalid(
                    "io.devices",
                    &format!("{}:{}", d.major, d.minor),
                    reason,
                ));
            }
        }
        Ok(())
    }

    // ---- applying ----

    /// Where device rules go: the v1 `devices` hierarchy when it is managed (legacy, hybrid),
    /// else the cgroup2 directory (unified, or hybrid without a v1 devices hierarchy), where
    /// they become an eBPF filter.
    fn devices_target(&self) -> Result<Target<'_>> {
        if self.kind != LayoutKind::Unified {
            if let Some(dir) = self.v1_dir("devices") {
                return Ok(Target::V1(dir));
            }
        }
        match self.v2_dir() {
            Some(dir) => Ok(Target::V2(dir)),
            None => Err(CgroupError::ControllerUnavailable {
                field: "devices",
                controller: "devices",
                path: self.v1.first().map(|h| h.root.clone()).unwrap_or_default(),
            }),
        }
    }

    /// How many eBPF device filters are attached directly to this cgroup's v2 directory, or
    /// `None` when device rules go to the v1 `devices` controller. After [`create`] or
    /// [`update`] with device rules on v2 it is 1: an update replaces the filter.
    ///
    /// [`create`]: Cgroup::create
    /// [`update`]: Cgroup::update
    pub fn device_filters(&self) -> Result<Option<usize>> {
        match self.devices_target() {
            Ok(Target::V2(dir)) => devfilter::attached_count(dir).map(Some),
            Ok(Target::V1(_)) | Err(_) => Ok(None),
        }
    }

    fn target(&self, field: &'static str, v1_name: &'static str) -> Result<Target<'_>> {
        let unavailable = || CgroupError::ControllerUnavailable {
            field,
            controller: v1_name,
            path: self
                .dirs()
                .first()
                .map(|p| p.to_path_buf())
                .unwrap_or_default(),
        };
        match (&self.v2, self.kind) {
            (Some((_, dir)), LayoutKind::Unified) => Ok(Target::V2(dir)),
            _ => self.v1_dir(v1_name).map(Target::V1).ok_or_else(unavailable),
        }
    }

    fn apply(&self, res: &Resources) -> Result<()> {
        let need = Cgroup::needed_controllers(res);
        let needs = |field| need.iter().any(|(f, _, _)| *f == field);
        if needs("memory") {
            match self.target("memory", "memory")? {
                Target::V2(d) => v2::apply_memory(d, &res.memory)?,
                Target::V1(d) => v1::apply_memory(d, &res.memory)?,
            }
        }
        if needs("pids") {
            match self.target("pids", "pids")? {
                Target::V2(d) => v2::apply_pids(d, &res.pids)?,
                Target::V1(d) => v1::apply_pids(d, &res.pids)?,
            }
        }
        if needs("cpu") {
            match self.target("cpu", "cpu")? {
                Target::V2(d) => v2::apply_cpu(d, &res.cpu)?,
                Target::V1(d) => v1::apply_cpu(d, &res.cpu)?,
            }
        }
        if needs("cpuset") {
            match self.target("cpuset", "cpuset")? {
                Target::V2(d) => v2::apply_cpuset(d, &res.cpu)?,
                Target::V1(d) => v1::apply_cpuset(d, &res.cpu)?,
            }
        }
        self.apply_rest(res, &needs)
    }

    fn apply_rest(&self, res: &Resources, needs: &dyn Fn(&'static str) -> bool) -> Result<()> {
        if needs("io") {
            match self.target("io", "blkio")? {
                Target::V2(d) => v2::apply_io(d, &res.io)?,
                Target::V1(d) => v1::apply_blkio(d, &res.io)?,
            }
        }
        if needs("hugetlb") {
            match self.target("hugetlb", "hugetlb")? {
                Target::V2(d) => v2::apply_hugetlb(d, &res.hugetlb)?,
                Target::V1(d) => v1::apply_hugetlb(d, &res.hugetlb)?,
            }
        }
        if let Some(classid) = res.net_cls_classid {
            match self.target("net_cls_classid", "net_cls")? {
                Target::V1(d) => v1::apply_net_cls(d, classid)?,
                Target::V2(_) => return Err(self.unsupported("net_cls.classid")),
            }
        }
        if !res.net_prio.is_empty() {
            match self.target("net_prio", "net_prio")? {
                Target::V1(d) => v1::apply_net_prio(d, &res.net_prio)?,
                Target::V2(_) => return Err(self.unsupported("net_prio.ifpriomap")),
            }
        }
        if !res.devices.is_empty() {
            match self.devices_target()? {
                Target::V1(d) => devices::apply_v1(d, &res.devices)?,
                Target::V2(d) => devfilter::apply(d, &res.devices)?,
            }
        }
        Ok(())
    }

    // ---- stats ----

    fn v2_stats(&self) -> Result<Stats> {
        let Some(dir) = self.v2_dir() else {
            return Ok(Stats::default());
        };
        Ok(Stats {
            memory: v2::memory_stats(dir)?,
            cpu: v2::cpu_stats(dir)?,
            pids: v2::pids_stats(dir)?,
            io: v2::io_stats(dir)?,
            hugetlb: v2::hugetlb_stats(dir)?,
            pressure: v2::pressure_stats(dir),
        })
    }

    fn v1_stats(&self) -> Result<Stats> {
        let mut cpu = v1::cpu_stats(self.v1_dir("cpuacct"), self.v1_dir("cpu"))?;
        if let (None, Some(dir)) = (cpu.usage_usec, self.v2_dir()) {
            // No cpuacct hierarchy: the tracking v2 cgroup's cpu.stat has the usage times.
            let v2cpu = v2::cpu_stats(dir)?;
            cpu.usage_usec = v2cpu.usage_usec;
            cpu.user_usec = v2cpu.user_usec;
            cpu.system_usec = v2cpu.system_usec;
        }
        Ok(Stats {
            memory: self
                .v1_dir("memory")
                .map(v1::memory_stats)
                .transpose()?
                .unwrap_or_default(),
            cpu,
            pids: self
                .v1_dir("pids")
                .map(v1::pids_stats)
                .transpose()?
                .unwrap_or_default(),
            io: self
                .v1_dir("blkio")
                .map(v1::blkio_stats)
                .transpose()?
                .unwrap_or_default(),
            hugetlb: self
                .v1_dir("hugetlb")
                .map(v1::hugetlb_stats)
                .transpose()?
                .unwrap_or_default(),
            pressure: self.v2_dir().map(v2::pressure_stats).unwrap_or_default(),
        })
    }

    // ---- freezing and killing ----

    fn freezer(&self) -> Result<Target<'_>> {
        if self.kind != LayoutKind::Unified {
            if let Some(dir) = self.v1_dir("freezer") {
                return Ok(Target::V1(dir));
            }
        }
        match self.v2_dir() {
            Some(dir) if fsutil::exists(dir, "cgroup.freeze") => Ok(Target::V2(dir)),
            _ => Err(self.unsupported("freeze")),
        }
    }

    fn set_frozen(&self, frozen: bool, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let op = if frozen { "freeze" } else { "thaw" };
        match self.freezer()? {
            Target::V2(dir) => {
                write(
                    dir,
                    "cgroup.freeze",
                    "cgroup",
                    if frozen { "1" } else { "0" },
                )?;
                let want = if frozen { "1" } else { "0" };
                while v2_frozen_state(dir)?.as_deref() != Some(want) {
                    self.tick(deadline, op, timeout)?;
                }
            }
            Target::V1(dir) => {
                let want = if frozen { "FROZEN" } else { "THAWED" };
                loop {
                    // Rewriting FROZEN retries tasks that could not be frozen yet (FREEZING).
                    write(dir, "freezer.state", "freezer", want)?;
                    if fsutil::read(dir, "freezer.state", "freezer")?.trim() == want {
                        break;
                    }
                    if let Err(e) = self.tick(deadline, op, timeout) {
                        if frozen {
                            // Leave nothing half-frozen.
                            let _ = write(dir, "freezer.state", "freezer", "THAWED");
                        }
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sleeps a little, or fails with a timeout when `deadline` passed.
    fn tick(&self, deadline: Instant, op: &'static str, waited: Duration) -> Result<()> {
        if Instant::now() > deadline {
            return Err(self.timeout(op, waited));
        }
        sleep(Duration::from_millis(2));
        Ok(())
    }

    /// Sends `signal` to every process in the cgroup (OCI `kill --all`): freezes the cgroup
    /// first where a freezer is available (so no process can fork past the snapshot of
    /// [`pids`](Cgroup::pids)), signals each listed process, and thaws. Processes that exit
    /// meanwhile are skipped; pid 0 (a process outside our pid namespace) is never signalled.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        self.signal_round(signal)
    }

    /// Freezes (where possible), sends `signal` to every listed process, thaws.
    fn signal_round(&self, signal: Signal) -> Result<()> {
        let frozen = self.set_frozen(true, Duration::from_millis(500)).is_ok();
        let sent = self.signal_all(signal);
        if frozen {
            self.thaw()?;
        }
        sent
    }

    fn signal_all(&self, signal: Signal) -> Result<()> {
        // Pid 0 is a process outside our pid namespace: never signal it (kill(0) would hit our
        // own process group).
        for pid in self.pids()?.into_iter().filter(|p| *p > 0) {
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    let path = self.dirs()[0].to_owned();
                    return Err(CgroupError::Signal {
                        pid,
                        signal,
                        path,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Polls until the cgroup has no process; false when `deadline` passed first.
    fn wait_empty(&self, deadline: Instant) -> Result<bool> {
        loop {
            if self.pids()?.is_empty() {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            sleep(Duration::from_millis(2));
        }
    }

    fn timeout(&self, operation: &'static str, waited: Duration) -> CgroupError {
        CgroupError::Timeout {
            operation,
            path: self
                .dirs()
                .first()
                .map(|p| p.to_path_buf())
                .unwrap_or_default(),
            waited_ms: waited.as_millis() as u64,
        }
    }

    fn unsupported(&self, operation: &'static str) -> CgroupError {
        CgroupError::Unsupported {
            operation,
            version: self.version(),
        }
    }
}

fn invalid(field: &'static str, value: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        field,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Strips leading/trailing `/` and refuses the root, empty, `.` and `..` components.
fn normalize(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    let bad = |reason| CgroupError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if trimmed.is_empty() {
        return Err(bad("the root cgroup cannot be managed"));
    }
    if trimmed
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("empty, '.' or '..' component"));
    }
    Ok(trimmed.to_owned())
}

/// The nearest strict ancestor of `dir` (up to and including `root`) that has `file`.
fn nearest_ancestor_with(root: &Path, dir: &Path, file: &str) -> Option<PathBuf> {
    dir.ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(root))
        .find(|a| a.join(file).exists())
        .map(Path::to_path_buf)
}

/// Creates each missing directory along `rel` under `root`, then calls `step(parent, dir)` for
/// every level (existing or new: v2 enables controllers in the parent, v1 fills an empty cpuset),
/// recording the directories it created.
fn make_path(
    root: &Path,
    rel: &str,
    created: &mut Vec<PathBuf>,
    step: impl Fn(&Path, &Path) -> Result<()>,
) -> Result<()> {
    let mut parent = root.to_path_buf();
    for comp in rel.split('/') {
        let dir = parent.join(comp);
        match fs::create_dir(&dir) {
            Ok(()) => created.push(dir.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::CreateDir { path: dir, source }),
        }
        step(&parent, &dir)?;
        parent = dir;
    }
    Ok(())
}

/// Removes the directories a failed create made, deepest first; errors are ignored (the
/// original error is what the caller reports).
fn rollback(created: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(1);
    for dir in created.iter().rev() {
        let _ = remove_dir_retrying(dir, deadline);
    }
}

fn remove_dir_retrying(dir: &Path, deadline: Instant) -> Result<()> {
    let mut pause = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(CgroupError::RemoveDir {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

/// The `frozen` value of `cgroup.events`.
fn v2_frozen_state(dir: &Path) -> Result<Option<String>> {
    let events = fsutil::read(dir, "cgroup.events", "cgroup")?;
    Ok(events
        .lines()
        .find_map(|l| l.strip_prefix("frozen "))
        .map(|v| v.trim().to_owned()))
}
