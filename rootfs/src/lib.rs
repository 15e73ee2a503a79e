//! cove-rootfs: the container's root file system.
//!
//! A [`RootfsSpec`] (root directory or tmpfs-with-host-dirs, extra mounts, which namespaces are
//! new) becomes a [`MountPlan`]: ordered, printable steps built without any system call, with every
//! option parsed and validated up front. [`MountPlan::apply`] then runs them in the container's
//! child process (already in a new mount namespace): private propagation, the root, `/proc`,
//! `/sys`, a minimal `/dev`, the caller's mounts, device nodes, sysctls, read-only and masked
//! paths, `pivot_root`, and a read-only `/` if asked.
//!
//! Bind mounts with the `idmap` option are idmapped through the container's user namespace; the
//! runtime prepares them with [`DetachedMounts`] and the child applies the plan with
//! [`MountPlan::apply_with`].
//!
//! Every mount target is resolved inside the new root ([`open_in_root`]: openat2 with
//! `RESOLVE_IN_ROOT`) and mounted through `/proc/self/fd/N`, so a symlink planted in the rootfs
//! can never point a mount at the host.
//!
//! ```
//! use cove_rootfs::{MountPlan, MountSpec, RootSource, RootfsSpec};
//!
//! let mut spec = RootfsSpec::new(RootSource::Dir("/srv/containers/web/rootfs".into()));
//! spec.readonly = true;
//! spec.new_pid_ns = true;
//! spec.mounts.push(MountSpec::tmpfs("/tmp", &["size=16m", "mode=1777", "nosuid", "nodev"]));
//! spec.mounts.push(MountSpec::bind("/srv/data", "/data", &["ro"]));
//! let plan = MountPlan::build(&spec)?; // pure: no system call
//! for step in plan.steps() {
//!     println!("{step}");
//! }
//! // In the container's child process: plan.apply()?;
//! # Ok::<(), cove_rootfs::PlanError>(())
//! ```
#![deny(missing_docs)]

mod apply;
mod device;
mod error;
mod idmap;
mod options;
mod plan;
mod resolve;
mod spec;
mod sys;
mod sysctl;
mod target;

pub use error::{PlanError, RootfsError};
pub use idmap::DetachedMounts;
pub use plan::{MountPlan, Step};
pub use resolve::{open_in_root, open_in_root_at, resolve_in_root};
pub use spec::{DeviceKind, DeviceNode, MountKind, MountSpec, Propagation, RootSource, RootfsSpec};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
