//! Manifest parse (pure) and validation into a plan (pure apart from looking at the root file system: does it
//! exist, is the program there). Needs no root. Needs the busybox root: `cargo xtask rootfs`.

use std::hint::black_box;

use cove_benches::fixture::{self, Limits};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// Validation as root (euid 0) would do it: the plan is the same whoever runs the bench.
const ROOT_EUID: u32 = 0;

fn manifest(c: &mut Criterion) {
    let rootfs = fixture::rootfs().expect("the busybox root");
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = fixture::write_manifest(dir.path(), &rootfs, Limits::Yes).expect("the manifest");
    let source = std::fs::read_to_string(&path).expect("reading the manifest");

    let mut group = c.benchmark_group("manifest");
    group.bench_function("parse", |b| {
        b.iter(|| {
            cove_manifest::manifest::parse(black_box(&path), black_box(&source)).expect("parses")
        })
    });
    group.bench_function("validate", |b| {
        b.iter_batched(
            || cove_manifest::manifest::parse(&path, &source).expect("parses"),
            |m| {
                cove_manifest::plan::from_manifest(&path, &source, m, ROOT_EUID).expect("validates")
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("read+parse+validate", |b| {
        b.iter(|| cove_manifest::load_plan(black_box(&path), ROOT_EUID).expect("loads"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = manifest
}
criterion_main!(benches);
