//! Namespaced kernel parameters (OCI `linux.sysctl`): validating keys (pure) and writing them
//! to the container's `/proc/sys`.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use crate::error::{PlanError, RootfsError};
use crate::resolve::{open_at_root, proc_fd_path};

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

    /// Writes the value to the file resolved inside `root` (the container's `/proc`).
    pub(crate) fn write(&self, root: BorrowedFd<'_>) -> Result<(), RootfsError> {
        self.try_write(root).map_err(|source| RootfsError::Sysctl {
            key: self.key.clone(),
            value: self.value.clone(),
            source,
        })
    }

    fn try_write(&self, root: BorrowedFd<'_>) -> Result<(), Errno> {
        let found = open_at_root(root, &self.path())?;
        if SFlag::from_bits_truncate(fstat(&found)?.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            // A directory (`net.ipv4`) or anything else that is not a parameter.
            return Err(Errno::EISDIR);
        }
        // Reopen the O_PATH fd for writing through its /proc/self/fd link: the very same file.
        let flags = OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        let fd = open(proc_fd_path(&found).as_str(), flags, Mode::empty())?;
        File::from(fd)
            .write_all(self.value.as_bytes())
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
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
