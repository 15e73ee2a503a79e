//! The supervisor side of seccomp user notification (`SCMP_ACT_NOTIFY`).
//!
//! A filter with a notifying rule gives its loader a listener fd ([`Filter::apply`](crate::Filter::apply)).
//! Whoever holds it receives each notifying syscall with [`receive`] and answers it with
//! [`respond`]; until then the syscall waits.
//!
//! ```no_run
//! # fn supervise(listener: std::os::fd::OwnedFd) -> Result<(), cove_seccomp::SeccompError> {
//! use std::os::fd::AsFd;
//! use cove_seccomp::notify::{receive, respond, Response};
//!
//! let note = receive(listener.as_fd())?;
//! // Pretend the syscall succeeded and returned 0.
//! respond(listener.as_fd(), &Response::value(note.id, 0))?;
//! # Ok(())
//! # }
//! ```

use std::os::fd::BorrowedFd;

use crate::{sys, SeccompError};

/// One syscall waiting for the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The notification's cookie, for [`respond`].
    pub id: u64,
    /// The calling thread, as the listener's pid namespace sees it (0 if not visible there).
    pub pid: u32,
    /// The syscall number.
    pub nr: i32,
    /// The `AUDIT_ARCH_*` value of the syscall's ABI.
    pub arch: u32,
    /// The instruction pointer at the syscall.
    pub instruction_pointer: u64,
    /// The syscall's arguments.
    pub args: [u64; 6],
}

/// The supervisor's answer to one notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// The [`Notification::id`] answered.
    pub id: u64,
    /// The syscall's return value when `error` is 0.
    pub val: i64,
    /// A negative errno (e.g. `-libc::EPERM`) to fail the syscall with, or 0.
    pub error: i32,
    /// `SECCOMP_USER_NOTIF_FLAG_CONTINUE` to let the kernel run the syscall (then `val` and
    /// `error` must be 0), or 0.
    pub flags: u32,
}

impl Response {
    /// The syscall returns `val`.
    pub fn value(id: u64, val: i64) -> Self {
        Self {
            id,
            val,
            error: 0,
            flags: 0,
        }
    }

    /// The syscall fails with `errno` (positive, e.g. `libc::EPERM`).
    pub fn errno(id: u64, errno: i32) -> Self {
        Self {
            id,
            val: 0,
            error: -errno,
            flags: 0,
        }
    }

    /// The kernel runs the syscall as if there were no notification
    /// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`; unsafe as a security decision, see seccomp_unotify(2)).
    pub fn continue_syscall(id: u64) -> Self {
        Self {
            id,
            val: 0,
            error: 0,
            flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32, // the flag is 1
        }
    }
}

/// Waits for the next notification on `listener` (`SECCOMP_IOCTL_NOTIF_RECV`; retried on
/// `EINTR`). Fails with `ENOENT` when the target died before it could be received.
pub fn receive(listener: BorrowedFd<'_>) -> Result<Notification, SeccompError> {
    let n = sys::notif_recv(listener).map_err(|source| SeccompError::Notify {
        op: "SECCOMP_IOCTL_NOTIF_RECV",
        source,
    })?;
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        instruction_pointer: n.data.instruction_pointer,
        args: n.data.args,
    })
}

/// Answers a notification (`SECCOMP_IOCTL_NOTIF_SEND`). Fails with `ENOENT` when the target died
/// or was interrupted by a signal meanwhile.
pub fn respond(listener: BorrowedFd<'_>, response: &Response) -> Result<(), SeccompError> {
    let resp = libc::seccomp_notif_resp {
        id: response.id,
        val: response.val,
        error: response.error,
        flags: response.flags,
    };
    sys::notif_send(listener, &resp).map_err(|source| SeccompError::Notify {
        op: "SECCOMP_IOCTL_NOTIF_SEND",
        source,
    })
}
