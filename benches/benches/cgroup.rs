//! cgroups on the host's layout (v1, v2 or hybrid), with memory, cpu and pids limits. NEEDS ROOT: built only
//! with `--features privileged`, run as root (`cargo xtask bench` does both).
//!
//! - `cgroup/detect layout`: `Layout::detect` (mountinfo + statfs), which `cove run` does once per container;
//! - `cgroup/create+apply`, `cgroup/remove`, and the whole `create+apply+remove`;
//! - `cgroup/attach`: moving a waiting process into a fresh cgroup (`cgroup.procs` in every hierarchy): the step
//!   that `CLONE_INTO_CGROUP` replaces on cgroup v2; `attach (second)` the same right after another attach.
//! - `cgroup/after idle`: the same migrations after 50 ms without any (not timed), as when one container starts on
//!   a quiet host: `attach pid (cgroup.procs)` takes the global threadgroup lock for writing, which waits for an
//!   RCU grace period; `self-attach thread (tasks 0)` is a single-threaded process moving itself with `0` written
//!   to each v1 hierarchy's `tasks` file, which skips that lock (the unified hierarchy of a hybrid host is left
//!   out: `CLONE_INTO_CGROUP` covers it).
//!
//! Every cgroup lives under `cove-benches-criterion/`, removed at the end.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use cove_benches::child::time_in_child;
use cove_benches::fixture;
use cove_cgroup::{Cgroup, Layout, Resources};
use criterion::{criterion_group, criterion_main, Criterion};

const PARENT: &str = "cove-benches-criterion";

/// Hands out fresh cgroup paths.
struct Paths(u64);

impl Paths {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("{PARENT}/{}-{}", std::process::id(), self.0)
    }
}

/// A process that waits until killed.
fn sleeper() -> Child {
    Command::new("/bin/sleep")
        .arg("600")
        .spawn()
        .expect("starts sleep")
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn create(layout: &Layout, path: &str, res: &Resources) -> Cgroup {
    Cgroup::create(layout, path, res).expect("creates the cgroup")
}

fn cgroup(c: &mut Criterion) {
    let layout = Layout::detect().expect("detects the layout");
    let res = fixture::resources();
    let mut paths = Paths(0);
    let mut group = c.benchmark_group("cgroup");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));

    group.bench_function("detect layout", |b| {
        b.iter(|| Layout::detect().expect("detects"))
    });
    group.bench_function("create+apply", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let path = paths.next();
                let started = Instant::now();
                let cg = create(&layout, &path, &res);
                total += started.elapsed();
                cg.remove().expect("removes");
            }
            total
        })
    });
    group.bench_function("remove", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cg = create(&layout, &paths.next(), &res);
                let started = Instant::now();
                cg.remove().expect("removes");
                total += started.elapsed();
            }
            total
        })
    });
    group.bench_function("create+apply+remove", |b| {
        b.iter(|| {
            create(&layout, &paths.next(), &res)
                .remove()
                .expect("removes")
        })
    });
    group.bench_function("attach", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cg = create(&layout, &paths.next(), &res);
                let child = sleeper();
                let pid = i32::try_from(child.id()).expect("a pid");
                let started = Instant::now();
                cg.add_pid(pid).expect("attaches");
                total += started.elapsed();
                stop(child);
                cg.remove().expect("removes");
            }
            total
        })
    });
    group.bench_function("attach (second)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cg = create(&layout, &paths.next(), &res);
                let (first, second) = (sleeper(), sleeper());
                let pid = |c: &Child| i32::try_from(c.id()).expect("a pid");
                cg.add_pid(pid(&first)).expect("attaches");
                let started = Instant::now();
                cg.add_pid(pid(&second)).expect("attaches");
                total += started.elapsed();
                stop(first);
                stop(second);
                cg.remove().expect("removes");
            }
            total
        })
    });
    group.finish();

    if let Ok(parent) = Cgroup::open(&layout, PARENT) {
        parent.remove().expect("removes the benches' parent cgroup");
    }
}

/// Idle time before each cold migration.
const IDLE: Duration = Duration::from_millis(50);

/// Moves the calling (single-threaded) process into `cg` in every v1 hierarchy by writing `0` to `tasks`.
fn self_attach_v1(cg: &Cgroup) -> Result<(), String> {
    for dir in cg.dirs() {
        let tasks = dir.join("tasks");
        if tasks.exists() {
            std::fs::write(&tasks, "0").map_err(|e| format!("{}: {e}", tasks.display()))?;
        }
    }
    Ok(())
}

fn cgroup_after_idle(c: &mut Criterion) {
    let layout = Layout::detect().expect("detects the layout");
    let res = fixture::resources();
    let mut paths = Paths(1_000_000);
    let mut group = c.benchmark_group("cgroup/after idle");
    // Every iteration sleeps 50 ms (not timed): keep the timed budget small.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(100));
    group.bench_function("attach pid (cgroup.procs)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cg = create(&layout, &paths.next(), &res);
                let child = sleeper();
                let pid = i32::try_from(child.id()).expect("a pid");
                std::thread::sleep(IDLE);
                let started = Instant::now();
                cg.add_pid(pid).expect("attaches");
                total += started.elapsed();
                stop(child);
                cg.remove().expect("removes");
            }
            total
        })
    });
    group.bench_function("self-attach thread (tasks 0)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cg = create(&layout, &paths.next(), &res);
                std::thread::sleep(IDLE);
                total += time_in_child(|| {
                    let started = Instant::now();
                    self_attach_v1(&cg)?;
                    Ok(started.elapsed())
                })
                .expect("self-attach in a child");
                cg.remove().expect("removes");
            }
            total
        })
    });
    group.finish();
    if let Ok(parent) = Cgroup::open(&layout, PARENT) {
        parent.remove().expect("removes the benches' parent cgroup");
    }
}

criterion_group!(benches, cgroup, cgroup_after_idle);
criterion_main!(benches);
