//! `cove exec`: another process in a running container — every namespace of its init process joined, in its
//! cgroup, with the container's seccomp filter and the process's own user, capabilities and rlimits.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use cove_ns::Namespace;
use cove_spawn::{Command, Pid};
use oci_spec::runtime::{Process, Spec};

use crate::oci::lifecycle::{open_cgroup, status};
use cove_container::child::ChildSecurity;
use cove_container::console::ConsoleSocket;
use cove_container::plan::ProcessPlan;
use cove_container::security::SecurityPlan;
use cove_container::state::{
    process_state, write_atomic, Container, ProcessState, Saved, StateRoot, Status,
};
use cove_manifest::saved::SavedManifest;
use cove_oci::config::lower_process;

/// `cove exec` options, as runc spells them.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// A process.json describing the process (the other process flags then do not apply).
    pub process: Option<PathBuf>,
    /// The command and its arguments (without `--process`).
    pub args: Vec<String>,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
    /// Write the process's host pid here.
    pub pid_file: Option<PathBuf>,
    /// Send the pty master here.
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (`KEY=VALUE`).
    pub env: Vec<String>,
    /// `UID[:GID]`.
    pub user: Option<String>,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Capabilities to add (`CAP_…`).
    pub caps: Vec<String>,
    /// Set `no_new_privileges`.
    pub no_new_privs: bool,
    /// Pass file descriptors 3..3+N.
    pub preserve_fds: u32,
    /// Accept a paused container (the process starts frozen, in its cgroup, until `resume`).
    pub ignore_paused: bool,
}

/// Runs the process; returns its exit code (0 with `detach` once it runs).
pub fn exec(root: &StateRoot, id: &str, options: &ExecOptions) -> Result<i32> {
    let container = root.open(id)?;
    let saved = container.load()?;
    match status(&saved) {
        Status::Running | Status::Created => {}
        Status::Paused if options.ignore_paused => {}
        Status::Paused => bail!(
            "cannot exec in container `{id}`: it is paused (use --ignore-paused to start the process anyway)"
        ),
        other => bail!("cannot exec in container `{id}`: it is {}", other.as_str()),
    }
    let (plan, security) = lowered_process(&container, &saved, options)?;
    let cgroup = saved
        .cgroup_path
        .as_ref()
        .map(|_| open_cgroup(&saved))
        .transpose()?;
    // The lock is not held while the process runs: other commands may act on the container meanwhile.
    drop(container);

    let init = Pid::from_raw(saved.pid);
    let terminal = match (plan.terminal, &options.console_socket) {
        (true, Some(path)) => {
            Some(ConsoleSocket::connect(path).context("connecting to the console socket")?)
        }
        (true, None) => bail!("a terminal needs --console-socket to pass it"),
        (false, Some(_)) => bail!("--console-socket given without --tty"),
        (false, None) => None,
    };
    let sequence = ChildSecurity::new(security, &plan, terminal);
    let mut command = Command::new(plan.args.clone())
        .env(plan.env.clone())
        .cwd(plan.cwd.clone())
        .user(plan.uid, plan.gid, plan.additional_gids.clone())
        .preserve_fds(options.preserve_fds)
        .forward_signals(!options.detach)
        .outlive_parent(options.detach);
    // The child closes every other descriptor of this process before its set-up.
    for fd in sequence.raw_fds() {
        command = command.keep_fd(fd);
    }
    // Held open until the spawn has joined them: see `pin_namespaces`.
    let pinned = pin_namespaces(init, saved.pid_start)?;
    for (kind, file) in &pinned {
        command = command.join_namespace(*kind, fd_path(file));
    }
    // The same child-side security sequence as the container's init, without its namespace set-up.
    command = sequence.install(command, None);
    let child = command
        .spawn_with(|pid| {
            if let Some(cgroup) = &cgroup {
                cgroup.add_pid(pid.as_raw())?;
            }
            Ok(())
        })
        .context("starting the process in the container")?;
    if let Some(file) = &options.pid_file {
        write_atomic(file, child.pid().as_raw().to_string().as_bytes())
            .with_context(|| format!("writing the pid file {}", file.display()))?;
    }
    if options.detach {
        return Ok(0);
    }
    Ok(child.wait().context("waiting for the process")?.code())
}

