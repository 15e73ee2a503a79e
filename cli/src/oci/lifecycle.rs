//! The OCI lifecycle: `create` sets a container up and leaves its process waiting at the exec FIFO, `start`
//! releases it, `state`/`kill`/`delete`/`pause`/`resume` act on it later, each as a separate short-lived
//! `cove` process (no daemon watches a container).

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use cove_cgroup::{Cgroup, Layout, Signal};
use cove_container::hooks::Hooks;
use cove_rootfs::RootSource;
use cove_spawn::ProcessHandle;
use nix::errno::Errno;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use serde::Serialize;

use cove_container::cgroups::host_layout;
use cove_container::console::ConsoleSocket;
use cove_container::hooks::{run_all_hooks, run_hooks, HookKind};
use cove_container::plan::RootChoice;
use cove_container::run::{self, StartOptions, Started};
use cove_container::state::{
    process_state, rfc3339, stat_of, write_atomic, Container, ProcessState, Saved, StateRoot,
    Status,
};
use cove_oci::config::{load_bundle, lower_hooks, Bundle};

/// How long `delete --force` and `kill` wait for a killed init process to go.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// `create` (and `run`) options, as runc spells them.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Write the init's host pid here.
    pub pid_file: Option<PathBuf>,
    /// Send the pty master here (`process.terminal`).
    pub console_socket: Option<PathBuf>,
    /// Pass file descriptors 3..3+N to the process.
    pub preserve_fds: u32,
}

/// The OCI state, as `cove state` prints it (runc's fields and order).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateReport {
    /// The config's `ociVersion`.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init's host pid (0 once stopped).
    pub pid: i32,
    /// `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute root file system path.
    pub rootfs: PathBuf,
    /// Creation time (RFC 3339).
    pub created: String,
    /// The config's annotations.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Owner (empty as root).
    pub owner: String,
}

/// The current status of a saved container.
pub fn status(saved: &Saved) -> Status {
    if process_state(saved.pid, saved.pid_start) == ProcessState::Gone {
        return Status::Stopped;
    }
    if !saved.started {
        return Status::Created;
    }
    match saved.cgroup_path.as_deref().map(is_frozen) {
        Some(true) => Status::Paused,
        _ => Status::Running,
    }
}

/// The state report of a container.
pub fn report(saved: &Saved) -> StateReport {
    let status = status(saved);
    StateReport {
        oci_version: saved.oci_version.clone(),
        id: saved.id.clone(),
        pid: if status == Status::Stopped {
            0
        } else {
            saved.pid
        },
        status: status.as_str().to_owned(),
        bundle: saved.bundle.clone(),
        rootfs: saved.rootfs.clone(),
        created: saved.created.clone(),
        annotations: saved.annotations.clone(),
        owner: saved.owner.clone(),
    }
}

/// The state JSON hooks get on stdin: the OCI state with `status` as given.
fn hook_state(saved: &Saved, status: &str, pid: i32) -> Vec<u8> {
    let mut state = report(saved);
    state.status = status.to_owned();
    state.pid = pid;
    serde_json::to_vec(&state).unwrap_or_default()
}

/// `cove create`: sets the container up and leaves its process waiting for `start`.
pub fn create(root: &StateRoot, id: &str, options: &CreateOptions) -> Result<()> {
    let mut created = create_container(root, id, options, false)?;
    // The process waits at the gate and outlives us (re-parented to the caller's subreaper or init), and so
    // does its cgroup.
    if let Some(cgroup) = created.started.cgroup.take() {
        cgroup.keep();
    }
    Ok(())
}

/// A created container, still locked by this command.
struct Created {
    container: Container,
    started: Started,
    saved: Saved,
    hooks: Hooks,
}

