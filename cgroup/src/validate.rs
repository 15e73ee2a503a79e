//! Pure checks of resource values (no file system access). The checks that need the host
//! (controllers, the parent's cpuset, devices) are in [`crate::cgroup`].

use crate::cpuset::parse_list;
use crate::error::{CgroupError, Result};
use crate::resources::{Resources, MIN_MEMORY_LIMIT, UNLIMITED};
use crate::Version;

fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Checks every value of `res` for range and form, for a cgroup of `version`.
pub(crate) fn values(res: &Resources, version: Version) -> Result<()> {
    memory(res, version)?;
    cpu(res)?;
    pids(res)?;
    io(res)?;
    hugetlb(res)?;
    net(res, version)?;
    crate::devices::validate(&res.devices)
}

fn memory(res: &Resources, version: Version) -> Result<()> {
    let m = &res.memory;
    if let Some(l) = m.limit {
        if l < MIN_MEMORY_LIMIT {
            return Err(invalid(
                "memory.limit",
                l,
                format!("below the minimum of {MIN_MEMORY_LIMIT} bytes (6 MiB)"),
            ));
        }
    }
    if let (Some(r), Some(l)) = (m.reservation, m.limit) {
        if r != UNLIMITED && l != UNLIMITED && r > l {
            return Err(invalid("memory.reservation", r, "above memory.limit"));
        }
    }
    if m.oom_kill_disable == Some(true) && version == Version::V2 {
        return Err(CgroupError::Unsupported {
            operation: "memory.oom_kill_disable",
            version,
        });
    }
    if let Some(s) = m.swappiness {
        if s > 100 {
            return Err(invalid("memory.swappiness", s, "must be 0..=100"));
        }
        if version == Version::V2 {
            return Err(CgroupError::Unsupported {
                operation: "memory.swappiness",
                version,
            });
        }
    }
    if m.oom_group == Some(true) && version == Version::V1 {
        return Err(CgroupError::Unsupported {
            operation: "memory.oom_group",
            version,
        });
    }
    Ok(())
}

fn cpu(res: &Resources) -> Result<()> {
    let c = &res.cpu;
    if let Some(w) = c.weight {
        if !(1..=10_000).contains(&w) {
            return Err(invalid("cpu.weight", w, "must be 1..=10000"));
        }
    }
    if let Some(cpus) = c.cpus {
        if c.quota_us.is_some() {
            return Err(invalid(
                "cpu.cpus",
                cpus,
                "give either cpus or quota_us, not both",
            ));
        }
        if !cpus.is_finite() || cpus <= 0.0 {
            return Err(invalid(
                "cpu.cpus",
                cpus,
                "must be a positive number of CPUs",
            ));
        }
    }
    if let Some(p) = c.period_us {
        if !(1_000..=1_000_000).contains(&p) {
            return Err(invalid("cpu.period_us", p, "must be 1000..=1000000 µs"));
        }
    }
    if let Some((Some(q), _)) = c.quota_and_period() {
        if q != UNLIMITED && q < 1_000 {
            return Err(invalid(
                "cpu.quota_us",
                q,
                "must be at least 1000 µs (or unlimited)",
            ));
        }
    }
    for (field, list) in [
        ("cpu.cpuset_cpus", &c.cpuset_cpus),
        ("cpu.cpuset_mems", &c.cpuset_mems),
    ] {
        if let Some(list) = list {
            let set = parse_list(list).map_err(|r| invalid(field, list, r))?;
            if set.is_empty() {
                return Err(invalid(field, list, "must not be empty"));
            }
        }
    }
    Ok(())
}

fn pids(res: &Resources) -> Result<()> {
    match res.pids.max {
        Some(0) => Err(invalid("pids.max", 0, "must be at least 1 (or unlimited)")),
        _ => Ok(()),
    }
}

fn io(res: &Resources) -> Result<()> {
    if let Some(w) = res.io.weight {
        if !(1..=10_000).contains(&w) {
            return Err(invalid("io.weight", w, "must be 1..=10000"));
        }
    }
    for (i, d) in res.io.devices.iter().enumerate() {
        let dup = res.io.devices[..i]
            .iter()
            .any(|o| (o.major, o.minor) == (d.major, d.minor));
        if dup {
            return Err(invalid(
                "io.devices",
                format!("{}:{}", d.major, d.minor),
                "device listed twice",
            ));
        }
        let limits = [d.read_bps, d.write_bps, d.read_iops, d.write_iops];
        if limits.contains(&Some(0)) {
            return Err(invalid(
                "io.devices",
                format!("{}:{}", d.major, d.minor),
                "a limit of 0 would stop all I/O; use UNLIMITED to remove one",
            ));
        }
    }
    Ok(())
}

