#![cfg(feature = "privileged")]
//! Real cgroups on whatever layout the host has (hybrid v1 here, pure v2 in `cargo xtask
//! vm-test`'s guest, legacy v1 elsewhere). Needs root.
//!
//! Each test uses its own cgroup `cove-test/<name>-<pid>`, removed (after killing what is left
//! in it) by a guard's `Drop`, which also removes `cove-test` when it is empty. Test processes
//! are `sh -c 'read _; ...'`: the shell waits on stdin until it has been moved into the cgroup,
//! so everything it then runs is accounted there. The test process is a child subreaper, so
//! orphaned grandchildren come back to it and are reaped. Tests run one at a time (a lock):
//! they measure CPU time and share the `cove-test` parent.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

use cove_cgroup::*;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

static SERIAL: Mutex<()> = Mutex::new(());

const PARENT: &str = "cove-test";

/// Holds the test lock and the cgroup path; cleans up in `Drop`.
struct Fixture {
    layout: Layout,
    path: String,
    _lock: MutexGuard<'static, ()>,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let lock = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
        let layout = Layout::detect().expect("detect the cgroup layout");
        eprintln!("layout: {:?}", layout.kind());
        Fixture {
            layout,
            path: format!("{PARENT}/{name}-{}", std::process::id()),
            _lock: lock,
        }
    }

    /// Every hierarchy root this crate manages on the host.
    fn roots(&self) -> Vec<PathBuf> {
        let v1 = self
            .layout
            .hierarchies()
            .iter()
            .filter(|h| !h.controllers.is_empty());
        let v1 = v1.map(|h| h.mount_point.clone());
        match self.layout.kind() {
            LayoutKind::Unified => self
                .layout
                .unified_root()
                .map(Path::to_owned)
                .into_iter()
                .collect(),
            LayoutKind::Legacy => v1.collect(),
            LayoutKind::Hybrid => self
                .layout
                .unified_root()
                .map(Path::to_owned)
                .into_iter()
                .chain(v1)
                .collect(),
        }
    }

    /// Asserts that the cgroup has no directory left in any hierarchy.
    fn assert_gone(&self) {
        for root in self.roots() {
            let dir = root.join(&self.path);
            assert!(!dir.exists(), "{} is left behind", dir.display());
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Ok(cg) = Cgroup::open(&self.layout, &self.path) {
            let _ = cg.kill();
            for pid in cg.pids().unwrap_or_default().into_iter().filter(|p| *p > 0) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            reap_orphans(Duration::from_secs(2));
            let _ = cg.remove();
        }
        for root in self.roots() {
            let _ = fs::remove_dir(root.join(&self.path));
            let _ = fs::remove_dir(root.join(PARENT));
        }
    }
}

/// Reaps every exited child (orphans come to us as subreaper) until none is left or `within`.
fn reap_orphans(within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) => sleep(Duration::from_millis(10)),
            Ok(_) => {}
            Err(_) => return, // ECHILD: no children left
        }
    }
}

/// A `sh -c` that waits on stdin before running its script; killed and reaped on drop.
struct Gated {
    child: Child,
}

