//! OCI hooks (runtime spec, "POSIX-platform Hooks"): programs run at points of the container's lifecycle with
//! the container's state JSON on their stdin.
//!
//! Each hook runs as `path` with argv `args` (`args[0]` is argv\[0\]; `path` when `args` is empty) and exactly
//! the environment `env`. Its stdin receives the state JSON and is then closed; a hook that does not read it is
//! fine. Its stdout and stderr are captured (the last 4 KiB of each are kept). With a `timeout`, a hook still
//! running after that many seconds is killed with SIGKILL. The hook process is always reaped, whatever happens.
//!
//! No thread is started and nothing here depends on other threads: this runs in the runtime (createRuntime,
//! poststart, poststop, prestart) and in the container process between clone and exec (createContainer,
//! startContainer), which is single-threaded. Waiting uses `poll(2)` on the pipes and a pidfd (a 10 ms tick with
//! `waitpid(WNOHANG)` on kernels without `pidfd_open`).
//!
//! Hooks inherit the caller's working directory (runc runs them from the bundle directory) and its file
//! descriptors that are not close-on-exec. While writing the state, SIGPIPE is blocked on the calling thread
//! and one SIGPIPE raised by a hook that closed its stdin early is consumed, so the caller's disposition does not
//! matter.
//!
//! ```no_run
//! use cove_container::hooks::{run_hooks, Hook, HookKind};
//! let hook: Hook = serde_json::from_str(
//!     r#"{"path": "/usr/bin/logger", "args": ["logger", "-t", "cove"], "timeout": 5}"#,
//! )?;
//! let state = br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
//! run_hooks(HookKind::CreateRuntime, &[hook], state)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cove_spawn::{Pid, ProcessHandle};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use serde::{Deserialize, Serialize};

/// One hook: a program, its argv and environment, and how long it may run (the runtime spec's `hooks`
/// entries; deserializes from their JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// The program, an absolute host path.
    pub path: PathBuf,
    /// argv, `args[0]` included (empty: `path`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The complete environment, `KEY=value` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Seconds after which the hook is killed (`None`: no limit; must be positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// The hooks of a container, by lifecycle point (the runtime spec's `hooks` object; deserializes from its JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Hooks {
    /// `prestart` (deprecated by the spec, still run).
    pub prestart: Vec<Hook>,
    /// `createRuntime`.
    pub create_runtime: Vec<Hook>,
    /// `createContainer`.
    pub create_container: Vec<Hook>,
    /// `startContainer`.
    pub start_container: Vec<Hook>,
    /// `poststart`.
    pub poststart: Vec<Hook>,
    /// `poststop`.
    pub poststop: Vec<Hook>,
}

/// How much of a hook's stdout and stderr is kept (the end of it).
pub const OUTPUT_TAIL: usize = 4096;

/// The tick used to notice a hook's exit on kernels without `pidfd_open`.
const TICK: Duration = Duration::from_millis(10);

/// The most read from a hook's pipes after it exited (descendants may keep them open and keep writing).
const DRAIN_LIMIT: usize = 1 << 20;

/// The lifecycle point a list of hooks belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// `prestart` (deprecated): after `start` is called, before the user program runs; runtime namespace.
    Prestart,
    /// `createRuntime`: during `create`, after the runtime environment exists, before pivot_root; runtime
    /// namespace.
    CreateRuntime,
    /// `createContainer`: during `create`, before pivot_root; container namespace.
    CreateContainer,
    /// `startContainer`: during `start`, before the user program runs; container namespace.
    StartContainer,
    /// `poststart`: after the user program started; runtime namespace.
    Poststart,
    /// `poststop`: after the container was deleted; runtime namespace.
    Poststop,
}

impl HookKind {
    /// Every kind, in lifecycle order.
    pub const ALL: [HookKind; 6] = [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ];

