//! cgroup v1 file formats: applying resources and reading statistics. Each function gets the
//! cgroup's directory in the hierarchy that carries the controller.

use std::path::Path;

use crate::error::{CgroupError, Result};
use crate::fsutil::{self, read_limit, read_opt, v1_limit, v2_limit, write};
use crate::resources::{
    scale_io_weight, weight_to_shares, CpuResources, HugetlbLimit, IoResources, MemoryResources,
    NetPriority, PidsResources, UNLIMITED,
};
use crate::stats::{
    merge_blkio, parse_flat_keyed, CpuStats, HugetlbStats, IoStats, MemoryStats, PidsStats,
};
use crate::v2::{hugetlb_sizes, require};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

/// memory.limit_in_bytes and memory.memsw.limit_in_bytes (in the order that keeps
/// limit ≤ memsw at every step), memory.soft_limit_in_bytes, memory.oom_control, memory.swappiness.
pub(crate) fn apply_memory(dir: &Path, m: &MemoryResources) -> Result<()> {
    let memsw = match m.swap {
        Some(swap) => Some(memsw_for_swap(dir, m.limit, swap)?),
        None => None,
    };
    match m.limit {
        Some(limit) => apply_limit_and_memsw(dir, limit, memsw)?,
        None => {
            if let Some(sw) = memsw {
                write(dir, MEMSW, "memory", &v1_limit(sw))?;
            }
        }
    }
    if let Some(soft) = m.reservation {
        write(dir, "memory.soft_limit_in_bytes", "memory", &v1_limit(soft))?;
    }
    if let Some(disable) = m.oom_kill_disable {
        write(
            dir,
            "memory.oom_control",
            "memory",
            if disable { "1" } else { "0" },
        )?;
    }
    if let Some(swappiness) = m.swappiness {
        write(dir, "memory.swappiness", "memory", &swappiness.to_string())?;
    }
    Ok(())
}

/// memsw = limit + swap, with the current limit when none is given.
fn memsw_for_swap(dir: &Path, limit: Option<u64>, swap: u64) -> Result<u64> {
    require(dir, MEMSW, "memory.swap")?;
    let limit = match limit {
        Some(l) => l,
        None => current(dir, LIMIT)?,
    };
    Ok(if limit == UNLIMITED || swap == UNLIMITED {
        UNLIMITED
    } else {
        limit.saturating_add(swap).min(UNLIMITED - 1)
    })
}

fn current(dir: &Path, file: &str) -> Result<u64> {
    let text = fsutil::read(dir, file, "memory")?;
    fsutil::parse_limit(dir.join(file), &text)
}

fn apply_limit_and_memsw(dir: &Path, limit: u64, memsw: Option<u64>) -> Result<()> {
    let cur_memsw = read_limit(dir, MEMSW, "memory")?;
    let memsw = match (memsw, cur_memsw) {
        (Some(sw), _) => Some(sw),
        // Raising the limit above the current memsw limit: keep the current swap amount.
        (None, Some(cur_sw)) if limit > cur_sw => {
            let swap = cur_sw - current(dir, LIMIT)?.min(cur_sw);
            Some(if limit == UNLIMITED {
                UNLIMITED
            } else {
                limit.saturating_add(swap)
            })
        }
        (None, _) => None,
    };
    match memsw {
        Some(sw) if cur_memsw.is_some_and(|c| limit > c) => {
            write(dir, MEMSW, "memory", &v1_limit(sw))?;
            write(dir, LIMIT, "memory", &v1_limit(limit))
        }
        Some(sw) => {
            write(dir, LIMIT, "memory", &v1_limit(limit))?;
            write(dir, MEMSW, "memory", &v1_limit(sw))
        }
        None => write(dir, LIMIT, "memory", &v1_limit(limit)),
    }
}

