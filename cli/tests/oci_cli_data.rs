//! Pure tests of the OCI command-line data modules: `events` JSON, `update` flags, the default
//! `config.json` of `cove spec`, and `cove features`. No root needed.

use std::collections::BTreeMap;

use clap::Parser;
use cove::oci::update::{UpdateArgs, UpdateError};
use cove_cgroup::{
    CpuStats, HugetlbStats, IoDeviceStats, IoStats, MemoryStats, PidsStats, Pressure,
    PressureStats, PressureValues, Stats,
};
use cove_oci::events::{oom_event, stats_event};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// events

fn filled_stats() -> Stats {
    let raw = BTreeMap::from([("anon".to_owned(), 1_048_576), ("file".to_owned(), 8192)]);
    Stats {
        memory: MemoryStats {
            current: Some(2_000_000),
            peak: Some(3_000_000),
            limit: Some(64 << 20),
            swap_current: Some(4096),
            anon: Some(1_048_576),
            file: Some(8192),
            oom_events: Some(1),
            oom_kill_events: Some(1),
            raw,
        },
        cpu: CpuStats {
            usage_usec: Some(1500),
            user_usec: Some(1000),
            system_usec: Some(500),
            nr_periods: Some(10),
            nr_throttled: Some(2),
            throttled_usec: Some(7),
        },
        pids: PidsStats {
            current: Some(3),
            peak: Some(5),
            limit: Some(cove_cgroup::UNLIMITED),
            limit_hits: Some(0),
        },
        io: IoStats {
            devices: vec![IoDeviceStats {
                major: 254,
                minor: 0,
                read_bytes: 4096,
                write_bytes: 0,
                read_ops: 1,
                write_ops: 0,
            }],
        },
        hugetlb: vec![HugetlbStats {
            page_size: "2MB".to_owned(),
            usage: 2 << 20,
            max_usage: None,
            failures: Some(1),
        }],
        pressure: PressureStats {
            cpu: Some(Pressure {
                some: PressureValues {
                    avg10: 1.5,
                    avg60: 0.25,
                    avg300: 0.0,
                    total_usec: 42,
                },
                full: None,
            }),
            memory: None,
            io: None,
        },
    }
}

