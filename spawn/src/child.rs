//! The container process's side: everything between clone and exec.
//!
//! Order: parent-death signal → close the parent's socket end → join namespaces (user first) → [staged: unshare
//! the new namespaces, report ready] → wait for go → [fork the final process when a PID namespace needs it] →
//! non-dumpable → new session → close every descriptor the process does not need → setup (caller) →
//! groups/gid/uid → enter the working directory (inside the root, verified) → pre-exec (caller) → signal mask and
//! SIGPIPE → exec.
//! Any failure is sent to the parent as an error record and the process `_exit`s.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

use cove_ns::{NamespaceSet, NsFile};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::socket::MsgFlags;
use nix::unistd::{Gid, Uid};

use crate::fds::{self, Keep};
use crate::sys::{self, CStringArray};
use crate::wire::{ToParent, GO};
use crate::ChildError;
use crate::{cwd, path};

/// A child-side step supplied by the caller.
pub(crate) type ChildStep = Box<dyn FnOnce() -> Result<(), ChildError>>;

/// Exit code of a child that failed (the parent reports the error record, not this code).
const FAILED: i32 = 127;
/// Exit code of a child whose parent went away before releasing it.
const ORPHANED: i32 = 1;

/// Where the child creates its namespaces itself (joins present, time offsets, or no clone3).
pub(crate) struct Staged {
    /// Namespaces to unshare after joining.
    pub(crate) unshare: NamespaceSet,
    /// Fork the final process after release (a new or joined PID namespace applies to children only).
    pub(crate) fork: bool,
    /// Whether clone3 is available for that fork.
    pub(crate) clone3: bool,
}

/// The user to become.
pub(crate) struct User {
    pub(crate) uid: Uid,
    pub(crate) gid: Gid,
    pub(crate) groups: Vec<Gid>,
}

/// The program to exec, prepared by the parent.
pub(crate) struct ExecPlan {
    pub(crate) candidates: Vec<CString>,
    pub(crate) argv: CStringArray,
    pub(crate) envp: CStringArray,
}

/// Everything the child needs, prepared by the parent before the clone.
pub(crate) struct ChildContext {
    pub(crate) sock: OwnedFd,
    pub(crate) parent_end: RawFd,
    pub(crate) joins: Vec<NsFile>,
    pub(crate) staged: Option<Staged>,
    pub(crate) release: Release,
}

/// The steps after release.
pub(crate) struct Release {
    /// A new user namespace maps uid 0 and gid 0: become them before the setup, so files the setup creates
    /// (mount targets, …) belong to the namespace's root even when the runtime's own ids are unmapped.
    pub(crate) become_userns_root: bool,
    pub(crate) setup: Option<ChildStep>,
    pub(crate) user: Option<User>,
    pub(crate) cwd: Option<CString>,
    pub(crate) pre_exec: Option<ChildStep>,
    pub(crate) preserve_fds: Option<u32>,
    /// Descriptors the caller's steps use: kept open when the others are closed (with `preserve_fds`).
    pub(crate) keep_fds: Vec<RawFd>,
    pub(crate) sigmask: Option<SigSet>,
    pub(crate) exec: ExecPlan,
    /// Hold before exec until a byte arrives here.
    pub(crate) gate: Option<OwnedFd>,
    /// Run once the gate opened.
    pub(crate) after_gate: Option<ChildStep>,
    /// Clear the parent-death signal before exec.
    pub(crate) outlive_parent: bool,
}

/// Why the child stops before exec.
enum Stop {
    Failed(ChildError),
    ParentGone,
}

impl From<ChildError> for Stop {
    fn from(err: ChildError) -> Self {
        Stop::Failed(err)
    }
}

/// The child's entry point, right after the clone.
pub(crate) fn main(ctx: ChildContext) -> Infallible {
    // First, so that the runtime's death kills this process; should the runtime already be dead, the read of go
    // below sees end-of-file once the parent's socket end is closed here.
    let pdeathsig = set_parent_death_signal();
    sys::close_inherited(ctx.parent_end);
    let ChildContext {
        sock,
        joins,
        staged,
        release,
        ..
    } = ctx;
    PANIC_REPORT_FD.store(sock.as_raw_fd(), Ordering::Relaxed);
    let result = catch_unwind(AssertUnwindSafe(|| {
        pdeathsig?;
        run(sock.as_fd(), joins, staged, release)
    }));
    conclude(sock.as_fd(), result)
}

