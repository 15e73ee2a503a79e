//! Runs a validated [`Plan`]: state dir, cgroup, clone, child set-up, wait, clean-up.

use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cove_cgroup::{SelfAttach, Stats};
use cove_ns::{IdMap, Namespace, NamespaceSet};
use cove_rootfs::{DetachedMounts, MountPlan, RootSource};
use cove_spawn::{Child, ChildError, Command, ExitStatus, HookError, Pid, SpawnError};

use crate::cgroups::{ContainerCgroup, Entry};
use crate::child::ChildSecurity;
use crate::console::{self, ConsoleSocket};
use crate::idmap_mounts::idmap_through_child;
use crate::plan::{Plan, RootChoice};
use crate::run_state::{RunState, SavedConfig};
use crate::state::StateRoot;
use crate::statedir::{self, default_root};
use crate::terminal::Relay;
use crate::ContainerError;

/// How `cove run` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replace the manifest's args after the program (`cove run FILE -- ARGS…`).
    pub args: Vec<String>,
    /// Read the container's resource use when it exits (see [`run_reporting`]).
    pub stats: bool,
    /// Give the container a pty of its own and relay the caller's terminal to it (`--tty`; also
    /// `process.terminal` in the manifest).
    pub tty: bool,
    /// The state root the container is recorded in (`--root`; `None`: the caller's default root).
    pub state_root: Option<PathBuf>,
    /// The front end's config, saved with the container's state for later commands (`exec`).
    pub config: Option<SavedConfig>,
}

/// A child-side step handed to the container process.
pub use crate::child::Step as ChildStep;

/// How to start a container, beyond its plan: what differs between `cove run` and the OCI commands.
#[derive(Default)]
pub struct StartOptions {
    /// Replace the plan's args after the program.
    pub args: Vec<String>,
    /// Hold the process before exec until a byte arrives here (OCI `create`, released by `start`).
    pub gate: Option<OwnedFd>,
    /// Give the process a new pty (`process.terminal`) and send its master over this socket.
    pub console: Option<ConsoleSocket>,
    /// File descriptors 3..3+N the program inherits (`--preserve-fds`).
    pub preserve_fds: u32,
    /// Forward SIGINT, SIGTERM, SIGHUP and SIGQUIT while waiting (a foreground run).
    pub forward_signals: bool,
    /// Keep the program running when the runtime exits (detached runs; implied by `gate`).
    pub outlive_parent: bool,
    /// Statistics will be read: a rootless container without a cgroup is then an error.
    pub want_stats: bool,
    /// Run in the container process once the gate opened, right before exec (OCI `startContainer` hooks).
    pub after_gate: Option<ChildStep>,
    /// Run in the container process once its mounts are in place, before pivot_root (OCI `createContainer`
    /// hooks: the container's namespaces, the host's paths).
    pub before_pivot: Option<ChildStep>,
    /// Descriptors of the caller that the container process must keep open until exec (the exec FIFO's write
    /// end); every other descriptor of the runtime is closed in it before its set-up.
    pub keep_fds: Vec<RawFd>,
}

/// A started container process and its cgroup.
#[derive(Debug)]
pub struct Started {
    /// The container's init process (exec'd, or waiting at the gate).
    pub child: Child,
    /// Its cgroup (none rootless); removed when dropped, see [`ContainerCgroup::keep`].
    pub cgroup: Option<ContainerCgroup>,
}

/// Runs the container in the foreground and returns its exit code (128+N when killed by signal N).
pub fn run(plan: &Plan, options: &RunOptions) -> Result<i32> {
    run_reporting(plan, options, |_, _, _| {})
}

/// [`run`], handing the container's resource use (its cgroup's statistics, the wall time since the call, and
/// the exit status) to `report` when `options.stats` is set, just before the cgroup is removed.
pub fn run_reporting(
    plan: &Plan,
    options: &RunOptions,
    report: impl FnOnce(&Stats, Duration, ExitStatus),
) -> Result<i32> {
    let started = Instant::now();
    let euid = nix::unistd::geteuid().as_raw();
    let state_root = options
        .state_root
        .clone()
        .unwrap_or_else(|| default_root(euid));
    let mut state = RunState::create(&StateRoot::new(state_root), &plan.id)?;
    let root = root_source(plan, state.dir())?;
    let (console, console_receiver) = match options.tty || plan.process.terminal {
        true => {
            let (socket, receiver) = ConsoleSocket::pair().context("allocating a terminal")?;
            (Some(socket), Some(receiver))
        }
        false => (None, None),
    };
    let start_options = StartOptions {
        args: options.args.clone(),
        forward_signals: true,
        want_stats: options.stats,
        console,
        ..StartOptions::default()
    };
    let container = start(plan, root, start_options, |_| Ok(()))?;
    let cgroup_path = container.cgroup.as_ref().map(|cg| cg.path().to_owned());
    let pid = container.child.pid().as_raw();
    if let Err(e) = state.record(plan, pid, cgroup_path, options.config.as_ref()) {
        let _ = container.child.signal(nix::sys::signal::Signal::SIGKILL);
        return Err(e);
    }
    let relay = console_receiver
        .map(|receiver| -> Result<Relay> {
            let master = console::receive_master(&receiver).context("the container's terminal")?;
            Relay::start(master)
        })
        .transpose()?;
    let status = container.child.wait();
    if let Some(relay) = relay {
        relay.finish();
    }
    let status = status.context("waiting for the container")?;
    if let Some(cg) = container.cgroup {
        if options.stats {
            report(&cg.stats()?, started.elapsed(), status);
        }
        cg.remove()?;
    }
    drop(state);
    Ok(status.code())
}

