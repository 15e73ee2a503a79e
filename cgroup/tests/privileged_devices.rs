#![cfg(feature = "privileged")]
//! Device access rules on real cgroups (hybrid v1 here, the eBPF filter in `cargo xtask
//! vm-test`'s cgroup-v2 guest and, on a hybrid host, on the cgroup2 tracking directory). Needs
//! root (CAP_MKNOD).
//!
//! A forked child, moved into the cgroup before it does anything, opens `/dev/null` for
//! writing, makes a block node for a disk of this machine in a temp dir and opens it, and
//! reports the errno of each step. Each test uses its own cgroup
//! `cove-test-devices/<name>-<pid>`, removed by a guard's `Drop` (with the parent when empty);
//! the node goes with its temp dir.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use cove_cgroup::*;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{makedev, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;

static SERIAL: Mutex<()> = Mutex::new(());

const PARENT: &str = "cove-test-devices";

/// Holds the test lock and the cgroup path; removes the cgroup (in every hierarchy) on drop.
struct Fixture {
    layout: Layout,
    path: String,
    _lock: MutexGuard<'static, ()>,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let lock = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let layout = Layout::detect().expect("detect the cgroup layout");
        eprintln!("layout: {:?}", layout.kind());
        Fixture {
            layout,
            path: format!("{PARENT}/{name}-{}", std::process::id()),
            _lock: lock,
        }
    }

    fn roots(&self) -> Vec<PathBuf> {
        let v1 = self
            .layout
            .hierarchies()
            .iter()
            .filter(|h| !h.controllers.is_empty())
            .map(|h| h.mount_point.clone());
        self.layout
            .unified_root()
            .map(Path::to_owned)
            .into_iter()
            .chain(v1)
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for layout in [self.layout.clone(), without_v1_devices(&self.layout)] {
            if let Ok(cg) = Cgroup::open(&layout, &self.path) {
                let _ = cg.kill();
                let _ = cg.remove();
            }
        }
        for root in self.roots() {
            let _ = fs::remove_dir(root.join(&self.path));
            let _ = fs::remove_dir(root.join(PARENT));
        }
    }
}

/// The same layout without the v1 `devices` hierarchy: on a hybrid host, device rules then go
/// to an eBPF filter on the cgroup2 tracking directory.
fn without_v1_devices(layout: &Layout) -> Layout {
    let rest: Vec<Hierarchy> = layout
        .hierarchies()
        .iter()
        .filter(|h| !h.has("devices"))
        .cloned()
        .collect();
    match (layout.kind(), layout.unified_root()) {
        (LayoutKind::Hybrid, Some(unified)) => Layout::hybrid(rest, unified),
        (LayoutKind::Legacy, _) => Layout::legacy(rest),
        _ => layout.clone(),
    }
}

/// A block device this process can open without device rules: the disk under `/`, else the
/// others in /sys/block (loop devices last). Some hosts refuse opening their real disks even
/// to root (this one does, for `/dev/vda`); a loop device then serves.
fn openable_disk() -> (u64, u64) {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| n.starts_with("loop"));
    let root = std::os::unix::fs::MetadataExt::dev(&fs::metadata("/").unwrap());
    let root_dev = format!(
        "{}:{}",
        nix::sys::stat::major(root),
        nix::sys::stat::minor(root)
    );
    let whole = |dev: &str| -> Option<String> {
        let sys = Path::new("/sys/dev/block").join(dev);
        let dir = if sys.join("partition").exists() {
            sys.join("..")
        } else {
            sys
        };
        let link = fs::canonicalize(dir).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    };
    if let Some(name) = whole(&root_dev) {
        names.insert(0, name);
    }
    for name in names {
        let Ok(text) = fs::read_to_string(Path::new("/sys/block").join(&name).join("dev")) else {
            continue;
        };
        if fs::File::open(Path::new("/dev").join(&name)).is_ok() {
            let (ma, mi) = text.trim().split_once(':').unwrap();
            return (ma.parse().unwrap(), mi.parse().unwrap());
        }
        eprintln!("/dev/{name} cannot be opened here; trying the next block device");
    }
    panic!("no block device in /sys/block can be opened from /dev: nothing to probe with");
}

