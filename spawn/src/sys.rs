//! The system calls `nix` has no safe wrapper for: `clone3`/`clone`, `pidfd_open`, `execve` with prepared
//! pointer arrays, `_exit`, closing an fd the child does not own, and resetting a signal disposition.

use std::convert::Infallible;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// `CLONE_PARENT`: the new process gets the caller's parent.
pub(crate) const CLONE_PARENT: u64 = 0x0000_8000;
/// `CLONE_PIDFD`: return a pidfd of the new process.
pub(crate) const CLONE_PIDFD: u64 = 0x0000_1000;
/// `CLONE_INTO_CGROUP`: start the new process in the cgroup v2 directory given by `cgroup` (clone3 only).
pub(crate) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of `clone3(2)` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`, 88 bytes).
#[repr(C, align(8))]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What the parent gets back from a clone: the new pid and, when asked for, its pidfd.
pub(crate) struct Cloned {
    pub(crate) pid: Pid,
    pub(crate) pidfd: Option<OwnedFd>,
}

/// Flags that would make the new process share memory, a thread group, signal handlers or a stack with the
/// caller; `clone_process` refuses them, which is what keeps its child a plain fork-like copy.
const SHARING_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_THREAD
    | libc::CLONE_SIGHAND
    | libc::CLONE_SETTLS
    | libc::CLONE_VFORK
    | libc::CLONE_FILES
    | libc::CLONE_FS
    | libc::CLONE_CHILD_CLEARTID
    | libc::CLONE_CHILD_SETTID
    | libc::CLONE_PARENT_SETTID) as u64;

/// Creates a process with `clone3(2)`, like `fork(2)` plus `flags` (namespaces, `CLONE_PARENT`, `CLONE_PIDFD`),
/// optionally into the cgroup v2 directory `cgroup`. The child runs `child`, which never returns (it execs or
/// exits); the parent gets the pid. `Err(ENOSYS)` means clone3 is missing (Linux < 5.3).
pub(crate) fn clone3(
    flags: u64,
    cgroup: Option<RawFd>,
    child: impl FnOnce() -> Infallible,
) -> Result<Cloned, Errno> {
    assert_eq!(
        flags & SHARING_FLAGS,
        0,
        "clone3 flags must not share state with the child"
    );
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags
            | if cgroup.is_some() {
                CLONE_INTO_CGROUP
            } else {
                0
            },
        // With CLONE_PARENT the kernel takes the caller's exit signal and refuses any other value than 0.
        exit_signal: if flags & CLONE_PARENT != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        cgroup: cgroup.map_or(0, |fd| fd as u64),
        ..CloneArgs::default()
    };
    if flags & CLONE_PIDFD != 0 {
        args.pidfd = std::ptr::addr_of_mut!(pidfd) as u64;
    }
    // SAFETY: `args` is a valid, fully initialised `struct clone_args` of the size passed, whose `pidfd` field, when
    // set, points at a live `RawFd`. No flag of SHARING_FLAGS is set and `stack` is 0, so the child is a copy of
    // this process (fork semantics) running on a copy of this stack: it continues below on the `0` branch, where it
    // only calls `child`, which never returns, so the child never unwinds into its caller's frames.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    finish_clone(ret, pidfd, child)
}

/// The fallback when clone3 is missing: `clone(2)` with `flags` (no namespace flags: the child unshares them).
pub(crate) fn clone(flags: u64, child: impl FnOnce() -> Infallible) -> Result<Cloned, Errno> {
    assert_eq!(
        flags & (SHARING_FLAGS | CLONE_PIDFD),
        0,
        "clone flags must not share state with the child"
    );
    // SAFETY: with no stack (0), no TLS and no flag of SHARING_FLAGS, raw clone(2) behaves as fork(2): the child
    // runs on a copy of this stack and only calls `child` (below), which never returns. The pointer arguments are
    // null, which the kernel accepts because no flag asks it to write through them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD as u64) as libc::c_ulong,
            0usize,
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0usize,
        )
    };
    finish_clone(ret, -1, child)
}

// `child()` is uninhabited (it never returns), which rustc reports as unreachable code after it.
#[allow(unreachable_code)]
fn finish_clone(
    ret: libc::c_long,
    pidfd: RawFd,
    child: impl FnOnce() -> Infallible,
) -> Result<Cloned, Errno> {
    match ret {
        -1 => Err(Errno::last()),
        0 => match child() {},
        pid => Ok(Cloned {
            pid: Pid::from_raw(pid as libc::pid_t),
            // SAFETY: the kernel stored a new pidfd that nothing else owns when CLONE_PIDFD was set; -1 otherwise.
            pidfd: (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) }),
        }),
    }
}

/// `pidfd_open(2)`: a pidfd for `pid` (Linux 5.3).
pub(crate) fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags (0) by value and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    Errno::result(fd).map(|fd| {
        // SAFETY: a non-negative return is a new fd owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
    })
}

/// `pidfd_send_signal(2)` (Linux 5.1): `signal` to the process behind `pidfd`, no siginfo, no flags.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: Signal) -> Result<(), Errno> {
    // SAFETY: the fd is borrowed (open for the call), the siginfo pointer is NULL (allowed: the kernel then
    // fills in a default), and flags are 0; no memory of ours is written.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// A NULL-terminated array of C strings (`argv`/`envp`), built in the parent so the child only reads it.
pub(crate) struct CStringArray {
    strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CStringArray {
    /// Builds the array; the pointers point into `strings`, whose heap buffers do not move when the Vec does.
    pub(crate) fn new(strings: Vec<CString>) -> Self {
        let ptrs = strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        CStringArray { strings, ptrs }
    }

    /// The strings.
    pub(crate) fn strings(&self) -> &[CString] {
        &self.strings
    }
}

/// `execve(2)`; returns only on failure, with the error.
pub(crate) fn execve(path: &CStr, argv: &CStringArray, envp: &CStringArray) -> Errno {
    // SAFETY: `path` is NUL-terminated; `argv.ptrs` and `envp.ptrs` are NULL-terminated arrays of pointers to the
    // NUL-terminated strings owned by the same `CStringArray` (never modified after construction), all alive
    // for the call.
    unsafe { libc::execve(path.as_ptr(), argv.ptrs.as_ptr(), envp.ptrs.as_ptr()) };
    Errno::last()
}

/// `_exit(2)`: ends the process now, without running destructors or `atexit` handlers (which belong to the
/// parent's copy of the state).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it does not return.
    unsafe { libc::_exit(code) }
}

/// Closes `fd` in the child: the child's copy of the parent's end of the sync socket, which the child must not
/// keep open (the parent's death must show as end-of-file to the child).
pub(crate) fn close_inherited(fd: RawFd) {
    // SAFETY: `fd` is the child's inherited copy of a descriptor owned by an `OwnedFd` in the parent's stack frames,
    // which the child never returns to, so no other owner closes or uses this number in the child.
    unsafe { libc::close(fd) };
}

/// Resets `signal` to its default disposition (e.g. SIGPIPE, which the Rust runtime ignores and which an ignored
/// disposition would pass on across `execve`).
pub(crate) fn reset_signal(signal: Signal) -> Result<(), Errno> {
    // SAFETY: installing SIG_DFL installs no handler code, so no handler can run with broken invariants.
    unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl) }.map(drop)
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: marks every fd from `first` on close-on-exec (Linux 5.11).
pub(crate) fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC takes integers only and closes nothing; it only sets a flag on
    // descriptors, so no owner of any fd sees it closed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(rc).map(drop)
}

/// `close_range(first, last, 0)`: closes every descriptor numbered `first..=last` (Linux 5.9).
///
/// Only for the container process between release and exec (see `fds::close_all_but`): the descriptors it closes
/// are its copies of the runtime's, owned by objects in stack frames it never returns to, and it leaves out every
/// descriptor a later step uses or drops.
pub(crate) fn close_range(first: RawFd, last: RawFd) -> Result<(), Errno> {
    // SAFETY: integers only. Per the contract above, no owner of a descriptor in the range uses or drops it again
    // in this process (the container process before exec), so no owned descriptor is closed under its owner.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            0 as libc::c_uint,
        )
    };
    Errno::result(rc).map(drop)
}

/// `close(fd)` of a descriptor number the caller does not own, with the same contract as [`close_range`].
pub(crate) fn close_unowned(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: as for `close_range`: no owner of `fd` uses or drops it again in the container process.
    Errno::result(unsafe { libc::close(fd) }).map(drop)
}

/// Sets `FD_CLOEXEC` on the descriptor number `fd` (which the caller does not own).
pub(crate) fn set_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: F_SETFD only changes the close-on-exec flag of whatever `fd` names (EBADF if nothing); it neither
    // closes nor reads/writes the descriptor, so no owner of it is affected.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Errno::result(rc).map(drop)
}

/// `setgroups`, `setresgid` and `setresuid` as raw syscalls that change the calling thread only.
///
/// glibc's wrappers broadcast a credential change to every thread the process had (POSIX semantics). In a child
/// cloned with a raw `clone3` from a multithreaded parent those threads do not exist, and the broadcast waits for
/// them forever. The child is single-threaded, so changing the calling thread is changing the process.
pub(crate) fn set_credentials(
    groups: &[libc::gid_t],
    gid: libc::gid_t,
    uid: libc::uid_t,
) -> Result<(), (&'static str, Errno)> {
    // SAFETY: `groups` points to `groups.len()` valid gid_t values for the duration of the call; the kernel
    // only reads them.
    if unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) } != 0 {
        let errno = Errno::last();
        // Denied setgroups (a user namespace) is fine when no supplementary groups are wanted.
        if !(groups.is_empty() && errno == Errno::EPERM) {
            return Err(("setgroups", errno));
        }
    }
    // SAFETY: setresgid takes three plain integers and touches no memory of ours.
    if unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) } != 0 {
        return Err(("setgid", Errno::last()));
    }
    // SAFETY: setresuid takes three plain integers and touches no memory of ours.
    if unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) } != 0 {
        return Err(("setuid", Errno::last()));
    }
    Ok(())
}