impl Gated {
    fn spawn(script: &str) -> Gated {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read _go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn /bin/sh");
        Gated { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Lets the script run.
    fn release(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the shell to exit, at most `within`.
    fn wait_timeout(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            sleep(Duration::from_millis(10));
        }
    }

    fn stdout(&mut self) -> String {
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(10));
    }
}

fn has_swap() -> bool {
    fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(false)
}

#[test]
fn memory_hog_is_oom_killed_and_counted() {
    let fx = Fixture::new("oom");
    let mut memory = MemoryResources {
        limit: Some(32 << 20),
        ..Default::default()
    };
    if has_swap() {
        memory.swap = Some(0);
    }
    let cg = Cgroup::create(
        &fx.layout,
        &fx.path,
        &Resources {
            memory,
            ..Default::default()
        },
    )
    .unwrap();
    // dd allocates a 128 MiB buffer and fills it from /dev/zero, touching every page.
    let mut hog = Gated::spawn("exec dd if=/dev/zero of=/dev/null bs=128M count=1");
    cg.add_pid(hog.pid()).unwrap();
    hog.release();
    let status = hog
        .wait_timeout(Duration::from_secs(20))
        .expect("the hog must die");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "OOM kill expected, got {status:?}"
    );
    let stats = cg.stats().unwrap();
    assert!(
        stats.memory.oom_kill_events >= Some(1),
        "{:?}",
        stats.memory
    );
    if cg.version() == Version::V2 {
        assert!(stats.memory.oom_events >= Some(1), "{:?}", stats.memory);
    }
    assert!(
        stats.memory.peak.unwrap_or(0) <= 32 << 20,
        "{:?}",
        stats.memory
    );
    assert_eq!(stats.memory.limit, Some(32 << 20));
}

#[test]
fn fork_bomb_stops_at_pids_max() {
    let fx = Fixture::new("forkbomb");
    const MAX: usize = 16;
    let res = Resources {
        pids: PidsResources {
            max: Some(MAX as u64),
        },
        ..Default::default()
    };
    let cg = Cgroup::create(&fx.layout, &fx.path, &res).unwrap();
    // Bounded: at most 100 sleepers. The shell dies at its first failed fork.
    let mut bomb = Gated::spawn(
        "i=0; while [ $i -lt 100 ]; do sleep 30 >/dev/null & i=$((i+1)); done; echo spawned $i",
    );
    cg.add_pid(bomb.pid()).unwrap();
    bomb.release();
    let status = bomb
        .wait_timeout(Duration::from_secs(20))
        .expect("the shell must stop");
    let out = bomb.stdout();
    assert!(
        !out.contains("spawned 100"),
        "all 100 forks succeeded: {out:?} {status:?}"
    );
    let pids = cg.pids().unwrap();
    assert_eq!(
        pids.len(),
        MAX - 1,
        "the sleepers fill pids.max less the exited shell: {pids:?}"
    );
    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids.current, Some((MAX - 1) as u64));
    assert_eq!(stats.pids.limit, Some(MAX as u64));
    assert!(stats.pids.limit_hits >= Some(1), "{:?}", stats.pids);
    if let Some(peak) = stats.pids.peak {
        assert_eq!(peak, MAX as u64);
    }
    cg.kill().unwrap();
    assert!(cg.pids().unwrap().is_empty());
}

#[test]
fn busy_loop_under_a_fifth_of_a_cpu() {
    let fx = Fixture::new("cpu");
    let res = Resources {
        cpu: CpuResources {
            cpus: Some(0.2),
            ..Default::default()
        },
        ..Default::default()
    };
    let cg = Cgroup::create(&fx.layout, &fx.path, &res).unwrap();
    let mut spin = Gated::spawn("while :; do :; done");
    cg.add_pid(spin.pid()).unwrap();
    spin.release();
    sleep(Duration::from_millis(300));
    let before = cg.stats().unwrap().cpu;
    let t0 = Instant::now();
    sleep(Duration::from_secs(2));
    let after = cg.stats().unwrap().cpu;
    let wall = t0.elapsed().as_micros() as f64;
    let used = (after.usage_usec.unwrap() - before.usage_usec.unwrap()) as f64;
    let share = used / wall;
    eprintln!("cpu share {share:.3} ({used} µs in {wall} µs)");
    assert!(
        (0.10..=0.30).contains(&share),
        "cpu share {share:.3} outside 10–30%"
    );
    assert!(
        after.nr_throttled > before.nr_throttled,
        "{before:?} -> {after:?}"
    );
    assert!(after.throttled_usec > before.throttled_usec);
}

