//! [`Command`]: the builder, and the parent's side of the start.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use cove_ns::{IdMap, Namespace, NamespaceSet, NsFile, TimeOffset};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::sys::wait::waitpid;
use nix::unistd::{Gid, Pid, Uid};

use crate::child::{self, ChildContext, ChildStep, ExecPlan, Release, Staged, User};
use crate::error::WireError;
use crate::sys::{self, CStringArray};
use crate::wait::SignalBlock;
use crate::wire::{ToParent, GO, MAX_MESSAGE};
use crate::{path, Child, ChildError, SpawnError};

/// The error a parent hook may return.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// A container process to start: program, environment, namespaces, cgroup, user, and child-side steps.
///
/// ```no_run
/// use cove_ns::{Namespace, NamespaceSet};
/// use cove_spawn::{ChildError, Command};
///
/// let status = Command::new(vec!["/bin/sh".into(), "-c".into(), "hostname; echo $$".into()])
///     .env(vec![("PATH".into(), "/usr/bin:/bin".into())])
///     .new_namespaces(NamespaceSet::new().with(Namespace::Pid).with(Namespace::Uts))
///     .setup(|| cove_ns::set_hostname("box").map_err(|e| ChildError::from_error("hostname", &e)))
///     .spawn()?
///     .wait()?;
/// assert_eq!(status.code(), 0);
/// # Ok::<(), cove_spawn::SpawnError>(())
/// ```
pub struct Command {
    args: Vec<String>,
    env: Option<Vec<(String, String)>>,
    cwd: Option<PathBuf>,
    user: Option<(u32, u32, Vec<u32>)>,
    new_namespaces: NamespaceSet,
    joins: Vec<(Namespace, PathBuf)>,
    uid_map: Option<Vec<IdMap>>,
    gid_map: Option<Vec<IdMap>>,
    id_map_helpers: bool,
    time_offsets: Option<(TimeOffset, TimeOffset)>,
    cgroup: Option<OwnedFd>,
    setup: Option<ChildStep>,
    pre_exec: Option<ChildStep>,
    preserve_fds: Option<u32>,
    keep_fds: Vec<RawFd>,
    forward_signals: bool,
    use_clone3: bool,
    gate: Option<OwnedFd>,
    after_gate: Option<ChildStep>,
    outlive_parent: bool,
}

impl Command {
    /// A command running `args` (`args[0]` is the program). A program without `/` is searched in the `PATH` of
    /// the child's environment (as `execvp` does; [`DEFAULT_PATH`](crate::DEFAULT_PATH) when unset), in the
    /// child after its setup, so inside the container's root.
    pub fn new(args: Vec<String>) -> Self {
        Command {
            args,
            env: None,
            cwd: None,
            user: None,
            new_namespaces: NamespaceSet::new(),
            joins: Vec::new(),
            uid_map: None,
            gid_map: None,
            id_map_helpers: false,
            time_offsets: None,
            cgroup: None,
            setup: None,
            pre_exec: None,
            preserve_fds: None,
            keep_fds: Vec::new(),
            forward_signals: true,
            use_clone3: true,
            gate: None,
            after_gate: None,
            outlive_parent: false,
        }
    }

