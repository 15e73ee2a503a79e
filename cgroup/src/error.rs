//! The crate's error type.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// Everything that can go wrong in this crate.
///
/// Each variant names the operation that failed and carries its context (file, controller, value);
/// the underlying OS error, where there is one, is the variant's [`source`](std::error::Error::source)
/// and is not repeated in the `Display` text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// Reading `/proc/self/mountinfo` (or another mount table) failed.
    #[error("cannot read the mount table {path}")]
    ReadMountinfo {
        /// The mount table that was read.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A line of the mount table is malformed.
    #[error("mount table line {line}: {reason}: {text:?}")]
    ParseMountinfo {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
        /// The line itself.
        text: String,
    },
    /// The mount table has no cgroup or cgroup2 mount at all.
    #[error("no cgroup file system is mounted")]
    NoCgroupMount,
    /// `statfs` of a cgroup mount point failed.
    #[error("cannot statfs the cgroup mount point {path}")]
    Statfs {
        /// The mount point.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Errno,
    },
    /// A mount point listed as a cgroup file system is something else according to `statfs`.
    #[error("{path} is listed as {expected} in the mount table but statfs says otherwise")]
    NotCgroupFs {
        /// The mount point.
        path: PathBuf,
        /// `"cgroup"` or `"cgroup2"`.
        expected: &'static str,
    },
    /// A cgroup path (relative to the hierarchy roots) is not acceptable.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A resource value failed validation; nothing was written.
    #[error("invalid value {value:?} for {field}: {reason}")]
    InvalidResource {
        /// The resource field, e.g. `"memory.limit"`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A resource was requested whose controller is not available to this cgroup.
    #[error("{field} needs the {controller} controller, which is not available under {path}")]
    ControllerUnavailable {
        /// The resource field that needs it.
        field: &'static str,
        /// The controller, e.g. `"hugetlb"`.
        controller: &'static str,
        /// The hierarchy root or parent cgroup that lacks it.
        path: PathBuf,
    },
    /// A resource needs a control file that this kernel or configuration does not provide
    /// (e.g. `memory.swap.max` without swap accounting, an unknown hugetlb page size).
    #[error("{field} needs {file}, which this kernel does not provide")]
    FileUnavailable {
        /// The resource field.
        field: &'static str,
        /// The missing control file.
        file: PathBuf,
    },
    /// An operation or resource that this cgroup version cannot do.
    #[error("{operation} is not supported on cgroup {version}")]
    Unsupported {
        /// What was asked for.
        operation: &'static str,
        /// The version of the hierarchy that was asked.
        version: crate::Version,
    },
    /// Creating a cgroup directory failed.
    #[error("cannot create cgroup directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Removing a cgroup directory failed.
    #[error("cannot remove cgroup directory {path}")]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// The OS error (EBUSY when processes remain after the retries).
        #[source]
        source: io::Error,
    },
    /// Opening a cgroup directory (for `CLONE_INTO_CGROUP`) failed.
    #[error("cannot open cgroup directory {path}")]
    OpenDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory that [`Cgroup::open`](crate::Cgroup::open) expected does not exist.
    #[error("cgroup {path} does not exist")]
    NotFound {
        /// The directory that is missing.
        path: PathBuf,
    },
    /// Writing a control file failed (the kernel refused the value, or the file is missing).
    #[error("cannot write {value:?} to {file} ({controller})")]
    Write {
        /// The controller the file belongs to (`"cgroup"` for core files).
        controller: &'static str,
        /// The control file.
        file: PathBuf,
        /// The value written.
        value: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading a control file failed.
    #[error("cannot read {file} ({controller})")]
    Read {
        /// The controller the file belongs to (`"cgroup"` for core files).
        controller: &'static str,
        /// The control file.
        file: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A control file holds something this crate cannot parse.
    #[error("cannot parse {file}: {reason}: {text:?}")]
    Parse {
        /// The control file.
        file: PathBuf,
        /// What is wrong.
        reason: &'static str,
        /// The offending text.
        text: String,
    },
    /// Sending a signal to a process of the cgroup failed.
    #[error("cannot send {signal} to process {pid} of {path}")]
    Signal {
        /// The process.
        pid: i32,
        /// The signal.
        signal: nix::sys::signal::Signal,
        /// The cgroup.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Errno,
    },
    /// An operation that waits for the kernel did not finish in time.
    #[error("{operation} of {path} did not finish within {waited_ms} ms")]
    Timeout {
        /// The operation (`"freeze"`, `"kill"`, ...).
        operation: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// How long it waited.
        waited_ms: u64,
    },
    /// `stat` of a device path failed.
    #[error("cannot stat device {path}")]
    DeviceStat {
        /// The device path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Loading the cgroup v2 device filter (an eBPF program) failed.
    #[error(
        "cannot load the eBPF device filter ({insns} instructions) for {path}{}",
        verifier_log(log)
    )]
    BpfLoad {
        /// The cgroup directory it was for.
        path: PathBuf,
        /// The program's length.
        insns: usize,
        /// The verifier's log, when it gave one.
        log: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A `bpf(2)` command on a cgroup's device filter failed (attach, detach, query).
    #[error("{operation} of the eBPF device filter on {path} failed")]
    Bpf {
        /// The command, e.g. `"BPF_PROG_ATTACH"`.
        operation: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A path given as a block device is something else.
    #[error("{path} is not a block device")]
    NotBlockDevice {
        /// The path.
        path: PathBuf,
    },
}

fn verifier_log(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; verifier log:\n{log}")
    }
}

/// `Result` with [`CgroupError`].
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
