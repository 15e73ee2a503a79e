//! cgroup v2 file formats: applying resources and reading statistics in one cgroup directory.

use std::path::Path;

use crate::error::{CgroupError, Result};
use crate::fsutil::{self, read_limit, read_opt, v2_limit, write};
use crate::resources::{
    scale_io_weight, CpuResources, HugetlbLimit, IoResources, MemoryResources, PidsResources,
};
use crate::stats::{
    parse_flat_keyed, parse_io_stat, parse_pressure, CpuStats, HugetlbStats, IoStats, MemoryStats,
    PidsStats, PressureStats,
};

/// The controllers enabled in `cgroup.subtree_control` along a new cgroup's path, where the
/// parent offers them.
pub(crate) const WANTED_CONTROLLERS: &[&str] =
    &["cpuset", "cpu", "io", "memory", "hugetlb", "pids"];

fn bool_str(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// Fails with [`CgroupError::FileUnavailable`] when `dir/file` does not exist.
pub(crate) fn require(dir: &Path, file: &str, field: &'static str) -> Result<()> {
    if fsutil::exists(dir, file) {
        Ok(())
    } else {
        Err(CgroupError::FileUnavailable {
            field,
            file: dir.join(file),
        })
    }
}

/// The controllers listed in a `cgroup.controllers` or `cgroup.subtree_control` file.
pub(crate) fn read_controller_list(dir: &Path, file: &str) -> Result<Vec<String>> {
    let text = fsutil::read(dir, file, "cgroup")?;
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

/// Enables in `dir/cgroup.subtree_control` every wanted controller that `dir` offers and has
/// not enabled yet, in one write.
pub(crate) fn enable_controllers(dir: &Path) -> Result<()> {
    let offered = read_controller_list(dir, "cgroup.controllers")?;
    let enabled = read_controller_list(dir, "cgroup.subtree_control")?;
    let missing: Vec<String> = WANTED_CONTROLLERS
        .iter()
        .filter(|c| offered.iter().any(|o| o == *c) && !enabled.iter().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    write(dir, "cgroup.subtree_control", "cgroup", &missing.join(" "))
}

/// memory.max, memory.low, memory.swap.max, memory.oom.group.
pub(crate) fn apply_memory(dir: &Path, m: &MemoryResources) -> Result<()> {
    if let Some(limit) = m.limit {
        write(dir, "memory.max", "memory", &v2_limit(limit))?;
    }
    if let Some(low) = m.reservation {
        write(dir, "memory.low", "memory", &v2_limit(low))?;
    }
    if let Some(swap) = m.swap {
        require(dir, "memory.swap.max", "memory.swap")?;
        write(dir, "memory.swap.max", "memory", &v2_limit(swap))?;
    }
    if let Some(group) = m.oom_group {
        write(dir, "memory.oom.group", "memory", bool_str(group))?;
    }
    Ok(())
}

/// cpu.weight and cpu.max (`$QUOTA $PERIOD`; the quota is kept when only the period is given).
pub(crate) fn apply_cpu(dir: &Path, c: &CpuResources) -> Result<()> {
    if let Some(w) = c.weight {
        write(dir, "cpu.weight", "cpu", &w.to_string())?;
    }
    if let Some((quota, period)) = c.quota_and_period() {
        let quota = match quota {
            Some(q) => v2_limit(q),
            None => current_quota(dir)?,
        };
        write(dir, "cpu.max", "cpu", &format!("{quota} {period}"))?;
    }
    Ok(())
}

fn current_quota(dir: &Path) -> Result<String> {
    let text = fsutil::read(dir, "cpu.max", "cpu")?;
    Ok(text.split_whitespace().next().unwrap_or("max").to_owned())
}

/// cpuset.cpus and cpuset.mems.
pub(crate) fn apply_cpuset(dir: &Path, c: &CpuResources) -> Result<()> {
    if let Some(cpus) = &c.cpuset_cpus {
        write(dir, "cpuset.cpus", "cpuset", cpus)?;
    }
    if let Some(mems) = &c.cpuset_mems {
        write(dir, "cpuset.mems", "cpuset", mems)?;
    }
    Ok(())
}

/// pids.max.
pub(crate) fn apply_pids(dir: &Path, p: &PidsResources) -> Result<()> {
    if let Some(max) = p.max {
        write(dir, "pids.max", "pids", &v2_limit(max))?;
    }
    Ok(())
}

/// io.weight (or io.bfq.weight) and one io.max line per device.
pub(crate) fn apply_io(dir: &Path, io: &IoResources) -> Result<()> {
    if let Some(w) = io.weight {
        apply_io_weight(dir, w)?;
    }
    for d in &io.devices {
        let keys = [
            ("rbps", d.read_bps),
            ("wbps", d.write_bps),
            ("riops", d.read_iops),
            ("wiops", d.write_iops),
        ];
        let set: Vec<String> = keys
            .iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", v2_limit(v))))
            .collect();
        if !set.is_empty() {
            write(
                dir,
                "io.max",
                "io",
                &format!("{}:{} {}", d.major, d.minor, set.join(" ")),
            )?;
        }
    }
    Ok(())
}

fn apply_io_weight(dir: &Path, weight: u64) -> Result<()> {
    if fsutil::exists(dir, "io.weight") {
        write(dir, "io.weight", "io", &format!("default {weight}"))
    } else if fsutil::exists(dir, "io.bfq.weight") {
        let w = scale_io_weight(weight, 1, 1000);
        write(dir, "io.bfq.weight", "io", &w.to_string())
    } else {
        Err(CgroupError::FileUnavailable {
            field: "io.weight",
            file: dir.join("io.weight"),
        })
    }
}

/// hugetlb.<size>.max for each page size.
pub(crate) fn apply_hugetlb(dir: &Path, limits: &[HugetlbLimit]) -> Result<()> {
    for l in limits {
        let file = format!("hugetlb.{}.max", l.page_size);
        require(dir, &file, "hugetlb")?;
        write(dir, &file, "hugetlb", &v2_limit(l.limit))?;
    }
    Ok(())
}

/// memory.current, memory.peak, memory.max, memory.swap.current, memory.stat, memory.events.
pub(crate) fn memory_stats(dir: &Path) -> Result<MemoryStats> {
    let raw = read_opt(dir, "memory.stat", "memory")?
        .map(|t| parse_flat_keyed(&t))
        .unwrap_or_default();
    let events = read_opt(dir, "memory.events", "memory")?.map(|t| parse_flat_keyed(&t));
    Ok(MemoryStats {
        current: read_limit(dir, "memory.current", "memory")?,
        peak: read_limit(dir, "memory.peak", "memory")?,
        limit: read_limit(dir, "memory.max", "memory")?,
        swap_current: read_limit(dir, "memory.swap.current", "memory")?,
        anon: raw.get("anon").copied(),
        file: raw.get("file").copied(),
        oom_events: events.as_ref().and_then(|e| e.get("oom").copied()),
        oom_kill_events: events.as_ref().and_then(|e| e.get("oom_kill").copied()),
        raw,
    })
}

/// cpu.stat (present even without the cpu controller for the usage times).
pub(crate) fn cpu_stats(dir: &Path) -> Result<CpuStats> {
    let Some(text) = read_opt(dir, "cpu.stat", "cpu")? else {
        return Ok(CpuStats::default());
    };
    let s = parse_flat_keyed(&text);
    Ok(CpuStats {
        usage_usec: s.get("usage_usec").copied(),
        user_usec: s.get("user_usec").copied(),
        system_usec: s.get("system_usec").copied(),
        nr_periods: s.get("nr_periods").copied(),
        nr_throttled: s.get("nr_throttled").copied(),
        throttled_usec: s.get("throttled_usec").copied(),
    })
}

/// pids.current, pids.peak, pids.max, pids.events.
pub(crate) fn pids_stats(dir: &Path) -> Result<PidsStats> {
    let events = read_opt(dir, "pids.events", "pids")?.map(|t| parse_flat_keyed(&t));
    Ok(PidsStats {
        current: read_limit(dir, "pids.current", "pids")?,
        peak: read_limit(dir, "pids.peak", "pids")?,
        limit: read_limit(dir, "pids.max", "pids")?,
        limit_hits: events.and_then(|e| e.get("max").copied()),
    })
}

/// io.stat.
pub(crate) fn io_stats(dir: &Path) -> Result<IoStats> {
    let text = read_opt(dir, "io.stat", "io")?.unwrap_or_default();
    Ok(IoStats {
        devices: parse_io_stat(&text),
    })
}

/// hugetlb.<size>.current and .events for every page size present.
pub(crate) fn hugetlb_stats(dir: &Path) -> Result<Vec<HugetlbStats>> {
    let mut out = Vec::new();
    for size in hugetlb_sizes(dir, "current") {
        let usage = read_limit(dir, &format!("hugetlb.{size}.current"), "hugetlb")?.unwrap_or(0);
        let events = read_opt(dir, &format!("hugetlb.{size}.events"), "hugetlb")?;
        let failures = events.and_then(|t| parse_flat_keyed(&t).get("max").copied());
        out.push(HugetlbStats {
            page_size: size,
            usage,
            max_usage: None,
            failures,
        });
    }
    Ok(out)
}

/// The page sizes `S` for which `dir/hugetlb.S.<suffix>` exists, sorted.
pub(crate) fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let parts: Vec<&str> = name.split('.').collect();
            match parts[..] {
                ["hugetlb", size, s] if s == suffix => Some(size.to_owned()),
                _ => None,
            }
        })
        .collect();
    sizes.sort();
    sizes
}

/// cpu.pressure, memory.pressure, io.pressure. A file that cannot be read (PSI disabled makes
/// reads fail with EOPNOTSUPP) is reported as `None`.
pub(crate) fn pressure_stats(dir: &Path) -> PressureStats {
    let read = |f| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|t| parse_pressure(&t))
    };
    PressureStats {
        cpu: read("cpu.pressure"),
        memory: read("memory.pressure"),
        io: read("io.pressure"),
    }
}
