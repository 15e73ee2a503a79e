//! `config.json` → `Plan`: realistic configurations (the shape of `runc spec` and of podman's),
//! every refused field, JSON error positions, the `ociVersion` range. No root needed.

use std::path::{Path, PathBuf};

use caps::Capability;
use cove_cgroup::{DeviceKind, DeviceRule, Hierarchy, Layout, UNLIMITED};
use cove_container::plan::{
    IoPriority, IoPriorityClass, Personality, RootChoice, SchedPolicy, Scheduler,
};
use cove_ns::{IdMap, Namespace};
use cove_oci::config::{cgroup_mounts, load_bundle, lower_process, Bundle, ConfigError};
use cove_oci::resources::lower_resources;
use cove_rootfs::{DeviceKind as NodeKind, MountKind, MountSpec, Propagation};
use nix::sys::resource::Resource;
use serde_json::{json, Value};

/// A bundle directory with an empty `rootfs/` and `config.json`.
struct TestBundle {
    dir: tempfile::TempDir,
}

impl TestBundle {
    fn new(config: &Value) -> TestBundle {
        let b = TestBundle::raw(&serde_json::to_string_pretty(config).unwrap());
        std::fs::create_dir(b.dir.path().join("rootfs")).unwrap();
        b
    }

    fn raw(text: &str) -> TestBundle {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), text).unwrap();
        TestBundle { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn load(&self) -> Result<Bundle, ConfigError> {
        load_bundle(self.path(), "c1", 0)
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `runc spec` (runc 1.1+), as it prints it.
fn runc_spec() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// podman 5's shape (root, cgroupfs manager with --systemd-cgroup style path, netavark netns).
fn podman_spec(bundle: &Path) -> Value {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT"
    ]);
    let userdata = bundle.join("userdata");
    std::fs::create_dir_all(userdata.join("shm")).unwrap();
    for f in ["hostname", "resolv.conf", "hosts", ".containerenv"] {
        std::fs::write(userdata.join(f), "").unwrap();
    }
    let netns = bundle.join("netns-1234");
    std::fs::write(&netns, "").unwrap();
    let u = |f: &str| userdata.join(f).display().to_string();
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "user": {"uid": 0, "gid": 0, "umask": 18, "additionalGids": [0, 1, 2]},
            "args": ["/bin/sh", "-c", "echo hi"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "container=podman", "HOSTNAME=0123456789ab", "EMPTY="],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                        {"type": "RLIMIT_NPROC", "hard": 4194304, "soft": 4194304}],
            "oomScoreAdj": 0
        },
        "root": {"path": bundle.join("rootfs")},
        "hostname": "0123456789ab",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/etc/hostname", "type": "bind", "source": u("hostname"), "options": ["bind", "rprivate"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": u("resolv.conf"), "options": ["bind", "rprivate"]},
            {"destination": "/etc/hosts", "type": "bind", "source": u("hosts"), "options": ["bind", "rprivate"]},
            {"destination": "/dev/shm", "type": "bind", "source": u("shm"),
             "options": ["bind", "rprivate", "nosuid", "noexec", "nodev"]},
            {"destination": "/run/.containerenv", "type": "bind", "source": u(".containerenv"), "options": ["bind", "rprivate"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "annotations": {"io.container.manager": "libpod", "org.opencontainers.image.stopSignal": "15"},
        "linux": {
            "sysctl": {"net.ipv4.ping_group_range": "0 0"},
            "resources": {
                "devices": [{"allow": false, "access": "rwm"},
                            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}],
                "memory": {"limit": 268435456, "swap": 536870912},
                "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
                "pids": {"limit": 2048},
                "blockIO": {"weight": 500,
                            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]}
            },
            "cgroupsPath": "machine.slice:libpod:0123456789ab",
            "namespaces": [{"type": "pid"}, {"type": "network", "path": netns}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438,
                         "uid": 0, "gid": 0}],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [
                    {"names": ["read", "write", "exit_group", "execve"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
                ]
            },
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/sys"]
        }
    })
}

#[test]
fn relative_masked_and_readonly_paths_are_taken_from_the_containers_root() {
    // As runc joins them to the root (youki's contest: readonly_rel_paths).
    let mut spec = runc_spec();
    spec["linux"]["maskedPaths"] = json!(["proc/kcore"]);
    spec["linux"]["readonlyPaths"] = json!(["readonly_relpath", "./proc/sys"]);
    let b = TestBundle::new(&spec);
    let plan = b.load().unwrap().plan;
    assert_eq!(plan.rootfs.masked_paths, [PathBuf::from("/proc/kcore")]);
    assert_eq!(
        plan.rootfs.readonly_paths[..2],
        [
            PathBuf::from("/readonly_relpath"),
            PathBuf::from("/proc/sys")
        ]
    );
}

#[test]
fn a_runc_spec_config_lowers_into_a_plan() {
    let b = TestBundle::new(&runc_spec());
    let bundle = b.load().unwrap();
    let plan = &bundle.plan;
    let dir = std::fs::canonicalize(b.path()).unwrap();
    assert_eq!(bundle.dir, dir);
    assert_eq!(bundle.config_path, dir.join("config.json"));
    assert_eq!(plan.manifest, dir.join("config.json"));
    assert_eq!(bundle.oci_version, "1.0.2-dev");
    assert_eq!(plan.id, "c1");
    assert!(!plan.rootless);
    assert_eq!(plan.root.choice, RootChoice::Dir(dir.join("rootfs")));
    assert!(plan.root.readonly);
    assert_eq!(plan.hostname.as_deref(), Some("runc"));
    assert_eq!(plan.domainname, None);

    let p = &plan.process;
    assert_eq!(p.args, ["sh"]);
    assert_eq!(p.env[1], ("TERM".to_string(), "xterm".to_string()));
    assert_eq!(p.cwd, PathBuf::from("/"));
    assert_eq!((p.uid, p.gid, p.umask), (0, 0, None));
    assert!(p.terminal);
    assert_eq!(p.console_size, None);
    assert_eq!(p.personality, None);
    assert_eq!(p.io_priority, None);
    assert_eq!(p.scheduler, None);

    let ns = &plan.namespaces;
    for kind in [
        Namespace::Pid,
        Namespace::Net,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Mount,
        Namespace::Cgroup,
    ] {
        assert!(ns.is_new(kind), "{kind}");
    }
    assert!(!ns.is_new(Namespace::User));
    assert!(ns.join.is_empty());

    let s = &plan.security;
    let three: caps::CapsHashSet = [
        Capability::CAP_AUDIT_WRITE,
        Capability::CAP_KILL,
        Capability::CAP_NET_BIND_SERVICE,
    ]
    .into_iter()
    .collect();
    assert_eq!(s.capabilities, three);
    let sets = s.capability_sets.as_ref().unwrap();
    assert_eq!(sets.effective, three);
    assert_eq!(sets.permitted, three);
    assert!(sets.inheritable.is_empty());
    // runc spec asks for ambient capabilities without inheritable ones: they cannot be raised.
    assert!(sets.ambient.is_empty());
    assert!(s.no_new_privileges);
    assert_eq!(s.rlimits.len(), 1);
    assert_eq!(s.rlimits[0].resource, Resource::RLIMIT_NOFILE);
    assert_eq!((s.rlimits[0].soft, s.rlimits[0].hard), (1024, 1024));
    assert!(s.seccomp.filter.is_none(), "no linux.seccomp: no filter");

    // The deny-all rule, then cove's default allows.
    let res = plan.resources.as_ref().unwrap();
    assert_eq!(res.devices[0], DeviceRule::deny_all());
    assert!(res.devices[1..].iter().all(|r| r.allow));
    assert!(res.devices.iter().any(|r| r.v1_entry() == "c 1:3 rwm"));
    assert_eq!(plan.cgroup_path, None);

    assert_eq!(plan.rootfs.masked_paths.len(), 10);
    assert_eq!(plan.rootfs.readonly_paths[..5].len(), 5);
    assert_eq!(
        plan.rootfs.propagation,
        Propagation::Slave,
        "runc's default: rslave"
    );

    // Six plain mounts, then the cgroup mount expanded for this host.
    let kinds: Vec<MountKind> = plan.mounts.iter().take(6).map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            MountKind::Proc,
            MountKind::Tmpfs,
            MountKind::Devpts,
            MountKind::Tmpfs,
            MountKind::Mqueue,
            MountKind::Sysfs
        ]
    );
    assert_eq!(
        plan.mounts[1].options,
        strings(&["nosuid", "strictatime", "mode=755", "size=65536k"])
    );
    let layout = Layout::detect().unwrap();
    let options = strings(&["nosuid", "noexec", "nodev", "relatime", "ro"]);
    assert_eq!(
        plan.mounts[6..],
        cgroup_mounts(&layout, "cove/c1", true, &options)[..]
    );
}

