#![cfg(feature = "privileged")]
//! Applies real mount plans, always inside a forked child that unshared its mount namespace (and
//! pid, IPC, optionally user and network namespaces) and made `/` recursively private, so the host
//! is never touched. The checks run inside, as pid 1 of the new pid namespace, after `apply`; the
//! verdict comes back through a pipe and the exit code. Every test also asserts that the host's
//! `/proc/self/mountinfo` is identical before and after.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use cove_rootfs::{
    DeviceKind, DeviceNode, MountKind, MountPlan, MountSpec, Propagation, RootSource, RootfsSpec,
};
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::makedev;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// Tests fork: one at a time, so no other test thread holds a lock across a fork.
static FORK_LOCK: Mutex<()> = Mutex::new(());

/// Which namespaces the container child gets besides mount, pid and IPC.
#[derive(Clone, Copy)]
struct Namespaces {
    user: bool,
    net: bool,
    cgroup: bool,
}

const PLAIN: Namespaces = Namespaces {
    user: false,
    net: false,
    cgroup: false,
};

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Kills and reaps the container child if the test leaves early.
struct ChildGuard(Option<Pid>);

impl ChildGuard {
    fn wait(mut self) -> WaitStatus {
        let pid = self.0.take().expect("waited once");
        waitpid(pid, None).expect("waitpid")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // The grandchild (pid 1 of the new pid namespace) has PR_SET_PDEATHSIG = SIGKILL.
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

/// Runs `check` as pid 1 of new mount, pid and IPC namespaces (plus user, network and cgroup ones
/// when asked), with `/` already recursively private. Returns the check's verdict.
fn in_container(ns: Namespaces, check: impl FnOnce() -> Check) -> Check {
    let _lock = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let (rd, wr) = nix::unistd::pipe().unwrap();
    // SAFETY: the child runs only `child_main`, which ends in `_exit`; it allocates, which is fine
    // after fork with glibc (malloc's locks are reset in the child), and FORK_LOCK keeps other
    // tests of this binary from forking concurrently.
    let pid = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(rd);
            child_main(ns, wr, check)
        }
        ForkResult::Parent { child } => child,
    };
    let guard = ChildGuard(Some(pid));
    drop(wr);
    let msg = read_verdict(rd)?;
    let status = guard.wait();
    let after = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(before, after, "the host's mount table changed");
    match status {
        WaitStatus::Exited(_, 0) if msg.is_empty() => Ok(()),
        other => Err(format!("container child: {other:?}: {msg}")),
    }
}

/// Reads the pipe to EOF, giving up after 60 s of silence.
fn read_verdict(rd: OwnedFd) -> Result<String, String> {
    let mut file = File::from(rd);
    let mut out = Vec::new();
    loop {
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, 60_000u16).map_err(|e| e.to_string())? == 0 {
            return Err("the container child timed out".into());
        }
        let mut buf = [0u8; 4096];
        match file.read(&mut buf).map_err(|e| e.to_string())? {
            0 => return Ok(String::from_utf8_lossy(&out).into_owned()),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn child_main(ns: Namespaces, wr: OwnedFd, check: impl FnOnce() -> Check) -> ! {
    let code = match enter_namespaces(ns) {
        Err(e) => report(&wr, &e),
        // SAFETY: this child is single-threaded; the grandchild runs `grandchild_main` and `_exit`s.
        Ok(()) => match unsafe { fork() } {
            Ok(ForkResult::Child) => grandchild_main(&wr, check),
            Ok(ForkResult::Parent { child }) => {
                drop(wr);
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => code,
                    _ => 2,
                }
            }
            Err(e) => report(&wr, &format!("fork in the new pid namespace: {e}")),
        },
    };
    exit_now(code)
}

fn grandchild_main(wr: &OwnedFd, check: impl FnOnce() -> Check) -> ! {
    let code = match nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        Err(e) => report(wr, &format!("set_pdeathsig: {e}")),
        Ok(()) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(Ok(())) => 0,
            Ok(Err(msg)) => report(wr, &msg),
            Err(_) => report(wr, "the check panicked"),
        },
    };
    exit_now(code)
}

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the forked process without running the parent's atexit handlers or
    // destructors; it has no preconditions.
    unsafe { libc::_exit(code) }
}

fn report(wr: &OwnedFd, msg: &str) -> i32 {
    let _ = File::from(wr.try_clone().expect("dup")).write_all(msg.as_bytes());
    1
}

