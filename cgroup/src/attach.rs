//! Cheap attachment of a freshly cloned, single-threaded child: the child moves itself.
//!
//! Writing a pid to a v1 `cgroup.procs` file migrates a whole thread group and takes the kernel's
//! `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace period when the lock has been idle:
//! 5–12 ms per container on the project's machine (docs/performance.md). Writing `0` to a v1 `tasks` file moves
//! only the calling thread and skips that lock. A child that has just been cloned from a runtime is
//! single-threaded, so moving its only thread moves the process. The runtime opens the files (it has the
//! permission and the paths); the child writes to them before anything of the workload runs.
//!
//! The cgroup2 side (unified or the hybrid tracking hierarchy) needs no such trick: `clone3` with
//! `CLONE_INTO_CGROUP` and [`Cgroup::v2_dir_fd`] start the child there directly.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::cgroup::Cgroup;
use crate::error::{CgroupError, Result};

/// The v1 `tasks` files of one cgroup, opened for a child to move itself in with
/// [`SelfAttach::attach_calling_thread`]. The files are close-on-exec.
#[derive(Debug)]
pub struct SelfAttach {
    tasks: Vec<(PathBuf, File)>,
}

impl SelfAttach {
    /// Moves the calling thread into every v1 hierarchy of the cgroup by writing `0` to each `tasks` file.
    ///
    /// Call it in a single-threaded process (a freshly cloned child): then the whole process moves. In a
    /// multithreaded process only the calling thread would.
    pub fn attach_calling_thread(&self) -> Result<()> {
        for (path, file) in &self.tasks {
            (&*file)
                .write_all(b"0")
                .map_err(|source| CgroupError::Write {
                    controller: "cgroup",
                    file: path.clone(),
                    value: "0".to_owned(),
                    source,
                })?;
        }
        Ok(())
    }

    /// The descriptors of the open `tasks` files, which the child writes to (so keeps open).
    pub fn raw_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.tasks.iter().map(|(_, file)| file.as_raw_fd())
    }

    /// Whether there is nothing to do (no v1 hierarchy: a unified layout).
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl Cgroup {
    /// Opens the `tasks` file of each of the cgroup's v1 hierarchies, so that a freshly cloned child can move
    /// itself in cheaply (see [`SelfAttach`]). Empty on a unified layout.
    ///
    /// ```no_run
    /// # fn main() -> cove_cgroup::Result<()> {
    /// use cove_cgroup::{Cgroup, Layout, Resources};
    /// let cg = Cgroup::create(&Layout::detect()?, "cove/doc", &Resources::default())?;
    /// let attach = cg.self_attach()?;
    /// // … in the freshly cloned child, before exec:
    /// attach.attach_calling_thread()?;
    /// # Ok(()) }
    /// ```
    pub fn self_attach(&self) -> Result<SelfAttach> {
        let mut tasks = Vec::new();
        for dir in self.v1_dirs() {
            let path = dir.join("tasks");
            let file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .map_err(|source| CgroupError::OpenDir {
                    path: path.clone(),
                    source,
                })?;
            tasks.push((path, file));
        }
        Ok(SelfAttach { tasks })
    }

    /// Opens the cgroup's cgroup2 directory (unified, or the tracking one in hybrid mode)
    /// `O_RDONLY | O_DIRECTORY | O_CLOEXEC`, for `clone3`'s `CLONE_INTO_CGROUP`. On a hybrid layout the v1
    /// hierarchies still need [`Cgroup::self_attach`] or [`Cgroup::add_pid`]; `None` on a legacy layout.
    pub fn v2_dir_fd(&self) -> Option<Result<OwnedFd>> {
        let dir = self.v2_dir()?;
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)
            .map(OwnedFd::from)
            .map_err(|source| CgroupError::OpenDir {
                path: dir.to_path_buf(),
                source,
            });
        Some(opened)
    }
}