    /// The name in config.json: `prestart`, `createRuntime`, `createContainer`, `startContainer`,
    /// `poststart`, `poststop`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in config.json's `hooks` (empty when absent).
    ///
    /// ```
    /// use cove_container::hooks::{HookKind, Hooks};
    /// let hooks: Hooks =
    ///     serde_json::from_str(r#"{"createRuntime": [{"path": "/bin/true"}]}"#).unwrap();
    /// assert_eq!(HookKind::CreateRuntime.select(&hooks).len(), 1);
    /// assert!(HookKind::Poststop.select(&hooks).is_empty());
    /// ```
    pub fn select(self, hooks: &Hooks) -> &[Hook] {
        // prestart is deprecated in the spec, still run by runc and crun
        match self {
            HookKind::Prestart => &hooks.prestart,
            HookKind::CreateRuntime => &hooks.create_runtime,
            HookKind::CreateContainer => &hooks.create_container,
            HookKind::StartContainer => &hooks.start_container,
            HookKind::Poststart => &hooks.poststart,
            HookKind::Poststop => &hooks.poststop,
        }
    }

    /// Whether the spec makes a failure of this kind fatal for the container (prestart, createRuntime,
    /// createContainer, startContainer). For poststart and poststop the runtime must only log a warning and
    /// run the remaining hooks: use [`run_all_hooks`] for those.
    pub fn failure_is_fatal(self) -> bool {
        !matches!(self, HookKind::Poststart | HookKind::Poststop)
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which hook: its kind, its index in that kind's list in config.json, and its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookId {
    /// The lifecycle point.
    pub kind: HookKind,
    /// The index in config.json's list for `kind`, from 0.
    pub index: usize,
    /// The hook's `path`.
    pub path: PathBuf,
}

impl fmt::Display for HookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hook {} ({})",
            self.kind,
            self.index,
            self.path.display()
        )
    }
}

/// Running a hook failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The hook's path is not absolute (the spec requires it).
    #[error("{hook}: the path must be absolute")]
    RelativePath {
        /// The hook.
        hook: HookId,
    },
    /// The hook's timeout is zero or negative (the spec requires it to be greater than zero).
    #[error("{hook}: timeout {timeout} must be greater than zero")]
    InvalidTimeout {
        /// The hook.
        hook: HookId,
        /// The timeout in config.json, in seconds.
        timeout: i64,
    },
    /// An entry of the hook's `env` is not `KEY=VALUE`.
    #[error("{hook}: environment entry {entry:?} is not KEY=VALUE")]
    InvalidEnv {
        /// The hook.
        hook: HookId,
        /// The entry.
        entry: String,
    },
    /// The hook could not be started (missing, not executable…).
    #[error("{hook}: start")]
    Spawn {
        /// The hook.
        hook: HookId,
        /// The error of fork/exec.
        #[source]
        source: io::Error,
    },
    /// Talking to or waiting for the running hook failed.
    #[error("{hook}: {op}")]
    Io {
        /// The hook.
        hook: HookId,
        /// The step (`poll the hook's pipes`, `wait for the hook`…).
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The hook ran and exited unsuccessfully.
    #[error("{hook} failed ({status}){}", stderr_suffix(stderr))]
    Failed {
        /// The hook.
        hook: HookId,
        /// Its exit status (exit code or signal).
        status: ExitStatus,
        /// The end of its stderr, trimmed.
        stderr: String,
        /// The end of its stdout, trimmed.
        stdout: String,
    },
    /// The hook ran longer than its timeout and was killed (SIGKILL) and reaped.
    #[error("{hook} timed out after {} s and was killed{}", timeout.as_secs(), stderr_suffix(stderr))]
    TimedOut {
        /// The hook.
        hook: HookId,
        /// Its timeout.
        timeout: Duration,
        /// The end of its stderr up to then, trimmed.
        stderr: String,
    },
}