/// cpu.shares (from the weight), cpu.cfs_period_us then cpu.cfs_quota_us.
pub(crate) fn apply_cpu(dir: &Path, c: &CpuResources) -> Result<()> {
    if let Some(w) = c.weight {
        write(dir, "cpu.shares", "cpu", &weight_to_shares(w).to_string())?;
    }
    if let Some((quota, period)) = c.quota_and_period() {
        write(dir, "cpu.cfs_period_us", "cpu", &period.to_string())?;
        if let Some(q) = quota {
            write(dir, "cpu.cfs_quota_us", "cpu", &v1_limit(q))?;
        }
    }
    Ok(())
}

/// cpuset.cpus and cpuset.mems.
pub(crate) fn apply_cpuset(dir: &Path, c: &CpuResources) -> Result<()> {
    crate::v2::apply_cpuset(dir, c)
}

/// Copies the parent's cpuset.cpus and cpuset.mems into a new cpuset cgroup whose sets are
/// empty (v1 creates them empty, and an empty cpuset refuses tasks).
pub(crate) fn init_cpuset(parent: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = fsutil::read(dir, file, "cpuset")?;
        if own.trim().is_empty() {
            let inherited = fsutil::read(parent, file, "cpuset")?;
            write(dir, file, "cpuset", inherited.trim())?;
        }
    }
    Ok(())
}

/// pids.max (the same format as v2).
pub(crate) fn apply_pids(dir: &Path, p: &PidsResources) -> Result<()> {
    if let Some(max) = p.max {
        write(dir, "pids.max", "pids", &v2_limit(max))?;
    }
    Ok(())
}

/// blkio.weight (or blkio.bfq.weight) and the four blkio.throttle.* files per device.
pub(crate) fn apply_blkio(dir: &Path, io: &IoResources) -> Result<()> {
    if let Some(w) = io.weight {
        apply_blkio_weight(dir, w)?;
    }
    for d in &io.devices {
        let files = [
            ("blkio.throttle.read_bps_device", d.read_bps),
            ("blkio.throttle.write_bps_device", d.write_bps),
            ("blkio.throttle.read_iops_device", d.read_iops),
            ("blkio.throttle.write_iops_device", d.write_iops),
        ];
        for (file, value) in files {
            if let Some(v) = value {
                // 0 removes a throttle rule in v1.
                let v = if v == UNLIMITED { 0 } else { v };
                write(dir, file, "blkio", &format!("{}:{} {v}", d.major, d.minor))?;
            }
        }
    }
    Ok(())
}

fn apply_blkio_weight(dir: &Path, weight: u64) -> Result<()> {
    if fsutil::exists(dir, "blkio.weight") {
        let w = scale_io_weight(weight, 10, 1000);
        write(dir, "blkio.weight", "blkio", &w.to_string())
    } else if fsutil::exists(dir, "blkio.bfq.weight") {
        let w = scale_io_weight(weight, 1, 1000);
        write(dir, "blkio.bfq.weight", "blkio", &w.to_string())
    } else {
        Err(CgroupError::FileUnavailable {
            field: "io.weight",
            file: dir.join("blkio.weight"),
        })
    }
}

/// hugetlb.<size>.limit_in_bytes for each page size.
pub(crate) fn apply_hugetlb(dir: &Path, limits: &[HugetlbLimit]) -> Result<()> {
    for l in limits {
        let file = format!("hugetlb.{}.limit_in_bytes", l.page_size);
        require(dir, &file, "hugetlb")?;
        write(dir, &file, "hugetlb", &v1_limit(l.limit))?;
    }
    Ok(())
}

/// net_cls.classid.
pub(crate) fn apply_net_cls(dir: &Path, classid: u32) -> Result<()> {
    write(dir, "net_cls.classid", "net_cls", &classid.to_string())
}

/// net_prio.ifpriomap, one write per interface.
pub(crate) fn apply_net_prio(dir: &Path, prios: &[NetPriority]) -> Result<()> {
    for p in prios {
        write(
            dir,
            "net_prio.ifpriomap",
            "net_prio",
            &format!("{} {}", p.interface, p.priority),
        )?;
    }
    Ok(())
}