fn enter_namespaces(ns: Namespaces) -> Result<(), String> {
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC;
    if ns.user {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    if ns.net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if ns.cgroup {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    unshare(flags).map_err(|e| format!("unshare: {e}"))?;
    if ns.user {
        // Map root to root only (the only map a process may write for itself).
        fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups: {e}"))?;
        fs::write("/proc/self/uid_map", "0 0 1").map_err(|e| format!("uid_map: {e}"))?;
        fs::write("/proc/self/gid_map", "0 0 1").map_err(|e| format!("gid_map: {e}"))?;
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / rprivate: {e}"))
}

/// A tempdir holding `root/` with a static busybox and a few applet links.
fn busybox_rootfs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox is missing: apt-get install -y busybox-static");
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "ls", "true"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let root = fs::canonicalize(root).unwrap();
    (dir, root)
}

fn apply(spec: &RootfsSpec) -> Check {
    let plan = MountPlan::build(spec).map_err(|e| format!("build: {e}"))?;
    plan.apply()
        .map_err(|e| format!("apply: {e} ({})", e.errno().map_or(0, |n| n)))
}

// --- checks run inside -------------------------------------------------------------------------

/// One line of /proc/self/mountinfo.
#[derive(Debug)]
struct Mount {
    root: String,
    point: String,
    options: String,
    fstype: String,
    super_options: String,
    /// The optional fields: `shared:N`, `master:N`, `unbindable`, …
    tags: Vec<String>,
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = u8::from_str_radix(rest.get(i + 1..i + 4).unwrap_or("x"), 8);
        match code {
            Ok(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            Err(_) => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out + rest
}

fn mounts() -> Vec<Mount> {
    let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    text.lines()
        .map(|line| {
            let (left, right) = line.split_once(" - ").expect("separator");
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Mount {
                root: unescape(l[3]),
                point: unescape(l[4]),
                options: l[5].to_owned(),
                fstype: r[0].to_owned(),
                super_options: r.get(2).copied().unwrap_or("").to_owned(),
                tags: l[6..].iter().map(|t| (*t).to_owned()).collect(),
            }
        })
        .collect()
}

/// The top mount on `point`.
fn mount_at(point: &str) -> Result<Mount, String> {
    mounts()
        .into_iter()
        .rev()
        .find(|m| m.point == point)
        .ok_or_else(|| format!("nothing mounted on {point}"))
}

fn has_option(options: &str, opt: &str) -> bool {
    options.split(',').any(|o| o == opt)
}

/// The errno of writing a file at `path` (None: it worked).
fn write_errno(path: &str) -> Option<i32> {
    fs::write(path, "x")
        .err()
        .map(|e| e.raw_os_error().unwrap_or(-1))
}

fn sh(script: &str) -> Result<String, String> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .output()
        .map_err(|e| format!("run /bin/sh: {e}"))?;
    ensure!(
        out.status.success(),
        "/bin/sh -c {script:?}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The standard devices: (name, major, minor).
const STD_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The errno of chmod(2) of `path` to `mode` (None: it worked).
fn chmod_errno(path: &str, mode: u32) -> Option<i32> {
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        path,
        nix::sys::stat::Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .err()
    .map(|e| e as i32)
}

/// The errno of chown(2) of `path` to `uid` (None: it worked).
fn chown_errno(path: &str, uid: u32) -> Option<i32> {
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(uid)), None)
        .err()
        .map(|e| e as i32)
}

/// The standard devices: without a user namespace, nodes of the container's own `/dev` tmpfs
/// (mode 0666, root's), never mounts of the host's; in one, read-only binds of the host's nodes
/// that refuse chmod and chown but still read and write.
fn check_std_devices(user_ns: bool) -> Check {
    let dev = fs::metadata("/dev").map_err(|e| format!("/dev: {e}"))?;
    for (d, major, minor) in STD_DEVICES {
        let p = format!("/dev/{d}");
        let meta = fs::metadata(&p).map_err(|e| format!("{p}: {e}"))?;
        ensure!(
            meta.file_type().is_char_device() && meta.rdev() == makedev(major, minor),
            "{p} is not the char device {major}:{minor}"
        );
        if user_ns {
            let m = mount_at(&p)?;
            for opt in ["ro", "nosuid", "noexec"] {
                ensure!(has_option(&m.options, opt), "{p} is not {opt}: {m:?}");
            }
            ensure!(!has_option(&m.options, "nodev"), "{p} is nodev: {m:?}");
            ensure!(
                chmod_errno(&p, 0o600) == Some(libc::EROFS),
                "chmod {p} worked"
            );
            ensure!(chown_errno(&p, 0) == Some(libc::EROFS), "chown {p} worked");
        } else {
            ensure!(mount_at(&p).is_err(), "{p} is a mount (the host's node?)");
            ensure!(meta.dev() == dev.dev(), "{p} is not in the /dev tmpfs");
            ensure!(
                meta.mode() & 0o7777 == 0o666 && (meta.uid(), meta.gid()) == (0, 0),
                "{p}: mode {:o} owner {}:{}",
                meta.mode(),
                meta.uid(),
                meta.gid()
            );
        }
    }
    Ok(())
}

/// /dev as the plan builds it.
fn check_dev(expect_gid5: bool) -> Check {
    ensure!(mount_at("/dev")?.fstype == "tmpfs", "/dev is not a tmpfs");
    // devpts' gid=5 is left out exactly in a user namespace.
    check_std_devices(!expect_gid5)?;
    fs::write("/dev/null", "discarded").map_err(|e| format!("write /dev/null: {e}"))?;
    ensure!(
        fs::read("/dev/null").map_err(|e| e.to_string())?.is_empty(),
        "/dev/null is not empty"
    );
    let mut zeros = [1u8; 8];
    File::open("/dev/zero")
        .and_then(|mut f| f.read_exact(&mut zeros))
        .map_err(|e| format!("/dev/zero: {e}"))?;
    ensure!(zeros == [0; 8], "/dev/zero gave {zeros:?}");
    ensure!(
        write_errno("/dev/full") == Some(libc::ENOSPC),
        "/dev/full accepted a write"
    );
    ensure!(
        fs::read_link("/dev/ptmx").ok() == Some("pts/ptmx".into()),
        "/dev/ptmx link"
    );
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        ensure!(
            fs::read_link(link).ok() == Some(to.into()),
            "{link} does not point to {to}"
        );
    }
    let pts = mount_at("/dev/pts")?;
    ensure!(pts.fstype == "devpts", "/dev/pts is {}", pts.fstype);
    ensure!(
        has_option(&pts.super_options, "gid=5") == expect_gid5,
        "devpts options {}",
        pts.super_options
    );
    ensure!(
        has_option(&pts.super_options, "ptmxmode=666"),
        "devpts options {}",
        pts.super_options
    );
    // A new devpts instance: opening ptmx creates pts/0 in it.
    let _ptmx = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
        .map_err(|e| format!("open /dev/ptmx: {e}"))?;
    ensure!(
        Path::new("/dev/pts/0").exists(),
        "no /dev/pts/0 after opening /dev/ptmx"
    );
    let shm = mount_at("/dev/shm")?;
    ensure!(
        shm.fstype == "tmpfs" && has_option(&shm.options, "nodev"),
        "/dev/shm: {shm:?}"
    );
    fs::write("/dev/shm/x", "x").map_err(|e| format!("write /dev/shm: {e}"))?;
    ensure!(
        mount_at("/dev/mqueue")?.fstype == "mqueue",
        "/dev/mqueue is not mqueue"
    );
    Ok(())
}

/// `/proc` is a fresh procfs of our pid namespace.
fn check_fresh_proc() -> Check {
    let proc = mount_at("/proc")?;
    ensure!(
        proc.fstype == "proc" && has_option(&proc.options, "nosuid"),
        "/proc: {proc:?}"
    );
    ensure!(
        fs::read_link("/proc/self").ok() == Some("1".into()),
        "/proc/self is not pid 1"
    );
    Ok(())
}

fn check_cwd_is_root() -> Check {
    let cwd = std::env::current_dir().map_err(|e| format!("getcwd: {e}"))?;
    ensure!(cwd == Path::new("/"), "cwd is {}", cwd.display());
    Ok(())
}

// --- tests -------------------------------------------------------------------------------------

#[test]
fn dir_root_gets_proc_sys_dev_and_loses_the_old_root() {
    let (_dir, root) = busybox_rootfs();
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.new_pid_ns = true;
    spec.new_ipc_ns = true;
    spec.mounts.push(MountSpec::tmpfs(
        "/tmp",
        &["size=1m", "mode=1777", "nosuid", "nodev"],
    ));
    let root_str = root.to_str().unwrap().to_owned();
    in_container(PLAIN, || {
        apply(&spec)?;
        check_cwd_is_root()?;
        // Exactly the planned mounts: nothing of the old root is left.
        let mut points: Vec<String> = mounts().into_iter().map(|m| m.point).collect();
        points.sort();
        let mut expected = vec![
            "/",
            "/dev",
            "/dev/mqueue",
            "/dev/pts",
            "/dev/shm",
            "/proc",
            "/sys",
            "/tmp",
        ];
        expected.sort();
        ensure!(points == expected, "mount points {points:?}");
        let slash = mount_at("/")?;
        // The root of the bind, relative to its file system (which may be mounted below /).
        ensure!(
            slash.root != "/" && root_str.ends_with(&slash.root),
            "/ is {} (expected the bind of {root_str})",
            slash.root
        );
        ensure!(
            !Path::new("/etc/debian_version").exists(),
            "a host file is visible"
        );
        ensure!(
            !Path::new(&root_str).exists(),
            "the host path of the root is visible"
        );
        check_fresh_proc()?;
        let sys = mount_at("/sys")?;
        ensure!(
            sys.fstype == "sysfs" && has_option(&sys.options, "ro"),
            "/sys: {sys:?}"
        );
        ensure!(
            write_errno("/sys/x") == Some(libc::EROFS),
            "/sys is writable"
        );
        check_dev(true)?;
        let tmp = mount_at("/tmp")?;
        ensure!(
            tmp.fstype == "tmpfs" && has_option(&tmp.super_options, "size=1024k"),
            "/tmp: {tmp:?}"
        );
        fs::write("/tmp/x", "x").map_err(|e| format!("write /tmp: {e}"))?;
        fs::write("/written-inside", "x").map_err(|e| format!("write /: {e}"))?;
        ensure!(
            sh("echo hello from $0")? == "hello from /bin/sh\n",
            "busybox sh output"
        );
        Ok(())
    })
    .unwrap();
    // The root is the host directory (writable), and nothing mounted inside survives.
    assert!(root.join("written-inside").is_file());
    assert!(
        fs::read_dir(root.join("tmp")).unwrap().next().is_none(),
        "/tmp tmpfs leaked"
    );
    assert!(fs::read_dir(root.join("dev")).unwrap().all(|e| {
        let e = e.unwrap();
        !e.file_type().unwrap().is_char_device()
    }));
}

#[test]
fn readonly_root_with_ro_and_rw_binds() {
    let (dir, root) = busybox_rootfs();
    let ro_dir = dir.path().join("ro-src");
    let rw_dir = dir.path().join("rw-src");
    let file = dir.path().join("hostname");
    fs::create_dir_all(&ro_dir).unwrap();
    fs::create_dir_all(&rw_dir).unwrap();
    fs::write(ro_dir.join("existing"), "before").unwrap();
    fs::write(&file, "box\n").unwrap();
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.readonly = true;
    spec.new_pid_ns = true;
    spec.mounts = vec![
        MountSpec::bind(&ro_dir, "/data/ro", &["ro", "nosuid"]),
        MountSpec::bind(&rw_dir, "/data/rw", &["bind"]),
        MountSpec::bind(&file, "/etc/hostname", &["ro"]),
        MountSpec::tmpfs("/run", &["mode=755"]),
    ];
    in_container(PLAIN, || {
        apply(&spec)?;
        ensure!(
            write_errno("/x") == Some(libc::EROFS),
            "the root accepted a write"
        );
        ensure!(
            has_option(&mount_at("/")?.options, "ro"),
            "/ is not ro in mountinfo"
        );
        ensure!(
            write_errno("/data/ro/new") == Some(libc::EROFS),
            "ro bind accepted a write"
        );
        ensure!(
            write_errno("/data/ro/existing") == Some(libc::EROFS),
            "ro bind accepted an overwrite"
        );
        let ro = mount_at("/data/ro")?;
        ensure!(
            has_option(&ro.options, "ro") && has_option(&ro.options, "nosuid"),
            "/data/ro: {ro:?}"
        );
        fs::write("/data/rw/new", "inside").map_err(|e| format!("write rw bind: {e}"))?;
        let hostname =
            fs::read_to_string("/etc/hostname").map_err(|e| format!("/etc/hostname: {e}"))?;
        ensure!(hostname == "box\n", "file bind shows {hostname:?}");
        ensure!(
            write_errno("/etc/hostname") == Some(libc::EROFS),
            "ro file bind accepted a write"
        );
        fs::write("/run/x", "x").map_err(|e| format!("write tmpfs on a ro root: {e}"))?;
        fs::write("/dev/shm/x", "x").map_err(|e| format!("write /dev/shm on a ro root: {e}"))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(fs::read_to_string(rw_dir.join("new")).unwrap(), "inside");
    assert_eq!(
        fs::read_to_string(ro_dir.join("existing")).unwrap(),
        "before"
    );
    assert!(!ro_dir.join("new").exists());
    // The file target was created as an empty file inside the root.
    assert_eq!(fs::read_to_string(root.join("etc/hostname")).unwrap(), "");
}

#[test]
fn symlinks_in_the_rootfs_cannot_point_mounts_at_the_host() {
    let (dir, root) = busybox_rootfs();
    let host_dir = dir.path().join("host-dir");
    fs::create_dir_all(&host_dir).unwrap();
    let host_dir = fs::canonicalize(&host_dir).unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    // An absolute symlink to the host dir, and a relative one climbing above the root.
    symlink(&host_dir, root.join("evil")).unwrap();
    symlink("../../../../../../../..", root.join("up")).unwrap();
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.new_pid_ns = true;
    spec.mounts = vec![
        MountSpec::tmpfs("/evil/x", &["size=64k"]),
        MountSpec::bind(&src, format!("/up{}/y", host_dir.display()), &[]),
    ];
    let inside_x = format!("{}/x", host_dir.display());
    let inside_y = format!("{}/y", host_dir.display());
    in_container(PLAIN, || {
        apply(&spec)?;
        // Both mounts landed inside the new root, at the path the symlinks name inside it.
        ensure!(
            mount_at(&inside_x)?.fstype == "tmpfs",
            "tmpfs not at {inside_x}"
        );
        ensure!(mount_at(&inside_y).is_ok(), "bind not at {inside_y}");
        fs::write("/evil/x/file", "x").map_err(|e| format!("write through the symlink: {e}"))?;
        Ok(())
    })
    .unwrap();
    assert!(
        fs::read_dir(&host_dir).unwrap().next().is_none(),
        "the host dir was touched"
    );
    let in_root = root.join(host_dir.strip_prefix("/").unwrap());
    assert!(
        in_root.join("x").is_dir() && in_root.join("y").is_dir(),
        "targets were not created inside the root"
    );
    assert!(!in_root.join("x/file").exists(), "the tmpfs leaked");
    assert!(fs::read_dir(&src).unwrap().next().is_none());
}

#[test]
fn host_tmpfs_root_exposes_host_dirs_read_only() {
    host_tmpfs_root(PLAIN);
}

#[test]
fn host_tmpfs_root_in_a_user_namespace() {
    host_tmpfs_root(Namespaces {
        user: true,
        ..PLAIN
    });
}

fn host_tmpfs_root(ns: Namespaces) {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    let staging = fs::canonicalize(staging).unwrap();
    let host_links: Vec<(String, Option<PathBuf>)> = RootSource::DEFAULT_HOST_DIRS
        .iter()
        .map(|d| (d.to_string(), fs::read_link(d).ok()))
        .collect();
    let mut spec = RootfsSpec::new(RootSource::host_tmpfs(&staging));
    spec.readonly = true;
    spec.new_pid_ns = true;
    spec.new_ipc_ns = true;
    spec.in_user_ns = ns.user;
    in_container(ns, || {
        apply(&spec)?;
        check_cwd_is_root()?;
        ensure!(mount_at("/")?.fstype == "tmpfs", "/ is not the tmpfs");
        for (d, link) in &host_links {
            match link {
                Some(to) => ensure!(
                    fs::read_link(d).ok().as_ref() == Some(to),
                    "{d} is not the symlink {to:?}"
                ),
                None if Path::new(d).exists() => {
                    let m = mount_at(d)?;
                    ensure!(has_option(&m.options, "ro"), "{d} is not read-only: {m:?}");
                }
                None => {}
            }
        }
        ensure!(
            write_errno("/usr/cove-test") == Some(libc::EROFS),
            "/usr accepted a write"
        );
        ensure!(
            write_errno("/x") == Some(libc::EROFS),
            "the tmpfs root accepted a write"
        );
        ensure!(
            !Path::new("/etc").exists() && !Path::new("/home").exists(),
            "unexposed host dirs visible"
        );
        // The host's dynamically linked /bin/sh runs from the exposed dirs.
        ensure!(sh("echo $((6 * 7))")? == "42\n", "host sh output");
        check_dev(!ns.user)
    })
    .unwrap();
    assert!(
        fs::read_dir(&staging).unwrap().next().is_none(),
        "something was created under the tmpfs"
    );
}

#[test]
fn user_namespace_without_net_ns_binds_host_sys_read_only() {
    let (_dir, root) = busybox_rootfs();
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.in_user_ns = true;
    spec.new_pid_ns = true;
    spec.new_ipc_ns = true;
    spec.readonly = true;
    in_container(
        Namespaces {
            user: true,
            ..PLAIN
        },
        || {
            apply(&spec)?;
            check_cwd_is_root()?;
            check_fresh_proc()?;
            let sys = mount_at("/sys")?;
            ensure!(
                sys.fstype == "sysfs" && has_option(&sys.options, "ro"),
                "/sys: {sys:?}"
            );
            ensure!(
                write_errno("/sys/x") == Some(libc::EROFS),
                "/sys is writable"
            );
            // The host's /sys submounts came along (recursive bind) and are read-only too.
            let sub: Vec<Mount> = mounts()
                .into_iter()
                .filter(|m| m.point.starts_with("/sys/"))
                .collect();
            if Path::new("/sys/fs/cgroup").exists() {
                ensure!(!sub.is_empty(), "no /sys submounts: not the host's /sys");
            }
            ensure!(
                sub.iter().all(|m| has_option(&m.options, "ro")),
                "writable /sys submount: {sub:?}"
            );
            check_dev(false)?;
            ensure!(
                write_errno("/x") == Some(libc::EROFS),
                "the root accepted a write"
            );
            ensure!(sh("echo ok")? == "ok\n", "sh in the user namespace");
            Ok(())
        },
    )
    .unwrap();
}

#[test]
fn user_namespace_with_net_ns_mounts_its_own_sysfs() {
    let (_dir, root) = busybox_rootfs();
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.in_user_ns = true;
    spec.new_pid_ns = true;
    spec.new_net_ns = true;
    spec.new_ipc_ns = true;
    in_container(
        Namespaces {
            user: true,
            net: true,
            ..PLAIN
        },
        || {
            apply(&spec)?;
            check_fresh_proc()?;
            ensure!(mount_at("/sys")?.fstype == "sysfs", "/sys is not sysfs");
            ensure!(
                !mounts().iter().any(|m| m.point.starts_with("/sys/")),
                "host /sys submounts visible"
            );
            let mut nets: Vec<String> = fs::read_dir("/sys/class/net")
                .map_err(|e| format!("/sys/class/net: {e}"))?
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            nets.sort();
            ensure!(
                nets == ["lo"],
                "network devices {nets:?}: not the new namespace's sysfs"
            );
            check_dev(false)
        },
    )
    .unwrap();
}

#[test]
fn overlay_masked_and_readonly_paths() {
    let (dir, root) = busybox_rootfs();
    let [lower, upper, work] = ["lower", "upper", "work"].map(|d| {
        let p = dir.path().join(d);
        fs::create_dir_all(&p).unwrap();
        p
    });
    fs::write(lower.join("a"), "from lower").unwrap();
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    spec.mounts.push(
        MountSpec::new(MountKind::Overlay, "/merged").with_options(&[
            &format!("lowerdir={}", lower.display()),
            &format!("upperdir={}", upper.display()),
            &format!("workdir={}", work.display()),
        ]),
    );
    spec.masked_paths = RootfsSpec::DEFAULT_MASKED_PATHS
        .iter()
        .map(PathBuf::from)
        .collect();
    spec.readonly_paths = RootfsSpec::DEFAULT_READONLY_PATHS
        .iter()
        .map(PathBuf::from)
        .collect();
    in_container(PLAIN, || {
        apply(&spec)?;
        let a = fs::read_to_string("/merged/a").map_err(|e| format!("/merged/a: {e}"))?;
        ensure!(a == "from lower", "overlay shows {a:?}");
        fs::write("/merged/b", "from inside").map_err(|e| format!("write overlay: {e}"))?;
        ensure!(
            mount_at("/merged")?.fstype == "overlay",
            "/merged is not an overlay"
        );
        // Masked: a file reads as /dev/null, a directory is an empty read-only tmpfs.
        let (mut files, mut dirs) = (0, 0);
        for p in RootfsSpec::DEFAULT_MASKED_PATHS {
            let Ok(meta) = fs::metadata(p) else { continue };
            let m = mount_at(p)?;
            if meta.is_dir() {
                dirs += 1;
                ensure!(
                    m.fstype == "tmpfs" && has_option(&m.options, "ro"),
                    "{p}: {m:?}"
                );
                ensure!(
                    fs::read_dir(p).map_err(|e| e.to_string())?.next().is_none(),
                    "{p} not empty"
                );
            } else {
                files += 1;
                ensure!(
                    fs::read(p).map_err(|e| format!("{p}: {e}"))?.is_empty(),
                    "{p} not masked"
                );
            }
        }
        ensure!(
            files > 0 && dirs > 0,
            "no masked path checked ({files} files, {dirs} dirs)"
        );
        // Read-only paths.
        let p = mount_at("/proc/sys")?;
        ensure!(has_option(&p.options, "ro"), "/proc/sys: {p:?}");
        ensure!(
            write_errno("/proc/sys/kernel/hostname") == Some(libc::EROFS),
            "/proc/sys is writable"
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(fs::read_to_string(upper.join("b")).unwrap(), "from inside");
    assert!(!lower.join("b").exists());
}

#[test]
fn a_failing_mount_reports_stage_target_and_errno() {
    let (dir, root) = busybox_rootfs();
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    let missing = dir.path().join("missing-lower");
    spec.mounts.push(
        MountSpec::new(MountKind::Overlay, "/merged")
            .with_options(&[&format!("lowerdir={}", missing.display())]),
    );
    in_container(PLAIN, || {
        let plan = MountPlan::build(&spec).map_err(|e| e.to_string())?;
        let err = plan
            .apply()
            .err()
            .ok_or("apply succeeded with a missing lowerdir")?;
        ensure!(err.stage() == "mount", "stage {}", err.stage());
        ensure!(
            err.to_string() == "mount overlay on /merged",
            "message {err}"
        );
        // Linux 6.1 reports a missing lowerdir as EINVAL, newer kernels as ENOENT.
        ensure!(
            matches!(err.errno(), Some(libc::ENOENT | libc::EINVAL)),
            "errno {:?}",
            err.errno()
        );
        Ok(())
    })
    .unwrap();
}

// --- cgroup mounts -----------------------------------------------------------------------------

/// Super options of a v1 hierarchy that are flags, not controllers or its name.
const V1_FLAGS: [&str; 7] = [
    "rw",
    "ro",
    "xattr",
    "noprefix",
    "clone_children",
    "cpuset_v2_mode",
    "favordynmods",
];

/// A cgroup v1 hierarchy mounted on the host: the name of its mount point and the data options
/// (controllers, `name=`) that mount it again.
#[derive(Debug, Clone)]
struct V1Hierarchy {
    dir: String,
    data: Vec<String>,
}

/// The distinct v1 hierarchies in the host's mountinfo (none on a cgroup-v2-only host).
fn host_v1_hierarchies() -> Vec<V1Hierarchy> {
    let mut found: Vec<V1Hierarchy> = Vec::new();
    for m in mounts().into_iter().filter(|m| m.fstype == "cgroup") {
        let data: Vec<String> = m
            .super_options
            .split(',')
            .filter(|o| !V1_FLAGS.contains(o) && !o.starts_with("release_agent="))
            .map(str::to_owned)
            .collect();
        if found.iter().any(|h| h.data == data) {
            continue;
        }
        let dir = Path::new(&m.point)
            .file_name()
            .map_or_else(|| data.join(","), |n| n.to_string_lossy().into_owned());
        found.push(V1Hierarchy { dir, data });
    }
    found
}

/// The checks every cgroup mount gets from inside: file system type, read-only and the other
/// flags, and that its root is the container's own cgroup (where pid 1 lives).
fn check_cgroup_mount(point: &str, fstype: &str, data: &[String]) -> Check {
    let m = mount_at(point)?;
    ensure!(m.fstype == fstype, "{point} is {} not {fstype}", m.fstype);
    for flag in ["ro", "nosuid", "nodev", "noexec"] {
        ensure!(has_option(&m.options, flag), "{point} lacks {flag}: {m:?}");
    }
    for d in data {
        ensure!(
            has_option(&m.super_options, d),
            "{point} lacks the data option {d}: {m:?}"
        );
    }
    ensure!(
        m.root == "/",
        "{point} shows {} as its root, not the container's cgroup",
        m.root
    );
    let procs_path = format!("{point}/cgroup.procs");
    let procs = fs::read_to_string(&procs_path).map_err(|e| format!("{procs_path}: {e}"))?;
    ensure!(
        procs.lines().any(|l| l == "1"),
        "{procs_path} does not list pid 1: {procs:?}"
    );
    ensure!(
        write_errno(&procs_path) == Some(libc::EROFS),
        "{procs_path} is writable"
    );
    Ok(())
}

/// Mounts this host's cgroup layout inside a new cgroup namespace: on a hybrid host a tmpfs on
/// /sys/fs/cgroup with every v1 hierarchy and cgroup2 on `unified`; on a v2-only host cgroup2 on
/// /sys/fs/cgroup.
#[test]
fn cgroup_v1_and_v2_mounts_in_a_cgroup_namespace() {
    let (_dir, root) = busybox_rootfs();
    let v1 = host_v1_hierarchies();
    let flags = ["nosuid", "nodev", "noexec", "ro"];
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    spec.new_ipc_ns = true;
    let mut expect: Vec<(String, &str, Vec<String>)> = Vec::new();
    if v1.is_empty() {
        spec.mounts.push(
            MountSpec::new(MountKind::Cgroup2, "/sys/fs/cgroup")
                .with_options(&["nsdelegate"])
                .with_options(&flags),
        );
        expect.push(("/sys/fs/cgroup".into(), "cgroup2", Vec::new()));
    } else {
        spec.mounts.push(MountSpec::tmpfs(
            "/sys/fs/cgroup",
            &["mode=755", "nosuid", "nodev", "noexec"],
        ));
        for h in &v1 {
            let point = format!("/sys/fs/cgroup/{}", h.dir);
            let data: Vec<&str> = h.data.iter().map(String::as_str).collect();
            spec.mounts.push(
                MountSpec::new(MountKind::Cgroup, &point)
                    .with_options(&data)
                    .with_options(&flags),
            );
            expect.push((point, "cgroup", h.data.clone()));
        }
        spec.mounts.push(
            MountSpec::new(MountKind::Cgroup2, "/sys/fs/cgroup/unified")
                .with_options(&["nsdelegate"])
                .with_options(&flags),
        );
        expect.push(("/sys/fs/cgroup/unified".into(), "cgroup2", Vec::new()));
    }
    let host_cgroup = fs::read_to_string("/proc/self/cgroup").unwrap();
    in_container(
        Namespaces {
            cgroup: true,
            ..PLAIN
        },
        || {
            apply(&spec)?;
            for (point, fstype, data) in &expect {
                check_cgroup_mount(point, fstype, data)?;
            }
            let inside = fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
            ensure!(
                inside.lines().all(|l| l.ends_with(":/")),
                "not at the root of a new cgroup namespace: {inside:?}"
            );
            if !v1.is_empty() {
                ensure!(
                    mount_at("/sys/fs/cgroup")?.fstype == "tmpfs",
                    "/sys/fs/cgroup is not the tmpfs"
                );
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string("/proc/self/cgroup").unwrap(),
        host_cgroup,
        "the test process changed cgroup"
    );
}

// --- device nodes ------------------------------------------------------------------------------

fn node(
    path: &str,
    kind: DeviceKind,
    (major, minor): (u64, u64),
    mode: u32,
    owner: (u32, u32),
) -> DeviceNode {
    DeviceNode {
        path: path.into(),
        kind,
        major,
        minor,
        mode,
        uid: owner.0,
        gid: owner.1,
    }
}

/// What `path` is, seen from inside: type, device number, permission bits, owner.
fn check_node(d: &DeviceNode) -> Check {
    let p = d.path.display();
    let meta = fs::symlink_metadata(&d.path).map_err(|e| format!("{p}: {e}"))?;
    let ft = meta.file_type();
    let kind_ok = match d.kind {
        DeviceKind::Char => ft.is_char_device() && meta.rdev() == makedev(d.major, d.minor),
        DeviceKind::Block => ft.is_block_device() && meta.rdev() == makedev(d.major, d.minor),
        DeviceKind::Fifo => ft.is_fifo(),
    };
    ensure!(
        kind_ok,
        "{p}: {ft:?} rdev {:#x}, expected {:?} {}:{}",
        meta.rdev(),
        d.kind,
        d.major,
        d.minor
    );
    ensure!(
        meta.mode() & 0o7777 == d.mode,
        "{p}: mode {:o}, expected {:o}",
        meta.mode() & 0o7777,
        d.mode
    );
    ensure!(
        (meta.uid(), meta.gid()) == (d.uid, d.gid),
        "{p}: owner {}:{}, expected {}:{}",
        meta.uid(),
        meta.gid(),
        d.uid,
        d.gid
    );
    Ok(())
}

#[test]
fn device_nodes_are_made_with_type_number_mode_and_owner() {
    let (_dir, root) = busybox_rootfs();
    let devices = vec![
        node("/dev/mynull", DeviceKind::Char, (1, 3), 0o620, (1, 2)),
        node("/dev/fifos/myfifo", DeviceKind::Fifo, (0, 0), 0o640, (3, 4)),
        // Replaces the standard /dev/zero node.
        node("/dev/zero", DeviceKind::Char, (1, 5), 0o666, (0, 0)),
        // Outside /dev: in the root directory itself, its parents created.
        node("/opt/nodes/null2", DeviceKind::Char, (1, 3), 0o2750, (5, 6)),
    ];
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.new_pid_ns = true;
    spec.devices = devices.clone();
    in_container(PLAIN, || {
        // A umask that would spoil mknod's mode: chmod must set it exactly.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        apply(&spec)?;
        for d in &devices {
            check_node(d)?;
        }
        ensure!(mount_at("/dev/zero").is_err(), "/dev/zero is a mount");
        let null = fs::metadata("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        ensure!(
            null.rdev() == makedev(1, 3) && null.mode() & 0o7777 == 0o666,
            "the standard /dev/null node is gone"
        );
        fs::write("/dev/mynull", "discarded").map_err(|e| format!("write /dev/mynull: {e}"))?;
        ensure!(
            fs::read("/dev/mynull")
                .map_err(|e| e.to_string())?
                .is_empty(),
            "/dev/mynull is not a null device"
        );
        let mut zeros = [1u8; 4];
        File::open("/dev/zero")
            .and_then(|mut f| f.read_exact(&mut zeros))
            .map_err(|e| format!("/dev/zero: {e}"))?;
        ensure!(zeros == [0; 4], "/dev/zero gave {zeros:?}");
        Ok(())
    })
    .unwrap();
    // The node outside /dev is in the root directory on the host; the /dev ones died with the tmpfs.
    let meta = fs::symlink_metadata(root.join("opt/nodes/null2")).unwrap();
    assert!(meta.file_type().is_char_device());
    assert!(!root.join("dev/mynull").exists());
}

#[test]
fn device_nodes_in_a_user_namespace_are_host_binds() {
    let (_dir, root) = busybox_rootfs();
    // A host char device that is not one of the standard ones.
    let host = [
        "/dev/kmsg",
        "/dev/mem",
        "/dev/port",
        "/dev/loop-control",
        "/dev/tty0",
    ]
    .into_iter()
    .find_map(|p| {
        let m = fs::symlink_metadata(p).ok()?;
        m.file_type().is_char_device().then_some((p, m))
    })
    .expect("no char device to bind on this host");
    let (path, meta) = host;
    let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
    let dev = node(
        path,
        DeviceKind::Char,
        (major.into(), minor.into()),
        0o600,
        (0, 0),
    );
    let fifo = node("/dev/p", DeviceKind::Fifo, (0, 0), 0o600, (0, 0));
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.in_user_ns = true;
    spec.new_pid_ns = true;
    spec.devices = vec![dev, fifo.clone()];
    let host_mode = meta.mode() & 0o7777;
    in_container(
        Namespaces {
            user: true,
            ..PLAIN
        },
        || {
            apply(&spec)?;
            ensure!(mount_at(path).is_ok(), "{path} is not a bind mount");
            let inside = fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
            ensure!(
                inside.file_type().is_char_device() && inside.rdev() == meta.rdev(),
                "{path} is not the host's node"
            );
            ensure!(
                inside.mode() & 0o7777 == host_mode,
                "{path}: the host node's mode changed"
            );
            // A FIFO needs no privilege: it is made, not bound.
            check_node(&fifo)?;
            ensure!(mount_at("/dev/p").is_err(), "the FIFO is a bind");
            Ok(())
        },
    )
    .unwrap();
}

#[test]
fn a_device_path_taken_by_something_else_is_an_error() {
    let (_dir, root) = busybox_rootfs();
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.new_pid_ns = true;
    // /bin/sh is a symlink to busybox: never followed, never replaced.
    spec.devices = vec![node("/bin/sh", DeviceKind::Char, (1, 3), 0o666, (0, 0))];
    in_container(PLAIN, || {
        let plan = MountPlan::build(&spec).map_err(|e| e.to_string())?;
        let err = plan.apply().err().ok_or("apply replaced /bin/sh")?;
        ensure!(err.stage() == "mknod", "stage {}", err.stage());
        ensure!(
            err.to_string() == "create the device node /bin/sh (mknod)",
            "message {err}"
        );
        ensure!(err.errno() == Some(libc::EEXIST), "errno {:?}", err.errno());
        Ok(())
    })
    .unwrap();
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let busybox = fs::metadata(root.join("bin/busybox")).unwrap();
    assert!(busybox.is_file() && busybox.uid() == 0);
}

// --- sysctls -----------------------------------------------------------------------------------

const SYSCTLS: [&str; 3] = ["kernel.shmmax", "kernel.msgmax", "net.ipv4.ip_forward"];

fn read_sysctl(key: &str) -> Result<String, String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    fs::read_to_string(&path)
        .map(|v| v.trim().to_owned())
        .map_err(|e| format!("{path}: {e}"))
}

/// A value different from `current` for each of [`SYSCTLS`].
fn other_value(key: &str, current: &str) -> String {
    let choices: &[&str] = match key {
        "kernel.shmmax" => &["67108864", "33554432"],
        "kernel.msgmax" => &["16384", "12345"],
        _ => &["1", "0"],
    };
    choices.iter().find(|c| **c != current).unwrap().to_string()
}

#[test]
fn sysctls_are_written_in_the_container_namespaces_only() {
    let (_dir, root) = busybox_rootfs();
    let host_before: Vec<String> = SYSCTLS.iter().map(|k| read_sysctl(k).unwrap()).collect();
    let ns = Namespaces { net: true, ..PLAIN };
    in_container(ns, || {
        // The values in the new IPC and network namespaces, before the plan runs.
        let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
        spec.new_pid_ns = true;
        spec.new_ipc_ns = true;
        spec.new_net_ns = true;
        spec.readonly_paths = RootfsSpec::DEFAULT_READONLY_PATHS
            .iter()
            .map(PathBuf::from)
            .collect();
        for key in SYSCTLS {
            let now = read_sysctl(key)?;
            spec.sysctl.push((key.to_owned(), other_value(key, &now)));
        }
        apply(&spec)?;
        for (key, value) in &spec.sysctl {
            let now = read_sysctl(key)?;
            ensure!(&now == value, "{key} is {now}, expected {value}");
        }
        // Written before /proc/sys became read-only.
        ensure!(
            write_errno("/proc/sys/kernel/msgmax") == Some(libc::EROFS),
            "/proc/sys is writable"
        );
        Ok(())
    })
    .unwrap();
    let host_after: Vec<String> = SYSCTLS.iter().map(|k| read_sysctl(k).unwrap()).collect();
    assert_eq!(host_before, host_after, "the host's sysctls changed");
}

#[test]
fn a_failing_sysctl_names_the_key_and_errno() {
    let (_dir, root) = busybox_rootfs();
    for (key, value, errno) in [
        ("kernel.no_such_parameter", "1", libc::ENOENT),
        ("kernel.msgmax", "not a number", libc::EINVAL),
        ("net.ipv4", "1", libc::EISDIR),
    ] {
        let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
        spec.new_pid_ns = true;
        spec.new_ipc_ns = true;
        spec.sysctl = vec![(key.to_owned(), value.to_owned())];
        in_container(PLAIN, || {
            let plan = MountPlan::build(&spec).map_err(|e| e.to_string())?;
            let err = plan.apply().err().ok_or("apply succeeded")?;
            ensure!(err.stage() == "sysctl", "stage {}", err.stage());
            ensure!(
                err.to_string() == format!("set the sysctl {key} to {value:?}"),
                "message {err}"
            );
            ensure!(err.errno() == Some(errno), "{key}: errno {:?}", err.errno());
            Ok(())
        })
        .unwrap();
    }
}

// --- the host's device nodes are out of reach ---------------------------------------------------

/// Fresh char nodes `zero` (1:5) and `null` (1:3), mode 0666, in a temp dir: stand-ins for the
/// host's nodes, bound over `/dev/zero` and `/dev/null` in the test's private mount namespace so
/// an attack that works changes them, never the real host's.
fn decoy_nodes() -> (tempfile::TempDir, [PathBuf; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let nodes = [("zero", 5), ("null", 3)].map(|(name, minor)| {
        let p = dir.path().join(name);
        nix::sys::stat::mknod(
            &p,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            makedev(1, minor),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).unwrap();
        p
    });
    (dir, nodes)
}

/// Binds the decoys over the namespace's `/dev/zero` and `/dev/null` (in the private namespace
/// of the container child: the host never sees it).
fn bind_decoys(nodes: &[PathBuf; 2]) -> Check {
    for (node, on) in nodes.iter().zip(["/dev/zero", "/dev/null"]) {
        mount(Some(node), on, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| format!("bind the decoy over {on}: {e}"))?;
    }
    Ok(())
}

/// (mode, uid, gid, ctime) of a file.
fn owner_mode_ctime(p: &Path) -> (u32, u32, u32, i64, i64) {
    let m = fs::metadata(p).unwrap();
    (m.mode(), m.uid(), m.gid(), m.ctime(), m.ctime_nsec())
}

/// The attack: chmod and chown the standard devices and a masked file from inside.
fn attack_nodes() -> Vec<(String, Option<i32>)> {
    let mut got = Vec::new();
    for p in ["/dev/zero", "/dev/null", "/proc/keys", "/proc/kcore"] {
        if !Path::new(p).exists() {
            continue;
        }
        got.push((format!("chmod {p}"), chmod_errno(p, 0o600)));
        got.push((format!("chown {p}"), chown_errno(p, 65534)));
    }
    got
}

fn host_nodes_stay(user_ns: bool) {
    let (_dir, root) = busybox_rootfs();
    let (_decoys_dir, decoys) = decoy_nodes();
    let before = decoys.clone().map(|d| owner_mode_ctime(&d));
    let real_before = ["/dev/zero", "/dev/null"].map(|d| owner_mode_ctime(Path::new(d)));
    let decoy_ids = decoys.clone().map(|d| {
        let m = fs::metadata(d).unwrap();
        (m.dev(), m.ino())
    });
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    spec.in_user_ns = user_ns;
    spec.masked_paths = RootfsSpec::DEFAULT_MASKED_PATHS
        .iter()
        .map(PathBuf::from)
        .collect();
    let ns = Namespaces {
        user: user_ns,
        ..PLAIN
    };
    in_container(ns, || {
        bind_decoys(&decoys)?;
        apply(&spec)?;
        for (p, (dev, ino)) in ["/dev/zero", "/dev/null"].iter().zip(decoy_ids) {
            let m = fs::metadata(p).map_err(|e| format!("{p}: {e}"))?;
            ensure!(
                user_ns == ((m.dev(), m.ino()) == (dev, ino)),
                "{p} inside is {}the host's node",
                if user_ns { "not " } else { "" }
            );
        }
        for (what, errno) in attack_nodes() {
            // Masked files and (in a user namespace) the host's nodes are read-only mounts;
            // without one the standard nodes are the container's own, free to change.
            let own_node = !user_ns && what.contains("/dev/");
            let want = if own_node { None } else { Some(libc::EROFS) };
            ensure!(errno == want, "{what}: {errno:?}, expected {want:?}");
        }
        // The nodes still work.
        fs::write("/dev/null", "x").map_err(|e| format!("write /dev/null: {e}"))?;
        ensure!(
            fs::read("/proc/keys")
                .map_err(|e| e.to_string())?
                .is_empty(),
            "/proc/keys is not masked"
        );
        Ok(())
    })
    .unwrap();
    let after = decoys.clone().map(|d| owner_mode_ctime(&d));
    assert_eq!(before, after, "the host's (decoy) nodes changed");
    let real_after = ["/dev/zero", "/dev/null"].map(|d| owner_mode_ctime(Path::new(d)));
    assert_eq!(real_before, real_after, "the host's nodes changed");
}

#[test]
fn the_host_device_nodes_stay_unchanged_without_a_user_namespace() {
    host_nodes_stay(false);
}

#[test]
fn the_host_device_nodes_stay_unchanged_in_a_user_namespace() {
    host_nodes_stay(true);
}

// --- a hostile rootfs ----------------------------------------------------------------------------

/// Applies `spec` and returns the error it must fail with.
fn apply_err(spec: &RootfsSpec) -> Result<cove_rootfs::RootfsError, String> {
    let plan = MountPlan::build(spec).map_err(|e| e.to_string())?;
    plan.apply()
        .err()
        .ok_or_else(|| "apply succeeded".to_string())
}

/// A root whose `/dev` is a bind of a rootfs directory holding `null` as `make_null` makes it.
fn masked_with_fake_dev_null(make_null: impl Fn(&Path), found: &str, errno: i32) {
    let (dir, root) = busybox_rootfs();
    let fake_dev = root.join("fake-dev");
    fs::create_dir_all(&fake_dev).unwrap();
    make_null(&fake_dev.join("null"));
    let host_file = dir.path().join("host-file");
    fs::write(&host_file, "host data").unwrap();
    fs::set_permissions(&host_file, fs::Permissions::from_mode(0o644)).unwrap();
    let before = owner_mode_ctime(&host_file);
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    spec.mounts = vec![MountSpec::bind(&fake_dev, "/dev", &[])];
    spec.masked_paths = vec!["/proc/keys".into(), "/proc/kcore".into()];
    let host_str = host_file.display().to_string();
    in_container(PLAIN, || {
        let err = apply_err(&spec)?;
        ensure!(err.stage() == "mask", "stage {}: {err}", err.stage());
        let want = format!(
            "the container's /dev/null is {found}, not the char device 1:3: refusing to mask /proc/keys with it"
        );
        ensure!(err.to_string() == want, "message {err}");
        ensure!(err.errno() == Some(errno), "errno {:?}", err.errno());
        ensure!(
            !mounts().iter().any(|m| m.point.ends_with("/proc/keys")),
            "/proc/keys was masked anyway"
        );
        ensure!(
            !mounts().iter().any(|m| m.root == host_str),
            "the host file is mounted"
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(
        before,
        owner_mode_ctime(&host_file),
        "the host file changed"
    );
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "host data");
}

#[test]
fn a_dev_null_symlink_to_a_host_file_fails_the_masks_closed() {
    let host_like = "/etc/hostname";
    masked_with_fake_dev_null(
        |p| symlink(host_like, p).unwrap(),
        "a symlink",
        libc::EINVAL,
    );
}

#[test]
fn a_regular_file_as_dev_null_fails_the_masks_closed() {
    masked_with_fake_dev_null(
        |p| fs::write(p, "not a device").unwrap(),
        "a regular file",
        libc::EINVAL,
    );
}

#[test]
fn a_missing_dev_null_fails_the_masks_closed() {
    masked_with_fake_dev_null(|_| {}, "missing", libc::ENOENT);
}

#[test]
fn proc_sys_and_dev_as_symlinks_are_refused() {
    for name in ["proc", "sys", "dev"] {
        let (dir, root) = busybox_rootfs();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let outside = fs::canonicalize(&outside).unwrap();
        // An absolute link at a host path, and the same path inside the root, both watched.
        symlink(&outside, root.join(name)).unwrap();
        let in_root = root.join(outside.strip_prefix("/").unwrap());
        let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
        spec.new_pid_ns = true;
        spec.new_ipc_ns = true;
        spec.sysctl = vec![("kernel.msgmax".into(), "12345".into())];
        spec.masked_paths = RootfsSpec::DEFAULT_MASKED_PATHS
            .iter()
            .map(PathBuf::from)
            .collect();
        in_container(PLAIN, || {
            let err = apply_err(&spec)?;
            // runc's wording too ("must be mounted on ordinary directory"): tools and suites look for it.
            let want = format!(
                "rootfs /{name} is a symlink: refused (/{name} must be mounted on ordinary directory)"
            );
            ensure!(err.to_string() == want, "/{name}: message {err}");
            ensure!(err.errno() == Some(libc::ELOOP), "errno {:?}", err.errno());
            // Only the root's bind onto itself and the system dirs mounted before this one.
            let root_str = root.display().to_string();
            let mut want = vec![root_str.clone()];
            let before: Vec<&str> = ["proc", "sys"]
                .into_iter()
                .take_while(|d| *d != name)
                .collect();
            want.extend(before.iter().map(|d| format!("{root_str}/{d}")));
            let under_root: Vec<String> = mounts()
                .into_iter()
                .map(|m| m.point)
                .filter(|p| p.starts_with(&root_str))
                .collect();
            ensure!(
                under_root == want,
                "/{name}: mounts under the root: {under_root:?}"
            );
            Ok(())
        })
        .unwrap();
        assert!(
            fs::read_dir(&outside).unwrap().next().is_none(),
            "/{name}: the outside dir was written"
        );
        assert!(
            !in_root.exists(),
            "/{name}: its target was created inside the root"
        );
        assert!(fs::symlink_metadata(root.join(name))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn sysctls_are_refused_when_proc_is_not_procfs() {
    let (_dir, root) = busybox_rootfs();
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.new_pid_ns = true;
    spec.new_ipc_ns = true;
    // A tmpfs over /proc holding a fake `sys/kernel/msgmax`: the write must not go there.
    spec.mounts = vec![MountSpec::tmpfs("/proc", &[])];
    spec.sysctl = vec![("kernel.msgmax".into(), "12345".into())];
    in_container(PLAIN, || {
        let err = apply_err(&spec)?;
        ensure!(err.stage() == "procfs", "stage {}: {err}", err.stage());
        ensure!(
            err.to_string() == "the container's /proc is not procfs",
            "message {err}"
        );
        ensure!(err.errno() == Some(libc::EXDEV), "errno {:?}", err.errno());
        Ok(())
    })
    .unwrap();
}

/// Swaps `a` and `b` (renameat2 RENAME_EXCHANGE) until `stop`; returns how many swaps worked.
fn swap_until(a: PathBuf, b: PathBuf, stop: &std::sync::atomic::AtomicBool) -> u64 {
    use std::sync::atomic::Ordering;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let r = nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &a,
            nix::fcntl::AT_FDCWD,
            &b,
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        );
        n += u64::from(r.is_ok());
    }
    n
}

#[test]
fn renaming_mount_targets_during_apply_never_reaches_outside_the_root() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (dir, root) = busybox_rootfs();
    let outside = fs::canonicalize(dir.path()).unwrap().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    fs::create_dir_all(root.join("run")).unwrap();
    symlink(&outside, root.join("evil")).unwrap();
    symlink(&outside, root.join("evil2")).unwrap();
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.new_pid_ns = true;
    spec.mounts = vec![
        MountSpec::bind(&src, "/data", &["ro", "nosuid"]),
        MountSpec::tmpfs("/run", &["size=64k", "rprivate"]),
    ];
    spec.readonly_paths = vec!["/run".into()];
    let stop = AtomicBool::new(false);
    let outside_str = outside.display().to_string();
    let (mut ok, mut failed) = (0, 0);
    /// Stops the racers even when the loop below panics (the scope waits for them).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let swaps = std::thread::scope(|s| {
        let (root, stop) = (&root, &stop);
        let _stop = Stop(stop);
        let racers = [("data", "evil"), ("run", "evil2")]
            .map(|(a, b)| s.spawn(move || swap_until(root.join(a), root.join(b), stop)));
        for _ in 0..40 {
            let verdict = in_container(PLAIN, || {
                if let Err(e) = MountPlan::build(&spec).unwrap().apply() {
                    // Failing is fine (a target moved); escaping is not.
                    return Err(format!("apply: {e}"));
                }
                ensure!(
                    write_errno("/x") != Some(libc::EROFS),
                    "the flags hit the root"
                );
                for m in mounts() {
                    ensure!(
                        !m.point.starts_with("/data")
                            || has_option(&m.options, "ro")
                            || m.point != "/data",
                        "{m:?}"
                    );
                    // The only read-only mounts are the bind, /run and sysfs.
                    if has_option(&m.options, "ro") {
                        // A mount made on a directory the racer renamed moves with it.
                        let allowed = m.point == "/sys"
                            || m.point.starts_with("/evil")
                            || m.point.ends_with("/data")
                            || m.point.ends_with("/run")
                            || m.point.ends_with(&outside_str)
                            || m.point.starts_with("/sys/");
                        ensure!(allowed, "read-only mount at {}", m.point);
                    }
                }
                Ok(())
            });
            match verdict {
                Ok(()) => ok += 1,
                Err(e) if e.contains("apply:") => failed += 1,
                Err(e) => panic!("{e}"),
            }
            assert!(
                fs::read_dir(&outside).unwrap().next().is_none(),
                "something landed outside the root"
            );
        }
        stop.store(true, Ordering::Relaxed);
        racers.map(|r| r.join().unwrap())
    });
    assert!(swaps.iter().all(|n| *n > 100), "too few renames: {swaps:?}");
    assert!(ok + failed == 40, "{ok} applied, {failed} refused");
    eprintln!("{ok} applied, {failed} refused, {swaps:?} swaps");
}

// --- recursive mount attributes (runtime-spec 1.1: rro, rnosuid, …) ----------------------------

/// `MS_NOSYMFOLLOW` (Linux 5.10), which nix does not name.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// Makes `src` a tmpfs with a tmpfs submount on `src/sub`, each holding a file `f`, then sets the
/// per-mount `flags` on both (a bind remount). Run it inside the test's private mount namespace.
fn tree_with_submount(src: &Path, flags: MsFlags) -> Check {
    let none = None::<&str>;
    let tmpfs = |at: &Path| {
        mount(Some("tmpfs"), at, Some("tmpfs"), MsFlags::empty(), none)
            .map_err(|e| format!("tmpfs on {}: {e}", at.display()))
    };
    fs::create_dir_all(src).map_err(|e| format!("{}: {e}", src.display()))?;
    tmpfs(src)?;
    fs::create_dir(src.join("sub")).map_err(|e| format!("mkdir sub: {e}"))?;
    tmpfs(&src.join("sub"))?;
    for at in [src.to_owned(), src.join("sub")] {
        fs::write(at.join("f"), "f").map_err(|e| format!("write f: {e}"))?;
    }
    for at in [src.to_owned(), src.join("sub")] {
        let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags;
        mount(none, &at, none, remount, none)
            .map_err(|e| format!("remount {} with {flags:?}: {e}", at.display()))?;
    }
    Ok(())
}

/// What a recursive option must leave in the per-mount options (mountinfo field 6) of both the
/// mount and its submount.
fn expect_mount_options(option: &str, options: &str) -> Check {
    let has = |o| has_option(options, o);
    let ok = match option {
        "rro" => has("ro"),
        "rrw" => has("rw"),
        "rnosuid" => has("nosuid"),
        "rsuid" => !has("nosuid"),
        "rnodev" => has("nodev"),
        "rdev" => !has("nodev"),
        "rnoexec" => has("noexec"),
        "rexec" => !has("noexec"),
        "rnodiratime" => has("nodiratime"),
        "rdiratime" => !has("nodiratime"),
        "rnosymfollow" => has("nosymfollow"),
        "rsymfollow" => !has("nosymfollow"),
        "rnoatime" => has("noatime"),
        "rstrictatime" => !has("noatime") && !has("relatime"),
        // The kernel's default atime mode, as mount(8)'s atime, nostrictatime, norelatime.
        "rrelatime" | "ratime" | "rnostrictatime" | "rnorelatime" => has("relatime"),
        other => return Err(format!("no expectation for {other}")),
    };
    ensure!(ok, "{option}: options {options}");
    Ok(())
}

/// Options that set an attribute: applied to a tree whose mounts have none of them (and
/// strictatime, so that an atime mode shows).
const RECURSIVE_SET: [&str; 8] = [
    "rro",
    "rnosuid",
    "rnodev",
    "rnoexec",
    "rnodiratime",
    "rnosymfollow",
    "rrelatime",
    "rnoatime",
];

/// Options that clear an attribute (or pick another atime mode): applied to a tree whose mounts
/// have every attribute (and noatime).
const RECURSIVE_CLEAR: [&str; 10] = [
    "rrw",
    "rsuid",
    "rdev",
    "rexec",
    "rdiratime",
    "rsymfollow",
    "rstrictatime",
    "ratime",
    "rnostrictatime",
    "rnorelatime",
];

#[test]
fn recursive_mount_options_reach_every_submount() {
    let (dir, root) = busybox_rootfs();
    let plain = dir.path().join("plain");
    let marked = dir.path().join("marked");
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    for (options, src) in [
        (&RECURSIVE_SET[..], &plain),
        (&RECURSIVE_CLEAR[..], &marked),
    ] {
        for option in options {
            let target = format!("/mnt/{option}");
            spec.mounts
                .push(MountSpec::bind(src, &target, &["rbind", option]));
        }
    }
    // A plain bind (no submount to reach) and another file system take them too.
    spec.mounts
        .push(MountSpec::bind(&plain, "/mnt/bind-rro", &["bind", "rro"]));
    spec.mounts
        .push(MountSpec::tmpfs("/mnt/tmpfs-rnoexec", &["rnoexec", "rro"]));
    let all = MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_NODIRATIME
        | MS_NOSYMFOLLOW
        | MsFlags::MS_NOATIME;
    in_container(PLAIN, || {
        tree_with_submount(&plain, MsFlags::MS_STRICTATIME)?;
        tree_with_submount(&marked, all)?;
        apply(&spec)?;
        for option in RECURSIVE_SET.iter().chain(&RECURSIVE_CLEAR) {
            for point in [format!("/mnt/{option}"), format!("/mnt/{option}/sub")] {
                let m = mount_at(&point)?;
                expect_mount_options(option, &m.options).map_err(|e| format!("{point}: {e}"))?;
            }
        }
        ensure!(
            write_errno("/mnt/rro/sub/new") == Some(libc::EROFS),
            "rro: the submount accepted a write"
        );
        fs::write("/mnt/rrw/sub/new", "x").map_err(|e| format!("rrw: write the submount: {e}"))?;
        fs::write("/mnt/rrw/new", "x").map_err(|e| format!("rrw: write the mount: {e}"))?;
        let bind = mount_at("/mnt/bind-rro")?;
        ensure!(has_option(&bind.options, "ro"), "bind,rro: {bind:?}");
        ensure!(
            mount_at("/mnt/bind-rro/sub").is_err(),
            "a plain bind brought the submount"
        );
        let t = mount_at("/mnt/tmpfs-rnoexec")?;
        ensure!(
            t.fstype == "tmpfs" && has_option(&t.options, "noexec") && has_option(&t.options, "ro"),
            "tmpfs with rnoexec,rro: {t:?}"
        );
        Ok(())
    })
    .unwrap();
}

/// runc's rule (and youki contest's `mounts_recursive::rbind_ro_test`): a plain `ro` on an
/// `rbind` makes the top mount read-only only; its submounts keep their own flags.
#[test]
fn plain_ro_on_an_rbind_is_not_recursive() {
    let (dir, root) = busybox_rootfs();
    let src = dir.path().join("src");
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    spec.mounts = vec![
        MountSpec::bind(&src, "/mnt", &["rbind", "ro", "nosuid"]),
        // `ro` then `rrw`: the recursive option comes after the top one, as runc applies them.
        MountSpec::bind(&src, "/both", &["rbind", "ro", "rrw"]),
    ];
    in_container(PLAIN, || {
        tree_with_submount(&src, MsFlags::empty())?;
        apply(&spec)?;
        let top = mount_at("/mnt")?;
        ensure!(
            has_option(&top.options, "ro") && has_option(&top.options, "nosuid"),
            "/mnt: {top:?}"
        );
        ensure!(
            write_errno("/mnt/f") == Some(libc::EROFS),
            "/mnt accepted a write"
        );
        let sub = mount_at("/mnt/sub")?;
        ensure!(
            has_option(&sub.options, "rw") && !has_option(&sub.options, "nosuid"),
            "/mnt/sub: {sub:?}"
        );
        fs::write("/mnt/sub/f", "x").map_err(|e| format!("write /mnt/sub/f: {e}"))?;
        let both = mount_at("/both")?;
        ensure!(has_option(&both.options, "rw"), "/both: {both:?}");
        Ok(())
    })
    .unwrap();
}

// --- root propagation ----------------------------------------------------------------------------

/// `/proc/self/mountinfo` of the namespace `file` was opened in, read again from the start.
fn reread(file: &mut File) -> Result<String, String> {
    use std::io::Seek;
    file.rewind()
        .map_err(|e| format!("rewind mountinfo: {e}"))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| format!("read mountinfo: {e}"))?;
    Ok(text)
}

/// Applies a plan with `propagation` in a mount namespace copied from one whose `/` is recursively
/// shared (as systemd makes the host's), and runs `check` in it. The outer namespace (the test's,
/// private to the host) plays the host: its mount table must not change, whatever is mounted inside.
fn with_shared_outside(propagation: Propagation, check: impl FnOnce() -> Check) {
    let (_dir, root) = busybox_rootfs();
    for d in ["target", "mnt", "src"] {
        fs::create_dir(root.join(d)).unwrap();
    }
    fs::write(root.join("src/example"), "x").unwrap();
    let mut spec = RootfsSpec::new(RootSource::Dir(root));
    spec.new_pid_ns = true;
    spec.new_ipc_ns = true;
    spec.propagation = propagation;
    in_container(PLAIN, || {
        mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_SHARED, NONE)
            .map_err(|e| format!("make the outer / rshared: {e}"))?;
        // Opened here, it keeps showing the outer namespace after the unshare below.
        let mut outside = File::open("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        let before = reread(&mut outside)?;
        unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
        apply(&spec)?;
        check()?;
        // The attacker: a mount made inside, under the shared root.
        mount(Some("tmpfs"), "/mnt", Some("tmpfs"), MsFlags::empty(), NONE)
            .map_err(|e| format!("mount tmpfs on /mnt: {e}"))?;
        let after = reread(&mut outside)?;
        ensure!(
            before == after,
            "the outer mount table changed:\n{before}\n---\n{after}"
        );
        Ok(())
    })
    .unwrap();
}

const NONE: Option<&str> = None;

#[test]
fn a_shared_root_is_shared_inside_and_nothing_mounted_inside_reaches_the_outside() {
    for recursive in [false, true] {
        with_shared_outside(Propagation::Shared { recursive }, || {
            let slash = mount_at("/")?;
            ensure!(
                slash.tags.iter().any(|t| t.starts_with("shared:")),
                "/ is not shared: {slash:?}"
            );
            ensure!(
                !slash.tags.iter().any(|t| t.starts_with("master:")),
                "/ receives from outside: {slash:?}"
            );
            let proc_shared = mount_at("/proc")?
                .tags
                .iter()
                .any(|t| t.starts_with("shared:"));
            ensure!(
                proc_shared == recursive,
                "/proc shared: {proc_shared} (recursive: {recursive})"
            );
            // What runtimetest checks: a bind made after binding / elsewhere shows through the copy.
            let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(Some("/"), "/target", NONE, rec, NONE).map_err(|e| format!("rbind /: {e}"))?;
            mount(Some("/src"), "/mnt", NONE, rec, NONE).map_err(|e| format!("bind /src: {e}"))?;
            ensure!(
                Path::new("/target/mnt/example").exists(),
                "the bind on /mnt did not propagate to /target/mnt"
            );
            Ok(())
        });
    }
}

#[test]
fn an_unbindable_root_cannot_be_bound() {
    for recursive in [false, true] {
        with_shared_outside(Propagation::Unbindable { recursive }, || {
            let slash = mount_at("/")?;
            ensure!(
                slash.tags.iter().any(|t| t == "unbindable")
                    && !slash.tags.iter().any(|t| t.starts_with("shared:")),
                "/ is not unbindable: {slash:?}"
            );
            let proc_unbindable = mount_at("/proc")?.tags.iter().any(|t| t == "unbindable");
            ensure!(
                proc_unbindable == recursive,
                "/proc unbindable: {proc_unbindable} (recursive: {recursive})"
            );
            let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
            let err = mount(Some("/"), "/target", NONE, rec, NONE).err();
            ensure!(err == Some(nix::errno::Errno::EINVAL), "rbind /: {err:?}");
            Ok(())
        });
    }
}
