//! The container's cgroup: created from the plan's limits, entered before the first instruction, removed at exit.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use cove_cgroup::{default_container_devices, Cgroup, Layout, LayoutKind, SelfAttach, Stats};

use crate::plan::Plan;

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
        refuse_occupied(&layout, &path)?;
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

/// Refuses a cgroup that already exists with processes in it or below it (another container's, as runc
/// refuses "container's cgroup is not empty"): adopting it would apply this container's limits to those
/// processes and kill them when this container ends. An existing empty cgroup is reused.
fn refuse_occupied(layout: &Layout, path: &str) -> Result<()> {
    let dirs = layout
        .hierarchies()
        .iter()
        .map(|h| h.mount_point.join(path))
        .chain(layout.unified_root().map(|r| r.join(path)));
    let mut pids = BTreeSet::new();
    for dir in dirs {
        collect_pids(&dir, &mut pids, 0)
            .with_context(|| format!("reading the processes of {}", dir.display()))?;
    }
    if !pids.is_empty() {
        anyhow::bail!(
            "the cgroup {path} already exists and has {} process(es) in it: it belongs to another container",
            pids.len()
        );
    }
    Ok(())
}

/// Adds the pids listed in `dir`'s `cgroup.procs` and in every cgroup below it (`dir` missing: none).
fn collect_pids(dir: &Path, pids: &mut BTreeSet<i32>, depth: u32) -> std::io::Result<()> {
    // Cgroup trees are shallow; a bound keeps a pathological one from exhausting the stack.
    const MAX_DEPTH: u32 = 64;
    let text = match fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(text) => text,
        // Gone meanwhile (ENODEV for a cgroup being removed), or never there.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ENODEV) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for entry in fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&entry.path(), pids, depth + 1)?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_with_processes_in_it_or_below_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::unified(root.path());
        // Missing, then existing and empty: both fine.
        refuse_occupied(&layout, "cove/c1").unwrap();
        fs::create_dir_all(root.path().join("cove/c1/sub")).unwrap();
        fs::write(root.path().join("cove/c1/cgroup.procs"), "").unwrap();
        fs::write(root.path().join("cove/c1/sub/cgroup.procs"), "").unwrap();
        refuse_occupied(&layout, "cove/c1").unwrap();
        // A process in a child cgroup counts: removing the parent would kill it.
        fs::write(root.path().join("cove/c1/sub/cgroup.procs"), "42\n43\n").unwrap();
        let err = refuse_occupied(&layout, "cove/c1").unwrap_err().to_string();
        assert_eq!(
            err,
            "the cgroup cove/c1 already exists and has 2 process(es) in it: it belongs to another container"
        );
        fs::write(root.path().join("cove/cgroup.procs"), "").unwrap();
        assert!(refuse_occupied(&layout, "cove").is_err());
    }
}
