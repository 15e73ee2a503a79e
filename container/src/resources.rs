//! The container's cgroup limits in plain numbers, as a front end states them, and their lowering into the
//! cgroup crate's model.

use cove_cgroup::{
    CpuResources, IoDeviceLimit, IoResources, MemoryResources, PidsResources, Resources,
};

/// The container's cgroup limits in plain numbers (bytes, CPUs, device numbers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourcePlan {
    /// Memory hard limit in bytes.
    pub memory: Option<u64>,
    /// Memory reservation in bytes.
    pub memory_reservation: Option<u64>,
    /// Swap allowed beyond the memory limit, in bytes.
    pub memory_swap: Option<u64>,
    /// CPU bandwidth in CPUs.
    pub cpus: Option<f64>,
    /// CPU weight 1..10000.
    pub cpu_weight: Option<u64>,
    /// cpuset CPUs.
    pub cpuset: Option<String>,
    /// cpuset memory nodes.
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes.
    pub pids: Option<u64>,
    /// I/O weight 1..10000.
    pub io_weight: Option<u64>,
    /// Per-device I/O limits.
    pub io: Vec<IoLimit>,
}

/// Limits for one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoLimit {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Read bytes per second.
    pub read_bps: Option<u64>,
    /// Write bytes per second.
    pub write_bps: Option<u64>,
    /// Read operations per second.
    pub read_iops: Option<u64>,
    /// Write operations per second.
    pub write_iops: Option<u64>,
}

/// The limits in the cgroup crate's model.
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
