//! Seccomp filters for cove containers, in pure Rust (no libseccomp).
//!
//! - [`SeccompProfile`]: the Docker/OCI profile JSON format ([`SeccompProfile::from_file`]), and
//!   Docker's default profile built in Rust ([`SeccompProfile::docker_default`]).
//! - [`Filter::compile`]: turns a profile into one classic-BPF program for the native
//!   architecture (x86_64 or aarch64), selecting Docker's `includes`/`excludes` rules by the kept
//!   capabilities. Pure: no syscalls. The argument comparisons are compiled by the
//!   [`seccompiler`] crate.
//! - [`Filter::apply`]: installs it (`seccomp(SECCOMP_SET_MODE_FILTER)`); needs `no_new_privs`
//!   or `CAP_SYS_ADMIN`.
//! - [`Profile`]: the manifest's `[security] seccomp = "default" | "unconfined" | "<path>"`.
//!
//! ```
//! use cove_seccomp::{Profile, Verdict};
//!
//! let kept_caps = vec!["CAP_CHOWN".to_owned(), "CAP_NET_BIND_SERVICE".to_owned()];
//! let filter = Profile::from_setting("default").unwrap().compile(&kept_caps).unwrap().unwrap();
//! // clone without namespace flags is allowed, with CLONE_NEWUSER it is not.
//! let flags = libc::SIGCHLD as u64;
//! assert_eq!(filter.check("clone", [flags, 0, 0, 0, 0, 0]), Some(Verdict::Allow));
//! let flags = flags | libc::CLONE_NEWUSER as u64;
//! assert_eq!(filter.check("clone", [flags, 0, 0, 0, 0, 0]), Some(Verdict::Errno(1)));
//! // In the container process, last step before execve (after no_new_privs):
//! // filter.apply()?;
//! ```
//!
//! # Semantics
//!
//! - Rules with argument filters are checked first, in profile order; the first whose conditions
//!   all hold (AND) decides. Otherwise the first rule without arguments for that syscall decides,
//!   otherwise `defaultAction`.
//! - Comparisons are 64 bits wide, as libseccomp's on 64-bit architectures.
//! - ABIs: the native one, plus i386 on x86_64 when the profile lists `SCMP_ARCH_X86` (in
//!   `architectures`, or in `archMap` for x86_64, as Docker's default does); the same rules apply
//!   with i386 syscall numbers. Other ABIs (x32 syscalls, arm32 on aarch64) are killed.
//! - `SCMP_ACT_NOTIFY` (seccomp user notification) returns `SECCOMP_RET_USER_NOTIF`; a filter
//!   with such a rule (or the `SECCOMP_FILTER_FLAG_NEW_LISTENER` flag) is loaded with
//!   `SECCOMP_FILTER_FLAG_NEW_LISTENER` and [`Filter::apply`] returns the listener fd. A
//!   supervisor answers with [`notify::receive`] and [`notify::respond`]. `listenerPath` is
//!   ignored here (the runtime sends the fd there). The flags `SECCOMP_FILTER_FLAG_LOG`,
//!   `_SPEC_ALLOW` and `_TSYNC` are passed to the kernel.
#![deny(missing_docs)]

mod action;
mod arch;
mod docker;
mod error;
mod filter;
pub mod notify;
mod profile;
mod sys;
mod table;

use std::path::Path;

pub use arch::Arch;
pub use error::SeccompError;
pub use filter::{Filter, Verdict};
pub use profile::{ArchMap, ArgFilter, Conditions, KernelVersion, SeccompProfile, SyscallRule};

impl SeccompProfile {
    /// Docker's default profile (moby `profiles/seccomp/default.json`): an allow-list, EPERM for
    /// the rest, ENOSYS for `clone3`, argument filters for `personality`, `clone` and `socket`
    /// (no AF_VSOCK), and syscall groups allowed only with a kept capability (CAP_SYS_ADMIN:
    /// mount, unshare, setns…; CAP_SYS_PTRACE: ptrace, process_vm_*; CAP_SYS_MODULE; CAP_SYS_BOOT;
    /// CAP_SYS_TIME; …).
    pub fn docker_default() -> Self {
        docker::default_profile()
    }
}

/// The manifest's seccomp setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Docker's default profile.
    Default,
    /// No filter at all.
    Unconfined,
    /// A profile read from a JSON file.
    Custom(SeccompProfile),
}

impl Profile {
    /// Parses `"default"`, `"unconfined"` or a path to a profile JSON file (read now; relative
    /// paths are relative to the current directory, so resolve them first).
    pub fn from_setting(setting: &str) -> Result<Self, SeccompError> {
        match setting {
            "default" => Ok(Self::Default),
            "unconfined" => Ok(Self::Unconfined),
            path => SeccompProfile::from_file(Path::new(path)).map(Self::Custom),
        }
    }

    /// Compiles the profile for the kept capabilities (see [`Filter::compile`]); `None` for
    /// [`Profile::Unconfined`].
    pub fn compile(&self, caps: &[String]) -> Result<Option<Filter>, SeccompError> {
        match self {
            Self::Default => Filter::compile(&SeccompProfile::docker_default(), caps).map(Some),
            Self::Unconfined => Ok(None),
            Self::Custom(profile) => Filter::compile(profile, caps).map(Some),
        }
    }
}

/// Compiles the README's Rust example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
