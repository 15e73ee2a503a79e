//! `clone3` + exec of `/bin/true` with `cove_spawn::Command`, waited for: without namespaces, with the
//! container's (mount, pid, net, ipc, uts) and with all seven (user, mount, pid, net, ipc, uts, cgroup). NEEDS
//! ROOT: built only with `--features privileged`, run as root (`cargo xtask bench` does both).

use std::time::Duration;

use cove_benches::fixture::{BENCHED_NAMESPACES, CONTAINER_NAMESPACES};
use cove_ns::NamespaceSet;
use cove_spawn::Command;
use criterion::{criterion_group, criterion_main, Criterion};

fn spawn_true(set: NamespaceSet) {
    let status = Command::new(vec!["/bin/true".into()])
        .new_namespaces(set)
        .forward_signals(false)
        .spawn()
        .expect("spawns")
        .wait()
        .expect("waits");
    assert!(status.success(), "/bin/true failed: {status:?}");
}

fn spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn/true");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let sets = [
        ("no namespaces", NamespaceSet::new()),
        (
            "mount+pid+net+ipc+uts",
            CONTAINER_NAMESPACES.into_iter().collect(),
        ),
        ("all 7", BENCHED_NAMESPACES.into_iter().collect()),
    ];
    for (name, set) in sets {
        group.bench_function(name, |b| b.iter(|| spawn_true(set)));
    }
    group.finish();
}

criterion_group!(benches, spawn);
criterion_main!(benches);
