//! OCI container state under the state root (`--root`, default `/run/cove`): one directory per container with
//! `state.json` (what `cove state` reports, plus what later commands need), a copy of the bundle's config,
//! the exec FIFO while the container waits for `start`, and a lock file that serialises commands on one id.
//!
//! No process watches a container: its status is derived when asked, from its init process (alive, a
//! zombie, or gone — recognised by its start time, so a reused pid is not mistaken for it) and its cgroup's
//! freezer.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::statedir;
use crate::ContainerError;

/// The file holding a container's state.
const STATE_FILE: &str = "state.json";
/// The copy of the bundle's config.json (the bundle may change or go away after create).
const CONFIG_FILE: &str = "config.json";
/// The lock file.
const LOCK_FILE: &str = "lock";
/// The lock a foreground run holds while it waits for its container (it then deletes the container itself).
const RUN_LOCK_FILE: &str = "run.lock";

/// The OCI runtime-spec version in the state of a container whose front end names none (a manifest run).
pub const OCI_VERSION: &str = "1.3.0";
/// The FIFO `start` writes to.
pub const EXEC_FIFO: &str = "exec.fifo";

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Set up, its process waiting for `start`.
    Created,
    /// Its process runs the program.
    Running,
    /// Its cgroup is frozen.
    Paused,
    /// Its process has exited.
    Stopped,
}

impl Status {
    /// The name in the OCI state.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// The config's `ociVersion`.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init process.
    pub pid: i32,
    /// The init process's start time (`/proc/<pid>/stat` field 22), to tell it from a reused pid.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute root file system path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 in UTC.
    pub created: String,
    /// The user that created it (empty as root, as runc reports).
    pub owner: String,
    /// The config's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The cgroup, relative to the hierarchies' roots (none rootless).
    pub cgroup_path: Option<String>,
    /// Whether `start` has released the process.
    pub started: bool,
    /// The format of the saved config, named by the front end that wrote it; `None`: an OCI bundle's
    /// `config.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_format: Option<String>,
}

/// The state root: the directory holding one directory per container.
#[derive(Debug, Clone)]
pub struct StateRoot {
    path: PathBuf,
}

impl StateRoot {
    /// The root at `path` (created on demand: 0711 as root, else 0700; see [`statedir::ensure_root`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateRoot { path: path.into() }
    }

    /// The root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ids of every container, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        if statedir::existing_root(&self.path, euid())?.is_none() {
            return Ok(Vec::new());
        }
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join(STATE_FILE).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Creates the directory of a new container and locks it; fails when the id is taken (whatever its
    /// directory holds, as runc: a stale one is removed by `delete --force`). The state root is created
    /// when missing and refused when it is a symlink, another user's, or writable by others.
    pub fn create(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let root = statedir::ensure_root(&self.path, euid())?;
        let dir = self.path.join(id);
        let Some(lock) = statedir::create_locked(&root, &self.path, id)? else {
            return Err(ContainerError::Exists { id: id.to_owned() }.into());
        };
        Ok(Container {
            id: id.to_owned(),
            dir,
            _lock: lock,
        })
    }

    /// Opens and locks an existing container (waiting for another command on it to finish).
    pub fn open(&self, id: &str) -> Result<Container> {
        self.open_if_exists(id)?
            .ok_or_else(|| ContainerError::NotFound { id: id.to_owned() }.into())
    }

    /// Like [`open`](StateRoot::open), with `None` when there is no such container (also when it was
    /// deleted while this command waited for the lock).
    pub fn open_if_exists(&self, id: &str) -> Result<Option<Container>> {
        check_id(id)?;
        if statedir::existing_root(&self.path, euid())?.is_none() {
            return Ok(None);
        }
        let dir = self.path.join(id);
        if !dir.join(STATE_FILE).is_file() {
            return Ok(None);
        }
        let lock = lock(&dir)?;
        if !dir.join(STATE_FILE).is_file() {
            return Ok(None);
        }
        Ok(Some(Container {
            id: id.to_owned(),
            dir,
            _lock: lock,
        }))
    }
}

