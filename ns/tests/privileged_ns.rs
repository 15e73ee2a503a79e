#![cfg(feature = "privileged")]
//! Namespace operations on real processes (needs root). Every namespace change happens in a forked child, so
//! the test process itself never changes namespace.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

use cove_ns::{
    deny_setgroups, join, set_domainname, set_hostname, unshare, write_gid_map, write_time_offsets,
    write_uid_map, IdMap, Namespace, NamespaceSet, NsError, TimeOffset,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::time::TimeValLike;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::{fork, pipe, read, write, ForkResult, Pid};

/// A forked child that is killed and reaped if the test ends before it does.
struct ChildGuard {
    pid: Pid,
    reaped: bool,
}

impl ChildGuard {
    /// Forks; the child runs `body` and exits with the code it returns (101 if it panics).
    fn fork(body: impl FnOnce() -> i32) -> ChildGuard {
        // SAFETY: the child only runs `body` (plain syscalls and small allocations; glibc's fork makes malloc usable
        // in the child) and leaves with `_exit`, never returning into the test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
                // SAFETY: `_exit` ends the child without running the parent's destructors or atexit handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => ChildGuard {
                pid: child,
                reaped: false,
            },
        }
    }

    /// Waits for the child; returns its exit code.
    fn wait(mut self) -> i32 {
        self.reaped = true;
        match waitpid(self.pid, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// A one-way pipe used to hand one byte between parent and child.
struct Channel {
    rx: OwnedFd,
    tx: OwnedFd,
}

impl Channel {
    fn new() -> Channel {
        let (rx, tx) = pipe().expect("pipe");
        Channel { rx, tx }
    }
    fn send(&self) {
        assert_eq!(write(&self.tx, b"x").expect("write pipe"), 1);
    }
    /// Waits up to 10 s for the byte; false on timeout or end of file.
    fn recv(&self) -> bool {
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.rx.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll") == 0 {
            return false;
        }
        let mut buf = [0u8; 1];
        read(&self.rx, &mut buf).expect("read pipe") == 1
    }
}

fn inode(path: &str) -> u64 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .ino()
}

fn hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn new_uts_namespace_has_its_own_hostname() {
    let host_before = hostname();
    let host_uts = inode("/proc/self/ns/uts");
    let child = ChildGuard::fork(|| {
        unshare(NamespaceSet::new().with(Namespace::Uts)).unwrap();
        set_hostname("cove-ns-test").unwrap();
        set_domainname("cove.test").unwrap();
        let uname = nix::sys::utsname::uname().unwrap();
        let ok = hostname() == "cove-ns-test"
            && uname.domainname() == "cove.test"
            && inode("/proc/self/ns/uts") != host_uts;
        if ok {
            0
        } else {
            1
        }
    });
    assert_eq!(
        child.wait(),
        0,
        "the child did not see its hostname and domain name"
    );
    assert_eq!(hostname(), host_before, "the host's hostname changed");
}

#[test]
fn unshare_several_kinds_gives_new_namespaces() {
    let kinds = [
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Uts,
        Namespace::Cgroup,
    ];
    let host: Vec<u64> = kinds
        .iter()
        .map(|k| inode(&format!("/proc/self/ns/{}", k.proc_name())))
        .collect();
    let child = ChildGuard::fork(move || {
        unshare(kinds.into_iter().collect()).unwrap();
        let changed = kinds
            .iter()
            .zip(&host)
            .filter(|(k, ino)| inode(&format!("/proc/self/ns/{}", k.proc_name())) != **ino)
            .count();
        changed as i32
    });
    assert_eq!(
        child.wait(),
        kinds.len() as i32,
        "not every namespace was new"
    );
}

