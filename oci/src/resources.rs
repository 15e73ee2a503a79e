//! `linux.resources` of an OCI configuration (also the body of `cove update -r resources.json`)
//! lowered into cove-cgroup's [`Resources`].
//!
//! Mapping decisions:
//! - **memory**: `limit`/`reservation` as bytes, `-1` = unlimited, `0` = not set (as runc).
//!   OCI `swap` is the memory+swap *total* (v1 `memsw`), cove's `swap` the swap *in addition* to
//!   the limit: `swap - limit` (runc's cgroup v2 conversion), `-1` = unlimited; a swap total
//!   without a memory limit or below it is an error. `disableOOMKiller` → `oom_kill_disable`.
//! - **cpu**: `shares` → `weight` with the formula of crun ≥ 1.23 and runc ≥ 1.3.2
//!   ([`shares_to_weight`]: 2 → 1, 1024 → 100, 262144 → 10000), `quota`/`period` in µs (`-1` =
//!   unlimited quota, `0` = not set), `cpus`/`mems` as cpuset lists.
//! - **pids**: `limit` ≤ 0 = unlimited.
//! - **blockIO**: `weight` (10..=1000, v1 scale; 0 = not set) → io weight 1..=10000 (runc's
//!   conversion),
//!   throttles grouped per device (`rate` 0 = remove the throttle).
//! - **hugepageLimits**, **network** (`classID`, `priorities`) as they are.
//! - **devices**: the configuration's rules in order, then cove's default container allows
//!   ([`default_container_devices`] without its leading deny-all), as runc appends its allowed
//!   devices so `/dev/null` and friends always work. No rules at all: an empty list (the run
//!   path then applies the defaults; `update` leaves device access alone).
//!
//! Refused, naming the field: `memory.kernel`, `memory.kernelTCP`, `memory.swappiness`,
//! `memory.useHierarchy: false`, `memory.checkBeforeUpdate: true`, `cpu.realtimeRuntime`,
//! `cpu.realtimePeriod`, `cpu.idle`, `cpu.burst`, `blockIO.leafWeight`, `blockIO.weightDevice`,
//! `rdma`, a non-empty `unified`.

use std::collections::BTreeMap;

use cove_cgroup::{
    default_container_devices, CpuResources, DeviceKind, DeviceRule, HugetlbLimit, IoDeviceLimit,
    IoResources, MemoryResources, NetPriority, PidsResources, Resources, MAX_DEVICE_MAJOR,
    MAX_DEVICE_MINOR, UNLIMITED,
};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxNetwork,
    LinuxResources, LinuxThrottleDevice,
};

use crate::error::ConfigError;

/// The prefix of every field this module names.
const PREFIX: &str = "linux.resources";

/// Lowers OCI `linux.resources` into cove-cgroup's model. Errors name the field
/// (`linux.resources.memory.swap`) but no file: add it with [`ConfigError::with_file`].
///
/// ```
/// use cove_oci::resources::lower_resources;
/// let r: oci_spec::runtime::LinuxResources = serde_json::from_str(
///     r#"{"memory": {"limit": 268435456, "swap": 536870912}, "pids": {"limit": 100}}"#,
/// ).unwrap();
/// let res = lower_resources(&r).unwrap();
/// assert_eq!(res.memory.limit, Some(256 << 20));
/// assert_eq!(res.memory.swap, Some(256 << 20)); // in addition to the limit
/// assert_eq!(res.pids.max, Some(100));
/// ```
pub fn lower_resources(r: &LinuxResources) -> Result<Resources, ConfigError> {
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(ConfigError::unsupported(
            format!("{PREFIX}.rdma"),
            "cove-cgroup has no rdma controller",
        ));
    }
    if r.unified().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(ConfigError::unsupported(
            format!("{PREFIX}.unified"),
            "raw cgroup v2 files are not written; use the typed fields",
        ));
    }
    let (hugetlb, (net_cls_classid, net_prio)) =
        (hugepage_limits(r)?, network(r.network().as_ref())?);
    Ok(Resources {
        memory: r
            .memory()
            .as_ref()
            .map(memory)
            .transpose()?
            .unwrap_or_default(),
        cpu: r.cpu().as_ref().map(cpu).transpose()?.unwrap_or_default(),
        pids: PidsResources {
            max: r.pids().map(|p| match p.limit() {
                l if l <= 0 => UNLIMITED,
                l => l as u64,
            }),
        },
        io: r
            .block_io()
            .as_ref()
            .map(block_io)
            .transpose()?
            .unwrap_or_default(),
        hugetlb,
        net_cls_classid,
        net_prio,
        devices: device_rules(r.devices().as_deref().unwrap_or_default())?,
    })
}

