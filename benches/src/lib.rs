//! cove-benches: criterion benchmarks of each step of cove's start path, and what they share.
//!
//! The benches (in `benches/`, run by `cargo xtask bench` or `cargo bench -p cove-benches`):
//!
//! | bench | needs root | measures |
//! |---|---|---|
//! | `manifest` | no | manifest parse (pure) and validation into a plan |
//! | `mount_plan` | no | [`cove_rootfs::MountPlan::build`] for the busybox root (pure) |
//! | `namespaces` | yes | `unshare` of each namespace kind in a forked child, around the syscall; and fork + unshare + exit |
//! | `spawn` | yes | `clone3` + exec of `/bin/true` ([`cove_spawn::Command`]) with no, the runtime's, and all namespaces |
//! | `mount_apply` | yes | [`cove_rootfs::MountPlan::apply`] up to `pivot_root`, in a forked child in a new mount namespace |
//! | `cgroup` | yes | layout detection; cgroup create + apply (memory, cpu, pids); attach a process; remove |
//! | `run` | yes | a whole `cove run` of `/bin/true` in-process ([`cove_container::run::run`]) |
//!
//! The benches that need root are declared with `required-features = ["privileged"]`: `cargo bench` skips them
//! unless the feature is on, and they must then run as root (`cargo xtask bench` does both).
//!
//! The shared pieces: [`fixture`] (the busybox root, the benchmark's manifest and plan, the limits) and
//! [`child`] (timing a step inside a forked child, for steps that change the process they run in).
#![deny(missing_docs)]

pub mod child;
mod error;
pub mod fixture;
mod sys;

pub use error::BenchError;