impl StateRoot {
    /// Removes the directory of `id` when it records no container (no `state.json`: a `cove run` or a
    /// `create` that died), as runc's `delete --force` does; never through a symlink. Fails while another
    /// cove process holds it (a running `cove run`). `Some` when the id turned out to hold a container after
    /// all (its create finished meanwhile): the caller deletes it as usual.
    pub fn remove_stale(&self, id: &str) -> Result<Option<Container>> {
        check_id(id)?;
        if statedir::existing_root(&self.path, euid())?.is_none() {
            return Ok(None);
        }
        let dir = self.path.join(id);
        match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Ok(meta) if !meta.file_type().is_dir() => {
                return statedir::remove_dir_nofollow(&dir).map(|()| None)
            }
            _ => {}
        }
        let lock = match statedir::lock(&dir, FlockArg::LockExclusiveNonblock)? {
            Ok(lock) => lock,
            Err(nix::errno::Errno::EWOULDBLOCK) => {
                bail!(
                    "container `{id}` is in use by another cove process (a `cove run` or a create)"
                )
            }
            Err(e) => {
                return Err(e).with_context(|| format!("locking {}/{LOCK_FILE}", dir.display()))
            }
        };
        let container = Container {
            id: id.to_owned(),
            dir,
            _lock: lock,
        };
        if fs::symlink_metadata(container.dir.join(STATE_FILE)).is_ok() {
            return Ok(Some(container));
        }
        container.remove().map(|()| None)
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Ids are file names in the state root: the rule of [`valid_container_id`](crate::plan::valid_container_id)
/// (no path separators, no dot names).
fn check_id(id: &str) -> Result<()> {
    if !crate::plan::valid_container_id(id) {
        return Err(ContainerError::InvalidId { id: id.to_owned() }.into());
    }
    Ok(())
}

fn lock(dir: &Path) -> Result<Flock<File>> {
    statedir::lock(dir, FlockArg::LockExclusive)?
        .with_context(|| format!("locking {}/{LOCK_FILE}", dir.display()))
}

/// One container's locked state directory. The lock is held until this value is dropped.
#[derive(Debug)]
pub struct Container {
    id: String,
    dir: PathBuf,
    _lock: Flock<File>,
}

impl Container {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An empty directory inside the state dir, created on demand (the mount point of a tmpfs root).
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        statedir::subdir(&self.dir, name)
    }

    /// Marks the container as owned by the foreground run that waits for it (and deletes it when it ends),
    /// until the returned lock is dropped: `delete` refuses it meanwhile. The lock outlives this value, so
    /// other commands (state, kill, exec) can lock the container while the run waits.
    pub fn hold_for_run(&self) -> Result<Flock<File>> {
        match statedir::lock_file(&self.dir, RUN_LOCK_FILE, FlockArg::LockExclusiveNonblock)? {
            Ok(lock) => Ok(lock),
            Err(e) => {
                Err(e).with_context(|| format!("locking {}/{RUN_LOCK_FILE}", self.dir.display()))
            }
        }
    }

    /// Whether a foreground run holds the container (see [`hold_for_run`](Container::hold_for_run)).
    pub fn held_by_a_run(&self) -> bool {
        statedir::is_locked(&self.dir, RUN_LOCK_FILE)
    }

    /// The exec FIFO's path.
    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// Reads `state.json`.
    pub fn load(&self) -> Result<Saved> {
        let path = self.dir.join(STATE_FILE);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, saved: &Saved) -> Result<()> {
        let text = serde_json::to_string(saved).context("encoding the state")?;
        write_atomic_mode(&self.dir.join(STATE_FILE), text.as_bytes(), 0o600)
    }

    /// Keeps a copy of the config the container was created from (whatever its front end's format).
    pub fn save_config<C: Serialize>(&self, config: &C) -> Result<()> {
        let text = serde_json::to_string(config).context("encoding the config")?;
        write_atomic_mode(&self.dir.join(CONFIG_FILE), text.as_bytes(), 0o600)
    }

    /// The config the container was created from.
    pub fn config<C: DeserializeOwned>(&self) -> Result<C> {
        let path = self.dir.join(CONFIG_FILE);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Removes the state directory: every entry (a symlink someone planted is unlinked, never followed)
    /// and the directory, relative to a descriptor opened with `O_NOFOLLOW`. Never recursive: it holds no
    /// mounts, only our own files. The lock is held throughout, so a waiter then finds no state.json.
    pub fn remove(self) -> Result<()> {
        statedir::remove_dir_nofollow(&self.dir)
    }
}

/// Writes `data` to `path` (mode 0644, as runc's pid file) through a temporary file and a rename, so readers
/// see the old or the new content. See [`write_atomic_mode`].
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_mode(path, data, 0o644)
}