/// A byte limit: `-1` unlimited, `0` not set, other negatives refused.
fn bytes(field: &str, value: Option<i64>) -> Result<Option<u64>, ConfigError> {
    match value {
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some(UNLIMITED)),
        Some(v) if v < 0 => Err(ConfigError::invalid(
            format!("{PREFIX}.{field}"),
            format!("{v} is not a size in bytes (use -1 for unlimited)"),
        )),
        Some(v) => Ok(Some(v as u64)),
    }
}

#[allow(deprecated)] // `kernel` is deprecated in oci-spec: it is read here only to refuse it.
fn memory(m: &LinuxMemory) -> Result<MemoryResources, ConfigError> {
    let refused = [
        (
            "kernel",
            m.kernel().is_some(),
            "kernel memory limits were removed from Linux 5.4 on",
        ),
        (
            "kernelTCP",
            m.kernel_tcp().is_some(),
            "cove-cgroup has no kernel TCP memory limit",
        ),
        (
            "useHierarchy",
            m.use_hierarchy() == Some(false),
            "the kernel always accounts memory hierarchically",
        ),
        (
            "checkBeforeUpdate",
            m.check_before_update() == Some(true),
            "cove does not compare the usage with a new limit",
        ),
    ];
    if let Some((field, _, reason)) = refused.into_iter().find(|(_, set, _)| *set) {
        return Err(ConfigError::unsupported(
            format!("{PREFIX}.memory.{field}"),
            reason,
        ));
    }
    let limit = bytes("memory.limit", m.limit())?;
    Ok(MemoryResources {
        limit,
        reservation: bytes("memory.reservation", m.reservation())?,
        swap: swap_in_addition(m.swap(), m.limit())?,
        oom_kill_disable: m.disable_oom_killer(),
        oom_group: None,
        swappiness: m.swappiness(),
    })
}

/// OCI `swap` (memory+swap total) as the swap in addition to the limit, as runc converts it for
/// cgroup v2 (`ConvertMemorySwapToCgroupV2Value`).
fn swap_in_addition(swap: Option<i64>, limit: Option<i64>) -> Result<Option<u64>, ConfigError> {
    let field = || format!("{PREFIX}.memory.swap");
    let limit = limit.unwrap_or(0);
    match swap.unwrap_or(0) {
        // An unlimited memory limit with no swap setting means both unlimited.
        0 if limit == -1 => Ok(Some(UNLIMITED)),
        0 => Ok(None),
        -1 => Ok(Some(UNLIMITED)),
        s if s < 0 => Err(ConfigError::invalid(
            field(),
            format!("{s} is not a size in bytes (use -1 for unlimited)"),
        )),
        _ if limit <= 0 => Err(ConfigError::invalid(
            field(),
            "a memory+swap limit needs memory.limit",
        )),
        s if s < limit => Err(ConfigError::invalid(
            field(),
            format!("the memory+swap limit {s} is below memory.limit {limit}"),
        )),
        s => Ok(Some((s - limit) as u64)),
    }
}

fn cpu(c: &LinuxCpu) -> Result<CpuResources, ConfigError> {
    let refused = [
        (
            "realtimeRuntime",
            c.realtime_runtime().is_some_and(|v| v != 0),
        ),
        (
            "realtimePeriod",
            c.realtime_period().is_some_and(|v| v != 0),
        ),
        ("idle", c.idle().is_some_and(|v| v != 0)),
        ("burst", c.burst().is_some()),
    ];
    if let Some((field, _)) = refused.into_iter().find(|(_, set)| *set) {
        return Err(ConfigError::unsupported(
            format!("{PREFIX}.cpu.{field}"),
            "cove-cgroup does not set it",
        ));
    }
    let quota_us = match c.quota() {
        None | Some(0) => None,
        Some(-1) => Some(UNLIMITED),
        Some(q) if q < 0 => {
            return Err(ConfigError::invalid(
                format!("{PREFIX}.cpu.quota"),
                format!("{q} is not a quota in µs (use -1 for unlimited)"),
            ))
        }
        Some(q) => Some(q as u64),
    };
    let list = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    Ok(CpuResources {
        weight: c.shares().filter(|s| *s != 0).map(shares_to_weight),
        cpus: None,
        quota_us,
        period_us: c.period().filter(|p| *p != 0),
        cpuset_cpus: list(c.cpus()),
        cpuset_mems: list(c.mems()),
    })
}

