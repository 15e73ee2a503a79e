//! The two system calls the benchmark needs that `std` does not wrap: `wait4` (for each run's peak RSS) and
//! `setns` into a mount namespace between fork and exec.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// What `wait4` reports about a reaped child.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    /// The raw wait status.
    pub status: i32,
    /// The peak resident set size of the child or of its largest reaped descendant, in KiB.
    pub max_rss_kib: u64,
}

/// Waits for the child `pid` (retrying on EINTR) and returns its status and peak RSS.
pub fn wait4(pid: u32) -> io::Result<Reaped> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut status = 0;
    // SAFETY: `rusage` is a plain C struct of integers and timevals, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are live, writable locals of the types wait4 writes; `pid` is our own child,
        // spawned by std and not reaped by anyone else (the `Child` handle is never waited on).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok(Reaped {
                status,
                max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
            });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Makes `cmd` join the mount namespace `ns` (an open `/proc/PID/ns/mnt`) after fork, before exec; with `None`
/// it still installs an (empty) hook, so that every command is started the same way (fork + exec rather than
/// `posix_spawn`) and none pays a different launch cost.
///
/// `ns` must stay open until the command has been spawned.
pub fn join_mount_ns_before_exec(cmd: &mut Command, ns: Option<BorrowedFd<'_>>) {
    let fd = ns.map_or(-1, |fd| fd.as_raw_fd());
    let hook = move || {
        if fd < 0 {
            return Ok(());
        }
        // SAFETY: runs in the single-threaded forked child, where setns is async-signal-safe; `fd` is open there
        // (inherited; close-on-exec only closes it at exec) and names a mount namespace.
        if unsafe { libc::setns(fd, libc::CLONE_NEWNS) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only makes one system call (setns) and allocates nothing, so it is sound between fork and
    // exec even if the parent had other threads.
    unsafe {
        cmd.pre_exec(hook);
    }
}