/// Writes `data` to `path` with `mode` (less the umask) atomically, never through a symlink: the data goes
/// to a new file of an unpredictable name in the same directory, created with `O_CREAT|O_EXCL|O_NOFOLLOW`,
/// which is then renamed over `path`. A symlink planted at `path` is replaced, not followed; one planted at
/// a temporary name makes that attempt fail and another name is tried.
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let Some(name) = path.file_name() else {
        bail!("{} names no file", path.display());
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let (tmp, mut file) = new_temp_file(dir, &name.to_string_lossy(), mode)?;
    let written = file
        .write_all(data)
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path)
                .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
        });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Creates a new file `.<name>.<pid>.<n>.tmp` in `dir` with `O_CREAT|O_EXCL|O_NOFOLLOW`, trying a few
/// numbers when a name is taken.
fn new_temp_file(dir: &Path, name: &str, mode: u32) -> Result<(PathBuf, File)> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let mut last = None;
    for attempt in 0..16u32 {
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            nanos.wrapping_add(attempt)
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e).with_context(|| format!("creating {}", tmp.display())),
        }
    }
    Err(last.expect("16 attempts"))
        .with_context(|| format!("creating a temporary file in {}", dir.display()))
}

/// Where a process is in its life, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// Running or sleeping: alive.
    Alive,
    /// Exited (a zombie or dead), or the pid now belongs to another process.
    Gone,
}

/// The start time (field 22) and state letter (field 3) of a process.
pub fn stat_of(pid: i32) -> Option<(u64, char)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/<pid>/stat` text: the comm field may contain spaces and parentheses, so fields are counted
/// after its last `)`.
pub fn parse_stat(text: &str) -> Option<(u64, char)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) come fields 4..; the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// Whether the container's init process is still the one recorded and has not exited.
pub fn process_state(pid: i32, pid_start: u64) -> ProcessState {
    if pid <= 0 {
        return ProcessState::Gone;
    }
    match stat_of(pid) {
        Some((start, state)) if start == pid_start && !matches!(state, 'Z' | 'X' | 'x') => {
            ProcessState::Alive
        }
        _ => ProcessState::Gone,
    }
}

/// Formats a time as RFC 3339 in UTC with nanoseconds, as runc's `created` (`2026-11-27T11:49:36.884472304Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_utc_with_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_795_780_176, 884_472_304);
        assert_eq!(rfc3339(t), "2026-11-27T11:49:36.884472304Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339(leap)[..10], "2000-02-29");
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let text = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 200";
        assert_eq!(parse_stat(text), Some((123_456, 'S')));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let (start, _) = stat_of(pid).unwrap();
        assert_eq!(process_state(pid, start), ProcessState::Alive);
        assert_eq!(process_state(pid, start + 1), ProcessState::Gone);
        assert_eq!(process_state(0, 0), ProcessState::Gone);
    }

    #[test]
    fn ids_are_created_once_listed_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let states = StateRoot::new(root.path().join("cove"));
        let c = states.create("c1").unwrap();
        let err = states.create("c1").unwrap_err();
        assert_eq!(err.to_string(), "container `c1` already exists");
        assert!(states.ids().unwrap().is_empty(), "no state.json yet");
        let saved = Saved {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            pid: 1,
            pid_start: 2,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: rfc3339(SystemTime::now()),
            owner: String::new(),
            annotations: BTreeMap::new(),
            cgroup_path: None,
            started: false,
            config_format: None,
        };
        c.save(&saved).unwrap();
        assert_eq!(states.ids().unwrap(), vec!["c1".to_string()]);
        assert_eq!(c.load().unwrap().pid_start, 2);
        c.remove().unwrap();
        assert!(!root.path().join("cove/c1").exists());
        let err = states.open("c1").unwrap_err();
        assert_eq!(err.to_string(), "container `c1` does not exist");
        assert!(states.open("../etc").is_err());
    }
}