/// Creates the cgroup and starts the container's process in it, in its namespaces and root, with
/// `parent_hook` run after the clone and before the process is released (OCI prestart/createRuntime hooks).
/// On any failure nothing is left: the process is killed and the cgroup removed.
pub fn start(
    plan: &Plan,
    root: RootSource,
    options: StartOptions,
    parent_hook: impl FnOnce(Pid) -> Result<(), HookError>,
) -> Result<Started> {
    // A seccomp listener socket is connected now, while the host path is reachable; the child sends the
    // listener fd over it right after loading the filter.
    let connected;
    let plan = match plan.security.seccomp.listener_path {
        Some(_) => {
            let mut with_listener = plan.clone();
            let id = with_listener.id.clone();
            with_listener
                .security
                .seccomp
                .connect_listener(&id)
                .context("connecting to security.seccomp_listener")?;
            connected = with_listener;
            &connected
        }
        None => plan,
    };
    let mount_plan =
        MountPlan::build(&plan.rootfs_spec(root)).context("building the mount plan")?;
    let detached =
        Arc::new(DetachedMounts::open(&mount_plan).context("preparing the idmapped mounts")?);
    let cgroup = ContainerCgroup::create(plan, options.want_stats)?;

    let mut entry = cgroup
        .as_ref()
        .map(|cg| cg.entry(plan.in_user_ns()))
        .transpose()?;
    let defer_cgroup_ns = entry.as_ref().is_some_and(Entry::moves_after_clone);
    let self_attach = entry.as_mut().and_then(|e| e.self_attach.take());
    let mut command = command(
        plan,
        options,
        (mount_plan, Arc::clone(&detached)),
        self_attach,
        defer_cgroup_ns,
    );
    if let Some(fd) = entry.as_mut().and_then(|e| e.clone_into.take()) {
        command = command.into_cgroup(fd);
    }
    let attach_by_pid = match (&cgroup, &entry) {
        (Some(cg), Some(e)) if e.attach_by_pid => Some(cg),
        _ => None,
    };
    let child = command
        .spawn_with(|pid| {
            if let Some(cg) = attach_by_pid {
                cg.add_pid(pid.as_raw())?;
            }
            idmap_through_child(&detached, pid)?;
            parent_hook(pid)
        })
        .map_err(spawn_error)?;
    Ok(Started { child, cgroup })
}

/// Where the root comes from, creating the tmpfs mount point for a host-backed root.
pub fn root_source(plan: &Plan, state_dir: &Path) -> Result<RootSource> {
    Ok(match &plan.root.choice {
        RootChoice::Dir(dir) => RootSource::Dir(dir.clone()),
        RootChoice::Host(dirs) => RootSource::HostTmpfs {
            staging: statedir::subdir(state_dir, "rootfs")?,
            host_dirs: dirs.clone(),
        },
    })
}

