//! The driver-agnostic resource model: what to limit, independent of the cgroup version.
//!
//! Every field is optional: `None` (or an empty list) leaves the kernel's current value alone.
//! [`UNLIMITED`] stands for "no limit" (`max` on v2, `-1` on v1) wherever a limit is a `u64`.

/// "No limit": written as `max` on v2 and `-1` (or `0` for blkio throttles) on v1.
pub const UNLIMITED: u64 = u64::MAX;

/// The smallest memory limit accepted by validation: 6 MiB, as Docker and Podman refuse anything
/// lower (the kernel itself accepts smaller limits, but a container cannot start in them).
pub const MIN_MEMORY_LIMIT: u64 = 6 * 1024 * 1024;

/// The CFS period used when a CPU limit is given as [`CpuResources::cpus`]: 100 ms.
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

/// All limits of one cgroup.
///
/// ```
/// use cove_cgroup::{CpuResources, MemoryResources, PidsResources, Resources};
///
/// let res = Resources {
///     memory: MemoryResources { limit: Some(256 << 20), swap: Some(0), ..Default::default() },
///     cpu: CpuResources { cpus: Some(0.5), weight: Some(100), ..Default::default() },
///     pids: PidsResources { max: Some(64) },
///     ..Default::default()
/// };
/// assert!(res.cpu.quota_and_period() == Some((Some(50_000), 100_000)));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// memory controller.
    pub memory: MemoryResources,
    /// cpu and cpuset controllers.
    pub cpu: CpuResources,
    /// pids controller.
    pub pids: PidsResources,
    /// io (v2) / blkio (v1) controller.
    pub io: IoResources,
    /// hugetlb controller: one limit per page size.
    pub hugetlb: Vec<HugetlbLimit>,
    /// v1 `net_cls.classid` (only where the net_cls controller is mounted).
    pub net_cls_classid: Option<u32>,
    /// v1 `net_prio.ifpriomap` entries (only where the net_prio controller is mounted).
    pub net_prio: Vec<NetPriority>,
    /// Device access rules, applied in order (empty: leave device access alone). v1: written
    /// to `devices.allow` / `devices.deny`; v2: compiled into an eBPF device filter attached
    /// to the cgroup. Containers normally get [`default_container_devices`].
    ///
    /// [`default_container_devices`]: crate::default_container_devices
    pub devices: Vec<crate::devices::DeviceRule>,
}

/// Memory limits, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryResources {
    /// Hard limit: `memory.max` (v2) / `memory.limit_in_bytes` (v1). At least [`MIN_MEMORY_LIMIT`].
    pub limit: Option<u64>,
    /// Best-effort reservation: `memory.low` (v2) / `memory.soft_limit_in_bytes` (v1).
    pub reservation: Option<u64>,
    /// Swap the cgroup may use **in addition to** `limit` (v2 `memory.swap.max` semantics).
    /// On v1, `memory.memsw.limit_in_bytes` = limit + swap is written (the current limit is read
    /// when `limit` is `None`). `Some(0)` forbids swap.
    pub swap: Option<u64>,
    /// v1 only: disable the OOM killer (`memory.oom_control` = 1); tasks then wait at the limit.
    /// `Some(true)` is refused on v2, which has no such switch.
    pub oom_kill_disable: Option<bool>,
    /// v2 only: on OOM, kill the whole cgroup rather than one process (`memory.oom.group`).
    /// `Some(true)` is refused on v1.
    pub oom_group: Option<bool>,
    /// v1 only: `memory.swappiness`, 0..=100 (how readily the kernel swaps this cgroup's anonymous
    /// memory). Refused on v2, which has no such knob (as podman documents it: cgroup v1 only).
    pub swappiness: Option<u64>,
}

/// CPU time and placement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuResources {
    /// Relative weight 1..=10000 (v2 `cpu.weight`, default 100); on v1 converted to `cpu.shares`
    /// with [`weight_to_shares`].
    pub weight: Option<u64>,
    /// CPU limit in CPUs, e.g. `0.5`: quota = cpus × period with the period [`period_us`]
    /// (default [`DEFAULT_CPU_PERIOD_US`]). Excludes `quota_us`.
    ///
    /// [`period_us`]: CpuResources::period_us
    pub cpus: Option<f64>,
    /// CFS quota in µs per period (≥ 1000), or [`UNLIMITED`]. Excludes `cpus`.
    pub quota_us: Option<u64>,
    /// CFS period in µs, 1000..=1000000.
    pub period_us: Option<u64>,
    /// Allowed CPUs in cpuset list format, e.g. `"0-3,6"`: must be within the parent's CPUs.
    pub cpuset_cpus: Option<String>,
    /// Allowed memory nodes in list format, e.g. `"0"`: must be within the parent's nodes.
    pub cpuset_mems: Option<String>,
}

