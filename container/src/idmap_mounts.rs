//! The runtime's side of idmapped bind mounts (`options = ["idmap"]`).
//!
//! [`DetachedMounts::open`] clones the sources before the container's clone (the child inherits
//! the fds); [`idmap_through_child`] runs in the spawn's parent hook, once the child's id maps are
//! written, and idmaps the clones through the child's user namespace; the child attaches them
//! with [`MountPlan::apply_with`](cove_rootfs::MountPlan::apply_with).

use std::fs::File;
use std::os::fd::AsFd;

use anyhow::{Context, Result};
use cove_rootfs::DetachedMounts;
use nix::unistd::Pid;

/// Idmaps every mount of `detached` through the user namespace of the process `pid`.
pub fn idmap_through_child(detached: &DetachedMounts, pid: Pid) -> Result<()> {
    if detached.is_empty() {
        return Ok(());
    }
    let path = format!("/proc/{pid}/ns/user");
    let userns = File::open(&path).with_context(|| format!("opening {path}"))?;
    detached.set_idmap(userns.as_fd())?;
    Ok(())
}
