//! Linux namespaces for the cove container runtime.
//!
//! This crate knows the eight namespace kinds ([`Namespace`]), sets of them ([`NamespaceSet`]) and the
//! operations a runtime performs on them:
//!
//! - create: [`unshare`] (or pass [`NamespaceSet::clone_flags`] to `clone3`),
//! - join: [`join`], or [`NsFile::open`] in one process and [`NsFile::join`] later (e.g. after a fork),
//! - user namespace id maps: [`write_uid_map`], [`write_gid_map`], [`deny_setgroups`],
//! - UTS: [`set_hostname`], [`set_domainname`],
//! - time: [`write_time_offsets`].
//!
//! Every error is an [`NsError`] that names the namespace kind and the step that failed.
//!
//! ```
//! use cove_ns::{Namespace, NamespaceSet};
//!
//! let set: NamespaceSet = "pid,uts,user".split(',').map(|s| s.parse::<Namespace>().unwrap()).collect();
//! assert_eq!(set.iter().next(), Some(Namespace::User)); // the user namespace always comes first
//! assert_eq!(set.to_string(), "user,pid,uts");
//! assert_eq!(set.clone_flags(), (libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWUTS) as u64);
//! ```
#![deny(missing_docs)]

mod error;
mod idmap;
mod kind;
mod ops;
mod set;
mod sys;
mod time;

pub use error::NsError;
pub use idmap::{
    format_id_maps, id_map_helper_args, validate_id_maps, write_id_maps_with_helpers, IdMap,
    IdMapProblem, MAX_ID_MAP_LINES,
};
pub use kind::{Namespace, ParseNamespaceError};
pub use ops::{
    deny_setgroups, join, set_domainname, set_hostname, set_loopback_up, unshare, write_gid_map,
    write_uid_map, NsFile,
};
pub use set::{Iter, NamespaceSet};
pub use time::{format_time_offsets, write_time_offsets, TimeOffset};

/// The process id type used by this crate's functions (re-exported from `nix`).
pub use nix::unistd::Pid;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