#[test]
fn a_podman_config_lowers_into_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let b = TestBundle::new(&podman_spec(dir.path()));
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    let bundle = b.load().unwrap();
    let plan = &bundle.plan;
    assert_eq!(bundle.annotations["io.container.manager"], "libpod");
    assert_eq!(
        plan.root.choice,
        RootChoice::Dir(std::fs::canonicalize(dir.path().join("rootfs")).unwrap())
    );
    assert!(!plan.root.readonly);
    assert_eq!(plan.process.umask, Some(18));
    assert_eq!(plan.process.additional_gids, [0, 1, 2]);
    assert_eq!(plan.process.env[3], ("EMPTY".to_string(), String::new()));
    assert!(!plan.process.terminal);
    assert_eq!(plan.security.oom_score_adj, Some(0));
    assert!(!plan.security.no_new_privileges, "OCI default");
    assert_eq!(plan.security.capabilities.len(), 11);
    let sets = plan.security.capability_sets.as_ref().unwrap();
    assert_eq!(sets.effective, plan.security.capabilities);
    assert_eq!(sets.permitted, plan.security.capabilities);
    assert_eq!(plan.security.rlimits[1].resource, Resource::RLIMIT_NPROC);

    // seccomp: compiled, and it decides as the profile says.
    let filter = plan.security.seccomp.filter.as_ref().unwrap();
    assert_eq!(
        filter.check("read", [0; 6]),
        Some(cove_seccomp::Verdict::Allow)
    );
    assert_eq!(
        filter.check("mount", [0; 6]),
        Some(cove_seccomp::Verdict::Errno(38))
    );
    assert_eq!(
        filter.check("personality", [8, 0, 0, 0, 0, 0]),
        Some(cove_seccomp::Verdict::Errno(38))
    );
    assert_eq!(plan.security.seccomp.listener_path, None);

    // The network namespace is joined, so a net.* sysctl is the container's own.
    assert_eq!(
        plan.namespaces.join,
        [(Namespace::Net, dir.path().join("netns-1234"))]
    );
    assert_eq!(
        plan.rootfs.sysctl,
        [("net.ipv4.ping_group_range".to_string(), "0 0".to_string())]
    );
    assert_eq!(
        plan.cgroup_path.as_deref(),
        Some("machine.slice/libpod-0123456789ab.scope")
    );
    assert_eq!(
        plan.rootfs.devices,
        [cove_rootfs::DeviceNode {
            path: "/dev/fuse".into(),
            kind: NodeKind::Char,
            major: 10,
            minor: 229,
            mode: 0o666,
            uid: 0,
            gid: 0
        }]
    );
    assert_eq!(
        plan.rootfs.masked_paths,
        [
            PathBuf::from("/proc/acpi"),
            "/proc/kcore".into(),
            "/sys/firmware".into()
        ]
    );

    let res = plan.resources.as_ref().unwrap();
    assert_eq!(res.memory.limit, Some(256 << 20));
    assert_eq!(
        res.memory.swap,
        Some(256 << 20),
        "memory+swap 512M over a 256M limit"
    );
    assert_eq!(res.cpu.weight, Some(100), "1024 shares");
    assert_eq!(
        (res.cpu.quota_us, res.cpu.period_us),
        (Some(50_000), Some(100_000))
    );
    assert_eq!(res.cpu.cpuset_cpus.as_deref(), Some("0"));
    assert_eq!(res.pids.max, Some(2048));
    assert_eq!(res.io.weight, Some(1 + 490 * 9999 / 990));
    assert_eq!(res.io.devices.len(), 1);
    assert_eq!(res.io.devices[0].read_bps, Some(1 << 20));
    assert_eq!(res.io.devices[0].write_iops, Some(100));
    assert_eq!(res.devices[0], DeviceRule::deny_all());
    assert_eq!(
        res.devices[1],
        DeviceRule::allow(DeviceKind::Char, Some(10), Some(229), "rwm")
    );
    assert!(res.devices[2..]
        .iter()
        .all(|r| r.allow && r.kind != DeviceKind::All));

    let binds: Vec<&MountSpec> = plan
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Bind)
        .collect();
    assert_eq!(binds.len(), 5);
    assert_eq!(binds[0].target, PathBuf::from("/etc/hostname"));
    assert_eq!(
        binds[0].source.as_deref(),
        Some(dir.path().join("userdata/hostname").as_path())
    );
    assert_eq!(
        binds[3].options,
        strings(&["bind", "rprivate", "nosuid", "noexec", "nodev"])
    );
    let layout = Layout::detect().unwrap();
    let options = strings(&["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]);
    let cgroup = cgroup_mounts(
        &layout,
        "machine.slice/libpod-0123456789ab.scope",
        true,
        &options,
    );
    assert_eq!(plan.mounts[plan.mounts.len() - cgroup.len()..], cgroup[..]);
    let hooks = bundle.hooks;
    assert!(hooks.is_none());
}

#[test]
fn cgroup_mounts_on_a_unified_host() {
    let ro = strings(&["nosuid", "ro"]);
    let layout = Layout::unified("/sys/fs/cgroup");
    let with_ns = cgroup_mounts(&layout, "a/b", true, &ro);
    assert_eq!(with_ns.len(), 1);
    assert_eq!(with_ns[0].kind, MountKind::Cgroup2);
    assert_eq!(with_ns[0].target, PathBuf::from("/sys/fs/cgroup"));
    assert_eq!(with_ns[0].options, ro);
    let without = cgroup_mounts(&layout, "a/b", false, &ro);
    assert_eq!(
        without,
        [MountSpec::bind(
            "/sys/fs/cgroup/a/b",
            "/sys/fs/cgroup",
            &["rbind", "nosuid", "ro"]
        )]
    );
}

#[test]
fn cgroup_mounts_on_a_hybrid_host() {
    let ro = strings(&["nosuid", "ro"]);
    let layout = Layout::hybrid(
        vec![
            Hierarchy::new("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"]),
            Hierarchy::new("/sys/fs/cgroup/memory", &["memory"]),
            Hierarchy {
                mount_point: "/sys/fs/cgroup/systemd".into(),
                controllers: Vec::new(),
                name: Some("systemd".into()),
            },
        ],
        "/sys/fs/cgroup/unified",
    );
    let with_ns = cgroup_mounts(&layout, "cove/c1", true, &ro);
    let summary: Vec<(MountKind, String, Vec<String>)> = with_ns
        .iter()
        .map(|m| (m.kind, m.target.display().to_string(), m.options.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                MountKind::Tmpfs,
                "/sys/fs/cgroup".into(),
                strings(&["nosuid", "mode=755"])
            ),
            (
                MountKind::Cgroup,
                "/sys/fs/cgroup/cpu,cpuacct".into(),
                strings(&["nosuid", "ro", "cpu", "cpuacct"])
            ),
            (
                MountKind::Cgroup,
                "/sys/fs/cgroup/memory".into(),
                strings(&["nosuid", "ro", "memory"])
            ),
            (
                MountKind::Cgroup2,
                "/sys/fs/cgroup/unified".into(),
                ro.clone()
            ),
        ]
    );
    let without = cgroup_mounts(&layout, "cove/c1", false, &ro);
    let binds: Vec<(String, String)> = without[1..]
        .iter()
        .map(|m| {
            assert_eq!(m.kind, MountKind::Bind);
            assert_eq!(m.options, strings(&["rbind", "nosuid", "ro"]));
            (
                m.source.as_ref().unwrap().display().to_string(),
                m.target.display().to_string(),
            )
        })
        .collect();
    assert_eq!(
        binds,
        [
            (
                "/sys/fs/cgroup/cpu,cpuacct/cove/c1".into(),
                "/sys/fs/cgroup/cpu,cpuacct".into()
            ),
            (
                "/sys/fs/cgroup/memory/cove/c1".into(),
                "/sys/fs/cgroup/memory".into()
            ),
            (
                "/sys/fs/cgroup/unified/cove/c1".into(),
                "/sys/fs/cgroup/unified".into()
            ),
        ]
    );
}

