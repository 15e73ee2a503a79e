//! The state of a foreground run (`cove run FILE.toml`) in the one state store every container shares: the id
//! taken in the state root (refused when any container has it, whatever its front end), a `state.json` once
//! the process runs, so `cove list`, `state`, `kill` and `exec` reach it, and its removal when the run ends.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::plan::{Plan, RootChoice};
use crate::state::{rfc3339, stat_of, Container, Saved, StateRoot, OCI_VERSION};
use crate::statedir;
use crate::ContainerError;

/// A front end's config of a container, saved with its state for later commands (`exec` reads it).
#[derive(Debug, Clone)]
pub struct SavedConfig {
    /// The format's name, as the front end that reads it back knows it.
    pub format: String,
    /// The config.
    pub config: serde_json::Value,
}

/// A foreground run's container in the state root; its state directory is removed on drop.
#[derive(Debug)]
pub struct RunState {
    dir: PathBuf,
    /// Locked while the container is set up; released once `state.json` is written.
    container: Option<Container>,
    /// Held while the run waits (see [`Container::hold_for_run`]).
    run_lock: Option<Flock<File>>,
}

impl RunState {
    /// Takes `id` in `root`; refused when a container (of any front end) has it, or a directory was left
    /// behind under that name.
    pub fn create(root: &StateRoot, id: &str) -> Result<RunState> {
        let container = match root.create(id) {
            Ok(container) => container,
            Err(e) => match e.downcast_ref::<ContainerError>() {
                Some(ContainerError::Exists { .. }) => {
                    return Err(statedir::already_exists(&root.path().join(id), id))
                }
                _ => return Err(e),
            },
        };
        Ok(RunState {
            dir: container.dir().to_path_buf(),
            container: Some(container),
            run_lock: None,
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records the running container (its init `pid` and cgroup) in `state.json`, with its front end's
    /// config, then lets other commands lock it while this run keeps it as its own.
    pub fn record(
        &mut self,
        plan: &Plan,
        pid: i32,
        cgroup_path: Option<String>,
        config: Option<&SavedConfig>,
    ) -> Result<()> {
        let container = self
            .container
            .take()
            .context("the run's state is recorded once")?;
        let (pid_start, _) = stat_of(pid).context("reading the container process's start time")?;
        let saved = Saved {
            oci_version: OCI_VERSION.to_owned(),
            id: plan.id.clone(),
            pid,
            pid_start,
            bundle: bundle_dir(&plan.manifest),
            rootfs: match &plan.root.choice {
                RootChoice::Dir(dir) => dir.clone(),
                RootChoice::Host(_) => self.dir.join("rootfs"),
            },
            created: rfc3339(SystemTime::now()),
            owner: String::new(),
            annotations: Default::default(),
            cgroup_path,
            started: true,
            config_format: config.map(|c| c.format.clone()),
        };
        if let Some(config) = config {
            container.save_config(&config.config)?;
        }
        container.save(&saved)?;
        self.run_lock = Some(container.hold_for_run()?);
        Ok(())
    }
}

/// The directory of the file the plan came from, absolute (the state's `bundle`).
fn bundle_dir(file: &Path) -> PathBuf {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

impl Drop for RunState {
    fn drop(&mut self) {
        // Never recursive and never through a symlink (see `statedir::remove_dir_nofollow`); under the
        // container's lock, so no other command is reading it meanwhile.
        let lock = match self.container.take() {
            Some(container) => {
                let _ = container.remove();
                return;
            }
            None => statedir::lock(&self.dir, FlockArg::LockExclusive),
        };
        let _ = statedir::remove_dir_nofollow(&self.dir);
        drop(lock);
        drop(self.run_lock.take());
    }
}
