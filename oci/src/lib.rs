//! cove-oci: the OCI runtime-spec front end of cove. A bundle's `config.json` (and an exec's `process.json`,
//! an update's `resources.json`) checked and lowered into the engine's [`Plan`](cove_container::Plan), and the
//! OCI JSON cove prints: `features`, the default `spec`, `events`.
//!
//! Types for the runtime spec come from the `oci-spec` crate; every refusal is a [`ConfigError`] naming the
//! file and the field.
//!
//! ```
//! assert!(cove_oci::config::supported_version("1.2.0"));
//! assert!(!cove_oci::config::supported_version("0.6.0"));
//! ```
#![deny(missing_docs)]

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod config;
pub mod error;
pub mod events;
pub mod features;
pub mod resources;
pub mod spec_default;

pub use error::ConfigError;
