//! The namespace kinds.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use nix::unistd::Pid;

/// One kind of Linux namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// User and group ids, capabilities (`CLONE_NEWUSER`).
    User,
    /// Mount points (`CLONE_NEWNS`).
    Mount,
    /// Process ids (`CLONE_NEWPID`).
    Pid,
    /// Network devices, addresses, ports (`CLONE_NEWNET`).
    Net,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Hostname and NIS domain name (`CLONE_NEWUTS`).
    Uts,
    /// Cgroup root directory (`CLONE_NEWCGROUP`).
    Cgroup,
    /// Monotonic and boot-time clocks (`CLONE_NEWTIME`).
    Time,
}

/// `CLONE_NEWTIME`: missing from some libc versions, so spelled out here.
pub(crate) const CLONE_NEWTIME: u64 = 0x80;

impl Namespace {
    /// Every kind, user namespace first: the order in which a process should join or create them.
    pub const ALL: [Namespace; 8] = [
        Namespace::User,
        Namespace::Mount,
        Namespace::Pid,
        Namespace::Net,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Cgroup,
        Namespace::Time,
    ];

    /// The `CLONE_NEW*` flag of this kind, as used by `clone3`, `unshare` and `setns`.
    pub const fn clone_flag(self) -> u64 {
        match self {
            Namespace::User => libc::CLONE_NEWUSER as u64,
            Namespace::Mount => libc::CLONE_NEWNS as u64,
            Namespace::Pid => libc::CLONE_NEWPID as u64,
            Namespace::Net => libc::CLONE_NEWNET as u64,
            Namespace::Ipc => libc::CLONE_NEWIPC as u64,
            Namespace::Uts => libc::CLONE_NEWUTS as u64,
            Namespace::Cgroup => libc::CLONE_NEWCGROUP as u64,
            Namespace::Time => CLONE_NEWTIME,
        }
    }

    /// The file name under `/proc/<pid>/ns/` (`"mnt"` for the mount namespace).
    pub const fn proc_name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Mount => "mnt",
            Namespace::Pid => "pid",
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Cgroup => "cgroup",
            Namespace::Time => "time",
        }
    }

    /// The friendly name used in manifests and messages (`"mount"` for the mount namespace).
    pub const fn name(self) -> &'static str {
        match self {
            Namespace::Mount => "mount",
            other => other.proc_name(),
        }
    }

    /// `/proc/<pid>/ns/<proc_name>`: the file that stands for this namespace of `pid`.
    ///
    /// ```
    /// use cove_ns::{Namespace, Pid};
    /// assert_eq!(Namespace::Mount.proc_path(Pid::from_raw(42)).to_str(), Some("/proc/42/ns/mnt"));
    /// ```
    pub fn proc_path(self, pid: Pid) -> PathBuf {
        PathBuf::from(format!("/proc/{pid}/ns/{}", self.proc_name()))
    }

    /// The position of this kind in [`Namespace::ALL`].
    pub(crate) const fn index(self) -> u8 {
        match self {
            Namespace::User => 0,
            Namespace::Mount => 1,
            Namespace::Pid => 2,
            Namespace::Net => 3,
            Namespace::Ipc => 4,
            Namespace::Uts => 5,
            Namespace::Cgroup => 6,
            Namespace::Time => 7,
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a namespace kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown namespace kind {name:?} (expected one of user, mount, pid, net, ipc, uts, cgroup, time)")]
pub struct ParseNamespaceError {
    /// The name that was given.
    pub name: String,
}

impl FromStr for Namespace {
    type Err = ParseNamespaceError;

    /// Parses a friendly name; the `/proc` name `mnt` and the OCI name `network` are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Namespace::User),
            "mount" | "mnt" => Ok(Namespace::Mount),
            "pid" => Ok(Namespace::Pid),
            "net" | "network" => Ok(Namespace::Net),
            "ipc" => Ok(Namespace::Ipc),
            "uts" => Ok(Namespace::Uts),
            "cgroup" => Ok(Namespace::Cgroup),
            "time" => Ok(Namespace::Time),
            _ => Err(ParseNamespaceError { name: s.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in Namespace::ALL {
            assert_eq!(kind.to_string().parse::<Namespace>(), Ok(kind));
            assert_eq!(kind.proc_name().parse::<Namespace>(), Ok(kind));
        }
        assert_eq!(Namespace::Mount.to_string(), "mount");
        assert_eq!(Namespace::Mount.proc_name(), "mnt");
        assert_eq!("network".parse::<Namespace>(), Ok(Namespace::Net));
    }

    #[test]
    fn unknown_name_is_reported() {
        let err = "nett".parse::<Namespace>().unwrap_err();
        assert_eq!(err.name, "nett");
        assert!(err.to_string().contains("\"nett\""));
    }

    #[test]
    fn clone_flags_are_the_kernel_values() {
        assert_eq!(Namespace::User.clone_flag(), 0x1000_0000);
        assert_eq!(Namespace::Mount.clone_flag(), 0x0002_0000);
        assert_eq!(Namespace::Pid.clone_flag(), 0x2000_0000);
        assert_eq!(Namespace::Net.clone_flag(), 0x4000_0000);
        assert_eq!(Namespace::Ipc.clone_flag(), 0x0800_0000);
        assert_eq!(Namespace::Uts.clone_flag(), 0x0400_0000);
        assert_eq!(Namespace::Cgroup.clone_flag(), 0x0200_0000);
        assert_eq!(Namespace::Time.clone_flag(), 0x80);
    }

    #[test]
    fn all_is_indexed_in_order() {
        for (i, kind) in Namespace::ALL.iter().enumerate() {
            assert_eq!(kind.index() as usize, i);
        }
        assert_eq!(Namespace::ALL[0], Namespace::User);
    }

    #[test]
    fn proc_path_uses_proc_name() {
        assert_eq!(
            Namespace::Net.proc_path(Pid::from_raw(7)),
            PathBuf::from("/proc/7/ns/net")
        );
    }
}