#[test]
fn a_read_only_cgroup_mount_on_a_v1_host_is_made_read_only_after_its_hierarchies() {
    let layout = Layout::detect().unwrap();
    let plan = TestBundle::new(&runc_spec()).load().unwrap().plan;
    let made_ro = plan
        .rootfs
        .readonly_paths
        .contains(&PathBuf::from("/sys/fs/cgroup"));
    assert_eq!(made_ro, layout.kind() != cove_cgroup::LayoutKind::Unified);
}

#[test]
fn without_a_cgroup_namespace_the_cgroup_mount_binds_the_containers_cgroup() {
    let mut spec = runc_spec();
    spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    spec["linux"]["cgroupsPath"] = json!("/my/cg");
    spec.as_object_mut().unwrap().remove("hostname");
    let plan = TestBundle::new(&spec).load().unwrap().plan;
    let layout = Layout::detect().unwrap();
    let options = strings(&["nosuid", "noexec", "nodev", "relatime", "ro"]);
    assert_eq!(
        plan.mounts[6..],
        cgroup_mounts(&layout, "my/cg", false, &options)[..]
    );
    assert!(plan.mounts[6..]
        .iter()
        .any(|m| m.kind == MountKind::Bind
            && m.source.as_ref().is_some_and(|s| s.ends_with("my/cg"))));
}

#[test]
fn a_rootless_config_maps_ids_and_uses_the_helpers_beyond_its_own_id() {
    let mut spec = runc_spec();
    spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                         {"type": "mount"}, {"type": "user"}]);
    spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec["linux"].as_object_mut().unwrap().remove("resources");
    spec["mounts"].as_array_mut().unwrap().pop();
    let b = TestBundle::new(&spec);
    let plan = load_bundle(b.path(), "rootless-1", 1000).unwrap().plan;
    assert!(plan.rootless);
    assert!(plan.namespaces.is_new(Namespace::User));
    assert_eq!(plan.namespaces.uid_map, [IdMap::new(0, 100000, 65536)]);
    assert_eq!(plan.namespaces.gid_map, [IdMap::new(0, 100000, 65536)]);
    assert!(plan.namespaces.id_map_helpers);
    assert_eq!(plan.resources, None);
}

#[test]
fn rootless_needs_a_user_namespace() {
    let b = TestBundle::new(&runc_spec());
    let err = load_bundle(b.path(), "c1", 1000).unwrap_err().to_string();
    assert!(
        err.contains("linux.namespaces: running as a non-root user needs a user namespace"),
        "{err}"
    );
}

#[test]
fn an_idmapped_bind_with_the_containers_maps_gets_the_idmap_option() {
    let mut spec = runc_spec();
    let maps = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    spec["linux"]["uidMappings"] = maps.clone();
    spec["linux"]["gidMappings"] = maps.clone();
    let b = TestBundle::new(&spec);
    std::fs::create_dir(b.path().join("data")).unwrap();
    spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": "data", "options": ["rbind"],
        "uidMappings": maps, "gidMappings": maps
    }));
    std::fs::write(b.path().join("config.json"), spec.to_string()).unwrap();
    let plan = b.load().unwrap().plan;
    let data = plan
        .mounts
        .iter()
        .find(|m| m.target == Path::new("/data"))
        .unwrap();
    assert_eq!(data.options, strings(&["rbind", "idmap"]));
    assert_eq!(
        data.source.as_deref(),
        Some(
            std::fs::canonicalize(b.path())
                .unwrap()
                .join("data")
                .as_path()
        )
    );
}