fn hugetlb(res: &Resources) -> Result<()> {
    for (i, h) in res.hugetlb.iter().enumerate() {
        let Some(page) = page_size_bytes(&h.page_size) else {
            let reason = "expected a size such as 2MB, 1GB or 64KB";
            return Err(invalid("hugetlb.page_size", &h.page_size, reason));
        };
        if h.limit != UNLIMITED && h.limit % page != 0 {
            let reason = format!(
                "not a multiple of the {} page size (the kernel would round it down)",
                h.page_size
            );
            return Err(invalid("hugetlb.limit", h.limit, reason));
        }
        if res.hugetlb[..i].iter().any(|o| o.page_size == h.page_size) {
            return Err(invalid(
                "hugetlb.page_size",
                &h.page_size,
                "page size listed twice",
            ));
        }
    }
    Ok(())
}

/// `"2MB"` → 2 MiB, as the kernel names hugetlb page sizes; `None` when malformed.
fn page_size_bytes(s: &str) -> Option<u64> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &s[digits.len()..] {
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(1 << shift)
        .filter(|n| *n > 0)
}

fn net(res: &Resources, version: Version) -> Result<()> {
    if version == Version::V2 && res.net_cls_classid.is_some() {
        return Err(CgroupError::Unsupported {
            operation: "net_cls.classid",
            version,
        });
    }
    if version == Version::V2 && !res.net_prio.is_empty() {
        return Err(CgroupError::Unsupported {
            operation: "net_prio.ifpriomap",
            version,
        });
    }
    for p in &res.net_prio {
        let ok = !p.interface.is_empty()
            && p.interface.len() < 16
            && !p
                .interface
                .contains(|c: char| c == '/' || c.is_whitespace());
        if !ok {
            return Err(invalid(
                "net_prio.interface",
                &p.interface,
                "not a valid interface name",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::*;

    fn check(res: Resources) -> Result<()> {
        values(&res, Version::V2)
    }

    fn field_of(r: Result<()>) -> &'static str {
        match r {
            Err(CgroupError::InvalidResource { field, .. }) => field,
            other => panic!("expected InvalidResource, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        check(Resources::default()).unwrap();
        values(&Resources::default(), Version::V1).unwrap();
    }

    #[test]
    fn memory_minimum_and_reservation() {
        let mem = |limit, reservation| Resources {
            memory: MemoryResources {
                limit,
                reservation,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            field_of(check(mem(Some(MIN_MEMORY_LIMIT - 1), None))),
            "memory.limit"
        );
        check(mem(Some(MIN_MEMORY_LIMIT), None)).unwrap();
        check(mem(Some(UNLIMITED), Some(1 << 30))).unwrap();
        assert_eq!(
            field_of(check(mem(Some(64 << 20), Some(65 << 20)))),
            "memory.reservation"
        );
    }

    #[test]
    fn swappiness_is_v1_only_and_at_most_100() {
        let swappiness = |s| Resources {
            memory: MemoryResources {
                swappiness: Some(s),
                ..Default::default()
            },
            ..Default::default()
        };
        values(&swappiness(0), Version::V1).unwrap();
        values(&swappiness(100), Version::V1).unwrap();
        assert_eq!(
            field_of(values(&swappiness(101), Version::V1)),
            "memory.swappiness"
        );
        assert!(matches!(
            values(&swappiness(60), Version::V2),
            Err(CgroupError::Unsupported {
                operation: "memory.swappiness",
                ..
            })
        ));
    }

    #[test]
    fn oom_switches_per_version() {
        let disable = Resources {
            memory: MemoryResources {
                oom_kill_disable: Some(true),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(
            values(&disable, Version::V2),
            Err(CgroupError::Unsupported { .. })
        ));
        values(&disable, Version::V1).unwrap();
        let group = Resources {
            memory: MemoryResources {
                oom_group: Some(true),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(
            values(&group, Version::V1),
            Err(CgroupError::Unsupported { .. })
        ));
        values(&group, Version::V2).unwrap();
    }

    #[test]
    fn cpu_ranges() {
        let cpu = |c: CpuResources| Resources {
            cpu: c,
            ..Default::default()
        };
        assert_eq!(
            field_of(check(cpu(CpuResources {
                weight: Some(0),
                ..Default::default()
            }))),
            "cpu.weight"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                weight: Some(10_001),
                ..Default::default()
            }))),
            "cpu.weight"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                cpus: Some(-1.0),
                ..Default::default()
            }))),
            "cpu.cpus"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                cpus: Some(f64::NAN),
                ..Default::default()
            }))),
            "cpu.cpus"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                cpus: Some(1.0),
                quota_us: Some(5000),
                ..Default::default()
            }))),
            "cpu.cpus"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                cpus: Some(0.001),
                ..Default::default()
            }))),
            "cpu.quota_us"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                period_us: Some(999),
                ..Default::default()
            }))),
            "cpu.period_us"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                cpuset_cpus: Some("1-0".into()),
                ..Default::default()
            }))),
            "cpu.cpuset_cpus"
        );
        assert_eq!(
            field_of(check(cpu(CpuResources {
                cpuset_mems: Some(" ".into()),
                ..Default::default()
            }))),
            "cpu.cpuset_mems"
        );
        check(cpu(CpuResources {
            cpus: Some(0.5),
            weight: Some(100),
            quota_us: None,
            ..Default::default()
        }))
        .unwrap();
        check(cpu(CpuResources {
            quota_us: Some(UNLIMITED),
            ..Default::default()
        }))
        .unwrap();
    }

    #[test]
    fn pids_io_hugetlb_net() {
        let r = Resources {
            pids: PidsResources { max: Some(0) },
            ..Default::default()
        };
        assert_eq!(field_of(check(r)), "pids.max");
        let dev = IoDeviceLimit {
            major: 8,
            minor: 0,
            read_bps: Some(1),
            ..Default::default()
        };
        let r = Resources {
            io: IoResources {
                weight: None,
                devices: vec![dev.clone(), dev.clone()],
            },
            ..Default::default()
        };
        assert_eq!(field_of(check(r)), "io.devices");
        let zero = IoDeviceLimit {
            write_iops: Some(0),
            ..dev
        };
        let r = Resources {
            io: IoResources {
                weight: None,
                devices: vec![zero],
            },
            ..Default::default()
        };
        assert_eq!(field_of(check(r)), "io.devices");
        let r = Resources {
            io: IoResources {
                weight: Some(0),
                devices: vec![],
            },
            ..Default::default()
        };
        assert_eq!(field_of(check(r)), "io.weight");
        for bad in ["2M", "MB", "2mb", "x2MB", ""] {
            let r = Resources {
                hugetlb: vec![HugetlbLimit {
                    page_size: bad.into(),
                    limit: 1,
                }],
                ..Default::default()
            };
            assert_eq!(field_of(check(r)), "hugetlb.page_size", "{bad}");
        }
        let r = Resources {
            hugetlb: vec![HugetlbLimit {
                page_size: "2MB".into(),
                limit: 1,
            }],
            ..Default::default()
        };
        assert_eq!(field_of(check(r)), "hugetlb.limit");
        for (size, limit) in [
            ("2MB", 4 << 20),
            ("1GB", 1 << 30),
            ("64KB", 0),
            ("2MB", UNLIMITED),
        ] {
            let hugetlb = vec![HugetlbLimit {
                page_size: size.into(),
                limit,
            }];
            check(Resources {
                hugetlb,
                ..Default::default()
            })
            .unwrap();
        }
        let r = Resources {
            net_cls_classid: Some(0x10001),
            ..Default::default()
        };
        assert!(matches!(
            check(r.clone()),
            Err(CgroupError::Unsupported { .. })
        ));
        values(&r, Version::V1).unwrap();
        let r = Resources {
            net_prio: vec![NetPriority {
                interface: "a b".into(),
                priority: 1,
            }],
            ..Default::default()
        };
        assert_eq!(field_of(values(&r, Version::V1)), "net_prio.interface");
    }
}
