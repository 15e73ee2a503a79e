//! The container's cgroup: created from the plan's limits, entered before the first instruction, removed at exit.

use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use cove_cgroup::{
    Cgroup, CpuResources, IoDeviceLimit, IoResources, Layout, MemoryResources, PidsResources,
    Resources, Stats, Version,
};

use crate::plan::Plan;
use crate::resources::ResourcePlan;

/// The parent of every container's cgroup.
pub const CGROUP_PARENT: &str = "cove";

/// A container's cgroup, removed (with any process left in it killed) on [`ContainerCgroup::remove`] or drop.
#[derive(Debug)]
pub struct ContainerCgroup {
    cgroup: Option<Cgroup>,
}

impl ContainerCgroup {
    /// Creates `cove/<id>` with the plan's limits when it has any, or when statistics are wanted.
    pub fn create(plan: &Plan, want_stats: bool) -> Result<Option<ContainerCgroup>> {
        if plan.resources.is_none() && !want_stats {
            return Ok(None);
        }
        anyhow::ensure!(
            !plan.rootless,
            "resource statistics need root: cove creates the container's cgroup itself"
        );
        let layout = Layout::detect().context("detecting the cgroup layout")?;
        let resources = plan
            .resources
            .as_ref()
            .map(to_cgroup_resources)
            .unwrap_or_default();
        let path = format!("{CGROUP_PARENT}/{}", plan.id);
        let cgroup = Cgroup::create(&layout, &path, &resources)
            .with_context(|| format!("creating the cgroup {path}"))?;
        Ok(Some(ContainerCgroup {
            cgroup: Some(cgroup),
        }))
    }

    fn inner(&self) -> &Cgroup {
        self.cgroup.as_ref().expect("present until removed")
    }

    /// An fd of the cgroup-v2 directory for `CLONE_INTO_CGROUP`, when the layout is pure v2.
    pub fn clone_into_fd(&self) -> Option<OwnedFd> {
        if self.inner().version() != Version::V2 {
            return None;
        }
        self.inner().dir_fd().ok()
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

fn remove(cgroup: Cgroup) -> Result<()> {
    let path = cgroup.path().to_string();
    cgroup
        .kill()
        .with_context(|| format!("killing what is left in the cgroup {path}"))?;
    cgroup
        .remove()
        .with_context(|| format!("removing the cgroup {path}"))
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
