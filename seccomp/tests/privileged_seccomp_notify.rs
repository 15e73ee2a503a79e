#![cfg(feature = "privileged")]
//! Seccomp user notification end to end: a forked child loads an `SCMP_ACT_NOTIFY` filter, hands
//! the listener fd to the test over a unix socket pair, and the test answers its syscalls.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use cove_seccomp::notify::{receive, respond, Response};
use cove_seccomp::{Filter, SeccompProfile, Verdict};
use nix::cmsg_space;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

const PROFILE: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW",
    "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"},
                {"names":["getpgid"],"action":"SCMP_ACT_NOTIFY"}]}"#;

/// A forked child, killed and reaped if the test fails before it is waited for.
struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    /// Forks; the child runs `body` and exits with its return value (101 if it panics).
    fn fork(body: impl FnOnce() -> i32) -> Child {
        // SAFETY: the child runs `body` (plain syscalls, small allocations: glibc's fork leaves
        // malloc usable), then leaves with `_exit`, never returning into the test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
                // SAFETY: `_exit` ends the child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Child {
                pid: child,
                reaped: false,
            },
        }
    }

    fn wait(mut self) -> WaitStatus {
        let status = waitpid(self.pid, None).expect("waitpid");
        self.reaped = true;
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Child side: no_new_privs, load the filter, send the listener, make the notifying syscalls.
/// Exit code 0 when getppid returned 4242 and getpgid failed with EPERM.
fn child(filter: &Filter, sock: &OwnedFd) -> i32 {
    if nix::sys::prctl::set_no_new_privs().is_err() {
        return 2;
    }
    let Ok(Some(listener)) = filter.apply() else {
        return 3;
    };
    let fds = [listener.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(b"L")];
    if sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).is_err() {
        return 4;
    }
    drop(listener);
    // SAFETY: getppid has no arguments and no side effects; the filter makes the supervisor answer.
    let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
    if ppid != 4242 {
        return 5;
    }
    // SAFETY: getpgid(0) reads the caller's process group; the supervisor answers EPERM.
    let pgid = unsafe { libc::syscall(libc::SYS_getpgid, 0) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    if pgid != -1 || errno != Some(libc::EPERM) {
        return 6;
    }
    0
}

/// Receives one fd sent with SCM_RIGHTS.
fn receive_fd(sock: &OwnedFd) -> OwnedFd {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let fd = msg
        .cmsgs()
        .expect("cmsgs")
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("the child sent an fd");
    // SAFETY: SCM_RIGHTS installed this fd in our table for us alone.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[test]
fn the_supervisor_answers_notified_syscalls() {
    let profile = SeccompProfile::from_json(PROFILE).expect("profile");
    let filter = Filter::compile(&profile, &[]).expect("compile");
    assert!(filter.notifies());
    assert_eq!(filter.check("getppid", [0; 6]), Some(Verdict::Notify));
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let kid = Child::fork(|| child(&filter, &theirs));
    drop(theirs);
    let listener = receive_fd(&ours);

    let note = receive(listener.as_fd()).expect("receive getppid");
    assert_eq!(i64::from(note.nr), libc::SYS_getppid);
    assert_eq!(note.pid, kid.pid.as_raw() as u32);
    respond(listener.as_fd(), &Response::value(note.id, 4242)).expect("respond 4242");

    let note = receive(listener.as_fd()).expect("receive getpgid");
    assert_eq!(i64::from(note.nr), libc::SYS_getpgid);
    assert_eq!(note.args[0], 0);
    respond(listener.as_fd(), &Response::errno(note.id, libc::EPERM)).expect("respond EPERM");

    let pid = kid.pid;
    assert_eq!(kid.wait(), WaitStatus::Exited(pid, 0));
}