/// A temp dir on a file system that allows device nodes (not mounted `nodev`).
fn node_dir() -> tempfile::TempDir {
    let candidates = [
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
        std::env::temp_dir(),
    ];
    for dir in candidates {
        let nodev = statvfs(&dir).map(|s| s.flags().contains(FsFlags::ST_NODEV));
        if nodev == Ok(false) {
            return tempfile::tempdir_in(dir).unwrap();
        }
    }
    panic!("no temp dir without nodev for the device node");
}

/// What the child saw: the result of each step.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    open_null_for_writing: Result<(), Errno>,
    mknod_disk: Result<(), Errno>,
    open_disk: Result<(), Errno>,
}

fn code(r: Result<(), Errno>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e as i32,
    }
}

fn result(code: i32) -> Result<(), Errno> {
    if code == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(code))
    }
}

/// Forks a child, moves it into `cg`, and lets it open /dev/null for writing, `mknod` a block
/// node for `disk` in a fresh temp dir and open that node read-only.
fn probe(cg: &Cgroup, disk: (u64, u64)) -> Seen {
    let dir = node_dir();
    let node = CString::new(dir.path().join("disk").as_os_str().as_bytes()).unwrap();
    let null = c"/dev/null";
    let (go_r, go_w) = nix::unistd::pipe().unwrap();
    let (res_r, res_w) = nix::unistd::pipe().unwrap();
    // SAFETY: the test process may be multithreaded; the child only makes system calls on
    // memory prepared before the fork (no allocation, no locks) and then `_exit`s.
    match unsafe { nix::unistd::fork() }.unwrap() {
        ForkResult::Child => {
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(&go_r, &mut b);
            let open_null = nix::fcntl::open(null, OFlag::O_WRONLY, Mode::empty()).map(drop);
            let dev = makedev(disk.0, disk.1);
            let mknod = nix::sys::stat::mknod(
                node.as_c_str(),
                SFlag::S_IFBLK,
                Mode::from_bits_truncate(0o600),
                dev,
            );
            let open_disk =
                nix::fcntl::open(node.as_c_str(), OFlag::O_RDONLY, Mode::empty()).map(drop);
            let mut out = [0u8; 12];
            for (i, r) in [open_null, mknod, open_disk].into_iter().enumerate() {
                out[i * 4..i * 4 + 4].copy_from_slice(&code(r).to_ne_bytes());
            }
            let _ = nix::unistd::write(&res_w, &out);
            // SAFETY: _exit ends the forked child at once, without running the parent's atexit
            // handlers or destructors; it has no preconditions.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(res_w);
            drop(go_r);
            let moved = cg.add_pid(child.as_raw());
            if moved.is_err() {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            } else {
                nix::unistd::write(&go_w, b"g").unwrap();
            }
            let mut out = [0u8; 12];
            let mut got = 0;
            while got < out.len() {
                match nix::unistd::read(&res_r, &mut out[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            let status = waitpid(child, None).unwrap();
            moved.expect("move the child into the cgroup");
            assert_eq!(status, WaitStatus::Exited(child, 0));
            assert_eq!(got, 12, "the child reported");
            let at = |i: usize| i32::from_ne_bytes(out[i * 4..i * 4 + 4].try_into().unwrap());
            Seen {
                open_null_for_writing: result(at(0)),
                mknod_disk: result(at(1)),
                open_disk: result(at(2)),
            }
        }
    }
}

fn with_devices(devices: Vec<DeviceRule>) -> Resources {
    Resources {
        devices,
        ..Default::default()
    }
}

const CONFINED: Seen = Seen {
    open_null_for_writing: Ok(()),
    mknod_disk: Ok(()),
    open_disk: Err(Errno::EPERM),
};

const FREE: Seen = Seen {
    open_null_for_writing: Ok(()),
    mknod_disk: Ok(()),
    open_disk: Ok(()),
};

#[test]
fn devices_default_rules_stop_opening_a_disk_node_and_no_rules_do_not() {
    let disk = openable_disk();
    eprintln!("disk {}:{}", disk.0, disk.1);
    let fx = Fixture::new("default");
    // Without device rules the child can open the node: the probe sees the difference.
    let cg = Cgroup::create(&fx.layout, &fx.path, &Resources::default()).unwrap();
    assert_eq!(probe(&cg, disk), FREE);
    cg.remove().unwrap();
    let path = format!("{}-rules", fx.path);
    let _guard = Remove {
        layout: &fx.layout,
        path: &path,
    };
    let res = with_devices(default_container_devices());
    let cg = Cgroup::create(&fx.layout, &path, &res).unwrap();
    assert_eq!(probe(&cg, disk), CONFINED);
    if fx.layout.kind() == LayoutKind::Unified {
        assert_eq!(cg.device_filters().unwrap(), Some(1));
    } else {
        assert_eq!(cg.device_filters().unwrap(), None);
        let list = fs::read_to_string(cg.v1_dir("devices").unwrap().join("devices.list")).unwrap();
        assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
        assert!(list.lines().any(|l| l == "b *:* m"), "{list}");
        assert!(!list.contains("a *:* rwm"), "{list}");
    }
    cg.remove().unwrap();
}

/// Removes the cgroup at `path` of `layout` (killing what is left in it) when dropped, also
/// when the test panics.
struct Remove<'a> {
    layout: &'a Layout,
    path: &'a str,
}

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        if let Ok(cg) = Cgroup::open(self.layout, self.path) {
            let _ = cg.kill();
            let _ = cg.remove();
        }
    }
}