/// The spawn command with the child-side steps: entering the cgroup, hostname, the root file system, then the
/// child's security sequence ([`ChildSecurity`]) around them.
///
/// When the process changes cgroups after the clone (`defer_cgroup_ns`), a new cgroup namespace created by the
/// clone would be rooted in the runtime's cgroup; it is then created in the child after the move instead, so
/// the container sees its own cgroup as `/`.
fn command(
    plan: &Plan,
    mut options: StartOptions,
    (mount_plan, detached): (MountPlan, Arc<DetachedMounts>),
    self_attach: Option<SelfAttach>,
    defer_cgroup_ns: bool,
) -> Command {
    let sequence = ChildSecurity::new(plan.security.clone(), &plan.process, options.console.take());
    let mut namespaces: NamespaceSet = plan.namespaces.new.iter().copied().collect();
    let defer_cgroup_ns = defer_cgroup_ns && namespaces.remove(Namespace::Cgroup);
    let mut command = process_command(plan, &options).new_namespaces(namespaces);
    let mut fds = options.keep_fds.clone();
    fds.extend(detached.raw_fds());
    fds.extend(self_attach.iter().flat_map(SelfAttach::raw_fds));
    fds.extend(sequence.raw_fds());
    for fd in fds {
        command = command.keep_fd(fd);
    }
    if let Some(gate) = options.gate {
        command = command.exec_gate(gate);
    }
    if let Some(step) = options.after_gate {
        command = command.after_gate(step);
    }
    for (kind, path) in &plan.namespaces.join {
        command = command.join_namespace(*kind, path.clone());
    }
    command = with_id_maps(command, plan);
    if let Some((monotonic, boottime)) = plan.namespaces.time_offsets {
        command = command.time_offsets(monotonic, boottime);
    }
    let before_pivot = options.before_pivot;
    let in_namespaces = namespace_steps(plan, self_attach, defer_cgroup_ns, move || {
        mount_plan.apply_with_hook(
            &detached,
            || before_pivot.map_or(Ok(()), |step| step()),
            |e| ChildError::new(e.stage(), e.errno(), e.to_string()),
        )
    });
    sequence.install(command, Some(in_namespaces))
}

/// The container's process: its args (`options.args` replacing those after the program), environment, cwd,
/// user, inherited descriptors and how it relates to the runtime.
fn process_command(plan: &Plan, options: &StartOptions) -> Command {
    let p = &plan.process;
    let mut args = p.args.clone();
    if !options.args.is_empty() {
        args.truncate(1);
        args.extend(options.args.iter().cloned());
    }
    Command::new(args)
        .env(p.env.clone())
        .cwd(p.cwd.clone())
        .user(p.uid, p.gid, p.additional_gids.clone())
        .preserve_fds(options.preserve_fds)
        .forward_signals(options.forward_signals)
        .outlive_parent(options.outlive_parent)
}

/// The uid and gid maps of a new user namespace (a rootless one maps the caller to 0).
fn with_id_maps(command: Command, plan: &Plan) -> Command {
    let ns = &plan.namespaces;
    if !ns.uid_map.is_empty() {
        return command
            .uid_map(ns.uid_map.clone())
            .gid_map(ns.gid_map.clone())
            .id_map_helpers(ns.id_map_helpers);
    }
    if !(plan.rootless && ns.is_new(Namespace::User)) {
        return command;
    }
    let one = |outside| {
        vec![IdMap {
            inside: 0,
            outside,
            count: 1,
        }]
    };
    command
        .uid_map(one(nix::unistd::geteuid().as_raw()))
        .gid_map(one(nix::unistd::getegid().as_raw()))
}

/// The start path's own child-side steps, in the container's new namespaces: entering the cgroup, a deferred
/// cgroup namespace, hostname, loopback, domain name, then `root` (the mounts and `pivot_root`).
fn namespace_steps(
    plan: &Plan,
    self_attach: Option<SelfAttach>,
    defer_cgroup_ns: bool,
    root: impl FnOnce() -> Result<(), ChildError> + 'static,
) -> ChildStep {
    let hostname = plan.hostname.clone();
    let domainname = plan.domainname.clone();
    let new_net_ns = plan.namespaces.is_new(Namespace::Net);
    Box::new(move || {
        if let Some(attach) = &self_attach {
            attach
                .attach_calling_thread()
                .map_err(|e| ChildError::from_error("enter cgroup", &e))?;
        }
        if defer_cgroup_ns {
            cove_ns::unshare(NamespaceSet::new().with(Namespace::Cgroup))
                .map_err(|e| ChildError::from_error("unshare cgroup namespace", &e))?;
        }
        if let Some(name) = &hostname {
            cove_ns::set_hostname(name).map_err(|e| ChildError::from_error("hostname", &e))?;
        }
        if new_net_ns {
            cove_ns::set_loopback_up().map_err(|e| ChildError::from_error("loopback", &e))?;
        }
        if let Some(name) = &domainname {
            cove_ns::set_domainname(name).map_err(|e| ChildError::from_error("domainname", &e))?;
        }
        root()
    })
}

/// Turns a spawn failure into an error whose message says where the container failed.
fn spawn_error(err: SpawnError) -> anyhow::Error {
    anyhow::Error::new(ContainerError::Spawn(err))
}

/// The exit code `cove` uses for its own failures, as Docker and podman do.
pub const RUNTIME_FAILURE: i32 = 125;

/// The exit code for a child that could not exec its program: 127 when missing, 126 otherwise.
pub fn exec_failure_code(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<ContainerError>()
        .map_or(RUNTIME_FAILURE, ContainerError::exit_code)
}
