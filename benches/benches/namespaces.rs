//! Creating each namespace kind. NEEDS ROOT: built only with `--features privileged`, run as root
//! (`cargo xtask bench` does both).
//!
//! - `namespaces/unshare/KIND`: `unshare(CLONE_NEW…)` in a forked child, timed around the system call alone.
//!   For `pid` that is only the namespace object: the first process in it is created by the next fork.
//! - `namespaces/fork+unshare+exit/KIND`: the parent's wall time to fork a child that unshares and exits, and
//!   reap it: includes whatever tear-down the kernel does synchronously at exit (`none` is the baseline).

use std::time::{Duration, Instant};

use cove_benches::child::{time_in_child, wall_of_child};
use cove_benches::fixture::BENCHED_NAMESPACES;
use cove_ns::NamespaceSet;
use criterion::{criterion_group, criterion_main, Criterion};

fn unshare_step(set: NamespaceSet) -> Result<(), String> {
    cove_ns::unshare(set).map_err(|e| e.to_string())
}

fn unshare_syscall(c: &mut Criterion) {
    let mut group = c.benchmark_group("namespaces/unshare");
    // Each iteration forks a child but reports only the syscall: keep the reported budget small so that the
    // real time (fork, exit, wait per iteration) stays reasonable.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(300));
    for kind in BENCHED_NAMESPACES {
        let set = NamespaceSet::new().with(kind);
        group.bench_function(kind.name(), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        time_in_child(|| {
                            let started = Instant::now();
                            unshare_step(set)?;
                            Ok(started.elapsed())
                        })
                        .expect("unshare in a child")
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

fn fork_unshare_exit(c: &mut Criterion) {
    let mut group = c.benchmark_group("namespaces/fork+unshare+exit");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let kinds = std::iter::once(("none", NamespaceSet::new()))
        .chain(BENCHED_NAMESPACES.map(|k| (k.name(), NamespaceSet::new().with(k))));
    for (name, set) in kinds {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| wall_of_child(|| unshare_step(set)).expect("fork, unshare, exit"))
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, unshare_syscall, fork_unshare_exit);
criterion_main!(benches);