/// The process to run and its privileges, from the config the container's front end saved.
fn lowered_process(
    container: &Container,
    saved: &Saved,
    options: &ExecOptions,
) -> Result<(ProcessPlan, SecurityPlan)> {
    let euid = nix::unistd::geteuid().as_raw();
    match saved.config_format.as_deref() {
        None => {}
        Some(cove_manifest::saved::FORMAT) => {
            return manifest_process(&container.config()?, options, euid)
        }
        Some(other) => bail!(
            "container `{}` was saved with a config in a format this cove does not know (`{other}`)",
            saved.id
        ),
    }
    let spec: Spec = container.config()?;
    let process = process(&spec, options)?;
    lower_process(&process, spec.linux().as_ref(), euid).context("the process to execute")
}

/// The process to run in a container started from a manifest: the manifest's process (lowered again from the
/// text saved at start) with the command and the flags applied. `--process` and `--cap` are OCI-only.
fn manifest_process(
    saved: &SavedManifest,
    options: &ExecOptions,
    euid: u32,
) -> Result<(ProcessPlan, SecurityPlan)> {
    let from = saved.path.display();
    if options.process.is_some() {
        bail!("--process takes an OCI process.json, but this container was started from the manifest {from}");
    }
    if !options.caps.is_empty() {
        bail!("--cap is for containers of an OCI bundle; this one was started from the manifest {from} (set its capabilities there)");
    }
    if options.args.is_empty() {
        bail!("exec needs a command: `cove exec ID -- COMMAND [ARGS…]`");
    }
    let plan = saved.plan(euid).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the container's manifest {from}: {}", text.join("; "))
    })?;
    let mut process = plan.process;
    process.args = options.args.clone();
    process.terminal = options.tty;
    process.console_size = None;
    if let Some(cwd) = &options.cwd {
        process.cwd = cwd.clone();
    }
    for entry in &options.env {
        let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        process.env.retain(|(k, _)| k != key);
        process.env.push((key.to_owned(), value.to_owned()));
    }
    if let Some(user) = &options.user {
        (process.uid, process.gid) = parse_user(user)?;
    }
    if !options.additional_gids.is_empty() {
        process.additional_gids = options.additional_gids.clone();
    }
    let mut security = plan.security;
    security.no_new_privileges |= options.no_new_privs;
    Ok((process, security))
}

