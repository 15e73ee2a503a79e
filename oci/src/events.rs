//! `cove events`: the JSON objects runc's `events` command prints, one per line.
//!
//! The shape is runc's `types/events.go` (the stable `Event` / `Stats` types that containerd's
//! runc shim decodes), filled from [`cove_cgroup::Stats`]. As in runc, a value cove does not know
//! is zero, and zero numbers tagged `omitempty` in Go are left out. Times are nanoseconds
//! (cove measures microseconds and multiplies by 1000).
//!
//! What cove's statistics do not have and therefore stay zero / absent: per-CPU usage, the
//! memory and swap fail counters, the swap limit, kernel and kernel-TCP memory, the cpuset
//! flags, Intel RDT and network interfaces.

use std::collections::BTreeMap;

use cove_cgroup::{HugetlbStats, IoDeviceStats, MemoryStats, Pressure, PressureValues, Stats};
use serde::{Deserialize, Serialize};

/// One event: `{"type":"stats","id":…,"data":{…}}` or `{"type":"oom","id":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `"stats"` or `"oom"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The container id.
    pub id: String,
    /// The statistics of a `stats` event; absent for `oom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<StatsData>,
}

/// runc's `types.Stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsData {
    /// CPU usage and throttling.
    pub cpu: Cpu,
    /// cpuset state (cove reports none: all zero).
    pub cpuset: CpuSet,
    /// Memory usage.
    pub memory: Memory,
    /// Task counts.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// hugetlb usage by page size (`"2MB"`, …); an empty object when there is none.
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (cove has none: an empty object).
    pub intel_rdt: IntelRdt,
    /// Network interfaces (cove reports none: `null`, as runc without a network config).
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

/// runc's `types.Cpu`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
    /// `cpu.pressure`, when the kernel has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// runc's `types.CpuUsage`, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per-CPU time (cove: not measured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per-CPU kernel time (cove: not measured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per-CPU user time (cove: not measured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel-mode time.
    pub kernel: u64,
    /// User-mode time.
    pub user: u64,
}

/// runc's `types.Throttling`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// runc's `types.CPUSet` (v1 cpuset files; cove reports none, so all fields are zero).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSet {
    /// Allowed CPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// `cpuset.cpu_exclusive`.
    pub cpu_exclusive: u64,
    /// Allowed memory nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// `cpuset.mem_hardwall`.
    pub mem_hardwall: u64,
    /// `cpuset.mem_exclusive`.
    pub mem_exclusive: u64,
    /// `cpuset.memory_migrate`.
    pub memory_migrate: u64,
    /// `cpuset.memory_spread_page`.
    pub memory_spread_page: u64,
    /// `cpuset.memory_spread_slab`.
    pub memory_spread_slab: u64,
    /// `cpuset.memory_pressure`.
    pub memory_pressure: u64,
    /// `cpuset.sched_load_balance`.
    pub sched_load_balance: u64,
    /// `cpuset.sched_relax_domain_level`.
    pub sched_relax_domain_level: i64,
}

/// runc's `types.Memory`, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Page cache (`file` / v1 `total_cache`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory usage, peak and limit.
    pub usage: MemoryEntry,
    /// Memory + swap usage (runc's `SwapUsage`, memsw semantics).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 kmem; cove: not measured).
    pub kernel: MemoryEntry,
    /// Kernel TCP memory (cove: not measured).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every key of `memory.stat`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
    /// `memory.pressure`, when the kernel has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// runc's `types.MemoryEntry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The limit (`u64::MAX` when unlimited, 0 when unknown).
    pub limit: u64,
    /// Current usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit (cove: not measured, 0).
    pub failcnt: u64,
}

/// runc's `types.Pids`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    /// Tasks now.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// The limit; 0 (absent) means none, as in runc.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// runc's `types.Blkio`: lists of per-device, per-operation values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    /// Bytes read / written per device (ops `Read`, `Write`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Read / write operations per device (ops `Read`, `Write`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// Queued operations (v1 CFQ only; cove: none).
    #[serde(
        default,
        rename = "ioQueueRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_queued_recursive: Vec<BlkioEntry>,
    /// Service time (v1 CFQ only; cove: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    /// Wait time (v1 CFQ only; cove: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    /// Merged operations (v1 CFQ only; cove: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    /// Device time (v1 CFQ only; cove: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    /// Sectors (v1 CFQ only; cove: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
    /// `io.pressure`, when the kernel has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// runc's `types.BlkioEntry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read` or `Write`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The value.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// runc's `types.Hugetlb`, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak bytes (v1 only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations refused because of the limit.
    pub failcnt: u64,
}

/// runc's `types.IntelRdt`: cove has no Intel RDT support, so it is always empty (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelRdt {}

/// runc's `types.NetworkInterface` (Go field names, untagged). cove never fills it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterface {
    /// Interface name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
}

/// Pressure stall information of one resource (runc's `PSIStats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiStats {
    /// Some task stalled.
    pub some: PsiData,
    /// All tasks stalled (absent when the kernel has no `full` line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<PsiData>,
}