#[test]
fn uid_and_gid_maps_are_written_for_a_child_in_a_new_user_namespace() {
    let unshared = Channel::new();
    let mapped = Channel::new();
    let child = ChildGuard::fork(|| {
        unshare(NamespaceSet::new().with(Namespace::User)).unwrap();
        unshared.send();
        if !mapped.recv() {
            return 2;
        }
        let ids = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        if ids == (0, 0) {
            0
        } else {
            1
        }
    });
    assert!(unshared.recv(), "child died before unsharing");
    let maps = [IdMap::new(0, 0, 1), IdMap::new(1, 100_000, 1000)];
    write_uid_map(child.pid, &maps).unwrap();
    deny_setgroups(child.pid).unwrap();
    write_gid_map(child.pid, &maps).unwrap();

    let uid_map = fs::read_to_string(format!("/proc/{}/uid_map", child.pid)).unwrap();
    let lines: Vec<Vec<u32>> = uid_map
        .lines()
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(lines, [vec![0, 0, 1], vec![1, 100_000, 1000]]);
    let setgroups = fs::read_to_string(format!("/proc/{}/setgroups", child.pid)).unwrap();
    assert_eq!(setgroups.trim(), "deny");

    // The map can be written only once.
    let again = write_uid_map(child.pid, &maps).unwrap_err();
    assert!(
        matches!(
            again,
            NsError::WriteIdMap {
                file: "uid_map",
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(again.kind(), Some(Namespace::User));

    mapped.send();
    assert_eq!(
        child.wait(),
        0,
        "the child is not root in its user namespace"
    );
}

#[test]
fn join_enters_the_namespace_of_another_process() {
    let ready = Channel::new();
    let done = Channel::new();
    let owner = ChildGuard::fork(|| {
        unshare(NamespaceSet::new().with(Namespace::Uts)).unwrap();
        set_hostname("cove-ns-joined").unwrap();
        ready.send();
        done.recv();
        0
    });
    assert!(ready.recv(), "namespace owner died");
    let path = Namespace::Uts.proc_path(owner.pid);
    let target = inode(path.to_str().unwrap());
    assert_ne!(target, inode("/proc/self/ns/uts"));

    let joiner = ChildGuard::fork(|| {
        join(Namespace::Uts, &path).unwrap();
        if inode("/proc/self/ns/uts") == target && hostname() == "cove-ns-joined" {
            0
        } else {
            1
        }
    });
    assert_eq!(
        joiner.wait(),
        0,
        "the joiner is not in the owner's uts namespace"
    );
    done.send();
    assert_eq!(owner.wait(), 0);
}

#[test]
fn join_checks_the_kind_and_names_it_in_errors() {
    // Both calls fail before changing anything, so they are safe in the test process.
    let err = join(Namespace::Net, "/proc/self/ns/uts").unwrap_err();
    assert!(
        matches!(
            err,
            NsError::Join {
                kind: Namespace::Net,
                source: nix::errno::Errno::EINVAL,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "join the net namespace /proc/self/ns/uts");

    let err = join(Namespace::Pid, "/nonexistent/ns").unwrap_err();
    assert!(
        matches!(
            err,
            NsError::Open {
                kind: Namespace::Pid,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "open the pid namespace file /nonexistent/ns"
    );
}

#[test]
fn time_offsets_apply_to_the_new_time_namespace() {
    let unshared = Channel::new();
    let written = Channel::new();
    let child = ChildGuard::fork(|| {
        unshare(NamespaceSet::new().with(Namespace::Time)).unwrap();
        unshared.send();
        if !written.recv() {
            return 2;
        }
        let host = clock_gettime(ClockId::CLOCK_BOOTTIME)
            .unwrap()
            .num_seconds();
        join(Namespace::Time, "/proc/self/ns/time_for_children").unwrap();
        let inside = clock_gettime(ClockId::CLOCK_BOOTTIME)
            .unwrap()
            .num_seconds();
        // Offsets are frozen once a process is in the namespace.
        let frozen = write_time_offsets(Pid::this(), TimeOffset::ZERO, TimeOffset::ZERO).is_err();
        if (inside - host - 100_000).abs() <= 5 && frozen {
            0
        } else {
            1
        }
    });
    assert!(unshared.recv(), "child died before unsharing");
    write_time_offsets(
        child.pid,
        TimeOffset::new(-1, 500_000_000),
        TimeOffset::new(100_000, 0),
    )
    .unwrap();
    let offsets = fs::read_to_string(format!("/proc/{}/timens_offsets", child.pid)).unwrap();
    assert!(offsets.contains("100000"), "{offsets}");
    written.send();
    assert_eq!(child.wait(), 0, "the child's boot-time clock is not offset");
}