/// A whole-disk block device of this machine: the one under `/`, else the first in /sys/block.
fn some_disk() -> (u32, u32) {
    let from_root = std::os::unix::fs::MetadataExt::dev(&fs::metadata("/").unwrap());
    let root_dev = format!(
        "{}:{}",
        nix::sys::stat::major(from_root),
        nix::sys::stat::minor(from_root)
    );
    let sys = Path::new("/sys/dev/block").join(&root_dev);
    let text = if sys.join("partition").exists() {
        fs::read_to_string(sys.join("../dev")).unwrap()
    } else if sys.exists() {
        root_dev
    } else {
        let mut names: Vec<_> = fs::read_dir("/sys/block")
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort_by_key(|n| n.to_string_lossy().starts_with("loop"));
        let name = names.first().expect("no block device at all");
        fs::read_to_string(Path::new("/sys/block").join(name).join("dev")).unwrap()
    };
    let (ma, mi) = text.trim().split_once(':').unwrap();
    (ma.parse().unwrap(), mi.parse().unwrap())
}

#[test]
fn io_limits_land_in_the_device_file() {
    let fx = Fixture::new("io");
    let (major, minor) = some_disk();
    let dev = IoDeviceLimit {
        major,
        minor,
        read_bps: Some(1 << 20),
        write_bps: Some(2 << 20),
        read_iops: Some(100),
        write_iops: Some(200),
    };
    let res = Resources {
        io: IoResources {
            weight: None,
            devices: vec![dev],
        },
        ..Default::default()
    };
    let cg = Cgroup::create(&fx.layout, &fx.path, &res).unwrap();
    let key = format!("{major}:{minor}");
    match cg.version() {
        Version::V2 => {
            let io_max = fs::read_to_string(cg.v2_dir().unwrap().join("io.max")).unwrap();
            let line = io_max
                .lines()
                .find(|l| l.starts_with(&format!("{key} ")))
                .expect("no io.max line");
            assert_eq!(
                line,
                format!("{key} rbps=1048576 wbps=2097152 riops=100 wiops=200")
            );
        }
        Version::V1 => {
            let dir = cg.v1_dir("blkio").unwrap();
            for (file, value) in [
                ("blkio.throttle.read_bps_device", 1 << 20),
                ("blkio.throttle.write_bps_device", 2 << 20),
                ("blkio.throttle.read_iops_device", 100),
                ("blkio.throttle.write_iops_device", 200),
            ] {
                let text = fs::read_to_string(dir.join(file)).unwrap();
                assert_eq!(text.trim(), format!("{key} {value}"), "{file}");
            }
        }
    }
    // Removing one throttle again.
    let clear = IoDeviceLimit {
        major,
        minor,
        read_bps: Some(UNLIMITED),
        ..Default::default()
    };
    cg.update(&Resources {
        io: IoResources {
            weight: None,
            devices: vec![clear],
        },
        ..Default::default()
    })
    .unwrap();
    match cg.version() {
        Version::V2 => {
            let io_max = fs::read_to_string(cg.v2_dir().unwrap().join("io.max")).unwrap();
            assert!(
                io_max.contains(&format!("{key} rbps=max wbps=2097152")),
                "{io_max}"
            );
        }
        Version::V1 => {
            let text = fs::read_to_string(
                cg.v1_dir("blkio")
                    .unwrap()
                    .join("blkio.throttle.read_bps_device"),
            )
            .unwrap();
            assert_eq!(text.trim(), "");
        }
    }
    // A device that does not exist is refused before anything is written.
    let bogus = IoDeviceLimit {
        major: 4095,
        minor: 4095,
        read_bps: Some(1),
        ..Default::default()
    };
    let err = cg
        .update(&Resources {
            io: IoResources {
                weight: None,
                devices: vec![bogus],
            },
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::InvalidResource {
                field: "io.devices",
                ..
            }
        ),
        "{err}"
    );
}

