//! Idmapped bind mounts: detached clones of the sources, prepared by the runtime.
//!
//! An idmapped mount must be created by a process privileged over the source file system's user
//! namespace (the initial one for ext4), so the container's child cannot do it alone:
//!
//! 1. before the clone the runtime calls [`DetachedMounts::open`]: one
//!    `open_tree(OPEN_TREE_CLONE)` per `idmap` bind of the plan (the child inherits the fds);
//! 2. once the child's id maps are written, the runtime calls [`DetachedMounts::set_idmap`]
//!    with the child's user namespace (`/proc/<pid>/ns/user`): `mount_setattr(MOUNT_ATTR_IDMAP)`;
//! 3. the child runs [`MountPlan::apply_with`](crate::MountPlan::apply_with), which attaches
//!    each clone on its target with `move_mount` (the target resolved inside the root as for any
//!    mount), then sets the mount's flags as for a plain bind.
//!
//! Semantics (the kernel's, as runc/crun with the container's maps): an on-disk id `n` is seen
//! inside the container as id `n`, i.e. the host file owned by uid 0 appears owned by the
//! container's root, and a file the container's root creates is stored with uid 0 on disk. On-disk
//! ids outside the map's *inside* range show as the overflow id (65534).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::error::RootfsError;
use crate::plan::{MountOp, MountPlan, StepKind};
use crate::sys;

/// The detached source trees of a plan's idmapped bind mounts. See the [module docs](self).
#[derive(Debug, Default)]
pub struct DetachedMounts {
    mounts: Vec<Detached>,
}

#[derive(Debug)]
struct Detached {
    source: PathBuf,
    target: PathBuf,
    recursive: bool,
    fd: OwnedFd,
}

impl DetachedMounts {
    /// Clones (detached, close-on-exec) the source of every `idmap` bind mount of `plan`; empty
    /// when there is none. Runs in the runtime, before the container's clone.
    pub fn open(plan: &MountPlan) -> Result<DetachedMounts, RootfsError> {
        let mounts = idmap_ops(plan)
            .map(|m| {
                let recursive = m.flags.contains(nix::mount::MsFlags::MS_REC);
                let fd = sys::open_tree_clone(&m.source, recursive).map_err(|source| {
                    RootfsError::OpenTree {
                        source_path: m.source.clone(),
                        target: m.target.clone(),
                        source,
                    }
                })?;
                Ok(Detached {
                    source: m.source.clone(),
                    target: m.target.clone(),
                    recursive,
                    fd,
                })
            })
            .collect::<Result<_, RootfsError>>()?;
        Ok(DetachedMounts { mounts })
    }

    /// The descriptors of the detached trees, which the container process attaches (so keeps open).
    pub fn raw_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.mounts.iter().map(|m| m.fd.as_raw_fd())
    }

    /// Whether the plan has no idmapped mount.
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    /// Idmaps every detached mount through the user namespace `userns` (an open
    /// `/proc/<pid>/ns/user` whose id maps are written). Runs in the runtime.
    ///
    /// Fails with [`RootfsError::Idmap`] naming the mount when the kernel or the source's file
    /// system does not support idmapped mounts: never falls back to a plain bind.
    pub fn set_idmap(&self, userns: BorrowedFd<'_>) -> Result<(), RootfsError> {
        for m in &self.mounts {
            sys::mount_setattr_idmap(m.fd.as_fd(), m.recursive, userns).map_err(|source| {
                RootfsError::Idmap {
                    source_path: m.source.clone(),
                    target: m.target.clone(),
                    why: idmap_errno_meaning(source),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// The detached mount prepared for `target`.
    pub(crate) fn get(&self, target: &Path) -> Option<BorrowedFd<'_>> {
        self.mounts
            .iter()
            .find(|m| m.target == target)
            .map(|m| m.fd.as_fd())
    }
}

/// The idmapped bind mounts of a plan, in order.
fn idmap_ops(plan: &MountPlan) -> impl Iterator<Item = &MountOp> {
    plan.steps.iter().filter_map(|s| match &s.kind {
        StepKind::Mount(m) if m.idmap => Some(m),
        _ => None,
    })
}

/// What a mount_setattr(MOUNT_ATTR_IDMAP) failure most likely means.
fn idmap_errno_meaning(errno: Errno) -> &'static str {
    match errno {
        Errno::ENOSYS => "the kernel has no mount_setattr (Linux 5.12+ needed)",
        Errno::EINVAL => {
            "the source's file system (or a mount below it) does not support idmapped mounts"
        }
        Errno::EPERM => "not privileged over the source's file system",
        Errno::EBUSY => "the mount is already idmapped",
        _ => "mount_setattr(MOUNT_ATTR_IDMAP) failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MountSpec, RootSource, RootfsSpec};

    #[test]
    fn no_idmap_mount_opens_nothing() {
        let mut spec = RootfsSpec::new(RootSource::Dir("/srv/root".into()));
        spec.mounts.push(MountSpec::bind("/srv/data", "/data", &[]));
        let plan = MountPlan::build(&spec).unwrap();
        assert!(DetachedMounts::open(&plan).unwrap().is_empty());
    }

    #[test]
    fn idmap_needs_a_user_namespace_and_a_bind() {
        let mut spec = RootfsSpec::new(RootSource::Dir("/srv/root".into()));
        spec.mounts
            .push(MountSpec::bind("/srv/data", "/data", &["idmap"]));
        let err = MountPlan::build(&spec).unwrap_err();
        assert!(matches!(
            err,
            crate::PlanError::IdmapWithoutUserNs { index: 0, .. }
        ));
        assert!(err
            .to_string()
            .starts_with("mounts[0] (/data): the `idmap` option"));
        spec.mounts[0] = MountSpec::tmpfs("/data", &["idmap"]);
        spec.in_user_ns = true;
        assert!(MountPlan::build(&spec).is_err());
    }

    #[test]
    fn idmapped_bind_step_says_so() {
        let mut spec = RootfsSpec::new(RootSource::Dir("/srv/root".into()));
        spec.in_user_ns = true;
        spec.mounts
            .push(MountSpec::bind("/srv/data", "/data", &["idmap", "ro"]));
        let plan = MountPlan::build(&spec).unwrap();
        let line = plan
            .steps()
            .iter()
            .map(ToString::to_string)
            .find(|s| s.contains("/srv/data"))
            .unwrap();
        assert!(
            line.contains("idmapped by the container's user namespace"),
            "{line}"
        );
        assert_eq!(idmap_ops(&plan).count(), 1);
    }

    #[test]
    fn errno_meanings_name_the_cause() {
        assert!(idmap_errno_meaning(Errno::EINVAL).contains("does not support idmapped"));
        assert!(idmap_errno_meaning(Errno::ENOSYS).contains("5.12"));
    }
}