impl HookError {
    /// The hook this error is about.
    pub fn hook(&self) -> &HookId {
        match self {
            HookError::RelativePath { hook }
            | HookError::InvalidTimeout { hook, .. }
            | HookError::InvalidEnv { hook, .. }
            | HookError::Spawn { hook, .. }
            | HookError::Io { hook, .. }
            | HookError::Failed { hook, .. }
            | HookError::TimedOut { hook, .. } => hook,
        }
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Runs `hooks` of `kind` in order, each with `state_json` on its stdin; stops at the first failure and
/// returns it. This is the behaviour the spec asks for prestart, createRuntime, createContainer and
/// startContainer hooks (see [`HookKind::failure_is_fatal`]).
pub fn run_hooks(kind: HookKind, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_hook(hook_id(kind, index, hook), hook, state_json)?;
    }
    Ok(())
}

/// Runs every hook of `hooks` in order, whatever the previous ones did, and returns the failures (empty when
/// all succeeded). This is what the spec asks for poststart and poststop hooks: log each failure as a warning
/// and carry on.
pub fn run_all_hooks(kind: HookKind, hooks: &[Hook], state_json: &[u8]) -> Vec<HookError> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(index, hook)| run_hook(hook_id(kind, index, hook), hook, state_json).err())
        .collect()
}

fn hook_id(kind: HookKind, index: usize, hook: &Hook) -> HookId {
    HookId {
        kind,
        index,
        path: hook.path.clone(),
    }
}

/// Runs one hook to completion (or to its timeout).
fn run_hook(id: HookId, hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let timeout = timeout_of(&id, hook)?;
    let mut command = command(&id, hook)?;
    let child = command.spawn().map_err(|source| HookError::Spawn {
        hook: id.clone(),
        source,
    })?;
    let mut running = Running::new(child);
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let outcome = running.communicate(state_json, deadline);
    let (out, err) = running.output();
    match outcome {
        Ok(Outcome::Exited(status)) if status.success() => Ok(()),
        Ok(Outcome::Exited(status)) => Err(HookError::Failed {
            hook: id,
            status,
            stderr: err,
            stdout: out,
        }),
        Ok(Outcome::TimedOut) => Err(HookError::TimedOut {
            hook: id,
            timeout: timeout.unwrap_or_default(),
            stderr: err,
        }),
        Err((op, source)) => Err(HookError::Io {
            hook: id,
            op,
            source,
        }),
    }
}

fn timeout_of(id: &HookId, hook: &Hook) -> Result<Option<Duration>, HookError> {
    match hook.timeout {
        None => Ok(None),
        Some(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs.unsigned_abs()))),
        Some(secs) => Err(HookError::InvalidTimeout {
            hook: id.clone(),
            timeout: secs,
        }),
    }
}