#[test]
fn stats_event_has_runcs_exact_shape() {
    let got = stats_event("c1", &filled_stats());
    let want = json!({
        "type": "stats",
        "id": "c1",
        "data": {
            "cpu": {
                "usage": {"total": 1_500_000, "kernel": 500_000, "user": 1_000_000},
                "throttling": {"periods": 10, "throttledPeriods": 2, "throttledTime": 7000},
                "psi": {"some": {"avg10": 1.5, "avg60": 0.25, "avg300": 0.0, "total": 42}}
            },
            "cpuset": {
                "cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0,
                "memory_spread_page": 0, "memory_spread_slab": 0, "memory_pressure": 0,
                "sched_load_balance": 0, "sched_relax_domain_level": 0
            },
            "memory": {
                "cache": 8192,
                "usage": {"limit": 64 << 20, "usage": 2_000_000, "max": 3_000_000, "failcnt": 0},
                "swap": {"limit": 0, "usage": 2_004_096, "failcnt": 0},
                "kernel": {"limit": 0, "failcnt": 0},
                "kernelTCP": {"limit": 0, "failcnt": 0},
                "raw": {"anon": 1_048_576, "file": 8192}
            },
            "pids": {"current": 3},
            "blkio": {
                "ioServiceBytesRecursive": [
                    {"major": 254, "op": "Read", "value": 4096},
                    {"major": 254, "op": "Write"}
                ],
                "ioServicedRecursive": [
                    {"major": 254, "op": "Read", "value": 1},
                    {"major": 254, "op": "Write"}
                ]
            },
            "hugetlb": {"2MB": {"usage": 2 << 20, "failcnt": 1}},
            "intel_rdt": {},
            "network_interfaces": null
        }
    });
    assert_eq!(
        got,
        want,
        "got:\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );
}

#[test]
fn stats_event_of_empty_stats_keeps_runcs_always_present_fields() {
    let got = stats_event("x", &Stats::default());
    let data = &got["data"];
    assert_eq!(
        data["cpu"],
        json!({"usage": {"kernel": 0, "user": 0}, "throttling": {}})
    );
    assert_eq!(data["memory"]["usage"], json!({"limit": 0, "failcnt": 0}));
    assert!(data["memory"].get("raw").is_none());
    assert!(data["memory"].get("cache").is_none());
    assert_eq!(data["pids"], json!({}));
    assert_eq!(data["blkio"], json!({}));
    assert_eq!(data["hugetlb"], json!({}));
}

#[test]
fn stats_event_reports_a_real_pids_limit() {
    let mut stats = Stats::default();
    stats.pids.limit = Some(100);
    assert_eq!(
        stats_event("x", &stats)["data"]["pids"],
        json!({"limit": 100})
    );
}

#[test]
fn stats_event_round_trips_through_the_typed_event() {
    let value = stats_event("c1", &filled_stats());
    let event: cove_oci::events::Event = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(event.kind, "stats");
    assert_eq!(event.data.as_ref().unwrap().pids.current, 3);
    assert_eq!(serde_json::to_value(&event).unwrap(), value);
}

#[test]
fn oom_event_has_no_data() {
    assert_eq!(oom_event("c1"), json!({"type": "oom", "id": "c1"}));
}

// ---------------------------------------------------------------------------------------------
// update

#[derive(Parser)]
struct UpdateCli {
    #[command(flatten)]
    update: UpdateArgs,
}

fn update_args(flags: &[&str]) -> UpdateArgs {
    let argv = std::iter::once("update").chain(flags.iter().copied());
    UpdateCli::try_parse_from(argv).unwrap().update
}

/// The resources as JSON, reading `stdin` for `-r -`.
fn resources_json(flags: &[&str], stdin: &str) -> Result<serde_json::Value, UpdateError> {
    let r = update_args(flags).to_resources_from(stdin.as_bytes())?;
    Ok(serde_json::to_value(r).unwrap())
}

#[test]
fn update_flags_become_linux_resources() {
    let got = resources_json(
        &[
            "--memory",
            "100m",
            "--memory-reservation",
            "1g",
            "--memory-swap",
            "200M",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "-1",
            "--cpu-share",
            "512",
            "--cpu-burst",
            "1000",
            "--cpu-rt-period",
            "1000000",
            "--cpu-rt-runtime",
            "950000",
            "--cpuset-cpus",
            "0-1",
            "--cpuset-mems",
            "0",
            "--cpu-idle",
            "1",
            "--pids-limit",
            "64",
            "--blkio-weight",
            "300",
        ],
        "",
    )
    .unwrap();
    let want = json!({
        "memory": {"limit": 100 << 20, "reservation": 1 << 30, "swap": 200 << 20},
        "cpu": {
            "shares": 512, "quota": -1, "burst": 1000, "period": 100000,
            "realtimeRuntime": 950000, "realtimePeriod": 1000000,
            "cpus": "0-1", "mems": "0", "idle": 1
        },
        "pids": {"limit": 64},
        "blockIO": {"weight": 300}
    });
    assert_eq!(got, want);
}

#[test]
fn update_without_flags_changes_nothing() {
    assert_eq!(resources_json(&[], "").unwrap(), json!({}));
    // runc: 0 for --blkio-weight and --pids-limit means "unchanged", empty cpusets too.
    let got = resources_json(
        &[
            "--blkio-weight",
            "0",
            "--pids-limit",
            "0",
            "--cpuset-cpus",
            "",
        ],
        "",
    );
    assert_eq!(got.unwrap(), json!({}));
}

#[test]
fn update_sizes_accept_runcs_forms() {
    for (value, bytes) in [
        ("1024", 1024_i64),
        ("512k", 512 << 10),
        ("100m", 100 << 20),
        ("100MB", 100 << 20),
        ("100MiB", 100 << 20),
        ("1g", 1 << 30),
        ("1.5G", 3 << 29),
        ("2t", 2 << 40),
        ("-1", -1),
    ] {
        let got = resources_json(&["--memory-reservation", value], "").unwrap();
        assert_eq!(got["memory"]["reservation"], json!(bytes), "{value}");
    }
}

#[test]
fn update_unlimited_memory_makes_swap_unlimited_unless_given() {
    let got = resources_json(&["--memory", "-1"], "").unwrap();
    assert_eq!(got["memory"], json!({"limit": -1, "swap": -1}));
    let got = resources_json(&["--memory", "-1", "--memory-swap", "1g"], "").unwrap();
    assert_eq!(got["memory"], json!({"limit": -1, "swap": 1 << 30}));
    let got = resources_json(&["-r", "-"], r#"{"memory": {"limit": -1}}"#).unwrap();
    assert_eq!(got["memory"], json!({"limit": -1, "swap": -1}));
}

#[test]
fn update_rejects_bad_sizes_naming_the_flag() {
    for bad in ["12x", "-2", "lots", "", "99999999999t"] {
        let err = resources_json(&["--memory-swap", bad], "").unwrap_err();
        assert!(
            matches!(&err, UpdateError::InvalidSize { flag: "memory-swap", value, .. } if value == bad),
            "{bad}: {err:?}"
        );
        assert!(err
            .to_string()
            .starts_with(&format!("invalid value {bad:?} for --memory-swap: ")));
    }
}

#[test]
fn update_refuses_kernel_memory_and_intel_rdt() {
    for (flag, needle) in [
        ("--kernel-memory", "obsolete"),
        ("--kernel-memory-tcp", "obsolete"),
        ("--l3-cache-schema", "Intel RDT"),
        ("--mem-bw-schema", "Intel RDT"),
    ] {
        let err = resources_json(&[flag, "1"], "").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, UpdateError::Unsupported { .. }), "{flag}");
        assert!(
            msg.starts_with(&format!("{flag} is not supported by cove: ")),
            "{msg}"
        );
        assert!(msg.contains(needle), "{msg}");
    }
    // Refused even next to --resources.
    let err = resources_json(&["-r", "-", "--kernel-memory", "1m"], "{}").unwrap_err();
    assert!(matches!(
        err,
        UpdateError::Unsupported {
            flag: "kernel-memory",
            ..
        }
    ));
}

