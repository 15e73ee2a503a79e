//! Applying the busybox container's mount plan up to and including `pivot_root` (and the read-only remount of
//! `/`), in a forked child that first unshares mount, net and ipc namespaces (not timed). NEEDS ROOT: built only
//! with `--features privileged`, run as root (`cargo xtask bench` does both). Needs `cargo xtask rootfs`.

use std::time::{Duration, Instant};

use cove_benches::child::time_in_child;
use cove_benches::fixture::{self, Limits};
use cove_ns::{Namespace, NamespaceSet};
use cove_rootfs::MountPlan;
use criterion::{criterion_group, criterion_main, Criterion};

fn mount_apply(c: &mut Criterion) {
    let rootfs = fixture::rootfs().expect("the busybox root");
    let dir = tempfile::tempdir().expect("a temp dir");
    let manifest = fixture::write_manifest(dir.path(), &rootfs, Limits::No).expect("the manifest");
    let spec = fixture::rootfs_spec(&fixture::load_plan(&manifest).expect("the plan"));
    let plan = MountPlan::build(&spec).expect("builds");
    let namespaces = NamespaceSet::new()
        .with(Namespace::Mount)
        .with(Namespace::Net)
        .with(Namespace::Ipc);

    let mut group = c.benchmark_group("mount_apply");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2));
    group.bench_function(format!("busybox ({} steps)", plan.steps().len()), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    time_in_child(|| {
                        cove_ns::unshare(namespaces).map_err(|e| e.to_string())?;
                        let started = Instant::now();
                        plan.apply().map_err(|e| e.to_string())?;
                        Ok(started.elapsed())
                    })
                    .expect("applies in a child")
                })
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, mount_apply);
criterion_main!(benches);