    /// The complete environment of the program (replaces the runtime's; without this call the program inherits
    /// the runtime's environment).
    pub fn env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = Some(env);
        self
    }

    /// The working directory, entered in the child after setup and user change, before exec.
    pub fn cwd(mut self, dir: PathBuf) -> Self {
        self.cwd = Some(dir);
        self
    }

    /// The user and groups to become in the child after setup: `setgroups`, `setgid`, `setuid`. `setgroups` is
    /// skipped when `additional_gids` is empty and setgroups is denied (user namespace).
    pub fn user(mut self, uid: u32, gid: u32, additional_gids: Vec<u32>) -> Self {
        self.user = Some((uid, gid, additional_gids));
        self
    }

    /// Namespaces to create for the process (clone3 flags).
    pub fn new_namespaces(mut self, set: NamespaceSet) -> Self {
        self.new_namespaces = set;
        self
    }

    /// An existing namespace to join (e.g. `/proc/<pid>/ns/net`): the file is opened in the parent by `spawn` and
    /// joined in the child first thing, user namespace first, before the child waits for release. New namespaces
    /// are then created after the joins (so they belong to a joined user namespace); a joined or new PID namespace
    /// then costs one more fork in the child.
    pub fn join_namespace(mut self, kind: Namespace, path: PathBuf) -> Self {
        self.joins.push((kind, path));
        self
    }

    /// The uid map of a new user namespace, written by the parent. Default: the caller's euid as 0.
    pub fn uid_map(mut self, maps: Vec<IdMap>) -> Self {
        self.uid_map = Some(maps);
        self
    }

    /// The gid map of a new user namespace, written by the parent. Default: the caller's egid as 0. When the
    /// caller is not root, `setgroups` is denied first (the kernel requires it).
    pub fn gid_map(mut self, maps: Vec<IdMap>) -> Self {
        self.gid_map = Some(maps);
        self
    }

    /// Writes the maps through the setuid helpers `newuidmap`/`newgidmap` (checked against `/etc/subuid` and
    /// `/etc/subgid`) instead of directly: how an unprivileged caller maps ranges beyond its own ids.
    pub fn id_map_helpers(mut self, yes: bool) -> Self {
        self.id_map_helpers = yes;
        self
    }

    /// Clock offsets of the new time namespace (needs [`Namespace::Time`] in `new_namespaces`). The child then
    /// unshares the time namespace itself, the parent writes the offsets and the exec enters the namespace.
    pub fn time_offsets(mut self, monotonic: TimeOffset, boottime: TimeOffset) -> Self {
        self.time_offsets = Some((monotonic, boottime));
        self
    }

    /// Starts the process in this cgroup v2 directory (`clone3` with `CLONE_INTO_CGROUP`). The fd should be
    /// close-on-exec (as `std` opens files), or the program inherits it.
    pub fn into_cgroup(mut self, dir: OwnedFd) -> Self {
        self.cgroup = Some(dir);
        self
    }

    /// Child-side steps supplied by the caller (hostname, mounts, rootfs, rlimits…), run after release and before
    /// the user change, chdir and exec. Its error is reported as [`SpawnError::Child`] with the error's stage.
    pub fn setup(mut self, f: impl FnOnce() -> Result<(), ChildError> + 'static) -> Self {
        self.setup = Some(Box::new(f));
        self
    }

    /// Child-side steps run last, after the user change and chdir, right before exec (capabilities,
    /// no_new_privs, seccomp). To keep capabilities across a change from uid 0, set `PR_SET_KEEPCAPS` in
    /// [`setup`](Command::setup).
    pub fn pre_exec(mut self, f: impl FnOnce() -> Result<(), ChildError> + 'static) -> Self {
        self.pre_exec = Some(Box::new(f));
        self
    }

    /// Lets the program inherit only stdio and the `extra` descriptors 3..3+`extra` (OCI's `preserve-fds`): right
    /// after release, before any setup step resolves a path, the child *closes* every other descriptor except
    /// its sync socket, the [`exec_gate`](Command::exec_gate) and those named with
    /// [`keep_fd`](Command::keep_fd); right before exec it marks the rest close-on-exec. Without this call,
    /// nothing is closed and descriptors that are not close-on-exec are inherited as with `fork`/`exec`.
    pub fn preserve_fds(mut self, extra: u32) -> Self {
        self.preserve_fds = Some(extra);
        self
    }

    /// A descriptor that a child-side step ([`setup`](Command::setup), [`pre_exec`](Command::pre_exec),
    /// [`after_gate`](Command::after_gate)) uses or whose owner it drops: with
    /// [`preserve_fds`](Command::preserve_fds) the child closes every descriptor not kept, so each one a step
    /// captures must be named here (it should be close-on-exec, or the program inherits it).
    pub fn keep_fd(mut self, fd: RawFd) -> Self {
        self.keep_fds.push(fd);
        self
    }

    /// Whether [`Child::wait`] forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the process (default: yes). When
    /// on, `spawn` blocks those signals and SIGCHLD in the calling thread until the [`Child`] is waited for or
    /// dropped.
    pub fn forward_signals(mut self, yes: bool) -> Self {
        self.forward_signals = yes;
        self
    }

    /// Whether to try `clone3` (default: yes). With `false`, or when clone3 fails with ENOSYS (Linux < 5.3, or a
    /// seccomp profile that hides it), the child is created with `clone(2)` and creates its namespaces itself
    /// (the staged path); [`into_cgroup`](Command::into_cgroup) then fails with
    /// [`SpawnError::CloneIntoCgroupUnsupported`].
    pub fn use_clone3(mut self, yes: bool) -> Self {
        self.use_clone3 = yes;
        self
    }

    /// Holds the process right before exec until a byte can be read from `gate` (OCI `create` then `start`):
    /// after every other step the process checks that the program exists (so a missing program still fails
    /// `spawn`), tells the parent it is waiting, stops depending on the parent (no parent-death signal, see
    /// [`outlive_parent`](Command::outlive_parent)) and blocks reading one byte from `gate`. A byte lets it exec;
    /// end of file or an error makes it exit with status 1. [`spawn`](Command::spawn) then returns as soon as the
    /// process waits, and the caller may exit. An exec failure after the gate can only show in the exit status
    /// (127).
    ///
    /// `gate` should be close-on-exec; the caller keeps a writer open somewhere (e.g. the process itself holds
    /// the write end of a FIFO as well) so that the read blocks rather than seeing end of file.
    pub fn exec_gate(mut self, gate: OwnedFd) -> Self {
        self.gate = Some(gate);
        self
    }

    /// A child-side step run after the [`exec_gate`](Command::exec_gate) opened, right before exec (OCI
    /// `startContainer` hooks). It runs with the process's final credentials, capabilities and seccomp filter;
    /// its failure ends the process with status 1 (nobody is left to receive the error).
    pub fn after_gate(mut self, f: impl FnOnce() -> Result<(), ChildError> + 'static) -> Self {
        self.after_gate = Some(Box::new(f));
        self
    }

    /// Whether the program keeps running when the runtime exits (default: no). By default the process carries
    /// a parent-death signal (SIGKILL) up to and across exec, so a foreground container dies with its runtime;
    /// with `true` it is cleared right before exec (`run --detach`, `exec --detach`).
    pub fn outlive_parent(mut self, yes: bool) -> Self {
        self.outlive_parent = yes;
        self
    }

    /// Starts the process and returns once it has exec'd the program (or failed to), or, with an
    /// [`exec_gate`](Command::exec_gate), once it waits at the gate.
    pub fn spawn(self) -> Result<Child, SpawnError> {
        self.spawn_with(|_| Ok(()))
    }

    /// Like [`spawn`](Command::spawn), with `parent_hook` run in the parent after the clone and the id maps,
    /// before the child is released (e.g. attach the pid to a cgroup v1, set up network devices). If the hook
    /// fails, the child is killed and reaped and [`SpawnError::ParentHook`] is returned.
    pub fn spawn_with(
        self,
        parent_hook: impl FnOnce(Pid) -> Result<(), HookError>,
    ) -> Result<Child, SpawnError> {
        let (plan, context) = self.prepare()?;
        child::install_panic_reporter();
        launch(plan, context, parent_hook)
    }

    /// Checks the command and builds everything the child needs, so the child only makes system calls.
    fn prepare(self) -> Result<(ParentPlan, ChildContextParts), SpawnError> {
        let joins = self.open_joins()?;
        let time_offsets = match self.time_offsets {
            Some(_) if !self.new_namespaces.contains(Namespace::Time) => {
                return Err(SpawnError::TimeOffsetsWithoutTimeNamespace)
            }
            other => other,
        };
        let staged = !joins.is_empty() || time_offsets.is_some();
        // A new or joined PID namespace, and a time namespace with offsets, take effect for children only
        // (kernels before 6.x do not move an exec'ing process into its time_for_children namespace).
        let fork = self.new_namespaces.contains(Namespace::Pid)
            || joins.iter().any(|j| j.kind() == Namespace::Pid)
            || time_offsets.is_some();
        let exec = exec_plan(self.args, self.env)?;
        let cwd = self
            .cwd
            .map(|dir| {
                cstring(dir.as_os_str().as_bytes(), || {
                    "working directory".to_owned()
                })
            })
            .transpose()?;
        let user = self.user.map(|(uid, gid, groups)| User {
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
            groups: groups.into_iter().map(Gid::from_raw).collect(),
        });
        let maps_root = |maps: &Option<Vec<IdMap>>| {
            maps.as_ref()
                .is_none_or(|m| m.iter().any(|r| r.inside == 0))
        };
        let become_userns_root = self.new_namespaces.contains(Namespace::User)
            && maps_root(&self.uid_map)
            && maps_root(&self.gid_map);
        let plan = ParentPlan {
            new_namespaces: self.new_namespaces,
            staged,
            pid_ns: fork,
            use_clone3: self.use_clone3,
            uid_map: self.uid_map,
            gid_map: self.gid_map,
            id_map_helpers: self.id_map_helpers,
            time_offsets,
            cgroup: self.cgroup,
            forward_signals: self.forward_signals,
            gated: self.gate.is_some(),
        };
        let release = Release {
            become_userns_root,
            setup: self.setup,
            user,
            cwd,
            pre_exec: self.pre_exec,
            preserve_fds: self.preserve_fds,
            keep_fds: self.keep_fds,
            sigmask: None,
            exec,
            outlive_parent: self.outlive_parent || self.gate.is_some(),
            gate: self.gate,
            after_gate: self.after_gate,
        };
        Ok((plan, ChildContextParts { joins, release }))
    }

    /// Opens the namespace files to join, user namespace first.
    fn open_joins(&self) -> Result<Vec<NsFile>, SpawnError> {
        let mut joins = self.joins.clone();
        joins.sort_by_key(|(kind, _)| *kind);
        joins
            .into_iter()
            .map(|(kind, path)| {
                if self.new_namespaces.contains(kind) {
                    return Err(SpawnError::JoinAndCreate { kind });
                }
                NsFile::open(kind, path)
                    .map_err(|source| SpawnError::OpenNamespace { kind, source })
            })
            .collect()
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("args", &self.args)
            .field("env", &self.env)
            .field("cwd", &self.cwd)
            .field("user", &self.user)
            .field("new_namespaces", &self.new_namespaces)
            .field("joins", &self.joins)
            .field("uid_map", &self.uid_map)
            .field("gid_map", &self.gid_map)
            .field("id_map_helpers", &self.id_map_helpers)
            .field("time_offsets", &self.time_offsets)
            .field("cgroup", &self.cgroup)
            .field("setup", &self.setup.is_some())
            .field("pre_exec", &self.pre_exec.is_some())
            .field("preserve_fds", &self.preserve_fds)
            .field("keep_fds", &self.keep_fds)
            .field("forward_signals", &self.forward_signals)
            .field("use_clone3", &self.use_clone3)
            .field("gate", &self.gate)
            .field("after_gate", &self.after_gate.is_some())
            .field("outlive_parent", &self.outlive_parent)
            .finish()
    }
}

