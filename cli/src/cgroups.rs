//! The container's cgroup: created from the plan's limits, entered before the first instruction, removed at exit.

use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use cove_cgroup::{
    default_container_devices, Cgroup, CpuResources, IoDeviceLimit, IoResources, Layout,
    LayoutKind, MemoryResources, PidsResources, Resources, SelfAttach, Stats,
};

use crate::plan::Plan;
use crate::resources::ResourcePlan;

/// The host's cgroup layout, read from `/proc/self/mountinfo` once per `cove` process (creating an OCI
/// container needs it both to expand the config's `cgroup` mount and to create the cgroup).
pub fn host_layout() -> Result<Layout, cove_cgroup::CgroupError> {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    if let Some(layout) = LAYOUT.get() {
        return Ok(layout.clone());
    }
    let layout = Layout::detect()?;
    Ok(LAYOUT.get_or_init(|| layout).clone())
}

/// The parent of every container's cgroup.
pub const CGROUP_PARENT: &str = "cove";

/// A container's cgroup, removed (with any process left in it killed) on [`ContainerCgroup::remove`] or drop.
#[derive(Debug)]
pub struct ContainerCgroup {
    cgroup: Option<Cgroup>,
}

impl ContainerCgroup {
    /// Creates `cove/<id>` with the plan's limits and the default device rules (as root; rootless: none).
    pub fn create(plan: &Plan, want_stats: bool) -> Result<Option<ContainerCgroup>> {
        if plan.rootless {
            // Without root there is no cgroup (and no device rules): the user namespace already keeps the
            // container from opening host devices it could create (mknod needs the init namespace's CAP_MKNOD).
            anyhow::ensure!(
                plan.resources.is_none() && !want_stats,
                "resource statistics need root: cove creates the container's cgroup itself"
            );
            return Ok(None);
        }
        let layout = host_layout().context("detecting the cgroup layout")?;
        let mut resources = plan.resources.clone().unwrap_or_default();
        // Every root container gets device rules: with CAP_MKNOD it could otherwise create a node for a host
        // disk and open it.
        if resources.devices.is_empty() {
            resources.devices = default_container_devices();
        }
        let path = plan
            .cgroup_path
            .clone()
            .unwrap_or_else(|| format!("{CGROUP_PARENT}/{}", plan.id));
        let cgroup = Cgroup::create(&layout, &path, &resources)
            .with_context(|| format!("creating the cgroup {path}"))?;
        Ok(Some(ContainerCgroup {
            cgroup: Some(cgroup),
        }))
    }

    fn inner(&self) -> &Cgroup {
        self.cgroup.as_ref().expect("present until removed")
    }

    /// How the container's process will enter the cgroup. `child_in_user_ns`: the child runs in a user
    /// namespace, whose credentials may not write the host's cgroup files.
    pub fn entry(&self, child_in_user_ns: bool) -> Result<Entry> {
        let cg = self.inner();
        let has_v1 = cg.kind() != LayoutKind::Unified;
        if has_v1 && child_in_user_ns {
            return Ok(Entry {
                clone_into: None,
                self_attach: None,
                attach_by_pid: true,
            });
        }
        let clone_into = cg
            .v2_dir_fd()
            .transpose()
            .context("opening the cgroup2 directory")?;
        let self_attach = match has_v1 {
            true => Some(
                cg.self_attach()
                    .context("opening the cgroup's v1 tasks files")?,
            ),
            false => None,
        };
        Ok(Entry {
            clone_into,
            self_attach,
            attach_by_pid: false,
        })
    }

    /// Attaches a process (v1 and hybrid, before the child is released).
    pub fn add_pid(&self, pid: i32) -> Result<(), cove_cgroup::CgroupError> {
        self.inner().add_pid(pid)
    }

    /// Usage statistics.
    pub fn stats(&self) -> Result<Stats> {
        self.inner()
            .stats()
            .context("reading the cgroup's statistics")
    }

    /// The cgroup's path relative to the hierarchies' roots.
    pub fn path(&self) -> &str {
        self.inner().path()
    }

    /// Keeps the cgroup after this value is gone (an OCI container outlives `cove create`); returns its path
    /// relative to the hierarchies' roots.
    pub fn keep(mut self) -> String {
        let cgroup = self.cgroup.take().expect("present until removed");
        cgroup.path().to_string()
    }

    /// Kills anything left in the cgroup and removes it.
    pub fn remove(mut self) -> Result<()> {
        let cgroup = self.cgroup.take().expect("present until removed");
        remove(cgroup)
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        if let Some(cgroup) = self.cgroup.take() {
            let _ = remove(cgroup);
        }
    }
}

/// Kills what is left in `cgroup` and removes it.
pub fn remove(cgroup: Cgroup) -> Result<()> {
    let path = cgroup.path().to_string();
    cgroup
        .kill()
        .with_context(|| format!("killing what is left in the cgroup {path}"))?;
    cgroup
        .remove()
        .with_context(|| format!("removing the cgroup {path}"))
}

/// How the container's process enters its cgroup before the workload's first instruction.
///
/// The fastest way that is allowed: `clone3(CLONE_INTO_CGROUP)` for the cgroup2 hierarchy, and on v1
/// hierarchies the freshly cloned (single-threaded) child moves its own thread in ([`SelfAttach`]), which skips
/// the RCU grace period a `cgroup.procs` migration waits for. When the child runs in a user namespace, the
/// runtime writes its pid to every hierarchy before releasing it instead.
#[derive(Debug)]
pub struct Entry {
    /// The cgroup2 directory for `CLONE_INTO_CGROUP`.
    pub clone_into: Option<OwnedFd>,
    /// The v1 `tasks` files the child writes `0` to, first thing after its release.
    pub self_attach: Option<SelfAttach>,
    /// The runtime attaches the pid with [`ContainerCgroup::add_pid`] before release.
    pub attach_by_pid: bool,
}

impl Entry {
    /// Whether the process changes cgroups after the clone (then a new cgroup namespace must be created after
    /// that move, or its root would be the runtime's cgroup).
    pub fn moves_after_clone(&self) -> bool {
        self.self_attach.is_some() || self.attach_by_pid
    }
}

/// The manifest's limits in the cgroup crate's model.
pub fn to_cgroup_resources(r: &ResourcePlan) -> Resources {
    Resources {
        memory: MemoryResources {
            limit: r.memory,
            reservation: r.memory_reservation,
            swap: r.memory_swap,
            ..Default::default()
        },
        cpu: CpuResources {
            weight: r.cpu_weight,
            cpus: r.cpus,
            cpuset_cpus: r.cpuset.clone(),
            cpuset_mems: r.cpuset_mems.clone(),
            ..Default::default()
        },
        pids: PidsResources { max: r.pids },
        io: IoResources {
            weight: r.io_weight,
            devices: r
                .io
                .iter()
                .map(|d| IoDeviceLimit {
                    major: d.major as u32,
                    minor: d.minor as u32,
                    read_bps: d.read_bps,
                    write_bps: d.write_bps,
                    read_iops: d.read_iops,
                    write_iops: d.write_iops,
                })
                .collect(),
        },
        ..Default::default()
    }
}