/// `foreground`: this command waits for the container (`run` without `--detach`) and forwards SIGINT, SIGTERM,
/// SIGHUP and SIGQUIT to it meanwhile.
fn create_container(
    root: &StateRoot,
    id: &str,
    options: &CreateOptions,
    foreground: bool,
) -> Result<Created> {
    let euid = nix::unistd::geteuid().as_raw();
    let bundle = load_bundle(&options.bundle, id, euid)?;
    let container = root.create(id)?;
    match set_up(&container, &bundle, options, foreground) {
        Ok((started, saved)) => Ok(Created {
            container,
            started,
            saved,
            hooks: lower_hooks(bundle.hooks.as_ref()),
        }),
        Err(e) => {
            let _ = container.remove();
            Err(e)
        }
    }
}

/// Everything `create` does once the state dir exists; on error the process and cgroup are gone again.
fn set_up(
    container: &Container,
    bundle: &Bundle,
    options: &CreateOptions,
    foreground: bool,
) -> Result<(Started, Saved)> {
    let plan = &bundle.plan;
    let console = console_socket(plan.process.terminal, options.console_socket.as_deref())?;
    let (gate, writer) = exec_fifo(&container.fifo())?;
    let RootChoice::Dir(rootfs) = &plan.root.choice else {
        bail!("a bundle's root is a directory");
    };
    let mut saved = Saved {
        oci_version: bundle.oci_version.clone(),
        id: container.id().to_owned(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.dir.clone(),
        rootfs: rootfs.clone(),
        created: rfc3339(SystemTime::now()),
        owner: String::new(),
        annotations: bundle.annotations.clone(),
        cgroup_path: None,
        started: false,
        config_format: None,
    };
    container.save_config(&bundle.spec)?;
    let hooks = lower_hooks(bundle.hooks.as_ref());
    let start_hooks = HookKind::StartContainer.select(&hooks).to_vec();
    let after_gate: Option<run::ChildStep> = (!start_hooks.is_empty()).then(|| {
        let start_state = hook_state(&saved, "created", 0);
        Box::new(move || {
            run_hooks(HookKind::StartContainer, &start_hooks, &start_state)
                .map_err(|e| cove_spawn::ChildError::from_error("startContainer hook", &e))
        }) as run::ChildStep
    });
    let create_hooks = HookKind::CreateContainer.select(&hooks).to_vec();
    let before_pivot: Option<run::ChildStep> = (!create_hooks.is_empty()).then(|| {
        let create_state = saved.clone();
        Box::new(move || {
            // Still the host's /proc at /proc: its `self` is this process's pid on the host.
            let pid = fs::read_link("/proc/self")
                .ok()
                .and_then(|p| p.to_str()?.parse().ok())
                .unwrap_or(0);
            let state = hook_state(&create_state, "creating", pid);
            run_hooks(HookKind::CreateContainer, &create_hooks, &state)
                .map_err(|e| cove_spawn::ChildError::from_error("createContainer hook", &e))
        }) as run::ChildStep
    });
    let start_options = StartOptions {
        gate: Some(gate),
        before_pivot,
        console,
        preserve_fds: options.preserve_fds,
        outlive_parent: true,
        forward_signals: foreground,
        after_gate,
        keep_fds: vec![writer.as_raw_fd()],
        ..StartOptions::default()
    };
    let started = run::start(
        plan,
        RootSource::Dir(rootfs.clone()),
        start_options,
        |pid| {
            for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
                let list = kind.select(&hooks);
                if !list.is_empty() {
                    run_hooks(kind, list, &hook_state(&saved, "creating", pid.as_raw()))?;
                }
            }
            Ok(())
        },
    )
    .with_context(|| format!("creating container `{}`", container.id()))?;
    drop(writer);
    match record(container, &started, &mut saved, options) {
        Ok(()) => Ok((started, saved)),
        Err(e) => {
            let _ = started.child.signal(nix::sys::signal::Signal::SIGKILL);
            // Dropping `started` removes the cgroup (killing what is left in it).
            drop(started);
            Err(e)
        }
    }
}