/// runtime-spec 1.1's recursive mount options, as contest's `mounts_recursive` group gives them.
const RECURSIVE_OPTIONS: [&str; 18] = [
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

#[test]
fn recursive_mount_options_lower_on_binds_and_other_mounts() {
    let mut spec = runc_spec();
    let b = TestBundle::new(&spec);
    std::fs::create_dir(b.path().join("data")).unwrap();
    let mounts = spec["mounts"].as_array_mut().unwrap();
    for option in RECURSIVE_OPTIONS {
        mounts.push(json!({
            "destination": format!("/mnt/{option}"), "source": "data", "options": ["rbind", option]
        }));
    }
    mounts.push(
        json!({"destination": "/ro", "type": "bind", "source": "data", "options": ["rbind", "ro"]}),
    );
    mounts.push(json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["rro", "rnoexec"]}));
    std::fs::write(b.path().join("config.json"), spec.to_string()).unwrap();
    let plan = b.load().unwrap().plan;
    let at = |target: &str| {
        plan.mounts
            .iter()
            .find(|m| m.target == Path::new(target))
            .unwrap_or_else(|| panic!("no mount on {target}"))
    };
    for option in RECURSIVE_OPTIONS {
        let m = at(&format!("/mnt/{option}"));
        assert_eq!(m.kind, MountKind::Bind, "{option}");
        assert_eq!(m.options, strings(&["rbind", option]));
    }
    assert_eq!(at("/ro").options, strings(&["rbind", "ro"]));
    assert_eq!(at("/t").kind, MountKind::Tmpfs);
    assert_eq!(at("/t").options, strings(&["rro", "rnoexec"]));
    // The check has teeth: a misspelt one is refused with its index.
    let err = load_with("/mounts/3/options/0", json!("rnosiud"));
    assert_names(&err, "mounts[3]");
}

#[test]
fn lower_process_for_exec_uses_the_containers_seccomp_profile_and_personality() {
    let process: oci_spec::runtime::Process = serde_json::from_value(json!({
        "user": {"uid": 1000, "gid": 1000},
        "args": ["/bin/ps"], "cwd": "/tmp", "terminal": true,
        "consoleSize": {"height": 40, "width": 120},
        "env": ["A=1"], "noNewPrivileges": true,
        "capabilities": {"bounding": ["CAP_KILL"]}
    }))
    .unwrap();
    let linux: oci_spec::runtime::Linux = serde_json::from_value(json!({"seccomp": {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    }}))
    .unwrap();
    let (p, s) = lower_process(&process, Some(&linux), 0).unwrap();
    assert_eq!((p.uid, p.gid), (1000, 1000));
    assert_eq!(p.cwd, PathBuf::from("/tmp"));
    assert_eq!(p.console_size, Some((40, 120)));
    assert_eq!(s.capabilities, [Capability::CAP_KILL].into_iter().collect());
    assert_eq!(s.capability_sets.as_ref().unwrap().effective.len(), 0);
    let filter = s.seccomp.filter.as_ref().unwrap();
    assert_eq!(
        filter.check("mount", [0; 6]),
        Some(cove_seccomp::Verdict::Errno(1))
    );
    assert_eq!(p.personality, None);
    let (_, s) = lower_process(&process, None, 0).unwrap();
    assert!(s.seccomp.filter.is_none());
    let linux = serde_json::from_value(json!({"personality": {"domain": "LINUX32"}})).unwrap();
    let (p, _) = lower_process(&process, Some(&linux), 0).unwrap();
    assert_eq!(p.personality, Some(Personality::Linux32));
}

/// Loads the runc config with `value` at the JSON pointer `at`.
fn plan_with(at: &str, value: Value) -> cove_container::Plan {
    let mut spec = runc_spec();
    set(&mut spec, at, value);
    TestBundle::new(&spec).load().unwrap().plan
}

#[test]
fn linux_personality_lowers_to_the_execution_domain() {
    let plan = plan_with("/linux/personality", json!({"domain": "LINUX32"}));
    assert_eq!(plan.process.personality, Some(Personality::Linux32));
    let plan = plan_with(
        "/linux/personality",
        json!({"domain": "LINUX", "flags": []}),
    );
    assert_eq!(plan.process.personality, Some(Personality::Linux));
}

