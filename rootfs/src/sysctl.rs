//! Namespaced kernel parameters (OCI `linux.sysctl`): validating keys (pure) and writing them
//! to the container's `/proc/sys`.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use crate::error::{PlanError, RootfsError};

/// One sysctl to write, with a validated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SysctlOp {
    /// `net.ipv4.ip_forward`.
    pub key: String,
    /// What is written (as given, no newline added).
    pub value: String,
}

/// Validates the keys: names separated by single dots, none empty, no `/` (so no `..` either)
/// and no NUL.
pub(crate) fn compile_sysctls(sysctl: &[(String, String)]) -> Result<Vec<SysctlOp>, PlanError> {
    sysctl
        .iter()
        .map(|(key, value)| {
            let bad = key.split('.').any(str::is_empty) || key.contains(['/', '\0']);
            if bad {
                return Err(PlanError::BadSysctlKey { key: key.clone() });
            }
            Ok(SysctlOp {
                key: key.clone(),
                value: value.clone(),
            })
        })
        .collect()
}

impl SysctlOp {
    /// `/proc/sys/net/ipv4/ip_forward` for `net.ipv4.ip_forward`.
    pub(crate) fn path(&self) -> PathBuf {
        PathBuf::from("/proc/sys").join(self.key.replace('.', "/"))
    }

    /// `sys/net/ipv4/ip_forward`: the path relative to the procfs root.
    fn proc_relative(&self) -> PathBuf {
        PathBuf::from("sys").join(self.key.replace('.', "/"))
    }

    /// Writes the value to its file below `proc`, the container's procfs (opened and verified by
    /// the caller): opened with openat2 `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV`
    /// (no symlink, no other mount on the way), checked to be a regular file of procfs again.
    pub(crate) fn write(&self, proc: BorrowedFd<'_>) -> Result<(), RootfsError> {
        self.try_write(proc).map_err(|source| RootfsError::Sysctl {
            key: self.key.clone(),
            value: self.value.clone(),
            source,
        })
    }

    fn try_write(&self, proc: BorrowedFd<'_>) -> Result<(), Errno> {
        let fd = open_beneath(proc, &self.proc_relative())?;
        check_procfs(fd.as_fd())?;
        if SFlag::from_bits_truncate(fstat(&fd)?.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(Errno::EISDIR);
        }
        File::from(fd)
            .write_all(self.value.as_bytes())
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

/// Set once openat2(2) answered ENOSYS: walk the components instead.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// Opens `rel` below `dir` for writing, through no symlink and no mount point.
fn open_beneath(dir: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    if !OPENAT2_MISSING.load(Ordering::Relaxed) {
        let how = OpenHow::new().flags(flags).resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
        match openat2(dir, rel, how) {
            Err(Errno::ENOSYS) => OPENAT2_MISSING.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    walk_beneath(dir, rel, flags)
}

/// The openat2 fallback: one `O_NOFOLLOW` component at a time, each checked to be procfs.
fn walk_beneath(dir: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let names: Vec<&std::ffi::OsStr> = rel.iter().collect();
    let Some((last, dirs)) = names.split_last() else {
        return Err(Errno::EINVAL);
    };
    let mut cur: Option<OwnedFd> = None;
    for name in dirs {
        let at = cur.as_ref().map_or(dir, |fd| fd.as_fd());
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let next = openat(at, *name, dir_flags, Mode::empty())?;
        check_procfs(next.as_fd())?;
        cur = Some(next);
    }
    let at = cur.as_ref().map_or(dir, |fd| fd.as_fd());
    openat(at, *last, flags | OFlag::O_NOFOLLOW, Mode::empty())
}

/// `EXDEV` unless `fd` is on a procfs (fstatfs `PROC_SUPER_MAGIC`).
pub(crate) fn check_procfs(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    if fstatfs(fd)?.filesystem_type() == PROC_SUPER_MAGIC {
        Ok(())
    } else {
        Err(Errno::EXDEV)
    }
}

impl fmt::Display for SysctlOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sysctl {} = {:?}: write it to {}",
            self.key,
            self.value,
            self.path().display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(key: &str) -> Result<Vec<SysctlOp>, PlanError> {
        compile_sysctls(&[(key.to_owned(), "1".to_owned())])
    }

    #[test]
    fn keys_become_proc_sys_paths() {
        let ops = compile_sysctls(&[
            ("net.ipv4.ip_forward".into(), "1".into()),
            ("kernel.shmmax".into(), "67108864".into()),
        ])
        .unwrap();
        assert_eq!(
            ops[0].path(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            ops[1].to_string(),
            "sysctl kernel.shmmax = \"67108864\": write it to /proc/sys/kernel/shmmax"
        );
    }

    #[test]
    fn rejects_slashes_dotdot_and_empty_components() {
        for bad in [
            "",
            ".",
            "net..ipv4",
            ".net.ipv4",
            "net.ipv4.",
            "net/ipv4/ip_forward",
            "net.../x",
            "../../etc/passwd",
            "kernel.shm\0max",
        ] {
            assert_eq!(
                compile(bad).unwrap_err(),
                PlanError::BadSysctlKey { key: bad.into() },
                "{bad:?}"
            );
        }
        assert_eq!(
            compile("net..x").unwrap_err().to_string(),
            "sysctl `net..x`: the key must be names separated by single dots, without `/`"
        );
    }
}