fn read_counter(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn freeze_stops_a_counter_and_thaw_resumes_it() {
    let fx = Fixture::new("freeze");
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let counter = tmp.path().join("counter");
    let mut count = Gated::spawn(&format!(
        "i=0; while :; do i=$((i+1)); echo $i > {}; done",
        counter.display()
    ));
    cg.add_pid(count.pid()).unwrap();
    count.release();
    wait_for("the counter to start", Duration::from_secs(5), || {
        read_counter(&counter).trim().parse::<u64>().is_ok()
    });
    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let frozen_at = read_counter(&counter);
    sleep(Duration::from_millis(400));
    assert_eq!(
        read_counter(&counter),
        frozen_at,
        "the counter advanced while frozen"
    );
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    wait_for(
        "the counter to advance after thaw",
        Duration::from_secs(5),
        || {
            let now = read_counter(&counter);
            !now.is_empty() && now != frozen_at
        },
    );
    // Freezing twice and thawing twice are fine.
    cg.freeze().unwrap();
    cg.freeze().unwrap();
    cg.thaw().unwrap();
    cg.thaw().unwrap();
}

#[test]
fn kill_leaves_no_process_and_remove_leaves_no_directory() {
    let fx = Fixture::new("kill");
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    let mut family = Gated::spawn("for i in 1 2 3 4 5; do sleep 60 >/dev/null & done; wait");
    cg.add_pid(family.pid()).unwrap();
    family.release();
    wait_for("six processes", Duration::from_secs(5), || {
        cg.pids().unwrap().len() == 6
    });
    let sleepers: Vec<i32> = cg
        .pids()
        .unwrap()
        .into_iter()
        .filter(|p| *p != family.pid())
        .collect();
    cg.kill().unwrap();
    assert!(
        cg.pids().unwrap().is_empty(),
        "processes left: {:?}",
        cg.pids()
    );
    let status = family
        .wait_timeout(Duration::from_secs(5))
        .expect("the shell must be dead");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    reap_orphans(Duration::from_millis(500));
    for pid in sleepers {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "sleeper {pid} still exists"
        );
    }
    let dirs: Vec<PathBuf> = cg.dirs().into_iter().map(Path::to_owned).collect();
    assert!(!dirs.is_empty());
    cg.remove().unwrap();
    for d in dirs {
        assert!(!d.exists(), "{} is left behind", d.display());
    }
    fx.assert_gone();
}

#[test]
fn kill_of_an_empty_cgroup_and_remove_waits_for_exit() {
    let fx = Fixture::new("remove");
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    cg.kill().unwrap();
    // A process that exits by itself shortly after remove() starts: remove retries on EBUSY.
    let mut brief = Gated::spawn("sleep 0.3 2>/dev/null || sleep 1");
    cg.add_pid(brief.pid()).unwrap();
    brief.release();
    let reaper = std::thread::spawn(move || brief.wait_timeout(Duration::from_secs(5)));
    cg.remove().unwrap();
    assert!(reaper.join().unwrap().is_some());
    fx.assert_gone();
}

#[test]
fn failed_apply_leaves_no_cgroup_behind() {
    let fx = Fixture::new("failed");
    // A memory node far outside the host's: validation refuses it, and without validation the
    // kernel does, after the memory limit was already written.
    let res = Resources {
        memory: MemoryResources {
            limit: Some(64 << 20),
            ..Default::default()
        },
        cpu: CpuResources {
            cpuset_mems: Some("63".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Cgroup::create(&fx.layout, &fx.path, &res).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::InvalidResource {
                field: "cpu.cpuset_mems",
                ..
            }
        ),
        "{err}"
    );
    fx.assert_gone();
    let err = Cgroup::create_unvalidated(&fx.layout, &fx.path, &res).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::Write {
                controller: "cpuset",
                ..
            }
        ),
        "{err}"
    );
    fx.assert_gone();
    // A memory limit the kernel takes but validation refuses (below 6 MiB).
    let tiny = Resources {
        memory: MemoryResources {
            limit: Some(1 << 20),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        Cgroup::create(&fx.layout, &fx.path, &tiny),
        Err(CgroupError::InvalidResource { .. })
    ));
    fx.assert_gone();
}

