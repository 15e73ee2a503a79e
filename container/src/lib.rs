//! cove-container: the cove engine. A front end (the TOML manifest, an OCI bundle, or code of your own) builds a
//! validated [`plan::Plan`]; the engine runs it as a Linux container: state directory, cgroup, `clone3` into new
//! namespaces, the root file system, then the child's security sequence (rlimits, capabilities,
//! `no_new_privs`, Landlock, seccomp last) and exec.
//!
//! It also holds what the OCI lifecycle needs whatever the input format: the state store ([`state`]), the
//! hook runner ([`hooks`]), the console-socket protocol ([`console`]) and the terminal relay ([`terminal`]).
//!
//! The engine knows no input format: it depends on no TOML, command-line or OCI-spec crate.
//!
//! ```
//! use cove_container::plan::{inside_path, valid_container_id};
//!
//! assert!(valid_container_id("web-1"));
//! assert_eq!(inside_path("/srv/../etc").unwrap_err(), "`/srv/../etc` leaves the container's root (`..`)");
//! ```
#![deny(missing_docs)]

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod cgroups;
pub mod child;
pub mod console;
pub mod error;
pub mod hooks;
pub mod idmap_mounts;
pub mod landlock;
pub mod plan;
pub mod resources;
pub mod run;
pub mod run_state;
pub mod security;
pub mod state;
pub mod statedir;
mod sys;
pub mod terminal;

pub use error::ContainerError;
pub use plan::Plan;