impl CpuResources {
    /// The quota (None: leave it) and period to write, from `cpus` or `quota_us`/`period_us`.
    /// `None` when neither quota nor period is set.
    pub fn quota_and_period(&self) -> Option<(Option<u64>, u64)> {
        let period = self.period_us.unwrap_or(DEFAULT_CPU_PERIOD_US);
        match (self.cpus, self.quota_us, self.period_us) {
            (Some(cpus), _, _) => Some((Some((cpus * period as f64).round() as u64), period)),
            (None, Some(q), _) => Some((Some(q), period)),
            (None, None, Some(p)) => Some((None, p)),
            (None, None, None) => None,
        }
    }
}

/// Process count limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidsResources {
    /// Maximum number of tasks (`pids.max`), ≥ 1, or [`UNLIMITED`].
    pub max: Option<u64>,
}

/// Block I/O weight and throttles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoResources {
    /// Relative weight 1..=10000 (v2 `io.weight` scale, default 100). Written to `io.bfq.weight`
    /// (scaled to 1..=1000) when only BFQ provides a weight on v2; on v1 to `blkio.weight`
    /// (scaled to 10..=1000) or `blkio.bfq.weight` (1..=1000).
    pub weight: Option<u64>,
    /// Per-device throttles.
    pub devices: Vec<IoDeviceLimit>,
}

/// Throttles for one block device (a whole disk, not a partition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoDeviceLimit {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Read bytes per second, or [`UNLIMITED`] to remove the throttle.
    pub read_bps: Option<u64>,
    /// Write bytes per second, or [`UNLIMITED`].
    pub write_bps: Option<u64>,
    /// Read operations per second, or [`UNLIMITED`].
    pub read_iops: Option<u64>,
    /// Write operations per second, or [`UNLIMITED`].
    pub write_iops: Option<u64>,
}

/// A hugetlb limit for one page size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugetlbLimit {
    /// Page size as the kernel names it in file names: `"2MB"`, `"1GB"`, `"64KB"`.
    pub page_size: String,
    /// Limit in bytes, or [`UNLIMITED`].
    pub limit: u64,
}

/// A network priority for one interface (v1 `net_prio.ifpriomap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPriority {
    /// Interface name, e.g. `"eth0"`.
    pub interface: String,
    /// Priority.
    pub priority: u32,
}

/// Converts a v2 `cpu.weight` (1..=10000) to v1 `cpu.shares` (2..=262144), the standard
/// conversion used by runc and crun (inverse of [`shares_to_weight`]).
///
/// ```
/// assert_eq!(cove_cgroup::weight_to_shares(1), 2);
/// assert_eq!(cove_cgroup::weight_to_shares(10000), 262144);
/// assert_eq!(cove_cgroup::weight_to_shares(100), 2597);
/// ```
pub fn weight_to_shares(weight: u64) -> u64 {
    let w = weight.clamp(1, 10_000);
    2 + ((w - 1) * 262_142) / 9_999
}

/// Converts v1 `cpu.shares` (2..=262144) to a v2 `cpu.weight` (1..=10000), as runc and crun do.
///
/// ```
/// assert_eq!(cove_cgroup::shares_to_weight(1024), 39);
/// assert_eq!(cove_cgroup::shares_to_weight(2), 1);
/// assert_eq!(cove_cgroup::shares_to_weight(262144), 10000);
/// ```
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9_999) / 262_142
}

/// Scales an io weight 1..=10000 linearly into `lo..=hi` (for `blkio.weight`, BFQ weights).
pub(crate) fn scale_io_weight(weight: u64, lo: u64, hi: u64) -> u64 {
    let w = weight.clamp(1, 10_000);
    lo + ((w - 1) * (hi - lo)) / 9_999
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_weight_round_trip_at_the_ends() {
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
        // Integer division makes the round trip lose at most 1.
        assert!((4_999..=5_000).contains(&shares_to_weight(weight_to_shares(5_000))));
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(weight_to_shares(0), 2);
    }

    #[test]
    fn io_weight_scaling() {
        assert_eq!(scale_io_weight(1, 10, 1000), 10);
        assert_eq!(scale_io_weight(10_000, 10, 1000), 1000);
        assert_eq!(scale_io_weight(100, 1, 1000), 10);
    }

    #[test]
    fn quota_from_cpus_or_quota() {
        let c = CpuResources {
            cpus: Some(0.5),
            ..Default::default()
        };
        assert_eq!(c.quota_and_period(), Some((Some(50_000), 100_000)));
        let c = CpuResources {
            cpus: Some(1.5),
            period_us: Some(10_000),
            ..Default::default()
        };
        assert_eq!(c.quota_and_period(), Some((Some(15_000), 10_000)));
        let c = CpuResources {
            quota_us: Some(UNLIMITED),
            ..Default::default()
        };
        assert_eq!(c.quota_and_period(), Some((Some(UNLIMITED), 100_000)));
        let c = CpuResources {
            period_us: Some(20_000),
            ..Default::default()
        };
        assert_eq!(c.quota_and_period(), Some((None, 20_000)));
        assert_eq!(CpuResources::default().quota_and_period(), None);
    }
}
