//! `cove run --tty`: an interactive container on a terminal of its own.
//!
//! The container process gets a new pseudo-terminal, allocated inside the container (its own devpts) and made
//! its controlling terminal in its own session; cove receives the pty's master and relays bytes between the
//! caller's terminal and the master until the container's side is closed, as `runc run` does for a
//! `process.terminal` container and `docker run -t` does. The workload never holds the caller's terminal, so it
//! cannot push keystrokes into the caller's shell (`TIOCSTI`) or change its settings; it can only write bytes,
//! which land on the caller's screen.
//!
//! While relaying, the caller's terminal is in raw mode (restored afterwards, also when cove fails), so keys
//! such as Ctrl-C reach the container's line discipline; window-size changes (`SIGWINCH`) are copied to the pty.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};

use crate::console;

/// The relay between the caller's terminal and a container's pty master, running in a thread.
pub struct Relay {
    thread: Option<JoinHandle<()>>,
    /// Written once the container has exited: the relay drains what is left and stops.
    stop: Option<OwnedFd>,
    raw: Option<RawMode>,
    /// Whether this thread blocked SIGWINCH for the relay (to unblock it afterwards).
    blocked_winch: bool,
}

impl Relay {
    /// Starts relaying: the caller's stdin (raw mode when it is a terminal) to `master`, `master` to stdout.
    pub fn start(master: OwnedFd) -> Result<Relay> {
        let stdin = std::io::stdin();
        let size = console::window_size(stdin.as_fd())
            .or_else(|| console::window_size(std::io::stdout().as_fd()));
        if let Some(size) = size {
            console::set_window_size(&master, size).context("setting the pty's window size")?;
        }
        let raw = match termios::tcgetattr(stdin.as_fd()) {
            Ok(saved) => Some(RawMode::enter(saved)?),
            Err(_) => None,
        };
        // SIGWINCH is read from a signalfd by the relay: block it here first (threads inherit the mask), so that
        // no thread takes it with its default action (ignore).
        let winch = SigSet::from(Signal::SIGWINCH);
        let mut previous = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&winch), Some(&mut previous))
            .context("blocking SIGWINCH")?;
        let signals = SignalFd::with_flags(&winch, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .context("signalfd for SIGWINCH")?;
        let (stop_reader, stop_writer) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).context("creating the relay's stop pipe")?;
        fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("pty master non-blocking")?;
        let thread = std::thread::Builder::new()
            .name("tty-relay".into())
            .spawn(move || pump(&master, &signals, &stop_reader))
            .context("starting the terminal relay")?;
        Ok(Relay {
            thread: Some(thread),
            stop: Some(stop_writer),
            raw,
            blocked_winch: !previous.contains(Signal::SIGWINCH),
        })
    }

    /// Once the container has exited: relays what it still wrote, stops, and restores the caller's terminal.
    pub fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = nix::unistd::write(&stop, b"x");
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.raw.take();
        if std::mem::take(&mut self.blocked_winch) {
            let winch = SigSet::from(Signal::SIGWINCH);
            let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&winch), None);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The caller's terminal in raw mode; its settings are restored on drop.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter(saved: Termios) -> Result<RawMode> {
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &raw)
            .context("putting the terminal in raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}

/// The relay loop: until the pty's far side is closed (`EIO`) or `stop` becomes readable.
fn pump(master: &OwnedFd, signals: &SignalFd, stop: &OwnedFd) {
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        let (master_ready, winch, stopped, input) = (ready(0), ready(1), ready(2), ready(3));
        if master_ready && !copy_output(master.as_fd()) {
            return;
        }
        if winch {
            resize(master.as_fd(), signals);
        }
        if stopped {
            copy_output(master.as_fd());
            return;
        }
        if input {
            stdin_open = copy_input(master.as_fd());
        }
    }
}

/// Copies what the container wrote to stdout; false once the pty's far side is closed.
fn copy_output(master: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    loop {
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(Errno::EIO) => return false,
            Ok(n) => {
                let mut out = std::io::stdout().lock();
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    return false;
                }
            }
            Err(Errno::EAGAIN) => return true,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// Copies one read of the caller's input to the pty; false once the input ended.
fn copy_input(master: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 4096];
    // Straight from the descriptor: std's buffered stdin could keep bytes poll(2) does not see.
    match nix::unistd::read(std::io::stdin().as_fd(), &mut buf) {
        Err(Errno::EINTR | Errno::EAGAIN) => true,
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut written = 0;
            while written < n {
                match nix::unistd::write(master, &buf[written..n]) {
                    Ok(w) => written += w,
                    Err(Errno::EAGAIN | Errno::EINTR) => std::thread::yield_now(),
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

/// Takes the pending SIGWINCH and copies the caller's window size to the pty.
fn resize(master: BorrowedFd<'_>, signals: &SignalFd) {
    while let Ok(Some(_)) = signals.read_signal() {}
    if let Some(size) = console::window_size(std::io::stdin().as_fd()) {
        let _ = console::set_window_size(master, size);
    }
}