/// usage, max usage, limit, memsw usage, memory.stat (total_* keys), memory.oom_control.
pub(crate) fn memory_stats(dir: &Path) -> Result<MemoryStats> {
    let raw = read_opt(dir, "memory.stat", "memory")?
        .map(|t| parse_flat_keyed(&t))
        .unwrap_or_default();
    let oom = read_opt(dir, "memory.oom_control", "memory")?.map(|t| parse_flat_keyed(&t));
    let current = read_limit(dir, "memory.usage_in_bytes", "memory")?;
    let memsw = read_limit(dir, "memory.memsw.usage_in_bytes", "memory")?;
    let pick = |total: &str, local: &str| raw.get(total).or_else(|| raw.get(local)).copied();
    Ok(MemoryStats {
        current,
        peak: read_limit(dir, "memory.max_usage_in_bytes", "memory")?,
        limit: read_limit(dir, LIMIT, "memory")?,
        swap_current: memsw.zip(current).map(|(sw, cur)| sw.saturating_sub(cur)),
        anon: pick("total_rss", "rss"),
        file: pick("total_cache", "cache"),
        oom_events: None,
        oom_kill_events: oom.and_then(|o| o.get("oom_kill").copied()),
        raw,
    })
}

/// cpuacct usage (ns → µs) from the cpuacct hierarchy and throttling from cpu.stat in the cpu
/// hierarchy (they may be one directory when co-mounted).
pub(crate) fn cpu_stats(cpuacct: Option<&Path>, cpu: Option<&Path>) -> Result<CpuStats> {
    let mut s = CpuStats::default();
    if let Some(dir) = cpuacct {
        let ns =
            |f| -> Result<Option<u64>> { Ok(read_limit(dir, f, "cpuacct")?.map(|n| n / 1000)) };
        s.usage_usec = ns("cpuacct.usage")?;
        s.user_usec = ns("cpuacct.usage_user")?;
        s.system_usec = ns("cpuacct.usage_sys")?;
    }
    if let Some(dir) = cpu {
        if let Some(text) = read_opt(dir, "cpu.stat", "cpu")? {
            let st = parse_flat_keyed(&text);
            s.nr_periods = st.get("nr_periods").copied();
            s.nr_throttled = st.get("nr_throttled").copied();
            s.throttled_usec = st.get("throttled_time").map(|ns| ns / 1000);
        }
    }
    Ok(s)
}

/// The same files as v2.
pub(crate) fn pids_stats(dir: &Path) -> Result<PidsStats> {
    crate::v2::pids_stats(dir)
}

/// blkio.throttle.io_service_bytes and blkio.throttle.io_serviced.
pub(crate) fn blkio_stats(dir: &Path) -> Result<IoStats> {
    let mut devices = Vec::new();
    if let Some(t) = read_opt(dir, "blkio.throttle.io_service_bytes", "blkio")? {
        merge_blkio(&mut devices, &t, true);
    }
    if let Some(t) = read_opt(dir, "blkio.throttle.io_serviced", "blkio")? {
        merge_blkio(&mut devices, &t, false);
    }
    Ok(IoStats { devices })
}

/// hugetlb.<size>.usage_in_bytes, max_usage_in_bytes, failcnt.
pub(crate) fn hugetlb_stats(dir: &Path) -> Result<Vec<HugetlbStats>> {
    let mut out = Vec::new();
    for size in hugetlb_sizes(dir, "usage_in_bytes") {
        let get = |f: &str| read_limit(dir, &format!("hugetlb.{size}.{f}"), "hugetlb");
        out.push(HugetlbStats {
            usage: get("usage_in_bytes")?.unwrap_or(0),
            max_usage: get("max_usage_in_bytes")?,
            failures: get("failcnt")?,
            page_size: size,
        });
    }
    Ok(out)
}
