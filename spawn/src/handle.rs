//! [`ProcessHandle`]: a pidfd for a process this runtime did not start (or no longer waits for), so that a
//! signal reaches that process even if its pid is reused meanwhile.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::sys;

/// A process pinned by a pidfd (Linux 5.3).
///
/// Open it, then check that it is the process you mean (e.g. its start time in `/proc/<pid>/stat`): from then
/// on [`signal`](ProcessHandle::signal) cannot reach another process that got the same pid.
///
/// ```no_run
/// use cove_spawn::{Pid, ProcessHandle};
/// use nix::sys::signal::Signal;
/// let handle = ProcessHandle::open(Pid::from_raw(1234))?;
/// handle.signal(Signal::SIGTERM)?;
/// # Ok::<(), nix::errno::Errno>(())
/// ```
#[derive(Debug)]
pub struct ProcessHandle {
    pid: Pid,
    fd: OwnedFd,
}

impl ProcessHandle {
    /// Opens a pidfd for `pid` (ESRCH when there is no such process).
    pub fn open(pid: Pid) -> Result<ProcessHandle, Errno> {
        Ok(ProcessHandle {
            pid,
            fd: sys::pidfd_open(pid)?,
        })
    }

    /// The pid it was opened for.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `signal` to this process, never to another one with the same pid (ESRCH once it has exited).
    pub fn signal(&self, signal: Signal) -> Result<(), Errno> {
        sys::pidfd_send_signal(self.fd.as_fd(), signal)
    }
}

impl AsFd for ProcessHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ProcessHandle {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_reach_the_pinned_process_and_fail_once_it_is_reaped() {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "exec sleep 30"])
            .spawn()
            .unwrap();
        let handle = ProcessHandle::open(Pid::from_raw(child.id() as i32)).unwrap();
        handle.signal(Signal::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(handle.signal(Signal::SIGTERM), Err(Errno::ESRCH));
    }
}
