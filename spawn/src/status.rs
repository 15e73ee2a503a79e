//! How the container process ended.

use std::fmt;

use nix::sys::wait::WaitStatus;

/// How the container process ended.
///
/// ```
/// use cove_spawn::ExitStatus;
/// assert_eq!(ExitStatus::Exited(7).code(), 7);
/// assert_eq!(ExitStatus::Signaled(libc::SIGKILL).code(), 137);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The shell's convention: the exit code, or 128 + the signal number when it was killed.
    pub fn code(&self) -> i32 {
        match *self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(signal) => 128 + signal,
        }
    }

    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }

    /// The status of a reaped process; `None` for a stop/continue report or a live process.
    pub fn from_wait_status(status: WaitStatus) -> Option<Self> {
        match status {
            WaitStatus::Exited(_, code) => Some(ExitStatus::Exited(code)),
            WaitStatus::Signaled(_, signal, _) => Some(ExitStatus::Signaled(signal as i32)),
            _ => None,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Exited(code) => write!(f, "exited with code {code}"),
            ExitStatus::Signaled(signal) => match nix::sys::signal::Signal::try_from(signal) {
                Ok(sig) => write!(f, "killed by {sig}"),
                Err(_) => write!(f, "killed by signal {signal}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn maps_wait_statuses() {
        let pid = Pid::from_raw(1);
        assert_eq!(
            ExitStatus::from_wait_status(WaitStatus::Exited(pid, 3)),
            Some(ExitStatus::Exited(3))
        );
        assert_eq!(
            ExitStatus::from_wait_status(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(ExitStatus::Signaled(15))
        );
        assert_eq!(ExitStatus::from_wait_status(WaitStatus::StillAlive), None);
        assert_eq!(
            ExitStatus::from_wait_status(WaitStatus::Stopped(pid, Signal::SIGSTOP)),
            None
        );
    }

    #[test]
    fn codes_follow_the_shell() {
        assert_eq!(ExitStatus::Exited(0).code(), 0);
        assert!(ExitStatus::Exited(0).success());
        assert!(!ExitStatus::Exited(1).success());
        assert_eq!(ExitStatus::Signaled(15).code(), 143);
        assert!(!ExitStatus::Signaled(9).success());
    }

    #[test]
    fn display() {
        assert_eq!(ExitStatus::Exited(2).to_string(), "exited with code 2");
        assert_eq!(ExitStatus::Signaled(9).to_string(), "killed by SIGKILL");
        assert_eq!(ExitStatus::Signaled(99).to_string(), "killed by signal 99");
    }
}
