//! The v1 and v2 backends against temp dirs of fake cgroup control files: what each backend
//! writes (read back from the files) and how it parses the kernel's stat files.
//!
//! A fake tree differs from cgroupfs in two ways the tests work with: `mkdir` does not populate
//! control files (so cgroups that get resources are pre-created with their files, and
//! `Cgroup::create` reuses them), and `rmdir` of a directory with files fails.

use std::fs;
use std::path::{Path, PathBuf};

use cove_cgroup::*;
use tempfile::TempDir;

fn put(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
}

fn get(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

const V2_ROOT_FILES: &[(&str, &str)] = &[
    (
        "cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    ),
    ("cgroup.subtree_control", ""),
    ("cgroup.procs", "1\n"),
    ("cpuset.cpus.effective", "0-3\n"),
    ("cpuset.mems.effective", "0\n"),
];

const V2_CGROUP_FILES: &[(&str, &str)] = &[
    ("cgroup.controllers", ""),
    ("cgroup.subtree_control", ""),
    ("cgroup.procs", ""),
    ("cgroup.events", "populated 0\nfrozen 0\n"),
    ("cgroup.freeze", "0\n"),
    ("cgroup.kill", ""),
    ("memory.max", "max\n"),
    ("memory.low", "0\n"),
    ("memory.swap.max", "max\n"),
    ("memory.oom.group", "0\n"),
    ("cpu.weight", "100\n"),
    ("cpu.max", "max 100000\n"),
    ("cpuset.cpus", "\n"),
    ("cpuset.mems", "\n"),
    ("pids.max", "max\n"),
    ("io.max", ""),
    ("io.weight", "default 100\n"),
    ("hugetlb.2MB.max", "max\n"),
    ("hugetlb.1GB.max", "max\n"),
];

const ALL_V2: &str = "cpuset cpu io memory hugetlb pids rdma misc\n";

/// A v2 root with `cove` (an intermediate cgroup) and `cove/<leaf>` pre-created, and a fake
/// sysfs block directory with the whole disk 8:0 and its partition 8:1.
fn v2_tree(leaf: &str) -> (TempDir, Layout, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cgroup");
    put(&root, V2_ROOT_FILES);
    put(&root.join("cove"), V2_CGROUP_FILES);
    put(&root.join("cove"), &[("cgroup.controllers", ALL_V2)]);
    put(&root.join("cove").join(leaf), V2_CGROUP_FILES);
    put(
        &root.join("cove").join(leaf),
        &[("cgroup.controllers", ALL_V2)],
    );
    let block = tmp.path().join("block");
    put(&block.join("8:0"), &[("dev", "8:0\n")]);
    put(
        &block.join("8:1"),
        &[("dev", "8:1\n"), ("partition", "1\n")],
    );
    let layout = Layout::unified(&root).with_block_devices(&block);
    (tmp, layout, root)
}

fn full_resources() -> Resources {
    Resources {
        memory: MemoryResources {
            limit: Some(64 << 20),
            reservation: Some(32 << 20),
            swap: Some(16 << 20),
            oom_kill_disable: None,
            oom_group: Some(true),
            swappiness: None,
        },
        cpu: CpuResources {
            weight: Some(500),
            cpus: Some(0.5),
            cpuset_cpus: Some("1-2".into()),
            cpuset_mems: Some("0".into()),
            ..Default::default()
        },
        pids: PidsResources { max: Some(42) },
        io: IoResources {
            weight: Some(200),
            devices: vec![IoDeviceLimit {
                major: 8,
                minor: 0,
                read_bps: Some(1 << 20),
                write_iops: Some(100),
                ..Default::default()
            }],
        },
        hugetlb: vec![HugetlbLimit {
            page_size: "2MB".into(),
            limit: 4 << 21,
        }],
        ..Default::default()
    }
}

#[test]
fn v2_create_writes_every_controller_file() {
    let (_tmp, layout, root) = v2_tree("web");
    let cg = Cgroup::create(&layout, "/cove/web/", &full_resources()).unwrap();
    assert_eq!(cg.path(), "cove/web");
    assert_eq!(cg.version(), Version::V2);
    let d = root.join("cove/web");
    assert_eq!(get(&d, "memory.max"), "67108864");
    assert_eq!(get(&d, "memory.low"), "33554432");
    assert_eq!(get(&d, "memory.swap.max"), "16777216");
    assert_eq!(get(&d, "memory.oom.group"), "1");
    assert_eq!(get(&d, "cpu.weight"), "500");
    assert_eq!(get(&d, "cpu.max"), "50000 100000");
    assert_eq!(get(&d, "cpuset.cpus"), "1-2");
    assert_eq!(get(&d, "cpuset.mems"), "0");
    assert_eq!(get(&d, "pids.max"), "42");
    assert_eq!(get(&d, "io.weight"), "default 200");
    assert_eq!(get(&d, "io.max"), "8:0 rbps=1048576 wiops=100");
    assert_eq!(get(&d, "hugetlb.2MB.max"), "8388608");
    assert_eq!(get(&d, "hugetlb.1GB.max"), "max\n", "untouched");
    // Controllers are enabled in every ancestor, the leaf's own subtree_control is left alone.
    assert_eq!(
        get(&root, "cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +hugetlb +pids"
    );
    assert_eq!(
        get(&root.join("cove"), "cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +hugetlb +pids"
    );
    assert_eq!(get(&d, "cgroup.subtree_control"), "");
}

#[test]
fn v2_enables_only_what_is_offered_and_not_yet_enabled() {
    let (_tmp, layout, root) = v2_tree("web");
    fs::write(root.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
    fs::write(root.join("cove/cgroup.controllers"), "cpu memory pids\n").unwrap();
    fs::write(root.join("cove/cgroup.subtree_control"), "memory\n").unwrap();
    Cgroup::create(&layout, "cove/web", &Resources::default()).unwrap();
    assert_eq!(
        get(&root, "cgroup.subtree_control"),
        "+cpuset +io +hugetlb +pids"
    );
    assert_eq!(
        get(&root.join("cove"), "cgroup.subtree_control"),
        "+cpu +pids"
    );
}

#[test]
fn v2_unlimited_values_and_period_only_update() {
    let (_tmp, layout, root) = v2_tree("web");
    let cg = Cgroup::create(&layout, "cove/web", &Resources::default()).unwrap();
    let d = root.join("cove/web");
    fs::write(d.join("cpu.max"), "30000 100000\n").unwrap();
    let period_only = Resources {
        cpu: CpuResources {
            period_us: Some(50_000),
            ..Default::default()
        },
        ..Default::default()
    };
    cg.update(&period_only).unwrap();
    assert_eq!(get(&d, "cpu.max"), "30000 50000", "the quota is kept");
    let unlimited = Resources {
        memory: MemoryResources {
            limit: Some(UNLIMITED),
            swap: Some(UNLIMITED),
            ..Default::default()
        },
        cpu: CpuResources {
            quota_us: Some(UNLIMITED),
            ..Default::default()
        },
        pids: PidsResources {
            max: Some(UNLIMITED),
        },
        io: IoResources {
            weight: None,
            devices: vec![IoDeviceLimit {
                major: 8,
                minor: 0,
                write_bps: Some(UNLIMITED),
                ..Default::default()
            }],
        },
        ..Default::default()
    };
    cg.update(&unlimited).unwrap();
    assert_eq!(get(&d, "memory.max"), "max");
    assert_eq!(get(&d, "memory.swap.max"), "max");
    assert_eq!(get(&d, "cpu.max"), "max 100000");
    assert_eq!(get(&d, "pids.max"), "max");
    assert_eq!(get(&d, "io.max"), "8:0 wbps=max");
}

#[test]
fn v2_bfq_weight_when_io_weight_is_missing() {
    let (_tmp, layout, root) = v2_tree("web");
    let d = root.join("cove/web");
    fs::remove_file(d.join("io.weight")).unwrap();
    put(&d, &[("io.bfq.weight", "default 100\n")]);
    let res = Resources {
        io: IoResources {
            weight: Some(10_000),
            devices: vec![],
        },
        ..Default::default()
    };
    Cgroup::create(&layout, "cove/web", &res).unwrap();
    assert_eq!(get(&d, "io.bfq.weight"), "1000");
    fs::remove_file(d.join("io.bfq.weight")).unwrap();
    let err = Cgroup::create(&layout, "cove/web", &res).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::FileUnavailable {
                field: "io.weight",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn v2_validation_refuses_before_creating_anything() {
    let (_tmp, layout, root) = v2_tree("web");
    let cases: Vec<(Resources, &str)> = vec![
        (
            Resources {
                cpu: CpuResources {
                    cpuset_cpus: Some("2-5".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            "cpu.cpuset_cpus",
        ),
        (
            Resources {
                cpu: CpuResources {
                    cpuset_mems: Some("1".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            "cpu.cpuset_mems",
        ),
        (
            Resources {
                io: IoResources {
                    weight: None,
                    devices: vec![IoDeviceLimit {
                        major: 9,
                        minor: 9,
                        read_bps: Some(1),
                        ..Default::default()
                    }],
                },
                ..Default::default()
            },
            "io.devices",
        ),
        (
            Resources {
                io: IoResources {
                    weight: None,
                    devices: vec![IoDeviceLimit {
                        major: 8,
                        minor: 1,
                        read_bps: Some(1),
                        ..Default::default()
                    }],
                },
                ..Default::default()
            },
            "io.devices",
        ),
        (
            Resources {
                memory: MemoryResources {
                    limit: Some(1 << 20),
                    ..Default::default()
                },
                ..Default::default()
            },
            "memory.limit",
        ),
    ];
    for (res, field) in cases {
        let err = Cgroup::create(&layout, "fresh/leaf", &res).unwrap_err();
        match &err {
            CgroupError::InvalidResource { field: f, .. } => assert_eq!(*f, field, "{err}"),
            other => panic!("{field}: expected InvalidResource, got {other}"),
        }
        assert!(
            !root.join("fresh").exists(),
            "{field}: nothing may be created"
        );
    }
    // The cpuset bound comes from the nearest ancestor that has the effective file.
    fs::write(root.join("cove/cpuset.cpus.effective"), "3\n").unwrap();
    let res = Resources {
        cpu: CpuResources {
            cpuset_cpus: Some("2".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Cgroup::create(&layout, "cove/web", &res).unwrap_err();
    assert!(
        err.to_string()
            .contains("outside the parent's cpuset.cpus.effective (3)"),
        "{err}"
    );
}

#[test]
fn v2_controller_not_offered_is_refused() {
    let (_tmp, layout, root) = v2_tree("web");
    fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    let res = Resources {
        hugetlb: vec![HugetlbLimit {
            page_size: "2MB".into(),
            limit: 0,
        }],
        ..Default::default()
    };
    let err = Cgroup::create(&layout, "other/x", &res).unwrap_err();
    assert!(
        matches!(&err, CgroupError::ControllerUnavailable { controller: "hugetlb", path, .. } if *path == root),
        "{err}"
    );
    assert!(!root.join("other").exists());
}

#[test]
fn v2_failed_create_removes_what_it_created() {
    let (_tmp, layout, root) = v2_tree("web");
    // `new` and `new/leaf` do not exist: created by the call, then the fake `new` has no
    // cgroup.controllers, so enabling controllers in it fails.
    let err = Cgroup::create(&layout, "new/leaf", &Resources::default()).unwrap_err();
    assert!(matches!(err, CgroupError::Read { .. }), "{err}");
    assert!(!root.join("new").exists());
    // An apply failure after the directories exist: only the created leaf goes.
    let err = Cgroup::create_unvalidated(&layout, "cove/fresh", &full_resources()).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::Write {
                controller: "memory",
                ..
            }
        ),
        "{err}"
    );
    assert!(!root.join("cove/fresh").exists());
    assert!(root.join("cove").exists(), "pre-existing ancestors stay");
}

#[test]
fn v2_device_rules_are_validated_then_need_bpf() {
    let (_tmp, layout, root) = v2_tree("web");
    let bad = Resources {
        devices: vec![
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceKind::Block, Some(8), None, "rx"),
        ],
        ..Default::default()
    };
    let err = Cgroup::create(&layout, "cove/new", &bad).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            CgroupError::InvalidResource {
                field: "devices",
                ..
            }
        ),
        "{err}"
    );
    assert!(text.contains("rule 1: allow b 8:* rx"), "{text}");
    assert!(!root.join("cove/new").exists(), "nothing created");
    // A fake directory is no cgroup: the bpf(2) query or load fails (EBADF, or EPERM when not
    // root), the error names the operation, and the new directory is removed again.
    let good = Resources {
        devices: default_container_devices(),
        ..Default::default()
    };
    let err = Cgroup::create(&layout, "cove/new", &good).unwrap_err();
    assert!(
        matches!(err, CgroupError::Bpf { .. } | CgroupError::BpfLoad { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("eBPF device filter"), "{err}");
    assert!(!root.join("cove/new").exists(), "rolled back");
}

#[test]
fn v2_missing_hugetlb_size_is_a_clear_error() {
    let (_tmp, layout, _root) = v2_tree("web");
    let res = Resources {
        hugetlb: vec![HugetlbLimit {
            page_size: "16MB".into(),
            limit: 0,
        }],
        ..Default::default()
    };
    let err = Cgroup::create(&layout, "cove/web", &res).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::FileUnavailable {
                field: "hugetlb",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn v2_pids_fd_freeze_remove() {
    let (_tmp, layout, root) = v2_tree("web");
    let cg = Cgroup::create(&layout, "cove/web", &Resources::default()).unwrap();
    let d = root.join("cove/web");
    cg.add_pid(4242).unwrap();
    assert_eq!(get(&d, "cgroup.procs"), "4242");
    fs::write(d.join("cgroup.procs"), "7\n3\n").unwrap();
    assert_eq!(cg.pids().unwrap(), [3, 7]);
    let fd = cg.dir_fd().unwrap();
    let link = fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .unwrap();
    assert_eq!(link, d);
    fs::write(d.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    cg.freeze().unwrap();
    assert_eq!(get(&d, "cgroup.freeze"), "1");
    fs::write(d.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    cg.thaw().unwrap();
    assert_eq!(get(&d, "cgroup.freeze"), "0");
    // A cgroup the call created (empty in the fake tree) is removed; removing twice is fine.
    let fresh = Cgroup::create(&layout, "cove/empty", &Resources::default()).unwrap();
    assert!(root.join("cove/empty").is_dir());
    let again = Cgroup::open(&layout, "cove/empty").unwrap();
    fresh.remove().unwrap();
    assert!(!root.join("cove/empty").exists());
    again.remove().unwrap();
    assert!(matches!(
        Cgroup::open(&layout, "cove/empty"),
        Err(CgroupError::NotFound { .. })
    ));
}

#[test]
fn invalid_paths() {
    let (_tmp, layout, _root) = v2_tree("web");
    for bad in ["", "/", "a/../b", "a//b", "./a"] {
        let err = Cgroup::create(&layout, bad, &Resources::default()).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidPath { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn v2_stats_from_sample_files() {
    let (_tmp, layout, root) = v2_tree("web");
    let d = root.join("cove/web");
    put(
        &d,
        &[
            ("memory.current", "10485760\n"),
            ("memory.peak", "20971520\n"),
            ("memory.swap.current", "4096\n"),
            ("memory.stat", "anon 8388608\nfile 1048576\nkernel 262144\nshmem 0\npgfault 77\n"),
            ("memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n"),
            (
                "cpu.stat",
                "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\nnr_periods 20\n\
                 nr_throttled 15\nthrottled_usec 800000\nnr_bursts 0\nburst_usec 0\n",
            ),
            ("pids.current", "3\n"),
            ("pids.peak", "9\n"),
            ("pids.events", "max 4\n"),
            ("io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.current", "2097152\n"),
            ("hugetlb.2MB.events", "max 1\n"),
            ("hugetlb.2MB.rsvd.current", "0\n"),
            ("cpu.pressure", "some avg10=12.50 avg60=3.00 avg300=1.00 total=99\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"),
            ("memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"),
        ],
    );
    fs::write(d.join("memory.max"), "67108864\n").unwrap();
    let cg = Cgroup::open(&layout, "cove/web").unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.memory.current, Some(10 << 20));
    assert_eq!(s.memory.peak, Some(20 << 20));
    assert_eq!(s.memory.limit, Some(64 << 20));
    assert_eq!(s.memory.swap_current, Some(4096));
    assert_eq!(s.memory.anon, Some(8 << 20));
    assert_eq!(s.memory.file, Some(1 << 20));
    assert_eq!(s.memory.oom_events, Some(2));
    assert_eq!(s.memory.oom_kill_events, Some(1));
    assert_eq!(s.memory.raw["pgfault"], 77);
    assert_eq!(s.cpu.usage_usec, Some(2_000_000));
    assert_eq!(s.cpu.user_usec, Some(1_500_000));
    assert_eq!(s.cpu.system_usec, Some(500_000));
    assert_eq!(s.cpu.nr_periods, Some(20));
    assert_eq!(s.cpu.nr_throttled, Some(15));
    assert_eq!(s.cpu.throttled_usec, Some(800_000));
    assert_eq!(
        s.pids,
        PidsStats {
            current: Some(3),
            peak: Some(9),
            limit: Some(UNLIMITED),
            limit_hits: Some(4)
        }
    );
    assert_eq!(
        s.io.devices,
        [IoDeviceStats {
            major: 8,
            minor: 0,
            read_bytes: 4096,
            write_bytes: 8192,
            read_ops: 1,
            write_ops: 2
        }]
    );
    // Only 2MB has a .current file (1GB has just .max; 2MB.rsvd.current is not a size).
    assert_eq!(
        s.hugetlb,
        [HugetlbStats {
            page_size: "2MB".into(),
            usage: 2 << 20,
            max_usage: None,
            failures: Some(1)
        }]
    );
    let cpu = s.pressure.cpu.unwrap();
    assert_eq!(cpu.some.avg10, 12.5);
    assert_eq!(cpu.full.unwrap().total_usec, 5);
    assert!(s.pressure.memory.is_some());
    assert!(s.pressure.io.is_none());
}

// ---------------------------------------------------------------- v1 ----

/// A fake v1 mount: directory name, controllers, control files with their contents.
type FakeMount<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);

const V1_COMMON: &[(&str, &str)] = &[("cgroup.procs", ""), ("tasks", "")];

/// Fake v1 hierarchies under `<tmp>/cgroup`: cpu and cpuacct co-mounted (`cpu,cpuacct`), and
/// memory, cpuset, pids, blkio, freezer, hugetlb, net_cls+net_prio; `cove/<leaf>` is
/// pre-created in each with its control files.
fn v1_tree(leaf: &str) -> (TempDir, Vec<Hierarchy>, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cgroup");
    let mounts: &[FakeMount] = &[
        (
            "cpu,cpuacct",
            &["cpu", "cpuacct"],
            &[
                ("cpu.shares", "1024\n"),
                ("cpu.cfs_period_us", "100000\n"),
                ("cpu.cfs_quota_us", "-1\n"),
                ("cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 3000000\nnr_bursts 0\nburst_time 0\n"),
                ("cpuacct.usage", "5000000000\n"),
                ("cpuacct.usage_user", "3000000000\n"),
                ("cpuacct.usage_sys", "2000000000\n"),
            ],
        ),
        (
            "memory",
            &["memory"],
            &[
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
                ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
                ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"),
                ("memory.swappiness", "60\n"),
            ],
        ),
        ("cpuset", &["cpuset"], &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n"), ("cpuset.effective_cpus", "0-3\n"), ("cpuset.effective_mems", "0\n")]),
        ("pids", &["pids"], &[("pids.max", "max\n"), ("pids.current", "0\n")]),
        (
            "blkio",
            &["blkio"],
            &[
                ("blkio.bfq.weight", "100\n"),
                ("blkio.throttle.read_bps_device", ""),
                ("blkio.throttle.write_bps_device", ""),
                ("blkio.throttle.read_iops_device", ""),
                ("blkio.throttle.write_iops_device", ""),
            ],
        ),
        ("freezer", &["freezer"], &[("freezer.state", "THAWED\n")]),
        ("devices", &["devices"], &[("devices.allow", ""), ("devices.deny", ""), ("devices.list", "a *:* rwm\n")]),
        ("hugetlb", &["hugetlb"], &[("hugetlb.2MB.limit_in_bytes", "9223372036854771712\n")]),
        ("net_cls,net_prio", &["net_cls", "net_prio"], &[("net_cls.classid", "0\n"), ("net_prio.ifpriomap", "lo 0\n")]),
    ];
    let mut hierarchies = Vec::new();
    for (dir, controllers, files) in mounts {
        let mount = root.join(dir);
        put(&mount, V1_COMMON);
        put(&mount, files);
        put(&mount.join("cove"), V1_COMMON);
        put(&mount.join("cove"), files);
        put(&mount.join("cove").join(leaf), V1_COMMON);
        put(&mount.join("cove").join(leaf), files);
        hierarchies.push(Hierarchy::new(mount, controllers));
    }
    // A named hierarchy that must never be touched.
    let systemd = root.join("systemd");
    put(&systemd, V1_COMMON);
    hierarchies.push(Hierarchy {
        mount_point: systemd,
        controllers: vec![],
        name: Some("systemd".into()),
    });
    let block = tmp.path().join("block");
    put(&block.join("8:0"), &[("dev", "8:0\n")]);
    (tmp, hierarchies, block)
}

fn v1_resources() -> Resources {
    Resources {
        memory: MemoryResources {
            limit: Some(64 << 20),
            reservation: Some(32 << 20),
            swap: Some(16 << 20),
            oom_kill_disable: Some(true),
            oom_group: None,
            swappiness: Some(30),
        },
        cpu: CpuResources {
            weight: Some(100),
            cpus: Some(1.5),
            period_us: Some(50_000),
            cpuset_cpus: Some("3".into()),
            cpuset_mems: Some("0".into()),
            ..Default::default()
        },
        pids: PidsResources { max: Some(7) },
        io: IoResources {
            weight: Some(10_000),
            devices: vec![IoDeviceLimit {
                major: 8,
                minor: 0,
                read_bps: Some(1 << 20),
                write_bps: Some(UNLIMITED),
                read_iops: None,
                write_iops: Some(50),
            }],
        },
        hugetlb: vec![HugetlbLimit {
            page_size: "2MB".into(),
            limit: 2 << 21,
        }],
        net_cls_classid: Some(0x10001),
        net_prio: vec![NetPriority {
            interface: "eth0".into(),
            priority: 5,
        }],
        devices: vec![
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceKind::Char, Some(1), Some(3), "rwm"),
        ],
    }
}

#[test]
fn v1_create_writes_every_controller_file() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let layout = Layout::legacy(hierarchies).with_block_devices(block);
    let cg = Cgroup::create(&layout, "cove/web", &v1_resources()).unwrap();
    assert_eq!(cg.version(), Version::V1);
    let root = tmp.path().join("cgroup");
    let d = |h: &str| root.join(h).join("cove/web");
    assert_eq!(get(&d("memory"), "memory.limit_in_bytes"), "67108864");
    assert_eq!(
        get(&d("memory"), "memory.memsw.limit_in_bytes"),
        (80u64 << 20).to_string(),
        "limit + swap"
    );
    assert_eq!(get(&d("memory"), "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(get(&d("memory"), "memory.oom_control"), "1");
    assert_eq!(get(&d("memory"), "memory.swappiness"), "30");
    assert_eq!(get(&d("cpu,cpuacct"), "cpu.shares"), "2597");
    assert_eq!(get(&d("cpu,cpuacct"), "cpu.cfs_period_us"), "50000");
    assert_eq!(get(&d("cpu,cpuacct"), "cpu.cfs_quota_us"), "75000");
    assert_eq!(get(&d("cpuset"), "cpuset.cpus"), "3");
    assert_eq!(get(&d("cpuset"), "cpuset.mems"), "0");
    assert_eq!(get(&d("pids"), "pids.max"), "7");
    assert_eq!(get(&d("blkio"), "blkio.bfq.weight"), "1000");
    assert_eq!(
        get(&d("blkio"), "blkio.throttle.read_bps_device"),
        "8:0 1048576"
    );
    assert_eq!(
        get(&d("blkio"), "blkio.throttle.write_bps_device"),
        "8:0 0",
        "0 removes a v1 throttle"
    );
    assert_eq!(
        get(&d("blkio"), "blkio.throttle.read_iops_device"),
        "",
        "not set"
    );
    assert_eq!(
        get(&d("blkio"), "blkio.throttle.write_iops_device"),
        "8:0 50"
    );
    assert_eq!(get(&d("hugetlb"), "hugetlb.2MB.limit_in_bytes"), "4194304");
    assert_eq!(get(&d("net_cls,net_prio"), "net_cls.classid"), "65537");
    assert_eq!(get(&d("net_cls,net_prio"), "net_prio.ifpriomap"), "eth0 5");
    assert!(
        !root.join("systemd/cove").exists(),
        "name=systemd is never touched"
    );
    // The fake control files keep the last write: the deny-all went first as plain "a".
    assert_eq!(get(&d("devices"), "devices.deny"), "a");
    assert_eq!(get(&d("devices"), "devices.allow"), "c 1:3 rwm");
    assert_eq!(cg.device_filters().unwrap(), None, "v1: no eBPF");
    assert_eq!(cg.dirs().len(), 9);
    assert_eq!(cg.v1_dir("cpuacct"), Some(d("cpu,cpuacct").as_path()));
}

#[test]
fn v1_swap_uses_the_current_limit_and_blkio_weight_scale() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let layout = Layout::legacy(hierarchies).with_block_devices(block);
    let root = tmp.path().join("cgroup");
    let mem = root.join("memory/cove/web");
    fs::write(mem.join("memory.limit_in_bytes"), "104857600\n").unwrap();
    put(&root.join("blkio/cove/web"), &[("blkio.weight", "500\n")]);
    let res = Resources {
        memory: MemoryResources {
            swap: Some(10 << 20),
            ..Default::default()
        },
        io: IoResources {
            weight: Some(1),
            devices: vec![],
        },
        ..Default::default()
    };
    let cg = Cgroup::create(&layout, "cove/web", &res).unwrap();
    assert_eq!(
        get(&mem, "memory.memsw.limit_in_bytes"),
        (110u64 << 20).to_string()
    );
    assert_eq!(
        get(&mem, "memory.limit_in_bytes"),
        "104857600\n",
        "untouched"
    );
    assert_eq!(
        get(&root.join("blkio/cove/web"), "blkio.weight"),
        "10",
        "blkio.weight is preferred, 10..=1000"
    );
    // Unlimited swap (or limit) makes memsw unlimited; an unlimited limit is -1.
    let unlimited = Resources {
        memory: MemoryResources {
            limit: Some(UNLIMITED),
            swap: Some(UNLIMITED),
            ..Default::default()
        },
        cpu: CpuResources {
            quota_us: Some(UNLIMITED),
            ..Default::default()
        },
        ..Default::default()
    };
    cg.update(&unlimited).unwrap();
    assert_eq!(get(&mem, "memory.memsw.limit_in_bytes"), "-1");
    assert_eq!(get(&mem, "memory.limit_in_bytes"), "-1");
    assert_eq!(
        get(&root.join("cpu,cpuacct/cove/web"), "cpu.cfs_quota_us"),
        "-1"
    );
    // Raising the limit above the current memsw keeps the swap amount (memsw written first).
    fs::write(mem.join("memory.limit_in_bytes"), "67108864\n").unwrap();
    fs::write(mem.join("memory.memsw.limit_in_bytes"), "75497472\n").unwrap(); // 64M + 8M
    let raise = Resources {
        memory: MemoryResources {
            limit: Some(128 << 20),
            ..Default::default()
        },
        ..Default::default()
    };
    cg.update(&raise).unwrap();
    assert_eq!(
        get(&mem, "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(
        get(&mem, "memory.memsw.limit_in_bytes"),
        (136u64 << 20).to_string()
    );
}

#[test]
fn v1_refusals() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let root = tmp.path().join("cgroup");
    let layout = Layout::legacy(hierarchies.clone()).with_block_devices(&block);
    let group = Resources {
        memory: MemoryResources {
            oom_group: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        Cgroup::create(&layout, "cove/web", &group),
        Err(CgroupError::Unsupported { .. })
    ));
    let cpus = Resources {
        cpu: CpuResources {
            cpuset_cpus: Some("4".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Cgroup::create(&layout, "cove/web", &cpus).unwrap_err();
    assert!(
        err.to_string()
            .contains("outside the parent's cpuset.effective_cpus (0-3)"),
        "{err}"
    );
    // Without the hugetlb and net_cls hierarchies those resources are refused up front.
    let fewer: Vec<Hierarchy> = hierarchies
        .into_iter()
        .filter(|h| !h.has("hugetlb") && !h.has("net_cls"))
        .collect();
    let layout = Layout::legacy(fewer).with_block_devices(&block);
    for res in [
        Resources {
            hugetlb: vec![HugetlbLimit {
                page_size: "2MB".into(),
                limit: 0,
            }],
            ..Default::default()
        },
        Resources {
            net_cls_classid: Some(1),
            ..Default::default()
        },
    ] {
        let err = Cgroup::create(&layout, "new/x", &res).unwrap_err();
        assert!(
            matches!(err, CgroupError::ControllerUnavailable { .. }),
            "{err}"
        );
    }
    assert!(!root.join("memory/new").exists());
}

#[test]
fn v1_failed_apply_removes_created_dirs_in_every_hierarchy() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let root = tmp.path().join("cgroup");
    // Without a cpuset hierarchy: new fake dirs have no control files, so the memory write of
    // the new cgroup fails after `new` and `new/leaf` were made in every hierarchy.
    let no_cpuset: Vec<Hierarchy> = hierarchies
        .into_iter()
        .filter(|h| !h.has("cpuset"))
        .collect();
    let layout = Layout::legacy(no_cpuset).with_block_devices(block);
    let res = Resources {
        memory: MemoryResources {
            limit: Some(64 << 20),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Cgroup::create(&layout, "new/leaf", &res).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::Write {
                controller: "memory",
                ..
            }
        ),
        "{err}"
    );
    for h in [
        "memory",
        "cpu,cpuacct",
        "pids",
        "blkio",
        "freezer",
        "hugetlb",
        "net_cls,net_prio",
    ] {
        assert!(!root.join(h).join("new").exists(), "{h}/new left behind");
    }
}

#[test]
fn v1_new_cpuset_is_filled_from_its_parent() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let root = tmp.path().join("cgroup");
    let cpuset: Vec<Hierarchy> = hierarchies
        .into_iter()
        .filter(|h| h.has("cpuset"))
        .collect();
    let layout = Layout::legacy(cpuset).with_block_devices(block);
    // An existing child with empty sets (as v1 creates them) is filled from the parent.
    let child = root.join("cpuset/cove/web/child");
    put(
        &child,
        &[
            ("cpuset.cpus", "\n"),
            ("cpuset.mems", "\n"),
            ("cgroup.procs", ""),
        ],
    );
    fs::write(root.join("cpuset/cove/web/cpuset.cpus"), "1-2\n").unwrap();
    Cgroup::create(&layout, "cove/web/child", &Resources::default()).unwrap();
    assert_eq!(get(&child, "cpuset.cpus"), "1-2");
    assert_eq!(get(&child, "cpuset.mems"), "0");
}

#[test]
fn v1_freeze_pids_and_fd() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let root = tmp.path().join("cgroup");
    let layout = Layout::legacy(hierarchies).with_block_devices(block);
    let cg = Cgroup::open(&layout, "cove/web").unwrap();
    assert!(matches!(
        cg.dir_fd(),
        Err(CgroupError::Unsupported {
            version: Version::V1,
            ..
        })
    ));
    cg.add_pid(99).unwrap();
    for h in [
        "memory",
        "cpu,cpuacct",
        "cpuset",
        "pids",
        "blkio",
        "freezer",
        "hugetlb",
        "net_cls,net_prio",
    ] {
        assert_eq!(
            get(&root.join(h).join("cove/web"), "cgroup.procs"),
            "99",
            "{h}"
        );
    }
    fs::write(root.join("pids/cove/web/cgroup.procs"), "5\n99\n").unwrap();
    assert_eq!(cg.pids().unwrap(), [5, 99], "union of all hierarchies");
    cg.freeze().unwrap(); // the fake file reads back what was written
    assert_eq!(
        get(&root.join("freezer/cove/web"), "freezer.state"),
        "FROZEN"
    );
    cg.thaw().unwrap();
    assert_eq!(
        get(&root.join("freezer/cove/web"), "freezer.state"),
        "THAWED"
    );
}

#[test]
fn v1_stats_from_sample_files() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let root = tmp.path().join("cgroup");
    let layout = Layout::legacy(hierarchies).with_block_devices(block);
    put(
        &root.join("memory/cove/web"),
        &[
            ("memory.usage_in_bytes", "10485760\n"),
            ("memory.max_usage_in_bytes", "31457280\n"),
            ("memory.memsw.usage_in_bytes", "10489856\n"),
            (
                "memory.stat",
                "cache 4096\nrss 8192\nmapped_file 0\npgfault 10\nhierarchical_memory_limit 67108864\n\
                 total_cache 1048576\ntotal_rss 8388608\ntotal_pgfault 12\n",
            ),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            ("memory.limit_in_bytes", "67108864\n"),
        ],
    );
    put(
        &root.join("pids/cove/web"),
        &[
            ("pids.current", "4\n"),
            ("pids.peak", "6\n"),
            ("pids.events", "max 3\n"),
            ("pids.max", "10\n"),
        ],
    );
    put(
        &root.join("blkio/cove/web"),
        &[
            ("blkio.throttle.io_service_bytes", "8:0 Read 40960\n8:0 Write 8192\n8:0 Sync 49152\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 49152\nTotal 49152\n"),
            ("blkio.throttle.io_serviced", "8:0 Read 10\n8:0 Write 2\n8:0 Sync 12\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12\nTotal 12\n"),
        ],
    );
    put(
        &root.join("hugetlb/cove/web"),
        &[
            ("hugetlb.2MB.usage_in_bytes", "4194304\n"),
            ("hugetlb.2MB.max_usage_in_bytes", "6291456\n"),
            ("hugetlb.2MB.failcnt", "1\n"),
        ],
    );
    let s = Cgroup::open(&layout, "cove/web").unwrap().stats().unwrap();
    assert_eq!(s.memory.current, Some(10 << 20));
    assert_eq!(s.memory.peak, Some(30 << 20));
    assert_eq!(s.memory.limit, Some(64 << 20));
    assert_eq!(s.memory.swap_current, Some(4096));
    assert_eq!(s.memory.anon, Some(8 << 20), "total_rss");
    assert_eq!(s.memory.file, Some(1 << 20), "total_cache");
    assert_eq!(s.memory.oom_events, None);
    assert_eq!(s.memory.oom_kill_events, Some(2));
    assert_eq!(s.cpu.usage_usec, Some(5_000_000));
    assert_eq!(s.cpu.user_usec, Some(3_000_000));
    assert_eq!(s.cpu.system_usec, Some(2_000_000));
    assert_eq!(s.cpu.nr_periods, Some(10));
    assert_eq!(s.cpu.nr_throttled, Some(4));
    assert_eq!(s.cpu.throttled_usec, Some(3_000));
    assert_eq!(
        s.pids,
        PidsStats {
            current: Some(4),
            peak: Some(6),
            limit: Some(10),
            limit_hits: Some(3)
        }
    );
    assert_eq!(
        s.io.devices,
        [IoDeviceStats {
            major: 8,
            minor: 0,
            read_bytes: 40960,
            write_bytes: 8192,
            read_ops: 10,
            write_ops: 2
        }]
    );
    assert_eq!(
        s.hugetlb,
        [HugetlbStats {
            page_size: "2MB".into(),
            usage: 4 << 20,
            max_usage: Some(6 << 20),
            failures: Some(1)
        }]
    );
    assert_eq!(
        s.pressure,
        PressureStats::default(),
        "no v2 mount in a legacy layout"
    );
}

// ------------------------------------------------------------ hybrid ----

#[test]
fn hybrid_uses_v1_controllers_and_tracks_in_unified() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let root = tmp.path().join("cgroup");
    let unified = root.join("unified");
    put(
        &unified,
        &[
            ("cgroup.controllers", "hugetlb\n"),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
        ],
    );
    put(
        &unified.join("cove/web"),
        &[
            ("cgroup.procs", ""),
            ("cgroup.kill", ""),
            (
                "cpu.pressure",
                "some avg10=1.00 avg60=0.00 avg300=0.00 total=10\n",
            ),
        ],
    );
    let layout = Layout::hybrid(hierarchies, &unified).with_block_devices(block);
    let cg = Cgroup::create(
        &layout,
        "cove/web",
        &Resources {
            pids: PidsResources { max: Some(3) },
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(cg.kind(), LayoutKind::Hybrid);
    assert_eq!(cg.version(), Version::V1);
    assert_eq!(get(&root.join("pids/cove/web"), "pids.max"), "3");
    assert_eq!(
        get(&unified, "cgroup.subtree_control"),
        "",
        "no controllers are enabled in the tracking hierarchy"
    );
    assert!(matches!(cg.dir_fd(), Err(CgroupError::Unsupported { .. })));
    cg.add_pid(77).unwrap();
    assert_eq!(get(&unified.join("cove/web"), "cgroup.procs"), "77");
    assert_eq!(get(&root.join("memory/cove/web"), "cgroup.procs"), "77");
    let s = cg.stats().unwrap();
    assert_eq!(s.pressure.cpu.unwrap().some.total_usec, 10);
    // A new cgroup is created in the unified hierarchy too (and rolled back with the rest).
    let err = Cgroup::create(
        &layout,
        "fresh",
        &Resources {
            pids: PidsResources { max: Some(3) },
            ..Default::default()
        },
    )
    .unwrap_err();
    // (The fake new cpuset directory has no files: filling it from the parent fails.)
    assert!(
        matches!(
            err,
            CgroupError::Read {
                controller: "cpuset",
                ..
            }
        ),
        "{err}"
    );
    assert!(!unified.join("fresh").exists());
    assert!(!root.join("memory/fresh").exists());
    // Device rules go to the v1 devices hierarchy, not to an eBPF filter on the tracking dir.
    cg.update(&Resources {
        devices: default_container_devices(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        get(&root.join("devices/cove/web"), "devices.allow"),
        "c 10:200 rwm"
    );
    assert_eq!(cg.device_filters().unwrap(), None);
}

#[test]
fn hybrid_without_a_v1_devices_hierarchy_uses_the_tracking_dir() {
    let (tmp, hierarchies, block) = v1_tree("web");
    let root = tmp.path().join("cgroup");
    let unified = root.join("unified");
    put(&unified.join("cove/web"), &[("cgroup.procs", "")]);
    let no_devices: Vec<Hierarchy> = hierarchies
        .into_iter()
        .filter(|h| !h.has("devices"))
        .collect();
    let res = Resources {
        devices: default_container_devices(),
        ..Default::default()
    };
    // The eBPF path is taken (and fails on a fake directory), the v1 files are not written.
    let hybrid = Layout::hybrid(no_devices.clone(), &unified).with_block_devices(&block);
    let err = Cgroup::create(&hybrid, "cove/web", &res).unwrap_err();
    assert!(
        matches!(err, CgroupError::Bpf { .. } | CgroupError::BpfLoad { .. }),
        "{err}"
    );
    assert_eq!(get(&root.join("devices/cove/web"), "devices.allow"), "");
    // Legacy without a devices hierarchy and without cgroup2: refused before anything.
    let legacy = Layout::legacy(no_devices).with_block_devices(&block);
    let err = Cgroup::create(&legacy, "cove/other", &res).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerUnavailable {
                field: "devices",
                ..
            }
        ),
        "{err}"
    );
    assert!(!root.join("memory/cove/other").exists());
}
