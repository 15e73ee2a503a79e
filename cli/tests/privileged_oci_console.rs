//! The OCI console with a devpts instance of its own, as inside a container (root: mounts in a private mount
//! namespace of a forked child; nothing is mounted in the host's namespace).
#![cfg(feature = "privileged")]

use std::os::fd::AsFd;
use std::path::Path;

mod common;

use common::wait_exit;
use cove_container::console::{self, ConsoleError};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{fstat, major, minor, stat};
use nix::unistd::{fork, ForkResult};

/// Exit codes of the children, named for the failure messages.
const STEPS: &[(i32, &str)] = &[
    (40, "unshare(CLONE_NEWNS)"),
    (41, "make / rprivate"),
    (42, "mount a tmpfs on /dev"),
    (43, "create /dev/pts or the /dev/ptmx symlink"),
    (44, "mount a new devpts instance"),
    (45, "open_pty"),
    (46, "the slave is not on the new devpts instance"),
    (47, "the slave's number differs from slave_path"),
    (48, "slave_path does not name the slave"),
    (50, "bind the new instance's ptmx onto /dev/ptmx"),
    (
        51,
        "open_pty succeeded with a slave not reachable at /dev/pts",
    ),
    (52, "open_pty failed otherwise than with OpenSlave ENODEV"),
];

/// A private mount namespace for this forked child.
fn private_mount_ns() -> Result<(), i32> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|_| 40)?;
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>).map_err(|_| 41)
}

fn mount_devpts(target: &Path) -> Result<(), i32> {
    let data = "newinstance,ptmxmode=0666,mode=0620";
    mount(
        Some("devpts"),
        target,
        Some("devpts"),
        MsFlags::empty(),
        Some(data),
    )
    .map_err(|_| 44)
}

/// A container's /dev: a tmpfs, a new devpts instance on /dev/pts, /dev/ptmx a symlink to pts/ptmx.
fn container_dev() -> i32 {
    if let Err(code) = private_mount_ns() {
        return code;
    }
    if mount(
        Some("tmpfs"),
        "/dev",
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0755"),
    )
    .is_err()
    {
        return 42;
    }
    if std::fs::create_dir("/dev/pts").is_err()
        || std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx").is_err()
    {
        return 43;
    }
    if let Err(code) = mount_devpts(Path::new("/dev/pts")) {
        return code;
    }
    let Ok(pty) = console::open_pty(Some((10, 20))) else {
        return 45;
    };
    let (Ok(slave), Ok(instance)) = (fstat(pty.slave.as_fd()), stat("/dev/pts")) else {
        return 46;
    };
    if slave.st_dev != instance.st_dev || major(slave.st_rdev) != 136 {
        return 46;
    }
    let number = pty
        .slave_path
        .strip_prefix("/dev/pts")
        .ok()
        .and_then(|n| n.to_str()?.parse().ok());
    if number != Some(minor(slave.st_rdev)) {
        return 47;
    }
    match stat(&pty.slave_path) {
        Ok(named) if (named.st_dev, named.st_ino) == (slave.st_dev, slave.st_ino) => 0,
        _ => 48,
    }
}

/// /dev/ptmx of a new devpts instance mounted elsewhere, while /dev/pts is the host's: `/dev/pts/N` would
/// name another pty. The kernel refuses TIOCGPTPEER (ENODEV) and open_pty must not fall back to the path.
fn mismatched_dev(pts: &Path) -> i32 {
    if let Err(code) = private_mount_ns() {
        return code;
    }
    if let Err(code) = mount_devpts(pts) {
        return code;
    }
    let bind = MsFlags::MS_BIND;
    if mount(
        Some(&pts.join("ptmx")),
        "/dev/ptmx",
        None::<&str>,
        bind,
        None::<&str>,
    )
    .is_err()
    {
        return 50;
    }
    match console::open_pty(None) {
        Ok(_) => 51,
        Err(ConsoleError::OpenSlave {
            source: Errno::ENODEV,
            ..
        }) => 0,
        Err(_) => 52,
    }
}

/// Forks, runs `f` in the child, returns its exit code.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child makes system calls and a few allocations (glibc's fork handlers keep malloc usable in
    // a forked child), then `_exit`s; its mounts die with its private mount namespace.
    let pid = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = f();
            // SAFETY: ends the forked child without running destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    wait_exit(pid)
}

fn assert_success(code: i32) {
    let step = STEPS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, s)| s);
    assert_eq!(code, 0, "child failed: {step}");
}

#[test]
fn open_pty_in_a_container_dev_allocates_in_its_devpts_instance() {
    assert_success(in_child(container_dev));
}

#[test]
fn open_pty_refuses_a_slave_that_dev_pts_does_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let pts = dir.path().join("pts");
    std::fs::create_dir(&pts).unwrap();
    assert_success(in_child(|| mismatched_dev(&pts)));
}