/// OCI `cpu.shares` (v1, 2..=262144, default 1024) → cgroup v2 `cpu.weight` (1..=10000, default
/// 100), with the log-quadratic formula of crun ≥ 1.23 and runc ≥ 1.3.2, which maps the defaults
/// onto each other (the older linear formula turned 1024 into 39).
///
/// ```
/// use cove_oci::resources::shares_to_weight;
/// assert_eq!(shares_to_weight(2), 1);
/// assert_eq!(shares_to_weight(1024), 100);
/// assert_eq!(shares_to_weight(262144), 10000);
/// ```
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = log2(shares);
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (ten_to_the(exponent).ceil() as u64).clamp(1, 10_000)
}

// The two functions below keep libm out of the binary: linking it costs every start a shared library to load
// and ~300 KiB of resident memory, for this one formula. Both are exact to a few ulps over the range used
// (checked against libm for every share value in the tests).

/// log2 of `n` ≥ 1: the exponent from the leading zeros, the mantissa's logarithm from the atanh series
/// `ln m = 2 (z + z³/3 + z⁵/5 + …)` with `z = (m − 1)/(m + 1)` ≤ 1/3.
fn log2(n: u64) -> f64 {
    let k = 63 - n.leading_zeros();
    let m = n as f64 / (1u64 << k) as f64;
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let (mut term, mut sum) = (z, 0.0);
    for i in 0..30 {
        sum += term / f64::from(2 * i + 1);
        term *= z2;
    }
    f64::from(k) + 2.0 * sum / std::f64::consts::LN_2
}

/// 10^x for moderate x: 2^n · e^(f·ln 2) with the integer part `n` exact and the Taylor series of e^y for
/// 0 ≤ y < ln 2.
fn ten_to_the(x: f64) -> f64 {
    let t = x * std::f64::consts::LOG2_10;
    let n = t as i64 - i64::from(t < 0.0 && t != (t as i64) as f64);
    let y = (t - n as f64) * std::f64::consts::LN_2;
    let (mut term, mut sum) = (1.0, 1.0);
    for i in 1..30 {
        term *= y / f64::from(i);
        sum += term;
    }
    let scale = if n >= 0 {
        (1u64 << n) as f64
    } else {
        1.0 / (1u64 << -n) as f64
    };
    sum * scale
}

/// OCI blkio weight (10..=1000) → io weight (1..=10000), runc's `ConvertBlkIOToIOWeightValue`.
fn io_weight(field: &str, weight: u16) -> Result<u64, ConfigError> {
    if !(10..=1000).contains(&weight) {
        return Err(ConfigError::invalid(
            format!("{PREFIX}.{field}"),
            format!("{weight} is outside 10..=1000"),
        ));
    }
    Ok(1 + (u64::from(weight) - 10) * 9999 / 990)
}

fn block_io(b: &LinuxBlockIo) -> Result<IoResources, ConfigError> {
    if b.leaf_weight().is_some() {
        return Err(ConfigError::unsupported(
            format!("{PREFIX}.blockIO.leafWeight"),
            "cgroup v2 has no leaf weight",
        ));
    }
    if b.weight_device().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(ConfigError::unsupported(
            format!("{PREFIX}.blockIO.weightDevice"),
            "cove-cgroup has no per-device weight",
        ));
    }
    let mut devices: BTreeMap<(u32, u32), IoDeviceLimit> = BTreeMap::new();
    let lists: [(&str, &Option<Vec<LinuxThrottleDevice>>, Slot); 4] = [
        ("throttleReadBpsDevice", b.throttle_read_bps_device(), |d| {
            &mut d.read_bps
        }),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            |d| &mut d.write_bps,
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            |d| &mut d.read_iops,
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            |d| &mut d.write_iops,
        ),
    ];
    for (name, list, slot) in lists {
        for (i, t) in list.iter().flatten().enumerate() {
            let field = format!("blockIO.{name}[{i}]");
            let key = (
                device_number(&field, "major", t.major(), MAX_DEVICE_MAJOR)?,
                device_number(&field, "minor", t.minor(), MAX_DEVICE_MINOR)?,
            );
            let entry = devices.entry(key).or_insert_with(|| IoDeviceLimit {
                major: key.0,
                minor: key.1,
                ..Default::default()
            });
            *slot(entry) = Some(if t.rate() == 0 { UNLIMITED } else { t.rate() });
        }
    }
    Ok(IoResources {
        // Docker always sends a weight; 0 means not set (as runc).
        weight: b
            .weight()
            .filter(|w| *w != 0)
            .map(|w| io_weight("blockIO.weight", w))
            .transpose()?,
        devices: devices.into_values().collect(),
    })
}