#[test]
fn update_clap_accepts_runc_spellings() {
    let a = update_args(&[
        "--cpu-shares",
        "2",
        "--pids-limit",
        "-1",
        "--cpu-rt-runtime",
        "-1",
    ]);
    assert_eq!(a.cpu_share, Some(2));
    assert_eq!(a.pids_limit, Some(-1));
    assert_eq!(a.cpu_rt_runtime, Some(-1));
    let a = update_args(&["--resources", "/x.json"]);
    assert_eq!(
        a.resources.as_deref(),
        Some(std::path::Path::new("/x.json"))
    );
    assert!(UpdateCli::try_parse_from(["update", "--blkio-weight", "70000"]).is_err());
}

#[test]
fn update_resources_file_is_read_and_other_flags_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    let body = r#"{"memory": {"limit": 268435456, "checkBeforeUpdate": true},
                   "cpu": {"quota": 20000, "period": 100000, "cpus": "1"},
                   "blockIO": {"weight": 100}, "pids": {"limit": 10},
                   "unified": {"memory.high": "200000000"}}"#;
    std::fs::write(&file, body).unwrap();
    let path = file.to_str().unwrap();
    let args = update_args(&["-r", path, "--memory", "1g", "--pids-limit", "5"]);
    assert_eq!(args.ignored_flags(), ["memory", "pids-limit"]);
    let got = serde_json::to_value(args.to_resources_from(&b""[..]).unwrap()).unwrap();
    let want: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(got, want);
    assert!(update_args(&["--memory", "1g"]).ignored_flags().is_empty());
}

