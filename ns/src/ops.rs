//! The namespace system calls.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::{format_id_maps, sys, validate_id_maps, IdMap, Namespace, NamespaceSet, NsError};

fn clone_flags(flags: u64) -> CloneFlags {
    // Namespace flags all fit in the low 32 bits, the width of the C `int` the kernel takes.
    CloneFlags::from_bits_retain(flags as libc::c_int)
}

/// Moves the calling thread into new namespaces of the kinds in `set` (`unshare(2)`).
///
/// A new PID namespace applies to the caller's children only; a new time namespace to its children and to the
/// caller itself after `execve`. A multithreaded process cannot unshare a user namespace.
pub fn unshare(set: NamespaceSet) -> Result<(), NsError> {
    nix::sched::unshare(clone_flags(set.clone_flags()))
        .map_err(|source| NsError::Unshare { set, source })
}

/// An open namespace file (`/proc/<pid>/ns/<kind>` or a bind mount of it), ready to be joined.
///
/// Opening and joining are separate so that a parent can open the file and a forked child join it.
#[derive(Debug)]
pub struct NsFile {
    kind: Namespace,
    path: PathBuf,
    file: File,
}

impl NsFile {
    /// Opens `path` (read-only, close-on-exec) as a namespace of kind `kind`.
    pub fn open(kind: Namespace, path: impl Into<PathBuf>) -> Result<Self, NsError> {
        let path = path.into();
        match File::open(&path) {
            Ok(file) => Ok(NsFile { kind, path, file }),
            Err(source) => Err(NsError::Open { kind, path, source }),
        }
    }

    /// Moves the calling thread into this namespace (`setns(2)` with the kind's `nstype`, so the kernel checks
    /// that the file really is a namespace of that kind).
    pub fn join(&self) -> Result<(), NsError> {
        nix::sched::setns(self.file.as_fd(), clone_flags(self.kind.clone_flag())).map_err(
            |source| NsError::Join {
                kind: self.kind,
                path: self.path.clone(),
                source,
            },
        )
    }

    /// The namespace kind.
    pub fn kind(&self) -> Namespace {
        self.kind
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsFd for NsFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Moves the calling thread into the namespace of kind `kind` at `path` (e.g. `/proc/1234/ns/uts`).
pub fn join(kind: Namespace, path: impl AsRef<Path>) -> Result<(), NsError> {
    NsFile::open(kind, path.as_ref())?.join()
}

/// Writes `text` to `/proc/<pid>/<name>` in a single `write(2)`, as the kernel requires for id maps, setgroups
/// and time offsets.
pub(crate) fn write_proc_file(pid: Pid, name: &str, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/{name}"))?;
    let written = file.write(text.as_bytes())?;
    if written != text.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
    }
    Ok(())
}

/// Writes the uid map of the user namespace of `pid` (`/proc/<pid>/uid_map`), all lines in one write.
///
/// The map can be written once. Unprivileged callers may only map their own euid, with one line.
pub fn write_uid_map(pid: Pid, maps: &[IdMap]) -> Result<(), NsError> {
    write_id_map(pid, "uid_map", maps)
}

/// Writes the gid map of the user namespace of `pid` (`/proc/<pid>/gid_map`), all lines in one write.
///
/// Unprivileged callers must first [`deny_setgroups`] and may only map their own egid.
pub fn write_gid_map(pid: Pid, maps: &[IdMap]) -> Result<(), NsError> {
    write_id_map(pid, "gid_map", maps)
}

fn write_id_map(pid: Pid, file: &'static str, maps: &[IdMap]) -> Result<(), NsError> {
    validate_id_maps(maps).map_err(|source| NsError::InvalidIdMap { file, source })?;
    write_proc_file(pid, file, &format_id_maps(maps)).map_err(|source| NsError::WriteIdMap {
        file,
        pid,
        source,
    })
}

/// Writes `deny` to `/proc/<pid>/setgroups`: `setgroups(2)` is then refused in that user namespace, which lets an
/// unprivileged process write its gid map. Must come before the gid map.
pub fn deny_setgroups(pid: Pid) -> Result<(), NsError> {
    write_proc_file(pid, "setgroups", "deny")
        .map_err(|source| NsError::DenySetgroups { pid, source })
}

/// Sets the hostname of the caller's UTS namespace.
pub fn set_hostname(hostname: &str) -> Result<(), NsError> {
    nix::unistd::sethostname(hostname).map_err(|source| NsError::SetHostname {
        hostname: hostname.to_owned(),
        source,
    })
}

/// Brings the loopback interface `lo` of the caller's network namespace up (a new network namespace starts
/// with it down; runc and crun bring it up so that `127.0.0.1` works in the container).
pub fn set_loopback_up() -> Result<(), NsError> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|source| NsError::LoopbackUp { source })?;
    sys::set_interface_up(sock.as_fd(), "lo").map_err(|source| NsError::LoopbackUp { source })
}

/// Sets the NIS domain name of the caller's UTS namespace.
pub fn set_domainname(domainname: &str) -> Result<(), NsError> {
    sys::setdomainname(domainname.as_bytes()).map_err(|source| NsError::SetDomainname {
        domainname: domainname.to_owned(),
        source,
    })
}
