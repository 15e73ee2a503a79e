//! Building the mount plan of the busybox container (`MountPlan::build`): pure, no system call. Needs no root.
//! Needs the busybox root: `cargo xtask rootfs`.

use std::hint::black_box;

use cove_benches::fixture::{self, Limits};
use cove_rootfs::MountPlan;
use criterion::{criterion_group, criterion_main, Criterion};

fn mount_plan(c: &mut Criterion) {
    let rootfs = fixture::rootfs().expect("the busybox root");
    let dir = tempfile::tempdir().expect("a temp dir");
    let manifest = fixture::write_manifest(dir.path(), &rootfs, Limits::No).expect("the manifest");
    let spec = fixture::rootfs_spec(&fixture::load_plan(&manifest).expect("the plan"));
    let steps = MountPlan::build(&spec).expect("builds").steps().len();

    c.bench_function(&format!("mount_plan/build (busybox, {steps} steps)"), |b| {
        b.iter(|| MountPlan::build(black_box(&spec)).expect("builds"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = mount_plan
}
criterion_main!(benches);