/// One pressure line (runc's `PSIData`): averages in percent, total in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiData {
    /// Average over 10 s.
    pub avg10: f64,
    /// Average over 60 s.
    pub avg60: f64,
    /// Average over 300 s.
    pub avg300: f64,
    /// Total stall time, µs.
    pub total: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The `stats` event of container `id`, as runc's `events --stats` prints it.
///
/// ```
/// let mut stats = cove_cgroup::Stats::default();
/// stats.pids.current = Some(3);
/// let v = cove_oci::events::stats_event("web", &stats);
/// assert_eq!(v["type"], "stats");
/// assert_eq!(v["id"], "web");
/// assert_eq!(v["data"]["pids"]["current"], 3);
/// ```
pub fn stats_event(id: &str, stats: &Stats) -> serde_json::Value {
    to_value(&Event {
        kind: "stats".to_owned(),
        id: id.to_owned(),
        data: Some(convert_stats(stats)),
    })
}

/// The `oom` event of container `id`: `{"type":"oom","id":…}`.
pub fn oom_event(id: &str) -> serde_json::Value {
    to_value(&Event {
        kind: "oom".to_owned(),
        id: id.to_owned(),
        data: None,
    })
}

fn to_value(event: &Event) -> serde_json::Value {
    // Serializing these plain structs (string keys, finite or non-finite floats become null) cannot fail.
    serde_json::to_value(event).expect("an Event always serializes")
}

/// Converts cove's statistics into runc's `types.Stats`.
pub fn convert_stats(stats: &Stats) -> StatsData {
    StatsData {
        cpu: convert_cpu(stats),
        memory: convert_memory(&stats.memory, stats.pressure.memory.as_ref()),
        pids: Pids {
            current: stats.pids.current.unwrap_or(0),
            limit: limit_or_zero(stats.pids.limit),
        },
        blkio: convert_blkio(&stats.io.devices, stats.pressure.io.as_ref()),
        hugetlb: stats.hugetlb.iter().map(convert_hugetlb).collect(),
        ..StatsData::default()
    }
}

fn usec_to_nsec(usec: Option<u64>) -> u64 {
    usec.unwrap_or(0).saturating_mul(1000)
}

/// runc reports "no limit" as 0.
fn limit_or_zero(limit: Option<u64>) -> u64 {
    match limit {
        Some(cove_cgroup::UNLIMITED) | None => 0,
        Some(n) => n,
    }
}

fn convert_cpu(stats: &Stats) -> Cpu {
    let cpu = &stats.cpu;
    Cpu {
        usage: CpuUsage {
            total: usec_to_nsec(cpu.usage_usec),
            kernel: usec_to_nsec(cpu.system_usec),
            user: usec_to_nsec(cpu.user_usec),
            ..CpuUsage::default()
        },
        throttling: Throttling {
            periods: cpu.nr_periods.unwrap_or(0),
            throttled_periods: cpu.nr_throttled.unwrap_or(0),
            throttled_time: usec_to_nsec(cpu.throttled_usec),
        },
        psi: stats.pressure.cpu.as_ref().map(convert_psi),
    }
}

fn convert_memory(memory: &MemoryStats, pressure: Option<&Pressure>) -> Memory {
    let usage = MemoryEntry {
        limit: memory.limit.unwrap_or(0),
        usage: memory.current.unwrap_or(0),
        max: memory.peak.unwrap_or(0),
        failcnt: 0,
    };
    // runc's `swap` is memory + swap (the v1 memsw counter); v2 computes it the same way.
    let swap = MemoryEntry {
        usage: memory
            .swap_current
            .map_or(0, |swap| swap.saturating_add(usage.usage)),
        ..MemoryEntry::default()
    };
    Memory {
        cache: memory.file.unwrap_or(0),
        usage,
        swap,
        raw: memory.raw.clone(),
        psi: pressure.map(convert_psi),
        ..Memory::default()
    }
}

fn convert_blkio(devices: &[IoDeviceStats], pressure: Option<&Pressure>) -> Blkio {
    let entries = |read: fn(&IoDeviceStats) -> u64, write: fn(&IoDeviceStats) -> u64| {
        devices
            .iter()
            .flat_map(|d| [("Read", read(d)), ("Write", write(d))].map(|(op, v)| (d, op, v)))
            .map(|(d, op, value)| BlkioEntry {
                major: d.major.into(),
                minor: d.minor.into(),
                op: op.to_owned(),
                value,
            })
            .collect()
    };
    Blkio {
        io_service_bytes_recursive: entries(|d| d.read_bytes, |d| d.write_bytes),
        io_serviced_recursive: entries(|d| d.read_ops, |d| d.write_ops),
        psi: pressure.map(convert_psi),
        ..Blkio::default()
    }
}

fn convert_hugetlb(h: &HugetlbStats) -> (String, Hugetlb) {
    let entry = Hugetlb {
        usage: h.usage,
        max: h.max_usage.unwrap_or(0),
        failcnt: h.failures.unwrap_or(0),
    };
    (h.page_size.clone(), entry)
}

fn convert_psi(p: &Pressure) -> PsiStats {
    let line = |v: &PressureValues| PsiData {
        avg10: v.avg10,
        avg60: v.avg60,
        avg300: v.avg300,
        total: v.total_usec,
    };
    PsiStats {
        some: line(&p.some),
        full: p.full.as_ref().map(line),
    }
}