/// The hook's command: path, argv (argv\[0\] from `args`), exactly `env`, all three stdio piped.
fn command(id: &HookId, hook: &Hook) -> Result<Command, HookError> {
    let path = &hook.path;
    if !path.is_absolute() {
        return Err(HookError::RelativePath { hook: id.clone() });
    }
    let mut command = Command::new(path);
    let args = &hook.args;
    if let Some((arg0, rest)) = args.split_first() {
        command.arg0(arg0).args(rest);
    }
    command.env_clear();
    for entry in &hook.env {
        let (key, value) = entry.split_once('=').ok_or_else(|| HookError::InvalidEnv {
            hook: id.clone(),
            entry: entry.clone(),
        })?;
        command.env(key, value);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(command)
}

/// How the hook ended.
enum Outcome {
    Exited(ExitStatus),
    TimedOut,
}

/// A failed step while talking to the hook.
type StepError = (&'static str, io::Error);

/// A started hook: its pipes, what it wrote so far, and the guarantee that it is reaped (killed first if
/// still running) when dropped.
struct Running {
    child: Child,
    reaped: bool,
    pidfd: Option<ProcessHandle>,
    stdin: Option<ChildStdin>,
    written: usize,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Tail,
    err: Tail,
}

/// Which descriptor a poll entry is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Stdin,
    Stdout,
    Stderr,
    Exit,
}

impl Running {
    fn new(mut child: Child) -> Self {
        // ESRCH cannot happen (we have not reaped it); ENOSYS on old kernels: fall back to ticks.
        let pidfd = libc::pid_t::try_from(child.id())
            .ok()
            .and_then(|pid| ProcessHandle::open(Pid::from_raw(pid)).ok());
        Running {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            reaped: false,
            pidfd,
            written: 0,
            out: Tail::default(),
            err: Tail::default(),
        }
    }

    /// Feeds `state` to the hook's stdin, collects its output and waits for it until `deadline`.
    fn communicate(
        &mut self,
        state: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Outcome, StepError> {
        self.set_nonblocking()?;
        if state.is_empty() {
            self.stdin = None;
        }
        let sigpipe = SigpipeBlock::new().map_err(|e| ("block SIGPIPE", e.into()))?;
        let outcome = self.exchange(state, deadline, &sigpipe);
        drop(sigpipe);
        let outcome = outcome?;
        self.drain();
        Ok(outcome)
    }

    fn set_nonblocking(&self) -> Result<(), StepError> {
        let fds = [
            self.stdin.as_ref().map(AsFd::as_fd),
            self.stdout.as_ref().map(AsFd::as_fd),
            self.stderr.as_ref().map(AsFd::as_fd),
        ];
        for fd in fds.into_iter().flatten() {
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map_err(|e| ("make the hook's pipes non-blocking", e.into()))?;
        }
        Ok(())
    }

    /// The poll loop: until the hook exits or the deadline passes.
    fn exchange(
        &mut self,
        state: &[u8],
        deadline: Option<Instant>,
        sigpipe: &SigpipeBlock,
    ) -> Result<Outcome, StepError> {
        loop {
            if let Some(status) = self.exited_without_pidfd()? {
                return Ok(Outcome::Exited(status));
            }
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return self.kill().map(|()| Outcome::TimedOut),
                },
                None => None,
            };
            for (slot, events) in self.poll(wait)? {
                match slot {
                    Slot::Stdin => self.feed(state, sigpipe)?,
                    Slot::Stdout => read_into(&mut self.stdout, &mut self.out, usize::MAX),
                    Slot::Stderr => read_into(&mut self.stderr, &mut self.err, usize::MAX),
                    Slot::Exit if events.intersects(PollFlags::POLLIN) => {
                        return self.reap().map(Outcome::Exited)
                    }
                    Slot::Exit => {}
                }
            }
        }
    }

    /// Without a pidfd, `waitpid(WNOHANG)` once per tick.
    fn exited_without_pidfd(&mut self) -> Result<Option<ExitStatus>, StepError> {
        if self.pidfd.is_some() {
            return Ok(None);
        }
        let status = self
            .child
            .try_wait()
            .map_err(|e| ("wait for the hook", e))?;
        self.reaped = status.is_some();
        Ok(status)
    }

    /// One `poll(2)` over the open pipes and the pidfd; returns the ready slots.
    fn poll(&self, wait: Option<Duration>) -> Result<Vec<(Slot, PollFlags)>, StepError> {
        let mut slots: Vec<(Slot, BorrowedFd<'_>, PollFlags)> = Vec::with_capacity(4);
        if let Some(stdin) = &self.stdin {
            slots.push((Slot::Stdin, stdin.as_fd(), PollFlags::POLLOUT));
        }
        if let Some(stdout) = &self.stdout {
            slots.push((Slot::Stdout, stdout.as_fd(), PollFlags::POLLIN));
        }
        if let Some(stderr) = &self.stderr {
            slots.push((Slot::Stderr, stderr.as_fd(), PollFlags::POLLIN));
        }
        if let Some(pidfd) = &self.pidfd {
            slots.push((Slot::Exit, pidfd.as_fd(), PollFlags::POLLIN));
        }
        let wait = match &self.pidfd {
            Some(_) => wait,
            None => Some(wait.map_or(TICK, |w| w.min(TICK))),
        };
        let mut fds: Vec<PollFd<'_>> = slots
            .iter()
            .map(|(_, fd, events)| PollFd::new(*fd, *events))
            .collect();
        match poll(&mut fds, poll_timeout(wait)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(("poll the hook's pipes", e.into())),
        }
        Ok(slots
            .iter()
            .zip(&fds)
            .filter_map(|((slot, _, _), fd)| {
                let events = fd.revents().unwrap_or(PollFlags::empty());
                (!events.is_empty()).then_some((*slot, events))
            })
            .collect())
    }

    /// Writes as much of the state as the pipe takes; closes stdin when all of it is written or when the hook
    /// closed its end (EPIPE: it does not read the state, which is its right).
    fn feed(&mut self, state: &[u8], sigpipe: &SigpipeBlock) -> Result<(), StepError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(());
        };
        while self.written < state.len() {
            match stdin.write(&state[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    sigpipe
                        .consume()
                        .map_err(|e| ("consume SIGPIPE", e.into()))?;
                    break;
                }
                Err(e) => return Err(("write the state to the hook's stdin", e)),
            }
        }
        self.stdin = None;
        Ok(())
    }

    /// SIGKILL and reap (after the deadline).
    fn kill(&mut self) -> Result<(), StepError> {
        self.child.kill().map_err(|e| ("kill the hook", e))?;
        self.reap().map(drop)
    }

    fn reap(&mut self) -> Result<ExitStatus, StepError> {
        let status = self.child.wait().map_err(|e| ("wait for the hook", e))?;
        self.reaped = true;
        Ok(status)
    }

    /// After the exit: what is left in the pipes, without waiting for descendants that may still hold them.
    fn drain(&mut self) {
        self.stdin = None;
        read_into(&mut self.stdout, &mut self.out, DRAIN_LIMIT);
        read_into(&mut self.stderr, &mut self.err, DRAIN_LIMIT);
    }

    /// The ends of stdout and stderr, trimmed.
    fn output(&self) -> (String, String) {
        (self.out.text(), self.err.text())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            // Only on an error path: a hook must never outlive us unreaped.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads what `pipe` has now (non-blocking) into `tail`, at most `limit` bytes; closes it at EOF or on error.
fn read_into<R: Read>(pipe: &mut Option<R>, tail: &mut Tail, limit: usize) {
    let Some(reader) = pipe.as_mut() else {
        return;
    };
    let mut buf = [0u8; 8192];
    let mut total = 0;
    while total < limit {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                tail.push(&buf[..n]);
                total += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => break,
        }
    }
    *pipe = None;
}