/// Reports how the child stopped and exits.
fn conclude(sock: BorrowedFd<'_>, result: std::thread::Result<Result<Infallible, Stop>>) -> ! {
    let code = match result {
        Ok(Ok(never)) => match never {},
        Ok(Err(Stop::Failed(err))) => {
            send(sock, &ToParent::Failed(err));
            FAILED
        }
        Ok(Err(Stop::ParentGone)) => ORPHANED,
        // The panic hook already reported it.
        Err(_) => FAILED,
    };
    sys::exit_now(code)
}

/// The sync socket of this process when it is a container process before exec; -1 in the runtime.
static PANIC_REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// Installs (once, in the runtime, before the first clone) a panic hook that reports a panic in a container
/// process (e.g. in the caller's setup) as an error record, also when panics abort; in the runtime itself it only
/// calls the previous hook. Installing it in the child instead could deadlock on the hook lock, which another
/// thread of the runtime may have held at the time of the clone.
pub(crate) fn install_panic_reporter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let fd = PANIC_REPORT_FD.load(Ordering::Relaxed);
            if fd < 0 {
                return previous(info);
            }
            let err = ChildError::new("panic", None, info.to_string());
            let _ =
                nix::sys::socket::send(fd, &ToParent::Failed(err).encode(), MsgFlags::MSG_NOSIGNAL);
        }));
    });
}

fn send(sock: BorrowedFd<'_>, msg: &ToParent) {
    // A failure means the parent is gone: nobody is left to tell.
    let _ = nix::sys::socket::send(sock.as_raw_fd(), &msg.encode(), MsgFlags::MSG_NOSIGNAL);
}

fn run(
    sock: BorrowedFd<'_>,
    joins: Vec<NsFile>,
    staged: Option<Staged>,
    release: Release,
) -> Result<Infallible, Stop> {
    join_namespaces(&joins)?;
    // Joined: the namespace files are closed here, nothing of the container may reach them.
    drop(joins);
    if let Some(staged) = &staged {
        unshare(staged.unshare)?;
        send(sock, &ToParent::Ready);
    }
    wait_for_go(sock)?;
    match staged {
        Some(staged) if staged.fork => fork_final(sock, staged.clone3, release),
        _ => after_release(sock, release),
    }
}

fn set_parent_death_signal() -> Result<(), ChildError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| ChildError::from_errno("pdeathsig", e, "PR_SET_PDEATHSIG SIGKILL"))
}

fn join_namespaces(joins: &[NsFile]) -> Result<(), ChildError> {
    for ns in joins {
        ns.join()
            .map_err(|e| ChildError::from_error(format!("join {} namespace", ns.kind()), &e))?;
    }
    Ok(())
}

fn unshare(set: NamespaceSet) -> Result<(), ChildError> {
    if set.is_empty() {
        return Ok(());
    }
    cove_ns::unshare(set).map_err(|e| ChildError::from_error("unshare", &e))
}

/// Blocks until the parent's go; end-of-file means the parent is gone (its end closed).
fn wait_for_go(sock: BorrowedFd<'_>) -> Result<(), Stop> {
    let mut buf = [0u8; 8];
    loop {
        match nix::unistd::read(sock, &mut buf) {
            Ok(0) => return Err(Stop::ParentGone),
            Ok(n) if &buf[..n] == GO => return Ok(()),
            Ok(_) => {
                return Err(
                    ChildError::new("sync", None, "unexpected message from the parent").into(),
                )
            }
            Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(ChildError::from_errno("sync", e, "read go from the parent").into())
            }
        }
    }
}

/// Forks the final container process as a sibling (`CLONE_PARENT`: the runtime is its parent), reports its pid
/// and exits; the new process waits for the next go and goes on.
fn fork_final(sock: BorrowedFd<'_>, clone3: bool, release: Release) -> Result<Infallible, Stop> {
    let final_process = move || -> Infallible {
        let result = catch_unwind(AssertUnwindSafe(|| {
            set_parent_death_signal()?;
            wait_for_go(sock)?;
            after_release(sock, release)
        }));
        conclude(sock, result)
    };
    let cloned = if clone3 {
        sys::clone3(sys::CLONE_PARENT, None, final_process)
    } else {
        sys::clone(sys::CLONE_PARENT, final_process)
    };
    match cloned {
        Ok(cloned) => {
            send(sock, &ToParent::Forked(cloned.pid.as_raw()));
            sys::exit_now(0)
        }
        Err(e) => Err(ChildError::from_errno(
            "fork",
            e,
            "fork the container process into its PID namespace",
        )
        .into()),
    }
}