#[test]
fn an_unknown_personality_domain_is_refused() {
    let err = load_with("/linux/personality", json!({"domain": "LINUX64"}));
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn process_io_priority_lowers_to_class_and_level() {
    let plan = plan_with(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
    );
    let want = IoPriority {
        class: IoPriorityClass::Idle,
        level: 0,
    };
    assert_eq!(plan.process.io_priority, Some(want));
    assert_eq!(want.ioprio(), 3 << 13);
    let plan = plan_with(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_RT", "priority": 7}),
    );
    let rt = plan.process.io_priority.unwrap();
    assert_eq!((rt.class, rt.level), (IoPriorityClass::RealTime, 7));
    assert_eq!(rt.ioprio(), 1 << 13 | 7);
}

#[test]
fn process_io_priority_out_of_range_names_the_field() {
    for bad in [8, -1] {
        let err = load_with(
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": bad}),
        );
        assert_names(&err, "process.ioPriority.priority");
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
    }
}

#[test]
fn exec_processes_get_their_io_priority() {
    let mut process = runc_spec()["process"].clone();
    process["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    let process = serde_json::from_value(process).unwrap();
    let (p, _) = lower_process(&process, None, 0).unwrap();
    assert_eq!(
        p.io_priority,
        Some(IoPriority {
            class: IoPriorityClass::BestEffort,
            level: 6
        })
    );
}

#[test]
fn process_scheduler_lowers_to_policy_and_parameters() {
    let plan = plan_with(
        "/process/scheduler",
        json!({"policy": "SCHED_FIFO", "priority": 10,
               "flags": ["SCHED_RESET_ON_FORK", "SCHED_FLAG_UTIL_CLAMP_MAX"]}),
    );
    let want = Scheduler {
        policy: SchedPolicy::Fifo,
        nice: 0,
        priority: 10,
        flags: 0x41,
        runtime: 0,
        deadline: 0,
        period: 0,
    };
    assert_eq!(plan.process.scheduler, Some(want));
    let plan = plan_with(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": -5}),
    );
    let batch = plan.process.scheduler.unwrap();
    assert_eq!(
        (batch.policy, batch.nice, batch.policy.value()),
        (SchedPolicy::Batch, -5, 3)
    );
    let plan = plan_with(
        "/process/scheduler",
        json!({"policy": "SCHED_DEADLINE", "runtime": 10_000_000u64,
               "deadline": 20_000_000u64, "period": 30_000_000u64}),
    );
    let dl = plan.process.scheduler.unwrap();
    assert_eq!(
        (dl.policy.value(), dl.runtime, dl.deadline, dl.period),
        (6, 10_000_000, 20_000_000, 30_000_000)
    );
}

#[test]
fn process_scheduler_is_checked_as_runc_checks_it() {
    for (value, field) in [
        (
            json!({"policy": "SCHED_OTHER", "nice": 20}),
            "process.scheduler.nice",
        ),
        (
            json!({"policy": "SCHED_OTHER", "nice": -21}),
            "process.scheduler.nice",
        ),
        (
            json!({"policy": "SCHED_BATCH", "priority": 5}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_RR", "priority": -1}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_OTHER", "runtime": 1000}),
            "process.scheduler",
        ),
        (
            json!({"policy": "SCHED_FIFO", "period": 1000}),
            "process.scheduler",
        ),
    ] {
        let err = load_with("/process/scheduler", value.clone());
        assert_names(&err, field);
        assert!(matches!(err, ConfigError::Invalid { .. }), "{value}: {err}");
    }
}

#[test]
fn exec_processes_get_their_scheduler() {
    let mut process = runc_spec()["process"].clone();
    process["scheduler"] = json!({"policy": "SCHED_IDLE"});
    let process = serde_json::from_value(process).unwrap();
    let (p, _) = lower_process(&process, None, 0).unwrap();
    assert_eq!(p.scheduler.map(|s| s.policy), Some(SchedPolicy::Idle));
}

#[test]
fn without_capabilities_nothing_is_dropped() {
    let mut spec = runc_spec();
    spec["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let s = TestBundle::new(&spec).load().unwrap().plan.security;
    // Whatever this process holds (a host may have a reduced bounding set, as the project's has).
    let held = |set| caps::read(None, set).unwrap();
    assert_eq!(s.capabilities, held(caps::CapSet::Bounding));
    let sets = s.capability_sets.unwrap();
    assert_eq!(sets.permitted, held(caps::CapSet::Permitted));
    assert_eq!(sets.effective, sets.permitted);
}

#[test]
fn seccomp_notify_needs_a_listener_path() {
    let mut spec = runc_spec();
    spec["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]});
    let err = TestBundle::new(&spec).load().unwrap_err().to_string();
    assert!(err.contains("linux.seccomp.listenerPath"), "{err}");
    spec["linux"]["seccomp"]["listenerPath"] = json!("/run/agent.sock");
    let s = TestBundle::new(&spec).load().unwrap().plan.security;
    assert!(s.seccomp.notifies());
    assert_eq!(
        s.seccomp.listener_path.as_deref(),
        Some(Path::new("/run/agent.sock"))
    );
}

#[test]
fn a_bad_seccomp_profile_names_the_field() {
    let mut spec = runc_spec();
    spec["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]});
    let err = TestBundle::new(&spec).load().unwrap_err();
    assert_eq!(err.field(), Some("linux.seccomp"));
}

// ---- resources ----

fn resources(v: Value) -> Result<cove_cgroup::Resources, ConfigError> {
    lower_resources(&serde_json::from_value(v).unwrap())
}

#[test]
fn memory_swap_is_the_swap_beyond_the_limit() {
    let r = resources(
        json!({"memory": {"limit": 100 << 20, "swap": 300 << 20, "reservation": 50 << 20}}),
    )
    .unwrap();
    assert_eq!(r.memory.limit, Some(100 << 20));
    assert_eq!(r.memory.swap, Some(200 << 20));
    assert_eq!(r.memory.reservation, Some(50 << 20));
    let r = resources(json!({"memory": {"limit": 100 << 20, "swap": -1}})).unwrap();
    assert_eq!(r.memory.swap, Some(UNLIMITED));
    let r = resources(json!({"memory": {"limit": -1}})).unwrap();
    assert_eq!(
        (r.memory.limit, r.memory.swap),
        (Some(UNLIMITED), Some(UNLIMITED))
    );
    let r = resources(json!({"memory": {"limit": 100 << 20, "swap": 100 << 20}})).unwrap();
    assert_eq!(r.memory.swap, Some(0), "memory+swap = memory: no swap");
    for bad in [
        json!({"swap": 1 << 30}),
        json!({"limit": 200 << 20, "swap": 100 << 20}),
    ] {
        let err = resources(json!({"memory": bad})).unwrap_err();
        assert_eq!(err.field(), Some("linux.resources.memory.swap"), "{err}");
    }
}

#[test]
fn cpu_shares_become_a_weight_and_quota_minus_one_is_unlimited() {
    let w = |s: u64| cove_oci::resources::shares_to_weight(s);
    assert_eq!((w(2), w(1024), w(262144)), (1, 100, 10000));
    assert!(w(512) < 100 && w(2048) > 100);
    let r = resources(json!({"cpu": {"shares": 512, "quota": -1, "mems": "0"}})).unwrap();
    assert_eq!(r.cpu.weight, Some(w(512)));
    assert_eq!(r.cpu.quota_us, Some(UNLIMITED));
    assert_eq!(r.cpu.cpuset_mems.as_deref(), Some("0"));
    let r = resources(json!({"cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": ""}})).unwrap();
    assert_eq!(
        r.cpu,
        cove_cgroup::CpuResources::default(),
        "zeros and empty lists are unset"
    );
}

#[test]
fn pids_limit_zero_or_less_is_unlimited() {
    assert_eq!(
        resources(json!({"pids": {"limit": 0}})).unwrap().pids.max,
        Some(UNLIMITED)
    );
    assert_eq!(
        resources(json!({"pids": {"limit": -1}})).unwrap().pids.max,
        Some(UNLIMITED)
    );
    assert_eq!(
        resources(json!({"pids": {"limit": 7}})).unwrap().pids.max,
        Some(7)
    );
}

#[test]
fn hugepages_network_and_oom_killer() {
    let r = resources(json!({
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "memory": {"disableOOMKiller": true}
    }))
    .unwrap();
    assert_eq!(r.hugetlb[0].page_size, "2MB");
    assert_eq!(r.hugetlb[0].limit, 4 << 20);
    assert_eq!(r.net_cls_classid, Some(1048577));
    assert_eq!(r.net_prio[0].interface, "eth0");
    assert_eq!(r.memory.oom_kill_disable, Some(true));
}

#[test]
fn device_rules_are_checked() {
    let r = resources(json!({"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "b", "major": 8, "minor": -1, "access": "r"}]}))
    .unwrap();
    assert_eq!(
        r.devices[1],
        DeviceRule::allow(DeviceKind::Block, Some(8), None, "r")
    );
    let default_allows = cove_cgroup::default_container_devices().len() - 1;
    assert_eq!(r.devices.len(), 2 + default_allows);
    for (rule, field) in [
        (
            json!({"allow": true, "type": "p", "access": "r"}),
            "linux.resources.devices[0].type",
        ),
        (
            json!({"allow": true, "type": "c", "access": "rx"}),
            "linux.resources.devices[0].access",
        ),
        (
            json!({"allow": true, "type": "c", "major": 5000, "access": "r"}),
            "linux.resources.devices[0].major",
        ),
        (
            json!({"allow": true, "type": "a", "major": 1, "access": "rwm"}),
            "linux.resources.devices[0].type",
        ),
    ] {
        let err = resources(json!({"devices": [rule]})).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
}

#[test]
fn resource_errors_get_the_file_from_with_file() {
    let err = resources(json!({"memory": {"kernel": 1}})).unwrap_err();
    assert_eq!(err.to_string(), "linux.resources.memory.kernel: not supported by cove: kernel memory limits were removed from Linux 5.4 on");
    let err = err.with_file(Path::new("/b/resources.json"));
    assert!(
        err.to_string()
            .starts_with("/b/resources.json: linux.resources.memory.kernel: not supported by cove"),
        "{err}"
    );
}

// ---- JSON errors and versions ----

#[test]
fn json_errors_name_the_line_and_column() {
    let b = TestBundle::raw(
        "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {\"user\": {\"uid\": \"root\"}}\n}\n",
    );
    let err = b.load().unwrap_err();
    let config = std::fs::canonicalize(b.path()).unwrap().join("config.json");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:3:", config.display())),
        "{text}"
    );
    assert!(
        text.contains("invalid type: string \"root\", expected u32"),
        "{text}"
    );
    assert!(
        !text.contains(" at line "),
        "the position is not repeated: {text}"
    );
    let b = TestBundle::raw("{\"ociVersion\": \"1.0.2\",\n\"root\": }");
    assert!(b
        .load()
        .unwrap_err()
        .to_string()
        .contains("config.json:2:9: expected value"));
}

#[test]
fn oci_versions_1_0_to_1_3_are_read() {
    for v in [
        "1.0.0",
        "1.0.2-dev",
        "1.1.0-rc.1",
        "1.2.0",
        "1.2.1",
        "1.3.0",
        "1.3.7+dev",
    ] {
        let mut spec = runc_spec();
        spec["ociVersion"] = json!(v);
        let b = TestBundle::new(&spec);
        assert_eq!(b.load().unwrap().oci_version, v);
    }
}

#[test]
fn other_oci_versions_are_refused() {
    for v in ["", "0.6.0", "1.4.0", "2.0.0", "1.0", "1.x.0"] {
        let mut spec = runc_spec();
        spec["ociVersion"] = json!(v);
        let err = TestBundle::new(&spec).load().unwrap_err();
        assert!(matches!(err, ConfigError::Version { .. }), "{v}: {err}");
        assert!(
            err.to_string()
                .contains(&format!("ociVersion: `{v}` is not supported")),
            "{err}"
        );
    }
    // A config of another version whose shape differs: the version is named, not the shape.
    let b = TestBundle::raw(r#"{"ociVersion": "2.0.0", "process": "new shape"}"#);
    assert!(matches!(b.load().unwrap_err(), ConfigError::Version { .. }));
}

#[test]
fn a_missing_config_or_bundle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_bundle(dir.path(), "c1", 0).unwrap_err(),
        ConfigError::Read { .. }
    ));
    let gone = dir.path().join("gone");
    assert!(matches!(
        load_bundle(&gone, "c1", 0).unwrap_err(),
        ConfigError::Bundle { .. }
    ));
}

// ---- invalid values ----

/// Sets `value` at the JSON pointer `at` (creating objects on the way) in the runc config and
/// returns the load error.
fn load_with(at: &str, value: Value) -> ConfigError {
    let mut spec = runc_spec();
    set(&mut spec, at, value);
    let b = TestBundle::new(&spec);
    match b.load() {
        Ok(_) => panic!("{at} was accepted"),
        Err(e) => e,
    }
}

fn set(v: &mut Value, at: &str, value: Value) {
    let mut cur = v;
    let parts: Vec<&str> = at.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        cur = match cur {
            Value::Array(a) => &mut a[part.parse::<usize>().unwrap()],
            Value::Object(o) => {
                if last {
                    o.insert(part.to_string(), value);
                    return;
                }
                o.entry(part.to_string()).or_insert_with(|| json!({}))
            }
            other => panic!("cannot descend into {other}"),
        };
        if last {
            *cur = value;
            return;
        }
    }
}

/// The error names the field and the file.
fn assert_names(err: &ConfigError, field: &str) {
    let text = err.to_string();
    assert!(
        text.contains(&format!("{field}: ")),
        "{field} not in: {text}"
    );
    assert!(text.contains("config.json"), "no file in: {text}");
}

macro_rules! refused {
    ($($name:ident: $at:expr, $value:tt => $field:expr;)*) => {$(
        #[test]
        fn $name() {
            let err = load_with($at, json!($value));
            assert_names(&err, $field);
            assert!(matches!(err, ConfigError::Unsupported { .. }), "{err}");
            assert!(err.to_string().contains("not supported by cove"), "{err}");
        }
    )*};
}

refused! {
    refuses_linux_intel_rdt: "/linux/intelRdt", {"closID": "x"} => "linux.intelRdt";
    refuses_linux_personality_flags: "/linux/personality", {"domain": "LINUX32", "flags": ["x"]} => "linux.personality.flags";
    refuses_linux_memory_policy: "/linux/memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0"} => "linux.memoryPolicy";
    refuses_linux_net_devices: "/linux/netDevices", {"eth1": {"name": "eth0"}} => "linux.netDevices";
    refuses_linux_mount_label: "/linux/mountLabel", "system_u:object_r:container_file_t:s0" => "linux.mountLabel";
    refuses_process_apparmor_profile: "/process/apparmorProfile", "docker-default" => "process.apparmorProfile";
    refuses_process_selinux_label: "/process/selinuxLabel", "system_u:system_r:container_t:s0" => "process.selinuxLabel";
    refuses_process_scheduler_iso: "/process/scheduler", {"policy": "SCHED_ISO"} => "process.scheduler.policy";
    refuses_process_exec_cpu_affinity: "/process/execCPUAffinity", {"initial": "0"} => "process.execCPUAffinity";
    refuses_process_command_line: "/process/commandLine", "sh -c true" => "process.commandLine";
    refuses_process_user_username: "/process/user/username", "nobody" => "process.user.username";
    refuses_solaris: "/solaris", {"milestone": "x"} => "solaris";
    refuses_windows: "/windows", {"layerFolders": ["C:\\l"]} => "windows";
    refuses_vm: "/vm", {"kernel": {"path": "/vmlinuz"}} => "vm";
    refuses_zos: "/zos", {"namespaces": []} => "zos";
    refuses_memory_kernel: "/linux/resources/memory", {"kernel": 1048576} => "linux.resources.memory.kernel";
    refuses_memory_kernel_tcp: "/linux/resources/memory", {"kernelTCP": 1048576} => "linux.resources.memory.kernelTCP";
    refuses_memory_use_hierarchy_off: "/linux/resources/memory", {"useHierarchy": false} => "linux.resources.memory.useHierarchy";
    refuses_memory_check_before_update: "/linux/resources/memory", {"checkBeforeUpdate": true} => "linux.resources.memory.checkBeforeUpdate";
    refuses_cpu_realtime_runtime: "/linux/resources/cpu", {"realtimeRuntime": 950000} => "linux.resources.cpu.realtimeRuntime";
    refuses_cpu_realtime_period: "/linux/resources/cpu", {"realtimePeriod": 1000000} => "linux.resources.cpu.realtimePeriod";
    refuses_cpu_idle: "/linux/resources/cpu", {"idle": 1} => "linux.resources.cpu.idle";
    refuses_cpu_burst: "/linux/resources/cpu", {"burst": 1000} => "linux.resources.cpu.burst";
    refuses_blkio_leaf_weight: "/linux/resources/blockIO", {"leafWeight": 100} => "linux.resources.blockIO.leafWeight";
    refuses_blkio_weight_device: "/linux/resources/blockIO", {"weightDevice": [{"major": 8, "minor": 0, "weight": 100}]} => "linux.resources.blockIO.weightDevice";
    refuses_rdma: "/linux/resources/rdma", {"mlx5_1": {"hcaHandles": 3}} => "linux.resources.rdma";
    refuses_unified: "/linux/resources/unified", {"memory.high": "1G"} => "linux.resources.unified";
    refuses_a_host_wide_sysctl: "/linux/sysctl", {"kernel.pid_max": "4096"} => "linux.sysctl.kernel.pid_max";
    refuses_an_unknown_mount_type: "/mounts/0", {"destination": "/data", "type": "ext4", "source": "/dev/sda1"} => "mounts[0].type";
}

#[test]
fn refuses_mount_uid_mappings_other_than_the_containers() {
    let mut spec = runc_spec();
    let b = TestBundle::new(&spec);
    std::fs::create_dir(b.path().join("data")).unwrap();
    spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": "data", "options": ["rbind"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
    }));
    std::fs::write(b.path().join("config.json"), spec.to_string()).unwrap();
    let err = b.load().unwrap_err();
    assert_names(&err, "mounts[7].uidMappings");
    assert!(matches!(err, ConfigError::Unsupported { .. }), "{err}");
}