#[test]
fn update_resources_from_stdin() {
    let got = resources_json(
        &["-r", "-"],
        r#"{"cpu": {"shares": 1024}, "pids": {"limit": -1}}"#,
    );
    assert_eq!(
        got.unwrap(),
        json!({"cpu": {"shares": 1024}, "pids": {"limit": -1}})
    );
}

#[test]
fn update_resources_errors_name_the_input() {
    let err = resources_json(&["-r", "/nonexistent/cove-r.json"], "").unwrap_err();
    assert!(matches!(&err, UpdateError::ReadResources { source, .. }
        if source.kind() == std::io::ErrorKind::NotFound));
    assert_eq!(
        err.to_string(),
        "cannot read the resources from /nonexistent/cove-r.json"
    );
    let err = resources_json(&["-r", "-"], r#"{"memory": {"limit": "lots"}}"#).unwrap_err();
    assert!(matches!(err, UpdateError::ParseResources { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the resources from standard input are not a valid OCI LinuxResources JSON object"
    );
    let err = resources_json(&["-r", "-"], "").unwrap_err();
    assert!(matches!(err, UpdateError::ParseResources { .. }));
}

// ---------------------------------------------------------------------------------------------
// features

use cove_oci::features::{features, features_json, MOUNT_OPTIONS};

#[test]
fn features_json_parses_back_and_lists_hooks_and_namespaces() {
    let text = features_json();
    let parsed: oci_spec::runtime::Features = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, features());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert_eq!(v["ociVersionMax"], "1.3.0");
    assert_eq!(
        v["hooks"],
        json!([
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ])
    );
    assert_eq!(
        v["linux"]["namespaces"],
        json!(["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"])
    );
    assert_eq!(
        v["linux"]["cgroup"],
        json!({"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false})
    );
    assert_eq!(v["linux"]["apparmor"], json!({"enabled": false}));
    assert_eq!(v["linux"]["selinux"], json!({"enabled": false}));
    assert_eq!(v["linux"]["intelRdt"], json!({"enabled": false}));
    assert_eq!(
        v["linux"]["mountExtensions"],
        json!({"idmap": {"enabled": true}})
    );
    assert_eq!(v["linux"]["seccomp"]["enabled"], true);
    assert_eq!(
        v["annotations"]["io.github.cove.version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn features_json_is_pretty_with_two_spaces_and_has_no_nulls() {
    let text = features_json();
    assert!(text.starts_with("{\n  \""), "{text}");
    assert!(text.contains("\n    \""), "nested keys indented by 4");
    assert!(!text.contains('\t'));
    assert!(
        !text.contains("null"),
        "unknown fields must be left out:\n{text}"
    );
}

#[test]
fn features_list_every_capability_of_the_caps_crate() {
    let v: serde_json::Value = serde_json::from_str(&features_json()).unwrap();
    let listed: Vec<&str> = v["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), caps::all().len());
    assert_eq!(listed[0], "CAP_CHOWN");
    for cap in caps::all() {
        assert!(listed.contains(&cap.to_string().as_str()), "{cap}");
    }
    for cap in ["CAP_SYS_ADMIN", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"] {
        assert!(listed.contains(&cap), "{cap}");
    }
}

/// The advertised mount options are the ones cove-rootfs really accepts (on a bind mount in a
/// user namespace, where every flag option, `idmap` included, is allowed).
#[test]
fn features_mount_options_are_accepted_by_cove_rootfs() {
    use cove_rootfs::{MountPlan, MountSpec, RootSource, RootfsSpec};
    let plan_with = |option: &str| {
        let mut spec = RootfsSpec::new(RootSource::Dir("/srv/root".into()));
        spec.in_user_ns = true;
        spec.mounts
            .push(MountSpec::bind("/srv/data", "/data", &[option]));
        MountPlan::build(&spec)
    };
    for option in MOUNT_OPTIONS {
        assert!(
            plan_with(option).is_ok(),
            "{option}: {:?}",
            plan_with(option).err()
        );
    }
    // The check has teeth: an option cove does not know is refused.
    assert!(plan_with("nosiud").is_err());
    let mut sorted = MOUNT_OPTIONS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, MOUNT_OPTIONS);
}

/// The advertised seccomp actions, operators, flags and architectures are the ones
/// cove-seccomp compiles.
#[test]
fn features_seccomp_lists_what_cove_seccomp_compiles() {
    use cove_seccomp::{Filter, SeccompProfile};
    let v: serde_json::Value = serde_json::from_str(&features_json()).unwrap();
    let seccomp = &v["linux"]["seccomp"];
    let list = |key: &str| -> Vec<String> { serde_json::from_value(seccomp[key].clone()).unwrap() };
    let compile = |action: &str, op: &str, flags: &[String]| {
        let profile = json!({
            "defaultAction": action,
            "flags": flags,
            "syscalls": [{
                "names": ["getpid"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]
            }]
        });
        SeccompProfile::from_value(profile).and_then(|p| Filter::compile(&p, &[]))
    };
    let flags = list("knownFlags");
    assert_eq!(flags.len(), 4);
    for action in list("actions") {
        for op in list("operators") {
            assert!(
                compile(&action, &op, &flags).is_ok(),
                "{action} {op}: {:?}",
                compile(&action, &op, &flags).err()
            );
        }
    }
    assert_eq!(list("actions").len(), 9);
    assert_eq!(list("operators").len(), 7);
    assert!(compile("SCMP_ACT_BOGUS", "SCMP_CMP_EQ", &[]).is_err());
    assert!(compile("SCMP_ACT_ALLOW", "SCMP_CMP_LIKE", &[]).is_err());
    let archs = list("archs");
    let native = cove_seccomp::Arch::native().unwrap();
    assert!(archs.iter().any(|a| native.is_named(a)), "{archs:?}");
    let known = [
        cove_seccomp::Arch::X86_64,
        cove_seccomp::Arch::Aarch64,
        cove_seccomp::Arch::X86,
    ];
    for arch in &archs {
        assert!(known.iter().any(|k| k.is_named(arch)), "{arch}");
    }
}

// ---------------------------------------------------------------------------------------------
// spec

use cove_oci::spec_default::{
    default_spec, example_spec, spec_json, to_rootless, write_spec, SpecError,
};

/// runc's `specconv.Example()` as `runc spec` prints it (hostname aside), on a host that is not
/// cgroup v2 only.
fn runc_example() -> serde_json::Value {
    json!({
        "ociVersion": "1.3.0",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "cove",
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
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi", "/sys/devices/virtual/tpm"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

fn spec_value(spec: &oci_spec::runtime::Spec) -> serde_json::Value {
    serde_json::from_str(&spec_json(spec)).unwrap()
}

#[test]
fn spec_equals_runcs_example() {
    let got = spec_value(&example_spec(false));
    assert_eq!(
        got,
        runc_example(),
        "got:\n{}",
        spec_json(&example_spec(false))
    );
}

#[test]
fn spec_adds_a_cgroup_namespace_on_cgroup2_hosts() {
    let got = spec_value(&example_spec(true));
    let mut want = runc_example();
    want["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    assert_eq!(got, want);
    // default_spec follows the host: a cgroup namespace exactly when it is cgroup v2 only.
    let layout = cove_cgroup::Layout::detect().unwrap();
    let unified = layout.kind() == cove_cgroup::LayoutKind::Unified;
    assert_eq!(
        spec_value(&default_spec(false)),
        spec_value(&example_spec(unified))
    );
}

#[test]
fn spec_rootless_has_runcs_changes() {
    let mut spec = example_spec(false);
    to_rootless(&mut spec, 1000, 1001);
    let mut want = runc_example();
    let linux = &mut want["linux"];
    linux.as_object_mut().unwrap().remove("resources");
    linux["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}
    ]);
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": 1001, "size": 1}]);
    want["mounts"][2]["options"] = json!([
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620"
    ]);
    want["mounts"][5] = json!({
        "destination": "/sys", "type": "none", "source": "/sys",
        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
    });
    assert_eq!(spec_value(&spec), want);

    // default_spec(true) maps the caller's effective ids.
    let spec = default_spec(true);
    let linux = spec.linux().as_ref().unwrap();
    let uid = linux.uid_mappings().as_ref().unwrap()[0];
    let gid = linux.gid_mappings().as_ref().unwrap()[0];
    assert_eq!(uid.host_id(), nix::unistd::geteuid().as_raw());
    assert_eq!(gid.host_id(), nix::unistd::getegid().as_raw());
    assert_eq!((uid.container_id(), uid.size()), (0, 1));
    let kinds: Vec<_> = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect();
    assert!(kinds.contains(&oci_spec::runtime::LinuxNamespaceType::User));
    assert!(!kinds.contains(&oci_spec::runtime::LinuxNamespaceType::Network));
}

#[test]
fn spec_rootless_conversion_is_idempotent() {
    let mut once = example_spec(true);
    to_rootless(&mut once, 5, 6);
    let mut twice = once.clone();
    to_rootless(&mut twice, 5, 6);
    assert_eq!(spec_value(&once), spec_value(&twice));
}

#[test]
fn write_spec_writes_pretty_config_json_that_round_trips() {
    let bundle = tempfile::tempdir().unwrap();
    let path = write_spec(bundle.path(), false).unwrap();
    assert_eq!(path, bundle.path().join("config.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n  \""), "2-space indent:\n{text}");
    assert!(text.ends_with("}\n"));
    let spec: oci_spec::runtime::Spec = serde_json::from_str(&text).unwrap();
    assert_eq!(spec, default_spec(false));
    assert_eq!(spec.hostname().as_deref(), Some("cove"));
    let process = spec.process().as_ref().unwrap();
    assert_eq!(process.args().as_ref().unwrap(), &["sh"]);
    // oci-spec's own loader reads it too.
    assert_eq!(oci_spec::runtime::Spec::load(&path).unwrap(), spec);
}

#[test]
fn write_spec_rootless_writes_the_rootless_spec() {
    let bundle = tempfile::tempdir().unwrap();
    let path = write_spec(bundle.path(), true).unwrap();
    let spec = oci_spec::runtime::Spec::load(path).unwrap();
    assert_eq!(spec, default_spec(true));
    assert!(spec.linux().as_ref().unwrap().resources().is_none());
}

#[test]
fn write_spec_refuses_an_existing_config_json() {
    let bundle = tempfile::tempdir().unwrap();
    let path = bundle.path().join("config.json");
    std::fs::write(&path, "{\"mine\": true}").unwrap();
    let err = write_spec(bundle.path(), false).unwrap_err();
    assert!(matches!(&err, SpecError::Exists { bundle: b } if b == bundle.path()));
    assert_eq!(
        err.to_string(),
        format!(
            "config.json already exists in {}: remove it first",
            bundle.path().display()
        )
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"mine\": true}");
    // Even a dangling symlink is not followed.
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("elsewhere.json");
    std::os::unix::fs::symlink(&target, other.path().join("config.json")).unwrap();
    assert!(matches!(
        write_spec(other.path(), false),
        Err(SpecError::Exists { .. })
    ));
    assert!(!target.exists());
}

#[test]
fn write_spec_into_a_missing_bundle_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("missing");
    let err = write_spec(&bundle, false).unwrap_err();
    assert!(matches!(&err, SpecError::Write { source, .. }
        if source.kind() == std::io::ErrorKind::NotFound));
    assert_eq!(
        err.to_string(),
        format!("cannot write {}", bundle.join("config.json").display())
    );
}

/// The advertised namespaces are exactly the kinds cove-ns creates (compared by clone flag).
#[test]
fn features_namespaces_are_the_kinds_of_cove_ns() {
    let mut advertised: Vec<u64> = cove_oci::features::NAMESPACES
        .iter()
        .map(|t| *t as u64)
        .collect();
    let mut cove_ns: Vec<u64> = cove_ns::Namespace::ALL
        .iter()
        .map(|n| n.clone_flag())
        .collect();
    advertised.sort_unstable();
    cove_ns.sort_unstable();
    assert_eq!(advertised, cove_ns);
}