#[test]
fn devices_update_lets_the_disk_in_and_out_again() {
    let disk = openable_disk();
    let fx = Fixture::new("update");
    let layouts = [
        ("host layout", fx.layout.clone()),
        ("without v1 devices", without_v1_devices(&fx.layout)),
    ];
    for (i, (label, layout)) in layouts.into_iter().enumerate() {
        eprintln!("{label}: {:?}", layout.kind());
        let path = format!("{}-{i}", fx.path);
        let _guard = Remove {
            layout: &layout,
            path: &path,
        };
        let res = with_devices(default_container_devices());
        let cg = match Cgroup::create(&layout, &path, &res) {
            Ok(cg) => cg,
            Err(CgroupError::ControllerUnavailable {
                field: "devices", ..
            }) if layout.unified_root().is_none() => {
                // A legacy host without the devices hierarchy has nowhere to put the rules.
                continue;
            }
            Err(e) => panic!("{label}: {e}"),
        };
        let ebpf = layout.kind() == LayoutKind::Unified || layout.hierarchy("devices").is_none();
        let filters = || cg.device_filters().unwrap();
        assert_eq!(filters(), if ebpf { Some(1) } else { None }, "{label}");
        assert_eq!(probe(&cg, disk), CONFINED, "{label}");
        // Let the disk be read.
        let mut rules = default_container_devices();
        rules.push(DeviceRule::allow(
            DeviceKind::Block,
            Some(disk.0 as i64),
            Some(disk.1 as i64),
            "r",
        ));
        cg.update(&with_devices(rules)).unwrap();
        assert_eq!(probe(&cg, disk), FREE, "{label}");
        assert_eq!(
            filters(),
            if ebpf { Some(1) } else { None },
            "{label}: replaced"
        );
        // And refuse it again, /dev/null too.
        cg.update(&with_devices(vec![DeviceRule::deny_all()]))
            .unwrap();
        let seen = probe(&cg, disk);
        assert_eq!(seen.open_null_for_writing, Err(Errno::EPERM), "{label}");
        assert_eq!(seen.mknod_disk, Err(Errno::EPERM), "{label}");
        assert_eq!(filters(), if ebpf { Some(1) } else { None }, "{label}");
        cg.kill().unwrap();
    }
}

#[test]
fn devices_invalid_rule_creates_nothing() {
    let fx = Fixture::new("invalid");
    let res = with_devices(vec![
        DeviceRule::deny_all(),
        DeviceRule::allow(DeviceKind::Char, Some(1), Some(3), "rwq"),
    ]);
    let err = Cgroup::create(&fx.layout, &fx.path, &res).unwrap_err();
    assert!(err.to_string().contains("rule 1: allow c 1:3 rwq"), "{err}");
    for root in fx.roots() {
        assert!(!root.join(&fx.path).exists());
    }
}