macro_rules! invalid {
    ($($name:ident: $at:expr, $value:tt => $field:expr;)*) => {$(
        #[test]
        fn $name() {
            let err = load_with($at, json!($value));
            assert_names(&err, $field);
        }
    )*};
}

invalid! {
    needs_args: "/process/args", [] => "process.args";
    needs_an_absolute_cwd: "/process/cwd", "tmp" => "process.cwd";
    needs_key_value_env: "/process/env/1", "NOEQUALS" => "process.env[1]";
    refuses_duplicate_rlimits: "/process/rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}, {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}] => "process.rlimits[1].type";
    refuses_soft_above_hard: "/process/rlimits/0", {"type": "RLIMIT_CORE", "hard": 1, "soft": 2} => "process.rlimits[0]";
    refuses_a_bad_oom_score_adj: "/process/oomScoreAdj", 1001 => "process.oomScoreAdj";
    refuses_effective_beyond_permitted: "/process/capabilities/effective", ["CAP_SYS_ADMIN"] => "process.capabilities.effective";
    needs_a_root: "/root/path", "no-such-dir" => "root.path";
    needs_a_mount_namespace: "/linux/namespaces", [{"type": "pid"}] => "linux.namespaces";
    refuses_a_namespace_twice: "/linux/namespaces", [{"type": "mount"}, {"type": "mount"}] => "linux.namespaces[1].type";
    refuses_a_missing_namespace_file: "/linux/namespaces/1", {"type": "network", "path": "/no/such/ns"} => "linux.namespaces[1].path";
    refuses_maps_without_a_user_namespace: "/linux/uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}] => "linux.uidMappings";
    refuses_a_hostname_without_uts: "/linux/namespaces", [{"type": "mount"}] => "hostname";
    refuses_time_offsets_without_a_time_namespace: "/linux/timeOffsets", {"monotonic": {"secs": 10, "nanosecs": 0}} => "linux.timeOffsets";
    refuses_a_masked_path_that_climbs_out: "/linux/maskedPaths/0", "../masked_rel_path" => "linux.maskedPaths[0]";
    refuses_a_readonly_path_that_climbs_out: "/linux/readonlyPaths/2", "proc/../../irq" => "linux.readonlyPaths[2]";
    refuses_a_device_node_of_type_a: "/linux/devices", [{"path": "/dev/x", "type": "a"}] => "linux.devices[0].type";
    refuses_a_bad_cgroups_path: "/linux/cgroupsPath", "/a/../b" => "linux.cgroupsPath";
    refuses_an_unknown_propagation: "/linux/rootfsPropagation", "sideways" => "linux.rootfsPropagation";
    refuses_a_mount_on_root: "/mounts/0/destination", "/" => "mounts[0].destination";
    refuses_a_missing_bind_source: "/mounts/0", {"destination": "/x", "type": "bind", "source": "/no/such/src"} => "mounts[0].source";
    refuses_a_bad_mount_option_with_its_index: "/mounts/3/options/0", "nosiud" => "mounts[3]";
    refuses_a_swap_below_the_limit: "/linux/resources/memory", {"limit": 209715200, "swap": 104857600} => "linux.resources.memory.swap";
    refuses_a_bad_device_rule: "/linux/resources/devices/0/access", "rwx" => "linux.resources.devices[0].access";
}