/// Which throttle of an [`IoDeviceLimit`] a list sets.
type Slot = fn(&mut IoDeviceLimit) -> &mut Option<u64>;

fn device_number(field: &str, part: &str, n: i64, max: i64) -> Result<u32, ConfigError> {
    if !(0..=max).contains(&n) {
        return Err(ConfigError::invalid(
            format!("{PREFIX}.{field}.{part}"),
            format!("{n} is not a device number (0..={max})"),
        ));
    }
    Ok(n as u32)
}

fn hugepage_limits(r: &LinuxResources) -> Result<Vec<HugetlbLimit>, ConfigError> {
    let mut out = Vec::new();
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let limit = match h.limit() {
            -1 => UNLIMITED,
            l if l < 0 => {
                return Err(ConfigError::invalid(
                    format!("{PREFIX}.hugepageLimits[{i}].limit"),
                    format!("{l} is not a size in bytes (use -1 for unlimited)"),
                ))
            }
            l => l as u64,
        };
        out.push(HugetlbLimit {
            page_size: h.page_size().clone(),
            limit,
        });
    }
    Ok(out)
}

type NetSettings = (Option<u32>, Vec<NetPriority>);

fn network(n: Option<&LinuxNetwork>) -> Result<NetSettings, ConfigError> {
    let Some(n) = n else {
        return Ok((None, Vec::new()));
    };
    let priorities = n
        .priorities()
        .iter()
        .flatten()
        .map(|p| NetPriority {
            interface: p.name().clone(),
            priority: p.priority(),
        })
        .collect();
    Ok((n.class_id(), priorities))
}

/// The configuration's device rules, then the default allows (see the module documentation).
fn device_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, ConfigError> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = rules
        .iter()
        .enumerate()
        .map(|(i, r)| device_rule(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    out.extend(
        default_container_devices()
            .into_iter()
            .filter(|r| r.kind != DeviceKind::All),
    );
    Ok(out)
}

fn device_rule(index: usize, r: &LinuxDeviceCgroup) -> Result<DeviceRule, ConfigError> {
    let field = |part: &str| format!("{PREFIX}.devices[{index}].{part}");
    let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => DeviceKind::All,
        LinuxDeviceType::C => DeviceKind::Char,
        LinuxDeviceType::B => DeviceKind::Block,
        other => {
            return Err(ConfigError::invalid(
                field("type"),
                format!("`{}` is not a device rule type (a, c or b)", other.as_str()),
            ))
        }
    };
    let access = match r.access().as_deref() {
        None | Some("") => "rwm".to_string(),
        Some(a) if a.chars().all(|c| "rwm".contains(c)) => a.to_string(),
        Some(a) => {
            return Err(ConfigError::invalid(
                field("access"),
                format!("`{a}` is not a subset of `rwm`"),
            ))
        }
    };
    let number = |part: &str, n: Option<i64>, max: i64| match n {
        None | Some(-1) => Ok(None),
        Some(n) if (0..=max).contains(&n) => Ok(Some(n)),
        Some(n) => Err(ConfigError::invalid(
            field(part),
            format!("{n} is not a device number (0..={max}, or -1 for any)"),
        )),
    };
    let major = number("major", r.major(), MAX_DEVICE_MAJOR)?;
    let minor = number("minor", r.minor(), MAX_DEVICE_MINOR)?;
    if kind == DeviceKind::All {
        let full = access.len() == 3 && "rwm".chars().all(|c| access.contains(c));
        if major.is_some() || minor.is_some() || !full {
            return Err(ConfigError::invalid(
                field("type"),
                "a rule for all devices (`a`) takes no numbers and the access `rwm`",
            ));
        }
    }
    Ok(DeviceRule {
        allow: r.allow(),
        kind,
        major,
        minor,
        access,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shares_formula_matches_libm_for_every_share_value() {
        for shares in 3..262_144u64 {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            let want = (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000);
            assert_eq!(super::shares_to_weight(shares), want, "shares {shares}");
        }
    }
}