/// Connects the console socket when the process gets a terminal; refuses a mismatch, as runc does.
fn console_socket(terminal: bool, socket: Option<&Path>) -> Result<Option<ConsoleSocket>> {
    match (terminal, socket) {
        (true, Some(path)) => Ok(Some(
            ConsoleSocket::connect(path).context("connecting to the console socket")?,
        )),
        (true, None) => {
            bail!("process.terminal is true: --console-socket is required to pass the terminal")
        }
        (false, Some(_)) => {
            bail!("--console-socket given but process.terminal is false: there is no terminal to pass")
        }
        (false, None) => Ok(None),
    }
}

/// Creates the exec FIFO and opens both ends: the read end is the process's gate, the write end (which the
/// process inherits too, until exec) keeps the read blocking rather than at end of file.
fn exec_fifo(path: &Path) -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))
        .with_context(|| format!("creating the exec FIFO {}", path.display()))?;
    let reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let writer = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok((reader.into(), writer.into()))
}

/// Saves the state and writes the pid file.
fn record(
    container: &Container,
    started: &Started,
    saved: &mut Saved,
    options: &CreateOptions,
) -> Result<()> {
    let pid = started.child.pid().as_raw();
    let (pid_start, _) = stat_of(pid).context("reading the container process's start time")?;
    saved.pid = pid;
    saved.pid_start = pid_start;
    saved.cgroup_path = started.cgroup.as_ref().map(|c| c.path().to_owned());
    container.save(saved)?;
    if let Some(file) = &options.pid_file {
        let file = absolute(file)?;
        write_atomic(&file, pid.to_string().as_bytes())
            .with_context(|| format!("writing the pid file {}", file.display()))?;
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the working directory")?
        .join(path))
}

/// `cove start`: releases a created container's process.
pub fn start(root: &StateRoot, id: &str) -> Result<()> {
    let container = root.open(id)?;
    let mut saved = container.load()?;
    release(&container, &mut saved)?;
    let hooks = lower_hooks(container.config::<Spec>()?.hooks().as_ref());
    poststart(&saved, &hooks);
    Ok(())
}

/// Opens the gate and records that the container runs.
fn release(container: &Container, saved: &mut Saved) -> Result<()> {
    match status(saved) {
        Status::Created => {}
        Status::Stopped => bail!("cannot start container `{}`: it has stopped", saved.id),
        other => bail!(
            "cannot start container `{}`: it is {}, not created",
            saved.id,
            other.as_str()
        ),
    }
    let fifo = container.fifo();
    let mut gate = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => anyhow::anyhow!(
                "cannot start container `{}`: its process no longer waits",
                saved.id
            ),
            _ => anyhow::Error::new(e).context(format!("opening {}", fifo.display())),
        })?;
    gate.write_all(b"0")
        .with_context(|| format!("writing to {}", fifo.display()))?;
    saved.started = true;
    container.save(saved)?;
    let _ = fs::remove_file(&fifo);
    Ok(())
}

/// Runs the poststart hooks; their failures are warnings (the spec's rule).
fn poststart(saved: &Saved, hooks: &Hooks) {
    let state = hook_state(saved, "running", saved.pid);
    for err in run_all_hooks(
        HookKind::Poststart,
        HookKind::Poststart.select(hooks),
        &state,
    ) {
        eprintln!("cove: warning: {err}");
    }
}

/// `cove state`: the OCI state as pretty JSON.
pub fn state(root: &StateRoot, id: &str) -> Result<String> {
    let container = root.open(id)?;
    let saved = container.load()?;
    serde_json::to_string_pretty(&report(&saved)).context("encoding the state")
}

