//! Pure tests of the OCI command-line data modules: `events` JSON, `update` flags, the default
//! `config.json` of `cove spec`, and `cove features`. No root needed.

use std::collections::BTreeMap;

use cove::oci::events::{oom_event, stats_event};
use cove_cgroup::{
    CpuStats, HugetlbStats, IoDeviceStats, IoStats, MemoryStats, PidsStats, Pressure,
    PressureStats, PressureValues, Stats,
};
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
    let event: cove::oci::events::Event = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(event.kind, "stats");
    assert_eq!(event.data.as_ref().unwrap().pids.current, 3);
    assert_eq!(serde_json::to_value(&event).unwrap(), value);
}

#[test]
fn oom_event_has_no_data() {
    assert_eq!(oom_event("c1"), json!({"type": "oom", "id": "c1"}));
}