#[test]
fn update_changes_live_limits() {
    let fx = Fixture::new("update");
    let mut memory = MemoryResources {
        limit: Some(64 << 20),
        ..Default::default()
    };
    let memsw = Layout::detect().unwrap().version() == Version::V1
        && Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    if memsw {
        memory.swap = Some(0); // memsw = 64 MiB: raising the limit must raise memsw first
    }
    let res = Resources {
        memory,
        pids: PidsResources { max: Some(10) },
        ..Default::default()
    };
    let cg = Cgroup::create(&fx.layout, &fx.path, &res).unwrap();
    let mut sleeper = Gated::spawn("exec sleep 60");
    cg.add_pid(sleeper.pid()).unwrap();
    sleeper.release();
    let before = cg.stats().unwrap();
    assert_eq!(before.memory.limit, Some(64 << 20));
    assert_eq!(before.pids.limit, Some(10));
    let new = Resources {
        memory: MemoryResources {
            limit: Some(128 << 20),
            ..Default::default()
        },
        pids: PidsResources { max: Some(20) },
        cpu: CpuResources {
            weight: Some(200),
            cpus: Some(1.0),
            ..Default::default()
        },
        ..Default::default()
    };
    cg.update(&new).unwrap();
    let after = cg.stats().unwrap();
    assert_eq!(after.memory.limit, Some(128 << 20));
    assert_eq!(after.pids.limit, Some(20));
    match cg.version() {
        Version::V2 => {
            let d = cg.v2_dir().unwrap();
            assert_eq!(
                fs::read_to_string(d.join("cpu.weight")).unwrap().trim(),
                "200"
            );
            assert_eq!(
                fs::read_to_string(d.join("cpu.max")).unwrap().trim(),
                "100000 100000"
            );
        }
        Version::V1 => {
            let d = cg.v1_dir("cpu").unwrap();
            assert_eq!(
                fs::read_to_string(d.join("cpu.shares")).unwrap().trim(),
                weight_to_shares(200).to_string()
            );
            assert_eq!(
                fs::read_to_string(d.join("cpu.cfs_quota_us"))
                    .unwrap()
                    .trim(),
                "100000"
            );
            if memsw {
                let m = cg.v1_dir("memory").unwrap();
                let sw = fs::read_to_string(m.join("memory.memsw.limit_in_bytes")).unwrap();
                assert_eq!(
                    sw.trim(),
                    (128u64 << 20).to_string(),
                    "swap amount 0 is kept"
                );
            }
        }
    }
    assert_eq!(cg.pids().unwrap(), [sleeper.pid()]);
    // A value the kernel would take but validation refuses leaves the live limits alone.
    let bad = Resources {
        pids: PidsResources { max: Some(0) },
        ..Default::default()
    };
    assert!(cg.update(&bad).is_err());
    assert_eq!(cg.stats().unwrap().pids.limit, Some(20));
}

#[test]
fn stats_on_a_live_cgroup() {
    let fx = Fixture::new("stats");
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    let mut worker =
        Gated::spawn("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 60");
    cg.add_pid(worker.pid()).unwrap();
    worker.release();
    wait_for("some CPU time", Duration::from_secs(10), || {
        cg.stats().unwrap().cpu.usage_usec.unwrap_or(0) > 1000
    });
    let s = cg.stats().unwrap();
    assert!(s.memory.current.unwrap() > 0, "{:?}", s.memory);
    assert!(!s.memory.raw.is_empty());
    assert!(s.memory.anon.is_some() && s.memory.file.is_some());
    assert!(
        s.cpu.user_usec.is_some() && s.cpu.system_usec.is_some(),
        "{:?}",
        s.cpu
    );
    assert_eq!(s.pids.current, Some(1));
    if fx.layout.unified_root().is_some() && Path::new("/proc/pressure/cpu").exists() {
        assert!(
            s.pressure.cpu.is_some(),
            "PSI is on but no cpu.pressure: {:?}",
            s.pressure
        );
    }
}