fn after_release(sock: BorrowedFd<'_>, release: Release) -> Result<Infallible, Stop> {
    make_undumpable()?;
    new_session()?;
    if let Some(preserved) = release.preserve_fds {
        let gate = release.gate.as_ref().map(AsRawFd::as_raw_fd);
        let own = [sock.as_raw_fd()].into_iter().chain(gate);
        fds::close_all_but(&Keep::new(
            preserved,
            own.chain(release.keep_fds.iter().copied()),
        ))?;
    }
    if release.become_userns_root {
        sys::set_credentials(&[], 0, 0).map_err(|(stage, errno)| {
            ChildError::from_errno(stage, errno, "become root of the new user namespace")
        })?;
        // A credential change clears the parent-death signal.
        set_parent_death_signal()?;
    }
    if let Some(setup) = release.setup {
        setup()?;
    }
    if let Some(user) = &release.user {
        switch_user(user)?;
    }
    if let Some(dir) = &release.cwd {
        cwd::enter(dir)?;
    }
    if let Some(pre_exec) = release.pre_exec {
        pre_exec()?;
    }
    if let Some(extra) = release.preserve_fds {
        close_stray_fds(extra)?;
    }
    if let Some(gate) = &release.gate {
        probe_program(&release.exec)?;
        // Disarm the parent-death signal first: the parent may exit as soon as it reads Waiting.
        clear_parent_death_signal()?;
        send(sock, &ToParent::Waiting);
        wait_at_gate(gate.as_fd())?;
        if let Some(step) = release.after_gate {
            if let Err(err) = step() {
                // Nobody waits for an error record any more: the process's stderr is the only witness.
                let line = format!("cove: {err}\n");
                let _ = nix::unistd::write(std::io::stderr(), line.as_bytes());
                sys::exit_now(1);
            }
        }
    } else if release.outlive_parent {
        clear_parent_death_signal()?;
    }
    restore_signals(release.sigmask)?;
    Err(exec(&release.exec).into())
}

/// Makes the process the leader of a new session without a controlling terminal, so that it can never reach the
/// terminal of the caller's session (`TIOCSTI` keystroke injection into the shell that started the runtime).
/// A terminal of its own is attached later by the caller's setup (`TIOCSCTTY`), in this session.
fn new_session() -> Result<(), ChildError> {
    nix::unistd::setsid()
        .map(drop)
        .map_err(|e| ChildError::from_errno("setsid", e, "start a new session"))
}

fn clear_parent_death_signal() -> Result<(), ChildError> {
    nix::sys::prctl::set_pdeathsig(None)
        .map_err(|e| ChildError::from_errno("pdeathsig", e, "clear PR_SET_PDEATHSIG"))
}

/// Fails as exec would when no candidate is an executable regular file, so that a gated start reports a
/// missing program before it waits (runc's `create` checks this too). EACCES on any candidate wins over ENOENT.
fn probe_program(plan: &ExecPlan) -> Result<(), ChildError> {
    let mut failure: Option<(Errno, &std::ffi::CStr)> = None;
    for candidate in &plan.candidates {
        let errno = match nix::unistd::access(candidate.as_c_str(), nix::unistd::AccessFlags::X_OK)
        {
            Ok(()) => match nix::sys::stat::stat(candidate.as_c_str()) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => return Ok(()),
                Ok(_) => Errno::EACCES,
                Err(e) => e,
            },
            Err(e) => e,
        };
        match failure {
            Some((Errno::EACCES, _)) => {}
            Some(_) if errno != Errno::EACCES => {}
            _ => failure = Some((errno, candidate.as_c_str())),
        }
    }
    let (errno, what) = failure.map_or((Errno::ENOENT, String::new()), |(e, c)| {
        (e, c.to_string_lossy().into_owned())
    });
    Err(ChildError::from_errno("exec", errno, what))
}

