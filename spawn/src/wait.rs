//! [`Child`]: the started process, waiting for it and forwarding signals.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::{ExitStatus, SpawnError};

/// The signals [`Child::wait`] forwards to the container process.
pub const FORWARDED_SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// The forwarded signals and SIGCHLD, blocked in the calling thread from before the clone (so none is lost)
/// until the child is reaped; the original mask comes back on drop.
pub(crate) struct SignalBlock {
    set: SigSet,
    original: SigSet,
}

impl SignalBlock {
    /// Blocks the signals; remembers the mask to restore.
    pub(crate) fn block() -> Result<Self, Errno> {
        let mut set = SigSet::empty();
        for signal in FORWARDED_SIGNALS.into_iter().chain([Signal::SIGCHLD]) {
            set.add(signal);
        }
        let original = set.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        Ok(SignalBlock { set, original })
    }

    /// The mask before blocking (the child restores it before exec).
    pub(crate) fn original(&self) -> SigSet {
        self.original
    }
}

impl Drop for SignalBlock {
    fn drop(&mut self) {
        let _ = self.original.thread_set_mask();
    }
}

/// A started container process (it has exec'd its program).
///
/// `Child` is not `Send`: with signal forwarding on, the signals are blocked in the thread that spawned it, which
/// must be the one that waits. Dropping a `Child` without waiting neither kills nor reaps the process; it
/// restores the signal mask.
pub struct Child {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    signals: Option<SignalBlock>,
    _same_thread: PhantomData<*const ()>,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("pidfd", &self.pidfd)
            .field("forward_signals", &self.signals.is_some())
            .finish()
    }
}

impl Child {
    pub(crate) fn new(pid: Pid, pidfd: Option<OwnedFd>, signals: Option<SignalBlock>) -> Self {
        Child {
            pid,
            pidfd,
            signals,
            _same_thread: PhantomData,
        }
    }

    /// The process id (in the runtime's PID namespace).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// A pidfd of the process, when the kernel gave one (Linux 5.3+).
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// Sends `signal` to the process (safe until it is waited for: the pid cannot be reused before).
    pub fn signal(&self, signal: Signal) -> Result<(), SpawnError> {
        kill(self.pid, signal).map_err(|source| SpawnError::Signal {
            pid: self.pid,
            signal,
            source,
        })
    }

    /// Waits for the process to end and reaps it. With signal forwarding on, SIGINT, SIGTERM, SIGHUP and SIGQUIT
    /// received meanwhile are sent on to it; the signal mask is restored afterwards.
    pub fn wait(mut self) -> Result<ExitStatus, SpawnError> {
        match self.signals.take() {
            Some(block) => self.wait_forwarding(&block),
            None => self.wait_blocking(),
        }
    }

    fn wait_blocking(&self) -> Result<ExitStatus, SpawnError> {
        loop {
            match waitpid(self.pid, None) {
                Err(Errno::EINTR) => continue,
                Err(source) => {
                    return Err(SpawnError::Wait {
                        pid: self.pid,
                        source,
                    })
                }
                Ok(status) => {
                    if let Some(status) = ExitStatus::from_wait_status(status) {
                        return Ok(status);
                    }
                }
            }
        }
    }

    /// Polls a signalfd of the blocked signals and the pidfd (which works even when SIGCHLD goes to another
    /// thread); forwards signals, reaps on exit.
    fn wait_forwarding(&self, block: &SignalBlock) -> Result<ExitStatus, SpawnError> {
        let wait_err = |source| SpawnError::Wait {
            pid: self.pid,
            source,
        };
        let signals =
            SignalFd::with_flags(&block.set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .map_err(wait_err)?;
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::empty()),
        ];
        if let Some(pidfd) = &self.pidfd {
            fds[1] = PollFd::new(pidfd.as_fd(), PollFlags::POLLIN);
        }
        let watched = if self.pidfd.is_some() { 2 } else { 1 };
        loop {
            if let Some(status) = self.try_reap()? {
                // Consume what arrived too late to forward, so restoring the mask does not deliver it here.
                while let Ok(Some(_)) = signals.read_signal() {}
                return Ok(status);
            }
            match poll(&mut fds[..watched], PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(source) => return Err(wait_err(source)),
            }
            self.forward_pending(&signals)?;
        }
    }

    fn forward_pending(&self, signals: &SignalFd) -> Result<(), SpawnError> {
        loop {
            match signals.read_signal() {
                Ok(Some(info)) => {
                    let signal = Signal::try_from(info.ssi_signo as i32).ok();
                    if let Some(signal) = signal.filter(|s| FORWARDED_SIGNALS.contains(s)) {
                        // ESRCH: it is exiting; the next round reaps it.
                        let _ = kill(self.pid, signal);
                    }
                }
                Ok(None) => return Ok(()),
                Err(source) => {
                    return Err(SpawnError::Wait {
                        pid: self.pid,
                        source,
                    })
                }
            }
        }
    }

    fn try_reap(&self) -> Result<Option<ExitStatus>, SpawnError> {
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => Ok(None),
            Ok(status) => Ok(ExitStatus::from_wait_status(status)),
            Err(source) => Err(SpawnError::Wait {
                pid: self.pid,
                source,
            }),
        }
    }
}