/// `cove kill`: sends `signal` to the init process, or with `all` to every process of the container.
pub fn kill(root: &StateRoot, id: &str, signal: Signal, all: bool) -> Result<()> {
    let container = root.open(id)?;
    let saved = container.load()?;
    let status = status(&saved);
    if status == Status::Stopped && !all {
        bail!("cannot kill container `{id}`: it is not running");
    }
    if all {
        return open_cgroup(&saved)?
            .signal(signal)
            .with_context(|| format!("sending {signal} to every process of `{id}`"));
    }
    let Some(init) = pin_init(&saved)? else {
        bail!("cannot kill container `{id}`: it is not running");
    };
    init.signal(signal)
        .with_context(|| format!("sending {signal} to the container's process {}", saved.pid))
}

/// A pidfd for the container's init once checked to be the recorded process (start time): signals sent
/// through it cannot reach another process that reuses the pid. `None` when the init has exited.
fn pin_init(saved: &Saved) -> Result<Option<ProcessHandle>> {
    let handle = match ProcessHandle::open(Pid::from_raw(saved.pid)) {
        Ok(handle) => handle,
        Err(Errno::ESRCH) => return Ok(None),
        Err(e) => return Err(e).context("opening a pidfd for the container's process"),
    };
    Ok((process_state(saved.pid, saved.pid_start) == ProcessState::Alive).then_some(handle))
}

/// `cove delete`: removes a stopped (or created) container; `force` kills a running one first. With `force`
/// an unknown id is not an error (engines delete containers whose create failed), and a directory left
/// behind without a recorded container is removed, as runc does.
pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let container = match root.open_if_exists(id)? {
        Some(container) => container,
        None if force => match root.remove_stale(id)? {
            Some(container) => container,
            None => return Ok(()),
        },
        None => bail!("container `{id}` does not exist"),
    };
    if container.held_by_a_run() {
        bail!(
            "container `{id}` is in use by another cove process (a `cove run` waiting for it): kill it \
             instead, the run then deletes it"
        );
    }
    let saved = container.load()?;
    let status = status(&saved);
    match status {
        Status::Running | Status::Paused if !force => bail!(
            "cannot delete container `{id}`: it is {}; stop it first or use --force",
            status.as_str()
        ),
        Status::Stopped => {}
        _ => kill_and_wait(&saved)?,
    }
    let hooks = container
        .config::<Spec>()
        .ok()
        .map(|spec| lower_hooks(spec.hooks().as_ref()))
        .unwrap_or_default();
    remove_cgroup(&saved)?;
    let state = hook_state(&saved, "stopped", 0);
    for err in run_all_hooks(
        HookKind::Poststop,
        HookKind::Poststop.select(&hooks),
        &state,
    ) {
        eprintln!("cove: warning: {err}");
    }
    container.remove()
}