/// Opens the namespaces to join, then checks that the init is still the recorded process (its start time):
/// the open files then belong to the container even if its pid is reused right after. Joining by
/// `/proc/<pid>/ns/*` paths instead would race with the pid's reuse.
fn pin_namespaces(init: Pid, start: u64) -> Result<Vec<(Namespace, fs::File)>> {
    let files = namespaces_to_join(init)?
        .into_iter()
        .map(|kind| {
            let path = kind.proc_path(init);
            fs::File::open(&path)
                .map(|f| (kind, f))
                .with_context(|| format!("opening {}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    if process_state(init.as_raw(), start) != ProcessState::Alive {
        bail!("the container's process {init} exited");
    }
    Ok(files)
}

/// The path through which this process reopens an open file.
fn fd_path(file: &fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// The namespaces of the container's init that differ from ours, user namespace first (spawn orders them).
fn namespaces_to_join(init: Pid) -> Result<Vec<Namespace>> {
    let own = Pid::this();
    let mut kinds = Vec::new();
    for kind in Namespace::ALL {
        let theirs = fs::metadata(kind.proc_path(init));
        let ours = fs::metadata(kind.proc_path(own));
        match (theirs, ours) {
            (Ok(t), Ok(o)) if (t.dev(), t.ino()) != (o.dev(), o.ino()) => kinds.push(kind),
            (Ok(_), Ok(_)) => {}
            // A kind this kernel lacks (e.g. time before 5.6) is missing for both.
            (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound => {}
            (Err(e), _) => {
                return Err(e).with_context(|| {
                    format!("reading the container's {}", kind.proc_path(init).display())
                })
            }
            (_, Err(e)) => return Err(e).context("reading this process's namespaces"),
        }
    }
    Ok(kinds)
}

/// `base` with every `KEY=VALUE` of `overrides` in place of the same key's entries (runc: `exec --env` wins over
/// the config's variable, and a variable appears once).
fn override_env(mut base: Vec<String>, overrides: &[String]) -> Vec<String> {
    for entry in overrides {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        base.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        base.push(entry.clone());
    }
    base
}

/// The process to run: `--process FILE`, or the container's own process with the flags applied (as runc).
fn process(spec: &Spec, options: &ExecOptions) -> Result<Process> {
    if let Some(file) = &options.process {
        let text =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        return serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()));
    }
    if options.args.is_empty() {
        bail!("exec needs a command: `cove exec ID -- COMMAND [ARGS…]` or --process FILE");
    }
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(options.args.clone()));
    process.set_terminal(Some(options.tty));
    process.set_console_size(None);
    if let Some(cwd) = &options.cwd {
        process.set_cwd(cwd.clone());
    }
    if !options.env.is_empty() {
        let env = process.env().clone().unwrap_or_default();
        process.set_env(Some(override_env(env, &options.env)));
    }
    if let Some(user) = &options.user {
        let (uid, gid) = parse_user(user)?;
        let mut u = process.user().clone();
        u.set_uid(uid);
        u.set_gid(gid);
        process.set_user(u);
    }
    if !options.additional_gids.is_empty() {
        let mut u = process.user().clone();
        u.set_additional_gids(Some(options.additional_gids.clone()));
        process.set_user(u);
    }
    if options.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !options.caps.is_empty() {
        add_capabilities(&mut process, &options.caps)?;
    }
    Ok(process)
}

/// `UID[:GID]` (numeric, as runc's `--user`).
fn parse_user(user: &str) -> Result<(u32, u32)> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
    let parse = |s: &str, what: &str| {
        s.parse::<u32>()
            .with_context(|| format!("--user {user}: the {what} must be a number"))
    };
    Ok((parse(uid, "uid")?, parse(gid, "gid")?))
}

/// `--cap`: adds each capability to every set but ambient, as runc does.
fn add_capabilities(process: &mut Process, caps: &[String]) -> Result<()> {
    use oci_spec::runtime::{Capability, LinuxCapabilities};
    let parsed: Vec<Capability> = caps
        .iter()
        .map(|c| {
            // The config.json spelling, `CAP_SYS_ADMIN`.
            serde_json::from_value(serde_json::Value::String(c.clone()))
                .map_err(|_| anyhow::anyhow!("--cap {c}: unknown capability"))
        })
        .collect::<Result<_>>()?;
    let mut sets = process.capabilities().clone().unwrap_or_else(|| {
        let mut empty = LinuxCapabilities::default();
        empty.set_bounding(Some(Default::default()));
        empty.set_effective(Some(Default::default()));
        empty.set_permitted(Some(Default::default()));
        empty.set_inheritable(Some(Default::default()));
        empty.set_ambient(Some(Default::default()));
        empty
    });
    let extend = |set: &Option<oci_spec::runtime::Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(parsed.iter().copied());
        Some(set)
    };
    sets.set_bounding(extend(sets.bounding()));
    sets.set_effective(extend(sets.effective()));
    sets.set_permitted(extend(sets.permitted()));
    sets.set_inheritable(extend(sets.inheritable()));
    process.set_capabilities(Some(sets));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_env_overrides_the_configs_variable() {
        let base = vec![
            "PATH=/bin".to_string(),
            "MY_VAR=from_spec".into(),
            "A=1".into(),
        ];
        let got = override_env(base, &["MY_VAR=from_cli".into(), "NEW=x".into()]);
        assert_eq!(got, ["PATH=/bin", "A=1", "MY_VAR=from_cli", "NEW=x"]);
    }

    #[test]
    fn user_is_uid_and_optional_gid() {
        assert_eq!(parse_user("1000:100").unwrap(), (1000, 100));
        assert_eq!(parse_user("7").unwrap(), (7, 0));
        assert!(parse_user("bob").is_err());
    }

    #[test]
    fn flags_override_the_containers_process() {
        let spec = cove_oci::spec_default::default_spec(false);
        let options = ExecOptions {
            args: vec!["ls".into(), "-l".into()],
            cwd: Some("/tmp".into()),
            env: vec!["A=1".into()],
            user: Some("5:6".into()),
            caps: vec!["CAP_SYS_ADMIN".into()],
            ..ExecOptions::default()
        };
        let p = process(&spec, &options).unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["ls", "-l"]);
        assert_eq!(p.cwd(), &PathBuf::from("/tmp"));
        assert!(p.env().as_ref().unwrap().contains(&"A=1".to_string()));
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        let caps = p.capabilities().as_ref().unwrap();
        assert!(caps
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::Capability::SysAdmin));
        assert_eq!(p.terminal(), Some(false));
    }

    #[test]
    fn no_command_is_a_clear_error() {
        let spec = cove_oci::spec_default::default_spec(false);
        let err = process(&spec, &ExecOptions::default()).unwrap_err();
        assert!(err.to_string().contains("exec needs a command"), "{err}");
    }
}
