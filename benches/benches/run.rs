//! A whole `cove run` of `/bin/true` on the busybox root, in-process (`cove_container::run::run`): state dir, mount plan,
//! cgroup, clone3, child set-up, pivot_root, exec, wait, clean-up. NEEDS ROOT: built only with
//! `--features privileged`, run as root (`cargo xtask bench` does both). Needs `cargo xtask rootfs`.
//!
//! `with limits` is the container of `cargo xtask bench` (memory and pids limits: a cgroup); `no cgroup` the
//! same without `[resources]`.

use std::time::Duration;

use cove_benches::fixture::{self, Limits};
use cove_container::run::{run, RunOptions};
use criterion::{criterion_group, criterion_main, Criterion};

fn cove_run(c: &mut Criterion) {
    let rootfs = fixture::rootfs().expect("the busybox root");
    let mut group = c.benchmark_group("run/true");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for (name, limits) in [("with limits", Limits::Yes), ("no cgroup", Limits::No)] {
        let dir = tempfile::tempdir().expect("a temp dir");
        let manifest = fixture::write_manifest(dir.path(), &rootfs, limits).expect("the manifest");
        let plan = fixture::load_plan(&manifest).expect("the plan");
        let options = RunOptions::default();
        group.bench_function(name, |b| {
            b.iter(|| assert_eq!(run(&plan, &options).expect("runs"), 0))
        });
    }
    group.finish();
}

criterion_group!(benches, cove_run);
criterion_main!(benches);