#[test]
fn refuses_a_bad_container_id() {
    let b = TestBundle::new(&runc_spec());
    for id in ["", ".hidden", "a/b", &"x".repeat(129)] {
        let err = load_bundle(b.path(), id, 0).unwrap_err();
        assert_names(&err, "id");
    }
}

#[test]
fn a_net_sysctl_needs_the_containers_network_namespace() {
    // (the macro's config sets the sysctl through its namespaces change; here the positive case)
    let mut spec = runc_spec();
    spec["linux"]["sysctl"] =
        json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20"});
    let plan = TestBundle::new(&spec).load().unwrap().plan;
    assert_eq!(plan.rootfs.sysctl.len(), 3);
    spec["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "network"}]);
    let err = TestBundle::new(&spec).load().unwrap_err();
    assert_names(&err, "linux.sysctl.fs.mqueue.msg_max");
    spec["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]);
    let err = TestBundle::new(&spec).load().unwrap_err();
    assert_names(&err, "linux.sysctl.net.ipv4.ip_forward");
}

#[test]
fn unknown_properties_and_hooks_are_ignored_as_the_spec_says() {
    let mut spec = runc_spec();
    spec["someFutureField"] = json!({"x": 1});
    spec["hooks"] =
        json!({"createRuntime": [{"path": "/bin/true"}], "unknownHook": [{"path": "/x"}]});
    spec["process"]["consoleSize"] = json!({"height": 1, "width": 2});
    spec["process"]["terminal"] = json!(false);
    let bundle = TestBundle::new(&spec).load().unwrap();
    assert_eq!(
        bundle
            .hooks
            .unwrap()
            .create_runtime()
            .as_ref()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        bundle.plan.process.console_size, None,
        "ignored without a terminal"
    );
}

#[test]
fn shared_and_unbindable_rootfs_propagation_are_lowered() {
    for (value, want) in [
        ("shared", Propagation::Shared { recursive: false }),
        ("rshared", Propagation::Shared { recursive: true }),
        ("unbindable", Propagation::Unbindable { recursive: false }),
        ("runbindable", Propagation::Unbindable { recursive: true }),
        ("slave", Propagation::Slave),
        ("private", Propagation::Private),
    ] {
        let mut spec = runc_spec();
        spec["linux"]["rootfsPropagation"] = json!(value);
        let plan = TestBundle::new(&spec).load().unwrap().plan;
        assert_eq!(plan.rootfs.propagation, want, "{value}");
    }
}

#[test]
fn absent_masked_and_readonly_paths_mean_none_and_devices_get_mode_0666() {
    let mut spec = runc_spec();
    let linux = spec["linux"].as_object_mut().unwrap();
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    linux.insert("rootfsPropagation".into(), json!("rprivate"));
    linux.insert("devices".into(), json!([{"path": "/dev/fifo", "type": "p"}, {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 0o600}]));
    let plan = TestBundle::new(&spec).load().unwrap().plan;
    assert!(plan.rootfs.masked_paths.is_empty());
    assert!(!plan
        .rootfs
        .readonly_paths
        .contains(&PathBuf::from("/proc/sys")));
    assert_eq!(plan.rootfs.propagation, Propagation::Private);
    assert_eq!(plan.rootfs.devices[0].kind, NodeKind::Fifo);
    assert_eq!(plan.rootfs.devices[0].mode, 0o666);
    assert_eq!(plan.rootfs.devices[1].mode, 0o600);
    assert_eq!(plan.rootfs.devices[1].kind, NodeKind::Block);
}

#[test]
fn cove_specs_own_example_loads_root_and_rootless() {
    for cgroup_ns in [false, true] {
        let spec = cove_oci::spec_default::example_spec(cgroup_ns);
        let b = TestBundle::new(&serde_json::to_value(&spec).unwrap());
        let plan = b.load().unwrap().plan;
        assert_eq!(plan.namespaces.is_new(Namespace::Cgroup), cgroup_ns);
        let mut rootless = spec.clone();
        cove_oci::spec_default::to_rootless(&mut rootless, 1000, 1000);
        let b = TestBundle::new(&serde_json::to_value(&rootless).unwrap());
        let plan = load_bundle(b.path(), "c1", 1000).unwrap().plan;
        assert!(plan.rootless && plan.namespaces.is_new(Namespace::User));
        assert_eq!(plan.namespaces.uid_map, [IdMap::new(0, 1000, 1)]);
    }
}

#[test]
fn device_nodes_are_allowed_in_the_device_cgroup_after_the_rules() {
    let mut spec = runc_spec();
    spec["linux"].as_object_mut().unwrap().remove("resources");
    spec["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                                      {"path": "/dev/pipe", "type": "p"}]);
    let plan = TestBundle::new(&spec).load().unwrap().plan;
    let rules = plan.resources.unwrap().devices;
    assert_eq!(
        rules[..rules.len() - 1],
        cove_cgroup::default_container_devices()[..]
    );
    assert_eq!(
        rules.last(),
        Some(&DeviceRule::allow(
            DeviceKind::Char,
            Some(10),
            Some(229),
            "rwm"
        ))
    );
}

#[test]
fn dockers_zero_values_mean_unset() {
    let r = resources(json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"disableOOMKiller": false},
        "cpu": {"shares": 0},
        "blockIO": {"weight": 0}
    }))
    .unwrap();
    assert_eq!(r.io.weight, None);
    assert_eq!(r.cpu.weight, None);
    assert_eq!(r.memory.oom_kill_disable, Some(false));
    let err = resources(json!({"blockIO": {"weight": 5}})).unwrap_err();
    assert_eq!(err.field(), Some("linux.resources.blockIO.weight"));
}