#[test]
fn dir_fd_only_on_unified() {
    let fx = Fixture::new("dirfd");
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    match fx.layout.kind() {
        LayoutKind::Unified => {
            let fd = cg.dir_fd().unwrap();
            let link = fs::read_link(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ))
            .unwrap();
            assert_eq!(link, cg.v2_dir().unwrap());
        }
        LayoutKind::Legacy | LayoutKind::Hybrid => {
            assert!(matches!(cg.dir_fd(), Err(CgroupError::Unsupported { .. })));
        }
    }
}

#[test]
fn signal_reaches_every_process() {
    let fx = Fixture::new("signal");
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    let mut family = Gated::spawn("for i in 1 2 3; do sleep 60 >/dev/null & done; wait");
    cg.add_pid(family.pid()).unwrap();
    family.release();
    wait_for("four processes", Duration::from_secs(5), || {
        cg.pids().unwrap().len() == 4
    });
    cg.signal(Signal::SIGTERM).unwrap();
    let status = family
        .wait_timeout(Duration::from_secs(5))
        .expect("the shell must end");
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    wait_for("the sleepers to end", Duration::from_secs(5), || {
        cg.pids().unwrap().is_empty()
    });
    // The cgroup was thawed again: a new process runs.
    let mut after = Gated::spawn("echo alive");
    cg.add_pid(after.pid()).unwrap();
    after.release();
    assert!(after
        .wait_timeout(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    assert_eq!(after.stdout(), "alive\n");
}

/// The v1-only code paths (no cgroup2 mount: kill by freeze → SIGKILL → thaw rounds, v1
/// freezer) on the host's own v1 hierarchies, viewed as a legacy layout. On a pure v2 host
/// there is no v1 hierarchy to run them on, and the test checks just that.
#[test]
fn legacy_view_kills_by_signal_rounds() {
    let mut fx = Fixture::new("legacy");
    let v1: Vec<Hierarchy> = fx.layout.hierarchies().to_vec();
    if fx.layout.kind() == LayoutKind::Unified {
        assert!(
            v1.iter().all(|h| h.controllers.is_empty()),
            "a unified host with v1 controllers: {v1:?}"
        );
        return;
    }
    fx.layout = Layout::legacy(v1);
    let res = Resources {
        pids: PidsResources { max: Some(50) },
        ..Default::default()
    };
    let cg = Cgroup::create(&fx.layout, &fx.path, &res).unwrap();
    assert!(cg.v2_dir().is_none());
    let mut family = Gated::spawn("for i in 1 2 3 4 5; do sleep 60 >/dev/null & done; wait");
    cg.add_pid(family.pid()).unwrap();
    family.release();
    wait_for("six processes", Duration::from_secs(5), || {
        cg.pids().unwrap().len() == 6
    });
    cg.freeze().unwrap();
    cg.thaw().unwrap();
    cg.kill().unwrap();
    assert!(cg.pids().unwrap().is_empty());
    assert_eq!(
        family
            .wait_timeout(Duration::from_secs(5))
            .unwrap()
            .signal(),
        Some(libc::SIGKILL)
    );
    reap_orphans(Duration::from_millis(500));
    cg.remove().unwrap();
    fx.assert_gone();
}

/// hugetlb is a v2 controller in the guest and unmounted on this hybrid host: where it is
/// available the limit lands in the page size's file, elsewhere it is refused before anything
/// is created.
#[test]
fn hugetlb_limit_or_a_clear_refusal() {
    let fx = Fixture::new("hugetlb");
    let mut sizes: Vec<String> = fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    // hugepages-2048kB -> ("2MB", 2 MiB)
    let (size, page) = sizes
        .iter()
        .filter_map(|s| {
            s.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse::<u64>()
                .ok()
        })
        .map(|kb| {
            let name = if kb >= 1 << 20 {
                format!("{}GB", kb >> 20)
            } else if kb >= 1 << 10 {
                format!("{}MB", kb >> 10)
            } else {
                format!("{kb}KB")
            };
            (name, kb << 10)
        })
        .next()
        .unwrap_or_else(|| ("2MB".into(), 2 << 20));
    let res = Resources {
        hugetlb: vec![HugetlbLimit {
            page_size: size.clone(),
            limit: 4 * page,
        }],
        ..Default::default()
    };
    let available = match fx.layout.kind() {
        LayoutKind::Unified => {
            let root = fx.layout.unified_root().unwrap();
            fs::read_to_string(root.join("cgroup.controllers"))
                .unwrap()
                .split_whitespace()
                .any(|c| c == "hugetlb")
        }
        LayoutKind::Legacy | LayoutKind::Hybrid => fx.layout.hierarchy("hugetlb").is_some(),
    };
    match Cgroup::create(&fx.layout, &fx.path, &res) {
        Ok(cg) => {
            assert!(available, "created although hugetlb is not available");
            let (dir, file) = match cg.version() {
                Version::V2 => (cg.v2_dir().unwrap(), format!("hugetlb.{size}.max")),
                Version::V1 => (
                    cg.v1_dir("hugetlb").unwrap(),
                    format!("hugetlb.{size}.limit_in_bytes"),
                ),
            };
            assert_eq!(
                fs::read_to_string(dir.join(&file)).unwrap().trim(),
                (4 * page).to_string(),
                "{file}"
            );
            let stats = cg.stats().unwrap();
            assert!(
                stats
                    .hugetlb
                    .iter()
                    .any(|h| h.page_size == size && h.usage == 0),
                "{:?}",
                stats.hugetlb
            );
        }
        Err(err) => {
            assert!(!available, "hugetlb is available but create failed: {err}");
            assert!(
                matches!(
                    err,
                    CgroupError::ControllerUnavailable {
                        controller: "hugetlb",
                        ..
                    }
                ),
                "{err}"
            );
            fx.assert_gone();
        }
    }
}

#[test]
fn a_forked_child_moves_itself_in_with_self_attach() {
    let fx = Fixture::new("selfattach");
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    let attach = cg.self_attach().unwrap();
    assert_eq!(
        attach.is_empty(),
        fx.layout.kind() == cove_cgroup::LayoutKind::Unified
    );
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    // SAFETY: the test process may be multithreaded; the child only writes to already-open files
    // (no allocation, no locks) and then waits to be killed.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let ok = attach.attach_calling_thread().is_ok();
            let _ = nix::unistd::write(&write_end, if ok { b"y" } else { b"n" });
            // Stay alive (an exited task no longer shows its cgroups) until the parent kills us.
            loop {
                // SAFETY: pause has no preconditions; it returns only when a signal is handled.
                unsafe { libc::pause() };
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write_end);
            let mut buf = [0u8; 1];
            nix::unistd::read(&read_end, &mut buf).unwrap();
            assert_eq!(&buf, b"y", "attach_calling_thread failed in the child");
            let own = std::fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap_or_default();
            kill(child, Signal::SIGKILL).unwrap();
            waitpid(child, None).unwrap();
            if !attach.is_empty() {
                let v1_lines: Vec<&str> = own
                    .lines()
                    .filter(|l| !l.starts_with("0::") && !l.contains("name="))
                    .collect();
                assert!(!v1_lines.is_empty(), "{own}");
                for line in v1_lines {
                    assert!(
                        line.ends_with(&format!("/{}", fx.path)),
                        "not moved: {line}\n{own}"
                    );
                }
            }
        }
    }
    cg.remove().unwrap();
}
