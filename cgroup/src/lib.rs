//! cgroup controllers for the cove container runtime, on cgroup v1, v2 and hybrid hosts.
//!
//! - [`Layout`] finds the host's hierarchies ([`Layout::detect`]: `/proc/self/mountinfo` plus
//!   `statfs`) — unified (v2 only), legacy (v1 only) or hybrid (v1 controllers plus a cgroup2
//!   mount). Layouts can also be built for any root directory, so everything can be tested on
//!   a temp dir of fake control files.
//! - [`Resources`] is one version-independent model of the limits (memory, cpu, cpuset, pids,
//!   io, hugetlb, net_cls/net_prio, device access rules); [`Stats`] the statistics, with `None`
//!   for what a host lacks.
//! - Device rules ([`DeviceRule`], [`default_container_devices`]) go to the v1 `devices`
//!   controller, or on cgroup v2 become an eBPF program attached to the cgroup. The `bpf(2)`
//!   call is the crate's only `unsafe` code, in a private `sys` module (`#![deny(unsafe_code)]`
//!   everywhere else).
//! - [`Cgroup`] is the handle: [`create`](Cgroup::create) (validate, create the nested path in
//!   every hierarchy, apply, roll back on failure), [`add_pid`](Cgroup::add_pid),
//!   [`dir_fd`](Cgroup::dir_fd) for `CLONE_INTO_CGROUP`, [`update`](Cgroup::update),
//!   [`stats`](Cgroup::stats), [`pids`](Cgroup::pids), [`freeze`](Cgroup::freeze) /
//!   [`thaw`](Cgroup::thaw), [`kill`](Cgroup::kill), [`remove`](Cgroup::remove).
//!
//! Every error is a [`CgroupError`] naming the operation, file and controller.
//!
//! ```no_run
//! use cove_cgroup::{Cgroup, CpuResources, Layout, MemoryResources, PidsResources, Resources};
//!
//! let layout = Layout::detect()?;
//! let res = Resources {
//!     memory: MemoryResources { limit: Some(256 << 20), ..Default::default() },
//!     cpu: CpuResources { cpus: Some(0.5), ..Default::default() },
//!     pids: PidsResources { max: Some(128) },
//!     ..Default::default()
//! };
//! let cg = Cgroup::create(&layout, "cove/demo", &res)?;
//! cg.add_pid(std::process::id() as i32)?;
//! println!("{:?}", cg.stats()?.memory.current);
//! # Ok::<(), cove_cgroup::CgroupError>(())
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod attach;
mod cgroup;
mod cpuset;
mod devfilter;
mod device;
mod devices;
mod error;
mod fsutil;
mod layout;
mod mountinfo;
mod resources;
mod stats;
// The bpf(2) system call for the v2 device filter: see the module's documentation.
#[allow(unsafe_code)]
mod sys;
mod v1;
mod v2;
mod validate;

pub use attach::SelfAttach;
pub use cgroup::{Cgroup, FREEZE_TIMEOUT, KILL_TIMEOUT, REMOVE_TIMEOUT};
pub use cpuset::parse_cpuset;
pub use device::device_numbers;
pub use devices::{
    default_container_devices, DeviceKind, DeviceRule, MAX_DEVICE_MAJOR, MAX_DEVICE_MINOR,
};
pub use error::{CgroupError, Result};
pub use layout::{Hierarchy, Layout, LayoutKind, Version, DEFAULT_BLOCK_DEVICES, DEFAULT_ROOT};
/// The signal type of [`Cgroup::signal`] (re-exported from `nix`).
pub use nix::sys::signal::Signal;
pub use resources::{
    shares_to_weight, weight_to_shares, CpuResources, HugetlbLimit, IoDeviceLimit, IoResources,
    MemoryResources, NetPriority, PidsResources, Resources, DEFAULT_CPU_PERIOD_US,
    MIN_MEMORY_LIMIT, UNLIMITED,
};
pub use stats::{
    CpuStats, HugetlbStats, IoDeviceStats, IoStats, MemoryStats, PidsStats, Pressure,
    PressureStats, PressureValues, Stats,
};

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
