//! Usage statistics and the parsers of the kernel's stat file formats.
//!
//! Every field is an `Option`: `None` means the controller or file is not available on this
//! host or cgroup version.

use std::collections::BTreeMap;

/// All statistics of one cgroup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// memory controller.
    pub memory: MemoryStats,
    /// cpu / cpuacct controllers.
    pub cpu: CpuStats,
    /// pids controller.
    pub pids: PidsStats,
    /// io / blkio controller.
    pub io: IoStats,
    /// hugetlb controller, one entry per page size.
    pub hugetlb: Vec<HugetlbStats>,
    /// Pressure stall information (v2 `*.pressure` files; also present in hybrid mode).
    pub pressure: PressureStats,
}

/// Memory usage, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Current usage (`memory.current` / `memory.usage_in_bytes`).
    pub current: Option<u64>,
    /// Peak usage (`memory.peak`, kernel ≥ 5.19 / `memory.max_usage_in_bytes`).
    pub peak: Option<u64>,
    /// The limit in force ([`UNLIMITED`](crate::UNLIMITED) when none).
    pub limit: Option<u64>,
    /// Swap in use (`memory.swap.current` / memsw usage minus usage).
    pub swap_current: Option<u64>,
    /// Anonymous memory (`anon` / v1 `total_rss`).
    pub anon: Option<u64>,
    /// Page cache (`file` / v1 `total_cache`).
    pub file: Option<u64>,
    /// Times the cgroup hit its limit and entered OOM (v2 `memory.events` `oom`; v1 has no
    /// such counter: `None`).
    pub oom_events: Option<u64>,
    /// Processes killed by the OOM killer (`oom_kill` in `memory.events` / `memory.oom_control`).
    pub oom_kill_events: Option<u64>,
    /// Every key of `memory.stat` as the kernel wrote it.
    pub raw: BTreeMap<String, u64>,
}

/// CPU usage, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Total CPU time (`usage_usec` / `cpuacct.usage`).
    pub usage_usec: Option<u64>,
    /// User CPU time.
    pub user_usec: Option<u64>,
    /// System CPU time.
    pub system_usec: Option<u64>,
    /// Enforcement periods that elapsed.
    pub nr_periods: Option<u64>,
    /// Periods in which the cgroup was throttled.
    pub nr_throttled: Option<u64>,
    /// Total time throttled.
    pub throttled_usec: Option<u64>,
}

/// Task counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidsStats {
    /// Tasks now (`pids.current`).
    pub current: Option<u64>,
    /// Most tasks at once (`pids.peak`, where the kernel has it).
    pub peak: Option<u64>,
    /// The limit ([`UNLIMITED`](crate::UNLIMITED) when `max`).
    pub limit: Option<u64>,
    /// Forks refused because of the limit (`max` in `pids.events`).
    pub limit_hits: Option<u64>,
}

/// Block I/O per device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoStats {
    /// One entry per device with I/O.
    pub devices: Vec<IoDeviceStats>,
}

/// Block I/O on one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoDeviceStats {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub read_ops: u64,
    /// Write operations.
    pub write_ops: u64,
}

/// hugetlb usage for one page size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HugetlbStats {
    /// Page size as in the file names, e.g. `"2MB"`.
    pub page_size: String,
    /// Bytes in use.
    pub usage: u64,
    /// Peak bytes (v1 `max_usage_in_bytes`; `None` on v2).
    pub max_usage: Option<u64>,
    /// Allocations refused because of the limit (v2 `events` `max` / v1 `failcnt`).
    pub failures: Option<u64>,
}

/// Pressure stall information of the three resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PressureStats {
    /// `cpu.pressure`.
    pub cpu: Option<Pressure>,
    /// `memory.pressure`.
    pub memory: Option<Pressure>,
    /// `io.pressure`.
    pub io: Option<Pressure>,
}

/// One pressure file: the `some` line and, where present, the `full` line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pressure {
    /// Share of time in which at least one task stalled.
    pub some: PressureValues,
    /// Share of time in which all tasks stalled (absent for cpu on older kernels).
    pub full: Option<PressureValues>,
}

/// Averages (percent) and the total stall time (µs) of one pressure line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PressureValues {
    /// Average over 10 s, in percent.
    pub avg10: f64,
    /// Average over 60 s, in percent.
    pub avg60: f64,
    /// Average over 300 s, in percent.
    pub avg300: f64,
    /// Total stall time in µs.
    pub total_usec: u64,
}

/// Parses a flat keyed file (`key value` per line: `memory.stat`, `cpu.stat`, `memory.events`,
/// `pids.events`, `cpuacct.stat`, `memory.oom_control`). Lines that are not `key number` are
/// skipped.
pub(crate) fn parse_flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(char::is_whitespace)?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Parses a nested keyed file with device keys (`MAJ:MIN key=value ...`, as v2 `io.stat`).
pub(crate) fn parse_io_stat(text: &str) -> Vec<IoDeviceStats> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some((major, minor)) = words.next().and_then(parse_dev) else {
            continue;
        };
        let kv: BTreeMap<&str, u64> = words
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let get = |k| kv.get(k).copied().unwrap_or(0);
        out.push(IoDeviceStats {
            major,
            minor,
            read_bytes: get("rbytes"),
            write_bytes: get("wbytes"),
            read_ops: get("rios"),
            write_ops: get("wios"),
        });
    }
    out
}