#[test]
fn a_cgroup2_mount_is_the_containers_cgroup2_hierarchy() {
    let mut spec = runc_spec();
    spec["mounts"][6]["type"] = json!("cgroup2");
    let layout = Layout::detect().unwrap();
    let plan = TestBundle::new(&spec).load();
    match layout.unified_root() {
        Some(_) => {
            let plan = plan.unwrap().plan;
            assert_eq!(plan.mounts.len(), 7);
            assert_eq!(plan.mounts[6].kind, MountKind::Cgroup2);
            assert_eq!(plan.mounts[6].target, PathBuf::from("/sys/fs/cgroup"));
        }
        None => assert_names(&plan.unwrap_err(), "mounts[6].type"),
    }
}

#[test]
fn a_rootless_container_without_cgroupns_sees_the_hosts_cgroup_tree() {
    let mut spec = runc_spec();
    spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                         {"type": "mount"}, {"type": "user"}]);
    spec["linux"].as_object_mut().unwrap().remove("resources");
    spec["linux"]["sysctl"] = json!({"kernel.shm_rmid_forced": "1", "kernel.sem_next_id": "5"});
    let b = TestBundle::new(&spec);
    let plan = load_bundle(b.path(), "c1", 1000).unwrap().plan;
    let options = ["rbind", "nosuid", "noexec", "nodev", "relatime", "ro"];
    assert_eq!(
        plan.mounts[6..],
        [MountSpec::bind(
            "/sys/fs/cgroup",
            "/sys/fs/cgroup",
            &options
        )]
    );
    assert_eq!(plan.rootfs.sysctl.len(), 2);
}

#[test]
fn time_offsets_of_a_new_time_namespace_lower_and_other_clocks_are_refused() {
    let mut spec = runc_spec();
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    spec["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 86400, "nanosecs": 5},
        "boottime": {"secs": -10}
    });
    let plan = TestBundle::new(&spec).load().unwrap().plan;
    let (monotonic, boottime) = plan.namespaces.time_offsets.expect("offsets");
    assert_eq!((monotonic.secs, monotonic.nanos), (86400, 5));
    assert_eq!((boottime.secs, boottime.nanos), (-10, 0));

    spec["linux"]["timeOffsets"] = json!({"realtime": {"secs": 1}});
    let err = TestBundle::new(&spec).load().unwrap_err();
    assert_names(&err, "linux.timeOffsets.realtime");
}
