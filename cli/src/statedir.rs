//! The per-container state directory (`/run/cove/<id>`, or `$XDG_RUNTIME_DIR/cove/<id>` rootless), held
//! under an exclusive lock for the container's lifetime so two containers cannot share one id.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The default state root for the caller.
pub fn default_root(euid: u32) -> PathBuf {
    if euid == 0 {
        return PathBuf::from("/run/cove");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("cove"),
        _ => std::env::temp_dir().join(format!("cove-{euid}")),
    }
}

/// A locked state directory; removed again on drop.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    _lock: Flock<File>,
}

impl StateDir {
    /// Creates (or takes over a stale) `<root>/<id>` and locks it.
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .with_context(|| format!("creating the state root {}", root.display()))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating the state directory {}", path.display()))
            }
        }
        let lock = match lock(&path, FlockArg::LockExclusiveNonblock)? {
            Ok(lock) => lock,
            Err(Errno::EWOULDBLOCK) => bail!("a container named `{id}` is already running"),
            Err(e) => return Err(e).with_context(|| format!("locking {}/lock", path.display())),
        };
        Ok(StateDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An empty directory inside the state dir, created on demand (e.g. the mount point of a tmpfs root).
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.path.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(dir),
            Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
}

/// Opens (creating it, mode 0600) the lock file `<dir>/lock` and takes `how` on it. The outer error is opening
/// the file, the inner one the lock (EWOULDBLOCK for a non-blocking lock that is taken).
pub fn lock(dir: &Path, how: FlockArg) -> Result<Result<Flock<File>, Errno>> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(dir.join("lock"))
        .with_context(|| format!("opening {}/lock", dir.display()))?;
    Ok(Flock::lock(file, how).map_err(|(_, e)| e))
}

impl Drop for StateDir {
    fn drop(&mut self) {
        // Only empty directories and our own files are removed: never a recursive delete, so a leftover mount
        // point (which cannot exist here: tmpfs roots are mounted only in the container's namespace) is kept.
        if let Ok(entries) = fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                let p = entry.path();
                let _ = if p.is_dir() {
                    fs::remove_dir(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
        let _ = fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_id_is_refused_and_drop_cleans_up() {
        let root = tempfile::tempdir().unwrap();
        let first = StateDir::create(root.path(), "c1").unwrap();
        let staging = first.subdir("rootfs").unwrap();
        assert!(staging.is_dir());
        let err = StateDir::create(root.path(), "c1").unwrap_err();
        assert_eq!(err.to_string(), "a container named `c1` is already running");
        drop(first);
        assert!(!root.path().join("c1").exists());
        let again = StateDir::create(root.path(), "c1").unwrap();
        drop(again);
    }
}