/// Kills every process of the container (the whole cgroup, thawed first) and waits for the init to go.
fn kill_and_wait(saved: &Saved) -> Result<()> {
    match open_cgroup(saved) {
        Ok(cgroup) => {
            let _ = cgroup.thaw();
            cgroup.kill().context("killing the container's processes")?;
        }
        Err(_) => {
            if let Some(init) = pin_init(saved)? {
                match init.signal(Signal::SIGKILL) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => return Err(e).context("killing the container's process"),
                }
            }
        }
    }
    let deadline = Instant::now() + KILL_WAIT;
    while process_state(saved.pid, saved.pid_start) == ProcessState::Alive {
        if Instant::now() > deadline {
            bail!(
                "the container's process {} did not exit after SIGKILL",
                saved.pid
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Removes the container's cgroup, if it has one and it still exists.
fn remove_cgroup(saved: &Saved) -> Result<()> {
    let Some(path) = &saved.cgroup_path else {
        return Ok(());
    };
    let layout = host_layout().context("detecting the cgroup layout")?;
    let cgroup = match Cgroup::open(&layout, path) {
        Ok(cgroup) => cgroup,
        Err(_) if !cgroup_exists(&layout, path) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("opening the cgroup {path}")),
    };
    cove_container::cgroups::remove(cgroup)
}

fn cgroup_exists(layout: &Layout, path: &str) -> bool {
    layout
        .hierarchies()
        .iter()
        .any(|h| h.mount_point.join(path).is_dir())
        || layout.unified_root().is_some_and(|r| r.join(path).is_dir())
}

/// The container's cgroup; an error when it has none (rootless).
pub fn open_cgroup(saved: &Saved) -> Result<Cgroup> {
    let Some(path) = &saved.cgroup_path else {
        bail!(
            "container `{}` has no cgroup of its own (rootless)",
            saved.id
        );
    };
    let layout = host_layout().context("detecting the cgroup layout")?;
    Cgroup::open(&layout, path).with_context(|| format!("opening the cgroup {path}"))
}

/// Whether the cgroup at `path` is frozen (an unreadable or missing cgroup counts as not frozen).
fn is_frozen(path: &str) -> bool {
    host_layout()
        .ok()
        .and_then(|layout| Cgroup::open(&layout, path).ok())
        .is_some_and(|cgroup| cgroup.is_frozen().unwrap_or(false))
}

/// `cove pause`: freezes every process of a running container.
pub fn pause(root: &StateRoot, id: &str) -> Result<()> {
    let container = root.open(id)?;
    let saved = container.load()?;
    if status(&saved) != Status::Running {
        bail!(
            "cannot pause container `{id}`: it is {}, not running",
            status(&saved).as_str()
        );
    }
    open_cgroup(&saved)?
        .freeze()
        .context("freezing the container")
}

/// `cove resume`: thaws a paused container.
pub fn resume(root: &StateRoot, id: &str) -> Result<()> {
    let container = root.open(id)?;
    let saved = container.load()?;
    if status(&saved) != Status::Paused {
        bail!(
            "cannot resume container `{id}`: it is {}, not paused",
            status(&saved).as_str()
        );
    }
    open_cgroup(&saved)?.thaw().context("thawing the container")
}

/// The pids of every process in the container.
pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<i32>> {
    let container = root.open(id)?;
    let saved = container.load()?;
    if status(&saved) == Status::Stopped {
        return Ok(Vec::new());
    }
    match &saved.cgroup_path {
        Some(_) => open_cgroup(&saved)?
            .pids()
            .context("listing the container's processes"),
        None => Ok(vec![saved.pid]),
    }
}

/// The state of every container under the root (those that vanish meanwhile are left out).
pub fn list(root: &StateRoot) -> Result<Vec<StateReport>> {
    let mut reports = Vec::new();
    for id in root.ids()? {
        let Ok(container) = root.open(&id) else {
            continue;
        };
        if let Ok(saved) = container.load() {
            reports.push(report(&saved));
        }
    }
    Ok(reports)
}

/// `cove run` with a bundle: create and start; in the foreground, wait for the process, delete the container
/// (unless `keep`) and return its exit code.
pub fn run_bundle(
    root: &StateRoot,
    id: &str,
    options: &CreateOptions,
    detach: bool,
    keep: bool,
) -> Result<i32> {
    let created = create_container(root, id, options, !detach)?;
    let Created {
        container,
        started,
        mut saved,
        hooks,
    } = created;
    if let Err(e) = release(&container, &mut saved) {
        let _ = started.child.signal(nix::sys::signal::Signal::SIGKILL);
        drop(started);
        let _ = container.remove();
        return Err(e);
    }
    poststart(&saved, &hooks);
    let Started { child, cgroup } = started;
    if detach {
        if let Some(cgroup) = cgroup {
            cgroup.keep();
        }
        return Ok(0);
    }
    // Other commands (state, kill, exec) may act on the container while it runs.
    drop(container);
    let status = child.wait().context("waiting for the container")?;
    if let Some(cgroup) = cgroup {
        cgroup.keep();
    }
    if !keep {
        delete(root, id, true)?;
    }
    Ok(status.code())
}
