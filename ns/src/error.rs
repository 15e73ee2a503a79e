//! The error type of this crate.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::{IdMapProblem, Namespace, NamespaceSet};

/// A namespace operation that failed: each variant names the step, the namespace kind and its context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NsError {
    /// `unshare(2)` failed.
    #[error("unshare the {set} namespaces")]
    Unshare {
        /// The namespaces that were to be created.
        set: NamespaceSet,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// The namespace file to join could not be opened.
    #[error("open the {kind} namespace file {}", path.display())]
    Open {
        /// The namespace kind.
        kind: Namespace,
        /// The file (e.g. `/proc/1234/ns/net`).
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// `setns(2)` failed (EINVAL: the file is not a namespace of that kind).
    #[error("join the {kind} namespace {}", path.display())]
    Join {
        /// The namespace kind.
        kind: Namespace,
        /// The namespace file.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// An id map was refused before writing it.
    #[error("invalid {file} for the user namespace")]
    InvalidIdMap {
        /// `uid_map` or `gid_map`.
        file: &'static str,
        /// What is wrong with it.
        #[source]
        source: IdMapProblem,
    },
    /// Writing `/proc/<pid>/uid_map` or `gid_map` failed.
    #[error("write /proc/{pid}/{file} (user namespace)")]
    WriteIdMap {
        /// `uid_map` or `gid_map`.
        file: &'static str,
        /// The process whose user namespace is mapped.
        pid: Pid,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// A setuid helper (`newuidmap`/`newgidmap` from shadow's `uidmap` package) could not be started.
    #[error("run {program} for process {pid} (is the `uidmap` package installed?)")]
    StartIdMapHelper {
        /// `newuidmap` or `newgidmap`.
        program: &'static str,
        /// The process whose user namespace is mapped.
        pid: Pid,
        /// Why it could not start.
        #[source]
        source: io::Error,
    },
    /// A setuid helper refused the mapping (most often: the ranges are not in /etc/subuid or /etc/subgid).
    #[error("{program} {args} failed ({status}): {stderr}")]
    IdMapHelperFailed {
        /// `newuidmap` or `newgidmap`.
        program: &'static str,
        /// Its arguments.
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Writing `deny` to `/proc/<pid>/setgroups` failed.
    #[error("write deny to /proc/{pid}/setgroups (user namespace)")]
    DenySetgroups {
        /// The process whose user namespace is configured.
        pid: Pid,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// `sethostname(2)` failed.
    #[error("set the hostname to {hostname:?} (uts namespace)")]
    SetHostname {
        /// The requested hostname.
        hostname: String,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// Bringing the loopback interface up failed.
    #[error("bring the loopback interface up (network namespace)")]
    LoopbackUp {
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// `setdomainname(2)` failed.
    #[error("set the domain name to {domainname:?} (uts namespace)")]
    SetDomainname {
        /// The requested domain name.
        domainname: String,
        /// The error from the kernel.
        #[source]
        source: Errno,
    },
    /// A clock offset has a nanosecond part of one second or more.
    #[error("invalid {clock} offset (time namespace): nanoseconds {nanos} not below 1000000000")]
    InvalidTimeOffset {
        /// `monotonic` or `boottime`.
        clock: &'static str,
        /// The nanosecond part given.
        nanos: u32,
    },
    /// Writing `/proc/<pid>/timens_offsets` failed (EACCES: a process already entered that time namespace).
    #[error("write /proc/{pid}/timens_offsets (time namespace)")]
    WriteTimeOffsets {
        /// The process that unshared the time namespace.
        pid: Pid,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
}

impl NsError {
    /// The namespace kind the failed step was about; `None` for an `unshare` of several kinds.
    pub fn kind(&self) -> Option<Namespace> {
        match self {
            NsError::Unshare { set, .. } if set.len() == 1 => set.iter().next(),
            NsError::Unshare { .. } => None,
            NsError::Open { kind, .. } | NsError::Join { kind, .. } => Some(*kind),
            NsError::InvalidIdMap { .. }
            | NsError::WriteIdMap { .. }
            | NsError::StartIdMapHelper { .. }
            | NsError::IdMapHelperFailed { .. }
            | NsError::DenySetgroups { .. } => Some(Namespace::User),
            NsError::SetHostname { .. } | NsError::SetDomainname { .. } => Some(Namespace::Uts),
            NsError::LoopbackUp { .. } => Some(Namespace::Net),
            NsError::InvalidTimeOffset { .. } | NsError::WriteTimeOffsets { .. } => {
                Some(Namespace::Time)
            }
        }
    }
}