fn cstring(bytes: &[u8], what: impl FnOnce() -> String) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|source| SpawnError::NulByte {
        what: what(),
        source,
    })
}

/// argv, envp and the exec candidates, as C strings.
fn exec_plan(
    args: Vec<String>,
    env: Option<Vec<(String, String)>>,
) -> Result<ExecPlan, SpawnError> {
    let program = args.first().ok_or(SpawnError::NoProgram)?.clone();
    let env: Vec<(Vec<u8>, Vec<u8>)> = match env {
        Some(env) => env
            .into_iter()
            .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
            .collect(),
        None => std::env::vars_os()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
    };
    let path_var = env
        .iter()
        .rev()
        .find(|(k, _)| k == b"PATH")
        .map(|(_, v)| String::from_utf8_lossy(v));
    let candidates = path::candidates(&program, path_var.as_deref())
        .into_iter()
        .map(|c| cstring(c.as_bytes(), || "program path".to_owned()))
        .collect::<Result<_, _>>()?;
    let argv = args
        .iter()
        .enumerate()
        .map(|(i, a)| cstring(a.as_bytes(), move || format!("argument {i}")))
        .collect::<Result<_, _>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            let mut entry = k.clone();
            entry.push(b'=');
            entry.extend_from_slice(v);
            cstring(&entry, || {
                format!("environment variable {}", String::from_utf8_lossy(k))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ExecPlan {
        candidates,
        argv: CStringArray::new(argv),
        envp: CStringArray::new(envp),
    })
}

/// What the parent needs after the clone.
struct ParentPlan {
    new_namespaces: NamespaceSet,
    /// Joins or time offsets: the child creates its namespaces itself.
    staged: bool,
    /// A PID namespace is new or joined, or a time namespace has offsets: a staged child forks the final
    /// process.
    pid_ns: bool,
    use_clone3: bool,
    uid_map: Option<Vec<IdMap>>,
    gid_map: Option<Vec<IdMap>>,
    id_map_helpers: bool,
    time_offsets: Option<(TimeOffset, TimeOffset)>,
    cgroup: Option<OwnedFd>,
    forward_signals: bool,
    /// The child stops at an exec gate: `spawn` returns when it waits there.
    gated: bool,
}

/// The child's context before the socket and signal mask exist.
struct ChildContextParts {
    joins: Vec<NsFile>,
    release: Release,
}

/// Kills and reaps the process unless disarmed: no error path leaves a child behind.
struct ProcessGuard {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    armed: bool,
}

impl ProcessGuard {
    fn disarm(mut self) -> (Pid, Option<OwnedFd>) {
        self.armed = false;
        (self.pid, self.pidfd.take())
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// The start protocol, parent side.
fn launch(
    plan: ParentPlan,
    parts: ChildContextParts,
    parent_hook: impl FnOnce(Pid) -> Result<(), HookError>,
) -> Result<Child, SpawnError> {
    let (parent_sock, child_sock) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|source| SpawnError::Socketpair { source })?;
    let signals = plan
        .forward_signals
        .then(SignalBlock::block)
        .transpose()
        .map_err(|source| SpawnError::BlockSignals { source })?;
    let mut release = parts.release;
    release.sigmask = signals.as_ref().map(SignalBlock::original);
    let context = ChildContext {
        sock: child_sock,
        parent_end: parent_sock.as_raw_fd(),
        joins: parts.joins,
        staged: None,
        release,
    };
    let (mut guard, mode) = clone_child(&plan, context)?;
    let channel = Channel { sock: parent_sock };
    if mode.staged {
        channel.expect(guard.pid, "ready", |m| {
            matches!(m, ToParent::Ready).then_some(())
        })?;
    }
    write_id_maps(&plan, guard.pid)?;
    if let Some((monotonic, boottime)) = plan.time_offsets {
        cove_ns::write_time_offsets(guard.pid, monotonic, boottime).map_err(|source| {
            SpawnError::TimeOffsets {
                pid: guard.pid,
                source,
            }
        })?;
    }
    if mode.fork {
        guard = follow_fork(&channel, guard)?;
    }
    parent_hook(guard.pid).map_err(|source| SpawnError::ParentHook {
        pid: guard.pid,
        source,
    })?;
    channel.go(guard.pid)?;
    if plan.gated {
        channel.expect(guard.pid, "waiting", |m| {
            matches!(m, ToParent::Waiting).then_some(())
        })?;
    } else {
        channel.expect_exec(guard.pid)?;
    }
    let (pid, pidfd) = guard.disarm();
    Ok(Child::new(pid, pidfd, signals))
}

/// How the child was started.
#[derive(Clone, Copy)]
struct Mode {
    /// The child joins, unshares and reports ready.
    staged: bool,
    /// The child forks the final process after release.
    fork: bool,
}

/// Clones the child: directly into its new namespaces with clone3, or staged (the child joins, then unshares).
/// Falls back to clone(2) and the staged path when clone3 is missing (ENOSYS, also what container seccomp
/// profiles return for it) or not to be used.
fn clone_child(
    plan: &ParentPlan,
    context: ChildContext,
) -> Result<(ProcessGuard, Mode), SpawnError> {
    let cgroup = plan.cgroup.as_ref().map(|fd| fd.as_fd().as_raw_fd());
    let mut slot = Some(context);
    let mut mode = Mode {
        staged: plan.staged,
        fork: plan.staged && plan.pid_ns,
    };
    let flags = if plan.staged {
        0
    } else {
        plan.new_namespaces.clone_flags()
    };
    let first = if plan.use_clone3 {
        set_staged(&mut slot, plan, mode, true);
        sys::clone3(flags | sys::CLONE_PIDFD, cgroup, || {
            child::main(take(&mut slot))
        })
    } else {
        Err(Errno::ENOSYS)
    };
    let cloned = match first {
        Err(Errno::ENOSYS) if cgroup.is_some() => {
            return Err(SpawnError::CloneIntoCgroupUnsupported {
                source: Errno::ENOSYS,
            })
        }
        Err(Errno::ENOSYS) => {
            mode = Mode {
                staged: true,
                fork: plan.pid_ns,
            };
            set_staged(&mut slot, plan, mode, false);
            sys::clone(0, || child::main(take(&mut slot)))
                .map_err(|source| SpawnError::Clone { flags: 0, source })?
        }
        Err(source) => return Err(SpawnError::Clone { flags, source }),
        Ok(cloned) => cloned,
    };
    // Dropping the context closes the parent's copies of the child's socket end and namespace files.
    drop(slot);
    // clone(2) gives no pidfd: open one (Linux >= 5.3). Without it the wait relies on SIGCHLD, which another
    // thread of a multithreaded caller may take and discard.
    let pidfd = cloned.pidfd.or_else(|| sys::pidfd_open(cloned.pid).ok());
    Ok((
        ProcessGuard {
            pid: cloned.pid,
            pidfd,
            armed: true,
        },
        mode,
    ))
}

/// Tells the child's context whether (and how) it is staged.
fn set_staged(slot: &mut Option<ChildContext>, plan: &ParentPlan, mode: Mode, clone3: bool) {
    if let Some(ctx) = slot.as_mut() {
        ctx.staged = mode.staged.then_some(Staged {
            unshare: plan.new_namespaces,
            fork: mode.fork,
            clone3,
        });
    }
}

/// Takes the child's context: called once, in the child.
fn take(slot: &mut Option<ChildContext>) -> ChildContext {
    match slot.take() {
        Some(context) => context,
        None => sys::exit_now(127),
    }
}

/// Writes the uid/gid maps of a new user namespace (defaults: the caller's euid/egid as 0).
fn write_id_maps(plan: &ParentPlan, pid: Pid) -> Result<(), SpawnError> {
    if !plan.new_namespaces.contains(Namespace::User) {
        return Ok(());
    }
    let euid = Uid::effective();
    let uid_map = plan
        .uid_map
        .clone()
        .unwrap_or_else(|| vec![IdMap::single(0, euid.as_raw())]);
    let gid_map = plan
        .gid_map
        .clone()
        .unwrap_or_else(|| vec![IdMap::single(0, Gid::effective().as_raw())]);
    let map_err = |source| SpawnError::IdMap { pid, source };
    if plan.id_map_helpers {
        return cove_ns::write_id_maps_with_helpers(pid, &uid_map, &gid_map).map_err(map_err);
    }
    cove_ns::write_uid_map(pid, &uid_map).map_err(map_err)?;
    if !euid.is_root() {
        cove_ns::deny_setgroups(pid).map_err(map_err)?;
    }
    cove_ns::write_gid_map(pid, &gid_map).map_err(map_err)
}

/// Releases the intermediate process, learns the pid of the final one, reaps the intermediate and guards the
/// final process instead.
fn follow_fork(channel: &Channel, intermediate: ProcessGuard) -> Result<ProcessGuard, SpawnError> {
    channel.go(intermediate.pid)?;
    let pid = channel.expect(intermediate.pid, "forked", |m| match m {
        ToParent::Forked(pid) => Some(Pid::from_raw(*pid)),
        _ => None,
    })?;
    let mut guard = ProcessGuard {
        pid,
        pidfd: None,
        armed: true,
    };
    let (intermediate, _) = intermediate.disarm();
    let _ = waitpid(intermediate, None);
    // Without a pidfd (Linux < 5.3) the wait relies on SIGCHLD.
    guard.pidfd = sys::pidfd_open(pid).ok();
    Ok(guard)
}

/// The parent's end of the sync channel.
struct Channel {
    sock: OwnedFd,
}

impl Channel {
    /// Receives one message; `None` at end of file.
    fn receive(&self, pid: Pid, expected: &'static str) -> Result<Option<ToParent>, SpawnError> {
        let mut buf = [0u8; MAX_MESSAGE];
        let n = loop {
            match nix::unistd::read(&self.sock, &mut buf) {
                Err(Errno::EINTR) => continue,
                other => {
                    break other.map_err(|source| SpawnError::Sync {
                        pid,
                        step: "receive",
                        source,
                    })?
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        ToParent::decode(&buf[..n])
            .map(Some)
            .map_err(|source| SpawnError::BadMessage {
                pid,
                expected,
                source,
            })
    }

    /// Receives the message `pick` accepts; an error record becomes [`SpawnError::Child`].
    fn expect<T>(
        &self,
        pid: Pid,
        expected: &'static str,
        pick: impl FnOnce(&ToParent) -> Option<T>,
    ) -> Result<T, SpawnError> {
        match self.receive(pid, expected)? {
            None => Err(SpawnError::ChildVanished { pid, expected }),
            Some(ToParent::Failed(err)) => Err(SpawnError::Child(err)),
            Some(msg) => pick(&msg).ok_or_else(|| SpawnError::BadMessage {
                pid,
                expected,
                source: WireError::Unexpected(msg.name()),
            }),
        }
    }

    /// Waits for the exec: end of file (the close-on-exec socket closed) or an error record.
    fn expect_exec(&self, pid: Pid) -> Result<(), SpawnError> {
        match self.receive(pid, "exec")? {
            None => Ok(()),
            Some(ToParent::Failed(err)) => Err(SpawnError::Child(err)),
            Some(msg) => Err(SpawnError::BadMessage {
                pid,
                expected: "exec",
                source: WireError::Unexpected(msg.name()),
            }),
        }
    }

    /// Sends go. If the child is already gone, its error record (if any) is the better error.
    fn go(&self, pid: Pid) -> Result<(), SpawnError> {
        match nix::sys::socket::send(self.sock.as_raw_fd(), GO, MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => Ok(()),
            Err(source) => match self.receive(pid, "go") {
                Ok(Some(ToParent::Failed(err))) => Err(SpawnError::Child(err)),
                _ => Err(SpawnError::Sync {
                    pid,
                    step: "send go",
                    source,
                }),
            },
        }
    }
}
