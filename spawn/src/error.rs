//! The errors of this crate: [`SpawnError`] in the parent and [`ChildError`], a failure reported by the child.

use std::error::Error;
use std::ffi::NulError;
use std::fmt;
use std::io;

use cove_ns::{Namespace, NsError};
use nix::errno::Errno;
use nix::unistd::Pid;

/// A failure in the container process before (or at) `execve`, sent to the parent over the sync channel.
///
/// `stage` names the step (`"join net namespace"`, `"setup"` steps named by the caller such as `"hostname"`,
/// `"setuid"`, `"chdir"`, `"exec"`…), `errno` the kernel's error when there is one, `message` the context
/// (a path, an id…).
///
/// ```
/// use cove_spawn::ChildError;
/// let err = ChildError::new("exec", Some(libc::ENOENT), "/nope");
/// assert_eq!(err.to_string(), "exec: /nope: No such file or directory (ENOENT)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildError {
    /// The step that failed.
    pub stage: String,
    /// The errno of the failed system call, if any.
    pub errno: Option<i32>,
    /// What the step was working on.
    pub message: String,
}

impl ChildError {
    /// A child error from its three parts.
    pub fn new(stage: impl Into<String>, errno: Option<i32>, message: impl Into<String>) -> Self {
        ChildError {
            stage: stage.into(),
            errno,
            message: message.into(),
        }
    }

    /// A child error for a failed system call.
    pub fn from_errno(stage: impl Into<String>, errno: Errno, message: impl Into<String>) -> Self {
        Self::new(stage, Some(errno as i32), message)
    }

    /// A child error for a failed I/O operation (its OS error code becomes `errno`).
    pub fn from_io(stage: impl Into<String>, err: &io::Error, message: impl Into<String>) -> Self {
        match err.raw_os_error() {
            Some(code) => Self::new(stage, Some(code), message),
            None => Self::new(stage, None, join_message(message.into(), &err.to_string())),
        }
    }

    /// A child error from any error (e.g. a `cove_ns::NsError` or a rootfs error): the message is the error and
    /// its sources joined by `": "`; the first `Errno` or OS `io::Error` in the chain becomes `errno`.
    ///
    /// ```
    /// use cove_spawn::ChildError;
    /// let err = cove_ns::set_hostname(&"x".repeat(100)).unwrap_err();
    /// let child = ChildError::from_error("hostname", &err);
    /// assert_eq!(child.errno, Some(libc::EINVAL));
    /// assert!(child.message.starts_with("set the hostname to"));
    /// ```
    pub fn from_error(stage: impl Into<String>, err: &(dyn Error + 'static)) -> Self {
        let mut message = String::new();
        let mut errno = None;
        let mut current = Some(err);
        while let Some(e) = current {
            match (errno, errno_of(e)) {
                (None, Some(code)) => errno = Some(code),
                _ => message = join_message(message, &e.to_string()),
            }
            current = e.source();
        }
        Self::new(stage, errno, message)
    }

    /// The errno as a `nix` value, if any.
    pub fn errno(&self) -> Option<Errno> {
        self.errno.map(Errno::from_raw)
    }
}

fn errno_of(err: &(dyn Error + 'static)) -> Option<i32> {
    if let Some(errno) = err.downcast_ref::<Errno>() {
        return Some(*errno as i32);
    }
    err.downcast_ref::<io::Error>()
        .and_then(io::Error::raw_os_error)
}

fn join_message(mut message: String, part: &str) -> String {
    if !message.is_empty() && !part.is_empty() {
        message.push_str(": ");
    }
    message.push_str(part);
    message
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stage)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        match self.errno() {
            Some(Errno::UnknownErrno) => write!(f, ": errno {}", self.errno.unwrap_or_default()),
            Some(errno) => write!(f, ": {} ({errno:?})", errno.desc()),
            None => Ok(()),
        }
    }
}

impl Error for ChildError {}

