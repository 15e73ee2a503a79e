//! cove: the `cove` binary's library — the TOML manifest and its checks, the OCI front end, and the commands
//! that drive the engine ([`cove_container`]).
#![deny(missing_docs)]

use std::path::Path;

pub mod check;
pub mod diagnostic;
pub mod doctor;
pub mod manifest;
pub mod oci;
pub mod plan;
pub mod report;
pub mod resources;
pub mod security;
pub mod setid;
pub mod units;

/// Reads, parses and validates a manifest for a caller with effective uid `euid`.
///
/// Every problem is returned, each naming the file, line, column and key.
pub fn load_plan(
    path: &Path,
    euid: u32,
) -> Result<cove_container::Plan, Vec<diagnostic::ManifestError>> {
    let (manifest, source) = manifest::load(path).map_err(|e| vec![e])?;
    plan::from_manifest(path, &source, manifest, euid)
}