/// Parses v1 `blkio.throttle.io_service_bytes` (`bytes = true`) or `io_serviced` (`false`)
/// into `devices`, adding the Read/Write values to the entry of each device.
pub(crate) fn merge_blkio(devices: &mut Vec<IoDeviceStats>, text: &str, bytes: bool) {
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let [dev, op, value] = w[..] else { continue };
        let (Some((major, minor)), Ok(value)) = (parse_dev(dev), value.parse::<u64>()) else {
            continue;
        };
        let idx = match devices
            .iter()
            .position(|d| d.major == major && d.minor == minor)
        {
            Some(i) => i,
            None => {
                devices.push(IoDeviceStats {
                    major,
                    minor,
                    ..Default::default()
                });
                devices.len() - 1
            }
        };
        let d = &mut devices[idx];
        match (op, bytes) {
            ("Read", true) => d.read_bytes = value,
            ("Write", true) => d.write_bytes = value,
            ("Read", false) => d.read_ops = value,
            ("Write", false) => d.write_ops = value,
            _ => {}
        }
    }
}

/// Parses a pressure file (`some avg10=.. avg60=.. avg300=.. total=..` and `full ...`).
/// `None` when it has no `some` line.
pub(crate) fn parse_pressure(text: &str) -> Option<Pressure> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let mut v = PressureValues::default();
        for (k, val) in words.filter_map(|w| w.split_once('=')) {
            match k {
                "avg10" => v.avg10 = val.parse().ok()?,
                "avg60" => v.avg60 = val.parse().ok()?,
                "avg300" => v.avg300 = val.parse().ok()?,
                "total" => v.total_usec = val.parse().ok()?,
                _ => {}
            }
        }
        match kind {
            Some("some") => some = Some(v),
            Some("full") => full = Some(v),
            _ => {}
        }
    }
    Some(Pressure { some: some?, full })
}

fn parse_dev(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_memory_stat_v2() {
        let text = "anon 1052672\nfile 8192\nkernel 237568\nsock 0\nshmem 0\nfile_mapped 0\n\
                    pgfault 1234\nworkingset_refault_anon 0\n";
        let m = parse_flat_keyed(text);
        assert_eq!(m["anon"], 1_052_672);
        assert_eq!(m["file"], 8192);
        assert_eq!(m["pgfault"], 1234);
        assert_eq!(m.len(), 8);
    }

    #[test]
    fn flat_keyed_skips_non_numbers() {
        let m = parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\nweird x\n\n");
        assert_eq!(m.get("oom_kill"), Some(&3));
        assert!(!m.contains_key("weird"));
    }

    #[test]
    fn io_stat_v2() {
        let text = "254:0 rbytes=1048576 wbytes=4096 rios=16 wios=1 dbytes=0 dios=0\n\
                    7:0 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n";
        let s = parse_io_stat(text);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            IoDeviceStats {
                major: 254,
                minor: 0,
                read_bytes: 1_048_576,
                write_bytes: 4096,
                read_ops: 16,
                write_ops: 1
            }
        );
        assert_eq!(s[1].major, 7);
        assert_eq!(s[1].read_bytes, 512);
    }

    #[test]
    fn blkio_v1() {
        let bytes = "254:0 Read 8192\n254:0 Write 4096\n254:0 Sync 12288\n254:0 Async 0\n\
                     254:0 Discard 0\n254:0 Total 12288\nTotal 12288\n";
        let ops = "254:0 Read 2\n254:0 Write 1\n254:0 Sync 3\n254:0 Async 0\n254:0 Discard 0\n\
                   254:0 Total 3\nTotal 3\n";
        let mut d = Vec::new();
        merge_blkio(&mut d, bytes, true);
        merge_blkio(&mut d, ops, false);
        assert_eq!(
            d,
            [IoDeviceStats {
                major: 254,
                minor: 0,
                read_bytes: 8192,
                write_bytes: 4096,
                read_ops: 2,
                write_ops: 1
            }]
        );
        let mut empty = Vec::new();
        merge_blkio(&mut empty, "Total 0\n", true);
        assert!(empty.is_empty());
    }

    #[test]
    fn pressure() {
        let text = "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=42\n";
        let p = parse_pressure(text).unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.avg60, 0.25);
        assert_eq!(p.some.total_usec, 123_456);
        assert_eq!(p.full.unwrap().total_usec, 42);
        let cpu_old = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n").unwrap();
        assert_eq!(cpu_old.full, None);
        assert_eq!(parse_pressure(""), None);
    }
}
