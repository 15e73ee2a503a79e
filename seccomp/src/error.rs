//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while reading, compiling or applying a seccomp profile.
///
/// Profile errors name the rule they come from as `syscalls[<index>] (<first names>)` or as
/// `defaultAction`, so a user can find the line in a profile of several hundred rules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// Reading a profile file failed.
    #[error("reading seccomp profile {path}")]
    ReadProfile {
        /// The profile file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A profile is not valid JSON in the Docker/OCI profile format.
    #[error("parsing seccomp profile {origin}")]
    ParseProfile {
        /// Where the text came from: a path or `<inline JSON>`.
        origin: String,
        /// The JSON error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A rule (or the default action) names an action this crate does not know.
    #[error("seccomp profile {rule}: unknown action {action:?}")]
    UnknownAction {
        /// The rule, e.g. `syscalls[3] (mount, umount2)` or `defaultAction`.
        rule: String,
        /// The action as written.
        action: String,
    },
    /// A rule's argument filter names an unknown comparison operator.
    #[error("seccomp profile {rule}: unknown operator {op:?} in args[{arg}]")]
    UnknownOperator {
        /// The rule, e.g. `syscalls[3] (clone)`.
        rule: String,
        /// Position of the argument filter in the rule's `args`.
        arg: usize,
        /// The operator as written.
        op: String,
    },
    /// A rule's argument filter refers to a syscall argument index above 5.
    #[error("seccomp profile {rule}: argument index {index} in args[{arg}] is out of range 0..=5")]
    ArgumentIndex {
        /// The rule, e.g. `syscalls[3] (clone)`.
        rule: String,
        /// Position of the argument filter in the rule's `args`.
        arg: usize,
        /// The index as written.
        index: u32,
    },
    /// The profile's `flags` name a flag cove does not support (a typo, or a flag newer than cove).
    #[error("seccomp profile flags: unsupported flag {flag:?}")]
    UnknownFlag {
        /// The flag as written.
        flag: String,
    },
    /// A rule has neither `names` nor `name`.
    #[error("seccomp profile syscalls[{index}]: the rule names no syscall")]
    NoSyscallNames {
        /// Position of the rule in `syscalls`.
        index: usize,
    },
    /// A `minKernel` value (or a kernel release) is not of the form `<major>.<minor>[...]`.
    #[error("invalid kernel version {text:?} (expected e.g. \"4.8\")")]
    KernelVersion {
        /// The text as written.
        text: String,
    },
    /// Reading the running kernel's release with `uname` failed.
    #[error("reading the kernel release (uname)")]
    Uname {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// cove builds filters only for x86_64 and aarch64.
    #[error("seccomp filters are not supported on architecture {arch}")]
    UnsupportedArch {
        /// The native architecture (`std::env::consts::ARCH`).
        arch: &'static str,
    },
    /// The seccompiler backend rejected a rule while compiling it to BPF.
    #[error("compiling seccomp profile {rule} to BPF")]
    Backend {
        /// The rule being compiled.
        rule: String,
        /// The backend error.
        #[source]
        source: seccompiler::BackendError,
    },
    /// The compiled program is longer than the kernel accepts (4096 instructions).
    #[error("the compiled seccomp filter has {instructions} BPF instructions; the kernel accepts at most 4096")]
    TooLarge {
        /// The program length.
        instructions: usize,
    },
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed: `EACCES` means the caller has neither
    /// `no_new_privs` set nor `CAP_SYS_ADMIN`; `EINVAL` a malformed program.
    #[error("installing the seccomp filter (seccomp(SECCOMP_SET_MODE_FILTER))")]
    Apply {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A seccomp user-notification ioctl on the listener failed (`ENOENT`: the target died or
    /// was interrupted).
    #[error("seccomp notification listener: {op}")]
    Notify {
        /// The ioctl, e.g. `SECCOMP_IOCTL_NOTIF_RECV`.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