/// Blocks until one byte arrives on the gate; end of file means nobody will start the process.
fn wait_at_gate(gate: BorrowedFd<'_>) -> Result<(), Stop> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(gate, &mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) => sys::exit_now(1),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => {
                let mut fds = [nix::poll::PollFd::new(gate, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
            }
            Err(_) => sys::exit_now(1),
        }
    }
}

/// Marks the process non-dumpable until exec (which resets it): while it still runs the runtime's code, no
/// other process of the container (in a shared or joined PID namespace) may open its `/proc/<pid>/exe` — the
/// runtime's binary on the host (CVE-2019-5736) — or its memory and fds. Done after release, because the
/// parent has to write the id maps under `/proc/<pid>/` first, which non-dumpable would forbid to a rootless
/// parent.
fn make_undumpable() -> Result<(), ChildError> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| ChildError::from_errno("dumpable", e, "PR_SET_DUMPABLE 0"))
}

/// Supplementary groups, then gid, then uid, as raw per-thread syscalls (see [`sys::set_credentials`]).
/// A refused `setgroups` is accepted when the list is empty (EPERM: setgroups denied in this user namespace).
fn switch_user(user: &User) -> Result<(), ChildError> {
    let groups: Vec<libc::gid_t> = user.groups.iter().map(|g| g.as_raw()).collect();
    sys::set_credentials(&groups, user.gid.as_raw(), user.uid.as_raw()).map_err(
        |(stage, errno)| {
            let what = match stage {
                "setgroups" => format!("{:?}", user.groups),
                "setgid" => format!("gid {}", user.gid),
                _ => format!("uid {}", user.uid),
            };
            ChildError::from_errno(stage, errno, what)
        },
    )?;
    // A credential change clears the parent-death signal.
    set_parent_death_signal()
}

/// Marks every fd after stdio and the `extra` preserved ones close-on-exec, so the program inherits none of the
/// runtime's descriptors (the sync socket is close-on-exec already). Falls back to `/proc/self/fd` before 5.11,
/// and when the container's seccomp profile (loaded by now) does not allow `close_range` (EPERM: Docker profiles
/// before 2021 and many hand-written ones), as runc and crun start such bundles.
fn close_stray_fds(extra: u32) -> Result<(), ChildError> {
    let first = 3 + RawFd::try_from(extra).unwrap_or(RawFd::MAX - 3);
    match sys::cloexec_from(first) {
        Ok(()) => Ok(()),
        Err(Errno::ENOSYS | Errno::EINVAL | Errno::EPERM) => cloexec_from_proc(first),
        Err(e) => Err(ChildError::from_errno(
            "close fds",
            e,
            format!("close_range({first}, ~0, CLOEXEC)"),
        )),
    }
}

fn cloexec_from_proc(first: RawFd) -> Result<(), ChildError> {
    let entries = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| ChildError::from_io("close fds", &e, "/proc/self/fd"))?;
    let fds: Vec<RawFd> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    for fd in fds {
        // EBADF: the directory's own fd, closed since.
        match sys::set_cloexec(fd) {
            Ok(()) | Err(Errno::EBADF) => {}
            Err(e) => return Err(ChildError::from_errno("close fds", e, format!("fd {fd}"))),
        }
    }
    Ok(())
}

/// Restores the caller's signal mask and the default SIGPIPE disposition (the Rust runtime ignores SIGPIPE and an
/// ignored signal stays ignored across exec).
fn restore_signals(sigmask: Option<SigSet>) -> Result<(), ChildError> {
    if let Some(mask) = sigmask {
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None)
            .map_err(|e| ChildError::from_errno("signals", e, "restore the signal mask"))?;
    }
    sys::reset_signal(Signal::SIGPIPE)
        .map_err(|e| ChildError::from_errno("signals", e, "reset SIGPIPE"))
}

/// Execs the program (PATH search over the prepared candidates); returns only the error.
fn exec(plan: &ExecPlan) -> ChildError {
    let (errno, candidate) = path::search(&plan.candidates, |path| {
        sys::execve(path, &plan.argv, &plan.envp)
    });
    let program = plan
        .argv
        .strings()
        .first()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let message = match candidate {
        Some(path) if errno != Errno::ENOENT || plan.candidates.len() == 1 => {
            path.to_string_lossy().into_owned()
        }
        _ => format!("{program} (searched PATH)"),
    };
    ChildError::from_errno("exec", errno, message)
}