fn poll_timeout(wait: Option<Duration>) -> PollTimeout {
    match wait {
        None => PollTimeout::NONE,
        // Round up, so that a sub-millisecond rest does not spin with a zero timeout.
        Some(wait) => {
            let millis = wait.as_micros().div_ceil(1000);
            i32::try_from(millis)
                .ok()
                .and_then(|ms| PollTimeout::try_from(ms).ok())
                .unwrap_or(PollTimeout::MAX)
        }
    }
}

/// The last [`OUTPUT_TAIL`] bytes of a stream.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > 2 * OUTPUT_TAIL {
            let excess = self.bytes.len() - OUTPUT_TAIL;
            self.bytes.drain(..excess);
            self.cut = true;
        }
    }

    fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(OUTPUT_TAIL);
        let text = String::from_utf8_lossy(&self.bytes[start..]);
        let text = text.trim();
        if self.cut || start > 0 {
            format!("…{text}")
        } else {
            text.to_owned()
        }
    }
}

/// SIGPIPE blocked on this thread while we write to a hook's stdin, so that a hook closing it early gives us
/// EPIPE instead of killing us when SIGPIPE is not ignored (the container process before exec may have any
/// disposition). The one SIGPIPE such a write raises stays pending and is consumed with `sigwait`.
struct SigpipeBlock {
    was_blocked: bool,
}

impl SigpipeBlock {
    fn new() -> nix::Result<Self> {
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&sigpipe()), Some(&mut old))?;
        Ok(SigpipeBlock {
            was_blocked: old.contains(Signal::SIGPIPE),
        })
    }

    /// Consumes the SIGPIPE that the failed write left pending on this thread (a blocked signal is queued even
    /// when its disposition is to ignore it, so this returns at once).
    fn consume(&self) -> nix::Result<()> {
        sigpipe().wait().map(drop)
    }
}

impl Drop for SigpipeBlock {
    fn drop(&mut self) {
        if !self.was_blocked {
            let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&sigpipe()), None);
        }
    }
}

fn sigpipe() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    set
}