/// A malformed message on the sync channel (a bug or a foreign process on the socket).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// An empty record.
    #[error("empty message")]
    Empty,
    /// A tag byte that is not a known message.
    #[error("unknown message tag {0:#04x}")]
    UnknownTag(u8),
    /// A message shorter than its fields.
    #[error("truncated {0} message")]
    Truncated(&'static str),
    /// A known message arriving at the wrong step.
    #[error("unexpected {0} message")]
    Unexpected(&'static str),
}

/// Starting the container process failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The argument list is empty.
    #[error("no program to run: the argument list is empty")]
    NoProgram,
    /// An argument, environment variable or path contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    NulByte {
        /// Which value (e.g. `argument 1`, `environment variable FOO`, `working directory`).
        what: String,
        /// The conversion error.
        #[source]
        source: NulError,
    },
    /// The same namespace kind is to be both joined and created.
    #[error("the {kind} namespace is both joined and created")]
    JoinAndCreate {
        /// The kind.
        kind: Namespace,
    },
    /// Time offsets were given without a new time namespace.
    #[error("time offsets need a new time namespace")]
    TimeOffsetsWithoutTimeNamespace,
    /// A namespace file to join could not be opened.
    #[error("open the {kind} namespace to join")]
    OpenNamespace {
        /// The kind.
        kind: Namespace,
        /// The error, with the path.
        #[source]
        source: NsError,
    },
    /// The sync socket pair could not be created.
    #[error("create the sync socket pair")]
    Socketpair {
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// The forwarded signals could not be blocked.
    #[error("block the forwarded signals")]
    BlockSignals {
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// `clone3` (or `clone`) failed.
    #[error("clone the container process (flags {flags:#x})")]
    Clone {
        /// The clone flags.
        flags: u64,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// A cgroup was given but `clone3`, needed for `CLONE_INTO_CGROUP`, is missing (Linux < 5.3).
    #[error("clone3 is missing, so the process cannot start in the given cgroup (CLONE_INTO_CGROUP): attach it instead")]
    CloneIntoCgroupUnsupported {
        /// The error from the kernel (ENOSYS).
        #[source]
        source: Errno,
    },
    /// Writing the uid/gid maps of the new user namespace failed.
    #[error("write the id maps of pid {pid}")]
    IdMap {
        /// The container process.
        pid: Pid,
        /// The error, with the file.
        #[source]
        source: NsError,
    },
    /// Writing the time namespace offsets failed.
    #[error("write the time offsets of pid {pid}")]
    TimeOffsets {
        /// The container process.
        pid: Pid,
        /// The error.
        #[source]
        source: NsError,
    },
    /// Reading or writing the sync channel failed.
    #[error("{step} on the sync channel of pid {pid}")]
    Sync {
        /// The container process.
        pid: Pid,
        /// `send` or `receive`, and what.
        step: &'static str,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// The child sent a malformed or unexpected message.
    #[error("bad message from pid {pid} while waiting for {expected}")]
    BadMessage {
        /// The container process.
        pid: Pid,
        /// What the parent waited for.
        expected: &'static str,
        /// What was wrong.
        #[source]
        source: WireError,
    },
    /// The child closed the channel (exited or was killed) without reporting an error, before `expected`.
    #[error("pid {pid} ended before {expected} without reporting an error")]
    ChildVanished {
        /// The process.
        pid: Pid,
        /// What the parent waited for.
        expected: &'static str,
    },
    /// The parent hook failed; the child was killed and reaped.
    #[error("parent hook for pid {pid}")]
    ParentHook {
        /// The container process (now gone).
        pid: Pid,
        /// The hook's error.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The container process failed before exec (exec itself included: stage `exec`); it was reaped.
    #[error("the container process failed before exec")]
    Child(#[source] ChildError),
    /// Sending a signal to the container process failed.
    #[error("send {signal} to pid {pid}")]
    Signal {
        /// The container process.
        pid: Pid,
        /// The signal.
        signal: nix::sys::signal::Signal,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// Waiting for the container process failed.
    #[error("wait for pid {pid}")]
    Wait {
        /// The container process.
        pid: Pid,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_errno() {
        assert_eq!(
            ChildError::from_errno("chdir", Errno::EACCES, "/root").to_string(),
            "chdir: /root: Permission denied (EACCES)"
        );
        assert_eq!(
            ChildError::new("setup", None, "no rootfs").to_string(),
            "setup: no rootfs"
        );
        assert_eq!(
            ChildError::new("setuid", Some(libc::EPERM), "").to_string(),
            "setuid: Operation not permitted (EPERM)"
        );
        assert_eq!(
            ChildError::new("x", Some(9999), "m").to_string(),
            "x: m: errno 9999"
        );
    }

    #[test]
    fn from_error_walks_the_chain_and_keeps_the_errno_out_of_the_message() {
        let err = NsError::Join {
            kind: Namespace::Net,
            path: "/p".into(),
            source: Errno::EINVAL,
        };
        let child = ChildError::from_error("join net namespace", &err);
        assert_eq!(child.errno, Some(libc::EINVAL));
        assert_eq!(child.message, "join the net namespace /p");
        assert_eq!(
            child.to_string(),
            "join net namespace: join the net namespace /p: Invalid argument (EINVAL)"
        );
    }

    #[test]
    fn from_io_uses_the_os_code() {
        let io = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            ChildError::from_io("rootfs", &io, "/x").errno,
            Some(libc::ENOENT)
        );
        let other = io::Error::other("boom");
        let child = ChildError::from_io("rootfs", &other, "/x");
        assert_eq!((child.errno, child.message.as_str()), (None, "/x: boom"));
    }

    #[test]
    fn spawn_error_shows_the_child_error_as_source() {
        let err = SpawnError::Child(ChildError::new("exec", Some(libc::ENOENT), "/nope"));
        assert_eq!(err.to_string(), "the container process failed before exec");
        assert_eq!(
            err.source().unwrap().to_string(),
            "exec: /nope: No such file or directory (ENOENT)"
        );
    }
}
